//! TUN over IPv6 (issue 20): a packet of an IPv6 TUN session leaves inside
//! an outer IPv6 header to its backend (`tunnel6.rs`), from our address on
//! the egress link, by the same neighbour resolution as DR (`egress6.rs`).
//! A packet that would not fit the egress MTU once encapsulated is
//! dropped and counted; the Packet Too Big the client needs is
//! [`Encap6Error::TooBig`]'s MTU.

use std::net::{IpAddr, Ipv6Addr};

use super::{Cx, Datapath};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::{Direction, SessionId};
use crate::io::PacketIo;
use crate::packet6::Ipv6Meta;
use crate::tunnel6::{encapsulate_ip6ip6, Tunnel6};

/// The outer hop limit: the tunnel is a new packet of ours (as IPv4 TUN's
/// outer TTL).
const TUNNEL_HOP_LIMIT: u8 = 64;

impl<P: PacketBuf> Datapath<P> {
    /// Sends `pkt`, of IPv6 TUN session `id` whose backend is `backend`,
    /// encapsulated to it through `(next hop, interface)` `link`.
    pub(super) fn tunnel6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        mut pkt: P,
        (vlan, meta): (Option<u16>, &Ipv6Meta),
        (backend, link): (u32, (Ipv6Addr, u16)),
        id: SessionId,
    ) {
        let t = cx.t;
        let (next, iface) = link;
        let Some(IpAddr::V6(dst)) = t.backends.get(backend as usize).map(|b| b.addr) else {
            return self.drop(DropReason::NoBackend);
        };
        let Some(i) = t.interfaces.get(usize::from(iface)) else {
            return self.drop(DropReason::NoRoute);
        };
        let Some(src) = t.source_address6(iface, dst) else {
            return self.drop(DropReason::NdNoSourceAddress);
        };
        let tunnel = Tunnel6 {
            src,
            dst,
            hop_limit: TUNNEL_HOP_LIMIT,
            egress_mtu: t.ports.get(usize::from(i.port)).map_or(1500, |p| p.mtu),
        };
        if let Err(e) = encapsulate_ip6ip6(&mut pkt, meta, &tunnel) {
            return self.drop(e.drop_reason());
        }
        // Encapsulation checked the MTU.
        if self
            .egress6_for(cx, pkt, (vlan, iface, next), Some((id, Direction::Inbound)))
            .is_err()
        {
            self.drop(DropReason::TooBigToFragment);
        }
    }
}
