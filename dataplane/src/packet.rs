//! Parsing and classifying a frame: the first step of the packet path.
//!
//! [`classify`] walks Ethernet, an optional 802.1Q tag, and IPv4 with its L4
//! header, checking everything the rewrites will rely on, and returns the
//! offsets and the flow tuple in a small `Copy` value, so later steps never
//! parse again. Malformed input ends in a [`DropReason`].
//!
//! IPv4 fragments of TCP and UDP are classified, not reassembled: the
//! first fragment (offset 0) carries the ports and classifies as the TCP
//! or UDP packet it starts, with [`Ipv4Meta::fragment`] set; a later one
//! classifies as [`L4Kind::Fragment`], without ports, and takes the first
//! one's decision from the fragment table (`crate::frag`, docs/fragments-and-mtu.md).
//! Fragments that would end past 65535 bytes are [`DropReason::FragOversized`];
//! fragments of other protocols stay [`DropReason::Fragment`].

use std::net::Ipv4Addr;

use crate::buf::HwChecksum;
use crate::checksum;
use crate::drop::DropReason;
use crate::tuple::{FiveTuple, IpProto};
use crate::wire::ethernet::{parse_l2, ETHERNET_HEADER_LEN, VLAN_TAG_LEN};
use crate::wire::icmp::{self, IcmpType};
use crate::wire::ipv4::IPV4_MIN_HEADER_LEN;
use crate::wire::tcp;
use crate::wire::tcp::TCP_MIN_HEADER_LEN;
use crate::wire::udp::UDP_HEADER_LEN;
use crate::wire::{EtherType, IcmpPacket, Ipv4Packet, Ipv6Packet, TcpSegment, UdpDatagram};

/// What kind of L4 payload an IPv4 packet carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum L4Kind {
    Tcp,
    Udp,
    /// ICMP echo request (`request`) or reply; the identifier is in both
    /// ports of the tuple.
    IcmpEcho {
        request: bool,
    },
    /// An ICMP error quoting a packet of a flow; `quote_offset` is where
    /// the quoted IP header starts in the frame. [`quoted_flow`] gives the
    /// quoted packet's tuple as it was sent (the flow it belongs to is found
    /// by looking up its reverse, the direction of this error). Kept as an
    /// offset, so every classified packet stays small: errors are rare.
    IcmpError {
        quote_offset: u16,
    },
    /// Any other ICMP type (timestamps, redirects, ...).
    IcmpOther,
    /// A TCP or UDP fragment past the first: no ports (the tuple's are 0).
    /// `offset` is in bytes; `more` is the more-fragments flag.
    Fragment {
        offset: u16,
        more: bool,
    },
}

/// An IPv4 packet's layout and flow, as found by [`classify`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Ipv4Meta {
    /// Where the IPv4 header starts in the frame.
    pub l3_offset: usize,
    /// Where the L4 header starts in the frame.
    pub l4_offset: usize,
    /// The IPv4 total length (bytes of the frame past it are padding).
    pub total_len: u16,
    pub ttl: u8,
    pub dont_fragment: bool,
    pub vlan: Option<u16>,
    /// Addresses, ports (echo identifier for ICMP echo, 0 for other ICMP)
    /// and protocol.
    pub tuple: FiveTuple,
    pub kind: L4Kind,
    /// For a fragment (the first one too): its IP identification. `None`
    /// for a whole packet, the common case.
    pub fragment: Option<u16>,
}

impl Ipv4Meta {
    /// Offset one past the last IP byte in the frame.
    pub fn ip_end(&self) -> usize {
        self.l3_offset + usize::from(self.total_len)
    }
}

/// A classified frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Classified {
    /// An ARP packet starting at `l3_offset` (not yet validated: see
    /// [`crate::net::arp`]).
    Arp {
        l3_offset: usize,
        vlan: Option<u16>,
    },
    Ipv4(Ipv4Meta),
    /// An IPv6 packet starting at `l3_offset` (its fixed header checked:
    /// version, payload length within the frame). Answered when it is
    /// Neighbour Discovery or echo for one of our addresses
    /// ([`crate::net::nd`]); TCP and UDP to an IPv6 VIP is forwarded by DR or TUN
    /// (`pipeline/forward6.rs`).
    Ipv6 {
        l3_offset: usize,
        vlan: Option<u16>,
        next_header: u8,
    },
}

