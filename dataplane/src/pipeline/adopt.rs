//! Switching a running pipeline to new tables (`Pipeline::adopt`): the
//! flow state keeps every session and follows the new ids
//! (`FlowState::adopt`), the egress forgets its resolved hops, the
//! counters follow the ids (reused ids restart from 0). Runs between polls
//! and may allocate.

use std::sync::Arc;

use super::Pipeline;
use crate::buf::PacketBuf;
use crate::tables::{IdRefs, LbTables};

impl<P: PacketBuf> Pipeline<P> {
    /// The tables this pipeline runs.
    pub fn tables(&self) -> &Arc<LbTables> {
        &self.tables
    }

    /// Switches to `tables` (built by `build_next` from the tables this pipeline runs, possibly several
    /// generations later), keeping every session. Called between polls.
    ///
    /// Counters and connection counts keep their values by id and follow
    /// the new ids (an id freed and given to a new entry restarts from 0:
    /// `LbTables::reborn_since`); schedulers are fresh clones (rr/wrr cursors restart);
    /// port pools are kept unless their addresses or range changed (a
    /// rebuilt pool keeps the ports live sessions hold); sessions of newly
    /// flushed services and backends end now (`sessions_flushed`). A flush,
    /// or a port range change of an entry with live sessions, walks the
    /// session table once; nothing else here does.
    ///
    /// `now_ms` is the pipeline's clock: the flushed sessions' lifetimes
    /// end at it, and the gratuitous ARP plan starts from it.
    pub fn adopt(&mut self, tables: Arc<LbTables>, now_ms: u64) {
        if Arc::ptr_eq(&tables, &self.tables) {
            return;
        }
        let old = std::mem::replace(&mut self.tables, tables);
        let new = &*self.tables;
        let path = &mut self.path;
        path.egress.adopt(new);
        // Ids freed and given to new entries since `old`: no session here
        // refers to them (the builder checked every worker's `id_refs` at
        // or after the epoch that retired them), so their numbers restart.
        path.kernel.adopt(new);
        if path.flow.worker().0 == super::KERNEL_WORKER {
            path.garp.add(super::garp::plan(new, Some(&old)), now_ms);
        }
        let reborn = new.reborn_since(&old);
        path.counters.fit(
            new.services.len(),
            new.backends.len(),
            new.snat.len(),
            &reborn,
        );
        path.counters.events.sessions_flushed += path.flow.adopt(&old, new, &reborn, now_ms);
        path.synproxy.fit(
            new,
            (
                path.flow.sessions().capacity(),
                path.flow.sessions6().capacity(),
            ),
        );
        path.shifts6.fit(new, path.flow.sessions6().capacity());
    }

    /// What this worker's sessions refer to, by id, with the epoch of the
    /// tables it runs (see `LbTables::build_next_reclaiming`).
    pub fn id_refs(&self) -> IdRefs {
        self.path.flow.id_refs(self.tables.epoch)
    }
}
