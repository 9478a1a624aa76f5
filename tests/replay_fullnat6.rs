//! Pcap replay of FULLNAT over IPv6 (issue 20; docs/ipv6.md): the real
//! binary on `net_pcap`, one-armed (port `lan`, 2001:db8::1/64 with the
//! client, the backend and the local address 2001:db8::100 on it; one
//! local port, 40000). A client's SYN to the IPv6 VIP waits for its
//! backend's Neighbour Discovery and leaves from the local address and
//! port to the backend, hop limit one lower; the backend's SYN-ACK to the
//! local port leaves for the client from the VIP (once the client answers
//! our solicitation); another client's SYN to the same backend finds no
//! port free (`ports_exhausted`); a backend's segment to the local address
//! from another port is `no_session`. A router's Packet Too Big about
//! the SYN we sent the backend reaches the client from the VIP, quoting
//! the SYN the client sent (one hop on). Every frame is compared byte for
//! byte with the one etherparse builds, checksums included.

mod common;

use common::lb::*;
use common::lb6::{answer, icmp6, one_arm_config6, our_solicitation, seg};
use common::{assert_frames_eq, CasePort, Replay};

const CLIENT: Mac = [0x02, 0, 0, 0, 0, 0x0c];
const CLIENT6: &str = "2001:db8::c";
const VIP6: &str = "2001:db8:10::10";
const RIP6: &str = "2001:db8::11";
/// The service's local address, on the backend's (and client's) prefix.
const LADDR6: &str = "2001:db8::100";
const RMAC: Mac = [0x02, 0, 0, 0, 1, 0x11];

fn config_fullnat6() -> String {
    let mut c = one_arm_config6(&["2001:db8::1/64"]);
    c.push_str(&format!(
        "\n[[service]]\nvip = \"{VIP6}\"\nprotocol = \"tcp\"\nport = 80\nmode = \"fullnat\"\n\
         local_addresses = [\"{LADDR6}\"]\nlocal_ports = \"40000-40000\"\n\
         \n[[service.backend]]\naddress = \"{RIP6}\"\nport = 8080\n"
    ));
    c
}

#[test]
fn fullnat_over_ipv6_rewrites_both_ends_both_ways() {
    let client = (CLIENT6, 40000);
    let (vip, rip, local) = ((VIP6, 80), (RIP6, 8080), (LADDR6, 40000));
    let syn = seg((CLIENT, LAN_MAC), client, vip, 59, (true, false));
    let syn_ack = seg((RMAC, LAN_MAC), rip, local, 64, (true, true));
    let ack = seg((CLIENT, LAN_MAC), client, vip, 59, (false, true));
    let other = seg((CLIENT, LAN_MAC), (CLIENT6, 40001), vip, 59, (true, false));
    let stray = seg((RMAC, LAN_MAC), (RIP6, 8081), local, 64, (false, true));
    let input = vec![
        syn,
        answer(RIP6, RMAC),
        syn_ack,
        answer(CLIENT6, CLIENT),
        ack,
        other,
        stray,
    ];
    let run = Replay {
        ports: vec![CasePort::new("lan", input).with_mac(LAN_MAC)],
        config: config_fullnat6(),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    let expected = vec![
        our_solicitation(RIP6),
        seg((LAN_MAC, RMAC), local, rip, 58, (true, false)),
        our_solicitation(CLIENT6),
        seg((LAN_MAC, CLIENT), vip, client, 63, (true, true)),
        seg((LAN_MAC, RMAC), local, rip, 58, (false, true)),
    ];
    assert_frames_eq("lan", &expected, &run.sent[0]);
    assert_eq!(run.event("sessions_created"), 1);
    assert_eq!(run.event("nd_solicitations_sent"), 2);
    run.assert_drops(&[("ports_exhausted", 1), ("no_session", 1)]);
}

#[test]
fn fullnat_over_ipv6_translates_a_packet_too_big_back_to_the_client() {
    let client = (CLIENT6, 40000);
    let (vip, rip, local) = ((VIP6, 80), (RIP6, 8080), (LADDR6, 40000));
    let syn = seg((CLIENT, LAN_MAC), client, vip, 59, (true, false));
    let sent = seg((LAN_MAC, RMAC), local, rip, 58, (true, false));
    // A router on the backend's side (its MAC the backend's: one arm).
    let too_big = etherparse::Icmpv6Type::PacketTooBig { mtu: 1280 };
    let err = icmp6(
        (RMAC, LAN_MAC),
        "2001:db8::fe",
        LADDR6,
        64,
        too_big,
        &sent[14..],
    );
    let input = vec![
        syn.clone(),
        answer(RIP6, RMAC),
        err,
        answer(CLIENT6, CLIENT),
    ];
    let run = Replay {
        ports: vec![CasePort::new("lan", input).with_mac(LAN_MAC)],
        config: config_fullnat6(),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    // The client's SYN as it sent it, one hop on (59 -> 58).
    let mut quote = syn[14..].to_vec();
    quote[7] -= 1;
    let expected = vec![
        our_solicitation(RIP6),
        sent,
        our_solicitation(CLIENT6),
        icmp6((LAN_MAC, CLIENT), VIP6, CLIENT6, 63, too_big, &quote),
    ];
    assert_frames_eq("lan", &expected, &run.sent[0]);
    assert_eq!(run.event("icmp_errors_translated"), 1);
    run.assert_drops(&[]);
}
