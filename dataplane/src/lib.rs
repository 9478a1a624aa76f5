//! The ferrolb packet path.
//!
//! Everything that decides what happens to a packet is sans-IO: it works on any
//! [`buf::PacketBuf`], so it is tested on plain byte buffers without DPDK. The
//! [`dpdk`] module (feature `dpdk`) is the thin layer that moves real mbufs.

pub mod buf;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod flow;
pub mod laddr;
pub mod sched;
pub mod tuple;
