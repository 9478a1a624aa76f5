//! The pipeline's counters: per service, per backend, per SNAT rule, every
//! drop reason, and the packets the appliance answers or originates.
//!
//! Each worker owns its counters (plain integers, no atomics); they are
//! summed only when someone asks.

use crate::drop::DropCounters;
use crate::tables::{BackendInfo, Reborn};

/// Traffic of one service, backend or SNAT rule. "In" is client to backend
/// (or internal host to the outside), "out" the replies. Bytes are IP bytes
/// (the IPv4 total length), as IPVS counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowCounters {
    /// Sessions created.
    pub conns: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    /// First packets the service's access list refused (services only:
    /// counted on the service, not summed from backends).
    pub denied: u64,
    /// First packets over the service's `new_conn_rate` (services only).
    pub rate_limited: u64,
    /// First packets over their client prefix's `client_rate` (services
    /// only).
    pub client_rate_limited: u64,
}

impl FlowCounters {
    #[inline]
    pub fn count(&mut self, inbound: bool, ip_bytes: u16) {
        if inbound {
            self.packets_in += 1;
            self.bytes_in += u64::from(ip_bytes);
        } else {
            self.packets_out += 1;
            self.bytes_out += u64::from(ip_bytes);
        }
    }

    pub fn add(&mut self, o: &FlowCounters) {
        self.conns += o.conns;
        self.packets_in += o.packets_in;
        self.bytes_in += o.bytes_in;
        self.packets_out += o.packets_out;
        self.bytes_out += o.bytes_out;
        self.denied += o.denied;
        self.rate_limited += o.rate_limited;
        self.client_rate_limited += o.client_rate_limited;
    }
}

