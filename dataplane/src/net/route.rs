//! The route table: connected routes from interface prefixes plus static
//! routes, looked up by longest-prefix match.
//!
//! Lookup cost: one binary search per distinct prefix length in the table,
//! longest first, stopping at the first hit: O(k · log n) with k distinct
//! lengths (at most 33, typically 2 to 4 in an appliance: a few connected
//! /24s, a default route) and n routes of one length. That is tens of
//! nanoseconds for the tables this appliance is configured with, and needs
//! no large arrays. A full Internet table would want DIR-24-8 (DPDK's
//! rte_lpm) instead; the API would not change.
//!
//! One table per family: `RouteTable` (IPv4, the default) and
//! `RouteTable<Ipv6Addr>`, the same code over [`RouteAddr`] (an IPv6
//! appliance's tables are as small: a few connected /64s and a default).

use std::net::{Ipv4Addr, Ipv6Addr};

/// An address family a route table holds: its address as an unsigned
/// integer of its width, so prefixes compare and mask as numbers.
pub trait RouteAddr: Copy + Eq + std::fmt::Debug {
    /// The address as a number, most significant bit first.
    type Bits: Copy + Ord + std::fmt::Debug;
    /// Bits in an address: the longest prefix length.
    const WIDTH: u8;
    fn to_bits(self) -> Self::Bits;
    fn from_bits(bits: Self::Bits) -> Self;
    /// `bits` with every bit past the first `len` cleared.
    fn masked(bits: Self::Bits, len: u8) -> Self::Bits;
}

impl RouteAddr for Ipv4Addr {
    type Bits = u32;
    const WIDTH: u8 = 32;
    #[inline]
    fn to_bits(self) -> u32 {
        u32::from(self)
    }
    #[inline]
    fn from_bits(bits: u32) -> Self {
        Ipv4Addr::from(bits)
    }
    #[inline]
    fn masked(bits: u32, len: u8) -> u32 {
        bits & mask(len)
    }
}

impl RouteAddr for Ipv6Addr {
    type Bits = u128;
    const WIDTH: u8 = 128;
    #[inline]
    fn to_bits(self) -> u128 {
        u128::from(self)
    }
    #[inline]
    fn from_bits(bits: u128) -> Self {
        Ipv6Addr::from(bits)
    }
    #[inline]
    fn masked(bits: u128, len: u8) -> u128 {
        bits & mask6(len)
    }
}

/// Where a route sends a packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NextHop<A = Ipv4Addr> {
    /// The egress port.
    pub port: u16,
    /// The gateway, or `None` for a connected route (the destination is on
    /// the link).
    pub gateway: Option<A>,
}

impl<A: Copy> NextHop<A> {
    /// The address to resolve (ARP, Neighbour Discovery) for a packet to
    /// `dst`.
    pub fn neighbour(&self, dst: A) -> A {
        self.gateway.unwrap_or(dst)
    }
}

/// A route that cannot be added.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RouteError {
    /// Prefix length above the family's width (32, 128).
    BadPrefixLength(u8),
    /// Host bits are set below the prefix length (e.g. 10.0.0.1/24).
    HostBitsSet,
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteError::BadPrefixLength(l) => write!(f, "prefix length {l} is too long"),
            RouteError::HostBitsSet => write!(f, "address has bits set past the prefix length"),
        }
    }
}

impl std::error::Error for RouteError {}

/// The netmask of a prefix length (lengths above 32 mean /32).
#[inline]
pub fn mask(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32u32.saturating_sub(u32::from(len)))
        .unwrap_or(0)
}

/// The IPv6 netmask of a prefix length (lengths above 128 mean /128).
#[inline]
pub fn mask6(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128u32.saturating_sub(u32::from(len)))
        .unwrap_or(0)
}

/// Routes grouped by prefix length, each group sorted by prefix.
#[derive(Clone, Debug)]
pub struct RouteTable<A: RouteAddr = Ipv4Addr> {
    /// Index = prefix length (0 to the family's width); entries sorted by
    /// network address.
    by_len: Vec<Vec<(A::Bits, NextHop<A>)>>,
    /// The prefix lengths present, longest first.
    lengths: Vec<u8>,
}

impl<A: RouteAddr> Default for RouteTable<A> {
    fn default() -> Self {
        RouteTable {
            by_len: (0..=A::WIDTH).map(|_| Vec::new()).collect(),
            lengths: Vec::new(),
        }
    }
}

