//! An IPv6 packet's flow, for the IPv6 forwarding path (issue 20): the
//! extension headers walked (`wire::ipv6::Ipv6Packet::walk`) to the
//! upper-layer header, and a TCP or UDP one read into a `FiveTuple6`. The
//! IPv4 twin is `packet::classify_ipv4`. Refused chains and short L4
//! headers come back as the drop reasons the stage-1 host path counts
//! (`ipv6_bad_chain`, `truncated_l4`); fragments and other protocols are
//! told apart for the caller, which decides what it forwards.

use crate::drop::DropReason;
use crate::frag::{FragKey6, Piece};
use crate::tuple::{FiveTuple6, IpProto};
use crate::wire::ipv6::{ChainError, Ipv6Chain, Ipv6Fragment, IPV6_HEADER_LEN};
use crate::wire::{Ipv6Packet, TcpSegment, UdpDatagram};

/// What the forwarding path reads of an IPv6 TCP or UDP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Meta {
    pub tuple: FiveTuple6,
    /// Where the IPv6 header starts in the frame.
    pub l3_offset: usize,
    /// Where the TCP or UDP header starts in the frame.
    pub l4_offset: usize,
    /// TCP flags; none for UDP.
    pub tcp_flags: Option<u8>,
    /// The IPv6 packet's length, fixed header included (what the counters
    /// count, as an IPv4 packet's total length).
    pub len: u16,
    pub hop_limit: u8,
    /// How many extension headers stand before the L4 header.
    pub extensions: u8,
}

/// An IPv6 packet as the forwarding path sorts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv6Flow {
    /// TCP or UDP, its header whole.
    Flow(Ipv6Meta),
    /// A fragment (the first one too; not an atomic one, RFC 6946, which
    /// is a `Flow`): its flow goes by the fragment table
    /// (`pipeline/fragment6.rs`, [`classify_fragment`]).
    Fragment(Ipv6Fragment),
    /// Another upper layer (ICMPv6, ESP, no next header, ...): not a flow.
    Other(u8),
}

/// Sorts the IPv6 packet at `l3_offset` of `frame` (its fixed header
/// already checked by `packet::classify_received`).
pub fn classify_ipv6(frame: &[u8], l3_offset: usize) -> Result<Ipv6Flow, DropReason> {
    let l3 = frame.get(l3_offset..).ok_or(DropReason::TruncatedFrame)?;
    classify_parsed(&Ipv6Packet::new(l3)?, l3_offset)
}

/// [`classify_ipv6`] of a fixed header the caller has already parsed (the
/// forwarding path reads its destination first): the header is not
/// checked twice.
#[inline]
pub fn classify_parsed(ip: &Ipv6Packet<&[u8]>, l3_offset: usize) -> Result<Ipv6Flow, DropReason> {
    let chain = ip.walk().map_err(chain_refused)?;
    if let Some(f) = chain.fragment {
        if !f.atomic() {
            return Ok(Ipv6Flow::Fragment(f));
        }
    }
    flow_of(ip, l3_offset, &chain, false)
}

/// The drop reason of a refused chain.
#[cold]
fn chain_refused(e: ChainError) -> DropReason {
    match e {
        ChainError::IncompleteFirstFragment => DropReason::Ipv6FragIncompleteChain,
        _ => DropReason::Ipv6BadChain,
    }
}

