//! IPv6 DR on in-memory ports (`forward6.rs`): the frame leaves with only
//! its MACs changed (byte for byte, hop limit kept), flows spread by the
//! scheduler and keep their backend, persistence by /64, extension-header
//! chains forwarded and bad ones dropped by name, a backend resolved by a
//! Neighbor Solicitation, the VIP answered for by Neighbour Discovery,
//! and the sessions counted, listed, flushed and expired.

use std::net::{IpAddr, Ipv6Addr};

use etherparse::PacketBuilder;

use super::local6_tests::{a6, group_mac, solicitation};
use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::sched::Persistence;
use crate::tables::{BackendSpec, FlushRequest, LbConfig, LbTables, Mode, ServiceSpec};
use crate::wire::ethernet::MacAddr;

pub(super) const OUR6: &str = "2001:db8:1::1";
pub(super) const VIP6: &str = "2001:db8:10::10";
pub(super) const RIP6: [&str; 2] = ["2001:db8:1::11", "2001:db8:1::12"];
pub(super) const CLIENT6: &str = "2001:db8:2::7";

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

/// The IPv6 DR service: TCP port 80 of VIP6 to the two backends.
pub(super) fn service6(proto: IpProto) -> ServiceSpec {
    let mut s = service(Mode::Dr, proto);
    s.vip = v6(VIP6).into();
    s.backends = RIP6
        .iter()
        .map(|a| BackendSpec {
            addr: v6(a).into(),
            port: 80,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
        })
        .collect();
    s
}

/// The IPv4 test config with OUR6/64 on the interface (the backends' link)
/// and `services`.
pub(super) fn config_dr6(services: Vec<ServiceSpec>) -> LbConfig {
    let mut cfg = config(services);
    cfg.interfaces[0].addrs6 = vec![(v6(OUR6), 64)];
    cfg.sessions.capacity6 = 1024;
    cfg
}

/// The backends' MACs, learned as if they had answered our solicitations.
pub(super) fn learn_backends(p: &mut Pipeline<TestBuf>) {
    for (a, mac) in RIP6.iter().zip([RS1, RS2]) {
        p.path
            .egress
            .neighbours6
            .learn(v6(a), MacAddr(mac), 0, true, |_, _| {});
    }
}

/// A TCP frame over IPv6 from the router to `dst`.
pub(super) fn tcp6(src: &str, dst: &str, ports: (u16, u16), flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(ROUTER, OURS)
        .ipv6(a6(src), a6(dst), 57)
        .tcp(ports.0, ports.1, 1000, 64240);
    if flags & SYN != 0 {
        b = b.syn();
    }
    if flags & ACK != 0 {
        b = b.ack(5000);
    }
    if flags & crate::flow::proto::tcp_flags::FIN != 0 {
        b = b.fin();
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("writes");
    v
}

fn udp6(src: &str, dst: &str, ports: (u16, u16)) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(ROUTER, OURS)
        .ipv6(a6(src), a6(dst), 57)
        .udp(ports.0, ports.1)
        .write(&mut v, b"datagram")
        .expect("writes");
    v
}

/// `frame` as DR must send it to the backend at `mac`: our MAC as the
/// source, the backend's as the destination, every other byte the same.
fn dr_out(frame: &[u8], mac: [u8; 6]) -> Vec<u8> {
    let mut v = frame.to_vec();
    v[0..6].copy_from_slice(&mac);
    v[6..12].copy_from_slice(&OURS);
    v
}

/// `frame` (an IPv6 one without extension headers) with an extension
/// header of `kind` and `body` (6 bytes after next header and length, as
/// an 8-byte header has) inserted before its upper layer. The TCP
/// checksum stays right: the pseudo-header does not cover extensions.
fn with_extension(frame: &[u8], kind: u8, body: [u8; 6]) -> Vec<u8> {
    let (eth, ip, rest) = (&frame[..14], &frame[14..54], &frame[54..]);
    let mut ip = ip.to_vec();
    let upper = ip[6];
    ip[6] = kind;
    let len = u16::from_be_bytes([ip[4], ip[5]]) + 8;
    ip[4..6].copy_from_slice(&len.to_be_bytes());
    let mut v = eth.to_vec();
    v.extend_from_slice(&ip);
    v.extend_from_slice(&[upper, 0]);
    v.extend_from_slice(&body);
    v.extend_from_slice(rest);
    v
}

