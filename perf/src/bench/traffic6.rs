//! The IPv6 rows' frames (issue 20): `dr6`, `nat6`, `fullnat6` and
//! `nat64`.
//!
//! An IPv6 row is its IPv4 twin's plan and flows moved into IPv6, so the
//! two rows differ only in the family: the same flow count, TCP/UDP split,
//! shuffled order, `rr` backends and payloads. Addresses:
//!
//! * clients: 2001:2::/48 (RFC 5180's benchmarking prefix, as 198.18.0.0/15
//!   is IPv4's), the IPv4 client's 32 bits in the low word, behind the
//!   router [`ROUTER6`] on the `client` link (our [`CLIENT_IF6`]);
//! * the VIP [`VIP6`], ports 80 (and 8080 at NAT backends), as IPv4;
//! * backends on the `servers` link (our [`SERVERS_IF6`]): 2001:db8:1::x,
//!   x the IPv4 backend's last byte, so address order (rr's) is the same
//!   (`fullnat6` picks its x so that the IPv6 backends fall into distinct
//!   buckets of its IPv6 pools, `plan::distinct_bucket_backends6`);
//! * `fullnat6`'s local addresses: each IPv4 row's 10.0.a.b moved to
//!   2001:db8:1::a:b ([`laddr6`]), on the `servers` link, the same count
//!   and port range, so its pools are exactly full as `fullnat`'s are and
//!   the backends' replies go to every (backend, local address, local
//!   port) of them;
//! * `nat64`: IPv6 clients and VIP as above, and `fullnat`'s IPv4
//!   backends, local addresses and replies (60-byte IPv4 frames): the
//!   client's packets leave translated to IPv4, the replies to IPv6.
//!
//! Frames are 80 bytes (84 on the wire): the IPv4 rows' 6 bytes of TCP data
//! and 18 of UDP data behind the 40-byte IPv6 header, where IPv4's are 60
//! (a 60-byte frame cannot hold IPv6 and TCP).
//!
//! **Neighbours.** ferrolb has no static IPv6 neighbours (the config takes
//! IPv4 ones only so far), so it learns its next hops by Neighbour
//! Discovery, and a looped packet whose backend is unresolved would wait
//! for a solicitation nobody answers. The `prime` port therefore starts
//! with a solicited Neighbor Advertisement from each IPv6 backend to our
//! address on their link (and, for the rows with replies, from the
//! clients' router to ours on the client link; `nat64`'s IPv4 backends
//! are static neighbours): a solicited advertisement to one of our
//! addresses creates the entry (docs/ipv6.md, stage 1b), so the first
//! flow finds its backend resolved and nothing is solicited. They arrive
//! on `prime` because the other ports loop (or are sinks); the table is
//! per worker, not per port.

use std::net::Ipv6Addr;

use super::mode::Mode;
use super::plan::{backend_mac, Flow, Plan, PRIME_MAC, ROUTER_MAC, RPORT, VPORT};
use super::plan::{CLIENT_PORT_MAC, SERVERS_PORT_MAC};
use super::traffic::{fullnat_replies, fullnat_reply_tuples, rr_backends};
use super::traffic::{Traffic, TCP_DATA, UDP_DATA};
use crate::frames::{self, Endpoint6, Mac};

/// The IPv6 VIP (2001:db8:10::10).
pub const VIP6: [u8; 16] = v6([0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0x10]);
/// Our address on the `client` link, and its prefix (2001:db8::1/64).
pub const CLIENT_IF6: [u8; 16] = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
/// Our address on the `servers` link (2001:db8:1::1/64).
pub const SERVERS_IF6: [u8; 16] = v6([0x2001, 0xdb8, 1, 0, 0, 0, 0, 1]);
/// The clients' router on the `client` link (2001:db8::fe), at
/// [`ROUTER_MAC`] as IPv4's 10.0.0.254.
pub const ROUTER6: [u8; 16] = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfe]);
/// The prefix length of both links.
pub const LINK_PREFIX: u8 = 64;

