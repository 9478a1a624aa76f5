//! The whole packet path on arbitrary bytes, for the fuzzer and for tests.
//!
//! [`run_packet_path`] classifies the input and pushes it through every step
//! that applies: each rewrite, ICMP error translation and building, ARP and
//! echo answering, route and neighbour lookups. It asserts the invariants the
//! steps promise (a refused rewrite changes nothing, a rewritten packet
//! classifies again with the tuple it was given, checksums that verified
//! still verify). A panic here is a bug; `cargo fuzz run packet_path` and the
//! corpus replay test in `cargo test` both call it. IPv6 goes through the
//! host side (`net::nd`): whatever it answers must be an IPv6 packet whose
//! ICMPv6 checksum verifies.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::buf::{PacketBuf, TestBuf};
use crate::checksum;
use crate::drop::DropCounters;
use crate::net::addrs::AddrSet;
use crate::net::arp::{handle_arp, ArpHost};
use crate::net::icmp::{answer_echo, build_icmp_error};
use crate::net::neighbour::{NeighbourTable, NeighbourTimers, Resolution};
use crate::net::route::RouteTable;
use crate::packet::{classify, Classified, Ipv4Meta, L4Kind};
use crate::rewrite::{encapsulate_ipip, translate, translate_icmp_error, Translation, Tunnel};
use crate::tuple::IpProto;
use crate::wire::ethernet::MacAddr;
use crate::wire::ipv4::IPV4_MIN_HEADER_LEN;
use crate::wire::{arp, udp};

#[path = "fuzzing_ipv6.rs"]
mod ipv6;
#[path = "fuzzing_nat64.rs"]
mod nat64;
#[cfg(test)]
#[path = "fuzzing_seeds6.rs"]
mod seeds6;
#[path = "fuzzing_synproxy.rs"]
mod synproxy;

const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xaa]);
const TIMERS: NeighbourTimers = NeighbourTimers {
    reachable: 1000,
    retry: 10,
    resolve_timeout: 100,
};

/// Runs `data` as a received frame through the packet path. Panics only if an
/// invariant of the packet code is broken.
pub fn run_packet_path(data: &[u8]) {
    run_pipeline(data);
    synproxy::run_splice(data);
    let _ = nat64::run_nat64(data);
    let mut drops = DropCounters::default();
    match classify(data) {
        Err(reason) => drops.count(reason),
        Ok(Classified::Ipv6 { l3_offset, .. }) => ipv6::run_ipv6(data, l3_offset, &mut drops),
        Ok(Classified::Arp { l3_offset, .. }) => {
            // Own whatever the packet asks about, so the reply path runs too.
            let at = arp::field::TARGET_IP;
            let asked = data
                .get(l3_offset + at.start..l3_offset + at.end)
                .unwrap_or(&[0; 4]);
            let target = Ipv4Addr::new(asked[0], asked[1], asked[2], asked[3]);
            for owned in [AddrSet::new([target]), AddrSet::default()] {
                let mut frame = data.to_vec();
                let mut neighbours: NeighbourTable<u8, 2> = NeighbourTable::new(8, TIMERS);
                let _ = neighbours.resolve(Ipv4Addr::new(10, 0, 0, 1), 1, 0);
                match handle_arp(
                    &mut frame,
                    l3_offset,
                    ArpHost {
                        mac: OUR_MAC,
                        owned: &owned,
                    },
                    &mut neighbours,
                    5,
                    |_, _| {},
                ) {
                    Ok(_) => assert_eq!(frame.len(), data.len(), "ARP is answered in place"),
                    Err(reason) => drops.count(reason),
                }
            }
        }
        Ok(Classified::Ipv4(meta)) => run_ipv4(data, &meta, &mut drops),
    }
}

