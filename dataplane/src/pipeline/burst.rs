//! A burst, from the RX queue (or another worker's ring) to the packets'
//! steps: classify every packet, hand the ones another worker owns to it,
//! hash and prefetch the session slots of the rest, then walk the burst in
//! order, deciding and acting on each packet.
//!
//! New flows are planned ahead: see [`Datapath::handle_batch`].

use super::decide::Step;
use super::fragment;
use super::redirect::{self, Handoff};
use super::{Cx, Datapath, Ingress};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::proto::tcp_flags;
use crate::flow::state::{FirstPacket, Plan};
use crate::frag::frag_owner;
use crate::io::{Burst, PacketIo, BURST_SIZE};
use crate::packet::{classify_received, quoted_flow, Classified, Ipv4Meta, L4Kind};
use crate::tuple::{FiveTuple, IpProto};
use crate::watch::{Arrival, TraceStep};
use crate::wire::{get_u8, tcp};

/// A received packet, classified, with the hash of its session lookup
/// tuple (0 when it has none).
pub(super) struct Received<P> {
    pub(super) pkt: P,
    /// The port it was received on.
    pub(super) port: u16,
    pub(super) class: Result<Classified, DropReason>,
    pub(super) hash: u64,
}

/// A packet of a burst that waits until the new flows before it in the
/// burst have their sessions (see [`Datapath::handle_batch`]).
pub(super) enum Waiting<P> {
    /// A new flow's first packet, its session planned.
    Open {
        pkt: P,
        at: Ingress,
        meta: Ipv4Meta,
        plan: Plan,
    },
    /// Any other packet: handled then as if it came then.
    Later(Received<P>),
}

#[inline]
pub(super) fn classify_buf<P: PacketBuf>(pkt: &P) -> Result<Classified, DropReason> {
    if pkt.is_contiguous() {
        classify_received(pkt.data(), pkt.rx_ipv4_checksum())
    } else {
        Err(DropReason::MultiSegment)
    }
}

/// The tuple a packet's session is found by: its own, or for an ICMP error
/// the reverse of the packet it quotes (the direction the error travels).
#[inline]
pub(super) fn lookup_tuple(frame: &[u8], meta: &Ipv4Meta) -> Option<FiveTuple> {
    match meta.kind {
        L4Kind::Tcp | L4Kind::Udp | L4Kind::IcmpEcho { .. } => Some(meta.tuple),
        L4Kind::IcmpError { .. } => quoted_flow(frame, meta).map(|q| q.reversed()),
        L4Kind::IcmpOther | L4Kind::Fragment { .. } => None,
    }
}

/// The TCP flags of a classified TCP packet.
#[inline]
pub(super) fn tcp_flags_of(frame: &[u8], meta: &Ipv4Meta) -> u8 {
    get_u8(frame, meta.l4_offset + tcp::field::FLAGS)
}

/// What planning a new flow needs of its first packet.
#[inline]
pub(super) fn first_packet(frame: &[u8], meta: &Ipv4Meta, hash: u64) -> FirstPacket {
    FirstPacket {
        tuple: meta.tuple,
        kind: meta.kind,
        tcp_flags: if meta.tuple.proto == IpProto::TCP {
            tcp_flags_of(frame, meta)
        } else {
            0
        },
        hash,
    }
}

/// Whether a packet decided as `step` may make or end a session when it is
/// handled later: a new flow's packet (one whose plan is waiting, or one
/// not planned), or a TCP SYN on a session, which by then may be closing
/// (a reused port). Other packets only move the state of the session they
/// hit.
#[inline]
fn may_open(step: Step, frame: &[u8], meta: &Ipv4Meta) -> bool {
    match step {
        Step::Open { .. } | Step::ReuseThenOpen { .. } | Step::SynProxy { .. } => true,
        Step::Forward { .. } => {
            meta.tuple.proto == IpProto::TCP && tcp_flags_of(frame, meta) & tcp_flags::SYN != 0
        }
        _ => false,
    }
}

impl<P: PacketBuf> Datapath<P> {
    /// A chained packet (a device that delivers a frame in several mbufs)
    /// copied into one buffer from the pool, the chain freed: every rewrite
    /// reads and writes one run of bytes. One that does not fit a buffer
    /// (longer than the pool's, i.e. than any port's MTU) or finds none
    /// free stays chained and is dropped as `multi_segment`.
    #[cold]
    fn gather<I: PacketIo<Packet = P>>(&mut self, cx: &mut Cx<'_, I>, pkt: P) -> P {
        let Some(mut one) = cx.io.alloc() else {
            return pkt;
        };
        let Some(dst) = one.append(pkt.packet_len()) else {
            return pkt;
        };
        if !pkt.gather_into(dst) {
            return pkt;
        }
        self.counters.events.multi_segment_gathered += 1;
        one
    }

