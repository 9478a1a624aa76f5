//! Ids freed and reused (`tables/reclaim.rs`) as workers see them: a
//! retired id is reused only once no worker's session refers to it, a
//! draining session keeps forwarding to its retired backend meanwhile, and a
//! reused id starts from zero in every worker, including one that was still
//! running the older tables when the id was handed out.

use std::sync::Arc;

use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::sched::Persistence;
use crate::tables::*;

const RIP3: [u8; 4] = [10, 0, 1, 13];

/// Longer than every default session timeout: a poll at `now + EXPIRE`
/// ends every session (templates with a shorter persistence too).
const EXPIRE: u64 = 3_600_000;

/// A NAT service on `port` with backends `rips`.
fn nat(port: u16, rips: &[[u8; 4]]) -> ServiceSpec {
    let mut s = service(Mode::Nat, IpProto::TCP);
    s.port = port;
    s.backends = rips
        .iter()
        .map(|&a| BackendSpec {
            addr: ip(a).into(),
            port: 8080,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
        })
        .collect();
    s
}

fn with(services: Vec<ServiceSpec>) -> LbConfig {
    let mut cfg = config(services);
    cfg.neighbours
        .push((ip(RIP3), MacAddr([2, 0, 0, 0, 1, 0x0d])));
    cfg
}

/// Compiles `cfg` after the tables the first of `workers` runs, freeing what
/// every worker's report allows.
fn build(workers: &[&Pipeline<TestBuf>], cfg: &LbConfig) -> Arc<LbTables> {
    let reports: Vec<IdRefs> = workers.iter().map(|p| p.id_refs()).collect();
    let prev = workers[0].tables();
    let next = LbTables::build_next_reclaiming(cfg, prev, &FlushRequest::default(), &reports);
    Arc::new(next.expect("builds"))
}

fn change(p: &mut Pipeline<TestBuf>, cfg: &LbConfig) {
    let next = build(&[p], cfg);
    p.adopt(next, 0);
}

fn syn(sport: u16, dport: u16) -> Vec<u8> {
    tcp((ROUTER, OURS), (CIP, VIP), (sport, dport), SYN, 64, b"")
}

fn ack(sport: u16, dport: u16) -> Vec<u8> {
    tcp((ROUTER, OURS), (CIP, VIP), (sport, dport), ACK, 64, b"")
}

fn id_of(p: &Pipeline<TestBuf>, port: u16) -> u32 {
    let key = ServiceKey {
        proto: IpProto::TCP,
        vip: ip(VIP).into(),
        port,
    };
    p.tables().service_index.by_key(&key).expect("service")
}

#[test]
fn a_retired_id_is_reused_only_after_its_last_session_ends_and_starts_from_zero() {
    // Epoch 1: service A (port 80, backend RIP1); one connection to it.
    let mut p = pipeline(&with(vec![nat(80, &[RIP1])]));
    let first = seen(&run(&mut p, &[syn(40000, 80)], 0)[0]);
    assert_eq!(first.dst, RIP1);
    assert_eq!(p.counters().backends[0].packets_in, 1);

    // Epoch 2: A is deleted; its connection drains on the retired backend.
    change(&mut p, &with(Vec::new()));
    assert_eq!(p.tables().services[0].state, Lifecycle::Retired);
    let out = run(&mut p, &[ack(40000, 80)], 1);
    assert_eq!(seen(&out[0]), first, "a draining session still forwards");

    // Epoch 3: service B is added while A's session lives: A's ids are not
    // free, so B takes new ones.
    change(&mut p, &with(vec![nat(81, &[RIP2])]));
    assert_eq!(id_of(&p, 81), 1);
    assert_eq!(p.tables().services[1].backend_ids, vec![1]);
    assert_eq!(p.tables().services[0].state, Lifecycle::Retired);
    let out = run(&mut p, &[ack(40000, 80)], 2);
    assert_eq!(seen(&out[0]), first, "still forwards after a rebuild");

    // A's last session ends; the next change frees its ids and service C
    // takes them: service 0 and backend 0, now towards RIP3.
    run(&mut p, &[], EXPIRE);
    assert_eq!(p.id_refs().services[0], 0);
    let c = nat(82, &[RIP3]);
    change(&mut p, &with(vec![nat(81, &[RIP2]), c]));
    assert_eq!(id_of(&p, 82), 0);
    assert_eq!(p.tables().services[0].backend_ids, vec![0]);
    assert_eq!(p.tables().backends[0].addr, ip(RIP3));
    assert_eq!(p.tables().services.len(), 2, "the tables did not grow");
    assert_eq!(p.tables().backends.len(), 2);

    // Nothing of A's numbers is C's: counters and live counts start at 0.
    let counters = p.counters();
    assert_eq!(counters.backends[0], Default::default());
    assert_eq!(counters.services[0], Default::default());
    assert_eq!(p.session_counts().backends[0].total(), 0);
    let out = run(&mut p, &[syn(40001, 82)], EXPIRE);
    assert_eq!(seen(&out[0]).dst, RIP3);
    let counters = p.counters();
    assert_eq!(
        (counters.backends[0].conns, counters.backends[0].packets_in),
        (1, 1)
    );
    // A's old flow is gone for good: its packet finds no session.
    assert!(run(&mut p, &[ack(40000, 80)], EXPIRE).is_empty());
}

