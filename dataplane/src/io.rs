//! Packet I/O as the worker sees it: bursts in, bursts out.
//!
//! The worker loop is generic over [`PacketIo`], so it runs on DPDK queues in
//! the appliance ([`crate::dpdk::DpdkIo`]) and on in-memory queues in tests
//! ([`MemoryIo`], feature `testing`).

use arrayvec::ArrayVec;

use crate::buf::PacketBuf;

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
    /// The port is a bond that had no member to send on when it refused
    /// them (none with link; 802.3ad: none distributing): the refusal is
    /// that, not a full queue.
    pub no_member: bool,
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

    /// An empty buffer for reassembling a datagram (`frag::reasm`): as
    /// large as a buffer gets (65535 bytes of room, headroom included, in
    /// the appliance), or `None` when there is none.
    fn alloc_reasm(&mut self) -> Option<Self::Packet>;
}

#[cfg(any(test, feature = "testing"))]
mod memory;
#[cfg(any(test, feature = "testing"))]
pub use memory::MemoryIo;
