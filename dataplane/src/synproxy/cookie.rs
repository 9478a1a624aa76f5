//! SYN cookies: Linux's scheme (`net/ipv4/syncookies.c`: a keyed hash of
//! the 4-tuple, the client's ISN, a coarse counter and the MSS index),
//! built from one keyed hash where Linux takes two.
//!
//! The initial sequence number of our SYN-ACK carries everything the
//! handshake needs, so a SYN costs no state:
//!
//! ```text
//! h      = H(k; saddr, daddr, sport<<16|dport, client_isn, count<<2|mss_index)
//! cookie = h[31..3] << 3 | (count mod 2) << 2 | mss_index
//! ```
//!
//! `H` is SipHash-2-4 ([`super::siphash`]) over those five 32-bit words
//! with a 128-bit secret `k`, `count` the time in 64-second periods (the
//! caller passes the time: no clock read per packet) and `mss_index` an
//! index into [`MSS_TABLE`]. The ACK that completes the handshake echoes
//! `cookie + 1` and carries `client_isn + 1`; [`CookieSecrets::check`]
//! reads the index and the counter's parity from the low bits, takes the
//! counter the cookie was made at to be now's if the parity agrees and the
//! one before if not (a cookie lives at most [`MAX_AGE_PERIODS`] = 2
//! periods), hashes once with it and compares the 29 hash bits.
//!
//! Why it is as strong as Linux's. Everything the ACK must prove (tuple,
//! the client's ISN, the time it was made, the MSS) is hashed; without the
//! secret each of the 2^29 values of the hash bits is equally likely, so a
//! forged ACK passes with probability 2^-29 per try (Linux's: about 2^-22,
//! its index check on 24 bits). The validity window is Linux's: a cookie
//! checked with a counter other than the one it was made at fails the
//! hash, and the parity only ever names now's counter or the one before,
//! so a cookie two or more periods old, or made at a later counter (a
//! clock that went back), is refused. Linux needs its first hash, free of
//! the counter, to hide and then recover an 8-bit counter; one bit is
//! enough when only two counters can be valid. The three plain low bits
//! do not make the ISN easier to hit: a blind segment lands in a window
//! of W bytes with probability W/2^32 either way (the ISN takes one of
//! 2^29 values, 8 apart), and the bits the MSS index and parity take say
//! nothing of the secret.
//!
//! Unlike Linux (whose secrets live as long as the kernel), the secret is
//! rotated every [`ROTATE_PERIOD_MS`]: the previous one is still accepted,
//! so a cookie stays valid for its whole life across one rotation.
//!
//! Window scale, SACK and ECN do not fit in the sequence number; when the
//! client sent timestamps they ride in the low 6 bits of our timestamp value
//! ([`timestamp_cookie`]), which the client echoes back
//! ([`decode_timestamp_cookie`]). Without timestamps the connection goes on
//! without window scaling or SACK, as with Linux.

use super::siphash::{siphash_u32s, SipKey};
use crate::tuple::{FiveTuple, FiveTuple6};

/// The cookie's bits below the hash: the counter's parity and the MSS
/// index.
const PARITY_BIT: u32 = 1 << 2;
const INDEX_MASK: u32 = PARITY_BIT - 1;
const HASH_MASK: u32 = !(PARITY_BIT | INDEX_MASK);

/// The MSS values a cookie can carry (Linux's `msstab`, sorted): a client's
/// MSS is rounded down to one of them. Four: the index takes two bits.
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];

/// The MSS values an IPv6 cookie can carry (Linux's `msstab` of
/// `syncookies.c` for IPv6: 1280, 1480, 1500 and 9000 bytes of MTU less
/// the 60 bytes of IPv6 and TCP headers): an IPv6 header is 20 bytes
/// longer, so IPv4's values would round every IPv6 client down too far.
pub const MSS_TABLE6: [u16; 4] = [1220, 1420, 1440, 8940];

/// The flow a cookie is made for, as its family hashes it: IPv4's
/// 4-tuple in two words and its ports in one (five words with the ISN
/// and the counter), IPv6's addresses in eight (eleven: Linux's
/// `__cookie_v6_init_sequence` hashes the whole addresses too), and the
/// family's MSS table.
pub trait CookieFlow {
    const MSS_TABLE: [u16; 4];
    /// The keyed hash of the flow, the client's ISN and `when` (the
    /// counter and the MSS index).
    fn hash(&self, key: &SipKey, client_isn: u32, when: u32) -> u32;
}

impl CookieFlow for FiveTuple {
    const MSS_TABLE: [u16; 4] = MSS_TABLE;
    #[inline]
    fn hash(&self, key: &SipKey, client_isn: u32, when: u32) -> u32 {
        let ports = u32::from(self.src_port) << 16 | u32::from(self.dst_port);
        let words = [
            u32::from(self.src),
            u32::from(self.dst),
            ports,
            client_isn,
            when,
        ];
        siphash_u32s(&words, key) as u32
    }
}

impl CookieFlow for FiveTuple6 {
    const MSS_TABLE: [u16; 4] = MSS_TABLE6;
    #[inline]
    fn hash(&self, key: &SipKey, client_isn: u32, when: u32) -> u32 {
        let ports = u32::from(self.src_port) << 16 | u32::from(self.dst_port);
        let (s, d) = (u128::from(self.src), u128::from(self.dst));
        let word = |a: u128, i: u32| (a >> (96 - 32 * i)) as u32;
        let words = [
            word(s, 0),
            word(s, 1),
            word(s, 2),
            word(s, 3),
            word(d, 0),
            word(d, 1),
            word(d, 2),
            word(d, 3),
            ports,
            client_isn,
            when,
        ];
        siphash_u32s(&words, key) as u32
    }
}

