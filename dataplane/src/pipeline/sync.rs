//! Session sync in the worker (docs/session-sync.md): records of this
//! worker's sessions queued for the sync thread as they are made, change
//! TCP state or end early; peers' records installed between polls; and
//! full dumps walked a slice of the table per millisecond. Only queue
//! pushes and pops: no syscall, no lock, no allocation.

use std::net::Ipv4Addr;

use super::client_addr6::install_shift6;
use super::sync6::record6_of;
use super::synproxy::{is_spliced, track, Splice};
use super::{Cx, Datapath, Pipeline};
use crate::buf::PacketBuf;
use crate::flow::state::{Installed, Refused};
use crate::flow::table::session_flags;
use crate::flow::{FlowState, Origin, ProtoState, Session, SessionId, SessionTable, TcpState};
use crate::sync::{RecordKind, SessionRecord, SpliceRecord, SyncLink, SyncRecord};
use crate::synproxy::wscale::WScale;
use crate::tables::LbTables;
use crate::tuple::{FiveTuple, FiveTuple6, FlowKey};

/// Peer records installed per poll at most.
const INSTALL_BUDGET: usize = 256;
/// Session slots a dump walks per millisecond at most.
const DUMP_SLOTS: usize = 4096;
/// Records a dump queues per millisecond at most: 256 k sessions a second
/// per worker (about 7 300 datagrams, 11 MB/s), so a dump paces itself
/// rather than flooding the peer's socket buffer.
const DUMP_RECORDS: usize = 256;

/// The worker's end of the sync link and its dump in progress.
pub(super) struct SyncState {
    pub(super) link: SyncLink,
    /// The dump generation being walked, and the next slot.
    dump: Option<(u64, usize)>,
    /// The last dump generation finished.
    dumped: u64,
}

impl<P: PacketBuf> Pipeline<P> {
    /// Turns session sync on: from now on this worker queues its session
    /// events on `link` and installs what peers send on it.
    pub fn attach_sync(&mut self, link: SyncLink) {
        self.path.sync = Some(SyncState {
            link,
            dump: None,
            dumped: 0,
        });
    }
}

impl<P: PacketBuf> Datapath<P> {
    /// Queues a record of session `id` for the peers, if sync is on.
    #[inline]
    pub(super) fn sync_event(&mut self, t: &LbTables, id: SessionId, kind: RecordKind, now: u64) {
        let Some(sync) = &mut self.sync else {
            return;
        };
        let table = self.flow.sessions();
        let splices = &self.synproxy.splices;
        if let Some(r) = record_of(t, table, splices, id, kind, now) {
            let c = &mut self.counters.events;
            if sync.link.push(r) {
                c.sync_queued += 1;
            } else {
                c.sync_queue_full += 1;
            }
        }
    }

    /// A session was opened: its record goes now, unless it is a TCP
    /// session still in state NONE, whose first packet's transition
    /// (`sync_transition`) sends it with its first real state.
    #[inline]
    pub(super) fn sync_opened(&mut self, t: &LbTables, id: SessionId, now: u64) {
        if self.sync.is_some()
            && self.flow.sessions().get(id).state != ProtoState::Tcp(TcpState::None)
        {
            self.sync_event(t, id, RecordKind::Created, now);
        }
    }

    /// A packet moved session `id` from state `before`.
    #[inline]
    pub(super) fn sync_transition(
        &mut self,
        t: &LbTables,
        id: SessionId,
        before: ProtoState,
        now: u64,
    ) {
        if self.flow.sessions().get(id).state == before {
            return;
        }
        let kind = if before == ProtoState::Tcp(TcpState::None) {
            RecordKind::Created
        } else {
            RecordKind::Changed
        };
        self.sync_event(t, id, kind, now);
    }

