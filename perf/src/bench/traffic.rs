//! The benchmark's traffic and ferrolb configs: for each mode and flow
//! count, the frames each port replays and the config that makes every one
//! of them hit a live session (or, for the SYN rows, create one).
//!
//! Every frame is 60 bytes (64 on the wire with the FCS). Flows are half TCP
//! (ACK with 6 data bytes), half UDP (18 data bytes), in an order shuffled
//! from the seed. The fragmented rows (`nat-frag`, `fullnat-frag`) are the
//! exception: UDP only, each looped datagram in three fragments of up to
//! 1514 bytes (`super::fragments`). Ports, as ferrolb numbers them:
//!
//! * 0 `prime`: the opening packet of every flow (TCP SYN, UDP datagram), in
//!   flow order, read once from the file (not looped): it creates the
//!   sessions. It comes first, so in every poll ferrolb handles its burst
//!   before the looped burst of the same flows. SYN rows: every SYN, read
//!   once, the only traffic ferrolb gets (its other two ports are sinks);
//!   testpmd loops the first [`SYN_LOOPED`] of them as `client`.
//! * 1 `client`: the clients' packets (SNAT: the remotes' replies), looped
//!   from memory.
//! * 2 `servers`: the servers' replies (NAT, FULLNAT; SNAT: the internal
//!   hosts' packets), looped from memory; a sink without RX for the modes
//!   without replies.
//!
//! Replies are known in advance, without a dataplane hook: NAT backends are
//! picked by `rr`, which gives the k-th flow of a service the k-th backend in
//! address order; a FULLNAT service gets exactly as many flows as its local
//! (address, port) pool holds, with one backend per pool bucket, so every
//! (backend, local address, local port) is in use and each is one reply,
//! whatever port each flow drew from the shuffled pool. SNAT the same way,
//! with remote servers in place of backends.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use dataplane::laddr::{LocalPorts, PoolConfig};

use crate::frames::{self, Mac};

/// A benchmark row's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// ferrolb without interfaces: io forwarding, like `testpmd io`.
    L2fwd,
    Dr,
    Tun,
    /// Established flows, requests and replies.
    Nat,
    Fullnat,
    /// Established outbound SNAT flows and their replies.
    Snat,
    /// Established UDP flows through NAT whose datagrams (both ways)
    /// arrive in fragments (`bench::fragments`, issue 24).
    NatFrag,
    /// The same through FULLNAT.
    FullnatFrag,
    /// New flows: SYNs, each one a new NAT session.
    SynNat,
    /// New flows: SYNs, each a new FULLNAT session with a local port.
    SynFullnat,
    /// `SynNat` with session sync on (`[sync]` to a UDP sink): every new
    /// session also queues a sync record.
    SynNatSync,
    /// `SynFullnat` with session sync on.
    SynFullnatSync,
    /// SYNs to a NAT service with `syn_proxy = true`: each answered with
    /// a cookie SYN-ACK, no session made (issue 21's SYN-proxy row).
    SynProxy,
}

