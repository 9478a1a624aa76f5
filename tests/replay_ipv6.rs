//! Pcap replay of IPv6 as a host (issue 20, stage 1; docs/ipv6.md): the
//! real binary answers Neighbor Solicitations for its interface's IPv6
//! addresses (to the solicited-node group, unicast, and duplicate address
//! detection), and echo requests, each answer compared byte for byte with
//! the one etherparse builds; every malformed or foreign packet lands in
//! its drop counter. One-armed (port `lan`), no kernel interface. With
//! `[garp]` on, the addresses are announced at start by unsolicited
//! Neighbor Advertisements (stage 1b), frame for frame. DR over IPv6
//! (stage 2b): two flows to an IPv6 VIP wait for their backends'
//! solicitations, leave with only their MACs changed when the answers
//! come, and the VIP itself is answered for. TUN over IPv6: the flows
//! leave inside an outer IPv6 header to their backends, and a packet that
//! would not fit the link once encapsulated is answered with Packet Too
//! Big.

mod common;

use std::net::Ipv6Addr;

use common::lb::*;
use common::lb6::one_arm_config6;
use common::{assert_frames_eq, CasePort, Replay};
use etherparse::{IcmpEchoHeader, Icmpv6Type, PacketBuilder};

const CLIENT: Mac = [0x02, 0, 0, 0, 0, 0x0c];
const OUR6: &str = "2001:db8::1";
const OUR_LL: &str = "fe80::1";
const CLIENT6: &str = "2001:db8::c";
const CLIENT_LL: &str = "fe80::c";
const SOLICITED: &str = "ff02::1:ff00:1";

fn a6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().expect("address").octets()
}

