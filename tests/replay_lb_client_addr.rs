//! Pcap replay of the client's address through FULLNAT (docs/load-balancing.md,
//! "The client's address behind FULLNAT") in the real appliance, real mbufs:
//! the TOA option on the handshake's ACK, byte for byte, with the SYN's MSS
//! lowered by 8; the PROXY v2 header on a UDP session's first datagram.
//! Frames are decoded by etherparse and every checksum verified.

mod common;

use common::lb::*;
use common::{assert_frames_eq, CasePort, Replay};
use etherparse::{PacketBuilder, PacketHeaders, TcpOptionElement, TransportHeader};

fn run_one_arm(input: &[Vec<u8>], services: &str) -> common::ReplayResult {
    let run = Replay {
        ports: vec![CasePort::new("lan", input.to_vec()).with_mac(LAN_MAC)],
        config: one_arm_config() + services,
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    run
}

const FULLNAT: &str = "local_addresses = [\"10.0.1.100\"]\nlocal_ports = \"40000-40000\"\n";

fn syn_with_mss(c: Ep, mss: u16) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(ROUTER_MAC, LAN_MAC)
        .ipv4(c.0, VIP, 64)
        .tcp(c.1, 80, 1000, 64240)
        .syn()
        .options(&[TcpOptionElement::MaximumSegmentSize(mss)])
        .expect("fits")
        .write(&mut f, b"")
        .expect("frame");
    f
}

/// Destination, TCP options and payload of a sent frame.
fn tcp_view(frame: &[u8]) -> (Ip, Vec<u8>, Vec<u8>) {
    let p = PacketHeaders::from_ethernet_slice(frame).expect("decodes");
    let Some(etherparse::NetHeaders::Ipv4(ip, _)) = &p.net else {
        panic!("ipv4")
    };
    let Some(TransportHeader::Tcp(t)) = &p.transport else {
        panic!("tcp")
    };
    (
        ip.destination,
        t.options.as_slice().to_vec(),
        p.payload.slice().to_vec(),
    )
}

#[test]
fn toa_goes_to_the_backend_on_the_handshakes_ack() {
    let extra = format!("{FULLNAT}toa = true\n");
    let services = service(
        "tcp",
        80,
        "fullnat",
        "rr",
        &extra,
        &[(rip(11), Some(8080), 1)],
    );
    let c = (cip(1), 40001);
    let input = vec![
        syn_with_mss(c, 1460),
        tcp(
            rmac(11),
            LAN_MAC,
            (rip(11), 8080),
            (LIP1, 40000),
            7000,
            1001,
            "SA",
            b"",
        )
        .bytes(),
        tcp(ROUTER_MAC, LAN_MAC, c, (VIP, 80), 1001, 7001, "A", b"").bytes(),
        tcp(
            ROUTER_MAC,
            LAN_MAC,
            c,
            (VIP, 80),
            1001,
            7001,
            "AP",
            b"hello",
        )
        .bytes(),
    ];
    let run = run_one_arm(&input, &services);
    let sent: Vec<_> = run.sent[0].iter().map(|f| tcp_view(f)).collect();
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert_eq!(
        sent[0],
        (rip(11), vec![2, 4, 0x05, 0xac], vec![]),
        "MSS 1452"
    );
    assert_eq!(sent[1].0, cip(1));
    let toa = vec![254, 8, 0x9c, 0x41, 198, 51, 100, 1];
    assert_eq!(sent[2], (rip(11), toa, vec![]));
    assert_eq!(sent[3], (rip(11), vec![], b"hello".to_vec()));
    assert_eq!(run.event("toa_added"), 1);
    assert_eq!(run.event("toa_mss_lowered"), 1);
    assert_eq!(run.event("toa_no_room") + run.event("toa_options_full"), 0);
}

