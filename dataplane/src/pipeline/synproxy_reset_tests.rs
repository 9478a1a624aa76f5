//! `[synproxy] reset_bad_cookie` (`synproxy_reset.rs`): an ACK with a bad
//! cookie is answered with a RST in its acknowledgment's sequence space,
//! decoded by etherparse with its checksums; off by default; and each
//! worker sends at most its budget.

use etherparse::{NetHeaders, PacketHeaders, TransportHeader};

use super::synproxy_reset::{RESET_BURST, RESET_RATE_PER_S};
use super::synproxy_tests::{client, CLIENT_ISN, CPORT, NOW};
use super::tests::*;
use super::Pipeline;
use crate::buf::TestBuf;
use crate::tables::Mode;

fn proxied_resetting(reset: bool) -> Pipeline<TestBuf> {
    let mut s = service(Mode::Nat, IpProto::TCP);
    s.syn_proxy = true;
    let mut cfg = config(vec![s]);
    cfg.synproxy.reset_bad_cookie = reset;
    let mut p = pipeline(&cfg);
    run(&mut p, &[], NOW);
    p
}

/// A client's ACK with a forged cookie (acknowledging `ack`), with data.
fn forged(ack: u32) -> Vec<u8> {
    client(
        CLIENT_ISN + 1,
        Some(ack),
        ACK,
        &[],
        b"GET / HTTP/1.1\r\n\r\n",
    )
}

#[test]
fn a_bad_cookie_is_answered_with_a_rst_in_its_acknowledgments_space() {
    let mut p = proxied_resetting(true);
    let out = run(&mut p, &[forged(0x1234_5678)], NOW + 1);
    assert_eq!(out.len(), 1);
    let h = PacketHeaders::from_ethernet_slice(&out[0]).expect("decodes");
    let eth = h
        .link
        .clone()
        .and_then(|l| l.ethernet2())
        .expect("ethernet");
    assert_eq!(
        (eth.source, eth.destination),
        (OURS, ROUTER),
        "back where it came from"
    );
    let Some(NetHeaders::Ipv4(ip, _)) = &h.net else {
        panic!("IPv4")
    };
    assert_eq!((ip.source, ip.destination), (VIP, CIP));
    assert_eq!(ip.header_checksum, ip.calc_header_checksum());
    let Some(TransportHeader::Tcp(t)) = &h.transport else {
        panic!("TCP")
    };
    assert_eq!((t.source_port, t.destination_port), (80, CPORT));
    assert_eq!(
        t.sequence_number, 0x1234_5678,
        "SEG.ACK as the RST's sequence"
    );
    assert!(t.rst && !t.ack && !t.syn && !t.fin, "{t:?}");
    assert!(h.payload.slice().is_empty(), "the data is not echoed");
    assert_eq!(
        t.checksum,
        t.calc_checksum_ipv4(ip, &[]).expect("checksum"),
        "TCP checksum"
    );
    assert_eq!(drops(&p, DropReason::SynProxyBadCookie), 1);
    assert_eq!(p.counters().events.synproxy_resets_sent, 1);
    assert_eq!(p.stats(0).table_used, 0, "no session");
}

#[test]
fn by_default_a_bad_cookie_is_only_dropped() {
    let mut p = proxied_resetting(false);
    assert!(run(&mut p, &[forged(7)], NOW + 1).is_empty());
    assert_eq!(drops(&p, DropReason::SynProxyBadCookie), 1);
    assert_eq!(p.counters().events.synproxy_resets_sent, 0);
}

#[test]
fn a_worker_sends_at_most_its_budget_of_resets() {
    let mut p = proxied_resetting(true);
    let n = RESET_BURST as usize + 50;
    let flood: Vec<Vec<u8>> = (0..n as u32).map(forged).collect();
    let out = run(&mut p, &flood, NOW + 1);
    assert_eq!(out.len(), RESET_BURST as usize);
    let e = p.counters().events;
    assert_eq!(
        (e.synproxy_resets_sent, e.synproxy_resets_limited),
        (100, 50)
    );
    assert_eq!(drops(&p, DropReason::SynProxyBadCookie), n as u64);
    // 20 ms later the budget has 20 more (1000 a second).
    assert_eq!(RESET_RATE_PER_S, 1000);
    let out = run(&mut p, &flood[..30], NOW + 21);
    assert_eq!(out.len(), 20);
}
