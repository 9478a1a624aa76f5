//! Checks on the load-balancing part of a config (interfaces, routes,
//! neighbours, services, SNAT, sessions, timeouts) that serde cannot
//! express. Like `validate.rs`, each problem names its key and all problems
//! are reported at once.

use std::collections::HashMap;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::validate_addr::special_use6;
use super::{
    service_name_problem, Config, ConfigError, ConfigSource, IpPrefix, Ipv4Prefix, Ipv6Prefix,
    KeyPath, LbMode, Protocol, ServiceConfig, TimeoutsConfig, MAX_SESSIONS, MAX_TIMEOUT,
};

/// 802.1Q VLAN IDs usable on an interface (0 and 4095 are reserved).
const VLAN_RANGE: std::ops::RangeInclusive<u16> = 1..=4094;

/// The largest backend weight (as ipvsadm).
const MAX_WEIGHT: u32 = 65535;

struct Check<'a> {
    source: &'a ConfigSource,
    errors: &'a mut Vec<ConfigError>,
}

impl Check<'_> {
    fn err(&mut self, path: KeyPath, message: impl Into<String>) {
        self.errors.push(self.source.error_at(&path, message));
    }

    fn has(&self, path: &KeyPath) -> bool {
        self.source.has_key(path)
    }
}

/// What the sections refer to: port names, connected prefixes, routes, VIPs.
struct Known<'a> {
    ports: HashSet<&'a str>,
    port_list: String,
    /// Every valid interface address, host bits kept.
    connected: Vec<Ipv4Prefix>,
    /// Route prefixes, both families.
    routes: Vec<IpPrefix>,
    /// Every valid IPv6 interface address, host bits kept.
    connected6: Vec<Ipv6Prefix>,
    /// VIP → the first service that has it.
    vips: HashMap<IpAddr, usize>,
}

impl Known<'_> {
    fn is_connected(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(a) => self.connected.iter().any(|p| p.contains(a)),
            IpAddr::V6(a) => self.connected6.iter().any(|p| p.contains(a)),
        }
    }

    fn is_routed(&self, a: IpAddr) -> bool {
        self.is_connected(a) || self.routes.iter().any(|p| p.contains(a))
    }

    fn connected_list(&self) -> String {
        let nets: Vec<String> = self
            .connected
            .iter()
            .map(|p| format!("{}/{}", p.network(), p.len))
            .collect();
        nets.join(", ")
    }

    /// The connected prefixes of `a`'s family.
    fn connected_list_for(&self, a: IpAddr) -> String {
        match a {
            IpAddr::V4(_) => self.connected_list(),
            IpAddr::V6(_) => {
                let nets: Vec<String> = self
                    .connected6
                    .iter()
                    .map(|p| format!("{}/{}", p.network(), p.len))
                    .collect();
                nets.join(", ")
            }
        }
    }

    fn unknown_port(&self, name: &str) -> String {
        if self.ports.is_empty() {
            format!("no [[port]] is named {name:?} (there are no ports)")
        } else {
            format!(
                "no [[port]] is named {name:?}; the ports are {}",
                self.port_list
            )
        }
    }
}

pub(super) fn validate(config: &Config, source: &ConfigSource, errors: &mut Vec<ConfigError>) {
    let mut c = Check { source, errors };
    let root = KeyPath::root();

    let mut known = Known {
        ports: config.ports.iter().map(|p| p.name.as_str()).collect(),
        port_list: config
            .ports
            .iter()
            .map(|p| format!("{:?}", p.name))
            .collect::<Vec<_>>()
            .join(", "),
        connected: Vec::new(),
        connected6: Vec::new(),
        routes: config.routes.iter().map(|r| r.prefix).collect(),
        vips: HashMap::new(),
    };
    for (i, s) in config.services.iter().enumerate() {
        for (vip, _, _) in s.listens() {
            known.vips.entry(vip).or_insert(i);
        }
    }

    if !config.runs_pipeline() {
        needs_interfaces(&mut c, config);
    }
    interfaces(&mut c, config, &mut known);
    routes(&mut c, config, &known);
    neighbours(&mut c, config, &known);
    services(&mut c, config, &known);
    snat(&mut c, config, &known);

    let capacity = config.sessions.capacity;
    if capacity == 0 || capacity > MAX_SESSIONS {
        c.err(
            root.key("sessions").key("capacity"),
            format!("capacity {capacity}: must be 1..={MAX_SESSIONS} sessions per worker"),
        );
    }
    let capacity6 = config.sessions.capacity6;
    if capacity6 == 0 || capacity6 > MAX_SESSIONS {
        c.err(
            root.key("sessions").key("capacity6"),
            format!("capacity6 {capacity6}: must be 1..={MAX_SESSIONS} IPv6 sessions per worker"),
        );
    }
    timeouts(&mut c, &root.key("timeouts"), &config.timeouts);
}

