//! IPv6 as a host on our links (RFC 4861, RFC 4443): Neighbor
//! Solicitations for our addresses answered, advertisements learned from,
//! echo requests to our addresses answered. Nothing here forwards IPv6.
//!
//! Two steps, so the pipeline can size the buffer in between: [`inspect`]
//! reads a received packet and says what it is to us (or why it is
//! dropped), without writing; [`write_advertisement`] and
//! [`write_echo_reply`] then write the answer into a frame of the length
//! [`advertisement_len`] or [`echo_reply_len`] gives.
//!
//! Learning follows RFC 4861 7.2.3 and 7.2.5 the way ARP does here
//! (`net::arp`): a solicitation for one of our addresses creates or
//! refreshes its sender's entry; an advertisement only updates an entry we
//! already have, so the link's chatter cannot fill the table.

use std::net::Ipv6Addr;

use crate::drop::DropReason;
use crate::net::addrs::Addr6Set;
use crate::net::mld::{read_query, Query};
use crate::wire::ethernet::VLAN_TAG_LEN;
use crate::wire::ethernet::{self, field as eth, EtherType, MacAddr, ETHERNET_HEADER_LEN};
use crate::wire::icmpv6::{Icmpv6Packet, Icmpv6Type, LINK_LAYER_OPTION_LEN};
use crate::wire::icmpv6::{NaFlags, NdOption, ND_LEN};
use crate::wire::ipv6::{self, Ipv6Header, Ipv6Packet, NextHeader, IPV6_HEADER_LEN};
use crate::wire::mld::MldType;
use crate::wire::{get_mac, put_bytes};

/// The hop limit of every Neighbour Discovery message: a message with any
/// other came through a router and is not from the link (RFC 4861 7.1).
pub const ND_HOP_LIMIT: u8 = 255;
/// The hop limit of our echo replies (Linux's default).
pub const ECHO_HOP_LIMIT: u8 = 64;
/// The all-nodes address, where advertisements answering DAD go.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Length of the ICMPv6 part of our advertisements: the message and a
/// target link-layer address option.
pub const ADVERTISEMENT_LEN: usize = ND_LEN + LINK_LAYER_OPTION_LEN;

/// The solicited-node multicast address of `a` (RFC 4291 2.7.1):
/// `ff02::1:ff` and the low 24 bits of `a`.
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let low = u128::from(a) & 0x00ff_ffff;
    Ipv6Addr::from(u128::from(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 0)) | low)
}

/// Whether `a` is a solicited-node multicast address.
pub fn is_solicited_node(a: Ipv6Addr) -> bool {
    u128::from(a) & !0x00ff_ffff == u128::from(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 0))
}

/// The Ethernet address IPv6 multicast `a` is sent to (RFC 2464 7):
/// `33:33` and the low 32 bits of `a`.
pub fn multicast_mac(a: Ipv6Addr) -> MacAddr {
    let o = a.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// A Neighbor Solicitation for one of our addresses, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Solicitation {
    /// The sender; unspecified for duplicate address detection (DAD).
    pub src: Ipv6Addr,
    /// Ours.
    pub target: Ipv6Addr,
    /// The sender's source link-layer address option, if it sent one.
    pub sender_mac: Option<MacAddr>,
    /// Where our advertisement goes on the link: the option's address,
    /// else the frame's source; all-nodes' group for DAD.
    pub reply_mac: MacAddr,
}

impl Solicitation {
    /// Duplicate address detection: the sender has no address yet.
    pub fn is_dad(&self) -> bool {
        self.src.is_unspecified()
    }
}

/// A Neighbor Advertisement, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Advertisement {
    pub target: Ipv6Addr,
    /// The target link-layer address option, if any.
    pub target_mac: Option<MacAddr>,
    /// The override flag: the sender says its address replaces a cached one.
    pub overrides: bool,
    /// The solicited flag: it answers a solicitation (ours, if `to_us`).
    pub solicited: bool,
    /// Sent to one of our addresses (not to a group).
    pub to_us: bool,
}

/// An echo request to one of our addresses, checksum verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Echo {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// Where its ICMPv6 message starts in the frame, and how long it is.
    pub icmp_offset: usize,
    pub icmp_len: usize,
}

