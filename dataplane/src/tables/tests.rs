//! Ids across `build_next`: what keeps its id, what gets a new one, what is
//! retired or flushed.

use std::sync::Arc;

use super::*;
use crate::tuple::IpProto;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("address")
}

fn backend(addr: &str, weight: u32) -> BackendSpec {
    BackendSpec {
        addr: ip(addr).into(),
        port: 8080,
        weight,
        u_threshold: 0,
        l_threshold: 0,
    }
}

fn service(vip: &str, port: u16, mode: Mode, backends: Vec<BackendSpec>) -> ServiceSpec {
    ServiceSpec {
        name: None,
        vip: ip(vip).into(),
        proto: IpProto::TCP,
        port,
        extra_ports: 0,
        also_listen: Vec::new(),
        one_packet: false,
        mode,
        scheduler: SchedulerKind::Maglev {
            table_size: 251,
            hash_ports: true,
        },
        persistence: None,
        pickup: false,
        local_addrs: if mode == Mode::FullNat {
            vec![ip("10.0.1.100")]
        } else {
            Vec::new()
        },
        local_addrs6: Vec::new(),
        local_ports: (40000, 40100),
        timeouts: None,
        acl: Default::default(),
        mss_clamp: None,
        new_conn_rate: None,
        client_rate: None,
        toa: false,
        proxy_protocol: None,
        syn_proxy: false,
        backends,
    }
}

fn snat(source: &str, len: u8, addr: &str) -> SnatSpec {
    SnatSpec {
        source: (ip(source).into(), len),
        port: 0,
        addrs: vec![ip(addr)],
        addrs6: vec![],
        ports: (50000, 50100),
    }
}

fn config(services: Vec<ServiceSpec>, snat: Vec<SnatSpec>) -> LbConfig {
    LbConfig {
        kernel: Vec::new(),
        garp: Default::default(),
        synproxy: Default::default(),
        standby: Vec::new(),
        ports: vec![PortSetup {
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
            mtu: 1500,
        }],
        interfaces: vec![Interface {
            port: 0,
            vlan: None,
            addrs: vec![(ip("10.0.1.1"), 24)],
            addrs6: Vec::new(),
        }],
        routes: Vec::new(),
        routes6: Vec::new(),
        neighbours6: Vec::new(),
        neighbours: Vec::new(),
        services,
        snat,
        sessions: TableConfig::default(),
    }
}

/// Service A (NAT, two backends) and B (FULLNAT, two backends): ids 0 and
/// 1, backends 0..=3.
fn first() -> (LbConfig, LbTables) {
    let cfg = config(
        vec![
            service(
                "192.0.2.1",
                80,
                Mode::Nat,
                vec![backend("10.0.1.11", 1), backend("10.0.1.12", 1)],
            ),
            service(
                "192.0.2.2",
                443,
                Mode::FullNat,
                vec![backend("10.0.1.21", 1), backend("10.0.1.22", 1)],
            ),
        ],
        vec![snat("10.0.2.0", 24, "203.0.113.1")],
    );
    let t = LbTables::build(&cfg).expect("builds");
    (cfg, t)
}

fn key(vip: &str, port: u16) -> ServiceKey {
    ServiceKey {
        proto: IpProto::TCP,
        vip: ip(vip).into(),
        port,
    }
}

fn no_flush() -> FlushRequest {
    FlushRequest::default()
}

#[test]
fn first_tables_number_everything_in_config_order() {
    let (_, t) = first();
    assert_eq!(t.service_index.by_key(&key("192.0.2.1", 80)), Some(0));
    assert_eq!(t.service_index.by_key(&key("192.0.2.2", 443)), Some(1));
    assert_eq!(t.services[1].backend_ids, vec![2, 3]);
    assert!(t.services.iter().all(|s| s.state == Lifecycle::Active));
    assert!(t.backends.iter().all(|b| b.state == Lifecycle::Active));
    assert_eq!(t.snat_rule(ip("10.0.2.9")), Some(0));
}

#[test]
fn unchanged_entries_keep_their_ids_and_new_ones_get_fresh_ids() {
    let (mut cfg, t1) = first();
    // A: a weight changes and a backend is added; B unchanged; C is new.
    cfg.services[0].backends[1].weight = 7;
    cfg.services[0].backends.push(backend("10.0.1.13", 1));
    cfg.services.push(service(
        "192.0.2.3",
        80,
        Mode::Dr,
        vec![backend("10.0.1.31", 1)],
    ));
    let t2 = LbTables::build_next(&cfg, &t1, &no_flush()).expect("builds");
    assert_eq!(t2.services[0].backend_ids, vec![0, 1, 4]);
    assert_eq!(t2.services[1].backend_ids, vec![2, 3]);
    assert_eq!(t2.service_index.by_key(&key("192.0.2.3", 80)), Some(2));
    assert_eq!(t2.services[2].backend_ids, vec![5]);
    assert_eq!(t2.services[0].scheduler.weight_of(1), 7);
    assert_eq!(t2.backends[4].service, 0);
    assert!(t2.services.iter().all(|s| s.state == Lifecycle::Active));
    // B changed nothing: its Maglev table is shared, not rebuilt; A's is new.
    let maglev = |t: &LbTables, s: usize| t.services[s].scheduler.maglev_table().cloned();
    assert!(Arc::ptr_eq(
        &maglev(&t1, 1).expect("maglev"),
        &maglev(&t2, 1).expect("maglev")
    ));
    assert!(!Arc::ptr_eq(
        &maglev(&t1, 0).expect("maglev"),
        &maglev(&t2, 0).expect("maglev")
    ));
}

