//! NAT64 translation checked against etherparse, an independent decoder
//! and checksum implementation, and against RFC 7915's tables.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use etherparse::{
    Icmpv4Type, Icmpv6Type as EpIcmpv6, NetHeaders, PacketBuilder, PacketHeaders, TransportHeader,
};
use proptest::prelude::*;

use super::*;
use crate::buf::{PacketBuf, TestBuf};
use crate::packet::{classify, Classified, Ipv4Meta};
use crate::packet6::{classify_ipv6, Ipv6Flow, Ipv6Meta};
use crate::testutil::{icmp_error_frame, tcp_frame, udp_frame, vlan_tag, CLIENT_MAC, OUR_MAC};

const CLIENT: &str = "2001:db8:2::7";
const VIP: &str = "2001:db8::10";
const LOCAL: [u8; 4] = [10, 0, 0, 100];
const BACKEND: [u8; 4] = [10, 0, 1, 11];

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn sock6(addr: &str, port: u16) -> SocketAddrV6 {
    SocketAddrV6::new(v6(addr), port, 0, 0)
}

fn sock4(addr: [u8; 4], port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(addr), port)
}

/// The client's request as the backend is to see it.
fn to_backend(ident: u16) -> To4 {
    To4 {
        src: sock4(LOCAL, 40000),
        dst: sock4(BACKEND, 8080),
        ident,
    }
}

/// The backend's answer as the client is to see it.
fn to_client() -> To6 {
    To6 {
        src: sock6(VIP, 80),
        dst: sock6(CLIENT, 51000),
    }
}

/// A frame from `src` to `dst` with TCP (`tcp`) or UDP, built by etherparse.
fn frame6(src: SocketAddrV6, dst: SocketAddrV6, tcp: bool, hop: u8, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, OUR_MAC).ipv6(
        src.ip().octets(),
        dst.ip().octets(),
        hop,
    );
    let mut v = Vec::new();
    if tcp {
        b.tcp(src.port(), dst.port(), 7, 64240)
            .ack(9)
            .write(&mut v, payload)
            .unwrap();
    } else {
        b.udp(src.port(), dst.port())
            .write(&mut v, payload)
            .unwrap();
    }
    v
}

/// `frame` (untagged IPv6) with a hop-by-hop header (one PadN option)
/// before its upper layer.
fn with_hop_by_hop(frame: &[u8]) -> Vec<u8> {
    let l3 = 14;
    let mut v = frame[..l3 + 40].to_vec();
    let upper = v[l3 + 6];
    v[l3 + 6] = 0;
    let len = u16::from_be_bytes([v[l3 + 4], v[l3 + 5]]) + 8;
    v[l3 + 4..l3 + 6].copy_from_slice(&len.to_be_bytes());
    v.extend_from_slice(&[upper, 0, 1, 4, 0, 0, 0, 0]);
    v.extend_from_slice(&frame[l3 + 40..]);
    v
}

fn meta6(frame: &[u8]) -> Ipv6Meta {
    let Ok(Classified::Ipv6 { l3_offset, .. }) = classify(frame) else {
        panic!("not IPv6: {:?}", classify(frame))
    };
    match classify_ipv6(frame, l3_offset) {
        Ok(Ipv6Flow::Flow(m)) => m,
        other => panic!("not a flow: {other:?}"),
    }
}

fn meta4(frame: &[u8]) -> Ipv4Meta {
    match classify(frame) {
        Ok(Classified::Ipv4(m)) => m,
        other => panic!("not IPv4: {other:?}"),
    }
}

/// The L4 checksum of a decoded frame as etherparse computes it, and as
/// the frame carries it.
fn l4_checksums(p: &PacketHeaders) -> (u16, u16) {
    let payload = p.payload.slice();
    match (&p.net, &p.transport) {
        (Some(NetHeaders::Ipv4(ip, _)), Some(TransportHeader::Tcp(t))) => {
            (t.calc_checksum_ipv4(ip, payload).unwrap(), t.checksum)
        }
        (Some(NetHeaders::Ipv4(ip, _)), Some(TransportHeader::Udp(u))) => {
            (u.calc_checksum_ipv4(ip, payload).unwrap(), u.checksum)
        }
        (Some(NetHeaders::Ipv6(ip, _)), Some(TransportHeader::Tcp(t))) => {
            (t.calc_checksum_ipv6(ip, payload).unwrap(), t.checksum)
        }
        (Some(NetHeaders::Ipv6(ip, _)), Some(TransportHeader::Udp(u))) => {
            (u.calc_checksum_ipv6(ip, payload).unwrap(), u.checksum)
        }
        other => panic!("not TCP or UDP over IP: {other:?}"),
    }
}

