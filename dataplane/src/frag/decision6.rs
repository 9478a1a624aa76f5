//! What an IPv6 datagram's first fragment was decided, for its later
//! fragments (`pipeline/fragment6.rs`), and the message that carries a
//! decision to the worker owning the datagram's fragments.
//!
//! IPv4's decision travels in the redirect ring's element itself
//! (`Handoff::FragDecision`, 48 bytes). IPv6's key and addresses would
//! more than double every element of every ring, so an IPv6 decision
//! travels in a packet buffer of the pool instead, written as the
//! [`msg`] layout below: the ring carries a pointer, as for a packet.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{FragKey6, Piece};
use crate::flow::Origin;
use crate::wire::{get_be32, get_u8, put_be32, put_bytes, put_u8};

/// How an IPv6 datagram's first fragment was forwarded, so its later
/// fragments go the same way. The backend's link (DR, TUN, NAT's
/// request) is found again by the decision's `backend`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FragRewrite6 {
    /// NAT6, FULLNAT6: the addresses the first one left with. The ports
    /// and the L4 checksum are in the first fragment only, and IPv6 has
    /// no header checksum: later fragments change addresses and hop limit.
    Translate { src: Ipv6Addr, dst: Ipv6Addr },
    /// NAT64: translated to IPv4 with the addresses the first one left
    /// with (its IP header only, as IPv6 later fragments are rewritten).
    ToIpv4 { src: Ipv4Addr, dst: Ipv4Addr },
    /// DR: to the backend, MACs only.
    Direct,
    /// TUN: to the backend, each fragment whole inside an outer IPv6 header.
    Tunnel,
    /// The first fragment was not forwarded: the rest are dropped.
    Refused,
    /// Two of the datagram's fragments overlapped (RFC 5722): the rest of
    /// it, held or to come, the first fragment included, is dropped.
    Overlapped,
}

/// An IPv6 datagram's decision: the rewrite, and what its fragments are
/// counted on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FragDecision6 {
    pub rewrite: FragRewrite6,
    pub origin: Origin,
    pub backend: u32,
    /// The client's way (to the backend); a NAT reply's is not.
    pub inbound: bool,
}

impl FragDecision6 {
    /// The decision for a first fragment that was not forwarded.
    pub const REFUSED: FragDecision6 = FragDecision6 {
        rewrite: FragRewrite6::Refused,
        origin: Origin::Service(0),
        backend: u32::MAX,
        inbound: true,
    };

    /// The decision of a datagram two of whose fragments overlapped.
    pub const OVERLAPPED: FragDecision6 = FragDecision6 {
        rewrite: FragRewrite6::Overlapped,
        ..FragDecision6::REFUSED
    };
}

/// Where the fields of a decision message lie.
pub mod msg {
    use crate::wire::Field;

    pub const KEY_SRC: Field = 0..16;
    pub const KEY_DST: Field = 16..32;
    pub const KEY_IDENT: Field = 32..36;
    pub const PIECE_START: Field = 36..40;
    pub const PIECE_END: Field = 40..44;
    pub const PIECE_LAST: usize = 44;
    /// 0 refused, 1 translate, 2 direct, 3 tunnel, 4 overlapped, 5 to
    /// IPv4 (its addresses IPv4-mapped in the translate fields).
    pub const REWRITE: usize = 45;
    pub const TRANSLATE_SRC: Field = 46..62;
    pub const TRANSLATE_DST: Field = 62..78;
    /// 0 a service, 1 an SNAT rule.
    pub const ORIGIN_KIND: usize = 78;
    pub const ORIGIN_INDEX: Field = 79..83;
    pub const BACKEND: Field = 83..87;
    pub const INBOUND: usize = 87;
    /// The message's length.
    pub const LEN: usize = 88;
}

/// A decision for the fragments' owner: the datagram, its decision, and
/// the first fragment's place (the owner checks it against the rest).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DecisionMsg6 {
    pub key: FragKey6,
    pub decision: FragDecision6,
    pub first: Piece,
}

