//! Every checker against real servers the test starts on loopback: HTTP,
//! HTTPS with a generated certificate, UDP echo, a DNS responder, an SMTP
//! server and scripts; well-behaved ones and hostile ones (silent,
//! trickling, flooding, resetting, answering garbage).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::*;
use crate::config::{CheckKind, HealthCheckConfig, HttpVersion, ServiceConfig, StatusSet};
use crate::health::spec::{CheckSpec, DnsSpec, HttpSpec, ScriptSpec, TlsSpec, UdpSpec, UrlSpec};
use crate::test_support::{closed_port, TestDir};

const TIMEOUT: Duration = Duration::from_millis(400);

fn spec(kind: CheckKind, target: SocketAddrV4, params: Params) -> CheckSpec {
    CheckSpec {
        kind,
        target: target.into(),
        timeout: TIMEOUT,
        interval: Duration::from_millis(50),
        rise: 1,
        fall: 1,
        retry: 0,
        retry_delay: Duration::from_millis(10),
        warmup: Duration::ZERO,
        alpha: false,
        params,
    }
}

/// Runs one probe on a fresh runtime, timing it.
fn run(spec: &CheckSpec) -> (Result<Passed, String>, Duration) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let probers = Probers::default();
    let start = Instant::now();
    let result = rt.block_on(probe(spec, &probers));
    (result, start.elapsed())
}

fn ok(spec: &CheckSpec) {
    let (result, _) = run(spec);
    assert_eq!(result, Ok(None), "{spec:?}");
}

/// The failure, checked to come within the timeout (plus scheduling
/// slack): no hostile server holds a check longer.
fn fails(spec: &CheckSpec) -> String {
    let (result, took) = run(spec);
    assert!(took < TIMEOUT + Duration::from_millis(300), "took {took:?}");
    result.expect_err("the check should fail")
}

fn v4(addr: std::net::SocketAddr) -> SocketAddrV4 {
    match addr {
        std::net::SocketAddr::V4(a) => a,
        other => panic!("not v4: {other}"),
    }
}

/// A TCP server on 127.0.0.1 that hands each connection to `handle`, on
/// a thread of its own, for as long as the test runs.
fn tcp_server(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddrV4 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = v4(listener.local_addr().unwrap());
    let handle = Arc::new(handle);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handle = Arc::clone(&handle);
            thread::spawn(move || handle(stream));
        }
    });
    addr
}

