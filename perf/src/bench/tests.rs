use std::collections::HashSet;
use std::path::Path;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

use super::fragments;
use super::report::{self, LbSample, Row};
use super::traffic::{self, Mode, RunSetup};

/// (protocol is TCP, src, sport, dst, dport, tcp flags SYN) of a frame,
/// after checking the IPv4 and L4 checksums with etherparse.
fn decode(frame: &[u8]) -> (bool, [u8; 4], u16, [u8; 4], u16, bool) {
    assert_eq!(frame.len(), 60, "64 bytes on the wire with the FCS");
    let p = SlicedPacket::from_ethernet(frame).expect("ethernet frame");
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!("not IPv4")
    };
    let h = ip.header().to_header();
    assert_eq!(h.header_checksum, h.calc_header_checksum(), "IPv4 checksum");
    let (src, dst) = (h.source, h.destination);
    let payload = ip.payload().payload;
    match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            let th = t.to_header();
            assert_eq!(
                th.checksum,
                th.calc_checksum_ipv4(&h, t.payload())
                    .expect("tcp checksum"),
                "TCP checksum"
            );
            (true, src, th.source_port, dst, th.destination_port, th.syn)
        }
        Some(TransportSlice::Udp(u)) => {
            let uh = u.to_header();
            assert_eq!(
                uh.checksum,
                uh.calc_checksum_ipv4(&h, &payload[8..])
                    .expect("udp checksum"),
                "UDP checksum"
            );
            (false, src, uh.source_port, dst, uh.destination_port, false)
        }
        other => panic!("unexpected transport {other:?}"),
    }
}

#[test]
fn counts_and_modes_parse() {
    assert_eq!(
        traffic::parse_counts("1k,100k,1M").unwrap(),
        vec![1000, 100_000, 1_000_000]
    );
    assert_eq!(traffic::parse_counts("250").unwrap(), vec![250]);
    assert!(traffic::parse_counts("1x").is_err());
    assert!(traffic::parse_counts("0").is_err());
    assert_eq!(traffic::count_text(100_000), "100k");
    assert_eq!(traffic::count_text(1_000_000), "1M");
    assert_eq!(
        Mode::parse_list("nat,syn,dr").unwrap(),
        vec![Mode::Dr, Mode::Nat, Mode::SynNat, Mode::SynFullnat]
    );
    assert_eq!(Mode::parse_list("all").unwrap(), Mode::ALL.to_vec());
    assert!(Mode::parse_list("lvs").is_err());
}

#[test]
fn traffic_is_deterministic_from_the_seed() {
    for mode in Mode::ALL {
        let plan = traffic::plan(mode, 1000);
        let a = traffic::traffic(&plan, 7);
        assert_eq!(a, traffic::traffic(&plan, 7), "{mode:?}");
        assert_ne!(a.client, traffic::traffic(&plan, 8).client, "{mode:?}");
    }
}

#[test]
fn every_frame_is_valid_and_60_bytes_and_flows_are_distinct() {
    for mode in Mode::ALL {
        let plan = traffic::plan(mode, 1000);
        let t = traffic::traffic(&plan, 1);
        if mode == Mode::Snat || mode.fragmented() || mode.ipv6() {
            continue; // snat_replies_cover_the_pool, fragments_reassemble, tests6
        }
        let mut tuples = HashSet::new();
        for f in &t.client {
            let (tcp, src, sport, dst, dport, syn) = decode(f);
            assert_eq!((dst, dport), (traffic::VIP, traffic::VPORT));
            assert_eq!(syn, mode.sends_syns(), "{mode:?}: SYN only in SYN rows");
            assert!(tuples.insert((tcp, src, sport)), "{mode:?}: a flow twice");
        }
        assert_eq!(t.client.len(), plan.flows());
        for f in t.prime.iter().chain(&t.servers) {
            decode(f);
        }
        assert_eq!(t.prime.is_empty(), !mode.primed());
        if mode.primed() {
            // The prime port opens the same flows in the same order.
            for (p, c) in t.prime.iter().zip(&t.client) {
                let (tcp, src, sport, ..) = decode(p);
                assert_eq!((tcp, src, sport), {
                    let d = decode(c);
                    (d.0, d.1, d.2)
                });
                assert_eq!(decode(p).5, tcp, "TCP opens with a SYN");
            }
        }
    }
}

