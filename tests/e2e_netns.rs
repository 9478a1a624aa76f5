//! End to end with real Linux TCP/IP stacks (docs/end-to-end.md): clients
//! and servers in network namespaces, ferrolb between them on
//! `net_af_packet` ports, for DR, NAT, FULLNAT and SNAT, and the failure
//! drills. TUN is covered by the pcap replay cases only: this kernel has no
//! ipip module for the servers to decapsulate with.
//!
//! Needs root: without it (or without `ip`) every case fails with a message
//! saying so. The cases run one at a time (each ferrolb busy-polls a core)
//! and print what they saw: requests, the spread over servers, timings.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::netns::{
    serial, server_ip, ClientRun, Topology, CLIENT_IP, ECHO, HTTP, OUTSIDE_IP, SERVERS, VIP,
};

/// A `[[service]]` on the VIP with one backend per (server, weight).
fn service(
    proto: &str,
    port: u16,
    mode: &str,
    scheduler: &str,
    backends: &[(&str, u32)],
) -> String {
    let mut s = format!(
        "\n[[service]]\nvip = \"{VIP}\"\nprotocol = \"{proto}\"\nport = {port}\nmode = \"{mode}\"\n\
         scheduler = \"{scheduler}\"\n"
    );
    if mode == "fullnat" {
        s.push_str("local_addresses = [\"10.0.1.100\", \"10.0.1.101\"]\n");
    }
    for (server, weight) in backends {
        s.push_str(&format!(
            "\n[[service.backend]]\naddress = \"{}\"\nweight = {weight}\n",
            server_ip(server)
        ));
    }
    s
}

fn key(proto: &str, port: u16) -> String {
    format!("{proto}/{VIP}:{port}")
}

/// Checks one client run against the appliance: every request succeeded,
/// the spread over servers is `expected`, and the appliance counted, per
/// backend, as many connections as that server answered requests.
fn check_run(t: &Topology, run: &ClientRun, n: usize, svc: &str, expected: &[(&str, u64)]) {
    let backends = t.backends(svc);
    eprintln!("    {svc}: appliance (weight, conns) by backend {backends:?}");
    run.assert_all_ok(n);
    let want: BTreeMap<String, u64> = expected
        .iter()
        .filter(|e| e.1 > 0)
        .map(|(s, c)| (s.to_string(), *c))
        .collect();
    assert_eq!(
        run.by_server(),
        want,
        "{}: spread over the servers",
        run.what
    );
    for (server, ip) in SERVERS {
        let seen = run.by_server().get(server).copied().unwrap_or(0);
        let counted = backends.get(ip).map_or(0, |b| b.1);
        assert_eq!(
            counted, seen,
            "{svc}: the appliance counted {counted} connections to {server} ({ip}), \
             the client got {seen} answers from it"
        );
    }
    let conns = t.service(svc)["stats"]["conns"].as_u64().expect("conns");
    assert_eq!(conns, n as u64, "{svc}: connections counted");
}

fn report(scenario: &str, run: &ClientRun, took: Duration) {
    eprintln!(
        "E2E {scenario}: {} requests, {} failed, servers {:?}, peers {:?}, {} ms",
        run.requests.len(),
        run.failures().len(),
        run.by_server(),
        run.by_peer_ip(),
        took.as_millis()
    );
}

/// Runs `count` requests of `mode` (http, tcp, udp) from the client
/// namespace to the VIP's `port`, checks them and prints the result.
fn run_checked(
    t: &Topology,
    scenario: &str,
    mode: &str,
    proto: &str,
    port: u16,
    count: usize,
    expected: &[(&str, u64)],
) -> ClientRun {
    let start = Instant::now();
    let run = t.client(
        "client",
        &[
            mode,
            "--target",
            &format!("{VIP}:{port}"),
            "--count",
            &count.to_string(),
        ],
    );
    let took = start.elapsed();
    report(scenario, &run, took);
    check_run(t, &run, count, &key(proto, port), expected);
    run
}

fn only_peer(run: &ClientRun, ip: &str) {
    let peers = run.by_peer_ip();
    assert_eq!(
        peers.keys().collect::<Vec<_>>(),
        vec![ip],
        "{}: the servers saw {peers:?}",
        run.what
    );
}

#[test]
fn dr_replies_go_straight_to_the_client() {
    let _serial = serial();
    let t0 = Instant::now();
    let mut t = Topology::up("dr");
    // UDP answers must leave from the VIP the request went to.
    for (s, ip) in SERVERS {
        t.start_server_with(s, &["--udp-addr", VIP, "--udp-addr", ip]);
    }
    let body = format!(
        "{}{}",
        service("tcp", HTTP, "dr", "wrr", &[("s1", 1), ("s2", 2), ("s3", 3)]),
        service("udp", ECHO, "dr", "rr", &[("s1", 1), ("s2", 1), ("s3", 1)])
    );
    t.start_lb(&body);
    let http = run_checked(
        &t,
        "DR http wrr 1:2:3",
        "http",
        "tcp",
        HTTP,
        1200,
        &[("s1", 200), ("s2", 400), ("s3", 600)],
    );
    only_peer(&http, CLIENT_IP);
    let udp = run_checked(
        &t,
        "DR udp rr",
        "udp",
        "udp",
        ECHO,
        300,
        &[("s1", 100), ("s2", 100), ("s3", 100)],
    );
    only_peer(&udp, CLIENT_IP);
    // The replies did not come through the appliance.
    for (proto, port) in [("tcp", HTTP), ("udp", ECHO)] {
        let stats = &t.service(&key(proto, port))["stats"];
        assert_eq!(
            stats["packets_out"], 0,
            "{proto}/{port}: DR replies bypass ferrolb: {stats}"
        );
        assert!(stats["packets_in"].as_u64() > Some(0));
    }
    eprintln!("E2E DR: total {} ms", t0.elapsed().as_millis());
}

