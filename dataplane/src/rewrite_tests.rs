use super::*;
use crate::buf::TestBuf;
use crate::checksum;
use crate::packet::{classify, Classified};
use crate::testutil::{self, assert_checksums_verify, frame_spec, translation};
use crate::wire::put_u8;
use proptest::prelude::*;

fn meta(frame: &[u8]) -> Ipv4Meta {
    match classify(frame) {
        Ok(Classified::Ipv4(m)) => m,
        other => panic!("not an IPv4 flow packet: {other:?}"),
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("address")
}

/// Translation of the same packet into the tuple it left with: one per
/// direction of each of NAT, FULLNAT and SNAT.
#[test]
fn mode_constructors_change_exactly_their_fields() {
    let (cip, vip, rip, lip, snat) = (
        ip("198.51.100.7"),
        ip("203.0.113.10"),
        ip("10.1.0.5"),
        ip("10.1.0.250"),
        ip("203.0.113.99"),
    );
    let req = FiveTuple {
        src: cip,
        dst: vip,
        src_port: 40000,
        dst_port: 80,
        proto: IpProto::TCP,
    };
    let cases = [
        (
            Translation::nat_request(&req, rip, 8080),
            (cip, 40000, rip, 8080),
        ),
        (
            Translation::fullnat_request((lip, 5001), (rip, 8080)),
            (lip, 5001, rip, 8080),
        ),
        (
            Translation::snat_outbound(&req, snat, 6000),
            (snat, 6000, vip, 80),
        ),
    ];
    for (t, (s, sp, d, dp)) in cases {
        let mut f = testutil::tcp_frame(cip.octets(), vip.octets(), 40000, 80, 64, b"GET /");
        let m = meta(&f);
        translate(&mut f, &m, &t).expect("translates");
        assert_checksums_verify(&f);
        let out = meta(&f);
        assert_eq!(
            (
                out.tuple.src,
                out.tuple.src_port,
                out.tuple.dst,
                out.tuple.dst_port
            ),
            (s, sp, d, dp)
        );
        assert_eq!(out.ttl, 63);
    }
    let reply = FiveTuple {
        src: rip,
        dst: cip,
        src_port: 8080,
        dst_port: 40000,
        proto: IpProto::TCP,
    };
    assert_eq!(
        Translation::nat_reply(&reply, vip, 80).tuple(IpProto::TCP),
        req.reversed()
    );
    assert_eq!(
        Translation::fullnat_reply((vip, 80), (cip, 40000)).tuple(IpProto::TCP),
        req.reversed()
    );
    let back = FiveTuple {
        src: vip,
        dst: snat,
        src_port: 80,
        dst_port: 6000,
        proto: IpProto::TCP,
    };
    assert_eq!(
        Translation::snat_reply(&back, cip, 40000).tuple(IpProto::TCP),
        req.reversed()
    );
}

#[test]
fn dr_sets_macs_and_nothing_else() {
    let f = testutil::udp_frame([1, 2, 3, 4], [5, 6, 7, 8], 1, 2, 1, b"x");
    let mut g = f.clone();
    set_macs(
        &mut g,
        MacAddr([2, 0, 0, 0, 0, 9]),
        MacAddr([2, 0, 0, 0, 0, 8]),
    );
    assert_eq!(&g[0..6], &[2, 0, 0, 0, 0, 8]);
    assert_eq!(&g[6..12], &[2, 0, 0, 0, 0, 9]);
    assert_eq!(&g[12..], &f[12..], "IP and L4 untouched, TTL 1 included");
}

#[test]
fn ttl_of_one_or_zero_is_refused_untouched() {
    for ttl in [0, 1] {
        let f = testutil::tcp_frame([1, 2, 3, 4], [5, 6, 7, 8], 1, 2, ttl, b"");
        let mut g = f.clone();
        let t = Translation::nat_request(&meta(&f).tuple, ip("9.9.9.9"), 99);
        assert_eq!(
            translate(&mut g, &meta(&f), &t),
            Err(DropReason::TtlExceeded)
        );
        assert_eq!(g, f);
    }
}

#[test]
fn tun_prepends_an_outer_header_and_keeps_the_inner_packet() {
    let mut f = testutil::tcp_frame([198, 51, 100, 7], [203, 0, 113, 10], 40000, 80, 64, b"data");
    f.extend_from_slice(&[0; 6]); // Ethernet padding must not end up inside
    let inner = f[14..f.len() - 6].to_vec();
    let m = meta(&f);
    let mut b = TestBuf::new(&f);
    let tun = Tunnel {
        src: ip("10.1.0.1"),
        dst: ip("10.1.0.5"),
        ttl: 64,
        egress_mtu: 1500,
    };
    encapsulate_ipip(&mut b, &m, &tun).expect("fits");
    let out = b.data();
    assert_eq!(&out[..14], &f[..14]);
    let (outer, rest) = etherparse::Ipv4Header::from_slice(&out[14..]).expect("outer parses");
    assert_eq!(outer.header_checksum, outer.calc_header_checksum());
    assert_eq!(outer.protocol, etherparse::IpNumber::IPV4);
    assert_eq!(
        (outer.source, outer.destination),
        ([10, 1, 0, 1], [10, 1, 0, 5])
    );
    assert_eq!(usize::from(outer.total_len), inner.len() + 20);
    assert_eq!(outer.dont_fragment, m.dont_fragment);
    assert_eq!(rest, &inner[..]);
}

#[test]
fn tun_too_big_with_df_answers_fragmentation_needed() {
    let f = testutil::udp_frame(
        [198, 51, 100, 7],
        [203, 0, 113, 10],
        5000,
        53,
        64,
        &[7; 1472],
    );
    let m = meta(&f);
    assert!(m.dont_fragment, "etherparse sets DF");
    let mut b = TestBuf::new(&f);
    let tun = Tunnel {
        src: ip("10.1.0.1"),
        dst: ip("10.1.0.5"),
        ttl: 64,
        egress_mtu: 1500,
    };
    assert_eq!(
        encapsulate_ipip(&mut b, &m, &tun),
        Err(DropReason::FragmentationNeeded)
    );
    assert_eq!(b.data(), &f[..], "unchanged on error");
    let vip = m.tuple.dst;
    assert!(crate::net::icmp::build_icmp_error(
        &mut b,
        &m,
        3,
        4,
        u32::from(tun.inner_mtu()),
        vip
    ));
    assert_checksums_verify(b.data());
    let e = meta(b.data());
    assert_eq!((e.tuple.src, e.tuple.dst), (vip, m.tuple.src));
    let icmp = crate::wire::IcmpPacket::new(&b.data()[e.l4_offset..]).expect("icmp");
    assert_eq!(
        (icmp.msg_type(), icmp.code(), icmp.rest_of_header()),
        (3, 4, 1480)
    );
    assert_eq!(
        icmp.body(),
        &f[14..14 + 28],
        "quotes the header and 8 bytes"
    );

    let mut small = TestBuf::new(&f);
    let mut no_df = f.clone();
    no_df[20] = 0;
    testutil::fix_ipv4_checksum(&mut no_df, 14);
    let m2 = meta(&no_df);
    assert_eq!(
        encapsulate_ipip(&mut small, &m2, &tun),
        Err(DropReason::TooBigToFragment)
    );
}

/// Builds an ICMP error from `reporter` about `inner` (a frame), quoting
/// `quote_len` bytes of its IP packet.
fn error_about(inner: &[u8], reporter: [u8; 4], quote_len: usize) -> Vec<u8> {
    let m = meta(inner);
    let ip_packet = &inner[m.l3_offset..m.ip_end()];
    testutil::icmp_error_frame(
        reporter,
        m.tuple.src.octets(),
        3,
        3,
        0,
        ip_packet,
        quote_len,
    )
}

#[test]
fn icmp_error_about_a_fullnat_reply_reaches_the_real_server_translated() {
    // The RS sent RIP:8080 -> LIP:5001; we translated it to VIP:80 -> CIP:40000.
    // The client's router reports about that packet; the RS must get the error
    // about what it sent.
    let sent_by_rs = testutil::udp_frame([10, 1, 0, 5], [10, 1, 0, 250], 8080, 5001, 64, b"reply");
    let mut seen_by_client = sent_by_rs.clone();
    let m = meta(&sent_by_rs);
    translate(
        &mut seen_by_client,
        &m,
        &Translation::fullnat_reply((ip("203.0.113.10"), 80), (ip("198.51.100.7"), 40000)),
    )
    .expect("ok");
    let mut err = error_about(&seen_by_client, [198, 51, 100, 1], 1000);
    let em = meta(&err);
    assert!(matches!(em.kind, L4Kind::IcmpError { .. }), "an error");
    let quoted = crate::packet::quoted_flow(&err, &em).expect("a quoted flow");
    assert_eq!((quoted.src_port, quoted.dst_port), (80, 40000));
    let to = Translation::of(&m.tuple);
    translate_icmp_error(&mut err, &em, &to, to.dst, to.src).expect("ok");
    assert_checksums_verify(&err);
    let out = meta(&err);
    assert_eq!(
        (out.tuple.src, out.tuple.dst),
        (ip("10.1.0.250"), ip("10.1.0.5"))
    );
    // The quote is now exactly what the RS sent, TTL aside (the RS's packet
    // went through one translation).
    let mut expected = seen_by_client[14..].to_vec();
    let mut back = seen_by_client.clone();
    translate(&mut back, &meta(&seen_by_client), &to).expect("ok");
    restore_ttl(&mut back, 14, 63);
    expected.copy_from_slice(&back[14..]);
    assert_eq!(&err[out.l4_offset + 8..], &expected[..]);
    // The whole packet was quoted, so as a frame of its own it verifies too.
    let mut quoted_frame = err[..14].to_vec();
    quoted_frame.extend_from_slice(&err[out.l4_offset + 8..]);
    assert_checksums_verify(&quoted_frame);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// NAT, FULLNAT and SNAT: any translation of any valid packet verifies,
    /// and translating back restores every byte but TTL and IP checksum.
    #[test]
    fn translate_verifies_and_reverses(spec in frame_spec(3), to in translation()) {
        let original = spec.build();
        let m = meta(&original);
        let mut f = original.clone();
        translate(&mut f, &m, &to).expect("ttl >= 3");
        assert_checksums_verify(&f[..m.ip_end()]);
        let out = meta(&f);
        let echo_request = matches!(m.kind, L4Kind::IcmpEcho { request: true });
        let expected = match m.kind {
            L4Kind::IcmpEcho { .. } => {
                let id = if echo_request { to.src_port } else { to.dst_port };
                FiveTuple { src: to.src, dst: to.dst, src_port: id, dst_port: id, proto: IpProto::ICMP }
            }
            _ => to.tuple(m.tuple.proto),
        };
        prop_assert_eq!(out.tuple, expected);
        prop_assert_eq!(out.ttl, m.ttl - 1);
        if matches!(spec.kind, testutil::Kind::UdpNoChecksum) {
            prop_assert_eq!(&f[m.l4_offset + 6..m.l4_offset + 8], &[0, 0]);
        }
        prop_assert_eq!(&f[m.ip_end()..], &original[m.ip_end()..], "padding untouched");

        translate(&mut f, &out, &Translation::of(&m.tuple)).expect("ttl >= 2");
        prop_assert_eq!(meta(&f).ttl, m.ttl - 2);
        restore_ttl(&mut f, m.l3_offset, m.ttl);
        prop_assert_eq!(f, original);
    }

    /// ICMP errors quoting any packet, cut anywhere from header + 8 bytes to
    /// whole: translated, every checksum verifies, the quote is what the
    /// packet would have been after the same translation, and translating
    /// back restores the error (outer TTL aside).
    #[test]
    fn icmp_error_translation_verifies_matches_and_reverses(
        spec in frame_spec(2),
        to in translation(),
        reporter in any::<[u8; 4]>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let inner = spec.build();
        let im = meta(&inner);
        let ip_len = im.ip_end() - im.l3_offset;
        let min = im.l4_offset - im.l3_offset + 8;
        let quote_len = min + cut.index(ip_len - min + 1);
        let original = error_about(&inner, reporter, quote_len);
        let em = meta(&original);
        let mut f = original.clone();
        translate_icmp_error(&mut f, &em, &to, to.dst, to.src).expect("ttl 64");
        assert_checksums_verify(&f);
        let out = meta(&f);
        prop_assert_eq!((out.tuple.src, out.tuple.dst), (to.dst, to.src));

        // What the quoted packet becomes when translated as a packet.
        let mut as_packet = inner.clone();
        translate(&mut as_packet, &im, &to).expect("ttl >= 2");
        restore_ttl(&mut as_packet, im.l3_offset, im.ttl);
        let quote = &f[out.l4_offset + 8..];
        let mut expected = as_packet[im.l3_offset..im.l3_offset + quote_len].to_vec();
        let checksum_at = im.l4_offset - im.l3_offset + 16;
        if matches!(spec.kind, testutil::Kind::Tcp) && quote_len < checksum_at + 2 {
            // A TCP checksum not wholly quoted is left as it was (Linux does
            // the same): whatever part of it is present keeps its old bytes.
            for i in checksum_at..quote_len {
                expected[i] = inner[im.l3_offset + i];
            }
        }
        prop_assert_eq!(quote, &expected[..]);

        translate_icmp_error(&mut f, &out, &Translation::of(&im.tuple), em.tuple.src, em.tuple.dst).expect("ttl 63");
        restore_ttl(&mut f, em.l3_offset, em.ttl);
        prop_assert_eq!(f, original);
    }

    /// TUN over any valid packet: the outer header verifies and the inner
    /// packet is carried byte for byte.
    #[test]
    fn tun_carries_any_packet(spec in frame_spec(1), mtu in 68u16..2000) {
        let f = spec.build();
        let m = meta(&f);
        let mut b = TestBuf::new(&f);
        let tun = Tunnel { src: ip("10.1.0.1"), dst: ip("10.1.0.5"), ttl: 64, egress_mtu: mtu };
        match encapsulate_ipip(&mut b, &m, &tun) {
            Ok(()) => {
                let out = b.data();
                prop_assert_eq!(&out[..m.l3_offset], &f[..m.l3_offset]);
                let (outer, rest) = etherparse::Ipv4Header::from_slice(&out[m.l3_offset..]).expect("outer parses");
                prop_assert_eq!(outer.header_checksum, outer.calc_header_checksum());
                prop_assert_eq!(outer.dont_fragment, m.dont_fragment);
                prop_assert_eq!(rest, &f[m.l3_offset..m.ip_end()]);
            }
            Err(e) => {
                prop_assert!(usize::from(m.total_len) + 20 > usize::from(mtu));
                prop_assert_eq!(e, if m.dont_fragment { DropReason::FragmentationNeeded } else { DropReason::TooBigToFragment });
                prop_assert_eq!(b.data(), &f[..]);
            }
        }
    }
}

/// Sets the TTL at `l3` back to `ttl` with an incremental checksum update,
/// for tests that reuse a translated buffer.
fn restore_ttl(frame: &mut [u8], l3: usize, ttl: u8) {
    let old = get_be16(frame, l3 + ipv4::field::TTL_PROTOCOL.start);
    let new = (u16::from(ttl) << 8) | (old & 0xff);
    put_u8(frame, l3 + ipv4::field::TTL, ttl);
    let at = l3 + ipv4::field::CHECKSUM.start;
    let c = checksum::update16(get_be16(frame, at), old, new);
    put_be16(frame, at, c);
}

/// A SYN whose options are `pad` NOPs then MSS `mss` (then window scale),
/// checksums valid.
fn syn_with_mss(pad: usize, mss: u16) -> Vec<u8> {
    use etherparse::{PacketBuilder, TcpOptionElement};
    let mut options = vec![TcpOptionElement::Noop; pad];
    options.push(TcpOptionElement::MaximumSegmentSize(mss));
    options.push(TcpOptionElement::WindowScale(7));
    let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([198, 51, 100, 7], [203, 0, 113, 10], 64)
        .tcp(40000, 80, 1, 64240)
        .syn()
        .options(&options)
        .expect("options fit");
    let mut f = Vec::new();
    builder.write(&mut f, &[]).expect("frame");
    f
}

fn mss_of(frame: &[u8]) -> Option<u16> {
    let m = meta(frame);
    let header = &frame[m.l4_offset..];
    tcp::mss_value_at(header).map(|at| get_be16(header, at))
}

#[test]
fn mss_is_clamped_at_even_and_odd_offsets_with_a_valid_checksum() {
    for pad in 0..4 {
        let mut f = syn_with_mss(pad, 1460);
        let m = meta(&f);
        assert!(clamp_mss(&mut f, &m, 1360), "pad {pad}");
        assert_eq!(mss_of(&f), Some(1360), "pad {pad}");
        assert_checksums_verify(&f);
        // Already below: untouched.
        let mut g = syn_with_mss(pad, 1200);
        let before = g.clone();
        assert!(!clamp_mss(&mut g, &m, 1360));
        assert_eq!(g, before);
    }
}

#[test]
fn a_segment_without_a_well_formed_mss_option_is_left_alone() {
    let mut plain = testutil::tcp_frame([198, 51, 100, 7], [203, 0, 113, 10], 40000, 80, 64, b"x");
    let m = meta(&plain);
    let before = plain.clone();
    assert!(!clamp_mss(&mut plain, &m, 536));
    assert_eq!(plain, before);
    // An MSS option whose length byte says 3, and one running past the header.
    for bad_len in [3u8, 40] {
        let mut f = syn_with_mss(0, 1460);
        let m = meta(&f);
        put_u8(&mut f, m.l4_offset + 21, bad_len);
        let before = f.clone();
        assert!(!clamp_mss(&mut f, &m, 536), "length {bad_len}");
        assert_eq!(f, before);
    }
}

proptest! {
    #[test]
    fn clamping_keeps_the_checksum_valid(pad in 0usize..8, mss in 0u16..=u16::MAX, max in 0u16..=u16::MAX) {
        let mut f = syn_with_mss(pad, mss);
        let m = meta(&f);
        let changed = clamp_mss(&mut f, &m, max);
        prop_assert_eq!(changed, mss > max);
        prop_assert_eq!(mss_of(&f), Some(mss.min(max)));
        let ip_header = &f[m.l3_offset..m.l4_offset];
        let src = Ipv4Addr::new(ip_header[12], ip_header[13], ip_header[14], ip_header[15]);
        let dst = Ipv4Addr::new(ip_header[16], ip_header[17], ip_header[18], ip_header[19]);
        prop_assert!(checksum::l4_verifies(src, dst, IpProto::TCP, &f[m.l4_offset..]));
    }
}

/// An echo reply whose message becomes all zero (identifier 0, sequence
/// 0, no data) gets the checksum 0xffff, the one a receiver takes; one
/// whose other bytes sum to 0xffff keeps its checksum 0.
#[test]
fn an_echo_reply_translated_to_all_zero_gets_checksum_ffff() {
    let to = |id: u16| Translation {
        src: ip("192.0.2.1"),
        dst: ip("198.51.100.7"),
        src_port: 0,
        dst_port: id,
    };
    let mut frame = testutil::echo_frame([10, 0, 0, 9], [10, 0, 0, 1], false, 5, 0, b"");
    let m = meta(&frame);
    translate(&mut frame, &m, &to(0)).expect("translated");
    let icmp = &frame[m.l4_offset..m.ip_end()];
    assert_eq!(icmp, &[0, 0, 0xff, 0xff, 0, 0, 0, 0]);
    assert!(checksum::verifies(icmp));

    let mut frame = testutil::echo_frame([10, 0, 0, 9], [10, 0, 0, 1], false, 5, 0, b"");
    translate(&mut frame, &m, &to(0xffff)).expect("translated");
    let icmp = &frame[m.l4_offset..m.ip_end()];
    assert_eq!(icmp, &[0, 0, 0, 0, 0xff, 0xff, 0, 0], "+0 is right here");
    assert!(checksum::verifies(icmp));
}
