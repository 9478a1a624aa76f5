//! Why a packet was dropped, and a per-worker counter for each reason.
//!
//! Every path that discards a packet names a [`DropReason`]; the worker adds it
//! to its own [`DropCounters`] (a plain array, no atomics: each worker owns
//! its counters and they are summed only when someone asks).
//!
//! IPv4 and IPv6 fragments of TCP and UDP are forwarded without reassembly
//! (`crate::frag`); what that refuses is counted under the `frag_*` reasons.

/// The reason a packet was not forwarded. `as usize` indexes [`DropCounters`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum DropReason {
    /// The frame ends inside the Ethernet or 802.1Q header.
    TruncatedFrame,
    /// An EtherType we neither forward nor answer (including stacked VLANs).
    UnsupportedEtherType,
    /// The frame ends inside the IPv4 header.
    TruncatedIpv4,
    /// The IP version nibble disagrees with the EtherType.
    BadIpVersion,
    /// IPv4 header length below 5 words or past the end of the frame.
    BadIhl,
    /// IPv4 total length runs past the end of the frame.
    TotalLengthPastFrame,
    /// IPv4 total length is shorter than the header it contains.
    TotalLengthBelowHeader,
    /// IPv4 header checksum does not verify.
    BadIpv4Checksum,
    /// An IPv4 fragment of a protocol other than TCP and UDP.
    Fragment,
    /// An IPv4 protocol other than TCP, UDP and ICMP.
    UnsupportedProtocol,
    /// IPv6 that is not ours to answer (not Neighbour Discovery or echo
    /// for an owned address, not a VIP's flow).
    Ipv6NotForwarded,
    /// IPv6 to one of our addresses with an extension-header chain we
    /// refuse (cut short, too long, hop-by-hop not first, a routing header
    /// with segments left, two fragment headers).
    Ipv6BadChain,
    /// IPv6 to one of our addresses that we do not answer: another
    /// protocol than ICMPv6, an ICMPv6 type other than echo request and
    /// Neighbour Discovery, a fragment.
    Ipv6LocalUnhandled,
    /// An IPv6 fragment to a VIP of a protocol other than TCP and UDP
    /// (TCP and UDP fragments go by the fragment table).
    Ipv6Fragment,
    /// An IPv6 first fragment without its whole header chain and L4
    /// header (RFC 7112).
    Ipv6FragIncompleteChain,
    /// An ICMPv6 message for us whose checksum does not verify.
    Icmpv6BadChecksum,
    /// A Neighbour Discovery message with a hop limit other than 255: it
    /// crossed a router (RFC 4861 7.1).
    NdBadHopLimit,
    /// A Neighbour Discovery message that fails RFC 4861's checks: code
    /// not 0, a group as target, a malformed option, DAD not to a
    /// solicited-node group or with a link-layer address, a solicited
    /// advertisement to a group.
    NdMalformed,
    /// A packet to an IPv6 next hop on an interface that has no IPv6
    /// address to send the Neighbor Solicitation from (RFC 4861 7.2.2).
    NdNoSourceAddress,
    /// An MLD query that fails RFC 3810's checks: not from a link-local
    /// address, a hop limit other than 1, shorter than 24 bytes, or asking
    /// about another group than it was sent to.
    MldBadQuery,
    /// The TCP, UDP or ICMP header is cut short or its length field is bad.
    TruncatedL4,
    /// An ICMP message whose checksum does not verify.
    BadIcmpChecksum,
    /// An ICMP error whose quoted packet is too short to name a flow.
    BadIcmpQuote,
    /// An ICMP type we neither answer nor translate.
    UnsupportedIcmp,
    /// An ARP packet that is not Ethernet/IPv4, or is cut short.
    MalformedArp,
    /// ARP or ICMP echo for an address we do not own.
    NotForUs,
    /// No route to the destination.
    NoRoute,
    /// The packet waits for ARP resolution but the neighbour's queue is full.
    NeighbourQueueFull,
    /// No room in the neighbour table for another unresolved next hop.
    NeighbourTableFull,
    /// The packet waited for ARP resolution that never came.
    NeighbourUnresolved,
    /// TTL (or an IPv6 hop limit) would reach zero; an ICMP (ICMPv6)
    /// time-exceeded may have been sent.
    TtlExceeded,
    /// An ICMP error we would have sent was suppressed by the rate limit.
    IcmpRateLimited,
    /// Too big for the egress MTU with DF set; fragmentation-needed was sent.
    FragmentationNeeded,
    /// Too big for the egress MTU without DF: we do not fragment.
    TooBigToFragment,
    /// An IPv6 packet too big for the egress MTU (IPv6 is never
    /// fragmented on the way): an ICMPv6 Packet Too Big was sent, unless
    /// the rate limit or RFC 4443 2.4 (e) held it back.
    PacketTooBig,
    /// The buffer lacks the headroom or tailroom a rewrite needs.
    NoBufferRoom,
    /// A chained (multi-segment) mbuf that could not be gathered into one
    /// buffer: longer than a buffer holds, or none free.
    MultiSegment,
    /// No interface is configured for the frame's (port, VLAN).
    NoInterface,
    /// A TCP packet other than a SYN, with no session (IPVS drops these too).
    NoSession,
    /// No service for the destination, and no SNAT rule for the source.
    NoService,
    /// The service has no backend with weight > 0 that is not over its
    /// connection threshold (then also `event:overloaded`).
    NoBackend,
    /// The client is not allowed by the service's access list (also
    /// counted per service as `denied`).
    AclDenied,
    /// The service's new-connection rate (`new_conn_rate`) was used up
    /// (also counted per service as `rate_limited`).
    RateLimited,
    /// The client prefix's new-connection rate (`client_rate`) was used up
    /// (also counted per service as `client_rate_limited`).
    ClientRateLimited,
    /// No local address has a free port for the flow (FULLNAT, SNAT).
    PortsExhausted,
    /// The session table is full; established flows keep working.
    TableFull,
    /// The TX queue had no room.
    TxFull,
    /// The reply tuple of a new flow already names another session (NAT of
    /// one client port to one backend port from two services).
    SessionClash,
    /// A frame addressed to another host's MAC (a promiscuous port sees them).
    OtherHost,
    /// The ring to the worker that owns the flow was full.
    RedirectFull,
    /// A frame for the port's kernel interface beyond its per-second
    /// budget.
    KernelBudget,
    /// The kernel interface's queue (or the ring to the worker that
    /// feeds it) was full.
    KernelFull,
    /// A new flow, ARP or echo for an address VRRP gives to the peer node
    /// now (this node is its backup): answered by nobody here.
    VrrpBackup,
    /// A fragment ending past 65535 bytes (ping of death).
    FragOversized,
    /// A fragment overlapping one already seen of its datagram (teardrop),
    /// a duplicate, or a TCP fragment at offset 8 (RFC 1858).
    FragOverlap,
    /// A later fragment held for its datagram's first one, which did not
    /// come in time.
    FragTimeout,
    /// No room in the fragment table for another datagram.
    FragTableFull,
    /// A later fragment before its first one, with the datagram's or the
    /// worker's hold full.
    FragHoldFull,
    /// A later fragment of a datagram whose first fragment was not
    /// forwarded (dropped, or not for a service).
    FragFirstDropped,
    /// Reassembly: an exact repeat of a fragment its datagram already has
    /// (dropped alone).
    ReasmDuplicate,
    /// Reassembly: a fragment overlapping another of its datagram
    /// (teardrop); the whole datagram is dropped.
    ReasmOverlap,
    /// Reassembly: a fragment that contradicts its datagram (a second,
    /// different end, a piece past the end, a middle fragment not a
    /// multiple of 8 bytes); the whole datagram is dropped.
    ReasmInconsistent,
    /// Reassembly: a datagram longer than a reassembly buffer holds.
    ReasmTooBig,
    /// Reassembly: a datagram in more fragments than one may have.
    ReasmTooMany,
    /// Reassembly: the fragments of a datagram not complete in time.
    ReasmTimeout,
    /// Reassembly: no free context for another datagram.
    ReasmFull,
    /// A TX burst a bonded port refused with no member to send on (none
    /// with link; 802.3ad: none distributing yet).
    BondNoMember,
    /// SYN proxy: an ACK to a proxied service, with no session, whose
    /// acknowledgment number is not a valid cookie (forged, stale, for
    /// another tuple or sequence number).
    SynProxyBadCookie,
    /// SYN proxy: a segment to a proxied service with no session that is
    /// neither a SYN nor an ACK (RST, FIN, SYN-ACK, no flags).
    SynProxyNoSession,
    /// SYN proxy: a handshake segment or a spliced one whose TCP options
    /// cannot be read, or with IPv4 options on a handshake segment.
    SynProxyBadOptions,
    /// SYN proxy: a segment of a proxied session its handshake does not
    /// expect (the backend sending before its SYN-ACK, a SYN-ACK that
    /// acknowledges another sequence number).
    SynProxyUnexpected,
    /// SYN proxy: a segment of a spliced connection outside its window
    /// (`synproxy::window`: past what the receiver allowed, older than its
    /// largest window, or acknowledging what the other side never sent).
    SynProxyOutOfWindow,
    /// SYN proxy: a client data segment held for its connection's backend
    /// (`synproxy_early_held`), freed unsent: the session ended (expired,
    /// reset, flushed) before the backend's SYN-ACK came.
    SynProxyEarlyDropped,
    /// PROXY protocol on TCP: the client's segment that must carry the
    /// header cannot grow by it (no tailroom, or past the MTU).
    ProxyHeaderNoRoom,
    /// PROXY protocol on TCP: a SYN with data (TCP Fast Open), which would
    /// reach the backend before the header.
    ProxySynData,
    /// PROXY protocol on TCP: a segment of such a session whose TCP
    /// options cannot be read (its SACK blocks need shifting).
    ProxyBadOptions,
    /// NAT64: a fragment to translate (either way: no fragment table
    /// for translation yet).
    Nat64Fragment,
    /// NAT64: a protocol the translation does not take (only TCP and UDP
    /// are translated; an ICMP error quoting another).
    Nat64Protocol,
    /// NAT64: an ICMP or ICMPv6 type or code RFC 7915 drops.
    Nat64IcmpType,
    /// NAT64: a packet shorter than its headers say, or an error too short
    /// for its quote.
    Nat64Truncated,
    /// NAT64: an ICMP error whose checksum does not verify.
    Nat64BadChecksum,
    /// NAT64: longer than the other family's length field takes.
    Nat64TooLong,
    /// NAT64: no headroom for the 20 bytes IPv6's header adds, or a
    /// chained buffer a whole-datagram checksum cannot read.
    Nat64NoRoom,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 83] = [
        DropReason::TruncatedFrame,
        DropReason::UnsupportedEtherType,
        DropReason::TruncatedIpv4,
        DropReason::BadIpVersion,
        DropReason::BadIhl,
        DropReason::TotalLengthPastFrame,
        DropReason::TotalLengthBelowHeader,
        DropReason::BadIpv4Checksum,
        DropReason::Fragment,
        DropReason::UnsupportedProtocol,
        DropReason::Ipv6NotForwarded,
        DropReason::Ipv6BadChain,
        DropReason::Ipv6LocalUnhandled,
        DropReason::Ipv6Fragment,
        DropReason::Ipv6FragIncompleteChain,
        DropReason::Icmpv6BadChecksum,
        DropReason::NdBadHopLimit,
        DropReason::NdMalformed,
        DropReason::NdNoSourceAddress,
        DropReason::MldBadQuery,
        DropReason::TruncatedL4,
        DropReason::BadIcmpChecksum,
        DropReason::BadIcmpQuote,
        DropReason::UnsupportedIcmp,
        DropReason::MalformedArp,
        DropReason::NotForUs,
        DropReason::NoRoute,
        DropReason::NeighbourQueueFull,
        DropReason::NeighbourTableFull,
        DropReason::NeighbourUnresolved,
        DropReason::TtlExceeded,
        DropReason::IcmpRateLimited,
        DropReason::FragmentationNeeded,
        DropReason::TooBigToFragment,
        DropReason::PacketTooBig,
        DropReason::NoBufferRoom,
        DropReason::MultiSegment,
        DropReason::NoInterface,
        DropReason::NoSession,
        DropReason::NoService,
        DropReason::NoBackend,
        DropReason::AclDenied,
        DropReason::RateLimited,
        DropReason::ClientRateLimited,
        DropReason::PortsExhausted,
        DropReason::TableFull,
        DropReason::TxFull,
        DropReason::SessionClash,
        DropReason::OtherHost,
        DropReason::RedirectFull,
        DropReason::KernelBudget,
        DropReason::KernelFull,
        DropReason::VrrpBackup,
        DropReason::FragOversized,
        DropReason::FragOverlap,
        DropReason::FragTimeout,
        DropReason::FragTableFull,
        DropReason::FragHoldFull,
        DropReason::FragFirstDropped,
        DropReason::ReasmDuplicate,
        DropReason::ReasmOverlap,
        DropReason::ReasmInconsistent,
        DropReason::ReasmTooBig,
        DropReason::ReasmTooMany,
        DropReason::ReasmTimeout,
        DropReason::ReasmFull,
        DropReason::BondNoMember,
        DropReason::SynProxyBadCookie,
        DropReason::SynProxyNoSession,
        DropReason::SynProxyBadOptions,
        DropReason::SynProxyUnexpected,
        DropReason::SynProxyOutOfWindow,
        DropReason::SynProxyEarlyDropped,
        DropReason::ProxyHeaderNoRoom,
        DropReason::ProxySynData,
        DropReason::ProxyBadOptions,
        DropReason::Nat64Fragment,
        DropReason::Nat64Protocol,
        DropReason::Nat64IcmpType,
        DropReason::Nat64Truncated,
        DropReason::Nat64BadChecksum,
        DropReason::Nat64TooLong,
        DropReason::Nat64NoRoom,
    ];
    /// Number of reasons (the length of the counter array).
    pub const COUNT: usize = Self::ALL.len();

    /// The counter's name, as shown by the CLI and in stats.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::TruncatedFrame => "truncated_frame",
            DropReason::UnsupportedEtherType => "unsupported_ethertype",
            DropReason::TruncatedIpv4 => "truncated_ipv4",
            DropReason::BadIpVersion => "bad_ip_version",
            DropReason::BadIhl => "bad_ihl",
            DropReason::TotalLengthPastFrame => "total_length_past_frame",
            DropReason::TotalLengthBelowHeader => "total_length_below_header",
            DropReason::BadIpv4Checksum => "bad_ipv4_checksum",
            DropReason::Fragment => "fragment",
            DropReason::UnsupportedProtocol => "unsupported_protocol",
            DropReason::Ipv6NotForwarded => "ipv6_not_forwarded",
            DropReason::Ipv6BadChain => "ipv6_bad_chain",
            DropReason::Ipv6LocalUnhandled => "ipv6_local_unhandled",
            DropReason::Ipv6Fragment => "ipv6_fragment",
            DropReason::Ipv6FragIncompleteChain => "ipv6_frag_incomplete_chain",
            DropReason::Icmpv6BadChecksum => "icmpv6_bad_checksum",
            DropReason::NdBadHopLimit => "nd_bad_hop_limit",
            DropReason::NdMalformed => "nd_malformed",
            DropReason::MldBadQuery => "mld_bad_query",
            DropReason::NdNoSourceAddress => "nd_no_source_address",
            DropReason::TruncatedL4 => "truncated_l4",
            DropReason::BadIcmpChecksum => "bad_icmp_checksum",
            DropReason::BadIcmpQuote => "bad_icmp_quote",
            DropReason::UnsupportedIcmp => "unsupported_icmp",
            DropReason::MalformedArp => "malformed_arp",
            DropReason::NotForUs => "not_for_us",
            DropReason::NoRoute => "no_route",
            DropReason::NeighbourQueueFull => "neighbour_queue_full",
            DropReason::NeighbourTableFull => "neighbour_table_full",
            DropReason::NeighbourUnresolved => "neighbour_unresolved",
            DropReason::TtlExceeded => "ttl_exceeded",
            DropReason::IcmpRateLimited => "icmp_rate_limited",
            DropReason::FragmentationNeeded => "fragmentation_needed",
            DropReason::TooBigToFragment => "too_big_to_fragment",
            DropReason::PacketTooBig => "packet_too_big",
            DropReason::NoBufferRoom => "no_buffer_room",
            DropReason::MultiSegment => "multi_segment",
            DropReason::NoInterface => "no_interface",
            DropReason::NoSession => "no_session",
            DropReason::NoService => "no_service",
            DropReason::NoBackend => "no_backend",
            DropReason::AclDenied => "acl_denied",
            DropReason::RateLimited => "rate_limited",
            DropReason::ClientRateLimited => "client_rate_limited",
            DropReason::PortsExhausted => "ports_exhausted",
            DropReason::TableFull => "table_full",
            DropReason::TxFull => "tx_full",
            DropReason::SessionClash => "session_clash",
            DropReason::OtherHost => "other_host",
            DropReason::RedirectFull => "redirect_full",
            DropReason::KernelBudget => "kernel_budget",
            DropReason::KernelFull => "kernel_full",
            DropReason::VrrpBackup => "vrrp_backup",
            DropReason::FragOversized => "frag_oversized",
            DropReason::FragOverlap => "frag_overlap",
            DropReason::FragTimeout => "frag_timeout",
            DropReason::FragTableFull => "frag_table_full",
            DropReason::FragHoldFull => "frag_hold_full",
            DropReason::FragFirstDropped => "frag_first_dropped",
            DropReason::ReasmDuplicate => "reasm_duplicate",
            DropReason::ReasmOverlap => "reasm_overlap",
            DropReason::ReasmInconsistent => "reasm_inconsistent",
            DropReason::ReasmTooBig => "reasm_too_big",
            DropReason::ReasmTooMany => "reasm_too_many",
            DropReason::ReasmTimeout => "reasm_timeout",
            DropReason::ReasmFull => "reasm_full",
            DropReason::BondNoMember => "bond_no_member",
            DropReason::SynProxyBadCookie => "synproxy_bad_cookie",
            DropReason::SynProxyNoSession => "synproxy_no_session",
            DropReason::SynProxyBadOptions => "synproxy_bad_options",
            DropReason::SynProxyUnexpected => "synproxy_unexpected",
            DropReason::SynProxyOutOfWindow => "synproxy_out_of_window",
            DropReason::SynProxyEarlyDropped => "synproxy_early_dropped",
            DropReason::ProxyHeaderNoRoom => "proxy_header_no_room",
            DropReason::ProxySynData => "proxy_syn_data",
            DropReason::ProxyBadOptions => "proxy_bad_options",
            DropReason::Nat64Fragment => "nat64_fragment",
            DropReason::Nat64Protocol => "nat64_protocol",
            DropReason::Nat64IcmpType => "nat64_icmp_type",
            DropReason::Nat64Truncated => "nat64_truncated",
            DropReason::Nat64BadChecksum => "nat64_bad_checksum",
            DropReason::Nat64TooLong => "nat64_too_long",
            DropReason::Nat64NoRoom => "nat64_no_room",
        }
    }
}

