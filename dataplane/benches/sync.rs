//! Session sync on one worker (docs/session-sync.md), without DPDK:
//!
//! - `sync/open32_off` and `sync/open32_on`: `Pipeline::poll` of 32 SYNs,
//!   each a new NAT session, without and with sync on (each new session
//!   queues a record): the difference is what sync costs a worker per new
//!   flow;
//! - `sync/install32`: a poll that installs 32 peer records (new NAT
//!   sessions): sessions synced per second on one receiving worker;
//! - `sync/datagram35`: the sync thread's share, one full datagram of 35
//!   records encoded, signed, verified and decoded.
//!
//! cargo bench -p dataplane --features dpdk --bench sync -- --warm-up-time 1 --measurement-time 3

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use dataplane::buf::TestBuf;
use dataplane::flow::table::Forwarding;
use dataplane::flow::{ProtoState, TableConfig, TcpState};
use dataplane::io::MemoryIo;
use dataplane::pipeline::Pipeline;
use dataplane::sched::SchedulerKind;
use dataplane::sync::hmac::Key;
use dataplane::sync::wire::{decode, Encoder, Header, MAX_RECORDS};
use dataplane::sync::{links, RecordKind, SessionRecord, SyncPort};
use dataplane::tables::{
    BackendSpec, Interface, LbConfig, LbTables, Mode, PortSetup, ServiceSpec, StaticRoute,
};
use dataplane::tuple::{FiveTuple, IpProto};
use dataplane::wire::ethernet::MacAddr;
use etherparse::PacketBuilder;

const OURS: [u8; 6] = [2, 0, 0, 0, 0, 0xaa];
const ROUTER: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
const VIP: [u8; 4] = [192, 0, 2, 10];
const BURST: usize = 32;
/// Sessions a pipeline takes before the bench starts a fresh one (untimed).
const CAPACITY: usize = 1 << 18;

fn backend(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1, 11 + i)
}

fn config() -> LbConfig {
    let mut neighbours = vec![(Ipv4Addr::new(10, 0, 0, 254), MacAddr(ROUTER))];
    neighbours.extend((0..4).map(|i| (backend(i), MacAddr([2, 0, 0, 0, 1, 11 + i]))));
    LbConfig {
        standby: Default::default(),
        kernel: Vec::new(),
        garp: Default::default(),
        synproxy: Default::default(),
        ports: vec![PortSetup {
            mac: MacAddr(OURS),
            mtu: 1500,
        }],
        interfaces: vec![Interface {
            port: 0,
            vlan: None,
            addrs: vec![
                (Ipv4Addr::new(10, 0, 0, 1), 24),
                (Ipv4Addr::new(10, 0, 1, 1), 24),
            ],
            addrs6: Vec::new(),
        }],
        routes: vec![StaticRoute {
            prefix: Ipv4Addr::UNSPECIFIED,
            len: 0,
            via: Ipv4Addr::new(10, 0, 0, 254),
        }],
        routes6: Vec::new(),
        neighbours6: Vec::new(),
        neighbours,
        services: vec![ServiceSpec {
            name: None,
            vip: Ipv4Addr::from(VIP).into(),
            proto: IpProto::TCP,
            port: 80,
            extra_ports: 0,
            also_listen: Vec::new(),
            one_packet: false,
            mode: Mode::Nat,
            scheduler: SchedulerKind::RoundRobin,
            persistence: None,
            pickup: false,
            local_addrs: Vec::new(),
            local_addrs6: Vec::new(),
            local_ports: (1024, 65535),
            timeouts: None,
            acl: Default::default(),
            mss_clamp: None,
            new_conn_rate: None,
            client_rate: None,
            toa: false,
            proxy_protocol: None,
            syn_proxy: false,
            backends: (0..4)
                .map(|i| BackendSpec {
                    addr: backend(i).into(),
                    port: 8080,
                    weight: 1,
                    u_threshold: 0,
                    l_threshold: 0,
                })
                .collect(),
        }],
        snat: Vec::new(),
        sessions: TableConfig {
            capacity: CAPACITY + 1024,
            ..TableConfig::default()
        },
    }
}

/// Client `k`'s endpoint: every k a distinct flow.
fn client(k: u32) -> ([u8; 4], u16) {
    let a = 0xc612_0000u32 + (k >> 10);
    (a.to_be_bytes(), 10_000 + (k & 1023) as u16)
}