#[test]
fn a_clients_tcp_packet_becomes_ipv4_from_the_local_address_to_the_backend() {
    let mut frame = with_hop_by_hop(&frame6(
        sock6(CLIENT, 51000),
        sock6(VIP, 80),
        true,
        64,
        b"GET /",
    ));
    crate::wire::ipv6::set_traffic_class(&mut frame[14..], 0x28);
    let meta = meta6(&frame);
    assert_eq!(meta.extensions, 1);
    let mut buf = TestBuf::new(&frame);
    assert_eq!(to_ipv4(&mut buf, &meta, &to_backend(0x1234)), Ok(()));
    let out = buf.data();
    assert_eq!(&out[..12], &frame[..12], "the MACs are the caller's");
    let p = PacketHeaders::from_ethernet_slice(out).unwrap();
    let Some(NetHeaders::Ipv4(ip, _)) = &p.net else {
        panic!("{p:?}")
    };
    assert_eq!((ip.source, ip.destination), (LOCAL, BACKEND));
    assert_eq!(ip.time_to_live, 63, "the hop limit less one");
    assert_eq!(
        (ip.dscp.value(), ip.ecn.value()),
        (0x28 >> 2, 0),
        "TOS = traffic class"
    );
    assert_eq!(ip.identification, 0x1234);
    assert!(!ip.dont_fragment, "1260 bytes or less go without DF");
    assert_eq!(ip.total_len, (20 + 20 + 5) as u16);
    assert_eq!(ip.header_checksum, ip.calc_header_checksum());
    let Some(TransportHeader::Tcp(t)) = &p.transport else {
        panic!("{p:?}")
    };
    assert_eq!((t.source_port, t.destination_port), (40000, 8080));
    assert_eq!((t.sequence_number, t.acknowledgment_number), (7, 9));
    assert_eq!(p.payload.slice(), b"GET /");
    let (want, got) = l4_checksums(&p);
    assert_eq!(got, want, "the TCP checksum follows the new pseudo-header");
    assert_eq!(out.len(), 14 + 45, "the IPv6 and hop-by-hop headers gone");
}

#[test]
fn a_tagged_frame_keeps_its_tag_and_a_long_packet_gets_df() {
    let payload = vec![0xab; 1300];
    let frame = vlan_tag(
        &frame6(sock6(CLIENT, 51000), sock6(VIP, 53), false, 9, &payload),
        42,
    );
    let meta = meta6(&frame);
    let mut buf = TestBuf::new(&frame);
    assert_eq!(to_ipv4(&mut buf, &meta, &to_backend(7)), Ok(()));
    let out = buf.data();
    assert_eq!(&out[..16], &frame[..16], "MACs and tag");
    assert_eq!(&out[16..18], &[0x08, 0x00]);
    let p = PacketHeaders::from_ethernet_slice(out).unwrap();
    let Some(NetHeaders::Ipv4(ip, _)) = &p.net else {
        panic!("{p:?}")
    };
    assert!(ip.dont_fragment, "1328 bytes: over 1260");
    assert_eq!(ip.time_to_live, 8);
    let (want, got) = l4_checksums(&p);
    assert_eq!(got, want);
    assert_eq!(p.payload.slice(), &payload[..]);
}

#[test]
fn a_backends_answer_becomes_ipv6_from_the_vip_to_the_client() {
    let mut frame = tcp_frame(BACKEND, LOCAL, 8080, 40000, 64, b"HTTP/1.1 200 OK");
    frame[15] = 0xb8; // TOS: EF
    crate::testutil::fix_ipv4_checksum(&mut frame, 14);
    let meta = meta4(&frame);
    let mut buf = TestBuf::new(&frame);
    assert_eq!(to_ipv6(&mut buf, &meta, &to_client()), Ok(()));
    let out = buf.data();
    assert_eq!(&out[..12], &frame[..12]);
    let p = PacketHeaders::from_ethernet_slice(out).unwrap();
    let Some(NetHeaders::Ipv6(ip, _)) = &p.net else {
        panic!("{p:?}")
    };
    assert_eq!(
        (ip.source, ip.destination),
        (v6(VIP).octets(), v6(CLIENT).octets())
    );
    assert_eq!(ip.hop_limit, 63);
    assert_eq!(ip.traffic_class, 0xb8);
    assert_eq!(ip.flow_label.value(), 0);
    assert_eq!(usize::from(ip.payload_length), 20 + 15);
    let Some(TransportHeader::Tcp(t)) = &p.transport else {
        panic!("{p:?}")
    };
    assert_eq!((t.source_port, t.destination_port), (80, 51000));
    let (want, got) = l4_checksums(&p);
    assert_eq!(got, want);
    assert_eq!(p.payload.slice(), b"HTTP/1.1 200 OK");
}

