//! NAT64 translation for the fuzzer: whatever classifies as a TCP or UDP
//! flow or as an ICMP error is translated to the other family. A refusal
//! must write nothing; a translated packet must classify again in the other
//! family with the endpoints it was given, its L4 checksum verifying when
//! the input's did, and a translated error's ICMP checksum must verify. A
//! fragment (first or later, either family) must come out a fragment of
//! the other family with the same identification (IPv6's low 16 bits),
//! offset and more-fragments flag; a first one with the given endpoints.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use crate::buf::{PacketBuf, TestBuf};
use crate::checksum;
use crate::nat64::{
    error_to_ipv4, error_to_ipv6, later_to_ipv4, later_to_ipv6, to_ipv4, to_ipv6, ErrorTo4,
    ErrorTo6, To4, To6,
};
use crate::packet::{classify, Classified, Ipv4Meta, L4Kind};
use crate::packet6::{classify_fragment, classify_ipv6, Fragment6, Ipv6Flow};
use crate::tuple::IpProto;
use crate::wire::icmpv6::Icmpv6Packet;
use crate::wire::ipv6::{Ipv6Packet, NextHeader, IPV6_HEADER_LEN};
use crate::wire::udp;

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const BACKEND: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 11);
const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 7);

const TO4: To4 = To4 {
    src: SocketAddrV4::new(LOCAL, 40000),
    dst: SocketAddrV4::new(BACKEND, 8080),
    ident: 9,
};
const TO6: To6 = To6 {
    src: SocketAddrV6::new(VIP, 80, 0, 0),
    dst: SocketAddrV6::new(CLIENT, 51000, 0, 0),
};

/// Which translation took a packet (for the harness's own tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Translated {
    ToIpv4,
    ToIpv6,
    ErrorToIpv6,
    ErrorToIpv4,
    /// A first fragment or a later one, either way.
    FirstToIpv4,
    LaterToIpv4,
    FirstToIpv6,
    LaterToIpv6,
}

/// Runs `data` through every NAT64 translation that applies; says which
/// one translated it, if one did.
pub(super) fn run_nat64(data: &[u8]) -> Option<Translated> {
    match classify(data) {
        Ok(Classified::Ipv6 { l3_offset, .. }) => match classify_ipv6(data, l3_offset) {
            Ok(Ipv6Flow::Flow(meta)) => {
                let segment = data.get(meta.l4_offset..l3_offset + usize::from(meta.len));
                let t = &meta.tuple;
                let verified = segment.is_some_and(|s| {
                    checksum::ipv6_l4_verifies(t.src, t.dst, t.proto.0, s)
                        && !(t.proto == IpProto::UDP
                            && s.get(udp::field::CHECKSUM) == Some(&[0, 0]))
                });
                let mut buf = TestBuf::new(data);
                match to_ipv4(&mut buf, &meta, &TO4) {
                    Err(_) => {
                        assert_eq!(buf.data(), data, "a refusal writes nothing");
                        None
                    }
                    Ok(()) => {
                        check_ipv4(buf.data(), t.proto, verified);
                        Some(Translated::ToIpv4)
                    }
                }
            }
            Ok(Ipv6Flow::Fragment(_)) => fragment_from_ipv6(data, l3_offset),
            _ => error_from_ipv6(data, l3_offset),
        },
        Ok(Classified::Ipv4(meta)) if meta.fragment.is_some() => fragment_from_ipv4(data, &meta),
        Ok(Classified::Ipv4(meta)) => {
            let mut buf = TestBuf::new(data);
            let (result, kind) = match meta.kind {
                L4Kind::IcmpError { .. } => {
                    let to = ErrorTo6 {
                        src: VIP,
                        dst: CLIENT,
                        mtu: 1500,
                        quoted: To6 {
                            src: TO6.dst,
                            dst: TO6.src,
                        },
                    };
                    let r = error_to_ipv6(&mut buf, &meta, &to).map(|()| check_icmpv6(buf.data()));
                    (r, Translated::ErrorToIpv6)
                }
                _ => {
                    let verified = super::l4_ok(data, &meta);
                    let r = to_ipv6(&mut buf, &meta, &TO6)
                        .map(|()| check_ipv6(buf.data(), meta.tuple.proto, verified));
                    (r, Translated::ToIpv6)
                }
            };
            if result.is_err() {
                assert_eq!(buf.data(), data, "a refusal writes nothing");
            }
            result.ok().map(|()| kind)
        }
        _ => None,
    }
}

