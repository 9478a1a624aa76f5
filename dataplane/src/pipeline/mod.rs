//! The per-packet decision: the one place where the packet core, the flow
//! state, the schedulers and the network tables meet.
//!
//! A newcomer following one packet reads [`Pipeline::poll`] (RX bursts, TX
//! flush, housekeeping), then `Worker::process_burst` (classify and prefetch
//! the whole burst, then decide packet by packet), `Worker::ipv4` (sessions,
//! owned addresses, new flows), `Worker::forward` (the mode's rewrite) and
//! `Worker::egress` (route, VLAN, neighbour, TX buffer).
//! `docs/load-balancing.md` states the behaviour these implement.
//!
//! Nothing here allocates, locks or makes a syscall per packet: the tables
//! are built before the first burst, the session table and port pools are
//! preallocated, and originated packets (ARP requests) come from the
//! packet I/O's pool. New tables are adopted between polls
//! ([`Pipeline::adopt`]); that, and answering queries (`inspect`), may
//! allocate.

mod adopt;
pub mod counters;
pub mod inspect;
pub mod l2;
pub mod redirect;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::Ipv4Addr;
use std::sync::Arc;

use arrayvec::ArrayVec;

use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::proto::tcp_flags;
use crate::flow::table::session_flags;
use crate::flow::{
    ConnCounts, Direction, Hit, InsertError, NewSession, ProtoState, Session, SessionId,
    SessionTable, TcpDir, TcpState,
};
use crate::io::{Burst, PacketIo, BURST_SIZE};
use crate::laddr::LocalPorts;
use crate::net::arp::{handle_arp, write_arp_request, ArpOutcome, ARP_FRAME_LEN};
use crate::net::hop_cache::{HopCache, ResolvedHop};
use crate::net::icmp::{answer_echo, build_icmp_error, TokenBucket};
use crate::net::neighbour::{NeighbourTable, NeighbourTimers, Resolution};
use crate::net::route::NextHop;
use crate::packet::{classify_received, Classified, Ipv4Meta, L4Kind};
use crate::rewrite::{encapsulate_ipip, set_macs, translate, translate_icmp_error};
use crate::rewrite::{Translation, Tunnel};
use crate::sched::Backend;
use crate::tables::{LbTables, Mode, SNAT_SERVICE_BASE};
use crate::tuple::{FiveTuple, IpProto};
use crate::wire::ethernet::{MacAddr, VLAN_TAG_LEN};
use crate::wire::{get_u8, ArpPacket};
use adopt::PoolMaker;
use counters::{BackendSessions, LbCounters, SessionCounts};
use redirect::{Handoff, WorkerLinks};

/// Packets that may wait for one neighbour's ARP answer.
pub const NEIGHBOUR_QUEUE: usize = 4;
/// Neighbour entries per worker.
const NEIGHBOUR_CAPACITY: usize = 1024;
const NEIGHBOUR_TIMERS: NeighbourTimers = NeighbourTimers {
    reachable: 60_000,
    retry: 250,
    resolve_timeout: 1000,
};
/// Sessions expired per housekeeping pass (once per millisecond at most).
const EXPIRE_BUDGET: usize = 1024;
/// ICMP errors we send: a burst of 50, then one per millisecond (Linux's
/// icmp_msgs_burst and icmp_msgs_per_sec).
const ICMP_BURST: u32 = 50;
/// Outer TTL of IP-in-IP packets and of packets we originate.
const TUNNEL_TTL: u8 = 64;
/// Other local ports a new flow tries when its first one's reply tuple is
/// taken.
const PORT_CLASH_RETRIES: u32 = 3;
/// Local-port buckets per pool at most (see `laddr`).
const MAX_PORT_BUCKETS: usize = 64;

/// Where a routed packet goes: a next hop resolved before (from the hop
/// cache), or a route whose neighbour is still to be found.
#[derive(Clone, Copy)]
enum Egress {
    Resolved(ResolvedHop),
    Route(NextHop),
}

impl Egress {
    /// The egress interface.
    fn iface(&self) -> u16 {
        match self {
            Egress::Resolved(r) => r.iface,
            Egress::Route(h) => h.port,
        }
    }
}

/// What an IPv4 packet is to the worker, decided before it is acted on
/// (`Worker::decide`).
#[derive(Clone, Copy)]
enum Step {
    Drop(DropReason),
    /// An ICMP error about the flow of this session.
    TranslateError(Hit),
    Forward {
        iface: u16,
        hit: Hit,
    },
    /// A SYN on a closing connection: end it, then open a new one.
    ReuseThenOpen {
        iface: u16,
        old: Hit,
    },
    AnswerEcho,
    /// The first packet of a flow: schedule it and make its session.
    Open {
        iface: u16,
    },
}

/// Where a new flow goes.
#[derive(Clone, Copy)]
enum Target {
    Service {
        service: u32,
        backend: Backend,
        mode: Mode,
    },
    Snat {
        rule: u32,
    },
}

/// A new flow's session, chosen but not yet inserted.
struct Plan {
    new: NewSession,
    /// The hash of `new.inbound`, and of `new.outbound` (whose index slot
    /// the insert probes).
    hash: u64,
    out_hash: u64,
    target: Target,
}

/// A packet of a burst that waits until the new flows before it in the
/// burst have their sessions (see `Worker::handle_batch`).
enum Waiting<P> {
    /// A new flow's first packet, its session planned.
    Open {
        pkt: P,
        port: u16,
        iface: u16,
        meta: Ipv4Meta,
        plan: Plan,
    },
    /// Any other packet: handled then as if it came then.
    Later(Classed<P>),
}

/// A packet waiting for a neighbour, with the port it leaves by.
struct Pending<P> {
    pkt: P,
    port: u16,
}

/// What one [`Pipeline::poll`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollOutcome {
    pub received: usize,
    /// RX bursts that held at least one packet.
    pub bursts: usize,
    pub sent: usize,
    pub tx_dropped: usize,
    /// Packets (and neighbours) other workers handed to this one.
    pub handed_in: usize,
}

/// One worker's pipeline: the shared tables and the worker's own state.
pub struct Pipeline<P> {
    tables: Arc<LbTables>,
    worker: Worker<P>,
}

