//! IPv6-in-IPv6 checked with etherparse as an independent decoder: the
//! outer header's fields, and the inner packet byte for byte.

use std::net::Ipv6Addr;

use etherparse::{IpNumber, Ipv6HeaderSlice, NetHeaders, PacketBuilder, PacketHeaders};
use proptest::prelude::*;

use super::*;
use crate::buf::{PacketBuf, TestBuf};
use crate::packet::{classify, Classified};
use crate::packet6::{classify_ipv6, Ipv6Flow};
use crate::testutil::{vlan_tag, CLIENT_MAC, OUR_MAC};

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn tunnel(egress_mtu: u16) -> Tunnel6 {
    Tunnel6 {
        src: v6("2001:db8:1::1"),
        dst: v6("2001:db8:1::11"),
        hop_limit: 64,
        egress_mtu,
    }
}

/// A TCP segment from the client to the VIP with `payload` bytes, hop
/// limit 57, traffic class and flow label as given.
fn client_frame(payload: usize, class: u8, label: u32) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OUR_MAC)
        .ipv6(
            v6("2001:db8:2::7").octets(),
            v6("2001:db8::10").octets(),
            57,
        )
        .tcp(51000, 80, 7, 64240)
        .ack(9)
        .write(&mut v, &vec![0xa5; payload])
        .unwrap();
    let word = 6 << 28 | u32::from(class) << 20 | (label & 0xf_ffff);
    v[14..18].copy_from_slice(&word.to_be_bytes());
    v
}

fn meta(frame: &[u8]) -> Ipv6Meta {
    let Ok(Classified::Ipv6 { l3_offset, .. }) = classify(frame) else {
        panic!("not IPv6")
    };
    match classify_ipv6(frame, l3_offset) {
        Ok(Ipv6Flow::Flow(m)) => m,
        other => panic!("not a flow: {other:?}"),
    }
}

/// Encapsulates `frame` and checks the result: L2 header kept, outer
/// header as `tun` says with the inner word copied, inner packet intact.
fn check_encapsulated(frame: &[u8], tun: &Tunnel6) {
    let m = meta(frame);
    let mut buf = TestBuf::with_room(frame, 64, 0);
    assert_eq!(encapsulate_ip6ip6(&mut buf, &m, tun), Ok(()));
    let out = buf.data();
    let l3 = m.l3_offset;
    let inner = &frame[l3..l3 + usize::from(m.len)];
    assert_eq!(&out[..l3], &frame[..l3], "the L2 header is kept");
    assert_eq!(out.len(), l3 + 40 + inner.len(), "padding trimmed");
    let outer = Ipv6HeaderSlice::from_slice(&out[l3..]).unwrap();
    assert_eq!(outer.source_addr(), tun.src);
    assert_eq!(outer.destination_addr(), tun.dst);
    assert_eq!(outer.next_header(), IpNumber::IPV6);
    assert_eq!(outer.hop_limit(), tun.hop_limit);
    assert_eq!(usize::from(outer.payload_length()), inner.len());
    let inner_header = Ipv6HeaderSlice::from_slice(inner).unwrap();
    assert_eq!(outer.traffic_class(), inner_header.traffic_class());
    assert_eq!(outer.flow_label(), inner_header.flow_label());
    assert_eq!(&out[l3 + 40..], inner, "the inner packet is untouched");
    let decoded = PacketHeaders::from_ip_slice(&out[l3 + 40..]).unwrap();
    assert!(matches!(decoded.net, Some(NetHeaders::Ipv6(..))));
}

#[test]
fn the_outer_header_goes_after_the_l2_header_and_copies_class_and_label() {
    let frame = client_frame(100, 0xb8, 0x12345);
    check_encapsulated(&frame, &tunnel(1500));
}

#[test]
fn a_vlan_tag_stays_in_front() {
    let frame = vlan_tag(&client_frame(100, 0, 0), 42);
    assert_eq!(meta(&frame).l3_offset, 18);
    check_encapsulated(&frame, &tunnel(1500));
}

#[test]
fn ethernet_padding_is_not_carried_into_the_tunnel() {
    let mut frame = client_frame(0, 0, 0);
    frame.extend_from_slice(&[0; 6]);
    check_encapsulated(&frame, &tunnel(1500));
}

#[test]
fn a_packet_that_would_not_fit_gets_the_inner_mtu_and_is_not_changed() {
    // 1460 bytes of IPv6 fit a 1500-byte link once encapsulated; 1461 not.
    let fits = client_frame(1460 - 60, 0, 0);
    assert_eq!(meta(&fits).len, 1460);
    check_encapsulated(&fits, &tunnel(1500));
    let big = client_frame(1461 - 60, 0, 0);
    let mut buf = TestBuf::with_room(&big, 64, 0);
    assert_eq!(
        encapsulate_ip6ip6(&mut buf, &meta(&big), &tunnel(1500)),
        Err(Encap6Error::TooBig { inner_mtu: 1460 })
    );
    assert_eq!(buf.data(), &big[..]);
}

#[test]
fn a_link_too_small_to_report_an_mtu_drops_without_an_error() {
    // 1300 - 40 = 1260, under IPv6's minimum MTU: no sender believes it.
    let frame = client_frame(1300, 0, 0);
    let mut buf = TestBuf::with_room(&frame, 64, 0);
    let got = encapsulate_ip6ip6(&mut buf, &meta(&frame), &tunnel(1300));
    assert_eq!(got, Err(Encap6Error::TunnelBelowMinimum));
    assert_eq!(got.unwrap_err().drop_reason(), DropReason::TooBigToFragment);
    assert_eq!(buf.data(), &frame[..]);
}

#[test]
fn no_headroom_changes_nothing() {
    let frame = client_frame(10, 0, 0);
    let mut buf = TestBuf::with_room(&frame, 39, 0);
    assert_eq!(
        encapsulate_ip6ip6(&mut buf, &meta(&frame), &tunnel(1500)),
        Err(Encap6Error::NoRoom)
    );
    assert_eq!(buf.data(), &frame[..]);
}

proptest! {
    #[test]
    fn any_packet_that_fits_comes_out_whole(
        payload in 0usize..1400,
        class in any::<u8>(),
        label in 0u32..0x10_0000,
        tag in proptest::option::of(1u16..4095),
    ) {
        let mut frame = client_frame(payload, class, label);
        if let Some(vid) = tag {
            frame = vlan_tag(&frame, vid);
        }
        check_encapsulated(&frame, &tunnel(1500));
    }
}
