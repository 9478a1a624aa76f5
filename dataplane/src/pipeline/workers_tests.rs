//! Several workers, simulated on one thread: each has its own queue (a
//! `MemoryIo`) and pipeline, joined by the redirect rings. Whatever queue a
//! packet arrives on, the flow must be forwarded as one worker forwards it.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::Arc;

use proptest::prelude::*;

use super::redirect::mesh;
use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::io::MemoryIo;
use crate::sched::{Persistence, SchedulerKind};
use crate::tables::owner::flow_hash;
use crate::tables::*;

/// Workers on one thread, polled in turn.
pub(super) struct Sim {
    pub(super) pipes: Vec<Pipeline<TestBuf>>,
    pub(super) ios: Vec<MemoryIo>,
}

impl Sim {
    pub(super) fn new(tables: &Arc<LbTables>, workers: usize) -> Sim {
        let mut pipes = Vec::new();
        for (w, links) in mesh(workers, 64).into_iter().enumerate() {
            let mut p = Pipeline::new(Arc::clone(tables), w, workers, 0).expect("pipeline");
            p.connect(links).expect("links fit");
            pipes.push(p);
        }
        Sim {
            pipes,
            ios: (0..workers)
                .map(|_| MemoryIo::new(vec![Vec::new()]))
                .collect(),
        }
    }

    /// Queues `frame` on worker `queue`'s RX queue.
    pub(super) fn deliver(&mut self, queue: usize, frame: &[u8]) {
        let n = self.ios.len();
        self.ios[queue % n].rx[0].push_back(TestBuf::new(frame));
    }

    /// Polls every worker in turn until none has anything left, and
    /// returns what they sent, worker by worker.
    pub(super) fn settle(&mut self) -> Vec<Vec<Vec<u8>>> {
        loop {
            let mut busy = false;
            for (p, io) in self.pipes.iter_mut().zip(&mut self.ios) {
                let out = p.poll(io, 0);
                busy |= out.received + out.handed_in > 0;
            }
            if !busy && self.ios.iter().all(|io| io.rx[0].is_empty()) {
                break;
            }
        }
        self.ios
            .iter_mut()
            .map(|io| io.tx[0].drain(..).map(|b| b.data().to_vec()).collect())
            .collect()
    }

    pub(super) fn events(&self) -> Events {
        let mut e = Events::default();
        for p in &self.pipes {
            e.add(&p.counters().events);
        }
        e
    }

    pub(super) fn dropped(&self) -> u64 {
        self.pipes
            .iter()
            .map(|p| p.counters().drops.iter().map(|(_, n)| n).sum::<u64>())
            .sum()
    }
}

use counters::Events;

const LIP: [u8; 4] = [10, 0, 1, 100];

/// A UDP reply from `frame`'s destination back to its source, as the
/// backend (or remote host) it went to would send it.
fn reply_to(frame: &[u8], payload: &[u8]) -> Vec<u8> {
    let s = seen(frame);
    let mut v = Vec::new();
    etherparse::PacketBuilder::ethernet2(s.macs.1, OURS)
        .ipv4(s.dst, s.src, 64)
        .udp(s.ports.1, s.ports.0)
        .write(&mut v, payload)
        .expect("writes");
    v
}

fn owner_of(t: &LbTables, frame: &[u8], workers: usize) -> usize {
    let Ok(crate::packet::Classified::Ipv4(meta)) = crate::packet::classify(frame) else {
        panic!("ipv4")
    };
    t.owners.owner(&meta.tuple, usize::MAX, workers)
}

#[test]
fn replies_on_a_queue_that_does_not_own_the_flow_reach_the_owner() {
    // UDP NAT and FULLNAT, one local port per worker so the port is known.
    let mut nat = service(Mode::Nat, IpProto::UDP);
    nat.port = 53;
    let mut full = service(Mode::FullNat, IpProto::UDP);
    full.port = 54;
    full.local_addrs = vec![ip(LIP)];
    full.local_ports = (40000, 40001);
    let tables = Arc::new(LbTables::build(&config(vec![nat, full])).expect("builds"));
    tables.check_workers(2).expect("both workers have ports");
    for (dport, cport) in [(53u16, 1000u16), (53, 1001), (54, 1000), (54, 1001)] {
        let request = udp((ROUTER, OURS), CIP, VIP, (cport, dport));
        let owner = owner_of(&tables, &request, 2);
        assert_eq!(owner, flow_hash(ip(CIP), cport) as usize % 2);
        let other = 1 - owner;

        let mut sim = Sim::new(&tables, 2);
        sim.deliver(owner, &request);
        let out = sim.settle();
        assert_eq!(out[other], Vec::<Vec<u8>>::new());
        let [to_backend] = out[owner].as_slice() else {
            panic!("one request out: {out:?}")
        };
        let s = seen(to_backend);
        if dport == 54 {
            // The owner's only port on the local address.
            assert_eq!((s.src, s.ports.0), (LIP, 40000 + owner as u16));
        }
        // The reply arrives at the other worker, which hands it over.
        sim.deliver(other, &reply_to(to_backend, b"answer"));
        let out = sim.settle();
        assert_eq!(out[other], Vec::<Vec<u8>>::new());
        let [back] = out[owner].as_slice() else {
            panic!("one reply out: {out:?}")
        };
        let b = seen(back);
        assert_eq!(
            (b.src, b.dst, b.ports, b.macs.1),
            (VIP, CIP, (dport, cport), ROUTER)
        );
        let e = sim.events();
        assert_eq!((e.redirects_sent, e.redirects_received), (1, 1));
        assert_eq!(sim.dropped(), 0);
    }
}

