//! Results: one row per mode and flow count, the medians of its repeats, the
//! ratios to testpmd, and the table, JSON and SVG chart made from them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::traffic::{count_text, Mode};

/// One measurement of ferrolb over a window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LbSample {
    /// Packets sent per second (TX), in millions.
    pub tx_mpps: f64,
    /// Packets received per second (RX), in millions.
    pub rx_mpps: f64,
    /// Drops in the window by reason (only non-zero ones).
    pub drops: BTreeMap<String, u64>,
    /// TX the ports refused in the window.
    pub tx_dropped: u64,
    /// Sessions created per second in the window, in millions.
    pub new_mpps: f64,
    /// Live sessions at the end of the window.
    pub sessions: u64,
    /// The worker's busy share in the window, in percent: the TSC cycles
    /// of its polls that had packets, over all its cycles.
    pub busy_percent: Option<f64>,
    /// Busy cycles per received packet in the window: what a packet cost
    /// the worker, the driver's receive and transmit included. Below line
    /// rate (a generator-capped veth row) this is the figure to compare.
    pub cycles_per_packet: Option<f64>,
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub mode: Mode,
    pub flows: usize,
    /// The ports' driver when not the pcap vdevs (`perfrun --veth`:
    /// `af_xdp`, `af_packet`).
    pub ports: Option<&'static str>,
    /// Medians over the repeats.
    pub lb: LbSample,
    pub io_mpps: Option<f64>,
    pub macswap_mpps: Option<f64>,
    /// Every repeat's TX Mpps, for the spread.
    pub lb_runs: Vec<f64>,
    /// Problems worth a reader's eye ("no_session drops", ...).
    pub notes: Vec<String>,
    /// Whether every window measured what the row says: no drops, no
    /// sessions made or missing (established rows), every SYN a new session
    /// (SYN rows). A row that is not clean is not judged against its target.
    pub clean: bool,
}

impl Row {
    /// The row's name in the table: the mode, and the ports' driver when
    /// they are veths (`dr@af_xdp`).
    pub fn label(&self) -> String {
        match self.ports {
            Some(p) => format!("{}@{p}", self.mode.name()),
            None => self.mode.name().to_string(),
        }
    }

    pub fn ratio_io(&self) -> Option<f64> {
        ratio(self.lb.tx_mpps, self.io_mpps)
    }

    pub fn ratio_macswap(&self) -> Option<f64> {
        ratio(self.lb.tx_mpps, self.macswap_mpps)
    }

    /// The issue's target for this row: (ratio, against "io" or "macswap").
    pub fn target(&self) -> Option<(f64, &'static str)> {
        if self.ports.is_some() {
            return None; // veth rows: the issue asks a speedup, not a ratio
        }
        match self.mode.base() {
            Mode::L2fwd => Some((0.95, "io")),
            Mode::Dr | Mode::Tun if self.flows <= 1000 => Some((0.8, "macswap")),
            Mode::Nat | Mode::Fullnat if self.flows <= 1000 => Some((0.75, "macswap")),
            Mode::Nat | Mode::Fullnat if self.flows >= 1_000_000 => Some((0.5, "macswap")),
            Mode::SynNat | Mode::SynFullnat => Some((0.3, "macswap")),
            // Issue 21: cookies answered at half testpmd's macswap or more.
            Mode::SynProxy => Some((0.5, "macswap")),
            _ => None,
        }
    }

    /// Whether the row meets its target; None without a target or baseline.
    pub fn meets_target(&self) -> Option<bool> {
        if !self.clean {
            return None;
        }
        let (want, against) = self.target()?;
        let got = match against {
            "io" => self.ratio_io()?,
            _ => self.ratio_macswap()?,
        };
        Some(got >= want)
    }
}

/// Issue 20's goal for an IPv6 row: at least this share of the Mpps of
/// the IPv4 row of the same mode ("within 15%").
pub const IPV6_GOAL: f64 = 0.85;

/// An IPv6 row against its IPv4 twin in the same run (same flow count and
/// ports), when both ran.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VsIpv4 {
    pub twin: Mode,
    /// IPv6 Mpps over IPv4 Mpps.
    pub mpps: f64,
    /// IPv6 busy cycles per packet over IPv4's (above 1: IPv6 costs more).
    pub cycles: Option<f64>,
}

impl VsIpv4 {
    /// Of `r`, against the IPv4 row of its mode among `rows`.
    pub fn of(r: &Row, rows: &[Row]) -> Option<VsIpv4> {
        let twin = r.mode.ipv4_twin()?;
        let v4 = rows
            .iter()
            .find(|o| o.mode == twin && o.flows == r.flows && o.ports == r.ports)?;
        let cycles = match (r.lb.cycles_per_packet, v4.lb.cycles_per_packet) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        Some(VsIpv4 {
            twin,
            mpps: ratio(r.lb.tx_mpps, Some(v4.lb.tx_mpps))?,
            cycles,
        })
    }

