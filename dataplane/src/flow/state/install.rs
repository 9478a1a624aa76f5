//! Sessions a peer made, installed without scheduling (session sync): the
//! record names its service by the inbound tuple and its backend by
//! address and port, both looked up in this node's tables, so nothing
//! local (an id) crosses the wire. An installed session counts its
//! backend connection and live count, and holds its local port in this
//! worker's pool, exactly like one this worker opened, and expires by the
//! same timers.

use super::FlowState;
use crate::flow::table::{session_flags, Forwarding};
use std::hash::BuildHasher;

use crate::flow::{ConnCounts, NewSession, Origin, ProtoState, SessionId, SessionTable};
use crate::sync::{RecordKind, SessionRecord};
use crate::tables::{LbTables, Mode};
use crate::tuple::{FiveTuple, FlowKey, IpProto};

/// What installing a record did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Installed {
    /// A new session.
    New,
    /// An existing one's state and timer moved.
    Updated,
    /// An `Ended` record ended a session (or there was none).
    Ended,
}

/// Why a record was not installed; each is a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// No service (or SNAT rule) here for the record's tuple, or one with
    /// another forwarding mode.
    UnknownService,
    /// The service has no such backend (or it is flushed).
    UnknownBackend,
    /// The tuples do not fit together as the mode translates them.
    Inconsistent,
    /// The local or SNAT port is not this worker's to hold, or another
    /// session here holds it.
    PortTaken,
    /// The reply tuple belongs to another session here.
    Clash,
    /// The session table is full.
    TableFull,
}

impl Refused {
    pub fn name(self) -> &'static str {
        match self {
            Refused::UnknownService => "sync_unknown_service",
            Refused::UnknownBackend => "sync_unknown_backend",
            Refused::Inconsistent => "sync_inconsistent",
            Refused::PortTaken => "sync_port_taken",
            Refused::Clash => "sync_clash",
            Refused::TableFull => "sync_table_full",
        }
    }
}

/// The origin and backend id a record resolves to here.
struct Resolved {
    origin: Origin,
    backend: u32,
}

impl FlowState {
    /// Installs (or updates, or ends) the session a peer's record
    /// describes, at `now`.
    pub fn install(
        &mut self,
        t: &LbTables,
        r: &SessionRecord,
        now: u64,
    ) -> Result<Installed, Refused> {
        let existing = self.sessions.lookup(&r.inbound).map(|h| h.id);
        if r.kind == RecordKind::Ended {
            if let Some(id) = existing {
                if *self.sessions.get(id).outbound() == r.outbound {
                    self.end(id, now);
                }
            }
            return Ok(Installed::Ended);
        }
        if let Some(id) = existing {
            let s = self.sessions.get(id);
            let same_backend = match s.origin() {
                Origin::Service(_) => t
                    .backends
                    .get(s.backend as usize)
                    .is_some_and(|b| (b.addr, b.port) == (r.backend.0.into(), r.backend.1)),
                Origin::Snat(_) => true,
            };
            if *s.outbound() == r.outbound && s.forwarding() == r.forwarding && same_backend {
                self.update(id, r, now);
                return Ok(Installed::Updated);
            }
        }
        let Resolved { origin, backend } = resolve(t, r)?;
        let holds_port = matches!(r.forwarding, Forwarding::FullNat | Forwarding::Snat);
        let single = matches!(r.forwarding, Forwarding::Dr | Forwarding::Tun);
        if !single
            && self
                .sessions
                .lookup(&r.outbound)
                .is_some_and(|h| Some(h.id) != existing)
        {
            return Err(Refused::Clash);
        }
        if holds_port && !self.pools.take(origin, &r.outbound) {
            return Err(Refused::PortTaken);
        }
        if let Some(id) = existing {
            // Another session of the same client endpoint: the peer's is
            // newer (checked first, so a refused record ends nothing).
            self.end(id, now);
        }
        let new = NewSession {
            origin,
            forwarding: r.forwarding,
            flags: if holds_port {
                session_flags::LOCAL_PORT
            } else {
                0
            },
            timeout_ms: Some(r.timeout_ms),
            ..NewSession::new(
                r.inbound,
                if single { r.inbound } else { r.outbound },
                backend,
                r.state,
            )
        };
        let hash = self.sessions.hash(&new.inbound);
        match self.insert(&new, hash, now) {
            Ok(_) => {
                if let Origin::Service(_) = origin {
                    self.conns.opened(backend, r.state);
                }
                self.live.opened(origin);
                Ok(Installed::New)
            }
            Err(crate::drop::DropReason::TableFull) => Err(Refused::TableFull),
            Err(_) => Err(Refused::Clash),
        }
    }

