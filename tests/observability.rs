//! Seeing the running appliance: it serves Prometheus metrics itself
//! (`[control] metrics`), without the daemon, with the same values as
//! `list --stats` and `stats`; `ferrolbctl top` shows them live.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::appliance::{base_config, dns_traffic, Appliance, DNS, FLOWS};

/// The address the appliance printed for its endpoint.
fn metrics_addr(app: &Appliance) -> SocketAddr {
    let log = app.log();
    let line = log
        .lines()
        .find_map(|l| l.strip_prefix("metrics on http://"))
        .unwrap_or_else(|| panic!("no metrics line in\n{log}"));
    line.trim_end_matches("/metrics")
        .parse()
        .unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("read");
    assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
    reply
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .expect("a body")
}

/// The value of the series whose line starts with `series` (name and
/// labels, exactly).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// The appliance with its own metrics endpoint, once every replayed DNS
/// flow has its session.
fn serving_metrics() -> (Appliance, SocketAddr) {
    let app = Appliance::start_with(
        &base_config(),
        &dns_traffic(),
        "metrics = \"127.0.0.1:0\"\n",
    );
    app.wait_for("every flow to have a session", || {
        app.ctl_json(&["stats"])["sessions"] == FLOWS as u64
    });
    let addr = metrics_addr(&app);
    (app, addr)
}

#[test]
fn the_appliance_serves_its_own_metrics() {
    let (app, addr) = serving_metrics();
    let text = scrape(addr);
    assert_eq!(value(&text, "ferrolb_up"), 1.0);
    assert_eq!(value(&text, "ferrolb_sessions"), FLOWS as f64);
    let listed = app.ctl_json(&["list", "--stats"]);
    let dns_conns = listed["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["key"] == DNS))
        .and_then(|s| s["stats"]["conns"].as_u64())
        .expect("the DNS service's conns");
    let series = text
        .lines()
        .find(|l| l.starts_with("ferrolb_service_connections_total{") && l.contains("192.0.2.20"))
        .unwrap_or_else(|| panic!("no DNS connections series in\n{text}"));
    assert_eq!(
        series
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse::<u64>().ok()),
        Some(dns_conns),
        "{series}"
    );
    // Drops and events: the families the daemon has, counted by the workers.
    assert!(
        text.contains("# TYPE ferrolb_drops_total counter"),
        "{text}"
    );
    assert!(
        text.contains("ferrolb_events_total{event=\"sessions_created\"}"),
        "{text}"
    );
    // No daemon: no health or apply series.
    assert!(!text.contains("ferrolb_backend_up"), "{text}");
    assert!(!text.contains("ferrolb_daemon_"), "{text}");
}

