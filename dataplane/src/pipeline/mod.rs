//! The per-packet decision: the one place where the packet core, the flow
//! state, the schedulers and the network tables meet.
//!
//! Read it in this order, the order a packet takes:
//!
//! 1. [`Pipeline::poll`] (here): RX bursts from every port, then what other
//!    workers handed over, one TX burst per port, the timers.
//! 2. `burst.rs`: a burst classified, handed to its owner or prefetched,
//!    then walked packet by packet, a burst's new flows planned first.
//! 3. `decide.rs`: what a packet is to us, a plain [`decide::Step`]: drop,
//!    forward on a session, open a flow, answer, translate an error.
//! 4. `act.rs`: the step carried out; a session's packet rewritten as its
//!    mode says (DR, TUN, NAT, FULLNAT, SNAT).
//! 5. `egress.rs`: route, VLAN, neighbour (or ARP and a wait), TX buffer;
//!    `egress6.rs` the same for an IPv6 next hop (Neighbour Solicitation).
//!
//! `local.rs` holds what the appliance answers for itself (ARP, neighbours
//! shared between workers), `local6.rs` the same for IPv6 (Neighbour
//! Discovery, echo); `adopt.rs` the switch to new tables;
//! `inspect.rs` the answers to the control thread's questions.
//! `docs/load-balancing.md` states the behaviour these implement.
//!
//! Nothing here allocates, locks or makes a syscall per packet: the tables
//! are built before the first burst, the session table and port pools are
//! preallocated, and originated packets (ARP requests) come from the
//! packet I/O's pool. New tables are adopted between polls
//! ([`Pipeline::adopt`]); that, and answering queries (`inspect`), may
//! allocate.

mod act;
mod adopt;
mod burst;
mod client_addr;
mod client_addr6;
pub mod counters;
mod decide;
mod egress;
mod egress6;
mod explain;
mod explain6;
mod forward6;
mod fragment;
mod fragment6;
mod garp;
pub mod inspect;
mod kernel;
pub mod l2;
mod local;
mod local6;
mod mtu;
mod mtu6;
mod nat6;
mod nat64;
mod nat64_error6;
mod nat64_frag;
mod nat6_error;
mod ops6;
mod proxy_tcp;
mod reasm;
pub mod redirect;
mod snat6;
mod sync;
mod sync6;
mod synproxy;
mod synproxy_early;
mod synproxy_reset;
mod trace6;
mod tun6;
mod unreachable;

use std::sync::Arc;

use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::state::SessionCounts;
use crate::flow::FlowState;
use crate::frag::decision6::FragDecision6;
use crate::frag::reasm::ReasmTable;
use crate::frag::{FragDecision, FragKey6, FragTable};
use crate::io::{Burst, PacketIo, BURST_SIZE};
use crate::net::icmp::TokenBucket;
use crate::tables::LbTables;
use crate::watch::{TraceStep, Watch, WatchSpec};
use burst::{Received, Waiting};
use counters::LbCounters;
use egress::Egress;
use garp::Garp;
use kernel::{KernelState, KERNEL_WORKER};
use redirect::WorkerLinks;

/// Sessions expired per housekeeping pass (once per millisecond at most).
const EXPIRE_BUDGET: usize = 1024;
/// ICMP errors we send: a burst of 50, then one per millisecond (Linux's
/// icmp_msgs_burst and icmp_msgs_per_sec).
const ICMP_BURST: u32 = 50;

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
    path: Datapath<P>,
}