/// Everything a worker owns and writes.
struct Worker<P> {
    sessions: SessionTable,
    conns: ConnCounts,
    /// Per service (rr/wrr cursors are per worker).
    schedulers: Vec<crate::sched::Scheduler>,
    /// Per service id: the FULLNAT local ports (None for other modes, and
    /// for retired services once their sessions are gone).
    local_ports: Vec<Option<LocalPorts>>,
    /// Per SNAT rule id (None for retired rules once drained).
    snat_ports: Vec<Option<LocalPorts>>,
    /// Live sessions per service and SNAT rule, kept as they come and go.
    live: LiveCounts,
    pool_maker: PoolMaker,
    neighbours: NeighbourTable<Pending<P>, NEIGHBOUR_QUEUE>,
    /// Next hops resolved for recent destinations.
    hops: HopCache,
    icmp_limit: TokenBucket,
    /// One TX buffer per port, flushed at the end of each poll.
    out: Vec<Burst<P>>,
    /// The burst being handled, classified (empty between bursts). A
    /// vector with room for a burst, taken and put back, so a burst's
    /// records are written once and never copied as a whole.
    batch: Vec<Classed<P>>,
    /// The packets of the burst that wait for its new flows' sessions
    /// (empty between bursts; room for a burst, like `batch`).
    waiting: Vec<Waiting<P>>,
    counters: LbCounters,
    tx_sent: usize,
    tx_dropped: usize,
    last_housekeeping_ms: u64,
    last_neighbour_expiry_ms: u64,
    /// Rings to and from the other workers (several workers only).
    links: Option<WorkerLinks<P>>,
}

impl<P: PacketBuf> Pipeline<P> {
    /// Worker `worker_index` of `worker_count`, starting its clocks at
    /// `now_ms`. Fails only on tables the pools or the session table refuse.
    pub fn new(
        tables: Arc<LbTables>,
        worker_index: usize,
        worker_count: usize,
        now_ms: u64,
    ) -> Result<Pipeline<P>, String> {
        let sessions = SessionTable::new(tables.sessions, now_ms)
            .map_err(|e| format!("session table: {e:?}"))?;
        // Port order is shuffled from a random seed so ports are not
        // predictable from outside.
        let pool_maker = PoolMaker {
            worker_index,
            worker_count,
            seed_base: RandomState::new().hash_one(worker_index),
        };
        let mut local_ports = Vec::with_capacity(tables.services.len());
        for (i, svc) in tables.services.iter().enumerate() {
            local_ports.push(match pool_maker.service_pool(i as u32, svc) {
                Some(cfg) => Some(
                    LocalPorts::new(&cfg)
                        .map_err(|e| format!("service {}: local ports: {e:?}", svc.spec.vip))?,
                ),
                None => None,
            });
        }
        let mut snat_ports = Vec::with_capacity(tables.snat.len());
        for (i, rule) in tables.snat.iter().enumerate() {
            snat_ports.push(match pool_maker.snat_pool(i as u32, rule) {
                Some(cfg) => Some(
                    LocalPorts::new(&cfg).map_err(|e| format!("snat rule {i}: ports: {e:?}"))?,
                ),
                None => None,
            });
        }
        let worker = Worker {
            sessions,
            conns: ConnCounts::new(tables.backends.len()),
            schedulers: tables
                .services
                .iter()
                .map(|s| s.scheduler.clone())
                .collect(),
            local_ports,
            snat_ports,
            live: LiveCounts {
                services: vec![0; tables.services.len()],
                snat: vec![0; tables.snat.len()],
            },
            pool_maker,
            neighbours: NeighbourTable::new(NEIGHBOUR_CAPACITY, NEIGHBOUR_TIMERS),
            hops: HopCache::new(tables.routes.longest_prefix()),
            icmp_limit: TokenBucket::new(ICMP_BURST, 1, now_ms),
            out: (0..tables.ports.len()).map(|_| Burst::new()).collect(),
            batch: Vec::with_capacity(BURST_SIZE),
            waiting: Vec::with_capacity(BURST_SIZE),
            counters: LbCounters::new(
                tables.services.len(),
                tables.backends.len(),
                tables.snat.len(),
            ),
            tx_sent: 0,
            tx_dropped: 0,
            last_housekeeping_ms: now_ms,
            last_neighbour_expiry_ms: now_ms,
            links: None,
        };
        Ok(Pipeline { tables, worker })
    }

    /// Joins this worker to the others: from now on it hands packets it
    /// does not own to their owner, takes what the others hand it, and
    /// shares the neighbours it learns. `links` must be this worker's
    /// element of [`redirect::mesh`] for as many workers as `new` was told.
    pub fn connect(&mut self, links: WorkerLinks<P>) -> Result<(), String> {
        let pm = &self.worker.pool_maker;
        if links.index() != pm.worker_index || links.workers() != pm.worker_count {
            return Err(format!(
                "links of worker {} of {} given to worker {} of {}",
                links.index(),
                links.workers(),
                pm.worker_index,
                pm.worker_count
            ));
        }
        self.worker.links = (links.workers() > 1).then_some(links);
        Ok(())
    }

    /// Receives one burst from every port, then what other workers handed
    /// over, decides every packet, transmits what is ready, and runs the
    /// timers (at most once per millisecond).
    ///
    /// Own queues come before the rings: a flow whose first packets reached
    /// its owner directly is handled in arrival order even when its replies
    /// arrive on another worker's queue in the same instant.
    pub fn poll<I: PacketIo<Packet = P>>(&mut self, io: &mut I, now_ms: u64) -> PollOutcome {
        let t = &*self.tables;
        let w = &mut self.worker;
        let (mut received, mut bursts) = (0, 0);
        let ports = io.port_count().min(t.ports.len());
        for port in 0..ports {
            let mut burst: Burst<P> = Burst::new();
            io.rx_burst(port, &mut burst);
            received += burst.len();
            if !burst.is_empty() {
                bursts += 1;
                w.process_burst(t, io, port as u16, &mut burst, now_ms);
            }
        }
        let handed_in = w.take_handoffs(t, io, now_ms);
        for port in 0..ports {
            w.flush(io, port);
        }
        if now_ms != w.last_housekeeping_ms {
            w.housekeeping(now_ms);
        }
        let outcome = PollOutcome {
            received,
            bursts,
            sent: w.tx_sent,
            tx_dropped: w.tx_dropped,
            handed_in,
        };
        w.tx_sent = 0;
        w.tx_dropped = 0;
        outcome
    }

    pub fn counters(&self) -> &LbCounters {
        &self.worker.counters
    }

    /// Live sessions by service, backend (active and inactive) and SNAT
    /// rule id, from counts kept as sessions come and go: no table walk.
    pub fn session_counts(&self) -> SessionCounts {
        let w = &self.worker;
        SessionCounts {
            services: w.live.services.clone(),
            backends: w
                .conns
                .as_slice()
                .iter()
                .map(|c| BackendSessions {
                    active: u64::from(c.active),
                    inactive: u64::from(c.inactive),
                })
                .collect(),
            snat: w.live.snat.clone(),
        }
    }
}

/// Live sessions per service and SNAT rule id; persistence templates are
/// not counted. Backends' counts are the connection counts (`ConnCounts`).
#[derive(Clone, Debug, Default)]
struct LiveCounts {
    services: Vec<u64>,
    snat: Vec<u64>,
}

impl LiveCounts {
    fn slot(&mut self, service: u32) -> Option<&mut u64> {
        if service >= SNAT_SERVICE_BASE {
            self.snat.get_mut((service - SNAT_SERVICE_BASE) as usize)
        } else {
            self.services.get_mut(service as usize)
        }
    }

