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
    /// Where the TSval lies (the TSecr follows it).
    pub timestamp_at: Option<usize>,
    /// Where each SACK block's left edge lies (its right edge follows).
    pub sack_blocks_at: ArrayVec<usize, 4>,
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
            o.timestamp_at = Some(at + 2);
        }
        kind::SACK => {
            // 1 to 4 blocks of two 32-bit edges.
            let blocks = (size - 2) / 8;
            if (size - 2) % 8 != 0 || blocks == 0 || blocks > 4 {
                return Err(Malformed);
            }
            o.sack_blocks_at.clear();
            for b in 0..blocks {
                o.sack_blocks_at.push(at + 2 + 8 * b);
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

/// The longest option list [`write_syn_options`] writes.
pub const MAX_SYN_OPTIONS_LEN: usize = 20;

/// The length of the option list [`write_syn_options`] writes for `o`
/// (a multiple of 4).
pub fn syn_options_len(o: &SynOptions) -> usize {
    let mut n = 4; // MSS
    n += match (o.timestamp.is_some(), o.sack_permitted) {
        (true, _) => 12, // SACK permitted or NOP NOP, then the timestamp
        (false, true) => 4,
        (false, false) => 0,
    };
    if o.wscale.is_some() {
        n += 4;
    }
    n
}

/// Writes the options of `o` into `out` (at least [`syn_options_len`]
/// long) the way Linux lays out a SYN's: MSS, SACK permitted and timestamp
/// in one 12-byte run, window scale behind a NOP.
pub fn write_syn_options(out: &mut [u8], o: &SynOptions) -> usize {
    let mut w = Writer { out, at: 0 };
    w.bytes(&[kind::MSS, 4]);
    w.bytes(&o.mss.to_be_bytes());
    match o.timestamp {
        Some((val, ecr)) => {
            match o.sack_permitted {
                true => w.bytes(&[kind::SACK_PERMITTED, 2]),
                false => w.bytes(&[kind::NOP, kind::NOP]),
            }
            w.bytes(&[kind::TIMESTAMP, 10]);
            w.bytes(&val.to_be_bytes());
            w.bytes(&ecr.to_be_bytes());
        }
        None if o.sack_permitted => w.bytes(&[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2]),
        None => {}
    }
    if let Some(shift) = o.wscale {
        w.bytes(&[kind::NOP, kind::WINDOW_SCALE, 3, shift]);
    }
    w.at
}

struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        if let Some(dst) = self.out.get_mut(self.at..self.at + b.len()) {
            dst.copy_from_slice(b);
        }
        self.at += b.len();
    }
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
            let mut buf = [0u8; MAX_SYN_OPTIONS_LEN];
            let n = write_syn_options(&mut buf, &o);
            assert_eq!(n, syn_options_len(&o));
            assert_eq!(n % 4, 0);
            let h = header(&buf[..n]);
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
