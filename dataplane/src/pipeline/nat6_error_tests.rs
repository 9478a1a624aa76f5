//! ICMPv6 errors about IPv6 NAT and FULLNAT flows (`nat6_error.rs`) on
//! in-memory ports: a router's Packet Too Big about a packet we sent the
//! backend reaches the client from the VIP, quoting what the client sent;
//! one about a reply reaches the backend, quoting what it sent. Every
//! emitted error is decoded by etherparse: outer addresses and hop limit,
//! the ICMPv6 checksum, the quote's addresses and ports, and the quoted
//! TCP or UDP checksum (a whole quote) or the quote byte for byte against
//! the original (a cut one). Errors quoting no session, with a hop limit
//! of 1, or cut before the ports are not translated; two workers place
//! each error on the worker holding its session.

use std::net::Ipv6Addr;

use etherparse::{Icmpv6Type, PacketBuilder, SlicedPacket, TransportSlice};

use super::forward6_tests::{CLIENT6, OUR6, RIP6, VIP6};
use super::local6_tests::a6;
use super::nat6_tests::{config_nat6, dgram, learn_all, seg, CLIENT_MAC};
use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::tables::{LbTables, Mode, ServiceSpec};

/// The FULLNAT service's local address, on the backends' link.
pub(super) const LADDR6: &str = "2001:db8:1::100";
/// A router on the backends' side and one on the clients' side.
pub(super) const ROUTER_B6: &str = "2001:db8:1::fe";
pub(super) const ROUTER_C6: &str = "2001:db8:2::fe";

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

/// VIP6 port 80 to the backends' port 8080, NAT.
pub(super) fn nat6(proto: IpProto) -> ServiceSpec {
    let mut s = super::forward6_tests::service6(proto);
    s.mode = Mode::Nat;
    s.backends.iter_mut().for_each(|b| b.port = 8080);
    s
}

/// VIP6 port 80 to the backends' port 8080, FULLNAT from LADDR6 and
/// `ports`.
pub(super) fn fullnat6(proto: IpProto, ports: (u16, u16)) -> ServiceSpec {
    let mut s = nat6(proto);
    s.mode = Mode::FullNat;
    s.local_addrs = Vec::new();
    s.local_addrs6 = vec![v6(LADDR6)];
    s.local_ports = ports;
    s
}

pub(super) fn pipe(svc: ServiceSpec) -> Pipeline<TestBuf> {
    let mut p = pipeline(&config_nat6(vec![svc]));
    learn_all(&mut p);
    p
}

/// An ICMPv6 error of `ty` from `src` to `dst` with hop limit `hop`,
/// carrying `quote`, from the MAC `from` to ours (etherparse's checksum).
pub(super) fn error6(
    from: [u8; 6],
    (src, dst): (&str, &str),
    hop: u8,
    ty: Icmpv6Type,
    quote: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(from, OURS)
        .ipv6(a6(src), a6(dst), hop)
        .icmpv6(ty)
        .write(&mut v, quote)
        .expect("writes");
    v
}

pub(super) fn too_big(mtu: u32) -> Icmpv6Type {
    Icmpv6Type::PacketTooBig { mtu }
}

/// What an emitted ICMPv6 error says, as etherparse reads it.
#[derive(Debug)]
pub(super) struct Seen {
    pub(super) macs: ([u8; 6], [u8; 6]),
    pub(super) ty: Icmpv6Type,
    pub(super) src: Ipv6Addr,
    pub(super) dst: Ipv6Addr,
    pub(super) hop: u8,
    /// Whether the ICMPv6 checksum verifies.
    pub(super) sum_ok: bool,
    pub(super) quote: Vec<u8>,
}

pub(super) fn seen(f: &[u8]) -> Seen {
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
    let mac = |r: std::ops::Range<usize>| <[u8; 6]>::try_from(&f[r]).expect("a MAC");
    Seen {
        macs: (mac(6..12), mac(0..6)),
        ty: icmp.icmp_type(),
        src: Ipv6Addr::from(h.source),
        dst: Ipv6Addr::from(h.destination),
        hop: h.hop_limit,
        sum_ok: want == icmp.checksum(),
        quote: icmp.payload().to_vec(),
    }
}

