//! What the pipeline knows about the network and the services, compiled off
//! the packet path into read-only tables that every worker shares.
//!
//! [`LbConfig`] is the plain description (the appliance builds it from the
//! TOML config); [`LbTables::build`] checks what only the compiled form can
//! check, prebuilds every lookup structure (route table, owned addresses,
//! service index, Maglev tables) and assigns ids. A config change compiles
//! the next tables with [`LbTables::build_next`], which keeps the ids of
//! what did not change so that workers keep their sessions, counters and
//! port pools across the switch (see `Pipeline::adopt`), and
//! [`LbTables::build_next_reclaiming`] also frees the ids of deleted
//! entries no worker's session refers to any more and gives them to new
//! ones (`reclaim`). Workers never allocate while reading these.

pub mod acl;
mod listen;
mod model;
mod network;
pub mod owner;
mod reclaim;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hashbrown::HashMap;

use crate::flow::TableConfig;
use crate::net::addrs::{Addr6Map, Addr6Set, AddrSet};
use crate::net::route::RouteTable;
use crate::sched::{Backend, Scheduler, SchedulerKind, Thresholds};
use crate::tuple::IpProto;
use crate::wire::ethernet::MacAddr;
pub use listen::ListenIndex;
pub use model::*;
use network::{compile_network, compile_routes6, links6, on_link6};
use owner::FlowOwners;

/// The compiled, read-only tables.
///
/// `services`, `backends` and `snat` are indexed by id and hold retired
/// entries too: ids are stable across [`LbTables::build_next`]. A deleted
/// entry (or one whose identity changed) stays, retired, while sessions of
/// it drain; once no worker has one, [`LbTables::build_next_reclaiming`]
/// frees its id ([`Lifecycle::Free`]) and gives it to the next new entry.
#[derive(Clone, Debug)]
pub struct LbTables {
    /// Which build these tables are: 1 for the first, one more for each
    /// successor. Ids' stamps and workers' reference reports are in epochs.
    pub epoch: u64,
    pub ports: Vec<PortSetup>,
    pub interfaces: Vec<Interface>,
    /// `(port, vlan) -> interface index`, searched linearly (a handful).
    pub ingress: Vec<(u16, Option<u16>, u16)>,
    /// Routes; a next hop's `port` is an interface index.
    pub routes: RouteTable,
    pub static_neighbours: HashMap<Ipv4Addr, MacAddr>,
    /// IPv6 routes: the interfaces' prefixes (connected) and the static
    /// routes; a next hop's `port` is an interface index.
    pub routes6: RouteTable<Ipv6Addr>,
    /// IPv6 static neighbours: used as they are, never solicited.
    pub static_neighbours6: Addr6Map<MacAddr>,
    /// Interface addresses, and the VIPs, local and SNAT addresses of the
    /// active entries (retired ones are no longer answered for).
    /// Not the standby addresses: those are in `standby`.
    pub owned: AddrSet,
    /// The interfaces' IPv6 addresses and the active services' IPv6 VIPs:
    /// Neighbour Discovery and echo are answered for them.
    pub owned6: Addr6Set,
    /// The active services' IPv6 VIPs, `also_listen` ones included: their
    /// TCP and UDP packets are forwarded (`pipeline/forward6.rs`).
    pub vips6: Addr6Set,
    /// Whether an active IPv6 service schedules each datagram on its own
    /// (`ops`): without, a new IPv6 flow never asks (`pipeline/ops6.rs`).
    pub one_packet6: bool,
    /// VRRP-managed addresses this node is the backup of now: no ARP
    /// answer, no echo, no new flow, no gratuitous ARP; dropped as
    /// `vrrp_backup` (they stay out of the kernel path too).
    pub standby: AddrSet,
    pub services: Vec<Service>,
    /// Active services only, by the ports they listen on.
    pub service_index: ListenIndex<u32>,
    /// Whether some service listens on a NAT64 local address: only then
    /// can a packet to one be a new flow rather than a backend's reply
    /// (`pipeline/decide.rs`, `nat64_reply`, skips the service lookup
    /// otherwise).
    pub nat64_local_listened: bool,
    pub backends: Vec<BackendInfo>,
    /// By backend id: an IPv6 backend's next hop (itself on a connected
    /// prefix, else its route's gateway) and the interface it leaves by,
    /// found once here by [`LbTables::routes6`] rather than per packet
    /// (`pipeline/forward6.rs`); `None` for an IPv4 backend or one with no
    /// route.
    pub links6: Vec<Option<(Ipv6Addr, u16)>>,
    pub snat: Vec<SnatRule>,
    /// Active SNAT rules in config order (first match wins): (network,
    /// prefix length, rule id).
    pub snat_match: Vec<(Ipv4Addr, u8, u32)>,
    /// Active IPv6 SNAT rules in config order, as `snat_match`
    /// (`pipeline/snat6.rs`).
    pub snat_match6: Vec<(Ipv6Addr, u8, u32)>,
    pub sessions: TableConfig,
    /// Whether any service (retired ones included) overrides the global
    /// timeouts: without, a session's packet never looks its service up.
    pub custom_timeouts: bool,
    /// Whether any service clamps the MSS of SYNs: without, a SYN never
    /// looks its service up for it.
    pub mss_clamping: bool,
    /// Whether any IPv4 service passes the client's address (TOA, PROXY
    /// protocol): without, no packet looks its service up for it.
    pub client_addr: bool,
    /// Whether any IPv6 service does (`pipeline/client_addr6.rs`): without,
    /// no IPv6 NAT or FULLNAT packet looks its service up for it.
    pub client_addr6: bool,
    /// The smallest MTU of the ports: how far a packet may grow for it.
    pub min_mtu: u16,
    /// The VIPs of the active UDP services that need whole datagrams (the
    /// PROXY v2 header): their UDP fragments are reassembled
    /// (`frag::reasm`). Usually empty.
    pub reasm_vips: Vec<Ipv4Addr>,
    /// Whether any active service has `syn_proxy`: without, a new flow
    /// never looks its service up for it.
    pub syn_proxying: bool,
    /// Whether any active IPv4 TCP service sends the PROXY protocol header
    /// (its sessions need a splice slot, as the SYN proxy's).
    pub proxy_tcp: bool,
    /// The same for IPv6 services (their sessions need a shift slot,
    /// `pipeline/client_addr6.rs`).
    pub proxy_tcp6: bool,
    pub synproxy: SynProxySettings,
    /// Which worker owns a flow (several workers only).
    pub owners: FlowOwners,
    /// Each port's kernel interface, by port index.
    pub kernel: Vec<Option<KernelPath>>,
    pub garp: Garp,
}