#[test]
fn deleted_entries_are_retired_out_of_the_index_and_the_schedulers() {
    let (mut cfg, t1) = first();
    cfg.services[0].backends.remove(0);
    cfg.services.remove(1);
    let t2 = LbTables::build_next(&cfg, &t1, &no_flush()).expect("builds");
    assert_eq!(t2.services.len(), 2, "the deleted service keeps its id");
    assert_eq!(t2.backends.len(), 4);
    assert_eq!(t2.service_index.len(), 1);
    assert_eq!(t2.service_index.by_key(&key("192.0.2.2", 443)), None);
    let b = &t2.services[1];
    assert_eq!(b.state, Lifecycle::Retired);
    assert!(b.scheduler.backends().is_empty());
    assert!(b.scheduler.maglev_table().is_none());
    assert_eq!(
        b.spec.mode,
        Mode::FullNat,
        "its sessions still need the mode"
    );
    assert_eq!(t2.backends[0].state, Lifecycle::Retired);
    assert_eq!(t2.backends[1].state, Lifecycle::Active);
    assert_eq!(t2.backends[2].state, Lifecycle::Retired);
    assert_eq!(t2.backends[3].state, Lifecycle::Retired);
    assert_eq!(t2.services[0].backend_ids, vec![1]);
    assert_eq!(t2.services[0].scheduler.weight_of(0), 0);
    let ids: Vec<u32> = t2.backends_of(0).map(|(id, _)| id).collect();
    assert_eq!(ids, vec![0, 1], "a deleted backend is still listed");
    // The deleted service's VIP and local address are no longer ours.
    assert!(!t2.owned.contains(ip("192.0.2.2")));
    assert!(!t2.owned.contains(ip("10.0.1.100")));
    assert!(t2.owned.contains(ip("192.0.2.1")));
    // Retired stays retired, and a re-added service is a new one.
    let t3 = LbTables::build_next(&cfg, &t2, &no_flush()).expect("builds");
    assert_eq!(t3.services[1].state, Lifecycle::Retired);
    let (again, _) = first();
    let t4 = LbTables::build_next(&again, &t3, &no_flush()).expect("builds");
    assert_eq!(t4.service_index.by_key(&key("192.0.2.2", 443)), Some(2));
    assert_eq!(t4.services[2].backend_ids, vec![5, 6]);
    assert_eq!(
        t4.services[0].backend_ids,
        vec![4, 1],
        "build_next frees no id (build_next_reclaiming does, with reports)"
    );
}

#[test]
fn a_new_mode_or_new_local_addresses_make_a_new_service() {
    let (mut cfg, t1) = first();
    cfg.services[0].mode = Mode::FullNat;
    cfg.services[0].local_addrs = vec![ip("10.0.1.101")];
    cfg.services[1].local_addrs.push(ip("10.0.1.102"));
    let t2 = LbTables::build_next(&cfg, &t1, &no_flush()).expect("builds");
    assert_eq!(t2.service_index.by_key(&key("192.0.2.1", 80)), Some(2));
    assert_eq!(t2.service_index.by_key(&key("192.0.2.2", 443)), Some(3));
    assert_eq!(t2.services[0].state, Lifecycle::Retired);
    assert_eq!(t2.services[1].state, Lifecycle::Retired);
    assert_eq!(t2.services[2].backend_ids, vec![4, 5]);
    assert_eq!(t2.services[3].backend_ids, vec![6, 7]);
    assert!(t2.backends[..4]
        .iter()
        .all(|b| b.state == Lifecycle::Retired));
    // The port range is not part of the identity.
    cfg.services[1].local_ports = (41000, 41100);
    let t3 = LbTables::build_next(&cfg, &t2, &no_flush()).expect("builds");
    assert_eq!(t3.service_index.by_key(&key("192.0.2.2", 443)), Some(3));
}

