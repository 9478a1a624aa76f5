//! IPv6 flows read through extension-header chains, checked against
//! etherparse's decoding of the same frames.

use std::net::Ipv6Addr;

use etherparse::{
    IpNumber, Ipv6Header, Ipv6RawExtHeader, PacketHeaders, TcpHeader, TransportHeader, UdpHeader,
};
use proptest::prelude::*;

use super::*;

const SRC: &str = "2001:db8:2::7";
const VIP: &str = "2001:db8::10";

/// An extension header: its kind (the next-header value naming it) and
/// its body after the next-header and length bytes.
type Ext = (u8, Vec<u8>);

/// An Ethernet frame holding IPv6 from SRC to VIP: `exts` (next header,
/// body of 6 + 8n bytes) in order, then `l4` bytes of protocol `proto`.
fn frame(exts: &[Ext], proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, (_, payload)) in exts.iter().enumerate() {
        let next = exts.get(i + 1).map_or(proto, |(kind, _)| *kind);
        let h = Ipv6RawExtHeader::new_raw(IpNumber(next), payload).expect("a valid extension");
        body.extend_from_slice(&h.to_bytes());
    }
    body.extend_from_slice(l4);
    let ip = Ipv6Header {
        payload_length: body.len() as u16,
        next_header: IpNumber(exts.first().map_or(proto, |(kind, _)| *kind)),
        hop_limit: 63,
        source: SRC.parse::<Ipv6Addr>().unwrap().octets(),
        destination: VIP.parse::<Ipv6Addr>().unwrap().octets(),
        ..Default::default()
    };
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd];
    ip.write(&mut f).unwrap();
    f.extend_from_slice(&body);
    f
}

fn tcp(src: u16, dst: u16) -> Vec<u8> {
    let mut h = TcpHeader::new(src, dst, 1, 64240);
    h.syn = true;
    h.to_bytes().to_vec()
}

fn udp(src: u16, dst: u16) -> Vec<u8> {
    UdpHeader {
        source_port: src,
        destination_port: dst,
        length: 8,
        checksum: 0,
    }
    .to_bytes()
    .to_vec()
}

fn flow(f: &[u8]) -> Ipv6Meta {
    match classify_ipv6(f, 14) {
        Ok(Ipv6Flow::Flow(m)) => m,
        other => panic!("not a flow: {other:?}"),
    }
}

#[test]
fn tcp_and_udp_are_read_through_the_extension_headers_etherparse_sees() {
    let opts = vec![1, 4, 0, 0, 0, 0]; // PadN over the 6 bytes
    let cases: [(&[Ext], u8, Vec<u8>); 4] = [
        (&[], 6, tcp(40000, 80)),
        (&[(0, opts.clone())], 6, tcp(40001, 80)),
        (&[(0, opts.clone()), (60, opts.clone())], 17, udp(5353, 53)),
        (
            &[(60, opts.clone()), (43, vec![0, 0, 0, 0, 0, 0])],
            6,
            tcp(1, 443),
        ),
    ];
    for (exts, proto, l4) in cases {
        let f = frame(exts, proto, &l4);
        let m = flow(&f);
        let e = PacketHeaders::from_ethernet_slice(&f).expect("etherparse decodes it");
        let (sp, dp, flags) = match e.transport.expect("a transport header") {
            TransportHeader::Tcp(t) => (t.source_port, t.destination_port, Some(0x02)),
            TransportHeader::Udp(u) => (u.source_port, u.destination_port, None),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            (m.tuple.src_port, m.tuple.dst_port, m.tcp_flags),
            (sp, dp, flags)
        );
        assert_eq!(m.tuple.proto, IpProto(proto));
        assert_eq!(m.tuple.src, SRC.parse::<Ipv6Addr>().unwrap());
        assert_eq!(m.tuple.dst, VIP.parse::<Ipv6Addr>().unwrap());
        assert_eq!(usize::from(m.extensions), exts.len());
        assert_eq!(m.l4_offset, f.len() - l4.len());
        assert_eq!((usize::from(m.len), m.hop_limit), (f.len() - 14, 63));
    }
}

