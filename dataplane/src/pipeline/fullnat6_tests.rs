//! FULLNAT over IPv6 on in-memory ports (`forward6.rs`, `nat6.rs`,
//! `flow/state/fullnat6.rs`): the client's connection leaves from a local
//! address and port of the service's IPv6 pool to the backend, and the
//! backend's replies to that local port go back from the VIP to the
//! client; both directions byte for byte as etherparse builds them (so the
//! checksums are etherparse's), decoded by etherparse too; the port given
//! back when the session ends, none free counted as `ports_exhausted`,
//! replies arriving on another worker's queue handed to the worker their
//! port names, Packet Too Big before the rewrite, the listing.

use std::net::Ipv6Addr;

use etherparse::{Icmpv6Type, SlicedPacket, TransportSlice};

use super::forward6_tests::{CLIENT6, RIP6, VIP6};
use super::nat6_tests::{config_nat6, dgram, icmp6_error, learn_all, seg, CLIENT_MAC, OUR_EXT6};
use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::flow::proto::tcp_flags::FIN;
use crate::flow::{ProtoState, TcpState};
use crate::tables::{LbTables, Mode, ServiceSpec};

/// The service's IPv6 local addresses, on the backends' link.
const LADDR6: [&str; 2] = ["2001:db8:1::100", "2001:db8:1::101"];

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

/// The FULLNAT service: VIP6 port 80 to the two backends on port 8080,
/// from the first local address (ports 40000 only, as the IPv4 tests'),
/// or from `laddrs` with `ports`.
fn fullnat6(proto: IpProto, laddrs: &[&str], ports: (u16, u16)) -> ServiceSpec {
    let mut s = super::forward6_tests::service6(proto);
    s.mode = Mode::FullNat;
    s.local_addrs = Vec::new();
    s.local_addrs6 = laddrs.iter().map(|a| v6(a)).collect();
    s.local_ports = ports;
    s.backends.iter_mut().for_each(|b| b.port = 8080);
    s
}

fn one_laddr(proto: IpProto) -> ServiceSpec {
    fullnat6(proto, &LADDR6[..1], (40000, 40000))
}

fn state(p: &Pipeline<TestBuf>) -> ProtoState {
    let (_, s) = p.path.flow.sessions6().iter().next().expect("a session");
    s.state
}

/// The addresses, ports and hop limit of the TCP or UDP frame `f`, as
/// etherparse reads them, and whether its L4 checksum verifies.
fn decoded(f: &[u8]) -> ((Ipv6Addr, u16), (Ipv6Addr, u16), u8, bool) {
    let p = SlicedPacket::from_ethernet(f).expect("decodes");
    let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
        panic!("not IPv6")
    };
    let h = ip.header().to_header();
    let (src, dst) = (Ipv6Addr::from(h.source), Ipv6Addr::from(h.destination));
    let (ports, sum_ok) = match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            let want = t
                .to_header()
                .calc_checksum_ipv6(&h, t.payload())
                .expect("sums");
            (
                (t.source_port(), t.destination_port()),
                want == t.checksum(),
            )
        }
        Some(TransportSlice::Udp(u)) => {
            let want = u
                .to_header()
                .calc_checksum_ipv6(&h, u.payload())
                .expect("sums");
            (
                (u.source_port(), u.destination_port()),
                want == u.checksum(),
            )
        }
        other => panic!("not TCP or UDP: {other:?}"),
    };
    ((src, ports.0), (dst, ports.1), h.hop_limit, sum_ok)
}

