//! ICMPv6 errors we originate, checked with etherparse (an independent
//! decoder and checksum).

use std::net::Ipv6Addr;

use etherparse::{
    icmpv6, Icmpv6Type as Ep, NetHeaders, PacketBuilder, PacketHeaders, TransportHeader,
};

use super::*;
use crate::buf::TestBuf;
use crate::testutil::{vlan_tag, CLIENT_MAC, OUR_MAC};

const CLIENT: &str = "2001:db8:2::7";
const VIP: &str = "2001:db8::10";
const OURS: &str = "2001:db8::1";

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// A UDP packet from the client to `dst` with `len` bytes of data.
fn udp6(dst: Ipv6Addr, len: usize) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OUR_MAC)
        .ipv6(v6(CLIENT).octets(), dst.octets(), 64)
        .udp(51000, 53)
        .write(&mut v, &vec![9; len])
        .unwrap();
    v
}

/// An ICMPv6 message of `t` from the client to `dst`.
fn icmp6(dst: Ipv6Addr, t: Ep) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OUR_MAC)
        .ipv6(v6(CLIENT).octets(), dst.octets(), 64)
        .icmpv6(t)
        .write(&mut v, &[0; 48])
        .unwrap();
    v
}

/// The error in `frame` (at `l3`), decoded; its checksum checked.
fn decoded(frame: &[u8], l3: usize) -> (etherparse::Ipv6Header, Ep, Vec<u8>) {
    let p = PacketHeaders::from_ethernet_slice(frame).unwrap();
    let (Some(NetHeaders::Ipv6(ip, _)), Some(TransportHeader::Icmpv6(icmp))) =
        (&p.net, &p.transport)
    else {
        panic!("{p:?}")
    };
    let quote = p.payload.slice().to_vec();
    let want = icmp
        .icmp_type
        .calc_checksum(ip.source, ip.destination, &quote)
        .unwrap();
    assert_eq!(icmp.checksum, want, "ICMPv6 checksum");
    assert_eq!(frame.len(), l3 + 40 + usize::from(ip.payload_length));
    (ip.clone(), icmp.icmp_type, quote)
}

#[test]
fn packet_too_big_goes_back_to_the_sender_quoting_what_fits_in_1280_bytes() {
    let frame = vlan_tag(&udp6(v6(VIP), 1452), 7);
    let mut buf = TestBuf::new(&frame);
    assert!(build_icmpv6_error(
        &mut buf,
        18,
        (Icmpv6Type::PACKET_TOO_BIG, 0, 1400),
        v6(OURS)
    ));
    let out = buf.data();
    assert_eq!(&out[..6], &CLIENT_MAC, "back to the neighbour it came from");
    assert_eq!(&out[6..12], &OUR_MAC);
    assert_eq!(&out[12..18], &frame[12..18], "the tag and EtherType stay");
    assert_eq!(out.len(), 18 + 1280, "no longer than IPv6's minimum MTU");
    let (ip, t, quote) = decoded(out, 18);
    assert_eq!(
        (ip.source, ip.destination),
        (v6(OURS).octets(), v6(CLIENT).octets())
    );
    assert_eq!(ip.hop_limit, ERROR_HOP_LIMIT);
    assert_eq!(t, Ep::PacketTooBig { mtu: 1400 });
    assert_eq!(
        &quote[..],
        &frame[18..18 + 1232],
        "the packet's first 1232 bytes"
    );
}

#[test]
fn a_short_packet_is_quoted_whole() {
    let frame = udp6(v6(VIP), 10);
    let mut buf = TestBuf::new(&frame);
    assert!(build_icmpv6_error(
        &mut buf,
        14,
        (Icmpv6Type::TIME_EXCEEDED, 0, 0),
        v6(OURS)
    ));
    let (_, t, quote) = decoded(buf.data(), 14);
    assert_eq!(
        t,
        Ep::TimeExceeded(icmpv6::TimeExceededCode::HopLimitExceeded)
    );
    assert_eq!(&quote[..], &frame[14..]);
}

