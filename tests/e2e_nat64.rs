//! End to end NAT64 in FULLNAT with real Linux stacks in network
//! namespaces (issue 20; docs/ipv6.md, "NAT64 in FULLNAT"):
//! `scripts/netns.sh up NAME fullnat` then `ipv6nat64`. The client is
//! IPv6-only (2001:db8:3::2, behind the router); the three servers are
//! IPv4-only. 600 HTTP connections to the IPv6 VIP, rr over the servers:
//! ferrolb turns each into an IPv4 connection from its local addresses
//! (10.0.1.100, 10.0.1.101) to a server and the servers' IPv4 replies back
//! into IPv6 from the VIP. The spread is exact, the servers saw only the
//! local addresses, ferrolb counted both directions and translated every
//! packet it counted. Needs root.

mod common;

use common::netns::{serial, server_ip, Topology};
use common::netns6::{
    assert_conns_match_answers, assert_spread, http_to_vip6, listed_sessions, with_ipv6_addresses,
    VIP6,
};

const LOCALS: [&str; 2] = ["10.0.1.100", "10.0.1.101"];

#[test]
fn a_v6_only_client_reaches_v4_only_servers_through_nat64() {
    let _serial = serial();
    let mut t = Topology::up("fullnat");
    t.netns_script("ipv6nat64");
    t.start_servers();
    let mut body = format!(
        "\n[[route]]\nprefix = \"2001:db8:3::/64\"\nvia = \"2001:db8:2::fe\"\n\n\
         [[service]]\nvip = \"{VIP6}\"\nprotocol = \"tcp\"\nport = 80\nmode = \"fullnat\"\n\
         scheduler = \"rr\"\nlocal_addresses = [\"{}\", \"{}\"]\n",
        LOCALS[0], LOCALS[1]
    );
    for s in ["s1", "s2", "s3"] {
        body.push_str(&format!(
            "\n[[service.backend]]\naddress = \"{}\"\n",
            server_ip(s)
        ));
    }
    // The servers' link stays IPv4 only.
    t.start_lb_text(&with_ipv6_addresses(&t.config_text(&body), false));

    let n = 600;
    let run = http_to_vip6(&t, "client", n, "NAT64 http rr");
    assert_spread(&run, &[("s1", 200), ("s2", 200), ("s3", 200)]);
    // The servers saw IPv4 connections from the local addresses only.
    let peers: Vec<String> = run.by_peer_ip().into_keys().collect();
    assert!(!peers.is_empty(), "{peers:?}");
    for p in &peers {
        assert!(LOCALS.contains(&p.as_str()), "a server saw {p}");
    }

    // A connection per answer, per backend.
    let key = format!("tcp/[{VIP6}]:80");
    let servers = ["s1", "s2", "s3"].map(|s| (s, server_ip(s)));
    assert_conns_match_answers(&t, &run, &key, &servers);
    let stats = &t.service(&key)["stats"];
    eprintln!("    {key}: {stats}");
    assert_eq!(stats["conns"], n as u64, "{stats}");
    let (inbound, outbound) = (
        stats["packets_in"].as_u64().expect("packets_in"),
        stats["packets_out"].as_u64().expect("packets_out"),
    );
    assert!(
        inbound >= 3 * n as u64 && outbound >= 3 * n as u64,
        "{stats}"
    );
    // Every packet counted was translated: in as IPv4, out as IPv6.
    let e = t.ctl_json(&["stats"])["events"].clone();
    eprintln!("E2E NAT64 events: {e}");
    assert_eq!(e["nat64_to_ipv4"].as_u64(), Some(inbound), "{e}");
    assert_eq!(e["nat64_to_ipv6"].as_u64(), Some(outbound), "{e}");

    // The sessions name the IPv6 client, the VIP, the IPv4 local leg and
    // backend.
    let list = listed_sessions(&t, &key, n);
    for s in list {
        let client = s["client"].as_str().expect("client");
        assert!(client.starts_with("[2001:db8:3::2]:"), "{s}");
        let local = s["local"].as_str().expect("local");
        assert!(
            LOCALS.iter().any(|l| local.starts_with(&format!("{l}:"))),
            "{s}"
        );
        let backend = s["backend"].as_str().expect("backend");
        assert!(
            ["s1", "s2", "s3"]
                .iter()
                .any(|b| backend == format!("{}:80", server_ip(b))),
            "{s}"
        );
    }
    for reason in [
        "no_session",
        "no_service",
        "ttl_exceeded",
        "no_route",
        "packet_too_big",
        "fragmentation_needed",
        "ports_exhausted",
        "neighbour_unresolved",
        "nat64_fragment",
        "nat64_protocol",
        "nat64_truncated",
        "nat64_no_room",
    ] {
        assert_eq!(t.drop_count(reason), 0, "drop:{reason}");
    }
}