/// Everything one worker's packet path owns and writes: its flows, its
/// egress (neighbours, resolved hops, TX buffers), its counters and its
/// rings to the other workers.
struct Datapath<P> {
    flow: FlowState,
    egress: Egress<P>,
    icmp_limit: TokenBucket,
    counters: LbCounters,
    /// The burst being handled, classified (empty between bursts). A
    /// vector with room for a burst, taken and put back, so a burst's
    /// records are written once and never copied as a whole.
    batch: Vec<Received<P>>,
    /// The packets of the burst that wait for its new flows' sessions
    /// (empty between bursts; room for a burst, like `batch`).
    waiting: Vec<Waiting<P>>,
    last_housekeeping_ms: u64,
    last_neighbour_expiry_ms: u64,
    /// Rings to and from the other workers (several workers only).
    links: Option<WorkerLinks<P>>,
    /// Frames for the ports' kernel interfaces (`kernel.rs`).
    kernel: KernelState<P>,
    /// Gratuitous ARP still to send (worker 0).
    garp: Garp,
    /// Trace and capture (`crate::watch`), usually disarmed.
    watch: Box<Watch>,
    /// Whether anything is armed in `watch`: the flag tested where a
    /// packet comes in (a plain field, no pointer to follow).
    watching: bool,
    /// Whether `watch` may have work past a packet's arrival: a traced
    /// packet in hand or parked, or a capture (which copies sent frames).
    /// The flag every later step tests, so a trace armed on a filter the
    /// traffic does not match costs those steps no more than nothing
    /// armed. Set when a trace starts, recomputed at each burst.
    watch_busy: bool,
    /// Session sync with peer nodes, when it is on (`sync.rs`).
    sync: Option<sync::SyncState>,
    /// Datagrams whose fragments this worker owns (`fragment.rs`).
    frags: FragTable<P, FragDecision>,
    /// IPv6 datagrams whose fragments this worker owns (`fragment6.rs`).
    frags6: FragTable<P, FragDecision6, FragKey6>,
    /// How the first fragment in hand was forwarded (set by `act.rs`).
    frag_decided: Option<FragDecision>,
    /// How the first IPv6 fragment in hand was forwarded without a
    /// session (a one-packet datagram, set by `ops6.rs`).
    frag_decided6: Option<FragDecision6>,
    /// The IPv6 addresses of NAT64 reply datagrams (`nat64_frag.rs`).
    nat64_frags: nat64_frag::Nat64Frags,
    /// Datagrams being reassembled (`reasm.rs`).
    reasm: ReasmTable<P>,
    /// SYN cookies and proxied sessions' splices (`synproxy.rs`).
    synproxy: synproxy::SynProxyState<P>,
    /// The PROXY header's shifts of IPv6 sessions (`client_addr6.rs`).
    shifts6: client_addr6::Shifts6,
    /// The identification of the last IPv4 packet NAT64 made (`nat64.rs`).
    nat64_ident: u16,
}

/// What every step of the packet path reads: the tables, this worker's
/// ports, and the clock (milliseconds, read once per poll).
struct Cx<'a, I> {
    t: &'a LbTables,
    io: &'a mut I,
    now: u64,
}

