//! NAT over IPv6 on in-memory ports (`nat6.rs`, `forward6.rs`): both
//! directions byte for byte as etherparse builds them (so the checksums
//! are etherparse's), the hop limit one lower, the session's TCP state
//! moved by both sides, Time Exceeded for a hop limit of 1 (and its
//! token bucket), the counters, the listing, expiry of both keys, and
//! two workers meeting both directions of a flow on one.

use std::net::Ipv6Addr;

use etherparse::{Icmpv6Type, PacketBuilder, SlicedPacket, TransportSlice};

use super::forward6_tests::{config_dr6, learn_backends, CLIENT6, RIP6, VIP6};
use super::local6_tests::a6;
use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::flow::proto::tcp_flags::{FIN, RST};
use crate::flow::{ProtoState, TcpState};
use crate::tables::{LbConfig, LbTables, Mode, ServiceSpec};
use crate::wire::ethernet::MacAddr;

/// Our address on the clients' link (the backends' is OUR6, 2001:db8:1::1).
pub(super) const OUR_EXT6: &str = "2001:db8:2::1";
/// The MAC the client (or the router before it) has.
pub(super) const CLIENT_MAC: [u8; 6] = ROUTER;

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

/// The NAT service: VIP6 port 80 (TCP or UDP) to the two backends on port
/// 8080.
fn nat6(proto: IpProto) -> ServiceSpec {
    let mut s = super::forward6_tests::service6(proto);
    s.mode = Mode::Nat;
    s.backends.iter_mut().for_each(|b| b.port = 8080);
    s
}

/// `config_dr6` with an address on the clients' link too.
pub(super) fn config_nat6(services: Vec<ServiceSpec>) -> LbConfig {
    let mut cfg = config_dr6(services);
    cfg.interfaces[0].addrs6.push((v6(OUR_EXT6), 64));
    cfg
}

/// The backends' MACs and the client's, learned.
pub(super) fn learn_all(p: &mut Pipeline<TestBuf>) {
    learn_backends(p);
    p.path
        .egress
        .neighbours6
        .learn(v6(CLIENT6), MacAddr(CLIENT_MAC), 0, true, |_, _| {});
}

