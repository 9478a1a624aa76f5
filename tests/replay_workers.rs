//! Pcap replay with 2 and 4 workers (issue #7): packets arrive on RX queues
//! of workers that do not own their flow, and every flow must still be
//! forwarded exactly as one worker forwards it (the same frames, in order
//! within the flow), out of its owner's TX queue, with the hand-overs the
//! ownership contract implies counted in `event:redirects_sent` and
//! `event:redirects_received`. Owners are computed from the contract in
//! `common::workers`, not from ferrolb's code.
//!
//! Packets on different queues have no order between them, so every case
//! uses only the two patterns `common::workers` explains: (a) a whole flow
//! on one queue (the owner's, or another worker's, which hands each packet
//! over a FIFO ring), or (b) a flow's first packets on the owner's own
//! queue, within one burst, and the rest on another queue. Pattern (b) is
//! used with UDP, so the owner seeing all of a flow's requests before its
//! replies changes nothing one worker would do.
//!
//! Each case also runs its frames, in the order it lists them, on one
//! worker: that run must send what the case expects (which checks the case)
//! and have the same service, backend, SNAT, drop and event counters as the
//! run with several workers.
//!
//! Backends: one per service except where the case is about scheduling
//! (persistence), since rr keeps its position per worker.

mod common;

use common::lb::*;
use common::workers::*;
use etherparse::icmpv4::DestUnreachableHeader;
use etherparse::{Icmpv4Type, Ipv4Header};

const HTTP: Ep = (VIP, 80);
const DNS: Ep = (VIP, 53);
const NONE: Tally = Tally {
    packets: 0,
    bytes: 0,
};
/// A third local address, for a second FULLNAT service.
const LIP3: Ip = [10, 0, 1, 102];
/// A second SNAT address.
const SNAT_ADDR2: Ip = [203, 0, 113, 2];
const REMOTE: Ep = ([93, 184, 216, 34], 443);
const RESOLVER: Ep = ([9, 9, 9, 9], 53);

/// The queue after `q`: a worker that does not own what `q`'s worker owns.
fn next(q: usize, n: usize) -> usize {
    (q + 1) % n
}

/// `local_ports` with one port per worker: worker `w` of `n` hands out
/// only `base + w` (its low bits are `w`; `base` has them zero).
fn one_port_each(base: u16, n: usize) -> String {
    assert_eq!(usize::from(base) & (n.next_power_of_two() - 1), 0);
    format!("\"{base}-{}\"", base + n as u16 - 1)
}

// ---------------------------------------------------------------------------
// NAT

