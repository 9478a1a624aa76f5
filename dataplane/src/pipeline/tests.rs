//! The pipeline on in-memory ports: each mode end to end, the local answers
//! (ARP, echo, ICMP errors), and the drops. Every frame that comes out is
//! decoded by etherparse and its checksums verified.

use std::net::Ipv4Addr;
use std::sync::Arc;

use etherparse::{NetHeaders, PacketBuilder, PacketHeaders, TransportHeader};

use super::egress::NEIGHBOUR_TIMERS;
use super::*;
use crate::buf::{HwChecksum, TestBuf};
use crate::flow::{TableConfig, Timeouts};
use crate::io::MemoryIo;
use crate::net::hop_cache::MAX_AGE_MS as MAX_HOP_AGE;
use crate::sched::SchedulerKind;
use crate::tables::*;
use crate::testutil::{assert_checksums_verify, icmp_error_frame, vlan_tag};
// What the other test modules of the pipeline use with `super::tests::*`.
pub(crate) use crate::drop::DropReason;
pub(crate) use crate::flow::proto::tcp_flags;
pub(crate) use crate::flow::state::BackendSessions;
pub(crate) use crate::flow::{Origin, ProtoState, TcpState};
pub(crate) use crate::tuple::{FiveTuple, IpProto};
pub(crate) use crate::wire::ethernet::MacAddr;

pub(crate) const OURS: [u8; 6] = [0x02, 0, 0, 0, 0, 0xaa];
pub(crate) const ROUTER: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];
pub(crate) const RS1: [u8; 6] = [0x02, 0, 0, 0, 1, 0x0b];
pub(crate) const RS2: [u8; 6] = [0x02, 0, 0, 0, 1, 0x0c];
pub(crate) const CIP: [u8; 4] = [198, 51, 100, 7];
pub(crate) const VIP: [u8; 4] = [192, 0, 2, 10];
pub(crate) const RIP1: [u8; 4] = [10, 0, 1, 11];
pub(crate) const RIP2: [u8; 4] = [10, 0, 1, 12];
pub(crate) const SYN: u8 = tcp_flags::SYN;
pub(crate) const ACK: u8 = tcp_flags::ACK;

pub(crate) fn ip(a: [u8; 4]) -> Ipv4Addr {
    Ipv4Addr::from(a)
}

pub(crate) fn service(mode: Mode, proto: IpProto) -> ServiceSpec {
    ServiceSpec {
        name: None,
        vip: ip(VIP).into(),
        proto,
        port: 80,
        extra_ports: 0,
        also_listen: Vec::new(),
        one_packet: false,
        mode,
        scheduler: SchedulerKind::RoundRobin,
        persistence: None,
        pickup: false,
        local_addrs: if mode == Mode::FullNat {
            vec![Ipv4Addr::new(10, 0, 1, 100), Ipv4Addr::new(10, 0, 1, 101)]
        } else {
            Vec::new()
        },
        local_addrs6: Vec::new(),
        local_ports: (40000, 40000),
        timeouts: None,
        acl: Default::default(),
        mss_clamp: None,
        new_conn_rate: None,
        client_rate: None,
        toa: false,
        proxy_protocol: None,
        syn_proxy: false,
        backends: [RIP1, RIP2]
            .iter()
            .map(|&a| BackendSpec {
                addr: ip(a).into(),
                port: if matches!(mode, Mode::Dr | Mode::Tun) {
                    80
                } else {
                    8080
                },
                weight: 1,
                u_threshold: 0,
                l_threshold: 0,
            })
            .collect(),
    }
}