#[test]
fn nat_replies_go_from_the_rr_backend_to_each_client() {
    let plan = traffic::plan(Mode::Nat, 1000);
    let t = traffic::traffic(&plan, 3);
    assert_eq!(t.servers.len(), t.client.len());
    let mut seen = [[0usize; traffic::BACKENDS]; 2];
    for (req, rep) in t.client.iter().zip(&t.servers) {
        let (tcp, cip, cport, ..) = decode(req);
        let (rtcp, rip, rport, dst, dport, _) = decode(rep);
        assert_eq!((rtcp, dst, dport, rport), (tcp, cip, cport, traffic::RPORT));
        // The k-th flow of each protocol goes to backend k mod 4.
        let k = &mut seen[usize::from(tcp)];
        let b = k.iter().sum::<usize>() % traffic::BACKENDS;
        assert_eq!(rip, plan.backends[b]);
        k[b] += 1;
    }
}

#[test]
fn fullnat_fills_each_pool_exactly_and_replies_cover_it() {
    for flows in [1000, 100_000] {
        let plan = traffic::plan(Mode::Fullnat, flows);
        let per_service = plan.backends.len()
            * plan.laddrs_tcp.len()
            * usize::from(plan.ports.1 - plan.ports.0 + 1);
        assert_eq!(plan.tcp_flows, per_service);
        assert_eq!(plan.udp_flows, per_service);
        assert_eq!(plan.flows(), flows, "1k and 100k split exactly");
    }
    let plan = traffic::plan(Mode::Fullnat, 1000);
    let replies = traffic::fullnat_replies(&plan, 1);
    assert_eq!(replies.len(), plan.flows());
    let mut tuples = HashSet::new();
    for r in &replies {
        let (tcp, rip, rport, lip, lport, _) = decode(r);
        assert!(plan.backends.contains(&rip));
        assert_eq!(rport, traffic::RPORT);
        let laddrs = if tcp {
            &plan.laddrs_tcp
        } else {
            &plan.laddrs_udp
        };
        assert!(laddrs.contains(&lip));
        assert!((plan.ports.0..=plan.ports.1).contains(&lport));
        assert!(tuples.insert((tcp, rip, lip, lport)));
    }
    let big = traffic::plan(Mode::Fullnat, 1_000_000);
    assert_eq!(big.flows(), 1_000_000);
    assert!(big.ports.1 >= big.ports.0);
}

#[test]
fn backends_fall_into_distinct_buckets() {
    let b = traffic::distinct_bucket_backends(traffic::BACKENDS);
    assert_eq!(b.len(), traffic::BACKENDS);
    let mut sorted = b.clone();
    sorted.sort();
    assert_eq!(sorted, b, "address order is rr order");
}

#[test]
fn every_config_validates() {
    for mode in Mode::ALL {
        for flows in [1000, 1_000_000] {
            let plan = traffic::plan(mode, flows);
            let pools = matches!(
                mode,
                Mode::Fullnat | Mode::Fullnat6 | Mode::Nat64 | Mode::SynFullnat | Mode::Snat
            );
            if flows > 1000 && !pools {
                continue; // only FULLNAT's pools change with the count
            }
            let run = RunSetup {
                eal_args: vec!["--no-huge".into(), "-m".into(), "512".into()],
                socket: "/tmp/x.sock".into(),
                core: 1,
                mbufs: 40_000,
                ports: vec![
                    (
                        "prime".into(),
                        "net_pcap0,rx_pcap=p.pcap".into(),
                        traffic::PRIME_MAC,
                    ),
                    (
                        "client".into(),
                        "net_pcap1,rx_pcap=c.pcap,infinite_rx=1".into(),
                        traffic::CLIENT_PORT_MAC,
                    ),
                    (
                        "servers".into(),
                        "net_null0,no-rx=1".into(),
                        traffic::SERVERS_PORT_MAC,
                    ),
                ],
                sync: Some((8848, 8849)),
            };
            let mut run = run;
            if !mode.primed() {
                run.ports.remove(0);
            }
            let text = traffic::config(&plan, &run);
            if let Err(e) = control::config::Config::parse(Path::new("bench.toml"), text.clone()) {
                panic!("{mode:?} {flows}: {e}\n{text}");
            }
        }
    }
}

