//! Replies as people read them: pure functions from the protocol's reply
//! types to text. `list` keeps the shape of `ipvsadm -Ln` (with `--stats`
//! and `--rate`), since that is what LVS users read at a glance.
//!
//! Every string a reply carries goes through [`escape`] before it is
//! printed, so a value cannot forge a line of the listing or drive the
//! terminal, whatever the appliance let through.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::api::{
    BackendStatus, ChangeReply, FlowRates, FlowStats, HelloReply, ListReply, NeighboursReply,
    RoutesReply, ServiceStatus, SessionsReply, SnatStatus, StatsReply, VrrpStatus,
};
use crate::config::LbMode;
use crate::text::escape;

/// What `list` shows beside each service and backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListColumns {
    /// Forward, Weight, ActiveConn, InActConn.
    Plain,
    /// Conns, InPkts, OutPkts, InBytes, OutBytes.
    Stats,
    /// CPS, InPPS, OutPPS, InBPS, OutBPS.
    Rate,
}

/// The reply to a change: its diff lines, then what happened.
pub fn change(reply: &ChangeReply, dry_run: bool) -> String {
    let mut out = String::new();
    for line in &reply.changes {
        let _ = writeln!(out, "{}", escape(line));
    }
    if reply.changes.is_empty() {
        out.push_str("no changes\n");
    } else if !reply.applied {
        out.push_str(if dry_run {
            "dry run: nothing changed\n"
        } else {
            "nothing changed\n"
        });
    } else {
        let _ = write!(out, "applied generation {}", reply.generation);
        if let Some(us) = reply.adopted_us {
            let _ = write!(out, " (all workers in {us} µs)");
        }
        out.push('\n');
    }
    out
}

/// `ipvsadm`'s name for how a backend is reached.
fn forward(mode: LbMode) -> &'static str {
    match mode {
        LbMode::Dr => "Route",
        LbMode::Tun => "Tunnel",
        LbMode::Nat => "Masq",
        LbMode::Fullnat => "FullNat",
    }
}

