//! The PROXY protocol header on TCP sessions, on in-memory ports: the
//! header in front of the client's first byte (and again on a
//! retransmission of that segment, byte for byte), the client's sequence
//! numbers shifted after it and the backend's acknowledgments and SACK
//! blocks shifted back, the SYN-ACK's MSS lowered, whoever speaks first,
//! with and without the SYN proxy, NAT and FULLNAT; a service without the
//! key untouched; what does not fit dropped by name. Every frame that
//! comes out is decoded by etherparse and its checksums verified (`out`).

use etherparse::TcpOptionElement as Opt;

use super::synproxy_tests::{
    client, client_syn, options_of, out, seg, timestamp_of, BACKEND_ISN, CLIENT_ISN, CPORT, NOW,
};
use super::tests::*;
use super::Pipeline;
use crate::buf::TestBuf;
use crate::client_addr::proxy_header::{Endpoints, ProxyVersion};
use crate::client_addr::tcp::Header;
use crate::tables::{Mode, ServiceSpec};

const LIP0: [u8; 4] = [10, 0, 1, 100];
const GET: &[u8] = b"GET / HTTP/1.0\r\n\r\n";

fn pp_service(mode: Mode, v: ProxyVersion) -> ServiceSpec {
    let mut s = service(mode, IpProto::TCP);
    s.proxy_protocol = Some(v);
    s.backends.truncate(1);
    s
}

/// The header the backend must read: the client and the VIP it dialled.
fn header(v: ProxyVersion) -> Vec<u8> {
    let ends = Endpoints {
        src: (ip(CIP), CPORT),
        dst: (ip(VIP), 80),
    };
    Header::new(v, ends).as_bytes().to_vec()
}

/// Where the backend sees the client come from.
fn backend_side(mode: Mode) -> [u8; 4] {
    match mode {
        Mode::FullNat => LIP0,
        _ => CIP,
    }
}

/// A segment from the backend to `(src, port)`, acknowledging `ack`.
fn backend(
    to: ([u8; 4], u16),
    (seq, ack): (u32, u32),
    flags: u8,
    opts: &[Opt],
    data: &[u8],
) -> Vec<u8> {
    seg(
        (RS1, OURS),
        (RIP1, to.0),
        (8080, to.1),
        (seq, Some(ack)),
        flags,
        1000,
        opts,
        data,
    )
}

fn mss_of(frame: &[u8]) -> Option<u16> {
    options_of(&out(frame).1).into_iter().find_map(|o| match o {
        Opt::MaximumSegmentSize(m) => Some(m),
        _ => None,
    })
}

fn no_drops(p: &Pipeline<TestBuf>) {
    let c = p.counters();
    let n: u64 = c.drops.iter().map(|(_, n)| n).sum();
    assert_eq!(n, 0, "{:?}", c.drops);
}

/// The client's SYN and the backend's SYN-ACK through a service with a
/// header of `n` bytes: returns where the backend sees the client.
fn handshake(p: &mut Pipeline<TestBuf>, mode: Mode, n: u16) -> ([u8; 4], u16) {
    let sent = run(p, &[client_syn()], NOW);
    assert_eq!(sent.len(), 1);
    let (s, t, _) = out(&sent[0]);
    assert_eq!((s.src, s.dst), (backend_side(mode), RIP1));
    assert!(t.syn && !t.ack);
    assert_eq!(t.sequence_number, CLIENT_ISN, "the SYN is not shifted");
    assert_eq!(mss_of(&sent[0]), Some(1460), "the client's MSS untouched");
    let to = (s.src, s.ports.0);
    let syn_ack = backend(
        to,
        (BACKEND_ISN, CLIENT_ISN + 1),
        SYN,
        &[Opt::MaximumSegmentSize(1460), Opt::Timestamp(5000, 100)],
        b"",
    );
    let sent = run(p, &[syn_ack], NOW);
    assert_eq!(sent.len(), 1);
    let (s, t, _) = out(&sent[0]);
    assert_eq!((s.src, s.dst, s.ports), (VIP, CIP, (80, CPORT)));
    assert!(t.syn && t.ack);
    assert_eq!(
        (t.sequence_number, t.acknowledgment_number),
        (BACKEND_ISN, CLIENT_ISN + 1),
        "the SYN-ACK acknowledges the client's ISN + 1: inside the header, so the first byte"
    );
    assert_eq!(mss_of(&sent[0]), Some(1460 - n), "room for the header");
    to
}

