//! TUN over IPv6 (issue 20): the client's IPv6 packet is put inside an
//! outer IPv6 header to the backend (IPv6-in-IPv6, RFC 2473), the twin of
//! `rewrite::encapsulate_ipip` for IPv4. The backend decapsulates it and
//! answers the client directly, as with IP-in-IP.
//!
//! The outer header copies the inner one's traffic class and flow label
//! (so ECN and the flow's ECMP spread survive the tunnel, RFC 6438), has
//! next header 41 and hop limit [`Tunnel6::hop_limit`]. The inner packet is
//! not routed by us, so its hop limit is left alone, as IPv4 TUN leaves
//! the TTL. IPv4-in-IPv6 is not built: an IPv6 VIP's backends are IPv6.

use std::net::Ipv6Addr;

use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::packet6::Ipv6Meta;
use crate::wire::ethernet::{ETHERNET_HEADER_LEN, VLAN_TAG_LEN};
use crate::wire::ipv6::{
    self, set_version_class_label, version_class_label, Ipv6Header, NextHeader, IPV6_HEADER_LEN,
};

/// The smallest MTU an IPv6 link has (RFC 8200 5): a Packet Too Big below
/// it is not believed by the sender, so a tunnel never reports one.
pub const IPV6_MIN_MTU: u16 = 1280;

/// The outer header of an IPv6-in-IPv6 tunnel to a backend.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Tunnel6 {
    /// Our address on the egress link, the outer source.
    pub src: Ipv6Addr,
    /// The backend, the outer destination.
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
    /// MTU of the egress link: the largest IPv6 packet it carries.
    pub egress_mtu: u16,
}

impl Tunnel6 {
    /// The MTU to report in Packet Too Big: what an inner packet may be so
    /// that it still fits once encapsulated.
    pub fn inner_mtu(&self) -> u16 {
        self.egress_mtu.saturating_sub(IPV6_HEADER_LEN as u16)
    }
}

/// Why an IPv6 packet was not encapsulated; nothing was changed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Encap6Error {
    /// The encapsulated packet would not fit the egress MTU: the caller
    /// sends the client Packet Too Big with this MTU (IPv6 is never
    /// fragmented on the path).
    TooBig { inner_mtu: u16 },
    /// As `TooBig`, but the egress link is so small that the MTU to report
    /// would be under IPv6's 1280, which the sender would not believe: the
    /// packet is dropped without an error (we do not fragment the outer
    /// packet, RFC 2473 7.1's way out).
    TunnelBelowMinimum,
    /// The frame has no room in front for the outer header, or is
    /// shorter than its IPv6 header says.
    NoRoom,
}

impl Encap6Error {
    /// The drop counter of the packet that was not encapsulated.
    pub fn drop_reason(self) -> DropReason {
        match self {
            Encap6Error::TooBig { .. } => DropReason::FragmentationNeeded,
            Encap6Error::TunnelBelowMinimum => DropReason::TooBigToFragment,
            Encap6Error::NoRoom => DropReason::NoBufferRoom,
        }
    }
}

/// TUN: puts a 40-byte IPv6 header in front of the IPv6 packet described
/// by `meta`, keeping the L2 header in front of it. Trailing Ethernet
/// padding is trimmed first. Nothing is changed on error.
pub fn encapsulate_ip6ip6<B: PacketBuf + ?Sized>(
    buf: &mut B,
    meta: &Ipv6Meta,
    tun: &Tunnel6,
) -> Result<(), Encap6Error> {
    let l3 = meta.l3_offset;
    let inner_len = usize::from(meta.len);
    if inner_len + IPV6_HEADER_LEN > usize::from(tun.egress_mtu) {
        return Err(match tun.inner_mtu() {
            mtu if mtu >= IPV6_MIN_MTU => Encap6Error::TooBig { inner_mtu: mtu },
            _ => Encap6Error::TunnelBelowMinimum,
        });
    }
    let ip_end = l3 + inner_len;
    if buf.headroom() < IPV6_HEADER_LEN || buf.len() < ip_end {
        return Err(Encap6Error::NoRoom);
    }
    let first_word = buf.data().get(l3..).map_or(0, version_class_label);
    let padding = buf.len() - ip_end;
    buf.trim(padding);
    if buf.prepend(IPV6_HEADER_LEN).is_none() {
        return Err(Encap6Error::NoRoom);
    }
    let frame = buf.data_mut();
    // Slide the L2 header to the new front; the outer header goes after
    // it. The usual lengths get a constant-size copy.
    const ETH: usize = ETHERNET_HEADER_LEN;
    const TAGGED: usize = ETHERNET_HEADER_LEN + VLAN_TAG_LEN;
    const OUTER: usize = IPV6_HEADER_LEN;
    match l3 {
        ETH => frame.copy_within(OUTER..OUTER + ETH, 0),
        TAGGED => frame.copy_within(OUTER..OUTER + TAGGED, 0),
        _ => frame.copy_within(OUTER..OUTER + l3, 0),
    }
    let outer = frame.get_mut(l3..).unwrap_or(&mut []);
    let header = Ipv6Header {
        src: tun.src,
        dst: tun.dst,
        next_header: NextHeader::IPV6,
        hop_limit: tun.hop_limit,
        // The inner packet fits a u16: its length came from one.
        payload_len: meta.len,
    };
    if !ipv6::write_header(outer, &header) {
        return Err(Encap6Error::NoRoom);
    }
    set_version_class_label(outer, first_word);
    Ok(())
}

#[cfg(test)]
#[path = "tunnel6_tests.rs"]
mod tests;
