//! Early data through the SYN proxy: the client's first data segment that
//! comes before the backend's SYN-ACK is held and goes out right behind
//! our ACK, translated byte for byte; the hold is capped per worker; a
//! session that ends frees what it held (test buffers alive are counted,
//! as a pool's buffers in use would be).

use etherparse::TcpOptionElement as Opt;

use super::synproxy_tests::*;
use super::tests::*;
use super::Pipeline;
use crate::buf::{live_test_bufs, TestBuf};
use crate::synproxy::early::EARLY_HOLD_PER_WORKER;
use crate::tables::Mode;

const LIP0: [u8; 4] = [10, 0, 1, 100];
const REQUEST: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n";

fn proxied(mode: Mode) -> Pipeline<TestBuf> {
    let mut s = service(mode, IpProto::TCP);
    s.syn_proxy = true;
    s.backends.truncate(1);
    let mut p = pipeline(&config(vec![s]));
    run(&mut p, &[], NOW);
    p
}

/// The client's ACK of our cookie (timestamps on), with `data`.
fn cookie_ack(isn: u32, ts: u32, tsval: u32, data: &[u8]) -> Vec<u8> {
    client(
        CLIENT_ISN + 1,
        Some(isn + 1),
        ACK,
        &[Opt::Noop, Opt::Noop, Opt::Timestamp(tsval, ts)],
        data,
    )
}

/// The backend's SYN-ACK to our SYN, to `src`:`lport`.
fn backend_syn_ack(src: [u8; 4], lport: u16) -> Vec<u8> {
    seg(
        (RS1, OURS),
        (RIP1, src),
        (8080, lport),
        (BACKEND_ISN, Some(CLIENT_ISN + 1)),
        SYN,
        65535,
        &[
            Opt::MaximumSegmentSize(1460),
            Opt::SelectiveAcknowledgementPermitted,
            Opt::Timestamp(5000, 101),
            Opt::Noop,
            Opt::WindowScale(7),
        ],
        b"",
    )
}

/// Asserts `frame` is our SYN to the backend; returns its source address
/// and port (the client's, or FULLNAT's local ones).
fn assert_backend_syn(frame: &[u8]) -> ([u8; 4], u16) {
    let (s, t, data) = out(frame);
    assert_eq!((s.dst, s.ports.1), (RIP1, 8080));
    assert!(t.syn && !t.ack, "our SYN");
    assert_eq!(t.sequence_number, CLIENT_ISN);
    assert!(data.is_empty(), "a SYN carries no data");
    (s.src, s.ports.0)
}

/// After the backend's SYN-ACK: our ACK, then the held request, in the
/// backend's sequence space and on its clock, byte for byte.
fn assert_ack_then_request(sent: &[Vec<u8>], src: [u8; 4], lport: u16, tsval: u32) {
    assert_eq!(sent.len(), 2, "our ACK and the held request");
    let (s, t, data) = out(&sent[0]);
    assert_eq!((s.src, s.dst, s.ports), (src, RIP1, (lport, 8080)));
    assert!(t.ack && !t.syn && data.is_empty(), "our ACK first");
    let (s, t, data) = out(&sent[1]);
    assert_eq!(
        (s.macs.1, s.src, s.dst, s.ports),
        (RS1, src, RIP1, (lport, 8080))
    );
    assert!(t.ack && !t.syn && !t.rst);
    assert_eq!(
        (t.sequence_number, t.acknowledgment_number),
        (CLIENT_ISN + 1, BACKEND_ISN + 1),
        "translated into the backend's sequence space"
    );
    assert_eq!(timestamp_of(&t), Some((tsval, 5000)), "TSecr on its clock");
    assert_eq!(data, REQUEST, "the request byte for byte");
}

fn early_data_waits_for_the_backend(mode: Mode, src: [u8; 4]) {
    let mut p = proxied(mode);
    let (isn, ts) = handshake_with_client(&mut p);
    let bufs = live_test_bufs();
    // The ACK and the request right behind it, in one burst.
    let burst = [
        cookie_ack(isn, ts, 101, b""),
        cookie_ack(isn, ts, 102, REQUEST),
    ];
    let sent = run(&mut p, &burst, NOW + 1);
    assert_eq!(sent.len(), 1, "only our SYN: the request waits");
    let (got_src, lport) = assert_backend_syn(&sent[0]);
    assert_eq!(got_src, src);
    let c = p.counters();
    let e = &c.events;
    assert_eq!(
        (
            e.synproxy_early_held,
            e.synproxy_syn_resent,
            e.synproxy_early_data
        ),
        (1, 0, 0)
    );
    assert_eq!(live_test_bufs(), bufs + 1, "one buffer held");

    let sent = run(&mut p, &[backend_syn_ack(src, lport)], NOW + 2);
    assert_ack_then_request(&sent, src, lport, 102);
    let c = p.counters();
    assert_eq!(c.events.synproxy_early_sent, 1);
    assert_eq!(c.drops.iter().map(|(_, n)| n).sum::<u64>(), 0);
    assert_eq!(live_test_bufs(), bufs, "nothing held any more");
}

#[test]
fn nat_holds_the_request_until_the_backend_answers() {
    early_data_waits_for_the_backend(Mode::Nat, CIP);
}

#[test]
fn fullnat_holds_the_request_until_the_backend_answers() {
    early_data_waits_for_the_backend(Mode::FullNat, LIP0);
}

