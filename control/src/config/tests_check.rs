//! Validation of services' `check` tables, each rule naming key and line.

use std::path::Path;

use super::*;

/// A valid config whose service has `check` on line 14.
fn with_check(check: &str) -> String {
    format!(
        r#"[[port]]
name = "lan"
device = "net_null0"

[[interface]]
port = "lan"
addresses = ["10.0.0.1/24"]

[[service]]
vip = "192.0.2.10"
protocol = "tcp"
port = 80
mode = "nat"
check = {check}

[[service.backend]]
address = "10.0.0.11"
"#
    )
}

fn parse(text: &str) -> Result<LoadedConfig, ConfigErrors> {
    Config::parse(Path::new("lb.toml"), text.to_owned())
}

/// The one error of `check`, checked to be about `key` on line 14.
fn refused(check: &str, key: &str) -> ConfigError {
    let errs = parse(&with_check(check))
        .expect_err("config should be refused")
        .0;
    assert_eq!(errs.len(), 1, "expected one error, got {errs:#?}");
    let e = errs.into_iter().next().expect("one error");
    let full = format!("service[0].check.{key}");
    assert_eq!((e.key.as_deref(), e.line), (Some(&*full), Some(14)), "{e}");
    e
}

#[test]
fn a_check_with_defaults_or_every_key_is_accepted() {
    let cfg = parse(&with_check(r#"{ type = "tcp" }"#)).unwrap().config;
    let check = cfg.services[0].check.clone().unwrap();
    assert_eq!(check.kind, CheckKind::Tcp);
    assert_eq!(
        (check.interval_ms, check.timeout_ms, check.rise, check.fall),
        (2000, 1000, 2, 3)
    );
    let all = r#"{ type = "http", interval_ms = 500, timeout_ms = 200, rise = 1, fall = 1, port = 8080, path = "/healthz?full=1", expect_status = 204 }"#;
    let check = parse(&with_check(all)).unwrap().config.services[0]
        .check
        .clone()
        .unwrap();
    assert_eq!(check.port, Some(8080));
    assert_eq!(check.path, "/healthz?full=1");
}

#[test]
fn check_intervals_and_timeouts_must_be_usable() {
    for v in [0, 9, 3_600_001] {
        let e = refused(
            &format!(r#"{{ type = "tcp", interval_ms = {v} }}"#),
            "interval_ms",
        );
        assert!(e.message.contains("10..=3600000"), "{e}");
    }
    for v in [0, 3_600_001] {
        refused(
            &format!(r#"{{ type = "tcp", timeout_ms = {v} }}"#),
            "timeout_ms",
        );
    }
}

#[test]
fn rise_and_fall_must_be_at_least_one() {
    refused(r#"{ type = "tcp", rise = 0 }"#, "rise");
    refused(r#"{ type = "tcp", fall = 0 }"#, "fall");
    refused(r#"{ type = "tcp", fall = 1001 }"#, "fall");
}

#[test]
fn check_port_zero_is_refused() {
    refused(r#"{ type = "tcp", port = 0 }"#, "port");
}

#[test]
fn an_http_path_must_be_one_visible_token_from_the_root() {
    for path in ["healthz", "/a b", "/a\\r\\nX-Injected: 1", "", "/é"] {
        let e = refused(&format!(r#"{{ type = "http", path = "{path}" }}"#), "path");
        assert!(e.message.contains("must start with '/'"), "{e}");
    }
}

#[test]
fn an_http_expected_status_must_be_a_status() {
    for status in [0, 99, 600] {
        refused(
            &format!(r#"{{ type = "http", expect_status = {status} }}"#),
            "expect_status",
        );
    }
}

#[test]
fn http_keys_on_a_tcp_check_are_refused() {
    let e = refused(r#"{ type = "tcp", path = "/" }"#, "path");
    assert!(e.message.contains("only for type = \"http\""), "{e}");
    refused(r#"{ type = "tcp", expect_status = 200 }"#, "expect_status");
}

#[test]
fn an_unknown_check_type_or_key_is_refused() {
    let e = parse(&with_check(r#"{ type = "icmp" }"#)).unwrap_err().0;
    assert_eq!(e[0].line, Some(14), "{e:?}");
    let e = parse(&with_check(r#"{ type = "tcp", retries = 3 }"#))
        .unwrap_err()
        .0;
    assert!(e[0].message.contains("unknown field `retries`"), "{e:?}");
}

/// The first ```toml block of docs/health-and-metrics.md, completed with
/// the port and interface every pipeline config needs, loads as described.
#[test]
fn the_documented_example_loads() {
    let doc = include_str!("../../../docs/health-and-metrics.md");
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let len = doc[start..].find("```").expect("the block's end");
    let text = format!(
        "[[port]]\nname = \"lan\"\ndevice = \"net_null0\"\n\n[[interface]]\nport = \"lan\"\n\
         addresses = [\"10.0.2.1/24\"]\n\n{}",
        &doc[start..start + len]
    );
    let config = parse(&text).unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(
        config.daemon.metrics,
        Some("127.0.0.1:9469".parse().unwrap())
    );
    let check = config.services[0].check.clone().unwrap();
    assert_eq!(check.kind, CheckKind::Http);
    assert_eq!(check.path, "/healthz");
    assert_eq!((check.rise, check.fall), (2, 3));
}
