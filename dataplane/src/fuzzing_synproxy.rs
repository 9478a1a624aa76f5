//! The SYN proxy's splice for the fuzzer: a proxied NAT connection is set
//! up by a scripted handshake (the cookie comes from the SYN-ACK, which
//! random bytes could never guess), then the input goes in as a TCP
//! segment (header, options, payload) from the client and from the
//! backend, so the sequence, SACK and timestamp translation and the
//! pending-handshake paths see arbitrary options. The same again with a
//! PROXY v1 header on the connection (one translation for both shifts),
//! and a connection with a PROXY v2 header and no SYN proxy, where the
//! input also goes in as the client's first segment, so the header is
//! inserted in front of arbitrary payloads and options. The SYN-proxied
//! connection again on an IPv6 FULLNAT service (`fuzzing_synproxy6.rs`).

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::buf::{PacketBuf, TestBuf};
use crate::client_addr::proxy_header::ProxyVersion;
use crate::io::MemoryIo;
use crate::packet::{classify, Classified};
use crate::pipeline::Pipeline;
use crate::sched::SchedulerKind;
use crate::synproxy::frame::{rewrite_segment, Segment, Way};
use crate::synproxy::options;
use crate::tables::*;
use crate::tuple::IpProto;
use crate::wire::ethernet::MacAddr;
use crate::wire::ipv4::{write_ipv4_header, Ipv4Header, DONT_FRAGMENT};
use crate::wire::tcp::TcpFlags;
use crate::wire::{get_be32, put_be16};

const OURS: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xaa]);
const PEER: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xfe]);
const CIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const RIP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 11);
const CPORT: u16 = 40000;

/// Ethernet and IPv4 headers from `src` to `dst`, then `tcp` as it is.
fn frame(src: Ipv4Addr, dst: Ipv4Addr, tcp: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20];
    f[..6].copy_from_slice(&OURS.0);
    f[6..12].copy_from_slice(&PEER.0);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let h = Ipv4Header {
        tos: 0,
        total_len: (20 + tcp.len()) as u16,
        ident: 1,
        flags_fragment: DONT_FRAGMENT,
        ttl: 64,
        proto: IpProto::TCP,
        src,
        dst,
    };
    let _ = write_ipv4_header(&mut f[14..], &h);
    f.extend_from_slice(tcp);
    f
}

/// A well-formed segment from `src:sport` to `dst:dport`.
fn segment(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), seg: &Segment) -> Vec<u8> {
    let mut bare = [0u8; 20];
    put_be16(&mut bare, 0, src.1);
    put_be16(&mut bare, 2, dst.1);
    bare[12] = 0x50;
    let f = frame(src.0, dst.0, &bare);
    let Ok(Classified::Ipv4(meta)) = classify(&f) else {
        panic!("the harness's own frame classifies");
    };
    let mut buf = TestBuf::new(&f);
    if rewrite_segment(&mut buf, &meta, seg, Way::On).is_err() {
        panic!("the harness's own segment fits");
    }
    buf.data().to_vec()
}

fn run(p: &mut Pipeline<TestBuf>, frames: Vec<Vec<u8>>, now: u64) -> Vec<Vec<u8>> {
    let mut io = MemoryIo::new(vec![frames]);
    p.poll(&mut io, now);
    p.poll(&mut io, now);
    io.sent_frames(0)
}

fn tcp_of(f: &[u8]) -> &[u8] {
    f.get(34..).unwrap_or(&[])
}

fn proxied_nat(syn_proxy: bool, proxy_protocol: Option<ProxyVersion>) -> Pipeline<TestBuf> {
    pipeline_of(nat_config(syn_proxy, proxy_protocol))
}