type End = (Ipv6Addr, u16);

/// The quoted header's addresses and its L4 ports, read off the bytes.
fn quoted_ends(q: &[u8]) -> (End, End) {
    let h = etherparse::Ipv6HeaderSlice::from_slice(q).expect("a quoted IPv6 header");
    let port = |at: usize| u16::from_be_bytes([q[at], q[at + 1]]);
    (
        (Ipv6Addr::from(h.source()), port(40)),
        (Ipv6Addr::from(h.destination()), port(42)),
    )
}

/// Whether the L4 checksum of the whole quoted packet `q` verifies.
pub(super) fn quoted_sum_ok(q: &[u8]) -> bool {
    let p = SlicedPacket::from_ip(q).expect("a whole quoted packet");
    let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
        panic!("not IPv6")
    };
    let h = ip.header().to_header();
    match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            let want = t.to_header().calc_checksum_ipv6(&h, t.payload());
            want.expect("sums") == t.checksum()
        }
        Some(TransportSlice::Udp(u)) => {
            let want = u.to_header().calc_checksum_ipv6(&h, u.payload());
            want.expect("sums") == u.checksum()
        }
        other => panic!("not TCP or UDP: {other:?}"),
    }
}

/// `frame`'s IP packet with its hop limit one lower, as the next hop
/// received it.
pub(super) fn hop_on(frame: &[u8]) -> Vec<u8> {
    let mut ip = frame[14..].to_vec();
    ip[7] -= 1;
    ip
}

fn translated(p: &Pipeline<TestBuf>) -> u64 {
    p.counters().events.icmp_errors_translated
}

#[test]
fn fullnat6_packet_too_big_from_the_backend_side_reaches_the_client_from_the_vip() {
    let mut p = pipe(fullnat6(IpProto::TCP, (40000, 40000)));
    let (client, vip) = ((CLIENT6, 40001), (VIP6, 80));
    let (rip, local) = ((RIP6[0], 8080), (LADDR6, 40000));
    let syn = seg((CLIENT_MAC, OURS), client, vip, 57, SYN, b"");
    let out = run(&mut p, std::slice::from_ref(&syn), 0);
    assert_eq!(out, vec![seg((OURS, RS1), local, rip, 56, SYN, b"")]);
    // A router before the backend: our SYN (quoted whole) is too big.
    let err = error6(RS2, (ROUTER_B6, LADDR6), 64, too_big(1280), &out[0][14..]);
    let out = run(&mut p, &[err], 1);
    assert_eq!(out.len(), 1, "to the client");
    let e = seen(&out[0]);
    assert_eq!(e.macs, (OURS, CLIENT_MAC));
    assert_eq!(e.ty, too_big(1280));
    assert_eq!((e.src, e.dst, e.hop), (v6(VIP6), v6(CLIENT6), 63));
    assert!(e.sum_ok, "the ICMPv6 checksum verifies");
    // The quote is the client's SYN as it sent it, one hop on.
    assert_eq!(
        quoted_ends(&e.quote),
        ((v6(CLIENT6), 40001), (v6(VIP6), 80))
    );
    assert!(quoted_sum_ok(&e.quote), "the quoted TCP checksum verifies");
    assert_eq!(e.quote, hop_on(&syn));
    assert_eq!(translated(&p), 1);

    // A long segment, quoted cut to 1280 bytes as RFC 4443 2.4 (c) has
    // it: translated all the same, byte for byte what the client sent.
    let ack = seg((CLIENT_MAC, OURS), client, vip, 57, ACK, &[7; 1400]);
    let out = run(&mut p, std::slice::from_ref(&ack), 2);
    assert_eq!(out.len(), 1);
    let cut = &out[0][14..14 + 1280 - 48];
    let err = error6(RS2, (ROUTER_B6, LADDR6), 64, too_big(1400), cut);
    let out = run(&mut p, &[err], 3);
    assert_eq!(out.len(), 1, "a cut quote is translated");
    let e = seen(&out[0]);
    assert_eq!(
        (e.src, e.dst, e.hop, e.sum_ok),
        (v6(VIP6), v6(CLIENT6), 63, true)
    );
    assert_eq!(e.ty, too_big(1400));
    assert_eq!(e.quote, hop_on(&ack)[..1232]);
    assert_eq!(translated(&p), 2);
}

