//! What the pipeline knows about the network and the services, compiled once
//! off the packet path into read-only tables that every worker shares.
//!
//! [`LbConfig`] is the plain description (the appliance builds it from the
//! TOML config); [`LbTables::build`] checks what only the compiled form can
//! check, prebuilds every lookup structure (route table, owned addresses,
//! service index, Maglev tables) and assigns backend ids. Workers never
//! allocate while reading these.

use std::net::Ipv4Addr;

use hashbrown::HashMap;

use crate::flow::{TableConfig, Timeouts};
use crate::net::addrs::AddrSet;
use crate::net::route::RouteTable;
use crate::sched::{Backend, Persistence, Scheduler, SchedulerKind};
use crate::tuple::IpProto;
use crate::wire::ethernet::MacAddr;

/// How a service forwards (SNAT is a rule, not a service).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Dr,
    Tun,
    Nat,
    FullNat,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Dr => "dr",
            Mode::Tun => "tun",
            Mode::Nat => "nat",
            Mode::FullNat => "fullnat",
        }
    }
}

/// A port as the pipeline sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSetup {
    pub mac: MacAddr,
    /// Largest IP packet the port sends.
    pub mtu: u16,
}

/// An L3 interface: a port, optionally one VLAN on it, and its addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub port: u16,
    pub vlan: Option<u16>,
    /// Owned addresses with their prefix lengths (each a connected route).
    pub addrs: Vec<(Ipv4Addr, u8)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticRoute {
    pub prefix: Ipv4Addr,
    pub len: u8,
    pub via: Ipv4Addr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendSpec {
    pub addr: Ipv4Addr,
    pub port: u16,
    pub weight: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    pub name: Option<String>,
    pub vip: Ipv4Addr,
    pub proto: IpProto,
    pub port: u16,
    pub mode: Mode,
    pub scheduler: SchedulerKind,
    pub persistence: Option<Persistence>,
    /// FULLNAT local addresses and the port range handed out on each.
    pub local_addrs: Vec<Ipv4Addr>,
    pub local_ports: (u16, u16),
    /// Overrides of the global timeouts for this service's sessions.
    pub timeouts: Option<Timeouts>,
    pub backends: Vec<BackendSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnatSpec {
    pub source: (Ipv4Addr, u8),
    /// Egress port (informational: the route decides where packets go).
    pub port: u16,
    pub addrs: Vec<Ipv4Addr>,
    pub ports: (u16, u16),
}

/// The whole description the pipeline is built from.
#[derive(Clone, Debug)]
pub struct LbConfig {
    /// Indexed by port index (config order).
    pub ports: Vec<PortSetup>,
    pub interfaces: Vec<Interface>,
    pub routes: Vec<StaticRoute>,
    pub neighbours: Vec<(Ipv4Addr, MacAddr)>,
    pub services: Vec<ServiceSpec>,
    pub snat: Vec<SnatSpec>,
    pub sessions: TableConfig,
}

/// A service, compiled.
#[derive(Clone, Debug)]
pub struct Service {
    pub spec: ServiceSpec,
    /// Scheduler with backend ids assigned; each worker clones it (rr/wrr
    /// cursors are per worker).
    pub scheduler: Scheduler,
    /// Ids of this service's backends, in `spec.backends` order.
    pub backend_ids: Vec<u32>,
}

/// A backend, by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendInfo {
    pub service: u32,
    pub addr: Ipv4Addr,
    pub port: u16,
}

/// Key of the service index: destination address, protocol, port.
pub type ServiceKey = (Ipv4Addr, u8, u16);

/// The compiled, read-only tables.
#[derive(Clone, Debug)]
pub struct LbTables {
    pub ports: Vec<PortSetup>,
    pub interfaces: Vec<Interface>,
    /// `(port, vlan) -> interface index`, searched linearly (a handful).
    pub ingress: Vec<(u16, Option<u16>, u16)>,
    /// Routes; a next hop's `port` is an interface index.
    pub routes: RouteTable,
    pub static_neighbours: HashMap<Ipv4Addr, MacAddr>,
    pub owned: AddrSet,
    pub services: Vec<Service>,
    pub service_index: HashMap<ServiceKey, u32>,
    pub backends: Vec<BackendInfo>,
    pub snat: Vec<SnatSpec>,
    pub sessions: TableConfig,
}

/// Sessions of SNAT rule `i` carry service id `SNAT_SERVICE_BASE + i`.
pub const SNAT_SERVICE_BASE: u32 = 1 << 31;

impl LbTables {
    /// Compiles `cfg`; the error says what is wrong in config terms.
    pub fn build(cfg: &LbConfig) -> Result<LbTables, String> {
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

        let mut services = Vec::with_capacity(cfg.services.len());
        let mut service_index = HashMap::new();
        let mut backends = Vec::new();
        for (s, spec) in cfg.services.iter().enumerate() {
            let key = (spec.vip, spec.proto.0, spec.port);
            if service_index.insert(key, s as u32).is_some() {
                return Err(format!(
                    "service {}: defined twice",
                    service_key_text(spec.proto, spec.vip, spec.port)
                ));
            }
            if spec.mode == Mode::FullNat && spec.local_addrs.is_empty() {
                return Err(format!(
                    "service {}: FULLNAT needs local addresses",
                    service_key_text(spec.proto, spec.vip, spec.port)
                ));
            }
            let mut sched_backends = Vec::with_capacity(spec.backends.len());
            let mut ids = Vec::with_capacity(spec.backends.len());
            for b in &spec.backends {
                let id = backends.len() as u32;
                backends.push(BackendInfo {
                    service: s as u32,
                    addr: b.addr,
                    port: b.port,
                });
                ids.push(id);
                sched_backends.push(Backend {
                    id,
                    addr: b.addr,
                    port: b.port,
                    weight: b.weight,
                });
            }
            let scheduler = Scheduler::new(spec.scheduler, sched_backends).map_err(|e| {
                format!(
                    "service {}: {e:?}",
                    service_key_text(spec.proto, spec.vip, spec.port)
                )
            })?;
            owned.push(spec.vip);
            owned.extend(spec.local_addrs.iter().copied());
            services.push(Service {
                spec: spec.clone(),
                scheduler,
                backend_ids: ids,
            });
        }
        for rule in &cfg.snat {
            if rule.addrs.is_empty() {
                return Err(format!(
                    "snat {}/{}: no addresses",
                    rule.source.0, rule.source.1
                ));
            }
            owned.extend(rule.addrs.iter().copied());
        }
        Ok(LbTables {
            ports: cfg.ports.clone(),
            interfaces: cfg.interfaces.clone(),
            ingress,
            routes,
            static_neighbours: cfg.neighbours.iter().copied().collect(),
            owned: AddrSet::new(owned),
            services,
            service_index,
            backends,
            snat: cfg.snat.clone(),
            sessions: cfg.sessions,
        })
    }

    /// Our MAC on `port`.
    #[inline]
    pub fn port_mac(&self, port: u16) -> Option<MacAddr> {
        self.ports.get(usize::from(port)).map(|p| p.mac)
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
        self.snat
            .iter()
            .position(|r| same_prefix(r.source.0, src, r.source.1))
            .map(|i| i as u32)
    }
}

/// Whether `a` and `b` share their first `len` bits.
pub fn same_prefix(a: Ipv4Addr, b: Ipv4Addr, len: u8) -> bool {
    let mask = crate::net::route::mask(len);
    u32::from(a) & mask == u32::from(b) & mask
}

/// `tcp/192.0.2.10:80`, as reports name services.
pub fn service_key_text(proto: IpProto, vip: Ipv4Addr, port: u16) -> String {
    let p = match proto {
        IpProto::TCP => "tcp",
        IpProto::UDP => "udp",
        _ => "ip",
    };
    format!("{p}/{vip}:{port}")
}
