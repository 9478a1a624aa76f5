//! Chained packets: a device may deliver a frame in several mbuf segments;
//! the pipeline copies it into one buffer and handles it as it would the
//! same frame in one segment.

use super::tests::*;
use crate::buf::TestBuf;
use crate::io::MemoryIo;
use crate::pipeline::Pipeline;
use crate::tables::Mode;

/// A TCP segment with `len` payload bytes, client to the VIP.
fn request(len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
    tcp(
        (ROUTER, OURS),
        (CIP, VIP),
        (40000, 80),
        tcp_flags::SYN,
        64,
        &payload,
    )
}

/// What `frame` becomes through a fresh NAT pipeline, delivered as given.
fn through_nat(buf: TestBuf) -> (Vec<Vec<u8>>, Pipeline<TestBuf>) {
    let mut p = pipeline(&config(vec![service(Mode::Nat, IpProto::TCP)]));
    let mut io = MemoryIo::new(vec![Vec::new()]);
    io.rx[0].push_back(buf);
    p.poll(&mut io, 0);
    (io.sent_frames(0), p)
}

#[test]
fn a_chained_packet_is_forwarded_as_the_same_packet_in_one_segment() {
    let frame = request(600);
    let (whole, _) = through_nat(TestBuf::new(&frame));
    assert_eq!(whole.len(), 1, "the plain packet is forwarded");
    // Cut inside the TCP header, so no header is whole in the first segment.
    for cut in [20, 40, 300] {
        let (out, p) = through_nat(TestBuf::chained(&frame[..cut], &frame[cut..]));
        assert_eq!(out, whole, "cut at {cut}");
        assert_eq!(p.counters().events.multi_segment_gathered, 1);
        assert_eq!(drops(&p, DropReason::MultiSegment), 0);
    }
}

#[test]
fn a_chained_packet_longer_than_a_buffer_is_dropped_as_multi_segment() {
    // The in-memory pool's buffers hold 2048 bytes, as a 1500-MTU pool's.
    let frame = request(2100);
    let (out, p) = through_nat(TestBuf::chained(&frame[..1400], &frame[1400..]));
    assert!(out.is_empty());
    assert_eq!(drops(&p, DropReason::MultiSegment), 1);
    assert_eq!(p.counters().events.multi_segment_gathered, 0);
}
