//! Pcap replay of NAT64 in FULLNAT (issue 20; docs/ipv6.md, "NAT64 in
//! FULLNAT"): the real binary on `net_pcap`, one-armed (port `lan`,
//! 10.0.1.1/24 with the IPv4 backends, 2001:db8::1/64 with the IPv6
//! client). A client's IPv6 SYN to the IPv6 VIP leaves as IPv4 from the
//! local address 10.0.1.100 (its one port, 40000) to the backend, TTL =
//! hop limit − 1, no DF, identification 1; the backend's IPv4 SYN-ACK to
//! the local address comes back as IPv6 from the VIP to the client (once
//! the client answers our solicitation), hop limit = TTL − 1; the client's
//! ACK leaves as IPv4 again (identification 2); a backend's segment to
//! another local port is `no_session`. Every frame is compared byte for
//! byte with the one etherparse builds, checksums included.

mod common;

use common::lb::*;
use common::lb6::{answer, one_arm_config6, our_solicitation, seg};
use common::{assert_frames_eq, CasePort, Replay};

const CLIENT: Mac = [0x02, 0, 0, 0, 0, 0x0c];
const CLIENT6: &str = "2001:db8::c";
const VIP6: &str = "2001:db8:10::10";

fn config_nat64() -> String {
    let mut c = one_arm_config6(&["2001:db8::1/64"]);
    c.push_str(&format!(
        "\n[[service]]\nvip = \"{VIP6}\"\nprotocol = \"tcp\"\nport = 80\nmode = \"fullnat\"\n\
         local_addresses = [\"10.0.1.100\"]\nlocal_ports = \"40000-40000\"\n\
         \n[[service.backend]]\naddress = \"{}\"\nport = 8080\n",
        ip_text(rip(11))
    ));
    c
}

/// What we must send to the backend for the client's segment: IPv4 from
/// the local address, TTL 58 (hop limit 59 − 1), no DF (small), our
/// identification `ident`, the TCP header as the client sent it but for
/// the ports.
fn to_backend(flags: &str, ident: u16) -> Vec<u8> {
    let mut f = tcp(
        LAN_MAC,
        rmac(11),
        (LIP1, 40000),
        (rip(11), 8080),
        7,
        1000,
        flags,
        b"",
    )
    .with_ttl(58)
    .with_df(false);
    f.ip.identification = ident;
    f.bytes()
}

#[test]
fn nat64_translates_a_handshake_both_ways() {
    let client = (CLIENT6, 40000);
    let vip = (VIP6, 80);
    let syn = seg((CLIENT, LAN_MAC), client, vip, 59, (true, false));
    let syn_ack = tcp(
        rmac(11),
        LAN_MAC,
        (rip(11), 8080),
        (LIP1, 40000),
        7,
        1000,
        "SA",
        b"",
    )
    .bytes();
    let ack = seg((CLIENT, LAN_MAC), client, vip, 59, (false, true));
    let stray = tcp(
        rmac(11),
        LAN_MAC,
        (rip(11), 8080),
        (LIP1, 40001),
        7,
        1000,
        "A",
        b"",
    )
    .bytes();
    let input = vec![syn, syn_ack, answer(CLIENT6, CLIENT), ack, stray];
    let run = Replay {
        ports: vec![CasePort::new("lan", input).with_mac(LAN_MAC)],
        config: config_nat64(),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    let expected = vec![
        to_backend("S", 1),
        our_solicitation(CLIENT6),
        seg((LAN_MAC, CLIENT), vip, client, 63, (true, true)),
        to_backend("A", 2),
    ];
    assert_frames_eq("lan", &expected, &run.sent[0]);
    assert_eq!(run.event("sessions_created"), 1);
    assert_eq!(run.event("nat64_to_ipv4"), 2);
    assert_eq!(run.event("nat64_to_ipv6"), 1);
    assert_eq!(run.event("nd_solicitations_sent"), 1);
    run.assert_drops(&[("no_session", 1)]);
}