/// What an IPv6 packet is to this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv6Local {
    /// Not ours to answer: a group we do not handle, another address, a
    /// solicitation for another target. It takes the path every IPv6
    /// packet took before (the kernel interface, or `ipv6_not_forwarded`).
    NotOurs,
    Solicitation(Solicitation),
    Advertisement(Advertisement),
    Echo(Echo),
    /// An MLD querier asks which groups we listen to (`net::mld`).
    MldQuery(Query),
}

/// Reads the IPv6 packet at `l3` of `frame` against the addresses we own.
/// `Err` names the drop for a packet that is ours but malformed: a bad
/// extension-header chain or ICMPv6 checksum, a Neighbour Discovery
/// message that fails RFC 4861's checks, or something to our address we
/// do not answer.
pub fn inspect(frame: &[u8], l3: usize, owned: &Addr6Set) -> Result<Ipv6Local, DropReason> {
    let ip = Ipv6Packet::new(frame.get(l3..).unwrap_or(&[]))?;
    let dst = ip.dst();
    let to_us = owned.contains(dst);
    // Of the groups, only all-nodes and solicited-node ones carry ND.
    if !to_us && dst != ALL_NODES && !is_solicited_node(dst) {
        return Ok(Ipv6Local::NotOurs);
    }
    let not_ours = |reason| match to_us {
        true => Err(reason),
        false => Ok(Ipv6Local::NotOurs),
    };
    let chain = match ip.walk() {
        Ok(c) => c,
        Err(_) => return not_ours(DropReason::Ipv6BadChain),
    };
    if chain.fragment.is_some() || chain.proto != NextHeader::ICMPV6 {
        return not_ours(DropReason::Ipv6LocalUnhandled);
    }
    let end = l3 + IPV6_HEADER_LEN + usize::from(ip.payload_len());
    let icmp_offset = l3 + chain.l4_offset;
    let msg = frame.get(icmp_offset..end).unwrap_or(&[]);
    let m = match Icmpv6Packet::new(msg) {
        Ok(m) => m,
        Err(reason) => return not_ours(reason),
    };
    let src = ip.src();
    match m.msg_type() {
        Icmpv6Type::NEIGHBOR_SOLICITATION => {
            if !owned.contains(m.nd_target()) {
                return Ok(Ipv6Local::NotOurs);
            }
            nd_checks(&ip, &m, src, dst)?;
            solicitation(frame, &m, src, dst).map(Ipv6Local::Solicitation)
        }
        Icmpv6Type::NEIGHBOR_ADVERTISEMENT => {
            nd_checks(&ip, &m, src, dst)?;
            let flags = m.na_flags();
            // A solicited advertisement answers one node: never a group.
            if !to_us && flags & NaFlags::SOLICITED != 0 {
                return Err(DropReason::NdMalformed);
            }
            Ok(Ipv6Local::Advertisement(Advertisement {
                target: m.nd_target(),
                target_mac: m
                    .nd_link_layer(NdOption::TARGET_LINK_LAYER)
                    .map_err(|_| DropReason::NdMalformed)?,
                overrides: flags & NaFlags::OVERRIDE != 0,
                solicited: flags & NaFlags::SOLICITED != 0,
                to_us,
            }))
        }
        MldType::QUERY => read_query(&ip, &m, msg).map(Ipv6Local::MldQuery),
        Icmpv6Type::ECHO_REQUEST if to_us => {
            if !m.checksum_ok(src, dst) {
                return Err(DropReason::Icmpv6BadChecksum);
            }
            Ok(Ipv6Local::Echo(Echo {
                src,
                dst,
                icmp_offset,
                icmp_len: msg.len(),
            }))
        }
        _ => not_ours(DropReason::Ipv6LocalUnhandled),
    }
}

/// RFC 4861 7.1.1 and 7.1.2, common to solicitations and advertisements:
/// hop limit 255, a verified checksum, code 0, a target that is not a
/// group, well-formed options.
fn nd_checks(
    ip: &Ipv6Packet<&[u8]>,
    m: &Icmpv6Packet<&[u8]>,
    src: Ipv6Addr,
    dst: Ipv6Addr,
) -> Result<(), DropReason> {
    if ip.hop_limit() != ND_HOP_LIMIT {
        return Err(DropReason::NdBadHopLimit);
    }
    if !m.checksum_ok(src, dst) {
        return Err(DropReason::Icmpv6BadChecksum);
    }
    if m.code() != 0 || m.nd_target().is_multicast() {
        return Err(DropReason::NdMalformed);
    }
    match m.nd_options_valid() {
        true => Ok(()),
        false => Err(DropReason::NdMalformed),
    }
}

