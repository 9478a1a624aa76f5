//! HMAC-SHA256 (RFC 2104) over `sha2`, for signing sync datagrams, and a
//! comparison whose time does not depend on where the tags differ.

use sha2::{Digest, Sha256};

/// SHA-256's block size.
const BLOCK: usize = 64;
/// The tag's length.
pub const TAG_LEN: usize = 32;

/// A shared key, prepared once: the inner and outer padded keys.
#[derive(Clone)]
pub struct Key {
    ipad: [u8; BLOCK],
    opad: [u8; BLOCK],
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    pub fn new(secret: &[u8]) -> Key {
        let mut k = [0u8; BLOCK];
        if secret.len() > BLOCK {
            k[..TAG_LEN].copy_from_slice(&Sha256::digest(secret));
        } else {
            k[..secret.len()].copy_from_slice(secret);
        }
        let (mut ipad, mut opad) = ([0x36u8; BLOCK], [0x5cu8; BLOCK]);
        for i in 0..BLOCK {
            ipad[i] ^= k[i];
            opad[i] ^= k[i];
        }
        Key { ipad, opad }
    }

    /// The tag of `data`.
    pub fn tag(&self, data: &[u8]) -> [u8; TAG_LEN] {
        let inner = Sha256::new()
            .chain_update(self.ipad)
            .chain_update(data)
            .finalize();
        Sha256::new()
            .chain_update(self.opad)
            .chain_update(inner)
            .finalize()
            .into()
    }

    /// Whether `tag` is the tag of `data`.
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        let want = self.tag(data);
        tag.len() == TAG_LEN && want.iter().zip(tag).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn rfc4231_test_vectors() {
        // Test case 1.
        let k = Key::new(&[0x0b; 20]);
        assert_eq!(
            hex(&k.tag(b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2.
        let k = Key::new(b"Jefe");
        assert_eq!(
            hex(&k.tag(b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        let k = Key::new(&[0xaa; 131]);
        assert_eq!(
            hex(&k.tag(b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        let t = k.tag(b"x");
        assert!(k.verify(b"x", &t));
        let mut bad = t;
        bad[31] ^= 1;
        assert!(!k.verify(b"x", &bad));
        assert!(!k.verify(b"x", &t[..31]));
    }
}
