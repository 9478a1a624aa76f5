//! The forwarding rewrites of the five modes, on a classified frame.
//!
//! The flow table (which picks backends, local addresses and ports) and the
//! pipeline (which routes and resolves neighbours) live elsewhere; these
//! functions take every new address, port and MAC as a parameter:
//!
//! | mode | request | reply |
//! |---|---|---|
//! | DR | [`set_macs`] only; IP and L4 untouched, TTL too | none (RS → client) |
//! | TUN | [`encapsulate_ipip`], then [`set_macs`] | none (RS → client) |
//! | NAT | [`translate`] with [`Translation::nat_request`] | [`Translation::nat_reply`] |
//! | FULLNAT | [`Translation::fullnat_request`] | [`Translation::fullnat_reply`] |
//! | SNAT | [`Translation::snat_outbound`] | [`Translation::snat_reply`] |
//!
//! NAT, FULLNAT and SNAT are all "the packet leaves with this tuple": a
//! [`Translation`] is that tuple, so the pipeline can also build one straight
//! from a session (a packet of one direction leaves with the reversed tuple
//! of the other direction). [`translate`] decrements the TTL and updates
//! every checksum incrementally; TTL <= 1 is refused with
//! [`DropReason::TtlExceeded`] before anything is written, and the caller
//! answers with [`crate::net::icmp::build_icmp_error`] (rate-limited) or
//! counts the drop.
//!
//! "Reverse" in the tests means: translating a packet with `t` and then with
//! the tuple it had before restores every byte except the TTL (lower by two)
//! and the IPv4 header checksum (which matches that TTL).

use std::net::Ipv4Addr;

use crate::buf::PacketBuf;
use crate::checksum::Delta;
use crate::drop::DropReason;
use crate::packet::{Ipv4Meta, L4Kind};
use crate::tuple::{FiveTuple, IpProto};
use crate::wire::ethernet::{self, MacAddr, ETHERNET_HEADER_LEN, VLAN_TAG_LEN};
use crate::wire::ipv4::{self, header_len_of, write_ipv4_header, Ipv4Header, IPV4_MIN_HEADER_LEN};
use crate::wire::{get_be16, get_be32, get_u8, icmp, tcp, udp};
use crate::wire::{put_be16, put_be32, put_bytes};

/// The addresses and ports a packet leaves with after NAT, FULLNAT or SNAT.
///
/// For ICMP echo the identifier plays the port of the side that chose it:
/// an echo request takes its new identifier from `src_port`, an echo reply
/// from `dst_port` (see [`FiveTuple`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Translation {
    pub src: Ipv4Addr,
    pub src_port: u16,
    pub dst: Ipv4Addr,
    pub dst_port: u16,
}

