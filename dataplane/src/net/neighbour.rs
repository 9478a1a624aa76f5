//! The neighbour (ARP) table, with a small bounded queue of packets waiting
//! for each unresolved next hop.
//!
//! Sized once at construction; no operation allocates afterwards. Entries
//! live in an open-addressed array probed over a window of [`PROBE_WINDOW`]
//! slots, so lookups cost at most that many compares. A new next hop takes a
//! free slot in its window, or the least recently updated entry there that
//! holds no packets; if every slot in the window is holding packets, the new
//! packet is dropped as [`DropReason::NeighbourTableFull`].
//!
//! The clock is the caller's (any monotonic tick count); so are the packets:
//! `P` is generic, so the table holds mbufs on the wire and plain values in
//! tests, and hands every packet it lets go of back to the caller.
//!
//! The table is generic over the address family ([`NeighbourAddr`]): ARP
//! fills the IPv4 one (the default), Neighbour Discovery an IPv6 one.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::drop::DropReason;
use crate::wire::ethernet::MacAddr;

/// Slots examined for one address.
pub const PROBE_WINDOW: usize = 8;

/// An address a neighbour table is keyed by: IPv4 (ARP) or IPv6 (ND).
pub trait NeighbourAddr: Copy + Eq {
    /// What a free slot holds.
    const UNSPECIFIED: Self;
    /// A well-spread hash of the address, for its home slot.
    fn spread(self) -> usize;
}

impl NeighbourAddr for Ipv4Addr {
    const UNSPECIFIED: Self = Ipv4Addr::UNSPECIFIED;
    fn spread(self) -> usize {
        // Fibonacci hashing: spreads consecutive addresses over the table.
        (u32::from(self).wrapping_mul(0x9e37_79b1) as usize).rotate_left(16)
    }
}

impl NeighbourAddr for Ipv6Addr {
    const UNSPECIFIED: Self = Ipv6Addr::UNSPECIFIED;
    fn spread(self) -> usize {
        // The interface identifier varies most on a link; fold the prefix
        // in too, so two links' neighbours do not share home slots.
        let v = u128::from(self);
        let folded = (v as u64) ^ ((v >> 64) as u64).rotate_left(29);
        (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Free,
    /// ARP request sent, no answer yet.
    Incomplete,
    Reachable,
}

struct Entry<P, const Q: usize, A> {
    ip: A,
    state: State,
    mac: MacAddr,
    /// When the entry was created (incomplete) or last confirmed.
    updated: u64,
    /// When we last sent an ARP request for it.
    requested: u64,
    waiting: [Option<P>; Q],
    waiting_len: usize,
}

impl<P, const Q: usize, A: NeighbourAddr> Entry<P, Q, A> {
    fn free() -> Self {
        Entry {
            ip: A::UNSPECIFIED,
            state: State::Free,
            mac: MacAddr::ZERO,
            updated: 0,
            requested: 0,
            waiting: std::array::from_fn(|_| None),
            waiting_len: 0,
        }
    }

    fn drain(&mut self, mut f: impl FnMut(P)) {
        for slot in self.waiting.iter_mut().take(self.waiting_len) {
            if let Some(p) = slot.take() {
                f(p);
            }
        }
        self.waiting_len = 0;
    }
}

/// What [`NeighbourTable::resolve`] did with a packet.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolution<P> {
    /// The MAC is known: send the packet to it. If `refresh`, the entry is
    /// stale and the caller should also send an ARP request (it is still used
    /// meanwhile, as Linux does).
    Ready {
        mac: MacAddr,
        packet: P,
        refresh: bool,
    },
    /// The packet waits for the answer. If `send_request`, the caller sends
    /// an ARP request now (the first, or a retry).
    Queued { send_request: bool },
    /// The packet could not wait; the caller frees it and counts `reason`.
    Dropped { packet: P, reason: DropReason },
}

/// Timing of the neighbour table, in the caller's clock ticks.
#[derive(Clone, Copy, Debug)]
pub struct NeighbourTimers {
    /// How long a learned MAC is used without refreshing it.
    pub reachable: u64,
    /// Minimum gap between two ARP requests for one address.
    pub retry: u64,
    /// How long packets may wait for an answer before they are dropped.
    pub resolve_timeout: u64,
}

/// The neighbour table; `Q` is the number of packets that may wait per
/// unresolved neighbour; `A` the address family.
pub struct NeighbourTable<P, const Q: usize, A: NeighbourAddr = Ipv4Addr> {
    entries: Vec<Entry<P, Q, A>>,
    mask: usize,
    timers: NeighbourTimers,
    /// Moves whenever a resolved MAC changes or a resolved entry is
    /// replaced: what a cache of resolutions checks (see `hop_cache`).
    version: u32,
}

impl<P, const Q: usize, A: NeighbourAddr> NeighbourTable<P, Q, A> {
    /// A table of at least `capacity` slots (rounded up to a power of two,
    /// at least [`PROBE_WINDOW`]).
    pub fn new(capacity: usize, timers: NeighbourTimers) -> Self {
        let n = capacity.max(PROBE_WINDOW).next_power_of_two();
        NeighbourTable {
            entries: (0..n).map(|_| Entry::free()).collect(),
            mask: n - 1,
            timers,
            version: 0,
        }
    }

