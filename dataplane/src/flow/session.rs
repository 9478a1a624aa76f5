//! One session as the table holds it (64 bytes, a cache line: asserted in
//! `table_tests.rs`), its handle and what a new one starts with. The table
//! that stores, indexes and times them is `table.rs`.

use super::proto::ProtoState;
use crate::tuple::{FiveTuple, FlowKey};

/// The end of a timer-wheel list.
pub(super) const NIL: u32 = u32::MAX;

/// Handle to a live session, valid until it expires or is removed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct SessionId(pub(super) u32);

impl SessionId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Which of a session's two tuples a packet matched.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Direction {
    /// Client to service (the tuple the session was created from).
    Inbound,
    /// The reply as it reaches the LB (after the backend's rewrite).
    Outbound,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Hit {
    pub id: SessionId,
    pub dir: Direction,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum InsertError {
    /// Every slot is in use; the flow is refused (counted in `TableStats`).
    Full,
    /// One of the tuples already names a session.
    Exists,
}

/// Flag bits kept in a session.
pub mod session_flags {
    /// Slot holds a live session.
    pub const IN_USE: u8 = 0x01;
    /// Only the inbound tuple is indexed (templates, and DR/TUN when the
    /// pipeline has no use for the reply tuple).
    pub const SINGLE: u8 = 0x02;
    /// The session holds a port from a local-address pool, to give back on
    /// expiry.
    pub const LOCAL_PORT: u8 = 0x04;
    /// The session's origin is a SNAT rule (else a service).
    pub const SNAT: u8 = 0x08;
    /// The SYN proxy made the session and splices its two handshakes
    /// (`crate::synproxy`).
    pub const SYN_PROXY: u8 = 0x10;
    /// The session's client direction carries a PROXY protocol header
    /// (`pipeline::proxy_tcp`); its splice slot holds the shift (an IPv6
    /// session's: its shift slot, `pipeline::client_addr6`).
    pub const PROXY_HEADER: u8 = 0x20;
}

/// How a session's packets are forwarded, fixed when it is made: its
/// service's mode (a service keeps its id only while its mode stays), or
/// SNAT.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[repr(u8)]
pub enum Forwarding {
    Dr,
    Tun,
    Nat,
    FullNat,
    Snat,
}

use crate::net::hop_cache::{HopHint, NO_HOP_HINT};

/// What a session belongs to: the service that scheduled it, or the SNAT
/// rule its internal host matched (ids as the tables give them).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Origin {
    Service(u32),
    Snat(u32),
}

/// One session. For IPv4 (`K = FiveTuple`) 64 bytes and cache-line
/// aligned, so a lookup hit touches one index line and one session line;
/// an IPv6 one (`FiveTuple6`) is two lines, 128 bytes.
#[derive(Clone, Copy, Debug)]
#[repr(align(64))]
pub struct Session<K: FlowKey = FiveTuple> {
    pub(super) inbound: K,
    pub(super) outbound: K,
    /// Deadline in wheel ticks (wrapping).
    pub(super) expires: u32,
    /// Tick of the wheel slot the session is linked in.
    pub(super) timer_tick: u32,
    pub(super) timer_next: u32,
    pub(super) timer_prev: u32,
    /// Backend id as the scheduler gave it; u32::MAX for none.
    pub backend: u32,
    /// The id of the service or SNAT rule (`session_flags::SNAT` tells
    /// which): see [`Session::origin`].
    pub(super) origin_id: u32,
    /// Per direction (inbound, outbound): see [`HopHint`].
    pub(super) hop_hints: [HopHint; 2],
    pub state: ProtoState,
    pub(super) flags: u8,
    pub(super) forwarding: Forwarding,
    /// [`FlowKey::keys_delta`] of the two keys (nothing for IPv4).
    pub(super) keys_delta: K::KeysDelta,
}

impl<K: FlowKey> Session<K> {
    pub(super) const VACANT: Session<K> = Session {
        inbound: K::ZERO,
        outbound: K::ZERO,
        expires: 0,
        timer_tick: 0,
        timer_next: NIL,
        timer_prev: NIL,
        backend: u32::MAX,
        origin_id: 0,
        hop_hints: [NO_HOP_HINT; 2],
        state: ProtoState::Udp,
        flags: 0,
        forwarding: Forwarding::Dr,
        keys_delta: K::NO_KEYS_DELTA,
    };

    pub fn inbound(&self) -> &K {
        &self.inbound
    }
    /// The reply tuple (equal to `inbound` for single-entry sessions).
    pub fn outbound(&self) -> &K {
        &self.outbound
    }
    pub fn flags(&self) -> u8 {
        self.flags
    }
    pub fn holds_local_port(&self) -> bool {
        self.flags & session_flags::LOCAL_PORT != 0
    }
    /// How the session's packets are forwarded.
    #[inline]
    pub fn forwarding(&self) -> Forwarding {
        self.forwarding
    }
    /// [`FlowKey::keys_delta`] of the session's keys, made when it was
    /// inserted: for an IPv6 session the folded checksum delta of a packet
    /// leaving as its reply key reversed (NAT64's translations take it).
    #[inline]
    pub fn keys_delta(&self) -> K::KeysDelta {
        self.keys_delta
    }
    /// The hop hint of the packets travelling `dir`.
    #[inline]
    pub fn hop_hint(&self, dir: Direction) -> HopHint {
        self.hop_hints[dir as usize]
    }
    /// The service or SNAT rule the session belongs to.
    #[inline]
    pub fn origin(&self) -> Origin {
        if self.flags & session_flags::SNAT != 0 {
            Origin::Snat(self.origin_id)
        } else {
            Origin::Service(self.origin_id)
        }
    }
    /// Deadline in wheel ticks.
    pub fn expires_tick(&self) -> u32 {
        self.expires
    }
}

/// What a new session starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewSession<K = FiveTuple> {
    /// Client to service, as the first packet carried it.
    pub inbound: K,
    /// The reply as it will reach the LB; equal to `inbound` to index the
    /// session once (templates; DR/TUN, which see no replies).
    pub outbound: K,
    pub origin: Origin,
    pub forwarding: Forwarding,
    pub backend: u32,
    pub state: ProtoState,
    /// `session_flags` bits such as `LOCAL_PORT` (`SNAT` follows `origin`).
    pub flags: u8,
    /// Instead of the state's timeout (templates carry the service's).
    pub timeout_ms: Option<u32>,
}

impl<K> NewSession<K> {
    pub fn new(inbound: K, outbound: K, backend: u32, state: ProtoState) -> NewSession<K> {
        NewSession {
            inbound,
            outbound,
            origin: Origin::Service(0),
            forwarding: Forwarding::Dr,
            backend,
            state,
            flags: 0,
            timeout_ms: None,
        }
    }
}
