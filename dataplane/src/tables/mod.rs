//! What the pipeline knows about the network and the services, compiled off
//! the packet path into read-only tables that every worker shares.
//!
//! [`LbConfig`] is the plain description (the appliance builds it from the
//! TOML config); [`LbTables::build`] checks what only the compiled form can
//! check, prebuilds every lookup structure (route table, owned addresses,
//! service index, Maglev tables) and assigns ids. A config change compiles
//! the next tables with [`LbTables::build_next`], which keeps the ids of
//! what did not change so that workers keep their sessions, counters and
//! port pools across the switch (see `Pipeline::adopt`). Workers never
//! allocate while reading these.

mod listen;
mod model;
pub mod owner;

use std::net::Ipv4Addr;

use hashbrown::HashMap;

use crate::flow::TableConfig;
use crate::net::addrs::AddrSet;
use crate::net::route::RouteTable;
use crate::sched::{Backend, Scheduler, SchedulerKind};
use crate::tuple::IpProto;
use crate::wire::ethernet::MacAddr;
pub use listen::ListenIndex;
pub use model::*;
use owner::FlowOwners;

/// The compiled, read-only tables.
///
/// `services`, `backends` and `snat` are indexed by id and hold retired
/// entries too: ids are stable across [`LbTables::build_next`] and never
/// reused, so these lists only grow. Each deletion or change of identity
/// leaves an entry (its spec, no scheduler) here for the life of the
/// appliance, and a counter slot in every worker; a restart compacts them.
#[derive(Clone, Debug)]
pub struct LbTables {
    pub ports: Vec<PortSetup>,
    pub interfaces: Vec<Interface>,
    /// `(port, vlan) -> interface index`, searched linearly (a handful).
    pub ingress: Vec<(u16, Option<u16>, u16)>,
    /// Routes; a next hop's `port` is an interface index.
    pub routes: RouteTable,
    pub static_neighbours: HashMap<Ipv4Addr, MacAddr>,
    /// Interface addresses, and the VIPs, local and SNAT addresses of the
    /// active entries (retired ones are no longer answered for).
    pub owned: AddrSet,
    pub services: Vec<Service>,
    /// Active services only, by the ports they listen on.
    pub service_index: ListenIndex<u32>,
    pub backends: Vec<BackendInfo>,
    pub snat: Vec<SnatRule>,
    /// Active SNAT rules in config order (first match wins): (network,
    /// prefix length, rule id).
    pub snat_match: Vec<(Ipv4Addr, u8, u32)>,
    pub sessions: TableConfig,
    /// Whether any service (retired ones included) overrides the global
    /// timeouts: without, a session's packet never looks its service up.
    pub custom_timeouts: bool,
    /// Which worker owns a flow (several workers only).
    pub owners: FlowOwners,
    /// Each port's kernel interface, by port index.
    pub kernel: Vec<Option<KernelPath>>,
    pub garp: Garp,
}

/// Ids of services and SNAT rules over one run, at most (they are never
/// reused; a restart compacts them).
const MAX_ENTRY_IDS: usize = 1 << 31;

impl LbTables {
    /// Compiles `cfg` as the first tables; the error says what is wrong in
    /// config terms.
    pub fn build(cfg: &LbConfig) -> Result<LbTables, String> {
        compile(cfg, None, &FlushRequest::default())
    }

    /// Compiles `cfg` as the successor of `prev`: a service keeps its id when its key (vip, proto, port),
    /// mode and local addresses are unchanged; a backend keeps its id when its service kept its id and its
    /// (addr, port) is unchanged. Services and backends that disappear (or change identity) are kept as
    /// retired entries so their live sessions still forward and drain; ids are never reused.
    /// Entries named in `flush` are retired *and* marked flushed.
    ///
    /// A flush names a key, so it also flushes retired (draining) entries
    /// with that key; flushing a service flushes its backends. A SNAT rule
    /// keeps its id while its source prefix is in the config (its addresses
    /// and ports may change). Schedulers of services whose backends and
    /// weights did not change are shared with `prev` (no Maglev rebuild).
    pub fn build_next(
        cfg: &LbConfig,
        prev: &LbTables,
        flush: &FlushRequest,
    ) -> Result<LbTables, String> {
        compile(cfg, Some(prev), flush)
    }

