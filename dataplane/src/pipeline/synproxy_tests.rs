//! The SYN proxy on in-memory ports: the cookie SYN-ACK with no session,
//! the cookie ACK opening the backend side, the backend handshake, the
//! splice in both directions (SACK and timestamps included), the window
//! rescaled, and the bad input dropped by name. Every frame that comes
//! out is decoded by etherparse and its checksums verified.

use etherparse::{
    PacketBuilder, PacketHeaders, TcpHeader, TcpOptionElement as Opt, TransportHeader,
};

use super::tests::*;
use super::Pipeline;
use crate::buf::TestBuf;
use crate::synproxy::cookie::{self, PERIOD_MS};
use crate::tables::Mode;

pub(super) const NOW: u64 = 1_000_000;
pub(super) const CPORT: u16 = 40000;
pub(super) const CLIENT_ISN: u32 = 0x1000_0000;
pub(super) const BACKEND_ISN: u32 = 0xfff0_0000;
const LIP0: [u8; 4] = [10, 0, 1, 100];

/// A TCP segment with every field chosen.
#[allow(clippy::too_many_arguments)] // a test frame: every header field
pub(super) fn seg(
    macs: ([u8; 6], [u8; 6]),
    addrs: ([u8; 4], [u8; 4]),
    ports: (u16, u16),
    (seq, ack): (u32, Option<u32>),
    flags: u8,
    window: u16,
    opts: &[Opt],
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(addrs.0, addrs.1, 64)
        .tcp(ports.0, ports.1, seq, window);
    if flags & SYN != 0 {
        b = b.syn();
    }
    if let Some(a) = ack {
        b = b.ack(a);
    }
    if flags & tcp_flags::FIN != 0 {
        b = b.fin();
    }
    if flags & tcp_flags::RST != 0 {
        b = b.rst();
    }
    let b = b.options(opts).expect("options fit");
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("writes");
    v
}

pub(super) fn client(
    seq: u32,
    ack: Option<u32>,
    flags: u8,
    opts: &[Opt],
    payload: &[u8],
) -> Vec<u8> {
    seg(
        (ROUTER, OURS),
        (CIP, VIP),
        (CPORT, 80),
        (seq, ack),
        flags,
        502,
        opts,
        payload,
    )
}

pub(super) fn client_syn() -> Vec<u8> {
    client(
        CLIENT_ISN,
        None,
        SYN,
        &[
            Opt::MaximumSegmentSize(1460),
            Opt::SelectiveAcknowledgementPermitted,
            Opt::Timestamp(100, 0),
            Opt::Noop,
            Opt::WindowScale(7),
        ],
        b"",
    )
}

/// What came out: the checked headers, the TCP header, the payload.
pub(super) fn out(frame: &[u8]) -> (Seen, TcpHeader, Vec<u8>) {
    let s = seen(frame);
    let p = PacketHeaders::from_ethernet_slice(frame).expect("decodes");
    let Some(TransportHeader::Tcp(t)) = p.transport else {
        panic!("tcp")
    };
    (s, t, p.payload.slice().to_vec())
}

pub(super) fn options_of(t: &TcpHeader) -> Vec<Opt> {
    t.options_iterator().map(|o| o.expect("option")).collect()
}

pub(super) fn timestamp_of(t: &TcpHeader) -> Option<(u32, u32)> {
    options_of(t).into_iter().find_map(|o| match o {
        Opt::Timestamp(v, e) => Some((v, e)),
        _ => None,
    })
}

pub(super) fn proxied(mode: Mode) -> Pipeline<TestBuf> {
    let mut s = service(mode, IpProto::TCP);
    s.syn_proxy = true;
    s.backends.truncate(1);
    let mut p = pipeline(&config(vec![s]));
    // The first tick at NOW rotates the secrets made at 0, so a test's
    // cookies all come from one pair.
    run(&mut p, &[], NOW);
    p
}

