//! Early data through the SYN proxy (docs/syn-proxy.md, "Early data"): a
//! client's data segment that comes after its cookie ACK but before the
//! backend's SYN-ACK is held, one per connection
//! (`crate::synproxy::early`), and sent on translated right after the
//! splice is made. A segment that cannot be held (one is already, or the
//! worker's hold is full) goes on as the backend SYN again, its data
//! discarded for the client to retransmit, as before holding existed.
//!
//! The cookie ACK itself may carry the data: then its headers are copied
//! into a fresh buffer from the pool for the backend SYN, and the segment
//! as it came is what is held.

use super::burst::{classify_buf, tcp_flags_of};
use super::proxy_tcp::has_data;
use super::synproxy::Splice;
use super::{Cx, Datapath, Ingress};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::table::session_flags;
use crate::flow::{Direction, Hit, SessionId};
use crate::io::PacketIo;
use crate::packet::{Classified, Ipv4Meta};
use crate::synproxy::early::{Early, EarlyRef};
use crate::wire::tcp::TcpFlags;

/// Whether a client segment before the backend answered is one to hold:
/// data on an ACK, neither a SYN nor a RST.
fn holdable(frame: &[u8], meta: &Ipv4Meta) -> bool {
    let flags = tcp_flags_of(frame, meta);
    flags & TcpFlags::ACK != 0
        && flags & (TcpFlags::SYN | TcpFlags::RST) == 0
        && has_data(frame, meta)
}

impl<P: PacketBuf> Datapath<P> {
    /// A cookie ACK: the buffer to rewrite into the backend SYN, and the
    /// segment to hold when it carries data (a copy of its headers is the
    /// SYN then). Without room to hold, or a buffer to copy into, the ACK
    /// itself becomes the SYN and its data is discarded.
    pub(super) fn split_early<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        pkt: P,
        meta: &Ipv4Meta,
    ) -> (P, Option<P>) {
        if !holdable(pkt.data(), meta) {
            if has_data(pkt.data(), meta) {
                self.counters.events.synproxy_early_data += 1;
            }
            return (pkt, None);
        }
        let headers = pkt.data().get(..meta.l4_offset);
        let copy = match (self.synproxy.early.has_room(), headers) {
            (true, Some(h)) => cx.io.alloc().and_then(|mut syn| {
                syn.append(h.len())?.copy_from_slice(h);
                Some(syn)
            }),
            _ => None,
        };
        match copy {
            Some(syn) => (syn, Some(pkt)),
            None => {
                self.counters.events.synproxy_early_data += 1;
                self.counters.events.synproxy_early_hold_full += 1;
                (pkt, None)
            }
        }
    }

    /// Holds `pkt` for session `id` (which holds nothing yet), noting it
    /// in the session's splice; with the hold full it is freed, counted.
    pub(super) fn hold_early(&mut self, id: SessionId, port: u16, pkt: P, meta: &Ipv4Meta) {
        let early = Early {
            pkt,
            port,
            session: id,
            client: meta.tuple,
        };
        let held = self.synproxy.early.hold(early);
        let c = &mut self.counters.events;
        match (held, self.synproxy.splices.get_mut(id.index())) {
            (Ok(r), Some(slot)) => {
                slot.early = r;
                c.synproxy_early_held += 1;
            }
            (Ok(r), None) => {
                self.synproxy.early.take(r);
                c.synproxy_early_data += 1;
            }
            (Err(_), _) => {
                c.synproxy_early_data += 1;
                c.synproxy_early_hold_full += 1;
            }
        }
    }

    /// A client segment of a proxied session whose backend has not
    /// answered, other than our SYN: held if it is the connection's first
    /// data (`Ok`), else handed back to go on as the SYN again.
    pub(super) fn hold_half_open(
        &mut self,
        at: Ingress,
        pkt: P,
        meta: &Ipv4Meta,
        hit: Hit,
        sp: &Splice,
    ) -> Result<(), P> {
        if !holdable(pkt.data(), meta) {
            if has_data(pkt.data(), meta) {
                self.counters.events.synproxy_early_data += 1;
            }
            return Err(pkt);
        }
        if sp.early.is_some() {
            // A retransmission of what is held, or more of it.
            self.counters.events.synproxy_early_data += 1;
            return Err(pkt);
        }
        if !self.synproxy.early.has_room() {
            self.counters.events.synproxy_early_data += 1;
            self.counters.events.synproxy_early_hold_full += 1;
            return Err(pkt);
        }
        self.hold_early(hit.id, at.port, pkt, meta);
        Ok(())
    }

    /// The splice of session `id` is made: its held segment (if any) goes
    /// on to the backend as any segment of the session, translated.
    pub(super) fn send_early<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        id: SessionId,
        r: EarlyRef,
    ) {
        let Some(e) = self.synproxy.early.take(r) else {
            return;
        };
        if e.session != id {
            return self.drop(DropReason::SynProxyEarlyDropped);
        }
        let Ok(Classified::Ipv4(meta)) = classify_buf(&e.pkt) else {
            return self.drop(DropReason::SynProxyEarlyDropped);
        };
        let Some(iface) = cx.t.ingress_interface(e.port, meta.vlan) else {
            return self.drop(DropReason::NoInterface);
        };
        self.counters.events.synproxy_early_sent += 1;
        let at = Ingress {
            port: e.port,
            iface,
        };
        let hit = Hit {
            id,
            dir: Direction::Inbound,
        };
        self.forward(cx, at, e.pkt, &meta, hit)
    }

    /// Frees the segment `r` names, unsent (its connection was refused).
    pub(super) fn drop_early(&mut self, r: EarlyRef) {
        if self.synproxy.early.take(r).is_some() {
            self.drop(DropReason::SynProxyEarlyDropped);
        }
    }

    /// Upkeep (every 100 ms): frees the held segments whose session ended
    /// (expired, flushed, its slot taken by another connection) before its
    /// backend answered.
    pub(super) fn sweep_early(&mut self) {
        if self.synproxy.early.held() == 0 {
            return;
        }
        let sessions = self.flow.sessions();
        let splices = &self.synproxy.splices;
        let freed = self.synproxy.early.sweep(|r, e| {
            let i = e.session.index();
            i < sessions.capacity()
                && sessions.get(e.session).flags() & session_flags::IN_USE != 0
                && *sessions.get(e.session).inbound() == e.client
                && splices
                    .get(i)
                    .is_some_and(|sp| sp.early == r && !sp.established)
        });
        self.counters
            .drops
            .count_n(DropReason::SynProxyEarlyDropped, freed);
    }
}
