//! The per-worker session table: a preallocated slab of sessions, an
//! open-addressing index holding each session under its inbound and its
//! outbound tuple, and a hashed timer wheel threaded through the sessions.
//!
//! Nothing here allocates after [`SessionTable::new`]. The index is keyed by a
//! hash seeded at random for each table (foldhash by default), so remote
//! peers cannot compute tuples that share one probe run. foldhash rather
//! than std's SipHash-1-3: every packet hashes its tuple, SipHash took about
//! a tenth of the worker's time in a NAT profile, and a seeded multiply-fold
//! hash is the class of defence IPVS (jhash with a random seed) relies on.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;

use super::proto::{tcp_next, ProtoState, TcpDir, Timeouts};
pub use super::session::{
    session_flags, Direction, Forwarding, Hit, InsertError, NewSession, Origin, Session, SessionId,
};
pub use crate::net::hop_cache::{HopHint, NO_HOP_HINT};
use crate::tuple::{FiveTuple, FlowKey};

pub(super) use super::session::NIL;

/// Sessions ahead of the one being expired whose index slots are
/// prefetched.
const EXPIRY_LOOKAHEAD: usize = 8;
/// Largest capacity: ids are 31 bits in an index entry (one bit is the
/// direction).
pub const MAX_CAPACITY: usize = (1 << 31) - 2;
/// A session's birth is kept in units of 16 ms (`now_ms >> 4`): finer
/// than the wheel's tick, and a u32 of them wraps after 2.2 years rather
/// than the 49 days of milliseconds.
pub const BIRTH_UNIT_MS: u64 = 16;
const BIRTH_SHIFT: u32 = BIRTH_UNIT_MS.trailing_zeros();

/// Index slots per indexed tuple: load factor at most 0.6 when full, which
/// keeps linear probing to about two slots on a hit and four on a miss.
const INDEX_SLOTS_PER_ENTRY: f64 = 1.0 / 0.6;

/// IPv6 sessions per worker unless configured (`[sessions] capacity6`):
/// 64 Ki, about 10 MB at 158.7 B a session.
pub const DEFAULT_CAPACITY6: usize = 1 << 16;

/// What the table needs to know at start.
#[derive(Clone, Copy, Debug)]
pub struct TableConfig {
    /// Most sessions held at once.
    pub capacity: usize,
    /// Most IPv6 sessions (and IPv6 persistence templates) held at once,
    /// in a table of their own (`FlowState`): an IPv6 session is two cache
    /// lines, so the IPv6 table is sized apart from the IPv4 one.
    pub capacity6: usize,
    /// Width of a wheel tick in the clock's unit (milliseconds).
    pub tick_ms: u64,
    /// Wheel slots, a power of two. Deadlines beyond `tick_ms * slots` are
    /// reached by re-queueing, so this bounds work, not timeouts.
    pub wheel_slots: usize,
    pub timeouts: Timeouts,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig {
            capacity: 1 << 20,
            capacity6: DEFAULT_CAPACITY6,
            tick_ms: 100,
            // 16384 x 100 ms = 27 min, beyond the longest default timeout.
            wheel_slots: 1 << 14,
            timeouts: Timeouts::default(),
        }
    }
}

#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct TableStats {
    pub inserted: u64,
    pub refused_full: u64,
    pub refused_exists: u64,
    pub expired: u64,
    pub removed: u64,
}

/// State change caused by a packet, for the pipeline's connection counts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Transition {
    pub from: ProtoState,
    pub to: ProtoState,
}

