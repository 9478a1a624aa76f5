//! The client against a stand-in server: what goes on the wire, and each
//! way a reply can fail.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::api::{ErrorCode, Response, ServiceKey};
use crate::test_server::TestServer;

fn hello_reply() -> HelloReply {
    HelloReply {
        version: "0.1.0".into(),
        protocol: 1,
        workers: 2,
        generation: 7,
        uptime_ms: 1234,
    }
}

#[test]
fn a_call_sends_one_versioned_line_and_returns_the_result() {
    let server = TestServer::replying(&hello_reply());
    let mut client = Client::connect(&server.path).unwrap();
    assert_eq!(client.hello().unwrap(), hello_reply());
    // The connection stays open for the next request.
    let op = Op::BackendEdit {
        service: "tcp/192.0.2.10:80".parse().unwrap(),
        backend: "10.0.2.11:8080".parse().unwrap(),
        weight: 0,
    };
    let value = client.call(&op).unwrap();
    assert_eq!(value["generation"], 7);
    assert_eq!(
        server.requests(),
        vec![Request::new(Op::Hello), Request::new(op)]
    );
}

#[test]
fn typed_helpers_send_their_op() {
    let reply = ChangeReply {
        generation: 3,
        applied: false,
        changes: vec!["+ route 10.0.0.0/8 via 10.0.0.254".into()],
        adopted_us: None,
    };
    let server = TestServer::replying(&reply);
    let mut client = Client::connect(&server.path).unwrap();
    let got = client
        .apply("x = 1".into(), true, Some("lb.toml".into()))
        .unwrap();
    assert_eq!(got, reply);
    assert_eq!(
        server.requests()[0].op,
        Op::Apply {
            config: "x = 1".into(),
            dry_run: true,
            source: Some("lb.toml".into())
        }
    );
}

#[test]
fn a_result_of_the_wrong_shape_is_a_bad_reply() {
    let server = TestServer::replying(&hello_reply());
    let mut client = Client::connect(&server.path).unwrap();
    let e = client.stats().unwrap_err();
    assert!(matches!(e, ClientError::BadReply(_)), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("bad reply from ferrolb: unexpected result"),
        "{e}"
    );
}

#[test]
fn the_servers_error_comes_back_with_its_code() {
    let server = TestServer::start(|_| {
        Some(
            serde_json::to_string(&Response::error(
                ErrorCode::NotFound,
                "no service tcp/192.0.2.10:81",
            ))
            .unwrap(),
        )
    });
    let mut client = Client::connect(&server.path).unwrap();
    let e = client
        .change(&Op::ServiceDelete {
            service: "tcp/192.0.2.10:81".parse::<ServiceKey>().unwrap(),
            flush: false,
        })
        .unwrap_err();
    match &e {
        ClientError::Api(api) => assert_eq!(api.code, ErrorCode::NotFound),
        other => panic!("{other:?}"),
    }
    assert_eq!(e.to_string(), "no service tcp/192.0.2.10:81");
}

#[test]
fn another_protocol_version_is_refused_unless_it_is_an_error() {
    let server = TestServer::start(|_| Some(r#"{"v":2,"ok":true,"result":{}}"#.into()));
    let e = Client::connect(&server.path)
        .unwrap()
        .call(&Op::Stats)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("protocol version 2, this client version 1"),
        "{e}"
    );
    let server = TestServer::start(|_| {
        Some(
            r#"{"v":2,"ok":false,"error":{"code":"unsupported_version","message":"speak 2"}}"#
                .into(),
        )
    });
    let e = Client::connect(&server.path)
        .unwrap()
        .call(&Op::Stats)
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::Api(a) if a.code == ErrorCode::UnsupportedVersion),
        "{e:?}"
    );
}

#[test]
fn a_reply_that_is_not_a_reply_is_refused() {
    for reply in [
        "not json",
        "[1,2]",
        r#"{"v":1,"ok":false}"#,
        r#"{"ok":true}"#,
    ] {
        let server = TestServer::start(move |_| Some(reply.into()));
        let e = Client::connect(&server.path)
            .unwrap()
            .call(&Op::Hello)
            .unwrap_err();
        assert!(matches!(e, ClientError::BadReply(_)), "{reply}: {e:?}");
    }
}

