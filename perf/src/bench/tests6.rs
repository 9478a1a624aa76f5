//! The IPv6 rows' frames and configs, decoded by etherparse (an
//! independent decoder): addresses, ports, hop limits and checksums.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;

use etherparse::{LinkSlice, NetSlice, SlicedPacket, TransportSlice};

use super::plan::{self, BACKENDS, PRIME_MAC, ROUTER_MAC, RPORT, VPORT};
use super::plan::{CLIENT_PORT_MAC, SERVERS_PORT_MAC};
use super::report::{self, LbSample, Row, VsIpv4};
use super::traffic::{self, Mode, RunSetup};
use super::traffic6::*;
use crate::frames::Mac;

/// A TCP or UDP frame over IPv6, as etherparse reads it.
#[derive(Debug, PartialEq, Eq)]
struct Seg {
    macs: (Mac, Mac),
    tcp: bool,
    src: ([u8; 16], u16),
    dst: ([u8; 16], u16),
    syn: bool,
}

/// Decodes an 80-byte IPv6 TCP/UDP frame, checking its hop limit, its
/// payload length and its L4 checksum over the IPv6 pseudo-header.
fn decode6(frame: &[u8]) -> Seg {
    assert_eq!(frame.len(), 80, "84 bytes on the wire with the FCS");
    let p = SlicedPacket::from_ethernet(frame).expect("ethernet frame");
    let Some(LinkSlice::Ethernet2(eth)) = &p.link else {
        panic!("not Ethernet II")
    };
    let Some(NetSlice::Ipv6(ip)) = &p.net else {
        panic!("not IPv6")
    };
    let h = ip.header().to_header();
    assert_eq!(h.hop_limit, 64);
    assert_eq!(usize::from(h.payload_length), frame.len() - 14 - 40);
    let payload = ip.payload().payload;
    let macs = (eth.source(), eth.destination());
    match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            let th = t.to_header();
            let sum = th.calc_checksum_ipv6(&h, t.payload()).expect("sum");
            assert_eq!(th.checksum, sum, "TCP checksum");
            assert_eq!(t.payload(), b"ferrol");
            let (src, dst) = (
                (h.source, th.source_port),
                (h.destination, th.destination_port),
            );
            Seg {
                macs,
                tcp: true,
                src,
                dst,
                syn: th.syn,
            }
        }
        Some(TransportSlice::Udp(u)) => {
            let uh = u.to_header();
            let sum = uh.calc_checksum_ipv6(&h, &payload[8..]).expect("sum");
            assert_eq!(uh.checksum, sum, "UDP checksum");
            assert_eq!(&payload[8..], b"ferrolb-benchmark!");
            let (src, dst) = (
                (h.source, uh.source_port),
                (h.destination, uh.destination_port),
            );
            Seg {
                macs,
                tcp: false,
                src,
                dst,
                syn: false,
            }
        }
        other => panic!("unexpected transport {other:?}"),
    }
}

/// (Ethernet source and destination, IPv6 destination, target, target
/// link-layer address) of a Neighbor Advertisement, after checking it is
/// one RFC 4861 7.1.2 accepts as solicited: hop limit 255, code 0, the
/// Solicited and Override flags, from its target, a valid checksum.
fn decode_na(frame: &[u8]) -> (Mac, Mac, [u8; 16], [u8; 16], Mac) {
    let p = SlicedPacket::from_ethernet(frame).expect("ethernet frame");
    let Some(LinkSlice::Ethernet2(eth)) = &p.link else {
        panic!("not Ethernet II")
    };
    let Some(NetSlice::Ipv6(ip)) = &p.net else {
        panic!("not IPv6")
    };
    let h = ip.header().to_header();
    assert_eq!(h.hop_limit, 255, "ND crosses no router");
    let Some(TransportSlice::Icmpv6(m)) = &p.transport else {
        panic!("not ICMPv6")
    };
    assert_eq!((m.type_u8(), m.code_u8()), (136, 0));
    assert!(
        m.is_checksum_valid(h.source, h.destination),
        "ICMPv6 checksum"
    );
    assert_eq!(m.bytes5to8(), [0x60, 0, 0, 0], "Solicited and Override");
    let body = m.payload();
    assert_eq!(body.len(), 24, "target and one 8-byte option");
    let target: [u8; 16] = body[..16].try_into().unwrap();
    assert_eq!(h.source, target, "a neighbour advertises itself");
    assert_eq!(&body[16..18], &[2, 1], "target link-layer option");
    let mac: Mac = body[18..24].try_into().unwrap();
    (eth.source(), eth.destination(), h.destination, target, mac)
}

