//! NAT64's fragments (`nat64_frag.rs`), both ways, on in-memory ports: a
//! client's IPv6 datagram in fragments (out of order) leaves as IPv4
//! fragments, and a backend's IPv4 reply in fragments comes back as IPv6
//! fragments; on one worker and on two. The outputs are put back together
//! and decoded by etherparse, the UDP checksum verified over the whole
//! datagram (`testutil::reassemble`, `fragment6_tests::whole`), each
//! fragment's header read field by field. What is refused is counted by
//! name.

use std::net::Ipv6Addr;

use etherparse::PacketBuilder;

use super::forward6_tests::{CLIENT6, VIP6};
use super::fragment6_tests::{datagram, fragment6, read, whole, IDENT};
use super::nat64_tests::{config64, learn_client, local_of, nat64, pipe, CLIENT_MAC};
use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::tables::LbTables;
use crate::testutil::{assert_checksums_verify, fix_ipv4_checksum, fragment, reassemble};

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

/// A backend's UDP reply of `len` payload bytes over IPv4, DF clear,
/// identification `ident`, built (and summed) by etherparse.
fn reply4(src: ([u8; 4], u16), dst: ([u8; 4], u16), len: usize, ident: u16) -> Vec<u8> {
    let payload: Vec<u8> = (0..len).map(|i| (i * 5 + 1) as u8).collect();
    let mut v = Vec::new();
    PacketBuilder::ethernet2(RS1, OURS)
        .ipv4(src.0, dst.0, 64)
        .udp(src.1, dst.1)
        .write(&mut v, &payload)
        .expect("writes");
    v[14 + 4..14 + 6].copy_from_slice(&ident.to_be_bytes());
    v[14 + 6] &= !0x40;
    fix_ipv4_checksum(&mut v, 14);
    v
}

/// An IPv4 fragment's identification, DF, MF and offset (bytes), its
/// header checksum verified.
fn frag4(f: &[u8]) -> (u16, bool, bool, u16) {
    let (h, _) = etherparse::Ipv4Header::from_slice(&f[14..]).expect("IPv4");
    assert_eq!(h.header_checksum, h.calc_header_checksum());
    (
        h.identification,
        h.dont_fragment,
        h.more_fragments,
        h.fragment_offset.byte_offset(),
    )
}

fn events(p: &Pipeline<TestBuf>) -> counters::FragEvents {
    p.counters().events.frag
}

fn dropped(p: &Pipeline<TestBuf>) -> u64 {
    p.counters().drops.iter().map(|(_, n)| n).sum()
}

/// A NAT64 UDP service that has seen the client's fragmented 3000-byte
/// query (three fragments, the last first); what it sent.
fn after_query() -> (Pipeline<TestBuf>, Vec<Vec<u8>>) {
    let mut p = pipe(&config64(vec![nat64(IpProto::UDP)]));
    let d = datagram((CLIENT_MAC, OURS), (CLIENT6, 40000), (VIP6, 80), 3000);
    let frags = fragment6(&d, 1232, IDENT);
    assert_eq!(frags.len(), 3);
    let out = run(
        &mut p,
        &[frags[2].clone(), frags[0].clone(), frags[1].clone()],
        0,
    );
    (p, out)
}

#[test]
fn a_clients_fragmented_datagram_leaves_as_ipv4_fragments() {
    let (p, out) = after_query();
    assert_eq!(out.len(), 3);
    let (lip, lport) = local_of(&p, 40000);
    // The first, then the last (held, released by it), then the middle:
    // identification the IPv6 one's low 16 bits, DF clear, MF and the
    // offsets copied; to the backend from the local address, TTL 63.
    let want = [(true, 0), (false, 2464), (true, 1232)];
    for (f, (more, offset)) in out.iter().zip(want) {
        assert_eq!(f[..6], RS1);
        assert_eq!(frag4(f), (0x5678, false, more, offset));
        let (h, _) = etherparse::Ipv4Header::from_slice(&f[14..]).expect("IPv4");
        assert_eq!((h.source, h.destination, h.time_to_live), (lip, RIP1, 63));
        assert_eq!(h.protocol, etherparse::IpNumber::UDP);
    }
    // Put back together: the client's 3000 bytes, the UDP checksum right
    // for the new pseudo-header and ports.
    let f = reassemble(&out, 14);
    assert_checksums_verify(&f);
    let s = seen(&f);
    assert_eq!((s.src, s.dst, s.ports), (lip, RIP1, (lport, 8080)));
    let d = datagram((CLIENT_MAC, OURS), (CLIENT6, 40000), (VIP6, 80), 3000);
    assert_eq!(f[14 + 28..], d[14 + 48..], "the data as the client sent it");
    let e = events(&p);
    assert_eq!((e.first, e.forwarded, e.held, e.released), (1, 2, 1, 1));
    assert_eq!(p.counters().events.nat64_to_ipv4, 3);
    assert_eq!(dropped(&p), 0);
    // Counted on the backend: the three IPv6 fragments' lengths.
    let b = &p.counters().backends[0];
    assert_eq!((b.packets_in, b.bytes_in), (3, 3 * 48 + 3008));
}

