//! IPv6 for the fuzzer: the host side (`net::nd`, MLD, our ICMPv6
//! errors), whose answers must be IPv6 packets whose ICMPv6 checksum
//! verifies; TUN's IPv6-in-IPv6 encapsulation of every flow; the config's
//! IPv6 services (DR, TUN, NAT, NAT64 on TCP and UDP, FULLNAT); and the check
//! of what the pipeline forwarded over IPv6.

use std::net::Ipv6Addr;

use super::OUR_MAC;
use crate::buf::{PacketBuf, TestBuf};
use crate::client_addr::proxy_header::ProxyVersion;
use crate::drop::DropCounters;
use crate::net::addrs::Addr6Set;
use crate::net::icmp6::build_icmpv6_error;
use crate::net::mld;
use crate::net::nd::{self, Ipv6Local};
use crate::packet6::{classify_ipv6, Ipv6Flow, Ipv6Meta};
use crate::tables::{BackendSpec, Mode, ServiceSpec};
use crate::tunnel6::{encapsulate_ip6ip6, Tunnel6};
use crate::tuple::IpProto;
use crate::wire::icmpv6::field::ND_TARGET;
use crate::wire::ipv6::{field, NextHeader, FRAGMENT_HEADER_LEN, IPV6_HEADER_LEN};
use crate::wire::mld::RecordType;
use crate::wire::{Icmpv6Packet, Ipv6Packet};

/// The IPv6 host side on `data`, owning what the packet names (its
/// destination and a Neighbour Discovery target) so the answers are
/// written too, and owning nothing.
pub(super) fn run_ipv6(data: &[u8], l3: usize, drops: &mut DropCounters) {
    let addr_at = |at: usize| {
        let mut a = [0u8; 16];
        if let Some(b) = data.get(at..at + 16) {
            a.copy_from_slice(b);
        }
        Ipv6Addr::from(a)
    };
    let dst = addr_at(l3 + field::DST_ADDR.start);
    let target = addr_at(l3 + IPV6_HEADER_LEN + ND_TARGET.start);
    if let Ok(Ipv6Flow::Flow(meta)) = classify_ipv6(data, l3) {
        check_tunnel6(data, &meta);
    }
    own_nd(addr_at(l3 + field::SRC_ADDR.start), dst);
    own_icmpv6_errors(data, l3, dst);
    for owned in [Addr6Set::new([dst, target]), Addr6Set::default()] {
        let mut frame = data.to_vec();
        let len = match nd::inspect(data, l3, &owned) {
            Err(reason) => {
                drops.count(reason);
                continue;
            }
            Ok(Ipv6Local::NotOurs | Ipv6Local::Advertisement(_)) => continue,
            Ok(Ipv6Local::MldQuery(q)) => {
                own_mld(q.group.unwrap_or(dst), target);
                continue;
            }
            Ok(Ipv6Local::Solicitation(s)) => {
                frame.resize(nd::advertisement_len(l3), 0);
                assert!(nd::write_advertisement(&mut frame, l3, OUR_MAC, &s));
                frame.len()
            }
            Ok(Ipv6Local::Echo(e)) => {
                assert!(nd::write_echo_reply(&mut frame, l3, OUR_MAC, &e));
                nd::echo_reply_len(l3, &e)
            }
        };
        frame.truncate(len);
        assert_icmpv6_answer(&frame, l3);
    }
}

/// Our ICMPv6 errors about the packet: each either refused with nothing
/// written or a whole ICMPv6 message whose checksum verifies.
fn own_icmpv6_errors(data: &[u8], l3: usize, ours: Ipv6Addr) {
    for what in [(2, 0, 1280), (3, 0, 0), (1, 4, 0), (4, 2, 40)] {
        let mut buf = TestBuf::new(data);
        if build_icmpv6_error(&mut buf, l3, what, ours) {
            assert_icmpv6_answer(buf.data(), l3);
        } else {
            assert_eq!(buf.data(), data, "a refused error writes nothing");
        }
    }
}

/// Our own messages about addresses the packet names (stage 1b): a
/// solicitation for `peer` from `ours`, an unsolicited advertisement of
/// `ours`, untagged and tagged; each must parse and verify.
fn own_nd(peer: Ipv6Addr, ours: Ipv6Addr) {
    for vlan in [None, Some(0x0fff)] {
        let len = nd::our_nd_frame_len(vlan);
        let l3 = len - crate::wire::ipv6::IPV6_HEADER_LEN - nd::ADVERTISEMENT_LEN;
        let mut f = vec![0; len];
        assert!(nd::write_solicitation(&mut f, vlan, OUR_MAC, ours, peer));
        assert_icmpv6_answer(&f, l3);
        assert!(nd::write_unsolicited_advertisement(
            &mut f, vlan, OUR_MAC, ours
        ));
        assert_icmpv6_answer(&f, l3);
    }
}

