//! Pcap replay of the client's address behind FULLNAT over IPv6 (issues
//! 20 and 21; docs/load-balancing.md, "The client's address behind
//! FULLNAT"): the real binary on `net_pcap`, one-armed as
//! `replay_fullnat6` (port `lan`, 2001:db8::1/64 with the client, the
//! backend and the local address 2001:db8::100 on it). With
//! `proxy_protocol = "v2"` the PROXY header (AF_INET6, 52 bytes) goes in
//! front of the client's first byte and again on its retransmission, the
//! client's later bytes shifted by it, the backend's acknowledgment
//! shifted back, the SYN-ACK's MSS lowered by 52; with `toa = true` the
//! SYN's MSS is lowered by 20 and the handshake's ACK carries DPVS's
//! 20-byte IPv6 option. Every frame is compared byte for byte with the one
//! etherparse builds, and every TCP checksum verified.

mod common;

use common::lb::*;
use common::lb6::{a6, answer, one_arm_config6, our_solicitation};
use common::{assert_frames_eq, CasePort, Replay};
use etherparse::PacketBuilder;

const CLIENT: Mac = [0x02, 0, 0, 0, 0, 0x0c];
const CLIENT6: &str = "2001:db8::c";
const VIP6: &str = "2001:db8:10::10";
const RIP6: &str = "2001:db8::11";
const LADDR6: &str = "2001:db8::100";
const RMAC: Mac = [0x02, 0, 0, 0, 1, 0x11];

fn config(extra: &str) -> String {
    let mut c = one_arm_config6(&["2001:db8::1/64"]);
    c.push_str(&format!(
        "\n[[service]]\nvip = \"{VIP6}\"\nprotocol = \"tcp\"\nport = 80\nmode = \"fullnat\"\n\
         local_addresses = [\"{LADDR6}\"]\nlocal_ports = \"40000-40000\"\n{extra}\
         \n[[service.backend]]\naddress = \"{RIP6}\"\nport = 8080\n"
    ));
    c
}

/// What a TCP segment over IPv6 carries besides its ends.
#[derive(Clone, Copy)]
struct Tcp<'a> {
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    /// Raw TCP options (a multiple of 4 bytes).
    opts: &'a [u8],
    data: &'a [u8],
}

fn tcp6(macs: (Mac, Mac), src: (&str, u16), dst: (&str, u16), hop: u8, t: Tcp) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(a6(src.0), a6(dst.0), hop)
        .tcp(src.1, dst.1, t.seq, 64240);
    if t.syn {
        b = b.syn();
    }
    if let Some(a) = t.ack {
        b = b.ack(a);
    }
    let b = b.options_raw(t.opts).expect("options fit");
    let mut v = Vec::new();
    b.write(&mut v, t.data).expect("writes");
    v
}

fn mss(m: u16) -> [u8; 4] {
    let [hi, lo] = m.to_be_bytes();
    [2, 4, hi, lo]
}

const fn plain(seq: u32, ack: u32, data: &[u8]) -> Tcp<'_> {
    Tcp {
        seq,
        ack: Some(ack),
        syn: false,
        opts: &[],
        data,
    }
}

/// The client's SYN, ISN 1000.
fn syn(opts: &[u8]) -> Tcp<'_> {
    Tcp {
        seq: 1000,
        ack: None,
        syn: true,
        opts,
        data: b"",
    }
}

/// The backend's SYN-ACK, ISN 7000.
fn syn_ack(opts: &[u8]) -> Tcp<'_> {
    Tcp {
        seq: 7000,
        ack: Some(1001),
        syn: true,
        opts,
        data: b"",
    }
}