impl Mode {
    pub const ALL: [Mode; 13] = [
        Mode::L2fwd,
        Mode::Dr,
        Mode::Tun,
        Mode::Nat,
        Mode::Fullnat,
        Mode::Snat,
        Mode::NatFrag,
        Mode::FullnatFrag,
        Mode::SynNat,
        Mode::SynFullnat,
        Mode::SynNatSync,
        Mode::SynFullnatSync,
        Mode::SynProxy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mode::L2fwd => "l2fwd",
            Mode::Dr => "dr",
            Mode::Tun => "tun",
            Mode::Nat => "nat",
            Mode::Fullnat => "fullnat",
            Mode::Snat => "snat",
            Mode::NatFrag => "nat-frag",
            Mode::FullnatFrag => "fullnat-frag",
            Mode::SynNat => "syn-nat",
            Mode::SynFullnat => "syn-fullnat",
            Mode::SynNatSync => "syn-nat+sync",
            Mode::SynFullnatSync => "syn-fullnat+sync",
            Mode::SynProxy => "syn-proxy",
        }
    }

    /// A mode by name; `syn` means both SYN rows.
    pub fn parse_list(text: &str) -> Result<Vec<Mode>, String> {
        let mut out = Vec::new();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            if word == "all" {
                out.extend(Mode::ALL);
            } else if word == "syn" {
                out.extend([Mode::SynNat, Mode::SynFullnat]);
            } else if word == "frag" {
                out.extend([Mode::NatFrag, Mode::FullnatFrag]);
            } else if word == "syn-sync" {
                out.extend([
                    Mode::SynNat,
                    Mode::SynFullnat,
                    Mode::SynNatSync,
                    Mode::SynFullnatSync,
                ]);
            } else {
                match Mode::ALL.iter().find(|m| m.name() == word) {
                    Some(&m) => out.push(m),
                    None => {
                        return Err(format!(
                            "unknown mode {word:?}: one of all, syn, syn-sync, frag, {}",
                            Mode::ALL.map(Mode::name).join(", ")
                        ))
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        if out.is_empty() {
            return Err("no mode given".into());
        }
        Ok(out)
    }

    /// Whether the servers send replies through the balancer.
    pub fn has_replies(self) -> bool {
        matches!(
            self,
            Mode::Nat | Mode::Fullnat | Mode::Snat | Mode::NatFrag | Mode::FullnatFrag
        )
    }

    /// Whether the looped datagrams arrive in fragments (UDP only).
    pub fn fragmented(self) -> bool {
        matches!(self, Mode::NatFrag | Mode::FullnatFrag)
    }

    /// Whether ferrolb's run has a `prime` port, read once: the opening
    /// packet of every flow, or (SYN rows) all the SYNs. The SYN-proxy row
    /// makes no session, so its SYNs are looped like established traffic.
    pub fn primed(self) -> bool {
        !matches!(self, Mode::L2fwd | Mode::SynProxy)
    }

    /// Whether every client frame is a SYN (the SYN rows and the SYN proxy).
    pub fn sends_syns(self) -> bool {
        self.new_flows() || self == Mode::SynProxy
    }

    /// Whether every packet should create a session (the SYN rows).
    pub fn new_flows(self) -> bool {
        self.without_sync()
            .is_some_and(|m| matches!(m, Mode::SynNat | Mode::SynFullnat))
    }

    /// Whether the row runs with session sync on.
    pub fn syncs(self) -> bool {
        matches!(self, Mode::SynNatSync | Mode::SynFullnatSync)
    }

    /// The same row without sync: its traffic, config and checks.
    pub fn without_sync(self) -> Option<Mode> {
        Some(match self {
            Mode::SynNatSync => Mode::SynNat,
            Mode::SynFullnatSync => Mode::SynFullnat,
            m => m,
        })
    }

    /// The mode whose traffic and checks this row uses.
    pub fn base(self) -> Mode {
        self.without_sync().unwrap_or(self)
    }

    fn lb_mode(self) -> Option<&'static str> {
        match self.base() {
            Mode::L2fwd | Mode::Snat => None,
            Mode::Dr => Some("dr"),
            Mode::Tun => Some("tun"),
            Mode::Nat | Mode::NatFrag | Mode::SynNat | Mode::SynProxy => Some("nat"),
            Mode::Fullnat | Mode::FullnatFrag | Mode::SynFullnat => Some("fullnat"),
            Mode::SynNatSync | Mode::SynFullnatSync => None,
        }
    }
}

/// Parses `1k,100k,1M` (k = 1000, M = 1000000).
pub fn parse_counts(text: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let (digits, scale) = match word.as_bytes().last() {
            Some(b'k' | b'K') => (&word[..word.len() - 1], 1_000),
            Some(b'm' | b'M') => (&word[..word.len() - 1], 1_000_000),
            _ => (word, 1),
        };
        let n: usize = digits
            .parse()
            .map_err(|_| format!("bad flow count {word:?} (e.g. 1k, 100k, 1M)"))?;
        if n == 0 {
            return Err(format!("flow count {word:?} must be at least 1"));
        }
        out.push(n * scale);
    }
    if out.is_empty() {
        return Err("no flow count given".into());
    }
    Ok(out)
}

