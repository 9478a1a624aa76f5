//! The poll loop a worker runs on its core.
//!
//! Run to completion: receive a burst from each port's queue, decide for every
//! packet, transmit one burst per destination port, repeat. Nothing here
//! allocates, locks or makes a syscall per packet; the only shared writes are
//! the worker's own counters, in a cache line of their own, published once per
//! burst so another thread can read them while the worker runs.
//!
//! Between polls a pipeline worker checks for new tables (one atomic load:
//! [`LiveTables::generation`]) and for questions in its mailbox
//! ([`WorkerShared::ask`]). A session listing walks the table a slice per
//! poll, so a large table never stalls the packets for long.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use crossbeam_utils::CachePadded;

use crate::io::{Burst, PacketIo};
use crate::l2fwd::ForwardPlan;
use crate::live::LiveTables;
use crate::pipeline::Pipeline;

pub use crate::pipeline::inspect::{NeighbourView, SessionFilter, SessionView, WorkerLbStats};

/// Session-table slots a listing visits per poll: about 1 MB of sessions,
/// tens of microseconds.
const LIST_SLOTS_PER_POLL: usize = 16 * 1024;
/// Questions a worker takes from its mailbox per poll.
const ANSWERS_PER_POLL: usize = 8;
/// Questions that may wait in a mailbox; more wait in `ask` (until its
/// timeout).
const MAILBOX_CAPACITY: usize = 64;

/// A worker's counters, written only by that worker.
#[derive(Debug, Default)]
pub struct WorkerCounters {
    pub rx_packets: AtomicU64,
    pub tx_packets: AtomicU64,
    /// Packets the TX queue had no room for (freed).
    pub tx_dropped: AtomicU64,
    /// Non-empty RX bursts.
    pub rx_bursts: AtomicU64,
    /// Clock ticks (TSC cycles on the appliance) spent in polls that had
    /// packets to handle, from the poll's start to its end.
    pub busy_ticks: AtomicU64,
    /// Clock ticks since the worker's loop started, as of its last poll.
    pub ticks: AtomicU64,
    /// The clock's ticks per second (the TSC's frequency); 0 until the
    /// pipeline loop starts.
    pub ticks_per_second: AtomicU64,
    /// Set while the worker has received nothing for the idle period.
    pub idle: AtomicBool,
}

/// A plain copy of [`WorkerCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub tx_dropped: u64,
    pub rx_bursts: u64,
    pub busy_ticks: u64,
    pub ticks: u64,
    pub ticks_per_second: u64,
}

impl WorkerStats {
    /// The share of its time the worker spent handling packets, as a
    /// fraction, between `earlier` and this snapshot (`None` without
    /// ticks in between).
    pub fn busy_since(&self, earlier: &WorkerStats) -> Option<f64> {
        let ticks = self.ticks.checked_sub(earlier.ticks).filter(|&t| t > 0)?;
        Some(self.busy_ticks.saturating_sub(earlier.busy_ticks) as f64 / ticks as f64)
    }

    /// Busy ticks per received packet between `earlier` and this snapshot:
    /// what a packet cost the worker, its driver's receive and transmit
    /// included (`None` without packets in between).
    pub fn ticks_per_packet_since(&self, earlier: &WorkerStats) -> Option<f64> {
        let packets = self
            .rx_packets
            .checked_sub(earlier.rx_packets)
            .filter(|&p| p > 0)?;
        Some(self.busy_ticks.saturating_sub(earlier.busy_ticks) as f64 / packets as f64)
    }
}

impl WorkerCounters {
    pub fn snapshot(&self) -> WorkerStats {
        WorkerStats {
            rx_packets: self.rx_packets.load(Ordering::Relaxed),
            tx_packets: self.tx_packets.load(Ordering::Relaxed),
            tx_dropped: self.tx_dropped.load(Ordering::Relaxed),
            rx_bursts: self.rx_bursts.load(Ordering::Relaxed),
            busy_ticks: self.busy_ticks.load(Ordering::Relaxed),
            ticks: self.ticks.load(Ordering::Relaxed),
            ticks_per_second: self.ticks_per_second.load(Ordering::Relaxed),
        }
    }
}