/// Runs the client's SYN: returns our SYN-ACK's ISN and TSval.
pub(super) fn handshake_with_client(p: &mut Pipeline<TestBuf>) -> (u32, u32) {
    let sent = run(p, &[client_syn()], NOW);
    assert_eq!(sent.len(), 1, "one SYN-ACK");
    let (s, t, _) = out(&sent[0]);
    assert_eq!(
        (s.macs, s.src, s.dst, s.ports),
        ((OURS, ROUTER), VIP, CIP, (80, CPORT))
    );
    assert!(t.syn && t.ack && !t.rst && !t.fin);
    assert_eq!(t.acknowledgment_number, CLIENT_ISN + 1);
    let (tsval, tsecr) = timestamp_of(&t).expect("timestamp");
    assert_eq!(tsecr, 100, "echoes the client's TSval");
    let o = options_of(&t);
    assert!(o.contains(&Opt::MaximumSegmentSize(1460)));
    assert!(o.contains(&Opt::WindowScale(super::synproxy::OUR_WSCALE)));
    assert!(o.contains(&Opt::SelectiveAcknowledgementPermitted));
    // The options ride in the timestamp as Linux encodes them.
    let echoed = cookie::decode_timestamp_cookie(tsval);
    assert_eq!((echoed.wscale, echoed.sack), (Some(7), true));
    (t.sequence_number, tsval)
}

#[test]
fn a_syn_is_answered_with_a_cookie_and_no_session() {
    let mut p = proxied(Mode::Nat);
    let (isn, _) = handshake_with_client(&mut p);
    assert_eq!(p.session_counts().services[0], 0, "no session for a SYN");
    let c = p.counters();
    assert_eq!(c.events.synproxy_syn_answered, 1);
    assert_eq!(c.events.sessions_created, 0);
    // The same SYN again gets the same cookie (nothing kept, nothing moved).
    let (again, _) = handshake_with_client(&mut p);
    assert_eq!(again, isn);
}

