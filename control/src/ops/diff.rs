//! The item-level difference between two configs, one line per item, for
//! `apply --dry-run` and every change's reply: `+` added, `-` removed, `~`
//! changed. Sections come in file order (routes, neighbours, services,
//! SNAT, timeouts, daemon), items sorted by their key, so the same two
//! configs always give the same lines. Sections that need a restart are
//! [`super::needs_restart`]'s business, not listed here.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::net::IpAddr;

use super::network;
use crate::api::ServiceKey;
use crate::config::{
    BackendConfig, CheckKind, CheckList, Config, HealthCheckConfig, IpPrefix, ServiceConfig,
    SnatConfig, TimeoutsConfig,
};

/// The item-level diff, one line per item. Empty when equal.
pub fn diff(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    routes(&mut out, old, new);
    neighbours(&mut out, old, new);
    for (key, a, b) in pair_up(&old.services, &new.services, ServiceConfig::key) {
        match (a, b) {
            (None, Some(s)) => whole_service(&mut out, '+', s),
            (Some(s), None) => whole_service(&mut out, '-', s),
            (Some(a), Some(b)) => changed_service(&mut out, &key, a, b),
            (None, None) => {}
        }
    }
    snat(&mut out, &old.snat, &new.snat);
    timeouts(
        &mut out,
        "~ timeout",
        Some(&old.timeouts),
        Some(&new.timeouts),
    );
    if old.vrrp != new.vrrp {
        let list = |c: &Config| {
            c.vrrp.as_ref().map_or("none".to_owned(), |v| {
                let a: Vec<String> = v.addresses.iter().map(|a| a.to_string()).collect();
                format!("[{}]", a.join(" "))
            })
        };
        out.push(format!("~ vrrp addresses {} -> {}", list(old), list(new)));
    }
    if old.daemon.metrics != new.daemon.metrics {
        out.push(format!(
            "~ daemon metrics {} -> {}",
            or_none(old.daemon.metrics.as_ref()),
            or_none(new.daemon.metrics.as_ref())
        ));
    }
    out
}

/// Items of both lists matched by key, in key order: (key, old, new).
fn pair_up<'a, K: Ord, T>(
    old: &'a [T],
    new: &'a [T],
    key: impl Fn(&T) -> K,
) -> Vec<(K, Option<&'a T>, Option<&'a T>)> {
    let mut map: BTreeMap<K, (Option<&T>, Option<&T>)> = BTreeMap::new();
    for t in old {
        map.entry(key(t)).or_default().0 = Some(t);
    }
    for t in new {
        map.entry(key(t)).or_default().1 = Some(t);
    }
    map.into_iter().map(|(k, (a, b))| (k, a, b)).collect()
}

fn prefix_key(p: impl Into<IpPrefix>) -> (IpAddr, u8) {
    let p = p.into();
    (p.network(), p.prefix_len())
}

fn or_none<T: Display>(v: Option<&T>) -> String {
    v.map_or_else(|| "none".into(), |v| v.to_string())
}

fn or_default(v: Option<u32>) -> String {
    v.map_or_else(|| "default".into(), |v| v.to_string())
}

fn list<T: Display>(items: &[T]) -> String {
    let items: Vec<String> = items.iter().map(T::to_string).collect();
    items.join(", ")
}

fn routes(out: &mut Vec<String>, old: &Config, new: &Config) {
    for (_, a, b) in pair_up(&old.routes, &new.routes, |r| prefix_key(r.prefix)) {
        match (a, b) {
            (None, Some(r)) => out.push(format!("+ route {} via {}", network(r.prefix), r.via)),
            (Some(r), None) => out.push(format!("- route {} via {}", network(r.prefix), r.via)),
            (Some(a), Some(b)) if a.via != b.via => out.push(format!(
                "~ route {} via {} -> {}",
                network(b.prefix),
                a.via,
                b.via
            )),
            _ => {}
        }
    }
}

fn neighbours(out: &mut Vec<String>, old: &Config, new: &Config) {
    for (address, a, b) in pair_up(&old.neighbours, &new.neighbours, |n| n.address) {
        match (a, b) {
            (None, Some(n)) => out.push(format!("+ neighbour {address} {}", n.mac)),
            (Some(n), None) => out.push(format!("- neighbour {address} {}", n.mac)),
            (Some(a), Some(b)) if a.mac != b.mac => {
                out.push(format!("~ neighbour {address} mac {} -> {}", a.mac, b.mac))
            }
            _ => {}
        }
    }
}

