//! Session sync of spliced sessions: a SYN-proxied connection, and one
//! with a PROXY header, made on node A and synced (through the wire
//! format) to node B, go on through B byte for byte as through A, both
//! ways: B translates with the shift A fixed, and checks the window.

use etherparse::TcpOptionElement as Opt;

use super::sync_tests::{drain, synced};
use super::synproxy_tests::*;
use super::tests::*;
use super::Pipeline;
use crate::buf::TestBuf;
use crate::client_addr::proxy_header::ProxyVersion;
use crate::sync::wire::{decode, Encoder, Header};
use crate::sync::{SessionRecord, SyncPort};
use crate::tables::{Mode, ServiceSpec};

const LIP0: [u8; 4] = [10, 0, 1, 100];

/// Records through the wire format, as the sync thread sends them.
fn over_the_wire(records: &[SessionRecord]) -> Vec<SessionRecord> {
    let mut e = Encoder::default();
    for r in records {
        assert!(e.push(r), "fits one datagram");
    }
    let header = Header {
        boot_id: 1,
        sequence: 1,
        workers: 1,
    };
    let bytes = e.finish(&header, None).to_vec();
    let d = decode(&bytes, None).expect("decodes");
    d.records()
        .map(|r| r.expect("a good record").v4().expect("IPv4"))
        .collect()
}

fn give(b: &mut Pipeline<TestBuf>, port: &mut SyncPort, records: Vec<SessionRecord>, now: u64) {
    for r in records {
        assert!(port.give(r));
    }
    run(b, &[], now);
}

fn fullnat(syn_proxy: bool, header: Option<ProxyVersion>) -> ServiceSpec {
    let mut s = service(Mode::FullNat, IpProto::TCP);
    s.syn_proxy = syn_proxy;
    s.proxy_protocol = header;
    s.backends.truncate(1);
    s.local_addrs.truncate(1);
    s
}

fn backend(lport: u16, seq: u32, ack: u32, flags: u8, opts: &[Opt], data: &[u8]) -> Vec<u8> {
    seg(
        (RS1, OURS),
        (RIP1, LIP0),
        (8080, lport),
        (seq, Some(ack)),
        flags,
        1000,
        opts,
        data,
    )
}

/// The frames of a connection's middle, both ways, run through `a` and
/// `b` alike: what comes out must be the same bytes.
fn same_on_both(a: &mut Pipeline<TestBuf>, b: &mut Pipeline<TestBuf>, frames: &[Vec<u8>]) {
    for (i, f) in frames.iter().enumerate() {
        let on_a = run(a, std::slice::from_ref(f), NOW + 10 + i as u64);
        let on_b = run(b, std::slice::from_ref(f), NOW + 10 + i as u64);
        assert_eq!(on_a.len(), 1, "frame {i} goes through A");
        assert_eq!(on_a, on_b, "frame {i}: B translates as A");
    }
}

#[test]
fn a_syn_proxied_connection_goes_on_through_the_peer() {
    let (mut a, mut a_port) = synced(fullnat(true, None));
    let (mut b, mut b_port) = synced(fullnat(true, None));
    run(&mut a, &[], NOW);
    let (cookie_isn, our_ts) = handshake_with_client(&mut a);
    let ts = |v, e| [Opt::Noop, Opt::Noop, Opt::Timestamp(v, e)];
    let ack = client(
        CLIENT_ISN + 1,
        Some(cookie_isn + 1),
        ACK,
        &ts(101, our_ts),
        b"",
    );
    let sent = run(&mut a, &[ack], NOW + 1);
    let lport = out(&sent[0]).0.ports.0;
    let syn_ack = backend(
        lport,
        BACKEND_ISN,
        CLIENT_ISN + 1,
        SYN,
        &[
            Opt::MaximumSegmentSize(1460),
            Opt::Timestamp(5000, 101),
            Opt::Noop,
            Opt::WindowScale(9),
        ],
        b"",
    );
    assert_eq!(run(&mut a, &[syn_ack], NOW + 2).len(), 1, "spliced");
    let records = over_the_wire(&drain(&mut a_port));
    let last = records.last().expect("records");
    let sp = last.splice.expect("the splice's record carries the shift");
    assert_eq!(sp.adjust.backend_seq, cookie_isn.wrapping_sub(BACKEND_ISN));
    assert!(sp.syn_proxy);
    give(&mut b, &mut b_port, records, NOW + 3);
    assert_eq!(b.counters().events.sync_installed, 1);
    // The connection's middle through B as through A: sequence numbers,
    // timestamps and the window (shift 9 to 7) translated alike.
    let (c1, s1) = (CLIENT_ISN + 1, cookie_isn + 1);
    let b1 = BACKEND_ISN + 1;
    same_on_both(
        &mut a,
        &mut b,
        &[
            client(c1, Some(s1), ACK, &ts(102, our_ts), b"GET /"),
            backend(lport, b1, c1 + 5, ACK, &ts(5001, 102), b"200 OK"),
            client(c1 + 5, Some(s1 + 6), ACK, &ts(103, our_ts + 1), b""),
            backend(lport, b1 + 6, c1 + 5, ACK, &ts(5002, 103), b"more"),
        ],
    );
    // B checks the window too, with edges learned from what it saw.
    let blind = client(c1 + 5, Some(s1 + 5000), ACK, &ts(104, our_ts), b"");
    assert!(run(&mut b, &[blind], NOW + 20).is_empty());
    assert_eq!(drops(&b, DropReason::SynProxyOutOfWindow), 1);
    assert_eq!(b.counters().events.sessions_created, 0);
}

#[test]
fn a_proxy_header_shift_goes_on_through_the_peer() {
    let v = ProxyVersion::V2;
    let (mut a, mut a_port) = synced(fullnat(false, Some(v)));
    let (mut b, mut b_port) = synced(fullnat(false, Some(v)));
    let sent = run(&mut a, &[client_syn()], NOW);
    let lport = out(&sent[0]).0.ports.0;
    let syn_ack = backend(lport, BACKEND_ISN, CLIENT_ISN + 1, SYN, &[], b"");
    run(&mut a, &[syn_ack], NOW + 1);
    let (c1, b1) = (CLIENT_ISN + 1, BACKEND_ISN + 1);
    // The first byte carries the header on A.
    let first = client(c1, Some(b1), ACK, &[], b"GET /");
    let sent = run(&mut a, &[first], NOW + 2);
    let grown = out(&sent[0]).2.len();
    assert!(grown > 5, "the header went in front");
    let n = (grown - 5) as u32;
    let records = over_the_wire(&drain(&mut a_port));
    let sp = records
        .iter()
        .rev()
        .find_map(|r| r.splice)
        .expect("a record with the shift");
    assert_eq!((sp.adjust.client_seq, sp.header), (n, Some(v)));
    assert!(!sp.syn_proxy);
    give(&mut b, &mut b_port, records, NOW + 3);
    same_on_both(
        &mut a,
        &mut b,
        &[
            backend(lport, b1, c1 + n + 5, ACK, &[], b"200 OK"),
            client(c1 + 5, Some(b1 + 6), ACK, &[], b"more"),
            backend(lport, b1 + 6, c1 + n + 9, ACK, &[], b""),
        ],
    );
}