/// Ids of services and SNAT rules, live and draining, at most.
const MAX_ENTRY_IDS: usize = 1 << 31;

impl LbTables {
    /// Whether a fragment to `dst` of protocol `proto` is reassembled.
    #[inline]
    pub fn reassembles(&self, dst: Ipv4Addr, proto: IpProto) -> bool {
        proto == IpProto::UDP && self.reasm_vips.contains(&dst)
    }

    /// Compiles `cfg` as the first tables; the error says what is wrong in
    /// config terms.
    pub fn build(cfg: &LbConfig) -> Result<LbTables, String> {
        compile(cfg, None, &FlushRequest::default(), &[])
    }

    /// Compiles `cfg` as the successor of `prev`: a service keeps its id when its key (vip, proto, port),
    /// mode and local addresses are unchanged; a backend keeps its id when its service kept its id and its
    /// (addr, port) is unchanged. Services and backends that disappear (or change identity) are kept as
    /// retired entries so their live sessions still forward and drain. Frees no id: see
    /// [`build_next_reclaiming`](Self::build_next_reclaiming).
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
        compile(cfg, Some(prev), flush, &[])
    }

    /// [`build_next`](Self::build_next), first freeing the ids of retired
    /// entries that no worker refers to any more, by `reports` (one per
    /// worker, each from `Pipeline::id_refs`; a missing worker frees
    /// nothing), and giving the freed ids to new entries (lowest first).
    /// Freed ids at the end of a list are dropped, so the tables and every
    /// per-id array in the workers stay as long as the entries that are live
    /// or draining. Why a reused id is safe: `tables/reclaim.rs`.
    pub fn build_next_reclaiming(
        cfg: &LbConfig,
        prev: &LbTables,
        flush: &FlushRequest,
        reports: &[IdRefs],
    ) -> Result<LbTables, String> {
        compile(cfg, Some(prev), flush, reports)
    }

    /// Ids of the entries `self` holds that `old` held for another entry
    /// (freed and given to a new one in between): a worker that ran `old`
    /// resets what it keeps by these ids.
    pub fn reborn_since(&self, old: &LbTables) -> Reborn {
        fn ids(new: impl Iterator<Item = IdStamp>, old: &[IdStamp]) -> Vec<u32> {
            new.zip(old)
                .enumerate()
                .filter(|(_, (n, o))| n.born != o.born)
                .map(|(i, _)| i as u32)
                .collect()
        }
        let stamps = |t: &LbTables| -> [Vec<IdStamp>; 3] {
            [
                t.services.iter().map(|s| s.stamp).collect(),
                t.backends.iter().map(|b| b.stamp).collect(),
                t.snat.iter().map(|r| r.stamp).collect(),
            ]
        };
        let [s, b, r] = stamps(old);
        Reborn {
            services: ids(self.services.iter().map(|x| x.stamp), &s),
            backends: ids(self.backends.iter().map(|x| x.stamp), &b),
            snat: ids(self.snat.iter().map(|x| x.stamp), &r),
        }
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

    /// The interface's IPv6 address to solicit `peer` from (RFC 4861
    /// 7.2.2: one assigned to the interface): the one whose prefix holds
    /// `peer`, else a link-local one for a link-local peer, else the
    /// first. `None` if the interface has no IPv6 address.
    pub fn source_address6(&self, iface: u16, peer: Ipv6Addr) -> Option<Ipv6Addr> {
        let i = self.interfaces.get(usize::from(iface))?;
        let on_link = |&&(a, len): &&(Ipv6Addr, u8)| {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(peer) & mask
        };
        // fe80::/10 (`Ipv6Addr::is_unicast_link_local` is past our MSRV).
        let is_ll = |a: Ipv6Addr| a.segments()[0] & 0xffc0 == 0xfe80;
        let link_local = |&&(a, _): &&(Ipv6Addr, u8)| is_ll(a);
        let ll_peer = is_ll(peer);
        i.addrs6
            .iter()
            .find(on_link)
            .or_else(|| i.addrs6.iter().filter(|_| ll_peer).find(link_local))
            .or(i.addrs6.first())
            .map(|&(a, _)| a)
    }

    /// The interface on whose IPv6 prefix `addr` is: a search, for
    /// `explain` (the forwarding path reads [`LbTables::links6`]).
    pub fn on_link6(&self, addr: Ipv6Addr) -> Option<u16> {
        on_link6(&self.interfaces, addr)
    }

    /// The next hop of an IPv6 packet to `dst` and the interface it leaves
    /// by: `dst` itself on a connected prefix, else the gateway of the
    /// longest static prefix holding it. `None`: no route.
    #[inline]
    pub fn route6(&self, dst: Ipv6Addr) -> Option<(Ipv6Addr, u16)> {
        self.routes6.lookup(dst).map(|h| (h.neighbour(dst), h.port))
    }

    /// The SNAT rule for a packet from `src`, first match in config order.
    #[inline]
    pub fn snat_rule(&self, src: Ipv4Addr) -> Option<u32> {
        self.snat_match
            .iter()
            .find(|&&(net, len, _)| same_prefix(net, src, len))
            .map(|&(_, _, id)| id)
    }

    /// The IPv6 SNAT rule for a packet from `src`, first match in config
    /// order.
    #[inline]
    pub fn snat_rule6(&self, src: Ipv6Addr) -> Option<u32> {
        self.snat_match6
            .iter()
            .find(|&&(net, len, _)| owner::network6(src, len) == net)
            .map(|&(_, _, id)| id)
    }
}