/// Parses and classifies a frame. Checks the IPv4 header checksum, rejects
/// fragments and protocols other than TCP, UDP and ICMP, requires a whole
/// L4 header, and for ICMP errors a verified ICMP checksum and a quote that
/// names a flow.
#[inline(always)]
pub fn classify(frame: &[u8]) -> Result<Classified, DropReason> {
    classify_received(frame, HwChecksum::Unchecked)
}

/// [`classify`] for a frame whose IPv4 header checksum the NIC may have
/// checked already: `Good` skips our check, `Bad` is the same drop.
#[inline(always)]
pub fn classify_received(
    frame: &[u8],
    ipv4_checksum: HwChecksum,
) -> Result<Classified, DropReason> {
    match classify_common(frame, ipv4_checksum) {
        Some(meta) => Ok(Classified::Ipv4(meta)),
        None => classify_any(frame, ipv4_checksum),
    }
}

/// Big-endian u16 at `off` of a header known to be long enough.
#[inline(always)]
fn be16<const N: usize>(h: &[u8; N], off: usize) -> u16 {
    u16::from_be_bytes([h[off], h[off + 1]])
}

/// The common case of [`classify_received`] in a handful of loads: an
/// untagged or single-tagged IPv4 packet with a 20-byte header, a valid
/// checksum, not a fragment, carrying a whole TCP or UDP header. Anything
/// else is `None`, for the general walk to classify (or drop with its
/// reason); what this accepts, it classifies exactly as that walk would
/// (`tests::the_common_case_classifies_as_the_general_walk`).
#[inline(always)]
fn classify_common(frame: &[u8], ipv4_checksum: HwChecksum) -> Option<Ipv4Meta> {
    use crate::wire::{ethernet, ipv4, udp};
    const IPV4: u16 = EtherType::IPV4;
    const VLAN: u16 = EtherType::VLAN;
    const TAGGED: usize = ETHERNET_HEADER_LEN + VLAN_TAG_LEN;
    /// Version 4, a header of 5 words (no options).
    const PLAIN_IPV4: u8 = 0x45;
    let l2: &[u8; TAGGED] = frame.first_chunk()?;
    let (l3_offset, vlan) = match be16(l2, ethernet::field::ETHERTYPE.start) {
        IPV4 => (ETHERNET_HEADER_LEN, None),
        VLAN if be16(l2, ethernet::field::VLAN_ETHERTYPE.start) == IPV4 => {
            let tci = be16(l2, ethernet::field::VLAN_TCI.start);
            (TAGGED, Some(tci & ethernet::VLAN_VID_MASK))
        }
        _ => return None,
    };
    let rest = frame.get(l3_offset..)?;
    let ip: &[u8; IPV4_MIN_HEADER_LEN] = rest.first_chunk()?;
    let total_len = be16(ip, ipv4::field::LENGTH.start);
    let total = usize::from(total_len);
    let flags_offset = be16(ip, ipv4::field::FLG_OFF.start);
    // The whole packet in the frame; not a fragment.
    let fragment = flags_offset & (ipv4::MORE_FRAGMENTS | ipv4::FRAGMENT_OFFSET_MASK) != 0;
    if ip[ipv4::field::VER_IHL] != PLAIN_IPV4 || total > rest.len() || fragment {
        return None;
    }
    let checksum_ok = match ipv4_checksum {
        HwChecksum::Good => true,
        HwChecksum::Bad => false,
        HwChecksum::Unchecked => checksum::verifies_ipv4_header(ip),
    };
    if !checksum_ok {
        return None;
    }
    let l4 = rest.get(IPV4_MIN_HEADER_LEN..total)?;
    let (proto, kind) = match IpProto(ip[ipv4::field::PROTOCOL]) {
        IpProto::TCP => {
            let h: &[u8; TCP_MIN_HEADER_LEN] = l4.first_chunk()?;
            let header_len = usize::from(h[tcp::field::DATA_OFFSET] >> 4) * 4;
            if header_len < TCP_MIN_HEADER_LEN || header_len > l4.len() {
                return None;
            }
            (IpProto::TCP, L4Kind::Tcp)
        }
        IpProto::UDP => {
            let h: &[u8; UDP_HEADER_LEN] = l4.first_chunk()?;
            let len = usize::from(be16(h, udp::field::LENGTH.start));
            if len < UDP_HEADER_LEN || len > l4.len() {
                return None;
            }
            (IpProto::UDP, L4Kind::Udp)
        }
        _ => return None,
    };
    // TCP and UDP put their ports in the same place.
    let ports: &[u8; 4] = l4.first_chunk()?;
    let addr = |f: crate::wire::Field| {
        Ipv4Addr::new(
            ip[f.start],
            ip[f.start + 1],
            ip[f.start + 2],
            ip[f.start + 3],
        )
    };
    Some(Ipv4Meta {
        l3_offset,
        l4_offset: l3_offset + IPV4_MIN_HEADER_LEN,
        total_len,
        ttl: ip[ipv4::field::TTL],
        dont_fragment: flags_offset & ipv4::DONT_FRAGMENT != 0,
        vlan,
        tuple: FiveTuple {
            src: addr(ipv4::field::SRC_ADDR),
            dst: addr(ipv4::field::DST_ADDR),
            src_port: be16(ports, tcp::field::SRC_PORT.start),
            dst_port: be16(ports, tcp::field::DST_PORT.start),
            proto,
        },
        kind,
        fragment: None,
    })
}

