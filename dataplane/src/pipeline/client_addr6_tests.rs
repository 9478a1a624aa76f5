//! The client's address behind IPv6 NAT and FULLNAT, on in-memory ports
//! (`client_addr6.rs`): the PROXY header (v2 and v1) in front of the
//! client's first byte and again on a retransmission of that segment, the
//! client's later sequence numbers shifted and the backend's
//! acknowledgments shifted back, the SYN-ACK's MSS lowered; TOA's 20-byte
//! option on the handshake's ACK and the SYN's MSS lowered by 20; PROXY v2
//! on a UDP session's first datagram only; a SYN with data dropped. Every
//! frame that comes out is decoded by etherparse and its IPv6 checksum
//! verified (`decode`).

use std::net::Ipv6Addr;

use etherparse::{PacketBuilder, PacketHeaders, TcpOptionElement as Opt, TransportHeader};

use super::forward6_tests::{CLIENT6, RIP6, VIP6};
use super::nat6_tests::{config_nat6, learn_all, CLIENT_MAC};
use super::tests::*;
use super::Pipeline;
use crate::buf::TestBuf;
use crate::client_addr::proxy_header::{ProxyVersion, Transport};
use crate::client_addr::proxy_header6::{encode_v2, Endpoints6};
use crate::client_addr::tcp::Header;
use crate::drop::DropReason;
use crate::flow::table::session_flags;
use crate::tables::{Mode, ServiceSpec};
use crate::testutil::assert_checksums_verify6;

const LADDR6: &str = "2001:db8:1::100";
const CPORT: u16 = 40001;
const CLIENT_ISN: u32 = 1000;
const BACKEND_ISN: u32 = 7000;
const GET: &[u8] = b"GET / HTTP/1.0\r\n\r\n";

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

/// A NAT or FULLNAT (one local address, port 40000) TCP or UDP service
/// of VIP6 port 80 to one backend on 8080.
fn service(mode: Mode, proto: IpProto) -> ServiceSpec {
    let mut s = super::forward6_tests::service6(proto);
    s.mode = mode;
    s.backends.truncate(1);
    s.backends[0].port = 8080;
    if mode == Mode::FullNat {
        s.local_addrs = Vec::new();
        s.local_addrs6 = vec![v6(LADDR6)];
        s.local_ports = (40000, 40000);
    }
    s
}

fn pp(mode: Mode, v: ProxyVersion) -> Pipeline<TestBuf> {
    let mut s = service(mode, IpProto::TCP);
    s.proxy_protocol = Some(v);
    let mut p = pipeline(&config_nat6(vec![s]));
    learn_all(&mut p);
    p
}

/// A TCP segment over IPv6 built by etherparse.
fn seg6(
    macs: ([u8; 6], [u8; 6]),
    (src, dst): ((&str, u16), (&str, u16)),
    (seq, ack): (u32, Option<u32>),
    flags: u8,
    opts: &[Opt],
    data: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(v6(src.0).octets(), v6(dst.0).octets(), 60)
        .tcp(src.1, dst.1, seq, 1000);
    if flags & SYN != 0 {
        b = b.syn();
    }
    if let Some(a) = ack {
        b = b.ack(a);
    }
    if flags & crate::flow::proto::tcp_flags::FIN != 0 {
        b = b.fin();
    }
    let b = b.options(opts).expect("options fit");
    let mut v = Vec::new();
    b.write(&mut v, data).expect("writes");
    v
}

fn from_client(seq: u32, ack: Option<u32>, flags: u8, opts: &[Opt], data: &[u8]) -> Vec<u8> {
    seg6(
        (CLIENT_MAC, OURS),
        ((CLIENT6, CPORT), (VIP6, 80)),
        (seq, ack),
        flags,
        opts,
        data,
    )
}

/// A backend segment to where the backend sees the client: the client
/// itself (NAT) or the local address (FULLNAT).
fn from_backend(mode: Mode, (seq, ack): (u32, u32), flags: u8, opts: &[Opt]) -> Vec<u8> {
    let to = match mode {
        Mode::FullNat => (LADDR6, 40000),
        _ => (CLIENT6, CPORT),
    };
    seg6(
        (RS1, OURS),
        ((RIP6[0], 8080), to),
        (seq, Some(ack)),
        flags,
        opts,
        &[],
    )
}

