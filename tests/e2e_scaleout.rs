//! Two ferrolb nodes behind a router's ECMP, end to end (issue 18, part 4;
//! docs/many-nodes.md). `scripts/netns.sh scaleout` builds the lab: a
//! client behind a router running BIRD with Linux layer-4 ECMP, and a LAN
//! with the router, two nodes and three real servers. Each node is a
//! one-armed `ferrolb` (its port on `net_af_packet`) whose kernel interface
//! `flb-lan` carries the node's host address; the node's BIRD peers with
//! the router over it, so BGP itself goes through the dataplane, and the
//! node's `ferrolbctl daemon` checks the servers through it and drives
//! BIRD (`[bgp]`). Services, the same on both nodes:
//!
//! - 192.0.2.10:80 (HTTP) and :7007 (TCP echo): DR, `mh` (pick-up on);
//! - 192.0.2.20:80: FULLNAT, `mh`, to the servers' port 8080, each node
//!   with its own local address (10.0.1.31 on a, 10.0.1.32 on b).
//!
//! The drills, in order, each printing its figures:
//!
//! 1. both nodes up: requests split over both nodes (their counters), every
//!    request answered, for DR and FULLNAT;
//! 2. every backend of the FULLNAT service fails its check: 192.0.2.20 is
//!    withdrawn by both nodes (192.0.2.10 stays), and comes back when the
//!    servers do;
//! 3. a graceful stop of node b (daemon, then appliance) under a request
//!    loop: no request fails; then b is started again and rejoins;
//! 4. node a's appliance SIGKILLed under 200 long-lived DR connections and
//!    a request loop: the route goes (BFD), at least 99% of the long
//!    connections continue through node b (pick-up), and no request that
//!    started after the route went fails.
//!
//! Needs root; without it the test fails saying so.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::appliance::{ctl_json, ferrolbctl_bin, wait_until_answering, worker_core};
use common::bird::{self, doc_block, in_ns, sh};
use common::netns::{
    netns_build, netns_down, remove_stale_runs, run_name, serial, spawn_client_in, tool, ClientRun,
};
use common::unique_prefix;

const WEB_VIP: &str = "192.0.2.10";
const FULLNAT_VIP: &str = "192.0.2.20";
const SERVERS: [&str; 3] = ["s1", "s2", "s3"];
const CHECK_INTERVAL_MS: u64 = 300;

/// One node of the lab: its names and addresses.
#[derive(Clone, Copy)]
struct NodeSpec {
    name: &'static str,
    mac: &'static str,
    /// The host's address, on the kernel interface: BGP's next hop.
    host: &'static str,
    /// The dataplane's own address on the LAN.
    dataplane: &'static str,
    local_address: &'static str,
    asn: u32,
}

const NODES: [NodeSpec; 2] = [
    NodeSpec {
        name: "a",
        mac: "02:00:00:00:0a:01",
        host: "10.0.1.2",
        dataplane: "10.0.1.21",
        local_address: "10.0.1.31",
        asn: 65001,
    },
    NodeSpec {
        name: "b",
        mac: "02:00:00:00:0b:01",
        host: "10.0.1.3",
        dataplane: "10.0.1.22",
        local_address: "10.0.1.32",
        asn: 65002,
    },
];

const BOTH: [&str; 2] = ["10.0.1.2", "10.0.1.3"];

/// A DR `mh` service on the web VIP, TCP-checked.
fn dr_service(port: u16) -> String {
    let mut s = format!(
        "\n[[service]]\nvip = \"{WEB_VIP}\"\nprotocol = \"tcp\"\nport = {port}\nmode = \"dr\"\n\
         scheduler = \"mh\"\ncheck = {{ type = \"tcp\", interval_ms = {CHECK_INTERVAL_MS}, \
         timeout_ms = 200, rise = 1, fall = 1 }}\n"
    );
    for i in 11..=13 {
        s.push_str(&format!(
            "\n[[service.backend]]\naddress = \"10.0.1.{i}\"\n"
        ));
    }
    s
}

