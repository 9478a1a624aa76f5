//! The network part of the tables, compiled from the config: interfaces
//! and their ingress (port, VLAN), both families' route tables with their
//! connected prefixes, the owned interface addresses, and where each IPv6
//! backend is reached (`LbTables::links6`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{BackendInfo, Interface, LbConfig};
use crate::net::route::RouteTable;

/// The interface of `interfaces` on whose IPv6 prefix `addr` is.
pub(super) fn on_link6(interfaces: &[Interface], addr: Ipv6Addr) -> Option<u16> {
    let on_link = |&(a, len): &(Ipv6Addr, u8)| {
        let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
        u128::from(a) & mask == u128::from(addr) & mask
    };
    let i = interfaces
        .iter()
        .position(|i| i.addrs6.iter().any(on_link))?;
    u16::try_from(i).ok()
}

/// [`LbTables::links6`] for `backends` by `routes6`.
pub(super) fn links6(
    backends: &[BackendInfo],
    routes6: &RouteTable<Ipv6Addr>,
) -> Vec<Option<(Ipv6Addr, u16)>> {
    let link = |b: &BackendInfo| match b.addr {
        IpAddr::V6(a) => routes6.lookup(a).map(|h| (h.neighbour(a), h.port)),
        IpAddr::V4(_) => None,
    };
    backends.iter().map(link).collect()
}

/// The IPv6 route table of `cfg`: each interface's IPv6 prefixes
/// (connected), then the static routes, each gateway on a connected
/// prefix (the longest one holding it decides the interface).
pub(super) fn compile_routes6(cfg: &LbConfig) -> Result<RouteTable<Ipv6Addr>, String> {
    let mut routes = RouteTable::<Ipv6Addr>::new();
    for (i, iface) in cfg.interfaces.iter().enumerate() {
        for &(addr, len) in &iface.addrs6 {
            routes
                .add_connected(addr, len, i as u16)
                .map_err(|e| format!("interface {i}: address {addr}/{len}: {e}"))?;
        }
    }
    let connected = routes.clone();
    for r in &cfg.routes6 {
        let hop = connected.lookup(r.via).ok_or_else(|| {
            format!(
                "route {}/{}: {} is not in a connected IPv6 prefix",
                r.prefix, r.len, r.via
            )
        })?;
        routes
            .add_static(r.prefix, r.len, r.via, hop.port)
            .map_err(|e| format!("route {}/{}: {e}", r.prefix, r.len))?;
    }
    Ok(routes)
}

/// Interfaces, routes and interface addresses: everything but the entries.
pub(super) type Network = (Vec<(u16, Option<u16>, u16)>, RouteTable, Vec<Ipv4Addr>);

pub(super) fn compile_network(cfg: &LbConfig) -> Result<Network, String> {
    let mut routes = RouteTable::new();
    let mut ingress = Vec::new();
    let mut owned = Vec::new();
    for (i, iface) in cfg.interfaces.iter().enumerate() {
        if usize::from(iface.port) >= cfg.ports.len() {
            return Err(format!("interface {i}: no port {}", iface.port));
        }
        if ingress
            .iter()
            .any(|&(p, v, _)| p == iface.port && v == iface.vlan)
        {
            return Err(format!("interface {i}: its port and VLAN are used twice"));
        }
        ingress.push((iface.port, iface.vlan, i as u16));
        for &(addr, len) in &iface.addrs {
            routes
                .add_connected(addr, len, i as u16)
                .map_err(|e| format!("interface {i}: address {addr}/{len}: {e}"))?;
            owned.push(addr);
        }
    }
    for r in &cfg.routes {
        let hop = routes
            .lookup(r.via)
            .filter(|h| h.gateway.is_none())
            .ok_or_else(|| {
                format!(
                    "route {}/{}: {} is not in a connected prefix",
                    r.prefix, r.len, r.via
                )
            })?;
        routes
            .add_static(r.prefix, r.len, r.via, hop.port)
            .map_err(|e| format!("route {}/{}: {e}", r.prefix, r.len))?;
    }
    Ok((ingress, routes, owned))
}
