//! Ethernet II frames and 802.1Q VLAN tags.

use super::{get_be16, get_mac, put_be16, put_bytes};
use crate::drop::DropReason;

/// Length of an untagged Ethernet header.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Length of one 802.1Q tag (TCI and inner EtherType).
pub const VLAN_TAG_LEN: usize = 4;
/// The VLAN identifier's bits in a TCI; the three bits above the DEI bit
/// are the priority code point.
pub const VLAN_VID_MASK: u16 = 0x0fff;
/// How far the priority code point is shifted up in a TCI.
pub const VLAN_PCP_SHIFT: u16 = 13;

/// Where the fields of an Ethernet II header lie, from the start of the frame.
pub mod field {
    use crate::wire::Field;

    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    /// Both MACs, destination first: what a MAC swap or a VLAN tag
    /// insertion moves.
    pub const ADDRESSES: Field = 0..12;
    /// The EtherType of an untagged frame, or the TPID (0x8100) of a frame
    /// with an 802.1Q tag.
    pub const ETHERTYPE: Field = 12..14;
    /// Where the payload of an untagged frame (or the tag of a tagged one)
    /// starts.
    pub const PAYLOAD: usize = 14;
    /// In a frame with one 802.1Q tag: the tag's TCI (priority and VLAN id),
    pub const VLAN_TCI: Field = 14..16;
    /// and the EtherType of the payload after it.
    pub const VLAN_ETHERTYPE: Field = 16..18;
}

/// Where the fields of an 802.1Q tag lie, from the end of the TPID (the
/// bytes a [`VlanHeader`] views).
pub mod vlan_field {
    use crate::wire::Field;

    pub const TCI: Field = 0..2;
    pub const ETHERTYPE: Field = 2..4;
}

/// A 48-bit MAC address (the type the control plane's config uses too).
pub use ferrolb_types::MacAddr;

/// EtherType values we look at.
pub struct EtherType;

impl EtherType {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const IPV6: u16 = 0x86dd;
}

/// The length of an Ethernet header, tagged `vlan` or not.
pub const fn header_len(vlan: Option<u16>) -> usize {
    match vlan {
        Some(_) => ETHERNET_HEADER_LEN + VLAN_TAG_LEN,
        None => ETHERNET_HEADER_LEN,
    }
}

/// Writes the Ethernet header of a frame we build from nothing: `dst` and
/// `src`, an 802.1Q tag of `vlan` if given (priority 0), then `ethertype`.
/// `l2` must be [`header_len`] long or longer; `false` if it is shorter.
pub fn write_header(
    l2: &mut [u8],
    (dst, src): (MacAddr, MacAddr),
    vlan: Option<u16>,
    ethertype: u16,
) -> bool {
    if l2.len() < header_len(vlan) {
        return false;
    }
    put_bytes(l2, field::DESTINATION.start, &dst.0);
    put_bytes(l2, field::SOURCE.start, &src.0);
    let last = match vlan {
        Some(vid) => {
            put_be16(l2, field::ETHERTYPE.start, EtherType::VLAN);
            put_be16(l2, field::VLAN_TCI.start, vid & VLAN_VID_MASK);
            field::VLAN_ETHERTYPE
        }
        None => field::ETHERTYPE,
    };
    put_be16(l2, last.start, ethertype);
    true
}

