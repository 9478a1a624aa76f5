//! `explain` and `trace` of IPv6 DR flows (`explain6.rs`, the trace
//! steps `forward6.rs` records): the session, the service and its pick,
//! the egress interface, the neighbour resolved or the wait for
//! Neighbour Discovery, and nothing changed by an explain.

use std::net::Ipv6Addr;

use super::forward6_tests::{config_dr6, learn_backends, service6, tcp6, CLIENT6, VIP6};
use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::tuple::FiveTuple6;

fn tuple6(src: &str, dst: &str, ports: (u16, u16)) -> FiveTuple6 {
    let a = |s: &str| s.parse::<Ipv6Addr>().expect("address");
    FiveTuple6 {
        src: a(src),
        dst: a(dst),
        src_port: ports.0,
        dst_port: ports.1,
        proto: IpProto::TCP,
    }
}

fn explained(p: &Pipeline<TestBuf>, t: &FiveTuple6) -> Vec<(String, String)> {
    p.explain6(t)
        .into_iter()
        .map(|s| (s.step.to_string(), s.detail))
        .collect()
}

fn names(steps: &[(String, String)]) -> Vec<&str> {
    steps.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn explain6_picks_without_moving_and_says_the_neighbour_or_the_nd_wait() {
    let mut p = pipeline(&config_dr6(vec![service6(IpProto::TCP)]));
    let t = tuple6(CLIENT6, VIP6, (40000, 80));
    // Unresolved: the wait for Neighbour Discovery.
    let a = explained(&p, &t);
    assert_eq!(
        names(&a),
        [
            "worker",
            "session",
            "schedule",
            "rewrite",
            "route",
            "neighbour",
            "tx"
        ],
        "{a:?}"
    );
    assert_eq!(a[1].1, "miss: a new flow");
    assert!(
        a[2].1.contains(
            "service tcp/[2001:db8:10::10]:80 mode dr scheduler RoundRobin: \
             backend [2001:db8:1::11]:80 of 2 candidates"
        ),
        "{a:?}"
    );
    assert_eq!(a[4].1, "2001:db8:1::11: connected, interface 0");
    assert!(
        a[5].1.starts_with(
            "2001:db8:1::11: unresolved, the packet would wait for Neighbour Discovery"
        ),
        "{a:?}"
    );
    assert_eq!(a[6].1, "port 0");
    // Asked again: the same backend (rr's cursor did not move), no
    // session made, no solicitation sent.
    assert_eq!(explained(&p, &t), a);
    assert_eq!(p.path.flow.sessions6().len(), 0);
    assert_eq!(p.counters().events.nd.solicitations_sent, 0);
    // Resolved: the MAC.
    learn_backends(&mut p);
    let a = explained(&p, &t);
    assert_eq!(a[5].1, "2001:db8:1::11 is 02:00:00:00:01:0b (learned)");
    // A real SYN takes that backend; explain now names its session, and
    // the next new flow goes to the other backend.
    let out = run(&mut p, &[tcp6(CLIENT6, VIP6, (40000, 80), SYN, b"")], 0);
    assert_eq!(out.len(), 1);
    let hit = explained(&p, &t);
    assert_eq!(
        names(&hit),
        ["worker", "session", "route", "neighbour", "tx"]
    );
    assert!(
        hit[1].1.starts_with("existing session ")
            && hit[1]
                .1
                .ends_with("to backend [2001:db8:1::11]:80: its packets follow it"),
        "{hit:?}"
    );
    let next = explained(&p, &tuple6(CLIENT6, VIP6, (40001, 80)));
    assert!(
        next[2].1.contains("backend [2001:db8:1::12]:80"),
        "{next:?}"
    );
}

#[test]
fn explain6_names_the_drop_a_refused_flow_would_have() {
    let mut off_link = service6(IpProto::TCP);
    off_link.port = 81;
    off_link.backends.truncate(1);
    off_link.backends[0].addr = "2001:db8:99::1".parse::<Ipv6Addr>().expect("a").into();
    let mut drained = service6(IpProto::TCP);
    drained.port = 82;
    drained.backends.iter_mut().for_each(|b| b.weight = 0);
    let p = pipeline(&config_dr6(vec![service6(IpProto::TCP), off_link, drained]));
    let last = |port: u16| {
        let steps = explained(&p, &tuple6(CLIENT6, VIP6, (40000, port)));
        steps.last().cloned().expect("a step")
    };
    assert_eq!(last(83), ("drop".into(), "no_service".into()));
    assert_eq!(last(82), ("drop".into(), "no_backend".into()));
    assert_eq!(last(81), ("drop".into(), "no_route".into()));
}

fn arm_trace(
    p: &mut Pipeline<TestBuf>,
    n: u32,
) -> crossbeam_channel::Receiver<crate::watch::TraceRecord> {
    arm_trace_with(p, n, ferrolb_types::filter::FilterProgram::all())
}

fn arm_trace_with(
    p: &mut Pipeline<TestBuf>,
    n: u32,
    filter: ferrolb_types::filter::FilterProgram,
) -> crossbeam_channel::Receiver<crate::watch::TraceRecord> {
    use std::sync::atomic::AtomicU32;
    let (out, records) = crossbeam_channel::bounded(64);
    p.arm_watch(WatchSpec {
        trace: Some(Arc::new(crate::watch::TraceSpec {
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

#[test]
fn trace6_follows_a_new_flow_to_the_nd_wait_and_its_next_packet_out() {
    let mut p = pipeline(&config_dr6(vec![service6(IpProto::TCP)]));
    let records = arm_trace(&mut p, 3);
    let syn = tcp6(CLIENT6, VIP6, (40000, 80), SYN, b"");
    let out = run(&mut p, &[syn], 0);
    assert_eq!(out.len(), 1, "the solicitation");
    let r = records.try_recv().expect("the SYN's record");
    let steps: Vec<(String, String)> = r
        .report(&p.tables)
        .into_iter()
        .map(|s| (s.step.to_string(), s.detail))
        .collect();
    assert_eq!(
        names(&steps),
        [
            "rx",
            "ipv6",
            "session",
            "schedule",
            "session",
            "neighbour",
            "tx"
        ],
        "{steps:#?}"
    );
    assert_eq!(
        steps[1].1,
        "tcp [2001:db8:2::7]:40000 -> [2001:db8:10::10]:80 hop limit 57 flags syn"
    );
    assert_eq!(steps[2].1, "miss: a new flow");
    assert!(
        steps[3].1.contains(
            "service tcp/[2001:db8:10::10]:80 mode dr scheduler RoundRobin: \
             backend [2001:db8:1::11]:80 of 2 candidates"
        ),
        "{steps:?}"
    );
    assert!(steps[4].1.starts_with("made session "), "{steps:?}");
    assert_eq!(
        steps[5].1,
        "next hop 2001:db8:1::11 unresolved: waits for Neighbour Discovery"
    );
    // What left while it was handled: the solicitation, to the backend's
    // solicited-node group.
    assert_eq!(
        steps[6].1,
        "port 0: non-IPv4 frame, 02:00:00:00:00:aa -> 33:33:ff:00:00:11"
    );
    // Resolved, the flow's next packet hits its session and leaves.
    learn_backends(&mut p);
    let ack = tcp6(CLIENT6, VIP6, (40000, 80), ACK, b"GET /");
    assert_eq!(run(&mut p, &[ack], 10).len(), 1);
    let r = records.try_recv().expect("the ACK's record");
    let steps: Vec<(String, String)> = r
        .report(&p.tables)
        .into_iter()
        .map(|s| (s.step.to_string(), s.detail))
        .collect();
    assert_eq!(names(&steps), ["rx", "ipv6", "session", "tx"], "{steps:#?}");
    assert!(steps[2].1.starts_with("hit session "), "{steps:?}");
    assert!(
        steps[3]
            .1
            .ends_with("02:00:00:00:00:aa -> 02:00:00:00:01:0b"),
        "{steps:?}"
    );
    // A refused one names the counter it lands in.
    let other_port = tcp6(CLIENT6, VIP6, (40001, 81), SYN, b"");
    assert!(run(&mut p, &[other_port], 20).is_empty());
    let r = records.try_recv().expect("the refused SYN's record");
    assert_eq!(r.drop_reason(), Some(DropReason::NoService));
}

#[test]
fn a_trace_filter_picks_ipv6_packets_by_their_addresses_and_ports() {
    use ferrolb_types::filter::{Filter, Side};
    let and = |a, b| Filter::And(Box::new(a), Box::new(b));
    let client: Ipv6Addr = CLIENT6.parse().expect("client");
    let mut p = pipeline(&config_dr6(vec![service6(IpProto::TCP)]));
    learn_backends(&mut p);
    // `src host 2001:db8:2::7 and port 80`: that client's packets only.
    let filter = and(
        Filter::Host6(Side::Src, client),
        Filter::Port(Side::Either, 80),
    );
    let records = arm_trace_with(&mut p, 8, filter.compile().expect("compiles"));
    let frames = [
        tcp6("2001:db8:2::8", VIP6, (40000, 80), SYN, b""),
        tcp6(CLIENT6, VIP6, (40001, 80), SYN, b""),
    ];
    assert_eq!(run(&mut p, &frames, 0).len(), 2);
    let traced: Vec<_> = records.try_iter().collect();
    assert_eq!(traced.len(), 1, "only the client's SYN");
    let steps = traced[0].report(&p.tables);
    assert!(
        steps[1].detail.starts_with("tcp [2001:db8:2::7]:40001"),
        "{steps:?}"
    );
    // An IPv4 address never matches an IPv6 packet; `ip6 and syn` does.
    let v4 = Filter::Host(Side::Either, std::net::Ipv4Addr::new(10, 0, 0, 7));
    let records = arm_trace_with(&mut p, 8, v4.compile().expect("compiles"));
    run(&mut p, &frames, 1);
    assert_eq!(records.try_iter().count(), 0);
    let syn6 = and(Filter::Family6(true), Filter::TcpFlag(SYN));
    let records = arm_trace_with(&mut p, 8, syn6.compile().expect("compiles"));
    run(&mut p, &frames, 2);
    assert_eq!(records.try_iter().count(), 2);
}