/// A TCP segment over IPv6, built by etherparse (its checksum etherparse's).
pub(super) fn seg(
    macs: ([u8; 6], [u8; 6]),
    src: (&str, u16),
    dst: (&str, u16),
    hop: u8,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(a6(src.0), a6(dst.0), hop)
        .tcp(src.1, dst.1, 1000, 64240);
    if flags & SYN != 0 {
        b = b.syn();
    }
    if flags & ACK != 0 {
        b = b.ack(5000);
    }
    if flags & FIN != 0 {
        b = b.fin();
    }
    if flags & RST != 0 {
        b = b.rst();
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("writes");
    v
}

pub(super) fn dgram(
    macs: ([u8; 6], [u8; 6]),
    src: (&str, u16),
    dst: (&str, u16),
    hop: u8,
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(a6(src.0), a6(dst.0), hop)
        .udp(src.1, dst.1)
        .write(&mut v, b"query")
        .expect("writes");
    v
}

fn state(p: &Pipeline<TestBuf>) -> ProtoState {
    let (_, s) = p.path.flow.sessions6().iter().next().expect("a session");
    s.state
}

#[test]
fn nat6_rewrites_both_directions_byte_for_byte() {
    let mut p = pipeline(&config_nat6(vec![nat6(IpProto::TCP)]));
    learn_all(&mut p);
    let client = (CLIENT6, 40000);
    let (vip, rip) = ((VIP6, 80), (RIP6[0], 8080));
    // The client's SYN leaves for the backend: destination and port
    // rewritten, hop limit 57 -> 56, MACs ours -> the backend's.
    let syn = seg((CLIENT_MAC, OURS), client, vip, 57, SYN, b"");
    let out = run(&mut p, &[syn], 0);
    assert_eq!(out, vec![seg((OURS, RS1), client, rip, 56, SYN, b"")]);
    assert_eq!(state(&p), ProtoState::Tcp(TcpState::SynRecv));
    // The backend's SYN-ACK comes back to us (its gateway) and leaves for
    // the client from the VIP, hop limit 64 -> 63.
    let syn_ack = seg((RS1, OURS), rip, client, 64, SYN | ACK, b"");
    let out = run(&mut p, &[syn_ack], 1);
    assert_eq!(
        out,
        vec![seg((OURS, CLIENT_MAC), vip, client, 63, SYN | ACK, b"")]
    );
    // The client's ACK and data, the backend's answer.
    let ack = seg((CLIENT_MAC, OURS), client, vip, 57, ACK, b"GET /");
    let answer = seg((RS1, OURS), rip, client, 64, ACK, b"HTTP/1.0 200 OK");
    let out = run(&mut p, &[ack, answer], 2);
    assert_eq!(
        out,
        vec![
            seg((OURS, RS1), client, rip, 56, ACK, b"GET /"),
            seg((OURS, CLIENT_MAC), vip, client, 63, ACK, b"HTTP/1.0 200 OK"),
        ]
    );
    assert_eq!(state(&p), ProtoState::Tcp(TcpState::Established));
    // The client closes: Input's FIN from ESTABLISHED is CLOSE_WAIT (DR's
    // one-sided InputOnly would say FIN_WAIT); the backend's FIN then
    // moves it on by the Output table, which DR never sees.
    let fin = seg((CLIENT_MAC, OURS), client, vip, 57, FIN | ACK, b"");
    run(&mut p, &[fin], 3);
    assert_eq!(state(&p), ProtoState::Tcp(TcpState::CloseWait));
    let fin = seg((RS1, OURS), rip, client, 64, FIN | ACK, b"");
    run(&mut p, &[fin], 4);
    assert_eq!(state(&p), ProtoState::Tcp(TcpState::TimeWait));
    // Counted both ways on the backend: 3 in (60 + 65 + 60 bytes), 3 out
    // (60 + 75 + 60).
    let c = p.counters();
    let b = &c.backends[0];
    assert_eq!((b.conns, b.packets_in, b.packets_out), (1, 3, 3));
    assert_eq!((b.bytes_in, b.bytes_out), (185, 195));
    // One session, two keys: the client's tuple and the backend's reply.
    let t6 = p.path.flow.sessions6();
    assert_eq!(t6.len(), 1);
    let (_, s) = t6.iter().next().expect("a session");
    assert_eq!(s.outbound().src, v6(RIP6[0]));
    assert_eq!(
        (s.outbound().src_port, s.outbound().dst_port),
        (8080, 40000)
    );
    assert_eq!(s.flags() & crate::flow::table::session_flags::SINGLE, 0);
    // The listing names the client, the VIP and the backend with its port.
    let mut seen = Vec::new();
    p.scan_sessions(&Default::default(), 0, p.session_slots(), 4, |v| {
        seen.push(v);
        true
    });
    assert_eq!(seen.len(), 1);
    let v = &seen[0];
    let show = |a: (std::net::IpAddr, u16)| std::net::SocketAddr::new(a.0, a.1).to_string();
    assert_eq!(
        (show(v.client), show(v.destination), show(v.backend)),
        (
            "[2001:db8:2::7]:40000".into(),
            "[2001:db8:10::10]:80".into(),
            "[2001:db8:1::11]:8080".into()
        )
    );
    assert_eq!(v.local, None);
    assert_eq!(drops(&p, DropReason::NoSession), 0);
}

#[test]
fn nat6_udp_both_ways_and_replies_without_a_session() {
    let mut p = pipeline(&config_nat6(vec![nat6(IpProto::UDP)]));
    learn_all(&mut p);
    let client = (CLIENT6, 5353);
    let (vip, rip) = ((VIP6, 80), (RIP6[0], 8080));
    let q = dgram((CLIENT_MAC, OURS), client, vip, 10);
    let a = dgram((RS1, OURS), rip, client, 10);
    let out = run(&mut p, &[q, a], 0);
    assert_eq!(
        out,
        vec![
            dgram((OURS, RS1), client, rip, 9),
            dgram((OURS, CLIENT_MAC), vip, client, 9),
        ]
    );
    // From the backend to a client it has no session with, or from its
    // other port: not a reply of ours.
    let stray = dgram((RS1, OURS), rip, (CLIENT6, 5354), 10);
    let out = run(&mut p, &[stray], 1);
    assert!(out.is_empty());
    assert_eq!(drops(&p, DropReason::NoSession), 1);
    // After the UDP timeout the session is gone with both its keys.
    run(&mut p, &[], 400_000);
    assert_eq!(p.path.flow.sessions6().len(), 0);
    let late = dgram((RS1, OURS), rip, client, 10);
    assert!(run(&mut p, &[late], 400_001).is_empty());
    assert_eq!(drops(&p, DropReason::NoSession), 2);
    assert_eq!(p.session_counts().services[0], 0);
}

/// The ICMPv6 error in `f`: its type, source, destination, the packet it
/// quotes, and whether etherparse verifies its checksum.
pub(super) fn icmp6_error(f: &[u8]) -> (Icmpv6Type, Ipv6Addr, Ipv6Addr, Vec<u8>, bool) {
    let p = SlicedPacket::from_ethernet(f).expect("decodes");
    let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
        panic!("not IPv6")
    };
    let h = ip.header().to_header();
    let Some(TransportSlice::Icmpv6(icmp)) = &p.transport else {
        panic!("not ICMPv6: {:?}", p.transport)
    };
    let want = icmp
        .icmp_type()
        .calc_checksum(h.source, h.destination, icmp.payload())
        .expect("sums");
    (
        icmp.icmp_type(),
        Ipv6Addr::from(h.source),
        Ipv6Addr::from(h.destination),
        icmp.payload().to_vec(),
        want == icmp.checksum(),
    )
}

