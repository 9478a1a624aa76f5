//! ICMP the appliance sends itself: echo replies for its addresses, and the
//! errors of the packet path (time exceeded, fragmentation needed), limited
//! by a token bucket.

use std::net::Ipv4Addr;

use crate::buf::PacketBuf;
use crate::checksum::{self, Delta};
use crate::drop::DropReason;
use crate::net::addrs::AddrSet;
use crate::packet::{Ipv4Meta, L4Kind};
use crate::tuple::IpProto;
use crate::wire::ethernet::{self, ETHERNET_HEADER_LEN, VLAN_TAG_LEN};
use crate::wire::icmp::{self, IcmpType, ICMP_HEADER_LEN, ICMP_QUOTED_L4_LEN};
use crate::wire::ipv4::{self, header_len_of, write_ipv4_header, Ipv4Header};
use crate::wire::ipv4::{IPV4_MAX_HEADER_LEN, IPV4_MIN_HEADER_LEN};
use crate::wire::{get_be16, get_u8, put_be16, put_bytes, put_u8, IcmpPacket};

/// TTL of packets we originate (Linux's default).
pub const DEFAULT_TTL: u8 = 64;
/// TOS of ICMP errors we originate: precedence "internetwork control", as
/// Linux sends them.
const ICMP_ERROR_TOS: u8 = 0xc0;
/// The largest L2 header we copy into a reply (Ethernet plus one tag).
const MAX_L2_LEN: usize = ETHERNET_HEADER_LEN + VLAN_TAG_LEN;
/// The largest quote: a 60-byte IP header and 8 bytes of its payload.
const MAX_QUOTE_LEN: usize = IPV4_MAX_HEADER_LEN + ICMP_QUOTED_L4_LEN;

/// A token bucket on a coarse clock the caller supplies (TSC ticks, ms, ...):
/// no syscall, no shared state, one per worker.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    tokens: u32,
    burst: u32,
    ticks_per_token: u64,
    last: u64,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens gaining one every `ticks_per_token`
    /// ticks of the caller's clock (at least 1).
    pub fn new(burst: u32, ticks_per_token: u64, now: u64) -> Self {
        TokenBucket {
            tokens: burst,
            burst,
            ticks_per_token: ticks_per_token.max(1),
            last: now,
        }
    }

    /// Takes a token if there is one. A clock that steps back refills nothing.
    pub fn allow(&mut self, now: u64) -> bool {
        let earned = now.saturating_sub(self.last) / self.ticks_per_token;
        if earned > 0 {
            let room = u64::from(self.burst - self.tokens.min(self.burst));
            self.tokens += u32::try_from(earned.min(room)).unwrap_or(0);
            // Keep the fraction of a token already accrued.
            self.last += earned * self.ticks_per_token;
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            true
        } else {
            false
        }
    }
}

/// Whether an ICMP error may be sent about the packet: not about an ICMP
/// error, not about a fragment past the first (RFC 1812 4.3.2.7: its quote
/// names no flow), and not to a source that does not name one host:
/// unspecified, broadcast, multicast, loopback.
pub fn may_send_error_about(meta: &Ipv4Meta) -> bool {
    let src = meta.tuple.src;
    let dst = meta.tuple.dst;
    let is_error = matches!(meta.kind, L4Kind::IcmpError { .. })
        || (matches!(meta.kind, L4Kind::IcmpOther) && meta.tuple.proto == IpProto::ICMP);
    let later_fragment = matches!(meta.kind, L4Kind::Fragment { .. });
    !(is_error
        || later_fragment
        || src.is_unspecified()
        || src.is_broadcast()
        || src.is_multicast()
        || src.is_loopback()
        || dst.is_broadcast()
        || dst.is_multicast())
}

