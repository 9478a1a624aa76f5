//! keepalived's LVS configuration → ferrolb services. keepalived.conf(5)
//! is the reference: a virtual server's settings are the defaults of its
//! real servers, whose settings are the defaults of their checkers.
//!
//! keepalived's checker timing becomes ferrolb's this way: a real server
//! is down after a check and its `retry` retries (`delay_before_retry`
//! apart) fail, and up after one success, so each check gets `rise = 1`,
//! `fall = 1` and keepalived's `retry`/`delay_before_retry`; `delay_loop`
//! is the interval, `connect_timeout` the timeout, `warmup` (default: the
//! delay loop) the warmup. Without `inhibit_on_failure` keepalived removes
//! a failed real server: `on_failure = "remove"`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::parse::{parse, Node};
use crate::config::{
    BackendConfig, CheckKind, CheckList, HealthCheckConfig, HttpVersion, LbMode, OnFailure,
    Protocol, SchedulerName, ServiceConfig, SorryServerConfig, StatusSet, UrlCheck,
};
use crate::import::{mask_len, Imported};

/// Settings a virtual server passes to its real servers and they to their
/// checkers.
#[derive(Clone, Debug)]
struct Defaults {
    delay_loop_ms: u32,
    connect_timeout_ms: u32,
    retry: Option<u32>,
    delay_before_retry_ms: Option<u32>,
    warmup_ms: Option<u32>,
    alpha: bool,
    virtualhost: Option<String>,
    inhibit: bool,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            delay_loop_ms: 60_000,
            connect_timeout_ms: 5_000,
            retry: None,
            delay_before_retry_ms: None,
            warmup_ms: None,
            alpha: false,
            virtualhost: None,
            inhibit: false,
        }
    }
}

/// Top-level blocks that are keepalived's own business (VRRP, BFD, ...).
const NOT_LVS: &[&str] = &[
    "global_defs",
    "vrrp_instance",
    "vrrp_sync_group",
    "vrrp_script",
    "vrrp_track_process",
    "vrrp_track_file",
    "track_file",
    "track_process",
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "static_track_group",
    "linkbeat_interfaces",
    "bfd_instance",
    "garp_group",
    "net_namespace",
];

/// Imports every virtual server of a keepalived.conf.
pub fn import(text: &str) -> Result<Imported, String> {
    let nodes = parse(text)?;
    let mut out = Imported::default();
    let groups = groups(&nodes, &mut out);
    for node in &nodes {
        match node.key.as_str() {
            "virtual_server" => virtual_server(node, &groups, &mut out),
            "virtual_server_group" => {}
            "SSL" => out.unmapped(
                node.line,
                "SSL",
                "SSL_GET client keys and CA are not used: ferrolb's https check does not present \
                 a client certificate; set ca_file with tls_verify to verify servers",
            ),
            k if NOT_LVS.contains(&k) || k.starts_with("vrrp_") => out.unmapped(
                node.line,
                k,
                "not a load-balancer setting: keep it in keepalived (VRRP and the rest run beside ferrolb)",
            ),
            "include" => out.unmapped(
                node.line,
                "include",
                "included files are not read: import each one as well",
            ),
            k => out.unmapped(node.line, k, "unknown top-level keyword"),
        }
    }
    Ok(out)
}

/// An address (and maybe port) a virtual server answers on.
type Vip = (Ipv4Addr, Option<u16>);

/// `virtual_server_group NAME { ... }` as lists of addresses and ports.
fn groups(nodes: &[Node], out: &mut Imported) -> HashMap<String, Vec<Vip>> {
    let mut groups = HashMap::new();
    for g in nodes.iter().filter(|n| n.key == "virtual_server_group") {
        let Some(name) = g.arg(0) else {
            out.unmapped(g.line, "virtual_server_group", "no name");
            continue;
        };
        let mut vips = Vec::new();
        for entry in &g.children {
            if entry.key == "fwmark" {
                out.unmapped(
                    entry.line,
                    "fwmark",
                    "firewall-mark groups are not supported: list VIP PORT entries",
                );
                continue;
            }
            let port = entry.arg(0).and_then(|p| p.parse::<u16>().ok());
            match expand(&entry.key) {
                Ok(addrs) => vips.extend(addrs.into_iter().map(|a| (a, port))),
                Err(why) => out.unmapped(entry.line, &entry.key, why),
            }
        }
        groups.insert(name.to_owned(), vips);
    }
    groups
}

