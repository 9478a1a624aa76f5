//! IPv6 forwarding (issue 20): DR and TUN. A TCP or UDP packet to an
//! IPv6 VIP is classified through its extension headers
//! (`packet6::classify_parsed`), finds or makes its session in the worker's
//! IPv6 table (scheduler, persistence), is counted for its backend, and
//! leaves with only its MACs changed, to the backend's, resolved by
//! Neighbour Discovery (`egress6.rs`); for TUN, inside an outer IPv6
//! header to the backend first (`tun6.rs`). The IPv6 header is left alone: DR
//! stays on one link, so the hop limit is not decremented (as IPv4 DR
//! leaves the TTL). DR and TUN have no reply path through us: the client's packets
//! are the flow's only direction, and `FlowOwners::owner6` puts all of
//! them on one worker (`burst.rs` hands them there).
//!
//! A TCP flow to a SYN-proxied service (NAT and FULLNAT) meets the SYN
//! proxy first (`synproxy6.rs`): with no session, its SYN is answered and
//! its ACK's cookie opens the session; a proxied session's segments are
//! translated before the rewrite.
//!
//! NAT (stage 3) rewrites the client's packets to the backend and the
//! backend's replies back to the VIP, and routes both (`nat6.rs`).
//!
//! An ICMPv6 message to a VIP (echo, Neighbour Discovery) is not a flow:
//! it goes on to `local6.rs`, which answers for VIPs as for interface
//! addresses.

use super::client_addr6::Seen6;
use super::mtu6::From6;
use super::synproxy::Spliced6;
use super::{Cx, Datapath};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::proto::tcp_flags;
use crate::flow::state::FirstPacket6;
use crate::flow::table::Forwarding;
use crate::flow::{Direction, Origin, SessionId};
use crate::io::PacketIo;
use crate::packet6::{classify_parsed, Ipv6Flow, Ipv6Meta};
use crate::sync::RecordKind;
use crate::tables::LbTables;
use crate::wire::Ipv6Packet;

/// The flow of an IPv6 packet at `l3_offset` of `frame` if it is to one
/// of `t`'s IPv6 VIPs and TCP or UDP (or a drop reason for one to a VIP
/// that cannot be forwarded: a refused chain, a short L4 header, a
/// fragment). `None`: not a VIP's flow (another destination, ICMPv6).
#[inline]
pub(super) fn vip_flow(
    t: &LbTables,
    frame: &[u8],
    l3_offset: usize,
) -> Option<Result<Ipv6Meta, DropReason>> {
    let ip = Ipv6Packet::new(frame.get(l3_offset..)?).ok()?;
    if !t.vips6.contains(ip.dst()) {
        return None;
    }
    match classify_parsed(&ip, l3_offset) {
        Ok(Ipv6Flow::Flow(meta)) => Some(Ok(meta)),
        Ok(Ipv6Flow::Fragment(_)) => Some(Err(DropReason::Ipv6Fragment)),
        Ok(Ipv6Flow::Other(_)) => None,
        Err(reason) => Some(Err(reason)),
    }
}

/// The flow of an IPv6 packet at `l3_offset` of `frame` that is not to a
/// VIP, if it is TCP or UDP while some IPv6 NAT backend or FULLNAT local
/// address exists: maybe a backend's reply, looked for by the session's
/// second key (`nat6.rs`). Its fragments and bad chains are `None`: they
/// take IPv6's old path. Out of line, so DR's path stays small.
#[inline(never)]
pub(super) fn reply_flow(t: &LbTables, frame: &[u8], l3_offset: usize) -> Option<Ipv6Meta> {
    if !t.owners.has_nat6() {
        return None;
    }
    let ip = Ipv6Packet::new(frame.get(l3_offset..)?).ok()?;
    match classify_parsed(&ip, l3_offset) {
        Ok(Ipv6Flow::Flow(meta)) => Some(meta),
        _ => None,
    }
}