impl Translation {
    /// The identity: a packet leaving with the tuple it came with.
    pub fn of(t: &FiveTuple) -> Self {
        Translation {
            src: t.src,
            src_port: t.src_port,
            dst: t.dst,
            dst_port: t.dst_port,
        }
    }
    /// The tuple a packet with protocol `proto` has after this translation.
    pub fn tuple(&self, proto: IpProto) -> FiveTuple {
        FiveTuple {
            src: self.src,
            dst: self.dst,
            src_port: self.src_port,
            dst_port: self.dst_port,
            proto,
        }
    }
    /// NAT request: CIP:cport → VIP:vport becomes CIP:cport → RIP:rport.
    pub fn nat_request(pkt: &FiveTuple, rip: Ipv4Addr, rport: u16) -> Self {
        Translation {
            dst: rip,
            dst_port: rport,
            ..Self::of(pkt)
        }
    }
    /// NAT reply: RIP:rport → CIP:cport becomes VIP:vport → CIP:cport.
    pub fn nat_reply(pkt: &FiveTuple, vip: Ipv4Addr, vport: u16) -> Self {
        Translation {
            src: vip,
            src_port: vport,
            ..Self::of(pkt)
        }
    }
    /// FULLNAT request: CIP:cport → VIP:vport becomes LIP:lport → RIP:rport.
    pub fn fullnat_request(local: (Ipv4Addr, u16), real: (Ipv4Addr, u16)) -> Self {
        Translation {
            src: local.0,
            src_port: local.1,
            dst: real.0,
            dst_port: real.1,
        }
    }
    /// FULLNAT reply: RIP:rport → LIP:lport becomes VIP:vport → CIP:cport.
    pub fn fullnat_reply(virt: (Ipv4Addr, u16), client: (Ipv4Addr, u16)) -> Self {
        Translation {
            src: virt.0,
            src_port: virt.1,
            dst: client.0,
            dst_port: client.1,
        }
    }
    /// SNAT outbound: internal:port → remote becomes SNAT-addr:port → remote.
    pub fn snat_outbound(pkt: &FiveTuple, snat_addr: Ipv4Addr, snat_port: u16) -> Self {
        Translation {
            src: snat_addr,
            src_port: snat_port,
            ..Self::of(pkt)
        }
    }
    /// SNAT reply: remote → SNAT-addr:port becomes remote → internal:port.
    pub fn snat_reply(pkt: &FiveTuple, internal: Ipv4Addr, internal_port: u16) -> Self {
        Translation {
            dst: internal,
            dst_port: internal_port,
            ..Self::of(pkt)
        }
    }
}

/// Sets the Ethernet source and destination MACs (DR, and every mode once
/// the next hop is resolved).
#[inline]
/// MSS clamping: lowers the MSS option of the TCP segment at
/// `meta.l4_offset` to `max` if it is above, updating the checksum
/// incrementally. Returns whether it changed the segment; a segment
/// without a (well-formed) MSS option is left as it is.
pub fn clamp_mss(frame: &mut [u8], meta: &Ipv4Meta, max: u16) -> bool {
    clamp_mss_at(frame, meta.l4_offset, max)
}

/// [`clamp_mss`] of the TCP header at frame offset `l4` (IPv6's too: the
/// MSS option is covered by the checksum as any TCP byte, the
/// pseudo-header does not change).
pub fn clamp_mss_at(frame: &mut [u8], l4: usize, max: u16) -> bool {
    let Some(header) = frame.get_mut(l4..) else {
        return false;
    };
    if header.len() < tcp::TCP_MIN_HEADER_LEN {
        return false;
    }
    let Some(at) = tcp::mss_value_at(header) else {
        return false;
    };
    let old = get_be16(header, at);
    if old <= max {
        return false;
    }
    let mut delta = Delta::default();
    if at % 2 == 0 {
        delta.word(old, max);
    } else {
        // At an odd offset the value's high byte is the low byte of one
        // checksum word and its low byte the high byte of the next; the
        // other byte of each word is unchanged, so it cancels out.
        let [old_hi, old_lo] = old.to_be_bytes();
        let [new_hi, new_lo] = max.to_be_bytes();
        delta.word(u16::from(old_hi), u16::from(new_hi));
        delta.word(u16::from(old_lo) << 8, u16::from(new_lo) << 8);
    }
    put_be16(header, at, max);
    let check = tcp::field::CHECKSUM.start;
    let sum = get_be16(header, check);
    put_be16(header, check, delta.apply(sum));
    true
}

pub fn set_macs(frame: &mut [u8], src: MacAddr, dst: MacAddr) {
    put_bytes(frame, ethernet::field::DESTINATION.start, &dst.0);
    put_bytes(frame, ethernet::field::SOURCE.start, &src.0);
}

/// Decrements the TTL at `l3` and records the change in `ip`; `Err` if the
/// TTL is <= 1 (nothing written then).
#[inline]
fn decrement_ttl(frame: &mut [u8], l3: usize, ip: &mut Delta) -> Result<(), DropReason> {
    let at = l3 + ipv4::field::TTL_PROTOCOL.start;
    let ttl_proto = get_be16(frame, at);
    if ttl_proto >> 8 <= 1 {
        return Err(DropReason::TtlExceeded);
    }
    let new = ttl_proto - 0x0100;
    put_be16(frame, at, new);
    ip.word(ttl_proto, new);
    Ok(())
}

