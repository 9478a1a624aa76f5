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
    serial, server_ip, wait, ClientRun, Topology, CLIENT_IP, ECHO, HTTP, OUTSIDE_IP, SERVERS, VIP,
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

/// UDP: one datagram each way per request, so the packet counters are
/// exact too (DR: none come back through us), and every request is a live
/// session (UDP sessions last 300 s) from the client to the server that
/// answered it.
fn check_udp_counters(t: &Topology, run: &ClientRun, svc: &str, dr: bool) {
    let n = run.requests.len() as u64;
    let stats = &t.service(svc)["stats"];
    assert_eq!(stats["packets_in"], n, "{svc}: {stats}");
    assert_eq!(
        stats["packets_out"],
        if dr { 0 } else { n },
        "{svc}: {stats}"
    );
    let sessions = t.ctl_json(&["sessions", "--service", svc, "--limit", "100000"]);
    let list = sessions["sessions"].as_array().expect("sessions");
    assert_eq!(list.len() as u64, n, "{svc}: live sessions");
    let mut by_backend: BTreeMap<String, u64> = BTreeMap::new();
    for s in list {
        let client = s["client"].as_str().expect("client");
        assert!(client.starts_with(&format!("{CLIENT_IP}:")), "{s}");
        let backend = s["backend"].as_str().expect("backend");
        let ip = backend.split(':').next().unwrap_or(backend);
        let name = SERVERS.iter().find(|x| x.1 == ip).map_or(ip, |x| x.0);
        *by_backend.entry(name.to_owned()).or_default() += 1;
    }
    assert_eq!(by_backend, run.by_server(), "{svc}: sessions by backend");
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
    check_udp_counters(&t, &udp, &key("udp", ECHO), true);
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
    check_udp_counters(&t, &runs[2], &key("udp", ECHO), false);
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
    check_udp_counters(&t, &runs[2].1, &key("udp", ECHO), false);
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

// ---------------------------------------------------------------------------
// Failure drills.

/// The health check of the drills: every 300 ms, down after 2 failures, up
/// after 2 successes.
const CHECK_INTERVAL_MS: u64 = 300;
const CHECK_FALL: u64 = 2;
const CHECK_RISE: u64 = 2;
/// What a transition may take beyond `fall` (or `rise`) intervals: the
/// check itself (a refused connect returns at once), the apply, and this
/// test's polling of the weight (every 10 ms through ferrolbctl).
const HEALTH_SLACK_MS: u64 = 250;
/// Clock slack between a request's start as the client reports it and the
/// test's own observations.
const CLOCK_SLACK: Duration = Duration::from_millis(20);

fn weight_of(t: &Topology, svc: &str, ip: &str) -> Option<u64> {
    t.backends(svc).get(ip).map(|b| b.0)
}

/// Polls until backend `ip` of `svc` has `want` weight; returns when the
/// test saw it.
fn wait_weight(t: &Topology, svc: &str, ip: &str, want: u64) -> Instant {
    wait(
        &format!("{svc} -> {ip} at weight {want}"),
        Duration::from_secs(20),
        || weight_of(t, svc, ip) == Some(want),
    );
    Instant::now()
}

fn failures_after(run: &ClientRun, after: Instant) -> Vec<String> {
    run.requests
        .iter()
        .filter(|r| !r.ok && r.started > after + CLOCK_SLACK)
        .map(|r| r.error.clone())
        .collect()
}

#[test]
fn drill_health_checks_take_a_stopped_server_out_and_back_and_the_daemon_can_die() {
    let _serial = serial();
    let t0 = Instant::now();
    let mut t = Topology::up("fullnat");
    t.start_servers();
    let svc = key("tcp", HTTP);
    let body = service("tcp", HTTP, "fullnat", "rr", &[("s1", 1), ("s2", 1), ("s3", 1)]).replace(
        "scheduler = \"rr\"\n",
        &format!(
            "scheduler = \"rr\"\ncheck = {{ type = \"http\", path = \"/healthz\", interval_ms = {CHECK_INTERVAL_MS}, \
             timeout_ms = 200, rise = {CHECK_RISE}, fall = {CHECK_FALL} }}\n"
        ),
    );
    t.start_lb(&body);
    let config = t.config.clone();
    t.start_daemon(&config);
    let log = t.dir.path().join("daemon.log");
    wait("the daemon to start", Duration::from_secs(20), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("daemon: started"))
    });

    let loop_ = t.spawn_client(
        "client",
        &[
            "http",
            "--target",
            &format!("{VIP}:{HTTP}"),
            "--count",
            "0",
            "--duration-ms",
            "12000",
            "--interval-ms",
            "5",
            "--timeout-ms",
            "1000",
        ],
    );
    std::thread::sleep(Duration::from_millis(1000));

    // Stop s2: the daemon takes it to weight 0.
    let killed = Instant::now();
    t.stop_server("s2");
    let down = wait_weight(&t, &svc, server_ip("s2"), 0);
    let down_ms = (down - killed).as_millis() as u64;
    std::thread::sleep(Duration::from_millis(1500));

    // Start it again: it comes back.
    let restarted = Instant::now();
    t.start_server("s2");
    let up = wait_weight(&t, &svc, server_ip("s2"), 1);
    let up_ms = (up - restarted).as_millis() as u64;
    std::thread::sleep(Duration::from_millis(1500));

    // Kill the daemon: forwarding and the weights stay.
    let daemon_killed = Instant::now();
    t.kill_daemon();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        t.backends(&svc).values().map(|b| b.0).collect::<Vec<_>>(),
        vec![1, 1, 1],
        "weights after the daemon died"
    );
    let run = loop_.wait(Duration::from_secs(60));
    let took = t0.elapsed();

    let failed = run.failures();
    let s2_ok_after_up = run
        .requests
        .iter()
        .filter(|r| r.ok && r.server == "s2" && r.started > up)
        .count();
    // How long before the weight reached 0 the last failed request started.
    let last_failure_before_down = failed
        .iter()
        .map(|r| r.started)
        .max()
        .map(|last| down.saturating_duration_since(last).as_millis());
    let after_daemon = run
        .requests
        .iter()
        .filter(|r| r.started > daemon_killed)
        .count();
    eprintln!(
        "E2E drill health: {} requests, {} failed (all while s2 was down and not yet at weight 0), \
         servers {:?}; s2 at weight 0 {down_ms} ms after it stopped, back at weight 1 {up_ms} ms \
         after it restarted (interval {CHECK_INTERVAL_MS} ms, fall {CHECK_FALL}, rise {CHECK_RISE}); \
         {s2_ok_after_up} answers from s2 after that; {after_daemon} requests after the daemon was \
         killed; the last failure started {last_failure_before_down:?} ms before weight 0; {} ms",
        run.requests.len(),
        failed.len(),
        run.by_server(),
        took.as_millis()
    );
    assert!(
        down_ms <= CHECK_FALL * CHECK_INTERVAL_MS + HEALTH_SLACK_MS,
        "s2 reached weight 0 {down_ms} ms after it stopped: more than fall × interval + {HEALTH_SLACK_MS} ms"
    );
    assert!(
        up_ms <= CHECK_RISE * CHECK_INTERVAL_MS + HEALTH_SLACK_MS,
        "s2 came back {up_ms} ms after it restarted: more than rise × interval + {HEALTH_SLACK_MS} ms"
    );
    let late = failures_after(&run, down);
    assert!(
        late.is_empty(),
        "requests failed after s2 was at weight 0: {late:?}"
    );
    assert!(
        failed.iter().all(|r| r.started + CLOCK_SLACK >= killed),
        "a request failed before s2 was stopped: {failed:?}"
    );
    assert!(s2_ok_after_up > 0, "s2 answers again once it is back");
    assert!(
        after_daemon > 100,
        "the loop ran on after the daemon died ({after_daemon} requests)"
    );
    assert!(failures_after(&run, daemon_killed).is_empty());
    // The appliance counted every connection: the failed ones went to s2.
    let backends = t.backends(&svc);
    let by_server = run.by_server();
    for (s, ip) in SERVERS {
        let mut seen = by_server.get(s).copied().unwrap_or(0);
        if s == "s2" {
            seen += failed.len() as u64;
        }
        assert_eq!(
            backends[ip].1, seen,
            "{s}: connections counted by the appliance"
        );
    }
}