/// The general walk of [`classify_received`]: every frame the common case
/// does not take.
#[inline(never)]
fn classify_any(frame: &[u8], ipv4_checksum: HwChecksum) -> Result<Classified, DropReason> {
    let l2 = parse_l2(frame)?;
    let l3 = frame.get(l2.l3_offset..).unwrap_or(&[]);
    match l2.ethertype {
        EtherType::IPV4 => {
            classify_ipv4(frame, l2.l3_offset, l2.vlan, ipv4_checksum).map(Classified::Ipv4)
        }
        EtherType::ARP => Ok(Classified::Arp {
            l3_offset: l2.l3_offset,
            vlan: l2.vlan,
        }),
        EtherType::IPV6 => Ipv6Packet::new(l3).map(|p| Classified::Ipv6 {
            l3_offset: l2.l3_offset,
            vlan: l2.vlan,
            next_header: p.next_header(),
        }),
        _ => Err(DropReason::UnsupportedEtherType),
    }
}

#[inline(always)]
fn classify_ipv4(
    frame: &[u8],
    l3_offset: usize,
    vlan: Option<u16>,
    hw_checksum: HwChecksum,
) -> Result<Ipv4Meta, DropReason> {
    let ip = Ipv4Packet::new(frame.get(l3_offset..).unwrap_or(&[]))?;
    let checksum_ok = match hw_checksum {
        HwChecksum::Good => true,
        HwChecksum::Bad => false,
        HwChecksum::Unchecked => ip.checksum_ok(),
    };
    if !checksum_ok {
        return Err(DropReason::BadIpv4Checksum);
    }
    let fragment = ip.is_fragment().then(|| ip.ident());
    if fragment.is_some() {
        if let Some(meta) = classify_later_fragment(&ip, l3_offset, vlan)? {
            return Ok(meta);
        }
    }
    let proto = ip.protocol();
    let l4 = ip.payload();
    let (src_port, dst_port, kind) = match proto {
        // The first fragment of a UDP datagram holds its header, whose
        // length is the whole datagram's.
        IpProto::UDP if fragment.is_some() => {
            let h = l4.get(..UDP_HEADER_LEN).ok_or(DropReason::TruncatedL4)?;
            let word = |off: usize| crate::wire::get_be16(h, off);
            (word(0), word(2), L4Kind::Udp)
        }
        IpProto::TCP => {
            let t = TcpSegment::new(l4)?;
            (t.src_port(), t.dst_port(), L4Kind::Tcp)
        }
        IpProto::UDP => {
            let u = UdpDatagram::new(l4)?;
            (u.src_port(), u.dst_port(), L4Kind::Udp)
        }
        IpProto::ICMP => classify_icmp(l4, l3_offset + ip.header_len())?,
        _ => return Err(DropReason::UnsupportedProtocol),
    };
    Ok(Ipv4Meta {
        l3_offset,
        l4_offset: l3_offset + ip.header_len(),
        total_len: ip.total_len(),
        ttl: ip.ttl(),
        dont_fragment: ip.dont_fragment(),
        vlan,
        tuple: FiveTuple {
            src: ip.src(),
            dst: ip.dst(),
            src_port,
            dst_port,
            proto,
        },
        kind,
        fragment,
    })
}

