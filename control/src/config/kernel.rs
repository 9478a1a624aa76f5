//! `[port.kernel]`: a Linux interface twinned with a DPDK port, for the
//! traffic the load balancer does not consume (the kernel path,
//! docs/kernel-path.md), and `[garp]`: gratuitous ARP for owned addresses.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use super::source::{ConfigError, ConfigSource, KeyPath};
use super::{Config, Ipv4Prefix};

/// The longest Linux interface name (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;
/// RX and TX descriptors of a kernel interface's one queue pair.
pub const KERNEL_DESC: u16 = 512;
/// The character device `virtio_user` needs as its vhost-net backend.
pub const VHOST_NET: &str = "/dev/vhost-net";

/// A port's kernel interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelConfig {
    /// The Linux interface's name (`flb0`): 1..=15 letters, digits, '-',
    /// '_' or '.'.
    pub name: String,
    /// How the interface is made.
    #[serde(default)]
    pub driver: KernelDriver,
    /// Host addresses with prefix length (`10.0.2.2/24`): put on the
    /// interface at start; frames to them, and ARP for them, go to it.
    #[serde(default)]
    pub addresses: Vec<Ipv4Prefix>,
    /// Also hand the kernel every frame the load balancer would drop for
    /// not being its own (no service, no SNAT rule, an unconfigured VLAN,
    /// ARP for other addresses).
    #[serde(default)]
    pub unmatched: bool,
    /// Frames per second handed to the kernel, at most; the rest are
    /// dropped and counted (`kernel_budget`).
    #[serde(default = "default_budget")]
    pub budget: u32,
}

fn default_budget() -> u32 {
    20_000
}

/// `[port.kernel] driver`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelDriver {
    /// DPDK's `net_tap`: a TUN/TAP interface (`/dev/net/tun`).
    #[default]
    Tap,
    /// DPDK's `virtio_user` with the vhost-net backend (`/dev/vhost-net`):
    /// faster on real hardware.
    VirtioUser,
}

impl KernelConfig {
    /// The vdev devargs that create this interface as DPDK port
    /// `net_tap{index}` / `virtio_user{index}`; the MAC is set after the
    /// port it twins is probed.
    pub fn devargs(&self, index: usize) -> String {
        match self.driver {
            KernelDriver::Tap => format!("net_tap_flb{index},iface={}", self.name),
            KernelDriver::VirtioUser => format!(
                "virtio_user_flb{index},path={VHOST_NET},iface={},queues=1,queue_size=1024",
                self.name
            ),
        }
    }

    /// The DPDK device name of [`KernelConfig::devargs`].
    pub fn dpdk_name(&self, index: usize) -> String {
        self.devargs(index)
            .split(',')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

/// `[garp]`: gratuitous ARP for every owned address (interface, host,
/// VIP, local and SNAT addresses) when it comes up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GarpConfig {
    /// Announcements per address (0: none).
    #[serde(default = "default_garp_count")]
    pub count: u32,
    /// Milliseconds between two announcements of an address.
    #[serde(default = "default_garp_interval")]
    pub interval_ms: u32,
}

fn default_garp_count() -> u32 {
    3
}

fn default_garp_interval() -> u32 {
    1000
}

impl Default for GarpConfig {
    fn default() -> Self {
        GarpConfig {
            count: default_garp_count(),
            interval_ms: default_garp_interval(),
        }
    }
}

impl GarpConfig {
    pub fn is_default(&self) -> bool {
        *self == GarpConfig::default()
    }
}

/// The addresses the dataplane keeps (and may answer for), with the key
/// that names each: a kernel interface may not take one (here), and VRRP
/// may only move these (`vrrp.rs`).
pub(super) fn dataplane_addresses(config: &Config) -> HashMap<Ipv4Addr, String> {
    let mut owned = HashMap::new();
    for (i, iface) in config.interfaces.iter().enumerate() {
        for a in iface.addresses.iter().filter_map(|a| a.v4()) {
            owned.insert(a.addr, format!("interface[{i}].addresses"));
        }
    }
    for (i, s) in config.services.iter().enumerate() {
        if let std::net::IpAddr::V4(vip) = s.vip {
            owned.insert(vip, format!("service[{i}].vip"));
        }
        for a in &s.also_listen {
            if let std::net::IpAddr::V4(a) = a.ip() {
                owned.insert(a, format!("service[{i}].also_listen"));
            }
        }
        for a in &s.local_addresses {
            if let std::net::IpAddr::V4(a) = a {
                owned.insert(*a, format!("service[{i}].local_addresses"));
            }
        }
    }
    for (i, r) in config.snat.iter().enumerate() {
        for a in &r.addresses {
            // IPv6 ones cannot clash with the kernel's IPv4 addresses.
            if let IpAddr::V4(a) = *a {
                owned.insert(a, format!("snat[{i}].addresses"));
            }
        }
    }
    owned
}

pub(super) fn validate(config: &Config, source: &ConfigSource, errors: &mut Vec<ConfigError>) {
    let mut err = |path: KeyPath, msg: String| errors.push(source.error_at(&path, msg));
    let owned = dataplane_addresses(config);
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut hosts: HashMap<Ipv4Addr, usize> = HashMap::new();
    for (i, port) in config.ports.iter().enumerate() {
        let Some(k) = &port.kernel else { continue };
        let at = KeyPath::root().key("port").index(i).key("kernel");
        if !config.runs_pipeline() {
            err(
                at.clone(),
                "a kernel interface needs the load-balancing pipeline: add an [[interface]] \
                 for this port, or remove kernel (L2 forwarding has no host traffic)"
                    .into(),
            );
        }
        let name = k.name.as_str();
        if name.is_empty()
            || name.len() > MAX_IFNAME
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            err(
                at.key("name"),
                format!(
                    "interface name {name:?} must be 1..={MAX_IFNAME} letters, digits, '-', '_' or '.'"
                ),
            );
        } else if let Some(first) = names.insert(name, i) {
            err(
                at.key("name"),
                format!("interface name {name:?} is already used by port[{first}].kernel"),
            );
        }
        if k.budget == 0 {
            err(
                at.key("budget"),
                "a budget of 0 frames per second would cut the kernel off; leave [port.kernel] \
                 out instead"
                    .into(),
            );
        }
        for (j, a) in k.addresses.iter().enumerate() {
            let key = at.key("addresses").index(j);
            if a.len == 0 || a.len > 32 {
                err(
                    key.clone(),
                    format!("{a}: the prefix length must be 1..=32"),
                );
            }
            if a.addr.is_multicast() || a.addr.is_unspecified() || a.addr.is_broadcast() {
                err(key.clone(), format!("{}: not a host address", a.addr));
            }
            if let Some(other) = owned.get(&a.addr) {
                err(
                    key.clone(),
                    format!(
                        "{} is also {other}: the load balancer's own addresses stay with the \
                         dataplane; give the kernel an address of its own",
                        a.addr
                    ),
                );
            }
            if let Some(first) = hosts.insert(a.addr, i) {
                err(
                    key,
                    format!(
                        "{} is already a host address of port[{first}].kernel",
                        a.addr
                    ),
                );
            }
        }
    }
    if config.garp.count > 0 && config.garp.interval_ms == 0 {
        err(
            KeyPath::root().key("garp").key("interval_ms"),
            "interval_ms must be at least 1 when count is above 0".into(),
        );
    }
}