fn group_mac(group: &str) -> Mac {
    let o = a6(group);
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

fn config6() -> String {
    one_arm_config6(&["2001:db8::1/64", "fe80::1/64"])
}

#[allow(clippy::too_many_arguments)]
fn icmp6(
    macs: (Mac, Mac),
    src: &str,
    dst: &str,
    hop: u8,
    kind: u8,
    code: u8,
    rest: [u8; 4],
    body: &[u8],
) -> Vec<u8> {
    let t = Icmpv6Type::Unknown {
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

fn nd_body(target: &str, option: Option<(u8, Mac)>) -> Vec<u8> {
    let mut b = a6(target).to_vec();
    if let Some((kind, mac)) = option {
        b.extend_from_slice(&[kind, 1]);
        b.extend_from_slice(&mac);
    }
    b
}

fn solicitation(src: &str, dst: &str, target: &str, slla: bool) -> Vec<u8> {
    let to = match dst.parse::<Ipv6Addr>().unwrap().is_multicast() {
        true => group_mac(dst),
        false => LAN_MAC,
    };
    let body = nd_body(target, slla.then_some((1, CLIENT)));
    icmp6((CLIENT, to), src, dst, 255, 135, 0, [0; 4], &body)
}

fn advertisement(to: Mac, dst: &str, target: &str, flags: u8) -> Vec<u8> {
    let body = nd_body(target, Some((2, LAN_MAC)));
    icmp6(
        (LAN_MAC, to),
        target,
        dst,
        255,
        136,
        0,
        [flags, 0, 0, 0],
        &body,
    )
}

fn echo(macs: (Mac, Mac), src: &str, dst: &str, reply: bool, seq: u16) -> Vec<u8> {
    let h = IcmpEchoHeader { id: 0x77, seq };
    let (t, hop) = match reply {
        true => (Icmpv6Type::EchoReply(h), 64),
        false => (Icmpv6Type::EchoRequest(h), 61),
    };
    let mut v = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(a6(src), a6(dst), hop)
        .icmpv6(t)
        .write(&mut v, b"ferrolb speaks IPv6 now")
        .expect("writes");
    v
}

/// `frame` (an IPv6 one) with an extension header of `kind` (8 bytes,
/// `rest` after next-header and length) before its upper layer.
fn with_extension(frame: &[u8], kind: u8, rest: [u8; 6]) -> Vec<u8> {
    let mut v = frame[..54].to_vec();
    let inner = v[20];
    v[20] = kind;
    v.extend_from_slice(&[inner, 0]);
    v.extend_from_slice(&rest);
    v.extend_from_slice(&frame[54..]);
    let len = u16::from_be_bytes([v[18], v[19]]) + 8;
    v[18..20].copy_from_slice(&len.to_be_bytes());
    v
}

fn run6(input: &[Vec<u8>]) -> common::ReplayResult {
    let run = Replay {
        ports: vec![CasePort::new("lan", input.to_vec()).with_mac(LAN_MAC)],
        config: config6(),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    run
}

#[test]
fn solicitations_for_our_addresses_and_echo_are_answered_byte_for_byte() {
    let input = vec![
        // Address resolution, as Linux sends it.
        solicitation(CLIENT_LL, SOLICITED, OUR6, true),
        // Reachability confirmation: unicast, no source option.
        solicitation(CLIENT6, OUR_LL, OUR_LL, false),
        // Duplicate address detection of our address.
        solicitation("::", SOLICITED, OUR6, false),
        echo((CLIENT, LAN_MAC), CLIENT6, OUR6, false, 1),
        // With a hop-by-hop header (PadN): the reply has none.
        with_extension(
            &echo((CLIENT, LAN_MAC), CLIENT6, OUR6, false, 2),
            0,
            [1, 4, 0, 0, 0, 0],
        ),
        echo((CLIENT, LAN_MAC), CLIENT_LL, OUR_LL, false, 3),
    ];
    let expected = vec![
        advertisement(CLIENT, CLIENT_LL, OUR6, 0x60),
        advertisement(CLIENT, CLIENT6, OUR_LL, 0x60),
        advertisement(group_mac("ff02::1"), "ff02::1", OUR6, 0x20),
        echo((LAN_MAC, CLIENT), OUR6, CLIENT6, true, 1),
        echo((LAN_MAC, CLIENT), OUR6, CLIENT6, true, 2),
        echo((LAN_MAC, CLIENT), OUR_LL, CLIENT_LL, true, 3),
    ];
    let run = run6(&input);
    assert_frames_eq("lan", &expected, &run.sent[0]);
    assert_eq!(run.event("nd_advertisements_sent"), 3);
    assert_eq!(run.event("nd_dad_defended"), 1);
    assert_eq!(run.event("nd_neighbours_learned"), 1);
    assert_eq!(run.event("icmpv6_echo_replies"), 3);
    run.assert_drops(&[]);
}

#[test]
fn every_refused_ipv6_packet_is_dropped_with_its_reason() {
    let good = solicitation(CLIENT_LL, SOLICITED, OUR6, true);
    let mut hop = good.clone();
    hop[21] = 1;
    let mut sum = good.clone();
    sum[14 + 40 + 3] ^= 0xff;
    let body = nd_body(OUR6, Some((1, CLIENT)));
    let code = icmp6(
        (CLIENT, group_mac(SOLICITED)),
        CLIENT_LL,
        SOLICITED,
        255,
        135,
        7,
        [0; 4],
        &body,
    );
    let mut long_opt = body.clone();
    long_opt[17] = 3; // 24 bytes of option in 8
    let long_opt = icmp6(
        (CLIENT, group_mac(SOLICITED)),
        CLIENT_LL,
        SOLICITED,
        255,
        135,
        0,
        [0; 4],
        &long_opt,
    );
    let dad_slla = solicitation("::", SOLICITED, OUR6, true);
    // An advertisement whose target is a group.
    let multicast_target = icmp6(
        (CLIENT, group_mac("ff02::1")),
        CLIENT_LL,
        "ff02::1",
        255,
        136,
        0,
        [0x20, 0, 0, 0],
        &nd_body("ff02::1", Some((2, CLIENT))),
    );
    let mut echo_sum = echo((CLIENT, LAN_MAC), CLIENT6, OUR6, false, 9);
    echo_sum[14 + 40 + 8] ^= 1;
    let routed = with_extension(
        &echo((CLIENT, LAN_MAC), CLIENT6, OUR6, false, 10),
        43,
        [0, 1, 0, 0, 0, 0],
    );
    let mut tcp_to_us = Vec::new();
    PacketBuilder::ethernet2(CLIENT, LAN_MAC)
        .ipv6(a6(CLIENT6), a6(OUR6), 64)
        .tcp(40000, 22, 1, 1000)
        .syn()
        .write(&mut tcp_to_us, b"")
        .expect("writes");
    let other_target = solicitation(CLIENT_LL, "ff02::1:ff00:2", "2001:db8::2", true);
    let other_dst = echo((CLIENT, LAN_MAC), CLIENT6, "2001:db8::77", false, 11);
    let input = vec![
        hop,
        sum,
        code,
        long_opt,
        dad_slla,
        multicast_target,
        echo_sum,
        routed,
        tcp_to_us,
        other_target,
        other_dst,
        good.clone(),
    ];
    let run = run6(&input);
    // Only the last, good one is answered.
    assert_frames_eq(
        "lan",
        &[advertisement(CLIENT, CLIENT_LL, OUR6, 0x60)],
        &run.sent[0],
    );
    run.assert_drops(&[
        ("nd_bad_hop_limit", 1),
        ("icmpv6_bad_checksum", 2),
        ("nd_malformed", 4),
        ("ipv6_bad_chain", 1),
        ("ipv6_local_unhandled", 1),
        ("ipv6_not_forwarded", 2),
    ]);
    assert_eq!(run.event("nd_neighbours_learned"), 1);
}

/// Our unsolicited advertisement of `addr`: to all-nodes, override only.
fn unsolicited(addr: &str) -> Vec<u8> {
    advertisement(group_mac("ff02::1"), "ff02::1", addr, 0x20)
}

#[test]
fn our_ipv6_addresses_are_announced_at_start() {
    let config = config6().replace("[garp]\ncount = 0", "[garp]\ncount = 1");
    assert_ne!(config, config6());
    let run = Replay {
        ports: vec![CasePort::new("lan", Vec::new()).with_mac(LAN_MAC)],
        config,
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    // Gratuitous ARP for the two IPv4 addresses, then the IPv6 twins
    // after the MLD report joining their solicited-node groups.
    let (arp, v6): (Vec<_>, Vec<_>) = run.sent[0]
        .iter()
        .cloned()
        .partition(|f| f[12..14] == [8, 6]);
    assert_eq!(arp.len(), 2);
    // 2001:db8::1 and fe80::1 share their low 24 bits: one group.
    let join = mld_join(&["ff02::1:ff00:1"]);
    assert_frames_eq("lan", &[join, unsolicited(OUR6), unsolicited(OUR_LL)], &v6);
    assert_eq!(run.event("garp_sent"), 2);
    assert_eq!(run.event("nd_unsolicited_advertisements"), 2);
    assert_eq!(run.event("mld_reports_sent"), 1);
    run.assert_drops(&[]);
}

/// Our MLDv2 report joining `groups` (RFC 3810 5.2), built by hand from
/// the RFC: from our link-local address to ff02::16, hop limit 1, the
/// Router Alert hop-by-hop option, one CHANGE_TO_EXCLUDE record of no
/// sources per group; the checksum as etherparse computes it.
fn mld_join(groups: &[&str]) -> Vec<u8> {
    let src: Ipv6Addr = OUR_LL.parse().unwrap();
    let dst: Ipv6Addr = "ff02::16".parse().unwrap();
    let mut records = vec![0, 0, 0, groups.len() as u8];
    for g in groups {
        records.extend_from_slice(&[4, 0, 0, 0]);
        records.extend_from_slice(&g.parse::<Ipv6Addr>().unwrap().octets());
    }
    let kind = Icmpv6Type::Unknown {
        type_u8: 143,
        code_u8: 0,
        bytes5to8: [records[0], records[1], records[2], records[3]],
    };
    let icmp =
        etherparse::Icmpv6Header::with_checksum(kind, src.octets(), dst.octets(), &records[4..])
            .expect("fits");
    let mut f = vec![0x33, 0x33, 0, 0, 0, 0x16];
    f.extend_from_slice(&LAN_MAC);
    f.extend_from_slice(&[0x86, 0xdd]);
    let payload_len = 8 + icmp.header_len() + records.len() - 4;
    let ip = etherparse::Ipv6Header {
        traffic_class: 0,
        flow_label: Default::default(),
        payload_length: payload_len as u16,
        next_header: etherparse::IpNumber::IPV6_HEADER_HOP_BY_HOP,
        hop_limit: 1,
        source: src.octets(),
        destination: dst.octets(),
    };
    f.extend_from_slice(&ip.to_bytes());
    f.extend_from_slice(&[58, 0, 5, 2, 0, 0, 1, 0]);
    f.extend_from_slice(&icmp.to_bytes());
    f.extend_from_slice(&records[4..]);
    f
}

// Stage 2b: DR over IPv6.

const VIP6: &str = "2001:db8:10::10";
const REMOTE6: &str = "2001:db8:2::7";
const RIP6: [(&str, Mac); 2] = [
    ("2001:db8::11", [0x02, 0, 0, 0, 1, 0x11]),
    ("2001:db8::12", [0x02, 0, 0, 0, 1, 0x12]),
];

fn config_dr6() -> String {
    let mut c = config6();
    c.push_str(&format!(
        "\n[[service]]\nvip = \"{VIP6}\"\nprotocol = \"tcp\"\nport = 80\nmode = \"dr\"\n"
    ));
    for (a, _) in RIP6 {
        c.push_str(&format!("\n[[service.backend]]\naddress = \"{a}\"\n"));
    }
    c
}

/// A client's TCP segment over IPv6, from the on-link router's MAC.
fn tcp6(dport: u16, sport: u16, syn: bool, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT, LAN_MAC)
        .ipv6(a6(REMOTE6), a6(VIP6), 59)
        .tcp(sport, dport, 7, 64240);
    let b = match syn {
        true => b.syn(),
        false => b.ack(1000),
    };
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("writes");
    v
}

/// `frame` as DR sends it to the backend at `mac`: our MAC as source, the
/// backend's as destination, every other byte as received.
fn to_backend(frame: &[u8], mac: Mac) -> Vec<u8> {
    let mut v = frame.to_vec();
    v[..6].copy_from_slice(&mac);
    v[6..12].copy_from_slice(&LAN_MAC);
    v
}

/// Our solicitation for backend `addr`, from our address on its prefix.
fn our_solicitation(addr: &str) -> Vec<u8> {
    let o = a6(addr);
    let group = Ipv6Addr::from([
        0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
    .to_string();
    let body = nd_body(addr, Some((1, LAN_MAC)));
    icmp6(
        (LAN_MAC, group_mac(&group)),
        OUR6,
        &group,
        255,
        135,
        0,
        [0; 4],
        &body,
    )
}

#[test]
fn dr_over_ipv6_resolves_the_backends_and_changes_only_the_macs() {
    let syn_a = tcp6(80, 40000, true, b"");
    let syn_b = tcp6(80, 40001, true, b"");
    let ack_a = tcp6(80, 40000, false, b"GET / HTTP/1.1\r\n\r\n");
    let answer = |(addr, mac): (&str, Mac)| {
        icmp6(
            (mac, LAN_MAC),
            addr,
            OUR6,
            255,
            136,
            0,
            [0x60, 0, 0, 0],
            &nd_body(addr, Some((2, mac))),
        )
    };
    let input = vec![
        syn_a.clone(),
        syn_b.clone(),
        answer(RIP6[0]),
        answer(RIP6[1]),
        ack_a.clone(),
        // The router resolving the VIP.
        solicitation(CLIENT_LL, "ff02::1:ff00:10", VIP6, true),
        // A routing header with segments left, to the VIP.
        with_extension(&tcp6(80, 40002, true, b""), 43, [0, 1, 0, 0, 0, 0]),
        // A port of the VIP no service has.
        tcp6(81, 40003, true, b""),
    ];
    let run = Replay {
        ports: vec![CasePort::new("lan", input).with_mac(LAN_MAC)],
        config: config_dr6(),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    let expected = vec![
        our_solicitation(RIP6[0].0),
        our_solicitation(RIP6[1].0),
        to_backend(&syn_a, RIP6[0].1),
        to_backend(&syn_b, RIP6[1].1),
        to_backend(&ack_a, RIP6[0].1),
        advertisement(CLIENT, CLIENT_LL, VIP6, 0x60),
    ];
    assert_frames_eq("lan", &expected, &run.sent[0]);
    assert_eq!(run.event("sessions_created"), 2);
    assert_eq!(run.event("nd_solicitations_sent"), 2);
    assert_eq!(run.event("nd_advertisements_sent"), 1);
    run.assert_drops(&[("ipv6_bad_chain", 1), ("no_service", 1)]);
}

// TUN over IPv6.

/// `frame` as IPv6 TUN sends it to the backend `(addr, mac)`: inside an
/// outer IPv6 header from our address (next header 41, hop limit 64, the
/// inner class and label: 0 here), written by etherparse.
fn tunnelled(frame: &[u8], (addr, mac): (&str, Mac)) -> Vec<u8> {
    let inner = &frame[14..];
    let outer = etherparse::Ipv6Header {
        traffic_class: 0,
        flow_label: Default::default(),
        payload_length: inner.len() as u16,
        next_header: etherparse::IpNumber::IPV6,
        hop_limit: 64,
        source: a6(OUR6),
        destination: a6(addr),
    };
    let mut v = Vec::new();
    v.extend_from_slice(&mac);
    v.extend_from_slice(&LAN_MAC);
    v.extend_from_slice(&[0x86, 0xdd]);
    outer.write(&mut v).expect("writes");
    v.extend_from_slice(inner);
    v
}

/// The Packet Too Big our appliance sends back to the client about
/// `frame` (from our address, hop limit 64), written by etherparse, with
/// the quote cut to fit 1280 bytes.
fn packet_too_big(frame: &[u8], mtu: u32) -> Vec<u8> {
    let quote = &frame[14..(14 + 1280 - 48).min(frame.len())];
    let mut v = Vec::new();
    PacketBuilder::ethernet2(LAN_MAC, CLIENT)
        .ipv6(a6(OUR6), a6(REMOTE6), 64)
        .icmpv6(Icmpv6Type::PacketTooBig { mtu })
        .write(&mut v, quote)
        .expect("writes");
    v
}

#[test]
fn tun_over_ipv6_encapsulates_to_the_backends_and_answers_what_would_not_fit() {
    let syn_a = tcp6(80, 40000, true, b"");
    let syn_b = tcp6(80, 40001, true, b"");
    let ack_a = tcp6(80, 40000, false, b"GET / HTTP/1.1\r\n\r\n");
    // 1460 bytes of IPv6 fit the 1500-byte link with the outer header;
    // 1461 do not.
    let fits = tcp6(80, 40002, true, &[7; 1400]);
    let big = tcp6(80, 40003, true, &[7; 1401]);
    let answer = |(addr, mac): (&str, Mac)| {
        icmp6(
            (mac, LAN_MAC),
            addr,
            OUR6,
            255,
            136,
            0,
            [0x60, 0, 0, 0],
            &nd_body(addr, Some((2, mac))),
        )
    };
    let input = vec![
        syn_a.clone(),
        syn_b.clone(),
        answer(RIP6[0]),
        answer(RIP6[1]),
        ack_a.clone(),
        fits.clone(),
        big.clone(),
    ];
    let run = Replay {
        ports: vec![CasePort::new("lan", input).with_mac(LAN_MAC)],
        config: config_dr6().replace("mode = \"dr\"", "mode = \"tun\""),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    let expected = vec![
        our_solicitation(RIP6[0].0),
        our_solicitation(RIP6[1].0),
        tunnelled(&syn_a, RIP6[0]),
        tunnelled(&syn_b, RIP6[1]),
        tunnelled(&ack_a, RIP6[0]),
        // wlc: the first backend has an established connection, the
        // second one only a half-open one.
        tunnelled(&fits, RIP6[1]),
        // The one too big: 1460 is what an inner packet may be.
        packet_too_big(&big, 1460),
    ];
    assert_frames_eq("lan", &expected, &run.sent[0]);
    assert_eq!(run.event("sessions_created"), 4);
    assert_eq!(run.event("icmpv6_errors_sent"), 1);
    run.assert_drops(&[("packet_too_big", 1)]);
}

// Access lists on an IPv6 service.

#[test]
fn an_ipv6_access_list_lets_its_clients_in_and_drops_the_others_by_name() {
    let syn = tcp6(80, 40000, true, b"");
    let answer = icmp6(
        (RIP6[0].1, LAN_MAC),
        RIP6[0].0,
        OUR6,
        255,
        136,
        0,
        [0x60, 0, 0, 0],
        &nd_body(RIP6[0].0, Some((2, RIP6[0].1))),
    );
    let with_acl =
        |acl: &str| config_dr6().replacen("mode = \"dr\"\n", &format!("mode = \"dr\"\n{acl}\n"), 1);
    // The client (2001:db8:2::7) in the allow list: forwarded.
    let run = Replay {
        ports: vec![CasePort::new("lan", vec![syn.clone(), answer.clone()]).with_mac(LAN_MAC)],
        config: with_acl("allow = [\"2001:db8:2::/64\"]\ndeny = [\"2001:db8:2:bad::/64\"]"),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    let expected = vec![our_solicitation(RIP6[0].0), to_backend(&syn, RIP6[0].1)];
    assert_frames_eq("lan", &expected, &run.sent[0]);
    run.assert_drops(&[]);
    // Denied, more specifically than a /0 allow: dropped by name, no
    // session, nothing sent (not even a solicitation for the backend).
    let run = Replay {
        ports: vec![CasePort::new("lan", vec![syn, answer]).with_mac(LAN_MAC)],
        config: with_acl("allow = [\"::/0\"]\ndeny = [\"2001:db8:2::/64\"]"),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    assert_frames_eq("lan", &[], &run.sent[0]);
    assert_eq!(run.event("sessions_created"), 0);
    run.assert_drops(&[("acl_denied", 1)]);
}
