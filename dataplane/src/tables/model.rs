//! The plain description of what the load balancer serves and where it
//! sends packets ([`LbConfig`]), and the entries the compiled tables keep by
//! id ([`Service`], [`BackendInfo`], [`SnatRule`]) with their [`Lifecycle`].
//! Types only: compiling them is `tables`' job, deciding flow ownership from
//! them `tables::owner`'s.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::client_addr::proxy_header::ProxyVersion;
use crate::flow::limits::{ClientLimit, RateLimit};
use crate::flow::{TableConfig, Timeouts};
use crate::sched::{Persistence, Scheduler, SchedulerKind};
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
    /// Owned IPv6 addresses with their prefix lengths: answered for
    /// (Neighbour Discovery, echo), not yet routed (issue 20, stage 1).
    pub addrs6: Vec<(Ipv6Addr, u8)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticRoute {
    pub prefix: Ipv4Addr,
    pub len: u8,
    pub via: Ipv4Addr,
}

/// An IPv6 static route: `prefix/len` via `via`, a gateway on a connected
/// IPv6 prefix (the config refuses one elsewhere, and a mix of families).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticRoute6 {
    pub prefix: Ipv6Addr,
    pub len: u8,
    pub via: Ipv6Addr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendSpec {
    /// The real server; of the service's VIP's family (the config refuses
    /// a mix).
    pub addr: IpAddr,
    pub port: u16,
    pub weight: u32,
    /// Connection thresholds (IPVS u_threshold / l_threshold; 0 upper: no
    /// limit, 0 lower: 3/4 of upper), see `sched::overload`.
    pub u_threshold: u32,
    pub l_threshold: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    pub name: Option<String>,
    /// Either family (issue 20); its backends are of the same one.
    pub vip: IpAddr,
    pub proto: IpProto,
    /// The first (or only) port; 0: every port (see `tables::listen`).
    pub port: u16,
    /// How many ports after `port` it also listens on (the range
    /// `port..=port + extra_ports`); 0 for one port, ignored for port 0.
    pub extra_ports: u16,
    /// More (VIP, port) pairs the service listens on, with the same
    /// backends, scheduler and persistence (a firewall-mark group); port 0:
    /// every port of that VIP. Of the VIP's family (`check_service`).
    pub also_listen: Vec<(IpAddr, u16)>,
    pub mode: Mode,
    /// One-packet scheduling (IPVS `ops`, UDP with DR or TUN only, either
    /// family: `pipeline/ops6.rs` for IPv6): every datagram is scheduled on
    /// its own and no session is kept.
    pub one_packet: bool,
    pub scheduler: SchedulerKind,
    pub persistence: Option<Persistence>,
    /// DR and TUN: a TCP packet other than a SYN without a session opens
    /// one to the backend the scheduler picks (IPVS `sloppy_tcp`), so a
    /// flow that ECMP moves here from another node carries on.
    pub pickup: bool,
    /// FULLNAT local addresses and the port range handed out on each.
    pub local_addrs: Vec<Ipv4Addr>,
    /// FULLNAT over IPv6 (issue 20): an IPv6 VIP's local addresses, on
    /// the same `local_ports`. A service has one list or the other, of
    /// its backends' family.
    pub local_addrs6: Vec<Ipv6Addr>,
    pub local_ports: (u16, u16),
    /// Overrides of the global timeouts for this service's sessions.
    pub timeouts: Option<Timeouts>,
    /// Client prefixes allowed and denied (`tables::acl`); empty: everyone.
    pub acl: super::acl::AclSpec,
    /// TCP: SYNs announcing a larger MSS are lowered to this.
    pub mss_clamp: Option<u16>,
    /// New connections per second the service takes (`flow::limits`).
    pub new_conn_rate: Option<RateLimit>,
    /// New connections per second each client prefix may open.
    pub client_rate: Option<ClientLimit>,
    /// FULLNAT TCP: the client's address in a TOA option on the
    /// handshake's ACK (`client_addr::toa`).
    pub toa: bool,
    /// FULLNAT UDP: the PROXY protocol header on a session's first
    /// datagram (`client_addr::udp`; version 2 only for now).
    pub proxy_protocol: Option<ProxyVersion>,
    /// TCP, NAT and FULLNAT: SYNs answered with SYN cookies, the backend
    /// connection opened on a valid ACK (`crate::synproxy`).
    pub syn_proxy: bool,
    pub backends: Vec<BackendSpec>,
}

impl ServiceSpec {
    /// The last port it listens on (65535 for port 0).
    pub fn last_port(&self) -> u16 {
        match self.port {
            0 => u16::MAX,
            p => p.saturating_add(self.extra_ports),
        }
    }

