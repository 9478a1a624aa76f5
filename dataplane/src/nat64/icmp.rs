//! ICMP errors about translated packets, translated with them (RFC 7915
//! 4.2, 4.3, 5.2, 5.3): a backend's (or a router's) ICMP error about a packet
//! we sent as IPv4 goes to the client as the ICMPv6 error about the packet
//! it sent, and a client's ICMPv6 error about a packet we sent as IPv6 goes
//! to the backend as the ICMP error about the packet it sent.
//!
//! The message is rebuilt whole (both IP headers change length) in a
//! 1280-byte scratch array, then copied over the old one: errors are rare
//! and small, and IPv6 wants an error no longer than its minimum MTU
//! (RFC 4443 2.4), so a longer quote is cut there.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::header::{flags_for, l4_checksum_at, swap_words, To4, To6};
use super::resize::resize_l3_packet;
use super::Untranslatable;
use crate::buf::PacketBuf;
use crate::checksum::{add_bytes, checksum, fold, ipv6_pseudo_header_sum, Delta};
use crate::packet::{Ipv4Meta, L4Kind};
use crate::tuple::IpProto;
use crate::wire::icmp::{self, IcmpType};
use crate::wire::icmpv6::{self, Icmpv6Type};
use crate::wire::ipv4::{self, header_len_of, write_ipv4_header, Ipv4Header, IPV4_MIN_HEADER_LEN};
use crate::wire::ipv6::{self, Ipv6Header, NextHeader, IPV6_HEADER_LEN};
use crate::wire::{get_be16, get_u8, put_be16, put_be32, put_u8, EtherType, IcmpPacket};
use crate::wire::{Icmpv6Packet, Ipv6Packet};

/// IPv6's minimum link MTU (RFC 8200 5): the longest error we send.
const IPV6_MIN_MTU: usize = 1280;
/// The ICMP and ICMPv6 header: type, code, checksum, four bytes more.
const ICMP_HEADER_LEN: usize = 8;
/// How much a packet grows from IPv4 to IPv6 (fixed headers).
const GROWTH: u32 = (IPV6_HEADER_LEN - IPV4_MIN_HEADER_LEN) as u32;
/// RFC 1191's plateau table: likely path MTUs, for a router that sends
/// "fragmentation needed" with no MTU.
const PLATEAUS: [u16; 11] = [
    65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68,
];

/// An ICMP or ICMPv6 message's type, code and the four bytes after the
/// checksum (an MTU, a pointer, or unused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpMessage {
    pub msg_type: u8,
    pub code: u8,
    pub rest: u32,
}

impl IcmpMessage {
    fn new(msg_type: u8, code: u8, rest: u32) -> Result<IcmpMessage, Untranslatable> {
        Ok(IcmpMessage {
            msg_type,
            code,
            rest,
        })
    }
}

