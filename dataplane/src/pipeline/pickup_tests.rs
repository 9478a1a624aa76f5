//! Flows picked up mid-stream: a TCP segment other than a SYN, with no
//! session, on a DR or TUN service with `pickup` (a flow that ECMP moved
//! here from another node). Two pipelines stand for two nodes.

use super::tests::*;
use super::Pipeline;
use crate::buf::TestBuf;
use crate::sched::SchedulerKind;
use crate::tables::{Mode, ServiceSpec};

fn maglev(mode: Mode, pickup: bool) -> ServiceSpec {
    ServiceSpec {
        scheduler: SchedulerKind::Maglev {
            table_size: 65537,
            hash_ports: true,
        },
        pickup,
        ..service(mode, IpProto::TCP)
    }
}

fn state(p: &Pipeline<TestBuf>) -> ProtoState {
    let (_, s) = p.path.flow.sessions().iter().next().expect("one session");
    s.state
}

#[test]
fn a_node_picks_up_another_nodes_flows_to_the_same_backend() {
    let a_svc = maglev(Mode::Dr, true);
    // The other node lists the same backends in the other order.
    let mut b_svc = a_svc.clone();
    b_svc.backends.reverse();
    let mut a = pipeline(&config(vec![a_svc]));
    let mut b = pipeline(&config(vec![b_svc]));
    let pkt = |port, flags| tcp((ROUTER, OURS), (CIP, VIP), (port, 80), flags, 64, b"data");
    let ports: Vec<u16> = (40000..40064).collect();
    let opened = run(
        &mut a,
        &ports.iter().map(|&p| pkt(p, SYN)).collect::<Vec<_>>(),
        0,
    );
    let moved = run(
        &mut b,
        &ports.iter().map(|&p| pkt(p, ACK)).collect::<Vec<_>>(),
        0,
    );
    assert_eq!(
        moved.len(),
        ports.len(),
        "every mid-stream segment forwarded"
    );
    let to = |f: &Vec<u8>| seen(f).macs.1;
    let a_to: Vec<_> = opened.iter().map(to).collect();
    let b_to: Vec<_> = moved.iter().map(to).collect();
    assert_eq!(a_to, b_to, "both nodes send each flow to one backend");
    assert!(
        a_to.contains(&RS1) && a_to.contains(&RS2),
        "both backends used"
    );
    let e = b.counters().events;
    assert_eq!((e.sessions_created, e.sessions_picked_up), (64, 64));
    assert_eq!(
        a.counters().events.sessions_picked_up,
        0,
        "SYNs open, not pick up"
    );
    assert_eq!(drops(&b, DropReason::NoSession), 0);
}

#[test]
fn a_picked_up_flow_is_established_and_closes_as_usual() {
    let mut p = pipeline(&config(vec![maglev(Mode::Tun, true)]));
    let c = |flags| tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), flags, 64, b"");
    assert_eq!(run(&mut p, &[c(ACK)], 0).len(), 1);
    assert_eq!(state(&p), ProtoState::Tcp(TcpState::Established));
    assert_eq!(p.counters().services[0].conns, 1);
    // The next segments are the session's, not new pick-ups.
    assert_eq!(run(&mut p, &[c(ACK), c(ACK)], 0).len(), 2);
    assert_eq!(p.counters().events.sessions_picked_up, 1);
    run(&mut p, &[c(tcp_flags::FIN | ACK)], 0);
    assert_eq!(state(&p), ProtoState::Tcp(TcpState::FinWait));
}

#[test]
fn without_pickup_and_for_resets_and_nat_a_sessionless_segment_is_dropped() {
    let c = |flags| tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), flags, 64, b"");
    let rst = tcp_flags::RST | ACK;
    // pickup off (a service option; rr here).
    let mut p = pipeline(&config(vec![service(Mode::Dr, IpProto::TCP)]));
    assert!(run(&mut p, &[c(ACK)], 0).is_empty());
    assert_eq!(drops(&p, DropReason::NoSession), 1);
    // A reset never makes a session, pickup or not.
    let mut p = pipeline(&config(vec![maglev(Mode::Dr, true)]));
    assert!(run(&mut p, &[c(rst)], 0).is_empty());
    assert_eq!(drops(&p, DropReason::NoSession), 1);
    assert_eq!(p.counters().events.sessions_created, 0);
    // NAT and FULLNAT never pick up: the backend knows no translation.
    for mode in [Mode::Nat, Mode::FullNat] {
        let mut p = pipeline(&config(vec![maglev(mode, true)]));
        assert!(run(&mut p, &[c(ACK)], 0).is_empty(), "{mode:?}");
        assert_eq!(drops(&p, DropReason::NoSession), 1, "{mode:?}");
    }
}
