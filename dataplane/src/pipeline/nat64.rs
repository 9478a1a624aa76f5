//! NAT64 in FULLNAT (issue 20): a FULLNAT service with an IPv6 VIP and
//! IPv4 backends. The client's IPv6 packets (client6 -> VIP6) leave as
//! IPv4 from a local address and port to the backend (`forward_nat64`),
//! and the backend's IPv4 replies (backend4 -> local4:lport) go back to
//! the client as IPv6 from the VIP (`reply_nat64`), both translated by
//! RFC 7915 (`crate::nat64`). The session is one IPv6 session with two
//! keys (`flow::state::nat64`): the client's tuple, and the reply's IPv4
//! tuple written with IPv4-mapped addresses.
//!
//! - **Forward** (`forward6.rs` finds the session): the IPv4 route and
//!   the egress port's MTU first; a packet whose translation would not fit
//!   is answered with an ICMPv6 Packet Too Big (`mtu6.rs`) of the IPv4
//!   MTU + 20 (what fits once translated; not below 1280, IPv6's
//!   minimum); then `nat64::to_ipv4` and the IPv4 egress (routes, ARP).
//! - **Reply**: an IPv4 packet to a NAT64 local address misses the IPv4
//!   table and is refused by the planner (no service): only then, in
//!   `act.rs::refuse`, is it looked for in the IPv6 table by its mapped
//!   tuple, so the IPv4 paths pay nothing. The owner worker is the one the
//!   local port's low bits name (`FlowOwners::owner`, as IPv4 FULLNAT's
//!   replies: the burst loop hands it there first). Then the IPv6 route to
//!   the client and its egress MTU: a reply whose translation would not
//!   fit goes back to the backend as ICMP fragmentation needed with that
//!   MTU − 20 when it has DF (else it is dropped: a whole packet is not
//!   cut into IPv6 fragments); then `nat64::to_ipv6` and `egress6_for`.
//! - A TTL or hop limit that runs out here is `ttl_exceeded` with the
//!   sender's family's Time Exceeded; every other refusal of the
//!   translation is its own `nat64_*` drop reason.
//!
//! - An ICMP error to a local address about a packet we sent as IPv4 (a
//!   router's fragmentation needed on the way to the backend) misses the
//!   IPv4 table; `decide.rs` then names it `Nat64Error` and `nat64_error`
//!   looks for its quote's session in the IPv6 table, and sends the client
//!   the ICMPv6 error about the packet it sent (`nat64::error_to_ipv6`).
//!
//! - The client's ICMPv6 errors about a reply: `nat64_error6.rs`.
//!
//! - Fragments, both ways: a first fragment takes the paths above (its
//!   translation drops or makes the fragment header), its later fragments
//!   follow by their datagram's decision (`nat64_frag.rs`).
//!
//! Not built: cutting a whole reply without DF that does not fit into
//! IPv6 fragments (`too_big_to_fragment`).

use std::net::{SocketAddrV4, SocketAddrV6};

use super::act::IcmpError;
use super::burst::tcp_flags_of;
use super::egress::Hop;
use super::mtu6::From6;
use super::{Cx, Datapath, Ingress};
use crate::buf::PacketBuf;
use crate::checksum::Delta;
use crate::drop::DropReason;
use crate::flow::proto::tcp_flags;
use crate::flow::state::nat64::{mapped, unmapped};
use crate::flow::table::{session_flags, Forwarding};
use crate::flow::{Direction, Hit, SessionId};
use crate::io::PacketIo;
use crate::nat64::{
    error_to_ipv6, to_ipv4_summed, to_ipv6_summed, ErrorTo6, To4, To6, Untranslatable,
};
use crate::packet::{quoted_flow, Ipv4Meta};
use crate::packet6::Ipv6Meta;
use crate::tuple::{FiveTuple6, IpProto};
use crate::watch::TraceStep;
use crate::wire::ipv4::IPV4_MIN_HEADER_LEN;
use crate::wire::ipv6::{FRAGMENT_HEADER_LEN, IPV6_HEADER_LEN};

