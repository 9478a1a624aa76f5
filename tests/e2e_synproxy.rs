//! The SYN proxy against a spoofed SYN flood (docs/syn-proxy.md), in the
//! network namespaces of docs/end-to-end.md: a NAT service with
//! `[sessions] capacity = 16384`, three real servers, and `dpdk-testpmd`
//! in the `outside` namespace replaying a pcap of spoofed SYNs
//! (`net_pcap` with `infinite_rx=1`, forwarded out of a `net_af_packet`
//! port) through the router to the VIP as fast as it can, while the real
//! client makes HTTP requests.
//!
//! With `syn_proxy = true` every request succeeds, the session table holds
//! no session from a spoofed source and the cookie counters account for
//! the flood. The same drill without it (the negative control, issue 21's
//! baseline) fills the table: `table_full` drops.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::{serial, server_ip, Topology, HTTP, SERVERS, VIP};

/// Distinct spoofed SYNs in the pcap testpmd loops over.
const FLOOD_FRAMES: usize = 65_536;

/// The real client's part of a drill: `requests` HTTP requests one after
/// another, each given `timeout_ms` to connect and as long to answer.
#[derive(Clone, Copy)]
struct Load {
    requests: usize,
    timeout_ms: u64,
}

impl Load {
    const INTERVAL_MS: u64 = 100;

    /// The longest the client can run: every request timing out twice
    /// (connect, then read). The client bounds itself; this is no timing
    /// assertion, only a guard against a hung child.
    fn limit(self) -> Duration {
        let per_request = 2 * self.timeout_ms + Self::INTERVAL_MS;
        Duration::from_millis(self.requests as u64 * per_request) + Duration::from_secs(120)
    }
}

/// With the proxy: issue 21's 102 requests, 20 s each: time for five SYNs
/// of Linux's retransmission schedule (0, 1, 3, 7, 15 s) on the flooded
/// path, still far short of a real client's patience (Linux gives up a
/// connect after 127 s). With 10 s (four SYNs), one client in 102 once
/// lost all four exchanges on this VM's veths when the flood ran at
/// 92 kpps, while ferrolb's own ports missed nothing.
const PROXIED: Load = Load {
    requests: 102,
    timeout_ms: 20_000,
};

/// Without it most requests time out while the table is full; the control
/// only has to show the table filling, so it is kept short (a CI run once
/// spent 900 s on 102 requests that each waited 10 s twice).
const UNPROXIED: Load = Load {
    requests: 20,
    timeout_ms: 3_000,
};

fn service(syn_proxy: bool) -> String {
    let mut s = format!(
        "\n[[service]]\nvip = \"{VIP}\"\nprotocol = \"tcp\"\nport = {HTTP}\nmode = \"nat\"\n\
         scheduler = \"rr\"\nsyn_proxy = {syn_proxy}\n"
    );
    for (server, _) in SERVERS {
        s.push_str(&format!(
            "\n[[service.backend]]\naddress = \"{}\"\nweight = 1\n",
            server_ip(server)
        ));
    }
    s
}

/// The router's MAC on the link to `outside`: where the flood is sent.
fn router_mac(t: &Topology) -> String {
    let out = t.run_in("router", &["ip", "-br", "link", "show", "outside"]);
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("no MAC in {text:?}"))
        .to_owned()
}

fn parse_mac(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).expect("hex"))
        .collect();
    v.try_into().expect("six bytes")
}

/// dpdk-testpmd in `outside`: the pcap in a loop, out of eth0.
fn start_flood(t: &Topology) -> (Child, std::path::PathBuf) {
    let pcap = t.dir.path().join("synflood.pcap");
    let macs = ([2, 0, 0, 0, 0x0f, 1], parse_mac(&router_mac(t)));
    let frames = ferrolb_perf::frames::syn_flood(FLOOD_FRAMES, 21, macs, [192, 0, 2, 10], HTTP);
    ferrolb_perf::pcap::write(&pcap, &frames);
    let log = t.dir.path().join("testpmd.out");
    let child = Command::new("ip")
        .args(["netns", "exec", &t.ns("outside"), "dpdk-testpmd"])
        .args([
            "-l",
            "0,1",
            "--no-huge",
            "-m",
            "512",
            "--no-pci",
            "--no-shconf",
        ])
        .args([
            "--file-prefix",
            &format!("{}-flood", t.name),
            "--log-level",
            "*:warning",
        ])
        .arg(format!(
            "--vdev=net_pcap0,rx_pcap={},infinite_rx=1,tx_pcap=/dev/null",
            pcap.display()
        ))
        .arg("--vdev=net_af_packet1,iface=eth0")
        .args([
            "--",
            "--forward-mode=io",
            "--nb-cores=1",
            "--total-num-mbufs=81920",
        ])
        .args(["--stats-period", "1"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).expect("log"))
        .stderr(Stdio::null())
        .spawn()
        .expect("start dpdk-testpmd (scripts/setup.sh installs dpdk)");
    (child, log)
}

/// Stops testpmd (SIGINT: it prints its totals) and returns the frames
/// it sent out of the af_packet port.
fn stop_flood(mut child: Child, log: &std::path::Path) -> u64 {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split("TX-packets:").nth(1))
        .filter_map(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
}

