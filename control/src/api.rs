//! The control socket's protocol, shared by the appliance (server) and
//! `ferrolbctl` (client).
//!
//! One request per line, one reply per line, both JSON objects. Every
//! request carries the protocol version `v` and an `op`; every reply carries
//! `v`, `ok`, and either `result` (the op's reply type below, as JSON) or
//! `error` (a code and a message naming the problem). A request that fails
//! changes nothing. `docs/control-plane.md` is the reference for users.
//!
//! ```text
//! > {"v":1,"op":"backend_edit","service":"tcp/192.0.2.10:80","backend":"10.0.2.11:8080","weight":0}
//! < {"v":1,"ok":true,"result":{"generation":7,"applied":true,"changes":["~ backend tcp/192.0.2.10:80 -> 10.0.2.11:8080 weight 3 -> 0"],"adopted_us":41}}
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A service by protocol, VIP and port, written `tcp/192.0.2.10:80`; and
/// which sessions `sessions` lists (every given field must match). Both
/// are the dataplane's types too.
pub use ferrolb_types::{AddrMatch, Histogram, ServiceKey, SessionFilter};
mod unique_keys;
pub use unique_keys::no_duplicate_keys;
mod watch;
pub use watch::*;

use crate::config::{
    BackendConfig, IpPrefix, LbMode, NeighbourConfig, PortRange, Protocol, RouteConfig,
    SchedulerName, ServiceConfig, SnatConfig, TimeoutsConfig,
};

/// The protocol version this build speaks. A request with another version is
/// refused with [`ErrorCode::UnsupportedVersion`].
pub const PROTOCOL_VERSION: u32 = 1;
/// Default limit on one request line, in bytes (an `apply` of 1000 services
/// with 10 backends each is about 1 MB of TOML).
pub const DEFAULT_MAX_MESSAGE: usize = 16 << 20;
/// Default socket path.
pub const DEFAULT_SOCKET: &str = "/run/ferrolb/ferrolb.sock";
/// Default and largest `sessions` listing.
pub const DEFAULT_SESSION_LIMIT: u32 = 100;
pub const MAX_SESSION_LIMIT: u32 = 1_000_000;

/// One request line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub v: u32,
    #[serde(flatten)]
    pub op: Op,
}

impl Request {
    pub fn new(op: Op) -> Request {
        Request {
            v: PROTOCOL_VERSION,
            op,
        }
    }
}

