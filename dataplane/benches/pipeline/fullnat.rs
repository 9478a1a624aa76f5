//! `fullnat_established` and `fullnat_spliced` (issue 21): the same
//! FULLNAT TCP flows, both ways, with timestamps on every segment, opened
//! by a plain handshake through the balancer or through the SYN proxy
//! (`syn_proxy = true`), whose sessions translate every segment's
//! sequence, acknowledgment and timestamps. The goal: spliced within 10%
//! of plain (`perf/callgrind.sh --slope fullnat_established
//! fullnat_spliced`).
//!
//! Every flow is TCP (flow k: client k, backend k mod 4 by rr): a UDP half
//! as in `nat_established` would not be translated and would halve the
//! difference being measured.

use std::collections::HashMap;
use std::sync::Arc;

use criterion::Criterion;
use dataplane::buf::TestBuf;
use dataplane::io::MemoryIo;
use dataplane::pipeline::Pipeline;
use dataplane::tables::{LbTables, Mode};

use crate::frames::{
    backend, backend_mac, client_addr, config, sent, tcp, Seg, Sent, FLOWS, LADDR, OURS, ROUTER,
    VIP,
};
use crate::{assert_no_drops, measure, poll_all};

const DATA: &[u8] = b"abcdef";

/// One flow after its handshake: what its segments carry.
struct Flow {
    client: ([u8; 4], u16),
    backend: ([u8; 4], u16),
    /// The (local address, local port) FULLNAT gave it.
    local: ([u8; 4], u16),
    /// The client's ISN, the backend's, and the server ISN the client saw
    /// (the backend's, or with the proxy the cookie).
    isn: u32,
    backend_isn: u32,
    seen_isn: u32,
    /// The last timestamps each side saw of the other.
    client_echo: u32,
    backend_echo: u32,
}

/// Feeds `frame` to the pipeline and returns what it sent.
fn step(p: &mut Pipeline<TestBuf>, io: &mut MemoryIo, frame: &[u8]) -> Vec<Sent> {
    io.tx[0].clear();
    io.rx[0].push_back(TestBuf::new(frame));
    poll_all(p, io);
    p.poll(io, 0);
    io.sent_frames(0).iter().filter_map(|f| sent(f)).collect()
}

/// The only segment sent, which must go from `from` to `to`.
fn one(out: &[Sent], from: Option<([u8; 4], u16)>, to: ([u8; 4], u16), what: &str) -> Sent {
    assert_eq!(out.len(), 1, "{what}: one segment out, got {out:?}");
    let s = out[0];
    assert_eq!(s.dst, to, "{what}: to");
    if let Some(f) = from {
        assert_eq!(s.src, f, "{what}: from");
    }
    s
}

/// Opens flow `k`: SYN from the client, then (with the proxy) our cookie
/// SYN-ACK and the client's ACK, the SYN to the backend, the backend's
/// SYN-ACK, and (without the proxy) the client's ACK.
fn open(p: &mut Pipeline<TestBuf>, io: &mut MemoryIo, k: u16, proxied: bool) -> Flow {
    let client = client_addr(k);
    let b = (k % 4) as u8;
    let backend = (backend(b).octets(), 8080);
    let isn = 0x7000_0000u32.wrapping_add(u32::from(k) * 1000);
    let backend_isn = 0x9000_0000u32.wrapping_add(u32::from(k) * 7777);
    let from_client = |seq, ack, syn, ts| Seg {
        macs: (ROUTER, OURS),
        src: client,
        dst: (VIP, 80),
        seq,
        ack,
        syn,
        ts,
        payload: b"",
    };
    let mut out = step(p, io, &tcp(&from_client(isn, None, true, (100, 0))));
    let mut cookie = None;
    if proxied {
        let sa = one(&out, Some((VIP, 80)), client, "cookie SYN-ACK");
        assert!(sa.syn, "a SYN-ACK");
        let our_ts = sa.ts.expect("the SYN-ACK has a timestamp").0;
        cookie = Some(sa.seq);
        let ack = from_client(isn + 1, Some(sa.seq + 1), false, (101, our_ts));
        out = step(p, io, &tcp(&ack));
    }
    let syn = one(&out, None, backend, "SYN to the backend");
    assert!(
        syn.syn && syn.seq == isn,
        "the backend SYN carries the client's ISN"
    );
    assert_eq!(syn.src.0, LADDR, "from the local address");
    let local = syn.src;
    let syn_ts = syn.ts.expect("the backend SYN has a timestamp").0;
    let sa = Seg {
        macs: (backend_mac(b), OURS),
        src: backend,
        dst: local,
        seq: backend_isn,
        ack: Some(isn + 1),
        syn: true,
        ts: (5000, syn_ts),
        payload: b"",
    };
    let out = step(p, io, &tcp(&sa));
    let seen_isn = match cookie {
        Some(c) => {
            let ack = one(&out, Some(local), backend, "the proxy's ACK to the backend");
            assert_eq!(ack.ack, backend_isn + 1, "acknowledges the backend's SYN");
            c
        }
        None => {
            let sa = one(&out, Some((VIP, 80)), client, "SYN-ACK to the client");
            let ack = from_client(isn + 1, Some(sa.seq + 1), false, (101, 5000));
            one(&step(p, io, &tcp(&ack)), Some(local), backend, "client ACK");
            sa.seq
        }
    };
    Flow {
        client,
        backend,
        local,
        isn,
        backend_isn,
        seen_isn,
        client_echo: 5000,
        backend_echo: 101,
    }
}

