//! Pcap replay of jumbo frames through the real `ferrolb` binary
//! (docs/fragments-and-mtu.md, "Jumbo frames"): with a port `mtu` of 9000
//! the mbuf pool's buffers hold a 9000-byte packet in one mbuf, and it
//! leaves whole in every mode; from a 9000-MTU port towards a 1500-MTU one
//! it meets the egress MTU handling (fragmentation-needed with DF, else
//! fragments); a frame longer than the pool's buffers arrives chained
//! (net_pcap chains it) and is dropped as `multi_segment`.

mod common;

use common::fragments::{fragment, payload};
use common::lb::*;
use common::{assert_frames_eq, CasePort, Replay, ReplayResult};
use etherparse::icmpv4::DestUnreachableHeader;
use etherparse::Icmpv4Type;

const DNS: Ep = (VIP, 53);

/// A UDP datagram of `ip_len` IP bytes, DF set as `df`.
fn big_udp(leg: &Leg, ip_len: usize, seed: u8, df: bool) -> Frame {
    let f = udp(
        leg.from_mac,
        leg.to_mac,
        leg.src,
        leg.dst,
        &payload(ip_len - 28, seed),
    )
    .with_df(df);
    assert_eq!(f.ip_len(), ip_len as u64);
    f
}

fn one_arm(input: Vec<Vec<u8>>, services: &str, mtu: u16) -> ReplayResult {
    let run = Replay {
        ports: vec![CasePort::new("lan", input).with_mac(LAN_MAC).with_mtu(mtu)],
        config: one_arm_config() + services,
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    run
}

/// A UDP service on port 53 in `mode` with backend .11 (port 5353 where
/// the mode translates).
fn dns_service(mode: &str) -> String {
    let extra = if mode == "fullnat" {
        "local_addresses = [\"10.0.1.100\"]\nlocal_ports = \"40000-40000\""
    } else {
        ""
    };
    let port = matches!(mode, "nat" | "fullnat").then_some(5353);
    service("udp", 53, mode, "rr", extra, &[(rip(11), port, 1)])
}

fn frag_needed(mtu: u16) -> Icmpv4Type {
    Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded {
        next_hop_mtu: mtu,
    })
}

#[test]
fn a_9000_byte_packet_leaves_whole_in_every_mode_with_port_mtu_9000() {
    for mode in ["nat", "fullnat"] {
        let c = (cip(8), 40000);
        let seen = if mode == "fullnat" { (LIP1, 40000) } else { c };
        let (fwd, rev) = nat_legs(LAN_MAC, ROUTER_MAC, c, DNS, seen, (rip(11), 5353), rmac(11));
        let request = big_udp(&fwd, 9000, 1, true);
        let reply = big_udp(&rev, 9000, 2, true);
        let run = one_arm(
            vec![request.bytes(), reply.bytes()],
            &dns_service(mode),
            9000,
        );
        let expected = vec![
            fwd.expect(&request).expect("forwarded"),
            rev.expect(&reply).expect("forwarded"),
        ];
        assert!(expected.iter().all(|f| f.len() == 9014), "{mode}");
        assert_frames_eq("lan", &expected, &run.sent[0]);
        run.assert_drops(&[]);
        assert!(
            run.stdout()
                .contains("mtu 9000 (the device has no MTU to set)"),
            "{}",
            run.stdout()
        );
    }
    let c = (cip(9), 40000);
    let (dr, _) = one_way_legs(c, DNS, LAN_MAC, LAN_MAC, rmac(11), Out::Dr);
    let packet = big_udp(&dr, 9000, 3, true);
    let run = one_arm(vec![packet.bytes()], &dns_service("dr"), 9000);
    assert_frames_eq("lan", &[dr.expect(&packet).expect("sent")], &run.sent[0]);
    run.assert_drops(&[]);
}

#[test]
fn tun_sends_8980_bytes_in_a_9000_byte_tunnel_and_refuses_more_with_df() {
    let c = (cip(10), 40000);
    let out = Out::Tun {
        outer_src: SERVERS_ADDR,
        outer_dst: rip(11),
    };
    let (tun, _) = one_way_legs(c, DNS, LAN_MAC, LAN_MAC, rmac(11), out);
    let fits = big_udp(&tun, 8980, 4, true);
    let over = big_udp(&tun, 9000, 5, true);
    let run = one_arm(vec![fits.bytes(), over.bytes()], &dns_service("tun"), 9000);
    let lan = &run.sent[0];
    assert_eq!(lan.len(), 2, "the tunnelled packet, an ICMP error back");
    let tunnelled = tun.expect(&fits).expect("sent");
    assert_eq!(tunnelled.len(), 14 + 9000);
    let error = expected_icmp_error(
        &lan[1],
        &[LAN_ADDR, SERVERS_ADDR, VIP],
        LAN_MAC,
        ROUTER_MAC,
        cip(10),
        frag_needed(8980),
        &over.ip_bytes(),
    );
    assert_frames_eq("lan", &[tunnelled, error], lan);
    run.assert_drops(&[("fragmentation_needed", 1)]);
}

