//! Running pipelines taking new tables: sessions keep their backend and
//! translation, drains and flushes, counters and pools by id, and the
//! live-session counts the control socket reads.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use proptest::prelude::*;

use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::flow::table::session_flags;
use crate::flow::Timeouts;
use crate::sched::Persistence;
use crate::tables::*;

const RIP3: [u8; 4] = [10, 0, 1, 13];
const RS3: [u8; 6] = [0x02, 0, 0, 0, 1, 0x0d];

fn key() -> ServiceKey {
    ServiceKey {
        proto: IpProto::TCP,
        vip: ip(VIP).into(),
        port: 80,
    }
}

fn backend(addr: [u8; 4]) -> BackendSpec {
    BackendSpec {
        addr: ip(addr).into(),
        port: 8080,
        weight: 1,
        u_threshold: 0,
        l_threshold: 0,
    }
}

/// Compiles `cfg` after the tables `p` runs and adopts it.
fn adopt(p: &mut Pipeline<TestBuf>, cfg: &LbConfig, flush: &FlushRequest) {
    let next = LbTables::build_next(cfg, p.tables(), flush).expect("builds");
    p.adopt(Arc::new(next), 0);
}

/// The live-session counts found by walking the whole table, to check the
/// ones kept as sessions come and go.
fn walked(p: &Pipeline<TestBuf>) -> SessionCounts {
    let t = p.tables();
    let mut c = SessionCounts {
        services: vec![0; t.services.len()],
        backends: vec![BackendSessions::default(); t.backends.len()],
        snat: vec![0; t.snat.len()],
    };
    for (_, s) in p.path.flow.sessions().iter() {
        if s.state == ProtoState::Template {
            continue;
        }
        let service = match s.origin() {
            Origin::Snat(rule) => {
                c.snat[rule as usize] += 1;
                continue;
            }
            Origin::Service(id) => id,
        };
        c.services[service as usize] += 1;
        let b = &mut c.backends[s.backend as usize];
        if s.state.is_active() {
            b.active += 1;
        } else {
            b.inactive += 1;
        }
    }
    c
}

#[test]
fn a_live_flow_keeps_its_backend_and_translation_until_its_backend_is_flushed() {
    for mode in [Mode::Nat, Mode::FullNat] {
        let mut svc = service(mode, IpProto::TCP);
        svc.local_ports = (40000, 40003);
        let mut cfg = config(vec![svc]);
        cfg.neighbours.push((ip(RIP3), MacAddr(RS3)));
        let mut p = pipeline(&cfg);
        let client = |sport, flags| tcp((ROUTER, OURS), (CIP, VIP), (sport, 80), flags, 64, b"");
        let out = run(&mut p, &[client(40000, SYN)], 0);
        let forwarded = seen(&out[0]);
        assert_eq!(forwarded.dst, RIP1, "{mode:?}");
        // The backend's reply, to the client's address (NAT) or to the local
        // address and port (FULLNAT).
        let reply = tcp(
            (RS1, OURS),
            (RIP1, forwarded.src),
            (8080, forwarded.ports.0),
            SYN | ACK,
            64,
            b"",
        );
        let to_client = seen(&run(&mut p, std::slice::from_ref(&reply), 0)[0]);
        assert_eq!(
            (to_client.src, to_client.dst, to_client.ports),
            (VIP, CIP, (80, 40000))
        );

        // Generation 2: weights change and a backend is added.
        cfg.services[0].backends[0].weight = 5;
        cfg.services[0].backends.push(backend(RIP3));
        adopt(&mut p, &cfg, &FlushRequest::default());
        let out = run(&mut p, &[client(40000, ACK)], 0);
        assert_eq!(
            seen(&out[0]),
            forwarded,
            "{mode:?}: same backend, same translation"
        );

        // Generation 3: its backend is deleted; the flow drains.
        cfg.services[0].backends.remove(0);
        adopt(&mut p, &cfg, &FlushRequest::default());
        let out = run(&mut p, &[client(40000, ACK), reply.clone()], 0);
        assert_eq!(seen(&out[0]), forwarded, "{mode:?}: still forwarded");
        assert_eq!(seen(&out[1]).dst, CIP);
        let out = run(&mut p, &[client(40001, SYN), client(40002, SYN)], 0);
        let dsts: Vec<[u8; 4]> = out.iter().map(|f| seen(f).dst).collect();
        assert_eq!(dsts, vec![RIP2, RIP3], "{mode:?}: new flows avoid it");

        // Generation 4: its sessions are flushed.
        let flush = FlushRequest {
            backends: vec![(key(), ip(RIP1).into(), 8080)],
            ..FlushRequest::default()
        };
        adopt(&mut p, &cfg, &flush);
        assert!(run(&mut p, &[client(40000, ACK)], 0).is_empty());
        assert_eq!(drops(&p, DropReason::NoSession), 1, "{mode:?}");
        let c = p.counters();
        assert_eq!(c.events.sessions_flushed, 1);
        // RIP1 kept id 0 and its counts through every switch.
        assert_eq!(p.tables().backends[0].addr, ip(RIP1));
        assert_eq!(p.tables().backends[0].state, Lifecycle::Flushed);
        assert_eq!(
            (c.backends[0].packets_in, c.backends[0].packets_out),
            (3, 2)
        );
        assert_eq!(c.backends[0].conns, 1);
        assert_eq!(c.services[0].conns, 3);
        assert_eq!(c.services[0].packets_in, 5);
        let live = p.session_counts();
        assert_eq!(live.backends[0].total(), 0);
        assert_eq!(live.services, vec![2]);
        assert_eq!(live, walked(&p));
        if mode == Mode::FullNat {
            let pool = p.path.flow.pool(Origin::Service(0)).expect("pool");
            assert_eq!(pool.stats().released, 1, "the flushed session's port");
        }
    }
}

