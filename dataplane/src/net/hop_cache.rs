//! A per-worker cache of resolved next hops, by destination address.
//!
//! Routing a packet costs a longest-prefix match, a neighbour lookup and
//! the egress interface's MACs; for the few destinations that carry most
//! packets (backends, a default gateway) the answer does not change between
//! packets. The cache remembers it for a destination, direct-mapped, so an
//! established flow's packet leaves with one probe.
//!
//! An entry stands for the slow path only while nothing it was built from
//! has changed: the caller clears the cache when the tables (routes,
//! interfaces, static neighbours) change, and each entry records the
//! neighbour table's [`version`](crate::net::neighbour::NeighbourTable::version),
//! which moves when a learned MAC changes or an entry is replaced. An entry
//! also lives at most [`MAX_AGE_MS`], so the slow path still sees every
//! destination now and then and refreshes a stale neighbour with ARP as it
//! would without the cache.

use std::net::Ipv4Addr;

use crate::wire::ethernet::MacAddr;

/// Entries in the cache (a power of two): 2048 of 40 bytes, 80 KiB.
pub const HOP_CACHE_SLOTS: usize = 2048;
/// How long an entry is used before the slow path is asked again.
pub const MAX_AGE_MS: u64 = 1000;

/// Where a packet to one destination leaves, resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResolvedHop {
    /// The egress interface (index into the tables' interfaces).
    pub iface: u16,
    /// The egress port.
    pub port: u16,
    /// The egress interface's VLAN tag.
    pub vlan: Option<u16>,
    /// Our MAC on the egress port.
    pub src_mac: MacAddr,
    /// The next hop's MAC.
    pub dst_mac: MacAddr,
}

#[derive(Clone, Copy)]
struct Entry {
    /// The destination, plus one (0 = empty).
    key: u64,
    /// The neighbour-table version the entry was built under.
    version: u32,
    /// When the entry stops being used (ms, the worker's clock).
    until: u64,
    hop: ResolvedHop,
}

const EMPTY: Entry = Entry {
    key: 0,
    version: 0,
    until: 0,
    hop: ResolvedHop {
        iface: 0,
        port: 0,
        vlan: None,
        src_mac: MacAddr::ZERO,
        dst_mac: MacAddr::ZERO,
    },
};

/// The cache; see the module comment for when an entry is used.
pub struct HopCache {
    entries: Vec<Entry>,
}

impl Default for HopCache {
    fn default() -> Self {
        HopCache {
            entries: vec![EMPTY; HOP_CACHE_SLOTS],
        }
    }
}

impl HopCache {
    fn slot(dst: Ipv4Addr) -> usize {
        // Fibonacci hashing: neighbouring addresses land apart.
        (u32::from(dst).wrapping_mul(0x9e37_79b1) >> 21) as usize & (HOP_CACHE_SLOTS - 1)
    }

    /// The hop for `dst` if an entry for it is still good at `now` under
    /// neighbour-table `version`.
    #[inline]
    pub fn get(&self, dst: Ipv4Addr, version: u32, now: u64) -> Option<ResolvedHop> {
        let e = self.entries.get(Self::slot(dst))?;
        let good = e.key == u64::from(u32::from(dst)) + 1 && e.version == version && now < e.until;
        good.then_some(e.hop)
    }

    /// Remembers that packets to `dst` leave by `hop` (replacing whatever
    /// shared its slot).
    #[inline]
    pub fn put(&mut self, dst: Ipv4Addr, hop: ResolvedHop, version: u32, now: u64) {
        if let Some(e) = self.entries.get_mut(Self::slot(dst)) {
            *e = Entry {
                key: u64::from(u32::from(dst)) + 1,
                version,
                until: now.saturating_add(MAX_AGE_MS),
                hop,
            };
        }
    }

    /// Forgets everything (the routes, interfaces or static neighbours
    /// changed).
    pub fn clear(&mut self) {
        self.entries.fill(EMPTY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(port: u16) -> ResolvedHop {
        ResolvedHop {
            iface: port,
            port,
            vlan: None,
            src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([2, 0, 0, 0, 0, port as u8]),
        }
    }

    #[test]
    fn an_entry_serves_its_destination_until_it_ages_or_the_version_moves() {
        let mut c = HopCache::default();
        let a = Ipv4Addr::new(10, 0, 1, 11);
        assert_eq!(c.get(a, 0, 0), None);
        c.put(a, hop(1), 7, 100);
        assert_eq!(c.get(a, 7, 100), Some(hop(1)));
        assert_eq!(c.get(a, 7, 100 + MAX_AGE_MS - 1), Some(hop(1)));
        assert_eq!(c.get(a, 7, 100 + MAX_AGE_MS), None, "aged out");
        assert_eq!(c.get(a, 8, 100), None, "neighbour table changed");
        c.clear();
        assert_eq!(c.get(a, 7, 100), None, "cleared");
    }

    #[test]
    fn an_entry_never_answers_for_another_destination() {
        let mut c = HopCache::default();
        let a = Ipv4Addr::new(10, 0, 1, 11);
        // 0.0.0.0 must not match the empty key.
        assert_eq!(c.get(Ipv4Addr::UNSPECIFIED, 0, 0), None);
        c.put(a, hop(1), 0, 0);
        // Find an address sharing a's slot: it must miss, then replace a.
        let b = (0u32..)
            .map(Ipv4Addr::from)
            .find(|&b| b != a && HopCache::slot(b) == HopCache::slot(a))
            .expect("a colliding address");
        assert_eq!(c.get(b, 0, 0), None);
        c.put(b, hop(2), 0, 0);
        assert_eq!(c.get(b, 0, 0), Some(hop(2)));
        assert_eq!(c.get(a, 0, 0), None);
    }
}