/// A fragment's checks, and the meta of one past the first (`None` for a
/// first fragment, which classifies as its TCP or UDP packet). Fragments
/// ending past 65535 bytes (ping-of-death) are dropped, as are fragments
/// of other protocols, and a TCP fragment at offset 8 (RFC 1858: it could
/// overwrite the first one's flags).
#[cold]
#[inline(never)]
fn classify_later_fragment(
    ip: &Ipv4Packet<&[u8]>,
    l3_offset: usize,
    vlan: Option<u16>,
) -> Result<Option<Ipv4Meta>, DropReason> {
    let offset = usize::from(ip.fragment_offset()) * 8;
    let header_len = ip.header_len();
    let payload = usize::from(ip.total_len()) - header_len;
    if header_len + offset + payload > usize::from(u16::MAX) {
        return Err(DropReason::FragOversized);
    }
    let proto = ip.protocol();
    if proto != IpProto::TCP && proto != IpProto::UDP {
        return Err(DropReason::Fragment);
    }
    if offset == 0 {
        return Ok(None);
    }
    if offset == 8 && proto == IpProto::TCP {
        return Err(DropReason::FragOverlap);
    }
    Ok(Some(Ipv4Meta {
        l3_offset,
        l4_offset: l3_offset + header_len,
        total_len: ip.total_len(),
        ttl: ip.ttl(),
        dont_fragment: ip.dont_fragment(),
        vlan,
        tuple: FiveTuple {
            src: ip.src(),
            dst: ip.dst(),
            src_port: 0,
            dst_port: 0,
            proto,
        },
        kind: L4Kind::Fragment {
            offset: offset as u16,
            more: ip.more_fragments(),
        },
        fragment: Some(ip.ident()),
    }))
}

#[cold]
#[inline(never)]
fn classify_icmp(l4: &[u8], l4_offset: usize) -> Result<(u16, u16, L4Kind), DropReason> {
    let icmp = IcmpPacket::new(l4)?;
    let t = icmp.msg_type();
    if t == IcmpType::ECHO_REQUEST || t == IcmpType::ECHO_REPLY {
        let id = icmp.echo_ident();
        return Ok((
            id,
            id,
            L4Kind::IcmpEcho {
                request: t == IcmpType::ECHO_REQUEST,
            },
        ));
    }
    if !IcmpType::is_translatable_error(t) {
        return Ok((0, 0, L4Kind::IcmpOther));
    }
    if !icmp.checksum_ok() {
        return Err(DropReason::BadIcmpChecksum);
    }
    quoted_tuple(&icmp.quoted()?)?;
    let quote_offset = l4_offset + crate::wire::icmp::ICMP_HEADER_LEN;
    Ok((
        0,
        0,
        L4Kind::IcmpError {
            quote_offset: u16::try_from(quote_offset).map_err(|_| DropReason::BadIcmpQuote)?,
        },
    ))
}

/// The tuple of the packet an ICMP error quotes, as it was sent (see
/// [`L4Kind::IcmpError`]); None for any other packet. Classification
/// checked the quote, so for an error it is always there.
#[inline(never)]
pub fn quoted_flow(frame: &[u8], meta: &Ipv4Meta) -> Option<FiveTuple> {
    let L4Kind::IcmpError { quote_offset } = meta.kind else {
        return None;
    };
    let quote = frame.get(usize::from(quote_offset)..meta.ip_end())?;
    quoted_tuple(&Ipv4Packet::new_quoted(quote).ok()?).ok()
}

