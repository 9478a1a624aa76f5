//! The load-balancing keys of services and their backends: one test per
//! validation rule, each checking the key and line (the rest of the
//! load-balancing keys are in `tests_lb.rs`).

use super::tests_lb::{errors, parse, refused, BASE, SNAT};
use super::*;

#[test]
fn port_zero_is_every_port_and_its_backends_keep_the_clients_port() {
    let text = BASE.replace("port = 80", "port = 0");
    let cfg = parse(&text)
        .expect("port 0 is a service on every port")
        .config;
    let s = &cfg.services[0];
    assert_eq!((s.ports(), s.multi_port()), ((0, 65535), true));
    assert_eq!(s.backend_port(&s.backends[0]), 0);
    let with_last = text.replace("port = 0\n", "port = 0\nport_last = 90\n");
    refused(&with_last, "service[0].port_last", 21);
}

/// `BASE` with a second service on `port`/`port_last` (its line 27 is
/// `port = ...`).
fn second_service(port: u16, last: Option<u16>, extra: &str) -> String {
    let last = last.map_or(String::new(), |l| format!("port_last = {l}\n"));
    format!(
        "{BASE}\n[[service]]\nvip = \"192.0.2.10\"\nprotocol = \"tcp\"\nport = {port}\n{last}mode = \"nat\"\n{extra}"
    )
}

#[test]
fn ranges_may_not_share_ports_except_with_port_zero() {
    let text = second_service(8000, Some(8099), "");
    let cfg = parse(&text).expect("a range").config;
    let r = &cfg.services[1];
    assert_eq!(r.ports(), (8000, 8099));
    assert_eq!(
        r.backend_port(&BackendConfig {
            port: None,
            ..cfg.services[0].backends[0].clone()
        }),
        0
    );
    let e = refused(&second_service(70, Some(90), ""), "service[1]", 26);
    assert!(e.message.contains("shares ports with service[0]"), "{e}");
    let backwards = second_service(8000, Some(7000), "");
    refused(&backwards, "service[1].port_last", 30);
    assert!(
        parse(&second_service(0, None, "")).is_ok(),
        "port 0 takes the rest"
    );
}

#[test]
fn a_group_listens_on_more_addresses_and_may_not_take_a_port_twice() {
    let text = BASE.replace(
        "port = 80\n",
        "port = 80\nalso_listen = [\"192.0.2.11:80\", \"192.0.2.11:8443\"]\n",
    );
    let cfg = parse(&text).expect("a group").config;
    let s = &cfg.services[0];
    assert_eq!(s.listens().len(), 3);
    assert!(
        s.multi_port(),
        "8443 is another port: backends keep the client's"
    );
    let clash = format!(
        "{text}\n[[service]]\nvip = \"192.0.2.11\"\nprotocol = \"tcp\"\nport = 8443\nmode = \"nat\"\n"
    );
    let e = refused(&clash, "service[1]", 27);
    assert!(
        e.message
            .contains("tcp/192.0.2.11:8443 shares ports with service[0]"),
        "{e}"
    );
    let twice = BASE.replace(
        "port = 80\n",
        "port = 80\nalso_listen = [\"192.0.2.10:80\"]\n",
    );
    let e = refused(&twice, "service[0].also_listen[0]", 21);
    assert!(
        e.message
            .contains("shares ports with this service's tcp/192.0.2.10:80"),
        "{e}"
    );
    let onto_backend = BASE.replace(
        "port = 80\n",
        "port = 80\nalso_listen = [\"10.0.0.11:80\"]\n",
    );
    assert!(
        errors(&onto_backend)
            .iter()
            .any(|e| e.key.as_deref() == Some("service[0].backend[0].address")),
        "a backend on one of the group's VIPs is a loop"
    );
}

#[test]
fn ops_is_for_udp_with_dr_or_tun() {
    let e = refused(
        &second_service(53, None, "ops = true\n"),
        "service[1].ops",
        31,
    );
    assert!(
        e.message.contains("udp services with mode dr or tun"),
        "{e}"
    );
    let udp_dr = second_service(53, None, "ops = true\n").replace(
        "protocol = \"tcp\"\nport = 53\nmode = \"nat\"",
        "protocol = \"udp\"\nport = 53\nmode = \"dr\"",
    );
    let cfg = parse(&udp_dr).expect("udp dr ops").config;
    assert!(cfg.services[1].ops);
}

