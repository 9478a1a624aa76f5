//! A plain heap buffer with mbuf semantics, for unit tests, benches, the
//! integration tests and the fuzzer (feature `testing`).

use std::ops::{Deref, DerefMut};

use super::{HwChecksum, PacketBuf};

/// Headroom DPDK mbufs get by default (`RTE_PKTMBUF_HEADROOM`); test buffers
/// use the same so a test sees the limits the wire sees.
pub const DEFAULT_HEADROOM: usize = 128;

/// A fixed-capacity buffer on the heap for tests, benches and the fuzzer.
///
/// It allocates once, when it is made; its operations never do. Like
/// `dpdk::Mbuf` it is one pointer wide (its state is boxed), so a burst of
/// them moves 8 bytes per packet and the pipeline bench costs what the
/// appliance's burst handling costs. Its state's public field
/// (`rx_ipv4_checksum`) is reached through `Deref`.
#[derive(Clone, Debug)]
pub struct TestBuf(Box<TestBufState>);

/// What a [`TestBuf`] points to.
#[derive(Clone, Debug)]
pub struct TestBufState {
    storage: Box<[u8]>,
    start: usize,
    end: usize,
    /// What a NIC would have said of the IPv4 checksum (tests set it).
    pub rx_ipv4_checksum: HwChecksum,
    /// The bytes of further segments, as a chained mbuf would hold them
    /// (`TestBuf::chained`); empty for a one-segment buffer.
    chained: Vec<u8>,
    /// Counts the buffer among the live ones (this crate's tests).
    _live: Live,
}

/// A buffer's place in the count of live test buffers: the crate's own
/// tests check that what the pipeline holds (early segments, fragments)
/// is freed, as a pool's count of buffers in use would show. Nothing
/// outside them (benches, the fuzzer) pays for it.
#[cfg(test)]
#[derive(Debug)]
struct Live;

#[cfg(test)]
thread_local! {
    static LIVE: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
impl Live {
    fn new() -> Self {
        LIVE.with(|n| n.set(n.get() + 1));
        Live
    }
}

#[cfg(test)]
impl Clone for Live {
    fn clone(&self) -> Self {
        Live::new()
    }
}

#[cfg(test)]
impl Drop for Live {
    fn drop(&mut self) {
        LIVE.with(|n| n.set(n.get() - 1));
    }
}

#[cfg(not(test))]
#[derive(Clone, Debug)]
struct Live;

#[cfg(not(test))]
impl Live {
    fn new() -> Self {
        Live
    }
}

/// Test buffers alive on this thread now (made or cloned, not dropped).
#[cfg(test)]
pub fn live_test_bufs() -> i64 {
    LIVE.with(|n| n.get())
}

impl Deref for TestBuf {
    type Target = TestBufState;
    fn deref(&self) -> &TestBufState {
        &self.0
    }
}

impl DerefMut for TestBuf {
    fn deref_mut(&mut self) -> &mut TestBufState {
        &mut self.0
    }
}

impl TestBuf {
    /// A buffer holding `frame`, with `headroom` bytes free in front and
    /// `tailroom` free behind.
    pub fn with_room(frame: &[u8], headroom: usize, tailroom: usize) -> Self {
        let mut storage = vec![0u8; headroom + frame.len() + tailroom].into_boxed_slice();
        storage[headroom..headroom + frame.len()].copy_from_slice(frame);
        TestBuf(Box::new(TestBufState {
            storage,
            start: headroom,
            end: headroom + frame.len(),
            rx_ipv4_checksum: HwChecksum::Unchecked,
            chained: Vec::new(),
            _live: Live::new(),
        }))
    }

    /// A packet of two segments, as a device that chains mbufs delivers
    /// it: `first` in this buffer, `rest` behind it in another.
    pub fn chained(first: &[u8], rest: &[u8]) -> Self {
        let mut b = Self::new(first);
        b.0.chained = rest.to_vec();
        b
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
        self.0.rx_ipv4_checksum
    }

    fn is_contiguous(&self) -> bool {
        self.0.chained.is_empty()
    }

    fn packet_len(&self) -> usize {
        self.len() + self.0.chained.len()
    }

    fn gather_into(&self, out: &mut [u8]) -> bool {
        let (first, rest) = (self.data(), &self.0.chained);
        if out.len() != first.len() + rest.len() {
            return false;
        }
        out[..first.len()].copy_from_slice(first);
        out[first.len()..].copy_from_slice(rest);
        true
    }

    #[inline]
    fn data(&self) -> &[u8] {
        &self.0.storage[self.0.start..self.0.end]
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.0.storage[self.0.start..self.0.end]
    }

    #[inline]
    fn headroom(&self) -> usize {
        self.0.start
    }

    #[inline]
    fn tailroom(&self) -> usize {
        self.0.storage.len() - self.0.end
    }

    #[inline]
    fn prepend(&mut self, len: usize) -> Option<&mut [u8]> {
        if len > self.0.start {
            return None;
        }
        self.0.start -= len;
        Some(&mut self.0.storage[self.0.start..self.0.start + len])
    }

    #[inline]
    fn adj(&mut self, len: usize) -> bool {
        if len > self.0.end - self.0.start {
            return false;
        }
        self.0.start += len;
        true
    }

    #[inline]
    fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        if len > self.0.storage.len() - self.0.end {
            return None;
        }
        let old_end = self.0.end;
        self.0.end += len;
        Some(&mut self.0.storage[old_end..self.0.end])
    }

    #[inline]
    fn trim(&mut self, len: usize) -> bool {
        if len > self.0.end - self.0.start {
            return false;
        }
        self.0.end -= len;
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
    fn a_test_buffer_is_one_pointer_wide_like_an_mbuf() {
        assert_eq!(std::mem::size_of::<TestBuf>(), std::mem::size_of::<usize>());
        let mut b = TestBuf::new(&[1]);
        assert_eq!(b.rx_ipv4_checksum(), HwChecksum::Unchecked);
        b.rx_ipv4_checksum = HwChecksum::Bad;
        assert_eq!(b.rx_ipv4_checksum(), HwChecksum::Bad);
        assert_eq!(
            b.clone().rx_ipv4_checksum(),
            HwChecksum::Bad,
            "clones keep it"
        );
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

    #[test]
    fn live_buffers_are_counted_until_dropped() {
        let before = live_test_bufs();
        let a = TestBuf::new(&[1]);
        let b = a.clone();
        assert_eq!(live_test_bufs(), before + 2);
        drop(a);
        assert_eq!(live_test_bufs(), before + 1);
        drop(b);
        assert_eq!(live_test_bufs(), before);
    }
}
