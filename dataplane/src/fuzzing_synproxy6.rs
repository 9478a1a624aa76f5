//! The SYN proxy's IPv6 splice for the fuzzer (`pipeline/synproxy6.rs`):
//! a proxied IPv6 FULLNAT connection set up by a scripted handshake (the
//! cookie read from our SYN-ACK), with the input as a client segment
//! before the backend answers, then as a client and a backend segment of
//! the spliced connection.

use std::net::Ipv6Addr;

use super::{all_classify, nat_config, pipeline_of, run, OURS, PEER};
use crate::buf::{PacketBuf, TestBuf};
use crate::packet6::{classify_ipv6, Ipv6Flow};
use crate::synproxy::frame::{rewrite_segment6, Segment, Way};
use crate::synproxy::options;
use crate::tables::Mode;
use crate::wire::ipv6::{write_header, Ipv6Header, IPV6_HEADER_LEN};
use crate::wire::tcp::TcpFlags;
use crate::wire::{get_be32, put_be16};

const CIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7);
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0x10);
const RIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x11);
const LADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
const CPORT: u16 = 40000;
/// TCP's next-header number.
const TCP: u8 = 6;

/// Ethernet and IPv6 headers from `src` to `dst`, then `tcp` as it is.
fn frame6(src: Ipv6Addr, dst: Ipv6Addr, tcp: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + IPV6_HEADER_LEN];
    f[..6].copy_from_slice(&OURS.0);
    f[6..12].copy_from_slice(&PEER.0);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    let h = Ipv6Header {
        src,
        dst,
        next_header: TCP,
        hop_limit: 64,
        payload_len: tcp.len() as u16,
    };
    let _ = write_header(&mut f[14..], &h);
    f.extend_from_slice(tcp);
    f
}

/// A well-formed segment from `src` to `dst`.
fn segment6(src: (Ipv6Addr, u16), dst: (Ipv6Addr, u16), seg: &Segment) -> Vec<u8> {
    let mut bare = [0u8; 20];
    put_be16(&mut bare, 0, src.1);
    put_be16(&mut bare, 2, dst.1);
    bare[12] = 0x50;
    let f = frame6(src.0, dst.0, &bare);
    let Ok(Ipv6Flow::Flow(meta)) = classify_ipv6(&f, 14) else {
        panic!("the harness's own frame classifies");
    };
    let mut buf = TestBuf::new(&f);
    if rewrite_segment6(&mut buf, &meta, seg, Way::On).is_err() {
        panic!("the harness's own segment fits");
    }
    buf.data().to_vec()
}

/// `data` as a TCP segment (header, options, payload) with these ports.
fn with_ports6(
    data: &[u8],
    (src, sport): (Ipv6Addr, u16),
    (dst, dport): (Ipv6Addr, u16),
) -> Vec<u8> {
    let mut tcp = data.get(..1400).unwrap_or(data).to_vec();
    if tcp.len() < 20 {
        tcp.resize(20, 0);
    }
    put_be16(&mut tcp, 0, sport);
    put_be16(&mut tcp, 2, dport);
    frame6(src, dst, &tcp)
}

/// Runs `data` in a SYN-proxied IPv6 FULLNAT connection. Panics only if
/// the scripted handshake fails or a frame sent does not classify.
pub(super) fn splice6(data: &[u8]) {
    let mut cfg = nat_config(true, None);
    let s = &mut cfg.services[0];
    s.vip = VIP6.into();
    s.mode = Mode::FullNat;
    s.local_addrs6 = vec![LADDR6];
    s.backends[0].addr = RIP6.into();
    cfg.interfaces[0].addrs6 = vec![(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 64)];
    cfg.neighbours6 = vec![(CIP6, PEER), (RIP6, PEER)];
    cfg.sessions.capacity6 = 64;
    let mut p = pipeline_of(cfg);
    let client = (CIP6, CPORT);
    let syn_opts = options::SynOptions {
        mss: 1440,
        wscale: Some(7),
        sack_permitted: true,
        timestamp: Some((100, 0)),
    };
    let isn = 0x7000_0000u32;
    let syn = Segment::new(isn, 0, TcpFlags::SYN, 1000).with_syn_options(&syn_opts);
    let out = run(&mut p, vec![segment6(client, (VIP6, 80), &syn)], 10);
    let Some(syn_ack) = out.first() else {
        panic!("the IPv6 SYN is answered");
    };
    let tcp = syn_ack.get(14 + IPV6_HEADER_LEN..).unwrap_or(&[]);
    let cookie = get_be32(tcp, 4);
    let Ok(o) = options::parse(tcp) else {
        panic!("our SYN-ACK's options read");
    };
    let our_ts = o.timestamp.map_or(0, |t| t.0);
    let ack = Segment::new(isn + 1, cookie + 1, TcpFlags::ACK, 1000).with_timestamp(101, our_ts);
    let early = with_ports6(data, client, (VIP6, 80));
    let out = run(&mut p, vec![segment6(client, (VIP6, 80), &ack), early], 11);
    let Some(backend_syn) = out.first() else {
        panic!("the cookie ACK opens the backend side");
    };
    all_classify(out.clone());
    // The local port the backend SYN left from.
    let lport = u16::from_be_bytes([backend_syn[14 + 40], backend_syn[14 + 41]]);
    let (local, backend) = ((LADDR6, lport), (RIP6, 80));
    let sa = Segment::new(0x9000_0000, isn + 1, TcpFlags::SYN | TcpFlags::ACK, 1000)
        .with_syn_options(&options::SynOptions {
            timestamp: Some((5000, 101)),
            ..syn_opts
        });
    run(&mut p, vec![segment6(backend, local, &sa)], 12);
    assert_eq!(
        p.counters().events.synproxy_spliced,
        1,
        "the IPv6 backend handshake completes"
    );
    let from_client = with_ports6(data, client, (VIP6, 80));
    let from_backend = with_ports6(data, backend, local);
    all_classify(run(&mut p, vec![from_client, from_backend], 13));
}