#[test]
fn dr6_frames_are_the_dr_rows_flows_over_ipv6() {
    let plan = traffic::plan(Mode::Dr6, 1000);
    let t = traffic::traffic(&plan, 1);
    let flows = plan::flows(&plan, 1);
    assert_eq!(plan.flows(), 1000);
    assert_eq!(plan.capacity6, None, "the default 64 Ki holds 1k flows");
    let big = traffic::plan(Mode::Dr6, 1_000_000);
    assert_eq!(big.capacity6, Some(1 << 20), "1M flows need more");
    // The prime port opens with each backend's advertisement, to our
    // address on their link, on the prime port's MAC.
    let want: Vec<_> = plan
        .backends
        .iter()
        .map(|&b| {
            let mac = plan::backend_mac(b);
            (mac, PRIME_MAC, SERVERS_IF6, backend6(b), mac)
        })
        .collect();
    let got: Vec<_> = t.prime[..BACKENDS].iter().map(|f| decode_na(f)).collect();
    assert_eq!(got, want);
    let mut tuples = HashSet::new();
    assert_eq!(t.prime.len(), BACKENDS + flows.len());
    assert_eq!(t.client.len(), flows.len());
    for ((p, c), f) in t.prime[BACKENDS..].iter().zip(&t.client).zip(&flows) {
        let (p, c) = (decode6(p), decode6(c));
        let from = (client6(f.cip), f.cport);
        assert_eq!(p.src, from);
        assert_eq!(c.src, from);
        assert_eq!(p.dst, (VIP6, VPORT));
        assert_eq!(c.dst, (VIP6, VPORT));
        assert_eq!((p.tcp, c.tcp), (f.tcp, f.tcp));
        assert_eq!(p.syn, f.tcp, "a TCP flow opens with a SYN");
        assert!(!c.syn, "the looped segments are established");
        assert_eq!(p.macs, (ROUTER_MAC, PRIME_MAC));
        assert_eq!(c.macs, (ROUTER_MAC, CLIENT_PORT_MAC));
        assert_eq!(&c.src.0[..6], &[0x20, 0x01, 0, 2, 0, 0], "2001:2::/48");
        assert!(tuples.insert((c.tcp, c.src)), "a flow twice");
    }
    assert!(t.servers.is_empty(), "DR replies go around the balancer");
    let tcp = flows.iter().filter(|f| f.tcp).count();
    assert_eq!((tcp, flows.len() - tcp), (500, 500));
}

#[test]
fn nat6_replies_come_from_the_rr_backend_to_each_client() {
    let plan = traffic::plan(Mode::Nat6, 1000);
    let t = traffic::traffic(&plan, 3);
    // The backends' advertisements, then the clients' router's.
    let router = decode_na(&t.prime[BACKENDS]);
    assert_eq!(
        router,
        (ROUTER_MAC, PRIME_MAC, CLIENT_IF6, ROUTER6, ROUTER_MAC)
    );
    let opens = t.prime.len() - BACKENDS - 1;
    assert_eq!((opens, t.client.len(), t.servers.len()), (1000, 1000, 1000));
    let backends = backends6(&plan);
    let mut seen = [[0usize; BACKENDS]; 2];
    for (req, rep) in t.client.iter().zip(&t.servers) {
        let (req, rep) = (decode6(req), decode6(rep));
        assert_eq!(req.dst, (VIP6, VPORT));
        assert_eq!((rep.tcp, rep.dst), (req.tcp, req.src));
        assert_eq!(rep.src.1, RPORT);
        // The k-th flow of each protocol from backend k mod 4.
        let k = &mut seen[usize::from(req.tcp)];
        let b = k.iter().sum::<usize>() % BACKENDS;
        assert_eq!(rep.src.0, backends[b]);
        let mac = plan::backend_mac(plan.backends[b]);
        assert_eq!(rep.macs, (mac, SERVERS_PORT_MAC));
        k[b] += 1;
    }
    assert_eq!(seen, [[125; BACKENDS]; 2]);
}

