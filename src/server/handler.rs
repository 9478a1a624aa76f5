//! Answers each control op from the running appliance.
//!
//! Changes go one at a time (a mutex held only by control threads, never by
//! a worker): the op is applied to a copy of the running config
//! (`control::ops`), the copy is validated like a file and compiled into
//! tables as the successor of the running ones (so ids, and with them every
//! session's backend, survive), published, and the reply waits until every
//! worker runs it. Before compiling, every worker is asked which ids its
//! sessions still refer to, so the ids of drained deleted entries are
//! freed and reused (`LbTables::build_next_reclaiming`). A failure anywhere leaves the running config untouched.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use control::api::{
    ChangeReply, ConfigReply, ErrorCode, HelloReply, ListReply, NeighbourStatus, NeighboursReply,
    Op, Request, Response, RouteStatus, RoutesReply, SessionsReply, StatsReply, WorkerStatus,
    DEFAULT_SESSION_LIMIT, MAX_SESSION_LIMIT, PROTOCOL_VERSION,
};
use control::config::{Config, InterfaceConfig};
use control::ops::{self, Flush};
use dataplane::dpdk::Port;
use dataplane::live::LiveTables;
use dataplane::tables::{FlushRequest, IdRefs, LbTables};
use dataplane::worker::{Answer, Query, WorkerShared};

use super::socket::{Emit, Handler, Peer};
use super::views::{self, RateSampler, Totals};
use super::watch;
use crate::steering::{self, Steering};

/// How long a worker may take to answer a query or adopt new tables.
const WORKER_TIMEOUT: Duration = Duration::from_secs(2);

/// What the running load balancer is: its config and the tables compiled
/// from it, and the generation workers are told to run.
pub(super) struct Running {
    pub(super) config: Config,
    pub(super) tables: Arc<LbTables>,
    pub(super) generation: u64,
    /// The node's VRRP state: which `[vrrp]` addresses it holds.
    pub(super) vrrp: super::vrrp::RoleState,
}

/// The load-balancing side; absent when the appliance runs L2 forwarding.
pub struct Balancer<'a> {
    pub(super) running: Mutex<Running>,
    live: &'a LiveTables,
    /// Port MACs as the devices report them (the config may override).
    device_macs: Vec<[u8; 6]>,
    /// rte_flow rules for replies to local ports; taken after `running`.
    steering: Option<Mutex<Steering<'a>>>,
}

impl<'a> Balancer<'a> {
    /// `held`: the `[vrrp]` addresses the tables were built as holding.
    pub fn new(
        config: Config,
        tables: Arc<LbTables>,
        live: &'a LiveTables,
        device_macs: Vec<[u8; 6]>,
        steering: Option<Steering<'a>>,
        held: std::collections::BTreeSet<std::net::Ipv4Addr>,
    ) -> Balancer<'a> {
        let generation = live.generation();
        let vrrp = super::vrrp::RoleState::new(&config, held);
        Balancer {
            running: Mutex::new(Running {
                config,
                tables,
                generation,
                vrrp,
            }),
            live,
            device_macs,
            steering: steering.map(Mutex::new),
        }
    }
}

/// Everything the control socket answers from.
pub struct ApplianceHandler<'a, 'eal> {
    pub started: Instant,
    pub version: &'static str,
    pub cores: Vec<usize>,
    pub workers: &'a [WorkerShared],
    pub ports: &'a [Port<'eal>],
    /// The config the appliance started with (for L2 forwarding, which
    /// takes no changes).
    pub config: Config,
    pub balancer: Option<Balancer<'a>>,
    pub rates: Mutex<RateSampler>,
    /// The session-sync thread's counters, when `[sync]` is on.
    pub sync: Option<&'a crate::sync::SyncCounters>,
}

