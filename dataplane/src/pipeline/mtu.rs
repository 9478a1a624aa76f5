//! Packets too big for their egress port's MTU, after their rewrite
//! (docs/fragments-and-mtu.md). `egress.rs` finds them with one comparison
//! and gives them back; here, with DF set, the rewrite is undone and the
//! sender gets ICMP fragmentation-needed with the egress MTU (rate-limited,
//! as every error we send); without DF the packet leaves in fragments.

use std::net::Ipv4Addr;

use super::act::{IcmpError, RealServer};
use super::burst::classify_buf;
use super::egress::TooBig;
use super::{Cx, Datapath, Ingress};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::Hit;
use crate::frag::split::{split, Pieces};
use crate::io::PacketIo;
use crate::packet::{Classified, Ipv4Meta};
use crate::rewrite::{translate, Translation};
use crate::tuple::FiveTuple;
use crate::wire::Ipv4Packet;

/// Where a packet that came back too big was going, and what it was
/// before its rewrite (`None`: not rewritten, DR).
#[derive(Clone, Copy)]
pub(super) struct Way {
    pub(super) dst: Ipv4Addr,
    pub(super) leg: Option<Hit>,
    pub(super) undo: Option<FiveTuple>,
}

impl<P: PacketBuf> Datapath<P> {
    /// Routes a rewritten packet (`egress_fit`), and answers for it if it
    /// is too big for the egress port. The common case costs one
    /// comparison: a packet no longer than every port's MTU (its IP length
    /// is the one it came with: these rewrites keep it) is not checked on
    /// the way out.
    #[inline(always)]
    pub(super) fn egress_or_answer<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        pkt: P,
        meta: &Ipv4Meta,
        way: Way,
    ) {
        let check = meta.total_len > self.egress.min_mtu;
        if let Some(big) = self.egress_fit(cx, pkt, meta.vlan, way.dst, way.leg, check) {
            self.too_big(cx, at, big, meta, way)
        }
    }

    /// A packet too big for its egress port: fragmentation-needed to its
    /// sender (DF set), or fragments.
    #[cold]
    #[inline(never)]
    fn too_big<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        big: TooBig<P>,
        meta: &Ipv4Meta,
        way: Way,
    ) {
        let TooBig { mut pkt, mtu } = big;
        if meta.dont_fragment {
            self.drop(DropReason::FragmentationNeeded);
            // The sender must recognise the packet it sent: its addresses
            // and ports back, and its TTL (the undoing took one more).
            if let Some(was) = way.undo {
                if translate(pkt.data_mut(), meta, &Translation::of(&was)).is_err() {
                    return;
                }
                if let Some(ip) = pkt.data_mut().get_mut(meta.l3_offset..meta.l4_offset) {
                    if let Ok(mut ip) = Ipv4Packet::new_quoted(ip) {
                        ip.set_ttl(meta.ttl);
                        ip.fill_checksum();
                    }
                }
            }
            return self.send_icmp_error(cx, at, pkt, meta, IcmpError::fragmentation_needed(mtu));
        }
        let mut pieces = Pieces::new();
        let io = &mut *cx.io;
        if let Err(reason) = split(&mut pkt, meta.l3_offset, mtu, || io.alloc(), &mut pieces) {
            return self.drop(reason);
        }
        self.counters.events.frag.egress_fragmented += 1;
        for piece in std::iter::once(pkt).chain(pieces) {
            if self
                .egress_fit(cx, piece, meta.vlan, way.dst, way.leg, true)
                .is_some()
            {
                self.drop(DropReason::TooBigToFragment);
            }
        }
    }

    /// TUN without DF, too big with the outer header: the inner packet is
    /// cut to `inner_mtu` and each piece tunnelled (the real server
    /// reassembles what it decapsulates).
    #[cold]
    #[inline(never)]
    pub(super) fn tunnel_in_pieces<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        mut pkt: P,
        meta: &Ipv4Meta,
        rs: RealServer,
        inner_mtu: u16,
    ) {
        let mut pieces = Pieces::new();
        let io = &mut *cx.io;
        if let Err(reason) = split(
            &mut pkt,
            meta.l3_offset,
            inner_mtu,
            || io.alloc(),
            &mut pieces,
        ) {
            return self.drop(reason);
        }
        self.counters.events.frag.egress_fragmented += 1;
        for piece in std::iter::once(pkt).chain(pieces) {
            match classify_buf(&piece) {
                Ok(Classified::Ipv4(m)) => self.tunnel(cx, at, piece, &m, rs),
                _ => self.drop(DropReason::TooBigToFragment),
            }
        }
    }
}
