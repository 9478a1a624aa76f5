//! The load-balancing part of the config: L3 interfaces, routes, static
//! neighbours, virtual services, source NAT, the session table and its
//! timeouts. `docs/load-balancing.md` describes every key; the checks that
//! serde cannot express are in `validate_lb.rs`.
//!
//! Addresses, prefixes, MACs and port ranges are written as strings in the
//! file (`"10.0.0.1/24"`, `"02:00:00:00:00:01"`, `"1024-65535"`); their
//! serde impls parse and print that text, and a parse error says what was
//! expected.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use ferrolb_types::{IpProto, ServiceKey};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::check::{CheckList, Command, OnFailure, SorryServerConfig};
use super::prefix6::IpPrefix;

/// An Ethernet MAC address, written `"02:00:00:00:00:01"` (the type both
/// the config and the dataplane use).
pub use ferrolb_types::MacAddr;

/// An IPv4 address with a prefix length, written `"10.0.0.1/24"`; a bare
/// address means `/32`. The address keeps its host bits: an interface
/// address `10.0.0.1/24` is both the address we own and the connected
/// prefix `10.0.0.0/24`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Ipv4Prefix {
    pub addr: Ipv4Addr,
    pub len: u8,
}

impl Ipv4Prefix {
    fn mask(&self) -> u32 {
        match self.len {
            0 => 0,
            n => u32::MAX << (32 - u32::from(n.min(32))),
        }
    }

    /// The address with the host bits cleared (`10.0.0.1/24` → `10.0.0.0`).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// Whether `a` lies in this prefix.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask() == u32::from(self.network())
    }

    /// Whether the address has bits set beyond the prefix length
    /// (`10.0.0.1/24`: yes; `10.0.0.0/24`: no).
    pub fn host_bits_set(&self) -> bool {
        self.addr != self.network()
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Ipv4Prefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = match s.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (s, None),
        };
        if super::prefix6::looks_ipv6(addr) {
            return Err(format!("{s}: {}", super::prefix6::IPV6_NOT_YET));
        }
        let addr: Ipv4Addr = addr.parse().map_err(|_| {
            format!("{s:?}: expected an IPv4 address like \"10.0.0.1\" or a prefix like \"10.0.0.0/24\"")
        })?;
        let len = match len {
            None => 32,
            Some(len) => match len.parse::<u8>() {
                Ok(n) if n <= 32 && !len.starts_with('+') => n,
                _ => return Err(format!("{s:?}: prefix length must be 0..=32")),
            },
        };
        Ok(Ipv4Prefix { addr, len })
    }
}

/// A range of L4 ports, written `"1024-65535"` or, for one port, `"40000"`.
/// Parsing takes any two ports; validation requires `1 <= min <= max`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PortRange {
    pub min: u16,
    pub max: u16,
}

impl Default for PortRange {
    fn default() -> Self {
        PortRange {
            min: 1024,
            max: 65535,
        }
    }
}

impl PortRange {
    pub fn is_default(&self) -> bool {
        *self == PortRange::default()
    }

    /// Why this range cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.min == 0 {
            Some(format!(
                "{self}: port 0 cannot be used; start the range at 1 or above"
            ))
        } else if self.min > self.max {
            Some(format!("{self}: the first port is above the last"))
        } else {
            None
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.min, self.max)
    }
}

impl FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let port = |p: &str| -> Result<u16, String> {
            let p = p.trim();
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "{s:?}: expected a port range like \"1024-65535\" or one port like \"40000\""
                ));
            }
            p.parse()
                .map_err(|_| format!("{s:?}: ports must be 1..=65535"))
        };
        match s.split_once('-') {
            Some((min, max)) => Ok(PortRange {
                min: port(min)?,
                max: port(max)?,
            }),
            None => {
                let p = port(s)?;
                Ok(PortRange { min: p, max: p })
            }
        }
    }
}