/// Where a packet came in: the port, and the L3 interface its VLAN (or
/// none) on that port makes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ingress {
    port: u16,
    iface: u16,
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
        let mut garp = Garp::default();
        if worker_index == KERNEL_WORKER {
            garp.add(garp::plan(&tables, None), now_ms);
        }
        let flow = FlowState::new(&tables, worker_index, worker_count, now_ms)?;
        let capacity = flow.sessions().capacity();
        let mut shifts6 = client_addr6::Shifts6::default();
        shifts6.fit(&tables, flow.sessions6().capacity());
        let path = Datapath {
            shifts6,
            synproxy: synproxy::SynProxyState::new(
                &tables,
                (capacity, flow.sessions6().capacity()),
                now_ms,
            )?,
            kernel: KernelState::new(&tables, worker_index, worker_count),
            garp,
            flow,
            egress: Egress::new(&tables),
            icmp_limit: TokenBucket::new(ICMP_BURST, 1, now_ms),
            batch: Vec::with_capacity(BURST_SIZE),
            waiting: Vec::with_capacity(BURST_SIZE),
            counters: LbCounters::new(
                tables.services.len(),
                tables.backends.len(),
                tables.snat.len(),
            ),
            last_housekeeping_ms: now_ms,
            last_neighbour_expiry_ms: now_ms,
            links: None,
            watch: Box::new(Watch::new(worker_index)),
            watching: false,
            watch_busy: false,
            sync: None,
            frags: FragTable::new(),
            frags6: FragTable::new(),
            frag_decided: None,
            frag_decided6: None,
            nat64_frags: nat64_frag::Nat64Frags::new(),
            reasm: ReasmTable::new(),
            nat64_ident: 0,
        };
        Ok(Pipeline { tables, path })
    }

    /// Joins this worker to the others: from now on it hands packets it
    /// does not own to their owner, takes what the others hand it, and
    /// shares the neighbours it learns. `links` must be this worker's
    /// element of [`redirect::mesh`] for as many workers as `new` was told.
    pub fn connect(&mut self, links: WorkerLinks<P>) -> Result<(), String> {
        let (index, count) = self.path.flow.worker();
        if links.index() != index || links.workers() != count {
            return Err(format!(
                "links of worker {} of {} given to worker {index} of {count}",
                links.index(),
                links.workers(),
            ));
        }
        self.path.links = (links.workers() > 1).then_some(links);
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
        let path = &mut self.path;
        let mut cx = Cx {
            t: &self.tables,
            io,
            now: now_ms,
        };
        path.egress.sync_hops(now_ms);
        let (mut received, mut bursts) = (0, 0);
        let ports = cx.io.port_count().min(cx.t.ports.len());
        for port in 0..ports {
            let mut burst: Burst<P> = Burst::new();
            cx.io.rx_burst(port, &mut burst);
            received += burst.len();
            if !burst.is_empty() {
                bursts += 1;
                path.process_burst(&mut cx, port as u16, &mut burst);
            }
        }
        let handed_in = path.take_handoffs(&mut cx);
        path.sync_receive(&mut cx);
        // Worker 0's millisecond tick: the kernel interfaces read, and
        // gratuitous ARP (both off the per-packet path).
        path.kernel_receive(&mut cx);
        path.send_garps(&mut cx);
        for port in 0..ports {
            path.flush(&mut cx, port);
        }
        path.kernel_flush(&mut cx);
        if now_ms != path.last_housekeeping_ms {
            path.sync_dump_step(cx.t, now_ms);
            path.housekeeping(now_ms);
            path.synproxy_auto(cx.t);
        }
        let (sent, tx_dropped) = path.egress.take_tx_totals();
        PollOutcome {
            received,
            bursts,
            sent,
            tx_dropped,
            handed_in,
        }
    }

    /// Queues gratuitous ARP for the owned addresses of port `port`'s
    /// interfaces, sent from the next tick ([garp] count times, as at
    /// start); how many announcements. Between polls only; only the
    /// worker that sends gratuitous ARP (worker 0) has any to send.
    pub fn announce_port(&mut self, port: u16, now_ms: u64) -> usize {
        if self.path.flow.worker().0 != KERNEL_WORKER {
            return 0;
        }
        let plan = garp::plan_port(&self.tables, port);
        let n = plan.len();
        self.path.garp.add(plan, now_ms);
        n
    }

    /// Arms (or, with an empty spec, disarms) a trace or capture on this
    /// worker. Between polls only.
    pub fn arm_watch(&mut self, spec: WatchSpec) {
        self.path.watch.arm(spec);
        self.path.watching = self.path.watch.armed();
        self.path.watch_busy = self.path.watch.busy();
    }

    /// The counters, each service's the sum of its backends'.
    pub fn counters(&self) -> LbCounters {
        let mut c = self.path.counters.clone();
        c.sum_services(&self.tables.backends);
        c
    }

    /// Live sessions by service, backend (active and inactive) and SNAT
    /// rule id, from counts kept as sessions come and go: no table walk.
    pub fn session_counts(&self) -> SessionCounts {
        self.path.flow.session_counts()
    }
}

impl<P: PacketBuf> Datapath<P> {
    /// Drops a packet as `reason`: counted, and if the packet is traced,
    /// recorded with the line that dropped it.
    #[inline]
    #[track_caller]
    fn drop(&mut self, reason: DropReason) {
        self.counters.drops.count(reason);
        if self.tracing() {
            self.watch.dropped(reason, std::panic::Location::caller());
        }
    }

    /// Whether the packet in hand is traced.
    #[inline(always)]
    fn tracing(&self) -> bool {
        self.watch_busy && self.watch.tracing()
    }

    /// The packet in hand is done with: its record (if any) leaves.
    #[inline(always)]
    fn trace_finish(&mut self) {
        if self.watch_busy {
            self.watch.finish();
        }
    }

    /// The packet in hand waits in the burst: its record (if any) is
    /// parked under `pkt`'s buffer.
    #[inline(always)]
    fn trace_suspend(&mut self, key: usize) {
        if self.watch_busy {
            self.watch.suspend(key);
        }
    }

    /// The buffer address a parked trace record is found by.
    #[inline(always)]
    fn trace_key(pkt: &P) -> usize {
        pkt.data().as_ptr() as usize
    }

    /// Makes `pkt`'s trace record (if any) the one in hand: before a
    /// packet of the burst is decided or acted on.
    #[inline(always)]
    fn trace_resume(&mut self, pkt: &P) {
        if self.watch_busy {
            self.watch.resume(Self::trace_key(pkt));
        }
    }

