//! The PROXY protocol header on a TCP connection: written in front of the
//! payload of the client's segment that starts at its first byte. The
//! sequence numbers around it are the caller's (`synproxy::seq::SeqAdjust`
//! with `client_seq` = the header's length).

use super::proxy_header::V1_MAX_LEN;
use super::proxy_header::{encode_v1, encode_v2, Endpoints, ProxyVersion, Transport};
use super::proxy_header6::{self, Endpoints6};
use super::{byte, open_gap, Ip, Skip};
use crate::buf::PacketBuf;
use crate::checksum::{add_bytes, fold, Delta};
use crate::wire::tcp::field;
use crate::wire::{get_be16, put_be16};

/// The longest header this writes (version 1's worst case, IPv6's; version
/// 2 is 28 bytes for IPv4, 52 for IPv6).
pub const MAX_LEN: usize = V1_MAX_LEN;

/// A header ready to insert: its bytes in a fixed buffer.
#[derive(Clone, Copy)]
pub struct Header {
    bytes: [u8; MAX_LEN],
    len: u8,
}

impl Header {
    /// The header of `version` for `ends` (a TCP connection).
    pub fn new(version: ProxyVersion, ends: Endpoints) -> Header {
        let mut bytes = [0u8; MAX_LEN];
        let len = match version {
            ProxyVersion::V1 => encode_v1(&mut bytes, ends),
            ProxyVersion::V2 => encode_v2(&mut bytes, ends, Transport::Tcp),
        };
        // Both fit MAX_LEN for any IPv4 endpoints (their encoders' tests).
        let len = len.unwrap_or(0) as u8;
        Header { bytes, len }
    }

    /// The header of `version` for `ends`, a TCP connection over IPv6.
    pub fn new6(version: ProxyVersion, ends: Endpoints6) -> Header {
        let mut bytes = [0u8; MAX_LEN];
        let len = match version {
            ProxyVersion::V1 => proxy_header6::encode_v1(&mut bytes, ends),
            ProxyVersion::V2 => proxy_header6::encode_v2(&mut bytes, ends, Transport::Tcp),
        };
        // Both fit MAX_LEN for any IPv6 endpoints (their encoders' tests).
        let len = len.unwrap_or(0) as u8;
        Header { bytes, len }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Inserts `header` between the TCP header and the payload of the segment
/// of the IPv4 packet at frame offset `l3`; the packet may not grow past
/// `mtu`. Nothing changes on `Err`.
///
/// The payload moves by the header's length, which may be odd (version 1),
/// so its bytes change checksum words: the checksum is updated by the sum
/// of everything from the insertion point to the end before and after (one
/// pass over the payload, on the one or two segments of a connection that
/// carry the header), which keeps a wrong checksum wrong.
pub fn insert<P: PacketBuf>(pkt: &mut P, l3: usize, header: &[u8], mtu: u16) -> Result<(), Skip> {
    let ip = Ip::read(pkt.data(), l3)?;
    insert_ip(pkt, ip, header, mtu)
}

/// [`insert`] into the TCP segment at frame offset `l4` of the IPv6
/// packet at `l3`.
pub fn insert6<P: PacketBuf>(
    pkt: &mut P,
    (l3, l4): (usize, usize),
    header: &[u8],
    mtu: u16,
) -> Result<(), Skip> {
    let ip = Ip::read6(pkt.data(), l3, l4)?;
    insert_ip(pkt, ip, header, mtu)
}

fn insert_ip<P: PacketBuf>(pkt: &mut P, ip: Ip, header: &[u8], mtu: u16) -> Result<(), Skip> {
    let frame = pkt.data();
    let offset = usize::from(byte(frame, ip.l4 + field::DATA_OFFSET) >> 4) * 4;
    if offset < 20 || ip.l4 + offset > ip.end() {
        return Err(Skip::Malformed);
    }
    let segment_len = ip.l4_len();
    let at = ip.l4 + offset;
    // `at` is a multiple of 4 from the segment's start (IPv6's extension
    // headers are multiples of 8 long): even.
    let before = fold(add_bytes(0, &frame[at..ip.end()]));
    let grown = open_gap(pkt, ip, at, header.len(), mtu)?;
    let frame = pkt.data_mut();
    frame[at..at + header.len()].copy_from_slice(header);
    let after = fold(add_bytes(0, &frame[at..grown.end()]));
    let mut d = Delta::default();
    d.word(before, after);
    // The pseudo-header's TCP length.
    d.word(segment_len, segment_len + header.len() as u16);
    let check = ip.l4 + field::CHECKSUM.start;
    put_be16(frame, check, d.apply(get_be16(frame, check)));
    Ok(())
}
