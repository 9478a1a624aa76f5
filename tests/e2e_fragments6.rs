//! End to end: UDP datagrams larger than the lab's 1500-byte MTU over
//! IPv6 through NAT and FULLNAT (docs/fragments-and-mtu.md, "IPv6"). The
//! router (the client, 2001:db8:2::fe) sends 4000-byte requests to the
//! IPv6 VIP, which its kernel cuts into fragments; ferrolb forwards them
//! without reassembly, the server's kernel reassembles and echoes 4000+
//! bytes, cut again, back the same way; every echo must come back whole
//! (the client checks every byte).
//!
//! ferrolb's ports are `net_af_xdp`, as in `e2e_fragments`: the
//! af_packet PMD's fanout group reassembles before ferrolb sees anything.
//! Needs root; one case at a time.

mod common;

use common::netns::{serial, Topology, ECHO};
use common::netns6::{with_ipv6_addresses, SERVERS6, VIP6};

const LADDRS6: [&str; 2] = ["2001:db8:1::100", "2001:db8:1::101"];

fn stat(t: &Topology, group: &str, name: &str) -> u64 {
    t.ctl_json(&["stats"])[group][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {group} counter {name}"))
}

fn big_udp_echoes_over_ipv6_come_back_whole(mode: &str) {
    let _serial = serial();
    let mut t = Topology::up(mode);
    t.port_driver = "af_xdp";
    t.netns_script(&format!("ipv6{mode}"));
    for (s, ip) in SERVERS6 {
        t.start_server_with(s, &["--udp6-addr", ip]);
    }
    let mut body = format!(
        "\n[[service]]\nvip = \"{VIP6}\"\nprotocol = \"udp\"\nport = {ECHO}\nmode = \"{mode}\"\n"
    );
    if mode == "fullnat" {
        body.push_str(&format!(
            "local_addresses = [\"{}\", \"{}\"]\n",
            LADDRS6[0], LADDRS6[1]
        ));
    }
    for (_, ip) in SERVERS6 {
        body.push_str(&format!("\n[[service.backend]]\naddress = \"{ip}\"\n"));
    }
    t.start_lb_text(&with_ipv6_addresses(&t.config_text(&body), true));
    let (n, run) = t.big_udp_echoes(
        "router",
        &format!("[{VIP6}]:{ECHO}"),
        &format!("IPv6 fragments {mode}"),
    );
    run.assert_all_ok(n);
    // Each request and each echo: a first fragment and two more (1448
    // bytes of data each at a 1500-byte MTU).
    let first = stat(&t, "events", "frag_first");
    let forwarded = stat(&t, "events", "frag_forwarded");
    eprintln!("    frag_first {first}, frag_forwarded {forwarded}");
    assert_eq!(first, 2 * n as u64, "{mode}: first fragments");
    assert_eq!(forwarded, 4 * n as u64, "{mode}: later fragments");
    for reason in [
        "frag_overlap",
        "frag_oversized",
        "frag_timeout",
        "frag_table_full",
        "frag_hold_full",
        "frag_first_dropped",
        "ipv6_fragment",
        "ipv6_frag_incomplete_chain",
        "packet_too_big",
    ] {
        assert_eq!(t.drop_count(reason), 0, "{mode}: drop:{reason}");
    }
}

#[test]
fn nat6_big_udp_echoes_come_back_whole() {
    big_udp_echoes_over_ipv6_come_back_whole("nat");
}

#[test]
fn fullnat6_big_udp_echoes_come_back_whole() {
    big_udp_echoes_over_ipv6_come_back_whole("fullnat");
}
