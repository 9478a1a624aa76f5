//! The pcap replay harness: runs the real `ferrolb` binary on DPDK `net_pcap`
//! ports and compares what it wrote with what a case expects, packet by
//! packet.
//!
//! A case is a config fragment (everything but the ports and the EAL
//! arguments), the frames each port receives, and the frames each port must
//! send. With several workers, every port has one RX and one TX queue per
//! worker (one `rx_pcap` and one `tx_pcap` each); a case gives the frames of
//! each RX queue and gets back what each TX queue sent. Frames are built in Rust with etherparse, so a case reads as what it
//! sends. Every run gets its own temporary directory and DPDK file prefix, so
//! cases run in parallel.

#![allow(dead_code)] // each test binary uses a different part

#[allow(unused_imports)] // not every test binary uses the frame builders
pub use ferrolb_perf::{frames, pcap};

pub mod appliance;
pub mod bird;
pub mod fragments;
pub mod lb;
pub mod lb6;
pub mod netns;
pub mod netns6;
pub mod workers;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use etherparse::{LinkSlice, NetSlice, SlicedPacket, TransportSlice, VlanSlice};

/// One port of a replay case.
pub struct CasePort {
    pub name: String,
    /// Frames each RX queue receives, in order (queue *i* is worker *i*'s).
    /// A run with more workers than this has queues gives the others
    /// nothing; more queues than workers is a mistake in the case.
    pub queues: Vec<Vec<Vec<u8>>>,
    /// Our MAC on this port (`mac = "..."`), if the case sets one.
    pub mac: Option<[u8; 6]>,
    /// The port's `mtu`, if the case sets one.
    pub mtu: Option<u16>,
}

impl CasePort {
    /// A port whose frames all arrive on queue 0.
    pub fn new(name: &str, input: Vec<Vec<u8>>) -> Self {
        Self::with_queues(name, vec![input])
    }

    /// A port that receives `queues[i]` on RX queue `i`.
    pub fn with_queues(name: &str, queues: Vec<Vec<Vec<u8>>>) -> Self {
        CasePort {
            name: name.to_owned(),
            queues,
            mac: None,
            mtu: None,
        }
    }

    /// The same port with `mtu = mtu`.
    pub fn with_mtu(mut self, mtu: u16) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// The same port with our MAC on it set to `mac`.
    pub fn with_mac(mut self, mac: [u8; 6]) -> Self {
        self.mac = Some(mac);
        self
    }
}

/// A replay run: ports with their input, and the rest of the config.
pub struct Replay {
    pub ports: Vec<CasePort>,
    /// TOML appended after the generated [eal] and [[port]] tables.
    pub config: String,
    /// Worker cores, one worker each; a core listed twice gets
    /// `shared_cores = true` (workers take turns on it).
    pub cores: Vec<usize>,
}

/// What a run produced.
pub struct ReplayResult {
    pub output: Output,
    /// Frames each port transmitted, by port index: its TX queues'
    /// output one after the other (in queue order; there is no order
    /// between queues).
    pub sent: Vec<Vec<Vec<u8>>>,
    /// Frames each TX queue of each port transmitted: `[port][queue]`.
    pub sent_by_queue: Vec<Vec<Vec<Vec<u8>>>>,
    pub dir: tempfile::TempDir,
}

impl ReplayResult {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Panics with the whole output unless ferrolb exited 0.
    pub fn assert_success(&self) {
        assert!(
            self.output.status.success(),
            "ferrolb failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            self.output.status,
            self.stdout(),
            self.stderr()
        );
    }

    /// A counter from the exit report: the `column`-th number on the row
    /// whose first word is `row` (e.g. row "total", column 0 = rx-packets).
    pub fn report_value(&self, row: &str, column: usize) -> u64 {
        let stdout = self.stdout();
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.split_whitespace().next() == Some(row))
            .unwrap_or_else(|| panic!("no report row {row:?} in:\n{stdout}"));
        let numbers: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|w| w.parse().ok())
            .collect();
        numbers[column]
    }
}

/// The ferrolb binary cargo built for these tests.
pub fn ferrolb_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ferrolb")
}

