//! TCP headers (RFC 9293).

use super::{get_be16, get_be32, get_u8, put_be16};
use crate::drop::DropReason;

/// Length of a TCP header without options.
pub const TCP_MIN_HEADER_LEN: usize = 20;

/// Where the fields of a TCP header lie, from its start.
pub mod field {
    use crate::wire::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    /// The header length in 32-bit words, in the high nibble.
    pub const DATA_OFFSET: usize = 12;
    /// The flag bits ([`super::TcpFlags`]).
    pub const FLAGS: usize = 13;
    pub const WINDOW: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

/// TCP option kinds this crate reads.
pub mod option {
    /// End of the option list.
    pub const END: u8 = 0;
    /// One byte of padding.
    pub const NOP: u8 = 1;
    /// Maximum segment size: kind, length 4, a 16-bit value.
    pub const MSS: u8 = 2;
    pub const MSS_LEN: usize = 4;
}

/// Where the MSS option's value lies in `header` (a TCP header, options
/// included, as long as its data offset says), from the header's start;
/// `None` without one or when the options are malformed (a length that
/// runs past the header, or an MSS option of the wrong length), which is
/// left alone.
pub fn mss_value_at(header: &[u8]) -> Option<usize> {
    let len = usize::from(get_u8(header, field::DATA_OFFSET) >> 4) * 4;
    let end = len.min(header.len());
    let mut at = TCP_MIN_HEADER_LEN;
    while at < end {
        match header[at] {
            option::END => return None,
            option::NOP => at += 1,
            kind => {
                let size = usize::from(*header.get(at + 1)?);
                if size < 2 || at + size > end {
                    return None;
                }
                if kind == option::MSS {
                    return (size == option::MSS_LEN).then_some(at + 2);
                }
                at += size;
            }
        }
    }
    None
}

/// TCP flag bits (the low byte of the flags field).
pub struct TcpFlags;

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// A TCP segment: header with options, then data.
#[derive(Debug)]
pub struct TcpSegment<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> TcpSegment<T> {
    /// A view over a segment whose header (options included) is present.
    #[inline]
    pub fn new(buf: T) -> Result<Self, DropReason> {
        let b = buf.as_ref();
        if b.len() < TCP_MIN_HEADER_LEN {
            return Err(DropReason::TruncatedL4);
        }
        let header_len = usize::from(get_u8(b, field::DATA_OFFSET) >> 4) * 4;
        if header_len < TCP_MIN_HEADER_LEN || header_len > b.len() {
            return Err(DropReason::TruncatedL4);
        }
        Ok(TcpSegment { buf })
    }
    #[inline]
    pub fn src_port(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::SRC_PORT.start)
    }
    #[inline]
    pub fn dst_port(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::DST_PORT.start)
    }
    pub fn seq(&self) -> u32 {
        get_be32(self.buf.as_ref(), field::SEQ_NUM.start)
    }
    pub fn ack(&self) -> u32 {
        get_be32(self.buf.as_ref(), field::ACK_NUM.start)
    }
    pub fn header_len(&self) -> usize {
        usize::from(get_u8(self.buf.as_ref(), field::DATA_OFFSET) >> 4) * 4
    }
    pub fn flags(&self) -> u8 {
        get_u8(self.buf.as_ref(), field::FLAGS)
    }
    pub fn window(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::WINDOW.start)
    }
    pub fn checksum(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::CHECKSUM.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpSegment<T> {
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
    fn reads_etherparse_header_and_rejects_bad_offsets() {
        let mut h = etherparse::TcpHeader::new(1234, 80, 7, 4096);
        h.syn = true;
        h.ack = true;
        h.acknowledgment_number = 99;
        h.set_options(&[etherparse::TcpOptionElement::MaximumSegmentSize(1460)])
            .expect("fits");
        let v = h.to_bytes();
        let t = TcpSegment::new(&v[..]).expect("valid");
        assert_eq!(
            (t.src_port(), t.dst_port(), t.seq(), t.ack()),
            (1234, 80, 7, 99)
        );
        assert_eq!(t.header_len(), 24);
        assert_eq!(t.flags(), TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(t.window(), 4096);
        assert_eq!(
            TcpSegment::new(&v[..23]).err(),
            Some(DropReason::TruncatedL4)
        );
        let mut w = v.to_vec();
        w[12] = 0x40; // data offset 4 words
        assert_eq!(TcpSegment::new(&w[..]).err(), Some(DropReason::TruncatedL4));
    }
}
