//! Sequence-number translation between two TCP connections spliced into one
//! (the SYN proxy), or one whose client direction carries bytes the client
//! never sent (the PROXY protocol header, `pipeline::proxy_tcp`).
//!
//! A spliced connection has two sequence spaces per direction: what one
//! side sends and what the other side expects. [`SeqAdjust`] holds the two
//! differences, and for timestamps the difference of the two clocks:
//!
//! | field | client → backend ([`SeqAdjust::to_backend`]) | backend → client ([`SeqAdjust::to_client`]) |
//! |---|---|---|
//! | sequence number | `+ client_seq` (after `client_from`) | `+ backend_seq` |
//! | acknowledgment number | `- backend_seq` | `- client_seq` (a value inside the gap: `client_from`) |
//! | SACK block edges (they acknowledge the other direction) | `- backend_seq` | as the acknowledgment |
//! | TSval | unchanged | `+ backend_ts` |
//! | TSecr (echoes the other side's TSval) | `- backend_ts` | unchanged |
//!
//! The SYN proxy sets `backend_seq = cookie ISN - backend ISN` and
//! `backend_ts = our SYN-ACK's TSval - backend's TSval`, leaving
//! `client_seq` 0 (the backend sees the client's own ISN). The PROXY
//! protocol sets `client_seq = header length` and `client_from = client
//! ISN + 1`: the header occupies the backend's sequence numbers from
//! `client_from` on, so the client's bytes after its first one land
//! `client_seq` higher. A client segment starting at `client_from` keeps its
//! number (the header goes in front of its payload); the SYN, before it,
//! too. The backend acknowledging part of the header (its SYN-ACK
//! acknowledges `client_from` itself) is the client's `client_from`.
//! Checksums are updated incrementally (RFC 1624); nothing else moves, so
//! the segment keeps its length.

use super::options::{self, Malformed};
use crate::checksum::Delta;
use crate::wire::tcp::{self, TCP_MIN_HEADER_LEN};
use crate::wire::{get_be16, get_be32, put_be16, put_be32};

/// The per-session translation; `Default` changes nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeqAdjust {
    /// Added to the client's sequence numbers after `client_from` on the
    /// way to the backend: the length of what was inserted at
    /// `client_from` (0 for the SYN proxy alone).
    pub client_seq: u32,
    /// The client's sequence number where the inserted bytes begin.
    pub client_from: u32,
    /// Added to the backend's sequence numbers on the way to the client.
    pub backend_seq: u32,
    /// Added to the backend's TSval on the way to the client.
    pub backend_ts: u32,
}

impl SeqAdjust {
    /// Whether it changes anything.
    pub fn is_identity(&self) -> bool {
        *self == SeqAdjust::default()
    }

    /// Translates a client → backend segment (`header`: the TCP header,
    /// options included, as long as its data offset says).
    #[inline]
    pub fn to_backend(&self, header: &mut [u8]) -> Result<(), Malformed> {
        self.backend_shift(header).apply(header)
    }

    /// What `to_backend` adds to each field of `header`.
    #[inline]
    fn backend_shift(&self, header: &[u8]) -> Shift {
        let seq = header
            .get(tcp::field::SEQ_NUM)
            .map_or(0, |_| get_be32(header, tcp::field::SEQ_NUM.start));
        let after = (seq.wrapping_sub(self.client_from) as i32) > 0;
        Shift {
            seq: if after { self.client_seq } else { 0 },
            ack: self.backend_seq.wrapping_neg(),
            gap: None,
            tsval: 0,
            tsecr: self.backend_ts.wrapping_neg(),
        }
    }

    /// The sequence number a backend sent, from the one `to_client` made
    /// of it (an ICMP error from the client's side quotes the latter).
    pub fn backend_seq_of(&self, seq: u32) -> u32 {
        seq.wrapping_sub(self.backend_seq)
    }

    /// The sequence number a client sent, from the one `to_backend` made
    /// of it (an ICMP error from the backend's side quotes the latter):
    /// numbers past the inserted bytes move back down, `client_from`
    /// itself stays.
    pub fn client_seq_of(&self, seq: u32) -> u32 {
        match (seq.wrapping_sub(self.client_from) as i32) > 0 {
            true => seq.wrapping_sub(self.client_seq),
            false => seq,
        }
    }

    /// Translates a backend → client segment.
    #[inline]
    pub fn to_client(&self, header: &mut [u8]) -> Result<(), Malformed> {
        self.client_shift().apply(header)
    }

