//! One worker's FULLNAT and SNAT port pools, by service and SNAT rule id,
//! and how they follow a config change: a pool is kept while its addresses
//! and range fit, rebuilt (keeping the ports live sessions hold) when they
//! change, and dropped once a retired entry's last session is gone.
//!
//! Which pool a session's port came from is its [`Origin`]; the port itself
//! is in its reply tuple ([`HeldPort`]).
//!
//! An IPv6 FULLNAT service (issue 20) has a pool of IPv6 local addresses
//! (`LocalPorts<Ipv6Addr>`) in a slot list of its own, by service id, which
//! follows config changes by the same rules.

use std::net::{Ipv4Addr, Ipv6Addr};

use hashbrown::HashMap;

use super::table::Origin;
use super::table::Session;
use crate::laddr::{LocalPorts, PoolAddr, PoolConfig};
use crate::tables::{self, LbTables, Mode};
use crate::tuple::{FiveTuple, FiveTuple6, IpProto};

/// Local-port buckets per pool at most (see `laddr`).
const MAX_PORT_BUCKETS: usize = 64;

/// A port a session holds, as `LocalPorts::release` takes it: (local
/// address, local port, backend or remote address, its port).
pub(crate) type HeldPort = (Ipv4Addr, u16, Ipv4Addr, u16);

/// The port an IPv6 FULLNAT session holds, as [`HeldPort`].
pub(crate) type HeldPort6 = (Ipv6Addr, u16, Ipv6Addr, u16);

/// The port an IPv6 session holds, read from its reply tuple (backend or
/// remote -> local or SNAT address and port), if it holds one. An ICMPv6
/// echo's (SNAT) was allocated with no remote port, as IPv4's.
pub(crate) fn held_port6(holds_port: bool, ob: &FiveTuple6) -> Option<HeldPort6> {
    let remote_port = match ob.proto {
        crate::rewrite6::ICMPV6 => 0,
        _ => ob.src_port,
    };
    holds_port.then_some((ob.dst, ob.dst_port, ob.src, remote_port))
}

/// The pool a session's port belongs to, and the port, read from its reply
/// tuple `outbound`, which runs (backend or remote) -> (local address,
/// local port). None if the session holds no port.
pub(crate) fn held_port(
    origin: Origin,
    holds_port: bool,
    ob: &FiveTuple,
) -> Option<(Origin, HeldPort)> {
    if !holds_port {
        return None;
    }
    let remote_port = match origin {
        // Echo flows were allocated with no remote port.
        Origin::Snat(_) if ob.proto == IpProto::ICMP => 0,
        _ => ob.src_port,
    };
    Some((origin, (ob.dst, ob.dst_port, ob.src, remote_port)))
}

/// How this worker builds its pools: its index among the workers (it hands
/// out only ports whose low bits are its index) and a seed for the shuffle.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolMaker {
    pub(crate) worker_index: usize,
    pub(crate) worker_count: usize,
    pub(crate) seed_base: u64,
}