#[test]
fn a_backend_set_to_weight_zero_gets_no_new_flows_and_keeps_its_old_ones() {
    let mut cfg = config(vec![service(Mode::Nat, IpProto::UDP)]);
    let mut p = pipeline(&cfg);
    let flow = |port| udp((ROUTER, OURS), CIP, VIP, (port, 80));
    let out = run(&mut p, &[flow(1), flow(2)], 0);
    assert_eq!(seen(&out[0]).dst, RIP1);
    assert_eq!(seen(&out[1]).dst, RIP2);
    cfg.services[0].backends[0].weight = 0;
    adopt(&mut p, &cfg, &FlushRequest::default());
    let flows: Vec<_> = (1..=20).map(flow).collect();
    let out = run(&mut p, &flows, 0);
    assert_eq!(out.len(), 20);
    assert_eq!(seen(&out[0]).dst, RIP1, "the old flow continues");
    assert!(out[1..].iter().all(|f| seen(f).dst == RIP2));
}

#[test]
fn a_port_range_change_under_live_sessions_hands_out_no_port_twice() {
    let mut svc = service(Mode::FullNat, IpProto::UDP);
    svc.local_addrs.truncate(1);
    svc.backends.truncate(1);
    svc.local_ports = (40000, 40009);
    svc.timeouts = Some(Timeouts {
        udp: 1000,
        ..Timeouts::default()
    });
    let mut cfg = config(vec![svc]);
    let mut p = pipeline(&cfg);
    let flow = |port| udp((ROUTER, OURS), CIP, VIP, (port, 80));
    let flows: Vec<_> = (1..=6).map(flow).collect();
    let out = run(&mut p, &flows, 0);
    let old: HashSet<u16> = out.iter().map(|f| seen(f).ports.0).collect();
    assert_eq!(old.len(), 6);

    // 40005..=40009 stay in the range, so those of them that are held must
    // not be handed out again.
    cfg.services[0].local_ports = (40005, 40019);
    adopt(&mut p, &cfg, &FlushRequest::default());
    let flows: Vec<_> = (100..140).map(flow).collect();
    let out = run(&mut p, &flows, 0);
    let held_in_range = old.iter().filter(|&&port| port >= 40005).count();
    assert_eq!(out.len(), 15 - held_in_range);
    assert_eq!(drops(&p, DropReason::PortsExhausted), 40 - out.len() as u64);
    let mut live = HashSet::new();
    for (_, s) in p.path.flow.sessions().iter() {
        let local = (s.outbound().dst, s.outbound().dst_port);
        assert!(live.insert(local), "{local:?} is held twice");
    }
    assert_eq!(live.len(), 6 + out.len());
    assert!(out
        .iter()
        .all(|f| (40005..=40019).contains(&seen(f).ports.0)));

    // Once every session is gone the whole new range is free again.
    run(&mut p, &[], 10_000);
    assert!(p.path.flow.sessions().is_empty());
    let flows: Vec<_> = (200..240).map(flow).collect();
    let out = run(&mut p, &flows, 10_000);
    assert_eq!(out.len(), 15);
}

