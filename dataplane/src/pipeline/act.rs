//! A decided packet's step, carried out: a session's packet rewritten the
//! way its mode says, a new flow scheduled and opened, an echo answered, an
//! ICMP error translated with its flow or sent for a packet we cannot
//! forward. What leaves goes to `egress.rs`.

use std::net::Ipv4Addr;

use super::burst::{first_packet, tcp_flags_of};
use super::decide::Step;
use super::mtu::Way;
use super::{Cx, Datapath, Ingress};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::state::{FirstPacket, OnePacket, Opened, Plan};
use crate::flow::table::{session_flags, Forwarding};
use crate::flow::{Direction, Hit, Origin, SessionId};
use crate::frag::{FragDecision, FragRewrite};
use crate::io::PacketIo;
use crate::net::icmp::{answer_echo, build_icmp_error};
use crate::packet::Ipv4Meta;
use crate::rewrite::{clamp_mss_at, encapsulate_ipip, set_macs, translate, translate_icmp_error};
use crate::rewrite::{Translation, Tunnel};
use crate::sync::RecordKind;
use crate::tables::{LbTables, Mode};
use crate::tuple::IpProto;
use crate::watch::TraceStep;
use crate::wire::tcp::TcpFlags;
use crate::wire::{ethernet, get_mac};
use ferrolb_types::ServiceKey;

/// Outer TTL of IP-in-IP packets and of packets we originate.
const TUNNEL_TTL: u8 = 64;

/// An ICMP error to send: type, code, and the rest of its header (the
/// next-hop MTU of fragmentation-needed).
#[derive(Clone, Copy, Debug)]
pub(super) struct IcmpError {
    icmp_type: u8,
    code: u8,
    rest: u32,
}

impl IcmpError {
    pub(super) const TIME_EXCEEDED: IcmpError = IcmpError {
        icmp_type: 11,
        code: 0,
        rest: 0,
    };

    /// Destination Unreachable, port unreachable (`unreachable.rs`).
    pub(super) const PORT_UNREACHABLE: IcmpError = IcmpError {
        icmp_type: 3,
        code: 3,
        rest: 0,
    };

    pub(super) fn fragmentation_needed(next_hop_mtu: u16) -> IcmpError {
        IcmpError {
            icmp_type: 3,
            code: 4,
            rest: u32::from(next_hop_mtu),
        }
    }
}

/// The real server a DR or TUN packet goes to, and the session it is of
/// (none for a one-packet service's datagram).
#[derive(Clone, Copy, Debug)]
pub(super) struct RealServer {
    pub(super) addr: Ipv4Addr,
    pub(super) tunnel: bool,
    pub(super) hit: Option<Hit>,
}

impl RealServer {
    /// How a first fragment sent to this real server was forwarded.
    fn rewrite(&self) -> FragRewrite {
        match self.tunnel {
            true => FragRewrite::Tunnel { real: self.addr },
            false => FragRewrite::Direct { real: self.addr },
        }
    }
}

impl<P: PacketBuf> Datapath<P> {
    /// A first fragment is being forwarded this way: kept for the rest of
    /// its datagram (`fragment.rs` picks it up).
    #[cold]
    fn fragment_forwarded(
        &mut self,
        rewrite: FragRewrite,
        origin: Origin,
        backend: u32,
        inbound: bool,
    ) {
        self.frag_decided = Some(FragDecision {
            rewrite,
            origin,
            backend,
            inbound,
        });
    }