    /// Every backend id of service `service`, retired ones included.
    pub fn backends_of(&self, service: u32) -> impl Iterator<Item = (u32, &BackendInfo)> + '_ {
        self.backends
            .iter()
            .enumerate()
            .filter(move |(_, b)| b.service == service)
            .map(|(i, b)| (i as u32, b))
    }

    /// Whether every worker of `worker_count` gets local ports from each
    /// active FULLNAT service and SNAT rule (worker `i` only hands out ports
    /// whose low bits are `i`; see `laddr`). A worker without ports for an
    /// entry refuses to start, or after a change drops that entry's new
    /// flows as `ports_exhausted`, so check before publishing.
    pub fn check_workers(&self, worker_count: usize) -> Result<(), String> {
        if let (true, Some(conflict)) = (worker_count > 1, self.owners.conflict()) {
            return Err(conflict.to_owned());
        }
        let mask = usize::from(crate::laddr::owner_mask(worker_count));
        let covers = |(min, max): (u16, u16)| {
            (0..worker_count.max(1)).all(|w| {
                (usize::from(min)..=usize::from(max))
                    .take(mask + 1)
                    .any(|p| p & mask == w)
            })
        };
        for svc in self.services.iter().filter(|s| !s.state.is_retired()) {
            let s = &svc.spec;
            if s.mode == Mode::FullNat && !covers(s.local_ports) {
                return Err(format!(
                    "service {}: local ports {}-{} leave some of {worker_count} workers without a port",
                    s.key(),
                    s.local_ports.0,
                    s.local_ports.1
                ));
            }
        }
        for rule in self.snat.iter().filter(|r| !r.state.is_retired()) {
            let r = &rule.spec;
            if !covers(r.ports) {
                return Err(format!(
                    "snat {}/{}: ports {}-{} leave some of {worker_count} workers without a port",
                    r.source.0, r.source.1, r.ports.0, r.ports.1
                ));
            }
        }
        Ok(())
    }

    /// Our MAC on `port`.
    #[inline]
    pub fn port_mac(&self, port: u16) -> Option<MacAddr> {
        self.ports.get(usize::from(port)).map(|p| p.mac)
    }

    /// `port`'s kernel interface, if it has one.
    #[inline]
    pub fn kernel(&self, port: u16) -> Option<&KernelPath> {
        self.kernel.get(usize::from(port)).and_then(Option::as_ref)
    }

    /// The interface a frame received on `port` with `vlan` belongs to.
    #[inline]
    pub fn ingress_interface(&self, port: u16, vlan: Option<u16>) -> Option<u16> {
        self.ingress
            .iter()
            .find(|&&(p, v, _)| p == port && v == vlan)
            .map(|&(_, _, i)| i)
    }

    /// The interface's address to speak from towards `peer`: the one whose
    /// prefix holds `peer`, else the first.
    pub fn source_address(&self, iface: u16, peer: Ipv4Addr) -> Ipv4Addr {
        let Some(i) = self.interfaces.get(usize::from(iface)) else {
            return Ipv4Addr::UNSPECIFIED;
        };
        i.addrs
            .iter()
            .find(|&&(a, len)| same_prefix(a, peer, len))
            .or(i.addrs.first())
            .map_or(Ipv4Addr::UNSPECIFIED, |&(a, _)| a)
    }

    /// The SNAT rule for a packet from `src`, first match in config order.
    #[inline]
    pub fn snat_rule(&self, src: Ipv4Addr) -> Option<u32> {
        self.snat_match
            .iter()
            .find(|&&(net, len, _)| same_prefix(net, src, len))
            .map(|&(_, _, id)| id)
    }
}

/// Interfaces, routes and interface addresses: everything but the entries.
type Network = (Vec<(u16, Option<u16>, u16)>, RouteTable, Vec<Ipv4Addr>);

fn compile_network(cfg: &LbConfig) -> Result<Network, String> {
    let mut routes = RouteTable::new();
    let mut ingress = Vec::new();
    let mut owned = Vec::new();
    for (i, iface) in cfg.interfaces.iter().enumerate() {
        if usize::from(iface.port) >= cfg.ports.len() {
            return Err(format!("interface {i}: no port {}", iface.port));
        }
        if ingress
            .iter()
            .any(|&(p, v, _)| p == iface.port && v == iface.vlan)
        {
            return Err(format!("interface {i}: its port and VLAN are used twice"));
        }
        ingress.push((iface.port, iface.vlan, i as u16));
        for &(addr, len) in &iface.addrs {
            routes
                .add_connected(addr, len, i as u16)
                .map_err(|e| format!("interface {i}: address {addr}/{len}: {e}"))?;
            owned.push(addr);
        }
    }
    for r in &cfg.routes {
        let hop = routes
            .lookup(r.via)
            .filter(|h| h.gateway.is_none())
            .ok_or_else(|| {
                format!(
                    "route {}/{}: {} is not in a connected prefix",
                    r.prefix, r.len, r.via
                )
            })?;
        routes
            .add_static(r.prefix, r.len, r.via, hop.port)
            .map_err(|e| format!("route {}/{}: {e}", r.prefix, r.len))?;
    }
    Ok((ingress, routes, owned))
}

