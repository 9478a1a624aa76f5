//! The pipeline's counters: per service, per backend, per SNAT rule, every
//! drop reason, and the packets the appliance answers or originates.
//!
//! Each worker owns its counters (plain integers, no atomics); they are
//! summed only when someone asks.

use crate::drop::DropCounters;

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
    pub sessions_created: u64,
    pub sessions_expired: u64,
}

impl Events {
    /// Every event with its report name.
    pub fn iter(&self) -> [(&'static str, u64); 7] {
        [
            ("arp_replies", self.arp_replies),
            ("arp_requests", self.arp_requests),
            ("echo_replies", self.echo_replies),
            ("icmp_errors_sent", self.icmp_errors_sent),
            ("icmp_errors_translated", self.icmp_errors_translated),
            ("sessions_created", self.sessions_created),
            ("sessions_expired", self.sessions_expired),
        ]
    }

    pub fn add(&mut self, o: &Events) {
        self.arp_replies += o.arp_replies;
        self.arp_requests += o.arp_requests;
        self.echo_replies += o.echo_replies;
        self.icmp_errors_sent += o.icmp_errors_sent;
        self.icmp_errors_translated += o.icmp_errors_translated;
        self.sessions_created += o.sessions_created;
        self.sessions_expired += o.sessions_expired;
    }
}

/// One worker's pipeline counters. Index vectors are sized at build time.
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
        LbCounters {
            drops: DropCounters::default(),
            events: Events::default(),
            services: vec![FlowCounters::default(); services],
            backends: vec![FlowCounters::default(); backends],
            snat: vec![FlowCounters::default(); snat],
        }
    }

    /// Adds another worker's counters (same config) into these.
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

/// Live sessions at one moment, by service, backend and SNAT rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionCounts {
    pub services: Vec<u64>,
    pub backends: Vec<u64>,
    pub snat: Vec<u64>,
}

impl SessionCounts {
    pub fn add(&mut self, o: &SessionCounts) {
        for (list, other) in [
            (&mut self.services, &o.services),
            (&mut self.backends, &o.backends),
            (&mut self.snat, &o.snat),
        ] {
            if list.len() < other.len() {
                list.resize(other.len(), 0);
            }
            for (a, b) in list.iter_mut().zip(other) {
                *a += b;
            }
        }
    }
}