/// A whole connection: handshake, the first request with the header, its
/// retransmission, more data with SACK both ways, the backend's answer
/// and the client's FIN.
fn connection(mode: Mode, v: ProxyVersion) {
    let mut p = pipeline(&config(vec![pp_service(mode, v)]));
    let h = header(v);
    let n = h.len() as u32;
    let to = handshake(&mut p, mode, n as u16);
    let ts = [Opt::Noop, Opt::Noop, Opt::Timestamp(102, 5000)];

    // The handshake's ACK: no data, no header, no shift.
    let ack = client(CLIENT_ISN + 1, Some(BACKEND_ISN + 1), ACK, &ts, b"");
    let sent = run(&mut p, &[ack], NOW);
    let (_, t, data) = out(&sent[0]);
    assert_eq!(t.sequence_number, CLIENT_ISN + 1);
    assert!(data.is_empty());

    // The first request: the header in front of it, at the first byte.
    let req = client(CLIENT_ISN + 1, Some(BACKEND_ISN + 1), ACK, &ts, GET);
    let sent = run(&mut p, std::slice::from_ref(&req), NOW);
    let (s, t, data) = out(&sent[0]);
    assert_eq!((s.src, s.dst, s.ports), (to.0, RIP1, (to.1, 8080)));
    assert_eq!(
        (t.sequence_number, t.acknowledgment_number),
        (CLIENT_ISN + 1, BACKEND_ISN + 1)
    );
    assert_eq!(timestamp_of(&t), Some((102, 5000)));
    let mut want = h.clone();
    want.extend_from_slice(GET);
    assert_eq!(data, want, "header then request");
    assert_eq!(sent[0].len(), req.len() + h.len());
    let first = sent[0].clone();

    // Its retransmission: the same header again, the same bytes.
    let again = run(&mut p, &[req], NOW + 200);
    assert_eq!(again, vec![first], "byte for byte the first one");

    // More data, with a SACK block of the backend's bytes: the sequence
    // number moves by the header, the SACK block (backend space) not.
    let more = client(
        CLIENT_ISN + 1 + GET.len() as u32,
        Some(BACKEND_ISN + 1),
        ACK,
        &[
            Opt::Noop,
            Opt::Noop,
            Opt::SelectiveAcknowledgement((BACKEND_ISN + 10, BACKEND_ISN + 20), [None, None, None]),
        ],
        b"more",
    );
    let sent = run(&mut p, &[more], NOW);
    let (_, t, data) = out(&sent[0]);
    assert_eq!(t.sequence_number, CLIENT_ISN + 1 + n + GET.len() as u32);
    assert_eq!(t.acknowledgment_number, BACKEND_ISN + 1);
    assert!(options_of(&t).contains(&Opt::SelectiveAcknowledgement(
        (BACKEND_ISN + 10, BACKEND_ISN + 20),
        [None, None, None]
    )));
    assert_eq!(data, b"more");

    // The backend's answer acknowledges header + request, and SACKs from
    // inside the header to past it: all shifted back by the header.
    let end = CLIENT_ISN + 1 + n + GET.len() as u32;
    let answer = backend(
        to,
        (BACKEND_ISN + 1, end),
        ACK,
        &[
            Opt::Noop,
            Opt::Noop,
            Opt::SelectiveAcknowledgement((CLIENT_ISN + 5, end + 4), [None, None, None]),
        ],
        b"HTTP/1.0 200 OK\r\n\r\n",
    );
    let sent = run(&mut p, &[answer], NOW);
    let (s, t, data) = out(&sent[0]);
    assert_eq!((s.src, s.dst), (VIP, CIP));
    assert_eq!(
        (t.sequence_number, t.acknowledgment_number),
        (BACKEND_ISN + 1, CLIENT_ISN + 1 + GET.len() as u32)
    );
    assert!(options_of(&t).contains(&Opt::SelectiveAcknowledgement(
        (CLIENT_ISN + 1, CLIENT_ISN + 1 + GET.len() as u32 + 4),
        [None, None, None]
    )));
    assert_eq!(data, b"HTTP/1.0 200 OK\r\n\r\n");

    // The client's FIN after its data: shifted, no header.
    let at = CLIENT_ISN + 1 + GET.len() as u32 + 4;
    let fin = client(at, Some(BACKEND_ISN + 20), ACK | tcp_flags::FIN, &[], b"");
    let sent = run(&mut p, &[fin], NOW);
    let (_, t, data) = out(&sent[0]);
    assert!(t.fin);
    assert_eq!(t.sequence_number, at + n);
    assert!(data.is_empty());

    no_drops(&p);
    let e = p.counters().events;
    assert_eq!(
        (
            e.proxy_tcp_added,
            e.proxy_tcp_resent,
            e.proxy_tcp_mss_lowered
        ),
        (1, 1, 1)
    );
}