/// A question to a running pipeline worker.
#[derive(Clone, Debug)]
pub enum Query {
    /// Counters and live-session counts, cheap: must not walk the session table (use ConnCounts /
    /// counts kept incrementally) because it is asked once per second for rates.
    Stats,
    /// Sessions matching `filter`, at most `limit` of them.
    Sessions { filter: SessionFilter, limit: usize },
    /// The neighbours this worker learned.
    Neighbours,
    /// What the worker's sessions refer to, by id (`Pipeline::id_refs`),
    /// cheap: kept counts, no table walk. Asked before each change so the
    /// builder can free unreferenced ids.
    Refs,
    /// Reset the service, backend and SNAT counters (`ipvsadm -Z`), or one
    /// service's and its backends'.
    Zero {
        service: Option<crate::tables::ServiceKey>,
    },
    /// Arm a trace and/or capture (`crate::watch`); an empty spec disarms.
    Watch(crate::watch::WatchSpec),
    /// What a new packet with this tuple would do (`Pipeline::explain`).
    Explain(crate::tuple::FiveTuple),
    /// Announce the addresses of this port's interfaces again (gratuitous
    /// ARP): a bond's active member changed (`Pipeline::announce_port`).
    Announce { port: u16 },
}

#[derive(Clone, Debug)]
pub enum Answer {
    Stats(Box<WorkerLbStats>),
    /// Matches up to the limit, and whether more matched.
    Sessions(Vec<SessionView>, bool),
    Neighbours(Vec<NeighbourView>),
    Refs(Box<crate::tables::IdRefs>),
    Zeroed,
    /// The watch asked for is armed (or disarmed) from the next poll on.
    Armed,
    Explained(Vec<crate::watch::StepReport>),
    /// Announcements queued.
    Announced(usize),
}

/// A question with where its answer goes and when the asker stops waiting.
struct Request {
    query: Query,
    reply: Sender<Answer>,
    deadline: Option<Instant>,
}

impl Request {
    fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now > d)
    }
}

/// Questions waiting for a worker.
#[derive(Debug)]
struct Mailbox {
    tx: Sender<Request>,
    rx: Receiver<Request>,
}

/// What a worker shares with the main thread: its counters (padded to their
/// own cache lines), the stop request, the generation it runs and its
/// mailbox.
#[derive(Debug)]
pub struct WorkerShared {
    pub counters: CachePadded<WorkerCounters>,
    pub stop: CachePadded<AtomicBool>,
    /// The generation the worker runs (0 = not running the pipeline).
    pub generation: CachePadded<AtomicU64>,
    mailbox: Mailbox,
}

impl Default for WorkerShared {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(MAILBOX_CAPACITY);
        WorkerShared {
            counters: CachePadded::default(),
            stop: CachePadded::default(),
            generation: CachePadded::default(),
            mailbox: Mailbox { tx, rx },
        }
    }
}

impl WorkerShared {
    /// Asks the worker; None when it does not answer within `timeout` (not running the pipeline, stopped, busy).
    ///
    /// The answer comes back over a channel of its own, so an asker that
    /// gave up is harmless: the worker's send fails, and a question still
    /// waiting past its timeout is skipped unanswered.
    pub fn ask(&self, query: Query, timeout: Duration) -> Option<Answer> {
        let deadline = Instant::now().checked_add(timeout);
        let (reply, answer) = crossbeam_channel::bounded(1);
        let request = Request {
            query,
            reply,
            deadline,
        };
        match deadline {
            Some(d) => {
                self.mailbox.tx.send_deadline(request, d).ok()?;
                answer.recv_deadline(d).ok()
            }
            None => {
                self.mailbox.tx.send(request).ok()?;
                answer.recv().ok()
            }
        }
    }
}

/// A session listing in progress, walked a slice per poll.
struct Listing {
    filter: SessionFilter,
    limit: usize,
    /// Next slot to visit.
    cursor: usize,
    found: Vec<SessionView>,
    more: bool,
    reply: Sender<Answer>,
    deadline: Option<Instant>,
}

/// The worker's side of the mailbox.
#[derive(Default)]
struct Answering {
    listing: Option<Listing>,
}

