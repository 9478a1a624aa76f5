//! The poll loops on in-memory ports: forwarding, the pipeline with live
//! tables and its mailbox, and the busy-cycle count.

use super::*;
use crate::io::MemoryIo;
use crate::l2fwd::{ForwardMode, Topology};
use std::sync::Arc;

fn frames(port: u8, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut f = vec![0u8; 60];
            f[0] = port;
            f[6] = 0xee;
            f[14..22].copy_from_slice(&(i as u64).to_be_bytes());
            f
        })
        .collect()
}

/// Runs the loop on its own thread until every worker input is drained.
fn run(io: &mut MemoryIo, plan: &ForwardPlan) -> WorkerStats {
    let shared = Arc::new(WorkerShared::default());
    std::thread::scope(|s| {
        let sh = Arc::clone(&shared);
        s.spawn(move || run_forwarding(io, plan, &sh, Some(Duration::from_millis(20))));
        while !shared.counters.idle.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(5));
        }
        shared.stop.store(true, Ordering::Relaxed);
    });
    shared.counters.snapshot()
}

#[test]
fn paired_io_forwards_every_frame_in_order_to_the_peer() {
    let (a, b) = (frames(0, 100), frames(1, 70));
    let mut io = MemoryIo::new(vec![a.clone(), b.clone()]);
    let plan = ForwardPlan::new(ForwardMode::Io, Topology::Paired, 2).expect("plan");
    let stats = run(&mut io, &plan);
    assert_eq!(io.sent_frames(1), a);
    assert_eq!(io.sent_frames(0), b);
    assert_eq!(stats.rx_packets, 170);
    assert_eq!(stats.tx_packets, 170);
    assert_eq!(stats.tx_dropped, 0);
    // 100 frames take 4 bursts of 32, 70 take 3.
    assert_eq!(stats.rx_bursts, 7);
}

#[test]
fn frames_the_tx_queue_refuses_are_counted_as_dropped() {
    let mut io = MemoryIo::new(vec![frames(0, 64)]);
    io.tx_limit = Some(30);
    let plan = ForwardPlan::new(ForwardMode::MacSwap, Topology::Loop, 1).expect("plan");
    let stats = run(&mut io, &plan);
    assert_eq!(stats.rx_packets, 64);
    assert_eq!(stats.tx_packets, 60);
    assert_eq!(stats.tx_dropped, 4);
    let sent = io.sent_frames(0);
    assert_eq!(sent.len(), 60);
    assert!(
        sent.iter().all(|f| f[6] == 0 && f[0] == 0xee),
        "MACs swapped"
    );
}

mod live {
    //! The pipeline loop with live tables and the mailbox.

    use super::super::*;
    use crate::buf::TestBuf;
    use crate::io::MemoryIo;
    use crate::pipeline::tests::*;
    use crate::tables::{FlushRequest, LbConfig, LbTables, Mode, ServiceKey, SnatSpec};
    use crate::tuple::IpProto;
    use crate::wire::ethernet::MacAddr;
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    /// Generous: only a broken worker takes this long.
    const PATIENCE: Duration = Duration::from_secs(20);

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < PATIENCE, "waited too long for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Answers one question on this thread, a poll at a time; returns
    /// the answer and how many polls it took.
    fn answer(p: &mut Pipeline<TestBuf>, query: Query) -> (Answer, usize) {
        let shared = WorkerShared::default();
        let (reply, answer) = crossbeam_channel::bounded(1);
        let request = Request {
            query,
            reply,
            deadline: None,
        };
        assert!(shared.mailbox.tx.send(request).is_ok());
        let mut answering = Answering::default();
        for polls in 1..1000 {
            answering.serve(&shared.mailbox, p, 1, 0);
            if let Ok(a) = answer.try_recv() {
                return (a, polls);
            }
        }
        panic!("no answer");
    }

    fn list(
        p: &mut Pipeline<TestBuf>,
        filter: SessionFilter,
        limit: usize,
    ) -> (Vec<SessionView>, bool) {
        match answer(p, Query::Sessions { filter, limit }).0 {
            Answer::Sessions(v, more) => (v, more),
            other => panic!("{other:?}"),
        }
    }

    fn key(proto: IpProto, port: u16) -> ServiceKey {
        ServiceKey {
            proto,
            vip: ip(VIP).into(),
            port,
        }
    }