#[test]
fn nat6_packet_too_big_from_the_backend_side_reaches_the_client_from_the_vip() {
    let mut p = pipe(nat6(IpProto::TCP));
    let (client, vip, rip) = ((CLIENT6, 40000), (VIP6, 80), (RIP6[0], 8080));
    let syn = seg((CLIENT_MAC, OURS), client, vip, 57, SYN, b"");
    let out = run(&mut p, std::slice::from_ref(&syn), 0);
    assert_eq!(out, vec![seg((OURS, RS1), client, rip, 56, SYN, b"")]);
    // NAT keeps the client's address: the router's error is to it, and
    // reaches us as its gateway.
    let err = error6(RS2, (ROUTER_B6, CLIENT6), 64, too_big(1280), &out[0][14..]);
    let out = run(&mut p, &[err], 1);
    assert_eq!(out.len(), 1, "to the client");
    let e = seen(&out[0]);
    assert_eq!(e.macs, (OURS, CLIENT_MAC));
    assert_eq!(e.ty, too_big(1280));
    assert_eq!(
        (e.src, e.dst, e.hop, e.sum_ok),
        (v6(VIP6), v6(CLIENT6), 63, true)
    );
    assert_eq!(
        quoted_ends(&e.quote),
        ((v6(CLIENT6), 40000), (v6(VIP6), 80))
    );
    assert!(quoted_sum_ok(&e.quote));
    assert_eq!(e.quote, hop_on(&syn));
    assert_eq!(translated(&p), 1);
}

#[test]
fn fullnat6_an_error_about_a_reply_reaches_the_backend_quoting_its_reply() {
    let mut p = pipe(fullnat6(IpProto::TCP, (40000, 40000)));
    let (client, vip) = ((CLIENT6, 40001), (VIP6, 80));
    let (rip, local) = ((RIP6[0], 8080), (LADDR6, 40000));
    run(
        &mut p,
        &[seg((CLIENT_MAC, OURS), client, vip, 57, SYN, b"")],
        0,
    );
    let syn_ack = seg((RS1, OURS), rip, local, 64, SYN | ACK, b"");
    let out = run(&mut p, std::slice::from_ref(&syn_ack), 1);
    assert_eq!(
        out,
        vec![seg((OURS, CLIENT_MAC), vip, client, 63, SYN | ACK, b"")]
    );
    // A router on the client's side: the error is to the VIP, about our
    // SYN-ACK.
    let err = error6(
        CLIENT_MAC,
        (ROUTER_C6, VIP6),
        50,
        Icmpv6Type::DestinationUnreachable(etherparse::icmpv6::DestUnreachableCode::Address),
        &out[0][14..],
    );
    let out = run(&mut p, &[err], 2);
    assert_eq!(out.len(), 1, "to the backend");
    let e = seen(&out[0]);
    assert_eq!(e.macs, (OURS, RS1));
    assert_eq!(
        e.ty,
        Icmpv6Type::DestinationUnreachable(etherparse::icmpv6::DestUnreachableCode::Address)
    );
    // From the local address the backend's flow is with.
    assert_eq!(
        (e.src, e.dst, e.hop, e.sum_ok),
        (v6(LADDR6), v6(RIP6[0]), 49, true)
    );
    assert_eq!(
        quoted_ends(&e.quote),
        ((v6(RIP6[0]), 8080), (v6(LADDR6), 40000))
    );
    assert!(quoted_sum_ok(&e.quote));
    assert_eq!(e.quote, hop_on(&syn_ack));
    assert_eq!(translated(&p), 1);
}

