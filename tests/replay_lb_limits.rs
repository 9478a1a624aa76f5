//! Pcap replay of the connection limits (docs/load-balancing.md,
//! "Connection limits") through the real appliance: a service's
//! new-connection rate, a client prefix's, and backends' connection
//! thresholds, each refusal in its drop counter and on its service's row.
//! One-armed (port `lan`), one worker.
//!
//! The replay runs in real time and takes well under a second, so the
//! rate limits are set to 1 per second: the burst decides what passes,
//! and one more token may come in if the run takes over a second.

mod common;

use common::lb::*;
use common::{CasePort, Replay};

fn run_one_arm(input: &[Vec<u8>], services: &str) -> common::ReplayResult {
    let run = Replay {
        ports: vec![CasePort::new("lan", input.to_vec()).with_mac(LAN_MAC)],
        config: one_arm_config() + services,
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    run
}

fn syn_from(client: Ip, port: u16) -> Vec<u8> {
    tcp(
        ROUTER_MAC,
        LAN_MAC,
        (client, port),
        (VIP, 80),
        1,
        0,
        "S",
        b"",
    )
    .bytes()
}

fn forwarded_to(run: &common::ReplayResult, rip: Ip) -> usize {
    run.sent[0]
        .iter()
        .filter(|f| f.len() > 34 && f[30..34] == rip)
        .count()
}

#[test]
fn a_services_new_connection_rate_refuses_the_excess_and_counts_it() {
    let services = service(
        "tcp",
        80,
        "nat",
        "rr",
        "new_conn_rate = 1\nnew_conn_burst = 3\n",
        &[(rip(11), Some(8080), 1)],
    );
    let input: Vec<_> = (0..10).map(|i| syn_from(cip(1), 40000 + i)).collect();
    let run = run_one_arm(&input, &services);
    let passed = forwarded_to(&run, rip(11)) as u64;
    assert!((3..=4).contains(&passed), "{passed} of 10 passed");
    run.assert_drops(&[("rate_limited", 10 - passed)]);
    assert_eq!(
        run.row(&format!("rate_limited:tcp/{}:80", ip_text(VIP))),
        vec![10 - passed]
    );
    assert_eq!(
        run.row(&format!("client_rate_limited:tcp/{}:80", ip_text(VIP))),
        vec![0]
    );
}

#[test]
fn a_client_prefix_rate_limits_that_prefix_only() {
    let services = service(
        "tcp",
        80,
        "nat",
        "rr",
        "client_rate = 1\nclient_burst = 2\nclient_prefix_len = 24\n",
        &[(rip(11), Some(8080), 1)],
    );
    // cip(n) are hosts of 198.51.100.0/24; another /24 beside it.
    let other: Ip = [198, 51, 101, 9];
    let mut input: Vec<_> = (0..6)
        .map(|i| syn_from(cip(1 + i as u8), 40000 + i))
        .collect();
    input.extend((0..2).map(|i| syn_from(other, 41000 + i)));
    let run = run_one_arm(&input, &services);
    let from = |c: Ip| {
        run.sent[0]
            .iter()
            .filter(|f| f.len() > 34 && f[26..30] == c)
            .count()
    };
    let first_prefix: usize = (1..=6).map(|n| from(cip(n))).sum();
    assert!((2..=3).contains(&first_prefix), "{first_prefix}");
    assert_eq!(from(other), 2, "another prefix has its own bucket");
    let refused = 6 - first_prefix as u64;
    run.assert_drops(&[("client_rate_limited", refused)]);
    assert_eq!(
        run.row(&format!("client_rate_limited:tcp/{}:80", ip_text(VIP))),
        vec![refused]
    );
}

#[test]
fn backends_over_their_threshold_get_no_new_flows_counted_as_overloaded() {
    let services = service(
        "tcp",
        80,
        "nat",
        "wlc",
        "",
        &[(rip(11), Some(8080), 1), (rip(12), Some(8080), 1)],
    )
    .replace("weight = 1\n", "weight = 1\nu_threshold = 2\n");
    let input: Vec<_> = (0..6).map(|i| syn_from(cip(1), 40000 + i)).collect();
    let run = run_one_arm(&input, &services);
    assert_eq!(forwarded_to(&run, rip(11)), 2);
    assert_eq!(forwarded_to(&run, rip(12)), 2);
    run.assert_drops(&[("no_backend", 2)]);
    assert_eq!(run.event("overloaded"), 2);
    // Each refused client is told: port unreachable (`unreachable.rs`).
    assert_eq!(run.event("icmp_errors_sent"), 2);
}
