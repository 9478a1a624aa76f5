//! IPv6 in the config (issue 20): interface addresses of both families
//! accepted and checked; IPv6 DR (stage 2b), TUN, NAT (stage 3) and
//! FULLNAT (with IPv6 local addresses) services accepted, mixed families
//! (NAT64 among them) refused at their keys;
//! IPv6 everywhere else
//! refused at its key with the one message later stages lift; a change of
//! IPv6 addresses asks for a restart like any interface change.

use super::tests_lb::{parse, BASE};
use super::*;

fn with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from:?} is not in BASE");
    BASE.replacen(from, to, 1)
}

/// The errors of `text` at `key`, all on `line`, one message a line.
pub(super) fn refused_at(text: &str, key: &str, line: usize) -> String {
    let errs = parse(text).expect_err("the config should be refused").0;
    let at: Vec<&ConfigError> = errs
        .iter()
        .filter(|e| e.key.as_deref() == Some(key))
        .collect();
    assert!(!at.is_empty(), "no error at {key}: {errs:#?}");
    for e in &at {
        assert_eq!(e.line, Some(line), "{e}");
    }
    let m: Vec<&str> = at.iter().map(|e| e.message.as_str()).collect();
    m.join("\n")
}

const DUAL: &str = r#"addresses = ["10.0.0.1/24", "2001:db8::1/64", "fe80::1/64"]"#;

#[test]
fn interface_addresses_take_both_families() {
    let text = with(r#"addresses = ["10.0.0.1/24"]"#, DUAL);
    let cfg = parse(&text).unwrap_or_else(|e| panic!("{e}")).config;
    let a = &cfg.interfaces[0].addresses;
    assert_eq!(a.len(), 3);
    assert_eq!(a[0].v4().map(|p| p.len), Some(24));
    let v6 = a[1].v6().expect("IPv6");
    assert_eq!((v6.addr.to_string(), v6.len), ("2001:db8::1".into(), 64));
    assert_eq!(a[1].connected().to_string(), "2001:db8::/64");
    assert!(v6.contains("2001:db8::ffff".parse().unwrap()));
    assert!(!v6.contains("2001:db9::1".parse().unwrap()));
    assert_eq!(a[2].to_string(), "fe80::1/64");
    // Written back as read, and a bare address is a /128.
    for s in ["2001:db8::1/64", "10.0.0.1/24", "fe80::1/128"] {
        assert_eq!(s.parse::<IpPrefix>().unwrap().to_string(), s);
    }
    assert_eq!(
        "2001:db8::1".parse::<IpPrefix>().unwrap().to_string(),
        "2001:db8::1/128"
    );
    let json = serde_json::to_string(&cfg.interfaces[0]).unwrap();
    let back: InterfaceConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cfg.interfaces[0]);
}