/// A DPDK file prefix no other run (test or process) uses.
pub fn unique_prefix(tag: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "ferrolb-test-{}-{}-{tag}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// EAL arguments for a test run (no hugepages, no PCI, no shared config),
/// followed by a `[control]` table with a socket no other run uses. Goes
/// right after `[eal]`; the next table ends it.
pub fn test_eal_args(tag: &str) -> String {
    let prefix = unique_prefix(tag);
    format!(
        r#"args = ["--no-huge", "-m", "256", "--no-pci", "--no-shconf", "--no-telemetry", "--file-prefix", "{prefix}", "--log-level", "*:warning"]

[control]
socket = "{}""#,
        test_socket(&prefix).display()
    )
}

/// The control socket of the run with DPDK file prefix `prefix`.
pub fn test_socket(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{prefix}.sock"))
}

impl Replay {
    /// Writes the inputs and config, runs ferrolb until its inputs drain,
    /// and reads back what every port sent.
    ///
    /// One worker: each port is `rx_pcap=NAME.in.pcap,tx_pcap=NAME.out.pcap`.
    /// N workers: `rx_pcap=NAME.qK.in.pcap` and `tx_pcap=NAME.qK.out.pcap`
    /// for K = 0..N (net_pcap makes one queue per argument pair, and the
    /// appliance configures one queue pair per worker).
    pub fn run(&self) -> ReplayResult {
        let dir = tempfile::tempdir().expect("temp dir");
        let workers = self.cores.len().max(1);
        let files = |name: &str, dir: &Path| -> Vec<(PathBuf, PathBuf)> {
            if workers == 1 {
                vec![(
                    dir.join(format!("{name}.in.pcap")),
                    dir.join(format!("{name}.out.pcap")),
                )]
            } else {
                (0..workers)
                    .map(|q| {
                        (
                            dir.join(format!("{name}.q{q}.in.pcap")),
                            dir.join(format!("{name}.q{q}.out.pcap")),
                        )
                    })
                    .collect()
            }
        };
        let mut toml = format!("[eal]\n{}\n\n", test_eal_args("replay"));
        for (i, port) in self.ports.iter().enumerate() {
            assert!(
                port.queues.len() <= workers,
                "port {}: input for {} queues, but {workers} workers",
                port.name,
                port.queues.len()
            );
            let files = files(&port.name, dir.path());
            for (q, (rx, _)) in files.iter().enumerate() {
                pcap::write(rx, port.queues.get(q).map_or(&[][..], |f| &f[..]));
            }
            let rx: Vec<String> = files
                .iter()
                .map(|(rx, _)| format!("rx_pcap={}", rx.display()))
                .collect();
            let tx: Vec<String> = files
                .iter()
                .map(|(_, tx)| format!("tx_pcap={}", tx.display()))
                .collect();
            writeln!(
                toml,
                "[[port]]\nname = \"{}\"\ndevice = \"net_pcap{i},{},{}\"",
                port.name,
                rx.join(","),
                tx.join(",")
            )
            .expect("write to string");
            if let Some(m) = port.mac {
                writeln!(toml, "mac = \"{}\"", mac(&m)).expect("write to string");
            }
            if let Some(mtu) = port.mtu {
                writeln!(toml, "mtu = {mtu}").expect("write to string");
            }
            toml.push('\n');
        }
        let shared = (1..self.cores.len()).any(|i| self.cores[..i].contains(&self.cores[i]));
        writeln!(toml, "[workers]\ncores = {:?}", self.cores).expect("write to string");
        if shared {
            toml.push_str("shared_cores = true\n");
        }
        toml.push('\n');
        toml.push_str(&self.config);
        let config = dir.path().join("ferrolb.toml");
        std::fs::write(&config, &toml).expect("write config");

        let output = run_ferrolb(&config, &["--exit-when-idle", "200"]);
        let sent_by_queue: Vec<Vec<Vec<Vec<u8>>>> = self
            .ports
            .iter()
            .map(|p| {
                files(&p.name, dir.path())
                    .iter()
                    .map(|(_, tx)| {
                        if tx.exists() {
                            pcap::read(tx)
                        } else {
                            Vec::new()
                        }
                    })
                    .collect()
            })
            .collect();
        let sent = sent_by_queue.iter().map(|q| q.concat()).collect();
        ReplayResult {
            output,
            sent,
            sent_by_queue,
            dir,
        }
    }
}

/// Runs ferrolb with a config and extra arguments, with a time limit so a
/// hung run fails the test instead of hanging it.
pub fn run_ferrolb(config: &Path, extra: &[&str]) -> Output {
    Command::new("timeout")
        .args(["--signal=KILL", "60", ferrolb_bin(), "-c"])
        .arg(config)
        .args(extra)
        .output()
        .expect("run ferrolb")
}

/// Writes `text` as a config file in `dir` and returns its path.
pub fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

/// Asserts two frame sequences are equal; on the first difference, panics
/// with both frames decoded field by field and the differing fields marked.
pub fn assert_frames_eq(port: &str, expected: &[Vec<u8>], actual: &[Vec<u8>]) {
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        if e != a {
            panic!(
                "port {port}: frame {i} differs (expected | actual):\n{}",
                diff_frames(e, a)
            );
        }
    }
    assert_eq!(
        actual.len(),
        expected.len(),
        "port {port}: {} frames sent, {} expected (the first {} match)",
        actual.len(),
        expected.len(),
        expected.len().min(actual.len())
    );
}

