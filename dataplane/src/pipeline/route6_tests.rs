//! IPv6 routes and static neighbours (`egress6.rs`, `LbTables::routes6`,
//! `links6`) and the ICMPv6 errors of `mtu6.rs`, on in-memory ports: an
//! off-link destination is resolved through its route's gateway (the
//! gateway solicited, not the destination), longest prefix first and the
//! connected prefix before a shorter route; a static neighbour used with
//! nothing solicited; Packet Too Big and Time Exceeded checked with
//! etherparse (an independent decoder and checksum) and rate-limited by
//! the token bucket IPv4's errors use.

use std::net::Ipv6Addr;

use etherparse::{Icmpv6Type as Ep, NetHeaders, PacketBuilder, PacketHeaders, TransportHeader};

use super::forward6_tests::{config_dr6, service6, tcp6, CLIENT6, OUR6 as DR_OUR6, RIP6, VIP6};
use super::local6_tests::{a6, nd_events, neighbour6, CLIENT_MAC, OUR6};
use super::mtu6::From6;
use super::nd_resolve_tests::{answer, datagram, our_solicitation, with_macs, NEXT6, NEXT_MAC};
use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::io::MemoryIo;
use crate::tables::{LbConfig, LbTables, StaticRoute6};

/// Where `datagram` goes (2001:db8:5::5) is off-link: routed.
const SERVER6: &str = "2001:db8:5::5";
const GW2: &str = "2001:db8::30";
const GW2_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x30];

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

fn route(prefix: &str, len: u8, via: &str) -> StaticRoute6 {
    StaticRoute6 {
        prefix: v6(prefix),
        len,
        via: v6(via),
    }
}

/// The ND test interface (2001:db8::1/64 and a link-local address) with
/// `routes`.
fn routed(routes: Vec<StaticRoute6>) -> LbConfig {
    let mut cfg = super::local6_tests::config6();
    cfg.routes6 = routes;
    cfg
}

/// Sends `frame` to `dst` by the route table (`egress6_to`) at `now`;
/// returns what port 0 sent.
fn egress6_to(p: &mut Pipeline<TestBuf>, frame: &[u8], dst: &str, now: u64) -> Vec<Vec<u8>> {
    let mut io = MemoryIo::new(vec![Vec::new()]);
    let mut cx = Cx {
        t: &p.tables,
        io: &mut io,
        now,
    };
    let sent = p
        .path
        .egress6_to(&mut cx, TestBuf::new(frame), None, v6(dst), None);
    assert!(sent.is_ok(), "not too big");
    p.path.flush(&mut cx, 0);
    io.sent_frames(0)
}

#[test]
fn an_off_link_destination_waits_for_its_gateways_answer_not_its_own() {
    let mut p = pipeline(&routed(vec![route("2001:db8:5::", 48, NEXT6)]));
    let out = egress6_to(&mut p, &datagram(1), SERVER6, 0);
    // The gateway is solicited, not 2001:db8:5::5.
    assert_eq!(out, vec![our_solicitation(OUR6, NEXT6)]);
    assert_eq!(nd_events(&p).solicitations_sent, 1);
    assert_eq!(neighbour6(&p, SERVER6), None);
    // The gateway's answer releases the datagram to the gateway's MAC,
    // its IPv6 header untouched.
    let out = run(&mut p, &[answer(NEXT6, OUR6, NEXT_MAC)], 5);
    assert_eq!(out, vec![with_macs(&datagram(1), OURS, NEXT_MAC)]);
    // Resolved: the next one goes straight out.
    let out = egress6_to(&mut p, &datagram(2), SERVER6, 6);
    assert_eq!(out, vec![with_macs(&datagram(2), OURS, NEXT_MAC)]);
    assert_eq!(nd_events(&p).solicitations_sent, 1);
}

