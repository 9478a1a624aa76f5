//! NAT64 in FULLNAT on in-memory ports (`nat64.rs`): a client's IPv6
//! connection leaves as IPv4 from a local address to the backend (decoded
//! and checksummed by etherparse), the backend's IPv4 replies come back to
//! the client as IPv6 byte for byte as etherparse builds them, flows spread
//! by rr, the session listed with both legs, its port given back when it
//! ends, replies on the other worker handed to the owner, the MTU's 20
//! bytes both ways, hop limits, and what is not a reply.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{Icmpv4Type, Icmpv6Type, PacketBuilder, PacketHeaders, SlicedPacket};
use etherparse::{NetHeaders, TransportHeader, TransportSlice};

use super::forward6_tests::{config_dr6, CLIENT6, VIP6};
use super::local6_tests::a6;
use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::flow::Timeouts;
use crate::flow::{ProtoState, TcpState};
use crate::tables::{LbConfig, LbTables, Mode, ServiceSpec};
use crate::wire::ethernet::MacAddr;

/// Our address on the clients' link.
const OUR_EXT6: &str = "2001:db8:2::1";
pub(super) const CLIENT_MAC: [u8; 6] = ROUTER;
const LIP0: [u8; 4] = [10, 0, 1, 100];

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

/// The NAT64 service: TCP or UDP port 80 of VIP6 to RIP1 and RIP2 port
/// 8080 (IPv4), from the local addresses 10.0.1.100 and .101, ports
/// 40000-40999.
pub(super) fn nat64(proto: IpProto) -> ServiceSpec {
    let mut s = service(Mode::FullNat, proto);
    s.vip = v6(VIP6).into();
    s.local_ports = (40000, 40999);
    s
}

/// The IPv4 test config (clients behind the router, backends on
/// 10.0.1.0/24) with IPv6 on the interface, the client's link included.
pub(super) fn config64(services: Vec<ServiceSpec>) -> LbConfig {
    let mut cfg = config_dr6(services);
    cfg.interfaces[0].addrs6.push((v6(OUR_EXT6), 64));
    cfg
}

pub(super) fn pipe(cfg: &LbConfig) -> Pipeline<TestBuf> {
    let mut p = pipeline(cfg);
    learn_client(&mut p);
    p
}

pub(super) fn learn_client(p: &mut Pipeline<TestBuf>) {
    p.path
        .egress
        .neighbours6
        .learn(v6(CLIENT6), MacAddr(CLIENT_MAC), 0, true, |_, _| {});
}

/// A TCP segment over IPv6 built by etherparse.
fn seg6(
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
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("writes");
    v
}

/// A client's SYN from port `cport` to the VIP.
fn syn(cport: u16) -> Vec<u8> {
    seg6(
        (CLIENT_MAC, OURS),
        (CLIENT6, cport),
        (VIP6, 80),
        57,
        SYN,
        b"",
    )
}

/// What an IPv4 frame we sent says, its checksums verified by etherparse
/// (`seen`), with its DF flag, identification and TCP payload.
fn out4(frame: &[u8]) -> (Seen, bool, u16, Vec<u8>) {
    let s = seen(frame);
    let p = PacketHeaders::from_ethernet_slice(frame).expect("decodes");
    let Some(NetHeaders::Ipv4(h, _)) = &p.net else {
        panic!("ipv4")
    };
    assert!(h.options.is_empty());
    let payload = p.payload.slice().to_vec();
    (s, h.dont_fragment, h.identification, payload)
}

/// The local address and port of the only NAT64 session of `p`.
pub(super) fn local_of(p: &Pipeline<TestBuf>, cport: u16) -> ([u8; 4], u16) {
    let (_, s) = p
        .path
        .flow
        .sessions6()
        .iter()
        .find(|(_, s)| s.inbound().src_port == cport)
        .expect("a session");
    let ob = crate::flow::state::nat64::unmapped(s.outbound()).expect("a mapped reply key");
    (ob.dst.octets(), ob.dst_port)
}