#[test]
fn a_udp_datagram_without_a_checksum_gets_one_in_ipv6() {
    let mut frame = udp_frame(BACKEND, LOCAL, 53, 40000, 64, b"answer");
    let udp_check = 14 + 20 + 6;
    frame[udp_check..udp_check + 2].copy_from_slice(&[0, 0]);
    let meta = meta4(&frame);
    let mut buf = TestBuf::new(&frame);
    assert_eq!(to_ipv6(&mut buf, &meta, &to_client()), Ok(()));
    let p = PacketHeaders::from_ethernet_slice(buf.data()).unwrap();
    let (want, got) = l4_checksums(&p);
    assert_ne!(got, 0, "IPv6 requires a UDP checksum");
    assert_eq!(got, want);
}

#[test]
fn ipv4_options_are_left_behind() {
    let frame = udp_frame(BACKEND, LOCAL, 53, 40000, 64, b"answer");
    // The same packet with four NOP options (IHL 6).
    let mut with_options = frame[..14 + 20].to_vec();
    with_options.extend_from_slice(&[1, 1, 1, 1]);
    with_options.extend_from_slice(&frame[14 + 20..]);
    with_options[14] = 0x46;
    let total = u16::from_be_bytes([with_options[16], with_options[17]]) + 4;
    with_options[16..18].copy_from_slice(&total.to_be_bytes());
    crate::testutil::fix_ipv4_checksum(&mut with_options, 14);
    let (mut plain, mut optioned) = (TestBuf::new(&frame), TestBuf::new(&with_options));
    to_ipv6(&mut plain, &meta4(&frame), &to_client()).unwrap();
    to_ipv6(&mut optioned, &meta4(&with_options), &to_client()).unwrap();
    assert_eq!(optioned.data(), plain.data());
}

#[test]
fn what_is_not_translated_is_refused_with_nothing_written() {
    let refused = |buf: &TestBuf, frame: &[u8], result, want| {
        assert_eq!(result, Err(want));
        assert_eq!(buf.data(), frame, "nothing written");
    };
    // Hop limit 1: expires here.
    let frame = frame6(sock6(CLIENT, 51000), sock6(VIP, 80), true, 1, b"x");
    let mut buf = TestBuf::new(&frame);
    let r = to_ipv4(&mut buf, &meta6(&frame), &to_backend(0));
    refused(&buf, &frame, r, Untranslatable::HopLimit);
    // TTL 1 the other way.
    let frame = tcp_frame(BACKEND, LOCAL, 8080, 40000, 1, b"x");
    let mut buf = TestBuf::new(&frame);
    let r = to_ipv6(&mut buf, &meta4(&frame), &to_client());
    refused(&buf, &frame, r, Untranslatable::HopLimit);
    // An echo is not a TCP or UDP flow.
    let frame = crate::testutil::echo_frame(BACKEND, LOCAL, true, 1, 1, b"ping");
    let mut buf = TestBuf::new(&frame);
    let r = to_ipv6(&mut buf, &meta4(&frame), &to_client());
    refused(&buf, &frame, r, Untranslatable::Protocol);
    // No headroom for the 20 more bytes.
    let frame = tcp_frame(BACKEND, LOCAL, 8080, 40000, 64, b"x");
    let mut buf = TestBuf::with_room(&frame, 19, 0);
    let r = to_ipv6(&mut buf, &meta4(&frame), &to_client());
    refused(&buf, &frame, r, Untranslatable::NoBufferRoom);
    // The first fragment (MF set) of UDP without a checksum: the datagram
    // is not here to sum (RFC 7915 4.5).
    let mut frame = udp_frame(BACKEND, LOCAL, 53, 40000, 64, &[7; 100]);
    frame[14 + 6] = 0x20;
    frame[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&[0, 0]);
    crate::testutil::fix_ipv4_checksum(&mut frame, 14);
    let meta = meta4(&frame);
    let mut buf = TestBuf::new(&frame);
    let r = to_ipv6(&mut buf, &meta, &to_client());
    refused(&buf, &frame, r, Untranslatable::Fragment);
    // A later fragment (offset 8) is not a first one, either way.
    frame[14 + 6..14 + 8].copy_from_slice(&1u16.to_be_bytes());
    crate::testutil::fix_ipv4_checksum(&mut frame, 14);
    let meta = meta4(&frame);
    let mut buf = TestBuf::new(&frame);
    let r = to_ipv6(&mut buf, &meta, &to_client());
    refused(&buf, &frame, r, Untranslatable::Fragment);
    // And a whole packet is not a later fragment.
    let frame = tcp_frame(BACKEND, LOCAL, 8080, 40000, 64, b"x");
    let mut buf = TestBuf::new(&frame);
    let r = later_to_ipv6(&mut buf, &meta4(&frame), (v6(VIP), v6(CLIENT)));
    refused(&buf, &frame, r, Untranslatable::Fragment);
    let frame = frame6(sock6(CLIENT, 51000), sock6(VIP, 80), true, 64, b"x");
    let mut buf = TestBuf::new(&frame);
    let r = later_to_ipv4(&mut buf, &meta6(&frame), (LOCAL.into(), BACKEND.into()));
    refused(&buf, &frame, r, Untranslatable::Fragment);
}