/// An added or removed service: the service, then its local addresses and
/// backends, all with the same sign.
fn whole_service(out: &mut Vec<String>, sign: char, s: &ServiceConfig) {
    let key = s.key();
    out.push(format!(
        "{sign} service {key} ({}, {})",
        s.mode, s.scheduler
    ));
    for a in &s.local_addresses {
        out.push(format!("{sign} laddr {key} {a}"));
    }
    for b in &s.backends {
        let weight = match sign {
            '+' => format!(" weight {}", b.weight),
            _ => String::new(),
        };
        out.push(format!(
            "{sign} backend {key} -> {}{weight}",
            std::net::SocketAddr::new(b.address, b.port_or(s.port))
        ));
    }
}

fn changed_service(out: &mut Vec<String>, key: &ServiceKey, a: &ServiceConfig, b: &ServiceConfig) {
    let mut field = |name: &str, old: String, new: String| {
        if old != new {
            out.push(format!("~ service {key} {name} {old} -> {new}"));
        }
    };
    field("name", or_none(a.name.as_ref()), or_none(b.name.as_ref()));
    field("mode", a.mode.to_string(), b.mode.to_string());
    field(
        "scheduler",
        a.scheduler.to_string(),
        b.scheduler.to_string(),
    );
    field("mh_ports", a.mh_ports.to_string(), b.mh_ports.to_string());
    field(
        "port_last",
        or_none(a.port_last.as_ref()),
        or_none(b.port_last.as_ref()),
    );
    let addrs = |v: &[std::net::SocketAddr]| match v.is_empty() {
        true => "none".to_owned(),
        false => list(v),
    };
    field("also_listen", addrs(&a.also_listen), addrs(&b.also_listen));
    field("ops", a.ops.to_string(), b.ops.to_string());
    field(
        "mss_clamp",
        or_none(a.mss_clamp.as_ref()),
        or_none(b.mss_clamp.as_ref()),
    );
    for (name, x, y) in [
        ("new_conn_rate", a.new_conn_rate, b.new_conn_rate),
        ("new_conn_burst", a.new_conn_burst, b.new_conn_burst),
        ("client_rate", a.client_rate, b.client_rate),
        ("client_burst", a.client_burst, b.client_burst),
        (
            "client_prefix_len",
            a.client_prefix_len.map(u32::from),
            b.client_prefix_len.map(u32::from),
        ),
    ] {
        field(name, or_none(x.as_ref()), or_none(y.as_ref()));
    }
    field("toa", a.toa.to_string(), b.toa.to_string());
    field(
        "proxy_protocol",
        or_none(a.proxy_protocol.as_ref()),
        or_none(b.proxy_protocol.as_ref()),
    );
    field(
        "syn_proxy",
        a.syn_proxy.to_string(),
        b.syn_proxy.to_string(),
    );
    field("pickup", a.picks_up().to_string(), b.picks_up().to_string());
    field(
        "persistence",
        a.persistence.to_string(),
        b.persistence.to_string(),
    );
    field(
        "persistence_prefix",
        a.persistence_prefix.to_string(),
        b.persistence_prefix.to_string(),
    );
    field(
        "local_ports",
        a.local_ports.to_string(),
        b.local_ports.to_string(),
    );
    field("check", check_text(&a.check), check_text(&b.check));
    timeouts(
        out,
        &format!("~ service {key} timeout"),
        a.timeouts.as_ref(),
        b.timeouts.as_ref(),
    );

    for (name, was, is) in [("allow", &a.allow, &b.allow), ("deny", &a.deny, &b.deny)] {
        for (prefix, x, y) in pair_up(was, is, |p| *p) {
            match (x, y) {
                (None, Some(_)) => out.push(format!("+ {name} {key} {prefix}")),
                (Some(_), None) => out.push(format!("- {name} {key} {prefix}")),
                _ => {}
            }
        }
    }

    // Local addresses are used in turn, so their order matters too.
    let (la, lb) = (&a.local_addresses, &b.local_addresses);
    for (address, was, is) in pair_up(la, lb, |a| *a) {
        match (was, is) {
            (None, Some(_)) => out.push(format!("+ laddr {key} {address}")),
            (Some(_), None) => out.push(format!("- laddr {key} {address}")),
            _ => {}
        }
    }
    let kept_a: Vec<_> = la.iter().filter(|x| lb.contains(x)).collect();
    let kept_b: Vec<_> = lb.iter().filter(|x| la.contains(x)).collect();
    if kept_a != kept_b {
        out.push(format!(
            "~ service {key} local address order {} -> {}",
            list(&kept_a),
            list(&kept_b)
        ));
    }

    let backend_key = |x: &BackendConfig| (x.address, x.port_or(key.port));
    for ((address, port), was, is) in pair_up(&a.backends, &b.backends, backend_key) {
        let at = format!(
            "backend {key} -> {}",
            std::net::SocketAddr::new(address, port)
        );
        match (was, is) {
            (None, Some(x)) => out.push(format!("+ {at} weight {}", x.weight)),
            (Some(_), None) => out.push(format!("- {at}")),
            (Some(x), Some(y)) => {
                for (name, was, is) in [
                    ("weight", x.weight, y.weight),
                    ("u_threshold", x.u_threshold, y.u_threshold),
                    ("l_threshold", x.l_threshold, y.l_threshold),
                ] {
                    if was != is {
                        out.push(format!("~ {at} {name} {was} -> {is}"));
                    }
                }
            }
            _ => {}
        }
    }
}