    fn home(&self, ip: A) -> usize {
        ip.spread() & self.mask
    }

    fn find(&self, ip: A) -> Option<usize> {
        let home = self.home(ip);
        (0..PROBE_WINDOW)
            .map(|i| (home + i) & self.mask)
            .find(|&i| {
                self.entries
                    .get(i)
                    .is_some_and(|e| e.state != State::Free && e.ip == ip)
            })
    }

    /// A slot for a new entry: a free one, else the least recently updated
    /// entry that holds no packets.
    fn victim(&self, ip: A) -> Option<usize> {
        let home = self.home(ip);
        let window = (0..PROBE_WINDOW).map(|i| (home + i) & self.mask);
        let mut best: Option<(usize, u64)> = None;
        for i in window {
            let e = self.entries.get(i)?;
            if e.state == State::Free {
                return Some(i);
            }
            if e.waiting_len == 0 && best.map_or(true, |(_, t)| e.updated < t) {
                best = Some((i, e.updated));
            }
        }
        best.map(|(i, _)| i)
    }

    /// The table's version: it moves whenever an address's resolved MAC
    /// changes or a resolved entry gives way to another address, so a copy
    /// of a resolution taken under one version holds while it lasts.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Takes slot `i` for a new address: a resolved entry given up moves
    /// the version.
    fn claim(&mut self, i: usize) -> Option<&mut Entry<P, Q, A>> {
        let e = self.entries.get_mut(i)?;
        if e.state == State::Reachable {
            self.version = self.version.wrapping_add(1);
        }
        Some(e)
    }

    /// The MAC of `ip` if it is known (stale or not).
    pub fn lookup(&self, ip: A) -> Option<MacAddr> {
        let e = self.entries.get(self.find(ip)?)?;
        (e.state == State::Reachable).then_some(e.mac)
    }

    /// Whether the table has an entry (resolved or not) for `ip`.
    pub fn contains(&self, ip: A) -> bool {
        self.find(ip).is_some()
    }

    /// Finds the MAC for a packet to next hop `ip`, or queues the packet
    /// until it is learned.
    pub fn resolve(&mut self, ip: A, packet: P, now: u64) -> Resolution<P> {
        self.resolve_at(usize::MAX, ip, packet, now).0
    }

    /// [`Self::resolve`], trying slot `hint` first (where `ip` was found
    /// last time: a caller keeps it per flow, as IPv6 DR does in its
    /// session), so a flow's packet skips the search. The hint is checked,
    /// so a stale one costs the search, never a wrong MAC. Returns the
    /// slot `ip` is in now, for the next packet (`usize::MAX`: none).
    /// Always inlined: IPv6 DR's per-packet path, whether `egress6_for`
    /// has one caller or (with NAT) two.
    #[inline(always)]
    pub fn resolve_at(
        &mut self,
        hint: usize,
        ip: A,
        packet: P,
        now: u64,
    ) -> (Resolution<P>, usize) {
        let hit = self
            .entries
            .get(hint)
            .is_some_and(|e| e.state != State::Free && e.ip == ip);
        let idx = match hit {
            true => hint,
            false => match self.slot_for(ip, now) {
                Some(i) => i,
                None => {
                    let reason = DropReason::NeighbourTableFull;
                    return (Resolution::Dropped { packet, reason }, usize::MAX);
                }
            },
        };
        (self.resolve_in(idx, packet, now), idx)
    }

