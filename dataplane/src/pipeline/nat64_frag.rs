//! NAT64's fragments, both ways, without reassembly (RFC 7915 4.1 and
//! 5.1.1; docs/fragments-and-mtu.md, "NAT64").
//!
//! - **Client to backend** (IPv6 to IPv4): `fragment6.rs` takes the
//!   datagram as for the other IPv6 modes. Its first fragment goes the way
//!   of its flow (`forward_nat64`, where `nat64::to_ipv4` drops the
//!   fragment header: IPv4 identification the IPv6 one's low 16 bits, MF
//!   set, DF clear, the L4 checksum updated); its decision
//!   (`FragRewrite6::ToIpv4`, the local address and the backend) sends the
//!   later ones here, [`Datapath::later_fragment_to_ipv4`], their IP
//!   header alone translated.
//! - **Backend to client** (IPv4 to IPv6): the reply's first fragment
//!   carries the ports; `fragment.rs` takes it as any IPv4 first fragment,
//!   and `reply_nat64` finds its session and translates it with a
//!   fragment header (identification the IPv4 one zero-extended), then
//!   [`Datapath::reply_fragment_decided`] records the decision
//!   (`FragRewrite::ToIpv6`) and the IPv6 addresses, [`Nat64Frags`],
//!   beside the IPv4 fragment table, by slot. Later fragments come here,
//!   [`Datapath::later_fragment_to_ipv6`]. A decision for another
//!   worker's fragments travels in a pool buffer (`frag::decision64`).
//!
//! The translated fragment must fit the egress port: IPv4 ones too big are
//! answered as `forward_nat64` answers (Packet Too Big to the client);
//! IPv6 ones, 28 bytes longer than they came (the fixed and the fragment
//! headers for a 20-byte IPv4 header), are refused as `too_big_to_fragment`
//! (with DF, which a fragment hardly has, fragmentation needed): they are
//! not cut again.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::act::IcmpError;
use super::mtu6::From6;
use super::nat64::reason;
use super::redirect::Handoff;
use super::{Cx, Datapath, Ingress};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::Origin;
use crate::frag::decision64::{msg, DecisionMsg64};
use crate::frag::{FragDecision, FragKey, FragRewrite, Piece, Slot, FRAG_ENTRIES};
use crate::io::PacketIo;
use crate::nat64::{later_to_ipv4, later_to_ipv6};
use crate::packet::Ipv4Meta;
use crate::packet6::Ipv6Meta;
use crate::wire::ipv4::IPV4_MIN_HEADER_LEN;
use crate::wire::ipv6::{FRAGMENT_HEADER_LEN, IPV6_HEADER_LEN};

/// IPv6's minimum link MTU (RFC 8200 5): no Packet Too Big says less.
const IPV6_MIN_MTU: u16 = 1280;

/// The IPv6 addresses of the NAT64 reply datagrams in the IPv4 fragment
/// table, by slot; and the ones of the first fragment in hand.
pub(super) struct Nat64Frags {
    /// (source, destination) for the datagram in each slot whose decision
    /// is `ToIpv6`; allocated once, [`FRAG_ENTRIES`] of them.
    to6: Vec<(Ipv6Addr, Ipv6Addr)>,
    /// Set by `reply_nat64` with `frag_decided`, for `fragment.rs`.
    decided: (Ipv6Addr, Ipv6Addr),
}

impl Nat64Frags {
    pub(super) fn new() -> Self {
        let none = (Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED);
        Nat64Frags {
            to6: vec![none; FRAG_ENTRIES],
            decided: none,
        }
    }

    /// The addresses of the first fragment just forwarded.
    pub(super) fn decided(&self) -> (Ipv6Addr, Ipv6Addr) {
        self.decided
    }

    /// Keeps `to` for the datagram in `slot`.
    pub(super) fn keep(&mut self, slot: Slot, to: (Ipv6Addr, Ipv6Addr)) {
        if let Some(e) = self.to6.get_mut(slot.index()) {
            *e = to;
        }
    }

    /// The addresses kept for the datagram in `slot`.
    pub(super) fn of(&self, slot: Slot) -> (Ipv6Addr, Ipv6Addr) {
        self.to6
            .get(slot.index())
            .copied()
            .unwrap_or((Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED))
    }
}

impl<P: PacketBuf> Datapath<P> {
    /// A NAT64 reply's first fragment was translated from `origin`'s
    /// `backend` to the client as `to`: the decision for its datagram.
    #[cold]
    #[inline(never)]
    pub(super) fn reply_fragment_decided(
        &mut self,
        origin: Origin,
        backend: u32,
        to: (Ipv6Addr, Ipv6Addr),
    ) {
        self.frag_decided = Some(FragDecision {
            rewrite: FragRewrite::ToIpv6,
            origin,
            backend,
            inbound: false,
        });
        self.nat64_frags.decided = to;
    }

