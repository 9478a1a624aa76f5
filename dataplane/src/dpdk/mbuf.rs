use std::ptr::NonNull;

use crate::buf::{HwChecksum, PacketBuf};

/// One packet buffer, owned. Dropping it returns it to its pool.
///
/// `repr(transparent)` over the mbuf pointer so an array of `Mbuf` is an
/// array of `struct rte_mbuf *`, which RX/TX bursts fill and read in place.
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf(NonNull<dpdk_sys::rte_mbuf>);

// SAFETY: an mbuf is owned by exactly one `Mbuf`; moving it to another thread
// moves that ownership (DPDK allows freeing an mbuf on any lcore).
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Wraps an mbuf the caller owns and hands over.
    pub(crate) fn from_owned(raw: NonNull<dpdk_sys::rte_mbuf>) -> Self {
        Mbuf(raw)
    }

    fn raw(&self) -> &dpdk_sys::rte_mbuf {
        // SAFETY: self.0 points to a live mbuf that we own.
        unsafe { self.0.as_ref() }
    }

    /// Whether the whole packet is in this one segment. The packet logic
    /// works on single-segment packets; the pipeline drops others, counted.
    pub fn is_contiguous(&self) -> bool {
        self.raw().nb_segs == 1
    }

    /// Chains `tail`'s segments behind this packet's, as a device that
    /// delivers one frame in several buffers does (`rte_pktmbuf_chain`).
    /// Gives both back unchanged when the chain would be too long.
    pub fn chain(self, tail: Mbuf) -> Result<Mbuf, (Mbuf, Mbuf)> {
        // SAFETY: we own both mbufs; on success (0) rte_pktmbuf_chain links
        // tail's segments after ours and the chain owns them, so `tail` must
        // not be freed on its own; on failure (-EOVERFLOW) nothing changed.
        let rc = unsafe { dpdk_sys::rte_pktmbuf_chain(self.0.as_ptr(), tail.0.as_ptr()) };
        if rc == 0 {
            std::mem::forget(tail);
            Ok(self)
        } else {
            Err((self, tail))
        }
    }

    /// The input port DPDK recorded at RX.
    pub fn port(&self) -> u16 {
        self.raw().port
    }

    fn data_ptr(&self) -> *mut u8 {
        let m = self.raw();
        // SAFETY: buf_addr + data_off stays inside the mbuf's data buffer
        // (DPDK keeps data_off <= buf_len).
        unsafe { (m.buf_addr as *mut u8).add(m.data_off as usize) }
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf (and its chained segments); nothing else
        // references it after this.
        unsafe { dpdk_sys::rte_pktmbuf_free(self.0.as_ptr()) }
    }
}

impl PacketBuf for Mbuf {
    fn is_contiguous(&self) -> bool {
        Mbuf::is_contiguous(self)
    }

    fn packet_len(&self) -> usize {
        self.raw().pkt_len as usize
    }

    fn gather_into(&self, out: &mut [u8]) -> bool {
        let mut at = 0usize;
        let mut seg: *const dpdk_sys::rte_mbuf = self.0.as_ptr();
        while !seg.is_null() {
            // SAFETY: `seg` is this packet's first segment or a `next` of
            // one: DPDK keeps a chain's segments alive while the first is
            // (we own it), and the last `next` is NULL.
            let m = unsafe { &*seg };
            let len = m.data_len as usize;
            let Some(dst) = out.get_mut(at..at + len) else {
                return false;
            };
            // SAFETY: each segment holds data_len initialised bytes at
            // buf_addr + data_off, inside its buffer (DPDK's invariant);
            // nothing writes them while we hold the packet.
            let src = unsafe {
                std::slice::from_raw_parts((m.buf_addr as *const u8).add(m.data_off as usize), len)
            };
            dst.copy_from_slice(src);
            at += len;
            seg = m.next;
        }
        at == out.len()
    }

    #[inline]
    fn rx_ipv4_checksum(&self) -> HwChecksum {
        // Set by the PMD on receive when the port has RX IPv4 checksum
        // offload; UNKNOWN (neither bit) and NONE (both) leave it to us.
        match self.raw().ol_flags & u64::from(dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_MASK) {
            f if f == u64::from(dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_GOOD) => HwChecksum::Good,
            f if f == u64::from(dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_BAD) => HwChecksum::Bad,
            _ => HwChecksum::Unchecked,
        }
    }

    fn data(&self) -> &[u8] {
        // SAFETY: the first segment holds data_len initialised bytes at
        // data_ptr; the borrow of self keeps the mbuf alive and unaliased.
        unsafe { std::slice::from_raw_parts(self.data_ptr(), self.raw().data_len as usize) }
    }

    fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.data_ptr(), self.raw().data_len as usize) }
    }

    fn headroom(&self) -> usize {
        self.raw().data_off as usize
    }

    fn tailroom(&self) -> usize {
        let m = self.raw();
        (m.buf_len as usize).saturating_sub(m.data_off as usize + m.data_len as usize)
    }

    fn prepend(&mut self, len: usize) -> Option<&mut [u8]> {
        let len16 = u16::try_from(len).ok()?;
        // SAFETY: we own the mbuf; rte_pktmbuf_prepend checks the headroom
        // and returns NULL without changing anything when it is too small.
        let p = unsafe { dpdk_sys::rte_pktmbuf_prepend(self.0.as_ptr(), len16) };
        if p.is_null() {
            return None;
        }
        // SAFETY: p points to the `len` bytes just added in front of the data.
        Some(unsafe { std::slice::from_raw_parts_mut(p as *mut u8, len) })
    }

    fn adj(&mut self, len: usize) -> bool {
        let Ok(len16) = u16::try_from(len) else {
            return false;
        };
        // SAFETY: we own the mbuf; rte_pktmbuf_adj refuses (NULL, no change)
        // to remove more than the first segment holds.
        !unsafe { dpdk_sys::rte_pktmbuf_adj(self.0.as_ptr(), len16) }.is_null()
    }

    fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        let len16 = u16::try_from(len).ok()?;
        // SAFETY: we own the mbuf; rte_pktmbuf_append checks the tailroom of
        // the last segment and returns NULL without change when too small.
        let p = unsafe { dpdk_sys::rte_pktmbuf_append(self.0.as_ptr(), len16) };
        if p.is_null() {
            return None;
        }
        // SAFETY: p points to the `len` bytes just added at the end.
        Some(unsafe { std::slice::from_raw_parts_mut(p as *mut u8, len) })
    }

    fn trim(&mut self, len: usize) -> bool {
        let Ok(len16) = u16::try_from(len) else {
            return false;
        };
        // SAFETY: we own the mbuf; rte_pktmbuf_trim returns -1 without
        // change when the last segment is shorter than len.
        unsafe { dpdk_sys::rte_pktmbuf_trim(self.0.as_ptr(), len16) == 0 }
    }
}
