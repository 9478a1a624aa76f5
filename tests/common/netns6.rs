//! What the IPv6 end-to-end scenarios share (`e2e_ipv6`, `e2e_nat6`,
//! `e2e_fullnat6`, `e2e_nat64`): ferrolb's IPv6 addresses in the lab, the
//! config that gives them, the HTTP run to the IPv6 VIP, the checks of
//! its spread and of ferrolb's counts, and the sessions listing.

use std::collections::BTreeMap;
use std::time::Instant;

use super::netns::{ClientRun, Topology};

/// ferrolb's address on `ext` (the router's link) and on `lan` (the
/// servers' link).
pub const EXT6: &str = "2001:db8:2::1";
pub const LAN6: &str = "2001:db8:1::1";
pub const VIP6: &str = "2001:db8:10::10";
/// The servers' IPv6 addresses on the `lan` link (`netns.sh ipv6dr`,
/// `ipv6nat`, `ipv6fullnat`).
pub const SERVERS6: [(&str, &str); 3] = [
    ("s1", "2001:db8:1::11"),
    ("s2", "2001:db8:1::12"),
    ("s3", "2001:db8:1::13"),
];

/// `text` (from `Topology::config_text`) with ferrolb's IPv6 address on
/// `ext`, and on `lan` too unless `lan` is false (NAT64's servers' link is
/// IPv4 only).
pub fn with_ipv6_addresses(text: &str, lan: bool) -> String {
    let mut text = text.replace(
        r#"addresses = ["10.0.2.1/24"]"#,
        &format!(r#"addresses = ["10.0.2.1/24", "{EXT6}/64"]"#),
    );
    assert!(text.contains(EXT6), "no ext interface to give {EXT6}");
    if lan {
        text = text.replace(
            r#"addresses = ["10.0.1.1/24"]"#,
            &format!(r#"addresses = ["10.0.1.1/24", "{LAN6}/64"]"#),
        );
        assert!(text.contains(LAN6), "no lan interface to give {LAN6}");
    }
    text
}

/// `n` HTTP connections from namespace `from` to `[VIP6]:80`, each allowed
/// 5 s (a connection whose SYN or SYN-ACK is lost on the veths gets Linux's
/// retransmissions at 1 s and 3 s), printed under `label`; every one must
/// be answered.
pub fn http_to_vip6(t: &Topology, from: &str, n: usize, label: &str) -> ClientRun {
    let target = format!("[{VIP6}]:80");
    let started = Instant::now();
    let count = n.to_string();
    let run = t.client(
        from,
        &[
            "http",
            "--target",
            &target,
            "--count",
            &count,
            "--timeout-ms",
            "5000",
        ],
    );
    eprintln!(
        "E2E {label}: {} requests, {} failed, servers {:?}, peers {:?}, {} ms",
        run.requests.len(),
        run.failures().len(),
        run.by_server(),
        run.by_peer_ip(),
        started.elapsed().as_millis()
    );
    run.assert_all_ok(n);
    run
}

/// The answers by server are exactly `want`.
pub fn assert_spread(run: &ClientRun, want: &[(&str, u64)]) {
    let want: BTreeMap<String, u64> = want.iter().map(|(s, c)| (s.to_string(), *c)).collect();
    assert_eq!(run.by_server(), want, "spread over the servers");
}

/// ferrolb counted, for each of `servers` (name, address) behind service
/// `key`, as many connections as that server answered.
pub fn assert_conns_match_answers(
    t: &Topology,
    run: &ClientRun,
    key: &str,
    servers: &[(&str, &str)],
) {
    let backends = t.backends(key);
    eprintln!("    {key}: appliance (weight, conns) by backend {backends:?}");
    for (server, ip) in servers {
        let seen = run.by_server().get(*server).copied().unwrap_or(0);
        // Listed as `[2001:db8::1]:80`, `10.0.1.11:80` or bare.
        let named = |a: &str| {
            let bare = a.trim_start_matches('[');
            bare == *ip
                || bare.starts_with(&format!("{ip}]"))
                || bare.starts_with(&format!("{ip}:"))
        };
        let counted = backends
            .iter()
            .find(|(a, _)| named(a))
            .map_or(0, |(_, b)| b.1);
        assert_eq!(counted, seen, "{server} ({ip}): counted against answered");
    }
}

/// Service `key` counted `n` connections and both directions through
/// ferrolb: at least SYN, ACK and request in, SYN-ACK, answer and FIN
/// out, for each connection (NAT and FULLNAT; DR's replies bypass us).
pub fn assert_counted_both_ways(t: &Topology, key: &str, n: usize) {
    let stats = &t.service(key)["stats"];
    eprintln!("    {key}: {stats}");
    assert_eq!(stats["conns"], n as u64, "{stats}");
    let at_least = Some(3 * n as u64);
    assert!(stats["packets_in"].as_u64() >= at_least, "{stats}");
    assert!(stats["packets_out"].as_u64() >= at_least, "{stats}");
}

/// The sessions `ferrolbctl sessions` lists for service `key` after `n`
/// connections: at least one, at most `n`.
pub fn listed_sessions(t: &Topology, key: &str, n: usize) -> Vec<serde_json::Value> {
    let sessions = t.ctl_json(&["sessions", "--service", key, "--limit", "100000"]);
    let list = sessions["sessions"].as_array().expect("sessions").clone();
    assert!(
        !list.is_empty() && list.len() <= n,
        "{} sessions",
        list.len()
    );
    list
}
