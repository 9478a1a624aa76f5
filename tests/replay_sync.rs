//! Session sync (issue 19, part 2) between two real `ferrolb` processes,
//! each with two workers on a two-queue `net_pcap` port, syncing over UDP
//! on 127.0.0.1 with a shared key.
//!
//! Node A sees the SYNs of NAT, FULLNAT, SNAT and DR flows (replayed
//! forever). Node B sees only the middle of those flows: ACKs with data
//! from the clients (and, after a restart, the servers' replies). B
//! schedules nothing: every frame it sends must be the frame A's session
//! makes (same backend, same local or SNAT address and port), and every
//! such frame must come out. B first gets the sessions live, as A makes
//! them; restarted, it gets them again from A's full dump. Bad datagrams
//! are counted and install nothing.

mod common;

use std::collections::BTreeSet;
use std::net::{SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::appliance::{ctl_json, wait_until_answering};
use common::lb::*;
use common::{ferrolb_bin, pcap, test_eal_args};
use dataplane::flow::table::Forwarding;
use dataplane::flow::{ProtoState, TcpState};
use dataplane::sync::hmac::Key;
use dataplane::sync::wire::{Encoder, Header};
use dataplane::sync::{RecordKind, SessionRecord, SessionRecord6, SyncRecord};
use dataplane::tuple::{FiveTuple, FiveTuple6, IpProto};
use serde_json::Value;

const KEY: &str = "a shared key of the pair\n";
const FLOWS: u16 = 4;
const REMOTE: Ip = [8, 8, 8, 8];
const WORKERS: usize = 2;

fn services() -> String {
    let two = [(rip(11), Some(8080), 1), (rip(12), Some(8080), 1)];
    let tls = [(rip(11), Some(8443), 1), (rip(12), Some(8443), 1)];
    let dr = [(rip(11), None, 1), (rip(12), None, 1)];
    [
        one_arm_config(),
        service("tcp", 80, "nat", "rr", "", &two),
        service(
            "tcp",
            443,
            "fullnat",
            "rr",
            "local_addresses = [\"10.0.1.100\"]\nlocal_ports = \"20000-20999\"",
            &tls,
        ),
        service("tcp", 22, "dr", "mh", "pickup = false", &dr),
        "\n[[snat]]\nsource = \"10.0.1.13/32\"\nport = \"lan\"\naddresses = [\"203.0.113.1\"]\nports = \"50000-50999\"\n".into(),
    ]
    .concat()
}

/// A free UDP port on 127.0.0.1 (bound and let go).
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port()
}

fn local(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new([127, 0, 0, 1].into(), port)
}

