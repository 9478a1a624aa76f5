//! `ferrolbctl explain` of an IPv6 flow (issue 20): what `forward6.rs`
//! would do with a new packet, worked out as `explain.rs` does for IPv4,
//! without sending or changing anything (no session, no solicitation).
//! IPv6 is forwarded by DR, TUN, NAT, FULLNAT and NAT64, so the steps are
//! the session, the service and its pick, the rewrite, the route
//! (connected, or the static route and its gateway), and the neighbour:
//! static, resolved, or the wait for Neighbour Discovery; a NAT64 flow's
//! way out is IPv4's (`explain.rs`: route, hop cache, ARP).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use super::explain::{dropped, line};
use super::Pipeline;
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::tables::Mode;
use crate::tuple::FiveTuple6;
use crate::watch::StepReport;

impl<P: PacketBuf> Pipeline<P> {
    /// The steps a new IPv6 packet `tuple` would take (TCP: a SYN).
    pub fn explain6(&self, tuple: &FiveTuple6) -> Vec<StepReport> {
        let t = &*self.tables;
        let mut out = Vec::new();
        let (index, _) = self.path.flow.worker();
        out.push(line("worker", format!("worker {index} owns the flow")));
        let sessions = self.path.flow.sessions6();
        if let Some(hit) = sessions.lookup(tuple) {
            let s = sessions.get(hit.id);
            let Some(b) = t.backends.get(s.backend as usize) else {
                out.push(dropped(DropReason::NoBackend));
                return out;
            };
            let port = if b.port == 0 { tuple.dst_port } else { b.port };
            out.push(line(
                "session",
                format!(
                    "existing session {} (inbound) to backend {}: its packets follow it",
                    hit.id.index(),
                    SocketAddr::new(b.addr, port)
                ),
            ));
            return self.explain_backend6(b.addr, out);
        }
        out.push(line("session", "miss: a new flow".into()));
        let Some(s) = t.service_index.lookup(&tuple.service_key()) else {
            out.push(line("schedule", "no service (IPv6 has no SNAT)".into()));
            out.push(dropped(DropReason::NoService));
            return out;
        };
        let Some(svc) = t.services.get(s as usize) else {
            out.push(dropped(DropReason::NoService));
            return out;
        };
        let spec = &svc.spec;
        if let Some((why, reason)) = refusal6(svc, tuple.src) {
            out.push(line("schedule", format!("service {}: {why}", spec.key())));
            out.push(dropped(reason));
            return out;
        }
        let Some(b) = self.path.flow.dry_pick(s, tuple) else {
            out.push(line(
                "schedule",
                format!("service {} {:?}: no backend", spec.key(), spec.scheduler),
            ));
            out.push(dropped(DropReason::NoBackend));
            return out;
        };
        let port = if b.port == 0 { tuple.dst_port } else { b.port };
        let persist = match spec.persistence {
            Some(_) => "; persistence configured: a template for this client would decide first",
            None => "",
        };
        out.push(line(
            "schedule",
            format!(
                "service {} mode {} scheduler {:?}: backend {} of {} candidates{persist}",
                spec.key(),
                spec.mode.name(),
                spec.scheduler,
                SocketAddr::new(b.addr, port),
                svc.backend_ids.len()
            ),
        ));
        let rewrite = match spec.mode {
            Mode::Nat => format!(
                "NAT: destination to {}, hop limit - 1, L4 checksum updated; \
                 the replies from it back to the VIP",
                SocketAddr::new(b.addr, port)
            ),
            Mode::Tun => format!(
                "IPv6-in-IPv6 to {} (TUN; the inner packet as it came)",
                b.addr
            ),
            Mode::FullNat if b.addr.is_ipv4() => format!(
                "NAT64: translated to IPv4 (RFC 7915; TTL = hop limit - 1) from a local \
                 address of {:?} and a port of this worker's, to {}; the replies to it \
                 translated back to IPv6 from the VIP",
                spec.local_addrs,
                SocketAddr::new(b.addr, port)
            ),
            Mode::FullNat => format!(
                "FULLNAT: source to a local address of [{}] and a port of {}-{} owned by \
                 worker {index}, destination to {}, hop limit - 1, L4 checksum updated; the \
                 replies to that local port back to the VIP and the client",
                spec.local_addrs6
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                spec.local_ports.0,
                spec.local_ports.1,
                SocketAddr::new(b.addr, port)
            ),
            _ => "MACs only (DR; the IPv6 header as it came)".into(),
        };
        out.push(line("rewrite", rewrite));
        self.explain_backend6(b.addr, out)
    }

    /// The way out to an IPv6 backend (`egress6.rs`), or to a NAT64
    /// service's IPv4 one (the IPv4 egress, `explain.rs`).
    fn explain_backend6(&self, addr: IpAddr, out: Vec<StepReport>) -> Vec<StepReport> {
        match addr {
            IpAddr::V6(to) => self.explain_egress6(to, out),
            IpAddr::V4(to) => self.explain_egress(to, out),
        }
    }

    fn explain_egress6(&self, to: Ipv6Addr, mut out: Vec<StepReport>) -> Vec<StepReport> {
        let t = &*self.tables;
        let Some((prefix, len, hop)) = t.routes6.lookup_prefix(to) else {
            out.push(line("route", format!("{to}: no route")));
            out.push(dropped(DropReason::NoRoute));
            return out;
        };
        let iface = hop.port;
        let Some(i) = t.interfaces.get(usize::from(iface)) else {
            out.push(dropped(DropReason::NoRoute));
            return out;
        };
        let next = hop.neighbour(to);
        let route = match hop.gateway {
            None => format!("{to}: connected, interface {iface}"),
            Some(gw) => format!("{to}: route {prefix}/{len} via {gw}, interface {iface}"),
        };
        out.push(line("route", route));
        if i.addrs6.is_empty() {
            out.push(dropped(DropReason::NdNoSourceAddress));
            return out;
        }
        let neighbour = match (
            t.static_neighbours6.get(&next),
            self.path.egress.neighbours6.lookup(next),
        ) {
            (Some(mac), _) => format!("{next} is {mac} (static)"),
            (None, Some(mac)) => format!("{next} is {mac} (learned)"),
            (None, None) => format!(
                "{next}: unresolved, the packet would wait for Neighbour Discovery \
                 (a Neighbor Solicitation to its solicited-node group)"
            ),
        };
        out.push(line("neighbour", neighbour));
        out.push(line("tx", format!("port {}", i.port)));
        out
    }
}

/// Why `FlowState::open6` refuses a new IPv6 flow of `client` to `svc`,
/// if it does.
fn refusal6(svc: &crate::tables::Service, client: Ipv6Addr) -> Option<(&'static str, DropReason)> {
    let fullnat6 = svc.spec.mode == Mode::FullNat && !svc.spec.local_addrs6.is_empty();
    if !matches!(svc.spec.mode, Mode::Dr | Mode::Tun | Mode::Nat)
        && !fullnat6
        && !svc.spec.is_nat64()
    {
        return Some((
            "IPv6 is forwarded by DR, TUN, NAT, FULLNAT with IPv6 local addresses and NAT64 \
             (FULLNAT to IPv4 backends) only",
            DropReason::NoService,
        ));
    }
    let denied = svc.denies6(client);
    denied.then_some((
        "its access list does not let this client in",
        DropReason::AclDenied,
    ))
}
