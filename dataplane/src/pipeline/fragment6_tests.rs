//! IPv6 fragments through the pipeline (`fragment6.rs`): DR, TUN, NAT6
//! and FULLNAT6 forward every fragment of a datagram the way they forward
//! its first, in order or not, on one worker or two; overlapping,
//! oversized, late and headless fragments are dropped under their names;
//! atomic fragments are whole packets. The datagrams are etherparse's,
//! NAT's outputs are put back together and decoded by etherparse, their
//! UDP checksum verified over the whole datagram, as the receiver would.
//!
//! The fragment header is written and read here by hand (RFC 8200 4.5):
//! etherparse 0.16 lays it out wrongly (`Ipv6FragmentHeader::to_bytes`
//! puts the M flag at 0x80 of the fourth byte and the offset's low bits
//! below it, and its reader agrees with itself, not with the RFC).

use std::net::Ipv6Addr;

use etherparse::{IpNumber, PacketBuilder};

use super::forward6_tests::{config_dr6, learn_backends, service6, CLIENT6, RIP6, VIP6};
use super::nat6_tests::{config_nat6, learn_all, CLIENT_MAC};
use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::frag::FRAG_TIMEOUT_MS;
use crate::tables::{LbConfig, LbTables, Mode, ServiceSpec};

const LADDR6: &str = "2001:db8:1::100";
pub(super) const IDENT: u32 = 0x1234_5678;

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

/// A UDP datagram over IPv6 with `len` bytes of payload, built (and
/// summed) by etherparse.
pub(super) fn datagram(
    macs: ([u8; 6], [u8; 6]),
    src: (&str, u16),
    dst: (&str, u16),
    len: usize,
) -> Vec<u8> {
    let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
    let mut v = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(v6(src.0).octets(), v6(dst.0).octets(), 64)
        .udp(src.1, dst.1)
        .write(&mut v, &payload)
        .expect("writes");
    v
}

/// `frame` (IPv6 without extension headers) cut into fragments of
/// `chunk` bytes of its payload (a multiple of 8), with etherparse's
/// fragment header of identification `ident`.
pub(super) fn fragment6(frame: &[u8], chunk: usize, ident: u32) -> Vec<Vec<u8>> {
    let (eth, ip, payload) = (&frame[..14], &frame[14..54], &frame[54..]);
    let next = IpNumber(ip[6]);
    let mut out = Vec::new();
    let mut at = 0;
    while at < payload.len() {
        let end = (at + chunk).min(payload.len());
        let more = end < payload.len();
        out.push(piece(eth, ip, next, (at, more, ident), &payload[at..end]));
        at = end;
    }
    out
}

/// One fragment: `eth`, the fixed header `ip` (its next header and length
/// set), a fragment header (`offset` in bytes), `data`.
pub(super) fn piece(
    eth: &[u8],
    ip: &[u8],
    next: IpNumber,
    (offset, more, ident): (usize, bool, u32),
    data: &[u8],
) -> Vec<u8> {
    assert_eq!(offset % 8, 0);
    // Next header, reserved, offset (13 bits, 8-byte units) over two
    // reserved bits and M, identification.
    let word = offset as u16 | u16::from(more);
    let mut h = vec![next.0, 0];
    h.extend_from_slice(&word.to_be_bytes());
    h.extend_from_slice(&ident.to_be_bytes());
    let mut v = eth.to_vec();
    v.extend_from_slice(ip);
    v[14 + 6] = 44;
    let len = (8 + data.len()) as u16;
    v[14 + 4..14 + 6].copy_from_slice(&len.to_be_bytes());
    v.extend_from_slice(&h);
    v.extend_from_slice(data);
    v
}

/// A fragment header's next header, offset in bytes, M flag and
/// identification (as [`piece`] writes them).
fn fragment_header(h: &[u8]) -> (u8, u16, bool, u32) {
    let word = u16::from_be_bytes([h[2], h[3]]);
    let ident = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    (h[0], word & !7, word & 1 != 0, ident)
}

