//! The way out for IPv6, the twin of `egress.rs`'s for IPv4: a packet for
//! an IPv6 next hop on an interface is tagged for the interface's VLAN,
//! given our MAC and the neighbour's, from the IPv6 neighbour table or a
//! Neighbor Solicitation and a bounded wait (the same queue, retry gap and
//! resolve timeout as ARP), and put in its port's TX buffer.
//!
//! The answer releases the packet wherever it arrives: a solicited
//! advertisement to our address creates or completes the entry
//! (`local6.rs`), and the neighbour is shared with the other workers.
//! A static neighbour (`[[neighbour]]` with an IPv6 address) is used as
//! it is: never solicited, never expired.
//!
//! The next hop is the caller's: IPv6 DR (`forward6.rs`) reads its
//! backend's from `LbTables::links6`, computed with the tables; other
//! destinations go by [`Datapath::egress6_to`], the IPv6 route table's
//! longest prefix (connected, else a static route's gateway). A packet
//! too big for the egress port comes back for `mtu6.rs`'s Packet Too Big.

use std::net::Ipv6Addr;

use super::egress::{Pending, TooBig};
use super::{l2, Cx, Datapath};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::{Direction, SessionId};
use crate::io::PacketIo;
use crate::net::hop_cache::{HopHint, NO_HOP_HINT};
use crate::net::nd::{our_nd_frame_len, write_solicitation};
use crate::net::neighbour::Resolution;
use crate::rewrite::set_macs;
use crate::watch::TraceStep;