/// Per worker `o`: a UDP flow it owns with its two queries on its own queue
/// and the two answers on the next queue (pattern b: 2 hand-overs), a TCP
/// connection it owns entirely on the next queue (pattern a: 10
/// hand-overs), and one entirely on its own queue (none). 12 per worker.
fn nat(n: usize) {
    let services = service("tcp", 80, "nat", "rr", "", &[(rip(11), Some(8080), 1)])
        + &service("udp", 53, "nat", "rr", "", &[(rip(12), Some(5353), 1)]);
    let config = one_arm_config() + &services;
    let owners = Owners::new(n)
        .service("tcp", 80, "nat", false, &[(rip(11), 8080)])
        .service("udp", 53, "nat", false, &[(rip(12), 5353)]);
    let mut mq = MqScript::new(owners);
    let (mut udp_in, mut udp_out) = (Tally::default(), Tally::default());
    for o in 0..n {
        let c = (cip(2), mq.owners.port_for(o, cip(2), 5000 + 100 * o as u16));
        let (fwd, rev) = nat_legs(LAN_MAC, ROUTER_MAC, c, DNS, c, (rip(12), 5353), rmac(12));
        let f = mq.flow(format!(
            "udp {c:?} of worker {o}: queries on its queue, answers on {}",
            next(o, n)
        ));
        for r in 0..2u8 {
            mq.on(f, o, |s| udp_on(s, &fwd, &[r; 33], &mut udp_in));
        }
        for r in 0..2u8 {
            mq.on(f, next(o, n), |s| {
                udp_on(s, &rev, &[0xa0 | r; 77], &mut udp_out)
            });
        }
    }
    let mut convs = Vec::new();
    for o in 0..n {
        for (k, q) in [next(o, n), o].into_iter().enumerate() {
            let from = 40000 + 1000 * k as u16 + 100 * o as u16;
            let c = (cip(1), mq.owners.port_for(o, cip(1), from));
            let (fwd, rev) = nat_legs(LAN_MAC, ROUTER_MAC, c, HTTP, c, (rip(11), 8080), rmac(11));
            let f = mq.flow(format!("tcp {c:?} of worker {o}, all on queue {q}"));
            let mut conv = TcpConv::new(fwd, rev);
            mq.on(f, q, |s| conv.full_exchange(s));
            convs.push(conv);
        }
    }
    for q in 0..n {
        mq.assert_one_burst(q);
    }
    assert_eq!(mq.redirects, 12 * n as u64, "the case as designed");

    let one = mq.run_one_worker(&config);
    mq.assert_one_worker_output(&one);
    let run = mq.run(&config);
    mq.assert_output(&run);
    run.assert_redirects(12 * n as u64);
    run.assert_drops(&[]);
    let (tin, tout) = convs.iter().fold((NONE, NONE), |(i, o), c| {
        (i.plus(c.tally_in), o.plus(c.tally_out))
    });
    let flows = 2 * n as u64;
    run.assert_row(&svc_row("tcp", 80), flows, flows, tin, tout);
    run.assert_row(&be_row("tcp", 80, rip(11), 8080), flows, flows, tin, tout);
    let n64 = n as u64;
    run.assert_row(&svc_row("udp", 53), n64, n64, udp_in, udp_out);
    run.assert_row(&be_row("udp", 53, rip(12), 5353), n64, n64, udp_in, udp_out);
    assert_eq!(run.event("sessions_created"), 3 * n64);
    assert_counters_as_one_worker(&run, &one, &[]);
}

#[test]
fn nat_with_2_workers_forwards_requests_and_replies_handed_to_the_owner() {
    nat(2);
}

#[test]
fn nat_with_4_workers_forwards_requests_and_replies_handed_to_the_owner() {
    nat(4);
}

// ---------------------------------------------------------------------------
// FULLNAT