/// One port; clients behind the router on 10.0.0.0/24, backends on
/// 10.0.1.0/24 (one-armed, as the replay cases run).
pub(crate) fn config(services: Vec<ServiceSpec>) -> LbConfig {
    LbConfig {
        kernel: Vec::new(),
        garp: Default::default(),
        synproxy: Default::default(),
        standby: Vec::new(),
        ports: vec![PortSetup {
            mac: MacAddr(OURS),
            mtu: 1500,
        }],
        interfaces: vec![Interface {
            port: 0,
            vlan: None,
            addrs: vec![
                (Ipv4Addr::new(10, 0, 0, 1), 24),
                (Ipv4Addr::new(10, 0, 1, 1), 24),
            ],
            addrs6: Vec::new(),
        }],
        routes: vec![StaticRoute {
            prefix: Ipv4Addr::UNSPECIFIED,
            len: 0,
            via: Ipv4Addr::new(10, 0, 0, 254),
        }],
        routes6: Vec::new(),
        neighbours6: Vec::new(),
        neighbours: vec![
            (Ipv4Addr::new(10, 0, 0, 254), MacAddr(ROUTER)),
            (ip(RIP1), MacAddr(RS1)),
            (ip(RIP2), MacAddr(RS2)),
        ],
        services,
        snat: Vec::new(),
        sessions: TableConfig {
            capacity: 1024,
            capacity6: 1024,
            ..TableConfig::default()
        },
    }
}

pub(crate) fn pipeline(cfg: &LbConfig) -> Pipeline<TestBuf> {
    let tables = Arc::new(LbTables::build(cfg).expect("tables build"));
    Pipeline::new(tables, 0, 1, 0).expect("pipeline")
}

/// Feeds `frames` on port 0 (one poll per 32) at time `now` and returns
/// what port 0 sent.
pub(crate) fn run(p: &mut Pipeline<TestBuf>, frames: &[Vec<u8>], now: u64) -> Vec<Vec<u8>> {
    let mut io = MemoryIo::new(vec![frames.to_vec()]);
    while !io.rx[0].is_empty() {
        p.poll(&mut io, now);
    }
    p.poll(&mut io, now);
    io.sent_frames(0)
}

/// A TCP frame: (source, destination) MACs, addresses and ports.
pub(crate) fn tcp(
    macs: ([u8; 6], [u8; 6]),
    (src, dst): ([u8; 4], [u8; 4]),
    (sport, dport): (u16, u16),
    flags: u8,
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(src, dst, ttl)
        .tcp(sport, dport, 1000, 64240);
    if flags & SYN != 0 {
        b = b.syn();
    }
    if flags & ACK != 0 {
        b = b.ack(5000);
    }
    if flags & tcp_flags::FIN != 0 {
        b = b.fin();
    }
    if flags & tcp_flags::RST != 0 {
        b = b.rst();
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("writes");
    v
}

pub(crate) fn udp(
    macs: ([u8; 6], [u8; 6]),
    src: [u8; 4],
    dst: [u8; 4],
    ports: (u16, u16),
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(src, dst, 64)
        .udp(ports.0, ports.1)
        .write(&mut v, b"datagram")
        .expect("writes");
    v
}

/// What the tests compare: MACs, addresses, ports, TTL.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) macs: ([u8; 6], [u8; 6]),
    pub(crate) src: [u8; 4],
    pub(crate) dst: [u8; 4],
    pub(crate) ports: (u16, u16),
    pub(crate) ttl: u8,
}

pub(crate) fn seen(frame: &[u8]) -> Seen {
    assert_checksums_verify(frame);
    let p = PacketHeaders::from_ethernet_slice(frame).expect("decodes");
    let Some(etherparse::LinkHeader::Ethernet2(eth)) = p.link else {
        panic!("ethernet")
    };
    let Some(NetHeaders::Ipv4(h, _)) = p.net else {
        panic!("ipv4")
    };
    let ports = match p.transport {
        Some(TransportHeader::Tcp(t)) => (t.source_port, t.destination_port),
        Some(TransportHeader::Udp(u)) => (u.source_port, u.destination_port),
        _ => (0, 0),
    };
    Seen {
        macs: (eth.source, eth.destination),
        src: h.source,
        dst: h.destination,
        ports,
        ttl: h.time_to_live,
    }
}