#[test]
fn nat64_translates_a_connection_both_ways() {
    let mut p = pipe(&config64(vec![nat64(IpProto::TCP)]));
    // The SYN leaves as IPv4 from a local address to the first backend:
    // TTL = hop limit - 1, no DF (small: RFC 7915 5.1), our identification.
    let out = run(&mut p, &[syn(40000)], 0);
    assert_eq!(out.len(), 1);
    let (lip, lport) = local_of(&p, 40000);
    assert!(lip == LIP0 || lip == [10, 0, 1, 101], "{lip:?}");
    assert!((40000..=40999).contains(&lport));
    let (s, df, ident, payload) = out4(&out[0]);
    assert_eq!(
        s,
        Seen {
            macs: (OURS, RS1),
            src: lip,
            dst: RIP1,
            ports: (lport, 8080),
            ttl: 56,
        }
    );
    assert_eq!((df, ident, payload.len()), (false, 1, 0));
    let state = |p: &Pipeline<TestBuf>| p.path.flow.sessions6().iter().next().map(|(_, s)| s.state);
    assert_eq!(state(&p), Some(ProtoState::Tcp(TcpState::SynRecv)));
    // The backend's SYN-ACK (IPv4, to the local address) goes back to the
    // client as IPv6 from the VIP, exactly as etherparse builds it.
    let syn_ack = tcp((RS1, OURS), (RIP1, lip), (8080, lport), SYN | ACK, 64, b"");
    let out = run(&mut p, &[syn_ack], 1);
    let client = (CLIENT6, 40000);
    assert_eq!(
        out,
        vec![seg6(
            (OURS, CLIENT_MAC),
            (VIP6, 80),
            client,
            63,
            SYN | ACK,
            b""
        )]
    );
    // Data both ways.
    let ack = seg6((CLIENT_MAC, OURS), client, (VIP6, 80), 57, ACK, b"GET /");
    let answer = tcp(
        (RS1, OURS),
        (RIP1, lip),
        (8080, lport),
        ACK,
        64,
        b"HTTP/1.0 200 OK",
    );
    let out = run(&mut p, &[ack, answer], 2);
    assert_eq!(out.len(), 2);
    let (s, _, ident, payload) = out4(&out[0]);
    assert_eq!((s.src, s.dst, s.ports), (lip, RIP1, (lport, 8080)));
    assert_eq!((ident, payload.as_slice()), (2, &b"GET /"[..]));
    assert_eq!(
        out[1],
        seg6(
            (OURS, CLIENT_MAC),
            (VIP6, 80),
            client,
            63,
            ACK,
            b"HTTP/1.0 200 OK"
        )
    );
    assert_eq!(state(&p), Some(ProtoState::Tcp(TcpState::Established)));
    // Counted on the backend both ways: the client's IPv6 lengths in
    // (60 + 65), the backend's IPv4 lengths out (40 + 55).
    let c = p.counters();
    let b = &c.backends[0];
    assert_eq!((b.conns, b.packets_in, b.packets_out), (1, 2, 2));
    assert_eq!((b.bytes_in, b.bytes_out), (125, 95));
    assert_eq!((c.events.nat64_to_ipv4, c.events.nat64_to_ipv6), (2, 2));
    assert_eq!(c.drops.iter().map(|(_, n)| n).sum::<u64>(), 0);
    // One IPv6 session with both legs; nothing in the IPv4 table.
    assert_eq!(p.path.flow.sessions().len(), 0);
    let mut seen_views = Vec::new();
    p.scan_sessions(&Default::default(), 0, p.session_slots(), 2, |v| {
        seen_views.push(v);
        true
    });
    assert_eq!(seen_views.len(), 1);
    let v = &seen_views[0];
    let show = |a: (IpAddr, u16)| std::net::SocketAddr::new(a.0, a.1).to_string();
    assert_eq!(
        (show(v.client), show(v.destination), show(v.backend)),
        (
            "[2001:db8:2::7]:40000".into(),
            "[2001:db8:10::10]:80".into(),
            "10.0.1.11:8080".into()
        )
    );
    assert_eq!(v.local, Some((IpAddr::V4(Ipv4Addr::from(lip)), lport)));
    assert_eq!(v.state, "ESTABLISHED");
}