/// The one NAT service's config (the IPv6 harness changes it).
fn nat_config(syn_proxy: bool, proxy_protocol: Option<ProxyVersion>) -> LbConfig {
    LbConfig {
        kernel: Vec::new(),
        garp: Default::default(),
        synproxy: Default::default(),
        standby: Vec::new(),
        ports: vec![PortSetup {
            mac: OURS,
            mtu: 1500,
        }],
        interfaces: vec![Interface {
            port: 0,
            vlan: None,
            addrs: vec![(Ipv4Addr::new(10, 0, 1, 1), 24)],
            addrs6: Vec::new(),
        }],
        routes: vec![StaticRoute {
            prefix: Ipv4Addr::UNSPECIFIED,
            len: 0,
            via: Ipv4Addr::new(10, 0, 1, 254),
        }],
        routes6: Vec::new(),
        neighbours6: Vec::new(),
        neighbours: vec![(Ipv4Addr::new(10, 0, 1, 254), PEER), (RIP, PEER)],
        services: vec![ServiceSpec {
            name: None,
            vip: VIP.into(),
            proto: IpProto::TCP,
            port: 80,
            extra_ports: 0,
            also_listen: Vec::new(),
            one_packet: false,
            mode: Mode::Nat,
            scheduler: SchedulerKind::RoundRobin,
            persistence: None,
            pickup: false,
            local_addrs: Vec::new(),
            local_addrs6: Vec::new(),
            local_ports: (1024, 1100),
            timeouts: None,
            acl: Default::default(),
            mss_clamp: None,
            syn_proxy,
            new_conn_rate: None,
            client_rate: None,
            toa: false,
            proxy_protocol,
            backends: vec![BackendSpec {
                addr: RIP.into(),
                port: 80,
                weight: 1,
                u_threshold: 0,
                l_threshold: 0,
            }],
        }],
        snat: Vec::new(),
        sessions: crate::flow::TableConfig {
            capacity: 64,
            ..Default::default()
        },
    }
}

fn pipeline_of(cfg: LbConfig) -> Pipeline<TestBuf> {
    let Ok(tables) = LbTables::build(&cfg) else {
        panic!("the synproxy fuzzing config builds");
    };
    let Ok(p) = Pipeline::<TestBuf>::new(Arc::new(tables), 0, 1, 0) else {
        panic!("the synproxy fuzzing pipeline builds");
    };
    p
}

/// Runs `data` as a client and a backend segment of a spliced connection
/// (and as a client segment while the backend has not answered). Panics
/// only if the scripted handshake fails or a frame sent does not classify.
pub fn run_splice(data: &[u8]) {
    splice_with(data, None);
    splice_with(data, Some(ProxyVersion::V1));
    let _ = run_header(data);
    v6::splice6(data);
}

fn splice_with(data: &[u8], header: Option<ProxyVersion>) {
    let client = (CIP, CPORT);
    let syn_opts = options::SynOptions {
        mss: 1460,
        wscale: Some(7),
        sack_permitted: true,
        timestamp: Some((100, 0)),
    };
    let isn = 0x7000_0000u32;
    let mut p = proxied_nat(true, header);
    let syn = Segment::new(isn, 0, TcpFlags::SYN, 1000).with_syn_options(&syn_opts);
    let out = run(&mut p, vec![segment(client, (VIP, 80), &syn)], 10);
    let Some(syn_ack) = out.first() else {
        panic!("the SYN is answered");
    };
    let cookie = get_be32(tcp_of(syn_ack), 4);
    let Ok(o) = options::parse(tcp_of(syn_ack)) else {
        panic!("our SYN-ACK's options read");
    };
    let our_ts = o.timestamp.map_or(0, |t| t.0);
    let ack = Segment::new(isn + 1, cookie + 1, TcpFlags::ACK, 1000).with_timestamp(101, our_ts);
    let cookie_ack = segment(client, (VIP, 80), &ack);
    // While the backend has not answered: the input from the client.
    let early = with_ports(data, CPORT, 80, CIP, VIP);
    let out = run(&mut p, vec![cookie_ack, early], 11);
    assert!(!out.is_empty(), "the cookie ACK opens the backend side");
    let backend = (RIP, 80);
    let sa = Segment::new(0x9000_0000, isn + 1, TcpFlags::SYN | TcpFlags::ACK, 1000)
        .with_syn_options(&options::SynOptions {
            timestamp: Some((5000, 101)),
            ..syn_opts
        });
    run(&mut p, vec![segment(backend, client, &sa)], 12);
    assert_eq!(
        p.counters().events.synproxy_spliced,
        1,
        "the backend handshake completes"
    );
    let from_client = with_ports(data, CPORT, 80, CIP, VIP);
    let from_backend = with_ports(data, 80, CPORT, RIP, CIP);
    all_classify(run(&mut p, vec![from_client, from_backend], 13));
}

