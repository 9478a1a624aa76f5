//! TOA, "TCP option address" (DPVS `tcp_in_add_toa`, and the TOA kernel
//! module that reads it on the backend): the client's port and IPv4
//! address in an 8-byte TCP option, kind 254, appended after the
//! segment's own options:
//!
//! ```text
//! | kind 254 | length 8 | client port (2, network order) | client address (4) |
//! ```
//!
//! For an IPv6 client (FULLNAT over IPv6) the same kind with length 20 and
//! the 16-byte address (DPVS `TCP_OLEN_IP6_ADDR`, `struct tcpopt_ip6_addr`;
//! the module's `TCPOLEN_IP6_TOA`, `struct toa_ip6_data`, read when it is
//! built with `TOA_IPV6_ENABLE`):
//!
//! ```text
//! | kind 254 | length 20 | client port (2) | client address (16) |
//! ```
//!
//! DPVS adds it to the client's segments that acknowledge the backend's
//! SYN-ACK (the handshake's ACK, where the module reads it, and data that
//! rides on it); ferrolb adds it to the client's ACK that moves the
//! session out of SYN_RECV (`pipeline::act`). The client's SYN has its MSS
//! lowered by the option's length so that a full-size segment with the option still
//! fits the path (DPVS `tcp_in_adjust_mss`).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{add_words, byte, open_gap, Ip, Skip};
use crate::buf::PacketBuf;
use crate::checksum::Delta;
use crate::wire::tcp::field;
use crate::wire::{get_be16, put_be16, put_bytes};

/// The option kind DPVS and the TOA module use.
pub const KIND: u8 = 254;
/// Its length: kind, length, port, IPv4 address.
pub const LEN: usize = 8;
/// The IPv6 option's: kind, length, port, IPv6 address.
pub const LEN6: usize = 20;
/// The most a TCP header holds (data offset 15 words).
const TCP_MAX_HEADER_LEN: usize = 60;

/// The option's bytes for `client`.
pub fn option(client: (Ipv4Addr, u16)) -> [u8; LEN] {
    let [p0, p1] = client.1.to_be_bytes();
    let [a, b, c, d] = client.0.octets();
    [KIND, LEN as u8, p0, p1, a, b, c, d]
}

/// The IPv6 option's bytes for `client`.
pub fn option6(client: (Ipv6Addr, u16)) -> [u8; LEN6] {
    let mut o = [0u8; LEN6];
    o[0] = KIND;
    o[1] = LEN6 as u8;
    o[2..4].copy_from_slice(&client.1.to_be_bytes());
    o[4..].copy_from_slice(&client.0.octets());
    o
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
    insert_option(pkt, ip, &option(client), mtu)
}

/// Inserts the IPv6 option for `client` after the options of the TCP
/// segment at frame offset `l4` of the IPv6 packet at `l3`; the packet may
/// not grow past `mtu`. Nothing changes on `Err`.
pub fn insert6<P: PacketBuf>(
    pkt: &mut P,
    (l3, l4): (usize, usize),
    client: (Ipv6Addr, u16),
    mtu: u16,
) -> Result<(), Skip> {
    let ip = Ip::read6(pkt.data(), l3, l4)?;
    insert_option(pkt, ip, &option6(client), mtu)
}

/// `opt` (a multiple of 4 bytes long) after the options of `ip`'s segment.
fn insert_option<P: PacketBuf>(pkt: &mut P, ip: Ip, opt: &[u8], mtu: u16) -> Result<(), Skip> {
    let len = opt.len();
    let frame = pkt.data();
    let offset_byte = byte(frame, ip.l4 + field::DATA_OFFSET);
    let header = usize::from(offset_byte >> 4) * 4;
    if header < 20 || ip.l4 + header > ip.end() {
        return Err(Skip::Malformed);
    }
    if header + len > TCP_MAX_HEADER_LEN {
        return Err(Skip::OptionsFull);
    }
    let segment_len = ip.l4_len();
    let at = ip.l4 + header;
    open_gap(pkt, ip, at, len, mtu)?;
    let frame = pkt.data_mut();
    put_bytes(frame, at, opt);
    // The data offset grows by the option's words; it shares a checksum
    // word with the flags.
    let off_at = ip.l4 + field::DATA_OFFSET;
    let old_word = get_be16(frame, off_at);
    let new_word = old_word + (((len / 4) as u16) << 12);
    put_be16(frame, off_at, new_word);
    let mut d = Delta::default();
    d.word(old_word, new_word);
    // The pseudo-header's TCP length, and the option's own words (the
    // header length is a multiple of 4: they sit at even offsets).
    d.word(segment_len, segment_len + len as u16);
    add_words(&mut d, opt);
    let check = ip.l4 + field::CHECKSUM.start;
    put_be16(frame, check, d.apply(get_be16(frame, check)));
    Ok(())
}

/// The value to lower a client SYN's MSS to so the option fits: its MSS
/// less [`LEN`], if it has an MSS option (None: leave it).
pub fn lowered_mss(header: &[u8]) -> Option<u16> {
    lowered_mss_by(header, LEN)
}

/// [`lowered_mss`] for the IPv6 option: less [`LEN6`].
pub fn lowered_mss6(header: &[u8]) -> Option<u16> {
    lowered_mss_by(header, LEN6)
}

fn lowered_mss_by(header: &[u8], by: usize) -> Option<u16> {
    let at = crate::wire::tcp::mss_value_at(header)?;
    let mss = get_be16(header, at);
    Some(mss.saturating_sub(by as u16))
}
