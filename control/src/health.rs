//! Health checks `ferrolbctl daemon` runs against the backends of every
//! service with a `check`.
//!
//! Three layers: [`HealthState`] is the pure rise/fall state machine;
//! [`probe`] runs one TCP or HTTP check against a backend; [`HealthMonitor`]
//! runs a thread per checked backend that probes every `interval_ms`, feeds
//! the state machine and reports each transition. A thread per backend keeps
//! a hung backend from delaying the others: each probe is bounded by its own
//! `timeout_ms`.
//!
//! A backend the monitor has not seen before starts *up* (healthy until
//! proven down, as keepalived without `alpha`): starting or reloading the
//! daemon never drains a working backend; a dead one is taken out after
//! `fall` failed checks. Backends that stay in the config across a reload
//! keep their state and counters.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::api::ServiceKey;
use crate::config::{BackendConfig, CheckKind, Config, HealthCheckConfig, ServiceConfig};

/// A checked backend: the service and the backend's address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendId {
    pub service: ServiceKey,
    pub backend: SocketAddrV4,
}

impl BackendId {
    pub fn of(service: &ServiceConfig, backend: &BackendConfig) -> BackendId {
        BackendId {
            service: service.key(),
            backend: SocketAddrV4::new(backend.address, backend.port_or(service.port)),
        }
    }
}

impl fmt::Display for BackendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.service, self.backend)
    }
}

/// Everything one backend's checker needs, resolved from the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSpec {
    pub kind: CheckKind,
    /// The backend's address with `check.port` or the backend's port.
    pub target: SocketAddrV4,
    /// HTTP: the request path and the status that counts as healthy.
    pub path: String,
    pub expect_status: u16,
    pub timeout: Duration,
    pub interval: Duration,
    pub rise: u32,
    pub fall: u32,
}

impl CheckSpec {
    /// The check of `backend` in `service`. Zero durations and thresholds
    /// (refused by validation) are raised to the smallest usable value.
    pub fn new(
        service: &ServiceConfig,
        backend: &BackendConfig,
        check: &HealthCheckConfig,
    ) -> CheckSpec {
        let port = check.port.unwrap_or(backend.port_or(service.port));
        CheckSpec {
            kind: check.kind,
            target: SocketAddrV4::new(backend.address, port),
            path: check.path.clone(),
            expect_status: check.expect_status,
            timeout: Duration::from_millis(u64::from(check.timeout_ms.max(1))),
            interval: Duration::from_millis(u64::from(check.interval_ms.max(1))),
            rise: check.rise.max(1),
            fall: check.fall.max(1),
        }
    }
}

/// Every backend of every service with a `check`, with its check.
pub fn checked_backends(config: &Config) -> BTreeMap<BackendId, CheckSpec> {
    let mut out = BTreeMap::new();
    for service in &config.services {
        let Some(check) = &service.check else {
            continue;
        };
        for backend in &service.backends {
            out.insert(
                BackendId::of(service, backend),
                CheckSpec::new(service, backend, check),
            );
        }
    }
    out
}

/// A change of a backend's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Down after this many consecutive failures.
    Down { failures: u32 },
    /// Up after this many consecutive successes.
    Up { successes: u32 },
}

/// The rise/fall state machine of one backend: `fall` consecutive failures
/// take an up backend down, `rise` consecutive successes bring a down one
/// up; any other result only moves the count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthState {
    up: bool,
    /// Consecutive results that disagree with `up`.
    streak: u32,
}

impl HealthState {
    pub fn new(up: bool) -> HealthState {
        HealthState { up, streak: 0 }
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Counts one check result; returns the change it causes, if any.
    pub fn record(&mut self, ok: bool, rise: u32, fall: u32) -> Option<Change> {
        if ok == self.up {
            self.streak = 0;
            return None;
        }
        self.streak = self.streak.saturating_add(1);
        let threshold = if self.up { fall } else { rise };
        if self.streak < threshold.max(1) {
            return None;
        }
        let n = self.streak;
        self.up = ok;
        self.streak = 0;
        Some(if ok {
            Change::Up { successes: n }
        } else {
            Change::Down { failures: n }
        })
    }

    /// Forgets a partial streak (the check changed, so it counts anew).
    fn restart_streak(&mut self) {
        self.streak = 0;
    }
}

/// A transition, as reported by the monitor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthEvent {
    pub id: BackendId,
    pub change: Change,
    /// The last failure, for a backend going down.
    pub reason: Option<String>,
}

