//! Connection thresholds: every scheduler stops sending new flows to a
//! backend at its upper threshold and starts again only below its lower
//! one; the thresholds are split among workers.

use std::net::Ipv4Addr;

use super::*;
use crate::flow::{ProtoState, TcpState};
use crate::tuple::IpProto;

const EST: ProtoState = ProtoState::Tcp(TcpState::Established);

const KINDS: [SchedulerKind; 13] = [
    SchedulerKind::RoundRobin,
    SchedulerKind::WeightedRoundRobin,
    SchedulerKind::LeastConnection,
    SchedulerKind::WeightedLeastConnection,
    SchedulerKind::SourceHash,
    SchedulerKind::Maglev {
        table_size: 251,
        hash_ports: true,
    },
    SchedulerKind::DestinationHash,
    SchedulerKind::ShortestExpectedDelay,
    SchedulerKind::NeverQueue,
    SchedulerKind::LocalityLeastConnection,
    SchedulerKind::LocalityLeastConnectionReplicated,
    SchedulerKind::WeightedFailover,
    SchedulerKind::Overflow,
];

fn backend(i: u32) -> Backend {
    Backend {
        id: i,
        addr: (Ipv4Addr::new(10, 0, 0, 10 + i as u8)).into(),
        port: 80,
        weight: 100,
    }
}

/// Varied flows: sources, destinations and ports all move, so the hash
/// schedulers reach every slot.
fn flow(i: u32) -> FiveTuple {
    FiveTuple {
        src: Ipv4Addr::from(0xc633_6400 + i * 7919),
        dst: Ipv4Addr::from(0xc000_0200 + i),
        src_port: 1024 + (i as u16).wrapping_mul(31),
        dst_port: 80,
        proto: IpProto::TCP,
    }
}

/// Backend 0 with u_threshold 4 (lower 3 by default), backend 1 without.
fn scheduler(kind: SchedulerKind) -> Scheduler {
    Scheduler::new(kind, vec![backend(0), backend(1)])
        .expect("scheduler")
        .with_thresholds(|id| match id {
            0 => Thresholds::new(4, 0),
            _ => Thresholds::default(),
        })
}

/// The backend ids 400 new flows get (None: no backend).
fn picks(s: &mut Scheduler, conns: &ConnCounts) -> Vec<Option<u32>> {
    picks_from(s, conns, 0)
}

/// The same for flows `first..first + 400` (lblc and lblcr remember the
/// backend of each destination they saw: recovery shows on new ones).
fn picks_from(s: &mut Scheduler, conns: &ConnCounts, first: u32) -> Vec<Option<u32>> {
    (first..first + 400)
        .map(|i| s.pick_at(&flow(i), conns, 0).map(|b| b.id))
        .collect()
}

#[test]
fn lower_threshold_defaults_to_three_quarters_rounded_up() {
    assert_eq!(Thresholds::new(4, 0), Thresholds { upper: 4, lower: 3 });
    // IPVS clears the overload when conns * 4 < upper * 3: 7 * 4 < 30.
    assert_eq!(Thresholds::new(10, 0).lower, 8);
    assert_eq!(Thresholds::new(10, 2).lower, 2);
    assert_eq!(Thresholds::new(0, 5), Thresholds::default());
    let share = Thresholds::new(10, 0).per_worker(4);
    assert_eq!(share, Thresholds { upper: 3, lower: 2 });
    assert_eq!(Thresholds::new(1, 0).per_worker(8).upper, 1);
}

#[test]
fn every_scheduler_skips_an_overloaded_backend_until_it_falls_below_lower() {
    for kind in KINDS {
        let mut s = scheduler(kind);
        let mut conns = ConnCounts::new(2);
        // Backend 1 busier, so the least-connection kinds prefer 0.
        for _ in 0..10 {
            conns.opened(1, EST);
        }
        for _ in 0..3 {
            conns.opened(0, EST);
        }
        assert!(
            picks(&mut s, &conns).contains(&Some(0)),
            "{kind:?}: under its threshold, backend 0 takes flows"
        );
        assert!(!s.overloaded());
        // A fourth connection: at the upper threshold.
        conns.opened(0, EST);
        let at_upper = picks(&mut s, &conns);
        assert!(!at_upper.contains(&Some(0)), "{kind:?}: overloaded");
        assert!(s.overloaded(), "{kind:?}");
        assert_eq!(s.weight_of(0), 100, "{kind:?}: its configured weight stays");
        // Down to 3: not below the lower threshold (3) yet.
        conns.closed(0, EST);
        assert!(
            !picks(&mut s, &conns).contains(&Some(0)),
            "{kind:?}: 3 conns"
        );
        // Down to 2: below it, backend 0 takes flows again.
        conns.closed(0, EST);
        assert!(
            picks_from(&mut s, &conns, 10_000).contains(&Some(0)),
            "{kind:?}: recovered below the lower threshold"
        );
        assert!(!s.overloaded(), "{kind:?}");
    }
}

#[test]
fn with_every_backend_overloaded_there_is_no_backend() {
    let mut s = Scheduler::new(SchedulerKind::RoundRobin, vec![backend(0), backend(1)])
        .expect("scheduler")
        .with_thresholds(|_| Thresholds::new(1, 1));
    let mut conns = ConnCounts::new(2);
    conns.opened(0, EST);
    conns.opened(1, ProtoState::Udp);
    assert_eq!(s.pick_at(&flow(1), &conns, 0), None);
    assert!(s.overloaded());
    conns.closed(1, ProtoState::Udp);
    assert_eq!(s.pick_at(&flow(1), &conns, 0).map(|b| b.id), Some(1));
}

#[test]
fn each_worker_applies_its_share_of_the_thresholds() {
    // 4 / 2 workers = 2 per worker, lower 3 / 2 = 2 (rounded up).
    let mut s = scheduler(SchedulerKind::RoundRobin).for_worker(2);
    assert_eq!(s.thresholds_of(0), Thresholds { upper: 2, lower: 2 });
    assert_eq!(s.thresholds_of(1), Thresholds::default());
    let mut conns = ConnCounts::new(2);
    conns.opened(0, EST);
    assert!(picks(&mut s, &conns).contains(&Some(0)));
    conns.opened(0, EST);
    assert!(!picks(&mut s, &conns).contains(&Some(0)));
    conns.closed(0, EST);
    assert!(picks(&mut s, &conns).contains(&Some(0)));
}

#[test]
fn wrr_keeps_its_proportions_while_a_backend_sits_out() {
    let three = vec![
        backend(0),
        backend(1),
        Backend {
            weight: 200,
            ..backend(2)
        },
    ];
    let mut s = Scheduler::new(SchedulerKind::WeightedRoundRobin, three)
        .expect("scheduler")
        .with_thresholds(|id| Thresholds::new(if id == 0 { 1 } else { 0 }, 0));
    let mut conns = ConnCounts::new(3);
    conns.opened(0, EST);
    let got = picks(&mut s, &conns);
    let count = |id| got.iter().filter(|&&b| b == Some(id)).count();
    // 1 : 2 between the other two, exactly as smooth wrr interleaves.
    assert_eq!((count(0), count(1), count(2)), (0, 133, 267));
}
