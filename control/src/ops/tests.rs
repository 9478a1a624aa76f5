//! Each op on a small running config: what it changes, what it refuses and
//! with which code, what it flushes; validation of configs that never were
//! a file. The restart check and the diff lines are in `tests_diff.rs`.

use std::net::Ipv4Addr;
use std::path::Path;

use super::validate as ops_validate;
use super::*;
use crate::api::{BackendKey, ErrorCode, Op, ServiceEdit, ServiceKey};
use crate::config::{
    BackendConfig, Config, ControlConfig, LbMode, MacAddr, NeighbourConfig, Protocol, RouteConfig,
    SchedulerName, TimeoutsConfig,
};

const DOC: &str = include_str!("../../../docs/load-balancing.md");

/// The example in docs/load-balancing.md.
fn doc_example() -> &'static str {
    let after = DOC.find("## Configuration").expect("the heading");
    let start = after + DOC[after..].find("```toml\n").expect("a toml block") + 8;
    let len = DOC[start..].find("```").expect("the block's end");
    &DOC[start..start + len]
}

/// A NAT service with two backends (one on another port) and a FULLNAT
/// service, a route, a neighbour and a SNAT rule.
const RUNNING: &str = r#"[[port]]
name = "lan"
device = "net_null0"

[[interface]]
port = "lan"
addresses = ["10.0.0.1/24", "10.0.1.1/24"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.0.254"

[[neighbour]]
address = "10.0.0.254"
mac = "02:00:00:00:00:fe"

[[service]]
vip = "192.0.2.10"
protocol = "tcp"
port = 80
mode = "nat"

[[service.backend]]
address = "10.0.0.11"

[[service.backend]]
address = "10.0.0.12"
port = 8080
weight = 3

[[service]]
vip = "192.0.2.20"
protocol = "udp"
port = 53
mode = "fullnat"
local_addresses = ["10.0.1.100", "10.0.1.101"]

[[service.backend]]
address = "10.0.1.11"

[[snat]]
source = "10.0.1.0/24"
port = "lan"
addresses = ["203.0.113.1"]
"#;

pub(super) fn running() -> Config {
    Config::parse(Path::new("running.toml"), RUNNING.to_owned())
        .expect("RUNNING is valid")
        .config
}

pub(super) fn web() -> ServiceKey {
    "tcp/192.0.2.10:80".parse().unwrap()
}

pub(super) fn dns() -> ServiceKey {
    "udp/192.0.2.20:53".parse().unwrap()
}

pub(super) fn backend(s: &str) -> BackendKey {
    s.parse().unwrap()
}

pub(super) fn apply(op: Op) -> Change {
    apply_op(&running(), &op).unwrap_or_else(|e| panic!("{op:?}: {e}"))
}

fn refused(op: Op) -> OpError {
    match apply_op(&running(), &op) {
        Ok(_) => panic!("{op:?} should be refused"),
        Err(e) => e,
    }
}

pub(super) fn new_service(vip: &str, port: u16) -> ServiceConfig {
    ServiceConfig {
        name: Some("new".into()),
        vip: vip.parse().unwrap(),
        protocol: Protocol::Tcp,
        port,
        mode: LbMode::Nat,
        scheduler: SchedulerName::Rr,
        mh_ports: true,
        persistence: 0,
        persistence_prefix: 32,
        local_addresses: vec![],
        local_ports: PortRange::default(),
        timeouts: None,
        backends: vec![BackendConfig::new(Ipv4Addr::new(10, 0, 0, 21), None, 1)],
        ..ServiceConfig::new(
            vip.parse::<std::net::IpAddr>().unwrap(),
            Protocol::Tcp,
            port,
            LbMode::Nat,
        )
    }
}

// --- services ---

#[test]
fn service_add_appends_and_refuses_a_duplicate() {
    let c = apply(Op::ServiceAdd {
        service: Box::new(new_service("192.0.2.30", 443)),
    });
    assert_eq!(c.config.services.len(), 3);
    assert_eq!(c.config.services[2].vip, Ipv4Addr::new(192, 0, 2, 30));
    assert!(c.flush.is_empty());
    let e = refused(Op::ServiceAdd {
        service: Box::new(new_service("192.0.2.10", 80)),
    });
    assert_eq!(e.code, ErrorCode::AlreadyExists);
    assert!(
        e.message.contains("tcp/192.0.2.10:80 already exists"),
        "{e}"
    );
}

#[test]
fn service_edit_changes_only_the_given_fields() {
    let before = running();
    let c = apply(Op::ServiceEdit {
        service: web(),
        set: ServiceEdit {
            scheduler: Some(SchedulerName::Wrr),
            persistence: Some(300),
            name: Some("web".into()),
            timeouts: Some(TimeoutsConfig {
                tcp_established: Some(60),
                ..TimeoutsConfig::default()
            }),
            ..ServiceEdit::default()
        },
    });
    let (was, is) = (&before.services[0], &c.config.services[0]);
    assert_eq!(is.scheduler, SchedulerName::Wrr);
    assert_eq!(is.persistence, 300);
    assert_eq!(is.name.as_deref(), Some("web"));
    assert_eq!(
        is.timeouts.as_ref().and_then(|t| t.tcp_established),
        Some(60)
    );
    assert_eq!((is.mode, &is.backends), (was.mode, &was.backends));
    assert_eq!(c.config.services[1], before.services[1]);

    let c = apply_op(
        &c.config,
        &Op::ServiceEdit {
            service: web(),
            set: ServiceEdit {
                name: Some(String::new()),
                ..ServiceEdit::default()
            },
        },
    )
    .unwrap();
    assert_eq!(c.config.services[0].name, None, "an empty name removes it");
}

#[test]
fn leaving_fullnat_drops_the_local_addresses() {
    let c = apply(Op::ServiceEdit {
        service: dns(),
        set: ServiceEdit {
            mode: Some(LbMode::Nat),
            ..ServiceEdit::default()
        },
    });
    let s = &c.config.services[1];
    assert_eq!(s.mode, LbMode::Nat);
    assert!(s.local_addresses.is_empty());
    assert!(validate(&c.config).is_ok());
}

#[test]
fn service_delete_flushes_only_when_asked() {
    let c = apply(Op::ServiceDelete {
        service: web(),
        flush: false,
    });
    assert_eq!(c.config.services.len(), 1);
    assert_eq!(c.config.services[0].key(), dns());
    assert!(c.flush.is_empty());
    let c = apply(Op::ServiceDelete {
        service: web(),
        flush: true,
    });
    assert_eq!(c.flush.services, vec![web()]);
    assert!(c.flush.backends.is_empty());
}

#[test]
fn a_missing_service_is_not_found_for_every_op_on_it() {
    let gone: ServiceKey = "tcp/192.0.2.10:81".parse().unwrap();
    let ops = [
        Op::ServiceEdit {
            service: gone,
            set: ServiceEdit::default(),
        },
        Op::ServiceDelete {
            service: gone,
            flush: false,
        },
        Op::BackendAdd {
            service: gone,
            backend: new_service("192.0.2.10", 81).backends[0].clone(),
        },
        Op::BackendEdit {
            service: gone,
            backend: backend("10.0.0.11"),
            weight: 1,
        },
        Op::BackendDelete {
            service: gone,
            backend: backend("10.0.0.11"),
            flush: false,
        },
        Op::LaddrAdd {
            service: gone,
            address: Ipv4Addr::new(10, 0, 1, 102).into(),
        },
        Op::LaddrDelete {
            service: gone,
            address: Ipv4Addr::new(10, 0, 1, 100).into(),
        },
    ];
    for op in ops {
        let e = refused(op);
        assert_eq!(e.code, ErrorCode::NotFound);
        assert_eq!(e.message, "no service tcp/192.0.2.10:81");
    }
}

// --- backends ---

#[test]
fn a_backend_without_a_port_is_the_one_on_the_service_port() {
    // 10.0.0.11 has no port (so 80); 10.0.0.12 is on 8080.
    for (key, index) in [("10.0.0.11", 0), ("10.0.0.11:80", 0), ("10.0.0.12:8080", 1)] {
        let c = apply(Op::BackendEdit {
            service: web(),
            backend: backend(key),
            weight: 7,
        });
        assert_eq!(c.config.services[0].backends[index].weight, 7, "{key}");
    }
    for key in ["10.0.0.12", "10.0.0.11:8080"] {
        let e = refused(Op::BackendEdit {
            service: web(),
            backend: backend(key),
            weight: 7,
        });
        assert_eq!(e.code, ErrorCode::NotFound, "{key}");
        assert!(e.message.contains("has no backend"), "{e}");
    }
}

#[test]
fn backend_add_appends_and_refuses_the_same_address_and_port() {
    let mut b = BackendConfig::new(Ipv4Addr::new(10, 0, 0, 12), None, 2);
    let c = apply(Op::BackendAdd {
        service: web(),
        backend: b.clone(),
    });
    assert_eq!(c.config.services[0].backends.last(), Some(&b));
    b.port = Some(8080);
    let e = refused(Op::BackendAdd {
        service: web(),
        backend: b,
    });
    assert_eq!(e.code, ErrorCode::AlreadyExists);
    assert!(
        e.message.contains("already has backend 10.0.0.12:8080"),
        "{e}"
    );
    let e = refused(Op::BackendAdd {
        service: web(),
        backend: BackendConfig::new(Ipv4Addr::new(10, 0, 0, 11), Some(80), 1),
    });
    assert_eq!(e.code, ErrorCode::AlreadyExists, "port 80 is the default");
}

#[test]
fn backend_delete_flushes_the_address_and_port_when_asked() {
    let c = apply(Op::BackendDelete {
        service: web(),
        backend: backend("10.0.0.12:8080"),
        flush: true,
    });
    assert_eq!(c.config.services[0].backends.len(), 1);
    assert_eq!(
        c.flush.backends,
        vec![(web(), Ipv4Addr::new(10, 0, 0, 12).into(), 8080)]
    );
    let c = apply(Op::BackendDelete {
        service: web(),
        backend: backend("10.0.0.11"),
        flush: true,
    });
    assert_eq!(
        c.flush.backends,
        vec![(web(), Ipv4Addr::new(10, 0, 0, 11).into(), 80)]
    );
    let c = apply(Op::BackendDelete {
        service: web(),
        backend: backend("10.0.0.11"),
        flush: false,
    });
    assert!(c.flush.is_empty());
}

// --- local addresses ---

#[test]
fn laddr_add_and_delete() {
    let c = apply(Op::LaddrAdd {
        service: dns(),
        address: Ipv4Addr::new(10, 0, 1, 102).into(),
    });
    assert_eq!(
        c.config.services[1].local_addresses.last(),
        Some(&Ipv4Addr::new(10, 0, 1, 102).into())
    );
    let e = refused(Op::LaddrAdd {
        service: dns(),
        address: Ipv4Addr::new(10, 0, 1, 101).into(),
    });
    assert_eq!(e.code, ErrorCode::AlreadyExists);
    let c = apply(Op::LaddrDelete {
        service: dns(),
        address: Ipv4Addr::new(10, 0, 1, 100).into(),
    });
    assert_eq!(
        c.config.services[1].local_addresses,
        vec![std::net::IpAddr::from(Ipv4Addr::new(10, 0, 1, 101))]
    );
    let e = refused(Op::LaddrDelete {
        service: dns(),
        address: Ipv4Addr::new(10, 0, 1, 9).into(),
    });
    assert_eq!(e.code, ErrorCode::NotFound);
}

// --- routes, neighbours, SNAT ---

#[test]
fn routes_are_named_by_their_network() {
    let route = RouteConfig {
        prefix: "172.16.0.0/12".parse().unwrap(),
        via: Ipv4Addr::new(10, 0, 0, 253).into(),
    };
    let c = apply(Op::RouteAdd {
        route: route.clone(),
    });
    assert_eq!(c.config.routes.last(), Some(&route));
    let e = refused(Op::RouteAdd {
        route: RouteConfig {
            prefix: "0.0.0.0/0".parse().unwrap(),
            via: Ipv4Addr::new(10, 0, 0, 253).into(),
        },
    });
    assert_eq!(e.code, ErrorCode::AlreadyExists);
    assert!(e.message.contains("via 10.0.0.254"), "{e}");
    let c = apply(Op::RouteDelete {
        prefix: "0.0.0.0/0".parse().unwrap(),
    });
    assert!(c.config.routes.is_empty());
    let e = refused(Op::RouteDelete {
        prefix: "0.0.0.0/1".parse().unwrap(),
    });
    assert_eq!(
        (e.code, e.message.as_str()),
        (ErrorCode::NotFound, "no route for 0.0.0.0/1")
    );
}

#[test]
fn neighbours_are_named_by_their_address() {
    let n = NeighbourConfig {
        address: Ipv4Addr::new(10, 0, 0, 253).into(),
        mac: MacAddr([2, 0, 0, 0, 0, 0xfd]),
    };
    let c = apply(Op::NeighAdd {
        neighbour: n.clone(),
    });
    assert_eq!(c.config.neighbours.last(), Some(&n));
    let e = refused(Op::NeighAdd {
        neighbour: NeighbourConfig {
            address: Ipv4Addr::new(10, 0, 0, 254).into(),
            ..n
        },
    });
    assert_eq!(e.code, ErrorCode::AlreadyExists);
    let c = apply(Op::NeighDelete {
        address: Ipv4Addr::new(10, 0, 0, 254).into(),
    });
    assert!(c.config.neighbours.is_empty());
    let e = refused(Op::NeighDelete {
        address: Ipv4Addr::new(10, 0, 0, 9).into(),
    });
    assert_eq!(e.code, ErrorCode::NotFound);
}

#[test]
fn ipv6_routes_and_neighbours_are_added_and_deleted_by_ops() {
    // RUNNING with an IPv6 prefix on its interface.
    let mut running = running();
    running.interfaces[0]
        .addresses
        .push("2001:db8::1/64".parse().unwrap());
    let route = RouteConfig {
        prefix: "2001:db8:9::/48".parse().unwrap(),
        via: "2001:db8::fe".parse().unwrap(),
    };
    let op = Op::RouteAdd {
        route: route.clone(),
    };
    let c = apply_op(&running, &op).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.config.routes.last(), Some(&route));
    // The same prefix again, written with host bits: one route.
    let again = Op::RouteAdd {
        route: RouteConfig {
            prefix: "2001:db8:9::1/48".parse().unwrap(),
            ..route.clone()
        },
    };
    let e = apply_op(&c.config, &again).expect_err("exists");
    assert_eq!(e.code, ErrorCode::AlreadyExists);
    assert!(e.message.contains("a route for 2001:db8:9::/48"), "{e}");
    let del = Op::RouteDelete {
        prefix: "2001:db8:9::/48".parse().unwrap(),
    };
    let c = apply_op(&c.config, &del).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.config.routes.len(), 1, "the IPv4 default route stays");
    assert!(validate(&c.config).is_ok());
    // Validated as the file is: a gateway off the IPv6 prefixes, or of the
    // other family, is refused naming the key.
    for (via, says) in [
        ("2001:db8:7::1", "not in a connected prefix"),
        ("10.0.0.253", "of one family"),
    ] {
        let op = Op::RouteAdd {
            route: RouteConfig {
                via: via.parse().unwrap(),
                ..route.clone()
            },
        };
        let c = apply_op(&running, &op).unwrap_or_else(|e| panic!("{e}"));
        let errs = validate(&c.config).expect_err("refused").0;
        assert!(
            errs.iter()
                .any(|e| e.key.as_deref() == Some("route[1].via") && e.message.contains(says)),
            "{via}: {errs:#?}"
        );
    }
    let n = NeighbourConfig {
        address: "2001:db8::fe".parse().unwrap(),
        mac: MacAddr([2, 0, 0, 0, 0, 0xfd]),
    };
    let c = apply_op(
        &running,
        &Op::NeighAdd {
            neighbour: n.clone(),
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.config.neighbours.last(), Some(&n));
    let del = Op::NeighDelete { address: n.address };
    let c = apply_op(&c.config, &del).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.config.neighbours.len(), 1);
}

