//! SYN cookies, encoded and checked as Linux does (`net/ipv4/syncookies.c`).
//!
//! The initial sequence number of our SYN-ACK carries everything the
//! handshake needs, so a SYN costs no state:
//!
//! ```text
//! cookie = H(k0; saddr, daddr, sport<<16|dport, 0) + client_isn + (count << 24)
//!        + ((H(k1; saddr, daddr, sport<<16|dport, count) + mss_index) mod 2^24)
//! ```
//!
//! `H` is SipHash-2-4 ([`super::siphash`]) with a pair of 128-bit secrets,
//! `count` the time in 64-second periods (the caller passes the time: no
//! clock read per packet) and `mss_index` an index into [`MSS_TABLE`]. The
//! ACK that completes the handshake echoes `cookie + 1` and carries
//! `client_isn + 1`; [`CookieSecrets::check`] takes the first hash off,
//! reads `count` from the top byte, refuses one more than
//! [`MAX_AGE_PERIODS`] old, and takes the second hash off to find the MSS
//! index, which must be in the table: a forged or stale cookie passes with
//! probability about 2^-22 per try.
//!
//! Unlike Linux (whose secrets live as long as the kernel), the secrets are
//! rotated every [`ROTATE_PERIOD_MS`]: the previous pair is still accepted,
//! so a cookie stays valid for its whole life across one rotation.
//!
//! Window scale, SACK and ECN do not fit in the sequence number; when the
//! client sent timestamps they ride in the low 6 bits of our timestamp value
//! ([`timestamp_cookie`]), which the client echoes back
//! ([`decode_timestamp_cookie`]). Without timestamps the connection goes on
//! without window scaling or SACK, as with Linux.

use super::siphash::{siphash_4u32, siphash_4u32_pair, SipKey};
use crate::tuple::FiveTuple;

/// Bits of the cookie below the counter.
const COOKIE_BITS: u32 = 24;
const COOKIE_MASK: u32 = (1 << COOKIE_BITS) - 1;

/// The MSS values a cookie can carry (Linux's `msstab`, sorted): a client's
/// MSS is rounded down to one of them.
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];

/// Length of one counter period, in milliseconds (Linux: 60 s of jiffies).
pub const PERIOD_MS: u64 = 64_000;

/// A cookie is accepted while its counter is less than this many periods
/// old (Linux's `MAX_SYNCOOKIE_AGE`): between 64 and 128 seconds.
pub const MAX_AGE_PERIODS: u32 = 2;

/// How often the secrets change: a cookie's longest life, so one made just
/// before a rotation is still checked with the previous pair.
pub const ROTATE_PERIOD_MS: u64 = PERIOD_MS * MAX_AGE_PERIODS as u64;

/// The two SipHash keys of one generation of cookies.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CookieKeys(pub [SipKey; 2]);

impl CookieKeys {
    /// Fresh keys from the operating system (`getrandom`): at start and at
    /// each rotation, never per packet.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes)?;
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        Ok(CookieKeys([
            SipKey([word(0), word(1)]),
            SipKey([word(2), word(3)]),
        ]))
    }

    fn hash(&self, t: &FiveTuple, count: u32, which: usize) -> u32 {
        let ports = u32::from(t.src_port) << 16 | u32::from(t.dst_port);
        siphash_4u32(
            u32::from(t.src),
            u32::from(t.dst),
            ports,
            count,
            &self.0[which],
        ) as u32
    }

    /// Both hashes of a cookie made at `count`, in one interleaved pass.
    fn hashes(&self, t: &FiveTuple, count: u32) -> (u32, u32) {
        let ports = u32::from(t.src_port) << 16 | u32::from(t.dst_port);
        let words = (u32::from(t.src), u32::from(t.dst), ports);
        let (h0, h1) = siphash_4u32_pair(words, (0, count), (&self.0[0], &self.0[1]));
        (h0 as u32, h1 as u32)
    }

    fn make(&self, syn: &FiveTuple, client_isn: u32, count: u32, mss_index: u32) -> u32 {
        let (h0, h1) = self.hashes(syn, count);
        h0.wrapping_add(client_isn)
            .wrapping_add(count << COOKIE_BITS)
            .wrapping_add(h1.wrapping_add(mss_index) & COOKIE_MASK)
    }

    /// The MSS index the cookie carries, if it is this generation's and
    /// young enough.
    fn index_of(&self, ack: &FiveTuple, client_isn: u32, cookie: u32, count: u32) -> Option<usize> {
        let rest = cookie.wrapping_sub(self.hash(ack, 0, 0).wrapping_add(client_isn));
        let age = count.wrapping_sub(rest >> COOKIE_BITS) & (u32::MAX >> COOKIE_BITS);
        if age >= MAX_AGE_PERIODS {
            return None;
        }
        let made = count.wrapping_sub(age);
        let index = rest.wrapping_sub(self.hash(ack, made, 1)) & COOKIE_MASK;
        let index = usize::try_from(index).ok()?;
        (index < MSS_TABLE.len()).then_some(index)
    }
}

