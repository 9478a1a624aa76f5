//! Layer-2 edits on the way out: the 802.1Q tag of the egress interface.

use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::wire::ethernet::{field, EtherType, ETHERNET_HEADER_LEN, VLAN_TAG_LEN, VLAN_VID_MASK};
use crate::wire::{get_be16, put_be16};

/// Makes the frame carry `want` as its VLAN tag (or none), given that it now
/// carries `current`. A tag is inserted after the MACs or removed; changing
/// the VID keeps the priority bits. Nothing changes on error.
pub fn set_vlan<B: PacketBuf + ?Sized>(
    buf: &mut B,
    current: Option<u16>,
    want: Option<u16>,
) -> Result<(), DropReason> {
    const MACS: usize = field::ADDRESSES.end;
    match (current, want) {
        (None, None) => Ok(()),
        (Some(_), Some(vid)) => {
            let frame = buf.data_mut();
            let tci = get_be16(frame, field::VLAN_TCI.start);
            let pcp_dei = tci & !VLAN_VID_MASK;
            put_be16(
                frame,
                field::VLAN_TCI.start,
                pcp_dei | (vid & VLAN_VID_MASK),
            );
            Ok(())
        }
        (None, Some(vid)) => {
            if buf.len() < ETHERNET_HEADER_LEN {
                return Err(DropReason::TruncatedFrame);
            }
            if buf.prepend(VLAN_TAG_LEN).is_none() {
                return Err(DropReason::NoBufferRoom);
            }
            let frame = buf.data_mut();
            frame.copy_within(VLAN_TAG_LEN..VLAN_TAG_LEN + MACS, 0);
            put_be16(frame, field::ETHERTYPE.start, EtherType::VLAN);
            put_be16(frame, field::VLAN_TCI.start, vid & VLAN_VID_MASK);
            Ok(())
        }
        (Some(_), None) => {
            if buf.len() < ETHERNET_HEADER_LEN + VLAN_TAG_LEN {
                return Err(DropReason::TruncatedFrame);
            }
            buf.data_mut().copy_within(0..MACS, VLAN_TAG_LEN);
            buf.adj(VLAN_TAG_LEN);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::TestBuf;
    use crate::testutil;
    use crate::wire::ethernet::parse_l2;

    #[test]
    fn tags_are_added_changed_and_removed_around_the_same_packet() {
        let plain = testutil::udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 64, b"payload");
        let mut buf = TestBuf::new(&plain);
        set_vlan(&mut buf, None, Some(100)).expect("room");
        assert_eq!(buf.data(), &testutil::vlan_tag(&plain, 100)[..]);
        let l2 = parse_l2(buf.data()).expect("parses");
        assert_eq!((l2.vlan, l2.l3_offset), (Some(100), 18));

        set_vlan(&mut buf, Some(100), Some(7)).expect("in place");
        assert_eq!(buf.data(), &testutil::vlan_tag(&plain, 7)[..]);

        set_vlan(&mut buf, Some(7), None).expect("shrinks");
        assert_eq!(buf.data(), &plain[..]);
        set_vlan(&mut buf, None, None).expect("nothing to do");
        assert_eq!(buf.data(), &plain[..]);
    }

    #[test]
    fn no_headroom_or_a_runt_changes_nothing() {
        let plain = testutil::udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 64, b"");
        let mut tight = TestBuf::with_room(&plain, 2, 0);
        assert_eq!(
            set_vlan(&mut tight, None, Some(5)),
            Err(DropReason::NoBufferRoom)
        );
        assert_eq!(tight.data(), &plain[..]);
        let mut runt = TestBuf::new(&plain[..16]);
        assert_eq!(
            set_vlan(&mut runt, Some(5), None),
            Err(DropReason::TruncatedFrame)
        );
    }
}
