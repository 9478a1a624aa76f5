//! Typed, bounds-checked views over packet bytes.
//!
//! Each view wraps any `T: AsRef<[u8]>` (a `&[u8]`, a `&mut [u8]`, ...), and
//! its constructor checks every length the accessors rely on, returning the
//! [`DropReason`](crate::drop::DropReason) a malformed header earns. Accessors
//! read through [`get_be16`]-style helpers that cannot panic even if that
//! invariant were broken; setters need `T: AsMut<[u8]>`. Nothing allocates.
//!
//! Each module names where its header's fields lie in a `field` module, the
//! way smoltcp's `wire` does: a one-byte field is its offset (`usize`), a
//! longer one its byte range ([`Field`]), counted from the start of that
//! header. The views read through them, and so does every other module that
//! edits headers in place (`rewrite`, `net`, the pipeline): no raw header
//! offsets outside `wire`.

pub mod arp;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod mld;
pub mod tcp;
pub mod udp;

pub use arp::ArpPacket;
pub use ethernet::{EtherType, EthernetFrame, MacAddr, VlanHeader};
pub use icmp::{IcmpPacket, IcmpType};
pub use icmpv6::{Icmpv6Packet, Icmpv6Type};
pub use ipv4::Ipv4Packet;
pub use ipv6::Ipv6Packet;
pub use tcp::TcpSegment;
pub use udp::UdpDatagram;

use std::net::Ipv4Addr;

/// The bytes of a multi-byte header field, from the start of its header.
pub type Field = core::ops::Range<usize>;

/// The big-endian u16 at `off`, or 0 if `b` is too short (views check their
/// lengths up front, so the fallback is never taken for a constructed view).
#[inline(always)]
pub(crate) fn get_be16(b: &[u8], off: usize) -> u16 {
    match b.get(off..off + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

/// The big-endian u32 at `off`, or 0 if `b` is too short.
#[inline(always)]
pub(crate) fn get_be32(b: &[u8], off: usize) -> u32 {
    match b.get(off..off + 4) {
        Some(&[a, c, d, e]) => u32::from_be_bytes([a, c, d, e]),
        _ => 0,
    }
}

/// The byte at `off`, or 0 if `b` is too short.
#[inline(always)]
pub(crate) fn get_u8(b: &[u8], off: usize) -> u8 {
    b.get(off).copied().unwrap_or(0)
}

/// The IPv4 address at `off`.
#[inline(always)]
pub(crate) fn get_ipv4(b: &[u8], off: usize) -> Ipv4Addr {
    Ipv4Addr::from(get_be32(b, off))
}

/// The MAC address at `off`, or all zeros if `b` is too short.
#[inline(always)]
pub(crate) fn get_mac(b: &[u8], off: usize) -> ethernet::MacAddr {
    let mut m = [0u8; 6];
    if let Some(src) = b.get(off..off + 6) {
        m.copy_from_slice(src);
    }
    ethernet::MacAddr(m)
}

/// Writes `bytes` at `off` if they fit (views check lengths up front).
#[inline(always)]
pub(crate) fn put_bytes(b: &mut [u8], off: usize, bytes: &[u8]) {
    if let Some(dst) = b.get_mut(off..off + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

#[inline(always)]
pub(crate) fn put_be16(b: &mut [u8], off: usize, v: u16) {
    put_bytes(b, off, &v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn put_be32(b: &mut [u8], off: usize, v: u32) {
    put_bytes(b, off, &v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn put_u8(b: &mut [u8], off: usize, v: u8) {
    if let Some(x) = b.get_mut(off) {
        *x = v;
    }
}