/// Serde for the string-written types: print with `Display`, parse with
/// `FromStr`, and let the parse error through as the message.
macro_rules! serde_via_str {
    ($ty:ty, $expecting:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

pub(super) use serde_via_str;

serde_via_str!(
    Ipv4Prefix,
    "an IPv4 prefix string like \"10.0.0.1/24\" or an address like \"10.0.0.1\""
);
serde_via_str!(
    PortRange,
    "a port range string like \"1024-65535\" or one port like \"40000\""
);

/// An L3 interface: a port, optionally an 802.1Q VLAN on it, and the
/// addresses we own there. Each address's prefix is a connected route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceConfig {
    /// The `[[port]]` name.
    pub port: String,
    /// The VLAN ID (1..=4094) of tagged frames that belong here; none:
    /// untagged frames.
    pub vlan: Option<u16>,
    /// Owned addresses with their prefix length, host bits kept
    /// (`10.0.0.1/24`, `2001:db8::1/64`). IPv6 ones are answered for
    /// (Neighbour Discovery, echo), not routed yet.
    pub addresses: Vec<IpPrefix>,
}

/// A static route; the longest matching prefix wins. Either family
/// (`"2001:db8:9::/48"` via `"2001:db8:1::fe"`), the prefix and the
/// gateway of the same one (validation refuses a mix at `via`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The destination prefix, without host bits.
    pub prefix: IpPrefix,
    /// The next hop, in a connected prefix of the same family.
    pub via: IpAddr,
}

/// A static neighbour (an ARP entry, or an IPv6 neighbour Neighbour
/// Discovery never asks for); never expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighbourConfig {
    pub address: IpAddr,
    pub mac: MacAddr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    /// Its IP protocol number, as service keys carry it.
    pub fn ip_proto(self) -> IpProto {
        match self {
            Protocol::Tcp => IpProto::TCP,
            Protocol::Udp => IpProto::UDP,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How packets reach the backends (IPVS's forwarding methods, plus FULLNAT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LbMode {
    /// Direct routing: MACs rewritten, IP untouched; same L2 segment.
    Dr,
    /// IP-in-IP tunnel to the backend.
    Tun,
    /// Destination NAT; replies must come back through us.
    Nat,
    /// Source and destination NAT, from our local addresses.
    Fullnat,
}

impl LbMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LbMode::Dr => "dr",
            LbMode::Tun => "tun",
            LbMode::Nat => "nat",
            LbMode::Fullnat => "fullnat",
        }
    }
}

impl fmt::Display for LbMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PROXY protocol version (HAProxy's doc/proxy-protocol.txt).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyProtocol {
    V1,
    V2,
}

impl fmt::Display for ProxyProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProxyProtocol::V1 => "v1",
            ProxyProtocol::V2 => "v2",
        })
    }
}

/// The scheduler, named as `ipvsadm -s` names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchedulerName {
    /// Round robin.
    Rr,
    /// Smooth weighted round robin.
    Wrr,
    /// Least connections.
    Lc,
    /// Weighted least connections (ipvsadm's default).
    #[default]
    Wlc,
    /// Source hashing.
    Sh,
    /// Maglev hashing.
    Mh,
    /// Destination hashing.
    Dh,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Locality-based least connection.
    Lblc,
    /// Locality-based least connection with replication.
    Lblcr,
    /// Weighted failover.
    Fo,
    /// Overflow connection.
    Ovf,
}

impl SchedulerName {
    pub fn as_str(self) -> &'static str {
        match self {
            SchedulerName::Rr => "rr",
            SchedulerName::Wrr => "wrr",
            SchedulerName::Lc => "lc",
            SchedulerName::Wlc => "wlc",
            SchedulerName::Sh => "sh",
            SchedulerName::Mh => "mh",
            SchedulerName::Dh => "dh",
            SchedulerName::Sed => "sed",
            SchedulerName::Nq => "nq",
            SchedulerName::Lblc => "lblc",
            SchedulerName::Lblcr => "lblcr",
            SchedulerName::Fo => "fo",
            SchedulerName::Ovf => "ovf",
        }
    }
}

impl SchedulerName {
    /// Every scheduler, in `ipvsadm`'s order of mention.
    pub const ALL: [SchedulerName; 13] = [
        SchedulerName::Rr,
        SchedulerName::Wrr,
        SchedulerName::Lc,
        SchedulerName::Wlc,
        SchedulerName::Lblc,
        SchedulerName::Lblcr,
        SchedulerName::Dh,
        SchedulerName::Sh,
        SchedulerName::Sed,
        SchedulerName::Nq,
        SchedulerName::Fo,
        SchedulerName::Ovf,
        SchedulerName::Mh,
    ];

