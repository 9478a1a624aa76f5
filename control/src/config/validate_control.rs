//! Checks on the control socket's section, `[control]` (health checks are
//! `validate_check`'s). Like the other checks, each problem names its key
//! and all problems are reported at once.

use super::control::MAX_IDLE_TIMEOUT;
use super::{Config, ConfigError, ConfigSource, KeyPath};

/// The smallest request limit: below this even a one-service `apply` does
/// not fit, and the appliance would refuse its own tooling.
const MIN_MAX_MESSAGE: usize = 4096;

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
    if let (Some(a), Some(d)) = (control.metrics, config.daemon.metrics) {
        if a.port() != 0 && a == d {
            err(
                at.key("metrics"),
                format!(
                    "{a} is also [daemon] metrics: the appliance and the daemon each need an \
                     address of their own"
                ),
            );
        }
    }
    if control.idle_timeout == 0 || control.idle_timeout > MAX_IDLE_TIMEOUT {
        err(
            at.key("idle_timeout"),
            format!(
                "{} seconds: must be 1..={MAX_IDLE_TIMEOUT}",
                control.idle_timeout
            ),
        );
    }
}
