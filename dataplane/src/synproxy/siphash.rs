//! SipHash-2-4 (Aumasson and Bernstein) over 32-bit words, the keyed
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

/// SipHash-2-4 of the `4 * N` bytes `words`, each word little-endian:
/// the message the reference implementation would hash for those bytes.
/// A pair of words makes one block; an odd last word rides in the final
/// block beside the length, so five words (a SYN cookie's message) cost
/// the same ten rounds as four.
#[inline]
pub fn siphash_u32s<const N: usize>(words: &[u32; N], key: &SipKey) -> u64 {
    let [k0, k1] = key.0;
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut pairs = words.chunks_exact(2);
    for p in &mut pairs {
        compress(&mut v, u64::from(p[0]) | u64::from(p[1]) << 32);
    }
    // The last block: the message length (mod 256) in the top byte, the
    // tail (an odd last word) in the low bytes.
    let tail = pairs.remainder().first().map_or(0, |&w| u64::from(w));
    compress(&mut v, ((4 * N) as u64) << 56 | tail);
    v[2] ^= 0xff;
    round(&mut v);
    round(&mut v);
    round(&mut v);
    round(&mut v);
    v[0] ^ v[1] ^ v[2] ^ v[3]
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
    fn matches_the_reference_vectors_for_16_and_20_bytes() {
        // vectors_sip64[16] and [20] of the SipHash reference
        // implementation: the message 00 01 .. 0f (.. 13) under the key
        // 00 01 .. 0f.
        let expected = u64::from_le_bytes([0xdb, 0x9b, 0xc2, 0x57, 0x7f, 0xcc, 0x2a, 0x3f]);
        let words = [0x0302_0100, 0x0706_0504, 0x0b0a_0908, 0x0f0e_0d0c];
        assert_eq!(siphash_u32s(&words, &reference_key()), expected);
        let expected = u64::from_le_bytes([0x98, 0xee, 0xa2, 0x1a, 0xf2, 0x5c, 0xd6, 0xbe]);
        let words = [
            0x0302_0100,
            0x0706_0504,
            0x0b0a_0908,
            0x0f0e_0d0c,
            0x1312_1110,
        ];
        assert_eq!(siphash_u32s(&words, &reference_key()), expected);
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
            let words = [
                x as u32,
                (x >> 32) as u32,
                x.rotate_left(7) as u32,
                42,
                x.rotate_left(29) as u32,
            ];
            let std_hash = |n: usize| {
                let mut std = std::hash::SipHasher::new_with_keys(key.0[0], key.0[1]);
                for w in &words[..n] {
                    std.write(&w.to_le_bytes());
                }
                std.finish()
            };
            let four = [words[0], words[1], words[2], words[3]];
            assert_eq!(siphash_u32s(&four, &key), std_hash(4));
            assert_eq!(siphash_u32s(&words, &key), std_hash(5));
            assert_eq!(siphash_u32s(&[words[0]], &key), std_hash(1));
        }
    }
}