    #[inline]
    fn opened(&mut self, service: u32) {
        if let Some(n) = self.slot(service) {
            *n += 1;
        }
    }

    fn ended(&mut self, s: &Session) {
        if s.state == ProtoState::Template {
            return;
        }
        if let Some(n) = self.slot(s.service) {
            *n = n.saturating_sub(1);
        }
    }

    fn of(&self, service: u32) -> u64 {
        if service >= SNAT_SERVICE_BASE {
            self.snat.get((service - SNAT_SERVICE_BASE) as usize)
        } else {
            self.services.get(service as usize)
        }
        .copied()
        .unwrap_or(0)
    }
}

/// A received packet, classified, with its session-bucket hash.
struct Classed<P> {
    pkt: P,
    /// The port it was received on.
    port: u16,
    class: Result<Classified, DropReason>,
    hash: u64,
}

#[inline]
fn classify_buf<P: PacketBuf>(pkt: &P) -> Result<Classified, DropReason> {
    if pkt.is_contiguous() {
        classify_received(pkt.data(), pkt.rx_ipv4_checksum())
    } else {
        Err(DropReason::MultiSegment)
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
        Step::Open { .. } | Step::ReuseThenOpen { .. } => true,
        Step::Forward { .. } => {
            meta.tuple.proto == IpProto::TCP && tcp_flags_of(frame, meta) & tcp_flags::SYN != 0
        }
        _ => false,
    }
}

/// The tuple a packet's session is found by: its own, or for an ICMP error
/// the reverse of the packet it quotes (the direction the error travels).
#[inline]
fn lookup_tuple(meta: &Ipv4Meta) -> Option<FiveTuple> {
    match meta.kind {
        L4Kind::Tcp | L4Kind::Udp | L4Kind::IcmpEcho { .. } => Some(meta.tuple),
        L4Kind::IcmpError { quoted, .. } => Some(quoted.reversed()),
        L4Kind::IcmpOther => None,
    }
}

#[inline]
fn tcp_flags_of(frame: &[u8], meta: &Ipv4Meta) -> u8 {
    get_u8(frame, meta.l4_offset + 13)
}

