//! One worker's flow state: its sessions, and everything that must stay
//! consistent with them. A session holds a backend connection (which lc and
//! wlc read), maybe a FULLNAT or SNAT port, and a place in the live counts
//! of its service or SNAT rule; every way a session starts or ends goes
//! through [`FlowState`], so those stay in step:
//!
//! - [`FlowState::plan`] schedules a new flow (backend, local port, reply
//!   tuple) and counts its connection, without inserting it;
//!   [`FlowState::commit`] inserts it (or undoes the plan);
//! - [`FlowState::end`] ends a session now (a reused client port);
//! - [`FlowState::expire`] ends those whose timer ran out;
//! - [`FlowState::adopt`] follows new tables: grows the counts, clones the
//!   schedulers, ends the sessions of flushed entries and refits the pools.
//!
//! Nothing here allocates on the packet path (plan, commit, end, expire);
//! `adopt` runs between polls and may.

use std::hash::BuildHasher;

mod adopt;
mod fullnat6;
mod install;
mod install6;
pub mod nat64;
mod ops6;
mod snat6;
mod v6;
pub use install::{Installed, Refused};
pub use v6::{nat6_reply, FirstPacket6, Sessions6};

use super::limits::Limits;
use super::pools::{PoolMaker, Pools};
use super::proto::tcp_flags;
use super::table::{session_flags, Forwarding, HopHint};
use super::{
    ConnCounts, Direction, InsertError, NewSession, Origin, ProtoState, Session, SessionId,
    SessionTable, TcpDir, TcpState,
};
use crate::drop::DropReason;
use crate::laddr::LocalPorts;
use crate::packet::L4Kind;
use crate::sched::{Backend, PersistentService, Scheduler};
use crate::tables::{LbTables, Mode, Reborn};
use crate::tuple::{FiveTuple, FlowKey, IpProto};
use ferrolb_types::histogram::{Histogram, SESSION_LIFETIME_MS};

/// Other local ports a new flow tries when its first one's reply tuple is
/// taken.
const PORT_CLASH_RETRIES: u32 = 3;

/// What planning a new flow needs of its first packet.
#[derive(Clone, Copy, Debug)]
pub struct FirstPacket {
    pub tuple: FiveTuple,
    pub kind: L4Kind,
    /// The TCP flags (0 for other protocols).
    pub tcp_flags: u8,
    /// The session table's hash of `tuple`.
    pub hash: u64,
}

/// Where a new flow goes.
#[derive(Clone, Copy, Debug)]
enum Target {
    Service {
        service: u32,
        backend: Backend,
        mode: Mode,
    },
    Snat {
        rule: u32,
    },
}

impl Target {
    fn origin(self) -> Origin {
        match self {
            Target::Service { service, .. } => Origin::Service(service),
            Target::Snat { rule } => Origin::Snat(rule),
        }
    }
}

/// A new flow's session, chosen but not inserted yet: its connection is
/// counted, its local port taken. Give it to [`FlowState::commit`].
#[derive(Debug)]
pub struct Plan {
    new: NewSession,
    /// The hash of `new.inbound`, and of `new.outbound` (whose index slot
    /// the insert probes).
    hash: u64,
    out_hash: u64,
    target: Target,
    /// A TCP flow picked up mid-stream (`ServiceSpec::pickup`).
    picked_up: bool,
    /// A one-packet service's datagram: forwarded without a session.
    one_packet: bool,
    /// With persistence: whether a template chose the backend.
    persisted: Option<bool>,
}

/// A datagram of a one-packet service, scheduled: where it goes, with no
/// session to remember it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnePacket {
    pub service: u32,
    /// The backend id.
    pub backend: u32,
    pub mode: Mode,
}

impl Plan {
    /// Set when the plan is a one-packet service's datagram, which
    /// [`FlowState::commit`] must not be given: it has no session.
    pub fn one_packet(&self) -> Option<OnePacket> {
        match (self.one_packet, self.target) {
            (
                true,
                Target::Service {
                    service,
                    backend,
                    mode,
                },
            ) => Some(OnePacket {
                service,
                backend: backend.id,
                mode,
            }),
            _ => None,
        }
    }