impl Answering {
    /// Serves the mailbox for one poll: a slice of the listing in progress,
    /// or a few new questions.
    fn serve<P: crate::buf::PacketBuf>(
        &mut self,
        mailbox: &Mailbox,
        pipeline: &mut Pipeline<P>,
        generation: u64,
        now_ms: u64,
    ) {
        if self.listing.is_some() {
            return self.step_listing(pipeline, now_ms);
        }
        for _ in 0..ANSWERS_PER_POLL {
            let Ok(request) = mailbox.rx.try_recv() else {
                return;
            };
            if request.expired(Instant::now()) {
                continue;
            }
            // A failed send means the asker gave up: nothing to do.
            match request.query {
                Query::Stats => {
                    let stats = pipeline.stats(generation);
                    let _ = request.reply.send(Answer::Stats(Box::new(stats)));
                }
                Query::Refs => {
                    let _ = request
                        .reply
                        .send(Answer::Refs(Box::new(pipeline.id_refs())));
                }
                Query::Neighbours => {
                    let _ = request
                        .reply
                        .send(Answer::Neighbours(pipeline.neighbours(now_ms)));
                }
                Query::Zero { service } => {
                    pipeline.zero_counters(service);
                    let _ = request.reply.send(Answer::Zeroed);
                }
                Query::Watch(spec) => {
                    pipeline.arm_watch(spec);
                    let _ = request.reply.send(Answer::Armed);
                }
                Query::Announce { port } => {
                    let n = pipeline.announce_port(port, now_ms);
                    let _ = request.reply.send(Answer::Announced(n));
                }
                Query::Explain(tuple) => {
                    let _ = request
                        .reply
                        .send(Answer::Explained(pipeline.explain(&tuple)));
                }
                Query::Sessions { filter, limit } => {
                    self.listing = Some(Listing {
                        filter,
                        limit,
                        cursor: 0,
                        found: Vec::with_capacity(limit.min(1024)),
                        more: false,
                        reply: request.reply,
                        deadline: request.deadline,
                    });
                    return self.step_listing(pipeline, now_ms);
                }
            }
        }
    }

    fn step_listing<P: crate::buf::PacketBuf>(&mut self, pipeline: &Pipeline<P>, now_ms: u64) {
        let Some(l) = self.listing.as_mut() else {
            return;
        };
        if l.deadline.is_some_and(|d| Instant::now() > d) {
            self.listing = None;
            return;
        }
        let (found, limit, more) = (&mut l.found, l.limit, &mut l.more);
        l.cursor = pipeline.scan_sessions(&l.filter, l.cursor, LIST_SLOTS_PER_POLL, now_ms, |v| {
            if found.len() < limit {
                found.push(v);
                true
            } else {
                *more = true;
                false
            }
        });
        if l.more || l.cursor >= pipeline.session_slots() {
            if let Some(l) = self.listing.take() {
                let _ = l.reply.send(Answer::Sessions(l.found, l.more));
            }
        }
    }
}

/// Adds `n` to a counter only this thread writes: a plain load and store,
/// no locked read-modify-write.
#[inline]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// Raises a worker's `idle` flag once nothing has arrived for a while, and
/// lowers it when traffic returns; the main thread uses it to exit when
/// every input is drained (pcap replay).
struct IdleTracker {
    after: Option<Duration>,
    last_rx: Instant,
    idle: bool,
}

impl IdleTracker {
    fn new(after: Option<Duration>) -> Self {
        IdleTracker {
            after,
            last_rx: Instant::now(),
            idle: false,
        }
    }

