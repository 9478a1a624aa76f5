//! IPv6 headers: parsed and classified so they can be counted, not forwarded
//! yet (the modes are IPv4-only for now).

use std::net::Ipv6Addr;

use super::{get_be16, get_u8};
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

/// An IPv6 packet's fixed header.
#[derive(Debug)]
pub struct Ipv6Packet<T> {
    buf: T,
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
