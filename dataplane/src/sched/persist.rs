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
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Backend, SchedFlow, Scheduler};
use crate::flow::{ConnCounts, NewSession, Origin, ProtoState, SessionTable};
use crate::tuple::{FiveTuple, FiveTuple6, FlowKey, IpProto};

/// An IP protocol number no packet of a session carries (255 is reserved), so
/// a template key can never equal a connection's tuple.
const TEMPLATE_PROTO: IpProto = IpProto(255);

/// The service a template belongs to: its id, and the VIP and port it is
/// keyed by (the service's own: all the ports of a range or of a port-0
/// service, and every VIP:port of a group, share one template per client,
/// as IPVS's persistent port 0 and firewall-mark services do).
/// `A` is the VIP's address type: `Ipv4Addr`, or `Ipv6Addr` for an IPv6
/// service, whose templates live in the worker's IPv6 table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PersistentService<A = Ipv4Addr> {
    pub id: u32,
    pub vip: A,
    pub port: u16,
}

/// A flow whose client persistence remembers: how its template is keyed,
/// in the table of its family.
pub trait PersistFlow: SchedFlow {
    type Addr: Copy;
    type Key: FlowKey;
    /// The template's key: the client address masked to `prefix_len`
    /// (bits of this family), the protocol in the source port, the
    /// service's own address and port, and a protocol no packet carries.
    fn template_key(&self, prefix_len: u8, service: PersistentService<Self::Addr>) -> Self::Key;
}

impl PersistFlow for FiveTuple {
    type Addr = Ipv4Addr;
    type Key = FiveTuple;

    fn template_key(&self, prefix_len: u8, service: PersistentService) -> FiveTuple {
        let mask = match prefix_len {
            0 => 0,
            p if p >= 32 => u32::MAX,
            p => u32::MAX << (32 - p),
        };
        FiveTuple {
            src: Ipv4Addr::from(u32::from(self.src) & mask),
            dst: service.vip,
            src_port: u16::from(self.proto.0),
            dst_port: service.port,
            proto: TEMPLATE_PROTO,
        }
    }
}

impl PersistFlow for FiveTuple6 {
    type Addr = Ipv6Addr;
    type Key = FiveTuple6;

    fn template_key(&self, prefix_len: u8, service: PersistentService<Ipv6Addr>) -> FiveTuple6 {
        let mask = match prefix_len {
            0 => 0,
            p if p >= 128 => u128::MAX,
            p => u128::MAX << (128 - u32::from(p)),
        };
        FiveTuple6 {
            src: Ipv6Addr::from(u128::from(self.src) & mask),
            dst: service.vip,
            src_port: u16::from(self.proto.0),
            dst_port: service.port,
            proto: TEMPLATE_PROTO,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Persistence {
    pub timeout_ms: u32,
    /// Clients within this prefix share one template (`ipvsadm -M`); in
    /// bits of the service's family (up to 32 for IPv4, 128 for IPv6).
    pub prefix_len: u8,
}

impl Persistence {
    /// The template's key for a flow to a service: client network, the
    /// service's own address and port, protocol.
    pub fn template_key<F: PersistFlow>(
        &self,
        flow: &F,
        service: PersistentService<F::Addr>,
    ) -> F::Key {
        flow.template_key(self.prefix_len, service)
    }

    /// The backend for a new flow: the client's remembered one while it still
    /// takes new flows (weight > 0), otherwise a fresh pick that is then
    /// remembered. If the table cannot hold a template the pick stands
    /// without one.
    pub fn pick<S: BuildHasher, F: PersistFlow>(
        &self,
        table: &mut SessionTable<S, F::Key>,
        sched: &mut Scheduler,
        conns: &ConnCounts,
        flow: &F,
        service: PersistentService<F::Addr>,
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
    pub fn pick_counted<S: BuildHasher, F: PersistFlow>(
        &self,
        table: &mut SessionTable<S, F::Key>,
        sched: &mut Scheduler,
        conns: &ConnCounts,
        flow: &F,
        service: PersistentService<F::Addr>,
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