/// A side-by-side field dump of two frames; differing fields get `<>`.
pub fn diff_frames(expected: &[u8], actual: &[u8]) -> String {
    let (e, a) = (decode(expected), decode(actual));
    let mut out = String::new();
    for i in 0..e.len().max(a.len()) {
        let (ef, av) = (e.get(i), a.get(i));
        let name = ef.or(av).map(|f| f.0.as_str()).unwrap_or("");
        let ev = ef.map(|f| f.1.as_str()).unwrap_or("-");
        let avv = av.map(|f| f.1.as_str()).unwrap_or("-");
        let mark = if ef == av { "  " } else { "<>" };
        writeln!(out, "{mark} {name:<18} {ev:<40} | {avv}").expect("write to string");
    }
    if let Some(at) = expected.iter().zip(actual).position(|(x, y)| x != y) {
        writeln!(
            out,
            "first differing byte: offset {at} ({:#04x} | {:#04x})",
            expected[at], actual[at]
        )
        .expect("write to string");
    }
    out
}

/// A frame as (field, value) pairs, decoded by etherparse (independent of
/// ferrolb's own parser).
pub fn decode(frame: &[u8]) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = vec![("length".into(), frame.len().to_string())];
    let mut push = |k: &str, v: String| f.push((k.to_owned(), v));
    match SlicedPacket::from_ethernet(frame) {
        Err(e) => push("decode error", e.to_string()),
        Ok(p) => {
            if let Some(LinkSlice::Ethernet2(eth)) = &p.link {
                push("eth.dst", mac(&eth.destination()));
                push("eth.src", mac(&eth.source()));
                push("eth.type", format!("{:?}", eth.ether_type()));
            }
            match &p.vlan {
                Some(VlanSlice::SingleVlan(v)) => push("vlan.id", v.vlan_identifier().to_string()),
                Some(VlanSlice::DoubleVlan(v)) => {
                    push("vlan.outer", v.outer().vlan_identifier().to_string());
                    push("vlan.inner", v.inner().vlan_identifier().to_string());
                }
                None => {}
            }
            match &p.net {
                Some(NetSlice::Ipv4(ip)) => {
                    let h = ip.header();
                    push("ip.src", h.source_addr().to_string());
                    push("ip.dst", h.destination_addr().to_string());
                    push("ip.proto", format!("{:?}", h.protocol()));
                    push("ip.ttl", h.ttl().to_string());
                    push("ip.total_len", h.total_len().to_string());
                    push("ip.id", h.identification().to_string());
                    push("ip.df", h.dont_fragment().to_string());
                    push("ip.checksum", format!("{:#06x}", h.header_checksum()));
                }
                Some(NetSlice::Ipv6(ip)) => {
                    push("ip6.src", ip.header().source_addr().to_string());
                    push("ip6.dst", ip.header().destination_addr().to_string());
                }
                None => {}
            }
            match &p.transport {
                Some(TransportSlice::Tcp(t)) => {
                    push("tcp.sport", t.source_port().to_string());
                    push("tcp.dport", t.destination_port().to_string());
                    push("tcp.seq", t.sequence_number().to_string());
                    push("tcp.ack", t.acknowledgment_number().to_string());
                    push("tcp.flags", tcp_flags(t));
                    push("tcp.checksum", format!("{:#06x}", t.checksum()));
                    push("payload.len", t.payload().len().to_string());
                }
                Some(TransportSlice::Udp(u)) => {
                    push("udp.sport", u.source_port().to_string());
                    push("udp.dport", u.destination_port().to_string());
                    push("udp.checksum", format!("{:#06x}", u.checksum()));
                    push("payload.len", u.payload().len().to_string());
                }
                Some(TransportSlice::Icmpv4(i)) => {
                    push("icmp.type", format!("{:?}", i.icmp_type()));
                    push("icmp.checksum", format!("{:#06x}", i.checksum()));
                }
                Some(other) => push("transport", format!("{other:?}")),
                None => {}
            }
        }
    }
    f
}