/// Reads a request head (to the blank line); returns it.
fn read_head(stream: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16384 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// An HTTP server answering every request with `reply`, remembering the
/// last request head.
fn http_server(reply: &'static [u8]) -> (SocketAddrV4, Arc<Mutex<String>>) {
    let last = Arc::new(Mutex::new(String::new()));
    let seen = Arc::clone(&last);
    let addr = tcp_server(move |mut s| {
        *seen.lock().unwrap() = read_head(&mut s);
        let _ = s.write_all(reply);
    });
    (addr, last)
}

fn url(path: &str, status: &str) -> UrlSpec {
    UrlSpec {
        path: path.into(),
        status: status.parse().unwrap(),
        md5: None,
        sha256: None,
        host: "www.example.test".into(),
    }
}

fn http(urls: Vec<UrlSpec>) -> Params {
    Params::Http(HttpSpec {
        urls,
        version: HttpVersion::Http11,
        tls: None,
    })
}

// --- TCP ---

#[test]
fn tcp_passes_on_a_listener_and_fails_on_a_closed_port() {
    let addr = tcp_server(drop);
    ok(&spec(CheckKind::Tcp, addr, Params::None));
    let err = fails(&spec(CheckKind::Tcp, closed_port(), Params::None));
    assert_eq!(err, "connection refused");
}

// --- HTTP ---

const BODY: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Length: 11\r\nServer: t\r\n\r\nhello world";

#[test]
fn http_sends_the_request_with_the_host_and_judges_the_status() {
    let (addr, last) = http_server(BODY);
    ok(&spec(
        CheckKind::Http,
        addr,
        http(vec![url("/healthz", "200")]),
    ));
    let request = last.lock().unwrap().clone();
    assert!(
        request.starts_with("GET /healthz HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains("\r\nHost: www.example.test\r\n"),
        "{request}"
    );
    assert!(request.contains("\r\nConnection: close\r\n"), "{request}");

    let err = fails(&spec(
        CheckKind::Http,
        addr,
        http(vec![url("/", "300-399 404")]),
    ));
    assert_eq!(err, "status 200, expected 300-399 404");
    ok(&spec(
        CheckKind::Http,
        addr,
        http(vec![url("/", "100-199 200-299")]),
    ));
}

#[test]
fn http_10_is_sent_when_asked_as_keepalived_does() {
    let (addr, last) = http_server(BODY);
    let params = Params::Http(HttpSpec {
        urls: vec![url("/", "200")],
        version: HttpVersion::Http10,
        tls: None,
    });
    ok(&spec(CheckKind::Http, addr, params));
    assert!(last.lock().unwrap().starts_with("GET / HTTP/1.0\r\n"));
}

#[test]
fn every_url_must_pass_and_the_failing_one_is_named() {
    let addr = tcp_server(|mut s| {
        let head = read_head(&mut s);
        let reply: &[u8] = if head.starts_with("GET /bad ") {
            b"HTTP/1.1 503 Busy\r\n\r\n"
        } else {
            b"HTTP/1.1 204 No Content\r\n\r\n"
        };
        let _ = s.write_all(reply);
    });
    ok(&spec(
        CheckKind::Http,
        addr,
        http(vec![url("/a", "204"), url("/b", "204")]),
    ));
    let err = fails(&spec(
        CheckKind::Http,
        addr,
        http(vec![url("/a", "204"), url("/bad", "204")]),
    ));
    assert_eq!(err, "GET /bad: status 503, expected 204");
}

#[test]
fn body_digests_are_md5_as_genhash_and_sha256_of_the_body_alone() {
    let (addr, _) = http_server(BODY);
    // md5("hello world") and sha256("hello world"): the head is not digested.
    let md5 = "5eb63bbbe01eeed093cb22bb8f5acdc3";
    let sha = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
    let mut u = url("/", "200");
    u.md5 = Some(md5.into());
    u.sha256 = Some(sha.into());
    ok(&spec(CheckKind::Http, addr, http(vec![u.clone()])));
    u.md5 = Some("00000000000000000000000000000000".into());
    let err = fails(&spec(CheckKind::Http, addr, http(vec![u.clone()])));
    assert_eq!(
        err,
        format!("MD5 digest {md5}, expected 00000000000000000000000000000000")
    );
    u.md5 = None;
    u.sha256 = Some("ab".repeat(32));
    assert!(fails(&spec(CheckKind::Http, addr, http(vec![u]))).starts_with("SHA-256 digest b94d"));
}

#[test]
fn without_a_length_the_body_runs_to_the_close() {
    let (addr, _) = http_server(b"HTTP/1.0 200 OK\r\n\r\nhello world");
    let mut u = url("/", "200");
    u.md5 = Some("5eb63bbbe01eeed093cb22bb8f5acdc3".into());
    ok(&spec(CheckKind::Http, addr, http(vec![u])));
}

#[test]
fn hostile_http_servers_fail_the_check_within_its_timeout() {
    // Never answers.
    let silent = tcp_server(|s| {
        thread::sleep(Duration::from_secs(3));
        drop(s);
    });
    let err = fails(&spec(CheckKind::Http, silent, http(vec![url("/", "200")])));
    assert_eq!(err, "reading the reply: timed out after 400 ms");

    // Slowloris: one byte of the status line every 50 ms, forever.
    let trickle = tcp_server(|mut s| {
        read_head(&mut s);
        for b in b"HTTP/1.1 200 OK".iter().cycle() {
            if s.write_all(&[*b]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    let err = fails(&spec(CheckKind::Http, trickle, http(vec![url("/", "200")])));
    assert_eq!(err, "reading the reply: timed out after 400 ms");

    // Floods: a head that never ends, and a body that never ends.
    let flood = tcp_server(|mut s| {
        read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
        while s
            .write_all(b"X-Junk: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n")
            .is_ok()
        {}
    });
    let mut digest = url("/", "200");
    digest.md5 = Some("5eb63bbbe01eeed093cb22bb8f5acdc3".into());
    let err = fails(&spec(CheckKind::Http, flood, http(vec![digest.clone()])));
    assert_eq!(
        err,
        "reading the reply: nothing complete in the first 8192 bytes"
    );
    let endless = tcp_server(|mut s| {
        read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n");
        let junk = vec![b'x'; 65536];
        while s.write_all(&junk).is_ok() {}
    });
    let err = fails(&spec(CheckKind::Http, endless, http(vec![digest])));
    assert!(
        err == "reading the body: timed out after 400 ms"
            || err == format!("reading the body: more than {} bytes", http::MAX_BODY),
        "{err}"
    );

    // Reset, and garbage.
    let reset = tcp_server(|s| {
        let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        drop(s);
    });
    let err = fails(&spec(CheckKind::Http, reset, http(vec![url("/", "200")])));
    assert!(
        err.contains("connection reset") || err == "connection closed before the status line",
        "{err}"
    );
    let (garbage, _) = http_server(b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02");
    let err = fails(&spec(CheckKind::Http, garbage, http(vec![url("/", "200")])));
    assert_eq!(err, "not an HTTP status line: \"SSH-2.0-OpenSSH_9.6\"");
}

// --- HTTPS ---

struct Pki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

/// A CA and a certificate it signed for `localhost` and 127.0.0.1.
fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(Ipv4Addr::LOCALHOST.into()));
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key_der)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        server: Arc::new(server),
    }
}

/// An HTTPS server answering BODY; remembers the SNI each client sent.
fn https_server(
    config: Arc<rustls::ServerConfig>,
) -> (SocketAddrV4, Arc<Mutex<Vec<Option<String>>>>) {
    let snis = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&snis);
    let addr = tcp_server(move |s| {
        let Ok(conn) = rustls::ServerConnection::new(Arc::clone(&config)) else {
            return;
        };
        let mut tls = rustls::StreamOwned::new(conn, s);
        let head = read_head(&mut tls);
        seen.lock()
            .unwrap()
            .push(tls.conn.server_name().map(str::to_owned));
        if !head.is_empty() {
            let _ = tls.write_all(BODY);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    (addr, snis)
}

fn https(tls: TlsSpec) -> Params {
    let mut u = url("/", "200");
    u.md5 = Some("5eb63bbbe01eeed093cb22bb8f5acdc3".into());
    Params::Http(HttpSpec {
        urls: vec![u],
        version: HttpVersion::Http11,
        tls: Some(tls),
    })
}

#[test]
fn https_checks_with_and_without_verification_and_sends_sni() {
    let keys = self::pki();
    let dir = TestDir::new("tls");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &keys.ca_pem).unwrap();
    let (addr, snis) = https_server(Arc::clone(&keys.server));
    let tls = |verify: bool, sni: Option<&str>| TlsSpec {
        verify,
        sni: sni.map(str::to_owned),
        ca_file: verify.then(|| ca_file.clone()),
    };
    // Not verified (keepalived's default): passes, body digest included.
    ok(&spec(CheckKind::Https, addr, https(tls(false, None))));
    // Verified against our CA, by name or by address.
    ok(&spec(
        CheckKind::Https,
        addr,
        https(tls(true, Some("localhost"))),
    ));
    ok(&spec(CheckKind::Https, addr, https(tls(true, None))));
    assert_eq!(
        *snis.lock().unwrap(),
        [None, Some("localhost".to_string()), None]
    );
    // A name the certificate does not carry, or a CA that did not sign it.
    let err = fails(&spec(
        CheckKind::Https,
        addr,
        https(tls(true, Some("other.test"))),
    ));
    assert!(err.starts_with("TLS handshake: "), "{err}");
    assert!(err.contains("not valid for name \"other.test\""), "{err}");
    let other = self::pki();
    std::fs::write(&ca_file, &other.ca_pem).unwrap();
    let err = fails(&spec(
        CheckKind::Https,
        addr,
        https(tls(true, Some("localhost"))),
    ));
    assert!(
        err.starts_with("TLS handshake: invalid peer certificate"),
        "{err}"
    );
    // A plain HTTP server is not TLS.
    let (plain, _) = http_server(BODY);
    let err = fails(&spec(CheckKind::Https, plain, https(tls(false, None))));
    assert!(err.starts_with("TLS handshake: "), "{err}");
}

#[test]
fn a_tls_server_that_never_finishes_the_handshake_times_out() {
    let silent = tcp_server(|mut s| {
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        thread::sleep(Duration::from_secs(3));
    });
    let tls = TlsSpec {
        verify: false,
        sni: None,
        ca_file: None,
    };
    let err = fails(&spec(CheckKind::Https, silent, https(tls)));
    assert_eq!(err, "TLS handshake: timed out after 400 ms");
}

// --- UDP ---

/// A UDP server answering each datagram with `reply(datagram)`.
fn udp_server(reply: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static) -> SocketAddrV4 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = v4(socket.local_addr().unwrap());
    thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if let Some(r) = reply(&buf[..n]) {
                let _ = socket.send_to(&r, from);
            }
        }
    });
    addr
}