/// The service histograms through the real binary: flushing the DNS
/// service's sessions (its backends deleted with `--flush`) counts every
/// one of them in its lifetime histogram, and the rate sampler has counted
/// a second of new connections at least once.
#[test]
fn service_histograms_count_ended_sessions_and_each_seconds_connections() {
    let (app, addr) = serving_metrics();
    let label = |family: &str, suffix: &str| {
        format!("ferrolb_service_{family}{suffix}{{service=\"{DNS}\"}}")
    };
    let lifetimes = "session_lifetime_seconds";
    assert_eq!(value(&scrape(addr), &label(lifetimes, "_count")), 0.0);
    for backend in ["10.0.1.11", "10.0.1.12"] {
        app.ctl_ok(&["backend", "delete", DNS, backend, "--flush"]);
    }
    app.wait_for("the flush to end every session", || {
        app.ctl_json(&["stats"])["sessions"] == 0u64
    });
    let per_second = "new_connections_per_second";
    app.wait_for("two rate samples", || {
        value(&scrape(addr), &label(per_second, "_count")) >= 1.0
    });
    let text = scrape(addr);
    // The replay goes on, so the first flush's flows come back on the
    // other backend and end in the second: count what the workers ended.
    let events = &app.ctl_json(&["stats"])["events"];
    let ended = ["sessions_flushed", "sessions_expired"]
        .iter()
        .map(|e| events[e].as_u64().unwrap_or(0))
        .sum::<u64>();
    assert!(ended >= FLOWS as u64, "{events}");
    assert_eq!(value(&text, &label(lifetimes, "_count")), ended as f64);
    let inf = format!("ferrolb_service_{lifetimes}_bucket{{service=\"{DNS}\",le=\"+Inf\"}}");
    assert_eq!(value(&text, &inf), ended as f64);
    // Made and flushed within seconds: every lifetime is under a minute,
    // and the sum says the same.
    let minute = format!("ferrolb_service_{lifetimes}_bucket{{service=\"{DNS}\",le=\"60\"}}");
    assert_eq!(value(&text, &minute), ended as f64, "{text}");
    assert!(value(&text, &label(lifetimes, "_sum")) < 60.0 * ended as f64);
    // The same figures in `list --stats --json` (ms, counts per bucket).
    let listed = app.ctl_json(&["list", "--stats"]);
    let dns = listed["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["key"] == DNS))
        .expect("the DNS service");
    let counts = dns["session_lifetimes"]["counts"]
        .as_array()
        .expect("counts");
    let total: u64 = counts.iter().filter_map(|n| n.as_u64()).sum();
    assert_eq!(total, ended, "{dns}");
    assert!(dns["new_connection_rates"]["counts"].is_array(), "{dns}");
}

#[test]
fn top_shows_services_workers_and_drop_rates_frame_after_frame() {
    let app = Appliance::start(&base_config(), &dns_traffic());
    app.wait_for("every flow to have a session", || {
        app.ctl_json(&["stats"])["sessions"] == FLOWS as u64
    });
    let text = app.ctl_ok(&["top", "--count", "2", "--interval-ms", "300"]);
    let frames: Vec<&str> = text.split("ferrolb top: ").skip(1).collect();
    assert_eq!(frames.len(), 2, "{text}");
    for f in &frames {
        assert!(f.contains(DNS), "{f}");
        assert!(f.contains("  -> 10.0.1.11:53"), "{f}");
        assert!(f.contains("WORKER"), "{f}");
    }
    assert!(frames[0].contains("DROPS/s: -"), "{}", frames[0]);
    assert!(
        !frames[1].contains("DROPS/s: -"),
        "the second frame has rates: {}",
        frames[1]
    );
    assert!(!text.contains('\x1b'), "no escape codes off a terminal");
}

/// Busy time through the real binary: the workers read the TSC, so their
/// cycles move with the wall clock at the TSC's rate, and the replayed
/// traffic makes part of them busy, never more than all.
#[test]
fn workers_report_busy_cycles_from_the_tsc() {
    let (app, addr) = serving_metrics();
    let worker = |s: &serde_json::Value| s["workers"][0].clone();
    let before = worker(&app.ctl_json(&["stats"]));
    let started = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let after = worker(&app.ctl_json(&["stats"]));
    let elapsed = started.elapsed().as_secs_f64();
    let n = |w: &serde_json::Value, key: &str| {
        w[key].as_u64().unwrap_or_else(|| panic!("{key} in {w}"))
    };
    let hz = n(&after, "cycles_per_second");
    assert!(
        hz > 100_000_000,
        "a TSC runs at hundreds of MHz at least: {after}"
    );
    let cycles = n(&after, "cycles") - n(&before, "cycles");
    let busy = n(&after, "busy_cycles") - n(&before, "busy_cycles");
    let packets = n(&after, "rx_packets") - n(&before, "rx_packets");
    // The worker's clock moved as the wall clock did (the two stats
    // replies are not taken at the same instant as the timer: 30 %).
    let seconds = cycles as f64 / hz as f64;
    assert!(
        (seconds - elapsed).abs() < 0.3 * elapsed,
        "worker clock {seconds:.3} s, wall {elapsed:.3} s"
    );
    assert!(packets > 0, "the replay goes on: {after}");
    // Never more than all of it, but for the one poll the two counters
    // may be read apart (the replay keeps this debug build near 100 %).
    assert!(
        busy > 0 && busy <= cycles + cycles / 100,
        "busy {busy} of {cycles}"
    );
    // The same counters, as Prometheus has them.
    let text = scrape(addr);
    let scraped = value(&text, "ferrolb_worker_busy_cycles_total{worker=\"0\"}");
    assert!(scraped >= n(&after, "busy_cycles") as f64, "{text}");
    assert_eq!(
        value(&text, "ferrolb_worker_cycles_per_second{worker=\"0\"}"),
        hz as f64
    );
    // And `stats` shows the share and the cost per packet.
    let table = app.ctl_ok(&["stats"]);
    assert!(
        table.contains("Busy") && table.contains("Cyc/Pkt"),
        "{table}"
    );
}
