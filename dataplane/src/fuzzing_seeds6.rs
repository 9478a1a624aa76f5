//! The IPv6 seeds of the fuzz corpus (`fuzzing.rs` writes them with
//! `write_seed_corpus`), each with a test that it reaches the code it was
//! made for: fragments, Neighbour Discovery and echo, the VIP's modes,
//! NAT64, SNAT, the client's address.

use std::net::Ipv6Addr;

use super::*;
use crate::testutil;

/// A SYN over IPv6 with 800 bytes of data to the FULLNAT port with
/// TOA (444) of the VIP (a SYN with data to a PROXY port is dropped,
/// and its fragments with it).
pub(super) fn whole6_seed() -> Vec<u8> {
    use etherparse::PacketBuilder;
    let mut v = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x0c], OUR_MAC.0)
        .ipv6(
            "2001:db8::7".parse::<Ipv6Addr>().unwrap().octets(),
            ipv6::VIP6.octets(),
            64,
        )
        .tcp(40000, 444, 1, 64240)
        .syn()
        .write(&mut v, &[0x5a; 800])
        .expect("writes");
    v
}

/// The first and the last fragment of a TCP segment over IPv6 to the
/// FULLNAT port 444 of the VIP, each within the port's MTU (576: a
/// first fragment too big would refuse its datagram).
pub(super) fn fragment6_seeds() -> Vec<Vec<u8>> {
    let v = whole6_seed();
    let (eth_ip, payload) = v.split_at(14 + 40);
    [(0, true, &payload[..400]), (400, false, &payload[400..])]
        .iter()
        .map(|&(at, more, data)| {
            let mut f = eth_ip.to_vec();
            f[14 + 6] = 44;
            f[14 + 4..14 + 6].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
            f.extend_from_slice(&[6, 0]);
            f.extend_from_slice(&((at as u16) | u16::from(more)).to_be_bytes());
            f.extend_from_slice(&7u32.to_be_bytes());
            f.extend_from_slice(data);
            f
        })
        .collect()
}

/// An internal host's SYN out through the IPv6 SNAT rule, to a host
/// on interface 0's link.
pub(super) fn snat6_seed() -> Vec<u8> {
    use etherparse::PacketBuilder;
    let mut v = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x0c], OUR_MAC.0)
        .single_vlan(100.try_into().unwrap())
        .ipv6(
            "2001:db8:100::7".parse::<Ipv6Addr>().unwrap().octets(),
            "2001:db8::50".parse::<Ipv6Addr>().unwrap().octets(),
            64,
        )
        .tcp(40000, 80, 1, 64240)
        .syn()
        .write(&mut v, &[])
        .expect("writes");
    v
}

#[test]
fn the_snat6_seed_opens_a_session() {
    let c = run_pipeline(&snat6_seed());
    assert!(c.events.sessions_created >= 1, "{:?}", c.events);
    assert_eq!(c.snat[1].conns, 1, "the IPv6 rule's");
}

#[test]
fn the_ipv6_fragment_seeds_reach_the_fragment_table() {
    let seeds = fragment6_seeds();
    let c = run_pipeline(&seeds[0]);
    let d: Vec<_> = c.drops.iter().filter(|(_, n)| *n > 0).collect();
    assert!(c.events.frag.first >= 1, "{:?} {d:?}", c.events.frag);
    assert!(c.events.sessions_created >= 1, "{:?}", c.events);
    let c = run_pipeline(&seeds[1]);
    assert!(c.events.frag.held >= 1, "{:?}", c.events.frag);
    // A whole segment's fragments, made by `run_pipeline`: forwarded.
    let c = run_pipeline(&whole6_seed());
    assert!(c.events.frag.forwarded >= 1, "{:?}", c.events.frag);
}

/// A Neighbor Solicitation for 2001:db8::1 (the fuzzing pipeline's),
/// from a link-local address or, for DAD, from ::.
pub(super) fn nd_seed(dad: bool) -> Vec<u8> {
    use etherparse::{Icmpv6Type, PacketBuilder};
    let target: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let mut body = target.octets().to_vec();
    let src = match dad {
        true => Ipv6Addr::UNSPECIFIED,
        false => {
            body.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 0x0c]);
            "fe80::c".parse().unwrap()
        }
    };
    let t = Icmpv6Type::Unknown {
        type_u8: 135,
        code_u8: 0,
        bytes5to8: [0; 4],
    };
    let dst: Ipv6Addr = "ff02::1:ff00:1".parse().unwrap();
    let mut v = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x0c], [0x33, 0x33, 0xff, 0, 0, 1])
        .ipv6(src.octets(), dst.octets(), 255)
        .icmpv6(t)
        .write(&mut v, &body)
        .expect("writes");
    v
}

