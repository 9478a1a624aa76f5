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

/// Checks with etherparse (an independent decoder) that `frame` parses and
/// that its IPv4 header, TCP, UDP (unless 0) and ICMP checksums all verify.
pub fn assert_checksums_verify(frame: &[u8]) {
    use etherparse::{NetHeaders, PacketHeaders, TransportHeader};
    let p = PacketHeaders::from_ethernet_slice(frame).expect("etherparse accepts the frame");
    let Some(NetHeaders::Ipv4(ip, _)) = &p.net else {
        panic!("not IPv4")
    };
    assert_eq!(
        ip.header_checksum,
        ip.calc_header_checksum(),
        "IPv4 header checksum"
    );
    let payload = p.payload.slice();
    match &p.transport {
        Some(TransportHeader::Tcp(t)) => {
            assert_eq!(
                t.checksum,
                t.calc_checksum_ipv4(ip, payload).expect("fits"),
                "TCP checksum"
            );
        }
        // A UDP checksum of 0 means none was computed.
        Some(TransportHeader::Udp(u)) if u.checksum != 0 => {
            assert_eq!(
                u.checksum,
                u.calc_checksum_ipv4(ip, payload).expect("fits"),
                "UDP checksum"
            );
        }
        Some(TransportHeader::Udp(_)) => {}
        Some(TransportHeader::Icmpv4(i)) => {
            assert_eq!(
                i.checksum,
                i.icmp_type.calc_checksum(payload),
                "ICMP checksum"
            );
        }
        Some(other) => panic!("unexpected transport {other:?}"),
        None => {}
    }
}

/// The L4 kinds the property tests draw from.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Tcp,
    Udp,
    UdpNoChecksum,
    EchoRequest,
    EchoReply,
}

/// A random valid frame: any of [`Kind`], with IPv4 options, an optional
/// VLAN tag and optional trailing padding.
#[derive(Clone, Debug)]
pub struct FrameSpec {
    pub kind: Kind,
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub sport: u16,
    pub dport: u16,
    pub ttl: u8,
    pub df: bool,
    pub options_words: usize,
    pub payload: Vec<u8>,
    pub vlan: Option<u16>,
    pub padding: usize,
}

impl FrameSpec {
    pub fn build(&self) -> Vec<u8> {
        let mut ip =
            etherparse::Ipv4Header::new(0, self.ttl, etherparse::IpNumber::TCP, self.src, self.dst)
                .expect("valid");
        ip.dont_fragment = self.df;
        ip.identification = self.sport ^ self.dport;
        let opts: Vec<u8> = (0..self.options_words * 4).map(|_| 1u8).collect(); // NOPs
        ip.options = etherparse::Ipv4Options::try_from(&opts[..]).expect("<= 40 bytes");
        let l4: Vec<u8> = match self.kind {
            Kind::Tcp => {
                ip.protocol = etherparse::IpNumber::TCP;
                let mut t = etherparse::TcpHeader::new(self.sport, self.dport, 12345, 512);
                t.ack = true;
                t.checksum = t
                    .calc_checksum_ipv4_raw(self.src, self.dst, &self.payload)
                    .expect("fits");
                t.to_bytes().to_vec()
            }
            Kind::Udp | Kind::UdpNoChecksum => {
                ip.protocol = etherparse::IpNumber::UDP;
                let mut u = etherparse::UdpHeader::without_ipv4_checksum(
                    self.sport,
                    self.dport,
                    self.payload.len(),
                )
                .expect("fits");
                if matches!(self.kind, Kind::Udp) {
                    u.checksum = u
                        .calc_checksum_ipv4_raw(self.src, self.dst, &self.payload)
                        .expect("fits");
                }
                u.to_bytes().to_vec()
            }
            Kind::EchoRequest | Kind::EchoReply => {
                ip.protocol = etherparse::IpNumber::ICMP;
                let echo = etherparse::IcmpEchoHeader {
                    id: self.sport,
                    seq: self.dport,
                };
                let t = if matches!(self.kind, Kind::EchoRequest) {
                    etherparse::Icmpv4Type::EchoRequest(echo)
                } else {
                    etherparse::Icmpv4Type::EchoReply(echo)
                };
                etherparse::Icmpv4Header::with_checksum(t, &self.payload)
                    .to_bytes()
                    .to_vec()
            }
        };
        ip.set_payload_len(l4.len() + self.payload.len())
            .expect("fits");
        ip.header_checksum = ip.calc_header_checksum();
        let mut f = OUR_MAC.to_vec();
        f.extend_from_slice(&CLIENT_MAC);
        if let Some(vid) = self.vlan {
            f.extend_from_slice(&0x8100u16.to_be_bytes());
            f.extend_from_slice(&vid.to_be_bytes());
        }
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        f.extend_from_slice(&ip.to_bytes());
        f.extend_from_slice(&l4);
        f.extend_from_slice(&self.payload);
        f.extend(std::iter::repeat(0).take(self.padding));
        f
    }
}

pub fn frame_spec(min_ttl: u8) -> impl proptest::strategy::Strategy<Value = FrameSpec> {
    use proptest::prelude::*;
    let kind = prop_oneof![
        Just(Kind::Tcp),
        Just(Kind::Udp),
        Just(Kind::UdpNoChecksum),
        Just(Kind::EchoRequest),
        Just(Kind::EchoReply)
    ];
    (
        kind,
        any::<[u8; 4]>(),
        any::<[u8; 4]>(),
        any::<u16>(),
        any::<u16>(),
        min_ttl..=255u8,
        any::<bool>(),
        0usize..=10,
        proptest::collection::vec(any::<u8>(), 0..80),
        proptest::option::of(0u16..4095),
        0usize..8,
    )
        .prop_map(
            |(kind, src, dst, sport, dport, ttl, df, options_words, payload, vlan, padding)| {
                FrameSpec {
                    kind,
                    src,
                    dst,
                    sport,
                    dport,
                    ttl,
                    df,
                    options_words,
                    payload,
                    vlan,
                    padding,
                }
            },
        )
}

