//! The IPVS schedulers against their Linux definitions: hand-worked cases
//! from each ip_vs_*.c loop, and property tests against a model written
//! the plain way (exact rationals, "the first of the best"), over random
//! weights and connection counts.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::locality::{ENTRY_TIMEOUT_MS, EXPIRATION_MS, LOCALITY_ENTRIES};
use super::*;
use crate::flow::{ProtoState, TcpState};
use crate::tuple::IpProto;

fn backend(i: u32, weight: u32) -> Backend {
    Backend {
        id: i,
        addr: (Ipv4Addr::new(10, 0, 0, 10 + i as u8)).into(),
        port: 80,
        weight,
    }
}

fn backends(weights: &[u32]) -> Vec<Backend> {
    weights
        .iter()
        .enumerate()
        .map(|(i, w)| backend(i as u32, *w))
        .collect()
}

fn to(dst: Ipv4Addr) -> FiveTuple {
    FiveTuple {
        src: Ipv4Addr::new(198, 51, 100, 7),
        dst,
        src_port: 40000,
        dst_port: 80,
        proto: IpProto::TCP,
    }
}

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// Connection counts: (active, inactive) per backend.
fn conns(counts: &[(u32, u32)]) -> ConnCounts {
    let mut c = ConnCounts::new(counts.len());
    let est = ProtoState::Tcp(TcpState::Established);
    let syn = ProtoState::Tcp(TcpState::SynRecv);
    for (i, (a, n)) in counts.iter().enumerate() {
        (0..*a).for_each(|_| c.opened(i as u32, est));
        (0..*n).for_each(|_| c.opened(i as u32, syn));
    }
    c
}

fn pick(kind: SchedulerKind, weights: &[u32], counts: &[(u32, u32)]) -> Option<u32> {
    let mut s = Scheduler::new(kind, backends(weights)).unwrap();
    s.pick(&to(VIP), &conns(counts)).map(|b| b.id)
}

// --- sed, nq ---

#[test]
fn sed_minimises_active_plus_one_over_weight_and_ignores_inactive() {
    let k = SchedulerKind::ShortestExpectedDelay;
    // (0+1)/1 = 1, (2+1)/4 = 0.75, (1+1)/2 = 1: backend 1.
    assert_eq!(pick(k, &[1, 4, 2], &[(0, 0), (2, 0), (1, 0)]), Some(1));
    // Inactive connections do not count: backend 0 (1/1) over 1 (2/1).
    assert_eq!(pick(k, &[1, 1], &[(0, 500), (1, 0)]), Some(0));
    // Ties go to the first.
    assert_eq!(pick(k, &[2, 2], &[(1, 0), (1, 0)]), Some(0));
    // sed prefers the heavy busy server to the light idle one: 1/1 > 3/4.
    assert_eq!(pick(k, &[1, 4], &[(0, 0), (2, 0)]), Some(1));
}

#[test]
fn nq_sends_to_an_idle_server_first_even_a_light_one() {
    let k = SchedulerKind::NeverQueue;
    // The same case as the last sed one: nq takes the idle backend 0.
    assert_eq!(pick(k, &[1, 4], &[(0, 0), (2, 0)]), Some(0));
    // The first idle one in order, even after a better busy one.
    assert_eq!(pick(k, &[9, 1, 1], &[(1, 0), (3, 7), (0, 0)]), Some(2));
    // An idle server at weight 0 is skipped; no idle one: as sed.
    assert_eq!(pick(k, &[1, 4, 0], &[(1, 0), (3, 0), (0, 0)]), Some(1));
}

// --- fo, ovf ---

#[test]
fn fo_takes_the_heaviest_and_the_first_of_equals() {
    let k = SchedulerKind::WeightedFailover;
    assert_eq!(pick(k, &[3, 7, 7, 1], &[(0, 0); 4]), Some(1));
    // Load does not matter.
    assert_eq!(pick(k, &[3, 7], &[(0, 0), (1000, 0)]), Some(1));
    assert_eq!(pick(k, &[0, 0], &[(0, 0); 2]), None);
}

