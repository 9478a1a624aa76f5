use std::path::Path;
use std::sync::mpsc;

use super::*;
use crate::test_support::{closed_port, config_text, wait_for, Backend, Behaviour, DEADLINE};

// --- the state machine ---

/// Feeds `results` and returns the changes, by position.
fn run(state: &mut HealthState, results: &[bool], rise: u32, fall: u32) -> Vec<(usize, Change)> {
    results
        .iter()
        .enumerate()
        .filter_map(|(i, &ok)| state.record(ok, rise, fall).map(|c| (i, c)))
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
fn transitions_log_as_one_line() {
    let id = BackendId {
        service: "tcp/192.0.2.10:80".parse().unwrap(),
        backend: "10.0.2.11:8080".parse().unwrap(),
    };
    let down = HealthEvent {
        id,
        change: Change::Down { failures: 3 },
        reason: Some("connection refused".into()),
    };
    assert_eq!(
        down.to_string(),
        "tcp/192.0.2.10:80 -> 10.0.2.11:8080 down after 3 failures (connection refused)"
    );
    let up = HealthEvent {
        id,
        change: Change::Up { successes: 1 },
        reason: None,
    };
    assert_eq!(
        up.to_string(),
        "tcp/192.0.2.10:80 -> 10.0.2.11:8080 up after 1 success"
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
    assert_eq!((spec.path.as_str(), spec.expect_status), ("/healthz", 204));
    // The documented defaults.
    assert_eq!(spec.interval, Duration::from_millis(2000));
    assert_eq!(spec.timeout, Duration::from_millis(1000));
    assert_eq!((spec.rise, spec.fall), (2, 3));

    let text = config_text(&[b1], r#"{ type = "tcp" }"#, "");
    let config = Config::parse(Path::new("t.toml"), text).unwrap().config;
    let spec = checked_backends(&config).into_values().next().unwrap();
    assert_eq!(spec.target, b1);

    let text = config_text(&[b1], "", "");
    let config = Config::parse(Path::new("t.toml"), text).unwrap().config;
    assert!(checked_backends(&config).is_empty());
}

// --- probes against loopback listeners ---

fn spec(kind: CheckKind, target: SocketAddrV4) -> CheckSpec {
    CheckSpec {
        kind,
        target,
        path: "/healthz".into(),
        expect_status: 200,
        timeout: Duration::from_millis(300),
        interval: Duration::from_millis(50),
        rise: 2,
        fall: 2,
    }
}

#[test]
fn tcp_check_succeeds_on_a_listener_and_fails_on_a_closed_port() {
    let backend = Backend::start(Behaviour::Close);
    assert_eq!(probe(&spec(CheckKind::Tcp, backend.addr)), Ok(()));
    let err = probe(&spec(CheckKind::Tcp, closed_port())).unwrap_err();
    assert_eq!(err, "connection refused");
}

#[test]
fn http_check_sends_a_get_and_wants_the_expected_status() {
    let backend = Backend::start(Behaviour::Http(200));
    assert_eq!(probe(&spec(CheckKind::Http, backend.addr)), Ok(()));
    let request = backend.last_request.lock().unwrap().clone().unwrap();
    assert!(
        request.starts_with("GET /healthz HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains(&format!("\r\nHost: {}\r\n", backend.addr)),
        "{request}"
    );
    assert!(request.contains("\r\nConnection: close\r\n"), "{request}");

    backend.set(Behaviour::Http(503));
    let err = probe(&spec(CheckKind::Http, backend.addr)).unwrap_err();
    assert_eq!(err, "status 503, expected 200");

    let mut other = spec(CheckKind::Http, backend.addr);
    other.expect_status = 503;
    assert_eq!(probe(&other), Ok(()));
}

#[test]
fn http_check_fails_by_timeout_on_a_backend_that_never_answers() {
    let backend = Backend::start(Behaviour::Silent);
    let err = probe(&spec(CheckKind::Http, backend.addr)).unwrap_err();
    assert_eq!(err, "timed out after 300 ms");
    // A TCP check only needs the connection.
    assert_eq!(probe(&spec(CheckKind::Tcp, backend.addr)), Ok(()));
}

#[test]
fn http_check_fails_on_a_backend_that_is_not_http() {
    let backend = Backend::start(Behaviour::Close);
    let err = probe(&spec(CheckKind::Http, backend.addr)).unwrap_err();
    assert!(
        err == "connection closed before the status line" || err == "connection reset",
        "{err}"
    );
    assert_eq!(status_of("HTTP/1.0 404 Not Found"), Some(404));
    assert_eq!(status_of("HTTP/1.1 200"), Some(200));
    assert_eq!(status_of("SSH-2.0-OpenSSH_9.6"), None);
    assert_eq!(status_of("HTTP/1.1 20x OK"), None);
    assert_eq!(status_of("HTTP/1.1 2000 OK"), None);
}

// --- the monitor ---

/// A monitor whose events land in the returned channel.
fn monitor() -> (HealthMonitor, mpsc::Receiver<HealthEvent>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let m = HealthMonitor::new(move |e| {
        let _ = tx.lock().unwrap().send(e);
    });
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
        backend: addr,
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
        let down = events.recv_timeout(DEADLINE).unwrap();
        assert_eq!(down.id, id_of(backend.addr));
        assert_eq!(down.change, Change::Down { failures: 2 });
        assert_eq!(down.reason.as_deref(), Some("connection refused"));

        backend.restart();
        assert!(wait_for(|| !is_down(&view, backend.addr)), "{kind}");
        let up = events.recv_timeout(DEADLINE).unwrap();
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
    let down = events.recv_timeout(DEADLINE).unwrap();
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
            .find(|b| b.id.backend == healthy.addr)
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
    let mut expected = vec![(a.addr, false), (c, true)];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(wait_for(|| view
        .snapshot()
        .iter()
        .any(|h| h.id.backend == c && h.checks_failed == 1)));
    assert!(view.snapshot().iter().all(|h| h.id.backend != c || h.up));
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
    assert!(m.runners.is_empty());
}
