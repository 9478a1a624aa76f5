//! TOA, "TCP option address" (DPVS `tcp_in_add_toa`, and the TOA kernel
//! module that reads it on the backend): the client's port and IPv4
//! address in an 8-byte TCP option, kind 254, appended after the
//! segment's own options:
//!
//! ```text
//! | kind 254 | length 8 | client port (2, network order) | client address (4) |
//! ```
//!
//! DPVS adds it to the client's segments that acknowledge the backend's
//! SYN-ACK (the handshake's ACK, where the module reads it, and data that
//! rides on it); ferrolb adds it to the client's ACK that moves the
//! session out of SYN_RECV (`pipeline::act`). The client's SYN has its MSS
//! lowered by [`LEN`] so that a full-size segment with the option still
//! fits the path (DPVS `tcp_in_adjust_mss`).

use std::net::Ipv4Addr;

use super::{add_words, byte, open_gap, Ip, Skip};
use crate::buf::PacketBuf;
use crate::checksum::Delta;
use crate::wire::tcp::field;
use crate::wire::{get_be16, put_be16, put_bytes};

/// The option kind DPVS and the TOA module use.
pub const KIND: u8 = 254;
/// Its length: kind, length, port, IPv4 address.
pub const LEN: usize = 8;
/// The most a TCP header holds (data offset 15 words).
const TCP_MAX_HEADER_LEN: usize = 60;

/// The option's bytes for `client`.
pub fn option(client: (Ipv4Addr, u16)) -> [u8; LEN] {
    let [p0, p1] = client.1.to_be_bytes();
    let [a, b, c, d] = client.0.octets();
    [KIND, LEN as u8, p0, p1, a, b, c, d]
}

/// Inserts the option after the options of the TCP segment of the IPv4
/// packet at frame offset `l3`, for `client`; the packet may not grow past
/// `mtu`. Nothing changes on `Err`.
pub fn insert<P: PacketBuf>(
    pkt: &mut P,
    l3: usize,
    client: (Ipv4Addr, u16),
    mtu: u16,
) -> Result<(), Skip> {
    let ip = Ip::read(pkt.data(), l3)?;
    let frame = pkt.data();
    let offset_byte = byte(frame, ip.l4 + field::DATA_OFFSET);
    let header = usize::from(offset_byte >> 4) * 4;
    if header < 20 || ip.l4 + header > ip.end() {
        return Err(Skip::Malformed);
    }
    if header + LEN > TCP_MAX_HEADER_LEN {
        return Err(Skip::OptionsFull);
    }
    let segment_len = ip.len - (ip.l4 - ip.l3) as u16;
    let at = ip.l4 + header;
    open_gap(pkt, ip, at, LEN, mtu)?;
    let frame = pkt.data_mut();
    let opt = option(client);
    put_bytes(frame, at, &opt);
    // The data offset grows by 2 words; it shares a checksum word with
    // the flags.
    let off_at = ip.l4 + field::DATA_OFFSET;
    let old_word = get_be16(frame, off_at);
    let new_word = old_word + (((LEN / 4) as u16) << 12);
    put_be16(frame, off_at, new_word);
    let mut d = Delta::default();
    d.word(old_word, new_word);
    // The pseudo-header's TCP length, and the option's own words (the
    // header length is a multiple of 4: they sit at even offsets).
    d.word(segment_len, segment_len + LEN as u16);
    add_words(&mut d, &opt);
    let check = ip.l4 + field::CHECKSUM.start;
    put_be16(frame, check, d.apply(get_be16(frame, check)));
    Ok(())
}

/// The value to lower a client SYN's MSS to so the option fits: its MSS
/// less [`LEN`], if it has an MSS option (None: leave it).
pub fn lowered_mss(header: &[u8]) -> Option<u16> {
    let at = crate::wire::tcp::mss_value_at(header)?;
    let mss = get_be16(header, at);
    Some(mss.saturating_sub(LEN as u16))
}