impl Handler for ApplianceHandler<'_, '_> {
    fn handle(&self, request: Request, peer: &Peer, emit: Emit<'_>) -> Response {
        let op = request.op;
        match &op {
            Op::Hello => Response::ok(&HelloReply {
                version: self.version.to_string(),
                protocol: PROTOCOL_VERSION,
                workers: self.workers.len(),
                generation: self.generation(),
                uptime_ms: self.started.elapsed().as_millis() as u64,
            }),
            Op::Stats => Response::ok(&self.stats()),
            Op::GetConfig => self.get_config(),
            Op::List { stats, rate } => Response::ok(&self.list(*stats, *rate)),
            Op::Sessions { filter, limit } => self.sessions(filter, *limit),
            Op::Routes => Response::ok(&self.routes()),
            Op::Neighbours => Response::ok(&self.neighbours()),
            Op::Zero { service } => Response::ok(&self.zero(*service)),
            Op::Trace {
                filter,
                count,
                port,
                timeout_ms,
            } => {
                let request = watch::WatchRequest {
                    filter: filter.as_deref(),
                    count: *count,
                    port: port.as_deref(),
                    timeout_ms: *timeout_ms,
                };
                self.watch(false, &request, None)
            }
            Op::Capture {
                port,
                filter,
                count,
                timeout_ms,
                stream,
            } => {
                let request = watch::WatchRequest {
                    filter: filter.as_deref(),
                    count: *count,
                    port: Some(port.as_str()),
                    timeout_ms: *timeout_ms,
                };
                self.watch(true, &request, stream.then_some(emit))
            }
            Op::Explain { proto, src, dst } => match &self.balancer {
                None => Response::error(ErrorCode::InvalidRequest, "ferrolb runs L2 forwarding"),
                Some(b) => watch::explain(self.workers, &b.snapshot().0, *proto, *src, *dst),
            },
            _ => match &self.balancer {
                None => Response::error(
                    ErrorCode::NeedsRestart,
                    "ferrolb runs L2 forwarding (the config has no [[interface]]); \
                     load balancing needs a restart with interfaces",
                ),
                Some(b) => self.change(b, &op, peer),
            },
        }
    }
}

impl ApplianceHandler<'_, '_> {
    /// `trace` (or `capture`): see `watch.rs`.
    fn watch(
        &self,
        capture: bool,
        request: &watch::WatchRequest<'_>,
        emit: Option<Emit<'_>>,
    ) -> Response {
        let Some(b) = &self.balancer else {
            return Response::error(
                ErrorCode::InvalidRequest,
                "ferrolb runs L2 forwarding: there is no pipeline to trace or capture",
            );
        };
        let cx = watch::WatchCx {
            workers: self.workers,
            port_names: self.config.ports.iter().map(|p| p.name.clone()).collect(),
            tables: b.snapshot().0,
        };
        match capture {
            true => watch::capture(&cx, request, emit),
            false => watch::trace(&cx, request),
        }
    }

    fn generation(&self) -> u64 {
        self.balancer.as_ref().map_or(0, |b| b.live.generation())
    }

    fn get_config(&self) -> Response {
        let (config, generation) = match &self.balancer {
            Some(b) => {
                let r = lock(&b.running);
                (r.config.clone(), r.generation)
            }
            None => (self.config.clone(), 0),
        };
        match toml::to_string(&config) {
            Ok(text) => Response::ok(&ConfigReply {
                generation,
                config: text,
            }),
            Err(e) => Response::error(ErrorCode::Internal, format!("writing the config: {e}")),
        }
    }

