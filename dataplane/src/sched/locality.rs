//! Locality-based least connection, IPVS's lblc and lblcr: a table maps a
//! flow's destination address to the backend (lblc) or set of backends
//! (lblcr) that served it, so requests for one destination (a cache
//! cluster's origin) keep hitting the same cache.
//!
//! As ip_vs_lblc.c / ip_vs_lblcr.c:
//! - lblc: the remembered backend is used while it has weight and is not
//!   overloaded (more active connections than its weight while some backend
//!   is below half of its own); otherwise weighted least connection picks
//!   a new one, which replaces it.
//! - lblcr: the least loaded backend of the set is used while not
//!   overloaded; otherwise weighted least connection picks one and it joins
//!   the set. A set that has not changed for `EXPIRATION_MS` drops its most
//!   loaded member (when it has more than one).
//! - Entries unused for `EXPIRATION_MS` are forgotten; when the table is
//!   full, an entry unused for `ENTRY_TIMEOUT_MS` makes room, else the
//!   pick stands without being remembered.
//!
//! The table is allocated whole when the scheduler is built (a fixed number
//! of destinations, each set a bitmap over the backends), so picking never
//! allocates. Differences from IPVS: the table holds at most
//! `LOCALITY_ENTRIES` destinations (IPVS grows and garbage-collects on a
//! timer); ties inside an lblcr set go to the backend first in address
//! order rather than the most recently added.

use std::net::Ipv4Addr;
use std::sync::OnceLock;
use std::time::Instant;

use super::ipvs::{most_loaded_among, overloaded, wlc_among};
use super::Backend;
use crate::flow::ConnCounts;

/// Destinations remembered per scheduler. A service's flows all go to its
/// VIP, so one is used per service today; more serve services that match
/// many destinations.
pub const LOCALITY_ENTRIES: usize = 256;
/// IPVS's ENTRY_TIMEOUT: how long an entry is kept when room is needed.
pub const ENTRY_TIMEOUT_MS: u64 = 6 * 60 * 1000;
/// IPVS's default lblc_expiration / lblcr_expiration: a day.
pub const EXPIRATION_MS: u64 = 24 * 60 * 60 * 1000;

/// Milliseconds on a monotonic clock, for entry ages.
pub fn monotonic_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    dst: Ipv4Addr,
    in_use: bool,
    last_use: u64,
    /// lblcr: when the set last changed.
    last_mod: u64,
    /// lblc: the remembered backend.
    backend: u32,
}

const FREE: Slot = Slot {
    dst: Ipv4Addr::UNSPECIFIED,
    in_use: false,
    last_use: 0,
    last_mod: 0,
    backend: 0,
};

#[derive(Clone, Debug)]
pub struct LocalityTable {
    /// lblcr: a set of backends per destination; lblc: one.
    replicated: bool,
    slots: Vec<Slot>,
    /// lblcr's sets: `words` u64s per slot, bit i = backend index i.
    sets: Vec<u64>,
    words: usize,
}

impl LocalityTable {
    pub fn new(replicated: bool, backends: usize) -> LocalityTable {
        let words = if replicated { backends.div_ceil(64) } else { 0 };
        LocalityTable {
            replicated,
            slots: vec![FREE; LOCALITY_ENTRIES],
            sets: vec![0; LOCALITY_ENTRIES * words],
            words,
        }
    }

    fn find(&self, dst: Ipv4Addr, now: u64) -> Option<usize> {
        self.slots.iter().position(|s| {
            s.in_use && s.dst == dst && now.saturating_sub(s.last_use) <= EXPIRATION_MS
        })
    }

    /// A slot for a new entry: a free or expired one, or one unused for
    /// ENTRY_TIMEOUT_MS.
    fn room(&self, dst: Ipv4Addr, now: u64) -> Option<usize> {
        let age = |s: &Slot| now.saturating_sub(s.last_use);
        self.slots
            .iter()
            .position(|s| s.in_use && s.dst == dst)
            .or_else(|| {
                self.slots
                    .iter()
                    .position(|s| !s.in_use || age(s) > EXPIRATION_MS)
            })
            .or_else(|| self.slots.iter().position(|s| age(s) > ENTRY_TIMEOUT_MS))
    }

