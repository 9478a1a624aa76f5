//! The kernel path and gratuitous ARP on in-memory ports: port 0 is the
//! wire, I/O port 1 the kernel interface (worker 0's).

use std::net::Ipv4Addr;
use std::sync::Arc;

use etherparse::PacketBuilder;

use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::io::MemoryIo;
use crate::net::arp::write_arp_request;
use crate::tables::{self, KernelPath, LbConfig, LbTables, Mode};
use crate::wire::ArpPacket;

const HOST: [u8; 4] = [10, 0, 0, 2];
const CLIENT: [u8; 4] = [10, 0, 0, 7];

fn kernel_config(budget: u32, unmatched: bool) -> LbConfig {
    let mut cfg = config(vec![service(Mode::Dr, IpProto::TCP)]);
    cfg.kernel = vec![KernelPath {
        port: 0,
        io_port: 1,
        addrs: vec![ip(HOST)],
        unmatched,
        budget,
    }];
    cfg
}

/// Feeds `wire` on port 0 and `from_kernel` on the kernel interface, polls
/// at `now` until both are read, and returns (wire out, kernel out).
fn exchange(
    p: &mut Pipeline<TestBuf>,
    wire: &[Vec<u8>],
    from_kernel: &[Vec<u8>],
    now: u64,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut io = MemoryIo::new(vec![wire.to_vec(), from_kernel.to_vec()]);
    let mut t = now;
    while !io.rx[0].is_empty() || !io.rx[1].is_empty() {
        p.poll(&mut io, t);
        t += 1;
    }
    p.poll(&mut io, t);
    (io.sent_frames(0), io.sent_frames(1))
}

fn events(p: &Pipeline<TestBuf>) -> counters::Events {
    p.counters().events
}

fn arp_request(target: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0u8; 64];
    let n = write_arp_request(
        &mut f,
        None,
        MacAddr(ROUTER),
        Ipv4Addr::new(10, 0, 0, 254),
        ip(target),
    )
    .expect("fits");
    f.truncate(n);
    f[0..6].copy_from_slice(&[0xff; 6]);
    f
}

fn vrrp_advert() -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(ROUTER, [0x01, 0, 0x5e, 0, 0, 0x12])
        .ipv4(CLIENT, [224, 0, 0, 18], 255)
        .write(
            &mut v,
            etherparse::IpNumber(112),
            &[0x31, 1, 100, 1, 0, 1, 0, 0, 10, 0, 0, 9],
        )
        .expect("writes");
    v
}

#[test]
fn host_traffic_goes_to_the_kernel_and_vip_traffic_is_balanced() {
    let mut p = pipeline(&kernel_config(1000, false));
    let to_host = tcp((ROUTER, OURS), (CLIENT, HOST), (40000, 22), SYN, 64, b"");
    let udp_to_host = udp((ROUTER, OURS), CLIENT, HOST, (5000, 179));
    let to_vip = tcp((ROUTER, OURS), (CIP, VIP), (40001, 80), SYN, 64, b"");
    let wire = [to_host.clone(), udp_to_host.clone(), to_vip, vrrp_advert()];
    let (out, kernel) = exchange(&mut p, &wire, &[], 1);
    assert_eq!(kernel, vec![to_host, udp_to_host, vrrp_advert()]);
    assert_eq!(out.len(), 1, "the VIP's SYN is forwarded");
    assert_eq!(seen(&out[0]).dst, VIP);
    assert!([RS1, RS2].contains(&seen(&out[0]).macs.1));
    assert_eq!(events(&p).to_kernel, 3);
    assert_eq!(events(&p).sessions_created, 1);
}

