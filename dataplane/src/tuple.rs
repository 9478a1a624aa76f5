//! The 5-tuple: how a packet names its flow.
//!
//! Shared by the packet core (which extracts it from headers) and the flow
//! state (which keys sessions by it). For ICMP echo the identifier stands in
//! for both ports, as in IPVS and conntrack.

use std::fmt::Debug;
use std::hash::BuildHasher;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An IP protocol number (shared with the control plane, which names
/// services by it).
pub use ferrolb_types::IpProto;

/// Addresses, ports (host byte order) and protocol of a packet, as it appears
/// on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FiveTuple {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: IpProto,
}

impl FiveTuple {
    /// The service key the packet's destination names.
    #[inline]
    pub fn service_key(&self) -> ferrolb_types::ServiceKey {
        ferrolb_types::ServiceKey {
            proto: self.proto,
            vip: std::net::IpAddr::V4(self.dst),
            port: self.dst_port,
        }
    }

    /// The tuple of a packet going the other way in the same flow.
    pub fn reversed(&self) -> FiveTuple {
        FiveTuple {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            proto: self.proto,
        }
    }
}

/// What a session table keys its sessions by: a flow as its packets carry
/// it, of one address family (`flow::SessionTable` is generic over it).
pub trait FlowKey: Copy + Eq + Debug {
    /// An empty slot's key.
    const ZERO: Self;
    /// The keyed hash the table indexes by.
    fn hash_with<S: BuildHasher>(&self, hasher: &S) -> u64;
    /// What a session keeps of its two keys for the translations of its
    /// packets ([`FlowKey::keys_delta`]): nothing for IPv4 (its session
    /// stays 64 bytes); a folded checksum delta for IPv6, whose 128-byte
    /// session has room for it.
    type KeysDelta: Copy + Debug;
    /// An empty slot's [`FlowKey::KeysDelta`].
    const NO_KEYS_DELTA: Self::KeysDelta;
    /// Made by the session table when a session of keys `inbound` and
    /// `outbound` is inserted, kept with it (`Session::keys_delta`).
    fn keys_delta(inbound: &Self, outbound: &Self) -> Self::KeysDelta;
}

impl FlowKey for FiveTuple {
    const ZERO: FiveTuple = FiveTuple {
        src: Ipv4Addr::UNSPECIFIED,
        dst: Ipv4Addr::UNSPECIFIED,
        src_port: 0,
        dst_port: 0,
        proto: IpProto(0),
    };

    /// Two words: both addresses, then both ports and the protocol.
    #[inline]
    fn hash_with<S: BuildHasher>(&self, hasher: &S) -> u64 {
        let addrs = (u64::from(u32::from(self.src)) << 32) | u64::from(u32::from(self.dst));
        let rest = (u64::from(self.src_port) << 24)
            | (u64::from(self.dst_port) << 8)
            | u64::from(self.proto.0);
        hasher.hash_one((addrs, rest))
    }

    type KeysDelta = ();
    const NO_KEYS_DELTA: () = ();
    #[inline]
    fn keys_delta(_: &Self, _: &Self) {}
}

/// An IPv6 flow: addresses, ports (host byte order) and the upper-layer
/// protocol (the last next header of the extension-header chain), as the
/// packet carries them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FiveTuple6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: IpProto,
}

impl FiveTuple6 {
    /// The tuple of a packet going the other way in the same flow.
    pub fn reversed(&self) -> FiveTuple6 {
        FiveTuple6 {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            proto: self.proto,
        }
    }

    /// The service key the packet's destination names.
    #[inline]
    pub fn service_key(&self) -> ferrolb_types::ServiceKey {
        ferrolb_types::ServiceKey {
            proto: self.proto,
            vip: std::net::IpAddr::V6(self.dst),
            port: self.dst_port,
        }
    }
}

impl FlowKey for FiveTuple6 {
    const ZERO: FiveTuple6 = FiveTuple6 {
        src: Ipv6Addr::UNSPECIFIED,
        dst: Ipv6Addr::UNSPECIFIED,
        src_port: 0,
        dst_port: 0,
        proto: IpProto(0),
    };

    /// Every bit of both addresses (sh and mh hash the full 128 bits as
    /// well), then the ports and the protocol.
    #[inline]
    fn hash_with<S: BuildHasher>(&self, hasher: &S) -> u64 {
        let rest = (u64::from(self.src_port) << 24)
            | (u64::from(self.dst_port) << 8)
            | u64::from(self.proto.0);
        hasher.hash_one((u128::from(self.src), u128::from(self.dst), rest))
    }

    type KeysDelta = u16;
    const NO_KEYS_DELTA: u16 = 0;
    /// The one's-complement sum (RFC 1624) of the words a TCP or UDP
    /// checksum sees change when a packet of `inbound` leaves as one of
    /// `outbound` reversed: both addresses (the pseudo-header's) and both
    /// ports, folded. Constant for a session, so NAT64 (`pipeline/nat64.rs`)
    /// takes it instead of summing 36 bytes twice a packet: an IPv4-mapped
    /// address's words sum as its IPv4 address's (its 0xffff word adds
    /// nothing, one's-complement), so it is also the change between the
    /// IPv6 and IPv4 pseudo-headers, whose length and protocol words are
    /// the same; the reply's is its negation (`checksum::Delta::negated`).
    fn keys_delta(inbound: &Self, outbound: &Self) -> u16 {
        let mut d = crate::checksum::Delta::default();
        d.words128(u128::from(inbound.src), u128::from(outbound.dst));
        d.words128(u128::from(inbound.dst), u128::from(outbound.src));
        d.word(inbound.src_port, outbound.dst_port);
        d.word(inbound.dst_port, outbound.src_port);
        d.folded()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversed_swaps_ends_and_twice_is_identity() {
        let t = FiveTuple {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            src_port: 1234,
            dst_port: 80,
            proto: IpProto::TCP,
        };
        let r = t.reversed();
        assert_eq!(
            (r.src, r.dst, r.src_port, r.dst_port),
            (t.dst, t.src, 80, 1234)
        );
        assert_eq!(r.reversed(), t);
    }
}