fn udp(payload: &str, require_reply: bool, expect: Option<&str>) -> Params {
    Params::Udp(UdpSpec {
        payload: payload.parse::<crate::config::HexBytes>().unwrap().bytes,
        require_reply,
        expect: expect.map(|e| e.parse().unwrap()),
        min_len: 0,
        max_len: 255,
    })
}

#[test]
fn udp_echo_passes_and_a_closed_port_fails_by_icmp() {
    let echo = udp_server(|d| Some(d.to_vec()));
    ok(&spec(
        CheckKind::Udp,
        echo,
        udp("cafe 01", true, Some("CAFE 0x")),
    ));
    // No reply needed: silence until the deadline passes...
    let quiet = udp_server(|_| None);
    ok(&spec(CheckKind::Udp, quiet, udp("01", false, None)));
    // ...but not when one is required.
    let err = fails(&spec(CheckKind::Udp, quiet, udp("01", true, None)));
    assert_eq!(err, "no reply: timed out after 400 ms");
    // ICMP port unreachable fails either way.
    let closed = closed_udp_port();
    for require in [false, true] {
        let err = fails(&spec(CheckKind::Udp, closed, udp("01", require, None)));
        assert_eq!(err, "port unreachable");
    }
}

#[test]
fn udp_replies_of_the_wrong_content_or_length_fail() {
    let garbage = udp_server(|_| Some(b"\xde\xad\xbe\xef".to_vec()));
    let err = fails(&spec(
        CheckKind::Udp,
        garbage,
        udp("cafe", true, Some("cafe")),
    ));
    assert_eq!(err, "reply deadbeef does not match cafe");
    let big = udp_server(|_| Some(vec![0u8; 600]));
    let err = fails(&spec(CheckKind::Udp, big, udp("01", true, None)));
    assert_eq!(err, "reply of more than 255 bytes, expected 0..=255");
}