/// An IPv6 TCP or UDP packet's parts, for the round trip.
#[derive(Clone, Debug)]
struct Flow6 {
    tcp: bool,
    client: SocketAddrV6,
    vip: SocketAddrV6,
    local: SocketAddrV4,
    backend: SocketAddrV4,
    hop: u8,
    traffic_class: u8,
    vlan: Option<u16>,
    payload: Vec<u8>,
}

fn flow6() -> impl Strategy<Value = Flow6> {
    let addr6 = any::<[u8; 16]>().prop_map(Ipv6Addr::from);
    let addr4 = any::<[u8; 4]>().prop_map(Ipv4Addr::from);
    (
        (
            any::<bool>(),
            addr6.clone(),
            addr6,
            any::<(u16, u16, u16, u16)>(),
        ),
        (addr4.clone(), addr4, 3u8..=255, any::<u8>()),
        (
            proptest::option::of(1u16..4095),
            proptest::collection::vec(any::<u8>(), 0..1400),
        ),
    )
        .prop_map(
            |((tcp, c, v, ports), (l, b, hop, tc), (vlan, payload))| Flow6 {
                tcp,
                client: SocketAddrV6::new(c, ports.0, 0, 0),
                vip: SocketAddrV6::new(v, ports.1, 0, 0),
                local: SocketAddrV4::new(l, ports.2),
                backend: SocketAddrV4::new(b, ports.3),
                hop,
                traffic_class: tc,
                vlan,
                payload,
            },
        )
}

proptest! {
    /// An IPv4 address swapped for an IPv6 one (and back) in a checksum
    /// four words at a time (`words128` of `v4_leaving`, `v4_entering`)
    /// changes it exactly as word by word (`swap_words`).
    #[test]
    fn address_swaps_by_words128_sum_as_word_by_word(
        a4 in any::<u32>(),
        a6 in any::<u128>(),
        check in any::<u16>(),
    ) {
        use crate::checksum::Delta;
        use super::header::{swap_words, v4_entering, v4_leaving};
        let (a4, a6) = (Ipv4Addr::from(a4), Ipv6Addr::from(a6));
        let (mut words, mut whole) = (Delta::default(), Delta::default());
        swap_words(&mut words, &a4.octets(), &a6.octets());
        whole.words128(v4_leaving(a4), u128::from(a6));
        prop_assert_eq!(whole.apply(check), words.apply(check));
        prop_assert_eq!(whole.apply_udp(check), words.apply_udp(check));
        let (mut words, mut whole) = (Delta::default(), Delta::default());
        swap_words(&mut words, &a6.octets(), &a4.octets());
        whole.words128(u128::from(a6), v4_entering(a4));
        prop_assert_eq!(whole.apply(check), words.apply(check));
        prop_assert_eq!(whole.apply_udp(check), words.apply_udp(check));
    }

    /// Client to backend and back again with the flow's endpoints swapped
    /// is the packet the client sent, hop limit two lower: every checksum
    /// update and header write undone exactly; and each leg verifies with
    /// etherparse.
    #[test]
    fn there_and_back_again_is_the_same_packet(f in flow6()) {
        let mut frame = frame6(f.client, f.vip, f.tcp, f.hop, &f.payload);
        crate::wire::ipv6::set_traffic_class(&mut frame[14..], f.traffic_class);
        if let Some(vid) = f.vlan {
            frame = vlan_tag(&frame, vid);
        }
        let mut buf = TestBuf::new(&frame);
        let there = To4 { src: f.local, dst: f.backend, ident: 1 };
        prop_assert_eq!(to_ipv4(&mut buf, &meta6(&frame), &there), Ok(()));
        let p = PacketHeaders::from_ethernet_slice(buf.data()).unwrap();
        let (want, got) = l4_checksums(&p);
        prop_assert_eq!(got, want);
        let v4 = buf.data().to_vec();
        let back = To6 { src: f.client, dst: f.vip };
        prop_assert_eq!(to_ipv6(&mut buf, &meta4(&v4), &back), Ok(()));
        let mut expected = frame.clone();
        let l3 = if f.vlan.is_some() { 18 } else { 14 };
        expected[l3 + 7] = f.hop - 2;
        prop_assert_eq!(buf.data(), &expected[..]);
    }
}