#[test]
fn an_id_is_not_freed_while_any_worker_has_a_session_or_lags_behind() {
    let cfg = with(vec![nat(80, &[RIP1])]);
    let tables = Arc::new(LbTables::build(&cfg).expect("builds"));
    let mut w0 = Pipeline::new(Arc::clone(&tables), 0, 2, 0).expect("pipeline");
    let mut w1 = Pipeline::new(tables, 1, 2, 0).expect("pipeline");
    // Worker 1 holds a session of A.
    run(&mut w1, &[syn(40000, 80)], 0);

    let t2 = build(&[&w0, &w1], &with(Vec::new()));
    w0.adopt(Arc::clone(&t2), 0);
    w1.adopt(t2, 0);
    // Worker 1's session keeps A's ids: B gets new ones.
    let t3 = build(&[&w0, &w1], &with(vec![nat(81, &[RIP2])]));
    assert_eq!(id_of_in(&t3, 81), 1);
    w0.adopt(Arc::clone(&t3), 0);
    w1.adopt(t3, 0);
    run(&mut w1, &[], EXPIRE);

    // Worker 0's report from before A was retired (epoch 1) does not count.
    let stale = IdRefs {
        epoch: 1,
        ..w0.id_refs()
    };
    let cfg4 = with(vec![nat(81, &[RIP2]), nat(82, &[RIP3])]);
    let reports = [stale, w1.id_refs()];
    let t4 = LbTables::build_next_reclaiming(&cfg4, w0.tables(), &Default::default(), &reports)
        .expect("builds");
    assert_eq!(id_of_in(&t4, 82), 2);
    assert_eq!(t4.services[0].state, Lifecycle::Retired, "not freed");
    // Nor do no reports at all (the control socket passes none when a
    // worker did not answer).
    let t4 = LbTables::build_next_reclaiming(&cfg4, w0.tables(), &Default::default(), &[])
        .expect("builds");
    assert_eq!(t4.services[0].state, Lifecycle::Retired, "no reports");
    // Both current and zero: freed and reused.
    let t4 = build(&[&w0, &w1], &cfg4);
    assert_eq!(id_of_in(&t4, 82), 0);
}

fn id_of_in(t: &LbTables, port: u16) -> u32 {
    let key = ServiceKey {
        proto: IpProto::TCP,
        vip: ip(VIP).into(),
        port,
    };
    t.service_index.by_key(&key).expect("service")
}