#[test]
fn fullnat6_rewrites_both_directions_byte_for_byte() {
    let mut p = pipeline(&config_nat6(vec![one_laddr(IpProto::TCP)]));
    learn_all(&mut p);
    let client = (CLIENT6, 40001);
    let (vip, rip, local) = ((VIP6, 80), (RIP6[0], 8080), (LADDR6[0], 40000));
    // The client's SYN leaves for the backend from the local address and
    // port: both ends rewritten, hop limit 57 -> 56.
    let syn = seg((CLIENT_MAC, OURS), client, vip, 57, SYN, b"");
    let out = run(&mut p, &[syn], 0);
    assert_eq!(out, vec![seg((OURS, RS1), local, rip, 56, SYN, b"")]);
    let (src, dst, hop, sum_ok) = decoded(&out[0]);
    assert_eq!(
        (src, dst, hop, sum_ok),
        ((v6(LADDR6[0]), 40000), (v6(RIP6[0]), 8080), 56, true)
    );
    // The backend answers the local address (it is on our link: no
    // gateway needed); the SYN-ACK leaves for the client from the VIP.
    let syn_ack = seg((RS1, OURS), rip, local, 64, SYN | ACK, b"");
    let out = run(&mut p, &[syn_ack], 1);
    assert_eq!(
        out,
        vec![seg((OURS, CLIENT_MAC), vip, client, 63, SYN | ACK, b"")]
    );
    let (src, dst, _, sum_ok) = decoded(&out[0]);
    assert_eq!(
        (src, dst, sum_ok),
        ((v6(VIP6), 80), (v6(CLIENT6), 40001), true)
    );
    let ack = seg((CLIENT_MAC, OURS), client, vip, 57, ACK, b"GET /");
    let answer = seg((RS1, OURS), rip, local, 64, ACK, b"HTTP/1.0 200 OK");
    let out = run(&mut p, &[ack, answer], 2);
    assert_eq!(
        out,
        vec![
            seg((OURS, RS1), local, rip, 56, ACK, b"GET /"),
            seg((OURS, CLIENT_MAC), vip, client, 63, ACK, b"HTTP/1.0 200 OK"),
        ]
    );
    assert_eq!(state(&p), ProtoState::Tcp(TcpState::Established));
    // Both sides move the state, as IPv4 FULLNAT's.
    run(
        &mut p,
        &[seg((CLIENT_MAC, OURS), client, vip, 57, FIN | ACK, b"")],
        3,
    );
    assert_eq!(state(&p), ProtoState::Tcp(TcpState::CloseWait));
    run(
        &mut p,
        &[seg((RS1, OURS), rip, local, 64, FIN | ACK, b"")],
        4,
    );
    assert_eq!(state(&p), ProtoState::Tcp(TcpState::TimeWait));
    let b = &p.counters().backends[0];
    assert_eq!((b.conns, b.packets_in, b.packets_out), (1, 3, 3));
    // One session, its reply key to the local port it holds.
    let t6 = p.path.flow.sessions6();
    assert_eq!(t6.len(), 1);
    let (_, s) = t6.iter().next().expect("a session");
    assert!(s.holds_local_port());
    assert_eq!(
        (s.outbound().src, s.outbound().dst, s.outbound().dst_port),
        (v6(RIP6[0]), v6(LADDR6[0]), 40000)
    );
    // The listing names the local address and port.
    let mut seen = Vec::new();
    p.scan_sessions(&Default::default(), 0, p.session_slots(), 4, |v| {
        seen.push(v);
        true
    });
    assert_eq!(seen.len(), 1);
    let show = |a: (std::net::IpAddr, u16)| std::net::SocketAddr::new(a.0, a.1).to_string();
    let v = &seen[0];
    assert_eq!(
        (show(v.client), v.local.map(show), show(v.backend)),
        (
            "[2001:db8:2::7]:40001".into(),
            Some("[2001:db8:1::100]:40000".into()),
            "[2001:db8:1::11]:8080".into()
        )
    );
    assert_eq!(drops(&p, DropReason::NoSession), 0);
}

