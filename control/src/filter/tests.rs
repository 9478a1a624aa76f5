use super::*;
use proptest::prelude::*;

fn host(s: Side, a: [u8; 4]) -> Filter {
    Filter::Host(s, a.into())
}

fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}

#[test]
fn tcpdump_forms_parse_to_their_meaning() {
    let cases = [
        ("host 10.0.0.1", host(Side::Either, [10, 0, 0, 1])),
        ("src host 10.0.0.1", host(Side::Src, [10, 0, 0, 1])),
        (
            "dst net 192.0.2.0/24",
            Filter::Net(Side::Dst, [192, 0, 2, 0].into(), 24),
        ),
        (
            "tcp dst port 80",
            and(Filter::Proto(6), Filter::Port(Side::Dst, 80)),
        ),
        ("udp", Filter::Proto(17)),
        ("proto 47", Filter::Proto(47)),
        (
            "SYN && !ack",
            and(
                Filter::TcpFlag(2),
                Filter::Not(Box::new(Filter::TcpFlag(16))),
            ),
        ),
        (
            "host 10.0.0.1 or host 10.0.0.2 and port 1",
            Filter::Or(
                Box::new(host(Side::Either, [10, 0, 0, 1])),
                Box::new(and(
                    host(Side::Either, [10, 0, 0, 2]),
                    Filter::Port(Side::Either, 1),
                )),
            ),
        ),
        (
            "src host 2001:DB8::7",
            Filter::Host6(Side::Src, "2001:db8::7".parse().unwrap()),
        ),
        (
            "net 2001:db8::/32",
            Filter::Net6(Side::Either, "2001:db8::".parse().unwrap(), 32),
        ),
        (
            "dst net 2001:db8::1",
            Filter::Net6(Side::Dst, "2001:db8::1".parse().unwrap(), 128),
        ),
        (
            "ip6 and icmp6",
            and(Filter::Family6(true), Filter::Proto(58)),
        ),
        ("ip", Filter::Family6(false)),
        (
            "(icmp or udp) and not port 53",
            and(
                Filter::Or(Box::new(Filter::Proto(1)), Box::new(Filter::Proto(17))),
                Filter::Not(Box::new(Filter::Port(Side::Either, 53))),
            ),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text), Ok(want), "{text}");
    }
}

#[test]
fn mistakes_are_refused_with_the_word_at_fault() {
    let cases = [
        ("", "empty filter"),
        ("host", "filter ends where an IP address was expected"),
        (
            "host 10.0.0.256",
            "`10.0.0.256` is not an IPv4 or IPv6 address",
        ),
        (
            "host 2001:db8::g",
            "`2001:db8::g` is not an IPv4 or IPv6 address",
        ),
        (
            "net 2001:db8::/129",
            "`2001:db8::/129`: prefix length must be 0-128",
        ),
        (
            "net 2001:db8:::/32",
            "`2001:db8:::/32` is not a network (ADDR/LEN)",
        ),
        ("port 65536", "`65536` is not a port (0-65535)"),
        (
            "net 10.0.0.0/33",
            "`10.0.0.0/33`: prefix length must be 0-32",
        ),
        (
            "src tcp",
            "expected host, net or port after src/dst, found `tcp`",
        ),
        ("(tcp", "filter ends where `)` was expected"),
        ("tcp)", "unexpected `)` in filter"),
        ("tcp & udp", "`&` alone in filter (write `&&`)"),
        ("sin", "unknown filter word `sin`"),
        (
            "proto gre",
            "`gre` is not a protocol (tcp, udp, icmp, 0-255)",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text), Err(want.to_string()), "{text}");
    }
    let deep = format!("{}tcp{}", "(".repeat(100), ")".repeat(100));
    assert_eq!(parse(&deep), Err("filter nests deeper than 64".into()));
    assert!(compile(None).unwrap().matches_all());
    assert!(compile(Some("  ")).unwrap().matches_all());
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Either), Just(Side::Src), Just(Side::Dst)]
}

/// Addresses and ports from a small set, so random packets hit them.
fn addr() -> impl Strategy<Value = Ipv4Addr> {
    (0u8..4, 0u8..4).prop_map(|(a, b)| Ipv4Addr::new(10, 0, a, b))
}

