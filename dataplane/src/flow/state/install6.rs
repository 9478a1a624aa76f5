//! IPv6 sessions a peer made (issue 20), installed without scheduling as
//! IPv4's are (`install.rs`): the service by the record's VIP and port,
//! the backend by address and port, both looked up here. A DR or TUN
//! session's tuple is its only key; a NAT one's reply tuple is the
//! backend's endpoint to the client, which the record names (its backend
//! and inbound tuple), so NAT sessions sync too; a FULLNAT one's runs from
//! the backend to the local endpoint the record carries, whose port is
//! taken out of turn from the service's IPv6 pool (`sync_port_taken` if
//! this worker cannot: another worker's bits, or in use). A NAT64 record
//! is a FULLNAT one whose backend and local endpoint are IPv4-mapped: its
//! reply key is the mapped tuple `nat64.rs` makes, its port taken from the
//! service's IPv4 pool. A SNAT record names no service: its rule is the
//! one the internal host matches here, and its reply key runs from the
//! remote to the SNAT endpoint the record carries, that port taken out of
//! turn from the rule's IPv6 pool as FULLNAT's.

use std::net::{IpAddr, Ipv6Addr};

use super::install::{update, Event, Installed, Refused};
use super::{nat64, FlowState};
use crate::flow::table::{session_flags, Forwarding};
use crate::flow::{InsertError, NewSession, Origin, ProtoState, SessionId};
use crate::rewrite6::ICMPV6;
use crate::sync::{RecordKind, SessionRecord6};
use crate::tables::{LbTables, Mode};
use crate::tuple::{FiveTuple6, IpProto};

impl FlowState {
    /// Installs (or updates, or ends) the IPv6 session a peer's record
    /// describes, at `now`.
    pub fn install6(
        &mut self,
        t: &LbTables,
        r: &SessionRecord6,
        now: u64,
    ) -> Result<Installed, Refused> {
        let existing = self
            .sessions6
            .lookup(&r.inbound)
            .map(|h| h.id)
            .filter(|&id| self.sessions6.get(id).state != ProtoState::Template);
        if r.kind == RecordKind::Ended {
            if let Some(id) = existing {
                self.end6(id, now);
            }
            return Ok(Installed::Ended);
        }
        // Checked before an update too: a state of another protocol must
        // not land on a session we have.
        if !state_fits(r) {
            return Err(Refused::Inconsistent);
        }
        if let Some(id) = existing {
            let s = self.sessions6.get(id);
            let same = match s.origin() {
                Origin::Snat(_) => snat_reply6(r).is_some_and(|o| *s.outbound() == o),
                Origin::Service(_) => t
                    .backends
                    .get(s.backend as usize)
                    .is_some_and(|b| (b.addr, b.port) == backend_of(r)),
            };
            if same && s.forwarding() == r.forwarding {
                let event = Event {
                    kind: r.kind,
                    state: r.state,
                    timeout_ms: r.timeout_ms,
                };
                update(&mut self.sessions6, &mut self.conns, id, &event, now);
                return Ok(Installed::Updated);
            }
        }
        if r.forwarding == Forwarding::Snat {
            return self.install_snat6(t, r, existing, now);
        }
        let (service, backend) = resolve6(t, r)?;
        if let Some(id) = existing {
            // Another session of the same client endpoint: the peer's is
            // newer (checked first, so a refused record ends nothing).
            self.end6(id, now);
        }
        let origin = Origin::Service(service);
        let mut outbound = match r.forwarding {
            Forwarding::Nat | Forwarding::FullNat => {
                super::v6::nat6_reply(&r.inbound, r.backend.0, r.backend.1)
            }
            _ => r.inbound,
        };
        let mut flags = 0;
        if let (Forwarding::FullNat, Some((addr, port))) = (r.forwarding, r.local) {
            (outbound.dst, outbound.dst_port) = (addr, port);
            if self.reply_key_taken6(&outbound, existing) {
                return Err(Refused::Clash);
            }
            let taken = match nat64::unmapped(&outbound) {
                Some(ob4) => self.pools.take(origin, &ob4),
                None => self.pools.take6(origin, &outbound),
            };
            if !taken {
                return Err(Refused::PortTaken);
            }
            flags = crate::flow::table::session_flags::LOCAL_PORT;
        }
        let new = NewSession {
            origin,
            forwarding: r.forwarding,
            flags,
            timeout_ms: Some(r.timeout_ms),
            ..NewSession::new(r.inbound, outbound, backend, r.state)
        };
        let hash = self.sessions6.hash(&r.inbound);
        match self.sessions6.insert_hashed(&new, hash, now) {
            Ok(_) => {
                self.conns.opened(backend, r.state);
                self.live.opened(origin);
                Ok(Installed::New)
            }
            Err(e) => {
                // A FULLNAT port taken for it goes back.
                if flags != 0 && nat64::unmapped(&outbound).is_some() {
                    self.nat64_unreserve(origin, &outbound);
                } else {
                    self.pools.release6(origin, flags != 0, &outbound);
                }
                Err(match e {
                    InsertError::Full => Refused::TableFull,
                    InsertError::Exists => Refused::Clash,
                })
            }
        }
    }
}