#[test]
fn fullnat6_udp_both_ways_and_a_stray_reply_to_the_local_address() {
    let mut p = pipeline(&config_nat6(vec![one_laddr(IpProto::UDP)]));
    learn_all(&mut p);
    let client = (CLIENT6, 5353);
    let (vip, rip, local) = ((VIP6, 80), (RIP6[0], 8080), (LADDR6[0], 40000));
    let q = dgram((CLIENT_MAC, OURS), client, vip, 10);
    let a = dgram((RS1, OURS), rip, local, 10);
    let out = run(&mut p, &[q, a], 0);
    assert_eq!(
        out,
        vec![
            dgram((OURS, RS1), local, rip, 9),
            dgram((OURS, CLIENT_MAC), vip, client, 9),
        ]
    );
    assert!(out.iter().all(|f| decoded(f).3), "UDP checksums verify");
    // To the local address from another backend port: no session.
    let stray = dgram((RS1, OURS), (RIP6[0], 8081), local, 10);
    assert!(run(&mut p, &[stray], 1).is_empty());
    assert_eq!(drops(&p, DropReason::NoSession), 1);
    // The local address answers Neighbour Discovery: an echo to it is
    // answered as to an interface address.
    assert!(p.tables.owned6.contains(v6(LADDR6[0])));
}

#[test]
fn fullnat6_gives_the_port_back_when_the_session_ends() {
    // One backend, one port: a second connection finds none free.
    let mut svc = one_laddr(IpProto::TCP);
    svc.backends.truncate(1);
    let mut p = pipeline(&config_nat6(vec![svc]));
    learn_all(&mut p);
    let vip = (VIP6, 80);
    let local = (LADDR6[0], 40000);
    let first = seg((CLIENT_MAC, OURS), (CLIENT6, 40001), vip, 9, SYN, b"");
    let out = run(&mut p, &[first], 0);
    assert_eq!(decoded(&out[0]).0, (v6(LADDR6[0]), 40000));
    let second = seg((CLIENT_MAC, OURS), (CLIENT6, 40002), vip, 9, SYN, b"");
    assert!(run(&mut p, std::slice::from_ref(&second), 1).is_empty());
    assert_eq!(drops(&p, DropReason::PortsExhausted), 1);
    let pool = |p: &Pipeline<TestBuf>| p.path.flow.pool6(0).expect("a pool").stats();
    assert_eq!((pool(&p).allocated, pool(&p).exhausted), (1, 1));
    // The first connection never completes: SYN_RECV ends after 30 s.
    assert_eq!(state(&p), ProtoState::Tcp(TcpState::SynRecv));
    run(&mut p, &[], 20_000);
    assert_eq!(pool(&p).released, 0, "still held at 20 s");
    // Expired: both keys gone, the port back in the pool...
    run(&mut p, &[], 40_000);
    assert_eq!(p.path.flow.sessions6().len(), 0);
    assert_eq!(pool(&p).released, 1);
    let late = seg((RS1, OURS), (RIP6[0], 8080), local, 64, ACK, b"");
    assert!(run(&mut p, &[late], 40_001).is_empty());
    assert_eq!(drops(&p, DropReason::NoSession), 1);
    // ... and the next connection gets it.
    let out = run(&mut p, &[second], 40_002);
    assert_eq!(out.len(), 1);
    assert_eq!(decoded(&out[0]).0, (v6(LADDR6[0]), 40000));
    assert_eq!(drops(&p, DropReason::PortsExhausted), 1);
    assert_eq!(p.session_counts().services[0], 1);
}

#[test]
fn fullnat6_spreads_over_its_local_addresses() {
    let svc = fullnat6(IpProto::TCP, &LADDR6, (40000, 40099));
    let mut p = pipeline(&config_nat6(vec![svc]));
    learn_all(&mut p);
    let syns: Vec<Vec<u8>> = (0..8)
        .map(|i| {
            seg(
                (CLIENT_MAC, OURS),
                (CLIENT6, 41000 + i),
                (VIP6, 80),
                9,
                SYN,
                b"",
            )
        })
        .collect();
    let out = run(&mut p, &syns, 0);
    assert_eq!(out.len(), 8);
    let mut from: Vec<(Ipv6Addr, u16)> = out.iter().map(|f| decoded(f).0).collect();
    let on_first = from.iter().filter(|(a, _)| *a == v6(LADDR6[0])).count();
    assert_eq!(on_first, 4, "rotated over both addresses: {from:?}");
    assert!(from.iter().all(|(_, port)| (40000..=40099).contains(port)));
    from.sort();
    from.dedup();
    assert_eq!(from.len(), 8, "every local endpoint unique");
}