/// What a frame that came out says: seq, ack, TCP options, payload; its
/// checksum verified by etherparse.
struct Seen {
    seq: u32,
    ack: u32,
    opts: Vec<Opt>,
    raw_opts: Vec<u8>,
    data: Vec<u8>,
    src: Ipv6Addr,
}

fn decode(frame: &[u8]) -> Seen {
    assert_checksums_verify6(frame);
    let p = PacketHeaders::from_ethernet_slice(frame).expect("decodes");
    let Some(etherparse::NetHeaders::Ipv6(ip, _)) = &p.net else {
        panic!("ipv6")
    };
    let Some(TransportHeader::Tcp(t)) = &p.transport else {
        panic!("tcp")
    };
    assert_eq!(
        usize::from(ip.payload_length),
        t.header_len() + p.payload.slice().len(),
        "the payload length counts what was added"
    );
    Seen {
        seq: t.sequence_number,
        ack: t.acknowledgment_number,
        // Kind 254 (TOA) is no option etherparse knows: it stops there.
        opts: t.options_iterator().map_while(Result::ok).collect(),
        raw_opts: t.options.as_slice().to_vec(),
        data: p.payload.slice().to_vec(),
        src: Ipv6Addr::from(ip.source),
    }
}

fn mss(s: &Seen) -> Option<u16> {
    s.opts.iter().find_map(|o| match o {
        Opt::MaximumSegmentSize(m) => Some(*m),
        _ => None,
    })
}

fn one(out: Vec<Vec<u8>>) -> Seen {
    assert_eq!(out.len(), 1, "one frame out");
    decode(&out[0])
}

fn no_drops(p: &Pipeline<TestBuf>) {
    let c = p.counters();
    let n: u64 = c.drops.iter().map(|(_, n)| n).sum();
    assert_eq!(n, 0, "{:?}", c.drops);
}

/// The handshake through `p`: the client's SYN (MSS 1440), the backend's
/// SYN-ACK (MSS 1440), the client's ACK. Returns the SYN-ACK as the
/// client got it.
fn handshake(p: &mut Pipeline<TestBuf>, mode: Mode) -> Seen {
    let syn = from_client(CLIENT_ISN, None, SYN, &[Opt::MaximumSegmentSize(1440)], b"");
    let s = one(run(p, &[syn], 0));
    assert_eq!(
        (s.seq, mss(&s)),
        (CLIENT_ISN, Some(1440)),
        "the SYN as sent"
    );
    let syn_ack = from_backend(
        mode,
        (BACKEND_ISN, CLIENT_ISN + 1),
        SYN | ACK,
        &[Opt::MaximumSegmentSize(1440)],
    );
    let sa = one(run(p, &[syn_ack], 1));
    assert_eq!(sa.ack, CLIENT_ISN + 1, "the SYN-ACK acknowledges the SYN");
    let ack = from_client(CLIENT_ISN + 1, Some(BACKEND_ISN + 1), ACK, &[], b"");
    let a = one(run(p, &[ack], 2));
    assert_eq!(
        (a.seq, a.data.len()),
        (CLIENT_ISN + 1, 0),
        "a bare ACK as sent"
    );
    sa
}

fn ends() -> Endpoints6 {
    Endpoints6 {
        src: (v6(CLIENT6), CPORT),
        dst: (v6(VIP6), 80),
    }
}

