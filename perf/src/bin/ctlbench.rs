//! Control-plane benchmark: how long `apply` of a large config takes, how
//! long a weight change takes to reach the dataplane, and whether both (and
//! the appliance's RSS) stay flat after many add/delete cycles of services,
//! on a running `ferrolb` that forwards traffic meanwhile.
//!
//! `cargo build --release --workspace && target/release/ctlbench`
//!
//! Figures come from the appliance's replies: `adopted_us` is the time from
//! publishing the new tables until every worker runs them (after that, the
//! next new flow is scheduled by the new weights); the round trip is the
//! client's wall time for the request, validation and compilation included.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use control::api::{ChangeReply, Op};
use control::client::Client;
use ferrolb_perf::{pcap, scenario};
use serde_json::Value;

#[derive(Parser)]
#[command(about = "Times config applies and weight changes on a running ferrolb")]
struct Args {
    /// The appliance binary.
    #[arg(long, default_value = "target/release/ferrolb")]
    ferrolb: PathBuf,
    /// Services in the large config.
    #[arg(long, default_value_t = 1000)]
    services: usize,
    /// Backends per service.
    #[arg(long, default_value_t = 10)]
    backends: usize,
    /// Applies of the large config to time.
    #[arg(long, default_value_t = 5)]
    applies: usize,
    /// Weight changes to time.
    #[arg(long, default_value_t = 200)]
    weight_changes: usize,
    /// Add/delete cycles after which to time `backend_edit` and read RSS,
    /// cumulative (a cycle applies the base config plus the churn services,
    /// then the base config again).
    #[arg(long, value_delimiter = ',', default_value = "1,100,10000")]
    churn: Vec<usize>,
    /// Services added and deleted by each cycle.
    #[arg(long, default_value_t = 20)]
    churn_services: usize,
    /// Backends of each churn service.
    #[arg(long, default_value_t = 10)]
    churn_backends: usize,
    /// `backend_edit`s timed after each churn checkpoint.
    #[arg(long, default_value_t = 100)]
    churn_edits: usize,
    /// Worker core.
    #[arg(long, default_value_t = 1)]
    core: usize,
    /// Write the figures as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

struct Appliance {
    child: Child,
    socket: PathBuf,
}

impl Drop for Appliance {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Sends `op` and returns its result and the round trip.
fn timed(client: &mut Client, op: &Op) -> Result<(ChangeReply, Duration)> {
    let start = Instant::now();
    let reply = client.change(op)?;
    Ok((reply, start.elapsed()))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("ferrolb-ctlbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let traffic = dir.join("dns.pcap");
    let flows = scenario::dns_flows(64);
    pcap::write(&traffic, &flows);
    let socket = dir.join("ctl.sock");
    let head = format!(
        "[eal]\nargs = [\"--no-huge\", \"-m\", \"1024\", \"--no-pci\", \"--no-shconf\", \
         \"--no-telemetry\", \"--file-prefix\", \"ctlbench-{}\", \"--log-level\", \"*:warning\"]\n\n\
         [control]\nsocket = \"{}\"\n\n[[port]]\nname = \"lan\"\n\
         device = \"net_pcap0,rx_pcap={},infinite_rx=1,tx_pcap=/dev/null\"\nmac = \"02:00:00:00:00:fe\"\n\n\
         [workers]\ncores = [{}]\n",
        std::process::id(),
        socket.display(),
        traffic.display(),
        args.core
    );
    let base = format!("{head}{}", scenario::ONE_ARMED_DNS);
    let config = dir.join("ferrolb.toml");
    std::fs::write(&config, &base)?;
    let large =
        |weight_shift: usize| with_services(&base, 100, args.services, args.backends, weight_shift);

    let log = std::fs::File::create(dir.join("ferrolb.log"))?;
    let child = Command::new(&args.ferrolb)
        .arg("-c")
        .arg(&config)
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", args.ferrolb.display()))?;
    let app = Appliance { child, socket };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut client = loop {
        if let Ok(mut c) = Client::connect(&app.socket) {
            if c.hello().is_ok() {
                break c;
            }
        }
        if Instant::now() > deadline {
            bail!(
                "ferrolb did not answer; see {}",
                dir.join("ferrolb.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };

    let mut rows = Vec::new();
    // First with the base config alone: the cost of a change that does not
    // grow with the config.
    weight_rows(&mut rows, &mut client, args.weight_changes, "1 service")?;
    let churn = Churn {
        base: &base,
        with_extra: with_services(&base, 200, args.churn_services, args.churn_backends, 0),
        pid: app.child.id(),
        edits: args.churn_edits,
    };
    churn.rows(&mut rows, &mut client, &args.churn)?;
    // Each apply changes every backend's weight, so each is a real change.
    let mut apply_rtt = Vec::new();
    let mut apply_adopt = Vec::new();
    for i in 0..args.applies {
        let text = large(i + 1);
        let apply = Op::Apply {
            config: text,
            dry_run: false,
            source: Some("large.toml".into()),
        };
        let (result, rtt) = timed(&mut client, &apply)?;
        apply_rtt.push(rtt.as_secs_f64() * 1e3);
        apply_adopt.push(result.adopted_us.map_or(f64::NAN, |us| us as f64));
    }
    rows.push(summary(
        &format!(
            "apply {} services x {} backends: round trip (ms)",
            args.services, args.backends
        ),
        &mut apply_rtt,
    ));
    rows.push(summary(
        "  of which workers adopting (us)",
        &mut apply_adopt,
    ));

    weight_rows(
        &mut rows,
        &mut client,
        args.weight_changes,
        &format!("{} services", args.services + 1),
    )?;

    let stats = client.stats()?;
    let dropped: u64 = stats.drops.values().sum();
    println!(
        "{:<62} {:>10} {:>10} {:>10} {:>10}",
        "measure", "min", "median", "p99", "max"
    );
    for r in &rows {
        println!(
            "{:<62} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
            r.name, r.min, r.median, r.p99, r.max
        );
    }
    println!(
        "worker rx packets meanwhile: {}, dropped: {dropped}",
        stats.workers.first().map_or(0, |w| w.rx_packets)
    );
    if let Some(path) = &args.json {
        let json: Vec<Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({"measure": r.name.trim(), "min": r.min, "median": r.median, "p99": r.p99, "max": r.max})
            })
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
    }
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `base` with `n` more NAT services (VIPs `10.FIRST.x.y`), each with
/// `backends` backends whose weights are shifted by `weight_shift`.
fn with_services(
    base: &str,
    first: usize,
    n: usize,
    backends: usize,
    weight_shift: usize,
) -> String {
    let mut text = base.to_string();
    for s in 0..n {
        let vip = format!("10.{}.{}.{}", first + s / 65536, (s / 256) % 256, s % 256);
        let _ = write!(
            text,
            "\n[[service]]\nvip = \"{vip}\"\nprotocol = \"tcp\"\nport = 80\nmode = \"nat\"\nscheduler = \"wrr\"\n"
        );
        for b in 0..backends {
            let _ = write!(
                text,
                "\n[[service.backend]]\naddress = \"10.0.1.{}\"\nport = 8080\nweight = {}\n",
                20 + b,
                1 + (b + weight_shift) % 5
            );
        }
    }
    text
}

/// Add/delete cycles of services, with the cost of one `backend_edit` and
/// the appliance's RSS after each checkpoint.
struct Churn<'a> {
    base: &'a str,
    with_extra: String,
    pid: u32,
    edits: usize,
}

impl Churn<'_> {
    fn rows(&self, rows: &mut Vec<Row>, client: &mut Client, checkpoints: &[usize]) -> Result<()> {
        let apply = |text: &str| Op::Apply {
            config: text.to_string(),
            dry_run: false,
            source: Some("churn.toml".into()),
        };
        let (extra, back) = (apply(&self.with_extra), apply(self.base));
        let mut done = 0;
        for &n in checkpoints {
            let started = Instant::now();
            while done < n {
                client.change(&extra)?;
                client.change(&back)?;
                done += 1;
            }
            let took = started.elapsed().as_secs_f64();
            let mut rtt = Vec::with_capacity(self.edits);
            for i in 0..self.edits {
                let (_, t) = timed(client, &backend_edit(i)?)?;
                rtt.push(t.as_secs_f64() * 1e6);
            }
            rows.push(summary(
                &format!("backend_edit after {n} churn cycles: round trip (us)"),
                &mut rtt,
            ));
            let rss = rss_kib(self.pid)? as f64 / 1024.0;
            rows.push(summary(
                &format!("  RSS after {n} cycles (MiB; cycles took {took:.0} s)"),
                &mut [rss],
            ));
        }
        Ok(())
    }
}

/// The resident set of process `pid`, from /proc.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS in /proc/PID/status")
}

/// The `i`th weight change of the base service's first backend.
fn backend_edit(i: usize) -> Result<Op> {
    Ok(Op::BackendEdit {
        service: "udp/192.0.2.20:53".parse().map_err(anyhow::Error::msg)?,
        backend: "10.0.1.11".parse().map_err(anyhow::Error::msg)?,
        weight: 2 + i as u32 % 2,
    })
}

/// Times `n` weight changes of the base service: round trip and adoption.
fn weight_rows(rows: &mut Vec<Row>, client: &mut Client, n: usize, loaded: &str) -> Result<()> {
    let mut rtt = Vec::new();
    let mut adopt = Vec::new();
    for i in 0..n {
        let (result, took) = timed(client, &backend_edit(i)?)?;
        rtt.push(took.as_secs_f64() * 1e6);
        adopt.push(result.adopted_us.map_or(f64::NAN, |us| us as f64));
    }
    rows.push(summary(
        &format!("weight change with {loaded} loaded: round trip (us)"),
        &mut rtt,
    ));
    rows.push(summary(
        "  publish to every worker running it (us)",
        &mut adopt,
    ));
    Ok(())
}

struct Row {
    name: String,
    min: f64,
    median: f64,
    p99: f64,
    max: f64,
}

fn summary(name: &str, values: &mut [f64]) -> Row {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        values
            .get(((values.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    Row {
        name: name.to_string(),
        min: at(0.0),
        median: at(0.5),
        p99: at(0.99),
        max: at(1.0),
    }
}