/// RFC 7915 4.2: the ICMPv6 error for an ICMP error. `quoted_total_len` is
/// the quoted packet's total length, which picks the plateau when a router
/// sent "fragmentation needed" with an MTU of 0. The Packet Too Big MTU is
/// the advertised one plus 20; the caller takes the lesser of it and its
/// own link's. Types and codes with no counterpart are refused.
pub fn map_error_to_ipv6(
    m: IcmpMessage,
    quoted_total_len: u16,
) -> Result<IcmpMessage, Untranslatable> {
    const UNREACHABLE: u8 = Icmpv6Type::DEST_UNREACHABLE;
    const NO_ROUTE: u8 = 0;
    const PROHIBITED: u8 = 1;
    match (m.msg_type, m.code) {
        (IcmpType::DEST_UNREACHABLE, 0 | 1 | 5..=8 | 11 | 12) => {
            IcmpMessage::new(UNREACHABLE, NO_ROUTE, 0)
        }
        (IcmpType::DEST_UNREACHABLE, 9 | 10 | 13 | 15) => {
            IcmpMessage::new(UNREACHABLE, PROHIBITED, 0)
        }
        // Protocol unreachable: "unrecognized next header", pointing at it.
        (IcmpType::DEST_UNREACHABLE, 2) => IcmpMessage::new(
            Icmpv6Type::PARAMETER_PROBLEM,
            1,
            ipv6::field::NEXT_HEADER as u32,
        ),
        (IcmpType::DEST_UNREACHABLE, 3) => IcmpMessage::new(UNREACHABLE, 4, 0),
        (IcmpType::DEST_UNREACHABLE, icmp::CODE_FRAGMENTATION_NEEDED) => {
            let mtu = packet_too_big_mtu(m.rest & 0xffff, quoted_total_len);
            IcmpMessage::new(Icmpv6Type::PACKET_TOO_BIG, 0, mtu)
        }
        (IcmpType::TIME_EXCEEDED, code @ (0 | 1)) => {
            IcmpMessage::new(Icmpv6Type::TIME_EXCEEDED, code, 0)
        }
        (IcmpType::PARAMETER_PROBLEM, 0 | 2) => {
            let pointer = pointer_to_ipv6((m.rest >> 24) as u8).ok_or(Untranslatable::IcmpType)?;
            IcmpMessage::new(Icmpv6Type::PARAMETER_PROBLEM, 0, u32::from(pointer))
        }
        _ => Err(Untranslatable::IcmpType),
    }
}

/// RFC 7915 5.2: the ICMP error for an ICMPv6 error. The "fragmentation
/// needed" MTU is the advertised one less 20 (the caller takes the lesser
/// of it and its own link's).
pub fn map_error_to_ipv4(m: IcmpMessage) -> Result<IcmpMessage, Untranslatable> {
    const UNREACHABLE: u8 = IcmpType::DEST_UNREACHABLE;
    const HOST_UNREACHABLE: u8 = 1;
    match (m.msg_type, m.code) {
        (Icmpv6Type::DEST_UNREACHABLE, 0 | 2 | 3) => {
            IcmpMessage::new(UNREACHABLE, HOST_UNREACHABLE, 0)
        }
        (Icmpv6Type::DEST_UNREACHABLE, 1) => IcmpMessage::new(UNREACHABLE, 10, 0),
        (Icmpv6Type::DEST_UNREACHABLE, 4) => IcmpMessage::new(UNREACHABLE, 3, 0),
        (Icmpv6Type::PACKET_TOO_BIG, 0) => {
            let mtu = m.rest.saturating_sub(GROWTH).min(u32::from(u16::MAX));
            IcmpMessage::new(UNREACHABLE, icmp::CODE_FRAGMENTATION_NEEDED, mtu)
        }
        (Icmpv6Type::TIME_EXCEEDED, code @ (0 | 1)) => {
            IcmpMessage::new(IcmpType::TIME_EXCEEDED, code, 0)
        }
        (Icmpv6Type::PARAMETER_PROBLEM, 0) => {
            let pointer = pointer_to_ipv4(m.rest).ok_or(Untranslatable::IcmpType)?;
            IcmpMessage::new(IcmpType::PARAMETER_PROBLEM, 0, u32::from(pointer) << 24)
        }
        // Unrecognized next header: the IPv4 "protocol unreachable".
        (Icmpv6Type::PARAMETER_PROBLEM, 1) => IcmpMessage::new(UNREACHABLE, 2, 0),
        _ => Err(Untranslatable::IcmpType),
    }
}

/// The Packet Too Big MTU for an advertised IPv4 next-hop MTU (RFC 1191),
/// or, for 0, the largest plateau below the quoted packet's length and not
/// below IPv6's minimum (RFC 7915 4.2).
fn packet_too_big_mtu(advertised: u32, quoted_total_len: u16) -> u32 {
    if advertised != 0 {
        return advertised + GROWTH;
    }
    let plateau = PLATEAUS
        .into_iter()
        .find(|&p| p < quoted_total_len && usize::from(p) >= IPV6_MIN_MTU);
    u32::from(plateau.unwrap_or(IPV6_MIN_MTU as u16))
}