#[test]
fn proxy_v2_over_fullnat6_leads_the_clients_bytes_and_shifts_the_rest_both_ways() {
    let mut p = pp(Mode::FullNat, ProxyVersion::V2);
    let sa = handshake(&mut p, Mode::FullNat);
    assert_eq!(mss(&sa), Some(1440 - 52), "room for the header");
    let (_, s) = p.path.flow.sessions6().iter().next().expect("a session");
    assert_ne!(s.flags() & session_flags::PROXY_HEADER, 0);
    let mut header = [0u8; 52];
    encode_v2(&mut header, ends(), Transport::Tcp);
    // The spec's layout, as the backend reads it.
    assert_eq!(&header[12..16], &[0x21, 0x21, 0x00, 0x24]);
    let first = from_client(CLIENT_ISN + 1, Some(BACKEND_ISN + 1), ACK, &[], GET);
    let out = one(run(&mut p, std::slice::from_ref(&first), 3));
    assert_eq!(out.src, v6(LADDR6), "FULLNAT's local address");
    assert_eq!(
        out.seq,
        CLIENT_ISN + 1,
        "the header starts at the first byte"
    );
    assert_eq!(&out.data[..52], &header[..]);
    assert_eq!(&out.data[52..], GET);
    // The client retransmits it (the backend's ACK was lost): the same
    // header again, so the backend's TCP takes it once, in sequence.
    let again = one(run(&mut p, &[first], 4));
    assert_eq!(
        (again.seq, &again.data[..52]),
        (CLIENT_ISN + 1, &header[..])
    );
    // The next segment is shifted by the header's 52 bytes.
    let next_seq = CLIENT_ISN + 1 + GET.len() as u32;
    let next = from_client(next_seq, Some(BACKEND_ISN + 1), ACK, &[], b"more");
    let out = one(run(&mut p, &[next], 5));
    assert_eq!(
        (out.seq, out.data.as_slice()),
        (next_seq + 52, &b"more"[..])
    );
    // The backend acknowledges all of it: the client sees its own numbers.
    let all = next_seq + 52 + 4;
    let ack = from_backend(Mode::FullNat, (BACKEND_ISN + 1, all), ACK, &[]);
    let back = one(run(&mut p, &[ack], 6));
    assert_eq!(back.ack, next_seq + 4);
    // An acknowledgment inside the header is the client's first byte;
    // SACK blocks shift back as the acknowledgment.
    let sack = Opt::SelectiveAcknowledgement((next_seq + 52, all), [None, None, None]);
    let inside = from_backend(
        Mode::FullNat,
        (BACKEND_ISN + 1, CLIENT_ISN + 20),
        ACK,
        &[Opt::Noop, Opt::Noop, sack],
    );
    let back = one(run(&mut p, &[inside], 7));
    assert_eq!(back.ack, CLIENT_ISN + 1);
    let blocks = back.opts.iter().find_map(|o| match o {
        Opt::SelectiveAcknowledgement(first, _) => Some(*first),
        _ => None,
    });
    assert_eq!(blocks, Some((next_seq, next_seq + 4)));
    let e = p.counters().events;
    assert_eq!(
        (
            e.proxy_tcp_added,
            e.proxy_tcp_resent,
            e.proxy_tcp_mss_lowered
        ),
        (1, 1, 1)
    );
    no_drops(&p);
}

#[test]
fn proxy_v1_over_nat6_is_the_tcp6_line_even_when_the_backend_speaks_first() {
    let mut p = pp(Mode::Nat, ProxyVersion::V1);
    let sa = handshake(&mut p, Mode::Nat);
    let line = b"PROXY TCP6 2001:db8:2::7 2001:db8:10::10 40001 80\r\n";
    assert_eq!(line.len() % 2, 1, "odd: the payload's checksum words move");
    assert_eq!(mss(&sa), Some(1440 - line.len() as u16));
    assert_eq!(Header::new6(ProxyVersion::V1, ends()).as_bytes(), &line[..]);
    // The backend's banner first; the client's answer carries the header.
    let banner = seg6(
        (RS1, OURS),
        ((RIP6[0], 8080), (CLIENT6, CPORT)),
        (BACKEND_ISN + 1, Some(CLIENT_ISN + 1)),
        ACK,
        &[],
        b"220 hello\r\n",
    );
    let b = one(run(&mut p, &[banner], 3));
    assert_eq!(b.ack, CLIENT_ISN + 1);
    let answer = from_client(CLIENT_ISN + 1, Some(BACKEND_ISN + 12), ACK, &[], b"HELO");
    let out = one(run(&mut p, &[answer], 4));
    assert_eq!(out.src, v6(CLIENT6), "NAT: the backend sees the client");
    assert_eq!(&out.data[..line.len()], &line[..]);
    assert_eq!(&out.data[line.len()..], b"HELO");
    // A FIN after it, shifted.
    let fin = from_client(
        CLIENT_ISN + 5,
        Some(BACKEND_ISN + 12),
        ACK | crate::flow::proto::tcp_flags::FIN,
        &[],
        b"",
    );
    let out = one(run(&mut p, &[fin], 5));
    assert_eq!(out.seq, CLIENT_ISN + 5 + line.len() as u32);
    no_drops(&p);
}

