use proptest::prelude::*;

use super::*;

/// Both directions of one connection and the check between them: side 0
/// and side 1, edges known from the handshake.
#[derive(Clone, Copy)]
struct Check {
    edges: [Edges; 2],
    known: [bool; 2],
    wscale: [Option<u8>; 2],
}

impl Check {
    fn new(isn: [u32; 2], wscale: [Option<u8>; 2], syn_window: [u32; 2]) -> Check {
        let e = |s: usize| Edges {
            end: isn[s].wrapping_add(1),
            maxend: isn[s].wrapping_add(1).wrapping_add(syn_window[1 - s]),
        };
        Check {
            edges: [e(0), e(1)],
            known: [true, true],
            wscale,
        }
    }

    fn accept(&mut self, from: usize, seg: &Seen) -> bool {
        let [a, b] = &mut self.edges;
        let (s, r) = if from == 0 { (a, b) } else { (b, a) };
        Direction {
            s,
            r,
            s_known: self.known[from],
            r_known: self.known[1 - from],
            s_wscale: self.wscale[from],
            r_wscale: self.wscale[1 - from],
        }
        .accept(seg)
    }
}

fn seg(seq: u32, len: u32, ack: u32, window: u16) -> Seen {
    Seen {
        seq,
        len,
        ack: Some(ack),
        window,
    }
}

#[test]
fn refuses_data_past_the_window_acks_of_unsent_data_and_stale_numbers() {
    // Side 0 ISN 1000, side 1 ISN 5000, no scaling, windows of 1000.
    let mut c = Check::new([1000, 5000], [None, None], [1000, 1000]);
    let before = c.edges;
    // Past the right edge 1001 + 1000.
    assert!(!c.accept(0, &seg(2002, 10, 5001, 1000)));
    // Acknowledging bytes side 1 never sent.
    assert!(!c.accept(0, &seg(1001, 10, 5002, 1000)));
    // Older than side 1's largest possible window (65535), both fields.
    assert!(!c.accept(0, &seg(1001u32.wrapping_sub(70000), 10, 5001, 1000)));
    assert!(!c.accept(0, &seg(1001, 10, 5001u32.wrapping_sub(140_000), 1000)));
    assert_eq!(c.edges, before, "a refused segment moves nothing");
    // The right edge itself (a window probe, on a copy), and a
    // retransmission, pass.
    let mut probe = c;
    assert!(probe.accept(0, &seg(2001, 1, 5001, 1000)));
    assert!(c.accept(0, &seg(1001, 100, 5001, 1000)));
    assert!(c.accept(0, &seg(1001, 100, 5001, 1000)));
    assert_eq!(c.edges[0].end, 1101);
    // Side 1 may now acknowledge those 100 bytes, and not the 101st.
    assert!(!c.accept(1, &seg(5001, 0, 1102, 2000)));
    assert!(c.accept(1, &seg(5001, 0, 1101, 2000)));
    // Its window moved side 0's right edge to 1101 + 2000; a smaller
    // window later does not move it back (the data may be in flight).
    assert_eq!(c.edges[0].maxend, 3101);
    assert!(c.accept(1, &seg(5001, 0, 1101, 10)));
    assert_eq!(c.edges[0].maxend, 3101);
    assert!(c.accept(0, &seg(3100, 1, 5001, 1000)));
    assert!(!c.accept(0, &seg(3102, 1, 5001, 1000)));
}

#[test]
fn a_scaled_window_counts_shifted() {
    let mut c = Check::new([0, 0], [Some(7), Some(2)], [100, 100]);
    // Side 1 advertises 1000 << 2 for side 0's data.
    assert!(c.accept(1, &seg(1, 0, 1, 1000)));
    assert_eq!(c.edges[0].maxend, 1 + 4000);
    assert!(c.accept(0, &seg(4001, 0, 1, 10)));
    assert!(!c.accept(0, &seg(4002, 0, 1, 10)));
}

#[test]
fn unknown_edges_are_learned_from_the_first_segments() {
    let mut c = Check {
        edges: [Edges::default(); 2],
        known: [false, false],
        wscale: [Some(7), Some(7)],
    };
    assert!(c.accept(0, &seg(123_456, 100, 999_999, 512)));
    c.known[0] = true;
    assert_eq!(c.edges[0].end, 123_556);
    assert!(c.accept(1, &seg(1_000_000, 0, 123_556, 512)));
    c.known[1] = true;
    // Now checked: side 1 acknowledging what side 0 never sent is refused.
    assert!(!c.accept(1, &seg(1_000_000, 0, 123_557, 512)));
    assert!(c.accept(0, &seg(123_556, 10, 1_000_000, 512)));
}

#[test]
fn the_edges_wrap_around_zero() {
    let mut c = Check::new([u32::MAX - 10, 7], [None, None], [65535, 65535]);
    assert!(c.accept(0, &seg(u32::MAX - 9, 100, 8, 65535)));
    assert_eq!(c.edges[0].end, 90);
    assert!(c.accept(1, &seg(8, 50, 90, 65535)));
    assert!(!c.accept(1, &seg(8, 0, 91, 65535)));
}

/// One side of a simulated connection.
#[derive(Clone, Copy)]
struct Side {
    /// Next byte to send, oldest unacknowledged byte, next byte expected.
    nxt: u32,
    una: u32,
    rcv_nxt: u32,
    /// The peer's right edge as this side last learned it.
    peer_right: u32,
    /// Bytes of buffer this side advertises (its window, before scaling).
    buffer: u32,
    wscale: Option<u8>,
}

impl Side {
    fn window_field(&self) -> u16 {
        (self.buffer >> self.wscale.unwrap_or(0)).min(65535) as u16
    }
}

