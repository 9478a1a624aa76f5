//! The sets of addresses the appliance owns. IPv4: interface addresses,
//! VIPs, local (FULLNAT) addresses and SNAT addresses; ARP and echo are
//! answered for exactly these. IPv6: interface addresses (stage 1 of issue
//! 20); Neighbour Discovery and echo are answered for exactly these.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A sorted array of addresses: built on the control thread, then only read
/// (binary search, O(log n), no allocation).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrSet {
    sorted: Vec<u32>,
}

impl AddrSet {
    /// The set of `addrs` (duplicates collapse).
    pub fn new<I: IntoIterator<Item = Ipv4Addr>>(addrs: I) -> Self {
        let mut sorted: Vec<u32> = addrs.into_iter().map(u32::from).collect();
        sorted.sort_unstable();
        sorted.dedup();
        AddrSet { sorted }
    }

    #[inline]
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        self.sorted.binary_search(&u32::from(a)).is_ok()
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.sorted.iter().map(|&a| Ipv4Addr::from(a))
    }
}

/// [`AddrSet`] for IPv6 addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Addr6Set {
    sorted: Vec<u128>,
}

impl Addr6Set {
    /// The set of `addrs` (duplicates collapse).
    pub fn new<I: IntoIterator<Item = Ipv6Addr>>(addrs: I) -> Self {
        let mut sorted: Vec<u128> = addrs.into_iter().map(u128::from).collect();
        sorted.sort_unstable();
        sorted.dedup();
        Addr6Set { sorted }
    }

    #[inline]
    pub fn contains(&self, a: Ipv6Addr) -> bool {
        self.sorted.binary_search(&u128::from(a)).is_ok()
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Ipv6Addr> + '_ {
        self.sorted.iter().map(|&a| Ipv6Addr::from(a))
    }
}

/// [`Addr6Set`] with a value per address (the static IPv6 neighbours'
/// MACs): the same sorted array and binary search, cheaper per packet than
/// a hash of the 16-byte address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr6Map<V> {
    sorted: Vec<u128>,
    values: Vec<V>,
}

impl<V> Default for Addr6Map<V> {
    fn default() -> Self {
        Addr6Map {
            sorted: Vec::new(),
            values: Vec::new(),
        }
    }
}

impl<V: Copy> FromIterator<(Ipv6Addr, V)> for Addr6Map<V> {
    /// The map of `pairs`; of an address given twice, the last value
    /// counts (as a `HashMap` collected from them).
    fn from_iter<I: IntoIterator<Item = (Ipv6Addr, V)>>(pairs: I) -> Self {
        let mut pairs: Vec<(u128, V)> =
            pairs.into_iter().map(|(a, v)| (u128::from(a), v)).collect();
        pairs.reverse();
        // Stable: of equal addresses the last given comes first, and stays.
        pairs.sort_by_key(|&(a, _)| a);
        pairs.dedup_by_key(|&mut (a, _)| a);
        let (sorted, values) = pairs.into_iter().unzip();
        Addr6Map { sorted, values }
    }
}

impl<V> Addr6Map<V> {
    #[inline]
    pub fn get(&self, a: &Ipv6Addr) -> Option<&V> {
        let i = self.sorted.binary_search(&u128::from(*a)).ok()?;
        self.values.get(i)
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ipv6_set_contains_exactly_what_was_given() {
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let b: Ipv6Addr = "fe80::1".parse().unwrap();
        let s = Addr6Set::new([b, a, b]);
        assert_eq!(s.len(), 2);
        assert!(s.contains(a) && s.contains(b));
        assert!(!s.contains("2001:db8::2".parse().unwrap()));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![a, b]);
        assert!(Addr6Set::default().is_empty());
    }

    #[test]
    fn the_ipv6_map_finds_each_address_its_last_value() {
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let b: Ipv6Addr = "fe80::1".parse().unwrap();
        let c: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let m: Addr6Map<u8> = [(b, 1), (a, 2), (c, 3), (b, 4)].into_iter().collect();
        assert_eq!(m.len(), 3);
        assert_eq!(
            (m.get(&a), m.get(&b), m.get(&c)),
            (Some(&2), Some(&4), Some(&3))
        );
        assert_eq!(m.get(&"2001:db8::3".parse().unwrap()), None);
        assert!(Addr6Map::<u8>::default().is_empty());
    }

    #[test]
    fn contains_exactly_what_was_given() {
        let s = AddrSet::new([
            Ipv4Addr::new(10, 0, 0, 9),
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 9),
        ]);
        assert_eq!(s.len(), 2);
        assert!(s.contains(Ipv4Addr::new(10, 0, 0, 1)));
        assert!(s.contains(Ipv4Addr::new(10, 0, 0, 9)));
        assert!(!s.contains(Ipv4Addr::new(10, 0, 0, 2)));
        assert!(AddrSet::default().is_empty());
    }
}
