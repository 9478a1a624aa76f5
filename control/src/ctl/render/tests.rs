//! Each reply rendered from a sample, compared whole: the layout is what
//! people and their scripts read.

use std::collections::BTreeMap;

use super::*;
use crate::api::{NeighbourStatus, PortStatus, RouteStatus, ServiceKey, SessionInfo, WorkerStatus};
use crate::config::SchedulerName;

fn key(s: &str) -> ServiceKey {
    s.parse().unwrap()
}

fn backend(addr: &str, port: u16, weight: u32, active: u64, inactive: u64) -> BackendStatus {
    BackendStatus {
        address: addr.parse().unwrap(),
        port,
        weight,
        active,
        inactive,
        draining: false,
        stats: None,
        rate: None,
    }
}

fn sample_list() -> ListReply {
    let mut gone = backend("10.0.0.13", 8080, 0, 2, 1);
    gone.draining = true;
    ListReply {
        generation: 7,
        services: vec![
            ServiceStatus {
                key: key("tcp/192.0.2.10:80"),
                name: None,
                mode: LbMode::Nat,
                scheduler: SchedulerName::Wlc,
                persistence: 300,
                port_last: None,
                ops: false,
                also_listen: Vec::new(),
                local_addresses: vec![],
                sessions: 13,
                stats: Some(FlowStats {
                    conns: 120,
                    packets_in: 4000,
                    packets_out: 3500,
                    bytes_in: 1_234_567,
                    bytes_out: 98_765_432_100,
                    denied: 0,
                    rate_limited: 0,
                    client_rate_limited: 0,
                }),
                session_lifetimes: None,
                new_connection_rates: None,
                rate: Some(FlowRates {
                    cps: 12.4,
                    pps_in: 400.6,
                    pps_out: 350.0,
                    bps_in: 123_456.7,
                    bps_out: 9_876_543.2,
                }),
                backends: vec![
                    BackendStatus {
                        stats: Some(FlowStats {
                            conns: 120,
                            packets_in: 4000,
                            packets_out: 3500,
                            bytes_in: 1_234_567,
                            bytes_out: 98_765_432_100,
                            denied: 0,
                            rate_limited: 0,
                            client_rate_limited: 0,
                        }),
                        ..backend("10.0.0.11", 8080, 3, 10, 0)
                    },
                    gone,
                ],
            },
            ServiceStatus {
                key: key("udp/192.0.2.20:53"),
                name: Some("dns".into()),
                mode: LbMode::Fullnat,
                scheduler: SchedulerName::Mh,
                persistence: 0,
                port_last: None,
                ops: false,
                also_listen: Vec::new(),
                local_addresses: vec!["10.0.1.100".parse().unwrap(), "10.0.1.101".parse().unwrap()],
                sessions: 0,
                stats: None,
                session_lifetimes: None,
                new_connection_rates: None,
                rate: None,
                backends: vec![backend("10.0.1.11", 53, 1, 0, 0)],
            },
        ],
        snat: vec![SnatStatus {
            source: "10.0.1.0/24".parse().unwrap(),
            addresses: vec![
                "203.0.113.1".parse().unwrap(),
                "203.0.113.2".parse().unwrap(),
            ],
            sessions: 4,
            stats: None,
            rate: None,
        }],
    }
}

#[test]
fn list_has_the_ipvsadm_shape() {
    let text = list(&sample_list(), ListColumns::Plain);
    let expected = "\
ferrolb config generation 7
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.0.2.10:80 wlc persistent 300
  -> 10.0.0.11:8080               Masq    3      10         0
  -> 10.0.0.13:8080               Masq    0      2          1 draining
UDP  192.0.2.20:53 mh laddr 10.0.1.100,10.0.1.101 (dns)
  -> 10.0.1.11:53                 FullNat 1      0          0
SNAT 10.0.1.0/24 -> 203.0.113.1,203.0.113.2 sessions 4
";
    assert_eq!(text, expected, "\n{text}");
}

