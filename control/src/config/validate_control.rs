//! Checks on the control-plane sections: the socket (`[control]`) and the
//! per-service health checks (`check` in a `[[service]]`). Like the other
//! checks, each problem names its key and all problems are reported at once.

use super::{Config, ConfigError, ConfigSource, HealthCheckConfig, KeyPath};

/// The smallest request limit: below this even a one-service `apply` does
/// not fit, and the appliance would refuse its own tooling.
const MIN_MAX_MESSAGE: usize = 4096;

/// The shortest check interval: faster probing only loads the backends.
const MIN_INTERVAL_MS: u32 = 100;

/// Consecutive results `rise` and `fall` may ask for.
const RISE_FALL_RANGE: std::ops::RangeInclusive<u32> = 1..=100;

/// HTTP status codes a check may expect.
const STATUS_RANGE: std::ops::RangeInclusive<u16> = 100..=599;

pub(super) fn validate(config: &Config, source: &ConfigSource, errors: &mut Vec<ConfigError>) {
    let mut err = |path: KeyPath, msg: String| errors.push(source.error_at(&path, msg));
    let at = KeyPath::root().key("control");
    let control = &config.control;
    if !control.socket.is_absolute() {
        err(
            at.key("socket"),
            format!(
                "{}: the socket path must be absolute, like \"/run/ferrolb/ferrolb.sock\"",
                control.socket.display()
            ),
        );
    }
    if control.group.as_deref() == Some("") {
        err(
            at.key("group"),
            "the group is empty; name a group, or leave group out for root only".into(),
        );
    }
    if control.max_message < MIN_MAX_MESSAGE {
        err(
            at.key("max_message"),
            format!(
                "{} bytes: must be at least {MIN_MAX_MESSAGE}",
                control.max_message
            ),
        );
    }
    if control.max_clients == 0 {
        err(
            at.key("max_clients"),
            "0 clients: must be at least 1".into(),
        );
    }

    for (i, s) in config.services.iter().enumerate() {
        if let Some(check) = &s.check {
            let at = KeyPath::root().key("service").index(i).key("check");
            health_check(&mut err, &at, check);
        }
    }
}

fn health_check(err: &mut impl FnMut(KeyPath, String), at: &KeyPath, c: &HealthCheckConfig) {
    if c.interval_ms < MIN_INTERVAL_MS {
        err(
            at.key("interval_ms"),
            format!(
                "{} ms: must be at least {MIN_INTERVAL_MS} ms",
                c.interval_ms
            ),
        );
    }
    if c.timeout_ms == 0 || c.timeout_ms > c.interval_ms {
        err(
            at.key("timeout_ms"),
            format!(
                "{} ms: must be 1 ms up to interval_ms ({} ms), so checks do not overlap",
                c.timeout_ms, c.interval_ms
            ),
        );
    }
    for (key, n) in [("rise", c.rise), ("fall", c.fall)] {
        if !RISE_FALL_RANGE.contains(&n) {
            err(
                at.key(key),
                format!(
                    "{n}: must be {}..={} consecutive checks",
                    RISE_FALL_RANGE.start(),
                    RISE_FALL_RANGE.end()
                ),
            );
        }
    }
    if c.port == Some(0) {
        err(
            at.key("port"),
            "port 0: must be 1..=65535; leave port out to check the backend's port".into(),
        );
    }
    if !c.path.starts_with('/') {
        err(
            at.key("path"),
            format!(
                "{:?}: an HTTP path starts with '/', like \"/healthz\"",
                c.path
            ),
        );
    }
    if !STATUS_RANGE.contains(&c.expect_status) {
        err(
            at.key("expect_status"),
            format!(
                "{}: an HTTP status is {}..={}",
                c.expect_status,
                STATUS_RANGE.start(),
                STATUS_RANGE.end()
            ),
        );
    }
}