/// A pipeline with every mode, a SNAT rule and a VLAN interface, so the
/// fuzzer's bytes can reach each branch: the frame itself, then the frame
/// once more (a session hit), on both interfaces.
fn run_pipeline(data: &[u8]) -> crate::pipeline::counters::LbCounters {
    use crate::io::MemoryIo;
    use crate::pipeline::Pipeline;
    use crate::sched::SchedulerKind;
    use crate::tables::*;
    use std::sync::Arc;

    let our_mac = MacAddr(
        data.get(..6)
            .and_then(|m| m.try_into().ok())
            .unwrap_or([2; 6]),
    );
    let vip = Ipv4Addr::new(192, 0, 2, 10);
    let backends = vec![BackendSpec {
        addr: Ipv4Addr::new(10, 0, 1, 11).into(),
        port: 80,
        weight: 1,
        u_threshold: 0,
        l_threshold: 0,
    }];
    let service = |mode, proto, port| ServiceSpec {
        // The SYN proxy's services: TCP 8080 (NAT) and 8443 (FULLNAT).
        syn_proxy: port > 8000,
        name: None,
        vip: vip.into(),
        proto,
        port,
        extra_ports: 0,
        also_listen: Vec::new(),
        one_packet: false,
        mode,
        scheduler: SchedulerKind::RoundRobin,
        persistence: None,
        pickup: false,
        local_addrs: vec![Ipv4Addr::new(10, 0, 1, 100)],
        local_addrs6: Vec::new(),
        local_ports: (1024, 1100),
        timeouts: None,
        acl: Default::default(),
        mss_clamp: None,
        new_conn_rate: None,
        client_rate: None,
        toa: false,
        proxy_protocol: None,
        backends: backends.clone(),
    };
    let mut cfg = LbConfig {
        kernel: Vec::new(),
        garp: Default::default(),
        // Bad cookies answered with a RST, so that path is fuzzed too.
        synproxy: crate::tables::SynProxySettings {
            reset_bad_cookie: true,
            ..Default::default()
        },
        standby: Vec::new(),
        ports: vec![PortSetup {
            mac: our_mac,
            mtu: 576,
        }],
        interfaces: vec![
            Interface {
                port: 0,
                vlan: None,
                addrs: vec![(Ipv4Addr::new(10, 0, 0, 1), 24)],
                addrs6: vec![
                    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 64),
                    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1), 64),
                ],
            },
            Interface {
                port: 0,
                vlan: Some(100),
                addrs: vec![(Ipv4Addr::new(10, 0, 1, 1), 24)],
                addrs6: vec![(Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1), 64)],
            },
        ],
        routes: vec![StaticRoute {
            prefix: Ipv4Addr::UNSPECIFIED,
            len: 0,
            via: Ipv4Addr::new(10, 0, 0, 254),
        }],
        routes6: Vec::new(),
        neighbours6: Vec::new(),
        neighbours: vec![(Ipv4Addr::new(10, 0, 0, 254), MacAddr([2, 0, 0, 0, 0, 0xfe]))],
        services: vec![
            // Limits: a threshold of 1 and a rate of 1/s (the second poll
            // is 5 s later, so both refuse and admit).
            ServiceSpec {
                new_conn_rate: Some(crate::flow::limits::RateLimit { rate: 1, burst: 1 }),
                client_rate: Some(crate::flow::limits::ClientLimit {
                    rate: crate::flow::limits::RateLimit { rate: 1, burst: 1 },
                    prefix_len: 24,
                }),
                backends: vec![BackendSpec {
                    u_threshold: 1,
                    ..backends[0]
                }],
                ..service(Mode::Nat, IpProto::TCP, 80)
            },
            ServiceSpec {
                toa: true,
                ..service(Mode::FullNat, IpProto::TCP, 443)
            },
            service(Mode::Dr, IpProto::UDP, 53),
            service(Mode::Tun, IpProto::UDP, 80),
            // UDP with the PROXY header, on a VIP of its own: its
            // fragments are reassembled, the other VIP's forwarded
            // piecewise.
            ServiceSpec {
                proxy_protocol: Some(crate::client_addr::proxy_header::ProxyVersion::V2),
                vip: REASM_VIP.into(),
                ..service(Mode::FullNat, IpProto::UDP, 443)
            },
            service(Mode::Nat, IpProto::TCP, 8080),
            // SYN proxy and a PROXY v1 header: one translation.
            ServiceSpec {
                proxy_protocol: Some(crate::client_addr::proxy_header::ProxyVersion::V1),
                ..service(Mode::FullNat, IpProto::TCP, 8443)
            },
            // A PROXY v2 header alone.
            ServiceSpec {
                proxy_protocol: Some(crate::client_addr::proxy_header::ProxyVersion::V2),
                ..service(Mode::FullNat, IpProto::TCP, 8000)
            },
        ],
        snat: vec![
            SnatSpec {
                source: (Ipv4Addr::new(10, 0, 1, 0).into(), 24),
                port: 0,
                addrs: vec![Ipv4Addr::new(203, 0, 113, 1)],
                addrs6: vec![],
                ports: (1024, 1100),
            },
            // SNAT over IPv6 (`pipeline/snat6.rs`): the VLAN's prefix out
            // from ipv6::SNAT6.
            SnatSpec {
                source: (ipv6::SNAT6_SOURCE.into(), 64),
                port: 0,
                addrs: vec![],
                addrs6: vec![ipv6::SNAT6],
                ports: (1024, 1100),
            },
        ],
        sessions: crate::flow::TableConfig {
            capacity: 64,
            capacity6: 64,
            ..Default::default()
        },
    };
    cfg.services.extend(ipv6::services6(&service, backends[0]));
    let Ok(tables) = LbTables::build(&cfg) else {
        panic!("the fuzzing config builds");
    };
    let Ok(mut pipeline) = Pipeline::<TestBuf>::new(Arc::new(tables), 0, 1, 0) else {
        panic!("the fuzzing pipeline builds");
    };
    // The frame twice, then (if it is a whole TCP or UDP packet) its
    // fragments in order and the other way round, one of them repeated,
    // the same sent to the VIP whose UDP fragments are reassembled, then
    // past the fragment timeout.
    let mut frames = vec![data.to_vec(), data.to_vec()];
    for dst in [None, Some(REASM_VIP)] {
        let pieces = fragments_of(data, dst);
        frames.extend(pieces.iter().cloned());
        frames.extend(pieces.iter().rev().cloned());
        frames.extend(pieces.first().cloned());
    }
    // IPv6's the same way (`pipeline/fragment6.rs`).
    if let Ok(Classified::Ipv6 { l3_offset, .. }) = classify(data) {
        let pieces = ipv6::fragments6_of(data, l3_offset);
        frames.extend(pieces.iter().cloned());
        frames.extend(pieces.iter().rev().cloned());
        frames.extend(pieces.first().cloned());
    }
    let mut io = MemoryIo::new(vec![frames]);
    for now in [0, 0, 0, 5000] {
        pipeline.poll(&mut io, now);
    }
    for out in io.sent_frames(0) {
        match classify(&out) {
            Ok(Classified::Ipv6 {
                l3_offset,
                next_header,
                ..
            }) if next_header != crate::wire::ipv6::NextHeader::ICMPV6 => {
                ipv6::assert_forwarded6(&out, l3_offset)
            }
            Ok(Classified::Ipv6 { l3_offset, .. }) => ipv6::assert_icmpv6_answer(&out, l3_offset),
            Ok(_) | Err(crate::drop::DropReason::UnsupportedProtocol) => {}
            Err(reason) => panic!("the pipeline sent a frame that does not classify: {reason:?}"),
        }
    }
    pipeline.counters()
}

