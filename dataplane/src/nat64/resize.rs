//! Replacing an IP header by one of another length, in place.

use super::Untranslatable;
use crate::buf::PacketBuf;
use crate::wire::{put_be16, Field};

/// Where the EtherType that names the L3 protocol lies, just before the L3
/// header (the inner one of a VLAN-tagged frame too).
fn ethertype(l3: usize) -> Field {
    l3 - 2..l3
}

/// Moves the `len`-byte L2 header at `from` of `data` to `to` (both in
/// `data`, the caller checked). An untagged (14 bytes) or tagged (18) one
/// by a copy of fixed size, a few moves, where `copy_within` of a length
/// known only at run time calls `memmove`.
#[inline(always)]
fn slide_l2(data: &mut [u8], from: usize, to: usize, len: usize) {
    #[inline(always)]
    fn fixed<const N: usize>(data: &mut [u8], from: usize, to: usize) {
        let mut head = [0u8; N];
        if let Some(src) = data.get(from..from + N) {
            head.copy_from_slice(src);
        }
        if let Some(dst) = data.get_mut(to..to + N) {
            dst.copy_from_slice(&head);
        }
    }
    match len {
        14 => fixed::<14>(data, from, to),
        18 => fixed::<18>(data, from, to),
        _ => data.copy_within(from..from + len, to),
    }
}

/// Makes the `old`-byte IP header at `l3` room for a `new`-byte one: the L2
/// header slides by the difference (the payload stays where it is), and
/// its EtherType becomes `ethertype`. The bytes of the new header are left
/// for the caller to write, in the frame returned. Padding past `ip_end`
/// is trimmed first. Inlined into the translations, whose constants it
/// then folds (out of line it took 85 instructions a NAT64 packet).
#[inline(always)]
pub(super) fn replace_l3_header<B: PacketBuf + ?Sized>(
    buf: &mut B,
    l3: usize,
    ip_end: usize,
    (old, new): (usize, usize),
    ethertype_value: u16,
) -> Result<&mut [u8], Untranslatable> {
    if l3 < 2 || buf.len() < ip_end || ip_end < l3 + old {
        return Err(Untranslatable::Truncated);
    }
    if new > old && buf.headroom() < new - old {
        return Err(Untranslatable::NoBufferRoom);
    }
    let padding = buf.len() - ip_end;
    buf.trim(padding);
    let data = if new > old {
        let grow = new - old;
        if buf.prepend(grow).is_none() {
            return Err(Untranslatable::NoBufferRoom);
        }
        let data = buf.data_mut();
        slide_l2(data, grow, 0, l3);
        data
    } else if old > new {
        let shrink = old - new;
        slide_l2(buf.data_mut(), 0, shrink, l3);
        buf.adj(shrink);
        buf.data_mut()
    } else {
        buf.data_mut()
    };
    put_be16(data, ethertype(l3).start, ethertype_value);
    Ok(data)
}

/// Makes the IP packet at `l3` (ending at `ip_end`) `new_len` bytes long at
/// its end (the bytes are then overwritten whole by the caller).
pub(super) fn resize_l3_packet<B: PacketBuf + ?Sized>(
    buf: &mut B,
    l3: usize,
    ip_end: usize,
    new_len: usize,
    ethertype_value: u16,
) -> Result<(), Untranslatable> {
    if l3 < 2 || buf.len() < ip_end || ip_end < l3 {
        return Err(Untranslatable::Truncated);
    }
    let want = l3 + new_len;
    if want > buf.len() && buf.append(want - buf.len()).is_none() {
        return Err(Untranslatable::NoBufferRoom);
    }
    let extra = buf.len() - want;
    buf.trim(extra);
    put_be16(buf.data_mut(), ethertype(l3).start, ethertype_value);
    Ok(())
}
