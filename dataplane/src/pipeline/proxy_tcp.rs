//! The PROXY protocol header on TCP sessions of NAT and FULLNAT services
//! with `proxy_protocol` (docs/load-balancing.md, "The client's address
//! behind FULLNAT"): the header goes in
//! front of the client's first payload byte, and the client's sequence
//! numbers after it are shifted by its length for the rest of the
//! connection, the backend's acknowledgments shifted back
//! (`synproxy::seq::SeqAdjust` with `client_seq` = the header's length).
//!
//! The shift lives in the session's splice slot, as the SYN proxy's does
//! (one `Splice` per session slot; `session_flags::PROXY_HEADER`). With
//! `syn_proxy` too, the same slot holds both shifts: one translation.
//!
//! Which client segment gets the header: any that starts at the client's
//! first byte (ISN + 1) and carries data or a FIN. A retransmission of
//! that segment is such a segment again, so it gets the same header again
//! and the backend sees it once, in sequence. Whoever speaks first, the
//! header is in front of the client's first byte.

use super::burst::tcp_flags_of;
use super::synproxy::{tcp_segment, tcp_segment_mut, Splice};
use super::Datapath;
use crate::buf::PacketBuf;
use crate::client_addr::proxy_header::{Endpoints, ProxyVersion};
use crate::client_addr::tcp::{self as header_tcp, Header};
use crate::drop::DropReason;
use crate::flow::table::{session_flags, Forwarding};
use crate::flow::{Hit, Origin, SessionId};
use crate::packet::Ipv4Meta;
use crate::rewrite::clamp_mss;
use crate::tables::LbTables;
use crate::tuple::FiveTuple;
use crate::wire::tcp::{self, TcpFlags};
use crate::wire::{get_be16, get_be32};

/// The connection a header names: the client (source) and the VIP and
/// port it connected to, from the client's tuple as it arrived.
pub(super) fn endpoints(tuple: &FiveTuple) -> Endpoints {
    Endpoints {
        src: (tuple.src, tuple.src_port),
        dst: (tuple.dst, tuple.dst_port),
    }
}

/// The PROXY version the service of a client's `tuple` sends on TCP, if
/// any (only looked up when some TCP service sends one).
pub(super) fn header_version(t: &LbTables, tuple: &FiveTuple) -> Option<ProxyVersion> {
    if !t.proxy_tcp {
        return None;
    }
    let key = tuple.service_key();
    let s = t.service_index.lookup(&key)?;
    t.services.get(s as usize)?.spec.proxy_protocol
}

impl Splice {
    /// Makes the splice insert the header of `version` for the client's
    /// `tuple` in front of the byte after `client_isn`.
    pub(super) fn send_header(&mut self, version: ProxyVersion, tuple: &FiveTuple) {
        let len = Header::new(version, endpoints(tuple)).len();
        self.header = Some(version);
        self.adjust.client_seq = len as u32;
        self.adjust.client_from = self.client_isn.wrapping_add(1);
    }
}

/// The sequence number of a TCP segment (0 for one too short to have one:
/// the classifier already refused those).
fn seq_of(frame: &[u8], meta: &Ipv4Meta) -> u32 {
    let h = tcp_segment(frame, meta);
    match h.get(tcp::field::SEQ_NUM) {
        Some(_) => get_be32(h, tcp::field::SEQ_NUM.start),
        None => 0,
    }
}

/// Whether a TCP segment carries data.
pub(super) fn has_data(frame: &[u8], meta: &Ipv4Meta) -> bool {
    let h = tcp_segment(frame, meta);
    let header = usize::from(h.get(tcp::field::DATA_OFFSET).map_or(0, |b| b >> 4)) * 4;
    h.len() > header
}