/// A NAT connection with a PROXY v2 header and no SYN proxy: handshake,
/// then `data` as the client's first segment (its sequence number set to
/// the first byte's), as it is from the client, and from the backend.
/// Returns how many headers went in.
fn run_header(data: &[u8]) -> u64 {
    let client = (CIP, CPORT);
    let backend = (RIP, 80);
    let isn = 0x7000_0000u32;
    let mut p = proxied_nat(false, Some(ProxyVersion::V2));
    let syn_opts = options::SynOptions {
        mss: 1460,
        wscale: None,
        sack_permitted: true,
        timestamp: None,
    };
    let syn = Segment::new(isn, 0, TcpFlags::SYN, 1000).with_syn_options(&syn_opts);
    let sa = Segment::new(0x9000_0000, isn + 1, TcpFlags::SYN | TcpFlags::ACK, 1000)
        .with_syn_options(&syn_opts);
    let out = run(
        &mut p,
        vec![
            segment(client, (VIP, 80), &syn),
            segment(backend, client, &sa),
        ],
        10,
    );
    assert_eq!(out.len(), 2, "the handshake passes");
    let mut first = data.get(..1400).unwrap_or(data).to_vec();
    if first.len() < 20 {
        first.resize(20, 0);
    }
    first[4..8].copy_from_slice(&(isn + 1).to_be_bytes());
    let frames = vec![
        with_ports(&first, CPORT, 80, CIP, VIP),
        with_ports(data, CPORT, 80, CIP, VIP),
        with_ports(data, 80, CPORT, RIP, CIP),
    ];
    all_classify(run(&mut p, frames, 11));
    p.counters().events.proxy_tcp_added
}

fn all_classify(sent: Vec<Vec<u8>>) {
    for out in sent {
        if let Err(reason) = classify(&out) {
            panic!("the splice sent a frame that does not classify: {reason:?}");
        }
    }
}

/// `data` as a TCP segment (header, options, payload) with these ports,
/// from `src` to `dst`.
fn with_ports(data: &[u8], sport: u16, dport: u16, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut tcp = data.get(..1400).unwrap_or(data).to_vec();
    if tcp.len() < 20 {
        tcp.resize(20, 0);
    }
    put_be16(&mut tcp, 0, sport);
    put_be16(&mut tcp, 2, dport);
    frame(src, dst, &tcp)
}

#[path = "fuzzing_synproxy6.rs"]
mod v6;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_header_harness_reaches_the_insertion() {
        let mut tcp = vec![0u8; 20];
        tcp[12] = 5 << 4;
        tcp[13] = TcpFlags::ACK;
        tcp.extend_from_slice(b"GET /");
        assert_eq!(run_header(&tcp), 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn arbitrary_segments_in_a_splice_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..120),
        ) {
            run_splice(&data);
        }

        /// Valid-looking headers (data offset, ACK set) with random options
        /// reach the option walk more often than random bytes do.
        #[test]
        fn random_options_in_a_splice_never_panic(
            opts in proptest::collection::vec(any::<u8>(), 0..40),
            flags in any::<u8>(),
        ) {
            let mut tcp = vec![0u8; 20];
            let len = (20 + opts.len()).div_ceil(4) * 4;
            tcp[12] = ((len / 4) as u8) << 4;
            tcp[13] = flags | TcpFlags::ACK;
            tcp.extend_from_slice(&opts);
            tcp.resize(len, 0);
            run_splice(&tcp);
        }
    }
}
