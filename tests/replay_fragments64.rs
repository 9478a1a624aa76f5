//! Pcap replay of NAT64's fragments through the real `ferrolb` binary
//! (issues 20 and 24; docs/fragments-and-mtu.md, "NAT64"): a client's
//! 4000-byte UDP datagram to the IPv6 VIP, in IPv6 fragments with the
//! first one last, leaves as IPv4 fragments to the backend; the backend's
//! 3500-byte answer, in IPv4 fragments with the first one last, comes back
//! to the client as IPv6 fragments. One arm (`lan`: 10.0.1.1/24 with the
//! IPv4 backend, 2001:db8::1/64 with the IPv6 client, both static
//! neighbours).
//!
//! What we must send is the datagram the translation makes, cut where its
//! sender cut it: to the backend, IPv4 from the local address (10.0.1.100,
//! port 40000), TTL 63, DF clear, identification the IPv6 one's low 16
//! bits; to the client, IPv6 from the VIP, hop limit 63, a fragment header
//! with the IPv4 identification. Every frame compared byte for byte.

mod common;

use common::fragments::{fragment, payload};
use common::lb::*;
use common::lb6::{fragment6, one_arm_config6, udp6};
use common::{assert_frames_eq, CasePort, Replay};

const CLIENT: Mac = [0x02, 0, 0, 0, 0, 0x0c];
const CLIENT6: &str = "2001:db8::c";
const VIP6: &str = "2001:db8:10::40";
/// Fragment size: 1232 bytes of payload (the IPv6 minimum MTU's worth).
const CHUNK: usize = 1232;

fn config() -> String {
    let mut c = one_arm_config6(&["2001:db8::1/64"]);
    c.push_str(&format!(
        "\n[[neighbour]]\naddress = \"{CLIENT6}\"\nmac = \"{}\"\n\
         \n[[service]]\nvip = \"{VIP6}\"\nprotocol = \"udp\"\nport = 53\nmode = \"fullnat\"\n\
         local_addresses = [\"{}\"]\nlocal_ports = \"40000-40000\"\n\
         \n[[service.backend]]\naddress = \"{}\"\nport = 5353\n",
        mac_text(CLIENT),
        ip_text(LIP1),
        ip_text(rip(11))
    ));
    c
}

/// `frags` with the first one moved last.
fn first_last(frags: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut v = frags[1..].to_vec();
    v.push(frags[0].clone());
    v
}

/// A UDP datagram over IPv4 without DF, its identification `ident`.
fn udp4(macs: (Mac, Mac), src: Ep, dst: Ep, (ttl, ident): (u8, u16), data: &[u8]) -> Vec<u8> {
    let mut f = udp(macs.0, macs.1, src, dst, data)
        .with_ttl(ttl)
        .with_df(false);
    f.ip.identification = ident;
    f.bytes()
}

#[test]
fn nat64_translates_fragments_both_ways() {
    let client = (CLIENT6, 40000);
    let vip = (VIP6, 53);
    let (local, backend) = ((LIP1, 40000), (rip(11), 5353));
    let (query, answer) = (payload(4000, 3), payload(3500, 4));
    let q = fragment6(
        &udp6((CLIENT, LAN_MAC), client, vip, 64, &query),
        CHUNK,
        0x0102_0304,
    );
    let r = fragment(
        &udp4((rmac(11), LAN_MAC), backend, local, (64, 9), &answer),
        CHUNK,
    );
    assert_eq!((q.len(), r.len()), (4, 3));
    let mut input = first_last(&q);
    input.extend(first_last(&r));
    let run = Replay {
        ports: vec![CasePort::new("lan", input).with_mac(LAN_MAC)],
        config: config(),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    // Each datagram as the translation makes it, cut where its sender cut
    // it, the first fragment first and then what waited for it.
    let mut expected = fragment(
        &udp4((LAN_MAC, rmac(11)), local, backend, (63, 0x0304), &query),
        CHUNK,
    );
    expected.extend(fragment6(
        &udp6((LAN_MAC, CLIENT), vip, client, 63, &answer),
        CHUNK,
        9,
    ));
    assert_frames_eq("lan", &expected, &run.sent[0]);
    assert_eq!(run.event("frag_first"), 2);
    assert_eq!(run.event("frag_held"), 5);
    assert_eq!(run.event("frag_released"), 5);
    assert_eq!(run.event("frag_forwarded"), 5);
    assert_eq!(run.event("nat64_to_ipv4"), 4);
    assert_eq!(run.event("nat64_to_ipv6"), 3);
    assert_eq!(run.event("sessions_created"), 1);
    run.assert_drops(&[]);
}