/// Length of one counter period, in milliseconds (Linux: 60 s of jiffies).
pub const PERIOD_MS: u64 = 64_000;

/// A cookie is accepted while its counter is less than this many periods
/// old (Linux's `MAX_SYNCOOKIE_AGE`): between 64 and 128 seconds. The
/// cookie carries the counter's parity, which tells two periods apart.
pub const MAX_AGE_PERIODS: u32 = 2;

/// How often the secrets change: a cookie's longest life, so one made just
/// before a rotation is still checked with the previous pair.
pub const ROTATE_PERIOD_MS: u64 = PERIOD_MS * MAX_AGE_PERIODS as u64;

/// The SipHash key of one generation of cookies.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CookieKeys(pub SipKey);

impl CookieKeys {
    /// A fresh key from the operating system (`getrandom`): at start and
    /// at each rotation, never per packet.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::getrandom(&mut bytes)?;
        let mut k = [0u8; 8];
        k.copy_from_slice(&bytes[..8]);
        let k0 = u64::from_le_bytes(k);
        k.copy_from_slice(&bytes[8..]);
        Ok(CookieKeys(SipKey([k0, u64::from_le_bytes(k)])))
    }

    /// The cookie's hash (all 32 bits; the cookie keeps the top 29).
    #[inline]
    fn hash<T: CookieFlow>(&self, t: &T, client_isn: u32, count: u32, index: u32) -> u32 {
        // The counter wraps in the shift only after 2^30 periods.
        t.hash(&self.0, client_isn, count << 2 | index)
    }

    #[inline]
    fn make<T: CookieFlow>(&self, syn: &T, client_isn: u32, count: u32, index: u32) -> u32 {
        self.hash(syn, client_isn, count, index) & HASH_MASK | (count & 1) << 2 | index
    }

    /// Whether `cookie` is this generation's for the tuple and ISN, made
    /// at counter `made`.
    #[inline]
    fn made_it<T: CookieFlow>(&self, ack: &T, client_isn: u32, cookie: u32, made: u32) -> bool {
        let h = self.hash(ack, client_isn, made, cookie & INDEX_MASK);
        (h ^ cookie) & HASH_MASK == 0
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

/// A worker's cookie secrets: the current key and, after a rotation, the
/// one before.
#[derive(Clone, Debug)]
pub struct CookieSecrets {
    current: CookieKeys,
    previous: Option<CookieKeys>,
    /// When the current key took over, ms on the caller's clock.
    since_ms: u64,
}

/// The coarse counter at `now_ms`.
#[inline]
pub fn counter(now_ms: u64) -> u32 {
    (now_ms / PERIOD_MS) as u32
}

/// The index in `table` (a family's [`MSS_TABLE`]) of the largest entry
/// not above `mss` (the smallest entry for anything below it).
#[inline]
fn mss_index(table: &[u16; 4], mss: u16) -> u32 {
    u32::from(mss >= table[1]) + u32::from(mss >= table[2]) + u32::from(mss >= table[3])
}

impl CookieSecrets {
    pub fn new(keys: CookieKeys, now_ms: u64) -> Self {
        CookieSecrets {
            current: keys,
            previous: None,
            since_ms: now_ms,
        }
    }

    /// Whether the current key has served [`ROTATE_PERIOD_MS`].
    pub fn rotation_due(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.since_ms) >= ROTATE_PERIOD_MS
    }

    /// `fresh` becomes current; the current key stays acceptable as the
    /// previous one, and the one before is forgotten.
    pub fn rotate(&mut self, fresh: CookieKeys, now_ms: u64) {
        self.previous = Some(self.current);
        self.current = fresh;
        self.since_ms = now_ms;
    }

    /// The cookie for a SYN with tuple `syn` (as received: client to VIP;
    /// IPv4's or IPv6's) and sequence number `client_isn`, announcing
    /// `mss` (rounded down to the family's table).
    #[inline]
    pub fn encode<T: CookieFlow>(&self, syn: &T, client_isn: u32, mss: u16, now_ms: u64) -> Cookie {
        let index = mss_index(&T::MSS_TABLE, mss);
        Cookie {
            isn: self.current.make(syn, client_isn, counter(now_ms), index),
            mss: T::MSS_TABLE[index as usize & 3],
        }
    }

    /// Checks the ACK of a handshake we answered: `ack` its tuple (client
    /// to VIP), `seq` and `ack_seq` its sequence and acknowledgment
    /// numbers. Returns the MSS the cookie carries.
    pub fn check<T: CookieFlow>(
        &self,
        ack: &T,
        seq: u32,
        ack_seq: u32,
        now_ms: u64,
    ) -> Result<u16, CookieError> {
        let client_isn = seq.wrapping_sub(1);
        let cookie = ack_seq.wrapping_sub(1);
        let count = counter(now_ms);
        // Now's counter or the one before, by parity: nothing else can be
        // young enough, and a cookie of any other counter fails the hash.
        let made = count.wrapping_sub((count ^ cookie >> 2) & 1);
        let ok = |keys: &CookieKeys| keys.made_it(ack, client_isn, cookie, made);
        if ok(&self.current) || self.previous.as_ref().is_some_and(ok) {
            Ok(T::MSS_TABLE[(cookie & INDEX_MASK) as usize])
        } else {
            Err(CookieError::Invalid)
        }
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
