//! Fragments through the pipeline: every mode forwards all of a datagram's
//! fragments the way it forwards the first, in order or not; overlapping,
//! oversized, late and orphaned fragments are dropped under their names.
//! Outputs are put back together (`testutil::reassemble`) and the whole
//! datagram's checksums verified, as its receiver would.

use etherparse::PacketBuilder;

use super::tests::*;
use super::Pipeline;
use crate::buf::TestBuf;
use crate::frag::FRAG_TIMEOUT_MS;
use crate::tables::*;
use crate::testutil::{assert_checksums_verify, fix_ipv4_checksum, fragment, reassemble};

/// A datagram of `len` payload bytes (TCP with ACK, or UDP), DF clear.
fn big(
    proto: IpProto,
    macs: ([u8; 6], [u8; 6]),
    (src, dst): ([u8; 4], [u8; 4]),
    (sport, dport): (u16, u16),
    len: usize,
) -> Vec<u8> {
    let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
    let b = PacketBuilder::ethernet2(macs.0, macs.1).ipv4(src, dst, 64);
    let mut v = Vec::new();
    if proto == IpProto::TCP {
        b.tcp(sport, dport, 1, 65535)
            .ack(1)
            .write(&mut v, &payload)
            .expect("writes");
    } else {
        b.udp(sport, dport).write(&mut v, &payload).expect("writes");
    }
    v[20] &= !0x40;
    fix_ipv4_checksum(&mut v, 14);
    v
}

/// The ports of a whole (reassembled) frame, after verifying its checksums.
fn whole(frames: &[Vec<u8>]) -> Seen {
    let f = reassemble(frames, 14);
    assert_checksums_verify(&f);
    seen(&f)
}

fn events(p: &Pipeline<TestBuf>) -> crate::pipeline::counters::FragEvents {
    p.counters().events.frag
}

/// A service of `mode`, a SYN first for TCP so the data finds a session.
fn setup(mode: Mode, proto: IpProto) -> Pipeline<TestBuf> {
    let mut p = pipeline(&config(vec![service(mode, proto)]));
    if proto == IpProto::TCP {
        let syn = tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b"");
        assert_eq!(run(&mut p, &[syn], 0).len(), 1);
    }
    p
}

#[test]
fn every_mode_forwards_every_fragment_as_it_forwards_the_first() {
    let lip = [10, 0, 1, 100];
    for proto in [IpProto::UDP, IpProto::TCP] {
        for (mode, src, dst, ports, mac) in [
            (Mode::Nat, CIP, RIP1, (40000, 8080), RS1),
            (Mode::FullNat, lip, RIP1, (40000, 8080), RS1),
            (Mode::Dr, CIP, VIP, (40000, 80), RS1),
        ] {
            let mut p = setup(mode, proto);
            let d = big(proto, (ROUTER, OURS), (CIP, VIP), (40000, 80), 4000);
            let frags = fragment(&d, 14, 1480);
            assert_eq!(frags.len(), 3);
            let out = run(&mut p, &frags, 1);
            assert_eq!(out.len(), 3, "{mode:?} {proto:?}");
            assert!(
                out.iter().all(|f| f[..6] == mac),
                "{mode:?}: to the backend"
            );
            let s = whole(&out);
            let ttl = if mode == Mode::Dr { 64 } else { 63 };
            assert_eq!(
                (s.src, s.dst, s.ports, s.ttl),
                (src, dst, ports, ttl),
                "{mode:?} {proto:?}"
            );
            let e = events(&p);
            assert_eq!((e.first, e.forwarded, e.held), (1, 2, 0), "{mode:?}");
            let c = p.counters();
            let syn = u64::from(proto == IpProto::TCP);
            assert_eq!(c.backends[0].packets_in, 3 + syn, "{mode:?}: counted");
            assert_eq!(p.path.frags.live(), 0, "complete: the entry is free");
        }
    }
}

#[test]
fn replies_in_fragments_go_back_through_nat_and_fullnat() {
    let lip = [10, 0, 1, 100];
    for (mode, reply_dst) in [(Mode::Nat, CIP), (Mode::FullNat, lip)] {
        let mut p = setup(mode, IpProto::UDP);
        let q = udp((ROUTER, OURS), CIP, VIP, (40000, 80));
        assert_eq!(run(&mut p, &[q], 0).len(), 1);
        let r = big(
            IpProto::UDP,
            (RS1, OURS),
            (RIP1, reply_dst),
            (8080, 40000),
            3000,
        );
        let out = run(&mut p, &fragment(&r, 14, 1480), 1);
        assert_eq!(out.len(), 3);
        let s = whole(&out);
        assert_eq!((s.src, s.dst, s.ports), (VIP, CIP, (80, 40000)), "{mode:?}");
        assert_eq!(p.counters().backends[0].packets_out, 3);
    }
}