impl HealthEvent {
    pub fn is_up(&self) -> bool {
        matches!(self.change, Change::Up { .. })
    }
}

impl fmt::Display for HealthEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural =
            |n: u32, word: &str, words: &str| format!("{n} {}", if n == 1 { word } else { words });
        match self.change {
            Change::Down { failures } => {
                write!(
                    f,
                    "{} down after {}",
                    self.id,
                    plural(failures, "failure", "failures")
                )?;
                if let Some(reason) = &self.reason {
                    write!(f, " ({reason})")?;
                }
                Ok(())
            }
            Change::Up { successes } => write!(
                f,
                "{} up after {}",
                self.id,
                plural(successes, "success", "successes")
            ),
        }
    }
}

/// Runs one check; `Err` says why it failed, for the log.
pub fn probe(spec: &CheckSpec) -> Result<(), String> {
    match spec.kind {
        CheckKind::Tcp => probe_tcp(spec.target, spec.timeout),
        CheckKind::Http => probe_http(spec.target, &spec.path, spec.expect_status, spec.timeout),
    }
}

/// Success: the connection is established within `timeout`.
fn probe_tcp(target: SocketAddrV4, timeout: Duration) -> Result<(), String> {
    TcpStream::connect_timeout(&SocketAddr::V4(target), timeout)
        .map(drop)
        .map_err(|e| describe(&e, timeout))
}

/// The longest status line we read before giving up on the reply.
const MAX_STATUS_LINE: usize = 1024;

/// Success: the reply's status line carries `expect_status`, all within
/// `timeout` from the start of the connect.
fn probe_http(
    target: SocketAddrV4,
    path: &str,
    expect_status: u16,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let left = || match deadline.checked_duration_since(Instant::now()) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(format!("timed out after {} ms", timeout.as_millis())),
    };
    let mut stream = TcpStream::connect_timeout(&SocketAddr::V4(target), timeout)
        .map_err(|e| describe(&e, timeout))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: ferrolb-health\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .set_write_timeout(Some(left()?))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| describe(&e, timeout))?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    let line_end = loop {
        if let Some(end) = head.iter().position(|&b| b == b'\n') {
            break end;
        }
        if head.len() >= MAX_STATUS_LINE {
            return Err(format!(
                "no status line in the first {MAX_STATUS_LINE} bytes"
            ));
        }
        stream
            .set_read_timeout(Some(left()?))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut buf) {
            Ok(0) => return Err("connection closed before the status line".into()),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(describe(&e, timeout)),
        }
    };
    let line = String::from_utf8_lossy(&head[..line_end]);
    match status_of(line.trim_end()) {
        Some(status) if status == expect_status => Ok(()),
        Some(status) => Err(format!("status {status}, expected {expect_status}")),
        None => Err(format!(
            "not an HTTP status line: {:?}",
            truncate(&line, 80)
        )),
    }
}

/// The status code of `HTTP/1.x NNN reason`.
fn status_of(line: &str) -> Option<u16> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    let code = parts.next()?;
    let digits = code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit());
    (version.starts_with("HTTP/") && digits)
        .then(|| code.parse().ok())
        .flatten()
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// An I/O error as a short reason; timeouts name the limit.
fn describe(e: &io::Error, timeout: Duration) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            format!("timed out after {} ms", timeout.as_millis())
        }
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset".into(),
        _ => e.to_string(),
    }
}

/// One backend's health as the metrics show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendHealth {
    pub id: BackendId,
    pub up: bool,
    pub checks_ok: u64,
    pub checks_failed: u64,
}

type Notify = Arc<dyn Fn(HealthEvent) + Send + Sync>;

/// The state the checker threads write and the daemon reads.
struct Entry {
    state: HealthState,
    /// The runner allowed to write here; an old runner whose check was
    /// replaced finds another token and quits.
    token: u64,
    checks_ok: u64,
    checks_failed: u64,
}

#[derive(Default)]
struct Table(Mutex<HashMap<BackendId, Entry>>);

impl Table {
    /// The table, even if a checker thread panicked while holding it (the
    /// entries are plain counters, never left half-written).
    fn lock(&self) -> MutexGuard<'_, HashMap<BackendId, Entry>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A read-only handle on the health table, for other threads (metrics).
#[derive(Clone)]
pub struct HealthView(Arc<Table>);

impl HealthView {
    /// Every checked backend, sorted.
    pub fn snapshot(&self) -> Vec<BackendHealth> {
        let mut out: Vec<BackendHealth> = self
            .0
            .lock()
            .iter()
            .map(|(id, e)| BackendHealth {
                id: *id,
                up: e.state.is_up(),
                checks_ok: e.checks_ok,
                checks_failed: e.checks_failed,
            })
            .collect();
        out.sort_by_key(|b| b.id);
        out
    }