#[test]
fn the_longest_prefix_decides_and_the_connected_prefix_beats_a_default_route() {
    let cfg = routed(vec![
        route("::", 0, GW2),
        route("2001:db8:5::", 48, NEXT6),
        route("2001:db8:5:5::", 64, GW2),
    ]);
    let t = LbTables::build(&cfg).expect("builds");
    assert_eq!(t.route6(v6("2001:db8:5:5::9")), Some((v6(GW2), 0)));
    assert_eq!(t.route6(v6("2001:db8:5:6::9")), Some((v6(NEXT6), 0)));
    assert_eq!(t.route6(v6("2a00::1")), Some((v6(GW2), 0)));
    // On the interface's /64: itself, not the default route's gateway.
    assert_eq!(t.route6(v6("2001:db8::77")), Some((v6("2001:db8::77"), 0)));
    // Through the pipeline: the /64's gateway, not the /48's.
    let mut p = pipeline(&cfg);
    p.path
        .egress
        .neighbours6
        .learn(v6(GW2), MacAddr(GW2_MAC), 0, true, |_, _| {});
    let out = egress6_to(&mut p, &datagram(1), "2001:db8:5:5::9", 0);
    assert_eq!(out, vec![with_macs(&datagram(1), OURS, GW2_MAC)]);
}

#[test]
fn no_route_is_dropped_by_name() {
    let mut p = pipeline(&routed(vec![route("2001:db8:6::", 48, NEXT6)]));
    let out = egress6_to(&mut p, &datagram(1), SERVER6, 0);
    assert!(out.is_empty());
    assert_eq!(drops(&p, DropReason::NoRoute), 1);
    assert_eq!(nd_events(&p).solicitations_sent, 0);
}

#[test]
fn a_gateway_off_every_connected_prefix_is_refused() {
    let err = LbTables::build(&routed(vec![route("2001:db8:5::", 48, "2001:db8:9::1")]))
        .expect_err("refused");
    assert!(
        err.contains("2001:db8:9::1 is not in a connected IPv6 prefix"),
        "{err}"
    );
}

#[test]
fn a_static_neighbour_is_used_with_nothing_solicited() {
    let mut cfg = routed(vec![route("2001:db8:5::", 48, NEXT6)]);
    cfg.neighbours6 = vec![(v6(NEXT6), MacAddr(NEXT_MAC))];
    let mut p = pipeline(&cfg);
    for now in [0, 70_000, 700_000] {
        let out = egress6_to(&mut p, &datagram(1), SERVER6, now);
        assert_eq!(
            out,
            vec![with_macs(&datagram(1), OURS, NEXT_MAC)],
            "at {now} ms"
        );
    }
    assert_eq!(nd_events(&p).solicitations_sent, 0);
    // Not in the learned table: nothing to expire or refresh.
    assert_eq!(neighbour6(&p, NEXT6), None);
}

#[test]
fn a_dr6_backend_with_a_static_neighbour_gets_its_syn_at_once() {
    let mut cfg = config_dr6(vec![service6(IpProto::TCP)]);
    cfg.neighbours6 = RIP6
        .iter()
        .zip([RS1, RS2])
        .map(|(a, m)| (v6(a), MacAddr(m)))
        .collect();
    let mut p = pipeline(&cfg);
    let syn = tcp6(CLIENT6, VIP6, (40000, 80), SYN, b"");
    let out = run(&mut p, std::slice::from_ref(&syn), 0);
    assert_eq!(out, vec![with_macs(&syn, OURS, RS1)]);
    assert_eq!(nd_events(&p).solicitations_sent, 0);
}

#[test]
fn a_backends_link_is_its_routes_gateway_when_it_is_off_link() {
    // The tables resolve a backend's next hop once (`links6`): an
    // on-link one is itself, one behind a route its gateway.
    let mut cfg = config_dr6(vec![service6(IpProto::TCP)]);
    let mut s = service6(IpProto::UDP);
    s.backends[0].addr = v6("2001:db8:7::11").into();
    cfg.services.push(s);
    cfg.routes6 = vec![route("2001:db8:7::", 48, "2001:db8:1::fe")];
    let t = LbTables::build(&cfg).expect("builds");
    let links: Vec<_> = t.links6.iter().flatten().copied().collect();
    assert_eq!(
        links,
        vec![
            (v6(RIP6[0]), 0),
            (v6(RIP6[1]), 0),
            (v6("2001:db8:1::fe"), 0),
            (v6(RIP6[1]), 0),
        ]
    );
}

/// The DR6 config on a port whose MTU is `mtu`, backends resolved.
fn small_mtu(mtu: u16) -> Pipeline<TestBuf> {
    let mut cfg = config_dr6(vec![service6(IpProto::TCP)]);
    cfg.ports[0].mtu = mtu;
    let mut p = pipeline(&cfg);
    super::forward6_tests::learn_backends(&mut p);
    p
}

