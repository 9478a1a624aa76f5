//! Checks on `check` tables (services' and backends') and on what the
//! daemon does with their results: sorry servers, quorum, notify commands.
//! Keys that belong to another type of check are refused, naming the type
//! they are for, so a mistyped check never silently checks something else.

use super::{
    CheckKind, CheckList, Config, ConfigError, ConfigSource, HealthCheckConfig, KeyPath,
    ServiceConfig,
};

/// The longest check interval and timeout: an hour, in milliseconds.
const MAX_CHECK_MS: u32 = 3_600_000;
/// The shortest interval: checking faster only loads the backends.
const MIN_CHECK_INTERVAL_MS: u32 = 10;
/// The largest rise and fall.
const MAX_RISE_FALL: u32 = 1000;
/// The most retries of one check.
const MAX_RETRY: u32 = 100;
/// The longest HTTP check path, Host header, SNI and DNS name.
const MAX_TEXT: usize = 1024;
/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65507;
/// Checks per service or backend.
const MAX_CHECKS: usize = 16;

/// Keys only some types of check take, with those types.
const TYPED_KEYS: &[(&str, &[CheckKind])] = &[
    ("path", &[CheckKind::Http, CheckKind::Https]),
    ("expect_status", &[CheckKind::Http, CheckKind::Https]),
    ("url", &[CheckKind::Http, CheckKind::Https]),
    ("host", &[CheckKind::Http, CheckKind::Https]),
    ("http_version", &[CheckKind::Http, CheckKind::Https]),
    ("tls_verify", &[CheckKind::Https]),
    ("sni", &[CheckKind::Https]),
    ("ca_file", &[CheckKind::Https]),
    ("payload", &[CheckKind::Udp]),
    ("require_reply", &[CheckKind::Udp]),
    ("expect", &[CheckKind::Udp]),
    ("min_reply_len", &[CheckKind::Udp]),
    ("max_reply_len", &[CheckKind::Udp]),
    ("query_name", &[CheckKind::Dns]),
    ("query_type", &[CheckKind::Dns]),
    ("require_answer", &[CheckKind::Dns]),
    ("helo_name", &[CheckKind::Smtp]),
    ("command", &[CheckKind::Script]),
    ("dynamic", &[CheckKind::Script]),
];

pub(super) fn validate(config: &Config, source: &ConfigSource, errors: &mut Vec<ConfigError>) {
    for (i, service) in config.services.iter().enumerate() {
        let at = KeyPath::root().key("service").index(i);
        check_list(&service.check, &at.key("check"), source, errors);
        for (j, backend) in service.backends.iter().enumerate() {
            let b = at.key("backend").index(j);
            check_list(&backend.check, &b.key("check"), source, errors);
            for key in ["notify_up", "notify_down"] {
                let cmd = if key == "notify_up" {
                    &backend.notify_up
                } else {
                    &backend.notify_down
                };
                command(cmd, &b.key(key), source, errors);
            }
        }
        quorum(service, &at, source, errors);
        multi_port_checks(service, &at, source, errors);
    }
}

/// A backend of a service on many ports, without a port of its own, has
/// no one port to check: its checks must say which (`connect_port`).
fn multi_port_checks(
    service: &ServiceConfig,
    at: &KeyPath,
    source: &ConfigSource,
    errors: &mut Vec<ConfigError>,
) {
    let no_port = |list: &CheckList| {
        list.checks
            .iter()
            .position(|c| c.kind.uses_port() && c.connect_port.is_none())
    };
    for (j, backend) in service.backends.iter().enumerate() {
        if service.backend_port(backend) != 0 {
            continue;
        }
        let (list, here) = match backend.check.checks.is_empty() {
            true => (&service.check, at.key("check")),
            false => (&backend.check, at.key("backend").index(j).key("check")),
        };
        if let Some(n) = no_port(list) {
            let here = if list.single { here } else { here.index(n) };
            errors.push(source.error_at(
                &here,
                format!(
                    "backend {} serves every port of {} (it has no port of its own): \
                     its check needs connect_port",
                    backend.address,
                    service.key_text()
                ),
            ));
            return;
        }
    }
}

fn check_list(
    list: &CheckList,
    at: &KeyPath,
    source: &ConfigSource,
    errors: &mut Vec<ConfigError>,
) {
    if list.checks.len() > MAX_CHECKS {
        errors.push(source.error_at(
            at,
            format!(
                "{} checks: at most {MAX_CHECKS} per service or backend",
                list.checks.len()
            ),
        ));
    }
    for (n, check) in list.checks.iter().enumerate() {
        let here = if list.single { at.clone() } else { at.index(n) };
        health_check(check, &here, source, errors);
    }
}