/// Routes, neighbours, services and SNAT rules without any interface: one
/// error, at the first of them in the file.
fn needs_interfaces(c: &mut Check<'_>, config: &Config) {
    let sections = [
        ("route", config.routes.is_empty(), "routes"),
        ("neighbour", config.neighbours.is_empty(), "neighbours"),
        ("service", config.services.is_empty(), "services"),
        ("snat", config.snat.is_empty(), "SNAT rules"),
    ];
    let first = sections
        .iter()
        .filter(|(_, empty, _)| !empty)
        .map(|(key, _, what)| {
            c.source.error_at(
                &KeyPath::root().key(key).index(0),
                format!(
                    "{what} need at least one [[interface]]; without interfaces ferrolb only \
                     forwards L2 frames ([forward])"
                ),
            )
        })
        .min_by_key(|e| e.line.unwrap_or(usize::MAX));
    if let Some(e) = first {
        c.errors.push(e);
    }
}

fn interfaces<'a>(c: &mut Check<'_>, config: &'a Config, known: &mut Known<'a>) {
    let mut seen: HashMap<(&str, Option<u16>), usize> = HashMap::new();
    let mut owned: HashMap<Ipv4Addr, KeyPath> = HashMap::new();
    let mut owned6: HashMap<Ipv6Addr, KeyPath> = HashMap::new();
    for (i, ifc) in config.interfaces.iter().enumerate() {
        let at = KeyPath::root().key("interface").index(i);
        if !known.ports.contains(ifc.port.as_str()) {
            c.err(at.key("port"), known.unknown_port(&ifc.port));
        }
        if let Some(vlan) = ifc.vlan {
            if !VLAN_RANGE.contains(&vlan) {
                c.err(
                    at.key("vlan"),
                    format!("VLAN {vlan}: must be 1..=4094; leave vlan out for untagged frames"),
                );
            }
        }
        let first = *seen.entry((ifc.port.as_str(), ifc.vlan)).or_insert(i);
        if first != i {
            let (key, what) = match ifc.vlan {
                Some(vlan) => ("vlan", format!("VLAN {vlan} on port {:?}", ifc.port)),
                None => ("port", format!("untagged frames on port {:?}", ifc.port)),
            };
            c.err(
                at.key(key),
                format!("{what} already belong to interface[{first}]"),
            );
        }
        let addresses = at.key("addresses");
        if ifc.addresses.is_empty() {
            c.err(
                addresses.clone(),
                "no addresses: an interface needs at least one, like \"10.0.0.1/24\"",
            );
        }
        for (j, p) in ifc.addresses.iter().enumerate() {
            let here = addresses.index(j);
            let a = match p {
                IpPrefix::V4(a) => a,
                IpPrefix::V6(a) => {
                    if a.len > 0 {
                        known.connected6.push(*a);
                    }
                    interface_address6(c, here, a, &mut owned6);
                    continue;
                }
            };
            if a.len == 0 {
                c.err(
                    here.clone(),
                    format!(
                        "{a}: an interface address needs a prefix length of 1..=32, \
                         like \"{}/24\"",
                        a.addr
                    ),
                );
            } else {
                known.connected.push(*a);
            }
            match owned.get(&a.addr) {
                Some(first) => c.err(here, format!("{} is already owned by {first}", a.addr)),
                None => {
                    owned.insert(a.addr, here);
                }
            }
        }
    }
}

