//! The reassembly contexts on their own: whole datagrams out of fragments
//! in any order, every refusal by its name, the bounds.

use std::net::Ipv4Addr;

use super::*;
use crate::buf::{TestBuf, DEFAULT_HEADROOM};
use crate::testutil::{fix_ipv4_checksum, fragment, udp_frame};

fn key(ident: u16) -> FragKey {
    FragKey {
        src: Ipv4Addr::new(10, 0, 0, 1),
        dst: Ipv4Addr::new(10, 0, 0, 2),
        proto: 17,
        ident,
    }
}

fn big_buf() -> Option<TestBuf> {
    Some(TestBuf::with_room(
        &[],
        DEFAULT_HEADROOM,
        usize::from(u16::MAX) - DEFAULT_HEADROOM,
    ))
}

/// A UDP datagram of `len` payload bytes, DF clear, identification `ident`.
fn datagram(len: usize, ident: u16) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|i| (i * 13 + 5) as u8).collect();
    let mut d = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 5000, 53, 64, &data);
    d[18..20].copy_from_slice(&ident.to_be_bytes());
    d[20] &= !0x40;
    fix_ipv4_checksum(&mut d, 14);
    d
}

/// A fragment frame as the classifier gives it to reassembly.
fn frag_of(f: &[u8], port: u16) -> Fragment<'_> {
    let ihl = usize::from(f[14] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    let word = u16::from_be_bytes([f[20], f[21]]);
    Fragment {
        frame: f,
        l3: 14,
        l4: 14 + ihl,
        ip_end: 14 + total,
        offset: u32::from(word & 0x1fff) * 8,
        more: word & 0x2000 != 0,
        port,
    }
}

/// Feeds `frames` (of key `k`) at time `now`; the datagram if one completed.
fn feed(
    t: &mut ReasmTable<TestBuf>,
    k: FragKey,
    frames: &[Vec<u8>],
    now: u64,
) -> Result<Option<Vec<u8>>, Refusal> {
    let mut out = None;
    for f in frames {
        let mut timed_out = 0;
        match t.take(k, now, frag_of(f, 3), big_buf, &mut timed_out)? {
            Taken::Pending => {}
            Taken::Done { pkt, port, .. } => {
                assert_eq!(port, 3);
                out = Some(pkt.data().to_vec());
            }
        }
    }
    Ok(out)
}

#[test]
fn in_order_reversed_and_shuffled_fragments_give_the_datagram_byte_for_byte() {
    let d = datagram(4000, 7);
    let frags = fragment(&d, 14, 1480);
    assert_eq!(frags.len(), 3);
    let orders: [&[usize]; 3] = [&[0, 1, 2], &[2, 1, 0], &[1, 2, 0]];
    for order in orders {
        let mut t = ReasmTable::new();
        let fs: Vec<Vec<u8>> = order.iter().map(|&i| frags[i].clone()).collect();
        let whole = feed(&mut t, key(7), &fs, 0).expect("taken");
        assert_eq!(whole.as_deref(), Some(&d[..]), "order {order:?}");
        assert_eq!(t.live(), 0, "the context is free again");
    }
}

#[test]
fn interleaved_datagrams_each_come_out_whole() {
    let (a, b) = (datagram(3000, 1), datagram(5000, 2));
    let (fa, fb) = (fragment(&a, 14, 1480), fragment(&b, 14, 1000));
    let mut t = ReasmTable::new();
    let mut done = Vec::new();
    for i in 0..fb.len() {
        for (k, fs) in [(key(1), &fa), (key(2), &fb)] {
            if let Some(f) = fs.len().checked_sub(1 + i).and_then(|j| fs.get(j)) {
                if let Some(w) = feed(&mut t, k, std::slice::from_ref(f), 0).expect("taken") {
                    done.push(w);
                }
            }
        }
    }
    assert_eq!(done, vec![a, b]);
}

#[test]
fn a_repeat_is_dropped_alone_and_the_datagram_completes() {
    let d = datagram(4000, 9);
    let frags = fragment(&d, 14, 1480);
    let mut t = ReasmTable::new();
    assert_eq!(feed(&mut t, key(9), &frags[1..2], 0), Ok(None));
    assert_eq!(
        feed(&mut t, key(9), &frags[1..2], 0),
        Err(Refusal {
            reason: DropReason::ReasmDuplicate,
            fragments: 1
        })
    );
    assert_eq!(
        feed(&mut t, key(9), &[frags[2].clone(), frags[2].clone()], 0),
        Err(Refusal {
            reason: DropReason::ReasmDuplicate,
            fragments: 1
        }),
        "the last one repeated"
    );
    let whole = feed(&mut t, key(9), &frags[0..1], 0).expect("taken");
    assert_eq!(whole.as_deref(), Some(&d[..]));
}