/// What a step of the simulation does.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Side sends new data (up to the peer's window).
    Send(usize, u32),
    /// Side sends again from its oldest unacknowledged byte.
    Retransmit(usize, u32),
    /// Side sends a bare ACK, possibly one it sent before (reordered).
    Ack(usize, bool),
    /// The oldest in-flight segment of a side is delivered, or lost.
    Deliver(usize, bool),
    /// A later in-flight segment overtakes the others.
    Reorder(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0usize..2, 0u32..3000).prop_map(|(s, n)| Step::Send(s, n)),
        1 => (0usize..2, 0u32..3000).prop_map(|(s, n)| Step::Retransmit(s, n)),
        2 => (0usize..2, any::<bool>()).prop_map(|(s, old)| Step::Ack(s, old)),
        6 => (0usize..2, prop::bool::weighted(0.1)).prop_map(|(s, lost)| Step::Deliver(s, lost)),
        1 => (0usize..2).prop_map(Step::Reorder),
    ]
}

proptest! {
    /// Legitimate traffic is never refused: two TCP senders that respect
    /// each other's windows, with loss, retransmissions, reordering
    /// before the check, stale acknowledgments, window scaling and
    /// sequence numbers wrapping, all pass.
    #[test]
    fn legitimate_traffic_always_passes(
        isn: [u32; 2],
        wscale in [prop::option::of(0u8..=14), prop::option::of(0u8..=14)],
        buffer in [1000u32..2_000_000, 1000u32..2_000_000],
        steps in prop::collection::vec(step(), 1..300),
    ) {
        // Scaling is on only when both sides announced it (RFC 7323).
        let wscale = match wscale {
            [Some(a), Some(b)] => [Some(a), Some(b)],
            _ => [None, None],
        };
        let mut sides = [0, 1].map(|i| Side {
            nxt: isn[i].wrapping_add(1),
            una: isn[i].wrapping_add(1),
            rcv_nxt: isn[1 - i].wrapping_add(1),
            peer_right: 0,
            buffer: buffer[i].min(max_window(wscale[i])),
            wscale: wscale[i],
        });
        // The SYN windows are never scaled.
        let syn_window = [0, 1].map(|i| sides[i].buffer.min(65535));
        for i in 0..2 {
            sides[i].peer_right = sides[i].nxt.wrapping_add(syn_window[1 - i]);
        }
        let mut check = Check::new(isn, wscale, syn_window);
        // In flight per direction: (segment, ack it carried).
        let mut flight: [Vec<Seen>; 2] = [Vec::new(), Vec::new()];
        let mut sent_acks: [Vec<(u32, u16)>; 2] = [Vec::new(), Vec::new()];
        for st in steps {
            match st {
                Step::Send(s, n) => {
                    let room = sides[s].peer_right.wrapping_sub(sides[s].nxt);
                    let n = if (room as i32) < 0 { 0 } else { n.min(room) };
                    let me = sides[s];
                    let w = me.window_field();
                    flight[s].push(seg(me.nxt, n, me.rcv_nxt, w));
                    sent_acks[s].push((me.rcv_nxt, w));
                    sides[s].nxt = me.nxt.wrapping_add(n);
                }
                Step::Retransmit(s, n) => {
                    let me = sides[s];
                    let n = n.min(me.nxt.wrapping_sub(me.una));
                    flight[s].push(seg(me.una, n, me.rcv_nxt, me.window_field()));
                }
                Step::Ack(s, old) => {
                    let (ack, w) = match (old, sent_acks[s].last()) {
                        (true, Some(&a)) => a,
                        _ => (sides[s].rcv_nxt, sides[s].window_field()),
                    };
                    flight[s].push(seg(sides[s].nxt, 0, ack, w));
                }
                Step::Reorder(s) => {
                    if flight[s].len() > 1 {
                        let last = flight[s].pop().expect("two");
                        flight[s].insert(0, last);
                    }
                }
                Step::Deliver(s, lost) => {
                    if flight[s].is_empty() {
                        continue;
                    }
                    let g = flight[s].remove(0);
                    let ack = g.ack.expect("every segment acks");
                    // A Linux receiver discards a segment whose ACK is
                    // more than the sender's window below its oldest
                    // unacknowledged byte (RFC 5961 5.2): a segment
                    // delayed that long is not legitimate traffic any more.
                    // Nor is a segment whose bytes the receiver has all had,
                    // delayed behind more than the receiver's largest
                    // possible window of newer data: the receiver would
                    // discard it as a duplicate (the sender's own
                    // retransmissions start at its oldest unacknowledged
                    // byte, at most one window behind what it sent).
                    let r = &sides[1 - s];
                    let end = g.seq.wrapping_add(g.len);
                    let stale = before(end, sides[s].nxt.wrapping_sub(max_window(wscale[1 - s])));
                    if before(ack, r.una.wrapping_sub(sides[s].buffer))
                        || (g.len > 0 && before(end, r.rcv_nxt) && stale)
                    {
                        continue;
                    }
                    let edges = check.edges;
                    prop_assert!(check.accept(s, &g), "refused {:?} from side {} at {:?}", g, s, edges);
                    if lost {
                        continue;
                    }
                    // The receiver takes in-order data, and the ACK.
                    let r = &mut sides[1 - s];
                    if !before(r.rcv_nxt, g.seq) && before(r.rcv_nxt, end) {
                        r.rcv_nxt = end;
                    }
                    if before(r.una, ack) {
                        r.una = ack;
                    }
                    let right = ack.wrapping_add(u32::from(g.window) << wscale[s].unwrap_or(0));
                    if before(r.peer_right, right) {
                        r.peer_right = right;
                    }
                }
            }
        }
    }
}
