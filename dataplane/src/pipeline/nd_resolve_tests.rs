//! IPv6 next hops resolved by Neighbour Discovery (`egress6.rs`), shared
//! between workers (`local6.rs`, the rings), and our addresses announced
//! by unsolicited advertisements (`garp.rs`), on in-memory ports. Every
//! message we send is compared byte for byte with the one etherparse
//! builds.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use etherparse::PacketBuilder;

use super::local6_tests::*;
use super::tests::*;
use super::workers_tests::Sim;
use super::*;
use crate::buf::TestBuf;
use crate::io::MemoryIo;
use crate::tables::LbConfig;
use crate::testutil::vlan_tag;
use crate::wire::ethernet::MacAddr;

/// The next hop, on the interface's 2001:db8::/64.
pub(super) const NEXT6: &str = "2001:db8::20";
pub(super) const NEXT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x20];

/// An IPv6 UDP datagram to forward: from a client to a server behind
/// the next hop, as received (untagged, to our MAC).
pub(super) fn datagram(n: u8) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OURS)
        .ipv6(a6("2001:db8:9::7"), a6("2001:db8:5::5"), 63)
        .udp(40000 + u16::from(n), 53)
        .write(&mut v, &[n; 16])
        .expect("writes");
    v
}

/// `frame` with its MACs replaced: as it must leave.
pub(super) fn with_macs(frame: &[u8], src: [u8; 6], dst: [u8; 6]) -> Vec<u8> {
    let mut v = frame.to_vec();
    v[..6].copy_from_slice(&dst);
    v[6..12].copy_from_slice(&src);
    v
}

/// Our solicitation for `target` from `src`, as etherparse builds it.
pub(super) fn our_solicitation(src: &str, target: &str) -> Vec<u8> {
    let group = nd::solicited_node(target.parse().unwrap()).to_string();
    let body = nd_body(target, Some((1, OURS)));
    icmp6(
        (OURS, group_mac(&group)),
        src,
        &group,
        255,
        135,
        0,
        [0; 4],
        &body,
    )
}

/// The neighbour's answer to it: solicited and override, to `to`.
pub(super) fn answer(target: &str, to: &str, mac: [u8; 6]) -> Vec<u8> {
    let body = nd_body(target, Some((2, mac)));
    icmp6((mac, OURS), target, to, 255, 136, 0, [0x60, 0, 0, 0], &body)
}

/// Our unsolicited advertisement of `addr`, as etherparse builds it.
fn our_unsolicited(addr: &str) -> Vec<u8> {
    let body = nd_body(addr, Some((2, OURS)));
    let to = group_mac("ff02::1");
    icmp6(
        (OURS, to),
        addr,
        "ff02::1",
        255,
        136,
        0,
        [0x20, 0, 0, 0],
        &body,
    )
}

use crate::net::nd;

/// Hands `frame` (received tagged `vlan`) to `p`'s IPv6 way out for
/// `next` on interface `iface` at `now`, and returns what went out.
fn egress6(
    p: &mut Pipeline<TestBuf>,
    io: &mut MemoryIo,
    (frame, vlan): (&[u8], Option<u16>),
    (iface, next): (u16, &str),
    now: u64,
) -> Vec<Vec<u8>> {
    let mut cx = Cx {
        t: &p.tables,
        io,
        now,
    };
    let pkt = TestBuf::new(frame);
    let next = next.parse().expect("address");
    assert!(p.path.egress6(&mut cx, pkt, vlan, iface, next).is_ok());
    p.path.flush(&mut cx, 0);
    io.tx[0].drain(..).map(|b| b.data().to_vec()).collect()
}

fn listed(p: &Pipeline<TestBuf>, a: &str, now: u64) -> Option<(Option<MacAddr>, &'static str)> {
    let a: IpAddr = a.parse().unwrap();
    p.neighbours(now)
        .into_iter()
        .find(|n| n.addr == a)
        .map(|n| (n.mac, n.state))
}

fn io() -> MemoryIo {
    MemoryIo::new(vec![Vec::new()])
}

