//! Full reassembly of IPv4 datagrams, for the services that need the whole
//! datagram (docs/fragments-and-mtu.md, "Reassembly"): today the UDP PROXY
//! v2 header, which goes in front of the payload and so moves every byte
//! after it.
//!
//! A fixed set of [`REASM_CONTEXTS`] contexts per worker, made at start.
//! A datagram's first fragment seen (whichever) takes a free context and
//! one buffer from the reassembly pool (large buffers, `PacketIo::alloc_reasm`);
//! every fragment's payload is copied to its place in that buffer and the
//! fragment is freed at once, so nothing else is held. The first fragment
//! brings the L2 and IP header. When every byte from 0 to the last
//! fragment's end is there, the buffer is the whole datagram: its header
//! says so (length, no offset, no more-fragments, checksum) and it goes on
//! as if it had come whole.
//!
//! Refusals drop what the datagram had taken, counted by name: an exact
//! repeat of a fragment is dropped alone (`reasm_duplicate`); any other
//! overlap (teardrop), two different ends, a piece past the end, or a
//! middle fragment not a multiple of 8 bytes drops the whole datagram
//! (`reasm_overlap`, `reasm_inconsistent`), as does a datagram longer than
//! the buffer (`reasm_too_big`) or in more than [`REASM_MAX_FRAGMENTS`]
//! pieces (`reasm_too_many`). No free context: `reasm_full`; no buffer:
//! `no_buffer_room`; not complete within [`REASM_TIMEOUT_MS`]:
//! `reasm_timeout`. Every count is of fragments (packets), as every drop
//! counter is.

use arrayvec::ArrayVec;

use super::FragKey;
use crate::buf::PacketBuf;
use crate::checksum;
use crate::drop::DropReason;
use crate::wire::ipv4::{field, DONT_FRAGMENT};
use crate::wire::{get_be16, put_be16};

/// Datagrams one worker reassembles at once.
pub const REASM_CONTEXTS: usize = 16;
/// How long a datagram's fragments may take, from the first one seen.
pub const REASM_TIMEOUT_MS: u64 = 1000;
/// Fragments one datagram may come in (65 280 bytes at an MTU of 1500 is
/// 45; at 576, 119 would be needed and is refused).
pub const REASM_MAX_FRAGMENTS: usize = 64;
/// Bytes kept in front of the payload in a reassembly buffer: the longest
/// L2 header (Ethernet and two VLAN tags, 22) and IP header (60) fit.
const HEAD: usize = 96;
/// Bytes kept free behind the datagram, so it can grow by the PROXY v2
/// header (28) in place.
pub const GROWTH: usize = 32;
/// The buffer room a reassembly buffer needs at least (a datagram of
/// one 1500-byte MTU's worth).
const MIN_ROOM: usize = HEAD + 1500 + GROWTH;

/// A fragment offered for reassembly, as classified.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    /// The frame.
    pub frame: &'a [u8],
    /// Where its IP header starts, and its payload.
    pub l3: usize,
    pub l4: usize,
    /// One past its last IP byte.
    pub ip_end: usize,
    /// Its payload's place in the datagram's payload, in bytes.
    pub offset: u32,
    /// The more-fragments flag.
    pub more: bool,
    /// The port it came in on.
    pub port: u16,
}

/// What a fragment taken in did.
#[derive(Debug)]
pub enum Taken<P> {
    /// Its datagram waits for more.
    Pending,
    /// It completed its datagram: the whole of it, and the port its first
    /// fragment came in on.
    Done { pkt: P, port: u16, fragments: u32 },
}

/// A fragment refused: why, and how many fragments that drops (the
/// datagram's taken so far, with this one, when the whole is dropped).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Refusal {
    pub reason: DropReason,
    pub fragments: u64,
}

struct Context<P> {
    key: FragKey,
    born: u64,
    /// The datagram's buffer, while the context is live.
    buf: Option<P>,
    /// The pieces taken, (start, end) of the payload, in arrival order.
    pieces: ArrayVec<(u32, u32), REASM_MAX_FRAGMENTS>,
    /// Payload bytes taken (the pieces never overlap).
    have: u32,
    /// The payload's end, once the last fragment came.
    end: Option<u32>,
    /// Payload bytes the buffer holds.
    limit: u32,
    /// The first fragment's L2 + IP header length (IP header's length),
    /// and its port, once it came.
    head: Option<(usize, usize, u16)>,
}

