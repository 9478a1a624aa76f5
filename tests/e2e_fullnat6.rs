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

use std::collections::BTreeMap;
use std::time::Instant;

use common::netns::{serial, Topology};

const EXT6: &str = "2001:db8:2::1";
const LAN6: &str = "2001:db8:1::1";
const VIP6: &str = "2001:db8:10::10";
const CLIENT6: &str = "2001:db8:2::fe";
const LADDRS6: [&str; 2] = ["2001:db8:1::100", "2001:db8:1::101"];
const SERVERS6: [(&str, &str); 3] = [
    ("s1", "2001:db8:1::11"),
    ("s2", "2001:db8:1::12"),
    ("s3", "2001:db8:1::13"),
];

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
        "E2E IPv6 FULLNAT http rr: {} requests, {} failed, servers {:?}, peers {:?}, {} ms",
        run.requests.len(),
        run.failures().len(),
        run.by_server(),
        run.by_peer_ip(),
        started.elapsed().as_millis()
    );
    run.assert_all_ok(n);
    let want: BTreeMap<String, u64> = [("s1", 200), ("s2", 200), ("s3", 200)]
        .iter()
        .map(|(s, c)| (s.to_string(), *c))
        .collect();
    assert_eq!(run.by_server(), want, "spread over the servers");
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
    // Both directions crossed ferrolb.
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

    // The sessions list the client, the local address and port, and the
    // backend.
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
