use std::net::SocketAddrV4;
use std::path::Path;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use super::*;
use crate::config::Config;
use crate::test_support::{closed_port, config_text, wait_for, Backend, Behaviour, DEADLINE};

// --- the state machine ---

/// Feeds `results` and returns the changes, by position.
fn run(state: &mut HealthState, results: &[bool], rise: u32, fall: u32) -> Vec<(usize, Change)> {
    results
        .iter()
        .enumerate()
        .filter_map(|(i, &ok)| state.record(ok, rise, fall).map(|c| (i, c)))
        .filter(|(_, c)| c.is_transition())
        .collect()
}

#[test]
fn an_up_backend_goes_down_exactly_at_fall_consecutive_failures() {
    let mut s = HealthState::new(true);
    let changes = run(&mut s, &[false, false, true, false, false, false], 2, 3);
    assert_eq!(changes, vec![(5, Change::Down { failures: 3 })]);
    assert!(!s.is_up());
}

#[test]
fn a_down_backend_comes_up_exactly_at_rise_consecutive_successes() {
    let mut s = HealthState::new(false);
    let changes = run(&mut s, &[true, false, true, true], 2, 3);
    assert_eq!(changes, vec![(3, Change::Up { successes: 2 })]);
    assert!(s.is_up());
}

#[test]
fn results_that_agree_with_the_state_change_nothing() {
    let mut up = HealthState::new(true);
    assert!(run(&mut up, &[true; 10], 1, 1).is_empty());
    assert!(up.is_up());
    let mut down = HealthState::new(false);
    assert!(run(&mut down, &[false; 10], 1, 1).is_empty());
    assert!(!down.is_up());
}

#[test]
fn counting_restarts_after_each_transition() {
    let mut s = HealthState::new(true);
    let results = [false, false, true, true, false, false];
    let changes = run(&mut s, &results, 2, 2);
    assert_eq!(
        changes,
        vec![
            (1, Change::Down { failures: 2 }),
            (3, Change::Up { successes: 2 }),
            (5, Change::Down { failures: 2 }),
        ]
    );
}

#[test]
fn thresholds_of_one_and_zero_act_on_the_first_result() {
    for threshold in [0, 1] {
        let mut s = HealthState::new(true);
        assert_eq!(
            s.record(false, threshold, threshold),
            Some(Change::Down { failures: 1 })
        );
        assert_eq!(
            s.record(true, threshold, threshold),
            Some(Change::Up { successes: 1 })
        );
    }
}

#[test]
fn steps_below_the_thresholds_are_reported_too() {
    let mut s = HealthState::new(true);
    assert_eq!(
        s.record(false, 2, 3),
        Some(Change::Failing {
            failures: 1,
            fall: 3
        })
    );
    assert_eq!(s.record(true, 2, 3), None);
    let mut down = HealthState::new(false);
    assert_eq!(
        down.record(true, 2, 3),
        Some(Change::Recovering {
            successes: 1,
            rise: 2
        })
    );
}

#[test]
fn events_log_as_one_line() {
    let id = BackendId {
        service: "tcp/192.0.2.10:80".parse().unwrap(),
        backend: "10.0.2.11:8080".parse().unwrap(),
    };
    let event = |change, reason: Option<&str>, backend| HealthEvent {
        id,
        kind: CheckKind::Http,
        check: 0,
        change,
        reason: reason.map(str::to_owned),
        backend,
    };
    let at = "tcp/192.0.2.10:80 -> 10.0.2.11:8080";
    assert_eq!(
        event(
            Change::Down { failures: 3 },
            Some("connection refused"),
            Some(false)
        )
        .to_string(),
        format!("{at} down after 3 failures of its http check (connection refused)")
    );
    assert_eq!(
        event(Change::Up { successes: 1 }, None, Some(true)).to_string(),
        format!("{at} up after 1 success of its http check")
    );
    assert_eq!(
        event(Change::Up { successes: 2 }, None, None).to_string(),
        format!(
            "{at} up after 2 successes of its http check; backend stays down (another check fails)"
        )
    );
    assert_eq!(
        event(
            Change::Failing {
                failures: 1,
                fall: 3
            },
            Some("status 503, expected 200"),
            None
        )
        .to_string(),
        format!("{at} http check failed (1 of 3 before down) (status 503, expected 200)")
    );
    assert_eq!(
        event(Change::Weight { weight: Some(7) }, None, None).to_string(),
        format!("{at} weight 7 set by its http check")
    );
}

// --- the spec from the config ---

