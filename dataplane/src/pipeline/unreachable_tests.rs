//! Destination Unreachable, port unreachable, for a new flow to a service
//! with no backend to take it (`unreachable.rs`), on in-memory ports:
//! each error decoded by etherparse, its checksums verified, its quote
//! the client's packet; rate-limited by the appliance's ICMP budget; none
//! where a backend takes the flow or no service matches.

use std::net::Ipv6Addr;

use etherparse::icmpv4::DestUnreachableHeader;
use etherparse::icmpv6::DestUnreachableCode;
use etherparse::{Icmpv4Type, Icmpv6Type, IpNumber, NetHeaders, PacketHeaders, TransportHeader};

use super::forward6_tests::{config_dr6, learn_backends, service6, tcp6, CLIENT6, VIP6};
use super::nat6_tests::icmp6_error;
use super::tests::*;
use crate::flow::proto::tcp_flags::SYN;
use crate::tables::{Mode, ServiceSpec};
use crate::testutil::assert_checksums_verify;

/// A NAT TCP service whose every backend has weight 0 (quiesced: no new
/// flows), as when health checks have taken them all out.
fn quiesced(mut s: ServiceSpec) -> ServiceSpec {
    for b in &mut s.backends {
        b.weight = 0;
    }
    s
}

fn syn4(sport: u16) -> Vec<u8> {
    tcp((ROUTER, OURS), (CIP, VIP), (sport, 80), SYN, 64, b"")
}

#[test]
fn a_syn_to_a_service_with_no_backend_gets_port_unreachable_from_the_vip() {
    let mut p = pipeline(&config(vec![quiesced(service(Mode::Nat, IpProto::TCP))]));
    let syn = syn4(40000);
    let out = run(&mut p, std::slice::from_ref(&syn), 0);
    assert_eq!(out.len(), 1, "the error only");
    assert_checksums_verify(&out[0]);
    let h = PacketHeaders::from_ethernet_slice(&out[0]).expect("decodes");
    let Some(NetHeaders::Ipv4(ip, _)) = &h.net else {
        panic!("ipv4")
    };
    assert_eq!((ip.source, ip.destination), (VIP, CIP), "from the VIP");
    assert_eq!(ip.protocol, IpNumber::ICMP);
    let Some(TransportHeader::Icmpv4(icmp)) = &h.transport else {
        panic!("icmp")
    };
    assert_eq!(
        icmp.icmp_type,
        Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port)
    );
    // The quote: the client's IPv4 header and the first 8 bytes of TCP.
    assert_eq!(h.payload.slice(), &syn[14..14 + 20 + 8]);
    let macs = (&out[0][6..12], &out[0][0..6]);
    assert_eq!(macs, (&OURS[..], &ROUTER[..]), "back where it came from");
    let c = p.counters();
    assert_eq!(c.drops.get(DropReason::NoBackend), 1);
    assert_eq!(c.events.icmp_errors_sent, 1);
}

#[test]
fn port_unreachables_take_the_icmp_budget() {
    let mut p = pipeline(&config(vec![quiesced(service(Mode::Nat, IpProto::UDP))]));
    let flows: Vec<Vec<u8>> = (0..80)
        .map(|i| udp((ROUTER, OURS), CIP, VIP, (40000 + i, 80)))
        .collect();
    let out = run(&mut p, &flows, 0);
    // The bucket's burst (50) at one instant; the rest suppressed.
    assert_eq!(out.len(), 50);
    let c = p.counters();
    assert_eq!(c.drops.get(DropReason::NoBackend), 80);
    assert_eq!(c.drops.get(DropReason::IcmpRateLimited), 30);
}

#[test]
fn no_error_where_a_backend_takes_the_flow_or_no_service_matches() {
    let mut p = pipeline(&config(vec![service(Mode::Nat, IpProto::TCP)]));
    let out = run(&mut p, &[syn4(40000)], 0);
    assert_eq!(out.len(), 1);
    assert_eq!(seen(&out[0]).dst, RIP1, "forwarded to a backend");
    // Another port of the VIP: no service, nothing sent.
    let other = tcp((ROUTER, OURS), (CIP, VIP), (40001, 81), SYN, 64, b"");
    assert!(run(&mut p, &[other], 1).is_empty());
    assert_eq!(p.counters().events.icmp_errors_sent, 0);
}

#[test]
fn an_ipv6_syn_to_a_service_with_no_backend_gets_port_unreachable_from_the_vip() {
    let mut p = pipeline(&config_dr6(vec![quiesced(service6(IpProto::TCP))]));
    learn_backends(&mut p);
    let syn = tcp6(CLIENT6, VIP6, (40000, 80), SYN, b"");
    let out = run(&mut p, std::slice::from_ref(&syn), 0);
    assert_eq!(out.len(), 1, "the error only");
    let (ty, src, dst, quote, sum_ok) = icmp6_error(&out[0]);
    assert_eq!(
        ty,
        Icmpv6Type::DestinationUnreachable(DestUnreachableCode::Port)
    );
    let addr = |s: &str| s.parse::<Ipv6Addr>().expect("address");
    assert_eq!((src, dst, sum_ok), (addr(VIP6), addr(CLIENT6), true));
    // The whole SYN quoted (it is far below 1280 bytes).
    assert_eq!(quote, &syn[14..]);
    let c = p.counters();
    assert_eq!(c.drops.get(DropReason::NoBackend), 1);
    assert_eq!(c.events.nd.icmpv6_errors_sent, 1);
}
