//! The benchmark's traffic and ferrolb configs: for each mode and flow
//! count, the frames each port replays and the config that makes every one
//! of them hit a live session (or, for the SYN rows, create one).
//!
//! Every frame is 60 bytes (64 on the wire with the FCS). Flows are half TCP
//! (ACK with 6 data bytes), half UDP (18 data bytes), in an order shuffled
//! from the seed. The exceptions: the IPv6 rows (`dr6`, `nat6`, `fullnat6`,
//! `nat64`), the same flows in 80-byte IPv6 frames (`super::traffic6`;
//! `nat64`'s replies are `fullnat`'s IPv4 ones), and the fragmented rows
//! (`nat-frag`, `fullnat-frag`), UDP only, each looped datagram in three
//! fragments of up to 1514 bytes (`super::fragments`). Ports, as ferrolb
//! numbers them:
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

use super::plan::splitmix;
use crate::frames::{self, Mac};

// The rows, their plans and configs live in their own modules; the harness
// reaches them all through this one.
pub use super::config::{config, RunSetup};
pub use super::mode::{count_text, parse_counts, Mode};
pub use super::plan::*;

/// The data of every established TCP segment and UDP datagram.
pub(super) const TCP_DATA: &[u8; 6] = b"ferrol";
pub(super) const UDP_DATA: &[u8; 18] = b"ferrolb-benchmark!";

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
        m if m.ipv6() => return super::traffic6::traffic(plan, &flows, seed),
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
            for (i, (f, rip)) in flows.iter().zip(rr_backends(plan, &flows)).enumerate() {
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

/// The backend `rr` gives each of `flows`, in order: the k-th flow of each
/// service (TCP, UDP) the k-th backend in address order, in turn, since
/// the prime port opens the flows in this order.
pub fn rr_backends(plan: &Plan, flows: &[Flow]) -> Vec<[u8; 4]> {
    let (mut k_tcp, mut k_udp) = (0usize, 0usize);
    flows
        .iter()
        .filter_map(|f| {
            let k = if f.tcp { &mut k_tcp } else { &mut k_udp };
            let rip = plan.backends.get(*k % plan.backends.len().max(1)).copied();
            *k += 1;
            rip
        })
        .collect()
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
