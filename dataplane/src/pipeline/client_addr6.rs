//! The client's address behind IPv6 NAT and FULLNAT services (issues 20
//! and 21; docs/load-balancing.md, "The client's address behind
//! FULLNAT"): what `client_addr.rs` and `proxy_tcp.rs` do for IPv4, on
//! IPv6 packets, with IPv6's encodings (`client_addr::proxy_header6`,
//! the 20-byte TOA option).
//!
//! - **PROXY header on TCP** (NAT and FULLNAT): a session a client's SYN
//!   opened gets a shift slot (`Shift6`, by session slot) and
//!   `session_flags::PROXY_HEADER`; the header goes in front of the
//!   client's first byte (any segment that starts at ISN + 1 and carries
//!   data or a FIN, a retransmission again), the client's later sequence
//!   numbers reach the backend shifted by its length and the backend's
//!   acknowledgments and SACK blocks reach the client shifted back
//!   (`synproxy::seq::SeqAdjust`, as IPv4); the backend's SYN-ACK has its
//!   MSS lowered by the header's length.
//! - **PROXY v2 on UDP** (FULLNAT): the 52-byte header on the datagram
//!   that made the session.
//! - **TOA** (FULLNAT TCP): the client's SYN has its MSS lowered by 20,
//!   the ACK that ends the handshake carries DPVS's IPv6 option.
//!
//! All of it runs on the client's packet before the NAT rewrite (the
//! header names the client and the VIP as the client sent them), only
//! when some IPv6 service asks for it (`LbTables::client_addr6`), and
//! for the backend's packets only of sessions marked with a header.

use super::Datapath;
use crate::buf::PacketBuf;
use crate::client_addr::proxy_header::ProxyVersion;
use crate::client_addr::proxy_header6::{Endpoints6, V2_IPV6_LEN};
use crate::client_addr::tcp::{self as header_tcp, Header};
use crate::client_addr::{toa, udp, Skip};
use crate::drop::DropReason;
use crate::flow::state::FlowState;
use crate::flow::table::{session_flags, Forwarding};
use crate::flow::{Origin, ProtoState, SessionId, TcpState};
use crate::packet::Ipv4Meta;
use crate::packet6::Ipv6Meta;
use crate::rewrite::clamp_mss_at;
use crate::sync::ShiftRecord6;
use crate::synproxy::seq::SeqAdjust;
use crate::tables::{LbTables, ServiceSpec};
use crate::tuple::{FiveTuple6, IpProto};
use crate::wire::ipv4::IPV4_MIN_HEADER_LEN;
use crate::wire::tcp::{self, TcpFlags};
use crate::wire::{get_be16, get_be32};

/// The PROXY header's shift of one IPv6 session: the sequence translation
/// (`client_seq` = the header's length from `client_from` = the client's
/// ISN + 1), the header's version, and whether a segment carried it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Shift6 {
    pub adjust: SeqAdjust,
    pub header: Option<ProxyVersion>,
    pub header_sent: bool,
}

impl Shift6 {
    /// The shift as a sync record's (None before a header is set).
    pub(super) fn record(&self) -> Option<ShiftRecord6> {
        Some(ShiftRecord6 {
            client_seq: self.adjust.client_seq,
            client_from: self.adjust.client_from,
            header: self.header?,
            header_sent: self.header_sent,
        })
    }
}

/// A peer's shift for the IPv6 session of `inbound` just installed or
/// updated here: the session marked and its slot set (what was sent
/// already kept: the same shift again).
pub(super) fn install_shift6(
    flow: &mut FlowState,
    slots: &mut [Shift6],
    inbound: &FiveTuple6,
    r: &ShiftRecord6,
) {
    let Some(id) = flow.sessions6().lookup(inbound).map(|h| h.id) else {
        return;
    };
    let Some(slot) = slots.get_mut(id.index()) else {
        return;
    };
    let adjust = SeqAdjust {
        client_seq: r.client_seq,
        client_from: r.client_from,
        ..SeqAdjust::default()
    };
    let sent = slot.header_sent && slot.adjust == adjust;
    *slot = Shift6 {
        adjust,
        header: Some(r.header),
        header_sent: r.header_sent || sent,
    };
    flow.mark_proxy_header6(id);
}

/// The shift slots of a worker's IPv6 sessions, by session slot
/// (allocated once an IPv6 TCP service sends the header, as the SYN
/// proxy's splices are).
#[derive(Default)]
pub(super) struct Shifts6 {
    pub(super) slots: Vec<Shift6>,
}

