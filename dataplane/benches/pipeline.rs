//! The whole per-packet decision, without DPDK: `Pipeline::poll` on
//! in-memory ports (`MemoryIo`, heap-backed `TestBuf`s built before the
//! clock starts), for established flows. It isolates the pipeline's share of
//! a packet's time from the PMDs' (perf/run.sh measures both together), so
//! a change to the fast path can be judged in a few seconds.
//!
//! cargo bench -p dataplane --features dpdk --bench pipeline -- --warm-up-time 1 --measurement-time 3
//! (`--features dpdk` for real prefetches). One iteration is one poll of
//! 32 packets: divide by 32 for ns per packet (`nat_redirected`: a poll of
//! each of two workers for 32 packets that cross the redirect ring).
//! `perf/callgrind.sh` counts instructions per packet instead.
//!
//! Cases: DR and NAT established flows (DR over IPv6 too,
//! `pipeline/dr6.rs`; with a trace armed, and NAT with
//! every packet redirected to a second worker), SYN-proxy cookies, NAT UDP
//! datagrams in fragments (`pipeline/fragments.rs`), FULLNAT TCP flows
//! plain and spliced by the SYN proxy (`pipeline/fullnat.rs`), FULLNAT and
//! NAT over IPv6 both ways (`pipeline/fullnat6.rs`), NAT64's IPv6 clients to IPv4
//! backends both ways (`pipeline/nat64.rs`); config and
//! frames in `pipeline/frames.rs`.

// The bench's own modules, beside it in pipeline/ (a bench's root file
// looks for modules next to itself, hence the paths).
#[path = "pipeline/dr6.rs"]
mod dr6;
#[path = "pipeline/fragments.rs"]
mod fragments;
#[path = "pipeline/frames.rs"]
mod frames;
#[path = "pipeline/fullnat.rs"]
mod fullnat;
#[path = "pipeline/fullnat6.rs"]
mod fullnat6;
#[path = "pipeline/nat64.rs"]
mod nat64;

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use dataplane::buf::TestBuf;
use dataplane::io::MemoryIo;
use dataplane::packet::{classify, Classified};
use dataplane::pipeline::redirect::{mesh, RING_CAPACITY};
use dataplane::pipeline::Pipeline;
use dataplane::tables::{LbTables, Mode};
use dataplane::watch::{TraceRecord, TraceSpec, WatchSpec};
use ferrolb_types::filter::{Filter, Side};
use frames::{client, config, reply, FLOWS};

const BURST: usize = 32;

/// Times `p.poll` over bursts of 32 taken in turn from `mix` (wrapping),
/// on port 0 of `io`; one iteration is one poll. Returns the packets fed
/// (none when the case was filtered out).
fn measure(
    c: &mut Criterion,
    name: &str,
    p: &mut Pipeline<TestBuf>,
    io: &mut MemoryIo,
    mix: &[TestBuf],
) -> u64 {
    let n = mix.len();
    let mut at = 0;
    let mut fed = 0u64;
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                io.rx[0].extend((0..BURST).map(|j| mix[(at + j) % n].clone()));
                at = (at + BURST) % n;
                fed += BURST as u64;
                io.tx[0].clear();
                let start = Instant::now();
                black_box(p.poll(io, 0));
                timed += start.elapsed();
            }
            timed
        })
    });
    fed
}

fn assert_no_drops(name: &str, p: &Pipeline<TestBuf>) {
    let drops: u64 = p.counters().drops.iter().map(|(_, n)| n).sum();
    assert_eq!(drops, 0, "{name}: drops {:?}", p.counters().drops);
}

fn poll_all(p: &mut Pipeline<TestBuf>, io: &mut MemoryIo) {
    while !io.rx[0].is_empty() {
        p.poll(io, 0);
    }
}

