//! `fullnat6_established` (issue 20): FULLNAT over IPv6, both ways. The
//! 1000 flows of `dr6_established` (even ones TCP, odd ones UDP) from
//! clients behind a router to the IPv6 VIP, each given a local port of
//! 2001:db8:1::100 and a backend by rr; then every packet of an
//! established flow, the client's and the backend's reply to the local
//! port in turn: classified through the IPv6 header, looked up by either
//! key, both ends rewritten with the checksum updated, the hop limit one
//! lower, the reply sent to the router by the IPv6 default route.
//! Compare with `nat_established` and `fullnat_established`
//! (`perf/callgrind.sh --slope nat_established fullnat_established
//! fullnat6_established`).
//!
//! `nat6_established`: the same flows through NAT over IPv6, no local
//! address: the client's packets reach the backend from the client, and
//! the backend's replies to the client leave from the VIP by the default
//! route. Compare with `nat_established`.

use std::net::Ipv6Addr;
use std::sync::Arc;

use criterion::Criterion;
use dataplane::buf::TestBuf;
use dataplane::io::MemoryIo;
use dataplane::pipeline::Pipeline;
use dataplane::tables::{LbTables, Mode, StaticRoute6};
use dataplane::wire::ethernet::MacAddr;
use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

use crate::dr6::{advertisement, backend6, client6, OUR6, VIP6};
use crate::frames::{backend_mac, config, FLOWS, OURS, ROUTER};
use crate::{assert_no_drops, measure, poll_all};

const LADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100);
const GATEWAY6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0xfe);

/// Where flow `k`'s first packet went and what it came from: the
/// backend's address and port, and the source address and port the
/// backend answers (the local address's for FULLNAT, the client's for
/// NAT).
fn leg(frame: &[u8]) -> ((Ipv6Addr, u16), (Ipv6Addr, u16)) {
    let p = SlicedPacket::from_ethernet(frame).expect("decodes");
    let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
        panic!("not IPv6")
    };
    let h = ip.header().to_header();
    let (sport, dport) = match &p.transport {
        Some(TransportSlice::Tcp(t)) => (t.source_port(), t.destination_port()),
        Some(TransportSlice::Udp(u)) => (u.source_port(), u.destination_port()),
        other => panic!("not TCP or UDP: {other:?}"),
    };
    (
        (Ipv6Addr::from(h.destination), dport),
        (Ipv6Addr::from(h.source), sport),
    )
}

/// The backend's packet of flow `k` to `peer` (the local address and
/// port, or the NAT client): a SYN-ACK (`syn`) or an ACK with data for
/// TCP, a datagram for UDP.
fn reply6(k: u16, backend: (Ipv6Addr, u16), peer: (Ipv6Addr, u16), syn: bool) -> Vec<u8> {
    let i = backend.0.segments()[7] - 0x11;
    let b = PacketBuilder::ethernet2(backend_mac(i as u8), OURS).ipv6(
        backend.0.octets(),
        peer.0.octets(),
        64,
    );
    let lport = peer.1;
    let mut v = Vec::new();
    if k % 2 == 0 {
        let t = b.tcp(backend.1, lport, 9, 64240).ack(2);
        let t = if syn { t.syn() } else { t };
        t.write(&mut v, if syn { b"" } else { b"123456" })
    } else {
        b.udp(backend.1, lport).write(&mut v, b"0123456789abcdefgh")
    }
    .expect("frame");
    v
}

/// `fullnat6_established` with `Mode::FullNat`, `nat6_established` with
/// `Mode::Nat`.
pub fn bench_nat6(c: &mut Criterion, mode: Mode) {
    let fullnat = mode == Mode::FullNat;
    let name = match fullnat {
        true => "pipeline_poll32/fullnat6_established",
        false => "pipeline_poll32/nat6_established",
    };
    let mut cfg = config(mode);
    cfg.interfaces[0].addrs6 = vec![(OUR6, 64)];
    cfg.routes6 = vec![StaticRoute6 {
        prefix: Ipv6Addr::UNSPECIFIED,
        len: 0,
        via: GATEWAY6,
    }];
    cfg.neighbours6 = vec![(GATEWAY6, MacAddr(ROUTER))];
    for s in &mut cfg.services {
        s.vip = VIP6.into();
        s.local_addrs = Vec::new();
        s.local_addrs6 = if fullnat { vec![LADDR6] } else { Vec::new() };
        for (i, b) in s.backends.iter_mut().enumerate() {
            b.addr = backend6(i as u8).into();
        }
    }
    let tables = Arc::new(LbTables::build(&cfg).expect("tables"));
    let mut p: Pipeline<TestBuf> = Pipeline::new(tables, 0, 1, 0).expect("pipeline");
    let mut io = MemoryIo::new(vec![(0..4).map(advertisement).collect()]);
    poll_all(&mut p, &mut io);
    // Open each flow and note its backend and local port; a TCP flow's
    // backend answers the SYN (the client's next ACK establishes it).
    let mut legs = Vec::new();
    for k in 0..FLOWS {
        io.tx[0].clear();
        io.rx[0].push_back(TestBuf::new(&client6(k, true)));
        poll_all(&mut p, &mut io);
        let sent = io.sent_frames(0);
        assert_eq!(sent.len(), 1, "{name}: flow {k} sent");
        let (backend, peer) = leg(&sent[0]);
        let want = if fullnat { LADDR6 } else { client_addr(k) };
        assert_eq!(peer.0, want, "{name}: flow {k}'s source to the backend");
        if k % 2 == 0 {
            io.rx[0].push_back(TestBuf::new(&reply6(k, backend, peer, true)));
            poll_all(&mut p, &mut io);
        }
        legs.push((backend, peer));
    }
    assert_eq!(
        p.counters().events.sessions_created,
        u64::from(FLOWS),
        "{name}: every flow open"
    );
    let mut both = Vec::new();
    for (k, &(backend, peer)) in (0..FLOWS).zip(&legs) {
        both.push(client6(k, false));
        both.push(reply6(k, backend, peer, false));
    }
    let n = both.len();
    let mix: Vec<TestBuf> = (0..n)
        .map(|i| TestBuf::new(&both[(i * 7919) % n]))
        .collect();
    io.tx[0].clear();
    measure(c, name, &mut p, &mut io, &mix);
    assert_eq!(
        p.counters().events.sessions_created,
        u64::from(FLOWS),
        "{name}: sessions made"
    );
    assert_no_drops(name, &p);
}

/// The source address of `client6(k, _)`'s frame.
fn client_addr(k: u16) -> Ipv6Addr {
    let frame = client6(k, true);
    let p = SlicedPacket::from_ethernet(&frame).expect("decodes");
    let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
        panic!("not IPv6")
    };
    Ipv6Addr::from(ip.header().to_header().source)
}
