//! The IPv6 PROXY headers byte for byte against the spec's layout (HAProxy
//! doc/proxy-protocol.txt 2.1 and 2.2) and RFC 5952's text form.

use super::*;
use crate::client_addr::proxy_header::V1_MAX_LEN;

fn addr(s: &str) -> Ipv6Addr {
    s.parse().expect("an IPv6 address")
}

fn ends() -> Endpoints6 {
    Endpoints6 {
        src: (addr("2001:db8:2::7"), 40001),
        dst: (addr("2001:db8:10::10"), 443),
    }
}

#[test]
fn v2_tcp_over_ipv6_is_the_specs_layout_byte_for_byte() {
    let mut buf = [0xaa; 60];
    assert_eq!(encode_v2(&mut buf, ends(), Transport::Tcp), Some(52));
    #[rustfmt::skip]
    let want: [u8; 52] = [
        // "\r\n\r\n\0\r\nQUIT\n"
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
        0x21,       // version 2, PROXY
        0x21,       // AF_INET6, SOCK_STREAM
        0x00, 0x24, // 36 bytes follow
        // src_addr 2001:db8:2::7
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x07,
        // dst_addr 2001:db8:10::10
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x10,
        0x9c, 0x41, // src_port 40001
        0x01, 0xbb, // dst_port 443
    ];
    assert_eq!(buf[..52], want);
    assert_eq!(buf[52], 0xaa, "nothing past the header");
    let mut udp = [0; 52];
    encode_v2(&mut udp, ends(), Transport::Udp);
    assert_eq!(udp[13], 0x22, "AF_INET6, SOCK_DGRAM");
    assert_eq!(udp[..13], want[..13]);
    assert_eq!(udp[14..], want[14..]);
}

#[test]
fn v2_refuses_a_short_buffer_and_writes_nothing() {
    let mut buf = [0u8; 51];
    assert_eq!(encode_v2(&mut buf, ends(), Transport::Tcp), None);
    assert_eq!(buf, [0; 51]);
}

#[test]
fn v1_is_the_specs_tcp6_line_with_rfc5952_addresses() {
    let mut buf = [0u8; V1_MAX_LEN];
    let n = encode_v1(&mut buf, ends()).expect("fits");
    assert_eq!(
        &buf[..n],
        b"PROXY TCP6 2001:db8:2::7 2001:db8:10::10 40001 443\r\n"
    );
    // RFC 5952 4.2 and 4.3: lower case, no leading zeros, the longest run
    // of zero groups shortened (the first of two equal runs), a single
    // zero group not shortened.
    let cases = [
        (
            "2001:0DB8:0000:0000:0001:0000:0000:0001",
            "2001:db8::1:0:0:1",
        ),
        ("2001:db8:0:0:0:0:2:1", "2001:db8::2:1"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
        ("fe80:0000:0000:0000:0000:0000:0000:00ab", "fe80::ab"),
        ("::", "::"),
    ];
    for (given, text) in cases {
        let e = Endpoints6 {
            src: (addr(given), 1),
            dst: (addr("::1"), 2),
        };
        let n = encode_v1(&mut buf, e).expect("fits");
        let want = format!("PROXY TCP6 {text} ::1 1 2\r\n");
        assert_eq!(std::str::from_utf8(&buf[..n]), Ok(want.as_str()));
    }
}

#[test]
fn v1_worst_case_is_the_specs_107_bytes_and_a_short_buffer_is_refused() {
    let widest = Endpoints6 {
        src: (addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 65535),
        dst: (addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 65535),
    };
    let mut buf = [0u8; V1_MAX_LEN];
    let n = encode_v1(&mut buf, widest).expect("fits");
    assert_eq!(
        &buf[..n],
        &b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff \
ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"[..]
    );
    assert_eq!(n, 104, "the longest TCP6 line, within the spec's 107");
    assert_eq!(encode_v1(&mut [0u8; 103], widest), None);
    assert_eq!(encode_v1(&mut [0u8; 20], ends()), None);
}