/// Rewrites the IPv4 address at `off`, recording the change in both deltas.
#[inline(always)]
fn set_addr(frame: &mut [u8], off: usize, new: Ipv4Addr, ip: &mut Delta, l4: &mut Delta) {
    let old = get_be32(frame, off);
    let new = u32::from(new);
    if old != new {
        put_be32(frame, off, new);
        ip.dword(old, new);
        l4.dword(old, new);
    }
}

/// Rewrites the 16-bit word at `off`, recording the change in `delta`.
#[inline(always)]
fn set_word(frame: &mut [u8], off: usize, new: u16, delta: &mut Delta) {
    let old = get_be16(frame, off);
    if old != new {
        put_be16(frame, off, new);
        delta.word(old, new);
    }
}

/// Applies `delta` to the checksum word at `off`; `udp` keeps a 0 checksum 0.
#[inline(always)]
fn fix_checksum(frame: &mut [u8], off: usize, delta: Delta, udp: bool) -> u16 {
    let old = get_be16(frame, off);
    let new = if udp {
        delta.apply_udp(old)
    } else {
        delta.apply(old)
    };
    put_be16(frame, off, new);
    new
}

/// NAT, FULLNAT and SNAT: the packet leaves with `to`'s addresses and ports.
///
/// Decrements the TTL and updates the IPv4, TCP, UDP (0 stays 0) or ICMP
/// echo checksums incrementally. Refuses TTL <= 1 with
/// [`DropReason::TtlExceeded`], and ICMP that is not echo (errors go through
/// [`translate_icmp_error`]) with [`DropReason::UnsupportedIcmp`], in both
/// cases before changing anything.
#[inline(always)]
pub fn translate(frame: &mut [u8], meta: &Ipv4Meta, to: &Translation) -> Result<(), DropReason> {
    // Only scalars go on: if the body is not inlined, they travel in
    // registers. Passing `meta` itself made the caller spill it with narrow
    // stores that the body then reloaded wider, a store-forwarding stall.
    let kind = match meta.kind {
        L4Kind::Tcp => L4Rewrite::Tcp,
        L4Kind::Udp => L4Rewrite::Udp,
        L4Kind::IcmpEcho { request } => L4Rewrite::Echo { request },
        L4Kind::IcmpError { .. } | L4Kind::IcmpOther => return Err(DropReason::UnsupportedIcmp),
        L4Kind::Fragment { .. } => {
            return translate_fragment(frame, meta.l3_offset, to.src, to.dst);
        }
    };
    translate_at(frame, meta.l3_offset, meta.l4_offset, kind, *to)?;
    if let L4Rewrite::Echo { .. } = kind {
        all_zero_echo_checksum(frame, meta);
    }
    Ok(())
}

/// RFC 1624's update never gives -0 (0xffff), and so gives +0 where -0 is
/// the one right checksum: for a message whose other bytes are all zero (an
/// echo reply whose identifier became 0, sequence 0, no data), which no
/// receiver would then take. Only an echo can be all zero.
#[cold]
fn fix_all_zero_echo(message: &mut [u8]) {
    let check = icmp::field::CHECKSUM;
    let rest_zero = message
        .iter()
        .enumerate()
        .all(|(i, &b)| b == 0 || check.contains(&i));
    if rest_zero {
        put_be16(message, check.start, 0xffff);
    }
}

#[inline(always)]
fn all_zero_echo_checksum(frame: &mut [u8], meta: &Ipv4Meta) {
    let at = meta.l4_offset + icmp::field::CHECKSUM.start;
    if get_be16(frame, at) == 0 {
        if let Some(message) = frame.get_mut(meta.l4_offset..meta.ip_end()) {
            fix_all_zero_echo(message);
        }
    }
}