#[test]
fn nat6_an_error_about_a_reply_reaches_the_backend_quoting_its_reply() {
    let mut p = pipe(nat6(IpProto::TCP));
    let (client, vip, rip) = ((CLIENT6, 40000), (VIP6, 80), (RIP6[0], 8080));
    run(
        &mut p,
        &[seg((CLIENT_MAC, OURS), client, vip, 57, SYN, b"")],
        0,
    );
    let syn_ack = seg((RS1, OURS), rip, client, 64, SYN | ACK, &[5; 1300]);
    let out = run(&mut p, std::slice::from_ref(&syn_ack), 1);
    assert_eq!(out.len(), 1);
    let err = error6(
        CLIENT_MAC,
        (ROUTER_C6, VIP6),
        64,
        too_big(1300),
        &out[0][14..14 + 1232],
    );
    let out = run(&mut p, &[err], 2);
    assert_eq!(out.len(), 1, "to the backend");
    let e = seen(&out[0]);
    assert_eq!(e.macs, (OURS, RS1));
    assert_eq!(e.ty, too_big(1300));
    // The backend's reply went to the client's address: the error is
    // from there.
    assert_eq!(
        (e.src, e.dst, e.hop, e.sum_ok),
        (v6(CLIENT6), v6(RIP6[0]), 63, true)
    );
    assert_eq!(
        quoted_ends(&e.quote),
        ((v6(RIP6[0]), 8080), (v6(CLIENT6), 40000))
    );
    assert_eq!(e.quote, hop_on(&syn_ack)[..1232]);
    assert_eq!(translated(&p), 1);
}

#[test]
fn fullnat6_udp_quotes_keep_their_checksum_right_and_a_zero_one_zero() {
    let mut p = pipe(fullnat6(IpProto::UDP, (40000, 40000)));
    let (client, vip) = ((CLIENT6, 5353), (VIP6, 80));
    let q = dgram((CLIENT_MAC, OURS), client, vip, 10);
    let out = run(&mut p, std::slice::from_ref(&q), 0);
    assert_eq!(out.len(), 1);
    let sent = out[0][14..].to_vec();
    let err = error6(RS2, (ROUTER_B6, LADDR6), 64, too_big(1280), &sent);
    let out = run(&mut p, &[err], 1);
    assert_eq!(out.len(), 1);
    let e = seen(&out[0]);
    assert_eq!(
        (e.src, e.dst, e.hop, e.sum_ok),
        (v6(VIP6), v6(CLIENT6), 63, true)
    );
    assert_eq!(quoted_ends(&e.quote), ((v6(CLIENT6), 5353), (v6(VIP6), 80)));
    assert!(quoted_sum_ok(&e.quote), "the quoted UDP checksum verifies");
    assert_eq!(e.quote, hop_on(&q));
    // A quote whose UDP checksum is 0 (none): it stays 0, not a made-up
    // one; the rest as before.
    let mut zero = sent.clone();
    zero[46..48].copy_from_slice(&[0, 0]);
    let err = error6(RS2, (ROUTER_B6, LADDR6), 64, too_big(1280), &zero);
    let out = run(&mut p, &[err], 2);
    assert_eq!(out.len(), 1);
    let e = seen(&out[0]);
    assert!(e.sum_ok);
    assert_eq!(e.quote[46..48], [0, 0], "no checksum stays none");
    assert_eq!(e.quote[..46], hop_on(&q)[..46]);
    assert_eq!(translated(&p), 2);
}

