//! Pcap replay of the SYN proxy on an IPv6 FULLNAT service (issues 20 and
//! 21; docs/syn-proxy.md) through the real binary, one-armed as the other
//! IPv6 cases (`one_arm_config6`): SYNs to the IPv6 VIP are answered from
//! it with cookie SYN-ACKs over IPv6 (MSS from IPv6's table, the options
//! the cookie carries, Linux's timestamp encoding), back out of the port
//! with the MACs swapped, and no session is made; ACKs with forged
//! cookies, RST, FIN, data without a handshake and malformed options are
//! dropped by the IPv4 proxy's names, nothing sent to the backend (no
//! Neighbour Discovery for it either).
//!
//! As for IPv4, the cookie's secrets are drawn at start, so a replay holds
//! no valid cookie ACK: the handshake after it and the splice are in
//! `dataplane/src/pipeline/synproxy6_tests.rs`.

mod common;

use common::lb::*;
use common::lb6::{a6, one_arm_config6};
use common::{CasePort, Replay};
use etherparse::{PacketBuilder, SlicedPacket, TcpOptionElement as Opt, TransportSlice};

const CLIENT: Mac = [0x02, 0, 0, 0, 0, 0x0c];
const VIP6: &str = "2001:db8:10::10";
const RIP6: &str = "2001:db8::11";
const LADDR6: &str = "2001:db8::100";

fn config() -> String {
    let mut c = one_arm_config6(&["2001:db8::1/64"]);
    c.push_str(&format!(
        "\n[[service]]\nvip = \"{VIP6}\"\nprotocol = \"tcp\"\nport = 80\nmode = \"fullnat\"\n\
         syn_proxy = true\nlocal_addresses = [\"{LADDR6}\"]\nlocal_ports = \"40000-40010\"\n\
         \n[[service.backend]]\naddress = \"{RIP6}\"\nport = 8080\n"
    ));
    c
}

/// A client's segment to the VIP's port 80 from `client`:`sport`.
fn client_seg(
    (client, sport): (&str, u16),
    (seq, ack): (u32, Option<u32>),
    flags: &str,
    opts: &[Opt],
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(CLIENT, LAN_MAC)
        .ipv6(a6(client), a6(VIP6), 59)
        .tcp(sport, 80, seq, 64240);
    if flags.contains('S') {
        b = b.syn();
    }
    if let Some(a) = ack {
        b = b.ack(a);
    }
    if flags.contains('R') {
        b = b.rst();
    }
    if flags.contains('F') {
        b = b.fin();
    }
    let b = b.options(opts).expect("options fit");
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("writes");
    v
}

#[test]
fn ipv6_syns_get_cookie_syn_acks_and_bad_handshakes_are_dropped_by_name() {
    let c1 = ("2001:db8::c", 40001);
    let c2 = ("2001:db8::d", 40002);
    let full = [
        Opt::MaximumSegmentSize(1460),
        Opt::SelectiveAcknowledgementPermitted,
        Opt::Timestamp(4242, 0),
        Opt::Noop,
        Opt::WindowScale(7),
    ];
    let syn1 = client_seg(c1, (1000, None), "S", &full, b"");
    let syn2 = client_seg(c2, (5000, None), "S", &[Opt::MaximumSegmentSize(1400)], b"");
    let forged = client_seg(c1, (1001, Some(0xdead_beef)), "A", &[], b"");
    let data = client_seg(("2001:db8::e", 40003), (1, Some(1)), "A", &[], b"GET /");
    let rst = client_seg(("2001:db8::f", 40004), (1, None), "R", &[], b"");
    let fin = client_seg(("2001:db8::f", 40005), (1, None), "F", &[], b"");
    // A SYN whose MSS option claims 40 bytes.
    let mut bad = client_seg(("2001:db8::f", 40006), (1, None), "S", &full, b"");
    bad[14 + 40 + 20 + 1] = 40;
    let input = vec![syn1, syn2, forged, data, rst, fin, bad];
    let run = Replay {
        ports: vec![CasePort::new("lan", input).with_mac(LAN_MAC)],
        config: config(),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    let sent = &run.sent[0];
    assert_eq!(sent.len(), 2, "two SYN-ACKs and nothing else: {sent:?}");
    let mut isns = Vec::new();
    for (frame, (client, isn)) in sent.iter().zip([(c1, 1000u32), (c2, 5000)]) {
        let p = SlicedPacket::from_ethernet(frame).expect("decodes");
        let Some(etherparse::LinkSlice::Ethernet2(eth)) = &p.link else {
            panic!("ethernet")
        };
        assert_eq!((eth.source(), eth.destination()), (LAN_MAC, CLIENT));
        let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
            panic!("ipv6")
        };
        let h = ip.header().to_header();
        assert_eq!((h.source, h.destination), (a6(VIP6), a6(client.0)));
        assert_eq!(h.hop_limit, 64);
        let Some(TransportSlice::Tcp(t)) = &p.transport else {
            panic!("tcp")
        };
        let t_h = t.to_header();
        let sum = t_h.calc_checksum_ipv6(&h, t.payload()).expect("sums");
        assert_eq!(sum, t_h.checksum, "TCP checksum over IPv6");
        assert_eq!((t_h.source_port, t_h.destination_port), (80, client.1));
        assert!(t_h.syn && t_h.ack && !t_h.rst && !t_h.fin);
        assert_eq!(t_h.acknowledgment_number, isn + 1);
        isns.push(t_h.sequence_number);
        let opts: Vec<Opt> = t_h
            .options_iterator()
            .map(|o| o.expect("option"))
            .filter(|o| *o != Opt::Noop)
            .collect();
        if client == c1 {
            assert_eq!(opts.len(), 4, "{opts:?}");
            // IPv6's table: 1460 rounds down to 1440.
            assert!(opts.contains(&Opt::MaximumSegmentSize(1440)));
            assert!(opts.contains(&Opt::SelectiveAcknowledgementPermitted));
            assert!(opts.contains(&Opt::WindowScale(7)));
            let ts = opts.iter().find_map(|o| match o {
                Opt::Timestamp(v, e) => Some((*v, *e)),
                _ => None,
            });
            let (tsval, tsecr) = ts.expect("a timestamp");
            assert_eq!(tsecr, 4242);
            // Linux's encoding: window shift 7 and SACK in the low 6 bits.
            assert_eq!(tsval & 0x3f, 0x10 | 7);
        } else {
            // No timestamps: no room for scaling or SACK; 1400 rounds down
            // to IPv6's smallest entry.
            assert_eq!(opts, vec![Opt::MaximumSegmentSize(1220)]);
        }
    }
    assert_ne!(isns[0], isns[1]);
    assert_eq!(run.event("synproxy_syn_answered"), 2);
    assert_eq!(run.event("sessions_created"), 0);
    run.assert_drops(&[
        ("synproxy_bad_cookie", 2),
        ("synproxy_no_session", 2),
        ("synproxy_bad_options", 1),
    ]);
}