fn run(input: Vec<Vec<u8>>, extra: &str) -> common::ReplayResult {
    let run = Replay {
        ports: vec![CasePort::new("lan", input).with_mac(LAN_MAC)],
        config: config(extra),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    run
}

#[test]
fn proxy_v2_over_ipv6_leads_the_clients_bytes_and_shifts_the_rest() {
    let client = (CLIENT6, 40001);
    let (vip, rip, local) = ((VIP6, 80), (RIP6, 8080), (LADDR6, 40000));
    let (c_in, c_out) = ((CLIENT, LAN_MAC), (LAN_MAC, RMAC));
    let (b_in, b_out) = ((RMAC, LAN_MAC), (LAN_MAC, CLIENT));
    #[rustfmt::skip]
    let header: [u8; 52] = [
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
        0x21,       // version 2, PROXY
        0x21,       // AF_INET6, STREAM
        0x00, 0x24, // 36 bytes of addresses
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0c, // the client
        0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, // the VIP
        0x9c, 0x41, 0x00, 0x50, // their ports
    ];
    let n = header.len() as u32;
    let get = b"GET / HTTP/1.0\r\n";
    let mut first = header.to_vec();
    first.extend_from_slice(get);
    let input = vec![
        tcp6(c_in, client, vip, 59, syn(&mss(1440))),
        answer(RIP6, RMAC),
        tcp6(b_in, rip, local, 64, syn_ack(&mss(1440))),
        answer(CLIENT6, CLIENT),
        tcp6(c_in, client, vip, 59, plain(1001, 7001, b"")),
        tcp6(c_in, client, vip, 59, plain(1001, 7001, get)),
        tcp6(c_in, client, vip, 59, plain(1001, 7001, get)),
        tcp6(c_in, client, vip, 59, plain(1017, 7001, b"\r\n")),
        tcp6(
            b_in,
            rip,
            local,
            64,
            plain(7001, 1019 + n, b"HTTP/1.0 200 OK\r\n"),
        ),
    ];
    let run = run(input, "proxy_protocol = \"v2\"\n");
    let expected = vec![
        our_solicitation(RIP6),
        tcp6(c_out, local, rip, 58, syn(&mss(1440))),
        our_solicitation(CLIENT6),
        tcp6(b_out, vip, client, 63, syn_ack(&mss(1440 - 52))),
        tcp6(c_out, local, rip, 58, plain(1001, 7001, b"")),
        tcp6(c_out, local, rip, 58, plain(1001, 7001, &first)),
        tcp6(c_out, local, rip, 58, plain(1001, 7001, &first)),
        tcp6(c_out, local, rip, 58, plain(1017 + n, 7001, b"\r\n")),
        tcp6(
            b_out,
            vip,
            client,
            63,
            plain(7001, 1019, b"HTTP/1.0 200 OK\r\n"),
        ),
    ];
    assert_frames_eq("lan", &expected, &run.sent[0]);
    assert_eq!(run.event("proxy_tcp_added"), 1);
    assert_eq!(run.event("proxy_tcp_resent"), 1);
    assert_eq!(run.event("proxy_tcp_mss_lowered"), 1);
    run.assert_drops(&[]);
}

#[test]
fn toa_over_ipv6_rides_on_the_handshakes_ack() {
    let client = (CLIENT6, 40001);
    let (vip, rip, local) = ((VIP6, 80), (RIP6, 8080), (LADDR6, 40000));
    let (c_in, c_out) = ((CLIENT, LAN_MAC), (LAN_MAC, RMAC));
    let syn_ack = syn_ack(&[]);
    #[rustfmt::skip]
    let toa: [u8; 20] = [
        254, 20,    // TCP_OPT_ADDR, TCP_OLEN_IP6_ADDR
        0x9c, 0x41, // the client's port, 40001
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0c, // its address
    ];
    let input = vec![
        tcp6(c_in, client, vip, 59, syn(&mss(1440))),
        answer(RIP6, RMAC),
        tcp6((RMAC, LAN_MAC), rip, local, 64, syn_ack),
        answer(CLIENT6, CLIENT),
        tcp6(c_in, client, vip, 59, plain(1001, 7001, b"")),
        tcp6(c_in, client, vip, 59, plain(1001, 7001, b"hello")),
    ];
    let run = run(input, "toa = true\n");
    let with_toa = Tcp {
        opts: &toa,
        ..plain(1001, 7001, b"")
    };
    let expected = vec![
        our_solicitation(RIP6),
        tcp6(c_out, local, rip, 58, syn(&mss(1420))),
        our_solicitation(CLIENT6),
        tcp6((LAN_MAC, CLIENT), vip, client, 63, syn_ack),
        tcp6(c_out, local, rip, 58, with_toa),
        tcp6(c_out, local, rip, 58, plain(1001, 7001, b"hello")),
    ];
    assert_frames_eq("lan", &expected, &run.sent[0]);
    assert_eq!(run.event("toa_added"), 1);
    assert_eq!(run.event("toa_mss_lowered"), 1);
    run.assert_drops(&[]);
}
