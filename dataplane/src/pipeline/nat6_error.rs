//! ICMPv6 errors about IPv6 NAT and FULLNAT flows (issue 20), the twin
//! of IPv4's (`translate_error` in `act.rs`): an error whose quoted
//! packet (IPv6 header and at least the ports of TCP or UDP) is one we
//! sent for a session is rewritten as the flow's other side must see it
//! (`rewrite6::translate_icmpv6_error`) and routed there. A Packet Too Big
//! from the backend's side about a packet we sent the backend reaches the
//! client quoting what the client sent (client -> VIP), from the VIP; one
//! from the client's side about a reply reaches the backend quoting the
//! reply it sent. Counted `icmp_errors_translated`. An error whose quote
//! names no NAT or FULLNAT session (DR's and TUN's, whose backends answer
//! clients directly, included), a quote cut before its ports, or one
//! with extension headers takes IPv6's old path as before. A quote may be
//! cut anywhere after the ports (RFC 4443 2.4 (c): a router cuts it to
//! fit 1280 bytes), so the quoted payload length is not checked against
//! the bytes present. A session that shifts sequence numbers (a SYN
//! proxy's splice, a PROXY header) has the shift taken out of the quote
//! first (`unshift_quote6`). Tests: `nat6_error_tests.rs`,
//! `nat6_error_shift_tests.rs`; docs/ipv6.md.
//!
//! The quote, reversed, is the session's key it was sent for: a backend's
//! reply tuple (to a FULLNAT local address, or from a NAT backend) or a
//! client's tuple to a VIP, so `forward6::owner6` places the error on
//! the worker that holds the session as it places that key's packets.

use std::net::Ipv6Addr;

use super::{Cx, Datapath};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::state::nat64::unmapped;
use crate::flow::table::{session_flags, Forwarding, Hit};
use crate::flow::Direction;
use crate::io::PacketIo;
use crate::rewrite6::{shift_quoted_seq6, translate_icmpv6_error, ErrorAt6, Translation6};
use crate::tables::LbTables;
use crate::tuple::{FiveTuple6, IpProto};
use crate::wire::ipv6::{field, NextHeader, IPV6_HEADER_LEN};
use crate::wire::{get_be16, get_u8, Field, Ipv6Packet};

/// An ICMPv6 error quoting TCP or UDP: where its parts lie, the outer
/// destination, and the quoted packet's tuple reversed (the
/// tuple of the packets that answer it: the session key it was sent for).
#[derive(Clone, Copy, Debug)]
pub(super) struct Quote6 {
    pub at: ErrorAt6,
    pub outer_dst: Ipv6Addr,
    pub reversed: FiveTuple6,
}

/// The ICMPv6 error at `l3` of `frame`, if it is one (types 0-127, RFC
/// 4443 2.1), unfragmented, quoting an IPv6 header followed directly by
/// TCP or UDP with its ports (as we send: no extension headers). The
/// quote may stop anywhere after the ports: an error carries as much of
/// the packet as fits 1280 bytes (RFC 4443 2.4 (c)), so the quoted
/// header's payload length is not held against the bytes present.
pub(super) fn quote6(frame: &[u8], l3: usize) -> Option<Quote6> {
    let ip = Ipv6Packet::new(frame.get(l3..)?).ok()?;
    let chain = ip.walk().ok()?;
    if chain.proto != NextHeader::ICMPV6 || chain.fragment.is_some() {
        return None;
    }
    let icmp = l3 + chain.l4_offset;
    if *frame.get(icmp)? >= 128 {
        return None;
    }
    // The quote follows the 8 bytes of the ICMPv6 header.
    let quote = icmp + 8;
    let ports = quote + IPV6_HEADER_LEN;
    let end = l3 + IPV6_HEADER_LEN + usize::from(ip.payload_len());
    if end < ports + 4 {
        return None;
    }
    let q = frame.get(quote..ports)?;
    let proto = IpProto(get_u8(q, field::NEXT_HEADER));
    if get_u8(q, 0) >> 4 != 6 || !matches!(proto, IpProto::TCP | IpProto::UDP) {
        return None;
    }
    let addr = |f: Field| -> Option<Ipv6Addr> {
        let a: [u8; 16] = q.get(f)?.try_into().ok()?;
        Some(Ipv6Addr::from(a))
    };
    Some(Quote6 {
        at: ErrorAt6 {
            l3,
            icmp,
            quote,
            end,
        },
        outer_dst: ip.dst(),
        reversed: FiveTuple6 {
            src: addr(field::DST_ADDR)?,
            dst: addr(field::SRC_ADDR)?,
            src_port: get_be16(frame, ports + 2),
            dst_port: get_be16(frame, ports),
            proto,
        },
    })
}