#[test]
fn nat_servers_route_through_the_appliance() {
    let _serial = serial();
    let t0 = Instant::now();
    let mut t = Topology::up("nat");
    t.start_servers();
    let body = format!(
        "{}{}{}",
        service("tcp", HTTP, "nat", "rr", &[("s1", 1), ("s2", 1), ("s3", 1)]),
        service(
            "tcp",
            ECHO,
            "nat",
            "wrr",
            &[("s1", 3), ("s2", 2), ("s3", 1)]
        ),
        service("udp", ECHO, "nat", "rr", &[("s1", 1), ("s2", 1), ("s3", 1)])
    );
    t.start_lb(&body);
    let runs = [
        run_checked(
            &t,
            "NAT http rr",
            "http",
            "tcp",
            HTTP,
            1200,
            &[("s1", 400), ("s2", 400), ("s3", 400)],
        ),
        run_checked(
            &t,
            "NAT tcp-echo wrr 3:2:1",
            "tcp",
            "tcp",
            ECHO,
            600,
            &[("s1", 300), ("s2", 200), ("s3", 100)],
        ),
        run_checked(
            &t,
            "NAT udp rr",
            "udp",
            "udp",
            ECHO,
            300,
            &[("s1", 100), ("s2", 100), ("s3", 100)],
        ),
    ];
    for run in &runs {
        only_peer(run, CLIENT_IP);
    }
    for (proto, port) in [("tcp", HTTP), ("tcp", ECHO), ("udp", ECHO)] {
        let stats = &t.service(&key(proto, port))["stats"];
        assert!(
            stats["packets_out"].as_u64() > Some(0),
            "NAT replies come back through ferrolb: {stats}"
        );
    }
    eprintln!("E2E NAT: total {} ms", t0.elapsed().as_millis());
}

#[test]
fn fullnat_servers_see_local_addresses() {
    let _serial = serial();
    let t0 = Instant::now();
    let mut t = Topology::up("fullnat");
    t.start_servers();
    let body = format!(
        "{}{}{}",
        service(
            "tcp",
            HTTP,
            "fullnat",
            "wrr",
            &[("s1", 1), ("s2", 2), ("s3", 3)]
        ),
        service(
            "tcp",
            ECHO,
            "fullnat",
            "rr",
            &[("s1", 1), ("s2", 1), ("s3", 1)]
        ),
        service(
            "udp",
            ECHO,
            "fullnat",
            "rr",
            &[("s1", 1), ("s2", 1), ("s3", 1)]
        )
    );
    t.start_lb(&body);
    let runs = [
        (
            1200,
            run_checked(
                &t,
                "FULLNAT http wrr 1:2:3",
                "http",
                "tcp",
                HTTP,
                1200,
                &[("s1", 200), ("s2", 400), ("s3", 600)],
            ),
        ),
        (
            600,
            run_checked(
                &t,
                "FULLNAT tcp-echo rr",
                "tcp",
                "tcp",
                ECHO,
                600,
                &[("s1", 200), ("s2", 200), ("s3", 200)],
            ),
        ),
        (
            300,
            run_checked(
                &t,
                "FULLNAT udp rr",
                "udp",
                "udp",
                ECHO,
                300,
                &[("s1", 100), ("s2", 100), ("s3", 100)],
            ),
        ),
    ];
    // The servers saw only the local addresses, used in turn.
    for (n, run) in &runs {
        let half = (*n as u64) / 2;
        let want: BTreeMap<String, u64> = [
            ("10.0.1.100".to_owned(), half),
            ("10.0.1.101".to_owned(), half),
        ]
        .into();
        assert_eq!(
            run.by_peer_ip(),
            want,
            "{}: peers the servers saw",
            run.what
        );
    }
    eprintln!("E2E FULLNAT: total {} ms", t0.elapsed().as_millis());
}

#[test]
fn snat_servers_reach_the_outside() {
    let _serial = serial();
    let t0 = Instant::now();
    let mut t = Topology::up("snat");
    t.start_server("outside");
    t.start_lb(
        "\n[[snat]]\nsource = \"10.0.1.0/24\"\nport = \"ext\"\naddresses = [\"203.0.113.1\"]\nports = \"1024-65535\"\n",
    );
    let mut total = 0;
    for (server, mode, port, n) in [
        ("s1", "http", HTTP, 1000),
        ("s2", "tcp", ECHO, 300),
        ("s3", "udp", ECHO, 300),
    ] {
        let start = Instant::now();
        let run = t.client(
            server,
            &[
                mode,
                "--target",
                &format!("{OUTSIDE_IP}:{port}"),
                "--count",
                &n.to_string(),
            ],
        );
        report(
            &format!("SNAT {server} {mode} to the outside"),
            &run,
            start.elapsed(),
        );
        run.assert_all_ok(n);
        assert_eq!(
            run.by_server(),
            BTreeMap::from([("outside".to_owned(), n as u64)])
        );
        only_peer(&run, "203.0.113.1");
        total += n as u64;
    }
    let list = t.ctl_json(&["list", "--stats"]);
    let rule = &list["snat"][0];
    assert_eq!(rule["source"], "10.0.1.0/24", "{list}");
    assert_eq!(
        rule["stats"]["conns"], total,
        "SNAT connections counted: {rule}"
    );
    assert!(rule["stats"]["packets_out"].as_u64() > Some(0), "{rule}");
    eprintln!("E2E SNAT: total {} ms", t0.elapsed().as_millis());
}