/// The solicitation's own checks past [`nd_checks`]: DAD (from the
/// unspecified address) goes to a solicited-node group and carries no
/// source link-layer address; a sender is never a group.
fn solicitation(
    frame: &[u8],
    m: &Icmpv6Packet<&[u8]>,
    src: Ipv6Addr,
    dst: Ipv6Addr,
) -> Result<Solicitation, DropReason> {
    let sender_mac = m
        .nd_link_layer(NdOption::SOURCE_LINK_LAYER)
        .map_err(|_| DropReason::NdMalformed)?;
    if src.is_multicast()
        || (src.is_unspecified() && (!is_solicited_node(dst) || sender_mac.is_some()))
    {
        return Err(DropReason::NdMalformed);
    }
    let reply_mac = match (src.is_unspecified(), sender_mac) {
        (true, _) => multicast_mac(ALL_NODES),
        (false, Some(mac)) => mac,
        (false, None) => get_mac(frame, eth::SOURCE.start),
    };
    Ok(Solicitation {
        src,
        target: m.nd_target(),
        sender_mac,
        reply_mac,
    })
}

/// The frame length our advertisement answering a packet at `l3` takes.
pub fn advertisement_len(l3: usize) -> usize {
    l3 + IPV6_HEADER_LEN + ADVERTISEMENT_LEN
}

/// Writes our advertisement for `s` into `frame` (the solicitation's,
/// [`advertisement_len`] long; its Ethernet and VLAN headers are kept but
/// the addresses): from the target, to the sender (to all-nodes for DAD,
/// then unsolicited), override set, our MAC as the target's link-layer
/// address. `false` if the frame has another length.
pub fn write_advertisement(
    frame: &mut [u8],
    l3: usize,
    our_mac: MacAddr,
    s: &Solicitation,
) -> bool {
    if frame.len() != advertisement_len(l3) {
        return false;
    }
    let dst = match s.is_dad() {
        true => ALL_NODES,
        false => s.src,
    };
    let header = Ipv6Header {
        src: s.target,
        dst,
        next_header: NextHeader::ICMPV6,
        hop_limit: ND_HOP_LIMIT,
        payload_len: ADVERTISEMENT_LEN as u16,
    };
    let (l2, l3_bytes) = frame.split_at_mut(l3);
    put_bytes(l2, eth::DESTINATION.start, &s.reply_mac.0);
    put_bytes(l2, eth::SOURCE.start, &our_mac.0);
    let (ip, msg) = l3_bytes.split_at_mut(IPV6_HEADER_LEN);
    ipv6::write_header(ip, &header);
    let Ok(mut m) = Icmpv6Packet::new(&mut msg[..]) else {
        return false;
    };
    m.set_msg_type(Icmpv6Type::NEIGHBOR_ADVERTISEMENT);
    m.set_code(0);
    m.clear_nd_reserved();
    let solicited = match s.is_dad() {
        true => 0,
        false => NaFlags::SOLICITED,
    };
    m.set_na_flags(solicited | NaFlags::OVERRIDE);
    m.set_nd_target(s.target);
    m.set_nd_link_layer(NdOption::TARGET_LINK_LAYER, our_mac);
    m.fill_checksum(header.src, header.dst);
    true
}

/// The length of the frames [`write_solicitation`] and
/// [`write_unsolicited_advertisement`] build untagged: Ethernet, the fixed
/// IPv6 header, the message and one link-layer address option.
pub const OUR_ND_FRAME_LEN: usize = ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + ADVERTISEMENT_LEN;

/// The length of our own ND frame on an interface tagged `vlan` (or not).
pub fn our_nd_frame_len(vlan: Option<u16>) -> usize {
    OUR_ND_FRAME_LEN + if vlan.is_some() { VLAN_TAG_LEN } else { 0 }
}

/// Builds, in `frame` ([`our_nd_frame_len`] long), the Neighbor
/// Solicitation resolving `target` (RFC 4861 7.2.2): from `src` (an address
/// we own on that link) to `target`'s solicited-node group, with our MAC as
/// source link-layer address so the answer can come straight back; tagged
/// `vlan` if the interface is. `false` if the frame has another length.
pub fn write_solicitation(
    frame: &mut [u8],
    vlan: Option<u16>,
    our_mac: MacAddr,
    src: Ipv6Addr,
    target: Ipv6Addr,
) -> bool {
    let dst = solicited_node(target);
    let kind = (
        Icmpv6Type::NEIGHBOR_SOLICITATION,
        NdOption::SOURCE_LINK_LAYER,
        0,
    );
    write_own_nd(frame, (vlan, our_mac), (src, dst), target, kind)
}