/// The local address of the fuzzing config's NAT64 service.
const NAT64_LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 164);

/// The VIP of the fuzzing config's UDP service with the PROXY header.
const REASM_VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);

/// A whole TCP or UDP packet's fragments (8 payload bytes each after the
/// first, whose size the packet's own bytes choose), or nothing; sent to
/// `dst` instead of its own destination when given.
fn fragments_of(data: &[u8], dst: Option<Ipv4Addr>) -> Vec<Vec<u8>> {
    let Ok(Classified::Ipv4(m)) = classify(data) else {
        return Vec::new();
    };
    if m.fragment.is_some() || !matches!(m.kind, L4Kind::Tcp | L4Kind::Udp) {
        return Vec::new();
    }
    let payload = data.get(m.l4_offset..m.ip_end()).unwrap_or(&[]);
    let header = data.get(..m.l4_offset).unwrap_or(&[]);
    let first = 8 * (1 + usize::from(data.last().copied().unwrap_or(0) % 4));
    let mut out = Vec::new();
    let mut at = 0;
    while at < payload.len() && out.len() < 8 {
        let size = if at == 0 { first } else { 8 };
        let end = (at + size).min(payload.len());
        let mut f = header.to_vec();
        f.extend_from_slice(payload.get(at..end).unwrap_or(&[]));
        let ip = m.l3_offset;
        let len = (m.l4_offset - ip + end - at) as u16;
        let more = if end < payload.len() { 0x2000 } else { 0 };
        let word = more | (at / 8) as u16;
        if let Some(h) = f.get_mut(ip..m.l4_offset) {
            if let Some(dst) = dst {
                h[16..20].copy_from_slice(&dst.octets());
            }
            h[2..4].copy_from_slice(&len.to_be_bytes());
            h[6..8].copy_from_slice(&word.to_be_bytes());
            h[10..12].copy_from_slice(&[0, 0]);
            let sum = checksum::checksum(h);
            h[10..12].copy_from_slice(&sum.to_be_bytes());
        }
        out.push(f);
        at = end;
    }
    out
}

