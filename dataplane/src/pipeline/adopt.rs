//! Switching a running pipeline to new tables (`Pipeline::adopt`): what
//! each part of a worker's state does when ids are added, retired or
//! flushed. Runs between polls and may allocate.

use std::net::Ipv4Addr;
use std::sync::Arc;

use hashbrown::HashMap;

use super::{held_port, session_ended, Pipeline, PortOwner, Worker, MAX_PORT_BUCKETS};
use crate::buf::PacketBuf;
use crate::flow::ProtoState;
use crate::io::Burst;
use crate::laddr::{LocalPorts, PoolConfig};
use crate::tables::{self, LbTables, Mode, SNAT_SERVICE_BASE};

impl<P: PacketBuf> Pipeline<P> {
    /// The tables this pipeline runs.
    pub fn tables(&self) -> &Arc<LbTables> {
        &self.tables
    }

    /// Switches to `tables` (built by `build_next` from the tables this pipeline runs, possibly several
    /// generations later), keeping every session. Called between polls.
    ///
    /// Counters and connection counts keep their values by id and grow to
    /// the new ids; schedulers are fresh clones (rr/wrr cursors restart);
    /// port pools are kept unless their addresses or range changed (a
    /// rebuilt pool keeps the ports live sessions hold); sessions of newly
    /// flushed services and backends end now (`sessions_flushed`). A flush,
    /// or a port range change of an entry with live sessions, walks the
    /// session table once; nothing else here does.
    ///
    /// `now_ms` is the pipeline's clock; nothing in a switch depends on it
    /// today.
    pub fn adopt(&mut self, tables: Arc<LbTables>, _now_ms: u64) {
        if Arc::ptr_eq(&tables, &self.tables) {
            return;
        }
        let old = std::mem::replace(&mut self.tables, tables);
        self.worker.adopt(&old, &self.tables);
    }
}

/// How this worker builds its port pools.
#[derive(Clone, Copy, Debug)]
pub(super) struct PoolMaker {
    pub(super) worker_index: usize,
    pub(super) worker_count: usize,
    pub(super) seed_base: u64,
}

impl PoolMaker {
    fn config(&self, addrs: &[Ipv4Addr], range: (u16, u16), buckets: usize, n: u64) -> PoolConfig {
        PoolConfig {
            worker_index: self.worker_index,
            worker_count: self.worker_count,
            addrs: addrs.to_vec(),
            port_min: range.0,
            port_max: range.1,
            backend_buckets: buckets.clamp(1, MAX_PORT_BUCKETS),
            seed: self.seed_base ^ n,
        }
    }

    /// The pool an active FULLNAT service needs: a bucket per backend (up
    /// to the most a pool has).
    pub(super) fn service_pool(&self, id: u32, svc: &tables::Service) -> Option<PoolConfig> {
        let spec = &svc.spec;
        (spec.mode == Mode::FullNat && !svc.state.is_retired()).then(|| {
            let buckets = spec.backends.len();
            self.config(&spec.local_addrs, spec.local_ports, buckets, u64::from(id))
        })
    }

    /// The pool an active SNAT rule needs.
    pub(super) fn snat_pool(&self, id: u32, rule: &tables::SnatRule) -> Option<PoolConfig> {
        (!rule.state.is_retired()).then(|| {
            let r = &rule.spec;
            self.config(&r.addrs, r.ports, MAX_PORT_BUCKETS, 1 << 32 | u64::from(id))
        })
    }
}

/// What to do with one pool on adopting new tables.
enum PoolPlan {
    /// A new pool; with `true`, reserving the ports live sessions hold.
    Build(PoolConfig, bool),
    Drop,
}

/// Whether `pool` was built for `cfg`'s addresses, range and buckets.
fn pool_fits(pool: &LocalPorts, cfg: &PoolConfig) -> bool {
    pool.addrs() == cfg.addrs.as_slice()
        && pool.port_range() == (cfg.port_min, cfg.port_max)
        && pool.buckets() == cfg.backend_buckets
}

/// What to do with the pool in `slot` for an entry whose new pool would be
/// `want` (None: it needs none) and that has `live` sessions in this worker.
fn plan_pool(slot: &Option<LocalPorts>, want: Option<PoolConfig>, live: u64) -> Option<PoolPlan> {
    match (slot, want) {
        // A retired (or non-FULLNAT) entry's pool takes releases until its
        // last session is gone.
        (Some(_), None) => (live == 0).then_some(PoolPlan::Drop),
        (None, None) => None,
        (None, Some(cfg)) => Some(PoolPlan::Build(cfg, live > 0)),
        (Some(pool), Some(mut cfg)) => {
            if live > 0 {
                // Held ports must stay in their bucket: keep the bucket count.
                cfg.backend_buckets = pool.buckets();
            }
            // With no sessions the pool follows the backend count (a
            // service created empty gets its buckets as backends arrive);
            // the new shuffle may hand out a port released moments ago.
            (!pool_fits(pool, &cfg)).then_some(PoolPlan::Build(cfg, live > 0))
        }
    }
}

