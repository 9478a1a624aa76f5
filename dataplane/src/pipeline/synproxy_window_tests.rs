//! The window check of spliced connections (`synproxy::window`) on the
//! pipeline: out-of-window segments both ways dropped by name, nothing
//! of them forwarded; legitimate retransmissions and window-edge
//! segments pass.

use etherparse::TcpOptionElement as Opt;

use super::synproxy_tests::*;
use super::tests::*;
use super::Pipeline;
use crate::buf::TestBuf;
use crate::tables::Mode;

/// A NAT connection spliced through the proxy (the backend's SYN-ACK with
/// window shift 0 and a window of 1000): returns the pipeline and our
/// cookie ISN (the server's ISN as the client knows it).
fn spliced() -> (Pipeline<TestBuf>, u32) {
    let mut p = proxied(Mode::Nat);
    let (cookie_isn, our_ts) = handshake_with_client(&mut p);
    let ack = client(
        CLIENT_ISN + 1,
        Some(cookie_isn + 1),
        ACK,
        &[Opt::Noop, Opt::Noop, Opt::Timestamp(101, our_ts)],
        b"",
    );
    assert_eq!(run(&mut p, &[ack], NOW + 1).len(), 1, "our SYN");
    let syn_ack = backend(
        BACKEND_ISN,
        CLIENT_ISN + 1,
        SYN,
        1000,
        &[
            Opt::MaximumSegmentSize(1460),
            Opt::Noop,
            Opt::WindowScale(0),
        ],
        b"",
    );
    assert_eq!(run(&mut p, &[syn_ack], NOW + 2).len(), 1, "our ACK");
    assert_eq!(p.counters().events.synproxy_spliced, 1);
    (p, cookie_isn)
}

/// A backend segment (NAT: to the client's own address).
fn backend(seq: u32, ack: u32, flags: u8, win: u16, opts: &[Opt], data: &[u8]) -> Vec<u8> {
    seg(
        (RS1, OURS),
        (RIP1, CIP),
        (8080, CPORT),
        (seq, Some(ack)),
        flags,
        win,
        opts,
        data,
    )
}

fn out_of_window(p: &Pipeline<TestBuf>) -> u64 {
    drops(p, DropReason::SynProxyOutOfWindow)
}

#[test]
fn out_of_window_segments_are_dropped_by_name_both_ways() {
    let (mut p, cookie_isn) = spliced();
    let c1 = CLIENT_ISN + 1;
    let (ok_ack, b1) = (cookie_isn + 1, BACKEND_ISN + 1);
    let blind = [
        // Client data starting past the window the client was given (our
        // SYN-ACK's 65535: no backend segment has widened it yet).
        client(c1 + 70_000, Some(ok_ack), ACK, &[], b"x"),
        // Client data far older than any window.
        client(c1.wrapping_sub(10_000_000), Some(ok_ack), ACK, &[], b"x"),
        // The client acknowledging server bytes never sent.
        client(c1, Some(ok_ack + 5000), ACK, &[], b""),
        // A RST with a guessed sequence number.
        client(c1 + 3_000_000, None, tcp_flags::RST, &[], b""),
        // The backend: data past the client's window (502 << 7), an
        // acknowledgment of client bytes never sent, a stale one.
        backend(b1 + 502 * 128 + 1, c1, ACK, 1000, &[], b"y"),
        backend(b1, c1 + 1, ACK, 1000, &[], b""),
        backend(b1, c1.wrapping_sub(1_000_000), ACK, 1000, &[], b""),
    ];
    for (i, f) in blind.iter().enumerate() {
        assert!(
            run(&mut p, std::slice::from_ref(f), NOW + 3).is_empty(),
            "segment {i}"
        );
        assert_eq!(out_of_window(&p), i as u64 + 1, "segment {i}");
    }
    // The connection is unharmed: the request goes on, and the answer.
    let req = client(c1, Some(ok_ack), ACK, &[], b"GET /");
    assert_eq!(run(&mut p, &[req], NOW + 4).len(), 1);
    let answer = backend(b1, c1 + 5, ACK, 1000, &[], b"200 OK");
    let sent = run(&mut p, &[answer], NOW + 5);
    assert_eq!(sent.len(), 1);
    let (_, t, _) = out(&sent[0]);
    assert_eq!(t.sequence_number, ok_ack, "in the cookie's space");
    assert_eq!(out_of_window(&p), 7);
}

