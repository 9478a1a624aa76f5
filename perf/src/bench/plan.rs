//! What a row's frames and config share: our addresses and MACs, the
//! backends, FULLNAT and SNAT pools sized to be exactly full, and the
//! flows in their shuffled replay order (see `super::traffic`'s doc).

use std::net::{Ipv4Addr, Ipv6Addr};

use dataplane::laddr::{LocalPorts, PoolConfig};

use super::mode::Mode;
use crate::frames::Mac;

/// Our MACs on the three ports, the upstream router's, a backend's.
pub const PRIME_MAC: Mac = [2, 0, 0, 0, 0, 0x03];
pub const CLIENT_PORT_MAC: Mac = [2, 0, 0, 0, 0, 0x01];
pub const SERVERS_PORT_MAC: Mac = [2, 0, 0, 0, 0, 0x02];
pub const ROUTER_MAC: Mac = [2, 0, 0, 0, 0, 0xfe];
pub const VIP: [u8; 4] = [192, 0, 2, 10];
pub const VPORT: u16 = 80;
pub const RPORT: u16 = 8080;
/// Backends per service.
pub const BACKENDS: usize = 4;
/// SYN rows: `tcp_syn_recv` (seconds), the shortest the config takes.
pub const SYN_TIMEOUT_S: u32 = 1;
/// SYN rows: the fewest SYNs, so that reading them takes long enough to time
/// (a looped SYN would hit the session its last round made, never a new
/// flow; so ferrolb reads the SYNs once, from the file).
pub const SYN_MIN_FLOWS: usize = 4_000_000;
/// SYN rows: how many of the SYNs testpmd loops from memory (its rate does
/// not depend on whether a frame is a new flow; memory does).
pub const SYN_LOOPED: usize = 1_000_000;

pub fn backend_mac(ip: [u8; 4]) -> Mac {
    [2, 0, 0, 0, 1, ip[3]]
}

/// Everything about one row that the frames and the config share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub mode: Mode,
    /// Flows asked for.
    pub asked: usize,
    pub tcp_flows: usize,
    pub udp_flows: usize,
    /// Backends in address order (the order `rr` walks).
    pub backends: Vec<[u8; 4]>,
    /// FULLNAT: local addresses of the TCP and of the UDP service
    /// (`fullnat6`: their IPv6 twins, `super::traffic6::laddr6`).
    pub laddrs_tcp: Vec<[u8; 4]>,
    pub laddrs_udp: Vec<[u8; 4]>,
    /// FULLNAT: the local port range (inclusive), the same for both.
    pub ports: (u16, u16),
    /// Session table capacity to configure; None = the default (1 Mi).
    pub capacity: Option<u32>,
    /// IPv6 rows: the IPv6 session table's capacity (`capacity6`).
    pub capacity6: Option<u32>,
}

impl Plan {
    pub fn flows(&self) -> usize {
        self.tcp_flows + self.udp_flows
    }

    /// Sessions the run should hold once primed (0 for L2 and SYN rows).
    pub fn sessions(&self) -> usize {
        match self.mode.base() {
            Mode::L2fwd | Mode::SynNat | Mode::SynFullnat | Mode::SynProxy => 0,
            _ => self.flows(),
        }
    }
}

