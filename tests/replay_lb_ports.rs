//! Pcap replay of services on many ports and of one-packet scheduling
//! (docs/load-balancing.md, "Services on many ports"): the config keys
//! through the appliance to the packets.

mod common;

use common::lb::*;
use common::{CasePort, Replay};

fn replay(frames: &[Frame], service: String) -> common::ReplayResult {
    let run = Replay {
        ports: vec![
            CasePort::new("lan", frames.iter().map(Frame::bytes).collect()).with_mac(LAN_MAC),
        ],
        config: one_arm_config() + &service,
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    run
}

/// The backend (last byte of its MAC, 11..=13) each frame left for.
fn backends_of(sent: &[Vec<u8>]) -> Vec<u8> {
    sent.iter()
        .map(|f| {
            assert_eq!(
                &f[..5],
                &rmac(f[5])[..5],
                "not a backend MAC: {:02x?}",
                &f[..6]
            );
            f[5]
        })
        .collect()
}

const BACKENDS: [(Ip, Option<u16>, u32); 3] =
    [(rip(11), None, 1), (rip(12), None, 1), (rip(13), None, 1)];

#[test]
fn ops_schedules_every_datagram_of_one_flow_and_keeps_no_session() {
    let client = (cip(1), 5353);
    let frames: Vec<Frame> = (0..30u16)
        .map(|i| udp(ROUTER_MAC, LAN_MAC, client, (VIP, 53), &i.to_be_bytes()))
        .collect();
    let run = replay(
        &frames,
        service("udp", 53, "dr", "rr", "ops = true", &BACKENDS),
    );
    let expected: Vec<u8> = (0..30).map(|i| 11 + (i % 3) as u8).collect();
    assert_eq!(backends_of(&run.sent[0]), expected);
    assert_eq!(run.event("one_packet_scheduled"), 30);
    assert_eq!(run.event("sessions_created"), 0);
    run.assert_drops(&[]);
}

#[test]
fn a_persistent_port_zero_service_keeps_each_client_on_one_backend_on_every_port() {
    // Three clients, each opening flows to four ports in turn (an FTP
    // client's control and data connections, say).
    let mut frames = Vec::new();
    for (k, port) in [21u16, 20000, 30000, 40000].into_iter().enumerate() {
        for c in 1..=3u8 {
            let src = (cip(c), 1000 + k as u16);
            frames.push(udp(ROUTER_MAC, LAN_MAC, src, (VIP, port), b"x"));
        }
    }
    let run = replay(
        &frames,
        service("udp", 0, "dr", "rr", "persistence = 60", &BACKENDS),
    );
    let got = backends_of(&run.sent[0]);
    assert_eq!(got, [11, 12, 13].repeat(4), "client n stays on backend n");
    assert_eq!(run.event("sessions_created"), 12);
    run.assert_drops(&[]);
}
