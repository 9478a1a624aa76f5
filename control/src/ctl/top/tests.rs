use std::collections::BTreeMap;

use super::*;
use crate::api::{BackendStatus, FlowRates, ServiceStatus, WorkerStatus};
use crate::config::{LbMode, SchedulerName};

fn service(key: &str, cps: f64, backends: Vec<BackendStatus>) -> ServiceStatus {
    ServiceStatus {
        key: key.parse().unwrap(),
        name: None,
        mode: LbMode::Dr,
        scheduler: SchedulerName::Mh,
        persistence: 0,
        port_last: None,
        ops: false,
        also_listen: Vec::new(),
        local_addresses: Vec::new(),
        sessions: 40,
        stats: None,
        session_lifetimes: None,
        new_connection_rates: None,
        rate: Some(FlowRates {
            cps,
            pps_in: 10.0 * cps,
            pps_out: 20.0 * cps,
            bps_in: 1500.0 * cps,
            bps_out: 3_000_000.0 * cps,
        }),
        backends,
    }
}

fn backend(addr: &str, weight: u32, draining: bool) -> BackendStatus {
    BackendStatus {
        address: addr.parse().unwrap(),
        port: 80,
        weight,
        active: 3,
        inactive: 1,
        draining,
        stats: None,
        rate: Some(FlowRates::default()),
    }
}

fn worker(index: usize, rx: u64, dropped: u64) -> WorkerStatus {
    WorkerStatus {
        index,
        core: index + 1,
        rx_packets: rx,
        tx_packets: rx / 2,
        tx_dropped: 0,
        rx_bursts: 0,
        // 300 cycles a packet, out of 1000 the clock gives per packet's
        // worth of time: 30 % busy.
        busy_cycles: rx * 300,
        cycles: rx * 1000,
        cycles_per_second: 2_000_000_000,
        dropped,
        sessions: 7,
        generation: 3,
    }
}

fn frame(rx: u64, no_session: u64, table_full: u64) -> Frame {
    let drops: BTreeMap<String, u64> = [
        ("no_session".to_owned(), no_session),
        ("table_full".to_owned(), table_full),
        ("bad_checksum".to_owned(), 5),
    ]
    .into();
    Frame {
        list: ListReply {
            generation: 3,
            services: vec![
                service(
                    "tcp/192.0.2.10:80",
                    2.0,
                    vec![backend("10.0.1.11", 1, false)],
                ),
                service(
                    "udp/192.0.2.20:53",
                    1500.0,
                    vec![backend("10.0.1.12", 0, true)],
                ),
            ],
            snat: Vec::new(),
        },
        stats: StatsReply {
            generation: 3,
            uptime_ms: 3_723_000,
            workers: vec![worker(0, rx, no_session), worker(1, 0, 0)],
            ports: Vec::new(),
            drops,
            events: BTreeMap::new(),
            sessions: 14,
            vrrp: None,
        },
    }
}

#[test]
fn the_first_frame_has_services_busiest_first_and_no_counter_rates() {
    let text = render(&frame(1000, 10, 0), None);
    assert!(
        text.starts_with("ferrolb top: generation 3, up 1h02m, 2 workers, 14 sessions"),
        "{text}"
    );
    let udp = text.find("udp/192.0.2.20:53").expect("udp service");
    let tcp = text.find("tcp/192.0.2.10:80").expect("tcp service");
    assert!(udp < tcp, "the busier service first:\n{text}");
    // The appliance's rates, human-sized: 1500 conn/s, 15k pkt/s in,
    // 2.2M B/s in, 4.5G B/s out.
    let line = text.lines().find(|l| l.starts_with("udp/")).unwrap();
    for want in ["1.5k", "15.0k", "30.0k", "2.2M", "4.5G", "40"] {
        assert!(line.contains(want), "{want} in {line}");
    }
    assert!(text.contains("  -> 10.0.1.12:80"), "{text}");
    assert!(text.contains("drain"), "{text}");
    assert!(text.contains("w1"), "{text}");
    let w0 = text
        .lines()
        .find(|l| l.starts_with("0 "))
        .expect("worker 0");
    assert!(w0.contains(" - "), "no rate without a previous frame: {w0}");
    assert!(
        text.contains("DROPS/s: - (after the next refresh)"),
        "{text}"
    );
}

#[test]
fn counter_rates_are_the_difference_over_the_time_between_frames() {
    let before = frame(1000, 10, 0);
    let now = frame(3000, 410, 100);
    let text = render(&now, Some((&before, Duration::from_millis(500))));
    let w0 = text
        .lines()
        .find(|l| l.starts_with("0 "))
        .expect("worker 0");
    // 2000 packets and 400 drops in half a second; 600k busy cycles of
    // 2M, 300 a packet.
    assert!(w0.contains("4.0k"), "{w0}");
    assert!(w0.contains("800"), "{w0}");
    assert!(w0.ends_with(" 30%      300"), "{w0}");
    // Worker 1's clock did not move (its counters are the same): no share,
    // no cost, rather than a division by zero.
    let w1 = text
        .lines()
        .find(|l| l.starts_with("1 "))
        .expect("worker 1");
    assert!(w1.ends_with("    -        -"), "{w1}");
    let drops = &text[text.find("DROPS/s (total):").expect("drops")..];
    let no_session = drops.find("no_session").expect("no_session");
    let table_full = drops.find("table_full").expect("table_full");
    assert!(no_session < table_full, "the fastest first:\n{drops}");
    assert!(drops.contains("200 (100)"), "{drops}");
    assert!(
        !drops.contains("bad_checksum"),
        "a still counter is left out:\n{drops}"
    );
}

#[test]
fn still_counters_say_none() {
    let f = frame(1000, 10, 0);
    let text = render(&f, Some((&frame(1000, 10, 0), Duration::from_secs(1))));
    assert!(text.contains("DROPS/s: none"), "{text}");
}

#[test]
fn numbers_stay_four_columns_wide() {
    assert_eq!(human(0.4), "0");
    assert_eq!(human(999.0), "999");
    assert_eq!(human(1234.0), "1.2k");
    assert_eq!(human(999_999.0), "1.0M");
    assert_eq!(human(2.5e9), "2.5G");
    assert_eq!(uptime(59_999), "59s");
    assert_eq!(uptime(61_000), "1m01s");
}
