//! TOA and the UDP PROXY header on real frames built by etherparse, and
//! checked by it (an independent decoder): the bytes inserted, the
//! lengths, the IP and TCP/UDP checksums.

use std::net::Ipv4Addr;

use etherparse::{PacketBuilder, PacketHeaders, TcpOptionElement, TransportHeader};

use super::proxy_header::Endpoints;
use super::*;
use crate::buf::TestBuf;
use crate::testutil::assert_checksums_verify;

const CLIENT: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 51, 100, 7), 40001);
const L3: usize = 14;

/// An ACK from the local address to a backend with `options` and `payload`.
fn ack(options: &[TcpOptionElement], payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 1, 100], [10, 0, 1, 11], 63)
        .tcp(40000, 8080, 1001, 502)
        .ack(7001)
        .options(options)
        .expect("options fit")
        .write(&mut f, payload)
        .expect("frame");
    f
}

fn tcp_parts(frame: &[u8]) -> (u16, Vec<u8>, Vec<u8>) {
    assert_checksums_verify(frame);
    let p = PacketHeaders::from_ethernet_slice(frame).expect("decodes");
    let Some(etherparse::NetHeaders::Ipv4(ip, _)) = &p.net else {
        panic!("ipv4")
    };
    let Some(TransportHeader::Tcp(t)) = &p.transport else {
        panic!("tcp")
    };
    (
        ip.total_len,
        t.options.as_slice().to_vec(),
        p.payload.slice().to_vec(),
    )
}

#[test]
fn toa_goes_after_the_options_byte_exact_with_valid_checksums() {
    let ts = [
        TcpOptionElement::Noop,
        TcpOptionElement::Noop,
        TcpOptionElement::Timestamp(1, 2),
    ];
    for payload in [&b""[..], b"GET / HTTP/1.1\r\n\r\n", b"odd"] {
        let frame = ack(&ts, payload);
        let (len, options, _) = tcp_parts(&frame);
        let mut pkt = TestBuf::with_room(&frame, 0, 64);
        assert_eq!(toa::insert(&mut pkt, L3, CLIENT, 1500), Ok(()));
        let (new_len, new_options, data) = tcp_parts(pkt.data());
        assert_eq!(new_len, len + 8);
        let mut want = options.clone();
        want.extend_from_slice(&[254, 8, 0x9c, 0x41, 198, 51, 100, 7]);
        assert_eq!(new_options, want, "after the timestamps");
        assert_eq!(data, payload, "the data follows, unchanged");
        assert_eq!(pkt.len(), frame.len() + 8);
    }
}

#[test]
fn toa_drops_ethernet_padding_and_keeps_a_bad_checksum_bad() {
    // A bare ACK is 54 bytes; on the wire it was padded to 60.
    let mut frame = ack(&[], b"");
    frame.resize(60, 0);
    let mut pkt = TestBuf::with_room(&frame, 0, 2);
    assert_eq!(
        toa::insert(&mut pkt, L3, CLIENT, 1500),
        Ok(()),
        "6 + 2 bytes"
    );
    assert_eq!(pkt.len(), 62);
    let (_, options, _) = tcp_parts(pkt.data());
    assert_eq!(options, toa::option(CLIENT));

    let mut bad = ack(&[], b"x");
    bad[L3 + 20 + 16] ^= 0x5a;
    let mut pkt = TestBuf::with_room(&bad, 0, 8);
    assert_eq!(toa::insert(&mut pkt, L3, CLIENT, 1500), Ok(()));
    let p = PacketHeaders::from_ethernet_slice(pkt.data()).expect("decodes");
    let (Some(etherparse::NetHeaders::Ipv4(ip, _)), Some(TransportHeader::Tcp(t))) =
        (&p.net, &p.transport)
    else {
        panic!("tcp/ipv4")
    };
    let good = t.calc_checksum_ipv4(ip, p.payload.slice()).expect("fits");
    assert_ne!(t.checksum, good, "a bad checksum is not made good");
}