    /// What the plan decided, for a trace.
    pub fn view(&self) -> crate::watch::PlanView {
        let (service, snat_rule, backend, mode) = match self.target {
            Target::Service {
                service,
                backend,
                mode,
            } => (Some(service), None, Some(backend.id), Some(mode)),
            Target::Snat { rule } => (None, Some(rule), None, None),
        };
        crate::watch::PlanView {
            service,
            snat_rule,
            backend,
            mode,
            outbound: self.new.outbound,
            picked_up: self.picked_up,
            one_packet: self.one_packet,
            persisted: self.persisted,
        }
    }

    /// The session table's hash of the reply tuple: prefetch its slot, the
    /// insert probes it.
    pub fn reply_hash(&self) -> u64 {
        self.out_hash
    }

    /// Whether the flow was picked up mid-stream rather than opened by its
    /// first packet.
    pub fn picked_up(&self) -> bool {
        self.picked_up
    }

    /// Whether a packet with `tuple` (hashed `hash`) belongs to the session
    /// this plan makes: the flow's next packet, or its reply.
    pub fn claims(&self, hash: u64, tuple: &FiveTuple) -> bool {
        (self.hash == hash && self.new.inbound == *tuple)
            || (self.out_hash == hash && self.new.outbound == *tuple)
    }
}

/// A session that [`FlowState::commit`] made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    pub id: SessionId,
    pub origin: Origin,
    /// The backend id (u32::MAX for SNAT).
    pub backend: u32,
}

/// Live sessions of one backend, as ipvsadm shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendSessions {
    /// TCP sessions in ESTABLISHED (ActiveConn).
    pub active: u64,
    /// Every other live session (InActConn).
    pub inactive: u64,
}

impl BackendSessions {
    pub fn total(&self) -> u64 {
        self.active + self.inactive
    }
}

/// Live sessions at one moment, by service, backend and SNAT rule id
/// (persistence templates are not sessions and are not counted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionCounts {
    pub services: Vec<u64>,
    pub backends: Vec<BackendSessions>,
    pub snat: Vec<u64>,
}

impl SessionCounts {
    pub fn add(&mut self, o: &SessionCounts) {
        for (list, other) in [(&mut self.services, &o.services), (&mut self.snat, &o.snat)] {
            if list.len() < other.len() {
                list.resize(other.len(), 0);
            }
            for (a, b) in list.iter_mut().zip(other) {
                *a += b;
            }
        }
        if self.backends.len() < o.backends.len() {
            self.backends
                .resize(o.backends.len(), BackendSessions::default());
        }
        for (a, b) in self.backends.iter_mut().zip(&o.backends) {
            a.active += b.active;
            a.inactive += b.inactive;
        }
    }
}

/// Live sessions per service and SNAT rule id, persistence templates
/// apart (per service id), and how long the services' sessions lived when
/// they ended. Backends' counts are the connection counts (`ConnCounts`).
#[derive(Clone, Debug, Default)]
struct LiveCounts {
    services: Vec<u64>,
    snat: Vec<u64>,
    templates: Vec<u64>,
    /// By service id: lifetimes of ended sessions (not templates), in ms.
    lifetimes: Vec<Histogram>,
}

impl LiveCounts {
    fn slot(&mut self, origin: Origin) -> Option<&mut u64> {
        match origin {
            Origin::Service(i) => self.services.get_mut(i as usize),
            Origin::Snat(i) => self.snat.get_mut(i as usize),
        }
    }

    fn opened(&mut self, origin: Origin) {
        if let Some(n) = self.slot(origin) {
            *n += 1;
        }
    }

    fn ended<K: FlowKey>(&mut self, s: &Session<K>, lifetime_ms: u64) {
        if s.state == ProtoState::Template {
            return self.template_gone(s.origin());
        }
        if let Some(n) = self.slot(s.origin()) {
            *n = n.saturating_sub(1);
        }
        if let Origin::Service(i) = s.origin() {
            if let Some(h) = self.lifetimes.get_mut(i as usize) {
                h.observe(&SESSION_LIFETIME_MS, lifetime_ms);
            }
        }
    }