#[test]
fn a_worker_on_older_tables_never_touches_a_reused_id_and_resets_it_on_adopt() {
    let cfg = with(vec![nat(80, &[RIP1])]);
    let tables = Arc::new(LbTables::build(&cfg).expect("builds"));
    let mut w0 = Pipeline::new(Arc::clone(&tables), 0, 2, 0).expect("pipeline");
    let mut w1 = Pipeline::new(tables, 1, 2, 0).expect("pipeline");
    // Both count traffic on A's backend, then A goes and its sessions end.
    run(&mut w0, &[syn(40000, 80)], 0);
    run(&mut w1, &[syn(40002, 80)], 0);
    let t2 = build(&[&w0, &w1], &with(Vec::new()));
    w0.adopt(Arc::clone(&t2), 0);
    w1.adopt(t2, 0);
    run(&mut w0, &[], EXPIRE);
    run(&mut w1, &[], EXPIRE);

    // Epoch 3 gives A's ids to C; worker 1 has not adopted it yet.
    let t3 = build(&[&w0, &w1], &with(vec![nat(82, &[RIP3])]));
    assert_eq!(id_of_in(&t3, 82), 0);
    w0.adopt(t3.clone(), EXPIRE);
    // A packet for C reaching worker 1 meanwhile: no service there yet, so
    // no session on id 0 and nothing counted on it; A's flow is gone too.
    assert!(run(&mut w1, &[syn(40003, 82), ack(40002, 80)], EXPIRE).is_empty());
    assert_eq!(w1.counters().backends[0].packets_in, 1, "A's count");
    assert_eq!(w1.id_refs().services[0], 0);
    w1.adopt(t3, EXPIRE);
    assert_eq!(w1.counters().backends[0], Default::default(), "reset");
    let out = run(&mut w1, &[syn(40003, 82)], EXPIRE);
    assert_eq!(seen(&out[0]).dst, RIP3);
    assert_eq!(w1.counters().backends[0].packets_in, 1);
}

#[test]
fn a_persistence_template_holds_its_service_id_until_it_expires() {
    let mut a = nat(80, &[RIP1, RIP2]);
    a.persistence = Some(Persistence {
        timeout_ms: 600_000,
        prefix_len: 32,
    });
    let mut p = pipeline(&with(vec![a.clone()]));
    run(&mut p, &[syn(40000, 80)], 0);
    // The connection ends (syn_recv timeout), the template stays.
    run(&mut p, &[], 120_000);
    assert_eq!(p.session_counts().services[0], 0);
    assert_eq!(p.id_refs().services[0], 1, "the template");
    change(&mut p, &with(Vec::new()));
    change(&mut p, &with(vec![nat(81, &[RIP3])]));
    assert_eq!(id_of(&p, 81), 1, "the template keeps id 0");
    run(&mut p, &[], 2 * EXPIRE);
    assert_eq!(p.id_refs().services[0], 0);
    change(&mut p, &with(vec![nat(81, &[RIP3]), nat(82, &[RIP3])]));
    assert_eq!(id_of(&p, 82), 0);
}

#[test]
fn churn_keeps_every_list_at_its_high_water_mark() {
    let base = vec![nat(80, &[RIP1, RIP2])];
    let mut p = pipeline(&with(base.clone()));
    run(&mut p, &[syn(40000, 80)], 0);
    let mut extra = base.clone();
    for port in 1000..1020 {
        extra.push(nat(port, &[RIP1, RIP2, RIP3]));
    }
    for _ in 0..50 {
        change(&mut p, &with(extra.clone()));
        change(&mut p, &with(base.clone()));
    }
    let t = p.tables();
    assert_eq!(t.services.len(), 21);
    assert_eq!(t.backends.len(), 2 + 60);
    assert_eq!(p.counters().backends.len(), 62);
    // The base service kept its id and its connection.
    assert_eq!(id_of(&p, 80), 0);
    assert_eq!(p.session_counts().services[0], 1);
    // Deleting the extra ones leaves the lists at the base once freed.
    change(&mut p, &with(base.clone()));
    assert_eq!(p.tables().services.len(), 1);
    assert_eq!(p.tables().backends.len(), 2);
    assert_eq!(p.counters().services.len(), 1);
}
