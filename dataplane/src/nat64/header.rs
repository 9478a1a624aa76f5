//! TCP and UDP packets translated between IPv6 and IPv4 (RFC 7915 sections
//! 4.1 and 5.1), in place.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use super::resize::replace_l3_header;
use super::Untranslatable;
use crate::buf::PacketBuf;
use crate::checksum::{add_bytes, fold, ipv6_pseudo_header_sum, Delta};
use crate::packet::{Ipv4Meta, L4Kind};
use crate::packet6::Ipv6Meta;
use crate::tuple::IpProto;
use crate::wire::ipv4::{
    self, write_ipv4_header, Ipv4Header, DONT_FRAGMENT, IPV4_MIN_HEADER_LEN, MORE_FRAGMENTS,
};
use crate::wire::ipv6::{
    self, Ipv6Fragment, Ipv6Header, NextHeader, FRAGMENT_HEADER_LEN, IPV6_HEADER_LEN,
};
use crate::wire::{get_be16, get_u8, put_be16, tcp, udp, EtherType, Ipv6Packet};

/// RFC 7915 5.1: a translated IPv4 packet of at most this many bytes goes
/// without DF (an IPv4 link narrower than 1280 may fragment it, as IPv6's
/// minimum MTU promised the sender); a longer one with DF, so that the
/// sender hears "packet too big" instead.
pub(super) const DF_ABOVE: usize = 1260;

/// The IPv4 side of a translated packet: its addresses and ports, and the
/// identification to give it (RFC 7915 5.1 takes it from the translator's
/// generator: it matters for a packet sent without DF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct To4 {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub ident: u16,
}

/// The IPv6 side of a translated packet: its addresses and ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct To6 {
    pub src: SocketAddrV6,
    pub dst: SocketAddrV6,
}

/// Where the TCP or UDP checksum lies from the L4 header's start.
pub(super) fn l4_checksum_at(proto: IpProto) -> Result<usize, Untranslatable> {
    match proto {
        IpProto::TCP => Ok(tcp::field::CHECKSUM.start),
        IpProto::UDP => Ok(udp::field::CHECKSUM.start),
        _ => Err(Untranslatable::Protocol),
    }
}

/// Records `old`'s 16-bit words leaving a checksum and `new`'s entering it
/// (a pseudo-header's addresses: IPv6's 16 bytes each for IPv4's 4). In
/// one's-complement arithmetic adding `~w` takes `w` away, and `!0` is 0.
pub(super) fn swap_words(delta: &mut Delta, old: &[u8], new: &[u8]) {
    for w in old.chunks_exact(2) {
        delta.word(u16::from_be_bytes([w[0], w[1]]), 0);
    }
    for w in new.chunks_exact(2) {
        delta.word(0, u16::from_be_bytes([w[0], w[1]]));
    }
}

/// An IPv4 address leaving a checksum in favour of an IPv6 one, as the
/// 128-bit field [`Delta::words128`] takes: its six upper words all ones,
/// whose complements add nothing, so the sum is [`swap_words`]'s over its
/// four bytes, exactly, taken four words at a time.
#[inline]
pub(super) fn v4_leaving(a: Ipv4Addr) -> u128 {
    (u128::MAX << 32) | u128::from(u32::from(a))
}

/// An IPv4 address entering a checksum in place of an IPv6 one, as
/// [`Delta::words128`] takes it: its six upper words 0, which add nothing.
#[inline]
pub(super) fn v4_entering(a: Ipv4Addr) -> u128 {
    u128::from(u32::from(a))
}

/// The DF and fragment word of a translated IPv4 packet `total` bytes long.
pub(super) fn flags_for(total: usize) -> u16 {
    if total > DF_ABOVE {
        DONT_FRAGMENT
    } else {
        0
    }
}

/// The fragment header of the IPv6 packet at `l3` of `frame`, if it has
/// one that is not atomic (offset 0 and no more: RFC 7915 5.1.1 translates
/// an atomic fragment as a whole packet).
/// Out of line: whole packets with extension headers are rare, and the
/// walk inlined into `to_ipv4` costs every packet.
#[cold]
#[inline(never)]
pub(super) fn fragment_in(frame: &[u8], l3: usize) -> Option<Ipv6Fragment> {
    let ip = Ipv6Packet::new(frame.get(l3..)?).ok()?;
    ip.walk().ok()?.fragment.filter(|f| !f.atomic())
}

