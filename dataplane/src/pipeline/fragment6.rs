//! IPv6 fragments through the pipeline, without reassembly: the twin of
//! `fragment.rs` (docs/fragments-and-mtu.md, "IPv6").
//!
//! A datagram is known by (source, destination, 32-bit identification), a
//! `FragKey6`, and its fragments belong to the worker `frag_owner6` names.
//! The first fragment (offset 0, more to come) carries the ports: it goes
//! the way a whole packet of its flow goes (`forward6` to a VIP, `reply6`
//! for a NAT backend's reply) on the worker of its flow, and how it went
//! (a `FragDecision6`, read back from its session) is kept in the
//! fragments' owner's table, sent there in a pool buffer when that is
//! another worker (`frag::decision6`). Later fragments take the decision:
//! DR and TUN forward them whole to the same backend; NAT6 and FULLNAT6
//! rewrite their addresses and hop limit only, NAT64 translates their IP
//! header to IPv4 (the ports and the L4 checksum are in the first
//! fragment; IPv6 has no header checksum). A
//! later fragment before its first is held (bounded as IPv4's), an
//! overlapping or oversized one refused, with IPv4's `frag_*` counters.
//!
//! Atomic fragments (offset 0, no more, RFC 6946) are not here: they
//! classify as whole packets (`packet6.rs`). NAT64's datagrams go the
//! same way: the first fragment translated to IPv4 by `forward_nat64`,
//! the later ones by their decision (`FragRewrite6::ToIpv4`,
//! `nat64_frag.rs`).

use std::net::Ipv6Addr;

use super::mtu6::From6;
use super::redirect::Handoff;
use super::{Cx, Datapath};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::state::nat64::unmapped;
use crate::flow::table::Forwarding;
use crate::flow::Direction;
use crate::frag::decision6::{msg, DecisionMsg6, FragDecision6, FragRewrite6};
use crate::frag::{frag_owner6, Expired, FragKey6, Piece, Refused, Slot};
use crate::io::PacketIo;
use crate::packet::Classified;
use crate::packet6::{classify_fragment, Fragment6, Ipv6Meta};
use crate::tables::LbTables;
use crate::tuple::FiveTuple6;
use crate::wire::ipv6::field;
use crate::wire::{get_u8, put_bytes, put_u8, Ipv6Packet};

/// Where a fragment came in: the port and the VLAN of its L2 header.
type At = (u16, Option<u16>);

fn refusal(r: Refused) -> DropReason {
    match r {
        Refused::Overlap => DropReason::FragOverlap,
        Refused::Full => DropReason::FragTableFull,
        Refused::HoldFull => DropReason::FragHoldFull,
    }
}

/// The IPv6 fragment of TCP or UDP at `l3_offset` of `frame`, if it is one.
fn fragment_of(frame: &[u8], l3_offset: usize) -> Result<Option<Fragment6>, DropReason> {
    let l3 = frame.get(l3_offset..).ok_or(DropReason::TruncatedFrame)?;
    classify_fragment(&Ipv6Packet::new(l3)?, l3_offset)
}

/// Whether the IPv6 packet at `l3_offset` of `frame` is a fragment (not
/// an atomic one).
pub(super) fn is_fragment(frame: &[u8], l3_offset: usize) -> bool {
    let chain = frame
        .get(l3_offset..)
        .and_then(|b| Ipv6Packet::new(b).ok())
        .and_then(|ip| ip.walk().ok());
    chain.is_some_and(|c| c.fragment.is_some_and(|f| !f.atomic()))
}

/// Whether a fragment not to a VIP is one the fragment table takes, where
/// NAT6 or FULLNAT6 is on: a first fragment of a backend's reply (by its
/// ports, as a whole reply), a later one to a FULLNAT local address or to
/// an address not ours (a NAT backend's reply goes to its client). Later
/// fragments to our own addresses take the host path, as before.
fn reply_fragment(t: &LbTables, f: &Fragment6) -> bool {
    if !t.owners.has_nat6() {
        return false;
    }
    match f.first {
        true => {
            t.owners.local_reply6(&f.meta.tuple) || t.owners.nat_reply6(&f.meta.tuple).is_some()
        }
        false => t.owners.local6().contains(f.key.dst) || !t.owned6.contains(f.key.dst),
    }
}

/// The worker that owns the IPv6 fragment at `l3_offset` of `frame` (to
/// a VIP if `to_vip`): a first fragment its flow's, a later one its
/// datagram's. `None`: not a fragment the table takes.
#[cold]
#[inline(never)]
pub(super) fn owner_of_fragment6(
    t: &LbTables,
    frame: &[u8],
    l3_offset: usize,
    (me, workers): (usize, usize),
    to_vip: bool,
) -> Option<usize> {
    let f = fragment_of(frame, l3_offset).ok()??;
    if !to_vip && !reply_fragment(t, &f) {
        return None;
    }
    Some(match f.first {
        true => t.owners.owner6(&f.meta.tuple, me, workers),
        false => frag_owner6(&f.key, workers),
    })
}

