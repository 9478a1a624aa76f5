//! The segments the SYN proxy sends, built in the buffer of the packet that
//! caused them (no allocation): the client's SYN becomes our SYN-ACK, the
//! client's cookie ACK our SYN to the backend, the backend's SYN-ACK our ACK
//! to it. The TCP header is replaced, the payload dropped, the IPv4 header
//! rewritten without options (IPv6's without extension headers), every
//! checksum computed in full.

use super::options::{syn_option_words, OptionWords, SynOptions};
use crate::buf::PacketBuf;
use crate::checksum::{fold, ipv6_pseudo_header_sum, pseudo_header_sum};
use crate::drop::DropReason;
use crate::packet::Ipv4Meta;
use crate::packet6::Ipv6Meta;
use crate::tuple::IpProto;
use crate::wire::ethernet;
use crate::wire::get_be16;
use crate::wire::ipv4::{self, write_ipv4_header, Ipv4Header, IPV4_MIN_HEADER_LEN};
use crate::wire::ipv6::{self, Ipv6Header, IPV6_HEADER_LEN};
use crate::wire::tcp::{self, TCP_MIN_HEADER_LEN};

/// TTL of the segments we originate.
pub const TTL: u8 = 64;

/// A TCP header to write, options as 32-bit words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub options: OptionWords,
}

impl Segment {
    /// A segment with no options.
    pub fn new(seq: u32, ack: u32, flags: u8, window: u16) -> Self {
        Segment {
            seq,
            ack,
            flags,
            window,
            options: OptionWords::default(),
        }
    }

    /// With the options of a SYN or SYN-ACK.
    #[inline]
    pub fn with_syn_options(mut self, o: &SynOptions) -> Self {
        self.options = syn_option_words(o);
        self
    }

    /// With only a timestamp (NOP NOP TS), as Linux sends it after the
    /// handshake.
    pub fn with_timestamp(mut self, val: u32, ecr: u32) -> Self {
        self.options = OptionWords::timestamp(val, ecr);
        self
    }
}

/// Which way the new segment goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Way {
    /// Back to the sender: MACs, addresses and ports swapped.
    Back,
    /// On, with the packet's addresses and ports (the caller translates).
    On,
}

/// Replaces the TCP/IPv4 packet `meta` describes with `seg`, going `way`.
/// The Ethernet header (and VLAN tag) stays where it is; `NoBufferRoom` if
/// the buffer cannot grow enough (nothing is changed then).
pub fn rewrite_segment<B: PacketBuf>(
    pkt: &mut B,
    meta: &Ipv4Meta,
    seg: &Segment,
    way: Way,
) -> Result<(), DropReason> {
    let l3 = meta.l3_offset;
    let tcp_len = TCP_MIN_HEADER_LEN + seg.options.byte_len();
    let want = l3 + IPV4_MIN_HEADER_LEN + tcp_len;
    let t = meta.tuple;
    let (src, dst, sport, dport) = match way {
        Way::Back => (t.dst, t.src, t.dst_port, t.src_port),
        Way::On => (t.src, t.dst, t.src_port, t.dst_port),
    };
    let tos = pkt
        .data()
        .get(l3 + ipv4::field::DSCP_ECN)
        .copied()
        .unwrap_or(0);
    let ident = get_be16(pkt.data(), l3 + ipv4::field::IDENT.start);
    resize(pkt, want)?;
    let frame = pkt.data_mut();
    if way == Way::Back {
        swap_macs(frame);
    }
    let header = Ipv4Header {
        // Keep the DSCP, not the ECN bits (this segment is not ECN-capable).
        tos: tos & !0x3,
        total_len: (IPV4_MIN_HEADER_LEN + tcp_len) as u16,
        ident,
        flags_fragment: ipv4::DONT_FRAGMENT,
        ttl: TTL,
        proto: IpProto::TCP,
        src,
        dst,
    };
    // The IPv4 header and the fixed TCP header as one fixed-size window
    // (no bound checked per field), the options behind it.
    const FIXED: usize = IPV4_MIN_HEADER_LEN + TCP_MIN_HEADER_LEN;
    let Some((fixed, opts)) = frame
        .get_mut(l3..want)
        .and_then(|f| f.split_first_chunk_mut::<FIXED>())
    else {
        return Err(DropReason::NoBufferRoom);
    };
    write_ipv4_header(fixed, &header).ok_or(DropReason::NoBufferRoom)?;
    let tcp = fixed
        .last_chunk_mut::<TCP_MIN_HEADER_LEN>()
        .ok_or(DropReason::NoBufferRoom)?;
    let pseudo = pseudo_header_sum(src, dst, IpProto::TCP, tcp_len as u16);
    write_tcp(tcp, opts, (sport, dport), seg, pseudo);
    Ok(())
}

