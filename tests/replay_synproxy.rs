//! Pcap replay of the SYN proxy (docs/syn-proxy.md) through the real
//! binary: SYNs to a proxied NAT service are answered from the VIP with
//! cookie SYN-ACKs whose options mirror what the cookie carries, no session
//! is made, and ACKs with forged cookies, RST, FIN, data and malformed
//! options are dropped by name with nothing sent to a backend.
//!
//! The cookie comes from secrets drawn at start, so a replay cannot hold a
//! valid cookie ACK: the handshake that follows one (backend SYN, splice)
//! is in `dataplane/src/pipeline/synproxy_tests.rs` and, with real kernel
//! clients, in `e2e_netns.rs`.

mod common;

use common::lb::*;
use common::{CasePort, Replay};
use etherparse::{PacketHeaders, TcpOptionElement as Opt, TransportHeader};

const HTTP: Ep = (VIP, 80);

fn proxied_nat() -> String {
    service(
        "tcp",
        80,
        "nat",
        "rr",
        "syn_proxy = true",
        &[(rip(11), Some(8080), 1)],
    )
}

/// A client segment with TCP options.
fn with_options(f: Frame, opts: &[Opt]) -> Frame {
    let mut f = f;
    if let L4::Tcp(h) = &mut f.l4 {
        h.set_options(opts).expect("options fit");
    }
    f
}

#[test]
fn syns_get_cookie_syn_acks_and_bad_handshakes_are_dropped_by_name() {
    let c1 = (cip(1), 40001);
    let c2 = (cip(2), 40002);
    let full = [
        Opt::MaximumSegmentSize(1460),
        Opt::SelectiveAcknowledgementPermitted,
        Opt::Timestamp(4242, 0),
        Opt::Noop,
        Opt::WindowScale(7),
    ];
    let syn1 = with_options(tcp(ROUTER_MAC, LAN_MAC, c1, HTTP, 1000, 0, "S", b""), &full);
    let syn2 = with_options(
        tcp(ROUTER_MAC, LAN_MAC, c2, HTTP, 5000, 0, "S", b""),
        &[Opt::MaximumSegmentSize(1400)],
    );
    let forged = tcp(ROUTER_MAC, LAN_MAC, c1, HTTP, 1001, 0xdead_beef, "A", b"");
    let data = tcp(
        ROUTER_MAC,
        LAN_MAC,
        (cip(3), 40003),
        HTTP,
        1,
        1,
        "PA",
        b"GET /",
    );
    let rst = tcp(ROUTER_MAC, LAN_MAC, (cip(4), 40004), HTTP, 1, 0, "R", b"");
    let fin = tcp(ROUTER_MAC, LAN_MAC, (cip(5), 40005), HTTP, 1, 0, "F", b"");
    // A SYN whose MSS option claims 40 bytes.
    let mut bad = syn1.clone().with_endpoints((cip(6), 40006), HTTP).bytes();
    bad[14 + 20 + 20 + 1] = 40;
    let input = vec![
        syn1.bytes(),
        syn2.bytes(),
        forged.bytes(),
        data.bytes(),
        rst.bytes(),
        fin.bytes(),
        bad,
    ];
    let run = Replay {
        ports: vec![CasePort::new("lan", input).with_mac(LAN_MAC)],
        config: one_arm_config() + &proxied_nat(),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan"]);
    let sent = &run.sent[0];
    assert_eq!(sent.len(), 2, "two SYN-ACKs and nothing else: {sent:?}");
    let mut isns = Vec::new();
    for (frame, (client, isn)) in sent.iter().zip([(c1, 1000u32), (c2, 5000)]) {
        let p = PacketHeaders::from_ethernet_slice(frame).expect("decodes");
        let eth = p.link.clone().expect("ethernet").ethernet2().expect("II");
        assert_eq!((eth.source, eth.destination), (LAN_MAC, ROUTER_MAC));
        let Some(etherparse::NetHeaders::Ipv4(ip, _)) = &p.net else {
            panic!("ipv4")
        };
        assert_eq!((ip.source, ip.destination), (VIP, client.0));
        let Some(TransportHeader::Tcp(t)) = &p.transport else {
            panic!("tcp")
        };
        assert_eq!((t.source_port, t.destination_port), (80, client.1));
        assert!(t.syn && t.ack && !t.rst && !t.fin);
        assert_eq!(t.acknowledgment_number, isn + 1);
        isns.push(t.sequence_number);
        let opts: Vec<Opt> = t
            .options_iterator()
            .map(|o| o.expect("option"))
            .filter(|o| *o != Opt::Noop)
            .collect();
        if client == c1 {
            assert_eq!(opts.len(), 4, "{opts:?}");
            assert!(opts.contains(&Opt::MaximumSegmentSize(1460)));
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
            // No timestamps: no room for scaling or SACK; MSS rounded down.
            assert_eq!(opts, vec![Opt::MaximumSegmentSize(1300)]);
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