pub(crate) fn drops(p: &Pipeline<TestBuf>, r: DropReason) -> u64 {
    p.counters().drops.get(r)
}

#[test]
fn nat_rewrites_requests_to_backends_in_turn_and_replies_back_to_the_vip() {
    let mut p = pipeline(&config(vec![service(Mode::Nat, IpProto::TCP)]));
    let out = run(
        &mut p,
        &[
            tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b""),
            tcp((RS1, OURS), (RIP1, CIP), (8080, 40000), SYN | ACK, 64, b""),
            tcp((ROUTER, OURS), (CIP, VIP), (40001, 80), SYN, 64, b""),
            tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), ACK, 64, b"GET /"),
        ],
        0,
    );
    let got: Vec<Seen> = out.iter().map(|f| seen(f)).collect();
    let expect = |macs, src, dst, ports| Seen {
        macs,
        src,
        dst,
        ports,
        ttl: 63,
    };
    assert_eq!(
        got,
        vec![
            expect((OURS, RS1), CIP, RIP1, (40000, 8080)),
            expect((OURS, ROUTER), VIP, CIP, (80, 40000)),
            expect((OURS, RS2), CIP, RIP2, (40001, 8080)),
            expect((OURS, RS1), CIP, RIP1, (40000, 8080)),
        ]
    );
    let c = p.counters();
    assert_eq!(c.services[0].conns, 2);
    assert_eq!((c.backends[0].conns, c.backends[1].conns), (1, 1));
    assert_eq!(
        (c.backends[0].packets_in, c.backends[0].packets_out),
        (2, 1)
    );
    assert_eq!(c.events.sessions_created, 2);
    assert_eq!(p.session_counts().services, vec![2]);
}

#[test]
fn fullnat_takes_local_addresses_in_turn_and_reverses_replies() {
    let mut p = pipeline(&config(vec![service(Mode::FullNat, IpProto::TCP)]));
    let lip0 = [10, 0, 1, 100];
    let lip1 = [10, 0, 1, 101];
    let out = run(
        &mut p,
        &[
            tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b""),
            tcp((ROUTER, OURS), (CIP, VIP), (40001, 80), SYN, 64, b""),
            tcp((RS1, OURS), (RIP1, lip0), (8080, 40000), SYN | ACK, 64, b""),
            tcp((RS2, OURS), (RIP2, lip1), (8080, 40000), SYN | ACK, 64, b""),
        ],
        0,
    );
    let got: Vec<_> = out
        .iter()
        .map(|f| {
            let s = seen(f);
            (s.src, s.dst, s.ports, s.macs.1)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (lip0, RIP1, (40000, 8080), RS1),
            (lip1, RIP2, (40000, 8080), RS2),
            (VIP, CIP, (80, 40000), ROUTER),
            (VIP, CIP, (80, 40001), ROUTER),
        ]
    );
}

#[test]
fn fullnat_ports_run_out_and_come_back_when_sessions_expire() {
    let mut svc = service(Mode::FullNat, IpProto::UDP);
    svc.local_addrs.truncate(1);
    svc.backends.truncate(1);
    svc.timeouts = Some(Timeouts {
        udp: 1000,
        ..Timeouts::default()
    });
    let mut p = pipeline(&config(vec![svc]));
    let flow = |cport| udp((ROUTER, OURS), CIP, VIP, (cport, 80));
    let out = run(&mut p, &[flow(1), flow(2)], 0);
    assert_eq!(out.len(), 1, "one port, one flow");
    assert_eq!(drops(&p, DropReason::PortsExhausted), 1);
    // After the UDP timeout the port is free again.
    run(&mut p, &[], 1200);
    assert_eq!(p.counters().events.sessions_expired, 1);
    let out = run(&mut p, &[flow(2)], 1300);
    assert_eq!(seen(&out[0]).ports, (40000, 8080));
}

