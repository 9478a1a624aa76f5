//! Checks on a service's connection limits: the backends' thresholds
//! (`u_threshold`, `l_threshold`) and the new-connection rates
//! (`new_conn_rate`, `client_rate` and their bursts, `client_prefix_len`).
//! Each problem names its key.

use super::{KeyPath, ServiceConfig};

/// The problems of service `s` (at `at`), each with its key.
pub fn limit_problems(at: &KeyPath, s: &ServiceConfig) -> Vec<(KeyPath, String)> {
    let mut out = Vec::new();
    for (j, b) in s.backends.iter().enumerate() {
        let bt = at.key("backend").index(j);
        if b.u_threshold == 0 && b.l_threshold != 0 {
            out.push((
                bt.key("l_threshold"),
                "l_threshold without u_threshold: set the upper threshold too".to_owned(),
            ));
        } else if b.l_threshold > b.u_threshold {
            out.push((
                bt.key("l_threshold"),
                format!(
                    "l_threshold {} is above u_threshold {}: the lower threshold must be at \
                     most the upper (0: 3/4 of it)",
                    b.l_threshold, b.u_threshold
                ),
            ));
        }
    }
    for (rate, burst, set_rate, set_burst) in [
        (
            "new_conn_rate",
            "new_conn_burst",
            s.new_conn_rate,
            s.new_conn_burst,
        ),
        ("client_rate", "client_burst", s.client_rate, s.client_burst),
    ] {
        if set_rate == Some(0) {
            out.push((
                at.key(rate),
                format!(
                    "{rate} 0: must be at least 1 new connection per second (leave it out \
                     for no limit)"
                ),
            ));
        }
        match (set_rate, set_burst) {
            (None, Some(_)) => out.push((at.key(burst), format!("{burst} without {rate}"))),
            (_, Some(0)) => out.push((
                at.key(burst),
                format!("{burst} 0: must be at least 1 (default: {rate}, one second's worth)"),
            )),
            _ => {}
        }
    }
    if let Some(len) = s.client_prefix_len {
        if s.client_rate.is_none() {
            out.push((
                at.key("client_prefix_len"),
                "client_prefix_len without client_rate".to_owned(),
            ));
        } else if len > 32 {
            out.push((
                at.key("client_prefix_len"),
                format!("{len}: must be 0..=32 (the length of the client prefix that shares a client_rate)"),
            ));
        }
    }
    out
}