/// What a fragment says: its addresses and hop limit as etherparse
/// reads them, and its fragment header (offset in bytes, more,
/// identification).
pub(super) fn read(f: &[u8]) -> (Ipv6Addr, Ipv6Addr, u8, (u16, bool, u32)) {
    let (ip, rest) = etherparse::Ipv6Header::from_slice(&f[14..]).expect("IPv6");
    assert_eq!(ip.next_header, IpNumber(44), "a fragment header follows");
    let (_, offset, more, ident) = fragment_header(rest);
    (
        Ipv6Addr::from(ip.source),
        Ipv6Addr::from(ip.destination),
        ip.hop_limit,
        (offset, more, ident),
    )
}

/// The fragments put back together (in any order) as the whole frame
/// they were cut from, with etherparse's readings of it: source and
/// destination with their ports, hop limit, and whether the UDP checksum
/// verifies over the whole datagram.
pub(super) fn whole(frames: &[Vec<u8>]) -> ((Ipv6Addr, u16), (Ipv6Addr, u16), u8, bool) {
    let mut parts: Vec<(u16, Vec<u8>)> = frames
        .iter()
        .map(|f| {
            let (_, _, _, (off, _, _)) = read(f);
            (off, f[62..].to_vec())
        })
        .collect();
    parts.sort();
    let first = &frames[0];
    let (next, ..) = fragment_header(&first[54..]);
    let data: Vec<u8> = parts.into_iter().flat_map(|(_, d)| d).collect();
    let mut v = first[..54].to_vec();
    v[14 + 6] = next;
    v[14 + 4..14 + 6].copy_from_slice(&(data.len() as u16).to_be_bytes());
    v.extend_from_slice(&data);
    let p = etherparse::SlicedPacket::from_ethernet(&v).expect("decodes");
    let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
        panic!("not IPv6")
    };
    let ip = ip.header().to_header();
    let Some(etherparse::TransportSlice::Udp(u)) = &p.transport else {
        panic!("not UDP")
    };
    let want = u
        .to_header()
        .calc_checksum_ipv6(&ip, u.payload())
        .expect("sums");
    (
        (Ipv6Addr::from(ip.source), u.source_port()),
        (Ipv6Addr::from(ip.destination), u.destination_port()),
        ip.hop_limit,
        want == u.checksum(),
    )
}

fn with_macs(frame: &[u8], mac: [u8; 6]) -> Vec<u8> {
    let mut v = frame.to_vec();
    v[0..6].copy_from_slice(&mac);
    v[6..12].copy_from_slice(&OURS);
    v
}

fn events(p: &Pipeline<TestBuf>) -> counters::FragEvents {
    p.counters().events.frag
}

fn dr6() -> Pipeline<TestBuf> {
    let mut p = pipeline(&config_dr6(vec![service6(IpProto::UDP)]));
    learn_backends(&mut p);
    p
}

fn nat6_service(mode: Mode) -> ServiceSpec {
    let mut s = service6(IpProto::UDP);
    s.mode = mode;
    s.backends.iter_mut().for_each(|b| b.port = 8080);
    if mode == Mode::FullNat {
        s.local_addrs = Vec::new();
        s.local_addrs6 = vec![v6(LADDR6)];
        s.local_ports = (40000, 40000);
    }
    s
}

fn nat6_config(mode: Mode) -> LbConfig {
    config_nat6(vec![nat6_service(mode)])
}

/// The client's 3000-byte query to the VIP, in three fragments.
fn query() -> Vec<Vec<u8>> {
    let d = datagram((CLIENT_MAC, OURS), (CLIENT6, 40000), (VIP6, 80), 3000);
    fragment6(&d, 1232, IDENT)
}

