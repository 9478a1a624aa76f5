//! The IPv6 session record (issue 20): two 40-byte slots, each a record
//! of its own kind, so the datagram keeps one slot size and version 1
//! (see `wire.rs` and docs/session-sync.md for why):
//!
//! ```text
//! slot 1, kind 6 (IPv6 session)
//!   0  kind (6)
//!   1  event (1 created, 2 changed, 3 refresh, 4 ended)
//!   2  forwarding (0 dr, 1 tun, 2 nat, 3 fullnat, 4 snat)
//!   3  IP protocol (6, 17; 58 for a SNAT echo)
//!   4  client addr (16)    SNAT: the internal host
//!  20  VIP (16)            SNAT: the remote it talks to
//!  36  client port, VIP port (2 each; an echo: its identifier twice)
//! slot 2, kind 7 (IPv6 session, continued)
//!   0  kind (7)
//!   1  state (TCP 0..=8, 0x10 UDP, 0x11 ICMPv6 echo)
//!   2  IP protocol: slot 1's, repeated
//!   3  reserved (0)
//!   4  backend addr (16)   SNAT: :: (no backend)
//!  20  backend port (2)    SNAT: 0
//!  22  remaining timeout, ms (u32)
//!  26  reserved (0, 14 bytes)
//! slot 3, kind 8 (FULLNAT and SNAT only: the local or SNAT endpoint the
//! session holds)
//!   0  kind (8)
//!   1  reserved (0, 3 bytes)
//!   4  local addr (16)
//!  20  local port (2)
//!  22  reserved (0, 18 bytes)
//! slot 3 or 4, kind 9 (a TCP NAT or FULLNAT session with a PROXY header:
//! its shift, `pipeline::client_addr6`)
//!   0  kind (9)
//!   1  flags: bit 0 the header was sent
//!   2  header version (1, 2)
//!   3  reserved (0)
//!   4  client_seq (u32: the header's length)
//!   8  client_from (u32: the client's ISN + 1)
//!  12  reserved (0, 28 bytes)
//! ```
//!
//! A node from before it refuses both slots (`sync_bad_record`, twice)
//! and reads the rest of the datagram; a node that knows kinds 6 and 7
//! but not 8 refuses the third slot alone, and the FULLNAT record (its
//! service is not one it could install); one that does not know kind 9
//! refuses it alone and installs the session without its shift (the
//! connection then breaks at a failover, as before it was synced).
//!
//! ```text
//! last slot, kind 10 (a SYN-proxied TCP NAT or FULLNAT session's splice,
//! once made: `pipeline::synproxy6`)
//!   0  kind (10)
//!   1  reserved (0)
//!   2  client window shift, backend window shift (0xff: none)
//!   4  client_seq, client_from, backend_seq, backend_ts (u32 each)
//!  20  reserved (0, 20 bytes)
//! ```
//!
//! A node that does not know kind 10 refuses that slot alone and installs
//! the session untranslated, as IPv4's splice (`wire.rs`). A SNAT
//! record (forwarding 4) is refused whole by a node from before IPv6 SNAT
//! was synced (its third slot is one only FULLNAT had).

use std::net::Ipv6Addr;

use super::{Encoder, WireError, MAX_RECORDS, RECORD_LEN};
use crate::client_addr::proxy_header::ProxyVersion;
use crate::flow::table::Forwarding;
use crate::sync::record::{forwarding_code, forwarding_from, state_code, state_from};
use crate::sync::{RecordKind, SessionRecord6, ShiftRecord6, SpliceRecord};
use crate::synproxy::seq::SeqAdjust;
use crate::tuple::{FiveTuple6, IpProto};

/// The first slot's kind byte.
pub(super) const KIND_SESSION6: u8 = 6;
/// The second slot's.
pub(super) const KIND_SESSION6_REST: u8 = 7;
/// The third slot of a FULLNAT record's.
pub(super) const KIND_SESSION6_LOCAL: u8 = 8;
/// The slot of a session's PROXY header shift.
pub(super) const KIND_SESSION6_SHIFT: u8 = 9;
/// The slot of a SYN-proxied session's splice.
pub(super) const KIND_SESSION6_SPLICE: u8 = 10;
/// A window shift the session has not.
const NO_WSCALE: u8 = 0xff;
/// Slots an IPv6 record takes (a FULLNAT one one more, a shifted one one
/// more).
pub(super) const SLOTS6: usize = 2;

