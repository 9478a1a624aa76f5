//! Parse + rewrite per forwarding mode, L1-hot: a few buffers are rewritten
//! over and over.
//!
//! Every mode does the same per iteration: classify the next buffer of a
//! small ring, hand the flow tuple on (`black_box`, as the flow lookup
//! would), rewrite, set the MACs, then restore that buffer (move its start
//! back if the rewrite grew it, copy back the 54 header bytes). The restore
//! is included in the figure, so the numbers are an upper bound for parse +
//! rewrite.
//!
//! The translation, the tunnel and the MACs are read through `black_box`
//! from values set up before the loop, as the pipeline reads them from a
//! session and the neighbour table: the compiler cannot fold them into the
//! rewrite as constants. (The translation is made once per flow, when the
//! session is created, so making it is not part of the per-packet work.)
//!
//! Why a ring: a buffer is read again only [`RING`] iterations after its
//! restore was written. With one buffer, classify read the header right
//! behind the restore's 16-byte stores, and its 4-byte checksum loads that
//! straddle two of them cannot be forwarded from the store buffer; the
//! stall that cost belongs to the benchmark, not to the packet path (a
//! DMA'd packet was never in the store buffer).

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use dataplane::buf::{PacketBuf, TestBuf, DEFAULT_HEADROOM};
use dataplane::packet::{classify, Classified};
use dataplane::rewrite::{encapsulate_ipip, set_macs, translate, Translation, Tunnel};
use dataplane::tuple::FiveTuple;
use dataplane::wire::ethernet::MacAddr;

const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xaa]);
const RS_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x05]);
const HEADERS: usize = 14 + 20 + 20;
/// Buffers in the ring (a power of two).
const RING: usize = 8;

/// A 64-byte-payload TCP frame client -> VIP, with valid checksums.
fn tcp_frame() -> Vec<u8> {
    let mut f = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], OUR_MAC.0)
        .ipv4([198, 51, 100, 7], [203, 0, 113, 10], 64)
        .tcp(40000, 80, 1, 65535)
        .ack(1)
        .write(&mut f, &[0x5a; 64])
        .expect("builds");
    f
}

fn rip() -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 0, 5)
}

/// Benchmarks `work` on a ring of buffers holding `template`, restoring
/// each buffer after use the same way for every mode.
fn bench_case(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    template: &[u8],
    mut work: impl FnMut(&mut TestBuf),
) {
    let mut ring: Vec<TestBuf> = (0..RING).map(|_| TestBuf::new(template)).collect();
    let mut next = 0usize;
    g.bench_function(name, |b| {
        b.iter(|| {
            let buf = &mut ring[next % RING];
            next = next.wrapping_add(1);
            work(black_box(&mut *buf));
            // Restore: undo any growth at the front, put the headers back.
            let grown = DEFAULT_HEADROOM.saturating_sub(buf.headroom());
            buf.adj(grown);
            buf.data_mut()[..HEADERS].copy_from_slice(&template[..HEADERS]);
        })
    });
}

/// The next hop's MACs as the neighbour table would hold them.
static MACS: (MacAddr, MacAddr) = (OUR_MAC, RS_MAC);

/// Sets the MACs read from [`MACS`].
#[inline(always)]
fn set_next_hop_macs(frame: &mut [u8]) {
    let (src, dst) = *black_box(&MACS);
    set_macs(frame, src, dst);
}

/// A NAT-family case: the packet leaves with `make(tuple)`, made once for
/// the flow as a session would hold it.
fn bench_translate(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    template: &[u8],
    make: impl Fn(&FiveTuple) -> Translation,
) {
    let Ok(Classified::Ipv4(first)) = classify(template) else {
        panic!("the benchmark frame classifies")
    };
    let session = make(&first.tuple);
    bench_case(g, name, template, |buf| {
        let f = buf.data_mut();
        if let Ok(Classified::Ipv4(m)) = classify(f) {
            black_box(m.tuple);
            black_box(translate(f, &m, black_box(&session)))
                .expect("the benchmark frame translates");
            set_next_hop_macs(f);
        }
    });
}

fn bench_modes(c: &mut Criterion) {
    let template = tcp_frame();
    let mut g = c.benchmark_group("parse+rewrite");

    // The floor: ring, restore and loop with no packet work, to read the
    // mode figures against.
    bench_case(&mut g, "harness_only", &template, |buf| {
        black_box(buf.data_mut());
    });

    bench_case(&mut g, "dr", &template, |buf| {
        let f = buf.data_mut();
        if let Ok(Classified::Ipv4(m)) = classify(f) {
            black_box(m.tuple);
            set_next_hop_macs(f);
        }
    });

    let tun = Tunnel {
        src: Ipv4Addr::new(10, 1, 0, 1),
        dst: rip(),
        ttl: 64,
        egress_mtu: 1500,
    };
    bench_case(&mut g, "tun", &template, |buf| {
        if let Ok(Classified::Ipv4(m)) = classify(buf.data()) {
            black_box(m.tuple);
            black_box(encapsulate_ipip(buf, &m, black_box(&tun)))
                .expect("the benchmark frame fits");
            set_next_hop_macs(buf.data_mut());
        }
    });

    bench_translate(&mut g, "nat", &template, |t| {
        Translation::nat_request(t, rip(), 8080)
    });
    bench_translate(&mut g, "fullnat", &template, |_| {
        Translation::fullnat_request((Ipv4Addr::new(10, 1, 0, 250), 5001), (rip(), 8080))
    });
    bench_translate(&mut g, "fullnat_reply", &template, |_| {
        Translation::fullnat_reply(
            (Ipv4Addr::new(203, 0, 113, 10), 80),
            (Ipv4Addr::new(198, 51, 100, 7), 40000),
        )
    });
    bench_translate(&mut g, "snat", &template, |t| {
        Translation::snat_outbound(t, Ipv4Addr::new(203, 0, 113, 99), 6001)
    });
    g.finish();
}

criterion_group!(benches, bench_modes);
criterion_main!(benches);
