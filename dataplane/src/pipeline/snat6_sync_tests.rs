//! Session sync of IPv6 SNAT sessions between two pipelines, the test
//! playing the sync thread (records through the wire format, as
//! `sync6_tests.rs`): B answers A's internal host's TCP, UDP and echo
//! flows byte for byte as A does once it has their records, from the
//! same SNAT endpoints, scheduling nothing; a record B cannot take is
//! refused by name.

use std::net::Ipv6Addr;

use super::forward6_tests::RIP6;
use super::nat6_tests::{dgram, learn_all, seg, CLIENT_MAC};
use super::snat6_tests::{config_snat6, echo, HOST6, REMOTE6, SNAT6};
use super::sync6_tests::{drain_over_the_wire, give, v6_only};
use super::tests::*;
use super::Pipeline;
use crate::buf::TestBuf;
use crate::flow::table::Forwarding;
use crate::flow::{ProtoState, TcpState};
use crate::rewrite6::ICMPV6;
use crate::sync::{links, RecordKind, SessionRecord6, SyncPort};
use crate::tuple::IpProto;

/// An IPv6 SNAT pipeline (SNAT6 with ports 40000..=40003, its neighbours
/// known) with sync on, and the sync thread's end of its link.
fn synced_snat6() -> (Pipeline<TestBuf>, SyncPort) {
    let mut p = pipeline(&config_snat6((40000, 40003)));
    learn_all(&mut p);
    let (mut ports, mut l) = links(1, 256, 256);
    p.attach_sync(l.remove(0));
    (p, ports.remove(0))
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

/// The host's TCP SYN, UDP datagram and echo request out through A.
fn host_flows() -> Vec<Vec<u8>> {
    vec![
        seg((RS1, OURS), (HOST6, 5000), (REMOTE6, 80), 64, SYN, b""),
        dgram((RS1, OURS), (HOST6, 5353), (REMOTE6, 53), 64),
        echo((RS1, OURS), (HOST6, REMOTE6), 64, 77, true),
    ]
}

/// The SNAT port (echo: identifier) A gave each of `host_flows`, from its
/// records.
fn snat_ports(records: &[SessionRecord6]) -> Vec<u16> {
    records
        .iter()
        .map(|r| r.local.expect("a SNAT endpoint").1)
        .collect()
}

#[test]
fn a_peer_answers_synced_ipv6_snat_flows_from_the_same_snat_endpoints() {
    let (mut a, mut a_port) = synced_snat6();
    let (mut b, mut b_port) = synced_snat6();
    let out = run(&mut a, &host_flows(), 0);
    assert_eq!(out.len(), 3);
    let records = v6_only(drain_over_the_wire(&mut a_port));
    assert_eq!(records.len(), 3, "{records:#?}");
    let states = [
        (IpProto::TCP, ProtoState::Tcp(TcpState::SynRecv)),
        (IpProto::UDP, ProtoState::Udp),
        (ICMPV6, ProtoState::IcmpEcho),
    ];
    for (r, (proto, state)) in records.iter().zip(states) {
        assert_eq!(
            (r.kind, r.forwarding, r.inbound.proto, r.state),
            (RecordKind::Created, Forwarding::Snat, proto, state)
        );
        assert_eq!((r.inbound.src, r.inbound.dst), (v6(HOST6), v6(REMOTE6)));
        assert_eq!(r.backend, (Ipv6Addr::UNSPECIFIED, 0), "no backend");
        assert_eq!(r.local.map(|l| l.0), Some(v6(SNAT6)));
    }
    let ports = snat_ports(&records);
    give(&mut b, &mut b_port, &records, 10);
    let c = b.counters().events;
    assert_eq!((c.sync_installed, c.sessions_created), (3, 0));
    // The remote's answers to the SNAT endpoints: B sends each to the host
    // as A does, byte for byte.
    let public = |i: usize| (SNAT6, ports[i]);
    let answers = vec![
        seg(
            (CLIENT_MAC, OURS),
            (REMOTE6, 80),
            public(0),
            60,
            SYN | ACK,
            b"",
        ),
        dgram((CLIENT_MAC, OURS), (REMOTE6, 53), public(1), 50),
        echo((CLIENT_MAC, OURS), (REMOTE6, SNAT6), 60, ports[2], false),
    ];
    let on_a = run(&mut a, &answers, 20);
    let on_b = run(&mut b, &answers, 20);
    assert_eq!(on_a.len(), 3);
    assert_eq!(on_a, on_b);
    assert_eq!(on_b[2], echo((OURS, RS1), (REMOTE6, HOST6), 59, 77, false));
    // The host goes on through B: out from the same SNAT endpoint, no
    // session made.
    let ack = seg((RS1, OURS), (HOST6, 5000), (REMOTE6, 80), 64, ACK, b"GET /");
    let (from_a, from_b) = (
        run(&mut a, std::slice::from_ref(&ack), 30),
        run(&mut b, &[ack], 30),
    );
    assert_eq!(from_a, from_b);
    assert_eq!(
        from_b,
        vec![seg(
            (OURS, CLIENT_MAC),
            public(0),
            (REMOTE6, 80),
            63,
            ACK,
            b"GET /"
        )]
    );
    let c = b.counters().events;
    assert_eq!(c.sessions_created, 0);
    assert_eq!(b.counters().snat[0].conns, 0, "B opened none of its own");
    // The handshake moved the TCP session on both nodes: Changed records.
    for port in [&mut a_port, &mut b_port] {
        let changed = v6_only(drain_over_the_wire(port));
        assert!(
            changed.iter().any(|r| r.kind == RecordKind::Changed
                && r.inbound.proto == IpProto::TCP
                && r.state == ProtoState::Tcp(TcpState::Established)),
            "{changed:#?}"
        );
    }
    // An Ended record ends B's session and gives its port back: B's own
    // host flow can take it.
    let mut ended = records[0];
    ended.kind = RecordKind::Ended;
    give(&mut b, &mut b_port, &[ended], 40);
    assert_eq!(b.counters().events.sync_ended, 1);
    assert_eq!(b.path.flow.sessions6().len(), 2);
}

#[test]
fn ipv6_snat_records_a_peer_cannot_take_are_refused_by_name() {
    let (mut a, mut a_port) = synced_snat6();
    run(&mut a, &host_flows()[..1], 0);
    let good = v6_only(drain_over_the_wire(&mut a_port))[0];
    let (mut b, mut b_port) = synced_snat6();
    // A host outside every rule's prefix; a remote that is ours (the SNAT
    // address itself); a backend named; a SNAT address not in the pool.
    let mut no_rule = good;
    no_rule.inbound.src = v6("2001:db8:7::1");
    let mut to_us = good;
    to_us.inbound.dst = v6(SNAT6);
    let mut with_backend = good;
    with_backend.backend = (v6(RIP6[1]), 80);
    let mut other_addr = good;
    other_addr.local = Some((v6("2001:db8:2::98"), good.local.expect("endpoint").1));
    give(
        &mut b,
        &mut b_port,
        &[no_rule, to_us, with_backend, other_addr],
        10,
    );
    let c = b.counters().events;
    assert_eq!(
        (
            c.sync_unknown_service,
            c.sync_inconsistent,
            c.sync_port_taken,
            c.sync_installed
        ),
        (2, 1, 1, 0)
    );
    // The good one installs; the same port for another host endpoint then
    // is taken (its reply key would be the first one's).
    give(&mut b, &mut b_port, &[good], 20);
    let mut same_port = good;
    same_port.inbound.src_port = 5001;
    give(&mut b, &mut b_port, &[same_port], 21);
    let c = b.counters().events;
    assert_eq!((c.sync_installed, c.sync_clash), (1, 1));
    assert_eq!(b.path.flow.sessions6().len(), 1);
}
