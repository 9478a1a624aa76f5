//! Frames and expectations for the load-balancing replay cases.
//!
//! Everything here is built with etherparse from what docs/load-balancing.md
//! says ferrolb does, never with ferrolb's own code: a case builds the frames
//! a port receives and, for each, the frame the document says comes out
//! (checksums computed from scratch, so an incremental update in ferrolb must
//! land on the same value).

use std::cell::Cell;
use std::collections::BTreeMap;

use etherparse::{
    EtherType, Ethernet2Header, IcmpEchoHeader, Icmpv4Header, Icmpv4Type, IpNumber, Ipv4Dscp,
    Ipv4Ecn, Ipv4Header, TcpHeader, UdpHeader,
};

use super::ReplayResult;

mod checks;
pub use checks::assert_checksums_valid;

pub type Mac = [u8; 6];
pub type Ip = [u8; 4];
/// An address and port.
pub type Ep = (Ip, u16);

/// Our MAC on the client-facing (or only) port.
pub const LAN_MAC: Mac = [2, 0, 0, 0, 0, 0x01];
/// Our MAC on the server-facing port of two-armed cases.
pub const SERVERS_MAC: Mac = [2, 0, 0, 0, 0, 0x02];
/// The upstream router the clients are behind.
pub const ROUTER_MAC: Mac = [2, 0, 0, 0, 0, 0xfe];
pub const ROUTER: Ip = [10, 0, 0, 254];
pub const BROADCAST: Mac = [0xff; 6];

pub const VIP: Ip = [192, 0, 2, 10];
pub const LAN_ADDR: Ip = [10, 0, 0, 1];
pub const SERVERS_ADDR: Ip = [10, 0, 1, 1];
pub const LIP1: Ip = [10, 0, 1, 100];
pub const LIP2: Ip = [10, 0, 1, 101];
pub const SNAT_ADDR: Ip = [203, 0, 113, 1];

/// Backend 10.0.1.`n`.
pub const fn rip(n: u8) -> Ip {
    [10, 0, 1, n]
}

/// Backend 10.0.1.`n`'s MAC (static neighbour 02:00:00:00:01:`n`).
pub const fn rmac(n: u8) -> Mac {
    [2, 0, 0, 0, 1, n]
}

/// Client 198.51.100.`n`, behind the router.
pub const fn cip(n: u8) -> Ip {
    [198, 51, 100, n]
}

pub fn ip_text(ip: Ip) -> String {
    format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3])
}

