//! The decision of a NAT64 reply's IPv4 datagram (its later fragments are
//! translated to IPv6, `pipeline/nat64_frag.rs`), as it travels to the
//! worker owning the datagram's fragments. Its IPv6 addresses would more
//! than double the redirect ring's element (`Handoff::FragDecision`), so,
//! as IPv6's decisions (`decision6.rs`), it travels in a packet buffer of
//! the pool, written as the [`msg`] layout below.

use std::net::Ipv6Addr;

use super::{FragDecision, FragKey, FragRewrite, Piece};
use crate::flow::Origin;
use crate::wire::{get_be16, get_be32, get_ipv4, get_u8, put_be16, put_be32, put_bytes, put_u8};

/// Where the fields of a decision message lie.
pub mod msg {
    use crate::wire::Field;

    pub const KEY_SRC: Field = 0..4;
    pub const KEY_DST: Field = 4..8;
    pub const KEY_PROTO: usize = 8;
    pub const KEY_IDENT: Field = 9..11;
    pub const PIECE_START: Field = 11..15;
    pub const PIECE_END: Field = 15..19;
    pub const PIECE_LAST: usize = 19;
    /// The IPv6 source and destination the fragments take.
    pub const TO_SRC: Field = 20..36;
    pub const TO_DST: Field = 36..52;
    /// 0 a service, 1 an SNAT rule.
    pub const ORIGIN_KIND: usize = 52;
    pub const ORIGIN_INDEX: Field = 53..57;
    pub const BACKEND: Field = 57..61;
    /// The message's length.
    pub const LEN: usize = 61;
}

/// A NAT64 reply datagram's decision for its fragments' owner: the
/// datagram, the first fragment's place, the IPv6 addresses, and what the
/// fragments are counted on (the rewrite is [`FragRewrite::ToIpv6`], the
/// way a reply goes).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DecisionMsg64 {
    pub key: FragKey,
    pub first: Piece,
    pub to: (Ipv6Addr, Ipv6Addr),
    pub origin: Origin,
    pub backend: u32,
}

impl DecisionMsg64 {
    /// The decision the owner records.
    pub fn decision(&self) -> FragDecision {
        FragDecision {
            rewrite: FragRewrite::ToIpv6,
            origin: self.origin,
            backend: self.backend,
            inbound: false,
        }
    }

    /// Writes the message into `b` (at least [`msg::LEN`] bytes); `false`
    /// if it is shorter.
    pub fn write(&self, b: &mut [u8]) -> bool {
        if b.len() < msg::LEN {
            return false;
        }
        put_bytes(b, msg::KEY_SRC.start, &self.key.src.octets());
        put_bytes(b, msg::KEY_DST.start, &self.key.dst.octets());
        put_u8(b, msg::KEY_PROTO, self.key.proto);
        put_be16(b, msg::KEY_IDENT.start, self.key.ident);
        put_be32(b, msg::PIECE_START.start, self.first.start);
        put_be32(b, msg::PIECE_END.start, self.first.end);
        put_u8(b, msg::PIECE_LAST, u8::from(self.first.last));
        put_bytes(b, msg::TO_SRC.start, &self.to.0.octets());
        put_bytes(b, msg::TO_DST.start, &self.to.1.octets());
        let (kind, index) = match self.origin {
            Origin::Service(s) => (0, s),
            Origin::Snat(s) => (1, s),
        };
        put_u8(b, msg::ORIGIN_KIND, kind);
        put_be32(b, msg::ORIGIN_INDEX.start, index);
        put_be32(b, msg::BACKEND.start, self.backend);
        true
    }

    /// Reads a message [`Self::write`] wrote; `None` if `b` is short.
    pub fn read(b: &[u8]) -> Option<DecisionMsg64> {
        if b.len() < msg::LEN {
            return None;
        }
        let addr6 = |f: &crate::wire::Field| -> Option<Ipv6Addr> {
            let bytes: [u8; 16] = b.get(f.clone())?.try_into().ok()?;
            Some(Ipv6Addr::from(bytes))
        };
        let key = FragKey {
            src: get_ipv4(b, msg::KEY_SRC.start),
            dst: get_ipv4(b, msg::KEY_DST.start),
            proto: get_u8(b, msg::KEY_PROTO),
            ident: get_be16(b, msg::KEY_IDENT.start),
        };
        let first = Piece {
            start: get_be32(b, msg::PIECE_START.start),
            end: get_be32(b, msg::PIECE_END.start),
            last: get_u8(b, msg::PIECE_LAST) != 0,
        };
        let index = get_be32(b, msg::ORIGIN_INDEX.start);
        let origin = match get_u8(b, msg::ORIGIN_KIND) {
            0 => Origin::Service(index),
            _ => Origin::Snat(index),
        };
        Some(DecisionMsg64 {
            key,
            first,
            to: (addr6(&msg::TO_SRC)?, addr6(&msg::TO_DST)?),
            origin,
            backend: get_be32(b, msg::BACKEND.start),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nat64_decision_message_reads_back_as_written() {
        let m = DecisionMsg64 {
            key: FragKey {
                src: "10.0.1.5".parse().unwrap(),
                dst: "10.0.9.1".parse().unwrap(),
                proto: 17,
                ident: 0xbeef,
            },
            first: Piece {
                start: 0,
                end: 1480,
                last: false,
            },
            to: (
                "2001:db8::10".parse().unwrap(),
                "2001:db8:2::7".parse().unwrap(),
            ),
            origin: Origin::Service(3),
            backend: 7,
        };
        let mut b = [0u8; msg::LEN];
        assert!(m.write(&mut b));
        assert_eq!(DecisionMsg64::read(&b), Some(m));
        assert_eq!(m.decision().rewrite, FragRewrite::ToIpv6);
        assert!(!m.decision().inbound);
        assert!(!m.write(&mut [0u8; msg::LEN - 1]));
        assert_eq!(DecisionMsg64::read(&b[..msg::LEN - 1]), None);
    }
}