/// What a request asks for. Serialized with the variant name in `op`
/// (snake case) and the fields beside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Versions and a summary. Reply: [`HelloReply`].
    Hello,
    /// Replace the whole config with `config` (the TOML text of a ferrolb
    /// config file): validated and compiled whole, then swapped in, or
    /// nothing changes. Sections that need a restart (`[eal]`, `[[port]]`,
    /// `[workers]`, `[mempool]`, `[sessions]`) must equal the running ones.
    /// `source` names the file in error messages. Reply: [`ChangeReply`].
    Apply {
        config: String,
        #[serde(default)]
        dry_run: bool,
        #[serde(default)]
        source: Option<String>,
    },
    /// The running config as TOML. Reply: [`ConfigReply`].
    GetConfig,
    ServiceAdd {
        /// Boxed: the op enum stays small (a service is the largest op).
        service: Box<ServiceConfig>,
    },
    /// Changes the listed fields of a service; the others stay.
    ServiceEdit {
        service: ServiceKey,
        #[serde(default)]
        set: ServiceEdit,
    },
    /// Removes a service: it takes no new flows; its sessions drain, or end
    /// at once with `flush`.
    ServiceDelete {
        service: ServiceKey,
        #[serde(default)]
        flush: bool,
    },
    BackendAdd {
        service: ServiceKey,
        backend: BackendConfig,
    },
    BackendEdit {
        service: ServiceKey,
        backend: BackendKey,
        weight: u32,
    },
    /// Removes a backend: its sessions drain, or end at once with `flush`.
    BackendDelete {
        service: ServiceKey,
        backend: BackendKey,
        #[serde(default)]
        flush: bool,
    },
    LaddrAdd {
        service: ServiceKey,
        address: std::net::IpAddr,
    },
    LaddrDelete {
        service: ServiceKey,
        address: std::net::IpAddr,
    },
    RouteAdd {
        route: RouteConfig,
    },
    RouteDelete {
        prefix: IpPrefix,
    },
    NeighAdd {
        neighbour: NeighbourConfig,
    },
    NeighDelete {
        address: IpAddr,
    },
    SnatAdd {
        rule: SnatConfig,
    },
    SnatDelete {
        source: IpPrefix,
    },
    /// Services and backends, as `ipvsadm -Ln`. Reply: [`ListReply`].
    List {
        #[serde(default)]
        stats: bool,
        #[serde(default)]
        rate: bool,
    },
    /// Live sessions across workers. Reply: [`SessionsReply`].
    Sessions {
        #[serde(default)]
        filter: SessionFilter,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Per worker, per port, drop reasons and events. Reply: [`StatsReply`].
    Stats,
    /// Static routes and connected prefixes. Reply: [`RoutesReply`].
    Routes,
    /// Static and learned neighbours. Reply: [`NeighboursReply`].
    Neighbours,
    /// Resets the connection, packet and byte counters of every service,
    /// backend and SNAT rule, or of one service and its backends
    /// (`ipvsadm -Z`). Reply: [`ZeroReply`].
    Zero {
        #[serde(default)]
        service: Option<ServiceKey>,
    },
    /// Follows the next `count` packets matching `filter` (received on
    /// `port`, a port name, if given) through the pipeline; waits up to
    /// `timeout_ms`. Reply: [`TraceReply`].
    Trace {
        #[serde(default)]
        filter: Option<String>,
        #[serde(default)]
        count: Option<u32>,
        #[serde(default)]
        port: Option<String>,
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
    /// What a new packet `proto` `src` -> `dst` would do now, worked out
    /// by the worker that owns its flow without sending anything or
    /// changing any state. Reply: [`ExplainReply`]. `src` and `dst` are
    /// both IPv4 or both IPv6.
    Explain {
        proto: Protocol,
        src: SocketAddr,
        dst: SocketAddr,
    },
    /// Copies the next `count` frames matching `filter` on `port`, as
    /// received and as sent. Reply: [`CaptureReply`].
    Capture {
        port: String,
        #[serde(default)]
        filter: Option<String>,
        #[serde(default)]
        count: Option<u32>,
        #[serde(default)]
        timeout_ms: Option<u64>,
        /// Send each frame as a [`CaptureEvent`] line as it is copied,
        /// rather than all in the reply.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        stream: bool,
    },
}

impl Op {
    /// Every op name, for "unknown op" errors.
    pub const NAMES: &'static [&'static str] = &[
        "hello",
        "apply",
        "get_config",
        "service_add",
        "service_edit",
        "service_delete",
        "backend_add",
        "backend_edit",
        "backend_delete",
        "laddr_add",
        "laddr_delete",
        "route_add",
        "route_delete",
        "neigh_add",
        "neigh_delete",
        "snat_add",
        "snat_delete",
        "list",
        "sessions",
        "stats",
        "routes",
        "neighbours",
        "zero",
        "trace",
        "capture",
        "explain",
    ];

    /// The op's name as the protocol writes it (`service_add`).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Hello => "hello",
            Op::Apply { .. } => "apply",
            Op::GetConfig => "get_config",
            Op::ServiceAdd { .. } => "service_add",
            Op::ServiceEdit { .. } => "service_edit",
            Op::ServiceDelete { .. } => "service_delete",
            Op::BackendAdd { .. } => "backend_add",
            Op::BackendEdit { .. } => "backend_edit",
            Op::BackendDelete { .. } => "backend_delete",
            Op::LaddrAdd { .. } => "laddr_add",
            Op::LaddrDelete { .. } => "laddr_delete",
            Op::RouteAdd { .. } => "route_add",
            Op::RouteDelete { .. } => "route_delete",
            Op::NeighAdd { .. } => "neigh_add",
            Op::NeighDelete { .. } => "neigh_delete",
            Op::SnatAdd { .. } => "snat_add",
            Op::SnatDelete { .. } => "snat_delete",
            Op::List { .. } => "list",
            Op::Sessions { .. } => "sessions",
            Op::Stats => "stats",
            Op::Routes => "routes",
            Op::Neighbours => "neighbours",
            Op::Zero { .. } => "zero",
            Op::Trace { .. } => "trace",
            Op::Capture { .. } => "capture",
            Op::Explain { .. } => "explain",
        }
    }

    /// Whether the op changes the config (and so replies [`ChangeReply`]).
    pub fn is_change(&self) -> bool {
        !matches!(
            self,
            Op::Hello
                | Op::GetConfig
                | Op::List { .. }
                | Op::Sessions { .. }
                | Op::Stats
                | Op::Routes
                | Op::Neighbours
                | Op::Zero { .. }
                | Op::Trace { .. }
                | Op::Capture { .. }
                | Op::Explain { .. }
        )
    }
}