pub fn mac_text(m: Mac) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The one-armed topology: port `lan` carries clients (198.51.100.x behind
/// the router 10.0.0.254) and backends 10.0.1.11-13 (static neighbours).
/// `[sessions] capacity` is small so a run starts fast in 256 MB.
pub fn one_arm_config() -> String {
    let mut s = String::from(
        r#"[sessions]
capacity = 4096

# Frame-exact cases: no gratuitous ARP in the output.
[garp]
count = 0

[[interface]]
port = "lan"
addresses = ["10.0.0.1/24", "10.0.1.1/24"]
"#,
    );
    s.push_str(&routes_and_neighbours());
    s
}

/// The default route via the router and static neighbours for it and the
/// three backends, shared by both topologies.
fn routes_and_neighbours() -> String {
    let mut s = String::from(
        r#"
[[route]]
prefix = "0.0.0.0/0"
via = "10.0.0.254"

[[neighbour]]
address = "10.0.0.254"
mac = "02:00:00:00:00:fe"
"#,
    );
    for n in 11..=13 {
        s.push_str(&format!(
            "\n[[neighbour]]\naddress = \"{}\"\nmac = \"{}\"\n",
            ip_text(rip(n)),
            mac_text(rmac(n))
        ));
    }
    s
}

/// The two-armed topology: clients on `lan` (10.0.0.1/24, default route via
/// the router), backends on `servers` (10.0.1.1/24).
pub fn two_arm_config() -> String {
    let mut s = String::from(
        r#"[sessions]
capacity = 4096

# Frame-exact cases: no gratuitous ARP in the output.
[garp]
count = 0

[[interface]]
port = "lan"
addresses = ["10.0.0.1/24"]

[[interface]]
port = "servers"
addresses = ["10.0.1.1/24"]
"#,
    );
    s.push_str(&routes_and_neighbours());
    s
}

/// A `[[service]]` table with its backends as (address, port, weight);
/// `extra` is more `key = value` lines for the service.
pub fn service(
    proto: &str,
    port: u16,
    mode: &str,
    scheduler: &str,
    extra: &str,
    backends: &[(Ip, Option<u16>, u32)],
) -> String {
    let mut s = format!(
        "\n[[service]]\nvip = \"{}\"\nprotocol = \"{proto}\"\nport = {port}\nmode = \"{mode}\"\nscheduler = \"{scheduler}\"\n{extra}\n",
        ip_text(VIP)
    );
    for (addr, bport, weight) in backends {
        s.push_str(&format!(
            "[[service.backend]]\naddress = \"{}\"\nweight = {weight}\n",
            ip_text(*addr)
        ));
        if let Some(p) = bport {
            s.push_str(&format!("port = {p}\n"));
        }
    }
    s
}

thread_local! {
    static NEXT_ID: Cell<u16> = const { Cell::new(0x1000) };
}

/// IP IDs differ from frame to frame so an ID rewrite would show.
fn next_id() -> u16 {
    NEXT_ID.with(|c| {
        let id = c.get();
        c.set(id.wrapping_add(0x0101));
        id
    })
}

/// What follows the IPv4 header; the payload follows that.
#[derive(Clone, Debug)]
pub enum L4 {
    Tcp(TcpHeader),
    Udp(UdpHeader),
    Icmp(Icmpv4Type),
    /// No header of ours: the payload is the whole IP payload.
    Raw,
}

/// An Ethernet + IPv4 frame as headers; `bytes()` sets lengths and computes
/// every checksum from scratch.
#[derive(Clone, Debug)]
pub struct Frame {
    pub eth: Ethernet2Header,
    pub ip: Ipv4Header,
    pub l4: L4,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The IPv4 packet, lengths set and checksums computed.
    pub fn ip_bytes(&self) -> Vec<u8> {
        let mut l4 = Vec::new();
        let (src, dst) = (self.ip.source, self.ip.destination);
        match &self.l4 {
            L4::Tcp(h) => {
                let mut h = h.clone();
                h.checksum = h
                    .calc_checksum_ipv4_raw(src, dst, &self.payload)
                    .expect("tcp checksum");
                l4.extend_from_slice(&h.to_bytes());
            }
            L4::Udp(h) => {
                let mut h = h.clone();
                h.length = (UdpHeader::LEN + self.payload.len()) as u16;
                h.checksum = h
                    .calc_checksum_ipv4_raw(src, dst, &self.payload)
                    .expect("udp checksum");
                l4.extend_from_slice(&h.to_bytes());
            }
            L4::Icmp(t) => l4.extend_from_slice(
                &Icmpv4Header::with_checksum(t.clone(), &self.payload).to_bytes(),
            ),
            L4::Raw => {}
        }
        l4.extend_from_slice(&self.payload);
        let mut ip = self.ip.clone();
        ip.total_len = (ip.header_len() + l4.len()) as u16;
        ip.header_checksum = ip.calc_header_checksum();
        let mut out = ip.to_bytes().to_vec();
        out.extend(l4);
        out
    }

    /// The whole frame.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = self.eth.to_bytes().to_vec();
        out.extend(self.ip_bytes());
        out
    }

    /// The IP packet's length (what the `bytes-*` counters add up).
    pub fn ip_len(&self) -> u64 {
        self.ip_bytes().len() as u64
    }

    pub fn with_ttl(mut self, ttl: u8) -> Self {
        self.ip.time_to_live = ttl;
        self
    }

    pub fn with_tos(mut self, dscp: u8, ecn: u8) -> Self {
        self.ip.dscp = Ipv4Dscp::try_new(dscp).expect("dscp");
        self.ip.ecn = Ipv4Ecn::try_new(ecn).expect("ecn");
        self
    }

    pub fn with_df(mut self, df: bool) -> Self {
        self.ip.dont_fragment = df;
        self
    }

    /// The (source, destination) endpoints; port 0 for ICMP and raw.
    pub fn endpoints(&self) -> (Ep, Ep) {
        let (sp, dp) = match &self.l4 {
            L4::Tcp(h) => (h.source_port, h.destination_port),
            L4::Udp(h) => (h.source_port, h.destination_port),
            _ => (0, 0),
        };
        ((self.ip.source, sp), (self.ip.destination, dp))
    }

    /// Addresses and ports set to `src` and `dst`.
    pub fn with_endpoints(mut self, src: Ep, dst: Ep) -> Self {
        self.ip.source = src.0;
        self.ip.destination = dst.0;
        match &mut self.l4 {
            L4::Tcp(h) => {
                h.source_port = src.1;
                h.destination_port = dst.1;
            }
            L4::Udp(h) => {
                h.source_port = src.1;
                h.destination_port = dst.1;
            }
            _ => {}
        }
        self
    }

    pub fn with_macs(mut self, src: Mac, dst: Mac) -> Self {
        self.eth.source = src;
        self.eth.destination = dst;
        self
    }
}

