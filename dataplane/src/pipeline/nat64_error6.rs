//! NAT64 (issue 20): a client's ICMPv6 error about a reply we sent it as
//! IPv6 (a Packet Too Big on the way to the client, a port unreachable)
//! reaches the backend as the ICMP error about the IPv4 packet it sent
//! (`nat64::error_to_ipv4`), from the session's local address. Looked for
//! in `local6.rs` only when some NAT64 service exists, for ICMPv6 errors
//! to a VIP whose quote is TCP or UDP from the VIP; anything else takes
//! IPv6's old path as before. With several workers `forward6::owner6`
//! hands such an error to the worker its quoted client names.

use std::net::SocketAddrV4;

use super::{Cx, Datapath};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::state::nat64::unmapped;
use crate::flow::table::Forwarding;
use crate::flow::Direction;
use crate::io::PacketIo;
use crate::nat64::{error_to_ipv4, ErrorTo4, To4};
use crate::tables::LbTables;
use crate::tuple::FiveTuple6;

/// The client's tuple (client -> VIP) of the packet an ICMPv6 error at
/// `l3` of `frame` quotes, if it is an error to one of `t`'s VIPs quoting
/// TCP or UDP from that VIP (as we send a NAT64 reply: no extension
/// headers). None for anything else.
pub(super) fn quoted_client6(t: &LbTables, frame: &[u8], l3: usize) -> Option<FiveTuple6> {
    let q = super::nat6_error::quote6(frame, l3)?;
    (t.vips6.contains(q.outer_dst) && q.reversed.dst == q.outer_dst).then_some(q.reversed)
}

impl<P: PacketBuf> Datapath<P> {
    /// Whether `client` is the client tuple of a NAT64 session here.
    pub(super) fn is_nat64_client(&self, client: &FiveTuple6) -> bool {
        let table = self.flow.sessions6();
        self.lookup6_aside(client).is_some_and(|h| {
            let s = table.get(h.id);
            h.dir == Direction::Inbound
                && s.forwarding() == Forwarding::FullNat
                && unmapped(s.outbound()).is_some()
        })
    }

    /// An ICMPv6 error at `l3` of `pkt` quoting `client`'s flow: if that is
    /// a NAT64 session's, translated to the ICMP error about the backend's
    /// packet and routed to the backend; else `no_session`.
    #[cold]
    #[inline(never)]
    pub(super) fn nat64_error6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        (vlan, l3): (Option<u16>, usize),
        mut pkt: P,
        client: &FiveTuple6,
    ) {
        let hit = self.lookup6_aside(client);
        let s = match hit {
            Some(h) if h.dir == Direction::Inbound => self.flow.sessions6().get(h.id),
            _ => return self.drop(DropReason::NoSession),
        };
        let reply = match unmapped(s.outbound()) {
            Some(r) if s.forwarding() == Forwarding::FullNat => r,
            _ => return self.drop(DropReason::NoSession),
        };
        let t = cx.t;
        let Some(hop) = self.route_to(cx, reply.src, None) else {
            return self.drop(DropReason::NoRoute);
        };
        let mtu = t
            .interfaces
            .get(usize::from(hop.iface()))
            .and_then(|i| t.ports.get(usize::from(i.port)))
            .map_or(576, |p| p.mtu);
        let to = ErrorTo4 {
            src: reply.dst,
            dst: reply.src,
            mtu,
            ident: self.next_ident(),
            quoted: To4 {
                src: SocketAddrV4::new(reply.src, reply.src_port),
                dst: SocketAddrV4::new(reply.dst, reply.dst_port),
                ident: 0,
            },
        };
        if let Err(u) = error_to_ipv4(&mut pkt, l3, &to) {
            return self.drop(super::nat64::reason(u));
        }
        self.counters.events.icmp_errors_translated += 1;
        self.egress(cx, pkt, vlan, reply.src, None);
    }
}
