//! Replay cases with several workers: who owns a flow, computed from the
//! contract (issue #7, "Many workers: who owns a flow") independently of
//! ferrolb's code, and a script whose frames arrive on chosen RX queues.
//!
//! The contract, as these tests read it: worker i owns RX and TX queue i of
//! every port. The owner of a packet is a pure function of its 5-tuple (an
//! ICMP error: the reverse of the packet it quotes; ICMP echo: its
//! identifier as both ports), first match wins:
//!
//! 1. one worker owns everything;
//! 2. no IPv4 TCP/UDP/ICMP tuple (ARP, ...): the receiving worker;
//! 3. the destination is a service: persistent by `hash(client, 0)`, NAT and
//!    FULLNAT by `hash(client, client port)`, DR and TUN the receiving worker
//!    (the client address itself: the contract does not mask it to the
//!    service's `persistence_prefix`, so the model is only used with /32);
//! 4. the destination address is a FULLNAT local address or a SNAT address:
//!    `port & (next_power_of_two(N) - 1)` (receiving worker if >= N);
//! 5. the source is a backend of a NAT service: `hash(destination,
//!    destination port)`, or `hash(destination, 0)` if it is persistent;
//! 6. the source address is in a SNAT rule's prefix: `hash(source, source
//!    port)`;
//! 7. the receiving worker.
//!
//! `hash(a, p) = ((a << 16 | p) * 0x9E3779B97F4A7C15 mod 2^64) >> 32`, then
//! mod N. A packet received by a worker that does not own it is handed to
//! the owner over a FIFO ring (`event:redirects_sent` at the sender,
//! `event:redirects_received` at the owner), which handles it as its own
//! and sends what comes of it on its own TX queue. Each poll a worker first
//! handles a burst (up to 32 packets) from each of its RX queues, then up to
//! a burst from each ring.
//!
//! So what a case can rely on, since packets on different queues have no
//! order between them:
//! (a) all packets of a flow in one queue: the owner sees them in order,
//!     through one ring or from its own queue;
//! (b) a flow's first packets in the owner's own queue, the rest in another
//!     queue: the owner handles its whole queue in its first poll (if that
//!     queue holds at most 32 packets) before anything from a ring.

use std::collections::BTreeMap;

use etherparse::{Icmpv4Type, IpNumber, Ipv4Header};

use super::lb::{Ep, Ip, Script, LAN_MAC, VIP};
use super::{assert_flows_eq, CasePort, ExpectedFrame, Replay, ReplayResult};

/// A burst: a worker's own queue may hold at most this many packets for
/// pattern (b) to hold.
pub const BURST: usize = 32;

/// Worker cores for `n` workers on this 2-core machine: alternately cores
/// 0 and 1 (several workers share a core, which the harness allows with
/// `shared_cores`).
pub fn cores(n: usize) -> Vec<usize> {
    (0..n).map(|i| i % 2).collect()
}