fn closed_udp_port() -> SocketAddrV4 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    v4(socket.local_addr().unwrap())
}

// --- DNS ---

/// A DNS responder: `answer` gets the parsed query and returns the reply
/// bytes to send (or none).
fn dns_server(
    answer: impl Fn(&hickory_proto::op::Message, &[u8]) -> Vec<Vec<u8>> + Send + 'static,
) -> SocketAddrV4 {
    udp_server_multi(move |d| match hickory_proto::op::Message::from_vec(d) {
        Ok(q) => answer(&q, d),
        Err(_) => Vec::new(),
    })
}

fn udp_server_multi(reply: impl Fn(&[u8]) -> Vec<Vec<u8>> + Send + 'static) -> SocketAddrV4 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = v4(socket.local_addr().unwrap());
    thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            for r in reply(&buf[..n]) {
                let _ = socket.send_to(&r, from);
            }
        }
    });
    addr
}

/// The reply to `query`: `rcode`, with an A record if `answer`.
fn dns_reply(
    query: &hickory_proto::op::Message,
    id: u16,
    rcode: hickory_proto::op::ResponseCode,
    answer: bool,
) -> Vec<u8> {
    use hickory_proto::op::{Message, MessageType, OpCode};
    use hickory_proto::rr::{rdata::A, RData, Record};
    let mut reply = Message::new(id, MessageType::Response, OpCode::Query);
    reply.metadata.response_code = rcode;
    for q in &query.queries {
        reply.add_query(q.clone());
        if answer {
            reply.add_answer(Record::from_rdata(
                q.name().clone(),
                60,
                RData::A(A::new(192, 0, 2, 1)),
            ));
        }
    }
    reply.to_vec().unwrap()
}