proptest! {
    /// A NAT64 session's `keys_delta` (its client key and its mapped reply
    /// key, `FlowKey::keys_delta`), as the pipeline gives it, translates
    /// each way exactly as the delta summed from the packet: the same
    /// bytes out (and a checksum etherparse verifies), for any addresses,
    /// ports and payload.
    #[test]
    fn a_sessions_keys_delta_translates_as_the_packets_own_sum(
        f in flow6(),
        ttl in 2u8..=255,
        reply_payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        use crate::checksum::Delta;
        use crate::flow::state::nat64::mapped;
        use crate::tuple::{FiveTuple, FiveTuple6, FlowKey, IpProto};
        let proto = if f.tcp { IpProto::TCP } else { IpProto::UDP };
        let inbound = FiveTuple6 {
            src: *f.client.ip(),
            dst: *f.vip.ip(),
            src_port: f.client.port(),
            dst_port: f.vip.port(),
            proto,
        };
        let outbound = mapped(&FiveTuple {
            src: *f.backend.ip(),
            dst: *f.local.ip(),
            src_port: f.backend.port(),
            dst_port: f.local.port(),
            proto,
        });
        let keys = FiveTuple6::keys_delta(&inbound, &outbound);

        let frame = frame6(f.client, f.vip, f.tcp, f.hop, &f.payload);
        let there = To4 { src: f.local, dst: f.backend, ident: 9 };
        let (mut summed, mut kept) = (TestBuf::new(&frame), TestBuf::new(&frame));
        prop_assert_eq!(to_ipv4(&mut summed, &meta6(&frame), &there), Ok(()));
        prop_assert_eq!(
            to_ipv4_summed(&mut kept, &meta6(&frame), &there, Delta::of_folded(keys)),
            Ok(())
        );
        prop_assert_eq!(kept.data(), summed.data());

        let (b, l) = (f.backend.ip().octets(), f.local.ip().octets());
        let (bp, lp) = (f.backend.port(), f.local.port());
        let reply = match f.tcp {
            true => tcp_frame(b, l, bp, lp, ttl, &reply_payload),
            false => udp_frame(b, l, bp, lp, ttl, &reply_payload),
        };
        let back = To6 { src: f.vip, dst: f.client };
        let (mut summed, mut kept) = (TestBuf::new(&reply), TestBuf::new(&reply));
        prop_assert_eq!(to_ipv6(&mut summed, &meta4(&reply), &back), Ok(()));
        prop_assert_eq!(
            to_ipv6_summed(&mut kept, &meta4(&reply), &back, Delta::negated(keys)),
            Ok(())
        );
        prop_assert_eq!(kept.data(), summed.data());
        let p = PacketHeaders::from_ethernet_slice(kept.data()).unwrap();
        let (want, got) = l4_checksums(&p);
        prop_assert_eq!(got, want);
    }
}

/// An ICMP or ICMPv6 (type, code).
type TypeCode = (u8, u8);