    /// What `to_client` adds to each field.
    #[inline]
    fn client_shift(&self) -> Shift {
        Shift {
            seq: self.backend_seq,
            ack: self.client_seq.wrapping_neg(),
            gap: (self.client_seq != 0).then_some((self.client_from, self.client_seq)),
            tsval: self.backend_ts,
            tsecr: 0,
        }
    }
}

/// A TCP header in one of the two layouts of nearly every established
/// segment, recognised by its data offset and one word, as a fixed-size
/// array: no options (20 bytes), or Linux's NOP, NOP, timestamp (32).
pub enum Fixed<'a> {
    Plain(&'a mut [u8; TCP_MIN_HEADER_LEN]),
    Timestamp(&'a mut [u8; 32]),
}

impl Fixed<'_> {
    /// `h`'s header as one of the fixed layouts, if it is one (`h`: the
    /// TCP header and what follows).
    #[inline(always)]
    pub fn of(h: &mut [u8]) -> Option<Fixed<'_>> {
        // (Either layout is at least the 20 bytes of the fixed header.)
        let fixed = h.first_chunk::<TCP_MIN_HEADER_LEN>()?;
        match fixed[tcp::field::DATA_OFFSET] >> 4 {
            5 => h.first_chunk_mut().map(Fixed::Plain),
            8 => {
                let fixed = h.first_chunk_mut::<32>()?;
                (word(fixed, TCP_MIN_HEADER_LEN) == NOP_NOP_TIMESTAMP)
                    .then_some(Fixed::Timestamp(fixed))
            }
            _ => None,
        }
    }
}

impl SeqAdjust {
    /// [`SeqAdjust::to_backend`] on a header of a [`Fixed`] layout (`N`: 20
    /// or 32, as `Fixed` holds them), the checksum left to the caller: the
    /// change to fold into it is returned.
    #[inline(always)]
    pub fn to_backend_fixed<const N: usize>(&self, h: &mut [u8; N]) -> Delta {
        self.backend_shift(h).shift_fixed(h)
    }

    /// [`SeqAdjust::to_client`] the same way.
    #[inline(always)]
    pub fn to_client_fixed<const N: usize>(&self, h: &mut [u8; N]) -> Delta {
        self.client_shift().shift_fixed(h)
    }
}

/// Folds `d` into the TCP checksum of a fixed-size header.
#[inline(always)]
pub fn write_fixed_checksum<const N: usize>(h: &mut [u8; N], d: Delta) {
    let check = tcp::field::CHECKSUM.start;
    let sum = u16::from_be_bytes([h[check], h[check + 1]]);
    h[check..check + 2].copy_from_slice(&d.apply(sum).to_be_bytes());
}

/// What one direction adds to each field.
struct Shift {
    seq: u32,
    ack: u32,
    /// Acknowledged sequence numbers in `[from, from + len)` become
    /// `from` (they acknowledge part of the inserted bytes).
    gap: Option<(u32, u32)>,
    tsval: u32,
    tsecr: u32,
}

/// The option block of the usual established segment (Linux's): NOP,
/// NOP, timestamp (kind 8, length 10), read as one big-endian word.
const NOP_NOP_TIMESTAMP: u32 = 0x0101_080a;

/// Where the TSval of that layout lies: right behind the NOPs and the
/// timestamp's kind and length.
const FAST_TSVAL_AT: usize = TCP_MIN_HEADER_LEN + 4;

impl Shift {
    /// Shifts `h` in place. The two layouts of nearly every established
    /// segment ([`Fixed`]) are shifted without the option walk, on a
    /// fixed-size header (no bounds checks); anything else (SACK blocks,
    /// options in another order) takes [`Shift::apply_general`]. Both
    /// write the same bytes.
    #[inline(always)]
    fn apply(&self, h: &mut [u8]) -> Result<(), Malformed> {
        match Fixed::of(h) {
            Some(Fixed::Plain(f)) => {
                let d = self.shift_fixed(f);
                write_fixed_checksum(f, d);
            }
            Some(Fixed::Timestamp(f)) => {
                let d = self.shift_fixed(f);
                write_fixed_checksum(f, d);
            }
            None => return self.apply_general(h),
        }
        Ok(())
    }

