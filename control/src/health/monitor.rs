//! The checkers: one task per check on one multi-threaded tokio runtime.
//!
//! Why async rather than a thread per check: thousands of backends are
//! thousands of mostly idle checks, and a thread each (with its stack, and
//! a blocking socket per probe) does not scale to that; tasks cost a few
//! KiB and a probe that waits holds no thread. Every step of a probe runs
//! under the check's deadline (`probe.rs`), so a hung server delays only
//! its own check. Probes in flight are bounded by a semaphore sized from
//! the process's file-descriptor limit, so a wide config cannot run the
//! daemon out of descriptors; waiting for a permit is not counted against
//! the check's timeout.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;
use tokio::time::{sleep, sleep_until, Instant};

use super::probe::{self, Passed, Probers};
use super::{checked_backends, BackendId, Change, CheckId, CheckSpec, HealthEvent, HealthState};
use crate::config::Config;

/// One backend's health as the metrics show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendHealth {
    pub id: BackendId,
    pub up: bool,
    pub checks_ok: u64,
    pub checks_failed: u64,
}

/// One backend's state as the effective config needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendState {
    pub up: bool,
    /// A weight a dynamic script set, instead of the file's.
    pub weight: Option<u32>,
}

type Notify = Arc<dyn Fn(HealthEvent) + Send + Sync>;

/// The state the checks write and the daemon reads.
struct Entry {
    state: HealthState,
    /// The task allowed to write here; an old task whose check was
    /// replaced finds another token and quits.
    token: u64,
    checks_ok: u64,
    checks_failed: u64,
    weight: Option<u32>,
}

#[derive(Default)]
struct Table(Mutex<HashMap<CheckId, Entry>>);

impl Table {
    /// The table, even if a task panicked while holding it (the entries
    /// are plain counters, never left half-written).
    fn lock(&self) -> MutexGuard<'_, HashMap<CheckId, Entry>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether every check of `backend` is up.
fn backend_up(table: &HashMap<CheckId, Entry>, backend: BackendId) -> bool {
    table
        .iter()
        .filter(|(id, _)| id.backend == backend)
        .all(|(_, e)| e.state.is_up())
}

/// A read-only handle on the health table, for other threads (metrics).
#[derive(Clone)]
pub struct HealthView(Arc<Table>);

impl HealthView {
    /// Every checked backend, sorted; up while all its checks are.
    pub fn snapshot(&self) -> Vec<BackendHealth> {
        let mut out: BTreeMap<BackendId, BackendHealth> = BTreeMap::new();
        for (id, e) in self.0.lock().iter() {
            let b = out.entry(id.backend).or_insert(BackendHealth {
                id: id.backend,
                up: true,
                checks_ok: 0,
                checks_failed: 0,
            });
            b.up &= e.state.is_up();
            b.checks_ok += e.checks_ok;
            b.checks_failed += e.checks_failed;
        }
        out.into_values().collect()
    }

    /// The checked backends that are down.
    pub fn down(&self) -> HashSet<BackendId> {
        self.states()
            .into_iter()
            .filter(|(_, s)| !s.up)
            .map(|(id, _)| id)
            .collect()
    }

    /// Every checked backend's state. With several dynamic scripts, the
    /// first (in list order) that set a weight decides it.
    pub fn states(&self) -> HashMap<BackendId, BackendState> {
        let table = self.0.lock();
        let mut ids: Vec<&CheckId> = table.keys().collect();
        ids.sort();
        let mut out: HashMap<BackendId, BackendState> = HashMap::new();
        for id in ids {
            let e = &table[id];
            let s = out.entry(id.backend).or_insert(BackendState {
                up: true,
                weight: None,
            });
            s.up &= e.state.is_up();
            s.weight = s.weight.or(e.weight);
        }
        out
    }
}

/// What every check task shares.
struct Shared {
    table: Arc<Table>,
    notify: Notify,
    probers: Probers,
    permits: Semaphore,
}

/// A running check; dropping it stops its task.
struct Runner {
    spec: CheckSpec,
    task: AbortHandle,
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The checks of every checked backend.
pub struct HealthMonitor {
    runtime: Runtime,
    shared: Arc<Shared>,
    runners: HashMap<CheckId, Runner>,
    next_token: u64,
}

impl HealthMonitor {
    /// A monitor with no checks; `notify` is called (from the runtime's
    /// threads) on every change.
    pub fn new(notify: impl Fn(HealthEvent) + Send + Sync + 'static) -> io::Result<HealthMonitor> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("health")
            .enable_all()
            .build()?;
        Ok(HealthMonitor {
            runtime,
            shared: Arc::new(Shared {
                table: Arc::default(),
                notify: Arc::new(notify),
                probers: Probers::default(),
                permits: Semaphore::new(probe_permits()),
            }),
            runners: HashMap::new(),
            next_token: 0,
        })
    }

    pub fn view(&self) -> HealthView {
        HealthView(Arc::clone(&self.shared.table))
    }

