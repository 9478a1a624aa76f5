//! The appliance as a multicast listener (RFC 3810): an IPv6 host joins
//! the solicited-node group of each of its addresses (RFC 4861 7.2.1), and
//! says so by MLD, so a switch that snoops MLD sends it the Neighbor
//! Solicitations for its addresses. Without reports, such a switch that
//! has heard a querier delivers a solicited-node group only to the ports
//! that reported it, and our addresses go unresolved.
//!
//! We send MLDv2 reports: a join when an interface comes up (with the
//! unsolicited advertisements, `pipeline/garp.rs`), and the current state
//! answering a querier's general query, or a query for one of our groups.
//! There is no MLDv1 compatibility mode (RFC 3810 8): a switch with an
//! MLDv1 querier gets MLDv2 reports, which Linux's bridge and common
//! switches read regardless of their query version.

use std::net::Ipv6Addr;

use crate::drop::DropReason;
use crate::net::nd::{multicast_mac, solicited_node};
use crate::tables::Interface;
use crate::wire::ethernet::{self, EtherType, MacAddr};
use crate::wire::icmpv6::Icmpv6Packet;
use crate::wire::ipv6::{self, Ipv6Header, Ipv6Packet, NextHeader, IPV6_HEADER_LEN};
use crate::wire::mld::{self, MldType};

/// All MLDv2-capable routers (RFC 3810 5.2.14): where reports go.
pub const ALL_MLDV2_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);
/// MLD never leaves the link.
pub const MLD_HOP_LIMIT: u8 = 1;
/// Records in one report: 64 keep it at 1352 bytes, inside any link's
/// 1500. An interface with more groups sends several reports.
pub const GROUPS_PER_REPORT: usize = 64;

/// The groups an interface listens to: the solicited-node group of each
/// of its IPv6 addresses, once each, in address order. All-nodes is never
/// reported (RFC 3810 6).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Groups {
    groups: Vec<Ipv6Addr>,
}

impl Groups {
    /// `iface`'s groups. Built when a report is due (a few times at start
    /// and once per query), not per packet.
    pub fn of(iface: &Interface) -> Groups {
        let mut groups: Vec<Ipv6Addr> = iface
            .addrs6
            .iter()
            .map(|&(a, _)| solicited_node(a))
            .collect();
        groups.sort_unstable();
        groups.dedup();
        Groups { groups }
    }

    pub fn contains(&self, group: Ipv6Addr) -> bool {
        self.groups.binary_search(&group).is_ok()
    }

    /// Keeps `group` alone, if it is one of them.
    pub fn retain(&mut self, group: Ipv6Addr) {
        self.groups.retain(|&g| g == group);
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The groups, a report's worth at a time.
    pub fn reports(&self) -> impl Iterator<Item = &[Ipv6Addr]> {
        self.groups.chunks(GROUPS_PER_REPORT)
    }
}

/// The source of our reports on `iface`: its link-local address, else the
/// unspecified address (RFC 3810 5.2.13: never a global one).
pub fn report_source(iface: &Interface) -> Ipv6Addr {
    iface
        .addrs6
        .iter()
        .map(|&(a, _)| a)
        .find(|a| a.segments()[0] & 0xffc0 == 0xfe80)
        .unwrap_or(Ipv6Addr::UNSPECIFIED)
}

/// The length of a report frame of `groups` records, tagged `vlan` or not.
pub fn report_frame_len(vlan: Option<u16>, groups: usize) -> usize {
    ethernet::header_len(vlan)
        + IPV6_HEADER_LEN
        + mld::ROUTER_ALERT_HOP_BY_HOP.len()
        + mld::report_len(groups)
}

/// Builds, in `frame` ([`report_frame_len`] long), an MLDv2 report of
/// `record_type` ([`mld::RecordType`]) for `groups`, from `src` (see
/// [`report_source`]) at `our_mac` to all MLDv2 routers, tagged `vlan` if
/// the interface is. `false` if the frame has another length.
pub fn write_report(
    frame: &mut [u8],
    (vlan, our_mac): (Option<u16>, MacAddr),
    src: Ipv6Addr,
    record_type: u8,
    groups: &[Ipv6Addr],
) -> bool {
    if groups.is_empty() || frame.len() != report_frame_len(vlan, groups.len()) {
        return false;
    }
    let hop_by_hop = mld::ROUTER_ALERT_HOP_BY_HOP.len();
    let msg_len = mld::report_len(groups.len());
    let header = Ipv6Header {
        src,
        dst: ALL_MLDV2_ROUTERS,
        next_header: NextHeader::HOP_BY_HOP,
        hop_limit: MLD_HOP_LIMIT,
        payload_len: (hop_by_hop + msg_len) as u16,
    };
    let l3 = frame.len() - IPV6_HEADER_LEN - hop_by_hop - msg_len;
    let (l2, rest) = frame.split_at_mut(l3);
    let macs = (multicast_mac(ALL_MLDV2_ROUTERS), our_mac);
    if !ethernet::write_header(l2, macs, vlan, EtherType::IPV6) {
        return false;
    }
    let (ip, rest) = rest.split_at_mut(IPV6_HEADER_LEN);
    ipv6::write_header(ip, &header);
    let (options, msg) = rest.split_at_mut(hop_by_hop);
    options.copy_from_slice(&mld::ROUTER_ALERT_HOP_BY_HOP);
    if !mld::write_report_body(msg, record_type, groups) {
        return false;
    }
    let Ok(mut m) = Icmpv6Packet::new(&mut msg[..]) else {
        return false;
    };
    m.set_msg_type(MldType::V2_REPORT);
    m.set_code(0);
    m.fill_checksum(src, ALL_MLDV2_ROUTERS);
    true
}

/// A querier's question, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    /// The group asked about; `None` asks for every group.
    pub group: Option<Ipv6Addr>,
}

/// RFC 3810 5.1 and 6.2 (RFC 2710 for MLDv1) for a query `m` in `ip`:
/// from a link-local address, hop limit 1, a verified checksum, long
/// enough. A general query goes to all-nodes; one for a group, to that
/// group.
pub fn read_query(
    ip: &Ipv6Packet<&[u8]>,
    m: &Icmpv6Packet<&[u8]>,
    msg: &[u8],
) -> Result<Query, DropReason> {
    let (src, dst) = (ip.src(), ip.dst());
    if msg.len() < mld::QUERY_LEN
        || ip.hop_limit() != MLD_HOP_LIMIT
        || src.segments()[0] & 0xffc0 != 0xfe80
    {
        return Err(DropReason::MldBadQuery);
    }
    if !m.checksum_ok(src, dst) {
        return Err(DropReason::Icmpv6BadChecksum);
    }
    let group = mld::query_group(msg);
    match group {
        Some(g) if g != dst => Err(DropReason::MldBadQuery),
        _ => Ok(Query { group }),
    }
}

#[cfg(test)]
#[path = "mld_tests.rs"]
pub(crate) mod tests;
