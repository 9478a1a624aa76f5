//! PROXY protocol headers (HAProxy's doc/proxy-protocol.txt) for a
//! connection whose client and destination are IPv6: version 2 with the
//! family byte AF_INET6 (`0x21` TCP, `0x22` UDP) and 36 bytes of addresses
//! and ports (spec 2.2), version 1 as `PROXY TCP6 <src> <dst> <sport>
//! <dport>\r\n` with the addresses as RFC 5952 text (spec 2.1). Written
//! into a caller's buffer, no allocation. The IPv4 twins are in
//! `proxy_header`.

use std::fmt::Write as _;
use std::net::Ipv6Addr;

use super::proxy_header::{Transport, Writer, V2_SIGNATURE, V2_VERSION_PROXY};

/// A version 2 header for IPv6: signature, 4 fixed bytes, 36 of addresses.
pub const V2_IPV6_LEN: usize = 52;

/// AF_INET6 in the high nibble; STREAM (1) or DGRAM (2) in the low.
const V2_INET6_STREAM: u8 = 0x21;
const V2_INET6_DGRAM: u8 = 0x22;
/// Bytes of IPv6 addresses and ports after the 16-byte fixed part.
const V2_IPV6_ADDRS_LEN: u16 = 36;

/// The connection the header describes, over IPv6: the client's address
/// and port (source) and the address and port it connected to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoints6 {
    pub src: (Ipv6Addr, u16),
    pub dst: (Ipv6Addr, u16),
}

/// Writes the version 2 header into `out`; returns its length
/// ([`V2_IPV6_LEN`]), or None (nothing written) if `out` is shorter.
pub fn encode_v2(out: &mut [u8], ends: Endpoints6, transport: Transport) -> Option<usize> {
    let out = out.get_mut(..V2_IPV6_LEN)?;
    out[..12].copy_from_slice(&V2_SIGNATURE);
    out[12] = V2_VERSION_PROXY;
    out[13] = match transport {
        Transport::Tcp => V2_INET6_STREAM,
        Transport::Udp => V2_INET6_DGRAM,
    };
    out[14..16].copy_from_slice(&V2_IPV6_ADDRS_LEN.to_be_bytes());
    out[16..32].copy_from_slice(&ends.src.0.octets());
    out[32..48].copy_from_slice(&ends.dst.0.octets());
    out[48..50].copy_from_slice(&ends.src.1.to_be_bytes());
    out[50..52].copy_from_slice(&ends.dst.1.to_be_bytes());
    Some(V2_IPV6_LEN)
}

/// Writes the version 1 header ("PROXY TCP6 src dst sport dport\r\n")
/// into `out`; returns its length, or None (with `out` partly written)
/// if `out` is shorter. Version 1 has no UDP (spec 2.1).
pub fn encode_v1(out: &mut [u8], ends: Endpoints6) -> Option<usize> {
    let mut w = Writer { out, at: 0 };
    w.bytes(b"PROXY TCP6 ")?;
    w.addr6(ends.src.0)?;
    w.bytes(b" ")?;
    w.addr6(ends.dst.0)?;
    w.bytes(b" ")?;
    w.decimal(u32::from(ends.src.1))?;
    w.bytes(b" ")?;
    w.decimal(u32::from(ends.dst.1))?;
    w.bytes(b"\r\n")?;
    Some(w.at)
}

impl std::fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.bytes(s.as_bytes()).ok_or(std::fmt::Error)
    }
}

impl Writer<'_> {
    /// `a` as RFC 5952 text: lower-case hex, no leading zeros, the longest
    /// run of two or more zero groups (the first of equal ones) as `::`.
    /// That is the standard library's `Display` of an `Ipv6Addr`, which
    /// writes through `fmt::Write` into the fixed buffer, no allocation
    /// (the tests hold it to RFC 5952's examples).
    fn addr6(&mut self, a: Ipv6Addr) -> Option<()> {
        write!(self, "{a}").ok()
    }
}

#[cfg(test)]
#[path = "proxy_header6_tests.rs"]
mod tests;
