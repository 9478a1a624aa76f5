//! SNAT over IPv6 on in-memory ports (`snat6.rs`, `flow/state/snat6.rs`):
//! an internal host's TCP, UDP and ICMPv6 echo leave from the rule's SNAT
//! address and port (echo: identifier), the replies to it come back to
//! the host; every frame byte for byte as etherparse builds it, decoded by
//! etherparse (checksums computed by etherparse); ports exhausted, no
//! session, Time Exceeded, Neighbour Discovery and echo for the SNAT
//! address, the listing, and replies on another worker's queue reaching
//! the worker that owns their port.

use std::net::Ipv6Addr;

use etherparse::{Icmpv6Type, PacketBuilder, SlicedPacket, TransportSlice};

use super::forward6_tests::{CLIENT6, RIP6};
use super::nat6_tests::{config_nat6, dgram, icmp6_error, learn_all, seg, CLIENT_MAC, OUR_EXT6};
use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::flow::{Origin, ProtoState, TcpState};
use crate::tables::{LbConfig, LbTables, SnatSpec};

/// The SNAT address, on the outside link (the remote's).
pub(super) const SNAT6: &str = "2001:db8:2::99";
/// The internal host (on the inside link, 2001:db8:1::/64, MAC RS1) and
/// the remote server it talks to (on the outside link, MAC CLIENT_MAC).
pub(super) const HOST6: &str = RIP6[0];
pub(super) const REMOTE6: &str = CLIENT6;

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

/// One IPv6 SNAT rule for the inside prefix, SNAT6 with `ports`.
pub(super) fn config_snat6(ports: (u16, u16)) -> LbConfig {
    let mut cfg = config_nat6(Vec::new());
    cfg.snat.push(SnatSpec {
        source: (v6("2001:db8:1::").into(), 64),
        port: 0,
        addrs: vec![],
        addrs6: vec![v6(SNAT6)],
        ports,
    });
    cfg
}

fn snat_pipeline(ports: (u16, u16)) -> Pipeline<TestBuf> {
    let mut p = pipeline(&config_snat6(ports));
    learn_all(&mut p);
    p
}

/// The addresses, ports and hop limit of a TCP or UDP frame as etherparse
/// reads them, and whether its L4 checksum verifies.
fn decoded(f: &[u8]) -> ((Ipv6Addr, u16), (Ipv6Addr, u16), u8, bool) {
    let p = SlicedPacket::from_ethernet(f).expect("decodes");
    let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
        panic!("not IPv6")
    };
    let h = ip.header().to_header();
    let (src, dst) = (Ipv6Addr::from(h.source), Ipv6Addr::from(h.destination));
    let (ports, ok) = match &p.transport {
        Some(TransportSlice::Tcp(t)) => (
            (t.source_port(), t.destination_port()),
            t.to_header().calc_checksum_ipv6(&h, t.payload()).ok() == Some(t.checksum()),
        ),
        Some(TransportSlice::Udp(u)) => (
            (u.source_port(), u.destination_port()),
            u.to_header().calc_checksum_ipv6(&h, u.payload()).ok() == Some(u.checksum()),
        ),
        other => panic!("not TCP or UDP: {other:?}"),
    };
    ((src, ports.0), (dst, ports.1), h.hop_limit, ok)
}

/// An ICMPv6 echo request (or reply) built by etherparse.
pub(super) fn echo(
    macs: ([u8; 6], [u8; 6]),
    (src, dst): (&str, &str),
    hop: u8,
    id: u16,
    request: bool,
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(macs.0, macs.1).ipv6(v6(src).octets(), v6(dst).octets(), hop);
    let b = match request {
        true => b.icmpv6_echo_request(id, 7),
        false => b.icmpv6_echo_reply(id, 7),
    };
    let mut v = Vec::new();
    b.write(&mut v, b"ping").expect("writes");
    v
}

