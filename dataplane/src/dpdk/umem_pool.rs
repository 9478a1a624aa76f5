//! The mbuf pool for `net_af_xdp` ports, laid out as DPDK 22.11's af_xdp
//! driver assumes (docs/fragments-and-mtu.md, "AF_XDP and the mbuf pool").
//!
//! That driver registers the pool's memory with the kernel as the socket's
//! UMEM, from the page of the pool's first memory chunk and `populated_size`
//! × object size long: it assumes the objects lie end to end. A pool from
//! `rte_pktmbuf_pool_create` does not keep that promise: objects never cross
//! a page (4 KB under `--no-huge`, a huge page otherwise), so a 2368-byte
//! mbuf takes a whole 4 KB page and the pool spans 1.7 times what the UMEM
//! covers. The kernel refuses every descriptor on a buffer past the UMEM's
//! end (`tx_invalid_descs`), and on copy-mode sockets the refused one holds
//! up every descriptor behind it: transmit stops for good once fresh
//! allocations reach those buffers (DPDK 24.07 reads the pool's real range,
//! `rte_mempool_get_mem_range`; 22.11 does not).
//!
//! So this pool has objects of exactly one page, in one page-aligned
//! memzone, populated without gaps: every object lies in the UMEM and none
//! crosses a page. [`Mempool::umem_misses`] checks it the driver's way.

use std::ffi::CString;
use std::ptr::NonNull;

use super::{DpdkError, Eal, Mempool};

/// `SOCKET_ID_ANY` from rte_memory.h.
const SOCKET_ID_ANY: i32 = -1;

/// The page the af_xdp driver aligns the UMEM to (`getpagesize()`).
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf reads a constant of the running system.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page).unwrap_or(4096)
}

/// Frees the memzone a pool was populated from (rte_mempool_free calls it
/// once, for the first chunk).
unsafe extern "C" fn free_memzone(
    _memhdr: *mut dpdk_sys::rte_mempool_memhdr,
    opaque: *mut std::os::raw::c_void,
) {
    // SAFETY: `opaque` is the memzone `new_umem_pktmbuf` reserved and gave
    // to rte_mempool_populate_virt; the pool no longer uses it.
    unsafe { dpdk_sys::rte_memzone_free(opaque as *const dpdk_sys::rte_memzone) };
}

/// The object count and misses `umem_misses` gathers.
struct Walk {
    start: usize,
    end: usize,
    frame: usize,
    misses: u32,
}

unsafe extern "C" fn check_object(
    mp: *mut dpdk_sys::rte_mempool,
    opaque: *mut std::os::raw::c_void,
    obj: *mut std::os::raw::c_void,
    _idx: std::os::raw::c_uint,
) {
    // SAFETY: `opaque` is the `Walk` umem_misses passes for the duration of
    // rte_mempool_obj_iter; `mp` is the live pool being walked.
    let (walk, header) = unsafe { (&mut *(opaque as *mut Walk), (*mp).header_size as usize) };
    // Where the driver's descriptor for this mbuf starts: its object header.
    let first = (obj as usize).wrapping_sub(header);
    if first < walk.start || first + walk.frame > walk.end {
        walk.misses += 1;
    }
}

