//! The per-worker fragment table: what a datagram's first fragment was
//! decided, for its later fragments, which carry no ports.
//!
//! Fragments are forwarded, never reassembled. A datagram is known by
//! (source, destination, protocol, IP identification), [`FragKey`]. The
//! first fragment goes through the pipeline as the TCP or UDP packet it
//! starts; the pipeline records here how it was forwarded (a decision `D`,
//! the rewrite), and later fragments take the same one. A later fragment
//! that comes before its first is held (at most [`HOLD_PER_DATAGRAM`] per
//! datagram and [`HOLD_PER_WORKER`] per worker) and released when the
//! decision is recorded, or dropped when the datagram's entry times out.
//!
//! Every entry remembers the byte ranges of the fragments seen, merged, so
//! a fragment overlapping one seen (teardrop) or repeating it is refused.
//! An entry ends when the datagram is complete (ranges `[0, end)` with the
//! last fragment seen), or [`FRAG_TIMEOUT_MS`] after it began.
//!
//! Fixed capacity, allocated once: [`FRAG_ENTRIES`] entries in sets of
//! [`WAYS`], found by a hash of the key. A set whose entries are all live
//! refuses a new datagram (`frag_table_full`): a flood of fragments cannot
//! push out the datagrams already in flight.

use std::net::{Ipv4Addr, Ipv6Addr};

use arrayvec::ArrayVec;

pub mod decision6;
pub mod decision64;
pub mod reasm;
pub mod split;

use crate::flow::Origin;

/// Datagrams in flight per worker.
pub const FRAG_ENTRIES: usize = 1024;
/// Entries per set (one hash, four keys compared).
pub const WAYS: usize = 4;
/// How long a datagram's fragments may take, from its first fragment seen
/// (whichever that is) to its last.
pub const FRAG_TIMEOUT_MS: u64 = 2000;
/// Later fragments one datagram may hold while its first is awaited.
pub const HOLD_PER_DATAGRAM: usize = 8;
/// Later fragments one worker may hold in all.
pub const HOLD_PER_WORKER: usize = 64;
/// Separate byte ranges an entry keeps (fragments in order merge into one).
const RANGES: usize = 8;

/// The datagram a fragment belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FragKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub ident: u16,
}

impl FragKey {
    /// The spread of a key over sets and over workers: multiplicative
    /// hashing, the upper half.
    #[inline]
    pub fn hash(&self) -> u32 {
        let a = u64::from(u32::from(self.src)) << 32 | u64::from(u32::from(self.dst));
        let b = (u64::from(self.proto) << 16 | u64::from(self.ident))
            .wrapping_mul(0xff51_afd7_ed55_8ccd);
        ((a ^ b).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
    }
}

/// The datagram an IPv6 fragment belongs to (RFC 8200 4.5: source,
/// destination and the 32-bit identification; the protocol is not part
/// of it). A key of its own, so IPv4's entries do not grow.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FragKey6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub ident: u32,
}

impl FragKey6 {
    /// The spread of a key over sets and over workers, as [`FragKey::hash`].
    #[inline]
    pub fn hash(&self) -> u32 {
        let (s, d) = (u128::from(self.src), u128::from(self.dst));
        let a = (s as u64) ^ ((s >> 64) as u64).rotate_left(17);
        let b = (d as u64) ^ ((d >> 64) as u64).rotate_left(29);
        let x = a.wrapping_mul(0xff51_afd7_ed55_8ccd)
            ^ b
            ^ u64::from(self.ident).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
    }
}

/// What the fragment table needs of a key: a hash, and a value for the
/// free entries.
pub trait TableKey: Copy + Eq {
    const UNUSED: Self;
    fn spread(&self) -> u32;
}

impl TableKey for FragKey {
    const UNUSED: Self = FragKey {
        src: Ipv4Addr::UNSPECIFIED,
        dst: Ipv4Addr::UNSPECIFIED,
        proto: 0,
        ident: 0,
    };
    #[inline]
    fn spread(&self) -> u32 {
        self.hash()
    }
}