#[test]
fn nat64_spreads_by_rr_and_udp_replies_come_back() {
    let mut p = pipe(&config64(vec![nat64(IpProto::UDP)]));
    let q = |cport: u16| {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, OURS)
            .ipv6(a6(CLIENT6), a6(VIP6), 10)
            .udp(cport, 80)
            .write(&mut v, b"query")
            .expect("writes");
        v
    };
    let out = run(&mut p, &[q(5000), q(5001), q(5002), q(5003)], 0);
    let to: Vec<[u8; 4]> = out.iter().map(|f| out4(f).0.dst).collect();
    assert_eq!(to, vec![RIP1, RIP2, RIP1, RIP2]);
    // The backend answers each from 8080; a UDP datagram without a
    // checksum (IPv4 allows it) gets one (IPv6 requires it).
    let mut back = Vec::new();
    for (i, cport) in (5000..5004).enumerate() {
        let (lip, lport) = local_of(&p, cport);
        let (rip, mac) = if i % 2 == 0 { (RIP1, RS1) } else { (RIP2, RS2) };
        let mut f = udp((mac, OURS), rip, lip, (8080, lport));
        if i == 3 {
            f[40..42].copy_from_slice(&[0, 0]);
        }
        back.push(f);
    }
    let out = run(&mut p, &back, 1);
    assert_eq!(out.len(), 4);
    for (f, cport) in out.iter().zip(5000..) {
        let mut want = Vec::new();
        PacketBuilder::ethernet2(OURS, CLIENT_MAC)
            .ipv6(a6(VIP6), a6(CLIENT6), 63)
            .udp(80, cport)
            .write(&mut want, b"datagram")
            .expect("writes");
        assert_eq!(f, &want, "reply to {cport}");
    }
    // From a backend port no session has, to a local address: no session.
    let (lip, lport) = local_of(&p, 5000);
    let stray = udp((RS1, OURS), RIP1, lip, (8081, lport));
    assert!(run(&mut p, &[stray], 2).is_empty());
    assert_eq!(drops(&p, DropReason::NoSession), 1);
    // To an address that is not a local one: as before (no service).
    let other = udp((RS1, OURS), RIP1, [10, 0, 1, 99], (8080, lport));
    assert!(run(&mut p, &[other], 2).is_empty());
    assert_eq!(drops(&p, DropReason::NoService), 1);
}

#[test]
fn nat64_gives_its_port_back_when_the_session_ends() {
    let mut svc = nat64(IpProto::UDP);
    svc.local_addrs.truncate(1);
    svc.local_ports = (40000, 40000);
    svc.backends.truncate(1);
    svc.timeouts = Some(Timeouts {
        udp: 1000,
        ..Timeouts::default()
    });
    let mut p = pipe(&config64(vec![svc]));
    let q = |cport: u16| {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, OURS)
            .ipv6(a6(CLIENT6), a6(VIP6), 10)
            .udp(cport, 80)
            .write(&mut v, b"query")
            .expect("writes");
        v
    };
    let out = run(&mut p, &[q(1), q(2)], 0);
    assert_eq!(out.len(), 1, "one port, one flow");
    assert_eq!(drops(&p, DropReason::PortsExhausted), 1);
    assert_eq!(local_of(&p, 1), (LIP0, 40000));
    run(&mut p, &[], 1200);
    assert_eq!(p.counters().events.sessions_expired, 1);
    assert_eq!(p.path.flow.sessions6().len(), 0);
    let out = run(&mut p, &[q(2)], 1300);
    assert_eq!(out4(&out[0]).0.ports, (40000, 8080));
    assert_eq!(local_of(&p, 2), (LIP0, 40000));
}