#[test]
fn the_check_targets_the_backend_address_on_the_check_port_or_the_backends() {
    let b1 = "127.0.0.1:8081".parse().unwrap();
    let b2 = "127.0.0.2:8082".parse().unwrap();
    let check = r#"{ type = "http", port = 9000, path = "/healthz", expect_status = 204 }"#;
    let text = config_text(&[b1, b2], check, "");
    let config = Config::parse(Path::new("t.toml"), text).unwrap().config;
    let specs = checked_backends(&config);
    let targets: Vec<_> = specs.values().map(|s| s.target.to_string()).collect();
    assert_eq!(targets, ["127.0.0.1:9000", "127.0.0.2:9000"]);
    let spec = specs.values().next().unwrap();
    assert_eq!(spec.kind, CheckKind::Http);
    let spec::Params::Http(http) = &spec.params else {
        panic!("{spec:?}")
    };
    assert_eq!(http.urls[0].path, "/healthz");
    assert!(http.urls[0].status.contains(204) && !http.urls[0].status.contains(200));
    // The documented defaults.
    assert_eq!(spec.interval, Duration::from_millis(2000));
    assert_eq!(spec.timeout, Duration::from_millis(1000));
    assert_eq!((spec.rise, spec.fall), (2, 3));

    let text = config_text(&[b1], r#"{ type = "tcp" }"#, "");
    let config = Config::parse(Path::new("t.toml"), text).unwrap().config;
    let spec = checked_backends(&config).into_values().next().unwrap();
    assert_eq!(spec.target, b1.into());

    let text = config_text(&[b1], "", "");
    let config = Config::parse(Path::new("t.toml"), text).unwrap().config;
    assert!(checked_backends(&config).is_empty());
}

// --- the monitor ---

/// The next up or down event (steps towards one are skipped).
fn next_transition(events: &mpsc::Receiver<HealthEvent>) -> HealthEvent {
    loop {
        let e = events.recv_timeout(DEADLINE).expect("an event");
        if e.change.is_transition() {
            return e;
        }
    }
}

/// A monitor whose events land in the returned channel.
fn monitor() -> (HealthMonitor, mpsc::Receiver<HealthEvent>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let m = HealthMonitor::new(move |e| {
        let _ = tx.lock().unwrap().send(e);
    })
    .unwrap();
    (m, rx)
}

fn fast_config(backends: &[SocketAddrV4], kind: &str) -> Config {
    let check =
        format!(r#"{{ type = "{kind}", interval_ms = 50, timeout_ms = 300, rise = 2, fall = 2 }}"#);
    let text = config_text(backends, &check, "");
    Config::parse(Path::new("t.toml"), text).unwrap().config
}

fn id_of(addr: SocketAddrV4) -> BackendId {
    BackendId {
        service: "tcp/192.0.2.10:80".parse().unwrap(),
        backend: addr.into(),
    }
}

fn is_down(view: &HealthView, addr: SocketAddrV4) -> bool {
    view.down().contains(&id_of(addr))
}

#[test]
fn a_backend_goes_down_when_its_listener_stops_and_up_when_it_restarts() {
    for kind in ["tcp", "http"] {
        let mut backend = Backend::start(Behaviour::Http(200));
        let (mut m, events) = monitor();
        assert!(m.update(&fast_config(&[backend.addr], kind)).is_empty());
        let view = m.view();
        assert!(wait_for(|| view.snapshot()[0].checks_ok >= 2), "{kind}");
        assert!(!is_down(&view, backend.addr));

        backend.stop();
        assert!(wait_for(|| is_down(&view, backend.addr)), "{kind}");
        let down = next_transition(&events);
        assert_eq!(down.id, id_of(backend.addr));
        assert_eq!(down.change, Change::Down { failures: 2 });
        assert_eq!(down.reason.as_deref(), Some("connection refused"));

        backend.restart();
        assert!(wait_for(|| !is_down(&view, backend.addr)), "{kind}");
        let up = next_transition(&events);
        assert_eq!(up.change, Change::Up { successes: 2 });
        assert!(up.is_up());
    }
}

#[test]
fn an_http_backend_with_the_wrong_status_goes_down() {
    let backend = Backend::start(Behaviour::Http(200));
    let (mut m, events) = monitor();
    m.update(&fast_config(&[backend.addr], "http"));
    backend.set(Behaviour::Http(500));
    let down = next_transition(&events);
    assert_eq!(down.reason.as_deref(), Some("status 500, expected 200"));
    assert!(is_down(&m.view(), backend.addr));
}

#[test]
fn a_hung_backend_does_not_delay_the_others() {
    let hung = Backend::start(Behaviour::Silent);
    let healthy = Backend::start(Behaviour::Http(200));
    let check = r#"{ type = "http", interval_ms = 50, timeout_ms = 3000 }"#;
    let text = config_text(&[hung.addr, healthy.addr], check, "");
    let config = Config::parse(Path::new("t.toml"), text).unwrap().config;
    let (mut m, _events) = monitor();
    m.update(&config);
    let view = m.view();
    // Run one after the other, 20 checks of the healthy backend would take
    // at least 20 hung timeouts (60 s).
    let healthy_ok = || {
        view.snapshot()
            .iter()
            .find(|b| b.id.backend == healthy.addr.into())
            .map_or(0, |b| b.checks_ok)
    };
    assert!(wait_for(|| healthy_ok() >= 20), "{}", healthy_ok());
}

#[test]
fn new_backends_start_up_and_a_reload_keeps_the_state_of_the_others() {
    let mut a = Backend::start(Behaviour::Close);
    let b = Backend::start(Behaviour::Close);
    let (mut m, _events) = monitor();
    m.update(&fast_config(&[a.addr, b.addr], "tcp"));
    let view = m.view();
    a.stop();
    assert!(wait_for(|| is_down(&view, a.addr)));

    // Reload: b leaves, a stays, c (a dead port) arrives. The check is
    // slow enough that c cannot fail `fall` times during the test.
    let c = closed_port();
    let text = config_text(
        &[a.addr, c],
        r#"{ type = "tcp", interval_ms = 600000, fall = 2 }"#,
        "",
    );
    let config = Config::parse(Path::new("t.toml"), text).unwrap().config;
    assert!(m.update(&config).is_empty());
    let snapshot = view.snapshot();
    let ids: Vec<_> = snapshot.iter().map(|h| (h.id.backend, h.up)).collect();
    let mut expected = vec![(a.addr.into(), false), (c.into(), true)];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(wait_for(|| view
        .snapshot()
        .iter()
        .any(|h| h.id.backend == c.into() && h.checks_failed == 1)));
    assert!(view
        .snapshot()
        .iter()
        .all(|h| h.id.backend != c.into() || h.up));
}

#[test]
fn removing_the_check_stops_checking() {
    let backend = Backend::start(Behaviour::Close);
    let (mut m, _events) = monitor();
    m.update(&fast_config(&[backend.addr], "tcp"));
    let view = m.view();
    assert!(wait_for(|| !view.snapshot().is_empty()));
    let text = config_text(&[backend.addr], "", "");
    m.update(&Config::parse(Path::new("t.toml"), text).unwrap().config);
    assert!(view.snapshot().is_empty());
    assert_eq!(m.checks_running(), 0);
}

fn parse(text: &str) -> Config {
    Config::parse(Path::new("t.toml"), text.to_owned())
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .config
}

#[test]
fn retries_hide_a_single_failure_while_up() {
    // Fails every other connection; with one retry the check never fails.
    let flaky = crate::test_support::Backend::start(Behaviour::Close);
    let addr = flaky.addr;
    let check = r#"{ type = "tcp", interval_ms = 30, timeout_ms = 300, fall = 1, retry = 1, retry_delay_ms = 10 }"#;
    let (mut m, events) = monitor();
    m.update(&parse(&config_text(&[addr], check, "")));
    let view = m.view();
    assert!(wait_for(|| view.snapshot()[0].checks_ok >= 3));
    drop(flaky);
    // Down now: each check tried twice (the retry), then reported.
    let down = next_transition(&events);
    assert_eq!(
        down.reason.as_deref(),
        Some("connection refused, after 1 retry")
    );
}

#[test]
fn alpha_starts_down_until_rise_successes() {
    let backend = Backend::start(Behaviour::Close);
    let check = r#"{ type = "tcp", interval_ms = 50, rise = 2, alpha = true }"#;
    let (mut m, events) = monitor();
    m.update(&parse(&config_text(&[backend.addr], check, "")));
    assert!(
        is_down(&m.view(), backend.addr),
        "alpha: down before any check"
    );
    let up = next_transition(&events);
    assert_eq!(up.change, Change::Up { successes: 2 });
    assert_eq!(up.backend, Some(true));
    assert!(!is_down(&m.view(), backend.addr));
}

#[test]
fn a_backend_is_up_only_while_all_its_checks_are_and_its_own_checks_win() {
    let a = Backend::start(Behaviour::Close);
    let b = Backend::start(Behaviour::Close);
    let dead = closed_port();
    // Service checks: TCP to the backend, and TCP to a dead port (via
    // connect_port) — so every backend with the service's checks is down.
    // Backend b has its own check, which passes.
    let text = format!(
        r#"[[port]]
name = "lan"
device = "net_null0"

[[interface]]
port = "lan"
addresses = ["10.0.0.1/24"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.0.254"

[[service]]
vip = "192.0.2.10"
protocol = "tcp"
port = 80
mode = "nat"

[[service.check]]
type = "tcp"
interval_ms = 50
fall = 1

[[service.check]]
type = "tcp"
interval_ms = 50
fall = 1
connect_port = {dead_port}

[[service.backend]]
address = "127.0.0.1"
port = {a_port}

[[service.backend]]
address = "127.0.0.1"
port = {b_port}
check = {{ type = "tcp", interval_ms = 50 }}
"#,
        dead_port = dead.port(),
        a_port = a.addr.port(),
        b_port = b.addr.port(),
    );
    let (mut m, _events) = monitor();
    m.update(&parse(&text));
    let view = m.view();
    assert!(wait_for(|| is_down(&view, a.addr)));
    assert!(wait_for(|| view
        .snapshot()
        .iter()
        .all(|h| h.checks_ok + h.checks_failed >= 3)));
    assert!(!is_down(&view, b.addr));
    assert_eq!(m.checks_running(), 3);
}

#[test]
fn a_dynamic_script_sets_the_weight() {
    let dir = crate::test_support::TestDir::new("dyn");
    let status = dir.join("status");
    std::fs::write(&status, "12").unwrap();
    let backend = closed_port();
    let check = format!(
        r#"{{ type = "script", interval_ms = 30, command = ["/bin/sh", "-c", "exit $(cat {})"], dynamic = true }}"#,
        status.display()
    );
    let (mut m, _events) = monitor();
    m.update(&parse(&config_text(&[backend], &check, "")));
    let view = m.view();
    let weight = || view.states().get(&id_of(backend)).and_then(|s| s.weight);
    assert!(wait_for(|| weight() == Some(10)));
    std::fs::write(&status, "0").unwrap();
    assert!(wait_for(|| weight().is_none()));
    std::fs::write(&status, "1").unwrap();
    assert!(wait_for(|| is_down(&view, backend)));
}

#[test]
fn a_thousand_backends_half_of_them_hung_are_all_checked_in_time() {
    // 500 backends that accept and never answer, 500 that answer: checked
    // one after the other this would take 500 timeouts (500 s).
    let hung = Backend::start(Behaviour::Silent);
    let good = Backend::start(Behaviour::Http(200));
    let mut backends = Vec::new();
    for i in 0..500u32 {
        // Distinct backends on loopback addresses, one listener each kind.
        let host = std::net::Ipv4Addr::from(0x7f00_0000 | (2 + i));
        backends.push((host, hung.addr.port(), good.addr.port()));
    }
    let mut text = String::from(
        "[[port]]\nname = \"lan\"\ndevice = \"net_null0\"\n\n[[interface]]\nport = \"lan\"\naddresses = [\"10.0.0.1/24\"]\n\n[[route]]\nprefix = \"0.0.0.0/0\"\nvia = \"10.0.0.254\"\n",
    );
    for (n, port) in [("hung", hung.addr.port()), ("good", good.addr.port())] {
        let vport = if n == "hung" { 80 } else { 81 };
        text += &format!(
            "\n[[service]]\nvip = \"192.0.2.10\"\nprotocol = \"tcp\"\nport = {vport}\nmode = \"nat\"\n\
             check = {{ type = \"http\", interval_ms = 60000, timeout_ms = 2000, fall = 1, connect_ip = \"127.0.0.1\" }}\n"
        );
        for (host, _, _) in &backends {
            text += &format!("\n[[service.backend]]\naddress = \"{host}\"\nport = {port}\n");
        }
    }
    let (mut m, _events) = monitor();
    let started = std::time::Instant::now();
    m.update(&parse(&text));
    let view = m.view();
    let all_ran = || {
        let s = view.snapshot();
        s.len() == 1000 && s.iter().all(|h| h.checks_ok + h.checks_failed >= 1)
    };
    assert!(wait_for(all_ran), "not every backend was checked in time");
    let took = started.elapsed();
    let snapshot = view.snapshot();
    let down = snapshot.iter().filter(|h| !h.up).count();
    assert_eq!(down, 500, "the hung ones, and only they");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert_eq!(m.checks_running(), 1000);
}