/// Plans a row of about `flows` flows. FULLNAT rounds the count so that each
/// pool is exactly full (see the module doc); the others split it as asked.
pub fn plan(mode: Mode, flows: usize) -> Plan {
    let backends = distinct_bucket_backends(BACKENDS);
    let mut p = Plan {
        mode,
        asked: flows,
        tcp_flows: flows / 2,
        udp_flows: flows - flows / 2,
        backends,
        laddrs_tcp: Vec::new(),
        laddrs_udp: Vec::new(),
        ports: (1024, 65535),
        capacity: None,
        capacity6: None,
    };
    match mode.base() {
        Mode::Fullnat | Mode::Fullnat6 | Mode::Nat64 => {
            // Per service per backend: m = addresses x ports. fullnat6's
            // backends and local addresses are these moved into IPv6
            // (`super::traffic6`), its backends picked so that the IPv6
            // ones fall into distinct buckets of an IPv6 pool; NAT64's
            // backends and pools are IPv4 FULLNAT's.
            if mode == Mode::Fullnat6 {
                p.backends = distinct_bucket_backends6(BACKENDS);
            }
            let m = (flows / (2 * BACKENDS)).max(1);
            let mut addrs = m.div_ceil(64_000);
            while m % addrs != 0 {
                addrs += 1;
            }
            let ports = (m / addrs) as u16;
            p.ports = (1024, 1024 + ports - 1);
            p.laddrs_tcp = laddrs(0, addrs);
            p.laddrs_udp = laddrs(1, addrs);
            p.tcp_flows = m * BACKENDS;
            p.udp_flows = m * BACKENDS;
            // The IPv6 table at its default, as dr6's and nat6's (below).
            if mode.ipv6() && p.flows() > CAPACITY6_DEFAULT {
                p.capacity6 = Some(p.flows().next_power_of_two() as u32);
            }
        }
        Mode::Snat => {
            // Per remote: m = addresses x ports; remotes 0 and 1 get the
            // TCP flows, 2 and 3 the UDP ones (the pool is shared by both
            // protocols, so a bucket must see only one).
            let m = (flows / SNAT_REMOTES).max(1);
            let mut addrs = m.div_ceil(64_000);
            while m % addrs != 0 {
                addrs += 1;
            }
            let ports = (m / addrs) as u16;
            p.ports = (1024, 1024 + ports - 1);
            p.laddrs_tcp = (0..addrs).map(|i| [198, 51, 100, 1 + i as u8]).collect();
            p.tcp_flows = m * SNAT_REMOTES / 2;
            p.udp_flows = m * SNAT_REMOTES / 2;
        }
        Mode::NatFrag => {
            // UDP only: the UDP service alone.
            p.tcp_flows = 0;
            p.udp_flows = flows;
        }
        Mode::FullnatFrag => {
            // UDP only, its pool exactly full (as FULLNAT's, for one service).
            let m = (flows / BACKENDS).max(1);
            let mut addrs = m.div_ceil(64_000);
            while m % addrs != 0 {
                addrs += 1;
            }
            p.ports = (1024, 1024 + (m / addrs) as u16 - 1);
            p.laddrs_udp = laddrs(1, addrs);
            p.tcp_flows = 0;
            p.udp_flows = m * BACKENDS;
        }
        Mode::SynProxy => {
            // SYNs only: the TCP service alone.
            p.tcp_flows = flows;
            p.udp_flows = 0;
        }
        Mode::SynNat | Mode::SynFullnat => {
            // Every packet a SYN (perfrun asks for at least SYN_MIN_FLOWS);
            // the table holds them all even if none expires.
            p.tcp_flows = flows;
            p.udp_flows = 0;
            p.capacity = Some(p.tcp_flows.max(1 << 20).next_power_of_two() as u32);
            if mode.base() == Mode::SynFullnat {
                // 16 addresses x 64512 ports x 4 buckets = 4.1 M ports.
                p.laddrs_tcp = laddrs(0, 16);
            }
        }
        // The IPv6 table at its default size (64 Ki), as the IPv4 rows run
        // theirs at its default (1 Mi), unless the flows need more. (At the
        // IPv4 table's 1 Mi, dr6 1k ran at 0.73x dr against 0.79x at 64 Ki:
        // docs/performance.md, "IPv6 DR against IPv4 DR".)
        Mode::Dr6 | Mode::Nat6 if flows > CAPACITY6_DEFAULT => {
            p.capacity6 = Some(flows.next_power_of_two() as u32);
        }
        _ => {}
    }
    p
}

/// `[sessions] capacity6`'s default: IPv6 sessions per worker.
pub const CAPACITY6_DEFAULT: usize = 1 << 16;

/// Local address `i` of service `svc`: 10.0.(16 + 8 svc + i / 250).(2 + i %
/// 250), in the servers port's 10.0.16.0/20.
fn laddrs(svc: usize, n: usize) -> Vec<[u8; 4]> {
    (0..n)
        .map(|i| [10, 0, (16 + 8 * svc + i / 250) as u8, (2 + i % 250) as u8])
        .collect()
}

/// SNAT rows: remote servers, each in its own bucket of the SNAT pool.
pub const SNAT_REMOTES: usize = 4;
/// SNAT rows: the remote servers' port.
pub const SNAT_RPORT: u16 = 443;
/// The buckets of a SNAT pool (`pipeline::MAX_PORT_BUCKETS`).
pub const SNAT_BUCKETS: usize = 64;