/// Text for a flow count: 1000 -> "1k", 1000000 -> "1M".
pub fn count_text(n: usize) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

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
    /// FULLNAT: local addresses of the TCP and of the UDP service.
    pub laddrs_tcp: Vec<[u8; 4]>,
    pub laddrs_udp: Vec<[u8; 4]>,
    /// FULLNAT: the local port range (inclusive), the same for both.
    pub ports: (u16, u16),
    /// Session table capacity to configure; None = the default (1 Mi).
    pub capacity: Option<u32>,
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
    };
    match mode.base() {
        Mode::Fullnat => {
            // Per service per backend: m = addresses x ports.
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
        _ => {}
    }
    p
}

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
    let mut taken = vec![false; n];
    let mut out = Vec::with_capacity(n);
    for x in 11..=250u8 {
        let b = pool.bucket_of(Ipv4Addr::new(10, 0, 1, x), RPORT);
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

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const TCP_DATA: &[u8; 6] = b"ferrol";
const UDP_DATA: &[u8; 18] = b"ferrolb-benchmark!";

/// A 60-byte frame of `flow`'s protocol from `src` to `dst`; `syn` makes a
/// TCP one a SYN (with its 6 bytes all the same, to keep 60 bytes).
pub fn frame(
    tcp: bool,
    macs: (Mac, Mac),
    src: frames::Endpoint,
    dst: frames::Endpoint,
    seq: u32,
    syn: bool,
) -> Vec<u8> {
    if tcp {
        let flags = if syn { "S" } else { "A" };
        frames::tcp(macs, src, dst, seq, flags, TCP_DATA)
    } else {
        frames::udp(macs, src, dst, UDP_DATA)
    }
}

/// The frames of one row, per port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Read once: the opening packet of each flow.
    pub prime: Vec<Vec<u8>>,
    /// Looped: client -> VIP.
    pub client: Vec<Vec<u8>>,
    /// Looped: server replies (empty: the port is a sink).
    pub servers: Vec<Vec<u8>>,
}

impl Traffic {
    pub fn looped(&self) -> usize {
        self.client.len() + self.servers.len()
    }
}

/// Builds the frames of a plan.
pub fn traffic(plan: &Plan, seed: u64) -> Traffic {
    let flows = flows(plan, seed);
    let mut t = Traffic::default();
    let to_vip = |f: &Flow, mac: Mac, syn: bool, i: usize| {
        frame(
            f.tcp,
            (ROUTER_MAC, mac),
            (f.cip, f.cport),
            (VIP, VPORT),
            i as u32,
            syn,
        )
    };
    match plan.mode.base() {
        Mode::Snat => return snat_traffic(plan, &flows, seed),
        Mode::NatFrag | Mode::FullnatFrag => return super::fragments::traffic(plan, &flows, seed),
        Mode::SynNat | Mode::SynFullnat => {
            t.prime = flows
                .iter()
                .enumerate()
                .map(|(i, f)| to_vip(f, PRIME_MAC, true, i))
                .collect();
            t.client = flows
                .iter()
                .take(SYN_LOOPED)
                .enumerate()
                .map(|(i, f)| to_vip(f, CLIENT_PORT_MAC, true, i))
                .collect();
            return t;
        }
        Mode::L2fwd | Mode::SynProxy => {
            let syn = plan.mode == Mode::SynProxy;
            t.client = flows
                .iter()
                .enumerate()
                .map(|(i, f)| to_vip(f, CLIENT_PORT_MAC, syn, i))
                .collect();
            return t;
        }
        _ => {}
    }
    for (i, f) in flows.iter().enumerate() {
        t.prime.push(to_vip(f, PRIME_MAC, f.tcp, i));
        t.client.push(to_vip(f, CLIENT_PORT_MAC, false, i));
    }
    match plan.mode {
        Mode::Nat => {
            // rr: the k-th flow of each service to the k-th backend in turn.
            let (mut k_tcp, mut k_udp) = (0usize, 0usize);
            for (i, f) in flows.iter().enumerate() {
                let k = if f.tcp { &mut k_tcp } else { &mut k_udp };
                let rip = plan.backends[*k % plan.backends.len()];
                *k += 1;
                t.servers.push(frame(
                    f.tcp,
                    (backend_mac(rip), SERVERS_PORT_MAC),
                    (rip, RPORT),
                    (f.cip, f.cport),
                    i as u32,
                    false,
                ));
            }
        }
        Mode::Fullnat => {
            t.servers = fullnat_replies(plan, seed);
        }
        _ => {}
    }
    t
}