/// Packets the appliance answered, originated or translated, and session
/// churn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    pub arp_replies: u64,
    pub arp_requests: u64,
    pub echo_replies: u64,
    /// ICMP errors we built (time exceeded, fragmentation needed).
    pub icmp_errors_sent: u64,
    /// ICMP errors about a tracked flow, rewritten and passed on.
    pub icmp_errors_translated: u64,
    /// NAT64 (`nat64.rs`): clients' IPv6 packets sent on as IPv4.
    pub nat64_to_ipv4: u64,
    /// NAT64: backends' IPv4 replies sent on as IPv6.
    pub nat64_to_ipv6: u64,
    pub sessions_created: u64,
    /// Of `sessions_created`, TCP flows picked up mid-stream (no SYN seen).
    pub sessions_picked_up: u64,
    /// Datagrams of one-packet services, sent without a session.
    pub one_packet_scheduled: u64,
    pub sessions_expired: u64,
    /// Sessions ended by a flush (a deleted service or backend, on request).
    pub sessions_flushed: u64,
    /// Packets handed to the worker that owns their flow.
    pub redirects_sent: u64,
    /// Packets another worker handed to us.
    pub redirects_received: u64,
    /// Neighbours (ARP and ND) learned here and told to another worker.
    pub neighbours_shared: u64,
    /// Neighbours we could not tell another worker (its ring was full); it
    /// learns them from its own next ARP or ND exchange.
    pub neighbour_shares_lost: u64,
    /// Chained packets (several mbuf segments) copied into one buffer
    /// before the packet path read them.
    pub multi_segment_gathered: u64,
    /// Frames handed to a port's kernel interface.
    pub to_kernel: u64,
    /// Frames the kernel sent on a kernel interface, sent out of its port.
    pub from_kernel: u64,
    /// Gratuitous ARP announcements sent.
    pub garp_sent: u64,
    /// Session records queued for the sync peers.
    pub sync_queued: u64,
    /// Session records lost: the worker's sync queue was full.
    pub sync_queue_full: u64,
    /// Of `sync_queued`, records of a full dump (a peer joined, or the refresh).
    pub sync_dumped: u64,
    /// Sessions a peer made, installed here.
    pub sync_installed: u64,
    /// Peer records that moved a session we had (state, timer).
    pub sync_updated: u64,
    /// Peer records that ended a session (a client port reused there).
    pub sync_ended: u64,
    /// Peer records refused: no such service or SNAT rule here.
    pub sync_unknown_service: u64,
    /// Peer records refused: the service has no such backend here.
    pub sync_unknown_backend: u64,
    /// Peer records refused: tuples that do not fit the mode.
    pub sync_inconsistent: u64,
    /// Peer records refused: the local or SNAT port is not ours to hold or is held.
    pub sync_port_taken: u64,
    /// Peer records refused: the reply tuple is another session's.
    pub sync_clash: u64,
    /// Peer records refused: the session table is full.
    pub sync_table_full: u64,
    /// SYNs whose MSS option a service's `mss_clamp` lowered.
    pub mss_clamped: u64,
    /// New flows refused (`drop:no_backend`) while some backend of their
    /// service was over its connection threshold.
    pub overloaded: u64,
    /// Client SYNs of `toa` services whose MSS was lowered by 8.
    pub toa_mss_lowered: u64,
    /// Handshake ACKs that got the client's address in a TOA option.
    pub toa_added: u64,
    /// ... that did not: their TCP options had no 8 bytes left.
    pub toa_options_full: u64,
    /// ... that did not: no tailroom, or past the MTU.
    pub toa_no_room: u64,
    /// First datagrams of UDP sessions that got a PROXY v2 header.
    pub proxy_v2_added: u64,
    /// ... that did not: no tailroom, or past the MTU.
    pub proxy_v2_no_room: u64,
    /// ... that did not: the first datagram came in fragments (the header
    /// needs reassembly, which ferrolb does not do).
    pub proxy_v2_fragmented: u64,
    /// TCP sessions' first client segments that got the PROXY header.
    pub proxy_tcp_added: u64,
    /// ... retransmissions of that segment, which got it again.
    pub proxy_tcp_resent: u64,
    /// SYN-ACKs to clients of such sessions whose MSS was lowered by the
    /// header's length.
    pub proxy_tcp_mss_lowered: u64,
    /// SYN proxy: SYNs answered with a cookie SYN-ACK (no session made).
    pub synproxy_syn_answered: u64,
    /// SYN proxy: ACKs whose cookie was valid: a session made and a SYN
    /// sent to its backend.
    pub synproxy_cookie_accepted: u64,
    /// SYN proxy: backend SYN-ACKs answered with our ACK; from then on
    /// the session's sequence numbers are translated.
    pub synproxy_spliced: u64,
    /// SYN proxy: client segments before the backend answered, sent on
    /// as the backend SYN again (a retransmitted ACK, or data when one
    /// segment of the connection is held already).
    pub synproxy_syn_resent: u64,
    /// SYN proxy: client data before the backend answered that was
    /// discarded, not held (one held already, or the hold full): the
    /// client retransmits it.
    pub synproxy_early_data: u64,
    /// SYN proxy: client data segments before the backend answered, held
    /// (one per connection) until it did.
    pub synproxy_early_held: u64,
    /// SYN proxy: held segments sent on to the backend, translated, once
    /// its SYN-ACK came.
    pub synproxy_early_sent: u64,
    /// SYN proxy: of the discarded early data, segments the worker had no
    /// room to hold (`EARLY_HOLD_PER_WORKER` held, or no buffer for the
    /// SYN to send in its place).
    pub synproxy_early_hold_full: u64,
    /// SYN proxy automatic mode: times a worker turned it on (its SYN_RECV
    /// sessions reached `auto_threshold`) and off (below half of it).
    pub synproxy_on: u64,
    /// SYN proxy with `reset_bad_cookie`: RSTs sent for ACKs with a bad
    /// cookie, and bad-cookie ACKs left without one because the worker's
    /// budget ([`crate::pipeline`]'s 1000 a second) was spent.
    pub synproxy_resets_sent: u64,
    pub synproxy_resets_limited: u64,
    pub synproxy_off: u64,
    /// Fragment events (`pipeline/fragment.rs`).
    pub frag: FragEvents,
    /// IPv6 host events (`pipeline/local6.rs`).
    pub nd: NdEvents,
}

/// What the IPv6 host side did (its drops are the `ipv6_*`, `icmpv6_*`
/// and `nd_*` reasons).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NdEvents {
    /// Neighbor Advertisements sent, answering solicitations for our
    /// addresses (duplicate address detection included).
    pub advertisements_sent: u64,
    /// Of those, answers to duplicate address detection (to all-nodes).
    pub dad_defended: u64,
    /// Neighbour entries made or updated from solicitations and
    /// advertisements.
    pub neighbours_learned: u64,
    /// Advertisements naming one of our addresses at another MAC: another
    /// node claims it.
    pub address_conflicts: u64,
    /// ICMPv6 echo replies sent.
    pub echo_replies: u64,
    /// Neighbor Solicitations we sent resolving a next hop (`egress6.rs`).
    pub solicitations_sent: u64,
    /// Unsolicited Neighbor Advertisements of our addresses (`garp.rs`).
    pub unsolicited_sent: u64,
    /// MLD reports sent: joins at start and answers to queries
    /// (`net::mld`).
    pub mld_reports_sent: u64,
    /// MLD queries answered (about all our groups or one of them).
    pub mld_queries_answered: u64,
    /// ICMPv6 errors we built (Packet Too Big, Time Exceeded: `mtu6.rs`);
    /// those the shared rate limit held back are `drop:icmp_rate_limited`.
    pub icmpv6_errors_sent: u64,
}

