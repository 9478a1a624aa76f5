//! Replacing an IP header by one of another length, in place.

use super::Untranslatable;
use crate::buf::PacketBuf;
use crate::wire::{put_be16, Field};

/// Where the EtherType that names the L3 protocol lies, just before the L3
/// header (the inner one of a VLAN-tagged frame too).
fn ethertype(l3: usize) -> Field {
    l3 - 2..l3
}

/// Makes the `old`-byte IP header at `l3` room for a `new`-byte one: the L2
/// header slides by the difference (the payload stays where it is), and
/// its EtherType becomes `ethertype`. The bytes of the new header are left
/// for the caller to write. Padding past `ip_end` is trimmed first.
pub(super) fn replace_l3_header<B: PacketBuf + ?Sized>(
    buf: &mut B,
    l3: usize,
    ip_end: usize,
    (old, new): (usize, usize),
    ethertype_value: u16,
) -> Result<(), Untranslatable> {
    if l3 < 2 || buf.len() < ip_end || ip_end < l3 + old {
        return Err(Untranslatable::Truncated);
    }
    if new > old && buf.headroom() < new - old {
        return Err(Untranslatable::NoBufferRoom);
    }
    let padding = buf.len() - ip_end;
    buf.trim(padding);
    if new > old {
        let grow = new - old;
        if buf.prepend(grow).is_none() {
            return Err(Untranslatable::NoBufferRoom);
        }
        buf.data_mut().copy_within(grow..grow + l3, 0);
    } else if old > new {
        let shrink = old - new;
        buf.data_mut().copy_within(0..l3, shrink);
        buf.adj(shrink);
    }
    put_be16(buf.data_mut(), ethertype(l3).start, ethertype_value);
    Ok(())
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