#[test]
fn a_check_of_a_backend_on_every_port_names_its_port() {
    let text = BASE.replace("port = 80", "port = 0") + "[service.check]\ntype = \"tcp\"\n";
    let e = errors(&text);
    assert!(
        e.iter()
            .any(|e| e.message.contains("its check needs connect_port")),
        "{e:#?}"
    );
    let named = text + "connect_port = 22\n";
    assert!(parse(&named).is_ok());
}

#[test]
fn a_service_is_defined_once() {
    let text = format!(
        "{BASE}\n[[service]]\nvip = \"192.0.2.10\"\nprotocol = \"tcp\"\nport = 80\nmode = \"nat\"\n"
    );
    let e = refused(&text, "service[1]", 26);
    assert!(
        e.message
            .contains("tcp/192.0.2.10:80 is already service[0]"),
        "{e}"
    );
    let other_port = format!(
        "{BASE}\n[[service]]\nvip = \"192.0.2.10\"\nprotocol = \"tcp\"\nport = 81\nmode = \"nat\"\n"
    );
    assert!(parse(&other_port).is_ok());
}

#[test]
fn fullnat_needs_local_addresses() {
    let text = BASE.replace("mode = \"nat\"", "mode = \"fullnat\"");
    let e = refused(&text, "service[0].mode", 21);
    assert!(e.message.contains("local_addresses"), "{e}");
    let text = BASE.replace("mode = \"nat\"", "mode = \"fullnat\"\nlocal_addresses = []");
    refused(&text, "service[0].local_addresses", 22);
}

#[test]
fn local_addresses_are_only_for_fullnat() {
    let text = BASE.replace(
        "mode = \"nat\"",
        "mode = \"nat\"\nlocal_addresses = [\"10.0.0.100\"]",
    );
    let e = refused(&text, "service[0].local_addresses", 22);
    assert!(e.message.contains("only for fullnat"), "{e}");
    let text = BASE.replace(
        "mode = \"nat\"",
        "mode = \"nat\"\nlocal_ports = \"2000-3000\"",
    );
    refused(&text, "service[0].local_ports", 22);
}

#[test]
fn a_local_address_is_not_a_vip() {
    let text = BASE.replace(
        "mode = \"nat\"",
        "mode = \"fullnat\"\nlocal_addresses = [\"10.0.0.100\", \"192.0.2.10\"]",
    );
    let e = refused(&text, "service[0].local_addresses[1]", 22);
    assert!(e.message.contains("VIP of service[0]"), "{e}");
}

#[test]
fn local_ports_must_be_a_usable_range() {
    for range in ["0-100", "3000-2000"] {
        let text = BASE.replace(
            "mode = \"nat\"",
            &format!(
                "mode = \"fullnat\"\nlocal_addresses = [\"10.0.0.100\"]\nlocal_ports = \"{range}\""
            ),
        );
        refused(&text, "service[0].local_ports", 23);
    }
}

#[test]
fn a_backend_is_listed_once_per_service() {
    let text = format!("{BASE}port = 80\n\n[[service.backend]]\naddress = \"10.0.0.11\"\n");
    let e = refused(&text, "service[0].backend[1].address", 28);
    assert!(
        e.message.contains("10.0.0.11:80 is already backend[0]"),
        "{e}"
    );
    assert!(parse(&text.replace("port = 80\n\n", "port = 81\n\n")).is_ok());
}

#[test]
fn a_backend_port_is_not_zero() {
    let text = format!("{BASE}port = 0\n");
    refused(&text, "service[0].backend[0].port", 25);
}

#[test]
fn dr_and_tun_backends_keep_the_service_port() {
    for mode in ["dr", "tun"] {
        let text = format!("{BASE}port = 8080\n").replace("\"nat\"", &format!("\"{mode}\""));
        let e = refused(&text, "service[0].backend[0].port", 25);
        assert!(e.message.contains("set it to 80"), "{e}");
        assert!(
            parse(&format!("{BASE}port = 80\n").replace("\"nat\"", &format!("\"{mode}\""))).is_ok()
        );
    }
}

