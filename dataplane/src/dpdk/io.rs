use super::{Mbuf, Mempool, RxQueue, TxQueue};
use crate::io::{Burst, PacketIo, TxOutcome};

/// One worker's queues: for every port (in config order) the RX and TX queue
/// with the worker's index.
#[derive(Debug)]
pub struct DpdkIo<'port> {
    queues: Vec<(RxQueue<'port>, TxQueue<'port>)>,
    /// Where packets we originate come from.
    pool: &'port Mempool,
    /// Where reassembled datagrams are gathered (65535-byte buffers).
    reasm: Option<&'port Mempool>,
}

impl<'port> DpdkIo<'port> {
    pub fn new(queues: Vec<(RxQueue<'port>, TxQueue<'port>)>, pool: &'port Mempool) -> Self {
        DpdkIo {
            queues,
            pool,
            reasm: None,
        }
    }

    /// Reassembled datagrams are gathered in buffers from `pool`.
    pub fn with_reasm_pool(mut self, pool: &'port Mempool) -> Self {
        self.reasm = Some(pool);
        self
    }
}

impl PacketIo for DpdkIo<'_> {
    type Packet = Mbuf;

    fn port_count(&self) -> usize {
        self.queues.len()
    }

    #[inline]
    fn rx_burst(&mut self, port: usize, burst: &mut Burst<Mbuf>) {
        let rx = &self.queues[port].0;
        let have = burst.len();
        let room = (burst.capacity() - have) as u16;
        // SAFETY: Mbuf is repr(transparent) over a non-null `rte_mbuf *`, so
        // the burst's spare capacity is an array of `room` mbuf pointers for
        // rte_eth_rx_burst to fill; it returns how many it wrote (<= room),
        // each an mbuf now owned by us, so extending the length by that many
        // makes the burst own exactly the initialised entries. This worker
        // has exclusive use of the queue (RxQueue is not Clone).
        unsafe {
            let dst = burst.as_mut_ptr().add(have) as *mut *mut dpdk_sys::rte_mbuf;
            let got = dpdk_sys::rte_eth_rx_burst(rx.port, rx.queue, dst, room);
            burst.set_len(have + got as usize);
        }
        let tx = &self.queues[port].1;
        if tx.lacp_flush {
            let mut none: [*mut dpdk_sys::rte_mbuf; 1] = [std::ptr::null_mut()];
            // SAFETY: a burst of zero packets: the bond reads no entry of
            // the array and sends only its own queued LACPDUs. This worker
            // has exclusive use of the queue.
            unsafe { dpdk_sys::rte_eth_tx_burst(tx.port, tx.queue, none.as_mut_ptr(), 0) };
        }
    }

    fn alloc(&mut self) -> Option<Mbuf> {
        self.pool.alloc()
    }

    fn alloc_reasm(&mut self) -> Option<Mbuf> {
        self.reasm.and_then(Mempool::alloc)
    }

    #[inline]
    fn tx_burst(&mut self, port: usize, burst: &mut Burst<Mbuf>) -> TxOutcome {
        let n = burst.len();
        if n == 0 {
            return TxOutcome::default();
        }
        let tx = &self.queues[port].1;
        // SAFETY: the burst holds n owned mbuf pointers (repr(transparent)).
        // rte_eth_tx_burst takes ownership of the first `sent` of them; we
        // clear the burst's length first so it no longer owns any, then free
        // the unsent tail ourselves: every mbuf ends with exactly one owner.
        // This worker has exclusive use of the queue (TxQueue is not Clone).
        let sent = unsafe {
            let pkts = burst.as_mut_ptr() as *mut *mut dpdk_sys::rte_mbuf;
            let sent = dpdk_sys::rte_eth_tx_burst(tx.port, tx.queue, pkts, n as u16) as usize;
            burst.set_len(0);
            if sent < n {
                dpdk_sys::rte_pktmbuf_free_bulk(pkts.add(sent), (n - sent) as u32);
            }
            sent
        };
        TxOutcome {
            sent,
            dropped: n - sent,
            // Only on a refusal, and only for a bond: a few reads of its state.
            no_member: sent < n && tx.bond && !super::bond::can_send(tx.port),
        }
    }
}