    /// Installs what peers sent for this worker's flows, up to a budget.
    pub(super) fn sync_receive<I>(&mut self, cx: &mut Cx<'_, I>) {
        let Some(sync) = &mut self.sync else {
            return;
        };
        let c = &mut self.counters.events;
        for _ in 0..INSTALL_BUDGET {
            let r = match sync.link.pop() {
                Some(SyncRecord::V4(r)) => r,
                Some(SyncRecord::V6(r)) => {
                    match self.flow.install6(cx.t, &r, cx.now) {
                        Ok(done) => {
                            *installed_counter(c, done) += 1;
                            if let Some(sh) = &r.shift {
                                let slots = &mut self.shifts6.slots;
                                install_shift6(&mut self.flow, slots, &r.inbound, sh);
                            }
                            if let Some(sp) = &r.splice {
                                let slots = &mut self.synproxy.splices6;
                                install_splice6(&mut self.flow, slots, &r.inbound, sp);
                            }
                        }
                        Err(e) => *refusal_counter(c, e) += 1,
                    }
                    continue;
                }
                None => break,
            };
            match self.flow.install(cx.t, &r, cx.now) {
                Ok(Installed::New) => c.sync_installed += 1,
                Ok(Installed::Updated) => c.sync_updated += 1,
                Ok(Installed::Ended) => {
                    c.sync_ended += 1;
                    continue;
                }
                Err(e) => {
                    *refusal_counter(c, e) += 1;
                    continue;
                }
            }
            if let Some(sp) = &r.splice {
                install_splice(&mut self.flow, &mut self.synproxy.splices, &r.inbound, sp);
            }
        }
    }

    /// Starts a dump the sync thread asked for, and walks the next slice
    /// of the tables (the IPv4 one, then the IPv6 one, as one run of
    /// slots): each session's record is queued as a `Refresh`. A full
    /// queue, or `DUMP_RECORDS` queued, pauses the walk at that session
    /// until the next tick.
    pub(super) fn sync_dump_step(&mut self, t: &LbTables, now: u64) {
        let Some(sync) = &mut self.sync else {
            return;
        };
        let asked = sync.link.dump_requested();
        if sync.dump.is_none() && asked > sync.dumped {
            sync.dump = Some((asked, 0));
        }
        let Some((generation, start)) = sync.dump else {
            return;
        };
        let (table, table6) = (self.flow.sessions(), self.flow.sessions6());
        let cap4 = table.capacity();
        let slots = cap4 + table6.capacity();
        let end = (start + DUMP_SLOTS).min(slots);
        let mut next = end;
        let mut queued = 0;
        let splices = &self.synproxy.splices;
        let shifts6 = &self.shifts6;
        let refresh = RecordKind::Refresh;
        if start < cap4 {
            let e4 = end.min(cap4);
            let ids = table.iter_slots(start..e4).map(|(id, _)| id);
            let stop = dump_walk(&mut sync.link, ids, &mut queued, |id| {
                record_of(t, table, splices, id, refresh, now)
            });
            next = stop.unwrap_or(end);
        }
        if next == end && end > cap4 {
            let ids = table6.iter_slots(start.max(cap4) - cap4..end - cap4);
            let splices6 = &self.synproxy.splices6;
            let stop = dump_walk(&mut sync.link, ids.map(|(id, _)| id), &mut queued, |id| {
                record6_of(t, (table6, &shifts6.slots, splices6), id, refresh, now)
            });
            next = stop.map_or(end, |i| cap4 + i);
        }
        self.counters.events.sync_queued += queued as u64;
        self.counters.events.sync_dumped += queued as u64;
        if next >= slots {
            sync.dump = None;
            sync.dumped = generation;
            sync.link.dump_done(generation);
        } else {
            sync.dump = Some((generation, next));
        }
    }
}

/// Queues the record of each session of `ids` (those that have one), up
/// to `DUMP_RECORDS` in all; the slot it stopped at (a full queue or the
/// limit), or None when it queued them all.
fn dump_walk<R: Into<SyncRecord>>(
    link: &mut SyncLink,
    ids: impl Iterator<Item = SessionId>,
    queued: &mut usize,
    mut record: impl FnMut(SessionId) -> Option<R>,
) -> Option<usize> {
    for id in ids {
        let Some(r) = record(id) else {
            continue;
        };
        if *queued == DUMP_RECORDS || !link.push(r) {
            return Some(id.index());
        }
        *queued += 1;
    }
    None
}

/// The counter of an installed record.
fn installed_counter(c: &mut super::counters::Events, done: Installed) -> &mut u64 {
    match done {
        Installed::New => &mut c.sync_installed,
        Installed::Updated => &mut c.sync_updated,
        Installed::Ended => &mut c.sync_ended,
    }
}

