//! Session sync of IPv6 DR and TUN sessions between two pipelines, the test
//! playing the sync thread (records through the wire format): B forwards
//! A's flows byte for byte as A does once it has their records, state
//! changes and ends follow, bad records are refused by name, and a dump
//! walks both tables.

use std::net::Ipv6Addr;

use super::forward6_tests::{config_dr6, learn_backends, service6, tcp6, CLIENT6, VIP6};
use super::tests::*;
use super::Pipeline;
use crate::buf::TestBuf;
use crate::flow::proto::tcp_flags::FIN;
use crate::flow::{ProtoState, TcpState};
use crate::sync::wire::{decode, Encoder, Header};
use crate::sync::{links, RecordKind, SessionRecord6, SyncPort, SyncRecord};
use crate::tables::{Mode, ServiceSpec};
use crate::tuple::IpProto;

/// An IPv6 DR pipeline (its backends' MACs known) with sync on, and the
/// sync thread's end of its link.
fn synced6(services: Vec<ServiceSpec>) -> (Pipeline<TestBuf>, SyncPort) {
    let mut p = pipeline(&config_dr6(services));
    learn_backends(&mut p);
    let (mut ports, mut l) = links(1, 256, 256);
    p.attach_sync(l.remove(0));
    (p, ports.remove(0))
}

/// What the worker queued, through the wire format as the sync thread
/// sends it.
pub(super) fn drain_over_the_wire(from: &mut SyncPort) -> Vec<SyncRecord> {
    let mut e = Encoder::default();
    for r in std::iter::from_fn(|| from.take()) {
        assert!(e.push(r), "fits one datagram");
    }
    let header = Header {
        boot_id: 1,
        sequence: 1,
        workers: 1,
    };
    let bytes = e.finish(&header, None).to_vec();
    let d = decode(&bytes, None).expect("decodes");
    d.records().map(|r| r.expect("a good record")).collect()
}

pub(super) fn v6_only(records: Vec<SyncRecord>) -> Vec<SessionRecord6> {
    records
        .into_iter()
        .map(|r| r.v6().expect("an IPv6 record"))
        .collect()
}

pub(super) fn give(
    b: &mut Pipeline<TestBuf>,
    port: &mut SyncPort,
    records: &[SessionRecord6],
    now: u64,
) {
    for &r in records {
        assert!(port.give(r));
    }
    run(b, &[], now);
}

#[test]
fn a_peer_forwards_synced_ipv6_flows_byte_for_byte_as_their_node() {
    let (mut a, mut a_port) = synced6(vec![service6(IpProto::TCP)]);
    let (mut b, mut b_port) = synced6(vec![service6(IpProto::TCP)]);
    let seg = |port, flags, data: &[u8]| tcp6(CLIENT6, VIP6, (port, 80), flags, data);
    // A opens four flows (round robin: RS1, RS2, RS1, RS2): a record each,
    // with its first state.
    let syns: Vec<_> = (0..4).map(|i| seg(40000 + i, SYN, b"")).collect();
    run(&mut a, &syns, 0);
    let records = v6_only(drain_over_the_wire(&mut a_port));
    assert_eq!(records.len(), 4);
    assert!(records.iter().all(|r| r.kind == RecordKind::Created
        && r.state == ProtoState::Tcp(TcpState::SynRecv)
        && r.inbound.dst == VIP6.parse::<Ipv6Addr>().expect("VIP")));
    // B without them drops the middle of a flow, and its own new flow
    // moves its scheduler on: it could not place A's flows by itself.
    let acks: Vec<_> = (0..4).map(|i| seg(40000 + i, ACK, b"GET /")).collect();
    assert!(run(&mut b, &acks[..1], 5).is_empty());
    assert_eq!(run(&mut b, &[seg(50000, SYN, b"")], 6).len(), 1);
    drain_over_the_wire(&mut b_port);
    give(&mut b, &mut b_port, &records, 10);
    let c = b.counters().events;
    assert_eq!((c.sync_installed, c.sessions_created), (4, 1));
    // B forwards each as A does, byte for byte, without scheduling.
    let on_a = run(&mut a, &acks, 20);
    let on_b = run(&mut b, &acks, 20);
    assert_eq!(on_a.len(), 4);
    assert_eq!(on_a, on_b);
    assert_eq!(b.counters().events.sessions_created, 1);
    assert_eq!(b.path.flow.sessions6().len(), 5);
    assert_eq!(b.path.flow.sessions().len(), 0, "the IPv4 table untouched");
    // The backends' connection counts as A's, plus B's own flow.
    let (ca, cb) = (a.session_counts(), b.session_counts());
    assert_eq!(ca.services[0] + 1, cb.services[0]);
    // The ACKs moved the sessions on both: each node's are Changed records
    // for the other.
    for port in [&mut a_port, &mut b_port] {
        let changed = v6_only(drain_over_the_wire(port));
        assert_eq!(changed.len(), 4);
        assert!(changed
            .iter()
            .all(|r| r.kind == RecordKind::Changed
                && r.state == ProtoState::Tcp(TcpState::Established)));
    }
}

