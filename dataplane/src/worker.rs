//! The poll loop a worker runs on its core.
//!
//! Run to completion: receive a burst from each port's queue, decide for every
//! packet, transmit one burst per destination port, repeat. Nothing here
//! allocates, locks or makes a syscall per packet; the only shared writes are
//! the worker's own counters, in a cache line of their own, published once per
//! burst so another thread can read them while the worker runs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::forward::ForwardPlan;
use crate::io::{Burst, PacketIo};
use crate::pipeline::Pipeline;

/// A worker's counters, written only by that worker.
#[derive(Debug, Default)]
pub struct WorkerCounters {
    pub rx_packets: AtomicU64,
    pub tx_packets: AtomicU64,
    /// Packets the TX queue had no room for (freed).
    pub tx_dropped: AtomicU64,
    /// Non-empty RX bursts.
    pub rx_bursts: AtomicU64,
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
}

impl WorkerCounters {
    pub fn snapshot(&self) -> WorkerStats {
        WorkerStats {
            rx_packets: self.rx_packets.load(Ordering::Relaxed),
            tx_packets: self.tx_packets.load(Ordering::Relaxed),
            tx_dropped: self.tx_dropped.load(Ordering::Relaxed),
            rx_bursts: self.rx_bursts.load(Ordering::Relaxed),
        }
    }
}

/// What a worker shares with the main thread: its counters (padded to their
/// own cache lines) and the stop request.
#[derive(Debug, Default)]
pub struct WorkerShared {
    pub counters: CachePadded<WorkerCounters>,
    pub stop: CachePadded<AtomicBool>,
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

/// Runs the load-balancing pipeline until `shared.stop` is set; `idle_after`
/// as for [`run_forwarding`]. The pipeline's clock is milliseconds since
/// `epoch` (read once per poll, from the vDSO: no syscall).
pub fn run_pipeline<I: PacketIo>(
    io: &mut I,
    pipeline: &mut Pipeline<I::Packet>,
    shared: &WorkerShared,
    epoch: Instant,
    idle_after: Option<Duration>,
) {
    let counters = &shared.counters;
    let mut idle = IdleTracker::new(idle_after);
    while !shared.stop.load(Ordering::Relaxed) {
        let now_ms = epoch.elapsed().as_millis() as u64;
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
        idle.update(out.received, counters);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::{ForwardMode, Topology};
    use crate::io::MemoryIo;
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
}