#[test]
fn nat64_replies_on_the_other_worker_are_handed_to_the_owner() {
    let tables =
        std::sync::Arc::new(LbTables::build(&config64(vec![nat64(IpProto::TCP)])).expect("builds"));
    let mut sim = super::workers_tests::Sim::new(&tables, 2);
    for p in &mut sim.pipes {
        learn_client(p);
    }
    let ports: Vec<u16> = (40000..40008).collect();
    for &port in &ports {
        sim.deliver(0, &syn(port));
    }
    let out = sim.settle();
    let sent: Vec<Vec<u8>> = out.into_iter().flatten().collect();
    assert_eq!(sent.len(), 8);
    // Each session holds a port whose low bit names its worker, the one
    // its client's endpoint names.
    for (w, p) in sim.pipes.iter().enumerate() {
        for (_, s) in p.path.flow.sessions6().iter() {
            let ob = crate::flow::state::nat64::unmapped(s.outbound()).expect("mapped");
            assert_eq!(usize::from(ob.dst_port & 1), w);
            let owner = crate::tables::owner::flow_hash6(v6(CLIENT6), s.inbound().src_port);
            assert_eq!(owner as usize % 2, w);
        }
    }
    // Every reply comes in on queue 1: those of worker 0 are handed over.
    for f in &sent {
        let s = seen(f);
        let mac = if s.dst == RIP1 { RS1 } else { RS2 };
        let reply = tcp(
            (mac, OURS),
            (s.dst, s.src),
            (8080, s.ports.0),
            SYN | ACK,
            64,
            b"",
        );
        sim.deliver(1, &reply);
    }
    let mut back: Vec<Vec<u8>> = sim.settle().into_iter().flatten().collect();
    back.sort();
    let mut want: Vec<Vec<u8>> = ports
        .iter()
        .map(|&port| {
            seg6(
                (OURS, CLIENT_MAC),
                (VIP6, 80),
                (CLIENT6, port),
                63,
                SYN | ACK,
                b"",
            )
        })
        .collect();
    want.sort();
    assert_eq!(back, want, "every reply found its session");
    let on_0 = sim.pipes[0].path.flow.sessions6().len();
    assert!(on_0 > 0 && on_0 < 8, "the flows spread: {on_0}");
    // Handed over: the SYNs worker 1 owns, the replies worker 0 owns.
    assert_eq!(sim.events().redirects_sent, 8);
    assert_eq!(sim.dropped(), 0);
}

/// The ICMPv6 error in `f`: its type, source, destination, quote.
fn icmp6_error(f: &[u8]) -> (Icmpv6Type, Ipv6Addr, Ipv6Addr, Vec<u8>) {
    let p = SlicedPacket::from_ethernet(f).expect("decodes");
    let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
        panic!("not IPv6")
    };
    let h = ip.header().to_header();
    let Some(TransportSlice::Icmpv6(icmp)) = &p.transport else {
        panic!("not ICMPv6")
    };
    let sum = icmp
        .icmp_type()
        .calc_checksum(h.source, h.destination, icmp.payload())
        .expect("sums");
    assert_eq!(sum, icmp.checksum());
    (
        icmp.icmp_type(),
        Ipv6Addr::from(h.source),
        Ipv6Addr::from(h.destination),
        icmp.payload().to_vec(),
    )
}

/// The ICMP error in `f`: its type, source, destination, quote.
fn icmp4_error(f: &[u8]) -> (Icmpv4Type, [u8; 4], [u8; 4], Vec<u8>) {
    let p = PacketHeaders::from_ethernet_slice(f).expect("decodes");
    let Some(NetHeaders::Ipv4(h, _)) = &p.net else {
        panic!("ipv4")
    };
    let Some(TransportHeader::Icmpv4(icmp)) = &p.transport else {
        panic!("not ICMP")
    };
    let payload = p.payload.slice();
    assert_eq!(icmp.checksum, icmp.icmp_type.calc_checksum(payload));
    (
        icmp.icmp_type.clone(),
        h.source,
        h.destination,
        payload.to_vec(),
    )
}