#[test]
fn a_dr_backend_is_on_a_connected_segment() {
    let text = format!("{BASE}\n[[service.backend]]\naddress = \"10.9.9.9\"\n")
        .replace("\"nat\"", "\"dr\"");
    let e = refused(&text, "service[0].backend[1].address", 27);
    assert!(e.message.contains("not in a connected prefix"), "{e}");
    assert!(
        parse(&text.replace("\"dr\"", "\"tun\"")).is_ok(),
        "routed is enough for tun"
    );
}

#[test]
fn a_backend_outside_every_route_is_refused() {
    // Without the default route, 10.9.9.9 is unreachable.
    let text = format!("{BASE}\n[[service.backend]]\naddress = \"10.9.9.9\"\n")
        .replace("0.0.0.0/0", "172.16.0.0/12");
    let e = refused(&text, "service[0].backend[1].address", 27);
    assert!(
        e.message
            .contains("backend 10.9.9.9 is outside every route"),
        "{e}"
    );
}

#[test]
fn a_backend_weight_is_at_most_65535() {
    let text = format!("{BASE}weight = 65536\n");
    refused(&text, "service[0].backend[0].weight", 25);
    assert!(parse(&format!("{BASE}weight = 0\n")).is_ok(), "0 drains");
}

#[test]
fn a_persistence_prefix_is_at_most_32() {
    let text = BASE.replace("mode = \"nat\"", "mode = \"nat\"\npersistence_prefix = 33");
    refused(&text, "service[0].persistence_prefix", 22);
}

#[test]
fn timeouts_are_one_second_to_a_week() {
    let text = format!("{BASE}\n[timeouts]\ntcp_established = 0\nudp = 604801\n");
    let errs = errors(&text);
    let found: Vec<_> = errs.iter().map(|e| (e.key.as_deref(), e.line)).collect();
    assert_eq!(
        found,
        vec![
            (Some("timeouts.tcp_established"), Some(27)),
            (Some("timeouts.udp"), Some(28))
        ]
    );
    let text = BASE.replace("mode = \"nat\"", "mode = \"nat\"\ntimeouts = { udp = 0 }");
    refused(&text, "service[0].timeouts.udp", 22);
}

// --- SNAT ---

#[test]
fn a_snat_rule_is_accepted() {
    let cfg = parse(&format!("{BASE}{SNAT}")).expect("valid").config;
    assert_eq!(cfg.snat[0].ports, PortRange::default());
}

#[test]
fn a_snat_rule_must_name_a_port() {
    let text = format!("{BASE}{}", SNAT.replace("\"lan\"", "\"wan\""));
    refused(&text, "snat[0].port", 28);
}

#[test]
fn a_snat_rule_needs_addresses() {
    let text = format!("{BASE}{SNAT}").replace("[\"203.0.113.1\"]", "[]");
    refused(&text, "snat[0].addresses", 29);
}

#[test]
fn a_snat_source_has_no_host_bits() {
    let text = format!("{BASE}{SNAT}").replace("10.0.0.0/24", "10.0.0.5/24");
    refused(&text, "snat[0].source", 27);
}

#[test]
fn snat_addresses_are_unique_and_not_vips() {
    let other_source = SNAT.replace("10.0.0.0/24", "10.0.0.0/25");
    let text = format!("{BASE}{SNAT}{other_source}");
    let e = refused(&text, "snat[1].addresses[0]", 34);
    assert!(
        e.message.contains("already used by snat[0].addresses[0]"),
        "{e}"
    );
    let text = format!("{BASE}{SNAT}").replace("203.0.113.1", "192.0.2.10");
    let e = refused(&text, "snat[0].addresses[0]", 29);
    assert!(e.message.contains("VIP of service[0]"), "{e}");
}

#[test]
fn a_snat_source_has_one_rule() {
    let second = SNAT.replace("203.0.113.1", "203.0.113.2");
    let text = format!("{BASE}{SNAT}{second}");
    let e = refused(&text, "snat[1].source", 32);
    assert!(e.message.contains("10.0.0.0/24 is already snat[0]"), "{e}");
    let narrower = second.replace("10.0.0.0/24", "10.0.0.0/25");
    assert!(parse(&format!("{BASE}{SNAT}{narrower}")).is_ok());
}