/// Writes `seg` as the TCP header `tcp` (its fixed part) and `opts` (the
/// option words behind it), its checksum from `pseudo`, the family's
/// pseudo-header sum: IPv4's and IPv6's segments share all of it.
#[inline(always)]
fn write_tcp(
    tcp: &mut [u8; TCP_MIN_HEADER_LEN],
    opts: &mut [u8],
    (sport, dport): (u16, u16),
    seg: &Segment,
    pseudo: u64,
) {
    let tcp_len = TCP_MIN_HEADER_LEN + seg.options.byte_len();
    // The fixed TCP header as five 32-bit words (checksum and urgent
    // pointer zero): written, and summed for the checksum as they are, not
    // read back from the buffer.
    let words = [
        u32::from(sport) << 16 | u32::from(dport),
        seg.seq,
        seg.ack,
        ((tcp_len as u32 / 4) << 12 | u32::from(seg.flags)) << 16 | u32::from(seg.window),
        0,
    ];
    for (i, w) in words.iter().enumerate() {
        tcp[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
    }
    let mut sum = words.iter().fold(pseudo, |sum, &w| sum + u64::from(w));
    // The option words written and summed in one pass.
    for (out, &w) in opts.chunks_exact_mut(4).zip(seg.options.as_slice()) {
        out.copy_from_slice(&w.to_be_bytes());
        sum += u64::from(w);
    }
    let check = tcp::field::CHECKSUM.start;
    tcp[check..check + 2].copy_from_slice(&(!fold(sum)).to_be_bytes());
}

/// Swaps the Ethernet header's MACs (a segment going back to its sender).
fn swap_macs(frame: &mut [u8]) {
    if let Some(macs) = frame.first_chunk_mut::<{ ethernet::field::SOURCE.end }>() {
        let (destination, source) = macs.split_at_mut(ethernet::field::SOURCE.start);
        destination.swap_with_slice(source);
    }
}

/// Makes `pkt` exactly `want` bytes long; `NoBufferRoom` if it cannot grow.
fn resize<B: PacketBuf>(pkt: &mut B, want: usize) -> Result<(), DropReason> {
    let have = pkt.len();
    if have > want {
        pkt.trim(have - want);
    } else if have < want && pkt.append(want - have).is_none() {
        return Err(DropReason::NoBufferRoom);
    }
    Ok(())
}

/// [`rewrite_segment`] of a TCP/IPv6 packet: the IPv6 header rewritten
/// without extension headers (traffic class kept but its ECN bits, flow
/// label 0, hop limit [`TTL`]), the TCP checksum over IPv6's
/// pseudo-header.
pub fn rewrite_segment6<B: PacketBuf>(
    pkt: &mut B,
    meta: &Ipv6Meta,
    seg: &Segment,
    way: Way,
) -> Result<(), DropReason> {
    let l3 = meta.l3_offset;
    let tcp_len = TCP_MIN_HEADER_LEN + seg.options.byte_len();
    let want = l3 + IPV6_HEADER_LEN + tcp_len;
    let t = meta.tuple;
    let (src, dst, sport, dport) = match way {
        Way::Back => (t.dst, t.src, t.dst_port, t.src_port),
        Way::On => (t.src, t.dst, t.src_port, t.dst_port),
    };
    let class = pkt.data().get(l3..).map_or(0, ipv6::traffic_class);
    resize(pkt, want)?;
    let frame = pkt.data_mut();
    if way == Way::Back {
        swap_macs(frame);
    }
    const FIXED: usize = IPV6_HEADER_LEN + TCP_MIN_HEADER_LEN;
    let Some((fixed, opts)) = frame
        .get_mut(l3..want)
        .and_then(|f| f.split_first_chunk_mut::<FIXED>())
    else {
        return Err(DropReason::NoBufferRoom);
    };
    let header = Ipv6Header {
        src,
        dst,
        next_header: IpProto::TCP.0,
        hop_limit: TTL,
        payload_len: tcp_len as u16,
    };
    if !ipv6::write_header(fixed, &header) {
        return Err(DropReason::NoBufferRoom);
    }
    // Keep the DSCP, not the ECN bits (this segment is not ECN-capable).
    ipv6::set_traffic_class(fixed, class & !0x3);
    let tcp = fixed
        .last_chunk_mut::<TCP_MIN_HEADER_LEN>()
        .ok_or(DropReason::NoBufferRoom)?;
    let pseudo = ipv6_pseudo_header_sum(src, dst, IpProto::TCP.0, tcp_len as u32);
    write_tcp(tcp, opts, (sport, dport), seg, pseudo);
    Ok(())
}

/// The metadata of a packet `rewrite_segment6` produced from `meta`.
pub fn rewritten_meta6(meta: &Ipv6Meta, seg: &Segment, way: Way) -> Ipv6Meta {
    let tuple = match way {
        Way::Back => meta.tuple.reversed(),
        Way::On => meta.tuple,
    };
    Ipv6Meta {
        tuple,
        l4_offset: meta.l3_offset + IPV6_HEADER_LEN,
        tcp_flags: Some(seg.flags),
        len: (IPV6_HEADER_LEN + TCP_MIN_HEADER_LEN + seg.options.byte_len()) as u16,
        hop_limit: TTL,
        extensions: 0,
        ..*meta
    }
}

/// The metadata of a packet `rewrite_segment` produced from `meta`.
pub fn rewritten_meta(meta: &Ipv4Meta, seg: &Segment, way: Way) -> Ipv4Meta {
    let tuple = match way {
        Way::Back => meta.tuple.reversed(),
        Way::On => meta.tuple,
    };
    Ipv4Meta {
        l4_offset: meta.l3_offset + IPV4_MIN_HEADER_LEN,
        total_len: (IPV4_MIN_HEADER_LEN + TCP_MIN_HEADER_LEN + seg.options.byte_len()) as u16,
        ttl: TTL,
        dont_fragment: true,
        tuple,
        ..*meta
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