#[test]
fn dr6_changes_only_the_macs_and_spreads_new_flows_in_turn() {
    let mut p = pipeline(&config_dr6(vec![service6(IpProto::TCP)]));
    learn_backends(&mut p);
    let syns: Vec<Vec<u8>> = (0..4)
        .map(|i| tcp6(CLIENT6, VIP6, (40000 + i, 80), SYN, b""))
        .collect();
    let out = run(&mut p, &syns, 0);
    let want: Vec<Vec<u8>> = syns
        .iter()
        .zip([RS1, RS2, RS1, RS2])
        .map(|(f, mac)| dr_out(f, mac))
        .collect();
    // Byte for byte: addresses, ports, payload and the hop limit (57) as
    // they came.
    assert_eq!(out, want);
    // The flows keep their backends: an ACK of each goes where its SYN went.
    let acks: Vec<Vec<u8>> = (0..4)
        .map(|i| tcp6(CLIENT6, VIP6, (40000 + i, 80), ACK, b"GET /"))
        .collect();
    let out = run(&mut p, &acks, 10);
    let want: Vec<Vec<u8>> = acks
        .iter()
        .zip([RS1, RS2, RS1, RS2])
        .map(|(f, mac)| dr_out(f, mac))
        .collect();
    assert_eq!(out, want);
    assert_eq!(p.path.flow.sessions6().len(), 4);
    assert_eq!(p.path.flow.sessions().len(), 0, "the IPv4 table untouched");
    let c = p.counters();
    assert_eq!(c.events.sessions_created, 4);
    for b in &c.backends[..2] {
        assert_eq!((b.conns, b.packets_in), (2, 4));
        // Two SYNs of 60 bytes (40 + 20), two ACKs of 65.
        assert_eq!(b.bytes_in, 2 * 60 + 2 * 65);
    }
    assert_eq!(c.services[0].packets_in, 8);
    let counts = p.session_counts();
    assert_eq!(counts.services[0], 4);
    assert_eq!(counts.backends[0].active + counts.backends[1].active, 4);
    let stats = p.stats(0);
    assert_eq!((stats.table6_used, stats.table6_capacity), (4, 1024));
}

#[test]
fn dr6_persistence_keeps_a_64_on_one_backend() {
    let mut s = service6(IpProto::TCP);
    s.persistence = Some(Persistence {
        timeout_ms: 300_000,
        prefix_len: 64,
    });
    let mut p = pipeline(&config_dr6(vec![s]));
    learn_backends(&mut p);
    // Hosts of 2001:db8:2::/64, then of 2001:db8:3::/64.
    let hosts = ["2001:db8:2::7", "2001:db8:2::8", "2001:db8:2:0:ffff::1"];
    let first: Vec<Vec<u8>> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| tcp6(h, VIP6, (41000 + i as u16, 80), SYN, b""))
        .collect();
    let out = run(&mut p, &first, 0);
    let to: Vec<[u8; 6]> = out.iter().map(|f| f[0..6].try_into().unwrap()).collect();
    assert_eq!(to, vec![RS1; 3], "one /64, one backend");
    let other = tcp6("2001:db8:3::7", VIP6, (42000, 80), SYN, b"");
    let out = run(&mut p, std::slice::from_ref(&other), 1);
    assert_eq!(
        out,
        vec![dr_out(&other, RS2)],
        "another /64 goes on in turn"
    );
    // Two templates beside the four sessions, in the IPv6 table.
    assert_eq!(p.path.flow.sessions6().len(), 6);
    assert_eq!(p.session_counts().services[0], 4);
}

