//! What the appliance answers and learns for itself on IPv6 (issue 20,
//! stage 1): Neighbor Solicitations for its addresses (VIPs too),
//! advertisements about neighbours it knows, echo requests to its
//! addresses (`net::nd`). TCP and UDP to an IPv6 VIP is forwarded
//! (`forward6.rs`), a NAT backend's replies to its clients
//! (`nat6.rs`), ICMPv6 errors about NAT and FULLNAT flows
//! (`nat6_error.rs`), and SNAT's flows (`snat6.rs`). Everything else IPv6 takes the path it took before:
//! the port's kernel interface, or `ipv6_not_forwarded`.
//!
//! A worker answers what it receives, and tells the other workers the
//! neighbours it learns (over the redirect rings, as ARP's are), so a
//! packet waiting on one worker (`egress6.rs`) is released by an answer
//! another worker received.

use std::net::{IpAddr, Ipv6Addr};

use super::decide::for_our_mac;
use super::egress::Released;
use super::{Cx, Datapath};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::io::PacketIo;
use crate::net::mld::{self, Query};
use crate::net::nd::{self, Advertisement, Echo, Ipv6Local, Solicitation};
use crate::tables::Interface;
use crate::wire::ethernet::MacAddr;
use crate::wire::mld::RecordType;

/// Makes `pkt` exactly `len` bytes long, at its tail; `false` if it
/// lacks the tailroom.
fn fit<P: PacketBuf>(pkt: &mut P, len: usize) -> bool {
    let have = pkt.len();
    match have.cmp(&len) {
        std::cmp::Ordering::Equal => true,
        std::cmp::Ordering::Greater => pkt.trim(have - len),
        std::cmp::Ordering::Less => pkt.append(len - have).is_some(),
    }
}

