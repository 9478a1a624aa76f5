//! `nat_udp_fragments`: established UDP flows through NAT whose datagrams,
//! both ways, arrive in three fragments (perf/run.sh's `nat-frag` row):
//! what a fragment costs next to `nat_established`'s whole packets.

use std::sync::Arc;

use criterion::Criterion;
use dataplane::buf::{PacketBuf, TestBuf};
use dataplane::io::MemoryIo;
use dataplane::pipeline::Pipeline;
use dataplane::tables::{LbTables, Mode};
use etherparse::Ipv4HeaderSlice;

use crate::frames::{
    backend, backend_mac, client, client_addr, config, fragmented_udp, FLOWS, OURS, ROUTER, VIP,
};
use crate::{assert_no_drops, measure, poll_all};

/// UDP flow `k`'s datagram from its client (or its backend's reply), in
/// fragments; the IP identification is `k`, so a frame names its flow.
fn datagram(k: u16, from_client: bool) -> Vec<Vec<u8>> {
    let i = ((k / 2) % 4) as u8;
    if from_client {
        fragmented_udp((ROUTER, OURS), client_addr(k), (VIP, 80), k)
    } else {
        let src = (backend(i).octets(), 8080);
        fragmented_udp((backend_mac(i), OURS), src, client_addr(k), k)
    }
}

pub fn bench_nat_udp_fragments(c: &mut Criterion) {
    let name = "pipeline_poll32/nat_udp_fragments";
    let tables = Arc::new(LbTables::build(&config(Mode::Nat)).expect("tables"));
    let mut p: Pipeline<TestBuf> = Pipeline::new(tables, 0, 1, 0).expect("pipeline");
    // FLOWS UDP flows (odd k), opened by one whole datagram each in flow
    // order, so rr gives flow k backend (k / 2) mod 4.
    let flows: Vec<u16> = (0..2 * FLOWS).filter(|k| k % 2 == 1).collect();
    let mut io = MemoryIo::new(vec![flows.iter().map(|&k| client(k, false)).collect()]);
    poll_all(&mut p, &mut io);
    // Datagrams shuffled, each one's fragments in order and together.
    let mut datagrams: Vec<(u16, bool)> = Vec::new();
    for &k in &flows {
        datagrams.push((k, true));
        datagrams.push((k, false));
    }
    let n = datagrams.len();
    let mix: Vec<TestBuf> = (0..n)
        .flat_map(|i| {
            let (k, from_client) = datagrams[(i * 7919) % n];
            datagram(k, from_client)
        })
        .map(|f| TestBuf::new(&f))
        .collect();
    check_forwarded(&mut p, &mut io, &mix);
    io.tx[0].clear();
    let before = p.counters().events;
    let fed = measure(c, name, &mut p, &mut io, &mix);
    let after = p.counters().events;
    assert_eq!(
        after.sessions_created, before.sessions_created,
        "{name}: sessions made"
    );
    assert_no_drops(name, &p);
    let (first, later) = (
        after.frag.first - before.frag.first,
        after.frag.forwarded - before.frag.forwarded,
    );
    // Every fragment fed was forwarded, a first and two later ones per
    // datagram (the last one may be cut off by the end of the measurement).
    assert!(
        first + later == fed && later <= 2 * first && later + 2 >= 2 * first,
        "{name}: {fed} fragments fed, {first} first, {later} later ones forwarded"
    );
    assert_eq!(after.frag.held, before.frag.held, "{name}: fragments held");
}

/// One pass of the whole mix before the clock: every fragment goes out,
/// in order, rewritten as its datagram's first was: to the flow's backend
/// (client fragments) or from the VIP to the client (replies), the
/// identification and offset kept, the header checksum right.
fn check_forwarded(p: &mut Pipeline<TestBuf>, io: &mut MemoryIo, mix: &[TestBuf]) {
    io.tx[0].clear();
    io.rx[0].extend(mix.iter().cloned());
    poll_all(p, io);
    let sent = io.sent_frames(0);
    assert_eq!(sent.len(), mix.len(), "every fragment forwarded");
    for (input, out) in mix.iter().zip(&sent) {
        let i = Ipv4HeaderSlice::from_slice(&input.data()[14..]).expect("ipv4");
        let o = Ipv4HeaderSlice::from_slice(&out[14..]).expect("ipv4");
        let k = i.identification();
        assert_eq!(
            (o.identification(), o.fragments_offset(), o.more_fragments()),
            (k, i.fragments_offset(), i.more_fragments()),
            "the fragment goes out as it came, in order"
        );
        let oh = o.to_header();
        assert_eq!(oh.header_checksum, oh.calc_header_checksum());
        let cip = client_addr(k).0;
        if i.source() == cip {
            let rip = backend(((k / 2) % 4) as u8).octets();
            assert_eq!((o.source(), o.destination()), (cip, rip), "to the backend");
        } else {
            assert_eq!((o.source(), o.destination()), (VIP, cip), "from the VIP");
        }
    }
}