#[test]
fn dr6_forwards_extension_header_chains_and_drops_bad_ones_by_name() {
    let mut p = pipeline(&config_dr6(vec![service6(IpProto::TCP)]));
    learn_backends(&mut p);
    let plain = tcp6(CLIENT6, VIP6, (40000, 80), SYN, b"");
    // Hop-by-hop (PadN), then destination options: forwarded untouched.
    let hbh = with_extension(&plain, 0, [1, 4, 0, 0, 0, 0]);
    let chain = with_extension(&hbh, 60, [1, 4, 0, 0, 0, 0]);
    // `with_extension` put the destination options first: swap to keep
    // RFC 8200's order (hop-by-hop first).
    let chain = {
        let mut c = chain.clone();
        c[20] = 0; // IPv6 next header: hop-by-hop
        c[54] = 60; // hop-by-hop's next: destination options
        c[62] = 6; // destination options' next: TCP
        c
    };
    let out = run(&mut p, &[hbh.clone(), chain.clone()], 0);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], dr_out(&hbh, RS1));
    assert_eq!(
        out[1],
        dr_out(&chain, RS1),
        "the same flow, the same backend"
    );
    let parsed = etherparse::PacketHeaders::from_ethernet_slice(&out[1]).expect("decodes");
    assert!(matches!(
        parsed.transport,
        Some(etherparse::TransportHeader::Tcp(_))
    ));
    // A routing header with segments left: refused by name, not forwarded.
    let routing = with_extension(&plain, 43, [0, 1, 0, 0, 0, 0]);
    // A first fragment of the VIP's flow: forwarded as its flow's packets
    // are (`fragment6.rs`).
    let fragment = with_extension(&plain, 44, [0, 1, 0x12, 0x34, 0x56, 0x78]);
    // Hop-by-hop after destination options: refused.
    let late_hbh = {
        let mut c = chain.clone();
        c[20] = 60;
        c[54] = 0;
        c[62] = 6;
        c
    };
    let out = run(&mut p, &[routing, fragment.clone(), late_hbh], 1);
    assert_eq!(out, vec![dr_out(&fragment, RS1)]);
    assert_eq!(drops(&p, DropReason::Ipv6BadChain), 2);
    assert_eq!(p.counters().events.frag.first, 1);
    assert_eq!(p.path.flow.sessions6().len(), 1);
}

#[test]
fn dr6_solicits_an_unresolved_backend_and_sends_when_it_answers() {
    let mut p = pipeline(&config_dr6(vec![service6(IpProto::TCP)]));
    let syn = tcp6(CLIENT6, VIP6, (40000, 80), SYN, b"");
    let out = run(&mut p, std::slice::from_ref(&syn), 0);
    // The solicitation for 2001:db8:1::11, from our address on its link.
    assert_eq!(out.len(), 1);
    let ns = &out[0];
    assert_eq!(ns[0..6], group_mac("ff02::1:ff00:11"));
    assert_eq!(ns[14 + 40], 135, "a Neighbor Solicitation");
    assert_eq!(ns[14 + 8..14 + 24], a6(OUR6));
    assert_eq!(ns[14 + 48..14 + 64], a6(RIP6[0]));
    assert_eq!(p.counters().events.nd.solicitations_sent, 1);
    // Its answer, solicited, to our address: the SYN goes out.
    let body = super::local6_tests::nd_body(RIP6[0], Some((2, RS1)));
    let na = super::local6_tests::icmp6(
        (RS1, OURS),
        RIP6[0],
        OUR6,
        255,
        136,
        0,
        [0x60, 0, 0, 0],
        &body,
    );
    let out = run(&mut p, &[na], 5);
    assert_eq!(out, vec![dr_out(&syn, RS1)]);
    // Unanswered, the next backend's packets are dropped as unresolved.
    let other = tcp6(CLIENT6, VIP6, (40001, 80), SYN, b"");
    let out = run(&mut p, &[other], 10);
    assert_eq!(out.len(), 1, "a solicitation for the second backend");
    run(&mut p, &[], 2000);
    assert_eq!(drops(&p, DropReason::NeighbourUnresolved), 1);
}

#[test]
fn dr6_the_vip_is_answered_for_and_its_other_ports_are_no_service() {
    let mut p = pipeline(&config_dr6(vec![service6(IpProto::TCP)]));
    learn_backends(&mut p);
    // A solicitation for the VIP is answered with our MAC.
    let ns = solicitation("fe80::c", "ff02::1:ff00:10", VIP6, Some(ROUTER));
    let out = run(&mut p, &[ns], 0);
    assert_eq!(out.len(), 1);
    let na = &out[0];
    assert_eq!(na[14 + 40], 136, "a Neighbor Advertisement");
    assert_eq!(na[14 + 48..14 + 64], a6(VIP6), "its target is the VIP");
    assert_eq!(na[14 + 66..14 + 72], OURS, "at our MAC");
    assert_eq!(na[14 + 8..14 + 24], a6(VIP6), "from the VIP");
    // Another port of the VIP, and UDP to it: dropped by name, as IPv4.
    let out = run(
        &mut p,
        &[
            tcp6(CLIENT6, VIP6, (40000, 81), SYN, b""),
            udp6(CLIENT6, VIP6, (40000, 80)),
        ],
        1,
    );
    assert!(out.is_empty());
    assert_eq!(drops(&p, DropReason::NoService), 2);
    // A TCP segment without a session that is not a SYN opens nothing.
    let out = run(&mut p, &[tcp6(CLIENT6, VIP6, (40002, 80), ACK, b"")], 2);
    assert!(out.is_empty());
    assert_eq!(drops(&p, DropReason::NoSession), 1);
    assert_eq!(p.path.flow.sessions6().len(), 0);
}

