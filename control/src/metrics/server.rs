//! The `/metrics` HTTP endpoint: each connection on its own thread, at
//! most [`Limits::connections`] at once, so a scrape never waits behind
//! another client.
//!
//! Slow or idle clients are bounded three ways: the request head must
//! arrive within `head_timeout` (then 408) and fit in [`MAX_HEAD`] bytes
//! (then 431); the reply must be taken within `write_timeout`; and when
//! every connection is taken, the one that has waited longest for its head
//! is closed to make room (connections already answering are never taken;
//! if all are, the newcomer gets 503 at once). The body of a request is
//! never read: only `GET` is served, and every reply closes the
//! connection.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::CONTENT_TYPE;

/// The largest request head, blank line included (as documented).
pub const MAX_HEAD: usize = 8192;
/// How often the accept loop looks at the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// What bounds the clients of one server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// From connecting to the end of the request head.
    pub head_timeout: Duration,
    /// For the whole reply to be taken.
    pub write_timeout: Duration,
    /// Connections served at once.
    pub connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            head_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            connections: 32,
        }
    }
}

/// What makes the metrics text; called once per scrape, from any thread.
type Gather = dyn Fn() -> String + Send + Sync;

/// The `/metrics` endpoint. Dropping it stops accepting; connections in
/// hand finish within their limits.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl MetricsServer {
    /// Listens on `addr` and answers `GET /metrics` with `gather()`.
    pub fn start(
        addr: SocketAddr,
        gather: impl Fn() -> String + Send + Sync + 'static,
    ) -> io::Result<MetricsServer> {
        Self::start_with(addr, Limits::default(), gather)
    }

    /// [`start`](Self::start) with other limits.
    pub fn start_with(
        addr: SocketAddr,
        limits: Limits,
        gather: impl Fn() -> String + Send + Sync + 'static,
    ) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let server = Arc::new(Server {
            limits,
            gather: Box::new(gather),
            open: Mutex::default(),
        });
        let flag = Arc::clone(&stop);
        thread::Builder::new()
            .name("metrics".into())
            .spawn(move || accept_loop(&listener, &flag, &server))?;
        Ok(MetricsServer { addr, stop })
    }

    /// The bound address (the port chosen for `:0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// What every connection thread shares.
struct Server {
    limits: Limits,
    gather: Box<Gather>,
    open: Mutex<Connections>,
}

#[derive(Default)]
struct Connections {
    next_id: u64,
    by_id: HashMap<u64, Connection>,
}

struct Connection {
    /// A handle to shut the connection down when it is taken.
    stream: TcpStream,
    /// Since when it has been waiting for its head; `None` once answering.
    waiting_since: Option<Instant>,
}

impl Server {
    fn open(&self) -> MutexGuard<'_, Connections> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `stream`, closing the connection that has waited longest
    /// for its head if every one is taken; `None` if all are answering.
    fn admit(&self, stream: &TcpStream) -> Option<u64> {
        let handle = stream.try_clone().ok()?;
        let mut open = self.open();
        if open.by_id.len() >= self.limits.connections {
            let oldest = open
                .by_id
                .iter()
                .filter_map(|(id, c)| c.waiting_since.map(|t| (*id, t)))
                .min_by_key(|(_, t)| *t)
                .map(|(id, _)| id)?;
            if let Some(taken) = open.by_id.remove(&oldest) {
                let _ = taken.stream.shutdown(Shutdown::Both);
            }
        }
        let id = open.next_id;
        open.next_id += 1;
        open.by_id.insert(
            id,
            Connection {
                stream: handle,
                waiting_since: Some(Instant::now()),
            },
        );
        Some(id)
    }

    fn answering(&self, id: u64) {
        if let Some(c) = self.open().by_id.get_mut(&id) {
            c.waiting_since = None;
        }
    }

    fn close(&self, id: u64) {
        self.open().by_id.remove(&id);
    }
}

fn accept_loop(listener: &TcpListener, stop: &AtomicBool, server: &Arc<Server>) {
    while !stop.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) => {
                thread::sleep(ACCEPT_POLL);
                continue;
            }
        };
        let Some(id) = server.admit(&stream) else {
            busy(stream);
            continue;
        };
        let shared = Arc::clone(server);
        let spawned = thread::Builder::new()
            .name("metrics-client".into())
            .spawn(move || {
                // A client that misbehaves only loses its own connection.
                let _ = serve_client(stream, id, &shared);
                shared.close(id);
            });
        if spawned.is_err() {
            server.close(id);
        }
    }
}

