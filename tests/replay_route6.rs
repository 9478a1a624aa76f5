//! Pcap replay of IPv6 routes, static neighbours and Packet Too Big
//! (issue 20; docs/ipv6.md): the real binary, two-armed, clients behind a
//! router reached by an IPv6 static route on `lan`, an IPv6 DR service
//! whose backend on `servers` (MTU 1280) is a static neighbour. The SYN
//! leaves for the backend at once (nothing solicited); a segment larger
//! than the servers' MTU comes back to the client as an ICMPv6 Packet Too
//! Big from our `lan` address, decoded and checksummed by etherparse; one
//! that fits is forwarded.

mod common;

use std::net::Ipv6Addr;

use common::lb::*;
use common::{assert_frames_eq, CasePort, Replay};
use etherparse::{Icmpv6Type, NetHeaders, PacketBuilder, PacketHeaders, TransportHeader};

const OUR_LAN6: &str = "2001:db8:2::1";
const ROUTER6: &str = "2001:db8:2::fe";
const CLIENT6: &str = "2001:db8:3::7";
const VIP6: &str = "2001:db8:10::10";
const RIP6: &str = "2001:db8:1::11";
const RS_MAC: Mac = [0x02, 0, 0, 0, 1, 0x11];
const SERVERS_MTU: u16 = 1280;

fn a6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().expect("address").octets()
}

fn config() -> String {
    format!(
        r#"[sessions]
capacity = 4096

[garp]
count = 0

[[interface]]
port = "lan"
addresses = ["10.0.0.1/24", "{OUR_LAN6}/64"]

[[interface]]
port = "servers"
addresses = ["10.0.1.1/24", "2001:db8:1::1/64"]

[[route]]
prefix = "2001:db8:3::/48"
via = "{ROUTER6}"

[[neighbour]]
address = "{ROUTER6}"
mac = "{}"

[[neighbour]]
address = "{RIP6}"
mac = "{}"

[[service]]
vip = "{VIP6}"
protocol = "tcp"
port = 80
mode = "dr"

[[service.backend]]
address = "{RIP6}"
"#,
        mac_text(ROUTER_MAC),
        mac_text(RS_MAC)
    )
}

/// The client's TCP segment to the VIP, as the router forwards it to us.
fn tcp6(syn: bool, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(ROUTER_MAC, LAN_MAC)
        .ipv6(a6(CLIENT6), a6(VIP6), 60)
        .tcp(40000, 80, 7, 64240);
    let b = match syn {
        true => b.syn(),
        false => b.ack(1000),
    };
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("writes");
    v
}

/// `frame` as DR sends it to the backend: only the MACs changed.
fn to_backend(frame: &[u8]) -> Vec<u8> {
    let mut v = frame.to_vec();
    v[..6].copy_from_slice(&RS_MAC);
    v[6..12].copy_from_slice(&SERVERS_MAC);
    v
}

