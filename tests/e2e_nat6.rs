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

use std::time::Instant;

use common::netns::{serial, Topology};

const EXT6: &str = "2001:db8:2::1";
const LAN6: &str = "2001:db8:1::1";
const VIP6: &str = "2001:db8:10::10";
const CLIENT6: &str = "2001:db8:2::fe";
const SERVERS6: [(&str, &str); 3] = [
    ("s1", "2001:db8:1::11"),
    ("s2", "2001:db8:1::12"),
    ("s3", "2001:db8:1::13"),
];

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
    let text = t
        .config_text(&body)
        .replace(
            r#"addresses = ["10.0.2.1/24"]"#,
            &format!(r#"addresses = ["10.0.2.1/24", "{EXT6}/64"]"#),
        )
        .replace(
            r#"addresses = ["10.0.1.1/24"]"#,
            &format!(r#"addresses = ["10.0.1.1/24", "{LAN6}/64"]"#),
        );
    assert!(text.contains(EXT6) && text.contains(LAN6));
    t.start_lb_text(&text);

    let n = 600;
    let target = format!("[{VIP6}]:80");
    let started = Instant::now();
    let run = t.client(
        "router",
        &[
            "http",
            "--target",
            &target,
            "--count",
            &n.to_string(),
            "--timeout-ms",
            "5000",
        ],
    );
    eprintln!(
        "E2E IPv6 NAT http wrr 1:2:3: {} requests, {} failed, servers {:?}, peers {:?}, {} ms",
        run.requests.len(),
        run.failures().len(),
        run.by_server(),
        run.by_peer_ip(),
        started.elapsed().as_millis()
    );
    run.assert_all_ok(n);
    let want: std::collections::BTreeMap<String, u64> = [("s1", 100), ("s2", 200), ("s3", 300)]
        .iter()
        .map(|(s, c)| (s.to_string(), *c))
        .collect();
    assert_eq!(run.by_server(), want, "spread over the servers");
    // NAT keeps the client's address: the servers saw it.
    let peers: Vec<String> = run.by_peer_ip().into_keys().collect();
    assert_eq!(peers, vec![format!("[{CLIENT6}]")]);

    // ferrolb counted a connection per answer, per backend.
    let key = format!("tcp/[{VIP6}]:80");
    let backends = t.backends(&key);
    eprintln!("    {key}: appliance (weight, conns) by backend {backends:?}");
    for (server, ip) in SERVERS6 {
        let seen = run.by_server().get(server).copied().unwrap_or(0);
        let counted = backends
            .iter()
            .find(|(a, _)| a.trim_start_matches('[').starts_with(&format!("{ip}]")) || *a == ip)
            .map_or(0, |(_, b)| b.1);
        assert_eq!(counted, seen, "{server} ({ip}): counted against answered");
    }
    // Both directions crossed ferrolb: at least SYN, ACK, request, FIN
    // in, SYN-ACK, answer, FIN out, for each connection.
    let stats = &t.service(&key)["stats"];
    eprintln!("    {key}: {stats}");
    assert_eq!(stats["conns"], n as u64, "{stats}");
    assert!(
        stats["packets_in"].as_u64() >= Some(3 * n as u64),
        "{stats}"
    );
    assert!(
        stats["packets_out"].as_u64() >= Some(3 * n as u64),
        "{stats}"
    );

    // The sessions list the client, the VIP and the backend.
    let sessions = t.ctl_json(&["sessions", "--service", &key, "--limit", "100000"]);
    let list = sessions["sessions"].as_array().expect("sessions");
    assert!(
        !list.is_empty() && list.len() <= n,
        "{} sessions",
        list.len()
    );
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
