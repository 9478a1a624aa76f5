//! Raw DPDK bindings, generated at build time from the installed headers.
//!
//! Everything here is `unsafe` to call. The safe layer is `dataplane::dpdk`.
//! DPDK's `static inline` fast-path functions (`rte_eth_rx_burst`,
//! `rte_pktmbuf_alloc`, ...) are reached through C wrappers that bindgen
//! generates (`wrap_static_fns`); they keep their DPDK names here.

#![allow(non_upper_case_globals)]
#![allow(non_camel_case_types)]
#![allow(non_snake_case)]
#![allow(dead_code)]
#![allow(clippy::all)]
#![allow(rustdoc::all)]
#![allow(unsafe_op_in_unsafe_fn)]
#![allow(improper_ctypes)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

/// The calling thread's `rte_errno` (a thread-local macro in C).
///
/// # Safety
/// Safe in practice; `unsafe` only because it crosses the FFI boundary.
pub unsafe fn rte_errno() -> i32 {
    ferrolb_rte_errno()
}