#[test]
fn a_replacing_service_works_around_ports_its_predecessor_still_holds() {
    let mut svc = service(Mode::FullNat, IpProto::UDP);
    svc.backends.truncate(1);
    svc.local_ports = (40000, 40007);
    let mut cfg = config(vec![svc]);
    let mut p = pipeline(&cfg);
    let flow = |port| udp((ROUTER, OURS), CIP, VIP, (port, 80));
    let flows: Vec<_> = (1..=6).map(flow).collect();
    let out = run(&mut p, &flows, 0);
    let lip0 = [10, 0, 1, 100];
    let held = out.iter().filter(|f| seen(f).src == lip0).count();
    assert_eq!(held, 3, "flows alternate between the two local addresses");

    // Fewer local addresses: a new service (id 1) whose fresh pool knows
    // nothing of the ports the draining one holds on the first address.
    cfg.services[0].local_addrs.truncate(1);
    adopt(&mut p, &cfg, &FlushRequest::default());
    assert_eq!(
        p.tables().service_index.by_key(&ServiceKey {
            proto: IpProto::UDP,
            vip: ip(VIP).into(),
            port: 80
        }),
        Some(1)
    );
    let free = 8 - held;
    let flows: Vec<_> = (100..100 + free as u16).map(flow).collect();
    let out = run(&mut p, &flows, 0);
    let clients: Vec<u16> = out.iter().map(|f| seen(f).ports.0).collect();
    assert_eq!(out.len(), free, "each flow found a free port: {clients:?}");
    let mut locals = HashSet::new();
    for (_, s) in p.path.flow.sessions().iter() {
        assert!(locals.insert(*s.outbound()), "{:?} twice", s.outbound());
    }
    assert_eq!(p.session_counts().services, vec![6, free as u64]);
}

#[test]
fn a_worker_may_skip_generations() {
    let mut cfg = config(vec![service(Mode::Nat, IpProto::TCP)]);
    let mut p = pipeline(&cfg);
    let client = |sport, flags| tcp((ROUTER, OURS), (CIP, VIP), (sport, 80), flags, 64, b"");
    let out = run(&mut p, &[client(40000, SYN), client(40001, SYN)], 0);
    assert_eq!(seen(&out[1]).dst, RIP2);
    let gen1 = Arc::clone(p.tables());

    // Generation 2 deletes RIP1 with flush; 3 adds a UDP service. The worker
    // goes from 1 to 3 directly.
    cfg.services[0].backends.remove(0);
    let flush = FlushRequest {
        backends: vec![(key(), ip(RIP1).into(), 8080)],
        ..FlushRequest::default()
    };
    let gen2 = LbTables::build_next(&cfg, &gen1, &flush).expect("builds");
    let mut dns = service(Mode::Nat, IpProto::UDP);
    dns.port = 53;
    cfg.services.push(dns);
    let gen3 = LbTables::build_next(&cfg, &gen2, &FlushRequest::default()).expect("builds");
    p.adopt(Arc::new(gen3), 0);

    assert_eq!(p.counters().events.sessions_flushed, 1);
    let out = run(
        &mut p,
        &[
            client(40000, ACK),
            client(40001, ACK),
            udp((ROUTER, OURS), CIP, VIP, (5353, 53)),
        ],
        0,
    );
    assert_eq!(out.len(), 2);
    assert_eq!(seen(&out[0]).dst, RIP2);
    assert_eq!(seen(&out[1]).ports, (5353, 8080));
    assert_eq!(drops(&p, DropReason::NoSession), 1);
    let c = p.counters();
    assert_eq!((c.services.len(), c.backends.len()), (2, 4));
    assert_eq!(c.services[1].conns, 1);
    assert_eq!(p.session_counts(), walked(&p));
}