#[test]
fn ended_sessions_are_counted_in_their_services_lifetimes() {
    use ferrolb_types::histogram::SESSION_LIFETIME_MS;
    let mut svc = service(Mode::Nat, IpProto::UDP);
    svc.timeouts = Some(Timeouts {
        udp: 1000,
        ..Timeouts::default()
    });
    let mut p = pipeline(&config(vec![svc]));
    let flow = |cport| udp((ROUTER, OURS), CIP, VIP, (cport, 80));
    run(&mut p, &[flow(1), flow(2)], 0);
    // Flow 2 is kept alive until 9.9 s and idles out at the poll at 11 s;
    // flow 1 ends at the first poll after its timeout (1.8 s: the pipeline
    // is polled only when packets are run).
    for t in (900..=9900).step_by(900) {
        run(&mut p, &[flow(2)], t);
    }
    assert_eq!(p.counters().events.sessions_expired, 1);
    run(&mut p, &[], 11_000);
    assert_eq!(p.counters().events.sessions_expired, 2);
    let lifetimes = &p.stats(0).lifetimes[0];
    let b = &SESSION_LIFETIME_MS;
    let bucket = |ms| b.bounds.partition_point(|&bound| bound < ms);
    let mut want = vec![0; b.bounds.len() + 1];
    want[bucket(1800)] += 1;
    want[bucket(11_000)] += 1;
    assert_ne!(bucket(1800), bucket(11_000));
    assert_eq!(lifetimes.counts, want);
    assert!(lifetimes.sum.abs_diff(12_800) <= 32, "{lifetimes:?}");
    // `zero` empties them with the counters; other services' stay apart.
    p.zero_counters(None);
    assert_eq!(p.stats(0).lifetimes[0].count(), 0);
}

#[test]
fn dr_changes_only_the_macs_and_tun_encapsulates() {
    let mut p = pipeline(&config(vec![service(Mode::Dr, IpProto::TCP)]));
    let syn = tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b"");
    let out = run(&mut p, std::slice::from_ref(&syn), 0);
    let mut expected = syn.clone();
    expected[..6].copy_from_slice(&RS1);
    expected[6..12].copy_from_slice(&OURS);
    assert_eq!(out, vec![expected]);

    let mut p = pipeline(&config(vec![service(Mode::Tun, IpProto::TCP)]));
    let out = run(&mut p, std::slice::from_ref(&syn), 0);
    let f = &out[0];
    assert_eq!(&f[..12], &[RS1, OURS].concat()[..]);
    assert_eq!(f.len(), syn.len() + 20);
    assert_eq!(&f[34..], &syn[14..], "inner packet untouched");
    let outer = etherparse::Ipv4HeaderSlice::from_slice(&f[14..]).expect("outer");
    assert_eq!(outer.protocol(), etherparse::IpNumber::IPV4);
    assert_eq!(
        (outer.source(), outer.destination(), outer.ttl()),
        ([10, 0, 1, 1], RIP1, 64)
    );
    assert_eq!(
        outer.header_checksum(),
        outer.to_header().calc_header_checksum()
    );
}

#[test]
fn tun_answers_fragmentation_needed_when_the_outer_packet_is_too_big() {
    let mut cfg = config(vec![service(Mode::Tun, IpProto::TCP)]);
    cfg.ports[0].mtu = 100;
    let mut p = pipeline(&cfg);
    // 40 bytes of headers + 50 payload = 90: fits alone, not with 20 more.
    let big = tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, &[7; 50]);
    let out = run(&mut p, &[big], 0);
    let s = seen(&out[0]);
    assert_eq!((s.src, s.dst, s.macs), ([10, 0, 0, 1], CIP, (OURS, ROUTER)));
    // Type 3 code 4 with the next-hop MTU 80 in the low 16 bits.
    assert_eq!(&out[0][34..36], &[3, 4]);
    assert_eq!(&out[0][40..42], &80u16.to_be_bytes());
    assert_eq!(drops(&p, DropReason::FragmentationNeeded), 1);
    assert_eq!(p.counters().events.icmp_errors_sent, 1);
}