#[test]
fn ipv6_state_changes_and_ends_follow_and_bad_records_are_refused() {
    let (mut a, mut a_port) = synced6(vec![service6(IpProto::TCP)]);
    let (mut b, mut b_port) = synced6(vec![service6(IpProto::TCP)]);
    let seg = |flags| tcp6(CLIENT6, VIP6, (40000, 80), flags, b"");
    run(&mut a, &[seg(SYN)], 0);
    let created = v6_only(drain_over_the_wire(&mut a_port));
    run(&mut a, &[seg(ACK), seg(ACK | FIN)], 10);
    let changed = v6_only(drain_over_the_wire(&mut a_port));
    assert!(changed.iter().all(|r| r.kind == RecordKind::Changed));
    let last = *changed.last().expect("a change");
    assert_eq!(last.state, ProtoState::Tcp(TcpState::FinWait));
    // Bad ones: an unknown service, an unknown backend, a UDP state on a
    // TCP tuple.
    let mut unknown = created[0];
    unknown.inbound.dst_port = 81;
    let mut backend = created[0];
    backend.backend.0 = "2001:db8:1::99".parse().expect("address");
    let mut odd = created[0];
    odd.state = ProtoState::Udp;
    give(
        &mut b,
        &mut b_port,
        &[created[0], last, unknown, backend, odd],
        20,
    );
    let c = b.counters().events;
    assert_eq!(
        (
            c.sync_installed,
            c.sync_updated,
            c.sync_unknown_service,
            c.sync_unknown_backend,
            c.sync_inconsistent,
        ),
        (1, 1, 1, 1, 1)
    );
    let id = b
        .path
        .flow
        .sessions6()
        .lookup(&last.inbound)
        .expect("installed")
        .id;
    assert_eq!(b.path.flow.sessions6().get(id).state, last.state);
    assert_eq!(b.session_counts().services, vec![1]);
    // The client reuses its port on A: the closing session's end, then
    // the new one, reach B, which ends its copy and installs the new one.
    run(&mut a, &[seg(SYN)], 30);
    let reused = v6_only(drain_over_the_wire(&mut a_port));
    let kinds: Vec<_> = reused.iter().map(|r| (r.kind, r.state)).collect();
    assert_eq!(
        kinds,
        [
            (RecordKind::Ended, ProtoState::Tcp(TcpState::FinWait)),
            (RecordKind::Created, ProtoState::Tcp(TcpState::SynRecv)),
        ]
    );
    give(&mut b, &mut b_port, &reused, 40);
    let c = b.counters().events;
    assert_eq!((c.sync_ended, c.sync_installed), (1, 2));
    let id = b
        .path
        .flow
        .sessions6()
        .lookup(&last.inbound)
        .expect("new")
        .id;
    assert_eq!(b.path.flow.sessions6().get(id).state, reused[1].state);
    assert_eq!(b.session_counts().services, vec![1]);
    // An Ended record removes the session on B.
    let ended = SessionRecord6 {
        kind: RecordKind::Ended,
        ..reused[1]
    };
    give(&mut b, &mut b_port, &[ended], 50);
    assert_eq!(b.counters().events.sync_ended, 2);
    assert_eq!(b.session_counts().services, vec![0]);
    assert_eq!(b.path.flow.sessions6().len(), 0);
}