/// The SNAT row: internal hosts 10.1.0.0/16 (flow i: the i-th client
/// address and port moved into 10.1/16) behind the `servers` port open
/// flows to the remotes in turn (TCP to remotes 0 and 1, UDP to 2 and 3);
/// `client` loops the replies to every (remote, SNAT address, port).
fn snat_traffic(plan: &Plan, flows: &[Flow], seed: u64) -> Traffic {
    let remotes = snat_remotes(SNAT_REMOTES);
    let inside = |f: &Flow| [10, 1, f.cip[2], f.cip[3]];
    let mut t = Traffic::default();
    let (mut k_tcp, mut k_udp) = (0usize, 0usize);
    for (i, f) in flows.iter().enumerate() {
        let k = if f.tcp { &mut k_tcp } else { &mut k_udp };
        let r = remotes[(*k % 2) + if f.tcp { 0 } else { 2 }];
        *k += 1;
        let src = (inside(f), f.cport + 1024 * (f.cip[1] & 1) as u16);
        t.prime.push(frame(
            f.tcp,
            (INSIDE_MAC, PRIME_MAC),
            src,
            (r, SNAT_RPORT),
            i as u32,
            f.tcp,
        ));
        t.servers.push(frame(
            f.tcp,
            (INSIDE_MAC, SERVERS_PORT_MAC),
            src,
            (r, SNAT_RPORT),
            i as u32,
            false,
        ));
    }
    for (j, &r) in remotes.iter().enumerate() {
        for &sip in &plan.laddrs_tcp {
            for sport in plan.ports.0..=plan.ports.1 {
                t.client.push(frame(
                    j < 2,
                    (ROUTER_MAC, CLIENT_PORT_MAC),
                    (r, SNAT_RPORT),
                    (sip, sport),
                    u32::from(sport),
                    false,
                ));
            }
        }
    }
    let mut x = seed ^ 0x05ea_7000;
    for i in (1..t.client.len()).rev() {
        x = splitmix(&mut x);
        t.client.swap(i, (x % (i as u64 + 1)) as usize);
    }
    t
}

/// The router in front of SNAT's internal hosts (10.0.1.254).
pub const INSIDE_MAC: Mac = [2, 0, 0, 0, 1, 254];

/// Every (backend, local address, local port) of both FULLNAT pools as a
/// reply from the backend, in an order shuffled from the seed.
pub fn fullnat_replies(plan: &Plan, seed: u64) -> Vec<Vec<u8>> {
    fullnat_reply_tuples(plan, seed)
        .into_iter()
        .map(|(tcp, rip, lip, lport)| {
            frame(
                tcp,
                (backend_mac(rip), SERVERS_PORT_MAC),
                (rip, RPORT),
                (lip, lport),
                u32::from(lport),
                false,
            )
        })
        .collect()
}

/// The replies of [`fullnat_replies`] as (TCP, backend, local address,
/// local port), in the same shuffled order.
pub fn fullnat_reply_tuples(plan: &Plan, seed: u64) -> Vec<(bool, [u8; 4], [u8; 4], u16)> {
    let mut out = Vec::with_capacity(plan.flows());
    for (tcp, laddrs) in [(true, &plan.laddrs_tcp), (false, &plan.laddrs_udp)] {
        for &rip in &plan.backends {
            for &lip in laddrs {
                for lport in plan.ports.0..=plan.ports.1 {
                    out.push((tcp, rip, lip, lport));
                }
            }
        }
    }
    let mut x = seed ^ 0x0e91_1e50;
    for i in (1..out.len()).rev() {
        x = splitmix(&mut x);
        out.swap(i, (x % (i as u64 + 1)) as usize);
    }
    out
}

fn ip(a: [u8; 4]) -> String {
    Ipv4Addr::from(a).to_string()
}

fn mac(m: Mac) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The ports and process settings of one run; devices are DPDK devargs.
#[derive(Clone, Debug)]
pub struct RunSetup {
    pub eal_args: Vec<String>,
    pub socket: String,
    pub core: usize,
    pub mbufs: u32,
    /// (name, devargs, our MAC) in port order.
    pub ports: Vec<(String, String, Mac)>,
    /// For the `+sync` rows: the UDP port ferrolb's `[sync]` listens on and
    /// the port of the sink its records go to (on 127.0.0.1).
    pub sync: Option<(u16, u16)>,
}