/// Builds, in `frame` ([`our_nd_frame_len`] long), the unsolicited Neighbor
/// Advertisement of our address `addr` (RFC 4861 7.2.6, the IPv6 twin of
/// gratuitous ARP): to all-nodes, override set, solicited clear, our MAC
/// as target link-layer address; tagged `vlan` if the interface is.
/// `false` if the frame has another length.
pub fn write_unsolicited_advertisement(
    frame: &mut [u8],
    vlan: Option<u16>,
    our_mac: MacAddr,
    addr: Ipv6Addr,
) -> bool {
    let kind = (
        Icmpv6Type::NEIGHBOR_ADVERTISEMENT,
        NdOption::TARGET_LINK_LAYER,
        NaFlags::OVERRIDE,
    );
    write_own_nd(frame, (vlan, our_mac), (addr, ALL_NODES), addr, kind)
}

/// One Neighbour Discovery message of ours, built from nothing.
fn write_own_nd(
    frame: &mut [u8],
    (vlan, our_mac): (Option<u16>, MacAddr),
    (src, dst): (Ipv6Addr, Ipv6Addr),
    target: Ipv6Addr,
    (msg_type, option, flags): (u8, u8, u8),
) -> bool {
    if frame.len() != our_nd_frame_len(vlan) {
        return false;
    }
    let header = Ipv6Header {
        src,
        dst,
        next_header: NextHeader::ICMPV6,
        hop_limit: ND_HOP_LIMIT,
        payload_len: ADVERTISEMENT_LEN as u16,
    };
    let l3 = frame.len() - IPV6_HEADER_LEN - ADVERTISEMENT_LEN;
    let (l2, l3_bytes) = frame.split_at_mut(l3);
    if !ethernet::write_header(l2, (multicast_mac(dst), our_mac), vlan, EtherType::IPV6) {
        return false;
    }
    let (ip, msg) = l3_bytes.split_at_mut(IPV6_HEADER_LEN);
    ipv6::write_header(ip, &header);
    let Ok(mut m) = Icmpv6Packet::new(&mut msg[..]) else {
        return false;
    };
    m.set_msg_type(msg_type);
    m.set_code(0);
    m.clear_nd_reserved();
    m.set_na_flags(flags);
    m.set_nd_target(target);
    m.set_nd_link_layer(option, our_mac);
    m.fill_checksum(header.src, header.dst);
    true
}

/// The frame length our reply to echo `e` at `l3` takes: its message
/// right after the fixed header (extension headers are not echoed).
pub fn echo_reply_len(l3: usize, e: &Echo) -> usize {
    l3 + IPV6_HEADER_LEN + e.icmp_len
}

