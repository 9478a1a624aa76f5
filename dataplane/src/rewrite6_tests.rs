//! `translate6` against etherparse, an independent decoder: the fields
//! the translation names change and nothing else does, the hop limit goes
//! down by one, the TCP and UDP checksums verify as etherparse computes
//! them, and a hop limit of 1 is refused with nothing written.

use super::*;
use crate::packet6::{classify_ipv6, Ipv6Flow};
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use proptest::prelude::*;

fn a6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

fn meta(frame: &[u8]) -> Ipv6Meta {
    match classify_ipv6(frame, 14) {
        Ok(Ipv6Flow::Flow(m)) => m,
        other => panic!("not an IPv6 flow: {other:?}"),
    }
}

fn frame(udp: bool, src: (Ipv6Addr, u16), dst: (Ipv6Addr, u16), hop: u8, body: &[u8]) -> Vec<u8> {
    let ip = PacketBuilder::ethernet2([2; 6], [4; 6]).ipv6(src.0.octets(), dst.0.octets(), hop);
    let mut v = Vec::new();
    if udp {
        ip.udp(src.1, dst.1).write(&mut v, body).expect("writes");
    } else {
        ip.tcp(src.1, dst.1, 77, 1000)
            .syn()
            .write(&mut v, body)
            .expect("writes");
    }
    v
}

/// The addresses, ports and hop limit etherparse reads in `f`, and
/// whether its L4 checksum is the one etherparse computes.
fn read(f: &[u8]) -> (Translation6, u8, bool) {
    let p = SlicedPacket::from_ethernet(f).expect("decodes");
    let Some(NetSlice::Ipv6(ip)) = p.net else {
        panic!("not IPv6")
    };
    let h = ip.header().to_header();
    let (ports, ok) = match p.transport {
        Some(TransportSlice::Tcp(t)) => {
            let want = t
                .to_header()
                .calc_checksum_ipv6(&h, t.payload())
                .expect("sums");
            (
                (t.source_port(), t.destination_port()),
                want == t.checksum(),
            )
        }
        Some(TransportSlice::Udp(u)) => {
            let want = u
                .to_header()
                .calc_checksum_ipv6(&h, u.payload())
                .expect("sums");
            (
                (u.source_port(), u.destination_port()),
                want == u.checksum(),
            )
        }
        other => panic!("not TCP or UDP: {other:?}"),
    };
    let t = Translation6 {
        src: Ipv6Addr::from(h.source),
        src_port: ports.0,
        dst: Ipv6Addr::from(h.destination),
        dst_port: ports.1,
    };
    (t, h.hop_limit, ok)
}

#[test]
fn nat_request_and_reply_rewrite_their_ends_and_keep_the_checksum_right() {
    let (cip, vip, rip) = (
        a6("2001:db8:2::7"),
        a6("2001:db8:10::10"),
        a6("2001:db8:1::11"),
    );
    for udp in [false, true] {
        let original = frame(udp, (cip, 40000), (vip, 80), 57, b"GET / HTTP/1.0\r\n\r\n");
        let mut f = original.clone();
        let m = meta(&f);
        let to = Translation6::nat_request(&m, rip, 8080);
        translate6(&mut f, &m, &to).expect("translates");
        let (seen, hop, sum_ok) = read(&f);
        assert_eq!(seen, to);
        assert_eq!((hop, sum_ok), (56, true), "udp {udp}");
        // Only the destination, its port, the hop limit and the checksum
        // changed: the payload and everything else is as it came.
        let l4 = 14 + 40;
        let check = if udp { l4 + 6 } else { l4 + 16 };
        for (i, (a, b)) in original.iter().zip(&f).enumerate() {
            let changed = i == 14 + 7
                || (14 + 24..14 + 40).contains(&i)
                || (l4 + 2..l4 + 4).contains(&i)
                || (check..check + 2).contains(&i);
            if !changed {
                assert_eq!(a, b, "byte {i} changed (udp {udp})");
            }
        }
        // The backend's reply, back from the VIP.
        let mut r = frame(udp, (rip, 8080), (cip, 40000), 64, b"HTTP/1.0 200 OK\r\n");
        let m = meta(&r);
        let to = Translation6::nat_reply(&m, vip, 80);
        translate6(&mut r, &m, &to).expect("translates");
        let (seen, hop, sum_ok) = read(&r);
        assert_eq!(
            (seen.src, seen.src_port, seen.dst, seen.dst_port),
            (vip, 80, cip, 40000)
        );
        assert_eq!((hop, sum_ok), (63, true));
    }
}