impl<P: PacketBuf> Datapath<P> {
    /// A TCP session `id` a client's SYN just made (no SYN proxy): when
    /// its service sends the PROXY header, its splice set to insert it and
    /// the session marked. A session picked up mid-stream has no ISN to
    /// count from and gets no header.
    #[cold]
    pub(super) fn open_proxy_header(
        &mut self,
        t: &LbTables,
        id: SessionId,
        pkt: &P,
        meta: &Ipv4Meta,
    ) {
        let session = self.flow.sessions().get(id);
        let (Origin::Service(_), Forwarding::Nat | Forwarding::FullNat) =
            (session.origin(), session.forwarding())
        else {
            return;
        };
        let Some(version) = header_version(t, &meta.tuple) else {
            return;
        };
        if tcp_flags_of(pkt.data(), meta) & (TcpFlags::SYN | TcpFlags::ACK) != TcpFlags::SYN {
            return;
        }
        let Some(slot) = self.synproxy.splices.get_mut(id.index()) else {
            return;
        };
        *slot = Splice {
            client_isn: seq_of(pkt.data(), meta),
            established: true,
            ..Splice::default()
        };
        slot.send_header(version, &meta.tuple);
        self.flow.mark_proxy_header(id);
    }

    /// A client segment of a session with a header, the handshakes done:
    /// translated, and the header put in front of the client's first
    /// byte. Returns the packet to forward, or None when it was dropped.
    pub(super) fn header_to_backend(
        &mut self,
        t: &LbTables,
        mut pkt: P,
        meta: &Ipv4Meta,
        hit: Hit,
        sp: Splice,
        version: ProxyVersion,
    ) -> Option<(P, Ipv4Meta)> {
        let flags = tcp_flags_of(pkt.data(), meta);
        let data = has_data(pkt.data(), meta);
        if flags & TcpFlags::SYN != 0 && data {
            self.drop(DropReason::ProxySynData);
            return None;
        }
        let first = seq_of(pkt.data(), meta) == sp.adjust.client_from
            && (data || flags & TcpFlags::FIN != 0)
            && flags & (TcpFlags::SYN | TcpFlags::RST) == 0;
        if first && meta.fragment.is_some() {
            // Growing a fragment would move the datagram's later ones.
            self.drop(DropReason::ProxyHeaderNoRoom);
            return None;
        }
        if sp
            .adjust
            .to_backend(tcp_segment_mut(pkt.data_mut(), meta))
            .is_err()
        {
            self.drop(DropReason::ProxyBadOptions);
            return None;
        }
        if !first {
            return Some((pkt, *meta));
        }
        let header = Header::new(version, endpoints(&meta.tuple));
        if header_tcp::insert(&mut pkt, meta.l3_offset, header.as_bytes(), t.min_mtu).is_err() {
            self.drop(DropReason::ProxyHeaderNoRoom);
            return None;
        }
        let e = &mut self.counters.events;
        match sp.header_sent {
            true => e.proxy_tcp_resent += 1,
            false => {
                e.proxy_tcp_added += 1;
                if let Some(slot) = self.synproxy.splices.get_mut(hit.id.index()) {
                    slot.header_sent = true;
                }
            }
        }
        let meta = Ipv4Meta {
            total_len: meta.total_len + header.len() as u16,
            ..*meta
        };
        Some((pkt, meta))
    }

    /// A backend segment of a session with a header: translated; the
    /// backend's SYN-ACK also has its MSS lowered by the header's length,
    /// so the client's first segment still fits the path with the header
    /// in front of it (with the SYN proxy our cookie SYN-ACK did that, and
    /// a backend's SYN-ACK reaching the client is a duplicate).
    pub(super) fn header_to_client(
        &mut self,
        pkt: &mut P,
        meta: &Ipv4Meta,
        hit: Hit,
        sp: &Splice,
    ) -> Result<(), DropReason> {
        sp.adjust
            .to_client(tcp_segment_mut(pkt.data_mut(), meta))
            .map_err(|_| DropReason::ProxyBadOptions)?;
        let syn_proxied = self.flow.sessions().get(hit.id).flags() & session_flags::SYN_PROXY != 0;
        if tcp_flags_of(pkt.data(), meta) & TcpFlags::SYN != 0 && !syn_proxied {
            self.lower_mss(pkt, meta, sp.adjust.client_seq);
        }
        Ok(())
    }

    /// Lowers the MSS option of a SYN(-ACK) by `by` bytes, counted.
    pub(super) fn lower_mss(&mut self, pkt: &mut P, meta: &Ipv4Meta, by: u32) {
        let h = tcp_segment(pkt.data(), meta);
        let Some(at) = tcp::mss_value_at(h) else {
            return;
        };
        let lowered = get_be16(h, at).saturating_sub(by as u16);
        if clamp_mss(pkt.data_mut(), meta, lowered) {
            self.counters.events.proxy_tcp_mss_lowered += 1;
        }
    }
}