/// The reply to `zero`: how many workers reset their counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZeroReply {
    pub workers: usize,
    /// Workers that did not answer in time (their counters are unchanged).
    pub missed: usize,
}

/// The fields `service_edit` may change; `None` leaves one as it is.
/// Changing `mode` or `local_addresses` makes it a new service for the
/// dataplane: existing sessions finish on the old one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEdit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<LbMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<SchedulerName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mh_ports: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_prefix: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_ports: Option<PortRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<TimeoutsConfig>,
}

/// A backend of a service by address and port; written `10.0.2.11:8080`, or
/// `10.0.2.11` when the backend uses the service's port (IPv6:
/// `[2001:db8::11]:8080`, or the bare address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendKey {
    pub address: IpAddr,
    pub port: Option<u16>,
}

impl BackendKey {
    /// Whether `b`, a backend of a service on `service_port`, is this one.
    pub fn matches(&self, b: &BackendConfig, service_port: u16) -> bool {
        b.address == self.address
            && b.port.unwrap_or(service_port) == self.port.unwrap_or(service_port)
    }
}

impl fmt::Display for BackendKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}", SocketAddr::new(self.address, p)),
            None => write!(f, "{}", self.address),
        }
    }
}

impl FromStr for BackendKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(BackendKey {
                address: a.ip(),
                port: Some(a.port()),
            });
        }
        s.parse::<IpAddr>()
            .map(|address| BackendKey {
                address,
                port: None,
            })
            .map_err(|_| format!("{s:?} is not a backend: expected ADDRESS[:PORT]"))
    }
}

impl Serialize for BackendKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BackendKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One reply line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub v: u32,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
}

impl Response {
    pub fn ok<T: Serialize>(result: &T) -> Response {
        match serde_json::to_value(result) {
            Ok(value) => Response {
                v: PROTOCOL_VERSION,
                ok: true,
                result: Some(value),
                error: None,
            },
            Err(e) => Response::error(ErrorCode::Internal, format!("encoding the reply: {e}")),
        }
    }

    pub fn error(code: ErrorCode, message: impl Into<String>) -> Response {
        Response {
            v: PROTOCOL_VERSION,
            ok: false,
            result: None,
            error: Some(ApiError {
                code,
                message: message.into(),
            }),
        }
    }
}

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: ErrorCode,
    /// One line naming the problem, for people.
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not a JSON object on one line.
    Malformed,
    /// Longer than the message limit; the connection is closed after this
    /// reply, since the rest of the line cannot be told from a new request.
    TooLarge,
    UnsupportedVersion,
    UnknownOp,
    /// Well-formed JSON whose fields are wrong for the op.
    InvalidRequest,
    /// The resulting config does not validate or compile; nothing changed.
    InvalidConfig,
    NotFound,
    AlreadyExists,
    /// The change needs a restart of the appliance (ports, EAL, workers,
    /// mempool, session table size).
    NeedsRestart,
    PermissionDenied,
    /// Too many clients, or the workers did not answer in time.
    Busy,
    Internal,
}