#[test]
fn snat6_tcp_leaves_from_the_snat_address_and_the_replies_come_back() {
    let mut p = snat_pipeline((40000, 40000));
    let (host, remote, public) = ((HOST6, 5000), (REMOTE6, 80), (SNAT6, 40000));
    // The host's SYN leaves from the SNAT address and port, one hop on.
    let syn = seg((RS1, OURS), host, remote, 64, SYN, b"");
    let out = run(&mut p, &[syn], 0);
    assert_eq!(
        out,
        vec![seg((OURS, CLIENT_MAC), public, remote, 63, SYN, b"")]
    );
    let (src, dst, hop, ok) = decoded(&out[0]);
    assert_eq!(
        (src, dst, hop, ok),
        ((v6(SNAT6), 40000), (v6(REMOTE6), 80), 63, true)
    );
    // The remote answers the SNAT address: back to the host.
    let syn_ack = seg((CLIENT_MAC, OURS), remote, public, 60, SYN | ACK, b"");
    let out = run(&mut p, &[syn_ack], 1);
    assert_eq!(
        out,
        vec![seg((OURS, RS1), remote, host, 59, SYN | ACK, b"")]
    );
    let (src, dst, _, ok) = decoded(&out[0]);
    assert_eq!((src, dst, ok), ((v6(REMOTE6), 80), (v6(HOST6), 5000), true));
    let data = seg((RS1, OURS), host, remote, 64, ACK, b"GET /");
    let answer = seg(
        (CLIENT_MAC, OURS),
        remote,
        public,
        60,
        ACK,
        b"HTTP/1.0 200 OK",
    );
    let out = run(&mut p, &[data, answer], 2);
    assert_eq!(
        out,
        vec![
            seg((OURS, CLIENT_MAC), public, remote, 63, ACK, b"GET /"),
            seg((OURS, RS1), remote, host, 59, ACK, b"HTTP/1.0 200 OK"),
        ]
    );
    let (_, s) = p.path.flow.sessions6().iter().next().expect("a session");
    assert_eq!(s.state, ProtoState::Tcp(TcpState::Established));
    assert_eq!(s.origin(), Origin::Snat(0));
    assert_eq!(
        (s.outbound().dst, s.outbound().dst_port),
        (v6(SNAT6), 40000),
        "the reply key is the SNAT endpoint"
    );
    let c = &p.counters().snat[0];
    assert_eq!((c.conns, c.packets_in, c.packets_out), (1, 2, 2));
    // The listing shows it as IPv4's SNAT sessions: no service, the rule,
    // the SNAT endpoint as `local`, the remote host as the backend.
    let mut seen = Vec::new();
    p.scan_sessions(&Default::default(), 0, p.session_slots(), 2, |v| {
        seen.push(v);
        true
    });
    assert_eq!(seen.len(), 1);
    let show = |a: (std::net::IpAddr, u16)| std::net::SocketAddr::new(a.0, a.1).to_string();
    let v = &seen[0];
    assert_eq!(
        (v.service, v.snat_rule, v.state),
        (None, Some(0), "ESTABLISHED")
    );
    assert_eq!(
        (show(v.client), v.local.map(show), show(v.backend)),
        (
            "[2001:db8:1::11]:5000".to_string(),
            Some("[2001:db8:2::99]:40000".to_string()),
            "[2001:db8:2::7]:80".to_string()
        )
    );
    // The one port is taken: another host's connection finds none.
    let other = seg((RS2, OURS), (RIP6[1], 5001), remote, 64, SYN, b"");
    assert!(run(&mut p, &[other], 3).is_empty());
    assert_eq!(drops(&p, DropReason::PortsExhausted), 1);
    // A segment to the SNAT address of no session.
    let stray = seg((CLIENT_MAC, OURS), (REMOTE6, 81), public, 60, ACK, b"");
    assert!(run(&mut p, &[stray], 4).is_empty());
    assert_eq!(drops(&p, DropReason::NoSession), 1);
    // A mid-stream segment from the host opens nothing.
    let mid = seg((RS1, OURS), (HOST6, 5002), remote, 64, ACK, b"x");
    assert!(run(&mut p, &[mid], 5).is_empty());
    assert_eq!(drops(&p, DropReason::NoSession), 2);
}

#[test]
fn snat6_udp_both_ways_and_the_port_comes_back() {
    let mut p = snat_pipeline((40000, 40000));
    let (host, remote, public) = ((HOST6, 5353), (REMOTE6, 53), (SNAT6, 40000));
    let out = run(&mut p, &[dgram((RS1, OURS), host, remote, 64)], 0);
    assert_eq!(out, vec![dgram((OURS, CLIENT_MAC), public, remote, 63)]);
    assert!(decoded(&out[0]).3, "UDP checksum verifies");
    let out = run(&mut p, &[dgram((CLIENT_MAC, OURS), remote, public, 50)], 1);
    assert_eq!(out, vec![dgram((OURS, RS1), remote, host, 49)]);
    assert!(decoded(&out[0]).3, "UDP checksum verifies");
    // The session expires (UDP 300 s): its port serves the next flow.
    let later = 301_000;
    run(&mut p, &[], later);
    let out = run(
        &mut p,
        &[dgram((RS2, OURS), (RIP6[1], 7000), remote, 64)],
        later,
    );
    // (a solicitation refreshing the remote's stale entry may follow it)
    assert_eq!(out[0], dgram((OURS, CLIENT_MAC), public, remote, 63));
    assert_eq!(drops(&p, DropReason::PortsExhausted), 0);
}

