//! The PROXY protocol version 2 header on a UDP session's first datagram
//! to its backend: prepended to the payload, so the backend reads the
//! client's address and port and the VIP's before the data.

use super::proxy_header::{encode_v2, Endpoints, Transport, V2_IPV4_LEN};
use super::proxy_header6::{self, Endpoints6, V2_IPV6_LEN};
use super::{add_words, open_gap, Ip, Skip};
use crate::buf::PacketBuf;
use crate::checksum::Delta;
use crate::wire::udp::field;
use crate::wire::{get_be16, put_be16};

/// UDP header length.
const UDP_HEADER_LEN: usize = 8;

/// Prepends the version 2 header for `ends` to the payload of the UDP
/// datagram of the IPv4 packet at frame offset `l3`; the packet may not
/// grow past `mtu`. Nothing changes on `Err`.
pub fn prepend_v2<P: PacketBuf>(
    pkt: &mut P,
    l3: usize,
    ends: Endpoints,
    mtu: u16,
) -> Result<(), Skip> {
    let ip = Ip::read(pkt.data(), l3)?;
    let mut header = [0u8; V2_IPV4_LEN];
    encode_v2(&mut header, ends, Transport::Udp).ok_or(Skip::Malformed)?;
    prepend(pkt, ip, &header, mtu)
}

/// [`prepend_v2`] for the UDP datagram at frame offset `l4` of the IPv6
/// packet at `l3`: the IPv6 header ([`V2_IPV6_LEN`] bytes). IPv6 UDP
/// always has a checksum (RFC 8200 8.1): it is updated as IPv4's.
pub fn prepend_v2_6<P: PacketBuf>(
    pkt: &mut P,
    (l3, l4): (usize, usize),
    ends: Endpoints6,
    mtu: u16,
) -> Result<(), Skip> {
    let ip = Ip::read6(pkt.data(), l3, l4)?;
    let mut header = [0u8; V2_IPV6_LEN];
    proxy_header6::encode_v2(&mut header, ends, Transport::Udp).ok_or(Skip::Malformed)?;
    prepend(pkt, ip, &header, mtu)
}

/// `header` (an even number of bytes) before the payload of `ip`'s
/// datagram.
fn prepend<P: PacketBuf>(pkt: &mut P, ip: Ip, header: &[u8], mtu: u16) -> Result<(), Skip> {
    let frame = pkt.data();
    if ip.l4 + UDP_HEADER_LEN > ip.end() {
        return Err(Skip::Malformed);
    }
    let udp_len = get_be16(frame, ip.l4 + field::LENGTH.start);
    if usize::from(udp_len) != ip.end() - ip.l4 {
        return Err(Skip::Malformed);
    }
    let at = ip.l4 + UDP_HEADER_LEN;
    open_gap(pkt, ip, at, header.len(), mtu)?;
    let frame = pkt.data_mut();
    frame[at..at + header.len()].copy_from_slice(header);
    let new_len = udp_len + header.len() as u16;
    put_be16(frame, ip.l4 + field::LENGTH.start, new_len);
    // The length is counted twice: in the header and the pseudo-header.
    let mut d = Delta::default();
    d.word(udp_len, new_len);
    d.word(udp_len, new_len);
    add_words(&mut d, header);
    let check = ip.l4 + field::CHECKSUM.start;
    put_be16(frame, check, d.apply_udp(get_be16(frame, check)));
    Ok(())
}