    /// The fast path: the fixed fields and, in the timestamp layout (`N`
    /// of 32), the timestamp at `FAST_TSVAL_AT`. The checksum is left as
    /// it was: every change is folded into the `Delta` returned, for the
    /// caller to apply (with its own changes, if it makes more).
    #[inline(always)]
    fn shift_fixed<const N: usize>(&self, h: &mut [u8; N]) -> Delta {
        let mut d = Delta::default();
        add_word(h, tcp::field::SEQ_NUM.start, self.seq, &mut d);
        let has_ack = h[tcp::field::FLAGS] & tcp::TcpFlags::ACK != 0;
        if has_ack {
            let at = tcp::field::ACK_NUM.start;
            let add = self.ack_add(word(h, at));
            add_word(h, at, add, &mut d);
        }
        if N > TCP_MIN_HEADER_LEN {
            add_word(h, FAST_TSVAL_AT, self.tsval, &mut d);
            if has_ack {
                add_word(h, FAST_TSVAL_AT + 4, self.tsecr, &mut d);
            }
        }
        d
    }

    /// Any option layout: one strict walk finds the timestamp and SACK
    /// blocks (`options::parse`).
    fn apply_general(&self, h: &mut [u8]) -> Result<(), Malformed> {
        if h.len() < TCP_MIN_HEADER_LEN {
            return Err(Malformed);
        }
        // Read everything before writing anything: a malformed segment is
        // left as it came.
        let opts = match self.ack != 0 || self.gap.is_some() || self.tsval != 0 || self.tsecr != 0 {
            true => Some(options::parse(h)?),
            false => None,
        };
        let mut d = Delta::default();
        add_at(h, tcp::field::SEQ_NUM.start, self.seq, &mut d);
        let has_ack = h[tcp::field::FLAGS] & tcp::TcpFlags::ACK != 0;
        if has_ack {
            self.ack_at(h, tcp::field::ACK_NUM.start, &mut d);
        }
        if let Some(o) = opts {
            for at in o.sack_blocks_at.iter().map(|&at| usize::from(at)) {
                self.ack_at(h, at, &mut d);
                self.ack_at(h, at + 4, &mut d);
            }
            if let Some(at) = o.timestamp_at.map(usize::from) {
                add_at(h, at, self.tsval, &mut d);
                // TSecr is meaningful only with ACK set (RFC 7323 3.2).
                if has_ack {
                    add_at(h, at + 4, self.tsecr, &mut d);
                }
            }
        }
        write_checksum(h, d);
        Ok(())
    }

    /// Shifts the acknowledged sequence number at `at`.
    fn ack_at(&self, h: &mut [u8], at: usize, d: &mut Delta) {
        let add = self.ack_add(get_be32(h, at));
        add_at(h, at, add, d);
    }

    /// What an acknowledged sequence number `old` gets added.
    #[inline(always)]
    fn ack_add(&self, old: u32) -> u32 {
        match self.gap {
            Some((from, len)) if old.wrapping_sub(from) < len => from.wrapping_sub(old),
            _ => self.ack,
        }
    }
}

/// The 32-bit field at `at` of a fixed-size header.
#[inline(always)]
pub(crate) fn word<const N: usize>(h: &[u8; N], at: usize) -> u32 {
    u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]])
}

/// Adds `n` to the 32-bit field at even offset `at` of a fixed-size
/// header, recording the change in `d` (as `add_at`, which it matches).
#[inline(always)]
fn add_word<const N: usize>(h: &mut [u8; N], at: usize, n: u32, d: &mut Delta) {
    if n == 0 {
        return;
    }
    let old = word(h, at);
    let new = old.wrapping_add(n);
    h[at..at + 4].copy_from_slice(&new.to_be_bytes());
    d.dword(old, new);
}

/// Folds `d` into the TCP checksum of `h` (long enough: the callers
/// checked the fixed header is there).
#[inline]
fn write_checksum(h: &mut [u8], d: Delta) {
    let check = tcp::field::CHECKSUM.start;
    let sum = get_be16(h, check);
    put_be16(h, check, d.apply(sum));
}

/// Adds `n` to the 32-bit field at `at` (any alignment: SACK blocks and
/// timestamps need not be word aligned), recording the change in `d`.
fn add_at(h: &mut [u8], at: usize, n: u32, d: &mut Delta) {
    if n == 0 {
        return;
    }
    let old = get_be32(h, at);
    let new = old.wrapping_add(n);
    put_be32(h, at, new);
    if at % 2 == 0 {
        d.dword(old, new);
    } else {
        // Each byte at an even offset is the high byte of a checksum word,
        // at an odd offset the low byte; the word's other byte cancels out.
        for (i, (o, n)) in old
            .to_be_bytes()
            .into_iter()
            .zip(new.to_be_bytes())
            .enumerate()
        {
            let (o, n) = (u16::from(o), u16::from(n));
            match (at + i) % 2 {
                0 => d.word(o << 8, n << 8),
                _ => d.word(o, n),
            }
        }
    }
}

#[cfg(test)]
#[path = "seq_tests.rs"]
mod tests;