impl FlowState {
    /// Whether reply key `outbound` is another session's than `existing`
    /// (the one the record replaces, if any).
    fn reply_key_taken6(&self, outbound: &FiveTuple6, existing: Option<SessionId>) -> bool {
        self.sessions6
            .lookup(outbound)
            .is_some_and(|h| Some(h.id) != existing)
    }

    /// A SNAT record's session: the rule its internal host matches here,
    /// its SNAT port taken out of turn (`sync_port_taken` if this worker
    /// cannot). Checked before `existing` (another session of the same
    /// host endpoint) ends, so a refused record ends nothing.
    fn install_snat6(
        &mut self,
        t: &LbTables,
        r: &SessionRecord6,
        existing: Option<SessionId>,
        now: u64,
    ) -> Result<Installed, Refused> {
        let rule = resolve_snat6(t, r)?;
        let outbound = snat_reply6(r).ok_or(Refused::Inconsistent)?;
        if self.reply_key_taken6(&outbound, existing) {
            return Err(Refused::Clash);
        }
        let origin = Origin::Snat(rule);
        if !self.pools.take6(origin, &outbound) {
            return Err(Refused::PortTaken);
        }
        if let Some(id) = existing {
            self.end6(id, now);
        }
        let new = NewSession {
            origin,
            forwarding: Forwarding::Snat,
            flags: session_flags::LOCAL_PORT,
            timeout_ms: Some(r.timeout_ms),
            ..NewSession::new(r.inbound, outbound, u32::MAX, r.state)
        };
        let hash = self.sessions6.hash(&r.inbound);
        match self.sessions6.insert_hashed(&new, hash, now) {
            Ok(_) => {
                self.live.opened(origin);
                Ok(Installed::New)
            }
            Err(e) => {
                self.pools.release6(origin, true, &outbound);
                Err(match e {
                    InsertError::Full => Refused::TableFull,
                    InsertError::Exists => Refused::Clash,
                })
            }
        }
    }
}

/// The IPv6 SNAT rule of a SNAT record's internal host here; a record to
/// an address of ours, or with a backend, fits no rule's flow.
fn resolve_snat6(t: &LbTables, r: &SessionRecord6) -> Result<u32, Refused> {
    if r.backend != (Ipv6Addr::UNSPECIFIED, 0) {
        return Err(Refused::Inconsistent);
    }
    if t.owned6.contains(r.inbound.dst) {
        return Err(Refused::UnknownService);
    }
    t.snat_rule6(r.inbound.src).ok_or(Refused::UnknownService)
}

/// A SNAT record's reply key: the remote to the SNAT endpoint, as
/// `open_snat6` makes it (an echo's identifier is the SNAT port both
/// ways). None without an endpoint, or for an echo whose two identifiers
/// differ.
fn snat_reply6(r: &SessionRecord6) -> Option<FiveTuple6> {
    let (addr, port) = r.local?;
    let i = &r.inbound;
    let echo = i.proto == ICMPV6;
    if echo && i.src_port != i.dst_port {
        return None;
    }
    Some(FiveTuple6 {
        src: i.dst,
        dst: addr,
        src_port: if echo { port } else { i.dst_port },
        dst_port: port,
        proto: i.proto,
    })
}

/// The record's backend as the tables hold it: an IPv4-mapped address is a
/// NAT64 session's IPv4 backend (no IPv6 backend is IPv4-mapped: the
/// config refuses them).
fn backend_of(r: &SessionRecord6) -> (IpAddr, u16) {
    let (a, port) = r.backend;
    (a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4), port)
}

/// Whether the record's state is one of its protocol's (an echo is a SNAT
/// session's only).
fn state_fits(r: &SessionRecord6) -> bool {
    match r.state {
        ProtoState::Tcp(_) => r.inbound.proto == IpProto::TCP,
        ProtoState::Udp => r.inbound.proto == IpProto::UDP,
        ProtoState::IcmpEcho => r.inbound.proto == ICMPV6 && r.forwarding == Forwarding::Snat,
        ProtoState::Template => false,
    }
}

/// The DR, TUN, NAT or FULLNAT service and backend of `r` in `t` (the record's
/// forwarding must be its service's mode).
fn resolve6(t: &LbTables, r: &SessionRecord6) -> Result<(u32, u32), Refused> {
    let s = t
        .service_index
        .lookup(&r.inbound.service_key())
        .ok_or(Refused::UnknownService)?;
    let svc = t.services.get(s as usize).ok_or(Refused::UnknownService)?;
    let fits = matches!(
        (svc.spec.mode, r.forwarding),
        (Mode::Dr, Forwarding::Dr)
            | (Mode::Tun, Forwarding::Tun)
            | (Mode::Nat, Forwarding::Nat)
            | (Mode::FullNat, Forwarding::FullNat)
    );
    // A FULLNAT record carries its local endpoint (`decode6` checks it).
    let fits = fits && (r.forwarding == Forwarding::FullNat) == r.local.is_some();
    if !fits || svc.state.is_flushed() {
        return Err(Refused::UnknownService);
    }
    let backend = svc
        .backend_ids
        .iter()
        .copied()
        .find(|&b| {
            t.backends
                .get(b as usize)
                .is_some_and(|x| (x.addr, x.port) == backend_of(r) && x.state.keeps_sessions())
        })
        .ok_or(Refused::UnknownBackend)?;
    Ok((s, backend))
}