#[test]
fn dr6_forwards_every_fragment_in_order_to_the_first_ones_backend() {
    let mut p = dr6();
    let frags = query();
    assert_eq!(frags.len(), 3);
    let out = run(&mut p, &frags, 0);
    let want: Vec<Vec<u8>> = frags.iter().map(|f| with_macs(f, RS1)).collect();
    assert_eq!(out, want, "MACs only, byte for byte, to one backend");
    let e = events(&p);
    assert_eq!((e.first, e.forwarded, e.held), (1, 2, 0));
    assert_eq!(
        p.path.frags6.live(),
        0,
        "a complete datagram frees its entry"
    );
    assert_eq!(p.path.flow.sessions6().len(), 1);
    // The backend's counters count every fragment, bytes included.
    let b = &p.counters().backends[0];
    assert_eq!(b.packets_in, 3);
    assert_eq!(
        b.bytes_in,
        frags.iter().map(|f| (f.len() - 14) as u64).sum::<u64>()
    );
}

#[test]
fn later_fragments_before_their_first_are_held_then_released_in_order() {
    let mut p = dr6();
    let frags = query();
    let out = run(&mut p, &[frags[2].clone(), frags[1].clone()], 0);
    assert!(out.is_empty());
    assert_eq!((events(&p).held, p.path.frags6.held()), (2, 2));
    let out = run(&mut p, &frags[..1], 1);
    let want: Vec<Vec<u8>> = [&frags[0], &frags[2], &frags[1]]
        .iter()
        .map(|f| with_macs(f, RS1))
        .collect();
    assert_eq!(out, want, "the first, then what waited, in its order");
    let e = events(&p);
    assert_eq!((e.first, e.released, e.forwarded), (1, 2, 2));
    assert_eq!((p.path.frags6.held(), p.path.frags6.live()), (0, 0));
}

#[test]
fn an_overlap_condemns_the_whole_datagram() {
    let mut p = dr6();
    let frags = query();
    // A later fragment held, then one overlapping it: both dropped, and
    // the first when it comes (RFC 5722), and the last.
    let eth = &frags[0][..14];
    let ip = &frags[0][14..54];
    let overlapping = piece(eth, ip, IpNumber::UDP, (1224, true, IDENT), &[0; 16]);
    let out = run(&mut p, &[frags[1].clone(), overlapping], 0);
    assert!(out.is_empty());
    assert_eq!(drops(&p, DropReason::FragOverlap), 2);
    let out = run(&mut p, &[frags[0].clone(), frags[2].clone()], 1);
    assert!(out.is_empty(), "nothing of it leaves");
    assert_eq!(drops(&p, DropReason::FragOverlap), 4);
    assert_eq!(p.path.flow.sessions6().len(), 0);
    // Another datagram: forwarded, then a repeat of its first piece is
    // an overlap too, and drops what is left of it.
    let d = datagram((CLIENT_MAC, OURS), (CLIENT6, 40001), (VIP6, 80), 3000);
    let other = fragment6(&d, 1232, 7);
    let out = run(&mut p, &other[..2], 2);
    assert_eq!(out.len(), 2);
    let out = run(&mut p, &[other[1].clone(), other[2].clone()], 3);
    assert!(out.is_empty());
    assert_eq!(drops(&p, DropReason::FragOverlap), 6);
}

#[test]
fn an_oversized_fragment_is_dropped_by_name() {
    let mut p = dr6();
    let frags = query();
    let (eth, ip) = (&frags[0][..14], &frags[0][14..54]);
    // Offset 65528 with 16 bytes: past 65535.
    let big = piece(eth, ip, IpNumber::UDP, (65528, false, IDENT), &[0; 16]);
    let fits = piece(eth, ip, IpNumber::UDP, (65520, false, 9), &[0; 15]);
    let out = run(&mut p, &[big, fits], 0);
    assert!(out.is_empty());
    assert_eq!(drops(&p, DropReason::FragOversized), 1);
    assert_eq!(events(&p).held, 1, "65535 exactly is a datagram's end");
}

