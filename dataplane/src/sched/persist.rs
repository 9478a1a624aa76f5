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
        self.pick_counted(table, sched, conns, flow, service, now_ms)
            .backend
    }

    /// [`pick`](Self::pick), saying which templates it removed and made,
    /// so the caller can count the ids templates refer to. A template is
    /// followed only if it was made for this very service id (not an
    /// earlier service with the same address and port, whose id may since
    /// have been freed) and its backend still takes new flows.
    pub fn pick_counted<S: BuildHasher>(
        &self,
        table: &mut SessionTable<S>,
        sched: &mut Scheduler,
        conns: &ConnCounts,
        flow: &FiveTuple,
        service: PersistentService,
        now_ms: u64,
    ) -> Picked {
        let key = self.template_key(flow, service);
        let mut forgot = None;
        if let Some(hit) = table.lookup(&key) {
            let template = table.get(hit.id);
            let (id, origin) = (template.backend, template.origin());
            let ours = origin == Origin::Service(service.id);
            if let Some(b) = sched
                .backends()
                .iter()
                .find(|b| ours && b.id == id && b.weight > 0)
            {
                let b = *b;
                table.refresh_with_timeout(hit.id, self.timeout_ms, now_ms);
                return Picked {
                    backend: Some(b),
                    forgot,
                    remembered: false,
                };
            }
            // Drained or removed backend, or another service's template:
            // forget it and choose again.
            forgot = table.remove(hit.id).map(|s| s.origin());
        }
        let Some(b) = sched.pick(flow, conns) else {
            return Picked {
                backend: None,
                forgot,
                remembered: false,
            };
        };
        let template = NewSession {
            origin: Origin::Service(service.id),
            timeout_ms: Some(self.timeout_ms),
            ..NewSession::new(key, key, b.id, ProtoState::Template)
        };
        let remembered = table.insert(&template, now_ms).is_ok();
        Picked {
            backend: Some(b),
            forgot,
            remembered,
        }
    }
}

/// What [`Persistence::pick_counted`] chose and did to templates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Picked {
    pub backend: Option<Backend>,
    /// The origin of a template it removed.
    pub forgot: Option<Origin>,
    /// Whether it inserted a template (with origin the picked-for service).
    pub remembered: bool,
}
