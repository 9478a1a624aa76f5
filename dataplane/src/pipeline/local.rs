//! What the appliance answers and learns for itself: ARP for its
//! addresses and the neighbours it hears, shared with the other workers so
//! a packet waiting on one worker is released by an answer another worker
//! received (IPv6's, from Neighbour Discovery, in `local6.rs`, shared the
//! same way).

use std::net::{IpAddr, Ipv4Addr};

use super::decide::for_our_mac;
use super::egress::Released;
use super::redirect::Handoff;
use super::{Cx, Datapath};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::io::PacketIo;
use crate::net::arp::{handle_arp, ArpHost, ArpOutcome};
use crate::wire::ethernet::MacAddr;
use crate::wire::ArpPacket;

impl<P: PacketBuf> Datapath<P> {
    /// An ARP packet received on `port`: answered if it asks for one of our
    /// addresses, learned from as `net::arp` allows; the packets that
    /// waited for the sender go out.
    pub(super) fn arp<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        mut pkt: P,
        l3_offset: usize,
        vlan: Option<u16>,
    ) {
        let t = cx.t;
        if !for_our_mac(t, port, pkt.data()) {
            return self.drop(DropReason::OtherHost);
        }
        let target = ArpPacket::new(pkt.data().get(l3_offset..).unwrap_or(&[]))
            .ok()
            .map(|a| a.target_ip());
        // A VRRP address the peer holds: no answer, and the peer's
        // gratuitous ARP for it teaches nothing.
        if target.is_some_and(|a| t.standby.contains(a)) {
            return self.drop(DropReason::VrrpBackup);
        }
        if let Some(k) = t.kernel(port) {
            if target.is_some_and(|a| k.addrs.contains(&a) || (k.unmatched && !t.owned.contains(a)))
            {
                return self.up_to_kernel(cx, port, pkt, DropReason::NoInterface);
            }
        }
        if t.ingress_interface(port, vlan).is_none() {
            return self.drop(DropReason::NoInterface);
        }
        let Some(our_mac) = t.port_mac(port) else {
            return self.drop(DropReason::NoInterface);
        };
        let sender = ArpPacket::new(pkt.data().get(l3_offset..).unwrap_or(&[]))
            .ok()
            .map(|a| (a.sender_ip(), a.sender_mac()));
        let mut released: Released<P> = Released::new();
        let outcome = handle_arp(
            pkt.data_mut(),
            l3_offset,
            ArpHost {
                mac: our_mac,
                owned: &t.owned,
            },
            &mut self.egress.neighbours,
            cx.now,
            |p, mac| {
                // At most NEIGHBOUR_QUEUE packets wait per neighbour.
                let _ = released.try_push((p, mac));
            },
        );
        match outcome {
            Ok(ArpOutcome::Reply) => {
                self.counters.events.arp_replies += 1;
                self.send(cx, port, pkt);
            }
            Ok(ArpOutcome::Consumed) => {}
            Err(reason) => self.drop(reason),
        }
        self.egress.sync_hops(cx.now);
        self.send_released(cx, released);
        // What we learned, the other workers may be waiting for.
        if let Some((addr, mac)) = sender {
            if self.links.is_some() && self.egress.neighbours.lookup(addr) == Some(mac) {
                self.share_neighbour(IpAddr::V4(addr), mac);
            }
        }
    }

    /// Tells every other worker that `addr` (IPv4 or IPv6) is at `mac`.
    pub(super) fn share_neighbour(&mut self, addr: IpAddr, mac: MacAddr) {
        let Some(links) = self.links.as_mut() else {
            return;
        };
        let me = links.index();
        for w in (0..links.workers()).filter(|&w| w != me) {
            let handoff = match addr {
                IpAddr::V4(addr) => Handoff::Neighbour { addr, mac },
                IpAddr::V6(addr) => Handoff::Neighbour6 { addr, mac },
            };
            match links.send(w, handoff) {
                Ok(()) => self.counters.events.neighbours_shared += 1,
                Err(_) => self.counters.events.neighbour_shares_lost += 1,
            }
        }
    }

    /// A neighbour another worker learned (under the learning rules of
    /// `net::arp`): taken as if we had heard it, and the packets that
    /// waited for it go out. Creating the entry too means a worker that
    /// asks only after the answer went by still has it.
    pub(super) fn learn_shared<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        addr: Ipv4Addr,
        mac: MacAddr,
    ) {
        let mut released: Released<P> = Released::new();
        self.egress
            .neighbours
            .learn(addr, mac, cx.now, true, |p, mac| {
                let _ = released.try_push((p, mac));
            });
        self.egress.sync_hops(cx.now);
        self.send_released(cx, released);
    }
}
