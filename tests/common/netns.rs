//! The end-to-end harness: a topology of network namespaces built by
//! `scripts/netns.sh`, `ferrolb` on `net_af_packet` ports inside it, real
//! servers (`e2e-server`) and real clients (`e2e-client`) in the other
//! namespaces (docs/end-to-end.md). Needs root; without it every test
//! fails with a message saying so, it never skips.
//!
//! Each [`Topology`] has a name of its own (pid and a counter) and is torn
//! down when dropped, on panic too: every process it started is killed and
//! `netns.sh down` removes its namespaces.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::appliance::{ferrolbctl_bin, wait_until_answering, worker_core};
use super::{ferrolb_bin, unique_prefix};

pub const VIP: &str = "192.0.2.10";
/// The servers, their namespaces' suffixes and addresses.
pub const SERVERS: [(&str, &str); 3] = [
    ("s1", "10.0.1.11"),
    ("s2", "10.0.1.12"),
    ("s3", "10.0.1.13"),
];
pub const CLIENT_IP: &str = "10.0.0.2";
pub const OUTSIDE_IP: &str = "198.51.100.2";
pub const HTTP: u16 = 80;
pub const ECHO: u16 = 7007;

/// One scenario at a time: each ferrolb busy-polls a core.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A binary cargo built next to `ferrolb` (the perf crate's e2e tools,
/// `ferrolbctl`): `cargo test --workspace` builds them.
pub fn tool(name: &str) -> PathBuf {
    let path = Path::new(ferrolb_bin()).with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --workspace --bins`",
        path.display()
    );
    path
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/netns.sh")
}

/// Builds a lab with `scripts/netns.sh ARGS` (`scaleout NAME`, `ha NAME`,
/// ...), failing the test with the script's output if it fails.
pub fn netns_build(args: &[&str]) {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("run scripts/netns.sh");
    assert!(
        out.status.success(),
        "scripts/netns.sh {} failed: cannot build the network namespaces:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Removes run `name`'s namespaces and what runs in them
/// (`scripts/netns.sh down`), whatever state they are in; for `Drop`.
pub fn netns_down(name: &str) {
    let _ = Command::new("bash")
        .arg(script())
        .args(["down", name])
        .output();
}

pub fn server_ip(name: &str) -> &'static str {
    SERVERS
        .iter()
        .find(|s| s.0 == name)
        .map(|s| s.1)
        .unwrap_or_else(|| panic!("no server {name}"))
}

pub struct Topology {
    pub name: String,
    /// The DPDK file prefix of this run's ferrolb.
    prefix: String,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub config: PathBuf,
    servers: BTreeMap<String, Child>,
    lb: Option<Child>,
    daemon: Option<Child>,
    /// More lines for the `ext` and `lan` `[[port]]` tables (a kernel
    /// interface).
    pub port_extra: [String; 2],
    /// The DPDK driver of both ports on their veths: `af_packet` (the
    /// default) or `af_xdp`.
    pub port_driver: &'static str,
}

impl Topology {
    /// Builds the namespaces for `mode` (dr, nat, fullnat, snat). Fails
    /// loudly when it cannot.
    pub fn up(mode: &str) -> Topology {
        assert!(
            nix::unistd::Uid::effective().is_root(),
            "the end-to-end tests need root: they build network namespaces \
             (run scripts/test.sh as root; CI does)"
        );
        remove_stale_runs();
        let name = run_name();
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("ferrolb.sock");
        let config = dir.path().join("ferrolb.toml");
        let t = Topology {
            name,
            prefix: unique_prefix("e2e"),
            dir,
            socket,
            config,
            servers: BTreeMap::new(),
            lb: None,
            daemon: None,
            port_extra: Default::default(),
            port_driver: "af_packet",
        };
        netns_build(&["up", &t.name, mode]);
        t
    }

    /// The namespace of `role` (client, router, lb, s1, outside, ...).
    pub fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.name)
    }

    fn in_ns(&self, role: &str, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(role)]).arg(program);
        c
    }

    /// Starts `e2e-server` in namespace `role`, named `role`: HTTP on 80,
    /// TCP and UDP echo on 7007.
    pub fn start_server(&mut self, role: &str) {
        self.start_server_with(role, &[]);
    }

    /// As [`start_server`], with more arguments for `e2e-server`.
    pub fn start_server_with(&mut self, role: &str, extra: &[&str]) {
        let log = std::fs::File::create(self.dir.path().join(format!("{role}.log"))).expect("log");
        let child = self
            .in_ns(role, &tool("e2e-server"))
            .args([
                "--name",
                role,
                "--http",
                "80",
                "--tcp-echo",
                "7007",
                "--udp-echo",
                "7007",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start e2e-server");
        self.servers.insert(role.to_owned(), child);
        // Listening once it says so.
        let path = self.dir.path().join(format!("{role}.log"));
        wait("the server to listen", Duration::from_secs(10), || {
            std::fs::read_to_string(&path).is_ok_and(|s| s.contains("serving"))
        });
    }

    pub fn start_servers(&mut self) {
        for (s, _) in SERVERS {
            self.start_server(s);
        }
    }

    /// Kills the server in `role` (its sockets close: connections are
    /// refused from now on).
    pub fn stop_server(&mut self, role: &str) {
        if let Some(mut c) = self.servers.remove(role) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The config: EAL, the two af_packet ports, interfaces, the default
    /// route, then `body` (services, SNAT rules, daemon keys).
    pub fn config_text(&self, body: &str) -> String {
        let prefix = &self.prefix;
        format!(
            r#"[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--file-prefix", "{prefix}", "--log-level", "*:warning"]
main_lcore = 0

[control]
socket = "{socket}"

[[port]]
name = "ext"
device = "{ext_device}"
mac = "02:00:00:00:02:01"
{ext_extra}
[[port]]
name = "lan"
device = "{lan_device}"
mac = "02:00:00:00:01:01"
{lan_extra}

[workers]
cores = [{core}]

[sessions]
capacity = 65536

[[interface]]
port = "ext"
addresses = ["10.0.2.1/24"]

[[interface]]
port = "lan"
addresses = ["10.0.1.1/24"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.2.254"
{body}"#,
            socket = self.socket.display(),
            core = worker_core(),
            ext_device = self.device(0, "ext"),
            lan_device = self.device(1, "lan"),
            ext_extra = self.port_extra[0],
            lan_extra = self.port_extra[1],
        )
    }

    /// Port `index`'s devargs over veth `iface`, for `port_driver`.
    fn device(&self, index: usize, iface: &str) -> String {
        match self.port_driver {
            "af_xdp" => format!("net_af_xdp{index},iface={iface}"),
            _ => format!("net_af_packet{index},iface={iface},framecnt=4096"),
        }
    }

    /// Starts ferrolb in the lb namespace on `config_text(body)` and waits
    /// for its socket.
    pub fn start_lb(&mut self, body: &str) {
        self.start_lb_text(&self.config_text(body));
    }

    /// Starts ferrolb in the lb namespace on the whole config `text`
    /// (`config_text` edited) and waits for its socket.
    pub fn start_lb_text(&mut self, text: &str) {
        std::fs::write(&self.config, text).expect("write config");
        let out = std::fs::File::create(self.dir.path().join("ferrolb.out")).expect("log");
        let err = std::fs::File::create(self.dir.path().join("ferrolb.err")).expect("log");
        let child = self
            .in_ns("lb", Path::new(ferrolb_bin()))
            .arg("-c")
            .arg(&self.config)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start ferrolb");
        self.lb = Some(child);
        let dir = self.dir.path().to_owned();
        wait_until_answering(&self.socket, &mut self.lb, || log_in(&dir));
    }

    /// Runs `scripts/netns.sh SUB NAME` (`kernel`, `kernel-route`).
    pub fn netns_script(&self, sub: &str) {
        self.netns_script_with(sub, &[]);
    }

    /// Runs `scripts/netns.sh SUB NAME ARGS` (`mtu NAME 3500`).
    pub fn netns_script_with(&self, sub: &str, args: &[&str]) {
        let out = Command::new("bash")
            .arg(script())
            .args([sub, &self.name])
            .args(args)
            .output()
            .expect("run scripts/netns.sh");
        assert!(
            out.status.success(),
            "scripts/netns.sh {sub} {} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `ARGS` in namespace `role` to the end.
    pub fn run_in(&self, role: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(role)])
            .args(args)
            .output()
            .expect("ip netns exec")
    }

    pub fn log(&self) -> String {
        log_in(self.dir.path())
    }

    /// Starts `ferrolbctl daemon -c FILE` in the router namespace, which
    /// reaches the servers directly on the LAN.
    pub fn start_daemon(&mut self, file: &Path) {
        self.start_daemon_in("router", file);
    }

    /// Starts `ferrolbctl daemon -c FILE` in namespace `role`.
    pub fn start_daemon_in(&mut self, role: &str, file: &Path) {
        let log = std::fs::File::create(self.dir.path().join("daemon.log")).expect("log");
        let child = self
            .in_ns(role, &ferrolbctl_bin())
            .arg("daemon")
            .arg("-c")
            .arg(file)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the daemon");
        self.daemon = Some(child);
    }

    pub fn kill_daemon(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn ctl(&self, args: &[&str]) -> Output {
        super::appliance::ctl(&self.socket, args)
    }

    pub fn ctl_ok(&self, args: &[&str]) -> String {
        super::appliance::ctl_ok(&self.socket, args)
    }

    pub fn ctl_json(&self, args: &[&str]) -> Value {
        super::appliance::ctl_json(&self.socket, args)
    }

    /// A service of `list --stats --json`, by key (`tcp/192.0.2.10:80`).
    pub fn service(&self, key: &str) -> Value {
        let list = self.ctl_json(&["list", "--stats"]);
        list["services"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["key"] == key))
            .cloned()
            .unwrap_or_else(|| panic!("no service {key} in {list}"))
    }

    /// Backend address -> (weight, conns) of service `key`.
    pub fn backends(&self, key: &str) -> BTreeMap<String, (u64, u64)> {
        let svc = self.service(key);
        svc["backends"]
            .as_array()
            .expect("backends")
            .iter()
            .map(|b| {
                (
                    b["address"].as_str().expect("address").to_owned(),
                    (
                        b["weight"].as_u64().expect("weight"),
                        b["stats"]["conns"].as_u64().expect("conns"),
                    ),
                )
            })
            .collect()
    }

    /// A drop counter from `stats`.
    pub fn drop_count(&self, reason: &str) -> u64 {
        self.ctl_json(&["stats"])["drops"][reason]
            .as_u64()
            .unwrap_or_else(|| panic!("no drop reason {reason}"))
    }

    /// Runs `e2e-client ARGS` in namespace `role` to the end.
    /// 4000-byte UDP echoes from `role` to `target` (an address and
    /// port), `FRAG_E2E_COUNT` of them (200 by default), the fragment
    /// tests' load, its summary printed under `what`: how many were asked,
    /// and the run.
    pub fn big_udp_echoes(&self, role: &str, target: &str, what: &str) -> (usize, ClientRun) {
        let n: usize = std::env::var("FRAG_E2E_COUNT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200);
        let start = Instant::now();
        let count = n.to_string();
        let args = [
            "udp", "--target", target, "--count", &count, "--size", "4000",
        ];
        let run = self.client(role, &args);
        eprintln!(
            "E2E {what}: {} echoes of 4000 bytes, {} failed, servers {:?}, peers {:?}, {} ms",
            run.requests.len(),
            run.failures().len(),
            run.by_server(),
            run.by_peer_ip(),
            start.elapsed().as_millis()
        );
        (n, run)
    }

    pub fn client(&self, role: &str, args: &[&str]) -> ClientRun {
        let run = self.spawn_client(role, args);
        run.wait(Duration::from_secs(120))
    }

    /// Starts `e2e-client ARGS` in namespace `role`; its lines are
    /// collected as they come, each with the time the test read it.
    pub fn spawn_client(&self, role: &str, args: &[&str]) -> RunningClient {
        spawn_client_in(&self.ns(role), args)
    }
}

/// Starts `e2e-client ARGS` in namespace `ns`; its lines are collected as
/// they come, each with the time the test read it.
pub fn spawn_client_in(ns: &str, args: &[&str]) -> RunningClient {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(tool("e2e-client"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start e2e-client");
    let stdout = child.stdout.take().expect("stdout");
    let lines: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let sink = Arc::clone(&lines);
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((Instant::now(), line));
        }
    });
    RunningClient {
        child,
        lines,
        reader: Some(reader),
        what: format!("{ns}: e2e-client {}", args.join(" ")),
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.kill_daemon();
        let mut lb_report = String::new();
        if let Some(mut lb) = self.lb.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &lb.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(lb.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = lb.kill();
            let _ = lb.wait();
            lb_report =
                std::fs::read_to_string(self.dir.path().join("ferrolb.out")).unwrap_or_default();
        }
        for (_, mut c) in std::mem::take(&mut self.servers) {
            let _ = c.kill();
            let _ = c.wait();
        }
        let out = Command::new("bash")
            .arg(script())
            .args(["down", &self.name])
            .output();
        if std::thread::panicking() {
            eprintln!("--- {} at the failure:\n{}", self.name, self.log());
        } else if !lb_report.is_empty() {
            eprintln!("--- {}: ferrolb's exit report\n{lb_report}", self.name);
        }
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "netns.sh down {} failed: {}",
                self.name,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("netns.sh down {}: {e}", self.name),
        }
    }
}

pub struct RunningClient {
    child: Child,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    what: String,
}

impl RunningClient {
    /// Lines read so far.
    pub fn lines(&self) -> Vec<(Instant, String)> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Requests answered so far.
    pub fn answered(&self) -> usize {
        self.lines()
            .iter()
            .filter(|(_, l)| l.starts_with("ok ") || l.starts_with("fail "))
            .count()
    }

    /// Waits for the client to end (at most `limit`, then kills it).
    pub fn wait(mut self, limit: Duration) -> ClientRun {
        let deadline = Instant::now() + limit;
        while matches!(self.child.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("{} did not finish within {limit:?}", self.what);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.finish()
    }

    /// Stops the client now (SIGKILL) and returns what it said.
    pub fn stop(mut self) -> ClientRun {
        let _ = self.child.kill();
        self.finish()
    }

    fn finish(&mut self) -> ClientRun {
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        ClientRun::parse(&self.what, &self.lines())
    }
}

/// One request as the client reported it.
#[derive(Clone, Debug)]
pub struct Request {
    pub ok: bool,
    /// When it started (the client's clock, mapped onto ours).
    pub started: Instant,
    pub server: String,
    pub peer: String,
    pub error: String,
}

pub struct ClientRun {
    pub what: String,
    pub requests: Vec<Request>,
    /// The `done` line, if the client got that far.
    pub done: Option<String>,
}

impl ClientRun {
    fn parse(what: &str, lines: &[(Instant, String)]) -> ClientRun {
        // The client's clock starts at `origin`, before it prints "start".
        // A line is read after the request it reports started, t_ms after
        // the origin: every (read time - t_ms) is a bound on the origin
        // from above, and the smallest is the tightest. Start times mapped
        // with it are never early, and late by about a millisecond.
        let t_ms = |line: &str| -> u64 {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix("t_ms="))
                .and_then(|t| t.parse().ok())
                .unwrap_or(0)
        };
        let origin = lines
            .iter()
            .filter_map(|(at, line)| at.checked_sub(Duration::from_millis(t_ms(line))))
            .min()
            .unwrap_or_else(Instant::now);
        let mut requests = Vec::new();
        let mut done = None;
        for (_, line) in lines {
            let mut words = line.split_whitespace();
            let kind = words.next().unwrap_or("");
            let kv: BTreeMap<&str, &str> = words.filter_map(|w| w.split_once('=')).collect();
            match kind {
                "ok" | "fail" => requests.push(Request {
                    ok: kind == "ok",
                    started: origin
                        + Duration::from_millis(
                            kv.get("t_ms").and_then(|t| t.parse().ok()).unwrap_or(0),
                        ),
                    server: kv.get("server").unwrap_or(&"").to_string(),
                    peer: kv.get("peer").unwrap_or(&"").to_string(),
                    error: kv.get("error").unwrap_or(&"").to_string(),
                }),
                "done" => done = Some(line.clone()),
                _ => {}
            }
        }
        ClientRun {
            what: what.to_owned(),
            requests,
            done,
        }
    }

    pub fn failures(&self) -> Vec<&Request> {
        self.requests.iter().filter(|r| !r.ok).collect()
    }

    /// Server name -> requests it answered.
    pub fn by_server(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for r in self.requests.iter().filter(|r| r.ok) {
            *m.entry(r.server.clone()).or_default() += 1;
        }
        m
    }

    /// Peer address (without port) the servers saw -> requests.
    pub fn by_peer_ip(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for r in self.requests.iter().filter(|r| r.ok) {
            let ip = r.peer.rsplit_once(':').map_or(r.peer.as_str(), |p| p.0);
            *m.entry(ip.to_owned()).or_default() += 1;
        }
        m
    }

    /// Panics unless all `n` requests were sent and succeeded.
    pub fn assert_all_ok(&self, n: usize) {
        let f = self.failures();
        assert!(
            f.is_empty() && self.requests.len() == n,
            "{}: {} of {} requests, {} failed; first failures: {:?}\n{:?}",
            self.what,
            self.requests.len(),
            n,
            f.len(),
            &f[..f.len().min(5)],
            self.done
        );
    }
}

/// A name for a run of namespaces, unique to this process and call
/// (`flb<PID>x<N>`, which [`remove_stale_runs`] recognises).
pub fn run_name() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "flb{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes the runs of test processes that no longer exist (killed before
/// their `Drop` could run): namespaces `flb<PID>x<N>-*` whose PID is gone.
pub fn remove_stale_runs() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    let mut runs: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|ns| ns.split_once('-').map(|(run, _)| run.to_owned()))
        .filter(|run| {
            run.strip_prefix("flb")
                .and_then(|r| r.split_once('x'))
                .and_then(|(pid, _)| pid.parse::<u32>().ok())
                .is_some_and(|pid| {
                    pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
                })
        })
        .collect();
    runs.sort();
    runs.dedup();
    for run in runs {
        eprintln!("removing the namespaces of {run}, left by a test process that is gone");
        let _ = Command::new("bash")
            .arg(script())
            .args(["down", &run])
            .output();
    }
}

/// Waits until `f` holds, polling every 10 ms.
pub fn wait(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What the run's ferrolb and daemon printed so far, from its dir.
fn log_in(dir: &Path) -> String {
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap_or_default();
    format!(
        "ferrolb stdout:\n{}\nferrolb stderr:\n{}\ndaemon:\n{}",
        read("ferrolb.out"),
        read("ferrolb.err"),
        read("daemon.log")
    )
}