#[test]
fn a_static_neighbour_backend_and_packet_too_big_at_its_links_mtu() {
    let syn = tcp6(true, b"");
    let big = tcp6(false, &[0x42; 1300]);
    let fits = tcp6(false, &[0x43; 1200]);
    let run = Replay {
        ports: vec![
            CasePort::new("lan", vec![syn.clone(), big.clone(), fits.clone()]).with_mac(LAN_MAC),
            CasePort::new("servers", Vec::new())
                .with_mac(SERVERS_MAC)
                .with_mtu(SERVERS_MTU),
        ],
        config: config(),
        cores: vec![1],
    }
    .run();
    run.assert_ok_and_checksums(&["lan", "servers"]);
    // The backend is a static neighbour: no solicitation, the SYN and the
    // segment that fits go straight to it.
    assert_frames_eq(
        "servers",
        &[to_backend(&syn), to_backend(&fits)],
        &run.sent[1],
    );
    assert_eq!(run.event("nd_solicitations_sent"), 0);
    // The one too big: Packet Too Big back to the router's MAC, from our
    // lan address to the client, quoting what fits in 1280 bytes.
    assert_eq!(run.sent[0].len(), 1, "one frame on lan");
    let f = &run.sent[0][0];
    assert_eq!((&f[..6], &f[6..12]), (&ROUTER_MAC[..], &LAN_MAC[..]));
    let p = PacketHeaders::from_ethernet_slice(f).expect("decodes");
    let (Some(NetHeaders::Ipv6(ip, _)), Some(TransportHeader::Icmpv6(icmp))) =
        (&p.net, &p.transport)
    else {
        panic!("not ICMPv6: {p:?}")
    };
    assert_eq!(
        icmp.icmp_type,
        Icmpv6Type::PacketTooBig {
            mtu: u32::from(SERVERS_MTU)
        }
    );
    let quote = p.payload.slice();
    let sum = icmp
        .icmp_type
        .calc_checksum(ip.source, ip.destination, quote)
        .expect("sums");
    assert_eq!(icmp.checksum, sum, "ICMPv6 checksum");
    assert_eq!((ip.source, ip.destination), (a6(OUR_LAN6), a6(CLIENT6)));
    assert_eq!(quote, &big[14..14 + 1280 - 48]);
    assert_eq!(run.event("icmpv6_errors_sent"), 1);
    run.assert_drops(&[("packet_too_big", 1)]);
}

/// The interface of `replay_ipv6_ctl.rs`'s lab: the backends' /64.
const CTL_BODY: &str = r#"
[[interface]]
port = "lan"
addresses = ["10.0.0.1/24", "2001:db8:1::1/64"]
"#;

#[test]
fn ferrolbctl_adds_lists_and_deletes_ipv6_routes_and_neighbours() {
    use common::appliance::Appliance;
    let app = Appliance::start(CTL_BODY, &[tcp6(true, b"")]);
    app.ctl_ok(&["route", "add", "2001:db8:9::/48", "via", "2001:db8:1::fe"]);
    app.ctl_ok(&["neigh", "add", "2001:db8:1::fe", "02:00:00:00:00:fd"]);
    let routes = app.ctl_json(&["route", "list"]);
    let rows = routes["routes"].as_array().expect("routes");
    let row = rows
        .iter()
        .find(|r| r["prefix"] == "2001:db8:9::/48")
        .unwrap_or_else(|| panic!("the route listed: {routes}"));
    assert_eq!(row["via"], "2001:db8:1::fe", "{routes}");
    assert!(
        rows.iter()
            .any(|r| r["prefix"] == "2001:db8:1::/64" && r["via"].is_null()),
        "the connected /64: {routes}"
    );
    let neighbours = app.ctl_json(&["neigh", "list"]);
    assert!(
        neighbours["neighbours"]
            .as_array()
            .expect("neighbours")
            .iter()
            .any(|n| n["address"] == "2001:db8:1::fe"
                && n["mac"] == "02:00:00:00:00:fd"
                && n["state"] == "static"),
        "{neighbours}"
    );
    // Refused, naming the key: a gateway of the other family, one off
    // every connected IPv6 prefix.
    for via in ["10.0.0.254", "2001:db8:7::1"] {
        let out = app.ctl(&["route", "add", "2001:db8:8::/48", "via", via]);
        assert!(!out.status.success(), "{via}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("route[1].via"), "{via}: {err}");
    }
    app.ctl_ok(&["route", "delete", "2001:db8:9::/48"]);
    app.ctl_ok(&["neigh", "delete", "2001:db8:1::fe"]);
    let routes = app.ctl_json(&["route", "list"]);
    assert!(
        !routes["routes"]
            .as_array()
            .expect("routes")
            .iter()
            .any(|r| r["prefix"] == "2001:db8:9::/48"),
        "{routes}"
    );
    app.stop();
}