#[test]
fn a_neighbour_one_worker_learns_releases_what_another_waits_for() {
    let mut nat = service(Mode::Nat, IpProto::UDP);
    nat.port = 53;
    nat.backends.truncate(1);
    let mut cfg = config(vec![nat]);
    cfg.neighbours.retain(|(a, _)| *a != ip(RIP1));
    let tables = Arc::new(LbTables::build(&cfg).expect("builds"));
    let cport = (1000..)
        .find(|&p| flow_hash(ip(CIP), p) % 2 == 1)
        .expect("a port worker 1 owns");
    let mut sim = Sim::new(&tables, 2);
    sim.deliver(1, &udp((ROUTER, OURS), CIP, VIP, (cport, 53)));
    let out = sim.settle();
    // Worker 1 asks for the backend's MAC and keeps the request waiting.
    assert!(out[0].is_empty());
    let [arp_request] = out[1].as_slice() else {
        panic!("an ARP request: {out:?}")
    };
    assert_eq!(&arp_request[12..14], &[0x08, 0x06]);
    // The answer lands on worker 0's queue.
    sim.deliver(0, &arp_frame(2, (RS1, RIP1), (OURS, [10, 0, 1, 1])));
    let out = sim.settle();
    assert!(out[0].is_empty(), "{out:?}");
    let [request] = out[1].as_slice() else {
        panic!("the waiting request: {out:?}")
    };
    let s = seen(request);
    assert_eq!((s.dst, s.macs.1), (RIP1, RS1));
    let e = sim.events();
    assert_eq!(e.neighbours_shared, 1);
    assert_eq!(e.redirects_sent, 0, "ARP is handled where it arrives");
    assert_eq!(sim.dropped(), 0);
}

#[test]
fn a_full_ring_drops_and_counts() {
    let mut nat = service(Mode::Nat, IpProto::UDP);
    nat.port = 53;
    let tables = Arc::new(LbTables::build(&config(vec![nat])).expect("builds"));
    let mut pipes: Vec<Pipeline<TestBuf>> = mesh(2, 4)
        .into_iter()
        .enumerate()
        .map(|(w, l)| {
            let mut p = Pipeline::new(Arc::clone(&tables), w, 2, 0).expect("pipeline");
            p.connect(l).expect("links");
            p
        })
        .collect();
    let theirs: Vec<Vec<u8>> = (1000..)
        .filter(|&p| flow_hash(ip(CIP), p) % 2 == 1)
        .take(10)
        .map(|p| udp((ROUTER, OURS), CIP, VIP, (p, 53)))
        .collect();
    let mut io = MemoryIo::new(vec![theirs]);
    // Worker 1 does not poll: four fit in the ring, six are dropped.
    pipes[0].poll(&mut io, 0);
    let c = pipes[0].counters();
    assert_eq!(c.events.redirects_sent, 4);
    assert_eq!(c.drops.get(DropReason::RedirectFull), 6);
    let mut io1 = MemoryIo::new(vec![Vec::new()]);
    assert_eq!(pipes[1].poll(&mut io1, 0).handed_in, 4);
    assert_eq!(io1.sent_frames(0).len(), 4);
}

#[test]
fn links_for_another_worker_are_refused() {
    let tables = Arc::new(LbTables::build(&config(vec![])).expect("builds"));
    let mut p: Pipeline<TestBuf> = Pipeline::new(tables, 0, 2, 0).expect("pipeline");
    let mut links = mesh(2, 4);
    let e = p.connect(links.remove(1)).expect_err("worker 1's links");
    assert!(e.contains("worker 1 of 2 given to worker 0 of 2"), "{e}");
}

