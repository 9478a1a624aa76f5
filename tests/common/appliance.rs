//! A running `ferrolb` for control-plane tests: UDP client traffic replayed
//! forever on one `net_pcap` port, a control socket of its own, and
//! `ferrolbctl` (or a raw socket) to talk to it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use ferrolb_perf::scenario;

use super::{ferrolb_bin, pcap, test_eal_args};

/// Our MAC on the one port (`frames::LB_MAC`), and the router's.
pub const LB_MAC: &str = "02:00:00:00:00:fe";
pub const ROUTER_MAC: &str = "02:00:00:00:00:01";
/// The UDP service the replayed traffic goes to.
pub const DNS: &str = "udp/192.0.2.20:53";
/// Replayed client flows.
pub const FLOWS: usize = 64;

/// The shared one-armed DNS scenario (`ferrolb_perf::scenario`) plus a TCP
/// NAT service nobody sends to.
pub fn base_config() -> String {
    format!(
        "{}{}",
        scenario::ONE_ARMED_DNS,
        r#"
[[service]]
name = "web"
vip = "192.0.2.10"
protocol = "tcp"
port = 80
mode = "nat"

[[service.backend]]
address = "10.0.1.11"
port = 8080
"#
    )
}

/// `FLOWS` UDP flows from distinct clients to the DNS service.
pub fn dns_traffic() -> Vec<Vec<u8>> {
    scenario::dns_flows(FLOWS as u8)
}

pub struct Appliance {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    /// The config file the appliance started with.
    pub config: PathBuf,
    child: Option<Child>,
}

impl Appliance {
    /// Starts ferrolb on `body` (interfaces, services, ...) with `traffic`
    /// replayed forever, and waits until its socket answers.
    pub fn start(body: &str, traffic: &[Vec<u8>]) -> Appliance {
        Self::start_with(body, traffic, "")
    }

    /// As [`start`], with extra keys for the `[control]` table.
    pub fn start_with(body: &str, traffic: &[Vec<u8>], control_extra: &str) -> Appliance {
        Self::start_queues(body, &[traffic.to_vec()], control_extra, "")
    }

    /// As [`start_with`], with `workers` workers, each replaying `traffic`
    /// on its own queue, and extra keys for the `[workers]` table.
    pub fn start_workers(
        body: &str,
        traffic: &[Vec<u8>],
        control_extra: &str,
        workers: usize,
        workers_extra: &str,
    ) -> Appliance {
        Self::start_queues(
            body,
            &vec![traffic.to_vec(); workers],
            control_extra,
            workers_extra,
        )
    }

    /// One worker per element of `queues`: worker i's RX queue replays
    /// `queues[i]` forever. The workers share the machine's cores;
    /// `workers_extra` goes into the `[workers]` table.
    pub fn start_queues(
        body: &str,
        queues: &[Vec<Vec<u8>>],
        control_extra: &str,
        workers_extra: &str,
    ) -> Appliance {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut device = String::from("net_pcap0,infinite_rx=1");
        for (i, traffic) in queues.iter().enumerate() {
            let rx = dir.path().join(format!("lan.in{i}.pcap"));
            pcap::write(&rx, traffic);
            device.push_str(&format!(",rx_pcap={}", rx.display()));
        }
        device.push_str(&",tx_pcap=/dev/null".repeat(queues.len()));
        let cores: Vec<usize> = if queues.len() == 1 {
            vec![worker_core()]
        } else {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            (0..queues.len()).map(|i| i % n).collect()
        };
        let eal = test_eal_args("ctl");
        let socket = PathBuf::from(
            eal.lines()
                .find_map(|l| l.strip_prefix("socket = "))
                .expect("test_eal_args sets a socket")
                .trim_matches('"'),
        );
        let text = format!(
            "[eal]\n{eal}\n{control_extra}\n\n[[port]]\nname = \"lan\"\n\
             device = \"{device}\"\nmac = \"{LB_MAC}\"\n\n\
             [workers]\ncores = {cores:?}\nshared_cores = true\n{workers_extra}\n{body}"
        );
        let config = dir.path().join("ferrolb.toml");
        std::fs::write(&config, text).expect("write config");
        let stdout = std::fs::File::create(dir.path().join("stdout")).expect("stdout file");
        let stderr = std::fs::File::create(dir.path().join("stderr")).expect("stderr file");
        let child = Command::new(ferrolb_bin())
            .arg("-c")
            .arg(&config)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start ferrolb");
        let mut app = Appliance {
            dir,
            socket,
            config,
            child: Some(child),
        };
        app.wait_ready();
        app
    }

