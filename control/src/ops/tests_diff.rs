//! What needs a restart, and the diff lines of ops and of whole configs
//! (the ops themselves are tested in `tests.rs`).

use std::net::Ipv4Addr;
use std::path::Path;

use super::tests::{apply, backend, dns, new_service, running, snat_rule, web, EVERY_SECTION};
use super::*;
use crate::api::{Op, ServiceEdit};
use crate::config::{Config, MacAddr, RouteConfig, SchedulerName, TimeoutsConfig};

// --- needs_restart ---

#[test]
fn restart_sections_are_named_once_each() {
    let old = running();
    assert!(needs_restart(&old, &old).is_empty());
    let mut new = old.clone();
    new.ports[0].mtu = 9000;
    new.sessions.capacity = 10;
    new.interfaces[0].vlan = Some(3);
    new.control.max_clients = 2;
    // Runtime changes are not restart changes.
    new.services.clear();
    new.routes.clear();
    new.timeouts.udp = Some(3);
    new.daemon.metrics = Some("127.0.0.1:1".parse().unwrap());
    let found = needs_restart(&old, &new);
    let sections: Vec<&str> = found
        .iter()
        .map(|m| m.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(
        sections,
        vec!["[[port]]", "[sessions]", "[[interface]]", "[control]"]
    );
    assert_eq!(
        found[0],
        "[[port]] changed: ports are set up at start; restart ferrolb to change them"
    );
    let mut new = old.clone();
    new.eal.main_lcore = 5;
    new.workers.cores = vec![1, 2];
    new.mempool.cache = 1;
    new.forward.topology = crate::config::Topology::Loop;
    let sections: Vec<String> = needs_restart(&old, &new)
        .iter()
        .map(|m| m.split(' ').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(sections, ["[eal]", "[workers]", "[mempool]", "[forward]"]);
}

// --- diff ---

#[test]
fn diff_is_empty_when_equal() {
    assert!(diff(&running(), &running()).is_empty());
    let every = Config::parse(Path::new("x"), EVERY_SECTION.to_owned())
        .unwrap()
        .config;
    assert!(diff(&every, &every.clone()).is_empty());
}

#[test]
fn diff_lines_of_each_op() {
    let cases: Vec<(Op, Vec<&str>)> = vec![
        (
            Op::BackendEdit {
                service: web(),
                backend: backend("10.0.0.12:8080"),
                weight: 0,
            },
            vec!["~ backend tcp/192.0.2.10:80 -> 10.0.0.12:8080 weight 3 -> 0"],
        ),
        (
            Op::BackendDelete {
                service: web(),
                backend: backend("10.0.0.11"),
                flush: false,
            },
            vec!["- backend tcp/192.0.2.10:80 -> 10.0.0.11:80"],
        ),
        (
            Op::ServiceAdd {
                service: Box::new(new_service("192.0.2.30", 443)),
            },
            vec![
                "+ service tcp/192.0.2.30:443 (nat, rr)",
                "+ backend tcp/192.0.2.30:443 -> 10.0.0.21:443 weight 1",
            ],
        ),
        (
            Op::ServiceDelete {
                service: dns(),
                flush: true,
            },
            vec![
                "- service udp/192.0.2.20:53 (fullnat, wlc)",
                "- laddr udp/192.0.2.20:53 10.0.1.100",
                "- laddr udp/192.0.2.20:53 10.0.1.101",
                "- backend udp/192.0.2.20:53 -> 10.0.1.11:53",
            ],
        ),
        (
            Op::ServiceEdit {
                service: web(),
                set: ServiceEdit {
                    scheduler: Some(SchedulerName::Wrr),
                    persistence_prefix: Some(24),
                    timeouts: Some(TimeoutsConfig {
                        udp: Some(30),
                        ..TimeoutsConfig::default()
                    }),
                    ..ServiceEdit::default()
                },
            },
            vec![
                "~ service tcp/192.0.2.10:80 scheduler wlc -> wrr",
                "~ service tcp/192.0.2.10:80 persistence_prefix 32 -> 24",
                "~ service tcp/192.0.2.10:80 timeout udp default -> 30",
            ],
        ),
        (
            Op::ServiceEdit {
                service: dns(),
                set: ServiceEdit {
                    mode: Some(LbMode::Nat),
                    ..ServiceEdit::default()
                },
            },
            vec![
                "~ service udp/192.0.2.20:53 mode fullnat -> nat",
                "- laddr udp/192.0.2.20:53 10.0.1.100",
                "- laddr udp/192.0.2.20:53 10.0.1.101",
            ],
        ),
        (
            Op::LaddrAdd {
                service: dns(),
                address: Ipv4Addr::new(10, 0, 1, 99).into(),
            },
            vec!["+ laddr udp/192.0.2.20:53 10.0.1.99"],
        ),
        (
            Op::RouteAdd {
                route: RouteConfig {
                    prefix: "172.16.0.0/12".parse().unwrap(),
                    via: Ipv4Addr::new(10, 0, 0, 253).into(),
                },
            },
            vec!["+ route 172.16.0.0/12 via 10.0.0.253"],
        ),
        (
            Op::NeighDelete {
                address: Ipv4Addr::new(10, 0, 0, 254).into(),
            },
            vec!["- neighbour 10.0.0.254 02:00:00:00:00:fe"],
        ),
        (
            Op::SnatAdd {
                rule: snat_rule("10.0.2.0/24", "203.0.113.9"),
            },
            vec!["+ snat 10.0.2.0/24 -> 203.0.113.9 on lan ports 1024-65535"],
        ),
    ];
    let old = running();
    for (op, expected) in cases {
        let c = apply(op.clone());
        assert_eq!(diff(&old, &c.config), expected, "{op:?}");
    }
}

#[test]
fn diff_of_whole_configs_in_section_order() {
    let old = running();
    let mut new = old.clone();
    new.routes[0].via = Ipv4Addr::new(10, 0, 0, 253).into();
    new.neighbours[0].mac = MacAddr([2, 0, 0, 0, 0, 0xfd]);
    new.services[1].local_addresses.reverse();
    new.services[0].check = crate::config::CheckList::one(
        toml::from_str("type = \"http\"\npath = \"/ok\"").expect("a check"),
    );
    new.snat[0]
        .addresses
        .push(Ipv4Addr::new(203, 0, 113, 2).into());
    new.snat.insert(0, snat_rule("10.0.3.0/24", "203.0.113.3"));
    new.timeouts.udp = Some(30);
    new.daemon.metrics = Some("127.0.0.1:9100".parse().unwrap());
    assert_eq!(
        diff(&old, &new),
        vec![
            "~ route 0.0.0.0/0 via 10.0.0.254 -> 10.0.0.253",
            "~ neighbour 10.0.0.254 mac 02:00:00:00:00:fe -> 02:00:00:00:00:fd",
            "~ service tcp/192.0.2.10:80 check none -> http GET /ok expect 200 every 2000 ms \
             timeout 1000 ms rise 2 fall 3",
            "~ service udp/192.0.2.20:53 local address order 10.0.1.100, 10.0.1.101 -> \
             10.0.1.101, 10.0.1.100",
            "~ snat 10.0.1.0/24 addresses 203.0.113.1 -> 203.0.113.1, 203.0.113.2",
            "+ snat 10.0.3.0/24 -> 203.0.113.3 on lan ports 1024-65535",
            "~ timeout udp default -> 30",
            "~ daemon metrics none -> 127.0.0.1:9100",
        ]
    );
    // The way back removes what was added.
    assert!(diff(&new, &old).contains(&"- snat 10.0.3.0/24".to_string()));
}

#[test]
fn access_lists_port_ranges_groups_and_ops_are_changes() {
    let old = running();
    let mut new = old.clone();
    let p = |s: &str| s.parse().expect("a prefix");
    new.services[0].allow = vec![p("10.0.0.0/8"), p("198.51.100.0/24")];
    new.services[0].deny = vec![p("10.66.0.0/16")];
    new.services[0].port_last = Some(90);
    new.services[0].also_listen = vec!["192.0.2.11:80".parse().unwrap()];
    assert_eq!(
        diff(&old, &new),
        vec![
            "~ service tcp/192.0.2.10:80 port_last none -> 90",
            "~ service tcp/192.0.2.10:80 also_listen none -> 192.0.2.11:80",
            "+ allow tcp/192.0.2.10:80 10.0.0.0/8",
            "+ allow tcp/192.0.2.10:80 198.51.100.0/24",
            "+ deny tcp/192.0.2.10:80 10.66.0.0/16",
        ]
    );
    let mut fewer = new.clone();
    fewer.services[0].allow.pop();
    assert_eq!(
        diff(&new, &fewer),
        vec!["- allow tcp/192.0.2.10:80 198.51.100.0/24"]
    );
}

#[test]
fn reordered_snat_rules_are_a_change() {
    let old = apply(Op::SnatAdd {
        rule: snat_rule("10.0.2.0/24", "203.0.113.9"),
    })
    .config;
    let mut new = old.clone();
    new.snat.reverse();
    assert_eq!(
        diff(&old, &new),
        vec!["~ snat order 10.0.1.0/24, 10.0.2.0/24 -> 10.0.2.0/24, 10.0.1.0/24"]
    );
}

#[test]
fn an_ipv6_group_and_ops_are_changes_with_their_ipv6_addresses() {
    let mut old = running();
    old.services[0].vip = "2001:db8:10::10".parse().expect("an address");
    let mut new = old.clone();
    new.services[0].ops = true;
    new.services[0].also_listen = vec![
        "[2001:db8:10::11]:80".parse().expect("a socket address"),
        "[2001:db8:10::12]:0".parse().expect("a socket address"),
    ];
    assert_eq!(
        diff(&old, &new),
        vec![
            "~ service tcp/[2001:db8:10::10]:80 also_listen none -> \
             [2001:db8:10::11]:80, [2001:db8:10::12]:0",
            "~ service tcp/[2001:db8:10::10]:80 ops false -> true",
        ]
    );
}
