//! Session sync of SYN-proxied IPv6 sessions (`sync6.rs`, the splice slot
//! of `sync/wire6.rs`): two pipelines with the same proxied NAT6 service,
//! the test playing the sync thread (records through the wire format, as
//! `sync6_tests.rs`). Once A has spliced a connection, its record carries
//! the splice; B installs it and translates the connection's next
//! segments both ways byte for byte as A does, sequence numbers moved
//! between the cookie's space and the backend's.

use super::forward6_tests::{CLIENT6, RIP6, VIP6};
use super::nat6_error_shift_tests::seg6;
use super::nat6_error_tests::nat6;
use super::nat6_tests::{config_nat6, learn_all, CLIENT_MAC};
use super::sync6_tests::{drain_over_the_wire, give, v6_only};
use super::tests::*;
use super::Pipeline;
use crate::buf::TestBuf;
use crate::flow::table::session_flags;
use crate::flow::{ProtoState, TcpState};
use crate::sync::{links, RecordKind, SyncPort};
use crate::wire::{get_be32, tcp};

const CPORT: u16 = 40001;
const CLIENT_ISN: u32 = 1000;
const BACKEND_ISN: u32 = 7000;

/// A NAT6 service (one backend, port 8080) with `syn_proxy`, its
/// neighbours known, sync on; and the sync thread's end of its link.
fn proxied_synced6() -> (Pipeline<TestBuf>, SyncPort) {
    let mut svc = nat6(IpProto::TCP);
    svc.backends.truncate(1);
    svc.syn_proxy = true;
    let mut p = pipeline(&config_nat6(vec![svc]));
    learn_all(&mut p);
    let (mut ports, mut l) = links(1, 256, 256);
    p.attach_sync(l.remove(0));
    (p, ports.remove(0))
}

fn from_client(seq: u32, ack: Option<u32>, syn: bool, data: &[u8]) -> Vec<u8> {
    let ends = ((CLIENT6, CPORT), (VIP6, 80));
    seg6((CLIENT_MAC, OURS), ends, (seq, ack), syn, data)
}

fn from_backend(seq: u32, ack: u32, syn: bool, data: &[u8]) -> Vec<u8> {
    let ends = ((RIP6[0], 8080), (CLIENT6, CPORT));
    seg6((RS1, OURS), ends, (seq, Some(ack)), syn, data)
}

fn seq_of(frame: &[u8]) -> u32 {
    get_be32(frame, 14 + 40 + tcp::field::SEQ_NUM.start)
}

#[test]
fn a_peer_translates_a_synced_spliced_ipv6_connection_as_its_node() {
    let (mut a, mut a_port) = proxied_synced6();
    let (mut b, mut b_port) = proxied_synced6();
    // A answers the SYN with a cookie, opens the backend on the ACK and
    // splices on the backend's SYN-ACK.
    let out = run(&mut a, &[from_client(CLIENT_ISN, None, true, b"")], 0);
    let isn = seq_of(&out[0]);
    let ack = from_client(CLIENT_ISN + 1, Some(isn + 1), false, b"");
    assert_eq!(run(&mut a, &[ack], 1).len(), 1, "our SYN to the backend");
    let syn_ack = from_backend(BACKEND_ISN, CLIENT_ISN + 1, true, b"");
    assert_eq!(run(&mut a, &[syn_ack], 2).len(), 1, "our ACK to it");
    let records = v6_only(drain_over_the_wire(&mut a_port));
    // The record that moves the session to ESTABLISHED carries the splice.
    let last = records.last().expect("records");
    assert_eq!(
        (last.kind, last.state),
        (RecordKind::Changed, ProtoState::Tcp(TcpState::Established)),
        "{records:#?}"
    );
    let sp = last.splice.expect("the splice");
    assert!(sp.syn_proxy && sp.header.is_none());
    assert_eq!(
        sp.adjust.backend_seq,
        isn.wrapping_sub(BACKEND_ISN),
        "backend numbers move into the cookie's space"
    );
    assert!(records[..records.len() - 1]
        .iter()
        .all(|r| r.splice.is_none()));
    give(&mut b, &mut b_port, &records, 10);
    let c = b.counters().events;
    assert_eq!(
        (c.sync_installed, c.sync_updated),
        (1, records.len() as u64 - 1)
    );
    let (id, s) = b.path.flow.sessions6().iter().next().expect("installed");
    assert_ne!(s.flags() & session_flags::SYN_PROXY, 0, "marked proxied");
    assert!(b.path.synproxy.splices6[id.index()].established);
    // Both directions through B byte for byte as through A.
    let data = from_backend(BACKEND_ISN + 1, CLIENT_ISN + 1, false, b"HELLO");
    let request = from_client(CLIENT_ISN + 1, Some(isn + 6), false, b"GET /");
    for (what, frame) in [("backend data", data), ("client data", request)] {
        let on_a = run(&mut a, std::slice::from_ref(&frame), 20);
        let on_b = run(&mut b, std::slice::from_ref(&frame), 20);
        assert_eq!(on_a.len(), 1, "{what}");
        assert_eq!(on_a, on_b, "{what}");
    }
    assert_eq!(b.counters().events.sessions_created, 0);
    let drops: u64 = b.counters().drops.iter().map(|(_, n)| n).sum();
    assert_eq!(drops, 0, "{:?}", b.counters().drops);
}
