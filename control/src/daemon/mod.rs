//! `ferrolbctl daemon`: keeps the appliance's config in step with a file
//! and with the health of the backends, and serves metrics.
//!
//! One loop owns the state. It applies the *effective* config (the file's,
//! with every backend the health checks hold as down at weight 0), polls
//! the file for changes, and hears of health transitions from the checker
//! threads. Requests to the appliance go through a requester thread, so a
//! slow appliance never holds up the loop or stopping; one request is in
//! flight at a time, and an apply always sends the latest state, so one
//! apply covers every transition since the last. `docs/health-and-metrics.md`
//! describes the behaviour for users.

mod announce;
mod effective;
mod notify;
mod quorum;
mod transport;
mod watch;

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::api::{ChangeReply, HelloReply, ListReply, Op, StatsReply};
use crate::config::{Config, ConfigErrors};
use crate::health::{Change, HealthEvent, HealthMonitor, HealthView};
use crate::log::Level;
use crate::metrics::{self, DaemonCounters, MetricsServer};

pub(crate) use crate::log::Logger;
pub use announce::{bird_static, live_vips};
pub use effective::{effective, to_toml};
pub use transport::{call, Appliance, CallError, UnixSocket};

/// Why the daemon could not start.
#[derive(Debug)]
pub enum DaemonError {
    /// The config file does not load (every problem, with FILE:LINE).
    Config(ConfigErrors),
    /// The metrics address cannot be listened on.
    Metrics {
        address: SocketAddr,
        error: io::Error,
    },
    /// A thread could not be started.
    Thread(io::Error),
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::Config(e) => write!(f, "{e}"),
            DaemonError::Metrics { address, error } => {
                write!(f, "cannot serve metrics on {address}: {error}")
            }
            DaemonError::Thread(e) => write!(f, "cannot start a thread: {e}"),
        }
    }
}

impl std::error::Error for DaemonError {}

/// Runs the daemon for the config file `config` until `stop` is set.
/// `socket` overrides the file's `[control] socket`. Returns an error only
/// when it cannot start; later problems (a bad file, an unreachable or
/// refusing appliance) are logged to stderr and survived.
pub fn run(config: &Path, socket: Option<&Path>, stop: Arc<AtomicBool>) -> Result<(), DaemonError> {
    run_with(config, socket, &stop, Options::default())
}

/// How often the daemon does things, and how long it waits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    /// The longest the loop sleeps: how soon it notices `stop`.
    pub tick: Duration,
    pub file_poll: Duration,
    /// How often the appliance is asked `hello`, to notice a restart.
    pub hello_every: Duration,
    /// Retry delay after an apply got no answer: doubles up to the max.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub apply_timeout: Duration,
    pub scrape_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            tick: Duration::from_millis(50),
            file_poll: Duration::from_secs(1),
            hello_every: Duration::from_secs(5),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
            apply_timeout: Duration::from_secs(30),
            scrape_timeout: Duration::from_secs(3),
        }
    }
}

pub(crate) struct Options {
    pub timing: Timing,
    pub connect: fn(&Path) -> Arc<dyn Appliance>,
    pub log: Logger,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timing: Timing::default(),
            connect: |path| Arc::new(UnixSocket::new(path)),
            log: Logger::stderr(),
        }
    }
}