#[test]
fn retransmissions_and_the_window_edge_pass() {
    let (mut p, cookie_isn) = spliced();
    let c1 = CLIENT_ISN + 1;
    let (ok_ack, b1) = (cookie_isn + 1, BACKEND_ISN + 1);
    let frames = [
        client(c1, Some(ok_ack), ACK, &[], b"GET /"),
        // The same segment again, and again (its ACK lost).
        client(c1, Some(ok_ack), ACK, &[], b"GET /"),
        client(c1, Some(ok_ack), ACK, &[], b"GET /"),
        // A keepalive: one byte before the next.
        client(c1 + 4, Some(ok_ack), ACK, &[], b"/"),
        // The backend: its answer, then a byte at the last place the
        // client's window (502 << 7 from the client's ACK) allows.
        backend(b1, c1 + 5, ACK, 1000, &[], b"200 OK"),
        backend(b1 + 502 * 128 - 1, c1 + 5, ACK, 1000, &[], b"z"),
        // The client acknowledging all of it, the old ACK reordered.
        client(c1 + 5, Some(ok_ack + 6), ACK, &[], b""),
        client(c1 + 5, Some(ok_ack), ACK, &[], b""),
        // A FIN, and its retransmission.
        client(c1 + 5, Some(ok_ack + 6), ACK | tcp_flags::FIN, &[], b""),
        client(c1 + 5, Some(ok_ack + 6), ACK | tcp_flags::FIN, &[], b""),
    ];
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(
            run(&mut p, std::slice::from_ref(f), NOW + 3).len(),
            1,
            "segment {i}"
        );
    }
    assert_eq!(out_of_window(&p), 0);
}

/// Where the flood drill's few `synproxy_bad_cookie` come from (issue 21:
/// 2 or 3 while the flood sent SYNs only and every client connected): a
/// client segment that outlives its session. The backend's RST closes
/// the session (10 s in Close); the client, whose copy of that RST was
/// lost on the flooded path, retransmits its next segment after that. With no
/// session the segment, an ACK, can only be a handshake's last one, and
/// its acknowledgment is no cookie: dropped as a bad cookie, nothing sent
/// on, no session made. (Linux answers such an ACK to a listener with a
/// RST; ferrolb drops it silently.)
#[test]
fn a_segment_after_its_session_closed_counts_as_a_bad_cookie() {
    let (mut p, cookie_isn) = spliced();
    let c1 = CLIENT_ISN + 1;
    let (ok_ack, b1) = (cookie_isn + 1, BACKEND_ISN + 1);
    let frames = [
        client(c1, Some(ok_ack), ACK, &[], b"GET /"),
        backend(b1, c1 + 5, ACK, 1000, &[], b"200 OK"),
    ];
    assert_eq!(run(&mut p, &frames, NOW + 3).len(), 2);
    // The client's next request, acknowledging the answer.
    let next = client(c1 + 5, Some(ok_ack + 6), ACK, &[], b"GET /2");
    assert_eq!(run(&mut p, std::slice::from_ref(&next), NOW + 4).len(), 1);
    let rst = backend(b1 + 6, c1 + 11, ACK | tcp_flags::RST, 1000, &[], b"");
    assert_eq!(run(&mut p, &[rst], NOW + 5).len(), 1, "the RST goes on");
    // Within the Close timeout a retransmission still has its session.
    assert_eq!(
        run(&mut p, std::slice::from_ref(&next), NOW + 5_000).len(),
        1
    );
    assert_eq!(drops(&p, DropReason::SynProxyBadCookie), 0);
    // After it, the session is gone and the same segment is a bad cookie.
    run(&mut p, &[], NOW + 30_000);
    assert_eq!(p.counters().events.sessions_expired, 1);
    assert!(run(&mut p, &[next], NOW + 30_001).is_empty());
    assert_eq!(drops(&p, DropReason::SynProxyBadCookie), 1);
    assert_eq!(p.session_counts().services, vec![0], "no session made");
    // (The client's first segment, `ISN + 1` acknowledging `cookie + 1`,
    // would still pass as the handshake's ACK while the cookie is young:
    // a new session and a SYN to the backend, as for a lost ACK.)
}
