//! NAT over IPv6 (issue 20, stage 3): the client's packets leave for the
//! backend with their destination rewritten (`forward6.rs` finds their
//! session), the backend's replies come back through us (we are its
//! gateway) and leave for the client from the VIP. Both are routed: the
//! hop limit goes down by one (`rewrite6::translate6`), and a packet that
//! arrives with a hop limit of 1 or 0 is dropped as `ttl_exceeded` (as
//! IPv4's TTL) and answered with an ICMPv6 Time Exceeded, limited by the token bucket
//! IPv4's ICMP errors use.
//!
//! A reply is found by the session's second key, the backend's tuple to
//! the client (`flow::state::nat6_reply`); `FlowOwners::owner6` has put it
//! on the worker that holds the session.

use std::net::Ipv6Addr;

use super::{Cx, Datapath};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::{Direction, SessionId};
use crate::io::PacketIo;
use crate::net::icmp6::build_icmpv6_error;
use crate::packet6::Ipv6Meta;
use crate::rewrite::set_macs;
use crate::rewrite6::{translate6, Translation6};
use crate::tables::LbTables;
use crate::watch::TraceStep;
use crate::wire::ethernet;
use crate::wire::get_mac;
use crate::wire::icmpv6::Icmpv6Type;

/// Where a packet leaves: the VLAN of its L2 header as received, the
/// interface, the on-link next hop.
pub(super) type Way6 = (Option<u16>, u16, Ipv6Addr);

/// The interface and next hop towards `dst`: on a connected prefix of
/// ours, `dst` itself. (IPv6 routes, when `egress6` has them, replace
/// this search.)
fn next_hop6(t: &LbTables, dst: Ipv6Addr) -> Option<(u16, Ipv6Addr)> {
    t.on_link6(dst).map(|iface| (iface, dst))
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
        (port, vlan): (u16, Option<u16>),
        pkt: P,
        meta: &Ipv6Meta,
    ) {
        let t = cx.t;
        let id = match self.flow.sessions6().lookup(&meta.tuple) {
            Some(hit) if hit.dir == Direction::Outbound => hit.id,
            _ => return self.drop(DropReason::NoSession),
        };
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
        if t.custom_timeouts {
            self.service_timeouts6(t, origin, id, cx.now);
        }
        self.sync_packet6(t, id, false, before, cx.now);
        self.count_packet(origin, backend, false, meta.len);
        let Some((iface, next)) = next_hop6(t, rewrite.dst) else {
            return self.drop(DropReason::NoRoute);
        };
        let way = (vlan, iface, next);
        self.nat_out6(
            cx,
            (port, vlan),
            pkt,
            meta,
            &rewrite,
            way,
            (id, Direction::Outbound),
        );
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
        let rewrite = Translation6::of(&s.outbound().reversed());
        let way = (vlan, iface, to);
        let session = (id, Direction::Inbound);
        self.nat_out6(cx, (port, vlan), pkt, meta, &rewrite, way, session);
    }

    /// Rewrites a NAT packet of session `session` to `to` and sends it
    /// `way`; a hop limit that runs out here is answered with Time
    /// Exceeded out of `port`, where the packet came in.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    pub(super) fn nat_out6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: (u16, Option<u16>),
        mut pkt: P,
        meta: &Ipv6Meta,
        to: &Translation6,
        way: Way6,
        session: (SessionId, Direction),
    ) {
        match translate6(pkt.data_mut(), meta, to) {
            Ok(()) => {
                // No Packet Too Big is sent yet (issue 20).
                if self.egress6_for(cx, pkt, way, Some(session)).is_err() {
                    self.drop(DropReason::TooBigToFragment);
                }
            }
            Err(DropReason::TtlExceeded) => {
                self.drop(DropReason::TtlExceeded);
                let code = 0; // hop limit exceeded in transit
                self.send_icmp6_error(
                    cx,
                    at,
                    pkt,
                    meta.l3_offset,
                    (Icmpv6Type::TIME_EXCEEDED, code, 0),
                );
            }
            Err(reason) => self.drop(reason),
        }
    }

    /// Turns `pkt` (received on `port` and the interface of `vlan`) into
    /// the ICMPv6 error `(type, code, rest)` from our address on that
    /// interface and sends it back where the packet came from. Suppressed
    /// errors count as `icmp_rate_limited`, as IPv4's.
    #[cold]
    #[inline(never)]
    pub(super) fn send_icmp6_error<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        (port, vlan): (u16, Option<u16>),
        mut pkt: P,
        l3: usize,
        error: (u8, u8, u32),
    ) {
        if !self.icmp_limit.allow(cx.now) {
            return self.drop(DropReason::IcmpRateLimited);
        }
        let t = cx.t;
        let Some(to) = crate::wire::Ipv6Packet::new(pkt.data().get(l3..).unwrap_or(&[]))
            .ok()
            .map(|ip| ip.src())
        else {
            return;
        };
        let src = t
            .ingress_interface(port, vlan)
            .and_then(|i| t.source_address6(i, to));
        let (Some(src), Some(ours)) = (src, t.port_mac(port)) else {
            return;
        };
        if build_icmpv6_error(&mut pkt, l3, error, src) {
            // build_icmpv6_error swapped the MACs: the sender's is the
            // destination now.
            let sender = get_mac(pkt.data(), ethernet::field::DESTINATION.start);
            set_macs(pkt.data_mut(), ours, sender);
            self.counters.events.icmp_errors_sent += 1;
            self.send(cx, port, pkt);
        }
    }
}