/// The whole life of a proxied connection through `mode`, where the
/// backend sees the client as `src` (CIP for NAT, a local address for
/// FULLNAT).
fn splice_both_ways(mode: Mode, src: [u8; 4]) {
    let mut p = proxied(mode);
    let (cookie_isn, our_ts) = handshake_with_client(&mut p);

    // The cookie ACK: a session, and our SYN to the backend.
    let ack = client(
        CLIENT_ISN + 1,
        Some(cookie_isn + 1),
        ACK,
        &[Opt::Noop, Opt::Noop, Opt::Timestamp(101, our_ts)],
        b"",
    );
    let sent = run(&mut p, &[ack], NOW + 1);
    assert_eq!(sent.len(), 1);
    let (s, t, _) = out(&sent[0]);
    assert_eq!((s.macs.1, s.src, s.dst), (RS1, src, RIP1));
    let lport = s.ports.0;
    assert_eq!(s.ports.1, 8080);
    assert!(t.syn && !t.ack);
    assert_eq!(t.sequence_number, CLIENT_ISN, "the client's own ISN");
    let o = options_of(&t);
    assert!(o.contains(&Opt::MaximumSegmentSize(1460)));
    assert!(
        o.contains(&Opt::WindowScale(7)),
        "the client's shift: {o:?}"
    );
    assert!(o.contains(&Opt::SelectiveAcknowledgementPermitted));
    assert_eq!(timestamp_of(&t), Some((101, 0)));
    assert_eq!(p.session_counts().services[0], 1);
    assert_eq!(p.counters().events.synproxy_cookie_accepted, 1);

    // The backend's SYN-ACK: answered here with our ACK, nothing to the client.
    let backend = |seq, ack, flags, win, opts: &[Opt], data: &[u8]| {
        seg(
            (RS1, OURS),
            (RIP1, src),
            (8080, lport),
            (seq, Some(ack)),
            flags,
            win,
            opts,
            data,
        )
    };
    let syn_ack = backend(
        BACKEND_ISN,
        CLIENT_ISN + 1,
        SYN,
        65535,
        &[
            Opt::MaximumSegmentSize(1460),
            Opt::SelectiveAcknowledgementPermitted,
            Opt::Timestamp(5000, 101),
            Opt::Noop,
            Opt::WindowScale(9),
        ],
        b"",
    );
    let sent = run(&mut p, &[syn_ack], NOW + 2);
    assert_eq!(sent.len(), 1);
    let (s, t, _) = out(&sent[0]);
    assert_eq!(
        (s.macs, s.src, s.dst, s.ports),
        ((OURS, RS1), src, RIP1, (lport, 8080))
    );
    assert!(t.ack && !t.syn);
    assert_eq!(
        (t.sequence_number, t.acknowledgment_number),
        (CLIENT_ISN + 1, BACKEND_ISN + 1)
    );
    assert_eq!(timestamp_of(&t), Some((101, 5000)));
    assert_eq!(t.window_size, 502, "the client's window");
    assert_eq!(p.counters().events.synproxy_spliced, 1);

    // Client data with a SACK block: acknowledgments move into the
    // backend's space, TSecr onto the backend's clock.
    let req = client(
        CLIENT_ISN + 1,
        Some(cookie_isn + 1),
        ACK,
        &[
            Opt::Noop,
            Opt::Noop,
            Opt::Timestamp(102, our_ts),
            Opt::Noop,
            Opt::Noop,
            Opt::SelectiveAcknowledgement((cookie_isn + 10, cookie_isn + 20), [None, None, None]),
        ],
        b"GET / HTTP/1.0\r\n\r\n",
    );
    let sent = run(&mut p, &[req], NOW + 3);
    let (s, t, data) = out(&sent[0]);
    assert_eq!((s.src, s.dst, s.ports), (src, RIP1, (lport, 8080)));
    assert_eq!(
        (t.sequence_number, t.acknowledgment_number),
        (CLIENT_ISN + 1, BACKEND_ISN + 1)
    );
    assert_eq!(timestamp_of(&t), Some((102, 5000)));
    assert!(options_of(&t).contains(&Opt::SelectiveAcknowledgement(
        (BACKEND_ISN + 10, BACKEND_ISN + 20),
        [None, None, None]
    )));
    assert_eq!(data, b"GET / HTTP/1.0\r\n\r\n");

    // Backend data with a SACK block: sequence numbers into the cookie's
    // space, TSval onto our clock, the window rescaled from 2^9 to 2^7.
    let reply = backend(
        BACKEND_ISN + 1,
        CLIENT_ISN + 19,
        0,
        100,
        &[
            Opt::Noop,
            Opt::Noop,
            Opt::Timestamp(5001, 102),
            Opt::Noop,
            Opt::Noop,
            Opt::SelectiveAcknowledgement((CLIENT_ISN + 30, CLIENT_ISN + 40), [None, None, None]),
        ],
        b"HTTP/1.0 200 OK\r\n\r\n",
    );
    let sent = run(&mut p, &[reply], NOW + 4);
    let (s, t, data) = out(&sent[0]);
    assert_eq!(
        (s.macs.1, s.src, s.dst, s.ports),
        (ROUTER, VIP, CIP, (80, CPORT))
    );
    assert_eq!(
        (t.sequence_number, t.acknowledgment_number),
        (cookie_isn + 1, CLIENT_ISN + 19)
    );
    assert_eq!(timestamp_of(&t), Some((our_ts + 1, 102)));
    assert!(options_of(&t).contains(&Opt::SelectiveAcknowledgement(
        (CLIENT_ISN + 30, CLIENT_ISN + 40),
        [None, None, None]
    )));
    assert_eq!(t.window_size, 400);
    assert_eq!(data, b"HTTP/1.0 200 OK\r\n\r\n");
    let c = p.counters();
    assert_eq!(
        c.drops.iter().map(|(_, n)| n).sum::<u64>(),
        0,
        "{:?}",
        c.drops
    );
    assert_eq!(c.services[0].conns, 1);
}

#[test]
fn nat_splices_both_directions_with_sack_and_timestamps() {
    splice_both_ways(Mode::Nat, CIP);
}

#[test]
fn fullnat_splices_both_directions_with_sack_and_timestamps() {
    splice_both_ways(Mode::FullNat, LIP0);
}

