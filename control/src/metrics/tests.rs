use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use super::*;
use crate::api::{SnatStatus, StatsReply, VrrpStatus};
use crate::config::{LbMode, SchedulerName};
use crate::health::BackendId;

fn flow(n: u64) -> Option<FlowStats> {
    Some(FlowStats {
        conns: n,
        packets_in: 10 * n,
        packets_out: 20 * n,
        bytes_in: 1000 * n,
        bytes_out: 2000 * n,
        denied: n / 2,
        rate_limited: 0,
        client_rate_limited: 0,
    })
}

fn backend(addr: &str, weight: u32, draining: bool, n: u64) -> BackendStatus {
    let a: std::net::SocketAddr = addr.parse().unwrap();
    BackendStatus {
        address: a.ip(),
        port: a.port(),
        weight,
        active: n,
        inactive: n + 1,
        draining,
        stats: flow(n),
        rate: None,
    }
}

/// Three sessions: 50 ms, 2.5 s and two days.
fn lifetimes() -> Histogram {
    let mut h = Histogram::new(&SESSION_LIFETIME_MS);
    for ms in [50, 2_500, 172_800_000] {
        h.observe(&SESSION_LIFETIME_MS, ms);
    }
    h
}

/// Four seconds: 0, 0, 7 and 120 new connections.
fn new_connections() -> Histogram {
    let mut h = Histogram::new(&NEW_CONNECTIONS_PER_SECOND);
    for n in [0, 0, 7, 120] {
        h.observe(&NEW_CONNECTIONS_PER_SECOND, n);
    }
    h
}

fn sample() -> (ListReply, StatsReply) {
    let list = ListReply {
        generation: 7,
        services: vec![ServiceStatus {
            key: "tcp/192.0.2.10:80".parse().unwrap(),
            name: Some("web \"main\"\\eu\nwest".into()),
            mode: LbMode::Fullnat,
            scheduler: SchedulerName::Wlc,
            persistence: 0,
            port_last: None,
            ops: false,
            also_listen: Vec::new(),
            local_addresses: vec![Ipv4Addr::new(10, 0, 1, 100).into()],
            sessions: 12,
            stats: flow(3),
            session_lifetimes: Some(lifetimes()),
            new_connection_rates: Some(new_connections()),
            rate: None,
            backends: vec![
                backend("10.0.2.11:8080", 3, false, 2),
                backend("10.0.2.12:8080", 1, false, 1),
                // Deleted, still draining, then added again.
                backend("10.0.2.12:8080", 0, true, 4),
            ],
        }],
        snat: vec![SnatStatus {
            source: "10.0.1.0/24".parse().unwrap(),
            addresses: vec![Ipv4Addr::new(203, 0, 113, 1).into()],
            sessions: 5,
            stats: flow(6),
            rate: None,
        }],
    };
    let stats = StatsReply {
        generation: 7,
        uptime_ms: 61_005,
        workers: vec![
            WorkerStatus {
                index: 0,
                core: 2,
                rx_packets: 100,
                tx_packets: 90,
                tx_dropped: 1,
                rx_bursts: 40,
                busy_cycles: 1_500,
                cycles: 6_000,
                cycles_per_second: 2_000_000_000,
                dropped: 9,
                sessions: 8,
                generation: 7,
            },
            WorkerStatus {
                index: 1,
                core: 3,
                rx_packets: 200,
                tx_packets: 190,
                tx_dropped: 2,
                rx_bursts: 50,
                busy_cycles: 2_500,
                cycles: 6_001,
                cycles_per_second: 2_000_000_000,
                dropped: 8,
                sessions: 9,
                generation: 6,
            },
        ],
        ports: vec![
            PortStatus {
                name: "lan".into(),
                rx_packets: 300,
                tx_packets: 280,
                rx_bytes: 30000,
                tx_bytes: 28000,
                rx_missed: 3,
                rx_nombuf: 0,
                rx_errors: 0,
                tx_errors: 0,
                steering: "rte_flow (8 rules)".into(),
                bond_mode: None,
                members: vec![],
            },
            PortStatus {
                name: "ext".into(),
                rx_packets: 40,
                tx_packets: 41,
                rx_bytes: 4000,
                tx_bytes: 4100,
                rx_missed: 0,
                rx_nombuf: 0,
                rx_errors: 0,
                tx_errors: 0,
                steering: "none (no local addresses)".into(),
                bond_mode: Some("active-backup".into()),
                members: vec![
                    BondMemberStatus {
                        name: "net_tap0".into(),
                        link_up: false,
                        active: false,
                        lacp_actor_state: None,
                        lacp_partner_state: None,
                        rx_packets: 30,
                        tx_packets: 31,
                        rx_missed: 0,
                    },
                    BondMemberStatus {
                        name: "net_tap1".into(),
                        link_up: true,
                        active: true,
                        lacp_actor_state: None,
                        lacp_partner_state: None,
                        rx_packets: 10,
                        tx_packets: 10,
                        rx_missed: 2,
                    },
                ],
            },
        ],
        drops: [("no_service".to_owned(), 4), ("ttl_exceeded".to_owned(), 0)].into(),
        events: [("arp_replied".to_owned(), 2)].into(),
        sessions: 17,
        vrrp: Some(VrrpStatus {
            role: "backup".into(),
            held: Vec::new(),
            standby: vec!["192.0.2.10".parse().unwrap()],
            to_master: 1,
            to_backup: 2,
            since_ms: 500,
        }),
    };
    (list, stats)
}