impl Shifts6 {
    /// Makes room for a slot per IPv6 session once an IPv6 service sends
    /// the PROXY header on TCP (between polls: allocates once).
    pub(super) fn fit(&mut self, t: &LbTables, capacity6: usize) {
        if t.proxy_tcp6 && self.slots.len() < capacity6 {
            self.slots.resize(capacity6, Shift6::default());
        }
    }
}

/// What the client's packet path knows of the session it is on.
#[derive(Clone, Copy)]
pub(super) struct Seen6 {
    pub id: SessionId,
    /// The packet made the session.
    pub opened: bool,
    /// The session's state before the packet.
    pub before: ProtoState,
    /// A NAT64 session: the packet leaves as IPv4, 20 bytes of IPv4
    /// header where the IPv6 header and its extension headers were.
    pub nat64: bool,
}

/// How large the client's IPv6 packet may grow: the smallest port MTU,
/// for the packet as it leaves (NAT64's IPv4 packet is smaller by the
/// difference of the headers).
fn limit(t: &LbTables, meta: &Ipv6Meta, nat64: bool) -> u16 {
    match nat64 {
        false => t.min_mtu,
        true => {
            let shrink = (meta.l4_offset - meta.l3_offset).saturating_sub(IPV4_MIN_HEADER_LEN);
            t.min_mtu.saturating_add(shrink as u16)
        }
    }
}

/// The connection a header names: the client and the VIP and port it
/// connected to, from the client's tuple as it arrived.
fn endpoints6(tuple: &FiveTuple6) -> Endpoints6 {
    Endpoints6 {
        src: (tuple.src, tuple.src_port),
        dst: (tuple.dst, tuple.dst_port),
    }
}

/// The TCP header and payload of an IPv6 packet (empty for one too short:
/// the classifier already refused those).
fn segment<'a>(frame: &'a [u8], meta: &Ipv6Meta) -> &'a [u8] {
    frame
        .get(meta.l4_offset..meta.l3_offset + usize::from(meta.len))
        .unwrap_or(&[])
}

fn segment_mut<'a>(frame: &'a mut [u8], meta: &Ipv6Meta) -> &'a mut [u8] {
    frame
        .get_mut(meta.l4_offset..meta.l3_offset + usize::from(meta.len))
        .unwrap_or(&mut [])
}

/// Whether the packet is a (first) fragment: only one with extension
/// headers can be, so a plain packet pays one compare.
fn fragmented(frame: &[u8], meta: &Ipv6Meta) -> bool {
    meta.extensions != 0 && super::fragment6::is_fragment(frame, meta.l3_offset)
}

fn seq_of(h: &[u8]) -> u32 {
    match h.get(tcp::field::SEQ_NUM) {
        Some(_) => get_be32(h, tcp::field::SEQ_NUM.start),
        None => 0,
    }
}

fn has_data(h: &[u8]) -> bool {
    let header = usize::from(h.get(tcp::field::DATA_OFFSET).map_or(0, |b| b >> 4)) * 4;
    h.len() > header
}

/// `meta` of a packet grown by `n` bytes.
fn grown(meta: &Ipv6Meta, n: usize) -> Ipv6Meta {
    Ipv6Meta {
        len: meta.len + n as u16,
        ..*meta
    }
}

impl<P: PacketBuf> Datapath<P> {
    /// A client's packet of IPv6 NAT or FULLNAT session `seen.id`, before
    /// its rewrite, with some IPv6 service passing the client's address:
    /// the packet to forward (grown or as it was), or None when it was
    /// dropped (counted).
    #[cold]
    pub(super) fn client_addr_to_backend6(
        &mut self,
        t: &LbTables,
        seen: Seen6,
        mut pkt: P,
        meta: &Ipv6Meta,
    ) -> Option<(P, Ipv6Meta)> {
        let s = self.flow.sessions6().get(seen.id);
        let forwarding = s.forwarding();
        let mtu = limit(t, meta, seen.nat64);
        let Origin::Service(si) = s.origin() else {
            return Some((pkt, *meta));
        };
        let Some(spec) = t.services.get(si as usize).map(|s| &s.spec) else {
            return Some((pkt, *meta));
        };
        let Some(tcp_flags) = meta.tcp_flags else {
            let v2 = spec.proxy_protocol == Some(ProxyVersion::V2);
            if seen.opened && v2 && forwarding == Forwarding::FullNat {
                let meta = self.udp_header6(mtu, &mut pkt, meta);
                return Some((pkt, meta));
            }
            return Some((pkt, *meta));
        };
        if spec.toa && forwarding == Forwarding::FullNat {
            let meta = self.toa6(mtu, &mut pkt, meta, tcp_flags, seen.before);
            return Some((pkt, meta));
        }
        if spec.proxy_protocol.is_none() {
            return Some((pkt, *meta));
        }
        if seen.opened {
            self.open_header6(spec, seen.id, &pkt, meta, tcp_flags);
        }
        if self.flow.sessions6().get(seen.id).flags() & session_flags::PROXY_HEADER == 0 {
            return Some((pkt, *meta));
        }
        self.header_to_backend6(mtu, seen.id, pkt, meta, tcp_flags)
    }

