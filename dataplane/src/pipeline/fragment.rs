//! IPv4 fragments through the pipeline, without reassembly
//! (docs/fragments-and-mtu.md).
//!
//! A datagram's first fragment carries the ports: it is decided and acted
//! on as the TCP or UDP packet it starts, and how it was forwarded (a
//! [`FragDecision`]) is kept in the fragment table of the worker that owns
//! the datagram's fragments (`crate::frag::frag_owner`, a hash of source,
//! destination, protocol and IP identification). Later fragments are handed
//! to that worker (`burst.rs`), which forwards them by the decision, or
//! holds them until it comes. The first fragment itself is handled where
//! its flow lives (its session is there), and when that is another worker,
//! the decision travels to the fragments' owner on the redirect ring.
//! A NAT64 reply's fragments are translated to IPv6 (`FragRewrite::ToIpv6`,
//! the addresses kept beside the table: `nat64_frag.rs`).

use super::decide::Step;
use super::{Cx, Datapath, Ingress};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::frag::{frag_owner, Expired, FragDecision, FragKey, FragRewrite, Piece, Refused, Slot};
use crate::io::PacketIo;
use crate::packet::{Classified, Ipv4Meta, L4Kind};
use crate::pipeline::redirect::Handoff;
use crate::rewrite::translate_fragment;

use super::act::RealServer;
use super::mtu::Way;

/// The datagram a fragment belongs to.
#[inline]
pub(super) fn key_of(meta: &Ipv4Meta) -> Option<FragKey> {
    meta.fragment.map(|ident| FragKey {
        src: meta.tuple.src,
        dst: meta.tuple.dst,
        proto: meta.tuple.proto.0,
        ident,
    })
}

/// A fragment's bytes in its datagram's payload.
fn piece_of(meta: &Ipv4Meta) -> Piece {
    let (offset, more) = match meta.kind {
        L4Kind::Fragment { offset, more } => (offset, more),
        _ => (0, true),
    };
    let start = u32::from(offset);
    let len = meta.ip_end().saturating_sub(meta.l4_offset) as u32;
    Piece {
        start,
        end: start + len,
        last: !more,
    }
}

fn refusal(r: Refused) -> DropReason {
    match r {
        Refused::Overlap => DropReason::FragOverlap,
        Refused::Full => DropReason::FragTableFull,
        Refused::HoldFull => DropReason::FragHoldFull,
    }
}

impl<P: PacketBuf> Datapath<P> {
    /// The worker that owns `key`'s fragments, and whether it is this one.
    fn fragments_owner(&self, key: &FragKey) -> (usize, bool) {
        match &self.links {
            Some(l) => {
                let owner = frag_owner(key, l.workers());
                (owner, owner == l.index())
            }
            None => (0, true),
        }
    }