    /// The scheduler called `name` (`ipvsadm -s` names).
    pub fn from_name(name: &str) -> Option<SchedulerName> {
        SchedulerName::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for SchedulerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A virtual service: (VIP, protocol, port) and its backends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// For reports only.
    pub name: Option<String>,
    /// Either family; what an IPv6 VIP takes is in `validate_family.rs`
    /// (issue 20).
    pub vip: IpAddr,
    pub protocol: Protocol,
    /// The port, or the first of a range; 0: every port of the VIP.
    pub port: u16,
    /// The last port of a range `port..=port_last` (IPVS has none; think
    /// of a firewall-mark service over a port range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_last: Option<u16>,
    /// More `"VIP:PORT"` the service listens on, same protocol, sharing its
    /// backends, scheduler and persistence (a firewall-mark group; port 0:
    /// every port of that VIP). Of the VIP's family (`validate_family.rs`;
    /// IPv6 written `"[2001:db8::11]:80"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_listen: Vec<std::net::SocketAddr>,
    pub mode: LbMode,
    /// One-packet scheduling (IPVS `--ops`): UDP with dr or tun only (either
    /// family); each datagram is scheduled on its own and no session is kept.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ops: bool,
    #[serde(default)]
    pub scheduler: SchedulerName,
    /// `mh` only: hash the 5-tuple (true) or the client address only.
    #[serde(default = "super::default_true")]
    pub mh_ports: bool,
    /// Seconds of client affinity; 0 = off.
    #[serde(default)]
    pub persistence: u32,
    /// Clients in one prefix of this length share affinity (0..=32).
    #[serde(default = "default_persistence_prefix")]
    pub persistence_prefix: u8,
    /// The same for an IPv6 VIP's clients (0..=128; default 128, one
    /// address, as ipvsadm's IPv6 netmask).
    #[serde(
        default = "default_persistence_prefix6",
        skip_serializing_if = "is_default_persistence_prefix6"
    )]
    pub persistence_prefix6: u8,
    /// DR and TUN: whether a TCP packet other than a SYN, without a
    /// session, opens one to the backend the scheduler picks (a flow that
    /// ECMP moved here from another node carries on; IPVS `sloppy_tcp`).
    /// Unset: on for `mh`, off otherwise. Not for NAT or FULLNAT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pickup: Option<bool>,
    /// FULLNAT only, and required there: the source addresses backends see.
    /// Either family: an IPv6 service's are IPv6 (FULLNAT over IPv6).
    #[serde(default)]
    pub local_addresses: Vec<IpAddr>,
    /// FULLNAT: the ports handed out per local address. Left out when
    /// written back if it is the default (only FULLNAT may write it).
    #[serde(default, skip_serializing_if = "PortRange::is_default")]
    pub local_ports: PortRange,
    /// Per-service overrides of `[timeouts]`.
    #[serde(default)]
    pub timeouts: Option<TimeoutsConfig>,
    /// Client prefixes that may connect (a whitelist: when not empty, a
    /// client no listed prefix holds is refused). The most specific prefix
    /// of `allow` and `deny` that holds a client decides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// Prefixes of the VIP's family (IPv6 ones for an IPv6 VIP).
    pub allow: Vec<IpPrefix>,
    /// Client prefixes that may not connect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<IpPrefix>,
    /// TCP: the largest MSS a SYN through this service may announce; a
    /// larger one is lowered to it (MSS clamping). None: left as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mss_clamp: Option<u16>,
    /// New connections per second the service takes, all workers together
    /// (each worker a share); over it, first packets are dropped. None: no
    /// limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_conn_rate: Option<u32>,
    /// How many of them may come at once; default `new_conn_rate` (one
    /// second's worth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_conn_burst: Option<u32>,
    /// New connections per second one client prefix may open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_rate: Option<u32>,
    /// How many of them at once; default `client_rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_burst: Option<u32>,
    /// The length of the client prefix that shares a `client_rate` bucket;
    /// default 32 (one address) for an IPv4 VIP, 64 for an IPv6 one
    /// (0..=128 there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_prefix_len: Option<u8>,
    /// FULLNAT TCP: the client's address and port in a TOA option (kind
    /// 254, DPVS's) on the handshake's ACK to the backend, for backends
    /// with the TOA kernel module.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub toa: bool,
    /// FULLNAT UDP: a PROXY protocol header (only "v2" for UDP) before the
    /// payload of a session's first datagram to the backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<ProxyProtocol>,
    /// TCP with nat or fullnat: ferrolb answers each SYN itself with a SYN
    /// cookie and opens the backend connection only when the client's ACK
    /// returns a valid one (docs/syn-proxy.md).
    #[serde(default, skip_serializing_if = "is_false")]
    pub syn_proxy: bool,
    #[serde(default, rename = "backend")]
    pub backends: Vec<BackendConfig>,
    /// Health checks `ferrolbctl daemon` runs against every backend (one
    /// table, or an array whose checks must all pass). This and the keys
    /// below are the daemon's; the appliance ignores them.
    #[serde(default, skip_serializing_if = "CheckList::is_empty")]
    pub check: CheckList,
    /// What a backend that fails its checks becomes.
    #[serde(default, skip_serializing_if = "OnFailure::is_default")]
    pub on_failure: OnFailure,
    /// Used while the service has no quorum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorry_server: Option<SorryServerConfig>,
    /// Least sum of the weights of live backends for the service to have
    /// quorum.
    #[serde(
        default = "super::check::default_quorum",
        skip_serializing_if = "super::check::is_default_quorum"
    )]
    pub quorum: u32,
    /// Quorum is gained at `quorum + hysteresis` and lost below
    /// `quorum - hysteresis`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hysteresis: u32,
    /// Run when the service gains quorum.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quorum_up: Command,
    /// Run when it loses quorum.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quorum_down: Command,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