#[test]
fn without_timestamps_the_syn_ack_offers_no_scaling_or_sack() {
    let mut p = proxied(Mode::Nat);
    let syn = client(
        CLIENT_ISN,
        None,
        SYN,
        &[
            Opt::MaximumSegmentSize(1400),
            Opt::Noop,
            Opt::WindowScale(7),
        ],
        b"",
    );
    let sent = run(&mut p, &[syn], NOW);
    let (_, t, _) = out(&sent[0]);
    assert_eq!(
        options_of(&t)
            .into_iter()
            .filter(|o| *o != Opt::Noop)
            .collect::<Vec<_>>(),
        vec![Opt::MaximumSegmentSize(1300)]
    );
    let ack = client(CLIENT_ISN + 1, Some(t.sequence_number + 1), ACK, &[], b"");
    let sent = run(&mut p, &[ack], NOW + 1);
    let (_, t, _) = out(&sent[0]);
    assert!(t.syn);
    assert_eq!(
        options_of(&t)
            .into_iter()
            .filter(|o| *o != Opt::Noop)
            .collect::<Vec<_>>(),
        vec![Opt::MaximumSegmentSize(1300)]
    );
}

#[test]
fn bad_cookies_and_stray_segments_are_dropped_by_name() {
    let mut p = proxied(Mode::Nat);
    let (isn, ts) = handshake_with_client(&mut p);
    let ts_opt = [Opt::Noop, Opt::Noop, Opt::Timestamp(101, ts)];
    let frames = [
        // A forged cookie, the right one for another sequence number.
        client(CLIENT_ISN + 1, Some(isn.wrapping_add(2)), ACK, &ts_opt, b""),
        client(CLIENT_ISN + 5, Some(isn + 1), ACK, &ts_opt, b""),
        client(7, Some(7), ACK, &[], b"data without a handshake"),
    ];
    assert!(run(&mut p, &frames, NOW + 1).is_empty());
    assert_eq!(drops(&p, DropReason::SynProxyBadCookie), 3);
    // The right cookie, but too late.
    let late = client(CLIENT_ISN + 1, Some(isn + 1), ACK, &ts_opt, b"");
    assert!(run(&mut p, &[late], NOW + 2 * PERIOD_MS + 1).is_empty());
    assert_eq!(drops(&p, DropReason::SynProxyBadCookie), 4);
    // RST, FIN, SYN-ACK and no flags at all: no cookie to check.
    let stray = [
        client(1, None, tcp_flags::RST, &[], b""),
        client(1, Some(1), tcp_flags::RST | ACK, &[], b""),
        client(1, None, tcp_flags::FIN, &[], b""),
        client(1, Some(1), SYN | ACK, &[], b""),
        client(1, None, 0, &[], b""),
    ];
    assert!(run(&mut p, &stray, NOW + 3).is_empty());
    assert_eq!(drops(&p, DropReason::SynProxyNoSession), 5);
    // A SYN whose options run past its header.
    let mut bad = client_syn();
    let opt_start = 14 + 20 + 20;
    bad[opt_start + 1] = 40; // the MSS option's length
    assert!(run(&mut p, &[bad], NOW + 4).is_empty());
    assert_eq!(drops(&p, DropReason::SynProxyBadOptions), 1);
    assert_eq!(
        p.session_counts().services[0],
        0,
        "nothing reached a backend"
    );
    assert_eq!(p.counters().events.sessions_created, 0);
}