#[test]
fn nat64_mtu_is_the_other_family_s_plus_or_minus_20() {
    let mut cfg = config64(vec![nat64(IpProto::TCP)]);
    cfg.ports[0].mtu = 1300;
    let mut p = pipe(&cfg);
    let client = (CLIENT6, 40000);
    // 1300-byte IPv4 packets fit: 1320 bytes of IPv6 with 60 of headers,
    // so 1260 bytes of data. One more byte is Packet Too Big of 1320,
    // quoting the packet as the client sent it.
    let fits = seg6((CLIENT_MAC, OURS), client, (VIP6, 80), 9, SYN, &[1; 1260]);
    let big = seg6((CLIENT_MAC, OURS), client, (VIP6, 80), 9, ACK, &[2; 1261]);
    let out = run(&mut p, &[fits, big.clone()], 0);
    assert_eq!(out.len(), 2);
    let (s, df, _, payload) = out4(&out[0]);
    assert_eq!((s.dst, payload.len()), (RIP1, 1260));
    assert!(df, "over 1260 bytes: DF (RFC 7915 5.1)");
    let (ty, src, dst, quote) = icmp6_error(&out[1]);
    assert_eq!(ty, Icmpv6Type::PacketTooBig { mtu: 1320 });
    assert_eq!((src, dst), (v6(OUR_EXT6), v6(CLIENT6)));
    assert_eq!(quote, big[14..14 + quote.len()]);
    assert_eq!(drops(&p, DropReason::PacketTooBig), 1);
    // The backend's reply of 1281 bytes (DF, as etherparse sends) would be
    // 1301 as IPv6: fragmentation needed of 1280 back to the backend from
    // our address on its link; 1280 bytes go.
    let (lip, lport) = local_of(&p, 40000);
    let reply = |n: usize| {
        tcp(
            (RS1, OURS),
            (RIP1, lip),
            (8080, lport),
            ACK,
            64,
            &vec![3; n],
        )
    };
    let out = run(&mut p, &[reply(1241), reply(1240)], 1);
    assert_eq!(out.len(), 2);
    let (ty, src, dst, quote) = icmp4_error(&out[0]);
    assert_eq!(
        ty,
        Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1280 }
        )
    );
    assert_eq!((src, dst), ([10, 0, 1, 1], RIP1));
    assert_eq!(quote[..20], reply(1241)[14..34]);
    assert_eq!(out[1].len(), 14 + 1300);
    assert_eq!(drops(&p, DropReason::FragmentationNeeded), 1);
    assert_eq!(p.counters().events.icmp_errors_sent, 1);
}

#[test]
fn nat64_hop_limits_run_out_with_each_family_s_time_exceeded() {
    let mut p = pipe(&config64(vec![nat64(IpProto::TCP)]));
    let client = (CLIENT6, 40000);
    let expiring = seg6((CLIENT_MAC, OURS), client, (VIP6, 80), 1, SYN, b"");
    let out = run(&mut p, std::slice::from_ref(&expiring), 0);
    assert_eq!(out.len(), 1);
    let (ty, _, dst, quote) = icmp6_error(&out[0]);
    assert!(matches!(ty, Icmpv6Type::TimeExceeded(_)), "{ty:?}");
    assert_eq!((dst, quote), (v6(CLIENT6), expiring[14..].to_vec()));
    // The session was made (the SYN was scheduled): its reply with TTL 1
    // goes back to the backend as ICMP time exceeded.
    let (lip, lport) = local_of(&p, 40000);
    let reply = tcp((RS1, OURS), (RIP1, lip), (8080, lport), SYN | ACK, 1, b"");
    let out = run(&mut p, std::slice::from_ref(&reply), 1);
    assert_eq!(out.len(), 1);
    let (ty, _, dst, _) = icmp4_error(&out[0]);
    assert!(matches!(ty, Icmpv4Type::TimeExceeded(_)), "{ty:?}");
    assert_eq!(dst, RIP1);
    assert_eq!(drops(&p, DropReason::TtlExceeded), 2);
}

