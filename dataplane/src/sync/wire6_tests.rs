//! The IPv6 record on the wire: round trips beside IPv4 records, what a
//! node from before it reads, and the refusals.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::super::{decode, decode_record, Encoder, Header, HEADER_LEN};
use super::*;
use crate::flow::table::Forwarding;
use crate::flow::{ProtoState, TcpState};
use crate::sync::{SessionRecord, SyncRecord};
use crate::tuple::FiveTuple;

fn record6(i: u16) -> SessionRecord6 {
    SessionRecord6 {
        kind: RecordKind::Created,
        forwarding: Forwarding::Dr,
        state: ProtoState::Tcp(TcpState::SynRecv),
        inbound: FiveTuple6 {
            src: "2001:db8:2::7".parse().expect("address"),
            dst: "2001:db8:10::10".parse().expect("address"),
            src_port: 40000 + i,
            dst_port: 80,
            proto: IpProto::TCP,
        },
        backend: ("2001:db8:1::11".parse().expect("address"), 80),
        timeout_ms: 60_000,
        local: None,
        shift: None,
        splice: None,
    }
}

fn record4(i: u16) -> SessionRecord {
    let t = FiveTuple {
        src: Ipv4Addr::new(198, 51, 100, 7),
        dst: Ipv4Addr::new(192, 0, 2, 10),
        src_port: 40000 + i,
        dst_port: 80,
        proto: IpProto::TCP,
    };
    SessionRecord {
        kind: RecordKind::Changed,
        forwarding: Forwarding::Dr,
        state: ProtoState::Tcp(TcpState::Established),
        inbound: t,
        outbound: t,
        backend: (Ipv4Addr::new(10, 0, 1, 11), 80),
        timeout_ms: 900_000,
        splice: None,
    }
}

/// A TCP NAT record, or a FULLNAT one with its local endpoint.
fn nat_or_fullnat6(i: u16, fullnat: bool) -> SessionRecord6 {
    SessionRecord6 {
        forwarding: if fullnat {
            Forwarding::FullNat
        } else {
            Forwarding::Nat
        },
        local: fullnat.then(|| ("2001:db8:1::100".parse().expect("address"), 40000)),
        ..record6(i)
    }
}

/// `r` (NAT, or FULLNAT with its local slot) with one more slot of its
/// own round-trips between two IPv4 records.
fn round_trips_with_one_more_slot(
    r: SessionRecord6,
    fullnat: bool,
) -> Result<(), proptest::test_runner::TestCaseError> {
    let records = [record4(1).into(), r.into(), record4(2).into()];
    let bytes = datagram(&records);
    let slots = 2 + 2 + 1 + usize::from(fullnat);
    prop_assert_eq!(bytes.len(), HEADER_LEN + slots * RECORD_LEN);
    prop_assert_eq!(read(&bytes), records.map(Ok).to_vec());
    Ok(())
}

fn datagram(records: &[SyncRecord]) -> Vec<u8> {
    let mut e = Encoder::default();
    for r in records {
        assert!(e.push(r), "fits");
    }
    let header = Header {
        boot_id: 7,
        sequence: 1,
        workers: 2,
    };
    e.finish(&header, None).to_vec()
}

fn read(bytes: &[u8]) -> Vec<Result<SyncRecord, WireError>> {
    decode(bytes, None).expect("whole").records().collect()
}