/// An address, `a.b.c.d-e`, `a.b.c.d-e.f.g.h` or `a.b.c.d/nn` as its
/// addresses (at most 256).
fn expand(text: &str) -> Result<Vec<Ipv4Addr>, String> {
    let bad = || "not an IPv4 address or range (IPv6 is not supported)".to_string();
    let range = |lo: Ipv4Addr, hi: Ipv4Addr| -> Result<Vec<Ipv4Addr>, String> {
        let (lo, hi) = (u32::from(lo), u32::from(hi));
        if hi < lo || hi - lo >= 256 {
            return Err("ranges of more than 256 addresses are not expanded".into());
        }
        Ok((lo..=hi).map(Ipv4Addr::from).collect())
    };
    if let Some((addr, len)) = text.split_once('/') {
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let len: u32 = len.parse().ok().filter(|l| *l <= 32).ok_or_else(bad)?;
        let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
        let net = u32::from(addr) & mask;
        return range(Ipv4Addr::from(net), Ipv4Addr::from(net | !mask));
    }
    if let Some((lo, hi)) = text.split_once('-') {
        let lo: Ipv4Addr = lo.parse().map_err(|_| bad())?;
        let hi: Ipv4Addr = match hi.parse::<u8>() {
            Ok(last) => {
                let o = lo.octets();
                Ipv4Addr::new(o[0], o[1], o[2], last)
            }
            Err(_) => hi.parse().map_err(|_| bad())?,
        };
        return range(lo, hi);
    }
    Ok(vec![text.parse().map_err(|_| bad())?])
}

/// Seconds (keepalived TIMER, may be fractional) as milliseconds.
fn timer_ms(node: &Node, out: &mut Imported) -> Option<u32> {
    match node.arg(0).and_then(|v| v.parse::<f64>().ok()) {
        Some(s) if s >= 0.0 && s * 1000.0 <= f64::from(u32::MAX) => {
            Some((s * 1000.0).round() as u32)
        }
        _ => {
            out.unmapped(node.line, &node.key, "not a number of seconds");
            None
        }
    }
}

fn number(node: &Node, out: &mut Imported) -> Option<u32> {
    let n = node.arg(0).and_then(|v| v.parse::<u32>().ok());
    if n.is_none() {
        out.unmapped(node.line, &node.key, "not a number");
    }
    n
}

/// keepalived's optional `<BOOL>` after a flag: absent means yes.
fn flag(node: &Node) -> bool {
    !matches!(
        node.arg(0).map(str::to_ascii_lowercase).as_deref(),
        Some("false" | "no" | "off" | "0")
    )
}

/// A script argument: a quoted string is a program and its arguments; an
/// unquoted word is the program alone. What follows is the user to run it
/// as, which ferrolb does not take (commands run as the daemon's user).
fn command(node: &Node, out: &mut Imported) -> Vec<String> {
    let Some(first) = node.args.first() else {
        out.unmapped(node.line, &node.key, "no command");
        return Vec::new();
    };
    let argv = if first.quoted {
        first.text.split_whitespace().map(str::to_owned).collect()
    } else {
        vec![first.text.clone()]
    };
    if node.args.len() > 1 {
        out.unmapped(
            node.line,
            &format!("{} ... {}", node.key, node.words()[1..].join(" ")),
            "the user/group to run it as is not mapped: it runs as the daemon's user",
        );
    }
    argv
}

fn mode_of(node: &Node, out: &mut Imported) -> Option<LbMode> {
    let mode = match node.arg(0).map(str::to_ascii_uppercase).as_deref() {
        Some("NAT") => LbMode::Nat,
        Some("DR") => LbMode::Dr,
        Some("TUN") => LbMode::Tun,
        _ => {
            out.unmapped(node.line, &node.key, "unknown forwarding method");
            return None;
        }
    };
    if mode == LbMode::Tun && node.args.len() > 1 && node.arg(2) != Some("ipip") {
        out.unmapped(
            node.line,
            &node.words().join(" "),
            "only IP-in-IP tunnels: the tunnel type and checksum options are not mapped",
        );
    }
    Some(mode)
}