/// The two legs of a NAT or FULLNAT flow between clients on `lan` (MTU
/// 1500) and backends on `servers` (MTU 9000).
fn two_arm_legs(c: Ep, seen: Ep) -> (Leg, Leg) {
    let backend = (rip(11), 5353);
    let fwd = Leg {
        from_mac: ROUTER_MAC,
        to_mac: LAN_MAC,
        src: c,
        dst: DNS,
        out_src_mac: SERVERS_MAC,
        out_dst_mac: rmac(11),
        out: Out::Nat {
            src: seen,
            dst: backend,
        },
    };
    let rev = Leg {
        from_mac: rmac(11),
        to_mac: SERVERS_MAC,
        src: backend,
        dst: seen,
        out_src_mac: LAN_MAC,
        out_dst_mac: ROUTER_MAC,
        out: Out::Nat { src: DNS, dst: c },
    };
    (fwd, rev)
}

#[test]
fn a_jumbo_reply_towards_a_1500_port_gets_fragmentation_needed_or_fragments() {
    for mode in ["nat", "fullnat"] {
        let c = (cip(11), 40000);
        let seen = if mode == "fullnat" { (LIP1, 40000) } else { c };
        let (fwd, rev) = two_arm_legs(c, seen);
        let request = udp(fwd.from_mac, fwd.to_mac, fwd.src, fwd.dst, b"query");
        // The backend's 9000-byte answers: with DF (the PMTU probe a
        // Linux UDP or TCP sender makes), then without.
        let probe = big_udp(&rev, 9000, 6, true);
        let answer = big_udp(&rev, 9000, 7, false);
        let run = Replay {
            ports: vec![
                CasePort::new("lan", vec![request.bytes()])
                    .with_mac(LAN_MAC)
                    .with_mtu(1500),
                CasePort::new("servers", vec![probe.bytes(), answer.bytes()])
                    .with_mac(SERVERS_MAC)
                    .with_mtu(9000),
            ],
            config: two_arm_config() + &dns_service(mode),
            cores: vec![1],
        }
        .run();
        run.assert_ok_and_checksums(&["lan", "servers"]);
        let servers = &run.sent[1];
        assert_eq!(servers.len(), 2, "{mode}: the query, an ICMP error back");
        // To the backend, quoting its packet as it sent it, from our
        // address on the servers' side, with the lan port's MTU.
        let error = expected_icmp_error(
            &servers[1],
            &[SERVERS_ADDR],
            SERVERS_MAC,
            rmac(11),
            rip(11),
            frag_needed(1500),
            &probe.ip_bytes(),
        );
        let query = fwd.expect(&request).expect("forwarded");
        assert_frames_eq("servers", &[query, error], servers);
        // Without DF: our translated datagram in fragments of 1480 bytes.
        let pieces = fragment(&rev.expect(&answer).expect("forwarded"), 1480);
        assert_eq!(pieces.len(), 7);
        assert_frames_eq("lan", &pieces, &run.sent[0]);
        run.assert_drops(&[("fragmentation_needed", 1)]);
        assert_eq!(run.event("frag_egress_fragmented"), 1, "{mode}");
    }
}

#[test]
fn a_frame_longer_than_the_pools_buffers_is_dropped_as_multi_segment() {
    let c = (cip(12), 40000);
    let (fwd, _) = nat_legs(LAN_MAC, ROUTER_MAC, c, DNS, c, (rip(11), 5353), rmac(11));
    // The default MTU: buffers of 2048 bytes; net_pcap chains a longer
    // frame over several mbufs.
    let jumbo = big_udp(&fwd, 9000, 8, true);
    let run = one_arm(vec![jumbo.bytes()], &dns_service("nat"), 1500);
    assert_frames_eq("lan", &[], &run.sent[0]);
    run.assert_drops(&[("multi_segment", 1)]);
    // MTU 9000: buffers for 9026-byte frames; one of 9500 is chained.
    let longer = big_udp(&fwd, 9500, 9, true);
    let fits = big_udp(&fwd, 9000, 10, true);
    let run = one_arm(
        vec![longer.bytes(), fits.bytes()],
        &dns_service("nat"),
        9000,
    );
    assert_frames_eq("lan", &[fwd.expect(&fits).expect("sent")], &run.sent[0]);
    run.assert_drops(&[("multi_segment", 1)]);
}