#[test]
fn a_syn_with_data_is_dropped_and_a_service_without_the_key_is_left_alone() {
    let mut p = pp(Mode::FullNat, ProxyVersion::V2);
    let syn = from_client(CLIENT_ISN, None, SYN, &[], b"fast open");
    assert!(run(&mut p, &[syn], 0).is_empty());
    assert_eq!(p.counters().drops.get(DropReason::ProxySynData), 1);
    // The same service without the key: nothing added, nothing shifted.
    let mut p = pipeline(&config_nat6(vec![service(Mode::FullNat, IpProto::TCP)]));
    learn_all(&mut p);
    let sa = handshake(&mut p, Mode::FullNat);
    assert_eq!(mss(&sa), Some(1440));
    let first = from_client(CLIENT_ISN + 1, Some(BACKEND_ISN + 1), ACK, &[], GET);
    let out = one(run(&mut p, &[first], 3));
    assert_eq!(out.data, GET);
}

#[test]
fn toa6_rides_on_the_handshakes_ack_and_the_syns_mss_makes_room() {
    let mut s = service(Mode::FullNat, IpProto::TCP);
    s.toa = true;
    let mut p = pipeline(&config_nat6(vec![s]));
    learn_all(&mut p);
    let syn = from_client(CLIENT_ISN, None, SYN, &[Opt::MaximumSegmentSize(1440)], b"");
    let out = one(run(&mut p, &[syn], 0));
    assert_eq!(mss(&out), Some(1420), "lowered by the option's 20 bytes");
    let syn_ack = from_backend(Mode::FullNat, (BACKEND_ISN, CLIENT_ISN + 1), SYN | ACK, &[]);
    one(run(&mut p, &[syn_ack], 1));
    // The handshake's ACK, with data riding on it: DPVS's IPv6 option
    // after the segment's own options.
    let ts = [Opt::Noop, Opt::Noop, Opt::Timestamp(5, 6)];
    let ack = from_client(CLIENT_ISN + 1, Some(BACKEND_ISN + 1), ACK, &ts, GET);
    let out = one(run(&mut p, &[ack], 2));
    let mut want = vec![1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6];
    want.extend_from_slice(&[254, 20, 0x9c, 0x41]);
    want.extend_from_slice(&v6(CLIENT6).octets());
    assert_eq!(out.raw_opts, want);
    assert_eq!(out.data, GET, "the data follows, unchanged");
    assert_eq!(out.src, v6(LADDR6));
    // Later segments go as they are.
    let next = from_client(
        CLIENT_ISN + 1 + GET.len() as u32,
        Some(BACKEND_ISN + 1),
        ACK,
        &[],
        b"x",
    );
    let out = one(run(&mut p, &[next], 3));
    assert!(out.raw_opts.is_empty());
    let e = p.counters().events;
    assert_eq!((e.toa_mss_lowered, e.toa_added), (1, 1));
    no_drops(&p);
}

#[test]
fn udp_proxy_v2_over_fullnat6_goes_on_the_first_datagram_only() {
    let mut s = service(Mode::FullNat, IpProto::UDP);
    s.proxy_protocol = Some(ProxyVersion::V2);
    let mut p = pipeline(&config_nat6(vec![s]));
    learn_all(&mut p);
    let dgram = |payload: &[u8]| {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, OURS)
            .ipv6(v6(CLIENT6).octets(), v6(VIP6).octets(), 60)
            .udp(CPORT, 80)
            .write(&mut v, payload)
            .expect("writes");
        v
    };
    let out = run(&mut p, &[dgram(b"query"), dgram(b"again")], 0);
    assert_eq!(out.len(), 2);
    let mut header = [0u8; 52];
    encode_v2(&mut header, ends(), Transport::Udp);
    assert_eq!(header[13], 0x22, "AF_INET6, DGRAM");
    for (frame, want) in out.iter().zip([Some(&header[..]), None]) {
        assert_checksums_verify6(frame);
        let h = PacketHeaders::from_ethernet_slice(frame).expect("decodes");
        let Some(TransportHeader::Udp(u)) = &h.transport else {
            panic!("udp")
        };
        let data = h.payload.slice();
        assert_eq!(usize::from(u.length), 8 + data.len());
        match want {
            Some(hdr) => {
                assert_eq!(&data[..52], hdr);
                assert_eq!(&data[52..], b"query");
            }
            None => assert_eq!(data, b"again"),
        }
    }
    assert_eq!(p.counters().events.proxy_v2_added, 1);
    no_drops(&p);
}