/// What a `virtual_server` block says, before its real servers are read.
struct VsTemplate {
    service: ServiceConfig,
    defaults: Defaults,
}

fn virtual_server(node: &Node, groups: &HashMap<String, Vec<Vip>>, out: &mut Imported) {
    let vips: Vec<Vip> = match node.words().as_slice() {
        ["fwmark", ..] => {
            out.unmapped(
                node.line,
                "virtual_server fwmark",
                "firewall-mark services are not supported; the whole virtual server is skipped",
            );
            return;
        }
        ["group", name] => match groups.get(*name) {
            Some(vips) => vips.clone(),
            None => {
                out.unmapped(
                    node.line,
                    "virtual_server group",
                    format!("no group {name}"),
                );
                return;
            }
        },
        [addr, port] => match (addr.parse(), port.parse::<u16>()) {
            (Ok(a), Ok(p)) => vec![(a, Some(p))],
            _ => {
                out.unmapped(
                    node.line,
                    "virtual_server",
                    "not an IPv4 address and port (IPv6 is not supported); skipped",
                );
                return;
            }
        },
        [addr] => match addr.parse() {
            // No port: every port of the VIP.
            Ok(a) => vec![(a, Some(0))],
            Err(_) => {
                out.unmapped(
                    node.line,
                    "virtual_server",
                    "not an IPv4 address (IPv6 is not supported); skipped",
                );
                return;
            }
        },
        _ => {
            out.unmapped(node.line, "virtual_server", "not ADDRESS PORT; skipped");
            return;
        }
    };
    let Some(template) = vs_settings(node, out) else {
        return;
    };
    let mut backends = Vec::new();
    for rs in node.children.iter().filter(|c| c.key == "real_server") {
        if let Some(b) = real_server(rs, &template, out) {
            backends.push(b);
        }
    }
    let common = hoist_common_checks(&mut backends);
    // A group is one service on all its addresses and ports, sharing the
    // backends and persistence (ferrolb's `also_listen`); port 0 or no
    // port: every port of that VIP (IPVS port 0).
    let listens: Vec<SocketAddrV4> = vips
        .iter()
        .map(|&(addr, port)| SocketAddrV4::new(addr, port.unwrap_or(0)))
        .collect();
    let Some((first, also)) = listens.split_first() else {
        return;
    };
    let mut service = template.service.clone();
    service.vip = (*first.ip()).into();
    service.port = first.port();
    service.also_listen = also.iter().map(|&a| a.into()).collect();
    service.check = common;
    let port = service.port;
    let group = !also.is_empty();
    service.backends = backends
        .into_iter()
        .map(|(mut b, checks)| {
            // DR/TUN backends keep the client's port; a single service's
            // backend on its own port needs no port of its own (a group's
            // does: without one it would take the client's).
            if matches!(service.mode, LbMode::Dr | LbMode::Tun) || (!group && b.port == Some(port))
            {
                b.port = None;
            }
            b.check = checks;
            b
        })
        .collect();
    out.services.push(service);
}

/// When every real server has the same checks (the usual case), they move
/// to the service, so the TOML says them once; returns them (or none).
fn hoist_common_checks(backends: &mut [(BackendConfig, CheckList)]) -> CheckList {
    let Some((_, first)) = backends.first() else {
        return CheckList::default();
    };
    if first.is_empty() || backends.iter().any(|(_, c)| c != first) {
        return CheckList::default();
    }
    let common = first.clone();
    for (_, c) in backends.iter_mut() {
        *c = CheckList::default();
    }
    common
}

