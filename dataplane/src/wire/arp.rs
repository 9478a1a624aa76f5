//! ARP for IPv4 over Ethernet (RFC 826). Other hardware or protocol types
//! are malformed as far as we are concerned.

use std::net::Ipv4Addr;

use super::ethernet::MacAddr;
use super::{get_be16, get_ipv4, get_mac, put_be16, put_bytes};
use crate::drop::DropReason;

/// Length of an Ethernet/IPv4 ARP packet.
pub const ARP_LEN: usize = 28;

/// Where the fields of an ARP packet for IPv4 over Ethernet lie, from its
/// start.
pub mod field {
    use crate::wire::Field;

    /// Hardware type, protocol type and their address lengths: always
    /// [`super::ETHERNET_IPV4_FORMAT`] for the packets we handle.
    pub const FORMAT: Field = 0..6;
    pub const OPERATION: Field = 6..8;
    pub const SENDER_MAC: Field = 8..14;
    pub const SENDER_IP: Field = 14..18;
    pub const TARGET_MAC: Field = 18..24;
    pub const TARGET_IP: Field = 24..28;
}

/// The format bytes of ARP for IPv4 over Ethernet: hardware type 1
/// (Ethernet), protocol type 0x0800 (IPv4), 6-byte and 4-byte addresses.
pub const ETHERNET_IPV4_FORMAT: [u8; 6] = [0, 1, 8, 0, 6, 4];

/// ARP operation codes.
pub struct ArpOp;

impl ArpOp {
    pub const REQUEST: u16 = 1;
    pub const REPLY: u16 = 2;
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug)]
pub struct ArpPacket<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// A view over `buf`, or [`DropReason::MalformedArp`] if it is short or
    /// not hardware type 1 / protocol 0x0800 with 6- and 4-byte addresses.
    pub fn new(buf: T) -> Result<Self, DropReason> {
        let b = buf.as_ref();
        match b.get(field::FORMAT) {
            Some(f) if f == ETHERNET_IPV4_FORMAT && b.len() >= ARP_LEN => Ok(ArpPacket { buf }),
            _ => Err(DropReason::MalformedArp),
        }
    }
    pub fn operation(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::OPERATION.start)
    }
    pub fn sender_mac(&self) -> MacAddr {
        get_mac(self.buf.as_ref(), field::SENDER_MAC.start)
    }
    pub fn sender_ip(&self) -> Ipv4Addr {
        get_ipv4(self.buf.as_ref(), field::SENDER_IP.start)
    }
    pub fn target_mac(&self) -> MacAddr {
        get_mac(self.buf.as_ref(), field::TARGET_MAC.start)
    }
    pub fn target_ip(&self) -> Ipv4Addr {
        get_ipv4(self.buf.as_ref(), field::TARGET_IP.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    pub fn set_operation(&mut self, op: u16) {
        put_be16(self.buf.as_mut(), field::OPERATION.start, op);
    }
    pub fn set_sender(&mut self, mac: MacAddr, ip: Ipv4Addr) {
        put_bytes(self.buf.as_mut(), field::SENDER_MAC.start, &mac.0);
        put_bytes(self.buf.as_mut(), field::SENDER_IP.start, &ip.octets());
    }
    pub fn set_target(&mut self, mac: MacAddr, ip: Ipv4Addr) {
        put_bytes(self.buf.as_mut(), field::TARGET_MAC.start, &mac.0);
        put_bytes(self.buf.as_mut(), field::TARGET_IP.start, &ip.octets());
    }
}

/// Writes a whole Ethernet/IPv4 ARP packet into the first [`ARP_LEN`] bytes
/// of `out`; `None` if `out` is shorter.
pub fn write_arp(
    out: &mut [u8],
    op: u16,
    sender: (MacAddr, Ipv4Addr),
    target: (MacAddr, Ipv4Addr),
) -> Option<()> {
    let b = out.get_mut(..ARP_LEN)?;
    b[field::FORMAT].copy_from_slice(&ETHERNET_IPV4_FORMAT);
    let mut arp = ArpPacket { buf: b };
    arp.set_operation(op);
    arp.set_sender(sender.0, sender.1);
    arp.set_target(target.0, target.1);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_packet_reads_back_and_has_the_rfc826_layout() {
        let mut b = [0u8; ARP_LEN];
        let s = (MacAddr([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(10, 0, 0, 1));
        let t = (MacAddr::ZERO, Ipv4Addr::new(10, 0, 0, 2));
        write_arp(&mut b, ArpOp::REQUEST, s, t).expect("fits");
        let a = ArpPacket::new(&b[..]).expect("valid");
        assert_eq!(a.operation(), ArpOp::REQUEST);
        assert_eq!((a.sender_mac(), a.sender_ip()), s);
        assert_eq!((a.target_mac(), a.target_ip()), t);
        // etherparse 0.16 has no ARP; check the RFC 826 layout by hand.
        let expected: [u8; ARP_LEN] = [
            0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
        ];
        assert_eq!(b, expected);
        assert!(write_arp(&mut [0u8; 27], ArpOp::REPLY, s, t).is_none());
    }

    #[test]
    fn other_types_and_short_packets_are_malformed() {
        let mut b = [0u8; ARP_LEN];
        write_arp(
            &mut b,
            ArpOp::REPLY,
            (MacAddr::ZERO, Ipv4Addr::UNSPECIFIED),
            (MacAddr::ZERO, Ipv4Addr::UNSPECIFIED),
        )
        .expect("fits");
        assert!(ArpPacket::new(&b[..27]).is_err());
        b[5] = 16; // IPv6-sized protocol address
        assert_eq!(ArpPacket::new(&b[..]).err(), Some(DropReason::MalformedArp));
    }
}
