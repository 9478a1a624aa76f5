//! The session-sync thread (docs/session-sync.md): it owns the `[sync]`
//! UDP socket. It drains what the workers queued (`dataplane::sync::link`)
//! into datagrams for every peer, says hello once a second, and asks the
//! workers for a full dump when a peer (re)starts (a boot id it has not
//! seen) and every `REFRESH` so a peer's copies of long-lived sessions do
//! not expire. What peers send is checked (source, length, version,
//! signature) and each record goes to the worker that owns its flow, by
//! the same ownership function the packets take (`tables::owner`). It runs
//! beside the control threads, never on a worker's core.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io::ErrorKind;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use control::config::SyncConfig;
use dataplane::flow::table::Forwarding;
use dataplane::live::LiveTables;
use dataplane::sync::hmac::Key;
use dataplane::sync::wire::{self, Encoder, Header, WireError, MAX_DATAGRAM};
use dataplane::sync::{SessionRecord, SyncPort, SyncRecord};
use dataplane::tables::LbTables;

/// How often every peer hears from us, records or not.
const HELLO: Duration = Duration::from_secs(1);
/// How often the workers dump every session to the peers, so the peers'
/// copies of long-lived sessions (900 s established) never run out.
pub const REFRESH: Duration = Duration::from_secs(60);
/// The receive buffer asked for, bytes.
const RECEIVE_BUFFER: usize = 4 << 20;
/// How long a record waits for room in a worker's inbound ring.
const GIVE_WAIT: Duration = Duration::from_millis(10);
/// How long a send waits for room in the socket buffer.
const SEND_WAIT: Duration = Duration::from_millis(20);
/// The shortest key a key file may hold.
const MIN_KEY_LEN: usize = 16;

/// The sync thread's counters (the workers count theirs in `Events`).
#[derive(Debug, Default)]
pub struct SyncCounters([AtomicU64; COUNTERS]);

/// One counter of [`SyncCounters`].
#[derive(Clone, Copy, Debug)]
#[repr(usize)]
pub enum Counter {
    DatagramsSent,
    RecordsSent,
    SendErrors,
    DatagramsReceived,
    RecordsReceived,
    UnknownPeer,
    Truncated,
    Foreign,
    BadVersion,
    BadLength,
    BadAuth,
    BadRecord,
    OwnerSplit,
    InQueueFull,
    PeersJoined,
    DumpsRequested,
}

const COUNTERS: usize = 16;
const NAMES: [&str; COUNTERS] = [
    "sync_datagrams_sent",
    "sync_records_sent",
    "sync_send_errors",
    "sync_datagrams_received",
    "sync_records_received",
    "sync_unknown_peer",
    "sync_truncated",
    "sync_foreign",
    "sync_bad_version",
    "sync_bad_length",
    "sync_bad_auth",
    "sync_bad_record",
    "sync_owner_split",
    "sync_in_queue_full",
    "sync_peers_joined",
    "sync_dumps_requested",
];