/// The tables for `cfg`, with ids carried over from `prev` (see
/// [`LbTables::build_next`]); with no `prev`, ids are assigned in config
/// order from 0. Retired entries that `reports` show unreferenced are freed
/// first, and new entries take the lowest free ids (see `reclaim`).
fn compile(
    cfg: &LbConfig,
    prev: Option<&LbTables>,
    flush: &FlushRequest,
    reports: &[IdRefs],
) -> Result<LbTables, String> {
    let (ingress, routes, mut owned) = compile_network(cfg)?;
    let routes6 = compile_routes6(cfg)?;
    let epoch = prev.map_or(1, |p| p.epoch + 1);
    let mut e = retire_all(prev, flush);
    reclaim::free_unreferenced(&mut e.services, &mut e.backends, &mut e.snat, reports)?;
    let service_index = compile_services(cfg, prev, &mut e, &mut owned, epoch)?;
    let (snat_match, snat_match6) = compile_snat(cfg, prev, &mut e, &mut owned, epoch)?;
    let Entries {
        mut services,
        mut backends,
        mut snat,
    } = e;
    reclaim::stamp_retirements(&mut services, &mut backends, &mut snat, epoch);
    reclaim::trim(&mut services, |s| s.state);
    reclaim::trim(&mut backends, |b| b.state);
    reclaim::trim(&mut snat, |r| r.state);
    if snat.len() >= MAX_ENTRY_IDS || services.len() >= MAX_ENTRY_IDS {
        return Err("too many services or SNAT rules, live and draining".into());
    }

    let owners = FlowOwners::build(&services, &backends, &snat);
    // The active services' IPv6 VIPs, `also_listen` ones included: their
    // flows are forwarded, ND and echo answered for them.
    let vips6: Vec<Ipv6Addr> = services
        .iter()
        .filter(|s| !s.state.is_retired())
        .flat_map(|s| s.spec.listens().map(|(key, _)| key.vip))
        .filter_map(|vip| match vip {
            IpAddr::V6(vip) => Some(vip),
            IpAddr::V4(_) => None,
        })
        .collect();
    // IPv6 FULLNAT local addresses and IPv6 SNAT addresses are ours: ND
    // and echo answered for them.
    let local6: Vec<Ipv6Addr> = owners.local6().iter().collect();
    let nat64_local_listened = owners
        .nat64_locals()
        .any(|a| service_index.listens_on(IpAddr::V4(a)));
    Ok(LbTables {
        epoch,
        kernel: kernel_paths(cfg)?,
        garp: cfg.garp,
        synproxy: cfg.synproxy,
        owners,
        custom_timeouts: services.iter().any(|s| s.spec.timeouts.is_some()),
        mss_clamping: services.iter().any(|s| s.spec.mss_clamp.is_some()),
        client_addr: services
            .iter()
            .any(|s| s.spec.vip.is_ipv4() && (s.spec.toa || s.spec.proxy_protocol.is_some())),
        client_addr6: services
            .iter()
            .any(|s| s.spec.vip.is_ipv6() && (s.spec.toa || s.spec.proxy_protocol.is_some())),
        min_mtu: cfg.ports.iter().map(|p| p.mtu).min().unwrap_or(1500),
        reasm_vips: reasm_vips(&services),
        syn_proxying: services
            .iter()
            .any(|s| !s.state.is_retired() && s.spec.syn_proxy),
        proxy_tcp: services.iter().any(|s| {
            s.spec.vip.is_ipv4()
                && !s.state.is_retired()
                && s.spec.proto == IpProto::TCP
                && s.spec.proxy_protocol.is_some()
        }),
        proxy_tcp6: services.iter().any(|s| {
            s.spec.vip.is_ipv6()
                && !s.state.is_retired()
                && s.spec.proto == IpProto::TCP
                && s.spec.proxy_protocol.is_some()
        }),
        ports: cfg.ports.clone(),
        interfaces: cfg.interfaces.clone(),
        ingress,
        routes,
        static_neighbours: cfg.neighbours.iter().copied().collect(),
        static_neighbours6: cfg.neighbours6.iter().copied().collect(),
        owned: AddrSet::new(owned.into_iter().filter(|a| !cfg.standby.contains(a))),
        owned6: Addr6Set::new(
            cfg.interfaces
                .iter()
                .flat_map(|i| i.addrs6.iter().map(|&(a, _)| a))
                .chain(vips6.iter().copied())
                .chain(local6),
        ),
        vips6: Addr6Set::new(vips6),
        one_packet6: services
            .iter()
            .any(|s| !s.state.is_retired() && s.spec.vip.is_ipv6() && s.spec.one_packet),
        standby: AddrSet::new(cfg.standby.iter().copied()),
        services,
        service_index,
        nat64_local_listened,
        links6: links6(&backends, &routes6),
        routes6,
        backends,
        snat,
        snat_match,
        snat_match6,
        sessions: cfg.sessions,
    })
}

