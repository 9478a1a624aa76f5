//! A per-worker cache of resolved next hops, by destination address.
//!
//! Routing a packet costs a longest-prefix match, a neighbour lookup and
//! the egress interface's MACs; for the few destinations that carry most
//! packets (backends, a default gateway) the answer does not change between
//! packets. The cache remembers it for a destination, direct-mapped, so an
//! established flow's packet leaves with one probe.
//!
//! A destination behind a gateway shares its entry with every address that
//! agrees with it on the route table's longest prefix length: those
//! addresses have the same route, so the same gateway and MAC (thousands of
//! clients behind one router take a few entries). An on-link destination
//! has an entry of its own.
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

use crate::net::route::mask;
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
    /// See [`HopCache::key`] (0 = empty).
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
    /// The route table's longest prefix length: how many leading bits
    /// the destinations behind a gateway share an entry by.
    shared_len: u8,
}

impl HopCache {
    /// An empty cache for a route table whose longest prefix is
    /// `longest_prefix` long.
    pub fn new(longest_prefix: u8) -> Self {
        HopCache {
            entries: vec![EMPTY; HOP_CACHE_SLOTS],
            shared_len: longest_prefix.min(32),
        }
    }

    /// The key of `dst`'s first `len` bits: the address, its length, plus
    /// one so no key is 0.
    #[inline]
    fn key(dst: Ipv4Addr, len: u8) -> u64 {
        (u64::from(u32::from(dst) & mask(len)) | u64::from(len) << 32) + 1
    }

    #[inline]
    fn slot(key: u64) -> usize {
        // Fibonacci hashing: neighbouring addresses land apart.
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 53) as usize & (HOP_CACHE_SLOTS - 1)
    }

    #[inline]
    fn probe(&self, key: u64, version: u32, now: u64) -> Option<ResolvedHop> {
        let e = self.entries.get(Self::slot(key))?;
        let good = e.key == key && e.version == version && now < e.until;
        good.then_some(e.hop)
    }

    /// The hop for `dst` if an entry for it (its own, or its prefix's) is
    /// still good at `now` under neighbour-table `version`.
    #[inline]
    pub fn get(&self, dst: Ipv4Addr, version: u32, now: u64) -> Option<ResolvedHop> {
        let own = self.probe(Self::key(dst, 32), version, now);
        if own.is_some() || self.shared_len >= 32 {
            return own;
        }
        self.probe(Self::key(dst, self.shared_len), version, now)
    }

    /// Remembers that packets to `dst` leave by `hop`, for `dst` alone if
    /// it is on the link, else for its prefix (replacing whatever shared the
    /// entry's slot).
    #[inline]
    pub fn put(
        &mut self,
        dst: Ipv4Addr,
        via_gateway: bool,
        hop: ResolvedHop,
        version: u32,
        now: u64,
    ) {
        let key = Self::key(dst, if via_gateway { self.shared_len } else { 32 });
        if let Some(e) = self.entries.get_mut(Self::slot(key)) {
            *e = Entry {
                key,
                version,
                until: now.saturating_add(MAX_AGE_MS),
                hop,
            };
        }
    }

    /// Forgets everything: the routes, interfaces or static neighbours
    /// changed, and the route table's longest prefix is now
    /// `longest_prefix` long.
    pub fn clear(&mut self, longest_prefix: u8) {
        self.entries.fill(EMPTY);
        self.shared_len = longest_prefix.min(32);
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
        let mut c = HopCache::new(24);
        let a = Ipv4Addr::new(10, 0, 1, 11);
        assert_eq!(c.get(a, 0, 0), None);
        c.put(a, false, hop(1), 7, 100);
        assert_eq!(c.get(a, 7, 100), Some(hop(1)));
        assert_eq!(c.get(a, 7, 100 + MAX_AGE_MS - 1), Some(hop(1)));
        assert_eq!(c.get(a, 7, 100 + MAX_AGE_MS), None, "aged out");
        assert_eq!(c.get(a, 8, 100), None, "neighbour table changed");
        c.clear(24);
        assert_eq!(c.get(a, 7, 100), None, "cleared");
    }

    #[test]
    fn a_gateway_entry_serves_its_prefix_and_an_on_link_one_its_address() {
        let mut c = HopCache::new(24);
        let client = Ipv4Addr::new(198, 18, 3, 7);
        c.put(client, true, hop(1), 0, 0);
        assert_eq!(c.get(Ipv4Addr::new(198, 18, 3, 200), 0, 0), Some(hop(1)));
        assert_eq!(c.get(Ipv4Addr::new(198, 18, 4, 7), 0, 0), None);
        let backend = Ipv4Addr::new(10, 0, 1, 11);
        c.put(backend, false, hop(2), 0, 0);
        assert_eq!(c.get(backend, 0, 0), Some(hop(2)));
        assert_eq!(c.get(Ipv4Addr::new(10, 0, 1, 12), 0, 0), None);
        // A /32 route in the table: nothing is shared.
        c.clear(32);
        c.put(client, true, hop(1), 0, 0);
        assert_eq!(c.get(client, 0, 0), Some(hop(1)));
        assert_eq!(c.get(Ipv4Addr::new(198, 18, 3, 200), 0, 0), None);
    }

    #[test]
    fn an_entry_never_answers_for_another_destination() {
        let mut c = HopCache::new(32);
        let a = Ipv4Addr::new(10, 0, 1, 11);
        // 0.0.0.0 must not match the empty key.
        assert_eq!(c.get(Ipv4Addr::UNSPECIFIED, 0, 0), None);
        c.put(a, false, hop(1), 0, 0);
        // Find an address sharing a's slot: it must miss, then replace a.
        let slot = |x| HopCache::slot(HopCache::key(x, 32));
        let b = (0u32..)
            .map(Ipv4Addr::from)
            .find(|&b| b != a && slot(b) == slot(a))
            .expect("a colliding address");
        assert_eq!(c.get(b, 0, 0), None);
        c.put(b, false, hop(2), 0, 0);
        assert_eq!(c.get(b, 0, 0), Some(hop(2)));
        assert_eq!(c.get(a, 0, 0), None);
    }
}
