//! The `ferrolbctl` binary as a shell sees it: exit codes, one-line errors
//! on stderr, results on stdout.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Output};
use std::thread;

fn ferrolbctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrolbctl"))
        .args(args)
        .env_remove("FERROLB_SOCKET")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Answers one connection's requests with `reply`.
fn serve(socket: &Path, reply: &'static str) {
    let listener = UnixListener::bind(socket).unwrap();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        for _line in reader.lines() {
            stream.write_all(reply.as_bytes()).unwrap();
            stream.write_all(b"\n").unwrap();
        }
    });
}

#[test]
fn no_appliance_is_one_line_on_stderr_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("ferrolb.sock");
    let out = ferrolbctl(&["-s", socket.to_str().unwrap(), "list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("ferrolbctl: cannot connect to "), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_usage_error_exits_2() {
    let out = ferrolbctl(&["backend", "edit", "tcp/192.0.2.10:80", "10.0.0.11"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--weight"));
    assert_eq!(ferrolbctl(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn a_refusal_prints_the_servers_message_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("ferrolb.sock");
    serve(
        &socket,
        r#"{"v":1,"ok":false,"error":{"code":"not_found","message":"no service tcp/192.0.2.10:81"}}"#,
    );
    let out = ferrolbctl(&[
        "-s",
        socket.to_str().unwrap(),
        "service",
        "delete",
        "tcp/192.0.2.10:81",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "ferrolbctl: no service tcp/192.0.2.10:81\n"
    );
}

#[test]
fn a_change_prints_its_diff_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("ferrolb.sock");
    serve(
        &socket,
        r#"{"v":1,"ok":true,"result":{"generation":7,"applied":true,"changes":["~ backend tcp/192.0.2.10:80 -> 10.0.2.11:8080 weight 3 -> 0"],"adopted_us":41}}"#,
    );
    let args = [
        "backend",
        "edit",
        "tcp/192.0.2.10:80",
        "10.0.2.11:8080",
        "--weight",
        "0",
    ];
    let out = Command::new(env!("CARGO_BIN_EXE_ferrolbctl"))
        .args(args)
        .env("FERROLB_SOCKET", &socket)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "~ backend tcp/192.0.2.10:80 -> 10.0.2.11:8080 weight 3 -> 0\n\
         applied generation 7 (all workers in 41 µs)\n"
    );
}

#[test]
fn the_daemon_refuses_a_config_it_cannot_read() {
    let out = ferrolbctl(&["daemon", "-c", "missing-lb.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("ferrolbctl daemon: missing-lb.toml"),
        "{err}"
    );
    assert!(err.contains("cannot read"), "{err}");
}