/// An Ethernet II frame: destination, source, EtherType, payload.
#[derive(Debug)]
pub struct EthernetFrame<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// A view over `buf`, or [`DropReason::TruncatedFrame`] if it is shorter
    /// than a header.
    pub fn new(buf: T) -> Result<Self, DropReason> {
        if buf.as_ref().len() < ETHERNET_HEADER_LEN {
            return Err(DropReason::TruncatedFrame);
        }
        Ok(EthernetFrame { buf })
    }
    pub fn dst(&self) -> MacAddr {
        get_mac(self.buf.as_ref(), field::DESTINATION.start)
    }
    pub fn src(&self) -> MacAddr {
        get_mac(self.buf.as_ref(), field::SOURCE.start)
    }
    /// The outer EtherType (0x8100 if the frame is VLAN-tagged).
    pub fn ethertype(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::ETHERTYPE.start)
    }
    pub fn payload(&self) -> &[u8] {
        self.buf.as_ref().get(field::PAYLOAD..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    pub fn set_dst(&mut self, mac: MacAddr) {
        put_bytes(self.buf.as_mut(), field::DESTINATION.start, &mac.0);
    }
    pub fn set_src(&mut self, mac: MacAddr) {
        put_bytes(self.buf.as_mut(), field::SOURCE.start, &mac.0);
    }
    pub fn set_ethertype(&mut self, ethertype: u16) {
        put_be16(self.buf.as_mut(), field::ETHERTYPE.start, ethertype);
    }
}

/// An 802.1Q tag as it follows the TPID: TCI, then the inner EtherType.
#[derive(Debug)]
pub struct VlanHeader<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> VlanHeader<T> {
    /// A view over the bytes after the 0x8100 TPID.
    pub fn new(buf: T) -> Result<Self, DropReason> {
        if buf.as_ref().len() < VLAN_TAG_LEN {
            return Err(DropReason::TruncatedFrame);
        }
        Ok(VlanHeader { buf })
    }
    pub fn tci(&self) -> u16 {
        get_be16(self.buf.as_ref(), vlan_field::TCI.start)
    }
    /// The 12-bit VLAN identifier.
    pub fn vid(&self) -> u16 {
        self.tci() & VLAN_VID_MASK
    }
    /// The 3-bit priority code point.
    pub fn pcp(&self) -> u8 {
        (self.tci() >> VLAN_PCP_SHIFT) as u8
    }
    pub fn ethertype(&self) -> u16 {
        get_be16(self.buf.as_ref(), vlan_field::ETHERTYPE.start)
    }
}

/// Where the L3 header of a frame starts and what it is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct L2Info {
    /// Offset of the L3 header from the start of the frame (14 or 18).
    pub l3_offset: usize,
    /// The EtherType of the L3 payload (the inner one if tagged).
    pub ethertype: u16,
    /// The VLAN id, if the frame carries one 802.1Q tag.
    pub vlan: Option<u16>,
}

/// Finds the L3 header behind an Ethernet header and at most one 802.1Q tag.
/// A second tag (QinQ) is reported as its EtherType, which the caller drops as
/// unsupported.
#[inline]
pub fn parse_l2(frame: &[u8]) -> Result<L2Info, DropReason> {
    let eth = EthernetFrame::new(frame)?;
    let ethertype = eth.ethertype();
    if ethertype != EtherType::VLAN {
        return Ok(L2Info {
            l3_offset: ETHERNET_HEADER_LEN,
            ethertype,
            vlan: None,
        });
    }
    let tag = VlanHeader::new(eth.payload())?;
    Ok(L2Info {
        l3_offset: ETHERNET_HEADER_LEN + VLAN_TAG_LEN,
        ethertype: tag.ethertype(),
        vlan: Some(tag.vid()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged_and_tagged_frames_find_their_l3() {
        let mut f = [0u8; 18];
        f[0..6].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let l2 = parse_l2(&f).expect("valid");
        assert_eq!((l2.l3_offset, l2.ethertype, l2.vlan), (14, 0x0800, None));
        assert_eq!(
            EthernetFrame::new(&f[..]).expect("valid").dst(),
            MacAddr([1, 2, 3, 4, 5, 6])
        );

        f[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
        f[14..16].copy_from_slice(&0xa064u16.to_be_bytes()); // pcp 5, vid 100
        f[16..18].copy_from_slice(&0x0806u16.to_be_bytes());
        let l2 = parse_l2(&f).expect("valid");
        assert_eq!(
            (l2.l3_offset, l2.ethertype, l2.vlan),
            (18, 0x0806, Some(100))
        );
        assert_eq!(VlanHeader::new(&f[14..]).expect("valid").pcp(), 5);
        // The frame-relative tag fields name the bytes the tag view reads.
        assert_eq!(get_be16(&f, field::VLAN_TCI.start), 0xa064);
        assert_eq!(get_be16(&f, field::VLAN_ETHERTYPE.start), 0x0806);
        assert_eq!(
            field::ADDRESSES,
            field::DESTINATION.start..field::SOURCE.end
        );
    }

    #[test]
    fn short_frames_are_truncated() {
        assert_eq!(parse_l2(&[0u8; 13]), Err(DropReason::TruncatedFrame));
        let mut f = [0u8; 17];
        f[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
        assert_eq!(parse_l2(&f), Err(DropReason::TruncatedFrame));
    }

    #[test]
    fn setters_write_the_fields() {
        let mut f = [0u8; 14];
        let mut e = EthernetFrame::new(&mut f[..]).expect("valid");
        e.set_src(MacAddr([2; 6]));
        e.set_dst(MacAddr::BROADCAST);
        e.set_ethertype(EtherType::ARP);
        assert_eq!(
            (e.src(), e.dst(), e.ethertype()),
            (MacAddr([2; 6]), MacAddr::BROADCAST, 0x0806)
        );
        assert!(e.dst().is_multicast() && !e.src().is_multicast());
    }
}