#[test]
fn udp_proxy_v2_header_is_on_the_first_datagram_only() {
    let extra = format!("{FULLNAT}proxy_protocol = \"v2\"\n");
    let services = service(
        "udp",
        53,
        "fullnat",
        "rr",
        &extra,
        &[(rip(11), Some(5353), 1)],
    );
    let c = (cip(1), 40001);
    let input = vec![
        udp(ROUTER_MAC, LAN_MAC, c, (VIP, 53), b"question").bytes(),
        udp(ROUTER_MAC, LAN_MAC, c, (VIP, 53), b"again").bytes(),
        udp(rmac(11), LAN_MAC, (rip(11), 5353), (LIP1, 40000), b"answer").bytes(),
    ];
    let run = run_one_arm(&input, &services);
    let payloads: Vec<(Ip, Vec<u8>)> = run.sent[0]
        .iter()
        .map(|f| {
            let p = PacketHeaders::from_ethernet_slice(f).expect("decodes");
            let Some(etherparse::NetHeaders::Ipv4(ip, _)) = &p.net else {
                panic!("ipv4")
            };
            (ip.destination, p.payload.slice().to_vec())
        })
        .collect();
    #[rustfmt::skip]
    let mut first = vec![
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
        0x21, 0x12, 0x00, 0x0c,
        198, 51, 100, 1,   // the client
        192, 0, 2, 10,     // the VIP
        0x9c, 0x41, 0, 53, // their ports
    ];
    first.extend_from_slice(b"question");
    assert_eq!(
        payloads,
        vec![
            (rip(11), first),
            (rip(11), b"again".to_vec()),
            (cip(1), b"answer".to_vec()),
        ]
    );
    assert_eq!(run.event("proxy_v2_added"), 1);
}

/// Destination, sequence and acknowledgment numbers, MSS and payload of a
/// sent TCP frame.
fn seq_view(frame: &[u8]) -> (Ip, u32, u32, Option<u16>, Vec<u8>) {
    let p = PacketHeaders::from_ethernet_slice(frame).expect("decodes");
    let Some(etherparse::NetHeaders::Ipv4(ip, _)) = &p.net else {
        panic!("ipv4")
    };
    let Some(TransportHeader::Tcp(t)) = &p.transport else {
        panic!("tcp")
    };
    let mss = t.options_iterator().find_map(|o| match o {
        Ok(TcpOptionElement::MaximumSegmentSize(m)) => Some(m),
        _ => None,
    });
    (
        ip.destination,
        t.sequence_number,
        t.acknowledgment_number,
        mss,
        p.payload.slice().to_vec(),
    )
}

/// The backend's SYN-ACK with an MSS option.
fn syn_ack_with_mss(from: Ep, to: Ep, seq: u32, ack: u32, mss: u16) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(rmac(11), LAN_MAC)
        .ipv4(from.0, to.0, 64)
        .tcp(from.1, to.1, seq, 64240)
        .syn()
        .ack(ack)
        .options(&[TcpOptionElement::MaximumSegmentSize(mss)])
        .expect("fits")
        .write(&mut f, b"")
        .expect("frame");
    f
}