#[test]
fn tun_encapsulates_every_fragment() {
    let mut p = setup(Mode::Tun, IpProto::UDP);
    let d = big(IpProto::UDP, (ROUTER, OURS), (CIP, VIP), (40000, 80), 2500);
    let frags = fragment(&d, 14, 1400);
    let out = run(&mut p, &frags, 1);
    assert_eq!(out.len(), 2);
    for (o, f) in out.iter().zip(&frags) {
        assert_eq!(o[23], 4, "IP-in-IP");
        assert_eq!(&o[30..34], &RIP1);
        assert_eq!(&o[34..], &f[14..], "the fragment inside, untouched");
    }
}

#[test]
fn snat_fragments_leave_from_the_snat_address() {
    let mut cfg = config(Vec::new());
    cfg.snat.push(SnatSpec {
        source: (std::net::Ipv4Addr::new(10, 0, 1, 0).into(), 24),
        port: 0,
        addrs: vec![std::net::Ipv4Addr::new(203, 0, 113, 1)],
        addrs6: vec![],
        ports: (50000, 50000),
    });
    let mut p = pipeline(&cfg);
    let d = big(
        IpProto::UDP,
        (RS1, OURS),
        (RIP1, [8, 8, 8, 8]),
        (5353, 53),
        3000,
    );
    let out = run(&mut p, &fragment(&d, 14, 1480), 0);
    assert_eq!(out.len(), 3);
    let s = whole(&out);
    assert_eq!(
        (s.src, s.dst, s.ports),
        ([203, 0, 113, 1], [8, 8, 8, 8], (50000, 53))
    );
}

#[test]
fn later_fragments_before_the_first_wait_for_it() {
    for proto in [IpProto::UDP, IpProto::TCP] {
        let mut p = setup(Mode::FullNat, proto);
        let d = big(proto, (ROUTER, OURS), (CIP, VIP), (40000, 80), 4000);
        let mut frags = fragment(&d, 14, 1480);
        frags.rotate_left(1); // second, third, then the first
        let out = run(&mut p, &frags, 1);
        assert_eq!(out.len(), 3);
        let s = whole(&out);
        assert_eq!((s.dst, s.ports), (RIP1, (40000, 8080)));
        let e = events(&p);
        assert_eq!((e.first, e.held, e.released), (1, 2, 2));
        assert_eq!(p.path.frags.held(), 0);
    }
}

#[test]
fn fragments_whose_first_never_comes_time_out() {
    let mut p = setup(Mode::Nat, IpProto::UDP);
    let d = big(IpProto::UDP, (ROUTER, OURS), (CIP, VIP), (40000, 80), 4000);
    let frags = fragment(&d, 14, 1480);
    assert!(run(&mut p, &frags[1..], 0).is_empty());
    assert_eq!(events(&p).held, 2);
    run(&mut p, &[], FRAG_TIMEOUT_MS - 1);
    assert_eq!(drops(&p, DropReason::FragTimeout), 0);
    run(&mut p, &[], FRAG_TIMEOUT_MS + 100);
    assert_eq!(drops(&p, DropReason::FragTimeout), 2);
    assert_eq!((p.path.frags.held(), p.path.frags.live()), (0, 0));
}

#[test]
fn overlapping_duplicate_and_oversized_fragments_are_dropped() {
    let mut p = setup(Mode::Nat, IpProto::UDP);
    let d = big(IpProto::UDP, (ROUTER, OURS), (CIP, VIP), (40000, 80), 4000);
    let frags = fragment(&d, 14, 1480);
    // Teardrop: a second fragment starting inside the first.
    let mut overlap = frags[1].clone();
    overlap[20..22].copy_from_slice(&(0x2000u16 | (1000 / 8)).to_be_bytes());
    fix_ipv4_checksum(&mut overlap, 14);
    let out = run(
        &mut p,
        &[
            frags[0].clone(),
            overlap,
            frags[0].clone(),
            frags[1].clone(),
        ],
        0,
    );
    assert_eq!(out.len(), 2, "the first and the good second");
    assert_eq!(drops(&p, DropReason::FragOverlap), 2);
    // Ping of death: offset 65528, 100 bytes on.
    let mut huge = frags[2].clone();
    huge[20..22].copy_from_slice(&0x1fffu16.to_be_bytes());
    fix_ipv4_checksum(&mut huge, 14);
    assert!(run(&mut p, &[huge], 0).is_empty());
    assert_eq!(drops(&p, DropReason::FragOversized), 1);
}