    /// NAT TCP on 80 and UDP on 53, a SNAT rule, and sessions of each:
    /// CIP:40000 -> RIP1, CIP:40001 -> RIP2, OTHER:40000 -> RIP1 (TCP,
    /// SYN only), CIP:5000 -> RIP1 (UDP), 10.0.1.50:5555 -> 8.8.8.8:53.
    fn busy(capacity: usize) -> (LbConfig, Pipeline<TestBuf>) {
        let mut dns = service(Mode::Nat, IpProto::UDP);
        dns.port = 53;
        let mut cfg = config(vec![service(Mode::Nat, IpProto::TCP), dns]);
        cfg.sessions.capacity = capacity;
        cfg.neighbours
            .push((Ipv4Addr::new(10, 0, 1, 50), MacAddr(RS1)));
        cfg.snat.push(SnatSpec {
            source: (Ipv4Addr::new(10, 0, 1, 0).into(), 24),
            port: 0,
            addrs: vec![Ipv4Addr::new(203, 0, 113, 1)],
            addrs6: vec![],
            ports: (50000, 50000),
        });
        let mut p = pipeline(&cfg);
        let syn = |src, sport| tcp((ROUTER, OURS), (src, VIP), (sport, 80), SYN, 64, b"");
        let out = run(
            &mut p,
            &[
                syn(CIP, 40000),
                syn(CIP, 40001),
                syn(OTHER, 40000),
                udp((ROUTER, OURS), CIP, VIP, (5000, 53)),
                udp((RS1, OURS), [10, 0, 1, 50], [8, 8, 8, 8], (5555, 53)),
            ],
            0,
        );
        assert_eq!(out.len(), 5);
        (cfg, p)
    }

    const OTHER: [u8; 4] = [198, 51, 100, 8];

    #[test]
    fn session_listings_filter_limit_and_say_when_more_matched() {
        let (_, mut p) = busy(1024);
        let (all, more) = list(&mut p, SessionFilter::default(), 100);
        assert_eq!((all.len(), more), (5, false));
        let first = SessionView {
            proto: 6,
            service: Some(key(IpProto::TCP, 80)),
            snat_rule: None,
            client: (ip(CIP).into(), 40000),
            destination: (ip(VIP).into(), 80),
            local: None,
            backend: (ip(RIP1).into(), 8080),
            state: "SYN_RECV",
            expires_in_ms: 30_000,
        };
        assert!(all.contains(&first), "{all:?}");
        let snat = SessionView {
            proto: 17,
            service: None,
            snat_rule: Some(0),
            client: (Ipv4Addr::new(10, 0, 1, 50).into(), 5555),
            destination: (Ipv4Addr::new(8, 8, 8, 8).into(), 53),
            local: Some((Ipv4Addr::new(203, 0, 113, 1).into(), 50000)),
            backend: (Ipv4Addr::new(8, 8, 8, 8).into(), 53),
            state: "UDP",
            expires_in_ms: 300_000,
        };
        assert!(all.contains(&snat), "{all:?}");

        let mut clients = |filter: SessionFilter| -> Vec<(Ipv4Addr, u16)> {
            let mut c: Vec<_> = list(&mut p, filter, 100)
                .0
                .iter()
                .map(|v| match v.client {
                    (std::net::IpAddr::V4(a), p) => (a, p),
                    other => panic!("an IPv4 client: {other:?}"),
                })
                .collect();
            c.sort();
            c
        };
        let tcp_service = SessionFilter {
            service: Some(key(IpProto::TCP, 80)),
            ..SessionFilter::default()
        };
        assert_eq!(
            clients(tcp_service.clone()),
            vec![(ip(CIP), 40000), (ip(CIP), 40001), (ip(OTHER), 40000)]
        );
        let to_rip2 = SessionFilter {
            backend: Some(ip(RIP2).into()),
            ..SessionFilter::default()
        };
        assert_eq!(clients(to_rip2), vec![(ip(CIP), 40001)]);
        let from_cip_tcp = SessionFilter {
            client: Some(ip(CIP).into()),
            proto: Some(IpProto::TCP),
            ..SessionFilter::default()
        };
        assert_eq!(
            clients(from_cip_tcp),
            vec![(ip(CIP), 40000), (ip(CIP), 40001)]
        );
        let udp = SessionFilter {
            proto: Some(IpProto::UDP),
            ..SessionFilter::default()
        };
        assert_eq!(
            clients(udp),
            vec![(Ipv4Addr::new(10, 0, 1, 50), 5555), (ip(CIP), 5000)]
        );

        let (some, more) = list(&mut p, tcp_service.clone(), 2);
        assert_eq!((some.len(), more), (2, true));
        let (exact, more) = list(&mut p, tcp_service, 3);
        assert_eq!((exact.len(), more), (3, false));
        let (none, more) = list(&mut p, SessionFilter::default(), 0);
        assert_eq!((none.len(), more), (0, true));
    }