#[test]
fn dr6_sessions_are_listed_flushed_and_expired() {
    let cfg = config_dr6(vec![service6(IpProto::TCP), {
        let mut u = service6(IpProto::UDP);
        u.port = 53;
        u.backends.iter_mut().for_each(|b| b.port = 53);
        u
    }]);
    let mut p = pipeline(&cfg);
    learn_backends(&mut p);
    run(
        &mut p,
        &[
            tcp6(CLIENT6, VIP6, (40000, 80), SYN, b""),
            tcp6(CLIENT6, VIP6, (40001, 80), SYN, b""),
            udp6(CLIENT6, VIP6, (5353, 53)),
        ],
        0,
    );
    // The listing walks the IPv4 slots, then the IPv6 ones.
    assert_eq!(p.session_slots(), 1024 + 1024);
    let mut seen = Vec::new();
    let mut from = 0;
    while from < p.session_slots() {
        from = p.scan_sessions(&Default::default(), from, 300, 0, |v| {
            seen.push(v);
            true
        });
    }
    seen.sort_by_key(|v| v.client.1);
    let shown: Vec<String> = seen
        .iter()
        .map(|v| {
            let b = std::net::SocketAddr::new(v.backend.0, v.backend.1);
            let c = std::net::SocketAddr::new(v.client.0, v.client.1);
            format!("{} {c} -> {b} {}", v.service.unwrap(), v.state)
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            "udp/[2001:db8:10::10]:53 [2001:db8:2::7]:5353 -> [2001:db8:1::11]:53 UDP",
            "tcp/[2001:db8:10::10]:80 [2001:db8:2::7]:40000 -> [2001:db8:1::11]:80 SYN_RECV",
            "tcp/[2001:db8:10::10]:80 [2001:db8:2::7]:40001 -> [2001:db8:1::12]:80 SYN_RECV",
        ]
    );
    // A flushed backend's sessions end when the tables are adopted.
    let key = cfg.services[0].key();
    let flush = FlushRequest {
        services: Vec::new(),
        backends: vec![(key, IpAddr::V6(v6(RIP6[1])), 80)],
    };
    let mut next_cfg = cfg.clone();
    next_cfg.services[0].backends.truncate(1);
    let next = LbTables::build_next(&next_cfg, p.tables(), &flush).expect("builds");
    p.adopt(std::sync::Arc::new(next), 100);
    assert_eq!(p.path.flow.sessions6().len(), 2);
    let counts = p.session_counts();
    assert_eq!((counts.services[0], counts.services[1]), (1, 1));
    assert_eq!(counts.backends[1].total(), 0);
    // And the rest expire: UDP after 300 s, SYN_RECV after 60 s.
    run(&mut p, &[], 400_000);
    assert_eq!(p.path.flow.sessions6().len(), 0);
    assert_eq!(p.session_counts().services, vec![0, 0]);
    assert!(p.session_counts().backends.iter().all(|b| b.total() == 0));
}

#[test]
fn dr6_a_persistent_networks_flows_are_handed_to_one_worker() {
    let mut s = service6(IpProto::TCP);
    s.persistence = Some(Persistence {
        timeout_ms: 300_000,
        prefix_len: 64,
    });
    let tables = std::sync::Arc::new(LbTables::build(&config_dr6(vec![s])).expect("builds"));
    let mut sim = super::workers_tests::Sim::new(&tables, 2);
    for p in &mut sim.pipes {
        learn_backends(p);
    }
    // Hosts of one /64, arriving on both queues in turn.
    let hosts = [
        "2001:db8:2::7",
        "2001:db8:2::8",
        "2001:db8:2::9",
        "2001:db8:2::a",
    ];
    for (i, h) in hosts.iter().enumerate() {
        sim.deliver(i, &tcp6(h, VIP6, (43000 + i as u16, 80), SYN, b""));
    }
    let out = sim.settle();
    let sent: Vec<[u8; 6]> = out
        .iter()
        .flatten()
        .map(|f| f[0..6].try_into().unwrap())
        .collect();
    assert_eq!(sent, vec![RS1; 4], "one network, one backend");
    // Every session and the template on the worker that owns the network.
    let held: Vec<usize> = sim
        .pipes
        .iter()
        .map(|p| p.path.flow.sessions6().len())
        .collect();
    assert!(held == vec![5, 0] || held == vec![0, 5], "{held:?}");
    assert_eq!(sim.events().redirects_sent, 2);
}