/// An echo request to 2001:db8::1.
pub(super) fn echo6_seed() -> Vec<u8> {
    use etherparse::{IcmpEchoHeader, Icmpv6Type, PacketBuilder};
    let t = Icmpv6Type::EchoRequest(IcmpEchoHeader { id: 1, seq: 1 });
    let mut v = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x0c], OUR_MAC.0)
        .ipv6(
            "2001:db8::c".parse::<Ipv6Addr>().unwrap().octets(),
            "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets(),
            64,
        )
        .icmpv6(t)
        .write(&mut v, b"ping6")
        .expect("writes");
    v
}

#[test]
fn a_udp_datagram_to_the_proxy_vip_is_reassembled_from_its_fragments() {
    let d = testutil::udp_frame([10, 0, 0, 1], REASM_VIP.octets(), 4000, 443, 64, &[7; 40]);
    let c = run_pipeline(&d);
    let f = c.events.frag;
    assert!(f.reasm_fragments > 0 && f.reasm_datagrams > 0, "{f:?}");
    assert!(c.events.proxy_v2_added > 0);
    assert!(c.drops.get(crate::drop::DropReason::ReasmDuplicate) > 0);
}

/// A SYN over IPv6 to the IPv6 VIP's `port` (80 DR, 81 TUN), behind a
/// hop-by-hop header.
pub(super) fn vip6_seed(port: u16) -> Vec<u8> {
    use etherparse::PacketBuilder;
    let mut v = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x0c], OUR_MAC.0)
        .ipv6(
            "2001:db8:2::7".parse::<Ipv6Addr>().unwrap().octets(),
            ipv6::VIP6.octets(),
            64,
        )
        .tcp(40000, port, 1, 64240)
        .syn()
        .write(&mut v, b"")
        .expect("writes");
    // Hop-by-hop (PadN) before TCP.
    let upper = v[20];
    v[20] = 0;
    let len = u16::from_be_bytes([v[18], v[19]]) + 8;
    v[18..20].copy_from_slice(&len.to_be_bytes());
    let tail = v.split_off(54);
    v.extend_from_slice(&[upper, 0, 1, 4, 0, 0, 0, 0]);
    v.extend_from_slice(&tail);
    v
}

/// A SYN over IPv6 to the NAT port of the VIP with hop limit 1.
pub(super) fn nat6_seed() -> Vec<u8> {
    use etherparse::PacketBuilder;
    let mut v = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x0c], OUR_MAC.0)
        .ipv6(
            "2001:db8::7".parse::<Ipv6Addr>().unwrap().octets(),
            ipv6::VIP6.octets(),
            1,
        )
        .tcp(40000, 8080, 1, 64240)
        .syn()
        .write(&mut v, b"")
        .expect("writes");
    v
}

/// A SYN over IPv6 to the FULLNAT port (443) of the VIP, and (with
/// `reply`) a backend's segment to the local address instead.
pub(super) fn fullnat6_seed(reply: bool) -> Vec<u8> {
    use etherparse::PacketBuilder;
    let client = "2001:db8::7".parse::<Ipv6Addr>().unwrap();
    let (src, dst, ports) = match reply {
        false => (client, ipv6::VIP6, (40000, 443)),
        true => (ipv6::BACKEND6, ipv6::LADDR6, (80, 1024)),
    };
    let mut v = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x0c], OUR_MAC.0)
        .ipv6(src.octets(), dst.octets(), 64)
        .tcp(ports.0, ports.1, 1, 64240)
        .syn()
        .write(&mut v, b"")
        .expect("writes");
    v
}

#[test]
fn the_ipv6_fullnat_seeds_reach_both_directions() {
    let c = run_pipeline(&fullnat6_seed(false));
    assert!(c.events.sessions_created >= 1, "{:?}", c.events);
    assert!(c.events.nd.solicitations_sent >= 1, "{:?}", c.events.nd);
    // A reply to the local address is looked up: no session here.
    let c = run_pipeline(&fullnat6_seed(true));
    assert!(c.drops.get(crate::drop::DropReason::NoSession) >= 1);
}

/// A client's SYN (MSS 1440, `data` riding on it) or UDP datagram to
/// the IPv6 VIP's `port`: the FULLNAT services that pass the client's
/// address (443 PROXY v2, 444 TOA).
pub(super) fn client_addr6_seed(port: u16, tcp: bool, data: &[u8]) -> Vec<u8> {
    use etherparse::{PacketBuilder, TcpOptionElement};
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x0c], OUR_MAC.0).ipv6(
        "2001:db8::7".parse::<Ipv6Addr>().unwrap().octets(),
        ipv6::VIP6.octets(),
        64,
    );
    let mut v = Vec::new();
    match tcp {
        true => b
            .tcp(40000, port, 1, 64240)
            .syn()
            .options(&[TcpOptionElement::MaximumSegmentSize(1440)])
            .expect("fits")
            .write(&mut v, data),
        false => b.udp(40000, port).write(&mut v, data),
    }
    .expect("writes");
    v
}

