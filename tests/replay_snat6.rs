//! Pcap replay of SNAT over IPv6 (issue 20; docs/ipv6.md): the real binary
//! on `net_pcap`, one-armed (port `lan`, 2001:db8::1/64; the internal host
//! 2001:db8::11 and the router 2001:db8::fe, a static neighbour, on it;
//! the outside 2001:db8:9::/48 behind the router by a `[[route]]`). An
//! IPv6 `[[snat]]` rule for 2001:db8::/64 with the one address
//! 2001:db8::99 and one port, 40000. The host's SYN leaves for the
//! outside from the SNAT address and port, hop limit one lower; the
//! remote's SYN-ACK to the SNAT port waits for the host's Neighbour
//! Discovery and reaches the host; the host's ACK follows; another host's
//! SYN to the same remote endpoint finds no port left (`ports_exhausted`),
//! its echo request leaves with the port as identifier; a
//! segment to the SNAT address from another remote port is `no_session`;
//! a solicitation for the SNAT address is answered. Every frame is
//! compared byte for byte with the one etherparse builds.

mod common;

use common::lb::*;
use common::lb6::{a6, answer, one_arm_config6, our_solicitation, seg};
use common::{assert_frames_eq, CasePort, Replay};
use etherparse::PacketBuilder;

const HOST6: &str = "2001:db8::11";
const HOST_MAC: Mac = [0x02, 0, 0, 0, 1, 0x11];
const OTHER6: &str = "2001:db8::12";
const ROUTER6: &str = "2001:db8::fe";
const ROUTER_MAC: Mac = [0x02, 0, 0, 0, 0, 0xfd];
const REMOTE6: &str = "2001:db8:9::5";
const SNAT6: &str = "2001:db8::99";

fn config_snat6() -> String {
    let mut c = one_arm_config6(&["2001:db8::1/64"]);
    c.push_str(&format!(
        "\n[[route]]\nprefix = \"2001:db8:9::/48\"\nvia = \"{ROUTER6}\"\n\
         \n[[neighbour]]\naddress = \"{ROUTER6}\"\nmac = \"02:00:00:00:00:fd\"\n\
         \n[[snat]]\nsource = \"2001:db8::/64\"\nport = \"lan\"\naddresses = [\"{SNAT6}\"]\n\
         ports = \"40000-40000\"\n"
    ));
    c
}

fn echo_request(macs: (Mac, Mac), src: &str, dst: &str, hop: u8, id: u16) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(a6(src), a6(dst), hop)
        .icmpv6_echo_request(id, 1)
        .write(&mut v, b"ping")
        .expect("writes");
    v
}

/// A solicitation for `target` from the router, to its solicited-node group.
fn solicitation(target: &str) -> Vec<u8> {
    let o = a6(target);
    let group = [
        0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ];
    let mac = [0x33, 0x33, 0xff, o[13], o[14], o[15]];
    let mut body = o.to_vec();
    body.extend_from_slice(&[1, 1]);
    body.extend_from_slice(&ROUTER_MAC);
    let t = etherparse::Icmpv6Type::Unknown {
        type_u8: 135,
        code_u8: 0,
        bytes5to8: [0; 4],
    };
    let mut v = Vec::new();
    PacketBuilder::ethernet2(ROUTER_MAC, mac)
        .ipv6(a6(ROUTER6), group, 255)
        .icmpv6(t)
        .write(&mut v, &body)
        .expect("writes");
    v
}

#[test]
fn snat_over_ipv6_translates_the_host_and_the_replies() {
    let (host, remote, public) = ((HOST6, 5000), (REMOTE6, 80), (SNAT6, 40000));
    let input = vec![
        seg((HOST_MAC, LAN_MAC), host, remote, 64, (true, false)),
        seg((ROUTER_MAC, LAN_MAC), remote, public, 60, (true, true)),
        answer(HOST6, HOST_MAC),
        seg((HOST_MAC, LAN_MAC), host, remote, 64, (false, true)),
        seg(
            (HOST_MAC, LAN_MAC),
            (OTHER6, 5001),
            remote,
            64,
            (true, false),
        ),
        echo_request((HOST_MAC, LAN_MAC), OTHER6, REMOTE6, 64, 9),
        seg(
            (ROUTER_MAC, LAN_MAC),
            (REMOTE6, 81),
            public,
            60,
            (false, true),
        ),
        solicitation(SNAT6),
    ];
    let run = Replay {
        ports: vec![CasePort::new("lan", input).with_mac(LAN_MAC)],
        config: config_snat6(),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    assert_eq!(run.sent[0].len(), 6, "{:?}", run.sent[0]);
    let expected = vec![
        seg((LAN_MAC, ROUTER_MAC), public, remote, 63, (true, false)),
        our_solicitation(HOST6),
        seg((LAN_MAC, HOST_MAC), remote, host, 59, (true, true)),
        seg((LAN_MAC, ROUTER_MAC), public, remote, 63, (false, true)),
        // The echo's identifier is ours (the port, free towards the
        // remote with no port: a pool's ports are unique per remote).
        echo_request((LAN_MAC, ROUTER_MAC), SNAT6, REMOTE6, 63, 40000),
    ];
    assert_frames_eq("lan", &expected, &run.sent[0][..5]);
    // The advertisement for the SNAT address, to the router.
    let na = &run.sent[0][5];
    assert_eq!(na[0..6], ROUTER_MAC);
    assert_eq!(na[54], 136, "a Neighbor Advertisement");
    assert_eq!(na[62..78], a6(SNAT6), "for the SNAT address");
    assert_eq!(run.event("sessions_created"), 2);
    assert_eq!(run.event("nd_advertisements_sent"), 1);
    run.assert_drops(&[("ports_exhausted", 1), ("no_session", 1)]);
}