/// The ferrolb config for a row.
pub fn config(plan: &Plan, run: &RunSetup) -> String {
    let mut s = String::new();
    let args: Vec<String> = run.eal_args.iter().map(|a| format!("{a:?}")).collect();
    let _ = writeln!(s, "[eal]\nargs = [{}]\n", args.join(", "));
    let _ = writeln!(s, "[control]\nsocket = {:?}\n", run.socket);
    let _ = writeln!(s, "[workers]\ncores = [{}]\n", run.core);
    let _ = writeln!(s, "[mempool]\nmbufs = {}\n", run.mbufs);
    for (name, dev, m) in &run.ports {
        let _ = writeln!(
            s,
            "[[port]]\nname = {name:?}\ndevice = {dev:?}\nmac = \"{}\"\n",
            mac(*m)
        );
    }
    let mode = match plan.mode.lb_mode() {
        Some(mode) => mode,
        None if plan.mode == Mode::Snat => "snat",
        None => {
            s.push_str("[forward]\nmode = \"io\"\ntopology = \"paired\"\n");
            return s;
        }
    };
    if let Some(c) = plan.capacity {
        let _ = writeln!(s, "[sessions]\ncapacity = {c}\n");
    }
    if plan.mode.new_flows() {
        let _ = writeln!(s, "[timeouts]\ntcp_syn_recv = {SYN_TIMEOUT_S}\n");
    }
    if let (true, Some((listen, peer))) = (plan.mode.syncs(), run.sync) {
        let _ = writeln!(
            s,
            "[sync]\nlisten = \"127.0.0.1:{listen}\"\npeers = [\"127.0.0.1:{peer}\"]\n"
        );
    }
    let has_prime = run.ports.iter().any(|p| p.0 == "prime");
    if has_prime {
        s.push_str("[[interface]]\nport = \"prime\"\naddresses = [\"10.255.0.1/24\"]\n\n");
    }
    s.push_str("[[interface]]\nport = \"client\"\naddresses = [\"10.0.0.1/24\"]\n\n");
    // FULLNAT local addresses are in the servers port's 10.0.16.0/20.
    s.push_str(
        "[[interface]]\nport = \"servers\"\naddresses = [\"10.0.1.1/24\", \"10.0.16.1/20\"]\n\n",
    );
    s.push_str("[[route]]\nprefix = \"0.0.0.0/0\"\nvia = \"10.0.0.254\"\n\n");
    let _ = writeln!(
        s,
        "[[neighbour]]\naddress = \"10.0.0.254\"\nmac = \"{}\"\n",
        mac(ROUTER_MAC)
    );
    for &b in &plan.backends {
        let _ = writeln!(
            s,
            "[[neighbour]]\naddress = \"{}\"\nmac = \"{}\"\n",
            ip(b),
            mac(backend_mac(b))
        );
    }
    if mode == "snat" {
        let list: Vec<String> = plan
            .laddrs_tcp
            .iter()
            .map(|a| format!("\"{}\"", ip(*a)))
            .collect();
        let _ = writeln!(
            s,
            "[[neighbour]]\naddress = \"10.0.1.254\"\nmac = \"{}\"\n\n\
             [[route]]\nprefix = \"10.1.0.0/16\"\nvia = \"10.0.1.254\"\n\n\
             [[snat]]\nsource = \"10.1.0.0/16\"\nport = \"client\"\naddresses = [{}]\nports = \"{}-{}\"",
            mac(INSIDE_MAC),
            list.join(", "),
            plan.ports.0,
            plan.ports.1
        );
        return s;
    }
    let protos: &[(&str, &Vec<[u8; 4]>)] = match plan.mode.base() {
        Mode::SynNat | Mode::SynFullnat | Mode::SynProxy => &[("tcp", &plan.laddrs_tcp)],
        Mode::NatFrag | Mode::FullnatFrag => &[("udp", &plan.laddrs_udp)],
        _ => &[("tcp", &plan.laddrs_tcp), ("udp", &plan.laddrs_udp)],
    };
    for (proto, laddrs) in protos {
        let _ = writeln!(
            s,
            "[[service]]\nname = \"bench-{proto}\"\nvip = \"{}\"\nprotocol = \"{proto}\"\nport = {VPORT}\nmode = \"{mode}\"\nscheduler = \"rr\"",
            ip(VIP)
        );
        if plan.mode == Mode::SynProxy {
            s.push_str("syn_proxy = true\n");
        }
        if mode == "fullnat" {
            let list: Vec<String> = laddrs.iter().map(|a| format!("\"{}\"", ip(*a))).collect();
            let _ = writeln!(
                s,
                "local_addresses = [{}]\nlocal_ports = \"{}-{}\"",
                list.join(", "),
                plan.ports.0,
                plan.ports.1
            );
        }
        s.push('\n');
        let bport = if matches!(mode, "dr" | "tun") {
            VPORT
        } else {
            RPORT
        };
        for &b in &plan.backends {
            let _ = writeln!(
                s,
                "[[service.backend]]\naddress = \"{}\"\nport = {bport}\n",
                ip(b)
            );
        }
    }
    s
}