impl PoolMaker {
    fn config<A: PoolAddr>(
        &self,
        addrs: &[A],
        range: (u16, u16),
        buckets: usize,
        n: u64,
    ) -> PoolConfig<A> {
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
    fn service_pool(&self, id: u32, svc: &tables::Service) -> Option<PoolConfig> {
        let spec = &svc.spec;
        let wanted = spec.mode == Mode::FullNat && !spec.local_addrs.is_empty();
        (wanted && !svc.state.is_retired()).then(|| {
            let buckets = spec.backends.len();
            self.config(&spec.local_addrs, spec.local_ports, buckets, u64::from(id))
        })
    }

    /// The pool an active FULLNAT service with IPv6 local addresses needs.
    fn service_pool6(&self, id: u32, svc: &tables::Service) -> Option<PoolConfig<Ipv6Addr>> {
        let spec = &svc.spec;
        let wanted = spec.mode == Mode::FullNat && !spec.local_addrs6.is_empty();
        (wanted && !svc.state.is_retired()).then(|| {
            let buckets = spec.backends.len();
            let n = 2 << 32 | u64::from(id);
            self.config(&spec.local_addrs6, spec.local_ports, buckets, n)
        })
    }

    /// The pool an active SNAT rule needs (none for an IPv6 rule).
    fn snat_pool(&self, id: u32, rule: &tables::SnatRule) -> Option<PoolConfig> {
        let v4 = rule.spec.source.0.is_ipv4();
        (v4 && !rule.state.is_retired()).then(|| {
            let r = &rule.spec;
            self.config(&r.addrs, r.ports, MAX_PORT_BUCKETS, 1 << 32 | u64::from(id))
        })
    }

    /// The pool an active IPv6 SNAT rule needs.
    fn snat_pool6(&self, id: u32, rule: &tables::SnatRule) -> Option<PoolConfig<Ipv6Addr>> {
        let v6 = rule.spec.source.0.is_ipv6();
        (v6 && !rule.state.is_retired()).then(|| {
            let r = &rule.spec;
            self.config(
                &r.addrs6,
                r.ports,
                MAX_PORT_BUCKETS,
                3 << 32 | u64::from(id),
            )
        })
    }
}

/// The pools of one worker, by service id (FULLNAT) and SNAT rule id. A
/// slot is None for entries that need no pool, and for retired entries once
/// their sessions are gone.
pub(crate) struct Pools {
    maker: PoolMaker,
    services: Vec<Option<LocalPorts>>,
    snat: Vec<Option<LocalPorts>>,
    /// IPv6 FULLNAT services' pools, by service id.
    services6: Vec<Option<LocalPorts<Ipv6Addr>>>,
    /// IPv6 SNAT rules' pools, by rule id.
    snat6: Vec<Option<LocalPorts<Ipv6Addr>>>,
}

impl Pools {
    /// The pools `tables` ask for.
    pub(crate) fn new(maker: PoolMaker, tables: &LbTables) -> Result<Pools, String> {
        let mut services = Vec::with_capacity(tables.services.len());
        for (i, svc) in tables.services.iter().enumerate() {
            services.push(match maker.service_pool(i as u32, svc) {
                Some(cfg) => Some(
                    LocalPorts::new(&cfg)
                        .map_err(|e| format!("service {}: local ports: {e:?}", svc.spec.vip))?,
                ),
                None => None,
            });
        }
        let mut services6 = Vec::with_capacity(tables.services.len());
        for (i, svc) in tables.services.iter().enumerate() {
            services6.push(match maker.service_pool6(i as u32, svc) {
                Some(cfg) => Some(
                    LocalPorts::new(&cfg)
                        .map_err(|e| format!("service {}: local ports: {e:?}", svc.spec.vip))?,
                ),
                None => None,
            });
        }
        let mut snat = Vec::with_capacity(tables.snat.len());
        for (i, rule) in tables.snat.iter().enumerate() {
            snat.push(match maker.snat_pool(i as u32, rule) {
                Some(cfg) => Some(
                    LocalPorts::new(&cfg).map_err(|e| format!("snat rule {i}: ports: {e:?}"))?,
                ),
                None => None,
            });
        }
        let mut snat6 = Vec::with_capacity(tables.snat.len());
        for (i, rule) in tables.snat.iter().enumerate() {
            snat6.push(match maker.snat_pool6(i as u32, rule) {
                Some(cfg) => Some(
                    LocalPorts::new(&cfg).map_err(|e| format!("snat rule {i}: ports: {e:?}"))?,
                ),
                None => None,
            });
        }
        Ok(Pools {
            maker,
            services,
            snat,
            services6,
            snat6,
        })
    }

    pub(crate) fn maker(&self) -> PoolMaker {
        self.maker
    }

    fn slot_mut(&mut self, origin: Origin) -> Option<&mut Option<LocalPorts>> {
        match origin {
            Origin::Service(i) => self.services.get_mut(i as usize),
            Origin::Snat(i) => self.snat.get_mut(i as usize),
        }
    }

    /// The pool of a service or SNAT rule, if it has one now.
    pub(crate) fn get(&self, origin: Origin) -> Option<&LocalPorts> {
        match origin {
            Origin::Service(i) => self.services.get(i as usize),
            Origin::Snat(i) => self.snat.get(i as usize),
        }
        .and_then(Option::as_ref)
    }

    /// A port from the pool of `origin`, unique towards (`remote`,
    /// `remote_port`).
    #[inline]
    pub(crate) fn allocate(
        &mut self,
        origin: Origin,
        remote: Ipv4Addr,
        remote_port: u16,
    ) -> Option<(Ipv4Addr, u16)> {
        self.slot_mut(origin)?
            .as_mut()?
            .allocate(remote, remote_port)
    }

    /// Gives back the port a session (or a session that could not be
    /// inserted) holds. A pool that is gone (a drained retired entry) has
    /// nothing to give back to.
    pub(crate) fn release(&mut self, origin: Origin, holds_port: bool, outbound: &FiveTuple) {
        let Some((origin, (addr, port, remote, remote_port))) =
            held_port(origin, holds_port, outbound)
        else {
            return;
        };
        if let Some(Some(p)) = self.slot_mut(origin) {
            p.release(addr, port, remote, remote_port);
        }
    }

    /// The IPv6 pool of FULLNAT service `s`, if it has one now.
    pub(crate) fn get6(&self, s: u32) -> Option<&LocalPorts<Ipv6Addr>> {
        self.services6.get(s as usize).and_then(Option::as_ref)
    }