/// A translated IPv6 → IPv4 packet: it classifies with `TO4`'s endpoints,
/// and its checksum verifies if the input's did.
fn check_ipv4(frame: &[u8], proto: IpProto, verified: bool) {
    let Ok(Classified::Ipv4(m)) = classify(frame) else {
        panic!(
            "a translated packet classifies as IPv4: {:?}",
            classify(frame)
        )
    };
    let t = m.tuple;
    assert_eq!(
        (t.src, t.src_port, t.dst, t.dst_port, t.proto),
        (LOCAL, 40000, BACKEND, 8080, proto)
    );
    if verified {
        let l4 = frame.get(m.l4_offset..m.ip_end()).unwrap_or(&[]);
        assert!(
            checksum::l4_verifies(t.src, t.dst, t.proto, l4),
            "the L4 checksum still verifies"
        );
    }
}

/// A translated IPv4 → IPv6 packet: it classifies with `TO6`'s endpoints,
/// and its checksum verifies if the input's did.
fn check_ipv6(frame: &[u8], proto: IpProto, verified: bool) {
    let Ok(Classified::Ipv6 { l3_offset, .. }) = classify(frame) else {
        panic!("a translated packet classifies as IPv6")
    };
    let Ok(Ipv6Flow::Flow(m)) = classify_ipv6(frame, l3_offset) else {
        panic!("a translated packet is a flow")
    };
    let t = m.tuple;
    assert_eq!(
        (t.src, t.src_port, t.dst, t.dst_port, t.proto),
        (VIP, 80, CLIENT, 51000, proto)
    );
    if verified {
        let l4 = frame
            .get(m.l4_offset..l3_offset + usize::from(m.len))
            .unwrap_or(&[]);
        assert!(
            checksum::ipv6_l4_verifies(t.src, t.dst, t.proto.0, l4),
            "the L4 checksum verifies"
        );
    }
}

/// An IPv6 fragment translated to IPv4 (a first one with its ports, a
/// later one its header only): refused with nothing written, or an IPv4
/// fragment of the same identification's low bits, offset and flag.
fn fragment_from_ipv6(data: &[u8], l3: usize) -> Option<Translated> {
    let ip = Ipv6Packet::new(data.get(l3..)?).ok()?;
    let f: Fragment6 = classify_fragment(&ip, l3).ok()??;
    let frag = ip.walk().ok()?.fragment?;
    let mut buf = TestBuf::new(data);
    let (r, kind) = match f.first {
        true => (to_ipv4(&mut buf, &f.meta, &TO4), Translated::FirstToIpv4),
        false => (
            later_to_ipv4(&mut buf, &f.meta, (LOCAL, BACKEND)),
            Translated::LaterToIpv4,
        ),
    };
    if r.is_err() {
        assert_eq!(buf.data(), data, "a refusal writes nothing");
        return None;
    }
    let Ok(Classified::Ipv4(m)) = classify(buf.data()) else {
        panic!("a translated fragment is IPv4: {:?}", classify(buf.data()))
    };
    assert_eq!(m.fragment, Some(frag.ident as u16));
    let (offset, more) = match m.kind {
        L4Kind::Fragment { offset, more } => (offset, more),
        _ => (0, true),
    };
    assert_eq!((offset, more), (frag.offset, frag.more));
    let t = m.tuple;
    let ports = if f.first { (40000, 8080) } else { (0, 0) };
    assert_eq!(
        (t.src, t.dst, (t.src_port, t.dst_port)),
        (LOCAL, BACKEND, ports)
    );
    let header = buf.data().get(l3..l3 + 20).expect("an IPv4 header");
    assert!(checksum::verifies(header), "the header checksum verifies");
    Some(kind)
}