/// Our MLD report for `group` (as a query asked) from `src`, untagged and
/// tagged: through the Hop-by-Hop header to an ICMPv6 message whose
/// checksum verifies.
fn own_mld(group: Ipv6Addr, src: Ipv6Addr) {
    for vlan in [None, Some(0x0fff)] {
        let mut f = vec![0; mld::report_frame_len(vlan, 1)];
        let kind = RecordType::MODE_IS_EXCLUDE;
        assert!(mld::write_report(
            &mut f,
            (vlan, OUR_MAC),
            src,
            kind,
            &[group]
        ));
        let l3 = 14 + if vlan.is_some() { 4 } else { 0 };
        let ip = Ipv6Packet::new(&f[l3..]).expect("our report parses");
        let chain = ip.walk().expect("its chain walks");
        assert_eq!(chain.proto, NextHeader::ICMPV6);
        let msg = Icmpv6Packet::new(&f[l3 + chain.l4_offset..]).expect("ICMPv6");
        assert!(
            msg.checksum_ok(ip.src(), ip.dst()),
            "our MLD checksum verifies"
        );
    }
}

/// `frame` holds, at `l3`, an IPv6 packet with an ICMPv6 message right
/// after the fixed header, exactly as long as its payload length says, its
/// checksum verified.
pub(super) fn assert_icmpv6_answer(frame: &[u8], l3: usize) {
    use crate::wire::Ipv6Packet;
    let ip = Ipv6Packet::new(frame.get(l3..).unwrap_or(&[])).expect("an IPv6 answer parses");
    assert_eq!(ip.next_header(), NextHeader::ICMPV6);
    assert_eq!(
        l3 + IPV6_HEADER_LEN + usize::from(ip.payload_len()),
        frame.len()
    );
    let msg = Icmpv6Packet::new(&frame[l3 + IPV6_HEADER_LEN..]).expect("ICMPv6");
    assert!(
        msg.checksum_ok(ip.src(), ip.dst()),
        "our ICMPv6 checksum verifies"
    );
}

/// The fuzzing config's IPv6 VIP: TCP 80 by DR, TCP 81 by TUN, both to
/// [`BACKEND6`] on interface 0's link.
pub(super) const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0x10);
pub(super) const BACKEND6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x11);
/// The local address of the IPv6 FULLNAT service (TCP 443 of [`VIP6`]).
pub(super) const LADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
/// The IPv6 SNAT rule's source prefix (/64, interface 1's) and address.
pub(super) const SNAT6_SOURCE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0);
pub(super) const SNAT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x200);

/// An IPv6 frame the pipeline sent that is not ICMPv6 is a VIP's TCP flow
/// forwarded by DR: it still classifies as one, to the VIP; or by NAT: to
/// the backend, or back from the VIP; or by FULLNAT: to the backend from
/// the local address, or back from the VIP; or by TUN: an outer header to the
/// backend, as long as the frame, with such a flow inside; or by SNAT: out
/// from the SNAT address on a port of its pool, or back to an internal host.
pub(super) fn assert_forwarded6(frame: &[u8], l3: usize) {
    match classify_ipv6(frame, l3) {
        Ok(Ipv6Flow::Flow(m)) => {
            let internal = |a: Ipv6Addr| a.segments()[..4] == SNAT6_SOURCE.segments()[..4];
            assert!(
                m.tuple.dst == VIP6
                    || m.tuple.dst == BACKEND6
                    || m.tuple.src == VIP6
                    || m.tuple.src == SNAT6
                    || internal(m.tuple.dst),
                "{m:?}"
            );
            if m.tuple.src == SNAT6 {
                assert!((1024..=1100).contains(&m.tuple.src_port), "{m:?}");
            }
            // FULLNAT's source is its local address, on a port of its pool.
            if m.tuple.src == LADDR6 {
                assert!((1024..=1100).contains(&m.tuple.src_port), "{m:?}");
            }
        }
        // A fragment (`pipeline/fragment6.rs`): to the VIP (DR), to the
        // backend (NAT, FULLNAT), or back from the VIP.
        Ok(Ipv6Flow::Fragment(_)) => {
            let ip = Ipv6Packet::new(&frame[l3..]).expect("classified");
            assert!(
                ip.dst() == VIP6 || ip.dst() == BACKEND6 || ip.src() == VIP6,
                "a fragment we sent from {} to {}",
                ip.src(),
                ip.dst()
            );
        }
        Ok(Ipv6Flow::Other(NextHeader::IPV6)) => {
            let outer = Ipv6Packet::new(&frame[l3..]).expect("classified");
            assert_eq!(outer.dst(), BACKEND6, "a tunnel goes to the backend");
            let end = l3 + IPV6_HEADER_LEN + usize::from(outer.payload_len());
            assert_eq!(end, frame.len(), "no padding after a tunnel");
            match classify_ipv6(frame, l3 + IPV6_HEADER_LEN) {
                Ok(Ipv6Flow::Flow(m)) => assert_eq!(m.tuple.dst, VIP6),
                Ok(Ipv6Flow::Fragment(_)) => {
                    let inner = Ipv6Packet::new(&frame[l3 + IPV6_HEADER_LEN..]).expect("inner");
                    assert_eq!(inner.dst(), VIP6, "a tunnelled fragment goes to the VIP");
                }
                other => panic!("a tunnel we sent holds no VIP's flow: {other:?}"),
            }
        }
        other => panic!("an IPv6 frame we sent is not a VIP's flow: {other:?}"),
    }
}