fn eth(src: Mac, dst: Mac) -> Ethernet2Header {
    Ethernet2Header {
        source: src,
        destination: dst,
        ether_type: EtherType::IPV4,
    }
}

/// An IPv4 header as hosts send it: TTL 64, a fresh ID.
pub fn ipv4(src: Ip, dst: Ip, protocol: IpNumber, df: bool) -> Ipv4Header {
    Ipv4Header {
        source: src,
        destination: dst,
        protocol,
        time_to_live: 64,
        identification: next_id(),
        dont_fragment: df,
        ..Default::default()
    }
}

/// A TCP segment (DF set, as TCP stacks send). Flags: S A F R P; the ACK
/// number is only meaningful with A.
#[allow(clippy::too_many_arguments)]
pub fn tcp(
    from: Mac,
    to: Mac,
    src: Ep,
    dst: Ep,
    seq: u32,
    ack: u32,
    flags: &str,
    payload: &[u8],
) -> Frame {
    let mut h = TcpHeader::new(src.1, dst.1, seq, 64240);
    h.syn = flags.contains('S');
    h.ack = flags.contains('A');
    h.fin = flags.contains('F');
    h.rst = flags.contains('R');
    h.psh = flags.contains('P');
    if h.ack {
        h.acknowledgment_number = ack;
    }
    Frame {
        eth: eth(from, to),
        ip: ipv4(src.0, dst.0, IpNumber::TCP, true),
        l4: L4::Tcp(h),
        payload: payload.to_vec(),
    }
}

/// A UDP datagram (DF clear).
pub fn udp(from: Mac, to: Mac, src: Ep, dst: Ep, payload: &[u8]) -> Frame {
    Frame {
        eth: eth(from, to),
        ip: ipv4(src.0, dst.0, IpNumber::UDP, false),
        l4: L4::Udp(UdpHeader {
            source_port: src.1,
            destination_port: dst.1,
            length: 0,
            checksum: 0,
        }),
        payload: payload.to_vec(),
    }
}

/// An ICMP echo request.
pub fn echo_request(from: Mac, to: Mac, src: Ip, dst: Ip, id: u16, seq: u16) -> Frame {
    Frame {
        eth: eth(from, to),
        ip: ipv4(src, dst, IpNumber::ICMP, false),
        l4: L4::Icmp(Icmpv4Type::EchoRequest(IcmpEchoHeader { id, seq })),
        payload: b"ferrolb-ping-0123456789".to_vec(),
    }
}

/// An ICMP error (`icmp_type`) quoting the first `quote_len` bytes of the
/// IP packet `quoted`.
pub fn icmp_error(
    from: Mac,
    to: Mac,
    src: Ip,
    dst: Ip,
    icmp_type: Icmpv4Type,
    quoted: &[u8],
    quote_len: usize,
) -> Frame {
    Frame {
        eth: eth(from, to),
        ip: ipv4(src, dst, IpNumber::ICMP, false),
        l4: L4::Icmp(icmp_type),
        payload: quoted[..quote_len.min(quoted.len())].to_vec(),
    }
}