/// Generic over the key (`FlowKey`): IPv4's `FiveTuple` (64-byte
/// sessions, the default) or IPv6's `FiveTuple6` (128-byte ones); each
/// family has its own instance, so IPv4 sessions keep their size.
pub struct SessionTable<S = RandomState, K: FlowKey = FiveTuple> {
    sessions: Vec<Session<K>>,
    /// Index entries: 0 empty, else tag (hash >> 32) << 32 | (id << 1 | dir) + 1.
    index: Vec<u64>,
    /// When each slot's session was made, in [`BIRTH_UNIT_MS`] units
    /// (wrapping): beside the sessions, not in them, which hold exactly a
    /// cache line of what packets read. Read only when a session ends, for
    /// its lifetime.
    born: Vec<u32>,
    free_head: u32,
    len: usize,
    hasher: S,
    // Timer wheel.
    wheel: Vec<u32>,
    wheel_mask: u32,
    /// Next tick whose slot has not been taken yet.
    cursor: u32,
    /// Sessions taken from a slot and not yet examined (expiry ran out of
    /// budget part-way).
    pending: u32,
    tick_ms: u64,
    /// The last two deadlines computed, as (now, timeout, deadline):
    /// packets ask with the same millisecond clock and one of a few
    /// timeouts, and the division costs more than the rest of a refresh.
    recent_deadlines: [(u64, u32, u32); 2],
    timeouts: Timeouts,
    stats: TableStats,
}

/// Error building a table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConfigError {
    Capacity,
    WheelSlots,
    TickMs,
}

impl<K: FlowKey> SessionTable<RandomState, K> {
    /// A table with a fresh random hash key; `now_ms` starts the wheel.
    pub fn new(config: TableConfig, now_ms: u64) -> Result<Self, ConfigError> {
        Self::with_hasher(config, now_ms, RandomState::default())
    }
}