/// Both FULLNAT pools' (TCP, local address, local port) as the plan sizes
/// them: every one is a backend's reply, once per backend.
fn pool_tuples(plan: &plan::Plan) -> HashSet<(bool, [u8; 4], u16)> {
    let mut out = HashSet::new();
    for (tcp, laddrs) in [(true, &plan.laddrs_tcp), (false, &plan.laddrs_udp)] {
        for &a in laddrs {
            for port in plan.ports.0..=plan.ports.1 {
                out.insert((tcp, a, port));
            }
        }
    }
    out
}

#[test]
fn fullnat6_replies_cover_every_backend_and_local_port_of_the_ipv6_pools() {
    let plan = traffic::plan(Mode::Fullnat6, 1000);
    let v4 = traffic::plan(Mode::Fullnat, 1000);
    // The fullnat row's pools, moved into IPv6.
    assert_eq!(plan.flows(), 1000);
    assert_eq!(
        (&plan.laddrs_tcp, &plan.laddrs_udp, plan.ports),
        (&v4.laddrs_tcp, &v4.laddrs_udp, v4.ports)
    );
    assert_eq!(plan.capacity6, None, "the default 64 Ki holds 1k flows");
    assert_eq!(
        traffic::plan(Mode::Fullnat6, 1_000_000).capacity6,
        Some(1 << 20)
    );
    assert_eq!(text(laddr6([10, 0, 16, 2])), "2001:db8:1::10:2");
    // One backend per bucket of an IPv6 pool of four buckets, as ferrolb
    // makes it (a bucket per backend), in address order.
    let pool = dataplane::laddr::LocalPorts::new(&dataplane::laddr::PoolConfig {
        worker_index: 0,
        worker_count: 1,
        addrs: vec![std::net::Ipv6Addr::from(laddr6(plan.laddrs_tcp[0]))],
        port_min: 1024,
        port_max: 1024,
        backend_buckets: BACKENDS,
        seed: 9,
    })
    .unwrap();
    let buckets: HashSet<usize> = backends6(&plan)
        .into_iter()
        .map(|b| pool.bucket_of(b.into(), RPORT))
        .collect();
    assert_eq!(buckets.len(), BACKENDS);
    assert!(plan.backends.windows(2).all(|w| w[0] < w[1]));

    let t = traffic::traffic(&plan, 5);
    // The backends' advertisements, then the clients' router's, then the
    // flows' opening packets.
    for (f, &b) in t.prime.iter().zip(&plan.backends) {
        let mac = plan::backend_mac(b);
        assert_eq!(
            decode_na(f),
            (mac, PRIME_MAC, SERVERS_IF6, backend6(b), mac)
        );
    }
    assert_eq!(
        decode_na(&t.prime[BACKENDS]),
        (ROUTER_MAC, PRIME_MAC, CLIENT_IF6, ROUTER6, ROUTER_MAC)
    );
    let flows = plan::flows(&plan, 5);
    assert_eq!(t.prime.len(), BACKENDS + 1 + flows.len());
    for ((p, c), f) in t.prime[BACKENDS + 1..].iter().zip(&t.client).zip(&flows) {
        let (p, c) = (decode6(p), decode6(c));
        let from = (client6(f.cip), f.cport);
        assert_eq!((p.src, p.dst, p.syn), (from, (VIP6, VPORT), f.tcp));
        assert_eq!((c.src, c.dst, c.syn), (from, (VIP6, VPORT), false));
        assert_eq!(c.macs, (ROUTER_MAC, CLIENT_PORT_MAC));
    }
    // Every (backend, local address, local port) once, from the IPv6
    // backend to the IPv6 local address.
    let pools = pool_tuples(&plan);
    let mut seen = HashSet::new();
    assert_eq!(t.servers.len(), BACKENDS * pools.len());
    for r in &t.servers {
        let r = decode6(r);
        let b = plan
            .backends
            .iter()
            .copied()
            .find(|&b| backend6(b) == r.src.0)
            .expect("from a backend");
        assert_eq!(r.src.1, RPORT);
        assert_eq!(r.macs, (plan::backend_mac(b), SERVERS_PORT_MAC));
        let l = [plan.laddrs_tcp.clone(), plan.laddrs_udp.clone()]
            .concat()
            .into_iter()
            .find(|&a| laddr6(a) == r.dst.0)
            .expect("to a local address");
        assert!(pools.contains(&(r.tcp, l, r.dst.1)), "{r:?}");
        assert!(seen.insert((b, r.tcp, l, r.dst.1)), "a reply twice");
    }
}

