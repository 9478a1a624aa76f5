//! PROXY protocol headers (HAProxy's doc/proxy-protocol.txt), version 1
//! (text, TCP only) and version 2 (binary), for IPv4: written into a
//! caller's buffer, no allocation. Used for UDP (`client_addr::udp`) and
//! TCP (`client_addr::tcp`, with the sequence shift of
//! `pipeline::proxy_tcp`).

use std::net::Ipv4Addr;

/// The 12-byte signature that starts a version 2 header (spec 2.2).
pub const V2_SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];
/// A version 2 header for IPv4: signature, 4 fixed bytes, 12 of addresses.
pub const V2_IPV4_LEN: usize = 28;
/// The longest version 1 header (spec 2.1: 107 bytes for the worst case,
/// IPv6 included; "PROXY TCP4 255.255.255.255 255.255.255.255 65535
/// 65535\r\n" is 56).
pub const V1_MAX_LEN: usize = 107;

/// Version 2, command PROXY (the high nibble 2, the low 1).
pub(super) const V2_VERSION_PROXY: u8 = 0x21;
/// AF_INET in the high nibble; STREAM (1) or DGRAM (2) in the low.
const V2_INET_STREAM: u8 = 0x11;
const V2_INET_DGRAM: u8 = 0x12;
/// Bytes of IPv4 addresses and ports after the 16-byte fixed part.
const V2_IPV4_ADDRS_LEN: u16 = 12;

/// A PROXY protocol version a service sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyVersion {
    V1,
    V2,
}

/// The transport the header announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

/// The connection the header describes: the client's address and port
/// (source) and the address and port it connected to (destination).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub src: (Ipv4Addr, u16),
    pub dst: (Ipv4Addr, u16),
}

/// Writes the version 2 header into `out`; returns its length
/// ([`V2_IPV4_LEN`]), or None (nothing written) if `out` is shorter.
pub fn encode_v2(out: &mut [u8], ends: Endpoints, transport: Transport) -> Option<usize> {
    let out = out.get_mut(..V2_IPV4_LEN)?;
    out[..12].copy_from_slice(&V2_SIGNATURE);
    out[12] = V2_VERSION_PROXY;
    out[13] = match transport {
        Transport::Tcp => V2_INET_STREAM,
        Transport::Udp => V2_INET_DGRAM,
    };
    out[14..16].copy_from_slice(&V2_IPV4_ADDRS_LEN.to_be_bytes());
    out[16..20].copy_from_slice(&ends.src.0.octets());
    out[20..24].copy_from_slice(&ends.dst.0.octets());
    out[24..26].copy_from_slice(&ends.src.1.to_be_bytes());
    out[26..28].copy_from_slice(&ends.dst.1.to_be_bytes());
    Some(V2_IPV4_LEN)
}

/// Writes the version 1 header ("PROXY TCP4 src dst sport dport\r\n")
/// into `out`; returns its length, or None (with `out` partly written)
/// if `out` is shorter. Version 1 has no UDP (spec 2.1).
pub fn encode_v1(out: &mut [u8], ends: Endpoints) -> Option<usize> {
    let mut w = Writer { out, at: 0 };
    w.bytes(b"PROXY TCP4 ")?;
    w.addr(ends.src.0)?;
    w.bytes(b" ")?;
    w.addr(ends.dst.0)?;
    w.bytes(b" ")?;
    w.decimal(u32::from(ends.src.1))?;
    w.bytes(b" ")?;
    w.decimal(u32::from(ends.dst.1))?;
    w.bytes(b"\r\n")?;
    Some(w.at)
}

/// Text into a fixed buffer, without `fmt` (which could not fail softly
/// on a short buffer without allocating).
pub(super) struct Writer<'a> {
    pub(super) out: &'a mut [u8],
    pub(super) at: usize,
}

impl Writer<'_> {
    pub(super) fn bytes(&mut self, b: &[u8]) -> Option<()> {
        self.out
            .get_mut(self.at..self.at + b.len())?
            .copy_from_slice(b);
        self.at += b.len();
        Some(())
    }

    pub(super) fn decimal(&mut self, mut n: u32) -> Option<()> {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.bytes(&digits[i..])
    }

    fn addr(&mut self, a: Ipv4Addr) -> Option<()> {
        for (k, o) in a.octets().into_iter().enumerate() {
            if k > 0 {
                self.bytes(b".")?;
            }
            self.decimal(u32::from(o))?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends() -> Endpoints {
        Endpoints {
            src: (Ipv4Addr::new(198, 51, 100, 7), 40001),
            dst: (Ipv4Addr::new(192, 0, 2, 10), 53),
        }
    }

    #[test]
    fn v2_udp_over_ipv4_is_the_specs_layout_byte_for_byte() {
        let mut buf = [0xaa; 40];
        assert_eq!(encode_v2(&mut buf, ends(), Transport::Udp), Some(28));
        #[rustfmt::skip]
        let want: [u8; 28] = [
            // "\r\n\r\n\0\r\nQUIT\n"
            0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
            0x21,       // version 2, PROXY
            0x12,       // AF_INET, SOCK_DGRAM
            0x00, 0x0c, // 12 bytes follow
            198, 51, 100, 7, // src_addr
            192, 0, 2, 10,   // dst_addr
            0x9c, 0x41,      // src_port 40001
            0x00, 0x35,      // dst_port 53
        ];
        assert_eq!(buf[..28], want);
        assert_eq!(buf[28], 0xaa, "nothing past the header");
        let mut tcp = [0; 28];
        encode_v2(&mut tcp, ends(), Transport::Tcp);
        assert_eq!(tcp[13], 0x11, "AF_INET, SOCK_STREAM");
    }

    #[test]
    fn v2_refuses_a_short_buffer_and_writes_nothing() {
        let mut buf = [0u8; 27];
        assert_eq!(encode_v2(&mut buf, ends(), Transport::Udp), None);
        assert_eq!(buf, [0; 27]);
    }

    #[test]
    fn v1_is_the_specs_text_line() {
        let mut buf = [0u8; V1_MAX_LEN];
        let n = encode_v1(&mut buf, ends()).expect("fits");
        assert_eq!(
            &buf[..n],
            b"PROXY TCP4 198.51.100.7 192.0.2.10 40001 53\r\n"
        );
        let widest = Endpoints {
            src: (Ipv4Addr::new(255, 255, 255, 255), 65535),
            dst: (Ipv4Addr::new(255, 255, 255, 255), 65535),
        };
        let n = encode_v1(&mut buf, widest).expect("fits");
        assert_eq!(
            &buf[..n],
            b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"
        );
        assert_eq!(n, 56, "the spec's longest TCP4 line");
        let zero = Endpoints {
            src: (Ipv4Addr::UNSPECIFIED, 0),
            dst: (Ipv4Addr::new(10, 0, 0, 1), 8),
        };
        let n = encode_v1(&mut buf, zero).expect("fits");
        assert_eq!(&buf[..n], b"PROXY TCP4 0.0.0.0 10.0.0.1 0 8\r\n");
        assert_eq!(encode_v1(&mut [0u8; 20], ends()), None);
    }
}
