//! The ferrolb packet path.
//!
//! Everything that decides what happens to a packet is sans-IO: it works on any
//! [`buf::PacketBuf`], so it is tested on plain byte buffers without DPDK. The
//! [`dpdk`] module (feature `dpdk`) is the thin layer that moves real mbufs;
//! its CPU and kernel hints ([`dpdk::hints`]) are there without the feature.
//! Test scaffolding (the heap-backed `buf::TestBuf`, the in-memory
//! `io::MemoryIo`, the `fuzzing` harness) is compiled only for this crate's
//! unit tests and with feature `testing` (benches, integration tests, the
//! fuzz crate), so the appliance does not carry it.

pub mod buf;
pub mod checksum;
pub mod client_addr;
pub mod dpdk;
pub mod drop;
pub mod flow;
pub mod frag;
#[cfg(any(test, feature = "testing"))]
pub mod fuzzing;
pub mod io;
pub mod l2fwd;
pub mod laddr;
pub mod live;
pub mod nat64;
pub mod net;
pub mod packet;
pub mod packet6;
pub mod pipeline;
pub mod rewrite;
pub mod rewrite6;
pub mod sched;
pub mod sync;
pub mod synproxy;
pub mod tables;
#[cfg(test)]
mod testutil;
pub mod tunnel6;
pub mod tuple;
pub mod watch;
pub mod wire;
pub mod worker;