#[test]
fn the_ipv6_client_address_seeds_reach_the_header_and_toa() {
    let c = run_pipeline(&client_addr6_seed(443, true, b"early"));
    assert!(c.drops.get(crate::drop::DropReason::ProxySynData) >= 1);
    let c = run_pipeline(&client_addr6_seed(443, true, b""));
    assert!(c.events.sessions_created >= 1, "{:?}", c.events);
    let c = run_pipeline(&client_addr6_seed(444, true, b""));
    assert!(c.events.toa_mss_lowered >= 1, "{:?}", c.events);
    let c = run_pipeline(&client_addr6_seed(443, false, b"query"));
    assert!(c.events.proxy_v2_added >= 1, "{:?}", c.events);
}

#[test]
fn the_ipv6_nat_seed_reaches_time_exceeded() {
    let c = run_pipeline(&nat6_seed());
    assert!(c.events.sessions_created >= 1, "{:?}", c.events);
    assert!(c.drops.get(crate::drop::DropReason::TtlExceeded) >= 1);
    assert!(c.events.nd.icmpv6_errors_sent >= 1, "{:?}", c.events.nd);
}

/// The NAT64 service's first packet (IPv6, port 6464), and an IPv4
/// segment to its local address (a backend's reply it has no session
/// for).
pub(super) fn nat64_seeds() -> [Vec<u8>; 2] {
    use etherparse::PacketBuilder;
    let mut syn = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x0c], OUR_MAC.0)
        .ipv6(
            "2001:db8::7".parse::<Ipv6Addr>().unwrap().octets(),
            ipv6::VIP6.octets(),
            64,
        )
        .tcp(40000, 6464, 1, 64240)
        .syn()
        .write(&mut syn, b"")
        .expect("writes");
    let mut reply = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x0c], OUR_MAC.0)
        .ipv4([10, 0, 1, 11], super::NAT64_LOCAL.octets(), 64)
        .tcp(80, 1025, 1, 64240)
        .syn()
        .ack(2)
        .write(&mut reply, b"")
        .expect("writes");
    [syn, reply]
}

#[test]
fn the_nat64_seeds_reach_the_translation_and_the_reply_lookup() {
    let [syn, reply] = nat64_seeds();
    let c = run_pipeline(&syn);
    assert!(c.events.sessions_created >= 1, "{:?}", c.events);
    assert!(c.events.nat64_to_ipv4 >= 1, "{:?}", c.events);
    let c = run_pipeline(&reply);
    assert!(c.drops.get(crate::drop::DropReason::NoSession) >= 1);
}

/// The pipeline cuts a datagram to the NAT64 UDP service into IPv6
/// fragments (a 32-byte first one: its last byte is 3): each
/// translated to IPv4, the later ones by their first one's decision.
#[test]
fn the_nat64_seed_in_fragments_reaches_the_fragment_translation() {
    use etherparse::PacketBuilder;
    let mut datagram = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x0c], OUR_MAC.0)
        .ipv6(
            "2001:db8::7".parse::<Ipv6Addr>().unwrap().octets(),
            ipv6::VIP6.octets(),
            64,
        )
        .udp(40000, 6464)
        .write(&mut datagram, &[9; 43])
        .expect("writes");
    *datagram.last_mut().expect("a byte") = 3;
    // The UDP checksum is not checked on the way: left as it was.
    let c = run_pipeline(&datagram);
    let d: Vec<_> = c.drops.iter().filter(|(_, n)| *n > 0).collect();
    assert!(c.events.frag.first >= 1, "{:?} {d:?}", c.events.frag);
    assert!(c.events.frag.forwarded >= 1, "{:?}", c.events.frag);
    assert!(c.events.nat64_to_ipv4 >= 3, "{:?}", c.events);
}

#[test]
fn the_ipv6_dr_and_tun_seeds_reach_the_forwarding_path() {
    for port in [80, 81] {
        let c = run_pipeline(&vip6_seed(port));
        assert!(c.events.sessions_created >= 1, "{:?}", c.events);
        // Its backend is not resolved in the fuzzing pipeline: solicited.
        assert!(c.events.nd.solicitations_sent >= 1, "{:?}", c.events.nd);
    }
}

#[test]
fn the_ipv6_seeds_reach_the_answers() {
    use crate::net::addrs::Addr6Set;
    use crate::net::nd::{inspect, Ipv6Local};
    let owned = Addr6Set::new(["2001:db8::1".parse().unwrap()]);
    let kinds: Vec<_> = [nd_seed(false), nd_seed(true), echo6_seed()]
        .iter()
        .map(|f| match inspect(f, 14, &owned) {
            Ok(Ipv6Local::Solicitation(s)) => (s.is_dad() as u8) + 1,
            Ok(Ipv6Local::Echo(_)) => 3,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, vec![1, 2, 3]);
}
