//! `[vrrp]`: the addresses keepalived moves between this node and its
//! peer (docs/high-availability.md). Each is one of the load balancer's own
//! addresses (a VIP, a FULLNAT local address, a SNAT address, an interface
//! address) that this node answers for only while keepalived has put it on
//! one of the ports' kernel interfaces, i.e. while this node is the VRRP
//! master for it. Without the section every address is always this node's.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::{Config, ConfigError, ConfigSource, KeyPath};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VrrpConfig {
    /// keepalived's `virtual_ipaddress` list, without prefix lengths.
    pub addresses: Vec<Ipv4Addr>,
}

pub(super) fn validate(config: &Config, source: &ConfigSource, errors: &mut Vec<ConfigError>) {
    let Some(vrrp) = &config.vrrp else {
        return;
    };
    let mut err = |path: KeyPath, msg: String| errors.push(source.error_at(&path, msg));
    let at = KeyPath::root().key("vrrp");
    if !config.ports.iter().any(|p| p.kernel.is_some()) {
        err(
            at.clone(),
            "[vrrp] follows the addresses keepalived puts on the ports' kernel interfaces, and \
             no [[port]] has one: add kernel = { name = ... } to the port keepalived runs on"
                .into(),
        );
    }
    if vrrp.addresses.is_empty() {
        err(
            at.key("addresses"),
            "no addresses: list keepalived's virtual_ipaddress entries, or remove [vrrp]".into(),
        );
    }
    let owned = super::kernel::dataplane_addresses(config);
    let mut seen: HashMap<Ipv4Addr, usize> = HashMap::new();
    for (i, a) in vrrp.addresses.iter().enumerate() {
        let key = at.key("addresses").index(i);
        if let Some(first) = seen.insert(*a, i) {
            err(
                key.clone(),
                format!("{a} is listed twice (first at vrrp.addresses[{first}])"),
            );
        }
        if !owned.contains_key(a) {
            err(
                key,
                format!(
                    "{a} is not one of the load balancer's addresses (a VIP, a local or SNAT \
                     address, an interface address): VRRP can only move what the dataplane \
                     answers for"
                ),
            );
        }
    }
}
