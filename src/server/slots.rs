//! The control socket's client slots: at most `max_clients` connections
//! are served at once, and each slot knows since when its client has been
//! idle (has not had a complete request answered or in hand).
//!
//! A client that holds a slot without asking anything must not lock others
//! out, so two rules free slots:
//! - a client idle for `idle_timeout` is closed by its own thread (a request
//!   trickled in byte by byte counts as idle: only a complete line is
//!   activity);
//! - when every slot is taken, the client idle longest is closed to make room
//!   for the newcomer, if it has been idle for at least [`EVICT_AFTER`].
//!   A client between two quick requests is never taken; `ferrolbctl`
//!   reconnects if it is (see `control::client`).
//!
//! Only peers whose credentials pass get a slot: the server checks them
//! before calling [`Slots::admit`].

use std::collections::HashMap;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a client must have been idle before a newcomer may take its slot.
pub const EVICT_AFTER: Duration = Duration::from_secs(1);

/// One served client, as the table sees it.
struct Slot {
    /// A handle on the client's socket, to shut it down when evicted.
    stream: UnixStream,
    /// Since when it has been idle; `None` while a request is handled.
    idle_since: Option<Instant>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    open: HashMap<u64, Slot>,
}

/// Every client slot of one socket.
pub struct Slots {
    max: usize,
    table: Mutex<Table>,
}

/// Why a client got no slot.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

impl Slots {
    pub fn new(max: usize) -> Slots {
        Slots {
            max,
            table: Mutex::default(),
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Clients holding a slot now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().open.len()
    }

    /// A slot for `stream`: a free one, or the slot of the client idle
    /// longest (at least [`EVICT_AFTER`]), whose connection is shut down.
    pub fn admit(&self, stream: &UnixStream) -> Result<SlotId<'_>, Full> {
        let handle = stream.try_clone().map_err(|_| Full)?;
        let mut table = self.lock();
        if table.open.len() >= self.max {
            let now = Instant::now();
            let oldest = table
                .open
                .iter()
                .filter_map(|(id, s)| s.idle_since.map(|t| (*id, t)))
                .filter(|(_, t)| now.duration_since(*t) >= EVICT_AFTER)
                .min_by_key(|(_, t)| *t)
                .map(|(id, _)| id);
            let evicted = oldest.and_then(|id| table.open.remove(&id)).ok_or(Full)?;
            // Its thread sees end of file and ends; it finds its slot gone.
            let _ = evicted.stream.shutdown(Shutdown::Both);
        }
        let id = table.next_id;
        table.next_id += 1;
        table.open.insert(
            id,
            Slot {
                stream: handle,
                idle_since: Some(Instant::now()),
            },
        );
        Ok(SlotId { slots: self, id })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A held slot; dropping it frees the slot.
pub struct SlotId<'a> {
    slots: &'a Slots,
    id: u64,
}

impl SlotId<'_> {
    /// The client has a complete request in hand: it is not idle and cannot
    /// be evicted until [`idle`](Self::idle).
    pub fn busy(&self) {
        if let Some(s) = self.slots.lock().open.get_mut(&self.id) {
            s.idle_since = None;
        }
    }

    /// The request is answered: idle from now.
    pub fn idle(&self) {
        if let Some(s) = self.slots.lock().open.get_mut(&self.id) {
            s.idle_since = Some(Instant::now());
        }
    }
}

impl Drop for SlotId<'_> {
    fn drop(&mut self) {
        self.slots.lock().open.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (UnixStream, UnixStream) {
        UnixStream::pair().expect("socketpair")
    }

    #[test]
    fn a_full_table_refuses_until_a_slot_is_old_enough_to_take() {
        let slots = Slots::new(2);
        let (a, mut a_peer) = pair();
        let (b, _b_peer) = pair();
        let first = slots.admit(&a).expect("free slot");
        let _second = slots.admit(&b).expect("free slot");
        let (c, _c_peer) = pair();
        // Nobody has been idle long enough yet.
        assert_eq!(slots.admit(&c).err(), Some(Full));
        // The first client goes idle long ago: it is the one taken.
        slots.lock().open.get_mut(&first.id).unwrap().idle_since =
            Some(Instant::now() - EVICT_AFTER * 3);
        let _third = slots.admit(&c).expect("evicts the idle one");
        assert_eq!(slots.len(), 2);
        // The evicted client's connection is shut down: its peer reads EOF.
        use std::io::Read;
        let mut buf = [0u8; 1];
        assert_eq!(a_peer.read(&mut buf).expect("read"), 0);
        // Its guard dropping later frees nothing else.
        drop(first);
        assert_eq!(slots.len(), 2);
    }

    #[test]
    fn a_busy_client_is_never_taken() {
        let slots = Slots::new(1);
        let (a, _a_peer) = pair();
        let first = slots.admit(&a).expect("free slot");
        first.busy();
        let (b, _b_peer) = pair();
        assert_eq!(slots.admit(&b).err(), Some(Full));
        drop(first);
        assert!(slots.admit(&b).is_ok(), "freed by the drop");
    }
}
