//! ICMPv6 errors about IPv6 sessions that shift sequence numbers
//! (`nat6_error.rs`, `unshift_quote6`): the quoted segment's sequence
//! number is taken back into the space of the side the error goes to, so
//! its TCP recognises the segment (Linux ignores an error quoting a
//! sequence number it never sent, and a Packet Too Big lost so stalls the
//! connection). A PROXY header's shift (a Packet Too Big about our
//! shifted segment to the backend reaches the client quoting what it
//! sent) and a SYN proxy's splice (an error about our reply to the client,
//! in the cookie's space, reaches the backend quoting what it sent). Each
//! quote compared byte for byte with the original segment one hop on; the
//! checksums verified by etherparse.

use etherparse::PacketBuilder;

use super::forward6_tests::{CLIENT6, RIP6, VIP6};
use super::local6_tests::a6;
use super::nat6_error_tests::{
    error6, fullnat6, hop_on, nat6, pipe, quoted_sum_ok, seen, too_big, LADDR6, ROUTER_B6,
    ROUTER_C6,
};
use super::nat6_tests::CLIENT_MAC;
use super::tests::*;
use crate::client_addr::proxy_header::ProxyVersion;
use crate::wire::{get_be32, tcp};

const CPORT: u16 = 40001;
const CLIENT_ISN: u32 = 1000;
const BACKEND_ISN: u32 = 7000;

/// A TCP segment over IPv6 with its numbers chosen, hop limit 57.
pub(super) fn seg6(
    macs: ([u8; 6], [u8; 6]),
    (src, dst): ((&str, u16), (&str, u16)),
    (seq, ack): (u32, Option<u32>),
    syn: bool,
    data: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(a6(src.0), a6(dst.0), 57)
        .tcp(src.1, dst.1, seq, 1000);
    if syn {
        b = b.syn();
    }
    if let Some(a) = ack {
        b = b.ack(a);
    }
    let mut v = Vec::new();
    b.write(&mut v, data).expect("writes");
    v
}

fn from_client(seq: u32, ack: Option<u32>, syn: bool, data: &[u8]) -> Vec<u8> {
    seg6(
        (CLIENT_MAC, OURS),
        ((CLIENT6, CPORT), (VIP6, 80)),
        (seq, ack),
        syn,
        data,
    )
}

/// The sequence number of the TCP segment in IPv6 packet `ip` (no
/// extension headers).
fn seq_of(ip: &[u8]) -> u32 {
    get_be32(ip, 40 + tcp::field::SEQ_NUM.start)
}

#[test]
fn a_packet_too_big_about_a_proxy_shifted_segment_quotes_the_clients_numbers() {
    let mut svc = fullnat6(IpProto::TCP, (40000, 40000));
    svc.backends.truncate(1);
    svc.proxy_protocol = Some(ProxyVersion::V2);
    let mut p = pipe(svc);
    let local = (LADDR6, 40000);
    let from_backend = |seq, ack, syn| {
        seg6(
            (RS1, OURS),
            ((RIP6[0], 8080), local),
            (seq, Some(ack)),
            syn,
            b"",
        )
    };
    run(&mut p, &[from_client(CLIENT_ISN, None, true, b"")], 0);
    let sa = run(
        &mut p,
        &[from_backend(BACKEND_ISN, CLIENT_ISN + 1, true)],
        1,
    );
    assert_eq!(sa.len(), 1, "the SYN-ACK to the client");
    let first = from_client(CLIENT_ISN + 1, Some(BACKEND_ISN + 1), false, b"GET /");
    assert_eq!(run(&mut p, &[first], 2).len(), 1, "with the header");
    // The next segment goes to the backend 52 bytes on (the v2 header).
    let next_seq = CLIENT_ISN + 1 + 5;
    let next = from_client(next_seq, Some(BACKEND_ISN + 1), false, &[b'x'; 1300]);
    let out = run(&mut p, std::slice::from_ref(&next), 3);
    assert_eq!(out.len(), 1);
    assert_eq!(seq_of(&out[0][14..]), next_seq + 52, "shifted");
    // A router before the backend finds it too big.
    let err = error6(RS2, (ROUTER_B6, LADDR6), 64, too_big(1280), &out[0][14..]);
    let out = run(&mut p, &[err], 4);
    assert_eq!(out.len(), 1, "to the client");
    let e = seen(&out[0]);
    assert_eq!(
        (e.dst, e.ty, e.sum_ok),
        (a6(CLIENT6).into(), too_big(1280), true)
    );
    assert_eq!(seq_of(&e.quote), next_seq, "the client's own number");
    assert!(quoted_sum_ok(&e.quote), "the quoted TCP checksum verifies");
    assert_eq!(e.quote, hop_on(&next), "what the client sent, one hop on");
    assert_eq!(p.counters().events.icmp_errors_translated, 1);
}

#[test]
fn an_error_about_a_spliced_reply_quotes_the_backends_numbers() {
    let mut svc = nat6(IpProto::TCP);
    svc.backends.truncate(1);
    svc.syn_proxy = true;
    let mut p = pipe(svc);
    // Our cookie SYN-ACK, the client's ACK (our SYN to the backend), the
    // backend's SYN-ACK (our ACK to it): spliced.
    let out = run(&mut p, &[from_client(CLIENT_ISN, None, true, b"")], 0);
    assert_eq!(out.len(), 1, "our SYN-ACK");
    let isn = seq_of(&out[0][14..]);
    let ack = from_client(CLIENT_ISN + 1, Some(isn + 1), false, b"");
    assert_eq!(run(&mut p, &[ack], 1).len(), 1, "our SYN to the backend");
    let from_backend = |seq, syn, data: &[u8]| {
        seg6(
            (RS1, OURS),
            ((RIP6[0], 8080), (CLIENT6, CPORT)),
            (seq, Some(CLIENT_ISN + 1)),
            syn,
            data,
        )
    };
    assert_eq!(
        run(&mut p, &[from_backend(BACKEND_ISN, true, b"")], 2).len(),
        1,
        "our ACK to the backend"
    );
    assert_eq!(p.counters().events.synproxy_cookie_accepted, 1);
    // The backend's data reaches the client in the cookie's space.
    let data = from_backend(BACKEND_ISN + 1, false, b"HELLO");
    let out = run(&mut p, std::slice::from_ref(&data), 3);
    assert_eq!(out.len(), 1);
    assert_eq!(seq_of(&out[0][14..]), isn + 1, "translated");
    // A router on the client's side cannot deliver it: the error to the
    // VIP reaches the backend quoting the backend's own numbers.
    let unreachable = etherparse::Icmpv6Type::DestinationUnreachable(
        etherparse::icmpv6::DestUnreachableCode::Address,
    );
    let err = error6(
        CLIENT_MAC,
        (ROUTER_C6, VIP6),
        50,
        unreachable,
        &out[0][14..],
    );
    let out = run(&mut p, &[err], 4);
    assert_eq!(out.len(), 1, "to the backend");
    let e = seen(&out[0]);
    assert_eq!((e.dst, e.sum_ok), (a6(RIP6[0]).into(), true));
    assert_eq!(seq_of(&e.quote), BACKEND_ISN + 1, "the backend's number");
    assert!(quoted_sum_ok(&e.quote), "the quoted TCP checksum verifies");
    assert_eq!(e.quote, hop_on(&data), "what the backend sent, one hop on");
}
