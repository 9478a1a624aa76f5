//! TUN over IPv6 on in-memory ports (`tun6.rs`): the client's packet
//! leaves inside an outer IPv6 header from our address on the backends'
//! link to its backend, flows spread and keep their backend, and a packet
//! that would not fit the egress MTU once encapsulated is dropped by name.

use etherparse::{IpNumber, Ipv6HeaderSlice};

use super::forward6_tests::{
    config_dr6, learn_backends, service6, tcp6, CLIENT6, OUR6, RIP6, VIP6,
};
use super::tests::*;
use crate::tables::{LbConfig, Mode};

fn config_tun6() -> LbConfig {
    let mut s = service6(IpProto::TCP);
    s.mode = Mode::Tun;
    config_dr6(vec![s])
}

/// Checks that `out` is `sent` encapsulated to backend `rip` at `mac`.
fn assert_tunnelled(out: &[u8], sent: &[u8], rip: &str, mac: [u8; 6]) {
    assert_eq!(&out[..6], &mac, "to the backend's MAC");
    assert_eq!(&out[6..12], &OURS, "from ours");
    assert_eq!(&out[12..14], &[0x86, 0xdd]);
    let outer = Ipv6HeaderSlice::from_slice(&out[14..]).expect("outer header");
    assert_eq!(outer.source_addr().to_string(), OUR6);
    assert_eq!(outer.destination_addr().to_string(), rip);
    assert_eq!(outer.next_header(), IpNumber::IPV6);
    assert_eq!(outer.hop_limit(), 64);
    assert_eq!(usize::from(outer.payload_length()), sent.len() - 14);
    assert_eq!(&out[54..], &sent[14..], "the client's packet, untouched");
}

#[test]
fn tun6_encapsulates_to_each_backend_in_turn_and_keeps_flows_on_theirs() {
    let mut p = pipeline(&config_tun6());
    learn_backends(&mut p);
    let syns: Vec<Vec<u8>> = (0..4)
        .map(|i| tcp6(CLIENT6, VIP6, (40000 + i, 80), SYN, b""))
        .collect();
    let out = run(&mut p, &syns, 0);
    assert_eq!(out.len(), 4);
    let turns = [
        (RIP6[0], RS1),
        (RIP6[1], RS2),
        (RIP6[0], RS1),
        (RIP6[1], RS2),
    ];
    for ((o, s), (rip, mac)) in out.iter().zip(&syns).zip(turns) {
        assert_tunnelled(o, s, rip, mac);
    }
    let acks: Vec<Vec<u8>> = (0..4)
        .rev()
        .map(|i| tcp6(CLIENT6, VIP6, (40000 + i, 80), ACK, b"GET /"))
        .collect();
    let out = run(&mut p, &acks, 1);
    for ((o, s), (rip, mac)) in out.iter().zip(&acks).zip(turns.iter().rev()) {
        assert_tunnelled(o, s, rip, *mac);
    }
    assert_eq!(p.stats(0).table6_used, 4);
}

#[test]
fn tun6_drops_what_would_not_fit_the_egress_mtu_once_encapsulated() {
    let mut cfg = config_tun6();
    // 60 bytes of headers + 1400 = 1460 fits 1500 with the outer 40; one
    // byte more does not.
    cfg.ports[0].mtu = 1500;
    let mut p = pipeline(&cfg);
    learn_backends(&mut p);
    let fits = tcp6(CLIENT6, VIP6, (40000, 80), SYN, &[7; 1400]);
    let big = tcp6(CLIENT6, VIP6, (40001, 80), SYN, &[7; 1401]);
    let out = run(&mut p, &[fits.clone(), big], 0);
    assert_eq!(out.len(), 1);
    assert_tunnelled(&out[0], &fits, RIP6[0], RS1);
    assert_eq!(drops(&p, DropReason::FragmentationNeeded), 1);
}

#[test]
fn explain6_says_a_tun_flow_is_tunnelled_to_its_backend() {
    let p = pipeline(&config_tun6());
    let t = crate::tuple::FiveTuple6 {
        src: CLIENT6.parse().expect("client"),
        dst: VIP6.parse().expect("VIP"),
        src_port: 40000,
        dst_port: 80,
        proto: IpProto::TCP,
    };
    let steps = p.explain6(&t);
    let rewrite = steps
        .iter()
        .find(|s| s.step == "rewrite")
        .expect("a rewrite step");
    assert_eq!(
        rewrite.detail,
        format!(
            "IPv6-in-IPv6 to {} (TUN; the inner packet as it came)",
            RIP6[0]
        )
    );
}