    pub fn meets_goal(&self) -> bool {
        self.mpps >= IPV6_GOAL
    }

    /// The note in the table: `0.93x dr (ok, goal 0.85), cyc/pkt 1.08x`.
    pub fn note(&self) -> String {
        let verdict = if self.meets_goal() { "ok" } else { "MISS" };
        let mut n = format!(
            "{:.2}x {} ({verdict}, goal {IPV6_GOAL})",
            self.mpps,
            self.twin.name()
        );
        if let Some(c) = self.cycles {
            let _ = write!(n, ", cyc/pkt {c:.2}x");
        }
        n
    }
}

pub fn ratio(value: f64, base: Option<f64>) -> Option<f64> {
    base.filter(|b| *b > 0.0).map(|b| value / b)
}

/// The median (the mean of the middle two for an even count); None if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The sample whose TX rate is the median one (the lower middle for an even
/// count), so drops and rates in a row come from one run.
pub fn median_sample(samples: &[LbSample]) -> Option<LbSample> {
    let mut v: Vec<&LbSample> = samples.iter().collect();
    v.sort_by(|a, b| a.tx_mpps.total_cmp(&b.tx_mpps));
    v.get(v.len().saturating_sub(1) / 2).map(|s| (*s).clone())
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}

/// The table printed at the end of a run.
pub fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<12} {:>6} {:>7} {:>7} {:>5} {:>7} {:>9} {:>7} {:>8} {:>8} {:>7} {:>8}  notes",
        "mode",
        "flows",
        "Mpps",
        "rx",
        "busy",
        "cyc/pkt",
        "new/s(M)",
        "io",
        "macswap",
        "x_macsw",
        "x_io",
        "target"
    );
    for r in rows {
        let target = match (r.target(), r.meets_target()) {
            (Some((want, against)), Some(ok)) => {
                format!(
                    "{}{want}{}",
                    if ok { "ok " } else { "MISS " },
                    &against[..1]
                )
            }
            (Some((want, against)), None) => format!("n/a {want}{}", &against[..1]),
            _ => "-".into(),
        };
        let mut notes = r.notes.join("; ");
        if let Some(v) = VsIpv4::of(r, rows) {
            if !notes.is_empty() {
                notes.push_str("; ");
            }
            notes.push_str(&v.note());
        }
        if r.lb_runs.len() > 1 {
            let runs: Vec<String> = r.lb_runs.iter().map(|x| format!("{x:.2}")).collect();
            if !notes.is_empty() {
                notes.push_str("; ");
            }
            let _ = write!(notes, "runs {}", runs.join("/"));
        }
        let _ = writeln!(
            s,
            "{:<12} {:>6} {:>7.2} {:>7.2} {:>5} {:>7} {:>9} {:>7} {:>8} {:>8} {:>7} {:>8}  {}",
            r.label(),
            count_text(r.flows),
            r.lb.tx_mpps,
            r.lb.rx_mpps,
            r.lb.busy_percent
                .map_or_else(|| "-".to_string(), |b| format!("{b:.0}%")),
            opt(r.lb.cycles_per_packet, 0),
            if r.mode.new_flows() {
                format!("{:.2}", r.lb.new_mpps)
            } else {
                "-".into()
            },
            opt(r.io_mpps, 2),
            opt(r.macswap_mpps, 2),
            opt(r.ratio_macswap(), 2),
            opt(r.ratio_io(), 2),
            target,
            notes
        );
    }
    s
}

