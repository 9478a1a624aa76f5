//! Pcap replay through the real `ferrolb` binary in its L2 forwarding mode:
//! every frame that goes in must come out of the right port, unchanged (io)
//! or with its MACs swapped (macswap), in order.

mod common;

use common::frames::mixed_traffic;
use common::{assert_frames_eq, CasePort, Replay};

fn swap_macs(frame: &[u8]) -> Vec<u8> {
    let mut f = frame.to_vec();
    f[..6].copy_from_slice(&frame[6..12]);
    f[6..12].copy_from_slice(&frame[..6]);
    f
}

#[test]
fn io_paired_forwards_every_frame_unchanged_to_the_peer_port() {
    let client = mixed_traffic(1200, 7);
    let server: Vec<Vec<u8>> = mixed_traffic(300, 99)
        .iter()
        .map(|f| swap_macs(f))
        .collect();
    let run = Replay {
        ports: vec![
            CasePort::new("client", client.clone()),
            CasePort::new("server", server.clone()),
        ],
        config: "[forward]\nmode = \"io\"\ntopology = \"paired\"\n".into(),
        cores: vec![1],
    }
    .run();
    run.assert_success();
    assert_frames_eq("server", &client, &run.sent[1]);
    assert_frames_eq("client", &server, &run.sent[0]);

    // The exit report agrees with what the pcaps hold.
    assert_eq!(run.report_value("client", 0), 1200, "client rx-packets");
    assert_eq!(run.report_value("client", 1), 300, "client tx-packets");
    assert_eq!(run.report_value("server", 0), 300, "server rx-packets");
    assert_eq!(run.report_value("server", 1), 1200, "server tx-packets");
    assert_eq!(run.report_value("total", 0), 1500, "worker rx-packets");
    assert_eq!(run.report_value("total", 1), 1500, "worker tx-packets");
    assert_eq!(run.report_value("total", 2), 0, "worker tx-dropped");
    assert!(run.stdout().contains("input drained"), "{}", run.stdout());
}

#[test]
fn macswap_chained_sends_each_port_to_the_next_with_macs_swapped() {
    let inputs: Vec<Vec<Vec<u8>>> = (0..3)
        .map(|p| mixed_traffic(400 + p * 50, 11 + p as u32))
        .collect();
    let run = Replay {
        ports: inputs
            .iter()
            .enumerate()
            .map(|(i, f)| CasePort::new(&format!("p{i}"), f.clone()))
            .collect(),
        config: "[forward]\nmode = \"macswap\"\ntopology = \"chained\"\n".into(),
        cores: vec![1],
    }
    .run();
    run.assert_success();
    for to in 0..3 {
        let from = (to + 2) % 3;
        let expected: Vec<Vec<u8>> = inputs[from].iter().map(|f| swap_macs(f)).collect();
        assert_frames_eq(&format!("p{to}"), &expected, &run.sent[to]);
    }
    assert_eq!(run.report_value("total", 0), 1350);
}

#[test]
fn loop_topology_returns_frames_to_their_own_port_and_output_is_nanosecond_pcap() {
    let input = mixed_traffic(1000, 3);
    let run = Replay {
        ports: vec![CasePort::new("only", input.clone())],
        config: "[forward]\ntopology = \"loop\"\n".into(),
        cores: vec![0],
    }
    .run();
    run.assert_success();
    assert_frames_eq("only", &input, &run.sent[0]);
    let out = run.dir.path().join("only.out.pcap");
    assert_eq!(
        common::pcap::resolution(&out),
        pcap_file::TsResolution::NanoSecond
    );
}

#[test]
fn a_mismatch_is_shown_field_by_field() {
    let a = mixed_traffic(1, 5).remove(0);
    let mut b = a.clone();
    b[14 + 8] = 1; // IPv4 TTL
    let shown = common::diff_frames(&a, &b);
    let ttl_line = shown
        .lines()
        .find(|l| l.contains("ip.ttl"))
        .expect("ttl decoded");
    assert!(ttl_line.starts_with("<>"), "{shown}");
    assert!(
        ttl_line.contains("64") && ttl_line.contains("| 1"),
        "{shown}"
    );
    assert!(shown.contains("first differing byte: offset 22"), "{shown}");
    let result = std::panic::catch_unwind(|| {
        common::assert_frames_eq("x", std::slice::from_ref(&a), std::slice::from_ref(&b))
    });
    assert!(result.is_err(), "different frames must fail the comparison");
}