#[test]
fn nat64_explain_names_the_translation_and_the_ipv4_way_out() {
    let p = pipe(&config64(vec![nat64(IpProto::TCP)]));
    let t = crate::tuple::FiveTuple6 {
        src: v6(CLIENT6),
        dst: v6(VIP6),
        src_port: 40000,
        dst_port: 80,
        proto: IpProto::TCP,
    };
    let steps: Vec<(&str, String)> = p
        .explain6(&t)
        .into_iter()
        .map(|s| (s.step, s.detail))
        .collect();
    let detail = |name: &str| {
        steps
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| panic!("no {name} step: {steps:?}"))
    };
    assert!(
        detail("schedule").contains("backend 10.0.1.11:8080"),
        "{steps:?}"
    );
    assert!(
        detail("rewrite").starts_with("NAT64: translated to IPv4"),
        "{steps:?}"
    );
    assert!(detail("rewrite").contains("10.0.1.100"), "{steps:?}");
    assert_eq!(detail("route"), "10.0.1.11: connected, interface 0");
    assert!(detail("neighbour").contains("(static)"), "{steps:?}");
    assert!(steps.iter().all(|(n, _)| *n != "drop"), "{steps:?}");
}

#[test]
fn nat64_fragmentation_needed_from_the_ipv4_side_reaches_the_client_as_packet_too_big() {
    let mut p = pipe(&config64(vec![nat64(IpProto::TCP)]));
    let out = run(&mut p, &[syn(40000)], 0);
    let (lip, lport) = local_of(&p, 40000);
    // A router on the way to the backend: our SYN is too big for its next
    // hop of 1200 bytes (its quote: our IPv4 header and 8 bytes of TCP).
    let quote = &out[0][14..14 + 28];
    let mut err = Vec::new();
    PacketBuilder::ethernet2(RS2, OURS)
        .ipv4([10, 0, 1, 254], lip, 64)
        .icmpv4(Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1200 },
        ))
        .write(&mut err, quote)
        .expect("writes");
    let out = run(&mut p, &[err], 1);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (&out[0][0..6], &out[0][6..12]),
        (&CLIENT_MAC[..], &OURS[..])
    );
    let (ty, src, dst, quote6) = icmp6_error(&out[0]);
    assert_eq!(ty, Icmpv6Type::PacketTooBig { mtu: 1220 });
    assert_eq!((src, dst), (v6(VIP6), v6(CLIENT6)));
    // The quote is the client's SYN as it sent it: its addresses and ports.
    let q = etherparse::Ipv6HeaderSlice::from_slice(&quote6).expect("a quoted IPv6 header");
    assert_eq!(
        (Ipv6Addr::from(q.source()), Ipv6Addr::from(q.destination())),
        (v6(CLIENT6), v6(VIP6))
    );
    let ports = &quote6[40..44];
    assert_eq!(
        ports,
        [40000u16.to_be_bytes(), 80u16.to_be_bytes()].concat()
    );
    assert_eq!(p.counters().events.icmp_errors_translated, 1);
    // An error quoting a flow no session has: no_session.
    let mut other = quote.to_vec();
    other[20..22].copy_from_slice(&(lport ^ 1).to_be_bytes());
    let mut err = Vec::new();
    PacketBuilder::ethernet2(RS2, OURS)
        .ipv4([10, 0, 1, 254], lip, 64)
        .icmpv4(Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1200 },
        ))
        .write(&mut err, &other)
        .expect("writes");
    assert!(run(&mut p, &[err], 2).is_empty());
    assert_eq!(drops(&p, DropReason::NoSession), 1);
}

#[test]
fn nat64_packet_too_big_from_the_client_side_reaches_the_backend_as_fragmentation_needed() {
    let mut p = pipe(&config64(vec![nat64(IpProto::TCP)]));
    run(&mut p, &[syn(40000)], 0);
    let (lip, lport) = local_of(&p, 40000);
    let syn_ack = tcp((RS1, OURS), (RIP1, lip), (8080, lport), SYN | ACK, 64, b"");
    let out = run(&mut p, &[syn_ack], 1);
    assert_eq!(out.len(), 1);
    // A router on the client's side: our SYN-ACK is too big for its next
    // hop of 1300 bytes. The error goes to the VIP, quoting the reply.
    let mut err = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OURS)
        .ipv6(a6("2001:db8:2::fe"), a6(VIP6), 64)
        .icmpv6(Icmpv6Type::PacketTooBig { mtu: 1300 })
        .write(&mut err, &out[0][14..])
        .expect("writes");
    let out = run(&mut p, &[err], 2);
    assert_eq!(out.len(), 1, "to the backend");
    assert_eq!((&out[0][0..6], &out[0][6..12]), (&RS1[..], &OURS[..]));
    let (ty, src, dst, quote) = icmp4_error(&out[0]);
    assert_eq!(
        ty,
        Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1280 }
        )
    );
    assert_eq!((src, dst), (lip, RIP1));
    // The quote is the backend's SYN-ACK as it sent it.
    let q = etherparse::Ipv4HeaderSlice::from_slice(&quote).expect("a quoted IPv4 header");
    assert_eq!((q.source(), q.destination()), (RIP1, lip));
    assert_eq!(
        &quote[20..24],
        [8080u16.to_be_bytes(), lport.to_be_bytes()].concat()
    );
    assert_eq!(p.counters().events.icmp_errors_translated, 1);
}