#[test]
fn fullnat_v2_header_before_the_first_byte_and_the_shift_both_ways() {
    connection(Mode::FullNat, ProxyVersion::V2);
}

#[test]
fn fullnat_v1_header_before_the_first_byte_and_the_shift_both_ways() {
    connection(Mode::FullNat, ProxyVersion::V1);
}

#[test]
fn nat_v1_and_v2_headers_before_the_first_byte_and_the_shift_both_ways() {
    connection(Mode::Nat, ProxyVersion::V1);
    connection(Mode::Nat, ProxyVersion::V2);
}

#[test]
fn when_the_backend_speaks_first_the_header_still_leads_the_clients_bytes() {
    let v = ProxyVersion::V2;
    let mut p = pipeline(&config(vec![pp_service(Mode::FullNat, v)]));
    let h = header(v);
    let to = handshake(&mut p, Mode::FullNat, h.len() as u16);
    let banner = b"220 hello\r\n";
    let sent = run(
        &mut p,
        &[backend(
            to,
            (BACKEND_ISN + 1, CLIENT_ISN + 1),
            ACK,
            &[],
            banner,
        )],
        NOW,
    );
    let (_, t, data) = out(&sent[0]);
    assert_eq!(t.acknowledgment_number, CLIENT_ISN + 1);
    assert_eq!(data, banner);
    let b_next = BACKEND_ISN + 1 + banner.len() as u32;
    // The client acknowledges the banner (no data: nothing inserted),
    // then sends its first bytes: the header goes in front of them.
    let ack = client(CLIENT_ISN + 1, Some(b_next), ACK, &[], b"");
    let req = client(CLIENT_ISN + 1, Some(b_next), ACK, &[], b"HELO x\r\n");
    let sent = run(&mut p, &[ack, req], NOW);
    assert_eq!(sent.len(), 2);
    let (_, t, data) = out(&sent[0]);
    assert_eq!((t.sequence_number, data.len()), (CLIENT_ISN + 1, 0));
    let (_, t, data) = out(&sent[1]);
    assert_eq!(t.sequence_number, CLIENT_ISN + 1);
    assert_eq!(&data[..h.len()], &h[..]);
    assert_eq!(&data[h.len()..], b"HELO x\r\n");
    no_drops(&p);
}

#[test]
fn a_client_that_only_closes_sends_the_header_with_its_fin() {
    let v = ProxyVersion::V1;
    let mut p = pipeline(&config(vec![pp_service(Mode::FullNat, v)]));
    let h = header(v);
    let to = handshake(&mut p, Mode::FullNat, h.len() as u16);
    let fin = client(
        CLIENT_ISN + 1,
        Some(BACKEND_ISN + 1),
        ACK | tcp_flags::FIN,
        &[],
        b"",
    );
    let sent = run(&mut p, &[fin], NOW);
    let (_, t, data) = out(&sent[0]);
    assert!(t.fin);
    assert_eq!((t.sequence_number, data), (CLIENT_ISN + 1, h.clone()));
    // The backend acknowledging header and FIN acknowledges the FIN.
    let n = h.len() as u32;
    let sent = run(
        &mut p,
        &[backend(
            to,
            (BACKEND_ISN + 1, CLIENT_ISN + 2 + n),
            ACK,
            &[],
            b"",
        )],
        NOW,
    );
    assert_eq!(out(&sent[0]).1.acknowledgment_number, CLIENT_ISN + 2);
    no_drops(&p);
}

