//! The way out: a rewritten packet is routed, tagged for its egress
//! interface's VLAN, given our MAC and the next hop's (from the static
//! neighbours, the neighbour table, or an ARP request and a bounded wait),
//! and put in its port's TX buffer; each buffer goes out as one burst at
//! the end of the poll.
//!
//! A resolved next hop is remembered in the worker's `net::hop_cache`, and
//! the slot it is in in the session (a hop hint per direction), so an
//! established flow's packet skips the route and neighbour lookups and the
//! cache's hashing: one entry read, checked for its destination and
//! generation.

use crate::watch::TraceStep;
use std::net::{Ipv4Addr, Ipv6Addr};

use arrayvec::ArrayVec;

use super::{l2, Cx, Datapath};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::table::HopHint;
use crate::flow::Hit;
use crate::io::{Burst, PacketIo};
use crate::net::arp::{write_arp_request, ARP_FRAME_LEN};
use crate::net::hop_cache::{HopCache, ResolvedHop};
use crate::net::neighbour::{NeighbourTable, NeighbourTimers, Resolution};
use crate::net::route::NextHop;
use crate::rewrite::set_macs;
use crate::tables::LbTables;
use crate::wire::ethernet::{MacAddr, ETHERNET_HEADER_LEN, VLAN_TAG_LEN};

/// Packets that may wait for one neighbour's ARP answer.
pub const NEIGHBOUR_QUEUE: usize = 4;
/// Neighbour entries per worker.
const NEIGHBOUR_CAPACITY: usize = 1024;
pub(super) const NEIGHBOUR_TIMERS: NeighbourTimers = NeighbourTimers {
    reachable: 60_000,
    retry: 250,
    resolve_timeout: 1000,
};

/// A packet waiting for a neighbour, with the port it leaves by.
pub(super) struct Pending<P> {
    pub(super) pkt: P,
    pub(super) port: u16,
}

/// Packets a neighbour's answer lets go, with the MAC they go to.
pub(super) type Released<P> = ArrayVec<(Pending<P>, MacAddr), NEIGHBOUR_QUEUE>;

/// A packet too big for its egress port's MTU, given back to the caller
/// (which knows where it came from) before anything of the way out was
/// written: fragmentation-needed to its sender, or fragments.
pub(super) struct TooBig<P> {
    pub(super) pkt: P,
    pub(super) mtu: u16,
}

/// Whether a frame whose L2 header is that of `vlan` holds an IP packet
/// longer than `mtu` (Ethernet padding only ever makes short frames longer).
#[inline(always)]
fn over_mtu(frame_len: usize, vlan: Option<u16>, mtu: u16) -> bool {
    let l2 = ETHERNET_HEADER_LEN + if vlan.is_some() { VLAN_TAG_LEN } else { 0 };
    frame_len > usize::from(mtu) + l2
}

/// Where a routed packet goes: a next hop resolved before (from the hop
/// cache), or a route whose neighbour is still to be found.
#[derive(Clone, Copy)]
pub(super) enum Hop {
    Resolved(ResolvedHop),
    Route(NextHop),
}

impl Hop {
    /// The egress interface.
    pub(super) fn iface(&self) -> u16 {
        match self {
            Hop::Resolved(r) => r.iface,
            Hop::Route(h) => h.port,
        }
    }
}

/// One worker's egress state.
pub(super) struct Egress<P> {
    pub(super) neighbours: NeighbourTable<Pending<P>, NEIGHBOUR_QUEUE>,
    /// IPv6 neighbours, from Neighbour Discovery (`pipeline/local6.rs`),
    /// resolved through by `pipeline/egress6.rs`.
    pub(super) neighbours6: NeighbourTable<Pending<P>, NEIGHBOUR_QUEUE, Ipv6Addr>,
    /// Next hops resolved for recent destinations.
    pub(super) hops: HopCache,
    /// One TX buffer per port, flushed at the end of each poll.
    out: Vec<Burst<P>>,
    /// Each port's MTU, by port index.
    mtu: Vec<u16>,
    /// The smallest of them: a packet no longer fits every port, and only
    /// a packet longer than this is checked against its egress port's.
    pub(super) min_mtu: u16,
    tx_sent: usize,
    tx_dropped: usize,
}