#[test]
fn drill_config_changes_keep_a_long_connection_and_a_request_loop() {
    let _serial = serial();
    let t0 = Instant::now();
    let mut t = Topology::up("fullnat");
    t.start_servers();
    let (web, echo) = (key("tcp", HTTP), key("tcp", ECHO));
    t.start_lb(&format!(
        "{}{}",
        service("tcp", HTTP, "fullnat", "rr", &[("s1", 1), ("s2", 1)]),
        service("tcp", ECHO, "fullnat", "rr", &[("s1", 1)])
    ));
    let hold = t.spawn_client(
        "client",
        &[
            "hold",
            "--target",
            &format!("{VIP}:{ECHO}"),
            "--count",
            "0",
            "--duration-ms",
            "6000",
            "--interval-ms",
            "20",
        ],
    );
    let loop_ = t.spawn_client(
        "client",
        &[
            "http",
            "--target",
            &format!("{VIP}:{HTTP}"),
            "--count",
            "0",
            "--duration-ms",
            "6000",
            "--interval-ms",
            "3",
        ],
    );
    let pause = || std::thread::sleep(Duration::from_millis(800));
    pause();
    let added = Instant::now();
    t.ctl_ok(&["backend", "add", &web, server_ip("s3"), "--weight", "2"]);
    pause();
    t.ctl_ok(&["backend", "edit", &web, server_ip("s1"), "--weight", "3"]);
    pause();
    // The held connection's backend drains; another takes new connections.
    t.ctl_ok(&["backend", "add", &echo, server_ip("s2")]);
    t.ctl_ok(&["backend", "edit", &echo, server_ip("s1"), "--weight", "0"]);
    pause();
    // A whole new config at once.
    let file = t.dir.path().join("changed.toml");
    let text = t.config_text(&format!(
        "{}{}",
        service(
            "tcp",
            HTTP,
            "fullnat",
            "rr",
            &[("s1", 1), ("s2", 1), ("s3", 1)]
        ),
        service(
            "tcp",
            ECHO,
            "fullnat",
            "rr",
            &[("s1", 1), ("s2", 2), ("s3", 1)]
        )
    ));
    std::fs::write(&file, text).expect("write");
    t.ctl_ok(&["apply", "-f", &file.display().to_string()]);
    let held = hold.wait(Duration::from_secs(60));
    let run = loop_.wait(Duration::from_secs(60));
    let s3_after_add = run
        .requests
        .iter()
        .filter(|r| r.ok && r.server == "s3" && r.started > added)
        .count();
    eprintln!(
        "E2E drill config changes: long connection {} exchanges, {} failed, all with {:?}; \
         request loop {} requests, {} failed, servers {:?} ({s3_after_add} from s3 after it was \
         added); {} ms",
        held.requests.len(),
        held.failures().len(),
        held.by_server(),
        run.requests.len(),
        run.failures().len(),
        run.by_server(),
        t0.elapsed().as_millis()
    );
    held.assert_all_ok(held.requests.len());
    assert!(
        held.requests.len() > 100,
        "the connection lived through the changes"
    );
    assert_eq!(held.by_server().len(), 1, "one connection, one server");
    run.assert_all_ok(run.requests.len());
    assert!(run.requests.len() > 500, "{}", run.requests.len());
    assert!(s3_after_add > 0, "the added backend takes requests");
    let conns: u64 = t.backends(&web).values().map(|b| b.1).sum();
    assert_eq!(conns, run.requests.len() as u64, "connections counted");
}

