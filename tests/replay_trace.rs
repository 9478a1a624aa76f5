//! `ferrolbctl trace` and `capture` against the real binary on a `net_pcap`
//! port replaying its input forever: every mode's new flow followed step
//! by step, every drop reason the traffic provokes traced under the name
//! of the counter it lands in, a packet handed between workers traced on
//! both, and a capture read back by an independent pcapng reader (the
//! `pcap-file` crate) equal byte for byte to what went in and came out.

mod common;

use std::collections::BTreeSet;

use common::appliance::{Appliance, LB_MAC, ROUTER_MAC};
use common::lb::{self, Frame};
use etherparse::IpNumber;
use serde_json::Value;

const LB: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
const ROUTER: [u8; 6] = [2, 0, 0, 0, 0, 0x01];

fn body() -> String {
    let mut s = String::from(
        r#"
[sessions]
capacity = 65536

[[interface]]
port = "lan"
addresses = ["10.0.0.1/24", "10.0.1.1/24"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.0.254"

[[snat]]
source = "10.0.1.0/24"
port = "lan"
addresses = ["203.0.113.1"]
ports = "50000-50099"
"#,
    );
    s += &format!("\n[[neighbour]]\naddress = \"10.0.0.254\"\nmac = \"{ROUTER_MAC}\"\n");
    for n in [11, 12] {
        s += &format!(
            "\n[[neighbour]]\naddress = \"10.0.1.{n}\"\nmac = \"02:00:00:00:01:{n:02x}\"\n"
        );
    }
    for (vip, mode, backend, extra) in [
        (30, "dr", "10.0.1.11", ""),
        (31, "tun", "10.0.1.12", ""),
        (32, "nat", "10.0.1.11", "port = 8080\n"),
        (33, "fullnat", "10.0.1.12", "port = 8080\n"),
        (34, "nat", "10.0.1.11", "weight = 0\n"),
        (
            35,
            "nat",
            "10.0.1.11",
            "port = 8080\n\n[[service.backend]]\naddress = \"10.0.1.12\"\nport = 8080\n",
        ),
    ] {
        let laddr = match (mode, vip) {
            ("fullnat", _) => "local_addresses = [\"10.0.1.100\"]\n",
            (_, 35) => "scheduler = \"rr\"\n",
            _ => "",
        };
        s += &format!(
            "\n[[service]]\nvip = \"192.0.2.{vip}\"\nprotocol = \"tcp\"\nport = 80\nmode = \"{mode}\"\n{laddr}\
             \n[[service.backend]]\naddress = \"{backend}\"\n{extra}"
        );
    }
    s
}

fn vip(n: u8) -> [u8; 4] {
    [192, 0, 2, n]
}

/// A client's SYN, ACK, RST: the RST closes the established session, so
/// the next round's SYN opens (and schedules) a new one.
fn syn_rst(client: u8, dst: [u8; 4]) -> Vec<Vec<u8>> {
    let c = (lb::cip(client), 40000 + u16::from(client));
    ["S", "A", "R"]
        .iter()
        .map(|f| lb::tcp(ROUTER, LB, c, (dst, 80), 1, 0, f, b"").bytes())
        .collect()
}

fn set_ipv4_checksum(frame: &mut [u8]) {
    frame[24] = 0;
    frame[25] = 0;
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let mut sum = 0u32;
    for c in frame[14..14 + ihl].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let sum = !(sum as u16);
    frame[24..26].copy_from_slice(&sum.to_be_bytes());
}

/// Frames each dropped for one reason, with that reason's counter name.
fn refused() -> Vec<(&'static str, Vec<u8>)> {
    let client = (lb::cip(50), 5000);
    let syn = |dst: [u8; 4]| lb::tcp(ROUTER, LB, client, (dst, 80), 1, 0, "S", b"");
    let with_ip = |f: &Frame, edit: &dyn Fn(&mut Vec<u8>)| {
        let mut b = f.bytes();
        edit(&mut b);
        set_ipv4_checksum(&mut b);
        b
    };
    let mut bad_sum = syn(vip(32)).bytes();
    bad_sum[24] ^= 0xff;
    let mut vlan = syn(vip(32)).bytes();
    vlan.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
    let mut ipv6 = vec![0u8; 14 + 40];
    ipv6[..6].copy_from_slice(&LB);
    ipv6[6..12].copy_from_slice(&ROUTER);
    ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
    ipv6[14] = 0x60;
    let mut lldp = ipv6.clone();
    lldp[12..14].copy_from_slice(&[0x88, 0xcc]);
    let gre = Frame {
        l4: lb::L4::Raw,
        payload: vec![0; 8],
        ..lb::udp(ROUTER, LB, client, (vip(32), 80), b"")
    };
    let mut gre = gre;
    gre.ip.protocol = IpNumber(47);
    let mut bad_icmp = lb::echo_request(ROUTER, LB, lb::cip(50), vip(32), 1, 1).bytes();
    let at = bad_icmp.len() - 1;
    bad_icmp[at] ^= 0xff;
    let big = |df: bool| {
        lb::tcp(ROUTER, LB, client, (vip(31), 80), 1, 0, "S", &[0; 1460])
            .with_df(df)
            .bytes()
    };
    vec![
        ("no_service", syn(vip(99)).bytes()),
        (
            "no_session",
            lb::tcp(
                ROUTER,
                LB,
                (lb::cip(51), 5999),
                (vip(32), 80),
                1,
                1,
                "A",
                b"",
            )
            .bytes(),
        ),
        ("no_backend", syn(vip(34)).bytes()),
        (
            "other_host",
            syn(vip(32))
                .with_macs(ROUTER, [2, 0, 0, 0, 0, 0x77])
                .bytes(),
        ),
        ("no_interface", vlan),
        ("bad_ipv4_checksum", bad_sum),
        ("truncated_ipv4", syn(vip(32)).bytes()[..30].to_vec()),
        ("truncated_frame", syn(vip(32)).bytes()[..10].to_vec()),
        ("ttl_exceeded", syn(vip(32)).with_ttl(1).bytes()),
        (
            // A fragment of ICMP: only TCP and UDP fragments are forwarded.
            "fragment",
            with_ip(
                &lb::echo_request(ROUTER, LB, lb::cip(50), vip(32), 1, 1),
                &|b| b[20] |= 0x20,
            ),
        ),
        (
            // Offset 65528 and more: past the largest datagram.
            "frag_oversized",
            with_ip(
                &lb::udp(ROUTER, LB, client, (vip(32), 80), &[0; 16]),
                &|b| b[20..22].copy_from_slice(&0x1fffu16.to_be_bytes()),
            ),
        ),
        ("bad_ip_version", with_ip(&syn(vip(32)), &|b| b[14] = 0x65)),
        ("bad_ihl", with_ip(&syn(vip(32)), &|b| b[14] = 0x44)),
        (
            "total_length_past_frame",
            with_ip(&syn(vip(32)), &|b| b[17] += 40),
        ),
        (
            "truncated_l4",
            with_ip(&syn(vip(32)), &|b| {
                b.truncate(14 + 20 + 10);
                b[16..18].copy_from_slice(&30u16.to_be_bytes());
            }),
        ),
        ("unsupported_protocol", gre.bytes()),
        ("ipv6_not_forwarded", ipv6),
        ("unsupported_ethertype", lldp),
        ("bad_icmp_checksum", bad_icmp),
        (
            "not_for_us",
            lb::arp_request(ROUTER, [10, 0, 0, 254], [10, 0, 0, 77]),
        ),
        ("fragmentation_needed", big(true)),
    ]
}

fn traffic() -> Vec<Vec<u8>> {
    let mut t: Vec<Vec<u8>> = [(1, vip(30)), (2, vip(31)), (3, vip(32)), (4, vip(33))]
        .iter()
        .flat_map(|&(c, v)| syn_rst(c, v))
        .collect();
    // SNAT: a backend opening a connection out.
    for f in ["S", "A", "R"] {
        let out = lb::tcp(
            [2, 0, 0, 0, 1, 11],
            LB,
            (lb::rip(11), 5555),
            ([203, 0, 113, 9], 443),
            1,
            0,
            f,
            b"",
        );
        t.push(out.bytes());
    }
    t.extend(refused().into_iter().map(|(_, f)| f));
    t
}

fn packets(reply: &Value) -> &Vec<Value> {
    reply["packets"].as_array().expect("packets")
}

fn steps(p: &Value) -> Vec<(String, String)> {
    p["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_owned(),
                s["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn detail<'a>(s: &'a [(String, String)], step: &str) -> Vec<&'a str> {
    s.iter()
        .filter(|(n, _)| n == step)
        .map(|(_, d)| d.as_str())
        .collect()
}

#[test]
fn every_mode_s_new_flow_is_followed_from_rx_to_tx() {
    let app = Appliance::start(&body(), &traffic());
    for (filter, sched, tx) in [
        (
            "dst host 192.0.2.30 and syn and src port 40001",
            "mode dr",
            "tcp 198.51.100.1:40001 -> 192.0.2.30:80",
        ),
        (
            "dst host 192.0.2.31 and syn and src port 40002",
            "mode tun",
            "ipip 10.0.1.1:0 -> 10.0.1.12:0",
        ),
        (
            "dst host 192.0.2.32 and syn and src port 40003",
            "backend 10.0.1.11:8080",
            "tcp 198.51.100.3:40003 -> 10.0.1.11:8080",
        ),
        (
            "dst host 192.0.2.33 and syn and src port 40004",
            "local 10.0.1.100:",
            "tcp 10.0.1.100:",
        ),
        ("tcp dst port 443 and syn", "SNAT rule", "tcp 203.0.113.1:"),
    ] {
        let reply = app.ctl_json(&["trace", "-f", filter, "-n", "2", "--port", "lan"]);
        assert_eq!(reply["timed_out"], false, "{filter}: {reply}");
        assert_eq!(packets(&reply).len(), 2, "{filter}: {reply}");
        for p in packets(&reply) {
            let s = steps(p);
            let names: Vec<&str> = s.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names[..2], ["rx", "ipv4"], "{filter}: {s:?}");
            assert!(
                detail(&s, "session")
                    .iter()
                    .any(|d| d.starts_with("miss") || d.starts_with("SYN on closing")),
                "{filter}: {s:?}"
            );
            assert!(
                detail(&s, "schedule").iter().any(|d| d.contains(sched)),
                "{filter}: {s:?}"
            );
            assert!(
                detail(&s, "tx").iter().any(|d| d.contains(tx)),
                "{filter}: {s:?}"
            );
            assert_eq!(names.last(), Some(&"tx"), "{filter}: {s:?}");
        }
    }
    // The readable form: a block per packet, a line per step.
    let text = app.ctl_ok(&[
        "trace",
        "-f",
        "dst host 192.0.2.32 and src port 40003 and syn",
        "-n",
        "1",
    ]);
    assert!(
        text.starts_with(
            "Trace: 1 packets, filter (dst host 192.0.2.32 and src port 40003) and syn\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("\n  schedule   service tcp/192.0.2.32:80 mode nat scheduler"),
        "{text}"
    );
    app.stop();
}

#[test]
fn every_refused_packet_is_traced_under_its_counter_s_name() {
    let app = Appliance::start(&body(), &traffic());
    let reply = app.ctl_json(&["trace", "-n", "400"]);
    assert_eq!(reply["timed_out"], false);
    let mut traced = BTreeSet::new();
    for p in packets(&reply) {
        for (step, d) in steps(p) {
            if step == "drop" {
                traced.insert(d.split(' ').next().unwrap().to_owned());
            }
        }
    }
    let stats = app.ctl_json(&["stats"]);
    let counted: BTreeSet<String> = stats["drops"]
        .as_object()
        .expect("drops")
        .iter()
        .filter(|(_, n)| n.as_u64() > Some(0))
        .map(|(k, _)| k.clone())
        .collect();
    for (reason, _) in refused() {
        assert!(traced.contains(reason), "{reason} not traced: {traced:?}");
        assert!(
            counted.contains(reason),
            "{reason} not counted: {counted:?}"
        );
    }
    assert!(
        traced.is_subset(&counted),
        "traced {traced:?}, counted {counted:?}"
    );
    app.stop();
}

#[test]
fn a_packet_handed_to_another_worker_keeps_its_trace() {
    // Clients on queue 0, the NAT backend's replies on queue 1: the owner
    // of each flow is one worker, so some packets change workers.
    let mut replies = Vec::new();
    let mut requests = Vec::new();
    for c in 1..=8u8 {
        let client = (lb::cip(c), 41000 + u16::from(c));
        requests.push(lb::tcp(ROUTER, LB, client, (vip(32), 80), 1, 0, "S", b"").bytes());
        replies.push(
            lb::tcp(
                [2, 0, 0, 0, 1, 11],
                LB,
                (lb::rip(11), 8080),
                client,
                1,
                2,
                "SA",
                b"",
            )
            .bytes(),
        );
    }
    let app = Appliance::start_queues(&body(), &[requests, replies], "", "");
    // Worker 0 hands every request to worker 1 as fast as the replay goes,
    // so the ring between them is often full and a hand-over in such a
    // moment is `redirect_full` (itself traced). Whether a trace's
    // packets fall in such a moment is timing: a few traces are taken
    // until one has hand-overs that found room.
    let mut reply = Value::Null;
    let mut all = Vec::new();
    let mut handed: Vec<&Value> = Vec::new();
    for _ in 0..8 {
        reply = app.ctl_json(&["trace", "-f", "net 198.51.100.0/24", "-n", "64"]);
        all = packets(&reply).clone();
        if all
            .iter()
            .any(|p| steps(p).iter().any(|(s, _)| s == "redirect"))
        {
            break;
        }
    }
    handed.extend(
        all.iter()
            .filter(|p| steps(p).iter().any(|(s, _)| s == "redirect")),
    );
    assert!(!handed.is_empty(), "some packet changed workers: {reply}");
    for p in handed {
        let id = &p["id"];
        let rest = all
            .iter()
            .find(|q| &q["id"] == id && q["part"] == 1)
            .unwrap_or_else(|| panic!("no continuation of {p}"));
        let s = steps(rest);
        assert!(s[0].1.contains("handed over by worker"), "{s:?}");
        assert_ne!(rest["worker"], p["worker"]);
    }
    app.stop();
}

#[test]
fn a_capture_reads_back_byte_for_byte() {
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
    use pcap_file::pcapng::{Block, PcapNgReader};
    let request = lb::tcp(
        ROUTER,
        LB,
        (lb::cip(9), 40009),
        (vip(30), 80),
        1,
        0,
        "S",
        b"",
    )
    .bytes();
    // DR rewrites only the MACs: the backend's, from ours.
    let mut sent = request.clone();
    sent[..6].copy_from_slice(&[2, 0, 0, 0, 1, 11]);
    sent[6..12].copy_from_slice(&LB);
    let app = Appliance::start(&body(), std::slice::from_ref(&request));
    let file = app.dir.path().join("cap.pcapng");
    let out = app.ctl(&[
        "capture",
        "--port",
        "lan",
        "-f",
        "host 198.51.100.9",
        "-n",
        "80",
        "-w",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = PcapNgReader::new(std::fs::File::open(&file).unwrap()).expect("pcapng");
    let mut frames = Vec::new();
    while let Some(block) = reader.next_block() {
        if let Block::EnhancedPacket(epb) = block.expect("block") {
            let comment = epb
                .options
                .iter()
                .find_map(|o| match o {
                    EnhancedPacketOption::Comment(c) => Some(c.to_string()),
                    _ => None,
                })
                .expect("comment");
            assert_eq!(epb.original_len as usize, epb.data.len());
            frames.push((comment, epb.data.to_vec()));
        }
    }
    assert_eq!(frames.len(), 80);
    for (comment, data) in &frames {
        let want = match comment.starts_with("dir=rx") {
            true => &request,
            false => &sent,
        };
        assert_eq!(data, want, "{comment}");
        assert!(comment.ends_with("port=lan worker=0"), "{comment}");
    }
    assert!(frames.iter().any(|(c, _)| c.starts_with("dir=tx")));
    // `-w -`: the same file on stdout.
    let out = app.ctl(&["capture", "--port", "lan", "-n", "2", "-w", "-"]);
    assert!(out.status.success());
    assert_eq!(&out.stdout[..4], &0x0A0D_0D0Au32.to_le_bytes());
    app.stop();
}

/// `capture -w -` streams: frames reach the reader while the capture
/// runs (not when it ends), and a reader that goes away ends the capture
/// at once when frames flow, and within the keep-alive when none match.
#[test]
fn a_streamed_capture_writes_frames_as_they_come_and_ends_with_its_reader() {
    use pcap_file::pcapng::{Block, PcapNgReader};
    use std::process::{Command, Stdio};
    let request = lb::tcp(
        ROUTER,
        LB,
        (lb::cip(9), 40009),
        (vip(30), 80),
        1,
        0,
        "S",
        b"",
    )
    .bytes();
    let app = Appliance::start(&body(), std::slice::from_ref(&request));
    let capture = |filter: &str| {
        Command::new(common::appliance::ferrolbctl_bin())
            .arg("-s")
            .arg(&app.socket)
            .args(["capture", "--port", "lan", "-f", filter])
            .args(["-n", "1000000", "--timeout", "30", "-w", "-"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ferrolbctl")
    };
    let mut child = capture("host 198.51.100.9");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = PcapNgReader::new(stdout).expect("a pcapng section header");
    let mut frames = 0;
    while frames < 5 {
        match reader.next_block() {
            Some(Ok(Block::EnhancedPacket(epb))) => {
                assert_eq!(epb.data.len(), request.len());
                frames += 1;
            }
            Some(Ok(_)) => {}
            other => panic!("the stream ended before 5 frames: {other:?}"),
        }
    }
    // Five frames read while the capture (30 s, a million frames) runs.
    assert!(child.try_wait().expect("try_wait").is_none());
    child.kill().expect("kill");
    child.wait().expect("wait");
    drop(reader);
    let trace = [
        "trace",
        "-f",
        "host 198.51.100.9",
        "-n",
        "1",
        "--timeout",
        "2",
    ];
    let traced = || app.ctl(&trace).status.success();
    // Frames flow: the next copy's write fails and the capture ends.
    app.wait_for("the capture to end with its reader", traced);
    // A capture nothing matches, its reader killed: the keep-alive ends it.
    let mut child = capture("host 203.0.113.1");
    app.wait_for("the capture to be armed (a trace refused)", || !traced());
    child.kill().expect("kill");
    child.wait().expect("wait");
    app.wait_for("the silent capture to end with its reader", traced);
    app.stop();
}

#[test]
fn explain_says_what_a_new_flow_would_do_and_changes_nothing() {
    let app = Appliance::start(&body(), &syn_rst(1, vip(30)));
    let explain = |args: &[&str]| -> Vec<(String, String)> {
        let mut all = vec!["explain"];
        all.extend_from_slice(args);
        let reply = app.ctl_json(&all);
        steps(&reply)
    };
    // rr over two backends: asked twice, the same answer (no cursor moved).
    let a = explain(&["tcp", "198.51.100.200:1234", "192.0.2.35:80"]);
    let b = explain(&["tcp", "198.51.100.200:1234", "192.0.2.35:80"]);
    assert_eq!(a, b);
    let names: Vec<&str> = a.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "worker",
            "session",
            "schedule",
            "rewrite",
            "route",
            "neighbour",
            "tx"
        ],
        "{a:?}"
    );
    assert!(
        a[2].1
            .contains("mode nat scheduler RoundRobin: backend 10.0.1.11:8080 of 2"),
        "{a:?}"
    );
    assert_eq!(a[3].1, "tcp 198.51.100.200:1234 -> 10.0.1.11:8080");
    assert_eq!(a[5].1, "10.0.1.11 is 02:00:00:00:01:0b (static)");
    let sessions = app.ctl_json(&["sessions", "--service", "tcp/192.0.2.35:80"]);
    assert_eq!(
        sessions["sessions"].as_array().map(Vec::len),
        Some(0),
        "{sessions}"
    );
    let last = |args: &[&str]| explain(args).pop().unwrap().1;
    assert_eq!(
        last(&["tcp", "198.51.100.200:1234", "192.0.2.34:80"]),
        "no_backend"
    );
    assert_eq!(
        last(&["tcp", "198.51.100.200:1234", "192.0.2.99:80"]),
        "no_service"
    );
    let snat = explain(&["tcp", "10.0.1.11:5555", "203.0.113.9:443"]);
    assert!(snat[2].1.starts_with("SNAT rule"), "{snat:?}");
    assert_eq!(snat[4].1, "203.0.113.9: via 10.0.0.254, interface 0");
    // An existing session is named.
    let hit = explain(&["tcp", "198.51.100.1:40001", "192.0.2.30:80"]);
    assert!(hit[1].1.starts_with("existing session"), "{hit:?}");
    app.stop();
}

#[test]
fn mistakes_are_refused_before_anything_is_armed() {
    let app = Appliance::start(&body(), &traffic());
    for (args, want) in [
        (
            vec!["trace", "-f", "host"],
            "filter ends where an IP address was expected",
        ),
        (vec!["trace", "--port", "wan"], "no port named `wan`"),
        (
            vec!["capture", "--port", "lan", "-f", "port x", "-w", "-"],
            "`x` is not a port",
        ),
    ] {
        let out = app.ctl(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let _ = LB_MAC;
    app.stop();
}
