//! Checks that every address can work in its role. An address that parses
//! can still be a black hole or a loop: a VIP of 0.0.0.0 or 224.0.0.1, a
//! backend that is the service's own VIP, a route via one of our own
//! addresses, a neighbour whose MAC is the broadcast address. Each is
//! refused here, naming the key, so `--check`, `apply` and every runtime op
//! (which validate the resulting config the same way) refuse it alike.
//!
//! Two kinds of address meet here: those the appliance *owns* (interface
//! addresses, VIPs, FULLNAT local addresses, SNAT addresses: it answers ARP
//! for them) and those of *other hosts* (gateways, neighbours, backends: it
//! sends to them). An other host's address must not be one we own. A local
//! or SNAT address may be an interface address (the usual masquerade
//! setup); a VIP may not (see `docs/load-balancing.md`).
//!
//! One exception: a backend may be a loopback address. Traffic sent to it
//! never arrives, but labs and tests run the daemon's health checks against
//! local listeners that way, and a check cannot yet be pointed at another
//! address than the backend's.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Config, ConfigError, ConfigSource, Ipv4Prefix, KeyPath, MacAddr};

/// Why `a` can never be a host's unicast address, if it cannot.
pub fn special_use(a: Ipv4Addr) -> Option<&'static str> {
    let first = a.octets()[0];
    if a.is_unspecified() {
        Some("the unspecified address")
    } else if a.is_broadcast() {
        Some("the limited broadcast address")
    } else if first == 0 {
        Some("in 0.0.0.0/8 (\"this network\"), never a destination")
    } else if a.is_loopback() {
        Some("a loopback address (127.0.0.0/8)")
    } else if a.is_multicast() {
        Some("a multicast address (224.0.0.0/4)")
    } else if first >= 240 {
        Some("a reserved address (240.0.0.0/4)")
    } else {
        None
    }
}

/// Why `a` can never be a host's own unicast IPv6 address, if it cannot.
/// Link-local addresses (fe80::/10) are allowed: Neighbour Discovery uses
/// them.
pub fn special_use6(a: Ipv6Addr) -> Option<&'static str> {
    if a.is_unspecified() {
        Some("the unspecified address")
    } else if a.is_loopback() {
        Some("the loopback address")
    } else if a.is_multicast() {
        Some("a multicast address (ff00::/8)")
    } else if a.to_ipv4_mapped().is_some() {
        Some("an IPv4-mapped address (::ffff:0:0/96)")
    } else {
        None
    }
}

/// The last address of a prefix (its directed broadcast).
fn broadcast(p: &Ipv4Prefix) -> Ipv4Addr {
    let host_mask = match p.len {
        0 => u32::MAX,
        n if n >= 32 => 0,
        n => u32::MAX >> n,
    };
    Ipv4Addr::from(u32::from(p.network()) | host_mask)
}

/// Whether `a` is the network or broadcast address of `p`. Prefixes of
/// /31 and /32 have neither (RFC 3021): every address in them is a host.
fn network_or_broadcast(p: &Ipv4Prefix, a: Ipv4Addr) -> Option<&'static str> {
    if p.len == 0 || p.len > 30 || !p.contains(a) {
        None
    } else if a == p.network() {
        Some("network")
    } else if a == broadcast(p) {
        Some("broadcast")
    } else {
        None
    }
}

/// Where each address is used, for the messages.
struct Uses {
    /// Connected prefixes (interface addresses with a usable length).
    connected: Vec<Ipv4Prefix>,
    interface: HashMap<Ipv4Addr, String>,
    vip: HashMap<Ipv4Addr, String>,
    local: HashMap<Ipv4Addr, String>,
    snat: HashMap<Ipv4Addr, String>,
    gateway: HashMap<Ipv4Addr, String>,
    neighbour: HashMap<Ipv4Addr, String>,
}

