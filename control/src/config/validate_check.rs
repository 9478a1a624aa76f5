//! Checks on `check` tables of services (the health checks `ferrolbctl
//! daemon` runs). The HTTP path goes into a request line as written, so it
//! must be one token of visible ASCII.

use super::{CheckKind, Config, ConfigError, ConfigSource, HealthCheckConfig, KeyPath};

/// The longest check interval and timeout: an hour, in milliseconds.
const MAX_CHECK_MS: u32 = 3_600_000;
/// The shortest interval: checking faster only loads the backends.
const MIN_CHECK_INTERVAL_MS: u32 = 10;
/// The largest rise and fall.
const MAX_RISE_FALL: u32 = 1000;
/// The longest HTTP check path.
const MAX_PATH: usize = 1024;

pub(super) fn validate(config: &Config, source: &ConfigSource, errors: &mut Vec<ConfigError>) {
    for (i, service) in config.services.iter().enumerate() {
        if let Some(check) = &service.check {
            let at = KeyPath::root().key("service").index(i).key("check");
            health_check(check, &at, source, errors);
        }
    }
}

fn health_check(
    check: &HealthCheckConfig,
    at: &KeyPath,
    source: &ConfigSource,
    errors: &mut Vec<ConfigError>,
) {
    let mut err = |key: &str, message: String| errors.push(source.error_at(&at.key(key), message));
    if !(MIN_CHECK_INTERVAL_MS..=MAX_CHECK_MS).contains(&check.interval_ms) {
        err(
            "interval_ms",
            format!(
                "{} ms: must be {MIN_CHECK_INTERVAL_MS}..={MAX_CHECK_MS} (an hour)",
                check.interval_ms
            ),
        );
    }
    if !(1..=MAX_CHECK_MS).contains(&check.timeout_ms) {
        err(
            "timeout_ms",
            format!(
                "{} ms: must be 1..={MAX_CHECK_MS} (an hour)",
                check.timeout_ms
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
    if check.port == Some(0) {
        err(
            "port",
            "port 0: must be 1..=65535; leave port out to check the backend's port".into(),
        );
    }
    match check.kind {
        CheckKind::Http => {
            let path = &check.path;
            if !path.starts_with('/')
                || path.len() > MAX_PATH
                || !path.bytes().all(|b| b.is_ascii_graphic())
            {
                err(
                    "path",
                    format!(
                        "{path:?}: must start with '/' and be at most {MAX_PATH} visible \
                         ASCII characters without spaces (percent-encode the rest)"
                    ),
                );
            }
            if !(100..=599).contains(&check.expect_status) {
                err(
                    "expect_status",
                    format!("{}: must be an HTTP status, 100..=599", check.expect_status),
                );
            }
        }
        CheckKind::Tcp => {
            for key in ["path", "expect_status"] {
                if source.has_key(&at.key(key)) {
                    err(key, format!("{key} is only for type = \"http\" checks"));
                }
            }
        }
    }
}