#[test]
fn ovf_overflows_to_the_next_weight_when_active_exceeds_weight() {
    let k = SchedulerKind::Overflow;
    // Backend 1 (weight 5) while it has at most 5 active.
    assert_eq!(pick(k, &[2, 5, 3], &[(0, 0), (5, 0), (0, 0)]), Some(1));
    // 6 > 5: the next heaviest, 2 (weight 3).
    assert_eq!(pick(k, &[2, 5, 3], &[(0, 0), (6, 0), (0, 0)]), Some(2));
    // All over: none.
    assert_eq!(pick(k, &[2, 5, 3], &[(3, 0), (6, 0), (4, 0)]), None);
    // Inactive connections do not count.
    assert_eq!(pick(k, &[2, 5], &[(0, 0), (0, 99)]), Some(1));
}

// --- dh ---

#[test]
fn dh_hashes_the_destination_into_256_buckets_filled_in_turn() {
    let k = SchedulerKind::DestinationHash;
    let mut s = Scheduler::new(k, backends(&[1, 5, 1])).unwrap();
    let c = conns(&[(0, 0); 3]);
    let mut seen = [0usize; 3];
    for last in 0..=255u8 {
        let dst = Ipv4Addr::new(203, 0, 113, last);
        let b = s.pick(&to(dst), &c).unwrap().id;
        // IPVS: bucket (addr * 2654435761) & 255 holds backend bucket % n.
        let bucket = (u64::from(u32::from(dst)) * 2_654_435_761) & 255;
        assert_eq!(b as u64, bucket % 3, "{dst}");
        // The same destination always maps the same way.
        assert_eq!(s.pick(&to(dst), &c).unwrap().id, b);
        seen[b as usize] += 1;
    }
    // Unweighted: 86/85/85 of the 256 destinations, whatever the weights.
    assert_eq!(seen, [86, 85, 85]);
    // A bucket whose backend is at weight 0 gets nothing: no fallback.
    let mut drained = Scheduler::new(k, backends(&[1, 0, 1])).unwrap();
    for last in 0..=255u8 {
        let dst = Ipv4Addr::new(203, 0, 113, last);
        let got = drained.pick(&to(dst), &c).map(|b| b.id);
        let bucket = (u64::from(u32::from(dst)) * 2_654_435_761) & 255;
        if bucket % 3 == 1 {
            assert_eq!(got, None);
        } else {
            assert_eq!(got, Some((bucket % 3) as u32));
        }
    }
}

// --- lblc ---

#[test]
fn lblc_sticks_to_a_destinations_server_until_it_is_overloaded() {
    let k = SchedulerKind::LocalityLeastConnection;
    let mut s = Scheduler::new(k, backends(&[4, 4, 4])).unwrap();
    let other = Ipv4Addr::new(192, 0, 2, 2);
    // First pick: weighted least connection (overhead active*256+inactive).
    let c = conns(&[(1, 0), (0, 3), (0, 5)]);
    assert_eq!(s.pick_at(&to(VIP), &c, 0).unwrap().id, 1);
    // Remembered, even when another would now be less loaded...
    let c = conns(&[(0, 0), (4, 0), (0, 0)]);
    assert_eq!(s.pick_at(&to(VIP), &c, 1).unwrap().id, 1);
    // ...another destination gets its own pick...
    assert_eq!(s.pick_at(&to(other), &c, 1).unwrap().id, 0);
    // ...until it has more active than its weight while someone is below
    // half theirs: then a new pick, remembered in its place.
    let c = conns(&[(0, 0), (5, 0), (3, 0)]);
    assert_eq!(s.pick_at(&to(VIP), &c, 2).unwrap().id, 0);
    let c = conns(&[(3, 0), (5, 0), (3, 0)]);
    assert_eq!(s.pick_at(&to(VIP), &c, 3).unwrap().id, 0);
    // Over weight, but nobody below half: not overloaded, it stays.
    let c = conns(&[(5, 0), (2, 0), (2, 0)]);
    assert_eq!(s.pick_at(&to(VIP), &c, 4).unwrap().id, 0);
    // Weight 0 (drained): a new pick.
    let mut s2 = Scheduler::new(k, backends(&[4, 4, 4])).unwrap();
    let idle = conns(&[(0, 0); 3]);
    let first = s2.pick_at(&to(VIP), &idle, 0).unwrap().id;
    let mut w = [4, 4, 4];
    w[first as usize] = 0;
    let mut s2 = rebuilt_with_memory(s2, &w);
    assert_ne!(s2.pick_at(&to(VIP), &idle, 1).unwrap().id, first);
}