/// TOA and the UDP PROXY header on the packet as it is: a refusal changes
/// nothing; an insertion leaves a packet that classifies, 8 or 28 bytes
/// longer at the IP level.
fn check_client_addr(data: &[u8], meta: &Ipv4Meta) {
    use crate::client_addr::proxy_header::Endpoints;
    use crate::client_addr::{toa, udp};
    let t = meta.tuple;
    for mtu in [1500u16, 68] {
        let mut buf = TestBuf::new(data);
        let grown = match meta.tuple.proto {
            IpProto::TCP => {
                toa::insert(&mut buf, meta.l3_offset, (t.src, t.src_port), mtu).map(|()| toa::LEN)
            }
            IpProto::UDP => {
                let ends = Endpoints {
                    src: (t.src, t.src_port),
                    dst: (t.dst, t.dst_port),
                };
                udp::prepend_v2(&mut buf, meta.l3_offset, ends, mtu).map(|()| 28)
            }
            _ => return,
        };
        match grown {
            Ok(n) => {
                let Ok(Classified::Ipv4(m)) = classify(buf.data()) else {
                    panic!("a packet with the client's address classifies");
                };
                assert_eq!(usize::from(m.total_len), usize::from(meta.total_len) + n);
            }
            Err(_) => assert_eq!(buf.data(), data, "a skipped insertion changes nothing"),
        }
    }
}

fn run_ipv4(data: &[u8], meta: &Ipv4Meta, drops: &mut DropCounters) {
    let t = meta.tuple;
    // Translations taken from the packet's own bytes, so the fuzzer steers them.
    let salt = data
        .iter()
        .fold(0u32, |h, &b| h.rotate_left(5) ^ u32::from(b));
    let targets = [
        Translation::nat_request(&t, Ipv4Addr::from(salt), salt as u16),
        Translation::nat_reply(&t, Ipv4Addr::from(!salt), (salt >> 16) as u16),
        Translation::fullnat_request((Ipv4Addr::from(salt ^ 0x5555), 1), (t.dst, 0)),
        Translation::snat_outbound(&t, Ipv4Addr::new(203, 0, 113, 1), 0xffff),
        Translation::of(&t),
    ];
    for to in &targets {
        check_translate(data, meta, to, drops);
        if matches!(meta.kind, L4Kind::IcmpError { .. }) {
            let mut frame = data.to_vec();
            match translate_icmp_error(&mut frame, meta, to, to.dst, to.src) {
                Ok(()) => {
                    let again = classify(&frame).expect("a translated ICMP error classifies");
                    let Classified::Ipv4(m) = again else {
                        panic!("still IPv4")
                    };
                    assert!(matches!(m.kind, L4Kind::IcmpError { .. }));
                    assert_eq!((m.tuple.src, m.tuple.dst), (to.dst, to.src));
                }
                Err(reason) => {
                    assert_eq!(frame, data, "a refused translation changes nothing");
                    drops.count(reason);
                }
            }
        }
    }

    for mtu in [1500u16, 576, 68] {
        let mut buf = TestBuf::new(data);
        let tun = Tunnel {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: t.dst,
            ttl: 64,
            egress_mtu: mtu,
        };
        match encapsulate_ipip(&mut buf, meta, &tun) {
            Ok(()) => {
                let out = buf.data();
                let inner = out
                    .get(meta.l3_offset + IPV4_MIN_HEADER_LEN..)
                    .expect("outer header present");
                assert_eq!(
                    inner,
                    data.get(meta.l3_offset..meta.ip_end()).expect("classified")
                );
                assert!(checksum::verifies(
                    out.get(meta.l3_offset..meta.l3_offset + IPV4_MIN_HEADER_LEN)
                        .expect("outer")
                ));
            }
            Err(reason) => {
                assert_eq!(buf.data(), data, "a refused encapsulation changes nothing");
                drops.count(reason);
                let mut err = TestBuf::new(data);
                if build_icmp_error(&mut err, meta, 3, 4, u32::from(tun.inner_mtu()), t.dst) {
                    let Ok(Classified::Ipv4(m)) = classify(err.data()) else {
                        panic!("a built ICMP error classifies");
                    };
                    assert!(matches!(m.kind, L4Kind::IcmpError { .. }));
                }
            }
        }
    }

    check_client_addr(data, meta);

    let owned = AddrSet::new([t.dst]);
    let mut frame = data.to_vec();
    match answer_echo(&mut frame, meta, &owned) {
        Ok(()) => {
            let Ok(Classified::Ipv4(m)) = classify(&frame) else {
                panic!("an echo reply classifies")
            };
            assert_eq!(m.kind, L4Kind::IcmpEcho { request: false });
            assert!(checksum::verifies(
                frame.get(m.l4_offset..m.ip_end()).unwrap_or(&[])
            ));
        }
        Err(reason) => drops.count(reason),
    }

    let mut routes = RouteTable::new();
    let _ = routes.add_connected(t.src, (salt % 33) as u8, 0);
    let mut neighbours: NeighbourTable<(), 1> = NeighbourTable::new(8, TIMERS);
    if let Some(hop) = routes.lookup(t.dst) {
        if let Resolution::Dropped { reason, .. } = neighbours.resolve(hop.neighbour(t.dst), (), 0)
        {
            drops.count(reason);
        }
    }
}