fn health() -> Vec<BackendHealth> {
    vec![
        BackendHealth {
            id: BackendId {
                service: "tcp/192.0.2.10:80".parse().unwrap(),
                backend: "10.0.2.11:8080".parse().unwrap(),
            },
            up: true,
            checks_ok: 40,
            checks_failed: 1,
        },
        BackendHealth {
            id: BackendId {
                service: "tcp/192.0.2.10:80".parse().unwrap(),
                backend: "10.0.2.12:8080".parse().unwrap(),
            },
            up: false,
            checks_ok: 2,
            checks_failed: 9,
        },
    ]
}

fn counters() -> DaemonCounters {
    DaemonCounters {
        applies_ok: 3,
        applies_refused: 1,
        applies_failed: 2,
        reloads_ok: 1,
        reloads_invalid: 4,
        apply_pending: true,
    }
}

/// Checks the structure of an exposition: every sample belongs to a family
/// announced just before by HELP and TYPE, families are contiguous and
/// unique, and no series appears twice. Returns the families' types.
fn check_structure(text: &str) -> HashMap<String, String> {
    let mut types = HashMap::new();
    let mut current: Option<String> = None;
    let mut series = HashSet::new();
    let mut helped = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            helped = Some(name.to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(helped.as_deref(), Some(name), "TYPE without HELP: {line}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "family twice: {name}"
            );
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter without _total: {name}");
            }
            current = Some(name.to_owned());
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap();
        let mut name = &line[..name_end];
        if current
            .as_deref()
            .and_then(|c| types.get(c))
            .map(String::as_str)
            == Some("histogram")
        {
            name = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or_else(|| panic!("histogram sample without its suffix: {line}"));
        }
        assert_eq!(
            current.as_deref(),
            Some(name),
            "sample outside its family: {line}"
        );
        let (series_key, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        assert!(
            series.insert(series_key.to_owned()),
            "series twice: {series_key}"
        );
    }
    types
}

