//! The ferrolb config file (TOML), shared by the appliance and `ferrolbctl`.
//!
//! `Config::load` parses with every table closed to unknown keys, then
//! validates; every problem comes back as a [`ConfigError`] naming the file,
//! the line and the key. Nothing here touches DPDK: checks that need the
//! machine (cores, devices) happen in the appliance, which uses
//! [`LoadedConfig::error_at`] to report them the same way.

mod bgp;
mod bond;
mod check;
mod control;
mod kernel;
mod lb;
mod parse_all;
mod prefix6;
mod source;
mod sync;
mod synproxy;
mod validate;
mod validate_addr;
mod validate_check;
mod validate_control;
mod validate_family;
mod validate_lb;
mod validate_limits;
mod validate_snat6;
mod vrrp;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use bgp::BgpConfig;
pub use bond::{member_kind, member_name, BondConfig, BondMode, XmitHashPolicy, MAX_BOND_MEMBERS};
pub use check::{
    CheckKind, CheckList, Command, HealthCheckConfig, HexBytes, HexPattern, HttpVersion, OnFailure,
    SorryServerConfig, StatusSet, UrlCheck,
};
pub use control::{ControlConfig, DaemonConfig};
pub use kernel::{GarpConfig, KernelConfig, KernelDriver, KERNEL_DESC, VHOST_NET};
pub use lb::service_name_problem;
pub use lb::{
    BackendConfig, InterfaceConfig, Ipv4Prefix, LbMode, MacAddr, NeighbourConfig, PortRange,
    Protocol, ProxyProtocol, RouteConfig, SchedulerName, ServiceConfig, SessionsConfig, SnatConfig,
    TimeoutsConfig, MAX_SERVICE_NAME, MAX_SESSIONS, MAX_TIMEOUT,
};
pub use prefix6::{IpPrefix, Ipv6Prefix, IPV6_NOT_YET};
pub use source::{ConfigError, ConfigErrors, ConfigSource, KeyPath, KeySeg};
pub use sync::{SyncConfig, MAX_SYNC_PEERS};
pub use synproxy::SynProxyConfig;
pub use validate_addr::special_use;
pub use vrrp::VrrpConfig;

/// The whole config file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub eal: EalConfig,
    /// `[[port]]` tables, in order: port index *i* is the *i*-th table.
    #[serde(default, rename = "port")]
    pub ports: Vec<PortConfig>,
    #[serde(default)]
    pub workers: WorkersConfig,
    #[serde(default)]
    pub mempool: MempoolConfig,
    /// L2 forwarding; only without `[[interface]]` tables. Left out when
    /// written back if it is the default, so that a pipeline config
    /// serializes to one that loads.
    #[serde(default, skip_serializing_if = "ForwardConfig::is_default")]
    pub forward: ForwardConfig,
    /// L3 interfaces; with at least one, the appliance runs the
    /// load-balancing pipeline instead of L2 forwarding.
    #[serde(default, rename = "interface")]
    pub interfaces: Vec<InterfaceConfig>,
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteConfig>,
    #[serde(default, rename = "neighbour")]
    pub neighbours: Vec<NeighbourConfig>,
    #[serde(default, rename = "service")]
    pub services: Vec<ServiceConfig>,
    /// `[[snat]]` rules, tried in order.
    #[serde(default)]
    pub snat: Vec<SnatConfig>,
    #[serde(default)]
    pub sessions: SessionsConfig,
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
    /// Gratuitous ARP for owned addresses when they come up.
    #[serde(default, skip_serializing_if = "GarpConfig::is_default")]
    pub garp: GarpConfig,
    /// `[synproxy]`: the SYN proxy's global settings (docs/syn-proxy.md).
    #[serde(default, skip_serializing_if = "SynProxyConfig::is_default")]
    pub synproxy: SynProxyConfig,
    /// The control socket `ferrolbctl` talks to.
    #[serde(default, skip_serializing_if = "ControlConfig::is_default")]
    pub control: ControlConfig,
    /// `ferrolbctl daemon`: file watching and the metrics endpoint. The
    /// appliance ignores it.
    #[serde(default, skip_serializing_if = "DaemonConfig::is_default")]
    pub daemon: DaemonConfig,
    /// Route health injection through BIRD (`ferrolbctl daemon`); none by
    /// default. The appliance ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<BgpConfig>,
    /// Session sync with peer nodes (docs/session-sync.md); none by
    /// default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncConfig>,
    /// Addresses keepalived moves between this node and its peer; none by
    /// default (every address is always this node's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp: Option<VrrpConfig>,
}