    /// The slot of `ip`'s entry, made (incomplete) if it has none; `None`
    /// if every slot of its window is taken by an entry holding packets.
    fn slot_for(&mut self, ip: A, now: u64) -> Option<usize> {
        let key = ip;
        let timers = self.timers;
        let idx = match self.find(key) {
            Some(i) => i,
            None => {
                let i = self.victim(key)?;
                if let Some(e) = self.claim(i) {
                    e.ip = key;
                    e.state = State::Incomplete;
                    e.updated = now;
                    // Far enough in the past that the first request goes now.
                    e.requested = now.wrapping_sub(timers.retry);
                    e.waiting_len = 0;
                }
                i
            }
        };
        Some(idx)
    }

    /// The resolution of a packet for the entry in slot `idx`.
    #[inline]
    fn resolve_in(&mut self, idx: usize, packet: P, now: u64) -> Resolution<P> {
        let timers = self.timers;
        let Some(e) = self.entries.get_mut(idx) else {
            return Resolution::Dropped {
                packet,
                reason: DropReason::NeighbourTableFull,
            };
        };
        let due = now.wrapping_sub(e.requested) >= timers.retry;
        match e.state {
            State::Reachable => {
                let refresh = now.saturating_sub(e.updated) >= timers.reachable && due;
                if refresh {
                    e.requested = now;
                }
                Resolution::Ready {
                    mac: e.mac,
                    packet,
                    refresh,
                }
            }
            _ => {
                let Some(slot) = e.waiting.get_mut(e.waiting_len) else {
                    return Resolution::Dropped {
                        packet,
                        reason: DropReason::NeighbourQueueFull,
                    };
                };
                *slot = Some(packet);
                e.waiting_len += 1;
                if due {
                    e.requested = now;
                }
                Resolution::Queued { send_request: due }
            }
        }
    }

    /// Records that `ip` is at `mac` and hands every packet waiting for it
    /// to `release`, in arrival order. Creates the entry only if `create`
    /// (the caller decides whom to trust: see [`crate::net::arp`]). Returns
    /// whether the table now holds the mapping.
    pub fn learn(
        &mut self,
        ip: A,
        mac: MacAddr,
        now: u64,
        create: bool,
        mut release: impl FnMut(P, MacAddr),
    ) -> bool {
        let key = ip;
        let idx = match self.find(key) {
            Some(i) => i,
            None if create => match self.victim(key) {
                Some(i) => {
                    if let Some(e) = self.claim(i) {
                        e.ip = key;
                        e.state = State::Incomplete;
                        e.waiting_len = 0;
                        e.requested = now;
                    }
                    i
                }
                None => return false,
            },
            None => return false,
        };
        let Some(e) = self.entries.get_mut(idx) else {
            return false;
        };
        if e.state == State::Reachable && e.mac != mac {
            self.version = self.version.wrapping_add(1);
        }
        e.state = State::Reachable;
        e.mac = mac;
        e.updated = now;
        e.drain(|p| release(p, mac));
        true
    }

    /// Gives up on neighbours that did not answer within the resolve
    /// timeout: their waiting packets go to `dropped` (count them as
    /// [`DropReason::NeighbourUnresolved`]) and the slots are freed. Call it
    /// now and then (e.g. once per timer tick), not per packet.
    pub fn expire(&mut self, now: u64, mut dropped: impl FnMut(P)) {
        let timeout = self.timers.resolve_timeout;
        for e in &mut self.entries {
            if e.state == State::Incomplete && now.saturating_sub(e.updated) >= timeout {
                e.drain(&mut dropped);
                e.state = State::Free;
            }
        }
    }