/// Translates the IPv6 TCP or UDP packet `meta` describes (as
/// `packet6::classify_ipv6` read it) into IPv4 with `to`'s addresses and
/// ports. Extension headers are dropped (RFC 7915 5.1: hop-by-hop,
/// destination options and a routing header with no segments left are
/// ignored; the walk refuses one with segments left). The TTL is the hop
/// limit less one; the TOS the traffic class; the flow label is lost.
/// A datagram's first fragment (RFC 7915 5.1.1) loses its fragment header
/// too: its IPv4 identification is the low 16 bits of the IPv6 one
/// (`to.ident` is not used), MF set, DF clear; the L4 checksum, which
/// covers the whole datagram, takes the same update (the pseudo-header's
/// length is the datagram's in both families). A later fragment is
/// refused here (`fragment::later_to_ipv4` takes it).
/// Nothing is written when `Err`.
pub fn to_ipv4<B: PacketBuf + ?Sized>(
    buf: &mut B,
    meta: &Ipv6Meta,
    to: &To4,
) -> Result<(), Untranslatable> {
    let t = &meta.tuple;
    let mut delta = Delta::default();
    delta.words128(u128::from(t.src), v4_entering(*to.src.ip()));
    delta.words128(u128::from(t.dst), v4_entering(*to.dst.ip()));
    delta.word(t.src_port, to.src.port());
    delta.word(t.dst_port, to.dst.port());
    to_ipv4_summed(buf, meta, to, delta)
}

/// [`to_ipv4`] with the L4 checksum's delta given: `delta` records the
/// packet's addresses and ports leaving and `to`'s entering, which for a
/// NAT64 session's packet is its `keys_delta` (the same for every packet
/// of the session, kept with it: `FlowKey::keys_delta`).
#[inline]
pub fn to_ipv4_summed<B: PacketBuf + ?Sized>(
    buf: &mut B,
    meta: &Ipv6Meta,
    to: &To4,
    delta: Delta,
) -> Result<(), Untranslatable> {
    let (l3, l4) = (meta.l3_offset, meta.l4_offset);
    let ip_end = l3 + usize::from(meta.len);
    if meta.hop_limit <= 1 {
        return Err(Untranslatable::HopLimit);
    }
    let check_at = l4 + l4_checksum_at(meta.tuple.proto)?;
    let l4_len = ip_end.checked_sub(l4).ok_or(Untranslatable::Truncated)?;
    let total = IPV4_MIN_HEADER_LEN + l4_len;
    let total_len = u16::try_from(total).map_err(|_| Untranslatable::TooLong)?;
    if buf.len() < ip_end || check_at + 2 > ip_end {
        return Err(Untranslatable::Truncated);
    }
    // One test for a packet without extension headers, the common case.
    let (ident, flags_fragment) = match meta.extensions {
        0 => (to.ident, flags_for(total)),
        _ => match fragment_in(buf.data(), l3) {
            None => (to.ident, flags_for(total)),
            Some(f) if f.offset == 0 => (f.ident as u16, MORE_FRAGMENTS),
            Some(_) => return Err(Untranslatable::Fragment),
        },
    };

    // The L4 header first, while it is where the walk found it.
    let frame = buf.data_mut();
    let traffic_class = ipv6::traffic_class(frame.get(l3..).unwrap_or(&[]));
    let t = &meta.tuple;
    put_be16(frame, l4, to.src.port());
    put_be16(frame, l4 + 2, to.dst.port());
    let check = get_be16(frame, check_at);
    let check = match t.proto {
        IpProto::UDP => delta.apply_udp(check),
        _ => delta.apply(check),
    };
    put_be16(frame, check_at, check);

    let frame = replace_l3_header(
        buf,
        l3,
        ip_end,
        (l4 - l3, IPV4_MIN_HEADER_LEN),
        EtherType::IPV4,
    )?;
    let header = Ipv4Header {
        tos: traffic_class,
        total_len,
        ident,
        flags_fragment,
        ttl: meta.hop_limit - 1,
        proto: t.proto,
        src: *to.src.ip(),
        dst: *to.dst.ip(),
    };
    let out = frame.get_mut(l3..).unwrap_or(&mut []);
    write_ipv4_header(out, &header).ok_or(Untranslatable::Truncated)
}

/// Translates the IPv4 TCP or UDP packet `meta` describes into IPv6 with
/// `to`'s addresses and ports. IPv4 options are dropped; the hop limit is
/// the TTL less one, the traffic class the TOS, the flow label 0. A UDP
/// datagram without a checksum (0, allowed in IPv4) gets one computed over
/// the whole datagram, as IPv6 requires (RFC 7915 4.5). A datagram's first
/// fragment gets a fragment header (RFC 7915 4.1: identification the IPv4
/// one zero-extended, M set) and its checksum the same update; one of UDP
/// without a checksum is refused (`Fragment`: the datagram is not here to
/// sum, RFC 7915 4.5). A later fragment is refused here
/// (`fragment::later_to_ipv6` takes it). Nothing is written when `Err`.
pub fn to_ipv6<B: PacketBuf + ?Sized>(
    buf: &mut B,
    meta: &Ipv4Meta,
    to: &To6,
) -> Result<(), Untranslatable> {
    let t = &meta.tuple;
    let mut delta = Delta::default();
    delta.words128(v4_leaving(t.src), u128::from(*to.src.ip()));
    delta.words128(v4_leaving(t.dst), u128::from(*to.dst.ip()));
    delta.word(t.src_port, to.src.port());
    delta.word(t.dst_port, to.dst.port());
    to_ipv6_summed(buf, meta, to, delta)
}

