//! Traffic for ferrolb's tests, demo and benchmarks: frames built readably
//! with etherparse and written to or read from pcap files.
//!
//! These are tools, not the packet path: they may allocate and they panic on
//! I/O errors, which in a test or benchmark is the right report.

pub mod bench;
pub mod frames;
pub mod pcap;
pub mod scenario;
