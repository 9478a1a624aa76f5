use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::checksum::l4_verifies;
use crate::synproxy::options::kind;
use crate::tuple::IpProto;

const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);

/// A segment with a timestamp and two SACK blocks, `pad` NOPs in front so
/// the fields land at odd offsets too, its checksum right, and some data.
fn segment(seq: u32, ack: u32, ts: (u32, u32), sack: [(u32, u32); 2], pad: usize) -> Vec<u8> {
    let mut opts = vec![kind::NOP; pad];
    opts.extend_from_slice(&[kind::TIMESTAMP, 10]);
    opts.extend_from_slice(&ts.0.to_be_bytes());
    opts.extend_from_slice(&ts.1.to_be_bytes());
    opts.extend_from_slice(&[kind::SACK, 18]);
    for (l, r) in sack {
        opts.extend_from_slice(&l.to_be_bytes());
        opts.extend_from_slice(&r.to_be_bytes());
    }
    while opts.len() % 4 != 0 {
        opts.push(kind::END);
    }
    let mut h = vec![0u8; 20];
    h[0..2].copy_from_slice(&40000u16.to_be_bytes());
    h[2..4].copy_from_slice(&80u16.to_be_bytes());
    h[4..8].copy_from_slice(&seq.to_be_bytes());
    h[8..12].copy_from_slice(&ack.to_be_bytes());
    h[12] = (((20 + opts.len()) / 4) as u8) << 4;
    h[13] = tcp::TcpFlags::ACK | tcp::TcpFlags::PSH;
    h[14..16].copy_from_slice(&512u16.to_be_bytes());
    h.extend_from_slice(&opts);
    h.extend_from_slice(b"GET / HTTP/1.0\r\n\r\n");
    let sum = crate::checksum::pseudo_header_sum(SRC, DST, IpProto::TCP, h.len() as u16);
    let c = crate::checksum::fold(crate::checksum::add_bytes(sum, &h));
    h[16..18].copy_from_slice(&(!c).to_be_bytes());
    assert!(l4_verifies(SRC, DST, IpProto::TCP, &h));
    h
}

fn fields(h: &[u8]) -> (u32, u32, (u32, u32), Vec<u32>) {
    let o = options::parse(h).expect("valid");
    let edges = o
        .sack_blocks_at
        .iter()
        .flat_map(|&at| [get_be32(h, at.into()), get_be32(h, usize::from(at) + 4)])
        .collect();
    (
        get_be32(h, 4),
        get_be32(h, 8),
        o.timestamp.expect("ts"),
        edges,
    )
}

#[test]
fn to_backend_and_to_client_move_the_fields_the_table_says() {
    let a = SeqAdjust {
        client_seq: 100,
        client_from: 0,
        backend_seq: 0x8000_0000,
        backend_ts: 7,
    };
    for pad in 0..4 {
        let mut up = segment(1000, 5000, (11, 22), [(5100, 5200), (5300, 5400)], pad);
        a.to_backend(&mut up).expect("valid");
        assert!(l4_verifies(SRC, DST, IpProto::TCP, &up), "pad {pad}");
        let m = 0x8000_0000u32;
        assert_eq!(
            fields(&up),
            (
                1100,
                5000u32.wrapping_sub(m),
                (11, 15),
                vec![
                    5100u32.wrapping_sub(m),
                    5200u32.wrapping_sub(m),
                    5300u32.wrapping_sub(m),
                    5400u32.wrapping_sub(m)
                ]
            ),
        );
        let mut down = segment(9000, 1100, (33, 44), [(1200, 1300), (1400, 1500)], pad);
        a.to_client(&mut down).expect("valid");
        assert!(l4_verifies(SRC, DST, IpProto::TCP, &down), "pad {pad}");
        assert_eq!(
            fields(&down),
            (
                9000u32.wrapping_add(m),
                1000,
                (40, 44),
                vec![1100, 1200, 1300, 1400]
            )
        );
    }
}