    /// A port from the IPv6 pool of FULLNAT service `s`, unique towards
    /// (`backend`, `backend_port`).
    pub(crate) fn allocate6(
        &mut self,
        s: u32,
        backend: Ipv6Addr,
        backend_port: u16,
    ) -> Option<(Ipv6Addr, u16)> {
        self.services6
            .get_mut(s as usize)?
            .as_mut()?
            .allocate(backend, backend_port)
    }

    /// A port from the IPv6 pool of SNAT rule `rule`, unique towards
    /// (`remote`, `remote_port`).
    pub(crate) fn allocate_snat6(
        &mut self,
        rule: u32,
        remote: Ipv6Addr,
        remote_port: u16,
    ) -> Option<(Ipv6Addr, u16)> {
        self.snat6
            .get_mut(rule as usize)?
            .as_mut()?
            .allocate(remote, remote_port)
    }

    /// The IPv6 pool slot of `origin`: a FULLNAT service's or a SNAT rule's.
    fn slot6_mut(&mut self, origin: Origin) -> Option<&mut Option<LocalPorts<Ipv6Addr>>> {
        match origin {
            Origin::Service(i) => self.services6.get_mut(i as usize),
            Origin::Snat(i) => self.snat6.get_mut(i as usize),
        }
    }

    /// Gives back the port an IPv6 session (or one that could not be
    /// inserted) holds, as [`release`](Self::release).
    pub(crate) fn release6(&mut self, origin: Origin, holds_port: bool, outbound: &FiveTuple6) {
        let Some((addr, port, remote, remote_port)) = held_port6(holds_port, outbound) else {
            return;
        };
        if let Some(Some(p)) = self.slot6_mut(origin) {
            p.release(addr, port, remote, remote_port);
        }
    }

    /// Takes the port an IPv6 session a peer made holds, out of turn, as
    /// [`take`](Self::take).
    pub(crate) fn take6(&mut self, origin: Origin, outbound: &FiveTuple6) -> bool {
        let Some((addr, port, remote, remote_port)) = held_port6(true, outbound) else {
            return false;
        };
        match self.slot6_mut(origin) {
            Some(Some(p)) => p.take(addr, port, remote, remote_port),
            _ => false,
        }
    }

    /// Takes the port a session a peer made holds, out of turn (session
    /// sync); false if this pool cannot (see `LocalPorts::take`) or the
    /// entry has no pool.
    pub(crate) fn take(&mut self, origin: Origin, outbound: &FiveTuple) -> bool {
        let Some((origin, (addr, port, remote, remote_port))) = held_port(origin, true, outbound)
        else {
            return false;
        };
        match self.slot_mut(origin) {
            Some(Some(p)) => p.take(addr, port, remote, remote_port),
            _ => false,
        }
    }

    /// Sizes the slots to the ids of new tables, and empties the slots of
    /// reused ids: a new entry never takes over its id's previous pool
    /// (`refit` then builds the one it needs).
    pub(crate) fn fit(&mut self, services: usize, rules: usize, reborn: &tables::Reborn) {
        self.services.resize_with(services, || None);
        self.snat.resize_with(rules, || None);
        self.services6.resize_with(services, || None);
        self.snat6.resize_with(rules, || None);
        for (slots, ids) in [
            (&mut self.services6, &reborn.services),
            (&mut self.snat6, &reborn.snat),
        ] {
            for &id in ids {
                if let Some(slot) = slots.get_mut(id as usize) {
                    *slot = None;
                }
            }
        }
        for (slots, ids) in [
            (&mut self.services, &reborn.services),
            (&mut self.snat, &reborn.snat),
        ] {
            for &id in ids {
                if let Some(slot) = slots.get_mut(id as usize) {
                    *slot = None;
                }
            }
        }
    }

    /// Gives every active FULLNAT service and SNAT rule of `new` the pool
    /// its config asks for, keeping a pool whose addresses, range and
    /// buckets still fit (or, under live sessions, whose addresses and range
    /// do), and drops the pools of retired entries whose sessions are all
    /// gone. A pool rebuilt under live sessions starts with their ports
    /// taken, found by one walk of `held` (the ports the sessions of both
    /// tables hold: `held_port`, and NAT64's `held_port6`). `live` tells
    /// an entry's live sessions in this worker.
    pub(crate) fn refit(
        &mut self,
        new: &LbTables,
        live: impl Fn(Origin) -> u64,
        held_ports: impl Iterator<Item = (Origin, HeldPort)>,
    ) {
        let plans = self.plans(new, live);
        if plans.is_empty() {
            return;
        }
        let mut held: HashMap<Origin, Vec<HeldPort>> = plans
            .iter()
            .filter(|(_, p)| matches!(p, PoolPlan::Build(_, true)))
            .map(|(origin, _)| (*origin, Vec::new()))
            .collect();
        if !held.is_empty() {
            for (origin, port) in held_ports {
                if let Some(list) = held.get_mut(&origin) {
                    list.push(port);
                }
            }
        }
        for (origin, plan) in plans {
            let Some(slot) = self.slot_mut(origin) else {
                continue;
            };
            *slot = match plan {
                PoolPlan::Drop => None,
                // A config this worker cannot build a pool for (e.g. a range
                // with none of its ports: `LbTables::check_workers`) leaves
                // the entry's new flows to fail as `ports_exhausted`.
                PoolPlan::Build(cfg, _) => {
                    let ports = held.remove(&origin).unwrap_or_default();
                    LocalPorts::with_held(&cfg, ports).ok().map(|(p, _)| p)
                }
            };
        }
    }

