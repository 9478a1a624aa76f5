//! The SYN proxy's splice set-up (docs/syn-proxy.md, steps 2 and 3): a
//! valid cookie ACK opens the session and becomes our SYN to the backend
//! (`cookie_ack`); until the backend answers, the client's segments are
//! that SYN again (or held as early data); the backend's SYN-ACK fixes the
//! translation and becomes our ACK to it (`backend_answer`). A segment of
//! an established splice is translated by `synproxy_spliced.rs`.

use super::super::burst::{first_packet, tcp_flags_of};
use super::super::client_addr::sends_toa;
use super::super::proxy_tcp::header_version;
use super::super::{Cx, Datapath, Ingress};
use super::{handshake_fields, rescale_window, tcp_segment, tcp_segment_mut, Splice};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::table::Forwarding;
use crate::flow::{Direction, Hit};
use crate::io::PacketIo;
use crate::packet::Ipv4Meta;
use crate::sync::RecordKind;
use crate::synproxy::early::EarlyRef;
use crate::synproxy::frame::{rewrite_segment, rewritten_meta, Segment, Way};
use crate::tables::LbTables;
use crate::wire::get_be32;
use crate::wire::tcp::{self, TcpFlags};

impl<P: PacketBuf> Datapath<P> {
    /// Step 2: a valid cookie ACK opens the session and goes on as our SYN
    /// to the backend.
    pub(super) fn cookie_ack<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        pkt: P,
        meta: &Ipv4Meta,
        hash: u64,
    ) {
        let Some((seq, ack, window, o)) = handshake_fields(pkt.data(), meta) else {
            return self.drop(DropReason::SynProxyBadOptions);
        };
        let Ok(mss) = self.synproxy.secrets.check(&meta.tuple, seq, ack, cx.now) else {
            return self.bad_cookie(cx, at, pkt, meta, ack);
        };
        let splice = Splice::of_cookie_ack((seq, ack, window), &o, mss);
        // Scheduled as the SYN it stands for.
        let mut first = first_packet(pkt.data(), meta, hash);
        first.tcp_flags = TcpFlags::SYN;
        let (mut pkt, early) = self.split_early(cx, pkt, meta);
        let syn = splice.backend_syn();
        if let Err(reason) = rewrite_segment(&mut pkt, meta, &syn, Way::On) {
            return self.drop(reason);
        }
        let early_meta = *meta;
        let meta = &rewritten_meta(meta, &syn, Way::On);
        let plan = match self.flow.plan(cx.t, &first, cx.now) {
            Ok(plan) => plan,
            Err(reason) => return self.refuse(cx, at.port, pkt, (&first, meta), reason),
        };
        let id = match self.commit(plan, cx.now) {
            Ok(id) => id,
            Err(reason) => return self.drop(reason),
        };
        let Some(slot) = self.synproxy.splices.get_mut(id.index()) else {
            // No room was made (cannot happen while a service is proxied).
            self.flow.end(id, cx.now);
            return self.drop(DropReason::TableFull);
        };
        *slot = splice;
        self.flow.mark_syn_proxied(id);
        if let Some(v) = header_version(cx.t, &meta.tuple) {
            slot.send_header(v, &meta.tuple);
            self.flow.mark_proxy_header(id);
        }
        if let Some(data) = early {
            self.hold_early(id, at.port, data, &early_meta);
        }
        self.sync_opened(cx.t, id, cx.now);
        self.counters.events.synproxy_cookie_accepted += 1;
        let hit = Hit {
            id,
            dir: Direction::Inbound,
        };
        self.forward(cx, at, pkt, meta, hit)
    }

    /// A packet of a proxied session, before the session's rewrite: the
    /// handshake with the backend, then sequence translation. Returns the
    /// packet to translate and forward (with its metadata), or `None` when
    /// it was sent here or dropped.
    #[cold]
    pub(in crate::pipeline) fn splice<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        mut pkt: P,
        meta: &Ipv4Meta,
        hit: Hit,
    ) -> Option<(P, Ipv4Meta)> {
        let Some(slot) = self.synproxy.splices.get_mut(hit.id.index()) else {
            self.drop(DropReason::SynProxyUnexpected);
            return None;
        };
        if slot.established && !slot.in_window(hit.dir, tcp_segment(pkt.data(), meta)) {
            self.drop(DropReason::SynProxyOutOfWindow);
            return None;
        }
        let sp = *slot;
        let outcome = match (hit.dir, sp.established) {
            (Direction::Inbound, false) => {
                // The backend SYN `cookie_ack` made passes; anything else
                // the client sends before the backend answers becomes that
                // SYN again (a lost SYN is sent again this way).
                let h = tcp_segment(pkt.data(), meta);
                let ours = tcp_flags_of(pkt.data(), meta) == TcpFlags::SYN
                    && get_be32(h, tcp::field::SEQ_NUM.start) == sp.client_isn;
                if ours {
                    return Some((pkt, *meta));
                }
                pkt = match self.hold_half_open(at, pkt, meta, hit, &sp) {
                    Ok(()) => return None,
                    Err(pkt) => pkt,
                };
                self.counters.events.synproxy_syn_resent += 1;
                let syn = sp.backend_syn();
                rewrite_segment(&mut pkt, meta, &syn, Way::On)
                    .map(|()| rewritten_meta(meta, &syn, Way::On))
            }
            (Direction::Inbound, true) => {
                // (Without a header the fast path above took it.)
                let Some(v) = sp.header else {
                    return Some((pkt, *meta));
                };
                return self.header_to_backend(cx.t, pkt, meta, hit, sp, v);
            }
            (Direction::Outbound, false) => {
                return self.backend_answer(cx, at, pkt, meta, hit, sp);
            }
            (Direction::Outbound, true) => {
                self.header_to_client(&mut pkt, meta, hit, &sp).map(|()| {
                    rescale_window(tcp_segment_mut(pkt.data_mut(), meta), sp.backend_wscale);
                    *meta
                })
            }
        };
        match outcome {
            Ok(m) => Some((pkt, m)),
            Err(reason) => {
                self.drop(reason);
                None
            }
        }
    }

    /// Step 3: the backend's answer to our SYN. A SYN-ACK for it fixes the
    /// translation and goes back as our ACK; a RST goes on to the client
    /// as the refusal of the connection it thinks it has.
    fn backend_answer<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        mut pkt: P,
        meta: &Ipv4Meta,
        hit: Hit,
        mut sp: Splice,
    ) -> Option<(P, Ipv4Meta)> {
        let flags = tcp_flags_of(pkt.data(), meta);
        if flags & TcpFlags::RST != 0 {
            // The connection is refused: what it held goes nowhere.
            self.drop_early(sp.early);
            if let Some(slot) = self.synproxy.splices.get_mut(hit.id.index()) {
                slot.early = EarlyRef::NONE;
            }
            let rst = Segment::new(sp.cookie_isn.wrapping_add(1), 0, TcpFlags::RST, 0);
            return match rewrite_segment(&mut pkt, meta, &rst, Way::On) {
                Ok(()) => Some((pkt, rewritten_meta(meta, &rst, Way::On))),
                Err(reason) => {
                    self.drop(reason);
                    None
                }
            };
        }
        let Some((seq, ack, _, o)) = handshake_fields(pkt.data(), meta) else {
            self.drop(DropReason::SynProxyBadOptions);
            return None;
        };
        let syn_ack = TcpFlags::SYN | TcpFlags::ACK;
        if flags & syn_ack != syn_ack || ack != sp.client_isn.wrapping_add(1) {
            self.drop(DropReason::SynProxyUnexpected);
            return None;
        }
        let reply = sp.spliced_by(seq, &o);
        let early = std::mem::take(&mut sp.early);
        if let Err(reason) = rewrite_segment(&mut pkt, meta, &reply, Way::Back) {
            self.drop(reason);
            return None;
        }
        self.toa_on_our_ack(
            cx.t,
            &mut pkt,
            &rewritten_meta(meta, &reply, Way::Back),
            hit,
        );
        if let Some(slot) = self.synproxy.splices.get_mut(hit.id.index()) {
            *slot = sp;
        }
        // The session's state moves with the backend's SYN-ACK and our
        // ACK, as it would have with the client's ACK without the proxy
        // (so the client's next segment is not taken for the handshake's).
        self.flow.on_packet(hit.id, hit.dir, Some(flags), cx.now);
        self.flow
            .on_packet(hit.id, Direction::Inbound, Some(TcpFlags::ACK), cx.now);
        // The peers learn the shift now that it is fixed.
        self.sync_event(cx.t, hit.id, RecordKind::Changed, cx.now);
        self.counters.events.synproxy_spliced += 1;
        self.send(cx, at.port, pkt);
        // The client's data that came before goes right behind our ACK.
        self.send_early(cx, hit.id, early);
        None
    }

    /// With TOA on the session's FULLNAT service, the option goes on our
    /// ACK to the backend: the one that ends its handshake, where TOA
    /// kernel modules read it (the client's own ACK never reaches it).
    fn toa_on_our_ack(&mut self, t: &LbTables, pkt: &mut P, meta: &Ipv4Meta, hit: Hit) {
        let s = self.flow.sessions().get(hit.id);
        if s.forwarding() != Forwarding::FullNat || !sends_toa(t, s.origin()) {
            return;
        }
        let client = (s.inbound().src, s.inbound().src_port);
        self.insert_toa(t, pkt, meta, client);
    }
}