/// A later fragment of a datagram [`translate`]d: only its IP header
/// changes (TTL, addresses, header checksum), as the L4 header and its
/// checksum are in the first fragment. Refuses TTL <= 1 before changing
/// anything.
pub fn translate_fragment(
    frame: &mut [u8],
    l3: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) -> Result<(), DropReason> {
    if frame.len() < l3 + IPV4_MIN_HEADER_LEN {
        return Err(DropReason::TruncatedIpv4);
    }
    let mut ip = Delta::default();
    decrement_ttl(frame, l3, &mut ip)?;
    let mut unused = Delta::default();
    set_addr(
        frame,
        l3 + ipv4::field::SRC_ADDR.start,
        src,
        &mut ip,
        &mut unused,
    );
    set_addr(
        frame,
        l3 + ipv4::field::DST_ADDR.start,
        dst,
        &mut ip,
        &mut unused,
    );
    fix_checksum(frame, l3 + ipv4::field::CHECKSUM.start, ip, false);
    Ok(())
}

/// The L4 headers [`translate`] rewrites.
#[derive(Clone, Copy, PartialEq, Eq)]
enum L4Rewrite {
    Tcp,
    Udp,
    Echo { request: bool },
}

/// [`translate`] with the IPv4 header at `l3` and the L4 header at `l4`.
#[inline]
fn translate_at(
    frame: &mut [u8],
    l3: usize,
    l4: usize,
    kind: L4Rewrite,
    to: Translation,
) -> Result<(), DropReason> {
    // The common layout, a 20-byte IPv4 header with the whole L4 header
    // behind it, is rewritten in a fixed-size window of the frame: every
    // offset is then a constant below the window's length and no bound is
    // checked at run time. The window holds every byte the rewrite touches,
    // so the result is the same as on the whole frame.
    const IP: usize = IPV4_MIN_HEADER_LEN;
    if l4.checked_sub(l3) == Some(IP) {
        if let Some(w) = frame.get_mut(l3..) {
            match kind {
                L4Rewrite::Tcp => {
                    if let Some(w) = w.first_chunk_mut::<{ IP + tcp::field::CHECKSUM.end }>() {
                        return rewrite_headers(w, 0, IP, L4Rewrite::Tcp, to);
                    }
                }
                L4Rewrite::Udp => {
                    if let Some(w) = w.first_chunk_mut::<{ IP + udp::field::CHECKSUM.end }>() {
                        return rewrite_headers(w, 0, IP, L4Rewrite::Udp, to);
                    }
                }
                L4Rewrite::Echo { request } => {
                    if let Some(w) = w.first_chunk_mut::<{ IP + icmp::field::ECHO_IDENT.end }>() {
                        return rewrite_headers(w, 0, IP, L4Rewrite::Echo { request }, to);
                    }
                }
            }
        }
    }
    rewrite_headers(frame, l3, l4, kind, to)
}

/// The rewrite itself, on `frame` (the whole frame or a window of it).
#[inline(always)]
fn rewrite_headers(
    frame: &mut [u8],
    l3: usize,
    l4: usize,
    kind: L4Rewrite,
    to: Translation,
) -> Result<(), DropReason> {
    let mut ip = Delta::default();
    decrement_ttl(frame, l3, &mut ip)?;
    let mut pseudo = Delta::default();
    set_addr(
        frame,
        l3 + ipv4::field::SRC_ADDR.start,
        to.src,
        &mut ip,
        &mut pseudo,
    );
    set_addr(
        frame,
        l3 + ipv4::field::DST_ADDR.start,
        to.dst,
        &mut ip,
        &mut pseudo,
    );
    fix_checksum(frame, l3 + ipv4::field::CHECKSUM.start, ip, false);
    match kind {
        L4Rewrite::Tcp | L4Rewrite::Udp => {
            // TCP and UDP keep their ports at the same offsets.
            let mut l4d = pseudo;
            set_word(
                frame,
                l4 + tcp::field::SRC_PORT.start,
                to.src_port,
                &mut l4d,
            );
            set_word(
                frame,
                l4 + tcp::field::DST_PORT.start,
                to.dst_port,
                &mut l4d,
            );
            if kind == L4Rewrite::Tcp {
                fix_checksum(frame, l4 + tcp::field::CHECKSUM.start, l4d, false);
            } else {
                fix_checksum(frame, l4 + udp::field::CHECKSUM.start, l4d, true);
            }
        }
        L4Rewrite::Echo { request } => {
            // ICMP has no pseudo-header: only the identifier counts.
            let id = if request { to.src_port } else { to.dst_port };
            let mut delta = Delta::default();
            set_word(frame, l4 + icmp::field::ECHO_IDENT.start, id, &mut delta);
            fix_checksum(frame, l4 + icmp::field::CHECKSUM.start, delta, false);
        }
    }
    Ok(())
}

