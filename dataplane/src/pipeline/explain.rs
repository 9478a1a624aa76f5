//! `ferrolbctl explain`: what a new packet with a given 5-tuple would do
//! now on this worker, worked out without sending anything or changing
//! any state (no session, no scheduler cursor moved, no port taken, no
//! ARP). Runs between polls, may allocate.

use std::net::Ipv4Addr;

use super::Pipeline;
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::Direction;
use crate::tables::Mode;
use crate::tuple::FiveTuple;
use crate::watch::StepReport;

pub(super) fn line(step: &'static str, detail: String) -> StepReport {
    StepReport {
        step,
        detail,
        fields: Vec::new(),
    }
}

pub(super) fn dropped(reason: DropReason) -> StepReport {
    line("drop", reason.name().to_string())
}

impl<P: PacketBuf> Pipeline<P> {
    /// The steps a new packet `tuple` would take (TCP: a SYN).
    pub fn explain(&self, tuple: &FiveTuple) -> Vec<StepReport> {
        let t = &*self.tables;
        let mut out = Vec::new();
        let (index, _) = self.path.flow.worker();
        out.push(line("worker", format!("worker {index} owns the flow")));
        if let Some(hit) = self.path.flow.sessions().lookup(tuple) {
            let s = self.path.flow.sessions().get(hit.id);
            let dir = match hit.dir {
                Direction::Inbound => "inbound",
                _ => "reply",
            };
            let b = t.backends.get(s.backend as usize);
            out.push(line(
                "session",
                format!(
                    "existing session {} ({dir}) to backend {}: its packets follow it",
                    hit.id.index(),
                    b.map_or("-".into(), |b| std::net::SocketAddr::new(b.addr, b.port)
                        .to_string())
                ),
            ));
            return out;
        }
        out.push(line("session", "miss: a new flow".into()));
        let key = tuple.service_key();
        let Some(s) = t.service_index.lookup(&key) else {
            return self.explain_snat(tuple, out);
        };
        let Some(svc) = t.services.get(s as usize) else {
            out.push(dropped(DropReason::NoService));
            return out;
        };
        let spec = &svc.spec;
        let Some(b) = self.path.flow.dry_pick(s, tuple) else {
            out.push(line(
                "schedule",
                format!("service {} {:?}: no backend", spec.key(), spec.scheduler),
            ));
            out.push(dropped(DropReason::NoBackend));
            return out;
        };
        let port = if b.port == 0 { tuple.dst_port } else { b.port };
        // What explain is asked about is an IPv4 flow: its backends are.
        let std::net::IpAddr::V4(addr) = b.addr else {
            out.push(dropped(DropReason::NoBackend));
            return out;
        };
        let persist = match spec.persistence {
            Some(_) => "; persistence configured: a template for this client would decide first",
            None => "",
        };
        out.push(line(
            "schedule",
            format!(
                "service {} mode {} scheduler {:?}: backend {}:{port} of {} candidates{persist}",
                spec.key(),
                spec.mode.name(),
                spec.scheduler,
                addr,
                svc.backend_ids.len()
            ),
        ));
        let (rewrite, next) = match spec.mode {
            Mode::Dr => ("MACs only (DR)".to_string(), addr),
            Mode::Tun => (format!("IP-in-IP to {} (TUN)", addr), addr),
            Mode::Nat => (
                format!(
                    "{} {}:{} -> {}:{port}",
                    tuple.proto, tuple.src, tuple.src_port, addr
                ),
                addr,
            ),
            Mode::FullNat => {
                let laddrs: Vec<String> = spec.local_addrs.iter().map(|a| a.to_string()).collect();
                (
                    format!(
                        "{} LOCAL:PORT -> {}:{port}, LOCAL one of [{}], PORT from {}-{}",
                        tuple.proto,
                        addr,
                        laddrs.join(", "),
                        spec.local_ports.0,
                        spec.local_ports.1
                    ),
                    addr,
                )
            }
        };
        out.push(line("rewrite", rewrite));
        self.explain_egress(next, out)
    }

    fn explain_snat(&self, tuple: &FiveTuple, mut out: Vec<StepReport>) -> Vec<StepReport> {
        let t = &*self.tables;
        let rule = (!t.owned.contains(tuple.dst))
            .then(|| t.snat_rule(tuple.src))
            .flatten();
        let Some(rule) = rule else {
            out.push(line("schedule", "no service, no SNAT rule".into()));
            out.push(dropped(DropReason::NoService));
            return out;
        };
        let addrs = t
            .snat
            .get(rule as usize)
            .map(|r| format!("{:?}", r.spec.addrs))
            .unwrap_or_default();
        out.push(line("schedule", format!("SNAT rule #{rule}")));
        out.push(line(
            "rewrite",
            format!("source becomes one of {addrs} with a port from its pool"),
        ));
        self.explain_egress(tuple.dst, out)
    }

    pub(super) fn explain_egress(
        &self,
        dst: Ipv4Addr,
        mut out: Vec<StepReport>,
    ) -> Vec<StepReport> {
        let t = &*self.tables;
        let Some(hop) = t.routes.lookup(dst) else {
            out.push(dropped(DropReason::NoRoute));
            return out;
        };
        let next = hop.neighbour(dst);
        let port = t.interfaces.get(usize::from(hop.port)).map(|i| i.port);
        let via = hop
            .gateway
            .map_or("connected".to_string(), |g| format!("via {g}"));
        out.push(line(
            "route",
            format!("{dst}: {via}, interface {}", hop.port),
        ));
        let mac = t
            .static_neighbours
            .get(&next)
            .copied()
            .map(|m| format!("{m} (static)"))
            .or_else(|| {
                self.path
                    .egress
                    .neighbours
                    .lookup(next)
                    .map(|m| format!("{m} (learned)"))
            });
        out.push(line(
            "neighbour",
            mac.map_or(
                format!("{next}: unresolved, the packet would wait for ARP"),
                |m| format!("{next} is {m}"),
            ),
        ));
        out.push(line(
            "tx",
            port.map_or("no port".into(), |p| format!("port {p}")),
        ));
        out
    }
}