impl TableKey for FragKey6 {
    const UNUSED: Self = FragKey6 {
        src: Ipv6Addr::UNSPECIFIED,
        dst: Ipv6Addr::UNSPECIFIED,
        ident: 0,
    };
    #[inline]
    fn spread(&self) -> u32 {
        self.hash()
    }
}

/// How a datagram's first fragment was forwarded, so its later fragments
/// go the same way.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FragRewrite {
    /// NAT, FULLNAT, SNAT: the addresses the first one left with (its
    /// ports and L4 checksum are in the first fragment only).
    Translate { src: Ipv4Addr, dst: Ipv4Addr },
    /// DR: to the real server, MACs only.
    Direct { real: Ipv4Addr },
    /// TUN: to the real server in IP-in-IP.
    Tunnel { real: Ipv4Addr },
    /// NAT64's reply: translated to IPv6 (`pipeline/nat64_frag.rs`). The
    /// IPv6 addresses are kept beside the table, by the datagram's slot,
    /// so that this enum (in every redirect ring's element) does not grow.
    ToIpv6,
    /// The first fragment was not forwarded: the rest are dropped.
    Refused,
}

/// A datagram's decision: the rewrite, and what its fragments are counted on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FragDecision {
    pub rewrite: FragRewrite,
    pub origin: Origin,
    pub backend: u32,
    pub inbound: bool,
}

impl FragDecision {
    /// The decision for a first fragment that was not forwarded.
    pub const REFUSED: FragDecision = FragDecision {
        rewrite: FragRewrite::Refused,
        origin: Origin::Service(0),
        backend: u32::MAX,
        inbound: true,
    };
}

/// The worker of `workers` that owns a datagram's fragments: the key's
/// hash scaled to the range (its upper bits; the table's sets use the
/// lower ones).
#[inline]
pub fn frag_owner(key: &FragKey, workers: usize) -> usize {
    ((u64::from(key.hash()) * workers as u64) >> 32) as usize
}

/// [`frag_owner`] of an IPv6 datagram.
#[inline]
pub fn frag_owner6(key: &FragKey6, workers: usize) -> usize {
    ((u64::from(key.hash()) * workers as u64) >> 32) as usize
}

/// One fragment's place in its datagram, in bytes of the IP payload.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Piece {
    pub start: u32,
    pub end: u32,
    /// The more-fragments flag was clear: this is the datagram's end.
    pub last: bool,
}

/// Why the table refused a fragment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Refused {
    /// It overlaps or repeats a piece seen, or lies past the last piece's
    /// end, or the datagram is in too many pieces to track.
    Overlap,
    /// No entry free in its set.
    Full,
    /// A later fragment to hold, with the datagram's or the worker's hold full.
    HoldFull,
}

/// A slot of the table, as returned by [`FragTable::enter`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Slot(usize);

impl Slot {
    /// The slot's place in its table, below [`FRAG_ENTRIES`]: what a
    /// table kept beside it is indexed by.
    pub fn index(self) -> usize {
        self.0
    }
}

struct Entry<P, D, K> {
    key: K,
    live: bool,
    /// When the entry began (ms).
    born: u64,
    decision: Option<D>,
    /// Byte ranges seen, sorted and merged.
    seen: ArrayVec<(u32, u32), RANGES>,
    /// The datagram's end, once its last piece was seen.
    end: Option<u32>,
    /// Later fragments waiting for the decision, with their ports.
    held: ArrayVec<(P, u16), HOLD_PER_DATAGRAM>,
}

impl<P, D, K: TableKey> Entry<P, D, K> {
    fn empty() -> Self {
        Entry {
            key: K::UNUSED,
            live: false,
            born: 0,
            decision: None,
            seen: ArrayVec::new(),
            end: None,
            held: ArrayVec::new(),
        }
    }

