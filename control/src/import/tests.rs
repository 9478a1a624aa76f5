//! The importers on fixtures modelled on keepalived's doc/samples (LVS-NAT,
//! LVS-DR, LVS-TUN with a virtual_server_group) and on `ipvsadm-save -n`
//! output: every option mapped or listed with its line, and the TOML
//! loading as a ferrolb config with the source's services and weights.

use std::path::Path;

use super::*;
use crate::config::{CheckKind, Config, HttpVersion, LbMode, OnFailure, Protocol, SchedulerName};

const NAT: &str = include_str!("fixtures/lvs-nat.conf");
const DR: &str = include_str!("fixtures/lvs-dr.conf");
const TUN: &str = include_str!("fixtures/lvs-tun.conf");
const SAVE: &str = include_str!("fixtures/ipvsadm.save");

/// Enough of an appliance config for the imported services to load.
const BASE: &str = r#"[[port]]
name = "lan"
device = "net_null0"

[[interface]]
port = "lan"
addresses = ["10.0.0.1/24", "10.0.1.1/24"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.0.254"
"#;

/// Imports, writes the TOML, loads it after BASE: the services as loaded.
fn round_trip(imported: &Imported) -> Vec<crate::config::ServiceConfig> {
    let toml = imported.to_toml("src.conf").unwrap();
    let text = format!("{BASE}\n{toml}");
    let loaded = Config::parse(Path::new("imported.toml"), text.clone())
        .unwrap_or_else(|e| panic!("{e}\n--- text:\n{text}"));
    assert_eq!(loaded.config.services, imported.services, "{text}");
    loaded.config.services
}

/// (service key, [(backend, weight)]) of each service.
fn shape(services: &[crate::config::ServiceConfig]) -> Vec<(String, Vec<(String, u32)>)> {
    services
        .iter()
        .map(|s| {
            (
                s.key_text(),
                s.backends
                    .iter()
                    .map(|b| (format!("{}:{}", b.address, b.port_or(s.port)), b.weight))
                    .collect(),
            )
        })
        .collect()
}

fn unmapped_lines(i: &Imported) -> Vec<(usize, String)> {
    i.unmapped
        .iter()
        .map(|u| (u.line, u.option.clone()))
        .collect()
}

#[test]
fn lvs_nat_sample_maps_services_checks_and_lists_the_rest() {
    let imported = keepalived::import(NAT).unwrap();
    let services = round_trip(&imported);
    assert_eq!(
        shape(&services),
        [
            (
                "tcp/192.0.2.10:80".into(),
                vec![("10.0.1.11:8080".into(), 3), ("10.0.1.12:8080".into(), 1)]
            ),
            (
                "tcp/192.0.2.10:443".into(),
                vec![("10.0.1.11:8443".into(), 2), ("10.0.1.12:8443".into(), 2)]
            ),
            (
                "udp/192.0.2.10:53".into(),
                vec![("10.0.1.21:53".into(), 1), ("10.0.1.22:53".into(), 1)]
            ),
        ]
    );
    let web = &services[0];
    assert_eq!((web.mode, web.scheduler), (LbMode::Nat, SchedulerName::Wrr));
    assert_eq!((web.persistence, web.persistence_prefix), (50, 24));
    assert_eq!(
        web.on_failure,
        OnFailure::Remove,
        "keepalived removes by default"
    );
    let sorry = web.sorry_server.as_ref().unwrap();
    assert_eq!(
        (sorry.address.to_string(), sorry.port),
        ("10.0.9.99".into(), Some(8080))
    );
    // The real servers' identical checks are the service's.
    let check = web.check.first().unwrap();
    assert_eq!(web.check.checks.len(), 1);
    assert_eq!(check.kind, CheckKind::Http);
    assert_eq!(
        (
            check.interval_ms,
            check.timeout_ms,
            check.retry,
            check.retry_delay_ms,
            check.rise,
            check.fall,
            check.warmup_ms
        ),
        (6000, 3000, 3, 3000, 1, 1, 6000)
    );
    assert_eq!(
        check.url[0].digest.as_deref(),
        Some("640205b7b0fc66c1ea91c463fac6334d")
    );
    assert_eq!(check.url[1].status.to_string(), "200-299 304");

    let tls = &services[1];
    assert_eq!(tls.on_failure, OnFailure::Inhibit);
    assert_eq!(tls.backends[1].on_failure, Some(OnFailure::Remove));
    assert_eq!(
        tls.backends[1].notify_down,
        ["/usr/local/bin/page-oncall", "down", "10.0.1.12"]
    );
    let https = tls.check.first().unwrap();
    assert_eq!(https.kind, CheckKind::Https);
    assert_eq!(https.host.as_deref(), Some("www.example.test"));
    assert_eq!(https.sni.as_deref(), Some("www.example.test"));

    let dns = &services[2];
    assert_eq!(
        (dns.protocol, dns.scheduler),
        (Protocol::Udp, SchedulerName::Sed)
    );
    assert!(
        dns.check.is_empty(),
        "different checks stay with their backends"
    );
    let d = dns.backends[0].check.first().unwrap();
    assert_eq!(
        (
            d.kind,
            d.query_type.as_str(),
            d.query_name.as_str(),
            d.require_answer,
            d.retry
        ),
        (CheckKind::Dns, "A", "www.example.test", false, 3)
    );
    let u = dns.backends[1].check.first().unwrap();
    assert_eq!(u.payload.as_ref().unwrap().bytes, [0, 1, 2, 3]);
    assert!(u.require_reply && u.expect.is_some());

    let lines = unmapped_lines(&imported);
    for (line, option) in [
        (4, "global_defs"),
        (11, "vrrp_instance"),
        (93, "regex"),
        (106, "ops"),
    ] {
        assert!(
            lines.contains(&(line, option.to_string())),
            "{option} at {line}: {lines:?}"
        );
    }
    assert_eq!(lines.len(), 4, "{lines:?}");
    let toml = imported.to_toml("nat.conf").unwrap();
    assert!(
        toml.contains("#   nat.conf:93: regex: no regular expressions"),
        "{toml}"
    );
}

#[test]
fn lvs_dr_sample_maps_quorum_scripts_and_several_checkers() {
    let imported = keepalived::import(DR).unwrap();
    let services = round_trip(&imported);
    assert_eq!(
        shape(&services),
        [(
            "tcp/192.0.2.20:80".into(),
            vec![
                ("10.0.0.31:80".into(), 2),
                ("10.0.0.32:80".into(), 2),
                ("10.0.0.33:80".into(), 1)
            ]
        )]
    );
    let s = &services[0];
    assert_eq!(
        (s.mode, s.scheduler, s.quorum, s.hysteresis),
        (LbMode::Dr, SchedulerName::Lblc, 3, 1)
    );
    assert_eq!(s.quorum_up, ["/usr/local/bin/announce", "192.0.2.20"]);
    assert_eq!(s.quorum_down, ["/usr/local/bin/withdraw", "192.0.2.20"]);
    let script = s.backends[0].check.first().unwrap();
    assert_eq!(script.kind, CheckKind::Script);
    assert_eq!(script.command, ["/usr/local/bin/check_web", "10.0.0.31"]);
    assert!(script.dynamic && script.alpha);
    assert_eq!((script.timeout_ms, script.retry), (4000, 0));
    let two = &s.backends[1].check.checks;
    assert_eq!(
        (two[0].kind, two[0].connect_port, two[1].kind, two[1].retry),
        (CheckKind::Tcp, Some(8080), CheckKind::Icmp, 2)
    );
    assert_eq!(
        s.backends[2].check.first().unwrap().helo_name.as_deref(),
        Some("lb.example.test")
    );
    let lines = unmapped_lines(&imported);
    for (line, option) in [
        (12, "quorum_down ... nobody"),
        (29, "bindto"),
        (44, "virtual_server fwmark"),
    ] {
        assert!(
            lines.contains(&(line, option.to_string())),
            "{option} at {line}: {lines:?}"
        );
    }
    assert_eq!(lines.len(), 3, "{lines:?}");
    let b = &s.backends[1];
    assert_eq!((b.u_threshold, b.l_threshold), (1000, 0), "uthreshold 1000");
}

#[test]
fn lvs_tun_group_becomes_one_service_on_every_address() {
    let imported = keepalived::import(TUN).unwrap();
    let services = round_trip(&imported);
    let keys: Vec<String> = services.iter().map(|s| s.key_text()).collect();
    assert_eq!(keys, ["tcp/192.0.2.30:80"]);
    let also: Vec<String> = services[0]
        .also_listen
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(also, ["192.0.2.31:80", "192.0.2.32:80"]);
    for s in &services {
        assert_eq!(
            (s.mode, s.scheduler, s.mh_ports, s.persistence),
            (LbMode::Tun, SchedulerName::Mh, true, 360)
        );
        let weights: Vec<u32> = s.backends.iter().map(|b| b.weight).collect();
        assert_eq!(weights, [1, 4]);
        assert_eq!(s.check.first().unwrap().http_version, HttpVersion::Http10);
    }
    assert_eq!(unmapped_lines(&imported), [(7, "fwmark".to_string())]);
}

#[test]
fn ipvsadm_save_output_maps_and_exports_back() {
    let imported = ipvsadm::import(SAVE);
    let services = round_trip(&imported);
    assert_eq!(
        shape(&services),
        [
            (
                "tcp/192.0.2.10:80".into(),
                vec![("10.0.1.11:8080".into(), 3), ("10.0.1.12:8080".into(), 1)]
            ),
            (
                "udp/192.0.2.10:53".into(),
                vec![("10.0.1.21:53".into(), 1), ("10.0.1.22:53".into(), 0)]
            ),
            (
                "tcp/192.0.2.30:443".into(),
                vec![("198.51.100.41:443".into(), 2)]
            ),
            ("tcp/192.0.2.40:80".into(), vec![("10.0.1.31:80".into(), 1)]),
            ("udp/192.0.2.50:53".into(), vec![("10.0.1.41:53".into(), 1)]),
            ("tcp/192.0.2.60:0".into(), vec![("10.0.1.51:0".into(), 1)]),
        ]
    );
    // One-packet scheduling where it can work, and a service on every port.
    assert!(!services[3].ops && services[4].ops);
    assert_eq!(
        (services[5].ports(), services[5].persistence),
        ((0, 65535), 600)
    );
    assert_eq!(
        (services[0].persistence, services[0].persistence_prefix),
        (300, 24)
    );
    assert_eq!(services[1].mode, LbMode::Dr);
    assert_eq!(
        (services[2].mode, services[2].mh_ports),
        (LbMode::Tun, true)
    );
    assert_eq!(services[3].scheduler, SchedulerName::Nq);
    assert_eq!(
        unmapped_lines(&imported),
        [
            (9, "-f".to_string()),
            (10, "-f".to_string()),
            (11, "-o".to_string()),
        ]
    );
    // Export gives the lines back, but for what was not mapped.
    let (text, skipped) = ipvsadm::export(&services);
    assert!(skipped.is_empty());
    let expected: Vec<&str> = SAVE
        .lines()
        .filter(|l| !l.contains(" -f "))
        .map(|l| match l.starts_with("-A -t 192.0.2.40:80") {
            true => l.trim_end_matches(" -o"),
            false => l,
        })
        .collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn fullnat_is_not_exported_but_listed() {
    let mut s = crate::config::ServiceConfig::new(
        "192.0.2.9".parse::<std::net::IpAddr>().unwrap(),
        Protocol::Tcp,
        80,
        LbMode::Fullnat,
    );
    s.local_addresses = vec!["10.0.1.100".parse().unwrap()];
    let (text, skipped) = ipvsadm::export(&[s]);
    assert!(text.is_empty());
    assert_eq!(
        skipped,
        ["tcp/192.0.2.9:80: FULLNAT has no ipvsadm equivalent; not exported"]
    );
}

#[test]
fn netmasks_become_prefix_lengths() {
    assert_eq!(mask_len("255.255.255.0".parse().unwrap()), Some(24));
    assert_eq!(mask_len("255.255.255.255".parse().unwrap()), Some(32));
    assert_eq!(mask_len("0.0.0.0".parse().unwrap()), Some(0));
    assert_eq!(mask_len("255.0.255.0".parse().unwrap()), None);
}
