//! IPv6 as a host on in-memory ports (`local6.rs`, `net::nd`): Neighbor
//! Solicitations answered byte for byte as etherparse builds the expected
//! advertisement, DAD defended, neighbours learned by RFC 4861's rules,
//! echo answered, and every refusal in its counter. IPv6 that is not ours
//! keeps the old path (kernel interface or `ipv6_not_forwarded`).

use std::net::Ipv6Addr;

use etherparse::{IcmpEchoHeader, Icmpv6Type as Theirs, PacketBuilder};

use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::io::MemoryIo;
use crate::tables::{KernelPath, LbConfig, Mode};

pub(super) const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0c];
pub(super) const OTHER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0d];
/// Our global and link-local addresses on the interface.
pub(super) const OUR6: &str = "2001:db8::1";
pub(super) const OUR_LL: &str = "fe80::aa";
pub(super) const CLIENT6: &str = "2001:db8::c";
pub(super) const CLIENT_LL: &str = "fe80::c";

pub(super) fn a6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().expect("address").octets()
}

pub(super) fn config6() -> LbConfig {
    let mut cfg = config(vec![service(Mode::Dr, IpProto::TCP)]);
    cfg.interfaces[0].addrs6 = vec![(OUR6.parse().unwrap(), 64), (OUR_LL.parse().unwrap(), 64)];
    cfg
}