#[test]
fn client_segments_before_the_backend_answers_resend_the_syn() {
    let mut p = proxied(Mode::Nat);
    let (isn, ts) = handshake_with_client(&mut p);
    let ts_opt = [Opt::Noop, Opt::Noop, Opt::Timestamp(101, ts)];
    let ack = client(CLIENT_ISN + 1, Some(isn + 1), ACK, &ts_opt, b"");
    // The ACK retransmitted (data before the backend answered is held:
    // synproxy_early_tests.rs).
    let sent = run(&mut p, &[ack.clone(), ack], NOW + 1);
    assert_eq!(sent.len(), 2);
    for f in &sent {
        let (s, t, data) = out(f);
        assert_eq!((s.dst, t.syn, t.sequence_number), (RIP1, true, CLIENT_ISN));
        assert!(data.is_empty());
    }
    let c = p.counters();
    assert_eq!(
        (c.events.synproxy_syn_resent, c.events.synproxy_early_data),
        (1, 0)
    );
    // The backend refuses: the client hears a RST in its own sequence space.
    let rst = seg(
        (RS1, OURS),
        (RIP1, CIP),
        (8080, CPORT),
        (0, Some(CLIENT_ISN + 1)),
        tcp_flags::RST,
        0,
        &[],
        b"",
    );
    let sent = run(&mut p, &[rst], NOW + 2);
    let (s, t, _) = out(&sent[0]);
    assert_eq!((s.src, s.dst, s.ports), (VIP, CIP, (80, CPORT)));
    assert!(t.rst);
    assert_eq!(t.sequence_number, isn + 1);
    // A backend segment that is no answer to our SYN.
    let stray = seg(
        (RS1, OURS),
        (RIP1, CIP),
        (8080, CPORT),
        (9, Some(9)),
        0,
        0,
        &[],
        b"x",
    );
    let mut q = proxied(Mode::Nat);
    let (isn, _) = handshake_with_client(&mut q);
    run(
        &mut q,
        &[client(CLIENT_ISN + 1, Some(isn + 1), ACK, &[], b"")],
        NOW + 1,
    );
    assert!(run(&mut q, &[stray], NOW + 2).is_empty());
    assert_eq!(drops(&q, DropReason::SynProxyUnexpected), 1);
}

#[test]
fn a_service_without_the_proxy_forwards_the_syn() {
    let mut s = service(Mode::Nat, IpProto::TCP);
    s.backends.truncate(1);
    let mut p = pipeline(&config(vec![s]));
    let sent = run(&mut p, &[client_syn()], NOW);
    let (s, t, _) = out(&sent[0]);
    assert_eq!((s.dst, t.syn, t.ack), (RIP1, true, false));
    assert_eq!(p.counters().events.synproxy_syn_answered, 0);
    assert_eq!(p.session_counts().services[0], 1);
}

#[test]
fn automatic_mode_turns_on_at_the_threshold_and_off_below_half() {
    let nat = service(Mode::Nat, IpProto::TCP);
    let mut dr = service(Mode::Dr, IpProto::TCP);
    dr.port = 81;
    let mut cfg = config(vec![nat, dr]);
    cfg.synproxy.auto_threshold = 4;
    let mut p = pipeline(&cfg);
    let syn = |port: u16, dport: u16| {
        seg(
            (ROUTER, OURS),
            (CIP, VIP),
            (port, dport),
            (CLIENT_ISN, None),
            SYN,
            502,
            &[],
            b"",
        )
    };
    // Three half-open sessions: below the threshold, SYNs go to backends.
    let sent = run(&mut p, &[syn(1, 80), syn(2, 80), syn(3, 80)], NOW);
    assert!(sent.iter().all(|f| out(f).0.dst != CIP), "forwarded");
    run(&mut p, &[], NOW + 1);
    assert_eq!(p.counters().events.synproxy_on, 0);
    // The fourth reaches it: from the next tick SYNs get cookies.
    run(&mut p, &[syn(4, 80)], NOW + 2);
    run(&mut p, &[], NOW + 3);
    assert_eq!(p.counters().events.synproxy_on, 1);
    let sent = run(&mut p, &[syn(5, 80)], NOW + 4);
    let (s, t, _) = out(&sent[0]);
    assert_eq!((s.dst, t.syn, t.ack), (CIP, true, true), "a cookie SYN-ACK");
    assert_eq!(p.session_counts().services[0], 4);
    // Not for DR: its backend answers the client itself.
    let sent = run(&mut p, &[syn(6, 81)], NOW + 5);
    assert_eq!(out(&sent[0]).0.macs.1, RS1);
    // The backends refuse ports 1 to 4 (round robin: odd ports went to
    // the first; a client's RST does not end SYN_RECV in IPVS's table).
    // The DR session (port 6) is half-open too: with 2 left the proxy
    // stays on, with 1 (below 4/2) it goes off.
    let rst = |port: u16| {
        let (mac, rip) = if port % 2 == 1 {
            (RS1, RIP1)
        } else {
            (RS2, RIP2)
        };
        seg(
            (mac, OURS),
            (rip, CIP),
            (8080, port),
            (0, Some(CLIENT_ISN + 1)),
            tcp_flags::RST,
            0,
            &[],
            b"",
        )
    };
    run(&mut p, &[rst(1), rst(2), rst(3)], NOW + 6);
    run(&mut p, &[], NOW + 7);
    assert_eq!(
        p.counters().events.synproxy_off,
        0,
        "2 is not below half of 4"
    );
    run(&mut p, &[rst(4)], NOW + 8);
    run(&mut p, &[], NOW + 9);
    assert_eq!(p.counters().events.synproxy_off, 1);
    let sent = run(&mut p, &[syn(7, 80)], NOW + 10);
    assert_ne!(out(&sent[0]).0.dst, CIP, "forwarded again");
}

