//! The tables the workers should run, published by the control thread and
//! picked up by each worker between polls (RCU-style: the old tables stay
//! alive until the last worker lets go of them).
//!
//! A worker's check costs one atomic load per poll (`generation`); only when
//! it changed does the worker load the tables themselves.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::tables::LbTables;

/// Tables with the generation they were published as.
struct Published {
    tables: Arc<LbTables>,
    generation: u64,
}

/// The current tables and their generation, published by the control thread and picked up by workers
/// between polls (RCU-style).
pub struct LiveTables {
    current: ArcSwap<Published>,
    /// Equal to `current`'s generation once a publication is complete; what
    /// workers poll.
    generation: AtomicU64,
    /// Serialises publishers, so generations go out in order.
    publishing: Mutex<()>,
}

impl LiveTables {
    /// `tables` as generation 1.
    pub fn new(tables: Arc<LbTables>) -> LiveTables {
        LiveTables {
            current: ArcSwap::from_pointee(Published {
                tables,
                generation: 1,
            }),
            generation: AtomicU64::new(1),
            publishing: Mutex::new(()),
        }
    }

    /// Makes `tables` current; returns its generation.
    pub fn publish(&self, tables: Arc<LbTables>) -> u64 {
        // A publisher that panicked left nothing half-done: the swap and
        // the counter are single stores.
        let _one_at_a_time = self
            .publishing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let generation = self.generation.load(Ordering::Relaxed) + 1;
        self.current
            .store(Arc::new(Published { tables, generation }));
        // Release: a worker that sees the new number finds the new tables.
        self.generation.store(generation, Ordering::Release);
        generation
    }

    /// The generation of the current tables.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn current(&self) -> Arc<LbTables> {
        Arc::clone(&self.current.load().tables)
    }

    /// The current tables and their generation, read together.
    pub fn snapshot(&self) -> (Arc<LbTables>, u64) {
        let p = self.current.load();
        (Arc::clone(&p.tables), p.generation)
    }
}

impl std::fmt::Debug for LiveTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveTables")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::LbConfig;

    fn tables() -> Arc<LbTables> {
        let cfg = LbConfig {
            kernel: Vec::new(),
            garp: Default::default(),
            synproxy: Default::default(),
            standby: Vec::new(),
            ports: Vec::new(),
            interfaces: Vec::new(),
            routes: Vec::new(),
            routes6: Vec::new(),
            neighbours6: Vec::new(),
            neighbours: Vec::new(),
            services: Vec::new(),
            snat: Vec::new(),
            sessions: Default::default(),
        };
        Arc::new(LbTables::build(&cfg).expect("builds"))
    }

    #[test]
    fn each_publication_is_the_next_generation() {
        let first = tables();
        let live = LiveTables::new(Arc::clone(&first));
        assert_eq!(live.generation(), 1);
        assert!(Arc::ptr_eq(&live.current(), &first));
        let second = tables();
        assert_eq!(live.publish(Arc::clone(&second)), 2);
        assert_eq!(live.generation(), 2);
        let (now, generation) = live.snapshot();
        assert!(Arc::ptr_eq(&now, &second));
        assert_eq!(generation, 2);
    }

    #[test]
    fn a_reader_never_sees_a_generation_without_its_tables() {
        let live = LiveTables::new(tables());
        let published: Vec<Arc<LbTables>> = (0..200).map(|_| tables()).collect();
        std::thread::scope(|s| {
            s.spawn(|| {
                for t in &published {
                    live.publish(Arc::clone(t));
                }
            });
            let mut last = 1;
            while last < 201 {
                let seen = live.generation();
                assert!(seen >= last, "generations only go up");
                let (t, generation) = live.snapshot();
                // The tables read after a generation are that one's or newer.
                assert!(generation >= seen);
                if generation >= 2 {
                    let expected = &published[(generation - 2) as usize];
                    assert!(Arc::ptr_eq(&t, expected));
                }
                last = seen;
            }
        });
    }
}