/// The same scheduler (its locality memory kept) with other weights.
fn rebuilt_with_memory(old: Scheduler, weights: &[u32]) -> Scheduler {
    let mut s = old;
    for (b, w) in s.backends.iter_mut().zip(weights) {
        b.weight = *w;
    }
    s
}

#[test]
fn lblc_forgets_a_destination_unused_for_a_day_and_makes_room_after_six_minutes() {
    let k = SchedulerKind::LocalityLeastConnection;
    let mut s = Scheduler::new(k, backends(&[1, 1])).unwrap();
    let c0 = conns(&[(0, 0), (0, 0)]);
    assert_eq!(s.pick_at(&to(VIP), &c0, 0).unwrap().id, 0);
    let c1 = conns(&[(0, 1), (0, 0)]);
    // Used within the day: kept.
    assert_eq!(s.pick_at(&to(VIP), &c1, EXPIRATION_MS).unwrap().id, 0);
    // Unused for more than a day: a fresh least-connection pick.
    assert_eq!(
        s.pick_at(&to(VIP), &c1, 2 * EXPIRATION_MS + 1).unwrap().id,
        1
    );

    // A full table takes a new destination only in place of one unused
    // for six minutes; otherwise the pick stands unremembered.
    let mut s = Scheduler::new(k, backends(&[1, 1])).unwrap();
    for i in 0..LOCALITY_ENTRIES as u32 {
        s.pick_at(&to(Ipv4Addr::from(0x0a00_0000 + i)), &c0, 0);
    }
    let new = Ipv4Addr::new(192, 0, 2, 99);
    assert_eq!(s.pick_at(&to(new), &c0, 1000).unwrap().id, 0);
    assert_eq!(
        s.pick_at(&to(new), &c1, 1001).unwrap().id,
        1,
        "not remembered"
    );
    assert_eq!(
        s.pick_at(&to(new), &c0, ENTRY_TIMEOUT_MS + 1).unwrap().id,
        0
    );
    assert_eq!(
        s.pick_at(&to(new), &c1, ENTRY_TIMEOUT_MS + 2).unwrap().id,
        0,
        "remembered"
    );
}

// --- lblcr ---

#[test]
fn lblcr_grows_a_set_under_overload_and_sheds_its_busiest_after_expiration() {
    let k = SchedulerKind::LocalityLeastConnectionReplicated;
    let mut s = Scheduler::new(k, backends(&[4, 4, 4])).unwrap();
    let table = |s: &Scheduler, now| match &s.algo {
        Algo::Locality(t) => t.set_of(VIP, now),
        _ => unreachable!(),
    };
    assert_eq!(s.pick_at(&to(VIP), &conns(&[(0, 0); 3]), 0).unwrap().id, 0);
    assert_eq!(table(&s, 0), [0]);
    // 0 overloaded (5 > 4, and 2 has 0*2 < 4): least connection adds 1.
    let c = conns(&[(5, 0), (1, 0), (0, 9)]);
    assert_eq!(s.pick_at(&to(VIP), &c, 10).unwrap().id, 2);
    assert_eq!(table(&s, 10), [0, 2]);
    // The least loaded member of the set serves while not overloaded.
    let c = conns(&[(3, 0), (0, 0), (1, 0)]);
    assert_eq!(s.pick_at(&to(VIP), &c, 20).unwrap().id, 2);
    // No change for longer than the expiration: the busiest member (0)
    // leaves; the pick was made before, from the whole set.
    let c = conns(&[(3, 0), (0, 0), (1, 0)]);
    let later = 10 + EXPIRATION_MS;
    assert_eq!(s.pick_at(&to(VIP), &c, later).unwrap().id, 2);
    assert_eq!(
        table(&s, later),
        [0, 2],
        "not yet: the set changed at 10, a day ago"
    );
    assert_eq!(s.pick_at(&to(VIP), &c, later + 1).unwrap().id, 2);
    assert_eq!(table(&s, later + 1), [2]);
}