/// SNAT rows: `n` remote servers 203.0.113.x in `n` different buckets of
/// the SNAT pool (keyed by the remote's address and port).
pub fn snat_remotes(n: usize) -> Vec<[u8; 4]> {
    let Ok(pool) = LocalPorts::new(&PoolConfig {
        worker_index: 0,
        worker_count: 1,
        addrs: vec![Ipv4Addr::new(198, 51, 100, 1)],
        port_min: 1024,
        port_max: 1024,
        backend_buckets: SNAT_BUCKETS,
        seed: 1,
    }) else {
        return Vec::new();
    };
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for x in 1..=250u8 {
        let b = pool.bucket_of(Ipv4Addr::new(203, 0, 113, x), SNAT_RPORT);
        if !seen.contains(&b) {
            seen.push(b);
            out.push([203, 0, 113, x]);
            if out.len() == n {
                break;
            }
        }
    }
    out
}

/// `n` backends 10.0.1.x (x from 11 up) that fall into `n` different
/// buckets of a FULLNAT pool with `n` buckets (the pool has one bucket per
/// backend), so each backend's ports come from its own ring.
pub fn distinct_bucket_backends(n: usize) -> Vec<[u8; 4]> {
    let pool = LocalPorts::new(&PoolConfig {
        worker_index: 0,
        worker_count: 1,
        addrs: vec![Ipv4Addr::new(10, 0, 16, 0)],
        port_min: 1024,
        port_max: 1024,
        backend_buckets: n.max(1),
        seed: 1,
    });
    let Ok(pool) = pool else {
        return (0..n).map(|i| [10, 0, 1, 11 + i as u8]).collect();
    };
    distinct_buckets(n, |b| pool.bucket_of(Ipv4Addr::from(b), RPORT))
}

/// `n` backends 10.0.1.x whose IPv6 twins 2001:db8:1::x
/// (`super::traffic6::backend6`) fall into `n` different buckets of an
/// IPv6 FULLNAT pool with `n` buckets (IPv6 keys hash otherwise).
pub fn distinct_bucket_backends6(n: usize) -> Vec<[u8; 4]> {
    let pool = LocalPorts::new(&PoolConfig {
        worker_index: 0,
        worker_count: 1,
        addrs: vec![Ipv6Addr::from(super::traffic6::SERVERS_IF6)],
        port_min: 1024,
        port_max: 1024,
        backend_buckets: n.max(1),
        seed: 1,
    });
    let Ok(pool) = pool else {
        return (0..n).map(|i| [10, 0, 1, 11 + i as u8]).collect();
    };
    distinct_buckets(n, |b| {
        pool.bucket_of(Ipv6Addr::from(super::traffic6::backend6(b)), RPORT)
    })
}

/// The first `n` backends 10.0.1.x (x from 11 up), in address order, whose
/// `bucket` differ.
fn distinct_buckets(n: usize, bucket: impl Fn([u8; 4]) -> usize) -> Vec<[u8; 4]> {
    let mut taken = vec![false; n];
    let mut out = Vec::with_capacity(n);
    for x in 11..=250u8 {
        let b = bucket([10, 0, 1, x]);
        if let Some(slot) = taken.get_mut(b) {
            if !*slot {
                *slot = true;
                out.push([10, 0, 1, x]);
                if out.len() == n {
                    break;
                }
            }
        }
    }
    out
}

/// One flow: protocol, client address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    pub tcp: bool,
    pub cip: [u8; 4],
    pub cport: u16,
}

/// The flows of a plan in replay order: TCP flows then UDP flows as made,
/// then shuffled from the seed. Clients are spread over 198.18.0.0/15.
pub fn flows(plan: &Plan, seed: u64) -> Vec<Flow> {
    let total = plan.flows();
    let mut out: Vec<Flow> = (0..total)
        .map(|i| {
            // Index -> (address, port), a bijection, so tuples are unique.
            let a = (i % (1 << 17)) as u32;
            let cip = (u32::from_be_bytes([198, 18, 0, 0]) | a).to_be_bytes();
            Flow {
                tcp: i < plan.tcp_flows,
                cip,
                cport: 1024 + (i >> 17) as u16,
            }
        })
        .collect();
    let mut x = seed ^ 0x5eed_5eed_5eed_5eed;
    for i in (1..out.len()).rev() {
        x = splitmix(&mut x);
        out.swap(i, (x % (i as u64 + 1)) as usize);
    }
    out
}

pub(super) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