/// DPDK's environment abstraction layer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EalConfig {
    /// Extra EAL arguments, passed as given (e.g. `--no-huge`, `-m 512`,
    /// `--file-prefix NAME`). Ports are added from `[[port]]`; do not list
    /// them here.
    #[serde(default)]
    pub args: Vec<String>,
    /// The core the main (control) thread runs on; passed as `-l N` unless
    /// `args` already chooses cores.
    #[serde(default)]
    pub main_lcore: u32,
}

/// One NIC port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortConfig {
    /// The name ferrolb uses for the port in counters and (later) routes.
    pub name: String,
    /// A PCI address (`0000:3b:00.0`, optionally `,devargs`) or a DPDK
    /// virtual device's devargs (`net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap`).
    /// Empty (left out) for a bond, whose devices are `bond.members`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device: String,
    #[serde(default = "default_desc")]
    pub rx_desc: u16,
    #[serde(default = "default_desc")]
    pub tx_desc: u16,
    #[serde(default = "default_true")]
    pub promiscuous: bool,
    /// Our MAC on this port; default: the device's.
    pub mac: Option<MacAddr>,
    /// The largest IP packet sent on this port (68..=9216).
    #[serde(default = "default_mtu")]
    pub mtu: u16,
    /// The port's kernel interface (docs/kernel-path.md): a Linux
    /// interface with the port's MAC for what the load balancer does not
    /// consume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelConfig>,
    /// The port is a bond of several devices (docs/bonding.md) instead of
    /// one `device`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond: Option<BondConfig>,
}

/// The headroom Linux keeps in front of a frame XDP receives
/// (`XDP_PACKET_HEADROOM`).
pub const XDP_HEADROOM: u16 = 256;

/// The largest port `mtu` when a port is `net_af_xdp`: DPDK 22.11's
/// af_xdp uses the mbuf pool as its umem, one mempool object per umem
/// frame, and the kernel takes frames of at most a 4 KB page. With an
/// af_xdp port ferrolb makes every object exactly a page
/// (`dataplane/src/dpdk/umem_pool.rs`): 64 (mempool header) + 128
/// (`rte_mbuf`) + 128 (mbuf headroom) + 256 (XDP headroom) + the frame
/// (MTU + 26) = 4096 at an MTU of 3494 (tests/e2e_jumbo.rs runs it).
/// `rte_pktmbuf_pool_create`'s layout, an odd number of cache lines,
/// held 3430.
pub const AF_XDP_MAX_MTU: u16 = 3494;

fn default_mtu() -> u16 {
    1500
}

fn default_desc() -> u16 {
    1024
}

fn default_true() -> bool {
    true
}

/// The poll-mode workers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersConfig {
    /// One worker per listed core; worker *i* owns RX and TX queue *i* of
    /// every port.
    #[serde(default = "default_cores")]
    pub cores: Vec<usize>,
    /// Allow a core to be listed more than once: the workers then take turns
    /// on it. For correctness tests on small machines; throughput suffers.
    #[serde(default)]
    pub shared_cores: bool,
    /// Whether replies to local ports (FULLNAT, SNAT) are steered to their
    /// owner's queue with rte_flow rules where the device supports them.
    #[serde(default)]
    pub steering: Steering,
}

/// `[workers] steering`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Steering {
    /// rte_flow rules where the device validates them, redirect rings
    /// elsewhere.
    #[default]
    Auto,
    /// Redirect rings only: no rte_flow rules are installed.
    Off,
}