impl NdEvents {
    fn iter(&self) -> [(&'static str, u64); 10] {
        [
            ("nd_advertisements_sent", self.advertisements_sent),
            ("nd_dad_defended", self.dad_defended),
            ("nd_neighbours_learned", self.neighbours_learned),
            ("nd_address_conflicts", self.address_conflicts),
            ("icmpv6_echo_replies", self.echo_replies),
            ("nd_solicitations_sent", self.solicitations_sent),
            ("nd_unsolicited_advertisements", self.unsolicited_sent),
            ("mld_reports_sent", self.mld_reports_sent),
            ("mld_queries_answered", self.mld_queries_answered),
            ("icmpv6_errors_sent", self.icmpv6_errors_sent),
        ]
    }

    fn add(&mut self, o: &NdEvents) {
        self.advertisements_sent += o.advertisements_sent;
        self.dad_defended += o.dad_defended;
        self.neighbours_learned += o.neighbours_learned;
        self.address_conflicts += o.address_conflicts;
        self.echo_replies += o.echo_replies;
        self.solicitations_sent += o.solicitations_sent;
        self.unsolicited_sent += o.unsolicited_sent;
        self.mld_reports_sent += o.mld_reports_sent;
        self.mld_queries_answered += o.mld_queries_answered;
        self.icmpv6_errors_sent += o.icmpv6_errors_sent;
    }
}

/// What happened to fragments (their drops are the `frag_*` reasons).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragEvents {
    /// First fragments forwarded, their decision recorded for the rest.
    pub first: u64,
    /// Later fragments forwarded by their first one's decision.
    pub forwarded: u64,
    /// Later fragments held for their first one.
    pub held: u64,
    /// Of `held`, the ones forwarded when the first one came.
    pub released: u64,
    /// Decisions told to the worker that owns the datagram's fragments.
    pub decisions_sent: u64,
    /// Decisions another worker told us.
    pub decisions_received: u64,
    /// Decisions not told: the ring to the owner was full (its fragments
    /// time out there).
    pub decisions_lost: u64,
    /// Packets too big for the egress MTU without DF, fragmented on egress.
    pub egress_fragmented: u64,
    /// Fragments taken in for reassembly (`frag::reasm`).
    pub reasm_fragments: u64,
    /// Datagrams reassembled and passed on whole.
    pub reasm_datagrams: u64,
}