#[test]
fn unusable_ipv6_interface_addresses_are_refused_by_name() {
    let key = "interface[0].addresses[1]";
    for (a, why) in [
        ("ff02::1/64", "a multicast address"),
        ("::/64", "the unspecified address"),
        ("::1/128", "the loopback address"),
        ("::ffff:10.0.0.9/96", "an IPv4-mapped address"),
        ("2001:db8::1/0", "a prefix length of 1..=128"),
    ] {
        let text = with("\"10.0.0.1/24\"]", &format!("\"10.0.0.1/24\", \"{a}\"]"));
        let m = refused_at(&text, key, 7);
        assert!(m.contains(why), "{a}: {m}");
    }
    let text = with("\"10.0.0.1/24\"]", "\"10.0.0.1/24\", \"2001:db8::1/129\"]");
    let m = refused_at(&text, key, 7);
    assert!(m.contains("prefix length must be 0..=128"), "{m}");
    // Owned twice, across interfaces.
    let text = format!(
        "{}\n[[interface]]\nport = \"lan\"\nvlan = 5\naddresses = [\"2001:db8::1/64\"]\n",
        with(r#"addresses = ["10.0.0.1/24"]"#, DUAL)
    );
    let line = text.lines().count();
    let m = refused_at(&text, "interface[1].addresses[0]", line);
    assert!(
        m.contains("already owned by interface[0].addresses[1]"),
        "{m}"
    );
}

#[test]
fn ipv6_anywhere_else_is_refused_at_its_key_as_not_forwarded_yet() {
    // SNAT rules take IPv6 now (`tests_snat6.rs`), also_listen too
    // (`tests_ops6.rs`): a kernel interface's addresses are what is left.
    let cases: Vec<(String, &str, usize)> = vec![(
        with(
            "device = \"net_null0\"\n",
            "device = \"net_null0\"\nkernel = { name = \"flb0\", addresses = [\"2001:db8::2/64\"] }\n",
        ),
        "port[0].kernel",
        4,
    )];
    for (text, key, line) in cases {
        let errs = parse(&text).expect_err("refused").0;
        let e = errs
            .iter()
            .find(|e| e.message.contains(IPV6_NOT_YET))
            .unwrap_or_else(|| panic!("{key}: {errs:#?}"));
        assert!(
            e.key.as_deref().is_some_and(|k| k.starts_with(key)),
            "{key}: {e}"
        );
        assert_eq!(e.line, Some(line), "{key}: {e}");
        assert!(e.message.contains("issue 20"), "{e}");
    }
}

/// BASE with an IPv6 address on the interface and its service made an
/// IPv6 DR one: VIP 2001:db8:10::10, backend 2001:db8::11 on the link.
pub(super) fn dr6() -> String {
    with(
        r#"addresses = ["10.0.0.1/24"]"#,
        r#"addresses = ["10.0.0.1/24", "2001:db8::1/64"]"#,
    )
    .replacen("\"192.0.2.10\"", "\"2001:db8:10::10\"", 1)
    .replacen("mode = \"nat\"", "mode = \"dr\"", 1)
    .replacen("\"10.0.0.11\"", "\"2001:db8::11\"", 1)
}

#[test]
fn an_ipv6_dr_service_is_accepted_with_its_persistence_prefix() {
    let text = dr6().replacen(
        "mode = \"dr\"\n",
        "mode = \"dr\"\npersistence = 300\npersistence_prefix6 = 64\n",
        1,
    );
    let cfg = parse(&text).unwrap_or_else(|e| panic!("{e}")).config;
    let s = &cfg.services[0];
    assert_eq!(
        s.vip,
        "2001:db8:10::10".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(s.backends[0].address.to_string(), "2001:db8::11");
    assert_eq!((s.persistence_prefix, s.persistence_prefix6), (32, 64));
    assert_eq!(s.key_text(), "tcp/[2001:db8:10::10]:80");
    // Unset, the IPv6 prefix is one address (ipvsadm's IPv6 default).
    let cfg = parse(&dr6()).unwrap().config;
    assert_eq!(cfg.services[0].persistence_prefix6, 128);
    assert_eq!(cfg.sessions.capacity6, 1 << 16);
}

#[test]
fn an_ipv6_tun_service_is_accepted() {
    let text = dr6().replacen("mode = \"dr\"\n", "mode = \"tun\"\n", 1);
    let cfg = parse(&text).unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(cfg.services[0].mode, LbMode::Tun);
}

#[test]
fn ipv6_services_take_every_mode_and_one_family_at_the_key() {
    let text = dr6();
    let line = |t: &str, n: &str| t.lines().position(|l| l.contains(n)).unwrap() + 1;
    // NAT (stage 3): accepted, its backend on the link like DR's.
    let nat = text.replacen("mode = \"dr\"\n", "mode = \"nat\"\n", 1);
    let cfg = parse(&nat).unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(cfg.services[0].mode, LbMode::Nat);
    // FULLNAT: accepted with IPv6 local addresses (below); NAT64, with IPv4
    // backends, too (`nat64_is_fullnat_with_ipv4_backends_and_local_addresses`).
    let t = text.replacen(
        "mode = \"dr\"\n",
        "mode = \"fullnat\"\nlocal_addresses = [\"2001:db8::100\"]\n",
        1,
    );
    let cfg = parse(&t).unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(cfg.services[0].mode, LbMode::Fullnat);
    // A VIP and its backends of two families, either way round.
    let t = text.replacen("\"2001:db8::11\"", "\"10.0.0.11\"", 1);
    let m = refused_at(&t, "service[0].backend[0].address", line(&t, "10.0.0.11"));
    assert!(
        m.contains("10.0.0.11 is IPv4 and the VIP 2001:db8:10::10 is IPv6"),
        "{m}"
    );
    let t = with("\"10.0.0.11\"", "\"2001:db8::11\"");
    let m = refused_at(
        &t,
        "service[0].backend[0].address",
        line(&t, "2001:db8::11"),
    );
    assert!(m.contains("one family"), "{m}");
    // Out of range (`ops` and `also_listen`: `tests_ops6.rs`).
    for (key, set) in [
        ("persistence_prefix6", "persistence_prefix6 = 129"),
        (
            "client_prefix_len",
            "client_rate = 10\nclient_prefix_len = 129",
        ),
    ] {
        let t = text.replacen("port = 80\n", &format!("port = 80\n{set}\n"), 1);
        let at = set.lines().last().unwrap_or(set);
        let m = refused_at(&t, &format!("service[0].{key}"), line(&t, at));
        assert!(m.contains("0..=128"), "{key}: {m}");
    }
    // MSS clamping is taken on an IPv6 service.
    let t = text.replacen("port = 80\n", "port = 80\nmss_clamp = 1400\n", 1);
    let c = parse(&t).unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(c.services[0].mss_clamp, Some(1400));
    // A per-client rate limit takes IPv6 prefixes up to 128 bits.
    let t = text.replacen(
        "port = 80\n",
        "port = 80\nclient_rate = 10\nclient_prefix_len = 56\n",
        1,
    );
    let c = parse(&t).unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(c.services[0].client_prefix_len, Some(56));
}

#[test]
fn unusable_ipv6_vips_and_backends_are_refused_at_their_key() {
    let text = dr6();
    let line = |t: &str, n: &str| t.lines().position(|l| l.contains(n)).unwrap() + 1;
    for (from, to, key, why) in [
        (
            "\"2001:db8:10::10\"",
            "\"ff02::10\"",
            "service[0].vip",
            "multicast",
        ),
        (
            "\"2001:db8:10::10\"",
            "\"::1\"",
            "service[0].vip",
            "loopback",
        ),
        (
            "\"2001:db8:10::10\"",
            "\"2001:db8::1\"",
            "service[0].vip",
            "interface address",
        ),
        (
            "\"2001:db8::11\"",
            "\"2001:db8::1\"",
            "service[0].backend[0].address",
            "interface address",
        ),
        (
            "\"2001:db8::11\"",
            "\"::\"",
            "service[0].backend[0].address",
            "unspecified",
        ),
    ] {
        let t = text.replacen(from, to, 1);
        let m = refused_at(&t, key, line(&t, to));
        assert!(m.contains(why), "{to}: {m}");
    }
}

/// `dr6` made FULLNAT from `laddrs`.
pub(super) fn fullnat6(laddrs: &str) -> String {
    dr6().replacen(
        "mode = \"dr\"\n",
        &format!("mode = \"fullnat\"\nlocal_addresses = [{laddrs}]\n"),
        1,
    )
}

#[test]
fn an_ipv6_fullnat_service_takes_ipv6_local_addresses_only() {
    let line = |t: &str, n: &str| t.lines().position(|l| l.contains(n)).unwrap() + 1;
    let text = fullnat6("\"2001:db8::100\", \"2001:db8::101\"");
    let cfg = parse(&text).unwrap_or_else(|e| panic!("{e}")).config;
    let s = &cfg.services[0];
    assert_eq!(s.mode, LbMode::Fullnat);
    let want: Vec<std::net::IpAddr> = vec![
        "2001:db8::100".parse().unwrap(),
        "2001:db8::101".parse().unwrap(),
    ];
    assert_eq!(s.local_addresses, want);
    // Written back and read again the same.
    let json = serde_json::to_string(s).unwrap();
    let back: ServiceConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, s);
    // An IPv4 local address for IPv6 backends (and the other way round):
    // refused at its index, naming both families.
    let t = fullnat6("\"2001:db8::100\", \"10.0.0.100\"");
    let m = refused_at(
        &t,
        "service[0].local_addresses[1]",
        line(&t, "local_addresses"),
    );
    assert!(
        m.contains("local address 10.0.0.100 is IPv4 and the backends are IPv6"),
        "{m}"
    );
    let t = with(
        "mode = \"nat\"",
        "mode = \"fullnat\"\nlocal_addresses = [\"10.0.0.100\", \"2001:db8::100\"]",
    );
    let m = refused_at(
        &t,
        "service[0].local_addresses[1]",
        line(&t, "local_addresses"),
    );
    assert!(
        m.contains("local address 2001:db8::100 is IPv6 and the backends are IPv4"),
        "{m}"
    );
    // Unusable IPv6 local addresses, at their index.
    for (a, why) in [
        ("::1", "the loopback address"),
        ("ff02::1", "a multicast address"),
        ("2001:db8::1", "an interface address of this appliance"),
        ("2001:db8:10::10", "the VIP of service[0]"),
    ] {
        let t = fullnat6(&format!("\"{a}\""));
        let m = refused_at(
            &t,
            "service[0].local_addresses[0]",
            line(&t, "local_addresses"),
        );
        assert!(m.contains(why), "{a}: {m}");
    }
    // NAT64 (IPv6 VIP, IPv4 backends): IPv4 local addresses, and an IPv6
    // one refused at its index.
    let t = fullnat6("\"10.0.0.100\"").replacen("\"2001:db8::11\"", "\"10.0.0.11\"", 1);
    parse(&t).unwrap_or_else(|e| panic!("{e}"));
    // Its sessions are synced (IPv4-mapped in the IPv6 record): taken
    // with [sync] on.
    let synced = format!("{t}\n[sync]\nlisten = \"10.0.0.1:8848\"\npeers = [\"10.0.0.2:8848\"]\n");
    parse(&synced).unwrap_or_else(|e| panic!("{e}"));
    let t = fullnat6("\"2001:db8::100\"").replacen("\"2001:db8::11\"", "\"10.0.0.11\"", 1);
    let m = refused_at(
        &t,
        "service[0].local_addresses[0]",
        line(&t, "local_addresses"),
    );
    assert!(
        m.contains("local address 2001:db8::100 is IPv6 and the backends are IPv4"),
        "{m}"
    );
    // Session sync carries IPv6 FULLNAT sessions: accepted with [sync].
    let t = format!("{text}\n[sync]\nlisten = \"10.0.0.1:8848\"\npeers = [\"10.0.0.2:8848\"]\n");
    parse(&t).unwrap_or_else(|e| panic!("{e}"));
    // The SYN proxy on IPv6 FULLNAT and NAT (`pipeline/synproxy6.rs`).
    let set = "syn_proxy = true";
    let t = text.replacen("port = 80\n", &format!("port = 80\n{set}\n"), 1);
    let cfg = parse(&t).unwrap_or_else(|e| panic!("{e}")).config;
    assert!(cfg.services[0].syn_proxy);
    let nat = t.replacen("mode = \"fullnat\"", "mode = \"nat\"", 1);
    let nat = nat.replacen(
        "local_addresses = [\"2001:db8::100\", \"2001:db8::101\"]\n",
        "",
        1,
    );
    let cfg = parse(&nat).unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(cfg.services[0].mode, LbMode::Nat);
    assert!(cfg.services[0].syn_proxy);
    // Its sessions are synced with their splice: taken beside [sync].
    let synced = format!("{t}\n[sync]\nlisten = \"10.0.0.1:8848\"\npeers = [\"10.0.0.2:8848\"]\n");
    parse(&synced).unwrap_or_else(|e| panic!("{e}"));
    // What it does not build on IPv6 yet, at its key: the client's
    // address options.
    for option in ["toa = true", "proxy_protocol = \"v2\""] {
        let both = t.replacen(set, &format!("{set}\n{option}"), 1);
        let m = refused_at(&both, "service[0].syn_proxy", line(&both, set));
        assert!(
            m.contains("is not built for IPv6 yet (issue 20)"),
            "{option}: {m}"
        );
    }
}

/// `text`'s first service with `set` after its port.
fn with_option(text: &str, set: &str) -> String {
    text.replacen("port = 80\n", &format!("port = 80\n{set}\n"), 1)
}

#[test]
fn ipv6_nat_and_fullnat_services_take_toa_and_the_proxy_protocol() {
    let line = |t: &str, n: &str| t.lines().position(|l| l.contains(n)).unwrap() + 1;
    let fullnat = fullnat6("\"2001:db8::100\"");
    let nat = dr6().replacen("mode = \"dr\"", "mode = \"nat\"", 1);
    let udp = |t: &str| t.replacen("protocol = \"tcp\"", "protocol = \"udp\"", 1);
    // Accepted: TOA on TCP FULLNAT; v1 and v2 on TCP NAT and FULLNAT; v2
    // on UDP FULLNAT.
    let cases = [
        (with_option(&fullnat, "toa = true"), None),
        (
            with_option(&fullnat, "proxy_protocol = \"v2\""),
            Some(ProxyProtocol::V2),
        ),
        (
            with_option(&fullnat, "proxy_protocol = \"v1\""),
            Some(ProxyProtocol::V1),
        ),
        (
            with_option(&nat, "proxy_protocol = \"v2\""),
            Some(ProxyProtocol::V2),
        ),
        (
            with_option(&nat, "proxy_protocol = \"v1\""),
            Some(ProxyProtocol::V1),
        ),
        (
            udp(&with_option(&fullnat, "proxy_protocol = \"v2\"")),
            Some(ProxyProtocol::V2),
        ),
    ];
    for (t, version) in cases {
        let cfg = parse(&t).unwrap_or_else(|e| panic!("{t}: {e}")).config;
        let s = &cfg.services[0];
        assert!(s.vip.is_ipv6());
        assert_eq!(s.proxy_protocol, version);
        assert_eq!(s.toa, version.is_none());
    }
    // IPv4's rules apply, at their key: TOA for FULLNAT TCP only, the
    // header not on DR, v1 not on UDP, not both on one service.
    let refused = [
        (with_option(&nat, "toa = true"), "toa", "toa is for fullnat"),
        (
            udp(&with_option(&fullnat, "toa = true")),
            "toa",
            "tcp services only",
        ),
        (
            with_option(&dr6(), "proxy_protocol = \"v2\""),
            "proxy_protocol",
            "proxy_protocol on tcp is for nat and fullnat",
        ),
        (
            udp(&with_option(&fullnat, "proxy_protocol = \"v1\"")),
            "proxy_protocol",
            "the text header has no udp",
        ),
        (
            with_option(&fullnat, "proxy_protocol = \"v2\"\ntoa = true"),
            "proxy_protocol",
            "proxy_protocol and toa together",
        ),
    ];
    for (t, key, want) in refused {
        let at = line(&t, &format!("{key} ="));
        let m = refused_at(&t, &format!("service[0].{key}"), at);
        assert!(m.contains(want), "{key}: {m}");
    }
    // Synced with [sync] on: the TCP header's shift is in the IPv6 record.
    let sync = "\n[sync]\nlisten = \"10.0.0.1:8848\"\npeers = [\"10.0.0.2:8848\"]\n";
    for ok in [
        with_option(&nat, "proxy_protocol = \"v2\""),
        with_option(&fullnat, "proxy_protocol = \"v1\""),
        udp(&with_option(&fullnat, "proxy_protocol = \"v2\"")),
        with_option(&fullnat, "toa = true"),
    ] {
        parse(&format!("{ok}{sync}")).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn the_control_socket_takes_an_ipv6_service() {
    let json = r#"{"vip":"2001:db8::10","protocol":"tcp","port":80,"mode":"dr",
        "backend":[{"address":"2001:db8::11"}]}"#;
    let s = serde_json::from_str::<ServiceConfig>(json).expect("an IPv6 service");
    assert_eq!(s.key_text(), "tcp/[2001:db8::10]:80");
    // IPv6 local addresses too (FULLNAT over IPv6).
    let json = r#"{"vip":"2001:db8::10","protocol":"tcp","port":80,"mode":"fullnat",
        "local_addresses":["2001:db8::100"]}"#;
    let s = serde_json::from_str::<ServiceConfig>(json).expect("an IPv6 FULLNAT service");
    assert_eq!(s.local_addresses[0].to_string(), "2001:db8::100");
}

#[test]
fn a_change_of_ipv6_interface_addresses_needs_a_restart() {
    let old = parse(&with(r#"addresses = ["10.0.0.1/24"]"#, DUAL))
        .unwrap()
        .config;
    let mut new = old.clone();
    new.interfaces[0].addresses[1] = "2001:db8::2/64".parse().unwrap();
    let why = crate::ops::needs_restart(&old, &new);
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(why[0].starts_with("[[interface]] changed"), "{why:?}");
    assert!(crate::ops::needs_restart(&old, &old.clone()).is_empty());
}

#[test]
fn access_lists_take_prefixes_of_the_vips_family_at_their_key() {
    let line = |t: &str, n: &str| t.lines().position(|l| l.contains(n)).unwrap() + 1;
    let with_acl =
        |t: &str, acl: &str| t.replacen("port = 80\n", &format!("port = 80\n{acl}\n"), 1);
    let t = with_acl(
        &dr6(),
        "allow = [\"2001:db8:2::/48\"]\ndeny = [\"2001:db8:2:bad::/64\"]",
    );
    let cfg = parse(&t).unwrap_or_else(|e| panic!("{e}")).config;
    let s = &cfg.services[0];
    assert_eq!(s.allow[0].to_string(), "2001:db8:2::/48");
    assert_eq!(s.deny[0].to_string(), "2001:db8:2:bad::/64");
    // An IPv4 prefix on an IPv6 service, and the other way round.
    let t = with_acl(&dr6(), "allow = [\"2001:db8:2::/48\", \"10.0.0.0/8\"]");
    let m = refused_at(&t, "service[0].allow[1]", line(&t, "10.0.0.0/8"));
    assert!(
        m.contains("10.0.0.0/8 is IPv4 and the VIP 2001:db8:10::10 is IPv6"),
        "{m}"
    );
    let t = with_acl(BASE, "deny = [\"2001:db8::/32\"]");
    let m = refused_at(&t, "service[0].deny[0]", line(&t, "2001:db8::/32"));
    assert!(m.contains("2001:db8::/32 is IPv6 and the VIP"), "{m}");
    // Host bits, as for IPv4.
    let t = with_acl(&dr6(), "deny = [\"2001:db8:2::1/48\"]");
    let m = refused_at(&t, "service[0].deny[0]", line(&t, "2001:db8:2::1/48"));
    assert!(
        m.contains("has host bits set: write the network, 2001:db8:2::/48"),
        "{m}"
    );
}

/// `dr6()` made NAT64: mode fullnat, a local address, the backend IPv4.
pub(super) fn nat64() -> String {
    dr6()
        .replacen(
            "mode = \"dr\"\n",
            "mode = \"fullnat\"\nlocal_addresses = [\"10.0.0.100\"]\n",
            1,
        )
        .replacen("\"2001:db8::11\"", "\"10.0.0.11\"", 1)
}

#[test]
fn nat64_is_fullnat_with_ipv4_backends_and_local_addresses() {
    let line = |t: &str, n: &str| t.lines().position(|l| l.contains(n)).unwrap() + 1;
    let cfg = parse(&nat64()).unwrap_or_else(|e| panic!("{e}")).config;
    let s = &cfg.services[0];
    assert_eq!((s.mode, s.vip.is_ipv6()), (LbMode::Fullnat, true));
    assert!(s.backends[0].address.is_ipv4());
    assert!(super::validate_family::is_nat64(s));
    // Without local addresses: refused at `mode`, saying NAT64 needs IPv4 ones.
    let t = nat64().replacen("local_addresses = [\"10.0.0.100\"]\n", "", 1);
    let m = refused_at(&t, "service[0].mode", line(&t, "mode ="));
    assert!(
        m.contains("fullnat with an IPv6 VIP (NAT64: IPv4 backends) needs IPv4 local_addresses"),
        "{m}"
    );
    // Backends of both families: the IPv6 one refused at its key.
    let t = nat64().replacen(
        "[[service.backend]]\naddress = \"10.0.0.11\"\n",
        "[[service.backend]]\naddress = \"10.0.0.11\"\n\n[[service.backend]]\naddress = \"2001:db8::12\"\n",
        1,
    );
    let m = refused_at(
        &t,
        "service[0].backend[1].address",
        line(&t, "2001:db8::12"),
    );
    assert!(
        m.contains("2001:db8::12 is IPv6 and the service is NAT64 (fullnat, IPv6 VIP"),
        "{m}"
    );
    assert!(parse(&t).unwrap_err().0.len() == 1, "only the IPv6 backend");
    // What NAT64 does not build yet, at its key.
    let set = "syn_proxy = true";
    let t = with_option(&nat64(), set);
    let m = refused_at(&t, "service[0].syn_proxy", line(&t, set));
    assert!(m.contains("not built for NAT64 yet (issue 20)"), "{m}");
    // The client's address: the IPv6 TOA option and the PROXY header
    // (AF_INET6) on the IPv4 leg.
    for (set, toa) in [
        ("toa = true", true),
        ("proxy_protocol = \"v2\"", false),
        ("proxy_protocol = \"v1\"", false),
    ] {
        let cfg = parse(&with_option(&nat64(), set))
            .unwrap_or_else(|e| panic!("{set}: {e}"))
            .config;
        assert_eq!(cfg.services[0].toa, toa);
    }
    // An IPv4 FULLNAT service keeps its message.
    let t = BASE.replacen("mode = \"nat\"", "mode = \"fullnat\"", 1);
    let m = refused_at(&t, "service[0].mode", line(&t, "mode ="));
    assert!(m.starts_with("fullnat needs local_addresses"), "{m}");
}
