//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Headers that we build get a full checksum; headers we only edit (addresses,
//! ports, TTL) get the incremental update of RFC 1624 eqn. 3,
//! `HC' = ~(~HC + ~m + m')`, which never produces the -0 (0xffff) a naive
//! update can, for any field whose new value is not all zero.
//!
//! UDP is special (RFC 768): a checksum field of 0 means "no checksum" and must
//! stay 0 after a rewrite, and a computed checksum of 0 is sent as 0xffff.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::tuple::IpProto;

/// Adds `data` as big-endian 16-bit words to a running one's-complement sum
/// (not yet folded). An odd trailing byte is padded with zero.
#[inline]
pub fn add_bytes(mut sum: u64, data: &[u8]) -> u64 {
    // Four bytes at a time: one's-complement addition is byte-order
    // independent per 16-bit lane, and 32-bit lanes fold to the same sum.
    let mut quads = data.chunks_exact(4);
    for q in &mut quads {
        sum += u64::from(u32::from_be_bytes([q[0], q[1], q[2], q[3]]));
    }
    let rest = quads.remainder();
    let mut words = rest.chunks_exact(2);
    for w in &mut words {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// Folds a running sum to 16 bits with end-around carry.
///
/// A fixed sequence of steps, no loop: each step keeps the value modulo
/// 0xffff (2^16 and 2^32 are both 1 modulo 0xffff) and keeps a non-zero sum
/// non-zero, and the last leaves at most 0xffff, so the result is the one
/// the plain "fold while above 0xffff" loop gives, for every input.
#[inline]
pub fn fold(sum: u64) -> u16 {
    let s = (sum & 0xffff_ffff) + (sum >> 32); // < 2^33
    let s = (s & 0xffff_ffff) + (s >> 32); // <= 2^32
    let s = (s & 0xffff) + (s >> 16); // < 2^17
    let s = (s & 0xffff) + (s >> 16); // <= 0x1_0000
    let s = (s & 0xffff) + (s >> 16); // <= 0xffff
    s as u16
}

/// Whether a 20-byte IPv4 header (no options), checksum included, verifies.
///
/// Sums five native-order 32-bit words: byte order only swaps the bytes of
/// the folded sum, and all ones reads the same either way.
#[inline(always)]
pub fn verifies_ipv4_header(h: &[u8; 20]) -> bool {
    let w = |i: usize| u64::from(u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    fold(w(0) + w(4) + w(8) + w(12) + w(16)) == 0xffff
}

/// The Internet checksum of `data`: the value to store in a checksum field
/// that is zero while summing.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(add_bytes(0, data))
}

/// Whether `data`, checksum field included, verifies (sums to all ones).
#[inline]
pub fn verifies(data: &[u8]) -> bool {
    fold(add_bytes(0, data)) == 0xffff
}

/// The TCP/UDP pseudo-header sum: addresses, protocol and L4 length.
#[inline]
pub fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProto, l4_len: u16) -> u64 {
    let s = u32::from(src);
    let d = u32::from(dst);
    u64::from(s >> 16)
        + u64::from(s & 0xffff)
        + u64::from(d >> 16)
        + u64::from(d & 0xffff)
        + u64::from(proto.0)
        + u64::from(l4_len)
}

/// The IPv6 upper-layer pseudo-header sum (RFC 8200 8.1): addresses, the
/// upper-layer length (32 bits) and the next-header value. IPv6 has no
/// header checksum; TCP, UDP and ICMPv6 all cover this.
#[inline]
pub fn ipv6_pseudo_header_sum(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> u64 {
    let sum = add_bytes(add_bytes(0, &src.octets()), &dst.octets());
    sum + u64::from(len >> 16) + u64::from(len & 0xffff) + u64::from(next_header)
}

/// Whether an upper-layer segment (TCP, UDP, ICMPv6) verifies against its
/// IPv6 pseudo-header.
pub fn ipv6_l4_verifies(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, segment: &[u8]) -> bool {
    let Ok(len) = u32::try_from(segment.len()) else {
        return false;
    };
    fold(add_bytes(
        ipv6_pseudo_header_sum(src, dst, next_header, len),
        segment,
    )) == 0xffff
}

/// Whether a TCP or UDP segment's checksum verifies against its
/// pseudo-header. (A UDP checksum of 0 means "none": the caller, who knows
/// where the field is, checks that first.)
pub fn l4_verifies(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProto, segment: &[u8]) -> bool {
    let Ok(len) = u16::try_from(segment.len()) else {
        return false;
    };
    fold(add_bytes(pseudo_header_sum(src, dst, proto, len), segment)) == 0xffff
}

/// RFC 1624 eqn. 3 for one 16-bit word changing from `old` to `new`.
#[inline]
pub fn update16(check: u16, old: u16, new: u16) -> u16 {
    let sum = u64::from(!check) + u64::from(!old) + u64::from(new);
    !fold(sum)
}

/// RFC 1624 eqn. 3 for a 32-bit field (an IPv4 address) changing.
#[inline]
pub fn update32(check: u16, old: u32, new: u32) -> u16 {
    let sum = u64::from(!check)
        + u64::from(!(old >> 16) & 0xffff)
        + u64::from(!old & 0xffff)
        + u64::from(new >> 16)
        + u64::from(new & 0xffff);
    !fold(sum)
}

/// Several word changes gathered, then applied to a checksum at once.
///
/// Each change adds `~old + new` to the sum; [`Delta::apply`] is eqn. 3 over
/// all of them, which costs one fold instead of one per field.
#[derive(Clone, Copy, Default, Debug)]
pub struct Delta(u64);

impl Delta {
    /// Records a 16-bit word changing from `old` to `new`.
    #[inline]
    pub fn word(&mut self, old: u16, new: u16) {
        self.0 += u64::from(!old) + u64::from(new);
    }
    /// Records a 32-bit field changing from `old` to `new`.
    #[inline]
    pub fn dword(&mut self, old: u32, new: u32) {
        self.word((old >> 16) as u16, (new >> 16) as u16);
        self.word(old as u16, new as u16);
    }
    /// Records the eight 16-bit words of a 128-bit field (an IPv6
    /// address) changing from `old` to `new`: the same sum as eight
    /// [`word`](Self::word)s, taken four words at a time.
    #[inline]
    pub fn words128(&mut self, old: u128, new: u128) {
        /// The sum of the four 16-bit words of `x`.
        #[inline(always)]
        fn sum4(x: u64) -> u64 {
            let m = 0x0000_ffff_0000_ffff;
            let pairs = (x & m) + ((x >> 16) & m);
            (pairs & 0xffff_ffff) + (pairs >> 32)
        }
        let (o, n) = (!old, new);
        self.0 += sum4((o >> 64) as u64) + sum4(o as u64) + sum4((n >> 64) as u64) + sum4(n as u64);
    }
    /// The changes recorded, folded to 16 bits: [`Delta::of_folded`] of it
    /// applies as `self` does (one's-complement sums fold alike).
    #[inline]
    pub fn folded(self) -> u16 {
        fold(self.0)
    }
    /// A delta [`Delta::folded`] kept.
    #[inline]
    pub fn of_folded(folded: u16) -> Delta {
        Delta(u64::from(folded))
    }
    /// The delta that undoes the folded delta `folded` (one's-complement
    /// negation), as the sum of the changes the other way folds it: never
    /// 0, which only a sum of nothing folds to.
    #[inline]
    pub fn negated(folded: u16) -> Delta {
        Delta(u64::from(match !folded {
            0 => 0xffff,
            n => n,
        }))
    }
    /// Records another delta's changes too.
    #[inline]
    pub fn merge(&mut self, other: Delta) {
        self.0 += other.0;
    }
    /// The checksum after all recorded changes.
    #[inline]
    pub fn apply(self, check: u16) -> u16 {
        !fold(u64::from(!check) + self.0)
    }
    /// Like [`Delta::apply`] for a UDP checksum field: 0 ("none") stays 0 and
    /// a result of 0 is sent as 0xffff.
    #[inline]
    pub fn apply_udp(self, check: u16) -> u16 {
        if check == 0 {
            return 0;
        }
        match self.apply(check) {
            0 => 0xffff,
            c => c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4;
    use proptest::prelude::*;

    proptest! {
        /// `words128` is eight `word`s.
        #[test]
        fn words128_sums_as_eight_words(old in any::<u128>(), new in any::<u128>()) {
            let mut by_words = Delta::default();
            for i in (0..8).rev() {
                by_words.word((old >> (16 * i)) as u16, (new >> (16 * i)) as u16);
            }
            let mut whole = Delta::default();
            whole.words128(old, new);
            prop_assert_eq!(whole.0, by_words.0);
        }
    }

    #[test]
    fn rfc1071_example_sums_to_the_published_value() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(add_bytes(0, &data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_the_last_byte_with_zero() {
        assert_eq!(
            checksum(&[0x12, 0x34, 0x56]),
            checksum(&[0x12, 0x34, 0x56, 0x00])
        );
    }

    #[test]
    fn rfc1624_case_where_naive_update_gives_minus_zero() {
        // RFC 1624 section 4: a header summing to 0xcd7a with the checksum
        // 0x3285; a word changes from 0x5555 to 0x3285. Eqn. 3 must give
        // 0x0000, not the -0 (0xffff) of eqn. 2.
        assert_eq!(update16(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn udp_zero_checksum_stays_zero_and_computed_zero_becomes_ffff() {
        let mut d = Delta::default();
        d.word(0x1234, 0x4321);
        assert_eq!(d.apply_udp(0), 0);
        // A change that makes the checksum come out as 0.
        let mut z = Delta::default();
        z.word(0x0000, 0xfffe);
        assert_eq!(z.apply(0xfffe), 0);
        assert_eq!(z.apply_udp(0xfffe), 0xffff);
    }

    proptest! {
        #[test]
        fn fold_matches_the_folding_loop(sum in any::<u64>()) {
            let mut s = sum;
            while s > 0xffff {
                s = (s & 0xffff) + (s >> 16);
            }
            prop_assert_eq!(fold(sum), s as u16);
        }

        #[test]
        fn ipv4_header_verify_matches_the_general_one(mut h in any::<[u8; 20]>(), fix in any::<bool>()) {
            if fix {
                h[ipv4::field::CHECKSUM].fill(0);
                let c = checksum(&h);
                h[ipv4::field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
            }
            prop_assert_eq!(verifies_ipv4_header(&h), verifies(&h));
        }

        #[test]
        fn incremental_update_matches_recomputation(
            mut data in proptest::collection::vec(any::<u8>(), 4..64),
            pos in any::<prop::sample::Index>(),
            new16 in any::<u16>(),
            new32 in any::<u32>(),
        ) {
            // Data stays an even length so every word is whole.
            if data.len() % 2 == 1 { data.pop(); }
            let words = data.len() / 2;
            let w = pos.index(words);
            let check = checksum(&data);
            let off = w * 2;
            let old = u16::from_be_bytes([data[off], data[off + 1]]);
            data[off..off + 2].copy_from_slice(&new16.to_be_bytes());
            let updated = update16(check, old, new16);
            let full = checksum(&data);
            // 0x0000 and 0xffff are the same number in one's complement; the
            // receiver check is what matters.
            // 0x0000 and 0xffff are both zero in one's complement: they may
            // differ only when the data sums to zero (all-zero words).
            prop_assert!(updated == full || (updated ^ full) == 0xffff && data.iter().all(|&b| b == 0));

            if words >= 2 {
                let w32 = pos.index(words - 1) * 2;
                let check = checksum(&data);
                let old = u32::from_be_bytes([data[w32], data[w32 + 1], data[w32 + 2], data[w32 + 3]]);
                data[w32..w32 + 4].copy_from_slice(&new32.to_be_bytes());
                let updated = update32(check, old, new32);
                let full = checksum(&data);
                prop_assert!(updated == full || (updated ^ full) == 0xffff && data.iter().all(|&b| b == 0));
                let mut d = Delta::default();
                d.dword(old, new32);
                prop_assert_eq!(d.apply(check), updated);
            }
        }
    }
}