impl Uses {
    fn of(config: &Config) -> Uses {
        let mut u = Uses {
            connected: Vec::new(),
            interface: HashMap::new(),
            vip: HashMap::new(),
            local: HashMap::new(),
            snat: HashMap::new(),
            gateway: HashMap::new(),
            neighbour: HashMap::new(),
        };
        for (i, ifc) in config.interfaces.iter().enumerate() {
            for (j, a) in ifc.addresses.iter().enumerate() {
                let Some(a) = a.v4() else { continue };
                if (1..=32).contains(&a.len) {
                    u.connected.push(*a);
                }
                let key = format!("interface[{i}].addresses[{j}]");
                u.interface.entry(a.addr).or_insert(key);
            }
        }
        for (i, s) in config.services.iter().enumerate() {
            if let IpAddr::V4(vip) = s.vip {
                u.vip
                    .entry(vip)
                    .or_insert_with(|| format!("the VIP of service[{i}]"));
            }
            for (j, a) in s.also_listen.iter().enumerate() {
                // IPv6 ones: `validate_family.rs`.
                let IpAddr::V4(a) = a.ip() else { continue };
                u.vip
                    .entry(a)
                    .or_insert_with(|| format!("service[{i}].also_listen[{j}]"));
            }
            // IPv6 ones are checked with the service's family
            // (`validate_family.rs`).
            for (j, a) in s.local_addresses.iter().enumerate() {
                let IpAddr::V4(a) = *a else { continue };
                u.local
                    .entry(a)
                    .or_insert_with(|| format!("service[{i}].local_addresses[{j}]"));
            }
        }
        for (i, r) in config.snat.iter().enumerate() {
            // IPv6 ones: `validate_snat6.rs`.
            for (j, a) in r.addresses.iter().enumerate() {
                let IpAddr::V4(a) = *a else { continue };
                u.snat
                    .entry(a)
                    .or_insert_with(|| format!("snat[{i}].addresses[{j}]"));
            }
        }
        // IPv6 gateways and neighbours: `validate_route6.rs`.
        for (i, r) in config.routes.iter().enumerate() {
            let IpAddr::V4(via) = r.via else { continue };
            u.gateway
                .entry(via)
                .or_insert_with(|| format!("the gateway of route[{i}]"));
        }
        for (i, n) in config.neighbours.iter().enumerate() {
            let IpAddr::V4(address) = n.address else {
                continue;
            };
            u.neighbour
                .entry(address)
                .or_insert_with(|| format!("neighbour[{i}]"));
        }
        u
    }

    /// The network or broadcast address of a connected prefix, named.
    fn on_link_special(&self, a: Ipv4Addr) -> Option<String> {
        self.connected.iter().find_map(|p| {
            network_or_broadcast(p, a).map(|what| {
                format!(
                    "{a} is the {what} address of the connected prefix {}/{}",
                    p.network(),
                    p.len
                )
            })
        })
    }

    /// The first of `roles` that uses `a`, as "ROLE (KEY)".
    fn used_as<'a>(&'a self, a: Ipv4Addr, roles: &[Role]) -> Option<(Role, &'a str)> {
        roles.iter().find_map(|&role| {
            let map = match role {
                Role::Interface => &self.interface,
                Role::Vip => &self.vip,
                Role::Local => &self.local,
                Role::Snat => &self.snat,
                Role::Gateway => &self.gateway,
                Role::Neighbour => &self.neighbour,
            };
            map.get(&a).map(|key| (role, key.as_str()))
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Interface,
    Vip,
    Local,
    Snat,
    Gateway,
    Neighbour,
}

impl Role {
    /// What using this address means, for a message.
    fn meaning(self) -> &'static str {
        match self {
            Role::Interface | Role::Vip | Role::Local | Role::Snat => {
                "an address of this appliance"
            }
            Role::Gateway => "a router's address",
            Role::Neighbour => "another host's address",
        }
    }
}

/// The addresses this appliance owns.
const OWNED: [Role; 4] = [Role::Interface, Role::Vip, Role::Local, Role::Snat];

struct Check<'a> {
    source: &'a ConfigSource,
    errors: &'a mut Vec<ConfigError>,
    uses: Uses,
}