#[test]
fn errors_quoting_no_session_a_last_hop_or_no_ports_are_not_translated() {
    let mut p = pipe(fullnat6(IpProto::TCP, (40000, 40000)));
    let (client, vip) = ((CLIENT6, 40001), (VIP6, 80));
    let out = run(
        &mut p,
        &[seg((CLIENT_MAC, OURS), client, vip, 57, SYN, b"")],
        0,
    );
    let sent = out[0][14..].to_vec();
    // The old path for an ICMPv6 error to one of our addresses (the
    // local address, the VIP): ipv6_local_unhandled.
    let before = drops(&p, DropReason::Ipv6LocalUnhandled);

    // Another port of the backend: no session. Not translated, and
    // counted as such an error was before.
    let mut other = sent.clone();
    other[42..44].copy_from_slice(&8081u16.to_be_bytes());
    let err = error6(RS2, (ROUTER_B6, LADDR6), 64, too_big(1280), &other);
    assert!(run(&mut p, &[err], 1).is_empty());
    assert_eq!(drops(&p, DropReason::Ipv6LocalUnhandled), before + 1);
    // The same to the client's side: a client port with no session.
    let reply = seg(
        (OURS, CLIENT_MAC),
        vip,
        (CLIENT6, 40002),
        63,
        SYN | ACK,
        b"",
    );
    let err = error6(
        CLIENT_MAC,
        (ROUTER_C6, VIP6),
        64,
        too_big(1280),
        &reply[14..],
    );
    assert!(run(&mut p, &[err], 1).is_empty());
    assert_eq!(drops(&p, DropReason::Ipv6LocalUnhandled), before + 2);

    // Cut before the ports (the IPv6 header and two bytes): not
    // translated either.
    let err = error6(RS2, (ROUTER_B6, LADDR6), 64, too_big(1280), &sent[..42]);
    assert!(run(&mut p, &[err], 2).is_empty());
    assert_eq!(drops(&p, DropReason::Ipv6LocalUnhandled), before + 3);
    assert_eq!(translated(&p), 0);

    // Its session's, with a hop limit of 1: dropped as ttl_exceeded (no
    // error about an error).
    let ttl = drops(&p, DropReason::TtlExceeded);
    let err = error6(RS2, (ROUTER_B6, LADDR6), 1, too_big(1280), &sent);
    assert!(run(&mut p, &[err], 3).is_empty());
    assert_eq!(drops(&p, DropReason::TtlExceeded), ttl + 1);
    assert_eq!(p.counters().events.nd.icmpv6_errors_sent, 0);
    assert_eq!(translated(&p), 0);
    // With 2 it goes, with 1 left.
    let err = error6(RS2, (ROUTER_B6, LADDR6), 2, too_big(1280), &sent);
    let out = run(&mut p, &[err], 4);
    assert_eq!(out.len(), 1);
    assert_eq!(seen(&out[0]).hop, 1);
    assert_eq!(translated(&p), 1);
}

#[test]
fn errors_about_a_dr_flow_are_not_translated() {
    let mut p = pipeline(&config_nat6(vec![
        nat6(IpProto::UDP),
        super::forward6_tests::service6(IpProto::TCP),
    ]));
    learn_all(&mut p);
    let syn = seg(
        (CLIENT_MAC, OURS),
        (CLIENT6, 40001),
        (VIP6, 80),
        57,
        SYN,
        b"",
    );
    assert_eq!(run(&mut p, &[syn], 0).len(), 1);
    assert_eq!(p.path.flow.sessions6().len(), 1);
    // Its backend answers the client itself: an error about such a reply
    // (to the VIP, quoting the VIP's port 80) is not ours to translate.
    let reply = seg(
        (RS1, CLIENT_MAC),
        (VIP6, 80),
        (CLIENT6, 40001),
        64,
        SYN | ACK,
        b"",
    );
    let err = error6(
        CLIENT_MAC,
        (ROUTER_C6, VIP6),
        64,
        too_big(1280),
        &reply[14..],
    );
    let before = drops(&p, DropReason::Ipv6LocalUnhandled);
    assert!(run(&mut p, &[err], 1).is_empty());
    assert_eq!(drops(&p, DropReason::Ipv6LocalUnhandled), before + 1);
    assert_eq!(translated(&p), 0);
}

#[test]
fn nat6_an_error_to_a_client_with_no_session_is_not_forwarded() {
    let mut p = pipe(nat6(IpProto::TCP));
    let (client, vip) = ((CLIENT6, 40000), (VIP6, 80));
    let out = run(
        &mut p,
        &[seg((CLIENT_MAC, OURS), client, vip, 57, SYN, b"")],
        0,
    );
    // About a packet of the client's other port: NAT's errors are to the
    // client's address, not ours, and without a session take the old
    // path of such a packet, ipv6_not_forwarded.
    let mut other = out[0][14..].to_vec();
    other[40..42].copy_from_slice(&40001u16.to_be_bytes());
    let err = error6(RS2, (ROUTER_B6, CLIENT6), 64, too_big(1280), &other);
    assert!(run(&mut p, &[err], 1).is_empty());
    assert_eq!(drops(&p, DropReason::Ipv6NotForwarded), 1);
    assert_eq!(translated(&p), 0);
}