impl SyncCounters {
    pub fn add(&self, c: Counter, n: u64) {
        self.0[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Every counter with its name, for `stats` and Prometheus.
    pub fn events(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        NAMES
            .iter()
            .zip(&self.0)
            .map(|(n, v)| (n.to_string(), v.load(Ordering::Relaxed)))
    }
}

fn wire_counter(e: WireError) -> Counter {
    match e {
        WireError::Truncated => Counter::Truncated,
        WireError::Foreign => Counter::Foreign,
        WireError::BadVersion => Counter::BadVersion,
        WireError::BadLength => Counter::BadLength,
        WireError::BadAuth => Counter::BadAuth,
        WireError::BadRecord => Counter::BadRecord,
    }
}

/// The bound socket, the peers and the key: everything of `[sync]` that
/// can fail, done before any worker starts.
pub struct SyncSocket {
    socket: UdpSocket,
    peers: Vec<SocketAddrV4>,
    key: Option<Key>,
    boot_id: u64,
}

impl SyncSocket {
    pub fn bind(cfg: &SyncConfig) -> Result<SyncSocket> {
        let key = match &cfg.key_file {
            Some(path) => Some(read_key(path)?),
            None => None,
        };
        let socket = UdpSocket::bind(cfg.listen)
            .with_context(|| format!("[sync] listen {}: cannot bind", cfg.listen))?;
        socket
            .set_nonblocking(true)
            .context("[sync] socket: non-blocking")?;
        // Room for a peer's dump while the workers install it; the kernel
        // caps it at net.core.rmem_max (a refusal is not fatal).
        let _ = nix::sys::socket::setsockopt(
            &socket,
            nix::sys::socket::sockopt::RcvBuf,
            &RECEIVE_BUFFER,
        );
        Ok(SyncSocket {
            socket,
            peers: cfg.peers.clone(),
            key,
            boot_id: boot_id(),
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.local_addr().ok()
    }

    /// This process's boot id (a new one on every start).
    pub fn boot_id(&self) -> u64 {
        self.boot_id
    }
}

/// The key in `path`: its bytes, less one trailing newline.
fn read_key(path: &std::path::Path) -> Result<Key> {
    let mut bytes = std::fs::read(path)
        .with_context(|| format!("[sync] key_file {}: cannot read", path.display()))?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    if bytes.len() < MIN_KEY_LEN {
        bail!(
            "[sync] key_file {}: {} bytes; a key has at least {MIN_KEY_LEN}",
            path.display(),
            bytes.len()
        );
    }
    Ok(Key::new(&bytes))
}

/// A boot id unlikely to repeat: the process id and the clock through a
/// randomly keyed hash.
fn boot_id() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// The sync thread's state.
struct Syncer<'a> {
    sock: &'a SyncSocket,
    ports: Vec<SyncPort>,
    live: &'a LiveTables,
    counters: &'a SyncCounters,
    enc: Encoder,
    sequence: u32,
    /// The boot id each peer last sent.
    peer_boots: HashMap<SocketAddrV4, u64>,
}

/// Runs the sync thread until `stop`, then sends what the workers queued
/// last and returns.
pub fn run(
    sock: &SyncSocket,
    ports: Vec<SyncPort>,
    live: &LiveTables,
    counters: &SyncCounters,
    stop: &AtomicBool,
) {
    let mut s = Syncer {
        sock,
        ports,
        live,
        counters,
        enc: Encoder::default(),
        sequence: 0,
        peer_boots: HashMap::new(),
    };
    let mut last_hello: Option<Instant> = None;
    let mut last_refresh = Instant::now();
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let mut busy = s.send_queued();
        if last_hello.map_or(true, |t| t.elapsed() >= HELLO) {
            s.send();
            last_hello = Some(Instant::now());
        }
        if last_refresh.elapsed() >= REFRESH {
            s.request_dumps();
            last_refresh = Instant::now();
        }
        busy |= s.receive(&mut buf);
        if stopping {
            return;
        }
        if !busy {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Syncer<'_> {
    /// Sends everything the workers queued, in full datagrams and a last
    /// partial one. Returns whether there was anything.
    fn send_queued(&mut self) -> bool {
        let mut any = false;
        for w in 0..self.ports.len() {
            // At most a ring's worth per worker per round, so a busy
            // worker cannot keep us from receiving.
            for _ in 0..dataplane::sync::link::OUT_CAPACITY {
                let Some(r) = self.ports[w].take() else {
                    break;
                };
                any = true;
                self.add(&r);
            }
        }
        if !self.enc.is_empty() {
            self.send();
        }
        any
    }

    fn add(&mut self, r: &SyncRecord) {
        if !self.enc.push(r) {
            self.send();
            self.enc.push(r);
        }
    }

    /// Sends the datagram being built (a hello if it is empty) to every peer.
    fn send(&mut self) {
        let records = self.enc.len() as u64;
        let header = Header {
            boot_id: self.sock.boot_id,
            sequence: self.sequence,
            workers: self.ports.len() as u16,
        };
        self.sequence = self.sequence.wrapping_add(1);
        let bytes = self.enc.finish(&header, self.sock.key.as_ref());
        for peer in &self.sock.peers {
            if send_to(&self.sock.socket, bytes, peer) {
                self.counters.add(Counter::DatagramsSent, 1);
                self.counters.add(Counter::RecordsSent, records);
            } else {
                self.counters.add(Counter::SendErrors, 1);
            }
        }
        self.enc.clear();
    }

    fn request_dumps(&self) {
        for p in &self.ports {
            p.request_dump();
        }
        self.counters.add(Counter::DumpsRequested, 1);
    }

    /// Takes every datagram waiting. Returns whether there was one.
    fn receive(&mut self, buf: &mut [u8]) -> bool {
        let mut any = false;
        loop {
            let (n, from) = match self.sock.socket.recv_from(buf) {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return any,
                // ICMP port unreachable from a peer that is down shows up
                // here on Linux: nothing to read, try again later.
                Err(_) => return any,
            };
            any = true;
            let from = match from {
                SocketAddr::V4(a) if self.sock.peers.contains(&a) => a,
                _ => {
                    self.counters.add(Counter::UnknownPeer, 1);
                    continue;
                }
            };
            self.datagram(from, &buf[..n]);
        }
    }

    fn datagram(&mut self, from: SocketAddrV4, bytes: &[u8]) {
        let d = match wire::decode(bytes, self.sock.key.as_ref()) {
            Ok(d) => d,
            Err(e) => return self.counters.add(wire_counter(e), 1),
        };
        self.counters.add(Counter::DatagramsReceived, 1);
        if self.peer_boots.insert(from, d.header.boot_id) != Some(d.header.boot_id) {
            // A peer we have not heard since it started: it gets everything.
            self.counters.add(Counter::PeersJoined, 1);
            self.request_dumps();
        }
        let tables = self.live.current();
        let mut stalled = vec![false; self.ports.len()];
        for r in d.records() {
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    self.counters.add(wire_counter(e), 1);
                    continue;
                }
            };
            self.counters.add(Counter::RecordsReceived, 1);
            let Some(w) = owner(&tables, &r, self.ports.len()) else {
                self.counters.add(Counter::OwnerSplit, 1);
                continue;
            };
            // A worker whose ring stayed full is not waited for again
            // within this datagram.
            let wait = !stalled[w];
            if !give(&mut self.ports[w], r, wait) {
                stalled[w] = true;
                self.counters.add(Counter::InQueueFull, 1);
            }
        }
    }
}

/// Hands a record to a worker; a full ring (a worker still starting, or a
/// dump arriving) is waited out for up to `GIVE_WAIT`, meanwhile the
/// socket buffer holds what arrives.
fn give(port: &mut SyncPort, r: SyncRecord, wait: bool) -> bool {
    let deadline = Instant::now() + GIVE_WAIT;
    loop {
        if port.give(r) {
            return true;
        }
        if !wait || Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_micros(50));
    }
}

/// Sends one datagram; a full socket buffer (a dump faster than the
/// link) is waited out for up to `SEND_WAIT` rather than losing records.
fn send_to(socket: &UdpSocket, bytes: &[u8], peer: &SocketAddrV4) -> bool {
    let deadline = Instant::now() + SEND_WAIT;
    loop {
        match socket.send_to(bytes, peer) {
            Ok(_) => return true,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_micros(50));
            }
            Err(_) => return false,
        }
    }
}