/// Rewrites a later fragment of a NAT6 or FULLNAT6 datagram: the
/// addresses, and the hop limit one lower (checked above 1 by the caller).
fn translate_later6(frame: &mut [u8], l3_offset: usize, src: Ipv6Addr, dst: Ipv6Addr) {
    let hop_limit = get_u8(frame, l3_offset + field::HOP_LIMIT);
    put_u8(
        frame,
        l3_offset + field::HOP_LIMIT,
        hop_limit.saturating_sub(1),
    );
    put_bytes(frame, l3_offset + field::SRC_ADDR.start, &src.octets());
    put_bytes(frame, l3_offset + field::DST_ADDR.start, &dst.octets());
}

impl<P: PacketBuf> Datapath<P> {
    /// The worker that owns `key`'s fragments, and whether it is this one.
    fn fragments_owner6(&self, key: &FragKey6) -> (usize, bool) {
        match &self.links {
            Some(l) => {
                let owner = frag_owner6(key, l.workers());
                (owner, owner == l.index())
            }
            None => (0, true),
        }
    }

    /// An IPv6 fragment to a VIP (`vip_flow` said `ipv6_fragment`).
    #[cold]
    #[inline(never)]
    pub(super) fn fragment6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: At,
        pkt: P,
        l3_offset: usize,
    ) {
        match fragment_of(pkt.data(), l3_offset) {
            Ok(Some(f)) if f.first => self.first_fragment6(cx, at, pkt, &f, true),
            Ok(Some(f)) => self.later_fragment6(cx, at, pkt, &f),
            // Another protocol's fragment to a VIP.
            Ok(None) => self.drop(DropReason::Ipv6Fragment),
            Err(reason) => self.drop(reason),
        }
    }

    /// An IPv6 packet not to a VIP, where NAT6 or FULLNAT6 is on: taken if
    /// it is a fragment of a backend's reply, else given back.
    #[cold]
    #[inline(never)]
    pub(super) fn reply_fragment6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: At,
        pkt: P,
        l3_offset: usize,
    ) -> Option<P> {
        let f = match fragment_of(pkt.data(), l3_offset) {
            Ok(Some(f)) if reply_fragment(cx.t, &f) => f,
            _ => return Some(pkt),
        };
        match f.first {
            true => self.first_fragment6(cx, at, pkt, &f, false),
            false => self.later_fragment6(cx, at, pkt, &f),
        }
        None
    }

    /// A datagram's first fragment: forwarded as its packet, its decision
    /// recorded for the rest (here, or told to their owner).
    fn first_fragment6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: At,
        pkt: P,
        f: &Fragment6,
        to_vip: bool,
    ) {
        let (owner, mine) = self.fragments_owner6(&f.key);
        let slot = match mine {
            true => match self.frag_slot6(cx.now, f.key, f.piece) {
                Ok(slot) => Some(slot),
                Err(reason) => return self.drop(reason),
            },
            false => None,
        };
        // Later fragments of the datagram overlapped before it came.
        if slot.is_some_and(|s| self.overlapped(s)) {
            return self.drop(DropReason::FragOverlap);
        }
        let dropped_before = self.drops_so_far();
        self.frag_decided6 = None;
        match to_vip {
            true => self.forward6(cx, at, pkt, &f.meta),
            false => self.reply6(cx, at, pkt, &f.meta),
        }
        // A first fragment dropped on the way (no room for a PROXY header,
        // too big for the egress, ...) refuses its datagram even where its
        // flow has a session, as IPv4's does (`act.rs` decides only what
        // it sends).
        // A one-packet datagram has no session: its way was kept.
        let decision = match (
            self.drops_so_far() == dropped_before,
            self.frag_decided6.take(),
        ) {
            (true, Some(sent)) => sent,
            (true, None) => self.decision6(cx.t, &f.meta.tuple, to_vip),
            (false, _) => FragDecision6::REFUSED,
        };
        if decision.rewrite != FragRewrite6::Refused {
            self.counters.events.frag.first += 1;
        }
        let m = DecisionMsg6 {
            key: f.key,
            decision,
            first: f.piece,
        };
        match slot {
            Some(slot) => self.decided6(cx, slot, decision),
            None => self.tell_owner6(cx, owner, &m),
        }
    }

    /// Every packet this worker dropped so far (first fragments only: a
    /// sum over the reasons).
    fn drops_so_far(&self) -> u64 {
        self.counters.drops.iter().map(|(_, n)| n).sum()
    }

    /// How the first fragment of `tuple` just went, read back from its
    /// session: refused if it has none (no service, refused, ...).
    fn decision6(&self, t: &LbTables, tuple: &FiveTuple6, to_vip: bool) -> FragDecision6 {
        let sessions = self.flow.sessions6();
        let want = match to_vip {
            true => Direction::Inbound,
            false => Direction::Outbound,
        };
        let Some(hit) = sessions.lookup(tuple).filter(|h| h.dir == want) else {
            return FragDecision6::REFUSED;
        };
        let s = sessions.get(hit.id);
        let rewrite = match (to_vip, s.forwarding()) {
            (false, _) => {
                let to = s.inbound().reversed();
                FragRewrite6::Translate {
                    src: to.src,
                    dst: to.dst,
                }
            }
            (true, Forwarding::Nat | Forwarding::FullNat) => {
                match t.links6.get(s.backend as usize) {
                    Some(Some(_)) => {
                        let to = s.outbound().reversed();
                        FragRewrite6::Translate {
                            src: to.src,
                            dst: to.dst,
                        }
                    }
                    // NAT64 (an IPv4 backend): from the local address
                    // to the backend (`nat64_frag.rs`).
                    _ => match unmapped(s.outbound()) {
                        Some(reply) => FragRewrite6::ToIpv4 {
                            src: reply.dst,
                            dst: reply.src,
                        },
                        None => FragRewrite6::Refused,
                    },
                }
            }
            (true, Forwarding::Tun) => FragRewrite6::Tunnel,
            (true, _) => FragRewrite6::Direct,
        };
        FragDecision6 {
            rewrite,
            origin: s.origin(),
            backend: s.backend,
            inbound: to_vip,
        }
    }

    /// The entry of `key`'s datagram with `piece` noted in it. A piece
    /// overlapping one seen condemns the whole datagram (RFC 5722): what
    /// it holds is dropped, and so is what comes of it later.
    fn frag_slot6(&mut self, now: u64, key: FragKey6, piece: Piece) -> Result<Slot, DropReason> {
        let mut expired = Expired::default();
        let slot = self.frags6.enter(key, now, &mut expired);
        self.count_expired6(expired);
        let slot = slot.map_err(refusal)?;
        match self.frags6.note(slot, piece) {
            Ok(()) => Ok(slot),
            Err(Refused::Overlap) => {
                let held = self.frags6.decide(slot, FragDecision6::OVERLAPPED);
                // Dropping them frees them.
                self.counters
                    .drops
                    .count_n(DropReason::FragOverlap, held.len() as u64);
                Err(DropReason::FragOverlap)
            }
            Err(r) => Err(refusal(r)),
        }
    }

    /// Whether the datagram in `slot` was condemned for overlapping.
    fn overlapped(&self, slot: Slot) -> bool {
        self.frags6
            .decision(slot)
            .is_some_and(|d| d.rewrite == FragRewrite6::Overlapped)
    }

    fn count_expired6(&mut self, e: Expired) {
        self.counters
            .drops
            .count_n(DropReason::FragTimeout, e.held_dropped);
    }

    /// Records a datagram's decision and forwards what waited for it.
    fn decided6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        slot: Slot,
        decision: FragDecision6,
    ) {
        if self.overlapped(slot) {
            return;
        }
        let released = self.frags6.decide(slot, decision);
        for (pkt, port) in released {
            self.counters.events.frag.released += 1;
            self.forward_held6(cx, pkt, port, decision);
        }
        self.frags6.finish_if_complete(slot);
    }

    /// A held fragment, classified again (it was, when it came), forwarded.
    fn forward_held6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        pkt: P,
        port: u16,
        decision: FragDecision6,
    ) {
        let Ok(Classified::Ipv6 {
            l3_offset, vlan, ..
        }) = super::burst::classify_buf(&pkt)
        else {
            return self.drop(DropReason::FragOverlap);
        };
        match fragment_of(pkt.data(), l3_offset) {
            Ok(Some(f)) => self.forward_later6(cx, (port, vlan), pkt, &f.meta, decision),
            _ => self.drop(DropReason::FragOverlap),
        }
    }

    /// Tells the worker that owns a datagram's fragments how its first one
    /// went, in a buffer of the pool (see `frag::decision6`).
    fn tell_owner6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        owner: usize,
        m: &DecisionMsg6,
    ) {
        let written = cx.io.alloc().and_then(|mut buf| {
            let b = buf.append(msg::LEN)?;
            m.write(b).then_some(buf)
        });
        let told = match (written, self.links.as_mut()) {
            (Some(buf), Some(links)) => links
                .send(owner, Handoff::FragDecision6 { msg: buf })
                .is_ok(),
            _ => false,
        };
        match told {
            true => self.counters.events.frag.decisions_sent += 1,
            false => self.counters.events.frag.decisions_lost += 1,
        }
    }

    /// Another worker forwarded a datagram's first fragment: the decision
    /// for the fragments we own. The buffer that carried it is freed.
    pub(super) fn fragment_decision6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        carrier: P,
    ) {
        let Some(m) = DecisionMsg6::read(carrier.data()) else {
            return;
        };
        drop(carrier);
        self.counters.events.frag.decisions_received += 1;
        // On a full table or a duplicate first fragment nothing is kept:
        // its fragments are counted as they come.
        if let Ok(slot) = self.frag_slot6(cx.now, m.key, m.first) {
            self.decided6(cx, slot, m.decision)
        }
    }

    /// A fragment past the first: forwarded by its datagram's decision, or
    /// held until that comes.
    fn later_fragment6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: At,
        pkt: P,
        f: &Fragment6,
    ) {
        let slot = match self.frag_slot6(cx.now, f.key, f.piece) {
            Ok(slot) => slot,
            Err(reason) => return self.drop(reason),
        };
        match self.frags6.decision(slot) {
            Some(decision) => {
                self.forward_later6(cx, at, pkt, &f.meta, decision);
                self.frags6.finish_if_complete(slot);
            }
            None => match self.frags6.hold(slot, pkt, at.0) {
                Ok(()) => self.counters.events.frag.held += 1,
                Err((_pkt, reason)) => self.drop(refusal(reason)),
            },
        }
    }

    /// A later fragment forwarded as its first one was. One too big for
    /// the egress port is answered with Packet Too Big, as it came.
    fn forward_later6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        (port, vlan): At,
        pkt: P,
        meta: &Ipv6Meta,
        d: FragDecision6,
    ) {
        match d.rewrite {
            FragRewrite6::Refused => return self.drop(DropReason::FragFirstDropped),
            FragRewrite6::Overlapped => return self.drop(DropReason::FragOverlap),
            _ => {}
        }
        self.counters.events.frag.forwarded += 1;
        self.count_packet(d.origin, d.backend, d.inbound, meta.len);
        let from = From6 {
            port,
            vlan,
            l3_offset: meta.l3_offset,
        };
        let t = cx.t;
        let link = t.links6.get(d.backend as usize).copied().flatten();
        match d.rewrite {
            FragRewrite6::Direct => {
                let Some((next, iface)) = link else {
                    return self.drop(DropReason::NoRoute);
                };
                if let Err(big) = self.egress6_for(cx, pkt, (vlan, iface, next), None) {
                    self.packet_too_big6(cx, from, big.pkt, big.mtu);
                }
            }
            FragRewrite6::Tunnel => {
                let Some(link) = link else {
                    return self.drop(DropReason::NoRoute);
                };
                self.tunnel6(cx, pkt, (from, meta), (d.backend, link), None)
            }
            FragRewrite6::Translate { src, dst } => {
                let way = match d.inbound {
                    true => link,
                    false => t.route6(dst),
                };
                let Some((next, iface)) = way else {
                    return self.drop(DropReason::NoRoute);
                };
                self.translate_out6(cx, pkt, from, (src, dst), (iface, next))
            }
            FragRewrite6::ToIpv4 { src, dst } => {
                self.later_fragment_to_ipv4(cx, pkt, (from, meta), (src, dst))
            }
            FragRewrite6::Refused => self.drop(DropReason::FragFirstDropped),
            FragRewrite6::Overlapped => self.drop(DropReason::FragOverlap),
        }
    }

    /// A later NAT6 or FULLNAT6 fragment rewritten to `(src, dst)` and
    /// sent out of `iface` to `next`: checked against the egress MTU and
    /// its hop limit first, so an error quotes it as its sender sent it.
    fn translate_out6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        mut pkt: P,
        from: From6,
        (src, dst): (Ipv6Addr, Ipv6Addr),
        (iface, next): (u16, Ipv6Addr),
    ) {
        let egress_port = cx.t.interfaces.get(usize::from(iface)).map(|i| i.port);
        if let Some(mtu) = egress_port.and_then(|p| self.egress.over_mtu(pkt.len(), from.vlan, p)) {
            return self.packet_too_big6(cx, from, pkt, mtu);
        }
        if get_u8(pkt.data(), from.l3_offset + field::HOP_LIMIT) <= 1 {
            return self.hop_limit_exceeded6(cx, from, pkt);
        }
        translate_later6(pkt.data_mut(), from.l3_offset, src, dst);
        // The MTU was checked above.
        if self
            .egress6_for(cx, pkt, (from.vlan, iface, next), None)
            .is_err()
        {
            self.drop(DropReason::TooBigToFragment);
        }
    }

    /// Upkeep (every 100 ms, with IPv4's): datagrams whose fragments took
    /// too long.
    pub(super) fn expire_fragments6(&mut self, now: u64) {
        if self.frags6.live() > 0 {
            let e = self.frags6.expire(now);
            self.count_expired6(e);
        }
    }
}
