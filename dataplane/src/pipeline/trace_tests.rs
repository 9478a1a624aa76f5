//! Trace and capture on the in-memory pipeline: every mode's steps, every
//! refused packet's drop reason equal to the counter it lands in, the
//! filter and the budget, and capture copies equal to the frames.

use std::sync::atomic::AtomicU32;

use crossbeam_channel::Receiver;
use ferrolb_types::filter::{Filter, FilterProgram, Side};

use super::tests::*;
use super::*;
use crate::tables::Mode;
use crate::watch::{CaptureCopy, CaptureSpec, Direction, TraceRecord, TraceSpec, TraceStep};

fn arm_trace(
    p: &mut Pipeline<crate::buf::TestBuf>,
    filter: FilterProgram,
    n: u32,
) -> Receiver<TraceRecord> {
    let (out, records) = crossbeam_channel::bounded(64);
    p.arm_watch(WatchSpec {
        trace: Some(Arc::new(TraceSpec {
            filter,
            port: None,
            budget: AtomicU32::new(n),
            out,
            lost: Default::default(),
        })),
        capture: None,
    });
    records
}

fn steps(p: &Pipeline<crate::buf::TestBuf>, r: &TraceRecord) -> Vec<(String, String)> {
    r.report(&p.tables)
        .into_iter()
        .map(|s| (s.step.to_string(), s.detail))
        .collect()
}

fn names(p: &Pipeline<crate::buf::TestBuf>, r: &TraceRecord) -> Vec<String> {
    steps(p, r).into_iter().map(|(s, _)| s).collect()
}

#[test]
fn a_new_flow_and_its_next_packet_are_followed_in_every_mode() {
    for (mode, after) in [
        (Mode::Dr, "tcp 198.51.100.7:40000 -> 192.0.2.10:80"),
        (Mode::Tun, "ipip 10.0.1.1:0 -> 10.0.1.11:0"),
        (Mode::Nat, "tcp 198.51.100.7:40000 -> 10.0.1.11:8080"),
        (Mode::FullNat, "tcp 10.0.1.100:40000 -> 10.0.1.11:8080"),
    ] {
        let mut p = pipeline(&config(vec![service(mode, IpProto::TCP)]));
        let records = arm_trace(&mut p, FilterProgram::all(), 2);
        let syn = tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b"");
        let ack = tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), ACK, 64, b"");
        let out = run(&mut p, &[syn, ack], 0);
        assert_eq!(out.len(), 2, "{mode:?}");
        let got: Vec<TraceRecord> = records.try_iter().collect();
        assert_eq!(got.len(), 2, "{mode:?}");
        assert_eq!(
            names(&p, &got[0]),
            [
                "rx",
                "ipv4",
                "interface",
                "session",
                "schedule",
                "session",
                "tx"
            ],
            "{mode:?}: {:#?}",
            steps(&p, &got[0])
        );
        let first = steps(&p, &got[0]);
        assert!(
            first[4].1.contains("backend 10.0.1.11"),
            "{mode:?}: {first:?}"
        );
        assert!(first[4].1.contains("RoundRobin"), "{mode:?}: {first:?}");
        assert!(first[6].1.contains(after), "{mode:?}: {first:?}");
        assert_eq!(
            names(&p, &got[1]),
            ["rx", "ipv4", "interface", "session", "tx"],
            "{mode:?}"
        );
        assert!(
            steps(&p, &got[1])[3].1.starts_with("hit session"),
            "{mode:?}"
        );
        assert_ne!(got[0].id, got[1].id);
    }
}

#[test]
fn every_refused_packet_is_traced_with_the_reason_it_is_counted_under() {
    let mut p = pipeline(&config(vec![service(Mode::Nat, IpProto::TCP)]));
    let records = arm_trace(&mut p, FilterProgram::all(), 100);
    let mut bad_sum = tcp((ROUTER, OURS), (CIP, VIP), (1, 80), SYN, 64, b"");
    bad_sum[24] ^= 0xff;
    let frames = [
        udp((ROUTER, OURS), CIP, [10, 0, 1, 99], (1, 1)),
        tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), ACK, 64, b""),
        tcp((ROUTER, RS2), (CIP, VIP), (40000, 80), SYN, 64, b""),
        crate::testutil::vlan_tag(
            &tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b""),
            5,
        ),
        bad_sum,
        tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b"")[..30].to_vec(),
        tcp((ROUTER, OURS), (CIP, VIP), (40001, 80), SYN, 1, b""),
    ];
    for frame in frames {
        let before = p.counters().drops;
        run(&mut p, &[frame], 0);
        let after = p.counters().drops;
        let counted: Vec<DropReason> = DropReason::ALL
            .iter()
            .copied()
            .filter(|&r| after.get(r) != before.get(r))
            .collect();
        let r = records.try_recv().expect("a record per packet");
        assert_eq!(counted.len(), 1, "{counted:?}");
        assert_eq!(r.drop_reason(), Some(counted[0]), "{:?}", steps(&p, &r));
        let s = steps(&p, &r);
        let drop = s.iter().find(|(n, _)| n == "drop").expect("a drop step");
        assert!(drop.1.starts_with(counted[0].name()), "{drop:?}");
        assert!(
            drop.1.contains("dataplane/src/"),
            "names the line: {drop:?}"
        );
    }
}

