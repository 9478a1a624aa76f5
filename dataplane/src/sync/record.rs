//! One session event as plain values: the same record means the same
//! session on every node that runs the same config.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::client_addr::proxy_header::ProxyVersion;
use crate::flow::table::Forwarding;
use crate::flow::ProtoState;
use crate::synproxy::seq::SeqAdjust;
use crate::tuple::{FiveTuple, FiveTuple6};

/// What happened to the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// A new session (the first packet of a flow here).
    Created = 1,
    /// Its TCP state moved.
    Changed = 2,
    /// A full dump's copy (a peer joined, or the periodic refresh): installs
    /// a missing session, and only ever lengthens an existing one's timer.
    Refresh = 3,
    /// Ended here before its timer (a client port reused).
    Ended = 4,
}

impl RecordKind {
    pub fn from_u8(v: u8) -> Option<RecordKind> {
        Some(match v {
            1 => RecordKind::Created,
            2 => RecordKind::Changed,
            3 => RecordKind::Refresh,
            4 => RecordKind::Ended,
            _ => return None,
        })
    }
}

/// A session event with the session's whole translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub kind: RecordKind,
    pub forwarding: Forwarding,
    /// TCP state, UDP or ICMP echo (never a persistence template).
    pub state: ProtoState,
    /// Client to service (or internal host to the outside, for SNAT).
    pub inbound: FiveTuple,
    /// The reply as it reaches the load balancer: for FULLNAT it holds the
    /// local address and port, for SNAT the SNAT address and port.
    pub outbound: FiveTuple,
    /// The backend's configured address and port (port 0 for a backend of
    /// a multi-port service); unspecified for SNAT.
    pub backend: (Ipv4Addr, u16),
    /// Milliseconds left on the session's timer when the record was made.
    pub timeout_ms: u32,
    /// The sequence translation of a spliced session (SYN proxy, PROXY
    /// header), once it is fixed: without it a peer could not go on
    /// translating the connection after a failover.
    pub splice: Option<SpliceRecord>,
}

/// An IPv6 session's event (issue 20). A DR reply never crosses the load
/// balancer, and a NAT session's reply tuple is its backend's endpoint to
/// the client (`nat6_reply`), so no reply tuple is carried, only a FULLNAT
/// session's local address and port; and a PROXY header's shift (no SYN
/// proxy on IPv6, so no other splice).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRecord6 {
    pub kind: RecordKind,
    pub forwarding: Forwarding,
    /// TCP state, UDP, or a SNAT session's ICMPv6 echo (never a
    /// persistence template).
    pub state: ProtoState,
    /// Client to service (SNAT: the internal host to the remote).
    pub inbound: FiveTuple6,
    /// The backend's configured address and port (SNAT: `::` and 0).
    pub backend: (Ipv6Addr, u16),
    /// Milliseconds left on the session's timer when the record was made.
    pub timeout_ms: u32,
    /// FULLNAT: the local address and port the session holds (its reply
    /// tuple runs from the backend to them); SNAT: the SNAT address and
    /// port (echo: identifier) the remote answers.
    pub local: Option<(Ipv6Addr, u16)>,
    /// A TCP session's PROXY header shift (`pipeline::client_addr6`):
    /// without it a peer would forward the client's bytes unshifted after
    /// a failover.
    pub shift: Option<ShiftRecord6>,
    /// A SYN-proxied TCP NAT or FULLNAT session's splice, once made
    /// (`pipeline::synproxy6`; no PROXY header beside it on IPv6): without
    /// it a peer could not translate the connection.
    pub splice: Option<SpliceRecord>,
}

/// What a peer needs to go on shifting an IPv6 session's client bytes by
/// its PROXY header: the header's length from the client's ISN + 1, its
/// version, whether a segment carried it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShiftRecord6 {
    pub client_seq: u32,
    pub client_from: u32,
    pub header: ProxyVersion,
    pub header_sent: bool,
}

/// A record of either family, as the queues and the datagram carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncRecord {
    V4(SessionRecord),
    V6(SessionRecord6),
}

impl SyncRecord {
    pub fn kind(&self) -> RecordKind {
        match self {
            SyncRecord::V4(r) => r.kind,
            SyncRecord::V6(r) => r.kind,
        }
    }

    /// The IPv4 record, if it is one.
    pub fn v4(self) -> Option<SessionRecord> {
        match self {
            SyncRecord::V4(r) => Some(r),
            SyncRecord::V6(_) => None,
        }
    }

    /// The IPv6 record, if it is one.
    pub fn v6(self) -> Option<SessionRecord6> {
        match self {
            SyncRecord::V6(r) => Some(r),
            SyncRecord::V4(_) => None,
        }
    }
}

impl From<SessionRecord> for SyncRecord {
    fn from(r: SessionRecord) -> Self {
        SyncRecord::V4(r)
    }
}

impl From<&SessionRecord> for SyncRecord {
    fn from(r: &SessionRecord) -> Self {
        SyncRecord::V4(*r)
    }
}

impl From<&SessionRecord6> for SyncRecord {
    fn from(r: &SessionRecord6) -> Self {
        SyncRecord::V6(*r)
    }
}

impl From<&SyncRecord> for SyncRecord {
    fn from(r: &SyncRecord) -> Self {
        *r
    }
}

impl From<SessionRecord6> for SyncRecord {
    fn from(r: SessionRecord6) -> Self {
        SyncRecord::V6(r)
    }
}

/// What a peer needs to go on translating a spliced session: the shift
/// and what the window check and the PROXY header depend on. The window
/// check's edges are not sent (they move with every segment): the peer
/// learns them from the first segments it sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpliceRecord {
    pub adjust: SeqAdjust,
    /// A SYN-proxied session (window checked); else only a PROXY header's
    /// shift.
    pub syn_proxy: bool,
    /// The PROXY header the client direction carries, and whether a
    /// segment carried it already.
    pub header: Option<ProxyVersion>,
    pub header_sent: bool,
    pub client_wscale: Option<u8>,
    pub backend_wscale: Option<u8>,
}

/// Forwarding as its wire byte.
pub fn forwarding_code(f: Forwarding) -> u8 {
    match f {
        Forwarding::Dr => 0,
        Forwarding::Tun => 1,
        Forwarding::Nat => 2,
        Forwarding::FullNat => 3,
        Forwarding::Snat => 4,
    }
}

pub fn forwarding_from(v: u8) -> Option<Forwarding> {
    Some(match v {
        0 => Forwarding::Dr,
        1 => Forwarding::Tun,
        2 => Forwarding::Nat,
        3 => Forwarding::FullNat,
        4 => Forwarding::Snat,
        _ => return None,
    })
}

/// UDP and ICMP echo sessions on the wire; TCP states are 0..=8.
const STATE_UDP: u8 = 0x10;
const STATE_ICMP_ECHO: u8 = 0x11;

/// The state as its wire byte; None for a template (never synced).
pub fn state_code(s: ProtoState) -> Option<u8> {
    match s {
        ProtoState::Tcp(t) => Some(t as u8),
        ProtoState::Udp => Some(STATE_UDP),
        ProtoState::IcmpEcho => Some(STATE_ICMP_ECHO),
        ProtoState::Template => None,
    }
}

pub fn state_from(v: u8) -> Option<ProtoState> {
    use crate::flow::TcpState;
    match v {
        STATE_UDP => Some(ProtoState::Udp),
        STATE_ICMP_ECHO => Some(ProtoState::IcmpEcho),
        v => TcpState::ALL
            .get(usize::from(v))
            .map(|&t| ProtoState::Tcp(t)),
    }
}