    /// A fragment's step carried out (`act` sends every fragment here).
    #[cold]
    #[inline(never)]
    pub(super) fn act_fragment<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        pkt: P,
        meta: &Ipv4Meta,
        hash: u64,
        step: Step,
    ) {
        let Some(key) = key_of(meta) else {
            return self.act_packet(cx, pkt, meta, hash, step);
        };
        match step {
            Step::Fragment { at } => self.later_fragment(cx, at, pkt, meta, key),
            Step::Forward { .. }
            | Step::Open { .. }
            | Step::ReuseThenOpen { .. }
            | Step::Nat64Reply { .. } => self.first_fragment(cx, pkt, meta, hash, step, key),
            _ => self.act_packet(cx, pkt, meta, hash, step),
        }
    }

    /// A datagram's first fragment: forwarded as its packet, its decision
    /// recorded for the rest (here, or told to their owner).
    fn first_fragment<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        pkt: P,
        meta: &Ipv4Meta,
        hash: u64,
        step: Step,
        key: FragKey,
    ) {
        let piece = piece_of(meta);
        let (owner, mine) = self.fragments_owner(&key);
        let slot = match mine {
            true => match self.frag_slot(cx.now, key, piece) {
                Ok(slot) => Some(slot),
                Err(reason) => return self.drop(reason),
            },
            false => None,
        };
        self.frag_decided = None;
        self.act_packet(cx, pkt, meta, hash, step);
        let decision = self.frag_decided.take().unwrap_or(FragDecision::REFUSED);
        if decision.rewrite != FragRewrite::Refused {
            self.counters.events.frag.first += 1;
        }
        match slot {
            Some(slot) => self.decided(cx, slot, decision),
            None if decision.rewrite == FragRewrite::ToIpv6 => {
                self.tell_owner64(cx, owner, (key, piece), decision)
            }
            None => self.tell_owner(owner, key, decision, piece),
        }
    }

    /// The entry of `key`'s datagram with `piece` noted in it.
    fn frag_slot(&mut self, now: u64, key: FragKey, piece: Piece) -> Result<Slot, DropReason> {
        let mut expired = Expired::default();
        let slot = self.frags.enter(key, now, &mut expired);
        self.count_expired(expired);
        let slot = slot.map_err(refusal)?;
        self.frags.note(slot, piece).map_err(refusal)?;
        Ok(slot)
    }

    fn count_expired(&mut self, e: Expired) {
        self.counters
            .drops
            .count_n(DropReason::FragTimeout, e.held_dropped);
    }

    /// Records a datagram's decision and forwards what waited for it.
    fn decided<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        slot: Slot,
        decision: FragDecision,
    ) {
        if decision.rewrite == FragRewrite::ToIpv6 {
            let to = self.nat64_frags.decided();
            self.nat64_frags.keep(slot, to);
        }
        let released = self.frags.decide(slot, decision);
        for (pkt, port) in released {
            self.counters.events.frag.released += 1;
            self.forward_held(cx, pkt, port, (slot, decision));
        }
        self.frags.finish_if_complete(slot);
    }

    /// A held fragment, classified again (it was, when it came), forwarded.
    fn forward_held<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        pkt: P,
        port: u16,
        decided: (Slot, FragDecision),
    ) {
        let Ok(Classified::Ipv4(meta)) = super::burst::classify_buf(&pkt) else {
            return self.drop(DropReason::FragOverlap);
        };
        let Some(iface) = cx.t.ingress_interface(port, meta.vlan) else {
            return self.drop(DropReason::NoInterface);
        };
        self.forward_later(cx, Ingress { port, iface }, pkt, &meta, decided)
    }

    /// Tells the worker that owns a datagram's fragments how its first one
    /// went.
    fn tell_owner(&mut self, owner: usize, key: FragKey, decision: FragDecision, first: Piece) {
        let Some(links) = self.links.as_mut() else {
            return;
        };
        let told = links.send(
            owner,
            Handoff::FragDecision {
                key,
                decision,
                first,
            },
        );
        match told {
            Ok(()) => self.counters.events.frag.decisions_sent += 1,
            Err(_) => self.counters.events.frag.decisions_lost += 1,
        }
    }

    /// Another worker forwarded a datagram's first fragment: the decision
    /// for the fragments we own.
    pub(super) fn fragment_decision<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        key: FragKey,
        decision: FragDecision,
        first: Piece,
    ) {
        self.counters.events.frag.decisions_received += 1;
        // On a full table or a duplicate first fragment nothing is kept:
        // its fragments are counted as they come.
        if let Ok(slot) = self.frag_slot(cx.now, key, first) {
            self.decided(cx, slot, decision)
        }
    }

    /// A fragment past the first: forwarded by its datagram's decision, or
    /// held until that comes.
    fn later_fragment<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        pkt: P,
        meta: &Ipv4Meta,
        key: FragKey,
    ) {
        let slot = match self.frag_slot(cx.now, key, piece_of(meta)) {
            Ok(slot) => slot,
            Err(reason) => return self.drop(reason),
        };
        match self.frags.decision(slot) {
            Some(decision) => {
                self.forward_later(cx, at, pkt, meta, (slot, decision));
                self.frags.finish_if_complete(slot);
            }
            None => match self.frags.hold(slot, pkt, at.port) {
                Ok(()) => self.counters.events.frag.held += 1,
                Err((_pkt, reason)) => self.drop(refusal(reason)),
            },
        }
    }

    /// A later fragment forwarded as its first one was.
    fn forward_later<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        mut pkt: P,
        meta: &Ipv4Meta,
        (slot, d): (Slot, FragDecision),
    ) {
        if d.rewrite == FragRewrite::Refused {
            // A port whose kernel interface takes what the balancer does
            // not (`unmatched`) gave it the first fragment: the rest too.
            if Self::kernel_takes_unmatched(cx.t, at.port) {
                return self.up_to_kernel(cx, at.port, pkt, DropReason::FragFirstDropped);
            }
            return self.drop(DropReason::FragFirstDropped);
        }
        self.counters.events.frag.forwarded += 1;
        self.count_packet(d.origin, d.backend, d.inbound, meta.total_len);
        match d.rewrite {
            FragRewrite::Translate { src, dst } => {
                match translate_fragment(pkt.data_mut(), meta.l3_offset, src, dst) {
                    Ok(()) => {
                        let way = Way {
                            dst,
                            leg: None,
                            undo: Some(meta.tuple),
                        };
                        self.egress_or_answer(cx, at, pkt, meta, way)
                    }
                    Err(reason) => self.drop(reason),
                }
            }
            FragRewrite::Direct { real } => {
                let way = Way {
                    dst: real,
                    leg: None,
                    undo: None,
                };
                self.egress_or_answer(cx, at, pkt, meta, way)
            }
            FragRewrite::Tunnel { real } => {
                let rs = RealServer {
                    addr: real,
                    tunnel: true,
                    hit: None,
                };
                self.tunnel(cx, at, pkt, meta, rs)
            }
            FragRewrite::ToIpv6 => {
                let to = self.nat64_frags.of(slot);
                self.later_fragment_to_ipv6(cx, at, pkt, meta, to)
            }
            FragRewrite::Refused => self.drop(DropReason::FragFirstDropped),
        }
    }

    /// Upkeep (every 100 ms): datagrams whose fragments took too long.
    pub(super) fn expire_fragments(&mut self, now: u64) {
        if self.frags.live() > 0 {
            let e = self.frags.expire(now);
            self.count_expired(e);
        }
    }
}
