//! The window check of a spliced connection (issue 21: "sequence numbers
//! out of window", dropped and counted).
//!
//! The SYN proxy keeps two TCP connections apart, so the receiving stacks'
//! own checks see numbers the proxy translated: a blind injection with a
//! guessed sequence number would be translated and accepted as well as any.
//! The proxy checks each spliced segment first, in its sender's own
//! sequence space, as Linux's conntrack (`tcp_in_window`) does after RFC
//! 793, with the same edges per direction:
//!
//! - `end`: the sender's highest sequence number sent plus one (data, SYN
//!   and FIN count);
//! - `maxend`: the right edge of the window the receiver advertised for
//!   that data (its highest acknowledgment plus its scaled window).
//!
//! A segment from S to R is accepted when
//!
//! 1. `seq <= S.maxend`: it starts inside what R allowed;
//! 2. `seq + len >= S.end - maxwin(R)`: it is not older than R's largest
//!    possible window (a retransmission of anything R could still want);
//! 3. with ACK, `ack <= R.end`: it acknowledges nothing R did not send;
//! 4. with ACK, `ack >= R.end - 2 * max(maxwin(S), 66000)`: nor anything
//!    much older. Linux itself discards a segment whose acknowledgment is
//!    more than S's largest window below its oldest unacknowledged byte
//!    (RFC 5961 5.2, `tcp_ack`), and that byte is at most one window of S
//!    below `R.end`: so what this refuses, the receiver would have.
//!
//! Where conntrack keeps the largest window each side advertised, this
//! uses the largest one it *could* have (65535 shifted by its window
//! scale): looser, so it never drops what conntrack would pass, and it
//! needs no more room than the four edges.
//!
//! A direction whose edges are not known (a session a peer synced here)
//! learns them from its first segment, unchecked.

/// One direction's edges, in its sender's sequence space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Edges {
    pub end: u32,
    pub maxend: u32,
}

/// What the check reads of a segment, its acknowledgment number already
/// taken into the receiver's own space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub seq: u32,
    /// Data bytes, plus one for SYN and one for FIN.
    pub len: u32,
    pub ack: Option<u32>,
    /// The window field as sent (unscaled).
    pub window: u16,
}

/// conntrack's floor for the acknowledgment window (`MAXACKWINDOW`).
pub(crate) const MIN_ACK_WINDOW: u32 = 66000;

/// The largest window a side with window shift `wscale` can advertise
/// (RFC 7323 caps the shift at 14).
#[inline(always)]
pub fn max_window(wscale: Option<u8>) -> u32 {
    u32::from(u16::MAX) << wscale.unwrap_or(0).min(14)
}

/// `a` is before `b` in sequence space.
#[inline(always)]
pub(crate) fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// A segment's place relative to one direction: checked against `s` (the
/// sender's edges) and `r` (the receiver's), then both moved.
pub struct Direction<'a> {
    pub s: &'a mut Edges,
    pub r: &'a mut Edges,
    /// Whether the edges are known (see the module's doc).
    pub s_known: bool,
    pub r_known: bool,
    pub s_wscale: Option<u8>,
    pub r_wscale: Option<u8>,
}

impl Direction<'_> {
    /// Whether `seg` is acceptable; if it is, the edges move with it (a
    /// refused segment changes nothing).
    #[inline(always)]
    pub fn accept(&mut self, seg: &Seen) -> bool {
        let end = seg.seq.wrapping_add(seg.len);
        let r_max = max_window(self.r_wscale);
        if self.s_known
            && (before(self.s.maxend, seg.seq) || before(end, self.s.end.wrapping_sub(r_max)))
        {
            return false;
        }
        if let (Some(ack), true) = (seg.ack, self.r_known) {
            let span = max_window(self.s_wscale).max(MIN_ACK_WINDOW) * 2;
            if before(self.r.end, ack) || before(ack, self.r.end.wrapping_sub(span)) {
                return false;
            }
        }
        if !self.s_known {
            *self.s = Edges {
                end,
                maxend: end.wrapping_add(r_max),
            };
        } else if before(self.s.end, end) {
            self.s.end = end;
        }
        if let Some(ack) = seg.ack {
            let scaled = u32::from(seg.window) << self.s_wscale.unwrap_or(0).min(14);
            let right = ack.wrapping_add(scaled);
            if !self.r_known || before(self.r.maxend, right) {
                self.r.maxend = right;
            }
        }
        true
    }
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;