    /// Classifies the whole burst, hands the packets another worker owns
    /// to it, prefetches the session index slot of each packet kept, then
    /// the session it names, then handles the packets in order.
    pub(super) fn process_burst<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        burst: &mut Burst<P>,
    ) {
        let mut kept = std::mem::take(&mut self.batch);
        self.watch_busy = self.watching && self.watch.busy();
        for pkt in burst.drain(..) {
            let pkt = match pkt.is_contiguous() {
                true => pkt,
                false => self.gather(cx, pkt),
            };
            let class = classify_buf(&pkt);
            if self.watching && self.watch.may_want(&class) {
                let at = Arrival {
                    port,
                    now_ms: cx.now,
                    from: None,
                };
                self.watch_busy |= self.watch.ingress(&pkt, &class, at);
            }
            if let Ok(Classified::Ipv4(meta)) = &class {
                if meta.fragment.is_some() && cx.t.reassembles(meta.tuple.dst, meta.tuple.proto) {
                    self.reassemble(cx, pkt, port, meta, &mut kept);
                    continue;
                }
            }
            if let (Some(links), Ok(Classified::Ipv4(meta))) = (&self.links, &class) {
                let owner = match lookup_tuple(pkt.data(), meta) {
                    Some(key) => cx.t.owners.owner(&key, links.index(), links.workers()),
                    // A later fragment, to the worker that owns its datagram.
                    None => match (meta.kind, fragment::key_of(meta)) {
                        (L4Kind::Fragment { .. }, Some(key)) => frag_owner(&key, links.workers()),
                        _ => links.index(),
                    },
                };
                if owner != links.index() {
                    self.hand_off(owner, pkt, port);
                    continue;
                }
            } else if let (Some(links), Ok(Classified::Ipv6 { l3_offset, .. })) =
                (&self.links, &class)
            {
                let (me, workers) = (links.index(), links.workers());
                let owner = super::forward6::owner6(cx.t, pkt.data(), *l3_offset, me, workers);
                if owner != me {
                    self.hand_off(owner, pkt, port);
                    continue;
                }
            }
            let hash = self.prefetch(pkt.data(), &class);
            kept.push(Received {
                pkt,
                port,
                class,
                hash,
            });
        }
        self.handle_batch(cx, &mut kept);
        self.batch = kept;
    }

    /// Handles classified packets whose index slots were prefetched. First
    /// a second stage: by now the first index lines have arrived, so pull
    /// in the session each one points at, and the lookups in `decide` hit.
    ///
    /// A new flow's session insert probes the index slot of its reply
    /// tuple, which is known only once the flow is scheduled: a cache miss
    /// per new flow that nothing prefetched. So the first packet of a new
    /// flow is scheduled (`FlowState::plan`) where it stands, its reply
    /// slot prefetched, and it waits, with every packet after it in the
    /// burst; then the waiting packets are handled in their order, the
    /// planned sessions inserted (`FlowState::commit`) as they come. The
    /// packets leave in the order they came, and the misses of a burst's
    /// new flows overlap. What differs from one packet at a time: the new
    /// flows of a burst are scheduled before the packets between them are
    /// handled (those only move connection states, which lc and wlc read).
    ///
    /// Leaves `batch` empty, its room kept.
    fn handle_batch<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        batch: &mut Vec<Received<P>>,
    ) {
        for r in batch.iter() {
            if r.hash != 0 {
                self.flow.sessions().prefetch_candidate(r.hash);
            }
        }
        let mut waiting = std::mem::take(&mut self.waiting);
        // Planning stops at a waiting packet that may itself make or end a
        // session when its turn comes (see `may_open`), so no plan is made
        // against a table that packet would have changed.
        let mut may_plan = true;
        for r in batch.drain(..) {
            let Received {
                pkt,
                port,
                class,
                hash,
            } = r;
            self.trace_resume(&pkt);
            let Ok(Classified::Ipv4(meta)) = &class else {
                let r = Received {
                    pkt,
                    port,
                    class,
                    hash,
                };
                self.handle_or_wait(cx, r, &mut waiting);
                continue;
            };
            let step = self.decide(cx.t, port, pkt.data(), meta, hash);
            match step {
                Step::Open { at }
                    if may_plan
                        && meta.fragment.is_none()
                        && !planned(&waiting, hash, &meta.tuple) =>
                {
                    let first = first_packet(pkt.data(), meta, hash);
                    match self.flow.plan(cx.t, &first, cx.now) {
                        Ok(plan) => {
                            self.flow.sessions().prefetch_hashed(plan.reply_hash());
                            if self.tracing() {
                                self.trace_decision(&step);
                                self.watch.step(TraceStep::Scheduled(plan.view()));
                                self.trace_suspend(Self::trace_key(&pkt));
                            }
                            let meta = *meta;
                            waiting.push(Waiting::Open {
                                pkt,
                                at,
                                meta,
                                plan,
                            });
                        }
                        Err(reason) => {
                            if self.tracing() {
                                self.trace_decision(&step);
                            }
                            self.refuse_first(cx, port, pkt, (&first, meta), reason)
                        }
                    }
                }
                _ if waiting.is_empty() => {
                    if self.tracing() {
                        self.trace_decision(&step);
                    }
                    self.act(cx, pkt, meta, hash, step)
                }
                _ => {
                    may_plan &= !may_open(step, pkt.data(), meta);
                    self.trace_suspend(Self::trace_key(&pkt));
                    waiting.push(Waiting::Later(Received {
                        pkt,
                        port,
                        class,
                        hash,
                    }));
                }
            }
            self.trace_finish();
        }
        self.handle_waiting(cx, &mut waiting);
        self.waiting = waiting;
    }

    /// A packet that is not IPv4: handled now, or after the packets that
    /// wait before it.
    fn handle_or_wait<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        r: Received<P>,
        waiting: &mut Vec<Waiting<P>>,
    ) {
        match waiting.is_empty() {
            true => self.handle(cx, r),
            false => {
                self.trace_suspend(Self::trace_key(&r.pkt));
                waiting.push(Waiting::Later(r))
            }
        }
        self.trace_finish();
    }

    /// The burst's waiting packets, in their order: the planned sessions
    /// inserted as their packets come. Leaves `waiting` empty.
    fn handle_waiting<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        waiting: &mut Vec<Waiting<P>>,
    ) {
        for w in waiting.drain(..) {
            match w {
                Waiting::Later(r) => {
                    self.trace_resume(&r.pkt);
                    self.handle(cx, r)
                }
                Waiting::Open {
                    pkt,
                    at,
                    meta,
                    plan,
                } => {
                    self.trace_resume(&pkt);
                    self.open_planned(cx, at, pkt, &meta, plan)
                }
            }
            self.trace_finish();
        }
    }

    /// Hashes a packet's lookup tuple and prefetches its session bucket.
    #[inline]
    pub(super) fn prefetch(&self, frame: &[u8], class: &Result<Classified, DropReason>) -> u64 {
        match class {
            Ok(Classified::Ipv4(meta)) => lookup_tuple(frame, meta).map_or(0, |key| {
                let sessions = self.flow.sessions();
                let h = sessions.hash(&key);
                sessions.prefetch_hashed(h);
                h
            }),
            _ => 0,
        }
    }

    /// Decides and acts on one received packet.
    fn handle<I: PacketIo<Packet = P>>(&mut self, cx: &mut Cx<'_, I>, r: Received<P>) {
        match r.class {
            Err(reason) => self.host_frame(cx, r.port, r.pkt, reason),
            Ok(Classified::Ipv6 {
                l3_offset, vlan, ..
            }) => self.ipv6(cx, r.port, r.pkt, l3_offset, vlan),
            Ok(Classified::Arp { l3_offset, vlan }) => self.arp(cx, r.port, r.pkt, l3_offset, vlan),
            Ok(Classified::Ipv4(meta)) => {
                let step = self.decide(cx.t, r.port, r.pkt.data(), &meta, r.hash);
                if self.tracing() {
                    self.trace_decision(&step);
                }
                self.act(cx, r.pkt, &meta, r.hash, step);
            }
        }
    }

    /// Gives a packet to the worker that owns its flow; a full ring drops it.
    #[inline]
    pub(super) fn hand_off(&mut self, owner: usize, pkt: P, port: u16) {
        let trace = match self.watch_busy {
            true => self.trace_handoff(&pkt),
            false => 0,
        };
        let sent = self
            .links
            .as_mut()
            .map(|links| links.send(owner, Handoff::Packet { pkt, port, trace }));
        match sent {
            Some(Ok(())) => {
                self.counters.events.redirects_sent += 1;
                self.watch.step(TraceStep::Redirected {
                    to_worker: owner as u16,
                });
            }
            // Dropping the handoff frees the packet.
            _ => self.drop(DropReason::RedirectFull),
        }
        self.trace_finish();
    }

    /// Empties each other worker's ring, a burst at a time, and handles
    /// what it held as if received here (never handed on again). Returns
    /// the packets taken.
    ///
    /// Everything waiting is taken, not one burst: a packet in a ring was
    /// already received and classified, so under overload the loss should
    /// fall on the NIC queues (`rx_missed`), not on the rings. At most one
    /// ring's worth per source per poll, so a busy peer cannot starve our
    /// own queues.
    pub(super) fn take_handoffs<I: PacketIo<Packet = P>>(&mut self, cx: &mut Cx<'_, I>) -> usize {
        let sources = self.links.as_ref().map_or(0, |l| l.sources());
        let mut taken = 0;
        for source in 0..sources {
            let mut from_source = 0;
            while from_source < redirect::RING_CAPACITY {
                let n = self.take_burst(cx, source);
                if n == 0 {
                    break;
                }
                from_source += n;
            }
            taken += from_source;
        }
        taken
    }

    /// Takes and handles up to a burst from one source's ring; returns
    /// the handoffs taken (packets and neighbours).
    fn take_burst<I: PacketIo<Packet = P>>(&mut self, cx: &mut Cx<'_, I>, source: usize) -> usize {
        // Handoffs other than packets to handle: neighbours, kernel frames.
        let mut others = 0;
        let mut batch = std::mem::take(&mut self.batch);
        self.watch_busy = self.watching && self.watch.busy();
        while batch.len() < BURST_SIZE {
            let Some(item) = self.links.as_mut().and_then(|l| l.receive(source)) else {
                break;
            };
            match item {
                Handoff::Packet { pkt, port, trace } => {
                    let class = classify_buf(&pkt);
                    if self.watching {
                        let from = self.links.as_ref().map_or(0, |l| l.source_worker(source));
                        let at = Arrival {
                            port,
                            now_ms: cx.now,
                            from: Some((from as u16, trace)),
                        };
                        self.watch_busy |= self.watch.ingress(&pkt, &class, at);
                    }
                    if let Ok(Classified::Ipv4(meta)) = &class {
                        if meta.fragment.is_some()
                            && cx.t.reassembles(meta.tuple.dst, meta.tuple.proto)
                        {
                            // Counted as received as the datagram it
                            // completes (in `batch`), or as itself.
                            let before = batch.len();
                            self.reassemble(cx, pkt, port, meta, &mut batch);
                            if batch.len() == before {
                                others += 1;
                                self.counters.events.redirects_received += 1;
                            }
                            continue;
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
                Handoff::Kernel { pkt, port } => {
                    others += 1;
                    self.kernel_enqueue(cx, port, pkt)
                }
                Handoff::Neighbour { addr, mac } => {
                    others += 1;
                    self.learn_shared(cx, addr, mac)
                }
                Handoff::Neighbour6 { addr, mac } => {
                    others += 1;
                    self.learn_shared6(cx, addr, mac)
                }
                Handoff::FragDecision {
                    key,
                    decision,
                    first,
                } => {
                    others += 1;
                    self.fragment_decision(cx, key, decision, first)
                }
                Handoff::FragDecision6 { msg } => {
                    others += 1;
                    self.fragment_decision6(cx, msg)
                }
                Handoff::FragDecision64 { msg } => {
                    others += 1;
                    self.fragment_decision64(cx, msg)
                }
            }
        }
        let packets = batch.len();
        self.counters.events.redirects_received += packets as u64;
        self.handle_batch(cx, &mut batch);
        self.batch = batch;
        packets + others
    }
}

impl<P: PacketBuf> Datapath<P> {
    /// The trace of a packet about to be handed to its owner: its record
    /// becomes the one in hand, and its id travels with the packet (0: not
    /// traced).
    #[cold]
    fn trace_handoff(&mut self, pkt: &P) -> u32 {
        self.watch.resume(Self::trace_key(pkt));
        self.watch.current_id()
    }
}

/// Whether a waiting packet plans a session `tuple` belongs to: a new
/// flow's second packet, or its reply, in the same burst.
fn planned<P>(waiting: &[Waiting<P>], hash: u64, tuple: &FiveTuple) -> bool {
    waiting.iter().any(|w| match w {
        Waiting::Open { plan, .. } => plan.claims(hash, tuple),
        Waiting::Later(_) => false,
    })
}