/// An ICMPv6 error in `frame`, decoded by etherparse, its checksum
/// checked: the IPv6 header, the type, and the quote.
fn decoded(frame: &[u8]) -> (etherparse::Ipv6Header, Ep, Vec<u8>) {
    let p = PacketHeaders::from_ethernet_slice(frame).expect("decodes");
    let (Some(NetHeaders::Ipv6(ip, _)), Some(TransportHeader::Icmpv6(icmp))) =
        (&p.net, &p.transport)
    else {
        panic!("not ICMPv6: {p:?}")
    };
    let quote = p.payload.slice().to_vec();
    let want = icmp
        .icmp_type
        .calc_checksum(ip.source, ip.destination, &quote)
        .expect("sums");
    assert_eq!(icmp.checksum, want, "ICMPv6 checksum");
    (ip.clone(), icmp.icmp_type, quote)
}

#[test]
fn a_packet_too_big_for_the_backends_link_gets_packet_too_big_with_its_mtu() {
    let mut p = small_mtu(1280);
    let syn = tcp6(CLIENT6, VIP6, (40000, 80), SYN, b"");
    assert_eq!(run(&mut p, &[syn], 0).len(), 1);
    // 40 + 20 + 1300 bytes: past 1280.
    let big = tcp6(CLIENT6, VIP6, (40000, 80), ACK, &[7; 1300]);
    let out = run(&mut p, std::slice::from_ref(&big), 1);
    assert_eq!(out.len(), 1, "the error, not the packet");
    let f = &out[0];
    // Back to the router it came from, from our MAC.
    assert_eq!((&f[..6], &f[6..12]), (&ROUTER[..], &OURS[..]));
    let (ip, kind, quote) = decoded(f);
    assert_eq!(kind, Ep::PacketTooBig { mtu: 1280 });
    // From our address on the interface, to the client.
    assert_eq!((ip.source, ip.destination), (a6(DR_OUR6), a6(CLIENT6)));
    assert_eq!(ip.hop_limit, 64);
    // As much of the packet as fits in 1280 bytes: 1280 - 40 - 8.
    assert_eq!(quote, big[14..14 + 1232].to_vec());
    assert_eq!(f.len(), 14 + 1280);
    assert_eq!(drops(&p, DropReason::PacketTooBig), 1);
    assert_eq!(nd_events(&p).icmpv6_errors_sent, 1);
    // One that fits still goes to its backend.
    let fits = tcp6(CLIENT6, VIP6, (40000, 80), ACK, &[7; 1200]);
    let out = run(&mut p, std::slice::from_ref(&fits), 2);
    assert_eq!(out, vec![with_macs(&fits, OURS, RS1)]);
}

#[test]
fn packet_too_big_shares_the_icmp_error_rate_limit() {
    let mut p = small_mtu(1280);
    let syn = tcp6(CLIENT6, VIP6, (40000, 80), SYN, b"");
    run(&mut p, &[syn], 0);
    let big = tcp6(CLIENT6, VIP6, (40000, 80), ACK, &[7; 1300]);
    let out = run(&mut p, &vec![big; 60], 0);
    assert_eq!(out.len(), 50, "a burst of 50");
    assert_eq!(nd_events(&p).icmpv6_errors_sent, 50);
    assert_eq!(drops(&p, DropReason::PacketTooBig), 60);
    assert_eq!(drops(&p, DropReason::IcmpRateLimited), 10);
    // The bucket is IPv4's too: an IPv4 error now is held back as well.
    assert!(!p.path.icmp_limit.allow(0));
}

#[test]
fn time_exceeded_goes_back_to_the_sender_from_our_address() {
    // The link-local address first: an off-link sender still gets the
    // global one.
    let mut cfg = super::local6_tests::config6();
    cfg.interfaces[0].addrs6.reverse();
    assert!(cfg.interfaces[0].addrs6[0].0.segments()[0] == 0xfe80);
    let mut p = pipeline(&cfg);
    let mut io = MemoryIo::new(vec![Vec::new()]);
    let frame = datagram(1);
    let mut cx = Cx {
        t: &p.tables,
        io: &mut io,
        now: 0,
    };
    let from = From6 {
        port: 0,
        vlan: None,
        l3_offset: 14,
    };
    p.path
        .hop_limit_exceeded6(&mut cx, from, TestBuf::new(&frame));
    p.path.flush(&mut cx, 0);
    let out = io.sent_frames(0);
    assert_eq!(out.len(), 1);
    assert_eq!((&out[0][..6], &out[0][6..12]), (&CLIENT_MAC[..], &OURS[..]));
    let (ip, kind, quote) = decoded(&out[0]);
    assert_eq!(
        kind,
        Ep::TimeExceeded(etherparse::icmpv6::TimeExceededCode::HopLimitExceeded)
    );
    // The sender (2001:db8:9::7) is off the interface's /64: its global
    // address, not the link-local one.
    assert_eq!((ip.source, ip.destination), (a6(OUR6), a6("2001:db8:9::7")));
    assert_eq!(quote, frame[14..].to_vec());
    assert_eq!(drops(&p, DropReason::TtlExceeded), 1);
    assert_eq!(nd_events(&p).icmpv6_errors_sent, 1);
}