/// RFC 7915 section 4.2's table, ICMP (type, code) to ICMPv6 (type, code),
/// for the errors; everything else is dropped.
const TO_IPV6: &[(TypeCode, TypeCode)] = &[
    ((3, 0), (1, 0)),
    ((3, 1), (1, 0)),
    ((3, 2), (4, 1)),
    ((3, 3), (1, 4)),
    ((3, 4), (2, 0)),
    ((3, 5), (1, 0)),
    ((3, 6), (1, 0)),
    ((3, 7), (1, 0)),
    ((3, 8), (1, 0)),
    ((3, 9), (1, 1)),
    ((3, 10), (1, 1)),
    ((3, 11), (1, 0)),
    ((3, 12), (1, 0)),
    ((3, 13), (1, 1)),
    ((3, 15), (1, 1)),
    ((11, 0), (3, 0)),
    ((11, 1), (3, 1)),
    ((12, 0), (4, 0)),
    ((12, 2), (4, 0)),
];

/// RFC 7915 section 5.2's table, the other way.
const TO_IPV4: &[(TypeCode, TypeCode)] = &[
    ((1, 0), (3, 1)),
    ((1, 1), (3, 10)),
    ((1, 2), (3, 1)),
    ((1, 3), (3, 1)),
    ((1, 4), (3, 3)),
    ((2, 0), (3, 4)),
    ((3, 0), (11, 0)),
    ((3, 1), (11, 1)),
    ((4, 0), (12, 0)),
    ((4, 1), (3, 2)),
];

#[test]
fn error_types_and_codes_map_as_rfc_7915s_tables_and_no_others() {
    for t in 0..=255u8 {
        for code in 0..=20u8 {
            // Pointer 0 (version) maps to 0 both ways; MTU 1400.
            let m = IcmpMessage {
                msg_type: t,
                code,
                rest: if t == 2 { 1400 } else { 0 },
            };
            let got = map_error_to_ipv6(IcmpMessage { rest: 1400, ..m }, 1500)
                .map(|r| (r.msg_type, r.code));
            let want = TO_IPV6
                .iter()
                .find(|(from, _)| *from == (t, code))
                .map(|(_, to)| *to);
            assert_eq!(got.ok(), want, "ICMP {t}/{code}");
            let got = map_error_to_ipv4(m).map(|r| (r.msg_type, r.code));
            let want = TO_IPV4
                .iter()
                .find(|(from, _)| *from == (t, code))
                .map(|(_, to)| *to);
            assert_eq!(got.ok(), want, "ICMPv6 {t}/{code}");
        }
    }
}

#[test]
fn mtus_and_pointers_move_between_the_header_sizes() {
    let frag_needed = |mtu: u32| IcmpMessage {
        msg_type: 3,
        code: 4,
        rest: mtu,
    };
    let mtu6 = |m: IcmpMessage, total| map_error_to_ipv6(m, total).unwrap().rest;
    assert_eq!(mtu6(frag_needed(1400), 1500), 1420);
    // No MTU from an RFC 1191-less router: the plateau below the packet.
    assert_eq!(mtu6(frag_needed(0), 1500), 1492);
    assert_eq!(mtu6(frag_needed(0), 9000), 8166);
    assert_eq!(
        mtu6(frag_needed(0), 1400),
        1280,
        "no plateau of 1280 or more below"
    );
    let too_big = IcmpMessage {
        msg_type: 2,
        code: 0,
        rest: 1280,
    };
    assert_eq!(map_error_to_ipv4(too_big).unwrap().rest, 1260);
    // Parameter problem pointers, figures 3 and 6 of RFC 7915.
    let pp4 = |p: u32| IcmpMessage {
        msg_type: 12,
        code: 0,
        rest: p << 24,
    };
    let pp6 = |p: u32| IcmpMessage {
        msg_type: 4,
        code: 0,
        rest: p,
    };
    for (v4, v6) in [
        (0, 0),
        (1, 1),
        (2, 4),
        (3, 4),
        (8, 7),
        (9, 6),
        (12, 8),
        (19, 24),
    ] {
        assert_eq!(
            map_error_to_ipv6(pp4(v4), 100).unwrap().rest,
            v6,
            "IPv4 pointer {v4}"
        );
    }
    for v4 in [4, 5, 6, 7, 10, 11, 20] {
        assert_eq!(
            map_error_to_ipv6(pp4(v4), 100),
            Err(Untranslatable::IcmpType)
        );
    }
    for (v6, v4) in [
        (0, 0),
        (1, 1),
        (4, 2),
        (5, 2),
        (6, 9),
        (7, 8),
        (8, 12),
        (23, 12),
        (24, 16),
        (39, 16),
    ] {
        assert_eq!(
            map_error_to_ipv4(pp6(v6)).unwrap().rest,
            v4 << 24,
            "IPv6 pointer {v6}"
        );
    }
    for v6 in [2, 3, 40] {
        assert_eq!(map_error_to_ipv4(pp6(v6)), Err(Untranslatable::IcmpType));
    }
    // Protocol unreachable points at the next header.
    let proto = IcmpMessage {
        msg_type: 3,
        code: 2,
        rest: 0,
    };
    assert_eq!(map_error_to_ipv6(proto, 100).unwrap().rest, 6);
}