const fn v6(words: [u16; 8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < 8 {
        out[2 * i] = (words[i] >> 8) as u8;
        out[2 * i + 1] = words[i] as u8;
        i += 1;
    }
    out
}

/// An IPv6 address as the config writes it.
pub fn text(a: [u8; 16]) -> String {
    Ipv6Addr::from(a).to_string()
}

/// The IPv6 client of an IPv4 flow's client: 2001:2::/48, the IPv4
/// address in the low 32 bits.
pub fn client6(cip: [u8; 4]) -> [u8; 16] {
    let mut a = v6([0x2001, 2, 0, 0, 0, 0, 0, 0]);
    a[12..].copy_from_slice(&cip);
    a
}

/// The IPv6 backend of an IPv4 backend 10.0.1.x: 2001:db8:1::x.
pub fn backend6(b: [u8; 4]) -> [u8; 16] {
    let mut a = SERVERS_IF6;
    a[15] = b[3];
    a
}

/// `fullnat6`'s local address for an IPv4 row's 10.0.a.b:
/// 2001:db8:1::a:b, in the servers link's prefix (10.0.16.2 is
/// 2001:db8:1::10:2).
pub fn laddr6(a: [u8; 4]) -> [u8; 16] {
    let mut out = SERVERS_IF6;
    out[12..14].copy_from_slice(&[0, a[2]]);
    out[14..].copy_from_slice(&[0, a[3]]);
    out
}

/// The plan's backends in IPv6, in the same (address) order.
pub fn backends6(plan: &Plan) -> Vec<[u8; 16]> {
    plan.backends.iter().map(|&b| backend6(b)).collect()
}

/// An 80-byte frame of a flow's protocol over IPv6, as
/// [`super::traffic::frame`] builds IPv4's.
pub fn frame6(
    tcp: bool,
    macs: (Mac, Mac),
    src: Endpoint6,
    dst: Endpoint6,
    seq: u32,
    syn: bool,
) -> Vec<u8> {
    if tcp {
        let flags = if syn { "S" } else { "A" };
        frames::tcp6(macs, src, dst, seq, flags, TCP_DATA)
    } else {
        frames::udp6(macs, src, dst, UDP_DATA)
    }
}

/// The Neighbor Advertisements that open the `prime` port: each IPv6
/// backend to our servers-link address (none for `nat64`, whose backends
/// are IPv4), and for modes that send to clients (NAT, FULLNAT, NAT64) the
/// clients' router to our client-link address; all on `prime`.
pub fn advertisements(plan: &Plan) -> Vec<Vec<u8>> {
    let backends: &[[u8; 4]] = match plan.mode.ipv6_backends() {
        true => &plan.backends,
        false => &[],
    };
    let mut out: Vec<Vec<u8>> = backends
        .iter()
        .map(|&b| {
            let mac = backend_mac(b);
            frames::neighbour_advertisement((mac, PRIME_MAC), backend6(b), SERVERS_IF6, mac)
        })
        .collect();
    if plan.mode.has_replies() {
        out.push(frames::neighbour_advertisement(
            (ROUTER_MAC, PRIME_MAC),
            ROUTER6,
            CLIENT_IF6,
            ROUTER_MAC,
        ));
    }
    out
}

/// The frames of an IPv6 row: `prime` the advertisements then every
/// flow's opening packet (SYN, UDP datagram) in flow order, `client` the
/// flows' established packets to the VIP, looped; `servers` the backends'
/// replies, looped: NAT's to each client, the k-th flow of each service
/// from the k-th backend in turn (`rr`); FULLNAT's (`fullnat6`, `nat64`)
/// to every (backend, local address, local port) of both pools, in the
/// order shuffled from the seed as `fullnat`'s.
pub fn traffic(plan: &Plan, flows: &[Flow], seed: u64) -> Traffic {
    let mut t = Traffic {
        prime: advertisements(plan),
        ..Traffic::default()
    };
    let to_vip = |f: &Flow, mac: Mac, syn: bool, i: usize| {
        frame6(
            f.tcp,
            (ROUTER_MAC, mac),
            (client6(f.cip), f.cport),
            (VIP6, VPORT),
            i as u32,
            syn,
        )
    };
    for (i, f) in flows.iter().enumerate() {
        t.prime.push(to_vip(f, PRIME_MAC, f.tcp, i));
        t.client.push(to_vip(f, CLIENT_PORT_MAC, false, i));
    }
    match plan.mode {
        Mode::Nat6 => {
            for (i, (f, b)) in flows.iter().zip(rr_backends(plan, flows)).enumerate() {
                t.servers.push(frame6(
                    f.tcp,
                    (backend_mac(b), SERVERS_PORT_MAC),
                    (backend6(b), RPORT),
                    (client6(f.cip), f.cport),
                    i as u32,
                    false,
                ));
            }
        }
        Mode::Fullnat6 => t.servers = fullnat_replies6(plan, seed),
        // The backends and their replies are IPv4 FULLNAT's.
        Mode::Nat64 => t.servers = fullnat_replies(plan, seed),
        _ => {}
    }
    t
}

/// `fullnat6`: every (backend, local address, local port) of both pools as
/// a reply from the IPv6 backend to the IPv6 local address, in the order
/// of `fullnat`'s replies.
pub fn fullnat_replies6(plan: &Plan, seed: u64) -> Vec<Vec<u8>> {
    fullnat_reply_tuples(plan, seed)
        .into_iter()
        .map(|(tcp, b, lip, lport)| {
            frame6(
                tcp,
                (backend_mac(b), SERVERS_PORT_MAC),
                (backend6(b), RPORT),
                (laddr6(lip), lport),
                u32::from(lport),
                false,
            )
        })
        .collect()
}