    /// A later fragment of a client's datagram whose first one left as
    /// IPv4 from `src` to `dst` (`fragment6.rs`'s decision): translated
    /// the same way, routed to `dst`.
    pub(super) fn later_fragment_to_ipv4<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        mut pkt: P,
        (from, meta): (From6, &Ipv6Meta),
        (src, dst): (Ipv4Addr, Ipv4Addr),
    ) {
        if meta.hop_limit <= 1 {
            return self.hop_limit_exceeded6(cx, from, pkt);
        }
        let Some(hop) = self.route_to(cx, dst, None) else {
            return self.drop(DropReason::NoRoute);
        };
        // The fixed and the fragment headers give way to a 20-byte header.
        let shrink = meta.l4_offset - meta.l3_offset - IPV4_MIN_HEADER_LEN;
        let len4 = pkt.len().saturating_sub(shrink);
        if let Some(mtu) = self.egress_mtu_over(cx, &hop, len4, from.vlan) {
            let ipv6_mtu = mtu.saturating_add(20).max(IPV6_MIN_MTU);
            return self.packet_too_big6(cx, from, pkt, ipv6_mtu);
        }
        if let Err(u) = later_to_ipv4(&mut pkt, meta, (src, dst)) {
            return self.drop(reason(u));
        }
        self.counters.events.nat64_to_ipv4 += 1;
        if self.egress_hop(cx, pkt, from.vlan, hop, dst).is_err() {
            // Checked above.
            self.drop(DropReason::TooBigToFragment);
        }
    }

    /// A later fragment of a backend's reply whose first one went to the
    /// client as IPv6 `to` (source, destination): translated the same way.
    pub(super) fn later_fragment_to_ipv6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        mut pkt: P,
        meta: &Ipv4Meta,
        to: (Ipv6Addr, Ipv6Addr),
    ) {
        if meta.ttl <= 1 {
            self.drop(DropReason::TtlExceeded);
            return self.send_icmp_error(cx, at, pkt, meta, IcmpError::TIME_EXCEEDED);
        }
        let t = cx.t;
        let Some((next, iface6)) = t.route6(to.1) else {
            return self.drop(DropReason::NoRoute);
        };
        let grow = IPV6_HEADER_LEN + FRAGMENT_HEADER_LEN - (meta.l4_offset - meta.l3_offset);
        let egress_port = t.interfaces.get(usize::from(iface6)).map(|i| i.port);
        let len6 = pkt.len() + grow;
        if let Some(mtu) = egress_port.and_then(|p| self.egress.over_mtu(len6, meta.vlan, p)) {
            return self.reply_too_big(cx, at, pkt, meta, mtu);
        }
        if let Err(u) = later_to_ipv6(&mut pkt, meta, to) {
            return self.drop(reason(u));
        }
        self.counters.events.nat64_to_ipv6 += 1;
        // The MTU was checked above.
        self.egress6_fitted(cx, pkt, (meta.vlan, iface6, next), None);
    }

    /// Tells the worker that owns a NAT64 reply datagram's fragments how
    /// its first one went, in a buffer of the pool.
    pub(super) fn tell_owner64<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        owner: usize,
        (key, first): (FragKey, Piece),
        d: FragDecision,
    ) {
        let m = DecisionMsg64 {
            key,
            first,
            to: self.nat64_frags.decided,
            origin: d.origin,
            backend: d.backend,
        };
        let written = cx.io.alloc().and_then(|mut buf| {
            let b = buf.append(msg::LEN)?;
            m.write(b).then_some(buf)
        });
        let told = match (written, self.links.as_mut()) {
            (Some(buf), Some(links)) => links
                .send(owner, Handoff::FragDecision64 { msg: buf })
                .is_ok(),
            _ => false,
        };
        match told {
            true => self.counters.events.frag.decisions_sent += 1,
            false => self.counters.events.frag.decisions_lost += 1,
        }
    }

    /// Another worker translated a NAT64 reply datagram's first fragment:
    /// the decision for the fragments we own. The buffer is freed.
    pub(super) fn fragment_decision64<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        carrier: P,
    ) {
        let Some(m) = DecisionMsg64::read(carrier.data()) else {
            return;
        };
        drop(carrier);
        self.nat64_frags.decided = m.to;
        self.fragment_decision(cx, m.key, m.decision(), m.first);
    }
}
