//! Pcap replay of the load balancer's answers and refusals
//! (docs/load-balancing.md): ARP for owned addresses and ARP resolution of
//! a backend, echo replies, ICMP errors translated back to the client or
//! sent by us, packets without a service, session or backend, and a corpus
//! of malformed frames mixed with valid traffic. One-armed (port `lan`).

mod common;

use common::lb::*;
use common::{assert_frames_eq, CasePort, Replay};
use etherparse::icmpv4::{DestUnreachableHeader, TimeExceededCode};
use etherparse::{Icmpv4Type, IpNumber, Ipv4Header};

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

const HTTP: Ep = (VIP, 80);
const DNS: Ep = (VIP, 53);

fn nat_http() -> String {
    service("tcp", 80, "nat", "rr", "", &[(rip(11), Some(8080), 1)])
}

#[test]
fn arp_requests_for_every_kind_of_owned_address_are_answered_from_our_mac() {
    let services = nat_http()
        + &service(
            "tcp",
            81,
            "fullnat",
            "rr",
            "local_addresses = [\"10.0.1.100\"]",
            &[(rip(12), None, 1)],
        )
        + "\n[[snat]]\nsource = \"10.0.1.0/24\"\nport = \"lan\"\naddresses = [\"203.0.113.1\"]\n";
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for (asker_mac, asker, target) in [
        (ROUTER_MAC, ROUTER, VIP),            // a VIP
        (ROUTER_MAC, ROUTER, LAN_ADDR),       // an interface address
        (rmac(11), rip(11), SERVERS_ADDR),    // the other one
        (rmac(12), rip(12), LIP1),            // a FULLNAT local address
        (ROUTER_MAC, ROUTER, SNAT_ADDR),      // a SNAT address
        (ROUTER_MAC, ROUTER, [10, 0, 0, 77]), // not ours: no answer
    ] {
        input.push(arp_request(asker_mac, asker, target));
        if target != [10, 0, 0, 77] {
            expected.push(arp_reply(LAN_MAC, target, asker_mac, asker));
        }
    }

    let run = run_one_arm(&input, &services);
    assert_frames_eq("lan", &expected, &run.sent[0]);
    assert_eq!(run.event("arp_replies"), 5);
    assert_eq!(run.event("arp_requests"), 0);
}

#[test]
fn a_backend_without_a_neighbour_entry_is_resolved_by_arp_and_the_packet_waits() {
    // 10.0.1.14 has no static neighbour.
    let services = service("tcp", 80, "nat", "rr", "", &[(rip(14), Some(8080), 1)]);
    let c = (cip(1), 40001);
    let (fwd, rev) = nat_legs(LAN_MAC, ROUTER_MAC, c, HTTP, c, (rip(14), 8080), rmac(14));
    let mut s = Script::default();
    let mut conv = TcpConv::new(fwd, rev);
    conv.client(&mut s, "S", b"");
    // Before the SYN: our broadcast request from the address on 10.0.1.0/24
    // (the document does not say; Ethernet pads what we originate to 60).
    s.expected
        .insert(0, padded(arp_request(LAN_MAC, SERVERS_ADDR, rip(14))));
    // The backend answers; the waiting SYN goes out after the request.
    s.push(arp_reply(rmac(14), rip(14), LAN_MAC, SERVERS_ADDR), None);
    conv.server(&mut s, "SA", b"");
    conv.client(&mut s, "A", b"");
    conv.client(&mut s, "AP", b"now the neighbour is known");

    let run = run_one_arm(&s.input, &services);
    assert_frames_eq("lan", &s.expected, &run.sent[0]);
    assert_eq!(run.event("arp_requests"), 1);
    assert_eq!(run.event("arp_replies"), 0);
    run.assert_drops(&[]);
}

