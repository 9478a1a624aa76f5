//! Fragments that are reassembled (docs/fragments-and-mtu.md,
//! "Reassembly"): the UDP fragments to a VIP whose service needs the whole
//! datagram (`LbTables::reassembles`). Every fragment of such a datagram,
//! the first one too, goes to the worker that owns the datagram's
//! fragments (`frag_owner`); there it is copied into its datagram's buffer
//! (`frag::reasm`) and freed. The datagram, once whole, is handled as a
//! datagram that came whole: classified, handed to the worker that owns
//! its flow when that is another, decided and acted on (its session,
//! rewrite, the PROXY header), and fragmented again on egress where it
//! does not fit (DF clear) or answered with fragmentation-needed (DF set).

use super::burst::{classify_buf, lookup_tuple, Received};
use super::fragment::key_of;
use super::{Cx, Datapath};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::frag::frag_owner;
use crate::frag::reasm::{Fragment, Taken};
use crate::io::PacketIo;
use crate::packet::{Classified, Ipv4Meta, L4Kind};

impl<P: PacketBuf> Datapath<P> {
    /// A fragment of a datagram to reassemble: handed to the worker that
    /// owns the datagram's fragments, or taken in here; a datagram it
    /// completes joins `batch` (or its flow's worker).
    #[cold]
    #[inline(never)]
    pub(super) fn reassemble<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        pkt: P,
        port: u16,
        meta: &Ipv4Meta,
        batch: &mut Vec<Received<P>>,
    ) {
        let Some(key) = key_of(meta) else {
            return;
        };
        if let Some(links) = &self.links {
            let owner = frag_owner(&key, links.workers());
            if owner != links.index() {
                return self.hand_off(owner, pkt, port);
            }
        }
        let (offset, more) = match meta.kind {
            L4Kind::Fragment { offset, more } => (u32::from(offset), more),
            _ => (0, true),
        };
        let fragment = Fragment {
            frame: pkt.data(),
            l3: meta.l3_offset,
            l4: meta.l4_offset,
            ip_end: meta.ip_end(),
            offset,
            more,
            port,
        };
        let mut timed_out = 0;
        let io = &mut *cx.io;
        let taken = self
            .reasm
            .take(key, cx.now, fragment, || io.alloc_reasm(), &mut timed_out);
        self.counters
            .drops
            .count_n(DropReason::ReasmTimeout, timed_out);
        drop(pkt);
        match taken {
            Ok(Taken::Pending) => self.counters.events.frag.reasm_fragments += 1,
            Ok(Taken::Done { pkt, port, .. }) => {
                self.counters.events.frag.reasm_fragments += 1;
                self.counters.events.frag.reasm_datagrams += 1;
                self.admit_whole(cx, pkt, port, batch)
            }
            Err(r) => self.counters.drops.count_n(r.reason, r.fragments),
        }
    }

    /// A reassembled datagram, classified as any packet received: to the
    /// worker that owns its flow, or into `batch` here.
    fn admit_whole<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        pkt: P,
        port: u16,
        batch: &mut Vec<Received<P>>,
    ) {
        let class = classify_buf(&pkt);
        if let (Some(links), Ok(Classified::Ipv4(meta))) = (&self.links, &class) {
            if let Some(tuple) = lookup_tuple(pkt.data(), meta) {
                let owner = cx.t.owners.owner(&tuple, links.index(), links.workers());
                if owner != links.index() {
                    return self.hand_off(owner, pkt, port);
                }
            }
        }
        let hash = self.prefetch(pkt.data(), &class);
        batch.push(Received {
            pkt,
            port,
            class,
            hash,
        });
    }

    /// Upkeep (every 100 ms): datagrams not complete in time.
    pub(super) fn expire_reassembly(&mut self, now: u64) {
        if self.reasm.live() > 0 {
            let n = self.reasm.expire(now);
            self.counters.drops.count_n(DropReason::ReasmTimeout, n);
        }
    }
}