/// The ICMP error we must have sent as `actual`, for what the document
/// leaves to ferrolb taken from `actual`: the document fixes the type and
/// code, the addressee `dst` (via `out_src_mac` → `out_dst_mac`) and the
/// quoted packet `quoted` (as it arrived); the source must be one of
/// `ours`; ID, DF, TOS, TTL and the quote's length (at least the header and
/// 8 bytes, at most 576 bytes in all, RFC 1812) are ferrolb's choice.
pub fn expected_icmp_error(
    actual: &[u8],
    ours: &[Ip],
    out_src_mac: Mac,
    out_dst_mac: Mac,
    dst: Ip,
    icmp_type: Icmpv4Type,
    quoted: &[u8],
) -> Vec<u8> {
    let (h, _) = Ipv4Header::from_slice(actual.get(14..).unwrap_or_default())
        .unwrap_or_else(|e| panic!("not an IPv4 packet ({e}): {actual:02x?}"));
    assert_eq!(h.protocol, IpNumber::ICMP, "not ICMP: {h:?}");
    assert!(
        ours.contains(&h.source),
        "ICMP error from {:?}, not an address of ours {ours:?}",
        h.source
    );
    let quote_len = usize::from(h.total_len).saturating_sub(h.header_len() + 8);
    let min = (usize::from(quoted[0] & 0x0f) * 4 + 8).min(quoted.len());
    assert!(
        (min..=576 - 28).contains(&quote_len),
        "a quote of {quote_len} bytes"
    );
    let mut want = icmp_error(
        out_src_mac,
        out_dst_mac,
        h.source,
        dst,
        icmp_type,
        quoted,
        quote_len,
    );
    want.ip.identification = h.identification;
    want.ip.dont_fragment = h.dont_fragment;
    want.ip.time_to_live = h.time_to_live;
    want.ip.dscp = h.dscp;
    want.ip.ecn = h.ecn;
    want.bytes()
}

/// An ARP packet (etherparse 0.16 has none): Ethernet/IPv4, no padding.
pub fn arp(eth_src: Mac, eth_dst: Mac, op: u16, sha: Mac, spa: Ip, tha: Mac, tpa: Ip) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&eth_dst);
    f.extend_from_slice(&eth_src);
    f.extend_from_slice(&[0x08, 0x06]); // ARP
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]); // Ethernet, IPv4
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa);
    f
}

/// A broadcast ARP request "who has `tpa`, tell `spa`" (42 bytes, as a
/// host's request in a capture).
pub fn arp_request(sha: Mac, spa: Ip, tpa: Ip) -> Vec<u8> {
    arp(sha, BROADCAST, 1, sha, spa, [0; 6], tpa)
}

/// `frame` zero-padded to the Ethernet minimum of 60 bytes (without FCS),
/// as a frame a host originates goes on the wire.
pub fn padded(mut frame: Vec<u8>) -> Vec<u8> {
    if frame.len() < 60 {
        frame.resize(60, 0);
    }
    frame
}

/// The ARP reply "`spa` is at `sha`" to the asker (`tha`, `tpa`).
pub fn arp_reply(sha: Mac, spa: Ip, tha: Mac, tpa: Ip) -> Vec<u8> {
    arp(sha, tha, 2, sha, spa, tha, tpa)
}

/// What happens to a packet going one way through the balancer.
#[derive(Clone, Copy, Debug)]
pub enum Out {
    /// Addresses and ports become `src`/`dst`, TTL - 1 (NAT, FULLNAT, SNAT
    /// and their replies).
    Nat { src: Ep, dst: Ep },
    /// MACs only.
    Dr,
    /// An outer IPv4 header `outer_src` → `outer_dst` (TTL 64, ID 0, TOS
    /// and DF from the inner packet), the inner packet untouched.
    Tun { outer_src: Ip, outer_dst: Ip },
    /// The packet does not pass through us (DR and TUN replies).
    Bypass,
}

/// One direction of a flow: what the sender puts on the wire and what the
/// document says we send for it.
#[derive(Clone, Copy, Debug)]
pub struct Leg {
    pub from_mac: Mac,
    /// Our MAC on the ingress port.
    pub to_mac: Mac,
    pub src: Ep,
    pub dst: Ep,
    /// Our MAC on the egress port.
    pub out_src_mac: Mac,
    /// The next hop's MAC.
    pub out_dst_mac: Mac,
    pub out: Out,
}

