//! Fragments and payloads the fragment and jumbo-frame cases build
//! (tests/replay_fragments.rs, tests/replay_jumbo.rs).

use super::lb::{Frame, L4};

/// The IPv4 packet of `frame` (Ethernet, no options) split into fragments
/// of `chunk` payload bytes (a multiple of 8), each a whole frame with its
/// header checksum computed.
pub fn fragment(frame: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let (eth, ip) = frame.split_at(14);
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let (header, payload) = ip[..total].split_at(20);
    let df = u16::from_be_bytes([header[6], header[7]]) & 0x4000;
    payload
        .chunks(chunk)
        .enumerate()
        .map(|(i, piece)| {
            let mut h = header.to_vec();
            h[2..4].copy_from_slice(&((20 + piece.len()) as u16).to_be_bytes());
            let more = if (i + 1) * chunk < payload.len() {
                0x2000
            } else {
                0
            };
            h[6..8].copy_from_slice(&(df | more | (i * chunk / 8) as u16).to_be_bytes());
            h[10..12].copy_from_slice(&[0, 0]);
            let sum = !fold(
                h.chunks(2)
                    .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))),
            );
            h[10..12].copy_from_slice(&sum.to_be_bytes());
            [eth, &h, piece].concat()
        })
        .collect()
}

pub fn fold(words: impl Iterator<Item = u32>) -> u16 {
    let mut s: u32 = words.sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// A payload of `len` bytes that differs byte by byte.
pub fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// A fragment as a `Frame` whose payload is its raw IP payload.
pub fn raw_frame(piece: &[u8]) -> Frame {
    let (eth, rest) = etherparse::Ethernet2Header::from_slice(piece).expect("eth");
    let (ip, rest) = etherparse::Ipv4Header::from_slice(rest).expect("ip");
    let len = usize::from(ip.total_len) - ip.header_len();
    Frame {
        eth,
        ip,
        l4: L4::Raw,
        payload: rest[..len].to_vec(),
    }
}