/// RFC 7915 figure 3: a Parameter Problem pointer into an IPv4 header as
/// the pointer to the same field of the IPv6 header (`None`: no such field).
fn pointer_to_ipv6(p: u8) -> Option<u8> {
    match p {
        0 => Some(0),        // version and IHL
        1 => Some(1),        // TOS: traffic class
        2 | 3 => Some(4),    // total length: payload length
        8 => Some(7),        // TTL: hop limit
        9 => Some(6),        // protocol: next header
        12..=15 => Some(8),  // source address
        16..=19 => Some(24), // destination address
        _ => None,           // identification, flags, checksum
    }
}

/// RFC 7915 figure 6: the reverse of [`pointer_to_ipv6`].
fn pointer_to_ipv4(p: u32) -> Option<u8> {
    match p {
        0 => Some(0),
        1 => Some(1),
        4 | 5 => Some(2),
        6 => Some(9),
        7 => Some(8),
        8..=23 => Some(12),
        24..=39 => Some(16),
        _ => None, // the flow label
    }
}

/// The outer header of an ICMPv6 error made from an ICMP one, the narrowest
/// MTU towards its destination, and what the quoted packet becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorTo6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub mtu: u16,
    pub quoted: To6,
}

/// The outer header of an ICMP error made from an ICMPv6 one (with the
/// identification to give it), the narrowest MTU towards its destination,
/// and what the quoted packet becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorTo4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub mtu: u16,
    pub ident: u16,
    pub quoted: To4,
}

/// The quoted packet's L4 bytes given the new ports, with its checksum
/// updated for the new pseudo-header when the quote holds it (UDP's: 8
/// bytes; TCP's: 18), as for an IPv4 quote. `old`/`new` are the source and
/// destination addresses' bytes.
fn translate_quoted_l4(
    l4: &mut [u8],
    proto: IpProto,
    (old_src, old_dst): (&[u8], &[u8]),
    (new_src, new_dst): (&[u8], &[u8]),
    (src_port, dst_port): (u16, u16),
) -> Result<(), Untranslatable> {
    let check_at = l4_checksum_at(proto)?;
    let mut delta = Delta::default();
    swap_words(&mut delta, old_src, new_src);
    swap_words(&mut delta, old_dst, new_dst);
    delta.word(get_be16(l4, 0), src_port);
    delta.word(get_be16(l4, 2), dst_port);
    put_be16(l4, 0, src_port);
    put_be16(l4, 2, dst_port);
    if l4.len() >= check_at + 2 {
        let check = get_be16(l4, check_at);
        let check = match proto {
            IpProto::UDP => delta.apply_udp(check),
            _ => delta.apply(check),
        };
        put_be16(l4, check_at, check);
    }
    Ok(())
}

/// The length of a translated error's message: the ICMP header, the quoted
/// IP header of `ip_len` bytes, and as much of the `l4_len` quoted L4 bytes
/// as keeps the whole packet within 1280 bytes.
fn message_len(ip_len: usize, l4_len: usize) -> usize {
    ICMP_HEADER_LEN + ip_len + l4_len.min(IPV6_MIN_MTU - 2 * ip_len - ICMP_HEADER_LEN)
}

/// Splits the scratch packet `out` into its outer IP header of `ip_len`
/// bytes and its `msg_len`-byte message, whose header is written from `msg`
/// (ICMP and ICMPv6 lay out type, code and the four bytes alike).
fn lay_out(
    out: &mut [u8; IPV6_MIN_MTU],
    ip_len: usize,
    msg_len: usize,
    msg: IcmpMessage,
) -> (&mut [u8], &mut [u8]) {
    let (outer, message) = out.split_at_mut(ip_len);
    let message = &mut message[..msg_len];
    put_u8(message, icmp::field::TYPE, msg.msg_type);
    put_u8(message, icmp::field::CODE, msg.code);
    put_be32(message, icmp::field::REST_OF_HEADER.start, msg.rest);
    (outer, message)
}