    /// The runtime, for other short async jobs of the daemon (notify
    /// commands).
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    /// Checks exactly what `config` asks for: stops the checks that are
    /// gone, starts new ones (up, or down with `alpha`), and restarts a
    /// check that changed (keeping its state). Returns the problems, for
    /// the log (none today: tasks always start).
    pub fn update(&mut self, config: &Config) -> Vec<String> {
        let wanted = checked_backends(config);
        self.runners.retain(|id, _| wanted.contains_key(id));
        self.shared
            .table
            .lock()
            .retain(|id, _| wanted.contains_key(id));
        for (id, spec) in wanted {
            if self.runners.get(&id).is_some_and(|r| r.spec == spec) {
                continue;
            }
            self.runners.remove(&id);
            self.next_token += 1;
            let token = self.next_token;
            {
                let mut table = self.shared.table.lock();
                let entry = table.entry(id).or_insert(Entry {
                    state: HealthState::new(!spec.alpha),
                    token,
                    checks_ok: 0,
                    checks_failed: 0,
                    weight: None,
                });
                entry.token = token;
                entry.state.restart_streak();
            }
            let shared = Arc::clone(&self.shared);
            let task = self
                .runtime
                .spawn(check_loop(id, spec.clone(), token, shared))
                .abort_handle();
            self.runners.insert(id, Runner { spec, task });
        }
        Vec::new()
    }

    #[cfg(test)]
    pub(crate) fn checks_running(&self) -> usize {
        self.runners.len()
    }
}

/// Probes in flight at most: half the descriptors we may open (after
/// raising the soft limit to the hard one), within 16..=4096.
fn probe_permits() -> usize {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let soft = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    };
    usize::try_from(soft / 2).unwrap_or(4096).clamp(16, 4096)
}

/// A random delay up to `max` (spreads the first checks; no security).
fn warmup_delay(max: Duration, id: &CheckId) -> Duration {
    use std::hash::BuildHasher;
    if max.is_zero() {
        return max;
    }
    let h = std::collections::hash_map::RandomState::new().hash_one(id);
    let fraction = (h >> 11) as f64 / (1u64 << 53) as f64;
    max.mul_f64(fraction)
}

/// A check's task: wait for the warmup, then probe (with retries), record,
/// report, and wait for the next interval, until aborted or replaced.
async fn check_loop(id: CheckId, spec: CheckSpec, token: u64, shared: Arc<Shared>) {
    sleep(warmup_delay(spec.warmup, &id)).await;
    let mut next = Instant::now();
    loop {
        sleep_until(next).await;
        let started = Instant::now();
        let was_up = {
            let table = shared.table.lock();
            match table.get(&id).filter(|e| e.token == token) {
                Some(e) => e.state.is_up(),
                None => return,
            }
        };
        let result = probe_with_retries(&spec, &shared, was_up).await;
        let events = record(id, &spec, token, &shared, result);
        match events {
            None => return,
            Some(events) => events.into_iter().for_each(|e| (shared.notify)(e)),
        }
        next = (started + spec.interval).max(Instant::now());
    }
}

/// One check: a probe, and while the check is up, up to `retry` more,
/// `retry_delay` apart, if it fails (keepalived's `retry`).
async fn probe_with_retries(spec: &CheckSpec, shared: &Shared, up: bool) -> Result<Passed, String> {
    let mut result = probe_once(spec, shared).await;
    let retries = if up { spec.retry } else { 0 };
    for _ in 0..retries {
        if result.is_ok() {
            return result;
        }
        sleep(spec.retry_delay).await;
        result = probe_once(spec, shared).await;
    }
    match result {
        Err(e) if retries > 0 => Err(format!(
            "{e}, after {}",
            super::plural(retries, "retry", "retries")
        )),
        other => other,
    }
}

async fn probe_once(spec: &CheckSpec, shared: &Shared) -> Result<Passed, String> {
    let Ok(_permit) = shared.permits.acquire().await else {
        return Err("the daemon is stopping".into());
    };
    // The probe keeps its own deadline; this one only guards against a
    // probe that would not (a second of slack).
    let limit = spec.timeout + Duration::from_secs(1);
    match tokio::time::timeout(limit, probe::probe(spec, &shared.probers)).await {
        Ok(result) => result,
        Err(_) => Err(format!("timed out after {} ms", spec.timeout.as_millis())),
    }
}

/// Records a result; returns the events to report, or None when this task
/// no longer owns the check.
fn record(
    id: CheckId,
    spec: &CheckSpec,
    token: u64,
    shared: &Shared,
    result: Result<Passed, String>,
) -> Option<Vec<HealthEvent>> {
    let mut table = shared.table.lock();
    let backend_was_up = backend_up(&table, id.backend);
    let entry = table.get_mut(&id).filter(|e| e.token == token)?;
    let ok = result.is_ok();
    if ok {
        entry.checks_ok += 1;
    } else {
        entry.checks_failed += 1;
    }
    let mut changes = Vec::new();
    if let Some(change) = entry.state.record(ok, spec.rise, spec.fall) {
        changes.push(change);
    }
    if let Ok(weight) = &result {
        if *weight != entry.weight {
            entry.weight = *weight;
            changes.push(Change::Weight { weight: *weight });
        }
    }
    let backend_is_up = backend_up(&table, id.backend);
    let reason = result.err();
    let events = changes
        .into_iter()
        .map(|change| HealthEvent {
            id: id.backend,
            kind: spec.kind,
            check: id.index,
            change,
            reason: if change.is_transition() || matches!(change, Change::Failing { .. }) {
                reason.clone()
            } else {
                None
            },
            backend: (backend_was_up != backend_is_up && change.is_transition())
                .then_some(backend_is_up),
        })
        .collect();
    Some(events)
}
