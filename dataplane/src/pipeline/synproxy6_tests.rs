//! The SYN proxy on IPv6 NAT and FULLNAT services, on in-memory ports
//! (`synproxy6.rs`): the cookie SYN-ACK over IPv6 with no session (MSS
//! from IPv6's table), the cookie ACK opening the backend side, the
//! backend handshake, the splice both ways (SACK, timestamps, window
//! rescale), the backend's RST, bad input dropped by the IPv4 proxy's
//! counters, automatic mode on an IPv6 service, and no sync record for a
//! proxied IPv6 session. Every frame that comes out is decoded by
//! etherparse and its TCP checksum verified over IPv6's pseudo-header.

use std::net::Ipv6Addr;

use etherparse::{PacketBuilder, SlicedPacket, TcpHeader, TcpOptionElement as Opt, TransportSlice};

use super::forward6_tests::{service6, CLIENT6, RIP6, VIP6};
use super::nat6_tests::{config_nat6, CLIENT_MAC};
use super::synproxy_tests::{options_of, timestamp_of, BACKEND_ISN, CLIENT_ISN, CPORT, NOW};
use super::tests::*;
use super::Pipeline;
use crate::buf::TestBuf;
use crate::synproxy::cookie::{self, PERIOD_MS};
use crate::tables::{LbConfig, Mode, ServiceSpec};
use crate::wire::ethernet::MacAddr;

const LADDR6: &str = "2001:db8:1::100";

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

/// An IPv6 TCP segment with every field chosen.
#[allow(clippy::too_many_arguments)] // a test frame: every header field
fn seg6(
    macs: ([u8; 6], [u8; 6]),
    (src, dst): (&str, &str),
    ports: (u16, u16),
    (seq, ack): (u32, Option<u32>),
    flags: u8,
    window: u16,
    opts: &[Opt],
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(v6(src).octets(), v6(dst).octets(), 57)
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

fn client(seq: u32, ack: Option<u32>, flags: u8, opts: &[Opt], payload: &[u8]) -> Vec<u8> {
    seg6(
        (CLIENT_MAC, OURS),
        (CLIENT6, VIP6),
        (CPORT, 80),
        (seq, ack),
        flags,
        502,
        opts,
        payload,
    )
}

fn client_syn(mss: u16) -> Vec<u8> {
    client(
        CLIENT_ISN,
        None,
        SYN,
        &[
            Opt::MaximumSegmentSize(mss),
            Opt::SelectiveAcknowledgementPermitted,
            Opt::Timestamp(100, 0),
            Opt::Noop,
            Opt::WindowScale(7),
        ],
        b"",
    )
}

/// What came out of an IPv6 TCP frame: MACs, source and destination
/// (address, port), hop limit, the TCP header and the payload; the TCP
/// checksum verified over IPv6's pseudo-header.
struct Out6 {
    macs: ([u8; 6], [u8; 6]),
    src: (Ipv6Addr, u16),
    dst: (Ipv6Addr, u16),
    tcp: TcpHeader,
    payload: Vec<u8>,
}

fn out6(f: &[u8]) -> Out6 {
    let p = SlicedPacket::from_ethernet(f).expect("decodes");
    let Some(etherparse::LinkSlice::Ethernet2(eth)) = &p.link else {
        panic!("ethernet")
    };
    let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
        panic!("not IPv6")
    };
    let h = ip.header().to_header();
    assert_eq!(
        usize::from(h.payload_length) + 40 + 14,
        f.len(),
        "payload length"
    );
    let Some(TransportSlice::Tcp(t)) = &p.transport else {
        panic!("not TCP")
    };
    let tcp = t.to_header();
    let want = tcp.calc_checksum_ipv6(&h, t.payload()).expect("sums");
    assert_eq!(want, tcp.checksum, "TCP checksum over IPv6");
    Out6 {
        macs: (eth.destination(), eth.source()),
        src: (Ipv6Addr::from(h.source), tcp.source_port),
        dst: (Ipv6Addr::from(h.destination), tcp.destination_port),
        payload: t.payload().to_vec(),
        tcp,
    }
}