impl FragEvents {
    fn iter(&self) -> [(&'static str, u64); 10] {
        [
            ("frag_first", self.first),
            ("frag_forwarded", self.forwarded),
            ("frag_held", self.held),
            ("frag_released", self.released),
            ("frag_decisions_sent", self.decisions_sent),
            ("frag_decisions_received", self.decisions_received),
            ("frag_decisions_lost", self.decisions_lost),
            ("frag_egress_fragmented", self.egress_fragmented),
            ("reasm_fragments", self.reasm_fragments),
            ("reasm_datagrams", self.reasm_datagrams),
        ]
    }

    fn add(&mut self, o: &FragEvents) {
        self.first += o.first;
        self.forwarded += o.forwarded;
        self.held += o.held;
        self.released += o.released;
        self.decisions_sent += o.decisions_sent;
        self.decisions_received += o.decisions_received;
        self.decisions_lost += o.decisions_lost;
        self.egress_fragmented += o.egress_fragmented;
        self.reasm_fragments += o.reasm_fragments;
        self.reasm_datagrams += o.reasm_datagrams;
    }
}

impl Events {
    /// Every event with its report name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("arp_replies", self.arp_replies),
            ("arp_requests", self.arp_requests),
            ("echo_replies", self.echo_replies),
            ("icmp_errors_sent", self.icmp_errors_sent),
            ("icmp_errors_translated", self.icmp_errors_translated),
            ("nat64_to_ipv4", self.nat64_to_ipv4),
            ("nat64_to_ipv6", self.nat64_to_ipv6),
            ("sessions_created", self.sessions_created),
            ("sessions_picked_up", self.sessions_picked_up),
            ("one_packet_scheduled", self.one_packet_scheduled),
            ("sessions_expired", self.sessions_expired),
            ("sessions_flushed", self.sessions_flushed),
            ("redirects_sent", self.redirects_sent),
            ("redirects_received", self.redirects_received),
            ("neighbours_shared", self.neighbours_shared),
            ("neighbour_shares_lost", self.neighbour_shares_lost),
            ("multi_segment_gathered", self.multi_segment_gathered),
            ("to_kernel", self.to_kernel),
            ("from_kernel", self.from_kernel),
            ("garp_sent", self.garp_sent),
            ("sync_queued", self.sync_queued),
            ("sync_queue_full", self.sync_queue_full),
            ("sync_dumped", self.sync_dumped),
            ("sync_installed", self.sync_installed),
            ("sync_updated", self.sync_updated),
            ("sync_ended", self.sync_ended),
            ("sync_unknown_service", self.sync_unknown_service),
            ("sync_unknown_backend", self.sync_unknown_backend),
            ("sync_inconsistent", self.sync_inconsistent),
            ("sync_port_taken", self.sync_port_taken),
            ("sync_clash", self.sync_clash),
            ("sync_table_full", self.sync_table_full),
            ("mss_clamped", self.mss_clamped),
            ("overloaded", self.overloaded),
            ("toa_mss_lowered", self.toa_mss_lowered),
            ("toa_added", self.toa_added),
            ("toa_options_full", self.toa_options_full),
            ("toa_no_room", self.toa_no_room),
            ("proxy_v2_added", self.proxy_v2_added),
            ("proxy_v2_no_room", self.proxy_v2_no_room),
            ("proxy_v2_fragmented", self.proxy_v2_fragmented),
            ("proxy_tcp_added", self.proxy_tcp_added),
            ("proxy_tcp_resent", self.proxy_tcp_resent),
            ("proxy_tcp_mss_lowered", self.proxy_tcp_mss_lowered),
            ("synproxy_syn_answered", self.synproxy_syn_answered),
            ("synproxy_cookie_accepted", self.synproxy_cookie_accepted),
            ("synproxy_spliced", self.synproxy_spliced),
            ("synproxy_syn_resent", self.synproxy_syn_resent),
            ("synproxy_early_data", self.synproxy_early_data),
            ("synproxy_early_held", self.synproxy_early_held),
            ("synproxy_early_sent", self.synproxy_early_sent),
            ("synproxy_early_hold_full", self.synproxy_early_hold_full),
            ("synproxy_on", self.synproxy_on),
            ("synproxy_resets_sent", self.synproxy_resets_sent),
            ("synproxy_resets_limited", self.synproxy_resets_limited),
            ("synproxy_off", self.synproxy_off),
        ]
        .into_iter()
        .chain(self.frag.iter())
        .chain(self.nd.iter())
    }

    pub fn add(&mut self, o: &Events) {
        self.arp_replies += o.arp_replies;
        self.arp_requests += o.arp_requests;
        self.echo_replies += o.echo_replies;
        self.icmp_errors_sent += o.icmp_errors_sent;
        self.icmp_errors_translated += o.icmp_errors_translated;
        self.nat64_to_ipv4 += o.nat64_to_ipv4;
        self.nat64_to_ipv6 += o.nat64_to_ipv6;
        self.sessions_created += o.sessions_created;
        self.sessions_picked_up += o.sessions_picked_up;
        self.one_packet_scheduled += o.one_packet_scheduled;
        self.sessions_expired += o.sessions_expired;
        self.sessions_flushed += o.sessions_flushed;
        self.redirects_sent += o.redirects_sent;
        self.redirects_received += o.redirects_received;
        self.neighbours_shared += o.neighbours_shared;
        self.neighbour_shares_lost += o.neighbour_shares_lost;
        self.multi_segment_gathered += o.multi_segment_gathered;
        self.to_kernel += o.to_kernel;
        self.from_kernel += o.from_kernel;
        self.garp_sent += o.garp_sent;
        self.sync_queued += o.sync_queued;
        self.sync_queue_full += o.sync_queue_full;
        self.sync_dumped += o.sync_dumped;
        self.sync_installed += o.sync_installed;
        self.sync_updated += o.sync_updated;
        self.sync_ended += o.sync_ended;
        self.sync_unknown_service += o.sync_unknown_service;
        self.sync_unknown_backend += o.sync_unknown_backend;
        self.sync_inconsistent += o.sync_inconsistent;
        self.sync_port_taken += o.sync_port_taken;
        self.sync_clash += o.sync_clash;
        self.sync_table_full += o.sync_table_full;
        self.mss_clamped += o.mss_clamped;
        self.frag.add(&o.frag);
        self.nd.add(&o.nd);
        self.overloaded += o.overloaded;
        self.toa_mss_lowered += o.toa_mss_lowered;
        self.toa_added += o.toa_added;
        self.toa_options_full += o.toa_options_full;
        self.toa_no_room += o.toa_no_room;
        self.proxy_v2_added += o.proxy_v2_added;
        self.proxy_v2_no_room += o.proxy_v2_no_room;
        self.proxy_v2_fragmented += o.proxy_v2_fragmented;
        self.proxy_tcp_added += o.proxy_tcp_added;
        self.proxy_tcp_resent += o.proxy_tcp_resent;
        self.proxy_tcp_mss_lowered += o.proxy_tcp_mss_lowered;
        self.synproxy_syn_answered += o.synproxy_syn_answered;
        self.synproxy_cookie_accepted += o.synproxy_cookie_accepted;
        self.synproxy_spliced += o.synproxy_spliced;
        self.synproxy_syn_resent += o.synproxy_syn_resent;
        self.synproxy_early_data += o.synproxy_early_data;
        self.synproxy_early_held += o.synproxy_early_held;
        self.synproxy_early_sent += o.synproxy_early_sent;
        self.synproxy_early_hold_full += o.synproxy_early_hold_full;
        self.synproxy_on += o.synproxy_on;
        self.synproxy_resets_sent += o.synproxy_resets_sent;
        self.synproxy_resets_limited += o.synproxy_resets_limited;
        self.synproxy_off += o.synproxy_off;
    }
}