#[test]
fn a_range_shows_its_ports_and_ops_its_flag() {
    let mut reply = sample_list();
    reply.snat.clear();
    reply.services[0].key = key("tcp/192.0.2.10:8000");
    reply.services[0].port_last = Some(8099);
    reply.services[1].ops = true;
    reply.services[1].also_listen = vec!["192.0.2.21:53".parse().unwrap()];
    let text = list(&reply, ListColumns::Plain);
    assert!(
        text.contains("\nTCP  192.0.2.10:8000-8099 wlc persistent 300\n"),
        "{text}"
    );
    assert!(
        text.contains("\nUDP  192.0.2.20:53 mh ops also 192.0.2.21:53 laddr"),
        "{text}"
    );
    // An IPv6 service's group, as ipvsadm writes IPv6 services.
    reply.services[1].key = key("udp/[2001:db8:10::20]:53");
    reply.services[1].also_listen = vec!["[2001:db8:10::21]:53".parse().unwrap()];
    let text = list(&reply, ListColumns::Plain);
    assert!(
        text.contains("\nUDP  [2001:db8:10::20]:53 mh ops also [2001:db8:10::21]:53 laddr"),
        "{text}"
    );
}

#[test]
fn every_mode_has_its_ipvsadm_forward_name() {
    let mut reply = sample_list();
    reply.services.truncate(1);
    reply.services[0].backends.truncate(1);
    reply.snat.clear();
    for (mode, name) in [
        (LbMode::Dr, "Route  "),
        (LbMode::Tun, "Tunnel "),
        (LbMode::Nat, "Masq   "),
        (LbMode::Fullnat, "FullNat"),
    ] {
        reply.services[0].mode = mode;
        let text = list(&reply, ListColumns::Plain);
        let line = text.lines().last().unwrap();
        assert_eq!(
            line,
            format!("  -> 10.0.0.11:8080               {name} 3      10         0")
        );
    }
}

#[test]
fn list_stats_has_ipvsadm_counter_columns() {
    let text = list(&sample_list(), ListColumns::Stats);
    let expected = "\
ferrolb config generation 7
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  192.0.2.10:80                     120     4000     3500  1234567 98765432100
  -> 10.0.0.11:8080                    120     4000     3500  1234567 98765432100
  -> 10.0.0.13:8080                      0        0        0        0        0 draining
UDP  192.0.2.20:53                       0        0        0        0        0
  -> 10.0.1.11:53                        0        0        0        0        0
SNAT 10.0.1.0/24                         0        0        0        0        0
";
    assert_eq!(text, expected, "\n{text}");
}

#[test]
fn list_rate_rounds_to_whole_units() {
    let mut reply = sample_list();
    reply.services.truncate(1);
    reply.snat.clear();
    let text = list(&reply, ListColumns::Rate);
    let expected = "\
ferrolb config generation 7
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
TCP  192.0.2.10:80                      12      401      350   123457  9876543
  -> 10.0.0.11:8080                      0        0        0        0        0
  -> 10.0.0.13:8080                      0        0        0        0        0 draining
";
    assert_eq!(text, expected, "\n{text}");
}

#[test]
fn a_change_says_what_happened() {
    let mut reply = ChangeReply {
        generation: 8,
        applied: true,
        changes: vec!["~ backend tcp/192.0.2.10:80 -> 10.0.0.11:8080 weight 3 -> 0".into()],
        adopted_us: Some(41),
    };
    assert_eq!(
        change(&reply, false),
        "~ backend tcp/192.0.2.10:80 -> 10.0.0.11:8080 weight 3 -> 0\n\
         applied generation 8 (all workers in 41 µs)\n"
    );
    reply.applied = false;
    reply.adopted_us = None;
    assert!(change(&reply, true).ends_with("\ndry run: nothing changed\n"));
    assert!(change(&reply, false).ends_with("\nnothing changed\n"));
    reply.changes.clear();
    assert_eq!(change(&reply, false), "no changes\n");
    assert_eq!(change(&reply, true), "no changes\n");
}

fn session(worker: usize, local: Option<&str>, state: &str, ms: u64) -> SessionInfo {
    SessionInfo {
        worker,
        protocol: "tcp".into(),
        service: Some(key("tcp/192.0.2.10:80")),
        client: "198.51.100.7:51234".parse().unwrap(),
        destination: "192.0.2.10:80".parse().unwrap(),
        local: local.map(|l| l.parse().unwrap()),
        backend: "10.0.0.11:8080".parse().unwrap(),
        state: state.into(),
        expires_in_ms: ms,
    }
}

