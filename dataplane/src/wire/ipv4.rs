//! IPv4 headers (RFC 791), options included.

use std::net::Ipv4Addr;

use super::{get_be16, get_ipv4, get_u8, put_be16, put_bytes, put_u8};
use crate::checksum;
use crate::drop::DropReason;
use crate::tuple::IpProto;

/// Length of an IPv4 header without options.
pub const IPV4_MIN_HEADER_LEN: usize = 20;
/// Length of the longest IPv4 header (IHL 15: 40 bytes of options).
pub const IPV4_MAX_HEADER_LEN: usize = 60;
/// The "don't fragment" bit of the flags and fragment offset word.
pub const DONT_FRAGMENT: u16 = 0x4000;
/// The "more fragments" bit of the flags and fragment offset word.
pub const MORE_FRAGMENTS: u16 = 0x2000;
/// The fragment offset's bits (8-byte units) of that word.
pub const FRAGMENT_OFFSET_MASK: u16 = 0x1fff;

/// Where the fields of an IPv4 header lie, from its start.
pub mod field {
    use crate::wire::Field;

    /// Version (high nibble) and header length in 32-bit words (low nibble).
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    /// Flags and fragment offset.
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    /// TTL and protocol as the one 16-bit word the header checksum sums
    /// them in: what an incremental update of a TTL change reads.
    pub const TTL_PROTOCOL: Field = 8..10;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

/// The header length in bytes that a version/IHL byte
/// ([`field::VER_IHL`]) gives: IHL × 4.
#[inline(always)]
pub fn header_len_of(ver_ihl: u8) -> usize {
    usize::from(ver_ihl & 0x0f) * 4
}

/// An IPv4 packet: header (with options) and payload.
///
/// [`Ipv4Packet::new`] checks version, IHL and total length against the
/// bytes present, so `payload` is exactly the bytes the header claims
/// (trailing Ethernet padding excluded). [`Ipv4Packet::new_quoted`] is the
/// laxer check for a header quoted inside an ICMP error, whose payload is cut.
#[derive(Debug)]
pub struct Ipv4Packet<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// A view over a whole IPv4 packet.
    #[inline]
    pub fn new(buf: T) -> Result<Self, DropReason> {
        let p = Self::new_quoted(buf)?;
        let total = usize::from(p.total_len());
        if total < p.header_len() {
            return Err(DropReason::TotalLengthBelowHeader);
        }
        if total > p.buf.as_ref().len() {
            return Err(DropReason::TotalLengthPastFrame);
        }
        Ok(p)
    }

    /// A view over an IPv4 header whose payload may be cut short (the packet
    /// an ICMP error quotes): only the header itself must be present.
    #[inline]
    pub fn new_quoted(buf: T) -> Result<Self, DropReason> {
        let b = buf.as_ref();
        let Some(&ver_ihl) = b.get(field::VER_IHL) else {
            return Err(DropReason::TruncatedIpv4);
        };
        if b.len() < IPV4_MIN_HEADER_LEN {
            return Err(DropReason::TruncatedIpv4);
        }
        if ver_ihl >> 4 != 4 {
            return Err(DropReason::BadIpVersion);
        }
        let header_len = header_len_of(ver_ihl);
        if header_len < IPV4_MIN_HEADER_LEN || header_len > b.len() {
            return Err(DropReason::BadIhl);
        }
        Ok(Ipv4Packet { buf })
    }

