//! IPv6 headers (RFC 8200): the fixed header, and the walk along the
//! extension headers to the upper-layer header. The pipeline classifies
//! IPv6 to count it, not to forward it yet (the modes are IPv4-only for
//! now; issue #20 builds on this).

use std::net::Ipv6Addr;

use super::{get_be16, get_be32, get_u8, put_be16, put_be32, put_bytes, put_u8};
use crate::drop::DropReason;

/// Length of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;

/// Where the fields of an IPv6 header lie, from its start.
pub mod field {
    use crate::wire::Field;

    /// Version (high nibble of the first byte), traffic class, flow label.
    pub const VER_TC_FLOW: Field = 0..4;
    pub const PAYLOAD_LEN: Field = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
}

/// Where the fields of an extension header lie, from its start.
pub mod ext_field {
    use crate::wire::Field;

    /// Every extension header starts with the next header's type,
    pub const NEXT_HEADER: usize = 0;
    /// and (but the fragment header) its length: in 8-byte units beyond
    /// the first 8 (4-byte units beyond the first 8 for AH).
    pub const HDR_EXT_LEN: usize = 1;
    /// Routing header: its type, and the segments still to visit.
    pub const ROUTING_TYPE: usize = 2;
    pub const SEGMENTS_LEFT: usize = 3;
    /// Fragment header: a reserved byte (0) where the others' length is,
    pub const FRAG_RESERVED: usize = 1;
    /// its offset (13 bits, 8-byte units) and M flag,
    pub const FRAG_OFFSET_FLAGS: Field = 2..4;
    /// and the identification of the datagram.
    pub const FRAG_IDENT: Field = 4..8;
}

/// Next-header values of the extension headers we walk, and the ones
/// that end a walk.
pub struct NextHeader;

impl NextHeader {
    pub const HOP_BY_HOP: u8 = 0;
    /// An IPv6 packet inside (RFC 2473 tunnels).
    pub const IPV6: u8 = 41;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AUTH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const NO_NEXT_HEADER: u8 = 59;
    pub const DEST_OPTIONS: u8 = 60;
}

/// Length of a fragment header (it has no length field).
pub const FRAGMENT_HEADER_LEN: usize = 8;

/// The most extension headers a packet may carry before the upper layer:
/// more is no packet a host sends, and bounds the walk (RFC 8200 lists
/// six kinds, each at most once but destination options twice).
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// Why an extension-header chain is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainError {
    /// A header runs past the payload.
    Truncated,
    /// More than [`MAX_EXTENSION_HEADERS`].
    TooMany,
    /// A hop-by-hop options header other than first (RFC 8200 4.3).
    HopByHopNotFirst,
    /// A routing header with segments left: the packet is to be forwarded
    /// to another address, which a load balancer's VIP does not do.
    RoutingSegmentsLeft,
    /// A fragment header other than once.
    SecondFragmentHeader,
    /// A first fragment (offset 0, more to come) whose headers run past
    /// it: RFC 7112 wants the whole chain in the first fragment.
    IncompleteFirstFragment,
}

/// A fragment header's contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Fragment {
    /// Offset of this fragment's data in the datagram, in bytes.
    pub offset: u16,
    /// Whether more fragments follow.
    pub more: bool,
    pub ident: u32,
    /// Where the fragment's data (the fragmentable part) starts, from the
    /// IPv6 header's start: right after the fragment header. A `u16` (the
    /// payload length bounds it), so the walk's result, which every IPv6
    /// packet's classification returns, stays 24 bytes.
    pub data_offset: u16,
}

impl Ipv6Fragment {
    /// Offset 0 and no more fragments (RFC 6946): the whole datagram.
    pub fn atomic(&self) -> bool {
        self.offset == 0 && !self.more
    }
}

/// Where the walk ended: the upper-layer protocol (or ESP, or no next
/// header) and where its header starts, from the IPv6 header's start;
/// and the fragment header if there was one. A fragment other than the
/// first has no upper-layer header: `l4_offset` is then where its data
/// starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Chain {
    pub proto: u8,
    pub l4_offset: usize,
    pub fragment: Option<Ipv6Fragment>,
    /// How many extension headers were walked.
    pub extensions: u8,
}

/// An IPv6 packet's fixed header.
#[derive(Debug)]
pub struct Ipv6Packet<T> {
    buf: T,
}

/// The fields of an IPv6 header we write (traffic class and flow label 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Header {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub hop_limit: u8,
    pub payload_len: u16,
}