    /// Every (key, last port) it listens on: its own, then `also_listen`'s.
    pub fn listens(&self) -> impl Iterator<Item = (ServiceKey, u16)> + '_ {
        let own = (self.key(), self.last_port());
        let also = self.also_listen.iter().map(|&(vip, port)| {
            let key = ServiceKey {
                proto: self.proto,
                vip,
                port,
            };
            (key, if port == 0 { u16::MAX } else { port })
        });
        std::iter::once(own).chain(also)
    }

    /// Whether it is NAT64 (issue 20, `pipeline/nat64.rs`): FULLNAT with
    /// an IPv6 VIP and IPv4 backends (all of them, at least one) and IPv4
    /// local addresses.
    pub fn is_nat64(&self) -> bool {
        self.mode == Mode::FullNat
            && self.vip.is_ipv6()
            && !self.backends.is_empty()
            && self.backends.iter().all(|b| b.addr.is_ipv4())
    }

    /// The service's identity: protocol, VIP, port.
    pub fn key(&self) -> ServiceKey {
        ServiceKey {
            proto: self.proto,
            vip: self.vip,
            port: self.port,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnatSpec {
    /// The internal prefix (network, length), IPv4 or IPv6 (issue 20): a
    /// rule is of one family, its addresses in `addrs` or `addrs6`.
    pub source: (IpAddr, u8),
    /// Egress port (informational: the route decides where packets go).
    pub port: u16,
    pub addrs: Vec<Ipv4Addr>,
    /// An IPv6 rule's addresses (`pipeline/snat6.rs`); empty for IPv4.
    pub addrs6: Vec<Ipv6Addr>,
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
    /// IPv6 static routes (issue 20): off-link destinations through their
    /// gateway, longest prefix first, the interfaces' prefixes first.
    pub routes6: Vec<StaticRoute6>,
    /// IPv6 static neighbours: never solicited, never expire.
    pub neighbours6: Vec<(Ipv6Addr, MacAddr)>,
    pub services: Vec<ServiceSpec>,
    pub snat: Vec<SnatSpec>,
    pub sessions: TableConfig,
    /// The ports' kernel interfaces (at most one per port).
    pub kernel: Vec<KernelPath>,
    pub garp: Garp,
    /// VRRP-managed addresses the peer node holds now (this node is their
    /// backup): in the config, never answered for (docs/high-availability.md).
    pub standby: Vec<Ipv4Addr>,
    /// The SYN proxy's global settings.
    pub synproxy: SynProxySettings,
}

/// The SYN proxy's global settings (docs/syn-proxy.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SynProxySettings {
    /// Automatic mode: a worker whose SYN_RECV sessions reach this many
    /// proxies every TCP NAT and FULLNAT service's new flows, until they
    /// fall below half of it; 0: off.
    pub auto_threshold: u32,
    /// Answer an ACK whose cookie is bad with a RST (as Linux does for a
    /// listening socket), within a budget per worker; false: drop it only.
    pub reset_bad_cookie: bool,
}

/// A port's kernel interface (docs/kernel-path.md): a Linux interface
/// with the port's MAC that gets the frames the load balancer does not
/// consume, and whose frames leave by the port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelPath {
    /// The port it twins.
    pub port: u16,
    /// The packet-I/O port index of its queues (after the ports'); only
    /// the worker that moves kernel frames (worker 0) has them.
    pub io_port: u16,
    /// Host addresses: frames to them and ARP for them go to the kernel.
    pub addrs: Vec<Ipv4Addr>,
    /// Also every frame that would be dropped for not being ours.
    pub unmatched: bool,
    /// Frames per second handed to the kernel, at most.
    pub budget: u32,
}

impl KernelPath {
    /// Whether an IPv4 packet to `dst` (in a frame to `dst_mac`) is the
    /// host's: one of its addresses, multicast, or broadcast.
    #[inline]
    pub fn wants(&self, dst: Ipv4Addr, dst_mac: &[u8]) -> bool {
        dst.is_multicast()
            || dst.is_broadcast()
            || dst_mac.first().is_some_and(|b| b & 1 == 1)
            || self.addrs.contains(&dst)
    }
}

/// Gratuitous ARP for owned addresses when they come up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Garp {
    /// Announcements per address (0: none).
    pub count: u32,
    pub interval_ms: u64,
}