impl<P: PacketBuf> Datapath<P> {
    /// An IPv6 packet at `l3_offset` received on `port`: answered or
    /// learned from if it is ours (see the module doc).
    pub(super) fn ipv6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        mut pkt: P,
        l3_offset: usize,
        vlan: Option<u16>,
    ) {
        let t = cx.t;
        let ours = !t.owned6.is_empty()
            && for_our_mac(t, port, pkt.data())
            && t.ingress_interface(port, vlan).is_some();
        if ours && !t.vips6.is_empty() {
            match super::forward6::vip_flow(t, pkt.data(), l3_offset) {
                Some(Ok(meta)) => return self.forward6(cx, (port, vlan), pkt, &meta),
                // TCP or UDP fragments go by the fragment table.
                Some(Err(DropReason::Ipv6Fragment)) => {
                    return self.fragment6(cx, (port, vlan), pkt, l3_offset)
                }
                Some(Err(reason)) => return self.drop(reason),
                None => {}
            }
        }
        if ours && t.owners.has_nat64() {
            let quoted = super::nat64_error6::quoted_client6(t, pkt.data(), l3_offset);
            if let Some(client) = quoted.filter(|c| self.is_nat64_client(c)) {
                return self.nat64_error6(cx, (vlan, l3_offset), pkt, &client);
            }
        }
        if ours && t.owners.has_nat6() {
            if let Some(meta) = super::forward6::reply_flow(t, pkt.data(), l3_offset) {
                pkt = match self.nat_reply6(cx, (port, vlan), pkt, &meta) {
                    Some(pkt) => pkt,
                    None => return,
                };
            }
            // A fragment of a backend's reply (`fragment6.rs`).
            pkt = match self.reply_fragment6(cx, (port, vlan), pkt, l3_offset) {
                Some(pkt) => pkt,
                None => return,
            };
            // An ICMPv6 error about a NAT or FULLNAT flow's packet.
            pkt = match self.nat6_error_or_pass(cx, vlan, pkt, l3_offset) {
                Some(pkt) => pkt,
                None => return,
            };
        }
        if ours && t.owners.has_snat6() {
            // An internal host's packet out through an IPv6 SNAT rule, an
            // echo reply to a SNAT address (`snat6.rs`).
            pkt = match self.snat6(cx, (port, vlan), pkt, l3_offset) {
                Some(pkt) => pkt,
                None => return,
            };
        }
        let local = match ours {
            true => nd::inspect(pkt.data(), l3_offset, &t.owned6),
            false => Ok(Ipv6Local::NotOurs),
        };
        match local {
            Ok(Ipv6Local::NotOurs) => self.host_frame(cx, port, pkt, DropReason::Ipv6NotForwarded),
            Err(reason) => self.drop(reason),
            Ok(Ipv6Local::Solicitation(s)) => self.solicited(cx, port, pkt, l3_offset, &s),
            Ok(Ipv6Local::Advertisement(a)) => self.advertised(cx, port, pkt, &a),
            Ok(Ipv6Local::Echo(e)) => self.echo6(cx, port, pkt, l3_offset, &e),
            Ok(Ipv6Local::MldQuery(q)) => self.mld_query(cx, port, vlan, pkt, q),
        }
    }

    /// An MLD query on the interface `port` and `vlan` name: answered with
    /// our groups (the one asked about, or all of them), in fresh buffers.
    /// The query goes on to the port's kernel interface, whose own groups
    /// it asks about too; without one, an answered query ends here and
    /// one about another group takes the path it took before.
    fn mld_query<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        vlan: Option<u16>,
        pkt: P,
        q: Query,
    ) {
        let t = cx.t;
        let iface = t
            .ingress_interface(port, vlan)
            .and_then(|i| t.interfaces.get(usize::from(i)));
        let mut answered = false;
        if let Some(iface) = iface {
            let mut groups = mld::Groups::of(iface);
            if let Some(g) = q.group {
                groups.retain(g);
            }
            if !groups.is_empty() {
                answered = true;
                self.counters.events.nd.mld_queries_answered += 1;
                self.send_mld_reports(cx, iface, &groups, RecordType::MODE_IS_EXCLUDE);
            }
        }
        if !answered || t.kernel(port).is_some() {
            self.host_frame(cx, port, pkt, DropReason::Ipv6NotForwarded);
        }
    }

    /// Sends `groups` as reports of `record_type` from `iface`, each in a
    /// buffer of its own; counted as `mld_reports_sent`.
    pub(super) fn send_mld_reports<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        iface: &Interface,
        groups: &mld::Groups,
        record_type: u8,
    ) {
        let Some(mac) = cx.t.port_mac(iface.port) else {
            return;
        };
        let src = mld::report_source(iface);
        for chunk in groups.reports() {
            let Some(mut buf) = cx.io.alloc() else {
                return self.drop(DropReason::NoBufferRoom);
            };
            let len = mld::report_frame_len(iface.vlan, chunk.len());
            if buf.append(len).is_none()
                || !mld::write_report(buf.data_mut(), (iface.vlan, mac), src, record_type, chunk)
            {
                return self.drop(DropReason::NoBufferRoom);
            }
            self.counters.events.nd.mld_reports_sent += 1;
            self.send(cx, iface.port, buf);
        }
    }

    /// A solicitation for one of our addresses: its sender learned, our
    /// advertisement sent back in its buffer.
    fn solicited<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        mut pkt: P,
        l3_offset: usize,
        s: &Solicitation,
    ) {
        let t = cx.t;
        let Some(our_mac) = t.port_mac(port) else {
            return self.drop(DropReason::NoInterface);
        };
        if let Some(mac) = s.sender_mac {
            // DAD carries no address; our own addresses and groups teach
            // nothing (a looped-back solicitation, a forged one).
            if !s.is_dad() && !mac.is_multicast() && !t.owned6.contains(s.src) {
                self.learn6(cx, s.src, mac, true);
            }
        }
        if !fit(&mut pkt, nd::advertisement_len(l3_offset)) {
            return self.drop(DropReason::NoBufferRoom);
        }
        if !nd::write_advertisement(pkt.data_mut(), l3_offset, our_mac, s) {
            return self.drop(DropReason::NoBufferRoom);
        }
        self.counters.events.nd.advertisements_sent += 1;
        if s.is_dad() {
            self.counters.events.nd.dad_defended += 1;
        }
        self.send(cx, port, pkt);
    }

    /// An advertisement: a conflict if it names one of our addresses at
    /// another MAC; an update of a neighbour we know (RFC 4861 7.2.5: a
    /// different MAC only with the override flag or for an entry still
    /// being resolved). A new entry only from a solicited advertisement
    /// to one of our addresses: the answer to our solicitation, which
    /// may have been sent by another worker (as an ARP reply to us
    /// creates one). One that teaches us nothing and was not sent to us
    /// takes the path IPv6 took before.
    fn advertised<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        pkt: P,
        a: &Advertisement,
    ) {
        let t = cx.t;
        if t.owned6.contains(a.target) {
            if a.target_mac.is_some_and(|m| Some(m) != t.port_mac(port)) {
                self.counters.events.nd.address_conflicts += 1;
            }
            return;
        }
        let table = &self.egress.neighbours6;
        let create = a.solicited && a.to_us;
        let learned = match a.target_mac {
            Some(mac) if create || table.contains(a.target) => {
                let known = table.lookup(a.target);
                let may = a.overrides || known.is_none() || known == Some(mac);
                may && !mac.is_multicast() && self.learn6(cx, a.target, mac, create)
            }
            _ => false,
        };
        if !learned && !a.to_us {
            self.host_frame(cx, port, pkt, DropReason::Ipv6NotForwarded);
        }
    }

    /// An echo request to one of our addresses: answered in its buffer.
    fn echo6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        mut pkt: P,
        l3_offset: usize,
        e: &Echo,
    ) {
        let Some(our_mac) = cx.t.port_mac(port) else {
            return self.drop(DropReason::NoInterface);
        };
        if !nd::write_echo_reply(pkt.data_mut(), l3_offset, our_mac, e)
            || !fit(&mut pkt, nd::echo_reply_len(l3_offset, e))
        {
            return self.drop(DropReason::NoBufferRoom);
        }
        self.counters.events.nd.echo_replies += 1;
        self.send(cx, port, pkt);
    }

    /// Records that IPv6 neighbour `addr` is at `mac` (creating the entry
    /// only if `create`); the packets that waited for it go out, and the
    /// other workers are told. Whether the table holds it now.
    fn learn6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        addr: Ipv6Addr,
        mac: MacAddr,
        create: bool,
    ) -> bool {
        let mut released: Released<P> = Released::new();
        let learned = self
            .egress
            .neighbours6
            .learn(addr, mac, cx.now, create, |p, mac| {
                // At most NEIGHBOUR_QUEUE packets wait per neighbour.
                let _ = released.try_push((p, mac));
            });
        if learned {
            self.counters.events.nd.neighbours_learned += 1;
            self.share_neighbour(IpAddr::V6(addr), mac);
        }
        self.send_released(cx, released);
        learned
    }

    /// An IPv6 neighbour another worker learned: taken as if we had heard
    /// it (the entry created, so a worker that asks later has it), and the
    /// packets that waited for it go out.
    pub(super) fn learn_shared6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        addr: Ipv6Addr,
        mac: MacAddr,
    ) {
        let mut released: Released<P> = Released::new();
        self.egress
            .neighbours6
            .learn(addr, mac, cx.now, true, |p, mac| {
                let _ = released.try_push((p, mac));
            });
        self.send_released(cx, released);
    }
}