fn health_check(
    check: &HealthCheckConfig,
    at: &KeyPath,
    source: &ConfigSource,
    errors: &mut Vec<ConfigError>,
) {
    let mut err = |key: &str, message: String| errors.push(source.error_at(&at.key(key), message));
    timing(check, &mut err);
    for (key, kinds) in TYPED_KEYS {
        if !kinds.contains(&check.kind) && source.has_key(&at.key(key)) {
            let names: Vec<String> = kinds.iter().map(|k| format!("\"{k}\"")).collect();
            err(
                key,
                format!("{key} is only for type = {} checks", names.join(" or ")),
            );
        }
    }
    if !check.kind.uses_port() && source.has_key(&at.key("connect_port")) {
        err(
            "connect_port",
            format!("a {} check has no port", check.kind),
        );
    }
    if check.connect_port == Some(0) {
        let key = if source.has_key(&at.key("port")) {
            "port"
        } else {
            "connect_port"
        };
        err(
            key,
            "port 0: must be 1..=65535; leave it out to check the backend's port".into(),
        );
    }
    match check.kind {
        CheckKind::Http | CheckKind::Https => http(check, at, source, &mut err),
        CheckKind::Udp => udp(check, &mut err),
        CheckKind::Dns => dns(check, &mut err),
        CheckKind::Smtp => {
            if let Some(name) = &check.helo_name {
                if name.is_empty() || name.len() > MAX_TEXT || !visible(name) {
                    err(
                        "helo_name",
                        format!("{name:?}: must be visible ASCII without spaces"),
                    );
                }
            }
        }
        CheckKind::Script => {
            if check.command.is_empty() {
                err(
                    "command",
                    "a script check needs command = [\"/path/to/program\", \"arg\", ...]".into(),
                );
            } else if let Some(p) = command_problem(&check.command) {
                err("command", p.into());
            }
        }
        CheckKind::Tcp | CheckKind::Icmp => {}
    }
}

fn timing(check: &HealthCheckConfig, err: &mut impl FnMut(&str, String)) {
    if !(MIN_CHECK_INTERVAL_MS..=MAX_CHECK_MS).contains(&check.interval_ms) {
        err(
            "interval_ms",
            format!(
                "{} ms: must be {MIN_CHECK_INTERVAL_MS}..={MAX_CHECK_MS} (an hour)",
                check.interval_ms
            ),
        );
    }
    for (key, ms) in [
        ("timeout_ms", check.timeout_ms),
        ("retry_delay_ms", check.retry_delay_ms),
    ] {
        if !(1..=MAX_CHECK_MS).contains(&ms) {
            err(
                key,
                format!("{ms} ms: must be 1..={MAX_CHECK_MS} (an hour)"),
            );
        }
    }
    if check.warmup_ms > MAX_CHECK_MS {
        err(
            "warmup_ms",
            format!(
                "{} ms: must be 0..={MAX_CHECK_MS} (an hour)",
                check.warmup_ms
            ),
        );
    }
    for (key, n) in [("rise", check.rise), ("fall", check.fall)] {
        if !(1..=MAX_RISE_FALL).contains(&n) {
            err(
                key,
                format!("{n}: must be 1..={MAX_RISE_FALL} consecutive checks"),
            );
        }
    }
    if check.retry > MAX_RETRY {
        err("retry", format!("{}: must be 0..={MAX_RETRY}", check.retry));
    }
}

fn visible(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
}

fn path_problem(path: &str) -> Option<String> {
    (!path.starts_with('/') || path.len() > MAX_TEXT || !visible(path)).then(|| {
        format!(
            "{path:?}: must start with '/' and be at most {MAX_TEXT} visible ASCII characters \
             without spaces (percent-encode the rest)"
        )
    })
}

fn host_problem(host: &str) -> Option<String> {
    (host.is_empty() || host.len() > MAX_TEXT || !visible(host))
        .then(|| format!("{host:?}: must be a host name (visible ASCII, no spaces)"))
}

fn hex_problem(digest: &str, len: usize) -> Option<String> {
    (digest.len() != len || !digest.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("{digest:?}: must be {len} hex digits"))
}

fn http(
    check: &HealthCheckConfig,
    at: &KeyPath,
    source: &ConfigSource,
    err: &mut impl FnMut(&str, String),
) {
    if let Some(p) = path_problem(&check.path) {
        err("path", p);
    }
    if !(100..=599).contains(&check.expect_status) {
        err(
            "expect_status",
            format!("{}: must be an HTTP status, 100..=599", check.expect_status),
        );
    }
    if !check.url.is_empty() {
        for key in ["path", "expect_status"] {
            if source.has_key(&at.key(key)) {
                err(key, format!("give {key} in each url, not beside url"));
            }
        }
    }
    for (i, url) in check.url.iter().enumerate() {
        let key = |k: &str| format!("url[{i}].{k}");
        if let Some(p) = path_problem(&url.path) {
            err(&key("path"), p);
        }
        if let Some(p) = url.digest.as_deref().and_then(|d| hex_problem(d, 32)) {
            err(
                &key("digest"),
                format!("{p} (an MD5, as genhash prints it)"),
            );
        }
        if let Some(p) = url.sha256.as_deref().and_then(|d| hex_problem(d, 64)) {
            err(&key("sha256"), p);
        }
        if let Some(p) = url.host.as_deref().and_then(host_problem) {
            err(&key("host"), p);
        }
    }
    if let Some(p) = check.host.as_deref().and_then(host_problem) {
        err("host", p);
    }
    if let Some(sni) = &check.sni {
        if rustls::pki_types::ServerName::try_from(sni.as_str()).is_err() {
            err("sni", format!("{sni:?}: must be a DNS name or an address"));
        }
    }
    if check.ca_file.is_some() && !check.tls_verify {
        err(
            "ca_file",
            "ca_file is only used with tls_verify = true".into(),
        );
    }
}