#[test]
fn nat6_a_hop_limit_of_one_gets_time_exceeded_both_ways() {
    let mut p = pipeline(&config_nat6(vec![nat6(IpProto::TCP)]));
    learn_all(&mut p);
    let client = (CLIENT6, 40000);
    let (vip, rip) = ((VIP6, 80), (RIP6[0], 8080));
    let syn = seg((CLIENT_MAC, OURS), client, vip, 1, SYN, b"");
    let out = run(&mut p, std::slice::from_ref(&syn), 0);
    assert_eq!(out.len(), 1);
    // Back to the client's MAC from ours, from our address on its link.
    assert_eq!(
        (&out[0][0..6], &out[0][6..12]),
        (&CLIENT_MAC[..], &OURS[..])
    );
    let (ty, src, dst, quote, sum_ok) = icmp6_error(&out[0]);
    assert_eq!(
        ty,
        Icmpv6Type::TimeExceeded(etherparse::icmpv6::TimeExceededCode::HopLimitExceeded)
    );
    assert_eq!((src, dst, sum_ok), (v6(OUR_EXT6), v6(CLIENT6), true));
    assert_eq!(quote, syn[14..], "the packet as it came, whole");
    assert_eq!(drops(&p, DropReason::TtlExceeded), 1);
    assert_eq!(p.counters().events.nd.icmpv6_errors_sent, 1);
    // A reply with hop limit 1 (after a SYN that made the session): the
    // error goes to the backend, from our address on its link.
    run(
        &mut p,
        &[seg((CLIENT_MAC, OURS), client, vip, 9, SYN, b"")],
        1,
    );
    let reply = seg((RS1, OURS), rip, client, 1, SYN | ACK, b"");
    let out = run(&mut p, std::slice::from_ref(&reply), 2);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0][0..6], RS1);
    let (ty, src, dst, quote, sum_ok) = icmp6_error(&out[0]);
    assert!(matches!(ty, Icmpv6Type::TimeExceeded(_)));
    assert_eq!(
        (src, dst, sum_ok),
        (v6(super::forward6_tests::OUR6), v6(RIP6[0]), true)
    );
    assert_eq!(quote, reply[14..]);
    assert_eq!(drops(&p, DropReason::TtlExceeded), 2);
    // The token bucket IPv4's errors use: 50, one more a millisecond (full
    // again at 2 ms, less the error just sent), then none.
    let burst: Vec<Vec<u8>> = (0..60)
        .map(|i| seg((CLIENT_MAC, OURS), (CLIENT6, 41000 + i), vip, 1, SYN, b""))
        .collect();
    let out = run(&mut p, &burst, 2);
    assert_eq!(out.len(), 49, "the bucket had 49 of its 50 left");
    assert_eq!(drops(&p, DropReason::IcmpRateLimited), 11);
    assert_eq!(drops(&p, DropReason::TtlExceeded), 62);
}

