//! The NAT rewrite of an IPv6 packet (issue 20), the twin of
//! `rewrite::translate` for IPv4: the packet leaves with the addresses and
//! ports of a [`Translation6`], its hop limit one lower (NAT routes), and
//! its TCP or UDP checksum updated incrementally (RFC 1624) for the
//! pseudo-header's addresses and the ports. IPv6 has no header checksum,
//! so the hop limit costs nothing more. Extension headers are left as
//! they are (none of them is covered by the L4 checksum).
//!
//! A hop limit of 1 or 0 is refused with [`DropReason::TtlExceeded`]
//! before anything is written: the caller answers with Time Exceeded
//! (`net::icmp6::build_icmpv6_error`).

use std::net::Ipv6Addr;

use crate::checksum::Delta;
use crate::drop::DropReason;
use crate::packet6::Ipv6Meta;
use crate::tuple::{FiveTuple6, IpProto};
use crate::wire::ipv6::field;
use crate::wire::{get_be16, get_be32, get_u8, icmpv6, put_be16, put_be32, put_u8, tcp, udp};

/// The addresses and ports an IPv6 packet leaves with.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Translation6 {
    pub src: Ipv6Addr,
    pub src_port: u16,
    pub dst: Ipv6Addr,
    pub dst_port: u16,
}

impl Translation6 {
    /// The packet leaves with `t`'s addresses and ports.
    pub fn of(t: &FiveTuple6) -> Self {
        Translation6 {
            src: t.src,
            src_port: t.src_port,
            dst: t.dst,
            dst_port: t.dst_port,
        }
    }

    /// NAT request: CIP:cport → VIP:vport becomes CIP:cport → RIP:rport.
    pub fn nat_request(meta: &Ipv6Meta, rip: Ipv6Addr, rport: u16) -> Self {
        Translation6 {
            src: meta.tuple.src,
            src_port: meta.tuple.src_port,
            dst: rip,
            dst_port: rport,
        }
    }

    /// NAT reply: RIP:rport → CIP:cport becomes VIP:vport → CIP:cport.
    pub fn nat_reply(meta: &Ipv6Meta, vip: Ipv6Addr, vport: u16) -> Self {
        Translation6 {
            src: vip,
            src_port: vport,
            dst: meta.tuple.dst,
            dst_port: meta.tuple.dst_port,
        }
    }
}

/// Rewrites the IPv6 TCP or UDP packet `meta` describes in `frame` to
/// leave with `to`'s addresses and ports, its hop limit decremented and
/// its L4 checksum updated. Refuses, writing nothing: a hop limit <= 1
/// (`ttl_exceeded`, as IPv4's TTL), a packet shorter than its headers
/// (`truncated_l4`; `classify_ipv6` has checked this already), another
/// protocol (`unsupported_protocol`).
pub fn translate6(frame: &mut [u8], meta: &Ipv6Meta, to: &Translation6) -> Result<(), DropReason> {
    let (l3, l4) = (meta.l3_offset, meta.l4_offset);
    let check_at = match meta.tuple.proto {
        IpProto::TCP => l4 + tcp::field::CHECKSUM.start,
        IpProto::UDP => l4 + udp::field::CHECKSUM.start,
        ICMPV6 => l4 + icmpv6::field::CHECKSUM.start,
        _ => return Err(DropReason::UnsupportedProtocol),
    };
    if frame.len() < check_at + 2 || l4 < l3 + field::DST_ADDR.end {
        return Err(DropReason::TruncatedL4);
    }
    if meta.tuple.proto == ICMPV6 {
        return translate_echo6(frame, meta, to);
    }
    let hop_limit = get_u8(frame, l3 + field::HOP_LIMIT);
    if hop_limit <= 1 {
        return Err(DropReason::TtlExceeded);
    }
    put_u8(frame, l3 + field::HOP_LIMIT, hop_limit - 1);
    let mut delta = Delta::default();
    set_addr(frame, l3 + field::SRC_ADDR.start, to.src, &mut delta);
    set_addr(frame, l3 + field::DST_ADDR.start, to.dst, &mut delta);
    // TCP and UDP keep their ports at the same offsets.
    set_port(
        frame,
        l4 + tcp::field::SRC_PORT.start,
        to.src_port,
        &mut delta,
    );
    set_port(
        frame,
        l4 + tcp::field::DST_PORT.start,
        to.dst_port,
        &mut delta,
    );
    let new = match delta.apply(get_be16(frame, check_at)) {
        // A UDP checksum is mandatory over IPv6 (RFC 8200 8.1): 0 is sent
        // as its other form, 0xffff.
        0 if meta.tuple.proto == IpProto::UDP => 0xffff,
        c => c,
    };
    put_be16(frame, check_at, new);
    Ok(())
}