    /// Every entry as (address, MAC if resolved, state name) at `now`:
    /// `reachable`, `stale` (resolved, due for a refresh) or `incomplete`.
    pub fn states(
        &self,
        now: u64,
    ) -> impl Iterator<Item = (A, Option<MacAddr>, &'static str)> + '_ {
        let reachable = self.timers.reachable;
        self.entries
            .iter()
            .filter(|e| e.state != State::Free)
            .map(move |e| {
                let state = match e.state {
                    State::Reachable if now.saturating_sub(e.updated) >= reachable => "stale",
                    State::Reachable => "reachable",
                    _ => "incomplete",
                };
                let mac = (e.state == State::Reachable).then_some(e.mac);
                (e.ip, mac, state)
            })
    }

    /// Every entry as (address, MAC if resolved), for listing.
    pub fn iter(&self) -> impl Iterator<Item = (A, Option<MacAddr>)> + '_ {
        self.entries
            .iter()
            .filter(|e| e.state != State::Free)
            .map(|e| (e.ip, (e.state == State::Reachable).then_some(e.mac)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMERS: NeighbourTimers = NeighbourTimers {
        reachable: 1000,
        retry: 10,
        resolve_timeout: 100,
    };
    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 7]);

    fn ip(n: u32) -> Ipv4Addr {
        Ipv4Addr::from(0x0a00_0000 + n)
    }

    #[test]
    fn packets_wait_until_learned_then_go_out_in_order() {
        let mut t: NeighbourTable<u32, 2> = NeighbourTable::new(16, TIMERS);
        assert_eq!(
            t.resolve(ip(1), 100, 0),
            Resolution::Queued { send_request: true }
        );
        assert_eq!(
            t.resolve(ip(1), 101, 5),
            Resolution::Queued {
                send_request: false
            },
            "retry gap not over"
        );
        assert_eq!(
            t.resolve(ip(1), 102, 6),
            Resolution::Dropped {
                packet: 102,
                reason: DropReason::NeighbourQueueFull
            }
        );
        assert_eq!(t.lookup(ip(1)), None);
        let mut out = Vec::new();
        assert!(t.learn(ip(1), MAC, 7, false, |p, m| out.push((p, m))));
        assert_eq!(out, vec![(100, MAC), (101, MAC)]);
        assert_eq!(t.lookup(ip(1)), Some(MAC));
        assert_eq!(
            t.resolve(ip(1), 103, 8),
            Resolution::Ready {
                mac: MAC,
                packet: 103,
                refresh: false
            }
        );
        // Stale after `reachable`: still used, and refreshed once per retry gap.
        assert_eq!(
            t.resolve(ip(1), 104, 2000),
            Resolution::Ready {
                mac: MAC,
                packet: 104,
                refresh: true
            }
        );
        assert_eq!(
            t.resolve(ip(1), 105, 2001),
            Resolution::Ready {
                mac: MAC,
                packet: 105,
                refresh: false
            }
        );
    }

    #[test]
    fn a_hinted_resolution_checks_its_slot_and_finds_the_right_one() {
        const OTHER: MacAddr = MacAddr([2, 0, 0, 0, 0, 8]);
        let mut t: NeighbourTable<u32, 2> = NeighbourTable::new(PROBE_WINDOW, TIMERS);
        assert!(t.learn(ip(1), MAC, 0, true, |_, _| {}));
        assert!(t.learn(ip(2), OTHER, 0, true, |_, _| {}));
        let (first, at1) = t.resolve_at(usize::MAX, ip(1), 1, 1);
        assert_eq!(first, t.resolve(ip(1), 1, 1), "no hint: a plain resolve");
        assert_eq!(t.resolve_at(at1, ip(1), 2, 1).1, at1, "the hint kept");
        let (to2, at2) = t.resolve_at(at1, ip(2), 3, 1);
        assert_ne!(at2, at1);
        let ready = |mac, packet| Resolution::Ready {
            mac,
            packet,
            refresh: false,
        };
        assert_eq!(to2, ready(OTHER, 3), "another address's slot is not used");
        // ip(1)'s slot given to other addresses: its old hint finds no MAC
        // of theirs, but a new entry of its own, waiting.
        for n in 3..3 + PROBE_WINDOW as u32 {
            assert!(t.learn(ip(n), OTHER, 2 + u64::from(n), true, |_, _| {}));
        }
        assert_eq!(t.lookup(ip(1)), None, "ip(1) evicted");
        let (stale, _) = t.resolve_at(at1, ip(1), 4, 20);
        assert_eq!(stale, Resolution::Queued { send_request: true });
    }

    #[test]
    fn the_version_moves_when_a_resolution_changes_and_only_then() {
        let mut t: NeighbourTable<u32, 2> = NeighbourTable::new(PROBE_WINDOW, TIMERS);
        let v0 = t.version();
        assert!(t.learn(ip(1), MAC, 0, true, |_, _| {}));
        assert!(matches!(t.resolve(ip(2), 1, 0), Resolution::Queued { .. }));
        assert!(t.learn(ip(2), MAC, 1, false, |_, _| {}));
        assert!(t.learn(ip(1), MAC, 2, false, |_, _| {}));
        assert_eq!(t.version(), v0, "new entries and the same MAC again");
        let other = MacAddr([2, 0, 0, 0, 0, 8]);
        assert!(t.learn(ip(1), other, 3, false, |_, _| {}));
        let v1 = t.version();
        assert_ne!(v1, v0, "a MAC changed");
        // Fill the table with resolved entries; the next address replaces
        // one of them.
        for n in 3..=PROBE_WINDOW as u32 {
            assert!(t.learn(ip(n), MAC, 4, true, |_, _| {}));
        }
        assert_eq!(t.version(), v1);
        assert!(matches!(
            t.resolve(ip(100), 1, 5),
            Resolution::Queued { .. }
        ));
        assert_ne!(t.version(), v1, "a resolved entry was given up");
    }

    #[test]
    fn learn_creates_only_when_asked_and_unanswered_neighbours_expire() {
        let mut t: NeighbourTable<u32, 4> = NeighbourTable::new(16, TIMERS);
        assert!(!t.learn(ip(2), MAC, 0, false, |_, _| {}));
        assert!(!t.contains(ip(2)));
        assert!(t.learn(ip(2), MAC, 0, true, |_, _| {}));
        assert_eq!(t.lookup(ip(2)), Some(MAC));

        assert!(matches!(t.resolve(ip(3), 1, 0), Resolution::Queued { .. }));
        assert!(matches!(t.resolve(ip(3), 2, 0), Resolution::Queued { .. }));
        let mut dropped = Vec::new();
        t.expire(50, |p| dropped.push(p));
        assert!(dropped.is_empty(), "not yet timed out");
        t.expire(100, |p| dropped.push(p));
        assert_eq!(dropped, vec![1, 2]);
        assert!(!t.contains(ip(3)));
        assert_eq!(t.lookup(ip(2)), Some(MAC), "resolved entries do not expire");
        assert_eq!(t.iter().count(), 1);
    }

    #[test]
    fn a_full_window_of_waiting_neighbours_refuses_new_ones() {
        // Eight slots, one probe window: eight unresolved neighbours fill it.
        let mut t: NeighbourTable<u32, 1> = NeighbourTable::new(8, TIMERS);
        for n in 0..8 {
            assert!(matches!(t.resolve(ip(n), n, 0), Resolution::Queued { .. }));
        }
        assert_eq!(
            t.resolve(ip(99), 99, 0),
            Resolution::Dropped {
                packet: 99,
                reason: DropReason::NeighbourTableFull
            }
        );
        // A resolved neighbour holds no packets, so it can be replaced.
        t.learn(ip(0), MAC, 1, false, |_, _| {});
        assert!(matches!(
            t.resolve(ip(99), 99, 2),
            Resolution::Queued { .. }
        ));
        assert!(!t.contains(ip(0)));
    }

    #[test]
    fn an_ipv6_table_resolves_learns_and_lists_like_the_ipv4_one() {
        let a = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        let mut t: NeighbourTable<u32, 2, Ipv6Addr> = NeighbourTable::new(16, TIMERS);
        assert!(!t.learn(a("fe80::1"), MAC, 0, false, |_, _| {}));
        assert_eq!(
            t.resolve(a("2001:db8::7"), 1, 0),
            Resolution::Queued { send_request: true }
        );
        let mut out = Vec::new();
        assert!(t.learn(a("2001:db8::7"), MAC, 1, false, |p, m| out.push((p, m))));
        assert_eq!(out, vec![(1, MAC)]);
        assert!(t.learn(a("fe80::1"), MAC, 2, true, |_, _| {}));
        // Addresses that differ only in the prefix are apart.
        assert_eq!(t.lookup(a("2001:db9::7")), None);
        let mut listed: Vec<_> = t.states(3).collect();
        listed.sort();
        assert_eq!(
            listed,
            vec![
                (a("2001:db8::7"), Some(MAC), "reachable"),
                (a("fe80::1"), Some(MAC), "reachable")
            ]
        );
    }
}
