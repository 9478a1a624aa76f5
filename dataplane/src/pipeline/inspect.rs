//! What a running worker tells about itself when asked (see
//! `worker::WorkerShared::ask`): its counters and live-session counts, its
//! sessions, its neighbours. Everything here runs between polls and may
//! allocate; nothing runs per packet.

use std::net::IpAddr;

use super::counters::LbCounters;
use super::Pipeline;
use crate::buf::PacketBuf;
use crate::flow::state::SessionCounts;
use crate::flow::Origin;
use crate::flow::{ProtoState, Session, TcpState};
use crate::tables::{LbTables, ServiceKey};
use crate::tuple::FiveTuple6;
use crate::wire::ethernet::MacAddr;
use ferrolb_types::Histogram;

/// One worker's load-balancing figures.
#[derive(Clone, Debug, Default)]
pub struct WorkerLbStats {
    /// The config generation the worker ran when it answered.
    pub generation: u64,
    pub counters: LbCounters,
    pub sessions: SessionCounts,
    /// By service id: how long its ended sessions lived (ms,
    /// `histogram::SESSION_LIFETIME_MS`).
    pub lifetimes: Vec<Histogram>,
    /// Slots in use in the session table (sessions and persistence
    /// templates) and its capacity.
    pub table_used: usize,
    pub table_capacity: usize,
    /// The same of the IPv6 session table.
    pub table6_used: usize,
    pub table6_capacity: usize,
}

/// Which sessions a listing shows; every given field must match (the type
/// the control socket's `sessions` request carries).
pub use ferrolb_types::SessionFilter;

/// One session as a listing shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView {
    pub proto: u8,
    /// None for SNAT sessions.
    pub service: Option<ServiceKey>,
    pub snat_rule: Option<u32>,
    pub client: (IpAddr, u16),
    /// Where the client sent to (the VIP, or the remote host for SNAT).
    pub destination: (IpAddr, u16),
    /// FULLNAT local / SNAT address and port.
    pub local: Option<(IpAddr, u16)>,
    /// Real server (SNAT: the remote host).
    pub backend: (IpAddr, u16),
    /// "ESTABLISHED", "SYN_RECV", ..., "UDP", "ICMP".
    pub state: &'static str,
    pub expires_in_ms: u64,
}

/// One learned neighbour (static ones are in the tables).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighbourView {
    /// IPv4 (ARP) or IPv6 (Neighbour Discovery).
    pub addr: IpAddr,
    pub mac: Option<MacAddr>,
    /// `reachable`, `incomplete` or `stale`.
    pub state: &'static str,
}

/// A session state as IPVS and the control socket name it.
pub fn state_name(state: ProtoState) -> &'static str {
    match state {
        ProtoState::Tcp(s) => match s {
            TcpState::None => "NONE",
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
        },
        ProtoState::Udp => "UDP",
        ProtoState::IcmpEcho => "ICMP",
        ProtoState::Template => "TEMPLATE",
    }
}

/// How a session looks from outside, or None for a persistence template
/// (client affinity memory, not a connection).
pub fn session_view(t: &LbTables, s: &Session, expires_in_ms: u64) -> Option<SessionView> {
    if s.state == ProtoState::Template {
        return None;
    }
    let (inb, outb) = (s.inbound(), s.outbound());
    let (service, snat_rule) = match s.origin() {
        Origin::Service(id) => (t.services.get(id as usize).map(|svc| svc.key()), None),
        Origin::Snat(rule) => (None, Some(rule)),
    };
    // The reply tuple runs (real server or remote) -> (local address and
    // port, or the client); DR/TUN sessions have none, the backend says.
    let backend = match (snat_rule, t.backends.get(s.backend as usize)) {
        (None, Some(b)) => (b.addr, b.port),
        _ => (outb.src.into(), outb.src_port),
    };
    Some(SessionView {
        proto: inb.proto.0,
        service,
        snat_rule,
        client: (inb.src.into(), inb.src_port),
        destination: (inb.dst.into(), inb.dst_port),
        local: s
            .holds_local_port()
            .then_some((outb.dst.into(), outb.dst_port)),
        backend,
        state: state_name(s.state),
        expires_in_ms,
    })
}