impl<P: PacketBuf> Worker<P> {
    /// Classifies the whole burst, hands the packets another worker owns
    /// to it, prefetches the session index slot of each packet kept, then
    /// the session it names, then handles the packets in order.
    fn process_burst<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        port: u16,
        burst: &mut Burst<P>,
        now: u64,
    ) {
        let mut kept = std::mem::take(&mut self.batch);
        for pkt in burst.drain(..) {
            let class = classify_buf(&pkt);
            if let (Some(links), Ok(Classified::Ipv4(meta))) = (&self.links, &class) {
                if let Some(key) = lookup_tuple(meta) {
                    let owner = t.owners.owner(&key, links.index(), links.workers());
                    if owner != links.index() {
                        self.hand_off(owner, pkt, port);
                        continue;
                    }
                }
            }
            let hash = self.prefetch(&class);
            kept.push(Classed {
                pkt,
                port,
                class,
                hash,
            });
        }
        self.handle_batch(t, io, &mut kept, now);
        self.batch = kept;
    }

    /// Handles classified packets whose index slots were prefetched. First
    /// a second stage: by now the first index lines have arrived, so pull
    /// in the session each one points at, and the lookups in `handle` hit.
    ///
    /// A new flow's session insert probes the index slot of its reply
    /// tuple, which is known only once the flow is scheduled: a cache miss
    /// per new flow that nothing prefetched. So the first packet of a new
    /// flow is scheduled (`plan_session`) where it stands, its reply slot
    /// prefetched, and it waits, with every packet after it in the burst;
    /// then the waiting packets are handled in their order, the planned
    /// sessions inserted as they come. The packets leave in the order they
    /// came, and the misses of a burst's new flows overlap. What differs
    /// from one packet at a time: the new flows of a burst are scheduled
    /// before the packets between them are handled (those only move
    /// connection states, which lc and wlc read).
    ///
    /// Leaves `batch` empty, its room kept.
    fn handle_batch<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        batch: &mut Vec<Classed<P>>,
        now: u64,
    ) {
        for c in batch.iter() {
            if c.hash != 0 {
                self.sessions.prefetch_candidate(c.hash);
            }
        }
        let mut waiting = std::mem::take(&mut self.waiting);
        // Planning stops at a waiting packet that may itself make or end a
        // session when its turn comes (see `may_open`), so no plan is made
        // against a table that packet would have changed.
        let mut may_plan = true;
        for c in batch.drain(..) {
            let Classed {
                pkt,
                port,
                class,
                hash,
            } = c;
            let Ok(Classified::Ipv4(meta)) = &class else {
                let c = Classed {
                    pkt,
                    port,
                    class,
                    hash,
                };
                match waiting.is_empty() {
                    true => self.handle(t, io, c, now),
                    false => waiting.push(Waiting::Later(c)),
                }
                continue;
            };
            let step = self.decide(t, port, pkt.data(), meta, hash);
            let plan_at = match step {
                Step::Open { iface } if may_plan && !Self::planned(&waiting, hash, &meta.tuple) => {
                    Some(iface)
                }
                _ => None,
            };
            if let Some(iface) = plan_at {
                match self.plan_session(t, pkt.data(), meta, hash, now) {
                    Ok(plan) => {
                        self.sessions.prefetch_hashed(plan.out_hash);
                        let meta = *meta;
                        waiting.push(Waiting::Open {
                            pkt,
                            port,
                            iface,
                            meta,
                            plan,
                        });
                    }
                    Err(reason) => self.drop(reason),
                }
            } else if waiting.is_empty() {
                self.act(t, io, port, pkt, meta, hash, step, now);
            } else {
                may_plan &= !may_open(step, pkt.data(), meta);
                waiting.push(Waiting::Later(Classed {
                    pkt,
                    port,
                    class,
                    hash,
                }));
            }
        }
        for w in waiting.drain(..) {
            match w {
                Waiting::Later(c) => self.handle(t, io, c, now),
                Waiting::Open {
                    pkt,
                    port,
                    iface,
                    meta,
                    plan,
                } => match self.commit(plan, now) {
                    Ok(id) => self.forward(
                        t,
                        io,
                        port,
                        iface,
                        pkt,
                        &meta,
                        Hit {
                            id,
                            dir: Direction::Inbound,
                        },
                        now,
                    ),
                    Err(reason) => self.drop(reason),
                },
            }
        }
        self.waiting = waiting;
    }

    /// Whether a waiting packet plans a session `tuple` belongs to: a new
    /// flow's second packet, or its reply, in the same burst.
    fn planned(waiting: &[Waiting<P>], hash: u64, tuple: &FiveTuple) -> bool {
        waiting.iter().any(|w| match w {
            Waiting::Open { plan, .. } => {
                (plan.hash == hash && plan.new.inbound == *tuple)
                    || (plan.out_hash == hash && plan.new.outbound == *tuple)
            }
            Waiting::Later(_) => false,
        })
    }

    /// Hashes a packet's lookup tuple and prefetches its session bucket.
    #[inline]
    fn prefetch(&self, class: &Result<Classified, DropReason>) -> u64 {
        match class {
            Ok(Classified::Ipv4(meta)) => lookup_tuple(meta).map_or(0, |key| {
                let h = self.sessions.hash(&key);
                self.sessions.prefetch_hashed(h);
                h
            }),
            _ => 0,
        }
    }

    fn handle<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        c: Classed<P>,
        now: u64,
    ) {
        let Classed {
            pkt,
            port,
            class,
            hash,
        } = c;
        match class {
            Err(reason) => self.drop(reason),
            Ok(Classified::Ipv6 { .. }) => self.drop(DropReason::Ipv6NotForwarded),
            Ok(Classified::Arp { l3_offset, vlan }) => {
                self.arp(t, io, port, pkt, l3_offset, vlan, now)
            }
            Ok(Classified::Ipv4(meta)) => self.ipv4(t, io, port, pkt, &meta, hash, now),
        }
    }

    /// Gives a packet to the worker that owns its flow; a full ring drops it.
    #[inline]
    fn hand_off(&mut self, owner: usize, pkt: P, port: u16) {
        let Some(links) = self.links.as_mut() else {
            return self.drop(DropReason::RedirectFull);
        };
        match links.send(owner, Handoff::Packet { pkt, port }) {
            Ok(()) => self.counters.events.redirects_sent += 1,
            // Dropping the handoff frees the packet.
            Err(_) => self.drop(DropReason::RedirectFull),
        }
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
    fn take_handoffs<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        now: u64,
    ) -> usize {
        let sources = self.links.as_ref().map_or(0, |l| l.sources());
        let mut taken = 0;
        for source in 0..sources {
            let mut from_source = 0;
            while from_source < redirect::RING_CAPACITY {
                let n = self.take_burst(t, io, source, now);
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
    fn take_burst<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        source: usize,
        now: u64,
    ) -> usize {
        let mut neighbours = 0;
        let mut batch = std::mem::take(&mut self.batch);
        while batch.len() < BURST_SIZE {
            let Some(item) = self.links.as_mut().and_then(|l| l.receive(source)) else {
                break;
            };
            match item {
                Handoff::Packet { pkt, port } => {
                    let class = classify_buf(&pkt);
                    let hash = self.prefetch(&class);
                    batch.push(Classed {
                        pkt,
                        port,
                        class,
                        hash,
                    });
                }
                Handoff::Neighbour { addr, mac } => {
                    neighbours += 1;
                    self.learn_shared(t, io, addr, mac, now)
                }
            }
        }
        let packets = batch.len();
        self.counters.events.redirects_received += packets as u64;
        self.handle_batch(t, io, &mut batch, now);
        self.batch = batch;
        packets + neighbours
    }

    /// Tells every other worker that `addr` is at `mac`.
    fn share_neighbour(&mut self, addr: Ipv4Addr, mac: MacAddr) {
        let Some(links) = self.links.as_mut() else {
            return;
        };
        let me = links.index();
        for w in (0..links.workers()).filter(|&w| w != me) {
            match links.send(w, Handoff::Neighbour { addr, mac }) {
                Ok(()) => self.counters.events.neighbours_shared += 1,
                Err(_) => self.counters.events.neighbour_shares_lost += 1,
            }
        }
    }

    /// A neighbour another worker learned (under the learning rules of
    /// `net::arp`): taken as if we had heard it, and the packets that
    /// waited for it go out. Creating the entry too means a worker that
    /// asks only after the answer went by still has it.
    fn learn_shared<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        addr: Ipv4Addr,
        mac: MacAddr,
        now: u64,
    ) {
        let mut released: ArrayVec<(Pending<P>, MacAddr), NEIGHBOUR_QUEUE> = ArrayVec::new();
        self.neighbours.learn(addr, mac, now, true, |p, mac| {
            let _ = released.try_push((p, mac));
        });
        self.send_released(t, io, released);
    }

    /// Sends packets that waited for a neighbour's MAC.
    fn send_released<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        released: ArrayVec<(Pending<P>, MacAddr), NEIGHBOUR_QUEUE>,
    ) {
        for (mut p, mac) in released {
            let src = t.port_mac(p.port).unwrap_or(MacAddr::ZERO);
            set_macs(p.pkt.data_mut(), src, mac);
            self.send(io, p.port, p.pkt);
        }
    }

    #[inline]
    fn drop(&mut self, reason: DropReason) {
        self.counters.drops.count(reason);
    }

    /// Queues `pkt` for TX on `port`, flushing the buffer first if full.
    #[inline(always)]
    fn send<I: PacketIo<Packet = P>>(&mut self, io: &mut I, port: u16, pkt: P) {
        let port = usize::from(port);
        if self.out.get(port).is_some_and(|b| b.is_full()) {
            self.flush(io, port);
        }
        match self.out.get_mut(port) {
            Some(out) => out.push(pkt),
            None => self.drop(DropReason::NoRoute),
        }
    }

    fn flush<I: PacketIo<Packet = P>>(&mut self, io: &mut I, port: usize) {
        let Some(out) = self.out.get_mut(port) else {
            return;
        };
        if out.is_empty() {
            return;
        }
        let o = io.tx_burst(port, out);
        self.tx_sent += o.sent;
        if o.dropped > 0 {
            self.tx_dropped += o.dropped;
            self.counters
                .drops
                .count_n(DropReason::TxFull, o.dropped as u64);
        }
    }

    /// Whether the frame is for us at L2: our MAC, or broadcast/multicast
    /// (a promiscuous port also sees other hosts' frames).
    #[inline]
    fn for_our_mac(t: &LbTables, port: u16, frame: &[u8]) -> bool {
        let Some(dst) = frame.get(..6) else {
            return false;
        };
        dst[0] & 1 == 1 || t.port_mac(port).is_some_and(|m| m.0 == dst)
    }

    #[allow(clippy::too_many_arguments)]
    fn arp<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        port: u16,
        mut pkt: P,
        l3_offset: usize,
        vlan: Option<u16>,
        now: u64,
    ) {
        if !Self::for_our_mac(t, port, pkt.data()) {
            return self.drop(DropReason::OtherHost);
        }
        if t.ingress_interface(port, vlan).is_none() {
            return self.drop(DropReason::NoInterface);
        }
        let Some(our_mac) = t.port_mac(port) else {
            return self.drop(DropReason::NoInterface);
        };
        let sender = ArpPacket::new(pkt.data().get(l3_offset..).unwrap_or(&[]))
            .ok()
            .map(|a| (a.sender_ip(), a.sender_mac()));
        let mut released: ArrayVec<(Pending<P>, MacAddr), NEIGHBOUR_QUEUE> = ArrayVec::new();
        let outcome = handle_arp(
            pkt.data_mut(),
            l3_offset,
            our_mac,
            &t.owned,
            &mut self.neighbours,
            now,
            |p, mac| {
                // At most NEIGHBOUR_QUEUE packets wait per neighbour.
                let _ = released.try_push((p, mac));
            },
        );
        match outcome {
            Ok(ArpOutcome::Reply) => {
                self.counters.events.arp_replies += 1;
                self.send(io, port, pkt);
            }
            Ok(ArpOutcome::Consumed) => {}
            Err(reason) => self.drop(reason),
        }
        self.send_released(t, io, released);
        // What we learned, the other workers may be waiting for.
        if let Some((addr, mac)) = sender {
            if self.links.is_some() && self.neighbours.lookup(addr) == Some(mac) {
                self.share_neighbour(addr, mac);
            }
        }
    }

    /// Decides what to do with an IPv4 packet, without acting on it: the
    /// same answer whether the packet is handled now or later in its burst
    /// (see `handle_batch`), as long as the session table did not change.
    #[inline(always)]
    fn decide(&self, t: &LbTables, port: u16, frame: &[u8], meta: &Ipv4Meta, hash: u64) -> Step {
        if !Self::for_our_mac(t, port, frame) {
            return Step::Drop(DropReason::OtherHost);
        }
        let Some(iface) = t.ingress_interface(port, meta.vlan) else {
            return Step::Drop(DropReason::NoInterface);
        };
        match meta.kind {
            L4Kind::IcmpOther => return Step::Drop(DropReason::UnsupportedIcmp),
            L4Kind::IcmpError { quoted, .. } => {
                return match self.sessions.lookup_hashed(&quoted.reversed(), hash) {
                    Some(hit) => Step::TranslateError(hit),
                    None => Step::Drop(DropReason::NoSession),
                };
            }
            _ => {}
        }
        if let Some(hit) = self.sessions.lookup_hashed(&meta.tuple, hash) {
            return if self.port_reused(t, frame, meta, hit) {
                Step::ReuseThenOpen { iface, old: hit }
            } else {
                Step::Forward { iface, hit }
            };
        }
        if meta.kind == (L4Kind::IcmpEcho { request: true }) && t.owned.contains(meta.tuple.dst) {
            return Step::AnswerEcho;
        }
        Step::Open { iface }
    }

    #[allow(clippy::too_many_arguments)]
    fn ipv4<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        port: u16,
        pkt: P,
        meta: &Ipv4Meta,
        hash: u64,
        now: u64,
    ) {
        let step = self.decide(t, port, pkt.data(), meta, hash);
        self.act(t, io, port, pkt, meta, hash, step, now);
    }

    /// Carries out what `decide` chose.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn act<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        port: u16,
        mut pkt: P,
        meta: &Ipv4Meta,
        hash: u64,
        step: Step,
        now: u64,
    ) {
        let iface = match step {
            Step::Drop(reason) => return self.drop(reason),
            Step::TranslateError(hit) => return self.translate_error(t, io, pkt, meta, hit, now),
            Step::Forward { iface, hit } => {
                return self.forward(t, io, port, iface, pkt, meta, hit, now)
            }
            Step::AnswerEcho => {
                return match answer_echo(pkt.data_mut(), meta, &t.owned) {
                    Ok(()) => {
                        let sender = pkt.data().get(..6).map_or(MacAddr::ZERO, |m| {
                            MacAddr([m[0], m[1], m[2], m[3], m[4], m[5]])
                        });
                        let ours = t.port_mac(port).unwrap_or(sender);
                        set_macs(pkt.data_mut(), ours, sender);
                        self.counters.events.echo_replies += 1;
                        self.send(io, port, pkt);
                    }
                    Err(reason) => self.drop(reason),
                };
            }
            Step::ReuseThenOpen { iface, old } => {
                self.end_reused(old);
                iface
            }
            Step::Open { iface } => iface,
        };
        let opened = self
            .plan_session(t, pkt.data(), meta, hash, now)
            .and_then(|plan| self.commit(plan, now));
        match opened {
            Ok(id) => self.forward(
                t,
                io,
                port,
                iface,
                pkt,
                meta,
                Hit {
                    id,
                    dir: Direction::Inbound,
                },
                now,
            ),
            Err(reason) => self.drop(reason),
        }
    }

    /// Whether a client's SYN hit a connection that is closing (TIME_WAIT
    /// or CLOSE; FIN_WAIT too for DR and TUN, which never see the server's
    /// half): a new connection on a reused port. The old session ends
    /// (`sessions_expired`) and the SYN is scheduled afresh, as IPVS does
    /// (`conn_reuse_mode`). Without this a reused client port would stay on
    /// the old backend, even one taken out since.
    fn port_reused(&self, t: &LbTables, frame: &[u8], meta: &Ipv4Meta, hit: Hit) -> bool {
        if meta.tuple.proto != IpProto::TCP || hit.dir != Direction::Inbound {
            return false;
        }
        let opening = tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST | tcp_flags::FIN;
        if tcp_flags_of(frame, meta) & opening != tcp_flags::SYN {
            return false;
        }
        let s = self.sessions.get(hit.id);
        let input_only = matches!(
            t.services.get(s.service as usize).map(|x| x.spec.mode),
            Some(Mode::Dr | Mode::Tun)
        );
        match s.state {
            ProtoState::Tcp(TcpState::TimeWait | TcpState::Close) => true,
            ProtoState::Tcp(TcpState::FinWait) => input_only,
            _ => false,
        }
    }

    /// Ends the session a reused port closed (see `port_reused`).
    fn end_reused(&mut self, old: Hit) {
        if let Some(old) = self.sessions.remove(old.id) {
            session_ended(
                &mut self.conns,
                &mut self.local_ports,
                &mut self.snat_ports,
                &mut self.live,
                &old,
            );
            self.counters.events.sessions_expired += 1;
        }
    }

    /// Chooses the session for the first packet of a flow, to a service or
    /// out through a SNAT rule: the backend (counted as opened from now
    /// on), the local port, the reply tuple. Nothing is inserted yet: see
    /// `commit`.
    fn plan_session(
        &mut self,
        t: &LbTables,
        frame: &[u8],
        meta: &Ipv4Meta,
        hash: u64,
        now: u64,
    ) -> Result<Plan, DropReason> {
        let tuple = meta.tuple;
        let is_tcp = tuple.proto == IpProto::TCP;
        let opens = !is_tcp
            || tcp_flags_of(frame, meta) & (tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST)
                == tcp_flags::SYN;
        let state = match meta.kind {
            L4Kind::Tcp => ProtoState::Tcp(TcpState::None),
            L4Kind::Udp => ProtoState::Udp,
            _ => ProtoState::IcmpEcho,
        };
        let l4_flow = matches!(meta.kind, L4Kind::Tcp | L4Kind::Udp);
        let service = if l4_flow {
            t.service_index
                .get(&(tuple.dst, tuple.proto.0, tuple.dst_port))
                .copied()
        } else {
            None
        };
        let target = if let Some(s) = service {
            if !opens {
                return Err(DropReason::NoSession);
            }
            let svc = t.services.get(s as usize).ok_or(DropReason::NoService)?;
            let sched = self
                .schedulers
                .get_mut(s as usize)
                .ok_or(DropReason::NoService)?;
            let backend = match &svc.spec.persistence {
                Some(p) => p.pick(&mut self.sessions, sched, &self.conns, &tuple, s, now),
                None => sched.pick(&tuple, &self.conns),
            }
            .ok_or(DropReason::NoBackend)?;
            Target::Service {
                service: s,
                backend,
                mode: svc.spec.mode,
            }
        } else {
            let snat_candidate = l4_flow || meta.kind == (L4Kind::IcmpEcho { request: true });
            let rule = (snat_candidate && !t.owned.contains(tuple.dst))
                .then(|| t.snat_rule(tuple.src))
                .flatten()
                .ok_or(DropReason::NoService)?;
            if !opens {
                return Err(DropReason::NoSession);
            }
            Target::Snat { rule }
        };
        let new = self.session_for(target, &tuple, state)?;
        if let Target::Service { backend, .. } = target {
            // Counted now, so the flows planned after this one see it.
            self.conns.opened(backend.id, state);
        }
        Ok(Plan {
            out_hash: self.sessions.hash(&new.outbound),
            new,
            hash,
            target,
        })
    }

    /// The session a new flow to `target` makes: its reply tuple, with a
    /// local port taken for FULLNAT and SNAT.
    fn session_for(
        &mut self,
        target: Target,
        tuple: &FiveTuple,
        state: ProtoState,
    ) -> Result<NewSession, DropReason> {
        let tuple = *tuple;
        match target {
            Target::Service {
                service,
                backend,
                mode,
            } => {
                let (outbound, flags) = match mode {
                    Mode::Dr | Mode::Tun => (tuple, session_flags::SINGLE),
                    Mode::Nat => (
                        FiveTuple {
                            src: backend.addr,
                            dst: tuple.src,
                            src_port: backend.port,
                            dst_port: tuple.src_port,
                            proto: tuple.proto,
                        },
                        0,
                    ),
                    Mode::FullNat => {
                        let (lip, lport) = self
                            .local_ports
                            .get_mut(service as usize)
                            .and_then(Option::as_mut)
                            .and_then(|lp| lp.allocate(backend.addr, backend.port))
                            .ok_or(DropReason::PortsExhausted)?;
                        (
                            FiveTuple {
                                src: backend.addr,
                                dst: lip,
                                src_port: backend.port,
                                dst_port: lport,
                                proto: tuple.proto,
                            },
                            session_flags::LOCAL_PORT,
                        )
                    }
                };
                Ok(NewSession {
                    service,
                    flags,
                    ..NewSession::new(tuple, outbound, backend.id, state)
                })
            }
            Target::Snat { rule } => {
                let echo = tuple.proto == IpProto::ICMP;
                // Echo flows have no remote port: the identifier is ours to choose.
                let remote_port = if echo { 0 } else { tuple.dst_port };
                let (sip, sport) = self
                    .snat_ports
                    .get_mut(rule as usize)
                    .and_then(Option::as_mut)
                    .and_then(|p| p.allocate(tuple.dst, remote_port))
                    .ok_or(DropReason::PortsExhausted)?;
                let outbound = FiveTuple {
                    src: tuple.dst,
                    dst: sip,
                    src_port: if echo { sport } else { tuple.dst_port },
                    dst_port: sport,
                    proto: tuple.proto,
                };
                Ok(NewSession {
                    service: SNAT_SERVICE_BASE + rule,
                    flags: session_flags::LOCAL_PORT,
                    ..NewSession::new(tuple, outbound, u32::MAX, state)
                })
            }
        }
    }

    /// Inserts a planned session. When its reply tuple is taken (a local
    /// port still held by a session of an entry this one replaced, on the
    /// same local address), tries a few other ports: each failed one goes
    /// back to the end of its pool. A session that cannot be inserted is
    /// no longer counted as opened.
    fn commit(&mut self, plan: Plan, now: u64) -> Result<SessionId, DropReason> {
        let Plan {
            mut new,
            hash,
            target,
            ..
        } = plan;
        let mut tries = 0;
        let inserted = loop {
            match self.insert(&new, hash, now) {
                Err(DropReason::SessionClash)
                    if new.flags & session_flags::LOCAL_PORT != 0 && tries < PORT_CLASH_RETRIES =>
                {
                    tries += 1;
                    match self.session_for(target, &new.inbound, new.state) {
                        Ok(again) => new = again,
                        Err(reason) => break Err(reason),
                    }
                }
                done => break done,
            }
        };
        match (inserted, target) {
            (
                Ok(id),
                Target::Service {
                    service, backend, ..
                },
            ) => {
                self.live.opened(service);
                if let Some(c) = self.counters.services.get_mut(service as usize) {
                    c.conns += 1;
                }
                if let Some(c) = self.counters.backends.get_mut(backend.id as usize) {
                    c.conns += 1;
                }
                Ok(id)
            }
            (Ok(id), Target::Snat { rule }) => {
                self.live.opened(SNAT_SERVICE_BASE + rule);
                if let Some(c) = self.counters.snat.get_mut(rule as usize) {
                    c.conns += 1;
                }
                Ok(id)
            }
            (Err(reason), Target::Service { backend, .. }) => {
                self.conns.closed(backend.id, new.state);
                Err(reason)
            }
            (Err(reason), Target::Snat { .. }) => Err(reason),
        }
    }

    /// Inserts a session; on failure gives back the local port it holds.
    fn insert(&mut self, new: &NewSession, hash: u64, now: u64) -> Result<SessionId, DropReason> {
        match self.sessions.insert_hashed(new, hash, now) {
            Ok(id) => {
                self.counters.events.sessions_created += 1;
                Ok(id)
            }
            Err(e) => {
                release_ports(
                    &mut self.local_ports,
                    &mut self.snat_ports,
                    new.service,
                    new.flags & session_flags::LOCAL_PORT != 0,
                    &new.outbound,
                );
                Err(match e {
                    InsertError::Full => DropReason::TableFull,
                    InsertError::Exists => DropReason::SessionClash,
                })
            }
        }
    }

    /// Forwards a packet of an existing session the way its mode says.
    #[allow(clippy::too_many_arguments)]
    fn forward<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        rx_port: u16,
        rx_iface: u16,
        mut pkt: P,
        meta: &Ipv4Meta,
        hit: Hit,
        now: u64,
    ) {
        let id = hit.id;
        let inbound = hit.dir == Direction::Inbound;
        let (service, backend) = {
            let s = self.sessions.get(id);
            (s.service, s.backend)
        };
        let spec = t.services.get(service as usize).map(|s| &s.spec);
        let mode = spec.map(|s| s.mode);
        if meta.tuple.proto == IpProto::TCP {
            // DR and TUN replies bypass us: only the client's side is seen.
            let dir = match (inbound, mode) {
                (true, Some(Mode::Dr | Mode::Tun)) => TcpDir::InputOnly,
                (true, _) => TcpDir::Input,
                (false, _) => TcpDir::Output,
            };
            let tr = self
                .sessions
                .on_tcp(id, dir, tcp_flags_of(pkt.data(), meta), now);
            if tr.from != tr.to {
                self.conns.changed(backend, tr);
            }
        } else {
            self.sessions.refresh(id, now);
        }
        if let Some(timeouts) = spec.and_then(|s| s.timeouts.as_ref()) {
            if let Some(ms) = timeouts.for_state(self.sessions.get(id).state) {
                self.sessions.refresh_with_timeout(id, ms, now);
            }
        }
        let bytes = meta.total_len;
        if service >= SNAT_SERVICE_BASE {
            if let Some(c) = self
                .counters
                .snat
                .get_mut((service - SNAT_SERVICE_BASE) as usize)
            {
                c.count(inbound, bytes);
            }
        } else {
            if let Some(c) = self.counters.services.get_mut(service as usize) {
                c.count(inbound, bytes);
            }
            if let Some(c) = self.counters.backends.get_mut(backend as usize) {
                c.count(inbound, bytes);
            }
        }

        match mode {
            Some(Mode::Dr) | Some(Mode::Tun) => {
                let Some(rip) = t.backends.get(backend as usize).map(|b| b.addr) else {
                    return self.drop(DropReason::NoBackend);
                };
                self.deliver_to_real_server(t, io, rx_port, rx_iface, pkt, meta, rip, mode, now)
            }
            _ => {
                let s = self.sessions.get(id);
                let to = if inbound {
                    s.outbound().reversed()
                } else {
                    s.inbound().reversed()
                };
                match translate(pkt.data_mut(), meta, &Translation::of(&to)) {
                    Ok(()) => self.egress(t, io, pkt, meta.vlan, to.dst, now),
                    Err(DropReason::TtlExceeded) => {
                        self.time_exceeded(t, io, rx_port, rx_iface, pkt, meta, now)
                    }
                    Err(reason) => self.drop(reason),
                }
            }
        }
    }

    /// DR: new MACs only. TUN: the IP-in-IP outer header first, with
    /// fragmentation-needed to the client when it no longer fits.
    #[allow(clippy::too_many_arguments)]
    fn deliver_to_real_server<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        rx_port: u16,
        rx_iface: u16,
        mut pkt: P,
        meta: &Ipv4Meta,
        rip: Ipv4Addr,
        mode: Option<Mode>,
        now: u64,
    ) {
        let Some(hop) = self.route_to(t, rip, now) else {
            return self.drop(DropReason::NoRoute);
        };
        if mode == Some(Mode::Tun) {
            let Some(iface) = t.interfaces.get(usize::from(hop.iface())) else {
                return self.drop(DropReason::NoRoute);
            };
            let mtu = t.ports.get(usize::from(iface.port)).map_or(1500, |p| p.mtu);
            let tunnel = Tunnel {
                src: t.source_address(hop.iface(), rip),
                dst: rip,
                ttl: TUNNEL_TTL,
                egress_mtu: mtu,
            };
            match encapsulate_ipip(&mut pkt, meta, &tunnel) {
                Ok(()) => {}
                Err(DropReason::FragmentationNeeded) => {
                    self.drop(DropReason::FragmentationNeeded);
                    let next_hop_mtu = u32::from(tunnel.inner_mtu());
                    return self.send_icmp_error(
                        t,
                        io,
                        rx_port,
                        rx_iface,
                        pkt,
                        meta,
                        (3, 4, next_hop_mtu),
                        now,
                    );
                }
                Err(reason) => return self.drop(reason),
            }
        }
        self.egress_hop(t, io, pkt, meta.vlan, hop, rip, now);
    }

    /// An ICMP error about a packet of a tracked flow, rewritten as the
    /// flow's other side must see it (see `translate_icmp_error`).
    fn translate_error<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        mut pkt: P,
        meta: &Ipv4Meta,
        hit: Hit,
        now: u64,
    ) {
        let s = *self.sessions.get(hit.id);
        if s.flags() & session_flags::SINGLE != 0 {
            // DR/TUN sessions see one direction; their backends answer
            // clients directly, so errors about their flows are not ours.
            return self.drop(DropReason::NoSession);
        }
        let quoted_to = if hit.dir == Direction::Outbound {
            *s.inbound()
        } else {
            *s.outbound()
        };
        match translate_icmp_error(
            pkt.data_mut(),
            meta,
            &Translation::of(&quoted_to),
            quoted_to.dst,
            quoted_to.src,
        ) {
            Ok(()) => {
                self.counters.events.icmp_errors_translated += 1;
                self.egress(t, io, pkt, meta.vlan, quoted_to.src, now);
            }
            Err(reason) => self.drop(reason),
        }
    }

    /// TTL ran out: ICMP time-exceeded to the sender (rate-limited).
    #[allow(clippy::too_many_arguments)]
    fn time_exceeded<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        rx_port: u16,
        rx_iface: u16,
        pkt: P,
        meta: &Ipv4Meta,
        now: u64,
    ) {
        self.drop(DropReason::TtlExceeded);
        self.send_icmp_error(t, io, rx_port, rx_iface, pkt, meta, (11, 0, 0), now);
    }

    /// Turns `pkt` into an ICMP error (type, code, rest of header) from our
    /// address on the ingress interface and sends it back where the packet
    /// came from. Suppressed errors count as `icmp_rate_limited`.
    #[allow(clippy::too_many_arguments)]
    fn send_icmp_error<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        rx_port: u16,
        rx_iface: u16,
        mut pkt: P,
        meta: &Ipv4Meta,
        (icmp_type, code, rest): (u8, u8, u32),
        now: u64,
    ) {
        if !self.icmp_limit.allow(now) {
            return self.drop(DropReason::IcmpRateLimited);
        }
        let src = t.source_address(rx_iface, meta.tuple.src);
        if build_icmp_error(&mut pkt, meta, icmp_type, code, rest, src) {
            if let (Some(ours), Some(src)) = (t.port_mac(rx_port), pkt.data_mut().get_mut(6..12)) {
                src.copy_from_slice(&ours.0);
            }
            self.counters.events.icmp_errors_sent += 1;
            self.send(io, rx_port, pkt);
        }
    }

    /// Routes a rewritten packet to `dst`.
    fn egress<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        pkt: P,
        vlan: Option<u16>,
        dst: Ipv4Addr,
        now: u64,
    ) {
        match self.route_to(t, dst, now) {
            Some(hop) => self.egress_hop(t, io, pkt, vlan, hop, dst, now),
            None => self.drop(DropReason::NoRoute),
        }
    }

    /// How a packet to `dst` leaves: as the hop cache remembers it, else by
    /// the route table.
    #[inline]
    fn route_to(&self, t: &LbTables, dst: Ipv4Addr, now: u64) -> Option<Egress> {
        match self.hops.get(dst, self.neighbours.version(), now) {
            Some(hop) => Some(Egress::Resolved(hop)),
            None => t.routes.lookup(dst).map(Egress::Route),
        }
    }

    /// Sends a packet by a route's next hop: the egress interface's VLAN
    /// tag, our MAC, the neighbour's MAC (or an ARP request and a wait).
    /// A resolved hop is remembered for `dst` in the hop cache.
    #[allow(clippy::too_many_arguments)]
    fn egress_hop<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        mut pkt: P,
        vlan: Option<u16>,
        hop: Egress,
        dst: Ipv4Addr,
        now: u64,
    ) {
        let hop = match hop {
            Egress::Resolved(r) => {
                if let Err(reason) = l2::set_vlan(&mut pkt, vlan, r.vlan) {
                    return self.drop(reason);
                }
                set_macs(pkt.data_mut(), r.src_mac, r.dst_mac);
                return self.send(io, r.port, pkt);
            }
            Egress::Route(hop) => hop,
        };
        let Some(iface) = t.interfaces.get(usize::from(hop.port)) else {
            return self.drop(DropReason::NoRoute);
        };
        let port = iface.port;
        let Some(our_mac) = t.port_mac(port) else {
            return self.drop(DropReason::NoRoute);
        };
        if let Err(reason) = l2::set_vlan(&mut pkt, vlan, iface.vlan) {
            return self.drop(reason);
        }
        let next = hop.neighbour(dst);
        let via_gateway = hop.gateway.is_some();
        let resolved = |mac| ResolvedHop {
            iface: hop.port,
            port,
            vlan: iface.vlan,
            src_mac: our_mac,
            dst_mac: mac,
        };
        if let Some(mac) = t.static_neighbours.get(&next) {
            let version = self.neighbours.version();
            self.hops
                .put(dst, via_gateway, resolved(*mac), version, now);
            set_macs(pkt.data_mut(), our_mac, *mac);
            return self.send(io, port, pkt);
        }
        match self.neighbours.resolve(next, Pending { pkt, port }, now) {
            Resolution::Ready {
                mac,
                mut packet,
                refresh,
            } => {
                let version = self.neighbours.version();
                self.hops.put(dst, via_gateway, resolved(mac), version, now);
                set_macs(packet.pkt.data_mut(), our_mac, mac);
                self.send(io, port, packet.pkt);
                if refresh {
                    self.arp_request(t, io, hop.port, next);
                }
            }
            Resolution::Queued { send_request } => {
                if send_request {
                    self.arp_request(t, io, hop.port, next);
                }
            }
            Resolution::Dropped { reason, .. } => self.drop(reason),
        }
    }

    /// Broadcasts an ARP request for `target` on interface `iface`. With no
    /// free mbuf the request waits for the next retry.
    fn arp_request<I: PacketIo<Packet = P>>(
        &mut self,
        t: &LbTables,
        io: &mut I,
        iface: u16,
        target: Ipv4Addr,
    ) {
        let Some(i) = t.interfaces.get(usize::from(iface)) else {
            return;
        };
        let Some(mac) = t.port_mac(i.port) else {
            return;
        };
        let Some(mut buf) = io.alloc() else {
            return;
        };
        let len = ARP_FRAME_LEN + if i.vlan.is_some() { VLAN_TAG_LEN } else { 0 };
        if buf.append(len).is_none() {
            return;
        }
        let src = t.source_address(iface, target);
        if write_arp_request(buf.data_mut(), i.vlan, mac, src, target).is_some() {
            self.counters.events.arp_requests += 1;
            self.send(io, i.port, buf);
        }
    }

    /// Session expiry (every millisecond) and neighbour give-ups (every
    /// 100 ms), off the per-packet path.
    fn housekeeping(&mut self, now: u64) {
        self.last_housekeeping_ms = now;
        let Worker {
            sessions,
            conns,
            local_ports,
            snat_ports,
            live,
            counters,
            ..
        } = self;
        let mut expired = 0u64;
        sessions.expire(now, EXPIRE_BUDGET, |s| {
            expired += 1;
            session_ended(conns, local_ports, snat_ports, live, s);
        });
        counters.events.sessions_expired += expired;
        if now.saturating_sub(self.last_neighbour_expiry_ms) >= 100 {
            self.last_neighbour_expiry_ms = now;
            let mut unresolved = 0u64;
            self.neighbours.expire(now, |_| unresolved += 1);
            self.counters
                .drops
                .count_n(DropReason::NeighbourUnresolved, unresolved);
        }
    }
}

