//! The TCP options the SYN proxy reads and writes: MSS, window scale, SACK
//! permitted, timestamps, and where a segment's SACK blocks and timestamp
//! lie so they can be translated in place.
//!
//! One walk of the option list, strict where `wire::tcp::mss_value_at` is
//! lenient: an option that runs past the header or has the wrong length for
//! its kind makes the segment [`Malformed`], because the proxy answers a SYN
//! from what it reads and must not send a backend a half-read handshake.

use arrayvec::ArrayVec;

use crate::wire::tcp::{self, TCP_MIN_HEADER_LEN};
use crate::wire::{get_be16, get_be32, get_u8};

/// Option kinds (RFC 9293, RFC 7323, RFC 2018).
pub mod kind {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMP: u8 = 8;
}

/// A segment whose option list cannot be read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Malformed;

/// What a segment's options say, and where the fields the splice
/// translates lie (offsets from the TCP header's start).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    /// (TSval, TSecr).
    pub timestamp: Option<(u32, u32)>,
    /// Where the TSval lies (the TSecr follows it). Offsets are below 60
    /// (the longest TCP header): a byte each keeps this small to return.
    pub timestamp_at: Option<u8>,
    /// Where each SACK block's left edge lies (its right edge follows).
    pub sack_blocks_at: ArrayVec<u8, 4>,
}

/// Reads the options of `header` (a TCP header as long as its data offset
/// says; the caller checked that much is there).
pub fn parse(header: &[u8]) -> Result<TcpOptions, Malformed> {
    let len = usize::from(get_u8(header, tcp::field::DATA_OFFSET) >> 4) * 4;
    if len < TCP_MIN_HEADER_LEN || len > header.len() {
        return Err(Malformed);
    }
    let mut o = TcpOptions::default();
    let mut at = TCP_MIN_HEADER_LEN;
    while at < len {
        match header[at] {
            kind::END => break,
            kind::NOP => at += 1,
            k => {
                let size = usize::from(*header.get(at + 1).ok_or(Malformed)?);
                if size < 2 || at + size > len {
                    return Err(Malformed);
                }
                read_one(&mut o, header, k, at, size)?;
                at += size;
            }
        }
    }
    Ok(o)
}

fn read_one(o: &mut TcpOptions, h: &[u8], k: u8, at: usize, size: usize) -> Result<(), Malformed> {
    let want = |n: usize| if size == n { Ok(()) } else { Err(Malformed) };
    match k {
        kind::MSS => {
            want(4)?;
            o.mss = Some(get_be16(h, at + 2));
        }
        kind::WINDOW_SCALE => {
            want(3)?;
            o.wscale = Some(get_u8(h, at + 2));
        }
        kind::SACK_PERMITTED => {
            want(2)?;
            o.sack_permitted = true;
        }
        kind::TIMESTAMP => {
            want(10)?;
            o.timestamp = Some((get_be32(h, at + 2), get_be32(h, at + 6)));
            o.timestamp_at = Some((at + 2) as u8);
        }
        kind::SACK => {
            // 1 to 4 blocks of two 32-bit edges.
            let blocks = (size - 2) / 8;
            if (size - 2) % 8 != 0 || blocks == 0 || blocks > 4 {
                return Err(Malformed);
            }
            o.sack_blocks_at.clear();
            for b in 0..blocks {
                o.sack_blocks_at.push((at + 2 + 8 * b) as u8);
            }
        }
        // Others (MD5, TFO, MPTCP, ...) are carried as they are.
        _ => {}
    }
    Ok(())
}

/// What our SYN-ACK to a client (or our SYN to a backend) announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynOptions {
    pub mss: u16,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    /// (TSval, TSecr).
    pub timestamp: Option<(u32, u32)>,
}

/// The longest option list [`syn_option_words`] writes, in 32-bit words.
pub const MAX_SYN_OPTION_WORDS: usize = 5;

/// An option list as big-endian 32-bit words, as it goes on the wire: a
/// SYN's, or an ACK's NOP NOP timestamp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OptionWords {
    words: [u32; MAX_SYN_OPTION_WORDS],
    len: usize,
}

impl OptionWords {
    /// Appends a word (one past the longest list is ignored: never
    /// reached by the writers here).
    #[inline(always)]
    fn push(&mut self, w: u32) {
        if let Some(slot) = self.words.get_mut(self.len) {
            *slot = w;
            self.len += 1;
        }
    }

    /// The words written.
    #[inline(always)]
    pub fn as_slice(&self) -> &[u32] {
        &self.words[..self.len.min(MAX_SYN_OPTION_WORDS)]
    }

    /// The list's length in bytes.
    #[inline(always)]
    pub fn byte_len(&self) -> usize {
        4 * self.len
    }

    /// Linux's NOP, NOP, timestamp of an established segment.
    pub fn timestamp(val: u32, ecr: u32) -> Self {
        let mut w = OptionWords::default();
        w.push(u32::from_be_bytes([
            kind::NOP,
            kind::NOP,
            kind::TIMESTAMP,
            10,
        ]));
        w.push(val);
        w.push(ecr);
        w
    }
}

