//! Test traffic, built readably with etherparse.

use etherparse::PacketBuilder;

pub type Mac = [u8; 6];

pub const CLIENT_MAC: Mac = [0x02, 0, 0, 0, 0, 0x01];
pub const LB_MAC: Mac = [0x02, 0, 0, 0, 0, 0xfe];

/// One end of a flow: an IPv4 address and a port.
pub type Endpoint = ([u8; 4], u16);

/// A TCP segment from `src` to `dst` with the given flags ("S", "SA", "A",
/// "FA", "R", ...); `macs` are (source, destination).
pub fn tcp(
    macs: (Mac, Mac),
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    flags: &str,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(src.0, dst.0, 64)
        .tcp(src.1, dst.1, seq, 64240);
    if flags.contains('S') {
        b = b.syn();
    }
    if flags.contains('A') {
        b = b.ack(1);
    }
    if flags.contains('F') {
        b = b.fin();
    }
    if flags.contains('R') {
        b = b.rst();
    }
    if flags.contains('P') {
        b = b.psh();
    }
    build(b, payload)
}

/// A UDP datagram from `src` to `dst`; `macs` are (source, destination).
pub fn udp(macs: (Mac, Mac), src: Endpoint, dst: Endpoint, payload: &[u8]) -> Vec<u8> {
    build(
        PacketBuilder::ethernet2(macs.0, macs.1)
            .ipv4(src.0, dst.0, 64)
            .udp(src.1, dst.1),
        payload,
    )
}

/// One end of an IPv6 flow: an IPv6 address and a port.
pub type Endpoint6 = ([u8; 16], u16);

/// A TCP segment over IPv6 (hop limit 64), with `flags` as [`tcp`] reads
/// them.
pub fn tcp6(
    macs: (Mac, Mac),
    src: Endpoint6,
    dst: Endpoint6,
    seq: u32,
    flags: &str,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(src.0, dst.0, 64)
        .tcp(src.1, dst.1, seq, 64240);
    if flags.contains('S') {
        b = b.syn();
    }
    if flags.contains('A') {
        b = b.ack(1);
    }
    if flags.contains('F') {
        b = b.fin();
    }
    build(b, payload)
}

/// A UDP datagram over IPv6 (hop limit 64).
pub fn udp6(macs: (Mac, Mac), src: Endpoint6, dst: Endpoint6, payload: &[u8]) -> Vec<u8> {
    build(
        PacketBuilder::ethernet2(macs.0, macs.1)
            .ipv6(src.0, dst.0, 64)
            .udp(src.1, dst.1),
        payload,
    )
}

/// A solicited Neighbor Advertisement (RFC 4861 4.4: Solicited and
/// Override set, hop limit 255) of `target` at `target_mac`, from `target`
/// to `dst`, with the target link-layer option; `macs` are (source,
/// destination). What a neighbour answers our solicitation with.
pub fn neighbour_advertisement(
    macs: (Mac, Mac),
    target: [u8; 16],
    dst: [u8; 16],
    target_mac: Mac,
) -> Vec<u8> {
    let kind = etherparse::Icmpv6Type::Unknown {
        type_u8: ND_ADVERTISEMENT,
        code_u8: 0,
        bytes5to8: [NA_SOLICITED | NA_OVERRIDE, 0, 0, 0],
    };
    let mut body = target.to_vec();
    body.extend_from_slice(&[ND_TARGET_LINK_LAYER, 1]);
    body.extend_from_slice(&target_mac);
    build(
        PacketBuilder::ethernet2(macs.0, macs.1)
            .ipv6(target, dst, 255)
            .icmpv6(kind),
        &body,
    )
}

/// ICMPv6 type of a Neighbor Advertisement, its flags and option.
pub const ND_ADVERTISEMENT: u8 = 136;
pub const NA_SOLICITED: u8 = 0x40;
pub const NA_OVERRIDE: u8 = 0x20;
pub const ND_TARGET_LINK_LAYER: u8 = 2;

/// An ICMP echo request.
pub fn icmp_echo(
    src_mac: Mac,
    dst_mac: Mac,
    src: [u8; 4],
    dst: [u8; 4],
    id: u16,
    seq: u16,
) -> Vec<u8> {
    build(
        PacketBuilder::ethernet2(src_mac, dst_mac)
            .ipv4(src, dst, 64)
            .icmpv4_echo_request(id, seq),
        b"ferrolb-ping",
    )
}

fn build<B: Buildable>(b: B, payload: &[u8]) -> Vec<u8> {
    b.build(payload)
}

/// The last step of a PacketBuilder chain, whatever its transport.
trait Buildable {
    fn build(self, payload: &[u8]) -> Vec<u8>;
}