#[test]
fn echo_requests_to_a_vip_and_an_interface_address_are_answered() {
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for (n, dst) in [(1, VIP), (2, LAN_ADDR)] {
        let req = echo_request(ROUTER_MAC, LAN_MAC, cip(n), dst, 0x4242, u16::from(n)).with_ttl(50);
        // MACs swapped, addresses swapped, TTL 64; the rest as it came.
        let mut reply = req.clone().with_macs(LAN_MAC, ROUTER_MAC);
        reply.ip.source = dst;
        reply.ip.destination = cip(n);
        reply.ip.time_to_live = 64;
        reply.l4 = L4::Icmp(Icmpv4Type::EchoReply(etherparse::IcmpEchoHeader {
            id: 0x4242,
            seq: u16::from(n),
        }));
        input.push(req.bytes());
        expected.push(reply.bytes());
    }

    let run = run_one_arm(&input, &nat_http());
    assert_frames_eq("lan", &expected, &run.sent[0]);
    assert_eq!(run.event("echo_replies"), 2);
    run.assert_drops(&[]);
}

/// A backend's fragmentation-needed about a client's big segment, in
/// `mode`; `seen` is the client as the backend sees it.
fn frag_needed_translated(mode: &str, extra: &str, seen: Ep) {
    let services = service("tcp", 80, mode, "rr", extra, &[(rip(11), Some(8080), 1)]);
    let c = (cip(1), 40001);
    let (fwd, rev) = nat_legs(
        LAN_MAC,
        ROUTER_MAC,
        c,
        HTTP,
        seen,
        (rip(11), 8080),
        rmac(11),
    );
    let mut s = Script::default();
    let mut conv = TcpConv::new(fwd, rev);
    conv.client(&mut s, "S", b"");
    conv.server(&mut s, "SA", b"");
    conv.client(&mut s, "A", b"");
    let big = conv.client(&mut s, "AP", &[0x5a; 1400]);
    // What the backend got (our output) is what its ICMP quotes.
    let as_sent = s.expected.last().unwrap()[14..].to_vec();
    let too_big = Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded {
        next_hop_mtu: 1300,
    });
    let icmp = icmp_error(
        rmac(11),
        LAN_MAC,
        rip(11),
        seen.0,
        too_big.clone(),
        &as_sent,
        28,
    );
    // Back to the client: from the VIP, quoting CIP:cport -> VIP:80 (the
    // quote's TTL stays as quoted: 63).
    let quote = big.clone().with_ttl(63).ip_bytes();
    let mut out = icmp_error(LAN_MAC, ROUTER_MAC, VIP, cip(1), too_big, &quote, 28);
    out.ip = Ipv4Header {
        source: VIP,
        destination: cip(1),
        time_to_live: 63,
        ..icmp.ip.clone()
    };
    s.push(icmp.bytes(), Some(out.bytes()));

    let run = run_one_arm(&s.input, &services);
    assert_frames_eq("lan", &s.expected, &run.sent[0]);
    assert_eq!(run.event("icmp_errors_translated"), 1);
    run.assert_drops(&[]);
}

#[test]
fn fragmentation_needed_from_a_nat_backend_reaches_the_client_from_the_vip() {
    frag_needed_translated("nat", "", (cip(1), 40001));
}

#[test]
fn fragmentation_needed_from_a_fullnat_backend_reaches_the_client_from_the_vip() {
    frag_needed_translated(
        "fullnat",
        "local_addresses = [\"10.0.1.100\"]\nlocal_ports = \"40000-40000\"",
        (LIP1, 40000),
    );
}

#[test]
fn ttl_1_to_a_nat_vip_gets_time_exceeded_from_an_address_of_ours() {
    let c = (cip(1), 40001);
    let syn = tcp(ROUTER_MAC, LAN_MAC, c, HTTP, 99, 0, "S", b"").with_ttl(1);
    let c2 = (cip(1), 40002);
    let (fwd, rev) = nat_legs(LAN_MAC, ROUTER_MAC, c2, HTTP, c2, (rip(11), 8080), rmac(11));
    let mut s = Script::default();
    s.input.push(syn.bytes());
    TcpConv::new(fwd, rev).client(&mut s, "S", b"");

    let run = run_one_arm(&s.input, &nat_http());
    let sent = &run.sent[0];
    assert!(!sent.is_empty(), "nothing sent");
    let want = expected_icmp_error(
        &sent[0],
        &[LAN_ADDR, SERVERS_ADDR, VIP],
        LAN_MAC,
        ROUTER_MAC,
        cip(1),
        Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit),
        &syn.ip_bytes(),
    );
    s.expected.insert(0, want);
    assert_frames_eq("lan", &s.expected, sent);
    assert_eq!(run.event("icmp_errors_sent"), 1);
    run.assert_drops(&[("ttl_exceeded", 1)]);
}