#[test]
fn a_backends_fragmented_reply_reaches_the_client_as_ipv6_fragments() {
    let (mut p, _) = after_query();
    let (lip, lport) = local_of(&p, 40000);
    let d = reply4((RIP1, 8080), (lip, lport), 4000, 0xbeef);
    // 1448 bytes a piece: 1468-byte IPv4 fragments, 1496 bytes as IPv6.
    let frags = fragment(&d, 14, 1448);
    assert_eq!(frags.len(), 3);
    let out = run(
        &mut p,
        &[frags[2].clone(), frags[0].clone(), frags[1].clone()],
        1,
    );
    assert_eq!(out.len(), 3);
    let want = [(0, true), (2896, false), (1448, true)];
    for (f, (offset, more)) in out.iter().zip(want) {
        assert_eq!(f[..6], CLIENT_MAC);
        assert_eq!(
            read(f),
            (v6(VIP6), v6(CLIENT6), 63, (offset, more, 0xbeef)),
            "a fragment header: the IPv4 identification zero-extended"
        );
    }
    assert_eq!(
        whole(&out),
        ((v6(VIP6), 80), (v6(CLIENT6), 40000), 63, true),
        "from the VIP, the checksum right over the whole datagram"
    );
    let e = events(&p);
    assert_eq!((e.first, e.forwarded, e.held, e.released), (2, 4, 2, 2));
    assert_eq!(p.counters().events.nat64_to_ipv6, 3);
    assert_eq!(dropped(&p), 0);
}

#[test]
fn a_reply_fragment_too_big_once_translated_is_refused_with_its_datagram() {
    let (mut p, _) = after_query();
    let (lip, lport) = local_of(&p, 40000);
    // 1480 bytes a piece: 1500-byte IPv4 fragments, 1528 as IPv6, over
    // the client's link's 1500. Not cut again: refused, and the rest of
    // its datagram with it.
    let d = reply4((RIP1, 8080), (lip, lport), 4000, 7);
    let frags = fragment(&d, 14, 1480);
    assert!(run(&mut p, &frags, 1).is_empty());
    assert_eq!(drops(&p, DropReason::TooBigToFragment), 1);
    assert_eq!(drops(&p, DropReason::FragFirstDropped), 2);
}

#[test]
fn a_reply_fragment_of_udp_without_a_checksum_is_refused_by_name() {
    let (mut p, _) = after_query();
    let (lip, lport) = local_of(&p, 40000);
    // RFC 7915 4.5: IPv6 needs the checksum, and the datagram is not here
    // to compute it.
    let mut d = reply4((RIP1, 8080), (lip, lport), 3000, 8);
    d[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&[0, 0]);
    let frags = fragment(&d, 14, 1448);
    assert!(run(&mut p, &frags, 1).is_empty());
    assert_eq!(drops(&p, DropReason::Nat64Fragment), 1);
    assert_eq!(drops(&p, DropReason::FragFirstDropped), 2);
}