/// What a session that ended gave up: its connection count, its port, its
/// place in the live counts.
fn session_ended(
    conns: &mut ConnCounts,
    local_ports: &mut [Option<LocalPorts>],
    snat_ports: &mut [Option<LocalPorts>],
    live: &mut LiveCounts,
    s: &Session,
) {
    conns.closed(s.backend, s.state);
    release_ports(
        local_ports,
        snat_ports,
        s.service,
        s.holds_local_port(),
        s.outbound(),
    );
    live.ended(s);
}

/// Where a port a session holds came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum PortOwner {
    Service(u32),
    Snat(u32),
}

/// The pool and the (local address, port, backend, backend port) of the
/// port a session holds, as `LocalPorts::release` takes them: the reply
/// tuple `outbound` is (backend or remote) -> (local address, local port).
fn held_port(
    service: u32,
    holds_port: bool,
    ob: &FiveTuple,
) -> Option<(PortOwner, (Ipv4Addr, u16, Ipv4Addr, u16))> {
    if !holds_port {
        return None;
    }
    if service >= SNAT_SERVICE_BASE {
        // Echo flows were allocated with no remote port.
        let remote_port = if ob.proto == IpProto::ICMP {
            0
        } else {
            ob.src_port
        };
        Some((
            PortOwner::Snat(service - SNAT_SERVICE_BASE),
            (ob.dst, ob.dst_port, ob.src, remote_port),
        ))
    } else {
        Some((
            PortOwner::Service(service),
            (ob.dst, ob.dst_port, ob.src, ob.src_port),
        ))
    }
}

/// Gives back the local (FULLNAT) or SNAT port a session holds. A pool
/// that is gone (a drained retired entry) has nothing to give back to.
fn release_ports(
    local_ports: &mut [Option<LocalPorts>],
    snat_ports: &mut [Option<LocalPorts>],
    service: u32,
    holds_port: bool,
    outbound: &FiveTuple,
) {
    let Some((owner, (addr, port, backend, backend_port))) =
        held_port(service, holds_port, outbound)
    else {
        return;
    };
    let pool = match owner {
        PortOwner::Service(i) => local_ports.get_mut(i as usize),
        PortOwner::Snat(i) => snat_ports.get_mut(i as usize),
    };
    if let Some(Some(p)) = pool {
        p.release(addr, port, backend, backend_port);
    }
}

#[cfg(test)]
mod adopt_tests;
#[cfg(test)]
mod batch_tests;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod workers_tests;