// etherparse's last builder steps share `size`/`write` by name, not by a
// trait, so one impl per transport header.
macro_rules! buildable {
    ($($header:ty),*) => {$(
        impl Buildable for etherparse::PacketBuilderStep<$header> {
            fn build(self, payload: &[u8]) -> Vec<u8> {
                let mut out = Vec::with_capacity(self.size(payload.len()));
                self.write(&mut out, payload).expect("build frame");
                out
            }
        }
    )*};
}

buildable!(
    etherparse::TcpHeader,
    etherparse::UdpHeader,
    etherparse::Icmpv4Header,
    etherparse::Icmpv6Header
);

/// A deterministic mix of `n` client frames (TCP with every flag pattern,
/// UDP, ICMP echo) from many clients, with payloads from 0 to 1400 bytes.
pub fn mixed_traffic(n: usize, seed: u32) -> Vec<Vec<u8>> {
    let mut x = seed | 1;
    let mut next = move || {
        // xorshift32: deterministic and good enough to vary test traffic.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    (0..n)
        .map(|i| {
            let r = next();
            let client = [10, 0, (r >> 8) as u8, (r & 0xff) as u8 | 1];
            let vip = [192, 0, 2, 1 + (r >> 24) as u8 % 4];
            let sport = 1024 + (r >> 16) as u16 % 60000;
            let len = (next() % 1401) as usize;
            let payload: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
            let macs = (CLIENT_MAC, LB_MAC);
            let from = (client, sport);
            match i % 7 {
                0 => tcp(macs, from, (vip, 80), r, "S", &[]),
                1..=3 => tcp(macs, from, (vip, 80), r, "AP", &payload),
                4 => tcp(macs, from, (vip, 443), r, "FA", &[]),
                5 => udp(macs, from, (vip, 53), &payload),
                _ => icmp_echo(CLIENT_MAC, LB_MAC, client, vip, sport, i as u16),
            }
        })
        .collect()
}

/// `flows` short TCP connections to `vip:port` as a client network sends
/// them through its router (CLIENT_MAC) to the balancer (LB_MAC): each a
/// SYN, a request with data, and a FIN, interleaved across flows the way
/// concurrent clients arrive. Clients are 198.51.100.0/24 and 203.0.113.0/24
/// with ports from the seed.
pub fn client_flows(flows: usize, seed: u32, vip: [u8; 4], port: u16) -> Vec<Vec<u8>> {
    let mut x = seed | 1;
    let clients: Vec<Endpoint> = (0..flows)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let net = if x & 1 == 0 {
                [198, 51, 100]
            } else {
                [203, 0, 113]
            };
            (
                [net[0], net[1], net[2], (x >> 8) as u8 | 1],
                1024 + (x >> 16) as u16 % 60000,
            )
        })
        .collect();
    let request = b"GET / HTTP/1.1\r\nHost: demo\r\n\r\n";
    // Three rounds, so flows overlap as they would on the wire.
    let mut out = Vec::with_capacity(flows * 3);
    for (round, flags, payload) in [
        (0u32, "S", &[][..]),
        (1, "AP", &request[..]),
        (2, "FA", &[][..]),
    ] {
        for (i, &client) in clients.iter().enumerate() {
            let seq = (i as u32).wrapping_mul(7919) + round;
            out.push(tcp(
                (CLIENT_MAC, LB_MAC),
                client,
                (vip, port),
                seq,
                flags,
                payload,
            ));
        }
    }
    out
}

/// A spoofed SYN flood: `n` SYNs to `vip:port`, each from another source
/// address of 100.64.0.0/10 (shared address space, routed nowhere here) and
/// port, with a random sequence number and an MSS option, as SYN-flood
/// tools send them; `src_mac` to `dst_mac` (the next hop).
pub fn syn_flood(n: usize, seed: u32, macs: (Mac, Mac), vip: [u8; 4], port: u16) -> Vec<Vec<u8>> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    (0..n)
        .map(|_| {
            let a = next();
            let src = [
                100,
                64 | (a >> 26) as u8 & 0x3f,
                (a >> 8) as u8,
                a as u8 | 1,
            ];
            let sport = 1024 + (a >> 16) as u16 % 60000;
            let b = PacketBuilder::ethernet2(macs.0, macs.1)
                .ipv4(src, vip, 64)
                .tcp(sport, port, next(), 64240)
                .syn()
                .options(&[etherparse::TcpOptionElement::MaximumSegmentSize(1460)])
                .expect("an MSS option fits");
            build(b, &[])
        })
        .collect()
}