/// One port per worker (`40000 + w`). Per worker `o`: a UDP flow to a
/// service with local address .102, queries on its own queue and answers
/// (to .102:40000+o) on the next (2 hand-overs); two TCP connections it
/// owns, one after the other, entirely on the next queue (20 hand-overs),
/// which take its port on the two local addresses in turn. 22 per worker.
fn fullnat(n: usize) {
    let ports = one_port_each(40000, n);
    let services = service(
        "tcp",
        80,
        "fullnat",
        "rr",
        &format!("local_addresses = [\"10.0.1.100\", \"10.0.1.101\"]\nlocal_ports = {ports}"),
        &[(rip(11), Some(8080), 1)],
    ) + &service(
        "udp",
        53,
        "fullnat",
        "rr",
        &format!("local_addresses = [\"10.0.1.102\"]\nlocal_ports = {ports}"),
        &[(rip(12), Some(5353), 1)],
    );
    let config = one_arm_config() + &services;
    let owners = Owners::new(n)
        .service("tcp", 80, "fullnat", false, &[(rip(11), 8080)])
        .service("udp", 53, "fullnat", false, &[(rip(12), 5353)])
        .local_addrs(&[LIP1, LIP2, LIP3]);
    let mut mq = MqScript::new(owners);
    let (mut udp_in, mut udp_out) = (Tally::default(), Tally::default());
    for o in 0..n {
        let c = (cip(2), mq.owners.port_for(o, cip(2), 5000 + 100 * o as u16));
        let seen = (LIP3, 40000 + o as u16);
        let (fwd, rev) = nat_legs(LAN_MAC, ROUTER_MAC, c, DNS, seen, (rip(12), 5353), rmac(12));
        let f = mq.flow(format!(
            "udp {c:?} of worker {o} as {seen:?}: queries on its queue, answers on {}",
            next(o, n)
        ));
        for r in 0..2u8 {
            mq.on(f, o, |s| udp_on(s, &fwd, &[r; 33], &mut udp_in));
        }
        for r in 0..2u8 {
            mq.on(f, next(o, n), |s| {
                udp_on(s, &rev, &[0xa0 | r; 77], &mut udp_out)
            });
        }
    }
    let mut convs = Vec::new();
    for o in 0..n {
        for (k, lip) in [LIP1, LIP2].into_iter().enumerate() {
            let from = 40000 + 1000 * k as u16 + 100 * o as u16;
            let c = (cip(1), mq.owners.port_for(o, cip(1), from));
            let seen = (lip, 40000 + o as u16);
            let (fwd, rev) = nat_legs(
                LAN_MAC,
                ROUTER_MAC,
                c,
                HTTP,
                seen,
                (rip(11), 8080),
                rmac(11),
            );
            let q = next(o, n);
            let f = mq.flow(format!(
                "tcp {c:?} of worker {o} as {seen:?}, all on queue {q}"
            ));
            let mut conv = TcpConv::new(fwd, rev);
            mq.on(f, q, |s| conv.full_exchange(s));
            convs.push(conv);
        }
    }
    for q in 0..n {
        mq.assert_one_burst(q);
    }
    assert_eq!(mq.redirects, 22 * n as u64, "the case as designed");

    // No one-worker run here: one worker owns every port of the range and
    // hands them out in its own order, so the answers, addressed to the
    // ports of the owners, would miss. The counters are the spec's.
    let run = mq.run(&config);
    mq.assert_output(&run);
    run.assert_redirects(22 * n as u64);
    run.assert_drops(&[]);
    let (tin, tout) = convs.iter().fold((NONE, NONE), |(i, o), c| {
        (i.plus(c.tally_in), o.plus(c.tally_out))
    });
    let (n64, flows) = (n as u64, 2 * n as u64);
    run.assert_row(&svc_row("tcp", 80), flows, flows, tin, tout);
    run.assert_row(&be_row("tcp", 80, rip(11), 8080), flows, flows, tin, tout);
    run.assert_row(&svc_row("udp", 53), n64, n64, udp_in, udp_out);
    run.assert_row(&be_row("udp", 53, rip(12), 5353), n64, n64, udp_in, udp_out);
    assert_eq!(run.event("sessions_created"), 3 * n64);
}

#[test]
fn fullnat_with_2_workers_replies_reach_the_worker_named_by_the_local_port() {
    fullnat(2);
}

#[test]
fn fullnat_with_4_workers_replies_reach_the_worker_named_by_the_local_port() {
    fullnat(4);
}

// ---------------------------------------------------------------------------
// SNAT