/// A trace armed on a filter no packet of the bench matches: what an
/// armed trace costs the packets it does not follow.
fn arm_nonmatching_trace(p: &mut Pipeline<TestBuf>) -> dataplane::watch::Receiver<TraceRecord> {
    let filter = Filter::Host(Side::Either, Ipv4Addr::new(203, 0, 113, 99));
    let (out, records) = dataplane::watch::queue(16);
    p.arm_watch(WatchSpec {
        trace: Some(Arc::new(TraceSpec {
            filter: filter.compile().expect("compiles"),
            port: None,
            budget: AtomicU32::new(10),
            out,
            lost: Default::default(),
        })),
        capture: None,
    });
    records
}

fn bench_mode(c: &mut Criterion, name: &str, mode: Mode, replies: bool, traced: bool) {
    let tables = Arc::new(LbTables::build(&config(mode)).expect("tables"));
    let mut p: Pipeline<TestBuf> = Pipeline::new(tables, 0, 1, 0).expect("pipeline");
    let records = traced.then(|| arm_nonmatching_trace(&mut p));
    // Open every flow (in flow order, so rr's choice is known), then the
    // steady mix: client packets, and for NAT the replies in between.
    let mut io = MemoryIo::new(vec![(0..FLOWS).map(|k| client(k, true)).collect()]);
    poll_all(&mut p, &mut io);
    let mut mix: Vec<Vec<u8>> = Vec::new();
    for k in 0..FLOWS {
        mix.push(client(k, false));
        if replies {
            mix.push(reply(k));
        }
    }
    // Shuffle deterministically so consecutive packets are not neighbours.
    let n = mix.len();
    let order: Vec<usize> = (0..n).map(|i| (i * 7919) % n).collect();
    let mix: Vec<TestBuf> = order.iter().map(|&i| TestBuf::new(&mix[i])).collect();
    io.tx[0].clear();
    let sessions = p.counters().events.sessions_created;
    measure(c, name, &mut p, &mut io, &mix);
    // Every packet went out and no session was made: the bench measured
    // established flows only.
    assert_eq!(
        p.counters().events.sessions_created,
        sessions,
        "{name}: sessions made"
    );
    assert_no_drops(name, &p);
    if let Some(r) = records {
        assert!(r.try_recv().is_err(), "{name}: the filter matched nothing");
    }
}

/// Two workers: every packet reaches worker 0's queue but belongs to
/// worker 1 (NAT places a flow by its client), so worker 0 classifies it
/// and hands it over on the ring, and worker 1 takes it and forwards it.
/// One iteration is a poll of each worker for one burst of 32: against
/// `nat_established` it prices the handoff (perf/callgrind.sh divides by
/// 16, two polls per 32 packets).
fn bench_redirected(c: &mut Criterion) {
    let name = "pipeline_poll32/nat_redirected";
    let tables = Arc::new(LbTables::build(&config(Mode::Nat)).expect("tables"));
    tables.check_workers(2).expect("two workers");
    let mut links = mesh(2, RING_CAPACITY).into_iter();
    let mut pipes: Vec<Pipeline<TestBuf>> = (0..2)
        .map(|w| {
            let mut p = Pipeline::new(Arc::clone(&tables), w, 2, 0).expect("pipeline");
            p.connect(links.next().expect("links")).expect("links fit");
            p
        })
        .collect();
    let owned_by_1 = |frame: &[u8]| {
        let Ok(Classified::Ipv4(m)) = classify(frame) else {
            return false;
        };
        tables.owners.owner(&m.tuple, 0, 2) == 1
    };
    let flows: Vec<u16> = (0..FLOWS * 2)
        .filter(|&k| owned_by_1(&client(k, true)))
        .take(usize::from(FLOWS))
        .collect();
    let mut ios = [
        MemoryIo::new(vec![Vec::new()]),
        MemoryIo::new(vec![Vec::new()]),
    ];
    // Open every flow through worker 0's queue, in flow order.
    for &k in &flows {
        ios[0].rx[0].push_back(TestBuf::new(&client(k, true)));
    }
    while !ios[0].rx[0].is_empty() {
        for (p, io) in pipes.iter_mut().zip(&mut ios) {
            p.poll(io, 0);
        }
    }
    for _ in 0..4 {
        for (p, io) in pipes.iter_mut().zip(&mut ios) {
            p.poll(io, 0);
        }
    }
    let opened = pipes[1].counters().events.sessions_created;
    assert_eq!(opened, flows.len() as u64, "every flow opened on worker 1");
    let n = flows.len();
    let order: Vec<usize> = (0..n).map(|i| (i * 7919) % n).collect();
    let mix: Vec<TestBuf> = order
        .iter()
        .map(|&i| TestBuf::new(&client(flows[i], false)))
        .collect();
    let mut at = 0;
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                ios[0].rx[0].extend((0..BURST).map(|j| mix[(at + j) % n].clone()));
                at = (at + BURST) % n;
                ios[1].tx[0].clear();
                let start = Instant::now();
                for (p, io) in pipes.iter_mut().zip(&mut ios) {
                    black_box(p.poll(io, 0));
                }
                timed += start.elapsed();
            }
            timed
        })
    });
    let c1 = pipes[1].counters();
    assert_eq!(c1.events.sessions_created, opened, "{name}: sessions made");
    assert!(
        ios[0].tx[0].is_empty(),
        "{name}: worker 0 sent nothing itself"
    );
    let drops: u64 = pipes
        .iter()
        .map(|p| p.counters().drops.iter().map(|(_, n)| n).sum::<u64>())
        .sum();
    assert_eq!(drops, 0, "{name}: drops");
}