#[test]
fn fragments_other_protocols_bad_chains_and_short_headers_are_told_apart() {
    // A first fragment (offset 0, more, identification 9) of a TCP
    // datagram. A fragment header has no length byte (etherparse's raw
    // extension writer would add one), so it is written whole.
    let mut f = frame(&[], 44, &[]);
    f.extend_from_slice(&[6, 0, 0, 1, 0, 0, 0, 9]);
    f.extend_from_slice(&tcp(1, 80));
    let len = (f.len() - 14 - 40) as u16;
    f[18..20].copy_from_slice(&len.to_be_bytes());
    assert!(matches!(
        classify_ipv6(&f, 14),
        Ok(Ipv6Flow::Fragment(Ipv6Fragment {
            offset: 0,
            more: true,
            ident: 9,
            data_offset: 48,
        }))
    ));
    // ICMPv6 and no-next-header are not flows.
    assert_eq!(
        classify_ipv6(&frame(&[], 58, &[128, 0, 0, 0]), 14),
        Ok(Ipv6Flow::Other(58))
    );
    assert_eq!(
        classify_ipv6(&frame(&[], 59, &[]), 14),
        Ok(Ipv6Flow::Other(59))
    );
    // A routing header with segments left: the chain is refused.
    let routed = frame(&[(43, vec![0, 1, 0, 0, 0, 0])], 6, &tcp(1, 80));
    assert_eq!(classify_ipv6(&routed, 14), Err(DropReason::Ipv6BadChain));
    // Hop-by-hop after another header.
    let late = frame(
        &[(60, vec![1, 4, 0, 0, 0, 0]), (0, vec![1, 4, 0, 0, 0, 0])],
        6,
        &tcp(1, 80),
    );
    assert_eq!(classify_ipv6(&late, 14), Err(DropReason::Ipv6BadChain));
    // A TCP header cut short, a UDP one too.
    let short = frame(&[], 6, &tcp(1, 80)[..19]);
    assert_eq!(classify_ipv6(&short, 14), Err(DropReason::TruncatedL4));
    let short = frame(&[(0, vec![1, 4, 0, 0, 0, 0])], 17, &udp(1, 53)[..7]);
    assert_eq!(classify_ipv6(&short, 14), Err(DropReason::TruncatedL4));
    // Padding after the payload (an Ethernet minimum) is not read as L4.
    let mut padded = frame(&[], 17, &udp(1, 53)[..4]);
    padded.extend_from_slice(&[0; 8]);
    assert_eq!(classify_ipv6(&padded, 14), Err(DropReason::TruncatedL4));
}

proptest! {
    /// Any chain RFC 8200 orders (hop-by-hop, destination options, routing
    /// with no segments left, destination options again after routing), of
    /// any lengths, before TCP or UDP: the ports and offset etherparse
    /// finds. (etherparse decodes only chains in that order.)
    #[test]
    fn any_chain_reads_as_etherparse_reads_it(
        present in prop::array::uniform4(any::<bool>()),
        lens in prop::array::uniform4(0usize..4),
        is_tcp in any::<bool>(),
        sp in any::<u16>(),
        dp in any::<u16>(),
    ) {
        let mut exts: Vec<Ext> = Vec::new();
        for (i, kind) in [0u8, 60, 43, 60].into_iter().enumerate() {
            // The second destination options header only after routing.
            if !present[i] || (i == 3 && !present[2]) {
                continue;
            }
            let mut body = vec![0u8; 6 + 8 * lens[i]];
            if kind != 43 {
                body[0] = 1; // PadN over the rest
                body[1] = (body.len() - 2) as u8;
            }
            exts.push((kind, body));
        }
        let (proto, l4) = if is_tcp { (6, tcp(sp, dp)) } else { (17, udp(sp, dp)) };
        let f = frame(&exts, proto, &l4);
        let m = flow(&f);
        let e = PacketHeaders::from_ethernet_slice(&f).expect("etherparse decodes it");
        let ports = match e.transport.expect("transport") {
            TransportHeader::Tcp(t) => (t.source_port, t.destination_port),
            TransportHeader::Udp(u) => (u.source_port, u.destination_port),
            other => panic!("{other:?}"),
        };
        prop_assert_eq!((m.tuple.src_port, m.tuple.dst_port), ports);
        prop_assert_eq!(m.l4_offset, f.len() - l4.len());
        prop_assert_eq!(usize::from(m.extensions), exts.len());
    }
}
