//! Persistence (client affinity, `ipvsadm -p`): a client's new connections to
//! a service go to the backend its earlier ones went to, for as long as it
//! keeps coming back within the timeout.
//!
//! As in IPVS, the memory is a template session in the session table, keyed
//! by (client network, service) and holding the backend; each new connection
//! refreshes it. Templates live in the worker's own table, so affinity holds
//! per worker: clients whose connections land on different workers need RSS
//! on the source address, or `mh` without ports, which is stateless.

use std::hash::BuildHasher;
use std::net::Ipv4Addr;

use super::{Backend, Scheduler};
use crate::flow::{ConnCounts, NewSession, Origin, ProtoState, SessionTable};
use crate::tuple::{FiveTuple, IpProto};

/// An IP protocol number no packet of a session carries (255 is reserved), so
/// a template key can never equal a connection's tuple.
const TEMPLATE_PROTO: IpProto = IpProto(255);

/// The service a template belongs to: its id, and the VIP and port it is
/// keyed by (the service's own: all the ports of a range or of a port-0
/// service, and every VIP:port of a group, share one template per client,
/// as IPVS's persistent port 0 and firewall-mark services do).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PersistentService {
    pub id: u32,
    pub vip: Ipv4Addr,
    pub port: u16,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Persistence {
    pub timeout_ms: u32,
    /// Clients within this prefix share one template (`ipvsadm -M`).
    pub prefix_len: u8,
}

impl Persistence {
    /// The template's key for a flow to a service: client network, the
    /// service's own address and port, protocol.
    pub fn template_key(&self, flow: &FiveTuple, service: PersistentService) -> FiveTuple {
        let mask = match self.prefix_len {
            0 => 0,
            p if p >= 32 => u32::MAX,
            p => u32::MAX << (32 - p),
        };
        FiveTuple {
            src: Ipv4Addr::from(u32::from(flow.src) & mask),
            dst: service.vip,
            src_port: u16::from(flow.proto.0),
            dst_port: service.port,
            proto: TEMPLATE_PROTO,
        }
    }

    /// The backend for a new flow: the client's remembered one while it still
    /// takes new flows (weight > 0), otherwise a fresh pick that is then
    /// remembered. If the table cannot hold a template the pick stands
    /// without one.
    pub fn pick<S: BuildHasher>(
        &self,
        table: &mut SessionTable<S>,
        sched: &mut Scheduler,
        conns: &ConnCounts,
        flow: &FiveTuple,
        service: PersistentService,
        now_ms: u64,
    ) -> Option<Backend> {
        let key = self.template_key(flow, service);
        if let Some(hit) = table.lookup(&key) {
            let id = table.get(hit.id).backend;
            if let Some(b) = sched.backends().iter().find(|b| b.id == id && b.weight > 0) {
                let b = *b;
                table.refresh_with_timeout(hit.id, self.timeout_ms, now_ms);
                return Some(b);
            }
            // Drained or removed backend: forget it and choose again.
            table.remove(hit.id);
        }
        let b = sched.pick(flow, conns)?;
        let template = NewSession {
            origin: Origin::Service(service.id),
            timeout_ms: Some(self.timeout_ms),
            ..NewSession::new(key, key, b.id, ProtoState::Template)
        };
        let _ = table.insert(&template, now_ms);
        Some(b)
    }
}