/// The VIPs (`also_listen` ones too) of the active UDP services that send
/// the PROXY header: it goes in front of a datagram's payload, so only a
/// whole datagram can take it.
fn reasm_vips(services: &[Service]) -> Vec<Ipv4Addr> {
    let mut vips: Vec<Ipv4Addr> = services
        .iter()
        .filter(|s| {
            !s.state.is_retired() && s.spec.proto == IpProto::UDP && s.spec.proxy_protocol.is_some()
        })
        .flat_map(|s| s.spec.listens().map(|(key, _)| key.vip))
        // Reassembly is IPv4's (IPv6 fragments are not forwarded yet).
        .filter_map(|vip| match vip {
            IpAddr::V4(vip) => Some(vip),
            IpAddr::V6(_) => None,
        })
        .collect();
    vips.sort_unstable();
    vips.dedup();
    vips
}

/// Each port's kernel interface, by port index.
fn kernel_paths(cfg: &LbConfig) -> Result<Vec<Option<KernelPath>>, String> {
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
    Ok(kernel)
}

/// The entry lists being compiled.
struct Entries {
    services: Vec<Service>,
    backends: Vec<BackendInfo>,
    snat: Vec<SnatRule>,
}

/// Every earlier entry, retired unless the config names it again (the
/// compile steps re-activate those); the flush marks apply to retired
/// (draining) entries too. Free ids stay free.
fn retire_all(prev: Option<&LbTables>, flush: &FlushRequest) -> Entries {
    let mut services: Vec<Service> = prev.map_or_else(Vec::new, |p| p.services.clone());
    let mut backends: Vec<BackendInfo> = prev.map_or_else(Vec::new, |p| p.backends.clone());
    let mut snat: Vec<SnatRule> = prev.map_or_else(Vec::new, |p| p.snat.clone());
    for svc in services.iter_mut().filter(|s| !s.state.is_free()) {
        let named = flush.services.contains(&svc.key());
        retire(&mut svc.state, named);
    }
    for b in backends.iter_mut().filter(|b| !b.state.is_free()) {
        let Some(svc) = services.get(b.service as usize) else {
            continue;
        };
        let named = flush.backends.contains(&(svc.key(), b.addr, b.port));
        retire(&mut b.state, named || svc.state.is_flushed());
    }
    for rule in snat.iter_mut().filter(|r| !r.state.is_free()) {
        retire(&mut rule.state, false);
    }
    Entries {
        services,
        backends,
        snat,
    }
}