/// The ICMPv6 error at `l3` of `frame` if its quote, reversed, may be a
/// key of an IPv6 NAT or FULLNAT session: a backend's reply to a local
/// address or from a NAT backend, or a client's flow to a VIP.
#[inline(never)]
pub(super) fn quoted_nat6(t: &LbTables, frame: &[u8], l3: usize) -> Option<Quote6> {
    if !t.owners.has_nat6() {
        return None;
    }
    let q = quote6(frame, l3)?;
    let r = &q.reversed;
    let known =
        t.owners.local_reply6(r) || t.owners.nat_reply6(r).is_some() || t.vips6.contains(r.dst);
    known.then_some(q)
}

impl<P: PacketBuf> Datapath<P> {
    /// The IPv6 NAT or FULLNAT session `q` quotes a packet of, if any
    /// (not a NAT64 one: `nat64_error6.rs` has those).
    fn nat6_error_hit(&self, q: &Quote6) -> Option<Hit> {
        let hit = self.lookup6_aside(&q.reversed)?;
        let s = self.flow.sessions6().get(hit.id);
        let nat = matches!(s.forwarding(), Forwarding::Nat | Forwarding::FullNat);
        (nat && unmapped(s.outbound()).is_none()).then_some(hit)
    }

    /// `pkt` back if it is not an ICMPv6 error about a packet of an IPv6
    /// NAT or FULLNAT session; else None, the error translated and sent
    /// (or dropped, counted). Out of line, one call in `local6::ipv6`:
    /// written there, its steps lengthened IPv6 DR's inlined path.
    #[inline(never)]
    pub(super) fn nat6_error_or_pass<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        vlan: Option<u16>,
        pkt: P,
        l3: usize,
    ) -> Option<P> {
        let Some(q) = quoted_nat6(cx.t, pkt.data(), l3) else {
            return Some(pkt);
        };
        let Some(hit) = self.nat6_error_hit(&q) else {
            return Some(pkt);
        };
        self.nat6_error(cx, vlan, pkt, &q, hit);
        None
    }

    /// The quoted sequence number of an error about a segment of session
    /// `hit` taken back into the space of the side the error goes to, when
    /// the session shifts it: a SYN proxy's splice, or a PROXY header's
    /// shift (`client_addr6.rs`). From the backend's side the quote is our
    /// segment to the backend (client numbers moved past the header, or
    /// into the backend's space); from the client's side our reply to the
    /// client (backend numbers moved into the cookie's space). As IPv4's
    /// `unsplice_quote`; nothing to do for a session that shifts nothing.
    fn unshift_quote6(&self, frame: &mut [u8], q: &Quote6, hit: Hit) {
        let flags = self.flow.sessions6().get(hit.id).flags();
        let at = hit.id.index();
        let adjust = if flags & session_flags::SYN_PROXY != 0 {
            self.synproxy.splices6.get(at).map(|sp| sp.adjust)
        } else if flags & session_flags::PROXY_HEADER != 0 {
            self.shifts6.slots.get(at).map(|sh| sh.adjust)
        } else {
            None
        };
        let Some(adjust) = adjust.filter(|a| !a.is_identity()) else {
            return;
        };
        match hit.dir {
            Direction::Inbound => shift_quoted_seq6(frame, &q.at, |s| adjust.backend_seq_of(s)),
            Direction::Outbound => shift_quoted_seq6(frame, &q.at, |s| adjust.client_seq_of(s)),
        };
    }

    /// An ICMPv6 error `q` in `pkt` about a packet of session `hit`:
    /// rewritten for the flow's other side and routed to it.
    #[cold]
    #[inline(never)]
    fn nat6_error<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        vlan: Option<u16>,
        mut pkt: P,
        q: &Quote6,
        hit: Hit,
    ) {
        let s = self.flow.sessions6().get(hit.id);
        // A quote of what we sent the backend (found by the reply key) is
        // the client's packet to it; one of a reply, the backend's.
        let to = if hit.dir == Direction::Outbound {
            *s.inbound()
        } else {
            *s.outbound()
        };
        let Some((next, iface)) = cx.t.route6(to.src) else {
            return self.drop(DropReason::NoRoute);
        };
        self.unshift_quote6(pkt.data_mut(), q, hit);
        let outer = (to.dst, to.src);
        match translate_icmpv6_error(pkt.data_mut(), &q.at, &Translation6::of(&to), outer) {
            Ok(()) => {
                self.counters.events.icmp_errors_translated += 1;
                // An ICMPv6 error is at most 1280 bytes (RFC 4443 2.4).
                if self
                    .egress6_for(cx, pkt, (vlan, iface, next), None)
                    .is_err()
                {
                    self.drop(DropReason::TooBigToFragment);
                }
            }
            Err(reason) => self.drop(reason),
        }
    }
}