/// One connection through a FULLNAT TCP service with `proxy_protocol =
/// VERSION`: the header byte for byte in front of the first request and
/// again on its retransmission, the client's later bytes shifted by it,
/// the backend's acknowledgment shifted back, the SYN-ACK's MSS lowered.
fn tcp_proxy_case(version: &str, header: &[u8]) {
    let extra = format!("{FULLNAT}proxy_protocol = \"{version}\"\n");
    let services = service(
        "tcp",
        80,
        "fullnat",
        "rr",
        &extra,
        &[(rip(11), Some(8080), 1)],
    );
    let n = header.len() as u32;
    let c = (cip(1), 40001);
    let b = (rip(11), 8080);
    let l = (LIP1, 40000);
    let from_client = |seq, ack, flags, data: &[u8]| {
        tcp(ROUTER_MAC, LAN_MAC, c, (VIP, 80), seq, ack, flags, data).bytes()
    };
    let input = vec![
        syn_with_mss(c, 1460),
        syn_ack_with_mss(b, l, 7000, 1001, 1460),
        from_client(1001, 7001, "A", b""),
        from_client(1001, 7001, "AP", b"GET / HTTP/1.0\r\n"),
        from_client(1001, 7001, "AP", b"GET / HTTP/1.0\r\n"),
        from_client(1017, 7001, "AP", b"\r\n"),
        tcp(
            rmac(11),
            LAN_MAC,
            b,
            l,
            7001,
            1019 + n,
            "AP",
            b"HTTP/1.0 200 OK\r\n",
        )
        .bytes(),
    ];
    let run = run_one_arm(&input, &services);
    let sent: Vec<_> = run.sent[0].iter().map(|f| seq_view(f)).collect();
    let mut first = header.to_vec();
    first.extend_from_slice(b"GET / HTTP/1.0\r\n");
    assert_eq!(
        sent,
        vec![
            (rip(11), 1000, 0, Some(1460), vec![]),
            (cip(1), 7000, 1001, Some(1460 - n as u16), vec![]),
            (rip(11), 1001, 7001, None, vec![]),
            (rip(11), 1001, 7001, None, first.clone()),
            (rip(11), 1001, 7001, None, first),
            (rip(11), 1017 + n, 7001, None, b"\r\n".to_vec()),
            (cip(1), 7001, 1019, None, b"HTTP/1.0 200 OK\r\n".to_vec()),
        ]
    );
    // The segment again, byte for byte (the input's IP ids differ).
    assert_eq!(
        run.sent[0][3][34..],
        run.sent[0][4][34..],
        "the retransmission's TCP segment"
    );
    assert_eq!(run.event("proxy_tcp_added"), 1);
    assert_eq!(run.event("proxy_tcp_resent"), 1);
    assert_eq!(run.event("proxy_tcp_mss_lowered"), 1);
}

#[test]
fn tcp_proxy_v2_header_goes_before_the_first_byte_and_shifts_the_rest() {
    #[rustfmt::skip]
    let header = [
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
        0x21,              // version 2, PROXY
        0x11,              // AF_INET, STREAM
        0x00, 0x0c,        // 12 bytes of addresses
        198, 51, 100, 1,   // the client
        192, 0, 2, 10,     // the VIP
        0x9c, 0x41, 0, 80, // their ports
    ];
    tcp_proxy_case("v2", &header);
}

#[test]
fn tcp_proxy_v1_header_goes_before_the_first_byte_and_shifts_the_rest() {
    tcp_proxy_case("v1", b"PROXY TCP4 198.51.100.1 192.0.2.10 40001 80\r\n");
}

/// The PROXY v2 header for a UDP datagram from `client` to the VIP's `port`.
fn udp_v2_header(client: Ep, port: u16) -> Vec<u8> {
    let mut h = vec![
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x12, 0x00,
        0x0c,
    ];
    h.extend_from_slice(&client.0);
    h.extend_from_slice(&VIP);
    h.extend_from_slice(&client.1.to_be_bytes());
    h.extend_from_slice(&port.to_be_bytes());
    h
}