#[test]
fn an_atomic_fragment_is_a_whole_packet() {
    let mut p = dr6();
    let d = datagram((CLIENT_MAC, OURS), (CLIENT6, 40000), (VIP6, 80), 100);
    let atomic = fragment6(&d, 2048, IDENT);
    assert_eq!(atomic.len(), 1);
    assert_eq!(read(&atomic[0]).3, (0, false, IDENT));
    let out = run(&mut p, &atomic, 0);
    assert_eq!(out, vec![with_macs(&atomic[0], RS1)]);
    let e = events(&p);
    assert_eq!((e.first, e.forwarded, p.path.frags6.live()), (0, 0, 0));
    assert_eq!(p.path.flow.sessions6().len(), 1);
    // Through NAT6: rewritten as a whole packet, its checksum right.
    let mut p = pipeline(&nat6_config(Mode::Nat));
    learn_all(&mut p);
    let out = run(&mut p, &atomic, 0);
    assert_eq!(out.len(), 1);
    let (src, dst, hop, ok) = whole(&out);
    assert_eq!(
        (src, dst, hop, ok),
        ((v6(CLIENT6), 40000), (v6(RIP6[0]), 8080), 63, true)
    );
}

#[test]
fn a_first_fragment_without_its_whole_header_chain_is_dropped() {
    let mut p = dr6();
    let frags = query();
    let (eth, ip) = (&frags[0][..14], &frags[0][14..54]);
    // Four bytes of the UDP header only.
    let short = piece(eth, ip, IpNumber::UDP, (0, true, 1), &frags[0][62..66]);
    // A destination options header cut by the fragment's end.
    let mut cut = piece(
        eth,
        ip,
        IpNumber(60),
        (0, true, 2),
        &[17, 1, 0, 0, 0, 0, 0, 0],
    );
    let len = u16::from_be_bytes([cut[18], cut[19]]);
    cut.truncate(cut.len() - 4);
    cut[18..20].copy_from_slice(&(len - 4).to_be_bytes());
    let out = run(&mut p, &[short, cut], 0);
    assert!(out.is_empty());
    assert_eq!(drops(&p, DropReason::Ipv6FragIncompleteChain), 2);
    assert_eq!(p.path.flow.sessions6().len(), 0);
}

#[test]
fn later_fragments_of_a_refused_first_one_and_of_another_protocol_are_dropped() {
    let mut p = dr6();
    // To port 81: no service.
    let d = datagram((CLIENT_MAC, OURS), (CLIENT6, 40000), (VIP6, 81), 3000);
    let out = run(&mut p, &fragment6(&d, 1232, 3), 0);
    assert!(out.is_empty());
    assert_eq!(drops(&p, DropReason::NoService), 1);
    assert_eq!(drops(&p, DropReason::FragFirstDropped), 2);
    // An ICMPv6 echo in fragments: not a flow.
    let mut echo = d.clone();
    echo[14 + 6] = 58;
    let out = run(&mut p, &fragment6(&echo, 1232, 4)[..1], 1);
    assert!(out.is_empty());
    assert_eq!(drops(&p, DropReason::Ipv6Fragment), 1);
}

#[test]
fn held_fragments_time_out_and_are_counted() {
    let mut p = dr6();
    let frags = query();
    run(&mut p, &frags[1..], 0);
    assert_eq!(p.path.frags6.held(), 2);
    run(&mut p, &[], FRAG_TIMEOUT_MS - 1);
    assert_eq!(drops(&p, DropReason::FragTimeout), 0);
    run(&mut p, &[], FRAG_TIMEOUT_MS + 100);
    assert_eq!(drops(&p, DropReason::FragTimeout), 2);
    assert_eq!((p.path.frags6.held(), p.path.frags6.live()), (0, 0));
    // The first, late: forwarded alone, its datagram's entry new.
    let out = run(&mut p, &frags[..1], FRAG_TIMEOUT_MS + 200);
    assert_eq!(out.len(), 1);
}

