//! An IPv6 packet's flow, for the IPv6 forwarding path (issue 20): the
//! extension headers walked (`wire::ipv6::Ipv6Packet::walk`) to the
//! upper-layer header, and a TCP or UDP one read into a `FiveTuple6`. The
//! IPv4 twin is `packet::classify_ipv4`. Refused chains and short L4
//! headers come back as the drop reasons the stage-1 host path counts
//! (`ipv6_bad_chain`, `truncated_l4`); fragments and other protocols are
//! told apart for the caller, which decides what it forwards.

use crate::drop::DropReason;
use crate::tuple::{FiveTuple6, IpProto};
use crate::wire::ipv6::{Ipv6Fragment, IPV6_HEADER_LEN};
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
    /// A fragment (the first one too): its flow needs reassembly or a
    /// fragment table, which IPv6 does not have yet.
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
    let l3 = ip.bytes();
    let chain = ip.walk().map_err(|_| DropReason::Ipv6BadChain)?;
    if let Some(f) = chain.fragment {
        return Ok(Ipv6Flow::Fragment(f));
    }
    let proto = IpProto(chain.proto);
    let end = IPV6_HEADER_LEN + usize::from(ip.payload_len());
    let l4 = l3.get(chain.l4_offset..end).unwrap_or(&[]);
    let (src_port, dst_port, tcp_flags) = match proto {
        IpProto::TCP => {
            let tcp = TcpSegment::new(l4)?;
            (tcp.src_port(), tcp.dst_port(), Some(tcp.flags()))
        }
        IpProto::UDP => {
            let udp = UdpDatagram::new(l4)?;
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

#[cfg(test)]
#[path = "packet6_tests.rs"]
mod tests;