#[test]
fn sessions_are_a_table_with_a_note_when_truncated() {
    let mut reply = SessionsReply {
        sessions: vec![
            session(0, Some("10.0.1.100:40000"), "ESTABLISHED", 899_999),
            session(11, None, "SYN_RECV", 500),
        ],
        truncated: true,
    };
    let expected = "\
Prot  Client              Destination    Local             Backend         State        Expires  Worker
TCP   198.51.100.7:51234  192.0.2.10:80  10.0.1.100:40000  10.0.0.11:8080  ESTABLISHED     899s       0
TCP   198.51.100.7:51234  192.0.2.10:80  -                 10.0.0.11:8080  SYN_RECV          0s      11
(more sessions match; raise --limit)
";
    assert_eq!(sessions(&reply), expected, "\n{}", sessions(&reply));
    reply.truncated = false;
    assert!(!sessions(&reply).contains("raise --limit"));
    reply.sessions.clear();
    assert_eq!(sessions(&reply), "(no sessions)\n");
}

fn sample_stats() -> StatsReply {
    StatsReply {
        generation: 3,
        uptime_ms: 93_784_000,
        workers: vec![WorkerStatus {
            index: 0,
            core: 2,
            rx_packets: 1000,
            tx_packets: 990,
            tx_dropped: 0,
            rx_bursts: 40,
            busy_cycles: 250_000,
            cycles: 1_000_000,
            cycles_per_second: 2_000_000_000,
            dropped: 10,
            sessions: 5,
            generation: 3,
        }],
        ports: vec![PortStatus {
            name: "lan".into(),
            rx_packets: 1000,
            tx_packets: 990,
            rx_bytes: 64000,
            tx_bytes: 63000,
            rx_missed: 0,
            rx_nombuf: 0,
            rx_errors: 0,
            tx_errors: 0,
            steering: "rte_flow (8 rules)".into(),
            bond_mode: None,
            members: vec![],
        }],
        drops: BTreeMap::from([
            ("no_service".to_string(), 9),
            ("ttl_exceeded".to_string(), 1),
            ("table_full".to_string(), 0),
        ]),
        events: BTreeMap::from([
            ("arp_replies".to_string(), 2),
            ("sessions_expired".to_string(), 0),
        ]),
        sessions: 5,
        vrrp: None,
    }
}

#[test]
fn stats_hide_zero_counters_unless_all() {
    let text = stats(&sample_stats(), false);
    let expected = "\
config generation 3, up 1d 2h 3m 4s, 5 sessions

Worker  Core  RxPkts  TxPkts  TxDropped  Dropped  Sessions  Generation   Busy  Cyc/Pkt
     0     2    1000     990          0       10         5           3  25.0%      250

Port  RxPkts  TxPkts  RxBytes  TxBytes  RxMissed  RxNoMbuf  RxErrors  TxErrors  Steering
lan     1000     990    64000    63000         0         0         0         0  rte_flow (8 rules)

Drops:
  no_service    9
  ttl_exceeded  1
Events:
  arp_replies  2
";
    assert_eq!(text, expected, "\n{text}");
    let all = stats(&sample_stats(), true);
    assert!(all.contains("  table_full    0\n"), "{all}");
    assert!(all.contains("  sessions_expired  0\n"), "{all}");
}

#[test]
fn stats_without_drops_say_none() {
    let mut reply = sample_stats();
    reply.drops.values_mut().for_each(|n| *n = 0);
    assert!(stats(&reply, false).contains("\nDrops: none\n"));
}

