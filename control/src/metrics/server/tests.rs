//! The `/metrics` endpoint over real TCP: what it answers, and that slow,
//! idle or huge requests cannot hold up a scrape.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::*;

fn respond_to(head: &str) -> Reply {
    respond(head.as_bytes(), &|| "metrics\n".to_owned())
}

#[test]
fn only_get_of_metrics_gets_the_metrics() {
    let ok = respond_to("GET /metrics HTTP/1.1\r\nHost: x");
    assert_eq!((ok.status, ok.body.as_str()), (200, "metrics\n"));
    assert_eq!(ok.content_type, CONTENT_TYPE);
    assert_eq!(respond_to("GET /metrics?x=1 HTTP/1.0").status, 200);
    assert_eq!(respond_to("GET / HTTP/1.1").status, 404);
    assert_eq!(respond_to("GET /metrics/ HTTP/1.1").status, 404);
    let post = respond_to("POST /metrics HTTP/1.1");
    assert_eq!(post.status, 405);
    assert!(String::from_utf8(post.to_bytes())
        .unwrap()
        .contains("\r\nAllow: GET\r\n"));
    assert_eq!(respond_to("HEAD /metrics HTTP/1.1").status, 405);
    assert_eq!(respond_to("GET /metrics").status, 400);
    assert_eq!(respond_to("GET /metrics SPDY/3").status, 400);
    assert_eq!(respond_to("\u{0}\u{1}").status, 400);
}

/// Bytes in memory, handed out in chunks of at most 700.
struct Chunks(Vec<u8>);

impl TimedRead for Chunks {
    fn read_within(&mut self, buf: &mut [u8], _: Duration) -> io::Result<usize> {
        let n = buf.len().min(self.0.len()).min(700);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0.drain(..n);
        Ok(n)
    }
}

/// A request head of exactly `len` bytes, blank line included.
fn head_of(len: usize) -> Vec<u8> {
    let start = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    let mut head = start.clone();
    head.resize(len - 4, b'a');
    head.extend_from_slice(b"\r\n\r\n");
    head
}

#[test]
fn the_head_limit_is_8_kib_blank_line_included() {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut fits = Chunks(head_of(MAX_HEAD));
    let head = read_head(&mut fits, deadline).expect("8192 bytes fit");
    assert_eq!(head.len(), MAX_HEAD - 4);
    let mut over = Chunks(head_of(MAX_HEAD + 1));
    assert_eq!(read_head(&mut over, deadline), Err(HeadError::TooLarge));
    // Nothing past the limit was read.
    assert_eq!(over.0.len(), 1);
}

/// Sends `request` and reads the whole reply.
fn http(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    reply
}

const BODY: &str = "# HELP ferrolb_up x\n# TYPE ferrolb_up gauge\nferrolb_up 1\n";

fn local_server(limits: Limits) -> MetricsServer {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    MetricsServer::start_with(addr, limits, || BODY.to_owned()).unwrap()
}

#[test]
fn the_server_answers_get_metrics_over_http() {
    let server = local_server(Limits::default());
    let reply = http(
        server.local_addr(),
        b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())));
    assert!(body.ends_with("ferrolb_up 1\n"), "{body}");

    let reply = http(server.local_addr(), b"GET /other HTTP/1.1\r\n\r\n");
    assert!(reply.starts_with("HTTP/1.1 404 "), "{reply}");
    let reply = http(server.local_addr(), b"DELETE /metrics HTTP/1.1\r\n\r\n");
    assert!(reply.starts_with("HTTP/1.1 405 "), "{reply}");
}

#[test]
fn the_server_refuses_a_huge_request_and_cuts_off_a_silent_client() {
    let server = local_server(Limits {
        head_timeout: Duration::from_millis(300),
        ..Limits::default()
    });
    let mut huge = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 20_000));
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may close while we still write; the reply is what counts.
    let _ = s.write_all(&huge);
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 431 "), "{reply}");

    // A client that never sends its request is cut off at the head
    // timeout, and told so.
    let mut silent = TcpStream::connect(server.local_addr()).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut told = String::new();
    silent.read_to_string(&mut told).unwrap();
    assert!(told.starts_with("HTTP/1.1 408 "), "{told}");
}

/// Idle connections (more than the server serves at once) and a client
/// trickling its head stay open while scrapes come: each scrape is
/// answered within 2 s, and scrapes run side by side (each takes 500 ms to
/// gather; one at a time, four would take 2 s).
#[test]
fn scrapes_are_served_at_once_beside_idle_and_slow_clients() {
    let gathering = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (now, peak) = (Arc::clone(&gathering), Arc::clone(&most));
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let limits = Limits {
        connections: 8,
        ..Limits::default()
    };
    let server = MetricsServer::start_with(addr, limits, move || {
        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(n, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(500));
        now.fetch_sub(1, Ordering::SeqCst);
        BODY.to_owned()
    })
    .unwrap();
    let addr = server.local_addr();
    let idle: Vec<TcpStream> = (0..12).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut trickle = TcpStream::connect(addr).unwrap();
    trickle.write_all(b"GET /metr").unwrap();
    thread::sleep(Duration::from_millis(100));

    let scrapes: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || {
                let start = Instant::now();
                let reply = http(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
                (start.elapsed(), reply)
            })
        })
        .collect();
    for s in scrapes {
        let (took, reply) = s.join().unwrap();
        assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
        assert!(took < Duration::from_secs(2), "a scrape took {took:?}");
    }
    assert!(
        most.load(Ordering::SeqCst) >= 2,
        "scrapes ran one at a time"
    );
    drop(idle);
}

#[test]
fn dropping_the_server_closes_the_port() {
    let server = local_server(Limits::default());
    let addr = server.local_addr();
    drop(server);
    assert!(crate::test_support::wait_for(
        || TcpStream::connect(addr).is_err()
    ));
}