#[test]
fn a_next_hop_is_solicited_and_its_answer_releases_the_packet() {
    let mut p = pipeline(&config6());
    let mut io = io();
    let out = egress6(&mut p, &mut io, (&datagram(1), None), (0, NEXT6), 0);
    assert_eq!(out, vec![our_solicitation(OUR6, NEXT6)]);
    assert_eq!(nd_events(&p).solicitations_sent, 1);
    assert_eq!(listed(&p, NEXT6, 0), Some((None, "incomplete")));
    // The answer releases the datagram to the neighbour's MAC.
    let out = run(&mut p, &[answer(NEXT6, OUR6, NEXT_MAC)], 5);
    assert_eq!(out, vec![with_macs(&datagram(1), OURS, NEXT_MAC)]);
    assert_eq!(neighbour6(&p, NEXT6), Some(MacAddr(NEXT_MAC)));
    assert_eq!(
        listed(&p, NEXT6, 5),
        Some((Some(MacAddr(NEXT_MAC)), "reachable"))
    );
    // Known now: the next packet goes straight out, nothing asked.
    let out = egress6(&mut p, &mut io, (&datagram(2), None), (0, NEXT6), 6);
    assert_eq!(out, vec![with_macs(&datagram(2), OURS, NEXT_MAC)]);
    assert_eq!(nd_events(&p).solicitations_sent, 1);
    // A link-local next hop is asked from our link-local address.
    let out = egress6(&mut p, &mut io, (&datagram(3), None), (0, "fe80::fe"), 7);
    assert_eq!(out, vec![our_solicitation(OUR_LL, "fe80::fe")]);
    assert_eq!(p.counters().drops.iter().map(|(_, n)| n).sum::<u64>(), 0);
}

#[test]
fn an_unanswered_next_hop_is_asked_again_no_faster_than_arp_then_given_up() {
    let mut p = pipeline(&config6());
    let mut io = io();
    let timers = egress::NEIGHBOUR_TIMERS;
    let mut asked = Vec::new();
    // Five packets in 400 ms: one solicitation per retry gap (250 ms),
    // four packets wait, the fifth finds the queue full.
    for (n, now) in [0, 100, 250, 300, 400].into_iter().enumerate() {
        let out = egress6(&mut p, &mut io, (&datagram(n as u8), None), (0, NEXT6), now);
        for f in &out {
            assert_eq!(f, &our_solicitation(OUR6, NEXT6), "at {now}");
            asked.push(now);
        }
    }
    assert_eq!(asked, vec![0, timers.retry]);
    assert_eq!(nd_events(&p).solicitations_sent, 2);
    assert_eq!(drops(&p, DropReason::NeighbourQueueFull), 1);
    // Nothing answers: at the resolve timeout the waiting packets are
    // dropped and the entry goes.
    assert!(run(&mut p, &[], timers.resolve_timeout - 1).is_empty());
    assert_eq!(drops(&p, DropReason::NeighbourUnresolved), 0);
    assert!(run(&mut p, &[], timers.resolve_timeout + 100).is_empty());
    assert_eq!(drops(&p, DropReason::NeighbourUnresolved), 4);
    assert_eq!(listed(&p, NEXT6, timers.resolve_timeout + 100), None);
    // A late advertisement, unsolicited, makes no entry.
    let body = nd_body(NEXT6, Some((2, NEXT_MAC)));
    let late = icmp6(
        (NEXT_MAC, OURS),
        NEXT6,
        OUR6,
        255,
        136,
        0,
        [0x20, 0, 0, 0],
        &body,
    );
    assert!(run(&mut p, &[late], 1200).is_empty());
    assert_eq!(neighbour6(&p, NEXT6), None);
}