#[test]
fn live_session_counts_are_kept_without_walking_the_table() {
    let mut tcp_svc = service(Mode::Nat, IpProto::TCP);
    tcp_svc.persistence = Some(Persistence {
        timeout_ms: 60_000,
        prefix_len: 32,
    });
    let mut udp_svc = service(Mode::FullNat, IpProto::UDP);
    udp_svc.port = 53;
    udp_svc.local_ports = (40000, 40100);
    let mut cfg = config(vec![tcp_svc, udp_svc]);
    cfg.neighbours
        .push((Ipv4Addr::new(10, 0, 1, 50), MacAddr(RS1)));
    cfg.snat.push(SnatSpec {
        source: (Ipv4Addr::new(10, 0, 1, 0).into(), 24),
        port: 0,
        addrs: vec![Ipv4Addr::new(203, 0, 113, 1)],
        addrs6: vec![],
        ports: (50000, 50100),
    });
    let mut p = pipeline(&cfg);
    let client = |src, sport, flags| tcp((ROUTER, OURS), (src, VIP), (sport, 80), flags, 64, b"");
    let other = [198, 51, 100, 8];
    let mut frames = vec![
        // Established through RIP1 (the client's persistence template too).
        client(CIP, 40000, SYN),
        tcp((RS1, OURS), (RIP1, CIP), (8080, 40000), SYN | ACK, 64, b""),
        client(CIP, 40000, ACK),
        // Only a SYN: inactive, and on RIP1 again by persistence.
        client(CIP, 40001, SYN),
        // Another client: RIP2, inactive.
        client(other, 40000, SYN),
        udp((RS1, OURS), [10, 0, 1, 50], [8, 8, 8, 8], (5555, 53)),
    ];
    frames.extend((0..3).map(|i| udp((ROUTER, OURS), CIP, VIP, (1000 + i, 53))));
    run(&mut p, &frames, 0);
    let counts = p.session_counts();
    assert_eq!(counts, walked(&p));
    assert_eq!(counts.services, vec![3, 3]);
    assert_eq!(
        counts.backends[..2],
        [
            BackendSessions {
                active: 1,
                inactive: 1
            },
            BackendSessions {
                active: 0,
                inactive: 1
            }
        ]
    );
    assert_eq!(counts.snat, vec![1]);
    assert!(
        p.path.flow.sessions().len() > 8,
        "templates are in the table"
    );
    let stats = p.stats(7);
    assert_eq!(stats.generation, 7);
    assert_eq!(stats.sessions, counts);
    assert_eq!(stats.table_used, p.path.flow.sessions().len());
    assert_eq!(stats.counters.services[1].conns, 3);

    // SYN_RECV ends after 30 s, UDP after 300 s; the established one stays.
    run(&mut p, &[], 31_000);
    assert_eq!(p.session_counts(), walked(&p));
    assert_eq!(p.session_counts().services, vec![1, 3]);
    run(&mut p, &[], 301_000);
    let counts = p.session_counts();
    assert_eq!(counts, walked(&p));
    assert_eq!(
        (counts.services.clone(), counts.snat.clone()),
        (vec![1, 0], vec![0])
    );

    // A flushed service's sessions leave the counts too.
    cfg.services.remove(0);
    let flush = FlushRequest {
        services: vec![key()],
        ..FlushRequest::default()
    };
    adopt(&mut p, &cfg, &flush);
    assert_eq!(p.session_counts(), walked(&p));
    assert_eq!(p.session_counts().services, vec![0, 0]);
    assert_eq!(p.counters().events.sessions_flushed, 1);
}