/// A whole IPv6 TCP or UDP packet at `l3` of `data` (no extension
/// headers) cut into fragments (8 payload bytes each after the first,
/// whose size the packet's own bytes choose, at most 8), each with a
/// fragment header (RFC 8200 4.5); nothing for anything else.
pub(super) fn fragments6_of(data: &[u8], l3: usize) -> Vec<Vec<u8>> {
    let Ok(Ipv6Flow::Flow(m)) = classify_ipv6(data, l3) else {
        return Vec::new();
    };
    if m.extensions != 0 {
        return Vec::new();
    }
    let start = l3 + IPV6_HEADER_LEN;
    let payload = data.get(start..usize::from(m.len) + l3).unwrap_or(&[]);
    let header = data.get(..start).unwrap_or(&[]);
    let next = m.tuple.proto.0;
    let first = 8 * (1 + usize::from(data.last().copied().unwrap_or(0) % 4));
    let mut out = Vec::new();
    let mut at = 0;
    while at < payload.len() && out.len() < 8 {
        let size = if at == 0 { first } else { 8 };
        let end = (at + size).min(payload.len());
        let mut f = header.to_vec();
        if let Some(h) = f.get_mut(l3..start) {
            h[field::NEXT_HEADER] = NextHeader::FRAGMENT;
            let len = (FRAGMENT_HEADER_LEN + end - at) as u16;
            h[field::PAYLOAD_LEN].copy_from_slice(&len.to_be_bytes());
        }
        let word = (at as u16) | u16::from(end < payload.len());
        f.extend_from_slice(&[next, 0]);
        f.extend_from_slice(&word.to_be_bytes());
        f.extend_from_slice(&0x5eed_u32.to_be_bytes());
        f.extend_from_slice(payload.get(at..end).unwrap_or(&[]));
        out.push(f);
        at = end;
    }
    out
}

/// TUN's encapsulation of the IPv6 flow `meta` of `data`, at MTUs it fits,
/// just does not fit, and cannot report: a refusal writes nothing, an
/// outer header holds the packet exactly, with no padding behind it.
pub(super) fn check_tunnel6(data: &[u8], meta: &Ipv6Meta) {
    let inner = data.get(meta.l3_offset..meta.l3_offset + usize::from(meta.len));
    let Some(inner) = inner else { return };
    let fit = u16::try_from(inner.len() + IPV6_HEADER_LEN).unwrap_or(u16::MAX);
    for egress_mtu in [fit, fit.saturating_sub(1), 1300] {
        let tun = Tunnel6 {
            src: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            dst: BACKEND6,
            hop_limit: 64,
            egress_mtu,
        };
        let mut buf = TestBuf::new(data);
        match encapsulate_ip6ip6(&mut buf, meta, &tun) {
            Ok(()) => {
                let out = buf.data();
                let l3 = meta.l3_offset;
                assert_eq!(out.get(..l3), data.get(..l3), "the L2 header is kept");
                let outer = Ipv6Packet::new(&out[l3..]).expect("an outer header");
                assert_eq!((outer.src(), outer.dst()), (tun.src, tun.dst));
                assert_eq!(outer.next_header(), NextHeader::IPV6);
                assert_eq!(usize::from(outer.payload_len()), inner.len());
                assert_eq!(&out[l3 + IPV6_HEADER_LEN..], inner);
                assert!(out.len() - l3 <= usize::from(egress_mtu));
            }
            Err(_) => assert_eq!(buf.data(), data, "a refused encapsulation changes nothing"),
        }
    }
}