impl<P: PacketBuf> Datapath<P> {
    /// Sends `pkt`, an IPv6 frame whose L2 header is that of `vlan`, out of
    /// interface `iface` to the on-link neighbour `next`: the interface's
    /// VLAN tag, our MAC, the neighbour's MAC, or a solicitation and a
    /// wait. A packet too big for the egress port comes back (`Err`),
    /// untouched, for the caller's Packet Too Big.
    #[cfg(test)]
    pub(super) fn egress6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        pkt: P,
        vlan: Option<u16>,
        iface: u16,
        next: Ipv6Addr,
    ) -> Result<(), TooBig<P>> {
        self.egress6_for(cx, pkt, (vlan, iface, next), None)
    }

    /// [`Self::egress6`] for a packet of IPv6 session `session` travelling
    /// its direction, if given: the neighbour is looked for first in the
    /// slot of the table where the session's last packet that way found
    /// it (its hop hint, as IPv4 keeps one into `hop_cache`), and the slot
    /// found is kept for the next. Always inlined: IPv6 DR's per-packet
    /// path, which NAT's second caller (`nat6.rs`) would otherwise take
    /// out of line.
    #[inline(always)]
    pub(super) fn egress6_for<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        pkt: P,
        way: (Option<u16>, u16, Ipv6Addr),
        session: Option<(SessionId, Direction)>,
    ) -> Result<(), TooBig<P>> {
        self.egress6_way(cx, pkt, way, session, true)
    }

    /// [`Self::egress6_for`] for a packet the caller has checked against
    /// the egress port's MTU already (NAT's, before its rewrite): not
    /// checked again.
    #[inline(always)]
    pub(super) fn egress6_fitted<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        pkt: P,
        way: (Option<u16>, u16, Ipv6Addr),
        session: Option<(SessionId, Direction)>,
    ) {
        // Unchecked, the way out hands nothing back.
        let _ = self.egress6_way(cx, pkt, way, session, false);
    }

    /// [`Self::egress6_for`], the egress port's MTU checked if `check`.
    #[inline(always)]
    fn egress6_way<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        mut pkt: P,
        (vlan, iface, next): (Option<u16>, u16, Ipv6Addr),
        session: Option<(SessionId, Direction)>,
        check: bool,
    ) -> Result<(), TooBig<P>> {
        let t = cx.t;
        let Some(i) = t.interfaces.get(usize::from(iface)) else {
            self.drop(DropReason::NoRoute);
            return Ok(());
        };
        let port = i.port;
        let Some(our_mac) = t.port_mac(port) else {
            self.drop(DropReason::NoRoute);
            return Ok(());
        };
        if let Some(mtu) = check
            .then(|| self.egress.over_mtu(pkt.len(), vlan, port))
            .flatten()
        {
            return Err(TooBig { pkt, mtu });
        }
        // Without an address of ours on the link there is nothing to
        // solicit from (RFC 4861 7.2.2), so the neighbour cannot be found.
        if i.addrs6.is_empty() {
            self.drop(DropReason::NdNoSourceAddress);
            return Ok(());
        }
        if let Err(reason) = l2::set_vlan(&mut pkt, vlan, i.vlan) {
            self.drop(reason);
            return Ok(());
        }
        if !t.static_neighbours6.is_empty() {
            if let Some(&mac) = t.static_neighbours6.get(&next) {
                set_macs(pkt.data_mut(), our_mac, mac);
                self.send(cx, port, pkt);
                return Ok(());
            }
        }
        let hint = session.map_or(NO_HOP_HINT, |(id, dir)| {
            self.flow.sessions6().get(id).hop_hint(dir)
        });
        let (resolution, slot) = self.egress.neighbours6.resolve_at(
            usize::from(hint),
            next,
            Pending { pkt, port },
            cx.now,
        );
        let slot = HopHint::try_from(slot).unwrap_or(NO_HOP_HINT);
        if let Some((id, dir)) = session.filter(|_| slot != hint) {
            self.flow.set_hop_hint6(id, dir, slot);
        }
        match resolution {
            Resolution::Ready {
                mac,
                mut packet,
                refresh,
            } => {
                set_macs(packet.pkt.data_mut(), our_mac, mac);
                self.send(cx, port, packet.pkt);
                if refresh {
                    self.solicit(cx, iface, next);
                }
            }
            Resolution::Queued { send_request } => {
                self.watch.step(TraceStep::WaitNd { next_hop: next });
                if send_request {
                    self.solicit(cx, iface, next);
                }
            }
            Resolution::Dropped { reason, .. } => self.drop(reason),
        }
        Ok(())
    }

    /// Routes `pkt` to `dst` by the IPv6 route table (longest prefix:
    /// `dst` itself on a connected prefix, else its route's gateway) and
    /// sends it as [`Self::egress6_for`] does; no route:
    /// `drop:no_route`. For destinations not known when the tables were
    /// built (a client, a NAT backend's reply); a backend's next hop is in
    /// `LbTables::links6`. (NAT's replies look the route up themselves,
    /// `nat6.rs`: they check the egress MTU before rewriting.)
    #[cfg(test)]
    pub(super) fn egress6_to<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        pkt: P,
        vlan: Option<u16>,
        dst: Ipv6Addr,
        session: Option<(SessionId, Direction)>,
    ) -> Result<(), TooBig<P>> {
        match cx.t.route6(dst) {
            Some((next, iface)) => self.egress6_for(cx, pkt, (vlan, iface, next), session),
            None => {
                self.drop(DropReason::NoRoute);
                Ok(())
            }
        }
    }

    /// Sends a Neighbor Solicitation for `target` on interface `iface`, to
    /// its solicited-node group, from our address on that link. With no
    /// free mbuf it waits for the next retry, as an ARP request does.
    fn solicit<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        iface: u16,
        target: Ipv6Addr,
    ) {
        let t = cx.t;
        let Some(i) = t.interfaces.get(usize::from(iface)) else {
            return;
        };
        let (Some(mac), Some(src)) = (t.port_mac(i.port), t.source_address6(iface, target)) else {
            return;
        };
        let Some(mut buf) = cx.io.alloc() else {
            return;
        };
        if buf.append(our_nd_frame_len(i.vlan)).is_none() {
            return;
        }
        if write_solicitation(buf.data_mut(), i.vlan, mac, src, target) {
            self.counters.events.nd.solicitations_sent += 1;
            self.send(cx, i.port, buf);
        }
    }
}