/// ICMPv6 as an IP protocol number.
pub const ICMPV6: IpProto = IpProto(crate::wire::ipv6::NextHeader::ICMPV6);

/// [`translate6`] of an ICMPv6 echo (SNAT over IPv6, `pipeline/snat6.rs`):
/// the identifier plays the port of the side that chose it, as IPv4's
/// (`rewrite::Translation`): a request takes `to.src_port`, a reply
/// `to.dst_port`. The ICMPv6 checksum covers the pseudo-header, so it
/// follows the addresses and the identifier incrementally. Another ICMPv6
/// type is `unsupported_icmp`; nothing is written before the checks.
fn translate_echo6(frame: &mut [u8], meta: &Ipv6Meta, to: &Translation6) -> Result<(), DropReason> {
    let (l3, l4) = (meta.l3_offset, meta.l4_offset);
    let ident_at = l4 + icmpv6::field::ECHO_IDENT.start;
    if frame.len() < ident_at + 2 {
        return Err(DropReason::TruncatedL4);
    }
    let id = match get_u8(frame, l4 + icmpv6::field::TYPE) {
        icmpv6::Icmpv6Type::ECHO_REQUEST => to.src_port,
        icmpv6::Icmpv6Type::ECHO_REPLY => to.dst_port,
        _ => return Err(DropReason::UnsupportedIcmp),
    };
    let hop_limit = get_u8(frame, l3 + field::HOP_LIMIT);
    if hop_limit <= 1 {
        return Err(DropReason::TtlExceeded);
    }
    put_u8(frame, l3 + field::HOP_LIMIT, hop_limit - 1);
    let mut delta = Delta::default();
    set_addr(frame, l3 + field::SRC_ADDR.start, to.src, &mut delta);
    set_addr(frame, l3 + field::DST_ADDR.start, to.dst, &mut delta);
    set_port(frame, ident_at, id, &mut delta);
    let check_at = l4 + icmpv6::field::CHECKSUM.start;
    put_be16(frame, check_at, delta.apply(get_be16(frame, check_at)));
    Ok(())
}

/// Where an ICMPv6 error's parts lie in a frame: the outer IPv6 header,
/// the ICMPv6 message, the quoted IPv6 header (its TCP or UDP header
/// follows it directly), and the end of the outer packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ErrorAt6 {
    pub l3: usize,
    pub icmp: usize,
    pub quote: usize,
    pub end: usize,
}

/// Rewrites the ICMPv6 error at `at` in `frame` about a packet of a NAT
/// or FULLNAT flow, the twin of `rewrite::translate_icmp_error`: the
/// quoted packet's addresses and ports become `quoted_to`'s (its TCP or
/// UDP checksum follows incrementally when the quote holds it; a quoted
/// UDP checksum of 0 stays 0), the outer addresses `outer_src` and
/// `outer_dst`, and the hop limit goes one lower. The ICMPv6 checksum
/// follows incrementally (RFC 1624) for every word changed in the message
/// and in its pseudo-header, so an error that arrived corrupt stays
/// corrupt (as IPv4's). A hop limit <= 1 is refused with
/// [`DropReason::TtlExceeded`] before anything is written (no error about
/// an error); a quote shorter than its ports with `truncated_l4`.
pub fn translate_icmpv6_error(
    frame: &mut [u8],
    at: &ErrorAt6,
    quoted_to: &Translation6,
    (outer_src, outer_dst): (Ipv6Addr, Ipv6Addr),
) -> Result<(), DropReason> {
    let inner_l4 = at.quote + field::DST_ADDR.end;
    if frame.len() < at.end || at.end < inner_l4 + 4 || at.icmp + 8 > at.quote {
        return Err(DropReason::TruncatedL4);
    }
    let hop_limit = get_u8(frame, at.l3 + field::HOP_LIMIT);
    if hop_limit <= 1 {
        return Err(DropReason::TtlExceeded);
    }
    put_u8(frame, at.l3 + field::HOP_LIMIT, hop_limit - 1);
    // Every word below lies in the ICMPv6 message at an even offset from
    // its start (the quote begins 8 bytes in), so each change feeds the
    // message's checksum too.
    let mut delta = Delta::default();
    set_addr(
        frame,
        at.quote + field::SRC_ADDR.start,
        quoted_to.src,
        &mut delta,
    );
    set_addr(
        frame,
        at.quote + field::DST_ADDR.start,
        quoted_to.dst,
        &mut delta,
    );
    // TCP and UDP keep their ports at the same offsets.
    let ports = [
        (tcp::field::SRC_PORT.start, quoted_to.src_port),
        (tcp::field::DST_PORT.start, quoted_to.dst_port),
    ];
    for (off, port) in ports {
        set_port(frame, inner_l4 + off, port, &mut delta);
    }
    let mut icmp = delta;
    let (check, udp) = match IpProto(get_u8(frame, at.quote + field::NEXT_HEADER)) {
        IpProto::UDP => (udp::field::CHECKSUM, true),
        _ => (tcp::field::CHECKSUM, false),
    };
    if inner_l4 + check.end <= at.end {
        let old = get_be16(frame, inner_l4 + check.start);
        let new = match udp {
            // 0 is no checksum: nothing to follow (and not to invent).
            true => delta.apply_udp(old),
            false => delta.apply(old),
        };
        put_be16(frame, inner_l4 + check.start, new);
        icmp.word(old, new);
    }
    // The outer addresses are in the ICMPv6 pseudo-header.
    set_addr(frame, at.l3 + field::SRC_ADDR.start, outer_src, &mut icmp);
    set_addr(frame, at.l3 + field::DST_ADDR.start, outer_dst, &mut icmp);
    let sum_at = at.icmp + icmpv6::field::CHECKSUM.start;
    put_be16(frame, sum_at, icmp.apply(get_be16(frame, sum_at)));
    Ok(())
}

