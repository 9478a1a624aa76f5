//! ICMPv6 errors the appliance sends itself (RFC 4443): Packet Too Big when
//! a packet does not fit the egress link (IPv6 is never fragmented on the
//! way), Time Exceeded when the hop limit runs out where we route,
//! Destination Unreachable. The caller limits them with its
//! [`TokenBucket`](super::icmp::TokenBucket), as for IPv4.

use std::net::Ipv6Addr;

use crate::buf::PacketBuf;
use crate::checksum::{add_bytes, fold, ipv6_pseudo_header_sum};
use crate::wire::ethernet::{self, ETHERNET_HEADER_LEN, VLAN_TAG_LEN};
use crate::wire::icmpv6::{self, Icmpv6Type, ICMPV6_HEADER_LEN};
use crate::wire::ipv6::{self, Ipv6Header, NextHeader, IPV6_HEADER_LEN};
use crate::wire::{get_u8, put_be16, put_be32, put_bytes, put_u8, Ipv6Packet};

/// Hop limit of the errors we originate (Linux's default).
pub const ERROR_HOP_LIMIT: u8 = 64;
/// The longest error: IPv6's minimum MTU (RFC 4443 2.4 (c): quote as much
/// of the packet as fits in it).
const MAX_ERROR_LEN: usize = 1280;
/// The most of the invoking packet an error quotes.
const MAX_QUOTE_LEN: usize = MAX_ERROR_LEN - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN;
/// The largest L2 header we copy into an error (Ethernet plus one tag).
const MAX_L2_LEN: usize = ETHERNET_HEADER_LEN + VLAN_TAG_LEN;
/// Parameter Problem code "unrecognized IPv6 option" (RFC 4443 3.4).
const CODE_UNRECOGNIZED_OPTION: u8 = 2;

/// Whether an error of `icmp_type`/`code` may be sent about the IPv6 packet
/// at `l3` of `frame` (RFC 4443 2.4 (e)): not about an ICMPv6 error or a
/// redirect (nor a later fragment, whose type cannot be read), not about a
/// link-layer broadcast, not to a source that names no single node
/// (unspecified, multicast, loopback), and not about a packet to a
/// multicast address, IPv6 or link-layer, unless it is Packet Too Big or
/// a Parameter Problem about an unrecognized option.
pub fn may_send_error6_about(frame: &[u8], l3: usize, icmp_type: u8, code: u8) -> bool {
    let Ok(ip) = Ipv6Packet::new(frame.get(l3..).unwrap_or(&[])) else {
        return false;
    };
    let dst_mac = frame
        .get(ethernet::field::DESTINATION)
        .unwrap_or(&[0xff; 6]);
    if dst_mac == [0xff; 6] {
        return false;
    }
    let src = ip.src();
    if src.is_unspecified() || src.is_multicast() || src.is_loopback() {
        return false;
    }
    let to_a_group = ip.dst().is_multicast() || dst_mac[0] & 1 == 1;
    let allowed_to_a_group = icmp_type == Icmpv6Type::PACKET_TOO_BIG
        || (icmp_type == Icmpv6Type::PARAMETER_PROBLEM && code == CODE_UNRECOGNIZED_OPTION);
    if to_a_group && !allowed_to_a_group {
        return false;
    }
    let Ok(chain) = ip.walk() else {
        return false;
    };
    if chain.proto != NextHeader::ICMPV6 {
        return true;
    }
    if chain.fragment.is_some_and(|f| f.offset != 0) {
        return false;
    }
    let about = get_u8(frame, l3 + chain.l4_offset + icmpv6::field::TYPE);
    !(Icmpv6Type::is_error(about) || about == Icmpv6Type::REDIRECT)
}

/// Turns the IPv6 packet at `l3` of `buf` into an ICMPv6 error about it, in
/// place: the same L2 header with the MACs swapped (back out of the link it
/// came in on), an IPv6 header from `src` to the packet's source, the
/// ICMPv6 header with `rest` (the MTU for Packet Too Big, the pointer for a
/// Parameter Problem), and as much of the packet as fits in 1280 bytes.
///
/// Returns `false`, changing nothing, if no error may be sent about this
/// packet ([`may_send_error6_about`]) or the buffer lacks tailroom.
pub fn build_icmpv6_error<B: PacketBuf + ?Sized>(
    buf: &mut B,
    l3: usize,
    (icmp_type, code, rest): (u8, u8, u32),
    src: Ipv6Addr,
) -> bool {
    let frame = buf.data();
    if l3 > MAX_L2_LEN || !may_send_error6_about(frame, l3, icmp_type, code) {
        return false;
    }
    let Ok(ip) = Ipv6Packet::new(frame.get(l3..).unwrap_or(&[])) else {
        return false;
    };
    let dst = ip.src();
    let packet_len = IPV6_HEADER_LEN + usize::from(ip.payload_len());
    let quote_len = packet_len.min(MAX_QUOTE_LEN);
    let mut l2 = [0u8; MAX_L2_LEN];
    let mut quote = [0u8; MAX_QUOTE_LEN];
    let (Some(l2_src), Some(q_src)) = (frame.get(..l3), frame.get(l3..l3 + quote_len)) else {
        return false;
    };
    l2[..l3].copy_from_slice(l2_src);
    quote[..quote_len].copy_from_slice(q_src);

    let message_len = ICMPV6_HEADER_LEN + quote_len;
    let new_len = l3 + IPV6_HEADER_LEN + message_len;
    if !super::icmp::turn_around(buf, &l2[..l3], new_len) {
        return false;
    }
    let frame = buf.data_mut();
    let Some(packet) = frame.get_mut(l3..new_len) else {
        return false;
    };
    let (header, message) = packet.split_at_mut(IPV6_HEADER_LEN);
    let ipv6_header = Ipv6Header {
        src,
        dst,
        next_header: NextHeader::ICMPV6,
        hop_limit: ERROR_HOP_LIMIT,
        payload_len: message_len as u16, // at most 1240
    };
    ipv6::write_header(header, &ipv6_header);
    put_u8(message, icmpv6::field::TYPE, icmp_type);
    put_u8(message, icmpv6::field::CODE, code);
    put_be16(message, icmpv6::field::CHECKSUM.start, 0);
    put_be32(message, icmpv6::field::MTU.start, rest);
    put_bytes(message, icmpv6::field::BODY, &quote[..quote_len]);
    let pseudo = ipv6_pseudo_header_sum(src, dst, NextHeader::ICMPV6, message_len as u32);
    let sum = !fold(add_bytes(pseudo, message));
    put_be16(message, icmpv6::field::CHECKSUM.start, sum);
    true
}

#[cfg(test)]
#[path = "icmp6_tests.rs"]
mod tests;