pub(super) fn snat_rule(source: &str, address: &str) -> SnatConfig {
    SnatConfig {
        source: source.parse().unwrap(),
        port: "lan".into(),
        addresses: vec![address.parse().unwrap()],
        ports: PortRange::default(),
    }
}

#[test]
fn a_snat_rule_goes_before_the_rule_that_covers_it() {
    let inner = snat_rule("10.0.1.11/32", "203.0.113.2");
    let c = apply(Op::SnatAdd {
        rule: inner.clone(),
    });
    assert_eq!(c.config.snat[0], inner, "else 10.0.1.0/24 would shadow it");
    let apart = snat_rule("10.0.2.0/24", "203.0.113.3");
    let c = apply(Op::SnatAdd {
        rule: apart.clone(),
    });
    assert_eq!(c.config.snat[1], apart, "unrelated rules go last");
    let e = refused(Op::SnatAdd {
        rule: snat_rule("10.0.1.0/24", "203.0.113.4"),
    });
    assert_eq!(e.code, ErrorCode::AlreadyExists);
    let c = apply(Op::SnatDelete {
        source: "10.0.1.0/24".parse().unwrap(),
    });
    assert!(c.config.snat.is_empty());
    let e = refused(Op::SnatDelete {
        source: "10.0.1.0/25".parse().unwrap(),
    });
    assert_eq!(e.code, ErrorCode::NotFound);
}