pub(crate) fn run_with(
    path: &Path,
    socket: Option<&Path>,
    stop: &AtomicBool,
    opts: Options,
) -> Result<(), DaemonError> {
    let loaded = Config::load(path).map_err(DaemonError::Config)?;
    let socket_path = socket
        .map(Path::to_owned)
        .unwrap_or_else(|| loaded.config.control.socket.clone());
    let (events_tx, events) = mpsc::channel();
    let health_tx = events_tx.clone();
    let monitor = HealthMonitor::new(move |e| {
        let _ = health_tx.send(Event::Health(e));
    })
    .map_err(DaemonError::Thread)?;
    let (jobs, jobs_rx) = mpsc::channel();
    let apply_timeout = opts.timing.apply_timeout;
    thread::Builder::new()
        .name("apply".into())
        .spawn(move || requester(&jobs_rx, &events_tx, apply_timeout))
        .map_err(DaemonError::Thread)?;
    let now = Instant::now();
    let runtime = monitor.handle();
    let mut daemon = Daemon {
        runtime,
        quorum: quorum::QuorumTracker::default(),
        shared: Arc::new(Shared {
            appliance: Mutex::new((opts.connect)(&socket_path)),
            counters: Mutex::default(),
        }),
        view: monitor.view(),
        monitor,
        path: path.to_owned(),
        socket_override: socket.map(Path::to_owned),
        socket: socket_path,
        watch: watch::FileWatch::new(path, &loaded.source.text),
        config: Config::default(),
        metrics: None,
        jobs,
        in_flight: false,
        dirty: true,
        retry_at: now,
        backoff: opts.timing.backoff_min,
        next_poll: now + opts.timing.file_poll,
        next_hello: now,
        appliance_started: None,
        answering: true,
        bgp: None,
        in_service: false,
        applied_live: BTreeSet::new(),
        sending_live: BTreeSet::new(),
        wanted_live: BTreeSet::new(),
        opts,
    };
    daemon.install(loaded.config, true)?;
    let checked = daemon.view.snapshot().len();
    daemon.log(format_args!(
        "daemon: started: config {}, appliance {}, checking {checked} {}{}",
        daemon.path.display(),
        daemon.socket.display(),
        if checked == 1 { "backend" } else { "backends" },
        match &daemon.metrics {
            Some(m) => format!(", metrics on http://{}/metrics", m.local_addr()),
            None => String::new(),
        }
    ));
    daemon.run(stop, &events);
    daemon.withdraw_on_stop();
    daemon.log("daemon: stopping; the appliance keeps its config and forwarding");
    Ok(())
}

/// What the loop hears about.
enum Event {
    Health(HealthEvent),
    Applied(Result<ChangeReply, CallError>),
    Hello(Result<HelloReply, CallError>),
}

/// What the requester thread is asked to do.
enum Job {
    Apply {
        appliance: Arc<dyn Appliance>,
        config: String,
        source: String,
    },
    Hello {
        appliance: Arc<dyn Appliance>,
    },
}

/// Runs jobs one at a time until the loop drops its end.
fn requester(jobs: &Receiver<Job>, events: &Sender<Event>, timeout: Duration) {
    for job in jobs {
        let event = match job {
            Job::Apply {
                appliance,
                config,
                source,
            } => {
                let op = Op::Apply {
                    config,
                    dry_run: false,
                    source: Some(source),
                };
                Event::Applied(call(&*appliance, &op, timeout))
            }
            Job::Hello { appliance } => Event::Hello(call(&*appliance, &Op::Hello, timeout)),
        };
        if events.send(event).is_err() {
            return;
        }
    }
}

/// What the loop shares with the metrics thread.
struct Shared {
    appliance: Mutex<Arc<dyn Appliance>>,
    counters: Mutex<DaemonCounters>,
}

