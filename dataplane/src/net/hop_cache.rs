//! A per-worker cache of resolved next hops, by destination address.
//!
//! Routing a packet costs a longest-prefix match, a neighbour lookup and
//! the egress interface's MACs; for the few destinations that carry most
//! packets (backends, a default gateway) the answer does not change between
//! packets. The cache remembers it for a destination, direct-mapped, so an
//! established flow's packet leaves with one probe; a session remembers the
//! slot its packets found (a [`HopHint`]), so its next packet goes straight
//! to that slot and only checks that the entry is still for its
//! destination ([`HopCache::at`]).
//!
//! A destination behind a gateway shares its entry with every address that
//! agrees with it on the route table's longest prefix length: those
//! addresses have the same route, so the same gateway and MAC (thousands of
//! clients behind one router take a few entries). An on-link destination
//! has an entry of its own.
//!
//! An entry stands for the slow path only while nothing it was built from
//! has changed. Every entry belongs to a *generation* of the cache, and a
//! new generation empties the cache at once: when the tables change
//! (routes, interfaces, static neighbours: [`HopCache::clear`]), when the
//! neighbour table's [`version`](crate::net::neighbour::NeighbourTable::version)
//! moves (a learned MAC changed or an entry was replaced), and when the
//! generation is [`MAX_AGE_MS`] old ([`HopCache::refresh`]), so the slow
//! path still sees every destination now and then and refreshes a stale
//! neighbour with ARP as it would without the cache.

use std::net::Ipv4Addr;

/// A hint the pipeline keeps per session and direction (in the session,
/// `flow::table`): where in this cache the packets of that direction found
/// their next hop. The hint is checked on use ([`HopCache::at`]), so a
/// stale one costs a lookup, never a wrong hop.
pub type HopHint = u16;
/// No hint yet.
pub const NO_HOP_HINT: HopHint = u16::MAX;
use crate::net::route::mask;
use crate::wire::ethernet::MacAddr;

/// Entries in the cache (a power of two): 2048 of 32 bytes, 64 KiB.
pub const HOP_CACHE_SLOTS: usize = 2048;
/// How long a generation of entries is used before the slow path is asked
/// again.
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
    /// The generation the entry was made in: only the current one's count.
    generation: u32,
    hop: ResolvedHop,
}