#[test]
fn snat_rewrites_outbound_sources_and_reverses_the_replies() {
    let mut cfg = config(Vec::new());
    cfg.neighbours
        .push((Ipv4Addr::new(10, 0, 1, 50), MacAddr(RS1)));
    cfg.snat.push(SnatSpec {
        source: (Ipv4Addr::new(10, 0, 1, 0).into(), 24),
        port: 0,
        addrs: vec![Ipv4Addr::new(203, 0, 113, 1)],
        addrs6: vec![],
        ports: (50000, 50000),
    });
    let mut p = pipeline(&cfg);
    let host = [10, 0, 1, 50];
    let remote = [8, 8, 8, 8];
    let public = [203, 0, 113, 1];
    let out = run(
        &mut p,
        &[
            udp((RS1, OURS), host, remote, (5555, 53)),
            udp((ROUTER, OURS), remote, public, (53, 50000)),
            udp((ROUTER, OURS), remote, public, (53, 50001)),
        ],
        0,
    );
    let got: Vec<_> = out.iter().map(|f| seen(f)).collect();
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[0].src, got[0].dst, got[0].ports, got[0].macs.1),
        (public, remote, (50000, 53), ROUTER)
    );
    assert_eq!(
        (got[1].src, got[1].dst, got[1].ports, got[1].macs.1),
        (remote, host, (53, 5555), RS1)
    );
    assert_eq!(drops(&p, DropReason::NoService), 1, "unknown public port");
    assert_eq!(p.counters().snat[0].conns, 1);
}

pub(crate) fn arp_frame(
    op: u16,
    sender: ([u8; 6], [u8; 4]),
    target: ([u8; 6], [u8; 4]),
) -> Vec<u8> {
    let dst = if op == 1 { [0xff; 6] } else { OURS };
    let mut f = dst.to_vec();
    f.extend_from_slice(&sender.0);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sender.0);
    f.extend_from_slice(&sender.1);
    f.extend_from_slice(&target.0);
    f.extend_from_slice(&target.1);
    f.resize(60, 0);
    f
}

#[test]
fn arp_is_answered_for_vips_and_resolves_unknown_backends() {
    let mut cfg = config(vec![service(Mode::Nat, IpProto::TCP)]);
    cfg.neighbours.retain(|(a, _)| *a != ip(RIP1));
    let mut p = pipeline(&cfg);
    let syn = tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b"");
    let out = run(
        &mut p,
        &[
            arp_frame(1, (ROUTER, [10, 0, 0, 254]), ([0; 6], VIP)),
            syn,
            arp_frame(2, (RS1, RIP1), (OURS, [10, 0, 1, 1])),
        ],
        0,
    );
    assert_eq!(out.len(), 3, "ARP reply, ARP request, the released SYN");
    assert_eq!(
        out[0],
        arp_frame(2, (OURS, VIP), (ROUTER, [10, 0, 0, 254]))
            .iter()
            .enumerate()
            .map(|(i, &b)| if i < 6 { ROUTER[i] } else { b })
            .collect::<Vec<_>>()
    );
    let mut request = arp_frame(1, (OURS, [10, 0, 1, 1]), ([0; 6], RIP1));
    request[..6].copy_from_slice(&[0xff; 6]);
    assert_eq!(out[1], request);
    let s = seen(&out[2]);
    assert_eq!((s.dst, s.macs), (RIP1, (OURS, RS1)));
    let e = p.counters().events;
    assert_eq!((e.arp_replies, e.arp_requests), (1, 1));
}