/// An IPv4 fragment translated to IPv6: refused with nothing written, or
/// an IPv6 fragment with the identification zero-extended, the offset and
/// the flag.
fn fragment_from_ipv4(data: &[u8], meta: &Ipv4Meta) -> Option<Translated> {
    let mut buf = TestBuf::new(data);
    let (r, kind) = match meta.kind {
        L4Kind::Fragment { .. } => (
            later_to_ipv6(&mut buf, meta, (VIP, CLIENT)),
            Translated::LaterToIpv6,
        ),
        _ => (to_ipv6(&mut buf, meta, &TO6), Translated::FirstToIpv6),
    };
    if r.is_err() {
        assert_eq!(buf.data(), data, "a refusal writes nothing");
        return None;
    }
    let frame = buf.data();
    let ip = frame
        .get(meta.l3_offset..)
        .and_then(|b| Ipv6Packet::new(b).ok())
        .expect("a translated fragment is IPv6");
    let f = match classify_fragment(&ip, meta.l3_offset) {
        Ok(Some(f)) => f,
        other => panic!("a translated fragment is a fragment: {other:?}"),
    };
    let (offset, more) = match meta.kind {
        L4Kind::Fragment { offset, more } => (offset, more),
        _ => (0, true),
    };
    assert_eq!(f.key.ident, u32::from(meta.fragment.unwrap_or(0)));
    assert_eq!((f.piece.start, f.piece.last), (u32::from(offset), !more));
    let t = f.meta.tuple;
    let ports = if f.first { (80, 51000) } else { (0, 0) };
    assert_eq!(
        (t.src, t.dst, (t.src_port, t.dst_port)),
        (VIP, CLIENT, ports)
    );
    Some(kind)
}

/// A translated ICMP error: an ICMPv6 message whose checksum verifies.
fn check_icmpv6(frame: &[u8]) {
    let Ok(Classified::Ipv6 { l3_offset, .. }) = classify(frame) else {
        panic!("a translated error is IPv6")
    };
    let ip = Ipv6Packet::new(frame.get(l3_offset..).unwrap_or(&[])).expect("a whole IPv6 packet");
    assert_eq!(ip.next_header(), NextHeader::ICMPV6);
    let start = l3_offset + IPV6_HEADER_LEN;
    let message = frame
        .get(start..start + usize::from(ip.payload_len()))
        .expect("the payload");
    let icmp = Icmpv6Packet::new(message).expect("an ICMPv6 message");
    assert!(
        icmp.checksum_ok(ip.src(), ip.dst()),
        "the ICMPv6 checksum verifies"
    );
}

/// An ICMPv6 error translated to ICMP: refused with nothing written, or an
/// IPv4 ICMP message whose checksum verifies.
fn error_from_ipv6(data: &[u8], l3: usize) -> Option<Translated> {
    let to = ErrorTo4 {
        src: LOCAL,
        dst: BACKEND,
        mtu: 1500,
        ident: 3,
        quoted: To4 {
            src: TO4.dst,
            dst: TO4.src,
            ident: 0,
        },
    };
    let mut buf = TestBuf::new(data);
    if error_to_ipv4(&mut buf, l3, &to).is_err() {
        assert_eq!(buf.data(), data, "a refusal writes nothing");
        return None;
    }
    let frame = buf.data();
    let Ok(Classified::Ipv4(m)) = classify(frame) else {
        panic!("a translated error is IPv4: {:?}", classify(frame))
    };
    let icmp = frame.get(m.l4_offset..m.ip_end()).expect("an ICMP message");
    assert!(checksum::verifies(icmp), "the ICMP checksum verifies");
    let header = frame.get(l3..l3 + 20).expect("an IPv4 header");
    assert!(
        checksum::verifies(header),
        "the IPv4 header checksum verifies"
    );
    Some(Translated::ErrorToIpv4)
}

#[cfg(test)]
mod tests {
    use etherparse::{Icmpv6Type, PacketBuilder};
    use proptest::prelude::*;

    use super::*;
    use crate::testutil::{icmp_error_frame, tcp_frame, CLIENT_MAC, OUR_MAC};