#[test]
fn arp_for_host_addresses_goes_to_the_kernel_and_ours_is_answered() {
    let mut p = pipeline(&kernel_config(1000, false));
    let for_host = arp_request(HOST);
    let for_us = arp_request([10, 0, 0, 1]);
    let (out, kernel) = exchange(&mut p, &[for_host.clone(), for_us], &[], 1);
    assert_eq!(kernel, vec![for_host]);
    assert_eq!(out.len(), 1);
    let reply = ArpPacket::new(&out[0][14..]).expect("arp");
    assert_eq!(reply.sender_ip(), Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(events(&p).arp_replies, 1);
}

#[test]
fn without_a_kernel_interface_host_traffic_is_dropped_as_before() {
    let mut p = pipeline(&config(vec![service(Mode::Dr, IpProto::TCP)]));
    let to_host = udp((ROUTER, OURS), CLIENT, HOST, (5000, 179));
    let (out, _) = exchange(&mut p, &[to_host, vrrp_advert()], &[], 1);
    assert!(out.is_empty());
    assert_eq!(drops(&p, DropReason::NoService), 1);
    assert_eq!(drops(&p, DropReason::UnsupportedProtocol), 1);
    assert_eq!(events(&p).to_kernel, 0);
}

#[test]
fn a_flood_is_capped_by_the_budget_per_second() {
    let mut p = pipeline(&kernel_config(10, false));
    let flood: Vec<Vec<u8>> = (0..30)
        .map(|i| udp((ROUTER, OURS), CLIENT, HOST, (5000 + i, 53)))
        .collect();
    let (_, kernel) = exchange(&mut p, &flood, &[], 1);
    assert_eq!(kernel.len(), 10);
    assert_eq!(drops(&p, DropReason::KernelBudget), 20);
    // A second later the budget is back.
    let (_, kernel) = exchange(&mut p, &flood[..5], &[], 1100);
    assert_eq!(kernel.len(), 5);
    assert_eq!(events(&p).to_kernel, 15);
}

#[test]
fn a_full_kernel_queue_is_counted() {
    let mut p = pipeline(&kernel_config(1000, false));
    let frames: Vec<Vec<u8>> = (0..8)
        .map(|i| udp((ROUTER, OURS), CLIENT, HOST, (5000 + i, 53)))
        .collect();
    let mut io = MemoryIo::new(vec![frames, Vec::new()]);
    io.tx_limit = Some(3);
    p.poll(&mut io, 1);
    assert_eq!(io.sent_frames(1).len(), 3);
    assert_eq!(drops(&p, DropReason::KernelFull), 5);
    assert_eq!(events(&p).to_kernel, 3);
}

#[test]
fn what_the_kernel_sends_leaves_by_the_port() {
    let mut p = pipeline(&kernel_config(1000, false));
    let reply = tcp(
        (OURS, ROUTER),
        (HOST, CLIENT),
        (22, 40000),
        SYN | ACK,
        64,
        b"",
    );
    let tagged = {
        let mut f = reply.clone();
        f.splice(12..12, [0x81, 0x00, 0x00, 0x64]);
        f
    };
    let (out, _) = exchange(&mut p, &[], &[reply.clone(), tagged.clone()], 1);
    assert_eq!(out, vec![reply, tagged], "as the kernel wrote them");
    assert_eq!(events(&p).from_kernel, 2);
}

#[test]
fn unmatched_traffic_goes_to_the_kernel_only_when_asked() {
    let stray = udp((ROUTER, OURS), CLIENT, [10, 0, 0, 50], (5000, 9999));
    let mut off = pipeline(&kernel_config(1000, false));
    let (_, kernel) = exchange(&mut off, std::slice::from_ref(&stray), &[], 1);
    assert!(kernel.is_empty());
    assert_eq!(drops(&off, DropReason::NoService), 1);

    let mut on = pipeline(&kernel_config(1000, true));
    let to_vip_other_port = udp((ROUTER, OURS), CLIENT, VIP, (5000, 53));
    let (_, kernel) = exchange(&mut on, &[stray.clone(), to_vip_other_port], &[], 1);
    assert_eq!(
        kernel.len(),
        2,
        "a VIP's unserved port is not the load balancer's either"
    );
    assert_eq!(kernel[0], stray);
}

fn garps(frames: &[Vec<u8>]) -> Vec<Ipv4Addr> {
    frames
        .iter()
        .filter_map(|f| ArpPacket::new(f.get(14..)?).ok())
        .filter(|a| a.sender_ip() == a.target_ip())
        .map(|a| a.sender_ip())
        .collect()
}

#[test]
fn owned_addresses_are_announced_count_times_at_start_and_when_added() {
    let mut cfg = kernel_config(1000, false);
    cfg.garp = tables::Garp {
        count: 2,
        interval_ms: 1000,
    };
    let mut p = pipeline(&cfg);
    let everything = vec![ip([10, 0, 0, 1]), ip(HOST), ip([10, 0, 1, 1]), ip(VIP)];
    let (out, _) = exchange(&mut p, &[], &[], 1);
    assert_eq!(garps(&out), everything);
    let (out, _) = exchange(&mut p, &[], &[], 500);
    assert!(garps(&out).is_empty(), "not before the interval");
    let (out, _) = exchange(&mut p, &[], &[], 1001);
    assert_eq!(garps(&out), everything);
    let (out, _) = exchange(&mut p, &[], &[], 3000);
    assert!(garps(&out).is_empty(), "count reached");
    assert_eq!(events(&p).garp_sent, 8);

    // A VIP added at run time is announced; the others are not again.
    let mut next = cfg.clone();
    let mut other = service(Mode::Dr, IpProto::TCP);
    other.vip = ip([192, 0, 2, 20]).into();
    next.services.push(other);
    let old = Arc::clone(&p.tables);
    p.adopt(
        Arc::new(LbTables::build_next(&next, &old, &Default::default()).expect("builds")),
        4000,
    );
    let (out, _) = exchange(&mut p, &[], &[], 4000);
    assert_eq!(garps(&out), vec![ip([192, 0, 2, 20])]);
}

#[test]
fn no_announcements_with_count_zero() {
    let mut p = pipeline(&kernel_config(1000, false));
    let (out, _) = exchange(&mut p, &[], &[], 1);
    assert!(garps(&out).is_empty());
}

#[test]
fn another_worker_hands_host_frames_to_worker_0_within_its_share_of_the_budget() {
    let tables = Arc::new(LbTables::build(&kernel_config(10, false)).expect("tables"));
    let mut pipes: Vec<Pipeline<TestBuf>> = redirect::mesh(2, 64)
        .into_iter()
        .enumerate()
        .map(|(w, links)| {
            let mut p = Pipeline::new(Arc::clone(&tables), w, 2, 0).expect("pipeline");
            p.connect(links).expect("links");
            p
        })
        .collect();
    // Worker 1 has no kernel queues (only worker 0's I/O has port 1).
    let flood: Vec<Vec<u8>> = (0..12)
        .map(|i| udp((ROUTER, OURS), CLIENT, HOST, (6000 + i, 53)))
        .collect();
    let mut io1 = MemoryIo::new(vec![flood]);
    let mut io0 = MemoryIo::new(vec![Vec::new(), Vec::new()]);
    pipes[1].poll(&mut io1, 1);
    pipes[0].poll(&mut io0, 1);
    // Worker 1's share of 10 a second is 5: 5 reach the kernel through
    // worker 0, 7 are over the budget.
    assert_eq!(io0.sent_frames(1).len(), 5);
    assert_eq!(pipes[0].counters().events.to_kernel, 5);
    assert_eq!(drops(&pipes[1], DropReason::KernelBudget), 7);
}

#[test]
fn every_fragment_of_a_datagram_for_the_kernel_reaches_it() {
    let big = |dst: [u8; 4]| {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(ROUTER, OURS)
            .ipv4(CLIENT, dst, 64)
            .udp(5000, 9999)
            .write(&mut v, &[7; 3000])
            .expect("writes");
        crate::testutil::fragment(&v, 14, 1480)
    };
    // To a host address: the kernel's by destination; unmatched: the
    // first goes up as no service's, and the rest follow it.
    for (dst, unmatched) in [(HOST, false), ([10, 0, 0, 50], true)] {
        let mut p = pipeline(&kernel_config(1000, unmatched));
        let frags = big(dst);
        let (wire, kernel) = exchange(&mut p, &frags, &[], 1);
        assert!(wire.is_empty());
        assert_eq!(kernel, frags, "to {dst:?}");
    }
}