/// Compiles the config's services into `e` (keeping ids, taking free ones
/// for new entries); returns the service index.
fn compile_services(
    cfg: &LbConfig,
    prev: Option<&LbTables>,
    e: &mut Entries,
    owned: &mut Vec<Ipv4Addr>,
    epoch: u64,
) -> Result<ListenIndex<u32>, String> {
    let mut free_services = reclaim::FreeIds::of(e.services.iter().map(|s| s.state));
    let mut free_backends = reclaim::FreeIds::of(e.backends.iter().map(|b| b.state));
    let fresh = IdStamp {
        born: epoch,
        retired: 0,
    };
    let mut service_index = ListenIndex::default();
    for spec in &cfg.services {
        let key = spec.key();
        let text = || key.to_string();
        check_service(spec, &service_index)?;
        // The same service: same key, mode and local addresses, not flushed.
        let kept = prev
            .and_then(|p| p.service_index.by_key(&key))
            .filter(|&id| {
                e.services.get(id as usize).is_some_and(|old| {
                    !old.state.is_flushed()
                        && old.spec.mode == spec.mode
                        && old.spec.local_addrs == spec.local_addrs
                        && old.spec.local_addrs6 == spec.local_addrs6
                })
            });
        let old = kept.and_then(|k| e.services.get(k as usize));
        // A new service's backends name the id it will take.
        let id = kept.unwrap_or_else(|| free_services.peek(e.services.len()));
        let mut ids = Vec::with_capacity(spec.backends.len());
        let mut sched_backends = Vec::with_capacity(spec.backends.len());
        for b in &spec.backends {
            let same = old.and_then(|o| {
                o.backend_ids.iter().copied().find(|&bid| {
                    e.backends.get(bid as usize).is_some_and(|ob| {
                        !ob.state.is_flushed() && ob.addr == b.addr && ob.port == b.port
                    })
                })
            });
            let bid = match same {
                Some(bid) if !ids.contains(&bid) => bid,
                _ => {
                    let info = BackendInfo {
                        service: id,
                        addr: b.addr,
                        port: b.port,
                        state: Lifecycle::Active,
                        stamp: fresh,
                    };
                    free_backends.place(&mut e.backends, info)
                }
            };
            if let Some(info) = e.backends.get_mut(bid as usize) {
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
        let old = kept.and_then(|k| e.services.get(k as usize));
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
                .map_err(|e| format!("service {}: {e:?}", text()))?
                .with_thresholds(|bid| {
                    let at = ids.iter().position(|&i| i == bid);
                    at.and_then(|k| spec.backends.get(k))
                        .map_or_else(Thresholds::default, |b| {
                            Thresholds::new(b.u_threshold, b.l_threshold)
                        })
                }),
        };
        if let IpAddr::V4(vip) = spec.vip {
            owned.push(vip);
        }
        // IPv6 ones are owned through `vips6`.
        owned.extend(spec.also_listen.iter().filter_map(|&(vip, _)| match vip {
            IpAddr::V4(vip) => Some(vip),
            IpAddr::V6(_) => None,
        }));
        owned.extend(spec.local_addrs.iter().copied());
        // Shared when the list did not change (a big one is costly to build).
        let acl = match old.filter(|o| o.spec.acl == spec.acl) {
            Some(o) => o.acl.clone(),
            None => (!spec.acl.is_empty()).then(|| std::sync::Arc::new(acl::Acl::build(&spec.acl))),
        };
        let svc = Service {
            spec: spec.clone(),
            acl,
            scheduler,
            backend_ids: ids,
            state: Lifecycle::Active,
            stamp: old.map_or(fresh, |o| o.stamp),
        };
        let placed = match kept {
            Some(k) => {
                if let Some(slot) = e.services.get_mut(k as usize) {
                    *slot = svc;
                }
                k
            }
            None => free_services.place(&mut e.services, svc),
        };
        debug_assert_eq!(placed, id);
        for (listen, last) in spec.listens() {
            service_index.insert(listen, last, id);
        }
    }
    // Retired services keep their spec (mode, timeouts) for their sessions
    // and drop their scheduler (and with it any Maglev table).
    for svc in e.services.iter_mut().filter(|s| s.state.is_retired()) {
        if !svc.scheduler.backends().is_empty() || svc.scheduler.maglev_table().is_some() {
            svc.scheduler = Scheduler::new(SchedulerKind::RoundRobin, Vec::new())
                .map_err(|e| format!("retiring a service: {e:?}"))?;
        }
    }
    Ok(service_index)
}

/// What only the compiled form can check of one service against those
/// compiled before it: ports it shares with itself or another service,
/// one-packet and FULLNAT constraints.
fn check_service(spec: &ServiceSpec, service_index: &ListenIndex<u32>) -> Result<(), String> {
    let key = spec.key();
    let text = || key.to_string();
    let listens: Vec<(ServiceKey, u16)> = spec.listens().collect();
    for (i, &(listen, last)) in listens.iter().enumerate() {
        let earlier = listens[..i].iter().find(|(k, l)| {
            (k.proto, k.vip) == (listen.proto, listen.vip) && k.port <= last && listen.port <= *l
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
    if spec.one_packet && (spec.proto != IpProto::UDP || !matches!(spec.mode, Mode::Dr | Mode::Tun))
    {
        return Err(format!(
            "service {}: one-packet scheduling is for UDP with DR or TUN (NAT and FULLNAT replies need a session)",
            text()
        ));
    }
    if spec.vip.is_ipv6() {
        // NAT64 (IPv4 backends and local addresses), or one that will be
        // once it has backends; FULLNAT over IPv6 (IPv6 backends and local
        // addresses).
        let nat64 = spec.mode == Mode::FullNat
            && spec.backends.iter().all(|b| b.addr.is_ipv4())
            && spec.local_addrs6.is_empty();
        let fullnat6 = spec.mode == Mode::FullNat
            && spec.backends.iter().all(|b| b.addr.is_ipv6())
            && spec.local_addrs.is_empty();
        if !matches!(spec.mode, Mode::Dr | Mode::Tun | Mode::Nat) && !nat64 && !fullnat6 {
            return Err(format!(
                "service {}: {:?} is not built for IPv6 yet (DR, TUN and NAT are, FULLNAT with \
                 IPv6 backends and local addresses, and with IPv4 ones: NAT64)",
                text(),
                spec.mode
            ));
        }
        if (!nat64 && spec.backends.iter().any(|b| b.addr.is_ipv4()))
            || spec.also_listen.iter().any(|(a, _)| a.is_ipv4())
        {
            return Err(format!(
                "service {}: an IPv6 VIP takes IPv6 backends (IPv4 ones with FULLNAT: NAT64) \
                 and IPv6 also_listen addresses",
                text()
            ));
        }
    } else if spec.backends.iter().any(|b| b.addr.is_ipv6())
        || !spec.local_addrs6.is_empty()
        || spec.also_listen.iter().any(|(a, _)| a.is_ipv6())
    {
        return Err(format!(
            "service {}: an IPv4 VIP takes IPv4 backends, local and also_listen addresses",
            text()
        ));
    }
    if spec.mode == Mode::FullNat && spec.local_addrs.is_empty() && spec.local_addrs6.is_empty() {
        return Err(format!("service {}: FULLNAT needs local addresses", text()));
    }
    Ok(())
}

/// The IPv4 and IPv6 SNAT match lists: (network, prefix length, rule id).
type SnatMatches = (Vec<(Ipv4Addr, u8, u32)>, Vec<(Ipv6Addr, u8, u32)>);

/// The id of the rule for network `net`/`len` in the match lists.
fn snat_id(
    v4: &[(Ipv4Addr, u8, u32)],
    v6: &[(Ipv6Addr, u8, u32)],
    (net, len): (IpAddr, u8),
) -> Option<u32> {
    match net {
        IpAddr::V4(n) => v4.iter().find(|m| (m.0, m.1) == (n, len)).map(|m| m.2),
        IpAddr::V6(n) => v6.iter().find(|m| (m.0, m.1) == (n, len)).map(|m| m.2),
    }
}

/// Compiles the config's SNAT rules into `e`; returns the match lists, one
/// per family (a rule is of its source's family).
fn compile_snat(
    cfg: &LbConfig,
    prev: Option<&LbTables>,
    e: &mut Entries,
    owned: &mut Vec<Ipv4Addr>,
    epoch: u64,
) -> Result<SnatMatches, String> {
    let mut free = reclaim::FreeIds::of(e.snat.iter().map(|r| r.state));
    let mut snat_match: Vec<(Ipv4Addr, u8, u32)> = Vec::with_capacity(cfg.snat.len());
    let mut snat_match6: Vec<(Ipv6Addr, u8, u32)> = Vec::new();
    for rule in &cfg.snat {
        let (addr, len) = rule.source;
        let (net, empty) = match addr {
            IpAddr::V4(a) => (
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & crate::net::route::mask(len))),
                rule.addrs.is_empty() || !rule.addrs6.is_empty(),
            ),
            IpAddr::V6(a) => (
                IpAddr::V6(owner::network6(a, len)),
                rule.addrs6.is_empty() || !rule.addrs.is_empty(),
            ),
        };
        if empty {
            return Err(format!(
                "snat {addr}/{len}: no addresses (or some of the other family)"
            ));
        }
        if snat_id(&snat_match, &snat_match6, (net, len)).is_some() {
            return Err(format!("snat {addr}/{len}: defined twice"));
        }
        let kept = prev.and_then(|p| snat_id(&p.snat_match, &p.snat_match6, (net, len)));
        let mut entry = SnatRule {
            spec: rule.clone(),
            state: Lifecycle::Active,
            stamp: IdStamp {
                born: epoch,
                retired: 0,
            },
        };
        let id = match kept.and_then(|k| e.snat.get_mut(k as usize).map(|slot| (k, slot))) {
            Some((k, slot)) => {
                entry.stamp = slot.stamp;
                *slot = entry;
                k
            }
            None => free.place(&mut e.snat, entry),
        };
        match net {
            IpAddr::V4(n) => snat_match.push((n, len, id)),
            IpAddr::V6(n) => snat_match6.push((n, len, id)),
        }
        owned.extend(rule.addrs.iter().copied());
    }
    Ok((snat_match, snat_match6))
}

/// Ids whose entry changed between two tables (see [`LbTables::reborn_since`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reborn {
    pub services: Vec<u32>,
    pub backends: Vec<u32>,
    pub snat: Vec<u32>,
}

impl Reborn {
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.backends.is_empty() && self.snat.is_empty()
    }
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
