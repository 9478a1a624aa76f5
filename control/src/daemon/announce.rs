//! Route health injection: which VIPs BIRD may announce, and telling it.
//!
//! A VIP is announced while one of its services has a backend with weight
//! above 0 in the config the daemon applies (health laid over the file,
//! sorry servers included) and the appliance answers. The set is written as
//! a BIRD static protocol of /32 routes into `[bgp] routes_file` (a new
//! file renamed over the old, so BIRD never reads half of one), then
//! `birdc configure` makes BIRD load it: BIRD diffs the static routes and
//! sends only the changes, and BGP sessions stay up. Why a file and
//! `configure` rather than `birdc enable/disable` of one protocol per VIP
//! or routes in a kernel table: the file is the whole truth in one place,
//! so a BIRD restart or a reboot reads the current state; it needs no
//! protocol per VIP declared in advance, and no netlink rights.
//!
//! BIRD is told from its own thread, so a slow `birdc` never holds up the
//! daemon's loop; it always writes the latest wanted set, and retries
//! every second while BIRD refuses or is missing.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::config::{BgpConfig, Config};

use super::Logger;

/// The VIPs of `effective` that have a service with a live backend.
pub fn live_vips(effective: &Config) -> BTreeSet<Ipv4Addr> {
    effective
        .services
        .iter()
        .filter(|s| s.backends.iter().any(|b| b.weight > 0))
        .filter_map(|s| match s.vip {
            std::net::IpAddr::V4(vip) => Some(vip),
            // BIRD's include file announces IPv4 /32s; IPv6 VIPs wait for
            // an IPv6 protocol block (issue 20).
            std::net::IpAddr::V6(_) => None,
        })
        .collect()
}

/// The include file: one static protocol with a /32 per VIP. The routes
/// are blackholes: BIRD announces them with itself as the next hop and
/// must not install them in the kernel (the dataplane owns the VIPs).
pub fn bird_static(protocol: &str, vips: &BTreeSet<Ipv4Addr>) -> String {
    let mut out = String::from(
        "# Written by ferrolbctl daemon ([bgp] routes_file): the VIPs whose\n\
         # services have a live backend. Do not edit; include it from bird.conf.\n",
    );
    let _ = writeln!(out, "protocol static {protocol} {{\n  ipv4;");
    for vip in vips {
        let _ = writeln!(out, "  route {vip}/32 blackhole;");
    }
    out.push_str("}\n");
    out
}

/// What the BIRD thread is told.
enum Want {
    Vips(BTreeSet<Ipv4Addr>),
    /// Withdraw everything, answer on the sender, and end.
    Stop(Sender<()>),
}

/// The daemon's handle on the BIRD thread.
pub(crate) struct Announcer {
    tx: Sender<Want>,
    thread: Option<JoinHandle<()>>,
    /// The last set handed over, so only changes are sent.
    wanted: Option<BTreeSet<Ipv4Addr>>,
}

impl Announcer {
    pub fn start(config: BgpConfig, log: Logger) -> io::Result<Announcer> {
        let (tx, rx) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("bgp".into())
            .spawn(move || tell_bird(&config, &log, &rx))?;
        Ok(Announcer {
            tx,
            thread: Some(thread),
            wanted: None,
        })
    }

    /// Asks for exactly `vips` to be announced.
    pub fn want(&mut self, vips: BTreeSet<Ipv4Addr>) {
        if self.wanted.as_ref() == Some(&vips) {
            return;
        }
        self.wanted = Some(vips.clone());
        let _ = self.tx.send(Want::Vips(vips));
    }