/// The worker whose packets a record's session will see: the owner of
/// its inbound tuple, which must also own its reply tuple (with another
/// worker count than the peer's, a FULLNAT or SNAT port can name another
/// worker than the client's hash: such a session could not be found by
/// both directions, so it is refused). DR and TUN, placed by RSS, go to
/// worker 0 (see the doc's limits). An IPv6 session goes to the worker
/// `owner6` hands its client's (internal host's) packets to; a FULLNAT or
/// SNAT port of another worker's is then refused there (`sync_port_taken`).
fn owner(t: &LbTables, r: &SyncRecord, workers: usize) -> Option<usize> {
    match r {
        SyncRecord::V4(r) => owner4(t, r, workers),
        SyncRecord::V6(r) => Some(t.owners.owner6(&r.inbound, 0, workers)).filter(|&w| w < workers),
    }
}

fn owner4(t: &LbTables, r: &SessionRecord, workers: usize) -> Option<usize> {
    let inbound = t.owners.owner(&r.inbound, 0, workers);
    if matches!(r.forwarding, Forwarding::Dr | Forwarding::Tun) {
        return Some(inbound);
    }
    let outbound = t.owners.owner(&r.outbound, inbound, workers);
    (inbound == outbound && inbound < workers).then_some(inbound)
}