fn pipeline(c: &mut Criterion) {
    bench_mode(c, "pipeline_poll32/dr_established", Mode::Dr, false, false);
    dr6::bench_dr6(c);
    bench_mode(c, "pipeline_poll32/nat_established", Mode::Nat, true, false);
    bench_mode(c, "pipeline_poll32/dr_trace_armed", Mode::Dr, false, true);
    bench_mode(c, "pipeline_poll32/nat_trace_armed", Mode::Nat, true, true);
    bench_redirected(c);
    bench_syn_proxy(c);
    fragments::bench_nat_udp_fragments(c);
    fullnat::bench_fullnat(c, "pipeline_poll32/fullnat_established", false);
    fullnat::bench_fullnat(c, "pipeline_poll32/fullnat_spliced", true);
    fullnat6::bench_nat6(c, Mode::FullNat);
    fullnat6::bench_nat6(c, Mode::Nat);
    nat64::bench_nat64(c);
}

/// SYNs to a `syn_proxy` NAT service: each answered with a cookie SYN-ACK
/// out of the port it came in by, no session made. The pipeline's share of
/// perf/run.sh's `syn-proxy` row.
fn bench_syn_proxy(c: &mut Criterion) {
    let name = "pipeline_poll32/syn_proxy_answer";
    let mut cfg = config(Mode::Nat);
    cfg.services[0].syn_proxy = true;
    let tables = Arc::new(LbTables::build(&cfg).expect("tables"));
    let mut p: Pipeline<TestBuf> = Pipeline::new(tables, 0, 1, 0).expect("pipeline");
    // Even flows are TCP: their SYNs.
    let syns: Vec<TestBuf> = (0..FLOWS)
        .filter(|k| k % 2 == 0)
        .map(|k| TestBuf::new(&client(k, true)))
        .collect();
    let n = syns.len();
    let mut io = MemoryIo::new(vec![Vec::new()]);
    let mut at = 0;
    let mut sent = 0u64;
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                io.rx[0].extend((0..BURST).map(|j| syns[(at + j) % n].clone()));
                at = (at + BURST) % n;
                sent += BURST as u64;
                io.tx[0].clear();
                let start = Instant::now();
                black_box(p.poll(&mut io, 0));
                timed += start.elapsed();
            }
            timed
        })
    });
    let counters = p.counters();
    assert_eq!(
        counters.events.synproxy_syn_answered, sent,
        "{name}: every SYN answered"
    );
    assert_eq!(counters.events.sessions_created, 0, "{name}: sessions made");
    let drops: u64 = counters.drops.iter().map(|(_, n)| n).sum();
    assert_eq!(drops, 0, "{name}: drops {:?}", counters.drops);
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