/// Reply to `hello`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloReply {
    /// `ferrolb --version`.
    pub version: String,
    pub protocol: u32,
    pub workers: usize,
    /// Config generation: 1 at start, +1 per applied change.
    pub generation: u64,
    pub uptime_ms: u64,
}

/// Reply to every op that changes the config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeReply {
    /// The generation now running (unchanged for a dry run).
    pub generation: u64,
    /// False for a dry run, and when there was nothing to change.
    pub applied: bool,
    /// The diff, one line per item: `+` added, `-` removed, `~` changed.
    pub changes: Vec<String>,
    /// Microseconds from publishing the new tables until every worker ran
    /// them; `None` for a dry run or no change.
    #[serde(default)]
    pub adopted_us: Option<u64>,
}

/// Reply to `get_config`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigReply {
    pub generation: u64,
    pub config: String,
}

/// Traffic of one service, backend or SNAT rule, summed over workers.
/// "In" is client to backend, "out" the replies; bytes are IP bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowStats {
    pub conns: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Services only: first packets the access list refused.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub denied: u64,
    /// Services only: first packets over the service's `new_conn_rate`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rate_limited: u64,
    /// Services only: first packets over their client prefix's `client_rate`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub client_rate_limited: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Per-second rates over the last sampling interval (about 1 s).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowRates {
    pub cps: f64,
    pub pps_in: f64,
    pub pps_out: f64,
    pub bps_in: f64,
    pub bps_out: f64,
}

/// Reply to `list`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListReply {
    pub generation: u64,
    pub services: Vec<ServiceStatus>,
    pub snat: Vec<SnatStatus>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub key: ServiceKey,
    pub name: Option<String>,
    pub mode: LbMode,
    pub scheduler: SchedulerName,
    /// Seconds; 0 for none.
    pub persistence: u32,
    /// The last port of a range (`key.port` is the first); none for one
    /// port or for port 0 (every port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_last: Option<u16>,
    /// One-packet scheduling.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ops: bool,
    /// More VIP:port pairs it listens on (a group), of the VIP's family.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_listen: Vec<std::net::SocketAddr>,
    pub local_addresses: Vec<std::net::IpAddr>,
    /// Live sessions.
    pub sessions: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<FlowStats>,
    /// With `stats`: how long the service's sessions lived when they ended,
    /// in ms (`histogram::SESSION_LIFETIME_MS` buckets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_lifetimes: Option<Histogram>,
    /// With `stats`: the service's new connections in each second since
    /// the appliance started (`histogram::NEW_CONNECTIONS_PER_SECOND`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_connection_rates: Option<Histogram>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<FlowRates>,
    pub backends: Vec<BackendStatus>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendStatus {
    pub address: IpAddr,
    pub port: u16,
    pub weight: u32,
    /// Live TCP sessions in ESTABLISHED (ipvsadm's ActiveConn).
    pub active: u64,
    /// Every other live session (ipvsadm's InActConn).
    pub inactive: u64,
    /// True for a deleted backend whose sessions are still draining.
    #[serde(default)]
    pub draining: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<FlowStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<FlowRates>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnatStatus {
    pub source: IpPrefix,
    pub addresses: Vec<IpAddr>,
    pub sessions: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<FlowStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<FlowRates>,
}

/// Reply to `sessions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsReply {
    pub sessions: Vec<SessionInfo>,
    /// More sessions matched than the limit.
    pub truncated: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub worker: usize,
    /// `tcp`, `udp` or `icmp`.
    pub protocol: String,
    /// `service` is `None` for SNAT sessions.
    pub service: Option<ServiceKey>,
    pub client: SocketAddr,
    /// Where the client sent to (the VIP, or the remote host for SNAT).
    pub destination: SocketAddr,
    /// FULLNAT local address or SNAT address, with its port.
    pub local: Option<SocketAddr>,
    /// The real server (for SNAT: the remote host).
    pub backend: SocketAddr,
    /// `ESTABLISHED`, `SYN_RECV`, ..., `UDP`, `ICMP`.
    pub state: String,
    pub expires_in_ms: u64,
}