fn dns(name: &str, rtype: &str, require_answer: bool) -> Params {
    Params::Dns(DnsSpec {
        name: name.into(),
        record_type: rtype.into(),
        require_answer,
    })
}

#[test]
fn dns_wants_its_answer_and_ignores_replies_that_are_not() {
    use hickory_proto::op::ResponseCode;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let good = dns_server(move |q, _| {
        log.lock().unwrap().push(format!(
            "{} {}",
            q.queries[0].name(),
            q.queries[0].query_type()
        ));
        // Garbage and a reply with the wrong id come first: ignored.
        vec![
            b"\x00\x01garbage".to_vec(),
            dns_reply(q, q.metadata.id ^ 1, ResponseCode::NoError, true),
            dns_reply(q, q.metadata.id, ResponseCode::NoError, true),
        ]
    });
    ok(&spec(
        CheckKind::Dns,
        good,
        dns("www.example.test", "A", true),
    ));
    assert_eq!(*seen.lock().unwrap(), ["www.example.test. A"]);

    let empty = dns_server(|q, _| vec![dns_reply(q, q.metadata.id, ResponseCode::NoError, false)]);
    let err = fails(&spec(CheckKind::Dns, empty, dns("example.test", "A", true)));
    assert_eq!(err, "no answer records for example.test A");
    // keepalived's rule (NOERROR is enough) when asked for.
    ok(&spec(
        CheckKind::Dns,
        empty,
        dns("example.test", "A", false),
    ));

    let nx = dns_server(|q, _| vec![dns_reply(q, q.metadata.id, ResponseCode::NXDomain, false)]);
    let err = fails(&spec(CheckKind::Dns, nx, dns("example.test", "A", false)));
    assert_eq!(err, "rcode Non-Existent Domain");

    let liar =
        dns_server(|q, _| vec![dns_reply(q, q.metadata.id ^ 1, ResponseCode::NoError, true)]);
    let err = fails(&spec(CheckKind::Dns, liar, dns("example.test", "A", true)));
    assert_eq!(
        err,
        "no answer (1 replies ignored: not an answer to the query): timed out after 400 ms"
    );
    let err = fails(&spec(
        CheckKind::Dns,
        closed_udp_port(),
        dns(".", "SOA", true),
    ));
    assert_eq!(err, "port unreachable");
}

// --- SMTP ---

fn smtp_server(
    greeting: &'static [u8],
    helo_reply: &'static [u8],
) -> (SocketAddrV4, Arc<Mutex<String>>) {
    let seen = Arc::new(Mutex::new(String::new()));
    let log = Arc::clone(&seen);
    let addr = tcp_server(move |mut s| {
        let _ = s.write_all(greeting);
        let mut buf = [0u8; 256];
        if let Ok(n) = s.read(&mut buf) {
            *log.lock().unwrap() = String::from_utf8_lossy(&buf[..n]).into_owned();
            let _ = s.write_all(helo_reply);
            let _ = s.read(&mut buf);
        }
    });
    (addr, seen)
}

fn smtp() -> Params {
    Params::Smtp {
        helo: "lb1.example.test".into(),
    }
}