/// Whether the IPv6 flow `meta` is from an IPv6 NAT backend's address and
/// port or to a FULLNAT (or SNAT) local address: a reply to look for by
/// the session's second key (`nat6.rs`).
#[inline]
pub(super) fn is_nat_reply6(t: &LbTables, meta: &Ipv6Meta) -> bool {
    t.owners.local_reply6(&meta.tuple) || t.owners.nat_reply6(&meta.tuple).is_some()
}

/// The worker of `workers` that owns the IPv6 packet at `l3_offset` of
/// `frame`, received by worker `me`: a VIP's flow by its service's
/// placement, a NAT backend's reply by its client's
/// (`FlowOwners::owner6`), anything else where it came in.
#[inline]
pub(super) fn owner6(
    t: &LbTables,
    frame: &[u8],
    l3_offset: usize,
    me: usize,
    workers: usize,
) -> usize {
    if t.vips6.is_empty() && !t.owners.has_nat6() {
        return me;
    }
    let reply = match vip_flow(t, frame, l3_offset) {
        Some(Ok(meta)) => return t.owners.owner6(&meta.tuple, me, workers),
        // A TCP or UDP fragment: its flow's worker, or its datagram's.
        Some(Err(DropReason::Ipv6Fragment)) => {
            return super::fragment6::owner_of_fragment6(t, frame, l3_offset, (me, workers), true)
                .unwrap_or(me)
        }
        Some(Err(_)) => return me,
        None => reply_flow(t, frame, l3_offset).filter(|m| is_nat_reply6(t, m)),
    };
    match reply {
        Some(meta) => t.owners.owner6(&meta.tuple, me, workers),
        // A fragment of a backend's reply.
        None if t.owners.has_nat6() && super::fragment6::is_fragment(frame, l3_offset) => {
            super::fragment6::owner_of_fragment6(t, frame, l3_offset, (me, workers), false)
                .unwrap_or(me)
        }
        // An ICMPv6 error about a NAT or FULLNAT flow's packet: the
        // owner of the session key its quote, reversed, is.
        None => match super::nat6_error::quoted_nat6(t, frame, l3_offset) {
            Some(q) => t.owners.owner6(&q.reversed, me, workers),
            // A client's ICMPv6 error about a NAT64 reply: its client's.
            None if t.owners.has_nat64() => {
                match super::nat64_error6::quoted_client6(t, frame, l3_offset) {
                    Some(client) => t.owners.owner6(&client, me, workers),
                    None => {
                        super::snat6::owner_snat6(t, frame, l3_offset, (me, workers)).unwrap_or(me)
                    }
                }
            }
            // A SNAT flow's packet (`snat6.rs`).
            None => super::snat6::owner_snat6(t, frame, l3_offset, (me, workers)).unwrap_or(me),
        },
    }
}