/// Two rules, one port per worker each. Per worker `o`: a UDP flow from
/// 10.0.1.11 (first rule, 203.0.113.1) it owns, queries on its own queue,
/// answers on the next (2 hand-overs); a TCP connection from 10.0.1.12 or
/// .13 (second rule, 203.0.113.2) entirely on the next queue (10). 12 per
/// worker.
fn snat(n: usize) {
    let ports = one_port_each(50000, n);
    let rules = format!(
        r#"
[[snat]]
source = "10.0.1.11/32"
port = "lan"
addresses = ["203.0.113.1"]
ports = {ports}

[[snat]]
source = "10.0.1.0/24"
port = "lan"
addresses = ["203.0.113.2"]
ports = {ports}
"#
    );
    let config = one_arm_config() + &rules;
    let owners = Owners::new(n)
        .snat_source(rip(11), 32)
        .snat_source([10, 0, 1, 0], 24)
        .local_addrs(&[SNAT_ADDR, SNAT_ADDR2]);
    let mut mq = MqScript::new(owners);
    let (mut udp_in, mut udp_out) = (Tally::default(), Tally::default());
    for o in 0..n {
        let i = (
            rip(11),
            mq.owners.port_for(o, rip(11), 5000 + 100 * o as u16),
        );
        let seen = (SNAT_ADDR, 50000 + o as u16);
        let (fwd, rev) = nat_legs(LAN_MAC, rmac(11), i, RESOLVER, seen, RESOLVER, ROUTER_MAC);
        let f = mq.flow(format!(
            "udp {i:?} of worker {o} as {seen:?}: queries on its queue, answers on {}",
            next(o, n)
        ));
        for r in 0..2u8 {
            mq.on(f, o, |s| udp_on(s, &fwd, &[r; 29], &mut udp_in));
        }
        for r in 0..2u8 {
            mq.on(f, next(o, n), |s| udp_on(s, &rev, &[r; 61], &mut udp_out));
        }
    }
    let mut convs = Vec::new();
    for o in 0..n {
        let host = rip(12 + (o % 2) as u8);
        let i = (host, mq.owners.port_for(o, host, 33000 + 100 * o as u16));
        let seen = (SNAT_ADDR2, 50000 + o as u16);
        let (fwd, rev) = nat_legs(
            LAN_MAC,
            rmac(12 + (o % 2) as u8),
            i,
            REMOTE,
            seen,
            REMOTE,
            ROUTER_MAC,
        );
        let q = next(o, n);
        let f = mq.flow(format!("tcp {i:?} of worker {o} as {seen:?}, on queue {q}"));
        let mut conv = TcpConv::new(fwd, rev);
        mq.on(f, q, |s| conv.full_exchange(s));
        convs.push(conv);
    }
    for q in 0..n {
        mq.assert_one_burst(q);
    }
    assert_eq!(mq.redirects, 12 * n as u64, "the case as designed");

    // No one-worker run, as for FULLNAT: one worker would hand out the
    // ports in its own order.
    let run = mq.run(&config);
    mq.assert_output(&run);
    run.assert_redirects(12 * n as u64);
    run.assert_drops(&[]);
    let (tin, tout) = convs.iter().fold((NONE, NONE), |(i, o), c| {
        (i.plus(c.tally_in), o.plus(c.tally_out))
    });
    let n64 = n as u64;
    run.assert_row("snat:10.0.1.11/32", n64, n64, udp_in, udp_out);
    run.assert_row("snat:10.0.1.0/24", n64, n64, tin, tout);
    assert_eq!(run.event("sessions_created"), 2 * n64);
}

#[test]
fn snat_with_2_workers_replies_reach_the_worker_named_by_the_snat_port() {
    snat(2);
}

#[test]
fn snat_with_4_workers_replies_reach_the_worker_named_by_the_snat_port() {
    snat(4);
}

// ---------------------------------------------------------------------------
// DR and TUN: the receiving worker, no hand-over

/// On every queue: a TCP connection to a DR service and two datagrams to a
/// TUN service, from clients whose NAT owner (`hash(client, port)`) would
/// be another worker. No redirects; each leaves by the receiving worker's
/// TX queue.
fn dr_and_tun(n: usize) {
    let services = service("tcp", 80, "dr", "rr", "", &[(rip(11), None, 1)])
        + &service("udp", 53, "tun", "rr", "", &[(rip(12), None, 1)]);
    let config = one_arm_config() + &services;
    let owners = Owners::new(n)
        .service("tcp", 80, "dr", false, &[(rip(11), 80)])
        .service("udp", 53, "tun", false, &[(rip(12), 53)]);
    let mut mq = MqScript::new(owners);
    let (mut tcp_in, mut udp_in) = (NONE, NONE);
    for q in 0..n {
        let c = (
            cip(1),
            mq.owners.port_not_for(q, cip(1), 40000 + 100 * q as u16),
        );
        let (fwd, rev) = one_way_legs(c, HTTP, LAN_MAC, LAN_MAC, rmac(11), Out::Dr);
        let f = mq.flow(format!("dr tcp {c:?} on queue {q}"));
        let mut conv = TcpConv::new(fwd, rev);
        mq.on(f, q, |s| conv.full_exchange(s));
        tcp_in = tcp_in.plus(conv.tally_in);

        let c = (
            cip(2),
            mq.owners.port_not_for(q, cip(2), 5000 + 100 * q as u16),
        );
        let tun = Out::Tun {
            outer_src: SERVERS_ADDR,
            outer_dst: rip(12),
        };
        let (fwd, _) = one_way_legs(c, DNS, LAN_MAC, LAN_MAC, rmac(12), tun);
        let f = mq.flow(format!("tun udp {c:?} on queue {q}"));
        for r in 0..2u8 {
            mq.on(f, q, |s| udp_on(s, &fwd, &[r; 40], &mut udp_in));
        }
    }
    assert_eq!(mq.redirects, 0, "the case as designed");

    let one = mq.run_one_worker(&config);
    mq.assert_one_worker_output(&one);
    let run = mq.run(&config);
    mq.assert_output(&run);
    run.assert_redirects(0);
    run.assert_drops(&[]);
    let n64 = n as u64;
    run.assert_row(&svc_row("tcp", 80), n64, n64, tcp_in, NONE);
    run.assert_row(&be_row("tcp", 80, rip(11), 80), n64, n64, tcp_in, NONE);
    run.assert_row(&svc_row("udp", 53), n64, n64, udp_in, NONE);
    run.assert_row(&be_row("udp", 53, rip(12), 53), n64, n64, udp_in, NONE);
    assert_counters_as_one_worker(&run, &one, &[]);
}