impl Check<'_> {
    fn err(&mut self, path: KeyPath, message: String) {
        self.errors.push(self.source.error_at(&path, message));
    }

    /// The checks every host address gets, then whether one of `clashes`
    /// uses it already; `role` says what the address is for.
    fn address(&mut self, at: KeyPath, a: Ipv4Addr, role: &str, clashes: &[Role]) {
        self.address_or_loopback(at, a, role, clashes, false);
    }

    /// [`address`](Self::address), letting a loopback address through when
    /// `loopback` is set.
    fn address_or_loopback(
        &mut self,
        at: KeyPath,
        a: Ipv4Addr,
        role: &str,
        clashes: &[Role],
        loopback: bool,
    ) {
        if let Some(why) = special_use(a).filter(|_| !(loopback && a.is_loopback())) {
            self.err(at, format!("{a} is {why}: it cannot be {role}"));
        } else if let Some(why) = self.uses.on_link_special(a) {
            self.err(at, format!("{why}: it cannot be {role}"));
        } else if let Some((clash, key)) = self.uses.used_as(a, clashes) {
            self.err(
                at,
                format!(
                    "{a} is {key}, {}: it cannot also be {role}",
                    clash.meaning()
                ),
            );
        }
    }
}

pub(super) fn validate(config: &Config, source: &ConfigSource, errors: &mut Vec<ConfigError>) {
    let mut c = Check {
        source,
        errors,
        uses: Uses::of(config),
    };
    let root = KeyPath::root();
    interfaces(&mut c, config);
    for (i, r) in config.routes.iter().enumerate() {
        let at = root.key("route").index(i);
        if let IpAddr::V4(via) = r.via {
            c.address(at.key("via"), via, "a gateway", &OWNED);
        }
        if let Some(why) = r.prefix.v4().and_then(unroutable) {
            c.err(at.key("prefix"), format!("{}: {why}", r.prefix));
        }
    }
    neighbours(&mut c, config);
    others6(&mut c, config);
    services(&mut c, config);
    for (i, r) in config.snat.iter().enumerate() {
        let at = root.key("snat").index(i).key("addresses");
        for (j, a) in r.addresses.iter().enumerate() {
            let IpAddr::V4(a) = *a else { continue };
            c.address(
                at.index(j),
                a,
                "a SNAT address",
                &[Role::Gateway, Role::Neighbour],
            );
        }
    }
    super::validate_snat6::validate(c.source, c.errors, config);
}

fn interfaces(c: &mut Check<'_>, config: &Config) {
    for (i, ifc) in config.interfaces.iter().enumerate() {
        let at = KeyPath::root().key("interface").index(i).key("addresses");
        for (j, p) in ifc.addresses.iter().enumerate() {
            // IPv6 ones are checked with the interface (`validate_lb.rs`).
            let Some(p) = p.v4() else { continue };
            let a = p.addr;
            if let Some(why) = special_use(a) {
                c.err(
                    at.index(j),
                    format!("{a} is {why}: it cannot be an interface address"),
                );
            } else if let Some(what) = network_or_broadcast(p, a) {
                c.err(
                    at.index(j),
                    format!(
                        "{p}: {a} is the {what} address of {}/{}; give the interface a host \
                         address, like {}/{}",
                        p.network(),
                        p.len,
                        Ipv4Addr::from(u32::from(p.network()) + 1),
                        p.len
                    ),
                );
            }
        }
    }
}

/// IPv6 gateways and neighbours (other hosts): usable unicast addresses
/// (a link-local one is, as routers' usually are), not ours; an IPv6
/// route's prefix not multicast.
fn others6(c: &mut Check<'_>, config: &Config) {
    let ours: HashMap<Ipv6Addr, String> = config
        .interfaces
        .iter()
        .enumerate()
        .flat_map(|(i, ifc)| {
            ifc.addresses.iter().enumerate().filter_map(move |(j, p)| {
                p.v6()
                    .map(|p| (p.addr, format!("interface[{i}].addresses[{j}]")))
            })
        })
        .chain(
            config
                .services
                .iter()
                .enumerate()
                .filter_map(|(i, s)| match s.vip {
                    IpAddr::V6(vip) => Some((vip, format!("the VIP of service[{i}]"))),
                    IpAddr::V4(_) => None,
                }),
        )
        .chain(config.services.iter().enumerate().flat_map(|(i, s)| {
            s.also_listen
                .iter()
                .enumerate()
                .filter_map(move |(j, a)| match a.ip() {
                    IpAddr::V6(a) => Some((a, format!("service[{i}].also_listen[{j}]"))),
                    IpAddr::V4(_) => None,
                })
        }))
        .collect();
    let other_host = |c: &mut Check<'_>, at: KeyPath, a: IpAddr, role: &str| {
        let IpAddr::V6(a) = a else { return };
        if let Some(why) = special_use6(a) {
            c.err(at, format!("{a} is {why}: it cannot be {role}"));
        } else if let Some(key) = ours.get(&a) {
            c.err(
                at,
                format!("{a} is {key}, an address of this appliance: it cannot be {role}"),
            );
        }
    };
    for (i, r) in config.routes.iter().enumerate() {
        let at = KeyPath::root().key("route").index(i);
        other_host(c, at.key("via"), r.via, "a gateway");
        if let Some(p) = r.prefix.v6().filter(|p| p.addr.is_multicast()) {
            c.err(
                at.key("prefix"),
                format!("{p}: multicast is not routed (ferrolb forwards unicast only)"),
            );
        }
    }
    for (i, n) in config.neighbours.iter().enumerate() {
        let at = KeyPath::root().key("neighbour").index(i).key("address");
        other_host(c, at, n.address, "a neighbour");
    }
}