/// Parameters of the IP-in-IP outer header for TUN mode.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Tunnel {
    /// Our address, the outer source.
    pub src: Ipv4Addr,
    /// The real server, the outer destination.
    pub dst: Ipv4Addr,
    /// TTL of the outer header (the inner packet is not routed by us, so its
    /// TTL is left alone, as IPVS does).
    pub ttl: u8,
    /// MTU of the egress link: the largest IP packet it carries.
    pub egress_mtu: u16,
}

impl Tunnel {
    /// The MTU to report in fragmentation-needed: what an inner packet may
    /// be so that it still fits once encapsulated.
    pub fn inner_mtu(&self) -> u16 {
        self.egress_mtu.saturating_sub(IPV4_MIN_HEADER_LEN as u16)
    }
}

/// TUN: puts a 20-byte IPv4 header (protocol 4, full checksum, TOS and DF
/// copied from the inner header) in front of the IP packet, keeping the L2
/// header in front of it. Trailing Ethernet padding is trimmed first.
///
/// If the result would exceed `tun.egress_mtu`: with DF set this returns
/// [`DropReason::FragmentationNeeded`] and the caller answers the client
/// with [`crate::net::icmp::build_icmp_error`] (type 3 code 4, next-hop MTU
/// [`Tunnel::inner_mtu`]); without DF it returns
/// [`DropReason::TooBigToFragment`], as we do not fragment. Nothing is
/// changed on error.
pub fn encapsulate_ipip<B: PacketBuf + ?Sized>(
    buf: &mut B,
    meta: &Ipv4Meta,
    tun: &Tunnel,
) -> Result<(), DropReason> {
    let l3 = meta.l3_offset;
    let inner_len = usize::from(meta.total_len);
    let outer_len = inner_len + IPV4_MIN_HEADER_LEN;
    if outer_len > usize::from(tun.egress_mtu) {
        return Err(if meta.dont_fragment {
            DropReason::FragmentationNeeded
        } else {
            DropReason::TooBigToFragment
        });
    }
    let outer_total = u16::try_from(outer_len).map_err(|_| DropReason::TooBigToFragment)?;
    if buf.headroom() < IPV4_MIN_HEADER_LEN || buf.len() < meta.ip_end() {
        return Err(DropReason::NoBufferRoom);
    }
    let (tos, flags) = {
        let d = buf.data();
        (
            get_u8(d, l3 + ipv4::field::DSCP_ECN),
            get_be16(d, l3 + ipv4::field::FLG_OFF.start) & ipv4::DONT_FRAGMENT,
        )
    };
    let padding = buf.len() - meta.ip_end();
    buf.trim(padding);
    if buf.prepend(IPV4_MIN_HEADER_LEN).is_none() {
        return Err(DropReason::NoBufferRoom);
    }
    let frame = buf.data_mut();
    // Slide the L2 header to the new front; the outer header goes after it.
    // The usual lengths get a constant-size copy (inline moves, not a
    // memmove call).
    const ETH: usize = ETHERNET_HEADER_LEN;
    const TAGGED: usize = ETHERNET_HEADER_LEN + VLAN_TAG_LEN;
    match l3 {
        ETH => frame.copy_within(IPV4_MIN_HEADER_LEN..IPV4_MIN_HEADER_LEN + ETH, 0),
        TAGGED => frame.copy_within(IPV4_MIN_HEADER_LEN..IPV4_MIN_HEADER_LEN + TAGGED, 0),
        _ => frame.copy_within(IPV4_MIN_HEADER_LEN..IPV4_MIN_HEADER_LEN + l3, 0),
    }
    let outer = frame.get_mut(l3..).unwrap_or(&mut []);
    // An identification of 0 is allowed with DF (RFC 6864); without DF we
    // never fragment the outer packet either, so 0 is as good as any.
    let header = Ipv4Header {
        tos,
        total_len: outer_total,
        ident: 0,
        flags_fragment: flags,
        ttl: tun.ttl,
        proto: IpProto::IPIP,
        src: tun.src,
        dst: tun.dst,
    };
    write_ipv4_header(outer, &header).ok_or(DropReason::NoBufferRoom)
}

