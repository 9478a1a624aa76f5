//! End to end FULLNAT over IPv6 with real Linux stacks in network
//! namespaces (issue 20; docs/ipv6.md): `scripts/netns.sh up NAME fullnat`
//! then `ipv6fullnat`. The router, on ferrolb's ext link (2001:db8:2::fe),
//! is the client: 600 HTTP connections to the IPv6 VIP, rr over three
//! servers that have no IPv6 route beyond their own link. ferrolb sends
//! each connection from one of its two IPv6 local addresses (on the
//! servers' link) to the server and the replies, to that local address
//! and port, back from the VIP to the client. The spread is exact, the
//! servers saw only the local addresses, and ferrolb's counters match.
//! Needs root.

mod common;

use common::netns::{serial, Topology};
use common::netns6::{
    assert_conns_match_answers, assert_counted_both_ways, assert_spread, http_to_vip6,
    listed_sessions, with_ipv6_addresses, SERVERS6, VIP6,
};

const CLIENT6: &str = "2001:db8:2::fe";
const LADDRS6: [&str; 2] = ["2001:db8:1::100", "2001:db8:1::101"];

#[test]
fn real_linux_tcp_over_ipv6_goes_through_fullnat_from_the_local_addresses() {
    let _serial = serial();
    let mut t = Topology::up("fullnat");
    t.netns_script("ipv6fullnat");
    for (s, ip) in SERVERS6 {
        t.start_server_with(s, &["--http6-addr", ip]);
    }
    let mut body = format!(
        "\n[[service]]\nvip = \"{VIP6}\"\nprotocol = \"tcp\"\nport = 80\nmode = \"fullnat\"\n\
         scheduler = \"rr\"\nlocal_addresses = [\"{}\", \"{}\"]\n",
        LADDRS6[0], LADDRS6[1]
    );
    for (_, ip) in SERVERS6 {
        body.push_str(&format!("\n[[service.backend]]\naddress = \"{ip}\"\n"));
    }
    t.start_lb_text(&with_ipv6_addresses(&t.config_text(&body), true));

    let n = 600;
    let run = http_to_vip6(&t, "router", n, "IPv6 FULLNAT http rr");
    assert_spread(&run, &[("s1", 200), ("s2", 200), ("s3", 200)]);
    // The servers saw the local addresses, never the client, each address
    // for about half of the connections (ferrolb rotates over them).
    let peers = run.by_peer_ip();
    let laddrs: Vec<String> = LADDRS6.iter().map(|a| format!("[{a}]")).collect();
    assert_eq!(
        peers.keys().cloned().collect::<Vec<_>>(),
        laddrs,
        "{peers:?}"
    );
    assert!(
        peers.values().all(|&c| (250..=350).contains(&c)),
        "{peers:?}"
    );
    assert!(!peers.contains_key(&format!("[{CLIENT6}]")));

    // ferrolb counted a connection per answer, per backend.
    let key = format!("tcp/[{VIP6}]:80");
    assert_conns_match_answers(&t, &run, &key, &SERVERS6);
    // Both directions crossed ferrolb.
    assert_counted_both_ways(&t, &key, n);

    // The sessions list the client, the local address and port, and the
    // backend.
    let list = listed_sessions(&t, &key, n);
    for s in list {
        let client = s["client"].as_str().expect("client");
        assert!(client.starts_with(&format!("[{CLIENT6}]:")), "{s}");
        let local = s["local"].as_str().unwrap_or_default();
        assert!(
            LADDRS6
                .iter()
                .any(|a| local.starts_with(&format!("[{a}]:"))),
            "{s}"
        );
        let backend = s["backend"].as_str().expect("backend");
        assert!(
            SERVERS6
                .iter()
                .any(|(_, ip)| backend == format!("[{ip}]:80")),
            "{s}"
        );
    }
    let e = t.ctl_json(&["stats"])["events"].clone();
    eprintln!("E2E IPv6 FULLNAT events: {e}");
    // The servers resolved by ferrolb's solicitations; the servers' own
    // solicitations for the local addresses answered by ferrolb, as the
    // router's for the VIP.
    assert!(e["nd_solicitations_sent"].as_u64() >= Some(3), "{e}");
    assert!(e["nd_advertisements_sent"].as_u64() >= Some(2), "{e}");
    for reason in [
        "no_session",
        "ports_exhausted",
        "ttl_exceeded",
        "no_route",
        "ipv6_bad_chain",
        "ipv6_fragment",
        "no_service",
        "neighbour_unresolved",
        "truncated_l4",
    ] {
        assert_eq!(t.drop_count(reason), 0, "drop:{reason}");
    }
}
