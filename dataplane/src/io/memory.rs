//! In-memory packet I/O for unit tests, benches and the fuzzer (feature
//! `testing`).

use std::collections::VecDeque;

use super::{Burst, PacketIo, TxOutcome};
use crate::buf::{PacketBuf, TestBuf, DEFAULT_HEADROOM};

/// In-memory ports for tests: RX from a queue of frames, TX into a list,
/// with an optional TX capacity per burst to exercise "TX full".
#[derive(Debug, Default)]
pub struct MemoryIo {
    pub rx: Vec<VecDeque<TestBuf>>,
    pub tx: Vec<Vec<TestBuf>>,
    /// At most this many packets are accepted per TX burst (None: all).
    pub tx_limit: Option<usize>,
    /// Reassembly buffers still to give (None: any number).
    pub reasm_limit: Option<usize>,
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
            reasm_limit: None,
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

    /// As the appliance's reassembly pool gives: 65535 bytes of room,
    /// the usual headroom in front. None once `reasm_limit` are out.
    fn alloc_reasm(&mut self) -> Option<TestBuf> {
        if self.reasm_limit == Some(0) {
            return None;
        }
        if let Some(n) = self.reasm_limit.as_mut() {
            *n -= 1;
        }
        Some(TestBuf::with_room(
            &[],
            DEFAULT_HEADROOM,
            usize::from(u16::MAX) - DEFAULT_HEADROOM,
        ))
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