/// Why an ACK's cookie was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CookieError {
    /// Made with other secrets, for another tuple or sequence number, or
    /// older than [`MAX_AGE_PERIODS`]: the three cannot be told apart.
    Invalid,
}

/// What a SYN-ACK's sequence number says.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Cookie {
    /// Our initial sequence number.
    pub isn: u32,
    /// The MSS it carries: the client's rounded down to [`MSS_TABLE`].
    pub mss: u16,
}

/// A worker's cookie secrets: the current pair and, after a rotation, the
/// one before.
#[derive(Clone, Debug)]
pub struct CookieSecrets {
    current: CookieKeys,
    previous: Option<CookieKeys>,
    /// When the current pair took over, ms on the caller's clock.
    since_ms: u64,
}

/// The coarse counter at `now_ms`.
#[inline]
pub fn counter(now_ms: u64) -> u32 {
    (now_ms / PERIOD_MS) as u32
}

impl CookieSecrets {
    pub fn new(keys: CookieKeys, now_ms: u64) -> Self {
        CookieSecrets {
            current: keys,
            previous: None,
            since_ms: now_ms,
        }
    }

    /// Whether the current pair has served [`ROTATE_PERIOD_MS`].
    pub fn rotation_due(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.since_ms) >= ROTATE_PERIOD_MS
    }

    /// `fresh` becomes current; the current pair stays acceptable as the
    /// previous one, and the one before is forgotten.
    pub fn rotate(&mut self, fresh: CookieKeys, now_ms: u64) {
        self.previous = Some(self.current);
        self.current = fresh;
        self.since_ms = now_ms;
    }

    /// The cookie for a SYN with tuple `syn` (as received: client to VIP)
    /// and sequence number `client_isn`, announcing `mss`.
    pub fn encode(&self, syn: &FiveTuple, client_isn: u32, mss: u16, now_ms: u64) -> Cookie {
        let index = MSS_TABLE.iter().rposition(|&m| mss >= m).unwrap_or(0);
        Cookie {
            isn: self
                .current
                .make(syn, client_isn, counter(now_ms), index as u32),
            mss: MSS_TABLE[index],
        }
    }

    /// Checks the ACK of a handshake we answered: `ack` its tuple (client
    /// to VIP), `seq` and `ack_seq` its sequence and acknowledgment
    /// numbers. Returns the MSS the cookie carries.
    pub fn check(
        &self,
        ack: &FiveTuple,
        seq: u32,
        ack_seq: u32,
        now_ms: u64,
    ) -> Result<u16, CookieError> {
        let client_isn = seq.wrapping_sub(1);
        let cookie = ack_seq.wrapping_sub(1);
        let count = counter(now_ms);
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find_map(|keys| keys.index_of(ack, client_isn, cookie, count))
            .map(|i| MSS_TABLE[i])
            .ok_or(CookieError::Invalid)
    }
}

/// The window scale a cookie timestamp says the client did not send.
const TS_NO_WSCALE: u32 = 0xf;
const TS_WSCALE_MASK: u32 = 0xf;
const TS_SACK: u32 = 1 << 4;
const TS_ECN: u32 = 1 << 5;
const TS_BITS: u32 = 6;

/// The largest window shift (RFC 7323 2.3); larger ones are taken as this.
pub const MAX_WSCALE: u8 = 14;

/// The options of a client's SYN a cookie timestamp carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct EchoedOptions {
    /// The client's window shift, if it sent one.
    pub wscale: Option<u8>,
    pub sack: bool,
    pub ecn: bool,
}

/// Our SYN-ACK's timestamp value: `now_ts` (ms) with its low 6 bits
/// replaced by `opts`, never above `now_ts` (Linux's
/// `cookie_init_timestamp`), so later timestamps never go backwards.
pub fn timestamp_cookie(opts: EchoedOptions, now_ts: u32) -> u32 {
    let mut bits = opts
        .wscale
        .map_or(TS_NO_WSCALE, |w| u32::from(w.min(MAX_WSCALE)));
    if opts.sack {
        bits |= TS_SACK;
    }
    if opts.ecn {
        bits |= TS_ECN;
    }
    let ts = (now_ts >> TS_BITS) << TS_BITS | bits;
    if ts > now_ts {
        ts.wrapping_sub(1 << TS_BITS)
    } else {
        ts
    }
}

/// The options an echoed cookie timestamp (the ACK's TSecr) carries.
pub fn decode_timestamp_cookie(tsecr: u32) -> EchoedOptions {
    let w = tsecr & TS_WSCALE_MASK;
    EchoedOptions {
        // 15 means none; 14 is the largest shift we ever encode.
        wscale: (w != TS_NO_WSCALE).then(|| (w as u8).min(MAX_WSCALE)),
        sack: tsecr & TS_SACK != 0,
        ecn: tsecr & TS_ECN != 0,
    }
}

#[cfg(test)]
#[path = "cookie_tests.rs"]
mod tests;
