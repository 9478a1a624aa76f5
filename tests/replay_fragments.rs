//! Pcap replay of IPv4 fragments through the real `ferrolb` binary
//! (docs/fragments-and-mtu.md): datagrams of TCP and UDP in fragments,
//! through NAT, FULLNAT, DR, TUN and SNAT, in order and the first one
//! last; overlapping and oversized fragments dropped by name; and a
//! datagram's fragments arriving on two workers' queues.
//!
//! The fragments we must send are the sender's fragments of the datagram
//! the document says we send (fragments keep their identification, offset
//! and flags), so every case is frame-exact.

mod common;

use common::fragments::{fold, fragment, payload, raw_frame};
use common::lb::*;
use common::{assert_frames_eq, CasePort, Replay};
use etherparse::IpNumber;

const DNS: Ep = (VIP, 53);
const HTTP: Ep = (VIP, 80);

fn run_one_arm(input: Vec<Vec<u8>>, services: &str, cores: Vec<usize>) -> common::ReplayResult {
    let queues = if cores.len() > 1 {
        // Fragment `i` on queue `i % workers`.
        let mut q = vec![Vec::new(); cores.len()];
        for (i, f) in input.into_iter().enumerate() {
            q[i % cores.len()].push(f);
        }
        q
    } else {
        vec![input]
    };
    let run = Replay {
        ports: vec![CasePort::with_queues("lan", queues).with_mac(LAN_MAC)],
        config: one_arm_config() + services,
        cores,
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    run
}

/// A client's datagram through `fwd` and the backend's answer through
/// `rev`, each in 3 fragments; with `first_last` each datagram's first
/// fragment comes after its others (they still leave in order: the held
/// ones follow the first).
fn exchange(fwd: &Leg, rev: &Leg, proto: IpNumber, first_last: bool) -> Script {
    exchange_in(fwd, rev, proto, first_last, 1480)
}

/// [`exchange`] in fragments of `chunk` bytes.
fn exchange_in(fwd: &Leg, rev: &Leg, proto: IpNumber, first_last: bool, chunk: usize) -> Script {
    let mut s = Script::default();
    for (leg, len, seed) in [(fwd, 4000, 1u8), (rev, 3500, 2)] {
        let f = match proto {
            IpNumber::TCP => tcp(
                leg.from_mac,
                leg.to_mac,
                leg.src,
                leg.dst,
                1,
                1,
                "A",
                &payload(len, seed),
            )
            .with_df(false),
            _ => udp(
                leg.from_mac,
                leg.to_mac,
                leg.src,
                leg.dst,
                &payload(len, seed),
            ),
        };
        let mut input = fragment(&f.bytes(), chunk);
        let expected = match leg.out {
            // Our datagram, as the sender would have fragmented it.
            Out::Nat { .. } => fragment(&leg.expect(&f).expect("forwarded"), chunk),
            // Each fragment on its own (MACs, or IP-in-IP around it).
            _ => input
                .iter()
                .map(|piece| {
                    let raw = raw_frame(piece);
                    leg.expect(&raw).expect("forwarded")
                })
                .collect(),
        };
        if first_last {
            // The others wait; all leave when the first comes, it first.
            input.rotate_left(1);
        }
        s.input.extend(input);
        s.expected.extend(expected);
    }
    s
}

fn nat_udp() -> String {
    service("udp", 53, "nat", "rr", "", &[(rip(11), Some(5353), 1)])
}

fn fullnat_tcp() -> String {
    service(
        "tcp",
        80,
        "fullnat",
        "rr",
        "local_addresses = [\"10.0.1.100\"]\nlocal_ports = \"40000-40000\"",
        &[(rip(12), Some(8080), 1)],
    )
}

#[test]
fn nat_udp_datagrams_in_fragments_go_out_whole_both_ways() {
    for first_last in [false, true] {
        let c = (cip(1), 40000);
        let (fwd, rev) = nat_legs(LAN_MAC, ROUTER_MAC, c, DNS, c, (rip(11), 5353), rmac(11));
        let s = exchange(&fwd, &rev, IpNumber::UDP, first_last);
        let run = run_one_arm(s.input.clone(), &nat_udp(), vec![1]);
        assert_frames_eq("lan", &s.expected, &run.sent[0]);
        run.assert_drops(&[]);
        assert_eq!(run.event("frag_first"), 2);
        assert_eq!(run.event("frag_forwarded"), 4);
        assert_eq!(run.event("frag_held"), if first_last { 4 } else { 0 });
    }
}

#[test]
fn fullnat_tcp_segments_in_fragments_go_out_whole_both_ways() {
    let c = (cip(2), 40000);
    let (fwd, rev) = nat_legs(
        LAN_MAC,
        ROUTER_MAC,
        c,
        HTTP,
        (LIP1, 40000),
        (rip(12), 8080),
        rmac(12),
    );
    // A handshake first: the data then finds its session.
    let mut s = Script::default();
    let mut conv = TcpConv::new(fwd, rev);
    conv.client(&mut s, "S", b"");
    conv.server(&mut s, "SA", b"");
    for first_last in [false, true] {
        let more = exchange(&fwd, &rev, IpNumber::TCP, first_last);
        s.input.extend(more.input);
        s.expected.extend(more.expected);
    }
    let run = run_one_arm(s.input.clone(), &fullnat_tcp(), vec![1]);
    assert_frames_eq("lan", &s.expected, &run.sent[0]);
    run.assert_drops(&[]);
    assert_eq!(run.event("frag_first"), 4);
}

#[test]
fn dr_and_tun_send_every_fragment_to_the_real_server() {
    for (mode, out) in [
        ("dr", Out::Dr),
        (
            "tun",
            Out::Tun {
                outer_src: SERVERS_ADDR,
                outer_dst: rip(11),
            },
        ),
    ] {
        let c = (cip(3), 40000);
        let (fwd, _) = one_way_legs(c, DNS, LAN_MAC, LAN_MAC, rmac(11), out);
        // 1400 bytes: room for TUN's 20 more within the MTU.
        let mut s = exchange_in(&fwd, &fwd, IpNumber::UDP, true, 1400);
        s.input.truncate(3);
        s.expected.truncate(3);
        let services = service("udp", 53, mode, "rr", "", &[(rip(11), None, 1)]);
        let run = run_one_arm(s.input.clone(), &services, vec![1]);
        assert_frames_eq("lan", &s.expected, &run.sent[0]);
        run.assert_drops(&[]);
        assert_eq!(
            (run.event("frag_first"), run.event("frag_held")),
            (1, 2),
            "{mode}"
        );
    }
}

#[test]
fn snat_fragments_leave_from_the_snat_address() {
    let inside = (rip(13), 5000);
    let outside = ([8, 8, 8, 8], 53);
    let (fwd, rev) = nat_legs(
        LAN_MAC,
        rmac(13),
        inside,
        outside,
        (SNAT_ADDR, 50000),
        outside,
        ROUTER_MAC,
    );
    let s = exchange(&fwd, &rev, IpNumber::UDP, false);
    let snat =
        "\n[[snat]]\nsource = \"10.0.1.0/24\"\nport = \"lan\"\naddresses = [\"203.0.113.1\"]\nports = \"50000-50000\"\n";
    let run = run_one_arm(s.input.clone(), snat, vec![1]);
    assert_frames_eq("lan", &s.expected, &run.sent[0]);
    run.assert_drops(&[]);
}

#[test]
fn overlapping_oversized_and_orphaned_fragments_are_dropped_by_name() {
    let c = (cip(4), 40000);
    let (fwd, _) = nat_legs(LAN_MAC, ROUTER_MAC, c, DNS, c, (rip(11), 5353), rmac(11));
    let f = udp(
        fwd.from_mac,
        fwd.to_mac,
        fwd.src,
        fwd.dst,
        &payload(4000, 9),
    );
    let frags = fragment(&f.bytes(), 1480);
    let out = fragment(&fwd.expect(&f).expect("forwarded"), 1480);
    // Teardrop: a copy of the second fragment moved to start inside the first.
    let mut overlap = frags[1].clone();
    overlap[20..22].copy_from_slice(&(0x2000u16 | (1000 / 8)).to_be_bytes());
    fix_header_checksum(&mut overlap);
    // Ping of death: the last fragment moved to offset 65528.
    let mut oversized = frags[2].clone();
    oversized[20..22].copy_from_slice(&0x1fffu16.to_be_bytes());
    fix_header_checksum(&mut oversized);
    // Later fragments of a datagram to no service: its first is dropped.
    let stray = udp(
        ROUTER_MAC,
        LAN_MAC,
        c,
        ([10, 0, 1, 99], 53),
        &payload(3000, 1),
    );
    let stray = fragment(&stray.bytes(), 1480);
    let mut input = vec![frags[0].clone(), overlap, frags[0].clone(), oversized];
    input.extend(frags[1..].iter().cloned());
    input.extend(stray);
    let run = run_one_arm(input, &nat_udp(), vec![1]);
    assert_frames_eq("lan", &out, &run.sent[0]);
    run.assert_drops(&[
        ("frag_overlap", 2),
        ("frag_oversized", 1),
        ("no_service", 1),
        ("frag_first_dropped", 2),
    ]);
}

fn fix_header_checksum(frame: &mut [u8]) {
    frame[24..26].copy_from_slice(&[0, 0]);
    let h = &frame[14..34];
    let sum = !fold(
        h.chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))),
    );
    frame[24..26].copy_from_slice(&sum.to_be_bytes());
}