fn default_persistence_prefix() -> u8 {
    32
}

fn default_persistence_prefix6() -> u8 {
    128
}

fn is_default_persistence_prefix6(v: &u8) -> bool {
    *v == default_persistence_prefix6()
}

/// The longest service name.
pub const MAX_SERVICE_NAME: usize = 64;

/// Why `name` cannot be a service name, if it cannot. A name is 1 to 64
/// of `A-Z a-z 0-9 . _ -`: it is printed as it is in listings, logs and
/// metrics labels, so it must not be able to forge a line or move the
/// cursor there.
pub fn service_name_problem(name: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > MAX_SERVICE_NAME || !name.chars().all(allowed) {
        Some(format!(
            "name {name:?}: a service name is 1 to {MAX_SERVICE_NAME} of the characters \
             A-Z a-z 0-9 . _ -"
        ))
    } else {
        None
    }
}

impl ServiceConfig {
    /// The service's identity (protocol, VIP, port): what the control
    /// socket's requests name it by.
    pub fn key(&self) -> ServiceKey {
        ServiceKey {
            proto: self.protocol.ip_proto(),
            vip: self.vip,
            port: self.port,
        }
    }

    /// Whether the service picks up flows mid-stream (`pickup`, with its
    /// default: on for `mh`; never for NAT and FULLNAT).
    pub fn picks_up(&self) -> bool {
        matches!(self.mode, LbMode::Dr | LbMode::Tun)
            && self.pickup.unwrap_or(self.scheduler == SchedulerName::Mh)
    }

    /// A service with every default and no backends.
    pub fn new(
        vip: impl Into<IpAddr>,
        protocol: Protocol,
        port: u16,
        mode: LbMode,
    ) -> ServiceConfig {
        ServiceConfig {
            name: None,
            vip: vip.into(),
            protocol,
            port,
            port_last: None,
            also_listen: Vec::new(),
            mode,
            ops: false,
            scheduler: SchedulerName::default(),
            mh_ports: true,
            pickup: None,
            persistence: 0,
            persistence_prefix: default_persistence_prefix(),
            persistence_prefix6: default_persistence_prefix6(),
            local_addresses: Vec::new(),
            local_ports: PortRange::default(),
            timeouts: None,
            allow: Vec::new(),
            deny: Vec::new(),
            mss_clamp: None,
            new_conn_rate: None,
            new_conn_burst: None,
            client_rate: None,
            client_burst: None,
            client_prefix_len: None,
            toa: false,
            proxy_protocol: None,
            syn_proxy: false,
            backends: Vec::new(),
            check: CheckList::default(),
            on_failure: OnFailure::default(),
            sorry_server: None,
            quorum: super::check::default_quorum(),
            hysteresis: 0,
            quorum_up: Vec::new(),
            quorum_down: Vec::new(),
        }
    }

    /// The service as counters and messages name it: `tcp/192.0.2.10:80`.
    pub fn key_text(&self) -> String {
        self.key().to_string()
    }

    /// The ports it listens on, first and last: (0, 65535) for port 0.
    pub fn ports(&self) -> (u16, u16) {
        match self.port {
            0 => (0, u16::MAX),
            p => (p, self.port_last.unwrap_or(p).max(p)),
        }
    }

    /// Whether it listens on more than one port number (port 0, a range,
    /// `also_listen` on other ports): its backends then keep the client's
    /// port unless they name one.
    pub fn multi_port(&self) -> bool {
        let (first, last) = self.ports();
        last > first || self.also_listen.iter().any(|a| a.port() != self.port)
    }

    /// Every (VIP, first port, last port) it listens on: its own, then
    /// `also_listen`'s.
    pub fn listens(&self) -> Vec<(IpAddr, u16, u16)> {
        let (first, last) = self.ports();
        let mut all = vec![(self.vip, first, last)];
        all.extend(self.also_listen.iter().map(|a| match a.port() {
            0 => (a.ip(), 0, u16::MAX),
            p => (a.ip(), p, p),
        }));
        all
    }