    fn update(&mut self, id: SessionId, r: &SessionRecord, now: u64) {
        let event = Event {
            kind: r.kind,
            state: r.state,
            timeout_ms: r.timeout_ms,
        };
        update(&mut self.sessions, &mut self.conns, id, &event, now);
    }
}

/// What a record says of a session we have, in either family.
pub(super) struct Event {
    pub kind: RecordKind,
    pub state: ProtoState,
    pub timeout_ms: u32,
}

/// A record about session `id` of `table`: a live event sets its state
/// and timer; a dump's copy only lengthens its timer.
pub(super) fn update<S: BuildHasher, K: FlowKey>(
    table: &mut SessionTable<S, K>,
    conns: &mut ConnCounts,
    id: SessionId,
    r: &Event,
    now: u64,
) {
    let s = table.get(id);
    let (left, from) = (table.expires_in_ms(s, now), s.state);
    if r.kind == RecordKind::Refresh {
        if u64::from(r.timeout_ms) > left {
            table.refresh_with_timeout(id, r.timeout_ms, now);
        }
        return;
    }
    if from != r.state {
        table.get_mut(id).state = r.state;
        let backend = table.get(id).backend;
        conns.changed(
            backend,
            crate::flow::table::Transition { from, to: r.state },
        );
    }
    table.refresh_with_timeout(id, r.timeout_ms, now);
}

/// The service (or SNAT rule) and backend of `r` in `t`, with the
/// record's tuples checked against the mode's translation.
fn resolve(t: &LbTables, r: &SessionRecord) -> Result<Resolved, Refused> {
    let (i, o) = (&r.inbound, &r.outbound);
    let proto_fits = match r.state {
        ProtoState::Tcp(_) => i.proto == IpProto::TCP,
        ProtoState::Udp => i.proto == IpProto::UDP,
        ProtoState::IcmpEcho => i.proto == IpProto::ICMP,
        ProtoState::Template => false,
    };
    if !proto_fits || o.proto != i.proto {
        return Err(Refused::Inconsistent);
    }
    if r.forwarding == Forwarding::Snat {
        return resolve_snat(t, i, o);
    }
    let s = t
        .service_index
        .lookup(&i.service_key())
        .ok_or(Refused::UnknownService)?;
    let svc = t.services.get(s as usize).ok_or(Refused::UnknownService)?;
    let mode_fits = matches!(
        (svc.spec.mode, r.forwarding),
        (Mode::Dr, Forwarding::Dr)
            | (Mode::Tun, Forwarding::Tun)
            | (Mode::Nat, Forwarding::Nat)
            | (Mode::FullNat, Forwarding::FullNat)
    );
    if !mode_fits || svc.state.is_flushed() {
        return Err(Refused::UnknownService);
    }
    let backend = svc
        .backend_ids
        .iter()
        .copied()
        .find(|&b| {
            t.backends.get(b as usize).is_some_and(|x| {
                (x.addr, x.port) == (r.backend.0.into(), r.backend.1) && x.state.keeps_sessions()
            })
        })
        .ok_or(Refused::UnknownBackend)?;
    // The backend's port: its own, or the client's for port 0.
    let bport = match r.backend.1 {
        0 => i.dst_port,
        p => p,
    };
    let fits = match r.forwarding {
        Forwarding::Dr | Forwarding::Tun => true,
        Forwarding::Nat => {
            *o == FiveTuple {
                src: r.backend.0,
                dst: i.src,
                src_port: bport,
                dst_port: i.src_port,
                proto: i.proto,
            }
        }
        // The local address and port are checked by the pool.
        _ => o.src == r.backend.0 && o.src_port == bport,
    };
    if !fits {
        return Err(Refused::Inconsistent);
    }
    Ok(Resolved {
        origin: Origin::Service(s),
        backend,
    })
}

/// SNAT: the rule the internal host matches here; the SNAT address and
/// port are checked by the pool.
fn resolve_snat(t: &LbTables, i: &FiveTuple, o: &FiveTuple) -> Result<Resolved, Refused> {
    if t.owned.contains(i.dst) {
        return Err(Refused::UnknownService);
    }
    let rule = t.snat_rule(i.src).ok_or(Refused::UnknownService)?;
    let echo = i.proto == IpProto::ICMP;
    let fits = o.src == i.dst && (echo || o.src_port == i.dst_port);
    if !fits {
        return Err(Refused::Inconsistent);
    }
    Ok(Resolved {
        origin: Origin::Snat(rule),
        backend: u32::MAX,
    })
}