// --- every new scheduler ---

const NEW_KINDS: [SchedulerKind; 7] = [
    SchedulerKind::DestinationHash,
    SchedulerKind::ShortestExpectedDelay,
    SchedulerKind::NeverQueue,
    SchedulerKind::LocalityLeastConnection,
    SchedulerKind::LocalityLeastConnectionReplicated,
    SchedulerKind::WeightedFailover,
    SchedulerKind::Overflow,
];

/// The plain model: the index minimising `key` (exact rationals as
/// (numerator, denominator)) among weight > 0, the first of equals.
fn model_min(weights: &[u32], key: impl Fn(usize) -> (u128, u128)) -> Option<usize> {
    let mut best: Option<(usize, (u128, u128))> = None;
    for (i, w) in weights.iter().enumerate() {
        if *w == 0 {
            continue;
        }
        let (n, d) = key(i);
        match best {
            Some((_, (bn, bd))) if n * bd >= bn * d => {}
            _ => best = Some((i, (n, d))),
        }
    }
    best.map(|(i, _)| i)
}

proptest! {
    #[test]
    fn weight_0_never_gets_a_new_flow(
        weights in proptest::collection::vec(0u32..4, 0..8),
        counts in proptest::collection::vec((0u32..6, 0u32..6), 8),
        dst in any::<u32>(),
    ) {
        let c = conns(&counts[..weights.len()]);
        for kind in NEW_KINDS {
            let mut s = Scheduler::new(kind, backends(&weights)).unwrap();
            for t in 0..3u64 {
                if let Some(b) = s.pick_at(&to(Ipv4Addr::from(dst)), &c, t) {
                    prop_assert!(b.weight > 0, "{kind:?} chose {b:?}");
                } else if !matches!(kind, SchedulerKind::DestinationHash | SchedulerKind::Overflow) {
                    prop_assert!(weights.iter().all(|w| *w == 0), "{kind:?}: none of {weights:?}");
                }
            }
        }
    }

    #[test]
    fn sed_nq_fo_ovf_match_the_model(
        weights in proptest::collection::vec(0u32..6, 1..8),
        counts in proptest::collection::vec((0u32..8, 0u32..8), 8),
    ) {
        let counts = &counts[..weights.len()];
        let active = |i: usize| u128::from(counts[i].0);
        let sed = model_min(&weights, |i| (active(i) + 1, u128::from(weights[i])));
        let nq = weights
            .iter()
            .zip(counts)
            .position(|(w, c)| *w > 0 && c.0 == 0)
            .or(sed);
        // Highest weight = least 1/weight.
        let fo = model_min(&weights, |i| (1, u128::from(weights[i])));
        let ok: Vec<u32> = weights
            .iter()
            .zip(counts)
            .map(|(w, c)| if c.0 > *w { 0 } else { *w })
            .collect();
        let ovf = model_min(&ok, |i| (1, u128::from(ok[i])));
        let id = |o: Option<usize>| o.map(|i| i as u32);
        prop_assert_eq!(pick(SchedulerKind::ShortestExpectedDelay, &weights, counts), id(sed));
        prop_assert_eq!(pick(SchedulerKind::NeverQueue, &weights, counts), id(nq));
        prop_assert_eq!(pick(SchedulerKind::WeightedFailover, &weights, counts), id(fo));
        prop_assert_eq!(pick(SchedulerKind::Overflow, &weights, counts), id(ovf));
    }

    #[test]
    fn lblc_first_pick_is_weighted_least_connection(
        weights in proptest::collection::vec(0u32..6, 1..8),
        counts in proptest::collection::vec((0u32..8, 0u32..8), 8),
    ) {
        let counts = &counts[..weights.len()];
        let wlc = model_min(&weights, |i| {
            (u128::from(counts[i].0) * 256 + u128::from(counts[i].1), u128::from(weights[i]))
        });
        for kind in [SchedulerKind::LocalityLeastConnection, SchedulerKind::LocalityLeastConnectionReplicated] {
            prop_assert_eq!(pick(kind, &weights, counts), wlc.map(|i| i as u32));
        }
    }
}
