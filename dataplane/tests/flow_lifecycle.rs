//! The flow-state pieces together, as the pipeline will drive them for a
//! FULLNAT service: schedule, take a local port, create the session, follow
//! TCP in both directions, and give port and connection count back on expiry
//! or flush.

use std::net::Ipv4Addr;

use dataplane::flow::proto::tcp_flags::{ACK, FIN, SYN};
use dataplane::flow::table::session_flags;
use dataplane::flow::{
    ConnCounts, Direction, NewSession, ProtoState, SessionTable, TableConfig, TcpDir, TcpState,
};
use dataplane::laddr::{LocalPorts, PoolConfig};
use dataplane::sched::{Backend, Scheduler, SchedulerKind};
use dataplane::tuple::{FiveTuple, IpProto};

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const LIP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);

struct Worker {
    table: SessionTable,
    conns: ConnCounts,
    ports: LocalPorts,
    sched: Scheduler,
}

impl Worker {
    fn new() -> Worker {
        let backends = (0..3)
            .map(|i| Backend {
                id: i,
                addr: Ipv4Addr::new(10, 1, 0, 1 + i as u8).into(),
                port: 8080,
                weight: 1,
            })
            .collect();
        Worker {
            table: SessionTable::new(
                TableConfig {
                    capacity: 1024,
                    ..TableConfig::default()
                },
                0,
            )
            .unwrap(),
            conns: ConnCounts::new(3),
            ports: LocalPorts::new(&PoolConfig {
                worker_index: 1,
                worker_count: 2,
                addrs: vec![LIP],
                port_min: 1024,
                port_max: 65535,
                backend_buckets: 16,
                seed: 7,
            })
            .unwrap(),
            sched: Scheduler::new(SchedulerKind::LeastConnection, backends).unwrap(),
        }
    }

    /// First packet of a client flow: returns the reply tuple the backend
    /// will send.
    fn open(&mut self, client: FiveTuple, now: u64) -> FiveTuple {
        let b = self.sched.pick(&client, &self.conns).unwrap();
        let std::net::IpAddr::V4(baddr) = b.addr else {
            panic!("an IPv4 backend: {b:?}");
        };
        let (lip, lport) = self.ports.allocate(baddr, b.port).unwrap();
        let reply = FiveTuple {
            src: baddr,
            dst: lip,
            src_port: b.port,
            dst_port: lport,
            proto: client.proto,
        };
        let state = ProtoState::Tcp(TcpState::None);
        let id = self
            .table
            .insert(
                &NewSession {
                    flags: session_flags::LOCAL_PORT,
                    ..NewSession::new(client, reply, b.id, state)
                },
                now,
            )
            .unwrap();
        self.conns.opened(b.id, state);
        let t = self.table.on_tcp(id, TcpDir::Input, SYN, now);
        self.conns.changed(b.id, t);
        reply
    }

    fn packet(&mut self, tuple: &FiveTuple, flags: u8, now: u64) {
        let hit = self.table.lookup(tuple).unwrap();
        let dir = match hit.dir {
            Direction::Inbound => TcpDir::Input,
            Direction::Outbound => TcpDir::Output,
        };
        let t = self.table.on_tcp(hit.id, dir, flags, now);
        let backend = self.table.get(hit.id).backend;
        self.conns.changed(backend, t);
    }

    fn expire(&mut self, now: u64) -> usize {
        let (ports, conns) = (&mut self.ports, &mut self.conns);
        self.table
            .expire(now, 1024, |s, _| release(ports, conns, s))
    }
}

fn release(ports: &mut LocalPorts, conns: &mut ConnCounts, s: &dataplane::flow::Session) {
    if s.holds_local_port() {
        let r = s.outbound();
        assert!(ports.release(r.dst, r.dst_port, r.src, r.src_port));
    }
    conns.closed(s.backend, s.state);
}

fn client(i: u16) -> FiveTuple {
    FiveTuple {
        src: Ipv4Addr::new(198, 51, 100, 7),
        dst: VIP,
        src_port: 40000 + i,
        dst_port: 80,
        proto: IpProto::TCP,
    }
}

#[test]
fn connection_counts_and_ports_follow_the_session_lifetime() {
    let mut w = Worker::new();
    let replies: Vec<FiveTuple> = (0..6).map(|i| w.open(client(i), 0)).collect();
    // Least connection spreads six new flows two per backend, all inactive.
    for b in 0..3 {
        assert_eq!((w.conns.get(b).active, w.conns.get(b).inactive), (0, 2));
    }
    // Handshake completes on flow 0: active. Replies name this worker.
    w.packet(&replies[0], SYN | ACK, 10);
    w.packet(&client(0), ACK, 20);
    let b0 = w.table.get(w.table.lookup(&client(0)).unwrap().id).backend;
    assert_eq!(w.conns.get(b0).active, 1);
    assert!(replies
        .iter()
        .all(|r| dataplane::laddr::port_owner(r.dst_port, 2) == 1));
    // The client closes; the server acks and closes too: TIME_WAIT, inactive.
    w.packet(&client(0), FIN | ACK, 30);
    w.packet(&replies[0], FIN | ACK, 40);
    assert_eq!(w.conns.get(b0).active, 0);

    let allocated = w.ports.stats().allocated;
    // Half-open flows expire at SYN_RECV's 30 s; flow 0 120 s after it
    // entered TIME_WAIT at 40 ms, rounded up to the 100 ms tick.
    assert_eq!(w.expire(29_900), 0);
    assert_eq!(w.expire(30_000), 5);
    assert_eq!(w.expire(120_000), 0);
    assert_eq!(w.expire(120_100), 1);
    assert!(w.table.is_empty());
    assert_eq!(w.ports.stats().released, allocated);
    for b in 0..3 {
        assert_eq!((w.conns.get(b).active, w.conns.get(b).inactive), (0, 0));
    }
}

#[test]
fn flushing_a_removed_backend_releases_its_sessions_only() {
    let mut w = Worker::new();
    for i in 0..9 {
        w.open(client(i), 0);
    }
    let (ports, conns) = (&mut w.ports, &mut w.conns);
    let n = w
        .table
        .flush(0, |s| s.backend == 1, |s, _| release(ports, conns, s));
    assert_eq!(n, 3);
    assert_eq!(w.table.len(), 6);
    assert_eq!(w.conns.get(1).inactive, 0);
    assert_eq!(w.conns.get(0).inactive, 3);
    assert!(w.table.iter().all(|(_, s)| s.backend != 1));
    // The flushed sessions are gone from the wheel too: the rest expire.
    assert_eq!(w.expire(30_000), 6);
}
