//! The pipeline bench's config and frames: one port, clients behind a
//! router, four backends on the link, a TCP and a UDP service on the VIP;
//! flows' packets both ways, UDP datagrams in fragments, TCP segments
//! with options, and what the bench reads back from frames sent.

use std::net::Ipv4Addr;

use dataplane::sched::SchedulerKind;
use dataplane::tables::{
    BackendSpec, Interface, LbConfig, Mode, PortSetup, ServiceSpec, StaticRoute,
};
use dataplane::tuple::IpProto;
use dataplane::wire::ethernet::MacAddr;
use etherparse::{
    IpFragOffset, Ipv4Header, PacketBuilder, SlicedPacket, TcpOptionElement, TransportSlice,
};

pub const OURS: [u8; 6] = [2, 0, 0, 0, 0, 0xaa];
pub const ROUTER: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
pub const VIP: [u8; 4] = [192, 0, 2, 10];
/// FULLNAT's local address (one: 64512 ports are plenty for the flows).
pub const LADDR: [u8; 4] = [10, 0, 1, 100];
pub const FLOWS: u16 = 1000;

pub fn backend(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1, 11 + i)
}

pub fn backend_mac(i: u8) -> [u8; 6] {
    [2, 0, 0, 0, 1, 11 + i]
}

/// Flow `k`'s client address and port.
pub fn client_addr(k: u16) -> ([u8; 4], u16) {
    ([198, 18, (k >> 8) as u8, k as u8], 10_000 + k)
}

/// One port; clients behind a router, four backends on the link; a TCP and
/// a UDP service on the VIP in `mode` (FULLNAT from [`LADDR`]).
pub fn config(mode: Mode) -> LbConfig {
    let rport = if matches!(mode, Mode::Nat | Mode::FullNat) {
        8080
    } else {
        80
    };
    let service = |proto| ServiceSpec {
        name: None,
        vip: Ipv4Addr::from(VIP).into(),
        proto,
        port: 80,
        extra_ports: 0,
        also_listen: Vec::new(),
        one_packet: false,
        mode,
        scheduler: SchedulerKind::RoundRobin,
        persistence: None,
        pickup: false,
        local_addrs: if mode == Mode::FullNat {
            vec![Ipv4Addr::from(LADDR)]
        } else {
            Vec::new()
        },
        local_addrs6: Vec::new(),
        local_ports: (1024, 65535),
        timeouts: None,
        acl: Default::default(),
        mss_clamp: None,
        new_conn_rate: None,
        client_rate: None,
        toa: false,
        proxy_protocol: None,
        syn_proxy: false,
        backends: (0..4)
            .map(|i| BackendSpec {
                addr: backend(i).into(),
                port: rport,
                weight: 1,
                u_threshold: 0,
                l_threshold: 0,
            })
            .collect(),
    };
    let mut neighbours = vec![(Ipv4Addr::new(10, 0, 0, 254), MacAddr(ROUTER))];
    neighbours.extend((0..4).map(|i| (backend(i), MacAddr(backend_mac(i)))));
    LbConfig {
        kernel: Vec::new(),
        garp: Default::default(),
        synproxy: Default::default(),
        standby: Vec::new(),
        ports: vec![PortSetup {
            mac: MacAddr(OURS),
            mtu: 1500,
        }],
        interfaces: vec![Interface {
            port: 0,
            vlan: None,
            addrs: vec![
                (Ipv4Addr::new(10, 0, 0, 1), 24),
                (Ipv4Addr::new(10, 0, 1, 1), 24),
            ],
            addrs6: Vec::new(),
        }],
        routes: vec![StaticRoute {
            prefix: Ipv4Addr::UNSPECIFIED,
            len: 0,
            via: Ipv4Addr::new(10, 0, 0, 254),
        }],
        routes6: Vec::new(),
        neighbours6: Vec::new(),
        neighbours,
        services: vec![service(IpProto::TCP), service(IpProto::UDP)],
        snat: Vec::new(),
        sessions: Default::default(),
    }
}

/// Flow `k`'s client packet: even flows TCP (ACK, or SYN to open), odd UDP.
pub fn client(k: u16, syn: bool) -> Vec<u8> {
    let (src, sport) = client_addr(k);
    let b = PacketBuilder::ethernet2(ROUTER, OURS).ipv4(src, VIP, 64);
    let mut v = Vec::new();
    if k % 2 == 0 {
        let t = b.tcp(sport, 80, 1, 64240);
        let t = if syn { t.syn() } else { t.ack(1) };
        t.write(&mut v, if syn { b"" } else { b"abcdef" })
    } else {
        b.udp(sport, 80).write(&mut v, b"abcdefghijklmnopqr")
    }
    .expect("frame");
    v
}