#[test]
fn fullnat6_replies_on_another_workers_queue_reach_the_port_owner() {
    let svc = fullnat6(IpProto::TCP, &LADDR6[..1], (40000, 40063));
    let tables = std::sync::Arc::new(LbTables::build(&config_nat6(vec![svc])).expect("builds"));
    let mut sim = super::workers_tests::Sim::new(&tables, 2);
    for p in &mut sim.pipes {
        learn_all(p);
    }
    let vip = (VIP6, 80);
    // Eight SYNs on queue 0: each goes to the worker its client's
    // endpoint names, which takes a port whose low bit is its index.
    let ports: Vec<u16> = (40000..40008).collect();
    for &port in &ports {
        sim.deliver(
            0,
            &seg((CLIENT_MAC, OURS), (CLIENT6, port), vip, 9, SYN, b""),
        );
    }
    let out = sim.settle();
    let mut legs: Vec<((Ipv6Addr, u16), (Ipv6Addr, u16))> = Vec::new();
    for (w, frames) in out.iter().enumerate() {
        for f in frames {
            let (src, dst, _, sum_ok) = decoded(f);
            assert!(sum_ok);
            assert_eq!(usize::from(src.1 & 1), w, "worker {w} sent port {}", src.1);
            legs.push((src, dst));
        }
    }
    assert_eq!(legs.len(), 8);
    let owner = |port: u16| crate::tables::owner::flow_hash6(v6(CLIENT6), port) as usize % 2;
    let on_1 = ports.iter().filter(|&&p| owner(p) == 1).count();
    assert!(on_1 > 0 && on_1 < 8, "the clients spread: {on_1}");
    // Every reply arrives on queue 1: those to an even port are worker
    // 0's and must be handed over.
    for &(local, rip) in &legs {
        let mac = if rip.0 == v6(RIP6[0]) { RS1 } else { RS2 };
        let (l, r) = (local.0.to_string(), rip.0.to_string());
        sim.deliver(
            1,
            &seg((mac, OURS), (&r, rip.1), (&l, local.1), 64, SYN | ACK, b""),
        );
    }
    let out = sim.settle();
    let mut back: Vec<Vec<u8>> = out.into_iter().flatten().collect();
    back.sort();
    let mut want: Vec<Vec<u8>> = ports
        .iter()
        .map(|&port| seg((OURS, CLIENT_MAC), vip, (CLIENT6, port), 63, SYN | ACK, b""))
        .collect();
    want.sort();
    assert_eq!(back, want, "every reply found its session");
    let even = legs.iter().filter(|(l, _)| l.1 & 1 == 0).count();
    // Handed over: the SYNs owned by worker 1 and the replies to worker
    // 0's ports.
    assert_eq!(sim.events().redirects_sent, (on_1 + even) as u64);
    assert!(even > 0);
    assert_eq!(sim.dropped(), 0);
}