#[test]
fn fullnat6_errors_on_another_workers_queue_reach_the_session_owner() {
    let svc = fullnat6(IpProto::TCP, (40000, 40063));
    let tables = std::sync::Arc::new(LbTables::build(&config_nat6(vec![svc])).expect("builds"));
    let mut sim = super::workers_tests::Sim::new(&tables, 2);
    for p in &mut sim.pipes {
        learn_all(p);
    }
    let vip = (VIP6, 80);
    let ports: Vec<u16> = (40000..40008).collect();
    let syns: Vec<Vec<u8>> = ports
        .iter()
        .map(|&port| seg((CLIENT_MAC, OURS), (CLIENT6, port), vip, 9, SYN, b""))
        .collect();
    for s in &syns {
        sim.deliver(0, s);
    }
    let sent: Vec<Vec<u8>> = sim.settle().into_iter().flatten().collect();
    assert_eq!(sent.len(), 8);
    let redirects = sim.events().redirects_sent;
    // The routers' errors about every SYN we sent, all on queue 1 (the
    // backend side) and, about replies, all on queue 0.
    for f in &sent {
        let err = error6(RS2, (ROUTER_B6, LADDR6), 64, too_big(1280), &f[14..]);
        sim.deliver(1, &err);
    }
    let out = sim.settle();
    let mut to_client: Vec<(Ipv6Addr, Ipv6Addr, Vec<u8>)> = out
        .iter()
        .flatten()
        .map(|f| {
            let e = seen(f);
            assert!(e.sum_ok && quoted_sum_ok(&e.quote));
            (e.src, e.dst, e.quote)
        })
        .collect();
    to_client.sort();
    let mut want: Vec<(Ipv6Addr, Ipv6Addr, Vec<u8>)> = syns
        .iter()
        .map(|s| (v6(VIP6), v6(CLIENT6), hop_on(s)))
        .collect();
    want.sort();
    assert_eq!(to_client, want, "every error found its session");
    // Handed over: the errors about worker 0's ports (even ones).
    let even = sent
        .iter()
        .filter(|f| u16::from_be_bytes([f[54], f[55]]) & 1 == 0)
        .count();
    assert!(even > 0 && even < 8, "the ports spread: {even}");
    assert_eq!(sim.events().redirects_sent - redirects, even as u64);
    // The client's side: errors about replies to each client, on queue
    // 0; those of worker 1's clients are handed over.
    let redirects = sim.events().redirects_sent;
    for &port in &ports {
        let reply = seg((OURS, CLIENT_MAC), vip, (CLIENT6, port), 63, ACK, b"");
        let err = error6(
            CLIENT_MAC,
            (ROUTER_C6, VIP6),
            64,
            too_big(1280),
            &reply[14..],
        );
        sim.deliver(0, &err);
    }
    let out: Vec<Vec<u8>> = sim.settle().into_iter().flatten().collect();
    assert_eq!(out.len(), 8, "every error reached its backend");
    for f in &out {
        let e = seen(f);
        assert!(e.sum_ok);
        assert_eq!(e.src, v6(LADDR6));
        let ((from, _), (to, lport)) = quoted_ends(&e.quote);
        assert_eq!((from, to, e.dst), (e.dst, v6(LADDR6), from));
        assert!((40000..=40063).contains(&lport));
    }
    let owner = |port: u16| crate::tables::owner::flow_hash6(v6(CLIENT6), port) as usize % 2;
    let on_1 = ports.iter().filter(|&&p| owner(p) == 1).count();
    assert_eq!(sim.events().redirects_sent - redirects, on_1 as u64);
    assert_eq!(sim.events().icmp_errors_translated, 16);
    assert_eq!(sim.dropped(), 0);
}

#[test]
fn our_address_on_the_backends_link_is_not_a_session() {
    // An error to our own interface address quoting a packet from it is
    // no flow's: the old path.
    let mut p = pipe(fullnat6(IpProto::TCP, (40000, 40000)));
    let pkt = seg((OURS, RS1), (OUR6, 40000), (RIP6[0], 8080), 64, SYN, b"");
    let err = error6(RS2, (ROUTER_B6, OUR6), 64, too_big(1280), &pkt[14..]);
    assert!(run(&mut p, &[err], 0).is_empty());
    assert_eq!(translated(&p), 0);
}