/// Turns the echo request in `frame` into our reply: the message moved
/// after the fixed header if extension headers were before it, addresses
/// and MACs swapped, type 129, a new checksum. `frame` must be at least as
/// long as the request's frame was when [`inspect`]ed, and is then cut to
/// [`echo_reply_len`] by the caller. `false` if it is too short.
pub fn write_echo_reply(frame: &mut [u8], l3: usize, our_mac: MacAddr, e: &Echo) -> bool {
    let at = l3 + IPV6_HEADER_LEN;
    if frame.len() < e.icmp_offset + e.icmp_len || e.icmp_offset < at {
        return false;
    }
    frame.copy_within(e.icmp_offset..e.icmp_offset + e.icmp_len, at);
    let client_mac = get_mac(frame, eth::SOURCE.start);
    put_bytes(frame, eth::DESTINATION.start, &client_mac.0);
    put_bytes(frame, eth::SOURCE.start, &our_mac.0);
    let header = Ipv6Header {
        src: e.dst,
        dst: e.src,
        next_header: NextHeader::ICMPV6,
        hop_limit: ECHO_HOP_LIMIT,
        payload_len: e.icmp_len as u16,
    };
    let Some(ip) = frame.get_mut(l3..at) else {
        return false;
    };
    ipv6::write_header(ip, &header);
    let Some(msg) = frame.get_mut(at..at + e.icmp_len) else {
        return false;
    };
    let Ok(mut m) = Icmpv6Packet::new(msg) else {
        return false;
    };
    m.set_msg_type(Icmpv6Type::ECHO_REPLY);
    m.fill_checksum(header.src, header.dst);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn solicited_node_groups_and_their_macs() {
        assert_eq!(solicited_node(a("2001:db8::1:2:3")), a("ff02::1:ff02:3"));
        assert_eq!(solicited_node(a("fe80::aa")), a("ff02::1:ff00:aa"));
        assert!(is_solicited_node(a("ff02::1:ffab:cdef")));
        assert!(!is_solicited_node(a("ff02::1")));
        assert!(!is_solicited_node(a("ff02::2:ff00:1")));
        assert_eq!(
            multicast_mac(a("ff02::1:ff00:1")),
            MacAddr([0x33, 0x33, 0xff, 0, 0, 1])
        );
        assert_eq!(multicast_mac(ALL_NODES), MacAddr([0x33, 0x33, 0, 0, 0, 1]));
    }

    #[test]
    fn inspect_never_reads_past_short_or_odd_frames() {
        let owned = Addr6Set::new([a("2001:db8::1")]);
        for len in 0..120 {
            let mut f = vec![0u8; len];
            if len > 14 {
                f[14] = 0x60;
            }
            let _ = inspect(&f, 14, &owned);
            let _ = inspect(&f, 200, &owned);
        }
    }

    #[test]
    fn our_solicitation_is_one_the_target_would_answer() {
        let mac = MacAddr([2, 0, 0, 0, 0, 7]);
        let (src, target) = (a("2001:db8::1"), a("2001:db8::2:42"));
        let mut f = vec![0u8; OUR_ND_FRAME_LEN];
        assert!(write_solicitation(&mut f, None, mac, src, target));
        assert_eq!(&f[..6], &multicast_mac(solicited_node(target)).0);
        let seen = inspect(&f, ETHERNET_HEADER_LEN, &Addr6Set::new([target]));
        let Ok(Ipv6Local::Solicitation(s)) = seen else {
            panic!("not a solicitation: {seen:?}");
        };
        assert_eq!((s.src, s.target, s.sender_mac), (src, target, Some(mac)));
        assert!(!write_solicitation(&mut f[1..], None, mac, src, target));
    }

    #[test]
    fn our_unsolicited_advertisement_overrides_and_goes_to_all_nodes() {
        let mac = MacAddr([2, 0, 0, 0, 0, 7]);
        let ours = a("2001:db8::1");
        let mut f = vec![0u8; OUR_ND_FRAME_LEN];
        assert!(write_unsolicited_advertisement(&mut f, None, mac, ours));
        assert_eq!(&f[..6], &multicast_mac(ALL_NODES).0);
        let seen = inspect(&f, ETHERNET_HEADER_LEN, &Addr6Set::new([a("2001:db8::9")]));
        let Ok(Ipv6Local::Advertisement(n)) = seen else {
            panic!("not an advertisement: {seen:?}");
        };
        assert_eq!((n.target, n.target_mac), (ours, Some(mac)));
        assert!(n.overrides && !n.solicited && !n.to_us);
    }

    #[test]
    fn our_messages_on_a_tagged_interface_carry_the_tag() {
        let mac = MacAddr([2, 0, 0, 0, 0, 7]);
        let (src, target) = (a("fe80::1"), a("fe80::2"));
        let mut f = vec![0u8; our_nd_frame_len(Some(7))];
        assert!(write_solicitation(&mut f, Some(7), mac, src, target));
        assert_eq!(&f[12..18], &[0x81, 0x00, 0x00, 0x07, 0x86, 0xdd]);
        let seen = inspect(
            &f,
            ETHERNET_HEADER_LEN + VLAN_TAG_LEN,
            &Addr6Set::new([target]),
        );
        assert!(matches!(seen, Ok(Ipv6Local::Solicitation(s)) if s.src == src));
        assert!(write_unsolicited_advertisement(&mut f, Some(7), mac, src));
        let seen = inspect(
            &f,
            ETHERNET_HEADER_LEN + VLAN_TAG_LEN,
            &Addr6Set::new([target]),
        );
        assert!(matches!(seen, Ok(Ipv6Local::Advertisement(n)) if n.target == src));
        assert!(
            !write_solicitation(&mut f, None, mac, src, target),
            "tag room"
        );
    }
}
