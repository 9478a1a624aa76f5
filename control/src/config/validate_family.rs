//! A service's address families (issue 20): its VIP and backends are of
//! one family, and an IPv6 VIP takes what IPv6 forwarding has built so
//! far: modes `dr`, `tun` and `nat`, without the options whose packet work is
//! IPv4's yet.
//! Each problem names its key and says what is not built.

use std::net::{IpAddr, Ipv6Addr};

use super::validate_addr::special_use6;
use super::{Config, KeyPath, LbMode, ServiceConfig};

/// The family problems of service `s` at `at` in `config`, each at its key.
pub(super) fn family_problems(
    at: &KeyPath,
    s: &ServiceConfig,
    config: &Config,
) -> Vec<(KeyPath, String)> {
    let mut out = Vec::new();
    // IPv6 VIPs and backends: usable unicast addresses, not ours.
    let ours: Vec<Ipv6Addr> = config
        .interfaces
        .iter()
        .flat_map(|i| i.addresses.iter().filter_map(|p| p.v6().map(|p| p.addr)))
        .collect();
    let mut unusable = |key: KeyPath, a: IpAddr, role: &str| {
        let IpAddr::V6(a) = a else { return };
        if let Some(why) = special_use6(a) {
            out.push((key, format!("{a} is {why}: not usable as {role}")));
        } else if ours.contains(&a) {
            out.push((
                key,
                format!("{a} is an interface address of this appliance: not usable as {role}"),
            ));
        }
    };
    unusable(at.key("vip"), s.vip, "a VIP");
    for (j, b) in s.backends.iter().enumerate() {
        unusable(
            at.key("backend").index(j).key("address"),
            b.address,
            "a backend",
        );
    }
    for (j, b) in s.backends.iter().enumerate() {
        if b.address.is_ipv6() != s.vip.is_ipv6() {
            out.push((
                at.key("backend").index(j).key("address"),
                format!(
                    "backend {} is {} and the VIP {} is {}: a service's VIP and backends are \
                     of one family (NAT64 is not built yet)",
                    b.address,
                    family(b.address),
                    s.vip,
                    family(s.vip)
                ),
            ));
        }
    }
    if s.persistence_prefix6 > 128 {
        out.push((
            at.key("persistence_prefix6"),
            format!(
                "{}: must be 0..=128 (the length of the IPv6 client prefix that shares \
                 affinity)",
                s.persistence_prefix6
            ),
        ));
    }
    if !s.vip.is_ipv6() {
        return out;
    }
    let not_yet = |what: &str| {
        format!(
            "{what} is not built for IPv6 yet (issue 20); service {} has an IPv6 VIP",
            s.key_text()
        )
    };
    if !matches!(s.mode, LbMode::Dr | LbMode::Tun | LbMode::Nat) {
        out.push((
            at.key("mode"),
            format!(
                "mode {} is not built for IPv6 yet (issue 20): an IPv6 VIP takes mode dr, tun \
                 or nat",
                s.mode
            ),
        ));
    }
    let options = [
        (
            "also_listen",
            !s.also_listen.is_empty(),
            "also_listen (IPv4 addresses)",
        ),
        ("ops", s.ops, "one-packet scheduling"),
        ("mss_clamp", s.mss_clamp.is_some(), "MSS clamping"),
        (
            "client_rate",
            s.client_rate.is_some(),
            "a per-client rate limit",
        ),
    ];
    for (key, set, what) in options {
        if set {
            out.push((at.key(key), not_yet(what)));
        }
    }
    out
}

fn family(a: IpAddr) -> &'static str {
    match a {
        IpAddr::V4(_) => "IPv4",
        IpAddr::V6(_) => "IPv6",
    }
}
