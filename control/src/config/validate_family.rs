//! A service's address families (issue 20): its VIP and backends are of
//! one family, and an IPv6 VIP takes what IPv6 forwarding has built so
//! far: modes `dr`, `tun`, `nat` and `fullnat` (with IPv6 local addresses),
//! without the options whose packet work is IPv4's yet. A FULLNAT service's
//! local addresses are of its backends' family.
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
    for (j, &a) in s.local_addresses.iter().enumerate() {
        unusable(at.key("local_addresses").index(j), a, "a local address");
    }
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
    // The backends' family, which the VIP's is until NAT64 is built.
    let backends_v6 = s
        .backends
        .first()
        .map_or(s.vip.is_ipv6(), |b| b.address.is_ipv6());
    for (j, &a) in s.local_addresses.iter().enumerate() {
        if a.is_ipv6() != backends_v6 {
            out.push((
                at.key("local_addresses").index(j),
                format!(
                    "local address {a} is {} and the backends are {}: FULLNAT's local \
                     addresses are the source the backends see, of their family",
                    family(a),
                    if backends_v6 { "IPv6" } else { "IPv4" }
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
    if !matches!(
        s.mode,
        LbMode::Dr | LbMode::Tun | LbMode::Nat | LbMode::Fullnat
    ) {
        out.push((
            at.key("mode"),
            format!(
                "mode {} is not built for IPv6 yet (issue 20): an IPv6 VIP takes mode dr, tun, \
                 nat or fullnat",
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
        ("toa", s.toa, "the client's address in a TOA option"),
        (
            "proxy_protocol",
            s.proxy_protocol.is_some(),
            "the PROXY protocol header",
        ),
        ("syn_proxy", s.syn_proxy, "the SYN proxy"),
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