/// Translates the ICMP error `meta` describes (an `L4Kind::IcmpError`,
/// quoting a TCP or UDP packet) into the ICMPv6 error `to` says, in place.
/// The outer hop limit is the TTL less one; the quoted header keeps its
/// TTL as its hop limit. Nothing is written when `Err`.
pub fn error_to_ipv6<B: PacketBuf + ?Sized>(
    buf: &mut B,
    meta: &Ipv4Meta,
    to: &ErrorTo6,
) -> Result<(), Untranslatable> {
    let L4Kind::IcmpError { quote_offset } = meta.kind else {
        return Err(Untranslatable::IcmpType);
    };
    if meta.ttl <= 1 {
        return Err(Untranslatable::HopLimit);
    }
    let (l3, ip_end) = (meta.l3_offset, meta.ip_end());
    let frame = buf.data();
    let message = frame
        .get(meta.l4_offset..ip_end)
        .ok_or(Untranslatable::Truncated)?;
    let icmp = IcmpPacket::new(message).map_err(|_| Untranslatable::Truncated)?;
    if !icmp.checksum_ok() {
        return Err(Untranslatable::BadChecksum);
    }
    let quote = frame
        .get(usize::from(quote_offset)..ip_end)
        .ok_or(Untranslatable::Truncated)?;
    let inner = QuotedIpv4::read(quote)?;
    let asked = IcmpMessage {
        msg_type: icmp.msg_type(),
        code: icmp.code(),
        rest: icmp.rest_of_header(),
    };
    let mut msg = map_error_to_ipv6(asked, inner.total_len)?;
    if msg.msg_type == Icmpv6Type::PACKET_TOO_BIG {
        msg.rest = msg.rest.min(u32::from(to.mtu));
    }

    let mut out = [0u8; IPV6_MIN_MTU];
    let msg_len = message_len(IPV6_HEADER_LEN, inner.l4.len());
    let (outer, message) = lay_out(&mut out, IPV6_HEADER_LEN, msg_len, msg);
    inner.write_as_ipv6(&mut message[ICMP_HEADER_LEN..], &to.quoted)?;
    let pseudo = ipv6_pseudo_header_sum(to.src, to.dst, NextHeader::ICMPV6, msg_len as u32);
    let sum = !fold(add_bytes(pseudo, message));
    put_be16(message, icmpv6::field::CHECKSUM.start, sum);

    let outer_header = Ipv6Header {
        src: to.src,
        dst: to.dst,
        next_header: NextHeader::ICMPV6,
        hop_limit: meta.ttl - 1,
        payload_len: msg_len as u16,
    };
    ipv6::write_header(outer, &outer_header);
    ipv6::set_traffic_class(outer, get_u8(frame, l3 + ipv4::field::DSCP_ECN));

    let len = IPV6_HEADER_LEN + msg_len;
    resize_l3_packet(buf, l3, ip_end, len, EtherType::IPV6)?;
    let dst = buf
        .data_mut()
        .get_mut(l3..l3 + len)
        .ok_or(Untranslatable::Truncated)?;
    dst.copy_from_slice(&out[..len]);
    Ok(())
}

