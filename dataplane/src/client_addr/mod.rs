//! The client's address for backends behind FULLNAT, which otherwise see
//! only a local address: the TOA TCP option (DPVS-compatible, [`toa`]) and
//! the PROXY protocol (the encoders in [`proxy_header`] and, for IPv6,
//! [`proxy_header6`], the UDP use in [`udp`], the TCP one in [`tcp`]).
//! Each insertion takes an IPv4 packet by its offset, or an IPv6 one by
//! its offset and its upper-layer header's (`*6` functions: the
//! extension headers before it were walked by the caller).
//!
//! Both grow the packet in place: the bytes after the insertion point move
//! up into the mbuf's tailroom (Ethernet padding after the IP packet is
//! dropped first), the lengths grow and the checksums are updated
//! incrementally (RFC 1624), so a segment that arrived with a bad checksum
//! still has one. When the packet cannot grow, it is sent unchanged and
//! the skip is counted ([`Skip`]); except the TCP PROXY header, whose
//! absence would break the shifted stream: that segment is dropped and
//! counted (`pipeline::proxy_tcp`).

pub mod proxy_header;
pub mod proxy_header6;
pub mod tcp;
pub mod toa;
pub mod udp;

use crate::buf::PacketBuf;
use crate::checksum::Delta;
use crate::wire::ipv4::field as ip;
use crate::wire::ipv6::{field as ip6, IPV6_HEADER_LEN};
use crate::wire::{get_be16, get_u8, put_be16};

/// Why the client's address was not added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// TCP: the header already has 33 or more bytes of options.
    OptionsFull,
    /// The mbuf has no tailroom for it, or the packet would pass the
    /// port's MTU.
    NoRoom,
    /// The headers do not hold together (lengths past the frame).
    Malformed,
}

/// Offsets of an IPv4 or IPv6 packet in its frame, read from the packet
/// itself.
#[derive(Clone, Copy, Debug)]
struct Ip {
    l3: usize,
    /// The upper-layer header (after IPv4's options or IPv6's extension
    /// headers).
    l4: usize,
    /// The packet's length from `l3`: IPv4's total length, IPv6's payload
    /// length plus its fixed header.
    len: u16,
    v6: bool,
}

impl Ip {
    fn read(frame: &[u8], l3: usize) -> Result<Ip, Skip> {
        let ihl = usize::from(frame.get(l3).ok_or(Skip::Malformed)? & 0x0f) * 4;
        if frame.len() < l3 + 20 {
            return Err(Skip::Malformed);
        }
        let len = get_be16(frame, l3 + ip::LENGTH.start);
        if ihl < 20 || usize::from(len) < ihl || l3 + usize::from(len) > frame.len() {
            return Err(Skip::Malformed);
        }
        Ok(Ip {
            l3,
            l4: l3 + ihl,
            len,
            v6: false,
        })
    }

    /// The IPv6 packet at `l3` whose upper-layer header is at `l4`.
    fn read6(frame: &[u8], l3: usize, l4: usize) -> Result<Ip, Skip> {
        if frame.len() < l3 + IPV6_HEADER_LEN || l4 < l3 + IPV6_HEADER_LEN {
            return Err(Skip::Malformed);
        }
        let payload = get_be16(frame, l3 + ip6::PAYLOAD_LEN.start);
        let len = usize::from(payload) + IPV6_HEADER_LEN;
        let Ok(len16) = u16::try_from(len) else {
            return Err(Skip::NoRoom);
        };
        if l4 > l3 + len || l3 + len > frame.len() {
            return Err(Skip::Malformed);
        }
        Ok(Ip {
            l3,
            l4,
            len: len16,
            v6: true,
        })
    }

    fn end(self) -> usize {
        self.l3 + usize::from(self.len)
    }

    /// The upper-layer length (TCP segment or UDP datagram), which the
    /// checksum's pseudo-header counts.
    fn l4_len(self) -> u16 {
        self.len - (self.l4 - self.l3) as u16
    }
}

/// Opens a gap of `n` bytes at frame offset `at` (inside the IP packet):
/// the bytes from `at` to the end of the IP packet move up, the IP total
/// length grows by `n` (its checksum updated), or IPv6's payload length
/// (no header checksum). The gap keeps whatever bytes were there: the
/// caller writes it. Nothing changes on `Err`.
fn open_gap<P: PacketBuf>(pkt: &mut P, ip: Ip, at: usize, n: usize, mtu: u16) -> Result<Ip, Skip> {
    let new_len = usize::from(ip.len) + n;
    let Ok(new_len16) = u16::try_from(new_len) else {
        return Err(Skip::NoRoom);
    };
    if new_len > usize::from(mtu) {
        return Err(Skip::NoRoom);
    }
    let padding = pkt.len().saturating_sub(ip.end());
    if at < ip.l4 || at > ip.end() || pkt.tailroom() + padding < n {
        return Err(if at > ip.end() {
            Skip::Malformed
        } else {
            Skip::NoRoom
        });
    }
    if !pkt.trim(padding) || pkt.append(n).is_none() {
        return Err(Skip::NoRoom);
    }
    let frame = pkt.data_mut();
    frame.copy_within(at..ip.end(), at + n);
    if ip.v6 {
        let payload = get_be16(frame, ip.l3 + ip6::PAYLOAD_LEN.start);
        put_be16(frame, ip.l3 + ip6::PAYLOAD_LEN.start, payload + n as u16);
        return Ok(Ip {
            len: new_len16,
            ..ip
        });
    }
    let mut d = Delta::default();
    d.word(ip.len, new_len16);
    put_be16(frame, ip.l3 + ip::LENGTH.start, new_len16);
    let check = ip.l3 + ip::CHECKSUM.start;
    put_be16(frame, check, d.apply(get_be16(frame, check)));
    Ok(Ip {
        len: new_len16,
        ..ip
    })
}

/// Adds the 16-bit words of `bytes` (an even number of them, at an even
/// offset of the checksummed data) to `d` as words that were zero.
fn add_words(d: &mut Delta, bytes: &[u8]) {
    for w in bytes.chunks_exact(2) {
        d.word(0, u16::from_be_bytes([w[0], w[1]]));
    }
}

/// The byte at `at`, 0 past the end.
fn byte(frame: &[u8], at: usize) -> u8 {
    if at < frame.len() {
        get_u8(frame, at)
    } else {
        0
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
#[path = "tests6.rs"]
mod tests6;
