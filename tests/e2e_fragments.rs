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
//! Needs root, like `e2e_netns`; one case at a time.

mod common;

use std::time::Instant;

use common::netns::{serial, server_ip, Topology, ECHO, VIP};

fn udp_echo(mode: &str) -> String {
    let mut s = format!(
        "\n[[service]]\nvip = \"{VIP}\"\nprotocol = \"udp\"\nport = {ECHO}\nmode = \"{mode}\"\n"
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
    t.start_lb(&udp_echo(mode));
    let n: usize = std::env::var("FRAG_E2E_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let start = Instant::now();
    let run = t.client(
        "client",
        &[
            "udp",
            "--target",
            &format!("{VIP}:{ECHO}"),
            "--count",
            &n.to_string(),
            "--size",
            "4000",
        ],
    );
    eprintln!(
        "E2E fragments {mode}: {} echoes of 4000 bytes, {} failed, servers {:?}, {} ms",
        run.requests.len(),
        run.failures().len(),
        run.by_server(),
        start.elapsed().as_millis()
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