impl DecisionMsg6 {
    /// Writes the message into `b` (at least [`msg::LEN`] bytes); `false`
    /// if it is shorter.
    pub fn write(&self, b: &mut [u8]) -> bool {
        if b.len() < msg::LEN {
            return false;
        }
        put_bytes(b, msg::KEY_SRC.start, &self.key.src.octets());
        put_bytes(b, msg::KEY_DST.start, &self.key.dst.octets());
        put_be32(b, msg::KEY_IDENT.start, self.key.ident);
        put_be32(b, msg::PIECE_START.start, self.first.start);
        put_be32(b, msg::PIECE_END.start, self.first.end);
        put_u8(b, msg::PIECE_LAST, u8::from(self.first.last));
        let d = &self.decision;
        let (kind, src, dst) = match d.rewrite {
            FragRewrite6::Refused => (0, Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED),
            FragRewrite6::Translate { src, dst } => (1, src, dst),
            FragRewrite6::Direct => (2, Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED),
            FragRewrite6::Tunnel => (3, Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED),
            FragRewrite6::Overlapped => (4, Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED),
            FragRewrite6::ToIpv4 { src, dst } => (5, src.to_ipv6_mapped(), dst.to_ipv6_mapped()),
        };
        put_u8(b, msg::REWRITE, kind);
        put_bytes(b, msg::TRANSLATE_SRC.start, &src.octets());
        put_bytes(b, msg::TRANSLATE_DST.start, &dst.octets());
        let (okind, index) = match d.origin {
            Origin::Service(s) => (0, s),
            Origin::Snat(s) => (1, s),
        };
        put_u8(b, msg::ORIGIN_KIND, okind);
        put_be32(b, msg::ORIGIN_INDEX.start, index);
        put_be32(b, msg::BACKEND.start, d.backend);
        put_u8(b, msg::INBOUND, u8::from(d.inbound));
        true
    }

    /// Reads a message [`Self::write`] wrote; `None` if `b` is short or
    /// names no rewrite.
    pub fn read(b: &[u8]) -> Option<DecisionMsg6> {
        if b.len() < msg::LEN {
            return None;
        }
        let addr = |f: &crate::wire::Field| -> Option<Ipv6Addr> {
            let bytes: [u8; 16] = b.get(f.clone())?.try_into().ok()?;
            Some(Ipv6Addr::from(bytes))
        };
        let key = FragKey6 {
            src: addr(&msg::KEY_SRC)?,
            dst: addr(&msg::KEY_DST)?,
            ident: get_be32(b, msg::KEY_IDENT.start),
        };
        let first = Piece {
            start: get_be32(b, msg::PIECE_START.start),
            end: get_be32(b, msg::PIECE_END.start),
            last: get_u8(b, msg::PIECE_LAST) != 0,
        };
        let rewrite = match get_u8(b, msg::REWRITE) {
            0 => FragRewrite6::Refused,
            1 => FragRewrite6::Translate {
                src: addr(&msg::TRANSLATE_SRC)?,
                dst: addr(&msg::TRANSLATE_DST)?,
            },
            2 => FragRewrite6::Direct,
            3 => FragRewrite6::Tunnel,
            4 => FragRewrite6::Overlapped,
            5 => FragRewrite6::ToIpv4 {
                src: addr(&msg::TRANSLATE_SRC)?.to_ipv4_mapped()?,
                dst: addr(&msg::TRANSLATE_DST)?.to_ipv4_mapped()?,
            },
            _ => return None,
        };
        let index = get_be32(b, msg::ORIGIN_INDEX.start);
        let origin = match get_u8(b, msg::ORIGIN_KIND) {
            0 => Origin::Service(index),
            _ => Origin::Snat(index),
        };
        let decision = FragDecision6 {
            rewrite,
            origin,
            backend: get_be32(b, msg::BACKEND.start),
            inbound: get_u8(b, msg::INBOUND) != 0,
        };
        Some(DecisionMsg6 {
            key,
            decision,
            first,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_message_reads_back_as_written() {
        let m = DecisionMsg6 {
            key: FragKey6 {
                src: "2001:db8:2::7".parse().unwrap(),
                dst: "2001:db8::10".parse().unwrap(),
                ident: 0xdead_beef,
            },
            decision: FragDecision6 {
                rewrite: FragRewrite6::Translate {
                    src: "2001:db8:9::1".parse().unwrap(),
                    dst: "2001:db8:1::5".parse().unwrap(),
                },
                origin: Origin::Service(3),
                backend: 7,
                inbound: true,
            },
            first: Piece {
                start: 0,
                end: 1232,
                last: false,
            },
        };
        let mut b = [0u8; msg::LEN];
        assert!(m.write(&mut b));
        assert_eq!(DecisionMsg6::read(&b), Some(m));
        assert!(!m.write(&mut [0u8; msg::LEN - 1]));
        assert_eq!(DecisionMsg6::read(&b[..msg::LEN - 1]), None);
        for rewrite in [
            FragRewrite6::Direct,
            FragRewrite6::Tunnel,
            FragRewrite6::Refused,
            FragRewrite6::Overlapped,
            FragRewrite6::ToIpv4 {
                src: "10.0.9.1".parse().unwrap(),
                dst: "10.0.1.5".parse().unwrap(),
            },
        ] {
            let m = DecisionMsg6 {
                decision: FragDecision6 {
                    rewrite,
                    ..m.decision
                },
                ..m
            };
            assert!(m.write(&mut b));
            assert_eq!(DecisionMsg6::read(&b), Some(m));
        }
    }
}
