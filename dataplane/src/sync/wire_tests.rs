use proptest::prelude::*;

use super::*;
use crate::client_addr::proxy_header::ProxyVersion;
use crate::flow::table::Forwarding;
use crate::flow::{ProtoState, TcpState};
use crate::sync::SpliceRecord;
use crate::synproxy::seq::SeqAdjust;

fn record(i: u16) -> SessionRecord {
    let inbound = FiveTuple {
        src: Ipv4Addr::new(198, 51, 100, 7),
        dst: Ipv4Addr::new(192, 0, 2, 10),
        src_port: 40000 + i,
        dst_port: 80,
        proto: IpProto::TCP,
    };
    SessionRecord {
        kind: RecordKind::Created,
        forwarding: Forwarding::FullNat,
        state: ProtoState::Tcp(TcpState::SynRecv),
        inbound,
        outbound: FiveTuple {
            src: Ipv4Addr::new(10, 0, 1, 11),
            dst: Ipv4Addr::new(10, 0, 1, 100),
            src_port: 8080,
            dst_port: 1024 + i,
            proto: IpProto::TCP,
        },
        backend: (Ipv4Addr::new(10, 0, 1, 11), 8080),
        timeout_ms: 30_000,
        splice: None,
    }
}

const HEADER: Header = Header {
    boot_id: 0x0102_0304_0506_0708,
    sequence: 9,
    workers: 2,
};

fn datagram(records: &[SessionRecord], key: Option<&Key>) -> Vec<u8> {
    let mut e = Encoder::default();
    for r in records {
        assert!(e.push(r));
    }
    e.finish(&HEADER, key).to_vec()
}

#[test]
fn a_datagram_round_trips_signed_and_unsigned() {
    let key = Key::new(b"0123456789abcdef");
    let records: Vec<SessionRecord> = (0..MAX_RECORDS as u16).map(record).collect();
    for k in [None, Some(&key)] {
        let bytes = datagram(&records, k);
        assert!(bytes.len() <= MAX_DATAGRAM && MAX_DATAGRAM <= 1472);
        let d = decode(&bytes, k).expect("decodes");
        assert_eq!(d.header, HEADER);
        let got: Vec<SessionRecord> = d
            .records()
            .map(|r| r.expect("record").v4().expect("IPv4"))
            .collect();
        assert_eq!(got, records);
    }
    // Full at MAX_RECORDS.
    let mut e = Encoder::default();
    for r in &records {
        assert!(e.push(r));
    }
    assert!(e.is_full() && !e.push(record(99)));
    // A hello has no records.
    let hello = Encoder::default().finish(&HEADER, None).to_vec();
    assert_eq!(hello.len(), HEADER_LEN);
    assert!(decode(&hello, None).expect("hello").is_empty());
}

#[test]
fn bad_datagrams_are_refused_with_their_reason() {
    let key = Key::new(b"0123456789abcdef");
    let other = Key::new(b"fedcba9876543210");
    let good = datagram(&[record(1), record(2)], Some(&key));
    assert_eq!(
        decode(&good[..10], Some(&key)).err(),
        Some(WireError::Truncated)
    );
    assert_eq!(
        decode(&good[..good.len() - 1], Some(&key)).err(),
        Some(WireError::BadLength)
    );
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(
        decode(&longer, Some(&key)).err(),
        Some(WireError::BadLength)
    );
    let mut foreign = good.clone();
    foreign[0] = b'X';
    assert_eq!(decode(&foreign, Some(&key)).err(), Some(WireError::Foreign));
    let mut v2 = good.clone();
    v2[4] = 2;
    assert_eq!(decode(&v2, Some(&key)).err(), Some(WireError::BadVersion));
    // Wrong key, no key, unsigned while we have one, a flipped bit.
    assert_eq!(decode(&good, Some(&other)).err(), Some(WireError::BadAuth));
    assert_eq!(decode(&good, None).err(), Some(WireError::BadAuth));
    let unsigned = datagram(&[record(1)], None);
    assert_eq!(
        decode(&unsigned, Some(&key)).err(),
        Some(WireError::BadAuth)
    );
    let mut garbled = good.clone();
    garbled[HEADER_LEN + 5] ^= 0x40;
    assert_eq!(decode(&garbled, Some(&key)).err(), Some(WireError::BadAuth));
    // An unknown record code is refused alone.
    let mut odd = datagram(&[record(1), record(2)], None);
    odd[HEADER_LEN] = 9;
    let d = decode(&odd, None).expect("datagram is whole");
    let got: Vec<_> = d.records().collect();
    assert_eq!(got[0], Err(WireError::BadRecord));
    assert_eq!(got[1], Ok(record(2).into()));
}