#[test]
fn packets_without_a_service_or_a_session_are_dropped_and_counted() {
    let services = nat_http() + &service("udp", 53, "nat", "rr", "", &[(rip(11), None, 1)]);
    let c = (cip(1), 40001);
    let mut input = vec![
        // no_service: wrong port, wrong protocol for the port, not a VIP.
        udp(ROUTER_MAC, LAN_MAC, c, (VIP, 54), b"x").bytes(),
        udp(ROUTER_MAC, LAN_MAC, c, HTTP, b"x").bytes(),
        tcp(ROUTER_MAC, LAN_MAC, c, (VIP, 81), 1, 0, "S", b"").bytes(),
        tcp(
            ROUTER_MAC,
            LAN_MAC,
            c,
            ([192, 0, 2, 99], 80),
            1,
            0,
            "S",
            b"",
        )
        .bytes(),
    ];
    // no_session: TCP to the service that is not a SYN without ACK.
    for flags in ["A", "AP", "FA", "R", "SA"] {
        input.push(tcp(ROUTER_MAC, LAN_MAC, c, HTTP, 1, 2, flags, b"").bytes());
    }
    // And the service works: a SYN goes through.
    let (fwd, rev) = nat_legs(LAN_MAC, ROUTER_MAC, c, HTTP, c, (rip(11), 8080), rmac(11));
    let mut s = Script {
        input,
        expected: Vec::new(),
    };
    TcpConv::new(fwd, rev).client(&mut s, "S", b"");
    let _ = DNS;

    let run = run_one_arm(&s.input, &services);
    assert_frames_eq("lan", &s.expected, &run.sent[0]);
    run.assert_drops(&[("no_service", 4), ("no_session", 5)]);
    assert_eq!(run.event("sessions_created"), 1);
}

#[test]
fn a_backend_at_weight_0_gets_no_new_flow_and_all_at_0_is_no_backend() {
    let services = service(
        "udp",
        53,
        "dr",
        "rr",
        "",
        &[(rip(11), None, 1), (rip(12), None, 0), (rip(13), None, 1)],
    ) + &service("tcp", 80, "dr", "rr", "", &[(rip(12), None, 0)]);
    let mut s = Script::default();
    let mut t = [Tally::default(); 2];
    for i in 0..20u16 {
        let (n, k) = if i % 2 == 0 { (11, 0) } else { (13, 1) };
        let (fwd, _) = one_way_legs((cip(3), 20000 + i), DNS, LAN_MAC, LAN_MAC, rmac(n), Out::Dr);
        udp_on(&mut s, &fwd, &i.to_be_bytes(), &mut t[k]);
    }
    let syn = tcp(ROUTER_MAC, LAN_MAC, (cip(3), 1), HTTP, 1, 0, "S", b"");
    s.push(syn.bytes(), None);

    let run = run_one_arm(&s.input, &services);
    // The SYN's client is told, from the VIP: port unreachable.
    // (Sent as the SYN is refused, within its burst: where it lands among
    // the datagrams' frames is the burst's order, not this test's.)
    let sent = &run.sent[0];
    let at = sent
        .iter()
        .position(|f| f.get(23) == Some(&1))
        .expect("the error");
    let actual = &sent[at];
    s.expected.insert(
        at,
        expected_icmp_error(
            actual,
            &[VIP],
            LAN_MAC,
            ROUTER_MAC,
            cip(3),
            Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port),
            &syn.ip_bytes(),
        ),
    );
    assert_frames_eq("lan", &s.expected, &run.sent[0]);
    let none = Tally::default();
    run.assert_row(&be_row("udp", 53, rip(11), 53), 10, 10, t[0], none);
    run.assert_row(&be_row("udp", 53, rip(12), 53), 0, 0, none, none);
    run.assert_row(&be_row("udp", 53, rip(13), 53), 10, 10, t[1], none);
    run.assert_drops(&[("no_backend", 1)]);
}