#[test]
fn a_datagrams_fragments_on_two_workers_queues_reach_one_and_leave_whole() {
    // Several datagrams and client ports, each fragment on the other queue
    // than the one before: first fragments land on their flow's owner or
    // not, and their fragments' owner is either worker. Requests only: the
    // queues run at once, so a reply could overtake its request (replies
    // across workers: `pipeline::fragment_tests`).
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for port in 40000..40006 {
        let c = (cip(5), port);
        let (fwd, rev) = nat_legs(LAN_MAC, ROUTER_MAC, c, DNS, c, (rip(11), 5353), rmac(11));
        let s = exchange(&fwd, &rev, IpNumber::UDP, port % 2 == 1);
        input.extend(s.input.into_iter().take(3));
        expected.extend(s.expected.into_iter().take(3));
    }
    let run = run_one_arm(input, &nat_udp(), vec![1, 1]);
    // Workers send in their own order: the same frames, in any order.
    let (mut want, mut got) = (expected, run.sent[0].clone());
    want.sort();
    got.sort();
    assert_frames_eq("lan", &want, &got);
    run.assert_drops(&[]);
    assert!(run.event("frag_decisions_sent") > 0, "{}", run.stdout());
}

/// Runs one-armed with the port's MTU at `mtu`.
fn run_with_mtu(input: Vec<Vec<u8>>, services: &str, mtu: u16) -> common::ReplayResult {
    let run = Replay {
        ports: vec![CasePort::new("lan", input).with_mac(LAN_MAC).with_mtu(mtu)],
        config: one_arm_config() + services,
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    run
}

#[test]
fn too_big_for_the_egress_mtu_with_df_gets_fragmentation_needed_in_every_mode() {
    for mode in ["nat", "fullnat", "dr"] {
        let extra = if mode == "fullnat" {
            "local_addresses = [\"10.0.1.100\"]\nlocal_ports = \"40000-40000\""
        } else {
            ""
        };
        let port = if mode == "dr" { None } else { Some(8080) };
        let services = service("tcp", 80, mode, "rr", extra, &[(rip(11), port, 1)]);
        let c = (cip(6), 40000);
        let syn = tcp(ROUTER_MAC, LAN_MAC, c, HTTP, 1, 0, "S", b"");
        // 1200 IP bytes with DF, over the port's 1000.
        let big = tcp(ROUTER_MAC, LAN_MAC, c, HTTP, 2, 1, "A", &[0x42; 1160]);
        assert_eq!(big.ip_len(), 1200);
        let run = run_with_mtu(vec![syn.bytes(), big.bytes()], &services, 1000);
        let lan = &run.sent[0];
        assert_eq!(lan.len(), 2, "{mode}: the SYN out, an ICMP error back");
        let want = expected_icmp_error(
            &lan[1],
            &[LAN_ADDR, SERVERS_ADDR, VIP],
            LAN_MAC,
            ROUTER_MAC,
            cip(6),
            etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded {
                    next_hop_mtu: 1000,
                },
            ),
            &big.ip_bytes(),
        );
        assert_frames_eq("lan", &[want], &lan[1..]);
        run.assert_drops(&[("fragmentation_needed", 1)]);
        assert_eq!(run.event("icmp_errors_sent"), 1, "{mode}");
    }
}