/// `33:33` and the group's low 32 bits.
pub(super) fn group_mac(group: &str) -> [u8; 6] {
    let o = a6(group);
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// An ICMPv6 frame as etherparse writes it: `kind`, `code`, the four
/// bytes after the checksum, then `body`.
#[allow(clippy::too_many_arguments)]
pub(super) fn icmp6(
    macs: ([u8; 6], [u8; 6]),
    src: &str,
    dst: &str,
    hop: u8,
    kind: u8,
    code: u8,
    rest: [u8; 4],
    body: &[u8],
) -> Vec<u8> {
    let t = Theirs::Unknown {
        type_u8: kind,
        code_u8: code,
        bytes5to8: rest,
    };
    let mut v = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(a6(src), a6(dst), hop)
        .icmpv6(t)
        .write(&mut v, body)
        .expect("writes");
    v
}

/// A target and, if given, a link-layer address option of `kind`.
pub(super) fn nd_body(target: &str, option: Option<(u8, [u8; 6])>) -> Vec<u8> {
    let mut b = a6(target).to_vec();
    if let Some((kind, mac)) = option {
        b.extend_from_slice(&[kind, 1]);
        b.extend_from_slice(&mac);
    }
    b
}

pub(super) fn solicitation(src: &str, dst: &str, target: &str, slla: Option<[u8; 6]>) -> Vec<u8> {
    let dst_mac = match dst.parse::<Ipv6Addr>().unwrap().is_multicast() {
        true => group_mac(dst),
        false => OURS,
    };
    let body = nd_body(target, slla.map(|m| (1, m)));
    icmp6((CLIENT_MAC, dst_mac), src, dst, 255, 135, 0, [0; 4], &body)
}

/// Our advertisement as it must come out, built by etherparse.
fn advertisement(to_mac: [u8; 6], dst: &str, target: &str, flags: u8) -> Vec<u8> {
    let body = nd_body(target, Some((2, OURS)));
    icmp6(
        (OURS, to_mac),
        target,
        dst,
        255,
        136,
        0,
        [flags, 0, 0, 0],
        &body,
    )
}

fn echo(macs: ([u8; 6], [u8; 6]), src: &str, dst: &str, reply: bool, data: &[u8]) -> Vec<u8> {
    let h = IcmpEchoHeader { id: 0x4242, seq: 3 };
    let t = match reply {
        true => Theirs::EchoReply(h),
        false => Theirs::EchoRequest(h),
    };
    let hop = if reply { 64 } else { 57 };
    let mut v = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(a6(src), a6(dst), hop)
        .icmpv6(t)
        .write(&mut v, data)
        .expect("writes");
    v
}

pub(super) fn nd_events(p: &Pipeline<TestBuf>) -> counters::NdEvents {
    p.counters().events.nd
}

pub(super) fn neighbour6(p: &Pipeline<TestBuf>, a: &str) -> Option<MacAddr> {
    p.path.egress.neighbours6.lookup(a.parse().unwrap())
}

#[test]
fn a_solicitation_for_our_address_is_answered_and_its_sender_learned() {
    let mut p = pipeline(&config6());
    // To the solicited-node group, from a link-local address, as Linux
    // resolves a neighbour.
    let ns = solicitation(CLIENT_LL, "ff02::1:ff00:1", OUR6, Some(CLIENT_MAC));
    let out = run(&mut p, &[ns], 0);
    assert_eq!(out, vec![advertisement(CLIENT_MAC, CLIENT_LL, OUR6, 0x60)]);
    assert_eq!(neighbour6(&p, CLIENT_LL), Some(MacAddr(CLIENT_MAC)));
    // Unicast (a reachability check), for the link-local address, without
    // a source option: answered to the frame's source, nothing learned.
    let ns = solicitation(CLIENT6, OUR_LL, OUR_LL, None);
    let out = run(&mut p, &[ns], 1);
    assert_eq!(out, vec![advertisement(CLIENT_MAC, CLIENT6, OUR_LL, 0x60)]);
    assert_eq!(neighbour6(&p, CLIENT6), None);
    let e = nd_events(&p);
    assert_eq!((e.advertisements_sent, e.neighbours_learned), (2, 1));
    assert_eq!(p.counters().drops.iter().map(|(_, n)| n).sum::<u64>(), 0);
}

#[test]
fn duplicate_address_detection_of_our_address_is_defended_to_all_nodes() {
    let mut p = pipeline(&config6());
    let dad = solicitation("::", "ff02::1:ff00:1", OUR6, None);
    let out = run(&mut p, &[dad], 0);
    // Unsolicited (no S flag), override, to all-nodes.
    assert_eq!(
        out,
        vec![advertisement(group_mac("ff02::1"), "ff02::1", OUR6, 0x20)]
    );
    let e = nd_events(&p);
    assert_eq!((e.advertisements_sent, e.dad_defended), (1, 1));
    assert_eq!(e.neighbours_learned, 0, "DAD teaches no address");
}

#[test]
fn echo_to_our_address_is_answered_and_extension_headers_are_not_echoed() {
    let mut p = pipeline(&config6());
    let data = b"abcdefghijklmnopqrstuvwxyz";
    let req = echo((CLIENT_MAC, OURS), CLIENT6, OUR6, false, data);
    let out = run(&mut p, &[req], 0);
    assert_eq!(
        out,
        vec![echo((OURS, CLIENT_MAC), OUR6, CLIENT6, true, data)]
    );
    // The same with a hop-by-hop options header (8 bytes of padding)
    // before the ICMPv6 message: the reply has none.
    let plain = echo((CLIENT_MAC, OURS), CLIENT6, OUR6, false, data);
    let mut with_hbh = plain[..54].to_vec();
    with_hbh[20] = 0; // next header: hop-by-hop
    with_hbh.extend_from_slice(&[58, 0, 1, 4, 0, 0, 0, 0]); // PadN
    with_hbh.extend_from_slice(&plain[54..]);
    let len = u16::from_be_bytes([with_hbh[18], with_hbh[19]]) + 8;
    with_hbh[18..20].copy_from_slice(&len.to_be_bytes());
    let out = run(&mut p, &[with_hbh], 1);
    assert_eq!(
        out,
        vec![echo((OURS, CLIENT_MAC), OUR6, CLIENT6, true, data)]
    );
    assert_eq!(nd_events(&p).echo_replies, 2);
}

#[test]
fn every_refused_ipv6_packet_lands_in_its_counter() {
    let mut p = pipeline(&config6());
    let sn = "ff02::1:ff00:1";
    let ns_ok = solicitation(CLIENT_LL, sn, OUR6, Some(CLIENT_MAC));
    let mut hop_254 = ns_ok.clone();
    hop_254[21] = 254;
    let mut bad_sum = ns_ok.clone();
    bad_sum[14 + 40 + 2] ^= 0x55;
    let body = nd_body(OUR6, Some((1, CLIENT_MAC)));
    let code_1 = icmp6(
        (CLIENT_MAC, group_mac(sn)),
        CLIENT_LL,
        sn,
        255,
        135,
        1,
        [0; 4],
        &body,
    );
    let mut zero_opt = body.clone();
    zero_opt[17] = 0;
    let zero_opt = icmp6(
        (CLIENT_MAC, group_mac(sn)),
        CLIENT_LL,
        sn,
        255,
        135,
        0,
        [0; 4],
        &zero_opt,
    );
    let dad_with_slla = solicitation("::", sn, OUR6, Some(CLIENT_MAC));
    let dad_unicast = solicitation("::", OUR6, OUR6, None);
    // A solicited advertisement may not go to a group.
    let na_body = nd_body(CLIENT_LL, Some((2, CLIENT_MAC)));
    let na_to_all = icmp6(
        (CLIENT_MAC, group_mac("ff02::1")),
        CLIENT_LL,
        "ff02::1",
        255,
        136,
        0,
        [0x40, 0, 0, 0],
        &na_body,
    );
    let mut echo_bad = echo((CLIENT_MAC, OURS), CLIENT6, OUR6, false, b"x");
    echo_bad[14 + 40 + 4] ^= 1;
    let mut udp_to_us = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OURS)
        .ipv6(a6(CLIENT6), a6(OUR6), 64)
        .udp(5000, 53)
        .write(&mut udp_to_us, b"q")
        .expect("writes");
    // A routing header with segments left, to us.
    let plain = echo((CLIENT_MAC, OURS), CLIENT6, OUR6, false, b"x");
    let mut routed = plain[..54].to_vec();
    routed[20] = 43;
    routed.extend_from_slice(&[58, 0, 0, 1, 0, 0, 0, 0]);
    routed.extend_from_slice(&plain[54..]);
    let len = u16::from_be_bytes([routed[18], routed[19]]) + 8;
    routed[18..20].copy_from_slice(&len.to_be_bytes());
    // Not ours: another target, another address.
    let other_target = solicitation(CLIENT_LL, "ff02::1:ff00:2", "2001:db8::2", Some(CLIENT_MAC));
    let other_dst = echo((CLIENT_MAC, OURS), CLIENT6, "2001:db8::2", false, b"x");
    let cases = [
        (hop_254, DropReason::NdBadHopLimit),
        (bad_sum, DropReason::Icmpv6BadChecksum),
        (code_1, DropReason::NdMalformed),
        (zero_opt, DropReason::NdMalformed),
        (dad_with_slla, DropReason::NdMalformed),
        (dad_unicast, DropReason::NdMalformed),
        (na_to_all, DropReason::NdMalformed),
        (echo_bad, DropReason::Icmpv6BadChecksum),
        (udp_to_us, DropReason::Ipv6LocalUnhandled),
        (routed, DropReason::Ipv6BadChain),
        (other_target, DropReason::Ipv6NotForwarded),
        (other_dst, DropReason::Ipv6NotForwarded),
    ];
    for (i, (frame, reason)) in cases.into_iter().enumerate() {
        let before = drops(&p, reason);
        let out = run(&mut p, &[frame], i as u64);
        assert!(out.is_empty(), "case {i} ({reason:?}) is not answered");
        assert_eq!(drops(&p, reason), before + 1, "case {i}: {reason:?}");
    }
    assert_eq!(p.counters().drops.iter().map(|(_, n)| n).sum::<u64>(), 12);
    assert_eq!(
        neighbour6(&p, CLIENT_LL),
        None,
        "nothing refused was learned"
    );
    // The good solicitation after all of them is answered.
    assert_eq!(run(&mut p, &[ns_ok], 20).len(), 1);
}

