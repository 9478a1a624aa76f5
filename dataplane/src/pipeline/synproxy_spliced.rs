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
//! compares them. `Datapath::splice_in_place` is the packet path's way in:
//! the session's slot read, the segment checked and translated in place.

use super::super::Datapath;
use super::{rescaled, track, Splice};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::Direction;
use crate::flow::Hit;
use crate::packet::Ipv4Meta;
use crate::synproxy::window::{before, MIN_ACK_WINDOW};
use crate::wire::tcp::{self, TcpFlags, TCP_MIN_HEADER_LEN};

// `translate_spliced` counts SYN and FIN from their bits' places.
const _: () = assert!(TcpFlags::FIN == 1 && TcpFlags::SYN == 2);

/// The 32-bit field at `at` as it lies in memory (unswapped).
#[inline(always)]
fn raw32<const N: usize>(h: &[u8; N], at: usize) -> u32 {
    u32::from_ne_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]])
}

/// The 16-bit field at `at` as it lies in memory.
#[inline(always)]
fn raw16<const N: usize>(h: &[u8; N], at: usize) -> u16 {
    u16::from_ne_bytes([h[at], h[at + 1]])
}

/// A checksum change summed over the fields as they lie in memory: by
/// the byte-order independence of the Internet checksum (RFC 1071 2(B)),
/// that sum is the byte-swapped one of their values, so no field is
/// swapped for it, nor the checksum. A 32-bit field is one term (`!old +
/// new` as 32-bit numbers: the same sum modulo 0xffff as its two 16-bit
/// halves, and zero for the same fields), so the checksum written is
/// bit for bit the one `checksum::Delta` gives.
#[derive(Clone, Copy, Default)]
struct RawDelta(u64);

impl RawDelta {
    /// Adds `n` to the 32-bit field at `at`, whose value is `old` (`raw`
    /// as it lies), recording the change; nothing when `n` is 0, as
    /// `SeqAdjust` does, so the checksums agree bit for bit.
    #[inline(always)]
    fn add<const N: usize>(&mut self, h: &mut [u8; N], at: usize, (old, raw): (u32, u32), n: u32) {
        if n != 0 {
            let new = old.wrapping_add(n).to_be();
            h[at..at + 4].copy_from_slice(&new.to_ne_bytes());
            self.0 += u64::from(!raw) + u64::from(new);
        }
    }

    /// Folds the change into the TCP checksum of `h` (RFC 1624 eqn. 3).
    /// The sum is the checksum and at most three fields (below 2^16 + 3 ×
    /// 2^33 < 2^36), so three 16-bit folds leave at most 0xffff: the
    /// value `checksum::fold` gives (the same sum modulo 0xffff, zero
    /// only for a zero sum), in fewer steps.
    #[inline(always)]
    fn write<const N: usize>(self, h: &mut [u8; N]) {
        let at = tcp::field::CHECKSUM.start;
        let s = u64::from(!raw16(h, at)) + self.0;
        let s = (s & 0xffff) + (s >> 16); // < 2^16 + 2^20
        let s = (s & 0xffff) + (s >> 16); // < 2^16 + 17
        let s = (s & 0xffff) + (s >> 16); // <= 0xffff
        h[at..at + 2].copy_from_slice(&(!(s as u16)).to_ne_bytes());
    }
}

