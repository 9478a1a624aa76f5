//! SNAT over IPv6 in the config (issue 20): an IPv6 `[[snat]]` rule
//! accepted (and back from JSON); a rule of one family, a mix refused at
//! the address's key; unusable IPv6 SNAT addresses refused as FULLNAT's
//! IPv6 local addresses are; an IPv6 rule taken beside `[sync]` (its
//! sessions are synced).

use super::tests_lb::{parse, BASE};
use super::*;

/// BASE with an IPv6 address on its interface and one IPv6 SNAT rule.
fn snat6(source: &str, addresses: &str) -> String {
    let base = BASE.replacen(
        r#"addresses = ["10.0.0.1/24"]"#,
        r#"addresses = ["10.0.0.1/24", "2001:db8::1/64"]"#,
        1,
    );
    format!("{base}\n[[snat]]\nsource = \"{source}\"\nport = \"lan\"\naddresses = [{addresses}]\n")
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in the text"))
        + 1
}

/// The one message of `text`'s errors at `key`, on `line`.
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
    at.iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn an_ipv6_snat_rule_is_accepted_and_round_trips() {
    let text = snat6("2001:db8:1::/64", r#""2001:db8::99", "2001:db8::98""#);
    let cfg = parse(&text).unwrap_or_else(|e| panic!("{e}")).config;
    let r = &cfg.snat[0];
    assert_eq!(r.source.to_string(), "2001:db8:1::/64");
    assert!(r.source.is_ipv6());
    assert_eq!(r.addresses.len(), 2);
    assert!(r.addresses.iter().all(|a| a.is_ipv6()));
    let json = serde_json::to_string(r).unwrap();
    let back: SnatConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, r);
    // An IPv4 rule beside it, as before.
    let both = format!(
        "{text}\n[[snat]]\nsource = \"10.0.5.0/24\"\nport = \"lan\"\naddresses = [\"203.0.113.1\"]\n"
    );
    parse(&both).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_rule_is_of_one_family_refused_at_the_address() {
    let text = snat6("2001:db8:1::/64", r#""2001:db8::99", "203.0.113.1""#);
    let m = refused_at(&text, "snat[0].addresses[1]", line_of(&text, "203.0.113.1"));
    assert!(
        m.contains("203.0.113.1 is IPv4 and the source 2001:db8:1::/64 is IPv6"),
        "{m}"
    );
    let text = snat6("10.0.5.0/24", r#""2001:db8::99""#);
    let m = refused_at(
        &text,
        "snat[0].addresses[0]",
        line_of(&text, "2001:db8::99"),
    );
    assert!(
        m.contains("is IPv6 and the source 10.0.5.0/24 is IPv4"),
        "{m}"
    );
}

#[test]
fn unusable_ipv6_snat_addresses_are_refused_at_their_key() {
    let cases = [
        ("::", "the unspecified address"),
        ("::1", "the loopback address"),
        ("ff02::1", "multicast"),
        ("::ffff:192.0.2.1", "IPv4-mapped"),
        ("2001:db8::1", "an interface address"),
    ];
    for (a, why) in cases {
        let text = snat6("2001:db8:1::/64", &format!("\"{a}\""));
        let line = line_of(&text, &format!("[\"{a}\"]"));
        let m = refused_at(&text, "snat[0].addresses[0]", line);
        assert!(m.contains(why), "{a}: {m}");
        assert!(m.contains("cannot be a SNAT address"), "{a}: {m}");
    }
    // A VIP of an IPv6 service.
    let text = snat6("2001:db8:1::/64", r#""2001:db8:10::10""#)
        .replacen("\"192.0.2.10\"", "\"2001:db8:10::10\"", 1)
        .replacen("\"10.0.0.11\"", "\"2001:db8::11\"", 1);
    let m = refused_at(
        &text,
        "snat[0].addresses[0]",
        line_of(&text, "[\"2001:db8:10::10\"]"),
    );
    assert!(m.contains("is the VIP of service[0]"), "{m}");
    // A neighbour's address.
    let text = format!(
        "{}\n[[neighbour]]\naddress = \"2001:db8::fe\"\nmac = \"02:00:00:00:00:fd\"\n",
        snat6("2001:db8:1::/64", r#""2001:db8::fe""#)
    );
    let m = refused_at(
        &text,
        "snat[0].addresses[0]",
        line_of(&text, "[\"2001:db8::fe\"]"),
    );
    assert!(m.contains("neighbour[1]"), "{m}");
}

#[test]
fn ipv6_sources_are_checked_as_ipv4_ones() {
    let text = snat6("2001:db8:1::5/64", r#""2001:db8::99""#);
    let m = refused_at(&text, "snat[0].source", line_of(&text, "2001:db8:1::5/64"));
    assert!(
        m.contains("host bits set; write the prefix as 2001:db8:1::/64"),
        "{m}"
    );
    let text = snat6("ff00::/8", r#""2001:db8::99""#);
    let m = refused_at(&text, "snat[0].source", line_of(&text, "ff00::/8"));
    assert!(m.contains("multicast"), "{m}");
    let twice = format!(
        "{}\n[[snat]]\nsource = \"2001:db8:1::/64\"\nport = \"lan\"\naddresses = [\"2001:db8::98\"]\n",
        snat6("2001:db8:1::/64", r#""2001:db8::99""#)
    );
    let errs = parse(&twice).expect_err("refused").0;
    assert!(
        errs.iter()
            .any(|e| e.key.as_deref() == Some("snat[1].source")
                && e.message.contains("already snat[0]")),
        "{errs:#?}"
    );
}

#[test]
fn an_ipv6_snat_rule_is_taken_beside_sync() {
    let text = format!(
        "{}\n[sync]\nlisten = \"10.0.0.1:8848\"\npeers = [\"10.0.0.2:8848\"]\n",
        snat6("2001:db8:1::/64", r#""2001:db8::99""#)
    );
    let c = parse(&text).expect("taken").config;
    assert!(c.sync.is_some() && c.snat.len() == 1);
}