fn mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn tcp_flags(t: &etherparse::TcpSlice<'_>) -> String {
    let mut s = String::new();
    for (set, c) in [
        (t.syn(), 'S'),
        (t.ack(), 'A'),
        (t.fin(), 'F'),
        (t.rst(), 'R'),
        (t.psh(), 'P'),
    ] {
        if set {
            s.push(c);
        }
    }
    s
}

// ---------------------------------------------------------------------------
// Several workers: output compared flow by flow.

/// A frame a case expects a port to send: the flow it belongs to (an index
/// the case assigns) and the TX queue, i.e. the worker, that must send it.
#[derive(Clone, Debug)]
pub struct ExpectedFrame {
    pub flow: usize,
    pub queue: usize,
    pub bytes: Vec<u8>,
}

/// An IPv4 address and port.
pub type Endpoint = ([u8; 4], u16);

/// What an output frame says about the flow it belongs to: its protocol and
/// its two endpoints, unordered (so both directions of a leg agree). An
/// ICMP error gives the endpoints of the packet it quotes, an IPIP packet
/// those of the inner packet, an ICMP echo its identifier as both ports.
/// Anything else (ARP, ...) is keyed by its bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FlowKey {
    Endpoints(u8, [Endpoint; 2]),
    Other(Vec<u8>),
}

pub fn flow_key(frame: &[u8]) -> FlowKey {
    let mut l3 = 14;
    if frame.get(12..14) == Some(&[0x81, 0x00]) {
        l3 += 4;
    }
    let ipv4 = frame.get(l3 - 2..l3) == Some(&[0x08, 0x00]);
    match frame.get(l3..).filter(|_| ipv4).and_then(ip_flow_key) {
        Some((proto, mut ends)) => {
            ends.sort();
            FlowKey::Endpoints(proto, ends)
        }
        None => FlowKey::Other(frame.to_vec()),
    }
}

fn ip_flow_key(p: &[u8]) -> Option<(u8, [Endpoint; 2])> {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let (proto, l4) = (p[9], p.get(ihl..)?);
    let addr = |at: usize| -> [u8; 4] { p[at..at + 4].try_into().expect("4 bytes") };
    let be16 = |b: &[u8], at: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
    };
    match proto {
        4 => ip_flow_key(l4),
        6 | 17 => Some((proto, [(addr(12), be16(l4, 0)?), (addr(16), be16(l4, 2)?)])),
        1 => match *l4.first()? {
            // Destination unreachable, time exceeded, parameter problem.
            3 | 11 | 12 => ip_flow_key(l4.get(8..)?),
            0 | 8 => {
                let id = be16(l4, 4)?;
                Some((proto, [(addr(12), id), (addr(16), id)]))
            }
            _ => None,
        },
        _ => None,
    }
}

/// The first difference between two frame sequences, as
/// [`assert_frames_eq`] reports it, or None if they are equal.
pub fn frames_difference(what: &str, expected: &[Vec<u8>], actual: &[Vec<u8>]) -> Option<String> {
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        if e != a {
            return Some(format!(
                "{what}: frame {i} differs (expected | actual):\n{}",
                diff_frames(e, a)
            ));
        }
    }
    (actual.len() != expected.len()).then(|| {
        format!(
            "{what}: {} frames sent, {} expected (the first {} match)",
            actual.len(),
            expected.len(),
            expected.len().min(actual.len())
        )
    })
}