    /// Applies one change op (or a whole config) and waits for the workers.
    /// Every applied change is logged once, on one bounded audit line.
    fn change(&self, b: &Balancer<'_>, op: &Op, peer: &Peer) -> Response {
        let mut running = lock(&b.running);
        let (config, flush, dry_run) = match op {
            Op::Apply {
                config,
                dry_run,
                source,
            } => {
                let name = source.as_deref().unwrap_or("<apply>");
                let loaded = match Config::parse(Path::new(name), config.clone()) {
                    Ok(l) => l,
                    Err(errors) => {
                        return Response::error(
                            ErrorCode::InvalidConfig,
                            format!("nothing changed:\n{errors}"),
                        )
                    }
                };
                let restart = ops::needs_restart(&running.config, &loaded.config);
                if !restart.is_empty() {
                    return Response::error(
                        ErrorCode::NeedsRestart,
                        format!("nothing changed: {}", restart.join("; ")),
                    );
                }
                (loaded.config, Flush::default(), *dry_run)
            }
            _ => {
                let change = match ops::apply_op(&running.config, op) {
                    Ok(c) => c,
                    Err(e) => return Response::error(e.code, e.message),
                };
                if let Err(errors) = ops::validate(&change.config) {
                    return Response::error(
                        ErrorCode::InvalidConfig,
                        format!("nothing changed:\n{errors}"),
                    );
                }
                (change.config, change.flush, false)
            }
        };
        let changes = ops::diff(&running.config, &config);
        let flushing = !flush.services.is_empty() || !flush.backends.is_empty();
        if dry_run || (changes.is_empty() && !flushing) {
            return Response::ok(&ChangeReply {
                generation: running.generation,
                applied: false,
                changes,
                adopted_us: None,
            });
        }
        let published = Instant::now();
        let generation = match self.publish(b, &mut running, config, &flush) {
            Ok(g) => g,
            Err(e) => {
                return Response::error(ErrorCode::InvalidConfig, format!("nothing changed: {e}"))
            }
        };
        drop(running);
        crate::log().event(
            control::log::Level::Notice,
            audit_line(generation, peer, op, &changes, &flush),
            &[
                ("generation", &generation),
                ("uid", &peer.uid),
                ("pid", &peer.pid),
                ("op", &op.name()),
            ],
        );
        let adopted = self.wait_for_workers(generation);
        Response::ok(&ChangeReply {
            generation,
            applied: true,
            changes,
            adopted_us: adopted.then(|| published.elapsed().as_micros() as u64),
        })
    }

    /// Compiles `config` (with the `[vrrp]` addresses `running` does not
    /// hold on standby) as the successor of the running tables, publishes
    /// it and makes it the running config; returns its generation. Called
    /// with `running` locked, so changes publish in order.
    pub(super) fn publish(
        &self,
        b: &Balancer<'_>,
        running: &mut Running,
        config: Config,
        flush: &Flush,
    ) -> Result<u64, String> {
        let standby = running.vrrp.standby(&config);
        let lb = crate::lb::lb_config(&config, &b.device_macs, &standby);
        let reports = self.id_refs();
        let tables =
            LbTables::build_next_reclaiming(&lb, &running.tables, &flush_request(flush), &reports)
                .and_then(|t| t.check_workers(self.workers.len()).map(|()| t))?;
        let tables = Arc::new(tables);
        let generation = b.live.publish(Arc::clone(&tables));
        // Still under `running`, so concurrent changes re-install in order.
        if let Some(s) = &b.steering {
            lock(s).update(&tables);
        }
        running.config = config;
        running.tables = tables;
        running.generation = generation;
        Ok(generation)
    }

    /// Waits until every worker runs `generation` (or a later one).
    pub(super) fn wait_for_workers(&self, generation: u64) -> bool {
        let deadline = Instant::now() + WORKER_TIMEOUT;
        loop {
            if self
                .workers
                .iter()
                .all(|w| w.generation.load(std::sync::atomic::Ordering::Acquire) >= generation)
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::yield_now();
        }
    }

    /// Every worker's report of the ids its sessions refer to, for the
    /// builder to free the rest (`LbTables::build_next_reclaiming`). If any
    /// worker does not answer, none: nothing is freed by this change.
    fn id_refs(&self) -> Vec<IdRefs> {
        let mut reports = Vec::with_capacity(self.workers.len());
        for w in self.workers {
            match w.ask(Query::Refs, WORKER_TIMEOUT) {
                Some(Answer::Refs(r)) => reports.push(*r),
                _ => return Vec::new(),
            }
        }
        reports
    }

    /// Counters of every worker, summed, with per-worker parts kept.
    pub fn totals(&self) -> Totals {
        // Workers that forward L2 serve no mailbox: nothing to ask.
        if self.balancer.is_none() {
            return Totals::new(Vec::new());
        }
        let answers = self
            .workers
            .iter()
            .map(|w| match w.ask(Query::Stats, WORKER_TIMEOUT) {
                Some(Answer::Stats(s)) => Some(*s),
                _ => None,
            })
            .collect();
        Totals::new(answers)
    }