/// What an IPv4 frame we sent carries: seq, ack, raw TCP options, payload
/// (its IPv4 and TCP checksums verified by etherparse).
fn decode4(frame: &[u8]) -> (u32, u32, Vec<u8>, Vec<u8>) {
    crate::testutil::assert_checksums_verify(frame);
    let p = PacketHeaders::from_ethernet_slice(frame).expect("decodes");
    let Some(TransportHeader::Tcp(t)) = &p.transport else {
        panic!("tcp")
    };
    (
        t.sequence_number,
        t.acknowledgment_number,
        t.options.as_slice().to_vec(),
        p.payload.slice().to_vec(),
    )
}

/// A NAT64 backend's (RIP1:8080, IPv4) segment to the local address
/// 10.0.1.100:40000.
fn from_backend4((seq, ack): (u32, u32), flags: u8, opts: &[Opt]) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(RS1, OURS)
        .ipv4(super::tests::RIP1, [10, 0, 1, 100], 64)
        .tcp(8080, 40000, seq, 1000)
        .ack(ack);
    if flags & SYN != 0 {
        b = b.syn();
    }
    let mut v = Vec::new();
    b.options(opts)
        .expect("fits")
        .write(&mut v, &[])
        .expect("writes");
    v
}

/// NAT64 (IPv6 VIP, IPv4 backend RIP1:8080 from 10.0.1.100:40000) with
/// `set` on the service.
fn nat64_with(set: impl Fn(&mut ServiceSpec)) -> Pipeline<TestBuf> {
    let mut s = super::tests::service(Mode::FullNat, IpProto::TCP);
    s.vip = v6(VIP6).into();
    s.backends.truncate(1);
    s.local_ports = (40000, 40000);
    set(&mut s);
    let mut p = pipeline(&config_nat6(vec![s]));
    learn_all(&mut p);
    p
}

#[test]
fn nat64_backends_read_the_ipv6_client_from_the_proxy_header_over_ipv4() {
    let mut p = nat64_with(|s| s.proxy_protocol = Some(ProxyVersion::V2));
    let syn = from_client(CLIENT_ISN, None, SYN, &[Opt::MaximumSegmentSize(1440)], b"");
    let out = run(&mut p, &[syn], 0);
    assert_eq!(out.len(), 1);
    let (seq, _, _, _) = decode4(&out[0]);
    assert_eq!(seq, CLIENT_ISN);
    let syn_ack = from_backend4(
        (BACKEND_ISN, CLIENT_ISN + 1),
        SYN,
        &[Opt::MaximumSegmentSize(1460)],
    );
    let sa = one(run(&mut p, &[syn_ack], 1));
    assert_eq!(mss(&sa), Some(1460 - 52), "room for the header");
    assert_eq!(sa.ack, CLIENT_ISN + 1);
    let first = from_client(CLIENT_ISN + 1, Some(BACKEND_ISN + 1), ACK, &[], GET);
    let out = run(&mut p, &[first], 2);
    assert_eq!(out.len(), 1);
    let (seq, _, _, data) = decode4(&out[0]);
    let mut header = [0u8; 52];
    encode_v2(&mut header, ends(), Transport::Tcp);
    assert_eq!(seq, CLIENT_ISN + 1);
    assert_eq!(&data[..52], &header[..], "AF_INET6 over the IPv4 leg");
    assert_eq!(&data[52..], GET);
    let next_seq = CLIENT_ISN + 1 + GET.len() as u32;
    let next = from_client(next_seq, Some(BACKEND_ISN + 1), ACK, &[], b"x");
    let (seq, _, _, _) = decode4(&run(&mut p, &[next], 3)[0]);
    assert_eq!(seq, next_seq + 52);
    let ack = from_backend4((BACKEND_ISN + 1, next_seq + 53), 0, &[]);
    let back = one(run(&mut p, &[ack], 4));
    assert_eq!(back.ack, next_seq + 1, "shifted back, then translated");
    let e = p.counters().events;
    assert_eq!((e.proxy_tcp_added, e.proxy_tcp_mss_lowered), (1, 1));
    assert_eq!((e.nat64_to_ipv4, e.nat64_to_ipv6), (3, 2));
    no_drops(&p);
}