#[test]
fn snat_ports_must_be_a_usable_range() {
    let text = format!("{BASE}{SNAT}ports = \"0-0\"\n");
    refused(&text, "snat[0].ports", 30);
}

// --- sessions, modes ---

#[test]
fn session_capacity_is_in_range() {
    for n in [0u64, 1 << 31] {
        let text = format!("{BASE}\n[sessions]\ncapacity = {n}\n");
        refused(&text, "sessions.capacity", 27);
    }
    let text = format!("{BASE}\n[sessions]\ncapacity = {MAX_SESSIONS}\n");
    assert!(parse(&text).is_ok());
}

#[test]
fn forward_is_refused_with_interfaces() {
    let text = format!("{BASE}\n[forward]\nmode = \"macswap\"\n");
    let e = refused(&text, "forward", 26);
    assert!(e.message.contains("only for L2 forwarding"), "{e}");
}

#[test]
fn paired_topology_is_not_checked_with_interfaces() {
    // One port, default topology "paired": fine for the pipeline.
    assert_eq!(parse(BASE).expect("valid").config.ports.len(), 1);
}

#[test]
fn lb_sections_need_an_interface() {
    let l2 = "[[port]]\nname = \"lan\"\ndevice = \"net_null0\"\n[forward]\ntopology = \"loop\"\n";
    let text = format!(
        "{l2}\n[[service]]\nvip = \"192.0.2.10\"\nprotocol = \"tcp\"\nport = 80\nmode = \"nat\"\n\n[[route]]\nprefix = \"0.0.0.0/0\"\nvia = \"10.0.0.254\"\n"
    );
    let e = refused(&text, "service[0]", 7);
    assert!(
        e.message
            .starts_with("services need at least one [[interface]]"),
        "{e}"
    );
    let text =
        format!("{l2}\n[[neighbour]]\naddress = \"10.0.0.254\"\nmac = \"02:00:00:00:00:fe\"\n");
    let e = refused(&text, "neighbour[0]", 7);
    assert!(
        e.message
            .starts_with("neighbours need at least one [[interface]]"),
        "{e}"
    );
}

#[test]
fn every_lb_problem_is_reported_at_once() {
    let text = BASE
        .replace("0.0.0.0/0", "0.0.0.1/0")
        .replace("port = 80", "port = 80\nport_last = 79")
        .replace(
            "address = \"10.0.0.11\"",
            "address = \"10.0.0.11\"\nweight = 70000",
        );
    let found: Vec<_> = errors(&text)
        .iter()
        .map(|e| (e.key.clone().unwrap_or_default(), e.line))
        .collect();
    assert_eq!(
        found,
        vec![
            ("route[0].prefix".to_string(), Some(10)),
            ("service[0].port_last".to_string(), Some(21)),
            ("service[0].backend[0].weight".to_string(), Some(26)),
        ]
    );
}

#[test]
fn every_ipvs_scheduler_name_is_read_and_written_back() {
    for name in SchedulerName::ALL {
        let text: String =
            toml::to_string(&std::collections::BTreeMap::from([("s", name)])).unwrap();
        assert_eq!(text.trim(), format!("s = \"{}\"", name.as_str()));
        assert_eq!(SchedulerName::from_name(name.as_str()), Some(name));
    }
    assert_eq!(SchedulerName::from_name("twos"), None);
    assert_eq!(SchedulerName::ALL.len(), 13);
}

#[test]
fn pickup_is_for_dr_and_tun_and_on_by_default_for_mh() {
    let text = BASE.replace("mode = \"nat\"", "mode = \"nat\"\npickup = true");
    let e = refused(&text, "service[0].pickup", 22);
    assert!(e.message.contains("dr and tun"), "{e}");
    let service = |mode: &str| {
        let text = BASE.replace("mode = \"nat\"", mode);
        parse(&text).expect("valid").config.services[0].picks_up()
    };
    assert!(service("mode = \"dr\"\nscheduler = \"mh\""));
    assert!(!service(
        "mode = \"dr\"\nscheduler = \"mh\"\npickup = false"
    ));
    assert!(!service("mode = \"tun\"\nscheduler = \"sh\""));
    assert!(service("mode = \"tun\"\nscheduler = \"sh\"\npickup = true"));
    assert!(!service("mode = \"nat\"\nscheduler = \"mh\""));
}

