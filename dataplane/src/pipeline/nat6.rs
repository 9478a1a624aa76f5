//! NAT over IPv6 (issue 20, stage 3): the client's packets leave for the
//! backend with their destination rewritten (`forward6.rs` finds their
//! session), the backend's replies come back through us (we are its
//! gateway) and leave for the client from the VIP, by the IPv6 route table
//! (`LbTables::route6`). Both are routed: the hop limit goes down by one
//! (`rewrite6::translate6`), and a packet that arrives with a hop limit of
//! 1 or 0 is dropped as `ttl_exceeded` (as IPv4's TTL) and answered with
//! an ICMPv6 Time Exceeded; one too big for the egress port is dropped as
//! `packet_too_big` and answered with Packet Too Big, before it is
//! rewritten, so the sender recognises what it sent (both `mtu6.rs`).
//!
//! A reply is found by the session's second key, the backend's tuple to
//! the client (`flow::state::nat6_reply`); `FlowOwners::owner6` has put it
//! on the worker that holds the session.

use std::net::Ipv6Addr;

use super::forward6::is_nat_reply6;
use super::mtu6::From6;
use super::synproxy::Spliced6;
use super::{Cx, Datapath};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::proto::tcp_flags;
use crate::flow::table::session_flags;
use crate::flow::{Direction, SessionId};
use crate::io::PacketIo;
use crate::packet6::Ipv6Meta;
use crate::rewrite6::{translate6, Translation6};
use crate::watch::TraceStep;

/// Where a packet leaves: the VLAN of its L2 header as received, the
/// interface, the next hop (the destination on a connected prefix, else
/// its route's gateway).
pub(super) type Way6 = (Option<u16>, u16, Ipv6Addr);

/// How a NAT packet leaves: rewritten to `to`, sent `way`, for the
/// session and the direction the packet goes in it.
#[derive(Clone, Copy)]
struct NatOut6 {
    to: Translation6,
    way: Way6,
    session: (SessionId, Direction),
}

