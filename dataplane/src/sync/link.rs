//! The queues between each worker and the sync thread: one bounded
//! single-producer single-consumer ring ([`rtrb`]) each way per worker, so
//! a worker never waits, locks or makes a syscall for sync. A full ring
//! refuses the record and the pusher counts it.
//!
//! A full dump (a peer joined, or the periodic refresh) is asked for by
//! raising a generation number the workers read between polls; each
//! worker walks its table a slice per millisecond and then stores the
//! generation it finished.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rtrb::{Consumer, Producer, RingBuffer};

use super::SyncRecord;

/// Records each worker's outbound ring holds.
pub const OUT_CAPACITY: usize = 16 * 1024;
/// Records each worker's inbound ring holds.
pub const IN_CAPACITY: usize = 16 * 1024;

/// Dump requests and completions, shared by the sync thread and a worker.
#[derive(Debug, Default)]
pub struct DumpFlags {
    requested: AtomicU64,
    done: AtomicU64,
}

/// A worker's ends: records out, records in, dump requests.
pub struct SyncLink {
    out: Producer<SyncRecord>,
    inbound: Consumer<SyncRecord>,
    dump: Arc<DumpFlags>,
}

impl std::fmt::Debug for SyncLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncLink")
    }
}

impl SyncLink {
    /// Queues a record for the peers; false when the ring is full.
    #[inline]
    pub fn push(&mut self, r: impl Into<SyncRecord>) -> bool {
        self.out.push(r.into()).is_ok()
    }

    /// The next record a peer sent for this worker's flows.
    #[inline]
    pub fn pop(&mut self) -> Option<SyncRecord> {
        self.inbound.pop().ok()
    }

    /// Records waiting for this worker.
    pub fn waiting(&self) -> usize {
        self.inbound.slots()
    }

    /// The latest dump generation asked for.
    #[inline]
    pub fn dump_requested(&self) -> u64 {
        self.dump.requested.load(Ordering::Acquire)
    }

    /// Records that dump `generation` is finished here.
    pub fn dump_done(&self, generation: u64) {
        self.dump.done.store(generation, Ordering::Release);
    }
}

/// The sync thread's ends of one worker's link.
pub struct SyncPort {
    out: Consumer<SyncRecord>,
    inbound: Producer<SyncRecord>,
    dump: Arc<DumpFlags>,
}

impl SyncPort {
    /// The next record the worker queued for the peers.
    #[inline]
    pub fn take(&mut self) -> Option<SyncRecord> {
        self.out.pop().ok()
    }

    /// Hands a peer's record to the worker; false when its ring is full.
    #[inline]
    pub fn give(&mut self, r: impl Into<SyncRecord>) -> bool {
        self.inbound.push(r.into()).is_ok()
    }

    /// Asks the worker for a full dump.
    pub fn request_dump(&self) {
        self.dump.requested.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether the worker finished every dump asked for so far.
    pub fn dump_finished(&self) -> bool {
        self.dump.done.load(Ordering::Acquire) >= self.dump.requested.load(Ordering::Acquire)
    }
}

/// The links of `workers` workers: the sync thread's ends and the
/// workers' (element *i* to worker *i*).
pub fn links(workers: usize, out_cap: usize, in_cap: usize) -> (Vec<SyncPort>, Vec<SyncLink>) {
    (0..workers)
        .map(|_| {
            let (out_p, out_c) = RingBuffer::new(out_cap);
            let (in_p, in_c) = RingBuffer::new(in_cap);
            let dump = Arc::new(DumpFlags::default());
            (
                SyncPort {
                    out: out_c,
                    inbound: in_p,
                    dump: Arc::clone(&dump),
                },
                SyncLink {
                    out: out_p,
                    inbound: in_c,
                    dump,
                },
            )
        })
        .unzip()
}