#[test]
fn nat64_sends_ipv6_to_the_vip_and_fullnats_ipv4_replies() {
    let plan = traffic::plan(Mode::Nat64, 1000);
    let v4 = traffic::plan(Mode::Fullnat, 1000);
    // IPv4 FULLNAT's backends and pools.
    assert_eq!(
        (
            &plan.backends,
            &plan.laddrs_tcp,
            &plan.laddrs_udp,
            plan.ports
        ),
        (&v4.backends, &v4.laddrs_tcp, &v4.laddrs_udp, v4.ports)
    );
    assert_eq!(plan.flows(), 1000);
    let t = traffic::traffic(&plan, 5);
    // No IPv6 backend to advertise: only the clients' router.
    assert_eq!(
        decode_na(&t.prime[0]),
        (ROUTER_MAC, PRIME_MAC, CLIENT_IF6, ROUTER6, ROUTER_MAC)
    );
    let flows = plan::flows(&plan, 5);
    assert_eq!(t.prime.len(), 1 + flows.len());
    for ((p, c), f) in t.prime[1..].iter().zip(&t.client).zip(&flows) {
        let (p, c) = (decode6(p), decode6(c));
        let from = (client6(f.cip), f.cport);
        assert_eq!((p.src, p.dst, p.syn), (from, (VIP6, VPORT), f.tcp));
        assert_eq!((c.src, c.dst, c.syn), (from, (VIP6, VPORT), false));
        assert_eq!(
            (p.macs, c.macs),
            ((ROUTER_MAC, PRIME_MAC), (ROUTER_MAC, CLIENT_PORT_MAC))
        );
    }
    // The replies are the fullnat row's, frame for frame: IPv4 from each
    // backend to every local (address, port).
    assert_eq!(t.servers, traffic::traffic(&v4, 5).servers);
    let pools = pool_tuples(&plan);
    let mut seen = HashSet::new();
    for r in &t.servers {
        assert_eq!(r.len(), 60);
        let p = SlicedPacket::from_ethernet(r).expect("ethernet frame");
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!("not IPv4")
        };
        let (src, dst) = (ip.header().source(), ip.header().destination());
        let (tcp, sport, dport) = match &p.transport {
            Some(TransportSlice::Tcp(t)) => (true, t.source_port(), t.destination_port()),
            Some(TransportSlice::Udp(u)) => (false, u.source_port(), u.destination_port()),
            other => panic!("unexpected transport {other:?}"),
        };
        assert!(plan.backends.contains(&src));
        assert_eq!(sport, RPORT);
        assert!(pools.contains(&(tcp, dst, dport)));
        assert!(seen.insert((src, tcp, dst, dport)), "a reply twice");
    }
    assert_eq!(seen.len(), BACKENDS * pools.len());
}

fn run_setup() -> RunSetup {
    RunSetup {
        eal_args: vec!["--no-huge".into()],
        socket: "/tmp/x.sock".into(),
        core: 1,
        mbufs: 40_000,
        ports: vec![
            ("prime".into(), "net_pcap0,rx_pcap=p.pcap".into(), PRIME_MAC),
            (
                "client".into(),
                "net_pcap1,rx_pcap=c.pcap".into(),
                CLIENT_PORT_MAC,
            ),
            (
                "servers".into(),
                "net_null0,no-rx=1".into(),
                SERVERS_PORT_MAC,
            ),
        ],
        sync: None,
    }
}