#[test]
fn dr_and_tun_with_2_workers_stay_on_the_receiving_worker() {
    dr_and_tun(2);
}

#[test]
fn dr_and_tun_with_4_workers_stay_on_the_receiving_worker() {
    dr_and_tun(4);
}

// ---------------------------------------------------------------------------
// Persistence: a client's flows on one worker

/// A persistent NAT service (rr over .11, .12, .13) and two clients that
/// worker 1 owns (`hash(client, 0)`). Client 1's first query arrives on
/// worker 1's own queue (handled in its first poll: client 1 is its first
/// new client, so it gets .11), its answer and client 1's two other flows
/// (query and answer each) on the other queues; all three flows of client
/// 2 on the other queues too, so client 2 is worker 1's second new client
/// (.12). Every flow must stay with its client's backend, whatever queue
/// and port it comes from: 11 hand-overs.
fn persistent(n: usize) {
    let backends = [(rip(11), 5353), (rip(12), 5353), (rip(13), 5353)];
    let services = service(
        "udp",
        53,
        "nat",
        "rr",
        "persistence = 300",
        &backends.map(|(a, p)| (a, Some(p), 1)),
    );
    let config = one_arm_config() + &services;
    let owners = Owners::new(n).service("udp", 53, "nat", true, &backends);
    let mut mq = MqScript::new(owners);
    let w = 1;
    let clients: Vec<Ip> = (1..=254)
        .map(cip)
        .filter(|&c| mq.owners.hashed(c, 0) == w)
        .take(2)
        .collect();
    let others: Vec<usize> = (0..n).filter(|&q| q != w).collect();
    let mut t = [[NONE; 2]; 2]; // [client][in, out]
    let mut k = 0;
    for (ci, (&addr, n_rip)) in clients.iter().zip([11, 12]).enumerate() {
        for port in [6001, 6002, 6003] {
            let c = (addr, port);
            let (fwd, rev) = nat_legs(
                LAN_MAC,
                ROUTER_MAC,
                c,
                DNS,
                c,
                (rip(n_rip), 5353),
                rmac(n_rip),
            );
            let (q_query, q_answer) = if ci == 0 && port == 6001 {
                (w, others[0])
            } else {
                k += 1;
                let q = others[k % others.len()];
                (q, q)
            };
            let f = mq.flow(format!(
                "udp {c:?} to .{n_rip}: query on queue {q_query}, answer on {q_answer}"
            ));
            mq.on(f, q_query, |s| udp_on(s, &fwd, b"query", &mut t[ci][0]));
            mq.on(f, q_answer, |s| udp_on(s, &rev, b"answer!", &mut t[ci][1]));
        }
    }
    mq.assert_one_burst(w);
    assert_eq!(mq.redirects, 11, "the case as designed");

    let one = mq.run_one_worker(&config);
    mq.assert_one_worker_output(&one);
    let run = mq.run(&config);
    mq.assert_output(&run);
    run.assert_redirects(11);
    run.assert_drops(&[]);
    for (ci, n_rip) in [(0, 11), (1, 12)] {
        let row = run.row(&be_row("udp", 53, rip(n_rip), 5353));
        let want = [
            3,
            t[ci][0].packets,
            t[ci][0].bytes,
            t[ci][1].packets,
            t[ci][1].bytes,
        ];
        assert_eq!(
            [row[0], row[2], row[3], row[4], row[5]],
            want,
            "be .{n_rip}: conns packets-in bytes-in packets-out bytes-out\n{}",
            run.stdout()
        );
    }
    assert_eq!(run.row(&be_row("udp", 53, rip(13), 5353))[0], 0);
    assert_counters_as_one_worker(&run, &one, &[]);
}