/// The contract's hash, before `mod N`.
pub fn owner_hash(addr: Ip, port: u16) -> u64 {
    let a = u64::from(u32::from_be_bytes(addr));
    ((a << 16) | u64::from(port)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32
}

#[derive(Clone, Debug)]
struct ServiceSpec {
    proto: u8,
    port: u16,
    mode: String,
    persistent: bool,
    backends: Vec<Ep>,
}

/// The config facts ownership depends on, and the rules above.
#[derive(Clone, Debug)]
pub struct Owners {
    pub workers: usize,
    services: Vec<ServiceSpec>,
    local_addrs: Vec<Ip>,
    snat_sources: Vec<(Ip, u8)>,
}

/// A packet's tuple: (source, protocol, destination).
type Tuple = (Ep, u8, Ep);

fn proto_number(proto: &str) -> u8 {
    match proto {
        "tcp" => 6,
        "udp" => 17,
        other => panic!("protocol {other}"),
    }
}

impl Owners {
    pub fn new(workers: usize) -> Self {
        Owners {
            workers,
            services: Vec::new(),
            local_addrs: Vec::new(),
            snat_sources: Vec::new(),
        }
    }

    /// A service on the VIP (as `lb::service` configures it); backends as
    /// (address, port) with the port the service forwards to.
    pub fn service(
        mut self,
        proto: &str,
        port: u16,
        mode: &str,
        persistent: bool,
        backends: &[Ep],
    ) -> Self {
        self.services.push(ServiceSpec {
            proto: proto_number(proto),
            port,
            mode: mode.to_owned(),
            persistent,
            backends: backends.to_vec(),
        });
        self
    }

    /// FULLNAT local addresses and SNAT addresses.
    pub fn local_addrs(mut self, addrs: &[Ip]) -> Self {
        self.local_addrs.extend_from_slice(addrs);
        self
    }

    /// A SNAT rule's source prefix.
    pub fn snat_source(mut self, prefix: Ip, len: u8) -> Self {
        self.snat_sources.push((prefix, len));
        self
    }

    /// `hash(addr, port) mod N`.
    pub fn hashed(&self, addr: Ip, port: u16) -> usize {
        (owner_hash(addr, port) % self.workers as u64) as usize
    }

    /// The worker that owns a local port.
    pub fn port_owner(&self, port: u16) -> Option<usize> {
        let mask = self.workers.next_power_of_two() - 1;
        let w = usize::from(port) & mask;
        (w < self.workers).then_some(w)
    }

    /// The worker that owns `frame` when RX queue `rx` receives it.
    pub fn owner(&self, frame: &[u8], rx: usize) -> usize {
        if self.workers == 1 {
            return 0;
        }
        let Some(((src, sport), proto, (dst, dport))) = tuple(frame) else {
            return rx;
        };
        if let Some(s) = self
            .services
            .iter()
            .find(|s| dst == VIP && s.proto == proto && s.port == dport)
        {
            // Persistent first, as the contract lists it: a persistent DR or
            // TUN service keeps a client on one worker too.
            return match (s.persistent, s.mode.as_str()) {
                (true, _) => self.hashed(src, 0),
                (false, "dr" | "tun") => rx,
                (false, _) => self.hashed(src, sport),
            };
        }
        if self.local_addrs.contains(&dst) {
            return self.port_owner(dport).unwrap_or(rx);
        }
        if let Some(s) = self
            .services
            .iter()
            .find(|s| s.mode == "nat" && s.proto == proto && s.backends.contains(&(src, sport)))
        {
            return if s.persistent {
                self.hashed(dst, 0)
            } else {
                self.hashed(dst, dport)
            };
        }
        if self
            .snat_sources
            .iter()
            .any(|&(p, len)| in_prefix(src, p, len))
        {
            return self.hashed(src, sport);
        }
        rx
    }

    /// A port from `from` on whose flows from `addr` worker `w` owns
    /// (`hash(addr, port) mod N == w`).
    pub fn port_for(&self, w: usize, addr: Ip, from: u16) -> u16 {
        (from..=u16::MAX)
            .find(|&p| self.hashed(addr, p) == w)
            .expect("a port for the worker")
    }

    /// A port from `from` whose flows from `addr` worker `w` does not own.
    pub fn port_not_for(&self, w: usize, addr: Ip, from: u16) -> u16 {
        (from..=u16::MAX)
            .find(|&p| self.hashed(addr, p) != w)
            .expect("a port for another worker")
    }
}

fn in_prefix(a: Ip, p: Ip, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    u32::from_be_bytes(a) & mask == u32::from_be_bytes(p) & mask
}

/// The tuple the contract evaluates for `frame` (see the module doc).
fn tuple(frame: &[u8]) -> Option<Tuple> {
    if frame.get(12..14) != Some(&[0x08, 0x00]) {
        return None;
    }
    ip_tuple(frame.get(14..)?, true)
}

fn ip_tuple(p: &[u8], outer: bool) -> Option<Tuple> {
    let (h, _) = Ipv4Header::from_slice(p).ok()?;
    let l4 = p.get(h.header_len()..)?;
    let be16 =
        |at: usize| -> Option<u16> { Some(u16::from_be_bytes([*l4.get(at)?, *l4.get(at + 1)?])) };
    let (src, dst) = (h.source, h.destination);
    match h.protocol {
        IpNumber::TCP | IpNumber::UDP => Some(((src, be16(0)?), h.protocol.0, (dst, be16(2)?))),
        IpNumber::ICMP => match *l4.first()? {
            0 | 8 => {
                let id = be16(4)?;
                Some(((src, id), 1, (dst, id)))
            }
            3 | 11 | 12 if outer => {
                let (qs, proto, qd) = ip_tuple(l4.get(8..)?, false)?;
                Some((qd, proto, qs))
            }
            _ => None,
        },
        _ => None,
    }
}

/// One flow's name, for messages.
#[derive(Clone, Debug)]
pub struct FlowInfo {
    pub name: String,
}

/// A one-port (`lan`) case with several workers: the frames each RX queue
/// receives, and for each frame the flow it belongs to, its owner and what
/// comes out for it.
pub struct MqScript {
    pub owners: Owners,
    /// Frames per RX queue.
    pub queues: Vec<Vec<Vec<u8>>>,
    /// What comes out, on the owner's TX queue.
    pub expected: Vec<ExpectedFrame>,
    /// Every frame in the order the case adds them, and what comes out:
    /// what one worker receiving all of it on one queue would do.
    pub one_worker: Script,
    pub flows: Vec<FlowInfo>,
    /// Frames received by a worker that does not own them.
    pub redirects: u64,
}

impl MqScript {
    pub fn new(owners: Owners) -> Self {
        let n = owners.workers;
        MqScript {
            owners,
            queues: vec![Vec::new(); n],
            expected: Vec::new(),
            one_worker: Script::default(),
            flows: Vec::new(),
            redirects: 0,
        }
    }

    pub fn workers(&self) -> usize {
        self.owners.workers
    }

    /// A new flow named `name`; returns its index.
    pub fn flow(&mut self, name: impl Into<String>) -> usize {
        self.flows.push(FlowInfo { name: name.into() });
        self.flows.len() - 1
    }

    /// Runs `build` on an empty `Script` (the builders of `lb` push into
    /// one) and puts what it pushed on RX queue `queue`, as frames of
    /// `flow`, after what the queue has. Each frame pushed must have one
    /// expected frame, or none may have any (e.g. an ARP reply).
    pub fn on<R>(&mut self, flow: usize, queue: usize, build: impl FnOnce(&mut Script) -> R) -> R {
        assert!(flow < self.flows.len(), "no flow {flow}");
        let mut s = Script::default();
        let r = build(&mut s);
        assert!(
            s.expected.is_empty() || s.expected.len() == s.input.len(),
            "flow {}: {} frames in, {} out: push them one by one",
            self.flows[flow].name,
            s.input.len(),
            s.expected.len()
        );
        let mut out = s.expected.clone().into_iter();
        for f in &s.input {
            let owner = self.owners.owner(f, queue);
            if owner != queue {
                self.redirects += 1;
            }
            if !s.expected.is_empty() {
                self.expected.push(ExpectedFrame {
                    flow,
                    queue: owner,
                    bytes: out.next().expect("an expected frame"),
                });
            }
            self.queues[queue].push(f.clone());
        }
        self.one_worker.input.extend(s.input);
        self.one_worker.expected.extend(s.expected);
        r
    }

    /// Frames on RX queue `q`.
    pub fn queue_len(&self, q: usize) -> usize {
        self.queues[q].len()
    }

    /// Panics unless RX queue `q` fits in one burst (pattern (b)).
    pub fn assert_one_burst(&self, q: usize) {
        assert!(
            self.queue_len(q) <= BURST,
            "case error: RX queue {q} holds {} frames, more than one burst of {BURST}",
            self.queue_len(q)
        );
    }

    pub fn flow_name(&self, f: usize) -> String {
        format!("#{f} {}", self.flows[f].name)
    }

    /// Runs the case one-armed (port `lan`, our MAC `LAN_MAC`), one worker
    /// per queue on [`cores`], and checks the run succeeded with valid
    /// checksums.
    pub fn run(&self, config: &str) -> ReplayResult {
        let run = Replay {
            ports: vec![CasePort::with_queues("lan", self.queues.clone()).with_mac(LAN_MAC)],
            config: config.to_owned(),
            cores: cores(self.workers()),
        }
        .run();
        run.assert_ok_and_checksums(&["lan"]);
        run
    }

    /// Runs every frame of the case, in the order the case added them, on
    /// one worker, and checks it succeeded with valid checksums.
    pub fn run_one_worker(&self, config: &str) -> ReplayResult {
        let run = Replay {
            ports: vec![CasePort::new("lan", self.one_worker.input.clone()).with_mac(LAN_MAC)],
            config: config.to_owned(),
            cores: vec![1],
        }
        .run();
        run.assert_ok_and_checksums(&["lan"]);
        run
    }

    /// Every flow came out of its owner's TX queue as the case expects (see
    /// [`assert_flows_eq`]).
    pub fn assert_output(&self, run: &ReplayResult) {
        self.assert_output_of(&run.sent_by_queue[0]);
    }

    /// As [`assert_output`](Self::assert_output), on given TX queues.
    pub fn assert_output_of(&self, sent_by_queue: &[Vec<Vec<u8>>]) {
        assert_flows_eq("lan", &self.expected, sent_by_queue, &|f| self.flow_name(f));
    }

    /// The one-worker run sent, flow by flow, what the case expects of one
    /// worker (its expectations are those of the existing single-queue
    /// cases, so this checks the case itself).
    pub fn assert_one_worker_output(&self, run: &ReplayResult) {
        self.assert_one_worker_output_of(&run.sent_by_queue[0][0]);
    }

    /// As [`assert_one_worker_output`](Self::assert_one_worker_output), on
    /// given frames.
    pub fn assert_one_worker_output_of(&self, sent: &[Vec<u8>]) {
        let flat: Vec<ExpectedFrame> = self
            .expected
            .iter()
            .map(|e| ExpectedFrame {
                queue: 0,
                ..e.clone()
            })
            .collect();
        assert_flows_eq("lan (one worker)", &flat, &[sent.to_vec()], &|f| {
            self.flow_name(f)
        });
    }
}

/// Every `svc:`, `be:`, `snat:`, `drop:` and `event:` row of a run's exit
/// report, by name.
pub fn counter_rows(run: &ReplayResult) -> BTreeMap<String, Vec<u64>> {
    run.stdout()
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next()?;
            ["svc:", "be:", "snat:", "drop:", "event:"]
                .iter()
                .any(|p| name.starts_with(p))
                .then(|| {
                    (
                        name.to_owned(),
                        words.filter_map(|w| w.parse().ok()).collect(),
                    )
                })
        })
        .collect()
}