#[test]
fn advertisements_update_known_neighbours_only_and_conflicts_are_counted() {
    let mut p = pipeline(&config6());
    let na = |from: [u8; 6], target: &str, flags: u8, mac: [u8; 6]| {
        let body = nd_body(target, Some((2, mac)));
        icmp6(
            (from, OURS),
            target,
            OUR6,
            255,
            136,
            0,
            [flags, 0, 0, 0],
            &body,
        )
    };
    // Unknown neighbour, unsolicited: to us, so consumed, but no entry is
    // made (a solicited one is the answer to our solicitation and makes
    // one: `nd_resolve_tests.rs`).
    assert!(run(&mut p, &[na(CLIENT_MAC, CLIENT6, 0x20, CLIENT_MAC)], 0).is_empty());
    assert_eq!(neighbour6(&p, CLIENT6), None);
    // Known (it solicited us): a new MAC without override is ignored,
    // with override taken.
    let ns = solicitation(CLIENT6, "ff02::1:ff00:1", OUR6, Some(CLIENT_MAC));
    assert_eq!(run(&mut p, &[ns], 1).len(), 1);
    run(&mut p, &[na(OTHER_MAC, CLIENT6, 0x40, OTHER_MAC)], 2);
    assert_eq!(neighbour6(&p, CLIENT6), Some(MacAddr(CLIENT_MAC)));
    run(&mut p, &[na(OTHER_MAC, CLIENT6, 0x60, OTHER_MAC)], 3);
    assert_eq!(neighbour6(&p, CLIENT6), Some(MacAddr(OTHER_MAC)));
    // Another node advertising our address, to all-nodes.
    assert_eq!(nd_events(&p).address_conflicts, 0);
    let body = nd_body(OUR6, Some((2, OTHER_MAC)));
    let conflict = icmp6(
        (OTHER_MAC, group_mac("ff02::1")),
        OUR6,
        "ff02::1",
        255,
        136,
        0,
        [0x20, 0, 0, 0],
        &body,
    );
    assert!(run(&mut p, &[conflict], 4).is_empty());
    let e = nd_events(&p);
    assert_eq!((e.address_conflicts, e.neighbours_learned), (1, 2));
    assert_eq!(p.counters().drops.iter().map(|(_, n)| n).sum::<u64>(), 0);
}

