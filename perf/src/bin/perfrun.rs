//! `perfrun`: ferrolb's Mpps against `dpdk-testpmd` on the same virtual
//! ports, one worker, 64-byte frames (README.md, "Performance").
//!
//! For each mode and flow count: the pcaps (cached by seed and parameters),
//! then, `--repeat` times and interleaved, ferrolb, `testpmd io` and
//! `testpmd macswap`, each its own process on the same vdevs and the same
//! forwarding core. ferrolb is read through its control socket (worker
//! counters at the start and the end of the window); testpmd by its own
//! `show port stats` rate over the window. Prints the table and writes
//! `results.json` and `results.svg` into `--out`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use control::api::StatsReply;
use control::client::Client;
use ferrolb_perf::bench::fragments;
use ferrolb_perf::bench::report::{self, LbSample, Row};
use ferrolb_perf::bench::traffic::{self, count_text, Mode, Plan, RunSetup, Traffic};
use ferrolb_perf::bench::veth::{self, Generator, GeneratorSpec, Veth};
use ferrolb_perf::pcap;
use serde_json::json;

#[path = "perfrun/testpmd.rs"]
mod testpmd;
use testpmd::run_testpmd;

#[derive(Parser, Debug)]
#[command(about = "Mpps of ferrolb per mode and flow count, against dpdk-testpmd in the same run")]
struct Args {
    /// Modes: all, or a list of l2fwd, dr, dr6 (DR over IPv6), tun, nat, nat6 (NAT over
    /// IPv6), fullnat, fullnat6 (FULLNAT over IPv6), nat64 (NAT64 in FULLNAT), snat,
    /// nat-frag, fullnat-frag (frag = both: UDP datagrams in fragments),
    /// syn-nat, syn-fullnat (syn = both SYN rows), syn-proxy, syn-nat+sync,
    /// syn-fullnat+sync (syn-sync = the four SYN rows).
    #[arg(long, default_value = "all")]
    modes: String,
    /// Flow counts (k = 1000, M = 1000000).
    #[arg(long, default_value = "1k,100k,1M")]
    flows: String,
    /// Measured window per run, seconds.
    #[arg(long, default_value_t = 5.0)]
    window: f64,
    /// Least warm-up before the window, seconds (ferrolb also waits until
    /// its sessions are primed and the looped pcaps went round once).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Runs per row (each of ferrolb, testpmd io, testpmd macswap,
    /// interleaved); the table shows medians.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Seed of the traffic; the same seed gives the same pcaps.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory (pcap cache, run logs, results.json, results.svg).
    #[arg(long, default_value = "target/perf")]
    out: PathBuf,
    /// Where the `ferrolb` binary is.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// The testpmd binary.
    #[arg(long, default_value = "dpdk-testpmd")]
    testpmd: String,
    /// Skip testpmd (no ratios).
    #[arg(long)]
    no_testpmd: bool,
    /// EAL main lcore (ferrolb's control thread, testpmd's main lcore).
    #[arg(long, default_value_t = 0)]
    main_core: usize,
    /// The forwarding core: ferrolb's one worker, testpmd's one forwarding lcore.
    #[arg(long, default_value_t = 1)]
    core: usize,
    /// Run the rows on veth pairs in a namespace instead of pcap vdevs,
    /// once per driver given (af_xdp, af_packet), with a testpmd generator
    /// replaying the client pcap into them (bench/veth.rs; root; l2fwd,
    /// dr and tun rows only).
    #[arg(long)]
    veth: Option<String>,
    /// The generator's driver on `g0` with --veth, the same for every row
    /// (af_packet or af_xdp).
    #[arg(long, default_value = "af_packet")]
    veth_generator: String,
}

/// Where a row's forwarding ports are: the pcap vdevs, or a veth pair
/// per port with this driver.
#[derive(Clone, Copy)]
enum Ports<'a> {
    Pcap,
    Veth(&'a Veth, &'static str),
}

