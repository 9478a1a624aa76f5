//! UDP headers (RFC 768).

use super::{get_be16, put_be16};
use crate::drop::DropReason;

/// Length of a UDP header.
pub const UDP_HEADER_LEN: usize = 8;

/// Where the fields of a UDP header lie, from its start.
pub mod field {
    use crate::wire::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    /// Header and payload length.
    pub const LENGTH: Field = 4..6;
    /// 0 means "no checksum" (RFC 768).
    pub const CHECKSUM: Field = 6..8;
}

/// A UDP datagram: 8-byte header, then data.
#[derive(Debug)]
pub struct UdpDatagram<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> UdpDatagram<T> {
    /// A view over a datagram whose length field is at least 8 and fits the
    /// bytes present.
    #[inline]
    pub fn new(buf: T) -> Result<Self, DropReason> {
        let b = buf.as_ref();
        let len = usize::from(get_be16(b, field::LENGTH.start));
        if b.len() < UDP_HEADER_LEN || len < UDP_HEADER_LEN || len > b.len() {
            return Err(DropReason::TruncatedL4);
        }
        Ok(UdpDatagram { buf })
    }
    /// A view over the first fragment of a UDP datagram: its header whole,
    /// its length field (the whole datagram's) past the bytes present.
    pub fn new_first_fragment(buf: T) -> Result<Self, DropReason> {
        if buf.as_ref().len() < UDP_HEADER_LEN {
            return Err(DropReason::TruncatedL4);
        }
        Ok(UdpDatagram { buf })
    }
    #[inline]
    pub fn src_port(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::SRC_PORT.start)
    }
    #[inline]
    pub fn dst_port(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::DST_PORT.start)
    }
    pub fn length(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::LENGTH.start)
    }
    /// The checksum; 0 means the sender computed none.
    pub fn checksum(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::CHECKSUM.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpDatagram<T> {
    pub fn set_src_port(&mut self, p: u16) {
        put_be16(self.buf.as_mut(), field::SRC_PORT.start, p);
    }
    pub fn set_dst_port(&mut self, p: u16) {
        put_be16(self.buf.as_mut(), field::DST_PORT.start, p);
    }
    pub fn set_checksum(&mut self, c: u16) {
        put_be16(self.buf.as_mut(), field::CHECKSUM.start, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_checks_the_length_field() {
        let h = etherparse::UdpHeader {
            source_port: 53,
            destination_port: 5353,
            length: 12,
            checksum: 0xbeef,
        };
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(&[1, 2, 3, 4]);
        let u = UdpDatagram::new(&v[..]).expect("valid");
        assert_eq!(
            (u.src_port(), u.dst_port(), u.length(), u.checksum()),
            (53, 5353, 12, 0xbeef)
        );
        assert_eq!(
            UdpDatagram::new(&v[..11]).err(),
            Some(DropReason::TruncatedL4)
        );
        v[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(
            UdpDatagram::new(&v[..]).err(),
            Some(DropReason::TruncatedL4)
        );
    }
}