#[test]
fn overlap_two_ends_and_odd_middles_drop_the_whole_datagram() {
    let d = datagram(4000, 4);
    let frags = fragment(&d, 14, 1480);
    // Teardrop: a piece overlapping the first one's end.
    let other = fragment(&d, 14, 1000);
    let mut t = ReasmTable::new();
    feed(&mut t, key(4), &frags[0..1], 0).expect("taken");
    let r = feed(&mut t, key(4), &other[1..2], 0).unwrap_err();
    assert_eq!(
        r,
        Refusal {
            reason: DropReason::ReasmOverlap,
            fragments: 2
        }
    );
    assert_eq!(t.live(), 0, "the datagram is gone");
    // Two different ends (a different total length).
    let longer = fragment(&datagram(4400, 4), 14, 1480);
    feed(&mut t, key(4), &frags[2..3], 0).expect("taken");
    let r = feed(&mut t, key(4), &longer[2..3], 0).unwrap_err();
    assert_eq!(r.reason, DropReason::ReasmInconsistent);
    assert_eq!(t.live(), 0);
    // A middle fragment whose length is not a multiple of 8.
    let mut odd = frags[1].clone();
    odd.truncate(odd.len() - 3);
    let len = (odd.len() - 14) as u16;
    odd[16..18].copy_from_slice(&len.to_be_bytes());
    fix_ipv4_checksum(&mut odd, 14);
    feed(&mut t, key(4), &frags[0..1], 0).expect("taken");
    let r = feed(&mut t, key(4), &[odd], 0).unwrap_err();
    assert_eq!((r.reason, r.fragments), (DropReason::ReasmInconsistent, 2));
    // A middle piece past the end already known.
    let beyond = fragment(&datagram(6000, 4), 14, 1480);
    feed(&mut t, key(4), &frags[2..3], 0).expect("taken");
    let r = feed(&mut t, key(4), &beyond[3..4], 0).unwrap_err();
    assert_eq!(r.reason, DropReason::ReasmInconsistent);
    assert_eq!(t.live(), 0);
}

#[test]
fn too_big_and_too_many_are_refused() {
    // 65000 payload bytes in 1480-byte pieces fit the buffer...
    let d = datagram(65_000, 5);
    let frags = fragment(&d, 14, 1480);
    let mut t = ReasmTable::new();
    let whole = feed(&mut t, key(5), &frags, 0).expect("taken");
    assert_eq!(whole.as_deref(), Some(&d[..]));
    // ... in 8-byte pieces they are far more than a datagram may have.
    let tiny = fragment(&datagram(1000, 6), 14, 8);
    let r = feed(&mut t, key(6), &tiny, 0).unwrap_err();
    assert_eq!(
        (r.reason, r.fragments),
        (DropReason::ReasmTooMany, REASM_MAX_FRAGMENTS as u64 + 1)
    );
    // A buffer smaller than the datagram.
    let small = || {
        Some(TestBuf::with_room(
            &[],
            DEFAULT_HEADROOM,
            HEAD + 3000 + GROWTH,
        ))
    };
    let mut x = 0;
    let r = t
        .take(key(7), 0, frag_of(&frags[3], 0), small, &mut x)
        .unwrap_err();
    assert_eq!((r.reason, r.fragments), (DropReason::ReasmTooBig, 1));
}

#[test]
fn contexts_run_out_then_time_out() {
    let mut t = ReasmTable::new();
    let firsts: Vec<Vec<u8>> = (0..=REASM_CONTEXTS as u16)
        .map(|i| fragment(&datagram(3000, i), 14, 1480)[0].clone())
        .collect();
    for (i, f) in firsts.iter().take(REASM_CONTEXTS).enumerate() {
        assert_eq!(
            feed(&mut t, key(i as u16), std::slice::from_ref(f), 10),
            Ok(None)
        );
    }
    let last = REASM_CONTEXTS as u16;
    let r = feed(&mut t, key(last), &firsts[REASM_CONTEXTS..], 10).unwrap_err();
    assert_eq!(
        r,
        Refusal {
            reason: DropReason::ReasmFull,
            fragments: 1
        }
    );
    assert_eq!(t.expire(10 + REASM_TIMEOUT_MS - 1), 0);
    assert_eq!(t.expire(10 + REASM_TIMEOUT_MS), REASM_CONTEXTS as u64);
    assert_eq!(t.live(), 0);
    assert_eq!(
        feed(&mut t, key(last), &firsts[REASM_CONTEXTS..], 2000),
        Ok(None)
    );
    // A timed-out datagram met on the way is counted by whoever meets it.
    let mut x = 0;
    let f = fragment(&datagram(3000, 99), 14, 1480);
    t.take(key(99), 5000, frag_of(&f[0], 0), big_buf, &mut x)
        .expect("taken");
    assert_eq!(x, 1, "the fragment of the datagram before");
}

#[test]
fn no_buffer_refuses_the_fragment_and_takes_no_context() {
    let mut t: ReasmTable<TestBuf> = ReasmTable::new();
    let f = fragment(&datagram(3000, 1), 14, 1480);
    let mut x = 0;
    let r = t.take(key(1), 0, frag_of(&f[0], 0), || None, &mut x);
    assert_eq!(
        r.unwrap_err(),
        Refusal {
            reason: DropReason::NoBufferRoom,
            fragments: 1
        }
    );
    assert_eq!(t.live(), 0);
}

#[test]
fn a_vlan_tagged_datagram_keeps_its_first_l2_header() {
    let d = datagram(3000, 3);
    let tagged = crate::testutil::vlan_tag(&d, 42);
    let frags = fragment(&tagged, 18, 1480);
    let mut t = ReasmTable::new();
    let mut got = None;
    for f in frags.iter().rev() {
        let ihl = usize::from(f[18] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([f[20], f[21]]));
        let word = u16::from_be_bytes([f[24], f[25]]);
        let frag = Fragment {
            frame: f,
            l3: 18,
            l4: 18 + ihl,
            ip_end: 18 + total,
            offset: u32::from(word & 0x1fff) * 8,
            more: word & 0x2000 != 0,
            port: 1,
        };
        let mut x = 0;
        if let Taken::Done { pkt, .. } = t.take(key(3), 0, frag, big_buf, &mut x).expect("ok") {
            got = Some(pkt.data().to_vec());
        }
    }
    assert_eq!(got.as_deref(), Some(&tagged[..]));
}
