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
use crate::wire::{get_be16, get_u8, put_be16, put_u8, tcp, udp};

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
        _ => return Err(DropReason::UnsupportedProtocol),
    };
    if frame.len() < check_at + 2 || l4 < l3 + field::DST_ADDR.end {
        return Err(DropReason::TruncatedL4);
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

/// Rewrites the IPv6 address at `off`, recording its eight words in `delta`
/// (read and written whole: one bounds check, no loop of 16-bit reads).
/// The caller has checked that the address is in `frame`.
#[inline(always)]
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