/// Writes `h` as the fixed header at the start of `b`; `false` if `b` is
/// shorter than [`IPV6_HEADER_LEN`].
pub fn write_header(b: &mut [u8], h: &Ipv6Header) -> bool {
    let Some(b) = b.get_mut(..IPV6_HEADER_LEN) else {
        return false;
    };
    put_be32(b, field::VER_TC_FLOW.start, 6 << 28);
    put_be16(b, field::PAYLOAD_LEN.start, h.payload_len);
    put_u8(b, field::NEXT_HEADER, h.next_header);
    put_u8(b, field::HOP_LIMIT, h.hop_limit);
    put_bytes(b, field::SRC_ADDR.start, &h.src.octets());
    put_bytes(b, field::DST_ADDR.start, &h.dst.octets());
    true
}

/// Writes a fragment header (RFC 8200 4.5) at the start of `b`: the next
/// header, the offset (bytes, a multiple of 8), the M flag and the
/// identification; `false` if `b` is shorter than [`FRAGMENT_HEADER_LEN`].
pub fn write_fragment_header(b: &mut [u8], next_header: u8, f: &Ipv6Fragment) -> bool {
    let Some(b) = b.get_mut(..FRAGMENT_HEADER_LEN) else {
        return false;
    };
    put_u8(b, ext_field::NEXT_HEADER, next_header);
    put_u8(b, ext_field::FRAG_RESERVED, 0);
    let word = (f.offset & !0x7) | u16::from(f.more);
    put_be16(b, ext_field::FRAG_OFFSET_FLAGS.start, word);
    put_be32(b, ext_field::FRAG_IDENT.start, f.ident);
    true
}

/// Sets the traffic class of the fixed header at the start of `b` (the
/// version and flow label kept).
pub fn set_traffic_class(b: &mut [u8], traffic_class: u8) {
    let word = get_be32(b, field::VER_TC_FLOW.start);
    let word = (word & !(0xff << 20)) | u32::from(traffic_class) << 20;
    put_be32(b, field::VER_TC_FLOW.start, word);
}

/// The traffic class of the fixed header at the start of `b`.
pub fn traffic_class(b: &[u8]) -> u8 {
    (get_be32(b, field::VER_TC_FLOW.start) >> 20) as u8
}

/// The first word of the fixed header at the start of `b`: version,
/// traffic class and flow label, which a tunnel copies to its outer header.
pub fn version_class_label(b: &[u8]) -> u32 {
    get_be32(b, field::VER_TC_FLOW.start)
}

/// Sets the first word of the fixed header at the start of `b` (see
/// [`version_class_label`]).
pub fn set_version_class_label(b: &mut [u8], word: u32) {
    put_be32(b, field::VER_TC_FLOW.start, word);
}

