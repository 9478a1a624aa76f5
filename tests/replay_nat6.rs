//! Pcap replay of NAT over IPv6 (issue 20, stage 3; docs/ipv6.md): the
//! real binary on `net_pcap`, one-armed (port `lan`, 2001:db8::1/64 with
//! the client and the backends on it). A client's SYN to the IPv6 VIP
//! waits for its backend's Neighbour Discovery and leaves with its
//! destination and port rewritten, hop limit one lower; the backend's
//! SYN-ACK comes back through us and leaves for the client from the VIP
//! (once the client answers our solicitation); a segment with hop limit
//! 1 is answered with Time Exceeded; a backend's segment to a client it
//! has no session with is `no_session`. Every frame is compared byte for
//! byte with the one etherparse builds, checksums included.

mod common;

use common::lb::*;
use common::lb6::{answer, icmp6, one_arm_config6, our_solicitation, seg, OUR6};
use common::{assert_frames_eq, CasePort, Replay};
use etherparse::{icmpv6::TimeExceededCode, Icmpv6Type};

const CLIENT: Mac = [0x02, 0, 0, 0, 0, 0x0c];
const CLIENT6: &str = "2001:db8::c";
const VIP6: &str = "2001:db8:10::10";
const RIP6: &str = "2001:db8::11";
const RMAC: Mac = [0x02, 0, 0, 0, 1, 0x11];

fn config_nat6() -> String {
    let mut c = one_arm_config6(&["2001:db8::1/64"]);
    c.push_str(&format!(
        "\n[[service]]\nvip = \"{VIP6}\"\nprotocol = \"tcp\"\nport = 80\nmode = \"nat\"\n\
         \n[[service.backend]]\naddress = \"{RIP6}\"\nport = 8080\n"
    ));
    c
}

#[test]
fn nat_over_ipv6_rewrites_both_ways_and_sends_time_exceeded() {
    let client = (CLIENT6, 40000);
    let (vip, rip) = ((VIP6, 80), (RIP6, 8080));
    let syn = seg((CLIENT, LAN_MAC), client, vip, 59, (true, false));
    let syn_ack = seg((RMAC, LAN_MAC), rip, client, 64, (true, true));
    let ack = seg((CLIENT, LAN_MAC), client, vip, 59, (false, true));
    let dying = seg((CLIENT, LAN_MAC), client, vip, 1, (false, true));
    let stray = seg((RMAC, LAN_MAC), rip, (CLIENT6, 40001), 64, (false, true));
    let input = vec![
        syn,
        answer(RIP6, RMAC),
        syn_ack,
        answer(CLIENT6, CLIENT),
        ack,
        dying.clone(),
        stray,
    ];
    let run = Replay {
        ports: vec![CasePort::new("lan", input).with_mac(LAN_MAC)],
        config: config_nat6(),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    let time_exceeded = icmp6(
        (LAN_MAC, CLIENT),
        OUR6,
        CLIENT6,
        64,
        Icmpv6Type::TimeExceeded(TimeExceededCode::HopLimitExceeded),
        &dying[14..],
    );
    let expected = vec![
        our_solicitation(RIP6),
        seg((LAN_MAC, RMAC), client, rip, 58, (true, false)),
        our_solicitation(CLIENT6),
        seg((LAN_MAC, CLIENT), vip, client, 63, (true, true)),
        seg((LAN_MAC, RMAC), client, rip, 58, (false, true)),
        time_exceeded,
    ];
    assert_frames_eq("lan", &expected, &run.sent[0]);
    assert_eq!(run.event("sessions_created"), 1);
    assert_eq!(run.event("nd_solicitations_sent"), 2);
    assert_eq!(run.event("icmpv6_errors_sent"), 1);
    run.assert_drops(&[("ttl_exceeded", 1), ("no_session", 1)]);
}