/// The hop cache must not outlive what it copied: a neighbour that moves
/// to a new MAC gets the next packet there, and a neighbour that goes stale
/// under steady traffic is still refreshed with ARP.
#[test]
fn a_neighbours_new_mac_is_used_at_once_and_a_stale_one_is_refreshed() {
    const MOVED: [u8; 6] = [0x02, 0, 0, 0, 1, 0x99];
    let mut cfg = config(vec![service(Mode::Nat, IpProto::UDP)]);
    cfg.neighbours.retain(|(a, _)| *a != ip(RIP1));
    let mut p = pipeline(&cfg);
    let datagram = || udp((ROUTER, OURS), CIP, VIP, (40000, 80));
    let learned = |mac| arp_frame(2, (mac, RIP1), (OURS, [10, 0, 1, 1]));
    let out = run(&mut p, &[datagram(), learned(RS1)], 0);
    assert_eq!(out.len(), 2, "ARP request, then the released datagram");
    assert_eq!(seen(&out[1]).macs, (OURS, RS1));
    let out = run(&mut p, &[datagram()], 10);
    assert_eq!(seen(&out[0]).macs, (OURS, RS1));

    let out = run(&mut p, &[learned(MOVED), datagram()], 20);
    assert_eq!(out.len(), 1);
    assert_eq!(seen(&out[0]).macs, (OURS, MOVED), "the new MAC, at once");

    // Traffic every 100 ms until the entry goes stale: ARP asks again, the
    // neighbour answers, and the datagrams keep going to the MAC we know.
    let requests_before = p.counters().events.arp_requests;
    let mut now = 20;
    let mut refreshed_at = None;
    while now < NEIGHBOUR_TIMERS.reachable + 3_000 {
        now += 100;
        let answer = refreshed_at.map(|_| learned(MOVED));
        let frames: Vec<_> = answer.into_iter().chain([datagram()]).collect();
        let out = run(&mut p, &frames, now);
        let datagrams: Vec<_> = out.iter().filter(|f| f[12..14] == [0x08, 0x00]).collect();
        assert_eq!(datagrams.len(), 1, "at {now}");
        assert_eq!(seen(datagrams[0]).macs, (OURS, MOVED), "at {now}");
        if out.len() == 2 && refreshed_at.is_none() {
            refreshed_at = Some(now);
        }
    }
    let at = refreshed_at.expect("an ARP refresh while the traffic flowed");
    assert!(
        (NEIGHBOUR_TIMERS.reachable..=NEIGHBOUR_TIMERS.reachable + 20 + MAX_HOP_AGE).contains(&at),
        "refreshed at {at}"
    );
    assert_eq!(
        p.counters().events.arp_requests,
        requests_before + 1,
        "answered, so asked once"
    );
}

/// The pipeline reads the NIC's RX checksum verdict off the buffer.
#[test]
fn the_nics_ipv4_checksum_verdict_decides_before_ours() {
    let mut p = pipeline(&config(vec![service(Mode::Nat, IpProto::UDP)]));
    let good = udp((ROUTER, OURS), CIP, VIP, (40000, 80));
    let mut broken = good.clone();
    broken[22] ^= 1; // TTL, the header checksum no longer matches
    let received = |frame: &[u8], verdict| {
        let mut b = TestBuf::new(frame);
        b.rx_ipv4_checksum = verdict;
        b
    };
    let mut io = MemoryIo::new(vec![Vec::new()]);
    io.rx[0].extend([
        received(&broken, HwChecksum::Unchecked),
        received(&good, HwChecksum::Bad),
        received(&broken, HwChecksum::Good),
    ]);
    p.poll(&mut io, 0);
    assert_eq!(drops(&p, DropReason::BadIpv4Checksum), 2);
    assert_eq!(io.sent_frames(0).len(), 1, "the one the NIC vouched for");
}

#[test]
fn echo_to_a_vip_is_answered_and_ttl_one_gets_time_exceeded() {
    let mut p = pipeline(&config(vec![service(Mode::Nat, IpProto::TCP)]));
    let mut echo = Vec::new();
    PacketBuilder::ethernet2(ROUTER, OURS)
        .ipv4(CIP, VIP, 9)
        .icmpv4_echo_request(7, 1)
        .write(&mut echo, b"ping")
        .expect("writes");
    let out = run(
        &mut p,
        &[
            echo,
            tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 1, b""),
        ],
        0,
    );
    let reply = seen(&out[0]);
    assert_eq!(
        (reply.src, reply.dst, reply.macs, reply.ttl),
        (VIP, CIP, (OURS, ROUTER), 64)
    );
    let err = seen(&out[1]);
    assert_eq!((err.src, err.dst), ([10, 0, 0, 1], CIP));
    assert_eq!(&out[1][34..36], &[11, 0]);
    assert_eq!(drops(&p, DropReason::TtlExceeded), 1);
}