impl<P> Context<P> {
    fn empty() -> Self {
        Context {
            key: FragKey {
                src: std::net::Ipv4Addr::UNSPECIFIED,
                dst: std::net::Ipv4Addr::UNSPECIFIED,
                proto: 0,
                ident: 0,
            },
            born: 0,
            buf: None,
            pieces: ArrayVec::new(),
            have: 0,
            end: None,
            limit: 0,
            head: None,
        }
    }

    fn live(&self) -> bool {
        self.buf.is_some()
    }

    fn expired(&self, now: u64) -> bool {
        now.saturating_sub(self.born) >= REASM_TIMEOUT_MS
    }

    /// Frees the buffer; the fragments it had taken.
    fn release(&mut self) -> u64 {
        let n = self.pieces.len() as u64;
        self.buf = None;
        self.pieces.clear();
        self.have = 0;
        self.end = None;
        self.head = None;
        n
    }

    /// Checks a piece against those taken: `Err` drops it, and the whole
    /// datagram unless it is an exact repeat.
    fn check(&self, start: u32, end: u32, more: bool) -> Result<(), DropReason> {
        if self.pieces.contains(&(start, end)) && (more || self.end == Some(end)) {
            return Err(DropReason::ReasmDuplicate);
        }
        if more && (end == start || (end - start) % 8 != 0) {
            return Err(DropReason::ReasmInconsistent);
        }
        if let Some(e) = self.end {
            if end > e || !more {
                return Err(DropReason::ReasmInconsistent);
            }
        }
        if !more && self.pieces.iter().any(|&(_, e)| e > end) {
            return Err(DropReason::ReasmInconsistent);
        }
        if end > self.limit {
            return Err(DropReason::ReasmTooBig);
        }
        if self.pieces.iter().any(|&(s, e)| start < e && s < end) {
            return Err(DropReason::ReasmOverlap);
        }
        if self.pieces.is_full() {
            return Err(DropReason::ReasmTooMany);
        }
        Ok(())
    }
}

/// One worker's reassembly contexts; `P` the buffer type.
pub struct ReasmTable<P> {
    contexts: Vec<Context<P>>,
    live: usize,
}

impl<P: PacketBuf> Default for ReasmTable<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: PacketBuf> ReasmTable<P> {
    /// [`REASM_CONTEXTS`] contexts, made now and never again.
    pub fn new() -> Self {
        ReasmTable {
            contexts: (0..REASM_CONTEXTS).map(|_| Context::empty()).collect(),
            live: 0,
        }
    }

    /// Datagrams being reassembled now.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Takes a fragment of `key`'s datagram in (its bytes copied: the
    /// caller frees it). `alloc` gives a reassembly buffer for a new
    /// datagram. A timed-out datagram met on the way is freed and its
    /// fragments added to `timed_out`.
    pub fn take(
        &mut self,
        key: FragKey,
        now: u64,
        f: Fragment<'_>,
        alloc: impl FnOnce() -> Option<P>,
        timed_out: &mut u64,
    ) -> Result<Taken<P>, Refusal> {
        let i = self.context_of(key, now, alloc, timed_out)?;
        let Some(c) = self.contexts.get_mut(i) else {
            return Err(refuse(DropReason::ReasmFull, 1));
        };
        let start = f.offset;
        let end = start + f.ip_end.saturating_sub(f.l4) as u32;
        if let Err(reason) = c.check(start, end, f.more) {
            if reason == DropReason::ReasmDuplicate {
                return Err(refuse(reason, 1));
            }
            let n = c.release() + 1;
            self.live -= 1;
            return Err(refuse(reason, n));
        }
        let header = f.l4 - f.l3;
        if start == 0 && f.l4 > HEAD {
            let n = c.release() + 1;
            self.live -= 1;
            return Err(refuse(DropReason::ReasmInconsistent, n));
        }
        let Some(buf) = c.buf.as_mut() else {
            return Err(refuse(DropReason::ReasmFull, 1));
        };
        let (Some(dst), Some(src)) = (
            buf.data_mut()
                .get_mut(HEAD + start as usize..HEAD + end as usize),
            f.frame.get(f.l4..f.ip_end),
        ) else {
            return Err(refuse(DropReason::ReasmTooBig, 1));
        };
        dst.copy_from_slice(src);
        if start == 0 {
            let at = HEAD - f.l4;
            if let (Some(dst), Some(src)) = (buf.data_mut().get_mut(at..HEAD), f.frame.get(..f.l4))
            {
                dst.copy_from_slice(src);
            }
            c.head = Some((f.l4, header, f.port));
        }
        c.pieces.push((start, end));
        c.have += end - start;
        if !f.more {
            c.end = Some(end);
        }
        match (c.end, c.head) {
            (Some(e), Some(head)) if e == c.have => {
                let fragments = c.pieces.len() as u32;
                let pkt = c.buf.take();
                c.release();
                self.live -= 1;
                let (pkt, port) = finish(pkt, head, e).ok_or(refuse(DropReason::ReasmTooBig, 1))?;
                Ok(Taken::Done {
                    pkt,
                    port,
                    fragments,
                })
            }
            _ => Ok(Taken::Pending),
        }
    }

