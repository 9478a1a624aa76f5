//! Safe wrappers over DPDK: the only `unsafe` code outside `dpdk-sys`.
//!
//! Each type owns one DPDK resource and releases it on drop, so an error at
//! any point of start-up unwinds what was already set up:
//!
//! - [`Eal`]: the environment abstraction layer, initialised once per process;
//! - [`Mempool`]: a pool of packet buffers;
//! - [`Mbuf`]: one packet buffer, freed on drop, implementing
//!   [`PacketBuf`](crate::buf::PacketBuf);
//! - [`Port`]: an ethdev port with its queues; [`RxQueue`]/[`TxQueue`] are the
//!   per-worker handles on one queue each, moved to the worker that owns them;
//! - [`LocalPortSteering`]: rte_flow rules that send replies to local
//!   ports to the owning worker's queue, destroyed on drop;
//! - [`prefetch0`] and [`advise_huge_pages`]: a cache prefetch and a
//!   huge-page request for the session table;
//! - [`DpdkIo`]: a worker's queues of every port, implementing
//!   [`PacketIo`](crate::io::PacketIo);
//! - [`TscClock`]: the workers' millisecond clock from the TSC.

mod clock;
mod eal;
mod error;
mod flow;
mod hints;
mod io;
mod mbuf;
mod mempool;
mod port;

pub use clock::TscClock;
pub use eal::{Eal, EalArgs, EalToken, ThreadRegistration};
pub use error::DpdkError;
pub use flow::{steer_rules, LocalPortSteering, SteerProto, SteerRule, SteerTarget};
pub use hints::{advise_huge_pages, prefetch0};
pub use io::DpdkIo;
pub use mbuf::Mbuf;
pub use mempool::Mempool;
pub use port::{LinkStatus, Port, PortConfig, PortStats, RxQueue, TxQueue};
