//! `ops` and `also_listen` over IPv6 on in-memory ports (`ops6.rs`,
//! `forward6.rs`, `tables`): a one-packet IPv6 service's datagrams each
//! scheduled on their own (DR byte for byte, TUN encapsulated), with no
//! session and the counters IPv4's test expects
//! (`listen_tests.rs`), a fragmented datagram's later fragments after its
//! first; an IPv6 group's address forwarded as the VIP (a session, NAT's
//! replies from the address the client used) and answered for by
//! Neighbour Discovery and echo; the tables refusing a group of two
//! families.

use std::net::Ipv6Addr;

use etherparse::{IcmpEchoHeader, Icmpv6Type, Ipv6HeaderSlice, PacketBuilder};

use super::forward6_tests::{config_dr6, learn_backends, service6, CLIENT6, OUR6, RIP6, VIP6};
use super::fragment6_tests::{datagram, fragment6};
use super::local6_tests::{a6, solicitation};
use super::nat6_tests::{config_nat6, dgram, learn_all, seg, CLIENT_MAC};
use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::tables::{LbTables, Mode, ServiceSpec};

/// The group's other address.
const VIP6B: &str = "2001:db8:10::11";

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

/// The UDP DR service on VIP6 port 80, one-packet, `mode` DR or TUN.
fn ops6(mode: Mode) -> Pipeline<TestBuf> {
    let mut s = service6(IpProto::UDP);
    s.mode = mode;
    s.one_packet = true;
    let mut p = pipeline(&config_dr6(vec![s]));
    learn_backends(&mut p);
    p
}

/// A client's datagram to VIP6 port 80 from source port 5353.
fn query() -> Vec<u8> {
    datagram((CLIENT_MAC, OURS), (CLIENT6, 5353), (VIP6, 80), 32)
}

/// `frame` with its MACs ours -> `mac`, every other byte the same (DR).
fn dr_out(frame: &[u8], mac: [u8; 6]) -> Vec<u8> {
    let mut v = frame.to_vec();
    v[0..6].copy_from_slice(&mac);
    v[6..12].copy_from_slice(&OURS);
    v
}

#[test]
fn ops6_dr_sends_each_datagram_of_one_flow_on_its_own_and_keeps_no_session() {
    let mut p = ops6(Mode::Dr);
    let q = query();
    let out = run(&mut p, &[q.clone(), q.clone(), q.clone()], 0);
    // One flow, scheduled per datagram (rr: RS1, RS2, RS1), MACs only.
    assert_eq!(out, vec![dr_out(&q, RS1), dr_out(&q, RS2), dr_out(&q, RS1)]);
    let c = p.counters();
    assert_eq!(c.events.one_packet_scheduled, 3);
    assert_eq!(c.events.sessions_created, 0);
    assert_eq!(p.path.flow.sessions6().len(), 0);
    assert_eq!(p.session_counts().services, vec![0]);
    assert_eq!((c.backends[0].packets_in, c.backends[1].packets_in), (2, 1));
    assert_eq!(c.backends[0].conns + c.backends[1].conns, 0);
    assert_eq!(c.services[0].packets_in, 3);
    let bytes = (q.len() - 14) as u64;
    assert_eq!(c.backends[0].bytes_in, 2 * bytes);
    // Without `ops` the same datagrams keep one backend (a session).
    let mut s = service6(IpProto::UDP);
    s.one_packet = false;
    let mut p = pipeline(&config_dr6(vec![s]));
    learn_backends(&mut p);
    let out = run(&mut p, &[q.clone(), q.clone(), q.clone()], 0);
    assert_eq!(out, vec![dr_out(&q, RS1); 3]);
    assert_eq!(p.counters().events.one_packet_scheduled, 0);
    assert_eq!(p.path.flow.sessions6().len(), 1);
}

