//! Pcap replay of the schedulers (docs/load-balancing.md): 300 UDP flows to
//! a DR service, one datagram each, counted by the backend MAC they leave
//! for. Schedulers see backends sorted by (address, port) whatever the
//! config order, so every config here lists them shuffled.

mod common;

use common::lb::*;
use common::{assert_frames_eq, CasePort, Replay};

const FLOWS: u16 = 300;
const DNS: Ep = (VIP, 53);

/// Flow `i`'s client: 200 clients, a port each.
fn client(i: u16) -> Ep {
    (cip(1 + (i % 200) as u8), 10000 + i)
}

/// One datagram per flow (built once: each frame has its own IP ID).
fn flows() -> Vec<Frame> {
    (0..FLOWS)
        .map(|i| udp(ROUTER_MAC, LAN_MAC, client(i), DNS, &i.to_be_bytes()))
        .collect()
}

/// Flow `i` as DR sends it to backend 10.0.1.`n`.
fn to_backend(flows: &[Frame], i: u16, n: u8) -> Vec<u8> {
    let (fwd, _) = one_way_legs(client(i), DNS, LAN_MAC, LAN_MAC, rmac(n), Out::Dr);
    fwd.expect(&flows[usize::from(i)]).expect("DR forwards")
}

fn run(
    flows: &[Frame],
    scheduler: &str,
    extra: &str,
    backends: &[(u8, u32)],
) -> common::ReplayResult {
    let list: Vec<(Ip, Option<u16>, u32)> =
        backends.iter().map(|&(n, w)| (rip(n), None, w)).collect();
    let run = Replay {
        ports: vec![
            CasePort::new("lan", flows.iter().map(Frame::bytes).collect()).with_mac(LAN_MAC),
        ],
        config: one_arm_config() + &service("udp", 53, "dr", scheduler, extra, &list),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    run.assert_drops(&[]);
    run
}

/// Which backend (last address byte) each output frame went to.
fn backends_of(sent: &[Vec<u8>]) -> Vec<u8> {
    sent.iter()
        .map(|f| {
            let n = f[5];
            assert_eq!(
                &f[..5],
                &rmac(n)[..5],
                "not a backend MAC: {:02x?}",
                &f[..6]
            );
            assert!(
                (11..=13).contains(&n),
                "not a backend MAC: {:02x?}",
                &f[..6]
            );
            n
        })
        .collect()
}

fn count(of: &[u8], n: u8) -> usize {
    of.iter().filter(|&&b| b == n).count()
}

fn conns(run: &common::ReplayResult, n: u8) -> u64 {
    run.row(&be_row("udp", 53, rip(n), 53))[0]
}

#[test]
fn rr_takes_backends_in_address_order_from_the_lowest() {
    let f = flows();
    let run = run(&f, "rr", "", &[(13, 1), (11, 1), (12, 1)]);
    let expected: Vec<Vec<u8>> = (0..FLOWS)
        .map(|i| to_backend(&f, i, 11 + (i % 3) as u8))
        .collect();
    assert_frames_eq("lan", &expected, &run.sent[0]);
    for n in 11..=13 {
        assert_eq!(conns(&run, n), 100, "be 10.0.1.{n} conns");
    }
    assert_eq!(run.row(&svc_row("udp", 53))[0], 300);
}

/// nginx's smooth weighted round robin over `weights` (in address order):
/// add each weight to its current value, take the largest (the first on a
/// tie), take the total off it.
fn smooth_wrr(weights: &[(u8, i64)], picks: usize) -> Vec<u8> {
    let total: i64 = weights.iter().map(|w| w.1).sum();
    let mut current = vec![0i64; weights.len()];
    (0..picks)
        .map(|_| {
            let mut best = 0;
            for (k, (_, w)) in weights.iter().enumerate() {
                current[k] += w;
                if current[k] > current[best] {
                    best = k;
                }
            }
            current[best] -= total;
            weights[best].0
        })
        .collect()
}

#[test]
fn wrr_spreads_flows_exactly_by_weight_in_smooth_order() {
    let f = flows();
    let run = run(&f, "wrr", "", &[(12, 2), (13, 3), (11, 1)]);
    let got = backends_of(&run.sent[0]);
    assert_eq!(got.len(), 300);
    assert_eq!(
        (count(&got, 11), count(&got, 12), count(&got, 13)),
        (50, 100, 150),
        "flows per backend (weights 1/2/3)"
    );
    for (n, want) in [(11, 50), (12, 100), (13, 150)] {
        assert_eq!(conns(&run, n), want, "be 10.0.1.{n} conns");
    }
    // And in nginx's order (13 12 11 13 12 13, ...), frame by frame.
    let order = smooth_wrr(&[(11, 1), (12, 2), (13, 3)], 300);
    assert_eq!(&order[..6], &[13, 12, 11, 13, 12, 13]);
    let expected: Vec<Vec<u8>> = (0..FLOWS)
        .map(|i| to_backend(&f, i, order[usize::from(i)]))
        .collect();
    assert_frames_eq("lan", &expected, &run.sent[0]);
}

#[test]
fn mh_sends_each_flow_to_the_same_backend_whatever_the_config_order() {
    let f = flows();
    let a = run(&f, "mh", "", &[(11, 1), (12, 1), (13, 1)]);
    let b = run(&f, "mh", "", &[(13, 1), (11, 1), (12, 1)]);
    let got = backends_of(&a.sent[0]);
    assert_eq!(got.len(), 300);
    // Each output is the DR frame of its flow, to the backend it chose.
    let expected: Vec<Vec<u8>> = (0..FLOWS)
        .map(|i| to_backend(&f, i, got[usize::from(i)]))
        .collect();
    assert_frames_eq("lan (first order)", &expected, &a.sent[0]);
    // The same choices with the backends listed in another order.
    assert_frames_eq("lan (second order)", &a.sent[0], &b.sent[0]);
    // Maglev spreads 300 five-tuples over three equal backends (~100 each).
    for n in 11..=13 {
        assert!(
            count(&got, n) >= 50,
            "10.0.1.{n} got {} of 300",
            count(&got, n)
        );
        assert_eq!(conns(&a, n), count(&got, n) as u64);
    }
}
