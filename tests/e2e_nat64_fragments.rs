//! End to end: UDP datagrams larger than the lab's MTU through NAT64
//! (issues 20 and 24; docs/fragments-and-mtu.md, "NAT64 fragments"). The
//! IPv6-only client (2001:db8:3::2, behind the router) sends 4000-byte
//! requests to the IPv6 VIP, which its kernel cuts into IPv6 fragments;
//! ferrolb translates each into an IPv4 fragment from its local address
//! (RFC 7915 5.1.1: the Fragment header's identification into the IPv4 ID)
//! without reassembly; the IPv4-only server's kernel reassembles and echoes
//! 4000+ bytes in IPv4 fragments, which ferrolb translates back into IPv6
//! fragments (RFC 7915 4.1); the client's kernel reassembles and checks
//! every byte.
//!
//! The servers' links are at MTU 1472: an IPv4 fragment grows by 28 bytes
//! in translation (a 40-byte IPv6 header and an 8-byte Fragment header for
//! a 20-byte IPv4 one), and ferrolb does not cut a translated fragment
//! again (it drops one that does not fit as `too_big_to_fragment`), so at
//! 1500 on both sides the echoes could not come back. 1472 is what a NAT64
//! operator sets on the IPv4 side for the same reason.
//!
//! ferrolb's ports are `net_af_xdp`, as in `e2e_fragments` (the af_packet
//! PMD's fanout group reassembles before ferrolb sees anything). Needs
//! root; one case at a time.

mod common;

use common::netns::{serial, server_ip, Topology, ECHO};
use common::netns6::{with_ipv6_addresses, VIP6};

const LOCALS: [&str; 2] = ["10.0.1.100", "10.0.1.101"];
const SERVERS: [&str; 3] = ["s1", "s2", "s3"];

fn event(t: &Topology, name: &str) -> u64 {
    t.ctl_json(&["stats"])["events"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no event {name}"))
}

#[test]
fn big_udp_echoes_through_nat64_come_back_whole() {
    let _serial = serial();
    let mut t = Topology::up("fullnat");
    t.port_driver = "af_xdp";
    t.netns_script("ipv6nat64");
    for s in SERVERS {
        let out = t.run_in(s, &["ip", "link", "set", "eth0", "mtu", "1472"]);
        assert!(out.status.success(), "{s}: {out:?}");
    }
    t.start_servers();
    let mut body = format!(
        "\n[[route]]\nprefix = \"2001:db8:3::/64\"\nvia = \"2001:db8:2::fe\"\n\n\
         [[service]]\nvip = \"{VIP6}\"\nprotocol = \"udp\"\nport = {ECHO}\nmode = \"fullnat\"\n\
         local_addresses = [\"{}\", \"{}\"]\n",
        LOCALS[0], LOCALS[1]
    );
    for s in SERVERS {
        body.push_str(&format!(
            "\n[[service.backend]]\naddress = \"{}\"\n",
            server_ip(s)
        ));
    }
    // The servers' link stays IPv4 only.
    t.start_lb_text(&with_ipv6_addresses(&t.config_text(&body), false));
    let target = format!("[{VIP6}]:{ECHO}");
    let (n, run) = t.big_udp_echoes("client", &target, "NAT64 fragments");
    run.assert_all_ok(n);
    // The servers saw IPv4 from the local addresses only.
    for p in run.by_peer_ip().keys() {
        assert!(LOCALS.contains(&p.as_str()), "a server saw {p}");
    }
    let events = t.ctl_json(&["stats"])["events"].clone();
    eprintln!("E2E NAT64 fragments events: {events}");
    // Each request: three IPv6 fragments at 1500 (1448 + 1448 + 1112
    // bytes of the 4008-byte datagram), each translated to one IPv4
    // fragment; each echo: three IPv4 fragments at 1472 (1448, 1448, 1112
    // bytes), each translated to one IPv6 fragment. The first of each way
    // is its flow's packet, the later ones follow its decision.
    let (to4, to6) = (event(&t, "nat64_to_ipv4"), event(&t, "nat64_to_ipv6"));
    assert_eq!((to4, to6), (3 * n as u64, 3 * n as u64), "{events}");
    assert_eq!(event(&t, "frag_first"), 2 * n as u64, "{events}");
    assert_eq!(event(&t, "frag_forwarded"), 4 * n as u64, "{events}");
    for reason in [
        "too_big_to_fragment",
        "packet_too_big",
        "fragmentation_needed",
        "frag_overlap",
        "frag_oversized",
        "frag_timeout",
        "frag_table_full",
        "frag_hold_full",
        "frag_first_dropped",
        "ipv6_fragment",
        "ipv6_frag_incomplete_chain",
        "nat64_fragment",
        "nat64_truncated",
        "nat64_no_room",
        "no_session",
        "ports_exhausted",
    ] {
        assert_eq!(t.drop_count(reason), 0, "drop:{reason}");
    }
}