impl<P: PacketBuf> Worker<P> {
    /// The worker's side of [`Pipeline::adopt`]: `old` is what it ran,
    /// `new` what it runs from now.
    fn adopt(&mut self, old: &LbTables, new: &LbTables) {
        // Routes, interfaces and static neighbours may have changed.
        self.hops.clear(new.routes.longest_prefix());
        let (services, backends, rules) = (new.services.len(), new.backends.len(), new.snat.len());
        self.counters.grow(services, backends, rules);
        self.conns.ensure(backends);
        grow(&mut self.live.services, services, 0);
        grow(&mut self.live.snat, rules, 0);
        if self.local_ports.len() < services {
            self.local_ports.resize_with(services, || None);
        }
        if self.snat_ports.len() < rules {
            self.snat_ports.resize_with(rules, || None);
        }
        if self.out.len() < new.ports.len() {
            self.out.resize_with(new.ports.len(), Burst::new);
        }
        self.sessions.set_timeouts(new.sessions.timeouts);
        self.flush_sessions(old, new);
        self.schedulers = new.services.iter().map(|s| s.scheduler.clone()).collect();
        self.refit_pools(new);
    }

    /// Ends the sessions of services and backends that `new` marks flushed
    /// and `old` did not (entries `old` did not have yet have no sessions).
    fn flush_sessions(&mut self, old: &LbTables, new: &LbTables) {
        let services: Vec<bool> = new
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.state.is_flushed() && !old.services.get(i).is_some_and(|o| o.state.is_flushed())
            })
            .collect();
        let backends: Vec<bool> = new
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| {
                b.state.is_flushed() && !old.backends.get(i).is_some_and(|o| o.state.is_flushed())
            })
            .collect();
        if !services.contains(&true) && !backends.contains(&true) {
            return;
        }
        let Worker {
            sessions,
            conns,
            local_ports,
            snat_ports,
            live,
            counters,
            ..
        } = self;
        let flagged = |list: &[bool], id: u32| list.get(id as usize).copied().unwrap_or(false);
        sessions.flush(
            |s| {
                s.service < SNAT_SERVICE_BASE
                    && (flagged(&services, s.service) || flagged(&backends, s.backend))
            },
            |s| {
                if s.state != ProtoState::Template {
                    counters.events.sessions_flushed += 1;
                }
                session_ended(conns, local_ports, snat_ports, live, s);
            },
        );
    }

    /// Gives every active FULLNAT service and SNAT rule the pool its config
    /// asks for, keeping a pool whose addresses, range and buckets still fit
    /// (or, under live sessions, whose addresses and range do), and drops
    /// the pools of retired entries whose sessions are all gone. A pool
    /// rebuilt under live sessions starts with their ports taken.
    fn refit_pools(&mut self, new: &LbTables) {
        let maker = self.pool_maker;
        let mut plans: Vec<(PortOwner, PoolPlan)> = Vec::new();
        for (i, svc) in new.services.iter().enumerate() {
            let id = i as u32;
            let Some(slot) = self.local_ports.get(i) else {
                continue;
            };
            let want = maker.service_pool(id, svc);
            if let Some(plan) = plan_pool(slot, want, self.live.of(id)) {
                plans.push((PortOwner::Service(id), plan));
            }
        }
        for (i, rule) in new.snat.iter().enumerate() {
            let id = i as u32;
            let Some(slot) = self.snat_ports.get(i) else {
                continue;
            };
            let want = maker.snat_pool(id, rule);
            if let Some(plan) = plan_pool(slot, want, self.live.of(SNAT_SERVICE_BASE + id)) {
                plans.push((PortOwner::Snat(id), plan));
            }
        }
        if plans.is_empty() {
            return;
        }
        // One walk collects the ports held in every pool being rebuilt.
        let mut held: HashMap<PortOwner, Vec<(Ipv4Addr, u16, Ipv4Addr, u16)>> = plans
            .iter()
            .filter(|(_, p)| matches!(p, PoolPlan::Build(_, true)))
            .map(|(owner, _)| (*owner, Vec::new()))
            .collect();
        if !held.is_empty() {
            for (_, s) in self.sessions.iter() {
                if let Some((owner, port)) =
                    held_port(s.service, s.holds_local_port(), s.outbound())
                {
                    if let Some(list) = held.get_mut(&owner) {
                        list.push(port);
                    }
                }
            }
        }
        for (owner, plan) in plans {
            let slot = match owner {
                PortOwner::Service(i) => self.local_ports.get_mut(i as usize),
                PortOwner::Snat(i) => self.snat_ports.get_mut(i as usize),
            };
            let Some(slot) = slot else {
                continue;
            };
            *slot = match plan {
                PoolPlan::Drop => None,
                // A config this worker cannot build a pool for (e.g. a range
                // with none of its ports: `LbTables::check_workers`) leaves
                // the entry's new flows to fail as `ports_exhausted`.
                PoolPlan::Build(cfg, _) => {
                    let ports = held.remove(&owner).unwrap_or_default();
                    LocalPorts::with_held(&cfg, ports).ok().map(|(p, _)| p)
                }
            };
        }
    }
}

/// Makes `list` at least `len` long, filling with `value`.
fn grow<T: Clone>(list: &mut Vec<T>, len: usize, value: T) {
    if list.len() < len {
        list.resize(len, value);
    }
}