impl Splice {
    /// Whether a segment may take [`Splice::translate_spliced`]: the
    /// SYN proxy's splice alone (no PROXY header's shift) with the check
    /// on and both edges known.
    #[inline(always)]
    pub(super) fn plain_splice(&self) -> bool {
        self.track == track::STRAIGHT
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
        let seq_raw = raw32(h, tcp::field::SEQ_NUM.start);
        let seq = u32::from_be(seq_raw);
        let ack_raw = raw32(h, tcp::field::ACK_NUM.start);
        let ack = u32::from_be(ack_raw);
        let w = tcp::field::WINDOW.start;
        let window_raw = raw16(h, w);
        let window = u16::from_be(window_raw);
        // SYN and FIN count one each: FIN is bit 0, SYN bit 1, so the
        // count of those two bits is (bits + 1) / 2.
        let ends = (u32::from(flags & (TcpFlags::SYN | TcpFlags::FIN)) + 1) >> 1;
        // `Fixed` took the header from a segment at least `N` long.
        let end = seq
            .wrapping_add((len as u32).wrapping_sub(N as u32))
            .wrapping_add(ends);
        let inbound = dir == Direction::Inbound;
        let (client, backend) = (self.client_wscale, self.backend_wscale);
        let (s_ws, r_ws) = if inbound {
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
        let r_max = r_ws.scale(u32::from(u16::MAX));
        if before(s.maxend, seq) || before(end, s.end.wrapping_sub(r_max)) {
            return Err(DropReason::SynProxyOutOfWindow);
        }
        if has_ack {
            let span = s_ws.scale(u32::from(u16::MAX)).max(MIN_ACK_WINDOW) * 2;
            if before(r.end, ack_r) || before(ack_r, r.end.wrapping_sub(span)) {
                return Err(DropReason::SynProxyOutOfWindow);
            }
        }
        if before(s.end, end) {
            s.end = end;
        }
        if has_ack {
            let right = ack_r.wrapping_add(s_ws.scale(u32::from(window)));
            if before(r.maxend, right) {
                r.maxend = right;
            }
        }
        // The shift, and the backend's window rescaled.
        let mut d = RawDelta::default();
        let timestamps = N > TCP_MIN_HEADER_LEN;
        let ts = TCP_MIN_HEADER_LEN + 4;
        if inbound {
            if has_ack {
                let back = self.adjust.backend_seq.wrapping_neg();
                d.add(h, tcp::field::ACK_NUM.start, (ack, ack_raw), back);
                if timestamps {
                    let tsecr = raw32(h, ts + 4);
                    let back = self.adjust.backend_ts.wrapping_neg();
                    d.add(h, ts + 4, (u32::from_be(tsecr), tsecr), back);
                }
            }
        } else {
            let at = tcp::field::SEQ_NUM.start;
            d.add(h, at, (seq, seq_raw), self.adjust.backend_seq);
            if timestamps {
                let tsval = raw32(h, ts);
                d.add(h, ts, (u32::from_be(tsval), tsval), self.adjust.backend_ts);
            }
            let new = rescaled(window, self.backend_wscale).to_be();
            if new != window_raw {
                h[w..w + 2].copy_from_slice(&new.to_ne_bytes());
                d.0 += u64::from(!window_raw) + u64::from(new);
            }
        }
        d.write(h);
        Ok(())
    }
}

impl<P: PacketBuf> Datapath<P> {
    /// A segment of an established splice without a PROXY header (every
    /// segment of a SYN-proxied connection after its handshake), checked
    /// and translated in place: Some(true) when it goes on, Some(false)
    /// when it was dropped (counted), None when `splice` has to see it
    /// (the handshake, a PROXY header).
    #[inline(always)]
    pub(in crate::pipeline) fn splice_in_place(
        &mut self,
        pkt: &mut P,
        meta: &Ipv4Meta,
        hit: Hit,
    ) -> Option<bool> {
        let slot = self.synproxy.splices.get_mut(hit.id.index())?;
        // (`STRAIGHT` includes `ALONE`: established, no header.)
        let straight = slot.plain_splice();
        if !straight && (!slot.established || slot.header.is_some()) {
            return None;
        }
        // (No TCP segment: the general path refuses it, as `translate`
        // of an empty one.)
        let verdict = match pkt.data_mut().get_mut(meta.l4_offset..meta.ip_end()) {
            Some(h) => slot.translate_as(straight, hit.dir, h),
            None => slot.translate_other(hit.dir, &mut []),
        };
        match verdict {
            Ok(()) => Some(true),
            Err(reason) => {
                self.drop(reason);
                Some(false)
            }
        }
    }
}