/// An IPv6 interface address: a usable prefix length, a unicast address,
/// owned once.
fn interface_address6(
    c: &mut Check<'_>,
    here: KeyPath,
    a: &Ipv6Prefix,
    owned: &mut HashMap<Ipv6Addr, KeyPath>,
) {
    if a.len == 0 {
        c.err(
            here,
            format!(
                "{a}: an interface address needs a prefix length of 1..=128, like \"{}/64\"",
                a.addr
            ),
        );
        return;
    }
    if let Some(why) = special_use6(a.addr) {
        c.err(
            here,
            format!("{} is {why}: it cannot be an interface address", a.addr),
        );
        return;
    }
    match owned.get(&a.addr) {
        Some(first) => c.err(here, format!("{} is already owned by {first}", a.addr)),
        None => {
            owned.insert(a.addr, here);
        }
    }
}

fn routes(c: &mut Check<'_>, config: &Config, known: &Known<'_>) {
    let have_interfaces = config.runs_pipeline();
    let mut seen: HashMap<(IpAddr, u8), usize> = HashMap::new();
    for (i, r) in config.routes.iter().enumerate() {
        let at = KeyPath::root().key("route").index(i);
        let p = r.prefix;
        if p.host_bits_set() {
            c.err(
                at.key("prefix"),
                format!(
                    "{p} has host bits set; write the prefix as {}/{}",
                    p.network(),
                    p.prefix_len()
                ),
            );
        }
        let first = *seen.entry((p.network(), p.prefix_len())).or_insert(i);
        if first != i {
            c.err(
                at.key("prefix"),
                format!(
                    "a route for {}/{} is already route[{first}]",
                    p.network(),
                    p.prefix_len()
                ),
            );
        }
        if p.addr().is_ipv6() != r.via.is_ipv6() {
            c.err(
                at.key("via"),
                format!(
                    "next hop {} is {} and the prefix {p} is {}: a route's prefix and \
                     gateway are of one family",
                    r.via,
                    family(r.via),
                    family(p.addr())
                ),
            );
        } else if have_interfaces && !known.is_connected(r.via) {
            c.err(
                at.key("via"),
                format!(
                    "next hop {} is not in a connected prefix ({}); \
                     it must be reachable on one of the interfaces",
                    r.via,
                    known.connected_list_for(r.via)
                ),
            );
        }
    }
}

/// "IPv4" or "IPv6".
fn family(a: IpAddr) -> &'static str {
    match a {
        IpAddr::V4(_) => "IPv4",
        IpAddr::V6(_) => "IPv6",
    }
}

fn neighbours(c: &mut Check<'_>, config: &Config, known: &Known<'_>) {
    let have_interfaces = config.runs_pipeline();
    let mut seen: HashMap<IpAddr, usize> = HashMap::new();
    for (i, n) in config.neighbours.iter().enumerate() {
        let at = KeyPath::root().key("neighbour").index(i);
        let first = *seen.entry(n.address).or_insert(i);
        if first != i {
            c.err(
                at.key("address"),
                format!("neighbour {} is already neighbour[{first}]", n.address),
            );
        }
        if have_interfaces && !known.is_connected(n.address) {
            c.err(
                at.key("address"),
                format!(
                    "neighbour {} is not in a connected prefix ({}); \
                     only hosts on an interface's segment can be neighbours",
                    n.address,
                    known.connected_list_for(n.address)
                ),
            );
        }
        if n.mac.is_zero() {
            c.err(at.key("mac"), format!("{} is not a usable MAC", n.mac));
        }
    }
}