/// Turns the packet in `buf` into an ICMP error about it, in place: the same
/// L2 header with the MACs swapped (back out of the link it came in on),
/// an IPv4 header from `src` to the packet's source, the ICMP header with
/// `rest_of_header` (the next-hop MTU for fragmentation-needed), and a quote
/// of the IP header plus the first 8 bytes of payload (RFC 792).
///
/// Returns `false`, changing nothing, if no error may be sent about this
/// packet ([`may_send_error_about`]) or the buffer lacks tailroom. The
/// caller checks its [`TokenBucket`] first.
pub fn build_icmp_error<B: PacketBuf + ?Sized>(
    buf: &mut B,
    meta: &Ipv4Meta,
    icmp_type: u8,
    code: u8,
    rest_of_header: u32,
    src: Ipv4Addr,
) -> bool {
    if !may_send_error_about(meta) || buf.len() < meta.ip_end() {
        return false;
    }
    let l3 = meta.l3_offset;
    let frame = buf.data();
    let header_len = header_len_of(get_u8(frame, l3 + ipv4::field::VER_IHL));
    let quote_len = (header_len + ICMP_QUOTED_L4_LEN).min(usize::from(meta.total_len));
    let mut l2 = [0u8; MAX_L2_LEN];
    let mut quote = [0u8; MAX_QUOTE_LEN];
    let (Some(l2_dst), Some(l2_src)) = (l2.get_mut(..l3), frame.get(..l3)) else {
        return false;
    };
    l2_dst.copy_from_slice(l2_src);
    let (Some(q_dst), Some(q_src)) = (quote.get_mut(..quote_len), frame.get(l3..l3 + quote_len))
    else {
        return false;
    };
    q_dst.copy_from_slice(q_src);

    let icmp_len = ICMP_HEADER_LEN + quote_len;
    let ip_len = IPV4_MIN_HEADER_LEN + icmp_len;
    if !turn_around(buf, l2.get(..l3).unwrap_or(&[]), l3 + ip_len) {
        return false;
    }
    let frame = buf.data_mut();
    let ip_total = u16::try_from(ip_len).unwrap_or(u16::MAX);
    let Some(ip) = frame.get_mut(l3..) else {
        return false;
    };
    let header = Ipv4Header {
        tos: ICMP_ERROR_TOS,
        total_len: ip_total,
        ident: 0,
        flags_fragment: 0,
        ttl: DEFAULT_TTL,
        proto: IpProto::ICMP,
        src,
        dst: meta.tuple.src,
    };
    let ok = write_ipv4_header(ip, &header);
    let Some(icmp_bytes) = frame.get_mut(l3 + IPV4_MIN_HEADER_LEN..) else {
        return false;
    };
    let Ok(mut icmp) = IcmpPacket::new(icmp_bytes) else {
        return false;
    };
    icmp.set_msg_type(icmp_type);
    icmp.set_code(code);
    icmp.set_rest_of_header(rest_of_header);
    put_bytes(icmp.body_mut(), 0, quote.get(..quote_len).unwrap_or(&[]));
    icmp.fill_checksum();
    ok.is_some()
}

/// Makes `buf` `new_len` bytes long (its data rewritten whole by the
/// caller) with the frame's saved L2 header `l2` in front, MACs swapped:
/// an error leaves through the neighbour the packet came from. The rest of
/// the L2 header (EtherType, VLAN tag) stays. `false` without tailroom.
pub(super) fn turn_around<B: PacketBuf + ?Sized>(buf: &mut B, l2: &[u8], new_len: usize) -> bool {
    let old_len = buf.len();
    if new_len > old_len {
        if buf.append(new_len - old_len).is_none() {
            return false;
        }
    } else {
        buf.trim(old_len - new_len);
    }
    let frame = buf.data_mut();
    let (dst_mac, src_mac) = (ethernet::field::DESTINATION, ethernet::field::SOURCE);
    put_bytes(frame, dst_mac.start, l2.get(src_mac.clone()).unwrap_or(&[]));
    put_bytes(frame, src_mac.start, l2.get(dst_mac).unwrap_or(&[]));
    let rest = ethernet::field::ETHERTYPE.start;
    put_bytes(frame, rest, l2.get(rest..).unwrap_or(&[]));
    true
}

