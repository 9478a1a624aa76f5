//! Traffic for ferrolb's tests, demo and benchmarks: frames built readably
//! with etherparse and written to or read from pcap files.
//!
//! These are tools, not the packet path: they may allocate and they panic on
//! I/O errors, which in a test or benchmark is the right report.

pub mod bench;
pub mod frames;
pub mod pcap;
pub mod scenario;

/// Byte `i` of the large HTTP bodies `e2e-server` sends for
/// `GET /big?bytes=N` and `e2e-client http --size N` checks: a pattern
/// that a lost, repeated or misplaced segment cannot keep.
pub fn big_body_byte(i: usize) -> u8 {
    ((i % 251) as u8) ^ ((i / 251) as u8)
}
