//! Pcap replay of IPv6 fragments through the real `ferrolb` binary
//! (docs/fragments-and-mtu.md, "IPv6"): 4000-byte UDP datagrams in
//! fragments through DR, NAT and FULLNAT over IPv6, both ways for the NAT
//! modes, in order and with the first fragment last; an atomic fragment
//! forwarded as a whole packet; overlapping, oversized, headless and
//! orphaned fragments dropped by name.
//!
//! What we must send is the datagram the document says we send, cut as
//! its sender cut it (the same identification, offsets and flags): DR's
//! fragments with their MACs changed, NAT's and FULLNAT's with their
//! addresses and hop limit (and the first one's ports and checksum), so
//! every case is frame-exact. One arm (`lan`, 2001:db8::1/64, the client
//! and the backend on it, both static neighbours).

mod common;

use common::lb::*;
use common::lb6::{fragment6, fragment6_piece, one_arm_config6, udp6};
use common::{assert_frames_eq, CasePort, Replay};

const CLIENT: Mac = [0x02, 0, 0, 0, 0, 0x0c];
const CLIENT6: &str = "2001:db8::c";
const RIP6: &str = "2001:db8::11";
const RMAC: Mac = [0x02, 0, 0, 0, 1, 0x11];
const LADDR6: &str = "2001:db8::100";
const VIP_DR: &str = "2001:db8:10::10";
const VIP_NAT: &str = "2001:db8:10::20";
const VIP_FULLNAT: &str = "2001:db8:10::30";
/// Fragment size: 1232 bytes of payload (the IPv6 minimum MTU's worth).
const CHUNK: usize = 1232;

fn config() -> String {
    let mut c = one_arm_config6(&["2001:db8::1/64"]);
    for (addr, mac) in [(RIP6, RMAC), (CLIENT6, CLIENT)] {
        c.push_str(&format!(
            "\n[[neighbour]]\naddress = \"{addr}\"\nmac = \"{}\"\n",
            mac_text(mac)
        ));
    }
    c.push_str(&format!(
        "\n[[service]]\nvip = \"{VIP_DR}\"\nprotocol = \"udp\"\nport = 53\nmode = \"dr\"\n\
         \n[[service.backend]]\naddress = \"{RIP6}\"\nport = 53\n\
         \n[[service]]\nvip = \"{VIP_NAT}\"\nprotocol = \"udp\"\nport = 53\nmode = \"nat\"\n\
         \n[[service.backend]]\naddress = \"{RIP6}\"\nport = 5353\n\
         \n[[service]]\nvip = \"{VIP_FULLNAT}\"\nprotocol = \"udp\"\nport = 53\nmode = \"fullnat\"\n\
         local_addresses = [\"{LADDR6}\"]\nlocal_ports = \"40000-40000\"\n\
         \n[[service.backend]]\naddress = \"{RIP6}\"\nport = 5353\n"
    ));
    c
}

