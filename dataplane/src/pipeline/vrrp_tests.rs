//! VRRP standby addresses (docs/high-availability.md): a backup node has
//! the full config but answers nothing for the addresses its peer holds;
//! when it takes them (new tables) it announces them at once.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::io::MemoryIo;
use crate::tables::{self, KernelPath, LbConfig, LbTables, Mode};
use crate::wire::ArpPacket;

const LIP: [u8; 4] = [10, 0, 1, 100];

/// A FULLNAT service on VIP with local address LIP; `standby` on the
/// backup, empty on the master. The port has a kernel interface that takes
/// everything unmatched, so "not to the kernel" is checked too.
fn node(standby: &[[u8; 4]]) -> LbConfig {
    let mut fullnat = service(Mode::FullNat, IpProto::TCP);
    fullnat.local_addrs = vec![ip(LIP)];
    let mut cfg = config(vec![fullnat]);
    cfg.standby = standby.iter().map(|&a| ip(a)).collect();
    cfg.kernel = vec![KernelPath {
        port: 0,
        io_port: 1,
        addrs: vec![ip([10, 0, 0, 2])],
        unmatched: true,
        budget: 1000,
    }];
    cfg.garp = tables::Garp {
        count: 1,
        interval_ms: 1000,
    };
    cfg
}

/// Polls `frames` on port 0 at `now`; (wire out, kernel out).
fn exchange(p: &mut Pipeline<TestBuf>, frames: &[Vec<u8>], now: u64) -> (Vec<Vec<u8>>, usize) {
    let mut io = MemoryIo::new(vec![frames.to_vec(), Vec::new()]);
    while !io.rx[0].is_empty() {
        p.poll(&mut io, now);
    }
    p.poll(&mut io, now);
    (io.sent_frames(0), io.sent_frames(1).len())
}

fn garps(frames: &[Vec<u8>]) -> Vec<Ipv4Addr> {
    frames
        .iter()
        .filter_map(|f| ArpPacket::new(f.get(14..)?).ok())
        .filter(|a| a.sender_ip() == a.target_ip())
        .map(|a| a.sender_ip())
        .collect()
}

fn echo_request(dst: [u8; 4]) -> Vec<u8> {
    let mut v = Vec::new();
    etherparse::PacketBuilder::ethernet2(ROUTER, OURS)
        .ipv4(CIP, dst, 64)
        .icmpv4_echo_request(7, 1)
        .write(&mut v, b"ping")
        .expect("writes");
    v
}

#[test]
fn a_backup_answers_nothing_for_standby_addresses_and_counts_it() {
    let mut p = pipeline(&node(&[VIP, LIP]));
    let (out, _) = exchange(&mut p, &[], 1);
    assert_eq!(
        garps(&out),
        vec![ip([10, 0, 0, 1]), ip([10, 0, 0, 2]), ip([10, 0, 1, 1])],
        "standby addresses are not announced"
    );
    let frames = [
        arp_frame(1, (ROUTER, [10, 0, 0, 254]), ([0; 6], VIP)),
        arp_frame(1, (RS1, RIP1), ([0; 6], LIP)),
        // The master's gratuitous ARP for the VIP.
        arp_frame(1, (RS2, VIP), ([0; 6], VIP)),
        tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b""),
        echo_request(VIP),
        tcp((RS1, OURS), (RIP1, LIP), (8080, 40000), SYN | ACK, 64, b""),
    ];
    let (out, to_kernel) = exchange(&mut p, &frames, 2);
    assert!(out.is_empty(), "{} frames sent", out.len());
    assert_eq!(to_kernel, 0, "standby addresses are not the host's either");
    assert_eq!(drops(&p, DropReason::VrrpBackup), 6);
    assert_eq!(p.counters().events.sessions_created, 0);
    // Its own addresses are still answered.
    let (out, _) = exchange(
        &mut p,
        &[arp_frame(
            1,
            (ROUTER, [10, 0, 0, 254]),
            ([0; 6], [10, 0, 0, 1]),
        )],
        3,
    );
    assert_eq!(out.len(), 1);
}

#[test]
fn taking_the_addresses_announces_them_at_once_and_serves_them() {
    let backup = node(&[VIP, LIP]);
    let mut p = pipeline(&backup);
    let _ = exchange(&mut p, &[], 1);
    let old = Arc::clone(&p.tables);
    let master = node(&[]);
    p.adopt(
        Arc::new(LbTables::build_next(&master, &old, &Default::default()).expect("builds")),
        500,
    );
    let (out, _) = exchange(&mut p, &[], 500);
    assert_eq!(garps(&out), vec![ip(LIP), ip(VIP)], "only what it took");
    let (out, _) = exchange(
        &mut p,
        &[
            arp_frame(1, (ROUTER, [10, 0, 0, 254]), ([0; 6], VIP)),
            tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b""),
        ],
        501,
    );
    assert_eq!(out.len(), 2, "ARP answered and the SYN forwarded");
    assert_eq!(seen(&out[1]).src, LIP);
    assert_eq!(drops(&p, DropReason::VrrpBackup), 0);

    // Back to backup: new flows are refused, the session it has goes on
    // (its packets arrive only while neighbours still have this node's
    // MAC, and losing them would cut a connection for nothing).
    let old = Arc::clone(&p.tables);
    p.adopt(
        Arc::new(LbTables::build_next(&backup, &old, &Default::default()).expect("builds")),
        600,
    );
    let (out, _) = exchange(
        &mut p,
        &[
            tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), ACK, 64, b"more"),
            tcp((ROUTER, OURS), (CIP, VIP), (40001, 80), SYN, 64, b""),
        ],
        601,
    );
    assert_eq!(out.len(), 1, "the session's segment only");
    assert_eq!(seen(&out[0]).ports.0, 40000);
    assert_eq!(drops(&p, DropReason::VrrpBackup), 1);
}