const ROUTER4: [u8; 4] = [10, 0, 1, 1];

/// The client's packet (hop limit 64) and what we sent the backend for it.
fn client_request(payload: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let client = frame6(sock6(CLIENT, 51000), sock6(VIP, 80), true, 64, payload);
    let mut buf = TestBuf::new(&client);
    to_ipv4(&mut buf, &meta6(&client), &to_backend(5)).unwrap();
    (client, buf.data().to_vec())
}

fn error_to_client(mtu: u16) -> ErrorTo6 {
    ErrorTo6 {
        src: v6(VIP),
        dst: v6(CLIENT),
        mtu,
        quoted: To6 {
            src: sock6(CLIENT, 51000),
            dst: sock6(VIP, 80),
        },
    }
}

/// A router's ICMP error to the local address about `quoted` (an IP packet).
fn icmp4_error(t: u8, code: u8, rest: u32, quoted: &[u8], len: usize) -> Vec<u8> {
    let mut f = icmp_error_frame(ROUTER4, LOCAL, t, code, rest, quoted, len);
    f[14 + 8] = 60; // TTL
    crate::testutil::fix_ipv4_checksum(&mut f, 14);
    f
}

#[test]
fn fragmentation_needed_from_the_backends_side_reaches_the_client_as_packet_too_big() {
    let (client, sent) = client_request(b"0123456789");
    let frame = icmp4_error(3, 4, 1400, &sent[14..], sent.len() - 14);
    let mut buf = TestBuf::new(&frame);
    let r = error_to_ipv6(&mut buf, &meta4(&frame), &error_to_client(1500));
    assert_eq!(r, Ok(()));
    let p = PacketHeaders::from_ethernet_slice(buf.data()).unwrap();
    let Some(NetHeaders::Ipv6(ip, _)) = &p.net else {
        panic!("{p:?}")
    };
    assert_eq!(
        (ip.source, ip.destination),
        (v6(VIP).octets(), v6(CLIENT).octets())
    );
    assert_eq!(ip.hop_limit, 59);
    let Some(TransportHeader::Icmpv6(icmp)) = &p.transport else {
        panic!("{p:?}")
    };
    assert_eq!(icmp.icmp_type, EpIcmpv6::PacketTooBig { mtu: 1420 });
    let quote = p.payload.slice();
    let want = icmp
        .icmp_type
        .calc_checksum(ip.source, ip.destination, quote)
        .unwrap();
    assert_eq!(icmp.checksum, want, "ICMPv6 checksum");
    // The quote is the client's own packet, checksum and all; its hop
    // limit is the TTL we sent it with.
    let inner = PacketHeaders::from_ip_slice(quote).unwrap();
    let (want, got) = l4_checksums(&inner);
    assert_eq!(
        got, want,
        "the quoted TCP checksum follows its new pseudo-header"
    );
    let mut as_client_sent = client[14..].to_vec();
    as_client_sent[7] = 63;
    assert_eq!(quote, &as_client_sent[..]);
}