/// [`session_view`] of an IPv6 session (the backend from the tables, the
/// port a NAT session's replies come from; a FULLNAT session's local
/// address and port from its reply tuple; a SNAT one's remote host and
/// SNAT endpoint from its reply tuple).
pub fn session_view6(
    t: &LbTables,
    s: &Session<FiveTuple6>,
    expires_in_ms: u64,
) -> Option<SessionView> {
    if s.state == ProtoState::Template {
        return None;
    }
    let inb = s.inbound();
    let id = match s.origin() {
        Origin::Service(id) => id,
        // SNAT over IPv6: the remote host and the SNAT endpoint, from the
        // reply tuple, as IPv4's.
        Origin::Snat(rule) => {
            let outb = s.outbound();
            return Some(SessionView {
                proto: inb.proto.0,
                service: None,
                snat_rule: Some(rule),
                client: (inb.src.into(), inb.src_port),
                destination: (inb.dst.into(), inb.dst_port),
                local: Some((outb.dst.into(), outb.dst_port)),
                backend: (outb.src.into(), outb.src_port),
                state: state_name(s.state),
                expires_in_ms,
            });
        }
    };
    let b = t.backends.get(s.backend as usize)?;
    let port = match b.port {
        0 => inb.dst_port,
        p => p,
    };
    Some(SessionView {
        proto: inb.proto.0,
        service: t.services.get(id as usize).map(|svc| svc.key()),
        snat_rule: None,
        client: (inb.src.into(), inb.src_port),
        destination: (inb.dst.into(), inb.dst_port),
        // NAT64: the IPv4 local address and port of its reply key; FULLNAT
        // over IPv6: the IPv6 one.
        local: s.holds_local_port().then(|| {
            match crate::flow::state::nat64::unmapped(s.outbound()) {
                Some(ob) => (ob.dst.into(), ob.dst_port),
                None => (s.outbound().dst.into(), s.outbound().dst_port),
            }
        }),
        backend: (b.addr, port),
        state: state_name(s.state),
        expires_in_ms,
    })
}

impl SessionView {
    /// Whether `filter` lets this session through.
    pub fn matches(&self, filter: &SessionFilter) -> bool {
        filter.service.map_or(true, |k| self.service == Some(k))
            && filter
                .backend
                .map_or(true, |m| m.matches(self.backend.0, self.backend.1))
            && filter
                .client
                .map_or(true, |m| m.matches(self.client.0, self.client.1))
            && filter.proto.map_or(true, |p| self.proto == p.0)
    }
}

impl<P: PacketBuf> Pipeline<P> {
    /// Counters and live-session counts: copies of what the worker keeps,
    /// no table walk.
    pub fn stats(&self, generation: u64) -> WorkerLbStats {
        WorkerLbStats {
            generation,
            counters: self.counters(),
            sessions: self.session_counts(),
            lifetimes: self.path.flow.lifetimes().to_vec(),
            table_used: self.path.flow.sessions().len(),
            table_capacity: self.path.flow.sessions().capacity(),
            table6_used: self.path.flow.sessions6().len(),
            table6_capacity: self.path.flow.sessions6().capacity(),
        }
    }

    /// Resets the connection, packet and byte counters (`ipvsadm -Z`) and
    /// session lifetimes of every service, backend and SNAT rule, or of the
    /// service `only` and its backends. Drop and event counters stay.
    pub fn zero_counters(&mut self, only: Option<ServiceKey>) {
        let id = only.and_then(|key| self.tables.service_index.by_key(&key));
        if only.is_none() || id.is_some() {
            self.path.flow.zero_lifetimes(id);
        }
        let c = &mut self.path.counters;
        let zero = super::counters::FlowCounters::default;
        let Some(key) = only else {
            for f in c
                .services
                .iter_mut()
                .chain(&mut c.backends)
                .chain(&mut c.snat)
            {
                *f = zero();
            }
            return;
        };
        let Some(id) = self.tables.service_index.by_key(&key) else {
            return;
        };
        if let Some(f) = c.services.get_mut(id as usize) {
            *f = zero();
        }
        for (b, info) in self.tables.backends.iter().enumerate() {
            if info.service == id {
                if let Some(f) = c.backends.get_mut(b) {
                    *f = zero();
                }
            }
        }
    }

