//! Reassembly through the pipeline: a FULLNAT UDP service with the PROXY
//! v2 header gets its fragmented datagrams whole, the header in front of
//! the first one's payload, cut again to the MTU on the way out; what
//! reassembly refuses is counted by name. Outputs are put back together
//! (`testutil::reassemble`) and compared byte for byte with the datagram
//! the backend must receive.

use std::sync::Arc;

use etherparse::PacketBuilder;

use super::tests::*;
use super::Pipeline;
use crate::buf::TestBuf;
use crate::client_addr::proxy_header::ProxyVersion;
use crate::frag::reasm::REASM_TIMEOUT_MS;
use crate::io::MemoryIo;
use crate::tables::*;
use crate::testutil::{fix_ipv4_checksum, fragment, reassemble};

const LIP0: [u8; 4] = [10, 0, 1, 100];
const IDENT: u16 = 0x1234;

fn proxied() -> ServiceSpec {
    let mut svc = service(Mode::FullNat, IpProto::UDP);
    svc.proxy_protocol = Some(ProxyVersion::V2);
    svc
}

fn payload(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 5 + seed) as u8).collect()
}

/// A UDP frame, identification [`IDENT`], no flags (DF clear).
fn frame(
    macs: ([u8; 6], [u8; 6]),
    (src, dst): ([u8; 4], [u8; 4]),
    (sport, dport): (u16, u16),
    ttl: u8,
    data: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(src, dst, ttl)
        .udp(sport, dport)
        .write(&mut f, data)
        .expect("writes");
    f[18..20].copy_from_slice(&IDENT.to_be_bytes());
    f[20..22].copy_from_slice(&[0, 0]);
    fix_ipv4_checksum(&mut f, 14);
    f
}

/// The client's datagram of `data` to the VIP.
fn from_client(data: &[u8]) -> Vec<u8> {
    frame((ROUTER, OURS), (CIP, VIP), (40000, 80), 64, data)
}

/// The PROXY v2 header naming the client and the VIP.
fn v2_header() -> Vec<u8> {
    let mut h = vec![
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x12, 0x00,
        0x0c,
    ];
    h.extend_from_slice(&CIP);
    h.extend_from_slice(&VIP);
    h.extend_from_slice(&[0x9c, 0x40, 0x00, 80]);
    h
}

/// What the backend must receive: the datagram from the local address and
/// port `lport`, TTL one less, with `prefix` before `data`.
fn to_backend(lport: u16, prefix: &[u8], data: &[u8]) -> Vec<u8> {
    let mut all = prefix.to_vec();
    all.extend_from_slice(data);
    frame((OURS, RS1), (LIP0, RIP1), (lport, 8080), 63, &all)
}

fn events(p: &Pipeline<TestBuf>) -> crate::pipeline::counters::FragEvents {
    p.counters().events.frag
}

#[test]
fn a_fragmented_first_datagram_gets_the_header_and_leaves_in_fragments_byte_exact() {
    let mut p = pipeline(&config(vec![proxied()]));
    let data = payload(4000, 1);
    let mut frags = fragment(&from_client(&data), 14, 1480);
    frags.reverse();
    let out = run(&mut p, &frags, 0);
    assert!(out.iter().all(|f| f.len() <= 1514), "cut to the MTU");
    assert_eq!(out.len(), 3, "4036 bytes of UDP in 1480-byte pieces");
    let whole = reassemble(&out, 14);
    let lport = seen(&whole).ports.0;
    assert_eq!(whole, to_backend(lport, &v2_header(), &data));
    let e = events(&p);
    assert_eq!((e.reasm_fragments, e.reasm_datagrams), (3, 1));
    assert_eq!((e.first, e.forwarded), (0, 0), "not forwarded piecewise");
    let ev = p.counters().events;
    assert_eq!((ev.proxy_v2_added, ev.proxy_v2_fragmented), (1, 0));

    // The session's next datagram, in fragments too: whole, no header.
    let next = payload(3000, 2);
    let out = run(&mut p, &fragment(&from_client(&next), 14, 1480), 1);
    assert_eq!(reassemble(&out, 14), to_backend(lport, &[], &next));
    assert_eq!(events(&p).reasm_datagrams, 2);
    assert_eq!(p.counters().events.proxy_v2_added, 1);
    // The backend's fragmented reply is forwarded piecewise, as always.
    let reply = frame(
        (RS1, OURS),
        (RIP1, LIP0),
        (8080, lport),
        64,
        &payload(3000, 3),
    );
    let back = run(&mut p, &fragment(&reply, 14, 1480), 2);
    assert_eq!(back.len(), 3);
    let b = seen(&reassemble(&back, 14));
    assert_eq!((b.src, b.dst, b.ports), (VIP, CIP, (80, 40000)));
    assert_eq!(events(&p).reasm_datagrams, 2);
}

#[test]
fn a_datagram_grown_past_the_mtu_by_the_header_is_fragmented_without_df() {
    let mut p = pipeline(&config(vec![proxied()]));
    // 1472 bytes of data: a full 1500-byte packet, 1528 with the header.
    let data = payload(1472, 4);
    let out = run(&mut p, &[from_client(&data)], 0);
    assert_eq!(out.len(), 2, "grown past the MTU, then cut");
    let whole = reassemble(&out, 14);
    assert_eq!(whole, to_backend(seen(&whole).ports.0, &v2_header(), &data));
    assert_eq!(p.counters().events.proxy_v2_no_room, 0);
    // With DF set it may not pass the MTU: no header, counted.
    let mut p = pipeline(&config(vec![proxied()]));
    let mut df = from_client(&data);
    df[20] = 0x40;
    fix_ipv4_checksum(&mut df, 14);
    let out = run(&mut p, &[df], 0);
    assert_eq!(out.len(), 1);
    assert_eq!(p.counters().events.proxy_v2_no_room, 1);
}