impl Encoder {
    /// Adds an IPv6 record (two slots); false (and nothing added) when the
    /// datagram has no room for it or it cannot be written (a template).
    pub(super) fn push6(&mut self, r: &SessionRecord6) -> bool {
        let slots = SLOTS6
            + usize::from(r.local.is_some())
            + usize::from(r.shift.is_some())
            + usize::from(r.splice.is_some());
        if self.records + slots > MAX_RECORDS {
            return false;
        }
        let Some(state) = state_code(r.state) else {
            return false;
        };
        self.start();
        let i = &r.inbound;
        let proto = i.proto.0;
        self.buf.extend_from_slice(&[
            KIND_SESSION6,
            r.kind as u8,
            forwarding_code(r.forwarding),
            proto,
        ]);
        self.buf.extend_from_slice(&i.src.octets());
        self.buf.extend_from_slice(&i.dst.octets());
        self.buf.extend_from_slice(&i.src_port.to_be_bytes());
        self.buf.extend_from_slice(&i.dst_port.to_be_bytes());
        self.buf
            .extend_from_slice(&[KIND_SESSION6_REST, state, proto, 0]);
        self.buf.extend_from_slice(&r.backend.0.octets());
        self.buf.extend_from_slice(&r.backend.1.to_be_bytes());
        self.buf.extend_from_slice(&r.timeout_ms.to_be_bytes());
        self.buf.extend_from_slice(&[0; 14]);
        if let Some((addr, port)) = r.local {
            self.buf.extend_from_slice(&[KIND_SESSION6_LOCAL, 0, 0, 0]);
            self.buf.extend_from_slice(&addr.octets());
            self.buf.extend_from_slice(&port.to_be_bytes());
            self.buf.extend_from_slice(&[0; 18]);
        }
        if let Some(sh) = r.shift {
            let version = match sh.header {
                ProxyVersion::V1 => 1,
                ProxyVersion::V2 => 2,
            };
            let sent = u8::from(sh.header_sent);
            self.buf
                .extend_from_slice(&[KIND_SESSION6_SHIFT, sent, version, 0]);
            self.buf.extend_from_slice(&sh.client_seq.to_be_bytes());
            self.buf.extend_from_slice(&sh.client_from.to_be_bytes());
            self.buf.extend_from_slice(&[0; 28]);
        }
        if let Some(sp) = &r.splice {
            self.buf.extend_from_slice(&[
                KIND_SESSION6_SPLICE,
                0,
                sp.client_wscale.unwrap_or(NO_WSCALE),
                sp.backend_wscale.unwrap_or(NO_WSCALE),
            ]);
            let a = &sp.adjust;
            for v in [a.client_seq, a.client_from, a.backend_seq, a.backend_ts] {
                self.buf.extend_from_slice(&v.to_be_bytes());
            }
            self.buf.extend_from_slice(&[0; 20]);
        }
        self.records += slots;
        true
    }
}

/// The optional slots that follow an IPv6 record's two, each present
/// when the next slot is of its kind.
#[derive(Clone, Copy, Default)]
pub(super) struct MoreSlots6<'a> {
    /// Kind 8: a FULLNAT or SNAT session's endpoint.
    pub local: Option<&'a [u8]>,
    /// Kind 9: a PROXY header's shift.
    pub shift: Option<&'a [u8]>,
    /// Kind 10: a SYN-proxied session's splice.
    pub splice: Option<&'a [u8]>,
}