#[test]
fn malformed_options_are_refused_untouched() {
    let a = SeqAdjust {
        client_seq: 1,
        backend_seq: 2,
        backend_ts: 3,
        ..SeqAdjust::default()
    };
    let mut h = segment(1, 2, (3, 4), [(5, 6), (7, 8)], 0);
    h[20 + 11] = 17; // the SACK option's length: not whole blocks
    let before = h.clone();
    assert_eq!(a.to_backend(&mut h), Err(Malformed));
    assert_eq!(h, before);
    assert_eq!(a.to_client(&mut h[..10]), Err(Malformed));
}

#[test]
fn identity_changes_nothing() {
    let mut h = segment(1, 2, (3, 4), [(5, 6), (7, 8)], 1);
    let before = h.clone();
    SeqAdjust::default().to_backend(&mut h).expect("valid");
    SeqAdjust::default().to_client(&mut h).expect("valid");
    assert_eq!(h, before);
    assert!(SeqAdjust::default().is_identity());
}

proptest! {
    /// Translating with the SYN proxy's adjustment (no client shift) and
    /// then with its negation restores every byte, checksum included, at
    /// every alignment.
    #[test]
    fn negation_restores_the_segment(
        seq: u32, ack: u32, tsv: u32, tse: u32, e: [u32; 4], pad in 0usize..4,
        bs: u32, bt: u32,
    ) {
        let original = segment(seq, ack, (tsv, tse), [(e[0], e[1]), (e[2], e[3])], pad);
        let a = SeqAdjust { backend_seq: bs, backend_ts: bt, ..SeqAdjust::default() };
        let back = SeqAdjust {
            backend_seq: bs.wrapping_neg(),
            backend_ts: bt.wrapping_neg(),
            ..SeqAdjust::default()
        };
        let mut h = original.clone();
        a.to_backend(&mut h).expect("valid");
        prop_assert!(l4_verifies(SRC, DST, IpProto::TCP, &h));
        back.to_backend(&mut h).expect("valid");
        prop_assert_eq!(&h, &original);
        a.to_client(&mut h).expect("valid");
        prop_assert!(l4_verifies(SRC, DST, IpProto::TCP, &h));
        back.to_client(&mut h).expect("valid");
        // Checksum 0x0000 and 0xffff are the same sum: compare the rest.
        prop_assert_eq!(&h[..16], &original[..16]);
        prop_assert_eq!(&h[18..], &original[18..]);
    }
}

/// The PROXY protocol's shift: `len` header bytes at `from`.
fn header_shift(from: u32, len: u32, bs: u32) -> SeqAdjust {
    SeqAdjust {
        client_seq: len,
        client_from: from,
        backend_seq: bs,
        ..SeqAdjust::default()
    }
}

#[test]
fn the_header_shift_moves_client_bytes_after_the_first_and_not_before() {
    let a = header_shift(1001, 28, 0);
    // The SYN (ISN 1000) and the first payload byte keep their numbers.
    for (seq, want) in [(1000, 1000), (1001, 1001), (1002, 1030), (5001, 5029)] {
        let mut h = segment(seq, 7, (3, 4), [(8, 9), (10, 11)], 1);
        a.to_backend(&mut h).expect("valid");
        assert!(l4_verifies(SRC, DST, IpProto::TCP, &h));
        let (s, ack, ts, edges) = fields(&h);
        assert_eq!((s, ack, ts, edges), (want, 7, (3, 4), vec![8, 9, 10, 11]));
    }
}