/// IPv6's minimum link MTU (RFC 8200 5): no Packet Too Big says less.
const IPV6_MIN_MTU: u16 = 1280;

/// The drop reason of a translation's refusal.
pub(super) fn reason(u: Untranslatable) -> DropReason {
    match u {
        Untranslatable::HopLimit => DropReason::TtlExceeded,
        Untranslatable::Fragment => DropReason::Nat64Fragment,
        Untranslatable::Protocol => DropReason::Nat64Protocol,
        Untranslatable::IcmpType => DropReason::Nat64IcmpType,
        Untranslatable::Truncated => DropReason::Nat64Truncated,
        Untranslatable::BadChecksum => DropReason::Nat64BadChecksum,
        Untranslatable::TooLong => DropReason::Nat64TooLong,
        Untranslatable::NoBufferRoom => DropReason::Nat64NoRoom,
    }
}

impl<P: PacketBuf> Datapath<P> {
    /// A client's packet of NAT64 session `id` (counted by `forward6`):
    /// translated to IPv4 from the session's local address and port to
    /// its backend, and routed there.
    #[inline(never)]
    pub(super) fn forward_nat64<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        (port, vlan): (u16, Option<u16>),
        mut pkt: P,
        meta: &Ipv6Meta,
        id: SessionId,
    ) {
        // The reply key, unmapped: backend4:port -> local4:lport; and the
        // checksum delta of the translation, the same for every packet of
        // the session (`FlowKey::keys_delta`).
        let s = self.flow.sessions6().get(id);
        let delta = Delta::of_folded(s.keys_delta());
        let Some(reply) = unmapped(s.outbound()) else {
            return self.drop(DropReason::NoBackend);
        };
        let from = From6 {
            port,
            vlan,
            l3_offset: meta.l3_offset,
        };
        if meta.hop_limit <= 1 {
            return self.hop_limit_exceeded6(cx, from, pkt);
        }
        let Some(hop) = self.route_to(cx, reply.src, None) else {
            return self.drop(DropReason::NoRoute);
        };
        // The frame once translated: the IPv6 header and its extension
        // headers give way to a 20-byte IPv4 header.
        let shrink = meta.l4_offset - meta.l3_offset - IPV4_MIN_HEADER_LEN;
        let len4 = pkt.len().saturating_sub(shrink);
        if let Some(mtu) = self.egress_mtu_over(cx, &hop, len4, vlan) {
            let ipv6_mtu = mtu.saturating_add(20).max(IPV6_MIN_MTU);
            return self.packet_too_big6(cx, from, pkt, ipv6_mtu);
        }
        let to = To4 {
            src: SocketAddrV4::new(reply.dst, reply.dst_port),
            dst: SocketAddrV4::new(reply.src, reply.src_port),
            ident: self.next_ident(),
        };
        if let Err(u) = to_ipv4_summed(&mut pkt, meta, &to, delta) {
            return self.drop(reason(u));
        }
        self.counters.events.nat64_to_ipv4 += 1;
        match self.egress_hop(cx, pkt, vlan, hop, reply.src) {
            Ok(_) => {}
            // Checked above.
            Err(_) => self.drop(DropReason::TooBigToFragment),
        }
    }

    /// The MTU of the port `hop` leaves by if a frame of `len` bytes (its
    /// L2 header tagged as `vlan` says) is over it.
    pub(super) fn egress_mtu_over<I>(
        &self,
        cx: &Cx<'_, I>,
        hop: &Hop,
        len: usize,
        vlan: Option<u16>,
    ) -> Option<u16> {
        let port = match hop {
            Hop::Resolved(r) => r.port,
            Hop::Route(h) => cx.t.interfaces.get(usize::from(h.port))?.port,
        };
        self.egress.over_mtu(len, vlan, port)
    }

    /// `key` looked up in the IPv6 table, from NAT64's paths and the
    /// ICMPv6 errors about NAT flows (`nat6_error.rs`). One call site out
    /// of line: more callers of the table's lookup made LLVM stop inlining
    /// it into IPv6 DR's path (`dr6_established`: +9.6 instructions a
    /// packet with NAT64's callers, +30.7 with the error path's).
    #[inline(never)]
    pub(super) fn lookup6_aside(&self, key: &FiveTuple6) -> Option<Hit> {
        self.flow.sessions6().lookup(key)
    }

    /// The identification of the next IPv4 packet NAT64 makes (RFC 7915
    /// 5.1: the translator's own; it matters for those sent without DF).
    pub(super) fn next_ident(&mut self) -> u16 {
        self.nat64_ident = self.nat64_ident.wrapping_add(1);
        self.nat64_ident
    }

    /// An IPv4 packet to a NAT64 local address that the IPv4 table does
    /// not know, received `at` (`decide` found its interface): a backend's reply if the IPv6 table
    /// holds its mapped tuple as a session's reply key, translated and
    /// sent to the client; else `no_session`.
    #[inline(never)]
    pub(super) fn reply_nat64<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        pkt: P,
        meta: &Ipv4Meta,
    ) {
        let key = mapped(&meta.tuple);
        let id = match self.lookup6_aside(&key) {
            Some(hit)
                if hit.dir == Direction::Outbound
                    && self.flow.sessions6().get(hit.id).forwarding() == Forwarding::FullNat =>
            {
                hit.id
            }
            _ => return self.drop(DropReason::NoSession),
        };
        if self.tracing() {
            self.watch.step(TraceStep::SessionHit {
                session: id.index() as u32,
                inbound: false,
            });
        }
        if meta.ttl <= 1 {
            self.drop(DropReason::TtlExceeded);
            return self.send_icmp_error(cx, at, pkt, meta, IcmpError::TIME_EXCEEDED);
        }
        let flags = (meta.tuple.proto == IpProto::TCP).then(|| tcp_flags_of(pkt.data(), meta));
        let before = self.flow.sessions6().get(id).state;
        let s = self.flow.on_packet6(id, Direction::Outbound, flags, cx.now);
        let (origin, backend) = (s.origin(), s.backend);
        let client = s.inbound();
        let shifted = s.flags() & session_flags::PROXY_HEADER != 0;
        // The client's packets' delta, undone (`FlowKey::keys_delta`).
        let delta = Delta::negated(s.keys_delta());
        let to = To6 {
            src: SocketAddrV6::new(client.dst, client.dst_port, 0, 0),
            dst: SocketAddrV6::new(client.src, client.src_port, 0, 0),
        };
        let mut pkt = pkt;
        if shifted {
            // The client's bytes were shifted by a PROXY header
            // (`client_addr6.rs`): the acknowledgments shift back.
            if let Err(reason) = self.header_to_client64(&mut pkt, meta, id) {
                return self.drop(reason);
            }
        }
        let t = cx.t;
        if t.custom_timeouts {
            self.service_timeouts6(t, origin, id, cx.now);
        }
        self.sync_packet6(t, id, false, before, cx.now);
        self.count_packet(origin, backend, false, meta.total_len);
        if t.mss_clamping && flags.is_some_and(|f| f & tcp_flags::SYN != 0) {
            self.clamp_syn(t, origin, &mut pkt, meta.l4_offset);
        }
        let Some((next, iface6)) = t.route6(*to.dst.ip()) else {
            return self.drop(DropReason::NoRoute);
        };
        // The frame once translated: options gone, a 40-byte header (and
        // a fragment header after it for a first fragment).
        let frag_header = match meta.fragment {
            Some(_) => FRAGMENT_HEADER_LEN,
            None => 0,
        };
        let grow = IPV6_HEADER_LEN + frag_header - (meta.l4_offset - meta.l3_offset);
        let egress_port = t.interfaces.get(usize::from(iface6)).map(|i| i.port);
        let len6 = pkt.len() + grow;
        if let Some(mtu) = egress_port.and_then(|p| self.egress.over_mtu(len6, meta.vlan, p)) {
            return self.reply_too_big(cx, at, pkt, meta, mtu);
        }
        if let Err(u) = to_ipv6_summed(&mut pkt, meta, &to, delta) {
            return self.drop(reason(u));
        }
        if meta.fragment.is_some() {
            // Its later fragments follow (`nat64_frag.rs`).
            self.reply_fragment_decided(origin, backend, (*to.src.ip(), *to.dst.ip()));
        }
        self.counters.events.nat64_to_ipv6 += 1;
        let way = (meta.vlan, iface6, next);
        // The MTU was checked above, for the translated length (padding
        // trimmed, the frame is no longer).
        self.egress6_fitted(cx, pkt, way, Some((id, Direction::Outbound)));
    }

    /// An ICMP error to a NAT64 local address (a router's on the way to
    /// the backend, or the backend's own) about a packet we sent as IPv4:
    /// if it quotes a NAT64 session's packet, the client gets the ICMPv6
    /// error about the packet it sent, from the VIP (`nat64::error_to_ipv6`:
    /// fragmentation needed becomes Packet Too Big of the MTU + 20, no
    /// more than the client's link's); else `no_session`.
    #[cold]
    #[inline(never)]
    pub(super) fn nat64_error<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        mut pkt: P,
        meta: &Ipv4Meta,
    ) {
        let Some(quoted) = quoted_flow(pkt.data(), meta) else {
            return self.drop(DropReason::NoSession);
        };
        let id = match self.lookup6_aside(&mapped(&quoted.reversed())) {
            Some(hit)
                if hit.dir == Direction::Outbound
                    && self.flow.sessions6().get(hit.id).forwarding() == Forwarding::FullNat =>
            {
                hit.id
            }
            _ => return self.drop(DropReason::NoSession),
        };
        let client = *self.flow.sessions6().get(id).inbound();
        let t = cx.t;
        let Some((next, iface6)) = t.route6(client.src) else {
            return self.drop(DropReason::NoRoute);
        };
        let mtu = t
            .interfaces
            .get(usize::from(iface6))
            .and_then(|i| t.ports.get(usize::from(i.port)))
            .map_or(IPV6_MIN_MTU, |p| p.mtu);
        let to = ErrorTo6 {
            src: client.dst,
            dst: client.src,
            mtu,
            quoted: To6 {
                src: SocketAddrV6::new(client.src, client.src_port, 0, 0),
                dst: SocketAddrV6::new(client.dst, client.dst_port, 0, 0),
            },
        };
        if let Err(u) = error_to_ipv6(&mut pkt, meta, &to) {
            return self.drop(reason(u));
        }
        self.counters.events.icmp_errors_translated += 1;
        let way = (meta.vlan, iface6, next);
        if self
            .egress6_for(cx, pkt, way, Some((id, Direction::Outbound)))
            .is_err()
        {
            // Cut to 1280 bytes: it fits any IPv6 link.
            self.drop(DropReason::TooBigToFragment);
        }
    }

    /// A backend's reply too big for the client's link once translated:
    /// with DF, fragmentation needed to the backend with the MTU its IPv4
    /// packets must keep to (the link's − 20); without, dropped (IPv6
    /// fragments are not made here).
    #[cold]
    pub(super) fn reply_too_big<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        pkt: P,
        meta: &Ipv4Meta,
        mtu: u16,
    ) {
        if !meta.dont_fragment {
            return self.drop(DropReason::TooBigToFragment);
        }
        self.drop(DropReason::FragmentationNeeded);
        let error = IcmpError::fragmentation_needed(mtu.saturating_sub(20));
        self.send_icmp_error(cx, at, pkt, meta, error)
    }
}
