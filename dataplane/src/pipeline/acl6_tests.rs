//! Access lists of IPv6 services (`tables/acl.rs`, checked by
//! `FlowState::open6`): a client an IPv6 prefix denies gets no session and
//! is counted on the service, the others are forwarded, and `explain`
//! says which.

use std::net::Ipv6Addr;

use super::forward6_tests::{config_dr6, learn_backends, service6, tcp6, VIP6};
use super::tests::*;
use crate::tables::acl::AclSpec;
use crate::tuple::FiveTuple6;

fn a6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

#[test]
fn an_ipv6_service_refuses_the_clients_its_access_list_denies() {
    let mut s = service6(IpProto::TCP);
    s.acl = AclSpec {
        allow6: vec![(a6("2001:db8:2::"), 48)],
        deny6: vec![(a6("2001:db8:2:bad::"), 64)],
        ..AclSpec::default()
    };
    let mut p = pipeline(&config_dr6(vec![s]));
    learn_backends(&mut p);
    let syn = |client: &str, port| tcp6(client, VIP6, (port, 80), SYN, b"");
    let out = run(
        &mut p,
        &[
            syn("2001:db8:2::7", 40000),
            syn("2001:db8:2:bad::7", 40001),
            // Outside the allow list: a whitelist.
            syn("2001:db8:3::7", 40002),
        ],
        0,
    );
    assert_eq!(out.len(), 1, "only the allowed client's SYN leaves");
    assert_eq!(&out[0][22..38], &a6("2001:db8:2::7").octets());
    assert_eq!(drops(&p, DropReason::AclDenied), 2);
    assert_eq!(p.counters().services[0].denied, 2);
    assert_eq!(p.stats(0).table6_used, 1);
    let explain = |client: &str| {
        let t = FiveTuple6 {
            src: a6(client),
            dst: a6(VIP6),
            src_port: 50000,
            dst_port: 80,
            proto: IpProto::TCP,
        };
        p.explain6(&t)
            .into_iter()
            .map(|s| s.detail)
            .collect::<Vec<_>>()
            .join("; ")
    };
    assert!(
        explain("2001:db8:2:bad::1").contains("its access list does not let this client in"),
        "{}",
        explain("2001:db8:2:bad::1")
    );
    assert!(!explain("2001:db8:2::1").contains("access list"));
}
