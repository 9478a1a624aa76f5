//! The set of IPv4 addresses the appliance owns: interface addresses, VIPs,
//! local (FULLNAT) addresses and SNAT addresses. ARP and echo are answered
//! for exactly these.

use std::net::Ipv4Addr;

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

#[cfg(test)]
mod tests {
    use super::*;

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
