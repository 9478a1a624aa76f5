//! The pcap replay harness: runs the real `ferrolb` binary on DPDK `net_pcap`
//! ports and compares what it wrote with what a case expects, packet by
//! packet.
//!
//! A case is a config fragment (everything but the ports and the EAL
//! arguments), the frames each port receives, and the frames each port must
//! send. Frames are built in Rust with etherparse, so a case reads as what it
//! sends. Every run gets its own temporary directory and DPDK file prefix, so
//! cases run in parallel.

#![allow(dead_code)] // each test binary uses a different part

#[allow(unused_imports)] // not every test binary uses the frame builders
pub use ferrolb_perf::{frames, pcap};

pub mod appliance;
pub mod lb;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use etherparse::{LinkSlice, NetSlice, SlicedPacket, TransportSlice, VlanSlice};

/// One port of a replay case.
pub struct CasePort {
    pub name: String,
    /// Frames the port receives, in order.
    pub input: Vec<Vec<u8>>,
    /// Our MAC on this port (`mac = "..."`), if the case sets one.
    pub mac: Option<[u8; 6]>,
}

impl CasePort {
    pub fn new(name: &str, input: Vec<Vec<u8>>) -> Self {
        CasePort {
            name: name.to_owned(),
            input,
            mac: None,
        }
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
    /// Worker cores.
    pub cores: Vec<usize>,
}

/// What a run produced.
pub struct ReplayResult {
    pub output: Output,
    /// Frames each port transmitted, by port index.
    pub sent: Vec<Vec<Vec<u8>>>,
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
    pub fn run(&self) -> ReplayResult {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut toml = format!("[eal]\n{}\n\n", test_eal_args("replay"));
        for (i, port) in self.ports.iter().enumerate() {
            let rx = dir.path().join(format!("{}.in.pcap", port.name));
            let tx = dir.path().join(format!("{}.out.pcap", port.name));
            pcap::write(&rx, &port.input);
            writeln!(
                toml,
                "[[port]]\nname = \"{}\"\ndevice = \"net_pcap{i},rx_pcap={},tx_pcap={}\"",
                port.name,
                rx.display(),
                tx.display()
            )
            .expect("write to string");
            if let Some(m) = port.mac {
                writeln!(toml, "mac = \"{}\"", mac(&m)).expect("write to string");
            }
            toml.push('\n');
        }
        writeln!(toml, "[workers]\ncores = {:?}\n", self.cores).expect("write to string");
        toml.push_str(&self.config);
        let config = dir.path().join("ferrolb.toml");
        std::fs::write(&config, &toml).expect("write config");

        let output = run_ferrolb(&config, &["--exit-when-idle", "200"]);
        let sent = self
            .ports
            .iter()
            .map(|p| {
                let tx = dir.path().join(format!("{}.out.pcap", p.name));
                if tx.exists() {
                    pcap::read(&tx)
                } else {
                    Vec::new()
                }
            })
            .collect();
        ReplayResult { output, sent, dir }
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