// The property: random traffic through 1 and N workers, arriving on random
// queues, with backends that answer, gives the same packets out.

const INSIDE: [u8; 4] = [10, 0, 1, 50];

/// One flow of the random traffic.
#[derive(Clone, Debug)]
struct Flow {
    /// Which service or rule (see `traffic_tables`).
    kind: usize,
    client: u8,
    port: u16,
    /// Packets the client sends.
    packets: u8,
}

/// NAT UDP (Maglev), NAT TCP (source hash), FULLNAT UDP, DR UDP, a
/// persistent NAT UDP service, and SNAT for 10.0.1.0/24.
fn traffic_tables() -> LbTables {
    let mh = SchedulerKind::Maglev {
        table_size: 251,
        hash_ports: true,
    };
    let mut nat_udp = service(Mode::Nat, IpProto::UDP);
    (nat_udp.port, nat_udp.scheduler) = (53, mh);
    let mut nat_tcp = service(Mode::Nat, IpProto::TCP);
    nat_tcp.scheduler = SchedulerKind::SourceHash;
    let mut full = service(Mode::FullNat, IpProto::UDP);
    (full.port, full.scheduler, full.local_ports) = (54, mh, (40000, 40255));
    let mut dr = service(Mode::Dr, IpProto::UDP);
    (dr.port, dr.scheduler) = (55, mh);
    let mut sticky = service(Mode::Nat, IpProto::UDP);
    (sticky.port, sticky.scheduler) = (56, SchedulerKind::SourceHash);
    sticky.backends.iter_mut().for_each(|b| b.port = 5656);
    // Per client: with a shared /24 template, whichever client comes first
    // decides for all, and arrival order differs between runs.
    sticky.persistence = Some(Persistence {
        timeout_ms: 60_000,
        prefix_len: 32,
    });
    let mut cfg = config(vec![nat_udp, nat_tcp, full, dr, sticky]);
    cfg.sessions.capacity = 4096;
    cfg.neighbours.push((ip(INSIDE), MacAddr(RS2)));
    cfg.snat.push(SnatSpec {
        source: (Ipv4Addr::new(10, 0, 1, 0).into(), 24),
        port: 0,
        addrs: vec![Ipv4Addr::new(203, 0, 113, 1)],
        addrs6: vec![],
        ports: (50000, 50255),
    });
    LbTables::build(&cfg).expect("builds")
}

/// The client's `n`-th packet of `flow`.
fn client_packet(flow: &Flow, n: u8) -> Vec<u8> {
    let client = [198, 51, 100, flow.client];
    let payload = [flow.kind as u8, flow.client, n];
    let mut v = Vec::new();
    let (src, dst, sport, dport) = match flow.kind {
        0 => (client, VIP, flow.port, 53),
        1 => (client, VIP, flow.port, 80),
        2 => (client, VIP, flow.port, 54),
        3 => (client, VIP, flow.port, 55),
        4 => (client, VIP, flow.port, 56),
        _ => (INSIDE, [8, 8, 8, flow.client], flow.port, 53),
    };
    let from = if flow.kind == 5 { RS2 } else { ROUTER };
    let b = etherparse::PacketBuilder::ethernet2(from, OURS).ipv4(src, dst, 64);
    if flow.kind == 1 {
        let b = b.tcp(sport, dport, 1000 + u32::from(n), 64240);
        let b = if n == 0 { b.syn() } else { b.ack(1) };
        b.write(&mut v, &payload).expect("writes");
    } else {
        b.udp(sport, dport).write(&mut v, &payload).expect("writes");
    }
    v
}

/// Whether a frame we sent goes to a backend or remote host that answers:
/// DR's backends answer the client directly, not through us.
fn answered(frame: &[u8]) -> bool {
    let s = seen(frame);
    let to_backend = (s.dst == RIP1 || s.dst == RIP2) && s.ports.1 != 55;
    to_backend || s.dst[..3] == [8, 8, 8]
}

/// The backend's (or remote host's) answer to `frame`.
fn answer(frame: &[u8]) -> Vec<u8> {
    let s = seen(frame);
    let mut v = Vec::new();
    let b = etherparse::PacketBuilder::ethernet2(s.macs.1, OURS).ipv4(s.dst, s.src, 64);
    let payload = &frame[frame.len() - 3..];
    if frame[23] == 6 {
        b.tcp(s.ports.1, s.ports.0, 7000, 64240)
            .ack(1)
            .write(&mut v, payload)
            .expect("writes");
    } else {
        b.udp(s.ports.1, s.ports.0)
            .write(&mut v, payload)
            .expect("writes");
    }
    v
}

