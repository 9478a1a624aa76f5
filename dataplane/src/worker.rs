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
    /// The same of an IPv6 flow (`Pipeline::explain6`).
    Explain6(crate::tuple::FiveTuple6),
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
                Query::Explain6(tuple) => {
                    let _ = request
                        .reply
                        .send(Answer::Explained(pipeline.explain6(&tuple)));
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
#[path = "worker_tests.rs"]
mod tests;