#[test]
fn fragmentation_needed_from_a_nat_backend_reaches_the_client_from_the_vip() {
    let mut p = pipeline(&config(vec![service(Mode::Nat, IpProto::TCP)]));
    let syn = tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b"");
    let forwarded = run(&mut p, std::slice::from_ref(&syn), 0);
    // The backend reports the packet as it received it: CIP -> RIP1.
    let mut err = icmp_error_frame(RIP1, CIP, 3, 4, 1400, &forwarded[0][14..], 28);
    err[..6].copy_from_slice(&OURS);
    err[6..12].copy_from_slice(&RS1);
    let out = run(&mut p, &[err], 0);
    let s = seen(&out[0]);
    assert_eq!((s.src, s.dst, s.macs.1), (VIP, CIP, ROUTER));
    // The quote is now the packet as the client sent it: CIP:40000 -> VIP:80.
    let quote = etherparse::Ipv4HeaderSlice::from_slice(&out[0][42..]).expect("quote");
    assert_eq!((quote.source(), quote.destination()), (CIP, VIP));
    assert_eq!(&out[0][62..66], &[0x9c, 0x40, 0, 80]);
    assert_eq!(p.counters().events.icmp_errors_translated, 1);
}

#[test]
fn every_refused_packet_lands_in_its_counter() {
    let mut p = pipeline(&config(vec![service(Mode::Nat, IpProto::TCP)]));
    let mut bad_sum = tcp((ROUTER, OURS), (CIP, VIP), (1, 80), SYN, 64, b"");
    bad_sum[24] ^= 0xff;
    let out = run(
        &mut p,
        &[
            udp((ROUTER, OURS), CIP, [10, 0, 1, 99], (1, 1)),
            tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), ACK, 64, b""),
            tcp((ROUTER, RS2), (CIP, VIP), (40000, 80), SYN, 64, b""),
            vlan_tag(
                &tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b""),
                5,
            ),
            bad_sum,
            tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b"")[..30].to_vec(),
        ],
        0,
    );
    assert!(out.is_empty(), "nothing comes out: {out:?}");
    for r in [
        DropReason::NoService,
        DropReason::NoSession,
        DropReason::OtherHost,
        DropReason::NoInterface,
        DropReason::BadIpv4Checksum,
        DropReason::TruncatedIpv4,
    ] {
        assert_eq!(drops(&p, r), 1, "{r:?}");
    }
}

#[test]
fn vlan_interfaces_tag_and_untag_on_the_way_through() {
    let mut cfg = config(vec![service(Mode::Nat, IpProto::TCP)]);
    cfg.interfaces = vec![
        Interface {
            port: 0,
            vlan: None,
            addrs: vec![(Ipv4Addr::new(10, 0, 0, 1), 24)],
            addrs6: Vec::new(),
        },
        Interface {
            port: 0,
            vlan: Some(20),
            addrs: vec![(Ipv4Addr::new(10, 0, 1, 1), 24)],
            addrs6: Vec::new(),
        },
    ];
    let mut p = pipeline(&cfg);
    let syn = tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b"");
    let reply = vlan_tag(
        &tcp((RS1, OURS), (RIP1, CIP), (8080, 40000), SYN | ACK, 64, b""),
        20,
    );
    let out = run(&mut p, &[syn, reply], 0);
    assert_eq!(&out[0][12..16], &[0x81, 0, 0, 20]);
    let mut untagged = out[0][..12].to_vec();
    untagged.extend_from_slice(&out[0][16..]);
    assert_eq!(seen(&untagged).dst, RIP1);
    assert_eq!(seen(&out[1]).src, VIP, "reply leaves untagged");
}