/// Sent fragments put back together, by IP identification: (the UDP
/// header's source port, the UDP payload) of each datagram, sorted.
fn datagrams(sent: &[Vec<u8>]) -> Vec<(u16, Vec<u8>)> {
    use std::collections::BTreeMap;
    let mut by_id: BTreeMap<u16, Vec<(usize, Vec<u8>)>> = BTreeMap::new();
    for f in sent {
        let (ip, rest) = etherparse::Ipv4Header::from_slice(&f[14..]).expect("ipv4");
        let len = usize::from(ip.total_len) - ip.header_len();
        let offset = usize::from(ip.fragment_offset.value()) * 8;
        by_id
            .entry(ip.identification)
            .or_default()
            .push((offset, rest[..len].to_vec()));
    }
    let mut out: Vec<(u16, Vec<u8>)> = by_id
        .into_values()
        .map(|mut pieces| {
            pieces.sort();
            let mut udp = Vec::new();
            for (offset, piece) in pieces {
                assert_eq!(offset, udp.len(), "the pieces tile the datagram");
                udp.extend(piece);
            }
            (u16::from_be_bytes([udp[0], udp[1]]), udp[8..].to_vec())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn udp_proxy_v2_first_datagram_in_fragments_is_reassembled_and_cut_again() {
    use common::fragments::{fragment, payload};
    let extra = format!("{FULLNAT}proxy_protocol = \"v2\"\n");
    let services = service(
        "udp",
        53,
        "fullnat",
        "rr",
        &extra,
        &[(rip(11), Some(5353), 1)],
    );
    let c = (cip(1), 40001);
    let data = payload(4000, 9);
    let question = udp(ROUTER_MAC, LAN_MAC, c, (VIP, 53), &data);
    let mut input = fragment(&question.bytes(), 1480);
    input.reverse();
    input.push(udp(ROUTER_MAC, LAN_MAC, c, (VIP, 53), b"again").bytes());
    let run = run_one_arm(&input, &services);
    // What the backend must get: the header and the data, from the local
    // address, as one datagram with the client's identification, cut to
    // the port's MTU.
    let mut with_header = udp_v2_header(c, 53);
    with_header.extend_from_slice(&data);
    let mut whole = udp(
        LAN_MAC,
        rmac(11),
        (LIP1, 40000),
        (rip(11), 5353),
        &with_header,
    );
    whole.ip.identification = question.ip.identification;
    whole.ip.time_to_live = 63;
    let mut want = fragment(&whole.bytes(), 1480);
    let mut again = udp(LAN_MAC, rmac(11), (LIP1, 40000), (rip(11), 5353), b"again");
    again.ip = input_ip(&input[3]);
    again.ip.time_to_live = 63;
    want.push(again.bytes());
    assert_frames_eq("lan", &want, &run.sent[0]);
    assert_eq!(run.event("reasm_fragments"), 3);
    assert_eq!(run.event("reasm_datagrams"), 1);
    assert_eq!(run.event("proxy_v2_added"), 1);
    assert_eq!(run.event("proxy_v2_fragmented"), 0);
    run.assert_drops(&[]);
}

/// The IP header of an input frame, addresses as ferrolb sends it on.
fn input_ip(frame: &[u8]) -> etherparse::Ipv4Header {
    let (mut ip, _) = etherparse::Ipv4Header::from_slice(&frame[14..]).expect("ipv4");
    ip.source = LIP1;
    ip.destination = rip(11);
    ip
}

#[test]
fn udp_proxy_v2_fragments_on_two_workers_queues_are_reassembled_once() {
    use common::fragments::{fragment, payload};
    let extra = "local_addresses = [\"10.0.1.100\"]\nlocal_ports = \"40000-40063\"\n\
                 proxy_protocol = \"v2\"\n";
    let services = service(
        "udp",
        53,
        "fullnat",
        "rr",
        extra,
        &[(rip(11), Some(5353), 1)],
    );
    // Each fragment on the other queue than the one before: a datagram's
    // fragments meet on one worker, which may not own its flow.
    let mut queues = vec![Vec::new(), Vec::new()];
    let mut want = Vec::new();
    for port in 40000..40006u16 {
        let c = (cip(2), port);
        let data = payload(3000, port as u8);
        let d = udp(ROUTER_MAC, LAN_MAC, c, (VIP, 53), &data);
        for (i, f) in fragment(&d.bytes(), 1480).into_iter().enumerate() {
            queues[(i + usize::from(port)) % 2].push(f);
        }
        let mut body = udp_v2_header(c, 53);
        body.extend_from_slice(&data);
        want.push(body);
    }
    let run = Replay {
        ports: vec![CasePort::with_queues("lan", queues).with_mac(LAN_MAC)],
        config: one_arm_config() + &services,
        cores: vec![1, 1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    run.assert_drops(&[]);
    let got = datagrams(&run.sent[0]);
    let mut bodies: Vec<Vec<u8>> = got.iter().map(|(_, b)| b.clone()).collect();
    bodies.sort();
    want.sort();
    assert_eq!(bodies, want, "every datagram once, header and data whole");
    let lports: std::collections::BTreeSet<u16> = got.iter().map(|(p, _)| *p).collect();
    assert_eq!(lports.len(), 6, "one session each");
    assert_eq!(run.event("reasm_datagrams"), 6);
    assert!(run.event("redirects_sent") > 0, "{}", run.stdout());
}