#[test]
fn a_service_without_proxy_protocol_gets_no_header_beside_one_with_it() {
    let mut plain = service(Mode::FullNat, IpProto::TCP);
    plain.port = 81;
    plain.backends.truncate(1);
    let mut p = pipeline(&config(vec![
        pp_service(Mode::FullNat, ProxyVersion::V2),
        plain,
    ]));
    let to81 = |seq, ack, flags, data: &[u8]| {
        seg(
            (ROUTER, OURS),
            (CIP, VIP),
            (CPORT, 81),
            (seq, ack),
            flags,
            502,
            &[Opt::MaximumSegmentSize(1460)],
            data,
        )
    };
    let sent = run(&mut p, &[to81(CLIENT_ISN, None, SYN, b"")], NOW);
    let (s, _, _) = out(&sent[0]);
    let to = (s.src, s.ports.0);
    let syn_ack = backend(
        to,
        (BACKEND_ISN, CLIENT_ISN + 1),
        SYN,
        &[Opt::MaximumSegmentSize(1460)],
        b"",
    );
    let sent = run(&mut p, &[syn_ack], NOW);
    assert_eq!(mss_of(&sent[0]), Some(1460), "not lowered");
    let req = to81(CLIENT_ISN + 1, Some(BACKEND_ISN + 1), ACK, GET);
    let sent = run(&mut p, std::slice::from_ref(&req), NOW);
    let (_, t, data) = out(&sent[0]);
    assert_eq!((t.sequence_number, data.as_slice()), (CLIENT_ISN + 1, GET));
    assert_eq!(sent[0].len(), req.len());
    let answer = backend(
        to,
        (BACKEND_ISN + 1, CLIENT_ISN + 1 + GET.len() as u32),
        ACK,
        &[],
        b"ok",
    );
    let sent = run(&mut p, &[answer], NOW);
    assert_eq!(
        out(&sent[0]).1.acknowledgment_number,
        CLIENT_ISN + 1 + GET.len() as u32
    );
    let e = p.counters().events;
    assert_eq!((e.proxy_tcp_added, e.proxy_tcp_mss_lowered), (0, 0));
}

#[test]
fn what_cannot_carry_the_header_is_dropped_by_name() {
    let v = ProxyVersion::V2;
    let mut p = pipeline(&config(vec![pp_service(Mode::FullNat, v)]));
    handshake(&mut p, Mode::FullNat, 28);
    // A client that ignores the lowered MSS: 1460 bytes + 28 > 1500.
    let big = client(
        CLIENT_ISN + 1,
        Some(BACKEND_ISN + 1),
        ACK,
        &[],
        &[b'x'; 1460],
    );
    assert!(run(&mut p, &[big], NOW).is_empty());
    assert_eq!(drops(&p, DropReason::ProxyHeaderNoRoom), 1);
    // Nothing was sent with the header: the next fitting first segment
    // is its first carrier.
    let sent = run(
        &mut p,
        &[client(CLIENT_ISN + 1, Some(BACKEND_ISN + 1), ACK, &[], GET)],
        NOW,
    );
    assert_eq!(out(&sent[0]).2.len(), 28 + GET.len());
    let e = p.counters().events;
    assert_eq!((e.proxy_tcp_added, e.proxy_tcp_resent), (1, 0));

    // TCP Fast Open data on a SYN would reach the backend before the
    // header: dropped.
    let mut p = pipeline(&config(vec![pp_service(Mode::FullNat, v)]));
    let tfo = client(CLIENT_ISN, None, SYN, &[], b"early");
    assert!(run(&mut p, &[tfo], NOW).is_empty());
    assert_eq!(drops(&p, DropReason::ProxySynData), 1);
}