#[test]
fn too_big_for_the_egress_mtu_without_df_leaves_in_fragments_in_every_mode() {
    for (mode, out) in [
        ("nat", None),
        ("fullnat", None),
        ("dr", Some(Out::Dr)),
        (
            "tun",
            Some(Out::Tun {
                outer_src: SERVERS_ADDR,
                outer_dst: rip(11),
            }),
        ),
    ] {
        let extra = if mode == "fullnat" {
            "local_addresses = [\"10.0.1.100\"]\nlocal_ports = \"40000-40000\""
        } else {
            ""
        };
        let port = if out.is_some() { None } else { Some(5353) };
        let services = service("udp", 53, mode, "rr", extra, &[(rip(11), port, 1)]);
        let c = (cip(7), 40000);
        // Within one mbuf (2048 bytes): multi-segment frames are not read.
        let f = udp(ROUTER_MAC, LAN_MAC, c, DNS, &payload(1900, 3));
        let expected: Vec<Vec<u8>> = match out {
            None => {
                let seen = if mode == "fullnat" { (LIP1, 40000) } else { c };
                let (fwd, _) =
                    nat_legs(LAN_MAC, ROUTER_MAC, c, DNS, seen, (rip(11), 5353), rmac(11));
                fragment(&fwd.expect(&f).expect("forwarded"), 976)
            }
            Some(out) => {
                let (fwd, _) = one_way_legs(c, DNS, LAN_MAC, LAN_MAC, rmac(11), out);
                // TUN: the inner packet is cut to leave room for the outer header.
                let chunk = if mode == "tun" { 976 - 16 } else { 976 };
                fragment(&f.bytes(), chunk)
                    .iter()
                    .map(|p| fwd.expect(&raw_frame(p)).expect("forwarded"))
                    .collect()
            }
        };
        let run = run_with_mtu(vec![f.bytes()], &services, 1000);
        assert_frames_eq("lan", &expected, &run.sent[0]);
        run.assert_drops(&[]);
        assert_eq!(run.event("frag_egress_fragmented"), 1, "{mode}");
    }
}