fn services(c: &mut Check<'_>, config: &Config, known: &Known<'_>) {
    let have_interfaces = config.runs_pipeline();
    let mut listeners = Listeners::new();
    for (i, s) in config.services.iter().enumerate() {
        let at = KeyPath::root().key("service").index(i);
        if let Some(problem) = s.name.as_deref().and_then(service_name_problem) {
            c.err(at.key("name"), problem);
        }
        listening(c, config, i, &at, &mut listeners);

        let fullnat = s.mode == LbMode::Fullnat;
        let local_addresses = at.key("local_addresses");
        if fullnat && s.local_addresses.is_empty() {
            let key = if c.has(&local_addresses) {
                local_addresses.clone()
            } else {
                at.key("mode")
            };
            let what = match s.vip.is_ipv6() {
                true => {
                    "fullnat with an IPv6 VIP (NAT64: IPv4 backends) needs IPv4 \
                         local_addresses"
                }
                false => "fullnat needs local_addresses",
            };
            c.err(
                key,
                format!(
                    "{what}: the source addresses the backends see and reply to, like \
                     [\"10.0.1.100\"]"
                ),
            );
        }
        if !fullnat && !s.local_addresses.is_empty() {
            c.err(
                local_addresses.clone(),
                format!(
                    "local_addresses are only for fullnat; a {} service keeps the client's \
                     address",
                    s.mode
                ),
            );
        }
        let mut locals: HashMap<IpAddr, usize> = HashMap::new();
        for (j, &a) in s.local_addresses.iter().enumerate() {
            let here = local_addresses.index(j);
            if let Some(&v) = known.vips.get(&a) {
                c.err(
                    here.clone(),
                    format!("{a} is the VIP of service[{v}]; a local address must be its own"),
                );
            }
            let first = *locals.entry(a).or_insert(j);
            if first != j {
                c.err(
                    here,
                    format!("{a} is listed twice (also local_addresses[{first}])"),
                );
            }
        }
        let local_ports = at.key("local_ports");
        if !fullnat && c.has(&local_ports) {
            c.err(local_ports.clone(), "local_ports are only for fullnat");
        } else if let Some(problem) = s.local_ports.problem() {
            c.err(local_ports, problem);
        }
        if s.pickup == Some(true) && !matches!(s.mode, LbMode::Dr | LbMode::Tun) {
            c.err(
                at.key("pickup"),
                format!(
                    "pickup is for dr and tun: a {} flow picked up mid-stream would get a \
                     translation the backend never saw",
                    s.mode
                ),
            );
        }
        access_list(c, &at, s);
        for (key, problem) in super::validate_limits::limit_problems(&at, s) {
            c.err(key, problem);
        }
        for (key, problem) in super::validate_family::family_problems(&at, s, config) {
            c.err(key, problem);
        }
        if let Some(mss) = s.mss_clamp {
            if s.protocol != Protocol::Tcp {
                c.err(at.key("mss_clamp"), "mss_clamp is for tcp services");
            } else if !MSS_CLAMP_RANGE.contains(&mss) {
                c.err(
                    at.key("mss_clamp"),
                    format!(
                        "{mss}: must be {}..={} (an IPv4 MSS that fits a 9216-byte packet)",
                        MSS_CLAMP_RANGE.start(),
                        MSS_CLAMP_RANGE.end()
                    ),
                );
            }
        }
        syn_proxy(c, &at, s);
        if s.persistence_prefix > 32 {
            c.err(
                at.key("persistence_prefix"),
                format!(
                    "{}: must be 0..=32 (the length of the client prefix that shares affinity)",
                    s.persistence_prefix
                ),
            );
        }
        if let Some(t) = &s.timeouts {
            timeouts(c, &at.key("timeouts"), t);
        }

        let mut backends: HashMap<(IpAddr, u16), usize> = HashMap::new();
        for (j, b) in s.backends.iter().enumerate() {
            let bt = at.key("backend").index(j);
            if b.port == Some(0) {
                c.err(
                    bt.key("port"),
                    "port 0: must be 1..=65535; leave port out to use the service port",
                );
            }
            if matches!(s.mode, LbMode::Dr | LbMode::Tun) && s.multi_port() && b.port.is_some() {
                c.err(
                    bt.key("port"),
                    format!(
                        "a {} backend receives the packet as the client sent it, and this \
                         service has many ports; leave port out",
                        s.mode
                    ),
                );
            } else if matches!(s.mode, LbMode::Dr | LbMode::Tun)
                && b.port.is_some_and(|p| p != s.port)
            {
                c.err(
                    bt.key("port"),
                    format!(
                        "a {} backend receives the packet as the client sent it, so it \
                         cannot have another port; leave port out or set it to {}",
                        s.mode, s.port
                    ),
                );
            }
            let port = s.backend_port(b);
            let first = *backends.entry((b.address, port)).or_insert(j);
            if first != j {
                c.err(
                    bt.key("address"),
                    format!(
                        "backend {} is already backend[{first}]",
                        SocketAddr::new(b.address, port)
                    ),
                );
            }
            if b.weight > MAX_WEIGHT {
                c.err(
                    bt.key("weight"),
                    format!("weight {}: must be 0..={MAX_WEIGHT} (0 = drain)", b.weight),
                );
            }
            if !have_interfaces {
                continue;
            }
            if s.mode == LbMode::Dr && !known.is_connected(b.address) {
                c.err(
                    bt.key("address"),
                    format!(
                        "backend {} is not in a connected prefix ({}); dr only rewrites \
                         MACs, so the backend must be on an interface's segment",
                        b.address,
                        known.connected_list_for(b.address)
                    ),
                );
            } else if !known.is_routed(b.address) {
                c.err(
                    bt.key("address"),
                    format!(
                        "backend {} is outside every route; add a [[route]] or an \
                         interface address that covers it",
                        b.address
                    ),
                );
            }
        }
    }
}