#[test]
fn new_static_neighbours_take_effect_and_learned_ones_stay() {
    let mut cfg = config(vec![service(Mode::Nat, IpProto::UDP)]);
    cfg.neighbours
        .retain(|(a, _)| *a != ip(RIP1) && *a != ip(RIP2));
    let mut p = pipeline(&cfg);
    let flow = |port| udp((ROUTER, OURS), CIP, VIP, (port, 80));
    let learned = arp_frame(2, (RS2, RIP2), (OURS, [10, 0, 1, 1]));
    // Both flows wait for their backend's MAC (two ARP requests); RIP2
    // answers, so flow 2 goes out and RIP2 is learned.
    let out = run(&mut p, &[flow(1), flow(2), learned], 0);
    assert_eq!(out.len(), 3, "two ARP requests and flow 2");
    assert_eq!(seen(&out[2]).macs.1, RS2);
    let static_mac = MacAddr([0x02, 0, 0, 0, 1, 0x99]);
    cfg.neighbours.push((ip(RIP1), static_mac));
    adopt(&mut p, &cfg, &FlushRequest::default());
    let out = run(&mut p, &[flow(3), flow(2)], 0);
    assert_eq!(
        seen(&out[0]).macs.1,
        static_mac.0,
        "the static entry is used"
    );
    assert_eq!(seen(&out[1]).macs.1, RS2, "the learned entry stays");
}

/// The hop cache holds what the old tables resolved; a switch must not
/// keep using it.
#[test]
fn a_static_neighbour_moved_by_a_change_is_used_at_once() {
    let mut cfg = config(vec![service(Mode::Nat, IpProto::UDP)]);
    let mut p = pipeline(&cfg);
    let flow = || udp((ROUTER, OURS), CIP, VIP, (1, 80));
    let out = run(&mut p, &[flow()], 0);
    assert_eq!(seen(&out[0]).macs.1, RS1);
    let moved = MacAddr([0x02, 0, 0, 0, 1, 0x99]);
    for n in cfg.neighbours.iter_mut().filter(|n| n.0 == ip(RIP1)) {
        n.1 = moved;
    }
    adopt(&mut p, &cfg, &FlushRequest::default());
    let out = run(&mut p, &[flow()], 1);
    assert_eq!(seen(&out[0]).macs.1, moved.0);
}

#[test]
fn a_drained_retired_service_gives_up_its_port_pool() {
    let mut svc = service(Mode::FullNat, IpProto::UDP);
    svc.timeouts = Some(Timeouts {
        udp: 1000,
        ..Timeouts::default()
    });
    let mut cfg = config(vec![svc]);
    let mut p = pipeline(&cfg);
    run(&mut p, &[udp((ROUTER, OURS), CIP, VIP, (1, 80))], 0);
    cfg.services.clear();
    adopt(&mut p, &cfg, &FlushRequest::default());
    assert!(
        p.path.flow.pool(Origin::Service(0)).is_some(),
        "its session still holds a port"
    );
    run(&mut p, &[], 5_000);
    adopt(&mut p, &cfg, &FlushRequest::default());
    assert!(p.path.flow.pool(Origin::Service(0)).is_none());
    assert_eq!(p.session_counts(), walked(&p));
}