#[test]
fn fullnat6_answers_packet_too_big_before_the_rewrite() {
    let mut cfg = config_nat6(vec![one_laddr(IpProto::TCP)]);
    cfg.ports[0].mtu = 1280;
    let mut p = pipeline(&cfg);
    learn_all(&mut p);
    let (client, vip) = ((CLIENT6, 40001), (VIP6, 80));
    let fits = seg((CLIENT_MAC, OURS), client, vip, 9, SYN, &[1; 1220]);
    let big = seg((CLIENT_MAC, OURS), client, vip, 9, ACK, &[2; 1221]);
    let out = run(&mut p, &[fits, big.clone()], 0);
    assert_eq!(out.len(), 2);
    let (ty, src, dst, quote, sum_ok) = icmp6_error(&out[1]);
    assert_eq!(ty, Icmpv6Type::PacketTooBig { mtu: 1280 });
    assert_eq!((src, dst, sum_ok), (v6(OUR_EXT6), v6(CLIENT6), true));
    // Quoted as the client sent it: to the VIP, from its own port.
    assert_eq!(quote, big[14..14 + quote.len()]);
    assert_eq!(drops(&p, DropReason::PacketTooBig), 1);
    // A hop limit of 1: Time Exceeded, nothing rewritten.
    let last = seg((CLIENT_MAC, OURS), client, vip, 1, ACK, b"");
    let out = run(&mut p, std::slice::from_ref(&last), 1);
    let (ty, _, dst, quote, _) = icmp6_error(&out[0]);
    assert!(matches!(ty, Icmpv6Type::TimeExceeded(_)));
    assert_eq!((dst, quote), (v6(CLIENT6), last[14..].to_vec()));
}

#[test]
fn fullnat6_explain_names_the_local_addresses_and_the_owner() {
    let svc = fullnat6(IpProto::TCP, &LADDR6, (40000, 40099));
    let mut p = pipeline(&config_nat6(vec![svc]));
    learn_all(&mut p);
    let tuple = crate::tuple::FiveTuple6 {
        src: v6(CLIENT6),
        dst: v6(VIP6),
        src_port: 40001,
        dst_port: 80,
        proto: IpProto::TCP,
    };
    let steps = p.explain6(&tuple);
    let text = format!("{steps:?}");
    assert!(text.contains("FULLNAT: source to a local address of [2001:db8:1::100, 2001:db8:1::101] and a port of 40000-40099 owned by worker 0"), "{text}");
    assert!(text.contains("[2001:db8:1::11]:8080"), "{text}");
    assert!(!text.contains("drop"), "{text}");
}