/// Where a service, backend or SNAT rule is in its life. An entry that
/// leaves the config stays in the tables (retired) while any worker still
/// has a session of it, so those sessions still find their mode, timeouts
/// and real server by id; once no worker has one, a later build frees its
/// id (see `tables::reclaim`) for the next new entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lifecycle {
    /// In the config: takes new flows (backends: if their weight is above 0).
    #[default]
    Active,
    /// Deleted, or replaced by an entry with another identity: takes no new
    /// flows; its sessions continue until they end (drain).
    Retired,
    /// Retired and its sessions ended at once (flush): a worker removes them
    /// when it adopts the tables that first mark the entry flushed.
    Flushed,
    /// Not an entry: a freed id, kept as a placeholder so ids stay indexes
    /// until a new entry takes it. No session refers to it.
    Free,
}

impl Lifecycle {
    /// Retired or flushed: out of the config.
    pub fn is_retired(self) -> bool {
        self != Lifecycle::Active
    }

    pub fn is_flushed(self) -> bool {
        self == Lifecycle::Flushed
    }

    /// A freed id (no entry).
    pub fn is_free(self) -> bool {
        self == Lifecycle::Free
    }

    /// Whether sessions of the entry may exist and keep forwarding: active
    /// or draining (not flushed, not free).
    pub fn keeps_sessions(self) -> bool {
        matches!(self, Lifecycle::Active | Lifecycle::Retired)
    }
}

/// When an id was given to its entry and when that entry left the config,
/// as table epochs (`LbTables::epoch`). `born` tells a reused id from its
/// previous owner: a worker that sees it change resets everything it keeps
/// by that id. `retired` (0 while active) is what a worker's reference
/// report must have caught up with before the id may be freed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdStamp {
    pub born: u64,
    pub retired: u64,
}

/// A service, compiled.
#[derive(Clone, Debug)]
pub struct Service {
    pub spec: ServiceSpec,
    /// `spec.acl` compiled; none when the service takes every client.
    pub acl: Option<std::sync::Arc<super::acl::Acl>>,
    /// Scheduler with backend ids assigned; each worker clones it (rr/wrr
    /// cursors are per worker). Empty for a retired service.
    pub scheduler: Scheduler,
    /// Ids of this service's backends, in `spec.backends` order (for a
    /// retired service: the ids it had when it was retired). Backends deleted
    /// while the service kept its id are not here; find them with
    /// [`LbTables::backends_of`].
    pub backend_ids: Vec<u32>,
    pub state: Lifecycle,
    pub stamp: IdStamp,
}

impl Service {
    /// Whether its access list keeps IPv6 client `client` out.
    #[inline]
    pub fn denies6(&self, client: std::net::Ipv6Addr) -> bool {
        self.acl.as_deref().is_some_and(|acl| !acl.allows6(client))
    }

    /// Its key in [`LbTables::service_index`]: protocol, VIP, port.
    pub fn key(&self) -> ServiceKey {
        self.spec.key()
    }
}

/// A backend, by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendInfo {
    pub service: u32,
    /// Either family: the IPv4 packet path reads it through [`Self::v4`].
    pub addr: IpAddr,
    pub port: u16,
    /// Retired backends are in no scheduler.
    pub state: Lifecycle,
    pub stamp: IdStamp,
}

impl BackendInfo {
    /// The address of an IPv4 backend: what the IPv4 packet path forwards
    /// to. An IPv4 session's backend is IPv4 (the config does not mix
    /// families in a service, and an id is reused only once no session
    /// refers to it); the callers drop as `no_backend` if it were not.
    #[inline(always)]
    pub fn v4(&self) -> Option<Ipv4Addr> {
        match self.addr {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }
    }
}

/// A SNAT rule, by id (its sessions' origin is `Origin::Snat(id)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnatRule {
    pub spec: SnatSpec,
    /// Retired rules match no new flows.
    pub state: Lifecycle,
    pub stamp: IdStamp,
}

/// Key of the service index: protocol, destination address (VIP), port.
/// The control plane names services by the same type.
pub use ferrolb_types::ServiceKey;

/// What one worker's sessions refer to, by id, counted as sessions come and
/// go (persistence templates included): the builder frees a retired id
/// only when every worker's report says 0 for it and was taken at an epoch
/// at or after the one that retired it (from then on no worker can open a
/// session on it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdRefs {
    /// `LbTables::epoch` of the tables the worker ran when it counted.
    pub epoch: u64,
    pub services: Vec<u64>,
    pub backends: Vec<u64>,
    pub snat: Vec<u64>,
}

/// Sessions and backends to end at once when the next tables are adopted.
#[derive(Clone, Debug, Default)]
pub struct FlushRequest {
    /// Deleted services whose sessions end now.
    pub services: Vec<ServiceKey>,
    /// (service key, backend addr, backend port) of deleted backends whose sessions end now.
    pub backends: Vec<(ServiceKey, IpAddr, u16)>,
}