#[test]
fn a_flush_marks_what_it_names_and_the_backends_of_a_flushed_service() {
    let (mut cfg, t1) = first();
    // Delete A with flush; delete B's first backend with flush and its
    // second without.
    cfg.services.remove(0);
    cfg.services[0].backends.clear();
    let flush = FlushRequest {
        services: vec![key("192.0.2.1", 80)],
        backends: vec![(key("192.0.2.2", 443), (ip("10.0.1.21")).into(), 8080)],
    };
    let t2 = LbTables::build_next(&cfg, &t1, &flush).expect("builds");
    assert_eq!(t2.services[0].state, Lifecycle::Flushed);
    assert_eq!(t2.services[1].state, Lifecycle::Active);
    let states: Vec<Lifecycle> = t2.backends.iter().map(|b| b.state).collect();
    use Lifecycle::*;
    assert_eq!(states, vec![Flushed, Flushed, Flushed, Retired]);

    // A later flush reaches an entry that is already draining.
    let flush = FlushRequest {
        backends: vec![(key("192.0.2.2", 443), (ip("10.0.1.22")).into(), 8080)],
        ..no_flush()
    };
    let t3 = LbTables::build_next(&cfg, &t2, &flush).expect("builds");
    assert_eq!(t3.backends[3].state, Flushed);
    assert_eq!(t3.backends[0].state, Flushed, "flushed stays flushed");

    // Flushing what the config still has ends its sessions and starts it
    // afresh under a new id.
    let (cfg, t1) = first();
    let flush = FlushRequest {
        services: vec![key("192.0.2.2", 443)],
        backends: vec![(key("192.0.2.1", 80), (ip("10.0.1.12")).into(), 8080)],
    };
    let t2 = LbTables::build_next(&cfg, &t1, &flush).expect("builds");
    assert_eq!(t2.services[1].state, Flushed);
    assert_eq!(t2.service_index.by_key(&key("192.0.2.2", 443)), Some(2));
    assert_eq!(t2.services[0].backend_ids, vec![0, 4]);
    assert_eq!(t2.backends[1].state, Flushed);
}

#[test]
fn snat_rules_keep_their_ids_by_source_prefix() {
    let (mut cfg, t1) = first();
    cfg.snat.push(snat("10.0.3.0", 24, "203.0.113.3"));
    let t2 = LbTables::build_next(&cfg, &t1, &no_flush()).expect("builds");
    // The first rule is deleted, the second moves first with a new address,
    // and a third is added.
    cfg.snat = vec![
        snat("10.0.3.0", 24, "203.0.113.4"),
        snat("10.0.4.0", 24, "203.0.113.5"),
    ];
    let t3 = LbTables::build_next(&cfg, &t2, &no_flush()).expect("builds");
    assert_eq!(t3.snat.len(), 3);
    assert_eq!(t3.snat[0].state, Lifecycle::Retired);
    assert_eq!(t3.snat[1].state, Lifecycle::Active);
    assert_eq!(t3.snat[1].spec.addrs, vec![ip("203.0.113.4")]);
    assert_eq!(t3.snat_rule(ip("10.0.3.7")), Some(1));
    assert_eq!(t3.snat_rule(ip("10.0.4.7")), Some(2));
    assert_eq!(
        t3.snat_rule(ip("10.0.2.7")),
        None,
        "retired rules match nothing"
    );
    assert!(!t3.owned.contains(ip("203.0.113.1")));
    assert!(t3.owned.contains(ip("203.0.113.5")));

    cfg.snat.push(snat("10.0.4.0", 24, "203.0.113.6"));
    let e = LbTables::build_next(&cfg, &t3, &no_flush()).expect_err("refused");
    assert!(e.contains("10.0.4.0/24: defined twice"), "{e}");
}

#[test]
fn worker_counts_that_leave_a_worker_without_ports_are_found() {
    let (mut cfg, _) = first();
    cfg.services[1].local_ports = (40000, 40000);
    let t = LbTables::build(&cfg).expect("builds");
    assert!(t.check_workers(1).is_ok());
    let e = t.check_workers(2).expect_err("worker 1 has no port");
    assert!(e.contains("tcp/192.0.2.2:443"), "{e}");
    cfg.services[1].local_ports = (40000, 40003);
    cfg.snat[0].ports = (50000, 50002);
    let t = LbTables::build(&cfg).expect("builds");
    assert!(t.check_workers(2).is_ok());
    let e = t.check_workers(4).expect_err("worker 3 has no SNAT port");
    assert!(e.contains("snat 10.0.2.0/24"), "{e}");
}

#[test]
fn a_solicitation_speaks_from_the_address_on_the_targets_link() {
    let a = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap();
    let mut cfg = config(Vec::new(), Vec::new());
    cfg.interfaces[0].addrs6 = vec![
        (a("2001:db8:1::1"), 64),
        (a("2001:db8:2::1"), 64),
        (a("fe80::1"), 64),
    ];
    cfg.interfaces.push(Interface {
        port: 0,
        vlan: Some(5),
        addrs: Vec::new(),
        addrs6: Vec::new(),
    });
    let t = LbTables::build(&cfg).expect("builds");
    let from = |iface, peer| t.source_address6(iface, a(peer));
    assert_eq!(from(0, "2001:db8:2::77"), Some(a("2001:db8:2::1")));
    assert_eq!(from(0, "fe80::9"), Some(a("fe80::1")));
    assert_eq!(
        from(0, "2001:db8:9::9"),
        Some(a("2001:db8:1::1")),
        "the first"
    );
    assert_eq!(from(1, "2001:db8:2::77"), None, "no IPv6 address");
    assert_eq!(from(7, "2001:db8:2::77"), None, "no such interface");
}
