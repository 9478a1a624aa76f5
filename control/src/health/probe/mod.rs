//! One check against one backend. Each probe is an async function run on
//! the monitor's runtime; every phase (connect, handshake, request, each
//! read) is bounded by the check's one deadline and every read by a byte
//! cap, so a server that never answers, trickles, or sends forever costs a
//! check at most its `timeout_ms` and a few KiB, and never holds up another.
//!
//! `Err` is the reason, for the log: `connection refused`, or the phase
//! and what happened in it (`reading the status line: timed out after
//! 300 ms`).

mod dns;
mod http;
mod icmp;
mod script;
mod smtp;
mod tls;
mod udp;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use super::spec::{CheckSpec, Params};
use crate::config::CheckKind;

pub use icmp::Pinger;
pub use tls::TlsClients;

/// A check that passed: `Some(w)` when it sets the backend's weight
/// (a dynamic script), else None.
pub type Passed = Option<u32>;

/// Shared by every probe: the ICMP and ICMPv6 sockets (each opened by the
/// first check that needs it) and TLS configurations.
#[derive(Default)]
pub struct Probers {
    pinger: tokio::sync::OnceCell<Result<Arc<Pinger>, String>>,
    pinger6: tokio::sync::OnceCell<Result<Arc<Pinger>, String>>,
    pub tls: TlsClients,
}

impl Probers {
    async fn pinger(&self, family: icmp::Family) -> Result<Arc<Pinger>, String> {
        let cell = match family {
            icmp::Family::V4 => &self.pinger,
            icmp::Family::V6 => &self.pinger6,
        };
        cell.get_or_init(|| async { Pinger::open(family) })
            .await
            .clone()
    }
}

/// The one deadline of a check, applied to each of its phases.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    pub at: Instant,
    limit: Duration,
}

impl Deadline {
    pub fn after(limit: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + limit,
            limit,
        }
    }

    pub fn timed_out(&self) -> String {
        format!("timed out after {} ms", self.limit.as_millis())
    }

    /// Runs one phase: its I/O error or the timeout becomes the reason,
    /// prefixed by `phase` (none for the connect, which is most common).
    pub async fn run<T>(
        &self,
        phase: &str,
        fut: impl Future<Output = io::Result<T>>,
    ) -> Result<T, String> {
        let prefix = |s: String| {
            if phase.is_empty() {
                s
            } else {
                format!("{phase}: {s}")
            }
        };
        match timeout_at(self.at, fut).await {
            Err(_) => Err(prefix(self.timed_out())),
            Ok(Err(e)) => Err(prefix(describe(&e, self))),
            Ok(Ok(v)) => Ok(v),
        }
    }
}

/// An I/O error as a short reason.
fn describe(e: &io::Error, deadline: &Deadline) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => deadline.timed_out(),
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset".into(),
        io::ErrorKind::UnexpectedEof => "connection closed".into(),
        _ => e.to_string(),
    }
}

/// Runs one check to its end or its deadline.
pub async fn probe(spec: &CheckSpec, probers: &Probers) -> Result<Passed, String> {
    let deadline = Deadline::after(spec.timeout);
    let target = spec.target;
    match (&spec.params, spec.kind) {
        (Params::Http(http), _) => http::probe(target, http, probers, deadline).await,
        (Params::Udp(udp), _) => udp::probe(target, udp, deadline).await,
        (Params::Dns(dns), _) => dns::probe(target, dns, deadline).await,
        (Params::Smtp { helo }, _) => smtp::probe(target, helo, deadline).await,
        (Params::Script(script), _) => script::probe(script, deadline).await,
        (Params::None, CheckKind::Icmp) => {
            let pinger = probers.pinger(icmp::Family::of(target.ip())).await?;
            pinger.ping(target.ip(), deadline).await
        }
        (Params::None, _) => connect(target, deadline).await.map(|_| None),
    }
}

/// A TCP connection to `target` (the TCP check's whole job).
pub async fn connect(target: SocketAddr, deadline: Deadline) -> Result<TcpStream, String> {
    deadline.run("", TcpStream::connect(target)).await
}

/// Reads into `buf` until `done(buf)` says where a complete unit ends, the
/// peer closes, or `cap` bytes came without one. Returns that end offset.
pub async fn read_until<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
    phase: &str,
    deadline: Deadline,
    done: impl Fn(&[u8]) -> Option<usize>,
) -> Result<usize, String> {
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = done(buf) {
            return Ok(end);
        }
        if buf.len() >= cap {
            return Err(format!(
                "{phase}: nothing complete in the first {cap} bytes"
            ));
        }
        let room = (cap - buf.len()).min(chunk.len());
        let n = deadline.run(phase, stream.read(&mut chunk[..room])).await?;
        if n == 0 {
            return Err(format!("{phase}: connection closed"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The position after the first `\n`, if there is one.
pub fn line_end(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n').map(|i| i + 1)
}

/// At most `max` characters of `s`, for quoting a peer's bytes in a log.
pub fn quote(bytes: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim_end();
    let cut: String = s.chars().take(max).collect();
    format!("{cut:?}")
}

#[cfg(test)]
mod tests;