fn default_cores() -> Vec<usize> {
    vec![1]
}

impl Default for WorkersConfig {
    fn default() -> Self {
        WorkersConfig {
            cores: default_cores(),
            shared_cores: false,
            steering: Steering::default(),
        }
    }
}

/// The packet buffer pool.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MempoolConfig {
    /// Mbufs in the pool; by default enough for every descriptor of every
    /// queue, the per-core caches and the bursts in flight, doubled.
    pub mbufs: Option<u32>,
    /// Per-core mbuf cache.
    #[serde(default = "default_cache")]
    pub cache: u32,
}

fn default_cache() -> u32 {
    256
}

/// L2 forwarding (testpmd-style), the mode used until services are
/// configured and for benchmarking the bare packet path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    #[serde(default)]
    pub mode: ForwardMode,
    #[serde(default)]
    pub topology: Topology,
}

impl ForwardConfig {
    fn is_default(&self) -> bool {
        *self == ForwardConfig::default()
    }
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig {
            mode: ForwardMode::Io,
            topology: Topology::Paired,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardMode {
    /// Frames leave untouched.
    #[default]
    Io,
    /// Source and destination MAC swapped.
    Macswap,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    /// 0↔1, 2↔3, ...
    #[default]
    Paired,
    /// 0→1→...→0
    Chained,
    /// Each port back out of itself.
    Loop,
}

/// A port's device, as DPDK will see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Device {
    /// A PCI device, probed with `-a ADDRESS[,devargs]`; DPDK names its port
    /// by the full address.
    Pci { address: String },
    /// A virtual device, probed with `--vdev=DEVARGS`; DPDK names its port by
    /// the devargs up to the first comma.
    Vdev { name: String },
}

impl PortConfig {
    /// Whether the port is a `net_af_xdp` device, or a bond with one
    /// (see [`AF_XDP_MAX_MTU`]).
    pub fn is_af_xdp(&self) -> bool {
        self.devices()
            .any(|d| d.trim_start().starts_with("net_af_xdp"))
    }

    /// The devargs of every device the port is made of: its `device`, or
    /// its bond's members.
    pub fn devices(&self) -> impl Iterator<Item = &str> {
        let members = self.bond.iter().flat_map(|b| b.members.iter());
        std::iter::once(self.device.as_str())
            .filter(|d| !d.is_empty())
            .chain(members.map(String::as_str))
    }

    /// How many devices, each with the port's queues and descriptors: one,
    /// or a bond's members.
    pub fn device_count(&self) -> u32 {
        self.bond
            .as_ref()
            .map_or(1, |b| b.members.len().max(1) as u32)
    }

    /// What kind of device this port is and the name DPDK gives its port
    /// (a bond's is [`BondConfig::dpdk_name`]).
    pub fn device_kind(&self) -> Device {
        if self.bond.is_some() {
            return Device::Vdev {
                name: BondConfig::dpdk_name(&self.name),
            };
        }
        let head = self.device.split(',').next().unwrap_or_default().trim();
        match normalize_pci(head) {
            Some(address) => Device::Pci { address },
            None => Device::Vdev {
                name: head.to_owned(),
            },
        }
    }
}

/// `0000:3b:00.0` or `3b:00.0` → `0000:3b:00.0`; anything else → None.
fn normalize_pci(s: &str) -> Option<String> {
    let (domain, rest) = match s.matches(':').count() {
        2 => s.split_once(':')?,
        1 => ("0000", s),
        _ => return None,
    };
    let (bus, devfn) = rest.split_once(':')?;
    let (dev, func) = devfn.split_once('.')?;
    let hex = |x: &str, n: usize| x.len() == n && x.chars().all(|c| c.is_ascii_hexdigit());
    let func_ok = func.len() == 1 && matches!(func.as_bytes()[0], b'0'..=b'7');
    (hex(domain, 4) && hex(bus, 2) && hex(dev, 2) && func_ok)
        .then(|| format!("{}:{bus}:{dev}.{func}", domain.to_ascii_lowercase()).to_ascii_lowercase())
}

/// A config together with its source, so later checks can point into it.
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    pub config: Config,
    pub source: ConfigSource,
}

