//! The SYN proxy for IPv6 NAT and FULLNAT services (issues 20 and 21):
//! IPv4's three steps (`synproxy.rs`, `synproxy_open.rs`) on IPv6 packets,
//! with the same [`Splice`] (kept by the IPv6 session table's slot), the
//! same options, translation and window check.
//!
//! 1. A client's SYN with no session (`forward6.rs` asks [`proxies6`]):
//!    answered with a cookie SYN-ACK over IPv6 (the cookie hashes the IPv6
//!    4-tuple, its MSS from [`cookie::MSS_TABLE6`]), out of the port it
//!    came in by. Nothing is kept.
//! 2. The client's ACK with no session: its cookie checked, the session
//!    opened as for a SYN (`open6`), marked `session_flags::SYN_PROXY`,
//!    and the ACK rewritten into our SYN to the backend, which goes on
//!    through the NAT or FULLNAT rewrite as a first packet.
//! 3. The backend's SYN-ACK (`nat6.rs` hands a proxied session's replies
//!    here): the translation fixed, the SYN-ACK turned into our ACK back
//!    to the backend.
//!
//! From then on every segment is checked against the window and
//! translated in place before the rewrite. Unlike IPv4, a client's data
//! before the backend answered is not held: it becomes the backend SYN
//! again, its data discarded (`synproxy_early_data`) for the client to
//! retransmit. A handshake segment with extension headers is refused
//! (`synproxy_bad_options`, as IPv4 options are).
//!
//! [`proxies6`]: Datapath::proxies6

use super::super::{Cx, Datapath};
use super::{cookie_syn_ack, proxied_service, segment_fields, syn_ack_options, Splice};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::table::session_flags;
use crate::flow::{Direction, SessionId};
use crate::io::PacketIo;
use crate::packet6::Ipv6Meta;
use crate::sync::RecordKind;
use crate::synproxy::cookie;
use crate::synproxy::frame::{rewrite_segment6, rewritten_meta6, Segment, Way};
use crate::synproxy::options::TcpOptions;
use crate::tables::LbTables;
use crate::tuple::FiveTuple6;
use crate::wire::get_be32;
use crate::wire::tcp::{self, TcpFlags};

/// The MSS assumed for an IPv6 client that announced none (RFC 9293
/// 3.7.1: the IPv6 minimum MTU less 60).
const DEFAULT_MSS6: u16 = 1220;

/// Where an IPv6 segment of a proxied session goes after its splice step:
/// on through the forwarding path as it is (translated in place), on as a
/// new segment (its metadata), or nowhere (sent here, or dropped).
pub(in crate::pipeline) enum Spliced6<P> {
    On(P),
    Rewritten(P, Ipv6Meta),
    Done,
}

/// The TCP segment of an IPv6 packet (header and payload).
fn segment6<'a>(frame: &'a [u8], meta: &Ipv6Meta) -> &'a [u8] {
    let end = meta.l3_offset + usize::from(meta.len);
    frame.get(meta.l4_offset..end).unwrap_or(&[])
}

fn segment6_mut<'a>(frame: &'a mut [u8], meta: &Ipv6Meta) -> &'a mut [u8] {
    let end = meta.l3_offset + usize::from(meta.len);
    frame.get_mut(meta.l4_offset..end).unwrap_or(&mut [])
}

/// The handshake fields of an IPv6 segment; `None` with extension
/// headers (a handshake segment is rebuilt without them) or options that
/// cannot be read.
fn handshake_fields6(frame: &[u8], meta: &Ipv6Meta) -> Option<(u32, u32, u16, TcpOptions)> {
    if meta.extensions != 0 {
        return None;
    }
    segment_fields(segment6(frame, meta))
}

/// Whether a TCP segment carries data (past its header).
fn has_payload(h: &[u8]) -> bool {
    let header = h
        .get(tcp::field::DATA_OFFSET)
        .map_or(0, |b| usize::from(b >> 4) * 4);
    h.len() > header
}

impl<P: PacketBuf> Datapath<P> {
    /// Whether a new TCP flow of IPv6 `tuple` goes through the SYN proxy:
    /// its service has `syn_proxy`, or automatic mode is on and it is an
    /// IPv6 NAT or FULLNAT service.
    #[inline]
    pub(in crate::pipeline) fn proxies6(&self, t: &LbTables, tuple: &FiveTuple6) -> bool {
        let auto = self.synproxy.auto_on;
        (t.syn_proxying || auto) && proxied_service(t, &tuple.service_key(), auto)
    }

    /// Whether IPv6 session `id` was opened by the SYN proxy.
    #[inline(always)]
    pub(in crate::pipeline) fn syn_proxied6(&self, id: SessionId) -> bool {
        self.flow.sessions6().get(id).flags() & session_flags::SYN_PROXY != 0
    }

