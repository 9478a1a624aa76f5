//! Pcap replay through the real `ferrolb` binary in load-balancing mode
//! (docs/load-balancing.md): each forwarding mode carries a TCP connection
//! (handshake, data both ways, FIN close), a second connection (to the next
//! backend, rr), and a UDP exchange, and every frame out is the one the
//! document describes, with valid checksums.
//!
//! Cases with replies are one-armed (port `lan` carries clients, router and
//! backends) so the conversation is one ordered pcap; DR and TUN, which have
//! no replies through us, are two-armed to show routing between ports.

mod common;

use common::lb::*;
use common::{assert_frames_eq, CasePort, Replay};

/// Runs one-armed: `script` on port `lan`, our MAC 02:00:00:00:00:01.
fn run_one_arm(script: &Script, services: &str) -> common::ReplayResult {
    let run = Replay {
        ports: vec![CasePort::new("lan", script.input.clone()).with_mac(LAN_MAC)],
        config: one_arm_config() + services,
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    run
}

/// Runs two-armed: `script` in on `lan`; `servers` receives nothing.
fn run_two_arm(script: &Script, services: &str) -> common::ReplayResult {
    let run = Replay {
        ports: vec![
            CasePort::new("lan", script.input.clone()).with_mac(LAN_MAC),
            CasePort::new("servers", Vec::new()).with_mac(SERVERS_MAC),
        ],
        config: two_arm_config() + services,
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan", "servers"]);
    run
}

const HTTP: Ep = (VIP, 80);
const DNS: Ep = (VIP, 53);
const NONE: Tally = Tally {
    packets: 0,
    bytes: 0,
};

/// DR or TUN, two-armed: two TCP connections and two UDP flows; `out(rip)`
/// is what happens to a client packet for backend `rip`.
fn one_way_mode(mode: &str, out: fn(Ip) -> Out) {
    let services = service(
        "tcp",
        80,
        mode,
        "rr",
        "",
        &[(rip(12), None, 1), (rip(11), None, 1)],
    ) + &service(
        "udp",
        53,
        mode,
        "rr",
        "",
        &[(rip(11), None, 1), (rip(12), None, 1)],
    );
    let mut s = Script::default();
    let mut conns = Vec::new();
    // rr starts at the lowest address whatever the config order: .11, .12.
    for (cport, n) in [(40001, 11), (40002, 12)] {
        let (fwd, rev) = one_way_legs(
            (cip(1), cport),
            HTTP,
            LAN_MAC,
            SERVERS_MAC,
            rmac(n),
            out(rip(n)),
        );
        let mut c = TcpConv::new(fwd, rev);
        c.tos = (10, 2); // AF11, ECT(0): copied to the outer header in TUN
        c.full_exchange(&mut s);
        conns.push(c);
    }
    let mut udp_in = [Tally::default(); 2];
    for (i, (cport, n, count)) in [(5353, 11, 2), (5354, 12, 1)].into_iter().enumerate() {
        let (fwd, _) = one_way_legs(
            (cip(2), cport),
            DNS,
            LAN_MAC,
            SERVERS_MAC,
            rmac(n),
            out(rip(n)),
        );
        for q in 0..count {
            let f = udp(fwd.from_mac, fwd.to_mac, fwd.src, fwd.dst, &[q as u8; 40])
                .with_tos(46, 1)
                .with_df(q == 0);
            push_on(&mut s, &fwd, f, &mut udp_in[i]);
        }
    }

    let run = run_two_arm(&s, &services);
    assert_frames_eq("servers", &s.expected, &run.sent[1]);
    assert_frames_eq("lan", &[], &run.sent[0]);

    let tcp_in = conns[0].tally_in.plus(conns[1].tally_in);
    run.assert_row(&svc_row("tcp", 80), 2, 2, tcp_in, NONE);
    run.assert_row(
        &be_row("tcp", 80, rip(11), 80),
        1,
        1,
        conns[0].tally_in,
        NONE,
    );
    run.assert_row(
        &be_row("tcp", 80, rip(12), 80),
        1,
        1,
        conns[1].tally_in,
        NONE,
    );
    run.assert_row(&svc_row("udp", 53), 2, 2, udp_in[0].plus(udp_in[1]), NONE);
    run.assert_row(&be_row("udp", 53, rip(11), 53), 1, 1, udp_in[0], NONE);
    run.assert_row(&be_row("udp", 53, rip(12), 53), 1, 1, udp_in[1], NONE);
    assert_eq!(run.event("sessions_created"), 4);
    run.assert_drops(&[]);
}

#[test]
fn dr_rewrites_macs_only_and_routes_to_the_server_port() {
    one_way_mode("dr", |_| Out::Dr);
}

#[test]
fn tun_encapsulates_from_the_egress_interface_address() {
    one_way_mode("tun", |r| Out::Tun {
        outer_src: SERVERS_ADDR,
        outer_dst: r,
    });
}

/// Two TCP connections and two UDP flows through a NAT or FULLNAT service,
/// replies included. `seen(i)` is the client as backend flow `i` sees it
/// (i = 0, 1 TCP; 2, 3 UDP).
fn two_way_mode(mode: &str, tcp_extra: &str, udp_extra: &str, seen: fn(usize, Ep) -> Ep) {
    let services = service(
        "tcp",
        80,
        mode,
        "rr",
        tcp_extra,
        &[(rip(12), Some(8080), 1), (rip(11), Some(8080), 1)],
    ) + &service(
        "udp",
        53,
        mode,
        "rr",
        udp_extra,
        &[(rip(11), Some(5353), 1), (rip(12), Some(5353), 1)],
    );
    let mut s = Script::default();
    let mut conns = Vec::new();
    for (i, (cport, n)) in [(40001, 11), (40002, 12)].into_iter().enumerate() {
        let c = (cip(1), cport);
        let (fwd, rev) = nat_legs(
            LAN_MAC,
            ROUTER_MAC,
            c,
            HTTP,
            seen(i, c),
            (rip(n), 8080),
            rmac(n),
        );
        let mut conv = TcpConv::new(fwd, rev);
        conv.full_exchange(&mut s);
        conns.push(conv);
    }
    let mut udp_t = [[Tally::default(); 2]; 2]; // [flow][in, out]
    for (i, (cport, n, rounds)) in [(5353, 11, 2), (5354, 12, 1)].into_iter().enumerate() {
        let c = (cip(2), cport);
        let (fwd, rev) = nat_legs(
            LAN_MAC,
            ROUTER_MAC,
            c,
            DNS,
            seen(2 + i, c),
            (rip(n), 5353),
            rmac(n),
        );
        for r in 0..rounds {
            udp_on(&mut s, &fwd, &[r as u8; 33], &mut udp_t[i][0]);
            udp_on(&mut s, &rev, &[0xa0 | r as u8; 77], &mut udp_t[i][1]);
        }
    }

    let run = run_one_arm(&s, &services);
    assert_frames_eq("lan", &s.expected, &run.sent[0]);

    let (c0, c1) = (&conns[0], &conns[1]);
    run.assert_row(
        &svc_row("tcp", 80),
        2,
        2,
        c0.tally_in.plus(c1.tally_in),
        c0.tally_out.plus(c1.tally_out),
    );
    run.assert_row(
        &be_row("tcp", 80, rip(11), 8080),
        1,
        1,
        c0.tally_in,
        c0.tally_out,
    );
    run.assert_row(
        &be_row("tcp", 80, rip(12), 8080),
        1,
        1,
        c1.tally_in,
        c1.tally_out,
    );
    run.assert_row(
        &svc_row("udp", 53),
        2,
        2,
        udp_t[0][0].plus(udp_t[1][0]),
        udp_t[0][1].plus(udp_t[1][1]),
    );
    run.assert_row(
        &be_row("udp", 53, rip(11), 5353),
        1,
        1,
        udp_t[0][0],
        udp_t[0][1],
    );
    run.assert_row(
        &be_row("udp", 53, rip(12), 5353),
        1,
        1,
        udp_t[1][0],
        udp_t[1][1],
    );
    assert_eq!(run.event("sessions_created"), 4);
    run.assert_drops(&[]);
}

#[test]
fn nat_rewrites_the_destination_and_the_replies_source() {
    two_way_mode("nat", "", "", |_, c| c);
}

#[test]
fn fullnat_rewrites_both_ends_taking_local_addresses_in_turn() {
    two_way_mode(
        "fullnat",
        "local_addresses = [\"10.0.1.100\", \"10.0.1.101\"]\nlocal_ports = \"40000-40000\"",
        "local_addresses = [\"10.0.1.102\", \"10.0.1.103\"]\nlocal_ports = \"40000-40000\"",
        |i, _| {
            (
                [
                    [10, 0, 1, 100],
                    [10, 0, 1, 101],
                    [10, 0, 1, 102],
                    [10, 0, 1, 103],
                ][i],
                40000,
            )
        },
    );
}

#[test]
fn fullnat_without_a_free_local_port_drops_ports_exhausted() {
    let services = service(
        "tcp",
        80,
        "fullnat",
        "rr",
        "local_addresses = [\"10.0.1.100\", \"10.0.1.101\"]\nlocal_ports = \"40000-40000\"",
        &[(rip(11), Some(8080), 1), (rip(12), Some(8080), 1)],
    );
    let mut s = Script::default();
    for (n, lip, r) in [(1, LIP1, 11), (2, LIP2, 12)] {
        let c = (cip(n), 1000 + u16::from(n));
        let (fwd, rev) = nat_legs(
            LAN_MAC,
            ROUTER_MAC,
            c,
            HTTP,
            (lip, 40000),
            (rip(r), 8080),
            rmac(r),
        );
        TcpConv::new(fwd, rev).client(&mut s, "S", b"");
    }
    // Both local addresses' only port is taken: the third SYN has none.
    let third = tcp(ROUTER_MAC, LAN_MAC, (cip(3), 1003), HTTP, 7, 0, "S", b"");
    s.push(third.bytes(), None);

    let run = run_one_arm(&s, &services);
    assert_frames_eq("lan", &s.expected, &run.sent[0]);
    run.assert_drops(&[("ports_exhausted", 1)]);
    assert_eq!(run.row(&svc_row("tcp", 80))[0], 2, "conns");
}

const REMOTE: Ep = ([93, 184, 216, 34], 443);

#[test]
fn snat_translates_internal_hosts_by_the_first_matching_rule() {
    let rules = r#"
[[snat]]
source = "10.0.1.11/32"
port = "lan"
addresses = ["203.0.113.1"]
ports = "50000-50000"

[[snat]]
source = "10.0.1.0/24"
port = "lan"
addresses = ["203.0.113.2"]
ports = "50000-50000"
"#;
    let mut s = Script::default();
    let mut conns = Vec::new();
    // .11 matches the first rule, .12 only the second.
    for (n, sip) in [(11, SNAT_ADDR), (12, [203, 0, 113, 2])] {
        let i = (rip(n), 33000 + u16::from(n));
        let (fwd, rev) = nat_legs(
            LAN_MAC,
            rmac(n),
            i,
            REMOTE,
            (sip, 50000),
            REMOTE,
            ROUTER_MAC,
        );
        let mut conv = TcpConv::new(fwd, rev);
        conv.full_exchange(&mut s);
        conns.push(conv);
    }

    let run = run_one_arm(&s, rules);
    assert_frames_eq("lan", &s.expected, &run.sent[0]);
    for (row, c) in [
        ("snat:10.0.1.11/32", &conns[0]),
        ("snat:10.0.1.0/24", &conns[1]),
    ] {
        run.assert_row(row, 1, 1, c.tally_in, c.tally_out);
    }
    assert_eq!(run.event("sessions_created"), 2);
    run.assert_drops(&[]);
}

#[test]
fn snat_translates_a_udp_exchange() {
    let rules = r#"
[[snat]]
source = "10.0.1.0/24"
port = "lan"
addresses = ["203.0.113.1"]
ports = "50000-50000"
"#;
    let mut s = Script::default();
    let i = (rip(13), 5000);
    let resolver = ([9, 9, 9, 9], 53);
    let (fwd, rev) = nat_legs(
        LAN_MAC,
        rmac(13),
        i,
        resolver,
        (SNAT_ADDR, 50000),
        resolver,
        ROUTER_MAC,
    );
    let (mut tin, mut tout) = (Tally::default(), Tally::default());
    for r in 0..3u8 {
        udp_on(&mut s, &fwd, &[r; 29], &mut tin);
        udp_on(&mut s, &rev, &[r; 61], &mut tout);
    }

    let run = run_one_arm(&s, rules);
    assert_frames_eq("lan", &s.expected, &run.sent[0]);
    run.assert_row("snat:10.0.1.0/24", 1, 1, tin, tout);
    run.assert_drops(&[]);
}

// The builders and the checker themselves, without the binary.

#[test]
fn checker_accepts_what_the_builders_make_and_catches_broken_checksums() {
    let t = tcp(ROUTER_MAC, LAN_MAC, (cip(1), 1), HTTP, 5, 6, "AP", b"data").bytes();
    let u = udp(ROUTER_MAC, LAN_MAC, (cip(1), 1), DNS, b"q").bytes();
    let e = echo_request(ROUTER_MAC, LAN_MAC, cip(1), VIP, 1, 2).bytes();
    let inner = tcp(ROUTER_MAC, LAN_MAC, (cip(1), 1), HTTP, 5, 6, "S", b"");
    let tun = tunnel(&inner, SERVERS_ADDR, rip(11)).bytes();
    let err = icmp_error(
        rmac(11),
        LAN_MAC,
        rip(11),
        cip(1),
        etherparse::Icmpv4Type::TimeExceeded(
            etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit,
        ),
        &inner.ip_bytes(),
        28,
    )
    .bytes();
    let a = arp_request(LAN_MAC, SERVERS_ADDR, rip(14));
    let good = vec![t.clone(), u.clone(), e.clone(), tun.clone(), err.clone(), a];
    assert_checksums_valid("good", &good);
    // The tunnel's outer header: TTL 64, ID 0, DF and protocol 4.
    assert_eq!(&tun[14 + 4..14 + 10], &[0, 0, 0x40, 0, 64, 4]);

    // Break one checksum at a time (offsets past Ethernet).
    for (frame, at, what) in [
        (&t, 14 + 10, "IPv4 header checksum"),
        (&t, 34 + 16, "TCP checksum"),
        (&u, 34 + 6, "UDP checksum"),
        (&e, 34 + 2, "ICMP checksum"),
        (&tun, 34 + 10, "inner"),
        (&err, 34 + 8 + 10, "quoted IPv4 header checksum"),
    ] {
        let mut bad = frame.clone();
        bad[at] ^= 0x01;
        if what == "quoted IPv4 header checksum" {
            // Keep the ICMP checksum right so only the quote is wrong.
            let fixed = etherparse::Icmpv4Header::with_checksum(
                etherparse::Icmpv4Header::from_slice(&bad[34..])
                    .unwrap()
                    .0
                    .icmp_type,
                &bad[42..],
            );
            bad[36..38].copy_from_slice(&fixed.checksum.to_be_bytes());
        }
        let r = std::panic::catch_unwind(|| assert_checksums_valid("bad", &[bad]));
        let msg = *r.expect_err(what).downcast::<String>().unwrap();
        assert!(msg.contains(what), "{what}: {msg}");
    }
}

#[test]
fn nat_legs_translate_both_ways() {
    let c = (cip(1), 40001);
    let (fwd, rev) = nat_legs(LAN_MAC, ROUTER_MAC, c, HTTP, c, (rip(11), 8080), rmac(11));
    let f = tcp(ROUTER_MAC, LAN_MAC, c, HTTP, 1, 0, "S", b"");
    let out = fwd.expect(&f).unwrap();
    let p = etherparse::SlicedPacket::from_ethernet(&out).unwrap();
    let Some(etherparse::NetSlice::Ipv4(ip)) = &p.net else {
        panic!()
    };
    assert_eq!(ip.header().destination(), rip(11));
    assert_eq!(ip.header().ttl(), 63);
    assert_eq!(&out[..12], &[rmac(11), LAN_MAC].concat()[..]);
    let r = tcp(rmac(11), LAN_MAC, (rip(11), 8080), c, 1, 2, "SA", b"");
    let back = rev.expect(&r).unwrap();
    let p = etherparse::SlicedPacket::from_ethernet(&back).unwrap();
    let Some(etherparse::TransportSlice::Tcp(t)) = &p.transport else {
        panic!()
    };
    assert_eq!((t.source_port(), t.destination_port()), (80, 40001));
    assert_eq!(&back[..6], &ROUTER_MAC);
}

#[test]
fn tun_too_big_with_df_gets_fragmentation_needed_back_to_the_client() {
    let services = service("tcp", 80, "tun", "rr", "", &[(rip(11), None, 1)]);
    let out = Out::Tun {
        outer_src: SERVERS_ADDR,
        outer_dst: rip(11),
    };
    let (fwd, rev) = one_way_legs((cip(1), 40001), HTTP, LAN_MAC, SERVERS_MAC, rmac(11), out);
    let mut s = Script::default();
    let mut conv = TcpConv::new(fwd, rev);
    conv.client(&mut s, "S", b"");
    conv.server(&mut s, "SA", b"");
    conv.client(&mut s, "A", b"");
    // 1500 bytes fit the client's port; with 20 more they do not fit ours.
    let big = conv.client(&mut Script::default(), "AP", &[0x42; 1460]);
    assert_eq!(big.ip_len(), 1500);
    s.push(big.bytes(), None);
    conv.client(&mut s, "AP", b"small enough");

    let run = run_two_arm(&s, &services);
    assert_frames_eq("servers", &s.expected, &run.sent[1]);
    let lan = &run.sent[0];
    assert_eq!(lan.len(), 1, "one ICMP error to the client");
    let want = expected_icmp_error(
        &lan[0],
        &[LAN_ADDR, SERVERS_ADDR, VIP],
        LAN_MAC,
        ROUTER_MAC,
        cip(1),
        etherparse::Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1480 },
        ),
        &big.ip_bytes(),
    );
    assert_frames_eq("lan", &[want], lan);
    run.assert_drops(&[("fragmentation_needed", 1)]);
    assert_eq!(run.event("icmp_errors_sent"), 1);
}