/// The virtual server's own settings.
fn vs_settings(node: &Node, out: &mut Imported) -> Option<VsTemplate> {
    let mut service = ServiceConfig::new(Ipv4Addr::UNSPECIFIED, Protocol::Tcp, 0, LbMode::Nat);
    service.mh_ports = false;
    service.on_failure = OnFailure::Remove;
    let mut d = Defaults::default();
    let mut sorry_method = None;
    let mut ops_line = None;
    for c in node.children.iter().filter(|c| c.key != "real_server") {
        let key = c.key.as_str();
        match key {
            "lvs_sched" | "lb_algo" => match c.arg(0).and_then(SchedulerName::from_name) {
                Some(s) => service.scheduler = s,
                None => out.unmapped(
                    c.line,
                    &c.words().join(" "),
                    "scheduler not available; wlc is used",
                ),
            },
            "lvs_method" | "lb_kind" => {
                if let Some(m) = mode_of(c, out) {
                    service.mode = m;
                }
            }
            "ops" => ops_line = Some(c.line),
            "protocol" => match c.arg(0).map(str::to_ascii_uppercase).as_deref() {
                Some("TCP") => service.protocol = Protocol::Tcp,
                Some("UDP") => service.protocol = Protocol::Udp,
                _ => {
                    out.unmapped(
                        c.line,
                        "protocol",
                        "only TCP and UDP; the virtual server is skipped",
                    );
                    return None;
                }
            },
            "persistence_timeout" => {
                service.persistence = match c.arg(0) {
                    None => 360,
                    Some(_) => number(c, out).unwrap_or(360),
                }
            }
            "persistence_granularity" => {
                match c.arg(0).and_then(|m| m.parse().ok()).and_then(mask_len) {
                    Some(len) => service.persistence_prefix = len,
                    None => out.unmapped(c.line, key, "not an IPv4 netmask"),
                }
            }
            "mh-port" => service.mh_ports = true,
            "inhibit_on_failure" => {
                d.inhibit = flag(c);
                service.on_failure = if d.inhibit {
                    OnFailure::Inhibit
                } else {
                    OnFailure::Remove
                };
            }
            "quorum" => service.quorum = number(c, out).unwrap_or(1),
            "hysteresis" => service.hysteresis = number(c, out).unwrap_or(0),
            "quorum_up" => service.quorum_up = command(c, out),
            "quorum_down" => service.quorum_down = command(c, out),
            "sorry_server" => match (c.arg(0).and_then(|a| a.parse().ok()), c.arg(1)) {
                (Some(address), port) => {
                    let inhibit = service.sorry_server.as_ref().is_some_and(|s| s.inhibit);
                    service.sorry_server = Some(SorryServerConfig {
                        address,
                        port: port.and_then(|p| p.parse().ok()),
                        weight: 1,
                        inhibit,
                    });
                }
                _ => out.unmapped(c.line, key, "not an IPv4 address"),
            },
            "sorry_server_inhibit" => {
                if let Some(s) = service.sorry_server.as_mut() {
                    s.inhibit = flag(c);
                } else {
                    out.unmapped(c.line, key, "comes before sorry_server: put it after");
                }
            }
            "sorry_server_lvs_method" => sorry_method = mode_of(c, out).map(|m| (m, c.line)),
            _ => common_default(c, &mut d, out, "virtual_server"),
        }
    }
    if let Some((m, line)) = sorry_method {
        if m != service.mode {
            out.unmapped(
                line,
                "sorry_server_lvs_method",
                "a service has one forwarding method; the sorry server uses the service's",
            );
        }
    }
    if let Some(line) = ops_line {
        // One-packet scheduling keeps no session, so only UDP services
        // whose replies bypass us can have it.
        if service.protocol == Protocol::Udp && matches!(service.mode, LbMode::Dr | LbMode::Tun) {
            service.ops = true;
        } else {
            out.unmapped(
                line,
                "ops",
                "one-packet scheduling is for UDP with DR or TUN (NAT replies need a session)",
            );
        }
    }
    if service.hysteresis > service.quorum {
        out.unmapped(
            node.line,
            "hysteresis",
            "above quorum: lowered to the quorum",
        );
        service.hysteresis = service.quorum;
    }
    Some(VsTemplate {
        service,
        defaults: d,
    })
}

