//! SNAT over IPv6 (issue 20): a `[[snat]]` rule is of its source's family,
//! its addresses too; an IPv6 rule's addresses must be usable unicast and
//! not another address of this appliance or of a neighbour (as FULLNAT's
//! IPv6 local addresses: an interface address is refused too). Its
//! sessions are synced as IPv4 SNAT's.
//! (The VIP clash, duplicates and the source's host bits are the rules of
//! either family: `validate_lb.rs`.)

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

use super::validate_addr::special_use6;
use super::{Config, ConfigError, ConfigSource, KeyPath};

/// What each IPv6 address of this appliance or its neighbours is, named.
fn taken6(config: &Config) -> HashMap<Ipv6Addr, String> {
    let mut taken = HashMap::new();
    for (i, ifc) in config.interfaces.iter().enumerate() {
        for (j, p) in ifc.addresses.iter().enumerate() {
            if let Some(p) = p.v6() {
                taken.entry(p.addr).or_insert_with(|| {
                    format!("interface[{i}].addresses[{j}], an interface address")
                });
            }
        }
    }
    for (i, s) in config.services.iter().enumerate() {
        for (j, a) in s.local_addresses.iter().enumerate() {
            if let IpAddr::V6(a) = *a {
                taken
                    .entry(a)
                    .or_insert_with(|| format!("service[{i}].local_addresses[{j}]"));
            }
        }
    }
    for (i, r) in config.routes.iter().enumerate() {
        if let IpAddr::V6(via) = r.via {
            taken
                .entry(via)
                .or_insert_with(|| format!("the gateway of route[{i}]"));
        }
    }
    for (i, n) in config.neighbours.iter().enumerate() {
        if let IpAddr::V6(a) = n.address {
            taken.entry(a).or_insert_with(|| format!("neighbour[{i}]"));
        }
    }
    taken
}

pub(super) fn validate(source: &ConfigSource, errors: &mut Vec<ConfigError>, config: &Config) {
    let taken = taken6(config);
    let mut err = |at: KeyPath, message: String| errors.push(source.error_at(&at, message));
    for (i, r) in config.snat.iter().enumerate() {
        let at = KeyPath::root().key("snat").index(i);
        let p = r.source;
        let family = |v6: bool| if v6 { "IPv6" } else { "IPv4" };
        for (j, &a) in r.addresses.iter().enumerate() {
            let here = at.key("addresses").index(j);
            if a.is_ipv6() != p.is_ipv6() {
                err(
                    here,
                    format!(
                        "{a} is {} and the source {p} is {}: a SNAT rule's addresses are of \
                         its source's family",
                        family(a.is_ipv6()),
                        family(p.is_ipv6())
                    ),
                );
                continue;
            }
            let IpAddr::V6(a) = a else { continue };
            if let Some(why) = special_use6(a) {
                err(here, format!("{a} is {why}: it cannot be a SNAT address"));
            } else if let Some(key) = taken.get(&a) {
                err(here, format!("{a} is {key}: it cannot be a SNAT address"));
            }
        }
        let Some(p6) = p.v6() else { continue };
        if p6.addr.is_multicast() {
            err(
                at.key("source"),
                format!("{p}: a multicast prefix sends no flows to translate"),
            );
        }
    }
}