/// Rewrites an ICMP error that quotes a packet of a tracked flow, as the
/// flow's other side must see it: the quoted packet gets `quoted_to`'s
/// addresses and ports, the outer header `outer_src` → `outer_dst`.
///
/// The quoted packet was sent by whoever the error now goes to, so for the
/// usual case the pipeline passes `outer_src = quoted_to.dst` and
/// `outer_dst = quoted_to.src` (IPVS keeps the reporter's address instead
/// when it is not the real server in NAT mode; that choice is the
/// caller's).
///
/// Checksums: the quoted IP header's is updated incrementally; the quoted
/// TCP/UDP checksum is updated when the quote contains it (UDP always; TCP
/// only if at least 18 bytes were quoted), otherwise only the ports change,
/// as Linux NAT does for inner headers; a quoted echo's identifier and
/// checksum likewise. The ICMP checksum (over the whole message) and the
/// outer IP checksum follow incrementally, so a translated error carries
/// exactly the quote the flow's other side sent. The outer TTL is
/// decremented; TTL <= 1 is refused with [`DropReason::TtlExceeded`] and the
/// caller must drop (no ICMP error about an ICMP error).
pub fn translate_icmp_error(
    frame: &mut [u8],
    meta: &Ipv4Meta,
    quoted_to: &Translation,
    outer_src: Ipv4Addr,
    outer_dst: Ipv4Addr,
) -> Result<(), DropReason> {
    let L4Kind::IcmpError { quote_offset } = meta.kind else {
        return Err(DropReason::UnsupportedIcmp);
    };
    let q = usize::from(quote_offset);
    let quoted_proto = IpProto(get_u8(frame, q + ipv4::field::PROTOCOL));
    let l3 = meta.l3_offset;
    let icmp_at = meta.l4_offset;
    let inner_hl = header_len_of(get_u8(frame, q + ipv4::field::VER_IHL));
    let inner_l4 = q + inner_hl;
    let quoted_l4_len = meta.ip_end().saturating_sub(inner_l4);

    let mut outer = Delta::default();
    decrement_ttl(frame, l3, &mut outer)?;

    // Everything below lies inside the ICMP message, at even offsets from its
    // start, so each changed word also feeds the ICMP checksum delta.
    let mut icmp_delta = Delta::default();
    let mut inner_ip = Delta::default();
    let mut pseudo = Delta::default();
    set_addr(
        frame,
        q + ipv4::field::SRC_ADDR.start,
        quoted_to.src,
        &mut inner_ip,
        &mut pseudo,
    );
    set_addr(
        frame,
        q + ipv4::field::DST_ADDR.start,
        quoted_to.dst,
        &mut inner_ip,
        &mut pseudo,
    );
    icmp_delta.merge(inner_ip);
    let at = q + ipv4::field::CHECKSUM.start;
    let old = get_be16(frame, at);
    let new = fix_checksum(frame, at, inner_ip, false);
    icmp_delta.word(old, new);

    let mut ports = Delta::default();
    let (l4_checksum_at, udp) = match quoted_proto {
        IpProto::ICMP => {
            let request =
                get_u8(frame, inner_l4 + icmp::field::TYPE) == crate::wire::IcmpType::ECHO_REQUEST;
            let id = if request {
                quoted_to.src_port
            } else {
                quoted_to.dst_port
            };
            set_word(
                frame,
                inner_l4 + icmp::field::ECHO_IDENT.start,
                id,
                &mut ports,
            );
            icmp_delta.merge(ports);
            (Some(inner_l4 + icmp::field::CHECKSUM.start), false)
        }
        _ => {
            // TCP and UDP keep their ports at the same offsets.
            set_word(
                frame,
                inner_l4 + tcp::field::SRC_PORT.start,
                quoted_to.src_port,
                &mut ports,
            );
            set_word(
                frame,
                inner_l4 + tcp::field::DST_PORT.start,
                quoted_to.dst_port,
                &mut ports,
            );
            icmp_delta.merge(ports);
            ports.merge(pseudo);
            let (sum_field, udp) = if quoted_proto == IpProto::UDP {
                (udp::field::CHECKSUM, true)
            } else {
                (tcp::field::CHECKSUM, false)
            };
            let quoted_whole = quoted_l4_len >= sum_field.end;
            (quoted_whole.then_some(inner_l4 + sum_field.start), udp)
        }
    };
    if let Some(at) = l4_checksum_at {
        let old = get_be16(frame, at);
        let new = fix_checksum(frame, at, ports, udp);
        icmp_delta.word(old, new);
    }
    fix_checksum(
        frame,
        icmp_at + icmp::field::CHECKSUM.start,
        icmp_delta,
        false,
    );

    let mut no_pseudo = Delta::default();
    set_addr(
        frame,
        l3 + ipv4::field::SRC_ADDR.start,
        outer_src,
        &mut outer,
        &mut no_pseudo,
    );
    set_addr(
        frame,
        l3 + ipv4::field::DST_ADDR.start,
        outer_dst,
        &mut outer,
        &mut no_pseudo,
    );
    fix_checksum(frame, l3 + ipv4::field::CHECKSUM.start, outer, false);
    Ok(())
}