/// The flow of a packet whose chain was walked: its TCP or UDP header read
/// (a first fragment's UDP length is the whole datagram's, past the bytes
/// present).
#[inline(always)]
fn flow_of(
    ip: &Ipv6Packet<&[u8]>,
    l3_offset: usize,
    chain: &Ipv6Chain,
    first_fragment: bool,
) -> Result<Ipv6Flow, DropReason> {
    let l3 = ip.bytes();
    let proto = IpProto(chain.proto);
    let end = IPV6_HEADER_LEN + usize::from(ip.payload_len());
    let l4 = l3.get(chain.l4_offset..end).unwrap_or(&[]);
    let (src_port, dst_port, tcp_flags) = match proto {
        IpProto::TCP => {
            let tcp = TcpSegment::new(l4)?;
            (tcp.src_port(), tcp.dst_port(), Some(tcp.flags()))
        }
        IpProto::UDP => {
            let udp = match first_fragment {
                false => UdpDatagram::new(l4)?,
                true => UdpDatagram::new_first_fragment(l4)?,
            };
            (udp.src_port(), udp.dst_port(), None)
        }
        _ => return Ok(Ipv6Flow::Other(chain.proto)),
    };
    Ok(Ipv6Flow::Flow(Ipv6Meta {
        tuple: FiveTuple6 {
            src: ip.src(),
            dst: ip.dst(),
            src_port,
            dst_port,
            proto,
        },
        l3_offset,
        l4_offset: l3_offset + chain.l4_offset,
        tcp_flags,
        len: u16::try_from(end).unwrap_or(u16::MAX),
        hop_limit: ip.hop_limit(),
        extensions: chain.extensions,
    }))
}

/// An IPv6 fragment of TCP or UDP, as the fragment table takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment6 {
    /// A first fragment's flow; a later one's addresses and protocol,
    /// its ports 0 and its `l4_offset` where its data start.
    pub meta: Ipv6Meta,
    pub key: FragKey6,
    /// Its bytes in the datagram's fragmentable part.
    pub piece: Piece,
    /// Offset 0: it carries the ports.
    pub first: bool,
}

/// Sorts an IPv6 fragment (not an atomic one): `None` if it is not of TCP
/// or UDP. Refused: a first fragment without the whole header chain and
/// L4 header (RFC 7112, `ipv6_frag_incomplete_chain`), one ending past
/// 65535 bytes (`frag_oversized`), a bad chain.
#[cold]
pub fn classify_fragment(
    ip: &Ipv6Packet<&[u8]>,
    l3_offset: usize,
) -> Result<Option<Fragment6>, DropReason> {
    let chain = ip.walk().map_err(chain_refused)?;
    let Some(f) = chain.fragment else {
        return Ok(None);
    };
    let end = IPV6_HEADER_LEN + usize::from(ip.payload_len());
    let len = end.saturating_sub(usize::from(f.data_offset)) as u32;
    let piece = Piece {
        start: u32::from(f.offset),
        end: u32::from(f.offset) + len,
        last: !f.more,
    };
    if piece.end > u32::from(u16::MAX) {
        return Err(DropReason::FragOversized);
    }
    let key = FragKey6 {
        src: ip.src(),
        dst: ip.dst(),
        ident: f.ident,
    };
    let first = f.offset == 0;
    let meta = match first {
        true => match flow_of(ip, l3_offset, &chain, true) {
            Ok(Ipv6Flow::Flow(meta)) => meta,
            Ok(_) => return Ok(None),
            Err(DropReason::TruncatedL4) => return Err(DropReason::Ipv6FragIncompleteChain),
            Err(reason) => return Err(reason),
        },
        false => {
            let proto = IpProto(chain.proto);
            if proto != IpProto::TCP && proto != IpProto::UDP {
                return Ok(None);
            }
            Ipv6Meta {
                tuple: FiveTuple6 {
                    src: key.src,
                    dst: key.dst,
                    src_port: 0,
                    dst_port: 0,
                    proto,
                },
                l3_offset,
                l4_offset: l3_offset + chain.l4_offset,
                tcp_flags: None,
                len: u16::try_from(end).unwrap_or(u16::MAX),
                hop_limit: ip.hop_limit(),
                extensions: chain.extensions,
            }
        }
    };
    Ok(Some(Fragment6 {
        meta,
        key,
        piece,
        first,
    }))
}

#[cfg(test)]
#[path = "packet6_tests.rs"]
mod tests;