/// Rewrites the IPv6 address at `off`, recording its eight words in `delta`
/// (read and written whole: one bounds check, no loop of 16-bit reads).
/// The caller has checked that the address is in `frame`.
#[inline(always)]
/// Rewrites the sequence number of the TCP segment the ICMPv6 error at
/// `at` quotes by `map`, the twin of `rewrite::shift_quoted_seq`: a spliced
/// or PROXY-shifted session's shift taken back into the sequence space of
/// the side that receives the error (Linux ignores an error whose quoted
/// sequence number it never sent, so a Packet Too Big would be lost). The
/// quoted TCP checksum follows when it is quoted, and the ICMPv6 checksum.
/// Returns whether the quote is TCP and holds the sequence number; nothing
/// changes otherwise.
pub fn shift_quoted_seq6(frame: &mut [u8], at: &ErrorAt6, map: impl FnOnce(u32) -> u32) -> bool {
    let inner_l4 = at.quote + field::DST_ADDR.end;
    let seq_at = inner_l4 + tcp::field::SEQ_NUM.start;
    let quoted_tcp = frame.len() >= at.end
        && at.end >= inner_l4 + tcp::field::SEQ_NUM.end
        && IpProto(get_u8(frame, at.quote + field::NEXT_HEADER)) == IpProto::TCP;
    if !quoted_tcp {
        return false;
    }
    let old = get_be32(frame, seq_at);
    let new = map(old);
    put_be32(frame, seq_at, new);
    // The sequence number lies at an even offset from the message's start
    // (the quote begins 8 bytes in, TCP 40 bytes after it).
    let mut delta = Delta::default();
    delta.dword(old, new);
    let mut icmp = delta;
    let check = inner_l4 + tcp::field::CHECKSUM.start;
    if inner_l4 + tcp::field::CHECKSUM.end <= at.end {
        let old_sum = get_be16(frame, check);
        let new_sum = delta.apply(old_sum);
        put_be16(frame, check, new_sum);
        icmp.word(old_sum, new_sum);
    }
    let sum_at = at.icmp + icmpv6::field::CHECKSUM.start;
    put_be16(frame, sum_at, icmp.apply(get_be16(frame, sum_at)));
    true
}

fn set_addr(frame: &mut [u8], off: usize, new: Ipv6Addr, delta: &mut Delta) {
    let Some(field) = frame.get_mut(off..off + 16) else {
        return;
    };
    let mut old = [0u8; 16];
    old.copy_from_slice(field);
    delta.words128(u128::from_be_bytes(old), u128::from(new));
    field.copy_from_slice(&new.octets());
}

/// Rewrites the port at `off`, recording the change in `delta`.
#[inline(always)]
fn set_port(frame: &mut [u8], off: usize, new: u16, delta: &mut Delta) {
    delta.word(get_be16(frame, off), new);
    put_be16(frame, off, new);
}

#[cfg(test)]
#[path = "rewrite6_tests.rs"]
mod tests;
