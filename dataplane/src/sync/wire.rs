//! The sync datagram (version 1), all integers big-endian:
//!
//! ```text
//! header, 24 bytes
//!   0  magic "FLBS"
//!   4  version (1)
//!   5  flags: bit 0 = signed (a 32-byte HMAC-SHA256 trailer follows)
//!   6  records (u16)
//!   8  boot id (u64): random per process start; a new one asks for a full dump
//!  16  sequence (u32): per sender, +1 per datagram
//!  20  workers (u16): the sender's worker count (informational)
//!  22  reserved (0)
//! records, 40 bytes each
//!   0  kind (1 created, 2 changed, 3 refresh, 4 ended)
//!   1  forwarding (0 dr, 1 tun, 2 nat, 3 fullnat, 4 snat)
//!   2  IP protocol (6, 17, 1)
//!   3  state (TCP 0..=8 in TcpState order, 0x10 UDP, 0x11 ICMP echo)
//!   4  inbound: src addr, dst addr, src port, dst port (12)
//!  16  outbound: the same (12)
//!  28  backend addr (4), backend port (2)
//!  34  remaining timeout, ms (u32)
//!  38  reserved (0, 2 bytes)
//! a spliced session's record is followed by its splice, 40 bytes:
//!   0  kind (5 splice)
//!   1  flags: bit 0 SYN proxy, bit 1 PROXY header, bit 2 header sent
//!   2  IP protocol (6)
//!   3  PROXY header version (0 none, 1 v1, 2 v2)
//!   4  inbound tuple (12): the session record's, repeated
//!  16  client_seq, client_from, backend_seq, backend_ts (u32 each)
//!  32  client window shift, backend window shift (0xff: none)
//!  34  reserved (0, 6 bytes)
//! an IPv6 session's record takes two slots, kinds 6 and 7 (`wire6.rs`)
//! trailer when signed: HMAC-SHA256(key, header and records), 32 bytes
//! ```
//!
//! A datagram is checked whole (length, version, signature) before any
//! record is read; a record with an unknown code is refused alone. The
//! splice record is a record of its own, so the version stays 1: a node
//! from before it refuses the splice alone (`sync_bad_record`) and
//! installs the session as it did, and reads every other record. The
//! IPv6 record is two records of new kinds for the same reason: an older
//! node refuses both and keeps the rest. The header's record count counts
//! slots.

use std::net::Ipv4Addr;

use super::hmac::{Key, TAG_LEN};
use super::record::{forwarding_code, forwarding_from, state_code, state_from};
use super::{RecordKind, SessionRecord, SpliceRecord, SyncRecord};
use crate::client_addr::proxy_header::ProxyVersion;
use crate::synproxy::seq::SeqAdjust;
use crate::tuple::{FiveTuple, IpProto};

pub const MAGIC: [u8; 4] = *b"FLBS";
pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 24;
pub const RECORD_LEN: usize = 40;
/// Records per datagram at most: a signed datagram stays within 1472 bytes
/// (a 1500-byte MTU less the IP and UDP headers).
pub const MAX_RECORDS: usize = 35;
/// The largest datagram: header, records, signature.
pub const MAX_DATAGRAM: usize = HEADER_LEN + MAX_RECORDS * RECORD_LEN + TAG_LEN;
const FLAG_SIGNED: u8 = 0x01;
/// The kind byte of a splice record (after its session's record).
const KIND_SPLICE: u8 = 5;
const SPLICE_SYN_PROXY: u8 = 0x01;
const SPLICE_HEADER: u8 = 0x02;
const SPLICE_HEADER_SENT: u8 = 0x04;
const NO_WSCALE: u8 = 0xff;

/// Why a datagram or a record was refused; each is a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than a header.
    Truncated,
    /// Not a ferrolb sync datagram (wrong magic).
    Foreign,
    BadVersion,
    /// The length disagrees with the record count and the signature flag.
    BadLength,
    /// Unsigned while we have a key, signed while we have none, or a
    /// signature that does not verify.
    BadAuth,
    /// A record with an unknown kind, forwarding, protocol or state.
    BadRecord,
}