    /// A TCP session a client's SYN just made, through a service that
    /// sends the header: its slot set and the session marked. A session
    /// picked up mid-stream has no ISN to count from and gets none.
    fn open_header6(
        &mut self,
        spec: &ServiceSpec,
        id: SessionId,
        pkt: &P,
        meta: &Ipv6Meta,
        tcp_flags: u8,
    ) {
        let Some(version) = spec.proxy_protocol else {
            return;
        };
        if spec.proto != IpProto::TCP
            || tcp_flags & (TcpFlags::SYN | TcpFlags::ACK) != TcpFlags::SYN
        {
            return;
        }
        let Some(slot) = self.shifts6.slots.get_mut(id.index()) else {
            return;
        };
        let len = Header::new6(version, endpoints6(&meta.tuple)).len();
        *slot = Shift6 {
            adjust: SeqAdjust {
                client_seq: len as u32,
                client_from: seq_of(segment(pkt.data(), meta)).wrapping_add(1),
                ..SeqAdjust::default()
            },
            header: Some(version),
            header_sent: false,
        };
        self.flow.mark_proxy_header6(id);
    }

    /// A client segment of a session with a header: translated, and the
    /// header put in front of the client's first byte. None: dropped.
    fn header_to_backend6(
        &mut self,
        mtu: u16,
        id: SessionId,
        mut pkt: P,
        meta: &Ipv6Meta,
        flags: u8,
    ) -> Option<(P, Ipv6Meta)> {
        let Some(&sp) = self.shifts6.slots.get(id.index()) else {
            return Some((pkt, *meta));
        };
        let Some(version) = sp.header else {
            return Some((pkt, *meta));
        };
        let h = segment(pkt.data(), meta);
        let data = has_data(h);
        if flags & TcpFlags::SYN != 0 && data {
            self.drop(DropReason::ProxySynData);
            return None;
        }
        let first = seq_of(h) == sp.adjust.client_from
            && (data || flags & TcpFlags::FIN != 0)
            && flags & (TcpFlags::SYN | TcpFlags::RST) == 0;
        if first && fragmented(pkt.data(), meta) {
            // Growing a first fragment would move the datagram's later
            // ones (as IPv4's `proxy_tcp.rs`).
            self.drop(DropReason::ProxyHeaderNoRoom);
            return None;
        }
        if sp
            .adjust
            .to_backend(segment_mut(pkt.data_mut(), meta))
            .is_err()
        {
            self.drop(DropReason::ProxyBadOptions);
            return None;
        }
        if !first {
            return Some((pkt, *meta));
        }
        let header = Header::new6(version, endpoints6(&meta.tuple));
        let at = (meta.l3_offset, meta.l4_offset);
        if header_tcp::insert6(&mut pkt, at, header.as_bytes(), mtu).is_err() {
            self.drop(DropReason::ProxyHeaderNoRoom);
            return None;
        }
        let e = &mut self.counters.events;
        match sp.header_sent {
            true => e.proxy_tcp_resent += 1,
            false => {
                e.proxy_tcp_added += 1;
                if let Some(slot) = self.shifts6.slots.get_mut(id.index()) {
                    slot.header_sent = true;
                }
            }
        }
        Some((pkt, grown(meta, header.len())))
    }

    /// A backend's segment of IPv6 session `id`, marked with a header,
    /// before its rewrite: translated back; a SYN-ACK has its MSS lowered
    /// by the header's length, so the client's first segment still fits
    /// with the header in front of it.
    #[cold]
    pub(super) fn header_to_client6(
        &mut self,
        pkt: &mut P,
        meta: &Ipv6Meta,
        id: SessionId,
    ) -> Result<(), DropReason> {
        let end = meta.l3_offset + usize::from(meta.len);
        self.shift_to_client(pkt, (meta.l4_offset, end), id)
    }