/// The counter of a refused record.
fn refusal_counter(c: &mut super::counters::Events, e: Refused) -> &mut u64 {
    match e {
        Refused::UnknownService => &mut c.sync_unknown_service,
        Refused::UnknownBackend => &mut c.sync_unknown_backend,
        Refused::Inconsistent => &mut c.sync_inconsistent,
        Refused::PortTaken => &mut c.sync_port_taken,
        Refused::Clash => &mut c.sync_clash,
        Refused::TableFull => &mut c.sync_table_full,
    }
}

/// Session `id` as a record, with its splice once the splice is made
/// (None for a persistence template, which is not synced).
fn record_of(
    t: &LbTables,
    table: &SessionTable,
    splices: &[Splice],
    id: SessionId,
    kind: RecordKind,
    now: u64,
) -> Option<SessionRecord> {
    let s = table.get(id);
    if s.state == ProtoState::Template {
        return None;
    }
    let backend = match s.origin() {
        Origin::Service(_) => t
            .backends
            .get(s.backend as usize)
            .and_then(|b| Some((b.v4()?, b.port)))?,
        Origin::Snat(_) => (Ipv4Addr::UNSPECIFIED, 0),
    };
    Some(SessionRecord {
        kind,
        forwarding: s.forwarding(),
        state: s.state,
        inbound: *s.inbound(),
        outbound: *s.outbound(),
        backend,
        timeout_ms: table.expires_in_ms(s, now).min(u64::from(u32::MAX)) as u32,
        splice: splice_record(s, splices.get(id.index())),
    })
}

/// The splice of session `s` as the peers need it: only once it is
/// established (before, its shift is not known; the record that moves
/// the session on after the splice carries it).
pub(super) fn splice_record<K: FlowKey>(
    s: &Session<K>,
    sp: Option<&Splice>,
) -> Option<SpliceRecord> {
    let sp = sp.filter(|sp| sp.established && is_spliced(s.flags()))?;
    Some(SpliceRecord {
        adjust: sp.adjust,
        syn_proxy: s.flags() & session_flags::SYN_PROXY != 0,
        header: sp.header,
        header_sent: sp.header_sent,
        client_wscale: sp.client_wscale.get(),
        backend_wscale: sp.backend_wscale.get(),
    })
}

/// A peer's splice for the session of `inbound` just installed or
/// updated here: the session marked as its peer's was, and its slot set
/// (its window edges learned from its next segments). The same shift
/// again keeps what the slot learned.
fn install_splice(
    flow: &mut FlowState,
    splices: &mut [Splice],
    inbound: &FiveTuple,
    r: &SpliceRecord,
) {
    let Some(id) = flow.sessions().lookup(inbound).map(|h| h.id) else {
        return;
    };
    let Some(slot) = splices.get_mut(id.index()) else {
        return;
    };
    if r.syn_proxy {
        flow.mark_syn_proxied(id);
    }
    if r.header.is_some() {
        flow.mark_proxy_header(id);
    }
    set_splice(slot, r);
}

/// The IPv6 twin of [`install_splice`]: a peer's splice of a SYN-proxied
/// IPv6 session (no PROXY header beside it on IPv6).
fn install_splice6(
    flow: &mut FlowState,
    splices: &mut [Splice],
    inbound: &FiveTuple6,
    r: &SpliceRecord,
) {
    let Some(id) = flow.sessions6().lookup(inbound).map(|h| h.id) else {
        return;
    };
    let Some(slot) = splices.get_mut(id.index()) else {
        return;
    };
    flow.mark_syn_proxied6(id);
    set_splice(slot, r);
}

/// A splice slot as a peer's record has it: established, its window edges
/// learned from its next segments. The same shift again keeps what the
/// slot learned.
fn set_splice(slot: &mut Splice, r: &SpliceRecord) {
    if slot.established && slot.adjust == r.adjust {
        slot.header_sent |= r.header_sent;
        return;
    }
    *slot = Splice {
        adjust: r.adjust,
        header: r.header,
        header_sent: r.header_sent,
        client_wscale: WScale::new(r.client_wscale),
        backend_wscale: WScale::new(r.backend_wscale),
        established: true,
        track: match r.syn_proxy {
            true => track::on(r.header.is_none() && r.adjust.client_seq == 0),
            false => 0,
        },
        ..Splice::default()
    };
}