#[test]
fn toa_is_skipped_when_options_are_full_or_there_is_no_room() {
    // 36 bytes of options: 56 + 8 > 60.
    let full = [
        TcpOptionElement::Timestamp(1, 2),
        TcpOptionElement::SelectiveAcknowledgement((1, 2), [Some((3, 4)), Some((5, 6)), None]),
    ];
    let frame = ack(&full, b"");
    let mut pkt = TestBuf::with_room(&frame, 0, 64);
    assert_eq!(
        toa::insert(&mut pkt, L3, CLIENT, 1500),
        Err(Skip::OptionsFull)
    );
    assert_eq!(pkt.data(), &frame[..], "unchanged");

    let frame = ack(&[], b"data");
    let mut pkt = TestBuf::with_room(&frame, 0, 7);
    assert_eq!(toa::insert(&mut pkt, L3, CLIENT, 1500), Err(Skip::NoRoom));
    assert_eq!(pkt.data(), &frame[..]);
    let ip_len = (frame.len() - L3) as u16;
    let mut pkt = TestBuf::with_room(&frame, 0, 64);
    assert_eq!(
        toa::insert(&mut pkt, L3, CLIENT, ip_len + 7),
        Err(Skip::NoRoom),
        "MTU"
    );
    assert_eq!(toa::insert(&mut pkt, L3, CLIENT, ip_len + 8), Ok(()));
    let mut truncated = TestBuf::with_room(&frame[..L3 + 30], 0, 64);
    assert_eq!(
        toa::insert(&mut truncated, L3, CLIENT, 1500),
        Err(Skip::Malformed)
    );
}

#[test]
fn lowered_mss_is_eight_less() {
    let frame = {
        let mut f = Vec::new();
        PacketBuilder::ethernet2([2; 6], [3; 6])
            .ipv4([198, 51, 100, 7], [192, 0, 2, 10], 64)
            .tcp(40001, 80, 1, 64240)
            .syn()
            .options(&[TcpOptionElement::MaximumSegmentSize(1460)])
            .expect("fits")
            .write(&mut f, b"")
            .expect("frame");
        f
    };
    assert_eq!(toa::lowered_mss(&frame[L3 + 20..]), Some(1452));
    assert_eq!(toa::lowered_mss(&ack(&[], b"")[L3 + 20..]), None);
}

fn datagram(payload: &[u8], checksum: bool) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 1, 100], [10, 0, 1, 11], 63)
        .udp(40000, 5353)
        .write(&mut f, payload)
        .expect("frame");
    if !checksum {
        f[L3 + 26] = 0;
        f[L3 + 27] = 0;
    }
    f
}

#[test]
fn udp_proxy_v2_header_comes_before_the_payload_with_valid_checksums() {
    let ends = Endpoints {
        src: CLIENT,
        dst: (Ipv4Addr::new(192, 0, 2, 10), 53),
    };
    for payload in [&b"question"[..], b"odd", b""] {
        let frame = datagram(payload, true);
        let mut pkt = TestBuf::with_room(&frame, 0, 64);
        assert_eq!(udp::prepend_v2(&mut pkt, L3, ends, 1500), Ok(()));
        assert_checksums_verify(pkt.data());
        let p = PacketHeaders::from_ethernet_slice(pkt.data()).expect("decodes");
        let Some(TransportHeader::Udp(u)) = &p.transport else {
            panic!("udp")
        };
        assert_eq!(usize::from(u.length), 8 + 28 + payload.len());
        let data = p.payload.slice();
        let mut header = [0u8; 28];
        proxy_header::encode_v2(&mut header, ends, proxy_header::Transport::Udp);
        assert_eq!(&data[..28], &header[..]);
        assert_eq!(&data[28..], payload);
    }
    // No checksum stays no checksum; no room, no change.
    let frame = datagram(b"q", false);
    let mut pkt = TestBuf::with_room(&frame, 0, 64);
    assert_eq!(udp::prepend_v2(&mut pkt, L3, ends, 1500), Ok(()));
    assert_eq!(&pkt.data()[L3 + 26..L3 + 28], &[0, 0]);
    let mut pkt = TestBuf::with_room(&frame, 0, 27);
    assert_eq!(udp::prepend_v2(&mut pkt, L3, ends, 1500), Err(Skip::NoRoom));
    assert_eq!(pkt.data(), &frame[..]);
}