impl Leg {
    /// The frame we must send for `input` (a frame of this leg), if any.
    pub fn expect(&self, input: &Frame) -> Option<Vec<u8>> {
        let f = input.clone().with_macs(self.out_src_mac, self.out_dst_mac);
        match self.out {
            Out::Bypass => None,
            Out::Dr => Some(f.bytes()),
            Out::Nat { src, dst } => {
                let mut f = f.with_endpoints(src, dst);
                f.ip.time_to_live -= 1;
                Some(f.bytes())
            }
            Out::Tun {
                outer_src,
                outer_dst,
            } => Some(tunnel(&f, outer_src, outer_dst).bytes()),
        }
    }
}

/// The two legs of a flow translated both ways (NAT, FULLNAT, SNAT): `a`
/// (behind `a_mac`) sends to `b`; we send that as `a_out` → `b_out` to
/// `b_mac`; `b_mac` answers `b_out` → `a_out` and we send that as `b` → `a`
/// to `a_mac`. Both ways TTL - 1, one port with our MAC `our_mac`.
pub fn nat_legs(
    our_mac: Mac,
    a_mac: Mac,
    a: Ep,
    b: Ep,
    a_out: Ep,
    b_out: Ep,
    b_mac: Mac,
) -> (Leg, Leg) {
    let fwd = Leg {
        from_mac: a_mac,
        to_mac: our_mac,
        src: a,
        dst: b,
        out_src_mac: our_mac,
        out_dst_mac: b_mac,
        out: Out::Nat {
            src: a_out,
            dst: b_out,
        },
    };
    let rev = Leg {
        from_mac: b_mac,
        to_mac: our_mac,
        src: b_out,
        dst: a_out,
        out_src_mac: our_mac,
        out_dst_mac: a_mac,
        out: Out::Nat { src: b, dst: a },
    };
    (fwd, rev)
}

/// A client's leg towards a DR or TUN service (`out`), arriving on a port
/// with our MAC `in_mac` and leaving one with `out_mac` to `backend_mac`;
/// and the backend's answers, which bypass us.
pub fn one_way_legs(
    c: Ep,
    v: Ep,
    in_mac: Mac,
    out_mac: Mac,
    backend_mac: Mac,
    out: Out,
) -> (Leg, Leg) {
    let fwd = Leg {
        from_mac: ROUTER_MAC,
        to_mac: in_mac,
        src: c,
        dst: v,
        out_src_mac: out_mac,
        out_dst_mac: backend_mac,
        out,
    };
    let rev = Leg {
        from_mac: backend_mac,
        to_mac: ROUTER_MAC,
        src: v,
        dst: c,
        out_src_mac: backend_mac,
        out_dst_mac: ROUTER_MAC,
        out: Out::Bypass,
    };
    (fwd, rev)
}

/// `inner` in IPIP as TUN mode documents it.
pub fn tunnel(inner: &Frame, outer_src: Ip, outer_dst: Ip) -> Frame {
    Frame {
        eth: inner.eth.clone(),
        ip: Ipv4Header {
            source: outer_src,
            destination: outer_dst,
            protocol: IpNumber::IPV4,
            time_to_live: 64,
            identification: 0,
            dscp: inner.ip.dscp,
            ecn: inner.ip.ecn,
            dont_fragment: inner.ip.dont_fragment,
            ..Default::default()
        },
        l4: L4::Raw,
        payload: inner.ip_bytes(),
    }
}

/// Packets and IP bytes one way, as the `svc:`/`be:`/`snat:` rows count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub packets: u64,
    pub bytes: u64,
}

impl Tally {
    pub fn add(&mut self, f: &Frame) {
        self.packets += 1;
        self.bytes += f.ip_len();
    }

    pub fn plus(self, o: Tally) -> Tally {
        Tally {
            packets: self.packets + o.packets,
            bytes: self.bytes + o.bytes,
        }
    }
}

/// A case's input on one port and the output it expects, in order.
#[derive(Default)]
pub struct Script {
    pub input: Vec<Vec<u8>>,
    pub expected: Vec<Vec<u8>>,
}

impl Script {
    /// A frame in, and what must come out for it.
    pub fn push(&mut self, input: Vec<u8>, expected: Option<Vec<u8>>) {
        self.input.push(input);
        self.expected.extend(expected);
    }
}