#[test]
fn nat64_toa_is_dpvs_ipv6_option_on_the_ipv4_leg() {
    let mut p = nat64_with(|s| s.toa = true);
    let syn = from_client(CLIENT_ISN, None, SYN, &[Opt::MaximumSegmentSize(1440)], b"");
    let out = run(&mut p, &[syn], 0);
    let (_, _, opts, _) = decode4(&out[0]);
    assert_eq!(opts, vec![2, 4, 0x05, 0x8c], "MSS 1440 - 20");
    let syn_ack = from_backend4((BACKEND_ISN, CLIENT_ISN + 1), SYN, &[]);
    one(run(&mut p, &[syn_ack], 1));
    let ack = from_client(CLIENT_ISN + 1, Some(BACKEND_ISN + 1), ACK, &[], b"");
    let out = run(&mut p, &[ack], 2);
    let (_, _, opts, _) = decode4(&out[0]);
    let mut want = vec![254, 20, 0x9c, 0x41];
    want.extend_from_slice(&v6(CLIENT6).octets());
    assert_eq!(opts, want);
    assert_eq!(p.counters().events.toa_added, 1);
    no_drops(&p);
}

#[test]
fn a_peer_goes_on_shifting_a_synced_session_with_a_header() {
    use super::sync6_tests::{drain_over_the_wire, give, v6_only};
    let synced = || {
        let mut p = pp(Mode::FullNat, ProxyVersion::V2);
        let (mut ports, mut l) = crate::sync::links(1, 256, 256);
        p.attach_sync(l.remove(0));
        (p, ports.remove(0))
    };
    let (mut a, mut a_port) = synced();
    let (mut b, mut b_port) = synced();
    handshake(&mut a, Mode::FullNat);
    let first = from_client(CLIENT_ISN + 1, Some(BACKEND_ISN + 1), ACK, &[], GET);
    one(run(&mut a, &[first], 3));
    let records = v6_only(drain_over_the_wire(&mut a_port));
    let last = *records.last().expect("records");
    let shift = last.shift.expect("the shift is synced");
    assert_eq!((shift.client_seq, shift.client_from), (52, CLIENT_ISN + 1));
    assert_eq!(shift.header, ProxyVersion::V2);
    give(&mut b, &mut b_port, &records, 4);
    // B carries on as A: the client's next bytes 52 higher, the backend's
    // acknowledgment 52 lower.
    let next_seq = CLIENT_ISN + 1 + GET.len() as u32;
    let next = from_client(next_seq, Some(BACKEND_ISN + 1), ACK, &[], b"more");
    for p in [&mut a, &mut b] {
        let out = one(run(p, std::slice::from_ref(&next), 5));
        assert_eq!((out.seq, out.src), (next_seq + 52, v6(LADDR6)));
        let ack = from_backend(Mode::FullNat, (BACKEND_ISN + 1, next_seq + 56), ACK, &[]);
        assert_eq!(one(run(p, &[ack], 6)).ack, next_seq + 4);
    }
    // A retransmission of the first segment on B gets the header again.
    let first = from_client(CLIENT_ISN + 1, Some(BACKEND_ISN + 1), ACK, &[], GET);
    let again = one(run(&mut b, &[first], 7));
    assert_eq!(again.data.len(), 52 + GET.len());
    // A's last record was made before the header went (no state moved
    // after it), so B counts it as its first.
    let e = b.counters().events;
    assert_eq!((e.proxy_tcp_added, e.proxy_tcp_resent), (1, 0));
}