impl Mempool {
    /// A pool of `size` mbufs for configs with a `net_af_xdp` port: each
    /// object one page, so each mbuf has a data room (headroom included)
    /// of a page less the object header and the `rte_mbuf`; in one
    /// page-aligned memzone, so the af_xdp UMEM covers every mbuf.
    pub fn new_umem_pktmbuf(
        _eal: &Eal,
        name: &str,
        size: u32,
        cache: u32,
    ) -> Result<Mempool, DpdkError> {
        let err = |what: &str| DpdkError::from_rte_errno(format!("mempool {name}: {what}"));
        let cname = CString::new(name)
            .map_err(|_| DpdkError::new(format!("mempool name {name:?} contains NUL"), 22))?;
        let page = page_size();
        let flags = dpdk_sys::RTE_MEMPOOL_F_NO_SPREAD;
        // The object header is one cache line; the element fills the rest.
        let elt = (page - dpdk_sys::RTE_CACHE_LINE_SIZE as usize) as u32;
        // SAFETY: a pure computation on sizes; no pointer is passed.
        let total =
            unsafe { dpdk_sys::rte_mempool_calc_obj_size(elt, flags, std::ptr::null_mut()) };
        let mbuf = std::mem::size_of::<dpdk_sys::rte_mbuf>() as u32;
        let data_room = u16::try_from(elt - mbuf)
            .ok()
            .filter(|_| total as usize == page);
        let data_room = data_room.ok_or_else(|| {
            DpdkError::new(
                format!("mempool {name}: an object of {total} bytes for a page of {page}"),
                22,
            )
        })?;
        let private = std::mem::size_of::<dpdk_sys::rte_pktmbuf_pool_private>() as u32;
        // SAFETY: the EAL is initialised; cname outlives the call.
        let raw = unsafe {
            dpdk_sys::rte_mempool_create_empty(
                cname.as_ptr(),
                size,
                elt,
                cache,
                private,
                SOCKET_ID_ANY,
                flags,
            )
        };
        let raw = NonNull::new(raw).ok_or_else(|| err("rte_mempool_create_empty"))?;
        // From here on, dropping `pool` frees the mempool (and its memory).
        let pool = Mempool::from_raw(raw, name, size, data_room);
        let mp = raw.as_ptr();
        let mut private = dpdk_sys::rte_pktmbuf_pool_private {
            mbuf_data_room_size: data_room,
            mbuf_priv_size: 0,
            flags: 0,
        };
        let ops = dpdk_sys::RTE_MBUF_DEFAULT_MEMPOOL_OPS.as_ptr().cast();
        // SAFETY: mp is a live empty pool; ops is a NUL-terminated name;
        // pool_init copies the private struct into the pool.
        unsafe {
            if dpdk_sys::rte_mempool_set_ops_byname(mp, ops, std::ptr::null_mut()) != 0 {
                return Err(err("rte_mempool_set_ops_byname"));
            }
            dpdk_sys::rte_pktmbuf_pool_init(
                mp,
                (&mut private as *mut dpdk_sys::rte_pktmbuf_pool_private).cast(),
            );
        }
        let len = size as usize * page;
        // SAFETY: cname is valid for the call; the memzone is page-aligned
        // and exactly `size` pages long.
        let mz = unsafe {
            dpdk_sys::rte_memzone_reserve_aligned(
                cname.as_ptr(),
                len,
                SOCKET_ID_ANY,
                0,
                page as u32,
            )
        };
        if mz.is_null() {
            return Err(err(&format!(
                "reserving {len} bytes for {size} one-page mbufs (with --no-huge raise EAL -m)"
            )));
        }
        // SAFETY: mz is a live memzone of `len` bytes which the pool now
        // owns (free_memzone frees it with the pool); then each object is
        // initialised as an mbuf, as rte_pktmbuf_pool_create does.
        let populated = unsafe {
            let addr = (*mz).__bindgen_anon_1.addr.cast();
            let n = dpdk_sys::rte_mempool_populate_virt(
                mp,
                addr,
                len,
                page,
                Some(free_memzone),
                mz as *mut _,
            );
            // On failure the memzone stays reserved: populate may already
            // have freed it with the chunks it added, and start-up ends.
            dpdk_sys::rte_mempool_obj_iter(
                mp,
                Some(dpdk_sys::rte_pktmbuf_init),
                std::ptr::null_mut(),
            );
            n
        };
        if populated != size as i32 {
            return Err(DpdkError::new(
                format!("mempool {name}: populated {populated} of {size} mbufs"),
                12,
            ));
        }
        Ok(pool)
    }

    /// How many mbufs lie, even in part, outside the UMEM DPDK 22.11's
    /// af_xdp driver registers for this pool: from the page of the pool's
    /// first memory chunk, `populated_size` × object size (plus that
    /// chunk's offset in its page) long. 0 for a pool fit for af_xdp.
    pub fn umem_misses(&self) -> u32 {
        let mp = self.as_ptr();
        // SAFETY: mp is a live pool; its first memory chunk and sizes are
        // read as the driver reads them; the walk only reads addresses.
        unsafe {
            let first = (*mp).mem_list.stqh_first;
            if first.is_null() {
                return 0;
            }
            let frame = (*mp).header_size + (*mp).elt_size + (*mp).trailer_size;
            let chunk = (*first).addr as usize;
            let start = chunk & !(page_size() - 1);
            let len = (*mp).populated_size as usize * frame as usize + (chunk - start);
            let mut walk = Walk {
                start,
                end: start + len,
                frame: frame as usize,
                misses: 0,
            };
            let opaque = (&mut walk as *mut Walk).cast();
            dpdk_sys::rte_mempool_obj_iter(mp, Some(check_object), opaque);
            walk.misses
        }
    }
}