    fn expired(&self, now: u64) -> bool {
        now.saturating_sub(self.born) >= FRAG_TIMEOUT_MS
    }

    fn complete(&self) -> bool {
        matches!((self.seen.as_slice(), self.end), ([(0, e)], Some(end)) if *e == end)
    }
}

/// What the table's upkeep let go: held fragments whose entry timed out
/// (to be counted `frag_timeout`; dropping them freed them).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Expired {
    pub held_dropped: u64,
    pub entries: u64,
}

/// One worker's fragment table; `P` is the packet held, `D` the decision,
/// `K` the datagram's key (IPv4's [`FragKey`] or IPv6's [`FragKey6`]).
pub struct FragTable<P, D, K = FragKey> {
    entries: Vec<Entry<P, D, K>>,
    /// Fragments held in all entries.
    held: usize,
    /// Entries live (upkeep is skipped when none is).
    live: usize,
}

impl<P, D: Copy, K: TableKey> Default for FragTable<P, D, K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P, D: Copy, K: TableKey> FragTable<P, D, K> {
    /// A table of [`FRAG_ENTRIES`] entries, allocated now and never again.
    pub fn new() -> Self {
        FragTable {
            entries: (0..FRAG_ENTRIES).map(|_| Entry::empty()).collect(),
            held: 0,
            live: 0,
        }
    }

    /// Fragments held now.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Datagrams tracked now.
    pub fn live(&self) -> usize {
        self.live
    }

    /// The entry of `key`'s datagram: the live one, or a new one in a free
    /// (or timed-out) entry of its set. A timed-out entry taken over has its
    /// held fragments dropped: counted in `expired`.
    pub fn enter(&mut self, key: K, now: u64, expired: &mut Expired) -> Result<Slot, Refused> {
        let set = (key.spread() as usize % (FRAG_ENTRIES / WAYS)) * WAYS;
        let mut free = None;
        for i in set..set + WAYS {
            let Some(e) = self.entries.get(i) else {
                break;
            };
            if e.live && e.key == key && !e.expired(now) {
                return Ok(Slot(i));
            }
            if free.is_none() && (!e.live || e.expired(now)) {
                free = Some(i);
            }
        }
        let i = free.ok_or(Refused::Full)?;
        self.release(i, expired);
        let e = self.entries.get_mut(i).ok_or(Refused::Full)?;
        e.key = key;
        e.live = true;
        e.born = now;
        self.live += 1;
        Ok(Slot(i))
    }

    /// Frees entry `i` if live, dropping what it holds (counted in `expired`).
    fn release(&mut self, i: usize, expired: &mut Expired) {
        let Some(e) = self.entries.get_mut(i) else {
            return;
        };
        if !e.live {
            return;
        }
        let dropped = e.held.len();
        e.held.clear();
        e.live = false;
        e.decision = None;
        e.seen.clear();
        e.end = None;
        self.held -= dropped;
        self.live -= 1;
        expired.held_dropped += dropped as u64;
        expired.entries += 1;
    }

    /// Records a piece of the datagram; refuses one that overlaps a piece
    /// seen, or lies past (or moves) its end.
    pub fn note(&mut self, slot: Slot, piece: Piece) -> Result<(), Refused> {
        let e = self.entries.get_mut(slot.0).ok_or(Refused::Overlap)?;
        if piece.start >= piece.end && !piece.last {
            return Err(Refused::Overlap);
        }
        if let Some(end) = e.end {
            if piece.end > end || piece.last {
                return Err(Refused::Overlap);
            }
        }
        if piece.last && e.seen.iter().any(|&(_, end)| end > piece.end) {
            return Err(Refused::Overlap);
        }
        if e.seen
            .iter()
            .any(|&(s, end)| piece.start < end && s < piece.end)
        {
            return Err(Refused::Overlap);
        }
        // Insert in order, merging with the neighbours it touches.
        let at = e.seen.partition_point(|&(s, _)| s < piece.start);
        let mut range = (piece.start, piece.end);
        let mut at = at;
        if at > 0 && e.seen.get(at - 1).is_some_and(|&(_, end)| end == range.0) {
            range.0 = e.seen.remove(at - 1).0;
            at -= 1;
        }
        if e.seen.get(at).is_some_and(|&(s, _)| s == range.1) {
            range.1 = e.seen.remove(at).1;
        }
        e.seen.try_insert(at, range).map_err(|_| Refused::Overlap)?;
        if piece.last {
            e.end = Some(piece.end);
        }
        Ok(())
    }

