//! Fragmenting on egress: an IPv4 packet without DF that does not fit the
//! egress MTU is cut into fragments that do (RFC 791), the first in its own
//! buffer, the others in buffers from the packet I/O's pool. A packet that
//! is itself a fragment is cut the same way (offsets from its own, its
//! more-fragments flag on its last piece). Options are copied into every
//! piece (simpler than RFC 791's copy-flag rule, and harmless: options are
//! all but unseen on the networks a balancer serves).

use arrayvec::ArrayVec;

use crate::buf::PacketBuf;
use crate::checksum;
use crate::drop::DropReason;
use crate::wire::ipv4::{self, field, header_len_of, IPV4_MIN_HEADER_LEN};
use crate::wire::{get_be16, get_u8, put_be16};

/// Pieces one packet may be cut into besides the first (65535 bytes at an
/// MTU of 1280 is 52 pieces; lower MTUs with big packets are refused).
pub const MAX_PIECES: usize = 63;

/// The pieces after the first, to send after it.
pub type Pieces<P> = ArrayVec<P, MAX_PIECES>;

/// Cuts the IPv4 packet at `l3` of `pkt` into pieces of at most `mtu` IP
/// bytes: `pkt` keeps the first, `out` gets the rest (each with `pkt`'s L2
/// header). `alloc` gives empty buffers. On `Err` `pkt` is unchanged and
/// `out` empty (pieces already made are freed).
pub fn split<P: PacketBuf>(
    pkt: &mut P,
    l3: usize,
    mtu: u16,
    mut alloc: impl FnMut() -> Option<P>,
    out: &mut Pieces<P>,
) -> Result<(), DropReason> {
    let frame = pkt.data();
    let ver_ihl = get_u8(frame, l3 + field::VER_IHL);
    let header = header_len_of(ver_ihl);
    let total = usize::from(get_be16(frame, l3 + field::LENGTH.start));
    if header < IPV4_MIN_HEADER_LEN || total < header || frame.len() < l3 + total {
        return Err(DropReason::TruncatedIpv4);
    }
    // Every piece but the last carries a multiple of 8 bytes.
    let room = (usize::from(mtu).saturating_sub(header)) & !7;
    let payload = total - header;
    if header + payload <= usize::from(mtu) {
        return Ok(());
    }
    if room == 0 || payload.div_ceil(room) > MAX_PIECES + 1 {
        return Err(DropReason::TooBigToFragment);
    }
    let word = get_be16(frame, l3 + field::FLG_OFF.start);
    let base = usize::from(word & ipv4::FRAGMENT_OFFSET_MASK) * 8;
    let last_more = word & ipv4::MORE_FRAGMENTS != 0;
    let flags = word & !(ipv4::MORE_FRAGMENTS | ipv4::FRAGMENT_OFFSET_MASK);
    let mut at = room;
    while at < payload {
        let end = (at + room).min(payload);
        let Some(mut piece) = alloc() else {
            out.clear();
            return Err(DropReason::NoBufferRoom);
        };
        let len = l3 + header + end - at;
        let src = pkt.data();
        let Some(dst) = piece.append(len) else {
            out.clear();
            return Err(DropReason::NoBufferRoom);
        };
        dst[..l3 + header].copy_from_slice(&src[..l3 + header]);
        dst[l3 + header..].copy_from_slice(&src[l3 + header + at..l3 + header + end]);
        let more = end < payload || last_more;
        finish_header(dst, l3, header, end - at, flags, base + at, more);
        if out.try_push(piece).is_err() {
            out.clear();
            return Err(DropReason::TooBigToFragment);
        }
        at = end;
    }
    // The first piece: the packet itself, cut short.
    let cut = pkt.len() - (l3 + header + room);
    if !pkt.trim(cut) {
        out.clear();
        return Err(DropReason::NoBufferRoom);
    }
    finish_header(pkt.data_mut(), l3, header, room, flags, base, true);
    Ok(())
}

/// A piece's IPv4 header: its length, flags and offset, checksum.
fn finish_header(
    f: &mut [u8],
    l3: usize,
    header: usize,
    payload: usize,
    flags: u16,
    offset: usize,
    more: bool,
) {
    let word = flags | if more { ipv4::MORE_FRAGMENTS } else { 0 } | (offset / 8) as u16;
    put_be16(f, l3 + field::LENGTH.start, (header + payload) as u16);
    put_be16(f, l3 + field::FLG_OFF.start, word);
    put_be16(f, l3 + field::CHECKSUM.start, 0);
    let sum = checksum::checksum(&f[l3..l3 + header]);
    put_be16(f, l3 + field::CHECKSUM.start, sum);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::TestBuf;
    use crate::testutil;

    #[test]
    fn a_packet_cut_to_the_mtu_reassembles_to_itself() {
        let d = testutil::udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 64, &[9; 3000]);
        let mut pkt = TestBuf::new(&d);
        let mut out = Pieces::new();
        split(&mut pkt, 14, 1500, || Some(TestBuf::new(&[])), &mut out).expect("splits");
        assert_eq!(out.len(), 2);
        let frames: Vec<Vec<u8>> = std::iter::once(pkt.data().to_vec())
            .chain(out.iter().map(|p| p.data().to_vec()))
            .collect();
        assert!(frames.iter().all(|f| f.len() <= 1514));
        assert_eq!(frames[0].len(), 1514);
        let whole = testutil::reassemble(&frames, 14);
        assert_eq!(whole, d);
    }

    #[test]
    fn a_fragment_cut_again_keeps_its_offset_and_its_more_flag() {
        let d = testutil::udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 64, &[3; 4000]);
        let frags = testutil::fragment(&d, 14, 2000);
        let mut again = Vec::new();
        for f in &frags {
            let mut pkt = TestBuf::new(f);
            let mut out = Pieces::new();
            split(&mut pkt, 14, 576, || Some(TestBuf::new(&[])), &mut out).expect("splits");
            again.push(pkt.data().to_vec());
            again.extend(out.iter().map(|p| p.data().to_vec()));
        }
        assert!(again.iter().all(|f| f.len() <= 576 + 14));
        assert_eq!(testutil::reassemble(&again, 14), d);
    }

    #[test]
    fn no_buffer_or_no_room_refuses_and_changes_nothing() {
        let d = testutil::udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 64, &[9; 3000]);
        let mut pkt = TestBuf::new(&d);
        let mut out = Pieces::new();
        assert_eq!(
            split(&mut pkt, 14, 1500, || None, &mut out),
            Err(DropReason::NoBufferRoom)
        );
        assert_eq!((pkt.data(), out.len()), (&d[..], 0));
        assert_eq!(
            split(&mut pkt, 14, 24, || Some(TestBuf::new(&[])), &mut out),
            Err(DropReason::TooBigToFragment)
        );
        assert_eq!(pkt.data(), &d[..]);
    }
}
