//! Frame builders for tests, on etherparse (an independent encoder).

use etherparse::PacketBuilder;

pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xaa];

pub fn tcp_frame(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, OUR_MAC)
        .ipv4(src, dst, ttl)
        .tcp(sport, dport, 1000, 65535)
        .ack(7);
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("writes");
    v
}

pub fn udp_frame(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, OUR_MAC)
        .ipv4(src, dst, ttl)
        .udp(sport, dport);
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("writes");
    v
}

pub fn echo_frame(
    src: [u8; 4],
    dst: [u8; 4],
    request: bool,
    id: u16,
    seq: u16,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, OUR_MAC).ipv4(src, dst, 64);
    let b = if request {
        b.icmpv4_echo_request(id, seq)
    } else {
        b.icmpv4_echo_reply(id, seq)
    };
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("writes");
    v
}

/// An ICMP error from `src` to `dst` quoting the first `quote_len` bytes of
/// the IP packet `quoted`.
pub fn icmp_error_frame(
    src: [u8; 4],
    dst: [u8; 4],
    icmp_type: u8,
    code: u8,
    rest: u32,
    quoted: &[u8],
    quote_len: usize,
) -> Vec<u8> {
    let mut icmp = vec![icmp_type, code, 0, 0];
    icmp.extend_from_slice(&rest.to_be_bytes());
    icmp.extend_from_slice(&quoted[..quote_len.min(quoted.len())]);
    let c = crate::checksum::checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut ip =
        etherparse::Ipv4Header::new(icmp.len() as u16, 64, etherparse::IpNumber::ICMP, src, dst)
            .expect("valid");
    ip.header_checksum = ip.calc_header_checksum();
    let mut v = OUR_MAC.to_vec();
    v.extend_from_slice(&CLIENT_MAC);
    v.extend_from_slice(&0x0800u16.to_be_bytes());
    v.extend_from_slice(&ip.to_bytes());
    v.extend_from_slice(&icmp);
    v
}

/// Recomputes the IPv4 header checksum at `l3`.
pub fn fix_ipv4_checksum(frame: &mut [u8], l3: usize) {
    let hl = usize::from(frame[l3] & 0x0f) * 4;
    frame[l3 + 10..l3 + 12].copy_from_slice(&[0, 0]);
    let c = crate::checksum::checksum(&frame[l3..l3 + hl]);
    frame[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
}

/// `frame` with an 802.1Q tag carrying `vid` inserted after the MACs.
pub fn vlan_tag(frame: &[u8], vid: u16) -> Vec<u8> {
    let mut v = frame[..12].to_vec();
    v.extend_from_slice(&0x8100u16.to_be_bytes());
    v.extend_from_slice(&vid.to_be_bytes());
    v.extend_from_slice(&frame[12..]);
    v
}