impl Ports<'_> {
    fn driver(&self) -> Option<&'static str> {
        match self {
            Ports::Pcap => None,
            Ports::Veth(_, d) => Some(d),
        }
    }

    /// `program` run where the ports are (the namespace for veths).
    fn command(&self, program: &Path) -> Command {
        match self {
            Ports::Pcap => Command::new(program),
            Ports::Veth(v, _) => v.command(program),
        }
    }
}

/// Bytes of DPDK memory per mbuf. Under `--no-huge` the memory is 4 KiB
/// pages that are not IOVA-contiguous, so the mempool puts one 2.3 KiB mbuf
/// (2176-byte data room) per page: 4 KiB each, plus slack (measured:
/// 2 M mbufs fail in `-m 7000` and fit in `-m 9000`).
const MBUF_BYTES: u64 = 4300;

fn main() -> Result<()> {
    let args = Args::parse();
    let modes = Mode::parse_list(&args.modes).map_err(|e| anyhow!(e))?;
    let counts = traffic::parse_counts(&args.flows).map_err(|e| anyhow!(e))?;
    if !args.window.is_finite() || args.window <= 0.0 || args.repeat == 0 {
        bail!("--window must be > 0 and --repeat >= 1");
    }
    let ferrolb = args.bin_dir.join("ferrolb");
    if !ferrolb.is_file() {
        bail!(
            "{} not found: build it (cargo build --release) or give --bin-dir",
            ferrolb.display()
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let out = std::fs::canonicalize(&args.out)?;
    let bytes_per_session = session_bytes();
    println!(
        "perfrun: modes {}, flows {}, window {} s, repeat {}, seed {}, worker core {}",
        modes.iter().map(|m| m.name()).collect::<Vec<_>>().join(","),
        counts
            .iter()
            .map(|c| count_text(*c))
            .collect::<Vec<_>>()
            .join(","),
        args.window,
        args.repeat,
        args.seed,
        args.core
    );
    println!(
        "session table: {:.1} bytes per session at the default capacity (1 Mi), from SessionTable::memory_bytes",
        bytes_per_session
    );
    let bytes_per_session6 = session_bytes6();
    println!(
        "IPv6 session table: {bytes_per_session6:.1} bytes per session at 1 Mi, from SessionTable::memory_bytes"
    );

    let drivers = match &args.veth {
        Some(text) => veth::parse_drivers(text).map_err(|e| anyhow!(e))?,
        None => Vec::new(),
    };
    if veth::parse_drivers(&args.veth_generator)
        .map_err(|e| anyhow!(e))?
        .len()
        != 1
    {
        bail!("--veth-generator: one of af_packet, af_xdp");
    }
    if !drivers.is_empty() {
        if let Some(m) = modes
            .iter()
            .find(|m| !matches!(m, Mode::L2fwd | Mode::Dr | Mode::Tun))
        {
            bail!(
                "--veth runs l2fwd, dr and tun rows only (the generator sends client frames), not {}",
                m.name()
            );
        }
    }
    let namespace = if drivers.is_empty() {
        None
    } else {
        let ns = format!("perfrun-{}", std::process::id());
        Some(Veth::up(&ns).map_err(|e| anyhow!("veth namespace: {e}"))?)
    };
    let port_kinds: Vec<Ports> = match &namespace {
        Some(v) => drivers.iter().map(|d| Ports::Veth(v, d)).collect(),
        None => vec![Ports::Pcap],
    };
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for &mode in &modes {
        let mut done = Vec::new();
        for &count in &counts {
            // SYN rows read their SYNs once: at least SYN_MIN_FLOWS of them.
            let count = if mode.new_flows() {
                count.max(traffic::SYN_MIN_FLOWS)
            } else {
                count
            };
            if done.contains(&count) {
                continue;
            }
            done.push(count);
            let plan = traffic::plan(mode, count);
            for &ports in &port_kinds {
                let row = match run_row(&args, &out, &ferrolb, &plan, ports) {
                    Ok(row) => row,
                    Err(e) => {
                        let mut what = format!("{} {}", mode.name(), count_text(count));
                        if let Some(d) = ports.driver() {
                            what.push_str(&format!(" on {d}"));
                        }
                        eprintln!("perfrun: {what} failed: {e:#}");
                        failed.push(what);
                        continue;
                    }
                };
                println!(
                    "  {} {}: {:.2} Mpps (testpmd io {}, macswap {})",
                    row.label(),
                    count_text(row.flows),
                    row.lb.tx_mpps,
                    row.io_mpps.map_or("-".into(), |v| format!("{v:.2}")),
                    row.macswap_mpps.map_or("-".into(), |v| format!("{v:.2}"))
                );
                rows.push(row);
            }
        }
    }
    drop(namespace);

    let table = report::table(&rows);
    println!("\n{table}");
    let meta = json!({
        "window_s": args.window,
        "warmup_s": args.warmup,
        "repeat": args.repeat,
        "seed": args.seed,
        "worker_core": args.core,
        "main_core": args.main_core,
        "frame_bytes": 64,
        "frame_bytes_ipv6": 84,
        "bytes_per_session": bytes_per_session,
        "bytes_per_session6": bytes_per_session6,
        "bytes_per_session6_source": "the same of the IPv6 table (FiveTuple6 keys, 128 B slot) at 1 Mi sessions",
        "bytes_per_session_source": "dataplane::flow::SessionTable::memory_bytes() / capacity at the default capacity (1 Mi sessions): 64 B slot + index + birth + wheel",
        "host_cpus": thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "command": std::env::args().collect::<Vec<_>>().join(" "),
    });
    let doc = report::json(&rows, meta);
    let json_path = out.join("results.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&doc)? + "\n")?;
    let svg_path = out.join("results.svg");
    std::fs::write(
        &svg_path,
        report::svg(
            &rows,
            "ferrolb vs dpdk-testpmd: Mpps by mode and flow count (bars), testpmd on the same ports (lines)",
        ),
    )?;
    println!("wrote {} and {}", json_path.display(), svg_path.display());
    if !failed.is_empty() {
        bail!("rows that failed (see above): {}", failed.join(", "));
    }
    Ok(())
}

/// Measured bytes per session of a table at the default capacity.
fn session_bytes() -> f64 {
    let cfg = dataplane::flow::TableConfig::default();
    let cap = cfg.capacity;
    let table: Result<dataplane::flow::SessionTable, _> =
        dataplane::flow::SessionTable::new(cfg, 0);
    match table {
        Ok(t) => t.memory_bytes() as f64 / cap as f64,
        Err(_) => f64::NAN,
    }
}

/// Measured bytes per session of the IPv6 table at 1 Mi sessions (the
/// IPv4 table's default, to compare; `capacity6` defaults to 64 Ki).
fn session_bytes6() -> f64 {
    let cfg = dataplane::flow::TableConfig::default();
    let cap = cfg.capacity;
    let table: Result<dataplane::flow::state::Sessions6, _> =
        dataplane::flow::SessionTable::new(cfg, 0);
    match table {
        Ok(t) => t.memory_bytes() as f64 / cap as f64,
        Err(_) => f64::NAN,
    }
}

/// The pcaps of a plan, written once per (mode, flows, seed, format).
struct Pcaps {
    prime: Option<PathBuf>,
    client: PathBuf,
    servers: Option<PathBuf>,
    /// Frames looped from memory (client + servers).
    looped: usize,
    /// Frames read once (prime).
    primed: usize,
}

const FORMAT: u32 = 1;

fn pcaps(out: &Path, plan: &Plan, seed: u64) -> Result<Pcaps> {
    // A `+sync` row replays its base row's traffic.
    let dir = out.join("pcap").join(format!(
        "{}-{}-s{seed}-v{FORMAT}",
        plan.mode.base().name(),
        plan.asked
    ));
    let done = dir.join("done");
    let counts = std::fs::read_to_string(&done).ok().and_then(|s| {
        let v: Vec<usize> = s
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        (v.len() == 3).then(|| (v[0], v[1], v[2]))
    });
    let (prime, client, servers) = match counts {
        Some(c) => c,
        None => {
            let t0 = Instant::now();
            std::fs::create_dir_all(&dir)?;
            let t: Traffic = traffic::traffic(plan, seed);
            pcap::write(&dir.join("prime.pcap"), &t.prime);
            pcap::write(&dir.join("client.pcap"), &t.client);
            pcap::write(&dir.join("servers.pcap"), &t.servers);
            let c = (t.prime.len(), t.client.len(), t.servers.len());
            std::fs::write(&done, format!("{} {} {}\n", c.0, c.1, c.2))?;
            println!(
                "  pcaps {}: {} prime, {} client, {} server frames ({:.1} s)",
                dir.display(),
                c.0,
                c.1,
                c.2,
                t0.elapsed().as_secs_f64()
            );
            c
        }
    };
    Ok(Pcaps {
        prime: (prime > 0).then(|| dir.join("prime.pcap")),
        client: dir.join("client.pcap"),
        servers: (servers > 0).then(|| dir.join("servers.pcap")),
        looped: client + servers,
        primed: prime,
    })
}

/// The forwarding ports as (name, devargs), identical for ferrolb and
/// testpmd: client (looped), servers (looped replies, or a sink); or the
/// veths `d0` and `d1`.
fn forwarding_ports(p: &Pcaps, ports: Ports) -> Vec<(String, String)> {
    if let Ports::Veth(_, driver) = ports {
        return vec![
            ("client".into(), veth::device(driver, 1, "d0")),
            ("servers".into(), veth::device(driver, 2, "d1")),
        ];
    }
    let client = format!("net_pcap1,rx_pcap={},infinite_rx=1", p.client.display());
    let servers = match &p.servers {
        Some(s) => format!("net_pcap2,rx_pcap={},infinite_rx=1", s.display()),
        None => "net_null0,no-rx=1".to_string(),
    };
    vec![("client".into(), client), ("servers".into(), servers)]
}

fn run_row(args: &Args, out: &Path, ferrolb: &Path, plan: &Plan, ports: Ports) -> Result<Row> {
    let pcaps = pcaps(out, plan, args.seed)?;
    let mbufs = (pcaps.looped + 32_768) as u64;
    let mem_mb = (mbufs * MBUF_BYTES).div_ceil(1 << 20) + 1024;
    // SYN rows: ferrolb loops nothing (testpmd loops `client`).
    let (lb_mbufs, lb_mem_mb) = if plan.mode.new_flows() {
        (32_768, (32_768 * MBUF_BYTES).div_ceil(1 << 20) + 1024)
    } else {
        (mbufs, mem_mb)
    };
    let logs = out.join("runs");
    std::fs::create_dir_all(&logs)?;
    let mut lb_samples = Vec::new();
    let (mut io, mut macswap) = (Vec::new(), Vec::new());
    let mut notes = Vec::new();
    let mut clean = true;
    let label = match ports.driver() {
        Some(d) => format!("{}@{d}", plan.mode.name()),
        None => plan.mode.name().to_string(),
    };
    let generator = match ports {
        Ports::Veth(v, _) => Some(
            Generator::start(
                v,
                &GeneratorSpec {
                    driver: &args.veth_generator,
                    testpmd: &args.testpmd,
                    pcap: &pcaps.client,
                    core: args.main_core,
                    eal: eal_args(mem_mb, &file_prefix(&format!("{label}-gen"))),
                    mbufs,
                },
                &logs.join(format!("{label}-{}.generator.log", count_text(plan.asked))),
            )
            .map_err(|e| anyhow!(e))?,
        ),
        Ports::Pcap => None,
    };
    let run = RowRun {
        args,
        logs: &logs,
        plan,
        pcaps: &pcaps,
        ports,
    };
    for rep in 0..args.repeat {
        let tag = format!("{label}-{}-{rep}", count_text(plan.asked));
        let (sample, mut n) = run_ferrolb(
            &run,
            &tag,
            ferrolb,
            Memory {
                mbufs: lb_mbufs,
                mb: lb_mem_mb,
            },
        )?;
        clean &= n.is_empty();
        notes.append(&mut n);
        lb_samples.push(sample);
        if !args.no_testpmd {
            for (mode, into) in [("io", &mut io), ("macswap", &mut macswap)] {
                let memory = Memory { mbufs, mb: mem_mb };
                match run_testpmd(&run, &tag, mode, memory) {
                    Ok(v) => into.push(v),
                    Err(e) => notes.push(format!("testpmd {mode}: {e:#}")),
                }
            }
        }
    }
    notes.sort();
    notes.dedup();
    if let Some(g) = generator {
        match g.stop() {
            Some(rate) => notes.push(format!("generator sent {rate:.2} Mpps")),
            None => notes.push("generator's rate unknown".into()),
        }
    }
    let lb = report::median_sample(&lb_samples).unwrap_or_default();
    Ok(Row {
        mode: plan.mode,
        flows: plan.flows(),
        ports: ports.driver(),
        lb,
        io_mpps: report::median(&io),
        macswap_mpps: report::median(&macswap),
        lb_runs: lb_samples.iter().map(|s| s.tx_mpps).collect(),
        notes,
        clean,
    })
}

fn file_prefix(tag: &str) -> String {
    format!("perfrun-{}-{tag}", std::process::id())
}

fn eal_args(mem_mb: u64, prefix: &str) -> Vec<String> {
    [
        "--no-huge",
        "-m",
        &mem_mb.to_string(),
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--file-prefix",
        prefix,
        "--log-level",
        "*:warning",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// What a run gets of memory: mbufs, and the EAL's `-m` in MB.
#[derive(Clone, Copy)]
struct Memory {
    mbufs: u64,
    mb: u64,
}

/// What every run of one row shares: the options, where its logs go, the
/// row's plan, its pcaps and its ports.
struct RowRun<'a> {
    args: &'a Args,
    logs: &'a Path,
    plan: &'a Plan,
    pcaps: &'a Pcaps,
    ports: Ports<'a>,
}

fn run_ferrolb(
    run: &RowRun<'_>,
    tag: &str,
    ferrolb: &Path,
    memory: Memory,
) -> Result<(LbSample, Vec<String>)> {
    let RowRun {
        args,
        logs,
        plan,
        pcaps,
        ports,
    } = *run;
    let Memory { mbufs, mb: mem_mb } = memory;
    let socket = logs.join(format!("{tag}.sock"));
    let _ = std::fs::remove_file(&socket);
    let mut devices: Vec<(String, String, [u8; 6])> = Vec::new();
    if let Some(prime) = &pcaps.prime {
        devices.push((
            "prime".into(),
            format!("net_pcap0,rx_pcap={}", prime.display()),
            traffic::PRIME_MAC,
        ));
    }
    let macs = [traffic::CLIENT_PORT_MAC, traffic::SERVERS_PORT_MAC];
    let forwarding = if plan.mode.new_flows() {
        // The SYNs come in on `prime` only; the other two are sinks.
        vec![
            ("client".to_string(), "net_null1,no-rx=1".to_string()),
            ("servers".to_string(), "net_null0,no-rx=1".to_string()),
        ]
    } else {
        forwarding_ports(pcaps, ports)
    };
    for ((name, dev), mac) in forwarding.into_iter().zip(macs) {
        devices.push((name, dev, mac));
    }
    let mut eal = eal_args(mem_mb, &file_prefix(tag));
    eal.extend(["-l".to_string(), args.main_core.to_string()]);
    let setup = RunSetup {
        eal_args: eal,
        socket: socket.display().to_string(),
        core: args.core,
        mbufs: u32::try_from(mbufs).context("too many mbufs")?,
        ports: devices,
        sync: sync_ports(),
    };
    let cfg_path = logs.join(format!("{tag}.toml"));
    std::fs::write(&cfg_path, traffic::config(plan, &setup))?;
    let log_path = logs.join(format!("{tag}.ferrolb.log"));
    let log = std::fs::File::create(&log_path)?;
    let mut child = ports
        .command(ferrolb)
        .arg("-c")
        .arg(&cfg_path)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", ferrolb.display()))?;
    let result = measure_ferrolb(args, plan, pcaps, &socket, &mut child, &log_path);
    stop(&mut child);
    result
}

/// For the `+sync` rows: a free port for ferrolb's `[sync]` listen, and
/// the port of a UDP sink this process holds open and never reads, so the
/// records leave ferrolb as they would to a peer and the kernel drops them
/// once the sink's buffer is full.
fn sync_ports() -> Option<(u16, u16)> {
    static SINK: std::sync::OnceLock<Option<std::net::UdpSocket>> = std::sync::OnceLock::new();
    let sink = SINK
        .get_or_init(|| std::net::UdpSocket::bind("127.0.0.1:0").ok())
        .as_ref()?;
    let listen = std::net::UdpSocket::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    Some((listen, sink.local_addr().ok()?.port()))
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn measure_ferrolb(
    args: &Args,
    plan: &Plan,
    pcaps: &Pcaps,
    socket: &Path,
    child: &mut Child,
    log: &Path,
) -> Result<(LbSample, Vec<String>)> {
    let started = Instant::now();
    let mut client = loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "ferrolb exited ({status}) before its socket was up; {}:\n{}",
                log.display(),
                log_tail(log)
            );
        }
        if socket.exists() {
            if let Ok(c) = Client::connect(socket) {
                break c;
            }
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!(
                "ferrolb's socket did not come up in 600 s ({})",
                log.display()
            );
        }
        thread::sleep(Duration::from_millis(100));
    };
    client.set_timeout(Some(Duration::from_secs(10)))?;
    if plan.mode.new_flows() {
        return measure_syn(plan, &mut client);
    }
    let up = Instant::now();
    // Warm-up: at least --warmup, the sessions primed, and the looped
    // pcaps gone round at least once after the prime pcap was read.
    let want_rx = (pcaps.primed + 2 * pcaps.looped) as u64;
    let mut notes = Vec::new();
    loop {
        let s = client.stats()?;
        let w = s.workers.first().ok_or_else(|| anyhow!("no worker"))?;
        let primed = s.sessions >= plan.sessions() as u64 && w.rx_packets >= want_rx;
        if primed && up.elapsed().as_secs_f64() >= args.warmup {
            break;
        }
        if up.elapsed() > Duration::from_secs(300) {
            notes.push(format!(
                "not primed after 300 s: {} sessions of {}, rx {}",
                s.sessions,
                plan.sessions(),
                w.rx_packets
            ));
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    let s0 = client.stats()?;
    thread::sleep(Duration::from_secs_f64(args.window));
    let s1 = client.stats()?;
    let sample = window(&s0, &s1)?;
    notes.extend(check(plan, &sample, &s0, &s1));
    Ok((sample, notes))
}

/// SYN rows: ferrolb reads the SYNs once, so the window is while they flow:
/// stats every 20 ms, from the reading where 10% of the SYNs had made
/// sessions to the last one below 90%.
fn measure_syn(plan: &Plan, client: &mut Client) -> Result<(LbSample, Vec<String>)> {
    let total = plan.flows() as u64;
    let created = |s: &StatsReply| s.events.get("sessions_created").copied().unwrap_or(0);
    let (lo, hi) = (total / 10, total * 9 / 10);
    let mut first: Option<StatsReply> = None;
    let mut last: Option<StatsReply> = None;
    let started = Instant::now();
    let mut previous = (0u64, Instant::now());
    loop {
        let s = client.stats()?;
        let rx = s.workers.first().map_or(0, |w| w.rx_packets);
        let c = created(&s);
        if c >= lo && first.is_none() {
            first = Some(s.clone());
        }
        if c <= hi && first.is_some() {
            last = Some(s.clone());
        }
        if rx != previous.0 {
            previous = (rx, Instant::now());
        }
        let stalled = previous.1.elapsed() > Duration::from_secs(2);
        if rx >= total || c > hi || stalled || started.elapsed() > Duration::from_secs(300) {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let (Some(s0), Some(s1)) = (first, last) else {
        bail!("the SYNs never made 10% of their sessions");
    };
    if s1.uptime_ms <= s0.uptime_ms + 100 {
        bail!(
            "SYN window of {} ms: too short to time (more SYNs?)",
            s1.uptime_ms.saturating_sub(s0.uptime_ms)
        );
    }
    let sample = window(&s0, &s1)?;
    let notes = check(plan, &sample, &s0, &s1);
    Ok((sample, notes))
}

/// The rates between two stats replies (worker 0, the only one).
fn window(s0: &StatsReply, s1: &StatsReply) -> Result<LbSample> {
    let (w0, w1) = match (s0.workers.first(), s1.workers.first()) {
        (Some(a), Some(b)) => (a, b),
        _ => bail!("stats without a worker"),
    };
    let secs = s1.uptime_ms.saturating_sub(s0.uptime_ms) as f64 / 1000.0;
    if secs <= 0.0 {
        bail!("stats window of {secs} s");
    }
    let rate = |a: u64, b: u64| b.saturating_sub(a) as f64 / secs / 1e6;
    let drops = s1
        .drops
        .iter()
        .filter_map(|(k, v1)| {
            let d = v1.saturating_sub(s0.drops.get(k).copied().unwrap_or(0));
            (d > 0).then(|| (k.clone(), d))
        })
        .collect();
    let created = |s: &StatsReply| s.events.get("sessions_created").copied().unwrap_or(0);
    Ok(LbSample {
        tx_mpps: rate(w0.tx_packets, w1.tx_packets),
        rx_mpps: rate(w0.rx_packets, w1.rx_packets),
        drops,
        tx_dropped: w1.tx_dropped.saturating_sub(w0.tx_dropped),
        new_mpps: rate(created(s0), created(s1)),
        sessions: s1.sessions,
        busy_percent: w1.busy_percent(Some(w0)),
        cycles_per_packet: w1.cycles_per_packet(Some(w0)),
    })
}

/// What a reader must know about a window: drops, sessions made where none
/// should be, too few sessions where every packet should hit one.
fn check(plan: &Plan, w: &LbSample, s0: &StatsReply, s1: &StatsReply) -> Vec<String> {
    let mut notes = Vec::new();
    if !w.drops.is_empty() {
        let list: Vec<String> = w.drops.iter().map(|(k, v)| format!("{k} {v}")).collect();
        notes.push(format!("drops in window: {}", list.join(", ")));
    }
    if w.tx_dropped > 0 {
        notes.push(format!("tx refused in window: {}", w.tx_dropped));
    }
    let created = |s: &StatsReply| s.events.get("sessions_created").copied().unwrap_or(0);
    let made = created(s1).saturating_sub(created(s0));
    match plan.mode.base() {
        Mode::L2fwd => {}
        Mode::SynProxy => {
            let answered =
                |s: &StatsReply| s.events.get("synproxy_syn_answered").copied().unwrap_or(0);
            let rx_of = |s: &StatsReply| s.workers.first().map_or(0, |x| x.rx_packets);
            let window_rx = rx_of(s1).saturating_sub(rx_of(s0));
            let answers = answered(s1).saturating_sub(answered(s0));
            if (answers as f64) < 0.99 * window_rx as f64 {
                notes.push(format!(
                    "only {answers} of {window_rx} SYNs answered with a cookie"
                ));
            }
            if made > 0 || s1.sessions > 0 {
                notes.push(format!(
                    "the SYN proxy made sessions: {made} in window, {} live",
                    s1.sessions
                ));
            }
        }
        Mode::SynNat | Mode::SynFullnat => {
            if w.rx_mpps > 0.0 {
                let share = w.new_mpps / w.rx_mpps;
                if share < 0.99 {
                    notes.push(format!(
                        "only {:.0}% of SYNs made a new session",
                        share * 100.0
                    ));
                }
            }
        }
        _ => {
            if plan.mode.fragmented() {
                notes.extend(fragments::window_notes(s0, s1));
            }
            if made > 0 {
                notes.push(format!("{made} sessions created in window"));
            }
            if s1.sessions != plan.sessions() as u64 {
                notes.push(format!(
                    "{} sessions live, {} expected",
                    s1.sessions,
                    plan.sessions()
                ));
            }
        }
    }
    notes
}
