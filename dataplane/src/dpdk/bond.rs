//! What a bonded port (DPDK's `net_bonding` PMD) says about its members:
//! link state, which member is active (active-backup) and which are in the
//! LACP aggregator (802.3ad). Read by the control side; the workers only
//! see the bond, one port like any other.

use std::ffi::CStr;
use std::os::raw::c_char;

use super::port::device_stats;
use super::{DpdkError, Eal, Port, PortStats};

/// `BONDING_MODE_ACTIVE_BACKUP` (a macro in rte_eth_bond.h).
pub const MODE_ACTIVE_BACKUP: u8 = 1;
/// `BONDING_MODE_BALANCE`.
pub const MODE_BALANCE_XOR: u8 = 2;
/// `BONDING_MODE_8023AD`.
pub const MODE_8023AD: u8 = 4;

/// `RTE_ETH_DEV_INTR_LSC` (`RTE_BIT32(1)`, a macro bindgen does not
/// turn into a constant): the device raises link-change events.
const INTR_LSC: u32 = 1 << 1;
/// The most members we ask a bond for (the config allows 8).
const MAX_MEMBERS: usize = 32;
/// `RTE_ETH_NAME_MAX_LEN`.
const NAME_LEN: usize = 64;

/// LACP actor state bits (IEEE 802.1AX; `STATE_*` in rte_eth_bond_8023ad.h).
pub mod lacp_state {
    pub const SYNCHRONIZATION: u8 = 0x08;
    pub const COLLECTING: u8 = 0x10;
    pub const DISTRIBUTING: u8 = 0x20;
    /// The partner's parameters are defaulted: no LACPDU heard from it.
    pub const DEFAULTED: u8 = 0x40;
}

/// One member of a bond.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberStatus {
    /// Its DPDK device name (`net_tap0`, `0000:3b:00.0`).
    pub name: String,
    pub link_up: bool,
    /// It carries traffic now: the current active member (active-backup),
    /// or one the bond distributes to (balance-xor, 802.3ad).
    pub active: bool,
    /// 802.3ad: our LACP actor state and the partner's, as the LACPDU
    /// bytes (see [`lacp_state`]).
    pub lacp: Option<LacpStatus>,
    /// The member device's own counters (a backup's RX queue, which the
    /// bond does not poll, shows up in `rx_missed`).
    pub stats: PortStats,
}

/// A member's LACP state (802.3ad only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LacpStatus {
    pub actor_state: u8,
    pub partner_state: u8,
    /// The member was selected for the aggregator.
    pub selected: bool,
}

impl LacpStatus {
    /// In the aggregator: selected, in sync with the partner, collecting
    /// and distributing.
    pub fn aggregated(&self) -> bool {
        use lacp_state::*;
        let all = SYNCHRONIZATION | COLLECTING | DISTRIBUTING;
        self.selected && self.actor_state & all == all
    }
}

/// A bond's mode and members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BondStatus {
    /// DPDK's mode number (`MODE_*`).
    pub mode: u8,
    pub members: Vec<MemberStatus>,
}

impl BondStatus {
    /// The member carrying the traffic of an active-backup bond.
    pub fn active_member(&self) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.active)
            .map(|m| m.name.as_str())
    }
}

/// Whether port `id` is a bond.
pub(crate) fn is_bond(id: u16) -> bool {
    // SAFETY: plain query; a port that is not a bond gives -1.
    unsafe { dpdk_sys::rte_eth_bond_mode_get(id) >= 0 }
}

/// Whether bond `id` has a member to send on now: one in the aggregator
/// (802.3ad: distributing), else one the bond counts active (link up).
/// Read when a TX burst was refused, to tell a bond without a member from
/// a full queue.
pub(crate) fn can_send(id: u16) -> bool {
    let mut active = [0u16; MAX_MEMBERS];
    // SAFETY: `active` holds MAX_MEMBERS entries, the length we pass.
    let n = unsafe {
        dpdk_sys::rte_eth_bond_active_slaves_get(id, active.as_mut_ptr(), MAX_MEMBERS as u16)
    };
    let active = &active[..usize::try_from(n).unwrap_or(0).min(MAX_MEMBERS)];
    // SAFETY: plain query.
    let mode = unsafe { dpdk_sys::rte_eth_bond_mode_get(id) };
    if mode == i32::from(MODE_8023AD) {
        let all = lacp_state::DISTRIBUTING;
        return active
            .iter()
            .any(|&m| lacp_of(id, m).is_some_and(|l| l.actor_state & all == all));
    }
    !active.is_empty()
}

