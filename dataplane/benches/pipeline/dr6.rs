//! `dr6_established` (issue 20): `dr_established` over IPv6. The same
//! 1000 flows (even ones TCP, odd ones UDP) from clients behind the router
//! to an IPv6 VIP, four IPv6 backends on the link (their MACs learned from
//! solicited advertisements first), every packet of an established flow:
//! classified through the IPv6 header, looked up in the IPv6 session
//! table, sent with only its MACs changed. The goal: within 15 % of
//! `dr_established` (`perf/callgrind.sh --slope dr_established
//! dr6_established`).

use std::net::Ipv6Addr;
use std::sync::Arc;

use criterion::Criterion;
use dataplane::buf::TestBuf;
use dataplane::io::MemoryIo;
use dataplane::pipeline::Pipeline;
use dataplane::tables::{LbTables, Mode};
use etherparse::{Icmpv6Type, PacketBuilder};

use crate::frames::{backend_mac, config, FLOWS, OURS, ROUTER};
use crate::{assert_no_drops, measure, poll_all};

pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0x10);
pub const OUR6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);

pub fn backend6(i: u8) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x11 + u16::from(i))
}

/// Flow `k`'s packet: even flows TCP (ACK, or SYN to open), odd UDP, the
/// same payloads as `frames::client`.
pub fn client6(k: u16, syn: bool) -> Vec<u8> {
    let src = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, k >> 8, k & 0xff);
    let b = PacketBuilder::ethernet2(ROUTER, OURS).ipv6(src.octets(), VIP6.octets(), 64);
    let mut v = Vec::new();
    let sport = 10_000 + k;
    if k % 2 == 0 {
        let t = b.tcp(sport, 80, 1, 64240);
        let t = if syn { t.syn() } else { t.ack(1) };
        t.write(&mut v, if syn { b"" } else { b"abcdef" })
    } else {
        b.udp(sport, 80).write(&mut v, b"abcdefghijklmnopqr")
    }
    .expect("frame");
    v
}

/// Backend `i`'s solicited advertisement to our address: the pipeline
/// learns its MAC (as if it had asked).
pub fn advertisement(i: u8) -> Vec<u8> {
    let mut body = backend6(i).octets().to_vec();
    body.extend_from_slice(&[2, 1]);
    body.extend_from_slice(&backend_mac(i));
    let t = Icmpv6Type::Unknown {
        type_u8: 136,
        code_u8: 0,
        bytes5to8: [0x60, 0, 0, 0],
    };
    let mut v = Vec::new();
    PacketBuilder::ethernet2(backend_mac(i), OURS)
        .ipv6(backend6(i).octets(), OUR6.octets(), 255)
        .icmpv6(t)
        .write(&mut v, &body)
        .expect("frame");
    v
}

pub fn bench_dr6(c: &mut Criterion) {
    let name = "pipeline_poll32/dr6_established";
    let mut cfg = config(Mode::Dr);
    cfg.interfaces[0].addrs6 = vec![(OUR6, 64)];
    for s in &mut cfg.services {
        s.vip = VIP6.into();
        for (i, b) in s.backends.iter_mut().enumerate() {
            b.addr = backend6(i as u8).into();
        }
    }
    let tables = Arc::new(LbTables::build(&cfg).expect("tables"));
    let mut p: Pipeline<TestBuf> = Pipeline::new(tables, 0, 1, 0).expect("pipeline");
    let mut io = MemoryIo::new(vec![(0..4).map(advertisement).collect()]);
    poll_all(&mut p, &mut io);
    io.rx[0].extend((0..FLOWS).map(|k| TestBuf::new(&client6(k, true))));
    poll_all(&mut p, &mut io);
    assert_eq!(
        p.counters().events.sessions_created,
        u64::from(FLOWS),
        "{name}: every flow open"
    );
    let mix: Vec<Vec<u8>> = (0..FLOWS).map(|k| client6(k, false)).collect();
    let n = mix.len();
    let mix: Vec<TestBuf> = (0..n).map(|i| TestBuf::new(&mix[(i * 7919) % n])).collect();
    io.tx[0].clear();
    measure(c, name, &mut p, &mut io, &mix);
    assert_eq!(
        p.counters().events.sessions_created,
        u64::from(FLOWS),
        "{name}: sessions made"
    );
    assert_no_drops(name, &p);
}