#[test]
fn the_backends_acks_lose_the_header_and_acks_inside_it_are_the_first_byte() {
    let a = header_shift(1001, 28, 0);
    // The SYN-ACK acknowledges 1001: the header's first byte, so 1001.
    // 1001 + 28 + 100 acknowledges 100 client bytes.
    let cases = [
        (1001, 1001),
        (1010, 1001),
        (1028, 1001),
        (1029, 1001),
        (1129, 1101),
    ];
    for (ack, want) in cases {
        let mut h = segment(77, ack, (3, 4), [(1005, 1129), (1200, 1300)], 2);
        a.to_client(&mut h).expect("valid");
        assert!(l4_verifies(SRC, DST, IpProto::TCP, &h));
        let (s, got, ts, edges) = fields(&h);
        assert_eq!((s, got, ts), (77, want, (3, 4)));
        assert_eq!(
            edges,
            vec![1001, 1101, 1172, 1272],
            "SACK edges like the ack"
        );
    }
}

proptest! {
    /// Any client byte after the first, shifted on the way to the
    /// backend, comes back to the client as the same number when the
    /// backend acknowledges it; with the SYN proxy's offsets as well, at
    /// every alignment, across the wrap.
    #[test]
    fn a_shifted_byte_is_acknowledged_as_itself(
        from: u32, len in 1u32..=107, k in 1u32..0x4000_0000, bs: u32, pad in 0usize..4,
    ) {
        let a = header_shift(from, len, bs);
        let s = from.wrapping_add(k);
        let mut h = segment(s, 5, (3, 4), [(6, 7), (8, 9)], pad);
        a.to_backend(&mut h).expect("valid");
        prop_assert!(l4_verifies(SRC, DST, IpProto::TCP, &h));
        let on_wire = fields(&h).0;
        prop_assert_eq!(on_wire, s.wrapping_add(len));
        let mut back = segment(9, on_wire, (3, 4), [(on_wire, on_wire), (8, 9)], pad);
        a.to_client(&mut back).expect("valid");
        prop_assert!(l4_verifies(SRC, DST, IpProto::TCP, &back));
        let (seq, ack, _, edges) = fields(&back);
        prop_assert_eq!(seq, 9u32.wrapping_add(bs));
        prop_assert_eq!(ack, s);
        prop_assert_eq!(edges[0], s);
    }
}

proptest! {
    /// What an ICMP error quotes, taken back: `backend_seq_of` undoes
    /// `to_client`'s sequence number, `client_seq_of` undoes
    /// `to_backend`'s (for every segment a client sends: `client_from`
    /// itself and past it).
    #[test]
    fn quoted_sequence_numbers_go_back_to_the_sender_s_space(
        backend_seq in any::<u32>(),
        client_seq in 0u32..200,
        client_from in any::<u32>(),
        seq in any::<u32>(),
        past in 1u32..1_000_000,
    ) {
        let a = SeqAdjust { client_seq, client_from, backend_seq, backend_ts: 0 };
        let seg = segment(seq, 1, (5, 6), [(1, 2), (3, 4)], 0);
        let mut h = seg.clone();
        a.to_client(&mut h).expect("translates");
        prop_assert_eq!(a.backend_seq_of(get_be32(&h, 4)), seq);
        for sent in [client_from, client_from.wrapping_add(past)] {
            let mut h = segment(sent, 1, (5, 6), [(1, 2), (3, 4)], 0);
            a.to_backend(&mut h).expect("translates");
            prop_assert_eq!(a.client_seq_of(get_be32(&h, 4)), sent);
        }
    }
}

/// A TCP header (and 4 data bytes) with `options` behind the fixed part,
/// padded with END to a word, and `flags`. The checksum is whatever the
/// bytes give: the paths are compared byte for byte, not verified.
fn with_options(seq: u32, ack: u32, flags: u8, check: u16, options: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 20];
    h[4..8].copy_from_slice(&seq.to_be_bytes());
    h[8..12].copy_from_slice(&ack.to_be_bytes());
    h[13] = flags;
    h[16..18].copy_from_slice(&check.to_be_bytes());
    h.extend_from_slice(options);
    while h.len() % 4 != 0 {
        h.push(kind::END);
    }
    h[12] = ((h.len() / 4).min(15) as u8) << 4;
    h.extend_from_slice(b"data");
    h
}