impl LoadedConfig {
    /// An error about `key` (e.g. `workers.cores[1]`) located in the file.
    pub fn error_at(&self, key: &str, message: impl Into<String>) -> ConfigError {
        self.source.error_at(&KeyPath::parse(key), message)
    }
}

impl Config {
    /// Whether this config runs the load-balancing pipeline (it has at
    /// least one `[[interface]]`) rather than L2 forwarding.
    pub fn runs_pipeline(&self) -> bool {
        !self.interfaces.is_empty()
    }

    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<LoadedConfig, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            line: None,
            key: None,
            message: format!("cannot read the config file: {e}"),
        })?;
        Self::parse(path, text)
    }

    /// Parses and validates config text; `path` is only used in errors.
    pub fn parse(path: &Path, text: String) -> Result<LoadedConfig, ConfigErrors> {
        let source = ConfigSource::new(path, text);
        let config: Config =
            toml::from_str(&source.text).map_err(|e| parse_all::all_errors(&source, &e))?;
        validate::validate(&config, &source)?;
        Ok(LoadedConfig { config, source })
    }

    /// Validates a config that exists only in memory (the running config
    /// after a runtime op): the same checks as for a file, with errors that
    /// name the key but no line, since there is no file to point into.
    pub fn check(config: Config, name: &Path) -> Result<LoadedConfig, ConfigErrors> {
        let source = ConfigSource::new(name, String::new());
        validate::validate(&config, &source)?;
        Ok(LoadedConfig { config, source })
    }

    /// The longest frame a port of this config receives: the largest port
    /// `mtu` plus Ethernet header, two VLAN tags and CRC (what NIC drivers
    /// count when they size receive buffers).
    pub fn largest_frame(&self) -> u16 {
        /// Ethernet header 14, two VLAN tags 8, CRC 4.
        const L2_OVERHEAD: u16 = 26;
        let mtu = self.ports.iter().map(|p| p.mtu).max().unwrap_or(1500);
        mtu.saturating_add(L2_OVERHEAD)
    }

    /// The room each mbuf has after its headroom: the largest frame, and
    /// in front of it the kernel's XDP headroom where a `net_af_xdp` port
    /// receives into the mbufs. So every frame arrives in one mbuf.
    pub fn mbuf_frame_room(&self) -> u16 {
        let xdp = if self.ports.iter().any(PortConfig::is_af_xdp) {
            XDP_HEADROOM
        } else {
            0
        };
        self.largest_frame().saturating_add(xdp)
    }

    /// The mbuf pool size: the configured one, or enough for every RX and
    /// TX descriptor, the per-core caches and a burst per queue, doubled.
    pub fn mbufs_needed(&self) -> u32 {
        let workers = self.workers.cores.len().max(1) as u32;
        let per_queue: u32 = self
            .ports
            .iter()
            .map(|p| (u32::from(p.rx_desc) + u32::from(p.tx_desc)) * p.device_count() + 32)
            .sum();
        // A kernel interface has one queue pair of KERNEL_DESC descriptors.
        let kernel: u32 = self
            .ports
            .iter()
            .filter(|p| p.kernel.is_some())
            .map(|_| 2 * u32::from(KERNEL_DESC) + 32)
            .sum();
        let needed = per_queue * workers + kernel + (workers + 1) * self.mempool.cache;
        (needed * 2).max(8191)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_addr;
#[cfg(test)]
mod tests_bond;
#[cfg(test)]
mod tests_check;
#[cfg(test)]
mod tests_control;
#[cfg(test)]
mod tests_ipv6;
#[cfg(test)]
mod tests_kernel;
#[cfg(test)]
mod tests_lb;
#[cfg(test)]
mod tests_lb_services;
#[cfg(test)]
mod tests_limits;
#[cfg(test)]
mod tests_ops6;
#[cfg(test)]
mod tests_route6;
#[cfg(test)]
mod tests_snat6;
#[cfg(test)]
mod tests_vrrp;
