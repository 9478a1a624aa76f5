//! Schedulers over IPv6 flows and backends (issue 20): every kind picks,
//! sh and mh hash the whole address, dh folds it as IPVS does.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::flow::ProtoState;
use crate::tuple::{FiveTuple6, IpProto};

fn backends(weights: &[u32]) -> Vec<Backend> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &weight)| Backend {
            id: i as u32,
            addr: Ipv6Addr::from(0x2001_0db8_0001_u128 << 80 | (0x11 + i as u128)).into(),
            port: 80,
            weight,
        })
        .collect()
}

/// A client of 2001:db8:2::/48 (`client` fills the rest) to 2001:db8::10.
fn flow6(client: u128, port: u16) -> FiveTuple6 {
    FiveTuple6 {
        src: Ipv6Addr::from(0x2001_0db8_0002_u128 << 80 | client),
        dst: "2001:db8::10".parse().unwrap(),
        src_port: port,
        dst_port: 80,
        proto: IpProto::TCP,
    }
}

const KINDS: [SchedulerKind; 13] = [
    SchedulerKind::RoundRobin,
    SchedulerKind::WeightedRoundRobin,
    SchedulerKind::LeastConnection,
    SchedulerKind::WeightedLeastConnection,
    SchedulerKind::SourceHash,
    SchedulerKind::Maglev {
        table_size: 65537,
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

#[test]
fn every_scheduler_picks_an_ipv6_backend_with_weight() {
    for kind in KINDS {
        let mut s = Scheduler::new(kind, backends(&[1, 0, 2])).unwrap();
        let mut conns = ConnCounts::new(3);
        let mut picked = 0;
        for n in 0..300u128 {
            let mut f = flow6(n << 64 | n, 40000);
            f.dst = Ipv6Addr::from(u128::from(f.dst) + n);
            // dh never falls back: the drained backend's buckets get none.
            let Some(b) = s.pick_at(&f, &conns, 0) else {
                assert_eq!(kind, SchedulerKind::DestinationHash, "no backend");
                continue;
            };
            assert_ne!(b.id, 1, "{kind:?} picked the drained backend");
            assert!(b.addr.is_ipv6());
            conns.opened(b.id, ProtoState::Udp);
            picked += 1;
        }
        assert!(picked >= 150, "{kind:?}: {picked} of 300");
    }
}

/// Backends picked for 4096 clients that differ in the bits `shift` up.
fn spread(kind: SchedulerKind, shift: u32, port_of: impl Fn(u128) -> u16) -> [usize; 4] {
    let mut s = Scheduler::new(kind, backends(&[1, 1, 1, 1])).unwrap();
    let conns = ConnCounts::new(4);
    let mut per = [0usize; 4];
    for n in 0..4096u128 {
        let b = s.pick(&flow6(n << shift | 7, port_of(n)), &conns).unwrap();
        per[b.id as usize] += 1;
    }
    per
}

#[test]
fn sh_and_mh_spread_clients_that_differ_anywhere_in_the_address() {
    let mh = SchedulerKind::Maglev {
        table_size: 65537,
        hash_ports: true,
    };
    let mh_client = SchedulerKind::Maglev {
        table_size: 65537,
        hash_ports: false,
    };
    // Low bits, bits of the upper half only, and the top of the /48's
    // remainder: each spreads over the four backends, about 1024 each.
    for shift in [0, 64, 72] {
        for kind in [SchedulerKind::SourceHash, mh, mh_client] {
            let per = spread(kind, shift, |_| 40000);
            assert!(
                per.iter().all(|&n| (850..1200).contains(&n)),
                "{kind:?}, shift {shift}: {per:?}"
            );
        }
    }
}

#[test]
fn a_client_keeps_its_backend_by_address_and_mh_follows_the_flow() {
    let mh = |hash_ports| SchedulerKind::Maglev {
        table_size: 65537,
        hash_ports,
    };
    let conns = ConnCounts::new(4);
    // sh and mh without ports: every connection of a client, one backend.
    for kind in [SchedulerKind::SourceHash, mh(false)] {
        let mut s = Scheduler::new(kind, backends(&[1, 1, 1, 1])).unwrap();
        for client in [1u128, 1 << 100, 0xdead_beef << 40] {
            let first = s.pick(&flow6(client, 1000), &conns).unwrap();
            for port in 1001..1100 {
                assert_eq!(
                    s.pick(&flow6(client, port), &conns),
                    Some(first),
                    "{kind:?}"
                );
            }
        }
    }
    // mh over the 5-tuple: a client's ports spread; the same flow lands on
    // the same backend in a table built from the backends in another order
    // (what every node of a cluster builds).
    let mut a = Scheduler::new(mh(true), backends(&[1, 1, 1, 1])).unwrap();
    let mut reversed = backends(&[1, 1, 1, 1]);
    reversed.reverse();
    let mut b = Scheduler::new(mh(true), reversed).unwrap();
    let mut used = [false; 4];
    for port in 1000..1100 {
        let f = flow6(1 << 100, port);
        let picked = a.pick(&f, &conns).unwrap();
        assert_eq!(b.pick(&f, &conns), Some(picked));
        used[picked.id as usize] = true;
    }
    assert_eq!(used, [true; 4]);
}

#[test]
fn dh_and_lblc_key_an_ipv6_destination_folded_as_ipvs_does() {
    let mut f = flow6(1, 1000);
    f.dst = "2001:db8:0:1:0:2:0:3".parse().unwrap();
    // 0x20010db8 ^ 0x00000001 ^ 0x00000002 ^ 0x00000003
    assert_eq!(f.destination(), Ipv4Addr::from(0x2001_0db8_u32));
    let mut dh = Scheduler::new(SchedulerKind::DestinationHash, backends(&[1, 1, 1, 1])).unwrap();
    let conns = ConnCounts::new(4);
    let want = ipvs::dh_pick(
        dh.backends(),
        &ipvs::dh_table(dh.backends()),
        f.destination(),
    );
    let got = dh
        .pick(&f, &conns)
        .map(|b| dh.backends().iter().position(|x| x.id == b.id));
    assert_eq!(got, Some(want));
    // Any client to that destination: the same backend.
    for client in 2..50 {
        let mut g = flow6(client << 90, 1);
        g.dst = f.dst;
        assert_eq!(dh.pick(&g, &conns), dh.pick(&f, &conns));
    }
}

#[test]
fn persistence_keeps_an_ipv6_client_network_in_the_ipv6_table() {
    use crate::flow::{SessionTable, TableConfig};
    use foldhash::fast::RandomState;
    let mut table: SessionTable<RandomState, FiveTuple6> = SessionTable::new(
        TableConfig {
            capacity: 64,
            ..TableConfig::default()
        },
        0,
    )
    .unwrap();
    let mut sched = Scheduler::new(SchedulerKind::RoundRobin, backends(&[1, 1, 1, 1])).unwrap();
    let conns = ConnCounts::new(4);
    let svc = PersistentService {
        id: 0,
        vip: "2001:db8::10".parse().unwrap(),
        port: 80,
    };
    let p = Persistence {
        timeout_ms: 60_000,
        prefix_len: 64,
    };
    let mut pick = |table: &mut SessionTable<RandomState, FiveTuple6>, client: u128, t| {
        p.pick(table, &mut sched, &conns, &flow6(client, 1000), svc, t)
    };
    // flow6's clients are 2001:db8:2:0:<client's upper 64 bits>: the /64
    // is 2001:db8:2:0 plus bits 64..80 of `client`.
    let first = pick(&mut table, 1, 0).unwrap();
    assert!(first.addr.is_ipv6());
    // Another host (any of the lower 64 bits) of the /64 sticks, even
    // with round robin moved on by other networks' picks.
    let other_net = pick(&mut table, 1 << 64, 10).unwrap();
    assert_ne!(other_net, first);
    for host in [2u128, 0xffff_ffff_ffff_ffff, 0x1234 << 40] {
        assert_eq!(pick(&mut table, host, 20), Some(first), "host {host:x}");
    }
    // One template per network, keyed by the masked address, in this table.
    assert_eq!(table.len(), 2);
    let key = p.template_key(&flow6(7, 1), svc);
    assert_eq!(key.src, "2001:db8:2::".parse::<Ipv6Addr>().unwrap());
    assert!(table.lookup(&key).is_some());
    // A /128: every host its own template.
    let p128 = Persistence {
        prefix_len: 128,
        ..p
    };
    let k1 = p128.template_key(&flow6(1, 1), svc);
    let k2 = p128.template_key(&flow6(2, 1), svc);
    assert_ne!(k1, k2);
    assert_eq!(k1.src, flow6(1, 1).src);
    // Past the timeout the templates expire with the table's wheel.
    assert_eq!(table.expire(200_000, 100, |_, _| {}), 2);
}
