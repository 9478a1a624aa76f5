//! TOA and the PROXY headers over IPv6 on real frames built by etherparse
//! and checked by it (an independent decoder): the bytes inserted, the
//! payload length, the TCP/UDP checksums over IPv6's pseudo-header; with
//! an extension header before the upper layer too.

use std::net::Ipv6Addr;

use etherparse::{PacketBuilder, PacketHeaders, TcpOptionElement, TransportHeader};

use super::proxy_header::{ProxyVersion, Transport};
use super::proxy_header6::{self, Endpoints6, V2_IPV6_LEN};
use super::*;
use crate::buf::TestBuf;
use crate::testutil::assert_checksums_verify6;

const L3: usize = 14;
const CLIENT: (Ipv6Addr, u16) = (Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 7), 40001);
const VIP: (Ipv6Addr, u16) = (Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0x10), 80);
/// A destination options header of 8 bytes: next header TCP or UDP (set by
/// `with_extension`), length 0, a PadN of 6.
const DEST_OPTS: u8 = 60;

fn ends() -> Endpoints6 {
    Endpoints6 {
        src: CLIENT,
        dst: VIP,
    }
}

/// An ACK from the local address to a backend with `options` and
/// `payload`.
fn ack(options: &[TcpOptionElement], payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv6(
            [0x20, 1, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
            [0x20, 1, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11],
            63,
        )
        .tcp(40000, 8080, 1001, 502)
        .ack(7001)
        .options(options)
        .expect("options fit")
        .write(&mut f, payload)
        .expect("frame");
    f
}

/// `frame` with an 8-byte destination options header between the IPv6
/// header and the upper layer (which the checksum does not cover).
fn with_extension(frame: &[u8]) -> Vec<u8> {
    let mut f = frame[..L3 + 40].to_vec();
    let upper = f[L3 + 6];
    f[L3 + 6] = DEST_OPTS;
    let payload = u16::from_be_bytes([f[L3 + 4], f[L3 + 5]]) + 8;
    f[L3 + 4..L3 + 6].copy_from_slice(&payload.to_be_bytes());
    f.extend_from_slice(&[upper, 0, 1, 4, 0, 0, 0, 0]);
    f.extend_from_slice(&frame[L3 + 40..]);
    f
}

/// The payload length, TCP options and payload of an IPv6 TCP frame, its
/// checksum verified by etherparse.
fn tcp_parts(frame: &[u8]) -> (u16, Vec<u8>, Vec<u8>) {
    assert_checksums_verify6(frame);
    let p = PacketHeaders::from_ethernet_slice(frame).expect("decodes");
    let Some(etherparse::NetHeaders::Ipv6(ip, _)) = &p.net else {
        panic!("ipv6")
    };
    let Some(TransportHeader::Tcp(t)) = &p.transport else {
        panic!("tcp")
    };
    (
        ip.payload_length,
        t.options.as_slice().to_vec(),
        p.payload.slice().to_vec(),
    )
}

#[test]
fn toa6_is_dpvs_20_byte_option_after_the_options_with_valid_checksums() {
    let ts = [
        TcpOptionElement::Noop,
        TcpOptionElement::Noop,
        TcpOptionElement::Timestamp(1, 2),
    ];
    for (ext, l4) in [(false, L3 + 40), (true, L3 + 48)] {
        for payload in [&b""[..], b"GET / HTTP/1.1\r\n\r\n", b"odd"] {
            let frame = match ext {
                false => ack(&ts, payload),
                true => with_extension(&ack(&ts, payload)),
            };
            let (len, options, _) = tcp_parts(&frame);
            let mut pkt = TestBuf::with_room(&frame, 0, 64);
            assert_eq!(toa::insert6(&mut pkt, (L3, l4), CLIENT, 1500), Ok(()));
            let (new_len, new_options, data) = tcp_parts(pkt.data());
            assert_eq!(new_len, len + 20);
            let mut want = options.clone();
            #[rustfmt::skip]
            want.extend_from_slice(&[
                254, 20,    // TCP_OPT_ADDR, TCP_OLEN_IP6_ADDR
                0x9c, 0x41, // port 40001
                0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x07,
            ]);
            assert_eq!(new_options, want, "after the timestamps");
            assert_eq!(data, payload, "the data follows, unchanged");
            assert_eq!(pkt.len(), frame.len() + 20);
        }
    }
}

#[test]
fn toa6_is_skipped_when_options_are_full_or_there_is_no_room() {
    // 24 bytes of options: 44 + 20 > 60.
    let full = [
        TcpOptionElement::Timestamp(1, 2),
        TcpOptionElement::SelectiveAcknowledgement((1, 2), [None, None, None]),
        TcpOptionElement::Noop,
        TcpOptionElement::Noop,
        TcpOptionElement::Noop,
        TcpOptionElement::Noop,
    ];
    let frame = ack(&full, b"");
    let mut pkt = TestBuf::with_room(&frame, 0, 64);
    assert_eq!(
        toa::insert6(&mut pkt, (L3, L3 + 40), CLIENT, 1500),
        Err(Skip::OptionsFull)
    );
    assert_eq!(pkt.data(), &frame[..], "unchanged");
    let frame = ack(&[], b"data");
    let mut pkt = TestBuf::with_room(&frame, 0, 19);
    assert_eq!(
        toa::insert6(&mut pkt, (L3, L3 + 40), CLIENT, 1500),
        Err(Skip::NoRoom)
    );
    assert_eq!(pkt.data(), &frame[..]);
    let ip_len = (frame.len() - L3) as u16;
    let mut pkt = TestBuf::with_room(&frame, 0, 64);
    assert_eq!(
        toa::insert6(&mut pkt, (L3, L3 + 40), CLIENT, ip_len + 19),
        Err(Skip::NoRoom),
        "MTU: the IPv6 packet with its fixed header"
    );
    assert_eq!(
        toa::insert6(&mut pkt, (L3, L3 + 40), CLIENT, ip_len + 20),
        Ok(())
    );
    let mut truncated = TestBuf::with_room(&frame[..L3 + 50], 0, 64);
    assert_eq!(
        toa::insert6(&mut truncated, (L3, L3 + 40), CLIENT, 1500),
        Err(Skip::Malformed)
    );
    let mut pkt = TestBuf::with_room(&frame, 0, 64);
    assert_eq!(
        toa::insert6(&mut pkt, (L3, L3 + 20), CLIENT, 1500),
        Err(Skip::Malformed),
        "an upper layer inside the fixed header"
    );
}

#[test]
fn lowered_mss6_is_twenty_less() {
    let mut f = Vec::new();
    PacketBuilder::ethernet2([2; 6], [3; 6])
        .ipv6(CLIENT.0.octets(), VIP.0.octets(), 64)
        .tcp(40001, 80, 1, 64240)
        .syn()
        .options(&[TcpOptionElement::MaximumSegmentSize(1440)])
        .expect("fits")
        .write(&mut f, b"")
        .expect("frame");
    assert_eq!(toa::lowered_mss6(&f[L3 + 40..]), Some(1420));
    assert_eq!(toa::lowered_mss6(&ack(&[], b"")[L3 + 40..]), None);
}

#[test]
fn tcp_proxy_headers_over_ipv6_go_before_the_payload_with_valid_checksums() {
    let v1: &[u8] = b"PROXY TCP6 2001:db8:2::7 2001:db8:10::10 40001 80\r\n";
    let v1_header = tcp::Header::new6(ProxyVersion::V1, ends());
    assert_eq!(v1_header.as_bytes(), v1);
    assert_eq!(v1.len() % 2, 1, "an odd length moves the payload's words");
    let v2_header = tcp::Header::new6(ProxyVersion::V2, ends());
    let mut v2 = [0u8; V2_IPV6_LEN];
    proxy_header6::encode_v2(&mut v2, ends(), Transport::Tcp);
    assert_eq!(v2_header.as_bytes(), &v2[..]);
    assert_eq!(v2_header.len(), 52);
    let ts = [
        TcpOptionElement::Noop,
        TcpOptionElement::Noop,
        TcpOptionElement::Timestamp(1, 2),
    ];
    for header in [v1_header, v2_header] {
        for (ext, l4) in [(false, L3 + 40), (true, L3 + 48)] {
            for payload in [&b"GET / HTTP/1.1\r\n\r\n"[..], b"odd", b"", b"x"] {
                let frame = match ext {
                    false => ack(&ts, payload),
                    true => with_extension(&ack(&ts, payload)),
                };
                let (len, options, _) = tcp_parts(&frame);
                let mut pkt = TestBuf::with_room(&frame, 0, 128);
                assert_eq!(
                    tcp::insert6(&mut pkt, (L3, l4), header.as_bytes(), 1500),
                    Ok(())
                );
                let (new_len, new_options, data) = tcp_parts(pkt.data());
                assert_eq!(usize::from(new_len), usize::from(len) + header.len());
                assert_eq!(new_options, options);
                assert_eq!(&data[..header.len()], header.as_bytes());
                assert_eq!(&data[header.len()..], payload);
            }
        }
    }
}

#[test]
fn tcp_proxy_header_over_ipv6_refuses_what_does_not_fit() {
    let header = tcp::Header::new6(ProxyVersion::V2, ends());
    let frame = ack(&[], b"data");
    let ip_len = (frame.len() - L3) as u16;
    let mut pkt = TestBuf::with_room(&frame, 0, 51);
    assert_eq!(
        tcp::insert6(&mut pkt, (L3, L3 + 40), header.as_bytes(), 1500),
        Err(Skip::NoRoom)
    );
    assert_eq!(pkt.data(), &frame[..], "unchanged");
    let mut pkt = TestBuf::with_room(&frame, 0, 128);
    assert_eq!(
        tcp::insert6(&mut pkt, (L3, L3 + 40), header.as_bytes(), ip_len + 51),
        Err(Skip::NoRoom),
        "MTU"
    );
    assert_eq!(pkt.data(), &frame[..]);
    assert_eq!(
        tcp::insert6(&mut pkt, (L3, L3 + 40), header.as_bytes(), ip_len + 52),
        Ok(())
    );
}

#[test]
fn udp_proxy_v2_over_ipv6_comes_before_the_payload_with_valid_checksums() {
    let ends = Endpoints6 {
        src: CLIENT,
        dst: (VIP.0, 53),
    };
    for ext in [false, true] {
        for payload in [&b"question"[..], b"odd", b""] {
            let mut f = Vec::new();
            PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .ipv6(CLIENT.0.octets(), VIP.0.octets(), 63)
                .udp(40001, 53)
                .write(&mut f, payload)
                .expect("frame");
            let (frame, l4) = match ext {
                false => (f, L3 + 40),
                true => (with_extension(&f), L3 + 48),
            };
            let mut pkt = TestBuf::with_room(&frame, 0, 64);
            assert_eq!(udp::prepend_v2_6(&mut pkt, (L3, l4), ends, 1500), Ok(()));
            assert_checksums_verify6(pkt.data());
            let p = PacketHeaders::from_ethernet_slice(pkt.data()).expect("decodes");
            let Some(TransportHeader::Udp(u)) = &p.transport else {
                panic!("udp")
            };
            assert_eq!(usize::from(u.length), 8 + 52 + payload.len());
            let data = p.payload.slice();
            let mut header = [0u8; V2_IPV6_LEN];
            proxy_header6::encode_v2(&mut header, ends, Transport::Udp);
            assert_eq!(header[13], 0x22);
            assert_eq!(&data[..52], &header[..]);
            assert_eq!(&data[52..], payload);
        }
    }
}