    fn wait_ready(&mut self) {
        let dir = self.dir.path().to_owned();
        wait_until_answering(&self.socket, &mut self.child, || log_in(&dir));
    }

    /// What ferrolb printed so far.
    pub fn log(&self) -> String {
        log_in(self.dir.path())
    }

    /// Runs `ferrolbctl -s SOCKET args...`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        ctl(&self.socket, args)
    }

    /// Runs ferrolbctl and asserts it succeeded; returns its stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        ctl_ok(&self.socket, args)
    }

    /// Runs a read verb with `--json` and parses the result.
    pub fn ctl_json(&self, args: &[&str]) -> Value {
        ctl_json(&self.socket, args)
    }

    /// Packets the workers received so far.
    pub fn rx_packets(&self) -> u64 {
        let stats = self.ctl_json(&["stats"]);
        stats["workers"]
            .as_array()
            .expect("workers")
            .iter()
            .map(|w| w["rx_packets"].as_u64().expect("rx_packets"))
            .sum()
    }

    /// Waits until `f` holds, polling every 50 ms for up to 20 s.
    pub fn wait_for(&self, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops ferrolb with SIGTERM and returns its stdout (the exit report).
    /// The appliance's resident set, in KiB (/proc/PID/status, VmRSS).
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.as_ref().expect("running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    pub fn stop(mut self) -> String {
        let Some(mut child) = self.child.take() else {
            return String::new();
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let status = child.wait().expect("wait for ferrolb");
        assert!(
            status.success(),
            "ferrolb exited with {status}:\n{}",
            self.log()
        );
        std::fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default()
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The worker core: core 1 when the machine has two, so the control side
/// and the test keep core 0.
pub fn worker_core() -> usize {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
        1
    } else {
        0
    }
}

/// Runs `ferrolbctl -s socket args...`.
pub fn ctl(socket: &Path, args: &[&str]) -> Output {
    Command::new(ferrolbctl_bin())
        .arg("-s")
        .arg(socket)
        .args(args)
        .output()
        .expect("run ferrolbctl")
}

/// Runs ferrolbctl and asserts it succeeded; returns its stdout.
pub fn ctl_ok(socket: &Path, args: &[&str]) -> String {
    let out = ctl(socket, args);
    assert!(
        out.status.success(),
        "ferrolbctl {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a read verb with `--json` and parses the result.
pub fn ctl_json(socket: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let text = ctl_ok(socket, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

/// What a ferrolb started by [`Appliance`] printed so far, from its dir.
fn log_in(dir: &Path) -> String {
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap_or_default();
    format!("stdout:\n{}\nstderr:\n{}", read("stdout"), read("stderr"))
}

/// Waits up to 60 s until the ferrolb `child` answers `hello` on `socket`;
/// panics with `log()` if it exits first or does not answer in time.
pub fn wait_until_answering(socket: &Path, child: &mut Option<Child>, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut c) = RawClient::connect(socket) {
            if c.call(r#"{"v":1,"op":"hello"}"#)["ok"] == true {
                return;
            }
        }
        if let Some(Ok(Some(status))) = child.as_mut().map(|c| c.try_wait()) {
            panic!(
                "ferrolb exited ({status}) before its socket answered:\n{}",
                log()
            );
        }
        assert!(
            Instant::now() < deadline,
            "ferrolb's socket did not answer within 60 s:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `ferrolbctl`, built by cargo next to `ferrolb` (the control crate's
/// binary; `cargo test --workspace` builds it).
pub fn ferrolbctl_bin() -> PathBuf {
    let path = Path::new(ferrolb_bin()).with_file_name("ferrolbctl");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p control --bin ferrolbctl`",
        path.display()
    );
    path
}

/// The protocol spoken by hand, one line at a time.
pub struct RawClient {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl RawClient {
    pub fn connect(socket: &Path) -> std::io::Result<RawClient> {
        let writer = UnixStream::connect(socket)?;
        writer.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(RawClient {
            reader: BufReader::new(writer.try_clone()?),
            writer,
        })
    }

    /// Sends `line` and returns the parsed reply (Null if the server closed).
    pub fn call(&mut self, line: &str) -> Value {
        self.send_raw(line.as_bytes());
        self.send_raw(b"\n");
        self.reply()
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        // The server may close mid-write (too large); the reply says why.
        let _ = self.writer.write_all(bytes);
    }

    pub fn reply(&mut self) -> Value {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => Value::Null,
            Ok(_) => serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")),
        }
    }
}