    /// Slots in the session tables: the range a listing walks, the IPv4
    /// table's slots first, then the IPv6 one's.
    pub fn session_slots(&self) -> usize {
        self.path.flow.sessions().capacity() + self.path.flow.sessions6().capacity()
    }

    /// Shows the sessions in slots `from..from + max_slots` that match
    /// `filter` to `found`, in slot order, until it returns false. Returns
    /// the slot to continue from (the table's capacity when the walk is
    /// done). A listing walks the table a slice per poll this way, so it
    /// sees sessions that come and go meanwhile, or not.
    pub fn scan_sessions(
        &self,
        filter: &SessionFilter,
        from: usize,
        max_slots: usize,
        now_ms: u64,
        mut found: impl FnMut(SessionView) -> bool,
    ) -> usize {
        let table = self.path.flow.sessions();
        // A client of the other family is in none of a table's sessions:
        // that table is skipped whole.
        let client_v6 = filter.client.map(|c| c.is_v6());
        if from >= table.capacity() || client_v6 == Some(true) {
            let from = from.max(table.capacity());
            return self.scan_sessions6(filter, from, max_slots, now_ms, found);
        }
        let end = from.saturating_add(max_slots).min(table.capacity());
        let left = max_slots - (end - from);
        for (id, s) in table.iter_slots(from..end) {
            // Cheap checks first: most of a filtered walk ends here.
            if filter
                .client
                .is_some_and(|c| !c.contains(s.inbound().src.into()))
                || filter.proto.is_some_and(|p| s.inbound().proto != p)
            {
                continue;
            }
            let expires = table.expires_in_ms(s, now_ms);
            let Some(view) = session_view(&self.tables, s, expires) else {
                continue;
            };
            if view.matches(filter) && !found(view) {
                return id.index() + 1;
            }
        }
        // The IPv6 slots follow in the same slice.
        match (end == table.capacity(), left) {
            (true, 1..) => self.scan_sessions6(filter, end, left, now_ms, found),
            _ => end,
        }
    }

    /// [`scan_sessions`](Self::scan_sessions) in the IPv6 table, whose
    /// slots follow the IPv4 table's.
    fn scan_sessions6(
        &self,
        filter: &SessionFilter,
        from: usize,
        max_slots: usize,
        now_ms: u64,
        mut found: impl FnMut(SessionView) -> bool,
    ) -> usize {
        let base = self.path.flow.sessions().capacity();
        let table = self.path.flow.sessions6();
        let start = from - base;
        if filter.client.is_some_and(|c| !c.is_v6()) {
            return base + table.capacity();
        }
        let end = start.saturating_add(max_slots).min(table.capacity());
        for (id, s) in table.iter_slots(start..end) {
            if filter
                .client
                .is_some_and(|c| !c.contains(s.inbound().src.into()))
                || filter.proto.is_some_and(|p| s.inbound().proto != p)
            {
                continue;
            }
            let expires = table.expires_in_ms(s, now_ms);
            let Some(view) = session_view6(&self.tables, s, expires) else {
                continue;
            };
            if view.matches(filter) && !found(view) {
                return base + id.index() + 1;
            }
        }
        base + end
    }

    /// The learned neighbours at `now_ms`, IPv4 then IPv6.
    pub fn neighbours(&self, now_ms: u64) -> Vec<NeighbourView> {
        let egress = &self.path.egress;
        let v4 = egress
            .neighbours
            .states(now_ms)
            .map(|(a, mac, state)| (IpAddr::from(a), mac, state));
        let v6 = egress
            .neighbours6
            .states(now_ms)
            .map(|(a, mac, state)| (IpAddr::from(a), mac, state));
        v4.chain(v6)
            .map(|(addr, mac, state)| NeighbourView { addr, mac, state })
            .collect()
    }
}