#[test]
fn dr6_config_has_the_ipv6_links_and_services() {
    let plan = traffic::plan(Mode::Dr6, 1000);
    let toml = traffic::config(&plan, &run_setup());
    let cfg = control::config::Config::parse(Path::new("bench.toml"), toml.clone())
        .unwrap_or_else(|e| panic!("{e}\n{toml}"));
    assert_eq!(
        cfg.config.sessions.capacity6,
        plan::CAPACITY6_DEFAULT as u32
    );
    assert_eq!(cfg.config.services.len(), 2);
    let backends: Vec<IpAddr> = backends6(&plan).into_iter().map(IpAddr::from).collect();
    for s in &cfg.config.services {
        assert_eq!(s.vip, IpAddr::from(VIP6));
        assert_eq!(s.port, VPORT);
        let got: Vec<IpAddr> = s.backends.iter().map(|b| b.address).collect();
        assert_eq!(got, backends, "rr walks them in address order");
    }
    // The backends are on the servers link, which has an address to
    // solicit from; the advertisements go to it.
    let servers = cfg
        .config
        .interfaces
        .iter()
        .find(|i| i.port == "servers")
        .unwrap();
    let ours: Vec<String> = servers.addresses.iter().map(|a| a.to_string()).collect();
    assert!(ours.contains(&"2001:db8:1::1/64".to_string()), "{ours:?}");
    assert_eq!(text(SERVERS_IF6), "2001:db8:1::1");
}

/// The `nat6` row's config routes to the clients' router and parses.
#[test]
fn nat6_config_has_the_ipv6_route_and_parses() {
    let plan = traffic::plan(Mode::Nat6, 1000);
    let text = traffic::config(&plan, &run_setup());
    assert!(text.contains("prefix = \"::/0\"\nvia = \"2001:db8::fe\""));
    assert!(text.contains("mode = \"nat\""));
    // NAT over IPv6 and IPv6 routes have landed: the config must parse.
    control::config::Config::parse(Path::new("bench.toml"), text.clone())
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
}

#[test]
fn fullnat6_config_has_ipv6_backends_and_local_addresses() {
    let plan = traffic::plan(Mode::Fullnat6, 1000);
    let toml = traffic::config(&plan, &run_setup());
    let cfg = control::config::Config::parse(Path::new("bench.toml"), toml.clone())
        .unwrap_or_else(|e| panic!("{e}\n{toml}"));
    assert_eq!(cfg.config.services.len(), 2);
    let backends: Vec<IpAddr> = backends6(&plan).into_iter().map(IpAddr::from).collect();
    for (s, laddrs) in cfg
        .config
        .services
        .iter()
        .zip([&plan.laddrs_tcp, &plan.laddrs_udp])
    {
        assert_eq!((s.vip, s.port), (IpAddr::from(VIP6), VPORT));
        assert_eq!(s.mode, control::config::LbMode::Fullnat);
        let got: Vec<IpAddr> = s.backends.iter().map(|b| b.address).collect();
        assert_eq!(got, backends);
        let want: Vec<IpAddr> = laddrs.iter().map(|&a| laddr6(a).into()).collect();
        assert_eq!(s.local_addresses, want);
    }
    assert!(toml.contains("prefix = \"::/0\"\nvia = \"2001:db8::fe\""));
    assert!(toml.contains("\"2001:db8:1::1/64\""), "{toml}");
}