#[test]
fn smtp_wants_220_then_250_for_helo() {
    let (addr, seen) = smtp_server(
        b"220-mail.test ESMTP\r\n220 ready\r\n",
        b"250 mail.test\r\n",
    );
    ok(&spec(CheckKind::Smtp, addr, smtp()));
    assert_eq!(*seen.lock().unwrap(), "HELO lb1.example.test\r\n");

    let (busy, _) = smtp_server(b"554 go away\r\n", b"");
    let err = fails(&spec(CheckKind::Smtp, busy, smtp()));
    assert_eq!(err, "greeting: reply 554, expected 220: \"554 go away\"");
    let (refuses, _) = smtp_server(b"220 ready\r\n", b"501 no\r\n");
    assert_eq!(
        fails(&spec(CheckKind::Smtp, refuses, smtp())),
        "HELO: reply 501, expected 250: \"501 no\""
    );
    let garbage = tcp_server(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n");
    });
    assert!(
        fails(&spec(CheckKind::Smtp, garbage, smtp())).starts_with("greeting: not an SMTP reply")
    );
    let silent = tcp_server(|s| {
        thread::sleep(Duration::from_secs(3));
        drop(s);
    });
    assert_eq!(
        fails(&spec(CheckKind::Smtp, silent, smtp())),
        "reading the greeting reply: timed out after 400 ms"
    );
}

// --- scripts ---

fn script(code: &str, dynamic: bool) -> Params {
    Params::Script(ScriptSpec {
        command: vec!["/bin/sh".into(), "-c".into(), code.into()],
        dynamic,
        env: vec![("FERROLB_BACKEND".into(), "10.0.0.7".into())],
    })
}

fn script_spec(code: &str, dynamic: bool) -> CheckSpec {
    spec(CheckKind::Script, closed_port(), script(code, dynamic))
}

#[test]
fn scripts_decide_by_exit_status_and_see_their_backend() {
    ok(&script_spec("test \"$FERROLB_BACKEND\" = 10.0.0.7", false));
    assert_eq!(
        fails(&script_spec("exit 1", false)),
        "/bin/sh exited with status 1"
    );
    assert_eq!(
        fails(&script_spec("exit 7", false)),
        "/bin/sh exited with status 7"
    );
    let (dynamic, _) = run(&script_spec("exit 12", true));
    assert_eq!(dynamic, Ok(Some(10)));
    assert_eq!(
        fails(&script_spec("kill -9 $$", false)),
        "/bin/sh killed by signal 9"
    );
    let missing = spec(
        CheckKind::Script,
        closed_port(),
        Params::Script(ScriptSpec {
            command: vec!["/nonexistent/check".into()],
            dynamic: false,
            env: Vec::new(),
        }),
    );
    assert!(fails(&missing).starts_with("cannot run /nonexistent/check: "));
}

#[test]
fn a_hanging_script_is_killed_with_its_children_at_the_timeout() {
    let dir = TestDir::new("script");
    let pids = dir.join("pids");
    // The script starts a child that would outlive it, then hangs.
    let code = format!(
        "sleep 30 & echo $! > {p}; echo $$ >> {p}; sleep 30",
        p = pids.display()
    );
    let err = fails(&script_spec(&code, false));
    assert_eq!(err, "/bin/sh: timed out after 400 ms");
    let text = std::fs::read_to_string(&pids).unwrap();
    for pid in text.split_whitespace() {
        let gone = crate::test_support::wait_for(|| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Gone, or a zombie waiting for its reaper.
            stat.is_empty() || stat.contains(") Z ")
        });
        assert!(gone, "process {pid} outlived the check");
    }
}

// --- ICMP (root) ---

#[test]
fn icmp_echo_to_loopback_passes() {
    let (result, _) = run(&spec(
        CheckKind::Icmp,
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        Params::None,
    ));
    assert_eq!(
        result,
        Ok(None),
        "ICMP checks need root (a raw socket); run the tests as root"
    );
}