#[test]
fn a_cookie_ack_carrying_data_sends_a_syn_and_holds_the_data() {
    let mut p = proxied(Mode::Nat);
    let (isn, ts) = handshake_with_client(&mut p);
    let bufs = live_test_bufs();
    let sent = run(&mut p, &[cookie_ack(isn, ts, 102, REQUEST)], NOW + 1);
    assert_eq!(sent.len(), 1);
    let (src, lport) = assert_backend_syn(&sent[0]);
    assert_eq!(p.counters().events.synproxy_cookie_accepted, 1);
    assert_eq!(p.counters().events.synproxy_early_held, 1);
    assert_eq!(live_test_bufs(), bufs + 1);
    let sent = run(&mut p, &[backend_syn_ack(src, lport)], NOW + 2);
    assert_ack_then_request(&sent, src, lport, 102);
    assert_eq!(live_test_bufs(), bufs);
}

#[test]
fn one_segment_is_held_per_connection_the_next_resends_the_syn() {
    let mut p = proxied(Mode::Nat);
    let (isn, ts) = handshake_with_client(&mut p);
    let burst = [
        cookie_ack(isn, ts, 101, b""),
        cookie_ack(isn, ts, 102, REQUEST),
        // The client's retransmission of it.
        cookie_ack(isn, ts, 103, REQUEST),
    ];
    let sent = run(&mut p, &burst, NOW + 1);
    assert_eq!(sent.len(), 2, "our SYN, and our SYN again");
    let (src, lport) = assert_backend_syn(&sent[0]);
    assert_backend_syn(&sent[1]);
    let c = p.counters();
    let e = &c.events;
    assert_eq!(
        (
            e.synproxy_early_held,
            e.synproxy_syn_resent,
            e.synproxy_early_data
        ),
        (1, 1, 1)
    );
    let sent = run(&mut p, &[backend_syn_ack(src, lport)], NOW + 2);
    assert_ack_then_request(&sent, src, lport, 102);
}

#[test]
fn the_hold_is_capped_per_worker() {
    let mut p = proxied(Mode::Nat);
    let conns = EARLY_HOLD_PER_WORKER + 2;
    let port = |i: usize| 20000 + i as u16;
    let from = |i: usize, (seq, ack): (u32, Option<u32>), flags, data: &[u8]| {
        seg(
            (ROUTER, OURS),
            (CIP, VIP),
            (port(i), 80),
            (seq, ack),
            flags,
            502,
            &[],
            data,
        )
    };
    let syns: Vec<_> = (0..conns)
        .map(|i| from(i, (CLIENT_ISN, None), SYN, b""))
        .collect();
    let answers = run(&mut p, &syns, NOW);
    assert_eq!(answers.len(), conns);
    let bufs = live_test_bufs();
    // Every connection's ACK with its request (no backend answers yet).
    let acks: Vec<_> = answers
        .iter()
        .map(|f| {
            let (s, t, _) = out(f);
            let i = usize::from(s.ports.1 - 20000);
            from(
                i,
                (CLIENT_ISN + 1, Some(t.sequence_number + 1)),
                ACK,
                REQUEST,
            )
        })
        .collect();
    let sent = run(&mut p, &acks, NOW + 1);
    assert_eq!(sent.len(), conns, "a SYN to the backend for each");
    let c = p.counters();
    let e = &c.events;
    assert_eq!(e.synproxy_cookie_accepted, conns as u64);
    assert_eq!(e.synproxy_early_held, EARLY_HOLD_PER_WORKER as u64);
    assert_eq!((e.synproxy_early_hold_full, e.synproxy_early_data), (2, 2));
    assert_eq!(
        live_test_bufs(),
        bufs + EARLY_HOLD_PER_WORKER as i64,
        "no more buffers held than the cap"
    );
}

#[test]
fn a_session_that_ends_frees_what_it_held() {
    let mut p = proxied(Mode::Nat);
    let (isn, ts) = handshake_with_client(&mut p);
    let bufs = live_test_bufs();
    run(&mut p, &[cookie_ack(isn, ts, 102, REQUEST)], NOW + 1);
    assert_eq!(live_test_bufs(), bufs + 1);
    // The backend never answers: the half-open session expires (SYN_RECV,
    // 30 s) and the next upkeep frees the segment.
    run(&mut p, &[], NOW + 29_000);
    assert_eq!(live_test_bufs(), bufs + 1, "still waiting");
    run(&mut p, &[], NOW + 31_000);
    run(&mut p, &[], NOW + 31_200);
    assert_eq!(p.session_counts().services[0], 0, "the session expired");
    assert_eq!(live_test_bufs(), bufs, "and its segment was freed");
    assert_eq!(drops(&p, DropReason::SynProxyEarlyDropped), 1);
}

#[test]
fn a_backend_refusing_frees_what_the_connection_held() {
    let mut p = proxied(Mode::Nat);
    let (isn, ts) = handshake_with_client(&mut p);
    let bufs = live_test_bufs();
    let now = NOW + 1;
    let sent = run(&mut p, &[cookie_ack(isn, ts, 102, REQUEST)], now);
    let (src, lport) = assert_backend_syn(&sent[0]);
    assert_eq!(live_test_bufs(), bufs + 1);
    let rst = seg(
        (RS1, OURS),
        (RIP1, src),
        (8080, lport),
        (0, Some(CLIENT_ISN + 1)),
        tcp_flags::RST,
        0,
        &[],
        b"",
    );
    let sent = run(&mut p, &[rst], now + 1);
    assert_eq!(sent.len(), 1, "the RST to the client, no data anywhere");
    assert!(out(&sent[0]).1.rst);
    assert_eq!(live_test_bufs(), bufs);
    assert_eq!(drops(&p, DropReason::SynProxyEarlyDropped), 1);
}