    /// A TCP segment with no session to a proxied IPv6 service, received
    /// on `port`: a SYN is answered, an ACK's cookie checked, anything else
    /// dropped. A valid cookie ACK comes back as our SYN to the backend
    /// with the session it opened, to forward as its first packet.
    pub(in crate::pipeline) fn syn_proxy6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        pkt: P,
        meta: &Ipv6Meta,
    ) -> Option<(P, Ipv6Meta, SessionId)> {
        let handshake = TcpFlags::SYN | TcpFlags::ACK | TcpFlags::RST | TcpFlags::FIN;
        match meta.tcp_flags.unwrap_or(0) & handshake {
            TcpFlags::SYN => {
                self.answer_syn6(cx, port, pkt, meta);
                None
            }
            TcpFlags::ACK => self.cookie_ack6(cx, port, pkt, meta),
            _ => {
                self.drop(DropReason::SynProxyNoSession);
                None
            }
        }
    }

    /// Step 1: the client's SYN becomes our cookie SYN-ACK.
    fn answer_syn6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        mut pkt: P,
        meta: &Ipv6Meta,
    ) {
        let Some((seq, _, _, o)) = handshake_fields6(pkt.data(), meta) else {
            return self.drop(DropReason::SynProxyBadOptions);
        };
        let mss = o.mss.unwrap_or(DEFAULT_MSS6);
        let cookie = self.synproxy.secrets.encode(&meta.tuple, seq, mss, cx.now);
        let flags = meta.tcp_flags.unwrap_or(0);
        let opts = syn_ack_options(&o, flags, cookie.mss, cx.now);
        let seg = cookie_syn_ack(cookie.isn, seq, &opts);
        match rewrite_segment6(&mut pkt, meta, &seg, Way::Back) {
            Ok(()) => {
                self.counters.events.synproxy_syn_answered += 1;
                self.send(cx, port, pkt)
            }
            Err(reason) => self.drop(reason),
        }
    }

    /// Step 2: a valid cookie ACK opens the session and goes on as our SYN
    /// to the backend.
    fn cookie_ack6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        mut pkt: P,
        meta: &Ipv6Meta,
    ) -> Option<(P, Ipv6Meta, SessionId)> {
        let Some((seq, ack, window, o)) = handshake_fields6(pkt.data(), meta) else {
            self.drop(DropReason::SynProxyBadOptions);
            return None;
        };
        let Ok(mss) = self.synproxy.secrets.check(&meta.tuple, seq, ack, cx.now) else {
            self.bad_cookie6(cx, port, pkt, meta, ack);
            return None;
        };
        let splice = Splice::of_cookie_ack((seq, ack, window), &o, mss);
        if has_payload(segment6(pkt.data(), meta)) {
            self.counters.events.synproxy_early_data += 1;
        }
        let syn = splice.backend_syn();
        if let Err(reason) = rewrite_segment6(&mut pkt, meta, &syn, Way::On) {
            self.drop(reason);
            return None;
        }
        let meta = rewritten_meta6(meta, &syn, Way::On);
        let hash = self.flow.sessions6().hash(&meta.tuple);
        let id = match self.open6(cx, &meta, hash) {
            Ok(id) => id,
            Err(reason) => {
                self.refuse6(cx.t, &meta, reason);
                return None;
            }
        };
        let Some(slot) = self.synproxy.splices6.get_mut(id.index()) else {
            // No room was made (cannot happen while a service is proxied).
            self.flow.end6(id, cx.now);
            self.drop(DropReason::TableFull);
            return None;
        };
        *slot = splice;
        self.flow.mark_syn_proxied6(id);
        self.counters.events.synproxy_cookie_accepted += 1;
        Some((pkt, meta, id))
    }

    /// An ACK whose cookie is not valid: dropped, and answered with a RST
    /// when `reset_bad_cookie` says so (within the worker's budget), as
    /// IPv4's (`synproxy_reset.rs`).
    fn bad_cookie6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        mut pkt: P,
        meta: &Ipv6Meta,
        ack: u32,
    ) {
        if !self.bad_cookie_answered(cx.t, cx.now) {
            return;
        }
        let rst = Segment::new(ack, 0, TcpFlags::RST, 0);
        if rewrite_segment6(&mut pkt, meta, &rst, Way::Back).is_ok() {
            self.counters.events.synproxy_resets_sent += 1;
            self.send(cx, port, pkt);
        }
    }

    /// A segment of spliced IPv6 session `id` going `dir`: checked against
    /// the window and translated in place, or dropped by name.
    fn translate_spliced6(
        &mut self,
        mut pkt: P,
        meta: &Ipv6Meta,
        id: SessionId,
        dir: Direction,
    ) -> Spliced6<P> {
        let translated = match self.synproxy.splices6.get_mut(id.index()) {
            Some(slot) => {
                let straight = slot.plain_splice();
                slot.translate_as(straight, dir, segment6_mut(pkt.data_mut(), meta))
            }
            None => Err(DropReason::SynProxyUnexpected),
        };
        match translated {
            Ok(()) => Spliced6::On(pkt),
            Err(reason) => {
                self.drop(reason);
                Spliced6::Done
            }
        }
    }

    /// A client's segment of proxied IPv6 session `id`, before its
    /// rewrite: before the splice, our SYN passes and anything else
    /// becomes it again (a lost SYN is sent again this way); after it,
    /// checked against the window and translated in place.
    #[cold]
    pub(in crate::pipeline) fn splice6_in(
        &mut self,
        mut pkt: P,
        meta: &Ipv6Meta,
        id: SessionId,
    ) -> Spliced6<P> {
        let Some(slot) = self.synproxy.splices6.get_mut(id.index()) else {
            self.drop(DropReason::SynProxyUnexpected);
            return Spliced6::Done;
        };
        if slot.established {
            return self.translate_spliced6(pkt, meta, id, Direction::Inbound);
        }
        let sp = *slot;
        let h = segment6(pkt.data(), meta);
        let ours = meta.tcp_flags == Some(TcpFlags::SYN)
            && get_be32(h, tcp::field::SEQ_NUM.start) == sp.client_isn;
        if ours {
            return Spliced6::On(pkt);
        }
        if has_payload(h) {
            self.counters.events.synproxy_early_data += 1;
        }
        self.counters.events.synproxy_syn_resent += 1;
        let syn = sp.backend_syn();
        match rewrite_segment6(&mut pkt, meta, &syn, Way::On) {
            Ok(()) => Spliced6::Rewritten(pkt, rewritten_meta6(meta, &syn, Way::On)),
            Err(reason) => {
                self.drop(reason);
                Spliced6::Done
            }
        }
    }

    /// A backend's segment of proxied IPv6 session `id`, received on
    /// `port`, before its rewrite: before the splice, its SYN-ACK goes
    /// back as our ACK (step 3) and a RST on to the client in its sequence
    /// space; after it, checked against the window and translated in
    /// place.
    #[cold]
    pub(in crate::pipeline) fn splice6_out<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        mut pkt: P,
        meta: &Ipv6Meta,
        id: SessionId,
    ) -> Spliced6<P> {
        let Some(slot) = self.synproxy.splices6.get_mut(id.index()) else {
            self.drop(DropReason::SynProxyUnexpected);
            return Spliced6::Done;
        };
        if slot.established {
            return self.translate_spliced6(pkt, meta, id, Direction::Outbound);
        }
        let mut sp = *slot;
        let flags = meta.tcp_flags.unwrap_or(0);
        if flags & TcpFlags::RST != 0 {
            // The connection is refused: the client hears it in its space.
            let rst = Segment::new(sp.cookie_isn.wrapping_add(1), 0, TcpFlags::RST, 0);
            return match rewrite_segment6(&mut pkt, meta, &rst, Way::On) {
                Ok(()) => Spliced6::Rewritten(pkt, rewritten_meta6(meta, &rst, Way::On)),
                Err(reason) => {
                    self.drop(reason);
                    Spliced6::Done
                }
            };
        }
        let Some((seq, ack, _, o)) = handshake_fields6(pkt.data(), meta) else {
            self.drop(DropReason::SynProxyBadOptions);
            return Spliced6::Done;
        };
        let syn_ack = TcpFlags::SYN | TcpFlags::ACK;
        if flags & syn_ack != syn_ack || ack != sp.client_isn.wrapping_add(1) {
            self.drop(DropReason::SynProxyUnexpected);
            return Spliced6::Done;
        }
        let reply = sp.spliced_by(seq, &o);
        if let Err(reason) = rewrite_segment6(&mut pkt, meta, &reply, Way::Back) {
            self.drop(reason);
            return Spliced6::Done;
        }
        if let Some(slot) = self.synproxy.splices6.get_mut(id.index()) {
            *slot = sp;
        }
        // The session's state moves with the backend's SYN-ACK and our
        // ACK, as it would have with the client's ACK without the proxy.
        self.flow
            .on_packet6(id, Direction::Outbound, Some(flags), cx.now);
        self.flow
            .on_packet6(id, Direction::Inbound, Some(TcpFlags::ACK), cx.now);
        // The peers learn the shift now that it is fixed (as IPv4's).
        self.sync_event6(cx.t, id, RecordKind::Changed, cx.now);
        self.counters.events.synproxy_spliced += 1;
        self.send(cx, port, pkt);
        Spliced6::Done
    }
}

/// `cookie::MSS_TABLE6` is what an IPv6 cookie rounds to.
const _: () = assert!(cookie::MSS_TABLE6[0] == DEFAULT_MSS6);