#[test]
fn access_lists_are_networks_and_a_prefix_is_allowed_or_denied() {
    let with = |keys: &str| BASE.replace("mode = \"nat\"", &format!("mode = \"nat\"\n{keys}"));
    let ok = parse(&with(
        "allow = [\"10.0.0.0/8\", \"0.0.0.0/0\"]\ndeny = [\"10.66.0.0/16\", \"10.1.2.3/32\"]",
    ))
    .expect("valid")
    .config;
    assert_eq!(ok.services[0].allow.len(), 2);
    assert_eq!(ok.services[0].deny[1].to_string(), "10.1.2.3/32");

    let e = refused(
        &with("allow = [\"10.1.2.3/24\"]"),
        "service[0].allow[0]",
        22,
    );
    assert!(e.message.contains("write the network, 10.1.2.0/24"), "{e}");
    let e = refused(
        &with("allow = [\"10.0.0.0/8\"]\ndeny = [\"192.0.2.0/24\", \"10.0.0.0/8\"]"),
        "service[0].deny[1]",
        23,
    );
    assert!(e.message.contains("also in allow"), "{e}");
}

#[test]
fn mss_clamp_is_for_tcp_and_a_real_mss() {
    let with = |keys: &str| BASE.replace("mode = \"nat\"", &format!("mode = \"nat\"\n{keys}"));
    let ok = parse(&with("mss_clamp = 1360")).expect("valid").config;
    assert_eq!(ok.services[0].mss_clamp, Some(1360));
    let e = refused(&with("mss_clamp = 100"), "service[0].mss_clamp", 22);
    assert!(e.message.contains("536..=9176"), "{e}");
    let udp = with("mss_clamp = 1360").replace("protocol = \"tcp\"", "protocol = \"udp\"");
    let e = refused(&udp, "service[0].mss_clamp", 22);
    assert!(e.message.contains("tcp services"), "{e}");
}

#[test]
fn syn_proxy_is_for_tcp_with_nat_or_fullnat() {
    let with = |keys: &str| BASE.replace("mode = \"nat\"", &format!("mode = \"nat\"\n{keys}"));
    let ok = parse(&with("syn_proxy = true")).expect("valid").config;
    assert!(ok.services[0].syn_proxy);
    assert!(!parse(BASE).expect("valid").config.services[0].syn_proxy);
    for mode in ["dr", "tun"] {
        let text =
            with("syn_proxy = true").replace("mode = \"nat\"", &format!("mode = \"{mode}\""));
        let e = refused(&text, "service[0].syn_proxy", 22);
        assert!(e.message.contains("nat and fullnat"), "{mode}: {e}");
    }
    let udp = with("syn_proxy = true").replace("protocol = \"tcp\"", "protocol = \"udp\"");
    let e = refused(&udp, "service[0].syn_proxy", 22);
    assert!(e.message.contains("tcp services"), "{e}");
}

#[test]
fn synproxy_auto_threshold_reads_and_defaults_to_off() {
    assert_eq!(
        parse(BASE).expect("valid").config.synproxy.auto_threshold,
        0
    );
    let with = format!("[synproxy]\nauto_threshold = 5000\n{BASE}");
    assert_eq!(
        parse(&with).expect("valid").config.synproxy.auto_threshold,
        5000
    );
    // A bad cookie is dropped only unless asked otherwise.
    assert!(!parse(BASE).expect("valid").config.synproxy.reset_bad_cookie);
    let with = format!("[synproxy]\nreset_bad_cookie = true\n{BASE}");
    assert!(
        parse(&with)
            .expect("valid")
            .config
            .synproxy
            .reset_bad_cookie
    );
    let unknown = format!("[synproxy]\nthreshold = 5\n{BASE}");
    assert!(parse(&unknown).is_err(), "unknown keys are refused");
}