    /// The context of `key`'s datagram: its live one, or a free one with
    /// a new buffer.
    fn context_of(
        &mut self,
        key: FragKey,
        now: u64,
        alloc: impl FnOnce() -> Option<P>,
        timed_out: &mut u64,
    ) -> Result<usize, Refusal> {
        let mut free = None;
        for (i, c) in self.contexts.iter_mut().enumerate() {
            if c.live() && c.expired(now) {
                *timed_out += c.release();
                self.live -= 1;
            }
            if c.live() && c.key == key {
                return Ok(i);
            }
            if free.is_none() && !c.live() {
                free = Some(i);
            }
        }
        let i = free.ok_or(refuse(DropReason::ReasmFull, 1))?;
        let mut buf = alloc().ok_or(refuse(DropReason::NoBufferRoom, 1))?;
        let room = buf.tailroom();
        if room < MIN_ROOM || buf.append(room - GROWTH).is_none() {
            return Err(refuse(DropReason::NoBufferRoom, 1));
        }
        let c = self
            .contexts
            .get_mut(i)
            .ok_or(refuse(DropReason::ReasmFull, 1))?;
        c.key = key;
        c.born = now;
        c.limit = (room - GROWTH - HEAD) as u32;
        c.buf = Some(buf);
        self.live += 1;
        Ok(i)
    }

    /// Upkeep (every 100 ms): frees timed-out datagrams; the fragments
    /// they had taken.
    pub fn expire(&mut self, now: u64) -> u64 {
        if self.live == 0 {
            return 0;
        }
        let mut n = 0;
        for c in self.contexts.iter_mut() {
            if c.live() && c.expired(now) {
                n += c.release();
                self.live -= 1;
            }
        }
        n
    }
}

fn refuse(reason: DropReason, fragments: u64) -> Refusal {
    Refusal { reason, fragments }
}

/// The buffer of a complete datagram cut to it, its IP header made a whole
/// datagram's: length, flags (DF kept), no offset, checksum.
fn finish<P: PacketBuf>(
    pkt: Option<P>,
    (l4, header, port): (usize, usize, u16),
    end: u32,
) -> Option<(P, u16)> {
    let mut pkt = pkt?;
    if !pkt.adj(HEAD - l4) {
        return None;
    }
    let len = l4 + end as usize;
    if !pkt.trim(pkt.len().checked_sub(len)?) {
        return None;
    }
    let total = u16::try_from(header + end as usize).ok()?;
    let l3 = l4 - header;
    let f = pkt.data_mut();
    let word = get_be16(f, l3 + field::FLG_OFF.start) & DONT_FRAGMENT;
    put_be16(f, l3 + field::LENGTH.start, total);
    put_be16(f, l3 + field::FLG_OFF.start, word);
    put_be16(f, l3 + field::CHECKSUM.start, 0);
    let sum = checksum::checksum(f.get(l3..l4)?);
    put_be16(f, l3 + field::CHECKSUM.start, sum);
    Some((pkt, port))
}

#[cfg(test)]
#[path = "reasm_tests.rs"]
mod tests;
