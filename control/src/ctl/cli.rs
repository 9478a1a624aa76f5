//! `ferrolbctl`'s command line. The verbs and words are those ipvsadm,
//! keepalived and DPVS users know: services by `tcp/VIP:PORT`, backends
//! by `RIP[:PORT]`, schedulers by ipvsadm's names.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

use crate::api::{AddrMatch, BackendKey, ServiceKey, MAX_SESSION_LIMIT};
use crate::config::{IpPrefix, LbMode, MacAddr, PortRange, Protocol, SchedulerName};

#[derive(Debug, Parser)]
#[command(
    name = "ferrolbctl",
    version,
    about = "Control a running ferrolb: push config, read services, sessions and counters",
    propagate_version = true
)]
pub struct Cli {
    /// The control socket [default: $FERROLB_SOCKET, else /run/ferrolb/ferrolb.sock]
    #[arg(short, long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replace the running config with a file's, whole or not at all
    Apply {
        /// The ferrolb config file (TOML)
        #[arg(short, long, value_name = "FILE")]
        file: PathBuf,
        /// Show what would change, change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Add, edit or delete a virtual service
    #[command(subcommand)]
    Service(ServiceCmd),
    /// Add, reweight or delete a real server of a service
    #[command(subcommand)]
    Backend(BackendCmd),
    /// Add or delete a FULLNAT local address of a service
    #[command(subcommand)]
    Laddr(LaddrCmd),
    /// Add, delete or list static routes
    #[command(subcommand)]
    Route(RouteCmd),
    /// Add, delete or list neighbours (ARP entries)
    #[command(subcommand)]
    Neigh(NeighCmd),
    /// Add or delete an outbound source NAT rule
    #[command(subcommand)]
    Snat(SnatCmd),
    /// Services and backends, as `ipvsadm -Ln`, then SNAT rules
    List(ListArgs),
    /// Live sessions
    Sessions(SessionsArgs),
    /// Counters per worker and port, drop reasons, events
    Stats {
        /// Also the counters that are zero
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        json: Json,
    },
    /// The node's VRRP role: which [vrrp] addresses it holds (master) and
    /// which the peer holds (backup)
    Role {
        #[command(flatten)]
        json: Json,
    },
    /// A live view of services, backends, workers and drops, refreshed in
    /// place (like htop); Ctrl-C quits
    Top {
        /// Time between refreshes
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
        interval_ms: u64,
        /// Stop after this many refreshes (default: until interrupted)
        #[arg(long)]
        count: Option<u64>,
    },
    /// The running config, as TOML
    Config {
        #[command(flatten)]
        json: Json,
    },
    /// Versions of ferrolbctl and of the running ferrolb
    #[command(alias = "hello")]
    Version {
        #[command(flatten)]
        json: Json,
    },
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print ferrolbctl's man page (roff), or write one per verb into DIR
    Man {
        /// Write ferrolbctl.1 and ferrolbctl-VERB.1 here instead
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Turn keepalived.conf or ipvsadm-save output into ferrolb services
    /// (TOML on stdout; what cannot be mapped is listed on stderr)
    #[command(subcommand)]
    Import(ImportCmd),
    /// Write ferrolb's services in another tool's format
    #[command(subcommand)]
    Export(ExportCmd),
    /// Reset the counters of every service and backend, or of one service's
    /// (ipvsadm -Z)
    Zero {
        /// PROTO/VIP:PORT, e.g. tcp/192.0.2.10:80
        service: Option<ServiceKey>,
    },
    /// Follow the next packets matching a filter through the pipeline,
    /// step by step (docs/trace-and-capture.md)
    Trace(TraceArgs),
    /// Copy frames as received and as sent to a pcapng file
    Capture(CaptureArgs),
    /// What a new packet would do now (service, backend, rewrite, egress),
    /// without sending anything or changing any state
    Explain {
        #[arg(value_enum)]
        proto: ProtoArg,
        /// Client address and port (198.51.100.7:40000, [2001:db8:2::7]:40000)
        src: SocketAddr,
        /// Destination (VIP) address and port, of the client's family
        dst: SocketAddr,
        #[command(flatten)]
        json: Json,
    },
    /// Watch a config file, run health checks, serve metrics
    Daemon {
        /// The ferrolb config file to watch
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportCmd {
    /// The virtual_server, virtual_server_group and real_server blocks of a
    /// keepalived.conf, with their checkers
    Keepalived {
        /// The keepalived.conf
        file: PathBuf,
        /// A ferrolb config to add the services to (its ports, interfaces
        /// and routes); the result is checked before it is printed
        #[arg(long, value_name = "FILE")]
        into: Option<PathBuf>,
    },
    /// The -A/-a lines of `ipvsadm-save -n` output
    Ipvsadm {
        /// The saved rules; stdin when left out or "-"
        file: Option<PathBuf>,
        /// A ferrolb config to add the services to; checked before printed
        #[arg(long, value_name = "FILE")]
        into: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExportCmd {
    /// As `ipvsadm-save -n` prints them (ipvsadm-restore input)
    Ipvsadm {
        /// A ferrolb config file; default: the running appliance's config
        #[arg(short, long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

/// `--json` on a read verb.
#[derive(Debug, Args, Clone, Copy)]
pub struct Json {
    /// Print the reply as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCmd {
    Add(ServiceAdd),
    /// Change some settings of a service; the others stay
    Edit(ServiceEditArgs),
    /// Delete a service: its sessions drain, or end at once with --flush
    Delete {
        /// PROTO/VIP:PORT, e.g. tcp/192.0.2.10:80
        service: ServiceKey,
        /// End the service's sessions now
        #[arg(long)]
        flush: bool,
    },
}

/// Add a service (without backends; add them with `backend add`)
#[derive(Debug, Args)]
pub struct ServiceAdd {
    /// VIP:PORT, e.g. 192.0.2.10:80
    pub address: SocketAddrV4,
    #[arg(long, value_enum)]
    pub proto: ProtoArg,
    #[arg(long, value_enum)]
    pub mode: ModeArg,
    #[arg(long, value_enum, default_value_t = SchedArg::Wlc)]
    pub scheduler: SchedArg,
    /// Seconds of client affinity (0: none)
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub persistence: u32,
    /// Clients in one prefix of this length share affinity
    #[arg(long, value_name = "LEN", default_value_t = 32)]
    pub persistence_prefix: u8,
    /// mh: hash the client's port too (true) or its address only
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub mh_ports: bool,
    /// FULLNAT local address (repeat, or list several)
    #[arg(long = "laddr", value_name = "ADDR", num_args = 1..)]
    pub laddrs: Vec<std::net::IpAddr>,
    /// FULLNAT ports per local address
    #[arg(long, value_name = "MIN-MAX")]
    pub local_ports: Option<PortRange>,
    /// A name for reports
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("changes")
        .required(true)
        .multiple(true)
        .args(["name", "mode", "scheduler", "mh_ports", "persistence", "persistence_prefix",
               "local_ports", "timeouts"])
))]
pub struct ServiceEditArgs {
    /// PROTO/VIP:PORT, e.g. tcp/192.0.2.10:80
    pub service: ServiceKey,
    /// A name for reports ("" removes it)
    #[arg(long)]
    pub name: Option<String>,
    /// Leaving fullnat drops the local addresses
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    #[arg(long, value_enum)]
    pub scheduler: Option<SchedArg>,
    #[arg(long, value_name = "BOOL")]
    pub mh_ports: Option<bool>,
    #[arg(long, value_name = "SECONDS")]
    pub persistence: Option<u32>,
    #[arg(long, value_name = "LEN")]
    pub persistence_prefix: Option<u8>,
    #[arg(long, value_name = "MIN-MAX")]
    pub local_ports: Option<PortRange>,
    /// A session timeout of this service, e.g. udp=30 or udp=default (repeatable)
    #[arg(long = "timeout", value_name = "NAME=SECONDS", value_parser = parse_timeout)]
    pub timeouts: Vec<TimeoutArg>,
}

/// `--timeout NAME=SECONDS`; `None` seconds returns it to `[timeouts]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutArg {
    pub name: String,
    pub seconds: Option<u32>,
}

fn parse_timeout(s: &str) -> Result<TimeoutArg, String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected NAME=SECONDS, e.g. udp=30"))?;
    let seconds = match value {
        "default" => None,
        v => Some(
            v.parse()
                .map_err(|_| format!("{v:?}: expected seconds or \"default\""))?,
        ),
    };
    // The names are the keys of [timeouts]; let its serde say which exist.
    let probe = serde_json::json!({ name: seconds });
    serde_json::from_value::<crate::config::TimeoutsConfig>(probe).map_err(|e| e.to_string())?;
    Ok(TimeoutArg {
        name: name.to_owned(),
        seconds,
    })
}

#[derive(Debug, Subcommand)]
pub enum BackendCmd {
    /// Add a backend to a service
    Add {
        /// PROTO/VIP:PORT
        service: ServiceKey,
        /// RIP or RIP:PORT (default port: the service's)
        backend: BackendKey,
        #[arg(long, default_value_t = 1)]
        weight: u32,
    },
    /// Set a backend's weight (0 drains it: no new flows)
    Edit {
        /// PROTO/VIP:PORT
        service: ServiceKey,
        /// RIP or RIP:PORT
        backend: BackendKey,
        #[arg(long)]
        weight: u32,
    },
    /// Delete a backend: its sessions drain, or end at once with --flush
    Delete {
        /// PROTO/VIP:PORT
        service: ServiceKey,
        /// RIP or RIP:PORT
        backend: BackendKey,
        /// End the backend's sessions now
        #[arg(long)]
        flush: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LaddrCmd {
    Add {
        /// PROTO/VIP:PORT
        service: ServiceKey,
        address: IpAddr,
    },
    Delete {
        /// PROTO/VIP:PORT
        service: ServiceKey,
        address: IpAddr,
    },
}

#[derive(Debug, Subcommand)]
pub enum RouteCmd {
    /// route add PREFIX via NEXT_HOP
    Add {
        prefix: IpPrefix,
        #[arg(value_name = "via", value_parser = ["via"], hide_possible_values = true)]
        via_word: String,
        #[arg(value_name = "NEXT_HOP")]
        via: IpAddr,
    },
    Delete {
        prefix: IpPrefix,
    },
    /// Static routes and connected prefixes
    List {
        #[command(flatten)]
        json: Json,
    },
}

#[derive(Debug, Subcommand)]
pub enum NeighCmd {
    /// A static neighbour: an ARP entry, or an IPv6 neighbour never solicited
    Add {
        address: IpAddr,
        mac: MacAddr,
    },
    Delete {
        address: IpAddr,
    },
    /// Static and learned neighbours
    List {
        #[command(flatten)]
        json: Json,
    },
}

#[derive(Debug, Subcommand)]
pub enum SnatCmd {
    /// Translate connections from SOURCE to the given public addresses
    Add {
        /// The internal prefix, e.g. 10.0.1.0/24 or 2001:db8:1::/64
        source: IpPrefix,
        /// The egress [[port]] name
        #[arg(long)]
        port: String,
        /// Public address (repeat, or list several)
        #[arg(long = "addr", value_name = "ADDR", num_args = 1.., required = true)]
        addresses: Vec<IpAddr>,
        #[arg(long, value_name = "MIN-MAX")]
        ports: Option<PortRange>,
    },
    Delete {
        source: IpPrefix,
    },
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Counters: Conns InPkts OutPkts InBytes OutBytes
    #[arg(long, conflicts_with = "rate")]
    pub stats: bool,
    /// Rates: CPS InPPS OutPPS InBPS OutBPS
    #[arg(long)]
    pub rate: bool,
    /// Only this service (PROTO/VIP:PORT)
    pub service: Option<ServiceKey>,
    #[command(flatten)]
    pub json: Json,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Which packets: tcpdump-style (`host`, `net`, `port`, `src`/`dst`,
    /// `tcp`/`udp`/`icmp`, `syn`/`ack`/`fin`/`rst`, `and`/`or`/`not`)
    #[arg(short, long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// How many packets to follow
    #[arg(short = 'n', long, default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::api::MAX_TRACE_COUNT)))]
    pub count: u32,
    /// Only packets received on this port (its name in the config)
    #[arg(short, long, value_name = "PORT")]
    pub port: Option<String>,
    /// Give up waiting after this many seconds
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    #[command(flatten)]
    pub json: Json,
}

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// The port to capture on (its name in the config)
    #[arg(short, long, value_name = "PORT")]
    pub port: String,
    /// Which frames (the filter language of `trace`)
    #[arg(short, long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// How many frames (received and sent count alike)
    #[arg(short = 'n', long, default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::api::MAX_CAPTURE_COUNT)))]
    pub count: u32,
    /// The pcapng file to write; `-` for stdout
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub file: PathBuf,
    /// Give up waiting after this many seconds
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// Only sessions of this service (PROTO/VIP:PORT)
    #[arg(long)]
    pub service: Option<ServiceKey>,
    /// Only sessions to this backend: an address, a prefix or ADDR:PORT
    /// (10.0.2.11, 10.0.2.0/24, 2001:db8:1::/64, [2001:db8:1::11]:8080)
    #[arg(long, value_name = "ADDR")]
    pub backend: Option<AddrMatch>,
    /// Only sessions from this client: an address, a prefix or ADDR:PORT
    /// (198.51.100.7, 198.51.100.0/24, 2001:db8:2::/64)
    #[arg(long, value_name = "ADDR")]
    pub client: Option<AddrMatch>,
    #[arg(long, value_enum)]
    pub proto: Option<ProtoArg>,
    /// At most this many [default: 100]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SESSION_LIMIT)))]
    pub limit: Option<u32>,
    #[command(flatten)]
    pub json: Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtoArg {
    Tcp,
    Udp,
}

impl From<ProtoArg> for Protocol {
    fn from(p: ProtoArg) -> Protocol {
        match p {
            ProtoArg::Tcp => Protocol::Tcp,
            ProtoArg::Udp => Protocol::Udp,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Direct routing (ipvsadm -g)
    Dr,
    /// IP-in-IP tunnel (ipvsadm -i)
    Tun,
    /// Masquerading (ipvsadm -m)
    Nat,
    /// Source and destination NAT from local addresses
    Fullnat,
}

impl From<ModeArg> for LbMode {
    fn from(m: ModeArg) -> LbMode {
        match m {
            ModeArg::Dr => LbMode::Dr,
            ModeArg::Tun => LbMode::Tun,
            ModeArg::Nat => LbMode::Nat,
            ModeArg::Fullnat => LbMode::Fullnat,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchedArg {
    /// Round robin
    Rr,
    /// Weighted round robin
    Wrr,
    /// Least connections
    Lc,
    /// Weighted least connections
    Wlc,
    /// Source hashing
    Sh,
    /// Maglev hashing
    Mh,
    /// Destination hashing
    Dh,
    /// Shortest expected delay
    Sed,
    /// Never queue
    Nq,
    /// Locality-based least connections
    Lblc,
    /// Locality-based least connections with replication
    Lblcr,
    /// Weighted failover
    Fo,
    /// Overflow connection
    Ovf,
}

impl From<SchedArg> for SchedulerName {
    fn from(s: SchedArg) -> SchedulerName {
        match s {
            SchedArg::Rr => SchedulerName::Rr,
            SchedArg::Wrr => SchedulerName::Wrr,
            SchedArg::Lc => SchedulerName::Lc,
            SchedArg::Wlc => SchedulerName::Wlc,
            SchedArg::Sh => SchedulerName::Sh,
            SchedArg::Mh => SchedulerName::Mh,
            SchedArg::Dh => SchedulerName::Dh,
            SchedArg::Sed => SchedulerName::Sed,
            SchedArg::Nq => SchedulerName::Nq,
            SchedArg::Lblc => SchedulerName::Lblc,
            SchedArg::Lblcr => SchedulerName::Lblcr,
            SchedArg::Fo => SchedulerName::Fo,
            SchedArg::Ovf => SchedulerName::Ovf,
        }
    }
}

impl std::fmt::Display for SchedArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(SchedulerName::from(*self).as_str())
    }
}