#[test]
fn a_dump_walks_the_ipv4_and_the_ipv6_tables() {
    let mut nat = service(Mode::Nat, IpProto::TCP);
    nat.port = 80;
    let (mut a, mut a_port) = synced6(vec![nat, service6(IpProto::TCP)]);
    let v4: Vec<_> = (1..=30)
        .map(|c| tcp((ROUTER, OURS), (CIP, VIP), (c, 80), SYN, 64, b""))
        .collect();
    let v6: Vec<_> = (1..=30)
        .map(|c| tcp6(CLIENT6, VIP6, (c, 80), SYN, b""))
        .collect();
    run(&mut a, &v4, 0);
    run(&mut a, &v6, 0);
    assert_eq!(std::iter::from_fn(|| a_port.take()).count(), 60);
    a_port.request_dump();
    for now in 1..=20 {
        run(&mut a, &[], now);
        if a_port.dump_finished() {
            break;
        }
    }
    assert!(a_port.dump_finished());
    let dumped: Vec<SyncRecord> = std::iter::from_fn(|| a_port.take()).collect();
    assert!(dumped.iter().all(|r| r.kind() == RecordKind::Refresh));
    let sixes = dumped
        .iter()
        .filter(|r| matches!(r, SyncRecord::V6(_)))
        .count();
    assert_eq!((dumped.len(), sixes), (60, 30));
    assert_eq!(a.counters().events.sync_dumped, 60);
}

#[test]
fn a_peer_tunnels_synced_ipv6_tun_flows_as_their_node_and_refuses_a_dr_record() {
    let tun = || {
        let mut s = service6(IpProto::TCP);
        s.mode = Mode::Tun;
        s
    };
    let (mut a, mut a_port) = synced6(vec![tun()]);
    let (mut b, mut b_port) = synced6(vec![tun()]);
    let seg = |port, flags, data: &[u8]| tcp6(CLIENT6, VIP6, (port, 80), flags, data);
    let syns: Vec<_> = (0..2).map(|i| seg(40000 + i, SYN, b"")).collect();
    run(&mut a, &syns, 0);
    let records = v6_only(drain_over_the_wire(&mut a_port));
    assert!(records
        .iter()
        .all(|r| r.forwarding == crate::flow::table::Forwarding::Tun));
    // A DR record for the TUN service names a service of another mode.
    let dr = SessionRecord6 {
        forwarding: crate::flow::table::Forwarding::Dr,
        ..records[0]
    };
    give(&mut b, &mut b_port, &[dr], 5);
    assert_eq!(b.counters().events.sync_unknown_service, 1);
    give(&mut b, &mut b_port, &records, 10);
    assert_eq!(b.counters().events.sync_installed, 2);
    // B encapsulates each to its backend as A does, byte for byte.
    let acks: Vec<_> = (0..2)
        .rev()
        .map(|i| seg(40000 + i, ACK, b"GET /"))
        .collect();
    let on_a = run(&mut a, &acks, 20);
    let on_b = run(&mut b, &acks, 20);
    assert_eq!(on_a.len(), 2);
    assert_eq!(on_a, on_b);
    assert!(on_b.iter().all(|f| f[20] == 41), "IPv6-in-IPv6");
    assert_eq!(b.counters().events.sessions_created, 0);
}
