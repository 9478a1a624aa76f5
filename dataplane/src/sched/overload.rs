//! Connection thresholds per backend (IPVS `u_threshold` / `l_threshold`).
//!
//! A backend whose connections (active + inactive, as IPVS's
//! `ip_vs_dest_totalconns`) reach its upper threshold is overloaded and
//! gets no new flow until they fall below its lower threshold (IPVS's
//! `IP_VS_DEST_F_OVERLOAD`, set in `ip_vs_bind_dest` and cleared in
//! `ip_vs_unbind_dest`). A lower threshold of 0 means 3/4 of the upper, as
//! in IPVS; an upper threshold of 0 means no limit.
//!
//! Connection counts are per worker ([`ConnCounts`]), and summing them
//! across workers on every new flow would be a shared write per packet.
//! So each worker applies its share of the thresholds to its own count:
//! `ceil(threshold / workers)`. With one worker this is IPVS exactly; with
//! W workers the backend's total can pass the upper threshold by at most
//! W - 1, and a backend can be overloaded on one worker (whose clients
//! happen to be busier) while another still sends it flows. RSS spreads
//! clients evenly, so the shares fill together in practice.
//!
//! An overloaded backend is made to look like weight 0 to the scheduler
//! (the per-worker copy's weight is set to 0 and restored on recovery), so
//! every algorithm skips it the way it skips a drained backend; the hash
//! schedulers (sh, mh, dh), whose tables are built ahead, give no backend
//! for a flow that hashes to it (as IPVS does without its fallback flag).

use super::Backend;
use crate::flow::ConnCounts;

/// One backend's thresholds; `upper` 0: no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Thresholds {
    pub upper: u32,
    /// Already resolved: never 0 when `upper` is not.
    pub lower: u32,
}

impl Thresholds {
    /// The thresholds as configured: a `lower` of 0 is 3/4 of `upper`
    /// (rounded up, so "below lower" is IPVS's `conns * 4 < upper * 3`).
    pub fn new(upper: u32, lower: u32) -> Self {
        let lower = match (upper, lower) {
            (0, _) => 0,
            (u, 0) => u32::try_from((u64::from(u) * 3).div_ceil(4)).unwrap_or(u),
            (_, l) => l,
        };
        Thresholds { upper, lower }
    }

    /// One worker's share of `workers`, rounded up (never 0 when set).
    pub fn per_worker(self, workers: usize) -> Self {
        let w = u32::try_from(workers.max(1)).unwrap_or(u32::MAX);
        Thresholds {
            upper: self.upper.div_ceil(w),
            lower: self.lower.div_ceil(w),
        }
    }
}

/// The thresholds of a scheduler's backends and which are overloaded now,
/// indexed as the scheduler's (sorted) backends.
#[derive(Clone, Debug)]
pub struct Overload {
    /// As configured (the whole appliance's).
    limits: Vec<Thresholds>,
    /// This worker's share of `limits`.
    share: Vec<Thresholds>,
    /// Configured weights, restored when a backend recovers.
    weights: Vec<u32>,
    over: Vec<bool>,
}

impl Overload {
    /// For `backends` with `limits` (same order); none when no backend has
    /// an upper threshold.
    pub fn new(backends: &[Backend], limits: Vec<Thresholds>) -> Option<Self> {
        if limits.iter().all(|t| t.upper == 0) {
            return None;
        }
        Some(Overload {
            share: limits.clone(),
            weights: backends.iter().map(|b| b.weight).collect(),
            over: vec![false; backends.len()],
            limits,
        })
    }

    /// Splits the thresholds among `workers` (see the module comment).
    pub fn split_among(&mut self, workers: usize) {
        for (s, l) in self.share.iter_mut().zip(&self.limits) {
            *s = l.per_worker(workers);
        }
    }

    /// This worker's thresholds, by backend index.
    pub fn shares(&self) -> &[Thresholds] {
        &self.share
    }

    /// Updates which backends are overloaded from this worker's counts,
    /// and their weights in `backends` (0 while overloaded).
    pub fn refresh(&mut self, backends: &mut [Backend], conns: &ConnCounts) {
        for (i, b) in backends.iter_mut().enumerate() {
            let (Some(t), Some(over)) = (self.share.get(i), self.over.get_mut(i)) else {
                continue;
            };
            if t.upper == 0 {
                continue;
            }
            let c = conns.get(b.id);
            let total = u64::from(c.active) + u64::from(c.inactive);
            if !*over && total >= u64::from(t.upper) {
                *over = true;
                b.weight = 0;
            } else if *over && total < u64::from(t.lower) {
                *over = false;
                b.weight = self.weights.get(i).copied().unwrap_or(0);
            }
        }
    }

    /// Whether any backend is overloaded now.
    pub fn any(&self) -> bool {
        self.over.iter().any(|&o| o)
    }

    /// The configured weight of backend index `i`.
    pub fn weight(&self, i: usize) -> Option<u32> {
        self.weights.get(i).copied()
    }
}