#[test]
fn later_fragments_past_the_hop_limit_get_time_exceeded() {
    let mut p = pipe(&config64(vec![nat64(IpProto::UDP)]));
    let d = datagram((CLIENT_MAC, OURS), (CLIENT6, 40000), (VIP6, 80), 3000);
    let mut frags = fragment6(&d, 1232, IDENT);
    // The middle one's hop limit runs out here.
    frags[1][14 + 7] = 1;
    let out = run(&mut p, &frags, 0);
    assert_eq!(out.len(), 3);
    let (ty, ..) = super::nat6_tests::icmp6_error(&out[1]);
    assert_eq!(
        ty,
        etherparse::Icmpv6Type::TimeExceeded(
            etherparse::icmpv6::TimeExceededCode::HopLimitExceeded
        )
    );
    assert_eq!(drops(&p, DropReason::TtlExceeded), 1);
}

#[test]
fn nat64_fragments_split_over_two_workers_meet_their_decision() {
    let cfg = config64(vec![{
        let mut s = nat64(IpProto::UDP);
        s.local_ports = (40000, 40063);
        s
    }]);
    let tables = std::sync::Arc::new(LbTables::build(&cfg).expect("builds"));
    let mut sim = super::workers_tests::Sim::new(&tables, 2);
    for p in &mut sim.pipes {
        learn_client(p);
    }
    // Sixteen queries, their first fragments on queue 0, the rest on
    // queue 1 (the last before the middle one).
    for n in 0..16u16 {
        let d = datagram((CLIENT_MAC, OURS), (CLIENT6, 40000 + n), (VIP6, 80), 3000);
        let frags = fragment6(&d, 1232, 1000 + u32::from(n));
        sim.deliver(1, &frags[2]);
        sim.deliver(0, &frags[0]);
        sim.deliver(1, &frags[1]);
    }
    let out: Vec<Vec<u8>> = sim.settle().into_iter().flatten().collect();
    assert_eq!(out.len(), 48);
    assert_eq!(sim.dropped(), 0);
    let e = sim.events();
    assert_eq!((e.frag.first, e.frag.forwarded), (16, 32));
    let sent = e.frag.decisions_sent;
    assert!(sent > 0 && sent < 16, "some on two workers: {sent}");
    assert_eq!(e.frag.decisions_received, sent);
    // Each query whole, checksum right, from its own local port.
    let mut replies = Vec::new();
    for n in 0..16u16 {
        let mine: Vec<Vec<u8>> = out
            .iter()
            .filter(|f| frag4(f).0 == 1000 + n)
            .cloned()
            .collect();
        assert_eq!(mine.len(), 3);
        let f = reassemble(&mine, 14);
        assert_checksums_verify(&f);
        let s = seen(&f);
        let mac = if s.dst == RIP1 { RS1 } else { RS2 };
        // Each backend answers 4000 bytes in fragments: the first on
        // queue 1, the rest on queue 0.
        let mut d = reply4((s.dst, 8080), (s.src, s.ports.0), 4000, 2000 + n);
        d[..6].copy_from_slice(&OURS);
        d[6..12].copy_from_slice(&mac);
        fix_ipv4_checksum(&mut d, 14);
        replies.push((n, fragment(&d, 14, 1448)));
    }
    for (_, frags) in &replies {
        sim.deliver(0, &frags[2]);
        sim.deliver(1, &frags[0]);
        sim.deliver(0, &frags[1]);
    }
    let back: Vec<Vec<u8>> = sim.settle().into_iter().flatten().collect();
    assert_eq!(back.len(), 48);
    assert_eq!(sim.dropped(), 0);
    let e2 = sim.events();
    assert_eq!((e2.frag.first, e2.frag.forwarded), (32, 64));
    let sent64 = e2.frag.decisions_sent - sent;
    assert!(sent64 > 0 && sent64 < 16, "some on two workers: {sent64}");
    assert_eq!(e2.frag.decisions_received, e2.frag.decisions_sent);
    assert_eq!(e2.frag.decisions_lost, 0);
    for (n, _) in &replies {
        let mine: Vec<Vec<u8>> = back
            .iter()
            .filter(|f| read(f).3 .2 == 2000 + u32::from(*n))
            .cloned()
            .collect();
        assert_eq!(mine.len(), 3);
        let first = mine.iter().position(|f| read(f).3 .0 == 0).expect("first");
        let mut mine = mine;
        mine.swap(0, first);
        assert_eq!(
            whole(&mine),
            ((v6(VIP6), 80), (v6(CLIENT6), 40000 + n), 63, true)
        );
    }
}