#[test]
fn icmpv6_echo_to_loopback_passes_and_an_unreachable_address_fails() {
    let mut check = spec(
        CheckKind::Icmp,
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        Params::None,
    );
    check.target = "[::1]:0".parse().unwrap();
    let (result, _) = run(&check);
    assert_eq!(
        result,
        Ok(None),
        "ICMPv6 checks need root (a raw socket); run the tests as root"
    );
    // A documentation address nobody answers for: no route (an error at
    // the send) or no reply before the deadline, never a pass.
    check.target = "[2001:db8:ffff::1]:0".parse().unwrap();
    let err = fails(&check);
    assert!(
        err.contains("sending the echo request") || err.contains("no echo reply"),
        "{err}"
    );
}

// --- IPv6 backends ---

/// A closed TCP port on [::1] (bound, then released).
fn closed_port6() -> std::net::SocketAddr {
    let l = TcpListener::bind("[::1]:0").unwrap();
    l.local_addr().unwrap()
}

#[test]
fn tcp_http_and_udp_checks_reach_an_ipv6_backend() {
    let listener = TcpListener::bind("[::1]:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(String::new()));
    let last = Arc::clone(&seen);
    thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            *last.lock().unwrap() = read_head(&mut s);
            let _ = s.write_all(BODY);
        }
    });
    let mut check = spec(
        CheckKind::Tcp,
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1),
        Params::None,
    );
    check.target = addr;
    ok(&check);
    check.target = closed_port6();
    assert_eq!(fails(&check), "connection refused");

    // The Host header the config gives an IPv6 backend: "[addr]:port".
    let service = ServiceConfig::new(
        "2001:db8::10".parse::<std::net::Ipv6Addr>().unwrap(),
        crate::config::Protocol::Tcp,
        80,
        crate::config::LbMode::Dr,
    );
    let backend =
        crate::config::BackendConfig::new(std::net::Ipv6Addr::LOCALHOST, Some(addr.port()), 1);
    let http_check = CheckSpec::new(&service, &backend, &HealthCheckConfig::new(CheckKind::Http));
    assert_eq!(http_check.target, addr);
    let Params::Http(h) = &http_check.params else {
        panic!("{http_check:?}")
    };
    assert_eq!(h.urls[0].host, format!("[::1]:{}", addr.port()));
    let mut check = http_check.clone();
    check.timeout = TIMEOUT;
    ok(&check);
    assert!(
        seen.lock()
            .unwrap()
            .contains(&format!("Host: [::1]:{}\r\n", addr.port())),
        "{}",
        seen.lock().unwrap()
    );

    let socket = UdpSocket::bind("[::1]:0").unwrap();
    let udp_addr = socket.local_addr().unwrap();
    thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&buf[..n], from);
        }
    });
    let mut check = spec(
        CheckKind::Udp,
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1),
        udp("70696e67", true, Some("70696e67")),
    );
    check.target = udp_addr;
    ok(&check);
}

// --- the spec from the config ---

#[test]
fn the_spec_follows_the_config_with_connect_ip_and_port() {
    let service = ServiceConfig::new(
        Ipv4Addr::new(192, 0, 2, 10),
        crate::config::Protocol::Tcp,
        80,
        crate::config::LbMode::Nat,
    );
    let backend = crate::config::BackendConfig::new(Ipv4Addr::new(10, 0, 0, 1), Some(8080), 3);
    let mut check = HealthCheckConfig::new(CheckKind::Http);
    check.host = Some("www.example.test".into());
    let s = CheckSpec::new(&service, &backend, &check);
    assert_eq!(s.target, "10.0.0.1:8080".parse().unwrap());
    let Params::Http(h) = &s.params else {
        panic!("{s:?}")
    };
    assert_eq!(h.urls[0].host, "www.example.test");
    assert_eq!(h.urls[0].status, StatusSet(vec![(200, 200)]));
    check.connect_ip = Some(Ipv4Addr::new(10, 0, 9, 9));
    check.connect_port = Some(9000);
    check.host = None;
    let s = CheckSpec::new(&service, &backend, &check);
    assert_eq!(s.target, "10.0.9.9:9000".parse().unwrap());
    let Params::Http(h) = &s.params else {
        panic!("{s:?}")
    };
    assert_eq!(h.urls[0].host, "10.0.9.9:9000");
    assert!(Path::new("/bin/sh").exists());
}