fn udp(check: &HealthCheckConfig, err: &mut impl FnMut(&str, String)) {
    if check
        .payload
        .as_ref()
        .is_some_and(|p| p.bytes.len() > MAX_DATAGRAM)
    {
        err(
            "payload",
            format!("longer than a UDP datagram ({MAX_DATAGRAM} bytes)"),
        );
    }
    if check.max_reply_len as usize > MAX_DATAGRAM {
        err(
            "max_reply_len",
            format!("{}: must be at most {MAX_DATAGRAM}", check.max_reply_len),
        );
    }
    if check.min_reply_len > check.max_reply_len {
        err(
            "min_reply_len",
            format!(
                "{} is above max_reply_len {}: the check could never pass",
                check.min_reply_len, check.max_reply_len
            ),
        );
    }
    if check.expect.is_some() && !check.require_reply {
        err(
            "expect",
            "expect needs require_reply = true (without it, no reply is needed)".into(),
        );
    }
}

fn dns(check: &HealthCheckConfig, err: &mut impl FnMut(&str, String)) {
    let name = &check.query_name;
    if name.is_empty() || name.len() > 255 || hickory_proto::rr::Name::from_ascii(name).is_err() {
        err("query_name", format!("{name:?}: not a DNS name"));
    }
    let known = [
        "A", "AAAA", "NS", "CNAME", "SOA", "MX", "TXT", "PTR", "SRV", "CAA",
    ];
    if !known.contains(&check.query_type.as_str()) {
        err(
            "query_type",
            format!(
                "{:?}: must be one of {}",
                check.query_type,
                known.join(", ")
            ),
        );
    }
}

const COMMAND_PROBLEM: &str =
    "the program must be a non-empty path and no argument may contain NUL";

fn command_problem(cmd: &[String]) -> Option<&'static str> {
    let bad = cmd.first().is_some_and(|p| p.is_empty()) || cmd.iter().any(|a| a.contains('\0'));
    bad.then_some(COMMAND_PROBLEM)
}

/// A notify command: absent, or a program and its arguments.
fn command(cmd: &[String], at: &KeyPath, source: &ConfigSource, errors: &mut Vec<ConfigError>) {
    if cmd.is_empty() && source.has_key(at) {
        errors.push(source.error_at(
            at,
            "empty: give [\"/path/to/program\", \"arg\", ...] or leave it out",
        ));
    } else if let Some(p) = command_problem(cmd) {
        errors.push(source.error_at(at, p));
    }
}

fn quorum(
    service: &ServiceConfig,
    at: &KeyPath,
    source: &ConfigSource,
    errors: &mut Vec<ConfigError>,
) {
    if service.hysteresis > service.quorum {
        errors.push(source.error_at(
            &at.key("hysteresis"),
            format!(
                "{} is above quorum {}: quorum could never be lost",
                service.hysteresis, service.quorum
            ),
        ));
    }
    for (key, cmd) in [
        ("quorum_up", &service.quorum_up),
        ("quorum_down", &service.quorum_down),
    ] {
        command(cmd, &at.key(key), source, errors);
    }
    let Some(sorry) = &service.sorry_server else {
        return;
    };
    let port = sorry.port.unwrap_or(service.port);
    let s = at.key("sorry_server");
    if sorry.port == Some(0) {
        errors.push(source.error_at(&s.key("port"), "port 0: must be 1..=65535"));
    }
    if service
        .backends
        .iter()
        .any(|b| b.address == sorry.address && b.port_or(service.port) == port)
    {
        errors.push(source.error_at(
            &s,
            format!(
                "{} is also a backend of this service; the sorry server must be another",
                std::net::SocketAddr::new(sorry.address.into(), port)
            ),
        ));
    }
    if sorry.port.is_some_and(|p| p != service.port)
        && matches!(service.mode, super::LbMode::Dr | super::LbMode::Tun)
    {
        errors.push(source.error_at(
            &s.key("port"),
            format!(
                "a {} service cannot change the port; leave it out",
                service.mode
            ),
        ));
    }
}