/// The node's appliance config: one port with its kernel interface, the
/// dataplane's address, the services.
fn node_config(node: NodeSpec, prefix: &str, socket: &str) -> String {
    let mut c = format!(
        r#"[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--file-prefix", "{prefix}", "--log-level", "*:warning"]
main_lcore = 0

[control]
socket = "{socket}"

[[port]]
name = "lan"
device = "net_af_packet0,iface=lan,framecnt=4096"
mac = "{mac}"
kernel = {{ name = "flb-lan", addresses = ["{host}/24"] }}

[workers]
cores = [{core}]

[sessions]
capacity = 65536

[[interface]]
port = "lan"
addresses = ["{dataplane}/24"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.1.254"
"#,
        mac = node.mac,
        host = node.host,
        dataplane = node.dataplane,
        core = worker_core(),
    );
    c.push_str(&dr_service(80));
    c.push_str(&dr_service(7007));
    c.push_str(&format!(
        "\n[[service]]\nvip = \"{FULLNAT_VIP}\"\nprotocol = \"tcp\"\nport = 80\nmode = \"fullnat\"\n\
         scheduler = \"mh\"\nlocal_addresses = [\"{}\"]\ncheck = {{ type = \"tcp\", \
         interval_ms = {CHECK_INTERVAL_MS}, timeout_ms = 200, rise = 1, fall = 1 }}\n",
        node.local_address
    ));
    for i in 11..=13 {
        push_backend(&mut c, &format!("10.0.1.{i}"), 8080);
    }
    c
}

fn push_backend(c: &mut String, address: &str, port: u16) {
    c.push_str(&format!(
        "\n[[service.backend]]\naddress = \"{address}\"\nport = {port}\n"
    ));
}

/// The lab: namespaces, BIRDs, servers, and each node's processes; all
/// stopped and removed on drop.
struct Lab {
    name: String,
    dir: tempfile::TempDir,
    children: Vec<(String, Child)>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, c) in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- scaleout lab at the failure:\n{}", self.logs());
        }
        netns_down(&self.name);
    }
}

impl Lab {
    fn up() -> Lab {
        bird::require_root_and_bird("e2e_scaleout");
        remove_stale_runs();
        let lab = Lab {
            name: run_name(),
            dir: tempfile::tempdir().expect("temp dir"),
            children: Vec::new(),
        };
        netns_build(&["scaleout", &lab.name]);
        lab
    }

    fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.name)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    fn spawn(&mut self, name: &str, mut cmd: Command, log: &str) {
        let log = std::fs::File::create(self.path(log)).expect("log");
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        self.children.push((name.to_owned(), child));
    }

    fn take(&mut self, name: &str) -> Child {
        let i = self
            .children
            .iter()
            .position(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no child {name}"));
        self.children.remove(i).1
    }

    fn kill(&mut self, name: &str) {
        let mut c = self.take(name);
        let _ = c.kill();
        let _ = c.wait();
    }

    /// The router: docs/many-nodes.md's example, its neighbours the two
    /// nodes' host addresses on the shared LAN.
    fn start_router(&mut self) {
        let conf = doc_block(1)
            .replace("10.9.1.2", NODES[0].host)
            .replace("10.9.2.2", NODES[1].host);
        let child = bird::start(self.dir.path(), "r", &self.ns("router"), &conf);
        self.children.push(("bird-r".into(), child));
    }

    /// `e2e-server`s on every server: HTTP on 80 and TCP echo on 7007 (the
    /// DR services), and a second one with HTTP on 8080 (FULLNAT's
    /// backends), which drill 2 stops alone.
    fn start_servers(&mut self, which: &str) {
        for s in SERVERS {
            let ns = self.ns(s);
            let mut cmd = in_ns(&ns, &[]);
            cmd.arg(tool("e2e-server")).args(["--name", s]);
            match which {
                "dr" => cmd.args(["--http", "80", "--tcp-echo", "7007"]),
                _ => cmd.args(["--http", "8080"]),
            };
            self.spawn(&format!("{which}-{s}"), cmd, &format!("{which}-{s}.log"));
        }
        for s in SERVERS {
            let log = self.path(&format!("{which}-{s}.log"));
            wait_for(
                &format!("{which} server {s}"),
                Duration::from_secs(10),
                || std::fs::read_to_string(&log).is_ok_and(|t| t.contains("serving")),
            );
        }
    }

    fn stop_servers(&mut self, which: &str) {
        for s in SERVERS {
            self.kill(&format!("{which}-{s}"));
        }
    }

    fn socket(&self, node: NodeSpec) -> PathBuf {
        self.path(&format!("{}.sock", node.name))
    }

    /// Starts node `node`: its appliance (which makes flb-lan), then its
    /// BIRD (docs/many-nodes.md's node example with this node's addresses)
    /// and its daemon.
    fn start_node(&mut self, node: NodeSpec) {
        let n = node.name;
        let socket = self.socket(node);
        let _ = std::fs::remove_file(&socket);
        let config = node_config(
            node,
            &unique_prefix("scaleout"),
            &socket.display().to_string(),
        );
        let file = self.path(&format!("{n}.toml"));
        std::fs::write(&file, &config).expect("write config");
        let mut cmd = in_ns(&self.ns(n), &[]);
        cmd.arg(common::ferrolb_bin()).arg("-c").arg(&file);
        self.spawn(&format!("lb-{n}"), cmd, &format!("{n}.lb.log"));
        let mut lb = Some(self.take(&format!("lb-{n}")));
        let log = self.path(&format!("{n}.lb.log"));
        wait_until_answering(&socket, &mut lb, || {
            std::fs::read_to_string(&log).unwrap_or_default()
        });
        self.children
            .push((format!("lb-{n}"), lb.expect("the appliance runs")));

        let routes = self.path(&format!("{n}.vips.conf"));
        // BIRD refuses a missing include; the daemon rewrites it.
        std::fs::write(&routes, "protocol static ferrolb_vips { ipv4; }\n").expect("routes");
        let conf = doc_block(0)
            .replace("/run/ferrolb/bird-vips.conf", &routes.display().to_string())
            .replace("10.9.1.2", node.host)
            .replace("10.9.1.1", "10.0.1.254")
            .replace("65001", &node.asn.to_string());
        let child = bird::start(self.dir.path(), n, &self.ns(n), &conf);
        self.children.push((format!("bird-{n}"), child));

        let daemon_file = self.path(&format!("{n}.daemon.toml"));
        std::fs::write(
            &daemon_file,
            format!(
                "{config}\n[bgp]\nroutes_file = \"{}\"\nbirdc = [\"birdc\", \"-s\", \"{}\"]\n\
                 drain_ms = 1000\n",
                routes.display(),
                bird::socket(self.dir.path(), n).display()
            ),
        )
        .expect("write daemon.toml");
        let mut cmd = in_ns(&self.ns(n), &[]);
        cmd.arg(ferrolbctl_bin())
            .args(["daemon", "-c"])
            .arg(&daemon_file);
        self.spawn(&format!("daemon-{n}"), cmd, &format!("{n}.daemon.log"));
    }

    fn wait_hops(&self, vip: &str, want: &[&str], limit: Duration, what: &str) -> Duration {
        bird::wait_hops(&self.ns("router"), vip, want, limit, what, || self.logs())
    }

    fn next_hops(&self, vip: &str) -> Vec<String> {
        bird::next_hops(&self.ns("router"), vip)
    }

    fn logs(&self) -> String {
        let files = [
            "a.lb.log",
            "b.lb.log",
            "a.daemon.log",
            "b.daemon.log",
            "r.bird.log",
            "a.bird.log",
            "b.bird.log",
        ];
        bird::tails(self.dir.path(), &files, 25)
    }

    /// `e2e-client ARGS` from the client namespace.
    fn client(&self, args: &[&str]) -> common::netns::RunningClient {
        spawn_client_in(&self.ns("client"), args)
    }

    /// Connections node `node` scheduled to service `key` (its counter).
    fn conns(&self, node: NodeSpec, key: &str) -> u64 {
        let list = ctl_json(&self.socket(node), &["list", "--stats"]);
        list["services"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["key"] == key))
            .and_then(|s| s["stats"]["conns"].as_u64())
            .unwrap_or_else(|| panic!("no service {key} on node {}: {list}", node.name))
    }

    fn event(&self, node: NodeSpec, name: &str) -> u64 {
        ctl_json(&self.socket(node), &["stats"])["events"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("no event counter {name}"))
    }

    fn signal(&self, name: &str, signal: &str) {
        let pid = self
            .children
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.id())
            .unwrap_or_else(|| panic!("no child {name}"));
        sh(&["kill", &format!("-{signal}"), &pid.to_string()]);
    }

    /// Sends SIGTERM to child `name` and waits (at most `limit`) for it to
    /// exit; returns how long it took and whether it exited cleanly.
    fn stop(&mut self, name: &str, limit: Duration) -> (Duration, bool) {
        self.signal(name, "TERM");
        let start = Instant::now();
        let mut c = self.take(name);
        loop {
            if let Some(status) = c.try_wait().expect("try_wait") {
                return (start.elapsed(), status.success());
            }
            if start.elapsed() > limit {
                let _ = c.kill();
                let _ = c.wait();
                panic!("{name} did not stop within {limit:?}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Polls `f` every 10 ms until it holds; fails after `limit`.
fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// `key=value` of a client's `done` line.
fn done_value(run: &ClientRun, key: &str) -> u64 {
    let done = run
        .done
        .as_deref()
        .unwrap_or_else(|| panic!("{}: no done line", run.what));
    done.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {done}"))
}

const WEB: &str = "tcp/192.0.2.10:80";
const ECHO: &str = "tcp/192.0.2.10:7007";
const FULLNAT: &str = "tcp/192.0.2.20:80";

/// Drill 1: requests over both nodes, counted by each, all answered.
fn both_nodes_share_the_traffic(lab: &Lab) {
    let before: Vec<u64> = NODES.iter().map(|n| lab.conns(*n, WEB)).collect();
    let run = lab
        .client(&["http", "--target", "192.0.2.10:80", "--count", "400"])
        .wait(Duration::from_secs(120));
    run.assert_all_ok(400);
    let split: Vec<u64> = NODES
        .iter()
        .zip(&before)
        .map(|(n, b)| lab.conns(*n, WEB) - b)
        .collect();
    println!(
        "both up, DR {WEB_VIP}:80: 400 requests, all answered; node a {} / node b {} connections; servers {:?}",
        split[0],
        split[1],
        run.by_server()
    );
    assert_eq!(split.iter().sum::<u64>(), 400, "each request counted once");
    assert!(
        split.iter().all(|&c| c >= 40),
        "ECMP must give each node a share: {split:?}"
    );

    let run = lab
        .client(&["http", "--target", "192.0.2.20:80", "--count", "400"])
        .wait(Duration::from_secs(120));
    run.assert_all_ok(400);
    let peers = run.by_peer_ip();
    println!(
        "both up, FULLNAT {FULLNAT_VIP}:80: 400 requests, all answered; servers saw {peers:?}"
    );
    let by_local: BTreeMap<&str, u64> = NODES
        .iter()
        .map(|n| {
            (
                n.local_address,
                peers.get(n.local_address).copied().unwrap_or(0),
            )
        })
        .collect();
    assert!(
        by_local.values().all(|&c| c >= 40) && by_local.values().sum::<u64>() == 400,
        "each node's local address carries its share, nothing else: {peers:?}"
    );
    for n in NODES {
        assert_eq!(
            lab.conns(n, FULLNAT),
            by_local[n.local_address],
            "node {}'s FULLNAT connections are the ones from its local address",
            n.name
        );
    }
}

/// Drill 2: the FULLNAT service's backends all fail, then recover.
fn a_vip_follows_its_backends(lab: &mut Lab) {
    lab.stop_servers("fullnat");
    let failed = Instant::now();
    lab.wait_hops(
        FULLNAT_VIP,
        &[],
        Duration::from_secs(10),
        "FULLNAT backends failed",
    );
    let withdrawn = failed.elapsed();
    assert_eq!(lab.next_hops(WEB_VIP), BOTH, "the DR VIP stays announced");
    lab.start_servers("fullnat");
    let back = Instant::now();
    lab.wait_hops(
        FULLNAT_VIP,
        &BOTH,
        Duration::from_secs(10),
        "FULLNAT backends back",
    );
    let announced = back.elapsed();
    println!(
        "every FULLNAT backend failed: {FULLNAT_VIP} withdrawn by both nodes after {} (checks every \
         {CHECK_INTERVAL_MS} ms, fall 1), {WEB_VIP} kept; servers back: announced after {}",
        ms(withdrawn),
        ms(announced)
    );
}

/// Drill 3: node b stopped gracefully under a request loop, then started
/// again.
fn a_graceful_stop_fails_nothing(lab: &mut Lab) {
    let b = NODES[1];
    let b_before = lab.conns(b, WEB);
    let mut loop_run = Some(lab.client(&[
        "http",
        "--target",
        "192.0.2.10:80",
        "--count",
        "0",
        "--duration-ms",
        "60000",
        "--interval-ms",
        "10",
    ]));
    std::thread::sleep(Duration::from_secs(2));
    let b_served = lab.conns(b, WEB) - b_before;
    let (daemon_took, clean) = lab.stop("daemon-b", Duration::from_secs(15));
    assert!(clean, "daemon b exits cleanly\n{}", lab.logs());
    assert_eq!(
        lab.next_hops(WEB_VIP),
        ["10.0.1.2"],
        "withdrawn before the daemon exits"
    );
    let (lb_took, clean) = lab.stop("lb-b", Duration::from_secs(15));
    assert!(clean, "appliance b exits cleanly\n{}", lab.logs());
    std::thread::sleep(Duration::from_secs(2));
    let run = loop_run.take().expect("loop").stop();
    let failures = run.failures();
    println!(
        "graceful stop of node b under a request loop (every 10 ms): {} requests, {} failed; \
         b had served {b_served} in the 2 s before; daemon exited after {} (drain_ms 1000), \
         appliance after {}",
        run.requests.len(),
        failures.len(),
        ms(daemon_took),
        ms(lb_took)
    );
    assert!(b_served > 0, "node b took part before it stopped");
    assert!(
        failures.is_empty(),
        "a graceful stop fails no request: {:?}",
        &failures[..failures.len().min(5)]
    );

    // Back: a restarted node rejoins (its BIRD restarts with it: the old
    // one's interface went with the appliance).
    lab.kill("bird-b");
    lab.start_node(b);
    let t = lab.wait_hops(WEB_VIP, &BOTH, Duration::from_secs(90), "node b back");
    println!("node b restarted: announced again after {}", ms(t));
}

/// Drill 4: node a's appliance SIGKILLed under 200 long DR connections
/// and a request loop.
fn flows_survive_a_dead_node(lab: &mut Lab) {
    let (a, b) = (NODES[0], NODES[1]);
    let long = lab.client(&[
        "long",
        "--target",
        "192.0.2.10:7007",
        "--connections",
        "200",
        "--interval-ms",
        "100",
        "--duration-ms",
        "25000",
        "--timeout-ms",
        "5000",
    ]);
    wait_for("200 long connections", Duration::from_secs(60), || {
        long.lines()
            .iter()
            .any(|(_, l)| l.starts_with("connected "))
    });
    let through_a = lab.conns(a, ECHO);
    let through_b = lab.conns(b, ECHO);
    let picked_before = lab.event(b, "sessions_picked_up");
    let requests = lab.client(&[
        "http",
        "--target",
        "192.0.2.10:80",
        "--count",
        "0",
        "--duration-ms",
        "15000",
        "--interval-ms",
        "10",
    ]);
    std::thread::sleep(Duration::from_secs(2));

    lab.signal("lb-a", "KILL");
    let killed = Instant::now();
    let gone = lab.wait_hops(
        WEB_VIP,
        &["10.0.1.3"],
        Duration::from_secs(10),
        "node a killed",
    );
    let route_gone = killed + gone;
    let requests = requests.wait(Duration::from_secs(60));
    let long = long.wait(Duration::from_secs(90));
    let picked = lab.event(b, "sessions_picked_up") - picked_before;
    let alive = done_value(&long, "alive");
    let late_failures: Vec<_> = requests
        .failures()
        .into_iter()
        .filter(|r| r.started > route_gone)
        .collect();
    println!(
        "node a SIGKILLed: route withdrawn after {} (BFD 100 ms x 3); long DR connections: \
         {through_a} through a, {through_b} through b before, {alive} of 200 alive at the end, \
         node b picked up {picked}; request loop: {} requests, {} failed ({} after the route went)",
        ms(gone),
        requests.requests.len(),
        requests.failures().len(),
        late_failures.len()
    );
    assert_eq!(
        through_a + through_b,
        200,
        "each long connection counted once"
    );
    assert!(through_a >= 20, "node a carried a share: {through_a}");
    assert!(
        gone < Duration::from_secs(1),
        "BFD withdraws within 1 s: {gone:?}"
    );
    assert!(
        alive >= 198,
        "at least 99% of the long connections continue: {alive} of 200 ({:?})",
        long.done
    );
    assert!(
        picked >= through_a * 99 / 100,
        "node b picked up the flows node a had: {picked} of {through_a}"
    );
    assert!(
        late_failures.is_empty(),
        "no request fails once the route is gone: {:?}",
        &late_failures[..late_failures.len().min(5)]
    );
}

#[test]
fn two_nodes_behind_ecmp_share_flows_and_survive_losing_one() {
    let _serial = serial();
    let mut lab = Lab::up();
    lab.start_router();
    lab.start_servers("dr");
    lab.start_servers("fullnat");
    let t0 = Instant::now();
    for node in NODES {
        lab.start_node(node);
    }
    let t = lab.wait_hops(WEB_VIP, &BOTH, Duration::from_secs(60), "both nodes up");
    lab.wait_hops(FULLNAT_VIP, &BOTH, Duration::from_secs(30), "both nodes up");
    println!(
        "both nodes up: both VIPs via {BOTH:?} after {} ({} after the first start)",
        ms(t),
        ms(t0.elapsed())
    );

    both_nodes_share_the_traffic(&lab);
    a_vip_follows_its_backends(&mut lab);
    a_graceful_stop_fails_nothing(&mut lab);
    flows_survive_a_dead_node(&mut lab);
}
