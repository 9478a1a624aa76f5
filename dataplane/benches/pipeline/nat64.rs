//! `nat64_established` (issue 20): `fullnat_established`'s flows from
//! IPv6 clients to an IPv6 VIP served by the same four IPv4 backends from
//! the local address (NAT64, `pipeline/nat64.rs`). The same 1000 flows as
//! `nat_established` (even ones TCP, odd ones UDP), both ways: each
//! client's IPv6 packet translated to IPv4 to its backend, each backend's
//! IPv4 reply (which misses the IPv4 table and is found in the IPv6 one by
//! its mapped tuple) translated to IPv6 to the client, through a default
//! route whose gateway is a static neighbour. Compare with
//! `perf/callgrind.sh --slope nat_established nat64_established`.

use std::net::Ipv6Addr;
use std::sync::Arc;

use criterion::Criterion;
use dataplane::buf::TestBuf;
use dataplane::io::MemoryIo;
use dataplane::pipeline::Pipeline;
use dataplane::tables::{LbTables, Mode, StaticRoute6};
use dataplane::wire::ethernet::MacAddr;
use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

use crate::frames::{backend, backend_mac, config, FLOWS, LADDR, OURS, ROUTER};
use crate::{assert_no_drops, measure, poll_all};

const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0x10);
const OUR6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const GW6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0xfe);

fn client6(k: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, k >> 8, k & 0xff)
}

/// Flow `k`'s client packet: even flows TCP (ACK, or SYN to open), odd UDP.
fn from_client(k: u16, syn: bool) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(ROUTER, OURS).ipv6(client6(k).octets(), VIP6.octets(), 64);
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

/// The backend's reply to flow `k`, whose IPv4 packets left from local
/// port `lport` to backend `i`.
fn from_backend(k: u16, i: u8, lport: u16) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(backend_mac(i), OURS).ipv4(backend(i).octets(), LADDR, 64);
    let mut v = Vec::new();
    if k % 2 == 0 {
        b.tcp(8080, lport, 1, 64240).ack(1).write(&mut v, b"abcdef")
    } else {
        b.udp(8080, lport).write(&mut v, b"abcdefghijklmnopqr")
    }
    .expect("frame");
    v
}

/// The backend index and local port of an IPv4 frame we sent to a backend.
fn leg(frame: &[u8]) -> (u8, u16) {
    let p = SlicedPacket::from_ethernet(frame).expect("decodes");
    let Some(etherparse::NetSlice::Ipv4(ip)) = &p.net else {
        panic!("IPv4 to the backend")
    };
    let lport = match &p.transport {
        Some(TransportSlice::Tcp(t)) => t.source_port(),
        Some(TransportSlice::Udp(u)) => u.source_port(),
        _ => panic!("TCP or UDP"),
    };
    let i = ip.header().destination()[3] - 11;
    (i, lport)
}

pub fn bench_nat64(c: &mut Criterion) {
    let name = "pipeline_poll32/nat64_established";
    let mut cfg = config(Mode::FullNat);
    cfg.interfaces[0].addrs6 = vec![(OUR6, 64)];
    cfg.routes6 = vec![StaticRoute6 {
        prefix: Ipv6Addr::UNSPECIFIED,
        len: 0,
        via: GW6,
    }];
    cfg.neighbours6 = vec![(GW6, MacAddr(ROUTER))];
    for s in &mut cfg.services {
        s.vip = VIP6.into();
    }
    let tables = Arc::new(LbTables::build(&cfg).expect("tables"));
    let mut p: Pipeline<TestBuf> = Pipeline::new(tables, 0, 1, 0).expect("pipeline");
    let mut io = MemoryIo::new(vec![Vec::new()]);
    let mut replies = Vec::new();
    for k in 0..FLOWS {
        io.tx[0].clear();
        io.rx[0].push_back(TestBuf::new(&from_client(k, true)));
        poll_all(&mut p, &mut io);
        let sent = io.sent_frames(0);
        assert_eq!(sent.len(), 1, "{name}: flow {k} leaves for its backend");
        let (i, lport) = leg(&sent[0]);
        replies.push(from_backend(k, i, lport));
    }
    assert_eq!(
        p.counters().events.sessions_created,
        u64::from(FLOWS),
        "{name}: every flow open"
    );
    let mut mix: Vec<Vec<u8>> = Vec::new();
    for k in 0..FLOWS {
        mix.push(from_client(k, false));
        mix.push(replies[usize::from(k)].clone());
    }
    let n = mix.len();
    let mix: Vec<TestBuf> = (0..n).map(|i| TestBuf::new(&mix[(i * 7919) % n])).collect();
    io.tx[0].clear();
    let fed = measure(c, name, &mut p, &mut io, &mix);
    let e = p.counters().events;
    assert_eq!(
        e.sessions_created,
        u64::from(FLOWS),
        "{name}: sessions made"
    );
    if fed > 0 {
        assert!(e.nat64_to_ipv6 > 0, "{name}: replies translated");
    }
    assert_no_drops(name, &p);
}