#[test]
fn ops6_tun_encapsulates_each_datagram_to_the_backend_of_its_turn() {
    let mut p = ops6(Mode::Tun);
    let q = query();
    let out = run(&mut p, &[q.clone(), q.clone()], 0);
    assert_eq!(out.len(), 2);
    for (f, (rip, mac)) in out.iter().zip([(RIP6[0], RS1), (RIP6[1], RS2)]) {
        assert_eq!((&f[..6], &f[6..12]), (&mac[..], &OURS[..]));
        let outer = Ipv6HeaderSlice::from_slice(&f[14..]).expect("outer header");
        assert_eq!(outer.source_addr(), v6(OUR6));
        assert_eq!(outer.destination_addr(), v6(rip));
        assert_eq!(&f[54..], &q[14..], "the client's datagram, untouched");
    }
    let c = p.counters();
    assert_eq!(
        (c.events.one_packet_scheduled, c.events.sessions_created),
        (2, 0)
    );
    assert_eq!(p.path.flow.sessions6().len(), 0);
}

#[test]
fn ops6_a_datagrams_later_fragments_follow_its_first_and_the_next_datagram_may_not() {
    let mut p = ops6(Mode::Dr);
    let d = datagram((CLIENT_MAC, OURS), (CLIENT6, 5353), (VIP6, 80), 3000);
    let first = fragment6(&d, 1232, 7);
    let second = fragment6(&d, 1232, 8);
    assert_eq!(first.len(), 3);
    let out = run(&mut p, &first, 0);
    let want: Vec<Vec<u8>> = first.iter().map(|f| dr_out(f, RS1)).collect();
    assert_eq!(out, want, "the whole datagram to the first one's backend");
    let out = run(&mut p, &second, 1);
    let want: Vec<Vec<u8>> = second.iter().map(|f| dr_out(f, RS2)).collect();
    assert_eq!(out, want, "the next datagram scheduled on its own");
    let c = p.counters();
    assert_eq!(c.events.one_packet_scheduled, 2, "one per datagram");
    assert_eq!((c.events.frag.first, c.events.frag.forwarded), (2, 4));
    assert_eq!((c.backends[0].packets_in, c.backends[1].packets_in), (3, 3));
    assert_eq!(p.path.flow.sessions6().len(), 0);
    assert_eq!(p.path.frags6.live(), 0);
}

#[test]
fn ops6_with_no_backend_left_drops_by_name_as_a_first_packet() {
    let mut s = service6(IpProto::UDP);
    s.one_packet = true;
    s.backends.iter_mut().for_each(|b| b.weight = 0);
    let mut p = pipeline(&config_dr6(vec![s]));
    learn_backends(&mut p);
    let out = run(&mut p, &[query()], 0);
    // Refused as a first packet is: the client is told, port unreachable
    // from the VIP, back the way the datagram came.
    assert_eq!(out.len(), 1, "{out:?}");
    let u = &out[0];
    assert_eq!(u[..6], CLIENT_MAC, "to the router the datagram came from");
    assert_eq!(
        (u[14 + 6], u[14 + 40], u[14 + 41]),
        (58, 1, 4),
        "port unreachable"
    );
    assert_eq!(u[14 + 8..14 + 24], a6(VIP6));
    assert_eq!(u[14 + 24..14 + 40], a6(CLIENT6));
    assert_eq!(drops(&p, DropReason::NoBackend), 1);
    assert_eq!(p.counters().events.one_packet_scheduled, 0);
}

/// The DR TCP service on VIP6 port 80 that also listens on VIP6B:443.
fn group6(mode: Mode) -> ServiceSpec {
    let mut s = service6(IpProto::TCP);
    s.mode = mode;
    s.also_listen = vec![(v6(VIP6B).into(), 443)];
    s
}

