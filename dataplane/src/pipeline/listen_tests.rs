//! Services on many ports (a range, or port 0: every port), persistence
//! across a VIP's ports, and one-packet scheduling (IPVS `ops`).

use super::tests::*;
use crate::sched::Persistence;
use crate::tables::*;

/// A frame's source and destination addresses and ports.
type Endpoints = ([u8; 4], [u8; 4], (u16, u16));

/// Each frame's endpoints, checksums verified.
fn addresses_and_ports(out: &[Vec<u8>]) -> Vec<Endpoints> {
    out.iter()
        .map(|f| seen(f))
        .map(|s| (s.src, s.dst, s.ports))
        .collect()
}

fn range(mut s: ServiceSpec, first: u16, last: u16) -> ServiceSpec {
    s.port = first;
    s.extra_ports = last.saturating_sub(first);
    s
}

#[test]
fn a_range_service_takes_every_port_of_its_range_and_no_other() {
    let dr = range(service(Mode::Dr, IpProto::TCP), 8000, 8099);
    let mut p = pipeline(&config(vec![dr]));
    let out = run(
        &mut p,
        &[
            tcp((ROUTER, OURS), (CIP, VIP), (40000, 8000), SYN, 64, b""),
            tcp((ROUTER, OURS), (CIP, VIP), (40001, 8099), SYN, 64, b""),
            tcp((ROUTER, OURS), (CIP, VIP), (40002, 8100), SYN, 64, b""),
            tcp((ROUTER, OURS), (CIP, VIP), (40003, 7999), SYN, 64, b""),
        ],
        0,
    );
    let got: Vec<_> = out
        .iter()
        .map(|f| seen(f))
        .map(|s| (s.dst, s.ports))
        .collect();
    assert_eq!(got, vec![(VIP, (40000, 8000)), (VIP, (40001, 8099))]);
    assert_eq!(drops(&p, DropReason::NoService), 2);
    assert_eq!(p.session_counts().services, vec![2]);
}

#[test]
fn a_single_port_service_wins_over_the_port_zero_service_of_its_vip() {
    let web = service(Mode::Nat, IpProto::TCP);
    let mut rest = range(service(Mode::Nat, IpProto::TCP), 0, 0);
    rest.backends.truncate(1);
    rest.backends[0].addr = ip(RIP2).into();
    rest.backends[0].port = 0;
    let mut p = pipeline(&config(vec![web, rest]));
    let out = run(
        &mut p,
        &[
            tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b""),
            tcp((ROUTER, OURS), (CIP, VIP), (40001, 2222), SYN, 64, b""),
            tcp((ROUTER, OURS), (CIP, VIP), (40002, 80), SYN, 64, b""),
        ],
        0,
    );
    let got: Vec<_> = out
        .iter()
        .map(|f| seen(f))
        .map(|s| (s.dst, s.ports))
        .collect();
    assert_eq!(
        got,
        vec![
            (RIP1, (40000, 8080)),
            // Backend port 0: the port the client asked for.
            (RIP2, (40001, 2222)),
            (RIP2, (40002, 8080)),
        ]
    );
    assert_eq!(p.session_counts().services, vec![2, 1]);
}

#[test]
fn a_nat_reply_from_a_port_zero_backend_goes_back_from_the_port_the_client_asked() {
    let mut all = range(service(Mode::Nat, IpProto::TCP), 0, 0);
    for b in &mut all.backends {
        b.port = 0;
    }
    let mut p = pipeline(&config(vec![all]));
    let out = run(
        &mut p,
        &[
            tcp((ROUTER, OURS), (CIP, VIP), (40000, 5432), SYN, 64, b""),
            tcp((RS1, OURS), (RIP1, CIP), (5432, 40000), SYN | ACK, 64, b""),
        ],
        0,
    );
    let got = addresses_and_ports(&out);
    assert_eq!(
        got,
        vec![(CIP, RIP1, (40000, 5432)), (VIP, CIP, (5432, 40000))]
    );
}

#[test]
fn persistence_on_port_zero_keeps_a_client_on_one_backend_across_ports() {
    // FTP-like: the control connection and the data connections of one
    // client must reach the same server (IPVS persistent port 0).
    let mut all = range(service(Mode::Dr, IpProto::TCP), 0, 0);
    for b in &mut all.backends {
        b.port = 0;
    }
    all.persistence = Some(Persistence {
        timeout_ms: 60_000,
        prefix_len: 32,
    });
    let mut p = pipeline(&config(vec![all]));
    let other = [198, 51, 100, 8];
    let out = run(
        &mut p,
        &[
            tcp((ROUTER, OURS), (CIP, VIP), (40000, 21), SYN, 64, b""),
            tcp((ROUTER, OURS), (other, VIP), (40000, 21), SYN, 64, b""),
            tcp((ROUTER, OURS), (CIP, VIP), (40001, 30000), SYN, 64, b""),
            tcp((ROUTER, OURS), (CIP, VIP), (40002, 30001), SYN, 64, b""),
            tcp((ROUTER, OURS), (other, VIP), (40001, 30002), SYN, 64, b""),
        ],
        0,
    );
    let to: Vec<_> = out.iter().map(|f| (seen(f).src, seen(f).macs.1)).collect();
    assert_eq!(
        to,
        vec![
            (CIP, RS1),
            (other, RS2),
            (CIP, RS1),
            (CIP, RS1),
            (other, RS2)
        ],
        "each client stays on its first backend whatever port it opens"
    );
}