/// One worker's pipeline counters, indexed by id. The packet path keeps
/// `services` at zero and counts on the backends; [`LbCounters::sum_services`]
/// fills them in when the counters are read. The vectors follow the ids of
/// the tables the worker adopts; an id given to a new entry starts again
/// from 0 ([`LbCounters::fit`]).
#[derive(Clone, Debug, Default)]
pub struct LbCounters {
    pub drops: DropCounters,
    pub events: Events,
    pub services: Vec<FlowCounters>,
    pub backends: Vec<FlowCounters>,
    pub snat: Vec<FlowCounters>,
}

impl LbCounters {
    pub fn new(services: usize, backends: usize, snat: usize) -> Self {
        let mut c = LbCounters::default();
        c.grow(services, backends, snat);
        c
    }

    /// Makes room for ids below the given counts, keeping every value.
    pub fn grow(&mut self, services: usize, backends: usize, snat: usize) {
        for (list, n) in [
            (&mut self.services, services),
            (&mut self.backends, backends),
            (&mut self.snat, snat),
        ] {
            if list.len() < n {
                list.resize(n, FlowCounters::default());
            }
        }
    }

    /// Sizes the vectors to the ids of new tables and zeroes the counters
    /// of ids given to a new entry (`reborn`), so it starts from 0.
    pub fn fit(&mut self, services: usize, backends: usize, snat: usize, reborn: &Reborn) {
        for (list, n, ids) in [
            (&mut self.services, services, &reborn.services),
            (&mut self.backends, backends, &reborn.backends),
            (&mut self.snat, snat, &reborn.snat),
        ] {
            list.resize(n, FlowCounters::default());
            for &id in ids {
                if let Some(c) = list.get_mut(id as usize) {
                    *c = FlowCounters::default();
                }
            }
        }
    }

    /// Fills each service's counters with the sum of its backends' (every
    /// backend belongs to one service for good: `backends` by id). The
    /// packet path counts a service's packets once, on the backend.
    pub fn sum_services(&mut self, backends: &[BackendInfo]) {
        for c in &mut self.services {
            // The refusals are the service's own; the rest comes from backends.
            *c = FlowCounters {
                denied: c.denied,
                rate_limited: c.rate_limited,
                client_rate_limited: c.client_rate_limited,
                ..FlowCounters::default()
            };
        }
        for (b, c) in backends.iter().zip(&self.backends) {
            if let Some(s) = self.services.get_mut(b.service as usize) {
                s.add(c);
            }
        }
    }

    /// Adds another worker's counters (tables of the same lineage) into these.
    pub fn add(&mut self, o: &LbCounters) {
        self.drops.add(&o.drops);
        self.events.add(&o.events);
        for (list, other) in [
            (&mut self.services, &o.services),
            (&mut self.backends, &o.backends),
            (&mut self.snat, &o.snat),
        ] {
            if list.len() < other.len() {
                list.resize(other.len(), FlowCounters::default());
            }
            for (a, b) in list.iter_mut().zip(other) {
                a.add(b);
            }
        }
    }
}