/// Answers an ICMP echo request to an address in `owned`, in place: the
/// addresses and MACs swap, the type becomes echo reply, the TTL is reset to
/// [`DEFAULT_TTL`]; checksums are updated incrementally (swapping the
/// addresses leaves the IPv4 checksum unchanged).
///
/// `Err(NotForUs)` for a request to another address (the pipeline may route
/// it), `Err(BadIcmpChecksum)` for a corrupt one, `Err(UnsupportedIcmp)` if it
/// is not an echo request.
pub fn answer_echo(frame: &mut [u8], meta: &Ipv4Meta, owned: &AddrSet) -> Result<(), DropReason> {
    if meta.kind != (L4Kind::IcmpEcho { request: true }) {
        return Err(DropReason::UnsupportedIcmp);
    }
    if !owned.contains(meta.tuple.dst) {
        return Err(DropReason::NotForUs);
    }
    if !may_send_error_about(meta) {
        // Same source rules as errors: never answer a broadcast source.
        return Err(DropReason::NotForUs);
    }
    let l3 = meta.l3_offset;
    let l4 = meta.l4_offset;
    if !checksum::verifies(frame.get(l4..meta.ip_end()).unwrap_or(&[])) {
        return Err(DropReason::BadIcmpChecksum);
    }
    if let Some(macs) = frame.get_mut(ethernet::field::ADDRESSES) {
        let (dst, src) = macs.split_at_mut(ethernet::field::SOURCE.start);
        dst.swap_with_slice(src);
    }
    put_bytes(
        frame,
        l3 + ipv4::field::SRC_ADDR.start,
        &meta.tuple.dst.octets(),
    );
    put_bytes(
        frame,
        l3 + ipv4::field::DST_ADDR.start,
        &meta.tuple.src.octets(),
    );

    let mut ip = Delta::default();
    let ttl_at = l3 + ipv4::field::TTL_PROTOCOL.start;
    let old = get_be16(frame, ttl_at);
    let new = (u16::from(DEFAULT_TTL) << 8) | (old & 0xff);
    put_be16(frame, ttl_at, new);
    ip.word(old, new);
    let sum_at = l3 + ipv4::field::CHECKSUM.start;
    put_be16(frame, sum_at, ip.apply(get_be16(frame, sum_at)));

    // The type is the high byte of the ICMP header's first word.
    let mut delta = Delta::default();
    let old = get_be16(frame, l4 + icmp::field::TYPE);
    let new = u16::from(IcmpType::ECHO_REPLY) << 8 | (old & 0xff);
    put_u8(frame, l4 + icmp::field::TYPE, IcmpType::ECHO_REPLY);
    delta.word(old, new);
    let sum_at = l4 + icmp::field::CHECKSUM.start;
    put_be16(frame, sum_at, delta.apply(get_be16(frame, sum_at)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::TestBuf;
    use crate::packet::{classify, Classified};
    use crate::testutil::{self, assert_checksums_verify};

    fn meta(frame: &[u8]) -> Ipv4Meta {
        match classify(frame) {
            Ok(Classified::Ipv4(m)) => m,
            other => panic!("not IPv4: {other:?}"),
        }
    }

    #[test]
    fn token_bucket_allows_a_burst_then_one_per_interval() {
        let mut b = TokenBucket::new(2, 10, 1000);
        assert!(b.allow(1000) && b.allow(1000));
        assert!(!b.allow(1009));
        assert!(b.allow(1010));
        assert!(!b.allow(1015));
        assert!(!b.allow(500), "a clock stepping back earns nothing");
        assert!(b.allow(1020));
        // A long pause refills to the burst, not beyond.
        assert!(b.allow(100_000) && b.allow(100_000) && !b.allow(100_000));
    }

    #[test]
    fn echo_to_an_owned_address_is_answered_in_place() {
        let f = testutil::echo_frame([198, 51, 100, 7], [203, 0, 113, 10], true, 9, 4, b"abcdefg");
        let m = meta(&f);
        let owned = AddrSet::new([m.tuple.dst]);
        let mut g = f.clone();
        answer_echo(&mut g, &m, &owned).expect("answered");
        assert_checksums_verify(&g);
        let r = meta(&g);
        assert_eq!(r.kind, L4Kind::IcmpEcho { request: false });
        assert_eq!(
            (r.tuple.src, r.tuple.dst, r.tuple.src_port, r.ttl),
            (m.tuple.dst, m.tuple.src, 9, DEFAULT_TTL)
        );
        assert_eq!((&g[0..6], &g[6..12]), (&f[6..12], &f[0..6]));
        assert_eq!(
            &g[r.l4_offset + 4..],
            &f[m.l4_offset + 4..],
            "id, seq and data echoed"
        );

        let mut other = f.clone();
        assert_eq!(
            answer_echo(&mut other, &m, &AddrSet::default()),
            Err(DropReason::NotForUs)
        );
        let mut bad = f.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(
            answer_echo(&mut bad, &m, &owned),
            Err(DropReason::BadIcmpChecksum)
        );
    }

    #[test]
    fn time_exceeded_quotes_the_packet_and_is_never_sent_about_errors() {
        let f = testutil::vlan_tag(
            &testutil::tcp_frame(
                [198, 51, 100, 7],
                [203, 0, 113, 10],
                40000,
                80,
                1,
                &[1; 100],
            ),
            9,
        );
        let m = meta(&f);
        let mut b = TestBuf::new(&f);
        let us = Ipv4Addr::new(192, 0, 2, 1);
        assert!(build_icmp_error(
            &mut b,
            &m,
            IcmpType::TIME_EXCEEDED,
            0,
            0,
            us
        ));
        let out = b.data();
        assert_eq!(out.len(), 18 + 20 + 8 + 28);
        assert_eq!(&out[12..16], &f[12..16], "VLAN tag kept");
        let e = meta(out);
        assert_eq!(
            (e.tuple.src, e.tuple.dst, e.vlan),
            (us, m.tuple.src, Some(9))
        );
        assert!(matches!(e.kind, L4Kind::IcmpError { .. }), "an error");
        let quoted = crate::packet::quoted_flow(out, &e).expect("a quoted flow");
        assert_eq!(quoted, m.tuple);
        assert_eq!(&out[e.l4_offset + 8..], &f[18..18 + 28]);
        let mut untagged = out[..12].to_vec();
        untagged.extend_from_slice(&out[16..]);
        assert_checksums_verify(&untagged);

        // No error about this error.
        let mut again = TestBuf::new(out);
        assert!(!build_icmp_error(
            &mut again,
            &e,
            IcmpType::TIME_EXCEEDED,
            0,
            0,
            us
        ));
        // Nor to a broadcast source.
        let bcast = testutil::udp_frame([255, 255, 255, 255], [10, 0, 0, 1], 1, 2, 1, b"");
        assert!(!may_send_error_about(&meta(&bcast)));
    }
}