    /// [`refit`](Self::refit) for the IPv6 FULLNAT and SNAT pools, whose held ports
    /// are found in the IPv6 `sessions`.
    pub(crate) fn refit6<'s>(
        &mut self,
        new: &LbTables,
        live: impl Fn(Origin) -> u64,
        sessions: impl Iterator<Item = &'s Session<FiveTuple6>>,
    ) {
        let mut plans = Vec::new();
        for (i, svc) in new.services.iter().enumerate() {
            let Some(slot) = self.services6.get(i) else {
                continue;
            };
            let want = self.maker.service_pool6(i as u32, svc);
            let origin = Origin::Service(i as u32);
            if let Some(plan) = plan_pool(slot, want, live(origin)) {
                plans.push((origin, plan));
            }
        }
        for (i, rule) in new.snat.iter().enumerate() {
            let Some(slot) = self.snat6.get(i) else {
                continue;
            };
            let want = self.maker.snat_pool6(i as u32, rule);
            let origin = Origin::Snat(i as u32);
            if let Some(plan) = plan_pool(slot, want, live(origin)) {
                plans.push((origin, plan));
            }
        }
        if plans.is_empty() {
            return;
        }
        let mut held: HashMap<Origin, Vec<HeldPort6>> = plans
            .iter()
            .filter(|(_, p)| matches!(p, PoolPlan::Build(_, true)))
            .map(|(s, _)| (*s, Vec::new()))
            .collect();
        if !held.is_empty() {
            for s in sessions {
                let Some(port) = held_port6(s.holds_local_port(), s.outbound()) else {
                    continue;
                };
                if let Some(list) = held.get_mut(&s.origin()) {
                    list.push(port);
                }
            }
        }
        for (id, plan) in plans {
            let Some(slot) = self.slot6_mut(id) else {
                continue;
            };
            *slot = match plan {
                PoolPlan::Drop => None,
                PoolPlan::Build(cfg, _) => {
                    let ports = held.remove(&id).unwrap_or_default();
                    LocalPorts::with_held(&cfg, ports).ok().map(|(p, _)| p)
                }
            };
        }
    }

    /// What to do with each pool for `new`.
    fn plans(&self, new: &LbTables, live: impl Fn(Origin) -> u64) -> Vec<(Origin, PoolPlan)> {
        let mut plans = Vec::new();
        for (i, svc) in new.services.iter().enumerate() {
            let origin = Origin::Service(i as u32);
            let Some(slot) = self.services.get(i) else {
                continue;
            };
            let want = self.maker.service_pool(i as u32, svc);
            if let Some(plan) = plan_pool(slot, want, live(origin)) {
                plans.push((origin, plan));
            }
        }
        for (i, rule) in new.snat.iter().enumerate() {
            let origin = Origin::Snat(i as u32);
            let Some(slot) = self.snat.get(i) else {
                continue;
            };
            let want = self.maker.snat_pool(i as u32, rule);
            if let Some(plan) = plan_pool(slot, want, live(origin)) {
                plans.push((origin, plan));
            }
        }
        plans
    }
}

/// What to do with one pool on adopting new tables.
enum PoolPlan<A = Ipv4Addr> {
    /// A new pool; with `true`, reserving the ports live sessions hold.
    Build(PoolConfig<A>, bool),
    Drop,
}

/// Whether `pool` was built for `cfg`'s addresses, range and buckets.
fn pool_fits<A: PoolAddr>(pool: &LocalPorts<A>, cfg: &PoolConfig<A>) -> bool {
    pool.addrs() == cfg.addrs.as_slice()
        && pool.port_range() == (cfg.port_min, cfg.port_max)
        && pool.buckets() == cfg.backend_buckets
}

/// What to do with the pool in `slot` for an entry whose new pool would be
/// `want` (None: it needs none) and that has `live` sessions in this worker.
fn plan_pool<A: PoolAddr>(
    slot: &Option<LocalPorts<A>>,
    want: Option<PoolConfig<A>>,
    live: u64,
) -> Option<PoolPlan<A>> {
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