struct Drill {
    requests: usize,
    failed: usize,
    /// Of those, requests whose connection never opened.
    not_connected: usize,
    flood_sent: u64,
    flood_secs: f64,
    answered: u64,
    bad_cookie: u64,
    table_full: u64,
    /// Early data segments held, sent after the splice, and discarded.
    early: [u64; 3],
    /// Sessions listed, and those from a spoofed (100.64.0.0/10) source.
    sessions: usize,
    spoofed: usize,
}

fn stat(t: &Topology, group: &str, name: &str) -> u64 {
    t.ctl_json(&["stats"])[group][name].as_u64().unwrap_or(0)
}

fn drill(syn_proxy: bool, load: Load) -> Drill {
    let mut t = Topology::up("nat");
    t.start_servers();
    let text = t
        .config_text(&service(syn_proxy))
        .replace("capacity = 65536", "capacity = 16384");
    t.start_lb_text(&text);
    // The service answers before the flood.
    t.client(
        "client",
        &["http", "--target", &format!("{VIP}:{HTTP}"), "--count", "3"],
    )
    .assert_all_ok(3);
    let (flood, log) = start_flood(&t);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let client = t.spawn_client(
        "client",
        &[
            "http",
            "--target",
            &format!("{VIP}:{HTTP}"),
            "--count",
            &load.requests.to_string(),
            "--interval-ms",
            &Load::INTERVAL_MS.to_string(),
            "--timeout-ms",
            &load.timeout_ms.to_string(),
        ],
    );
    // The flood saturates the router and the veths (they drop a third of
    // it before ferrolb sees it), and real segments are lost with it: a
    // request gets 10 s, time for TCP's retransmissions. The flood also
    // takes most of this machine's two cores, so the client is slow to
    // be scheduled: the limit is generous (no timing is asserted).
    let run = client.wait(load.limit());
    let elapsed = started.elapsed();
    // Read the table while the flood still runs.
    let listing = t.ctl_json(&["sessions", "--limit", "100000"]);
    let flood_sent = stop_flood(flood, &log);
    let flood_secs = elapsed.as_secs_f64();
    let sessions = listing["sessions"].as_array().cloned().unwrap_or_default();
    let spoofed = sessions
        .iter()
        .filter(|s| s["client"].as_str().is_some_and(|c| c.starts_with("100.")))
        .count();
    eprintln!("client: {:?}", run.done);
    for f in run.failures().iter().take(5) {
        eprintln!("failed: {f:?}");
    }
    Drill {
        requests: load.requests,
        failed: run.failures().len(),
        not_connected: run
            .failures()
            .iter()
            .filter(|r| r.error.starts_with("connect"))
            .count(),
        flood_sent,
        flood_secs,
        answered: stat(&t, "events", "synproxy_syn_answered"),
        bad_cookie: stat(&t, "drops", "synproxy_bad_cookie"),
        table_full: stat(&t, "drops", "table_full"),
        early: [
            stat(&t, "events", "synproxy_early_held"),
            stat(&t, "events", "synproxy_early_sent"),
            stat(&t, "events", "synproxy_early_data"),
        ],
        sessions: sessions.len(),
        spoofed,
    }
}

fn report(what: &str, d: &Drill) {
    eprintln!(
        "E2E synproxy ({what}): testpmd sent {} spoofed SYNs in {:.1} s ({:.0} pps); \
         {} of {} requests failed ({} never connected); cookies answered {}, bad cookies {}, \
         table_full {}; early data held {}, sent {}, discarded {}; \
         {} sessions listed, {} spoofed",
        d.flood_sent,
        d.flood_secs,
        d.flood_sent as f64 / d.flood_secs,
        d.failed,
        d.requests,
        d.not_connected,
        d.answered,
        d.bad_cookie,
        d.table_full,
        d.early[0],
        d.early[1],
        d.early[2],
        d.sessions,
        d.spoofed
    );
}

#[test]
fn a_syn_proxied_service_serves_every_client_through_a_spoofed_syn_flood() {
    let _serial = serial();
    let d = drill(true, PROXIED);
    report("syn_proxy = true", &d);
    assert!(
        d.flood_sent > 10_000,
        "the flood hardly ran: {} frames",
        d.flood_sent
    );
    // Every connection opens through the proxy. The request a client
    // sends right behind its ACK is held while the backend handshake runs
    // and sent after it (docs/syn-proxy.md, "Early data"). Requests can
    // still fail when segments are lost on the flooded path for longer
    // than the server's 5 s read timeout: counted and printed, not hidden.
    assert_eq!(d.not_connected, 0, "connections failed under the flood");
    assert!(
        d.early[1] > 0 && d.early[1] <= d.early[0],
        "early data held {} and sent {}: the held path never ran",
        d.early[0],
        d.early[1]
    );
    assert_eq!(d.spoofed, 0, "spoofed sessions in the table");
    assert_eq!(d.table_full, 0);
    assert!(
        d.answered > 10_000,
        "the flood's SYNs were not answered with cookies: {}",
        d.answered
    );
}

#[test]
fn without_the_proxy_the_same_flood_fills_the_session_table() {
    let _serial = serial();
    let d = drill(false, UNPROXIED);
    report("syn_proxy = false", &d);
    assert!(
        d.flood_sent > 10_000,
        "the flood hardly ran: {} frames",
        d.flood_sent
    );
    assert_eq!(d.answered, 0);
    assert!(
        d.table_full > 0,
        "the table never filled: the drill proves nothing"
    );
    assert!(d.spoofed > 0);
}