    /// The decision recorded for the datagram, if any yet.
    pub fn decision(&self, slot: Slot) -> Option<D> {
        self.entries.get(slot.0).and_then(|e| e.decision)
    }

    /// Records the datagram's decision and gives back the fragments held
    /// for it, in their order.
    pub fn decide(&mut self, slot: Slot, d: D) -> ArrayVec<(P, u16), HOLD_PER_DATAGRAM> {
        let Some(e) = self.entries.get_mut(slot.0) else {
            return ArrayVec::new();
        };
        e.decision = Some(d);
        let held = std::mem::take(&mut e.held);
        self.held -= held.len();
        held
    }

    /// Holds a later fragment until the decision; gives it back if the
    /// datagram's or the worker's hold is full.
    pub fn hold(&mut self, slot: Slot, pkt: P, port: u16) -> Result<(), (P, Refused)> {
        if self.held >= HOLD_PER_WORKER {
            return Err((pkt, Refused::HoldFull));
        }
        let Some(e) = self.entries.get_mut(slot.0) else {
            return Err((pkt, Refused::HoldFull));
        };
        match e.held.try_push((pkt, port)) {
            Ok(()) => {
                self.held += 1;
                Ok(())
            }
            Err(err) => Err((err.element().0, Refused::HoldFull)),
        }
    }

    /// Ends the datagram's entry if every piece of it was seen and nothing
    /// waits in it: its slot is free for the next datagram at once.
    pub fn finish_if_complete(&mut self, slot: Slot) {
        let done = self
            .entries
            .get(slot.0)
            .is_some_and(|e| e.live && e.complete() && e.held.is_empty());
        if done {
            self.release(slot.0, &mut Expired::default());
        }
    }