proptest! {
    /// IPv6 records with any field values round-trip, between IPv4 ones,
    /// each taking two slots of the header's count.
    #[test]
    fn ipv6_records_round_trip_beside_ipv4_ones(
        src in any::<u128>(), dst in any::<u128>(), sp in any::<u16>(), dp in any::<u16>(),
        baddr in any::<u128>(), bport in any::<u16>(), timeout in any::<u32>(),
        kind in 1u8..=4, udp: bool, state in 0usize..9,
    ) {
        let r = SessionRecord6 {
            kind: RecordKind::from_u8(kind).expect("a kind"),
            forwarding: Forwarding::Dr,
            state: match udp {
                true => ProtoState::Udp,
                false => ProtoState::Tcp(TcpState::ALL[state]),
            },
            inbound: FiveTuple6 {
                src: Ipv6Addr::from(src),
                dst: Ipv6Addr::from(dst),
                src_port: sp,
                dst_port: dp,
                proto: if udp { IpProto::UDP } else { IpProto::TCP },
            },
            backend: (Ipv6Addr::from(baddr), bport),
            timeout_ms: timeout,
            local: None,
            shift: None,
            splice: None,
        };
        let records = [record4(1).into(), r.into(), record4(2).into()];
        let bytes = datagram(&records);
        prop_assert_eq!(bytes.len(), HEADER_LEN + 4 * RECORD_LEN);
        prop_assert_eq!(decode(&bytes, None).expect("decodes").len(), 4);
        prop_assert_eq!(read(&bytes), records.map(Ok).to_vec());
    }
}

#[test]
fn a_node_without_ipv6_records_refuses_both_slots_and_reads_the_rest() {
    // A node from before IPv6 records reads each 40-byte slot with
    // `decode_record`, as it did: kinds 6 and 7 are unknown to it.
    let bytes = datagram(&[record4(1).into(), record6(1).into(), record4(2).into()]);
    let d = decode(&bytes, None).expect("decodes");
    let old: Vec<_> = d.body.chunks_exact(RECORD_LEN).map(decode_record).collect();
    let bad = Err(WireError::BadRecord);
    assert_eq!(old, vec![Ok(record4(1)), bad, bad, Ok(record4(2))]);
}

#[test]
fn a_bad_or_half_ipv6_record_is_refused_once_and_the_rest_read() {
    let good = datagram(&[record6(1).into(), record4(2).into()]);
    let first = HEADER_LEN;
    let rest = HEADER_LEN + RECORD_LEN;
    let refused = vec![Err(WireError::BadRecord), Ok(record4(2).into())];
    // An unknown event, forwarding, protocol (ICMP is no IPv6 flow), a
    // protocol that differs between the slots, an unknown state.
    for (at, value) in [
        (first + 1, 9),
        (first + 2, 7),
        (first + 3, 1),
        (rest + 2, 17),
        (rest + 1, 0x12),
    ] {
        let mut bad = good.clone();
        bad[at] = value;
        assert_eq!(read(&bad), refused, "byte {at} = {value}");
    }
    // The first slot without the second, and the second alone.
    let mut half = good.clone();
    half.drain(rest..rest + RECORD_LEN);
    half[6..8].copy_from_slice(&2u16.to_be_bytes());
    assert_eq!(read(&half), refused);
    let mut lone = good.clone();
    lone.drain(first..first + RECORD_LEN);
    lone[6..8].copy_from_slice(&2u16.to_be_bytes());
    assert_eq!(read(&lone), refused);
}

#[test]
fn both_slots_go_in_one_datagram() {
    let mut e = Encoder::default();
    for i in 0..MAX_RECORDS as u16 - 1 {
        assert!(e.push(record4(i)));
    }
    // One slot left: an IPv6 record does not fit, an IPv4 one does.
    assert!(!e.push(record6(99)));
    assert!(e.push(record4(99)));
    // A template is never written.
    let mut e = Encoder::default();
    let template = SessionRecord6 {
        state: ProtoState::Template,
        ..record6(1)
    };
    assert!(!e.push(template) && e.is_empty());
}

proptest! {
    /// A FULLNAT record takes a third slot with its local endpoint and
    /// round-trips, between IPv4 ones.
    #[test]
    fn ipv6_fullnat_records_carry_their_local_endpoint(
        laddr in any::<u128>(), lport in any::<u16>(), i in 0u16..1000,
    ) {
        let r = SessionRecord6 {
            forwarding: Forwarding::FullNat,
            local: Some((Ipv6Addr::from(laddr), lport)),
            ..record6(i)
        };
        let records = [record4(1).into(), r.into(), record4(2).into()];
        let bytes = datagram(&records);
        prop_assert_eq!(bytes.len(), HEADER_LEN + 5 * RECORD_LEN);
        prop_assert_eq!(read(&bytes), records.map(Ok).to_vec());
    }
}

