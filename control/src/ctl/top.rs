//! `ferrolbctl top`: a live view of the balancer, refreshed in place like
//! `htop` (or `ipvsadm -Ln --rate` in a loop, with drops and workers). Each
//! frame is one `list --stats --rate` and one `stats`: services and their
//! backends with the appliance's own one-second rates, then workers and
//! drop reasons with rates from the difference between this frame's
//! counters and the last one's. [`render`] is pure (the frames and the time
//! between them are passed in), so it is tested without a socket.

use std::fmt::Write as _;
use std::time::Duration;

use crate::api::{FlowRates, ListReply, ServiceStatus, StatsReply};
use crate::text::escape;

/// Drop reasons shown, the fastest first.
const DROP_ROWS: usize = 8;

/// One refresh: what the appliance said.
pub struct Frame {
    pub list: ListReply,
    pub stats: StatsReply,
}

/// The screen for `cur`, with per-second rates of the worker and drop
/// counters over `since` (the last frame and the time since it; none for
/// the first frame, whose counter rates read `-`).
pub fn render(cur: &Frame, since: Option<(&Frame, Duration)>) -> String {
    let s = &cur.stats;
    let mut out = format!(
        "ferrolb top: generation {}, up {}, {} workers, {} sessions\n\n",
        s.generation,
        uptime(s.uptime_ms),
        s.workers.len(),
        s.sessions
    );
    services(&mut out, &cur.list);
    workers(&mut out, cur, since);
    drops(&mut out, cur, since);
    out
}

fn services(out: &mut String, list: &ListReply) {
    let _ = writeln!(
        out,
        "{:<28} {:<7} {:<5} {:>9} {:>8} {:>8} {:>8} {:>9} {:>9}",
        "SERVICE",
        "MODE",
        "SCHED",
        "SESSIONS",
        "CONN/s",
        "INPKT/s",
        "OUTPKT/s",
        "IN B/s",
        "OUT B/s"
    );
    let mut sorted: Vec<&ServiceStatus> = list.services.iter().collect();
    // The busiest first; the key keeps the order steady between frames.
    sorted.sort_by(|a, b| {
        let rate = |s: &ServiceStatus| s.rate.map_or(0.0, |r| r.cps + r.pps_in);
        rate(b).total_cmp(&rate(a)).then(a.key.cmp(&b.key))
    });
    for svc in sorted {
        let r = svc.rate.unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<28} {:<7} {:<5} {:>9} {}",
            svc.key.to_string(),
            svc.mode.to_string(),
            svc.scheduler.to_string(),
            svc.sessions,
            rates(&r)
        );
        for b in &svc.backends {
            let r = b.rate.unwrap_or_default();
            let state = if b.draining {
                "drain".to_owned()
            } else {
                format!("w{}", b.weight)
            };
            let _ = writeln!(
                out,
                "  -> {:<23} {:<13} {:>9} {}",
                std::net::SocketAddr::new(b.address, b.port).to_string(),
                state,
                b.active + b.inactive,
                rates(&r)
            );
        }
    }
    if list.services.is_empty() {
        out.push_str("  (no services)\n");
    }
    out.push('\n');
}

fn rates(r: &FlowRates) -> String {
    format!(
        "{:>8} {:>8} {:>8} {:>9} {:>9}",
        human(r.cps),
        human(r.pps_in),
        human(r.pps_out),
        human(r.bps_in),
        human(r.bps_out)
    )
}

fn workers(out: &mut String, cur: &Frame, since: Option<(&Frame, Duration)>) {
    let _ = writeln!(
        out,
        "{:<7} {:>4} {:>9} {:>9} {:>9} {:>10} {:>5} {:>8}",
        "WORKER", "CORE", "RX/s", "TX/s", "DROP/s", "SESSIONS", "BUSY", "CYC/PKT"
    );
    for w in &cur.stats.workers {
        let before = since.and_then(|(f, dt)| {
            f.stats
                .workers
                .iter()
                .find(|p| p.index == w.index)
                .map(|p| (p, dt))
        });
        let per_second = |now: u64, then: fn(&crate::api::WorkerStatus) -> u64| {
            before.map_or("-".to_owned(), |(p, dt)| {
                human(per_sec(now.saturating_sub(then(p)), dt))
            })
        };
        // Busy share and cost per packet over this refresh: the cycles
        // the worker spent on packets, not the 100 % a poll loop burns.
        let earlier = before.map(|(p, _)| p);
        let busy = match earlier {
            Some(e) => w
                .busy_percent(Some(e))
                .map_or("-".to_owned(), |b| format!("{b:.0}%")),
            None => "-".to_owned(),
        };
        let cost = match earlier {
            Some(e) => w
                .cycles_per_packet(Some(e))
                .map_or("-".to_owned(), |c| format!("{c:.0}")),
            None => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<7} {:>4} {:>9} {:>9} {:>9} {:>10} {:>5} {:>8}",
            w.index,
            w.core,
            per_second(w.rx_packets, |p| p.rx_packets),
            per_second(w.tx_packets, |p| p.tx_packets),
            per_second(w.dropped + w.tx_dropped, |p| p.dropped + p.tx_dropped),
            w.sessions,
            busy,
            cost
        );
    }
    out.push('\n');
}

fn drops(out: &mut String, cur: &Frame, since: Option<(&Frame, Duration)>) {
    let Some((prev, dt)) = since else {
        out.push_str("DROPS/s: - (after the next refresh)\n");
        return;
    };
    let mut moving: Vec<(f64, &str, u64)> = cur
        .stats
        .drops
        .iter()
        .map(|(reason, &n)| {
            let then = prev.stats.drops.get(reason).copied().unwrap_or(0);
            (per_sec(n.saturating_sub(then), dt), reason.as_str(), n)
        })
        .filter(|(rate, _, _)| *rate > 0.0)
        .collect();
    if moving.is_empty() {
        out.push_str("DROPS/s: none\n");
        return;
    }
    moving.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    out.push_str("DROPS/s (total):\n");
    for (rate, reason, total) in moving.iter().take(DROP_ROWS) {
        let _ = writeln!(
            out,
            "  {:<28} {:>9} ({total})",
            escape(reason),
            human(*rate)
        );
    }
    if moving.len() > DROP_ROWS {
        let _ = writeln!(out, "  ... {} more reasons", moving.len() - DROP_ROWS);
    }
}

fn per_sec(delta: u64, dt: Duration) -> f64 {
    let secs = dt.as_secs_f64();
    if secs > 0.0 {
        delta as f64 / secs
    } else {
        0.0
    }
}

/// 999, 1.2k, 3.4M, 5.6G: four columns at most.
fn human(x: f64) -> String {
    if x < 999.5 {
        format!("{x:.0}")
    } else if x < 999_500.0 {
        format!("{:.1}k", x / 1e3)
    } else if x < 999_500_000.0 {
        format!("{:.1}M", x / 1e6)
    } else {
        format!("{:.1}G", x / 1e9)
    }
}

fn uptime(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests;
