//! Session sync for IPv6 sessions (issue 20): the same events as IPv4's
//! (`sync.rs`), made from the worker's IPv6 table, and a peer's IPv6
//! records installed into it. A record has no reply tuple (a NAT session's
//! is made again from its backend and client, a FULLNAT one's from its
//! backend and local endpoint, a SNAT one's from its remote and SNAT
//! endpoint, `install6.rs`) and no splice but a PROXY header's shift
//! (`client_addr6.rs`).

use std::net::{IpAddr, Ipv6Addr};

use super::client_addr6::Shift6;
use super::sync::splice_record;
use super::synproxy::Splice;
use super::Datapath;
use crate::buf::PacketBuf;
use crate::flow::state::Sessions6;
use crate::flow::table::session_flags;
use crate::flow::{Origin, ProtoState, SessionId, TcpState};
use crate::sync::{RecordKind, SessionRecord6};
use crate::tables::LbTables;

impl<P: PacketBuf> Datapath<P> {
    /// Queues a record of IPv6 session `id` for the peers, if sync is on.
    #[inline]
    pub(super) fn sync_event6(&mut self, t: &LbTables, id: SessionId, kind: RecordKind, now: u64) {
        let Some(sync) = &mut self.sync else {
            return;
        };
        let (table, shifts) = (self.flow.sessions6(), &self.shifts6.slots);
        let splices = &self.synproxy.splices6;
        if let Some(r) = record6_of(t, (table, shifts, splices), id, kind, now) {
            let c = &mut self.counters.events;
            if sync.link.push(r) {
                c.sync_queued += 1;
            } else {
                c.sync_queue_full += 1;
            }
        }
    }

    /// A packet of IPv6 session `id` (opened by it if `opened`) moved its
    /// state from `before`: a new session's record goes once it has its
    /// first real state (a TCP session's in NONE waits, as IPv4's), a
    /// moved one's as a change.
    #[inline]
    pub(super) fn sync_packet6(
        &mut self,
        t: &LbTables,
        id: SessionId,
        opened: bool,
        before: ProtoState,
        now: u64,
    ) {
        if self.sync.is_none() {
            return;
        }
        let state = self.flow.sessions6().get(id).state;
        let none = ProtoState::Tcp(TcpState::None);
        let kind = if opened || before == none {
            RecordKind::Created
        } else {
            RecordKind::Changed
        };
        if state != none && (opened || state != before) {
            self.sync_event6(t, id, kind, now);
        }
    }
}

/// IPv6 session `id` as a record (None for a persistence template); a
/// FULLNAT session's with its local endpoint, one with a PROXY header with
/// its shift (from `shifts`), a SYN-proxied one with its splice once made
/// (from `splices`), a SNAT one with its SNAT endpoint and no
/// backend (`::`, 0). A NAT64 session's IPv4 backend and local
/// endpoint travel IPv4-mapped (`::ffff:a.b.c.d`), as its reply key holds
/// them (`flow/state/nat64.rs`): a peer from before NAT64 was synced finds
/// no such backend and refuses the record (`sync_unknown_backend`).
pub(super) fn record6_of(
    t: &LbTables,
    (table, shifts, splices): (&Sessions6, &[Shift6], &[Splice]),
    id: SessionId,
    kind: RecordKind,
    now: u64,
) -> Option<SessionRecord6> {
    let s = table.get(id);
    if s.state == ProtoState::Template {
        return None;
    }
    let backend = match s.origin() {
        Origin::Snat(_) => (Ipv6Addr::UNSPECIFIED, 0),
        Origin::Service(_) => {
            let b = t.backends.get(s.backend as usize)?;
            let addr = match b.addr {
                IpAddr::V6(a) => a,
                IpAddr::V4(a) => a.to_ipv6_mapped(),
            };
            (addr, b.port)
        }
    };
    Some(SessionRecord6 {
        kind,
        forwarding: s.forwarding(),
        state: s.state,
        inbound: *s.inbound(),
        backend,
        timeout_ms: table.expires_in_ms(s, now).min(u64::from(u32::MAX)) as u32,
        local: s
            .holds_local_port()
            .then(|| (s.outbound().dst, s.outbound().dst_port)),
        shift: match s.flags() & session_flags::PROXY_HEADER {
            0 => None,
            _ => shifts.get(id.index()).and_then(Shift6::record),
        },
        // Once made: before, its shift is not known, and the record that
        // moves the session on after the splice carries it (as IPv4's).
        splice: splice_record(s, splices.get(id.index())),
    })
}
