//! Following new tables (`FlowState::adopt`: counts resized, schedulers
//! cloned, flushed services' and backends' sessions ended, pools refitted)
//! and the counts the control side reads (ids referred to, live sessions),
//! all from counts kept as sessions come and go, no table walk except a
//! flush's.

use super::nat64::held_port64;
use super::{BackendSessions, FlowState, SessionCounts};
use crate::flow::pools::held_port;
use crate::flow::{Origin, ProtoState};
use crate::tables::{IdRefs, LbTables, Reborn};
use ferrolb_types::Histogram;

impl FlowState {
    /// Follows new tables (`old` is what the worker ran): sizes the counts
    /// to the new ids and resets those of ids `new` gave to another entry
    /// (`reborn`: no session of this worker refers to them, see
    /// `tables/reclaim.rs`), takes fresh clones of the schedulers (rr/wrr
    /// cursors restart), ends the sessions of services and backends `new`
    /// marks flushed and `old` did not (at `now_ms`, for their lifetimes),
    /// and refits the port pools. Returns the sessions (not templates) the
    /// flush ended.
    pub fn adopt(&mut self, old: &LbTables, new: &LbTables, reborn: &Reborn, now_ms: u64) -> u64 {
        let (services, rules) = (new.services.len(), new.snat.len());
        self.conns.fit(new.backends.len(), &reborn.backends);
        self.live.fit(services, rules, reborn);
        self.pools.fit(services, rules, reborn);
        self.sessions.set_timeouts(new.sessions.timeouts);
        self.sessions6.set_timeouts(new.sessions.timeouts);
        let flushed = self.flush(old, new, now_ms);
        let workers = self.pools.maker().worker_count;
        self.schedulers = new
            .services
            .iter()
            .map(|s| s.scheduler.for_worker(workers))
            .collect();
        self.limits.fit(
            |s| crate::flow::limits::of_service(new, s),
            new.services.len(),
            &reborn.services,
        );
        let live = &self.live;
        self.pools.refit(
            new,
            |origin| live.of(origin),
            self.sessions
                .iter()
                .filter_map(|(_, s)| held_port(s.origin(), s.holds_local_port(), s.outbound()))
                .chain(self.sessions6.iter().filter_map(|(_, s)| held_port64(s))),
        );
        self.pools.refit6(
            new,
            |origin| live.of(origin),
            self.sessions6.iter().map(|(_, s)| s),
        );
        flushed
    }

    /// Ends the sessions of services and backends that `new` marks flushed
    /// and `old` did not (entries `old` did not have yet have no sessions).
    fn flush(&mut self, old: &LbTables, new: &LbTables, now_ms: u64) -> u64 {
        let newly = |now_flushed: bool, before: Option<bool>| now_flushed && before != Some(true);
        let services: Vec<bool> = new
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let before = old
                    .services
                    .get(i)
                    .filter(|o| o.stamp.born == s.stamp.born)
                    .map(|o| o.state.is_flushed());
                newly(s.state.is_flushed(), before)
            })
            .collect();
        let backends: Vec<bool> = new
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let before = old
                    .backends
                    .get(i)
                    .filter(|o| o.stamp.born == b.stamp.born)
                    .map(|o| o.state.is_flushed());
                newly(b.state.is_flushed(), before)
            })
            .collect();
        if !services.contains(&true) && !backends.contains(&true) {
            return 0;
        }
        let flagged = |list: &[bool], id: u32| list.get(id as usize).copied().unwrap_or(false);
        let doomed = |origin: Origin, backend: u32| match origin {
            Origin::Service(id) => flagged(&services, id) || flagged(&backends, backend),
            Origin::Snat(_) => false,
        };
        let mut flushed = 0u64;
        let (sessions, mut held) = self.table_and_held();
        sessions.flush(
            now_ms,
            |s| doomed(s.origin(), s.backend),
            |s, lifetime| {
                flushed += u64::from(s.state != ProtoState::Template);
                held.release(s, lifetime);
            },
        );
        let (sessions6, mut held) = self.table6_and_held();
        sessions6.flush(
            now_ms,
            |s| doomed(s.origin(), s.backend),
            |s, lifetime| {
                flushed += u64::from(s.state != ProtoState::Template);
                held.release6(s, lifetime);
            },
        );
        flushed
    }

    /// What this worker's sessions and templates refer to, by id, for the
    /// builder to free ids (`LbTables::build_next_reclaiming`); `epoch` is
    /// that of the tables it runs. Kept counts: no table walk.
    pub fn id_refs(&self, epoch: u64) -> IdRefs {
        IdRefs {
            epoch,
            services: self
                .live
                .services
                .iter()
                .zip(&self.live.templates)
                .map(|(n, t)| n + t)
                .collect(),
            backends: self
                .conns
                .as_slice()
                .iter()
                .map(|c| u64::from(c.active) + u64::from(c.inactive))
                .collect(),
            snat: self.live.snat.clone(),
        }
    }

    /// How long each service's sessions lived, by service id (ms).
    pub fn lifetimes(&self) -> &[Histogram] {
        &self.live.lifetimes
    }

    /// Empties service `id`'s lifetimes, or every service's (`ipvsadm -Z`).
    pub fn zero_lifetimes(&mut self, id: Option<u32>) {
        let lifetimes = &mut self.live.lifetimes;
        match id {
            Some(i) => lifetimes
                .get_mut(i as usize)
                .into_iter()
                .for_each(Histogram::clear),
            None => lifetimes.iter_mut().for_each(Histogram::clear),
        }
    }

    /// Live sessions by service, backend (active and inactive) and SNAT
    /// rule id, from counts kept as sessions come and go: no table walk.
    pub fn session_counts(&self) -> SessionCounts {
        SessionCounts {
            services: self.live.services.clone(),
            backends: self
                .conns
                .as_slice()
                .iter()
                .map(|c| BackendSessions {
                    active: u64::from(c.active),
                    inactive: u64::from(c.inactive),
                })
                .collect(),
            snat: self.live.snat.clone(),
        }
    }
}