/// NAT6 or FULLNAT6: the client's fragmented query to the backend and the
/// backend's fragmented answer back, every fragment rewritten.
fn nat_both_ways(mode: Mode) {
    let mut p = pipeline(&nat6_config(mode));
    learn_all(&mut p);
    let frags = query();
    // Out of order: the last first.
    let out = run(
        &mut p,
        &[frags[2].clone(), frags[0].clone(), frags[1].clone()],
        0,
    );
    assert_eq!(out.len(), 3, "{mode:?}");
    let client = match mode {
        Mode::FullNat => (v6(LADDR6), 40000),
        _ => (v6(CLIENT6), 40000),
    };
    let rip = (v6(RIP6[0]), 8080);
    for f in &out {
        assert_eq!(f[..6], RS1);
        let (src, dst, hop, (_, _, ident)) = read(f);
        assert_eq!((src, dst, hop, ident), (client.0, rip.0, 63, IDENT));
    }
    assert_eq!(whole(&out), (client, rip, 63, true), "{mode:?}");
    // The answer, 4000 bytes, fragmented by the backend.
    let answer = datagram(
        (RS1, OURS),
        (RIP6[0], 8080),
        (&client.0.to_string(), client.1),
        4000,
    );
    let frags = fragment6(&answer, 1448, 99);
    assert_eq!(frags.len(), 3);
    let out = run(&mut p, &frags, 1);
    assert_eq!(out.len(), 3, "{mode:?}");
    let vip = (v6(VIP6), 80);
    for f in &out {
        assert_eq!(f[..6], CLIENT_MAC);
        let (src, dst, hop, (_, _, ident)) = read(f);
        assert_eq!((src, dst, hop, ident), (vip.0, v6(CLIENT6), 63, 99));
    }
    assert_eq!(whole(&out), (vip, (v6(CLIENT6), 40000), 63, true));
    let e = events(&p);
    assert_eq!((e.first, e.forwarded, e.held, e.released), (2, 4, 1, 1));
    let dropped: u64 = p.counters().drops.iter().map(|(_, n)| n).sum();
    assert_eq!(dropped, 0);
}

#[test]
fn nat6_rewrites_the_addresses_of_later_fragments_both_ways() {
    nat_both_ways(Mode::Nat);
}

#[test]
fn fullnat6_rewrites_the_addresses_of_later_fragments_both_ways() {
    nat_both_ways(Mode::FullNat);
}

#[test]
fn tun6_encapsulates_each_fragment_whole() {
    let mut cfg = config_dr6(vec![{
        let mut s = service6(IpProto::UDP);
        s.mode = Mode::Tun;
        s
    }]);
    cfg.ports[0].mtu = 1500;
    let mut p = pipeline(&cfg);
    learn_backends(&mut p);
    let frags = query();
    let out = run(&mut p, &frags, 0);
    assert_eq!(out.len(), 3);
    for (o, f) in out.iter().zip(&frags) {
        assert_eq!(o[..6], RS1);
        let (outer, inner) = etherparse::Ipv6Header::from_slice(&o[14..]).expect("outer");
        assert_eq!(outer.next_header, IpNumber(41));
        assert_eq!(Ipv6Addr::from(outer.destination), v6(RIP6[0]));
        assert_eq!(inner, &f[14..], "the fragment whole inside");
    }
    assert_eq!(events(&p).forwarded, 2);
}

#[test]
fn a_later_fragment_too_big_for_the_egress_gets_packet_too_big() {
    let mut cfg = nat6_config(Mode::Nat);
    cfg.ports[0].mtu = 1280;
    let mut p = pipeline(&cfg);
    learn_all(&mut p);
    let d = datagram((CLIENT_MAC, OURS), (CLIENT6, 40000), (VIP6, 80), 3000);
    let (eth, ip, payload) = (&d[..14], &d[14..54], &d[54..]);
    let first = piece(eth, ip, IpNumber::UDP, (0, true, IDENT), &payload[..1200]);
    let big = piece(
        eth,
        ip,
        IpNumber::UDP,
        (1200, false, IDENT),
        &payload[1200..],
    );
    let out = run(&mut p, &[first, big.clone()], 0);
    assert_eq!(out.len(), 2);
    let (ty, _, dst, quote, sum_ok) = super::nat6_tests::icmp6_error(&out[1]);
    assert_eq!(ty, etherparse::Icmpv6Type::PacketTooBig { mtu: 1280 });
    assert_eq!((dst, sum_ok), (v6(CLIENT6), true));
    assert_eq!(
        quote,
        big[14..14 + quote.len()],
        "quoted as the client sent it"
    );
    assert_eq!(drops(&p, DropReason::PacketTooBig), 1);
}

