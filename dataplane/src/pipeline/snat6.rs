//! SNAT over IPv6 (issue 20): an internal host in an IPv6 SNAT rule's
//! source prefix sends to an address we do not own, through us (its
//! gateway); its packet (TCP, UDP, an ICMPv6 echo request) leaves from a
//! SNAT address and port of the rule's pool (`flow/state/snat6.rs`), hop
//! limit one lower, checksums updated incrementally over the
//! pseudo-header (`rewrite6::translate6`), routed by `route6`. The
//! replies to a SNAT address come back to us: TCP and UDP ones are found
//! by their reply key as FULLNAT's replies to a local address are
//! (`nat6::nat_reply6` finds their session by its second key; with none,
//! `FlowOwners::local_reply6`, which holds the SNAT addresses too, makes
//! them `no_session`), an echo reply
//! here; both leave rewritten back to the internal host. Too big for the
//! egress port: Packet Too Big; a hop limit of 1: Time Exceeded (both
//! `mtu6.rs`, through NAT's `nat_out6`).
//!
//! A reply belongs to the worker that allocated its port (its low bits,
//! `FlowOwners::owner6`); an internal host's packets to the worker of
//! `flow_hash6(host, port)`, as IPv4's. Fragments of SNAT flows are not
//! handled (IPv6's old path). Sessions are synced as IPv4 SNAT's: a record
//! when one opens or changes state (`sync6.rs`), its SNAT endpoint with it.

use std::net::Ipv6Addr;

use super::{Cx, Datapath};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::{Direction, Origin};
use crate::io::PacketIo;
use crate::packet6::{classify_parsed, Ipv6Flow, Ipv6Meta};
use crate::rewrite6::ICMPV6;
use crate::sync::RecordKind;
use crate::tables::LbTables;
use crate::tuple::FiveTuple6;
use crate::wire::icmpv6::{self, Icmpv6Type};
use crate::wire::ipv6::{NextHeader, IPV6_HEADER_LEN};
use crate::wire::{get_be16, get_u8, Ipv6Packet};

/// An IPv6 packet of SNAT's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Snat6 {
    /// From an internal host to the outside: TCP, UDP, an echo request.
    Out(Ipv6Meta),
    /// An echo reply to a SNAT address (TCP and UDP replies take
    /// `nat6::reply6`'s way).
    EchoReply(Ipv6Meta),
}

/// Whether `a` can be SNAT's destination: not a group, not link-local,
/// not unspecified or loopback.
fn routable(a: Ipv6Addr) -> bool {
    let first = a.segments()[0];
    !(a.is_multicast() || first & 0xffc0 == 0xfe80 || a.is_unspecified() || a.is_loopback())
}

/// The ICMPv6 echo message of `ip` (at `l3_offset` of its frame, its chain
/// walked to `l4`), its identifier standing for both ports as IPv4's
/// (`packet::classify_icmp`); whether it is a request. `None`: not an
/// echo, or shorter than its header.
fn echo_meta(ip: &Ipv6Packet<&[u8]>, l3_offset: usize, l4: usize) -> Option<(Ipv6Meta, bool)> {
    let end = IPV6_HEADER_LEN + usize::from(ip.payload_len());
    let msg = ip.bytes().get(l4..end)?;
    if msg.len() < icmpv6::ICMPV6_HEADER_LEN {
        return None;
    }
    let request = match get_u8(msg, icmpv6::field::TYPE) {
        Icmpv6Type::ECHO_REQUEST => true,
        Icmpv6Type::ECHO_REPLY => false,
        _ => return None,
    };
    let id = get_be16(msg, icmpv6::field::ECHO_IDENT.start);
    let meta = Ipv6Meta {
        tuple: FiveTuple6 {
            src: ip.src(),
            dst: ip.dst(),
            src_port: id,
            dst_port: id,
            proto: ICMPV6,
        },
        l3_offset,
        l4_offset: l3_offset + l4,
        tcp_flags: None,
        len: u16::try_from(end).unwrap_or(u16::MAX),
        hop_limit: ip.hop_limit(),
        extensions: 0,
    };
    Some((meta, request))
}