/// Settings shared by virtual servers, real servers and checkers; anything
/// else is listed as unmapped.
fn common_default(c: &Node, d: &mut Defaults, out: &mut Imported, whose: &str) {
    let key = c.key.as_str();
    match key {
        "delay_loop" => d.delay_loop_ms = timer_ms(c, out).unwrap_or(d.delay_loop_ms),
        "connect_timeout" => {
            d.connect_timeout_ms = timer_ms(c, out).unwrap_or(d.connect_timeout_ms)
        }
        "retry" | "nb_get_retry" => d.retry = number(c, out),
        "delay_before_retry" => d.delay_before_retry_ms = timer_ms(c, out),
        "warmup" => d.warmup_ms = timer_ms(c, out),
        "alpha" => d.alpha = flag(c),
        "virtualhost" => d.virtualhost = c.arg(0).map(str::to_owned),
        "ha_suspend" => out.unmapped(
            c.line,
            key,
            "ferrolb checks whether or not the VIP is configured",
        ),
        "smtp_alert" => out.unmapped(
            c.line,
            key,
            "no e-mail alerts: use notify commands or metrics",
        ),
        "snmp_name" => out.unmapped(c.line, key, "no SNMP: use the Prometheus metrics"),
        "omega" => out.unmapped(
            c.line,
            key,
            "notify commands do not run when the daemon stops",
        ),
        "ip_family" => out.unmapped(c.line, key, "IPv4 only"),
        "flag-1" | "flag-2" | "flag-3" | "sh-port" | "sh-fallback" | "mh-fallback" => {
            out.unmapped(c.line, key, "scheduler flag not supported")
        }
        "persistence_engine" => out.unmapped(c.line, key, "no persistence engines (SIP)"),
        "log_all_failures" => out.unmapped(
            c.line,
            key,
            "always on: ferrolb logs every failure of an up backend",
        ),
        _ => out.unmapped(c.line, key, format!("unknown {whose} option")),
    }
}

fn real_server(
    node: &Node,
    vs: &VsTemplate,
    out: &mut Imported,
) -> Option<(BackendConfig, CheckList)> {
    let address: Ipv4Addr = match node.arg(0).and_then(|a| a.parse().ok()) {
        Some(a) => a,
        None => {
            out.unmapped(node.line, "real_server", "not an IPv4 address; skipped");
            return None;
        }
    };
    let port = node.arg(1).and_then(|p| p.parse::<u16>().ok());
    let mut backend = BackendConfig::new(address, port, 1);
    let mut d = vs.defaults.clone();
    let mut checkers = Vec::new();
    for c in &node.children {
        let key = c.key.as_str();
        match key {
            "weight" => backend.weight = number(c, out).unwrap_or(1),
            "uthreshold" => backend.u_threshold = number(c, out).unwrap_or(0),
            "lthreshold" => backend.l_threshold = number(c, out).unwrap_or(0),
            "inhibit_on_failure" => {
                let inhibit = flag(c);
                d.inhibit = inhibit;
                let mode = if inhibit {
                    OnFailure::Inhibit
                } else {
                    OnFailure::Remove
                };
                if mode != vs.service.on_failure {
                    backend.on_failure = Some(mode);
                }
            }
            "notify_up" => backend.notify_up = command(c, out),
            "notify_down" => backend.notify_down = command(c, out),
            "lvs_method" | "lb_kind" => {
                if mode_of(c, out).is_some_and(|m| m != vs.service.mode) {
                    out.unmapped(
                        c.line,
                        key,
                        "a service has one forwarding method; this real server uses the service's",
                    );
                }
            }
            k if CHECKERS.contains(&k) => checkers.push(c),
            _ => common_default(c, &mut d, out, "real_server"),
        }
    }
    let mut checks = Vec::new();
    for c in checkers {
        checks.extend(checker(c, &d, out));
    }
    let checks = match checks.len() {
        0 => CheckList::default(),
        1 => CheckList::one(checks.remove(0)),
        _ => CheckList {
            checks,
            single: false,
        },
    };
    Some((backend, checks))
}

const CHECKERS: &[&str] = &[
    "TCP_CHECK",
    "HTTP_GET",
    "SSL_GET",
    "SMTP_CHECK",
    "DNS_CHECK",
    "MISC_CHECK",
    "PING_CHECK",
    "UDP_CHECK",
    "BFD_CHECK",
    "FILE_CHECK",
];