fn proxied6_service(mode: Mode) -> ServiceSpec {
    let mut s = service6(IpProto::TCP);
    s.mode = mode;
    s.syn_proxy = true;
    s.backends.truncate(1);
    s.backends[0].port = 8080;
    if mode == Mode::FullNat {
        s.local_addrs = Vec::new();
        s.local_addrs6 = vec![v6(LADDR6)];
        s.local_ports = (40000, 40000);
    }
    s
}

fn started(cfg: &LbConfig) -> Pipeline<TestBuf> {
    let mut p = pipeline(cfg);
    // The neighbours learned now (as `learn_all`), fresh at NOW.
    for (a, mac) in [(RIP6[0], RS1), (RIP6[1], RS2), (CLIENT6, CLIENT_MAC)] {
        p.path
            .egress
            .neighbours6
            .learn(v6(a), MacAddr(mac), NOW, true, |_, _| {});
    }
    // The first tick at NOW rotates the secrets made at 0, so a test's
    // cookies all come from one pair.
    run(&mut p, &[], NOW);
    p
}

fn proxied6(mode: Mode) -> Pipeline<TestBuf> {
    started(&config_nat6(vec![proxied6_service(mode)]))
}

fn sessions6(p: &Pipeline<TestBuf>) -> usize {
    p.path.flow.sessions6().iter().count()
}

/// Runs the client's SYN: returns our SYN-ACK's ISN and TSval.
fn handshake_with_client(p: &mut Pipeline<TestBuf>) -> (u32, u32) {
    let sent = run(p, &[client_syn(1460)], NOW);
    assert_eq!(sent.len(), 1, "one SYN-ACK");
    let o = out6(&sent[0]);
    assert_eq!(
        (o.macs, o.src, o.dst),
        ((CLIENT_MAC, OURS), (v6(VIP6), 80), (v6(CLIENT6), CPORT))
    );
    let t = &o.tcp;
    assert!(t.syn && t.ack && !t.rst && !t.fin);
    assert_eq!(t.acknowledgment_number, CLIENT_ISN + 1);
    let (tsval, tsecr) = timestamp_of(t).expect("timestamp");
    assert_eq!(tsecr, 100, "echoes the client's TSval");
    let opts = options_of(t);
    // IPv6's table: 1460 rounds down to 1440 (1500 less 60).
    assert!(opts.contains(&Opt::MaximumSegmentSize(1440)), "{opts:?}");
    assert!(opts.contains(&Opt::WindowScale(super::synproxy::OUR_WSCALE)));
    assert!(opts.contains(&Opt::SelectiveAcknowledgementPermitted));
    let echoed = cookie::decode_timestamp_cookie(tsval);
    assert_eq!((echoed.wscale, echoed.sack), (Some(7), true));
    (t.sequence_number, tsval)
}

#[test]
fn an_ipv6_syn_is_answered_with_a_cookie_and_no_session() {
    let mut p = proxied6(Mode::Nat);
    let (isn, _) = handshake_with_client(&mut p);
    assert_eq!(sessions6(&p), 0, "no session for a SYN");
    let c = p.counters();
    assert_eq!(c.events.synproxy_syn_answered, 1);
    assert_eq!(c.events.sessions_created, 0);
    let (again, _) = handshake_with_client(&mut p);
    assert_eq!(again, isn, "nothing kept, nothing moved");
    // IPv6's MSS table: 1220, 1420, 1440 and 8940.
    for (theirs, ours) in [(1000, 1220), (1430, 1420), (9000, 8940)] {
        let sent = run(&mut p, &[client_syn(theirs)], NOW);
        let opts = options_of(&out6(&sent[0]).tcp);
        assert!(opts.contains(&Opt::MaximumSegmentSize(ours)), "{opts:?}");
    }
}