    /// Upkeep: frees every timed-out entry, dropping what it held. A walk
    /// of the table, so call it rarely (every 100 ms), and only when
    /// `live() > 0`.
    pub fn expire(&mut self, now: u64) -> Expired {
        let mut expired = Expired::default();
        if self.live == 0 {
            return expired;
        }
        for i in 0..self.entries.len() {
            if self
                .entries
                .get(i)
                .is_some_and(|e| e.live && e.expired(now))
            {
                self.release(i, &mut expired);
            }
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ident: u16) -> FragKey {
        FragKey {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            proto: 17,
            ident,
        }
    }

    fn piece(start: u32, end: u32, last: bool) -> Piece {
        Piece { start, end, last }
    }

    #[test]
    fn pieces_in_any_order_complete_a_datagram_and_free_its_entry() {
        let mut t: FragTable<u32, u8> = FragTable::new();
        let mut x = Expired::default();
        let s = t.enter(key(1), 0, &mut x).unwrap();
        t.note(s, piece(1480, 2960, false)).unwrap();
        t.note(s, piece(2960, 4000, true)).unwrap();
        t.finish_if_complete(s);
        assert_eq!(t.live(), 1, "the first piece is missing");
        t.note(s, piece(0, 1480, false)).unwrap();
        t.finish_if_complete(s);
        assert_eq!(t.live(), 0);
        assert_eq!(x, Expired::default());
    }

    #[test]
    fn overlapping_repeated_and_past_the_end_pieces_are_refused() {
        let mut t: FragTable<u32, u8> = FragTable::new();
        let mut x = Expired::default();
        let s = t.enter(key(1), 0, &mut x).unwrap();
        t.note(s, piece(0, 1480, false)).unwrap();
        assert_eq!(t.note(s, piece(0, 1480, false)), Err(Refused::Overlap));
        assert_eq!(t.note(s, piece(1000, 2000, false)), Err(Refused::Overlap));
        t.note(s, piece(1480, 2000, true)).unwrap();
        assert_eq!(t.note(s, piece(2000, 2400, false)), Err(Refused::Overlap));
        assert_eq!(t.note(s, piece(2000, 2400, true)), Err(Refused::Overlap));
        let s2 = t.enter(key(2), 0, &mut x).unwrap();
        t.note(s2, piece(3000, 4000, false)).unwrap();
        assert_eq!(
            t.note(s2, piece(0, 2000, true)),
            Err(Refused::Overlap),
            "a last piece ending before a piece seen"
        );
    }

    #[test]
    fn held_fragments_leave_with_the_decision_or_time_out() {
        let mut t: FragTable<u32, u8> = FragTable::new();
        let mut x = Expired::default();
        let s = t.enter(key(1), 10, &mut x).unwrap();
        t.hold(s, 100, 0).unwrap();
        t.hold(s, 101, 1).unwrap();
        assert_eq!(t.held(), 2);
        let released = t.decide(s, 7);
        assert_eq!(released.as_slice(), &[(100, 0), (101, 1)]);
        assert_eq!((t.held(), t.decision(s)), (0, Some(7)));

        let s = t.enter(key(2), 10, &mut x).unwrap();
        t.hold(s, 200, 0).unwrap();
        assert_eq!(t.expire(10 + FRAG_TIMEOUT_MS - 1).held_dropped, 0);
        let e = t.expire(10 + FRAG_TIMEOUT_MS);
        assert_eq!((e.held_dropped, e.entries), (1, 2));
        assert_eq!((t.held(), t.live()), (0, 0));
    }

    #[test]
    fn holds_are_bounded_per_datagram_and_per_worker() {
        let mut t: FragTable<u32, u8> = FragTable::new();
        let mut x = Expired::default();
        let s = t.enter(key(1), 0, &mut x).unwrap();
        for i in 0..HOLD_PER_DATAGRAM as u32 {
            t.hold(s, i, 0).unwrap();
        }
        assert_eq!(t.hold(s, 99, 0), Err((99, Refused::HoldFull)));
        let mut ident = 2;
        while t.held() < HOLD_PER_WORKER {
            let s = t.enter(key(ident), 0, &mut x).unwrap();
            ident += 1;
            while t.held() < HOLD_PER_WORKER && t.hold(s, 1, 0).is_ok() {}
        }
        let s = t.enter(key(ident), 0, &mut x).unwrap();
        assert_eq!(t.hold(s, 5, 0), Err((5, Refused::HoldFull)));
    }

    #[test]
    fn a_full_set_refuses_new_datagrams_until_its_entries_time_out() {
        let mut t: FragTable<u32, u8> = FragTable::new();
        let mut x = Expired::default();
        let set_of = |k: FragKey| k.hash() as usize % (FRAG_ENTRIES / WAYS);
        let target = set_of(key(0));
        let same: Vec<FragKey> = (0..=u16::MAX)
            .map(key)
            .filter(|&k| set_of(k) == target)
            .take(WAYS + 1)
            .collect();
        for &k in &same[..WAYS] {
            t.enter(k, 0, &mut x).unwrap();
        }
        assert_eq!(t.enter(same[WAYS], 1, &mut x), Err(Refused::Full));
        assert!(
            t.enter(same[0], 1, &mut x).is_ok(),
            "a live key finds its entry"
        );
        assert!(t.enter(same[WAYS], FRAG_TIMEOUT_MS, &mut x).is_ok());
    }
}