fn replay(input: Vec<Vec<u8>>) -> common::ReplayResult {
    let run = Replay {
        ports: vec![CasePort::new("lan", input).with_mac(LAN_MAC)],
        config: config(),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    run
}

/// A payload of `len` bytes that differs byte by byte.
fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// `frame` with the MACs DR gives it (ours to the backend's).
fn to_backend(frame: &[u8]) -> Vec<u8> {
    let mut v = frame.to_vec();
    v[0..6].copy_from_slice(&RMAC);
    v[6..12].copy_from_slice(&LAN_MAC);
    v
}

/// `frags` with the first one moved last.
fn first_last(frags: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut v = frags[1..].to_vec();
    v.push(frags[0].clone());
    v
}

#[test]
fn dr_over_ipv6_forwards_every_fragment_to_the_first_ones_backend() {
    let a = fragment6(
        &udp6(
            (CLIENT, LAN_MAC),
            (CLIENT6, 40000),
            (VIP_DR, 53),
            64,
            &payload(4000, 1),
        ),
        CHUNK,
        1,
    );
    let b = fragment6(
        &udp6(
            (CLIENT, LAN_MAC),
            (CLIENT6, 40001),
            (VIP_DR, 53),
            64,
            &payload(4000, 2),
        ),
        CHUNK,
        2,
    );
    assert_eq!(a.len(), 4);
    let mut input = a.clone();
    input.extend(first_last(&b));
    let run = replay(input);
    // In order; then the first, and what waited for it in its order.
    let mut expected: Vec<Vec<u8>> = a.iter().map(|f| to_backend(f)).collect();
    expected.push(to_backend(&b[0]));
    expected.extend(b[1..].iter().map(|f| to_backend(f)));
    assert_frames_eq("lan", &expected, &run.sent[0]);
    assert_eq!(run.event("frag_first"), 2);
    assert_eq!(run.event("frag_forwarded"), 6);
    assert_eq!(run.event("frag_held"), 3);
    assert_eq!(run.event("frag_released"), 3);
    assert_eq!(run.event("sessions_created"), 2);
    run.assert_drops(&[]);
}

/// NAT or FULLNAT over IPv6 at `vip`: the client's datagram in order, the
/// backend's answer (to `local`) with its first fragment last.
fn nat_both_ways(vip: &str, local: (&str, u16)) {
    let client = (CLIENT6, 40000);
    let rip = (RIP6, 5353);
    let (query, answer) = (payload(4000, 3), payload(3500, 4));
    let q = fragment6(
        &udp6((CLIENT, LAN_MAC), client, (vip, 53), 64, &query),
        CHUNK,
        0x0102_0304,
    );
    let r = fragment6(&udp6((RMAC, LAN_MAC), rip, local, 64, &answer), CHUNK, 9);
    let mut input = q.clone();
    input.extend(first_last(&r));
    let run = replay(input);
    // Our datagrams, as their senders cut them: to the backend from
    // `local`, to the client from the VIP, one hop further.
    let mut expected = fragment6(
        &udp6((LAN_MAC, RMAC), local, rip, 63, &query),
        CHUNK,
        0x0102_0304,
    );
    expected.extend(fragment6(
        &udp6((LAN_MAC, CLIENT), (vip, 53), client, 63, &answer),
        CHUNK,
        9,
    ));
    assert_frames_eq("lan", &expected, &run.sent[0]);
    assert_eq!(run.event("frag_first"), 2);
    assert_eq!(run.event("frag_forwarded"), (q.len() + r.len() - 2) as u64);
    assert_eq!(run.event("frag_released"), (r.len() - 1) as u64);
    assert_eq!(run.event("sessions_created"), 1);
    run.assert_drops(&[]);
}

#[test]
fn nat_over_ipv6_rewrites_every_fragment_both_ways() {
    nat_both_ways(VIP_NAT, (CLIENT6, 40000));
}

#[test]
fn fullnat_over_ipv6_rewrites_every_fragment_both_ways() {
    nat_both_ways(VIP_FULLNAT, (LADDR6, 40000));
}

#[test]
fn refused_ipv6_fragments_are_dropped_by_name() {
    let whole = |port: u16, dst: (&str, u16), len: usize| {
        udp6(
            (CLIENT, LAN_MAC),
            (CLIENT6, port),
            dst,
            64,
            &payload(len, 5),
        )
    };
    // An atomic fragment (offset 0, no more): a whole packet, forwarded.
    let atomic = fragment6(&whole(40010, (VIP_DR, 53), 100), 2048, 10);
    assert_eq!(atomic.len(), 1);
    // A datagram whose later fragment overlaps one seen: what is left of
    // it is dropped, the first fragment included (RFC 5722).
    let d = whole(40011, (VIP_DR, 53), 4000);
    let f = fragment6(&d, CHUNK, 11);
    let (eth, ip) = (&d[..14], &d[14..54]);
    let overlapping = fragment6_piece(eth, ip, 17, (CHUNK - 8, true, 11), &[0; 16]);
    // Ending past 65535.
    let oversized = fragment6_piece(eth, ip, 17, (65528, false, 12), &[0; 16]);
    // A first fragment with half a UDP header (RFC 7112).
    let headless = fragment6_piece(eth, ip, 17, (0, true, 13), &d[54..58]);
    // To a port no service has: the first refused, its later fragments too.
    let nowhere = fragment6(&whole(40014, (VIP_DR, 54), 3000), CHUNK, 14);
    let mut input = atomic.clone();
    input.extend([f[1].clone(), overlapping, f[0].clone(), f[2].clone()]);
    input.extend([oversized, headless]);
    input.extend(nowhere.iter().cloned());
    let run = replay(input);
    assert_frames_eq("lan", &[to_backend(&atomic[0])], &run.sent[0]);
    run.assert_drops(&[
        // f[1] held then condemned, the overlapping one, f[0], f[2].
        ("frag_overlap", 4),
        ("frag_oversized", 1),
        ("ipv6_frag_incomplete_chain", 1),
        ("no_service", 1),
        ("frag_first_dropped", 2),
    ]);
    assert_eq!(run.event("frag_first"), 0);
    assert_eq!(run.event("sessions_created"), 1);
}