/// One worker's drop counters: a count per [`DropReason`].
#[derive(Clone, Debug)]
pub struct DropCounters {
    counts: [u64; DropReason::COUNT],
}

impl Default for DropCounters {
    fn default() -> Self {
        DropCounters {
            counts: [0; DropReason::COUNT],
        }
    }
}

impl DropCounters {
    /// Counts one packet dropped for `reason`.
    #[inline]
    pub fn count(&mut self, reason: DropReason) {
        // The index is in bounds: the array has one slot per variant.
        if let Some(slot) = self.counts.get_mut(reason as usize) {
            *slot += 1;
        }
    }

    /// Counts `n` packets dropped for `reason`.
    #[inline]
    pub fn count_n(&mut self, reason: DropReason, n: u64) {
        if let Some(slot) = self.counts.get_mut(reason as usize) {
            *slot += n;
        }
    }

    /// Packets dropped for `reason` so far.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts.get(reason as usize).copied().unwrap_or(0)
    }

    /// Every reason with its count, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r, self.get(r)))
    }

    /// Adds another worker's counters into these (for aggregation).
    pub fn add(&mut self, other: &DropCounters) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_reason_in_discriminant_order_with_unique_names() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?} out of order");
        }
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
    }

    #[test]
    fn counters_count_per_reason_and_aggregate() {
        let mut a = DropCounters::default();
        a.count(DropReason::Fragment);
        a.count(DropReason::Fragment);
        a.count(DropReason::NoRoute);
        let mut b = DropCounters::default();
        b.count(DropReason::NoRoute);
        b.add(&a);
        assert_eq!(b.get(DropReason::Fragment), 2);
        assert_eq!(b.get(DropReason::NoRoute), 2);
        assert_eq!(b.get(DropReason::BadIhl), 0);
        assert_eq!(b.iter().map(|(_, n)| n).sum::<u64>(), 4);
    }
}