    /// Withdraws every route and waits (up to `timeout`) until BIRD has
    /// taken the empty file. Returns whether it did.
    pub fn withdraw_all(mut self, timeout: Duration) -> bool {
        let (done, told) = mpsc::channel();
        if self.tx.send(Want::Stop(done)).is_err() {
            return false;
        }
        let ok = told.recv_timeout(timeout).is_ok();
        if ok {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
        ok
    }
}

/// How long the thread waits before trying BIRD again.
const RETRY: Duration = Duration::from_secs(1);

/// The BIRD thread: writes each wanted set (the latest, when several
/// queued up) and runs `birdc configure`, retrying until BIRD takes it.
fn tell_bird(config: &BgpConfig, log: &Logger, rx: &Receiver<Want>) {
    let mut announced: Option<BTreeSet<Ipv4Addr>> = None;
    let mut pending: Option<BTreeSet<Ipv4Addr>> = None;
    let mut retry_at = Instant::now();
    loop {
        let wait = match pending {
            Some(_) => retry_at.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(3600),
        };
        let first = match rx.recv_timeout(wait) {
            Ok(w) => Some(w),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        // Everything queued meanwhile: the latest set wins; a stop ends.
        for w in first.into_iter().chain(rx.try_iter()) {
            match w {
                Want::Vips(v) => {
                    pending = Some(v);
                    retry_at = Instant::now();
                }
                Want::Stop(done) => {
                    stop(config, log, announced.as_ref(), &done);
                    return;
                }
            }
        }
        if Instant::now() < retry_at {
            continue;
        }
        let Some(vips) = pending.take() else {
            continue;
        };
        if announced.as_ref() == Some(&vips) {
            continue;
        }
        match configure(config, &vips) {
            Ok(()) => {
                log.log(change_line(announced.as_ref(), &vips, &config.protocol));
                announced = Some(vips);
            }
            Err(e) => {
                log.warn(format_args!("bgp: {e}; retrying in 1 s"));
                pending = Some(vips);
                retry_at = Instant::now() + RETRY;
            }
        }
    }
}

/// Withdraws every route (trying a few times) and says it is done.
fn stop(
    config: &BgpConfig,
    log: &Logger,
    announced: Option<&BTreeSet<Ipv4Addr>>,
    done: &Sender<()>,
) {
    let none = BTreeSet::new();
    for _ in 0..3 {
        match configure(config, &none) {
            Ok(()) => {
                log.log(format_args!(
                    "bgp: withdrew every VIP{}",
                    match announced {
                        Some(a) if !a.is_empty() => format!(" ({})", list(a)),
                        _ => String::new(),
                    }
                ));
                let _ = done.send(());
                return;
            }
            Err(e) => log.warn(format_args!("bgp: withdrawing on stop: {e}")),
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// Writes the file for `vips` and has BIRD load it.
fn configure(config: &BgpConfig, vips: &BTreeSet<Ipv4Addr>) -> Result<(), String> {
    write_atomically(&config.routes_file, &bird_static(&config.protocol, vips))
        .map_err(|e| format!("cannot write {}: {e}", config.routes_file.display()))?;
    let Some((program, args)) = config.birdc.split_first() else {
        return Err("[bgp] birdc is empty".into());
    };
    let out = Command::new(program)
        .args(args)
        .arg("configure")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // birdc exits 0 even when BIRD refuses the config: read its answer.
    if out.status.success() && text.contains("Reconfigur") {
        Ok(())
    } else {
        let said = format!("{}{}", text, String::from_utf8_lossy(&out.stderr));
        Err(format!(
            "{program} configure failed ({}): {}",
            out.status,
            said.trim().replace('\n', " | ")
        ))
    }
}

fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn list(vips: &BTreeSet<Ipv4Addr>) -> String {
    vips.iter()
        .map(|v| format!("{v}/32"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One log line for a change BIRD took: what is now announced, what was
/// added and withdrawn.
fn change_line(
    before: Option<&BTreeSet<Ipv4Addr>>,
    now: &BTreeSet<Ipv4Addr>,
    protocol: &str,
) -> String {
    let empty = BTreeSet::new();
    let before = before.unwrap_or(&empty);
    let added: BTreeSet<_> = now.difference(before).copied().collect();
    let gone: BTreeSet<_> = before.difference(now).copied().collect();
    let mut line = format!("bgp: {protocol} announces {} VIPs", now.len());
    if !added.is_empty() {
        let _ = write!(line, "; announced {}", list(&added));
    }
    if !gone.is_empty() {
        let _ = write!(line, "; withdrew {}", list(&gone));
    }
    line
}

/// How long a withdrawal may take before the daemon goes on without it.
const WITHDRAW_TIMEOUT: Duration = Duration::from_secs(5);

impl super::Daemon {
    /// Health or the file changed: a VIP that lost its last live backend
    /// is withdrawn now, without waiting for the apply (or one in flight);
    /// one that gained a backend waits until the appliance has the weights.
    pub(super) fn follow_health(&mut self) {
        if self.bgp.is_none() {
            return;
        }
        let config = super::effective(&self.config, &self.view.states(), &self.quorum);
        self.wanted_live = live_vips(&config);
        self.announce();
    }

    /// Tells BIRD what to announce now: nothing unless the appliance has
    /// our config; else the VIPs live both in what it has and in the
    /// latest health.
    pub(super) fn announce(&mut self) {
        let want: BTreeSet<Ipv4Addr> = if self.in_service {
            self.applied_live
                .intersection(&self.wanted_live)
                .copied()
                .collect()
        } else {
            BTreeSet::new()
        };
        if let Some((_, announcer)) = &mut self.bgp {
            announcer.want(want);
        }
    }

    /// The appliance stopped answering: withdraw everything until it takes
    /// our config again.
    pub(super) fn out_of_service(&mut self) {
        if self.in_service {
            self.in_service = false;
            self.warn("bgp: the appliance does not answer; withdrawing its VIPs");
            self.announce();
        }
    }

    /// Starts, stops or restarts the BIRD thread for `[bgp]` as loaded.
    pub(super) fn follow_bgp(&mut self, new: Option<BgpConfig>) -> Result<(), super::DaemonError> {
        if self.bgp.as_ref().map(|(c, _)| c) == new.as_ref() {
            return Ok(());
        }
        if let Some((_, old)) = self.bgp.take() {
            if !old.withdraw_all(WITHDRAW_TIMEOUT) {
                self.warn("bgp: [bgp] changed; BIRD did not take the withdrawal in time");
            }
        }
        if let Some(config) = new {
            let announcer = Announcer::start(config.clone(), self.opts.log.clone())
                .map_err(super::DaemonError::Thread)?;
            self.log(format_args!(
                "bgp: announcing live VIPs through {} ({})",
                config.routes_file.display(),
                config.protocol
            ));
            self.bgp = Some((config, announcer));
            self.announce();
        }
        Ok(())
    }

    /// On a graceful stop: withdraw every VIP, then wait `drain_ms` so the
    /// routers move the traffic before the daemon (and then the appliance)
    /// goes.
    pub(super) fn withdraw_on_stop(&mut self) {
        let Some((config, announcer)) = self.bgp.take() else {
            return;
        };
        if announcer.withdraw_all(WITHDRAW_TIMEOUT) {
            self.log(format_args!(
                "bgp: withdrawn on stop; draining {} ms",
                config.drain_ms
            ));
            thread::sleep(Duration::from_millis(config.drain_ms.into()));
        } else {
            self.warn("bgp: BIRD did not take the withdrawal on stop");
        }
    }
}

#[cfg(test)]
#[path = "announce_tests.rs"]
mod tests;