#[test]
fn with_the_syn_proxy_one_translation_carries_both_shifts() {
    let v = ProxyVersion::V2;
    let h = header(v);
    let n = h.len() as u32;
    let mut s = pp_service(Mode::FullNat, v);
    s.syn_proxy = true;
    let mut p = pipeline(&config(vec![s]));
    run(&mut p, &[], NOW);
    // Our cookie SYN-ACK announces the MSS less the header.
    let sent = run(&mut p, &[client_syn()], NOW);
    let (_, t, _) = out(&sent[0]);
    assert!(t.syn && t.ack);
    assert_eq!(mss_of(&sent[0]), Some(1460 - n as u16));
    let cookie = t.sequence_number;
    let (our_ts, _) = timestamp_of(&t).expect("timestamp");
    let ts = |v| [Opt::Noop, Opt::Noop, Opt::Timestamp(v, our_ts)];

    // The cookie ACK becomes our SYN to the backend: not shifted.
    let ack = client(CLIENT_ISN + 1, Some(cookie + 1), ACK, &ts(101), b"");
    let sent = run(&mut p, &[ack], NOW + 1);
    let (s, t, _) = out(&sent[0]);
    assert!(t.syn && !t.ack);
    assert_eq!(t.sequence_number, CLIENT_ISN);
    let to = (s.src, s.ports.0);
    let syn_ack = backend(
        to,
        (BACKEND_ISN, CLIENT_ISN + 1),
        SYN,
        &[Opt::MaximumSegmentSize(1460), Opt::Timestamp(5000, 101)],
        b"",
    );
    let sent = run(&mut p, &[syn_ack], NOW + 2);
    let (_, t, _) = out(&sent[0]);
    assert!(t.ack && !t.syn);
    assert_eq!(
        t.sequence_number,
        CLIENT_ISN + 1,
        "our ACK: before the header"
    );

    // The request: header in front, its ACK in the backend's space.
    let req = client(CLIENT_ISN + 1, Some(cookie + 1), ACK, &ts(102), GET);
    let sent = run(&mut p, std::slice::from_ref(&req), NOW + 3);
    let (_, t, data) = out(&sent[0]);
    assert_eq!(
        (t.sequence_number, t.acknowledgment_number),
        (CLIENT_ISN + 1, BACKEND_ISN + 1)
    );
    assert_eq!(&data[..h.len()], &h[..]);
    assert_eq!(&data[h.len()..], GET);
    let first = sent[0].clone();
    assert_eq!(run(&mut p, &[req], NOW + 4), vec![first], "retransmitted");
    let more_at = CLIENT_ISN + 1 + GET.len() as u32;
    let more = client(more_at, Some(cookie + 1), ACK, &ts(103), b"more");
    let sent = run(&mut p, &[more], NOW + 5);
    assert_eq!(out(&sent[0]).1.sequence_number, more_at + n);

    // The answer: into the cookie's space, the header taken out of its ACK.
    let answer = backend(
        to,
        (BACKEND_ISN + 1, more_at + n + 4),
        ACK,
        &[Opt::Noop, Opt::Noop, Opt::Timestamp(5001, 103)],
        b"ok",
    );
    let sent = run(&mut p, &[answer], NOW + 6);
    let (s, t, data) = out(&sent[0]);
    assert_eq!((s.src, s.dst), (VIP, CIP));
    assert_eq!(
        (t.sequence_number, t.acknowledgment_number),
        (cookie + 1, more_at + 4)
    );
    assert_eq!(data, b"ok");
    no_drops(&p);
    let e = p.counters().events;
    assert_eq!(
        (e.synproxy_spliced, e.proxy_tcp_added, e.proxy_tcp_resent),
        (1, 1, 1)
    );
}

/// An ICMP error from the backend's side (fragmentation needed, from a
/// router between us and the backend) quoting a segment we sent the
/// backend after the header: it reaches the client quoting the segment as
/// the client sent it, its sequence number out of the header's shift,
/// checksums (ICMP, and the quoted TCP one when quoted whole) right.
#[test]
fn an_icmp_error_from_the_backend_side_quotes_the_clients_own_numbers() {
    for mode in [Mode::Nat, Mode::FullNat] {
        let v = ProxyVersion::V2;
        let mut p = pipeline(&config(vec![pp_service(mode, v)]));
        let n = header(v).len() as u32;
        let to = handshake(&mut p, mode, n as u16);
        let req = client(CLIENT_ISN + 1, Some(BACKEND_ISN + 1), ACK, &[], GET);
        assert_eq!(run(&mut p, &[req], NOW).len(), 1);
        // Our next segment to the backend, as it left: shifted by n.
        let client_seq = CLIENT_ISN + 1 + GET.len() as u32;
        let ours = seg(
            (OURS, RS1),
            (to.0, RIP1),
            (to.1, 8080),
            (client_seq + n, Some(BACKEND_ISN + 1)),
            ACK,
            502,
            &[],
            &[7u8; 40],
        );
        for quote_len in [28, 80] {
            let mut err = crate::testutil::icmp_error_frame(
                [10, 0, 1, 254],
                to.0,
                3,
                4,
                1400,
                &ours[14..],
                quote_len,
            );
            err[..6].copy_from_slice(&OURS);
            err[6..12].copy_from_slice(&RS1);
            let sent = run(&mut p, &[err], NOW + 1);
            assert_eq!(sent.len(), 1, "{mode:?}: to the client");
            let f = &sent[0];
            assert_eq!(seen(f).dst, CIP);
            // The quote: CIP:40000 -> VIP:80, the client's own number.
            assert_eq!(&f[42 + 12..42 + 20], &[CIP, VIP].concat()[..]);
            assert_eq!(&f[62..66], &[0x9c, 0x40, 0, 80]);
            let seq = u32::from_be_bytes([f[66], f[67], f[68], f[69]]);
            assert_eq!(seq, client_seq, "{mode:?}: quote of {quote_len} bytes");
            assert_eq!(crate::checksum::checksum(&f[34..]), 0, "ICMP checksum");
            if quote_len == 80 {
                assert!(crate::checksum::l4_verifies(
                    ip(CIP),
                    ip(VIP),
                    IpProto::TCP,
                    &f[62..]
                ));
            }
        }
        assert_eq!(p.counters().events.icmp_errors_translated, 2);
    }
}
