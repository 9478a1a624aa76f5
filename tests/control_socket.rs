//! The control socket against clients that hold it without asking: idle
//! and trickling connections, floods of peers that may not talk, and a
//! last request without its newline (docs/control-plane.md, "Connections").
//! Each test starts the real `ferrolb` as `tests/control.rs` does.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::appliance::{base_config, dns_traffic, Appliance, RawClient};
use serde_json::Value;

const HELLO: &str = r#"{"v":1,"op":"hello"}"#;

/// One `hello` on a new connection: its reply, or Null when the
/// connection closed unanswered.
fn hello(socket: &Path) -> Value {
    match RawClient::connect(socket) {
        Ok(mut c) => c.call(HELLO),
        Err(_) => Value::Null,
    }
}

/// Whether the server closed `stream` within `within` (reads EOF).
fn closed_within(stream: &mut UnixStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream.set_read_timeout(Some(within)).expect("read timeout");
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Some(start.elapsed()),
            Err(_) => return None,
        }
    }
}

/// 100 connections that never send a byte (one buggy script) do not lock
/// anyone out: with the default 64 slots, `hello` succeeds well within 15 s.
#[test]
fn a_hundred_idle_connections_do_not_lock_out_hello() {
    let app = Appliance::start(&base_config(), &dns_traffic());
    let idle: Vec<UnixStream> = (0..100)
        .map(|_| UnixStream::connect(&app.socket).expect("connect"))
        .collect();
    let start = Instant::now();
    let mut last = Value::Null;
    while start.elapsed() < Duration::from_secs(15) {
        last = hello(&app.socket);
        if last["ok"] == true {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        last["ok"],
        true,
        "hello after {:?}: {last}",
        start.elapsed()
    );
    eprintln!("hello answered after {:?}", start.elapsed());
    drop(idle);
    app.stop();
}

/// `idle_timeout` closes a client that sends no complete request, even one
/// that trickles a request in byte by byte; a client that keeps asking
/// stays.
#[test]
fn idle_and_trickling_clients_are_closed_at_the_idle_timeout() {
    let app = Appliance::start_with(&base_config(), &dns_traffic(), "idle_timeout = 1");
    let mut silent = UnixStream::connect(&app.socket).expect("connect");
    let closed = closed_within(&mut silent, Duration::from_secs(5));
    assert!(
        closed.is_some_and(|t| t < Duration::from_secs(3)),
        "silent client closed after {closed:?}"
    );

    let mut trickle = UnixStream::connect(&app.socket).expect("connect");
    trickle.write_all(b"{\"v\":1,").expect("write");
    let start = Instant::now();
    let mut cut = false;
    while start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        // Whitespace keeps the request valid and unfinished.
        if trickle.write_all(b" ").is_err() {
            cut = true;
            break;
        }
    }
    assert!(cut, "a trickling client was still open after 5 s");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );

    // Asking every half second for 3 s (three idle timeouts) keeps it open.
    let mut busy = RawClient::connect(&app.socket).expect("connect");
    for _ in 0..6 {
        assert_eq!(busy.call(HELLO)["ok"], true);
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(busy.call(HELLO)["ok"], true);
    // And ferrolbctl is served as before (its reconnect after an idle
    // close is tested in control::client).
    assert!(app.ctl_ok(&["list"]).contains("192.0.2.20:53"));
    app.stop();
}