#[test]
fn a_full_scrape_has_every_family_with_help_and_type() {
    let (list, stats) = sample();
    let text = render(Some((&list, &stats)), &health(), &counters());
    let types = check_structure(&text);
    let expected = [
        ("ferrolb_up", "gauge"),
        ("ferrolb_config_generation", "gauge"),
        ("ferrolb_uptime_seconds", "gauge"),
        ("ferrolb_sessions", "gauge"),
        ("ferrolb_service_info", "gauge"),
        ("ferrolb_service_sessions", "gauge"),
        ("ferrolb_service_connections_total", "counter"),
        ("ferrolb_service_packets_total", "counter"),
        ("ferrolb_service_bytes_total", "counter"),
        ("ferrolb_service_denied_total", "counter"),
        ("ferrolb_service_rate_limited_total", "counter"),
        ("ferrolb_service_session_lifetime_seconds", "histogram"),
        ("ferrolb_service_new_connections_per_second", "histogram"),
        ("ferrolb_backend_weight", "gauge"),
        ("ferrolb_backend_draining", "gauge"),
        ("ferrolb_backend_active_sessions", "gauge"),
        ("ferrolb_backend_inactive_sessions", "gauge"),
        ("ferrolb_backend_connections_total", "counter"),
        ("ferrolb_backend_packets_total", "counter"),
        ("ferrolb_backend_bytes_total", "counter"),
        ("ferrolb_snat_sessions", "gauge"),
        ("ferrolb_snat_connections_total", "counter"),
        ("ferrolb_snat_packets_total", "counter"),
        ("ferrolb_snat_bytes_total", "counter"),
        ("ferrolb_worker_rx_packets_total", "counter"),
        ("ferrolb_worker_tx_packets_total", "counter"),
        ("ferrolb_worker_tx_dropped_total", "counter"),
        ("ferrolb_worker_dropped_total", "counter"),
        ("ferrolb_worker_rx_bursts_total", "counter"),
        ("ferrolb_worker_busy_cycles_total", "counter"),
        ("ferrolb_worker_cycles_total", "counter"),
        ("ferrolb_worker_cycles_per_second", "gauge"),
        ("ferrolb_worker_sessions", "gauge"),
        ("ferrolb_worker_config_generation", "gauge"),
        ("ferrolb_port_rx_packets_total", "counter"),
        ("ferrolb_port_tx_packets_total", "counter"),
        ("ferrolb_port_rx_bytes_total", "counter"),
        ("ferrolb_port_tx_bytes_total", "counter"),
        ("ferrolb_port_rx_missed_total", "counter"),
        ("ferrolb_port_rx_nombuf_total", "counter"),
        ("ferrolb_port_rx_errors_total", "counter"),
        ("ferrolb_port_tx_errors_total", "counter"),
        ("ferrolb_port_member_up", "gauge"),
        ("ferrolb_port_member_active", "gauge"),
        ("ferrolb_port_member_rx_packets_total", "counter"),
        ("ferrolb_port_member_tx_packets_total", "counter"),
        ("ferrolb_port_member_rx_missed_total", "counter"),
        ("ferrolb_drops_total", "counter"),
        ("ferrolb_events_total", "counter"),
        ("ferrolb_vrrp_master", "gauge"),
        ("ferrolb_vrrp_standby_addresses", "gauge"),
        ("ferrolb_vrrp_transitions_total", "counter"),
        ("ferrolb_backend_up", "gauge"),
        ("ferrolb_health_checks_total", "counter"),
        ("ferrolb_daemon_applies_total", "counter"),
        ("ferrolb_daemon_reloads_total", "counter"),
        ("ferrolb_daemon_apply_pending", "gauge"),
    ];
    let mut got: Vec<_> = types
        .iter()
        .map(|(n, k)| (n.as_str(), k.as_str()))
        .collect();
    let mut want = expected.to_vec();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn a_full_scrape_has_the_values_with_their_labels() {
    let (list, stats) = sample();
    let text = render(Some((&list, &stats)), &health(), &counters());
    let svc = r#"service="tcp/192.0.2.10:80""#;
    for line in [
        "ferrolb_vrrp_master 0",
        "ferrolb_vrrp_standby_addresses 1",
        r#"ferrolb_vrrp_transitions_total{to="master"} 1"#,
        r#"ferrolb_vrrp_transitions_total{to="backup"} 2"#,
    ] {
        assert!(text.lines().any(|l| l == line), "no line {line}");
    }
    let b11 = r#"backend="10.0.2.11:8080""#;
    let b12 = r#"backend="10.0.2.12:8080""#;
    for line in [
        "ferrolb_up 1".to_owned(),
        "ferrolb_config_generation 7".into(),
        "ferrolb_uptime_seconds 61.005".into(),
        "ferrolb_sessions 17".into(),
        format!("ferrolb_service_sessions{{{svc}}} 12"),
        format!("ferrolb_service_connections_total{{{svc}}} 3"),
        format!(r#"ferrolb_service_packets_total{{{svc},direction="in"}} 30"#),
        format!(r#"ferrolb_service_packets_total{{{svc},direction="out"}} 60"#),
        format!(r#"ferrolb_service_bytes_total{{{svc},direction="in"}} 3000"#),
        format!(r#"ferrolb_service_bytes_total{{{svc},direction="out"}} 6000"#),
        format!("ferrolb_backend_weight{{{svc},{b11}}} 3"),
        format!("ferrolb_backend_active_sessions{{{svc},{b11}}} 2"),
        format!("ferrolb_backend_inactive_sessions{{{svc},{b11}}} 3"),
        format!("ferrolb_backend_connections_total{{{svc},{b11}}} 2"),
        format!(r#"ferrolb_backend_packets_total{{{svc},{b11},direction="out"}} 40"#),
        format!(r#"ferrolb_backend_bytes_total{{{svc},{b11},direction="in"}} 2000"#),
        // The draining entry and the live one of 10.0.2.12 are one series:
        // counters summed, the live weight.
        format!("ferrolb_backend_weight{{{svc},{b12}}} 1"),
        format!("ferrolb_backend_draining{{{svc},{b12}}} 0"),
        format!("ferrolb_backend_connections_total{{{svc},{b12}}} 5"),
        format!("ferrolb_backend_active_sessions{{{svc},{b12}}} 5"),
        r#"ferrolb_snat_sessions{source="10.0.1.0/24"} 5"#.into(),
        r#"ferrolb_snat_bytes_total{source="10.0.1.0/24",direction="out"} 12000"#.into(),
        r#"ferrolb_worker_rx_packets_total{worker="1"} 200"#.into(),
        r#"ferrolb_worker_tx_packets_total{worker="0"} 90"#.into(),
        r#"ferrolb_worker_tx_dropped_total{worker="1"} 2"#.into(),
        r#"ferrolb_worker_config_generation{worker="1"} 6"#.into(),
        r#"ferrolb_port_rx_missed_total{port="lan"} 3"#.into(),
        r#"ferrolb_port_member_up{port="ext",member="net_tap0"} 0"#.into(),
        r#"ferrolb_port_member_up{port="ext",member="net_tap1"} 1"#.into(),
        r#"ferrolb_port_member_active{port="ext",member="net_tap0"} 0"#.into(),
        r#"ferrolb_port_member_active{port="ext",member="net_tap1"} 1"#.into(),
        r#"ferrolb_port_member_tx_packets_total{port="ext",member="net_tap0"} 31"#.into(),
        r#"ferrolb_port_member_rx_missed_total{port="ext",member="net_tap1"} 2"#.into(),
        r#"ferrolb_drops_total{reason="no_service"} 4"#.into(),
        r#"ferrolb_drops_total{reason="ttl_exceeded"} 0"#.into(),
        r#"ferrolb_events_total{event="arp_replied"} 2"#.into(),
        format!("ferrolb_backend_up{{{svc},{b11}}} 1"),
        format!("ferrolb_backend_up{{{svc},{b12}}} 0"),
        format!(r#"ferrolb_health_checks_total{{{svc},{b12},result="ok"}} 2"#),
        format!(r#"ferrolb_health_checks_total{{{svc},{b12},result="fail"}} 9"#),
        r#"ferrolb_daemon_applies_total{result="refused"} 1"#.into(),
        r#"ferrolb_daemon_reloads_total{result="invalid"} 4"#.into(),
        "ferrolb_daemon_apply_pending 1".into(),
        "# TYPE ferrolb_backend_bytes_total counter".into(),
        "# TYPE ferrolb_backend_weight gauge".into(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[test]
fn label_values_are_escaped() {
    let (list, stats) = sample();
    let text = render(Some((&list, &stats)), &[], &DaemonCounters::default());
    let info = text
        .lines()
        .find(|l| l.starts_with("ferrolb_service_info{"))
        .unwrap();
    assert_eq!(
        info,
        r#"ferrolb_service_info{service="tcp/192.0.2.10:80",name="web \"main\"\\eu\nwest",mode="fullnat",scheduler="wlc"} 1"#
    );
    let mut escaped = String::new();
    escape_label(&mut escaped, "a\\b\"c\nd");
    assert_eq!(escaped, r#"a\\b\"c\nd"#);
}

#[test]
fn without_the_appliance_only_the_daemons_metrics_and_up_0() {
    let text = render(None, &health(), &counters());
    let types = check_structure(&text);
    let mut names: Vec<_> = types.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ferrolb_backend_up",
            "ferrolb_daemon_applies_total",
            "ferrolb_daemon_apply_pending",
            "ferrolb_daemon_reloads_total",
            "ferrolb_health_checks_total",
            "ferrolb_up",
        ]
    );
    assert!(text.lines().any(|l| l == "ferrolb_up 0"), "{text}");
}

/// Every metric the daemon can serve is in the tables of
/// docs/health-and-metrics.md with its type, and the tables list no other.
#[test]
fn the_documented_metrics_are_the_rendered_ones() {
    let doc = include_str!("../../../docs/health-and-metrics.md");
    let mut documented: Vec<(String, String)> = doc
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix("`ferrolb_")?.strip_suffix('`')?;
            Some((format!("ferrolb_{name}"), cells.get(2)?.to_string()))
        })
        .collect();
    documented.sort();
    let (list, stats) = sample();
    let text = render(Some((&list, &stats)), &health(), &counters());
    let mut rendered: Vec<(String, String)> = check_structure(&text).into_iter().collect();
    rendered.sort();
    assert_eq!(documented, rendered);
}

#[test]
fn the_appliance_serves_the_same_series_without_the_daemons() {
    let (list, stats) = sample();
    let own = render_appliance(&list, &stats);
    let types = check_structure(&own);
    let daemon_only = [
        "ferrolb_backend_up",
        "ferrolb_health_checks_total",
        "ferrolb_daemon_applies_total",
        "ferrolb_daemon_reloads_total",
        "ferrolb_daemon_apply_pending",
    ];
    for family in daemon_only {
        assert!(!types.contains_key(family), "{family} in {own}");
    }
    // Every appliance series is the daemon's, value for value.
    let full = render(Some((&list, &stats)), &health(), &counters());
    let full_lines: HashSet<&str> = full.lines().collect();
    let samples: Vec<&str> = own.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(samples.contains(&"ferrolb_up 1"), "{own}");
    assert!(samples.len() > 30, "{own}");
    for line in samples {
        assert!(full_lines.contains(line), "{line} is not the daemon's");
    }
}

fn assert_line(text: &str, line: &str) {
    assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
}

#[test]
fn service_histograms_have_cumulative_buckets_sum_and_count() {
    let (list, stats) = sample();
    let text = render_appliance(&list, &stats);
    let svc = r#"service="tcp/192.0.2.10:80""#;
    let lifetime = "ferrolb_service_session_lifetime_seconds";
    for line in [
        format!(r#"{lifetime}_bucket{{{svc},le="0.1"}} 1"#),
        format!(r#"{lifetime}_bucket{{{svc},le="1"}} 1"#),
        format!(r#"{lifetime}_bucket{{{svc},le="5"}} 2"#),
        format!(r#"{lifetime}_bucket{{{svc},le="86400"}} 2"#),
        format!(r#"{lifetime}_bucket{{{svc},le="+Inf"}} 3"#),
        format!("{lifetime}_sum{{{svc}}} 172802.55"),
        format!("{lifetime}_count{{{svc}}} 3"),
    ] {
        assert_line(&text, &line);
    }
    let per_second = "ferrolb_service_new_connections_per_second";
    for line in [
        format!(r#"{per_second}_bucket{{{svc},le="0"}} 2"#),
        format!(r#"{per_second}_bucket{{{svc},le="10"}} 3"#),
        format!(r#"{per_second}_bucket{{{svc},le="100"}} 3"#),
        format!(r#"{per_second}_bucket{{{svc},le="1000"}} 4"#),
        format!(r#"{per_second}_bucket{{{svc},le="+Inf"}} 4"#),
        format!("{per_second}_sum{{{svc}}} 127"),
        format!("{per_second}_count{{{svc}}} 4"),
    ] {
        assert_line(&text, &line);
    }
    let buckets = text
        .lines()
        .filter(|l| l.starts_with(&format!("{lifetime}_bucket")))
        .count();
    assert_eq!(buckets, SESSION_LIFETIME_MS.bounds.len() + 1, "{text}");
}

#[test]
fn histograms_of_one_key_listed_twice_add_up() {
    let (mut list, stats) = sample();
    let twin = list.services[0].clone();
    list.services.push(twin);
    let text = render_appliance(&list, &stats);
    check_structure(&text);
    let count = r#"ferrolb_service_session_lifetime_seconds_count{service="tcp/192.0.2.10:80"} 6"#;
    assert_line(&text, count);
}

#[test]
fn ipv6_services_and_backends_label_as_socket_addresses() {
    let (mut list, stats) = sample();
    list.snat.clear();
    list.services[0].key = "tcp/[2001:db8::10]:80".parse().unwrap();
    list.services[0].backends = vec![BackendStatus {
        address: "2001:db8:1::11".parse().unwrap(),
        ..list.services[0].backends[0].clone()
    }];
    let text = render(Some((&list, &stats)), &health(), &counters());
    let want = r#"ferrolb_backend_weight{service="tcp/[2001:db8::10]:80",backend="[2001:db8:1::11]:8080"} 3"#;
    assert!(text.lines().any(|l| l == want), "no line {want} in\n{text}");
}