    fn set(&mut self, slot: usize) -> &mut [u64] {
        &mut self.sets[slot * self.words..(slot + 1) * self.words]
    }

    fn members(&self, slot: usize) -> impl Iterator<Item = usize> + '_ {
        let set = &self.sets[slot * self.words..(slot + 1) * self.words];
        set.iter().enumerate().flat_map(|(w, bits)| {
            (0..64)
                .filter(move |b| bits & (1u64 << b) != 0)
                .map(move |b| w * 64 + b)
        })
    }

    /// Backends in `dst`'s set (lblcr), for tests and reports.
    pub fn set_of(&self, dst: Ipv4Addr, now: u64) -> Vec<usize> {
        match self.find(dst, now) {
            Some(slot) if self.replicated => self.members(slot).collect(),
            Some(slot) => vec![self.slots[slot].backend as usize],
            None => Vec::new(),
        }
    }

    pub fn pick(
        &mut self,
        backends: &[Backend],
        conns: &ConnCounts,
        dst: Ipv4Addr,
        now: u64,
    ) -> Option<usize> {
        if self.replicated {
            self.pick_replicated(backends, conns, dst, now)
        } else {
            self.pick_single(backends, conns, dst, now)
        }
    }

    fn pick_single(
        &mut self,
        backends: &[Backend],
        conns: &ConnCounts,
        dst: Ipv4Addr,
        now: u64,
    ) -> Option<usize> {
        if let Some(slot) = self.find(dst, now) {
            self.slots[slot].last_use = now;
            let i = self.slots[slot].backend as usize;
            if backends.get(i).is_some_and(|b| b.weight > 0) && !overloaded(backends, conns, i) {
                return Some(i);
            }
        }
        let i = wlc_among(backends, conns, 0..backends.len())?;
        if let Some(slot) = self.room(dst, now) {
            self.slots[slot] = Slot {
                dst,
                in_use: true,
                last_use: now,
                last_mod: now,
                backend: i as u32,
            };
        }
        Some(i)
    }

    fn pick_replicated(
        &mut self,
        backends: &[Backend],
        conns: &ConnCounts,
        dst: Ipv4Addr,
        now: u64,
    ) -> Option<usize> {
        let Some(slot) = self.find(dst, now) else {
            let i = wlc_among(backends, conns, 0..backends.len())?;
            if let Some(slot) = self.room(dst, now) {
                self.slots[slot] = Slot {
                    dst,
                    in_use: true,
                    last_use: now,
                    last_mod: now,
                    backend: 0,
                };
                self.set(slot).fill(0);
                self.insert(slot, i, now);
            }
            return Some(i);
        };
        self.slots[slot].last_use = now;
        let least = wlc_among(backends, conns, self.members(slot));
        let size = self.members(slot).count();
        if size > 1 && now.saturating_sub(self.slots[slot].last_mod) > EXPIRATION_MS {
            if let Some(m) = most_loaded_among(backends, conns, self.members(slot)) {
                self.set(slot)[m / 64] &= !(1u64 << (m % 64));
                self.slots[slot].last_mod = now;
            }
        }
        if let Some(i) = least.filter(|&i| !overloaded(backends, conns, i)) {
            return Some(i);
        }
        let i = wlc_among(backends, conns, 0..backends.len())?;
        self.insert(slot, i, now);
        Some(i)
    }

    fn insert(&mut self, slot: usize, i: usize, now: u64) {
        let (w, bit) = (i / 64, 1u64 << (i % 64));
        if self.set(slot)[w] & bit == 0 {
            self.set(slot)[w] |= bit;
            self.slots[slot].last_mod = now;
        }
    }
}
