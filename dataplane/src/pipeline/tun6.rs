//! TUN over IPv6 (issue 20): a packet of an IPv6 TUN session leaves inside
//! an outer IPv6 header to its backend (`tunnel6.rs`), from our address on
//! the egress link, by the same neighbour resolution as DR (`egress6.rs`).
//! A packet that would not fit the egress MTU once encapsulated is
//! dropped as `packet_too_big` and answered with Packet Too Big of the
//! MTU an inner packet may have (the egress MTU less the outer 40 bytes),
//! as it came, so the client recognises it (`mtu6.rs`).

use std::net::{IpAddr, Ipv6Addr};

use super::mtu6::From6;
use super::{Cx, Datapath};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::{Direction, SessionId};
use crate::io::PacketIo;
use crate::packet6::Ipv6Meta;
use crate::tunnel6::{encapsulate_ip6ip6, Encap6Error, Tunnel6};

/// The outer hop limit: the tunnel is a new packet of ours (as IPv4 TUN's
/// outer TTL).
const TUNNEL_HOP_LIMIT: u8 = 64;

impl<P: PacketBuf> Datapath<P> {
    /// Sends `pkt`, received as `from` says, of IPv6 TUN session `id`
    /// whose backend is `backend`, encapsulated to it through `(next hop,
    /// interface)` `link`. A later fragment has no session here (`None`):
    /// each is encapsulated whole (`fragment6.rs`).
    pub(super) fn tunnel6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        mut pkt: P,
        (from, meta): (From6, &Ipv6Meta),
        (backend, link): (u32, (Ipv6Addr, u16)),
        id: Option<SessionId>,
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
        match encapsulate_ip6ip6(&mut pkt, meta, &tunnel) {
            Ok(()) => {}
            // Nothing was changed: the client's packet is quoted as sent.
            Err(Encap6Error::TooBig { inner_mtu }) => {
                return self.packet_too_big6(cx, from, pkt, inner_mtu)
            }
            Err(e) => return self.drop(e.drop_reason()),
        }
        // Encapsulation checked the MTU.
        if self
            .egress6_for(
                cx,
                pkt,
                (from.vlan, iface, next),
                id.map(|id| (id, Direction::Inbound)),
            )
            .is_err()
        {
            self.drop(DropReason::TooBigToFragment);
        }
    }
}