const EMPTY: Entry = Entry {
    key: 0,
    generation: 0,
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
    /// The current generation (never 0, so an empty entry is never
    /// current).
    generation: u32,
    /// The neighbour-table version the current generation is built under.
    neighbour_version: u32,
    /// When the current generation began (ms, the worker's clock).
    since: u64,
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
            generation: 1,
            neighbour_version: 0,
            since: 0,
            shared_len: longest_prefix.min(32),
        }
    }

    /// The key of `dst`'s first `len` bits: the masked address, the length
    /// above it, and a bit that no empty entry has.
    #[inline(always)]
    fn key(dst: Ipv4Addr, len: u8) -> u64 {
        u64::from(u32::from(dst) & mask(len)) | u64::from(len) << 32 | 1 << 40
    }

    /// The prefix length a key was made with.
    #[inline(always)]
    fn key_len(key: u64) -> u8 {
        (key >> 32) as u8
    }

    #[inline(always)]
    fn slot(key: u64) -> usize {
        // Fibonacci hashing: neighbouring addresses land apart.
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 53) as usize & (HOP_CACHE_SLOTS - 1)
    }

    #[inline(always)]
    fn probe(&self, key: u64) -> Option<(HopHint, ResolvedHop)> {
        let slot = Self::slot(key);
        let e = self.entries.get(slot)?;
        let good = e.key == key && e.generation == self.generation;
        good.then_some((slot as HopHint, e.hop))
    }

    /// The hop for `dst` from the entry in slot `hint`, if that entry is
    /// current and for `dst` (its own, or its prefix's): one entry read,
    /// no hashing.
    #[inline(always)]
    pub fn at(&self, hint: HopHint, dst: Ipv4Addr) -> Option<ResolvedHop> {
        let e = self.entries.get(usize::from(hint))?;
        let good = e.generation == self.generation && e.key == Self::key(dst, Self::key_len(e.key));
        good.then_some(e.hop)
    }

    /// The hop for `dst` and the slot it is in, if a current entry for it
    /// (its own, or its prefix's) is cached.
    #[inline]
    pub fn get(&self, dst: Ipv4Addr) -> Option<(HopHint, ResolvedHop)> {
        let own = self.probe(Self::key(dst, 32));
        if own.is_some() || self.shared_len >= 32 {
            return own;
        }
        self.probe(Self::key(dst, self.shared_len))
    }

    /// Remembers that packets to `dst` leave by `hop`, for `dst` alone if
    /// it is on the link, else for its prefix (replacing whatever shared the
    /// entry's slot). Returns the slot, for the sessions' hints.
    #[inline]
    pub fn put(&mut self, dst: Ipv4Addr, via_gateway: bool, hop: ResolvedHop) -> HopHint {
        let key = Self::key(dst, if via_gateway { self.shared_len } else { 32 });
        let slot = Self::slot(key);
        if let Some(e) = self.entries.get_mut(slot) {
            *e = Entry {
                key,
                generation: self.generation,
                hop,
            };
        }
        slot as HopHint
    }

    /// Starts a new generation if the neighbour table is no longer at the
    /// version this one was built under, or this one is [`MAX_AGE_MS`] old
    /// at `now`. Cheap: call it once per poll and after the neighbour table
    /// learned something.
    #[inline]
    pub fn refresh(&mut self, neighbour_version: u32, now: u64) {
        if neighbour_version != self.neighbour_version
            || now.saturating_sub(self.since) >= MAX_AGE_MS
        {
            self.neighbour_version = neighbour_version;
            self.next_generation(now);
        }
    }

    /// Forgets everything: the routes, interfaces or static neighbours
    /// changed, and the route table's longest prefix is now
    /// `longest_prefix` long.
    pub fn clear(&mut self, longest_prefix: u8) {
        self.shared_len = longest_prefix.min(32);
        let since = self.since;
        self.next_generation(since);
    }

    fn next_generation(&mut self, now: u64) {
        self.since = now;
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // A wrap: entries of the generation 2^32 back would look
            // current again. Empty them; generation 0 is never current.
            self.entries.fill(EMPTY);
            self.generation = 1;
        }
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

    fn hop_of(c: &HopCache, dst: Ipv4Addr) -> Option<ResolvedHop> {
        c.get(dst).map(|(_, h)| h)
    }

    #[test]
    fn an_entry_serves_its_destination_until_it_ages_or_the_neighbours_move() {
        let mut c = HopCache::new(24);
        let a = Ipv4Addr::new(10, 0, 1, 11);
        c.refresh(7, 100);
        assert_eq!(c.get(a), None);
        let slot = c.put(a, false, hop(1));
        assert_eq!(c.get(a), Some((slot, hop(1))));
        c.refresh(7, 100 + MAX_AGE_MS - 1);
        assert_eq!(hop_of(&c, a), Some(hop(1)));
        c.refresh(7, 100 + MAX_AGE_MS);
        assert_eq!(hop_of(&c, a), None, "aged out");
        c.put(a, false, hop(1));
        c.refresh(8, 100 + MAX_AGE_MS);
        assert_eq!(hop_of(&c, a), None, "neighbour table changed");
        c.put(a, false, hop(1));
        c.clear(24);
        assert_eq!(hop_of(&c, a), None, "cleared");
    }

    #[test]
    fn a_gateway_entry_serves_its_prefix_and_an_on_link_one_its_address() {
        let mut c = HopCache::new(24);
        let client = Ipv4Addr::new(198, 18, 3, 7);
        c.put(client, true, hop(1));
        assert_eq!(hop_of(&c, Ipv4Addr::new(198, 18, 3, 200)), Some(hop(1)));
        assert_eq!(hop_of(&c, Ipv4Addr::new(198, 18, 4, 7)), None);
        let backend = Ipv4Addr::new(10, 0, 1, 11);
        c.put(backend, false, hop(2));
        assert_eq!(hop_of(&c, backend), Some(hop(2)));
        assert_eq!(hop_of(&c, Ipv4Addr::new(10, 0, 1, 12)), None);
        // A /32 route in the table: nothing is shared.
        c.clear(32);
        c.put(client, true, hop(1));
        assert_eq!(hop_of(&c, client), Some(hop(1)));
        assert_eq!(hop_of(&c, Ipv4Addr::new(198, 18, 3, 200)), None);
    }

    #[test]
    fn a_hint_finds_its_entry_and_nothing_else() {
        let mut c = HopCache::new(24);
        let client = Ipv4Addr::new(198, 18, 3, 7);
        let neighbour = Ipv4Addr::new(198, 18, 3, 9);
        let hint = c.put(client, true, hop(1));
        assert_eq!(c.at(hint, client), Some(hop(1)));
        assert_eq!(
            c.at(hint, neighbour),
            Some(hop(1)),
            "same prefix, same entry"
        );
        assert_eq!(c.at(hint, Ipv4Addr::new(198, 18, 4, 7)), None);
        assert_eq!(c.at(NO_HOP_HINT, client), None);
        let backend = Ipv4Addr::new(10, 0, 1, 11);
        let b = c.put(backend, false, hop(2));
        assert_eq!(c.at(b, backend), Some(hop(2)));
        assert_eq!(
            c.at(b, Ipv4Addr::new(10, 0, 1, 12)),
            None,
            "on-link: own entry"
        );
        c.clear(24);
        assert_eq!(c.at(hint, client), None, "a new generation");
    }

    #[test]
    fn an_entry_never_answers_for_another_destination() {
        let mut c = HopCache::new(32);
        let a = Ipv4Addr::new(10, 0, 1, 11);
        // 0.0.0.0 must not match the empty key.
        assert_eq!(c.get(Ipv4Addr::UNSPECIFIED), None);
        assert_eq!(c.at(0, Ipv4Addr::UNSPECIFIED), None);
        let ha = c.put(a, false, hop(1));
        // Find an address sharing a's slot: it must miss, then replace a.
        let slot = |x| HopCache::slot(HopCache::key(x, 32));
        let b = (0u32..)
            .map(Ipv4Addr::from)
            .find(|&b| b != a && slot(b) == slot(a))
            .expect("a colliding address");
        assert_eq!(c.get(b), None);
        assert_eq!(c.at(ha, b), None);
        let hb = c.put(b, false, hop(2));
        assert_eq!(ha, hb);
        assert_eq!(hop_of(&c, b), Some(hop(2)));
        assert_eq!(hop_of(&c, a), None);
        assert_eq!(c.at(ha, a), None, "a's hint now names b's entry");
    }

    #[test]
    fn a_wrapped_generation_empties_the_cache() {
        let mut c = HopCache::new(32);
        let a = Ipv4Addr::new(10, 0, 1, 11);
        let hint = c.put(a, false, hop(1));
        let made = c.generation;
        c.generation = u32::MAX;
        c.next_generation(0);
        assert_eq!(c.generation, 1);
        // Walk back round to the generation the entry was made in.
        while c.generation != made {
            c.next_generation(0);
        }
        assert_eq!(c.at(hint, a), None, "emptied at the wrap");
    }
}