#[test]
fn nat64_packet_too_big_quoting_a_cut_reply_still_reaches_the_backend() {
    let mut p = pipe(&config64(vec![nat64(IpProto::TCP)]));
    run(&mut p, &[syn(40000)], 0);
    let (lip, lport) = local_of(&p, 40000);
    let big = tcp(
        (RS1, OURS),
        (RIP1, lip),
        (8080, lport),
        SYN | ACK,
        64,
        &[9; 1300],
    );
    let out = run(&mut p, &[big], 1);
    assert_eq!(out.len(), 1);
    assert!(out[0].len() > 14 + 1300);
    // The router cuts its quote so the error fits 1280 bytes (RFC 4443
    // 2.4 (c)): the quoted payload length runs past the bytes quoted.
    let mut err = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OURS)
        .ipv6(a6("2001:db8:2::fe"), a6(VIP6), 64)
        .icmpv6(Icmpv6Type::PacketTooBig { mtu: 1300 })
        .write(&mut err, &out[0][14..14 + 1232])
        .expect("writes");
    let out = run(&mut p, &[err], 2);
    assert_eq!(out.len(), 1, "to the backend");
    let (ty, src, dst, quote) = icmp4_error(&out[0]);
    assert!(
        matches!(ty, Icmpv4Type::DestinationUnreachable(_)),
        "{ty:?}"
    );
    assert_eq!((src, dst), (lip, RIP1));
    let q = etherparse::Ipv4HeaderSlice::from_slice(&quote).expect("a quoted IPv4 header");
    assert_eq!((q.source(), q.destination()), (RIP1, lip));
    assert_eq!(p.counters().events.icmp_errors_translated, 1);
}