#[test]
fn an_ipv6_group_address_is_forwarded_as_the_vip_and_answered_for() {
    let mut p = pipeline(&config_dr6(vec![group6(Mode::Dr)]));
    learn_backends(&mut p);
    let syn =
        |dst: (&str, u16), sport| seg((CLIENT_MAC, OURS), (CLIENT6, sport), dst, 57, SYN, b"");
    let out = run(
        &mut p,
        &[syn((VIP6B, 443), 40000), syn((VIP6, 80), 40001)],
        0,
    );
    assert_eq!(
        out,
        vec![
            dr_out(&syn((VIP6B, 443), 40000), RS1),
            dr_out(&syn((VIP6, 80), 40001), RS2),
        ],
        "one service, one scheduler across its addresses"
    );
    assert_eq!(p.path.flow.sessions6().len(), 2);
    assert_eq!(p.session_counts().services, vec![2]);
    // The group address's other ports are not the service's.
    let out = run(&mut p, &[syn((VIP6B, 80), 40002)], 1);
    assert!(out.is_empty());
    assert_eq!(drops(&p, DropReason::NoService), 1);
    // Neighbour Discovery: a solicitation for it is answered at our MAC.
    let ns = solicitation("fe80::c", "ff02::1:ff00:11", VIP6B, Some(ROUTER));
    let out = run(&mut p, &[ns], 2);
    assert_eq!(out.len(), 1);
    let na = &out[0];
    assert_eq!(na[14 + 40], 136, "a Neighbor Advertisement");
    assert_eq!(na[14 + 48..14 + 64], a6(VIP6B), "its target is the address");
    assert_eq!(na[14 + 66..14 + 72], OURS, "at our MAC");
    // Echo: answered from it.
    let mut ping = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OURS)
        .ipv6(a6(CLIENT6), a6(VIP6B), 57)
        .icmpv6(Icmpv6Type::EchoRequest(IcmpEchoHeader { id: 7, seq: 1 }))
        .write(&mut ping, b"ping")
        .expect("writes");
    let out = run(&mut p, &[ping], 3);
    assert_eq!(out.len(), 1, "an echo reply");
    let r = &out[0];
    assert_eq!(r[14 + 40], 129, "Echo Reply");
    assert_eq!(r[14 + 8..14 + 24], a6(VIP6B), "from the group's address");
    assert_eq!(r[14 + 24..14 + 40], a6(CLIENT6));
}

#[test]
fn an_ipv6_nat_groups_replies_leave_from_the_address_the_client_used() {
    let mut s = group6(Mode::Nat);
    s.proto = IpProto::UDP;
    s.backends.iter_mut().for_each(|b| b.port = 8080);
    let mut p = pipeline(&config_nat6(vec![s]));
    learn_all(&mut p);
    let client = (CLIENT6, 40000);
    let (vip, rip) = ((VIP6B, 443), (RIP6[0], 8080));
    let out = run(&mut p, &[dgram((CLIENT_MAC, OURS), client, vip, 57)], 0);
    assert_eq!(out, vec![dgram((OURS, RS1), client, rip, 56)]);
    let out = run(&mut p, &[dgram((RS1, OURS), rip, client, 64)], 1);
    assert_eq!(
        out,
        vec![dgram((OURS, CLIENT_MAC), vip, client, 63)],
        "from the group's address and port, as the client asked"
    );
}

#[test]
fn the_tables_take_an_ipv6_group_of_the_vips_family_only() {
    let ok = group6(Mode::Dr);
    let t = LbTables::build(&config_dr6(vec![ok.clone()])).expect("an IPv6 group");
    assert!(t.vips6.contains(v6(VIP6B)) && t.owned6.contains(v6(VIP6B)));
    assert!(!t.one_packet6);
    let mut mixed = ok.clone();
    mixed.also_listen.push((ip(VIP).into(), 443));
    let err = LbTables::build(&config_dr6(vec![mixed]))
        .err()
        .unwrap_or_default();
    assert!(err.contains("IPv6 also_listen addresses"), "{err}");
    let mut v4 = service(Mode::Dr, IpProto::TCP);
    v4.also_listen = vec![(v6(VIP6B).into(), 443)];
    let err = LbTables::build(&config_dr6(vec![v4]))
        .err()
        .unwrap_or_default();
    assert!(err.contains("an IPv4 VIP takes IPv4"), "{err}");
    // A group address shares no port with another service.
    let mut other = service6(IpProto::TCP);
    other.vip = v6(VIP6B).into();
    other.port = 443;
    let err = LbTables::build(&config_dr6(vec![other, ok]))
        .err()
        .unwrap_or_default();
    assert!(err.contains("shares ports with service"), "{err}");
    // One-packet IPv6 services set the flag the miss path tests.
    let mut s = service6(IpProto::UDP);
    s.one_packet = true;
    let t = LbTables::build(&config_dr6(vec![s])).expect("ops over IPv6");
    assert!(t.one_packet6);
}
