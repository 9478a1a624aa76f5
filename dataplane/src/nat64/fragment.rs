//! Fragments past the first translated (RFC 7915 4.1 and 5.1.1): their IP
//! header only, the data (no L4 header: the ports and the checksum are in
//! the first fragment, [`super::to_ipv4`] and [`super::to_ipv6`]) left as
//! it is. The addresses are the first fragment's, given by the caller
//! from its datagram's decision.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::header::fragment_in;
use super::resize::replace_l3_header;
use super::Untranslatable;
use crate::buf::PacketBuf;
use crate::packet::{Ipv4Meta, L4Kind};
use crate::packet6::Ipv6Meta;
use crate::tuple::IpProto;
use crate::wire::ipv4::{self, write_ipv4_header, Ipv4Header, IPV4_MIN_HEADER_LEN, MORE_FRAGMENTS};
use crate::wire::ipv6::{
    self, Ipv6Fragment, Ipv6Header, NextHeader, FRAGMENT_HEADER_LEN, IPV6_HEADER_LEN,
};
use crate::wire::{get_u8, EtherType};

/// The IPv6 fragment `meta` describes (past the first: as
/// `packet6::classify_fragment` read it, `l4_offset` where its data
/// start) as an IPv4 fragment from `src` to `dst`: the fragment header
/// gone, identification its low 16 bits, offset and MF copied, DF clear,
/// TTL the hop limit less one, TOS the traffic class. Nothing is written
/// when `Err`.
pub fn later_to_ipv4<B: PacketBuf + ?Sized>(
    buf: &mut B,
    meta: &Ipv6Meta,
    (src, dst): (Ipv4Addr, Ipv4Addr),
) -> Result<(), Untranslatable> {
    let (l3, data) = (meta.l3_offset, meta.l4_offset);
    let ip_end = l3 + usize::from(meta.len);
    if meta.hop_limit <= 1 {
        return Err(Untranslatable::HopLimit);
    }
    let f = match fragment_in(buf.data(), l3) {
        // RFC 1858: a TCP fragment at offset 8 could rewrite the first
        // one's flags; IPv4's receivers (and `packet::classify`) refuse it.
        Some(f) if f.offset == 8 && meta.tuple.proto == IpProto::TCP => {
            return Err(Untranslatable::Fragment)
        }
        Some(f) if f.offset != 0 => f,
        _ => return Err(Untranslatable::Fragment),
    };
    let len = ip_end.checked_sub(data).ok_or(Untranslatable::Truncated)?;
    let total_len =
        u16::try_from(IPV4_MIN_HEADER_LEN + len).map_err(|_| Untranslatable::TooLong)?;
    if buf.len() < ip_end {
        return Err(Untranslatable::Truncated);
    }
    let tos = ipv6::traffic_class(buf.data().get(l3..).unwrap_or(&[]));
    replace_l3_header(
        buf,
        l3,
        ip_end,
        (data - l3, IPV4_MIN_HEADER_LEN),
        EtherType::IPV4,
    )?;
    let more = match f.more {
        true => MORE_FRAGMENTS,
        false => 0,
    };
    let header = Ipv4Header {
        tos,
        total_len,
        ident: f.ident as u16,
        flags_fragment: more | (f.offset / 8),
        ttl: meta.hop_limit - 1,
        proto: meta.tuple.proto,
        src,
        dst,
    };
    let out = buf.data_mut().get_mut(l3..).unwrap_or(&mut []);
    write_ipv4_header(out, &header).ok_or(Untranslatable::Truncated)
}

/// The IPv4 fragment `meta` describes (past the first: no ports) as an
/// IPv6 fragment from `src` to `dst`: a fragment header after the fixed
/// one, identification the IPv4 one zero-extended, offset and M copied;
/// options dropped, the hop limit the TTL less one, the traffic class the
/// TOS. 28 bytes longer for a 20-byte IPv4 header: the buffer's headroom
/// must take them. Nothing is written when `Err`.
pub fn later_to_ipv6<B: PacketBuf + ?Sized>(
    buf: &mut B,
    meta: &Ipv4Meta,
    (src, dst): (Ipv6Addr, Ipv6Addr),
) -> Result<(), Untranslatable> {
    let (l3, data, ip_end) = (meta.l3_offset, meta.l4_offset, meta.ip_end());
    let (L4Kind::Fragment { offset, more }, Some(ident)) = (meta.kind, meta.fragment) else {
        return Err(Untranslatable::Fragment);
    };
    if meta.ttl <= 1 {
        return Err(Untranslatable::HopLimit);
    }
    let len = ip_end.checked_sub(data).ok_or(Untranslatable::Truncated)?;
    let header_len = IPV6_HEADER_LEN + FRAGMENT_HEADER_LEN;
    if buf.len() < ip_end {
        return Err(Untranslatable::Truncated);
    }
    let tos = get_u8(buf.data(), l3 + ipv4::field::DSCP_ECN);
    replace_l3_header(buf, l3, ip_end, (data - l3, header_len), EtherType::IPV6)?;
    let header = Ipv6Header {
        src,
        dst,
        next_header: NextHeader::FRAGMENT,
        hop_limit: meta.ttl - 1,
        // An IPv4 fragment's data is under 64 KiB less its 20-byte header.
        payload_len: (FRAGMENT_HEADER_LEN + len) as u16,
    };
    let fragment = Ipv6Fragment {
        offset,
        more,
        ident: u32::from(ident),
        data_offset: 0,
    };
    let out = buf.data_mut().get_mut(l3..).unwrap_or(&mut []);
    if !ipv6::write_header(out, &header) {
        return Err(Untranslatable::Truncated);
    }
    ipv6::set_traffic_class(out, tos);
    let at = out.get_mut(IPV6_HEADER_LEN..).unwrap_or(&mut []);
    match ipv6::write_fragment_header(at, meta.tuple.proto.0, &fragment) {
        true => Ok(()),
        false => Err(Untranslatable::Truncated),
    }
}
