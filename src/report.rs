//! What the appliance prints: its ports at start, its counters at exit.

use std::time::Duration;

use dataplane::dpdk::Port;
use dataplane::worker::WorkerShared;

use crate::appliance::StopReason;

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn print_ports(ports: &[Port<'_>]) {
    for (i, p) in ports.iter().enumerate() {
        let link = p.link();
        println!(
            "port {i} {:<10} dpdk-id {} mac {} link {} {} Mb/s",
            p.name(),
            p.id(),
            mac_text(p.mac()),
            if link.up { "up" } else { "down" },
            link.speed_mbps
        );
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
