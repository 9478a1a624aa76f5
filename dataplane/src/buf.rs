//! The one buffer abstraction the packet logic sees.
//!
//! A DPDK mbuf and a plain test buffer both implement [`PacketBuf`], so every
//! rewrite (including ones that grow the packet at the front, like the IP-in-IP
//! outer header) runs unchanged in unit tests and on the wire. The operations are
//! the mbuf ones: `prepend` and `adj` move the start of the data, `append` and
//! `trim` move its end. None of them allocates.
//!
//! The heap-backed [`TestBuf`] (feature `testing`, and this crate's own unit
//! tests) is the plain test buffer; the appliance never builds it.

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
    #[inline(always)]
    fn len(&self) -> usize {
        self.data().len()
    }
    /// Whether the data is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether `data()` is the whole packet. A chained DPDK mbuf is not: the
    /// packet path reads one segment, so the pipeline gathers such a packet
    /// into one buffer first ([`gather_into`](Self::gather_into)).
    fn is_contiguous(&self) -> bool {
        true
    }
    /// The whole packet's length, every segment counted.
    fn packet_len(&self) -> usize {
        self.len()
    }
    /// Copies the whole packet, segment after segment, into `out`, which
    /// must be [`packet_len`](Self::packet_len) long; `false` (out partly
    /// written) if it is not.
    fn gather_into(&self, out: &mut [u8]) -> bool {
        let data = self.data();
        if out.len() != data.len() {
            return false;
        }
        out.copy_from_slice(data);
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

#[cfg(any(test, feature = "testing"))]
mod test_buf;
#[cfg(test)]
pub use test_buf::live_test_bufs;
#[cfg(any(test, feature = "testing"))]
pub use test_buf::{TestBuf, DEFAULT_HEADROOM};