#[test]
fn only_matching_packets_are_traced_and_only_as_many_as_asked() {
    let mut p = pipeline(&config(vec![service(Mode::Nat, IpProto::TCP)]));
    let filter = Filter::And(
        Box::new(Filter::Port(Side::Src, 40001)),
        Box::new(Filter::TcpFlag(SYN)),
    );
    let records = arm_trace(&mut p, filter.compile().unwrap(), 1);
    let frames: Vec<Vec<u8>> = (40000..40004)
        .flat_map(|port| {
            [
                tcp((ROUTER, OURS), (CIP, VIP), (port, 80), SYN, 64, b""),
                tcp((ROUTER, OURS), (CIP, VIP), (port, 80), ACK, 64, b""),
            ]
        })
        .collect();
    // All in one burst: the new flows are planned ahead and wait.
    let out = run(&mut p, &frames, 0);
    assert_eq!(out.len(), 8, "tracing changes nothing that is sent");
    let got: Vec<TraceRecord> = records.try_iter().collect();
    assert_eq!(got.len(), 1);
    let s = steps(&p, &got[0]);
    assert!(
        s[1].1
            .starts_with("tcp 198.51.100.7:40001 -> 192.0.2.10:80"),
        "{s:?}"
    );
    assert!(s.iter().any(|(n, _)| n == "schedule"), "{s:?}");
    assert_eq!(s.last().unwrap().0, "tx");
    // Disarmed: nothing more.
    p.arm_watch(WatchSpec::default());
    run(&mut p, &frames, 0);
    assert!(records.try_recv().is_err());
}

#[test]
fn capture_copies_frames_as_received_and_as_sent() {
    let mut p = pipeline(&config(vec![service(Mode::Nat, IpProto::TCP)]));
    let (out, copies) = crossbeam_channel::bounded::<CaptureCopy>(3);
    let filter = Filter::Host(Side::Either, ip(CIP)).compile().unwrap();
    let spec = Arc::new(CaptureSpec {
        filter,
        port: None,
        budget: AtomicU32::new(100),
        out,
        lost: Default::default(),
    });
    p.arm_watch(WatchSpec {
        trace: None,
        capture: Some(spec.clone()),
    });
    let syn = tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b"");
    let other = tcp(
        (ROUTER, OURS),
        ([203, 0, 113, 1], VIP),
        (40000, 80),
        SYN,
        64,
        b"",
    );
    let sent = run(&mut p, &[syn.clone(), other, syn.clone()], 0);
    assert_eq!(
        sent.len(),
        3,
        "a full capture queue never holds packets back"
    );
    let got: Vec<CaptureCopy> = copies.try_iter().collect();
    assert_eq!(got.len(), 3);
    // The burst's frames are copied as they come in, then as they leave.
    assert_eq!((got[0].direction, got[0].data()), (Direction::Rx, &syn[..]));
    assert_eq!((got[1].direction, got[1].data()), (Direction::Rx, &syn[..]));
    assert_eq!(
        (got[2].direction, got[2].data()),
        (Direction::Tx, &sent[0][..])
    );
    assert_eq!(
        spec.lost.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "the second SYN's TX copy found the queue full"
    );
}

#[test]
fn a_packet_handed_to_its_owner_is_traced_on_both_workers() {
    let tables =
        Arc::new(LbTables::build(&config(vec![service(Mode::Nat, IpProto::TCP)])).unwrap());
    let mut pipes: Vec<Pipeline<crate::buf::TestBuf>> = redirect::mesh(2, 64)
        .into_iter()
        .enumerate()
        .map(|(w, links)| {
            let mut p = Pipeline::new(Arc::clone(&tables), w, 2, 0).unwrap();
            p.connect(links).unwrap();
            p
        })
        .collect();
    let (out, records) = crossbeam_channel::bounded(64);
    let spec = WatchSpec {
        trace: Some(Arc::new(TraceSpec {
            filter: FilterProgram::all(),
            port: None,
            budget: AtomicU32::new(100),
            out,
            lost: Default::default(),
        })),
        capture: None,
    };
    for p in &mut pipes {
        p.arm_watch(spec.clone());
    }
    let frames: Vec<Vec<u8>> = (1..=8)
        .map(|c| {
            tcp(
                (ROUTER, OURS),
                ([198, 51, 100, c], VIP),
                (40000, 80),
                SYN,
                64,
                b"",
            )
        })
        .collect();
    let mut ios = [
        crate::io::MemoryIo::new(vec![frames]),
        crate::io::MemoryIo::new(vec![Vec::new()]),
    ];
    for _ in 0..3 {
        for (p, io) in pipes.iter_mut().zip(&mut ios) {
            p.poll(io, 0);
        }
    }
    let got: Vec<TraceRecord> = records.try_iter().collect();
    let handed: Vec<&TraceRecord> = got
        .iter()
        .filter(|r| r.steps().any(|s| matches!(s, TraceStep::Redirected { .. })))
        .collect();
    assert!(!handed.is_empty(), "some flows are worker 1's");
    for h in handed {
        let rest = got
            .iter()
            .find(|r| r.id == h.id && r.part == 1)
            .expect("the owner continues the trace");
        assert_eq!(rest.worker, 1);
        assert!(matches!(
            rest.steps().next(),
            Some(TraceStep::Rx {
                from_worker: Some(0),
                ..
            })
        ));
        assert!(rest.steps().any(|s| matches!(s, TraceStep::Tx { .. })));
    }
}