#[test]
fn drill_a_malformed_burst_is_counted_and_traffic_goes_on() {
    let _serial = serial();
    let t0 = Instant::now();
    let mut t = Topology::up("nat");
    t.start_servers();
    t.start_lb(&service(
        "tcp",
        HTTP,
        "nat",
        "rr",
        &[("s1", 1), ("s2", 1), ("s3", 1)],
    ));
    let loop_ = t.spawn_client(
        "client",
        &[
            "http",
            "--target",
            &format!("{VIP}:{HTTP}"),
            "--count",
            "0",
            "--duration-ms",
            "3000",
            "--interval-ms",
            "2",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    let before = (
        t.drop_count("truncated_l4"),
        t.drop_count("bad_icmp_checksum"),
    );
    let burst = 900;
    let sent = t.client(
        "client",
        &[
            "malformed",
            "--target",
            &format!("{VIP}:{HTTP}"),
            "--count",
            &burst.to_string(),
            // Bursts of 32, 1 ms apart: all 900 at once would overrun the
            // af_packet ring, whose losses DPDK does not count as rx_missed.
            "--interval-ms",
            "1",
        ],
    );
    assert!(sent.done.is_some(), "the burst was sent");
    // Each third is an ICMP echo with a bad checksum; the rest are cut
    // short at L4 (TCP header, UDP length).
    wait("the burst to be counted", Duration::from_secs(5), || {
        let now = (
            t.drop_count("truncated_l4"),
            t.drop_count("bad_icmp_checksum"),
        );
        now.0 - before.0 >= burst * 2 / 3 && now.1 - before.1 >= burst / 3
    });
    let after = (
        t.drop_count("truncated_l4"),
        t.drop_count("bad_icmp_checksum"),
    );
    let run = loop_.wait(Duration::from_secs(60));
    eprintln!(
        "E2E drill malformed burst: {burst} packets sent ({:?}), truncated_l4 +{}, \
         bad_icmp_checksum +{}; request loop {} requests, {} failed, servers {:?}; {} ms",
        sent.done,
        after.0 - before.0,
        after.1 - before.1,
        run.requests.len(),
        run.failures().len(),
        run.by_server(),
        t0.elapsed().as_millis()
    );
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (burst * 2 / 3, burst / 3)
    );
    run.assert_all_ok(run.requests.len());
    assert!(run.requests.len() > 200, "{}", run.requests.len());
    let conns: u64 = t.backends(&key("tcp", HTTP)).values().map(|b| b.1).sum();
    assert_eq!(conns, run.requests.len() as u64, "connections counted");
}
