//! IPv6 routes and static neighbours in the config (issue 20): accepted
//! with IPv6 prefixes and gateways, each refusal at its key and line: a
//! route of two families, a gateway or neighbour off every connected IPv6
//! prefix, one of our own addresses or not a unicast one, host bits, a
//! prefix routed twice, multicast.

use std::net::IpAddr;

use super::tests_lb::{parse, BASE};
use super::*;

/// BASE with IPv6 on the interface (a global /64 and a link-local one)
/// and `extra` appended.
fn v6(extra: &str) -> String {
    let text = BASE.replacen(
        r#"addresses = ["10.0.0.1/24"]"#,
        r#"addresses = ["10.0.0.1/24", "2001:db8::1/64", "fe80::1/64"]"#,
        1,
    );
    format!("{text}\n{extra}")
}

fn route(prefix: &str, via: &str) -> String {
    format!("[[route]]\nprefix = \"{prefix}\"\nvia = \"{via}\"\n")
}

fn neighbour(address: &str, mac: &str) -> String {
    format!("[[neighbour]]\naddress = \"{address}\"\nmac = \"{mac}\"\n")
}

/// The errors of `text` at `key`, one message a line; each on the last
/// line holding `needle`.
fn refused_at(text: &str, key: &str, needle: &str) -> String {
    let errs = parse(text).expect_err("refused").0;
    let at: Vec<&ConfigError> = errs
        .iter()
        .filter(|e| e.key.as_deref() == Some(key))
        .collect();
    assert!(!at.is_empty(), "no error at {key}: {errs:#?}");
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .last()
        .expect("needle in the text");
    for e in &at {
        assert_eq!(e.line, Some(line), "{e}");
    }
    let m: Vec<&str> = at.iter().map(|e| e.message.as_str()).collect();
    m.join("\n")
}

#[test]
fn ipv6_routes_and_neighbours_are_accepted() {
    let text = v6(&format!(
        "{}{}{}",
        route("2001:db8:9::/48", "2001:db8::fe"),
        route("::/0", "fe80::fe"),
        neighbour("2001:db8::fe", "02:00:00:00:00:fd"),
    ));
    let cfg = parse(&text).unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(cfg.routes.len(), 3);
    let r = &cfg.routes[1];
    assert_eq!(r.prefix.to_string(), "2001:db8:9::/48");
    assert_eq!(r.via, "2001:db8::fe".parse::<IpAddr>().unwrap());
    assert_eq!(cfg.routes[2].prefix.prefix_len(), 0);
    assert_eq!(
        cfg.neighbours[1].address,
        "2001:db8::fe".parse::<IpAddr>().unwrap()
    );
    // The IPv4 ones are as they were.
    assert_eq!(cfg.routes[0].prefix.to_string(), "0.0.0.0/0");
    // Over JSON (the control socket's ops and apply) both ways.
    let json = serde_json::to_string(r).unwrap();
    assert_eq!(json, r#"{"prefix":"2001:db8:9::/48","via":"2001:db8::fe"}"#);
    assert_eq!(serde_json::from_str::<RouteConfig>(&json).unwrap(), *r);
}

#[test]
fn a_route_of_two_families_is_refused_at_via() {
    let m = refused_at(
        &v6(&route("2001:db8:9::/48", "10.0.0.254")),
        "route[1].via",
        "via = \"10.0.0.254\"",
    );
    assert!(
        m.contains("a route's prefix and gateway are of one family"),
        "{m}"
    );
    assert!(m.contains("10.0.0.254 is IPv4"), "{m}");
    let m = refused_at(
        &v6(&route("172.16.0.0/12", "2001:db8::fe")),
        "route[1].via",
        "via = \"2001:db8::fe\"",
    );
    assert!(m.contains("of one family"), "{m}");
}

#[test]
fn an_ipv6_gateway_off_every_connected_prefix_is_refused() {
    let m = refused_at(
        &v6(&route("2001:db8:9::/48", "2001:db8:7::1")),
        "route[1].via",
        "via = \"2001:db8:7::1\"",
    );
    assert!(m.contains("not in a connected prefix"), "{m}");
    assert!(m.contains("2001:db8::/64"), "the IPv6 prefixes listed: {m}");
}

#[test]
fn an_ipv6_route_prefix_has_no_host_bits_and_is_routed_once() {
    let m = refused_at(
        &v6(&route("2001:db8:9::1/48", "2001:db8::fe")),
        "route[1].prefix",
        "2001:db8:9::1/48",
    );
    assert!(m.contains("write the prefix as 2001:db8:9::/48"), "{m}");
    let text = v6(&format!(
        "{}{}",
        route("2001:db8:9::/48", "2001:db8::fe"),
        route("2001:db8:9::/48", "2001:db8::fd")
    ));
    let m = refused_at(&text, "route[2].prefix", "2001:db8:9::/48");
    assert!(m.contains("already route[1]"), "{m}");
    let m = refused_at(
        &v6(&route("ff00::/8", "2001:db8::fe")),
        "route[1].prefix",
        "ff00::/8",
    );
    assert!(m.contains("multicast is not routed"), "{m}");
}

#[test]
fn an_ipv6_gateway_or_neighbour_is_another_unicast_host() {
    let m = refused_at(
        &v6(&route("2001:db8:9::/48", "2001:db8::1")),
        "route[1].via",
        "via = \"2001:db8::1\"",
    );
    assert!(
        m.contains("interface[0].addresses[1], an address of this appliance"),
        "{m}"
    );
    let m = refused_at(
        &v6(&route("2001:db8:9::/48", "ff02::2")),
        "route[1].via",
        "via = \"ff02::2\"",
    );
    assert!(m.contains("a multicast address"), "{m}");
    let m = refused_at(
        &v6(&neighbour("2001:db8::1", "02:00:00:00:00:fd")),
        "neighbour[1].address",
        "address = \"2001:db8::1\"",
    );
    assert!(m.contains("it cannot be a neighbour"), "{m}");
    let m = refused_at(
        &v6(&neighbour("2001:db8:7::5", "02:00:00:00:00:fd")),
        "neighbour[1].address",
        "address = \"2001:db8:7::5\"",
    );
    assert!(m.contains("not in a connected prefix"), "{m}");
    let text = v6(&format!(
        "{}{}",
        neighbour("2001:db8::fe", "02:00:00:00:00:fd"),
        neighbour("2001:db8::fe", "02:00:00:00:00:fc")
    ));
    let m = refused_at(&text, "neighbour[2].address", "address = \"2001:db8::fe\"");
    assert!(m.contains("already neighbour[1]"), "{m}");
}
