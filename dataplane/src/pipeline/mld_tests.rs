//! MLD through the pipeline (`local6.rs`, `net::mld`): a querier's general
//! query answered with every group of the interface, a query about one of
//! our groups with that one, a query about another group left alone, a
//! malformed one counted.

use std::net::Ipv6Addr;

use super::local6_tests::*;
use super::tests::*;
use super::*;
use crate::net::mld::tests::query_frame;
use crate::net::mld::{report_frame_len, write_report};
use crate::net::nd::solicited_node;
use crate::wire::ethernet::MacAddr;
use crate::wire::mld::RecordType;

fn quiet() -> Pipeline<crate::buf::TestBuf> {
    let mut cfg = config6();
    cfg.garp.count = 0;
    pipeline(&cfg)
}

/// Our answer: MODE_IS_EXCLUDE of `groups`, from our link-local address.
fn our_answer(groups: &[&str]) -> Vec<u8> {
    let groups: Vec<Ipv6Addr> = groups.iter().map(|g| g.parse().unwrap()).collect();
    let mut f = vec![0; report_frame_len(None, groups.len())];
    let src = OUR_LL.parse().unwrap();
    let kind = RecordType::MODE_IS_EXCLUDE;
    assert!(write_report(
        &mut f,
        (None, MacAddr(OURS)),
        src,
        kind,
        &groups
    ));
    f
}

#[test]
fn a_general_query_is_answered_with_every_group_of_the_interface() {
    // OUR6 (2001:db8::1) and OUR_LL (fe80::aa): two groups.
    let ours = |s: &str| solicited_node(s.parse().unwrap()).to_string();
    assert_eq!(
        (ours(OUR6), ours(OUR_LL)),
        ("ff02::1:ff00:1".into(), "ff02::1:ff00:aa".into())
    );
    let mut p = quiet();
    for v2 in [true, false] {
        let q = query_frame("fe80::99", "ff02::1", "::", 1, v2);
        let out = run(&mut p, &[q], 0);
        assert_eq!(
            out,
            vec![our_answer(&["ff02::1:ff00:1", "ff02::1:ff00:aa"])]
        );
    }
    let e = p.counters().events.nd;
    assert_eq!((e.mld_queries_answered, e.mld_reports_sent), (2, 2));
    assert_eq!(p.counters().drops.iter().map(|(_, n)| n).sum::<u64>(), 0);
}

#[test]
fn a_query_about_one_group_is_answered_for_it_alone() {
    let mut p = quiet();
    let q = query_frame("fe80::99", "ff02::1:ff00:aa", "ff02::1:ff00:aa", 1, true);
    assert_eq!(run(&mut p, &[q], 0), vec![our_answer(&["ff02::1:ff00:aa"])]);
    // Another host's group: not ours to answer; it takes IPv6's old path.
    let q = query_frame("fe80::99", "ff02::1:ff00:5", "ff02::1:ff00:5", 1, true);
    assert!(run(&mut p, &[q], 0).is_empty());
    assert_eq!(p.counters().events.nd.mld_queries_answered, 1);
    assert_eq!(p.counters().drops.get(DropReason::Ipv6NotForwarded), 1);
}

#[test]
fn malformed_queries_are_dropped_by_name() {
    let mut p = quiet();
    let global = query_frame("2001:db8::99", "ff02::1", "::", 1, true);
    let routed = query_frame("fe80::99", "ff02::1", "::", 64, true);
    let mut corrupt = query_frame("fe80::99", "ff02::1", "::", 1, true);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x40;
    assert!(run(&mut p, &[global, routed, corrupt], 0).is_empty());
    let d = p.counters().drops;
    assert_eq!(d.get(DropReason::MldBadQuery), 2);
    assert_eq!(d.get(DropReason::Icmpv6BadChecksum), 1);
    assert_eq!(p.counters().events.nd.mld_reports_sent, 0);
}