    fn template_made(&mut self, service: u32) {
        if let Some(n) = self.templates.get_mut(service as usize) {
            *n += 1;
        }
    }

    fn template_gone(&mut self, origin: Origin) {
        if let Origin::Service(i) = origin {
            if let Some(n) = self.templates.get_mut(i as usize) {
                *n = n.saturating_sub(1);
            }
        }
    }

    fn of(&self, origin: Origin) -> u64 {
        match origin {
            Origin::Service(i) => self.services.get(i as usize),
            Origin::Snat(i) => self.snat.get(i as usize),
        }
        .copied()
        .unwrap_or(0)
    }

    /// Sizes the counts to the ids of new tables and zeroes those of
    /// reused ids.
    fn fit(&mut self, services: usize, rules: usize, reborn: &Reborn) {
        for list in [&mut self.services, &mut self.templates] {
            list.resize(services, 0);
            zero(list, &reborn.services);
        }
        self.lifetimes
            .resize(services, Histogram::new(&SESSION_LIFETIME_MS));
        for &id in &reborn.services {
            if let Some(h) = self.lifetimes.get_mut(id as usize) {
                h.clear();
            }
        }
        self.snat.resize(rules, 0);
        zero(&mut self.snat, &reborn.snat);
    }
}

/// The parts a session's end touches, borrowed apart from the table so
/// the table's expiry and flush callbacks can update them.
struct Held<'a> {
    conns: &'a mut ConnCounts,
    pools: &'a mut Pools,
    live: &'a mut LiveCounts,
}

impl Held<'_> {
    /// Gives up what an ended session held: its connection count, its
    /// port, its place in the live counts; counts its lifetime.
    fn release(&mut self, s: &Session, lifetime_ms: u64) {
        self.conns.closed(s.backend, s.state);
        self.pools
            .release(s.origin(), s.holds_local_port(), s.outbound());
        self.live.ended(s, lifetime_ms);
    }

    /// The same for an IPv6 session: a NAT64 one holds a port of its
    /// service's IPv4 pool (its reply key IPv4-mapped, `nat64.rs`), a
    /// FULLNAT one a port of the IPv6 pool.
    fn release6(&mut self, s: &Session<crate::tuple::FiveTuple6>, lifetime_ms: u64) {
        self.conns.closed(s.backend, s.state);
        match nat64::unmapped(s.outbound()) {
            Some(ob) => self.pools.release(s.origin(), s.holds_local_port(), &ob),
            None => self
                .pools
                .release6(s.origin(), s.holds_local_port(), s.outbound()),
        }
        self.live.ended(s, lifetime_ms);
    }
}

/// One worker's sessions and what they hold; see the module comment.
pub struct FlowState {
    sessions: SessionTable,
    /// IPv6 sessions and templates (`v6.rs`), sized by
    /// `TableConfig::capacity6`; they share the counts below with IPv4's.
    sessions6: Sessions6,
    conns: ConnCounts,
    /// Per service (rr/wrr cursors are per worker).
    schedulers: Vec<Scheduler>,
    pools: Pools,
    live: LiveCounts,
    /// New-connection rate limits (per worker, see `flow::limits`).
    limits: Limits,
}

impl FlowState {
    /// The flow state of worker `worker_index` of `worker_count` for
    /// `tables`, its timers starting at `now_ms`. Fails only on tables the
    /// pools or the session table refuse.
    pub fn new(
        tables: &LbTables,
        worker_index: usize,
        worker_count: usize,
        now_ms: u64,
    ) -> Result<FlowState, String> {
        let sessions = SessionTable::new(tables.sessions, now_ms)
            .map_err(|e| format!("session table: {e:?}"))?;
        let table6 = crate::flow::TableConfig {
            capacity: tables.sessions.capacity6,
            ..tables.sessions
        };
        let sessions6 =
            SessionTable::new(table6, now_ms).map_err(|e| format!("IPv6 session table: {e:?}"))?;
        // Port order is shuffled from a random seed so ports are not
        // predictable from outside.
        let maker = PoolMaker {
            worker_index,
            worker_count,
            seed_base: std::collections::hash_map::RandomState::new().hash_one(worker_index),
        };
        let mut limits = Limits::new(worker_count, maker.seed_base.rotate_left(17));
        limits.fit(
            |s| super::limits::of_service(tables, s),
            tables.services.len(),
            &[],
        );
        Ok(FlowState {
            sessions,
            sessions6,
            conns: ConnCounts::new(tables.backends.len()),
            schedulers: tables
                .services
                .iter()
                .map(|s| s.scheduler.for_worker(worker_count))
                .collect(),
            limits,
            pools: Pools::new(maker, tables)?,
            live: LiveCounts {
                services: vec![0; tables.services.len()],
                snat: vec![0; tables.snat.len()],
                templates: vec![0; tables.services.len()],
                lifetimes: vec![Histogram::new(&SESSION_LIFETIME_MS); tables.services.len()],
            },
        })
    }