#[test]
fn a_peer_goes_on_shifting_a_synced_nat64_session_with_a_header() {
    use super::sync6_tests::{drain_over_the_wire, give, v6_only};
    let synced = || {
        let mut p = nat64_with(|s| s.proxy_protocol = Some(ProxyVersion::V2));
        let (mut ports, mut l) = crate::sync::links(1, 256, 256);
        p.attach_sync(l.remove(0));
        (p, ports.remove(0))
    };
    let (mut a, mut a_port) = synced();
    let (mut b, mut b_port) = synced();
    let syn = from_client(CLIENT_ISN, None, SYN, &[Opt::MaximumSegmentSize(1440)], b"");
    assert_eq!(run(&mut a, &[syn], 0).len(), 1);
    let syn_ack = from_backend4((BACKEND_ISN, CLIENT_ISN + 1), SYN, &[]);
    one(run(&mut a, &[syn_ack], 1));
    let first = from_client(CLIENT_ISN + 1, Some(BACKEND_ISN + 1), ACK, &[], GET);
    assert_eq!(run(&mut a, &[first], 2).len(), 1);
    // The NAT64 session's record (its IPv4 legs IPv4-mapped) carries the
    // shift; B installs both.
    let records = v6_only(drain_over_the_wire(&mut a_port));
    let last = *records.last().expect("records");
    assert!(last.backend.0.to_ipv4_mapped().is_some(), "{last:?}");
    let shift = last.shift.expect("the shift is synced");
    assert_eq!((shift.client_seq, shift.client_from), (52, CLIENT_ISN + 1));
    give(&mut b, &mut b_port, &records, 3);
    assert_eq!(b.counters().events.sync_installed, 1);
    // B carries on as A: the client's next bytes 52 higher on the IPv4
    // leg, the backend's acknowledgment 52 lower to the client.
    let next_seq = CLIENT_ISN + 1 + GET.len() as u32;
    let next = from_client(next_seq, Some(BACKEND_ISN + 1), ACK, &[], b"x");
    for p in [&mut a, &mut b] {
        let (seq, _, _, _) = decode4(&run(p, std::slice::from_ref(&next), 4)[0]);
        assert_eq!(seq, next_seq + 52);
        let ack = from_backend4((BACKEND_ISN + 1, next_seq + 53), 0, &[]);
        assert_eq!(one(run(p, &[ack], 5)).ack, next_seq + 1);
    }
    no_drops(&b);
}

/// `mss_clamp` on IPv6 services (beside the MSS the client's address
/// lowers, so with this file's builders): the client's SYN and the
/// backend's SYN-ACK of a NAT6 and a FULLNAT6 service, and the SYN of a
/// NAT64 one, leave with the service's MSS, checksums right; a lower MSS
/// and a segment that is not a SYN are left alone.
#[test]
fn ipv6_syns_have_their_mss_clamped_both_ways() {
    for mode in [Mode::Nat, Mode::FullNat] {
        let mut s = service(mode, IpProto::TCP);
        s.mss_clamp = Some(1380);
        let mut p = pipeline(&config_nat6(vec![s]));
        learn_all(&mut p);
        let syn = from_client(CLIENT_ISN, None, SYN, &[Opt::MaximumSegmentSize(1440)], b"");
        assert_eq!(mss(&one(run(&mut p, &[syn], 0))), Some(1380), "{mode:?}");
        let syn_ack = from_backend(
            mode,
            (BACKEND_ISN, CLIENT_ISN + 1),
            SYN,
            &[Opt::MaximumSegmentSize(1360)],
        );
        assert_eq!(
            mss(&one(run(&mut p, &[syn_ack], 1))),
            Some(1360),
            "lower: kept"
        );
        let ack = from_client(
            CLIENT_ISN + 1,
            Some(BACKEND_ISN + 1),
            ACK,
            &[Opt::MaximumSegmentSize(1440)],
            b"",
        );
        assert_eq!(mss(&one(run(&mut p, &[ack], 2))), Some(1440), "not a SYN");
        assert_eq!(p.counters().events.mss_clamped, 1, "{mode:?}");
        no_drops(&p);
    }
    // The backend's SYN-ACK over 1380 is lowered on its way to the client.
    let mut s = service(Mode::Nat, IpProto::TCP);
    s.mss_clamp = Some(1380);
    let mut p = pipeline(&config_nat6(vec![s]));
    learn_all(&mut p);
    let syn = from_client(CLIENT_ISN, None, SYN, &[], b"");
    one(run(&mut p, &[syn], 0));
    let syn_ack = from_backend(
        Mode::Nat,
        (BACKEND_ISN, CLIENT_ISN + 1),
        SYN,
        &[Opt::MaximumSegmentSize(1460)],
    );
    assert_eq!(mss(&one(run(&mut p, &[syn_ack], 1))), Some(1380));
    assert_eq!(p.counters().events.mss_clamped, 1);
    // NAT64: the client's SYN leaves as IPv4 with the service's MSS.
    let mut p = nat64_with(|s| s.mss_clamp = Some(1300));
    let syn = from_client(CLIENT_ISN, None, SYN, &[Opt::MaximumSegmentSize(1440)], b"");
    let out = run(&mut p, &[syn], 0);
    assert_eq!(out.len(), 1);
    let (_, _, opts, _) = decode4(&out[0]);
    assert_eq!(opts, vec![2, 4, 0x05, 0x14], "MSS 1300");
    assert_eq!(p.counters().events.mss_clamped, 1);
}