    /// Records what `decide` chose for the traced packet in hand.
    #[cold]
    fn trace_decision(&mut self, step: &decide::Step) {
        use decide::Step;
        let w = &mut self.watch;
        match *step {
            Step::Drop(_) => {}
            Step::TranslateError(_) | Step::Nat64Error => w.step(TraceStep::IcmpErrorTranslated),
            Step::Forward { at, hit } => {
                w.step(TraceStep::Interface(at.iface));
                w.step(TraceStep::SessionHit {
                    session: hit.id.index() as u32,
                    inbound: hit.dir == crate::flow::Direction::Inbound,
                });
            }
            Step::ReuseThenOpen { at, old } => {
                w.step(TraceStep::Interface(at.iface));
                w.step(TraceStep::PortReused {
                    session: old.id.index() as u32,
                });
            }
            Step::AnswerEcho { .. } => w.step(TraceStep::AnswerEcho),
            // A NAT64 reply was an `Open` refused by the planner: the same
            // steps.
            Step::Open { at } | Step::Nat64Reply { at } => {
                w.step(TraceStep::Interface(at.iface));
                w.step(TraceStep::SessionMiss);
            }
            Step::ToKernel { port } => w.step(TraceStep::ToKernel { port }),
            Step::Fragment { at } => w.step(TraceStep::Interface(at.iface)),
            Step::SynProxy { at } => {
                w.step(TraceStep::Interface(at.iface));
                w.step(TraceStep::SessionMiss);
            }
        }
    }

    /// Session expiry (every millisecond) and neighbour give-ups (every
    /// 100 ms), off the per-packet path.
    fn housekeeping(&mut self, now: u64) {
        self.last_housekeeping_ms = now;
        self.counters.events.sessions_expired += self.flow.expire(now, EXPIRE_BUDGET);
        self.synproxy.rotate_if_due(now);
        if now.saturating_sub(self.last_neighbour_expiry_ms) >= 100 {
            self.last_neighbour_expiry_ms = now;
            let unresolved = self.egress.expire_neighbours(now);
            self.counters
                .drops
                .count_n(DropReason::NeighbourUnresolved, unresolved);
            self.expire_fragments(now);
            self.expire_fragments6(now);
            self.expire_reassembly(now);
            self.sweep_early();
        }
    }
}

#[cfg(test)]
mod acl6_tests;
#[cfg(test)]
mod adopt_tests;
#[cfg(test)]
mod batch_tests;
#[cfg(test)]
mod client_addr6_tests;
#[cfg(test)]
mod client_addr_tests;
#[cfg(test)]
mod forward6_tests;
#[cfg(test)]
mod fragment6_tests;
#[cfg(test)]
mod fragment_tests;
#[cfg(test)]
mod fullnat6_tests;
#[cfg(test)]
mod garp_tests;
#[cfg(test)]
mod inspect6_tests;
#[cfg(test)]
mod kernel_tests;
#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod listen_tests;
#[cfg(test)]
mod local6_tests;
#[cfg(test)]
mod mld_tests;
#[cfg(test)]
mod multi_segment_tests;
#[cfg(test)]
mod nat64_frag_tests;
#[cfg(test)]
mod nat64_tests;
#[cfg(test)]
mod nat6_error_shift_tests;
#[cfg(test)]
mod nat6_error_tests;
#[cfg(test)]
mod nat6_tests;
#[cfg(test)]
mod nd_resolve_tests;
#[cfg(test)]
mod ops6_tests;
#[cfg(test)]
mod pickup_tests;
#[cfg(test)]
mod proxy_tcp_tests;
#[cfg(test)]
mod reasm_tests;
#[cfg(test)]
mod reuse_tests;
#[cfg(test)]
mod route6_tests;
#[cfg(test)]
mod snat6_sync_tests;
#[cfg(test)]
mod snat6_tests;
#[cfg(test)]
mod sync6_tests;
#[cfg(test)]
mod sync_splice_tests;
#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod synproxy6_sync_tests;
#[cfg(test)]
mod synproxy6_tests;
#[cfg(test)]
mod synproxy_early_tests;
#[cfg(test)]
mod synproxy_reset_tests;
#[cfg(test)]
mod synproxy_tests;
#[cfg(test)]
mod synproxy_toa_tests;
#[cfg(test)]
mod synproxy_window_tests;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod trace6_tests;
#[cfg(test)]
mod trace_tests;
#[cfg(test)]
mod tun6_tests;
#[cfg(test)]
mod unreachable_tests;
#[cfg(test)]
mod vrrp_tests;
#[cfg(test)]
pub(crate) mod workers_tests;