/// The JSON document written next to the table.
pub fn json(rows: &[Row], meta: Value) -> Value {
    let all = rows;
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let vs_ipv4 = VsIpv4::of(r, all).map(|v| {
                json!({"mode": v.twin.name(), "mpps_ratio": v.mpps,
                    "cycles_ratio": v.cycles, "goal": IPV6_GOAL, "meets_goal": v.meets_goal()})
            });
            json!({
                "mode": r.mode.name(),
                "ports": r.ports.unwrap_or("pcap"),
                "flows": r.flows,
                "mpps": r.lb.tx_mpps,
                "rx_mpps": r.lb.rx_mpps,
                "new_flows_mpps": r.lb.new_mpps,
                "sessions": r.lb.sessions,
                "busy_percent": r.lb.busy_percent,
                "cycles_per_packet": r.lb.cycles_per_packet,
                "drops": r.lb.drops,
                "tx_dropped": r.lb.tx_dropped,
                "testpmd_io_mpps": r.io_mpps,
                "testpmd_macswap_mpps": r.macswap_mpps,
                "ratio_macswap": r.ratio_macswap(),
                "ratio_io": r.ratio_io(),
                "target": r.target().map(|(want, against)| json!({"ratio": want, "to": against})),
                "meets_target": r.meets_target(),
                "clean": r.clean,
                "runs_mpps": r.lb_runs,
                "notes": r.notes,
                "vs_ipv4": vs_ipv4,
            })
        })
        .collect();
    json!({ "meta": meta, "rows": rows })
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Grouped bars of Mpps per mode (a bar per flow count), each with short
/// lines at testpmd's io (dashed) and macswap (solid) of the same run.
pub fn svg(rows: &[Row], title: &str) -> String {
    let colours = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2"];
    let mut modes: Vec<Mode> = rows.iter().map(|r| r.mode).collect();
    modes.dedup();
    let mut counts: Vec<usize> = rows.iter().map(|r| r.flows).collect();
    counts.sort_unstable();
    counts.dedup();
    let top = rows
        .iter()
        .flat_map(|r| [Some(r.lb.tx_mpps), r.io_mpps, r.macswap_mpps])
        .flatten()
        .fold(1.0f64, f64::max);
    let step = nice_step(top / 5.0);
    let ymax = (top / step).ceil() * step;
    let (left, right, top_m, bottom) = (60.0, 20.0, 50.0, 70.0);
    let bar_w = 22.0;
    let group_w = bar_w * counts.len() as f64 + 24.0;
    // At least as wide as the title and the legend.
    let width = (left + right + group_w * modes.len().max(1) as f64).max(800.0);
    let height = 380.0;
    let plot_h = height - top_m - bottom;
    let y = |v: f64| top_m + plot_h * (1.0 - v / ymax);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{left}" y="20" font-size="14">{}</text>"#,
        esc(title)
    );
    let mut v = 0.0;
    while v <= ymax + 1e-9 {
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v}</text>"##,
            width - right,
            y(v),
            y(v),
            left - 6.0,
            y(v) + 4.0
        );
        v += step;
    }
    let _ = writeln!(
        s,
        r#"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">Mpps (1 worker, 64-byte frames)</text>"#,
        top_m + plot_h / 2.0,
        top_m + plot_h / 2.0
    );
    for (g, mode) in modes.iter().enumerate() {
        let gx = left + group_w * g as f64 + 12.0;
        for (c, count) in counts.iter().enumerate() {
            let Some(r) = rows.iter().find(|r| r.mode == *mode && r.flows == *count) else {
                continue;
            };
            let x = gx + bar_w * c as f64;
            let colour = colours[c % colours.len()];
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>{} {}: {:.2} Mpps</title></rect>"#,
                y(r.lb.tx_mpps),
                bar_w - 2.0,
                y(0.0) - y(r.lb.tx_mpps),
                mode.name(),
                count_text(*count),
                r.lb.tx_mpps
            );
            for (base, dash) in [
                (r.io_mpps, r#" stroke-dasharray="3,2""#),
                (r.macswap_mpps, ""),
            ] {
                if let Some(b) = base {
                    let _ = writeln!(
                        s,
                        r#"<line x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="black" stroke-width="2"{dash}/>"#,
                        x - 1.0,
                        x + bar_w - 1.0,
                        y(b),
                        y(b)
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            gx + bar_w * counts.len() as f64 / 2.0,
            y(0.0) + 16.0,
            mode.name()
        );
    }
    let ly = height - 22.0;
    let mut lx = left;
    for (c, count) in counts.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{ly:.1}">{} flows</text>"#,
            ly - 10.0,
            colours[c % colours.len()],
            lx + 16.0,
            count_text(*count)
        );
        lx += 80.0;
    }
    let _ = writeln!(
        s,
        r#"<line x1="{lx:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="black" stroke-width="2"/><text x="{:.1}" y="{ly:.1}">testpmd macswap</text>"#,
        lx + 16.0,
        ly - 4.0,
        ly - 4.0,
        lx + 20.0
    );
    lx += 130.0;
    let _ = writeln!(
        s,
        r#"<line x1="{lx:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="black" stroke-width="2" stroke-dasharray="3,2"/><text x="{:.1}" y="{ly:.1}">testpmd io</text>"#,
        lx + 16.0,
        ly - 4.0,
        ly - 4.0,
        lx + 20.0
    );
    s.push_str("</svg>\n");
    s
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(0.1);
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

/// testpmd's forwarding rate from the output of an interactive session
/// that ran `show port stats all` twice: the sum over ports of the `Tx-pps`
/// of each port's last block (testpmd computes it with the TSC over the
/// time since that port's previous show), in Mpps. None if no port printed.
pub fn testpmd_tx_mpps(output: &str) -> Option<f64> {
    let mut last: BTreeMap<u32, f64> = BTreeMap::new();
    for block in output.split("NIC statistics for port").skip(1) {
        let port: Option<u32> = block.split_whitespace().next().and_then(|w| w.parse().ok());
        let pps = block
            .split("Tx-pps:")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|w| w.parse::<f64>().ok());
        if let (Some(port), Some(pps)) = (port, pps) {
            last.insert(port, pps);
        }
    }
    (!last.is_empty()).then(|| last.values().sum::<f64>() / 1e6)
}