#[test]
fn no_error_about_errors_redirects_groups_or_unnamed_sources() {
    let unreachable = (Icmpv6Type::DEST_UNREACHABLE, 4, 0);
    let too_big = (Icmpv6Type::PACKET_TOO_BIG, 0, 1280);
    let refused = |frame: &[u8], what: (u8, u8, u32)| {
        let mut buf = TestBuf::new(frame);
        assert!(!build_icmpv6_error(&mut buf, 14, what, v6(OURS)));
        assert_eq!(buf.data(), frame, "nothing written");
    };
    let dest = icmpv6::DestUnreachableCode::Port;
    refused(&icmp6(v6(VIP), Ep::DestinationUnreachable(dest)), too_big);
    refused(&icmp6(v6(VIP), Ep::PacketTooBig { mtu: 1280 }), unreachable);
    let mut redirect = icmp6(
        v6(VIP),
        Ep::Unknown {
            type_u8: 137,
            code_u8: 0,
            bytes5to8: [0; 4],
        },
    );
    redirect[14 + 40] = 137;
    refused(&redirect, unreachable);
    // An echo request is no error: an error about it may go.
    let echo = icmp6(
        v6(VIP),
        Ep::EchoRequest(etherparse::IcmpEchoHeader { id: 1, seq: 1 }),
    );
    assert!(build_icmpv6_error(
        &mut TestBuf::new(&echo),
        14,
        unreachable,
        v6(OURS)
    ));

    // To a multicast group: only Packet Too Big (and the option problem).
    let group = udp6(v6("ff02::1:ff00:10"), 10);
    refused(&group, unreachable);
    assert!(build_icmpv6_error(
        &mut TestBuf::new(&group),
        14,
        too_big,
        v6(OURS)
    ));
    let option = (Icmpv6Type::PARAMETER_PROBLEM, 2, 40);
    assert!(build_icmpv6_error(
        &mut TestBuf::new(&group),
        14,
        option,
        v6(OURS)
    ));
    // Sent to a link-layer group or broadcast.
    let mut l2_group = udp6(v6(VIP), 10);
    l2_group[..6].copy_from_slice(&[0x33, 0x33, 0, 0, 0, 1]);
    refused(&l2_group, unreachable);
    let mut broadcast = udp6(v6(VIP), 10);
    broadcast[..6].copy_from_slice(&[0xff; 6]);
    refused(&broadcast, too_big);
    // From no single node.
    for src in ["::", "ff02::1", "::1"] {
        let mut frame = udp6(v6(VIP), 10);
        frame[14 + 8..14 + 24].copy_from_slice(&v6(src).octets());
        refused(&frame, too_big);
    }
    // No tailroom for the 48 bytes more.
    let frame = udp6(v6(VIP), 10);
    let mut tight = TestBuf::with_room(&frame, 128, 47);
    assert!(!build_icmpv6_error(&mut tight, 14, unreachable, v6(OURS)));
    assert_eq!(tight.data(), &frame[..]);
}

/// `plain` (an untagged ICMPv6 frame) with a hop-by-hop header (one PadN
/// option) before its ICMPv6 message.
fn behind_hop_by_hop(plain: &[u8]) -> Vec<u8> {
    let mut frame = plain[..14 + 40].to_vec();
    frame[14 + 6] = 0;
    let len = u16::from_be_bytes([frame[18], frame[19]]) + 8;
    frame[18..20].copy_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&[58, 0, 1, 4, 0, 0, 0, 0]);
    frame.extend_from_slice(&plain[14 + 40..]);
    frame
}

#[test]
fn an_error_behind_extension_headers_is_still_an_error() {
    let too_big = (Icmpv6Type::PACKET_TOO_BIG, 0, 1280);
    let port = Ep::DestinationUnreachable(icmpv6::DestUnreachableCode::Port);
    let error = behind_hop_by_hop(&icmp6(v6(VIP), port));
    assert!(!build_icmpv6_error(
        &mut TestBuf::new(&error),
        14,
        too_big,
        v6(OURS)
    ));
    let echo = Ep::EchoRequest(etherparse::IcmpEchoHeader { id: 1, seq: 1 });
    let echo = behind_hop_by_hop(&icmp6(v6(VIP), echo));
    let mut buf = TestBuf::new(&echo);
    assert!(build_icmpv6_error(&mut buf, 14, too_big, v6(OURS)));
    let (_, _, quote) = decoded(buf.data(), 14);
    assert_eq!(&quote[..], &echo[14..], "the chain quoted as it came");
}