/// A check with keepalived's timing for `kind` and the inherited settings.
fn base_check(kind: CheckKind, d: &Defaults) -> HealthCheckConfig {
    let mut c = HealthCheckConfig::new(kind);
    c.rise = 1;
    c.fall = 1;
    c.interval_ms = d.delay_loop_ms.clamp(10, 3_600_000);
    c.timeout_ms = d.connect_timeout_ms.clamp(1, 3_600_000);
    c.retry = d.retry.unwrap_or(match kind {
        CheckKind::Dns => 3,
        CheckKind::Script => 0,
        _ => 1,
    });
    c.retry_delay_ms = d
        .delay_before_retry_ms
        .unwrap_or(match kind {
            CheckKind::Http | CheckKind::Https => 3_000,
            CheckKind::Dns => d.delay_loop_ms,
            _ => 1_000,
        })
        .clamp(1, 3_600_000);
    c.warmup_ms = d.warmup_ms.unwrap_or(d.delay_loop_ms).min(3_600_000);
    c.alpha = d.alpha;
    c
}

/// One checker block as ferrolb checks (SMTP's old `host` blocks give one
/// each); none for BFD and FILE checkers.
fn checker(node: &Node, inherited: &Defaults, out: &mut Imported) -> Vec<HealthCheckConfig> {
    let kind = match node.key.as_str() {
        "TCP_CHECK" => CheckKind::Tcp,
        "HTTP_GET" => CheckKind::Http,
        "SSL_GET" => CheckKind::Https,
        "SMTP_CHECK" => CheckKind::Smtp,
        "DNS_CHECK" => CheckKind::Dns,
        "MISC_CHECK" => CheckKind::Script,
        "PING_CHECK" => CheckKind::Icmp,
        "UDP_CHECK" => CheckKind::Udp,
        other => {
            out.unmapped(
                node.line,
                other,
                "no such checker in ferrolb (BFD: run BFD beside it; FILE: use a script check)",
            );
            return Vec::new();
        }
    };
    // First the inherited settings this block overrides, then the rest.
    let mut d = inherited.clone();
    let mut rest = Vec::new();
    for c in &node.children {
        match c.key.as_str() {
            "delay_loop" | "connect_timeout" | "retry" | "nb_get_retry" | "delay_before_retry"
            | "warmup" | "alpha" | "virtualhost" => common_default(c, &mut d, out, "checker"),
            _ => rest.push(c),
        }
    }
    let mut check = base_check(kind, &d);
    if kind == CheckKind::Script {
        // misc_timeout defaults to the delay loop.
        check.timeout_ms = d.delay_loop_ms.clamp(1, 3_600_000);
    }
    let mut hosts = Vec::new();
    let mut enable_sni = false;
    for c in rest {
        if c.key == "host" && kind == CheckKind::Smtp {
            hosts.push(c);
            continue;
        }
        if c.key == "enable_sni" {
            enable_sni = flag(c);
            continue;
        }
        checker_option(c, &mut check, out);
    }
    if matches!(kind, CheckKind::Http | CheckKind::Https) {
        if check.host.is_none() {
            check.host = d.virtualhost.clone();
        }
        if enable_sni && check.sni.is_none() {
            check.sni = check.host.clone();
        }
        if check.url.is_empty() {
            out.unmapped(node.line, &node.key, "no url: checks / for 200-299");
            check.url.push(UrlCheck {
                path: "/".into(),
                status: StatusSet(vec![(200, 299)]),
                digest: None,
                sha256: None,
                host: None,
            });
        }
    }
    if hosts.is_empty() {
        return vec![check];
    }
    hosts
        .into_iter()
        .map(|h| {
            let mut one = check.clone();
            for c in &h.children {
                checker_option(c, &mut one, out);
            }
            one
        })
        .collect()
}