/// The earlier services' listeners by (VIP, protocol): (first port, last
/// port, service index), so each listener is checked against its own
/// VIP's few, not every service (validation stays linear in services).
type Listeners = HashMap<(IpAddr, Protocol), Vec<(u16, u16, usize)>>;

/// The ports service `i` listens on: a range that makes sense, no port
/// shared with an earlier service of its VIP and protocol (a port-0
/// service only takes what the others leave), and `ops` where it can work.
/// Adds its listeners to `listeners`.
fn listening(
    c: &mut Check<'_>,
    config: &Config,
    i: usize,
    at: &KeyPath,
    listeners: &mut Listeners,
) {
    let s = &config.services[i];
    match s.port_last {
        Some(_) if s.port == 0 => c.err(
            at.key("port_last"),
            "port 0 already means every port; leave port_last out",
        ),
        Some(last) if last < s.port => c.err(
            at.key("port_last"),
            format!(
                "{last}: the last port of a range is at least port ({})",
                s.port
            ),
        ),
        _ => {}
    }
    // Two listeners clash on the same first port, or on any shared port
    // unless one is port 0 (which takes what the other leaves).
    let clash = |(v, f, l): (IpAddr, u16, u16), (ov, of, ol): (IpAddr, u16, u16)| {
        v == ov && (f == of || (f != 0 && of != 0 && f <= ol && of <= l))
    };
    let mine = s.listens();
    for (n, &here) in mine.iter().enumerate() {
        let key = match n {
            0 => at.clone(),
            n => at.key("also_listen").index(n - 1),
        };
        let shown = format!("{}/{}", s.protocol, SocketAddr::new(here.0, here.1));
        if let Some(m) = mine[..n].iter().position(|&m| clash(here, m)) {
            let first = match m {
                0 => s.key_text(),
                m => format!("also_listen[{}]", m - 1),
            };
            c.err(
                key,
                format!("{shown} shares ports with this service's {first}"),
            );
            continue;
        }
        let (vip, first, last) = here;
        let other = listeners
            .get(&(vip, s.protocol))
            .and_then(|seen| seen.iter().find(|&&(of, ol, _)| clash(here, (vip, of, ol))))
            .map(|&(_, _, o)| o);
        listeners
            .entry((vip, s.protocol))
            .or_default()
            .push((first, last, i));
        if let Some(o) = other {
            let what = match n == 0 && config.services[o].key() == s.key() {
                true => "is already",
                false => "shares ports with",
            };
            c.err(key, format!("{shown} {what} service[{o}]"));
        }
    }
    if s.ops && (s.protocol != Protocol::Udp || !matches!(s.mode, LbMode::Dr | LbMode::Tun)) {
        // NAT64 is FULLNAT: its IPv4 replies are translated back to IPv6
        // by the session, as any FULLNAT reply.
        let nat64 = match super::validate_family::is_nat64(s) {
            true => " (NAT64)",
            false => "",
        };
        c.err(
            at.key("ops"),
            format!(
                "ops (one-packet scheduling) is for udp services with mode dr or tun: a {} {}{nat64} \
                 service needs a session to translate the replies",
                s.protocol, s.mode
            ),
        );
    }
}