/// A last request without its newline (the client then closes its side)
/// still gets its reply; a config with several errors gets them all.
#[test]
fn a_last_request_without_a_newline_is_answered() {
    let app = Appliance::start(&base_config(), &dns_traffic());
    let mut stream = UnixStream::connect(&app.socket).expect("connect");
    stream.write_all(HELLO.as_bytes()).expect("write");
    stream.shutdown(Shutdown::Write).expect("shutdown");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .expect("a reply");
    let reply: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
    assert_eq!(reply["ok"], true, "{line:?}");

    // An apply whose file has several bad keys is refused with all of
    // them, as `ferrolb --check` gives them.
    let text = std::fs::read_to_string(&app.config).expect("config");
    let bad = text
        .replacen("[[service]]", "[[service]]\nbogus = 1", 1)
        .replacen("mode = \"nat\"", "mode = \"natt\"", 1);
    let file = app.dir.path().join("bad.toml");
    std::fs::write(&file, bad).expect("write");
    let out = app.ctl(&["apply", "-f", file.to_str().expect("path")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown field `bogus`"), "{err}");
    assert!(err.contains("unknown variant `natt`"), "{err}");
    app.stop();
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The environment variable that turns [`stranger_flood_helper`] on: the
/// socket to flood.
const FLOOD_ENV: &str = "FERROLB_TEST_FLOOD_SOCKET";

/// Run as another user by [`strangers_hold_no_slots`]: for 3 s, keeps
/// opening connections, 20 at a time, sending nothing. Does nothing in a
/// normal test run.
#[test]
fn stranger_flood_helper() {
    let Some(socket) = std::env::var_os(FLOOD_ENV) else {
        return;
    };
    let start = Instant::now();
    let mut open = std::collections::VecDeque::new();
    while start.elapsed() < Duration::from_secs(3) {
        if let Ok(s) = UnixStream::connect(&socket) {
            open.push_back(s);
        }
        if open.len() > 20 {
            open.pop_front();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Peers that may not use the socket (its mode loosened by hand, so they
/// can connect) flood it; they take no slot, so with only 2 slots every
/// allowed client is still answered.
#[test]
fn strangers_hold_no_slots() {
    if !is_root() {
        eprintln!("skipped: needs root to run a client as another user");
        return;
    }
    let app = Appliance::start_with(&base_config(), &dns_traffic(), "max_clients = 2");
    std::fs::set_permissions(&app.socket, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let flood = || {
        use std::os::unix::process::CommandExt;
        Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "stranger_flood_helper", "--nocapture"])
            .env(FLOOD_ENV, &app.socket)
            .uid(65534)
            .gid(65534)
            .spawn()
            .expect("start the flood as nobody")
    };
    let mut floods = [flood(), flood()];
    std::thread::sleep(Duration::from_millis(300));
    let mut refused = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(2500) {
        let reply = hello(&app.socket);
        if reply["ok"] != true {
            refused.push(reply);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for f in &mut floods {
        assert!(f.wait().expect("flood").success());
    }
    assert_eq!(refused, Vec::<Value>::new(), "allowed clients refused");
    app.stop();
}

/// Every applied change prints one audit line with the generation, the
/// peer's uid and pid and the op; a change of thousands of items still
/// prints one short line. A refused or empty change prints none.
#[test]
fn every_applied_change_is_audited_once_on_a_bounded_line() {
    let app = Appliance::start(&base_config(), &dns_traffic());
    let audits = |app: &Appliance| -> Vec<String> {
        app.log()
            .lines()
            .filter(|l| l.contains("audit:"))
            .map(str::to_owned)
            .collect()
    };
    app.ctl_ok(&[
        "backend",
        "edit",
        common::appliance::DNS,
        "10.0.1.11",
        "--weight",
        "3",
    ]);
    let generation = app.ctl_json(&["hello"])["generation"]
        .as_u64()
        .expect("generation");
    let lines = audits(&app);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let uid = String::from_utf8_lossy(&Command::new("id").arg("-u").output().expect("id").stdout)
        .trim()
        .to_string();
    assert!(
        lines[0].contains(&format!("audit: generation {generation} by uid {uid} pid ")),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("(backend_edit): 1 change (+0 ~1 -0): ~ backend"),
        "{}",
        lines[0]
    );

    // Refused and empty changes are not audited.
    app.ctl(&[
        "backend",
        "edit",
        common::appliance::DNS,
        "10.9.9.9",
        "--weight",
        "3",
    ]);
    app.ctl_ok(&[
        "backend",
        "edit",
        common::appliance::DNS,
        "10.0.1.11",
        "--weight",
        "3",
    ]);
    assert_eq!(audits(&app).len(), 1);

    // 100 services of 10 backends each (and the weight back to the file's):
    // one line, a few hundred bytes.
    let mut text = std::fs::read_to_string(&app.config).expect("config");
    for s in 0..100 {
        text.push_str(&format!(
            "\n[[service]]\nvip = \"10.100.{}.{}\"\nprotocol = \"tcp\"\nport = 80\nmode = \"nat\"\n",
            s / 256,
            s % 256
        ));
        for b in 0..10 {
            text.push_str(&format!(
                "\n[[service.backend]]\naddress = \"10.0.1.{}\"\nport = 8080\n",
                20 + b
            ));
        }
    }
    let file = app.dir.path().join("large.toml");
    std::fs::write(&file, text).expect("write");
    app.ctl_ok(&["apply", "-f", file.to_str().expect("path")]);
    let lines = audits(&app);
    assert_eq!(lines.len(), 2, "one more line");
    assert!(
        lines[1].contains("(apply): 1101 changes (+1100 ~1 -0): + "),
        "{}",
        lines[1]
    );
    // The message, then the audit's own fields (`control::log`).
    assert!(
        lines[1].contains("; and 1096 more\" generation=") && lines[1].ends_with(" op=apply"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains(" level=notice comp=audit msg="),
        "{}",
        lines[1]
    );
    assert!(lines[1].len() < 2000, "{} bytes", lines[1].len());
    app.stop();
}
