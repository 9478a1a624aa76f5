//! What the appliance prints: its ports at start, its counters at exit,
//! and the records of a run's end it prints them from ([`StopReason`],
//! [`LbReport`]). The appliance fills those in; this module depends on no
//! other module of the binary, so nothing here can loop back to it.

use std::time::Duration;

use dataplane::dpdk::{MtuSetting, Port};
use dataplane::flow::state::SessionCounts;
use dataplane::pipeline::counters::{FlowCounters, LbCounters};
use dataplane::tables::LbTables;
use dataplane::worker::WorkerShared;

use dataplane::wire::ethernet::MacAddr;

/// Why the workers were stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Signal,
    Drained,
    /// A worker ended by itself, which only an error does.
    WorkerEnded,
}

/// A pipeline worker's counters at exit.
pub struct LbReport {
    pub counters: LbCounters,
    pub sessions: SessionCounts,
}

pub fn print_ports(ports: &[Port<'_>]) {
    for (i, p) in ports.iter().enumerate() {
        let link = p.link();
        println!(
            "port {i} {:<10} dpdk-id {} mac {} link {} {} Mb/s, mtu {}, ipv4 checksums checked \
             by {}",
            p.name(),
            p.id(),
            MacAddr(p.mac()),
            if link.up { "up" } else { "down" },
            link.speed_mbps,
            mtu_text(p.mtu()),
            if p.checks_rx_ipv4_checksums() {
                "the nic"
            } else {
                "ferrolb"
            }
        );
    }
}

/// A port's MTU and whether the device has it.
fn mtu_text((mtu, setting): (u16, MtuSetting)) -> String {
    match setting {
        MtuSetting::Set => format!("{mtu} (set on the device)"),
        MtuSetting::NotSettable => format!("{mtu} (the device has no MTU to set)"),
        MtuSetting::Device => format!("{mtu} (the device's)"),
    }
}

pub fn print_summary(
    reason: StopReason,
    elapsed: Duration,
    ports: &[Port<'_>],
    cores: &[usize],
    workers: &[WorkerShared],
) {
    let why = match reason {
        StopReason::Signal => "stopped",
        StopReason::Drained => "input drained",
        StopReason::WorkerEnded => "a worker ended",
    };
    println!("\nferrolb: {why} after {:.3} s", elapsed.as_secs_f64());
    println!(
        "{:<12} {:>12} {:>12} {:>14} {:>14} {:>10} {:>10} {:>10} {:>10}",
        "port",
        "rx-packets",
        "tx-packets",
        "rx-bytes",
        "tx-bytes",
        "rx-missed",
        "rx-nombuf",
        "rx-errors",
        "tx-errors"
    );
    for p in ports {
        let s = p.stats();
        println!(
            "{:<12} {:>12} {:>12} {:>14} {:>14} {:>10} {:>10} {:>10} {:>10}",
            p.name(),
            s.rx_packets,
            s.tx_packets,
            s.rx_bytes,
            s.tx_bytes,
            s.rx_missed,
            s.rx_no_mbuf,
            s.rx_errors,
            s.tx_errors
        );
    }
    // A rate over the run is only meaningful when traffic filled it (a
    // benchmark window ended by a signal); a drained run includes idle time.
    let show_rate = reason == StopReason::Signal;
    println!(
        "{:<12} {:>6} {:>12} {:>12} {:>12} {:>12} {:>10}",
        "worker",
        "core",
        "rx-packets",
        "tx-packets",
        "tx-dropped",
        "rx-bursts",
        if show_rate { "avg-Mpps" } else { "" }
    );
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = |packets: u64| {
        if show_rate {
            format!("{:.3}", packets as f64 / secs / 1e6)
        } else {
            String::new()
        }
    };
    let mut total = dataplane::worker::WorkerStats::default();
    for (w, (shared, core)) in workers.iter().zip(cores).enumerate() {
        let s = shared.counters.snapshot();
        total.rx_packets += s.rx_packets;
        total.tx_packets += s.tx_packets;
        total.tx_dropped += s.tx_dropped;
        total.rx_bursts += s.rx_bursts;
        println!(
            "{:<12} {:>6} {:>12} {:>12} {:>12} {:>12} {:>10}",
            format!("worker{w}"),
            core,
            s.rx_packets,
            s.tx_packets,
            s.tx_dropped,
            s.rx_bursts,
            rate(s.rx_packets)
        );
    }
    println!(
        "{:<12} {:>6} {:>12} {:>12} {:>12} {:>12} {:>10}",
        "total",
        "",
        total.rx_packets,
        total.tx_packets,
        total.tx_dropped,
        total.rx_bursts,
        rate(total.rx_packets)
    );
}

/// The interfaces and services as the pipeline compiled them, at start.
pub fn print_services(tables: &LbTables) {
    for iface in &tables.interfaces {
        let port = tables.ports.get(usize::from(iface.port));
        println!(
            "interface port {}{} mac {} mtu {} addresses {}",
            iface.port,
            iface.vlan.map(|v| format!(" vlan {v}")).unwrap_or_default(),
            port.map(|p| p.mac.to_string()).unwrap_or_default(),
            port.map_or(0, |p| p.mtu),
            iface
                .addrs
                .iter()
                .map(|(a, l)| format!("{a}/{l}"))
                .chain(iface.addrs6.iter().map(|(a, l)| format!("{a}/{l}")))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for svc in &tables.services {
        let s = &svc.spec;
        println!(
            "service {} {} {:?}{} -> {}",
            s.key(),
            s.mode.name(),
            s.scheduler,
            s.name
                .as_deref()
                .map(|n| format!(" ({})", control::text::escape(n)))
                .unwrap_or_default(),
            s.backends
                .iter()
                .map(|b| format!(
                    "{} w{}",
                    std::net::SocketAddr::new(b.addr, b.port),
                    b.weight
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for r in tables.snat.iter().map(|r| &r.spec) {
        println!(
            "snat {}/{} -> {}",
            r.source.0,
            r.source.1,
            r.addrs
                .iter()
                .map(|a| a.to_string())
                .chain(r.addrs6.iter().map(|a| a.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// The pipeline's counters summed over workers: one row per service,
/// backend, SNAT rule, drop reason and event (see docs/load-balancing.md).
pub fn print_lb(tables: &LbTables, reports: &[LbReport]) {
    let mut counters = LbCounters::default();
    let mut sessions = SessionCounts::default();
    for r in reports {
        counters.add(&r.counters);
        sessions.add(&r.sessions);
    }
    println!(
        "\n{:<44} {:>10} {:>9} {:>12} {:>14} {:>12} {:>14}",
        "service / backend",
        "conns",
        "sessions",
        "packets-in",
        "bytes-in",
        "packets-out",
        "bytes-out"
    );
    let row = |name: String, c: Option<&FlowCounters>, live: Option<&u64>, note: &str| {
        let c = c.copied().unwrap_or_default();
        println!(
            "{name:<44} {:>10} {:>9} {:>12} {:>14} {:>12} {:>14}  {note}",
            c.conns,
            live.copied().unwrap_or(0),
            c.packets_in,
            c.bytes_in,
            c.packets_out,
            c.bytes_out
        );
    };
    for (i, svc) in tables.services.iter().enumerate() {
        let s = &svc.spec;
        let key = s.key();
        row(
            format!("svc:{key}"),
            counters.services.get(i),
            sessions.services.get(i),
            s.mode.name(),
        );
        for &id in &svc.backend_ids {
            let Some(b) = tables.backends.get(id as usize) else {
                continue;
            };
            row(
                format!("be:{key}/{}", std::net::SocketAddr::new(b.addr, b.port)),
                counters.backends.get(id as usize),
                sessions
                    .backends
                    .get(id as usize)
                    .map(|b| b.total())
                    .as_ref(),
                "",
            );
        }
    }
    for (i, r) in tables.snat.iter().map(|r| &r.spec).enumerate() {
        row(
            format!("snat:{}/{}", r.source.0, r.source.1),
            counters.snat.get(i),
            sessions.snat.get(i),
            "",
        );
    }
    println!();
    // Refusals by a service's access list (a service has no backend to
    // count them on): one row per service that has a list.
    for (i, svc) in tables.services.iter().enumerate() {
        if svc.acl.is_some() {
            let denied = counters.services.get(i).map_or(0, |c| c.denied);
            println!("{:<44} {denied:>10}", format!("denied:{}", svc.spec.key()));
        }
        if svc.spec.new_conn_rate.is_some() || svc.spec.client_rate.is_some() {
            let c = counters.services.get(i).copied().unwrap_or_default();
            let key = svc.spec.key();
            println!(
                "{:<44} {:>10}",
                format!("rate_limited:{key}"),
                c.rate_limited
            );
            println!(
                "{:<44} {:>10}",
                format!("client_rate_limited:{key}"),
                c.client_rate_limited
            );
        }
    }
    for (reason, n) in counters.drops.iter() {
        println!("{:<44} {n:>10}", format!("drop:{}", reason.name()));
    }
    for (name, n) in counters.events.iter() {
        println!("{:<44} {n:>10}", format!("event:{name}"));
    }
}