/// One step of the property test below.
#[derive(Clone, Debug)]
enum Edit {
    /// Flows from client port `n` to each service, and a SNAT flow.
    Traffic(u16),
    /// Replies of every live NAT/FULLNAT session, then the clients' ACKs.
    Replies,
    Weight(usize, usize, u32),
    AddBackend(usize, u8),
    DeleteBackend(usize, usize, bool),
    DeleteService(usize, bool),
    RestoreService(usize),
    ToggleMode,
    PortRange(u16, u16),
    SnatRange(u16),
    /// Build the next tables but let the worker adopt them later.
    Skip,
    Time(u16),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => any::<u16>().prop_map(|n| Edit::Traffic(n % 64)),
        2 => Just(Edit::Replies),
        1 => (0..2usize, 0..4usize, 0..3u32).prop_map(|(s, b, w)| Edit::Weight(s, b, w)),
        2 => (0..2usize, 11..16u8).prop_map(|(s, a)| Edit::AddBackend(s, a)),
        2 => (0..2usize, 0..4usize, any::<bool>()).prop_map(|(s, b, f)| Edit::DeleteBackend(s, b, f)),
        1 => (0..2usize, any::<bool>()).prop_map(|(s, f)| Edit::DeleteService(s, f)),
        1 => (0..2usize).prop_map(Edit::RestoreService),
        1 => Just(Edit::ToggleMode),
        1 => (0..6u16, 1..12u16).prop_map(|(lo, n)| Edit::PortRange(40000 + lo, 40000 + lo + n)),
        1 => (0..6u16).prop_map(Edit::SnatRange),
        1 => Just(Edit::Skip),
        1 => any::<u16>().prop_map(|t| Edit::Time(t % 40_000)),
    ]
}

/// The two services the property test edits: NAT TCP on 80, FULLNAT UDP
/// on 53.
fn base_services() -> Vec<ServiceSpec> {
    let tcp_svc = service(Mode::Nat, IpProto::TCP);
    let mut udp_svc = service(Mode::FullNat, IpProto::UDP);
    udp_svc.port = 53;
    udp_svc.local_ports = (40000, 40007);
    vec![tcp_svc, udp_svc]
}

