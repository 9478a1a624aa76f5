//! SipHash-2-4 (Aumasson and Bernstein) over four 32-bit words, the keyed
//! hash of SYN cookies, as Linux's `siphash_4u32`: no allocation, no
//! `Hasher` state, a handful of rounds the compiler keeps in registers.

/// A 128-bit SipHash key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SipKey(pub [u64; 2]);

impl std::fmt::Debug for SipKey {
    // A secret: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SipKey(..)")
    }
}

#[inline(always)]
fn round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

#[inline(always)]
fn compress(v: &mut [u64; 4], m: u64) {
    v[3] ^= m;
    round(v);
    round(v);
    v[0] ^= m;
}

/// SipHash-2-4 of the 16 bytes `a b c d`, each word little-endian, the
/// message the reference implementation would hash for those bytes.
#[inline]
pub fn siphash_4u32(a: u32, b: u32, c: u32, d: u32, key: &SipKey) -> u64 {
    let [k0, k1] = key.0;
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    compress(&mut v, u64::from(a) | u64::from(b) << 32);
    compress(&mut v, u64::from(c) | u64::from(d) << 32);
    // The last block: the message length (16) in the top byte, no tail.
    compress(&mut v, 16u64 << 56);
    v[2] ^= 0xff;
    round(&mut v);
    round(&mut v);
    round(&mut v);
    round(&mut v);
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// Two SipHash-2-4 of `a b c d0` under `k0` and of `a b c d1` under `k1`
/// (a cookie's two hashes), computed in one pass: the two states advance
/// round by round side by side, so each round's dependent chain of one
/// hash overlaps the other's instead of waiting for it. The same results
/// as two calls of [`siphash_4u32`].
#[inline]
pub fn siphash_4u32_pair(
    (a, b, c): (u32, u32, u32),
    (d0, d1): (u32, u32),
    (k0, k1): (&SipKey, &SipKey),
) -> (u64, u64) {
    let init = |k: &SipKey| {
        let [x, y] = k.0;
        [
            x ^ 0x736f_6d65_7073_6575,
            y ^ 0x646f_7261_6e64_6f6d,
            x ^ 0x6c79_6765_6e65_7261,
            y ^ 0x7465_6462_7974_6573,
        ]
    };
    let (mut v, mut w) = (init(k0), init(k1));
    let ab = u64::from(a) | u64::from(b) << 32;
    let (m0, m1) = (
        u64::from(c) | u64::from(d0) << 32,
        u64::from(c) | u64::from(d1) << 32,
    );
    for (x, y) in [(ab, ab), (m0, m1), (16u64 << 56, 16u64 << 56)] {
        v[3] ^= x;
        w[3] ^= y;
        round(&mut v);
        round(&mut w);
        round(&mut v);
        round(&mut w);
        v[0] ^= x;
        w[0] ^= y;
    }
    v[2] ^= 0xff;
    w[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
        round(&mut w);
    }
    (v[0] ^ v[1] ^ v[2] ^ v[3], w[0] ^ w[1] ^ w[2] ^ w[3])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hasher;

    /// The key of the reference test vectors: bytes 00 01 .. 0f.
    fn reference_key() -> SipKey {
        let bytes: Vec<u8> = (0u8..16).collect();
        SipKey([
            u64::from_le_bytes(bytes[0..8].try_into().expect("8")),
            u64::from_le_bytes(bytes[8..16].try_into().expect("8")),
        ])
    }

    #[test]
    fn matches_the_reference_vector_for_16_bytes() {
        // vectors_sip64[16] of the SipHash reference implementation: the
        // message 00 01 .. 0f under the key 00 01 .. 0f.
        let expected = u64::from_le_bytes([0xdb, 0x9b, 0xc2, 0x57, 0x7f, 0xcc, 0x2a, 0x3f]);
        let h = siphash_4u32(
            0x0302_0100,
            0x0706_0504,
            0x0b0a_0908,
            0x0f0e_0d0c,
            &reference_key(),
        );
        assert_eq!(h, expected);
    }

    #[test]
    #[allow(deprecated)] // std's SipHasher is SipHash-2-4: an independent check
    fn agrees_with_std_siphasher_on_random_words() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = SipKey([x, x.rotate_left(17) ^ 0xdead_beef]);
            let words = [x as u32, (x >> 32) as u32, x.rotate_left(7) as u32, 42];
            let mut std = std::hash::SipHasher::new_with_keys(key.0[0], key.0[1]);
            for w in words {
                std.write(&w.to_le_bytes());
            }
            assert_eq!(
                siphash_4u32(words[0], words[1], words[2], words[3], &key),
                std.finish()
            );
        }
    }

    #[test]
    fn the_pair_is_two_single_hashes() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k0 = SipKey([x, x.rotate_left(9)]);
            let k1 = SipKey([x.rotate_left(23) ^ 7, !x]);
            let (a, b, c) = (x as u32, (x >> 32) as u32, x.rotate_left(5) as u32);
            let (d0, d1) = ((x >> 7) as u32, (x >> 11) as u32 & 0xff);
            assert_eq!(
                siphash_4u32_pair((a, b, c), (d0, d1), (&k0, &k1)),
                (
                    siphash_4u32(a, b, c, d0, &k0),
                    siphash_4u32(a, b, c, d1, &k1)
                )
            );
        }
        // And against the reference vector in either lane.
        let r = reference_key();
        let expected = u64::from_le_bytes([0xdb, 0x9b, 0xc2, 0x57, 0x7f, 0xcc, 0x2a, 0x3f]);
        let words = (0x0302_0100, 0x0706_0504, 0x0b0a_0908);
        let (h0, h1) = siphash_4u32_pair(words, (0x0f0e_0d0c, 0x0f0e_0d0c), (&r, &r));
        assert_eq!((h0, h1), (expected, expected));
    }
}