impl WireError {
    /// The counter's name.
    pub fn name(self) -> &'static str {
        match self {
            WireError::Truncated => "sync_truncated",
            WireError::Foreign => "sync_foreign",
            WireError::BadVersion => "sync_bad_version",
            WireError::BadLength => "sync_bad_length",
            WireError::BadAuth => "sync_bad_auth",
            WireError::BadRecord => "sync_bad_record",
        }
    }
}

/// A datagram's header fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub boot_id: u64,
    pub sequence: u32,
    pub workers: u16,
}

/// A datagram under construction, in a buffer of its own.
pub struct Encoder {
    buf: Vec<u8>,
    records: usize,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            buf: Vec::with_capacity(MAX_DATAGRAM),
            records: 0,
        }
    }
}

impl Encoder {
    pub fn len(&self) -> usize {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    pub fn is_full(&self) -> bool {
        self.records >= MAX_RECORDS
    }

    /// Adds a record (with its splice, or both slots of an IPv6 one);
    /// false (and nothing added) when the datagram has no room for it or
    /// it cannot be written (a template).
    pub fn push(&mut self, r: impl Into<SyncRecord>) -> bool {
        match r.into() {
            SyncRecord::V4(r) => self.push4(&r),
            SyncRecord::V6(r) => self.push6(&r),
        }
    }

    /// The header's room, before the first record.
    fn start(&mut self) {
        if self.buf.is_empty() {
            self.buf.resize(HEADER_LEN, 0);
        }
    }

    fn push4(&mut self, r: &SessionRecord) -> bool {
        let needed = 1 + usize::from(r.splice.is_some());
        if self.records + needed > MAX_RECORDS {
            return false;
        }
        let Some(state) = state_code(r.state) else {
            return false;
        };
        self.start();
        self.buf.extend_from_slice(&[
            r.kind as u8,
            forwarding_code(r.forwarding),
            r.inbound.proto.0,
            state,
        ]);
        put_tuple(&mut self.buf, &r.inbound);
        put_tuple(&mut self.buf, &r.outbound);
        self.buf.extend_from_slice(&r.backend.0.octets());
        self.buf.extend_from_slice(&r.backend.1.to_be_bytes());
        self.buf.extend_from_slice(&r.timeout_ms.to_be_bytes());
        self.buf.extend_from_slice(&[0, 0]);
        self.records += 1;
        if let Some(sp) = &r.splice {
            self.push_splice(&r.inbound, sp);
        }
        true
    }

    fn push_splice(&mut self, inbound: &FiveTuple, sp: &SpliceRecord) {
        let bit = |on: bool, b: u8| if on { b } else { 0 };
        let flags = bit(sp.syn_proxy, SPLICE_SYN_PROXY)
            | bit(sp.header.is_some(), SPLICE_HEADER)
            | bit(sp.header_sent, SPLICE_HEADER_SENT);
        let version = match sp.header {
            None => 0,
            Some(ProxyVersion::V1) => 1,
            Some(ProxyVersion::V2) => 2,
        };
        self.buf
            .extend_from_slice(&[KIND_SPLICE, flags, inbound.proto.0, version]);
        put_tuple(&mut self.buf, inbound);
        let a = &sp.adjust;
        for v in [a.client_seq, a.client_from, a.backend_seq, a.backend_ts] {
            self.buf.extend_from_slice(&v.to_be_bytes());
        }
        self.buf.extend_from_slice(&[
            sp.client_wscale.unwrap_or(NO_WSCALE),
            sp.backend_wscale.unwrap_or(NO_WSCALE),
        ]);
        self.buf.extend_from_slice(&[0; 6]);
        self.records += 1;
    }

    /// The datagram with `header` (signed with `key`, if any); the encoder
    /// is empty again afterwards. A datagram without records is a hello.
    pub fn finish(&mut self, header: &Header, key: Option<&Key>) -> &[u8] {
        if self.buf.is_empty() {
            self.buf.resize(HEADER_LEN, 0);
        }
        let h = &mut self.buf[..HEADER_LEN];
        h[0..4].copy_from_slice(&MAGIC);
        h[4] = VERSION;
        h[5] = if key.is_some() { FLAG_SIGNED } else { 0 };
        h[6..8].copy_from_slice(&(self.records as u16).to_be_bytes());
        h[8..16].copy_from_slice(&header.boot_id.to_be_bytes());
        h[16..20].copy_from_slice(&header.sequence.to_be_bytes());
        h[20..22].copy_from_slice(&header.workers.to_be_bytes());
        h[22..24].copy_from_slice(&[0, 0]);
        if let Some(k) = key {
            let tag = k.tag(&self.buf);
            self.buf.extend_from_slice(&tag);
        }
        self.records = 0;
        &self.buf
    }

    /// Empties the encoder for the next datagram.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.records = 0;
    }
}