    #[inline]
    fn update(&mut self, received: usize, counters: &WorkerCounters) {
        // Without an idle limit nobody reads the flag: skip the clock read,
        // which would otherwise cost about a nanosecond per forwarded packet.
        if self.after.is_none() {
            return;
        }
        if received > 0 {
            if self.idle {
                self.idle = false;
                counters.idle.store(false, Ordering::Relaxed);
            }
            self.last_rx = Instant::now();
        } else if let Some(after) = self.after {
            if !self.idle && self.last_rx.elapsed() >= after {
                self.idle = true;
                counters.idle.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// Runs the L2 forwarding loop until `shared.stop` is set.
///
/// With `idle_after`, the worker raises its `idle` flag once it has received
/// nothing for that long (and lowers it when traffic returns).
pub fn run_forwarding<I: PacketIo>(
    io: &mut I,
    plan: &ForwardPlan,
    shared: &WorkerShared,
    idle_after: Option<Duration>,
) {
    let counters = &shared.counters;
    let mut burst: Burst<I::Packet> = Burst::new();
    let ports = io.port_count().min(plan.peer.len());
    let mut idle = IdleTracker::new(idle_after);

    while !shared.stop.load(Ordering::Relaxed) {
        let mut received = 0usize;
        for port in 0..ports {
            io.rx_burst(port, &mut burst);
            let n = burst.len();
            if n == 0 {
                continue;
            }
            received += n;
            for pkt in burst.iter_mut() {
                plan.rewrite(pkt);
            }
            let out = io.tx_burst(plan.peer[port], &mut burst);
            bump(&counters.rx_packets, n as u64);
            bump(&counters.rx_bursts, 1);
            bump(&counters.tx_packets, out.sent as u64);
            if out.dropped > 0 {
                bump(&counters.tx_dropped, out.dropped as u64);
            }
        }
        idle.update(received, counters);
    }
}

/// The pipeline's clock: ticks from some start, read once at the start of
/// each poll (the pipeline's milliseconds come from that read) and once
/// more at the end of a poll that had packets (its busy time).
pub trait Clock {
    /// Ticks since the clock started.
    fn ticks(&mut self) -> u64;
    /// Ticks per millisecond, never 0.
    fn ticks_per_ms(&self) -> u64;
}

/// Nanoseconds since an `Instant`: the clock for tests and for loops
/// without DPDK (the appliance's workers read the TSC: `dpdk::TscClock`).
#[derive(Clone, Copy, Debug)]
pub struct SystemClock(pub Instant);

impl Clock for SystemClock {
    #[inline]
    fn ticks(&mut self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }

    fn ticks_per_ms(&self) -> u64 {
        1_000_000
    }
}

/// Runs the load-balancing pipeline until `shared.stop` is set; `idle_after`
/// as for [`run_forwarding`]. The pipeline's clock is `clock`, read once per
/// poll.
///
/// Between polls the worker adopts the tables `live` publishes (then
/// stores their generation in `shared.generation`) and answers its mailbox.
/// `pipeline` must have been built from `live`'s tables or an ancestor of
/// them (see `LbTables::build_next`).
pub fn run_pipeline<I: PacketIo>(
    io: &mut I,
    pipeline: &mut Pipeline<I::Packet>,
    shared: &WorkerShared,
    live: &LiveTables,
    clock: &mut impl Clock,
    idle_after: Option<Duration>,
) {
    let counters = &shared.counters;
    let mut idle = IdleTracker::new(idle_after);
    let mut running = 0u64;
    let mut answering = Answering::default();
    let ticks_per_ms = clock.ticks_per_ms().max(1);
    counters
        .ticks_per_second
        .store(ticks_per_ms.saturating_mul(1000), Ordering::Relaxed);
    while !shared.stop.load(Ordering::Relaxed) {
        let mut start = clock.ticks();
        let now_ms = start / ticks_per_ms;
        if live.generation() != running {
            let (tables, generation) = live.snapshot();
            pipeline.adopt(tables, now_ms);
            running = generation;
            shared.generation.store(generation, Ordering::Release);
            // Adopting is not packet work: the busy time starts after it.
            start = clock.ticks();
        }
        let out = pipeline.poll(io, now_ms);
        if out.received > 0 {
            bump(&counters.rx_packets, out.received as u64);
            bump(&counters.rx_bursts, out.bursts as u64);
        }
        if out.sent > 0 {
            bump(&counters.tx_packets, out.sent as u64);
        }
        if out.tx_dropped > 0 {
            bump(&counters.tx_dropped, out.tx_dropped as u64);
        }
        // Packets handed over by other workers keep this one busy too.
        let worked = out.received + out.handed_in;
        idle.update(worked, counters);
        // Once per poll, not per packet: the busy time of a poll with
        // packets, and the clock at its end, so a reader can tell the
        // share. The two are read apart: a reader may see a poll's busy
        // time without its clock, a skew of one poll that windows of many
        // polls absorb.
        let mut now = start;
        if worked > 0 {
            now = clock.ticks();
            bump(&counters.busy_ticks, now.wrapping_sub(start));
        }
        counters.ticks.store(now, Ordering::Relaxed);
        // Questions are answered after the packets, outside the busy time.
        answering.serve(&shared.mailbox, pipeline, running, now_ms);
    }
    shared.generation.store(0, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemoryIo;
    use crate::l2fwd::{ForwardMode, Topology};
    use std::sync::Arc;

    fn frames(port: u8, n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let mut f = vec![0u8; 60];
                f[0] = port;
                f[6] = 0xee;
                f[14..22].copy_from_slice(&(i as u64).to_be_bytes());
                f
            })
            .collect()
    }

    /// Runs the loop on its own thread until every worker input is drained.
    fn run(io: &mut MemoryIo, plan: &ForwardPlan) -> WorkerStats {
        let shared = Arc::new(WorkerShared::default());
        std::thread::scope(|s| {
            let sh = Arc::clone(&shared);
            s.spawn(move || run_forwarding(io, plan, &sh, Some(Duration::from_millis(20))));
            while !shared.counters.idle.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(5));
            }
            shared.stop.store(true, Ordering::Relaxed);
        });
        shared.counters.snapshot()
    }

    #[test]
    fn paired_io_forwards_every_frame_in_order_to_the_peer() {
        let (a, b) = (frames(0, 100), frames(1, 70));
        let mut io = MemoryIo::new(vec![a.clone(), b.clone()]);
        let plan = ForwardPlan::new(ForwardMode::Io, Topology::Paired, 2).expect("plan");
        let stats = run(&mut io, &plan);
        assert_eq!(io.sent_frames(1), a);
        assert_eq!(io.sent_frames(0), b);
        assert_eq!(stats.rx_packets, 170);
        assert_eq!(stats.tx_packets, 170);
        assert_eq!(stats.tx_dropped, 0);
        // 100 frames take 4 bursts of 32, 70 take 3.
        assert_eq!(stats.rx_bursts, 7);
    }

    #[test]
    fn frames_the_tx_queue_refuses_are_counted_as_dropped() {
        let mut io = MemoryIo::new(vec![frames(0, 64)]);
        io.tx_limit = Some(30);
        let plan = ForwardPlan::new(ForwardMode::MacSwap, Topology::Loop, 1).expect("plan");
        let stats = run(&mut io, &plan);
        assert_eq!(stats.rx_packets, 64);
        assert_eq!(stats.tx_packets, 60);
        assert_eq!(stats.tx_dropped, 4);
        let sent = io.sent_frames(0);
        assert_eq!(sent.len(), 60);
        assert!(
            sent.iter().all(|f| f[6] == 0 && f[0] == 0xee),
            "MACs swapped"
        );
    }

    mod live {
        //! The pipeline loop with live tables and the mailbox.

        use super::super::*;
        use crate::buf::TestBuf;
        use crate::io::MemoryIo;
        use crate::pipeline::tests::*;
        use crate::tables::{FlushRequest, LbConfig, LbTables, Mode, ServiceKey, SnatSpec};
        use crate::tuple::IpProto;
        use crate::wire::ethernet::MacAddr;
        use std::net::Ipv4Addr;
        use std::sync::Arc;

        /// Generous: only a broken worker takes this long.
        const PATIENCE: Duration = Duration::from_secs(20);

        fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
            let start = Instant::now();
            while !done() {
                assert!(start.elapsed() < PATIENCE, "waited too long for {what}");
                std::thread::sleep(Duration::from_millis(1));
            }
        }

        /// Answers one question on this thread, a poll at a time; returns
        /// the answer and how many polls it took.
        fn answer(p: &mut Pipeline<TestBuf>, query: Query) -> (Answer, usize) {
            let shared = WorkerShared::default();
            let (reply, answer) = crossbeam_channel::bounded(1);
            let request = Request {
                query,
                reply,
                deadline: None,
            };
            assert!(shared.mailbox.tx.send(request).is_ok());
            let mut answering = Answering::default();
            for polls in 1..1000 {
                answering.serve(&shared.mailbox, p, 1, 0);
                if let Ok(a) = answer.try_recv() {
                    return (a, polls);
                }
            }
            panic!("no answer");
        }

        fn list(
            p: &mut Pipeline<TestBuf>,
            filter: SessionFilter,
            limit: usize,
        ) -> (Vec<SessionView>, bool) {
            match answer(p, Query::Sessions { filter, limit }).0 {
                Answer::Sessions(v, more) => (v, more),
                other => panic!("{other:?}"),
            }
        }

        fn key(proto: IpProto, port: u16) -> ServiceKey {
            ServiceKey {
                proto,
                vip: ip(VIP).into(),
                port,
            }
        }

        /// NAT TCP on 80 and UDP on 53, a SNAT rule, and sessions of each:
        /// CIP:40000 -> RIP1, CIP:40001 -> RIP2, OTHER:40000 -> RIP1 (TCP,
        /// SYN only), CIP:5000 -> RIP1 (UDP), 10.0.1.50:5555 -> 8.8.8.8:53.
        fn busy(capacity: usize) -> (LbConfig, Pipeline<TestBuf>) {
            let mut dns = service(Mode::Nat, IpProto::UDP);
            dns.port = 53;
            let mut cfg = config(vec![service(Mode::Nat, IpProto::TCP), dns]);
            cfg.sessions.capacity = capacity;
            cfg.neighbours
                .push((Ipv4Addr::new(10, 0, 1, 50), MacAddr(RS1)));
            cfg.snat.push(SnatSpec {
                source: (Ipv4Addr::new(10, 0, 1, 0), 24),
                port: 0,
                addrs: vec![Ipv4Addr::new(203, 0, 113, 1)],
                ports: (50000, 50000),
            });
            let mut p = pipeline(&cfg);
            let syn = |src, sport| tcp((ROUTER, OURS), (src, VIP), (sport, 80), SYN, 64, b"");
            let out = run(
                &mut p,
                &[
                    syn(CIP, 40000),
                    syn(CIP, 40001),
                    syn(OTHER, 40000),
                    udp((ROUTER, OURS), CIP, VIP, (5000, 53)),
                    udp((RS1, OURS), [10, 0, 1, 50], [8, 8, 8, 8], (5555, 53)),
                ],
                0,
            );
            assert_eq!(out.len(), 5);
            (cfg, p)
        }

        const OTHER: [u8; 4] = [198, 51, 100, 8];

        #[test]
        fn session_listings_filter_limit_and_say_when_more_matched() {
            let (_, mut p) = busy(1024);
            let (all, more) = list(&mut p, SessionFilter::default(), 100);
            assert_eq!((all.len(), more), (5, false));
            let first = SessionView {
                proto: 6,
                service: Some(key(IpProto::TCP, 80)),
                snat_rule: None,
                client: (ip(CIP).into(), 40000),
                destination: (ip(VIP).into(), 80),
                local: None,
                backend: (ip(RIP1).into(), 8080),
                state: "SYN_RECV",
                expires_in_ms: 30_000,
            };
            assert!(all.contains(&first), "{all:?}");
            let snat = SessionView {
                proto: 17,
                service: None,
                snat_rule: Some(0),
                client: (Ipv4Addr::new(10, 0, 1, 50).into(), 5555),
                destination: (Ipv4Addr::new(8, 8, 8, 8).into(), 53),
                local: Some((Ipv4Addr::new(203, 0, 113, 1).into(), 50000)),
                backend: (Ipv4Addr::new(8, 8, 8, 8).into(), 53),
                state: "UDP",
                expires_in_ms: 300_000,
            };
            assert!(all.contains(&snat), "{all:?}");

            let mut clients = |filter: SessionFilter| -> Vec<(Ipv4Addr, u16)> {
                let mut c: Vec<_> = list(&mut p, filter, 100)
                    .0
                    .iter()
                    .map(|v| match v.client {
                        (std::net::IpAddr::V4(a), p) => (a, p),
                        other => panic!("an IPv4 client: {other:?}"),
                    })
                    .collect();
                c.sort();
                c
            };
            let tcp_service = SessionFilter {
                service: Some(key(IpProto::TCP, 80)),
                ..SessionFilter::default()
            };
            assert_eq!(
                clients(tcp_service.clone()),
                vec![(ip(CIP), 40000), (ip(CIP), 40001), (ip(OTHER), 40000)]
            );
            let to_rip2 = SessionFilter {
                backend: Some(ip(RIP2)),
                ..SessionFilter::default()
            };
            assert_eq!(clients(to_rip2), vec![(ip(CIP), 40001)]);
            let from_cip_tcp = SessionFilter {
                client: Some(ip(CIP)),
                proto: Some(IpProto::TCP),
                ..SessionFilter::default()
            };
            assert_eq!(
                clients(from_cip_tcp),
                vec![(ip(CIP), 40000), (ip(CIP), 40001)]
            );
            let udp = SessionFilter {
                proto: Some(IpProto::UDP),
                ..SessionFilter::default()
            };
            assert_eq!(
                clients(udp),
                vec![(Ipv4Addr::new(10, 0, 1, 50), 5555), (ip(CIP), 5000)]
            );

            let (some, more) = list(&mut p, tcp_service.clone(), 2);
            assert_eq!((some.len(), more), (2, true));
            let (exact, more) = list(&mut p, tcp_service, 3);
            assert_eq!((exact.len(), more), (3, false));
            let (none, more) = list(&mut p, SessionFilter::default(), 0);
            assert_eq!((none.len(), more), (0, true));
        }

        #[test]
        fn zero_resets_the_flow_counters_of_one_service_or_all() {
            let (_, mut p) = busy(1024);
            let stats = |p: &mut Pipeline<TestBuf>| match answer(p, Query::Stats).0 {
                Answer::Stats(s) => s.counters,
                other => panic!("{other:?}"),
            };
            let before = stats(&mut p);
            let conns = |c: &crate::pipeline::counters::LbCounters| -> Vec<u64> {
                c.services.iter().map(|f| f.conns).collect()
            };
            assert_eq!(conns(&before), [3, 1], "3 TCP, 1 UDP connections");
            assert!(before.backends.iter().any(|b| b.conns > 0));
            let drops: Vec<_> = before.drops.iter().collect();
            // One service: its counters and its backends'; the other stays.
            let tcp = Some(key(IpProto::TCP, 80));
            assert!(matches!(
                answer(&mut p, Query::Zero { service: tcp }).0,
                Answer::Zeroed
            ));
            let after = stats(&mut p);
            assert_eq!(conns(&after), [0, 1]);
            assert_eq!(after.services[0].packets_in, 0);
            assert_eq!(after.backends.iter().map(|b| b.conns).sum::<u64>(), 1);
            assert_eq!(after.drops.iter().collect::<Vec<_>>(), drops, "drops stay");
            // All.
            answer(&mut p, Query::Zero { service: None });
            let zero = stats(&mut p);
            assert_eq!(conns(&zero), [0, 0]);
            assert!(zero.backends.iter().chain(&zero.snat).all(|f| f.conns == 0));
            assert!(zero.snat.iter().all(|f| f.packets_in == 0));
        }

        #[test]
        fn a_listing_walks_the_table_a_slice_per_poll() {
            let capacity = 3 * LIST_SLOTS_PER_POLL + 100;
            let (_, mut p) = busy(capacity);
            let (a, polls) = answer(
                &mut p,
                Query::Sessions {
                    filter: SessionFilter::default(),
                    limit: 100,
                },
            );
            assert!(matches!(a, Answer::Sessions(ref v, false) if v.len() == 5));
            assert_eq!(
                polls, 4,
                "each poll visits at most {LIST_SLOTS_PER_POLL} slots"
            );
            // Enough matches end the walk early.
            let (_, polls) = answer(
                &mut p,
                Query::Sessions {
                    filter: SessionFilter::default(),
                    limit: 1,
                },
            );
            assert_eq!(polls, 1);
        }

        #[test]
        fn ask_gives_up_when_nobody_serves_the_mailbox() {
            let shared = WorkerShared::default();
            assert!(shared
                .ask(Query::Stats, Duration::from_millis(20))
                .is_none());
            // More questions than the mailbox holds: the rest wait, then give up.
            for _ in 0..MAILBOX_CAPACITY + 2 {
                assert!(shared.ask(Query::Stats, Duration::from_millis(1)).is_none());
            }
            assert_eq!(shared.generation.load(Ordering::Relaxed), 0);
        }

        /// A clock that moves 100 ticks at every read, 1000 to the ms.
        struct StepClock(u64);

        impl Clock for StepClock {
            fn ticks(&mut self) -> u64 {
                self.0 += 100;
                self.0
            }
            fn ticks_per_ms(&self) -> u64 {
                1000
            }
        }

        #[test]
        fn busy_time_counts_the_polls_with_packets_only() {
            let (cfg, mut p) = busy(1024);
            let tables = Arc::new(LbTables::build(&cfg).expect("builds"));
            p.adopt(Arc::clone(&tables), 0);
            let live = LiveTables::new(tables);
            let shared = WorkerShared::default();
            // 40 frames: a burst of 32 and one of 8, whatever becomes of
            // them (these are not even IPv4).
            let mut io = MemoryIo::new(vec![super::frames(0, 40)]);
            let mut clock = StepClock(0);
            std::thread::scope(|scope| {
                let (io, p, shared_w, live_w, clock) =
                    (&mut io, &mut p, &shared, &live, &mut clock);
                scope.spawn(move || {
                    run_pipeline(
                        io,
                        p,
                        shared_w,
                        live_w,
                        clock,
                        Some(Duration::from_millis(20)),
                    )
                });
                wait_for("idle", || shared.counters.idle.load(Ordering::Relaxed));
                shared.stop.store(true, Ordering::Relaxed);
            });
            let stats = shared.counters.snapshot();
            assert_eq!(stats.rx_packets, 40);
            assert_eq!(stats.rx_bursts, 2);
            // Each poll reads the clock at its start; the two with packets
            // read it again at their end, 100 ticks later.
            assert_eq!(stats.busy_ticks, 200);
            assert_eq!(stats.ticks_per_second, 1_000_000);
            // Every other poll moved the clock too: the idle wait took many.
            assert!(stats.ticks > 10 * stats.busy_ticks, "{stats:?}");
            let before = WorkerStats {
                rx_packets: 0,
                busy_ticks: 0,
                ticks: 0,
                ..stats
            };
            assert_eq!(stats.ticks_per_packet_since(&before), Some(5.0));
            assert_eq!(stats.ticks_per_packet_since(&stats), None);
            assert_eq!(stats.busy_since(&stats), None);
            let share = stats.busy_since(&before).expect("ticks moved");
            assert!(share > 0.0 && share < 0.1, "{share}");
        }

        #[test]
        fn a_running_pipeline_adopts_new_tables_and_answers_questions() {
            let (mut cfg, mut p) = busy(1024);
            // RIP2 is learned by ARP rather than configured.
            cfg.neighbours.retain(|(a, _)| *a != ip(RIP2));
            let tables = Arc::new(LbTables::build(&cfg).expect("builds"));
            p.adopt(Arc::clone(&tables), 0);
            let arp_reply = arp_frame(2, (RS2, RIP2), (OURS, [10, 0, 1, 1]));
            run(&mut p, &[arp_reply], 0);
            let live = LiveTables::new(tables);
            let shared = WorkerShared::default();
            let mut io = MemoryIo::new(vec![Vec::new()]);
            std::thread::scope(|scope| {
                let (io, p, shared_w, live_w) = (&mut io, &mut p, &shared, &live);
                scope.spawn(move || {
                    let mut clock = SystemClock(Instant::now());
                    run_pipeline(io, p, shared_w, live_w, &mut clock, None)
                });
                wait_for("generation 1", || {
                    shared.generation.load(Ordering::Acquire) == 1
                });

                let Some(Answer::Stats(stats)) = shared.ask(Query::Stats, PATIENCE) else {
                    panic!("stats");
                };
                assert_eq!(stats.generation, 1);
                assert_eq!(stats.sessions.services, vec![3, 1]);
                assert_eq!(stats.sessions.snat, vec![1]);
                assert_eq!(stats.sessions.backends[1].inactive, 1);
                assert_eq!(stats.counters.services[0].conns, 3);

                let Some(Answer::Sessions(list, false)) = shared.ask(
                    Query::Sessions {
                        filter: SessionFilter {
                            client: Some(ip(OTHER)),
                            ..SessionFilter::default()
                        },
                        limit: 10,
                    },
                    PATIENCE,
                ) else {
                    panic!("sessions");
                };
                assert_eq!(list.len(), 1);
                assert_eq!(list[0].backend, (ip(RIP1).into(), 8080));

                let Some(Answer::Neighbours(n)) = shared.ask(Query::Neighbours, PATIENCE) else {
                    panic!("neighbours");
                };
                assert_eq!(
                    n,
                    vec![NeighbourView {
                        addr: ip(RIP2).into(),
                        mac: Some(MacAddr(RS2)),
                        state: "reachable",
                    }]
                );

                // Generation 2 deletes RIP1 and flushes its sessions.
                cfg.services[0].backends.remove(0);
                let flush = FlushRequest {
                    backends: vec![(key(IpProto::TCP, 80), ip(RIP1).into(), 8080)],
                    ..FlushRequest::default()
                };
                let next = LbTables::build_next(&cfg, &live.current(), &flush).expect("builds");
                assert_eq!(live.publish(Arc::new(next)), 2);
                wait_for("generation 2", || {
                    shared.generation.load(Ordering::Acquire) == 2
                });
                let Some(Answer::Stats(stats)) = shared.ask(Query::Stats, PATIENCE) else {
                    panic!("stats");
                };
                assert_eq!(stats.generation, 2);
                assert_eq!(stats.counters.events.sessions_flushed, 2);
                assert_eq!(stats.sessions.services, vec![1, 1]);
                assert_eq!(stats.counters.services[0].conns, 3, "kept by id");
                shared.stop.store(true, Ordering::Relaxed);
            });
            assert_eq!(shared.generation.load(Ordering::Relaxed), 0);
            assert_eq!(
                p.tables().backends[0].state,
                crate::tables::Lifecycle::Flushed
            );
        }
    }
}