/// The flow tuple of a quoted packet: TCP/UDP ports from its first 4 bytes,
/// or the identifier of a quoted echo. A quoted non-first fragment has no
/// ports, and errors about errors are not translated.
fn quoted_tuple(inner: &Ipv4Packet<&[u8]>) -> Result<FiveTuple, DropReason> {
    if inner.fragment_offset() != 0 {
        return Err(DropReason::BadIcmpQuote);
    }
    let l4 = inner.payload();
    let word = |off: usize| crate::wire::get_be16(l4, off);
    let proto = inner.protocol();
    let (src_port, dst_port) = match proto {
        // TCP and UDP put their ports in the same place.
        IpProto::TCP | IpProto::UDP => (
            word(tcp::field::SRC_PORT.start),
            word(tcp::field::DST_PORT.start),
        ),
        IpProto::ICMP => {
            let t = l4.get(icmp::field::TYPE).copied().unwrap_or(u8::MAX);
            if t != IcmpType::ECHO_REQUEST && t != IcmpType::ECHO_REPLY {
                return Err(DropReason::BadIcmpQuote);
            }
            let id = word(icmp::field::ECHO_IDENT.start);
            (id, id)
        }
        _ => return Err(DropReason::BadIcmpQuote),
    };
    Ok(FiveTuple {
        src: inner.src(),
        dst: inner.dst(),
        src_port,
        dst_port,
        proto,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil;
    use std::net::Ipv4Addr;

    #[test]
    fn tcp_udp_and_echo_frames_yield_their_tuples() {
        let f = testutil::tcp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1234, 80, 64, b"hi");
        let Ok(Classified::Ipv4(m)) = classify(&f) else {
            panic!("tcp classifies")
        };
        assert_eq!(
            (m.l3_offset, m.l4_offset, m.ttl, m.kind),
            (14, 34, 64, L4Kind::Tcp)
        );
        assert_eq!(m.tuple.src, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(
            (m.tuple.src_port, m.tuple.dst_port, m.tuple.proto),
            (1234, 80, IpProto::TCP)
        );

        let f = testutil::udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 53, 5353, 9, b"q");
        let Ok(Classified::Ipv4(m)) = classify(&f) else {
            panic!("udp classifies")
        };
        assert_eq!(
            (m.kind, m.tuple.dst_port, m.total_len),
            (L4Kind::Udp, 5353, 29)
        );

        let f = testutil::echo_frame([10, 0, 0, 1], [10, 0, 0, 2], true, 77, 1, b"ping");
        let Ok(Classified::Ipv4(m)) = classify(&f) else {
            panic!("echo classifies")
        };
        assert_eq!(m.kind, L4Kind::IcmpEcho { request: true });
        assert_eq!((m.tuple.src_port, m.tuple.dst_port), (77, 77));
    }

    #[test]
    fn icmp_error_names_the_quoted_flow() {
        let inner = testutil::udp_frame([10, 0, 0, 2], [10, 0, 0, 1], 5353, 53, 9, b"answer");
        let f = testutil::icmp_error_frame([10, 0, 0, 1], [10, 0, 0, 2], 3, 3, 0, &inner[14..], 28);
        let Ok(Classified::Ipv4(m)) = classify(&f) else {
            panic!("error classifies")
        };
        let L4Kind::IcmpError { quote_offset } = m.kind else {
            panic!("is an error")
        };
        assert_eq!(quote_offset, 42);
        let quoted = quoted_flow(&f, &m).expect("a quoted flow");
        assert_eq!(
            (quoted.src, quoted.src_port, quoted.dst_port),
            (Ipv4Addr::new(10, 0, 0, 2), 5353, 53)
        );

        let mut bad = f.clone();
        bad[37] ^= 1; // a byte covered by the ICMP checksum
        assert_eq!(classify(&bad), Err(DropReason::BadIcmpChecksum));
        let short =
            testutil::icmp_error_frame([10, 0, 0, 1], [10, 0, 0, 2], 3, 3, 0, &inner[14..], 27);
        assert_eq!(classify(&short), Err(DropReason::BadIcmpQuote));
    }

    #[test]
    fn a_nics_checksum_verdict_is_taken_when_it_gave_one() {
        let good = testutil::udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 64, b"x");
        let mut broken = good.clone();
        broken[22] ^= 1; // TTL, checksum not fixed
        assert_eq!(
            classify_received(&broken, HwChecksum::Unchecked),
            Err(DropReason::BadIpv4Checksum)
        );
        assert!(
            matches!(
                classify_received(&broken, HwChecksum::Good),
                Ok(Classified::Ipv4(_))
            ),
            "the NIC checked it and said good: not summed again"
        );
        assert_eq!(
            classify_received(&good, HwChecksum::Bad),
            Err(DropReason::BadIpv4Checksum)
        );
        assert_eq!(
            classify_received(&good, HwChecksum::Unchecked),
            classify(&good)
        );
    }

    /// Header bytes worth trying: boundaries of the fields the common
    /// case checks, and anything.
    fn header_byte() -> impl proptest::strategy::Strategy<Value = u8> {
        proptest::prop_oneof![
            proptest::sample::select(vec![
                0, 1, 4, 5, 6, 8, 0x11, 0x20, 0x3f, 0x40, 0x45, 0x46, 0x50, 0x60, 0x81, 0xf0, 0xff
            ]),
            proptest::num::u8::ANY,
        ]
    }

    /// Offsets from the IPv4 header of the bytes the common case reads:
    /// version/IHL, total length, flags and fragment offset, protocol, the
    /// TCP data offset, the UDP length, and a few others.
    fn header_offset() -> impl proptest::strategy::Strategy<Value = usize> {
        proptest::prop_oneof![
            proptest::sample::select(vec![0, 2, 3, 6, 7, 9, 24, 25, 32, 40]),
            0usize..48,
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(4096))]
        /// Frames near the common case, with bytes of their headers
        /// changed (the IPv4 checksum fixed after, or the NIC said good,
        /// or neither): whenever the common case takes one, the general
        /// walk classifies it the same.
        #[test]
        fn the_common_case_classifies_as_the_general_walk(
            tcp in proptest::bool::ANY,
            tagged in proptest::bool::ANY,
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            edits in proptest::collection::vec((header_offset(), header_byte()), 0..3),
            ethertype_edit in proptest::option::of((12usize..18, header_byte())),
            fix_checksum in proptest::bool::ANY,
            truncate in proptest::option::weighted(0.2, 1usize..8),
            hw in 0u8..3,
        ) {
            let f = if tcp {
                testutil::tcp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1234, 80, 64, &payload)
            } else {
                testutil::udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 53, 5353, 9, &payload)
            };
            let mut f = if tagged { testutil::vlan_tag(&f, 42) } else { f };
            let l3 = if tagged { 18 } else { 14 };
            for (at, byte) in edits {
                if let Some(b) = f.get_mut(l3 + at) {
                    *b = byte;
                }
            }
            if fix_checksum && f[l3] & 0x0f == 5 {
                testutil::fix_ipv4_checksum(&mut f, l3);
            }
            if let Some((at, byte)) = ethertype_edit {
                f[at] = byte;
            }
            if let Some(cut) = truncate {
                f.truncate(f.len().saturating_sub(cut));
            }
            let hw = [HwChecksum::Unchecked, HwChecksum::Good, HwChecksum::Bad][hw as usize];
            if let Some(meta) = classify_common(&f, hw) {
                proptest::prop_assert_eq!(classify_any(&f, hw), Ok(Classified::Ipv4(meta)));
            }
        }
    }

    #[test]
    fn the_common_case_takes_plain_tcp_and_udp_and_leaves_the_rest() {
        let tcp = testutil::tcp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1234, 80, 64, b"hi");
        let udp = testutil::udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 53, 5353, 9, b"q");
        let echo = testutil::echo_frame([10, 0, 0, 1], [10, 0, 0, 2], true, 77, 1, b"ping");
        let none = HwChecksum::Unchecked;
        assert!(classify_common(&tcp, none).is_some());
        assert!(classify_common(&testutil::vlan_tag(&udp, 7), none).is_some());
        assert!(
            classify_common(&echo, none).is_none(),
            "ICMP takes the general walk"
        );
        let mut bad = tcp.clone();
        bad[22] ^= 1;
        assert!(classify_common(&bad, none).is_none());
        assert_eq!(classify(&bad), Err(DropReason::BadIpv4Checksum));
        let mut options = tcp.clone();
        options[14] = 0x46; // IHL 6: the general walk finds the TCP header 4 bytes on
        assert!(classify_common(&options, HwChecksum::Good).is_none());
    }

    #[test]
    fn malformed_and_unsupported_frames_name_a_reason() {
        let f = testutil::udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 64, b"x");
        let mut frag = f.clone();
        frag[20] = 0x1f; // offset 65528 + 9 bytes: past 65535
        frag[21] = 0xff;
        testutil::fix_ipv4_checksum(&mut frag, 14);
        assert_eq!(classify(&frag), Err(DropReason::FragOversized));
        let mut frag_icmp = testutil::echo_frame([10, 0, 0, 1], [10, 0, 0, 2], true, 1, 1, b"x");
        frag_icmp[20] = 0x20; // more fragments
        testutil::fix_ipv4_checksum(&mut frag_icmp, 14);
        assert_eq!(classify(&frag_icmp), Err(DropReason::Fragment));
        let mut bad = f.clone();
        bad[22] ^= 1; // TTL, checksum not fixed
        assert_eq!(classify(&bad), Err(DropReason::BadIpv4Checksum));
        let mut gre = f.clone();
        gre[23] = 47;
        testutil::fix_ipv4_checksum(&mut gre, 14);
        assert_eq!(classify(&gre), Err(DropReason::UnsupportedProtocol));
        assert_eq!(classify(&f[..40]), Err(DropReason::TotalLengthPastFrame));
        let mut other = f.clone();
        other[12..14].copy_from_slice(&0x88ccu16.to_be_bytes());
        assert_eq!(classify(&other), Err(DropReason::UnsupportedEtherType));
        let mut short_udp = f.clone();
        short_udp[38..40].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(classify(&short_udp), Err(DropReason::TruncatedL4));
    }

    #[test]
    fn first_fragments_carry_ports_and_later_ones_their_offset() {
        let d = testutil::udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 53, 5353, 9, &[1; 100]);
        let frags = testutil::fragment(&d, 14, 48);
        assert_eq!(frags.len(), 3);
        let Ok(Classified::Ipv4(first)) = classify(&frags[0]) else {
            panic!("first classifies")
        };
        let ident = u16::from_be_bytes([d[18], d[19]]);
        assert_eq!(
            (first.kind, first.tuple.dst_port, first.fragment),
            (L4Kind::Udp, 5353, Some(ident))
        );
        let Ok(Classified::Ipv4(last)) = classify(&frags[2]) else {
            panic!("last classifies")
        };
        assert_eq!(
            (last.kind, last.tuple.src_port, last.fragment),
            (
                L4Kind::Fragment {
                    offset: 96,
                    more: false
                },
                0,
                Some(ident)
            )
        );
        assert_eq!(
            classify(&d).map(|c| matches!(c, Classified::Ipv4(m) if m.fragment.is_none())),
            Ok(true)
        );
        // A TCP fragment at offset 8 could rewrite the first one's flags.
        let t = testutil::tcp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 64, &[0; 64]);
        let tf = testutil::fragment(&t, 14, 8);
        assert_eq!(classify(&tf[1]), Err(DropReason::FragOverlap));
        // A first fragment too short for the TCP header is refused.
        assert_eq!(classify(&tf[0]), Err(DropReason::TruncatedL4));
    }

    #[test]
    fn tagged_frames_and_arp_and_ipv6_classify() {
        let f = testutil::tcp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 64, b"");
        let tagged = testutil::vlan_tag(&f, 42);
        let Ok(Classified::Ipv4(m)) = classify(&tagged) else {
            panic!("tagged classifies")
        };
        assert_eq!((m.l3_offset, m.vlan), (18, Some(42)));
        let mut arp = vec![0u8; 42];
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(
            classify(&arp),
            Ok(Classified::Arp {
                l3_offset: 14,
                vlan: None
            })
        );
        let mut v6 = vec![0u8; 54];
        v6[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
        v6[14] = 0x60;
        v6[20] = 17;
        assert_eq!(
            classify(&v6),
            Ok(Classified::Ipv6 {
                l3_offset: 14,
                vlan: None,
                next_header: 17
            })
        );
        let v6_tagged = testutil::vlan_tag(&v6, 7);
        assert_eq!(
            classify(&v6_tagged),
            Ok(Classified::Ipv6 {
                l3_offset: 18,
                vlan: Some(7),
                next_header: 17
            })
        );
    }
}