fn put_tuple(buf: &mut Vec<u8>, t: &FiveTuple) {
    buf.extend_from_slice(&t.src.octets());
    buf.extend_from_slice(&t.dst.octets());
    buf.extend_from_slice(&t.src_port.to_be_bytes());
    buf.extend_from_slice(&t.dst_port.to_be_bytes());
}

/// A checked datagram: its header and its records' bytes.
#[derive(Debug)]
pub struct Datagram<'a> {
    pub header: Header,
    body: &'a [u8],
}

impl<'a> Datagram<'a> {
    /// Record slots in the datagram (an IPv6 record takes two).
    pub fn len(&self) -> usize {
        self.body.len() / RECORD_LEN
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// Each record with its splice, or why it was refused: a splice that
    /// follows no record of its session, or cannot be read, is refused
    /// (with its session's record: a spliced session installed without
    /// its translation would only break). An IPv6 record's two slots are
    /// one record, refused once if either is bad or the second missing.
    pub fn records(&self) -> impl Iterator<Item = Result<SyncRecord, WireError>> + 'a {
        let mut chunks = self.body.chunks_exact(RECORD_LEN).peekable();
        std::iter::from_fn(move || {
            let chunk = chunks.next()?;
            if chunk[0] == wire6::KIND_SESSION6 {
                let Some(rest) = chunks.next_if(|c| c[0] == wire6::KIND_SESSION6_REST) else {
                    return Some(Err(WireError::BadRecord));
                };
                let more = wire6::MoreSlots6 {
                    local: chunks.next_if(|c| c[0] == wire6::KIND_SESSION6_LOCAL),
                    shift: chunks.next_if(|c| c[0] == wire6::KIND_SESSION6_SHIFT),
                    splice: chunks.next_if(|c| c[0] == wire6::KIND_SESSION6_SPLICE),
                };
                let r = wire6::decode6(chunk, rest, more);
                return Some(r.map(SyncRecord::V6));
            }
            let mut r = match decode_record(chunk) {
                Ok(r) => r,
                Err(e) => return Some(Err(e)),
            };
            if let Some(next) = chunks.next_if(|c| c[0] == KIND_SPLICE) {
                match decode_splice(next, &r.inbound) {
                    Some(sp) => r.splice = Some(sp),
                    None => return Some(Err(WireError::BadRecord)),
                }
            }
            Some(Ok(SyncRecord::V4(r)))
        })
    }
}