/// Events only several workers have.
pub const WORKER_EVENTS: &[&str] = &[
    "event:redirects_sent",
    "event:redirects_received",
    "event:neighbours_shared",
];

/// The counters of `run` are those of the one-worker run `one`, row by row,
/// except the events only several workers have and the rows in `except`.
pub fn assert_counters_as_one_worker(run: &ReplayResult, one: &ReplayResult, except: &[&str]) {
    let skip = |name: &str| WORKER_EVENTS.contains(&name) || except.contains(&name);
    let (many, single) = (counter_rows(run), counter_rows(one));
    let mut names: Vec<&String> = many.keys().chain(single.keys()).collect();
    names.sort();
    names.dedup();
    let differ: Vec<String> = names
        .into_iter()
        .filter(|n| !skip(n) && many.get(*n) != single.get(*n))
        .map(|n| {
            format!(
                "{n}: {:?} with {} workers, {:?} with one",
                many.get(n),
                run_workers(run),
                single.get(n)
            )
        })
        .collect();
    assert!(
        differ.is_empty(),
        "counters differ from the one-worker run:\n{}\n--- stdout ({} workers)\n{}",
        differ.join("\n"),
        run_workers(run),
        run.stdout()
    );
}

fn run_workers(run: &ReplayResult) -> usize {
    run.stdout()
        .lines()
        .filter(|l| l.starts_with("worker") && l.split_whitespace().next() != Some("worker"))
        .count()
}

impl ReplayResult {
    /// `event:redirects_sent` and `event:redirects_received` are both `n`.
    pub fn assert_redirects(&self, n: u64) {
        for e in ["redirects_sent", "redirects_received"] {
            let got = self.event_opt(e);
            assert_eq!(
                got,
                Some(n),
                "event:{e}: {got:?}, the contract gives {n}\n--- stdout\n{}",
                self.stdout()
            );
        }
    }

    /// The `event:` row `name`, if the report has one.
    pub fn event_opt(&self, name: &str) -> Option<u64> {
        counter_rows(self)
            .get(&format!("event:{name}"))
            .and_then(|v| v.first().copied())
    }
}

/// An ICMP error type that quotes: destination unreachable (port).
pub fn port_unreachable() -> Icmpv4Type {
    Icmpv4Type::DestinationUnreachable(etherparse::icmpv4::DestUnreachableHeader::Port)
}
