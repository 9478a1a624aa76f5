//! End to end NAT over IPv6 with real Linux stacks in network namespaces
//! (issue 20, stage 3; docs/ipv6.md): `scripts/netns.sh up NAME nat` then
//! `ipv6nat`. The router, on ferrolb's ext link (2001:db8:2::fe), is the
//! client: 600 HTTP connections to the IPv6 VIP, wrr 1:2:3 over three
//! servers whose default route is ferrolb. ferrolb rewrites the
//! destination to the server, the servers answer the client's own address
//! through ferrolb, which sends the replies from the VIP. The spread is
//! exact, ferrolb counts both directions, and the servers saw the client.
//! Needs root.

mod common;

use common::netns::{serial, Topology};
use common::netns6::{
    assert_conns_match_answers, assert_counted_both_ways, assert_spread, http_to_vip6,
    listed_sessions, with_ipv6_addresses, SERVERS6, VIP6,
};

const CLIENT6: &str = "2001:db8:2::fe";

#[test]
fn real_linux_tcp_over_ipv6_goes_through_nat_both_ways() {
    let _serial = serial();
    let mut t = Topology::up("nat");
    t.netns_script("ipv6nat");
    for (s, ip) in SERVERS6 {
        t.start_server_with(s, &["--http6-addr", ip]);
    }
    let mut body = format!(
        "\n[[service]]\nvip = \"{VIP6}\"\nprotocol = \"tcp\"\nport = 80\nmode = \"nat\"\n\
         scheduler = \"wrr\"\n"
    );
    for (w, (_, ip)) in SERVERS6.iter().enumerate() {
        body.push_str(&format!(
            "\n[[service.backend]]\naddress = \"{ip}\"\nweight = {}\n",
            w + 1
        ));
    }
    t.start_lb_text(&with_ipv6_addresses(&t.config_text(&body), true));

    let n = 600;
    let run = http_to_vip6(&t, "router", n, "IPv6 NAT http wrr 1:2:3");
    assert_spread(&run, &[("s1", 100), ("s2", 200), ("s3", 300)]);
    // NAT keeps the client's address: the servers saw it.
    let peers: Vec<String> = run.by_peer_ip().into_keys().collect();
    assert_eq!(peers, vec![format!("[{CLIENT6}]")]);

    // ferrolb counted a connection per answer, per backend.
    let key = format!("tcp/[{VIP6}]:80");
    assert_conns_match_answers(&t, &run, &key, &SERVERS6);
    // Both directions crossed ferrolb.
    assert_counted_both_ways(&t, &key, n);

    // The sessions list the client, the VIP and the backend.
    let list = listed_sessions(&t, &key, n);
    for s in list {
        let client = s["client"].as_str().expect("client");
        assert!(client.starts_with(&format!("[{CLIENT6}]:")), "{s}");
        let backend = s["backend"].as_str().expect("backend");
        assert!(
            SERVERS6
                .iter()
                .any(|(_, ip)| backend == format!("[{ip}]:80")),
            "{s}"
        );
    }
    let e = t.ctl_json(&["stats"])["events"].clone();
    eprintln!("E2E IPv6 NAT events: {e}");
    // The servers resolved by ferrolb's own solicitations; the client
    // (the router) was learned from its solicitation for the VIP, which
    // ferrolb answered.
    assert!(e["nd_solicitations_sent"].as_u64() >= Some(3), "{e}");
    assert!(e["nd_advertisements_sent"].as_u64() >= Some(1), "{e}");
    assert!(e["nd_neighbours_learned"].as_u64() >= Some(4), "{e}");
    for reason in [
        "no_session",
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
