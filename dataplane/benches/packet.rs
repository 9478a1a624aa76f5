//! Parse + rewrite per forwarding mode, L1-hot: the same buffer is rewritten
//! over and over. Each iteration first puts back the header bytes the last
//! one changed (a copy of at most 54 bytes, included in the figure, so the
//! numbers are an upper bound for parse + rewrite).

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, Criterion};
use dataplane::buf::{PacketBuf, TestBuf};
use dataplane::packet::{classify, Classified};
use dataplane::rewrite::{encapsulate_ipip, set_macs, translate, Translation, Tunnel};
use dataplane::wire::ethernet::MacAddr;

const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xaa]);
const RS_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x05]);
const HEADERS: usize = 14 + 20 + 20;

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

/// How a benchmark case picks the translation for a packet's tuple.
type MakeTranslation = fn(&dataplane::tuple::FiveTuple) -> Translation;

fn rip() -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 0, 5)
}

fn bench_modes(c: &mut Criterion) {
    let template = tcp_frame();
    let mut g = c.benchmark_group("parse+rewrite");

    let mut frame = template.clone();
    g.bench_function("dr", |b| {
        b.iter(|| {
            let f = black_box(&mut frame[..]);
            if let Ok(Classified::Ipv4(_)) = classify(f) {
                set_macs(f, OUR_MAC, RS_MAC);
            }
        })
    });

    let mut buf = TestBuf::new(&template);
    let tun = Tunnel {
        src: Ipv4Addr::new(10, 1, 0, 1),
        dst: rip(),
        ttl: 64,
        egress_mtu: 1500,
    };
    g.bench_function("tun", |b| {
        b.iter(|| {
            if let Ok(Classified::Ipv4(m)) = classify(black_box(buf.data())) {
                let _ = black_box(encapsulate_ipip(&mut buf, &m, &tun));
                set_macs(buf.data_mut(), OUR_MAC, RS_MAC);
            }
            // Undo: drop the outer header and put the L2 header back.
            buf.adj(20);
            buf.data_mut()[..14].copy_from_slice(&template[..14]);
        })
    });

    let cases: [(&str, MakeTranslation); 4] = [
        ("nat", |t| Translation::nat_request(t, rip(), 8080)),
        ("fullnat", |_| {
            Translation::fullnat_request((Ipv4Addr::new(10, 1, 0, 250), 5001), (rip(), 8080))
        }),
        ("fullnat_reply", |_| {
            Translation::fullnat_reply(
                (Ipv4Addr::new(203, 0, 113, 10), 80),
                (Ipv4Addr::new(198, 51, 100, 7), 40000),
            )
        }),
        ("snat", |t| {
            Translation::snat_outbound(t, Ipv4Addr::new(203, 0, 113, 99), 6001)
        }),
    ];
    for (name, make) in cases {
        let mut frame = template.clone();
        g.bench_function(name, |b| {
            b.iter(|| {
                frame[..HEADERS].copy_from_slice(&template[..HEADERS]);
                let f = black_box(&mut frame[..]);
                if let Ok(Classified::Ipv4(m)) = classify(f) {
                    let _ = black_box(translate(f, &m, &make(&m.tuple)));
                    set_macs(f, OUR_MAC, RS_MAC);
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_modes);
criterion_main!(benches);