#[test]
fn routes_and_neighbours_are_tables() {
    let r = RoutesReply {
        routes: vec![
            RouteStatus {
                prefix: "10.0.0.0/24".parse().unwrap(),
                via: None,
                interface: "lan".into(),
            },
            RouteStatus {
                prefix: "0.0.0.0/0".parse().unwrap(),
                via: Some("10.0.0.254".parse().unwrap()),
                interface: "lan".into(),
            },
        ],
    };
    assert_eq!(
        routes(&r),
        "Prefix       Via         Interface\n\
         10.0.0.0/24  connected   lan\n\
         0.0.0.0/0    10.0.0.254  lan\n"
    );
    let n = NeighboursReply {
        neighbours: vec![
            NeighbourStatus {
                address: "10.0.0.254".parse().unwrap(),
                mac: Some("02:00:00:00:00:fe".into()),
                state: "static".into(),
                worker: None,
            },
            NeighbourStatus {
                address: "10.0.0.12".parse().unwrap(),
                mac: None,
                state: "incomplete".into(),
                worker: Some(1),
            },
            // An IPv6 next hop being resolved by Neighbour Discovery.
            NeighbourStatus {
                address: "2001:db8::20".parse().unwrap(),
                mac: None,
                state: "incomplete".into(),
                worker: Some(0),
            },
        ],
    };
    assert_eq!(
        neighbours(&n),
        "Address       MAC                State       Worker\n\
         10.0.0.254    02:00:00:00:00:fe  static      -\n\
         10.0.0.12     -                  incomplete  1\n\
         2001:db8::20  -                  incomplete  0\n"
    );
}

#[test]
fn version_lines() {
    assert_eq!(ctl_version("0.1.0"), "ferrolbctl 0.1.0 (protocol 1)\n");
    let reply = HelloReply {
        version: "0.1.0".into(),
        protocol: 1,
        workers: 2,
        generation: 7,
        uptime_ms: 61_000,
    };
    assert_eq!(
        hello(&reply),
        "ferrolb 0.1.0 (protocol 1): 2 workers, config generation 7, up 1m 1s\n"
    );
}

/// Text as a hostile or broken appliance might send it: a line of its own
/// forged, the screen cleared, the display reordered.
const EVIL: &str = "x\nTCP  6.6.6.6:80 rr\x1b[2J\u{202e}";

/// `text` has `lines` lines and no control character but the newlines.
fn one_line_per_row(text: &str, lines: usize) {
    assert_eq!(text.lines().count(), lines, "{text}");
    assert!(
        !text
            .chars()
            .any(|c| c.is_control() && c != '\n' || c == '\u{202e}'),
        "{text:?}"
    );
    assert!(
        text.contains("x\\nTCP  6.6.6.6:80 rr\\x1b[2J\\u{202e}"),
        "{text}"
    );
}

#[test]
fn every_printed_string_is_escaped() {
    let mut list = sample_list();
    list.services[0].name = Some(EVIL.into());
    let plain = list_text(&list);
    one_line_per_row(&plain, list_text(&sample_list()).lines().count());

    let reply = ChangeReply {
        generation: 2,
        applied: true,
        changes: vec![format!("~ service tcp/192.0.2.10:80 name web -> {EVIL}")],
        adopted_us: None,
    };
    one_line_per_row(&change(&reply, false), 2);

    let mut s = sample_stats();
    s.ports[0].name = EVIL.into();
    s.ports[0].steering = EVIL.into();
    s.drops.insert(EVIL.into(), 1);
    let text = stats(&s, false);
    assert_eq!(
        text.lines().count(),
        stats(&sample_stats(), false).lines().count() + 1,
        "{text}"
    );
    one_line_per_row(&text, text.lines().count());

    let r = RoutesReply {
        routes: vec![RouteStatus {
            prefix: "10.0.0.0/24".parse().unwrap(),
            via: None,
            interface: EVIL.into(),
        }],
    };
    one_line_per_row(&routes(&r), 2);
    let n = NeighboursReply {
        neighbours: vec![NeighbourStatus {
            address: "10.0.0.254".parse().unwrap(),
            mac: Some(EVIL.into()),
            state: EVIL.into(),
            worker: None,
        }],
    };
    one_line_per_row(&neighbours(&n), 2);
    let mut sessions_reply = SessionsReply {
        sessions: vec![session(0, None, "ESTABLISHED", 1000)],
        truncated: false,
    };
    sessions_reply.sessions[0].state = EVIL.into();
    one_line_per_row(&sessions(&sessions_reply), 2);
    let hello_reply = HelloReply {
        version: EVIL.into(),
        protocol: 1,
        workers: 1,
        generation: 1,
        uptime_ms: 0,
    };
    one_line_per_row(&hello(&hello_reply), 1);
}