#[test]
fn a_fullnat_record_without_its_local_endpoint_or_another_with_one_is_refused() {
    // FULLNAT without the third slot: written as DR then relabelled.
    let mut bytes = datagram(&[record6(1).into()]);
    bytes[HEADER_LEN + 2] = crate::sync::record::forwarding_code(Forwarding::FullNat);
    assert_eq!(read(&bytes), vec![Err(WireError::BadRecord)]);
    // DR with a third slot.
    let fullnat = SessionRecord6 {
        forwarding: Forwarding::FullNat,
        local: Some(("2001:db8:1::100".parse().expect("address"), 40000)),
        ..record6(1)
    };
    let mut bytes = datagram(&[fullnat.into()]);
    bytes[HEADER_LEN + 2] = crate::sync::record::forwarding_code(Forwarding::Dr);
    assert_eq!(read(&bytes), vec![Err(WireError::BadRecord)]);
}

proptest! {
    /// A TCP NAT or FULLNAT record with a PROXY header's shift takes one
    /// more slot (kind 9) and round-trips, between IPv4 ones.
    #[test]
    fn ipv6_records_carry_a_proxy_headers_shift(
        client_seq in any::<u32>(), client_from in any::<u32>(), sent in any::<bool>(),
        v2 in any::<bool>(), fullnat in any::<bool>(), i in 0u16..1000,
    ) {
        let shift = crate::sync::ShiftRecord6 {
            client_seq,
            client_from,
            header: match v2 {
                true => crate::client_addr::proxy_header::ProxyVersion::V2,
                false => crate::client_addr::proxy_header::ProxyVersion::V1,
            },
            header_sent: sent,
        };
        let r = SessionRecord6 {
            shift: Some(shift),
            ..nat_or_fullnat6(i, fullnat)
        };
        round_trips_with_one_more_slot(r, fullnat)?;
    }
}

#[test]
fn a_shift_on_a_dr_record_or_of_an_unknown_version_is_refused() {
    let shift = crate::sync::ShiftRecord6 {
        client_seq: 52,
        client_from: 1001,
        header: crate::client_addr::proxy_header::ProxyVersion::V2,
        header_sent: false,
    };
    let nat = SessionRecord6 {
        forwarding: Forwarding::Nat,
        shift: Some(shift),
        ..record6(1)
    };
    let good = datagram(&[nat.into()]);
    assert_eq!(read(&good), vec![Ok(nat.into())]);
    let mut dr = good.clone();
    dr[HEADER_LEN + 2] = crate::sync::record::forwarding_code(Forwarding::Dr);
    assert_eq!(read(&dr), vec![Err(WireError::BadRecord)]);
    let mut v3 = good;
    v3[HEADER_LEN + 2 * RECORD_LEN + 2] = 3;
    assert_eq!(read(&v3), vec![Err(WireError::BadRecord)]);
}

proptest! {
    /// A SNAT record (TCP, UDP, or an echo by its identifier) takes a third
    /// slot with its SNAT endpoint, no backend, and round-trips between
    /// IPv4 ones.
    #[test]
    fn ipv6_snat_records_carry_their_snat_endpoint(
        saddr in any::<u128>(), sport in any::<u16>(), kind in 0usize..3, i in 0u16..1000,
    ) {
        let (proto, state) = [
            (IpProto::TCP, ProtoState::Tcp(TcpState::Established)),
            (IpProto::UDP, ProtoState::Udp),
            (crate::rewrite6::ICMPV6, ProtoState::IcmpEcho),
        ][kind];
        let mut r = SessionRecord6 {
            forwarding: Forwarding::Snat,
            state,
            backend: (Ipv6Addr::UNSPECIFIED, 0),
            local: Some((Ipv6Addr::from(saddr), sport)),
            ..record6(i)
        };
        r.inbound.proto = proto;
        let records = [record4(1).into(), r.into(), record4(2).into()];
        let bytes = datagram(&records);
        prop_assert_eq!(bytes.len(), HEADER_LEN + 5 * RECORD_LEN);
        prop_assert_eq!(read(&bytes), records.map(Ok).to_vec());
    }
}