#[test]
fn a_weight_zero_backend_gets_no_new_flows() {
    let mut svc = service(Mode::Nat, IpProto::UDP);
    svc.backends[0].weight = 0;
    let mut p = pipeline(&config(vec![svc]));
    let flows: Vec<_> = (0..20)
        .map(|i| udp((ROUTER, OURS), CIP, VIP, (1000 + i, 80)))
        .collect();
    let out = run(&mut p, &flows, 0);
    assert_eq!(out.len(), 20);
    assert!(out.iter().all(|f| seen(f).dst == RIP2));
}

#[test]
fn dr_sessions_follow_the_input_only_tcp_table() {
    let mut p = pipeline(&config(vec![service(Mode::Dr, IpProto::TCP)]));
    let pkt = |flags| tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), flags, 64, b"");
    run(&mut p, &[pkt(SYN), pkt(ACK)], 0);
    let state = |p: &Pipeline<TestBuf>| {
        let (_, s) = p.path.flow.sessions().iter().next().expect("one session");
        s.state
    };
    assert_eq!(state(&p), ProtoState::Tcp(TcpState::Established));
    // Replies bypass us, so the client's FIN alone moves the session on.
    run(&mut p, &[pkt(tcp_flags::FIN | ACK)], 0);
    assert_eq!(state(&p), ProtoState::Tcp(TcpState::FinWait));
}

#[test]
fn a_syn_on_a_closing_session_is_a_new_connection() {
    // NAT: the server closes first, the client's FIN takes the session to
    // TIME_WAIT; the client then reuses its port for a new connection.
    let mut p = pipeline(&config(vec![service(Mode::Nat, IpProto::TCP)]));
    let c = |flags| tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), flags, 64, b"");
    let s = |flags| tcp((RS1, OURS), (RIP1, CIP), (8080, 40000), flags, 64, b"");
    let fin = tcp_flags::FIN;
    let out = run(
        &mut p,
        &[
            c(SYN),
            s(SYN | ACK),
            c(ACK),
            s(fin | ACK),
            c(ACK),
            c(fin | ACK),
            c(SYN),
        ],
        0,
    );
    assert_eq!(seen(&out[0]).dst, RIP1);
    // The reused port was scheduled again: rr gives it the next backend.
    assert_eq!(seen(out.last().expect("sent")).dst, RIP2);
    let counters = p.counters();
    assert_eq!(
        (counters.backends[0].conns, counters.backends[1].conns),
        (1, 1)
    );
    assert_eq!(counters.events.sessions_expired, 1);
    assert_eq!(p.session_counts().services, vec![1]);

    // An established session is not ended by a stray SYN.
    let mut p = pipeline(&config(vec![service(Mode::Nat, IpProto::TCP)]));
    let out = run(&mut p, &[c(SYN), s(SYN | ACK), c(ACK), c(SYN)], 0);
    assert_eq!(seen(out.last().expect("sent")).dst, RIP1);
    assert_eq!(p.counters().services[0].conns, 1);
}

#[test]
fn dr_a_syn_after_the_clients_fin_is_a_new_connection() {
    // DR sees only the client's half: its FIN leaves the session in
    // FIN_WAIT, and a SYN on that port is a new connection.
    let mut p = pipeline(&config(vec![service(Mode::Dr, IpProto::TCP)]));
    let c = |flags| tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), flags, 64, b"");
    let out = run(
        &mut p,
        &[c(SYN), c(ACK), c(tcp_flags::FIN | ACK), c(ACK), c(SYN)],
        0,
    );
    assert_eq!(seen(&out[0]).macs.1, RS1);
    assert_eq!(seen(out.last().expect("sent")).macs.1, RS2);
    assert_eq!(p.counters().services[0].conns, 2);
    assert_eq!(p.counters().events.sessions_expired, 1);
}