fn snat(c: &mut Check<'_>, config: &Config, known: &Known<'_>) {
    let mut used: HashMap<IpAddr, KeyPath> = HashMap::new();
    let mut sources: HashMap<(IpAddr, u8), usize> = HashMap::new();
    for (i, r) in config.snat.iter().enumerate() {
        let at = KeyPath::root().key("snat").index(i);
        let p = r.source;
        if p.host_bits_set() {
            c.err(
                at.key("source"),
                format!(
                    "{p} has host bits set; write the prefix as {}/{}",
                    p.network(),
                    p.prefix_len()
                ),
            );
        }
        // A second rule for the same source would never match, and
        // `snat delete` names a rule by its source.
        let first = *sources.entry((p.network(), p.prefix_len())).or_insert(i);
        if first != i {
            c.err(
                at.key("source"),
                format!(
                    "a SNAT rule for {}/{} is already snat[{first}]",
                    p.network(),
                    p.prefix_len()
                ),
            );
        }
        if !known.ports.contains(r.port.as_str()) {
            c.err(at.key("port"), known.unknown_port(&r.port));
        }
        let addresses = at.key("addresses");
        if r.addresses.is_empty() {
            c.err(
                addresses.clone(),
                "no addresses: a SNAT rule needs at least one public address, \
                 like [\"203.0.113.1\"]",
            );
        }
        for (j, &a) in r.addresses.iter().enumerate() {
            let here = addresses.index(j);
            if let Some(&v) = known.vips.get(&a) {
                c.err(
                    here.clone(),
                    format!("{a} is the VIP of service[{v}]; a SNAT address must be its own"),
                );
            }
            match used.get(&a) {
                Some(first) => c.err(here, format!("{a} is already used by {first}")),
                None => {
                    used.insert(a, here);
                }
            }
        }
        if let Some(problem) = r.ports.problem() {
            c.err(at.key("ports"), problem);
        }
    }
}

/// MSS values a service may clamp to: RFC 879's minimum datagram less the
/// headers, up to the largest MTU a port takes less 40.
const MSS_CLAMP_RANGE: std::ops::RangeInclusive<u16> = 536..=9176;

/// `syn_proxy`: ferrolb splices its own handshake with the client to the
/// backend's, which needs the backend's replies to come back through it.
fn syn_proxy(c: &mut Check<'_>, at: &KeyPath, s: &ServiceConfig) {
    if !s.syn_proxy {
        return;
    }
    if s.protocol != Protocol::Tcp {
        c.err(at.key("syn_proxy"), "syn_proxy is for tcp services");
    } else if !matches!(s.mode, LbMode::Nat | LbMode::Fullnat) {
        c.err(
            at.key("syn_proxy"),
            format!(
                "syn_proxy is for nat and fullnat: a {} backend answers the client directly, \
                 so ferrolb could not translate its sequence numbers",
                s.mode
            ),
        );
    }
}

/// The most prefixes one service's `allow` and `deny` may hold together.
pub const MAX_ACCESS_LIST: usize = 65_536;

/// `allow` and `deny`: prefixes of the VIP's family written as networks,
/// no prefix in both, and a bounded size.
fn access_list(c: &mut Check<'_>, at: &KeyPath, s: &ServiceConfig) {
    for (key, list) in [("allow", &s.allow), ("deny", &s.deny)] {
        for (i, p) in list.iter().enumerate() {
            if p.is_ipv6() != s.vip.is_ipv6() {
                let family = |v6| if v6 { "IPv6" } else { "IPv4" };
                c.err(
                    at.key(key).index(i),
                    format!(
                        "{p} is {} and the VIP {} is {}: no client of this service can be in it",
                        family(p.is_ipv6()),
                        s.vip,
                        family(s.vip.is_ipv6())
                    ),
                );
            } else if p.host_bits_set() {
                c.err(
                    at.key(key).index(i),
                    format!(
                        "{p} has host bits set: write the network, {}",
                        p.connected()
                    ),
                );
            }
        }
    }
    for (i, p) in s.deny.iter().enumerate() {
        if s.allow.contains(p) {
            c.err(
                at.key("deny").index(i),
                format!("{p} is also in allow: a prefix is allowed or denied, not both"),
            );
        }
    }
    if s.allow.len() + s.deny.len() > MAX_ACCESS_LIST {
        c.err(
            at.key("allow"),
            format!(
                "{} prefixes in allow and deny: at most {MAX_ACCESS_LIST} per service",
                s.allow.len() + s.deny.len()
            ),
        );
    }
}

fn timeouts(c: &mut Check<'_>, at: &KeyPath, t: &TimeoutsConfig) {
    for (key, value) in t.entries() {
        if let Some(v) = value {
            if v == 0 || v > MAX_TIMEOUT {
                c.err(
                    at.key(key),
                    format!("{v} seconds: must be 1..={MAX_TIMEOUT} (a week)"),
                );
            }
        }
    }
}
