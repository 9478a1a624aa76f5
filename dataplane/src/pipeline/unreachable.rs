//! A new flow to a service that has no backend to take it (every backend
//! down, weighted out, or over its upper threshold) is answered with a
//! Destination Unreachable, port unreachable, from the VIP (ICMP type 3
//! code 3; ICMPv6 type 1 code 4, RFC 4443 3.1), as IPVS answers it
//! (`ip_vs_leave`, for TCP and UDP alike: the client's connect fails at
//! once instead of retrying SYNs into nothing). The packet is still
//! counted as `no_backend`; the error takes the appliance's one ICMP
//! budget (`Datapath::icmp_limit`), past which it is `icmp_rate_limited`.
//!
//! The error comes from the address the client sent to, as a host's own
//! port unreachable does, so a client (or its firewall) matches it to the
//! connection it tried. A SYN proxy's cookie ACK with no backend gets
//! none: its client already holds a connection from our SYN-ACK.
//! Callers: `act.rs::refuse_first`, `forward6.rs::refuse_first6`.

use super::act::IcmpError;
use super::mtu6::{From6, Icmp6Error};
use super::{Cx, Datapath};
use crate::buf::PacketBuf;
use crate::io::PacketIo;
use crate::packet::Ipv4Meta;
use crate::packet6::Ipv6Meta;

impl<P: PacketBuf> Datapath<P> {
    /// A first packet to an IPv4 service with no backend for it, received
    /// on `port` (its drop already counted): the client told.
    #[cold]
    #[inline(never)]
    pub(super) fn port_unreachable<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        pkt: P,
        meta: &Ipv4Meta,
    ) {
        let vip = meta.tuple.dst;
        self.send_icmp_error_from(cx, port, pkt, meta, (IcmpError::PORT_UNREACHABLE, vip));
    }

    /// The IPv6 twin of [`Self::port_unreachable`].
    #[cold]
    #[inline(never)]
    pub(super) fn port_unreachable6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        from: From6,
        pkt: P,
        meta: &Ipv6Meta,
    ) {
        let vip = meta.tuple.dst;
        self.send_icmpv6_error_from(cx, from, pkt, (Icmp6Error::PORT_UNREACHABLE, Some(vip)));
    }
}