impl Port<'_> {
    /// The bond's state, or `None` when the port is not a bond.
    pub fn bond_status(&self) -> Option<BondStatus> {
        let id = self.id();
        // SAFETY: plain query; a port that is not a bond gives -1.
        let mode = unsafe { dpdk_sys::rte_eth_bond_mode_get(id) };
        let mode = u8::try_from(mode).ok()?;
        let mut all = [0u16; MAX_MEMBERS];
        // SAFETY: `all` holds MAX_MEMBERS entries, the length we pass.
        let n =
            unsafe { dpdk_sys::rte_eth_bond_slaves_get(id, all.as_mut_ptr(), MAX_MEMBERS as u16) };
        let all = &all[..usize::try_from(n).unwrap_or(0).min(MAX_MEMBERS)];
        let mut active = [0u16; MAX_MEMBERS];
        // SAFETY: as above.
        let n = unsafe {
            dpdk_sys::rte_eth_bond_active_slaves_get(id, active.as_mut_ptr(), MAX_MEMBERS as u16)
        };
        let active = &active[..usize::try_from(n).unwrap_or(0).min(MAX_MEMBERS)];
        // SAFETY: plain query of a bond; negative when it has no member.
        let primary = unsafe { dpdk_sys::rte_eth_bond_primary_get(id) };
        let members = all
            .iter()
            .map(|&m| {
                let in_active = active.contains(&m);
                let lacp = (mode == MODE_8023AD).then(|| lacp_of(id, m)).flatten();
                MemberStatus {
                    name: device_name(m),
                    link_up: link_up(m),
                    active: match mode {
                        MODE_ACTIVE_BACKUP => in_active && i32::from(m) == primary,
                        MODE_8023AD => lacp.is_some_and(|l| l.aggregated()),
                        _ => in_active,
                    },
                    lacp,
                    stats: device_stats(m),
                }
            })
            .collect();
        Some(BondStatus { mode, members })
    }

    /// How often bond `id` looks at the link of members that do not
    /// signal changes themselves (`rte_eth_bond_link_monitoring_set`;
    /// DPDK 22.11 lists `lsc_poll_period_ms` as a devarg but refuses it).
    pub fn set_bond_link_poll(_eal: &Eal, id: u16, name: &str, ms: u32) -> Result<(), DpdkError> {
        // SAFETY: EAL initialised (`_eal`); the bond checks the port id.
        let ret = unsafe { dpdk_sys::rte_eth_bond_link_monitoring_set(id, ms) };
        if ret != 0 {
            return Err(DpdkError::new(
                format!("port {name}: rte_eth_bond_link_monitoring_set({ms} ms)"),
                ret,
            ));
        }
        Ok(())
    }

    /// Makes the bond poll member `member`'s link (every `miimon` ms,
    /// like Linux's miimon) instead of waiting for the member's driver to
    /// signal changes: DPDK 22.11's net_tap updates its link on netlink
    /// news but tells no one (no LSC event), so a bond over taps never
    /// fails over. Clears the member's "signals link changes" flag
    /// (`RTE_ETH_DEV_INTR_LSC`), which the bond reads when it adds the
    /// member at its configure; call before [`Port::start`] of the bond.
    pub fn poll_member_link(_eal: &Eal, member: u16) -> Result<(), DpdkError> {
        let info = super::port::dev_info(member, "bond member")?;
        if info.dev_flags.is_null() {
            return Ok(());
        }
        // SAFETY: `dev_flags` points at the member's `rte_eth_dev_data`
        // flags (rte_ethdev.h: `dev_flags = &dev->data->dev_flags`), a
        // plain u32 in DPDK's shared device data, not a constant; the
        // member is probed and not started, and only this (main) thread
        // touches ethdev configuration now.
        unsafe { *(info.dev_flags as *mut u32) &= !INTR_LSC };
        Ok(())
    }

    /// Whether the port is an 802.3ad bond, whose LACPDUs leave only from
    /// its TX burst (see [`TxQueue`](super::TxQueue)).
    pub(super) fn is_lacp_bond(id: u16) -> bool {
        // SAFETY: plain query; -1 for a port that is not a bond.
        unsafe { dpdk_sys::rte_eth_bond_mode_get(id) == i32::from(MODE_8023AD) }
    }
}

/// 802.3ad state of member `member` of bond `bond`.
fn lacp_of(bond: u16, member: u16) -> Option<LacpStatus> {
    let mut info = dpdk_sys::rte_eth_bond_8023ad_slave_info::default();
    // SAFETY: valid out-pointer; the bond checks that `member` is its own.
    let ret = unsafe { dpdk_sys::rte_eth_bond_8023ad_slave_info(bond, member, &mut info) };
    (ret == 0).then_some(LacpStatus {
        actor_state: info.actor_state,
        partner_state: info.partner_state,
        selected: info.selected == dpdk_sys::SELECTED,
    })
}

fn link_up(port: u16) -> bool {
    let mut link = dpdk_sys::rte_eth_link::default();
    // SAFETY: valid out-pointer; a member is a probed port.
    unsafe { dpdk_sys::rte_eth_link_get_nowait(port, &mut link) };
    link.link_status() != 0
}

/// DPDK's name of port `port`, or `port N` if it has none.
fn device_name(port: u16) -> String {
    let mut buf = [0 as c_char; NAME_LEN];
    // SAFETY: buf holds RTE_ETH_NAME_MAX_LEN bytes, as the call requires.
    let ret = unsafe { dpdk_sys::rte_eth_dev_get_name_by_port(port, buf.as_mut_ptr()) };
    if ret != 0 {
        return format!("port {port}");
    }
    // SAFETY: on success DPDK wrote a NUL-terminated name into buf.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}