#[test]
fn fullnat6_sessions_sync_and_a_peer_translates_the_replies() {
    use super::sync6_tests::{drain_over_the_wire, give, v6_only};
    use crate::flow::table::Forwarding;
    let synced = || {
        let svc = fullnat6(IpProto::TCP, &LADDR6[..1], (40000, 40009));
        let mut p = pipeline(&config_nat6(vec![svc]));
        learn_all(&mut p);
        let (mut ports, mut l) = crate::sync::links(1, 256, 256);
        p.attach_sync(l.remove(0));
        (p, ports.remove(0))
    };
    let (mut a, mut a_port) = synced();
    let (mut b, mut b_port) = synced();
    let client = (CLIENT6, 40000);
    let vip = (VIP6, 80);
    // Two connections on A: the second one goes to the second backend
    // from a local port B would not have picked.
    run(
        &mut a,
        &[seg((CLIENT_MAC, OURS), (CLIENT6, 39999), vip, 9, SYN, b"")],
        0,
    );
    let out = run(
        &mut a,
        &[seg((CLIENT_MAC, OURS), client, vip, 9, SYN, b"")],
        0,
    );
    let (local, rip, _, _) = decoded(&out[0]);
    assert_eq!(rip, (v6(RIP6[1]), 8080));
    let records = v6_only(drain_over_the_wire(&mut a_port));
    assert_eq!(records.len(), 2);
    let r = records[1];
    assert_eq!(
        (r.forwarding, r.backend, r.local),
        (Forwarding::FullNat, (v6(RIP6[1]), 8080), Some(local))
    );
    // Without the record B has no session for the backend's reply.
    let (l, r6) = (local.0.to_string(), RIP6[1]);
    let syn_ack = seg((RS2, OURS), (r6, 8080), (&l, local.1), 64, SYN | ACK, b"");
    assert!(run(&mut b, std::slice::from_ref(&syn_ack), 1).is_empty());
    assert_eq!(drops(&b, DropReason::NoSession), 1);
    give(&mut b, &mut b_port, &records, 2);
    assert_eq!(b.counters().events.sync_installed, 2);
    // B holds the ports: a pool that hands neither out again.
    let pool = b.path.flow.pool6(0).expect("a pool").stats();
    assert_eq!(pool.allocated, 2);
    // With the records B sends the reply as A does, byte for byte, and the
    // client's next segment from the same local endpoint.
    let ack = seg((CLIENT_MAC, OURS), client, vip, 9, ACK, b"GET /");
    let on_a = run(&mut a, &[syn_ack.clone(), ack.clone()], 3);
    let on_b = run(&mut b, &[syn_ack, ack], 3);
    assert_eq!(
        on_a,
        vec![
            seg((OURS, CLIENT_MAC), vip, client, 63, SYN | ACK, b""),
            seg((OURS, RS2), (&l, local.1), (r6, 8080), 8, ACK, b"GET /"),
        ]
    );
    assert_eq!(on_a, on_b);
    assert_eq!(b.counters().events.sessions_created, 0);
    // A new connection on B takes none of the synced ports towards its
    // backend (a port is unique per backend: the same port towards the
    // other backend is allowed).
    let out = run(
        &mut b,
        &[seg((CLIENT_MAC, OURS), (CLIENT6, 40002), vip, 9, SYN, b"")],
        4,
    );
    let taken: Vec<((Ipv6Addr, u16), u16)> = b
        .path
        .flow
        .sessions6()
        .iter()
        .filter(|(_, s)| s.inbound().src_port != 40002)
        .map(|(_, s)| {
            (
                (s.outbound().src, s.outbound().src_port),
                s.outbound().dst_port,
            )
        })
        .collect();
    let (new_local, new_backend, _, _) = decoded(&out[0]);
    assert!(!taken.contains(&(new_backend, new_local.1)), "{taken:?}");
}

#[test]
fn fullnat6_a_port_range_change_keeps_the_ports_live_sessions_hold() {
    // One backend: every flow draws from the same bucket.
    let mut svc = fullnat6(IpProto::TCP, &LADDR6[..1], (40000, 40001));
    svc.backends.truncate(1);
    let mut cfg = config_nat6(vec![svc]);
    let mut p = pipeline(&cfg);
    learn_all(&mut p);
    let vip = (VIP6, 80);
    let syn = |port| seg((CLIENT_MAC, OURS), (CLIENT6, port), vip, 9, SYN, b"");
    let held: Vec<u16> = [41000, 41001]
        .iter()
        .map(|&c| decoded(&run(&mut p, &[syn(c)], 0)[0]).0 .1)
        .collect();
    assert!(run(&mut p, &[syn(41002)], 0).is_empty());
    assert_eq!(drops(&p, DropReason::PortsExhausted), 1);
    // A wider range under live sessions: a new pool, the two held ports
    // reserved in it, so the next two flows get the two new ports.
    cfg.services[0].local_ports = (40000, 40003);
    let next = LbTables::build_next(&cfg, p.tables(), &Default::default()).expect("builds");
    p.adopt(std::sync::Arc::new(next), 1);
    let got: Vec<u16> = [41003, 41004]
        .iter()
        .map(|&c| decoded(&run(&mut p, &[syn(c)], 2)[0]).0 .1)
        .collect();
    let mut all: Vec<u16> = held.iter().chain(&got).copied().collect();
    all.sort();
    assert_eq!(
        all,
        vec![40000, 40001, 40002, 40003],
        "held {held:?}, new {got:?}"
    );
    assert!(run(&mut p, &[syn(41005)], 2).is_empty());
    assert_eq!(drops(&p, DropReason::PortsExhausted), 2);
}