#[test]
fn a_packet_too_big_mtu_is_the_least_of_the_routers_and_ours_or_a_plateau() {
    let (_, sent) = client_request(&[1; 1400]);
    let mtu_of = |rest: u32, ours: u16| {
        let frame = icmp4_error(3, 4, rest, &sent[14..], 28);
        let mut buf = TestBuf::new(&frame);
        error_to_ipv6(&mut buf, &meta4(&frame), &error_to_client(ours)).unwrap();
        let p = PacketHeaders::from_ethernet_slice(buf.data()).unwrap();
        match &p.transport {
            Some(TransportHeader::Icmpv6(i)) => i.icmp_type,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(mtu_of(1400, 1300), EpIcmpv6::PacketTooBig { mtu: 1300 });
    // A quoted packet of 1440 bytes: 1492 is not below it.
    assert_eq!(mtu_of(0, 9000), EpIcmpv6::PacketTooBig { mtu: 1280 });
}

#[test]
fn a_long_quote_is_cut_to_fit_ipv6s_minimum_mtu() {
    let (_, sent) = client_request(&[2; 1400]);
    let frame = icmp4_error(11, 0, 0, &sent[14..], sent.len() - 14);
    let mut buf = TestBuf::new(&frame);
    assert_eq!(
        error_to_ipv6(&mut buf, &meta4(&frame), &error_to_client(1500)),
        Ok(())
    );
    assert_eq!(buf.data().len(), 14 + 1280);
    let p = PacketHeaders::from_ethernet_slice(buf.data()).unwrap();
    let (Some(NetHeaders::Ipv6(ip, _)), Some(TransportHeader::Icmpv6(icmp))) =
        (&p.net, &p.transport)
    else {
        panic!("{p:?}")
    };
    assert_eq!(
        icmp.icmp_type,
        EpIcmpv6::TimeExceeded(etherparse::icmpv6::TimeExceededCode::HopLimitExceeded)
    );
    let want = icmp
        .icmp_type
        .calc_checksum(ip.source, ip.destination, p.payload.slice())
        .unwrap();
    assert_eq!(icmp.checksum, want);
}

#[test]
fn a_clients_packet_too_big_reaches_the_backend_as_fragmentation_needed() {
    // Our answer to the client, as we sent it (UDP, 1400 bytes of data).
    let sent = frame6(sock6(VIP, 53), sock6(CLIENT, 51000), false, 63, &[3; 1400]);
    let mut icmp = vec![2, 0, 0, 0];
    icmp.extend_from_slice(&1280u32.to_be_bytes());
    icmp.extend_from_slice(&sent[14..14 + 1232]);
    let builder = PacketBuilder::ethernet2(CLIENT_MAC, OUR_MAC)
        .ipv6(v6("2001:db8:2::1").octets(), v6(VIP).octets(), 64)
        .icmpv6(EpIcmpv6::PacketTooBig { mtu: 1280 });
    let mut frame = Vec::new();
    builder.write(&mut frame, &icmp[8..]).unwrap();
    let to = ErrorTo4 {
        src: Ipv4Addr::from(LOCAL),
        dst: Ipv4Addr::from(BACKEND),
        mtu: 1500,
        ident: 77,
        quoted: To4 {
            src: sock4(BACKEND, 5353),
            dst: sock4(LOCAL, 40000),
            ident: 0,
        },
    };
    let mut corrupt = TestBuf::new(&frame);
    corrupt.data_mut()[14 + 40 + 20] ^= 1;
    let before = corrupt.data().to_vec();
    assert_eq!(
        error_to_ipv4(&mut corrupt, 14, &to),
        Err(Untranslatable::BadChecksum)
    );
    assert_eq!(corrupt.data(), &before[..], "nothing written");

    let mut buf = TestBuf::new(&frame);
    assert_eq!(error_to_ipv4(&mut buf, 14, &to), Ok(()));
    let p = PacketHeaders::from_ethernet_slice(buf.data()).unwrap();
    let Some(NetHeaders::Ipv4(ip, _)) = &p.net else {
        panic!("{p:?}")
    };
    assert_eq!(
        (ip.source, ip.destination, ip.time_to_live),
        (LOCAL, BACKEND, 63)
    );
    assert_eq!(ip.header_checksum, ip.calc_header_checksum());
    assert_eq!(usize::from(ip.total_len), 20 + 8 + 20 + (1232 - 40));
    let Some(TransportHeader::Icmpv4(icmp)) = &p.transport else {
        panic!("{p:?}")
    };
    let Icmpv4Type::DestinationUnreachable(unreachable) = &icmp.icmp_type else {
        panic!("{icmp:?}")
    };
    assert_eq!(
        *unreachable,
        etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1260 }
    );
    assert_eq!(
        icmp.checksum,
        icmp.icmp_type.calc_checksum(p.payload.slice())
    );
    // The quote: the backend's own datagram header, its checksum right for
    // the whole datagram the backend sent.
    let quote = p.payload.slice();
    let inner = etherparse::Ipv4HeaderSlice::from_slice(quote)
        .unwrap()
        .to_header();
    assert_eq!((inner.source, inner.destination), (BACKEND, LOCAL));
    assert_eq!(inner.header_checksum, inner.calc_header_checksum());
    assert_eq!(usize::from(inner.total_len), 20 + 8 + 1400);
    let backend_sent = udp_frame(BACKEND, LOCAL, 5353, 40000, 63, &[3; 1400]);
    assert_eq!(
        &quote[20..28],
        &backend_sent[34..42],
        "ports, length and checksum"
    );
}