#[test]
fn persistent_service_with_2_workers_keeps_a_clients_flows_on_one_worker() {
    persistent(2);
}

#[test]
fn persistent_service_with_4_workers_keeps_a_clients_flows_on_one_worker() {
    persistent(4);
}

// ---------------------------------------------------------------------------
// ICMP errors about a flow, on a queue that does not own it

/// A TCP connection through `vport` (NAT or FULLNAT, the client seen by the
/// backend as `seen`) on queue `q`, ending with the backend's
/// fragmentation-needed about the client's big segment, which must reach
/// the client from the VIP quoting what the client sent.
fn frag_needed_flow(mq: &mut MqScript, f: usize, q: usize, c: Ep, vport: u16, seen: Ep, n_rip: u8) {
    let (fwd, rev) = nat_legs(
        LAN_MAC,
        ROUTER_MAC,
        c,
        (VIP, vport),
        seen,
        (rip(n_rip), 8080),
        rmac(n_rip),
    );
    let mut conv = TcpConv::new(fwd, rev);
    mq.on(f, q, |s| {
        conv.client(s, "S", b"");
        conv.server(s, "SA", b"");
        conv.client(s, "A", b"");
        let big = conv.client(s, "AP", &[0x5a; 1400]);
        let as_sent = s.expected.last().expect("the big segment out")[14..].to_vec();
        let too_big =
            Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded {
                next_hop_mtu: 1300,
            });
        let icmp = icmp_error(
            rmac(n_rip),
            LAN_MAC,
            rip(n_rip),
            seen.0,
            too_big.clone(),
            &as_sent,
            28,
        );
        let quote = big.with_ttl(63).ip_bytes();
        let mut out = icmp_error(LAN_MAC, ROUTER_MAC, VIP, c.0, too_big, &quote, 28);
        out.ip = Ipv4Header {
            source: VIP,
            destination: c.0,
            time_to_live: 63,
            ..icmp.ip.clone()
        };
        s.push(icmp.bytes(), Some(out.bytes()));
    });
}