/// Reply to `stats`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsReply {
    pub generation: u64,
    pub uptime_ms: u64,
    pub workers: Vec<WorkerStatus>,
    pub ports: Vec<PortStatus>,
    /// Every drop reason (zeros included), summed over workers.
    pub drops: BTreeMap<String, u64>,
    /// ARP and ICMP answered, sessions created and expired, ...
    pub events: BTreeMap<String, u64>,
    /// Live sessions over all workers.
    pub sessions: u64,
    /// The node's VRRP role, with `[vrrp]` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp: Option<VrrpStatus>,
}

/// Which of its `[vrrp]` addresses this node holds (keepalived put them on
/// a kernel interface: it is their master) and which the peer holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrrpStatus {
    /// `master` (every address held), `backup` (none), or `mixed`.
    pub role: String,
    pub held: Vec<Ipv4Addr>,
    pub standby: Vec<Ipv4Addr>,
    /// Times the node became master, and became backup, since it started.
    pub to_master: u64,
    pub to_backup: u64,
    /// Milliseconds since the role last changed (or since start).
    pub since_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStatus {
    pub index: usize,
    pub core: usize,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub tx_dropped: u64,
    pub rx_bursts: u64,
    /// TSC cycles the worker spent in polls that had packets to handle
    /// (its driver's receive and transmit included). Absent (0) from an
    /// appliance that predates it.
    #[serde(default)]
    pub busy_cycles: u64,
    /// TSC cycles since the worker's loop started.
    #[serde(default)]
    pub cycles: u64,
    /// The TSC's frequency, to turn cycles into seconds.
    #[serde(default)]
    pub cycles_per_second: u64,
    /// Packets this worker dropped, all reasons.
    pub dropped: u64,
    pub sessions: u64,
    /// The config generation the worker runs.
    pub generation: u64,
}

impl WorkerStatus {
    /// The share of its time the worker spent handling packets, in
    /// percent, since `earlier` (or since it started, with `None`).
    pub fn busy_percent(&self, earlier: Option<&WorkerStatus>) -> Option<f64> {
        let busy = self.moved(earlier, |w| w.busy_cycles);
        let cycles = self.moved(earlier, |w| w.cycles);
        // The two counters are read a poll apart at worst: never over 100.
        (cycles > 0).then(|| (100.0 * busy as f64 / cycles as f64).min(100.0))
    }

    /// Busy cycles per received packet since `earlier` (or since start).
    pub fn cycles_per_packet(&self, earlier: Option<&WorkerStatus>) -> Option<f64> {
        let busy = self.moved(earlier, |w| w.busy_cycles);
        let packets = self.moved(earlier, |w| w.rx_packets);
        (packets > 0).then(|| busy as f64 / packets as f64)
    }