/// Why nothing can be routed to `p`, if nothing can.
fn unroutable(p: &Ipv4Prefix) -> Option<&'static str> {
    let inside = |net: [u8; 4], len: u8| {
        p.len >= len
            && Ipv4Prefix {
                addr: Ipv4Addr::from(net),
                len,
            }
            .contains(p.addr)
    };
    if inside([127, 0, 0, 0], 8) {
        Some("loopback addresses are never routed")
    } else if inside([224, 0, 0, 0], 4) {
        Some("multicast is not routed (ferrolb forwards unicast only)")
    } else {
        None
    }
}

fn neighbours(c: &mut Check<'_>, config: &Config) {
    let port_macs: Vec<(usize, MacAddr)> = config
        .ports
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.mac.map(|m| (i, m)))
        .collect();
    for (i, n) in config.neighbours.iter().enumerate() {
        let at = KeyPath::root().key("neighbour").index(i);
        if let IpAddr::V4(address) = n.address {
            c.address(at.key("address"), address, "a neighbour", &OWNED);
        }
        let mac = n.mac;
        if mac.is_multicast() {
            let what = if mac.0 == [0xff; 6] {
                "the broadcast MAC"
            } else {
                "a multicast MAC (lowest bit of the first byte set)"
            };
            c.err(
                at.key("mac"),
                format!("{mac} is {what}: a neighbour is one host, with a unicast MAC"),
            );
        } else if let Some((p, _)) = port_macs.iter().find(|(_, m)| *m == mac) {
            c.err(
                at.key("mac"),
                format!(
                    "{mac} is port[{p}]'s own MAC: frames to this neighbour would come back to \
                     ferrolb"
                ),
            );
        }
    }
}

fn services(c: &mut Check<'_>, config: &Config) {
    for (i, s) in config.services.iter().enumerate() {
        let at = KeyPath::root().key("service").index(i);
        // IPv6 VIPs and backends are checked by `validate_family.rs`; the
        // roles here are IPv4's.
        if let IpAddr::V4(vip) = s.vip {
            c.address(
                at.key("vip"),
                vip,
                "a VIP",
                &[Role::Interface, Role::Gateway, Role::Neighbour],
            );
        }
        for (j, a) in s.also_listen.iter().enumerate() {
            let IpAddr::V4(ip) = a.ip() else { continue };
            c.address(
                at.key("also_listen").index(j),
                ip,
                "a VIP",
                &[Role::Interface, Role::Gateway, Role::Neighbour],
            );
        }
        for (j, a) in s.local_addresses.iter().enumerate() {
            let IpAddr::V4(a) = *a else { continue };
            c.address(
                at.key("local_addresses").index(j),
                a,
                "a local address",
                &[Role::Gateway, Role::Neighbour],
            );
        }
        for (j, b) in s.backends.iter().enumerate() {
            let here = at.key("backend").index(j).key("address");
            if s.listens().iter().any(|&(vip, _, _)| vip == b.address) {
                c.err(
                    here,
                    format!(
                        "{} is this service's own VIP: packets sent to this backend would come \
                         back to the service, a loop",
                        b.address
                    ),
                );
            } else if let IpAddr::V4(a) = b.address {
                c.address_or_loopback(here, a, "a backend", &OWNED, true);
            }
        }
    }
}