    fn tcp6() -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, OUR_MAC)
            .ipv6(CLIENT.octets(), VIP.octets(), 64)
            .tcp(51000, 80, 1, 64240)
            .write(&mut v, b"GET /")
            .unwrap();
        v
    }

    fn tcp4() -> Vec<u8> {
        tcp_frame(BACKEND.octets(), LOCAL.octets(), 8080, 40000, 64, b"200 OK")
    }

    /// A router's "fragmentation needed" about what we sent the backend.
    fn error4() -> Vec<u8> {
        let sent = tcp_frame(LOCAL.octets(), BACKEND.octets(), 40000, 8080, 63, b"GET /");
        let router = [10, 0, 1, 1];
        icmp_error_frame(router, LOCAL.octets(), 3, 4, 1400, &sent[14..], 48)
    }

    /// A client's Packet Too Big about what we sent it.
    fn error6() -> Vec<u8> {
        let mut sent = Vec::new();
        PacketBuilder::ethernet2(OUR_MAC, CLIENT_MAC)
            .ipv6(VIP.octets(), CLIENT.octets(), 63)
            .udp(53, 51000)
            .write(&mut sent, &[5; 1300])
            .unwrap();
        let mut v = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, OUR_MAC)
            .ipv6(CLIENT.octets(), VIP.octets(), 64)
            .icmpv6(Icmpv6Type::PacketTooBig { mtu: 1280 })
            .write(&mut v, &sent[14..14 + 1232])
            .unwrap();
        v
    }

    /// `tcp4()`'s first fragment (24 bytes of its TCP segment) and its
    /// later one.
    fn fragments4() -> [Vec<u8>; 2] {
        let f = crate::testutil::fragment(&tcp4(), 14, 24);
        [f[0].clone(), f[1].clone()]
    }

    /// `tcp6()` cut into two fragments: 24 bytes, then the rest.
    fn fragments6() -> [Vec<u8>; 2] {
        let whole = tcp6();
        let (eth, ip, payload) = (&whole[..14], &whole[14..54], &whole[54..]);
        let piece = |offset: usize, more: bool, data: &[u8]| {
            let mut v = [eth, ip].concat();
            v[14 + 6] = NextHeader::FRAGMENT;
            v[14 + 4..14 + 6].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
            let word = offset as u16 | u16::from(more);
            v.extend_from_slice(&[IpProto::TCP.0, 0]);
            v.extend_from_slice(&word.to_be_bytes());
            v.extend_from_slice(&0x0001_2345u32.to_be_bytes());
            v.extend_from_slice(data);
            v
        };
        [
            piece(0, true, &payload[..24]),
            piece(24, false, &payload[24..]),
        ]
    }

    #[test]
    fn the_harness_reaches_every_translation() {
        assert_eq!(run_nat64(&tcp6()), Some(Translated::ToIpv4));
        assert_eq!(run_nat64(&tcp4()), Some(Translated::ToIpv6));
        assert_eq!(run_nat64(&error4()), Some(Translated::ErrorToIpv6));
        assert_eq!(run_nat64(&error6()), Some(Translated::ErrorToIpv4));
        let [first6, later6] = fragments6();
        assert_eq!(run_nat64(&first6), Some(Translated::FirstToIpv4));
        assert_eq!(run_nat64(&later6), Some(Translated::LaterToIpv4));
        let [first4, later4] = fragments4();
        assert_eq!(run_nat64(&first4), Some(Translated::FirstToIpv6));
        assert_eq!(run_nat64(&later4), Some(Translated::LaterToIpv6));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Translatable frames with a few bytes flipped: every refusal
        /// writes nothing, every translation gives a well-formed packet.
        #[test]
        fn mutated_translatable_frames_never_panic(
            which in 0..8usize,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        ) {
            let [first6, later6] = fragments6();
            let [first4, later4] = fragments4();
            let frames = [tcp6(), tcp4(), error4(), error6(), first6, later6, first4, later4];
            let mut frame = frames[which].clone();
            for (at, byte) in flips {
                let i = at.index(frame.len());
                frame[i] = byte;
            }
            run_nat64(&frame);
        }
    }
}