/// The options of `o` laid out as Linux lays out a SYN's: MSS, SACK
/// permitted and timestamp in one 12-byte run, window scale behind a NOP.
/// Built as words: no byte writer, nothing copied twice.
#[inline]
pub fn syn_option_words(o: &SynOptions) -> OptionWords {
    let mut w = OptionWords::default();
    w.push(u32::from_be_bytes([kind::MSS, 4, 0, 0]) | u32::from(o.mss));
    match o.timestamp {
        Some((val, ecr)) => {
            let lead = match o.sack_permitted {
                true => [kind::SACK_PERMITTED, 2],
                false => [kind::NOP, kind::NOP],
            };
            w.push(u32::from_be_bytes([lead[0], lead[1], kind::TIMESTAMP, 10]));
            w.push(val);
            w.push(ecr);
        }
        None if o.sack_permitted => w.push(u32::from_be_bytes([
            kind::NOP,
            kind::NOP,
            kind::SACK_PERMITTED,
            2,
        ])),
        None => {}
    }
    if let Some(shift) = o.wscale {
        w.push(u32::from_be_bytes([
            kind::NOP,
            kind::WINDOW_SCALE,
            3,
            shift,
        ]));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(options: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; TCP_MIN_HEADER_LEN];
        h.extend_from_slice(options);
        while h.len() % 4 != 0 {
            h.push(kind::END);
        }
        h[tcp::field::DATA_OFFSET] = ((h.len() / 4) as u8) << 4;
        h
    }

    #[test]
    fn reads_what_it_writes_and_what_etherparse_writes() {
        let all = [
            SynOptions {
                mss: 1460,
                wscale: Some(7),
                sack_permitted: true,
                timestamp: Some((5, 6)),
            },
            SynOptions {
                mss: 536,
                wscale: None,
                sack_permitted: true,
                timestamp: None,
            },
            SynOptions {
                mss: 1300,
                wscale: Some(0),
                sack_permitted: false,
                timestamp: Some((1, 0)),
            },
            SynOptions {
                mss: 1440,
                wscale: None,
                sack_permitted: false,
                timestamp: None,
            },
        ];
        for o in all {
            let words = syn_option_words(&o);
            let bytes: Vec<u8> = words
                .as_slice()
                .iter()
                .flat_map(|w| w.to_be_bytes())
                .collect();
            assert_eq!(bytes.len(), words.byte_len());
            let h = header(&bytes);
            let p = parse(&h).expect("valid");
            assert_eq!(
                (p.mss, p.wscale, p.sack_permitted, p.timestamp),
                (Some(o.mss), o.wscale, o.sack_permitted, o.timestamp)
            );
            // An independent reader agrees.
            let mut full = h.clone();
            full[tcp::field::DATA_OFFSET] = ((h.len() / 4) as u8) << 4;
            let (e, _) = etherparse::TcpHeader::from_slice(&full).expect("etherparse reads it");
            let mut seen = (None, None, false, None);
            for opt in e.options_iterator() {
                use etherparse::TcpOptionElement as E;
                match opt.expect("option") {
                    E::MaximumSegmentSize(m) => seen.0 = Some(m),
                    E::WindowScale(w) => seen.1 = Some(w),
                    E::SelectiveAcknowledgementPermitted => seen.2 = true,
                    E::Timestamp(v, e) => seen.3 = Some((v, e)),
                    _ => {}
                }
            }
            assert_eq!(seen, (Some(o.mss), o.wscale, o.sack_permitted, o.timestamp));
        }
    }

    #[test]
    fn finds_sack_blocks_and_timestamp() {
        let mut opts = vec![
            kind::NOP,
            kind::NOP,
            kind::TIMESTAMP,
            10,
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            2,
        ];
        opts.extend_from_slice(&[kind::NOP, kind::NOP, kind::SACK, 18]);
        opts.extend_from_slice(&[0; 16]);
        let p = parse(&header(&opts)).expect("valid");
        assert_eq!(p.timestamp, Some((1, 2)));
        assert_eq!(p.timestamp_at, Some(24));
        assert_eq!(p.sack_blocks_at.as_slice(), &[36, 44]);
    }

    #[test]
    fn refuses_malformed_lists() {
        for bad in [
            &[kind::MSS, 3, 5][..],                                    // wrong MSS length
            &[kind::MSS, 8, 0, 0][..],                                 // runs past the header
            &[kind::TIMESTAMP, 8, 0, 0, 0, 0, 0, 0][..],               // wrong timestamp length
            &[kind::SACK, 14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..], // not whole blocks
            &[kind::SACK, 2][..],                                      // no block
            &[kind::WINDOW_SCALE, 2][..],
            &[kind::SACK_PERMITTED, 3, 0][..],
            &[99, 1][..],                               // length below 2
            &[kind::NOP, kind::NOP, kind::NOP, 77][..], // length byte missing
        ] {
            assert_eq!(parse(&header(bad)), Err(Malformed), "{bad:?}");
        }
        // Unknown options of a sane length, and END, are fine.
        assert!(parse(&header(&[30, 4, 1, 2, kind::END, 9, 9])).is_ok());
        // A data offset past the buffer.
        let mut h = header(&[]);
        h[tcp::field::DATA_OFFSET] = 0xf0;
        assert_eq!(parse(&h), Err(Malformed));
    }
}