/// Rewrites the sequence number of the TCP segment an ICMP error quotes
/// by `map` (a spliced session's shift, taken back into the sequence space
/// of the side that receives the error, which checks it: Linux ignores an
/// error whose quoted sequence number it never sent). The ICMP checksum,
/// and the quoted TCP checksum when it is quoted, follow. Returns whether
/// the quote is TCP and long enough to hold the sequence number; nothing
/// changes otherwise.
pub fn shift_quoted_seq(frame: &mut [u8], meta: &Ipv4Meta, map: impl FnOnce(u32) -> u32) -> bool {
    let L4Kind::IcmpError { quote_offset } = meta.kind else {
        return false;
    };
    let q = usize::from(quote_offset);
    if IpProto(get_u8(frame, q + ipv4::field::PROTOCOL)) != IpProto::TCP {
        return false;
    }
    let inner_l4 = q + header_len_of(get_u8(frame, q + ipv4::field::VER_IHL));
    let quoted = meta.ip_end().saturating_sub(inner_l4);
    if quoted < tcp::field::SEQ_NUM.end {
        return false;
    }
    let at = inner_l4 + tcp::field::SEQ_NUM.start;
    let old = get_be32(frame, at);
    let new = map(old);
    put_be32(frame, at, new);
    // The sequence number lies at an even offset from the ICMP header.
    let mut delta = Delta::default();
    delta.dword(old, new);
    let mut icmp_delta = delta;
    if quoted >= tcp::field::CHECKSUM.end {
        let at = inner_l4 + tcp::field::CHECKSUM.start;
        let old = get_be16(frame, at);
        let new = fix_checksum(frame, at, delta, false);
        icmp_delta.word(old, new);
    }
    let icmp_at = meta.l4_offset;
    fix_checksum(
        frame,
        icmp_at + icmp::field::CHECKSUM.start,
        icmp_delta,
        false,
    );
    true
}

#[cfg(test)]
#[path = "rewrite_tests.rs"]
mod tests;