#[test]
fn a_hop_limit_of_one_is_refused_with_nothing_written() {
    let (cip, vip, rip) = (
        a6("2001:db8:2::7"),
        a6("2001:db8:10::10"),
        a6("2001:db8:1::11"),
    );
    for hop in [0, 1] {
        let original = frame(false, (cip, 40000), (vip, 80), hop, b"x");
        let mut f = original.clone();
        let m = meta(&f);
        let to = Translation6::nat_request(&m, rip, 80);
        assert_eq!(translate6(&mut f, &m, &to), Err(DropReason::TtlExceeded));
        assert_eq!(f, original);
    }
}

#[test]
fn extension_headers_stay_and_the_checksum_still_verifies() {
    let (cip, vip, rip) = (
        a6("2001:db8:2::7"),
        a6("2001:db8:10::10"),
        a6("2001:db8:1::11"),
    );
    let plain = frame(false, (cip, 40000), (vip, 80), 9, b"data");
    // A hop-by-hop header (PadN) before TCP.
    let mut f = plain[..54].to_vec();
    f[14 + 6] = 0;
    let len = u16::from_be_bytes([f[18], f[19]]) + 8;
    f[18..20].copy_from_slice(&len.to_be_bytes());
    f.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
    f.extend_from_slice(&plain[54..]);
    let m = meta(&f);
    assert_eq!(m.l4_offset, 14 + 48);
    let to = Translation6::nat_request(&m, rip, 8080);
    translate6(&mut f, &m, &to).expect("translates");
    let (seen, hop, sum_ok) = read(&f);
    assert_eq!((seen, hop, sum_ok), (to, 8, true));
    assert_eq!(
        f[54..62],
        [6, 0, 1, 4, 0, 0, 0, 0],
        "the extension untouched"
    );
}

#[test]
fn a_udp_checksum_that_sums_to_zero_is_sent_as_ffff() {
    // Search a destination port whose rewrite makes the sum 0: the field
    // must then read 0xffff (RFC 8200 8.1: 0 is not a valid IPv6 UDP
    // checksum) and still verify.
    let (cip, vip, rip) = (
        a6("2001:db8:2::7"),
        a6("2001:db8:10::10"),
        a6("2001:db8:1::11"),
    );
    let original = frame(true, (cip, 40000), (vip, 53), 9, b"q");
    let m = meta(&original);
    let mut found = false;
    for port in 0..=u16::MAX {
        let mut f = original.clone();
        let to = Translation6::nat_request(&m, rip, port);
        translate6(&mut f, &m, &to).expect("translates");
        let check = u16::from_be_bytes([f[54 + 6], f[54 + 7]]);
        assert_ne!(check, 0, "port {port}");
        if check == 0xffff {
            found = true;
            assert!(read(&f).2, "0xffff verifies");
        }
    }
    assert!(found, "some port sums to zero");
}

proptest! {
    /// Any TCP or UDP packet, any addresses, ports and payload: the
    /// rewrite gives what etherparse reads, with the checksum it computes,
    /// and rewriting back gives the packet again but the hop limit.
    #[test]
    fn any_rewrite_verifies_and_reverses(
        udp in any::<bool>(),
        ends in any::<([u8; 16], u16, [u8; 16], u16)>(),
        to in any::<([u8; 16], u16, [u8; 16], u16)>(),
        hop in 3u8..=255,
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let src = (Ipv6Addr::from(ends.0), ends.1);
        let dst = (Ipv6Addr::from(ends.2), ends.3);
        let original = frame(udp, src, dst, hop, &body);
        let mut f = original.clone();
        let m = meta(&f);
        let t = Translation6 { src: Ipv6Addr::from(to.0), src_port: to.1, dst: Ipv6Addr::from(to.2), dst_port: to.3 };
        translate6(&mut f, &m, &t).expect("translates");
        let (seen, h, ok) = read(&f);
        prop_assert_eq!(seen, t);
        prop_assert_eq!(h, hop - 1);
        prop_assert!(ok);
        let back = Translation6 { src: src.0, src_port: src.1, dst: dst.0, dst_port: dst.1 };
        let m = meta(&f);
        translate6(&mut f, &m, &back).expect("translates back");
        let mut want = original.clone();
        want[14 + 7] = hop - 2;
        // A UDP checksum may come back in its other form (0 and 0xffff
        // are both zero in ones' complement); TCP's is the same word.
        let l4 = 14 + 40;
        let check = if udp { l4 + 6 } else { l4 + 16 };
        let same = |a: u16, b: u16| a == b || (a | b == 0xffff && (a == 0 || b == 0));
        let (a, b) = (
            u16::from_be_bytes([f[check], f[check + 1]]),
            u16::from_be_bytes([want[check], want[check + 1]]),
        );
        prop_assert!(same(a, b), "{:#x} {:#x}", a, b);
        want[check..check + 2].copy_from_slice(&f[check..check + 2]);
        prop_assert_eq!(f, want);
    }
}
