//! A burst is handled as its packets would be one at a time: new flows are
//! scheduled ahead of the packets between them (`Datapath::handle_batch`),
//! and that must not change what leaves, in what order, or what is
//! counted. IPv6 DR flows (opened where they stand, not planned) are in
//! the mix.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::forward6_tests::{config_dr6, learn_backends, service6, tcp6, CLIENT6, VIP6};
use super::tests::*;
use super::Pipeline;
use crate::flow::proto::tcp_flags::{FIN, RST};
use crate::tables::*;

/// One frame of the mix: a client's packet to a service, or a backend's
/// reply, on one of a few flows.
#[derive(Clone, Debug)]
enum Frame {
    Client {
        flow: u16,
        udp: bool,
        flags: u8,
    },
    Reply {
        flow: u16,
        udp: bool,
        flags: u8,
        from_rs2: bool,
    },
    /// A client's TCP packet to the IPv6 DR service.
    Client6 {
        flow: u16,
        flags: u8,
    },
}

/// NAT for TCP and UDP (rr), DR for TCP on a second VIP, and IPv6 DR for
/// TCP.
fn mix_config() -> LbConfig {
    let mut dr = service(Mode::Dr, IpProto::TCP);
    dr.vip = Ipv4Addr::new(192, 0, 2, 11).into();
    config_dr6(vec![
        service(Mode::Nat, IpProto::TCP),
        service(Mode::Nat, IpProto::UDP),
        dr,
        service6(IpProto::TCP),
    ])
}

/// The mix's pipeline, the IPv6 backends' MACs known.
fn mix_pipeline(cfg: &LbConfig) -> Pipeline<crate::buf::TestBuf> {
    let mut p = pipeline(cfg);
    learn_backends(&mut p);
    p
}

fn build(f: &Frame) -> Vec<u8> {
    let dr_vip = [192, 0, 2, 11];
    match *f {
        Frame::Client {
            flow, udp: true, ..
        } => super::tests::udp((ROUTER, OURS), CIP, VIP, (1000 + flow, 80)),
        Frame::Client { flow, flags, .. } => {
            // Odd flows go to the DR service.
            let vip = if flow % 2 == 1 { dr_vip } else { VIP };
            tcp(
                (ROUTER, OURS),
                (CIP, vip),
                (1000 + flow, 80),
                flags,
                64,
                b"",
            )
        }
        Frame::Client6 { flow, flags } => tcp6(CLIENT6, VIP6, (1000 + flow, 80), flags, b""),
        Frame::Reply {
            flow,
            udp,
            flags,
            from_rs2,
        } => {
            let (mac, rip) = if from_rs2 { (RS2, RIP2) } else { (RS1, RIP1) };
            if udp {
                super::tests::udp((mac, OURS), rip, CIP, (8080, 1000 + flow))
            } else {
                tcp((mac, OURS), (rip, CIP), (8080, 1000 + flow), flags, 64, b"")
            }
        }
    }
}

fn frames() -> impl Strategy<Value = Vec<Frame>> {
    let flags = prop::sample::select(vec![SYN, ACK, SYN | ACK, FIN | ACK, RST]);
    let frame = prop_oneof![
        (0u16..6, any::<bool>(), flags.clone()).prop_map(|(flow, udp, flags)| Frame::Client {
            flow,
            udp,
            flags
        }),
        (0u16..6, flags.clone()).prop_map(|(flow, flags)| Frame::Client6 { flow, flags }),
        (0u16..6, any::<bool>(), flags, any::<bool>()).prop_map(|(flow, udp, flags, from_rs2)| {
            Frame::Reply {
                flow,
                udp,
                flags,
                from_rs2,
            }
        }),
    ];
    prop::collection::vec(frame, 1..120)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_burst_forwards_what_its_packets_one_at_a_time_forward(mix in frames()) {
        let cfg = mix_config();
        let frames: Vec<Vec<u8>> = mix.iter().map(build).collect();
        let mut bursts = mix_pipeline(&cfg);
        let mut singles = mix_pipeline(&cfg);
        let together = run(&mut bursts, &frames, 0);
        let one_by_one: Vec<Vec<u8>> = frames
            .iter()
            .flat_map(|f| run(&mut singles, std::slice::from_ref(f), 0))
            .collect();
        prop_assert_eq!(together, one_by_one);
        let (a, b) = (bursts.counters(), singles.counters());
        prop_assert_eq!(format!("{:?}", a), format!("{:?}", b));
        prop_assert_eq!(bursts.session_counts(), singles.session_counts());
    }
}