    /// The port a backend receives on: its own, else the service's; for a
    /// multi-port service without one, 0: the port the client asked for.
    pub fn backend_port(&self, b: &BackendConfig) -> u16 {
        match (b.port, self.multi_port()) {
            (Some(p), _) => p,
            (None, true) => 0,
            (None, false) => self.port,
        }
    }
}

/// A real server behind a service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// Of the VIP's family (`validate_family.rs`).
    pub address: IpAddr,
    /// Default: the service port. DR and TUN cannot change it.
    pub port: Option<u16>,
    /// 0 = drain (no new flows).
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Connections (active + inactive) at which the backend is overloaded
    /// and gets no new flows (IPVS u_threshold); 0: no limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub u_threshold: u32,
    /// Connections below which an overloaded backend takes new flows
    /// again (IPVS l_threshold); 0: 3/4 of `u_threshold`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub l_threshold: u32,
    /// The backend's own checks, instead of its service's. This and the
    /// keys below are the daemon's; the appliance ignores them.
    #[serde(default, skip_serializing_if = "CheckList::is_empty")]
    pub check: CheckList,
    /// Instead of the service's `on_failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    /// Run when the backend comes up, and when it goes down.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify_up: Command,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify_down: Command,
}

fn default_weight() -> u32 {
    1
}

impl BackendConfig {
    /// A backend with nothing but its address, port and weight.
    pub fn new(address: impl Into<IpAddr>, port: Option<u16>, weight: u32) -> BackendConfig {
        BackendConfig {
            address: address.into(),
            port,
            weight,
            u_threshold: 0,
            l_threshold: 0,
            check: CheckList::default(),
            on_failure: None,
            notify_up: Vec::new(),
            notify_down: Vec::new(),
        }
    }

    /// The backend's port: its own, or else the service's.
    pub fn port_or(&self, service_port: u16) -> u16 {
        self.port.unwrap_or(service_port)
    }
}

/// Outbound source NAT for internal hosts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnatConfig {
    /// The internal prefix, without host bits: IPv4 or IPv6 (issue 20).
    pub source: IpPrefix,
    /// The egress `[[port]]` name.
    pub port: String,
    /// The public addresses, of the source's family.
    pub addresses: Vec<IpAddr>,
    #[serde(default)]
    pub ports: PortRange,
}

/// The session table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    /// Sessions per worker, preallocated.
    #[serde(default = "default_capacity")]
    pub capacity: u32,
    /// IPv6 sessions (and IPv6 persistence templates) per worker, in a
    /// table of their own (158.7 B a session against IPv4's 94.7 B).
    #[serde(
        default = "default_capacity6",
        skip_serializing_if = "is_default_capacity6"
    )]
    pub capacity6: u32,
}

fn default_capacity6() -> u32 {
    1 << 16
}

fn is_default_capacity6(v: &u32) -> bool {
    *v == default_capacity6()
}

/// The largest session table capacity (2^31 - 2).
pub const MAX_SESSIONS: u32 = (1 << 31) - 2;

fn default_capacity() -> u32 {
    1 << 20
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            capacity: default_capacity(),
            capacity6: default_capacity6(),
        }
    }
}

/// Session timeouts in seconds; None = the built-in (IPVS) default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    pub tcp_established: Option<u32>,
    pub tcp_syn_recv: Option<u32>,
    pub tcp_fin_wait: Option<u32>,
    pub tcp_time_wait: Option<u32>,
    pub tcp_close: Option<u32>,
    pub tcp_close_wait: Option<u32>,
    pub tcp_last_ack: Option<u32>,
    pub tcp_syn_sent: Option<u32>,
    pub udp: Option<u32>,
    pub icmp: Option<u32>,
}

/// The longest timeout (a week), in seconds.
pub const MAX_TIMEOUT: u32 = 86400 * 7;

impl TimeoutsConfig {
    /// Every timeout as (key, value), in file order.
    pub fn entries(&self) -> [(&'static str, Option<u32>); 10] {
        [
            ("tcp_established", self.tcp_established),
            ("tcp_syn_recv", self.tcp_syn_recv),
            ("tcp_fin_wait", self.tcp_fin_wait),
            ("tcp_time_wait", self.tcp_time_wait),
            ("tcp_close", self.tcp_close),
            ("tcp_close_wait", self.tcp_close_wait),
            ("tcp_last_ack", self.tcp_last_ack),
            ("tcp_syn_sent", self.tcp_syn_sent),
            ("udp", self.udp),
            ("icmp", self.icmp),
        ]
    }
}