fn syn(k: u32) -> TestBuf {
    let (src, port) = client(k);
    let mut v = Vec::new();
    PacketBuilder::ethernet2(ROUTER, OURS)
        .ipv4(src, VIP, 64)
        .tcp(port, 80, 1, 64240)
        .syn()
        .write(&mut v, b"")
        .expect("frame");
    TestBuf::new(&v)
}

fn record(k: u32) -> SessionRecord {
    let (src, port) = client(k);
    let b = backend((k % 4) as u8);
    let inbound = FiveTuple {
        src: src.into(),
        dst: VIP.into(),
        src_port: port,
        dst_port: 80,
        proto: IpProto::TCP,
    };
    SessionRecord {
        kind: RecordKind::Created,
        forwarding: Forwarding::Nat,
        state: ProtoState::Tcp(TcpState::SynRecv),
        inbound,
        outbound: FiveTuple {
            src: b,
            dst: inbound.src,
            src_port: 8080,
            dst_port: port,
            proto: IpProto::TCP,
        },
        backend: (b, 8080),
        timeout_ms: 30_000,
        splice: None,
    }
}

/// A fresh worker, with sync on or off.
fn worker(sync: bool) -> (Pipeline<TestBuf>, Option<SyncPort>) {
    let tables = Arc::new(LbTables::build(&config()).expect("tables"));
    let mut p = Pipeline::new(tables, 0, 1, 0).expect("pipeline");
    if !sync {
        return (p, None);
    }
    let (mut ports, mut l) = links(1, 4096, 4096);
    p.attach_sync(l.remove(0));
    (p, Some(ports.remove(0)))
}

fn bench_open(c: &mut Criterion, name: &str, sync: bool) {
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let (mut p, mut port) = worker(sync);
            let mut io = MemoryIo::new(vec![Vec::new()]);
            let (mut k, mut timed) = (0u32, Duration::ZERO);
            for _ in 0..iters {
                if k as usize + BURST > CAPACITY {
                    (p, port) = worker(sync);
                    k = 0;
                }
                io.rx[0].extend((0..BURST as u32).map(|j| syn(k + j)));
                k += BURST as u32;
                io.tx[0].clear();
                let start = Instant::now();
                black_box(p.poll(&mut io, 0));
                timed += start.elapsed();
                if let Some(port) = &mut port {
                    while port.take().is_some() {}
                }
            }
            timed
        })
    });
}

fn bench_install(c: &mut Criterion) {
    c.bench_function("sync/install32", |b| {
        b.iter_custom(|iters| {
            let (mut p, mut port) = worker(true);
            let mut io = MemoryIo::new(vec![Vec::new()]);
            let (mut k, mut timed) = (0u32, Duration::ZERO);
            for _ in 0..iters {
                if k as usize + BURST > CAPACITY {
                    (p, port) = worker(true);
                    k = 0;
                }
                let give = port.as_mut().expect("sync on");
                for j in 0..BURST as u32 {
                    assert!(give.give(record(k + j)));
                }
                k += BURST as u32;
                let start = Instant::now();
                black_box(p.poll(&mut io, 0));
                timed += start.elapsed();
            }
            timed
        })
    });
}

fn bench_datagram(c: &mut Criterion) {
    let key = Key::new(b"0123456789abcdef0123");
    let records: Vec<SessionRecord> = (0..MAX_RECORDS as u32).map(record).collect();
    let header = Header {
        boot_id: 1,
        sequence: 1,
        workers: 1,
    };
    let mut e = Encoder::default();
    c.bench_function("sync/datagram35", |b| {
        b.iter(|| {
            for r in &records {
                e.push(r);
            }
            let bytes = e.finish(&header, Some(&key)).to_vec();
            e.clear();
            let d = decode(&bytes, Some(&key)).expect("decodes");
            black_box(d.records().filter(|r| r.is_ok()).count())
        })
    });
}

fn all(c: &mut Criterion) {
    bench_open(c, "sync/open32_off", false);
    bench_open(c, "sync/open32_on", true);
    bench_install(c);
    bench_datagram(c);
}

criterion_group!(benches, all);
criterion_main!(benches);