/// The whole life of a proxied IPv6 connection through `mode`, where the
/// backend sees the client as `src`.
fn splice_both_ways6(mode: Mode, src: &str) {
    let mut p = proxied6(mode);
    let (cookie_isn, our_ts) = handshake_with_client(&mut p);
    let (src, rip) = (v6(src), v6(RIP6[0]));

    // The cookie ACK: a session, and our SYN to the backend.
    let ack = client(
        CLIENT_ISN + 1,
        Some(cookie_isn + 1),
        ACK,
        &[Opt::Noop, Opt::Noop, Opt::Timestamp(101, our_ts)],
        b"",
    );
    let sent = run(&mut p, &[ack], NOW + 1);
    assert_eq!(sent.len(), 1, "{:?}", p.counters().drops);
    let o = out6(&sent[0]);
    assert_eq!((o.macs.0, o.src.0, o.dst), (RS1, src, (rip, 8080)));
    let lport = o.src.1;
    let t = &o.tcp;
    assert!(t.syn && !t.ack);
    assert_eq!(t.sequence_number, CLIENT_ISN, "the client's own ISN");
    let opts = options_of(t);
    assert!(opts.contains(&Opt::MaximumSegmentSize(1440)), "{opts:?}");
    assert!(opts.contains(&Opt::WindowScale(7)), "{opts:?}");
    assert!(opts.contains(&Opt::SelectiveAcknowledgementPermitted));
    assert_eq!(timestamp_of(t), Some((101, 0)));
    assert_eq!(sessions6(&p), 1);
    assert_eq!(p.counters().events.synproxy_cookie_accepted, 1);

    let backend = |seq, ack, flags, win, opts: &[Opt], data: &[u8]| {
        seg6(
            (RS1, OURS),
            (RIP6[0], &src.to_string()),
            (8080, lport),
            (seq, Some(ack)),
            flags,
            win,
            opts,
            data,
        )
    };
    // The backend's SYN-ACK: answered here with our ACK.
    let syn_ack = backend(
        BACKEND_ISN,
        CLIENT_ISN + 1,
        SYN,
        65535,
        &[
            Opt::MaximumSegmentSize(1440),
            Opt::SelectiveAcknowledgementPermitted,
            Opt::Timestamp(5000, 101),
            Opt::Noop,
            Opt::WindowScale(9),
        ],
        b"",
    );
    let sent = run(&mut p, &[syn_ack], NOW + 2);
    assert_eq!(sent.len(), 1, "{:?}", p.counters().drops);
    let o = out6(&sent[0]);
    assert_eq!(
        (o.macs, o.src, o.dst),
        ((RS1, OURS), (src, lport), (rip, 8080))
    );
    let t = &o.tcp;
    assert!(t.ack && !t.syn);
    assert_eq!(
        (t.sequence_number, t.acknowledgment_number),
        (CLIENT_ISN + 1, BACKEND_ISN + 1)
    );
    assert_eq!(timestamp_of(t), Some((101, 5000)));
    assert_eq!(t.window_size, 502, "the client's window");
    assert_eq!(p.counters().events.synproxy_spliced, 1);

    // Client data with a SACK block: into the backend's space.
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
    let o = out6(&sent[0]);
    assert_eq!((o.src, o.dst), ((src, lport), (rip, 8080)));
    let t = &o.tcp;
    assert_eq!(
        (t.sequence_number, t.acknowledgment_number),
        (CLIENT_ISN + 1, BACKEND_ISN + 1)
    );
    assert_eq!(timestamp_of(t), Some((102, 5000)));
    assert!(options_of(t).contains(&Opt::SelectiveAcknowledgement(
        (BACKEND_ISN + 10, BACKEND_ISN + 20),
        [None, None, None]
    )));
    assert_eq!(o.payload, b"GET / HTTP/1.0\r\n\r\n");

    // Backend data with a SACK block: into the cookie's space, TSval onto
    // our clock, the window rescaled from 2^9 to 2^7.
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
    let o = out6(&sent[0]);
    assert_eq!(
        (o.macs.0, o.src, o.dst),
        (CLIENT_MAC, (v6(VIP6), 80), (v6(CLIENT6), CPORT))
    );
    let t = &o.tcp;
    assert_eq!(
        (t.sequence_number, t.acknowledgment_number),
        (cookie_isn + 1, CLIENT_ISN + 19)
    );
    assert_eq!(timestamp_of(t), Some((our_ts + 1, 102)));
    assert!(options_of(t).contains(&Opt::SelectiveAcknowledgement(
        (CLIENT_ISN + 30, CLIENT_ISN + 40),
        [None, None, None]
    )));
    assert_eq!(t.window_size, 400);
    assert_eq!(o.payload, b"HTTP/1.0 200 OK\r\n\r\n");

    // The usual segment (NOP NOP TS, no SACK): the straight path.
    let next = client(
        CLIENT_ISN + 19,
        Some(cookie_isn + 20),
        ACK,
        &[Opt::Noop, Opt::Noop, Opt::Timestamp(103, our_ts + 1)],
        b"more",
    );
    let sent = run(&mut p, &[next], NOW + 5);
    let t = out6(&sent[0]).tcp;
    assert_eq!(
        (t.sequence_number, t.acknowledgment_number),
        (CLIENT_ISN + 19, BACKEND_ISN + 20)
    );
    assert_eq!(timestamp_of(&t), Some((103, 5001)));
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
fn nat6_splices_both_directions_with_sack_and_timestamps() {
    splice_both_ways6(Mode::Nat, CLIENT6);
}

#[test]
fn fullnat6_splices_both_directions_with_sack_and_timestamps() {
    splice_both_ways6(Mode::FullNat, LADDR6);
}

#[test]
fn ipv6_bad_cookies_and_stray_segments_are_dropped_by_name() {
    let mut p = proxied6(Mode::Nat);
    let (isn, ts) = handshake_with_client(&mut p);
    let ts_opt = [Opt::Noop, Opt::Noop, Opt::Timestamp(101, ts)];
    let frames = [
        client(CLIENT_ISN + 1, Some(isn.wrapping_add(2)), ACK, &ts_opt, b""),
        client(CLIENT_ISN + 5, Some(isn + 1), ACK, &ts_opt, b""),
        client(7, Some(7), ACK, &[], b"data without a handshake"),
    ];
    assert!(run(&mut p, &frames, NOW + 1).is_empty());
    assert_eq!(drops(&p, DropReason::SynProxyBadCookie), 3);
    // The right cookie for another client address: the tuple is hashed.
    let other = seg6(
        (CLIENT_MAC, OURS),
        ("2001:db8:2::8", VIP6),
        (CPORT, 80),
        (CLIENT_ISN + 1, Some(isn + 1)),
        ACK,
        502,
        &ts_opt,
        b"",
    );
    assert!(run(&mut p, &[other], NOW + 1).is_empty());
    assert_eq!(drops(&p, DropReason::SynProxyBadCookie), 4);
    // The right cookie, too late.
    let late = client(CLIENT_ISN + 1, Some(isn + 1), ACK, &ts_opt, b"");
    assert!(run(&mut p, &[late], NOW + 2 * PERIOD_MS + 1).is_empty());
    assert_eq!(drops(&p, DropReason::SynProxyBadCookie), 5);
    let stray = [
        client(1, None, tcp_flags::RST, &[], b""),
        client(1, None, tcp_flags::FIN, &[], b""),
        client(1, Some(1), SYN | ACK, &[], b""),
        client(1, None, 0, &[], b""),
    ];
    assert!(run(&mut p, &stray, NOW + 3).is_empty());
    assert_eq!(drops(&p, DropReason::SynProxyNoSession), 4);
    // A SYN whose options run past its header.
    let mut bad = client_syn(1460);
    let opt_start = 14 + 40 + 20;
    bad[opt_start + 1] = 40; // the MSS option's length
    assert!(run(&mut p, &[bad], NOW + 4).is_empty());
    assert_eq!(drops(&p, DropReason::SynProxyBadOptions), 1);
    assert_eq!(sessions6(&p), 0, "nothing reached a backend");
    assert_eq!(p.counters().events.sessions_created, 0);
}

/// A spliced NAT6 connection (client without timestamps or scaling):
/// our SYN-ACK's ISN and the backend's local port.
fn spliced_plain(p: &mut Pipeline<TestBuf>) -> u32 {
    let syn = client(CLIENT_ISN, None, SYN, &[], b"");
    let isn = out6(&run(p, &[syn], NOW)[0]).tcp.sequence_number;
    let ack = client(CLIENT_ISN + 1, Some(isn + 1), ACK, &[], b"");
    let sent = run(p, &[ack], NOW + 1);
    let t = out6(&sent[0]).tcp;
    assert!(t.syn);
    assert_eq!(
        options_of(&t)
            .into_iter()
            .filter(|o| *o != Opt::Noop)
            .collect::<Vec<_>>(),
        vec![Opt::MaximumSegmentSize(1220)],
        "no MSS: IPv6's default, and nothing else without timestamps"
    );
    let syn_ack = seg6(
        (RS1, OURS),
        (RIP6[0], CLIENT6),
        (8080, CPORT),
        (BACKEND_ISN, Some(CLIENT_ISN + 1)),
        SYN,
        65535,
        &[],
        b"",
    );
    assert_eq!(run(p, &[syn_ack], NOW + 2).len(), 1);
    isn
}

#[test]
fn ipv6_segments_outside_the_window_are_dropped_and_the_connection_goes_on() {
    let mut p = proxied6(Mode::Nat);
    let isn = spliced_plain(&mut p);
    // Acknowledging what the backend never sent, and data far past the
    // backend's window.
    let bad = [
        client(CLIENT_ISN + 1, Some(isn + 1_000_000), ACK, &[], b"x"),
        client(CLIENT_ISN + 10_000_000, Some(isn + 1), ACK, &[], b"x"),
    ];
    assert!(run(&mut p, &bad, NOW + 3).is_empty());
    assert_eq!(drops(&p, DropReason::SynProxyOutOfWindow), 2);
    let good = client(CLIENT_ISN + 1, Some(isn + 1), ACK, &[], b"GET /");
    let sent = run(&mut p, &[good], NOW + 4);
    let o = out6(&sent[0]);
    assert_eq!(o.dst, (v6(RIP6[0]), 8080));
    assert_eq!(o.tcp.acknowledgment_number, BACKEND_ISN + 1);
}

#[test]
fn ipv6_client_segments_before_the_backend_answers_resend_the_syn() {
    let mut p = proxied6(Mode::Nat);
    let syn = client(CLIENT_ISN, None, SYN, &[], b"");
    let isn = out6(&run(&mut p, &[syn], NOW)[0]).tcp.sequence_number;
    let ack = client(CLIENT_ISN + 1, Some(isn + 1), ACK, &[], b"");
    let data = client(CLIENT_ISN + 1, Some(isn + 1), ACK, &[], b"early");
    let sent = run(&mut p, &[ack, data], NOW + 1);
    assert_eq!(sent.len(), 2);
    for f in &sent {
        let o = out6(f);
        assert_eq!(
            (o.dst.0, o.tcp.syn, o.tcp.sequence_number),
            (v6(RIP6[0]), true, CLIENT_ISN)
        );
        assert!(o.payload.is_empty());
    }
    let c = p.counters();
    assert_eq!(
        (c.events.synproxy_syn_resent, c.events.synproxy_early_data),
        (1, 1)
    );
    // The backend refuses: the client hears a RST in its own space.
    let rst = seg6(
        (RS1, OURS),
        (RIP6[0], CLIENT6),
        (8080, CPORT),
        (0, Some(CLIENT_ISN + 1)),
        tcp_flags::RST,
        0,
        &[],
        b"",
    );
    let sent = run(&mut p, &[rst], NOW + 2);
    let o = out6(&sent[0]);
    assert_eq!((o.src, o.dst), ((v6(VIP6), 80), (v6(CLIENT6), CPORT)));
    assert!(o.tcp.rst);
    assert_eq!(o.tcp.sequence_number, isn + 1);
}

#[test]
fn automatic_mode_proxies_ipv6_nat_services() {
    let mut nat = service6(IpProto::TCP);
    nat.mode = Mode::Nat;
    nat.backends.iter_mut().for_each(|b| b.port = 8080);
    let mut cfg = config_nat6(vec![nat]);
    cfg.synproxy.auto_threshold = 2;
    let mut p = started(&cfg);
    let syn = |port: u16| {
        seg6(
            (CLIENT_MAC, OURS),
            (CLIENT6, VIP6),
            (port, 80),
            (CLIENT_ISN, None),
            SYN,
            502,
            &[],
            b"",
        )
    };
    // Below the threshold SYNs go to backends (and count as half-open).
    let sent = run(&mut p, &[syn(1), syn(2)], NOW);
    assert!(sent.iter().all(|f| out6(f).dst.0 != v6(CLIENT6)));
    run(&mut p, &[], NOW + 1);
    assert_eq!(p.counters().events.synproxy_on, 1);
    let sent = run(&mut p, &[syn(3)], NOW + 2);
    let o = out6(&sent[0]);
    assert_eq!(
        (o.dst.0, o.tcp.syn, o.tcp.ack),
        (v6(CLIENT6), true, true),
        "a cookie SYN-ACK"
    );
    assert_eq!(sessions6(&p), 2);
}