    #[test]
    fn zero_resets_the_flow_counters_of_one_service_or_all() {
        let (_, mut p) = busy(1024);
        let stats = |p: &mut Pipeline<TestBuf>| match answer(p, Query::Stats).0 {
            Answer::Stats(s) => s.counters,
            other => panic!("{other:?}"),
        };
        let before = stats(&mut p);
        let conns = |c: &crate::pipeline::counters::LbCounters| -> Vec<u64> {
            c.services.iter().map(|f| f.conns).collect()
        };
        assert_eq!(conns(&before), [3, 1], "3 TCP, 1 UDP connections");
        assert!(before.backends.iter().any(|b| b.conns > 0));
        let drops: Vec<_> = before.drops.iter().collect();
        // One service: its counters and its backends'; the other stays.
        let tcp = Some(key(IpProto::TCP, 80));
        assert!(matches!(
            answer(&mut p, Query::Zero { service: tcp }).0,
            Answer::Zeroed
        ));
        let after = stats(&mut p);
        assert_eq!(conns(&after), [0, 1]);
        assert_eq!(after.services[0].packets_in, 0);
        assert_eq!(after.backends.iter().map(|b| b.conns).sum::<u64>(), 1);
        assert_eq!(after.drops.iter().collect::<Vec<_>>(), drops, "drops stay");
        // All.
        answer(&mut p, Query::Zero { service: None });
        let zero = stats(&mut p);
        assert_eq!(conns(&zero), [0, 0]);
        assert!(zero.backends.iter().chain(&zero.snat).all(|f| f.conns == 0));
        assert!(zero.snat.iter().all(|f| f.packets_in == 0));
    }

    #[test]
    fn a_listing_walks_the_table_a_slice_per_poll() {
        let capacity = 3 * LIST_SLOTS_PER_POLL + 100;
        let (_, mut p) = busy(capacity);
        let (a, polls) = answer(
            &mut p,
            Query::Sessions {
                filter: SessionFilter::default(),
                limit: 100,
            },
        );
        assert!(matches!(a, Answer::Sessions(ref v, false) if v.len() == 5));
        assert_eq!(
            polls, 4,
            "each poll visits at most {LIST_SLOTS_PER_POLL} slots"
        );
        // Enough matches end the walk early.
        let (_, polls) = answer(
            &mut p,
            Query::Sessions {
                filter: SessionFilter::default(),
                limit: 1,
            },
        );
        assert_eq!(polls, 1);
    }

    #[test]
    fn ask_gives_up_when_nobody_serves_the_mailbox() {
        let shared = WorkerShared::default();
        assert!(shared
            .ask(Query::Stats, Duration::from_millis(20))
            .is_none());
        // More questions than the mailbox holds: the rest wait, then give up.
        for _ in 0..MAILBOX_CAPACITY + 2 {
            assert!(shared.ask(Query::Stats, Duration::from_millis(1)).is_none());
        }
        assert_eq!(shared.generation.load(Ordering::Relaxed), 0);
    }

    /// A clock that moves 100 ticks at every read, 1000 to the ms.
    struct StepClock(u64);

    impl Clock for StepClock {
        fn ticks(&mut self) -> u64 {
            self.0 += 100;
            self.0
        }
        fn ticks_per_ms(&self) -> u64 {
            1000
        }
    }