proptest! {
    /// Whatever arrives, the decoder answers without panicking, and a
    /// datagram it accepts has exactly the records its length says.
    #[test]
    fn the_decoder_takes_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
        if let Ok(d) = decode(&bytes, None) {
            prop_assert_eq!(HEADER_LEN + d.len() * RECORD_LEN, bytes.len());
            for r in d.records() {
                let _ = r;
            }
        }
        let key = Key::new(b"0123456789abcdef");
        prop_assert!(decode(&bytes, Some(&key)).is_err());
    }

    /// Any good datagram with one byte changed is refused when signed.
    #[test]
    fn a_changed_byte_breaks_the_signature(at in 0usize..(HEADER_LEN + 3 * RECORD_LEN + 32), bit in 0u8..8) {
        let key = Key::new(b"0123456789abcdef");
        let mut bytes = datagram(&[record(1), record(2), record(3)], Some(&key));
        bytes[at] ^= 1 << bit;
        prop_assert!(decode(&bytes, Some(&key)).is_err());
    }

    /// Records with any field values round-trip.
    #[test]
    fn records_round_trip(
        src in any::<u32>(), dst in any::<u32>(), sp in any::<u16>(), dp in any::<u16>(),
        osrc in any::<u32>(), odst in any::<u32>(), osp in any::<u16>(), odp in any::<u16>(),
        baddr in any::<u32>(), bport in any::<u16>(), timeout in any::<u32>(), state in 0usize..9,
    ) {
        let mut r = record(0);
        r.inbound = FiveTuple { src: src.into(), dst: dst.into(), src_port: sp, dst_port: dp, proto: IpProto::TCP };
        r.outbound = FiveTuple { src: osrc.into(), dst: odst.into(), src_port: osp, dst_port: odp, proto: IpProto::TCP };
        r.backend = (baddr.into(), bport);
        r.timeout_ms = timeout;
        r.state = ProtoState::Tcp(TcpState::ALL[state]);
        let bytes = datagram(&[r], None);
        let d = decode(&bytes, None).expect("decodes");
        let got: Vec<_> = d.records().collect();
        prop_assert_eq!(got, vec![Ok(r.into())]);
    }
}

fn spliced(i: u16, s: SpliceRecord) -> SessionRecord {
    SessionRecord {
        splice: Some(s),
        ..record(i)
    }
}

proptest! {
    /// A spliced session's record carries its splice through the wire,
    /// whatever the values.
    #[test]
    fn splices_round_trip(
        adjust in any::<[u32; 4]>(), syn_proxy: bool, version in 0u8..3, sent: bool,
        cw in prop::option::of(0u8..=14), bw in prop::option::of(0u8..=14),
    ) {
        let s = SpliceRecord {
            adjust: SeqAdjust {
                client_seq: adjust[0],
                client_from: adjust[1],
                backend_seq: adjust[2],
                backend_ts: adjust[3],
            },
            syn_proxy,
            header: [None, Some(ProxyVersion::V1), Some(ProxyVersion::V2)][usize::from(version)],
            header_sent: sent,
            client_wscale: cw,
            backend_wscale: bw,
        };
        let records = [record(1), spliced(2, s), record(3)];
        let bytes = datagram(&records, None);
        let d = decode(&bytes, None).expect("decodes");
        prop_assert_eq!(d.len(), 4, "the splice is a record of its own");
        let got: Vec<_> = d.records().collect();
        prop_assert_eq!(got, records.map(|r| Ok(r.into())).to_vec());
    }
}

fn a_splice() -> SpliceRecord {
    SpliceRecord {
        adjust: SeqAdjust {
            backend_seq: 77,
            ..SeqAdjust::default()
        },
        syn_proxy: true,
        ..SpliceRecord::default()
    }
}

#[test]
fn a_node_without_splices_refuses_the_splice_alone() {
    // A node from before splice records reads each 40-byte record with
    // `decode_record`, which is what it had: the splice's kind is unknown
    // to it, so only that record is refused, and the session's record and
    // the ones after it are read as before.
    let bytes = datagram(&[spliced(1, a_splice()), record(2)], None);
    let d = decode(&bytes, None).expect("decodes");
    let old: Vec<_> = d.body.chunks_exact(RECORD_LEN).map(decode_record).collect();
    assert_eq!(
        old,
        vec![Ok(record(1)), Err(WireError::BadRecord), Ok(record(2))]
    );
}

#[test]
fn a_splice_without_its_session_is_refused() {
    // Alone, for another session, or with an unknown flag: refused, and a
    // session whose splice cannot be read with it (installed without its
    // translation it would only break).
    let lone = datagram(&[spliced(1, a_splice())], None);
    let mut stray = lone.clone();
    stray.drain(HEADER_LEN..HEADER_LEN + RECORD_LEN);
    stray[6..8].copy_from_slice(&1u16.to_be_bytes());
    let got: Vec<_> = decode(&stray, None).expect("whole").records().collect();
    assert_eq!(got, vec![Err(WireError::BadRecord)]);
    let splice_at = HEADER_LEN + RECORD_LEN;
    for (at, value) in [
        (splice_at + 4, 99),
        (splice_at + 1, 0x80),
        (splice_at + 32, 15),
    ] {
        let mut bad = lone.clone();
        bad[at] = value;
        let got: Vec<_> = decode(&bad, None).expect("whole").records().collect();
        assert_eq!(got, vec![Err(WireError::BadRecord)], "byte {at}");
    }
}

#[test]
fn a_record_and_its_splice_go_in_one_datagram() {
    let mut e = Encoder::default();
    for i in 0..MAX_RECORDS as u16 - 1 {
        assert!(e.push(record(i)));
    }
    // One place left: the pair does not fit, a plain record does.
    assert!(!e.push(spliced(99, a_splice())));
    assert!(e.push(record(99)));
}
