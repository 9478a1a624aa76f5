//! Checks on a service's connection limits: the backends' thresholds
//! (`u_threshold`, `l_threshold`) and the new-connection rates
//! (`new_conn_rate`, `client_rate` and their bursts, `client_prefix_len`);
//! and on how it passes the client's address (`toa`, `proxy_protocol`).
//! Each problem names its key.

use super::{KeyPath, LbMode, Protocol, ProxyProtocol, ServiceConfig};

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
    client_addr_problems(at, s, &mut out);
    if let Some(len) = s.client_prefix_len {
        if s.client_rate.is_none() {
            out.push((
                at.key("client_prefix_len"),
                "client_prefix_len without client_rate".to_owned(),
            ));
        } else {
            let (max, family) = if s.vip.is_ipv6() {
                (128, "an IPv6")
            } else {
                (32, "an IPv4")
            };
            if len > max {
                out.push((
                    at.key("client_prefix_len"),
                    format!(
                        "{len}: must be 0..={max} (the length of the client prefix that shares \
                         a client_rate; the clients of {family} VIP)"
                    ),
                ));
            }
        }
    }
    out
}

/// `toa` and `proxy_protocol`: TOA for TCP FULLNAT (other modes keep the
/// client's address); the PROXY protocol for TCP NAT and FULLNAT (the
/// backend expects the header whatever it sees; DR and TUN backends
/// answer the client directly, so their sequence numbers cannot be
/// shifted), version 2 only for UDP, and FULLNAT only there; not both
/// on one service (two ways of saying the same thing, both growing the
/// client's first segments).
fn client_addr_problems(at: &KeyPath, s: &ServiceConfig, out: &mut Vec<(KeyPath, String)>) {
    let fullnat = s.mode == LbMode::Fullnat;
    if s.toa {
        if !fullnat {
            out.push((
                at.key("toa"),
                format!(
                    "toa is for fullnat: a {} backend sees the client's address",
                    s.mode
                ),
            ));
        } else if s.protocol != Protocol::Tcp {
            out.push((
                at.key("toa"),
                "toa is a TCP option: tcp services only".to_owned(),
            ));
        }
    }
    let Some(version) = s.proxy_protocol else {
        return;
    };
    let key = at.key("proxy_protocol");
    let tcp = s.protocol == Protocol::Tcp;
    if tcp && !matches!(s.mode, LbMode::Nat | LbMode::Fullnat) {
        out.push((
            key,
            format!(
                "proxy_protocol on tcp is for nat and fullnat: a {} backend answers the \
                 client directly, so the client's sequence numbers could not be shifted \
                 by the header",
                s.mode
            ),
        ));
    } else if tcp && s.toa {
        out.push((
            key,
            "proxy_protocol and toa together: pick one way to pass the client's address \
             (remove toa, or proxy_protocol)"
                .to_owned(),
        ));
    } else if !tcp && !fullnat {
        out.push((
            key,
            format!(
                "proxy_protocol is for fullnat: a {} backend sees the client's address",
                s.mode
            ),
        ));
    } else if !tcp && version == ProxyProtocol::V1 {
        out.push((
            key,
            "v1: the text header has no udp; udp services take \"v2\"".to_owned(),
        ));
    }
}