/// The services and then the SNAT rules, as `ipvsadm -Ln` lays them out.
pub fn list(reply: &ListReply, columns: ListColumns) -> String {
    let mut out = format!("ferrolb config generation {}\n", reply.generation);
    match columns {
        ListColumns::Plain => {
            out.push_str("Prot LocalAddress:Port Scheduler Flags\n");
            out.push_str("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
        }
        ListColumns::Stats => {
            counter_line(
                &mut out,
                "Prot LocalAddress:Port",
                ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"].map(String::from),
            );
            out.push_str("  -> RemoteAddress:Port\n");
        }
        ListColumns::Rate => {
            counter_line(
                &mut out,
                "Prot LocalAddress:Port",
                ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"].map(String::from),
            );
            out.push_str("  -> RemoteAddress:Port\n");
        }
    }
    for s in &reply.services {
        service(&mut out, s, columns);
    }
    for r in &reply.snat {
        snat(&mut out, r, columns);
    }
    out
}

/// One line of ipvsadm's counter layout: a 33-wide name, five 8-wide
/// numbers (wider when they need to be).
fn counter_line(out: &mut String, name: &str, values: [String; 5]) {
    let _ = write!(out, "{name:<33}");
    for v in values {
        let _ = write!(out, " {v:>8}");
    }
    out.push('\n');
}

fn stats_values(s: Option<&FlowStats>) -> [String; 5] {
    let s = s.copied().unwrap_or_default();
    [
        s.conns,
        s.packets_in,
        s.packets_out,
        s.bytes_in,
        s.bytes_out,
    ]
    .map(|n| n.to_string())
}

fn rate_values(r: Option<&FlowRates>) -> [String; 5] {
    let r = r.copied().unwrap_or_default();
    [r.cps, r.pps_in, r.pps_out, r.bps_in, r.bps_out].map(|x| format!("{x:.0}"))
}

fn service(out: &mut String, s: &ServiceStatus, columns: ListColumns) {
    let proto = s.key.proto.to_string().to_ascii_uppercase();
    let name = match s.port_last {
        Some(last) => format!(
            "{proto}  {}-{last}",
            std::net::SocketAddr::new(s.key.vip, s.key.port)
        ),
        None => format!(
            "{proto}  {}",
            std::net::SocketAddr::new(s.key.vip, s.key.port)
        ),
    };
    match columns {
        ListColumns::Plain => {
            let _ = write!(out, "{name} {}", s.scheduler);
            if s.persistence > 0 {
                let _ = write!(out, " persistent {}", s.persistence);
            }
            if s.ops {
                let _ = write!(out, " ops");
            }
            if !s.also_listen.is_empty() {
                let also: Vec<String> = s.also_listen.iter().map(|a| a.to_string()).collect();
                let _ = write!(out, " also {}", also.join(","));
            }
            if !s.local_addresses.is_empty() {
                let laddrs: Vec<String> = s.local_addresses.iter().map(|a| a.to_string()).collect();
                let _ = write!(out, " laddr {}", laddrs.join(","));
            }
            if let Some(n) = &s.name {
                let _ = write!(out, " ({})", escape(n));
            }
            out.push('\n');
        }
        ListColumns::Stats => counter_line(out, &name, stats_values(s.stats.as_ref())),
        ListColumns::Rate => counter_line(out, &name, rate_values(s.rate.as_ref())),
    }
    for b in &s.backends {
        backend(out, b, s.mode, columns);
    }
}

fn backend(out: &mut String, b: &BackendStatus, mode: LbMode, columns: ListColumns) {
    let rip = std::net::SocketAddr::new(b.address, b.port).to_string();
    let line = match columns {
        ListColumns::Plain => format!(
            "  -> {rip:<28} {:<7} {:<6} {:<10} {:<10}",
            forward(mode),
            b.weight,
            b.active,
            b.inactive
        ),
        ListColumns::Stats => {
            let mut l = String::new();
            counter_line(
                &mut l,
                &format!("  -> {rip}"),
                stats_values(b.stats.as_ref()),
            );
            l.trim_end().to_owned()
        }
        ListColumns::Rate => {
            let mut l = String::new();
            counter_line(&mut l, &format!("  -> {rip}"), rate_values(b.rate.as_ref()));
            l.trim_end().to_owned()
        }
    };
    out.push_str(line.trim_end());
    if b.draining {
        out.push_str(" draining");
    }
    out.push('\n');
}

fn snat(out: &mut String, r: &SnatStatus, columns: ListColumns) {
    let name = format!("SNAT {}", r.source);
    let addresses: Vec<String> = r.addresses.iter().map(|a| a.to_string()).collect();
    match columns {
        ListColumns::Plain => {
            let _ = writeln!(
                out,
                "{name} -> {} sessions {}",
                addresses.join(","),
                r.sessions
            );
        }
        ListColumns::Stats => counter_line(out, &name, stats_values(r.stats.as_ref())),
        ListColumns::Rate => counter_line(out, &name, rate_values(r.rate.as_ref())),
    }
}

/// Columns of text, the first row being the header; columns marked in
/// `right` are right-aligned (numbers), the others left-aligned.
fn table(rows: &[Vec<String>], right: &[bool]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        widths.resize(widths.len().max(row.len()), 0);
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            if right.get(i).copied().unwrap_or(false) {
                let _ = write!(line, "{cell:>w$}");
            } else {
                let _ = write!(line, "{cell:<w$}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A header row for [`table`].
fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// `sessions`, one row each, with a note when more matched.
pub fn sessions(reply: &SessionsReply) -> String {
    let mut rows = vec![header(&[
        "Prot",
        "Client",
        "Destination",
        "Local",
        "Backend",
        "State",
        "Expires",
        "Worker",
    ])];
    rows.extend(reply.sessions.iter().map(|s| {
        vec![
            s.protocol.as_str().to_ascii_uppercase(),
            s.client.to_string(),
            s.destination.to_string(),
            s.local.map_or_else(|| "-".into(), |l| l.to_string()),
            s.backend.to_string(),
            escape(&s.state).into_owned(),
            format!("{}s", s.expires_in_ms / 1000),
            s.worker.to_string(),
        ]
    }));
    let mut out = if reply.sessions.is_empty() {
        "(no sessions)\n".to_owned()
    } else {
        table(
            &rows,
            &[false, false, false, false, false, false, true, true],
        )
    };
    if reply.truncated {
        out.push_str("(more sessions match; raise --limit)\n");
    }
    out
}

/// `1d 2h 3m 4s`, leading zero units left out.
fn duration(ms: u64) -> String {
    let s = ms / 1000;
    let (d, h, m, s) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(d, "d"), (h, "h"), (m, "m")] {
        if n > 0 || !out.is_empty() {
            let _ = write!(out, "{n}{unit} ");
        }
    }
    let _ = write!(out, "{s}s");
    out
}

/// Named counters, zeros left out unless `all`; `none` when nothing is
/// left to show.
fn counters(out: &mut String, title: &str, counters: &BTreeMap<String, u64>, all: bool) {
    let rows: Vec<Vec<String>> = counters
        .iter()
        .filter(|(_, &n)| all || n > 0)
        .map(|(name, n)| vec![format!("  {}", escape(name)), n.to_string()])
        .collect();
    if rows.is_empty() {
        let _ = writeln!(out, "{title}: none");
    } else {
        let _ = writeln!(out, "{title}:");
        out.push_str(&table(&rows, &[false, true]));
    }
}

/// `stats`: per worker, per port, then drop reasons and events (zeros only
/// with `all`).
pub fn stats(reply: &StatsReply, all: bool) -> String {
    let mut out = format!(
        "config generation {}, up {}, {} sessions\n",
        reply.generation,
        duration(reply.uptime_ms),
        reply.sessions
    );
    if let Some(v) = &reply.vrrp {
        out.push_str(&role(v));
    }
    out.push('\n');
    let mut workers = vec![header(&[
        "Worker",
        "Core",
        "RxPkts",
        "TxPkts",
        "TxDropped",
        "Dropped",
        "Sessions",
        "Generation",
        "Busy",
        "Cyc/Pkt",
    ])];
    workers.extend(reply.workers.iter().map(|w| {
        let mut row = [
            w.index as u64,
            w.core as u64,
            w.rx_packets,
            w.tx_packets,
            w.tx_dropped,
            w.dropped,
            w.sessions,
            w.generation,
        ]
        .map(|n| n.to_string())
        .to_vec();
        // Since the worker started; `top` shows them per refresh.
        row.push(
            w.busy_percent(None)
                .map_or("-".into(), |b| format!("{b:.1}%")),
        );
        row.push(
            w.cycles_per_packet(None)
                .map_or("-".into(), |c| format!("{c:.0}")),
        );
        row
    }));
    out.push_str(&table(&workers, &[true; 10]));
    out.push('\n');
    let mut ports = vec![header(&[
        "Port", "RxPkts", "TxPkts", "RxBytes", "TxBytes", "RxMissed", "RxNoMbuf", "RxErrors",
        "TxErrors", "Steering",
    ])];
    ports.extend(reply.ports.iter().map(|p| {
        let mut row = vec![escape(&p.name).into_owned()];
        row.extend(
            [
                p.rx_packets,
                p.tx_packets,
                p.rx_bytes,
                p.tx_bytes,
                p.rx_missed,
                p.rx_nombuf,
                p.rx_errors,
                p.tx_errors,
            ]
            .map(|n| n.to_string()),
        );
        row.push(escape(&p.steering).into_owned());
        row
    }));
    let mut right = [true; 10];
    right[9] = false;
    right[0] = false;
    out.push_str(&table(&ports, &right));
    out.push('\n');
    if reply.ports.iter().any(|p| !p.members.is_empty()) {
        out.push_str(&bond_members(&reply.ports));
        out.push('\n');
    }
    counters(&mut out, "Drops", &reply.drops, all);
    counters(&mut out, "Events", &reply.events, all);
    out
}

/// The members of the bonded ports: link, whether each carries traffic
/// (in the words of its mode), LACP states, and the member's counters.
fn bond_members(ports: &[crate::api::PortStatus]) -> String {
    let mut rows = vec![header(&[
        "Port", "Mode", "Member", "Link", "State", "LACP", "RxPkts", "TxPkts", "RxMissed",
    ])];
    for p in ports {
        let mode = p.bond_mode.as_deref().unwrap_or("");
        for m in &p.members {
            let state = match (mode, m.active) {
                ("active-backup", true) => "active",
                ("active-backup", false) => "backup",
                ("802.3ad", true) => "aggregated",
                ("802.3ad", false) => "not aggregated",
                (_, true) => "in use",
                (_, false) => "unused",
            };
            let lacp = match (m.lacp_actor_state, m.lacp_partner_state) {
                (Some(a), Some(p)) => format!("actor 0x{a:02x} partner 0x{p:02x}"),
                _ => "-".into(),
            };
            let mut row = vec![
                escape(&p.name).into_owned(),
                escape(mode).into_owned(),
                escape(&m.name).into_owned(),
                if m.link_up { "up" } else { "down" }.into(),
                state.into(),
                lacp,
            ];
            row.extend([m.rx_packets, m.tx_packets, m.rx_missed].map(|n| n.to_string()));
            rows.push(row);
        }
    }
    let mut right = [false; 9];
    right[6..].fill(true);
    table(&rows, &right)
}

pub fn routes(reply: &RoutesReply) -> String {
    let mut rows = vec![header(&["Prefix", "Via", "Interface"])];
    rows.extend(reply.routes.iter().map(|r| {
        vec![
            r.prefix.to_string(),
            r.via.map_or_else(|| "connected".into(), |v| v.to_string()),
            escape(&r.interface).into_owned(),
        ]
    }));
    table(&rows, &[])
}

pub fn neighbours(reply: &NeighboursReply) -> String {
    let mut rows = vec![header(&["Address", "MAC", "State", "Worker"])];
    rows.extend(reply.neighbours.iter().map(|n| {
        vec![
            n.address.to_string(),
            n.mac
                .as_deref()
                .map_or_else(|| "-".into(), |m| escape(m).into_owned()),
            escape(&n.state).into_owned(),
            n.worker.map_or_else(|| "-".into(), |w| w.to_string()),
        ]
    }));
    table(&rows, &[])
}

/// `version`'s first line: this program.
pub fn ctl_version(version: &str) -> String {
    format!(
        "ferrolbctl {version} (protocol {})\n",
        crate::api::PROTOCOL_VERSION
    )
}

/// `version`'s second line: the appliance it talks to.
pub fn hello(reply: &HelloReply) -> String {
    format!(
        "ferrolb {} (protocol {}): {} workers, config generation {}, up {}\n",
        escape(&reply.version),
        reply.protocol,
        reply.workers,
        reply.generation,
        duration(reply.uptime_ms)
    )
}

#[cfg(test)]
mod tests;

/// `ferrolbctl role`: `vrrp master for 3 addresses for 12s (became master 2
/// times, backup 1)`, then the addresses held and those the peer holds.
pub fn role(v: &VrrpStatus) -> String {
    let list = |a: &[std::net::Ipv4Addr]| match a.is_empty() {
        true => "-".to_owned(),
        false => a
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" "),
    };
    format!(
        "vrrp {} for {} (became master {} times, backup {})\nheld:    {}\nstandby: {}\n",
        escape(&v.role),
        duration(v.since_ms),
        v.to_master,
        v.to_backup,
        list(&v.held),
        list(&v.standby)
    )
}