/// A frame as compared: every field, except the local port (and local
/// address) a FULLNAT or SNAT flow got, which depends on the worker.
fn normalised(frame: &[u8]) -> String {
    let s = seen(frame);
    let local = s.src == LIP || s.src == [10, 0, 1, 101] || s.src == [203, 0, 113, 1];
    let (src, sport) = if local {
        ([0; 4], 0)
    } else {
        (s.src, s.ports.0)
    };
    let payload = &frame[frame.len() - 3..];
    format!(
        "{:?}>{:?} {src:?}:{sport} > {:?}:{} ttl {} {payload:?}",
        s.macs.0, s.macs.1, s.dst, s.ports.1, s.ttl
    )
}

/// Runs the flows, in rounds: each round every flow with packets left
/// sends its next one (on a queue from `queues`), the workers settle, and
/// every answered frame's answer goes in on the next round (again on a
/// chosen queue). Returns every frame sent, normalised and sorted.
fn replay(
    tables: &Arc<LbTables>,
    workers: usize,
    flows: &[Flow],
    queues: &[usize],
) -> (Vec<String>, Sim) {
    let mut sim = Sim::new(tables, workers);
    let mut pick = queues.iter().copied().cycle();
    let mut answers: VecDeque<Vec<u8>> = VecDeque::new();
    let mut seen_out = Vec::new();
    let rounds = flows.iter().map(|f| f.packets).max().unwrap_or(0);
    for round in 0..=rounds + 1 {
        for f in flows.iter().filter(|f| round < f.packets) {
            sim.deliver(pick.next().unwrap_or(0), &client_packet(f, round));
        }
        for a in answers.drain(..) {
            sim.deliver(pick.next().unwrap_or(0), &a);
        }
        for frame in sim.settle().into_iter().flatten() {
            if answered(&frame) {
                answers.push_back(answer(&frame));
            }
            seen_out.push(normalised(&frame));
        }
    }
    seen_out.sort();
    (seen_out, sim)
}

fn flows() -> impl Strategy<Value = Vec<Flow>> {
    prop::collection::vec(
        (0usize..6, 1u8..40, 1024u16..1100, 1u8..4).prop_map(|(kind, client, port, packets)| {
            Flow {
                kind,
                client,
                port,
                packets,
            }
        }),
        1..40,
    )
    .prop_map(|mut v| {
        // One flow per (kind, client, port): two would be one flow.
        v.sort_by_key(|f| (f.kind, f.client, f.port));
        v.dedup_by_key(|f| (f.kind, f.client, f.port));
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn n_workers_forward_what_one_worker_forwards(
        flows in flows(),
        workers in 2usize..=4,
        queues in prop::collection::vec(0usize..4, 1..16),
    ) {
        let tables = Arc::new(traffic_tables());
        let (one, single) = replay(&tables, 1, &flows, &[0]);
        let (many, sim) = replay(&tables, workers, &flows, &queues);
        prop_assert_eq!(single.dropped(), 0);
        prop_assert_eq!(sim.dropped(), 0);
        prop_assert_eq!(&one, &many);
        let e = sim.events();
        prop_assert_eq!(e.redirects_sent, e.redirects_received);
        prop_assert_eq!(single.events().redirects_sent, 0);
    }
}

#[test]
fn a_neighbour_learned_before_another_worker_needs_it_is_not_asked_again() {
    let mut nat = service(Mode::Nat, IpProto::UDP);
    nat.port = 53;
    nat.backends.truncate(1);
    let mut cfg = config(vec![nat]);
    cfg.neighbours.retain(|(a, _)| *a != ip(RIP1));
    let tables = Arc::new(LbTables::build(&cfg).expect("builds"));
    let cport = (1000..)
        .find(|&p| flow_hash(ip(CIP), p) % 2 == 1)
        .expect("a port worker 1 owns");
    let mut sim = Sim::new(&tables, 2);
    // The backend asks worker 0 for our address: worker 0 answers, learns
    // it, and tells worker 1.
    sim.deliver(0, &arp_frame(1, (RS1, RIP1), ([0; 6], [10, 0, 1, 1])));
    let out = sim.settle();
    assert_eq!(out[0].len(), 1, "our ARP reply");
    sim.deliver(1, &udp((ROUTER, OURS), CIP, VIP, (cport, 53)));
    let out = sim.settle();
    let [request] = out[1].as_slice() else {
        panic!("the request, straight away: {out:?}")
    };
    assert_eq!(seen(request).macs.1, RS1);
    assert_eq!(sim.events().arp_requests, 0);
    assert_eq!(sim.dropped(), 0);
}