#[test]
fn a_splice_is_one_cache_line_per_session_slot() {
    // docs/syn-proxy.md states the figure: capacity x 64 bytes per worker
    // (48 before the window check's edges; aligned so that a spliced
    // segment reads one cache line, as its session does).
    assert_eq!(std::mem::size_of::<super::synproxy::Splice>(), 64);
    assert_eq!(std::mem::align_of::<super::synproxy::Splice>(), 64);
}

/// An ICMP error from the client's side quoting a segment we sent the
/// client (its sequence number in the cookie's space) reaches the backend
/// quoting the segment as the backend sent it: in the backend's space,
/// checksums (ICMP, and the quoted TCP one when quoted whole) still right.
#[test]
fn an_icmp_error_quoting_a_spliced_segment_reaches_the_backend_in_its_space() {
    let mut p = proxied(Mode::Nat);
    let (isn, ts) = handshake_with_client(&mut p);
    let ack = client(
        CLIENT_ISN + 1,
        Some(isn + 1),
        ACK,
        &[Opt::Noop, Opt::Noop, Opt::Timestamp(101, ts)],
        b"",
    );
    run(&mut p, &[ack], NOW + 1);
    let syn_ack = seg(
        (RS1, OURS),
        (RIP1, CIP),
        (8080, CPORT),
        (BACKEND_ISN, Some(CLIENT_ISN + 1)),
        SYN,
        65535,
        &[Opt::MaximumSegmentSize(1460)],
        b"",
    );
    run(&mut p, &[syn_ack], NOW + 2);
    assert_eq!(p.counters().events.synproxy_spliced, 1);
    // Our segment to the client, as it left: VIP:80 -> CIP, cookie space.
    let ours = seg(
        (OURS, ROUTER),
        (VIP, CIP),
        (80, CPORT),
        (isn + 1 + 500, Some(CLIENT_ISN + 1)),
        ACK,
        502,
        &[],
        &[7u8; 40],
    );
    for quote_len in [28, 80] {
        let mut err = crate::testutil::icmp_error_frame(
            [203, 0, 113, 1],
            VIP,
            3,
            4,
            1400,
            &ours[14..],
            quote_len,
        );
        err[..6].copy_from_slice(&OURS);
        err[6..12].copy_from_slice(&ROUTER);
        let sent = run(&mut p, &[err], NOW + 3);
        assert_eq!(sent.len(), 1, "to the backend");
        let f = &sent[0];
        let s = seen(f);
        assert_eq!((s.dst, s.macs.1), (RIP1, RS1));
        // The quote: RIP1:8080 -> CIP:40000, in the backend's space.
        assert_eq!(&f[42 + 12..42 + 20], &[10, 0, 1, 11, 198, 51, 100, 7]);
        assert_eq!(&f[62..66], &[0x1f, 0x90, 0x9c, 0x40]);
        let seq = u32::from_be_bytes([f[66], f[67], f[68], f[69]]);
        assert_eq!(seq, BACKEND_ISN + 1 + 500, "quote of {quote_len} bytes");
        assert_eq!(
            crate::checksum::checksum(&f[34..]),
            0,
            "the ICMP checksum verifies"
        );
        if quote_len == 80 {
            // The quoted TCP segment whole: its checksum verifies too.
            let src = std::net::Ipv4Addr::new(10, 0, 1, 11);
            let dst = std::net::Ipv4Addr::new(198, 51, 100, 7);
            assert!(crate::checksum::l4_verifies(
                src,
                dst,
                IpProto::TCP,
                &f[62..]
            ));
        }
    }
    assert_eq!(p.counters().events.icmp_errors_translated, 2);
}