    /// Carries out what `decide` chose. Fragments take `fragment.rs`.
    #[inline(always)]
    pub(super) fn act<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        pkt: P,
        meta: &Ipv4Meta,
        hash: u64,
        step: Step,
    ) {
        if meta.fragment.is_some() {
            return self.act_fragment(cx, pkt, meta, hash, step);
        }
        self.act_packet(cx, pkt, meta, hash, step)
    }

    /// Carries out what `decide` chose for a packet (a first fragment too).
    #[inline(always)]
    pub(super) fn act_packet<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        pkt: P,
        meta: &Ipv4Meta,
        hash: u64,
        step: Step,
    ) {
        match step {
            Step::Drop(reason) => self.drop(reason),
            Step::TranslateError(hit) => self.translate_error(cx, pkt, meta, hit),
            Step::Nat64Error => self.nat64_error(cx, pkt, meta),
            Step::Nat64Reply { at } => self.reply_nat64(cx, at, pkt, meta),
            Step::Forward { at, hit } => self.forward(cx, at, pkt, meta, hit),
            Step::AnswerEcho { port } => self.answer_echo(cx, port, pkt, meta),
            Step::ReuseThenOpen { at, old } => {
                self.sync_event(cx.t, old.id, RecordKind::Ended, cx.now);
                if self.flow.end(old.id, cx.now) {
                    self.counters.events.sessions_expired += 1;
                }
                match meta.tuple.proto == IpProto::TCP && self.proxies(cx.t, &meta.tuple) {
                    true => self.syn_proxy(cx, at, pkt, meta, hash),
                    false => self.open(cx, at, pkt, meta, hash),
                }
            }
            Step::Open { at } => self.open(cx, at, pkt, meta, hash),
            Step::SynProxy { at } => self.syn_proxy(cx, at, pkt, meta, hash),
            Step::ToKernel { port } => self.up_to_kernel(cx, port, pkt, DropReason::NoInterface),
            // Fragments are acted on in `fragment.rs`; one here had no key.
            Step::Fragment { .. } => self.drop(DropReason::Fragment),
        }
    }

    /// The first packet of a flow: scheduled, its session made, forwarded.
    fn open<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        pkt: P,
        meta: &Ipv4Meta,
        hash: u64,
    ) {
        let first = first_packet(pkt.data(), meta, hash);
        match self.flow.plan(cx.t, &first, cx.now) {
            Ok(plan) => {
                if self.tracing() {
                    self.watch.step(TraceStep::Scheduled(plan.view()));
                }
                self.open_planned(cx, at, pkt, meta, plan)
            }
            Err(reason) => self.refuse_first(cx, at.port, pkt, (&first, meta), reason),
        }
    }

    /// A client's first packet `plan` refused, as [`Self::refuse`]; with no
    /// backend for it, the client is told (`unreachable.rs`). (Not a SYN
    /// proxy's cookie ACK: its client holds a connection the error would
    /// not match.)
    #[cold]
    pub(super) fn refuse_first<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        pkt: P,
        (first, meta): (&FirstPacket, &Ipv4Meta),
        reason: DropReason,
    ) {
        if reason != DropReason::NoBackend {
            return self.refuse(cx, port, pkt, (first, meta), reason);
        }
        self.count_refusal(cx.t, first.tuple.service_key(), reason);
        self.drop(reason);
        self.port_unreachable(cx, port, pkt, meta)
    }

    /// A first packet `plan` refused: counted on its service as well when
    /// the service's access list or a rate limit refused it (and as
    /// `overloaded` when no backend was left under its threshold), then
    /// dropped (or the kernel's).
    pub(super) fn refuse<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        pkt: P,
        (first, meta): (&FirstPacket, &Ipv4Meta),
        reason: DropReason,
    ) {
        // A NAT64 backend's reply: its session is in the IPv6 table. Looked
        // for only here, where the IPv4 path has given up (`nat64.rs`).
        if reason == DropReason::NoService && cx.t.owners.nat64_local(first.tuple.dst) {
            // `decide` found the interface before planning.
            let Some(iface) = cx.t.ingress_interface(port, meta.vlan) else {
                return self.drop(DropReason::NoInterface);
            };
            return self.reply_nat64(cx, Ingress { port, iface }, pkt, meta);
        }
        self.count_refusal(cx.t, first.tuple.service_key(), reason);
        self.drop_or_kernel(cx, port, pkt, reason)
    }

    /// A first packet refused by `reason`, counted on the service of
    /// `key` where the service refused it: access list, rate limits, and
    /// `overloaded` when no backend was left under its threshold. Both
    /// families.
    pub(super) fn count_refusal(&mut self, t: &LbTables, key: ServiceKey, reason: DropReason) {
        let by_service = matches!(
            reason,
            DropReason::AclDenied
                | DropReason::RateLimited
                | DropReason::ClientRateLimited
                | DropReason::NoBackend
        );
        let Some(s) = by_service.then(|| t.service_index.lookup(&key)).flatten() else {
            return;
        };
        if reason == DropReason::NoBackend && self.flow.overloaded(s) {
            self.counters.events.overloaded += 1;
        }
        if let Some(c) = self.counters.services.get_mut(s as usize) {
            match reason {
                DropReason::AclDenied => c.denied += 1,
                DropReason::RateLimited => c.rate_limited += 1,
                DropReason::ClientRateLimited => c.client_rate_limited += 1,
                _ => {}
            }
        }
    }

    /// A scheduled new flow made real: its session inserted and the packet
    /// forwarded by it, or a one-packet service's datagram sent to its real
    /// server with no session.
    pub(super) fn open_planned<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        mut pkt: P,
        meta: &Ipv4Meta,
        plan: Plan,
    ) {
        if let Some(one) = plan.one_packet() {
            return self.deliver_one_packet(cx, at, pkt, meta, one);
        }
        match self.commit(plan, cx.now) {
            Ok(id) => {
                if self.tracing() {
                    self.watch.step(TraceStep::SessionMade(id.index() as u32));
                }
                self.sync_opened(cx.t, id, cx.now);
                let hit = Hit {
                    id,
                    dir: Direction::Inbound,
                };
                if cx.t.proxy_tcp && meta.tuple.proto == IpProto::TCP {
                    self.open_proxy_header(cx.t, id, &pkt, meta);
                }
                let grown;
                let meta = match cx.t.client_addr && meta.tuple.proto == IpProto::UDP {
                    true => match self.add_proxy_header(cx.t, id, &mut pkt, meta) {
                        Some(m) => {
                            grown = m;
                            &grown
                        }
                        None => meta,
                    },
                    false => meta,
                };
                self.forward(cx, at, pkt, meta, hit)
            }
            Err(reason) => self.drop(reason),
        }
    }

    /// One-packet scheduling (IPVS `ops`): the datagram goes to the backend
    /// just chosen, counted for it, and nothing is kept.
    #[cold]
    fn deliver_one_packet<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        pkt: P,
        meta: &Ipv4Meta,
        one: OnePacket,
    ) {
        let Some(addr) = cx.t.backends.get(one.backend as usize).and_then(|b| b.v4()) else {
            return self.drop(DropReason::NoBackend);
        };
        self.counters.events.one_packet_scheduled += 1;
        let origin = Origin::Service(one.service);
        self.count_packet(origin, one.backend, true, meta.total_len);
        let rs = RealServer {
            addr,
            tunnel: one.mode == Mode::Tun,
            hit: None,
        };
        if meta.fragment.is_some() {
            self.fragment_forwarded(rs.rewrite(), origin, one.backend, true);
        }
        self.deliver_to_real_server(cx, at, pkt, meta, rs)
    }

    /// Inserts a planned session and counts it.
    pub(super) fn commit(&mut self, plan: Plan, now: u64) -> Result<SessionId, DropReason> {
        let picked_up = plan.picked_up();
        let Opened {
            id,
            origin,
            backend,
        } = self.flow.commit(plan, now)?;
        let c = &mut self.counters;
        c.events.sessions_created += 1;
        c.events.sessions_picked_up += u64::from(picked_up);
        match origin {
            // The service's count is its backends' (`sum_services`).
            Origin::Service(_) => {
                if let Some(c) = c.backends.get_mut(backend as usize) {
                    c.conns += 1;
                }
            }
            Origin::Snat(rule) => {
                if let Some(c) = c.snat.get_mut(rule as usize) {
                    c.conns += 1;
                }
            }
        }
        Ok(id)
    }

    /// Forwards a packet of an existing session the way it forwards: the
    /// session's state and timer first, then its counters, then the
    /// rewrite, and out by the hop its hint names.
    #[inline(always)]
    pub(super) fn forward<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        mut pkt: P,
        meta: &Ipv4Meta,
        hit: Hit,
    ) {
        let spliced;
        let meta = match super::synproxy::is_spliced(self.flow.sessions().get(hit.id).flags()) {
            false => meta,
            // Laid out off the plain path, which it must not lengthen
            // (the spliced segment's translation is inlined here).
            true => {
                spliced_branch();
                match self.splice_in_place(&mut pkt, meta, hit) {
                    Some(true) => meta,
                    Some(false) => return,
                    None => match self.splice(cx, at, pkt, meta, hit) {
                        Some((p, m)) => {
                            pkt = p;
                            spliced = m;
                            &spliced
                        }
                        None => return,
                    },
                }
            }
        };
        let tcp = (meta.tuple.proto == IpProto::TCP).then(|| tcp_flags_of(pkt.data(), meta));
        // The state before this packet, when a change must reach the peers.
        let synced_state = match (&self.sync, tcp) {
            (Some(_), Some(_)) => Some(self.flow.sessions().get(hit.id).state),
            _ => None,
        };
        // The same for TOA, which looks for the end of the handshake.
        let toa_state = match (cx.t.client_addr, tcp, hit.dir) {
            (true, Some(_), Direction::Inbound) => Some(self.flow.sessions().get(hit.id).state),
            _ => None,
        };
        let s = self.flow.on_packet(hit.id, hit.dir, tcp, cx.now);
        let (origin, backend, forwarding) = (s.origin(), s.backend, s.forwarding());
        // The packet leaves with the reverse of the other direction's tuple.
        let to = match hit.dir {
            Direction::Inbound => s.outbound().reversed(),
            Direction::Outbound => s.inbound().reversed(),
        };
        if cx.t.custom_timeouts {
            self.service_timeouts(cx, origin, hit.id);
        }
        if let Some(before) = synced_state {
            self.sync_transition(cx.t, hit.id, before, cx.now);
        }
        let inbound = hit.dir == Direction::Inbound;
        self.count_packet(origin, backend, inbound, meta.total_len);
        if cx.t.mss_clamping && tcp.is_some_and(|f| f & TcpFlags::SYN != 0) {
            self.clamp_syn(cx.t, origin, &mut pkt, meta.l4_offset);
        }
        let grown;
        let meta = match (toa_state, tcp, forwarding) {
            (Some(before), Some(flags), Forwarding::FullNat) => {
                match self.add_toa(cx.t, origin, &mut pkt, meta, flags, before) {
                    Some(m) => {
                        grown = m;
                        &grown
                    }
                    None => meta,
                }
            }
            _ => meta,
        };
        match forwarding {
            Forwarding::Dr | Forwarding::Tun => {
                let Some(addr) = cx.t.backends.get(backend as usize).and_then(|b| b.v4()) else {
                    return self.drop(DropReason::NoBackend);
                };
                let rs = RealServer {
                    addr,
                    tunnel: forwarding == Forwarding::Tun,
                    hit: Some(hit),
                };
                if meta.fragment.is_some() {
                    self.fragment_forwarded(rs.rewrite(), origin, backend, inbound);
                }
                self.deliver_to_real_server(cx, at, pkt, meta, rs)
            }
            Forwarding::Nat | Forwarding::FullNat | Forwarding::Snat => {
                if meta.fragment.is_some() {
                    let rewrite = FragRewrite::Translate {
                        src: to.src,
                        dst: to.dst,
                    };
                    self.fragment_forwarded(rewrite, origin, backend, inbound);
                }
                match translate(pkt.data_mut(), meta, &Translation::of(&to)) {
                    Ok(()) => {
                        let way = Way {
                            dst: to.dst,
                            leg: Some(hit),
                            undo: Some(meta.tuple),
                        };
                        self.egress_or_answer(cx, at, pkt, meta, way)
                    }
                    Err(DropReason::TtlExceeded) => {
                        self.drop(DropReason::TtlExceeded);
                        self.send_icmp_error(cx, at, pkt, meta, IcmpError::TIME_EXCEEDED)
                    }
                    Err(reason) => self.drop(reason),
                }
            }
        }
    }

    /// Re-arms a session's timer with its service's own timeout for its
    /// state, where the service has one.
    #[cold]
    fn service_timeouts<I>(&mut self, cx: &Cx<'_, I>, origin: Origin, id: SessionId) {
        let Origin::Service(s) = origin else {
            return;
        };
        let Some(timeouts) =
            cx.t.services
                .get(s as usize)
                .and_then(|s| s.spec.timeouts.as_ref())
        else {
            return;
        };
        if let Some(ms) = timeouts.for_state(self.flow.sessions().get(id).state) {
            self.flow.refresh_with_timeout(id, ms, cx.now);
        }
    }

    /// Counts a session's packet for its backend (and so its service: see
    /// `LbCounters::sum_services`), or its SNAT rule.
    #[inline]
    pub(super) fn count_packet(&mut self, origin: Origin, backend: u32, inbound: bool, bytes: u16) {
        let c = &mut self.counters;
        match origin {
            Origin::Snat(rule) => {
                if let Some(c) = c.snat.get_mut(rule as usize) {
                    c.count(inbound, bytes);
                }
            }
            Origin::Service(_) => {
                if let Some(c) = c.backends.get_mut(backend as usize) {
                    c.count(inbound, bytes);
                }
            }
        }
    }

    /// A SYN (or SYN-ACK) of a service with `mss_clamp`, its TCP header
    /// at `l4_offset` (either family): its MSS option lowered to the
    /// service's value, before any rewrite.
    #[cold]
    pub(super) fn clamp_syn(
        &mut self,
        t: &LbTables,
        origin: Origin,
        pkt: &mut P,
        l4_offset: usize,
    ) {
        let Origin::Service(s) = origin else {
            return;
        };
        let Some(max) = t.services.get(s as usize).and_then(|s| s.spec.mss_clamp) else {
            return;
        };
        if clamp_mss_at(pkt.data_mut(), l4_offset, max) {
            self.counters.events.mss_clamped += 1;
        }
    }

    /// DR: new MACs only. TUN: the IP-in-IP outer header first, with
    /// fragmentation-needed to the client when it no longer fits.
    #[inline(always)]
    fn deliver_to_real_server<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        pkt: P,
        meta: &Ipv4Meta,
        rs: RealServer,
    ) {
        if rs.tunnel {
            return self.tunnel(cx, at, pkt, meta, rs);
        }
        let way = Way {
            dst: rs.addr,
            leg: rs.hit,
            undo: None,
        };
        self.egress_or_answer(cx, at, pkt, meta, way)
    }

    /// TUN: the route first (the outer source address and the MTU are the
    /// egress interface's), then the IP-in-IP header, then out.
    #[inline(never)]
    pub(super) fn tunnel<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        mut pkt: P,
        meta: &Ipv4Meta,
        rs: RealServer,
    ) {
        let Some(hop) = self.route_to(cx, rs.addr, rs.hit) else {
            return self.drop(DropReason::NoRoute);
        };
        let t = cx.t;
        let Some(iface) = t.interfaces.get(usize::from(hop.iface())) else {
            return self.drop(DropReason::NoRoute);
        };
        let mtu = t.ports.get(usize::from(iface.port)).map_or(1500, |p| p.mtu);
        let tunnel = Tunnel {
            src: t.source_address(hop.iface(), rs.addr),
            dst: rs.addr,
            ttl: TUNNEL_TTL,
            egress_mtu: mtu,
        };
        match encapsulate_ipip(&mut pkt, meta, &tunnel) {
            Ok(()) => {}
            Err(DropReason::FragmentationNeeded) => {
                self.drop(DropReason::FragmentationNeeded);
                let error = IcmpError::fragmentation_needed(tunnel.inner_mtu());
                return self.send_icmp_error(cx, at, pkt, meta, error);
            }
            Err(DropReason::TooBigToFragment) => {
                return self.tunnel_in_pieces(cx, at, pkt, meta, rs, tunnel.inner_mtu());
            }
            Err(reason) => return self.drop(reason),
        }
        match self.egress_hop(cx, pkt, meta.vlan, hop, rs.addr) {
            Ok(hint) => self.remember_hop(rs.hit, hint),
            // Encapsulation checked the MTU.
            Err(_) => self.drop(DropReason::TooBigToFragment),
        }
    }

    /// An ICMP error about a packet of a tracked flow, rewritten as the
    /// flow's other side must see it (see `translate_icmp_error`).
    fn translate_error<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        mut pkt: P,
        meta: &Ipv4Meta,
        hit: Hit,
    ) {
        let s = *self.flow.sessions().get(hit.id);
        if s.flags() & session_flags::SINGLE != 0 {
            // DR/TUN sessions see one direction; their backends answer
            // clients directly, so errors about their flows are not ours.
            return self.drop(DropReason::NoSession);
        }
        let quoted_to = if hit.dir == Direction::Outbound {
            *s.inbound()
        } else {
            *s.outbound()
        };
        if super::synproxy::is_spliced(s.flags()) {
            self.unsplice_quote(pkt.data_mut(), meta, hit);
        }
        match translate_icmp_error(
            pkt.data_mut(),
            meta,
            &Translation::of(&quoted_to),
            quoted_to.dst,
            quoted_to.src,
        ) {
            Ok(()) => {
                self.counters.events.icmp_errors_translated += 1;
                self.egress(cx, pkt, meta.vlan, quoted_to.src, None);
            }
            Err(reason) => self.drop(reason),
        }
    }

    /// Turns `pkt` into an ICMP `error` from our address on the ingress
    /// interface and sends it back where the packet came from. Suppressed
    /// errors count as `icmp_rate_limited`.
    pub(super) fn send_icmp_error<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        pkt: P,
        meta: &Ipv4Meta,
        error: IcmpError,
    ) {
        let src = cx.t.source_address(at.iface, meta.tuple.src);
        self.send_icmp_error_from(cx, at.port, pkt, meta, (error, src))
    }

    /// Turns `pkt`, received on `port`, into an ICMP `error` from `src`
    /// and sends it back where the packet came from (suppressed errors
    /// count as `icmp_rate_limited`).
    pub(super) fn send_icmp_error_from<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        mut pkt: P,
        meta: &Ipv4Meta,
        (error, src): (IcmpError, Ipv4Addr),
    ) {
        if !self.icmp_limit.allow(cx.now) {
            return self.drop(DropReason::IcmpRateLimited);
        }
        let IcmpError {
            icmp_type,
            code,
            rest,
        } = error;
        if build_icmp_error(&mut pkt, meta, icmp_type, code, rest, src) {
            let ours = cx.t.port_mac(port);
            if let (Some(ours), Some(src)) = (ours, pkt.data_mut().get_mut(ethernet::field::SOURCE))
            {
                src.copy_from_slice(&ours.0);
            }
            self.counters.events.icmp_errors_sent += 1;
            self.send(cx, port, pkt);
        }
    }

    /// An echo request to one of our addresses: answered out of the port it
    /// came in by, to the MAC it came from.
    fn answer_echo<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        mut pkt: P,
        meta: &Ipv4Meta,
    ) {
        match answer_echo(pkt.data_mut(), meta, &cx.t.owned) {
            Ok(()) => {
                // answer_echo swapped the MACs: the sender's is the destination now.
                let sender = get_mac(pkt.data(), ethernet::field::DESTINATION.start);
                let ours = cx.t.port_mac(port).unwrap_or(sender);
                set_macs(pkt.data_mut(), ours, sender);
                self.counters.events.echo_replies += 1;
                self.send(cx, port, pkt);
            }
            Err(reason) => self.drop(reason),
        }
    }
}

/// Marks the branch that calls it unlikely, so the compiler lays it out
/// off the fall-through path (`std::hint::cold_path` is newer than the
/// crate's MSRV). A call and a return on the spliced segment; the
/// `black_box` keeps the call (an empty one could be removed, and its hint
/// with it).
#[cold]
#[inline(never)]
fn spliced_branch() {
    std::hint::black_box(());
}