fn addr6() -> impl Strategy<Value = Ipv6Addr> {
    (0u16..4, 0u16..4).prop_map(|(a, b)| Ipv6Addr::new(0x2001, 0xdb8, a, 0, 0, 0, 0, b))
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        (side(), addr()).prop_map(|(s, a)| Filter::Host(s, a)),
        (side(), addr(), 0u8..=32).prop_map(|(s, a, l)| Filter::Net(s, a, l)),
        (side(), addr6()).prop_map(|(s, a)| Filter::Host6(s, a)),
        (side(), addr6(), 0u8..=128).prop_map(|(s, a, l)| Filter::Net6(s, a, l)),
        any::<bool>().prop_map(Filter::Family6),
        (side(), 1u16..5).prop_map(|(s, p)| Filter::Port(s, p)),
        prop_oneof![Just(1u8), Just(6), Just(17), Just(47), Just(58)].prop_map(Filter::Proto),
        (0usize..6).prop_map(|i| Filter::TcpFlag(tcp_flag::NAMES[i].1)),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    leaf().prop_recursive(6, 48, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| Filter::Not(Box::new(a))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| and(a, b)),
            (inner.clone(), inner).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn packet() -> impl Strategy<Value = FilterInput> {
    (
        addr(),
        addr(),
        prop_oneof![Just(1u8), Just(6), Just(17)],
        1u16..5,
        1u16..5,
        any::<u8>(),
    )
        .prop_map(
            |(src, dst, proto, src_port, dst_port, tcp_flags)| FilterInput {
                src,
                dst,
                proto,
                src_port,
                dst_port,
                tcp_flags,
            },
        )
}

fn packet6() -> impl Strategy<Value = FilterInput6> {
    (
        addr6(),
        addr6(),
        prop_oneof![Just(58u8), Just(6), Just(17)],
        1u16..5,
        1u16..5,
        any::<u8>(),
    )
        .prop_map(
            |(src, dst, proto, src_port, dst_port, tcp_flags)| FilterInput6 {
                src,
                dst,
                proto,
                src_port,
                dst_port,
                tcp_flags,
            },
        )
}

proptest! {
    /// On IPv6 packets too the program means what the tree means; and a
    /// filter said never to match IPv6 matches none.
    #[test]
    fn compiled_program_agrees_with_the_tree_on_ipv6(f in filter(), pkts in prop::collection::vec(packet6(), 16)) {
        let program = f.compile().unwrap();
        for p in &pkts {
            prop_assert_eq!(program.matches6(p), f.eval6(p), "{} on {:?}", f, p);
            if !program.may_match6() {
                prop_assert!(!program.matches6(p), "{} said no IPv6, took {:?}", f, p);
            }
        }
    }

    /// The text form reads back to the same filter.
    #[test]
    fn text_form_parses_back(f in filter()) {
        prop_assert_eq!(parse(&f.to_string()), Ok(f));
    }

    /// The compiled program means what the tree means, on any packet.
    #[test]
    fn compiled_program_agrees_with_the_tree(f in filter(), pkts in prop::collection::vec(packet(), 16)) {
        let program = f.compile().unwrap();
        for p in &pkts {
            prop_assert_eq!(program.matches(p), f.eval(p), "{} on {:?}", f, p);
        }
    }

    /// The prefilter never refuses a packet the program takes.
    #[test]
    fn the_prefilter_refuses_only_what_the_program_refuses(f in filter(), pkts in prop::collection::vec(packet(), 16)) {
        let program = f.compile().unwrap();
        let pre = program.prefilter();
        for p in &pkts {
            if program.matches(p) {
                let passes = pre.passes(u32::from(p.src), u32::from(p.dst), p.src_port, p.dst_port, p.proto);
                prop_assert!(passes, "{} took {:?}, its prefilter {:?} did not", f, p, pre);
            }
        }
    }

    /// Any text at all: an error or a filter, never a panic.
    #[test]
    fn any_text_is_parsed_or_refused(text in "[a-z0-9./()!&| ]{0,40}") {
        let _ = parse(&text);
    }
}
