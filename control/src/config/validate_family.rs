//! A service's address families (issue 20): its VIP and backends are of
//! one family, but for NAT64 (mode `fullnat`, an IPv6 VIP, IPv4 backends
//! and IPv4 local addresses), and an IPv6 VIP takes what IPv6 forwarding
//! has built so far: modes `dr`, `tun`, `nat` and `fullnat` (IPv6 backends
//! and IPv6 local addresses, or NAT64), without the options whose packet
//! work is IPv4's yet (the SYN proxy on NAT64). A FULLNAT service's local
//! addresses are of its backends' family; its `also_listen` addresses of
//! its VIP's, checked as its VIP.
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
    for (j, a) in s.also_listen.iter().enumerate() {
        unusable(at.key("also_listen").index(j), a.ip(), "a VIP");
    }
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
    // NAT64 (FULLNAT with an IPv6 VIP and IPv4 backends, `nat64.rs` in the
    // dataplane) is the one mix of families a service may have. A fullnat
    // service with an IPv6 VIP and any IPv4 backend is taken as NAT64:
    // its IPv6 backends are the ones refused.
    let nat64 = is_nat64(s);
    for (j, b) in s.backends.iter().enumerate() {
        let problem = match (nat64, b.address.is_ipv6() == s.vip.is_ipv6()) {
            (true, true) => format!(
                "backend {} is IPv6 and the service is NAT64 (fullnat, IPv6 VIP {}, IPv4 \
                 backends): a FULLNAT service's backends are all IPv4 (NAT64) or all IPv6",
                b.address, s.vip
            ),
            (true, false) | (false, true) => continue,
            (false, false) => format!(
                "backend {} is {} and the VIP {} is {}: a service's VIP and backends are \
                 of one family{}",
                b.address,
                family(b.address),
                s.vip,
                family(s.vip),
                match s.vip.is_ipv6() {
                    true => " (NAT64, an IPv6 VIP with IPv4 backends, is for mode fullnat)",
                    false => "",
                }
            ),
        };
        out.push((at.key("backend").index(j).key("address"), problem));
    }
    // A group's addresses are VIPs of the service's: of its VIP's family.
    for (j, a) in s.also_listen.iter().enumerate() {
        if a.is_ipv6() != s.vip.is_ipv6() {
            out.push((
                at.key("also_listen").index(j),
                format!(
                    "{a} is {} and the VIP {} is {}: a service's also_listen addresses are of \
                     its VIP's family",
                    family(a.ip()),
                    s.vip,
                    family(s.vip)
                ),
            ));
        }
    }
    // The backends' family: IPv4 for NAT64, else the VIP's.
    let backends_v6 = !nat64 && s.vip.is_ipv6();
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
    let nat64_options = [("syn_proxy", s.syn_proxy, "the SYN proxy")];
    for (key, set, what) in nat64_options {
        if set && nat64 {
            out.push((
                at.key(key),
                format!(
                    "{what} is not built for NAT64 yet (issue 20); service {} has an IPv6 VIP \
                     and IPv4 backends",
                    s.key_text()
                ),
            ));
        }
    }
    if s.syn_proxy && !nat64 {
        out.extend(syn_proxy6_problems(at, s));
    }
    out
}

/// What the SYN proxy of an IPv6 NAT or FULLNAT service does not build
/// yet, at `syn_proxy`: the client's address options (their handshake
/// work is not spliced on IPv6).
fn syn_proxy6_problems(at: &KeyPath, s: &ServiceConfig) -> Vec<(KeyPath, String)> {
    let mut out = Vec::new();
    let with = [
        ("toa", s.toa),
        ("proxy_protocol", s.proxy_protocol.is_some()),
    ];
    for (key, set) in with {
        if set {
            out.push((
                at.key("syn_proxy"),
                format!(
                    "the SYN proxy with {key} is not built for IPv6 yet (issue 20); service {} \
                     has an IPv6 VIP",
                    s.key_text()
                ),
            ));
        }
    }
    out
}

/// Whether `s` is taken as a NAT64 service: FULLNAT, an IPv6 VIP, and an
/// IPv4 backend (any IPv6 backend beside it is refused). Its local
/// addresses must be IPv4 (refused at `local_addresses` otherwise).
pub(crate) fn is_nat64(s: &ServiceConfig) -> bool {
    s.mode == LbMode::Fullnat && s.vip.is_ipv6() && s.backends.iter().any(|b| b.address.is_ipv4())
}

fn family(a: IpAddr) -> &'static str {
    match a {
        IpAddr::V4(_) => "IPv4",
        IpAddr::V6(_) => "IPv6",
    }
}