#[test]
fn a_tagged_interface_asks_and_sends_with_its_tag() {
    let mut cfg = config6();
    cfg.interfaces[0].vlan = Some(7);
    let mut p = pipeline(&cfg);
    let mut io = io();
    // Received untagged, leaving by the tagged interface.
    let out = egress6(&mut p, &mut io, (&datagram(1), None), (0, NEXT6), 0);
    assert_eq!(out, vec![vlan_tag(&our_solicitation(OUR6, NEXT6), 7)]);
    let out = run(&mut p, &[vlan_tag(&answer(NEXT6, OUR6, NEXT_MAC), 7)], 1);
    let want = vlan_tag(&with_macs(&datagram(1), OURS, NEXT_MAC), 7);
    assert_eq!(out, vec![want]);
}

#[test]
fn an_interface_without_ipv6_addresses_cannot_ask_and_says_so() {
    let mut cfg = config6();
    cfg.interfaces.push(crate::tables::Interface {
        port: 0,
        vlan: Some(9),
        addrs: vec![(std::net::Ipv4Addr::new(10, 0, 9, 1), 24)],
        addrs6: Vec::new(),
    });
    let mut p = pipeline(&cfg);
    let mut io = io();
    let out = egress6(&mut p, &mut io, (&datagram(1), None), (1, NEXT6), 0);
    assert!(out.is_empty());
    assert_eq!(drops(&p, DropReason::NdNoSourceAddress), 1);
    assert_eq!(nd_events(&p).solicitations_sent, 0);
    assert_eq!(listed(&p, NEXT6, 0), None);
}

#[test]
fn a_too_big_packet_comes_back_before_anything_is_asked() {
    let mut cfg = config6();
    cfg.ports[0].mtu = 1280;
    let mut p = pipeline(&cfg);
    let mut io = io();
    let mut big = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OURS)
        .ipv6(a6("2001:db8:9::7"), a6("2001:db8:5::5"), 63)
        .udp(40000, 53)
        .write(&mut big, &[0; 1280])
        .expect("writes");
    let mut cx = Cx {
        t: &p.tables,
        io: &mut io,
        now: 0,
    };
    let next = NEXT6.parse::<Ipv6Addr>().unwrap();
    let back = p.path.egress6(&mut cx, TestBuf::new(&big), None, 0, next);
    let Err(too_big) = back else {
        panic!("not refused");
    };
    assert_eq!((too_big.mtu, too_big.pkt.data()), (1280, big.as_slice()));
    assert_eq!(nd_events(&p).solicitations_sent, 0);
}

fn two_workers(cfg: &LbConfig) -> Sim {
    Sim::new(&Arc::new(LbTables::build(cfg).expect("builds")), 2)
}

/// Worker `w` of `sim` sends `frame` to the next hop, as `egress6` does.
fn egress6_on(sim: &mut Sim, w: usize, frame: &[u8]) {
    let p = &mut sim.pipes[w];
    let mut cx = Cx {
        t: &p.tables,
        io: &mut sim.ios[w],
        now: 0,
    };
    let next = NEXT6.parse().unwrap();
    assert!(p
        .path
        .egress6(&mut cx, TestBuf::new(frame), None, 0, next)
        .is_ok());
    p.path.flush(&mut cx, 0);
}

#[test]
fn an_answer_on_another_workers_queue_releases_the_waiting_packet() {
    let mut sim = two_workers(&config6());
    egress6_on(&mut sim, 1, &datagram(1));
    let out = sim.settle();
    assert_eq!(out[1], vec![our_solicitation(OUR6, NEXT6)]);
    assert!(out[0].is_empty());
    // The answer lands on worker 0, which never asked: it makes the
    // entry and tells worker 1, whose datagram goes.
    sim.deliver(0, &answer(NEXT6, OUR6, NEXT_MAC));
    let out = sim.settle();
    assert!(out[0].is_empty(), "{out:?}");
    assert_eq!(out[1], vec![with_macs(&datagram(1), OURS, NEXT_MAC)]);
    let e = sim.events();
    assert_eq!((e.neighbours_shared, e.neighbour_shares_lost), (1, 0));
    assert_eq!(sim.dropped(), 0);
}