pub fn translation() -> impl proptest::strategy::Strategy<Value = crate::rewrite::Translation> {
    use proptest::prelude::*;
    (any::<u32>(), any::<u16>(), any::<u32>(), any::<u16>()).prop_map(|(s, sp, d, dp)| {
        crate::rewrite::Translation {
            src: s.into(),
            src_port: sp,
            dst: d.into(),
            dst_port: dp,
        }
    })
}

/// Splits the IPv4 packet of `frame` (header at `l3`, as many header bytes
/// as its IHL says) into fragments of `chunk` payload bytes (a multiple of
/// 8), each a frame with the same L2 header and a fixed checksum.
pub fn fragment(frame: &[u8], l3: usize, chunk: usize) -> Vec<Vec<u8>> {
    let ihl = usize::from(frame[l3] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([frame[l3 + 2], frame[l3 + 3]]));
    let payload = &frame[l3 + ihl..l3 + total];
    let base_flags = u16::from_be_bytes([frame[l3 + 6], frame[l3 + 7]]) & 0x4000;
    let mut out = Vec::new();
    let mut at = 0;
    while at < payload.len() {
        let end = (at + chunk).min(payload.len());
        let mut f = frame[..l3 + ihl].to_vec();
        f.extend_from_slice(&payload[at..end]);
        let len = (ihl + end - at) as u16;
        f[l3 + 2..l3 + 4].copy_from_slice(&len.to_be_bytes());
        let more = if end < payload.len() { 0x2000 } else { 0 };
        let flags = base_flags | more | (at / 8) as u16;
        f[l3 + 6..l3 + 8].copy_from_slice(&flags.to_be_bytes());
        fix_ipv4_checksum(&mut f, l3);
        out.push(f);
        at = end;
    }
    out
}

/// Puts fragments (frames, IPv4 header at `l3`, in any order) back into
/// one frame: the first fragment's L2 and IP header, flags and offset
/// cleared, length and checksum fixed. Checks each fragment's header
/// checksum, that all carry the first one's addresses, protocol and
/// identification, and that the pieces tile the datagram.
pub fn reassemble(frames: &[Vec<u8>], l3: usize) -> Vec<u8> {
    let mut pieces: Vec<(usize, &[u8], bool, &Vec<u8>)> = frames
        .iter()
        .map(|f| {
            let ihl = usize::from(f[l3] & 0x0f) * 4;
            let h: &[u8; 20] = f[l3..l3 + 20].try_into().expect("a header");
            assert!(
                crate::checksum::verifies_ipv4_header(h),
                "fragment header checksum"
            );
            let total = usize::from(u16::from_be_bytes([f[l3 + 2], f[l3 + 3]]));
            let word = u16::from_be_bytes([f[l3 + 6], f[l3 + 7]]);
            let off = usize::from(word & 0x1fff) * 8;
            (off, &f[l3 + ihl..l3 + total], word & 0x2000 != 0, f)
        })
        .collect();
    pieces.sort_by_key(|p| p.0);
    let first = pieces.first().expect("fragments").3;
    let ihl = usize::from(first[l3] & 0x0f) * 4;
    let mut out = first[..l3 + ihl].to_vec();
    for (i, (off, data, more, f)) in pieces.iter().enumerate() {
        // Identification, protocol and addresses: one datagram's.
        for (a, b) in [(4, 6), (9, 10), (12, 20)] {
            assert_eq!(f[l3 + a..l3 + b], first[l3 + a..l3 + b], "one datagram");
        }
        assert_eq!(*off, out.len() - l3 - ihl, "pieces tile the datagram");
        assert_eq!(*more, i + 1 < pieces.len(), "only the last one ends it");
        out.extend_from_slice(data);
    }
    let len = (out.len() - l3) as u16;
    out[l3 + 2..l3 + 4].copy_from_slice(&len.to_be_bytes());
    let flags = u16::from_be_bytes([out[l3 + 6], out[l3 + 7]]) & 0x4000;
    out[l3 + 6..l3 + 8].copy_from_slice(&flags.to_be_bytes());
    fix_ipv4_checksum(&mut out, l3);
    out
}

/// Asserts that the TCP or UDP checksum of the IPv6 frame `frame` (its
/// extension headers walked by etherparse) verifies; the IPv6 twin of
/// [`assert_checksums_verify`] (IPv6 has no header checksum).
pub fn assert_checksums_verify6(frame: &[u8]) {
    use etherparse::{NetHeaders, PacketHeaders, TransportHeader};
    let p = PacketHeaders::from_ethernet_slice(frame).expect("etherparse accepts the frame");
    let Some(NetHeaders::Ipv6(ip, _)) = &p.net else {
        panic!("not IPv6")
    };
    let payload = p.payload.slice();
    match &p.transport {
        Some(TransportHeader::Tcp(t)) => {
            assert_eq!(
                t.checksum,
                t.calc_checksum_ipv6(ip, payload).expect("fits"),
                "TCP checksum"
            );
        }
        Some(TransportHeader::Udp(u)) => {
            assert_eq!(
                u.checksum,
                u.calc_checksum_ipv6(ip, payload).expect("fits"),
                "UDP checksum"
            );
        }
        other => panic!("not TCP or UDP: {other:?}"),
    }
}