/// A TCP connection: the client's leg (client → service) and the server's
/// (backend → client), with sequence numbers kept so every segment is what
/// real stacks would send.
pub struct TcpConv {
    pub fwd: Leg,
    pub rev: Leg,
    seq: [u32; 2],
    /// (DSCP, ECN) of the client's segments.
    pub tos: (u8, u8),
    /// Client → backend and backend → client traffic through us.
    pub tally_in: Tally,
    pub tally_out: Tally,
}

impl TcpConv {
    pub fn new(fwd: Leg, rev: Leg) -> Self {
        TcpConv {
            fwd,
            rev,
            seq: [0x1000_0000 ^ u32::from(fwd.src.1), 0x7000_0000],
            tos: (0, 0),
            tally_in: Tally::default(),
            tally_out: Tally::default(),
        }
    }

    fn segment(&mut self, dir: usize, flags: &str, payload: &[u8]) -> (Frame, Option<Vec<u8>>) {
        let leg = if dir == 0 { self.fwd } else { self.rev };
        let (seq, ack) = (self.seq[dir], self.seq[1 - dir]);
        let f = tcp(
            leg.from_mac,
            leg.to_mac,
            leg.src,
            leg.dst,
            seq,
            ack,
            flags,
            payload,
        );
        let f = if dir == 0 {
            f.with_tos(self.tos.0, self.tos.1)
        } else {
            f
        };
        self.seq[dir] = seq
            .wrapping_add(payload.len() as u32)
            .wrapping_add(u32::from(flags.contains('S')))
            .wrapping_add(u32::from(flags.contains('F')));
        let out = leg.expect(&f);
        if out.is_some() {
            if dir == 0 {
                self.tally_in.add(&f);
            } else {
                self.tally_out.add(&f);
            }
        }
        (f, out)
    }

    /// The client sends a segment; it goes into `script` with its output.
    pub fn client(&mut self, script: &mut Script, flags: &str, payload: &[u8]) -> Frame {
        let (f, out) = self.segment(0, flags, payload);
        script.push(f.bytes(), out);
        f
    }

    /// The backend sends a segment. Through us (NAT, FULLNAT, SNAT) it goes
    /// into `script`; in DR and TUN it goes straight to the client and only
    /// moves the sequence numbers on.
    pub fn server(&mut self, script: &mut Script, flags: &str, payload: &[u8]) -> Frame {
        let (f, out) = self.segment(1, flags, payload);
        if !matches!(self.rev.out, Out::Bypass) {
            script.push(f.bytes(), out);
        }
        f
    }

    /// Handshake, a request and a response, a FIN close from the client.
    pub fn full_exchange(&mut self, script: &mut Script) {
        self.client(script, "S", b"");
        self.server(script, "SA", b"");
        self.client(script, "A", b"");
        self.client(script, "AP", b"GET / HTTP/1.1\r\nHost: ferrolb\r\n\r\n");
        self.server(script, "A", b"");
        self.server(
            script,
            "AP",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        );
        self.client(script, "A", b"");
        self.client(script, "FA", b"");
        self.server(script, "FA", b"");
        self.client(script, "A", b"");
    }
}

/// A UDP datagram one way: into `script` with its output (unless it
/// bypasses us), counted in `tally` if it goes through us.
pub fn udp_on(script: &mut Script, leg: &Leg, payload: &[u8], tally: &mut Tally) -> Frame {
    let f = udp(leg.from_mac, leg.to_mac, leg.src, leg.dst, payload);
    push_on(script, leg, f, tally)
}

/// Any frame of `leg` (built by the caller) into `script`, as `udp_on`.
pub fn push_on(script: &mut Script, leg: &Leg, f: Frame, tally: &mut Tally) -> Frame {
    let out = leg.expect(&f);
    if out.is_some() {
        tally.add(&f);
    }
    if !matches!(leg.out, Out::Bypass) {
        script.push(f.bytes(), out);
    }
    f
}

