//! Flow-state micro-benchmarks: session lookup (hit, miss, prefetched burst),
//! insert and expiry at 1k, 1M and 10M sessions; bytes per session; Maglev
//! build.
//!
//! cargo bench -p dataplane --features dpdk --bench flow -- --warm-up-time 1 --measurement-time 3
//! (`--features dpdk` for real prefetches; without, a stand-in load).

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use dataplane::flow::table::{index_len_for, Session};
use dataplane::flow::{NewSession, ProtoState, SessionTable, TableConfig, TcpState};
use dataplane::sched::maglev::{MaglevTable, DEFAULT_SIZE};
use dataplane::sched::Backend;
use dataplane::tuple::{FiveTuple, IpProto};

fn inbound(i: u64) -> FiveTuple {
    FiveTuple {
        src: Ipv4Addr::from(0x0a00_0000u32.wrapping_add(i as u32)),
        dst: Ipv4Addr::new(192, 0, 2, 1),
        src_port: 1024 + (i % 60_000) as u16,
        dst_port: 443,
        proto: IpProto::TCP,
    }
}

fn outbound(i: u64) -> FiveTuple {
    FiveTuple {
        src: Ipv4Addr::new(10, 200, 0, 1),
        dst: Ipv4Addr::from(0xac10_0000u32.wrapping_add(i as u32)),
        src_port: 8443,
        dst_port: 1024 + (i % 60_000) as u16,
        proto: IpProto::TCP,
    }
}

const STATE: ProtoState = ProtoState::Tcp(TcpState::Established);
/// Sessions inserted (and removed, untimed) per timed insert round.
const INSERT_CHUNK: u64 = 4096;

fn filled(n: u64) -> SessionTable {
    let cfg = TableConfig {
        capacity: (n + INSERT_CHUNK) as usize,
        ..TableConfig::default()
    };
    let mut t = SessionTable::new(cfg, 0).expect("table config");
    for i in 0..n {
        t.insert(&NewSession::new(inbound(i), outbound(i), 0, STATE), 0)
            .expect("room for the fill");
    }
    t
}

/// Visits 0..n in a scattered order: a stride coprime with n.
fn scattered(k: u64, n: u64) -> u64 {
    k.wrapping_mul(0x9e37_79b9_7f4a_7c15 | 1) % n
}

fn sessions(c: &mut Criterion) {
    for (n, label) in [(1_000u64, "1k"), (1_000_000, "1M"), (10_000_000, "10M")] {
        let started = Instant::now();
        let mut t = filled(n);
        let fill = started.elapsed();
        let cap = t.capacity();
        let per_session =
            (cap * std::mem::size_of::<Session>() + index_len_for(cap) * 8) as f64 / cap as f64;
        println!(
            "sessions {label}: {n} inserted in {:.2} s; {:.1} B/session (slab + both index entries), \
             {:.1} B/session with the fixed wheel; {} MiB total",
            fill.as_secs_f64(),
            per_session,
            t.memory_bytes() as f64 / cap as f64,
            t.memory_bytes() >> 20
        );
        let mut g = c.benchmark_group(format!("session_{label}"));
        if n >= 10_000_000 {
            g.sample_size(20);
        }
        let mut k = 0u64;
        g.bench_function("lookup_hit", |b| {
            b.iter(|| {
                k += 1;
                let key = if k & 1 == 0 {
                    inbound(scattered(k, n))
                } else {
                    outbound(scattered(k, n))
                };
                black_box(t.lookup(black_box(&key)))
            })
        });
        g.bench_function("lookup_miss", |b| {
            b.iter(|| {
                k += 1;
                black_box(t.lookup(black_box(&inbound(n + INSERT_CHUNK + scattered(k, n)))))
            })
        });
        // One iteration is a burst of 32: divide by 32 for ns per lookup.
        g.bench_function("lookup_hit_burst32_prefetched", |b| {
            b.iter_batched(
                || {
                    let mut keys = [inbound(0); 32];
                    for key in keys.iter_mut() {
                        k += 1;
                        *key = inbound(scattered(k, n));
                    }
                    keys
                },
                |keys| {
                    // Staged so each pass's misses are in flight together:
                    // hash all, touch all index lines, touch all sessions.
                    let mut hashes = [0u64; 32];
                    for (h, key) in hashes.iter_mut().zip(&keys) {
                        *h = t.hash(key);
                    }
                    for h in &hashes {
                        t.prefetch_hashed(*h);
                    }
                    for h in &hashes {
                        t.prefetch_candidate(*h);
                    }
                    for (h, key) in hashes.iter().zip(&keys) {
                        black_box(t.lookup_hashed(key, *h));
                    }
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function("insert", |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let chunk = INSERT_CHUNK.min(iters - done);
                    let base = n + 1_000_000_000;
                    let start = Instant::now();
                    for i in base..base + chunk {
                        let _ = black_box(
                            t.insert(&NewSession::new(inbound(i), outbound(i), 0, STATE), 0),
                        );
                    }
                    timed += start.elapsed();
                    for i in base..base + chunk {
                        if let Some(hit) = t.lookup(&inbound(i)) {
                            t.remove(hit.id);
                        }
                    }
                    done += chunk;
                }
                timed
            })
        });
        // Churn at full table: a chunk of short-lived sessions inserted
        // (untimed), then expired when their tick comes (timed): the index
        // removals of a SYN flood's steady state.
        let mut clock = 0u64;
        g.bench_function("expire", |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let chunk = INSERT_CHUNK.min(iters - done);
                    let base = n + 2_000_000_000 + clock;
                    for i in base..base + chunk {
                        let _ = t.insert(
                            &NewSession {
                                timeout_ms: Some(1),
                                ..NewSession::new(inbound(i), outbound(i), 0, STATE)
                            },
                            clock,
                        );
                    }
                    clock += 1_000;
                    let start = Instant::now();
                    black_box(t.expire(clock, chunk as usize, |_, _| {}));
                    timed += start.elapsed();
                    done += chunk;
                }
                timed
            })
        });
        g.finish();
    }
}

fn maglev(c: &mut Criterion) {
    let mut g = c.benchmark_group("maglev_build_65537");
    for n in [100usize, 1000] {
        let mut backends: Vec<Backend> = (0..n)
            .map(|i| Backend {
                id: i as u32,
                addr: Ipv4Addr::new(10, 1, (i / 250) as u8, (i % 250) as u8 + 1).into(),
                port: 8080,
                weight: 1,
            })
            .collect();
        backends.sort_by_key(Backend::identity);
        g.bench_function(format!("{n}_backends"), |b| {
            b.iter(|| MaglevTable::build(black_box(&backends), DEFAULT_SIZE).expect("prime size"))
        });
    }
    g.finish();
}

criterion_group!(benches, sessions, maglev);
criterion_main!(benches);
