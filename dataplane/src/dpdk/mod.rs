//! Safe wrappers over DPDK: the only `unsafe` code outside `dpdk-sys`.
//!
//! Everything here needs the `dpdk` feature except [`hints`] (a cache
//! prefetch and a huge-page request), which needs `unsafe` but no DPDK and is
//! always compiled, so tests and benchmarks run the code the appliance runs.
//!
//! Each type owns one DPDK resource and releases it on drop, so an error at
//! any point of start-up unwinds what was already set up:
//!
//! - [`Eal`]: the environment abstraction layer, initialised once per process;
//! - [`Mempool`]: a pool of packet buffers (for `net_af_xdp` ports laid out
//!   so the driver's UMEM covers every buffer, module `umem_pool`);
//! - [`Mbuf`]: one packet buffer, freed on drop, implementing
//!   [`PacketBuf`](crate::buf::PacketBuf);
//! - [`Port`]: an ethdev port with its queues (a bond's members are read
//!   with [`Port::bond_status`], module `bond`); [`RxQueue`]/[`TxQueue`] are the
//!   per-worker handles on one queue each, moved to the worker that owns them;
//! - [`LocalPortSteering`]: rte_flow rules that send replies to local
//!   ports to the owning worker's queue, destroyed on drop;
//! - [`prefetch_read`] and [`advise_huge_pages`]: a cache prefetch and a
//!   huge-page request for the session table (module [`hints`]);
//! - [`DpdkIo`]: a worker's queues of every port, implementing
//!   [`PacketIo`](crate::io::PacketIo);
//! - [`TscClock`]: the workers' millisecond clock from the TSC.

pub mod hints;

#[cfg(feature = "dpdk")]
mod bond;
#[cfg(feature = "dpdk")]
mod clock;
#[cfg(feature = "dpdk")]
mod eal;
#[cfg(feature = "dpdk")]
mod error;
#[cfg(feature = "dpdk")]
mod flow;
#[cfg(feature = "dpdk")]
mod io;
#[cfg(feature = "dpdk")]
mod mbuf;
#[cfg(feature = "dpdk")]
mod mempool;
#[cfg(feature = "dpdk")]
mod port;
#[cfg(feature = "dpdk")]
mod umem_pool;

pub use hints::{advise_huge_pages, prefetch_read};

#[cfg(feature = "dpdk")]
pub use bond::{
    lacp_state, BondStatus, LacpStatus, MemberStatus, MODE_8023AD, MODE_ACTIVE_BACKUP,
    MODE_BALANCE_XOR,
};
#[cfg(feature = "dpdk")]
pub use clock::TscClock;
#[cfg(feature = "dpdk")]
pub use eal::{Eal, EalArgs, EalToken, ThreadRegistration};
#[cfg(feature = "dpdk")]
pub use error::DpdkError;
#[cfg(feature = "dpdk")]
pub use flow::{steer_rules, LocalPortSteering, PortSplit, SteerProto, SteerRule, SteerTarget};
#[cfg(feature = "dpdk")]
pub use io::DpdkIo;
#[cfg(feature = "dpdk")]
pub use mbuf::Mbuf;
#[cfg(feature = "dpdk")]
pub use mempool::Mempool;
#[cfg(feature = "dpdk")]
pub use port::{LinkStatus, MtuRange, MtuSetting, Port, PortConfig, PortStats, RxQueue, TxQueue};
