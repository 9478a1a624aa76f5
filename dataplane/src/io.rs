//! Packet I/O as the worker sees it: bursts in, bursts out.
//!
//! The worker loop is generic over [`PacketIo`], so it runs on DPDK queues in
//! the appliance ([`crate::dpdk::DpdkIo`]) and on in-memory queues in tests
//! ([`MemoryIo`]).

use std::collections::VecDeque;

use arrayvec::ArrayVec;

use crate::buf::{PacketBuf, TestBuf};

/// Packets per RX and TX burst, as in DPDK's examples and testpmd.
pub const BURST_SIZE: usize = 32;

/// A burst of owned packets. Dropping it frees whatever it still holds.
pub type Burst<P> = ArrayVec<P, BURST_SIZE>;

/// What happened to a TX burst.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxOutcome {
    /// Packets the port accepted.
    pub sent: usize,
    /// Packets the port had no room for; they were freed.
    pub dropped: usize,
}

/// One worker's view of its queues: RX queue *i* and TX queue *i* of every
/// port, addressed by port index (the order of the ports in the config).
pub trait PacketIo {
    type Packet: PacketBuf;

    /// Number of ports this worker can reach.
    fn port_count(&self) -> usize;

    /// Receives up to the burst's free capacity from `port`, appending.
    fn rx_burst(&mut self, port: usize, burst: &mut Burst<Self::Packet>);

    /// Hands every packet in `burst` to `port` and leaves `burst` empty:
    /// what the port does not accept is freed and counted in the outcome.
    fn tx_burst(&mut self, port: usize, burst: &mut Burst<Self::Packet>) -> TxOutcome;

    /// A fresh, empty packet buffer for packets we originate (ARP
    /// requests), or `None` when the pool is empty.
    fn alloc(&mut self) -> Option<Self::Packet>;
}

/// In-memory ports for tests: RX from a queue of frames, TX into a list,
/// with an optional TX capacity per burst to exercise "TX full".
#[derive(Debug, Default)]
pub struct MemoryIo {
    pub rx: Vec<VecDeque<TestBuf>>,
    pub tx: Vec<Vec<TestBuf>>,
    /// At most this many packets are accepted per TX burst (None: all).
    pub tx_limit: Option<usize>,
}

impl MemoryIo {
    /// `ports` ports, each receiving the frames given for it.
    pub fn new(rx_frames: Vec<Vec<Vec<u8>>>) -> Self {
        let ports = rx_frames.len();
        MemoryIo {
            rx: rx_frames
                .into_iter()
                .map(|frames| frames.iter().map(|f| TestBuf::new(f)).collect())
                .collect(),
            tx: vec![Vec::new(); ports],
            tx_limit: None,
        }
    }

    /// Frames transmitted on `port`, in order.
    pub fn sent_frames(&self, port: usize) -> Vec<Vec<u8>> {
        self.tx[port].iter().map(|b| b.data().to_vec()).collect()
    }
}

impl PacketIo for MemoryIo {
    type Packet = TestBuf;

    fn port_count(&self) -> usize {
        self.rx.len()
    }

    fn rx_burst(&mut self, port: usize, burst: &mut Burst<TestBuf>) {
        while !burst.is_full() {
            match self.rx[port].pop_front() {
                Some(p) => burst.push(p),
                None => break,
            }
        }
    }

    fn alloc(&mut self) -> Option<TestBuf> {
        Some(TestBuf::new(&[]))
    }

    fn tx_burst(&mut self, port: usize, burst: &mut Burst<TestBuf>) -> TxOutcome {
        let limit = self.tx_limit.unwrap_or(usize::MAX);
        let mut outcome = TxOutcome::default();
        for p in burst.drain(..) {
            if outcome.sent < limit {
                self.tx[port].push(p);
                outcome.sent += 1;
            } else {
                outcome.dropped += 1;
            }
        }
        outcome
    }
}