impl<P: PacketBuf> Datapath<P> {
    /// Forwards a TCP or UDP packet to an IPv6 VIP, received on `port`
    /// and the interface of `vlan`: by its session, or a new one.
    pub(super) fn forward6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        (port, vlan): (u16, Option<u16>),
        pkt: P,
        meta: &Ipv6Meta,
    ) {
        let t = cx.t;
        let sessions = self.flow.sessions6();
        let hash = sessions.hash(&meta.tuple);
        let (id, opened) = match sessions.lookup_hashed(&meta.tuple, hash) {
            Some(hit) if !self.flow.reused6(hit.id, meta.tcp_flags) => {
                if self.syn_proxied6(hit.id) {
                    return self.forward6_spliced(cx, (port, vlan), pkt, meta, hit.id);
                }
                (hit.id, false)
            }
            found => {
                if self.tracing() {
                    self.trace_miss6(found.map(|h| h.id));
                }
                // A reused client port: the closing session ends first.
                if let Some(old) = found {
                    self.sync_event6(t, old.id, RecordKind::Ended, cx.now);
                    if self.flow.end6(old.id, cx.now) {
                        self.counters.events.sessions_expired += 1;
                    }
                }
                if meta.tcp_flags.is_some() && self.proxies6(t, &meta.tuple) {
                    return self.forward6_syn_proxy(cx, (port, vlan), pkt, meta);
                }
                // One-packet scheduling (`ops6.rs`): no session.
                if t.one_packet6 {
                    if let Some(s) = super::ops6::one_packet_service6(t, meta) {
                        return self.forward_one_packet6(cx, (port, vlan), pkt, meta, s);
                    }
                }
                match self.open6(cx, meta, hash) {
                    Ok(id) => (id, true),
                    Err(reason) => return self.refuse_first6(cx, (port, vlan), pkt, meta, reason),
                }
            }
        };
        self.forward6_session(cx, (port, vlan), pkt, meta, (id, opened));
    }

    /// A client's segment of a SYN-proxied session (`synproxy6.rs`):
    /// translated, or our SYN to the backend again, then forwarded. Out
    /// of line, so the other flows' path carries none of it.
    #[cold]
    #[inline(never)]
    fn forward6_spliced<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        (port, vlan): (u16, Option<u16>),
        pkt: P,
        meta: &Ipv6Meta,
        id: SessionId,
    ) {
        match self.splice6_in(pkt, meta, id) {
            Spliced6::On(p) => self.forward6_session(cx, (port, vlan), p, meta, (id, false)),
            Spliced6::Rewritten(p, m) => {
                self.forward6_session(cx, (port, vlan), p, &m, (id, false))
            }
            Spliced6::Done => {}
        }
    }

    /// A TCP segment with no session to a SYN-proxied service: a SYN
    /// answered, an ACK's cookie checked; a valid one goes on as our SYN
    /// to the backend, the first packet of the session it opened.
    #[cold]
    #[inline(never)]
    fn forward6_syn_proxy<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        (port, vlan): (u16, Option<u16>),
        pkt: P,
        meta: &Ipv6Meta,
    ) {
        if let Some((p, m, id)) = self.syn_proxy6(cx, port, pkt, meta) {
            self.forward6_session(cx, (port, vlan), p, &m, (id, true));
        }
    }

    /// A client's packet of IPv6 session `id` (`opened` by it or not),
    /// forwarded: the session's state and counters moved, then the
    /// backend's way.
    #[inline(always)]
    fn forward6_session<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        (port, vlan): (u16, Option<u16>),
        mut pkt: P,
        meta: &Ipv6Meta,
        (id, opened): (SessionId, bool),
    ) {
        let t = cx.t;
        let before = self.flow.sessions6().get(id).state;
        let s = self
            .flow
            .on_packet6(id, Direction::Inbound, meta.tcp_flags, cx.now);
        let (origin, backend, forwarding) = (s.origin(), s.backend, s.forwarding());
        if self.tracing() {
            self.trace_session6(id, opened, origin, backend, meta);
        }
        if t.custom_timeouts {
            self.service_timeouts6(t, origin, id, cx.now);
        }
        self.sync_packet6(t, id, opened, before, cx.now);
        self.count_packet(origin, backend, true, meta.len);
        if t.mss_clamping && meta.tcp_flags.is_some_and(|f| f & tcp_flags::SYN != 0) {
            self.clamp_syn(t, origin, &mut pkt, meta.l4_offset);
        }
        let (next, iface) = match t.links6.get(backend as usize) {
            Some(Some(link)) => *link,
            // An IPv4 backend: NAT64's (`nat64.rs`), found here so that the
            // IPv6 backends' path tests nothing more for it.
            Some(None) if forwarding == Forwarding::FullNat => {
                if t.client_addr6 {
                    // TOA, the PROXY header, on the IPv6 packet before its
                    // translation (`client_addr6.rs`).
                    let seen = Seen6 {
                        id,
                        opened,
                        before,
                        nat64: true,
                    };
                    let Some((pkt, meta)) = self.client_addr_to_backend6(t, seen, pkt, meta) else {
                        return;
                    };
                    return self.forward_nat64(cx, (port, vlan), pkt, &meta, id);
                }
                return self.forward_nat64(cx, (port, vlan), pkt, meta, id);
            }
            // An IPv6 backend with no route: the config refuses it.
            Some(None) => return self.drop(DropReason::NoRoute),
            None => return self.drop(DropReason::NoBackend),
        };
        // FULLNAT rewrites both ends as NAT rewrites one: the session's
        // reply tuple, reversed, is where the packet goes.
        if matches!(forwarding, Forwarding::Nat | Forwarding::FullNat) {
            if t.client_addr6 {
                // TOA, the PROXY header (`client_addr6.rs`): it may grow.
                let seen = Seen6 {
                    id,
                    opened,
                    before,
                    nat64: false,
                };
                let Some((pkt, meta)) = self.client_addr_to_backend6(t, seen, pkt, meta) else {
                    return;
                };
                return self.forward_nat6(cx, (port, vlan), pkt, &meta, id, (iface, next));
            }
            return self.forward_nat6(cx, (port, vlan), pkt, meta, id, (iface, next));
        }
        if forwarding == Forwarding::Tun {
            let from = From6 {
                port,
                vlan,
                l3_offset: meta.l3_offset,
            };
            return self.tunnel6(cx, pkt, (from, meta), (backend, (next, iface)), Some(id));
        }
        // Too big for the backend's link (a smaller MTU than the client's):
        // Packet Too Big to the client (`mtu6.rs`). `From6` is made only
        // then: kept across the call it cost DR 7 instructions a packet.
        if let Err(big) =
            self.egress6_for(cx, pkt, (vlan, iface, next), Some((id, Direction::Inbound)))
        {
            let from = From6 {
                port,
                vlan,
                l3_offset: meta.l3_offset,
            };
            self.packet_too_big6(cx, from, big.pkt, big.mtu);
        }
    }

    /// The first packet of an IPv6 flow: scheduled, its session made and
    /// counted as IPv4's are (`commit` in `act.rs`).
    pub(super) fn open6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        meta: &Ipv6Meta,
        hash: u64,
    ) -> Result<SessionId, DropReason> {
        let t = cx.t;
        let s = t
            .service_index
            .lookup(&meta.tuple.service_key())
            .ok_or(DropReason::NoService)?;
        let first = FirstPacket6 {
            tuple: meta.tuple,
            tcp_flags: meta.tcp_flags.unwrap_or(0),
            hash,
        };
        let opened = self.flow.open6(t, s, &first, cx.now)?;
        let c = &mut self.counters;
        c.events.sessions_created += 1;
        let picked_up = meta
            .tcp_flags
            .is_some_and(|f| f & crate::flow::proto::tcp_flags::SYN == 0);
        c.events.sessions_picked_up += u64::from(picked_up);
        if let Some(b) = c.backends.get_mut(opened.backend as usize) {
            b.conns += 1;
        }
        Ok(opened.id)
    }

    /// A first packet `open6` refused: counted on its service where IPv4
    /// counts it (rate limit, overload), then dropped by name.
    pub(super) fn refuse6(&mut self, t: &LbTables, meta: &Ipv6Meta, reason: DropReason) {
        self.count_refusal(t, meta.tuple.service_key(), reason);
        self.drop(reason);
    }

    /// A client's first packet `open6` refused, as [`Self::refuse6`]; with
    /// no backend for it, the client is told (`unreachable.rs`).
    #[cold]
    pub(super) fn refuse_first6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        (port, vlan): (u16, Option<u16>),
        pkt: P,
        meta: &Ipv6Meta,
        reason: DropReason,
    ) {
        self.refuse6(cx.t, meta, reason);
        if reason == DropReason::NoBackend {
            let from = From6 {
                port,
                vlan,
                l3_offset: meta.l3_offset,
            };
            self.port_unreachable6(cx, from, pkt, meta);
        }
    }

    /// Re-arms an IPv6 session's timer with its service's own timeout for
    /// its state, where the service has one.
    #[cold]
    pub(super) fn service_timeouts6(
        &mut self,
        t: &LbTables,
        origin: Origin,
        id: SessionId,
        now: u64,
    ) {
        let Origin::Service(s) = origin else {
            return;
        };
        let Some(timeouts) = t
            .services
            .get(s as usize)
            .and_then(|s| s.spec.timeouts.as_ref())
        else {
            return;
        };
        if let Some(ms) = timeouts.for_state(self.flow.sessions6().get(id).state) {
            self.flow.refresh6_with_timeout(id, ms, now);
        }
    }
}
