//! The one buffer abstraction the packet logic sees.
//!
//! A DPDK mbuf and a plain test buffer both implement [`PacketBuf`], so every
//! rewrite (including ones that grow the packet at the front, like the IP-in-IP
//! outer header) runs unchanged in unit tests and on the wire. The operations are
//! the mbuf ones: `prepend` and `adj` move the start of the data, `append` and
//! `trim` move its end. None of them allocates.

/// A packet's bytes with room to grow at both ends.
pub trait PacketBuf {
    /// The packet bytes, starting at the first byte of the frame.
    fn data(&self) -> &[u8];
    /// The packet bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Bytes free in front of the data (room for `prepend`).
    fn headroom(&self) -> usize;
    /// Bytes free after the data (room for `append`).
    fn tailroom(&self) -> usize;
    /// Grows the data by `len` bytes at the front and returns the new bytes, or
    /// `None` (and changes nothing) if the headroom is too small.
    fn prepend(&mut self, len: usize) -> Option<&mut [u8]>;
    /// Removes `len` bytes from the front; `false` (and no change) if the data
    /// is shorter than `len`.
    fn adj(&mut self, len: usize) -> bool;
    /// Grows the data by `len` bytes at the end and returns the new bytes, or
    /// `None` (and changes nothing) if the tailroom is too small.
    fn append(&mut self, len: usize) -> Option<&mut [u8]>;
    /// Removes `len` bytes from the end; `false` (and no change) if the data is
    /// shorter than `len`.
    fn trim(&mut self, len: usize) -> bool;

    /// Length of the data in bytes.
    fn len(&self) -> usize {
        self.data().len()
    }
    /// Whether the data is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether `data()` is the whole packet. A chained DPDK mbuf is not: the
    /// packet path reads one segment, so the pipeline drops such packets.
    fn is_contiguous(&self) -> bool {
        true
    }
    /// What the NIC found when it checked the IPv4 header checksum on
    /// receive (RX checksum offload), if it did.
    fn rx_ipv4_checksum(&self) -> HwChecksum {
        HwChecksum::Unchecked
    }
}

/// A NIC's verdict on a received header checksum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HwChecksum {
    /// Not checked (no offload, not IPv4, or the device does not say):
    /// the packet path checks it.
    #[default]
    Unchecked,
    Good,
    Bad,
}

/// Headroom DPDK mbufs get by default (`RTE_PKTMBUF_HEADROOM`); test buffers
/// use the same so a test sees the limits the wire sees.
pub const DEFAULT_HEADROOM: usize = 128;

/// A fixed-capacity buffer on the heap for tests, tools and the pcap harness.
///
/// It allocates once, when it is made; its operations never do.
#[derive(Clone, Debug)]
pub struct TestBuf {
    storage: Box<[u8]>,
    start: usize,
    end: usize,
    /// What a NIC would have said of the IPv4 checksum (tests set it).
    pub rx_ipv4_checksum: HwChecksum,
}

impl TestBuf {
    /// A buffer holding `frame`, with `headroom` bytes free in front and
    /// `tailroom` free behind.
    pub fn with_room(frame: &[u8], headroom: usize, tailroom: usize) -> Self {
        let mut storage = vec![0u8; headroom + frame.len() + tailroom].into_boxed_slice();
        storage[headroom..headroom + frame.len()].copy_from_slice(frame);
        TestBuf {
            storage,
            start: headroom,
            end: headroom + frame.len(),
            rx_ipv4_checksum: HwChecksum::Unchecked,
        }
    }

    /// A buffer holding `frame` with mbuf-like room: [`DEFAULT_HEADROOM`] in
    /// front and room for a full 1518-byte frame plus slack behind.
    pub fn new(frame: &[u8]) -> Self {
        Self::with_room(
            frame,
            DEFAULT_HEADROOM,
            2048usize.saturating_sub(frame.len()),
        )
    }
}

impl PacketBuf for TestBuf {
    fn rx_ipv4_checksum(&self) -> HwChecksum {
        self.rx_ipv4_checksum
    }

    #[inline]
    fn data(&self) -> &[u8] {
        &self.storage[self.start..self.end]
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.end]
    }

    #[inline]
    fn headroom(&self) -> usize {
        self.start
    }

    #[inline]
    fn tailroom(&self) -> usize {
        self.storage.len() - self.end
    }

    #[inline]
    fn prepend(&mut self, len: usize) -> Option<&mut [u8]> {
        if len > self.start {
            return None;
        }
        self.start -= len;
        Some(&mut self.storage[self.start..self.start + len])
    }

    #[inline]
    fn adj(&mut self, len: usize) -> bool {
        if len > self.end - self.start {
            return false;
        }
        self.start += len;
        true
    }

    #[inline]
    fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        if len > self.storage.len() - self.end {
            return None;
        }
        let old_end = self.end;
        self.end += len;
        Some(&mut self.storage[old_end..self.end])
    }

    #[inline]
    fn trim(&mut self, len: usize) -> bool {
        if len > self.end - self.start {
            return false;
        }
        self.end -= len;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_and_adj_move_the_front() {
        let mut b = TestBuf::with_room(&[1, 2, 3], 4, 0);
        b.prepend(2).expect("room").copy_from_slice(&[9, 8]);
        assert_eq!(b.data(), &[9, 8, 1, 2, 3]);
        assert_eq!(b.headroom(), 2);
        assert!(b.prepend(3).is_none(), "only 2 bytes of headroom left");
        assert_eq!(b.data(), &[9, 8, 1, 2, 3], "failed prepend changes nothing");
        assert!(b.adj(3));
        assert_eq!(b.data(), &[2, 3]);
        assert!(!b.adj(3));
        assert_eq!(b.data(), &[2, 3]);
    }

    #[test]
    fn append_and_trim_move_the_end() {
        let mut b = TestBuf::with_room(&[1, 2], 0, 2);
        b.append(2).expect("room").copy_from_slice(&[5, 6]);
        assert_eq!(b.data(), &[1, 2, 5, 6]);
        assert!(b.append(1).is_none());
        assert!(b.trim(3));
        assert_eq!(b.data(), &[1]);
        assert!(!b.trim(2));
        assert_eq!(b.len(), 1);
    }
}