/// One option inside a checker block.
fn checker_option(c: &Node, check: &mut HealthCheckConfig, out: &mut Imported) {
    let key = c.key.as_str();
    let kind = check.kind;
    let http = matches!(kind, CheckKind::Http | CheckKind::Https);
    match key {
        "connect_ip" => match c.arg(0).and_then(|a| a.parse().ok()) {
            Some(ip) => check.connect_ip = Some(ip),
            None => out.unmapped(c.line, key, "not an IPv4 address"),
        },
        "connect_port" => check.connect_port = number(c, out).and_then(|p| u16::try_from(p).ok()),
        "bindto" | "bind_port" | "bind_if" | "fwmark" => out.unmapped(
            c.line,
            key,
            "checks go out from the daemon host's own address and routes",
        ),
        "url" if http => check.url.push(url(c, out)),
        "http_protocol" if http => match c.arg(0) {
            Some("1.1") => check.http_version = HttpVersion::Http11,
            Some("1.0" | "1.0C" | "1.0K") => check.http_version = HttpVersion::Http10,
            _ => out.unmapped(c.line, key, "unknown version"),
        },
        "sni_name" if kind == CheckKind::Https => check.sni = c.arg(0).map(str::to_owned),
        "fast_recovery" if http => out.unmapped(
            c.line,
            key,
            "ferrolb checks every URL in each check, as fast_recovery does",
        ),
        "tls_compliant" if kind == CheckKind::Https => {
            out.unmapped(c.line, key, "rustls always closes TLS as the protocol says")
        }
        "helo_name" if kind == CheckKind::Smtp => check.helo_name = c.arg(0).map(str::to_owned),
        "type" if kind == CheckKind::Dns => {
            check.query_type = c.arg(0).unwrap_or("SOA").to_ascii_uppercase();
            check.require_answer = false;
        }
        "name" if kind == CheckKind::Dns => {
            check.query_name = c.arg(0).unwrap_or(".").to_owned();
            check.require_answer = false;
        }
        "misc_path" if kind == CheckKind::Script => check.command = command(c, out),
        "misc_timeout" if kind == CheckKind::Script => {
            if let Some(ms) = timer_ms(c, out) {
                check.timeout_ms = ms.clamp(1, 3_600_000);
            }
        }
        "misc_dynamic" if kind == CheckKind::Script => check.dynamic = true,
        "user" if kind == CheckKind::Script => {
            out.unmapped(c.line, key, "the script runs as the daemon's user")
        }
        "payload" if kind == CheckKind::Udp => match c.words().join(" ").parse() {
            Ok(p) => check.payload = Some(p),
            Err(e) => out.unmapped(c.line, key, e),
        },
        "require_reply" if kind == CheckKind::Udp => {
            check.require_reply = true;
            if !c.args.is_empty() {
                match c.words().join(" ").parse() {
                    Ok(p) => check.expect = Some(p),
                    Err(e) => out.unmapped(c.line, key, e),
                }
            }
        }
        "min_reply_length" if kind == CheckKind::Udp => {
            check.min_reply_len = number(c, out).unwrap_or(0)
        }
        "max_reply_length" if kind == CheckKind::Udp => {
            check.max_reply_len = number(c, out).unwrap_or(255)
        }
        _ => {
            let mut d = Defaults::default();
            common_default(c, &mut d, out, &format!("{kind} checker"));
        }
    }
    if kind == CheckKind::Dns {
        // keepalived's DNS_CHECK passes on NOERROR alone.
        check.require_answer = false;
    }
}

fn url(node: &Node, out: &mut Imported) -> UrlCheck {
    let mut u = UrlCheck {
        path: "/".into(),
        status: StatusSet(vec![(200, 299)]),
        digest: None,
        sha256: None,
        host: None,
    };
    for c in &node.children {
        let key = c.key.as_str();
        match key {
            "path" => u.path = c.arg(0).unwrap_or("/").to_owned(),
            "digest" => u.digest = c.arg(0).map(str::to_ascii_lowercase),
            "status_code" => match c.words().join(" ").parse() {
                Ok(s) => u.status = s,
                Err(e) => out.unmapped(c.line, key, e),
            },
            "virtualhost" => u.host = c.arg(0).map(str::to_owned),
            "regex" | "regex_no_match" | "regex_options" | "regex_stack" | "regex_min_offset"
            | "regex_max_offset" => out.unmapped(
                c.line,
                key,
                "no regular expressions on bodies: use digest or a script check",
            ),
            "tls_compliant" => {
                out.unmapped(c.line, key, "rustls always closes TLS as the protocol says")
            }
            _ => out.unmapped(c.line, key, "unknown url option"),
        }
    }
    u
}