/// One line per timeout that differs; `prefix` says whose.
fn timeouts(
    out: &mut Vec<String>,
    prefix: &str,
    a: Option<&TimeoutsConfig>,
    b: Option<&TimeoutsConfig>,
) {
    let none = TimeoutsConfig::default();
    let (a, b) = (a.unwrap_or(&none).entries(), b.unwrap_or(&none).entries());
    for ((name, was), (_, is)) in a.into_iter().zip(b) {
        if was != is {
            out.push(format!(
                "{prefix} {name} {} -> {}",
                or_default(was),
                or_default(is)
            ));
        }
    }
}

fn check_text(list: &CheckList) -> String {
    if list.is_empty() {
        return "none".into();
    }
    let texts: Vec<String> = list.checks.iter().map(one_check_text).collect();
    texts.join(" + ")
}

/// A check in one line: its type, what it looks at, and its timing. Any
/// other change shows as "changed" (the whole table is in the file).
fn one_check_text(c: &HealthCheckConfig) -> String {
    let mut text = match c.kind {
        CheckKind::Http | CheckKind::Https => {
            let urls: Vec<String> = c
                .urls()
                .iter()
                .map(|u| format!("{} expect {}", u.path, u.status))
                .collect();
            format!("{} GET {}", c.kind, urls.join(", "))
        }
        CheckKind::Dns => format!("dns {} {}", c.query_type, c.query_name),
        CheckKind::Script => format!("script {}", c.command.join(" ")),
        other => other.to_string(),
    };
    if let Some(ip) = c.connect_ip {
        text += &format!(" ip {ip}");
    }
    if let Some(port) = c.connect_port {
        text += &format!(" port {port}");
    }
    text + &format!(
        " every {} ms timeout {} ms rise {} fall {}",
        c.interval_ms, c.timeout_ms, c.rise, c.fall
    )
}

fn snat(out: &mut Vec<String>, old: &[SnatConfig], new: &[SnatConfig]) {
    for (_, a, b) in pair_up(old, new, |r| prefix_key(r.source)) {
        match (a, b) {
            (None, Some(r)) => out.push(format!(
                "+ snat {} -> {} on {} ports {}",
                network(r.source),
                list(&r.addresses),
                r.port,
                r.ports
            )),
            (Some(r), None) => out.push(format!("- snat {}", network(r.source))),
            (Some(a), Some(b)) => {
                let at = format!("~ snat {}", network(b.source));
                if a.addresses != b.addresses {
                    out.push(format!(
                        "{at} addresses {} -> {}",
                        list(&a.addresses),
                        list(&b.addresses)
                    ));
                }
                if a.port != b.port {
                    out.push(format!("{at} port {} -> {}", a.port, b.port));
                }
                if a.ports != b.ports {
                    out.push(format!("{at} ports {} -> {}", a.ports, b.ports));
                }
            }
            (None, None) => {}
        }
    }
    // Rules are tried in order: a reordering of kept rules is a change.
    let in_both = |rules: &[SnatConfig], other: &[SnatConfig]| -> Vec<String> {
        rules
            .iter()
            .filter(|r| {
                other
                    .iter()
                    .any(|o| prefix_key(o.source) == prefix_key(r.source))
            })
            .map(|r| network(r.source))
            .collect()
    };
    let (kept_old, kept_new) = (in_both(old, new), in_both(new, old));
    if kept_old != kept_new {
        out.push(format!(
            "~ snat order {} -> {}",
            kept_old.join(", "),
            kept_new.join(", ")
        ));
    }
}