fn row(mode: Mode, flows: usize, mpps: f64, io: f64, macswap: f64) -> Row {
    Row {
        mode,
        flows,
        ports: None,
        lb: LbSample {
            tx_mpps: mpps,
            ..Default::default()
        },
        io_mpps: Some(io),
        macswap_mpps: Some(macswap),
        lb_runs: vec![mpps],
        notes: Vec::new(),
        clean: true,
    }
}

#[test]
fn medians_ratios_and_targets() {
    assert_eq!(report::median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(report::median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    assert_eq!(report::median(&[]), None);
    let r = row(Mode::Nat, 1000, 9.0, 20.0, 12.0);
    assert_eq!(r.ratio_macswap(), Some(0.75));
    assert_eq!(r.ratio_io(), Some(0.45));
    assert_eq!(r.meets_target(), Some(true));
    let r = row(Mode::L2fwd, 1000, 18.0, 20.0, 12.0);
    assert_eq!(r.meets_target(), Some(false), "0.9 < 0.95 of io");
    assert_eq!(row(Mode::Nat, 100_000, 1.0, 2.0, 2.0).target(), None);
    let mut dirty = row(Mode::Nat, 1000, 9.0, 20.0, 12.0);
    dirty.clean = false;
    assert_eq!(
        dirty.meets_target(),
        None,
        "an unclean window is not judged"
    );
    assert_eq!(report::ratio(1.0, Some(0.0)), None);
    let samples: Vec<LbSample> = [5.0, 1.0, 3.0]
        .iter()
        .map(|&x| LbSample {
            tx_mpps: x,
            ..Default::default()
        })
        .collect();
    assert_eq!(
        report::median_sample(&samples).map(|s| s.tx_mpps),
        Some(3.0)
    );
}

#[test]
fn table_json_and_svg_carry_every_row() {
    let rows = vec![
        row(Mode::L2fwd, 1000, 18.0, 20.0, 12.0),
        row(Mode::Fullnat, 1000, 9.0, 20.0, 12.0),
        row(Mode::Fullnat, 1_000_000, 4.0, 10.0, 8.0),
    ];
    let mut rows = rows;
    rows[1].lb.busy_percent = Some(41.6);
    rows[1].lb.cycles_per_packet = Some(2345.4);
    let t = report::table(&rows);
    assert!(t.contains("fullnat"));
    assert!(t.contains("1M"));
    assert!(t.contains("MISS"), "{t}");
    let busy_row = t.lines().nth(2).expect("the second row");
    assert!(busy_row.contains(" 42%    2345 "), "{busy_row}");
    let j = report::json(&rows, serde_json::json!({"seed": 1}));
    assert_eq!(j["rows"].as_array().map(Vec::len), Some(3));
    assert_eq!(j["rows"][1]["ratio_macswap"], 0.75);
    assert_eq!(j["rows"][1]["cycles_per_packet"], 2345.4);
    assert_eq!(j["rows"][0]["busy_percent"], serde_json::Value::Null);
    assert_eq!(j["rows"][2]["meets_target"], true);
    let s = report::svg(&rows, "t <&>");
    assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
    assert_eq!(
        s.matches("<rect x=").count(),
        3 + 2,
        "3 bars, 2 legend keys"
    );
    assert!(s.contains("t &lt;&amp;&gt;"));
}

#[test]
fn testpmd_rate_is_the_last_show_per_port() {
    let out = "\
  ######################## NIC statistics for port 0  ########################
  Throughput (since last show)
  Rx-pps:            0          Rx-bps:            0
  Tx-pps:            0          Tx-bps:            0
  ######################## NIC statistics for port 1  ########################
  Tx-pps:            0          Tx-bps:            0
testpmd> show port stats all
  ######################## NIC statistics for port 0  ########################
  Rx-pps:     12000000          Rx-bps:            0
  Tx-pps:      1500000          Tx-bps:            0
  ######################## NIC statistics for port 1  ########################
  Rx-pps:      1500000          Rx-bps:            0
  Tx-pps:     12000000          Tx-bps:            0
";
    assert_eq!(report::testpmd_tx_mpps(out), Some(13.5));
    assert_eq!(report::testpmd_tx_mpps("nothing"), None);
}

#[test]
fn snat_replies_cover_the_pool_and_outbound_matches_prime() {
    let plan = traffic::plan(Mode::Snat, 1000);
    let t = traffic::traffic(&plan, 5);
    assert_eq!(plan.flows(), 1000);
    assert_eq!(t.prime.len(), 1000);
    assert_eq!(t.servers.len(), 1000);
    assert_eq!(t.client.len(), 1000, "one reply per pool slot");
    let remotes = traffic::snat_remotes(traffic::SNAT_REMOTES);
    assert_eq!(remotes.len(), traffic::SNAT_REMOTES);
    let mut inside = HashSet::new();
    for (p, o) in t.prime.iter().zip(&t.servers) {
        let (tcp, src, sport, dst, dport, syn) = decode(p);
        let d = decode(o);
        assert_eq!((d.0, d.1, d.2, d.3, d.4), (tcp, src, sport, dst, dport));
        assert_eq!(syn, tcp, "TCP opens with a SYN");
        assert!(!d.5);
        assert_eq!(src[..2], [10, 1]);
        let r = remotes.iter().position(|x| *x == dst).expect("a remote");
        assert_eq!(tcp, r < 2, "TCP to remotes 0 and 1 only");
        assert!(inside.insert((tcp, src, sport)));
    }
    let mut replies = HashSet::new();
    for f in &t.client {
        let (tcp, r, rport, sip, sport, _) = decode(f);
        let j = remotes.iter().position(|x| *x == r).expect("a remote");
        assert_eq!((tcp, rport), (j < 2, traffic::SNAT_RPORT));
        assert!(plan.laddrs_tcp.contains(&sip));
        assert!(replies.insert((r, sip, sport)));
    }
}

/// A reassembled UDP datagram: (src, sport, dst, dport, payload).
type Datagram = ([u8; 4], u16, [u8; 4], u16, Vec<u8>);

/// Reassembles `frames` (fragments of one datagram each, in order, next to
/// each other) and decodes each datagram as `decode` does, checking each
/// fragment's IPv4 header on the way: (src, sport, dst, dport, UDP payload).
fn reassemble(frames: &[Vec<u8>]) -> Vec<Datagram> {
    use etherparse::Ipv4HeaderSlice;
    let mut out = Vec::new();
    let mut l4: Vec<u8> = Vec::new();
    let mut first: Option<etherparse::Ipv4Header> = None;
    for f in frames {
        let h = Ipv4HeaderSlice::from_slice(&f[14..])
            .expect("IPv4")
            .to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum(), "IPv4 checksum");
        assert!(f.len() - 14 <= fragments::FRAGMENT_MTU, "fits the MTU");
        assert_eq!(usize::from(h.total_len), f.len() - 14);
        let offset = usize::from(h.fragment_offset.value()) * 8;
        if offset == 0 {
            assert!(first.is_none() && l4.is_empty(), "a datagram left open");
            assert!(h.more_fragments, "the first fragment has more behind it");
            first = Some(h.clone());
        }
        let head = first.as_ref().expect("a later fragment after its first");
        assert_eq!(
            (h.identification, h.source, h.destination),
            (head.identification, head.source, head.destination),
            "fragments of one datagram"
        );
        assert_eq!(offset, l4.len(), "in order, no gap, no overlap");
        l4.extend_from_slice(&f[34..]);
        if !h.more_fragments {
            let mut whole = head.clone();
            whole.more_fragments = false;
            whole.set_payload_len(l4.len()).expect("fits");
            let u = etherparse::UdpHeaderSlice::from_slice(&l4)
                .expect("UDP")
                .to_header();
            assert_eq!(usize::from(u.length), l4.len());
            assert_eq!(
                u.checksum,
                u.calc_checksum_ipv4(&whole, &l4[8..])
                    .expect("udp checksum"),
                "the UDP checksum covers the whole datagram"
            );
            out.push((
                whole.source,
                u.source_port,
                whole.destination,
                u.destination_port,
                l4[8..].to_vec(),
            ));
            l4.clear();
            first = None;
        }
    }
    assert!(first.is_none(), "the last datagram is whole");
    out
}

#[test]
fn fragments_reassemble_into_the_flows_datagrams() {
    for mode in [Mode::NatFrag, Mode::FullnatFrag] {
        let plan = traffic::plan(mode, 1000);
        assert_eq!((plan.tcp_flows, plan.udp_flows), (0, 1000), "{mode:?}");
        let t = traffic::traffic(&plan, 2);
        assert_eq!(t.prime.len(), 1000);
        assert_eq!(t.client.len(), 1000 * fragments::FRAGMENTS, "{mode:?}");
        assert_eq!(t.servers.len(), 1000 * fragments::FRAGMENTS, "{mode:?}");
        // Two full-size fragments and a short last one.
        let sizes: Vec<usize> = t.client[..3].iter().map(Vec::len).collect();
        assert_eq!(sizes, [1514, 1514, 14 + 20 + 48]);
        let client = reassemble(&t.client);
        for (p, (src, sport, dst, dport, data)) in t.prime.iter().zip(&client) {
            let (tcp, psrc, psport, pdst, pdport, _) = decode(p);
            assert!(!tcp);
            assert_eq!((psrc, psport, pdst, pdport), (*src, *sport, *dst, *dport));
            assert_eq!(data.len(), fragments::DATAGRAM_BYTES);
        }
        let replies = reassemble(&t.servers);
        let mut tuples = HashSet::new();
        for (k, (rip, rport, dst, dport, data)) in replies.iter().enumerate() {
            assert_eq!(*rport, traffic::RPORT);
            assert_eq!(data.len(), fragments::DATAGRAM_BYTES);
            assert!(
                tuples.insert((*rip, *dst, *dport)),
                "{mode:?}: a reply twice"
            );
            if mode == Mode::NatFrag {
                // rr: flow k's reply from backend k mod 4 to its client.
                assert_eq!(*rip, plan.backends[k % traffic::BACKENDS]);
                assert_eq!((*dst, *dport), (client[k].0, client[k].1));
            } else {
                assert!(plan.laddrs_udp.contains(dst));
                assert!((plan.ports.0..=plan.ports.1).contains(dport));
            }
        }
    }
}

#[test]
fn veth_drivers_devices_and_generator_totals() {
    use super::veth;
    assert_eq!(
        veth::parse_drivers("af_xdp, af_packet,af_xdp").unwrap(),
        vec!["af_xdp", "af_packet"]
    );
    assert!(veth::parse_drivers("af_pcap").is_err());
    assert_eq!(veth::device("af_xdp", 1, "d0"), "net_af_xdp1,iface=d0");
    assert_eq!(
        veth::device("af_packet", 2, "d1"),
        "net_af_packet2,iface=d1,framecnt=4096"
    );
    let out = "\
  ---------------------- Forward statistics for port 0  ----------------------
  RX-packets: 500            RX-dropped: 0             RX-total: 500
  TX-packets: 0              TX-dropped: 0             TX-total: 0
  ---------------------- Forward statistics for port 1  ----------------------
  RX-packets: 0              RX-dropped: 0             RX-total: 0
  TX-packets: 391010         TX-dropped: 0             TX-total: 391010
";
    assert_eq!(veth::generator_tx(out), Some(391_010));
    assert_eq!(veth::generator_tx("nothing"), None);
    let mut r = row(Mode::Dr, 1000, 1.0, 2.0, 2.0);
    assert_eq!(r.label(), "dr");
    assert!(r.target().is_some());
    r.ports = Some("af_xdp");
    assert_eq!(r.label(), "dr@af_xdp");
    assert_eq!(r.target(), None, "veth rows have no ratio target");
    assert!(report::table(&[r]).contains("dr@af_xdp"));
}