#[test]
fn snat_ops_take_ipv6_rules_with_the_configs_checks() {
    let rule = snat_rule("2001:db8:1::/64", "2001:db8:2::99");
    let c = apply(Op::SnatAdd { rule: rule.clone() });
    assert_eq!(c.config.snat.last(), Some(&rule));
    // A more specific IPv6 rule goes before it; an IPv4 one never covers it.
    let inner = snat_rule("2001:db8:1::11/128", "2001:db8:2::98");
    let c2 = apply_op(
        &c.config,
        &Op::SnatAdd {
            rule: inner.clone(),
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let at = |c: &Config, r: &SnatConfig| c.snat.iter().position(|x| x == r);
    assert!(
        at(&c2.config, &inner) < at(&c2.config, &rule),
        "{:?}",
        c2.config.snat
    );
    ops_validate(&c2.config).unwrap_or_else(|e| panic!("{e}"));
    // The config's refusals, as the server checks an op's result
    // (`ops::validate`): a loopback address, a mixed rule.
    for (source, address, why) in [
        ("2001:db8:1::/64", "::1", "the loopback address"),
        ("2001:db8:1::/64", "203.0.113.9", "of its source's family"),
    ] {
        let op = Op::SnatAdd {
            rule: snat_rule(source, address),
        };
        let next = apply(op).config;
        let e = ops_validate(&next).expect_err("refused").to_string();
        assert!(e.contains("snat[") && e.contains(why), "{e}");
    }
    let c = apply_op(
        &c.config,
        &Op::SnatDelete {
            source: "2001:db8:1::/64".parse().unwrap(),
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!c.config.snat.contains(&rule));
}

#[test]
fn ops_that_are_not_single_changes_are_refused() {
    for op in [
        Op::Hello,
        Op::Stats,
        Op::List {
            stats: false,
            rate: false,
        },
        Op::Apply {
            config: String::new(),
            dry_run: false,
            source: None,
        },
    ] {
        assert_eq!(refused(op).code, ErrorCode::InvalidRequest);
    }
    assert_eq!(
        refused(Op::GetConfig).message,
        "get_config does not change the config"
    );
}

// --- validate ---

#[test]
fn validate_names_the_running_config_and_the_key() {
    let c = apply(Op::BackendEdit {
        service: web(),
        backend: backend("10.0.0.12:8080"),
        weight: 70000,
    });
    let errs = validate(&c.config).expect_err("weight out of range").0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    let e = &errs[0];
    assert_eq!(e.file, Path::new("<running config>"));
    assert_eq!(e.key.as_deref(), Some("service[0].backend[1].weight"));
    assert_eq!(e.line, None, "no file, so no line: {e}");
    assert!(
        e.to_string().starts_with("<running config>: service[0]"),
        "{e}"
    );

    let c = apply(Op::LaddrAdd {
        service: web(),
        address: Ipv4Addr::new(10, 0, 1, 102).into(),
    });
    let errs = validate(&c.config).expect_err("laddr on nat").0;
    assert_eq!(errs[0].key.as_deref(), Some("service[0].local_addresses"));
}

/// The keys `validate` names for the config `op` makes.
fn invalid_keys(op: Op) -> Vec<String> {
    let c = apply(op);
    let errs = validate(&c.config).expect_err("should not validate").0;
    errs.iter().filter_map(|e| e.key.clone()).collect()
}

#[test]
fn single_ops_refuse_bad_names_and_addresses_at_their_key() {
    let mut named = new_service("192.0.2.30", 80);
    named.name = Some("web\nTCP  6.6.6.6:80 rr".into());
    let keys = invalid_keys(Op::ServiceAdd {
        service: Box::new(named),
    });
    assert_eq!(keys, ["service[2].name"]);
    let keys = invalid_keys(Op::ServiceEdit {
        service: web(),
        set: ServiceEdit {
            name: Some("\u{1b}[2J".into()),
            ..ServiceEdit::default()
        },
    });
    assert_eq!(keys, ["service[0].name"]);
    for vip in [
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "127.0.0.1",
        "10.0.0.1",
    ] {
        let keys = invalid_keys(Op::ServiceAdd {
            service: Box::new(new_service(vip, 80)),
        });
        assert!(
            keys.contains(&"service[2].vip".to_owned()),
            "{vip}: {keys:?}"
        );
    }
    for address in ["192.0.2.10", "10.0.1.100", "203.0.113.1", "10.0.0.1"] {
        let keys = invalid_keys(Op::BackendAdd {
            service: web(),
            backend: BackendConfig::new(address.parse::<std::net::IpAddr>().unwrap(), None, 1),
        });
        assert_eq!(keys, ["service[0].backend[2].address"], "{address}");
    }
    let keys = invalid_keys(Op::NeighAdd {
        neighbour: NeighbourConfig {
            address: Ipv4Addr::new(10, 0, 0, 9).into(),
            mac: MacAddr([0xff; 6]),
        },
    });
    assert_eq!(keys, ["neighbour[1].mac"]);
    let keys = invalid_keys(Op::RouteAdd {
        route: RouteConfig {
            prefix: "172.16.0.0/12".parse().unwrap(),
            via: Ipv4Addr::new(10, 0, 1, 1).into(),
        },
    });
    assert_eq!(keys, ["route[1].via"]);
    let keys = invalid_keys(Op::LaddrAdd {
        service: dns(),
        address: Ipv4Addr::new(10, 0, 1, 255).into(),
    });
    assert_eq!(keys, ["service[1].local_addresses[2]"]);
}

#[test]
fn validate_returns_the_same_config() {
    let cfg = running();
    assert_eq!(validate(&cfg).expect("valid").config, cfg);
}

/// Every section, every optional key away from its default.
pub(super) const EVERY_SECTION: &str = r#"[eal]
args = ["--no-huge", "-m", "512"]
main_lcore = 2

[[port]]
name = "lan"
device = "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap"
rx_desc = 512
tx_desc = 256
promiscuous = false
mac = "02:00:00:00:00:01"
mtu = 9000

[workers]
cores = [3, 4]

[mempool]
mbufs = 65535
cache = 128

[[interface]]
port = "lan"
vlan = 12
addresses = ["10.0.0.1/24"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.0.254"

[[neighbour]]
address = "10.0.0.254"
mac = "02:00:00:00:00:fe"

[[service]]
name = "web"
vip = "192.0.2.10"
protocol = "tcp"
port = 80
mode = "fullnat"
scheduler = "mh"
mh_ports = false
persistence = 300
persistence_prefix = 24
local_addresses = ["10.0.0.100"]
local_ports = "40000-40100"
timeouts = { tcp_established = 60, udp = 5 }
check = { type = "http", interval_ms = 500, timeout_ms = 200, rise = 1, fall = 5, port = 8081, path = "/healthz", expect_status = 204 }

[[service.backend]]
address = "10.0.0.11"
port = 8080
weight = 0

[[service]]
vip = "192.0.2.11"
protocol = "udp"
port = 53
mode = "dr"
check = { type = "tcp" }

[[snat]]
source = "10.0.0.0/24"
port = "lan"
addresses = ["203.0.113.1", "203.0.113.2"]
ports = "2000-2999"

[sessions]
capacity = 4096

[timeouts]
tcp_syn_recv = 20
icmp = 10

[control]
socket = "/tmp/ferrolb-test.sock"
group = "ferrolb"
max_message = 65536
max_clients = 4

[daemon]
metrics = "127.0.0.1:9100"
"#;

/// L2 forwarding with a non-default [forward].
const L2: &str = r#"[[port]]
name = "a"
device = "net_null0"

[forward]
mode = "macswap"
topology = "loop"
"#;

#[test]
fn every_config_survives_validate() {
    for (name, text) in [
        ("the documented example", doc_example()),
        ("every section", EVERY_SECTION),
        ("l2", L2),
        ("running", RUNNING),
    ] {
        let cfg = Config::parse(Path::new(name), text.to_owned())
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .config;
        let again = validate(&cfg).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(again.config, cfg, "{name}");
    }
    let every = Config::parse(Path::new("x"), EVERY_SECTION.to_owned())
        .unwrap()
        .config;
    assert_ne!(
        every.control,
        ControlConfig::default(),
        "the test sets [control]"
    );
    assert!(every.services.iter().all(|s| !s.check.is_empty()));
}