/// Every session names a service (or SNAT rule) and backend the tables
/// have and that are not flushed; no local port is held twice; the kept
/// counts equal a walk.
fn check(p: &Pipeline<TestBuf>) -> Result<(), TestCaseError> {
    let t = p.tables();
    let mut locals = HashSet::new();
    for (_, s) in p.path.flow.sessions().iter() {
        match s.origin() {
            Origin::Snat(rule) => prop_assert!((rule as usize) < t.snat.len()),
            Origin::Service(id) => {
                let svc = t.services.get(id as usize);
                prop_assert!(svc.is_some_and(|x| !x.state.is_flushed()));
                let b = t.backends.get(s.backend as usize);
                prop_assert!(b.is_some_and(|b| !b.state.is_flushed() && b.service == id));
            }
        }
        if s.holds_local_port() {
            let o = s.outbound();
            prop_assert!(locals.insert(*o), "{:?} twice", o);
        }
    }
    prop_assert_eq!(p.session_counts(), walked(p));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Config edits in any order, adopted at once or generations later,
    /// between bursts of traffic: no panic, and `check` holds throughout.
    #[test]
    fn config_edits_and_traffic_keep_sessions_pointing_into_the_tables(
        edits in proptest::collection::vec(edit(), 1..40),
    ) {
        let mut cfg = config(base_services());
        for last in 11..16u8 {
            cfg.neighbours.push((Ipv4Addr::new(10, 0, 1, last), MacAddr(RS1)));
        }
        cfg.neighbours.push((Ipv4Addr::new(10, 0, 1, 50), MacAddr(RS1)));
        cfg.snat.push(SnatSpec {
            source: (Ipv4Addr::new(10, 0, 1, 0).into(), 24),
            port: 0,
            addrs: vec![Ipv4Addr::new(203, 0, 113, 1)],
            addrs6: vec![],
            ports: (50000, 50003),
        });
        let mut p = pipeline(&cfg);
        let mut pending: Option<Arc<LbTables>> = None;
        let mut now = 0u64;
        for e in edits {
            let mut flush = FlushRequest::default();
            let mut skip = false;
            match e {
                Edit::Traffic(n) => {
                    let frames = vec![
                        tcp((ROUTER, OURS), (CIP, VIP), (1000 + n, 80), SYN, 64, b""),
                        udp((ROUTER, OURS), CIP, VIP, (1000 + n, 53)),
                        udp((RS1, OURS), [10, 0, 1, 50], [8, 8, 8, 8], (1000 + n, 53)),
                    ];
                    run(&mut p, &frames, now);
                    check(&p)?;
                    continue;
                }
                Edit::Replies => {
                    let mut frames = Vec::new();
                    for (_, s) in p.path.flow.sessions().iter() {
                        let (i, o) = (s.inbound(), s.outbound());
                        if s.flags() & session_flags::SINGLE != 0 || matches!(s.origin(), Origin::Snat(_)) {
                            continue;
                        }
                        let reply = if o.proto == IpProto::TCP {
                            tcp((RS1, OURS), (o.src.octets(), o.dst.octets()), (o.src_port, o.dst_port), SYN | ACK, 64, b"")
                        } else {
                            udp((RS1, OURS), o.src.octets(), o.dst.octets(), (o.src_port, o.dst_port))
                        };
                        frames.push(reply);
                        if i.proto == IpProto::TCP {
                            frames.push(tcp((ROUTER, OURS), (i.src.octets(), i.dst.octets()), (i.src_port, i.dst_port), ACK, 64, b""));
                        }
                    }
                    run(&mut p, &frames, now);
                    check(&p)?;
                    continue;
                }
                Edit::Time(dt) => {
                    now += u64::from(dt);
                    run(&mut p, &[], now);
                    check(&p)?;
                    continue;
                }
                Edit::Weight(s, b, w) => {
                    if let Some(b) = cfg.services.get_mut(s).and_then(|s| s.backends.get_mut(b)) {
                        b.weight = w;
                    }
                }
                Edit::AddBackend(s, last) => {
                    if let Some(svc) = cfg.services.get_mut(s) {
                        let addr = Ipv4Addr::new(10, 0, 1, last);
                        if !svc.backends.iter().any(|b| b.addr == addr) {
                            svc.backends.push(BackendSpec { addr: addr.into(), port: 8080, weight: 1, u_threshold: 0, l_threshold: 0 });
                        }
                    }
                }
                Edit::DeleteBackend(s, b, f) => {
                    if let Some(svc) = cfg.services.get_mut(s) {
                        if b < svc.backends.len() {
                            let gone = svc.backends.remove(b);
                            if f {
                                flush.backends.push((svc.key(), gone.addr, gone.port));
                            }
                        }
                    }
                }
                Edit::DeleteService(s, f) => {
                    if s < cfg.services.len() {
                        let gone = cfg.services.remove(s);
                        if f {
                            flush.services.push(gone.key());
                        }
                    }
                }
                Edit::RestoreService(s) => {
                    let svc = base_services().swap_remove(s);
                    if !cfg.services.iter().any(|x| x.proto == svc.proto && x.port == svc.port) {
                        cfg.services.push(svc);
                    }
                }
                Edit::ToggleMode => {
                    if let Some(svc) = cfg.services.iter_mut().find(|s| s.proto == IpProto::TCP) {
                        if svc.mode == Mode::Nat {
                            svc.mode = Mode::FullNat;
                            svc.local_addrs = vec![Ipv4Addr::new(10, 0, 1, 100)];
                        } else {
                            svc.mode = Mode::Nat;
                            svc.local_addrs.clear();
                        }
                    }
                }
                Edit::PortRange(lo, hi) => {
                    for svc in cfg.services.iter_mut().filter(|s| s.mode == Mode::FullNat) {
                        svc.local_ports = (lo, hi);
                    }
                }
                Edit::SnatRange(lo) => {
                    cfg.snat[0].ports = (50000 + lo, 50003 + lo);
                }
                Edit::Skip => skip = true,
            }
            let prev = pending.clone().unwrap_or_else(|| Arc::clone(p.tables()));
            let next = Arc::new(LbTables::build_next(&cfg, &prev, &flush).expect("builds"));
            if skip {
                pending = Some(next);
            } else {
                pending = None;
                p.adopt(next, now);
            }
            check(&p)?;
        }
    }
}