impl<P: PacketBuf> Datapath<P> {
    /// A TCP or UDP packet from an IPv6 NAT backend, received on `port`
    /// and the interface of `vlan`: a reply of one of its sessions goes
    /// back to the client from the VIP; anything else is `no_session`.
    /// Out of line (as the rest of NAT's path here), so that DR's path,
    /// inlined into the burst loop, stays small.
    #[inline(never)]
    pub(super) fn reply6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: (u16, Option<u16>),
        pkt: P,
        meta: &Ipv6Meta,
    ) {
        match self.flow.sessions6().lookup(&meta.tuple) {
            Some(hit) if hit.dir == Direction::Outbound => {
                self.reply6_session(cx, at, pkt, meta, hit.id)
            }
            _ => self.drop(DropReason::NoSession),
        }
    }

    /// A TCP or UDP packet `meta` not to a VIP, received on `port` and the
    /// interface of `vlan`, while IPv6 NAT exists: a reply of one of our
    /// sessions (its second key) goes back as [`Self::reply6`] sends it;
    /// one from a NAT backend or to a FULLNAT or SNAT local address with
    /// no session is `no_session`; anything else comes back, for the
    /// paths after NAT's (`local6.rs`). The session is looked up first,
    /// as IPv4's `decide` does: a reply pays no search of the backends.
    #[inline(never)]
    pub(super) fn nat_reply6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: (u16, Option<u16>),
        pkt: P,
        meta: &Ipv6Meta,
    ) -> Option<P> {
        match self.flow.sessions6().lookup(&meta.tuple) {
            Some(hit) if hit.dir == Direction::Outbound => {
                self.reply6_session(cx, at, pkt, meta, hit.id);
                None
            }
            _ if is_nat_reply6(cx.t, meta) => {
                self.drop(DropReason::NoSession);
                None
            }
            _ => Some(pkt),
        }
    }

    /// A reply of IPv6 session `id`: back to the client from the VIP.
    #[inline(always)]
    fn reply6_session<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        (port, vlan): (u16, Option<u16>),
        mut pkt: P,
        meta: &Ipv6Meta,
        id: SessionId,
    ) {
        let t = cx.t;
        // A SYN-proxied session's: its handshake, or its translation.
        let spliced: Ipv6Meta;
        let mut meta = meta;
        if self.syn_proxied6(id) {
            match self.splice6_out(cx, port, pkt, meta, id) {
                Spliced6::On(p) => pkt = p,
                Spliced6::Rewritten(p, m) => {
                    (pkt, spliced) = (p, m);
                    meta = &spliced;
                }
                Spliced6::Done => return,
            }
        }
        if self.tracing() {
            self.watch.step(TraceStep::SessionHit {
                session: id.index() as u32,
                inbound: false,
            });
        }
        let before = self.flow.sessions6().get(id).state;
        let s = self
            .flow
            .on_packet6(id, Direction::Outbound, meta.tcp_flags, cx.now);
        let (origin, backend) = (s.origin(), s.backend);
        let rewrite = Translation6::of(&s.inbound().reversed());
        if s.flags() & session_flags::PROXY_HEADER != 0 {
            // Its client's bytes were shifted by a PROXY header
            // (`client_addr6.rs`): the acknowledgments shift back.
            if let Err(reason) = self.header_to_client6(&mut pkt, meta, id) {
                return self.drop(reason);
            }
        }
        if t.custom_timeouts {
            self.service_timeouts6(t, origin, id, cx.now);
        }
        self.sync_packet6(t, id, false, before, cx.now);
        self.count_packet(origin, backend, false, meta.len);
        if t.mss_clamping && meta.tcp_flags.is_some_and(|f| f & tcp_flags::SYN != 0) {
            self.clamp_syn(t, origin, &mut pkt, meta.l4_offset);
        }
        let Some((next, iface)) = t.route6(rewrite.dst) else {
            return self.drop(DropReason::NoRoute);
        };
        let out = NatOut6 {
            to: rewrite,
            way: (vlan, iface, next),
            session: (id, Direction::Outbound),
        };
        self.nat_out6(cx, (port, vlan), pkt, meta, &out);
    }

    /// A client's packet of NAT session `id`, to its backend `to` on
    /// interface `iface`. Out of line, so DR's path stays small.
    #[inline(never)]
    pub(super) fn forward_nat6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        (port, vlan): (u16, Option<u16>),
        pkt: P,
        meta: &Ipv6Meta,
        id: SessionId,
        (iface, to): (u16, Ipv6Addr),
    ) {
        let s = self.flow.sessions6().get(id);
        let out = NatOut6 {
            to: Translation6::of(&s.outbound().reversed()),
            way: (vlan, iface, to),
            session: (id, Direction::Inbound),
        };
        self.nat_out6(cx, (port, vlan), pkt, meta, &out);
    }

    /// Rewrites a NAT packet as `out` says and sends it. One too big for
    /// the egress port, or whose hop limit runs out here, is answered out
    /// of `port`, where it came in, as it came.
    #[inline(never)]
    fn nat_out6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        (port, vlan): (u16, Option<u16>),
        mut pkt: P,
        meta: &Ipv6Meta,
        out: &NatOut6,
    ) {
        let NatOut6 { to, way, session } = *out;
        let from = From6 {
            port,
            vlan,
            l3_offset: meta.l3_offset,
        };
        // The rewrite keeps the length: the MTU is checked before it.
        let egress_port = cx.t.interfaces.get(usize::from(way.1)).map(|i| i.port);
        if let Some(mtu) = egress_port.and_then(|p| self.egress.over_mtu(pkt.len(), vlan, p)) {
            return self.packet_too_big6(cx, from, pkt, mtu);
        }
        match translate6(pkt.data_mut(), meta, &to) {
            // The MTU was checked above.
            Ok(()) => self.egress6_fitted(cx, pkt, way, Some(session)),
            Err(DropReason::TtlExceeded) => self.hop_limit_exceeded6(cx, from, pkt),
            Err(reason) => self.drop(reason),
        }
    }
}