    #[test]
    fn busy_time_counts_the_polls_with_packets_only() {
        let (cfg, mut p) = busy(1024);
        let tables = Arc::new(LbTables::build(&cfg).expect("builds"));
        p.adopt(Arc::clone(&tables), 0);
        let live = LiveTables::new(tables);
        let shared = WorkerShared::default();
        // 40 frames: a burst of 32 and one of 8, whatever becomes of
        // them (these are not even IPv4).
        let mut io = MemoryIo::new(vec![super::frames(0, 40)]);
        let mut clock = StepClock(0);
        std::thread::scope(|scope| {
            let (io, p, shared_w, live_w, clock) = (&mut io, &mut p, &shared, &live, &mut clock);
            scope.spawn(move || {
                run_pipeline(
                    io,
                    p,
                    shared_w,
                    live_w,
                    clock,
                    Some(Duration::from_millis(20)),
                )
            });
            wait_for("idle", || shared.counters.idle.load(Ordering::Relaxed));
            shared.stop.store(true, Ordering::Relaxed);
        });
        let stats = shared.counters.snapshot();
        assert_eq!(stats.rx_packets, 40);
        assert_eq!(stats.rx_bursts, 2);
        // Each poll reads the clock at its start; the two with packets
        // read it again at their end, 100 ticks later.
        assert_eq!(stats.busy_ticks, 200);
        assert_eq!(stats.ticks_per_second, 1_000_000);
        // Every other poll moved the clock too: the idle wait took many,
        // so the busy share is under a tenth.
        assert!(stats.ticks > 10 * stats.busy_ticks, "{stats:?}");
    }

    #[test]
    fn a_running_pipeline_adopts_new_tables_and_answers_questions() {
        let (mut cfg, mut p) = busy(1024);
        // RIP2 is learned by ARP rather than configured.
        cfg.neighbours.retain(|(a, _)| *a != ip(RIP2));
        let tables = Arc::new(LbTables::build(&cfg).expect("builds"));
        p.adopt(Arc::clone(&tables), 0);
        let arp_reply = arp_frame(2, (RS2, RIP2), (OURS, [10, 0, 1, 1]));
        run(&mut p, &[arp_reply], 0);
        let live = LiveTables::new(tables);
        let shared = WorkerShared::default();
        let mut io = MemoryIo::new(vec![Vec::new()]);
        std::thread::scope(|scope| {
            let (io, p, shared_w, live_w) = (&mut io, &mut p, &shared, &live);
            scope.spawn(move || {
                let mut clock = SystemClock(Instant::now());
                run_pipeline(io, p, shared_w, live_w, &mut clock, None)
            });
            wait_for("generation 1", || {
                shared.generation.load(Ordering::Acquire) == 1
            });

            let Some(Answer::Stats(stats)) = shared.ask(Query::Stats, PATIENCE) else {
                panic!("stats");
            };
            assert_eq!(stats.generation, 1);
            assert_eq!(stats.sessions.services, vec![3, 1]);
            assert_eq!(stats.sessions.snat, vec![1]);
            assert_eq!(stats.sessions.backends[1].inactive, 1);
            assert_eq!(stats.counters.services[0].conns, 3);

            let Some(Answer::Sessions(list, false)) = shared.ask(
                Query::Sessions {
                    filter: SessionFilter {
                        client: Some(ip(OTHER).into()),
                        ..SessionFilter::default()
                    },
                    limit: 10,
                },
                PATIENCE,
            ) else {
                panic!("sessions");
            };
            assert_eq!(list.len(), 1);
            assert_eq!(list[0].backend, (ip(RIP1).into(), 8080));

            let Some(Answer::Neighbours(n)) = shared.ask(Query::Neighbours, PATIENCE) else {
                panic!("neighbours");
            };
            assert_eq!(
                n,
                vec![NeighbourView {
                    addr: ip(RIP2).into(),
                    mac: Some(MacAddr(RS2)),
                    state: "reachable",
                }]
            );

            // Generation 2 deletes RIP1 and flushes its sessions.
            cfg.services[0].backends.remove(0);
            let flush = FlushRequest {
                backends: vec![(key(IpProto::TCP, 80), ip(RIP1).into(), 8080)],
                ..FlushRequest::default()
            };
            let next = LbTables::build_next(&cfg, &live.current(), &flush).expect("builds");
            assert_eq!(live.publish(Arc::new(next)), 2);
            wait_for("generation 2", || {
                shared.generation.load(Ordering::Acquire) == 2
            });
            let Some(Answer::Stats(stats)) = shared.ask(Query::Stats, PATIENCE) else {
                panic!("stats");
            };
            assert_eq!(stats.generation, 2);
            assert_eq!(stats.counters.events.sessions_flushed, 2);
            assert_eq!(stats.sessions.services, vec![1, 1]);
            assert_eq!(stats.counters.services[0].conns, 3, "kept by id");
            shared.stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(shared.generation.load(Ordering::Relaxed), 0);
        assert_eq!(
            p.tables().backends[0].state,
            crate::tables::Lifecycle::Flushed
        );
    }
}
