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
    let check = cfg.services[0].check.first().cloned().unwrap();
    assert_eq!(check.kind, CheckKind::Tcp);
    assert_eq!(
        (check.interval_ms, check.timeout_ms, check.rise, check.fall),
        (2000, 1000, 2, 3)
    );
    let all = r#"{ type = "http", interval_ms = 500, timeout_ms = 200, rise = 1, fall = 1, port = 8080, path = "/healthz?full=1", expect_status = 204 }"#;
    let check = parse(&with_check(all)).unwrap().config.services[0]
        .check
        .first()
        .cloned()
        .unwrap();
    assert_eq!(check.connect_port, Some(8080));
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
    let e = parse(&with_check(r#"{ type = "ftp" }"#)).unwrap_err().0;
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
    let check = config.services[0].check.first().cloned().unwrap();
    assert_eq!(check.kind, CheckKind::Http);
    assert_eq!(check.path, "/healthz");
    assert_eq!((check.rise, check.fall), (2, 3));
}

#[test]
fn every_check_type_loads_with_its_own_keys() {
    for check in [
        r#"{ type = "https", url = [{ path = "/a", status = "200-299 304", digest = "5eb63bbbe01eeed093cb22bb8f5acdc3" }, { path = "/b", status = 204, sha256 = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9", host = "b.test" }], host = "www.test", http_version = "1.0", tls_verify = true, sni = "www.test", ca_file = "/etc/ca.pem" }"#,
        r#"{ type = "udp", payload = "Ab12f 3", require_reply = true, expect = "ab xx", min_reply_len = 1, max_reply_len = 100 }"#,
        r#"{ type = "dns", query_name = "www.example.test", query_type = "A", require_answer = false }"#,
        r#"{ type = "icmp", connect_ip = "10.0.0.99" }"#,
        r#"{ type = "smtp", helo_name = "lb1", connect_port = 25, retry = 2, retry_delay_ms = 500, warmup_ms = 1000, alpha = true }"#,
        r#"{ type = "script", command = ["/usr/local/bin/check", "--fast"], dynamic = true, timeout_ms = 5000 }"#,
    ] {
        let cfg = parse(&with_check(check)).unwrap_or_else(|e| panic!("{check}: {e}"));
        let c = cfg.config.services[0].check.first().cloned().unwrap();
        // Written back and read again, nothing changes.
        let text = toml::to_string(&cfg.config).unwrap();
        let back = parse(&text).unwrap().config;
        assert_eq!(back.services[0].check.first(), Some(&c), "{text}");
    }
    let udp = parse(&with_check(r#"{ type = "udp", payload = "Ab12f 3" }"#)).unwrap();
    let payload = udp.config.services[0]
        .check
        .first()
        .unwrap()
        .payload
        .clone()
        .unwrap();
    assert_eq!(
        payload.bytes,
        [0xab, 0x12, 0x0f, 0x03],
        "keepalived's hex reading"
    );
}

#[test]
fn keys_of_another_check_type_and_bad_values_are_refused_by_key() {
    let e = refused(r#"{ type = "tcp", query_name = "x" }"#, "query_name");
    assert!(e.message.contains("only for type = \"dns\""), "{e}");
    refused(r#"{ type = "http", sni = "a.test" }"#, "sni");
    refused(r#"{ type = "icmp", connect_port = 80 }"#, "connect_port");
    refused(r#"{ type = "script" }"#, "command");
    refused(r#"{ type = "udp", expect = "ab" }"#, "expect");
    refused(
        r#"{ type = "udp", min_reply_len = 10, max_reply_len = 5 }"#,
        "min_reply_len",
    );
    refused(r#"{ type = "dns", query_type = "BOGUS" }"#, "query_type");
    refused(
        r#"{ type = "http", url = [{ path = "/", digest = "abc" }] }"#,
        "url[0].digest",
    );
    refused(
        r#"{ type = "http", path = "/x", url = [{ path = "/" }] }"#,
        "path",
    );
    refused(r#"{ type = "https", ca_file = "/x" }"#, "ca_file");
    refused(r#"{ type = "tcp", retry = 1000 }"#, "retry");
    let e = parse(&with_check(
        r#"{ type = "http", url = [{ path = "/", status = "200-99" }] }"#,
    ))
    .unwrap_err();
    assert!(e.0[0].message.contains("\"200-99\""), "{e}");
}

#[test]
fn several_checks_per_service_and_a_backends_own_are_read_and_checked() {
    let text = with_check(r#"{ type = "tcp" }"#).replace(
        "address = \"10.0.0.11\"\n",
        "address = \"10.0.0.11\"\ncheck = [{ type = \"tcp\" }, { type = \"script\" }]\n\
         notify_up = [\"/bin/true\"]\non_failure = \"remove\"\n",
    );
    let errs = parse(&text).unwrap_err().0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(
        errs[0].key.as_deref(),
        Some("service[0].backend[0].check[1].command")
    );
    let ok = text.replace("{ type = \"script\" }", "{ type = \"icmp\" }");
    let cfg = parse(&ok).unwrap().config;
    let b = &cfg.services[0].backends[0];
    assert_eq!(b.check.checks.len(), 2);
    assert_eq!(b.on_failure, Some(crate::config::OnFailure::Remove));
}

/// The example under "### `check`" in docs/health-and-metrics.md loads.
#[test]
fn the_documented_check_example_loads() {
    let doc = include_str!("../../../docs/health-and-metrics.md");
    let after = doc.find("### `check`").expect("the heading");
    let start = after + doc[after..].find("```toml\n").expect("a toml block") + "```toml\n".len();
    let len = doc[start..].find("```").expect("the block's end");
    let text = format!(
        "[[port]]\nname = \"lan\"\ndevice = \"net_null0\"\n\n[[interface]]\nport = \"lan\"\n\
         addresses = [\"10.0.2.1/24\"]\n\n{}",
        &doc[start..start + len]
    );
    let config = parse(&text).unwrap_or_else(|e| panic!("{e}")).config;
    let s = &config.services[0];
    assert_eq!(s.check.checks.len(), 2);
    assert_eq!(s.check.checks[0].url.len(), 2);
    assert_eq!(
        s.backends[0].check.first().unwrap().connect_port,
        Some(9000)
    );
}