/// Flow `f`'s data segment from the client (or from the backend).
fn data(f: &Flow, from_client: bool) -> Vec<u8> {
    let b = f.backend.0[3] - 11;
    tcp(&if from_client {
        Seg {
            macs: (ROUTER, OURS),
            src: f.client,
            dst: (VIP, 80),
            seq: f.isn + 1,
            ack: Some(f.seen_isn + 1),
            syn: false,
            ts: (200, f.client_echo),
            payload: DATA,
        }
    } else {
        Seg {
            macs: (backend_mac(b), OURS),
            src: f.backend,
            dst: f.local,
            seq: f.backend_isn + 1,
            ack: Some(f.isn + 1),
            syn: false,
            ts: (6000, f.backend_echo),
            payload: DATA,
        }
    })
}

pub fn bench_fullnat(c: &mut Criterion, name: &str, proxied: bool) {
    let mut cfg = config(Mode::FullNat);
    cfg.services[0].syn_proxy = proxied;
    let tables = Arc::new(LbTables::build(&cfg).expect("tables"));
    let mut p: Pipeline<TestBuf> = Pipeline::new(tables, 0, 1, 0).expect("pipeline");
    let mut io = MemoryIo::new(vec![Vec::new()]);
    let flows: Vec<Flow> = (0..FLOWS)
        .map(|k| open(&mut p, &mut io, k, proxied))
        .collect();
    let spliced = p.counters().events.synproxy_spliced;
    assert_eq!(spliced, if proxied { u64::from(FLOWS) } else { 0 });
    // Both ways, shuffled as in nat_established.
    let n = 2 * flows.len();
    let order: Vec<(usize, bool)> = (0..n)
        .map(|i| (i * 7919) % n)
        .map(|j| (j / 2, j % 2 == 0))
        .collect();
    let mix: Vec<TestBuf> = order
        .iter()
        .map(|&(f, from_client)| TestBuf::new(&data(&flows[f], from_client)))
        .collect();
    check_translated(&mut p, &mut io, &flows, &order, &mix, proxied);
    io.tx[0].clear();
    let before = p.counters().events;
    let counted_before = counted(&p);
    let fed = measure(c, name, &mut p, &mut io, &mix);
    let after = p.counters().events;
    assert_eq!(
        after.sessions_created, before.sessions_created,
        "{name}: sessions made"
    );
    assert_no_drops(name, &p);
    let counted = counted(&p) - counted_before;
    assert_eq!(
        counted, fed,
        "{name}: packets fed and counted on the backends"
    );
    assert_eq!(
        (after.synproxy_spliced, after.synproxy_syn_resent),
        (before.synproxy_spliced, before.synproxy_syn_resent),
        "{name}: handshakes in the measured part"
    );
}

/// Packets counted on the backends, both ways.
fn counted(p: &Pipeline<TestBuf>) -> u64 {
    let c = p.counters();
    c.backends
        .iter()
        .map(|b| b.packets_in + b.packets_out)
        .sum()
}

/// One pass of the whole mix before the clock: every segment goes out in
/// order, FULLNAT-rewritten, its numbers in the receiver's space. With the
/// proxy the backend's sequence numbers reach the client moved by
/// (cookie - backend ISN) and the client's acknowledgments reach the
/// backend moved back; without it they pass as they are.
fn check_translated(
    p: &mut Pipeline<TestBuf>,
    io: &mut MemoryIo,
    flows: &[Flow],
    order: &[(usize, bool)],
    mix: &[TestBuf],
    proxied: bool,
) {
    io.tx[0].clear();
    io.rx[0].extend(mix.iter().cloned());
    poll_all(p, io);
    let out: Vec<Sent> = io.sent_frames(0).iter().filter_map(|f| sent(f)).collect();
    assert_eq!(out.len(), mix.len(), "every segment forwarded");
    let mut moved = HashMap::new();
    for (&(i, from_client), s) in order.iter().zip(&out) {
        let f = &flows[i];
        if from_client {
            assert_eq!((s.src, s.dst), (f.local, f.backend));
            assert_eq!(
                (s.seq, s.ack),
                (f.isn + 1, f.backend_isn + 1),
                "to the backend"
            );
        } else {
            assert_eq!((s.src, s.dst), ((VIP, 80), f.client));
            assert_eq!((s.seq, s.ack), (f.seen_isn + 1, f.isn + 1), "to the client");
            *moved.entry(s.seq != f.backend_isn + 1).or_insert(0) += 1;
        }
    }
    // Every reply's sequence number was translated (proxy), or none was.
    assert_eq!(
        moved.get(&proxied).copied(),
        Some(flows.len()),
        "replies with their sequence number moved: {moved:?}"
    );
}