#[test]
fn a_neighbour_one_worker_heard_is_not_asked_for_by_another() {
    let mut sim = two_workers(&config6());
    // The neighbour resolves us on worker 0: answered, learned, shared.
    let ns = solicitation(NEXT6, "ff02::1:ff00:1", OUR6, Some(NEXT_MAC));
    sim.deliver(0, &ns);
    let out = sim.settle();
    assert_eq!(out[0].len(), 1, "our advertisement");
    egress6_on(&mut sim, 1, &datagram(1));
    let out = sim.settle();
    assert_eq!(out[1], vec![with_macs(&datagram(1), OURS, NEXT_MAC)]);
    let e = sim.events();
    assert_eq!((e.nd.solicitations_sent, e.neighbours_shared), (0, 1));
    assert_eq!(sim.dropped(), 0);
}

fn announcing(count: u32, vlan: Option<u16>) -> LbConfig {
    let mut cfg = config6();
    cfg.interfaces[0].vlan = vlan;
    cfg.garp.count = count;
    cfg.garp.interval_ms = 100;
    cfg
}

/// The IPv6 frames among `out`.
fn ipv6_frames(out: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let v6 = |f: &Vec<u8>| f[12..14] == [0x86, 0xdd] || f[16..18] == [0x86, 0xdd];
    out.into_iter().filter(v6).collect()
}

/// Our MLD report joining interface 0's solicited-node groups (those of
/// OUR6 and OUR_LL), from OUR_LL.
fn our_join(vlan: Option<u16>) -> Vec<u8> {
    use crate::net::mld;
    let ours = |s: &str| s.parse::<Ipv6Addr>().expect("an address");
    let groups = [
        nd::solicited_node(ours(OUR6)),
        nd::solicited_node(ours(OUR_LL)),
    ];
    let mut groups = groups.to_vec();
    groups.sort_unstable();
    groups.dedup();
    let mut f = vec![0; mld::report_frame_len(vlan, groups.len())];
    let kind = crate::wire::mld::RecordType::CHANGE_TO_EXCLUDE;
    assert!(mld::write_report(
        &mut f,
        (vlan, MacAddr(OURS)),
        ours(OUR_LL),
        kind,
        &groups
    ));
    f
}

#[test]
fn our_ipv6_addresses_are_announced_at_start_as_often_as_gratuitous_arp() {
    let mut p = pipeline(&announcing(2, None));
    let first = run(&mut p, &[], 0);
    // The MLD join first, so a snooping switch has it before the
    // advertisements make neighbours solicit us.
    let want = vec![
        our_join(None),
        our_unsolicited(OUR6),
        our_unsolicited(OUR_LL),
    ];
    let garps = first.len() - 3;
    assert_eq!(ipv6_frames(first), want);
    assert!(garps >= 2, "the IPv4 addresses too");
    assert!(run(&mut p, &[], 50).is_empty(), "not before the interval");
    assert_eq!(ipv6_frames(run(&mut p, &[], 100)), want);
    assert!(run(&mut p, &[], 300).is_empty(), "twice only");
    let e = p.counters().events;
    assert_eq!((e.nd.unsolicited_sent, e.garp_sent), (4, 2 * garps as u64));
    assert_eq!(e.nd.mld_reports_sent, 2);
    // Tagged where the interface is; none with `count = 0`.
    let mut p = pipeline(&announcing(1, Some(7)));
    let want = vec![
        our_join(Some(7)),
        vlan_tag(&our_unsolicited(OUR6), 7),
        vlan_tag(&our_unsolicited(OUR_LL), 7),
    ];
    assert_eq!(ipv6_frames(run(&mut p, &[], 0)), want);
    let mut p = pipeline(&announcing(0, None));
    assert!(run(&mut p, &[], 0).is_empty());
    assert_eq!(p.counters().events.nd.unsolicited_sent, 0);
}

#[test]
fn only_worker_zero_announces() {
    let tables = Arc::new(LbTables::build(&announcing(1, None)).expect("builds"));
    let mut w1: Pipeline<TestBuf> = Pipeline::new(tables, 1, 2, 0).expect("pipeline");
    assert!(run(&mut w1, &[], 0).is_empty());
}
