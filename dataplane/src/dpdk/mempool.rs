use std::ffi::CString;
use std::ptr::NonNull;

use super::{DpdkError, Eal, Mbuf};

/// `SOCKET_ID_ANY` from rte_memory.h (a macro bindgen does not carry).
const SOCKET_ID_ANY: i32 = -1;

/// A pool of packet buffers (`rte_pktmbuf_pool_create`, or laid out for
/// af_xdp: module `umem_pool`), freed on drop.
///
/// Ports borrow it for as long as their RX queues refill from it.
#[derive(Debug)]
pub struct Mempool {
    raw: NonNull<dpdk_sys::rte_mempool>,
    name: String,
    size: u32,
    data_room: u16,
}

/// The data room for frames of `frame_room` bytes: headroom plus the
/// frame, never less than DPDK's default; `None` past what an mbuf's
/// 16-bit `buf_len` holds.
fn data_room(frame_room: u16) -> Option<u16> {
    let default = dpdk_sys::RTE_MBUF_DEFAULT_DATAROOM as u16;
    let headroom = dpdk_sys::RTE_PKTMBUF_HEADROOM as u16;
    frame_room.max(default).checked_add(headroom)
}

// SAFETY: a DPDK mempool is built for concurrent use from many lcores (its
// get/put paths are lock-free rings plus per-lcore caches); the handle is a
// plain pointer to shared memory.
unsafe impl Send for Mempool {}
// SAFETY: as above; `&Mempool` only exposes thread-safe DPDK calls.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// The largest frame room an mbuf holds: its 16-bit `buf_len` less
    /// the headroom.
    pub const MAX_FRAME_ROOM: u16 = u16::MAX - dpdk_sys::RTE_PKTMBUF_HEADROOM as u16;

    /// Creates a pool of `size` mbufs with a per-lcore cache of `cache`
    /// buffers, each with room for a frame of `frame_room` bytes after the
    /// headroom (at least DPDK's default, 2048), so a frame that size
    /// arrives in one mbuf.
    pub fn new_pktmbuf(
        _eal: &Eal,
        name: &str,
        size: u32,
        cache: u32,
        frame_room: u16,
    ) -> Result<Mempool, DpdkError> {
        let cname = CString::new(name)
            .map_err(|_| DpdkError::new(format!("mempool name {name:?} contains NUL"), 22))?;
        let data_room = data_room(frame_room).ok_or_else(|| {
            DpdkError::new(
                format!("mempool {name}: frames of {frame_room} bytes do not fit an mbuf"),
                22,
            )
        })?;
        // SAFETY: the EAL is initialised (`_eal`); cname is a valid C string
        // for the duration of the call; SOCKET_ID_ANY lets DPDK choose.
        let raw = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                size,
                cache,
                0,
                data_room,
                SOCKET_ID_ANY,
            )
        };
        let raw = NonNull::new(raw).ok_or_else(|| {
            DpdkError::from_rte_errno(format!(
                "rte_pktmbuf_pool_create({name}, {size} mbufs; with --no-huge raise EAL -m)"
            ))
        })?;
        Ok(Mempool::from_raw(raw, name, size, data_room))
    }

    /// Takes ownership of a created pool (freed on drop).
    pub(super) fn from_raw(
        raw: NonNull<dpdk_sys::rte_mempool>,
        name: &str,
        size: u32,
        data_room: u16,
    ) -> Mempool {
        Mempool {
            raw,
            name: name.to_owned(),
            size,
            data_room,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Each mbuf's data room, headroom included
    /// (`rte_pktmbuf_data_room_size`).
    pub fn data_room(&self) -> u16 {
        self.data_room
    }

    /// The room after the default headroom: the longest frame an mbuf
    /// receives whole.
    pub fn frame_room(&self) -> u16 {
        self.data_room - dpdk_sys::RTE_PKTMBUF_HEADROOM as u16
    }

    /// Number of mbufs the pool was created with.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Mbufs currently free in the pool (cached ones included).
    pub fn available(&self) -> u32 {
        // SAFETY: raw is a live mempool; the count is a racy snapshot by design.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// Takes one mbuf from the pool (empty, default headroom), or `None` if
    /// the pool is exhausted.
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: raw is a live pktmbuf pool; a non-NULL result is a fresh
        // mbuf we now own, which Mbuf frees on drop.
        let m = unsafe { dpdk_sys::rte_pktmbuf_alloc(self.raw.as_ptr()) };
        NonNull::new(m).map(Mbuf::from_owned)
    }

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.raw.as_ptr()
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: every port using the pool borrowed it, so they are gone;
        // mbufs still alive would point into freed memory, which is why
        // every Mbuf is owned by a port, a burst or a worker that ends first.
        unsafe { dpdk_sys::rte_mempool_free(self.raw.as_ptr()) }
    }
}