#[test]
fn fragments_of_a_first_fragment_not_forwarded_are_dropped_by_name() {
    let mut p = setup(Mode::Nat, IpProto::UDP);
    let d = big(
        IpProto::UDP,
        (ROUTER, OURS),
        (CIP, [10, 0, 1, 99]),
        (40000, 80),
        4000,
    );
    let out = run(&mut p, &fragment(&d, 14, 1480), 0);
    assert!(out.is_empty());
    assert_eq!(drops(&p, DropReason::NoService), 1);
    assert_eq!(drops(&p, DropReason::FragFirstDropped), 2);
    assert_eq!(events(&p).first, 0);
}

#[test]
fn fragments_of_other_protocols_stay_dropped() {
    let mut p = setup(Mode::Nat, IpProto::UDP);
    let echo = crate::testutil::echo_frame(CIP, VIP, true, 7, 1, &[0; 2000]);
    let mut frags = fragment(&echo, 14, 1480);
    for f in &mut frags {
        f[..6].copy_from_slice(&OURS);
    }
    assert!(run(&mut p, &frags, 0).is_empty());
    assert_eq!(drops(&p, DropReason::Fragment), 2);
}

/// `frame` with IP identification `ident`.
fn with_ident(mut frame: Vec<u8>, ident: u16) -> Vec<u8> {
    frame[18..20].copy_from_slice(&ident.to_be_bytes());
    fix_ipv4_checksum(&mut frame, 14);
    frame
}

#[test]
fn fragments_spread_over_two_workers_reach_one_and_leave_whole() {
    use super::workers_tests::Sim;
    use std::sync::Arc;
    let mut svc = service(Mode::FullNat, IpProto::UDP);
    svc.local_addrs.truncate(1);
    svc.local_ports = (40000, 40001);
    let tables = Arc::new(LbTables::build(&config(vec![svc])).expect("builds"));
    let mut sent_elsewhere = 0;
    for cport in [1000u16, 1001, 1002, 1003] {
        for ident in [1u16, 2, 3, 4] {
            let mut sim = Sim::new(&tables, 2);
            let d = big(IpProto::UDP, (ROUTER, OURS), (CIP, VIP), (cport, 80), 4000);
            let frags = fragment(&with_ident(d, ident), 14, 1480);
            // Each fragment on another queue; the last one first.
            for (i, f) in frags.iter().enumerate().rev() {
                sim.deliver(i + usize::from(ident), f);
            }
            let out: Vec<Vec<u8>> = sim.settle().into_iter().flatten().collect();
            assert_eq!(
                out.len(),
                3,
                "port {cport} ident {ident}: {}",
                sim.dropped()
            );
            let s = whole(&out);
            assert_eq!((s.dst, s.ports.1), (RIP1, 8080));
            // The reply, in fragments, on both queues.
            let r = big(
                IpProto::UDP,
                (RS1, OURS),
                (RIP1, s.src),
                (8080, s.ports.0),
                3000,
            );
            for (i, f) in fragment(&with_ident(r, ident), 14, 1480).iter().enumerate() {
                sim.deliver(i, f);
            }
            let back: Vec<Vec<u8>> = sim.settle().into_iter().flatten().collect();
            assert_eq!(back.len(), 3);
            let b = whole(&back);
            assert_eq!((b.src, b.dst, b.ports), (VIP, CIP, (80, cport)));
            assert_eq!(sim.dropped(), 0);
            sent_elsewhere += sim.events().frag.decisions_sent;
        }
    }
    assert!(
        sent_elsewhere > 0,
        "some first fragments were not their fragments' owner's"
    );
}

/// A pipeline with `mode` (UDP and TCP services) whose port's MTU is `mtu`.
fn with_mtu(mode: Mode, mtu: u16) -> Pipeline<TestBuf> {
    let mut cfg = config(vec![
        service(mode, IpProto::UDP),
        service(mode, IpProto::TCP),
    ]);
    cfg.ports[0].mtu = mtu;
    pipeline(&cfg)
}