impl<P: PacketBuf> Egress<P> {
    pub(super) fn new(tables: &LbTables) -> Self {
        Egress {
            neighbours: NeighbourTable::new(NEIGHBOUR_CAPACITY, NEIGHBOUR_TIMERS),
            neighbours6: NeighbourTable::new(NEIGHBOUR_CAPACITY, NEIGHBOUR_TIMERS),
            hops: HopCache::new(tables.routes.longest_prefix()),
            out: (0..tables.ports.len()).map(|_| Burst::new()).collect(),
            mtu: tables.ports.iter().map(|p| p.mtu).collect(),
            min_mtu: tables.ports.iter().map(|p| p.mtu).min().unwrap_or(u16::MAX),
            tx_sent: 0,
            tx_dropped: 0,
        }
    }

    /// Follows new tables: routes, interfaces and static neighbours may
    /// have changed, and there may be more ports.
    pub(super) fn adopt(&mut self, new: &LbTables) {
        self.hops.clear(new.routes.longest_prefix());
        if self.out.len() < new.ports.len() {
            self.out.resize_with(new.ports.len(), Burst::new);
        }
        self.mtu.clear();
        self.mtu.extend(new.ports.iter().map(|p| p.mtu));
        self.min_mtu = new.ports.iter().map(|p| p.mtu).min().unwrap_or(u16::MAX);
    }

    /// `port`'s MTU if a frame of `len` bytes (with `vlan`'s L2 header)
    /// holds an IP packet longer than it. Out of line: only packets longer
    /// than the smallest MTU get here.
    #[inline(never)]
    pub(super) fn over_mtu(&self, len: usize, vlan: Option<u16>, port: u16) -> Option<u16> {
        let mtu = *self.mtu.get(usize::from(port))?;
        over_mtu(len, vlan, mtu).then_some(mtu)
    }

    /// Packets sent and dropped by the TX queues since the last call.
    pub(super) fn take_tx_totals(&mut self) -> (usize, usize) {
        let totals = (self.tx_sent, self.tx_dropped);
        (self.tx_sent, self.tx_dropped) = (0, 0);
        totals
    }

    /// Starts a new hop-cache generation if the neighbour table changed
    /// or the current one is old: call after the neighbour table learned
    /// or replaced something, and once per poll.
    #[inline]
    pub(super) fn sync_hops(&mut self, now: u64) {
        self.hops.refresh(self.neighbours.version(), now);
    }

    /// Gives up on neighbours that never answered; returns the packets
    /// that waited for them (and are now dropped).
    pub(super) fn expire_neighbours(&mut self, now: u64) -> u64 {
        let mut unresolved = 0u64;
        self.neighbours.expire(now, |_| unresolved += 1);
        self.neighbours6.expire(now, |_| unresolved += 1);
        unresolved
    }
}

impl<P: PacketBuf> Datapath<P> {
    /// Queues `pkt` for TX on `port`, flushing the buffer first if full.
    #[inline(always)]
    pub(super) fn send<I: PacketIo<Packet = P>>(&mut self, cx: &mut Cx<'_, I>, port: u16, pkt: P) {
        if self.watch_busy {
            self.watch.egress(pkt.data(), port, cx.now);
        }
        let port = usize::from(port);
        if self.egress.out.get(port).is_some_and(|b| b.is_full()) {
            self.flush(cx, port);
        }
        match self.egress.out.get_mut(port) {
            Some(out) => out.push(pkt),
            None => self.drop(DropReason::NoRoute),
        }
    }

    /// Sends what waits in `port`'s TX buffer; what the queue refuses is
    /// freed and counted as `tx_full`, or `bond_no_member` when the port is
    /// a bond with no member to send on.
    pub(super) fn flush<I: PacketIo<Packet = P>>(&mut self, cx: &mut Cx<'_, I>, port: usize) {
        let Some(out) = self.egress.out.get_mut(port) else {
            return;
        };
        if out.is_empty() {
            return;
        }
        let o = cx.io.tx_burst(port, out);
        self.egress.tx_sent += o.sent;
        if o.dropped > 0 {
            self.egress.tx_dropped += o.dropped;
            let reason = match o.no_member {
                true => DropReason::BondNoMember,
                false => DropReason::TxFull,
            };
            self.counters.drops.count_n(reason, o.dropped as u64);
        }
    }