/// Option lists of the shapes segments carry: none, Linux's NOP NOP
/// timestamp (the fast path's), the timestamp in other places, SACK
/// blocks with and without it, an MSS, and arbitrary bytes (often
/// malformed).
fn option_shape() -> impl Strategy<Value = Vec<u8>> {
    let ts = (any::<u32>(), any::<u32>()).prop_map(|(v, e)| {
        let mut o = vec![kind::TIMESTAMP, 10];
        o.extend_from_slice(&v.to_be_bytes());
        o.extend_from_slice(&e.to_be_bytes());
        o
    });
    let sack = prop::collection::vec(any::<u32>(), 2..=8).prop_map(|edges| {
        let blocks = edges.len() / 2;
        let mut o = vec![kind::NOP, kind::NOP, kind::SACK, (2 + 8 * blocks) as u8];
        for e in &edges[..blocks * 2] {
            o.extend_from_slice(&e.to_be_bytes());
        }
        o
    });
    prop_oneof![
        Just(Vec::new()),
        ts.clone()
            .prop_map(|t| [vec![kind::NOP, kind::NOP], t].concat()),
        ts.clone()
            .prop_map(|t| [t, vec![kind::NOP, kind::NOP]].concat()),
        ts.clone().prop_map(|t| [vec![kind::NOP], t].concat()),
        (ts.clone(), sack.clone()).prop_map(|(t, s)| [vec![kind::NOP, kind::NOP], t, s].concat()),
        sack,
        ts.prop_map(|t| [vec![kind::NOP, kind::NOP], t, vec![kind::END, 0, 0, 0]].concat()),
        Just(vec![kind::MSS, 4, 5, 0xb4]),
        prop::collection::vec(any::<u8>(), 0..40),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]
    /// The fast path (no options; NOP NOP timestamp) and the general
    /// option walk write the same bytes and agree on what is malformed,
    /// whatever the numbers, the flags, the option layout and the shift
    /// (PROXY header gap included), both ways.
    #[test]
    fn the_fast_path_writes_what_the_general_one_does(
        seq: u32, ack: u32, ack_flag: bool, options in option_shape(),
        check in prop_oneof![Just(0u16), Just(0xffff), any::<u16>()],
        client_seq in prop_oneof![Just(0u32), 1u32..300],
        near in any::<bool>(), from: u32, bs: u32, bt: u32,
    ) {
        let flags = tcp::TcpFlags::PSH | if ack_flag { tcp::TcpFlags::ACK } else { 0 };
        // Near `from` the gap and the after-the-header test matter.
        let (seq, ack) = if near {
            (from.wrapping_add(seq % 4), from.wrapping_add(ack % 400))
        } else {
            (seq, ack)
        };
        let original = with_options(seq, ack, flags, check, &options);
        let a = SeqAdjust { client_seq, client_from: from, backend_seq: bs, backend_ts: bt };
        for shift in [a.backend_shift(&original), a.client_shift()] {
            let (mut fast, mut general) = (original.clone(), original.clone());
            let r = shift.apply(&mut fast);
            prop_assert_eq!(r, shift.apply_general(&mut general));
            prop_assert_eq!(&fast, &general);
        }
    }
}

#[test]
fn the_fast_path_takes_the_usual_layouts_only() {
    // What the fast path recognises is what Linux sends on every
    // established segment; a timestamp elsewhere still moves.
    let a = SeqAdjust {
        backend_ts: 5,
        ..SeqAdjust::default()
    };
    let ts = [kind::TIMESTAMP, 10, 0, 0, 0, 1, 0, 0, 0, 2];
    for opts in [
        [&[kind::NOP, kind::NOP][..], &ts[..]].concat(),
        [&ts[..], &[kind::NOP, kind::NOP][..]].concat(),
    ] {
        let mut h = with_options(1, 2, tcp::TcpFlags::ACK, 0x1234, &opts);
        a.to_client(&mut h).expect("valid");
        let o = options::parse(&h).expect("valid");
        assert_eq!(o.timestamp, Some((6, 2)), "{opts:?}");
    }
}