#[test]
fn a_reply_longer_than_the_limit_is_refused() {
    let long = format!(r#"{{"v":1,"ok":true,"result":"{}"}}"#, "x".repeat(5000));
    let len = long.len();
    let server = TestServer::start(move |_| Some(long.clone()));
    let mut client = Client::connect(&server.path).unwrap();
    client.set_max_reply(len);
    assert!(client.call(&Op::Hello).is_ok(), "exactly the limit is fine");
    client.set_max_reply(len - 1);
    let e = client.call(&Op::Hello).unwrap_err();
    assert!(e.to_string().contains("longer than the limit"), "{e}");
}

#[test]
fn a_connection_closed_without_a_reply_says_so() {
    let server = TestServer::start(|_| None);
    let e = Client::connect(&server.path)
        .unwrap()
        .call(&Op::Hello)
        .unwrap_err();
    assert!(matches!(&e, ClientError::Io(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "ferrolb closed the connection before replying"
    );
}

#[test]
fn a_missing_socket_gets_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nothing.sock");
    let e = Client::connect(&path).err().expect("no socket");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("cannot connect to {}", path.display())),
        "{text}"
    );
    assert!(text.contains("is ferrolb running"), "{text}");
}

#[test]
fn a_socket_left_by_a_stopped_server_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.sock");
    drop(UnixListener::bind(&path).unwrap());
    let e = Client::connect(&path).err().expect("nobody listens");
    assert!(e.to_string().contains("connection refused"), "{e}");
}

#[test]
fn permission_denied_points_at_the_group() {
    let e = ClientError::Connect {
        socket: "/run/ferrolb/ferrolb.sock".into(),
        error: io::ErrorKind::PermissionDenied.into(),
    };
    assert!(e.to_string().contains("[control]"), "{e}");
}

/// A server that answers `per_connection` requests on each connection and
/// then closes it, as the appliance closes idle clients; it counts the
/// connections.
fn closing_after(per_connection: usize) -> (tempfile::TempDir, PathBuf, Arc<AtomicUsize>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&connections);
    let reply = serde_json::to_string(&Response::ok(&hello_reply())).unwrap() + "\n";
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            seen.fetch_add(1, Ordering::SeqCst);
            let reader = BufReader::new(stream.try_clone().unwrap());
            for _ in reader.lines().take(per_connection) {
                stream.write_all(reply.as_bytes()).unwrap();
            }
        }
    });
    (dir, path, connections)
}

#[test]
fn a_connection_the_server_closed_while_idle_is_replaced_transparently() {
    let (_dir, path, connections) = closing_after(1);
    let mut client = Client::connect(&path).unwrap();
    for _ in 0..3 {
        assert_eq!(client.hello().unwrap(), hello_reply());
        // The server has closed by now.
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(connections.load(Ordering::SeqCst), 3);
}

#[test]
fn a_fresh_connection_closed_unanswered_is_not_retried() {
    let (_dir, path, connections) = closing_after(0);
    let e = Client::connect(&path).unwrap().hello().unwrap_err();
    assert!(matches!(e, ClientError::Io(_)), "{e:?}");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[test]
fn a_refusal_written_before_the_request_is_read_still_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let listener = UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let refusal = Response::error(ErrorCode::PermissionDenied, "uid 65534 may not");
        let line = serde_json::to_string(&refusal).unwrap() + "\n";
        stream.write_all(line.as_bytes()).unwrap();
        // Closed without reading a byte.
    });
    let mut client = Client::connect(&path).unwrap();
    // The server has closed before the request is written.
    std::thread::sleep(Duration::from_millis(100));
    let e = client.hello().unwrap_err();
    match &e {
        ClientError::Api(api) => assert_eq!(api.code, ErrorCode::PermissionDenied),
        other => panic!("{other:?}"),
    }
}

#[test]
fn busy_is_retried_on_a_new_connection_for_a_while() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&connections);
    let busy = serde_json::to_string(&Response::error(ErrorCode::Busy, "too many clients"))
        .unwrap()
        + "\n";
    let ok = serde_json::to_string(&Response::ok(&hello_reply())).unwrap() + "\n";
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            // The first two connections are refused at once, unread.
            let n = seen.fetch_add(1, Ordering::SeqCst);
            if n < 2 {
                stream.write_all(busy.as_bytes()).unwrap();
                continue;
            }
            let mut line = String::new();
            BufReader::new(stream.try_clone().unwrap())
                .read_line(&mut line)
                .unwrap();
            stream.write_all(ok.as_bytes()).unwrap();
        }
    });
    let mut client = Client::connect(&path).unwrap();
    assert_eq!(client.hello().unwrap(), hello_reply());
    assert_eq!(connections.load(Ordering::SeqCst), 3);

    // Busy for good: given up after about BUSY_RETRY, with the reply.
    let server = TestServer::start(|_| {
        Some(serde_json::to_string(&Response::error(ErrorCode::Busy, "slots")).unwrap())
    });
    let start = std::time::Instant::now();
    let e = Client::connect(&server.path).unwrap().hello().unwrap_err();
    assert!(
        matches!(&e, ClientError::Api(a) if a.code == ErrorCode::Busy),
        "{e:?}"
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took <= BUSY_RETRY + Duration::from_secs(1),
        "{took:?}"
    );
}
