//! IPv6 packets that cannot go on, answered with an ICMPv6 error
//! (RFC 4443): Packet Too Big when a packet does not fit the egress port's
//! MTU (IPv6 is never fragmented on the way: the sender must send smaller
//! packets), Time Exceeded where we route and the hop limit runs out. The
//! errors share IPv4's token bucket (`Datapath::icmp_limit`): one budget
//! for every error the appliance originates.
//!
//! Every IPv6 mode calls [`Datapath::packet_too_big6`] with the packet as
//! its sender sent it (DR and TUN have not changed it yet; NAT undoes its
//! rewrite first), so that the sender recognises the packet quoted.

use std::net::Ipv6Addr;

use super::{Cx, Datapath};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::io::PacketIo;
use crate::net::icmp6::build_icmpv6_error;
use crate::tables::LbTables;
use crate::wire::ethernet;
use crate::wire::icmpv6::Icmpv6Type;
use crate::wire::Ipv6Packet;

/// Where an IPv6 packet came in, and where its IPv6 header is: what an
/// error about it needs (it goes back out of the port and VLAN it came
/// by, from our address on that interface).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct From6 {
    pub(super) port: u16,
    pub(super) vlan: Option<u16>,
    pub(super) l3_offset: usize,
}

/// An ICMPv6 error we send: type, code and the word after the checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Icmp6Error {
    icmp_type: u8,
    code: u8,
    rest: u32,
}

impl Icmp6Error {
    /// Time Exceeded, code 0: hop limit exceeded in transit.
    pub(super) const HOP_LIMIT_EXCEEDED: Icmp6Error = Icmp6Error {
        icmp_type: Icmpv6Type::TIME_EXCEEDED,
        code: 0,
        rest: 0,
    };

    /// Destination Unreachable, port unreachable (`unreachable.rs`).
    pub(super) const PORT_UNREACHABLE: Icmp6Error = Icmp6Error {
        icmp_type: Icmpv6Type::DEST_UNREACHABLE,
        code: 4,
        rest: 0,
    };

    /// Packet Too Big with the MTU of the link that refused it.
    pub(super) fn packet_too_big(mtu: u16) -> Icmp6Error {
        Icmp6Error {
            icmp_type: Icmpv6Type::PACKET_TOO_BIG,
            code: 0,
            rest: u32::from(mtu),
        }
    }
}

/// Our address to send an error to `sender` from, on interface `iface`:
/// the one whose prefix holds `sender`, else the first that is not
/// link-local (a link-local source cannot reach past the link), else
/// `fallback` (the packet's destination: a VIP, ours too).
fn error_source6(
    t: &LbTables,
    iface: Option<u16>,
    sender: Ipv6Addr,
    fallback: Ipv6Addr,
) -> Ipv6Addr {
    let Some(i) = iface.and_then(|i| t.interfaces.get(usize::from(i))) else {
        return fallback;
    };
    let prefix = |len: u8| u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    let on_link = |&&(a, len): &&(Ipv6Addr, u8)| {
        u128::from(a) & prefix(len) == u128::from(sender) & prefix(len)
    };
    let link_local = |a: Ipv6Addr| a.segments()[0] & 0xffc0 == 0xfe80;
    i.addrs6
        .iter()
        .find(on_link)
        .or_else(|| i.addrs6.iter().find(|(a, _)| !link_local(*a)))
        .map_or(fallback, |&(a, _)| a)
}

impl<P: PacketBuf> Datapath<P> {
    /// Drops `pkt` as `packet_too_big` and sends its sender an ICMPv6
    /// Packet Too Big with `mtu` (rate-limited). `pkt` must be as its
    /// sender sent it, its L2 header as received: a mode that rewrote it
    /// undoes that first.
    #[cold]
    #[inline(never)]
    pub(super) fn packet_too_big6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        from: From6,
        pkt: P,
        mtu: u16,
    ) {
        self.drop(DropReason::PacketTooBig);
        self.send_icmpv6_error(cx, from, pkt, Icmp6Error::packet_too_big(mtu));
    }

    /// Drops `pkt`, whose hop limit runs out where we route it, as
    /// `ttl_exceeded` and sends its sender an ICMPv6 Time Exceeded
    /// (rate-limited). `pkt` as its sender sent it, as for
    /// [`Self::packet_too_big6`].
    #[cold]
    #[inline(never)]
    pub(super) fn hop_limit_exceeded6<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        from: From6,
        pkt: P,
    ) {
        self.drop(DropReason::TtlExceeded);
        self.send_icmpv6_error(cx, from, pkt, Icmp6Error::HOP_LIMIT_EXCEEDED);
    }

    /// Turns `pkt` into `error` about it (`net::icmp6::build_icmpv6_error`)
    /// and sends it back out of the port it came in by: if the token
    /// bucket allows (else `drop:icmp_rate_limited`) and RFC 4443 2.4 (e)
    /// does (else it is freed: its drop is counted by the caller).
    fn send_icmpv6_error<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        from: From6,
        pkt: P,
        error: Icmp6Error,
    ) {
        self.send_icmpv6_error_from(cx, from, pkt, (error, None))
    }

    /// [`Self::send_icmpv6_error`] from `src`, or where `src` is None
    /// from our address on the ingress interface (`error_source6`).
    pub(super) fn send_icmpv6_error_from<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        from: From6,
        mut pkt: P,
        (error, src): (Icmp6Error, Option<Ipv6Addr>),
    ) {
        if !self.icmp_limit.allow(cx.now) {
            return self.drop(DropReason::IcmpRateLimited);
        }
        let t = cx.t;
        let Some((sender, dst)) = pkt
            .data()
            .get(from.l3_offset..)
            .and_then(|b| Ipv6Packet::new(b).ok())
            .map(|ip| (ip.src(), ip.dst()))
        else {
            return;
        };
        let src = src.unwrap_or_else(|| {
            let iface = t.ingress_interface(from.port, from.vlan);
            error_source6(t, iface, sender, dst)
        });
        let Icmp6Error {
            icmp_type,
            code,
            rest,
        } = error;
        if build_icmpv6_error(&mut pkt, from.l3_offset, (icmp_type, code, rest), src) {
            let ours = t.port_mac(from.port);
            if let (Some(ours), Some(src)) = (ours, pkt.data_mut().get_mut(ethernet::field::SOURCE))
            {
                src.copy_from_slice(&ours.0);
            }
            self.counters.events.nd.icmpv6_errors_sent += 1;
            self.send(cx, from.port, pkt);
        }
    }
}