#[test]
fn nat64_sessions_sync_and_a_peer_translates_both_ways() {
    use super::sync6_tests::{drain_over_the_wire, give, v6_only};
    use crate::flow::table::Forwarding;
    use crate::sync::{RecordKind, SessionRecord6};
    // One local endpoint and one backend, so a port B holds for a synced
    // session is a port it cannot hand out.
    let synced = || {
        let mut svc = nat64(IpProto::TCP);
        svc.local_addrs.truncate(1);
        svc.local_ports = (40000, 40000);
        svc.backends.truncate(1);
        let mut p = pipe(&config64(vec![svc]));
        let (mut ports, mut l) = crate::sync::links(1, 256, 256);
        p.attach_sync(l.remove(0));
        (p, ports.remove(0))
    };
    let (mut a, mut a_port) = synced();
    let (mut b, mut b_port) = synced();
    assert_eq!(run(&mut a, &[syn(40000)], 0).len(), 1);
    assert_eq!(local_of(&a, 40000), (LIP0, 40000));
    // The record carries the IPv4 backend and local endpoint IPv4-mapped.
    let records = v6_only(drain_over_the_wire(&mut a_port));
    assert_eq!(records.len(), 1);
    let mapped = |a: [u8; 4]| Ipv4Addr::from(a).to_ipv6_mapped();
    let r = records[0];
    assert_eq!(
        (r.forwarding, r.backend, r.local),
        (
            Forwarding::FullNat,
            (mapped(RIP1), 8080),
            Some((mapped(LIP0), 40000))
        )
    );
    assert_eq!(r.inbound.src, v6(CLIENT6));
    // Without the record B has no session for the backend's SYN-ACK.
    let syn_ack = tcp((RS1, OURS), (RIP1, LIP0), (8080, 40000), SYN | ACK, 64, b"");
    assert!(run(&mut b, std::slice::from_ref(&syn_ack), 1).is_empty());
    assert_eq!(drops(&b, DropReason::NoSession), 1);
    give(&mut b, &mut b_port, &records, 2);
    assert_eq!(b.counters().events.sync_installed, 1);
    assert_eq!(local_of(&b, 40000), (LIP0, 40000));
    // B translates both ways as A does: the SYN-ACK to the client byte for
    // byte, the client's data to the backend from the same local endpoint
    // (the IPv4 identification is each node's own).
    let client = (CLIENT6, 40000);
    let ack = seg6((CLIENT_MAC, OURS), client, (VIP6, 80), 57, ACK, b"GET /");
    let on_a = run(&mut a, &[syn_ack.clone(), ack.clone()], 3);
    let on_b = run(&mut b, &[syn_ack, ack], 3);
    assert_eq!(on_a.len(), 2);
    assert_eq!(on_b.len(), 2);
    let syn_ack6 = seg6((OURS, CLIENT_MAC), (VIP6, 80), client, 63, SYN | ACK, b"");
    assert_eq!((&on_a[0], &on_b[0]), (&syn_ack6, &syn_ack6));
    let (seen_a, _, _, data_a) = out4(&on_a[1]);
    let (seen_b, _, _, data_b) = out4(&on_b[1]);
    assert_eq!(
        (seen_b.src, seen_b.dst, seen_b.ports),
        (LIP0, RIP1, (40000, 8080))
    );
    assert_eq!((seen_a, data_a), (seen_b, data_b));
    assert_eq!(b.counters().events.sessions_created, 0);
    // B holds the one IPv4 port: a new client of B's own finds none ...
    assert!(run(&mut b, &[syn(40001)], 4).is_empty());
    assert_eq!(drops(&b, DropReason::PortsExhausted), 1);
    // ... until the peer's session ends, which gives it back.
    let ended = SessionRecord6 {
        kind: RecordKind::Ended,
        ..r
    };
    give(&mut b, &mut b_port, &[ended], 5);
    assert_eq!(b.counters().events.sync_ended, 1);
    assert_eq!(run(&mut b, &[syn(40001)], 6).len(), 1);
    assert_eq!(local_of(&b, 40001), (LIP0, 40000));
}

/// A service listening on a NAT64 local address (not what a config
/// usually has): a packet to it is that service's new flow, not a NAT64
/// reply; the lookup that says so is skipped (`nat64_local_listened`)
/// only when no service listens on a local address.
#[test]
fn a_service_on_a_nat64_local_address_still_takes_its_flows() {
    let cfg = config64(vec![nat64(IpProto::UDP)]);
    let t = LbTables::build(&cfg).expect("tables");
    assert!(!t.nat64_local_listened);
    let mut dr = service(Mode::Dr, IpProto::UDP);
    (dr.vip, dr.port) = (IpAddr::V4(Ipv4Addr::from(LIP0)), 9000);
    let cfg = config64(vec![nat64(IpProto::UDP), dr]);
    let t = LbTables::build(&cfg).expect("tables");
    assert!(t.nat64_local_listened);
    let mut p = pipe(&cfg);
    let to_dr = udp((RS1, OURS), RIP1, LIP0, (8080, 9000));
    let out = run(&mut p, &[to_dr], 0);
    assert_eq!(out.len(), 1, "forwarded by the DR service");
    assert_eq!(p.counters().events.sessions_created, 1);
    assert_eq!(drops(&p, DropReason::NoSession), 0);
    // Another port of the local address: a NAT64 reply with no session.
    let stray = udp((RS1, OURS), RIP1, LIP0, (8080, 9001));
    assert!(run(&mut p, &[stray], 0).is_empty());
    assert_eq!(drops(&p, DropReason::NoSession), 1);
}
