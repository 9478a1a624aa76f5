//! TOA (the client's address in a TCP option, DPVS's) on a SYN-proxied
//! FULLNAT service: the backend SYN we make has its MSS lowered for the
//! option, and the option rides on the ACK that ends the backend's
//! handshake (ours, made from its SYN-ACK), where TOA kernel modules read
//! it; the client's own segments carry none.

use etherparse::TcpOptionElement as Opt;

use super::synproxy_tests::*;
use super::tests::*;
use crate::client_addr::toa;
use crate::tables::Mode;

const LIP0: [u8; 4] = [10, 0, 1, 100];

/// The TCP options of a frame as bytes (its checksums verified by `out`).
fn option_bytes(frame: &[u8]) -> Vec<u8> {
    out(frame).1.options.as_slice().to_vec()
}

#[test]
fn toa_rides_on_our_handshake_ack_to_the_backend() {
    let mut svc = service(Mode::FullNat, IpProto::TCP);
    svc.syn_proxy = true;
    svc.toa = true;
    svc.backends.truncate(1);
    svc.local_addrs.truncate(1);
    let mut p = pipeline(&config(vec![svc]));
    run(&mut p, &[], NOW);
    let (cookie_isn, our_ts) = handshake_with_client(&mut p);
    let ts = |v, e| [Opt::Noop, Opt::Noop, Opt::Timestamp(v, e)];
    let ack = client(
        CLIENT_ISN + 1,
        Some(cookie_isn + 1),
        ACK,
        &ts(101, our_ts),
        b"",
    );
    let sent = run(&mut p, &[ack], NOW + 1);
    assert_eq!(sent.len(), 1);
    let (s, t, _) = out(&sent[0]);
    assert!(t.syn && !t.ack);
    let lport = s.ports.0;
    assert!(
        options_of(&t).contains(&Opt::MaximumSegmentSize(1460 - toa::LEN as u16)),
        "the backend SYN's MSS makes room: {:?}",
        options_of(&t)
    );
    let syn_ack = seg(
        (RS1, OURS),
        (RIP1, LIP0),
        (8080, lport),
        (BACKEND_ISN, Some(CLIENT_ISN + 1)),
        SYN,
        65535,
        &[Opt::MaximumSegmentSize(1460), Opt::Timestamp(5000, 101)],
        b"",
    );
    let sent = run(&mut p, &[syn_ack], NOW + 2);
    assert_eq!(sent.len(), 1, "our ACK");
    let (s, t, data) = out(&sent[0]);
    assert_eq!((s.src, s.dst, s.ports), (LIP0, RIP1, (lport, 8080)));
    assert!(t.ack && !t.syn && data.is_empty());
    let mut want = vec![1, 1, 8, 10];
    want.extend_from_slice(&101u32.to_be_bytes());
    want.extend_from_slice(&5000u32.to_be_bytes());
    want.extend_from_slice(&[254, 8, 0x9c, 0x40, CIP[0], CIP[1], CIP[2], CIP[3]]);
    assert_eq!(
        option_bytes(&sent[0]),
        want,
        "the timestamp, then kind 254, length 8, port 40000, the client's address"
    );
    // The client's segments afterwards carry no TOA.
    let req = client(
        CLIENT_ISN + 1,
        Some(cookie_isn + 1),
        ACK,
        &ts(102, our_ts),
        b"GET /",
    );
    let sent = run(&mut p, &[req], NOW + 3);
    assert_eq!(sent.len(), 1);
    assert_eq!(option_bytes(&sent[0]).len(), 12, "the timestamp alone");
    assert_eq!(out(&sent[0]).2, b"GET /");
    let e = p.counters().events;
    assert_eq!((e.toa_added, e.toa_mss_lowered, e.toa_no_room), (1, 1, 0));
}