#[test]
fn other_services_fragments_are_forwarded_piecewise_not_reassembled() {
    let mut other = service(Mode::FullNat, IpProto::UDP);
    other.vip = std::net::Ipv4Addr::new(192, 0, 2, 20).into();
    let mut p = pipeline(&config(vec![proxied(), other]));
    let d = frame(
        (ROUTER, OURS),
        (CIP, [192, 0, 2, 20]),
        (40000, 80),
        64,
        &payload(3000, 5),
    );
    let out = run(&mut p, &fragment(&d, 14, 1480), 0);
    assert_eq!(out.len(), 3);
    let e = events(&p);
    assert_eq!((e.reasm_fragments, e.first, e.forwarded), (0, 1, 2));
}

#[test]
fn overlapping_duplicate_and_late_fragments_are_counted_by_name() {
    let mut p = pipeline(&config(vec![proxied()]));
    let d = from_client(&payload(4000, 6));
    let frags = fragment(&d, 14, 1480);
    // A repeat is dropped alone; the datagram still completes.
    let out = run(
        &mut p,
        &[
            frags[1].clone(),
            frags[1].clone(),
            frags[0].clone(),
            frags[2].clone(),
        ],
        0,
    );
    assert_eq!(out.len(), 3);
    assert_eq!(drops(&p, DropReason::ReasmDuplicate), 1);
    // Teardrop: the whole datagram goes.
    let other = fragment(&d, 14, 1000);
    let out = run(
        &mut p,
        &[frags[0].clone(), other[1].clone(), frags[1].clone()],
        1,
    );
    assert!(out.is_empty());
    assert_eq!(drops(&p, DropReason::ReasmOverlap), 2);
    assert_eq!(
        events(&p).reasm_fragments,
        3 + 2,
        "taken in, the dropped first one too; the last starts anew"
    );
    // That last one never completes: it times out.
    run(&mut p, &[], 1 + REASM_TIMEOUT_MS + 100);
    assert_eq!(drops(&p, DropReason::ReasmTimeout), 1);
}

#[test]
fn no_reassembly_buffer_is_no_buffer_room() {
    let mut p = pipeline(&config(vec![proxied()]));
    let frags = fragment(&from_client(&payload(3000, 7)), 14, 1480);
    let mut io = MemoryIo::new(vec![frags]);
    io.reasm_limit = Some(0);
    p.poll(&mut io, 0);
    assert_eq!(drops(&p, DropReason::NoBufferRoom), 3);
    assert!(io.sent_frames(0).is_empty());
}

#[test]
fn fragments_over_two_workers_are_reassembled_on_one_and_the_flow_kept_on_its_own() {
    use super::workers_tests::Sim;
    let mut svc = proxied();
    svc.local_addrs.truncate(1);
    svc.local_ports = (40000, 40063);
    let tables = Arc::new(LbTables::build(&config(vec![svc])).expect("builds"));
    let mut sim = Sim::new(&tables, 2);
    let mut handed = 0;
    let key = crate::frag::FragKey {
        src: ip(CIP),
        dst: ip(VIP),
        proto: 17,
        ident: IDENT,
    };
    let reassembler = crate::frag::frag_owner(&key, 2);
    let mut flows_elsewhere = 0;
    for cport in [1000u16, 1001, 1002, 1003] {
        let tuple = crate::tuple::FiveTuple {
            src: ip(CIP),
            dst: ip(VIP),
            src_port: cport,
            dst_port: 80,
            proto: IpProto::UDP,
        };
        flows_elsewhere += usize::from(tables.owners.owner(&tuple, 0, 2) != reassembler);
        let data = payload(4000, usize::from(cport));
        let d = frame((ROUTER, OURS), (CIP, VIP), (cport, 80), 64, &data);
        for (i, f) in fragment(&d, 14, 1480).iter().enumerate() {
            sim.deliver(i + usize::from(cport), f);
        }
        let out: Vec<Vec<u8>> = sim.settle().into_iter().flatten().collect();
        assert_eq!(out.len(), 3, "client port {cport}: {}", sim.dropped());
        let whole = reassemble(&out, 14);
        let s = seen(&whole);
        let mut header = v2_header();
        header[24..26].copy_from_slice(&cport.to_be_bytes());
        let want = frame((OURS, s.macs.1), (LIP0, s.dst), (s.ports.0, 8080), 63, &{
            let mut all = header;
            all.extend_from_slice(&data);
            all
        });
        assert_eq!(whole, want);
        // The session's next datagram, whole, finds the same session.
        let small = frame((ROUTER, OURS), (CIP, VIP), (cport, 80), 64, b"again");
        sim.deliver(usize::from(cport) + 1, &small);
        let again: Vec<Vec<u8>> = sim.settle().into_iter().flatten().collect();
        assert_eq!(seen(&again[0]).ports, s.ports, "one session");
        handed = sim.events().redirects_sent;
    }
    assert_eq!(sim.dropped(), 0);
    assert_eq!(sim.events().frag.reasm_datagrams, 4);
    assert!(handed > 0, "fragments crossed workers");
    assert!(
        flows_elsewhere > 0,
        "some datagrams were reassembled on a worker that does not own their flow"
    );
}
