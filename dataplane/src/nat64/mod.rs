//! NAT64 for FULLNAT (issue 20): an IPv6 VIP served by IPv4 backends. The
//! client's IPv6 packet leaves as an IPv4 packet from a local address to the
//! backend, and the backend's answer goes back as IPv6, by the IP/ICMP
//! translation algorithm of RFC 7915 (the header translation a stateful
//! NAT64, RFC 6146, uses; the addresses and ports come from the session, not
//! from an address-mapping prefix).
//!
//! - [`to_ipv4`] and [`to_ipv6`] translate a TCP or UDP packet in place: the
//!   IP header is replaced (20 bytes shorter or longer, the L2 header slid
//!   to the new front), the L4 checksum updated incrementally for the new
//!   pseudo-header and ports (an IPv4 UDP datagram without a checksum gets
//!   one: IPv6 requires it).
//! - [`error_to_ipv6`] and [`error_to_ipv4`] translate an ICMP error about a
//!   translated packet into the other family's error about the packet as
//!   the other side sent it: type and code by RFC 7915's tables
//!   ([`map_error_to_ipv6`], [`map_error_to_ipv4`]), the quoted header
//!   translated too, the MTU of a "fragmentation needed" or "packet too big"
//!   moved by the 20 bytes between the headers.
//!
//! - Fragments (RFC 7915 4.1 and 5.1.1): a datagram's first fragment is
//!   translated by [`to_ipv4`] and [`to_ipv6`] with its ports and checksum,
//!   the fragment header dropped or made; the later ones by
//!   [`later_to_ipv4`] and [`later_to_ipv6`], their IP header only, with
//!   the addresses their first fragment left with (the pipeline's fragment
//!   tables keep them). The identification is the IPv6 one's low 16 bits,
//!   or the IPv4 one zero-extended; offset and more-fragments copied.
//!
//! What is not translated is refused with an [`Untranslatable`] reason,
//! nothing written: a first fragment of UDP without a checksum (the
//! datagram is not here to sum), a hop limit or TTL that would reach 0 (the
//! caller sends the Time Exceeded error), ICMP messages RFC 7915 drops.
//!
//! Called by `pipeline/nat64.rs` and `pipeline/nat64_error6.rs` for NAT64
//! services (FULLNAT, an IPv6 VIP, IPv4 backends; docs/ipv6.md, "NAT64 in
//! FULLNAT").

mod fragment;
mod header;
mod icmp;
mod resize;

pub use fragment::{later_to_ipv4, later_to_ipv6};
pub use header::{to_ipv4, to_ipv4_summed, to_ipv6, to_ipv6_summed, To4, To6};
pub use icmp::{
    error_to_ipv4, error_to_ipv6, map_error_to_ipv4, map_error_to_ipv6, ErrorTo4, ErrorTo6,
    IcmpMessage,
};

/// Why a packet was not translated (the caller drops and counts it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Untranslatable {
    /// The hop limit or TTL is 1 or 0: the packet expires here.
    HopLimit,
    /// A fragment this translation cannot take: a first fragment of UDP
    /// without a checksum, a TCP fragment at offset 8 (RFC 1858; IPv4
    /// refuses it), a later fragment given as a first one (or the other
    /// way), a quoted fragment past the first.
    Fragment,
    /// Not TCP or UDP (or, in an error's quote, not a TCP or UDP packet
    /// this translation could have sent).
    Protocol,
    /// An ICMP type or code RFC 7915 drops (single-hop messages, obsolete
    /// types, codes with no counterpart).
    IcmpType,
    /// An ICMP error too short to hold the header it quotes, or a packet
    /// shorter than its headers say.
    Truncated,
    /// An ICMP error whose checksum does not verify (translating it would
    /// give garbage a valid checksum).
    BadChecksum,
    /// The packet is longer than the other family's length field takes.
    TooLong,
    /// No room in the buffer to grow, or the packet's bytes are not in one
    /// segment where the whole of it must be summed.
    NoBufferRoom,
}

#[cfg(test)]
mod tests;