/// The tables for `cfg`, with ids carried over from `prev` (see
/// [`LbTables::build_next`]); with no `prev`, ids are assigned in config
/// order from 0.
fn compile(
    cfg: &LbConfig,
    prev: Option<&LbTables>,
    flush: &FlushRequest,
) -> Result<LbTables, String> {
    let (ingress, routes, mut owned) = compile_network(cfg)?;

    // Every earlier entry stays, retired unless the config names it again
    // below; the flush marks apply to retired (draining) entries too.
    let mut services: Vec<Service> = prev.map_or_else(Vec::new, |p| p.services.clone());
    let mut backends: Vec<BackendInfo> = prev.map_or_else(Vec::new, |p| p.backends.clone());
    let mut snat: Vec<SnatRule> = prev.map_or_else(Vec::new, |p| p.snat.clone());
    for svc in &mut services {
        let named = flush.services.contains(&svc.key());
        retire(&mut svc.state, named);
    }
    for b in &mut backends {
        let Some(svc) = services.get(b.service as usize) else {
            continue;
        };
        let named = flush.backends.contains(&(svc.key(), b.addr, b.port));
        retire(&mut b.state, named || svc.state.is_flushed());
    }
    for rule in &mut snat {
        retire(&mut rule.state, false);
    }

    let mut service_index = ListenIndex::default();
    for spec in &cfg.services {
        let key = spec.key();
        let text = || key.to_string();
        let listens: Vec<(ServiceKey, u16)> = spec.listens().collect();
        for (i, &(listen, last)) in listens.iter().enumerate() {
            let earlier = listens[..i].iter().find(|(k, l)| {
                (k.proto, k.vip) == (listen.proto, listen.vip)
                    && k.port <= last
                    && listen.port <= *l
            });
            if let Some((k, _)) = earlier {
                return Err(format!(
                    "service {}: listens on {k} and {listen}, which share ports",
                    text()
                ));
            }
            if let Some(clash) = service_index.overlap(&listen, last) {
                return Err(match (clash == key, listen == key) {
                    (true, true) => format!("service {}: defined twice", text()),
                    _ => format!(
                        "service {}: {listen} shares ports with service {clash}",
                        text()
                    ),
                });
            }
        }
        if spec.one_packet
            && (spec.proto != IpProto::UDP || !matches!(spec.mode, Mode::Dr | Mode::Tun))
        {
            return Err(format!(
                "service {}: one-packet scheduling is for UDP with DR or TUN (NAT and FULLNAT replies need a session)",
                text()
            ));
        }
        if spec.mode == Mode::FullNat && spec.local_addrs.is_empty() {
            return Err(format!("service {}: FULLNAT needs local addresses", text()));
        }
        // The same service: same key, mode and local addresses, not flushed.
        let kept = prev
            .and_then(|p| p.service_index.by_key(&key))
            .filter(|&id| {
                services.get(id as usize).is_some_and(|old| {
                    !old.state.is_flushed()
                        && old.spec.mode == spec.mode
                        && old.spec.local_addrs == spec.local_addrs
                })
            });
        let id = kept.unwrap_or(services.len() as u32);
        let old = kept.and_then(|k| services.get(k as usize));
        let mut ids = Vec::with_capacity(spec.backends.len());
        let mut sched_backends = Vec::with_capacity(spec.backends.len());
        for b in &spec.backends {
            let same = old.and_then(|o| {
                o.backend_ids.iter().copied().find(|&bid| {
                    backends.get(bid as usize).is_some_and(|ob| {
                        !ob.state.is_flushed() && ob.addr == b.addr && ob.port == b.port
                    })
                })
            });
            let bid = match same {
                Some(bid) if !ids.contains(&bid) => bid,
                _ => {
                    backends.push(BackendInfo {
                        service: id,
                        addr: b.addr,
                        port: b.port,
                        state: Lifecycle::Active,
                    });
                    backends.len() as u32 - 1
                }
            };
            if let Some(info) = backends.get_mut(bid as usize) {
                info.state = Lifecycle::Active;
            }
            ids.push(bid);
            sched_backends.push(Backend {
                id: bid,
                addr: b.addr,
                port: b.port,
                weight: b.weight,
            });
        }
        // Same backends, weights and algorithm: share the built scheduler
        // (a Maglev table is costly to rebuild for every change).
        let reusable = old.filter(|o| {
            o.spec.scheduler == spec.scheduler
                && o.spec.backends == spec.backends
                && o.backend_ids == ids
        });
        let scheduler = match reusable {
            Some(o) => o.scheduler.clone(),
            None => Scheduler::new(spec.scheduler, sched_backends)
                .map_err(|e| format!("service {}: {e:?}", text()))?,
        };
        owned.push(spec.vip);
        owned.extend(spec.also_listen.iter().map(|&(vip, _)| vip));
        owned.extend(spec.local_addrs.iter().copied());
        let svc = Service {
            spec: spec.clone(),
            scheduler,
            backend_ids: ids,
            state: Lifecycle::Active,
        };
        match services.get_mut(id as usize) {
            Some(slot) => *slot = svc,
            None => services.push(svc),
        }
        for (listen, last) in spec.listens() {
            service_index.insert(listen, last, id);
        }
    }
    // Retired services keep their spec (mode, timeouts) for their sessions
    // and drop their scheduler (and with it any Maglev table).
    for svc in services.iter_mut().filter(|s| s.state.is_retired()) {
        if !svc.scheduler.backends().is_empty() || svc.scheduler.maglev_table().is_some() {
            svc.scheduler = Scheduler::new(SchedulerKind::RoundRobin, Vec::new())
                .map_err(|e| format!("retiring a service: {e:?}"))?;
        }
    }

    let mut snat_match: Vec<(Ipv4Addr, u8, u32)> = Vec::with_capacity(cfg.snat.len());
    for rule in &cfg.snat {
        let (addr, len) = rule.source;
        let net = Ipv4Addr::from(u32::from(addr) & crate::net::route::mask(len));
        if rule.addrs.is_empty() {
            return Err(format!("snat {addr}/{len}: no addresses"));
        }
        if snat_match.iter().any(|&(n, l, _)| (n, l) == (net, len)) {
            return Err(format!("snat {addr}/{len}: defined twice"));
        }
        let kept = prev.and_then(|p| {
            p.snat_match
                .iter()
                .find(|&&(n, l, _)| (n, l) == (net, len))
                .map(|&(_, _, id)| id)
        });
        let entry = SnatRule {
            spec: rule.clone(),
            state: Lifecycle::Active,
        };
        let id = match kept.and_then(|k| snat.get_mut(k as usize).map(|slot| (k, slot))) {
            Some((k, slot)) => {
                *slot = entry;
                k
            }
            None => {
                snat.push(entry);
                snat.len() as u32 - 1
            }
        };
        snat_match.push((net, len, id));
        owned.extend(rule.addrs.iter().copied());
    }
    if snat.len() >= MAX_ENTRY_IDS || services.len() >= MAX_ENTRY_IDS {
        return Err("too many services or SNAT rules over this run: restart to compact ids".into());
    }

    let owners = FlowOwners::build(&services, &backends, &snat);
    let mut kernel = vec![None; cfg.ports.len()];
    for k in &cfg.kernel {
        match kernel.get_mut(usize::from(k.port)) {
            Some(slot @ None) => *slot = Some(k.clone()),
            Some(Some(_)) => return Err(format!("port {}: two kernel interfaces", k.port)),
            None => {
                return Err(format!(
                    "kernel interface on port {}, which does not exist",
                    k.port
                ))
            }
        }
    }
    Ok(LbTables {
        kernel,
        garp: cfg.garp,
        owners,
        custom_timeouts: services.iter().any(|s| s.spec.timeouts.is_some()),
        ports: cfg.ports.clone(),
        interfaces: cfg.interfaces.clone(),
        ingress,
        routes,
        static_neighbours: cfg.neighbours.iter().copied().collect(),
        owned: AddrSet::new(owned),
        services,
        service_index,
        backends,
        snat,
        snat_match,
        sessions: cfg.sessions,
    })
}

/// Marks an entry that the new config has not (yet) named: an active one
/// becomes retired, and `flush` makes any unflushed one flushed.
fn retire(state: &mut Lifecycle, flush: bool) {
    if flush {
        *state = Lifecycle::Flushed;
    } else if *state == Lifecycle::Active {
        *state = Lifecycle::Retired;
    }
}

/// Whether `a` and `b` share their first `len` bits.
pub fn same_prefix(a: Ipv4Addr, b: Ipv4Addr, len: u8) -> bool {
    let mask = crate::net::route::mask(len);
    u32::from(a) & mask == u32::from(b) & mask
}

#[cfg(test)]
mod tests;