/// Recomputes the IPv4 header checksum of the frame's first IP header.
fn fix_ip_checksum(f: &mut [u8]) {
    f[24] = 0;
    f[25] = 0;
    let ihl = usize::from(f[14] & 0x0f).max(5) * 4;
    let mut sum = 0u32;
    for w in f[14..14 + ihl].chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    f[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

#[test]
fn malformed_frames_are_dropped_each_in_its_counter_and_valid_traffic_passes() {
    let services = service(
        "udp",
        53,
        "nat",
        "rr",
        "",
        &[(rip(11), Some(5353), 1), (rip(12), Some(5353), 1)],
    ) + &nat_http();
    let c = (cip(5), 7000);
    let base = udp(ROUTER_MAC, LAN_MAC, c, DNS, &[7; 30]).bytes();
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = base.clone();
        f(&mut b);
        b
    };
    let edit_fixed = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = base.clone();
        f(&mut b);
        fix_ip_checksum(&mut b);
        b
    };
    let mut gre = udp(ROUTER_MAC, LAN_MAC, c, DNS, &[0; 4]);
    gre.ip.protocol = IpNumber::GRE;
    gre.l4 = L4::Raw;
    let mut short_tcp = tcp(ROUTER_MAC, LAN_MAC, c, HTTP, 1, 0, "S", b"").bytes();
    short_tcp.truncate(14 + 20 + 10);
    short_tcp[16..18].copy_from_slice(&30u16.to_be_bytes());
    fix_ip_checksum(&mut short_tcp);
    let mut short_udp = base[..14 + 20 + 4].to_vec();
    short_udp[16..18].copy_from_slice(&24u16.to_be_bytes());
    fix_ip_checksum(&mut short_udp);
    let v6 = |n: u8| {
        let mut out = Vec::new();
        etherparse::PacketBuilder::ethernet2(ROUTER_MAC, LAN_MAC)
            .ipv6(
                [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n],
                [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                64,
            )
            .udp(5000, 53)
            .write(&mut out, b"v6")
            .unwrap();
        out
    };
    let malformed: Vec<(&str, Vec<u8>)> = vec![
        ("truncated_frame", base[..10].to_vec()),
        (
            "unsupported_ethertype",
            edit(&|b| b[12..14].copy_from_slice(&[0x88, 0xb5])),
        ),
        ("truncated_ipv4", base[..14 + 12].to_vec()),
        ("bad_ip_version", edit_fixed(&|b| b[14] = 0x55)),
        ("bad_ihl", edit_fixed(&|b| b[14] = 0x44)),
        ("total_length_past_frame", edit_fixed(&|b| b[17] += 1)),
        (
            "total_length_below_header",
            edit_fixed(&|b| b[16..18].copy_from_slice(&[0, 19])),
        ),
        ("bad_ipv4_checksum", edit(&|b| b[25] ^= 0x40)),
        // Fragments of TCP and UDP are forwarded (replay_fragments.rs);
        // of other protocols dropped. MF with protocol ICMP:
        (
            "fragment",
            edit_fixed(&|b| {
                b[20] = 0x20;
                b[23] = 1;
            }),
        ),
        // Offset 65528: past the largest datagram.
        (
            "frag_oversized",
            edit_fixed(&|b| b[20..22].copy_from_slice(&[0x1f, 0xff])),
        ),
        ("unsupported_protocol", gre.bytes()),
        ("ipv6_not_forwarded", v6(2)),
        ("ipv6_not_forwarded", v6(3)),
        ("truncated_l4", short_tcp),
        ("truncated_l4", short_udp),
    ];
    // Valid flows between the malformed frames, alternating backends.
    let mut s = Script::default();
    let mut valid_in = Tally::default();
    for (i, (_, bad)) in malformed.iter().enumerate() {
        if i % 2 == 0 {
            let n = if i % 4 == 0 { 11 } else { 12 };
            let cl = (cip(6), 9000 + i as u16);
            let (fwd, _) = nat_legs(LAN_MAC, ROUTER_MAC, cl, DNS, cl, (rip(n), 5353), rmac(n));
            udp_on(&mut s, &fwd, b"valid query", &mut valid_in);
        }
        s.push(bad.clone(), None);
    }

    let run = run_one_arm(&s.input, &services);
    assert_frames_eq("lan", &s.expected, &run.sent[0]);
    let mut counts: Vec<(&str, u64)> = Vec::new();
    for (reason, _) in &malformed {
        match counts.iter_mut().find(|(r, _)| r == reason) {
            Some(e) => e.1 += 1,
            None => counts.push((reason, 1)),
        }
    }
    run.assert_drops(&counts);
    // Every documented reason has its row, zero or not.
    let rows = run.drops();
    let missing: Vec<&&str> = DROP_REASONS
        .iter()
        .filter(|r| !rows.contains_key(**r))
        .collect();
    assert!(missing.is_empty(), "no drop: row for {missing:?}");
    run.assert_row(&svc_row("udp", 53), 8, 8, valid_in, Tally::default());
}

#[test]
fn at_most_4_packets_wait_for_a_neighbour() {
    // 10.0.1.14 has no static neighbour and never answers.
    let services = service("udp", 53, "nat", "rr", "", &[(rip(14), None, 1)]);
    let c = (cip(1), 5353);
    let input: Vec<Vec<u8>> = (0..6u8)
        .map(|i| udp(ROUTER_MAC, LAN_MAC, c, DNS, &[i; 20]).bytes())
        .collect();

    let run = run_one_arm(&input, &services);
    let request = padded(arp_request(LAN_MAC, SERVERS_ADDR, rip(14)));
    assert_frames_eq("lan", &[request], &run.sent[0]);
    run.assert_drops(&[("neighbour_queue_full", 2)]);
    assert_eq!(run.event("arp_requests"), 1);
}

#[test]
fn an_arp_request_teaches_us_the_askers_mac() {
    // 10.0.1.14 has no static neighbour, but it asks for our address first.
    let services = nat_http() + &service("udp", 53, "nat", "rr", "", &[(rip(14), None, 1)]);
    let mut s = Script::default();
    s.push(
        arp_request(rmac(14), rip(14), SERVERS_ADDR),
        Some(arp_reply(LAN_MAC, SERVERS_ADDR, rmac(14), rip(14))),
    );
    let c = (cip(1), 5353);
    let (fwd, _) = nat_legs(LAN_MAC, ROUTER_MAC, c, DNS, c, (rip(14), 53), rmac(14));
    udp_on(
        &mut s,
        &fwd,
        b"no ARP request needed",
        &mut Tally::default(),
    );

    let run = run_one_arm(&s.input, &services);
    assert_frames_eq("lan", &s.expected, &run.sent[0]);
    assert_eq!(run.event("arp_requests"), 0);
    run.assert_drops(&[]);
}

#[test]
fn a_udp_datagram_without_checksum_keeps_none_through_nat() {
    let services = service("udp", 53, "nat", "rr", "", &[(rip(11), Some(5353), 1)]);
    let c = (cip(1), 5353);
    let (fwd, rev) = nat_legs(LAN_MAC, ROUTER_MAC, c, DNS, c, (rip(11), 5353), rmac(11));
    let mut s = Script::default();
    let mut t = Tally::default();
    udp_on(&mut s, &fwd, b"checksum 0 means none", &mut t);
    udp_on(&mut s, &rev, b"and none on the way back", &mut t);
    // UDP checksum (RFC 768: 0 = not computed) zeroed in and out.
    for f in s.input.iter_mut().chain(s.expected.iter_mut()) {
        f[14 + 20 + 6..14 + 20 + 8].fill(0);
    }

    let run = run_one_arm(&s.input, &services);
    assert_frames_eq("lan", &s.expected, &run.sent[0]);
    run.assert_drops(&[]);
}

#[test]
fn a_services_access_list_lets_the_most_specific_prefix_decide() {
    // Clients 198.51.100.0/25 may connect, except .99; the rest of the /24
    // may not, and no one else may (an allow list is a whitelist).
    let acl = "allow = [\"198.51.100.0/24\", \"198.51.100.0/25\"]\n\
               deny = [\"198.51.100.128/25\", \"198.51.100.99/32\"]\n";
    let services = service("tcp", 80, "nat", "rr", acl, &[(rip(11), Some(8080), 1)])
        + &service("udp", 53, "nat", "rr", "", &[(rip(11), None, 1)]);
    let mut s = Script::default();
    for n in [1u8, 98] {
        let c = (cip(n), 40001);
        let (fwd, rev) = nat_legs(LAN_MAC, ROUTER_MAC, c, HTTP, c, (rip(11), 8080), rmac(11));
        TcpConv::new(fwd, rev).client(&mut s, "S", b"");
    }
    // Denied: the /32 inside the allowed /25, the denied /25, and a client
    // no prefix holds; each SYN twice (a retransmission is refused again).
    for client in [cip(99), cip(200), [203, 0, 113, 7]] {
        for _ in 0..2 {
            s.push(
                tcp(ROUTER_MAC, LAN_MAC, (client, 40002), HTTP, 1, 0, "S", b"").bytes(),
                None,
            );
        }
    }
    // A service without a list takes everyone.
    let c = ([203, 0, 113, 7], 5353);
    let (fwd, rev) = nat_legs(LAN_MAC, ROUTER_MAC, c, DNS, c, (rip(11), 53), rmac(11));
    let mut t = Tally::default();
    udp_on(&mut s, &fwd, b"q", &mut t);
    let _ = rev;

    let run = run_one_arm(&s.input, &services);
    assert_frames_eq("lan", &s.expected, &run.sent[0]);
    run.assert_drops(&[("acl_denied", 6)]);
    assert_eq!(run.event("sessions_created"), 3);
    assert_eq!(run.report_value("denied:tcp/192.0.2.10:80", 0), 6);
    assert!(
        !run.stdout().contains("denied:udp/192.0.2.10:53"),
        "a service without a list has no denied row"
    );
}

/// A TCP segment with flags `syn_ack` (SYN-ACK) or SYN, and an MSS option.
fn tcp_with_mss(from: (Mac, Ep), to: (Mac, Ep), syn_ack: bool, mss: u16) -> Vec<u8> {
    use etherparse::{PacketBuilder, TcpOptionElement};
    let b = PacketBuilder::ethernet2(from.0, to.0)
        .ipv4(from.1 .0, to.1 .0, 64)
        .tcp(from.1 .1, to.1 .1, 100, 64240);
    let b = if syn_ack { b.syn().ack(101) } else { b.syn() };
    let b = b
        .options(&[
            TcpOptionElement::Noop,
            TcpOptionElement::MaximumSegmentSize(mss),
        ])
        .expect("options");
    let mut f = Vec::new();
    b.write(&mut f, &[]).expect("frame");
    f
}

/// The destination and MSS option of a sent TCP frame.
fn dst_and_mss(frame: &[u8]) -> (Ep, Option<u16>) {
    let p = etherparse::SlicedPacket::from_ethernet(frame).expect("a frame");
    let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
        panic!("not IPv4")
    };
    let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else {
        panic!("not TCP")
    };
    let mss = t.options_iterator().find_map(|o| match o {
        Ok(etherparse::TcpOptionElement::MaximumSegmentSize(m)) => Some(m),
        _ => None,
    });
    ((ip.header().destination(), t.destination_port()), mss)
}