    /// The checked backends that are down.
    pub fn down(&self) -> HashSet<BackendId> {
        self.0
            .lock()
            .iter()
            .filter(|(_, e)| !e.state.is_up())
            .map(|(id, _)| *id)
            .collect()
    }
}

/// A running checker: dropping `_stop` ends its thread at its next wait.
struct Runner {
    spec: CheckSpec,
    _stop: mpsc::Sender<()>,
}

/// The checker threads of every checked backend.
pub struct HealthMonitor {
    table: Arc<Table>,
    runners: HashMap<BackendId, Runner>,
    notify: Notify,
    next_token: u64,
}

impl HealthMonitor {
    /// A monitor with no backends; `notify` is called (from checker
    /// threads) on every transition.
    pub fn new(notify: impl Fn(HealthEvent) + Send + Sync + 'static) -> HealthMonitor {
        HealthMonitor {
            table: Arc::default(),
            runners: HashMap::new(),
            notify: Arc::new(notify),
            next_token: 0,
        }
    }

    pub fn view(&self) -> HealthView {
        HealthView(Arc::clone(&self.table))
    }

    /// Checks exactly the backends `config` asks for: stops the checkers of
    /// backends that are gone, starts new backends up, and restarts a
    /// checker whose check changed (keeping the backend's state). Returns
    /// the problems (a thread that could not start), for the log.
    pub fn update(&mut self, config: &Config) -> Vec<String> {
        let wanted = checked_backends(config);
        self.runners.retain(|id, _| wanted.contains_key(id));
        self.table.lock().retain(|id, _| wanted.contains_key(id));
        let mut problems = Vec::new();
        for (id, spec) in wanted {
            if self.runners.get(&id).is_some_and(|r| r.spec == spec) {
                continue;
            }
            self.runners.remove(&id);
            self.next_token += 1;
            let token = self.next_token;
            {
                let mut table = self.table.lock();
                let entry = table.entry(id).or_insert(Entry {
                    state: HealthState::new(true),
                    token,
                    checks_ok: 0,
                    checks_failed: 0,
                });
                entry.token = token;
                entry.state.restart_streak();
            }
            match self.spawn(id, spec.clone(), token) {
                Ok(stop) => {
                    self.runners.insert(id, Runner { spec, _stop: stop });
                }
                Err(e) => {
                    self.table.lock().remove(&id);
                    problems.push(format!("cannot start the checker of {id}: {e}"));
                }
            }
        }
        problems
    }

    fn spawn(&self, id: BackendId, spec: CheckSpec, token: u64) -> io::Result<mpsc::Sender<()>> {
        let (stop, stopped) = mpsc::channel();
        let table = Arc::clone(&self.table);
        let notify = Arc::clone(&self.notify);
        thread::Builder::new()
            .name(format!("health {}", id.backend))
            .stack_size(128 * 1024)
            .spawn(move || check_loop(id, &spec, token, &table, &stopped, &*notify))?;
        Ok(stop)
    }
}

/// A checker thread: probe, record, report, wait for the next interval;
/// ends when its stop channel closes or its entry belongs to a newer runner.
fn check_loop(
    id: BackendId,
    spec: &CheckSpec,
    token: u64,
    table: &Table,
    stopped: &mpsc::Receiver<()>,
    notify: &(dyn Fn(HealthEvent) + Send + Sync),
) {
    let mut next = Instant::now();
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        if !matches!(stopped.recv_timeout(wait), Err(RecvTimeoutError::Timeout)) {
            return;
        }
        let started = Instant::now();
        let result = probe(spec);
        let event = {
            let mut table = table.lock();
            let Some(entry) = table.get_mut(&id).filter(|e| e.token == token) else {
                return;
            };
            if result.is_ok() {
                entry.checks_ok += 1;
            } else {
                entry.checks_failed += 1;
            }
            entry
                .state
                .record(result.is_ok(), spec.rise, spec.fall)
                .map(|change| HealthEvent {
                    id,
                    change,
                    reason: result.err(),
                })
        };
        if let Some(event) = event {
            notify(event);
        }
        next = started + spec.interval;
    }
}

#[cfg(test)]
mod tests;