#[test]
fn a_snat_record_without_its_endpoint_or_an_echo_of_another_mode_is_refused() {
    let snat = SessionRecord6 {
        forwarding: Forwarding::Snat,
        backend: (Ipv6Addr::UNSPECIFIED, 0),
        local: Some(("2001:db8:2::99".parse().expect("address"), 40000)),
        ..record6(1)
    };
    // SNAT without the third slot: written as DR then relabelled.
    let mut bytes = datagram(&[record6(1).into()]);
    bytes[HEADER_LEN + 2] = crate::sync::record::forwarding_code(Forwarding::Snat);
    assert_eq!(read(&bytes), vec![Err(WireError::BadRecord)]);
    // An echo: SNAT's, not FULLNAT's (its protocol byte is in both slots).
    let mut echo = SessionRecord6 {
        state: ProtoState::IcmpEcho,
        ..snat
    };
    echo.inbound.proto = crate::rewrite6::ICMPV6;
    let mut bytes = datagram(&[echo.into()]);
    assert_eq!(read(&bytes), vec![Ok(echo.into())]);
    bytes[HEADER_LEN + 2] = crate::sync::record::forwarding_code(Forwarding::FullNat);
    assert_eq!(read(&bytes), vec![Err(WireError::BadRecord)]);
}

proptest! {
    /// A SYN-proxied TCP NAT or FULLNAT record takes one more slot (kind
    /// 10) with its splice and round-trips, between IPv4 ones.
    #[test]
    fn ipv6_records_carry_a_syn_proxys_splice(
        adjust in any::<[u32; 4]>(), cw in prop::option::of(0u8..=14),
        bw in prop::option::of(0u8..=14), fullnat in any::<bool>(), i in 0u16..1000,
    ) {
        let splice = crate::sync::SpliceRecord {
            adjust: crate::synproxy::seq::SeqAdjust {
                client_seq: adjust[0],
                client_from: adjust[1],
                backend_seq: adjust[2],
                backend_ts: adjust[3],
            },
            syn_proxy: true,
            header: None,
            header_sent: false,
            client_wscale: cw,
            backend_wscale: bw,
        };
        let r = SessionRecord6 {
            splice: Some(splice),
            ..nat_or_fullnat6(i, fullnat)
        };
        round_trips_with_one_more_slot(r, fullnat)?;
    }
}

#[test]
fn a_splice_on_a_dr_or_udp_record_or_with_a_bad_window_shift_is_refused() {
    let splice = crate::sync::SpliceRecord {
        adjust: Default::default(),
        syn_proxy: true,
        header: None,
        header_sent: false,
        client_wscale: Some(7),
        backend_wscale: None,
    };
    let nat = SessionRecord6 {
        forwarding: Forwarding::Nat,
        splice: Some(splice),
        ..record6(1)
    };
    assert_eq!(read(&datagram(&[nat.into()])), vec![Ok(nat.into())]);
    // Relabelled DR; then UDP (the protocol byte of both slots); then a
    // client window shift of 15.
    let mut bytes = datagram(&[nat.into()]);
    bytes[HEADER_LEN + 2] = crate::sync::record::forwarding_code(Forwarding::Dr);
    assert_eq!(read(&bytes), vec![Err(WireError::BadRecord)]);
    let mut bytes = datagram(&[nat.into()]);
    bytes[HEADER_LEN + 3] = 17;
    bytes[HEADER_LEN + RECORD_LEN + 2] = 17;
    assert_eq!(read(&bytes), vec![Err(WireError::BadRecord)]);
    let mut bytes = datagram(&[nat.into()]);
    bytes[HEADER_LEN + 2 * RECORD_LEN + 2] = 15;
    assert_eq!(read(&bytes), vec![Err(WireError::BadRecord)]);
}
