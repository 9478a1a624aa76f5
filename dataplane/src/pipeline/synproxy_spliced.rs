//! The usual segment of a SYN-proxied connection, translated on one
//! straight path (`Splice::translate_spliced`): the SYN proxy alone (no
//! PROXY header, so the client's numbers keep their space and no
//! acknowledgment falls in a gap), both sides' window edges known, a
//! header of one of the two `Fixed` layouts. Each field is read once, the
//! window shifts are clamped once, and only the fields the proxy moves in
//! that direction are touched: towards the backend the acknowledgment and
//! TSecr, towards the client the sequence number, TSval and window. The
//! verdict, edges and bytes are those of the general path (window check,
//! `SeqAdjust`, window rescale): the proptest in `synproxy_fixed_tests.rs`
//! compares them.

use super::{rescaled, track, Splice};
use crate::checksum::Delta;
use crate::drop::DropReason;
use crate::flow::Direction;
use crate::synproxy::seq::{word, write_fixed_checksum};
use crate::synproxy::window::{before, MIN_ACK_WINDOW};
use crate::wire::tcp::{self, TcpFlags, TCP_MIN_HEADER_LEN};

/// A window shift as the window check uses it: none is 0, above 14 is 14
/// (RFC 7323 2.3).
#[inline(always)]
fn shift_of(wscale: Option<u8>) -> u32 {
    u32::from(wscale.unwrap_or(0).min(14))
}

/// Adds `n` to the 32-bit field at `at`, recording the change (nothing
/// when `n` is 0, as `SeqAdjust` does, so the checksums agree bit for bit).
#[inline(always)]
fn add<const N: usize>(h: &mut [u8; N], at: usize, old: u32, n: u32, d: &mut Delta) {
    if n != 0 {
        let new = old.wrapping_add(n);
        h[at..at + 4].copy_from_slice(&new.to_be_bytes());
        d.dword(old, new);
    }
}

impl Splice {
    /// Whether a segment may take [`Splice::translate_spliced`]: the check
    /// on with both edges known, and no PROXY header's shift.
    #[inline(always)]
    pub(super) fn plain_splice(&self) -> bool {
        self.track == track::ALL && self.adjust.client_seq == 0
    }

    /// The segment going `dir` (`h`: its header, of a `Fixed` layout; `len`
    /// the segment's length), on a splice that [`Splice::plain_splice`]
    /// says may take this path: checked, then translated in place.
    #[inline(always)]
    pub(super) fn translate_spliced<const N: usize>(
        &mut self,
        dir: Direction,
        h: &mut [u8; N],
        len: usize,
    ) -> Result<(), DropReason> {
        let flags = h[tcp::field::FLAGS];
        let has_ack = flags & TcpFlags::ACK != 0;
        let seq = word(h, tcp::field::SEQ_NUM.start);
        let ack = word(h, tcp::field::ACK_NUM.start);
        let w = tcp::field::WINDOW.start;
        let window = u16::from_be_bytes([h[w], h[w + 1]]);
        let ends = u32::from(flags & TcpFlags::SYN != 0) + u32::from(flags & TcpFlags::FIN != 0);
        // `Fixed` took the header from a segment at least `N` long.
        let end = seq
            .wrapping_add((len as u32).wrapping_sub(N as u32))
            .wrapping_add(ends);
        let inbound = dir == Direction::Inbound;
        let (client, backend) = (shift_of(self.client_wscale), shift_of(self.backend_wscale));
        let (s_shift, r_shift) = if inbound {
            (client, backend)
        } else {
            (backend, client)
        };
        // The acknowledgment in the receiver's space: the backend's moves
        // by the cookie's offset; the client's own space is the backend's.
        let ack_r = if inbound {
            ack.wrapping_sub(self.adjust.backend_seq)
        } else {
            ack
        };
        // The window check (`synproxy::window`), both edges known. The
        // client's edges come first.
        let [c, b] = &mut self.edges;
        let (s, r) = if inbound { (c, b) } else { (b, c) };
        let r_max = u32::from(u16::MAX) << r_shift;
        if before(s.maxend, seq) || before(end, s.end.wrapping_sub(r_max)) {
            return Err(DropReason::SynProxyOutOfWindow);
        }
        if has_ack {
            let span = (u32::from(u16::MAX) << s_shift).max(MIN_ACK_WINDOW) * 2;
            if before(r.end, ack_r) || before(ack_r, r.end.wrapping_sub(span)) {
                return Err(DropReason::SynProxyOutOfWindow);
            }
        }
        if before(s.end, end) {
            s.end = end;
        }
        if has_ack {
            let right = ack_r.wrapping_add(u32::from(window) << s_shift);
            if before(r.maxend, right) {
                r.maxend = right;
            }
        }
        // The shift, and the backend's window rescaled.
        let mut d = Delta::default();
        let timestamps = N > TCP_MIN_HEADER_LEN;
        let ts = TCP_MIN_HEADER_LEN + 4;
        if inbound {
            if has_ack {
                let back = self.adjust.backend_seq.wrapping_neg();
                add(h, tcp::field::ACK_NUM.start, ack, back, &mut d);
                if timestamps {
                    let tsecr = word(h, ts + 4);
                    add(
                        h,
                        ts + 4,
                        tsecr,
                        self.adjust.backend_ts.wrapping_neg(),
                        &mut d,
                    );
                }
            }
        } else {
            add(
                h,
                tcp::field::SEQ_NUM.start,
                seq,
                self.adjust.backend_seq,
                &mut d,
            );
            if timestamps {
                let tsval = word(h, ts);
                add(h, ts, tsval, self.adjust.backend_ts, &mut d);
            }
            let new = rescaled(window, self.backend_wscale);
            if new != window {
                h[w..w + 2].copy_from_slice(&new.to_be_bytes());
                d.word(window, new);
            }
        }
        write_fixed_checksum(h, d);
        Ok(())
    }
}
