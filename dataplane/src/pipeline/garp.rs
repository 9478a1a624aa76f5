//! Gratuitous ARP: every owned address (interface, VIP, local, SNAT and
//! kernel host addresses) is announced `garp.count` times, `interval_ms`
//! apart, when it comes up: at start, and when a config change adds it.
//! Neighbours that cached another MAC for it (the node that had it before)
//! update their caches. Worker 0 sends them, from its millisecond tick.
//!
//! Its IPv6 twin goes with it: each IPv6 address of an interface is
//! announced by unsolicited Neighbor Advertisement (RFC 4861 7.2.6, to
//! all-nodes, override set) on that interface, as often and as far apart,
//! after an MLD report joining the addresses' solicited-node groups.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Cx, Datapath};
use crate::buf::PacketBuf;
use crate::io::PacketIo;
use crate::net::arp::{write_gratuitous_arp, ARP_FRAME_LEN};
use crate::net::mld::Groups;
use crate::net::nd::{our_nd_frame_len, write_unsolicited_advertisement};
use crate::tables::LbTables;
use crate::wire::ethernet::{MacAddr, VLAN_TAG_LEN};
use crate::wire::mld::RecordType;

/// One announcement on one interface, `left` more times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Announce {
    pub(super) what: Announced,
    pub(super) iface: u16,
    pub(super) left: u32,
}

/// What an announcement says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Announced {
    /// An address: by gratuitous ARP (IPv4) or unsolicited advertisement
    /// (IPv6).
    Address(IpAddr),
    /// The interface's solicited-node groups, joined by MLD report
    /// (`net::mld`), so MLD-snooping switches send us their solicitations.
    Listening,
}

/// The announcements still to send (worker 0 only).
#[derive(Debug, Default)]
pub(super) struct Garp {
    pending: Vec<Announce>,
    next_ms: u64,
}

/// Every address the tables own, kernel host addresses included.
fn announced(t: &LbTables) -> HashSet<Ipv4Addr> {
    t.owned
        .iter()
        .chain(
            t.kernel
                .iter()
                .flatten()
                .flat_map(|k| k.addrs.iter().copied()),
        )
        .collect()
}

/// The announcements `t` needs that `old` did not: each address new since
/// `old` (every address at start) on each interface whose prefix holds it,
/// or on every interface when none does (a VIP outside the connected
/// networks).
pub(super) fn plan(t: &LbTables, old: Option<&LbTables>) -> Vec<Announce> {
    if t.garp.count == 0 {
        return Vec::new();
    }
    let before = old.map(announced).unwrap_or_default();
    let mut new: Vec<Ipv4Addr> = announced(t).difference(&before).copied().collect();
    new.sort_unstable();
    let mut out = Vec::new();
    for addr in new {
        let holds = |prefixes: &[(Ipv4Addr, u8)]| {
            prefixes.iter().any(|&(a, len)| {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                u32::from(a) & mask == u32::from(addr) & mask
            })
        };
        let on: Vec<u16> = (0..t.interfaces.len() as u16)
            .filter(|&i| holds(&t.interfaces[usize::from(i)].addrs))
            .collect();
        let ifaces = match on.is_empty() {
            true => (0..t.interfaces.len() as u16).collect(),
            false => on,
        };
        out.extend(ifaces.into_iter().map(|iface| Announce {
            what: Announced::Address(IpAddr::V4(addr)),
            iface,
            left: t.garp.count,
        }));
    }
    out.extend(plan6(t, old));
    out
}

/// The IPv6 announcements: each interface's IPv6 addresses new since
/// `old`, on that interface (they belong to it, unlike a VIP), after the
/// MLD report joining their groups (before, so a snooping switch has
/// heard it by the time a neighbour solicits the address).
fn plan6(t: &LbTables, old: Option<&LbTables>) -> Vec<Announce> {
    let had = |iface: usize, a: Ipv6Addr| {
        old.and_then(|o| o.interfaces.get(iface))
            .is_some_and(|i| i.addrs6.iter().any(|&(b, _)| b == a))
    };
    let mut out = Vec::new();
    for (n, i) in t.interfaces.iter().enumerate() {
        if i.addrs6.iter().any(|&(a, _)| !had(n, a)) {
            out.push(Announce {
                what: Announced::Listening,
                iface: n as u16,
                left: t.garp.count,
            });
        }
        for &(addr, _) in &i.addrs6 {
            if !had(n, addr) {
                out.push(Announce {
                    what: Announced::Address(IpAddr::V6(addr)),
                    iface: n as u16,
                    left: t.garp.count,
                });
            }
        }
    }
    out
}

/// Every owned address on the interfaces of port `port` (and the VIPs
/// outside the connected networks, announced everywhere): what a bonded
/// port announces again when its active member changes, so the switches
/// learn which link our MAC is behind now (Linux bonding's `num_grat_arp`).
pub(super) fn plan_port(t: &LbTables, port: u16) -> Vec<Announce> {
    let mut all = plan(t, None);
    all.retain(|a| {
        t.interfaces
            .get(usize::from(a.iface))
            .is_some_and(|i| i.port == port)
    });
    all
}

impl Garp {
    /// Queues `announce`, the first round due at once.
    pub(super) fn add(&mut self, announce: Vec<Announce>, now: u64) {
        if !announce.is_empty() {
            self.pending.extend(announce);
            self.next_ms = now;
        }
    }
}

impl<P: PacketBuf> Datapath<P> {
    /// Sends a round of gratuitous ARP and unsolicited advertisements
    /// when one is due.
    pub(super) fn send_garps<I: PacketIo<Packet = P>>(&mut self, cx: &mut Cx<'_, I>) {
        if self.garp.pending.is_empty() || cx.now < self.garp.next_ms {
            return;
        }
        let t = cx.t;
        let mut pending = std::mem::take(&mut self.garp.pending);
        for a in &mut pending {
            a.left = a.left.saturating_sub(1);
            let Some(i) = t.interfaces.get(usize::from(a.iface)) else {
                continue;
            };
            let addr = match a.what {
                Announced::Address(addr) => addr,
                Announced::Listening => {
                    let groups = Groups::of(i);
                    self.send_mld_reports(cx, i, &groups, RecordType::CHANGE_TO_EXCLUDE);
                    continue;
                }
            };
            let (Some(mac), Some(mut buf)) = (t.port_mac(i.port), cx.io.alloc()) else {
                continue;
            };
            if announce(&mut buf, i.vlan, mac, addr) {
                match addr {
                    IpAddr::V4(_) => self.counters.events.garp_sent += 1,
                    IpAddr::V6(_) => self.counters.events.nd.unsolicited_sent += 1,
                }
                self.send(cx, i.port, buf);
            }
        }
        pending.retain(|a| a.left > 0);
        self.garp.pending = pending;
        self.garp.next_ms = cx.now + t.garp.interval_ms.max(1);
    }
}

/// Writes the announcement of `addr` at `mac` into the empty `buf`:
/// gratuitous ARP or unsolicited advertisement, tagged `vlan` if given.
fn announce<P: PacketBuf>(buf: &mut P, vlan: Option<u16>, mac: MacAddr, addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            let len = ARP_FRAME_LEN + if vlan.is_some() { VLAN_TAG_LEN } else { 0 };
            buf.append(len).is_some()
                && write_gratuitous_arp(buf.data_mut(), vlan, mac, a).is_some()
        }
        IpAddr::V6(a) => {
            buf.append(our_nd_frame_len(vlan)).is_some()
                && write_unsolicited_advertisement(buf.data_mut(), vlan, mac, a)
        }
    }
}
