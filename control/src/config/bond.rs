//! `[port.bond]`: a port made of several links, DPDK's bonding PMD
//! (`net_bonding`) over member devices (docs/bonding.md). The names follow
//! Linux bonding's (`mode = "active-backup"`, `"802.3ad"`, `miimon`,
//! `xmit_hash_policy`), so an operator of a Linux bond reads them as such.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::source::{ConfigError, ConfigSource, KeyPath};
use super::{normalize_pci, Config, Device};

/// The most members a bond takes (DPDK's own limit is RTE_MAX_ETHPORTS,
/// which the members share with every other port).
pub const MAX_BOND_MEMBERS: usize = 8;
/// `miimon` bounds, in milliseconds.
const MIIMON_RANGE: std::ops::RangeInclusive<u32> = 1..=10_000;

/// A port's bond.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BondConfig {
    pub mode: BondMode,
    /// The member devices, each a PCI address or vdev devargs as a port's
    /// `device` would be; they are probed for the bond and are not ports
    /// of their own.
    pub members: Vec<String>,
    /// active-backup: the member used whenever its link is up (by DPDK
    /// name: `net_tap0`, `0000:3b:00.0`); default: the first member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// Milliseconds between two looks at the members' link state, for
    /// members that do not signal changes (DPDK's
    /// `rte_eth_bond_link_monitoring_set`).
    #[serde(default = "default_miimon")]
    pub miimon: u32,
    /// balance-xor and 802.3ad: what picks a packet's member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xmit_hash_policy: Option<XmitHashPolicy>,
}

fn default_miimon() -> u32 {
    10
}

/// `[port.bond] mode`, Linux's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BondMode {
    /// One member carries everything; another takes over when its link
    /// goes down (mode 1).
    #[serde(rename = "active-backup")]
    ActiveBackup,
    /// Every member carries traffic, picked by a hash of the packet (mode 2).
    #[serde(rename = "balance-xor")]
    BalanceXor,
    /// IEEE 802.3ad link aggregation with LACP (mode 4): members join the
    /// aggregator once the partner agrees.
    #[serde(rename = "802.3ad")]
    Lacp,
}

impl BondMode {
    /// DPDK's mode number (`BONDING_MODE_*`).
    pub fn dpdk_mode(self) -> u8 {
        match self {
            BondMode::ActiveBackup => 1,
            BondMode::BalanceXor => 2,
            BondMode::Lacp => 4,
        }
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BondMode::ActiveBackup => "active-backup",
            BondMode::BalanceXor => "balance-xor",
            BondMode::Lacp => "802.3ad",
        }
    }
}

/// `[port.bond] xmit_hash_policy`, Linux's names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum XmitHashPolicy {
    #[serde(rename = "layer2")]
    Layer2,
    #[serde(rename = "layer2+3")]
    Layer23,
    /// Addresses and ports: the flows of one client spread over members.
    #[default]
    #[serde(rename = "layer3+4")]
    Layer34,
}

impl XmitHashPolicy {
    /// DPDK's `xmit_policy` devarg.
    fn dpdk_name(self) -> &'static str {
        match self {
            XmitHashPolicy::Layer2 => "l2",
            XmitHashPolicy::Layer23 => "l23",
            XmitHashPolicy::Layer34 => "l34",
        }
    }
}

/// The name DPDK gives a member's port: a PCI address in full, a vdev's
/// devargs up to the first comma.
pub fn member_name(member: &str) -> String {
    let head = member.split(',').next().unwrap_or_default().trim();
    normalize_pci(head).unwrap_or_else(|| head.to_owned())
}

/// A member's kind, as for a port's `device`.
pub fn member_kind(member: &str) -> Device {
    let head = member.split(',').next().unwrap_or_default().trim();
    match normalize_pci(head) {
        Some(address) => Device::Pci { address },
        None => Device::Vdev {
            name: head.to_owned(),
        },
    }
}

impl BondConfig {
    /// The DPDK device name of the bond of port `port`: the bonding PMD
    /// takes vdevs whose name starts with `net_bonding`.
    pub fn dpdk_name(port: &str) -> String {
        format!("net_bonding_{port}")
    }