    /// `ipvsadm -Z`: every worker resets its flow counters (all, or one
    /// service's and its backends').
    fn zero(&self, service: Option<control::api::ServiceKey>) -> control::api::ZeroReply {
        let key = service;
        let Some(balancer) = &self.balancer else {
            return control::api::ZeroReply {
                workers: 0,
                missed: 0,
            };
        };
        let (tables, _, _) = balancer.snapshot();
        let id = key.and_then(|k| tables.service_index.by_key(&k));
        if key.is_none() || id.is_some() {
            lock(&self.rates).zero(id.map(|i| i as usize));
        }
        let answered = self
            .workers
            .iter()
            .filter(|w| {
                matches!(
                    w.ask(Query::Zero { service: key }, WORKER_TIMEOUT),
                    Some(Answer::Zeroed)
                )
            })
            .count();
        control::api::ZeroReply {
            workers: answered,
            missed: self.workers.len() - answered,
        }
    }

    /// The id stamps (`IdStamp::born`) of the running tables' services,
    /// by id: what the rate sampler tells reused ids by.
    pub fn service_stamps(&self) -> Vec<u64> {
        self.balancer.as_ref().map_or_else(Vec::new, |b| {
            let (tables, _, _) = b.snapshot();
            tables.services.iter().map(|s| s.stamp.born).collect()
        })
    }

    /// `list`: services, backends and SNAT rules, with their counters
    /// (`stats`) and rates (`rate`).
    pub fn list(&self, stats: bool, rate: bool) -> ListReply {
        match &self.balancer {
            None => views::empty_list(self.generation()),
            Some(b) => {
                let (tables, config, generation) = b.snapshot();
                let totals = self.totals();
                let sampler = lock(&self.rates);
                let rates = rate.then(|| sampler.rates());
                let stats = stats.then_some(&*sampler);
                views::list(&config, &tables, generation, &totals, stats, rates.as_ref())
            }
        }
    }

