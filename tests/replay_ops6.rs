//! Pcap replay of `ops` and `also_listen` on an IPv6 service (issue 20;
//! docs/ipv6.md, "ops and also_listen over IPv6"): the real binary,
//! one-armed, a UDP DR service on an IPv6 VIP with one-packet scheduling
//! and a second IPv6 address in its group. Every datagram of one client
//! flow, to either address, leaves for the next backend in turn with only
//! its MACs changed (no session made), the group's address is answered
//! for by Neighbour Discovery and echo, and its other ports are
//! `no_service`. IPv4's twin: `replay_lb_ports.rs`.

mod common;

use std::net::Ipv6Addr;

use common::lb::*;
use common::lb6::{a6, icmp6, one_arm_config6, udp6, OUR6};
use common::{assert_frames_eq, CasePort, Replay};
use etherparse::{IcmpEchoHeader, Icmpv6Type};

const CLIENT: Mac = [0x02, 0, 0, 0, 0, 0x0c];
const CLIENT6: &str = "2001:db8::c";
const CLIENT_LL: &str = "fe80::c";
const VIP6: &str = "2001:db8:10::10";
/// The group's other address.
const VIP6B: &str = "2001:db8:10::11";
const RIP6: [&str; 3] = ["2001:db8::11", "2001:db8::12", "2001:db8::13"];

fn config() -> String {
    let mut c = one_arm_config6(&[&format!("{OUR6}/64"), "fe80::1/64"]);
    for (i, a) in RIP6.iter().enumerate() {
        c.push_str(&format!(
            "\n[[neighbour]]\naddress = \"{a}\"\nmac = \"{}\"\n",
            mac_text(rmac(11 + i as u8))
        ));
    }
    c.push_str(&format!(
        "\n[[service]]\nvip = \"{VIP6}\"\nprotocol = \"udp\"\nport = 53\nmode = \"dr\"\n\
         scheduler = \"rr\"\nops = true\nalso_listen = [\"[{VIP6B}]:53\"]\n"
    ));
    for a in RIP6 {
        c.push_str(&format!("\n[[service.backend]]\naddress = \"{a}\"\n"));
    }
    c
}

/// The solicited-node group of `addr` and its MAC.
fn solicited(addr: &str) -> (String, Mac) {
    let o = a6(addr);
    let g = Ipv6Addr::from([
        0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ]);
    let m = g.octets();
    (g.to_string(), [0x33, 0x33, m[12], m[13], m[14], m[15]])
}

/// A target address and one link-layer option.
fn nd_body(target: &str, kind: u8, mac: Mac) -> Vec<u8> {
    let mut b = a6(target).to_vec();
    b.extend_from_slice(&[kind, 1]);
    b.extend_from_slice(&mac);
    b
}

fn nd(macs: (Mac, Mac), (src, dst): (&str, &str), kind: u8, flags: u8, body: &[u8]) -> Vec<u8> {
    let t = Icmpv6Type::Unknown {
        type_u8: kind,
        code_u8: 0,
        bytes5to8: [flags, 0, 0, 0],
    };
    icmp6(macs, src, dst, 255, t, body)
}

fn echo(macs: (Mac, Mac), (src, dst): (&str, &str), reply: bool) -> Vec<u8> {
    let h = IcmpEchoHeader { id: 0x66, seq: 1 };
    let (t, hop) = match reply {
        true => (Icmpv6Type::EchoReply(h), 64),
        false => (Icmpv6Type::EchoRequest(h), 61),
    };
    icmp6(macs, src, dst, hop, t, b"also_listen over IPv6")
}

/// `frame` as DR sends it to backend `n` (11..=13): MACs only.
fn to_backend(frame: &[u8], n: u8) -> Vec<u8> {
    let mut v = frame.to_vec();
    v[..6].copy_from_slice(&rmac(n));
    v[6..12].copy_from_slice(&LAN_MAC);
    v
}

#[test]
fn ops6_spreads_one_flows_datagrams_over_the_backends_on_both_group_addresses() {
    let (group, group_mac) = solicited(VIP6B);
    let ns = nd(
        (CLIENT, group_mac),
        (CLIENT_LL, &group),
        135,
        0,
        &nd_body(VIP6B, 1, CLIENT),
    );
    let ping = echo((CLIENT, LAN_MAC), (CLIENT6, VIP6B), false);
    // One client flow (source port 5353), to the VIP and the group's
    // other address in turn, each datagram its own payload.
    let datagrams: Vec<Vec<u8>> = (0..12u16)
        .map(|i| {
            let vip = if i % 2 == 0 { VIP6 } else { VIP6B };
            udp6(
                (CLIENT, LAN_MAC),
                (CLIENT6, 5353),
                (vip, 53),
                59,
                &i.to_be_bytes(),
            )
        })
        .collect();
    let other_port = udp6((CLIENT, LAN_MAC), (CLIENT6, 5353), (VIP6B, 54), 59, b"x");
    let mut input = vec![ns, ping];
    input.extend(datagrams.iter().cloned());
    input.push(other_port);
    let run = Replay {
        ports: vec![CasePort::new("lan", input).with_mac(LAN_MAC)],
        config: config(),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    let mut expected = vec![
        nd(
            (LAN_MAC, CLIENT),
            (VIP6B, CLIENT_LL),
            136,
            0x60,
            &nd_body(VIP6B, 2, LAN_MAC),
        ),
        echo((LAN_MAC, CLIENT), (VIP6B, CLIENT6), true),
    ];
    expected.extend(
        datagrams
            .iter()
            .enumerate()
            .map(|(i, d)| to_backend(d, 11 + (i % 3) as u8)),
    );
    assert_frames_eq("lan", &expected, &run.sent[0]);
    assert_eq!(run.event("one_packet_scheduled"), 12);
    assert_eq!(run.event("sessions_created"), 0);
    assert_eq!(run.event("nd_advertisements_sent"), 1);
    assert_eq!(run.event("icmpv6_echo_replies"), 1);
    run.assert_drops(&[("no_service", 1)]);
    // The service's and each backend's packets: 12, and 4 each; no
    // connection counted.
    let svc = run.row(&format!("svc:udp/[{VIP6}]:53"));
    assert_eq!((svc[0], svc[1], svc[2]), (0, 0, 12), "{}", run.stdout());
}