/// [`to_ipv6`] with the L4 checksum's delta given: `delta` records the
/// packet's addresses and ports leaving and `to`'s entering, which for a
/// NAT64 session's reply is its `keys_delta` negated (kept with the
/// session: `FlowKey::keys_delta`).
#[inline]
pub fn to_ipv6_summed<B: PacketBuf + ?Sized>(
    buf: &mut B,
    meta: &Ipv4Meta,
    to: &To6,
    delta: Delta,
) -> Result<(), Untranslatable> {
    let (l3, l4, ip_end) = (meta.l3_offset, meta.l4_offset, meta.ip_end());
    match meta.kind {
        L4Kind::Tcp | L4Kind::Udp => {}
        L4Kind::Fragment { .. } => return Err(Untranslatable::Fragment),
        _ => return Err(Untranslatable::Protocol),
    }
    if meta.ttl <= 1 {
        return Err(Untranslatable::HopLimit);
    }
    let proto = meta.tuple.proto;
    let check_at = l4 + l4_checksum_at(proto)?;
    let l4_len = ip_end.checked_sub(l4).ok_or(Untranslatable::Truncated)?;
    if buf.len() < ip_end || check_at + 2 > ip_end {
        return Err(Untranslatable::Truncated);
    }
    let old_check = get_be16(buf.data(), check_at);
    let sum_whole = proto == IpProto::UDP && old_check == 0;
    if sum_whole {
        if meta.fragment.is_some() {
            return Err(Untranslatable::Fragment);
        }
        if !buf.is_contiguous() {
            return Err(Untranslatable::NoBufferRoom);
        }
    }
    // A first fragment gets a fragment header after the fixed one.
    let (header_len, next_header) = match meta.fragment {
        None => (IPV6_HEADER_LEN, proto.0),
        Some(_) => (IPV6_HEADER_LEN + FRAGMENT_HEADER_LEN, NextHeader::FRAGMENT),
    };
    if buf.headroom() + (l4 - l3) < header_len {
        return Err(Untranslatable::NoBufferRoom);
    }

    let frame = buf.data_mut();
    let tos = get_u8(frame, l3 + ipv4::field::DSCP_ECN);
    put_be16(frame, l4, to.src.port());
    put_be16(frame, l4 + 2, to.dst.port());
    if !sum_whole {
        let check = match proto {
            IpProto::UDP => delta.apply_udp(old_check),
            _ => delta.apply(old_check),
        };
        put_be16(frame, check_at, check);
    }

    let frame = replace_l3_header(buf, l3, ip_end, (l4 - l3, header_len), EtherType::IPV6)?;
    let (src, dst) = (*to.src.ip(), *to.dst.ip());
    let header = Ipv6Header {
        src,
        dst,
        next_header,
        hop_limit: meta.ttl - 1,
        // An IPv4 packet's L4 is under 64 KiB, less its 20-byte header.
        payload_len: (header_len - IPV6_HEADER_LEN + l4_len) as u16,
    };
    let out = frame.get_mut(l3..).unwrap_or(&mut []);
    if !ipv6::write_header(out, &header) {
        return Err(Untranslatable::Truncated);
    }
    // Version 6, the TOS as traffic class, flow label 0.
    ipv6::set_version_class_label(out, 6 << 28 | u32::from(tos) << 20);
    if let Some(ident) = meta.fragment {
        if !first_fragment_header(out, proto.0, ident) {
            return Err(Untranslatable::Truncated);
        }
    }
    if sum_whole {
        whole_udp_checksum(frame, l3, l4_len, (src, dst));
    }
    Ok(())
}

/// Writes the checksum of the UDP datagram after the IPv6 header at `l3`
/// of `frame` (`l4_len` bytes, from `src` to `dst`), summed whole: IPv4
/// sent it without one (RFC 7915 4.5). Out of line, off TCP's and the
/// checksummed datagrams' path.
#[cold]
#[inline(never)]
fn whole_udp_checksum(
    frame: &mut [u8],
    l3: usize,
    l4_len: usize,
    (src, dst): (Ipv6Addr, Ipv6Addr),
) {
    let l4 = l3 + IPV6_HEADER_LEN;
    let segment = frame.get(l4..l4 + l4_len).unwrap_or(&[]);
    let sum = add_bytes(
        ipv6_pseudo_header_sum(src, dst, IpProto::UDP.0, l4_len as u32),
        segment,
    );
    let check = match !fold(sum) {
        0 => 0xffff,
        c => c,
    };
    put_be16(frame, l4 + udp::field::CHECKSUM.start, check);
}

/// Writes a first fragment's fragment header after the fixed header at
/// the start of `out` (RFC 7915 4.1: the IPv4 identification zero-extended,
/// offset 0, M set). Out of line, off the whole packets' path.
#[cold]
#[inline(never)]
fn first_fragment_header(out: &mut [u8], next_header: u8, ident: u16) -> bool {
    let f = Ipv6Fragment {
        offset: 0,
        more: true,
        ident: u32::from(ident),
        data_offset: 0,
    };
    let at = out.get_mut(IPV6_HEADER_LEN..).unwrap_or(&mut []);
    ipv6::write_fragment_header(at, next_header, &f)
}