    /// `stats`: counters per worker and port, drops, events.
    pub fn stats(&self) -> StatsReply {
        let totals = self.totals();
        let workers = self
            .workers
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let c = w.counters.snapshot();
                let part = totals.worker(i);
                WorkerStatus {
                    index: i,
                    core: self.cores.get(i).copied().unwrap_or_default(),
                    rx_packets: c.rx_packets,
                    tx_packets: c.tx_packets,
                    tx_dropped: c.tx_dropped,
                    rx_bursts: c.rx_bursts,
                    busy_cycles: c.busy_ticks,
                    cycles: c.ticks,
                    cycles_per_second: c.ticks_per_second,
                    dropped: part.map_or(0, |p| p.counters.drops.iter().map(|(_, n)| n).sum()),
                    sessions: part.map_or(0, views::live_sessions),
                    generation: w.generation.load(std::sync::atomic::Ordering::Relaxed),
                }
            })
            .collect();
        StatsReply {
            generation: self.generation(),
            uptime_ms: self.started.elapsed().as_millis() as u64,
            workers,
            ports: self
                .ports
                .iter()
                .enumerate()
                .map(|(i, p)| views::port_status(p, self.steering_status(i)))
                .collect(),
            drops: totals.drops(),
            events: {
                let mut events = totals.events();
                events.extend(self.sync.into_iter().flat_map(|s| s.events()));
                events
            },
            sessions: totals.sessions(),
            vrrp: self.vrrp_status(),
        }
    }

    /// Port `i`'s steering for `stats`.
    fn steering_status(&self, i: usize) -> String {
        let active = self.balancer.as_ref().and_then(|b| b.steering.as_ref());
        match active {
            Some(s) => lock(s).status(i).unwrap_or_default(),
            None => steering::inactive_status(&self.config),
        }
    }

    fn sessions(&self, filter: &control::api::SessionFilter, limit: Option<u32>) -> Response {
        let limit = limit.unwrap_or(DEFAULT_SESSION_LIMIT);
        if limit == 0 || limit > MAX_SESSION_LIMIT {
            return Response::error(
                ErrorCode::InvalidRequest,
                format!("limit {limit} is outside 1..={MAX_SESSION_LIMIT}"),
            );
        }
        let limit = limit as usize;
        let mut sessions = Vec::new();
        let mut truncated = false;
        if self.balancer.is_none() {
            return Response::ok(&SessionsReply {
                sessions,
                truncated,
            });
        }
        for (i, w) in self.workers.iter().enumerate() {
            if sessions.len() >= limit {
                truncated = true;
                break;
            }
            let query = Query::Sessions {
                filter: filter.clone(),
                limit: limit - sessions.len(),
            };
            match w.ask(query, WORKER_TIMEOUT) {
                Some(Answer::Sessions(found, more)) => {
                    truncated |= more;
                    sessions.extend(found.iter().map(|s| views::session_info(i, s)));
                }
                _ => {
                    return Response::error(
                        ErrorCode::Busy,
                        format!("worker {i} did not answer within {WORKER_TIMEOUT:?}"),
                    )
                }
            }
        }
        Response::ok(&SessionsReply {
            sessions,
            truncated,
        })
    }

    fn routes(&self) -> RoutesReply {
        let config = match &self.balancer {
            Some(b) => lock(&b.running).config.clone(),
            None => self.config.clone(),
        };
        let mut routes = Vec::new();
        for iface in &config.interfaces {
            let name = interface_name(iface);
            for a in &iface.addresses {
                routes.push(RouteStatus {
                    prefix: a.connected(),
                    via: None,
                    interface: name.clone(),
                });
            }
        }
        for r in &config.routes {
            // The interface is the connected prefix holding the gateway.
            let interface = config
                .interfaces
                .iter()
                .find(|i| i.addresses.iter().any(|a| a.contains(r.via)))
                .map(interface_name)
                .unwrap_or_default();
            routes.push(RouteStatus {
                prefix: r.prefix,
                via: Some(r.via),
                interface,
            });
        }
        RoutesReply { routes }
    }

    fn neighbours(&self) -> NeighboursReply {
        let mut neighbours: Vec<NeighbourStatus> = match &self.balancer {
            Some(b) => lock(&b.running)
                .config
                .neighbours
                .iter()
                .map(|n| NeighbourStatus {
                    address: n.address,
                    mac: Some(n.mac.to_string()),
                    state: "static".into(),
                    worker: None,
                })
                .collect(),
            None => Vec::new(),
        };
        let asked = if self.balancer.is_some() {
            self.workers
        } else {
            &[]
        };
        for (i, w) in asked.iter().enumerate() {
            if let Some(Answer::Neighbours(found)) = w.ask(Query::Neighbours, WORKER_TIMEOUT) {
                neighbours.extend(found.iter().map(|n| NeighbourStatus {
                    address: n.addr,
                    mac: n.mac.map(|m| m.to_string()),
                    state: n.state.to_string(),
                    worker: Some(i),
                }));
            }
        }
        NeighboursReply { neighbours }
    }
}

impl Balancer<'_> {
    fn snapshot(&self) -> (Arc<LbTables>, Config, u64) {
        let r = lock(&self.running);
        (Arc::clone(&r.tables), r.config.clone(), r.generation)
    }
}

/// `ferrolb: audit: generation 8 by uid 0 pid 4242 (backend_edit): 1 change
/// (+0 ~1 -0): ~ backend ...`: who changed what, bounded whatever the size
/// of the change (see `control::ops::summary`).
fn audit_line(generation: u64, peer: &Peer, op: &Op, changes: &[String], flush: &Flush) -> String {
    let mut line = format!(
        "audit: generation {generation} by uid {} pid {} ({}): {}",
        peer.uid,
        peer.pid,
        op.name(),
        ops::summary(changes)
    );
    let flushed = flush.services.len() + flush.backends.len();
    if flushed > 0 {
        line.push_str(&format!("; flushed sessions of {flushed}"));
    }
    line
}

fn flush_request(flush: &Flush) -> FlushRequest {
    FlushRequest {
        services: flush.services.clone(),
        backends: flush.backends.clone(),
    }
}

/// An interface as routes name it: its port, and `.VLAN` if it has one.
fn interface_name(i: &InterfaceConfig) -> String {
    match i.vlan {
        Some(v) => format!("{}.{v}", i.port),
        None => i.port.clone(),
    }
}

/// A poisoned lock only means another control thread panicked; the data
/// is still the last consistent config, since it is replaced whole.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
