//! Freeing the ids of retired entries that no session refers to any more,
//! and handing freed ids to new entries, so that tables and every per-id
//! array in the workers stay as long as the entries that are live or
//! draining, however many have come and gone.
//!
//! # Why reusing an id is safe
//!
//! Workers own their sessions and publish nothing per packet. Instead, when
//! the control thread is about to build new tables it asks every worker for
//! an [`IdRefs`] report: the epoch of the tables it runs and, by id, how
//! many of its sessions (persistence templates included) refer to each
//! service, backend and SNAT rule. An entry that left the config at epoch
//! `R` (its [`IdStamp::retired`]) is freed only when **every** worker
//! answered with an epoch `>= R` and a count of 0 for it:
//!
//! - from epoch `R` on the entry is retired in every table a worker can
//!   run: no service index, scheduler or SNAT match leads to it, so no
//!   worker can open a session on it again; a count of 0 taken at or after
//!   `R` therefore stays 0 (retired entries are never re-activated: a
//!   re-added service or backend gets an id of its own);
//! - a worker still running older tables when the freed id is handed to a
//!   new entry has no session on it and cannot make one (it sees the old,
//!   retired entry), so a packet in flight there never touches the new
//!   entry's state;
//! - when that worker adopts the tables with the new entry, the id's
//!   [`IdStamp::born`] differs from the one it ran, and it resets all it
//!   keeps by that id (counters, connection and live counts, templates, port
//!   pool) before its next packet (`FlowState::adopt`, `Pipeline::adopt`).
//!
//! A worker that does not answer blocks every free of that build (its
//! report is missing), and a worker that has not yet adopted the epoch that
//! retired an entry blocks that entry: both only delay reuse. A freed id
//! stays a placeholder ([`Lifecycle::Free`]) until a new entry takes it;
//! placeholders at the end of a list are dropped, so the lists shrink.

use std::net::Ipv4Addr;

use super::model::{BackendInfo, IdRefs, IdStamp, Lifecycle, Service, SnatRule};
use crate::sched::{Scheduler, SchedulerKind};

/// Whether a retired entry (retired at epoch `retired`) has no session in
/// any worker, by `reports` (one per worker; none: nothing is known).
fn unreferenced(reports: &[IdRefs], retired: u64, count: impl Fn(&IdRefs) -> u64) -> bool {
    !reports.is_empty()
        && retired > 0
        && reports.iter().all(|r| r.epoch >= retired && count(r) == 0)
}

fn at(list: &[u64], id: usize) -> u64 {
    list.get(id).copied().unwrap_or(0)
}

/// Marks free every retired entry no worker refers to (see the module
/// comment), leaving placeholders that hold nothing. A service is freed
/// only with all of its backends, so a backend never names a freed or
/// reused service.
pub(super) fn free_unreferenced(
    services: &mut [Service],
    backends: &mut [BackendInfo],
    snat: &mut [SnatRule],
    reports: &[IdRefs],
) -> Result<(), String> {
    let gone = |state: Lifecycle| state.is_retired() && !state.is_free();
    for (id, b) in backends.iter_mut().enumerate() {
        if gone(b.state) && unreferenced(reports, b.stamp.retired, |r| at(&r.backends, id)) {
            *b = BackendInfo {
                service: u32::MAX,
                addr: Ipv4Addr::UNSPECIFIED.into(),
                port: 0,
                state: Lifecycle::Free,
                stamp: b.stamp,
            };
        }
    }
    let mut held = vec![false; services.len()];
    for b in backends.iter().filter(|b| !b.state.is_free()) {
        if let Some(h) = held.get_mut(b.service as usize) {
            *h = true;
        }
    }
    for (id, svc) in services.iter_mut().enumerate() {
        let free = gone(svc.state)
            && !held.get(id).copied().unwrap_or(true)
            && unreferenced(reports, svc.stamp.retired, |r| at(&r.services, id));
        if free {
            svc.state = Lifecycle::Free;
            svc.backend_ids = Vec::new();
            svc.spec.name = None;
            svc.spec.backends = Vec::new();
            svc.spec.local_addrs = Vec::new();
            svc.spec.local_addrs6 = Vec::new();
            svc.spec.also_listen = Vec::new();
            svc.spec.timeouts = None;
            svc.spec.persistence = None;
            if !svc.scheduler.backends().is_empty() {
                svc.scheduler = Scheduler::new(SchedulerKind::RoundRobin, Vec::new())
                    .map_err(|e| format!("freeing a service id: {e:?}"))?;
            }
        }
    }
    for (id, rule) in snat.iter_mut().enumerate() {
        if gone(rule.state) && unreferenced(reports, rule.stamp.retired, |r| at(&r.snat, id)) {
            rule.state = Lifecycle::Free;
            rule.spec.addrs = Vec::new();
        }
    }
    Ok(())
}

/// Ids a new entry may take: the free placeholders, lowest first.
#[derive(Debug, Default)]
pub(super) struct FreeIds(Vec<u32>);

impl FreeIds {
    /// The free ids among `states`.
    pub(super) fn of(
        states: impl DoubleEndedIterator<Item = Lifecycle> + ExactSizeIterator,
    ) -> Self {
        let n = states.len();
        // Highest first, so `pop` gives the lowest.
        FreeIds(
            states
                .rev()
                .enumerate()
                .filter(|(_, s)| s.is_free())
                .map(|(i, _)| (n - 1 - i) as u32)
                .collect(),
        )
    }

    /// The id the next [`place`](Self::place) into a list of `len` gives.
    pub(super) fn peek(&self, len: usize) -> u32 {
        self.0.last().copied().unwrap_or(len as u32)
    }

    /// Puts `entry` in a free slot of `list` (the lowest), or at its end.
    /// Returns its id.
    pub(super) fn place<T>(&mut self, list: &mut Vec<T>, entry: T) -> u32 {
        match self.0.pop() {
            Some(id) => match list.get_mut(id as usize) {
                Some(slot) => {
                    *slot = entry;
                    id
                }
                None => {
                    list.push(entry);
                    list.len() as u32 - 1
                }
            },
            None => {
                list.push(entry);
                list.len() as u32 - 1
            }
        }
    }
}

/// Sets the stamps of a build at `epoch`: an entry retired by it (or by a
/// flush) records `epoch` as its retirement; an active one has none.
pub(super) fn stamp_retirements(
    services: &mut [Service],
    backends: &mut [BackendInfo],
    snat: &mut [SnatRule],
    epoch: u64,
) {
    let stamp = |state: Lifecycle, stamp: &mut IdStamp| {
        if !state.is_retired() {
            stamp.retired = 0;
        } else if stamp.retired == 0 {
            stamp.retired = epoch;
        }
    };
    services
        .iter_mut()
        .for_each(|s| stamp(s.state, &mut s.stamp));
    backends
        .iter_mut()
        .for_each(|b| stamp(b.state, &mut b.stamp));
    snat.iter_mut().for_each(|r| stamp(r.state, &mut r.stamp));
}

/// Drops the placeholders at the end of a list.
pub(super) fn trim<T>(list: &mut Vec<T>, state: impl Fn(&T) -> Lifecycle) {
    while list.last().is_some_and(|e| state(e).is_free()) {
        list.pop();
    }
}