/// Three flows, each with an ICMP error from its backend that a worker
/// other than the owner receives: a NAT and a FULLNAT TCP connection with
/// a fragmentation-needed, each whole on a queue its owner does not have
/// (pattern a: 5 hand-overs each; the error's owner comes from the
/// reversed quote: the NAT client's hash, the FULLNAT local port); and a
/// NAT UDP flow whose two queries reach the owner's own queue and whose
/// backend's port-unreachable reaches another (pattern b: 1). 11 in all.
fn icmp_errors(n: usize) {
    let (o_nat, o_full, o_udp) = (0, 1, n - 1);
    let services = |ports: &str| {
        service("tcp", 80, "nat", "rr", "", &[(rip(11), Some(8080), 1)])
            + &service(
                "tcp",
                81,
                "fullnat",
                "rr",
                &format!("local_addresses = [\"10.0.1.100\"]\nlocal_ports = {ports}"),
                &[(rip(12), Some(8080), 1)],
            )
            + &service("udp", 53, "nat", "rr", "", &[(rip(13), Some(5353), 1)])
    };
    let config = one_arm_config() + &services(&one_port_each(40000, n));
    // One worker, given only the port the FULLNAT flow's owner takes, does
    // what the owner does.
    let lport = 40000 + o_full as u16;
    let one_config = one_arm_config() + &services(&format!("\"{lport}-{lport}\""));
    let owners = Owners::new(n)
        .service("tcp", 80, "nat", false, &[(rip(11), 8080)])
        .service("tcp", 81, "fullnat", false, &[(rip(12), 8080)])
        .service("udp", 53, "nat", false, &[(rip(13), 5353)])
        .local_addrs(&[LIP1]);
    let mut mq = MqScript::new(owners);

    let c = (cip(1), mq.owners.port_for(o_nat, cip(1), 40001));
    let q = next(o_nat, n);
    let f = mq.flow(format!("nat tcp {c:?} of worker {o_nat} on queue {q}"));
    frag_needed_flow(&mut mq, f, q, c, 80, c, 11);

    let c = (cip(2), mq.owners.port_for(o_full, cip(2), 40001));
    let seen = (LIP1, lport);
    let q = next(o_full, n);
    let f = mq.flow(format!(
        "fullnat tcp {c:?} as {seen:?} of worker {o_full} on queue {q}"
    ));
    frag_needed_flow(&mut mq, f, q, c, 81, seen, 12);

    let c = (cip(3), mq.owners.port_for(o_udp, cip(3), 5353));
    let (fwd, _) = nat_legs(LAN_MAC, ROUTER_MAC, c, DNS, c, (rip(13), 5353), rmac(13));
    let q = next(o_udp, n);
    let f = mq.flow(format!(
        "nat udp {c:?} of worker {o_udp}: queries on its queue, the error on {q}"
    ));
    let mut tin = NONE;
    mq.on(f, o_udp, |s| udp_on(s, &fwd, b"first query", &mut tin));
    let (query, as_sent) = mq.on(f, o_udp, |s| {
        let query = udp_on(s, &fwd, b"second query", &mut tin);
        (query, s.expected[0][14..].to_vec())
    });
    mq.on(f, q, |s| {
        let icmp = icmp_error(
            rmac(13),
            LAN_MAC,
            rip(13),
            c.0,
            port_unreachable(),
            &as_sent,
            28,
        );
        let quote = query.with_ttl(63).ip_bytes();
        let mut out = icmp_error(
            LAN_MAC,
            ROUTER_MAC,
            VIP,
            c.0,
            port_unreachable(),
            &quote,
            28,
        );
        out.ip = Ipv4Header {
            source: VIP,
            destination: c.0,
            time_to_live: 63,
            ..icmp.ip.clone()
        };
        s.push(icmp.bytes(), Some(out.bytes()));
    });
    mq.assert_one_burst(o_udp);
    assert_eq!(mq.redirects, 11, "the case as designed");

    let one = mq.run_one_worker(&one_config);
    mq.assert_one_worker_output(&one);
    let run = mq.run(&config);
    mq.assert_output(&run);
    run.assert_redirects(11);
    run.assert_drops(&[]);
    assert_eq!(run.event("icmp_errors_translated"), 3);
    assert_counters_as_one_worker(&run, &one, &[]);
}

#[test]
fn icmp_errors_with_2_workers_are_translated_by_the_flows_owner() {
    icmp_errors(2);
}

#[test]
fn icmp_errors_with_4_workers_are_translated_by_the_flows_owner() {
    icmp_errors(4);
}

// ---------------------------------------------------------------------------
// Neighbours learned by one worker, used by another