#[test]
fn no_error_about_a_packet_from_a_group_address() {
    let mut p = small_mtu(1280);
    let mut v = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OURS)
        .ipv6(a6("ff02::1"), a6(VIP6), 64)
        .tcp(40000, 80, 1, 64240)
        .syn()
        .write(&mut v, &[0; 1300])
        .expect("writes");
    let out = run(&mut p, &[v], 0);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(nd_events(&p).icmpv6_errors_sent, 0);
    assert_eq!(drops(&p, DropReason::PacketTooBig), 1);
}

#[test]
fn explain6_names_the_route_its_gateway_and_a_static_neighbour() {
    // One backend behind a static route, its gateway a static neighbour.
    let mut cfg = config_dr6(vec![service6(IpProto::TCP)]);
    cfg.services[0].backends.truncate(1);
    cfg.services[0].backends[0].addr = v6("2001:db8:7::11").into();
    cfg.routes6 = vec![route("2001:db8:7::", 48, "2001:db8:1::fe")];
    cfg.neighbours6 = vec![(v6("2001:db8:1::fe"), MacAddr(GW2_MAC))];
    let p = pipeline(&cfg);
    let t = crate::tuple::FiveTuple6 {
        src: v6(CLIENT6),
        dst: v6(VIP6),
        src_port: 40000,
        dst_port: 80,
        proto: IpProto::TCP,
    };
    let steps: Vec<(&str, String)> = p
        .explain6(&t)
        .into_iter()
        .map(|s| (s.step, s.detail))
        .collect();
    let detail = |name: &str| {
        steps
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| panic!("no {name} step: {steps:?}"))
    };
    assert_eq!(
        detail("route"),
        "2001:db8:7::11: route 2001:db8:7::/48 via 2001:db8:1::fe, interface 0"
    );
    assert_eq!(
        detail("neighbour"),
        "2001:db8:1::fe is 02:00:00:00:00:30 (static)"
    );
    // Without the route: no route, said and dropped by name.
    cfg.routes6.clear();
    let p = pipeline(&cfg);
    let steps: Vec<String> = p.explain6(&t).into_iter().map(|s| s.detail).collect();
    assert!(
        steps.iter().any(|d| d == "2001:db8:7::11: no route"),
        "{steps:?}"
    );
    assert!(steps.iter().any(|d| d.contains("no_route")), "{steps:?}");
}

#[test]
fn a_reload_changes_the_routes_and_static_neighbours_at_once() {
    let cfg = routed(Vec::new());
    let mut p = pipeline(&cfg);
    assert!(egress6_to(&mut p, &datagram(1), SERVER6, 0).is_empty());
    assert_eq!(drops(&p, DropReason::NoRoute), 1);
    // The next tables route 2001:db8:5::/48 via a static neighbour.
    let mut next = cfg.clone();
    next.routes6 = vec![route("2001:db8:5::", 48, NEXT6)];
    next.neighbours6 = vec![(v6(NEXT6), MacAddr(NEXT_MAC))];
    let tables = LbTables::build_next(&next, &p.tables, &Default::default()).expect("builds");
    p.adopt(std::sync::Arc::new(tables), 1);
    let out = egress6_to(&mut p, &datagram(2), SERVER6, 2);
    assert_eq!(out, vec![with_macs(&datagram(2), OURS, NEXT_MAC)]);
    // And back: the route gone, no route again.
    let tables = LbTables::build_next(&cfg, &p.tables, &Default::default()).expect("builds");
    p.adopt(std::sync::Arc::new(tables), 3);
    assert!(egress6_to(&mut p, &datagram(3), SERVER6, 4).is_empty());
    assert_eq!(drops(&p, DropReason::NoRoute), 2);
}