#[test]
fn too_big_with_df_answers_fragmentation_needed_quoting_what_the_client_sent() {
    for mode in [Mode::Nat, Mode::FullNat, Mode::Dr] {
        let mut p = with_mtu(mode, 1000);
        let syn = tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b"");
        assert_eq!(run(&mut p, &[syn], 0).len(), 1);
        let big = tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), ACK, 64, &[1; 1200]);
        assert_ne!(big[20] & 0x40, 0, "DF set");
        let out = run(&mut p, std::slice::from_ref(&big), 1);
        assert_eq!(out.len(), 1, "{mode:?}");
        let e = &out[0];
        assert_eq!(
            (&e[..6], &e[30..34]),
            (&ROUTER[..], &CIP[..]),
            "{mode:?}: to the client"
        );
        // Type 3 code 4, next-hop MTU 1000, quoting CIP:40000 -> VIP:80.
        assert_eq!(
            (e[34], e[35], &e[40..42]),
            (3, 4, &1000u16.to_be_bytes()[..])
        );
        assert_eq!((&e[54..58], &e[58..62]), (&CIP[..], &VIP[..]), "{mode:?}");
        assert_eq!(
            &e[62..66],
            &[0x9c, 0x40, 0, 80],
            "{mode:?}: the client's ports"
        );
        assert_checksums_verify(e);
        assert_eq!(drops(&p, DropReason::FragmentationNeeded), 1);
        assert_eq!(p.counters().events.icmp_errors_sent, 1);
    }
}

#[test]
fn too_big_without_df_leaves_in_fragments_that_fit() {
    let lip = [10, 0, 1, 100];
    for (mode, src, dst, ports) in [
        (Mode::Nat, CIP, RIP1, (40000, 8080)),
        (Mode::FullNat, lip, RIP1, (40000, 8080)),
        (Mode::Dr, CIP, VIP, (40000, 80)),
    ] {
        let mut p = with_mtu(mode, 1000);
        let d = big(IpProto::UDP, (ROUTER, OURS), (CIP, VIP), (40000, 80), 2500);
        let out = run(&mut p, &[d], 0);
        let dropped: Vec<_> = p.counters().drops.iter().filter(|d| d.1 > 0).collect();
        assert_eq!(out.len(), 3, "{mode:?} {dropped:?}");
        assert!(out.iter().all(|f| f.len() <= 1014), "{mode:?}: each fits");
        let s = whole(&out);
        assert_eq!((s.src, s.dst, s.ports), (src, dst, ports), "{mode:?}");
        assert_eq!(events(&p).egress_fragmented, 1);
        // A fragment too big is cut again.
        let d = big(IpProto::UDP, (ROUTER, OURS), (CIP, VIP), (40000, 80), 2500);
        let out = run(&mut p, &fragment(&d, 14, 1480), 1);
        assert_eq!(
            out.len(),
            4,
            "{mode:?}: 1480 → 976 + 504, then 1028 → 976 + 52"
        );
        let s = whole(&out);
        assert_eq!((s.src, s.dst, s.ports), (src, dst, ports), "{mode:?}");
    }
}

#[test]
fn tun_without_df_tunnels_the_inner_packet_in_pieces() {
    let mut p = with_mtu(Mode::Tun, 1000);
    let d = big(IpProto::UDP, (ROUTER, OURS), (CIP, VIP), (40000, 80), 2500);
    let out = run(&mut p, std::slice::from_ref(&d), 0);
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|f| f.len() <= 1014 && f[23] == 4));
    // Inside: the client's datagram in fragments, as sent.
    let inner: Vec<Vec<u8>> = out.iter().map(|f| [&f[..14], &f[34..]].concat()).collect();
    let mut sent = d.clone();
    sent[..12].copy_from_slice(&inner[0][..12]);
    assert_eq!(reassemble(&inner, 14), sent);
}

#[test]
fn fragmentation_needed_is_rate_limited() {
    let mut p = with_mtu(Mode::Nat, 1000);
    let syn = tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b"");
    run(&mut p, &[syn], 0);
    let big = tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), ACK, 64, &[1; 1200]);
    let out = run(&mut p, &vec![big; 60], 0);
    assert_eq!(out.len(), 50, "a burst of 50");
    assert_eq!(drops(&p, DropReason::IcmpRateLimited), 10);
}