/// The SNAT packet at `l3_offset` of `frame`, if it is one (see
/// [`Snat6`]). Fragments, refused chains and other ICMPv6 are not.
pub(super) fn snat6_flow(t: &LbTables, frame: &[u8], l3_offset: usize) -> Option<Snat6> {
    if !t.owners.has_snat6() {
        return None;
    }
    let ip = Ipv6Packet::new(frame.get(l3_offset..)?).ok()?;
    let (src, dst) = (ip.src(), ip.dst());
    let out = !t.owned6.contains(dst) && routable(dst) && t.owners.snat_source6(src);
    if !out && !t.owners.snat_addr6(dst) {
        return None;
    }
    match classify_parsed(&ip, l3_offset).ok()? {
        Ipv6Flow::Flow(meta) if out => Some(Snat6::Out(meta)),
        Ipv6Flow::Other(NextHeader::ICMPV6) => {
            let chain = ip.walk().ok()?;
            match echo_meta(&ip, l3_offset, chain.l4_offset)? {
                (mut meta, true) if out => {
                    meta.extensions = chain.extensions;
                    Some(Snat6::Out(meta))
                }
                (mut meta, false) if !out => {
                    meta.extensions = chain.extensions;
                    Some(Snat6::EchoReply(meta))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// The worker that owns the SNAT packet at `l3_offset` of `frame`
/// (`FlowOwners::owner6`), received by `me`; `None` if it is not one.
pub(super) fn owner_snat6(
    t: &LbTables,
    frame: &[u8],
    l3_offset: usize,
    (me, workers): (usize, usize),
) -> Option<usize> {
    match snat6_flow(t, frame, l3_offset)? {
        Snat6::Out(meta) | Snat6::EchoReply(meta) => {
            Some(t.owners.owner6(&meta.tuple, me, workers))
        }
    }
}

impl<P: PacketBuf> Datapath<P> {
    /// An IPv6 packet received on `port` and the interface of `vlan`: a
    /// SNAT flow's is forwarded (its session found or made); anything
    /// else is given back.
    #[inline(never)]
    pub(super) fn snat6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        (port, vlan): (u16, Option<u16>),
        pkt: P,
        l3_offset: usize,
    ) -> Option<P> {
        match snat6_flow(cx.t, pkt.data(), l3_offset) {
            Some(Snat6::Out(meta)) => self.snat_out6(cx, (port, vlan), pkt, &meta),
            Some(Snat6::EchoReply(meta)) => self.reply6(cx, (port, vlan), pkt, &meta),
            None => return Some(pkt),
        }
        None
    }

    /// An internal host's packet: by its session, or a new one through the
    /// first rule its source matches; out from the SNAT endpoint by the
    /// route to its destination.
    fn snat_out6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        (port, vlan): (u16, Option<u16>),
        pkt: P,
        meta: &Ipv6Meta,
    ) {
        let t = cx.t;
        let sessions = self.flow.sessions6();
        let hash = sessions.hash(&meta.tuple);
        let mut opened = false;
        let id = match sessions.lookup_hashed(&meta.tuple, hash) {
            Some(hit)
                if hit.dir == Direction::Inbound && !self.flow.reused6(hit.id, meta.tcp_flags) =>
            {
                hit.id
            }
            Some(hit) if hit.dir == Direction::Outbound => return self.drop(DropReason::NoSession),
            found => {
                // A reused port: the closing session ends first.
                if let Some(old) = found {
                    self.sync_event6(t, old.id, RecordKind::Ended, cx.now);
                    if self.flow.end6(old.id, cx.now) {
                        self.counters.events.sessions_expired += 1;
                    }
                }
                let Some(rule) = t.snat_rule6(meta.tuple.src) else {
                    return self.drop(DropReason::NoService);
                };
                let first = (&meta.tuple, meta.tcp_flags);
                match self.flow.open_snat6(rule, first, hash, cx.now) {
                    Ok(new) => {
                        self.counters.events.sessions_created += 1;
                        if let Some(c) = self.counters.snat.get_mut(rule as usize) {
                            c.conns += 1;
                        }
                        opened = true;
                        new.id
                    }
                    Err(reason) => return self.drop(reason),
                }
            }
        };
        let before = self.flow.sessions6().get(id).state;
        self.flow
            .on_packet6(id, Direction::Inbound, meta.tcp_flags, cx.now);
        self.sync_packet6(t, id, opened, before, cx.now);
        let rule = match self.flow.sessions6().get(id).origin() {
            Origin::Snat(rule) => rule,
            Origin::Service(_) => return self.drop(DropReason::NoSession),
        };
        self.count_packet(Origin::Snat(rule), u32::MAX, true, meta.len);
        let Some((next, iface)) = t.route6(meta.tuple.dst) else {
            return self.drop(DropReason::NoRoute);
        };
        self.forward_nat6(cx, (port, vlan), pkt, meta, id, (iface, next));
    }
}