    /// This worker's index and the number of workers.
    pub fn worker(&self) -> (usize, usize) {
        let m = self.pools.maker();
        (m.worker_index, m.worker_count)
    }

    /// The session table, for lookups, prefetches and listings.
    #[inline]
    pub fn sessions(&self) -> &SessionTable {
        &self.sessions
    }

    /// The port pool of a service or SNAT rule, if it has one now.
    pub fn pool(&self, origin: Origin) -> Option<&LocalPorts> {
        self.pools.get(origin)
    }

    /// The IPv6 port pool of FULLNAT service `s`, if it has one now.
    pub fn pool6(&self, s: u32) -> Option<&LocalPorts<std::net::Ipv6Addr>> {
        self.pools.get6(s)
    }

    /// Chooses the session for the first packet of a flow, to a service or
    /// out through a SNAT rule: the backend (counted as opened from now
    /// on), the local port, the reply tuple. Nothing is inserted yet: see
    /// [`commit`](Self::commit).
    pub fn plan(
        &mut self,
        t: &LbTables,
        first: &FirstPacket,
        now: u64,
    ) -> Result<Plan, DropReason> {
        let tuple = first.tuple;
        let is_tcp = tuple.proto == IpProto::TCP;
        let opens = !is_tcp
            || first.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST)
                == tcp_flags::SYN;
        let mut picked_up = false;
        let mut persisted = None;
        let state = match first.kind {
            L4Kind::Tcp => ProtoState::Tcp(TcpState::None),
            L4Kind::Udp => ProtoState::Udp,
            _ => ProtoState::IcmpEcho,
        };
        let l4_flow = matches!(first.kind, L4Kind::Tcp | L4Kind::Udp);
        let service = if l4_flow {
            t.service_index.lookup(&tuple.service_key())
        } else {
            None
        };
        let target = match service {
            Some(s) => {
                let acl = t
                    .services
                    .get(s as usize)
                    .and_then(|svc| svc.acl.as_deref());
                if acl.is_some_and(|acl| !acl.allows(tuple.src)) {
                    return Err(DropReason::AclDenied);
                }
                if !opens {
                    if !picks_up(t, s, first.tcp_flags) {
                        return Err(DropReason::NoSession);
                    }
                    picked_up = true;
                }
                self.limits.admit(s, tuple.src.into(), now)?;
                let (target, p) = self.schedule(t, s, &tuple, now)?;
                persisted = p;
                target
            }
            None => {
                let echo_request = first.kind == (L4Kind::IcmpEcho { request: true });
                let rule = ((l4_flow || echo_request) && !t.owned.contains(tuple.dst))
                    .then(|| t.snat_rule(tuple.src))
                    .flatten()
                    .ok_or(DropReason::NoService)?;
                if !opens {
                    return Err(DropReason::NoSession);
                }
                Target::Snat { rule }
            }
        };
        // A flow picked up mid-stream is an established connection: its
        // next segments keep it there, a FIN or RST closes it as usual.
        let state = if picked_up {
            ProtoState::Tcp(TcpState::Established)
        } else {
            state
        };
        let one_packet = match service {
            Some(s) => t
                .services
                .get(s as usize)
                .is_some_and(|s| s.spec.one_packet),
            None => false,
        };
        let new = self.session_for(target, &tuple, state)?;
        if let (Target::Service { backend, .. }, false) = (target, one_packet) {
            // Counted now, so the flows planned after this one see it.
            self.conns.opened(backend.id, state);
        }
        Ok(Plan {
            out_hash: self.sessions.hash(&new.outbound),
            new,
            hash: first.hash,
            target,
            picked_up,
            one_packet,
            persisted,
        })
    }

    /// The backend service `s`'s scheduler would give a new flow now,
    /// worked out on a copy of it: nothing here moves (an rr/wrr cursor,
    /// a connection count). Persistence templates are not consulted. For
    /// `ferrolbctl explain`; allocates the copy.
    pub fn dry_pick<F: crate::sched::SchedFlow>(
        &self,
        s: u32,
        tuple: &F,
    ) -> Option<crate::sched::Backend> {
        let mut sched = self.schedulers.get(s as usize)?.clone();
        sched.pick(tuple, &self.conns)
    }

    /// Whether a backend of service `s` is over its connection threshold
    /// on this worker (as of its last scheduling).
    pub fn overloaded(&self, s: u32) -> bool {
        self.schedulers
            .get(s as usize)
            .is_some_and(Scheduler::overloaded)
    }

    /// The backend service `s` gives a new flow (persistence first), and
    /// with persistence whether a template chose it.
    fn schedule(
        &mut self,
        t: &LbTables,
        s: u32,
        tuple: &FiveTuple,
        now: u64,
    ) -> Result<(Target, Option<bool>), DropReason> {
        let mut persisted = None;
        let svc = t.services.get(s as usize).ok_or(DropReason::NoService)?;
        let sched = self
            .schedulers
            .get_mut(s as usize)
            .ok_or(DropReason::NoService)?;
        // Before persistence, which reads the weights overload sets to 0.
        sched.refresh_overload(&self.conns);
        let backend = match &svc.spec.persistence {
            Some(p) => {
                let service = PersistentService {
                    id: s,
                    // The service's own VIP (an also_listen group shares
                    // its templates); IPv4, as the flow that found it.
                    vip: match svc.spec.vip {
                        std::net::IpAddr::V4(vip) => vip,
                        std::net::IpAddr::V6(_) => return Err(DropReason::NoService),
                    },
                    port: svc.spec.port,
                };
                let picked =
                    p.pick_counted(&mut self.sessions, sched, &self.conns, tuple, service, now);
                if let Some(origin) = picked.forgot {
                    self.live.template_gone(origin);
                }
                if picked.remembered {
                    self.live.template_made(s);
                }
                persisted = Some(picked.backend.is_some() && !picked.remembered);
                picked.backend
            }
            None => sched.pick(tuple, &self.conns),
        }
        .ok_or(DropReason::NoBackend)?;
        let target = Target::Service {
            service: s,
            backend,
            mode: svc.spec.mode,
        };
        Ok((target, persisted))
    }

    /// The session a new flow to `target` makes: its reply tuple, with a
    /// local port taken for FULLNAT and SNAT.
    fn session_for(
        &mut self,
        target: Target,
        tuple: &FiveTuple,
        state: ProtoState,
    ) -> Result<NewSession, DropReason> {
        let tuple = *tuple;
        let origin = target.origin();
        match target {
            Target::Service { backend, mode, .. } => {
                // Port 0: the backend listens on the port the client asked
                // for (multi-port services).
                let backend_port = match backend.port {
                    0 => tuple.dst_port,
                    p => p,
                };
                // An IPv4 flow's backend is IPv4: the config does not mix
                // families in a service (no backend if it ever did).
                let std::net::IpAddr::V4(baddr) = backend.addr else {
                    return Err(DropReason::NoBackend);
                };
                let (outbound, flags) = match mode {
                    Mode::Dr | Mode::Tun => (tuple, session_flags::SINGLE),
                    Mode::Nat => (
                        FiveTuple {
                            src: baddr,
                            dst: tuple.src,
                            src_port: backend_port,
                            dst_port: tuple.src_port,
                            proto: tuple.proto,
                        },
                        0,
                    ),
                    Mode::FullNat => {
                        let (lip, lport) = self
                            .pools
                            .allocate(origin, baddr, backend_port)
                            .ok_or(DropReason::PortsExhausted)?;
                        (
                            FiveTuple {
                                src: baddr,
                                dst: lip,
                                src_port: backend_port,
                                dst_port: lport,
                                proto: tuple.proto,
                            },
                            session_flags::LOCAL_PORT,
                        )
                    }
                };
                Ok(NewSession {
                    origin,
                    forwarding: match mode {
                        Mode::Dr => Forwarding::Dr,
                        Mode::Tun => Forwarding::Tun,
                        Mode::Nat => Forwarding::Nat,
                        Mode::FullNat => Forwarding::FullNat,
                    },
                    flags,
                    ..NewSession::new(tuple, outbound, backend.id, state)
                })
            }
            Target::Snat { .. } => {
                let echo = tuple.proto == IpProto::ICMP;
                // Echo flows have no remote port: the identifier is ours to choose.
                let remote_port = if echo { 0 } else { tuple.dst_port };
                let (sip, sport) = self
                    .pools
                    .allocate(origin, tuple.dst, remote_port)
                    .ok_or(DropReason::PortsExhausted)?;
                let outbound = FiveTuple {
                    src: tuple.dst,
                    dst: sip,
                    src_port: if echo { sport } else { tuple.dst_port },
                    dst_port: sport,
                    proto: tuple.proto,
                };
                Ok(NewSession {
                    origin,
                    forwarding: Forwarding::Snat,
                    flags: session_flags::LOCAL_PORT,
                    ..NewSession::new(tuple, outbound, u32::MAX, state)
                })
            }
        }
    }

    /// Inserts a planned session. When its reply tuple is taken (a local
    /// port still held by a session of an entry this one replaced, on the
    /// same local address), tries a few other ports: each failed one goes
    /// back to the end of its pool. A session that cannot be inserted is
    /// no longer counted as opened.
    pub fn commit(&mut self, plan: Plan, now: u64) -> Result<Opened, DropReason> {
        let Plan {
            mut new,
            hash,
            target,
            ..
        } = plan;
        let mut tries = 0;
        let inserted = loop {
            match self.insert(&new, hash, now) {
                Err(DropReason::SessionClash)
                    if new.flags & session_flags::LOCAL_PORT != 0 && tries < PORT_CLASH_RETRIES =>
                {
                    tries += 1;
                    match self.session_for(target, &new.inbound, new.state) {
                        Ok(again) => new = again,
                        Err(reason) => break Err(reason),
                    }
                }
                done => break done,
            }
        };
        match inserted {
            Ok(id) => {
                self.live.opened(new.origin);
                Ok(Opened {
                    id,
                    origin: new.origin,
                    backend: new.backend,
                })
            }
            Err(reason) => {
                if let Target::Service { backend, .. } = target {
                    self.conns.closed(backend.id, new.state);
                }
                Err(reason)
            }
        }
    }

    /// Inserts a session; on failure gives back the local port it holds.
    fn insert(&mut self, new: &NewSession, hash: u64, now: u64) -> Result<SessionId, DropReason> {
        self.sessions.insert_hashed(new, hash, now).map_err(|e| {
            let holds = new.flags & session_flags::LOCAL_PORT != 0;
            self.pools.release(new.origin, holds, &new.outbound);
            match e {
                InsertError::Full => DropReason::TableFull,
                InsertError::Exists => DropReason::SessionClash,
            }
        })
    }

    /// Ends a live session now (`now_ms` for its lifetime), giving back
    /// what it held. Returns whether there was one.
    pub fn end(&mut self, id: SessionId, now_ms: u64) -> bool {
        let lifetime = self.sessions.lifetime_ms(id, now_ms);
        let Some(old) = self.sessions.remove(id) else {
            return false;
        };
        self.held().release(&old, lifetime);
        true
    }

    /// A packet of session `id` travelling `dir`, with its TCP flags if it
    /// is TCP: moves the session's TCP state (and its backend's active or
    /// inactive count with it) and re-arms its timer. Returns the session.
    #[inline(always)]
    pub fn on_packet(
        &mut self,
        id: SessionId,
        dir: Direction,
        tcp_flags: Option<u8>,
        now: u64,
    ) -> &Session {
        match tcp_flags {
            Some(flags) => {
                let s = self.sessions.get(id);
                let tcp_dir = match (dir, s.forwarding()) {
                    // DR and TUN replies bypass us: only the client's side is seen.
                    (Direction::Inbound, Forwarding::Dr | Forwarding::Tun) => TcpDir::InputOnly,
                    (Direction::Inbound, _) => TcpDir::Input,
                    (Direction::Outbound, _) => TcpDir::Output,
                };
                let tr = self.sessions.on_tcp(id, tcp_dir, flags, now);
                if tr.from != tr.to {
                    let backend = self.sessions.get(id).backend;
                    self.conns.changed(backend, tr);
                }
            }
            None => self.sessions.refresh(id, now),
        }
        self.sessions.get(id)
    }

    /// Sessions in SYN_RECV on this worker (counted as states change, no
    /// table walk).
    #[inline]
    pub fn embryonic(&self) -> u64 {
        self.conns.syn_recv()
    }

    /// Marks session `id` as one the SYN proxy splices
    /// (`session_flags::SYN_PROXY`).
    pub fn mark_syn_proxied(&mut self, id: SessionId) {
        self.sessions.mark_syn_proxied(id);
    }

    /// Marks session `id` as carrying a PROXY protocol header
    /// (`session_flags::PROXY_HEADER`).
    pub fn mark_proxy_header(&mut self, id: SessionId) {
        self.sessions.mark_proxy_header(id);
    }

    /// Remembers where session `id`'s packets travelling `dir` found their
    /// next hop (see `HopHint`).
    #[inline]
    pub fn set_hop_hint(&mut self, id: SessionId, dir: Direction, hint: HopHint) {
        self.sessions.set_hop_hint(id, dir, hint);
    }

    /// Re-arms session `id`'s timer to `timeout_ms` from `now`.
    #[inline]
    pub fn refresh_with_timeout(&mut self, id: SessionId, timeout_ms: u32, now: u64) {
        self.sessions.refresh_with_timeout(id, timeout_ms, now);
    }

    /// Ends the sessions whose timers ran out at `now`, at most `budget`
    /// of them. Returns how many ended.
    pub fn expire(&mut self, now: u64, budget: usize) -> u64 {
        let (sessions, mut held) = self.table_and_held();
        let mut expired = 0u64;
        sessions.expire(now, budget, |s, lifetime| {
            expired += 1;
            held.release(s, lifetime);
        });
        // The IPv6 table gets what budget is left, and at least a little,
        // so a busy IPv4 table does not hold IPv6 sessions past their time.
        let left = (budget as u64).saturating_sub(expired) as usize;
        expired + self.expire6(now, left.max(budget / 8))
    }

    fn held(&mut self) -> Held<'_> {
        self.table_and_held().1
    }

    /// The table and, borrowed apart from it, what a session's end
    /// touches: for the table's expiry and flush callbacks.
    fn table_and_held(&mut self) -> (&mut SessionTable, Held<'_>) {
        let FlowState {
            sessions,
            conns,
            pools,
            live,
            ..
        } = self;
        (sessions, Held { conns, pools, live })
    }

    /// The same for the IPv6 table.
    fn table6_and_held(&mut self) -> (&mut Sessions6, Held<'_>) {
        let FlowState {
            sessions6,
            conns,
            pools,
            live,
            ..
        } = self;
        (sessions6, Held { conns, pools, live })
    }
}

/// Zeroes the counts of `ids` in `list`.
fn zero(list: &mut [u64], ids: &[u32]) {
    for &id in ids {
        if let Some(n) = list.get_mut(id as usize) {
            *n = 0;
        }
    }
}

/// Whether service `s` picks up a TCP segment with `flags` that has no
/// session: the service allows it and the segment is a plain mid-stream
/// one (an ACK, no SYN, no RST: a reset never makes a session).
fn picks_up(t: &LbTables, s: u32, flags: u8) -> bool {
    let mid_stream = flags & (tcp_flags::SYN | tcp_flags::RST | tcp_flags::ACK) == tcp_flags::ACK;
    mid_stream
        && t.services
            .get(s as usize)
            .is_some_and(|x| x.spec.pickup && matches!(x.spec.mode, Mode::Dr | Mode::Tun))
}
