//! What a scheduler reads of a new flow, for either address family: the
//! client for sh, the flow (or the client alone) for mh, the destination
//! for dh, lblc and lblcr. IPv4's `FiveTuple` answers exactly as the
//! schedulers computed it before IPv6 existed; IPv6's `FiveTuple6` hashes
//! every bit of its addresses (issue 20: sh and mh hash the full address).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::stable_mix;
use crate::tuple::{FiveTuple, FiveTuple6};

/// A flow as the schedulers see it.
pub trait SchedFlow {
    /// sh: the client address, as one number to mix.
    fn source_key(&self) -> u64;
    /// mh: a stable hash of the 5-tuple, or of the client address alone
    /// (client affinity across connections, like IPVS's mh without
    /// mh-port).
    fn maglev_hash(&self, ports: bool) -> u64;
    /// dh, lblc, lblcr: the destination as IPVS keys it, an IPv4 address
    /// (an IPv6 one folded to 32 bits by XOR of its words, as
    /// `ip_vs_dh_hashkey` and `ip_vs_lblc_hashkey` fold it).
    fn destination(&self) -> Ipv4Addr;
}

impl SchedFlow for FiveTuple {
    #[inline]
    fn source_key(&self) -> u64 {
        u64::from(u32::from(self.src))
    }

    #[inline]
    fn maglev_hash(&self, ports: bool) -> u64 {
        let src = u64::from(u32::from(self.src));
        if !ports {
            return stable_mix(src);
        }
        let addrs = (src << 32) | u64::from(u32::from(self.dst));
        let rest = (u64::from(self.src_port) << 24)
            | (u64::from(self.dst_port) << 8)
            | u64::from(self.proto.0);
        stable_mix(stable_mix(addrs) ^ rest)
    }

    #[inline]
    fn destination(&self) -> Ipv4Addr {
        self.dst
    }
}

/// An IPv6 address as one 64-bit number: both halves mixed, so every bit
/// moves it (a plain XOR of the halves would let two clients that differ
/// in the same bit of each half collide).
#[inline]
fn mixed6(a: Ipv6Addr) -> u64 {
    let v = u128::from(a);
    stable_mix((v >> 64) as u64) ^ (v as u64)
}

impl SchedFlow for FiveTuple6 {
    #[inline]
    fn source_key(&self) -> u64 {
        mixed6(self.src)
    }

    #[inline]
    fn maglev_hash(&self, ports: bool) -> u64 {
        let src = stable_mix(mixed6(self.src));
        if !ports {
            return src;
        }
        let rest = (u64::from(self.src_port) << 24)
            | (u64::from(self.dst_port) << 8)
            | u64::from(self.proto.0);
        stable_mix(src ^ stable_mix(mixed6(self.dst)) ^ rest)
    }

    #[inline]
    fn destination(&self) -> Ipv4Addr {
        let o = self.dst.octets();
        let word = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
        Ipv4Addr::from(word(0) ^ word(4) ^ word(8) ^ word(12))
    }
}