/// The IPv6 record in slots `first` (kind 6) and `rest` (kind 7), and
/// the slots that follow them.
pub(super) fn decode6(
    first: &[u8],
    rest: &[u8],
    more: MoreSlots6<'_>,
) -> Result<SessionRecord6, WireError> {
    let MoreSlots6 {
        local,
        shift,
        splice,
    } = more;
    let bad = WireError::BadRecord;
    debug_assert!(first.len() == RECORD_LEN && rest.len() == RECORD_LEN);
    if first[0] != KIND_SESSION6 || rest[0] != KIND_SESSION6_REST {
        return Err(bad);
    }
    let kind = RecordKind::from_u8(first[1]).ok_or(bad)?;
    let forwarding = forwarding_from(first[2]).ok_or(bad)?;
    let proto = IpProto(first[3]);
    // An echo session (by identifier) is SNAT's only.
    let echo = proto == crate::rewrite6::ICMPV6 && forwarding == Forwarding::Snat;
    if !([IpProto::TCP, IpProto::UDP].contains(&proto) || echo) || rest[2] != first[3] {
        return Err(bad);
    }
    let state = state_from(rest[1]).ok_or(bad)?;
    let port = |b: &[u8], i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    // A FULLNAT or SNAT record has its local (SNAT) endpoint, and only
    // those.
    let holds_port = matches!(forwarding, Forwarding::FullNat | Forwarding::Snat);
    let local = match (local, holds_port) {
        (Some(l), true) if l.len() == RECORD_LEN => Some((addr6(l, 4), port(l, 20))),
        (None, true) | (Some(_), _) => return Err(bad),
        (None, false) => None,
    };
    let shift = match shift {
        Some(sh) if proto == IpProto::TCP && sh.len() == RECORD_LEN => Some(ShiftRecord6 {
            client_seq: u32::from_be_bytes([sh[4], sh[5], sh[6], sh[7]]),
            client_from: u32::from_be_bytes([sh[8], sh[9], sh[10], sh[11]]),
            header: match sh[2] {
                1 => ProxyVersion::V1,
                2 => ProxyVersion::V2,
                _ => return Err(bad),
            },
            header_sent: sh[1] & 1 != 0,
        }),
        Some(_) => return Err(bad),
        None => None,
    };
    // Only NAT and FULLNAT shift (DR and TUN backends answer the client).
    let shifting = matches!(forwarding, Forwarding::Nat | Forwarding::FullNat);
    if shift.is_some() && !shifting {
        return Err(bad);
    }
    let splice = match splice {
        Some(sp) if proto == IpProto::TCP && shifting && shift.is_none() => {
            Some(decode_splice6(sp).ok_or(bad)?)
        }
        Some(_) => return Err(bad),
        None => None,
    };
    Ok(SessionRecord6 {
        kind,
        forwarding,
        state,
        inbound: FiveTuple6 {
            src: addr6(first, 4),
            dst: addr6(first, 20),
            src_port: port(first, 36),
            dst_port: port(first, 38),
            proto,
        },
        backend: (addr6(rest, 4), port(rest, 20)),
        timeout_ms: u32::from_be_bytes([rest[22], rest[23], rest[24], rest[25]]),
        local,
        shift,
        splice,
    })
}

/// The splice slot `b` (kind 10); None if a window shift is over 14 (RFC
/// 7323) and not 0xff.
fn decode_splice6(b: &[u8]) -> Option<SpliceRecord> {
    if b.len() != RECORD_LEN {
        return None;
    }
    let wscale = |v: u8| match v {
        NO_WSCALE => Some(None),
        0..=14 => Some(Some(v)),
        _ => None,
    };
    let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    Some(SpliceRecord {
        adjust: SeqAdjust {
            client_seq: word(4),
            client_from: word(8),
            backend_seq: word(12),
            backend_ts: word(16),
        },
        syn_proxy: true,
        header: None,
        header_sent: false,
        client_wscale: wscale(b[2])?,
        backend_wscale: wscale(b[3])?,
    })
}

/// The IPv6 address at `i` of slot `b`.
fn addr6(b: &[u8], i: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[i..i + 16]);
    Ipv6Addr::from(a)
}

#[cfg(test)]
#[path = "wire6_tests.rs"]
mod tests;