impl<A: RouteAddr> RouteTable<A> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the connected route of an interface address `addr/len` on `port`
    /// (host bits of `addr` are masked off).
    pub fn add_connected(&mut self, addr: A, len: u8, port: u16) -> Result<(), RouteError> {
        if len > A::WIDTH {
            return Err(RouteError::BadPrefixLength(len));
        }
        let prefix = A::from_bits(A::masked(addr.to_bits(), len));
        self.insert(
            prefix,
            len,
            NextHop {
                port,
                gateway: None,
            },
        )
    }

    /// Adds a static route `prefix/len` via `gateway` on `port`.
    pub fn add_static(
        &mut self,
        prefix: A,
        len: u8,
        gateway: A,
        port: u16,
    ) -> Result<(), RouteError> {
        self.insert(
            prefix,
            len,
            NextHop {
                port,
                gateway: Some(gateway),
            },
        )
    }

    /// Adds or replaces the route for `prefix/len`.
    pub fn insert(&mut self, prefix: A, len: u8, hop: NextHop<A>) -> Result<(), RouteError> {
        let Some(group) = self.by_len.get_mut(usize::from(len)) else {
            return Err(RouteError::BadPrefixLength(len));
        };
        let p = prefix.to_bits();
        if A::masked(p, len) != p {
            return Err(RouteError::HostBitsSet);
        }
        match group.binary_search_by_key(&p, |e| e.0) {
            Ok(i) => group[i].1 = hop,
            Err(i) => group.insert(i, (p, hop)),
        }
        if !self.lengths.contains(&len) {
            self.lengths.push(len);
            self.lengths.sort_unstable_by(|a, b| b.cmp(a));
        }
        Ok(())
    }

    /// The route of the longest prefix containing `dst`.
    #[inline]
    pub fn lookup(&self, dst: A) -> Option<NextHop<A>> {
        let d = dst.to_bits();
        for &len in &self.lengths {
            let group = self.by_len.get(usize::from(len))?;
            if let Ok(i) = group.binary_search_by_key(&A::masked(d, len), |e| e.0) {
                return group.get(i).map(|e| e.1);
            }
        }
        None
    }

    /// The route of the longest prefix containing `dst`, with that prefix
    /// and its length (for `explain`, which names the route).
    pub fn lookup_prefix(&self, dst: A) -> Option<(A, u8, NextHop<A>)> {
        let d = dst.to_bits();
        self.lengths.iter().find_map(|&len| {
            let group = self.by_len.get(usize::from(len))?;
            let i = group
                .binary_search_by_key(&A::masked(d, len), |e| e.0)
                .ok()?;
            group.get(i).map(|&(p, h)| (A::from_bits(p), len, h))
        })
    }

    /// The longest prefix length in the table (0 when empty): addresses
    /// that agree on that many leading bits have the same route.
    pub fn longest_prefix(&self) -> u8 {
        self.lengths.first().copied().unwrap_or(0)
    }

    /// Every route as (prefix, length, next hop), longest prefixes first.
    pub fn iter(&self) -> impl Iterator<Item = (A, u8, NextHop<A>)> + '_ {
        self.lengths.iter().flat_map(move |&len| {
            self.by_len
                .get(usize::from(len))
                .into_iter()
                .flatten()
                .map(move |&(p, h)| (A::from_bits(p), len, h))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("address")
    }

    #[test]
    fn longest_prefix_wins_and_connected_routes_have_no_gateway() {
        let mut t = RouteTable::new();
        t.add_connected(ip("10.0.0.5"), 24, 0).expect("ok");
        t.add_static(ip("0.0.0.0"), 0, ip("10.0.0.1"), 0)
            .expect("ok");
        t.add_static(ip("192.168.0.0"), 16, ip("10.0.0.2"), 1)
            .expect("ok");
        t.add_static(ip("192.168.7.0"), 24, ip("10.0.0.3"), 1)
            .expect("ok");
        let hop = t.lookup(ip("10.0.0.77")).expect("connected");
        assert_eq!(
            hop,
            NextHop {
                port: 0,
                gateway: None
            }
        );
        assert_eq!(hop.neighbour(ip("10.0.0.77")), ip("10.0.0.77"));
        assert_eq!(
            t.lookup(ip("192.168.7.1")).and_then(|h| h.gateway),
            Some(ip("10.0.0.3"))
        );
        assert_eq!(
            t.lookup(ip("192.168.8.1")).and_then(|h| h.gateway),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(
            t.lookup(ip("8.8.8.8")).and_then(|h| h.gateway),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(t.iter().count(), 4);
    }

    #[test]
    fn no_default_route_means_no_route_and_bad_prefixes_are_refused() {
        let mut t = RouteTable::new();
        t.add_connected(ip("10.0.0.5"), 32, 3).expect("ok");
        assert!(t.lookup(ip("10.0.0.5")).is_some());
        assert!(t.lookup(ip("10.0.0.6")).is_none());
        assert_eq!(
            t.add_static(ip("10.0.0.1"), 24, ip("10.0.0.5"), 0),
            Err(RouteError::HostBitsSet)
        );
        assert_eq!(
            t.add_connected(ip("10.0.0.1"), 33, 0),
            Err(RouteError::BadPrefixLength(33))
        );
    }

    #[test]
    fn an_ipv6_table_routes_by_the_longest_of_128_bit_prefixes() {
        let v6 = |s: &str| s.parse::<Ipv6Addr>().expect("address");
        let mut t = RouteTable::<Ipv6Addr>::new();
        t.add_connected(v6("2001:db8:1::5"), 64, 0).expect("ok");
        t.add_static(v6("::"), 0, v6("fe80::1"), 1).expect("ok");
        t.add_static(v6("2001:db8:ffff::"), 48, v6("2001:db8:1::2"), 0)
            .expect("ok");
        t.add_connected(v6("2001:db8:1::7"), 128, 2).expect("ok");
        let on_link = t.lookup(v6("2001:db8:1::77")).expect("connected");
        assert_eq!((on_link.port, on_link.gateway), (0, None));
        assert_eq!(
            on_link.neighbour(v6("2001:db8:1::77")),
            v6("2001:db8:1::77")
        );
        assert_eq!(t.lookup(v6("2001:db8:1::7")).map(|h| h.port), Some(2));
        assert_eq!(
            t.lookup(v6("2001:db8:ffff:1::9")).and_then(|h| h.gateway),
            Some(v6("2001:db8:1::2"))
        );
        assert_eq!(
            t.lookup(v6("2a00::1")).and_then(|h| h.gateway),
            Some(v6("fe80::1"))
        );
        assert_eq!(t.longest_prefix(), 128);
        assert_eq!(
            t.add_static(v6("2001:db8::1"), 64, v6("fe80::1"), 0),
            Err(RouteError::HostBitsSet)
        );
        assert_eq!(
            t.add_connected(v6("2001:db8::1"), 129, 0),
            Err(RouteError::BadPrefixLength(129))
        );
    }

    proptest! {
        /// The IPv6 table agrees with a brute-force scan; prefixes are
        /// drawn near each other (one /32) so lengths past 64 decide.
        #[test]
        fn ipv6_lookup_matches_a_linear_scan(
            routes in proptest::collection::vec((any::<u128>(), 0u8..=128, any::<u16>()), 0..40),
            probes in proptest::collection::vec(any::<u128>(), 1..50),
        ) {
            let near = |a: u128| (0x2001_0db8u128 << 96) | (a >> 32);
            let mut t = RouteTable::<Ipv6Addr>::new();
            let mut reference: Vec<(u128, u8, u16)> = Vec::new();
            for (addr, len, port) in routes {
                let p = near(addr) & mask6(len);
                t.insert(Ipv6Addr::from(p), len, NextHop { port, gateway: None }).expect("valid");
                reference.retain(|r| !(r.0 == p && r.1 == len));
                reference.push((p, len, port));
            }
            for d in probes.iter().map(|&d| near(d)).chain(reference.iter().map(|r| r.0)) {
                let expected = reference.iter().filter(|r| d & mask6(r.1) == r.0).max_by_key(|r| r.1).map(|r| r.2);
                prop_assert_eq!(t.lookup(Ipv6Addr::from(d)).map(|h| h.port), expected);
            }
        }

        /// The table agrees with a brute-force scan of every route.
        #[test]
        fn lookup_matches_a_linear_scan(
            routes in proptest::collection::vec((any::<u32>(), 0u8..=32, any::<u16>()), 0..40),
            probes in proptest::collection::vec(any::<u32>(), 1..50),
        ) {
            let mut t = RouteTable::new();
            let mut reference: Vec<(u32, u8, u16)> = Vec::new();
            for (addr, len, port) in routes {
                let p = addr & mask(len);
                t.insert(Ipv4Addr::from(p), len, NextHop { port, gateway: None }).expect("valid");
                reference.retain(|r| !(r.0 == p && r.1 == len));
                reference.push((p, len, port));
            }
            for d in probes.iter().copied().chain(reference.iter().map(|r| r.0)) {
                let expected = reference.iter().filter(|r| d & mask(r.1) == r.0).max_by_key(|r| r.1).map(|r| r.2);
                prop_assert_eq!(t.lookup(Ipv4Addr::from(d)).map(|h| h.port), expected);
            }
        }
    }
}
