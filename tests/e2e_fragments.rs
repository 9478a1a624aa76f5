//! End to end: UDP datagrams larger than the lab's 1500-byte MTU through
//! NAT and FULLNAT (docs/fragments-and-mtu.md). The client's kernel
//! fragments each 4000-byte request, ferrolb forwards the fragments
//! without reassembly, the server's kernel reassembles and echoes 4000+
//! bytes, fragmented again, back the same way; every echo must come back
//! whole (the client checks every byte).
//!
//! ferrolb's ports are `net_af_xdp`: `net_af_packet` in DPDK 22.11 joins
//! its sockets to a fanout group with `PACKET_FANOUT_FLAG_DEFRAG`, so the
//! kernel reassembles fragments before ferrolb sees them (and a 4000-byte
//! datagram is cut to the packet ring's frame size): on af_packet ports
//! ferrolb never receives a fragment.
//!
//! And a FULLNAT UDP service with `proxy_protocol = "v2"`, whose
//! fragmented datagrams ferrolb reassembles to put the header in front,
//! then fragments again: servers that read the header
//! (`e2e-server --udp-proxy-v2`) must name the client in every echo.
//!
//! Needs root, like `e2e_netns`; one case at a time.

mod common;

use std::collections::BTreeMap;

use common::netns::{serial, server_ip, Topology, CLIENT_IP, ECHO, VIP};

/// A UDP echo service of `mode` over the three servers; `extra`: more
/// service keys.
fn udp_echo(mode: &str, extra: &str) -> String {
    let mut s = format!(
        "\n[[service]]\nvip = \"{VIP}\"\nprotocol = \"udp\"\nport = {ECHO}\nmode = \"{mode}\"\n{extra}"
    );
    if mode == "fullnat" {
        s.push_str("local_addresses = [\"10.0.1.100\", \"10.0.1.101\"]\n");
    }
    for server in ["s1", "s2", "s3"] {
        s.push_str(&format!(
            "\n[[service.backend]]\naddress = \"{}\"\n",
            server_ip(server)
        ));
    }
    s
}

fn stat(t: &Topology, group: &str, name: &str) -> u64 {
    t.ctl_json(&["stats"])[group][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {group} counter {name}"))
}

fn big_udp_echoes_come_back_whole(mode: &str) {
    let _serial = serial();
    let mut t = Topology::up(mode);
    t.port_driver = "af_xdp";
    t.start_servers();
    t.start_lb(&udp_echo(mode, ""));
    let (n, run) = t.big_udp_echoes(
        "client",
        &format!("{VIP}:{ECHO}"),
        &format!("fragments {mode}"),
    );
    run.assert_all_ok(n);
    // Each request and each echo: a first fragment and two more.
    let first = stat(&t, "events", "frag_first");
    let forwarded = stat(&t, "events", "frag_forwarded");
    eprintln!("    frag_first {first}, frag_forwarded {forwarded}");
    assert_eq!(first, 2 * n as u64, "{mode}: first fragments");
    assert_eq!(forwarded, 4 * n as u64, "{mode}: later fragments");
    for reason in [
        "frag_overlap",
        "frag_timeout",
        "frag_table_full",
        "frag_hold_full",
        "frag_first_dropped",
        "fragment",
    ] {
        assert_eq!(t.drop_count(reason), 0, "{mode}: drop:{reason}");
    }
}

#[test]
fn nat_big_udp_echoes_come_back_whole() {
    big_udp_echoes_come_back_whole("nat");
}

#[test]
fn fullnat_big_udp_echoes_come_back_whole() {
    big_udp_echoes_come_back_whole("fullnat");
}

#[test]
fn fullnat_proxy_v2_big_udp_datagrams_are_reassembled_and_servers_read_the_header() {
    let _serial = serial();
    let mut t = Topology::up("fullnat");
    t.port_driver = "af_xdp";
    for server in ["s1", "s2", "s3"] {
        t.start_server_with(server, &["--udp-proxy-v2"]);
    }
    // The default mbuf pool (8191 here). The pieces cut on egress are
    // fresh mbufs: from a pool made by rte_pktmbuf_pool_create they reached
    // mbufs past the UMEM af_xdp registers after 77 requests, and the 78th
    // and every later one failed (docs/fragments-and-mtu.md, "AF_XDP and
    // the mbuf pool"); ferrolb's af_xdp pool lies wholly in it.
    t.start_lb(&udp_echo("fullnat", "proxy_protocol = \"v2\"\n"));
    let (n, run) = t.big_udp_echoes(
        "client",
        &format!("{VIP}:{ECHO}"),
        "fragments fullnat proxy v2",
    );
    run.assert_all_ok(n);
    // Every request a new session, its first datagram in three fragments:
    // reassembled, the header put in front, cut again; every server read
    // the header and names the client.
    let want: BTreeMap<String, u64> = [(CLIENT_IP.to_owned(), n as u64)].into();
    assert_eq!(run.by_peer_ip(), want, "the peers the servers reported");
    let datagrams = stat(&t, "events", "reasm_datagrams");
    let added = stat(&t, "events", "proxy_v2_added");
    let cut = stat(&t, "events", "frag_egress_fragmented");
    eprintln!(
        "    reasm_datagrams {datagrams}, proxy_v2_added {added}, frag_egress_fragmented {cut}"
    );
    assert_eq!(datagrams, n as u64);
    assert_eq!(added, n as u64);
    assert_eq!(cut, n as u64);
    // The echoes come back in fragments, forwarded piecewise.
    assert_eq!(stat(&t, "events", "frag_first"), n as u64);
    for reason in [
        "reasm_duplicate",
        "reasm_overlap",
        "reasm_inconsistent",
        "reasm_too_big",
        "reasm_too_many",
        "reasm_timeout",
        "reasm_full",
        "no_buffer_room",
    ] {
        assert_eq!(t.drop_count(reason), 0, "drop:{reason}");
    }
}
