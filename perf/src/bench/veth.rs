//! `perfrun --veth`: a row on veth pairs instead of pcap vdevs, so that
//! ferrolb's `net_af_xdp` ports can be compared with `net_af_packet` ones
//! on the same interfaces (issue 24), each against testpmd on the same
//! ports.
//!
//! One network namespace holds two veth pairs, `g0`-`d0` and `d1`-`g1`
//! (offloads off, as tests/e2e_af_xdp.rs has them). The device under test
//! (ferrolb, or testpmd io / macswap) has `d0` as its `client` port and
//! `d1` as its `servers` port; a generator, `dpdk-testpmd` in io mode on
//! the main core, replays the row's `client.pcap` from memory into `g0`
//! through its own port of one driver for every row (`--veth-generator`,
//! af_packet by default: an AF_XDP generator's frames hardly reached an
//! af_packet `d0` on the development VM), so the offered traffic does not
//! change with the driver measured. Nothing reads `g1`: what leaves `d1`
//! ends in the kernel (no address on it).

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// The drivers a veth row can measure.
pub const DRIVERS: [&str; 2] = ["af_xdp", "af_packet"];

/// DPDK devargs of vdev `index` on interface `iface` with `driver`.
pub fn device(driver: &str, index: usize, iface: &str) -> String {
    match driver {
        "af_xdp" => format!("net_af_xdp{index},iface={iface}"),
        _ => format!("net_af_packet{index},iface={iface},framecnt=4096"),
    }
}

/// Parses `--veth af_xdp,af_packet`.
pub fn parse_drivers(text: &str) -> Result<Vec<&'static str>, String> {
    let mut out = Vec::new();
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        match DRIVERS.iter().find(|d| **d == word) {
            Some(d) if !out.contains(d) => out.push(*d),
            Some(_) => {}
            None => return Err(format!("unknown veth driver {word:?}: af_xdp or af_packet")),
        }
    }
    Ok(out)
}

/// The namespace with the two veth pairs; removed when dropped.
pub struct Veth {
    pub ns: String,
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Veth {
    /// Makes namespace `ns` with `g0`-`d0` and `d1`-`g1`, all up, offloads
    /// off. Needs root, iproute2 and ethtool.
    pub fn up(ns: &str) -> Result<Veth, String> {
        let _ = run(&["ip", "netns", "del", ns]);
        run(&["ip", "netns", "add", ns])?;
        let v = Veth { ns: ns.to_string() };
        run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
        // No IPv6 on the veths: the kernel's router and multicast
        // listener solicitations would reach the ports as drops.
        for key in ["all", "default"] {
            let key = format!("net.ipv6.conf.{key}.disable_ipv6=1");
            run(&["ip", "netns", "exec", ns, "sysctl", "-qw", &key])?;
        }
        for (a, b) in [("g0", "d0"), ("d1", "g1")] {
            run(&[
                "ip", "-n", ns, "link", "add", a, "type", "veth", "peer", "name", b,
            ])?;
        }
        for i in ["g0", "d0", "d1", "g1"] {
            let offloads = ["tx", "off", "tso", "off", "gso", "off", "gro", "off"];
            let mut cmd = vec!["ip", "netns", "exec", ns, "ethtool", "-K", i];
            cmd.extend(offloads);
            run(&cmd)?;
            run(&["ip", "-n", ns, "link", "set", i, "up"])?;
        }
        Ok(v)
    }

    /// `program` to run inside the namespace.
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).arg(program);
        c
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.ns]);
    }
}

/// How to run the generator: testpmd (`testpmd`, with `eal` and `mbufs`)
/// replaying `pcap` into `g0` through a `driver` port, both lcores on
/// `core`.
pub struct GeneratorSpec<'a> {
    pub driver: &'a str,
    pub testpmd: &'a str,
    pub pcap: &'a Path,
    pub core: usize,
    pub eal: Vec<String>,
    pub mbufs: u64,
}

/// The generator: testpmd io from `client.pcap` (looped from memory) into
/// `g0` (see [`GeneratorSpec`]).
pub struct Generator {
    child: Child,
    started: Instant,
    log: std::path::PathBuf,
}

impl Generator {
    pub fn start(veth: &Veth, spec: &GeneratorSpec<'_>, log: &Path) -> Result<Generator, String> {
        let GeneratorSpec {
            driver,
            testpmd,
            pcap,
            core,
            ref eal,
            mbufs,
        } = *spec;
        let out = std::fs::File::create(log).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        // stdbuf: testpmd's stdout to a file is block-buffered, and the
        // readiness line below would wait in its buffer.
        let child = veth
            .command(Path::new("stdbuf"))
            .args(["-oL", testpmd])
            .args([
                "--lcores",
                &format!("0@{core},1@{core}"),
                "--main-lcore",
                "0",
            ])
            .args(eal)
            .arg(format!(
                "--vdev=net_pcap0,rx_pcap={},infinite_rx=1",
                pcap.display()
            ))
            .arg(format!("--vdev={}", device(driver, 0, "g0")))
            .args([
                "--",
                "--forward-mode=io",
                "--port-topology=paired",
                "--nb-cores=1",
                "--burst=32",
                &format!("--total-num-mbufs={mbufs}"),
                "-a",
            ])
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting the generator ({testpmd}): {e}"))?;
        let mut g = Generator {
            child,
            started: Instant::now(),
            log: log.to_path_buf(),
        };
        // Forwarding before the device under test starts: testpmd says
        // "Press enter to exit" once its ports are up and it forwards.
        let deadline = Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if text.contains("Press enter to exit") {
                g.started = Instant::now();
                return Ok(g);
            }
            let exited = matches!(g.child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() > deadline {
                let _ = g.child.kill();
                let _ = g.child.wait();
                return Err(format!(
                    "the generator did not start forwarding in 120 s (see {})",
                    log.display()
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// Stops it (Enter makes testpmd print its totals and quit) and returns
    /// the packets per second it sent into `g0`, in millions, over its
    /// whole run (start-up included, so a little low).
    pub fn stop(mut self) -> Option<f64> {
        let secs = self.started.elapsed().as_secs_f64();
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let text = std::fs::read_to_string(&self.log).ok()?;
        generator_tx(&text).map(|tx| tx as f64 / secs / 1e6)
    }
}

/// TX packets of port 1 (the veth) in testpmd's final per-port totals.
pub fn generator_tx(text: &str) -> Option<u64> {
    let at = text.rfind("Forward statistics for port 1")?;
    let rest = &text[at..];
    let i = rest.find("TX-packets:")?;
    rest[i + "TX-packets:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
