//! Session sync between two pipelines, the test playing the sync thread:
//! A's records reach B, B forwards the middle of A's flows as A does,
//! without scheduling, and B's own new flows never take a synced port.

use super::tests::*;
use super::Pipeline;
use crate::buf::TestBuf;
use crate::flow::{ProtoState, TcpState};
use crate::sync::{links, RecordKind, SessionRecord, SyncPort};
use crate::tables::Mode;
use crate::tuple::IpProto;

/// A pipeline with sync on, and the sync thread's end of its link.
pub(super) fn synced(svc: crate::tables::ServiceSpec) -> (Pipeline<TestBuf>, SyncPort) {
    let mut p = pipeline(&config(vec![svc]));
    let (mut ports, mut l) = links(1, 256, 256);
    p.attach_sync(l.remove(0));
    (p, ports.remove(0))
}

pub(super) fn drain(from: &mut SyncPort) -> Vec<SessionRecord> {
    std::iter::from_fn(|| from.take())
        .map(|r| r.v4().expect("an IPv4 record"))
        .collect()
}

/// FULLNAT with one local address, one backend and ports 40000..=40007.
fn small_fullnat() -> crate::tables::ServiceSpec {
    let mut svc = service(Mode::FullNat, IpProto::TCP);
    svc.local_addrs.truncate(1);
    svc.backends.truncate(1);
    svc.local_ports = (40000, 40007);
    svc
}

const LIP: [u8; 4] = [10, 0, 1, 100];

#[test]
fn a_peer_forwards_synced_flows_as_their_node_and_never_reuses_their_ports() {
    let (mut a, mut a_port) = synced(small_fullnat());
    let (mut b, mut b_port) = synced(small_fullnat());
    let syn = |cport| tcp((ROUTER, OURS), (CIP, VIP), (cport, 80), SYN, 64, b"");
    let ack = |cport| tcp((ROUTER, OURS), (CIP, VIP), (cport, 80), ACK, 64, b"data");
    // A opens three flows: each is one record, with its first state.
    let a_out = run(&mut a, &[syn(1), syn(2), syn(3)], 0);
    let records = drain(&mut a_port);
    assert_eq!(records.len(), 3);
    assert!(records
        .iter()
        .all(|r| r.kind == RecordKind::Created && r.state == ProtoState::Tcp(TcpState::SynRecv)));
    let held: Vec<u16> = a_out.iter().map(|f| seen(f).ports.0).collect();
    // Before the records, B drops the middle of the flows.
    assert!(run(&mut b, &[ack(1)], 10).is_empty());
    for r in records {
        assert!(b_port.give(r));
    }
    run(&mut b, &[], 20);
    let c = b.counters().events;
    assert_eq!((c.sync_installed, c.sessions_created), (3, 0));
    // B now forwards each as A does.
    let on_a = run(&mut a, &[ack(1), ack(2), ack(3)], 30);
    let on_b = run(&mut b, &[ack(1), ack(2), ack(3)], 30);
    assert_eq!(on_a, on_b);
    assert_eq!(b.counters().events.sessions_created, 0);
    // And its replies.
    let reply = |lport| tcp((RS1, OURS), (RIP1, LIP), (8080, lport), ACK, 64, b"r");
    assert_eq!(
        run(&mut a, &[reply(held[0])], 40),
        run(&mut b, &[reply(held[0])], 40)
    );
    // B's own new flows get the five other ports, then none.
    let new = run(&mut b, &(10..20).map(syn).collect::<Vec<_>>(), 50);
    let mut ports: Vec<u16> = new.iter().map(|f| seen(f).ports.0).collect();
    ports.sort_unstable();
    assert_eq!(ports.len(), 5);
    assert!(
        ports.iter().all(|p| !held.contains(p)),
        "{ports:?} {held:?}"
    );
    assert_eq!(drops(&b, crate::drop::DropReason::PortsExhausted), 5);
    // B's new flows are records for A in turn (both directions), as are
    // the state changes B's packets made to the synced ones.
    let from_b = drain(&mut b_port);
    let created = from_b.iter().filter(|r| r.kind == RecordKind::Created);
    assert_eq!(created.count(), 5);
    assert_eq!(from_b.len(), 5 + 3);
}

#[test]
fn state_changes_follow_and_bad_records_are_refused_and_counted() {
    let (mut a, mut a_port) = synced(small_fullnat());
    let (mut b, mut b_port) = synced(small_fullnat());
    let seg = |flags| tcp((ROUTER, OURS), (CIP, VIP), (1, 80), flags, 64, b"");
    run(&mut a, &[seg(SYN)], 0);
    let created = drain(&mut a_port);
    // A's client closes: a Changed record with the new state.
    run(
        &mut a,
        &[seg(ACK), seg(ACK | crate::flow::proto::tcp_flags::FIN)],
        10,
    );
    let changed = drain(&mut a_port);
    assert!(changed.iter().all(|r| r.kind == RecordKind::Changed));
    let last = *changed.last().expect("a change");
    assert_eq!(last.state, ProtoState::Tcp(TcpState::CloseWait));
    // Bad ones: an unknown service, an unknown backend, a port B's pool
    // does not have, a NAT reply tuple that does not fit.
    let mut unknown = created[0];
    unknown.inbound.dst_port = 81;
    let mut backend = created[0];
    backend.backend.0 = ip([10, 0, 1, 99]);
    backend.outbound.src = backend.backend.0;
    let mut port = created[0];
    port.outbound.dst_port = 50000;
    let mut odd = created[0];
    odd.outbound.src_port = 1;
    for r in [created[0], last, unknown, backend, port, odd] {
        assert!(b_port.give(r));
    }
    run(&mut b, &[], 20);
    let c = b.counters().events;
    assert_eq!(
        (
            c.sync_installed,
            c.sync_updated,
            c.sync_unknown_service,
            c.sync_unknown_backend,
            c.sync_port_taken,
            c.sync_inconsistent,
        ),
        (1, 1, 1, 1, 1, 1)
    );
    let counts = b.session_counts();
    assert_eq!(counts.services, vec![1]);
    // A refresh only lengthens the timer; an end removes the session.
    let mut ended = last;
    ended.kind = RecordKind::Ended;
    assert!(b_port.give(ended));
    run(&mut b, &[], 30);
    assert_eq!(b.counters().events.sync_ended, 1);
    assert_eq!(b.session_counts().services, vec![0]);
}

#[test]
fn a_dump_walks_every_session_once() {
    let (mut a, mut a_port) = synced(service(Mode::Nat, IpProto::TCP));
    let syns: Vec<_> = (1..=40)
        .map(|c| tcp((ROUTER, OURS), (CIP, VIP), (c, 80), SYN, 64, b""))
        .collect();
    run(&mut a, &syns, 0);
    assert_eq!(drain(&mut a_port).len(), 40);
    a_port.request_dump();
    assert!(!a_port.dump_finished());
    // The walk runs on the millisecond tick.
    run(&mut a, &[], 1);
    run(&mut a, &[], 2);
    let dumped = drain(&mut a_port);
    assert_eq!(dumped.len(), 40);
    assert!(dumped.iter().all(|r| r.kind == RecordKind::Refresh));
    assert!(a_port.dump_finished());
    assert_eq!(a.counters().events.sync_dumped, 40);
}