    /// [`Datapath::egress_fit`] for packets that are not ours to answer
    /// about or to fragment (ICMP errors we pass on): one too big is dropped.
    #[inline]
    pub(super) fn egress<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        pkt: P,
        vlan: Option<u16>,
        dst: Ipv4Addr,
        leg: Option<Hit>,
    ) {
        if self.egress_fit(cx, pkt, vlan, dst, leg, true).is_some() {
            self.drop(DropReason::TooBigToFragment);
        }
    }

    /// Routes a rewritten packet to `dst`; `leg` is the session and
    /// direction it belongs to, if any. The hop cache entry the session's
    /// hint names is the whole route of an established flow's packet; the
    /// rest is `egress_by_route`. A packet longer than the egress port's
    /// MTU comes back, untouched by the way out; `check: false` (the caller
    /// knows it fits every port) skips that on the hinted hop.
    #[inline(always)]
    #[must_use]
    pub(super) fn egress_fit<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        pkt: P,
        vlan: Option<u16>,
        dst: Ipv4Addr,
        leg: Option<Hit>,
        check: bool,
    ) -> Option<TooBig<P>> {
        if let Some(leg) = leg {
            let hint = self.flow.sessions().get(leg.id).hop_hint(leg.dir);
            if let Some(hop) = self.egress.hops.at(hint, dst) {
                return self.leave(cx, pkt, vlan, &hop, check);
            }
        }
        self.egress_by_route(cx, pkt, vlan, dst, leg)
    }

    /// `egress` without a good hint: the hop cache by destination (and the
    /// hint updated), else the route table and the neighbours.
    #[inline(never)]
    fn egress_by_route<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        pkt: P,
        vlan: Option<u16>,
        dst: Ipv4Addr,
        leg: Option<Hit>,
    ) -> Option<TooBig<P>> {
        match self.route_to(cx, dst, leg) {
            Some(hop) => match self.egress_hop(cx, pkt, vlan, hop, dst) {
                Ok(hint) => {
                    self.remember_hop(leg, hint);
                    None
                }
                Err(too_big) => Some(too_big),
            },
            None => {
                self.drop(DropReason::NoRoute);
                None
            }
        }
    }

    /// Sends a packet by a resolved hop: the egress interface's VLAN tag,
    /// the MACs, the port's TX buffer.
    #[inline(always)]
    fn leave<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        mut pkt: P,
        vlan: Option<u16>,
        hop: &ResolvedHop,
        check: bool,
    ) -> Option<TooBig<P>> {
        if check {
            if let Some(mtu) = self.egress.over_mtu(pkt.len(), vlan, hop.port) {
                return Some(TooBig { pkt, mtu });
            }
        }
        match l2::set_vlan(&mut pkt, vlan, hop.vlan) {
            Ok(()) => {
                set_macs(pkt.data_mut(), hop.src_mac, hop.dst_mac);
                self.send(cx, hop.port, pkt);
            }
            Err(reason) => self.drop(reason),
        }
        None
    }

    /// How a packet to `dst` leaves: by the hop cache entry the session's
    /// hint names, else as the hop cache remembers `dst` (and the hint is
    /// updated), else by the route table.
    pub(super) fn route_to<I>(
        &mut self,
        cx: &Cx<'_, I>,
        dst: Ipv4Addr,
        leg: Option<Hit>,
    ) -> Option<Hop> {
        let hops = &self.egress.hops;
        if let Some(leg) = leg {
            let hint = self.flow.sessions().get(leg.id).hop_hint(leg.dir);
            if let Some(hop) = hops.at(hint, dst) {
                return Some(Hop::Resolved(hop));
            }
        }
        match hops.get(dst) {
            Some((hint, hop)) => {
                self.remember_hop(leg, Some(hint));
                Some(Hop::Resolved(hop))
            }
            None => cx.t.routes.lookup(dst).map(Hop::Route),
        }
    }

    /// Keeps `hint` as the hop hint of a session's direction.
    #[inline]
    pub(super) fn remember_hop(&mut self, leg: Option<Hit>, hint: Option<HopHint>) {
        if let (Some(leg), Some(hint)) = (leg, hint) {
            self.flow.set_hop_hint(leg.id, leg.dir, hint);
        }
    }

    /// Sends a packet by a resolved hop, or by a route's next hop: the
    /// egress interface's VLAN tag, our MAC, the neighbour's MAC (or an ARP
    /// request and a wait). A hop resolved here is remembered for `dst` in
    /// the hop cache, and its slot returned. A packet too big for the
    /// egress port comes back (`Err`), untouched.
    pub(super) fn egress_hop<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        mut pkt: P,
        vlan: Option<u16>,
        hop: Hop,
        dst: Ipv4Addr,
    ) -> Result<Option<HopHint>, TooBig<P>> {
        let hop = match hop {
            Hop::Resolved(r) => {
                return match self.leave(cx, pkt, vlan, &r, true) {
                    Some(too_big) => Err(too_big),
                    None => Ok(None),
                };
            }
            Hop::Route(hop) => hop,
        };
        let t = cx.t;
        let Some(iface) = t.interfaces.get(usize::from(hop.port)) else {
            self.drop(DropReason::NoRoute);
            return Ok(None);
        };
        let port = iface.port;
        let Some(our_mac) = t.port_mac(port) else {
            self.drop(DropReason::NoRoute);
            return Ok(None);
        };
        if let Some(&mtu) = self.egress.mtu.get(usize::from(port)) {
            if over_mtu(pkt.len(), vlan, mtu) {
                return Err(TooBig { pkt, mtu });
            }
        }
        if let Err(reason) = l2::set_vlan(&mut pkt, vlan, iface.vlan) {
            self.drop(reason);
            return Ok(None);
        }
        let next = hop.neighbour(dst);
        let via_gateway = hop.gateway.is_some();
        let resolved = |mac| ResolvedHop {
            iface: hop.port,
            port,
            vlan: iface.vlan,
            src_mac: our_mac,
            dst_mac: mac,
        };
        let now = cx.now;
        if let Some(mac) = t.static_neighbours.get(&next) {
            let hint = self.egress.hops.put(dst, via_gateway, resolved(*mac));
            set_macs(pkt.data_mut(), our_mac, *mac);
            self.send(cx, port, pkt);
            return Ok(Some(hint));
        }
        let resolution = self
            .egress
            .neighbours
            .resolve(next, Pending { pkt, port }, now);
        // Resolving may have replaced another neighbour's entry.
        self.egress.sync_hops(now);
        match resolution {
            Resolution::Ready {
                mac,
                mut packet,
                refresh,
            } => {
                let hint = self.egress.hops.put(dst, via_gateway, resolved(mac));
                set_macs(packet.pkt.data_mut(), our_mac, mac);
                self.send(cx, port, packet.pkt);
                if refresh {
                    self.arp_request(cx, hop.port, next);
                }
                Ok(Some(hint))
            }
            Resolution::Queued { send_request } => {
                self.watch.step(TraceStep::WaitArp { next_hop: next });
                if send_request {
                    self.arp_request(cx, hop.port, next);
                }
                Ok(None)
            }
            Resolution::Dropped { reason, .. } => {
                self.drop(reason);
                Ok(None)
            }
        }
    }

    /// Broadcasts an ARP request for `target` on interface `iface`. With no
    /// free mbuf the request waits for the next retry.
    fn arp_request<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        iface: u16,
        target: Ipv4Addr,
    ) {
        let t = cx.t;
        let Some(i) = t.interfaces.get(usize::from(iface)) else {
            return;
        };
        let Some(mac) = t.port_mac(i.port) else {
            return;
        };
        let Some(mut buf) = cx.io.alloc() else {
            return;
        };
        let len = ARP_FRAME_LEN + if i.vlan.is_some() { VLAN_TAG_LEN } else { 0 };
        if buf.append(len).is_none() {
            return;
        }
        let src = t.source_address(iface, target);
        if write_arp_request(buf.data_mut(), i.vlan, mac, src, target).is_some() {
            self.counters.events.arp_requests += 1;
            self.send(cx, i.port, buf);
        }
    }

    /// Sends packets that waited for a neighbour's MAC.
    pub(super) fn send_released<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        released: Released<P>,
    ) {
        for (mut p, mac) in released {
            let src = cx.t.port_mac(p.port).unwrap_or(MacAddr::ZERO);
            set_macs(p.pkt.data_mut(), src, mac);
            self.send(cx, p.port, p.pkt);
        }
    }
}