/// The reply to NAT flow `k`, from the backend rr gave it.
pub fn reply(k: u16) -> Vec<u8> {
    let i = ((k / 2) % 4) as u8;
    let (dst, dport) = client_addr(k);
    let b = PacketBuilder::ethernet2(backend_mac(i), OURS).ipv4(backend(i).octets(), dst, 64);
    let mut v = Vec::new();
    if k % 2 == 0 {
        b.tcp(8080, dport, 1, 64240).ack(1).write(&mut v, b"abcdef")
    } else {
        b.udp(8080, dport).write(&mut v, b"abcdefghijklmnopqr")
    }
    .expect("frame");
    v
}

/// UDP payload of a fragmented datagram: 3008 bytes of UDP in fragments of
/// 1480, 1480 and 48 bytes (frames of 1514, 1514 and 82), as perf/run.sh's
/// `nat-frag` row sends them.
pub const DATAGRAM_BYTES: usize = 3000;

/// The UDP datagram `src` -> `dst` of [`DATAGRAM_BYTES`] bytes cut into
/// fragments of at most 1500 bytes of IP, in order, with IP
/// identification `ident`; the UDP checksum over the whole datagram.
pub fn fragmented_udp(
    macs: ([u8; 6], [u8; 6]),
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    ident: u16,
) -> Vec<Vec<u8>> {
    let payload: Vec<u8> = (0..DATAGRAM_BYTES)
        .map(|j| (j + usize::from(ident)) as u8)
        .collect();
    let mut whole = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(src.0, dst.0, 64)
        .udp(src.1, dst.1)
        .write(&mut whole, &payload)
        .expect("datagram");
    let l4 = &whole[34..];
    let mut out = Vec::new();
    for (n, piece) in l4.chunks(1480).enumerate() {
        let mut h = Ipv4Header::new(
            piece.len() as u16,
            64,
            etherparse::IpNumber::UDP,
            src.0,
            dst.0,
        )
        .expect("fragment header");
        h.identification = ident;
        h.more_fragments = (n + 1) * 1480 < l4.len();
        h.fragment_offset = IpFragOffset::try_new((n * 1480 / 8) as u16).expect("offset");
        h.header_checksum = h.calc_header_checksum();
        let mut f = whole[..14].to_vec();
        h.write(&mut f).expect("header");
        f.extend_from_slice(piece);
        out.push(f);
    }
    out
}

/// A TCP segment with a timestamp option (and, on a SYN, MSS, SACK
/// permitted and window scale 7 before it), as Linux sends them.
pub struct Seg {
    pub macs: ([u8; 6], [u8; 6]),
    pub src: ([u8; 4], u16),
    pub dst: ([u8; 4], u16),
    pub seq: u32,
    pub ack: Option<u32>,
    pub syn: bool,
    pub ts: (u32, u32),
    pub payload: &'static [u8],
}

pub fn tcp(s: &Seg) -> Vec<u8> {
    let mut t = PacketBuilder::ethernet2(s.macs.0, s.macs.1)
        .ipv4(s.src.0, s.dst.0, 64)
        .tcp(s.src.1, s.dst.1, s.seq, 64240);
    if s.syn {
        t = t.syn();
    }
    if let Some(a) = s.ack {
        t = t.ack(a);
    }
    let ts = TcpOptionElement::Timestamp(s.ts.0, s.ts.1);
    let t = if s.syn {
        t.options(&[
            TcpOptionElement::MaximumSegmentSize(1460),
            TcpOptionElement::SelectiveAcknowledgementPermitted,
            ts,
            TcpOptionElement::Noop,
            TcpOptionElement::WindowScale(7),
        ])
    } else {
        t.options(&[TcpOptionElement::Noop, TcpOptionElement::Noop, ts])
    }
    .expect("options fit");
    let mut v = Vec::new();
    t.write(&mut v, s.payload).expect("segment");
    v
}

/// What the bench reads of a TCP frame sent: addresses and ports, flags
/// SYN and ACK, sequence and acknowledgment numbers, the timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    pub src: ([u8; 4], u16),
    pub dst: ([u8; 4], u16),
    pub syn: bool,
    pub seq: u32,
    pub ack: u32,
    pub ts: Option<(u32, u32)>,
}

/// Reads a TCP frame the pipeline sent (None: not IPv4 TCP).
pub fn sent(frame: &[u8]) -> Option<Sent> {
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(etherparse::NetSlice::Ipv4(ip)) = &p.net else {
        return None;
    };
    let Some(TransportSlice::Tcp(t)) = &p.transport else {
        return None;
    };
    let ts = t.options_iterator().find_map(|o| match o {
        Ok(TcpOptionElement::Timestamp(a, b)) => Some((a, b)),
        _ => None,
    });
    let h = ip.header();
    Some(Sent {
        src: (h.source(), t.source_port()),
        dst: (h.destination(), t.destination_port()),
        syn: t.syn(),
        seq: t.sequence_number(),
        ack: t.acknowledgment_number(),
        ts,
    })
}
