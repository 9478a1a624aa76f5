//! Hints to the CPU and the kernel that the per-worker tables need on the
//! fast path. They live in this layer because each needs `unsafe`, which
//! only this layer may use, but unlike the rest of it they need no DPDK:
//! this module is compiled with or without the `dpdk` feature, so unit
//! tests and benchmarks run the same session table the appliance runs.

use std::mem::MaybeUninit;

/// Starts loading `r`'s cache line into every cache level without waiting
/// for it (`PREFETCHT0`, DPDK's `rte_prefetch0`, as inline Rust: bindgen's
/// wrapper of the `static inline` C function is an out-of-line call). The
/// session table calls it for a whole burst before handling the first
/// packet, so the misses overlap. On other architectures it does nothing.
#[inline(always)]
pub fn prefetch_read<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint: it changes no architectural state and
    // cannot fault, whatever the address; `r` is a valid reference anyway.
    // The SSE feature `_mm_prefetch` requires is part of the x86_64 baseline.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((r as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

/// Asks the kernel to back `region` with transparent huge pages
/// (`madvise(MADV_HUGEPAGE)` on the 4 KiB pages wholly inside it), before
/// it is first written. DPDK keeps its own tables in hugepages for the same
/// reason: a session table spread over millions of 4 KiB pages costs a TLB
/// miss on almost every lookup. Returns false where the kernel refuses
/// (THP disabled or not built in) or is not Linux; the table then works as
/// before.
#[cfg(target_os = "linux")]
pub fn advise_huge_pages<T>(region: &mut [MaybeUninit<T>]) -> bool {
    const PAGE: usize = 4096;
    let start = region.as_mut_ptr() as usize;
    let end = start + std::mem::size_of_val(region);
    let first = start.next_multiple_of(PAGE);
    let last = end - end % PAGE;
    if last <= first {
        return false;
    }
    // SAFETY: [first, last) lies inside `region`, which we borrow mutably,
    // and both ends are page-aligned as madvise requires. MADV_HUGEPAGE
    // changes how the kernel backs the pages, never their contents, so no
    // Rust value can observe it.
    let rc = unsafe {
        libc::madvise(
            first as *mut libc::c_void,
            last - first,
            libc::MADV_HUGEPAGE,
        )
    };
    rc == 0
}

/// Elsewhere there is no `MADV_HUGEPAGE` to ask for.
#[cfg(not(target_os = "linux"))]
pub fn advise_huge_pages<T>(_region: &mut [MaybeUninit<T>]) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advised_memory_keeps_what_is_written_to_it() {
        // 8 MiB: several 2 MiB-aligned stretches whatever the allocator gives.
        let n = 1 << 20;
        let mut v: Vec<u64> = Vec::with_capacity(n);
        let advised = advise_huge_pages(v.spare_capacity_mut());
        // The kernel takes the advice unless transparent huge pages are off
        // (or absent); either way the memory must behave as plain memory.
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        if thp.contains("[always]") || thp.contains("[madvise]") {
            assert!(advised, "madvise(MADV_HUGEPAGE) refused with THP {thp:?}");
        }
        v.extend(0..n as u64);
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64));
    }

    #[test]
    fn prefetching_reads_nothing_and_changes_nothing() {
        // A prefetch has no observable effect but time; it must accept any
        // reference (an element deep in a table, a zero-sized value, one
        // past the last page an allocation touched) and leave it as it was.
        let table: Vec<[u64; 8]> = (0..1024).map(|i| [i; 8]).collect();
        for slot in table.iter().step_by(97) {
            prefetch_read(slot);
        }
        prefetch_read(&());
        prefetch_read(&table[table.len() - 1][7]);
        assert!(table.iter().enumerate().all(|(i, s)| s == &[i as u64; 8]));
    }

    #[test]
    fn a_region_smaller_than_a_page_is_left_alone() {
        let mut small = [MaybeUninit::<u8>::uninit(); 4095];
        assert!(!advise_huge_pages(&mut small));
        assert!(!advise_huge_pages::<u64>(&mut []));
    }
}