/// Translates the ICMPv6 error in the IPv6 packet at `l3` (quoting a TCP
/// or UDP packet with no extension headers, as we send them) into the ICMP
/// error `to` says, in place. The outer TTL is the hop limit less one; the
/// quoted header keeps its hop limit as its TTL. Nothing is written when
/// `Err`.
pub fn error_to_ipv4<B: PacketBuf + ?Sized>(
    buf: &mut B,
    l3: usize,
    to: &ErrorTo4,
) -> Result<(), Untranslatable> {
    let frame = buf.data();
    let ip =
        Ipv6Packet::new(frame.get(l3..).unwrap_or(&[])).map_err(|_| Untranslatable::Truncated)?;
    let chain = ip.walk().map_err(|_| Untranslatable::Protocol)?;
    if chain.fragment.is_some() {
        return Err(Untranslatable::Fragment);
    }
    if chain.proto != NextHeader::ICMPV6 {
        return Err(Untranslatable::Protocol);
    }
    if ip.hop_limit() <= 1 {
        return Err(Untranslatable::HopLimit);
    }
    let ip_end = l3 + IPV6_HEADER_LEN + usize::from(ip.payload_len());
    let message = frame
        .get(l3 + chain.l4_offset..ip_end)
        .ok_or(Untranslatable::Truncated)?;
    let icmp = Icmpv6Packet::new(message).map_err(|_| Untranslatable::Truncated)?;
    if !icmp.checksum_ok(ip.src(), ip.dst()) {
        return Err(Untranslatable::BadChecksum);
    }
    let inner = QuotedIpv6::read(icmp.body())?;
    let asked = IcmpMessage {
        msg_type: icmp.msg_type(),
        code: icmp.code(),
        rest: icmp.mtu(),
    };
    let mut msg = map_error_to_ipv4(asked)?;
    if (msg.msg_type, msg.code) == (IcmpType::DEST_UNREACHABLE, icmp::CODE_FRAGMENTATION_NEEDED) {
        msg.rest = msg.rest.min(u32::from(to.mtu));
    }

    let mut out = [0u8; IPV6_MIN_MTU];
    let msg_len = message_len(IPV4_MIN_HEADER_LEN, inner.l4.len());
    let (outer, message) = lay_out(&mut out, IPV4_MIN_HEADER_LEN, msg_len, msg);
    inner.write_as_ipv4(&mut message[ICMP_HEADER_LEN..], &to.quoted)?;
    put_be16(message, icmp::field::CHECKSUM.start, checksum(message));

    let total = IPV4_MIN_HEADER_LEN + msg_len;
    let outer_header = Ipv4Header {
        tos: ipv6::traffic_class(frame.get(l3..).unwrap_or(&[])),
        total_len: total as u16,
        ident: to.ident,
        flags_fragment: flags_for(total),
        ttl: ip.hop_limit() - 1,
        proto: IpProto::ICMP,
        src: to.src,
        dst: to.dst,
    };
    write_ipv4_header(outer, &outer_header).ok_or(Untranslatable::Truncated)?;

    resize_l3_packet(buf, l3, ip_end, total, EtherType::IPV4)?;
    let dst = buf
        .data_mut()
        .get_mut(l3..l3 + total)
        .ok_or(Untranslatable::Truncated)?;
    dst.copy_from_slice(&out[..total]);
    Ok(())
}

/// What an ICMP error quotes: an IPv4 header (options skipped) and at least
/// the 8 bytes of TCP or UDP header RFC 792 promises.
struct QuotedIpv4<'a> {
    header_len: usize,
    total_len: u16,
    tos: u8,
    ttl: u8,
    proto: IpProto,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    l4: &'a [u8],
}

impl<'a> QuotedIpv4<'a> {
    fn read(quote: &'a [u8]) -> Result<Self, Untranslatable> {
        let ver_ihl = get_u8(quote, ipv4::field::VER_IHL);
        let header_len = header_len_of(ver_ihl);
        if ver_ihl >> 4 != 4 || header_len < IPV4_MIN_HEADER_LEN {
            return Err(Untranslatable::Protocol);
        }
        let l4 = quote
            .get(header_len..)
            .filter(|l4| l4.len() >= ICMP_HEADER_LEN)
            .ok_or(Untranslatable::Truncated)?;
        if get_be16(quote, ipv4::field::FLG_OFF.start) & ipv4::FRAGMENT_OFFSET_MASK != 0 {
            return Err(Untranslatable::Fragment);
        }
        let proto = IpProto(get_u8(quote, ipv4::field::PROTOCOL));
        l4_checksum_at(proto)?;
        Ok(QuotedIpv4 {
            header_len,
            total_len: get_be16(quote, ipv4::field::LENGTH.start),
            tos: get_u8(quote, ipv4::field::DSCP_ECN),
            ttl: get_u8(quote, ipv4::field::TTL),
            proto,
            src: crate::wire::get_ipv4(quote, ipv4::field::SRC_ADDR.start),
            dst: crate::wire::get_ipv4(quote, ipv4::field::DST_ADDR.start),
            l4,
        })
    }
}

