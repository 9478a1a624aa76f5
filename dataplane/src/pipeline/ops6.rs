//! One-packet scheduling over IPv6 (IPVS `ops`, issue 20): a UDP datagram
//! to a DR or TUN IPv6 service with `ops` is scheduled on its own
//! (`FlowState::one_packet6`) and forwarded with no session, so a
//! long-lived client (a resolver on one source port) spreads over the
//! backends, as IPv4's `deliver_one_packet` (`act.rs`) does: counted as
//! `event:one_packet_scheduled` and in the backend's packets, no
//! connection counted. A first fragment's way is kept for the datagram's
//! later fragments (`frag_decided6`, read by `fragment6.rs`).
//!
//! `forward6` comes here only on a session miss, and only when some IPv6
//! service has `ops` (`LbTables::one_packet6`): the other flows' path
//! pays one flag test on a miss.

use super::mtu6::From6;
use super::{Cx, Datapath};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::Origin;
use crate::frag::decision6::{FragDecision6, FragRewrite6};
use crate::io::PacketIo;
use crate::packet6::Ipv6Meta;
use crate::tables::{LbTables, Mode};
use crate::tuple::IpProto;
use crate::watch::TraceStep;

/// The one-packet IPv6 service a session-less packet `meta` is for, if
/// its service is one (UDP only: the config and the tables refuse `ops`
/// elsewhere, TCP is not let through here either).
#[inline(never)]
pub(super) fn one_packet_service6(t: &LbTables, meta: &Ipv6Meta) -> Option<u32> {
    if meta.tuple.proto != IpProto::UDP {
        return None;
    }
    let s = t.service_index.lookup(&meta.tuple.service_key())?;
    let spec = &t.services.get(s as usize)?.spec;
    (spec.one_packet && matches!(spec.mode, Mode::Dr | Mode::Tun)).then_some(s)
}

impl<P: PacketBuf> Datapath<P> {
    /// A datagram of the one-packet IPv6 service `s`, received on `port`
    /// and the interface of `vlan`: sent to the backend its scheduler
    /// picks now, as a DR or TUN session's packet would be, and nothing
    /// kept; refused as a first packet is (`refuse_first6`).
    #[cold]
    #[inline(never)]
    pub(super) fn forward_one_packet6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        (port, vlan): (u16, Option<u16>),
        pkt: P,
        meta: &Ipv6Meta,
        s: u32,
    ) {
        let t = cx.t;
        let backend = match self.flow.one_packet6(t, s, &meta.tuple, cx.now) {
            Ok(b) => b,
            Err(reason) => return self.refuse_first6(cx, (port, vlan), pkt, meta, reason),
        };
        let tunnel = t
            .services
            .get(s as usize)
            .is_some_and(|svc| svc.spec.mode == Mode::Tun);
        let (next, iface) = match t.links6.get(backend as usize) {
            Some(Some(link)) => *link,
            // An IPv6 backend with no route: the config refuses it.
            Some(None) => return self.drop(DropReason::NoRoute),
            None => return self.drop(DropReason::NoBackend),
        };
        if self.tracing() {
            self.watch.step(TraceStep::Scheduled6 {
                service: s,
                backend,
                picked_up: false,
                one_packet: true,
            });
        }
        self.counters.events.one_packet_scheduled += 1;
        let origin = Origin::Service(s);
        self.count_packet(origin, backend, true, meta.len);
        // For a first fragment: its datagram's later fragments follow it.
        self.frag_decided6 = Some(FragDecision6 {
            rewrite: match tunnel {
                true => FragRewrite6::Tunnel,
                false => FragRewrite6::Direct,
            },
            origin,
            backend,
            inbound: true,
        });
        let from = From6 {
            port,
            vlan,
            l3_offset: meta.l3_offset,
        };
        if tunnel {
            return self.tunnel6(cx, pkt, (from, meta), (backend, (next, iface)), None);
        }
        // Too big for the backend's link: Packet Too Big to the client, as
        // a DR session's packet (`forward6_session`).
        if let Err(big) = self.egress6_for(cx, pkt, (vlan, iface, next), None) {
            self.frag_decided6 = None;
            self.packet_too_big6(cx, from, big.pkt, big.mtu);
        }
    }
}
