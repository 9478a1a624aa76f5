//! The fixed paths of `Splice::translate` (the usual header layouts, the
//! window check with both edges known, the shift and the window rescale in
//! one checksum update; and for a splice with no PROXY header shift and the
//! check on, a quarter of the splices drawn here, the straight path of
//! `synproxy_spliced.rs`) against the general one: for any splice and any
//! segment of those layouts, the same verdict, the same edges and the same
//! bytes.

use proptest::prelude::*;

use super::*;
use crate::wire::put_be32;

/// A segment of the layout `ts` chooses (no options, or NOP NOP timestamp),
/// with `payload` bytes behind the header.
fn segment(f: &Fields, ts: bool, payload: usize) -> Vec<u8> {
    let header = if ts { 32 } else { 20 };
    let mut h = vec![0u8; header + payload];
    put_be32(&mut h, 4, f.seq);
    put_be32(&mut h, 8, f.ack);
    h[12] = ((header / 4) as u8) << 4;
    h[13] = f.flags;
    put_be16(&mut h, 14, f.window);
    put_be16(&mut h, 16, f.check);
    if ts {
        h[20..24].copy_from_slice(&[1, 1, 8, 10]);
        put_be32(&mut h, 24, f.tsval);
        put_be32(&mut h, 28, f.tsecr);
    }
    for (i, b) in h[header..].iter_mut().enumerate() {
        *b = i as u8;
    }
    h
}

#[derive(Debug, Clone)]
struct Fields {
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    check: u16,
    tsval: u32,
    tsecr: u32,
}

/// A spliced connection: its shifts, window scales and edges, the check on
/// with both edges known, or off (a PROXY-header session).
fn splice() -> impl Strategy<Value = Splice> {
    (
        any::<(u32, u32, u32)>(),
        prop_oneof![Just(0u32), 1u32..200],
        (prop::option::of(0u8..16), prop::option::of(0u8..16)),
        any::<[u32; 2]>(),
        (0u32..300_000, 0u32..300_000),
        any::<bool>(),
    )
        .prop_map(
            |((backend_seq, backend_ts, from), header, (cws, bws), ends, (w0, w1), on)| Splice {
                adjust: SeqAdjust {
                    client_seq: header,
                    client_from: from,
                    backend_seq,
                    backend_ts,
                },
                client_wscale: WScale::new(cws),
                backend_wscale: WScale::new(bws),
                established: true,
                edges: [
                    Edges {
                        end: ends[0],
                        maxend: ends[0].wrapping_add(w0),
                    },
                    Edges {
                        end: ends[1],
                        maxend: ends[1].wrapping_add(w1),
                    },
                ],
                // (`header` is none: `ALONE` goes with no shift.)
                track: match on {
                    true => track::ALL | track::on(header == 0),
                    false => 0,
                },
                ..Splice::default()
            },
        )
}

/// Numbers near the edges (so that both verdicts come up), or anywhere.
fn near(base: u32) -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => (-300_000i32..300_000).prop_map(move |d| base.wrapping_add(d as u32)),
        1 => any::<u32>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn the_fixed_path_does_what_the_general_one_does(
        (sp, inbound, f, ts, payload) in (splice(), any::<bool>()).prop_flat_map(|(sp, inbound)| {
            let (s, r) = match inbound {
                true => (sp.edges[CLIENT], sp.edges[BACKEND]),
                false => (sp.edges[BACKEND], sp.edges[CLIENT]),
            };
            // The acknowledgment as sent, near the receiver's end as the
            // sender's space has it.
            let r_end_sent = match inbound {
                true => r.end.wrapping_add(sp.adjust.backend_seq),
                false => r.end.wrapping_add(sp.adjust.client_seq),
            };
            let fields = (
                near(s.end),
                near(r_end_sent),
                prop_oneof![Just(0x10u8), Just(0x18), Just(0x11), Just(0x12), Just(0x02), any::<u8>()],
                any::<u16>(),
                prop_oneof![Just(0u16), Just(0xffff), any::<u16>()],
                any::<(u32, u32)>(),
            )
                .prop_map(|(seq, ack, flags, window, check, (tsval, tsecr))| Fields {
                    seq, ack, flags, window, check, tsval, tsecr,
                });
            (Just(sp), Just(inbound), fields, any::<bool>(), 0usize..1500)
        })
    ) {
        let dir = if inbound { Direction::Inbound } else { Direction::Outbound };
        let h0 = segment(&f, ts, payload);

        let (mut general, mut g) = (sp, h0.clone());
        let g_verdict = general.translate_general(dir, &mut g);

        let (mut fixed, mut x) = (sp, h0.clone());
        let x_verdict = fixed.translate(dir, &mut x);

        prop_assert_eq!(x_verdict, g_verdict);
        prop_assert_eq!(fixed, general);
        if g_verdict.is_ok() {
            prop_assert_eq!(x, g);
        } else {
            // A refused segment is left as it came.
            prop_assert_eq!(&x, &h0);
        }
    }
}

/// The layouts the proptest draws are the ones the fixed path takes:
/// recognised by `Fixed::of`; a SACK block is not.
#[test]
fn the_usual_layouts_are_the_fixed_ones() {
    let f = Fields {
        seq: 5,
        ack: 7000,
        flags: 0x10,
        window: 100,
        check: 0x1234,
        tsval: 1,
        tsecr: 2,
    };
    assert!(matches!(
        Fixed::of(&mut segment(&f, false, 10)),
        Some(Fixed::Plain(_))
    ));
    assert!(matches!(
        Fixed::of(&mut segment(&f, true, 0)),
        Some(Fixed::Timestamp(_))
    ));
    let mut h = segment(&f, false, 12);
    h[12] = 8 << 4;
    h[20..32].copy_from_slice(&[1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    assert!(Fixed::of(&mut h).is_none());
}