/// A NAT backend (.14) with no static neighbour. Worker A = 0 owns a UDP
/// flow to it; its first two queries arrive on A's own queue, so A asks for
/// .14 and they wait. Worker B = N-1 receives 64 datagrams of a flow it
/// owns (to .11, static), then .14's ARP reply to our address, then a third
/// query of A's flow (1 hand-over). A's three queries must all go out, in
/// order, from A's TX queue, and `event:neighbours_shared` must count the
/// sharing.
///
/// Not ordered: whether A asks before B has learned .14 (B's queue is
/// read independently of A's). Both orders must work, since a worker takes
/// a shared neighbour as its own (docs/load-balancing.md): if A asked
/// first, its queries wait and go out when B shares the answer; if B
/// learned first, A has .14 before its first query and never asks. The
/// case accepts either and prints which way it went.
fn neighbour_shared(n: usize) {
    let services = service("udp", 53, "nat", "rr", "", &[(rip(14), None, 1)])
        + &service("udp", 54, "nat", "rr", "", &[(rip(11), None, 1)]);
    let config = one_arm_config() + &services;
    let owners = Owners::new(n)
        .service("udp", 53, "nat", false, &[(rip(14), 53)])
        .service("udp", 54, "nat", false, &[(rip(11), 54)]);
    let mut mq = MqScript::new(owners);
    let (a, b) = (0, n - 1);

    let c = (cip(1), mq.owners.port_for(a, cip(1), 5353));
    let (fwd, _) = nat_legs(LAN_MAC, ROUTER_MAC, c, DNS, c, (rip(14), 53), rmac(14));
    let waiting = mq.flow(format!(
        "udp {c:?} of worker {a} to .14 (no static neighbour)"
    ));
    let mut t = NONE;
    for r in 0..2u8 {
        mq.on(waiting, a, |s| udp_on(s, &fwd, &[r; 20], &mut t));
    }

    let cb = (cip(2), mq.owners.port_for(b, cip(2), 7000));
    let (fwd_b, _) = nat_legs(
        LAN_MAC,
        ROUTER_MAC,
        cb,
        (VIP, 54),
        cb,
        (rip(11), 54),
        rmac(11),
    );
    let busy = mq.flow(format!("udp {cb:?} of worker {b} to .11"));
    let mut tb = NONE;
    for r in 0..64u8 {
        mq.on(busy, b, |s| udp_on(s, &fwd_b, &[r; 10], &mut tb));
    }
    mq.on(waiting, b, |s| {
        s.push(arp_reply(rmac(14), rip(14), LAN_MAC, SERVERS_ADDR), None)
    });
    mq.on(waiting, b, |s| udp_on(s, &fwd, &[2; 20], &mut t));
    mq.assert_one_burst(a);
    assert_eq!(mq.redirects, 1, "the case as designed");

    let request = padded(arp_request(LAN_MAC, SERVERS_ADDR, rip(14)));
    let without_requests = |sent: &[Vec<Vec<u8>>]| -> (Vec<Vec<Vec<u8>>>, Vec<usize>) {
        let asked = sent
            .iter()
            .map(|q| q.iter().filter(|f| **f == request).count())
            .collect();
        let rest = sent
            .iter()
            .map(|q| q.iter().filter(|f| **f != request).cloned().collect())
            .collect();
        (rest, asked)
    };

    let one = mq.run_one_worker(&config);
    let (rest, asked) = without_requests(&one.sent_by_queue[0]);
    assert_eq!(asked, vec![1], "one worker asks once");
    mq.assert_one_worker_output_of(&rest[0]);

    let run = mq.run(&config);
    let (rest, asked) = without_requests(&run.sent_by_queue[0]);
    mq.assert_output_of(&rest);
    let requests = run.event("arp_requests");
    let mut want_asked = vec![0; n];
    want_asked[a] = requests as usize;
    assert_eq!(
        asked, want_asked,
        "ARP requests per TX queue: only worker {a} asks, as often as event:arp_requests says"
    );
    assert!(requests <= 1, "{requests} ARP requests:\n{}", run.stdout());
    if requests == 1 {
        let first = &run.sent_by_queue[0][a][0];
        assert_eq!(
            first, &request,
            "worker {a} asks before it sends its queries"
        );
    }
    if requests == 1 {
        eprintln!(
            "{n} workers: worker {a} asked for .14; its queries waited and went out \
             when worker {b} shared what it learned"
        );
    } else {
        eprintln!("{n} workers: worker {a} had .14 from worker {b} before its first query");
    }
    run.assert_redirects(1);
    run.assert_drops(&[]);
    let shared = run.event_opt("neighbours_shared");
    assert!(
        shared.is_some_and(|s| s > 0),
        "event:neighbours_shared = {shared:?}\n{}",
        run.stdout()
    );
    run.assert_row(&be_row("udp", 53, rip(14), 53), 1, 1, t, NONE);
    run.assert_row(&be_row("udp", 54, rip(11), 54), 1, 1, tb, NONE);
    assert_counters_as_one_worker(&run, &one, &["event:arp_requests"]);
}

#[test]
fn a_neighbour_learned_by_another_of_2_workers_releases_the_waiting_packets() {
    neighbour_shared(2);
}

#[test]
fn a_neighbour_learned_by_another_of_4_workers_releases_the_waiting_packets() {
    neighbour_shared(4);
}