/// Every connection is answering a scrape: 503 at once, without reading.
fn busy(mut stream: TcpStream) {
    if stream.set_nonblocking(true).is_ok() {
        let reply = Reply::error(503, "Service Unavailable");
        let _ = stream.write_all(&reply.to_bytes());
        let _ = stream.shutdown(Shutdown::Write);
    }
}

fn serve_client(mut stream: TcpStream, id: u64, server: &Server) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    let limits = server.limits;
    let head = read_head(&mut stream, Instant::now() + limits.head_timeout);
    server.answering(id);
    let reply = match head {
        Ok(head) => respond(&head, &*server.gather),
        Err(HeadError::TooLarge) => Reply::error(431, "Request Header Fields Too Large"),
        Err(HeadError::TimedOut) => Reply::error(408, "Request Timeout"),
        Err(HeadError::Closed) => return Ok(()),
    };
    write_by(
        &mut stream,
        &reply.to_bytes(),
        Instant::now() + limits.write_timeout,
    )?;
    stream.shutdown(Shutdown::Write)
}

#[derive(Debug, PartialEq, Eq)]
enum HeadError {
    TooLarge,
    TimedOut,
    Closed,
}

/// Reads up to the blank line that ends the request head; at most
/// [`MAX_HEAD`] bytes are read, blank line included.
fn read_head(stream: &mut impl TimedRead, deadline: Instant) -> Result<Vec<u8>, HeadError> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        if let Some(end) = head_end(&head) {
            head.truncate(end);
            return Ok(head);
        }
        let room = MAX_HEAD - head.len();
        if room == 0 {
            return Err(HeadError::TooLarge);
        }
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(HeadError::TimedOut)?;
        match stream.read_within(&mut buf[..room.min(1024)], left) {
            Ok(0) => return Err(HeadError::Closed),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HeadError::TimedOut)
            }
            Err(_) => return Err(HeadError::Closed),
        }
    }
}

/// A stream that reads with a timeout (a trait so tests can read from
/// memory).
trait TimedRead {
    fn read_within(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize>;
}

impl TimedRead for TcpStream {
    fn read_within(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.set_read_timeout(Some(timeout))?;
        self.read(buf)
    }
}

/// Where the head ends: before its blank line (`\r\n\r\n` or `\n\n`).
fn head_end(head: &[u8]) -> Option<usize> {
    find(head, b"\r\n\r\n").or_else(|| find(head, b"\n\n"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Writes all of `bytes` unless `deadline` passes first.
fn write_by(stream: &mut TcpStream, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
    while !bytes.is_empty() {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))?;
        stream.set_write_timeout(Some(left))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// An HTTP reply; every one closes the connection.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Reply {
    pub status: u16,
    pub reason: &'static str,
    pub content_type: &'static str,
    /// `Allow: GET` (on 405).
    pub allow_get: bool,
    pub body: String,
}

impl Reply {
    fn error(status: u16, reason: &'static str) -> Reply {
        Reply {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            allow_get: status == 405,
            body: format!("{status} {reason}\n"),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            self.reason,
            self.content_type,
            self.body.len()
        );
        if self.allow_get {
            head.push_str("Allow: GET\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(self.body.as_bytes());
        bytes
    }
}

/// The reply to a request head: the metrics for `GET /metrics` (a query
/// string is ignored), 405 for another method, 404 for another path.
pub(super) fn respond(head: &[u8], gather: &dyn Fn() -> String) -> Reply {
    let head = String::from_utf8_lossy(head);
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Reply::error(400, "Bad Request");
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() {
        return Reply::error(400, "Bad Request");
    }
    if method != "GET" {
        return Reply::error(405, "Method Not Allowed");
    }
    let path = target.split('?').next().unwrap_or_default();
    if path != "/metrics" {
        return Reply::error(404, "Not Found");
    }
    Reply {
        status: 200,
        reason: "OK",
        content_type: CONTENT_TYPE,
        allow_get: false,
        body: gather(),
    }
}

#[cfg(test)]
mod tests;