fn addr_at(b: &[u8], off: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    if let Some(src) = b.get(off..off + 16) {
        a.copy_from_slice(src);
    }
    Ipv6Addr::from(a)
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// A view over an IPv6 packet whose payload length fits the bytes present.
    pub fn new(buf: T) -> Result<Self, DropReason> {
        let b = buf.as_ref();
        if b.len() < IPV6_HEADER_LEN {
            return Err(DropReason::TruncatedFrame);
        }
        if get_u8(b, field::VER_TC_FLOW.start) >> 4 != 6 {
            return Err(DropReason::BadIpVersion);
        }
        if IPV6_HEADER_LEN + usize::from(get_be16(b, field::PAYLOAD_LEN.start)) > b.len() {
            return Err(DropReason::TotalLengthPastFrame);
        }
        Ok(Ipv6Packet { buf })
    }
    /// The bytes the view is over: the fixed header on, padding included.
    pub fn bytes(&self) -> &[u8] {
        self.buf.as_ref()
    }
    pub fn payload_len(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::PAYLOAD_LEN.start)
    }
    /// The first next-header value (extension headers are not walked).
    pub fn next_header(&self) -> u8 {
        get_u8(self.buf.as_ref(), field::NEXT_HEADER)
    }
    pub fn hop_limit(&self) -> u8 {
        get_u8(self.buf.as_ref(), field::HOP_LIMIT)
    }
    pub fn src(&self) -> Ipv6Addr {
        addr_at(self.buf.as_ref(), field::SRC_ADDR.start)
    }
    pub fn dst(&self) -> Ipv6Addr {
        addr_at(self.buf.as_ref(), field::DST_ADDR.start)
    }

    /// Walks the extension headers to the upper-layer header. Stops at
    /// ESP (encrypted: nothing past it can be read), at "no next header",
    /// at a fragment other than the first (its data is not a header), and
    /// at the first type that is not an extension header. Bounded by
    /// [`MAX_EXTENSION_HEADERS`]; every header must lie within the payload.
    pub fn walk(&self) -> Result<Ipv6Chain, ChainError> {
        let b = self.buf.as_ref();
        // The packet ends where its payload length says (padding after it,
        // as an Ethernet minimum frame adds, is not part of it).
        let end = IPV6_HEADER_LEN + usize::from(self.payload_len());
        let mut next = self.next_header();
        let mut at = IPV6_HEADER_LEN;
        let mut chain = Ipv6Chain {
            proto: next,
            l4_offset: at,
            fragment: None,
            extensions: 0,
        };
        loop {
            let len = match next {
                NextHeader::HOP_BY_HOP if chain.extensions > 0 => {
                    return Err(ChainError::HopByHopNotFirst)
                }
                NextHeader::HOP_BY_HOP | NextHeader::DEST_OPTIONS | NextHeader::ROUTING => {
                    8 + 8 * usize::from(get_u8(b, at + ext_field::HDR_EXT_LEN))
                }
                NextHeader::AUTH => 8 + 4 * usize::from(get_u8(b, at + ext_field::HDR_EXT_LEN)),
                NextHeader::FRAGMENT => FRAGMENT_HEADER_LEN,
                // The upper layer (or ESP, or nothing).
                _ => break,
            };
            if usize::from(chain.extensions) == MAX_EXTENSION_HEADERS {
                return Err(ChainError::TooMany);
            }
            if at + len > end {
                return Err(match chain.fragment {
                    Some(f) if f.offset == 0 && f.more => ChainError::IncompleteFirstFragment,
                    _ => ChainError::Truncated,
                });
            }
            if next == NextHeader::ROUTING && get_u8(b, at + ext_field::SEGMENTS_LEFT) != 0 {
                return Err(ChainError::RoutingSegmentsLeft);
            }
            if next == NextHeader::FRAGMENT {
                if chain.fragment.is_some() {
                    return Err(ChainError::SecondFragmentHeader);
                }
                let word = get_be16(b, at + ext_field::FRAG_OFFSET_FLAGS.start);
                chain.fragment = Some(Ipv6Fragment {
                    offset: word & !0x7,
                    more: word & 1 != 0,
                    ident: get_be32(b, at + ext_field::FRAG_IDENT.start),
                    data_offset: u16::try_from(at + FRAGMENT_HEADER_LEN).unwrap_or(u16::MAX),
                });
            }
            chain.extensions += 1;
            next = get_u8(b, at + ext_field::NEXT_HEADER);
            at += len;
            chain.proto = next;
            chain.l4_offset = at;
            // A later fragment carries data, not the upper-layer header.
            if chain.fragment.is_some_and(|f| f.offset != 0) {
                break;
            }
        }
        Ok(chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An IPv6 packet: the fixed header with `first` as next header, then
    /// `exts` (each given whole, its own next-header byte filled in here),
    /// then the upper layer `proto` with `payload`.
    fn packet(exts: &[(u8, Vec<u8>)], proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        for (i, (_, bytes)) in exts.iter().enumerate() {
            let mut h = bytes.clone();
            h[0] = exts.get(i + 1).map_or(proto, |(kind, _)| *kind);
            body.extend_from_slice(&h);
        }
        body.extend_from_slice(payload);
        let mut v = vec![0x60, 0, 0, 0];
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.push(exts.first().map_or(proto, |(kind, _)| *kind));
        v.push(64);
        v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        v.extend_from_slice(&body);
        v
    }

    /// An options-style header (hop-by-hop, destination options, routing)
    /// of `units` 8-byte units beyond the first 8, filled with PadN.
    fn options(kind: u8, units: u8) -> (u8, Vec<u8>) {
        let mut h = vec![0u8; 8 + 8 * usize::from(units)];
        h[1] = units;
        h[2] = 1; // PadN over the rest
        h[3] = (h.len() - 4) as u8;
        (kind, h)
    }

    fn routing(segments_left: u8) -> (u8, Vec<u8>) {
        // Type 4 (segment routing) with one address.
        let mut h = vec![0u8; 24];
        h[1] = 2;
        h[2] = 4;
        h[3] = segments_left;
        (NextHeader::ROUTING, h)
    }

    fn fragment(offset: u16, more: bool, ident: u32) -> (u8, Vec<u8>) {
        let mut h = vec![0u8; 8];
        h[2..4].copy_from_slice(&(offset | u16::from(more)).to_be_bytes());
        h[4..8].copy_from_slice(&ident.to_be_bytes());
        (NextHeader::FRAGMENT, h)
    }

    fn auth(words: u8) -> (u8, Vec<u8>) {
        // Length in 4-byte units minus 2; at least the 12-byte minimum.
        let mut h = vec![0u8; 4 * (usize::from(words) + 2)];
        h[1] = words;
        (NextHeader::AUTH, h)
    }

    fn walk(v: &[u8]) -> Result<Ipv6Chain, ChainError> {
        Ipv6Packet::new(v).expect("valid fixed header").walk()
    }

    #[test]
    fn a_packet_without_extensions_ends_at_the_fixed_header() {
        let v = packet(&[], 17, &[0; 8]);
        let c = walk(&v).unwrap();
        assert_eq!(
            (c.proto, c.l4_offset, c.extensions, c.fragment),
            (17, 40, 0, None)
        );
    }

    #[test]
    fn a_chain_is_walked_to_the_upper_layer() {
        let exts = [
            options(NextHeader::HOP_BY_HOP, 0),
            options(NextHeader::DEST_OPTIONS, 1),
            routing(0),
            fragment(0, true, 0xdead_beef),
            auth(4),
        ];
        let v = packet(&exts, 6, &[0; 20]);
        let c = walk(&v).unwrap();
        assert_eq!(c.proto, 6);
        assert_eq!(c.l4_offset, 40 + 8 + 16 + 24 + 8 + 24);
        assert_eq!(c.extensions, 5);
        assert_eq!(
            c.fragment,
            Some(Ipv6Fragment {
                offset: 0,
                more: true,
                ident: 0xdead_beef,
                data_offset: 40 + 8 + 16 + 24 + 8,
            })
        );
    }

    #[test]
    fn the_walks_result_did_not_grow_with_the_fragments_data_offset() {
        assert_eq!(std::mem::size_of::<Ipv6Chain>(), 24);
    }

    #[test]
    fn a_later_fragment_stops_at_its_data() {
        let v = packet(&[fragment(1448, false, 7)], 17, &[0; 16]);
        let c = walk(&v).unwrap();
        assert_eq!((c.proto, c.l4_offset), (17, 48));
        assert_eq!(
            c.fragment.map(|f| (f.offset, f.more, f.ident)),
            Some((1448, false, 7))
        );
    }

    #[test]
    fn esp_and_no_next_header_end_the_walk() {
        let v = packet(
            &[options(NextHeader::DEST_OPTIONS, 0)],
            NextHeader::ESP,
            &[0; 16],
        );
        assert_eq!(walk(&v).map(|c| (c.proto, c.l4_offset)), Ok((50, 48)));
        let v = packet(&[], NextHeader::NO_NEXT_HEADER, &[]);
        assert_eq!(walk(&v).map(|c| c.proto), Ok(59));
    }

    #[test]
    fn bad_chains_are_refused_with_their_reason() {
        let dest = || options(NextHeader::DEST_OPTIONS, 0);
        let hbh = || options(NextHeader::HOP_BY_HOP, 0);
        let v = packet(&[dest(), hbh()], 17, &[0; 8]);
        assert_eq!(walk(&v), Err(ChainError::HopByHopNotFirst));
        let v = packet(&[routing(1)], 17, &[0; 8]);
        assert_eq!(walk(&v), Err(ChainError::RoutingSegmentsLeft));
        let v = packet(&[fragment(0, true, 1), fragment(0, true, 1)], 17, &[0; 8]);
        assert_eq!(walk(&v), Err(ChainError::SecondFragmentHeader));
        // RFC 7112: a first fragment cut inside its header chain.
        let mut v = packet(&[fragment(0, true, 1), dest()], 17, &[]);
        let cut = (v.len() - 40 - 4) as u16;
        v[4..6].copy_from_slice(&cut.to_be_bytes());
        assert_eq!(walk(&v), Err(ChainError::IncompleteFirstFragment));
        let mut v = packet(&[fragment(0, false, 1), dest()], 17, &[]);
        v[4..6].copy_from_slice(&cut.to_be_bytes());
        assert_eq!(walk(&v), Err(ChainError::Truncated), "atomic: a bad chain");
        let nine: Vec<_> = (0..9).map(|_| dest()).collect();
        assert_eq!(walk(&packet(&nine, 17, &[])), Err(ChainError::TooMany));
        let eight: Vec<_> = (0..8).map(|_| dest()).collect();
        assert_eq!(walk(&packet(&eight, 17, &[])).map(|c| c.extensions), Ok(8));
        // A header longer than what is left of the payload: cut the
        // packet's payload length to end inside the destination options.
        let mut v = packet(&[options(NextHeader::DEST_OPTIONS, 2)], 17, &[]);
        v[4..6].copy_from_slice(&16u16.to_be_bytes());
        assert_eq!(walk(&v), Err(ChainError::Truncated));
        // Bytes after the payload (Ethernet padding) are not walked into.
        let mut v = packet(&[], NextHeader::DEST_OPTIONS, &[]);
        v.extend_from_slice(&[17, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(walk(&v), Err(ChainError::Truncated));
    }

    proptest! {
        /// Any chain a host may send (the RFC 8200 order, each header
        /// optional and of any length, the upper layer any protocol)
        /// ends where etherparse, an independent decoder, says the payload
        /// starts, with its protocol and fragment header.
        #[test]
        fn the_walk_agrees_with_etherparse(
            hbh in proptest::option::of(0u8..4),
            dest in proptest::option::of(0u8..4),
            route in proptest::option::of(Just(())),
            frag in proptest::option::of((0u16..8191, any::<bool>(), any::<u32>())),
            ah in proptest::option::of(1u8..8),
            proto in prop_oneof![Just(6u8), Just(17u8), Just(58u8)],
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut exts = Vec::new();
            if let Some(u) = hbh { exts.push(options(NextHeader::HOP_BY_HOP, u)); }
            if let Some(u) = dest { exts.push(options(NextHeader::DEST_OPTIONS, u)); }
            if route.is_some() { exts.push(routing(0)); }
            if let Some((off, more, id)) = frag { exts.push(fragment(off << 3, more, id)); }
            // After a later fragment's header come data, not headers (which
            // etherparse would read on as headers): no AH there.
            let later = frag.is_some_and(|(off, _, _)| off != 0);
            if let Some(w) = ah.filter(|_| !later) { exts.push(auth(w)); }
            let v = packet(&exts, proto, &payload);
            let theirs = etherparse::Ipv6Slice::from_slice(&v).expect("etherparse reads it");
            let ours = walk(&v).expect("we read it");
            let start = theirs.payload().payload.as_ptr() as usize - v.as_ptr() as usize;
            prop_assert_eq!(ours.l4_offset, start);
            prop_assert_eq!(ours.proto, theirs.payload().ip_number.0);
            // The fragment header as written. (etherparse 0.16's
            // `fragmented` flag masks the offset's low byte with 0x9f, not
            // 0xf9, so it calls offsets of 4, 8 and 12 eight-byte units
            // unfragmented: no oracle for this field.)
            let written = frag.map(|(off, more, ident)| (off << 3, more, ident));
            prop_assert_eq!(ours.fragment.map(|f| (f.offset, f.more, f.ident)), written);
            prop_assert_eq!(usize::from(ours.extensions), exts.len());
        }
    }

    #[test]
    fn parses_what_etherparse_writes_and_rejects_bad_lengths() {
        let h = etherparse::Ipv6Header {
            traffic_class: 0,
            flow_label: Default::default(),
            payload_length: 4,
            next_header: etherparse::IpNumber::UDP,
            hop_limit: 9,
            source: [1; 16],
            destination: [2; 16],
        };
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(&[0; 4]);
        let p = Ipv6Packet::new(&v[..]).expect("valid");
        assert_eq!(
            (p.payload_len(), p.next_header(), p.hop_limit()),
            (4, 17, 9)
        );
        assert_eq!(p.src(), Ipv6Addr::from([1; 16]));
        assert_eq!(p.dst(), Ipv6Addr::from([2; 16]));
        assert_eq!(
            Ipv6Packet::new(&v[..43]).err(),
            Some(DropReason::TotalLengthPastFrame)
        );
        assert_eq!(
            Ipv6Packet::new(&v[..39]).err(),
            Some(DropReason::TruncatedFrame)
        );
        v[0] = 0x45;
        assert_eq!(
            Ipv6Packet::new(&v[..]).err(),
            Some(DropReason::BadIpVersion)
        );
    }
}