#[test]
fn snat6_echo_leaves_with_our_identifier_and_the_reply_gets_the_hosts_back() {
    let mut p = snat_pipeline((40000, 40000));
    let req = echo((RS1, OURS), (HOST6, REMOTE6), 64, 77, true);
    let out = run(&mut p, &[req], 0);
    assert_eq!(
        out,
        vec![echo((OURS, CLIENT_MAC), (SNAT6, REMOTE6), 63, 40000, true)],
        "identifier 77 -> 40000, the checksum as etherparse computes it"
    );
    let reply = echo((CLIENT_MAC, OURS), (REMOTE6, SNAT6), 60, 40000, false);
    let out = run(&mut p, &[reply], 1);
    assert_eq!(
        out,
        vec![echo((OURS, RS1), (REMOTE6, HOST6), 59, 77, false)]
    );
    let (_, s) = p.path.flow.sessions6().iter().next().expect("a session");
    assert_eq!(s.state, ProtoState::IcmpEcho);
    // A reply with another identifier has no session.
    let stray = echo((CLIENT_MAC, OURS), (REMOTE6, SNAT6), 60, 40001, false);
    assert!(run(&mut p, &[stray], 2).is_empty());
    assert_eq!(drops(&p, DropReason::NoSession), 1);
}

#[test]
fn snat6_hop_limit_one_gets_time_exceeded_and_the_snat_address_is_ours() {
    let mut p = snat_pipeline((40000, 40000));
    let syn = seg((RS1, OURS), (HOST6, 5000), (REMOTE6, 80), 1, SYN, b"");
    let out = run(&mut p, std::slice::from_ref(&syn), 0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0][0..6], RS1);
    let (ty, _, dst, quote, ok) = icmp6_error(&out[0]);
    assert_eq!(
        ty,
        Icmpv6Type::TimeExceeded(etherparse::icmpv6::TimeExceededCode::HopLimitExceeded)
    );
    assert_eq!((dst, ok), (v6(HOST6), true));
    assert_eq!(quote, syn[14..], "the packet as the host sent it");
    assert_eq!(drops(&p, DropReason::TtlExceeded), 1);
    // The SNAT address answers ping, as an interface address.
    let ping = echo((CLIENT_MAC, OURS), (REMOTE6, SNAT6), 60, 5, true);
    let out = run(&mut p, &[ping], 1);
    assert_eq!(out.len(), 1);
    let (src, dst) = (&out[0][22..38], &out[0][38..54]);
    assert_eq!(
        (src, dst),
        (&v6(SNAT6).octets()[..], &v6(REMOTE6).octets()[..])
    );
    assert_eq!(p.counters().events.nd.echo_replies, 1);
    let t = LbTables::build(&config_snat6((40000, 40000))).expect("builds");
    assert!(t.owned6.contains(v6(SNAT6)), "ND answers for it");
    // Our own address on the outside link is no SNAT destination: its
    // echo is answered, not translated.
    let to_us = echo((RS1, OURS), (HOST6, OUR_EXT6), 64, 9, true);
    let out = run(&mut p, &[to_us], 2);
    assert_eq!(p.counters().events.nd.echo_replies, 2);
    assert_eq!(out[0][0..6], RS1);
}

#[test]
fn snat6_replies_on_another_workers_queue_reach_the_port_owner() {
    let tables =
        std::sync::Arc::new(LbTables::build(&config_snat6((40000, 40063))).expect("builds"));
    let mut sim = super::workers_tests::Sim::new(&tables, 2);
    for p in &mut sim.pipes {
        learn_all(p);
    }
    let remote = (REMOTE6, 80);
    let ports: Vec<u16> = (5000..5008).collect();
    for &port in &ports {
        sim.deliver(0, &seg((RS1, OURS), (HOST6, port), remote, 9, SYN, b""));
    }
    let out = sim.settle();
    let mut publics = Vec::new();
    for (w, frames) in out.iter().enumerate() {
        for f in frames {
            let (src, dst, _, ok) = decoded(f);
            assert!(ok);
            assert_eq!((src.0, dst), (v6(SNAT6), (v6(REMOTE6), 80)));
            assert_eq!(usize::from(src.1 & 1), w, "worker {w} sent port {}", src.1);
            publics.push(src.1);
        }
    }
    assert_eq!(publics.len(), 8);
    let owner = |port: u16| crate::tables::owner::flow_hash6(v6(HOST6), port) as usize % 2;
    let on_1 = ports.iter().filter(|&&p| owner(p) == 1).count();
    assert!(on_1 > 0 && on_1 < 8, "the hosts' flows spread: {on_1}");
    for &public in &publics {
        sim.deliver(
            1,
            &seg(
                (CLIENT_MAC, OURS),
                remote,
                (SNAT6, public),
                64,
                SYN | ACK,
                b"",
            ),
        );
    }
    let mut back: Vec<Vec<u8>> = sim.settle().into_iter().flatten().collect();
    back.sort();
    let mut want: Vec<Vec<u8>> = ports
        .iter()
        .map(|&port| seg((OURS, RS1), remote, (HOST6, port), 63, SYN | ACK, b""))
        .collect();
    want.sort();
    assert_eq!(back, want, "every reply found its session");
    let even = publics.iter().filter(|&&p| p & 1 == 0).count();
    assert_eq!(sim.events().redirects_sent, (on_1 + even) as u64);
    assert_eq!(sim.dropped(), 0);
}
