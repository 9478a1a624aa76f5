//! IPv6 in the config (issue 20, stage 1): interface addresses of both
//! families accepted and checked; IPv6 everywhere else refused at its key
//! with the one message later stages lift; a change of IPv6 addresses
//! asks for a restart like any interface change.

use super::tests_lb::{parse, BASE};
use super::*;

fn with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from:?} is not in BASE");
    BASE.replacen(from, to, 1)
}

/// The errors of `text` at `key`, all on `line`, one message a line.
fn refused_at(text: &str, key: &str, line: usize) -> String {
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
    let fullnat = with(
        "mode = \"nat\"",
        "mode = \"fullnat\"\nlocal_addresses = [\"10.0.0.100\"]",
    );
    let snat = format!(
        "{BASE}\n[[snat]]\nsource = \"10.0.0.0/24\"\nport = \"lan\"\naddresses = [\"203.0.113.1\"]\n"
    );
    let snat_line = |s: &str, needle: &str| s.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let cases: Vec<(String, &str, usize)> = vec![
        (
            with("\"192.0.2.10\"", "\"2001:db8::10\""),
            "service[0].vip",
            18,
        ),
        (
            with("\"10.0.0.11\"", "\"2001:db8::11\""),
            "service[0].backend[0].address",
            24,
        ),
        (
            with("via = \"10.0.0.254\"", "via = \"fe80::1\""),
            "route[0].via",
            11,
        ),
        (
            with("prefix = \"0.0.0.0/0\"", "prefix = \"::/0\""),
            "route[0].prefix",
            10,
        ),
        (
            with("address = \"10.0.0.254\"", "address = \"fe80::1\""),
            "neighbour[0].address",
            14,
        ),
        (
            with(
                "port = 80\n",
                "port = 80\nalso_listen = [\"[2001:db8::10]:80\"]\n",
            ),
            "service[0].also_listen",
            21,
        ),
        (
            fullnat.replace("[\"10.0.0.100\"]", "[\"10.0.0.100\", \"2001:db8::100\"]"),
            "service[0].local_addresses",
            22,
        ),
        (
            snat.replace("[\"203.0.113.1\"]", "[\"2001:db8::99\"]"),
            "snat[0].addresses",
            snat_line(&snat, "203.0.113.1"),
        ),
        (
            snat.replace("\"10.0.0.0/24\"", "\"2001:db8::/64\""),
            "snat[0].source",
            snat_line(&snat, "10.0.0.0/24"),
        ),
    ];
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

#[test]
fn the_control_socket_refuses_an_ipv6_service_the_same_way() {
    let json = r#"{"vip":"2001:db8::10","protocol":"tcp","port":80,"mode":"dr"}"#;
    let e = serde_json::from_str::<ServiceConfig>(json).expect_err("refused");
    assert!(e.to_string().contains(IPV6_NOT_YET), "{e}");
    let v4 = r#"{"vip":"192.0.2.10","protocol":"tcp","port":80,"mode":"dr"}"#;
    assert!(serde_json::from_str::<ServiceConfig>(v4).is_ok());
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