impl QuotedIpv4<'_> {
    /// Writes the quote as the IPv6 packet it stands for, into `out` (the
    /// IPv6 header and as much of the L4 bytes as `out` holds).
    fn write_as_ipv6(&self, out: &mut [u8], q: &To6) -> Result<(), Untranslatable> {
        let (ip, l4) = out.split_at_mut(IPV6_HEADER_LEN);
        let header = Ipv6Header {
            src: *q.src.ip(),
            dst: *q.dst.ip(),
            next_header: self.proto.0,
            hop_limit: self.ttl,
            payload_len: self.total_len.saturating_sub(self.header_len as u16),
        };
        ipv6::write_header(ip, &header);
        ipv6::set_traffic_class(ip, self.tos);
        l4.copy_from_slice(self.l4.get(..l4.len()).ok_or(Untranslatable::Truncated)?);
        translate_quoted_l4(
            l4,
            self.proto,
            (&self.src.octets(), &self.dst.octets()),
            (&q.src.ip().octets(), &q.dst.ip().octets()),
            (q.src.port(), q.dst.port()),
        )
    }
}

/// What an ICMPv6 error about a packet we translated quotes: an IPv6 header
/// with TCP or UDP right behind it (we send no extension headers), and at
/// least 8 bytes of that header.
struct QuotedIpv6<'a> {
    payload_len: u16,
    traffic_class: u8,
    hop_limit: u8,
    proto: IpProto,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    l4: &'a [u8],
}

impl<'a> QuotedIpv6<'a> {
    fn read(quote: &'a [u8]) -> Result<Self, Untranslatable> {
        let l4 = quote
            .get(IPV6_HEADER_LEN..)
            .filter(|l4| l4.len() >= ICMP_HEADER_LEN)
            .ok_or(Untranslatable::Truncated)?;
        if get_u8(quote, 0) >> 4 != 6 {
            return Err(Untranslatable::Protocol);
        }
        let proto = IpProto(get_u8(quote, ipv6::field::NEXT_HEADER));
        l4_checksum_at(proto)?;
        let addr = |f: crate::wire::Field| {
            let mut a = [0u8; 16];
            a.copy_from_slice(&quote[f]);
            Ipv6Addr::from(a)
        };
        Ok(QuotedIpv6 {
            payload_len: get_be16(quote, ipv6::field::PAYLOAD_LEN.start),
            traffic_class: ipv6::traffic_class(quote),
            hop_limit: get_u8(quote, ipv6::field::HOP_LIMIT),
            proto,
            src: addr(ipv6::field::SRC_ADDR),
            dst: addr(ipv6::field::DST_ADDR),
            l4,
        })
    }
}

impl QuotedIpv6<'_> {
    /// Writes the quote as the IPv4 packet it stands for, into `out` (the
    /// IPv4 header, its checksum, and as much of the L4 bytes as `out`
    /// holds).
    fn write_as_ipv4(&self, out: &mut [u8], q: &To4) -> Result<(), Untranslatable> {
        let (ip, l4) = out.split_at_mut(IPV4_MIN_HEADER_LEN);
        let total = usize::from(self.payload_len) + IPV4_MIN_HEADER_LEN;
        let header = Ipv4Header {
            tos: self.traffic_class,
            total_len: u16::try_from(total).unwrap_or(u16::MAX),
            ident: q.ident,
            flags_fragment: flags_for(total),
            ttl: self.hop_limit,
            proto: self.proto,
            src: *q.src.ip(),
            dst: *q.dst.ip(),
        };
        write_ipv4_header(ip, &header).ok_or(Untranslatable::Truncated)?;
        l4.copy_from_slice(self.l4.get(..l4.len()).ok_or(Untranslatable::Truncated)?);
        translate_quoted_l4(
            l4,
            self.proto,
            (&self.src.octets(), &self.dst.octets()),
            (&q.src.ip().octets(), &q.dst.ip().octets()),
            (q.src.port(), q.dst.port()),
        )
    }
}