/// The fuzzing config's IPv6 services on [`VIP6`], made by `service` (the
/// IPv4 services' template) with `backend`'s weight and thresholds: DR
/// (TCP 80), TUN (81), NAT (8080, PROXY v1), NAT64 (6464, from an IPv4
/// local address, PROXY v2) and FULLNAT (from [`LADDR6`]: TCP and UDP 443 with
/// PROXY v2, TCP 444 with TOA).
pub(super) fn services6(
    service: &dyn Fn(Mode, IpProto, u16) -> ServiceSpec,
    backend: BackendSpec,
) -> Vec<ServiceSpec> {
    vec![
        // DR and TUN.
        ServiceSpec {
            vip: VIP6.into(),
            backends: vec![BackendSpec {
                addr: BACKEND6.into(),
                ..backend
            }],
            ..service(Mode::Dr, IpProto::TCP, 80)
        },
        ServiceSpec {
            vip: VIP6.into(),
            backends: vec![BackendSpec {
                addr: BACKEND6.into(),
                ..backend
            }],
            ..service(Mode::Tun, IpProto::TCP, 81)
        },
        // NAT, the same VIP and backend, port 8080, with a PROXY v1
        // header (`pipeline/client_addr6.rs`: odd length, the shift).
        ServiceSpec {
            vip: VIP6.into(),
            backends: vec![BackendSpec {
                addr: BACKEND6.into(),
                port: 8080,
                ..backend
            }],
            proxy_protocol: Some(ProxyVersion::V1),
            // (Not proxied, as the config has it: the SYN proxy with a
            // PROXY header is not built for IPv6.)
            syn_proxy: false,
            ..service(Mode::Nat, IpProto::TCP, 8080)
        },
        // NAT64: the IPv6 VIP's port 6464 to the IPv4 backend, from a
        // local address of its own (`pipeline/nat64.rs`), with a PROXY
        // v2 header (AF_INET6 on the IPv4 leg).
        ServiceSpec {
            vip: VIP6.into(),
            local_addrs: vec![super::NAT64_LOCAL],
            proxy_protocol: Some(ProxyVersion::V2),
            ..service(Mode::FullNat, IpProto::TCP, 6464)
        },
        // NAT64 on UDP, no header: the harness's IPv6 fragments of a
        // datagram to it reach the fragments' translation
        // (`pipeline/nat64_frag.rs`).
        ServiceSpec {
            vip: VIP6.into(),
            local_addrs: vec![super::NAT64_LOCAL],
            ..service(Mode::FullNat, IpProto::UDP, 6464)
        },
        // FULLNAT: the same VIP and backend, port 443, with a PROXY v2
        // header on TCP and on UDP's first datagram; TOA on port 444.
        fullnat6(
            service(Mode::FullNat, IpProto::TCP, 443),
            backend,
            Some(ProxyVersion::V2),
        ),
        fullnat6(
            service(Mode::FullNat, IpProto::UDP, 443),
            backend,
            Some(ProxyVersion::V2),
        ),
        ServiceSpec {
            toa: true,
            ..fullnat6(service(Mode::FullNat, IpProto::TCP, 444), backend, None)
        },
        // The SYN proxy on FULLNAT (`pipeline/synproxy6.rs`): any segment
        // to port 445 with no session is a SYN answered, a cookie checked
        // (and a bad one answered with a RST), or dropped by name.
        ServiceSpec {
            syn_proxy: true,
            ..fullnat6(service(Mode::FullNat, IpProto::TCP, 445), backend, None)
        },
    ]
}

/// `s` as an IPv6 FULLNAT service to [`BACKEND6`] from [`LADDR6`], with
/// `proxy_protocol`.
fn fullnat6(
    s: ServiceSpec,
    backend: BackendSpec,
    proxy_protocol: Option<ProxyVersion>,
) -> ServiceSpec {
    ServiceSpec {
        vip: VIP6.into(),
        backends: vec![BackendSpec {
            addr: BACKEND6.into(),
            ..backend
        }],
        local_addrs: Vec::new(),
        local_addrs6: vec![LADDR6],
        proxy_protocol,
        ..s
    }
}