#[test]
fn nat6_both_directions_meet_on_the_owning_worker() {
    let tables = std::sync::Arc::new(
        LbTables::build(&config_nat6(vec![nat6(IpProto::TCP)])).expect("builds"),
    );
    let mut sim = super::workers_tests::Sim::new(&tables, 2);
    for p in &mut sim.pipes {
        learn_all(p);
    }
    let (vip, rip) = ((VIP6, 80), (RIP6[0], 8080));
    // Eight flows: each SYN arrives on queue 0, each reply on queue 1, so
    // half of each must be handed over to meet its session.
    let ports: Vec<u16> = (40000..40008).collect();
    for &port in &ports {
        sim.deliver(
            0,
            &seg((CLIENT_MAC, OURS), (CLIENT6, port), vip, 9, SYN, b""),
        );
    }
    let out = sim.settle();
    assert_eq!(out.iter().map(Vec::len).sum::<usize>(), 8);
    for (i, &port) in ports.iter().enumerate() {
        let rip = (RIP6[i % 2], 8080);
        let mac = if i % 2 == 0 { RS1 } else { RS2 };
        sim.deliver(
            1,
            &seg((mac, OURS), rip, (CLIENT6, port), 64, SYN | ACK, b""),
        );
    }
    let _ = rip;
    let out = sim.settle();
    let mut back: Vec<Vec<u8>> = out.into_iter().flatten().collect();
    back.sort();
    let mut want: Vec<Vec<u8>> = ports
        .iter()
        .map(|&port| seg((OURS, CLIENT_MAC), vip, (CLIENT6, port), 63, SYN | ACK, b""))
        .collect();
    want.sort();
    assert_eq!(back, want, "every reply found its session");
    // Each session on the worker its client's endpoint names.
    let held: Vec<usize> = sim
        .pipes
        .iter()
        .map(|p| p.path.flow.sessions6().len())
        .collect();
    assert_eq!(held.iter().sum::<usize>(), 8);
    let owner = |port: u16| crate::tables::owner::flow_hash6(v6(CLIENT6), port) as usize % 2;
    let on_1 = ports.iter().filter(|&&p| owner(p) == 1).count();
    assert_eq!(held, vec![8 - on_1, on_1]);
    assert!(on_1 > 0 && on_1 < 8, "the ports spread: {on_1}");
    // Handed over: the SYNs owned by 1 and the replies owned by 0.
    assert_eq!(sim.events().redirects_sent, 8);
    assert_eq!(sim.dropped(), 0);
    for p in &sim.pipes {
        assert_eq!(drops(p, DropReason::NoSession), 0);
    }
}