/// One `ferrolb` node: two workers, each replaying `traffic` forever on
/// its queue of port `lan`; with `capture`, what it sends is kept.
struct Node {
    dir: tempfile::TempDir,
    socket: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn start(sync: &str, traffic: &[Vec<u8>], capture: bool, key: &Path) -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut device = String::from("net_pcap0,infinite_rx=1");
        for q in 0..WORKERS {
            let rx = dir.path().join(format!("lan.in{q}.pcap"));
            pcap::write(&rx, traffic);
            device.push_str(&format!(",rx_pcap={}", rx.display()));
        }
        for q in 0..WORKERS {
            let tx = if capture {
                dir.path().join(format!("lan.out{q}.pcap"))
            } else {
                PathBuf::from("/dev/null")
            };
            device.push_str(&format!(",tx_pcap={}", tx.display()));
        }
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cores: Vec<usize> = (0..WORKERS).map(|i| i % n).collect();
        let eal = test_eal_args("sync");
        let socket = PathBuf::from(
            eal.lines()
                .find_map(|l| l.strip_prefix("socket = "))
                .expect("a socket")
                .trim_matches('"'),
        );
        let text = format!(
            "[eal]\n{eal}\n\n[[port]]\nname = \"lan\"\ndevice = \"{device}\"\nmac = \"{}\"\n\n\
             [workers]\ncores = {cores:?}\nshared_cores = true\n\n\
             [sync]\n{sync}\nkey_file = \"{}\"\n\n{}",
            mac_text(LAN_MAC),
            key.display(),
            services()
        );
        let config = dir.path().join("ferrolb.toml");
        std::fs::write(&config, text).expect("config");
        let out = std::fs::File::create(dir.path().join("stdout")).expect("stdout");
        let err = std::fs::File::create(dir.path().join("stderr")).expect("stderr");
        let child = Command::new(ferrolb_bin())
            .arg("-c")
            .arg(&config)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start ferrolb");
        let mut node = Node {
            dir,
            socket,
            child: Some(child),
        };
        let d = node.dir.path().to_owned();
        wait_until_answering(&node.socket, &mut node.child, || log_of(&d));
        node
    }

    fn stats(&self) -> Value {
        ctl_json(&self.socket, &["stats"])
    }

    fn event(&self, name: &str) -> u64 {
        self.stats()["events"][name].as_u64().unwrap_or(0)
    }

    fn sessions(&self) -> Vec<Value> {
        let v = ctl_json(&self.socket, &["sessions", "--limit", "1000"]);
        v["sessions"].as_array().expect("sessions").clone()
    }

    fn wait_for(&self, what: &str, mut f: impl FnMut(&Node) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !f(self) {
            assert!(
                Instant::now() < deadline,
                "{what} within 30 s: stats {}\n{}",
                self.stats(),
                log_of(self.dir.path())
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the node and returns every frame it sent.
    fn stop(mut self) -> Vec<Vec<u8>> {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let status = child.wait().expect("wait");
        assert!(status.success(), "{status}: {}", log_of(self.dir.path()));
        (0..WORKERS)
            .flat_map(|q| {
                let p = self.dir.path().join(format!("lan.out{q}.pcap"));
                if p.exists() {
                    pcap::read(&p)
                } else {
                    Vec::new()
                }
            })
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn log_of(dir: &Path) -> String {
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap_or_default();
    format!("stdout:\n{}\nstderr:\n{}", read("stdout"), read("stderr"))
}

/// The flows: (kind, client or internal endpoint, destination).
fn flows() -> Vec<(&'static str, Ep, Ep)> {
    let mut v = Vec::new();
    for i in 0..FLOWS {
        let n = i as u8;
        v.push(("nat", (cip(1 + n), 30000 + i), (VIP, 80)));
        v.push(("fullnat", (cip(10 + n), 31000 + i), (VIP, 443)));
        v.push(("dr", (cip(20 + n), 33000 + i), (VIP, 22)));
        v.push(("snat", (rip(13), 32000 + i), (REMOTE, 80)));
    }
    v
}

fn from_mac(kind: &str) -> Mac {
    if kind == "snat" {
        rmac(13)
    } else {
        ROUTER_MAC
    }
}

fn syns() -> Vec<Vec<u8>> {
    flows()
        .iter()
        .map(|&(k, a, b)| tcp(from_mac(k), LAN_MAC, a, b, 1000, 0, "S", b"").bytes())
        .collect()
}

/// A client's (or internal host's) mid-stream segment of a flow.
/// The same frame every time it is built (its IP ID follows the port), so
/// B's input and the expectations agree.
fn data(kind: &str, a: Ep, b: Ep) -> Frame {
    let mut f = tcp(from_mac(kind), LAN_MAC, a, b, 1001, 5001, "AP", b"hello");
    f.ip.identification = a.1;
    f
}

fn ep(v: &Value) -> Ep {
    let a: SocketAddrV4 = v.as_str().expect("address").parse().expect("ip:port");
    (a.ip().octets(), a.port())
}

/// A's session of the flow from `a` (its backend or remote, and its
/// local or SNAT endpoint).
fn session_of(sessions: &[Value], a: Ep) -> &Value {
    sessions
        .iter()
        .find(|s| ep(&s["client"]) == a)
        .unwrap_or_else(|| panic!("no session from {a:?} in {sessions:?}"))
}

/// The two legs A's session makes of a flow.
fn legs(kind: &str, a: Ep, b: Ep, s: &Value) -> (Leg, Leg) {
    let backend = ep(&s["backend"]);
    let bmac = rmac(backend.0[3]);
    match kind {
        "dr" => one_way_legs(a, b, LAN_MAC, LAN_MAC, bmac, Out::Dr),
        "nat" => nat_legs(LAN_MAC, ROUTER_MAC, a, b, a, backend, bmac),
        "fullnat" => nat_legs(LAN_MAC, ROUTER_MAC, a, b, ep(&s["local"]), backend, bmac),
        _ => nat_legs(LAN_MAC, rmac(13), a, b, ep(&s["local"]), b, ROUTER_MAC),
    }
}

/// B's input and the frames A's sessions make of it: the clients' side
/// only, or the servers' replies too.
fn mid_stream(sessions: Option<&[Value]>, replies: bool) -> (Vec<Vec<u8>>, BTreeSet<Vec<u8>>) {
    let (mut input, mut expected) = (Vec::new(), BTreeSet::new());
    for (kind, a, b) in flows() {
        let f = data(kind, a, b);
        input.push(f.bytes());
        let Some(sessions) = sessions else { continue };
        let (fwd, rev) = legs(kind, a, b, session_of(sessions, a));
        expected.extend(fwd.expect(&f));
        if replies && kind != "dr" {
            let mut r = tcp(
                rev.from_mac,
                LAN_MAC,
                rev.src,
                rev.dst,
                5001,
                1006,
                "AP",
                b"hi",
            );
            r.ip.identification = a.1 ^ 0x8000;
            input.push(r.bytes());
            expected.extend(rev.expect(&r));
        }
    }
    (input, expected)
}

/// Every frame B sent is one A's sessions make, and each of those came out.
fn assert_forwarded_as_a_would(sent: &[Vec<u8>], expected: &BTreeSet<Vec<u8>>) {
    let got: BTreeSet<Vec<u8>> = sent.iter().cloned().collect();
    let unexpected: Vec<_> = got.difference(expected).collect();
    assert!(
        unexpected.is_empty(),
        "{} frames not as A's sessions make them, e.g. {:02x?}",
        unexpected.len(),
        unexpected.first()
    );
    let missing: Vec<_> = expected.difference(&got).collect();
    assert!(
        missing.is_empty(),
        "{} expected frames never sent",
        missing.len()
    );
}

/// Sessions as (client, backend, local) for comparing two nodes.
fn translations(sessions: &[Value]) -> BTreeSet<(String, String, String)> {
    sessions
        .iter()
        .map(|s| {
            (
                s["client"].to_string(),
                s["backend"].to_string(),
                s["local"].to_string(),
            )
        })
        .collect()
}

fn sync_section(listen: u16, peers: &[u16]) -> String {
    let peers: Vec<String> = peers.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
    format!(
        "listen = \"127.0.0.1:{listen}\"\npeers = [{}]",
        peers.join(", ")
    )
}

/// The pair's key file and UDP ports: A's, B's, and the test's own (a
/// listed peer of B's second run, to send bad datagrams from).
struct Pair {
    _dir: tempfile::TempDir,
    key: PathBuf,
    a: u16,
    b: u16,
    test: u16,
}

impl Pair {
    fn new() -> Pair {
        let dir = tempfile::tempdir().expect("dir");
        let key = dir.path().join("sync.key");
        std::fs::write(&key, KEY).expect("key");
        Pair {
            _dir: dir,
            key,
            a: free_port(),
            b: free_port(),
            test: free_port(),
        }
    }
}

/// B first, seeing only the middle of the flows (it drops them all); then
/// A opens every flow and syncs each session live. B must forward as A's
/// sessions do, having scheduled nothing. Returns A, still running, and
/// its sessions.
fn live_sync(pair: &Pair) -> (Node, Vec<Value>) {
    let (input, _) = mid_stream(None, false);
    let b = Node::start(&sync_section(pair.b, &[pair.a]), &input, true, &pair.key);
    let a = Node::start(&sync_section(pair.a, &[pair.b]), &syns(), false, &pair.key);
    let unique = flows().len();
    a.wait_for("A has every session", |n| {
        translations(&n.sessions()).len() == unique
    });
    b.wait_for("B has every session", |n| {
        translations(&n.sessions()).len() == unique
    });
    let a_sessions = a.sessions();
    assert_eq!(translations(&b.sessions()), translations(&a_sessions));
    // Let the forwarding run, then B's frames must be A's.
    std::thread::sleep(Duration::from_millis(1500));
    let b_stats = b.stats();
    assert_eq!(
        b_stats["events"]["sessions_created"], 0,
        "B scheduled nothing"
    );
    assert!(b_stats["events"]["sync_installed"].as_u64() >= Some(unique as u64));
    let (_, expected) = mid_stream(Some(&a_sessions), false);
    assert_forwarded_as_a_would(&b.stop(), &expected);
    (a, a_sessions)
}

/// B restarts (a new boot id) with the servers' replies in its input too:
/// A dumps every session to it. Returns B, running.
fn full_resync(pair: &Pair, a: &Node, a_sessions: &[Value]) -> Node {
    let dumps_before = a.event("sync_dumps_requested");
    let (input, _) = mid_stream(Some(a_sessions), true);
    let peers = [pair.a, pair.test];
    let b = Node::start(&sync_section(pair.b, &peers), &input, true, &pair.key);
    b.wait_for("B has every session again", |n| {
        translations(&n.sessions()).len() == flows().len()
    });
    assert_eq!(translations(&b.sessions()), translations(a_sessions));
    assert!(a.event("sync_dumps_requested") > dumps_before);
    assert!(a.event("sync_dumped") >= flows().len() as u64);
    b
}

/// A NAT session record from a client nobody opened, to VIP:`vip_port`.
fn nat_record(vip_port: u16) -> SessionRecord {
    let inbound = FiveTuple {
        src: [198, 51, 100, 99].into(),
        dst: VIP.into(),
        src_port: 1234,
        dst_port: vip_port,
        proto: IpProto::TCP,
    };
    SessionRecord {
        kind: RecordKind::Created,
        forwarding: Forwarding::Nat,
        state: ProtoState::Tcp(TcpState::Established),
        inbound,
        outbound: FiveTuple {
            src: rip(11).into(),
            dst: inbound.src,
            src_port: 8080,
            dst_port: 1234,
            proto: IpProto::TCP,
        },
        backend: (rip(11).into(), 8080),
        timeout_ms: 60_000,
        splice: None,
    }
}

/// An IPv6 DR session record: these nodes have no IPv6 service.
fn dr6_record() -> SessionRecord6 {
    let a = |s: &str| s.parse::<std::net::Ipv6Addr>().expect("address");
    SessionRecord6 {
        kind: RecordKind::Created,
        forwarding: Forwarding::Dr,
        state: ProtoState::Tcp(TcpState::Established),
        inbound: FiveTuple6 {
            src: a("2001:db8:2::7"),
            dst: a("2001:db8:10::10"),
            src_port: 1234,
            dst_port: 80,
            proto: IpProto::TCP,
        },
        backend: (a("2001:db8:1::11"), 80),
        timeout_ms: 60_000,
        local: None,
        shift: None,
        splice: None,
    }
}

fn datagram<R: Into<SyncRecord> + Copy>(records: &[R], key: Option<&Key>) -> Vec<u8> {
    let header = Header {
        boot_id: 7,
        sequence: 0,
        workers: 2,
    };
    let mut e = Encoder::default();
    for &r in records {
        assert!(e.push(r));
    }
    e.finish(&header, key).to_vec()
}

/// Bad datagrams from a listed peer (the test), each with the counter it
/// must move, and a good one from an address nobody listed.
fn bad_datagrams_are_counted(pair: &Pair, b: &Node, a_sessions: &[Value]) {
    let test = UdpSocket::bind(local(pair.test)).expect("the test's peer address");
    let stranger = UdpSocket::bind("127.0.0.1:0").expect("socket");
    let to = local(pair.b);
    let key = Key::new(KEY.trim_end().as_bytes());
    let good = datagram(&[nat_record(9999)], Some(&key));
    let mut foreign = good.clone();
    foreign[..4].copy_from_slice(b"IPVS");
    let mut v2 = good.clone();
    v2[4] = 2;
    let mut garbled = good.clone();
    garbled[30] ^= 1;
    let wrong_key = Key::new(b"not the key of the pair");
    // An IPv6 record is read, handed to its worker and refused there (no
    // IPv6 service); one with an unknown event is refused when read.
    let dr6 = datagram(&[dr6_record()], Some(&key));
    let mut bad6 = datagram(&[dr6_record()], None);
    bad6[5] = 1; // signed, as the tag appended below covers
    bad6[24 + 1] = 9;
    let tag = key.tag(&bad6);
    bad6.extend_from_slice(&tag);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("sync_truncated", good[..10].to_vec()),
        ("sync_foreign", foreign),
        ("sync_bad_version", v2),
        ("sync_bad_length", good[..good.len() - 1].to_vec()),
        ("sync_bad_auth", garbled),
        ("sync_bad_auth", datagram(&[nat_record(80)], None)),
        (
            "sync_bad_auth",
            datagram(&[nat_record(80)], Some(&wrong_key)),
        ),
        ("sync_unknown_service", good),
        ("sync_unknown_service", dr6),
        ("sync_bad_record", bad6),
    ];
    let before = b.stats()["events"].clone();
    for (_, bytes) in &cases {
        test.send_to(bytes, to).expect("send");
    }
    stranger
        .send_to(&datagram(&[nat_record(80)], Some(&key)), to)
        .expect("send");
    b.wait_for("every bad datagram counted", |n| {
        let now = n.stats()["events"].clone();
        let grew =
            |name: &str| now[name].as_u64().unwrap_or(0) - before[name].as_u64().unwrap_or(0);
        cases.iter().all(|(name, _)| {
            let want = cases.iter().filter(|(n2, _)| n2 == name).count() as u64;
            grew(name) == want
        }) && grew("sync_unknown_peer") == 1
    });
    assert_eq!(
        translations(&b.sessions()),
        translations(a_sessions),
        "nothing installed"
    );
}

#[test]
fn a_peer_forwards_the_middle_of_flows_exactly_as_the_node_that_opened_them() {
    let pair = Pair::new();
    let (a, a_sessions) = live_sync(&pair);
    let b = full_resync(&pair, &a, &a_sessions);
    bad_datagrams_are_counted(&pair, &b, &a_sessions);
    // B forwards both directions of every flow as A's sessions do.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(b.stats()["events"]["sessions_created"], 0);
    let (_, expected) = mid_stream(Some(&a_sessions), true);
    assert_forwarded_as_a_would(&b.stop(), &expected);
    assert!(a.event("sync_peers_joined") >= 2);
}