    /// The header length in bytes (IHL × 4), 20 to 60.
    #[inline]
    pub fn header_len(&self) -> usize {
        header_len_of(get_u8(self.buf.as_ref(), field::VER_IHL))
    }
    pub fn tos(&self) -> u8 {
        get_u8(self.buf.as_ref(), field::DSCP_ECN)
    }
    #[inline]
    pub fn total_len(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::LENGTH.start)
    }
    pub fn ident(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::IDENT.start)
    }
    /// Flags and fragment offset, the raw 16-bit word.
    pub fn flags_fragment(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::FLG_OFF.start)
    }
    pub fn dont_fragment(&self) -> bool {
        self.flags_fragment() & DONT_FRAGMENT != 0
    }
    pub fn more_fragments(&self) -> bool {
        self.flags_fragment() & MORE_FRAGMENTS != 0
    }
    /// The fragment offset in 8-byte units.
    pub fn fragment_offset(&self) -> u16 {
        self.flags_fragment() & FRAGMENT_OFFSET_MASK
    }
    /// Whether this is any fragment of a larger packet (first one included).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_fragment() & (MORE_FRAGMENTS | FRAGMENT_OFFSET_MASK) != 0
    }
    #[inline]
    pub fn ttl(&self) -> u8 {
        get_u8(self.buf.as_ref(), field::TTL)
    }
    #[inline]
    pub fn protocol(&self) -> IpProto {
        IpProto(get_u8(self.buf.as_ref(), field::PROTOCOL))
    }
    pub fn checksum(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::CHECKSUM.start)
    }
    #[inline]
    pub fn src(&self) -> Ipv4Addr {
        get_ipv4(self.buf.as_ref(), field::SRC_ADDR.start)
    }
    #[inline]
    pub fn dst(&self) -> Ipv4Addr {
        get_ipv4(self.buf.as_ref(), field::DST_ADDR.start)
    }
    /// The header bytes, options included.
    pub fn header(&self) -> &[u8] {
        self.buf.as_ref().get(..self.header_len()).unwrap_or(&[])
    }
    /// The option bytes (empty for a 20-byte header).
    pub fn options(&self) -> &[u8] {
        self.buf
            .as_ref()
            .get(IPV4_MIN_HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }
    /// The payload: from the end of the header to the total length (for a
    /// quoted header, to the end of the bytes present).
    pub fn payload(&self) -> &[u8] {
        let b = self.buf.as_ref();
        let end = usize::from(self.total_len()).min(b.len());
        b.get(self.header_len()..end).unwrap_or(&[])
    }
    /// Whether the header checksum verifies.
    #[inline]
    pub fn checksum_ok(&self) -> bool {
        match self.buf.as_ref().first_chunk::<IPV4_MIN_HEADER_LEN>() {
            Some(h) if self.header_len() == IPV4_MIN_HEADER_LEN => {
                checksum::verifies_ipv4_header(h)
            }
            _ => checksum::verifies(self.header()),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    pub fn set_tos(&mut self, tos: u8) {
        put_u8(self.buf.as_mut(), field::DSCP_ECN, tos);
    }
    pub fn set_total_len(&mut self, len: u16) {
        put_be16(self.buf.as_mut(), field::LENGTH.start, len);
    }
    pub fn set_ident(&mut self, id: u16) {
        put_be16(self.buf.as_mut(), field::IDENT.start, id);
    }
    pub fn set_flags_fragment(&mut self, v: u16) {
        put_be16(self.buf.as_mut(), field::FLG_OFF.start, v);
    }
    pub fn set_ttl(&mut self, ttl: u8) {
        put_u8(self.buf.as_mut(), field::TTL, ttl);
    }
    pub fn set_protocol(&mut self, proto: IpProto) {
        put_u8(self.buf.as_mut(), field::PROTOCOL, proto.0);
    }
    pub fn set_checksum(&mut self, c: u16) {
        put_be16(self.buf.as_mut(), field::CHECKSUM.start, c);
    }
    pub fn set_src(&mut self, a: Ipv4Addr) {
        put_bytes(self.buf.as_mut(), field::SRC_ADDR.start, &a.octets());
    }
    pub fn set_dst(&mut self, a: Ipv4Addr) {
        put_bytes(self.buf.as_mut(), field::DST_ADDR.start, &a.octets());
    }
    /// Recomputes the header checksum from scratch.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }
    /// The payload, writable (same extent as [`Ipv4Packet::payload`]).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let end = usize::from(self.total_len());
        let b = self.buf.as_mut();
        let end = end.min(b.len());
        b.get_mut(hl..end).unwrap_or(&mut [])
    }
}

/// The fields of a 20-byte IPv4 header (no options) that
/// [`write_ipv4_header`] builds: version 4 and IHL 5 are implied, the
/// checksum is computed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Ipv4Header {
    pub tos: u8,
    pub total_len: u16,
    pub ident: u16,
    /// Flags and fragment offset, the raw 16-bit word.
    pub flags_fragment: u16,
    pub ttl: u8,
    pub proto: IpProto,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

/// Writes `header` with a full checksum into the start of `out`; `None` if
/// `out` is shorter than 20 bytes.
#[inline]
pub fn write_ipv4_header(out: &mut [u8], header: &Ipv4Header) -> Option<()> {
    let Ipv4Header {
        tos,
        total_len,
        ident,
        flags_fragment,
        ttl,
        proto,
        src,
        dst,
    } = *header;
    let h = out.first_chunk_mut::<IPV4_MIN_HEADER_LEN>()?;
    let (s, d) = (u32::from(src), u32::from(dst));
    // The header as five big-endian words, checksum field zero. The checksum
    // is summed from these values, not read back from the bytes just stored
    // (wide loads over narrow stores stall store-to-load forwarding).
    let words = [
        0x4500_0000 | u32::from(tos) << 16 | u32::from(total_len),
        u32::from(ident) << 16 | u32::from(flags_fragment),
        u32::from(ttl) << 24 | u32::from(proto.0) << 16,
        s,
        d,
    ];
    let sum = words.iter().map(|&w| u64::from(w)).sum::<u64>();
    let c = !checksum::fold(sum);
    for (chunk, w) in h.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_be_bytes());
    }
    h[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(options: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut h = etherparse::Ipv4Header::new(
            payload.len() as u16,
            33,
            etherparse::IpNumber::UDP,
            [192, 0, 2, 1],
            [198, 51, 100, 7],
        )
        .expect("valid");
        h.options = etherparse::Ipv4Options::try_from(options).expect("options");
        h.dont_fragment = true;
        h.set_payload_len(payload.len()).expect("fits");
        h.header_checksum = h.calc_header_checksum();
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn reads_every_field_including_options() {
        let v = packet(&[1, 1, 1, 1], &[9; 10]);
        let p = Ipv4Packet::new(&v[..]).expect("valid");
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[1, 1, 1, 1]);
        assert_eq!(p.total_len(), 34);
        assert_eq!(p.ttl(), 33);
        assert_eq!(p.protocol(), IpProto::UDP);
        assert_eq!(p.src(), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(p.dst(), Ipv4Addr::new(198, 51, 100, 7));
        assert!(p.dont_fragment() && !p.more_fragments() && !p.is_fragment());
        assert_eq!(p.payload(), &[9; 10]);
        assert!(p.checksum_ok());
        // The word an incremental TTL update reads: TTL high, protocol low.
        assert_eq!(get_be16(&v, field::TTL_PROTOCOL.start), 33 << 8 | 17);
    }

    #[test]
    fn padding_past_total_length_is_not_payload() {
        let mut v = packet(&[], &[7; 4]);
        v.extend_from_slice(&[0; 6]);
        let p = Ipv4Packet::new(&v[..]).expect("valid");
        assert_eq!(p.payload(), &[7; 4]);
    }

    #[test]
    fn malformed_headers_name_their_fault() {
        let v = packet(&[], &[0; 8]);
        assert_eq!(
            Ipv4Packet::new(&v[..19]).err(),
            Some(DropReason::TruncatedIpv4)
        );
        let mut w = v.clone();
        w[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new(&w[..]).err(),
            Some(DropReason::BadIpVersion)
        );
        w[0] = 0x44;
        assert_eq!(Ipv4Packet::new(&w[..]).err(), Some(DropReason::BadIhl));
        w[0] = 0x4f; // 60 bytes of header in a 28-byte packet
        assert_eq!(Ipv4Packet::new(&w[..]).err(), Some(DropReason::BadIhl));
        let mut w = v.clone();
        w[2..4].copy_from_slice(&29u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new(&w[..]).err(),
            Some(DropReason::TotalLengthPastFrame)
        );
        w[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new(&w[..]).err(),
            Some(DropReason::TotalLengthBelowHeader)
        );
        // A quoted header only needs itself.
        assert!(Ipv4Packet::new_quoted(&w[..20]).is_ok());
        let mut w = v.clone();
        w[10] ^= 1;
        assert!(!Ipv4Packet::new(&w[..]).expect("parses").checksum_ok());
    }

    #[test]
    fn written_header_matches_etherparse() {
        let mut out = [0u8; 20];
        let header = Ipv4Header {
            tos: 0x10,
            total_len: 40,
            ident: 7,
            flags_fragment: DONT_FRAGMENT,
            ttl: 64,
            proto: IpProto::IPIP,
            src: Ipv4Addr::new(1, 2, 3, 4),
            dst: Ipv4Addr::new(5, 6, 7, 8),
        };
        write_ipv4_header(&mut out, &header).expect("fits");
        let (h, _) = etherparse::Ipv4Header::from_slice(&out).expect("etherparse accepts");
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert_eq!(
            (
                h.total_len,
                h.identification,
                h.dont_fragment,
                h.time_to_live
            ),
            (40, 7, true, 64)
        );
        assert_eq!(h.protocol, etherparse::IpNumber::IPV4);
        assert!(write_ipv4_header(&mut [0u8; 19], &header).is_none());
    }
}