/// Checks what one port's TX queues sent (`sent_by_queue[q]`) against a
/// case's expected frames, flow by flow: every flow's frames must come out
/// of the TX queues the case names, each queue's share in the order the
/// case lists them (the order one worker handling the flow produces); no
/// frame may belong to no flow; and the port's frames, all queues
/// together, must be the expected ones as a multiset. There is no order
/// between flows, nor between queues. `flow_name(f)` labels flow `f` in
/// messages. Panics with every problem found, frames decoded field by
/// field where they differ.
pub fn assert_flows_eq(
    port: &str,
    expected: &[ExpectedFrame],
    sent_by_queue: &[Vec<Vec<u8>>],
    flow_name: &dyn Fn(usize) -> String,
) {
    use std::collections::{BTreeMap, BTreeSet};
    // Which flow an output frame belongs to, by its key.
    let mut flow_of: BTreeMap<FlowKey, usize> = BTreeMap::new();
    for e in expected {
        let key = flow_key(&e.bytes);
        if let Some(&other) = flow_of.get(&key) {
            assert_eq!(
                other,
                e.flow,
                "case error: flows {} and {} both send {key:?}",
                flow_name(other),
                flow_name(e.flow)
            );
        }
        flow_of.insert(key, e.flow);
    }
    // (flow, queue) -> frames, expected and actual; actual frames of no flow.
    let mut want: BTreeMap<(usize, usize), Vec<Vec<u8>>> = BTreeMap::new();
    for e in expected {
        want.entry((e.flow, e.queue))
            .or_default()
            .push(e.bytes.clone());
    }
    let mut got: BTreeMap<(usize, usize), Vec<Vec<u8>>> = BTreeMap::new();
    let mut stray: Vec<(usize, &Vec<u8>)> = Vec::new();
    for (q, frames) in sent_by_queue.iter().enumerate() {
        for f in frames {
            match flow_of.get(&flow_key(f)) {
                Some(&flow) => got.entry((flow, q)).or_default().push(f.clone()),
                None => stray.push((q, f)),
            }
        }
    }
    let mut problems = Vec::new();
    let flows: BTreeSet<usize> = want.keys().chain(got.keys()).map(|k| k.0).collect();
    for flow in flows {
        let queues = |m: &BTreeMap<(usize, usize), Vec<Vec<u8>>>| -> Vec<(usize, usize)> {
            m.iter()
                .filter(|(k, _)| k.0 == flow)
                .map(|(k, v)| (k.1, v.len()))
                .collect()
        };
        let (wq, gq) = (queues(&want), queues(&got));
        let wq_set: BTreeSet<usize> = wq.iter().map(|x| x.0).collect();
        let gq_set: BTreeSet<usize> = gq.iter().map(|x| x.0).collect();
        if wq_set != gq_set {
            problems.push(format!(
                "flow {}: sent on TX queues (queue, frames) {gq:?}, expected {wq:?}",
                flow_name(flow)
            ));
        }
        for q in wq_set.union(&gq_set) {
            let empty = Vec::new();
            let w = want.get(&(flow, *q)).unwrap_or(&empty);
            let g = got.get(&(flow, *q)).unwrap_or(&empty);
            if let Some(p) = frames_difference(
                &format!("port {port}: flow {}, TX queue {q}", flow_name(flow)),
                w,
                g,
            ) {
                problems.push(p);
            }
        }
    }
    for (q, f) in &stray {
        problems.push(format!(
            "port {port}: TX queue {q} sent a frame of no flow of the case:\n{}",
            decode(f)
                .iter()
                .map(|(k, v)| format!("  {k:<18} {v}\n"))
                .collect::<String>()
        ));
    }
    let mut all_want: Vec<&Vec<u8>> = expected.iter().map(|e| &e.bytes).collect();
    let mut all_got: Vec<&Vec<u8>> = sent_by_queue.iter().flatten().collect();
    all_want.sort();
    all_got.sort();
    if all_want != all_got {
        let missing = all_want.iter().filter(|f| !all_got.contains(f)).count();
        let extra = all_got.iter().filter(|f| !all_want.contains(f)).count();
        problems.push(format!(
            "port {port}: {} frames sent, {} expected; {missing} expected frames not sent, \
             {extra} sent frames not expected",
            all_got.len(),
            all_want.len()
        ));
    }
    assert!(
        problems.is_empty(),
        "port {port}: output differs from the case, flow by flow:\n\n{}",
        problems.join("\n\n")
    );
}