#[test]
fn a_first_fragment_too_big_for_the_egress_refuses_its_datagram() {
    let mut cfg = nat6_config(Mode::Nat);
    cfg.ports[0].mtu = 1280;
    let mut p = pipeline(&cfg);
    learn_all(&mut p);
    let d = datagram((CLIENT_MAC, OURS), (CLIENT6, 40000), (VIP6, 80), 3000);
    let (eth, ip, payload) = (&d[..14], &d[14..54], &d[54..]);
    let big = piece(eth, ip, IpNumber::UDP, (0, true, IDENT), &payload[..1400]);
    let last = piece(
        eth,
        ip,
        IpNumber::UDP,
        (1400, false, IDENT),
        &payload[1400..2000],
    );
    // The first gets Packet Too Big; the one after it is not forwarded
    // alone though its flow now has a session.
    let out = run(&mut p, &[big, last], 0);
    assert_eq!(out.len(), 1, "the error only");
    let (ty, _, dst, _, _) = super::nat6_tests::icmp6_error(&out[0]);
    assert_eq!(ty, etherparse::Icmpv6Type::PacketTooBig { mtu: 1280 });
    assert_eq!(dst, v6(CLIENT6));
    assert_eq!(
        (
            drops(&p, DropReason::PacketTooBig),
            drops(&p, DropReason::FragFirstDropped)
        ),
        (1, 1)
    );
    assert_eq!(events(&p).first, 0);
}

#[test]
fn fragments_split_over_two_workers_meet_their_decision() {
    for mode in [Mode::Dr, Mode::Nat, Mode::FullNat] {
        let mut s = match mode {
            Mode::Dr => service6(IpProto::UDP),
            _ => nat6_service(mode),
        };
        // Room for each worker's ports.
        s.local_ports = (40000, 40063);
        let cfg = config_nat6(vec![s]);
        let tables = std::sync::Arc::new(LbTables::build(&cfg).expect("builds"));
        let mut sim = super::workers_tests::Sim::new(&tables, 2);
        for p in &mut sim.pipes {
            learn_all(p);
        }
        // Sixteen datagrams, their first fragments on queue 0, the rest on
        // queue 1 (the last before the middle one).
        for n in 0..16u16 {
            let d = datagram((CLIENT_MAC, OURS), (CLIENT6, 40000 + n), (VIP6, 80), 3000);
            let frags = fragment6(&d, 1232, 1000 + u32::from(n));
            sim.deliver(1, &frags[2]);
            sim.deliver(0, &frags[0]);
            sim.deliver(1, &frags[1]);
        }
        let out: Vec<Vec<u8>> = sim.settle().into_iter().flatten().collect();
        assert_eq!(out.len(), 48, "{mode:?}");
        assert_eq!(sim.dropped(), 0, "{mode:?}");
        let e = sim.events();
        assert_eq!(e.frag.first, 16);
        assert_eq!(e.frag.forwarded, 32);
        assert!(
            e.frag.decisions_sent > 0 && e.frag.decisions_sent < 16,
            "{mode:?}: some datagrams' flow and fragments on different workers: {}",
            e.frag.decisions_sent
        );
        assert_eq!(e.frag.decisions_received, e.frag.decisions_sent);
        assert_eq!(e.frag.decisions_lost, 0);
        // Each datagram whole, on one backend.
        for n in 0..16u32 {
            let mine: Vec<Vec<u8>> = out
                .iter()
                .filter(|f| read(f).3 .2 == 1000 + n)
                .cloned()
                .collect();
            assert_eq!(mine.len(), 3);
            assert!(mine.iter().all(|f| f[..6] == mine[0][..6]));
            if mode != Mode::Dr {
                assert!(whole(&mine).3, "{mode:?}: the checksum verifies");
            }
        }
    }
}