#[test]
fn nat6_sessions_sync_and_a_peer_translates_the_replies() {
    use super::sync6_tests::{drain_over_the_wire, give, v6_only};
    use crate::flow::table::Forwarding;
    let synced = || {
        let mut p = pipeline(&config_nat6(vec![nat6(IpProto::TCP)]));
        learn_all(&mut p);
        let (mut ports, mut l) = crate::sync::links(1, 256, 256);
        p.attach_sync(l.remove(0));
        (p, ports.remove(0))
    };
    let (mut a, mut a_port) = synced();
    let (mut b, mut b_port) = synced();
    let client = (CLIENT6, 40000);
    let (vip, rip) = ((VIP6, 80), (RIP6[1], 8080));
    // Make A's round robin pick the second backend, so B (whose cursor
    // has not moved) could not find it by scheduling.
    run(
        &mut a,
        &[seg((CLIENT_MAC, OURS), (CLIENT6, 39999), vip, 9, SYN, b"")],
        0,
    );
    run(
        &mut a,
        &[seg((CLIENT_MAC, OURS), client, vip, 9, SYN, b"")],
        0,
    );
    let records = v6_only(drain_over_the_wire(&mut a_port));
    assert_eq!(records.len(), 2);
    let r = records[1];
    assert_eq!(
        (r.forwarding, r.backend),
        (Forwarding::Nat, (v6(RIP6[1]), 8080))
    );
    // Without the record B has no session for the backend's reply.
    let syn_ack = seg((RS2, OURS), rip, client, 64, SYN | ACK, b"");
    assert!(run(&mut b, std::slice::from_ref(&syn_ack), 1).is_empty());
    assert_eq!(drops(&b, DropReason::NoSession), 1);
    give(&mut b, &mut b_port, &records, 2);
    assert_eq!(b.counters().events.sync_installed, 2);
    // With it, B sends the reply as A does, byte for byte, and the
    // client's next segment to the same backend.
    let ack = seg((CLIENT_MAC, OURS), client, vip, 9, ACK, b"GET /");
    let on_a = run(&mut a, &[syn_ack.clone(), ack.clone()], 3);
    let on_b = run(&mut b, &[syn_ack, ack], 3);
    assert_eq!(
        on_a,
        vec![
            seg((OURS, CLIENT_MAC), vip, client, 63, SYN | ACK, b""),
            seg((OURS, RS2), client, rip, 8, ACK, b"GET /"),
        ]
    );
    assert_eq!(on_a, on_b);
    assert_eq!(b.counters().events.sessions_created, 0);
    let flows: Vec<(u16, ProtoState)> = b
        .path
        .flow
        .sessions6()
        .iter()
        .map(|(_, s)| (s.inbound().src_port, s.state))
        .collect();
    assert!(
        flows.contains(&(40000, ProtoState::Tcp(TcpState::Established))),
        "{flows:?}"
    );
}

#[test]
fn nat6_answers_packet_too_big_with_the_packet_as_the_client_sent_it() {
    let mut cfg = config_nat6(vec![nat6(IpProto::TCP)]);
    cfg.ports[0].mtu = 1280;
    let mut p = pipeline(&cfg);
    learn_all(&mut p);
    let (client, vip) = ((CLIENT6, 40000), (VIP6, 80));
    // 60 bytes of headers: 1220 of data fit 1280, 1221 do not.
    let fits = seg((CLIENT_MAC, OURS), client, vip, 9, SYN, &[1; 1220]);
    let big = seg((CLIENT_MAC, OURS), client, vip, 9, ACK, &[2; 1221]);
    let out = run(&mut p, &[fits, big.clone()], 0);
    assert_eq!(
        out.len(),
        2,
        "the SYN to the backend, the error to the client"
    );
    let (ty, src, dst, quote, sum_ok) = icmp6_error(&out[1]);
    assert_eq!(ty, Icmpv6Type::PacketTooBig { mtu: 1280 });
    assert_eq!((src, dst, sum_ok), (v6(OUR_EXT6), v6(CLIENT6), true));
    // Not rewritten: to the VIP, hop limit as sent.
    assert_eq!(quote, big[14..14 + quote.len()]);
    assert_eq!(drops(&p, DropReason::PacketTooBig), 1);
}