/// Where a forwarded first fragment's TCP header starts: Ethernet, the
/// fixed header, the fragment header.
const FRAGMENT_L4: usize = 14 + 40 + 8;

#[test]
fn a_fragmented_first_segment_gets_no_header_and_its_retransmission_does() {
    let mut p = pp(Mode::FullNat, ProxyVersion::V2);
    handshake(&mut p, Mode::FullNat);
    let data = [b'x'; 300];
    let first = from_client(CLIENT_ISN + 1, Some(BACKEND_ISN + 1), ACK, &[], &data);
    let pieces = super::fragment6_tests::fragment6(&first, 160, 7);
    assert_eq!(pieces.len(), 2);
    // Growing the first fragment would move the second: both dropped.
    assert!(run(&mut p, &pieces, 3).is_empty());
    let d = &p.counters().drops;
    assert_eq!(
        (
            d.get(DropReason::ProxyHeaderNoRoom),
            d.get(DropReason::FragFirstDropped)
        ),
        (1, 1)
    );
    // The client retransmits it whole (smaller path MTU learnt, or
    // not): the header leads it as for any first segment.
    let out = one(run(&mut p, &[first], 4));
    assert_eq!(out.seq, CLIENT_ISN + 1);
    assert_eq!(out.data.len(), 52 + data.len());
    assert_eq!(p.counters().events.proxy_tcp_added, 1);
}

#[test]
fn a_fragmented_handshake_ack_goes_on_without_toa() {
    let mut s = service(Mode::FullNat, IpProto::TCP);
    s.toa = true;
    let mut p = pipeline(&config_nat6(vec![s]));
    learn_all(&mut p);
    let syn = from_client(CLIENT_ISN, None, SYN, &[Opt::MaximumSegmentSize(1440)], b"");
    one(run(&mut p, &[syn], 0));
    let syn_ack = from_backend(Mode::FullNat, (BACKEND_ISN, CLIENT_ISN + 1), SYN | ACK, &[]);
    one(run(&mut p, &[syn_ack], 1));
    let ack = from_client(
        CLIENT_ISN + 1,
        Some(BACKEND_ISN + 1),
        ACK,
        &[],
        &[b'y'; 300],
    );
    let pieces = super::fragment6_tests::fragment6(&ack, 160, 9);
    let out = run(&mut p, &pieces, 2);
    assert_eq!(out.len(), 2, "both fragments forwarded");
    for (sent, got) in pieces.iter().zip(&out) {
        assert_eq!(got.len(), sent.len(), "neither fragment grew");
    }
    let data_offset = out[0][FRAGMENT_L4 + 12] >> 4;
    assert_eq!(data_offset, 5, "a bare TCP header: no option added");
    let e = p.counters().events;
    assert_eq!((e.toa_added, e.toa_no_room), (0, 1));
    no_drops(&p);
}

#[test]
fn a_udp_first_datagram_in_fragments_goes_on_whole_without_the_header() {
    let mut s = service(Mode::FullNat, IpProto::UDP);
    s.proxy_protocol = Some(ProxyVersion::V2);
    let mut p = pipeline(&config_nat6(vec![s]));
    learn_all(&mut p);
    let mut dgram = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OURS)
        .ipv6(v6(CLIENT6).octets(), v6(VIP6).octets(), 60)
        .udp(CPORT, 80)
        .write(&mut dgram, &[b'q'; 600])
        .expect("writes");
    let pieces = super::fragment6_tests::fragment6(&dgram, 304, 11);
    let out = run(&mut p, &pieces, 0);
    assert_eq!(out.len(), 2, "both fragments forwarded");
    for (sent, got) in pieces.iter().zip(&out) {
        assert_eq!(got.len(), sent.len(), "neither fragment grew");
    }
    let e = p.counters().events;
    assert_eq!((e.proxy_v2_added, e.proxy_v2_fragmented), (0, 1));
    no_drops(&p);
}
