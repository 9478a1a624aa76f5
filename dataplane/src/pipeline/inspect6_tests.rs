//! The operator's view of IPv6 flows (`inspect.rs`): session listings
//! filtered by IPv6 client and backend addresses, prefixes and
//! address-and-port, next to IPv4 sessions in the same worker.

use std::net::SocketAddr;

use super::forward6_tests::{config_dr6, learn_backends, service6, tcp6, CLIENT6, VIP6};
use super::tests::*;
use super::*;
use crate::buf::TestBuf;
use crate::pipeline::inspect::SessionFilter;
use crate::tables::Mode;

const OTHER6: &str = "2001:db8:3::9";

/// An IPv4 NAT service and the IPv6 DR one, with two IPv4 sessions and
/// three IPv6 ones (two clients, both backends).
fn mixed() -> Pipeline<TestBuf> {
    let cfg = config_dr6(vec![
        service(Mode::Nat, IpProto::TCP),
        service6(IpProto::TCP),
    ]);
    let mut p = pipeline(&cfg);
    learn_backends(&mut p);
    let syn4 = |sport| tcp((ROUTER, OURS), (CIP, VIP), (sport, 80), SYN, 64, b"");
    let out = run(
        &mut p,
        &[
            syn4(40000),
            syn4(40001),
            tcp6(CLIENT6, VIP6, (40000, 80), SYN, b""),
            tcp6(CLIENT6, VIP6, (40001, 80), SYN, b""),
            tcp6(OTHER6, VIP6, (40002, 80), SYN, b""),
        ],
        0,
    );
    assert_eq!(out.len(), 5);
    p
}

/// The sessions `filter` lists, as "client -> backend", walked in slices
/// of `slice` slots as a worker walks them between polls.
fn listed(p: &Pipeline<TestBuf>, filter: &str, slice: usize) -> Vec<String> {
    let filter: SessionFilter = match filter.split_once('=') {
        None => SessionFilter::default(),
        Some(("client", m)) => SessionFilter {
            client: Some(m.parse().expect("client")),
            ..SessionFilter::default()
        },
        Some(("backend", m)) => SessionFilter {
            backend: Some(m.parse().expect("backend")),
            ..SessionFilter::default()
        },
        Some(other) => panic!("{other:?}"),
    };
    let mut seen = Vec::new();
    let mut from = 0;
    let mut slices = 0;
    while from < p.session_slots() {
        from = p.scan_sessions(&filter, from, slice, 0, |v| {
            let c = SocketAddr::new(v.client.0, v.client.1);
            let b = SocketAddr::new(v.backend.0, v.backend.1);
            seen.push(format!("{c} -> {b}"));
            true
        });
        slices += 1;
        assert!(slices <= p.session_slots(), "the walk moves on");
    }
    seen.sort();
    seen
}

#[test]
fn ipv6_sessions_are_filtered_by_address_prefix_and_port() {
    let p = mixed();
    let all = listed(&p, "", 300);
    assert_eq!(all.len(), 5, "{all:?}");
    let v6: Vec<String> = all.iter().filter(|s| s.starts_with('[')).cloned().collect();
    assert_eq!(v6.len(), 3, "{all:?}");
    let to = |b: &str| -> Vec<String> {
        v6.iter()
            .filter(|s| s.ends_with(&format!("-> {b}")))
            .cloned()
            .collect()
    };
    for slice in [300, 7, 1] {
        let l = |f: &str| listed(&p, f, slice);
        // A client by address, by its /64, by a wider prefix.
        assert_eq!(
            l("client=2001:db8:2::7"),
            [
                "[2001:db8:2::7]:40000 -> [2001:db8:1::11]:80",
                "[2001:db8:2::7]:40001 -> [2001:db8:1::12]:80"
            ]
        );
        assert_eq!(l("client=2001:db8:2::/64"), l("client=2001:db8:2::7"));
        assert_eq!(l("client=2001:db8::/32"), v6);
        assert_eq!(l("client=::/0"), v6);
        assert_eq!(l("client=[2001:db8:3::9]:40002").len(), 1);
        assert_eq!(l("client=[2001:db8:3::9]:40000"), Vec::<String>::new());
        assert_eq!(l("client=2001:db8:4::/48"), Vec::<String>::new());
        // A backend by address, address and port, prefix.
        assert_eq!(l("backend=2001:db8:1::12"), to("[2001:db8:1::12]:80"));
        assert_eq!(l("backend=[2001:db8:1::11]:80"), to("[2001:db8:1::11]:80"));
        assert_eq!(l("backend=[2001:db8:1::11]:8080"), Vec::<String>::new());
        assert_eq!(l("backend=2001:db8:1::/64"), v6);
        // IPv4 filters see IPv4 sessions only, and the other way round.
        let v4 = l("client=198.51.100.0/24");
        assert_eq!(
            v4,
            [
                "198.51.100.7:40000 -> 10.0.1.11:8080",
                "198.51.100.7:40001 -> 10.0.1.12:8080"
            ]
        );
        assert_eq!(l("client=0.0.0.0/0"), v4);
        assert_eq!(l("backend=10.0.1.12:8080"), v4[1..]);
        assert_eq!(l("client=::ffff:198.51.100.7"), Vec::<String>::new());
    }
}
