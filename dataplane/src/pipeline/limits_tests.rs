//! Connection limits through the pipeline, on in-memory ports with the
//! clock passed in: a service's new-connection rate, a client prefix's,
//! and backends' connection thresholds (refused flows counted as
//! `no_backend` and `overloaded`, taken again after their sessions end).

use super::tests::*;
use crate::flow::limits::{ClientLimit, RateLimit};
use crate::tables::{Mode, ServiceSpec};

fn udp_service() -> ServiceSpec {
    service(Mode::Nat, IpProto::UDP)
}

fn flows_from(client: [u8; 4], ports: std::ops::Range<u16>) -> Vec<Vec<u8>> {
    ports
        .map(|p| udp((ROUTER, OURS), client, VIP, (p, 80)))
        .collect()
}

#[test]
fn a_services_new_connection_rate_refuses_the_excess_and_spares_sessions() {
    let mut svc = udp_service();
    svc.new_conn_rate = Some(RateLimit { rate: 10, burst: 5 });
    let mut p = pipeline(&config(vec![svc]));
    // At 0: the burst of 5 of 20 new flows.
    let out = run(&mut p, &flows_from(CIP, 1000..1020), 0);
    assert_eq!(out.len(), 5);
    assert_eq!(drops(&p, DropReason::RateLimited), 15);
    assert_eq!(p.counters().services[0].rate_limited, 15);
    // 300 ms later: 3 earned (10/s). The first 5 flows' sessions carry on.
    let mut again = flows_from(CIP, 1000..1005);
    again.extend(flows_from(CIP, 2000..2010));
    let out = run(&mut p, &again, 300);
    assert_eq!(out.len(), 5 + 3);
    assert_eq!(drops(&p, DropReason::RateLimited), 15 + 7);
    let c = p.counters();
    assert_eq!(c.services[0].rate_limited, 22);
    assert_eq!(c.services[0].client_rate_limited, 0);
    assert_eq!(c.events.sessions_created, 8);
}

#[test]
fn a_client_prefix_rate_limits_the_prefix_not_the_others() {
    let mut svc = udp_service();
    svc.client_rate = Some(ClientLimit {
        rate: RateLimit { rate: 2, burst: 2 },
        prefix_len: 24,
    });
    let mut p = pipeline(&config(vec![svc]));
    let mut frames = flows_from([198, 51, 100, 7], 1000..1003);
    frames.extend(flows_from([198, 51, 100, 8], 1000..1003));
    frames.extend(flows_from([198, 51, 101, 7], 1000..1003));
    let out = run(&mut p, &frames, 0);
    let from = |c: [u8; 4]| {
        out.iter()
            .filter(|f| seen(f).ports.0 >= 1000 && f[26..30] == c)
            .count()
    };
    // NAT keeps the client address: 2 of 6 from 198.51.100.0/24, 2 of 3
    // from 198.51.101.0/24.
    assert_eq!(
        from([198, 51, 100, 7]) + from([198, 51, 100, 8]),
        2,
        "one /24, one bucket"
    );
    assert_eq!(from([198, 51, 101, 7]), 2);
    assert_eq!(drops(&p, DropReason::ClientRateLimited), 5);
    assert_eq!(p.counters().services[0].client_rate_limited, 5);
    // Half a second: one more for the /24.
    let out = run(&mut p, &flows_from([198, 51, 100, 9], 3000..3003), 500);
    assert_eq!(out.len(), 1);
}

#[test]
fn backends_at_their_threshold_get_no_flows_until_sessions_end() {
    let mut svc = udp_service();
    for b in &mut svc.backends {
        b.u_threshold = 2;
    }
    let mut p = pipeline(&config(vec![svc]));
    let out = run(&mut p, &flows_from(CIP, 1000..1005), 0);
    assert_eq!(out.len(), 4 + 1, "two per backend, and the fifth refused");
    let to = |out: &[Vec<u8>], rip| out.iter().filter(|f| seen(f).dst == rip).count();
    assert_eq!((to(&out, RIP1), to(&out, RIP2)), (2, 2));
    assert_eq!(drops(&p, DropReason::NoBackend), 1);
    // The fifth flow's client is told: port unreachable from the VIP
    // (`unreachable.rs`).
    let refused = out.iter().find(|f| f[23] == 1).expect("an ICMP error");
    assert_eq!(
        (refused[23], refused[34], refused[35]),
        (1, 3, 3),
        "ICMP destination unreachable, port"
    );
    assert_eq!((&refused[26..30], &refused[30..34]), (&VIP[..], &CIP[..]));
    assert_eq!(p.counters().events.overloaded, 1);
    // Existing sessions still pass while their backend is overloaded.
    let out = run(&mut p, &flows_from(CIP, 1000..1002), 1000);
    assert_eq!(out.len(), 2);
    // UDP sessions expire after 300 s (on a poll's housekeeping): below
    // the lower threshold again.
    assert!(run(&mut p, &[], 302_000).is_empty());
    let out = run(&mut p, &flows_from(CIP, 4000..4002), 302_000);
    assert_eq!(out.len(), 2);
    assert_eq!(p.counters().events.overloaded, 1);
}

#[test]
fn an_ipv6_client_prefix_rate_limits_its_prefix_not_the_others() {
    use super::forward6_tests::{config_dr6, learn_backends, service6, tcp6, VIP6};
    use crate::flow::proto::tcp_flags::SYN;
    let mut svc = service6(IpProto::TCP);
    svc.client_rate = Some(ClientLimit {
        rate: RateLimit { rate: 2, burst: 2 },
        prefix_len: 64,
    });
    let mut p = pipeline(&config_dr6(vec![svc]));
    learn_backends(&mut p);
    let syns = |client: &str, ports: std::ops::Range<u16>| -> Vec<Vec<u8>> {
        ports
            .map(|cp| tcp6(client, VIP6, (cp, 80), SYN, b""))
            .collect()
    };
    // Two addresses of one /64 share its bucket of 2; another /64 has its own.
    let mut frames = syns("2001:db8:7:1::7", 1000..1003);
    frames.extend(syns("2001:db8:7:1::8", 1000..1003));
    frames.extend(syns("2001:db8:7:2::7", 1000..1003));
    let out = run(&mut p, &frames, 0);
    let from = |net: u8| {
        out.iter()
            .filter(|f| f[14 + 8 + 7] == net) // the source's 8th byte: the /64's last
            .count()
    };
    assert_eq!((from(1), from(2)), (2, 2));
    assert_eq!(drops(&p, DropReason::ClientRateLimited), 5);
    assert_eq!(p.counters().services[0].client_rate_limited, 5);
    assert_eq!(p.path.flow.sessions6().len(), 4);
    // Half a second: one more for the first /64.
    let out = run(&mut p, &syns("2001:db8:7:1::9", 2000..2003), 500);
    assert_eq!(out.len(), 1);
}