/// Whether the L4 checksum of an IPv4 packet verifies (ICMP: over the
/// message; UDP with checksum 0: yes).
fn l4_ok(frame: &[u8], m: &Ipv4Meta) -> bool {
    let l4 = frame.get(m.l4_offset..m.ip_end()).unwrap_or(&[]);
    match m.tuple.proto {
        IpProto::ICMP => checksum::verifies(l4),
        // UDP checksum 0: the sender computed none.
        IpProto::UDP if l4.get(udp::field::CHECKSUM) == Some(&[0, 0]) => true,
        p => checksum::l4_verifies(m.tuple.src, m.tuple.dst, p, l4),
    }
}

fn check_translate(data: &[u8], meta: &Ipv4Meta, to: &Translation, drops: &mut DropCounters) {
    let mut frame = data.to_vec();
    match translate(&mut frame, meta, to) {
        Ok(()) => {
            let Ok(Classified::Ipv4(m)) = classify(&frame) else {
                panic!("a translated packet classifies")
            };
            assert_eq!((m.tuple.src, m.tuple.dst), (to.src, to.dst));
            if matches!(m.kind, L4Kind::Tcp | L4Kind::Udp) {
                assert_eq!(
                    (m.tuple.src_port, m.tuple.dst_port),
                    (to.src_port, to.dst_port)
                );
            }
            assert_eq!(m.ttl, meta.ttl - 1);
            if l4_ok(data, meta) {
                assert!(l4_ok(&frame, &m), "a valid L4 checksum stays valid");
            }
        }
        Err(reason) => {
            assert_eq!(frame, data, "a refused translation changes nothing");
            drops.count(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::seeds6::*;
    use super::*;
    use crate::testutil;
    use proptest::prelude::*;
    use std::path::PathBuf;

    fn corpus_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/packet_path")
    }

    #[test]
    fn committed_corpus_runs_without_panic() {
        let mut n = 0;
        for entry in std::fs::read_dir(corpus_dir()).expect("corpus directory exists") {
            let path = entry.expect("readable").path();
            run_packet_path(&std::fs::read(&path).expect("readable file"));
            n += 1;
        }
        assert!(n >= 10, "the corpus holds only {n} inputs");
    }

    /// Writes the seed inputs (valid frames of every kind) into the corpus:
    /// `cargo test -p dataplane -- --ignored write_seed_corpus`.
    #[test]
    #[ignore]
    fn write_seed_corpus() {
        let inner = testutil::udp_frame([10, 0, 0, 2], [10, 0, 0, 1], 53, 4000, 9, b"dns");
        let big_udp =
            testutil::udp_frame([198, 51, 100, 7], [192, 0, 2, 10], 4000, 53, 64, &[7; 1472]);
        let mut arp = vec![0u8; 60];
        crate::net::arp::write_arp_request(
            &mut arp,
            None,
            OUR_MAC,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
        )
        .expect("fits");
        let seeds: Vec<(&str, Vec<u8>)> = vec![
            (
                "tcp",
                testutil::tcp_frame(
                    [198, 51, 100, 7],
                    [203, 0, 113, 10],
                    40000,
                    80,
                    64,
                    b"GET / HTTP/1.1",
                ),
            ),
            (
                "tcp_ttl1",
                testutil::tcp_frame([198, 51, 100, 7], [203, 0, 113, 10], 40000, 80, 1, b""),
            ),
            (
                "udp",
                testutil::udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 4000, 53, 64, b"query"),
            ),
            (
                "udp_vlan",
                testutil::vlan_tag(
                    &testutil::udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 4000, 53, 64, b"q"),
                    100,
                ),
            ),
            (
                "echo",
                testutil::echo_frame([10, 0, 0, 1], [10, 0, 0, 2], true, 7, 1, b"ping"),
            ),
            (
                "echo_reply",
                testutil::echo_frame([10, 0, 0, 2], [10, 0, 0, 1], false, 7, 1, b"ping"),
            ),
            (
                "frag_needed",
                testutil::icmp_error_frame(
                    [10, 0, 0, 9],
                    [10, 0, 0, 2],
                    3,
                    4,
                    1400,
                    &inner[14..],
                    28,
                ),
            ),
            (
                "port_unreach_full",
                testutil::icmp_error_frame([10, 0, 0, 1], [10, 0, 0, 2], 3, 3, 0, &inner[14..], 64),
            ),
            ("arp_request", arp),
            (
                "udp_first_fragment",
                testutil::fragment(&big_udp, 14, 1024)[0].clone(),
            ),
            (
                "udp_last_fragment",
                testutil::fragment(&big_udp, 14, 1024)[1].clone(),
            ),
            // The PROXY v2 UDP service's VIP: its fragments are reassembled.
            (
                "udp_proxy_reasm",
                testutil::udp_frame([10, 0, 0, 1], REASM_VIP.octets(), 4000, 443, 64, &[7; 120]),
            ),
            (
                "udp_proxy_reasm_first_fragment",
                testutil::fragment(
                    &testutil::udp_frame(
                        [10, 0, 0, 1],
                        REASM_VIP.octets(),
                        4000,
                        443,
                        64,
                        &[7; 3000],
                    ),
                    14,
                    1480,
                )[0]
                .clone(),
            ),
            ("nd_solicitation", nd_seed(false)),
            ("nd_dad", nd_seed(true)),
            ("echo6", echo6_seed()),
            // IPv6 fragments of a TCP segment to the NAT port (the
            // pipeline also cuts every whole IPv6 input into fragments).
            ("tcp6_first_fragment", fragment6_seeds()[0].clone()),
            ("tcp6_last_fragment", fragment6_seeds()[1].clone()),
            ("proxy6_syn_data", client_addr6_seed(443, true, b"early")),
            ("toa6_syn", client_addr6_seed(444, true, b"")),
            ("proxy6_udp", client_addr6_seed(443, false, b"query")),
            ("snat6_syn", snat6_seed()),
            (
                "big_udp",
                testutil::udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 4000, 53, 64, &[0x5a; 1472]),
            ),
        ];
        std::fs::create_dir_all(corpus_dir()).expect("create corpus");
        for (name, bytes) in seeds {
            std::fs::write(corpus_dir().join(format!("seed_{name}")), bytes).expect("write seed");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Neighbour Discovery and echo with a few bytes flipped: through
        /// every check of `net::nd` and, when still good, its answers.
        #[test]
        fn mutated_ipv6_host_frames_never_panic(
            which in 0..10usize,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        ) {
            let [nat64_syn, nat64_reply] = nat64_seeds();
            let seeds = [
                nd_seed(false),
                nd_seed(true),
                echo6_seed(),
                vip6_seed(80),
                vip6_seed(81),
                nat6_seed(),
                fullnat6_seed(false),
                fullnat6_seed(true),
                nat64_syn,
                nat64_reply,
            ];
            let mut frame = seeds[which].clone();
            for (at, byte) in flips {
                let i = at.index(frame.len());
                frame[i] = byte;
            }
            run_packet_path(&frame);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            run_packet_path(&data);
        }

        /// Mostly-valid frames with a few bytes flipped reach deeper code than
        /// random bytes do.
        #[test]
        fn mutated_valid_frames_never_panic(
            spec in testutil::frame_spec(0),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        ) {
            let mut frame = spec.build();
            for (at, byte) in flips {
                let i = at.index(frame.len());
                frame[i] = byte;
            }
            run_packet_path(&frame);
        }
    }
}
