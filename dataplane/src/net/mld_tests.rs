//! MLD reports read back by etherparse, and the checks on queries.

use super::*;
use crate::wire::mld::{field, RecordType};
use etherparse::{Icmpv6Type as Theirs, SlicedPacket, TransportSlice};

const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

fn iface(addrs: &[&str]) -> Interface {
    Interface {
        port: 0,
        vlan: None,
        addrs: Vec::new(),
        addrs6: addrs.iter().map(|a| (a.parse().unwrap(), 64)).collect(),
    }
}

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn an_interface_listens_to_each_address_solicited_node_group_once() {
    // 2001:db8::1 and fe80::1 share their low 24 bits: one group.
    let g = Groups::of(&iface(&["2001:db8::1", "fe80::1", "2001:db8::abc:def0"]));
    let all: Vec<Ipv6Addr> = g.reports().flatten().copied().collect();
    assert_eq!(all, vec![a("ff02::1:ff00:1"), a("ff02::1:ffbc:def0")]);
    assert!(g.contains(a("ff02::1:ff00:1")));
    assert!(!g.contains(a("ff02::1:ff00:2")));
    assert!(Groups::of(&iface(&[])).is_empty());
}

#[test]
fn many_groups_take_several_reports() {
    let addrs: Vec<String> = (1..=130).map(|i| format!("2001:db8::{i:x}")).collect();
    let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let g = Groups::of(&iface(&refs));
    let sizes: Vec<usize> = g.reports().map(<[Ipv6Addr]>::len).collect();
    assert_eq!(sizes, vec![64, 64, 2]);
    // The largest fits a 1500-byte link.
    assert!(report_frame_len(Some(1), 64) - ethernet::header_len(Some(1)) <= 1500);
}

#[test]
fn reports_come_from_the_link_local_address_or_none() {
    assert_eq!(
        report_source(&iface(&["2001:db8::1", "fe80::7"])),
        a("fe80::7")
    );
    assert_eq!(
        report_source(&iface(&["2001:db8::1"])),
        Ipv6Addr::UNSPECIFIED
    );
}

/// A report etherparse reads: Ethernet to 33:33:0:0:0:16, IPv6 hop limit
/// 1 with the Router Alert hop-by-hop header, ICMPv6 type 143 whose
/// checksum etherparse computes the same, and our records.
#[test]
fn a_report_is_what_rfc_3810_describes() {
    for vlan in [None, Some(42)] {
        let groups = [a("ff02::1:ff00:1"), a("ff02::1:ffbc:def0")];
        let src = a("fe80::1");
        let mut f = vec![0; report_frame_len(vlan, groups.len())];
        assert!(write_report(
            &mut f,
            (vlan, MAC),
            src,
            RecordType::CHANGE_TO_EXCLUDE,
            &groups
        ));
        let p = SlicedPacket::from_ethernet(&f).expect("etherparse reads it");
        assert_eq!(&f[..6], &[0x33, 0x33, 0, 0, 0, 0x16]);
        assert_eq!(&f[6..12], &MAC.0);
        let Some(etherparse::InternetSlice::Ipv6(ip)) = &p.net else {
            panic!("IPv6")
        };
        let h = ip.header();
        assert_eq!(
            (h.source_addr(), h.destination_addr()),
            (src, ALL_MLDV2_ROUTERS)
        );
        assert_eq!(h.hop_limit(), 1);
        assert_eq!(
            h.next_header(),
            etherparse::IpNumber::IPV6_HEADER_HOP_BY_HOP
        );
        let Some(TransportSlice::Icmpv6(icmp)) = &p.transport else {
            panic!("ICMPv6 past the hop-by-hop header: {:?}", p.transport)
        };
        assert_eq!(
            icmp.icmp_type(),
            Theirs::Unknown {
                type_u8: 143,
                code_u8: 0,
                bytes5to8: [0, 0, 0, 2],
            }
        );
        let sum = icmp.icmp_type().calc_checksum(
            src.octets(),
            ALL_MLDV2_ROUTERS.octets(),
            icmp.payload(),
        );
        assert_eq!(sum.ok(), Some(icmp.checksum()));
        // Two records of 20 bytes: type 4, no aux data, no sources, the group.
        let records = icmp.payload();
        assert_eq!(records.len(), 40);
        for (r, g) in records.chunks(20).zip(groups) {
            assert_eq!(&r[..4], &[RecordType::CHANGE_TO_EXCLUDE, 0, 0, 0]);
            assert_eq!(&r[field::record::GROUP], &g.octets());
        }
        // The Router Alert option (type 5, MLD) in the hop-by-hop header.
        let l3 = f.len() - 40 - 8 - 48;
        assert_eq!(&f[l3 + 40..l3 + 48], &[58, 0, 5, 2, 0, 0, 1, 0]);
    }
}