/// Checks a datagram whole: magic, version, length, signature (`key`:
/// ours, if we have one).
pub fn decode<'a>(buf: &'a [u8], key: Option<&Key>) -> Result<Datagram<'a>, WireError> {
    if buf.len() < HEADER_LEN {
        return Err(WireError::Truncated);
    }
    if buf[0..4] != MAGIC {
        return Err(WireError::Foreign);
    }
    if buf[4] != VERSION {
        return Err(WireError::BadVersion);
    }
    let signed = buf[5] & FLAG_SIGNED != 0;
    let records = usize::from(u16::from_be_bytes([buf[6], buf[7]]));
    let body_end = HEADER_LEN + records * RECORD_LEN;
    let want = body_end + if signed { TAG_LEN } else { 0 };
    if buf.len() != want || buf[5] & !FLAG_SIGNED != 0 {
        return Err(WireError::BadLength);
    }
    match (key, signed) {
        (Some(k), true) if k.verify(&buf[..body_end], &buf[body_end..]) => {}
        (None, false) => {}
        _ => return Err(WireError::BadAuth),
    }
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&buf[i..i + 8]);
        u64::from_be_bytes(b)
    };
    Ok(Datagram {
        header: Header {
            boot_id: u64_at(8),
            sequence: u32::from_be_bytes([buf[16], buf[17], buf[18], buf[19]]),
            workers: u16::from_be_bytes([buf[20], buf[21]]),
        },
        body: &buf[HEADER_LEN..body_end],
    })
}

fn decode_record(b: &[u8]) -> Result<SessionRecord, WireError> {
    let bad = WireError::BadRecord;
    let kind = RecordKind::from_u8(b[0]).ok_or(bad)?;
    let forwarding = forwarding_from(b[1]).ok_or(bad)?;
    let proto = IpProto(b[2]);
    if ![IpProto::TCP, IpProto::UDP, IpProto::ICMP].contains(&proto) {
        return Err(bad);
    }
    let state = state_from(b[3]).ok_or(bad)?;
    Ok(SessionRecord {
        kind,
        forwarding,
        state,
        inbound: tuple_at(b, 4, proto),
        outbound: tuple_at(b, 16, proto),
        backend: (
            Ipv4Addr::new(b[28], b[29], b[30], b[31]),
            u16::from_be_bytes([b[32], b[33]]),
        ),
        timeout_ms: u32::from_be_bytes([b[34], b[35], b[36], b[37]]),
        splice: None,
    })
}

/// The splice record `b` for the session of `inbound`; None when it is
/// for another session or has an unknown code.
fn decode_splice(b: &[u8], inbound: &FiveTuple) -> Option<SpliceRecord> {
    let flags = b[1];
    if flags & !(SPLICE_SYN_PROXY | SPLICE_HEADER | SPLICE_HEADER_SENT) != 0
        || IpProto(b[2]) != IpProto::TCP
        || tuple_at(b, 4, IpProto(b[2])) != *inbound
    {
        return None;
    }
    let header = match (flags & SPLICE_HEADER != 0, b[3]) {
        (false, 0) => None,
        (true, 1) => Some(ProxyVersion::V1),
        (true, 2) => Some(ProxyVersion::V2),
        _ => return None,
    };
    let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let wscale = |v: u8| match v {
        NO_WSCALE => Ok(None),
        0..=14 => Ok(Some(v)),
        _ => Err(()),
    };
    Some(SpliceRecord {
        adjust: SeqAdjust {
            client_seq: u32_at(16),
            client_from: u32_at(20),
            backend_seq: u32_at(24),
            backend_ts: u32_at(28),
        },
        syn_proxy: flags & SPLICE_SYN_PROXY != 0,
        header,
        header_sent: flags & SPLICE_HEADER_SENT != 0,
        client_wscale: wscale(b[32]).ok()?,
        backend_wscale: wscale(b[33]).ok()?,
    })
}

/// The tuple written at `i` of record `b` by `put_tuple`.
fn tuple_at(b: &[u8], i: usize, proto: IpProto) -> FiveTuple {
    let addr = |i: usize| Ipv4Addr::new(b[i], b[i + 1], b[i + 2], b[i + 3]);
    let port = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    FiveTuple {
        src: addr(i),
        dst: addr(i + 4),
        src_port: port(i + 8),
        dst_port: port(i + 10),
        proto,
    }
}

#[path = "wire6.rs"]
mod wire6;

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