fn tcp_ends() -> Endpoints {
    Endpoints {
        src: CLIENT,
        dst: (Ipv4Addr::new(192, 0, 2, 10), 80),
    }
}

#[test]
fn tcp_proxy_headers_go_before_the_payload_with_valid_checksums() {
    use proxy_header::ProxyVersion;
    let v1: &[u8] = b"PROXY TCP4 198.51.100.7 192.0.2.10 40001 80\r\n";
    let v1_header = tcp::Header::new(ProxyVersion::V1, tcp_ends());
    assert_eq!(v1_header.as_bytes(), v1);
    assert_eq!(v1.len() % 2, 1, "an odd length moves the payload's words");
    let v2_header = tcp::Header::new(ProxyVersion::V2, tcp_ends());
    let mut v2 = [0u8; 28];
    proxy_header::encode_v2(&mut v2, tcp_ends(), proxy_header::Transport::Tcp);
    assert_eq!(v2_header.as_bytes(), &v2[..]);
    let ts = [
        TcpOptionElement::Noop,
        TcpOptionElement::Noop,
        TcpOptionElement::Timestamp(1, 2),
    ];
    for header in [v1_header, v2_header] {
        for payload in [&b"GET / HTTP/1.1\r\n\r\n"[..], b"odd", b"", b"x"] {
            let frame = ack(&ts, payload);
            let (len, options, _) = tcp_parts(&frame);
            let mut pkt = TestBuf::with_room(&frame, 0, 128);
            assert_eq!(tcp::insert(&mut pkt, L3, header.as_bytes(), 1500), Ok(()));
            // Checksums checked by etherparse (tcp_parts).
            let (new_len, new_options, data) = tcp_parts(pkt.data());
            assert_eq!(usize::from(new_len), usize::from(len) + header.len());
            assert_eq!(new_options, options);
            assert_eq!(&data[..header.len()], header.as_bytes());
            assert_eq!(&data[header.len()..], payload);
        }
    }
}

#[test]
fn tcp_proxy_header_keeps_a_bad_checksum_bad_and_refuses_what_does_not_fit() {
    let header = tcp::Header::new(proxy_header::ProxyVersion::V1, tcp_ends());
    let mut bad = ack(&[], b"abc");
    bad[L3 + 20 + 16] ^= 0x5a;
    let mut pkt = TestBuf::with_room(&bad, 0, 128);
    assert_eq!(tcp::insert(&mut pkt, L3, header.as_bytes(), 1500), Ok(()));
    let p = PacketHeaders::from_ethernet_slice(pkt.data()).expect("decodes");
    let (Some(etherparse::NetHeaders::Ipv4(ip, _)), Some(TransportHeader::Tcp(t))) =
        (&p.net, &p.transport)
    else {
        panic!("tcp/ipv4")
    };
    let good = t.calc_checksum_ipv4(ip, p.payload.slice()).expect("fits");
    assert_ne!(t.checksum, good, "a bad checksum is not made good");

    let frame = ack(&[], b"data");
    let ip_len = (frame.len() - L3) as u16;
    let n = header.len();
    let mut pkt = TestBuf::with_room(&frame, 0, n - 1);
    assert_eq!(
        tcp::insert(&mut pkt, L3, header.as_bytes(), 1500),
        Err(Skip::NoRoom)
    );
    assert_eq!(pkt.data(), &frame[..], "unchanged");
    let mut pkt = TestBuf::with_room(&frame, 0, 128);
    let mtu = ip_len + n as u16;
    assert_eq!(
        tcp::insert(&mut pkt, L3, header.as_bytes(), mtu - 1),
        Err(Skip::NoRoom),
        "MTU"
    );
    assert_eq!(pkt.data(), &frame[..]);
    assert_eq!(tcp::insert(&mut pkt, L3, header.as_bytes(), mtu), Ok(()));
    let mut truncated = TestBuf::with_room(&frame[..L3 + 30], 0, 128);
    assert_eq!(
        tcp::insert(&mut truncated, L3, header.as_bytes(), 1500),
        Err(Skip::Malformed)
    );
}