#[test]
fn one_packet_scheduling_sends_each_datagram_on_its_own_and_keeps_no_session() {
    let mut dns = service(Mode::Dr, IpProto::UDP);
    dns.one_packet = true;
    let mut p = pipeline(&config(vec![dns]));
    let q = udp((ROUTER, OURS), CIP, VIP, (5353, 80));
    let out = run(&mut p, &[q.clone(), q.clone(), q.clone()], 0);
    let to: Vec<_> = out.iter().map(|f| seen(f).macs.1).collect();
    assert_eq!(to, vec![RS1, RS2, RS1], "one flow, scheduled per datagram");
    let c = p.counters();
    assert_eq!(c.events.one_packet_scheduled, 3);
    assert_eq!(c.events.sessions_created, 0);
    assert_eq!(p.session_counts().services, vec![0]);
    assert_eq!((c.backends[0].packets_in, c.backends[1].packets_in), (2, 1));
    assert_eq!(c.backends[0].conns + c.backends[1].conns, 0);
}

#[test]
fn tables_refuse_shared_ports_and_one_packet_where_replies_need_a_session() {
    let err = |services| LbTables::build(&config(services)).err().unwrap_or_default();
    let a = range(service(Mode::Dr, IpProto::TCP), 8000, 8099);
    let b = range(service(Mode::Dr, IpProto::TCP), 8050, 8150);
    assert!(err(vec![a.clone(), b]).contains("shares ports with service tcp/192.0.2.10:8000"));
    let single = range(service(Mode::Dr, IpProto::TCP), 8080, 8080);
    assert!(err(vec![a.clone(), single]).contains("shares ports"));
    let all = range(service(Mode::Dr, IpProto::TCP), 0, 0);
    assert_eq!(err(vec![a, all]), "", "port 0 takes what the others leave");
    let mut nat = service(Mode::Nat, IpProto::UDP);
    nat.one_packet = true;
    assert!(err(vec![nat]).contains("one-packet scheduling is for UDP with DR or TUN"));
    let mut tcp = service(Mode::Dr, IpProto::TCP);
    tcp.one_packet = true;
    assert!(err(vec![tcp]).contains("one-packet"));
}

#[test]
fn a_group_shares_backends_and_persistence_and_replies_from_the_address_used() {
    let vip2 = [192, 0, 2, 11];
    let mut web = service(Mode::Nat, IpProto::TCP);
    web.also_listen = vec![(ip(vip2).into(), 443)];
    web.persistence = Some(Persistence {
        timeout_ms: 60_000,
        prefix_len: 32,
    });
    let mut p = pipeline(&config(vec![web]));
    let (other, third) = ([198, 51, 100, 8], [198, 51, 100, 9]);
    let out = run(
        &mut p,
        &[
            tcp((ROUTER, OURS), (CIP, VIP), (40000, 80), SYN, 64, b""),
            tcp((ROUTER, OURS), (other, vip2), (40001, 443), SYN, 64, b""),
            tcp((ROUTER, OURS), (third, VIP), (40003, 80), SYN, 64, b""),
            // Round robin would say RIP2 now; persistence says RIP1.
            tcp((ROUTER, OURS), (CIP, vip2), (40002, 443), SYN, 64, b""),
            tcp((RS1, OURS), (RIP1, CIP), (8080, 40002), SYN | ACK, 64, b""),
        ],
        0,
    );
    let got = addresses_and_ports(&out);
    assert_eq!(
        got,
        vec![
            (CIP, RIP1, (40000, 8080)),
            (other, RIP2, (40001, 8080)),
            (third, RIP1, (40003, 8080)),
            (CIP, RIP1, (40002, 8080)),
            (vip2, CIP, (443, 40002)),
        ],
        "one client, one backend, on either address of the group"
    );
    assert_eq!(p.session_counts().services, vec![4]);
}

#[test]
fn a_group_member_may_not_take_another_services_port() {
    let web = service(Mode::Dr, IpProto::TCP);
    let mut tls = range(service(Mode::Dr, IpProto::TCP), 443, 443);
    tls.also_listen = vec![(ip(VIP).into(), 80)];
    let err = LbTables::build(&config(vec![web, tls.clone()]))
        .err()
        .unwrap_or_default();
    assert!(
        err.contains("tcp/192.0.2.10:80 shares ports with service tcp/192.0.2.10:80"),
        "{err}"
    );
    tls.also_listen = vec![(ip(VIP).into(), 443)];
    let err = LbTables::build(&config(vec![tls]))
        .err()
        .unwrap_or_default();
    assert!(
        err.contains("listens on tcp/192.0.2.10:443 and tcp/192.0.2.10:443"),
        "{err}"
    );
}