    /// [`Self::header_to_client6`] of a NAT64 session's backend segment,
    /// IPv4, before its translation to IPv6 (the TCP bytes are the same
    /// in either family).
    #[cold]
    pub(super) fn header_to_client64(
        &mut self,
        pkt: &mut P,
        meta: &Ipv4Meta,
        id: SessionId,
    ) -> Result<(), DropReason> {
        self.shift_to_client(pkt, (meta.l4_offset, meta.ip_end()), id)
    }

    /// The shift back on the TCP segment at frame bytes `l4..end`.
    fn shift_to_client(
        &mut self,
        pkt: &mut P,
        (l4, end): (usize, usize),
        id: SessionId,
    ) -> Result<(), DropReason> {
        let Some(&sp) = self.shifts6.slots.get(id.index()) else {
            return Ok(());
        };
        let h = pkt.data_mut().get_mut(l4..end).unwrap_or(&mut []);
        sp.adjust
            .to_client(h)
            .map_err(|_| DropReason::ProxyBadOptions)?;
        let h = pkt.data().get(l4..end).unwrap_or(&[]);
        let syn = h
            .get(tcp::field::FLAGS)
            .is_some_and(|&f| f & TcpFlags::SYN != 0);
        if !syn || h.len() < tcp::TCP_MIN_HEADER_LEN {
            return Ok(());
        }
        if let Some(at) = tcp::mss_value_at(h) {
            let lowered = get_be16(h, at).saturating_sub(sp.adjust.client_seq as u16);
            if clamp_mss_at(pkt.data_mut(), l4, lowered) {
                self.counters.events.proxy_tcp_mss_lowered += 1;
            }
        }
        Ok(())
    }

    /// TOA on a FULLNAT session's client segment: a SYN's MSS lowered by
    /// the option's 20 bytes, the option added to the ACK that ends the
    /// handshake (the session leaves SYN_RECV). The packet's metadata,
    /// grown or as it was; a segment the option does not fit goes on
    /// without it (counted), as IPv4's.
    fn toa6(
        &mut self,
        mtu: u16,
        pkt: &mut P,
        meta: &Ipv6Meta,
        flags: u8,
        before: ProtoState,
    ) -> Ipv6Meta {
        if flags & (TcpFlags::SYN | TcpFlags::ACK) == TcpFlags::SYN {
            let lowered = segment(pkt.data(), meta);
            if let Some(mss) = toa::lowered_mss6(lowered) {
                if clamp_mss_at(pkt.data_mut(), meta.l4_offset, mss) {
                    self.counters.events.toa_mss_lowered += 1;
                }
            }
            return *meta;
        }
        let handshake_ack = flags & (TcpFlags::SYN | TcpFlags::RST | TcpFlags::ACK)
            == TcpFlags::ACK
            && before == ProtoState::Tcp(TcpState::SynRecv);
        if !handshake_ack {
            return *meta;
        }
        if fragmented(pkt.data(), meta) {
            // The option would move the datagram's later fragments: the
            // ACK goes on without it, as one with no room.
            self.counters.events.toa_no_room += 1;
            return *meta;
        }
        let client = (meta.tuple.src, meta.tuple.src_port);
        let e = &mut self.counters.events;
        match toa::insert6(pkt, (meta.l3_offset, meta.l4_offset), client, mtu) {
            Ok(()) => {
                e.toa_added += 1;
                grown(meta, toa::LEN6)
            }
            Err(Skip::OptionsFull) => {
                e.toa_options_full += 1;
                *meta
            }
            Err(_) => {
                e.toa_no_room += 1;
                *meta
            }
        }
    }

    /// The PROXY v2 header on the first datagram of a FULLNAT UDP
    /// session. IPv6 is not fragmented on the way (RFC 8200 5): the
    /// datagram may not grow past the smallest port MTU; one that would
    /// goes without the header (`proxy_v2_no_room`).
    fn udp_header6(&mut self, mtu: u16, pkt: &mut P, meta: &Ipv6Meta) -> Ipv6Meta {
        if fragmented(pkt.data(), meta) {
            // The header would move the datagram's later fragments, and
            // IPv6 datagrams are not reassembled: it goes on without.
            self.counters.events.proxy_v2_fragmented += 1;
            return *meta;
        }
        let ends = endpoints6(&meta.tuple);
        let at = (meta.l3_offset, meta.l4_offset);
        match udp::prepend_v2_6(pkt, at, ends, mtu) {
            Ok(()) => {
                self.counters.events.proxy_v2_added += 1;
                grown(meta, V2_IPV6_LEN)
            }
            Err(_) => {
                self.counters.events.proxy_v2_no_room += 1;
                *meta
            }
        }
    }
}