// ---------------------------------------------------------------------------
/// Every drop reason the document and the task list name.
pub const DROP_REASONS: &[&str] = &[
    "truncated_frame",
    "unsupported_ethertype",
    "truncated_ipv4",
    "bad_ip_version",
    "bad_ihl",
    "total_length_past_frame",
    "total_length_below_header",
    "bad_ipv4_checksum",
    "fragment",
    "unsupported_protocol",
    "ipv6_not_forwarded",
    "truncated_l4",
    "bad_icmp_checksum",
    "bad_icmp_quote",
    "unsupported_icmp",
    "malformed_arp",
    "not_for_us",
    "no_route",
    "neighbour_queue_full",
    "neighbour_table_full",
    "neighbour_unresolved",
    "ttl_exceeded",
    "icmp_rate_limited",
    "fragmentation_needed",
    "too_big_to_fragment",
    "packet_too_big",
    "no_buffer_room",
    "no_interface",
    "no_session",
    "no_service",
    "no_backend",
    "ports_exhausted",
    "table_full",
    "tx_full",
    "multi_segment",
    "frag_oversized",
    "frag_overlap",
    "frag_timeout",
    "frag_table_full",
    "frag_hold_full",
    "frag_first_dropped",
    "reasm_duplicate",
    "reasm_overlap",
    "reasm_inconsistent",
    "reasm_too_big",
    "reasm_too_many",
    "reasm_timeout",
    "reasm_full",
    "bond_no_member",
];

impl ReplayResult {
    /// Every number on the report row named `row` (e.g. `svc:tcp/192.0.2.10:80`).
    pub fn row(&self, row: &str) -> Vec<u64> {
        let stdout = self.stdout();
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.split_whitespace().next() == Some(row))
            .unwrap_or_else(|| panic!("no report row {row:?} in:\n{stdout}"));
        line.split_whitespace()
            .skip(1)
            .filter_map(|w| w.parse().ok())
            .collect()
    }

    /// Every `drop:<reason>` row's count, by reason.
    pub fn drops(&self) -> BTreeMap<String, u64> {
        self.stdout()
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let reason = words.next()?.strip_prefix("drop:")?;
                let n = words.find_map(|w| w.parse().ok())?;
                Some((reason.to_owned(), n))
            })
            .collect()
    }

    /// The drop counters are exactly `expected`, every other reason 0.
    pub fn assert_drops(&self, expected: &[(&str, u64)]) {
        let drops = self.drops();
        let mut want: BTreeMap<String, u64> = drops.keys().map(|k| (k.clone(), 0)).collect();
        for (k, n) in expected {
            want.insert((*k).to_owned(), *n);
        }
        let differ: Vec<String> = want
            .iter()
            .filter(|(k, n)| drops.get(*k) != Some(n))
            .map(|(k, n)| format!("drop:{k} = {:?}, expected {n}", drops.get(k)))
            .collect();
        assert!(
            differ.is_empty(),
            "drop counters differ:\n{}\n--- stdout\n{}",
            differ.join("\n"),
            self.stdout()
        );
    }

    /// `svc:`, `be:` or `snat:` row: conns, sessions, and the two tallies.
    pub fn assert_row(&self, row: &str, conns: u64, sessions: u64, tin: Tally, tout: Tally) {
        assert_eq!(
            self.row(row),
            vec![
                conns,
                sessions,
                tin.packets,
                tin.bytes,
                tout.packets,
                tout.bytes
            ],
            "{row}: conns sessions packets-in bytes-in packets-out bytes-out\n{}",
            self.stdout()
        );
    }

    pub fn event(&self, name: &str) -> u64 {
        self.report_value(&format!("event:{name}"), 0)
    }

    /// The run succeeded, and every frame it sent has valid checksums.
    pub fn assert_ok_and_checksums(&self, ports: &[&str]) {
        self.assert_success();
        for (i, p) in ports.iter().enumerate() {
            assert_checksums_valid(p, &self.sent[i]);
        }
    }
}

/// `svc:` row name.
pub fn svc_row(proto: &str, port: u16) -> String {
    format!("svc:{proto}/{}:{port}", ip_text(VIP))
}

/// `be:` row name.
pub fn be_row(proto: &str, port: u16, rip: Ip, rport: u16) -> String {
    format!(
        "be:{proto}/{}:{port}/{}:{rport}",
        ip_text(VIP),
        ip_text(rip)
    )
}