#[test]
fn nat64_config_has_an_ipv6_vip_and_ipv4_backends_and_local_addresses() {
    let plan = traffic::plan(Mode::Nat64, 1000);
    let toml = traffic::config(&plan, &run_setup());
    let cfg = control::config::Config::parse(Path::new("bench.toml"), toml.clone())
        .unwrap_or_else(|e| panic!("{e}\n{toml}"));
    assert_eq!(cfg.config.services.len(), 2);
    let backends: Vec<IpAddr> = plan.backends.iter().map(|&b| IpAddr::from(b)).collect();
    for (s, laddrs) in cfg
        .config
        .services
        .iter()
        .zip([&plan.laddrs_tcp, &plan.laddrs_udp])
    {
        assert_eq!((s.vip, s.port), (IpAddr::from(VIP6), VPORT));
        assert_eq!(s.mode, control::config::LbMode::Fullnat);
        let got: Vec<IpAddr> = s.backends.iter().map(|b| b.address).collect();
        assert_eq!(got, backends);
        let want: Vec<IpAddr> = laddrs.iter().map(|&a| IpAddr::from(a)).collect();
        assert_eq!(s.local_addresses, want);
    }
    // IPv6 on the clients' side only; the replies to them by ::/0.
    assert!(toml.contains("prefix = \"::/0\"\nvia = \"2001:db8::fe\""));
    assert!(toml.contains("\"2001:db8::1/64\""));
    assert!(!toml.contains("2001:db8:1::"), "{toml}");
}

fn row(mode: Mode, mpps: f64, cycles: f64) -> Row {
    Row {
        mode,
        flows: 1000,
        ports: None,
        lb: LbSample {
            tx_mpps: mpps,
            rx_mpps: mpps,
            cycles_per_packet: Some(cycles),
            ..LbSample::default()
        },
        io_mpps: Some(50.0),
        macswap_mpps: Some(30.0),
        lb_runs: vec![mpps],
        notes: Vec::new(),
        clean: true,
    }
}

#[test]
fn an_ipv6_row_is_judged_against_its_ipv4_twin() {
    let rows = [row(Mode::Dr, 10.0, 200.0), row(Mode::Dr6, 9.0, 220.0)];
    let v = VsIpv4::of(&rows[1], &rows).expect("dr ran");
    assert_eq!(v.twin, Mode::Dr);
    assert!((v.mpps - 0.9).abs() < 1e-9 && v.meets_goal());
    assert!((v.cycles.unwrap() - 1.1).abs() < 1e-9);
    assert_eq!(VsIpv4::of(&rows[0], &rows), None, "IPv4 has no twin");
    let table = report::table(&rows);
    assert!(
        table.contains("0.90x dr (ok, goal 0.85), cyc/pkt 1.10x"),
        "{table}"
    );
    let slow = [row(Mode::Dr, 10.0, 200.0), row(Mode::Dr6, 8.0, 250.0)];
    assert!(!VsIpv4::of(&slow[1], &slow).unwrap().meets_goal());
    let doc = report::json(&slow, serde_json::json!({}));
    assert_eq!(doc["rows"][1]["vs_ipv4"]["meets_goal"], false);
    assert_eq!(doc["rows"][0]["vs_ipv4"], serde_json::Value::Null);
    // Without the IPv4 row in the run there is nothing to compare.
    assert_eq!(VsIpv4::of(&rows[1], &rows[1..]), None);
}

#[test]
fn the_ipv6_rows_are_offered() {
    assert_eq!(Mode::parse_list("dr6").unwrap(), vec![Mode::Dr6]);
    assert_eq!(Mode::parse_list("nat6").unwrap(), vec![Mode::Nat6]);
    assert!(Mode::ALL.contains(&Mode::Nat6));
    assert!(Mode::ALL.contains(&Mode::Dr6));
    assert_eq!(
        Mode::parse_list("fullnat6,nat64").unwrap(),
        vec![Mode::Fullnat6, Mode::Nat64]
    );
    assert!(Mode::ALL.contains(&Mode::Fullnat6) && Mode::ALL.contains(&Mode::Nat64));
    // Both are judged against IPv4 FULLNAT.
    assert_eq!(Mode::Fullnat6.ipv4_twin(), Some(Mode::Fullnat));
    assert_eq!(Mode::Nat64.ipv4_twin(), Some(Mode::Fullnat));
    let rows = [
        row(Mode::Fullnat, 10.0, 200.0),
        row(Mode::Fullnat6, 9.0, 220.0),
        row(Mode::Nat64, 8.0, 250.0),
    ];
    let table = report::table(&rows);
    assert!(table.contains("0.90x fullnat (ok, goal 0.85)"), "{table}");
    assert!(table.contains("0.80x fullnat (MISS, goal 0.85)"), "{table}");
}