fn list_text(l: &ListReply) -> String {
    list(l, ListColumns::Plain)
}

#[test]
fn role_names_the_role_and_both_address_lists() {
    let v = crate::api::VrrpStatus {
        role: "backup".into(),
        held: Vec::new(),
        standby: vec!["192.0.2.10".parse().unwrap(), "10.0.1.1".parse().unwrap()],
        to_master: 2,
        to_backup: 3,
        since_ms: 64_000,
    };
    assert_eq!(
        role(&v),
        "vrrp backup for 1m 4s (became master 2 times, backup 3)\n\
         held:    -\n\
         standby: 192.0.2.10 10.0.1.1\n"
    );
    let mut stats = sample_stats();
    stats.vrrp = Some(v);
    assert!(super::stats(&stats, false).contains("\nvrrp backup for 1m 4s"));
}

#[test]
fn a_bonds_members_are_listed_with_link_state_and_role() {
    use crate::api::BondMemberStatus;
    let member = |name: &str, link_up: bool, active: bool| BondMemberStatus {
        name: name.into(),
        link_up,
        active,
        lacp_actor_state: None,
        lacp_partner_state: None,
        rx_packets: 7,
        tx_packets: 8,
        rx_missed: 9,
    };
    let plain = stats(&sample_stats(), false);
    assert!(
        !plain.contains("Member"),
        "no bond, no member table:\n{plain}"
    );
    let mut s = sample_stats();
    let mut ext = s.ports[0].clone();
    ext.name = "ext".into();
    ext.bond_mode = Some("active-backup".into());
    ext.members = vec![
        member("net_tap0", false, false),
        member("net_tap1", true, true),
    ];
    let mut agg = s.ports[0].clone();
    agg.name = "up".into();
    agg.bond_mode = Some("802.3ad".into());
    agg.members = vec![BondMemberStatus {
        lacp_actor_state: Some(0x3d),
        lacp_partner_state: Some(0x3f),
        ..member("0000:3b:00.0", true, true)
    }];
    s.ports.extend([ext, agg]);
    let text = stats(&s, false);
    let row = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no row with {needle} in\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        row("net_tap0"),
        "ext active-backup net_tap0 down backup - 7 8 9"
    );
    assert_eq!(
        row("net_tap1"),
        "ext active-backup net_tap1 up active - 7 8 9"
    );
    assert_eq!(
        row("0000:3b:00.0"),
        "up 802.3ad 0000:3b:00.0 up aggregated actor 0x3d partner 0x3f 7 8 9"
    );
}

#[test]
fn ipv6_services_backends_and_sessions_print_addresses_in_brackets() {
    let mut reply = sample_list();
    reply.snat.clear();
    reply.services.truncate(1);
    reply.services[0].key = key("tcp/[2001:db8::10]:80");
    reply.services[0].mode = LbMode::Dr;
    reply.services[0].backends = vec![backend("2001:db8:1::11", 80, 1, 0, 0)];
    let text = list(&reply, ListColumns::Plain);
    assert!(
        text.contains("\nTCP  [2001:db8::10]:80 wlc persistent 300\n"),
        "{text}"
    );
    assert!(text.contains("\n  -> [2001:db8:1::11]:80 "), "{text}");
    let s = SessionInfo {
        service: Some(key("tcp/[2001:db8::10]:80")),
        client: "[2001:db8:2::7]:51234".parse().unwrap(),
        destination: "[2001:db8::10]:80".parse().unwrap(),
        backend: "[2001:db8:1::11]:80".parse().unwrap(),
        ..session(0, None, "ESTABLISHED", 1000)
    };
    let text = sessions(&SessionsReply {
        sessions: vec![s],
        truncated: false,
    });
    assert!(
        text.contains("[2001:db8:2::7]:51234  [2001:db8::10]:80"),
        "{text}"
    );
    assert!(text.contains("[2001:db8:1::11]:80"), "{text}");
}
