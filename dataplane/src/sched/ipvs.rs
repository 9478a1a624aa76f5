//! The stateless IPVS schedulers beyond rr/wrr/lc/wlc/sh: each follows its
//! Linux definition (net/netfilter/ipvs/ip_vs_*.c), with the backends in
//! address order standing for IPVS's destination list. IPVS skips a
//! destination flagged overloaded by its upper connection threshold; ferrolb
//! has no thresholds, so none is ever overloaded. Each returns the index of
//! the chosen backend, or None when none may take the flow.

use super::Backend;
use crate::flow::ConnCounts;

/// Destination hashing (ip_vs_dh): 256 buckets filled with the backends in
/// turn, weight ignored; a flow goes to the bucket of its destination
/// address. A bucket whose backend has weight 0 gets no flows: dh never
/// falls back to another backend.
pub const DH_BUCKETS: usize = 256;

pub fn dh_table(backends: &[Backend]) -> Vec<u32> {
    if backends.is_empty() {
        return Vec::new();
    }
    (0..DH_BUCKETS)
        .map(|i| (i % backends.len()) as u32)
        .collect()
}

/// ip_vs_dh's hash: Knuth's multiplicative hash of the address, low 8 bits.
pub fn dh_bucket(daddr: std::net::Ipv4Addr) -> usize {
    (u64::from(u32::from(daddr)).wrapping_mul(2_654_435_761) as usize) & (DH_BUCKETS - 1)
}

pub fn dh_pick(backends: &[Backend], table: &[u32], daddr: std::net::Ipv4Addr) -> Option<usize> {
    let i = *table.get(dh_bucket(daddr))? as usize;
    (backends.get(i)?.weight > 0).then_some(i)
}

/// The first backend with weight > 0 that `better(candidate, best)` does
/// not beat, i.e. IPVS's "keep the first, replace only when strictly
/// better" loops.
fn best_by(
    backends: &[Backend],
    mut better: impl FnMut(&Backend, &Backend) -> bool,
) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, b) in backends.iter().enumerate() {
        if b.weight == 0 {
            continue;
        }
        if best.map_or(true, |j| better(b, &backends[j])) {
            best = Some(i);
        }
    }
    best
}

/// Shortest expected delay (ip_vs_sed): least (active + 1) / weight.
/// Inactive connections do not count.
pub fn sed_pick(backends: &[Backend], conns: &ConnCounts) -> Option<usize> {
    let cost = |b: &Backend| u128::from(conns.get(b.id).active) + 1;
    best_by(backends, |d, least| {
        cost(least) * u128::from(d.weight) > cost(d) * u128::from(least.weight)
    })
}

/// Never queue (ip_vs_nq): the first idle backend (no active connection),
/// else as sed.
pub fn nq_pick(backends: &[Backend], conns: &ConnCounts) -> Option<usize> {
    backends
        .iter()
        .position(|b| b.weight > 0 && conns.get(b.id).active == 0)
        .or_else(|| sed_pick(backends, conns))
}

/// Weighted failover (ip_vs_fo): the backend with the highest weight; the
/// first of equals.
pub fn fo_pick(backends: &[Backend]) -> Option<usize> {
    best_by(backends, |d, best| d.weight > best.weight)
}

/// Overflow connection (ip_vs_ovf): the highest weight among backends
/// whose active connections do not exceed their weight; the first of
/// equals.
pub fn ovf_pick(backends: &[Backend], conns: &ConnCounts) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, b) in backends.iter().enumerate() {
        if b.weight == 0 || conns.get(b.id).active > b.weight {
            continue;
        }
        if best.map_or(true, |j| b.weight > backends[j].weight) {
            best = Some(i);
        }
    }
    best
}

/// Weighted least connection by IPVS's overhead (active × 256 + inactive)
/// among `candidates`, the way lblc and lblcr choose a new server.
pub fn wlc_among(
    backends: &[Backend],
    conns: &ConnCounts,
    candidates: impl Iterator<Item = usize>,
) -> Option<usize> {
    let mut best: Option<(usize, u128)> = None;
    for i in candidates {
        let b = backends.get(i)?;
        if b.weight == 0 {
            continue;
        }
        let oh = u128::from(conns.get(b.id).overhead());
        let better = best.map_or(true, |(j, loh)| {
            loh * u128::from(b.weight) > oh * u128::from(backends[j].weight)
        });
        if better {
            best = Some((i, oh));
        }
    }
    best.map(|(i, _)| i)
}

/// The most loaded backend with weight > 0 among `candidates` (lblcr
/// drops it from a set that has not changed for long).
pub fn most_loaded_among(
    backends: &[Backend],
    conns: &ConnCounts,
    candidates: impl Iterator<Item = usize>,
) -> Option<usize> {
    let mut most: Option<(usize, u128)> = None;
    for i in candidates {
        let b = backends.get(i)?;
        if b.weight == 0 {
            continue;
        }
        let oh = u128::from(conns.get(b.id).overhead());
        let more = most.map_or(true, |(j, moh)| {
            moh * u128::from(b.weight) < oh * u128::from(backends[j].weight)
        });
        if more {
            most = Some((i, oh));
        }
    }
    most.map(|(i, _)| i)
}

/// lblc/lblcr's overload test: more active connections than weight, while
/// some backend is below half its weight.
pub fn overloaded(backends: &[Backend], conns: &ConnCounts, i: usize) -> bool {
    let b = backends[i];
    u64::from(conns.get(b.id).active) > u64::from(b.weight)
        && backends
            .iter()
            .any(|d| u64::from(conns.get(d.id).active) * 2 < u64::from(d.weight))
}