#[test]
fn a_report_needs_groups_and_its_own_length() {
    let mut f = vec![0; report_frame_len(None, 1)];
    assert!(!write_report(&mut f, (None, MAC), a("fe80::1"), 2, &[]));
    let two = [a("ff02::1:ff00:1"), a("ff02::1:ff00:2")];
    assert!(!write_report(&mut f, (None, MAC), a("fe80::1"), 2, &two));
}

/// An MLD query as a querier sends it: link-local source, hop limit 1,
/// Router Alert, to all-nodes (general) or to the group it asks about.
pub(crate) fn query_frame(src: &str, dst: &str, group: &str, hop_limit: u8, v2: bool) -> Vec<u8> {
    let (src, dst, group) = (a(src), a(dst), a(group));
    let mut msg = vec![0u8; if v2 { 28 } else { 24 }];
    msg[0] = MldType::QUERY;
    msg[4..6].copy_from_slice(&1000u16.to_be_bytes());
    msg[8..24].copy_from_slice(&group.octets());
    let sum =
        crate::checksum::ipv6_pseudo_header_sum(src, dst, NextHeader::ICMPV6, msg.len() as u32);
    let c = !crate::checksum::fold(crate::checksum::add_bytes(sum, &msg));
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = vec![0u8; 14 + 40 + 8];
    f[..6].copy_from_slice(&multicast_mac(dst).0);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0x99]);
    f[12..14].copy_from_slice(&EtherType::IPV6.to_be_bytes());
    ipv6::write_header(
        &mut f[14..54],
        &Ipv6Header {
            src,
            dst,
            next_header: NextHeader::HOP_BY_HOP,
            hop_limit,
            payload_len: (8 + msg.len()) as u16,
        },
    );
    f[54..62].copy_from_slice(&mld::ROUTER_ALERT_HOP_BY_HOP);
    f.extend_from_slice(&msg);
    f
}

fn read(f: &[u8]) -> Result<Query, DropReason> {
    let ip = Ipv6Packet::new(&f[14..]).unwrap();
    let msg = &f[62..];
    let m = Icmpv6Packet::new(msg).unwrap();
    read_query(&ip, &m, msg)
}

#[test]
fn queries_are_read_after_rfc_3810s_checks() {
    let general = query_frame("fe80::99", "ff02::1", "::", 1, true);
    assert_eq!(read(&general), Ok(Query { group: None }));
    let v1 = query_frame("fe80::99", "ff02::1", "::", 1, false);
    assert_eq!(read(&v1), Ok(Query { group: None }));
    let one = query_frame("fe80::99", "ff02::1:ff00:1", "ff02::1:ff00:1", 1, true);
    assert_eq!(
        read(&one),
        Ok(Query {
            group: Some(a("ff02::1:ff00:1"))
        })
    );
    for bad in [
        query_frame("2001:db8::99", "ff02::1", "::", 1, true),
        query_frame("fe80::99", "ff02::1", "::", 2, true),
        query_frame("fe80::99", "ff02::1", "ff02::1:ff00:1", 1, true),
    ] {
        assert_eq!(read(&bad), Err(DropReason::MldBadQuery));
    }
    let mut corrupt = general.clone();
    corrupt[62 + 5] ^= 1;
    assert_eq!(read(&corrupt), Err(DropReason::Icmpv6BadChecksum));
}
