//! Two nodes behind ECMP (issue 18, part 3), as two separate `ferrolb`
//! processes on pcap ports: with the same config, listed in another order,
//! they send every flow to the same backend; and a node that receives the
//! middle of a flow another node opened (the router rehashed) picks it up
//! to that same backend, on `mh` by default and where `pickup = true`.

mod common;

use common::lb::*;
use common::{assert_frames_eq, CasePort, Replay};

const WEB: u16 = 80;
const DNS: u16 = 53;
const TLS: u16 = 443;
const PLAIN: u16 = 8080;

/// The services of every node, each a `[[service]]` table; `shuffled`
/// lists backends in another order.
fn services(shuffled: bool) -> Vec<String> {
    let backends = |order: [u8; 3]| -> Vec<(Ip, Option<u16>, u32)> {
        order.iter().map(|&n| (rip(n), None, 1)).collect()
    };
    let (a, b) = if shuffled {
        ([13, 11, 12], [12, 13, 11])
    } else {
        ([11, 12, 13], [11, 12, 13])
    };
    vec![
        service("tcp", WEB, "dr", "mh", "", &backends(a)),
        service("udp", DNS, "dr", "mh", "", &backends(b)),
        service("tcp", TLS, "tun", "sh", "pickup = true", &backends(a)),
        service("tcp", PLAIN, "dr", "rr", "", &backends(b)),
    ]
}

/// A node: the services in config order, or reversed with shuffled
/// backends.
fn node_config(other_order: bool) -> String {
    let mut s = services(other_order);
    if other_order {
        s.reverse();
    }
    one_arm_config() + &s.concat()
}

fn run(config: String, input: Vec<Vec<u8>>) -> common::ReplayResult {
    let run = Replay {
        ports: vec![CasePort::new("lan", input).with_mac(LAN_MAC)],
        config,
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    run
}

fn client(i: u16) -> Ep {
    (cip(1 + (i % 250) as u8), 20000 + i)
}

fn segment(i: u16, port: u16, flags: &str) -> Vec<u8> {
    let payload: &[u8] = if flags.contains('P') { b"GET / " } else { b"" };
    tcp(
        ROUTER_MAC,
        LAN_MAC,
        client(i),
        (VIP, port),
        1000,
        5000,
        flags,
        payload,
    )
    .bytes()
}

/// The backend (last address byte) a DR frame goes to, or the TUN outer
/// destination's.
fn backend_of(frame: &[u8]) -> u8 {
    if frame[23] == 4 {
        frame[33]
    } else {
        frame[5]
    }
}

/// The TCP or UDP destination port, inside the tunnel for TUN.
fn dst_port(frame: &[u8]) -> u16 {
    let at = if frame[23] == 4 { 56 } else { 36 };
    u16::from_be_bytes([frame[at], frame[at + 1]])
}

#[test]
fn two_nodes_with_the_same_config_in_another_order_pick_the_same_backends() {
    let mut input = Vec::new();
    for i in 0..150 {
        input.push(segment(i, WEB, "S"));
        input.push(udp(ROUTER_MAC, LAN_MAC, client(i), (VIP, DNS), b"q").bytes());
        input.push(segment(i, TLS, "S"));
    }
    let a = run(node_config(false), input.clone());
    let b = run(node_config(true), input);
    a.assert_drops(&[]);
    assert_eq!(a.sent[0].len(), 450, "every flow forwarded");
    assert_frames_eq("lan (node b, other order)", &a.sent[0], &b.sent[0]);
    let used: std::collections::BTreeSet<u8> = a.sent[0].iter().map(|f| backend_of(f)).collect();
    assert_eq!(used.into_iter().collect::<Vec<_>>(), vec![11, 12, 13]);
}

#[test]
fn a_node_picks_up_the_flows_another_node_opened() {
    // Node a sees each connection open and carry data; then ECMP moves
    // them: node b sees only the data that follows.
    let flows = 100;
    let mut opened = Vec::new();
    let mut moved = Vec::new();
    for i in 0..flows {
        for port in [WEB, TLS, PLAIN] {
            // One frame into both nodes (each frame has its own IP ID).
            let data = segment(i, port, "AP");
            opened.push(segment(i, port, "S"));
            opened.push(data.clone());
            moved.push(data);
        }
    }
    let a = run(node_config(false), opened);
    let b = run(node_config(true), moved);
    a.assert_drops(&[]);
    assert_eq!(a.event("sessions_picked_up"), 0, "node a saw every SYN");
    // Node a's data segments (every second frame) and node b's are the
    // same frames to the same backends, except the rr service's, which
    // does not pick up.
    let a_data: Vec<Vec<u8>> = a.sent[0]
        .iter()
        .skip(1)
        .step_by(2)
        .filter(|f| dst_port(f) != PLAIN)
        .cloned()
        .collect();
    assert_eq!(a_data.len(), 2 * usize::from(flows));
    assert_frames_eq("lan (node b, picked up)", &a_data, &b.sent[0]);
    assert_eq!(b.event("sessions_picked_up"), 2 * u64::from(flows));
    b.assert_drops(&[("no_session", u64::from(flows))]);
}
