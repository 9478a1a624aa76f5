//! The client's address through FULLNAT, on in-memory ports: TOA on the
//! handshake's ACK (and the SYN's MSS lowered), the PROXY v2 header on a
//! UDP session's first datagram only. Frames are decoded by etherparse and
//! their checksums verified (`seen`).

use etherparse::{PacketBuilder, PacketHeaders, TcpOptionElement, TransportHeader};

use super::tests::*;
use crate::client_addr::proxy_header::ProxyVersion;
use crate::tables::Mode;

const LIP0: [u8; 4] = [10, 0, 1, 100];

fn syn_with_mss(mss: u16) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(ROUTER, OURS)
        .ipv4(CIP, VIP, 64)
        .tcp(40000, 80, 1000, 64240)
        .syn()
        .options(&[TcpOptionElement::MaximumSegmentSize(mss)])
        .expect("fits")
        .write(&mut f, b"")
        .expect("frame");
    f
}

/// The TCP options and payload of a frame (checksums verified).
fn options_and_payload(frame: &[u8]) -> (Vec<u8>, Vec<u8>) {
    seen(frame);
    let p = PacketHeaders::from_ethernet_slice(frame).expect("decodes");
    let Some(TransportHeader::Tcp(t)) = &p.transport else {
        panic!("tcp")
    };
    (t.options.as_slice().to_vec(), p.payload.slice().to_vec())
}

#[test]
fn toa_rides_on_the_handshakes_ack_and_the_syns_mss_makes_room() {
    let mut svc = service(Mode::FullNat, IpProto::TCP);
    svc.toa = true;
    let mut p = pipeline(&config(vec![svc]));
    let out = run(
        &mut p,
        &[
            syn_with_mss(1460),
            tcp((RS1, OURS), (RIP1, LIP0), (8080, 40000), SYN | ACK, 64, b""),
            tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), ACK, 64, b""),
            tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), ACK, 64, b"GET /"),
        ],
        0,
    );
    assert_eq!(out.len(), 4);
    let (syn_opts, _) = options_and_payload(&out[0]);
    assert_eq!(syn_opts, [2, 4, 0x05, 0xac], "MSS 1460 - 8 = 1452");
    let (ack_opts, _) = options_and_payload(&out[2]);
    assert_eq!(
        ack_opts,
        [254, 8, 0x9c, 0x40, CIP[0], CIP[1], CIP[2], CIP[3]],
        "kind 254, length 8, port 40000, the client's address"
    );
    assert_eq!(seen(&out[2]).dst, RIP1);
    assert_eq!(out[2].len(), 54 + 8);
    let (data_opts, data) = options_and_payload(&out[3]);
    assert!(data_opts.is_empty(), "only the handshake's ACK");
    assert_eq!(data, b"GET /");
    let e = p.counters().events;
    assert_eq!((e.toa_added, e.toa_mss_lowered, e.toa_no_room), (1, 1, 0));
}

#[test]
fn a_service_without_toa_and_a_nat_service_are_left_alone() {
    let plain = service(Mode::FullNat, IpProto::TCP);
    let mut p = pipeline(&config(vec![plain]));
    let out = run(
        &mut p,
        &[
            syn_with_mss(1460),
            tcp((RS1, OURS), (RIP1, LIP0), (8080, 40000), SYN | ACK, 64, b""),
            tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), ACK, 64, b""),
        ],
        0,
    );
    assert_eq!(options_and_payload(&out[0]).0, [2, 4, 0x05, 0xb4]);
    assert!(options_and_payload(&out[2]).0.is_empty());
    assert_eq!(p.counters().events.toa_added, 0);
}

#[test]
fn udp_proxy_v2_goes_on_the_first_datagram_only() {
    let mut svc = service(Mode::FullNat, IpProto::UDP);
    svc.proxy_protocol = Some(ProxyVersion::V2);
    let mut p = pipeline(&config(vec![svc]));
    let first = udp((ROUTER, OURS), CIP, VIP, (40000, 80));
    let out = run(&mut p, &[first.clone(), first.clone()], 0);
    assert_eq!(out.len(), 2);
    let payload = |f: &[u8]| {
        seen(f);
        PacketHeaders::from_ethernet_slice(f)
            .expect("decodes")
            .payload
            .slice()
            .to_vec()
    };
    let mut want = vec![
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x12, 0x00,
        0x0c,
    ];
    want.extend_from_slice(&CIP);
    want.extend_from_slice(&VIP);
    want.extend_from_slice(&[0x9c, 0x40, 0x00, 80]);
    want.extend_from_slice(b"datagram");
    assert_eq!(payload(&out[0]), want);
    assert_eq!(payload(&out[1]), b"datagram");
    assert_eq!(seen(&out[0]).src, LIP0, "from the local address");
    assert_eq!(p.counters().events.proxy_v2_added, 1);
    // A backend's reply passes back unchanged.
    let reply = udp((RS1, OURS), RIP1, LIP0, (8080, 40000));
    let back = run(&mut p, &[reply], 0);
    assert_eq!(payload(&back[0]), b"datagram");
    assert_eq!(seen(&back[0]).dst, CIP);
}
