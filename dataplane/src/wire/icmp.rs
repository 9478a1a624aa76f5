//! ICMPv4 (RFC 792): echo, and the errors that quote the packet they are
//! about (its IP header and at least the first 8 bytes of its payload).

use super::ipv4::Ipv4Packet;
use super::{get_be16, get_be32, get_u8, put_be16, put_be32, put_u8};
use crate::checksum;
use crate::drop::DropReason;

/// Length of the ICMP header (type, code, checksum, 4 type-specific bytes).
pub const ICMP_HEADER_LEN: usize = 8;
/// Bytes of the quoted packet's payload every ICMP error must carry.
pub const ICMP_QUOTED_L4_LEN: usize = 8;

/// Where the fields of an ICMP header lie, from its start.
pub mod field {
    use crate::wire::Field;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// The four type-specific bytes (unused, or the next-hop MTU of
    /// fragmentation needed in the low two).
    pub const REST_OF_HEADER: Field = 4..8;
    /// Echo request and reply: the identifier,
    pub const ECHO_IDENT: Field = 4..6;
    /// and the sequence number.
    pub const ECHO_SEQ: Field = 6..8;
    /// Where the body starts (for an error: the quoted packet).
    pub const BODY: usize = 8;
}

/// ICMP types we handle.
pub struct IcmpType;

impl IcmpType {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAMETER_PROBLEM: u8 = 12;

    /// Whether `t` is an error we translate along with the flow it quotes.
    /// Redirects are excluded: they concern our own routing, as in IPVS.
    pub fn is_translatable_error(t: u8) -> bool {
        matches!(
            t,
            Self::DEST_UNREACHABLE
                | Self::SOURCE_QUENCH
                | Self::TIME_EXCEEDED
                | Self::PARAMETER_PROBLEM
        )
    }

    /// Whether `t` is any ICMP error (to which no error may be sent back,
    /// RFC 1122 3.2.2).
    pub fn is_error(t: u8) -> bool {
        Self::is_translatable_error(t) || t == Self::REDIRECT
    }
}

/// Code of destination-unreachable "fragmentation needed and DF set".
pub const CODE_FRAGMENTATION_NEEDED: u8 = 4;
/// Code of time-exceeded "TTL exceeded in transit".
pub const CODE_TTL_EXCEEDED: u8 = 0;

/// An ICMP message: header, then body (echo data or the quoted packet).
#[derive(Debug)]
pub struct IcmpPacket<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// A view over an ICMP message of at least 8 bytes.
    #[inline]
    pub fn new(buf: T) -> Result<Self, DropReason> {
        if buf.as_ref().len() < ICMP_HEADER_LEN {
            return Err(DropReason::TruncatedL4);
        }
        Ok(IcmpPacket { buf })
    }
    #[inline]
    pub fn msg_type(&self) -> u8 {
        get_u8(self.buf.as_ref(), field::TYPE)
    }
    pub fn code(&self) -> u8 {
        get_u8(self.buf.as_ref(), field::CODE)
    }
    pub fn checksum(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::CHECKSUM.start)
    }
    /// The echo identifier (bytes 4..6).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::ECHO_IDENT.start)
    }
    /// The echo sequence number (bytes 6..8).
    pub fn echo_seq(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::ECHO_SEQ.start)
    }
    /// The four type-specific bytes (for fragmentation-needed the low 16 bits
    /// are the next-hop MTU, RFC 1191).
    pub fn rest_of_header(&self) -> u32 {
        get_be32(self.buf.as_ref(), field::REST_OF_HEADER.start)
    }
    pub fn body(&self) -> &[u8] {
        self.buf.as_ref().get(field::BODY..).unwrap_or(&[])
    }
    /// Whether the checksum over the whole message verifies.
    pub fn checksum_ok(&self) -> bool {
        checksum::verifies(self.buf.as_ref())
    }
    /// The packet an error quotes: an IPv4 header with at least 8 bytes of
    /// its payload behind it, or [`DropReason::BadIcmpQuote`].
    pub fn quoted(&self) -> Result<Ipv4Packet<&[u8]>, DropReason> {
        let body = self.body();
        let inner = Ipv4Packet::new_quoted(body).map_err(|_| DropReason::BadIcmpQuote)?;
        if inner.header_len() + ICMP_QUOTED_L4_LEN > body.len() {
            return Err(DropReason::BadIcmpQuote);
        }
        Ok(inner)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    pub fn set_msg_type(&mut self, t: u8) {
        put_u8(self.buf.as_mut(), field::TYPE, t);
    }
    pub fn set_code(&mut self, c: u8) {
        put_u8(self.buf.as_mut(), field::CODE, c);
    }
    pub fn set_checksum(&mut self, c: u16) {
        put_be16(self.buf.as_mut(), field::CHECKSUM.start, c);
    }
    pub fn set_echo_ident(&mut self, id: u16) {
        put_be16(self.buf.as_mut(), field::ECHO_IDENT.start, id);
    }
    pub fn set_rest_of_header(&mut self, v: u32) {
        put_be32(self.buf.as_mut(), field::REST_OF_HEADER.start, v);
    }
    pub fn body_mut(&mut self) -> &mut [u8] {
        self.buf.as_mut().get_mut(field::BODY..).unwrap_or(&mut [])
    }
    /// Recomputes the checksum over the whole message.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buf.as_ref());
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn echo_fields_and_checksum() {
        let h = etherparse::Icmpv4Header::with_checksum(
            etherparse::Icmpv4Type::EchoRequest(etherparse::IcmpEchoHeader { id: 77, seq: 3 }),
            b"ping",
        );
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(b"ping");
        let i = IcmpPacket::new(&v[..]).expect("valid");
        assert_eq!(
            (i.msg_type(), i.code(), i.echo_ident(), i.echo_seq()),
            (8, 0, 77, 3)
        );
        assert!(i.checksum_ok());
        assert_eq!(i.body(), b"ping");
        assert!(IcmpPacket::new(&v[..7]).is_err());
        let mut w = v.clone();
        w[9] ^= 0x40;
        assert!(!IcmpPacket::new(&w[..]).expect("parses").checksum_ok());
    }

    #[test]
    fn error_quotes_header_and_eight_bytes() {
        let inner =
            etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 5).udp(1000, 2000);
        let mut quoted = Vec::new();
        inner.write(&mut quoted, &[0; 12]).expect("writes");
        let mut msg = vec![3, 4, 0, 0, 0, 0, 0x05, 0xdc];
        msg.extend_from_slice(&quoted[..28]);
        let i = IcmpPacket::new(&msg[..]).expect("valid");
        assert_eq!(i.rest_of_header() & 0xffff, 1500);
        let q = i.quoted().expect("quote present");
        assert_eq!(q.src(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(q.payload().len(), 8, "cut to what was quoted");
        assert_eq!(
            IcmpPacket::new(&msg[..35]).expect("valid").quoted().err(),
            Some(DropReason::BadIcmpQuote)
        );
        assert!(IcmpType::is_translatable_error(3) && !IcmpType::is_translatable_error(5));
        assert!(IcmpType::is_error(5) && !IcmpType::is_error(8));
    }
}