    /// The `--vdev` devargs that create the bond of port `port` over its
    /// members (which are probed on their own, before or after: the PMD
    /// adds them when the bond is configured).
    pub fn devargs(&self, port: &str) -> String {
        let mut out = format!("{},mode={}", Self::dpdk_name(port), self.mode.dpdk_mode());
        for m in &self.members {
            out.push_str(&format!(",slave={}", member_name(m)));
        }
        if let Some(p) = &self.primary {
            out.push_str(&format!(",primary={p}"));
        }
        if self.mode != BondMode::ActiveBackup {
            let policy = self.xmit_hash_policy.unwrap_or_default();
            out.push_str(&format!(",xmit_policy={}", policy.dpdk_name()));
        }
        // miimon is set through the API at start: DPDK 22.11 documents
        // `lsc_poll_period_ms` as a devarg but its parser refuses it.
        out
    }
}

/// Checks every port's bond; `devices` holds every port's own DPDK device
/// name with its index, so a member cannot also be a port.
pub(super) fn validate(
    config: &Config,
    source: &ConfigSource,
    devices: &HashMap<String, usize>,
    errors: &mut Vec<ConfigError>,
) {
    let mut err = |path: KeyPath, msg: String| errors.push(source.error_at(&path, msg));
    let no_pci = config.eal.args.iter().any(|a| a == "--no-pci");
    // Every member's DPDK name, with the key that first named it.
    let mut members: HashMap<String, String> = HashMap::new();
    for (i, port) in config.ports.iter().enumerate() {
        let Some(bond) = &port.bond else { continue };
        let at = KeyPath::root().key("port").index(i).key("bond");
        if bond.members.is_empty() {
            err(
                at.key("members"),
                "no members: list the devices the bond is made of (two or more for redundancy)"
                    .into(),
            );
        } else if bond.members.len() > MAX_BOND_MEMBERS {
            err(
                at.key("members"),
                format!(
                    "{} members: a bond takes at most {MAX_BOND_MEMBERS}",
                    bond.members.len()
                ),
            );
        }
        for (j, member) in bond.members.iter().enumerate() {
            let key = at.key("members").index(j);
            let name = member_name(member);
            let here = format!("port[{i}].bond.members[{j}]");
            if name.is_empty() {
                err(
                    key,
                    "member is empty: give a PCI address or vdev devargs".into(),
                );
                continue;
            }
            if name.starts_with("net_bonding") || name.starts_with("eth_bond") {
                err(
                    key.clone(),
                    format!("{name} is a bond: bonds of bonds are not supported"),
                );
            }
            if matches!(member_kind(member), Device::Pci { .. }) && no_pci {
                err(
                    key.clone(),
                    format!(
                        "{name} is a PCI device but eal.args contain --no-pci; remove one of them"
                    ),
                );
            }
            if let Some(p) = devices.get(&name) {
                err(
                    key.clone(),
                    format!(
                        "{name} is also port[{p}].device: a bond's members are not ports of \
                         their own"
                    ),
                );
            }
            if let Some(first) = members.insert(name.clone(), here) {
                err(key, format!("{name} is already a member ({first})"));
            }
        }
        check_options(bond, &at, &mut err);
    }
}

/// `primary`, `miimon` and `xmit_hash_policy` against the mode and members.
fn check_options(bond: &BondConfig, at: &KeyPath, err: &mut impl FnMut(KeyPath, String)) {
    if let Some(primary) = &bond.primary {
        if bond.mode != BondMode::ActiveBackup {
            err(
                at.key("primary"),
                format!(
                    "primary applies to mode \"active-backup\", not {:?}",
                    bond.mode.as_str()
                ),
            );
        } else if !bond.members.iter().any(|m| member_name(m) == *primary) {
            let names: Vec<String> = bond.members.iter().map(|m| member_name(m)).collect();
            err(
                at.key("primary"),
                format!(
                    "{primary:?} is not a member; give one of the members' DPDK names: {}",
                    names.join(", ")
                ),
            );
        }
    }
    if !MIIMON_RANGE.contains(&bond.miimon) {
        err(
            at.key("miimon"),
            format!(
                "{} ms: must be {}..={}",
                bond.miimon,
                MIIMON_RANGE.start(),
                MIIMON_RANGE.end()
            ),
        );
    }
    if bond.xmit_hash_policy.is_some() && bond.mode == BondMode::ActiveBackup {
        err(
            at.key("xmit_hash_policy"),
            "xmit_hash_policy applies to \"balance-xor\" and \"802.3ad\"; active-backup sends \
             everything on the active member"
                .into(),
        );
    }
}