#[test]
fn mss_clamp_lowers_the_mss_of_syns_both_ways_and_keeps_checksums() {
    let services = service(
        "tcp",
        80,
        "nat",
        "rr",
        "mss_clamp = 1360\n",
        &[(rip(11), Some(8080), 1)],
    ) + &service("tcp", 81, "nat", "rr", "", &[(rip(12), Some(8080), 1)]);
    let c = (cip(1), 40001);
    let input = vec![
        tcp_with_mss((ROUTER_MAC, c), (LAN_MAC, HTTP), false, 1460),
        tcp_with_mss((rmac(11), (rip(11), 8080)), (LAN_MAC, c), true, 8960),
        // Already small: left as it is. Another service: no clamping.
        tcp_with_mss((ROUTER_MAC, (cip(2), 40002)), (LAN_MAC, HTTP), false, 1200),
        tcp_with_mss(
            (ROUTER_MAC, (cip(3), 40003)),
            (LAN_MAC, (VIP, 81)),
            false,
            1460,
        ),
    ];
    let run = run_one_arm(&input, &services);
    let sent: Vec<(Ep, Option<u16>)> = run.sent[0].iter().map(|f| dst_and_mss(f)).collect();
    assert_eq!(
        sent,
        vec![
            ((rip(11), 8080), Some(1360)),
            (c, Some(1360)),
            ((rip(11), 8080), Some(1200)),
            ((rip(12), 8080), Some(1460)),
        ]
    );
    assert_eq!(run.event("mss_clamped"), 2);
}