impl<S: BuildHasher, K: FlowKey> SessionTable<S, K> {
    pub fn with_hasher(config: TableConfig, now_ms: u64, hasher: S) -> Result<Self, ConfigError> {
        if config.capacity == 0 || config.capacity > MAX_CAPACITY {
            return Err(ConfigError::Capacity);
        }
        if !config.wheel_slots.is_power_of_two() || config.wheel_slots > 1 << 24 {
            return Err(ConfigError::WheelSlots);
        }
        if config.tick_ms == 0 {
            return Err(ConfigError::TickMs);
        }
        let index_len = index_len_for(config.capacity);
        if index_len > u32::MAX as usize {
            return Err(ConfigError::Capacity);
        }
        let mut sessions = huge_vec(Session::<K>::VACANT, config.capacity);
        // Free list threaded through `timer_next`, lowest ids first.
        for (i, s) in sessions.iter_mut().enumerate() {
            s.timer_next = if i + 1 < config.capacity {
                i as u32 + 1
            } else {
                NIL
            };
        }
        Ok(SessionTable {
            sessions,
            index: huge_vec(0, index_len),
            born: huge_vec(0, config.capacity),
            free_head: 0,
            len: 0,
            hasher,
            wheel: vec![NIL; config.wheel_slots],
            wheel_mask: config.wheel_slots as u32 - 1,
            cursor: (now_ms / config.tick_ms) as u32,
            pending: NIL,
            tick_ms: config.tick_ms,
            // Seeded with a true entry, so an unused one never answers wrongly.
            recent_deadlines: [(u64::MAX, u32::MAX, u64::MAX.div_ceil(config.tick_ms) as u32); 2],
            timeouts: config.timeouts,
            stats: TableStats::default(),
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn capacity(&self) -> usize {
        self.sessions.len()
    }
    pub fn stats(&self) -> TableStats {
        self.stats
    }
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }
    /// New timeouts apply from each session's next state change or refresh.
    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.timeouts = timeouts;
    }

    /// Bytes of memory held, from the real allocation sizes.
    pub fn memory_bytes(&self) -> usize {
        self.sessions.capacity() * std::mem::size_of::<Session<K>>()
            + self.index.capacity() * std::mem::size_of::<u64>()
            + self.born.capacity() * std::mem::size_of::<u32>()
            + self.wheel.capacity() * std::mem::size_of::<u32>()
            + std::mem::size_of::<Self>()
    }

    /// The keyed hash of a tuple, for [`prefetch_hashed`](Self::prefetch_hashed)
    /// and [`lookup_hashed`](Self::lookup_hashed).
    #[inline]
    pub fn hash(&self, t: &K) -> u64 {
        t.hash_with(&self.hasher)
    }

    #[inline]
    fn home(&self, tag: u32) -> usize {
        // Multiply-shift range reduction: any table length, no division.
        ((u64::from(tag) * self.index.len() as u64) >> 32) as usize
    }

    /// Hashes `t` and pulls its first index line into cache; pass the hash to
    /// `lookup_hashed`. Use across a burst so the misses overlap.
    #[inline]
    pub fn prefetch(&self, t: &K) -> u64 {
        let h = self.hash(t);
        self.prefetch_hashed(h);
        h
    }

    #[inline]
    pub fn prefetch_hashed(&self, hash: u64) {
        let pos = self.home((hash >> 32) as u32);
        prefetch_read(&self.index[pos]);
    }

    /// Pulls a session's line into cache.
    #[inline]
    pub fn prefetch_session(&self, id: SessionId) {
        prefetch_read(&self.sessions[id.index()]);
    }

    /// Second stage of a burst, after `prefetch_hashed`: finds the first index
    /// entry whose tag matches (its line is cached by now) and pulls that
    /// session's line, so `lookup_hashed` then finds both in cache.
    #[inline]
    pub fn prefetch_candidate(&self, hash: u64) {
        let tag = (hash >> 32) as u32;
        let mut pos = self.home(tag);
        loop {
            let e = self.index[pos];
            if e == 0 {
                return;
            }
            if (e >> 32) as u32 == tag {
                prefetch_read(&self.sessions[decode(e).0 as usize]);
                return;
            }
            pos += 1;
            if pos == self.index.len() {
                pos = 0;
            }
        }
    }

    #[inline]
    pub fn lookup(&self, t: &K) -> Option<Hit> {
        self.lookup_hashed(t, self.hash(t))
    }

    pub fn lookup_hashed(&self, t: &K, hash: u64) -> Option<Hit> {
        let tag = (hash >> 32) as u32;
        let mut pos = self.home(tag);
        loop {
            let e = self.index[pos];
            if e == 0 {
                return None;
            }
            if (e >> 32) as u32 == tag {
                let (id, dir) = decode(e);
                let s = &self.sessions[id as usize];
                let key = match dir {
                    Direction::Inbound => &s.inbound,
                    Direction::Outbound => &s.outbound,
                };
                if key == t {
                    return Some(Hit {
                        id: SessionId(id),
                        dir,
                    });
                }
            }
            pos += 1;
            if pos == self.index.len() {
                pos = 0;
            }
        }
    }

    pub fn get(&self, id: SessionId) -> &Session<K> {
        &self.sessions[id.index()]
    }
    pub fn get_mut(&mut self, id: SessionId) -> &mut Session<K> {
        &mut self.sessions[id.index()]
    }

    /// Marks session `id` as one the SYN proxy splices.
    pub fn mark_syn_proxied(&mut self, id: SessionId) {
        self.get_mut(id).flags |= session_flags::SYN_PROXY;
    }

    /// Marks session `id` as one whose client direction carries a PROXY
    /// protocol header.
    pub fn mark_proxy_header(&mut self, id: SessionId) {
        self.get_mut(id).flags |= session_flags::PROXY_HEADER;
    }

    /// Remembers where session `id`'s packets travelling `dir` found
    /// their next hop.
    #[inline]
    pub fn set_hop_hint(&mut self, id: SessionId, dir: Direction, hint: HopHint) {
        self.sessions[id.index()].hop_hints[dir as usize] = hint;
    }

    /// Creates a session reachable by its inbound and outbound tuples.
    pub fn insert(&mut self, new: &NewSession<K>, now_ms: u64) -> Result<SessionId, InsertError> {
        let inbound_hash = self.hash(&new.inbound);
        self.insert_hashed(new, inbound_hash, now_ms)
    }

    /// As `insert`, reusing the inbound hash the burst's lookup computed;
    /// it must be `self.hash(&new.inbound)` or the session is unreachable.
    pub fn insert_hashed(
        &mut self,
        new: &NewSession<K>,
        inbound_hash: u64,
        now_ms: u64,
    ) -> Result<SessionId, InsertError> {
        let NewSession {
            inbound,
            outbound,
            origin,
            forwarding,
            backend,
            state,
            flags,
            timeout_ms,
        } = *new;
        let (inbound, outbound) = (&inbound, &outbound);
        let timeout_ms = timeout_ms.or(self.timeouts.for_state(state)).unwrap_or(0);
        let in_hash = inbound_hash;
        let single = inbound == outbound;
        let out_hash = if single { in_hash } else { self.hash(outbound) };
        if self.lookup_hashed(inbound, in_hash).is_some()
            || (!single && self.lookup_hashed(outbound, out_hash).is_some())
        {
            self.stats.refused_exists += 1;
            return Err(InsertError::Exists);
        }
        let id = self.free_head;
        if id == NIL {
            self.stats.refused_full += 1;
            return Err(InsertError::Full);
        }
        self.free_head = self.sessions[id as usize].timer_next;
        let expires = self.deadline(now_ms, timeout_ms);
        let kept = flags & !(session_flags::IN_USE | session_flags::SINGLE | session_flags::SNAT);
        let mut s_flags = kept | session_flags::IN_USE;
        if single {
            s_flags |= session_flags::SINGLE;
        }
        let origin_id = match origin {
            Origin::Service(id) => id,
            Origin::Snat(id) => {
                s_flags |= session_flags::SNAT;
                id
            }
        };
        self.sessions[id as usize] = Session {
            inbound: *inbound,
            outbound: *outbound,
            expires,
            timer_tick: 0,
            timer_next: NIL,
            timer_prev: NIL,
            backend,
            origin_id,
            hop_hints: [NO_HOP_HINT; 2],
            state,
            flags: s_flags,
            forwarding,
            keys_delta: K::keys_delta(inbound, outbound),
        };
        self.born[id as usize] = birth_units(now_ms);
        self.index_insert((in_hash >> 32) as u32, id, Direction::Inbound);
        if !single {
            self.index_insert((out_hash >> 32) as u32, id, Direction::Outbound);
        }
        self.wheel_link(id, expires);
        self.len += 1;
        self.stats.inserted += 1;
        Ok(SessionId(id))
    }

    /// Pushes the deadline to `now + timeout` of the session's current state.
    pub fn refresh(&mut self, id: SessionId, now_ms: u64) {
        let state = self.sessions[id.index()].state;
        if let Some(t) = self.timeouts.for_state(state) {
            self.refresh_with_timeout(id, t, now_ms);
        }
    }

    pub fn refresh_with_timeout(&mut self, id: SessionId, timeout_ms: u32, now_ms: u64) {
        let expires = self.deadline(now_ms, timeout_ms);
        let s = &mut self.sessions[id.index()];
        s.expires = expires;
        // Later deadlines are found when the wheel reaches the current slot
        // (one re-queue per timeout period at most); earlier ones must move.
        if tick_before(expires, s.timer_tick) {
            self.wheel_unlink(id.0);
            self.wheel_link(id.0, expires);
        }
    }

    /// Feeds a TCP segment to the session's state machine and re-arms its
    /// timer for the new state. Non-TCP sessions are only refreshed.
    pub fn on_tcp(&mut self, id: SessionId, dir: TcpDir, tcp_flags: u8, now_ms: u64) -> Transition {
        let from = self.sessions[id.index()].state;
        let to = match from {
            ProtoState::Tcp(s) => ProtoState::Tcp(tcp_next(s, dir, tcp_flags)),
            other => other,
        };
        self.sessions[id.index()].state = to;
        self.refresh(id, now_ms);
        Transition { from, to }
    }

    /// How long session `id` has lived at `now_ms`, in milliseconds (to
    /// [`BIRTH_UNIT_MS`]); for a removed one, how long its slot's last
    /// session lived, until the slot is reused.
    pub fn lifetime_ms(&self, id: SessionId, now_ms: u64) -> u64 {
        self.born
            .get(id.index())
            .map_or(0, |&born| lifetime_ms(born, now_ms))
    }

    /// Removes a live session now (flush, or a protocol reason). Returns the
    /// session so the caller can release what it held.
    pub fn remove(&mut self, id: SessionId) -> Option<Session<K>> {
        let s = *self.sessions.get(id.index())?;
        if s.flags & session_flags::IN_USE == 0 {
            return None;
        }
        self.wheel_unlink(id.0);
        self.release(id.0);
        self.stats.removed += 1;
        Some(s)
    }

    /// Expires sessions whose deadline has passed at `now_ms`, at most
    /// `budget` of them, handing each to `on_expire` with its lifetime in
    /// ms after it left the table (release its local port and backend
    /// connection count there). Returns how many expired; call again next
    /// burst if it hit the budget.
    pub fn expire(
        &mut self,
        now_ms: u64,
        budget: usize,
        mut on_expire: impl FnMut(&Session<K>, u64),
    ) -> usize {
        let now = (now_ms / self.tick_ms) as u32;
        let slots = self.wheel_mask + 1;
        let mut done = 0;
        // After a long pause, every slot is due once: start one turn back.
        if now.wrapping_sub(self.cursor) < 1 << 31 && now.wrapping_sub(self.cursor) >= slots {
            self.cursor = now.wrapping_sub(slots - 1);
        }
        // The sessions a few places down the list have their index slots
        // prefetched, so the misses of removing them overlap instead of
        // coming one after another: `ahead` is the first not yet
        // prefetched, `gap` how many are between it and the head.
        let (mut ahead, mut gap) = (self.pending, 0);
        loop {
            while self.pending != NIL {
                while gap < EXPIRY_LOOKAHEAD && ahead != NIL {
                    self.prefetch_index_slots(ahead);
                    ahead = self.sessions[ahead as usize].timer_next;
                    gap += 1;
                }
                if done == budget {
                    return done;
                }
                gap -= 1;
                let id = self.pending;
                self.pending = self.sessions[id as usize].timer_next;
                if self.pending != NIL {
                    self.sessions[self.pending as usize].timer_prev = NIL;
                }
                let s = self.sessions[id as usize];
                if tick_before(now, s.expires) {
                    self.wheel_link(id, s.expires);
                } else {
                    self.release(id);
                    self.stats.expired += 1;
                    done += 1;
                    on_expire(&s, lifetime_ms(self.born[id as usize], now_ms));
                }
            }
            if tick_before(now, self.cursor) {
                return done;
            }
            let slot = (self.cursor & self.wheel_mask) as usize;
            self.pending = std::mem::replace(&mut self.wheel[slot], NIL);
            (ahead, gap) = (self.pending, 0);
            self.cursor = self.cursor.wrapping_add(1);
        }
    }

    /// Pulls in the index slots a session's removal starts at, and its
    /// birth (read for its lifetime).
    #[inline]
    fn prefetch_index_slots(&self, id: u32) {
        prefetch_read(&self.born[id as usize]);
        let s = &self.sessions[id as usize];
        prefetch_read(&self.index[self.home(self.tag(&s.inbound))]);
        if s.flags & session_flags::SINGLE == 0 {
            prefetch_read(&self.index[self.home(self.tag(&s.outbound))]);
        }
    }

    /// The index tag of a tuple: the upper half of its hash, which places
    /// its index entry. Removal recomputes it rather than keep it in the
    /// session, whose bytes go to what every packet reads.
    #[inline]
    fn tag(&self, t: &K) -> u32 {
        (self.hash(t) >> 32) as u32
    }

    /// Removes every live session `select` picks (e.g. those of a removed
    /// backend), handing each to `on_removed` with its lifetime at `now_ms`
    /// like `expire` does. Walks the whole slab: for the control path,
    /// between bursts.
    pub fn flush(
        &mut self,
        now_ms: u64,
        mut select: impl FnMut(&Session<K>) -> bool,
        mut on_removed: impl FnMut(&Session<K>, u64),
    ) -> usize {
        let mut n = 0;
        for i in 0..self.sessions.len() {
            let s = self.sessions[i];
            if s.flags & session_flags::IN_USE != 0 && select(&s) {
                self.wheel_unlink(i as u32);
                self.release(i as u32);
                self.stats.removed += 1;
                on_removed(&s, lifetime_ms(self.born[i], now_ms));
                n += 1;
            }
        }
        n
    }

    /// Every live session, for listing (off the packet path).
    pub fn iter(&self) -> impl Iterator<Item = (SessionId, &Session<K>)> {
        self.iter_slots(0..self.sessions.len())
    }

    /// The live sessions in slots `range` (clamped to the capacity): a long
    /// listing walks the table a slice at a time.
    pub fn iter_slots(
        &self,
        range: std::ops::Range<usize>,
    ) -> impl Iterator<Item = (SessionId, &Session<K>)> {
        let end = range.end.min(self.sessions.len());
        let start = range.start.min(end);
        self.sessions[start..end]
            .iter()
            .enumerate()
            .filter(|(_, s)| s.flags & session_flags::IN_USE != 0)
            .map(move |(i, s)| (SessionId((start + i) as u32), s))
    }

    /// Milliseconds from `now_ms` until `s` expires (0 if due).
    pub fn expires_in_ms(&self, s: &Session<K>, now_ms: u64) -> u64 {
        let now_tick = (now_ms / self.tick_ms) as u32;
        let ticks = s.expires.wrapping_sub(now_tick) as i32;
        if ticks <= 0 {
            return 0;
        }
        (ticks as u64 * self.tick_ms).saturating_sub(now_ms % self.tick_ms)
    }

    #[inline]
    fn deadline(&mut self, now_ms: u64, timeout_ms: u32) -> u32 {
        let [a, b] = self.recent_deadlines;
        if (a.0, a.1) == (now_ms, timeout_ms) {
            return a.2;
        }
        if (b.0, b.1) == (now_ms, timeout_ms) {
            return b.2;
        }
        // Rounded up, so a session never expires before its timeout.
        let d = now_ms
            .saturating_add(u64::from(timeout_ms))
            .div_ceil(self.tick_ms) as u32;
        self.recent_deadlines = [(now_ms, timeout_ms, d), a];
        d
    }

    /// Unindexes and frees a session already unlinked from the wheel.
    fn release(&mut self, id: u32) {
        let s = self.sessions[id as usize];
        self.index_remove(self.tag(&s.inbound), id, Direction::Inbound);
        if s.flags & session_flags::SINGLE == 0 {
            self.index_remove(self.tag(&s.outbound), id, Direction::Outbound);
        }
        let slot = &mut self.sessions[id as usize];
        slot.flags = 0;
        slot.timer_next = self.free_head;
        self.free_head = id;
        self.len -= 1;
    }

    fn index_insert(&mut self, tag: u32, id: u32, dir: Direction) {
        let entry = (u64::from(tag) << 32) | (u64::from(id << 1 | dir as u32) + 1);
        let mut pos = self.home(tag);
        // The index has more slots than entries, so an empty one exists.
        while self.index[pos] != 0 {
            pos += 1;
            if pos == self.index.len() {
                pos = 0;
            }
        }
        self.index[pos] = entry;
    }

    /// Linear-probing deletion by backward shift: no tombstones, so probe
    /// lengths do not grow with churn.
    fn index_remove(&mut self, tag: u32, id: u32, dir: Direction) {
        let want = u64::from(id << 1 | dir as u32) + 1;
        let len = self.index.len();
        let mut hole = self.home(tag);
        while self.index[hole] & 0xffff_ffff != want {
            if self.index[hole] == 0 {
                return; // not indexed: nothing to do
            }
            hole = if hole + 1 == len { 0 } else { hole + 1 };
        }
        let mut pos = hole;
        loop {
            pos = if pos + 1 == len { 0 } else { pos + 1 };
            let e = self.index[pos];
            if e == 0 {
                break;
            }
            let home = self.home((e >> 32) as u32);
            // Move e into the hole unless its home lies cyclically in (hole, pos].
            let stays = if hole <= pos {
                hole < home && home <= pos
            } else {
                hole < home || home <= pos
            };
            if !stays {
                self.index[hole] = e;
                hole = pos;
            }
        }
        self.index[hole] = 0;
    }

    /// Links a session into the slot of its deadline, or of the farthest
    /// tick the wheel spans, or of the next tick if the deadline has passed.
    fn wheel_link(&mut self, id: u32, expires: u32) {
        let last = self.cursor.wrapping_add(self.wheel_mask);
        let tick = if tick_before(expires, self.cursor) {
            self.cursor
        } else if tick_before(last, expires) {
            last
        } else {
            expires
        };
        let slot = (tick & self.wheel_mask) as usize;
        let head = self.wheel[slot];
        if head != NIL {
            self.sessions[head as usize].timer_prev = id;
        }
        let s = &mut self.sessions[id as usize];
        s.timer_tick = tick;
        s.timer_next = head;
        s.timer_prev = NIL;
        self.wheel[slot] = id;
    }

    fn wheel_unlink(&mut self, id: u32) {
        let s = self.sessions[id as usize];
        if s.timer_next != NIL {
            self.sessions[s.timer_next as usize].timer_prev = s.timer_prev;
        }
        if s.timer_prev != NIL {
            self.sessions[s.timer_prev as usize].timer_next = s.timer_next;
        } else if self.pending == id {
            self.pending = s.timer_next;
        } else {
            self.wheel[(s.timer_tick & self.wheel_mask) as usize] = s.timer_next;
        }
    }
}

/// Index slots for `capacity` sessions with two entries each.
pub fn index_len_for(capacity: usize) -> usize {
    ((capacity * 2) as f64 * INDEX_SLOTS_PER_ENTRY).ceil() as usize + 1
}

fn decode(entry: u64) -> (u32, Direction) {
    let low = (entry as u32).wrapping_sub(1);
    let dir = if low & 1 == 0 {
        Direction::Inbound
    } else {
        Direction::Outbound
    };
    (low >> 1, dir)
}

/// `now_ms` in the units births are kept in.
#[inline]
fn birth_units(now_ms: u64) -> u32 {
    (now_ms >> BIRTH_SHIFT) as u32
}

/// The milliseconds from a birth to `now_ms` (a clock that went back
/// counts as no time).
fn lifetime_ms(born: u32, now_ms: u64) -> u64 {
    let units = birth_units(now_ms).wrapping_sub(born);
    if units >= 1 << 31 {
        return 0;
    }
    u64::from(units) << BIRTH_SHIFT
}

/// `a` is strictly earlier than `b` on a wrapping tick clock.
#[inline]
fn tick_before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `len` copies of `value` in memory the kernel is asked to back with huge
/// pages (with or without the `dpdk` feature), written once here so the
/// pages are in place before the first packet. The slab and the index are
/// looked up at random: with 4 KiB pages nearly every lookup of a big table
/// would miss the TLB.
fn huge_vec<T: Clone>(value: T, len: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    crate::dpdk::hints::advise_huge_pages(v.spare_capacity_mut());
    v.resize(len, value);
    v
}

/// Starts the load of `r`'s cache line without waiting for it (the same
/// prefetch instruction with or without DPDK: `dpdk::hints`).
#[inline(always)]
fn prefetch_read<T>(r: &T) {
    crate::dpdk::hints::prefetch_read(r);
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