#[test]
fn without_ipv6_addresses_or_for_the_kernel_ipv6_takes_the_old_path() {
    // No IPv6 address: a solicitation is not ours.
    let mut p = pipeline(&config(vec![service(Mode::Dr, IpProto::TCP)]));
    let ns = solicitation(CLIENT_LL, "ff02::1:ff00:1", OUR6, Some(CLIENT_MAC));
    assert!(run(&mut p, std::slice::from_ref(&ns), 0).is_empty());
    assert_eq!(drops(&p, DropReason::Ipv6NotForwarded), 1);
    // With a kernel interface: ours answered here, the host's go up.
    let mut cfg = config6();
    cfg.kernel = vec![KernelPath {
        port: 0,
        io_port: 1,
        addrs: Vec::new(),
        unmatched: false,
        budget: 100,
    }];
    let mut p = pipeline(&cfg);
    let host = solicitation(CLIENT_LL, "ff02::1:ff00:9", "2001:db8::9", Some(CLIENT_MAC));
    let mut io = MemoryIo::new(vec![vec![ns, host.clone()], Vec::new()]);
    for _ in 0..3 {
        p.poll(&mut io, 0);
    }
    let wire = io.sent_frames(0);
    assert_eq!(wire, vec![advertisement(CLIENT_MAC, CLIENT_LL, OUR6, 0x60)]);
    assert_eq!(
        io.sent_frames(1),
        vec![host],
        "the host's solicitation goes up"
    );
    assert_eq!(p.counters().events.to_kernel, 1);
}

#[test]
fn a_tagged_interface_answers_for_its_address_with_the_tag_kept() {
    let mut cfg = config6();
    cfg.interfaces.push(crate::tables::Interface {
        port: 0,
        vlan: Some(100),
        addrs: vec![(std::net::Ipv4Addr::new(10, 0, 9, 1), 24)],
        addrs6: vec![("2001:db8:100::1".parse().unwrap(), 64)],
    });
    let mut p = pipeline(&cfg);
    let target = "2001:db8:100::1";
    let group = "ff02::1:ff00:1";
    let ns = crate::testutil::vlan_tag(
        &solicitation(CLIENT_LL, group, target, Some(CLIENT_MAC)),
        100,
    );
    let out = run(&mut p, &[ns], 0);
    let want = crate::testutil::vlan_tag(&advertisement(CLIENT_MAC, CLIENT_LL, target, 0x60), 100);
    assert_eq!(out, vec![want]);
    // On VLAN 200, which no interface has, it is not ours.
    let ns = crate::testutil::vlan_tag(
        &solicitation(CLIENT_LL, group, target, Some(CLIENT_MAC)),
        200,
    );
    assert!(run(&mut p, &[ns], 1).is_empty());
    assert_eq!(drops(&p, DropReason::Ipv6NotForwarded), 1);
}