    /// How far the counter `of` moved since `earlier` (since start: all of it).
    fn moved(&self, earlier: Option<&WorkerStatus>, of: fn(&WorkerStatus) -> u64) -> u64 {
        of(self).saturating_sub(earlier.map_or(0, of))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStatus {
    pub name: String,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_missed: u64,
    pub rx_nombuf: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    /// How replies to local ports reach their worker on this port:
    /// `rte_flow (N rules)`, `rings (rte_flow: REASON)`, `off (...)` or
    /// `none (no local addresses)`. Empty from an appliance that predates it.
    #[serde(default)]
    pub steering: String,
    /// A bond's mode (`active-backup`, `balance-xor`, `802.3ad`); `None`
    /// for a port that is one device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond_mode: Option<String>,
    /// A bond's members, in the order it took them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<BondMemberStatus>,
}

/// One member of a bonded port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BondMemberStatus {
    /// Its DPDK device name (`net_tap0`, `0000:3b:00.0`).
    pub name: String,
    pub link_up: bool,
    /// Carries traffic now: the active member of an active-backup bond,
    /// a member in the LACP aggregator (802.3ad), or one with its link up
    /// (balance-xor).
    pub active: bool,
    /// 802.3ad: our LACP actor state and the partner's (IEEE 802.1AX
    /// state bits: 0x08 in sync, 0x10 collecting, 0x20 distributing, 0x40
    /// partner defaulted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lacp_actor_state: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lacp_partner_state: Option<u8>,
    /// The member device's own counters.
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_missed: u64,
}

/// Reply to `routes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutesReply {
    pub routes: Vec<RouteStatus>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteStatus {
    /// A connected prefix of either family, or a static route's.
    pub prefix: IpPrefix,
    /// `None` for a connected prefix; the gateway, of the prefix's
    /// family, for a static route.
    pub via: Option<IpAddr>,
    /// The interface's port name (and VLAN).
    pub interface: String,
}

/// Reply to `neighbours`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighboursReply {
    pub neighbours: Vec<NeighbourStatus>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighbourStatus {
    /// IPv4 (ARP, static) or IPv6 (learned by Neighbour Discovery).
    pub address: IpAddr,
    /// `None` while being resolved.
    pub mac: Option<String>,
    /// `static`, `reachable` or `incomplete`.
    pub state: String,
    /// The worker that learned it; `None` for static entries.
    pub worker: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_with_op_beside_the_fields() {
        let r = Request::new(Op::BackendEdit {
            service: "tcp/192.0.2.10:80".parse().unwrap(),
            backend: "10.0.2.11:8080".parse().unwrap(),
            weight: 0,
        });
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(
            line,
            r#"{"v":1,"op":"backend_edit","service":"tcp/192.0.2.10:80","backend":"10.0.2.11:8080","weight":0}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), r);
        let hello: Request = serde_json::from_str(r#"{"v":1,"op":"hello"}"#).unwrap();
        assert_eq!(hello.op, Op::Hello);
    }

    #[test]
    fn every_op_name_deserializes() {
        for name in Op::NAMES {
            let line = format!(r#"{{"v":1,"op":"{name}"}}"#);
            // Ops with required fields fail on those fields, never on the name.
            if let Err(e) = serde_json::from_str::<Request>(&line) {
                assert!(e.to_string().contains("missing field"), "{name}: {e}");
            }
        }
    }

    #[test]
    fn keys_parse_and_print() {
        let k: ServiceKey = "UDP/10.0.0.1:53".parse().unwrap();
        assert_eq!(k.to_string(), "udp/10.0.0.1:53");
        assert!("sctp/10.0.0.1:53".parse::<ServiceKey>().is_err());
        assert!("tcp/10.0.0.1".parse::<ServiceKey>().is_err());
        let b: BackendKey = "10.0.0.2".parse().unwrap();
        assert_eq!(b.port, None);
        assert_eq!("10.0.0.2:81".parse::<BackendKey>().unwrap().port, Some(81));
        assert!("10.0.0.300".parse::<BackendKey>().is_err());
        let b: BackendKey = "[2001:db8::11]:8080".parse().unwrap();
        assert_eq!(b.address, "2001:db8::11".parse::<IpAddr>().unwrap());
        assert_eq!(b.port, Some(8080));
        assert_eq!(b.to_string(), "[2001:db8::11]:8080");
        let b: BackendKey = "2001:db8::11".parse().unwrap();
        assert_eq!((b.port, b.to_string()), (None, "2001:db8::11".into()));
        let k: ServiceKey = "tcp/[2001:db8::10]:80".parse().unwrap();
        let json = serde_json::to_string(&Op::BackendEdit {
            service: k,
            backend: "[2001:db8::11]:8080".parse().unwrap(),
            weight: 0,
        })
        .unwrap();
        assert!(
            json.contains(r#""service":"tcp/[2001:db8::10]:80","backend":"[2001:db8::11]:8080""#),
            "{json}"
        );
    }
}