impl Shared {
    fn appliance(&self) -> Arc<dyn Appliance> {
        Arc::clone(&self.appliance.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn counters(&self) -> MutexGuard<'_, DaemonCounters> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Daemon {
    opts: Options,
    /// The health runtime, for notify commands.
    runtime: tokio::runtime::Handle,
    /// Which services have quorum.
    quorum: quorum::QuorumTracker,
    path: PathBuf,
    socket_override: Option<PathBuf>,
    socket: PathBuf,
    /// The file's config (before the health overlay).
    config: Config,
    watch: watch::FileWatch,
    monitor: HealthMonitor,
    view: HealthView,
    shared: Arc<Shared>,
    metrics: Option<MetricsServer>,
    jobs: Sender<Job>,
    /// A request is with the requester thread.
    in_flight: bool,
    /// The effective config changed since the last apply was sent.
    dirty: bool,
    retry_at: Instant,
    backoff: Duration,
    next_poll: Instant,
    next_hello: Instant,
    /// When the appliance started, by its `hello` uptime: a later start
    /// means it restarted and lost what we applied.
    appliance_started: Option<Instant>,
    /// Whether the last request got an answer (to log changes only).
    answering: bool,
    /// Tells BIRD which VIPs to announce (`[bgp]`).
    bgp: Option<(crate::config::BgpConfig, announce::Announcer)>,
    /// The appliance took our config and has not stopped answering since:
    /// only then are VIPs announced.
    in_service: bool,
    /// The VIPs with a live backend in the config the appliance has, in
    /// the apply on its way, and in the latest effective config.
    applied_live: BTreeSet<Ipv4Addr>,
    sending_live: BTreeSet<Ipv4Addr>,
    wanted_live: BTreeSet<Ipv4Addr>,
}

impl Daemon {
    fn log(&self, message: impl fmt::Display) {
        self.opts.log.log(message);
    }

    fn warn(&self, message: impl fmt::Display) {
        self.opts.log.warn(message);
    }

    /// A check's result: a backend going down is a warning, one coming up
    /// a notice, steps below rise/fall plain info; with the backend and
    /// its new state as fields.
    fn log_health(&self, e: &HealthEvent) {
        let (level, state) = match (e.backend, e.is_up()) {
            (Some(false), _) => (Level::Warning, "down"),
            (Some(true), _) => (Level::Notice, "up"),
            (None, false) => (Level::Info, "failing"),
            (None, true) => (Level::Info, "recovering"),
        };
        self.opts.log.event(
            level,
            format_args!("health: {e}"),
            &[("backend", &e.id), ("state", &state)],
        );
    }

    fn run(&mut self, stop: &AtomicBool, events: &Receiver<Event>) {
        while !stop.load(Ordering::SeqCst) {
            match events.recv_timeout(self.opts.timing.tick) {
                Ok(event) => self.handle(event),
                Err(RecvTimeoutError::Timeout) => {}
                // The monitor holds a sender as long as we live.
                Err(RecvTimeoutError::Disconnected) => return,
            }
            // Every transition that arrived meanwhile joins the same apply.
            while let Ok(event) = events.try_recv() {
                self.handle(event);
            }
            let now = Instant::now();
            if now >= self.next_poll {
                self.poll_file();
                self.next_poll = now + self.opts.timing.file_poll;
            }
            self.dispatch(now);
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Health(e) => {
                self.log_health(&e);
                if let Some(up) = e.backend {
                    self.notify_backend(&e, up);
                }
                // Steps below rise/fall are only logged.
                if e.change.is_transition() || matches!(e.change, Change::Weight { .. }) {
                    self.refresh_quorum();
                    self.mark_dirty();
                }
            }
            Event::Applied(result) => {
                self.in_flight = false;
                self.applied(result);
            }
            Event::Hello(result) => {
                self.in_flight = false;
                self.hello(result);
            }
        }
    }

    /// Runs the backend's `notify_up` or `notify_down`.
    fn notify_backend(&self, e: &HealthEvent, up: bool) {
        let found = self.config.services.iter().find_map(|s| {
            s.backends
                .iter()
                .find(|b| crate::health::BackendId::of(s, b) == e.id)
        });
        let Some(backend) = found else {
            return;
        };
        let (event, command) = if up {
            ("up", &backend.notify_up)
        } else {
            ("down", &backend.notify_down)
        };
        let env = vec![
            ("FERROLB_EVENT", event.to_string()),
            ("FERROLB_SERVICE", e.id.service.to_string()),
            ("FERROLB_BACKEND", e.id.backend.ip().to_string()),
            ("FERROLB_BACKEND_PORT", e.id.backend.port().to_string()),
            ("FERROLB_REASON", e.reason.clone().unwrap_or_default()),
        ];
        notify::run(
            &self.runtime,
            &self.opts.log,
            format!("{} {event}", e.id),
            command,
            env,
            notify::NOTIFY_TIMEOUT,
        );
    }

    /// Brings the services' quorum up to date with health; logs each
    /// change and runs its `quorum_up`/`quorum_down`.
    fn refresh_quorum(&mut self) {
        for change in self.quorum.update(&self.config, &self.view.states()) {
            let Some(service) = self
                .config
                .services
                .iter()
                .find(|s| s.key() == change.service)
            else {
                continue;
            };
            let sorry = match &service.sorry_server {
                Some(s) => format!(
                    "; sorry server {}:{} {}",
                    s.address,
                    s.port.unwrap_or(service.port),
                    if change.up { "out of use" } else { "in use" }
                ),
                None => String::new(),
            };
            self.log(format_args!("quorum: {change}{sorry}"));
            let (event, command) = if change.up {
                ("quorum_up", &service.quorum_up)
            } else {
                ("quorum_down", &service.quorum_down)
            };
            let env = vec![
                ("FERROLB_EVENT", event.to_string()),
                ("FERROLB_SERVICE", change.service.to_string()),
                ("FERROLB_LIVE_WEIGHT", change.live.to_string()),
                ("FERROLB_QUORUM", service.quorum.to_string()),
            ];
            notify::run(
                &self.runtime,
                &self.opts.log,
                format!("{} {event}", change.service),
                command,
                env,
                notify::NOTIFY_TIMEOUT,
            );
        }
    }

    fn mark_dirty(&mut self) {
        self.dirty = true;
        self.shared.counters().apply_pending = true;
        self.follow_health();
    }

    /// Sends the next request, if none is in flight: a pending apply when
    /// its retry time has come, else a due `hello`.
    fn dispatch(&mut self, now: Instant) {
        if self.in_flight {
            return;
        }
        let appliance = self.shared.appliance();
        let job = if self.dirty && now >= self.retry_at {
            self.dirty = false;
            let config = effective(&self.config, &self.view.states(), &self.quorum);
            self.sending_live = live_vips(&config);
            match to_toml(&config) {
                Ok(config) => Job::Apply {
                    appliance,
                    config,
                    source: self.path.display().to_string(),
                },
                Err(e) => {
                    self.warn(format_args!("apply: {e}"));
                    return;
                }
            }
        } else if now >= self.next_hello {
            self.next_hello = now + self.opts.timing.hello_every;
            Job::Hello { appliance }
        } else {
            return;
        };
        if self.jobs.send(job).is_ok() {
            self.in_flight = true;
        } else {
            self.warn("daemon: the request thread is gone; cannot reach the appliance");
        }
    }

    fn applied(&mut self, result: Result<ChangeReply, CallError>) {
        let now = Instant::now();
        match result {
            Ok(reply) => {
                self.answered();
                self.in_service = true;
                self.applied_live.clone_from(&self.sending_live);
                self.announce();
                self.backoff = self.opts.timing.backoff_min;
                let pending = self.dirty;
                let mut counters = self.shared.counters();
                counters.applies_ok += 1;
                counters.apply_pending = pending;
                drop(counters);
                // Learn the appliance's start time right after it took
                // the config, so that a restart is noticed.
                self.next_hello = now;
                self.log(apply_summary(&reply));
            }
            Err(e) if !e.is_transient() => {
                self.answered();
                self.backoff = self.opts.timing.backoff_min;
                self.shared.counters().applies_refused += 1;
                self.warn(format_args!(
                    "apply: {} {e}; keeping the previous config there until the next change",
                    self.socket.display()
                ));
            }
            Err(e) => {
                self.answering = false;
                self.out_of_service();
                self.shared.counters().applies_failed += 1;
                self.warn(format_args!(
                    "apply: {} {e}; retrying in {} ms",
                    self.socket.display(),
                    self.backoff.as_millis()
                ));
                self.dirty = true;
                self.retry_at = now + self.backoff;
                self.backoff = (self.backoff * 2).min(self.opts.timing.backoff_max);
            }
        }
    }

    fn answered(&mut self) {
        if !self.answering {
            self.answering = true;
            self.log(format_args!(
                "daemon: the appliance at {} answers again",
                self.socket.display()
            ));
        }
    }

    fn hello(&mut self, result: Result<HelloReply, CallError>) {
        let reply = match result {
            Ok(reply) => reply,
            Err(e) => {
                if e.is_transient() {
                    self.out_of_service();
                }
                if self.answering && e.is_transient() {
                    self.answering = false;
                    self.warn(format_args!("daemon: {} {e}", self.socket.display()));
                }
                return;
            }
        };
        self.answered();
        if !self.in_service && self.bgp.is_some() && !self.dirty {
            // It answers again after a gap: apply, so that it is known to
            // have our config before anything is announced.
            self.mark_dirty();
            self.retry_at = Instant::now();
        }
        let Some(started) = Instant::now().checked_sub(Duration::from_millis(reply.uptime_ms))
        else {
            return;
        };
        // Uptime is read after some delay; a second of slack.
        let restarted = self
            .appliance_started
            .is_some_and(|before| started > before + Duration::from_secs(1));
        if restarted {
            self.log(format_args!(
                "daemon: the appliance restarted (up {} ms, generation {}); applying again",
                reply.uptime_ms, reply.generation
            ));
            self.mark_dirty();
            self.retry_at = Instant::now();
        }
        if self.appliance_started.is_none() || restarted {
            self.appliance_started = Some(started);
        }
    }

    fn poll_file(&mut self) {
        let text = match self.watch.poll() {
            watch::Poll::Unchanged => return,
            watch::Poll::Unreadable(e) => {
                self.warn(format_args!(
                    "reload: cannot read {}: {e}; keeping the previous config",
                    self.path.display()
                ));
                return;
            }
            watch::Poll::Changed(text) => text,
        };
        match Config::parse(&self.path, text) {
            Err(errors) => {
                self.shared.counters().reloads_invalid += 1;
                self.warn(format_args!(
                    "reload: {} changed but does not load ({} {}); keeping the previous config",
                    self.path.display(),
                    errors.0.len(),
                    if errors.0.len() == 1 {
                        "problem"
                    } else {
                        "problems"
                    }
                ));
                for e in &errors.0 {
                    self.warn(format_args!("reload: {e}"));
                }
            }
            Ok(loaded) => {
                self.shared.counters().reloads_ok += 1;
                self.log(format_args!(
                    "reload: {} changed; applying it",
                    self.path.display()
                ));
                // Only the first install can fail (metrics bind at start).
                let _ = self.install(loaded.config, false);
            }
        }
    }

    /// Makes `config` the file's config: checkers, socket and metrics
    /// follow it, and it is applied at once. At `start`, a metrics address
    /// that cannot be bound is an error; later it is logged.
    fn install(&mut self, config: Config, start: bool) -> Result<(), DaemonError> {
        for problem in self.monitor.update(&config) {
            self.warn(format_args!("health: {problem}"));
        }
        if self.socket_override.is_none() && config.control.socket != self.socket {
            self.socket.clone_from(&config.control.socket);
            self.log(format_args!(
                "reload: the appliance is now at {}",
                self.socket.display()
            ));
            *self
                .shared
                .appliance
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = (self.opts.connect)(&self.socket);
            self.appliance_started = None;
        }
        let wanted = config.daemon.metrics;
        let same = match (&self.metrics, wanted) {
            // Port 0 (any) is satisfied by the port we got.
            (Some(m), Some(a)) => a.port() == 0 || m.local_addr() == a,
            (None, None) => true,
            _ => false,
        };
        if !same {
            self.metrics = None;
            if let Some(address) = wanted {
                match self.serve_metrics(address) {
                    Ok(server) => {
                        if !start {
                            self.log(format_args!(
                                "reload: metrics now on http://{}/metrics",
                                server.local_addr()
                            ));
                        }
                        self.metrics = Some(server);
                    }
                    Err(error) if start => return Err(DaemonError::Metrics { address, error }),
                    Err(error) => self.warn(format_args!(
                        "reload: cannot serve metrics on {address}: {error}"
                    )),
                }
            }
        }
        self.follow_bgp(config.bgp.clone())?;
        self.config = config;
        self.refresh_quorum();
        self.mark_dirty();
        self.retry_at = Instant::now();
        self.backoff = self.opts.timing.backoff_min;
        Ok(())
    }

    fn serve_metrics(&self, address: SocketAddr) -> io::Result<MetricsServer> {
        let shared = Arc::clone(&self.shared);
        let view = self.view.clone();
        let timeout = self.opts.timing.scrape_timeout;
        MetricsServer::start(address, move || {
            let appliance = shared.appliance();
            let list = call::<ListReply>(
                &*appliance,
                &Op::List {
                    stats: true,
                    rate: false,
                },
                timeout,
            );
            let replies = list.ok().and_then(|list| {
                call::<StatsReply>(&*appliance, &Op::Stats, timeout)
                    .ok()
                    .map(|stats| (list, stats))
            });
            let counters = *shared.counters();
            metrics::render(
                replies.as_ref().map(|(l, s)| (l, s)),
                &view.snapshot(),
                &counters,
            )
        })
    }
}

/// One line for an accepted apply: the generation and the changes.
fn apply_summary(reply: &ChangeReply) -> String {
    if !reply.applied || reply.changes.is_empty() {
        return format!(
            "apply: no change; the appliance runs generation {}",
            reply.generation
        );
    }
    // Bounded: a big apply has tens of thousands of diff lines.
    format!(
        "apply: generation {}, {}",
        reply.generation,
        crate::ops::summary(&reply.changes)
    )
}

#[cfg(test)]
mod tests;
