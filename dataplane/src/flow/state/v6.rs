//! IPv6 flows (issue 20): their sessions live in a table of their own
//! (`FiveTuple6` keys, two cache lines a session) beside the IPv4 one, and
//! share everything else a session holds with IPv4's: the backend
//! connection counts lc and wlc read, the live counts by service, the
//! schedulers, the rate limits. IPv6 forwards DR, TUN, NAT and FULLNAT: a
//! DR or TUN session is indexed by its client's tuple alone, a NAT one by
//! that and by its backend's reply tuple (IPv4 NAT's two keys), so the
//! backend's replies find it; a FULLNAT one's reply tuple is the backend's
//! endpoint to a local address and port of its service's IPv6 pool, which
//! the session holds until it ends (`fullnat6.rs`).
//!
//! A new IPv6 flow is scheduled and inserted at once (no burst planning:
//! that is IPv4's, whose new flows are most of a SYN flood's cost).

use foldhash::fast::RandomState;
use std::net::IpAddr;

use super::{FlowState, Opened};
use crate::drop::DropReason;
use crate::flow::proto::tcp_flags;
use crate::flow::table::{session_flags, Forwarding};
use crate::flow::{
    Direction, InsertError, NewSession, Origin, ProtoState, Session, SessionId, SessionTable,
    TcpDir, TcpState,
};
use crate::net::hop_cache::HopHint;
use crate::sched::{Backend, PersistentService};
use crate::tables::{LbTables, Mode};
use crate::tuple::{FiveTuple6, IpProto};

/// The IPv6 session table.
pub type Sessions6 = SessionTable<RandomState, FiveTuple6>;

/// What opening an IPv6 flow needs of its first packet.
#[derive(Clone, Copy, Debug)]
pub struct FirstPacket6 {
    pub tuple: FiveTuple6,
    /// The TCP flags (0 for UDP).
    pub tcp_flags: u8,
    /// The IPv6 table's hash of `tuple`.
    pub hash: u64,
}

impl FlowState {
    /// The IPv6 session table, for lookups and listings.
    #[inline]
    pub fn sessions6(&self) -> &Sessions6 {
        &self.sessions6
    }

    /// Schedules the first packet of an IPv6 flow to the DR, TUN, NAT or
    /// NAT64 service `s` (found by the caller from the packet's
    /// destination) and inserts its session: the backend by persistence or
    /// the scheduler, counted as opened; a NAT64 one's local port taken
    /// (`nat64.rs`).
    pub fn open6(
        &mut self,
        t: &LbTables,
        s: u32,
        first: &FirstPacket6,
        now: u64,
    ) -> Result<Opened, DropReason> {
        let tuple = first.tuple;
        let svc = t.services.get(s as usize).ok_or(DropReason::NoService)?;
        let forwarding = match svc.spec.mode {
            Mode::Dr => Forwarding::Dr,
            Mode::Tun => Forwarding::Tun,
            Mode::Nat => Forwarding::Nat,
            // With IPv6 backends (`fullnat6.rs`), or NAT64 with IPv4 ones
            // (`nat64.rs`): the backend's family says which below.
            Mode::FullNat => Forwarding::FullNat,
        };
        if svc.denies6(tuple.src) {
            return Err(DropReason::AclDenied);
        }
        let state = match tuple.proto {
            IpProto::TCP => ProtoState::Tcp(TcpState::None),
            _ => ProtoState::Udp,
        };
        let mut picked_up = false;
        let opening = tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST;
        if tuple.proto == IpProto::TCP && first.tcp_flags & opening != tcp_flags::SYN {
            if !super::picks_up(t, s, first.tcp_flags) {
                return Err(DropReason::NoSession);
            }
            picked_up = true;
        }
        self.limits.admit(s, tuple.src.into(), now)?;
        let backend = self.schedule6(t, s, &tuple, now)?;
        let state = match picked_up {
            true => ProtoState::Tcp(TcpState::Established),
            false => state,
        };
        let (outbound, flags) = match (forwarding, backend.addr) {
            (Forwarding::Dr | Forwarding::Tun, IpAddr::V6(_)) => (tuple, 0),
            (Forwarding::Nat, IpAddr::V6(b)) => (nat6_reply(&tuple, b, backend.port), 0),
            // `insert_fullnat6` takes the local endpoint from the IPv6 pool.
            (Forwarding::FullNat, IpAddr::V6(b)) => (nat6_reply(&tuple, b, backend.port), 0),
            (Forwarding::FullNat, IpAddr::V4(_)) => (
                self.nat64_reply(s, &tuple, &backend)?,
                session_flags::LOCAL_PORT,
            ),
            _ => return Err(DropReason::NoBackend),
        };
        let new = NewSession {
            origin: Origin::Service(s),
            forwarding,
            flags,
            ..NewSession::new(tuple, outbound, backend.id, state)
        };
        let fullnat6 = forwarding == Forwarding::FullNat && backend.addr.is_ipv6();
        let inserted = match fullnat6 {
            true => Ok(self.insert_fullnat6(new, first.hash, now)?),
            false => self.sessions6.insert_hashed(&new, first.hash, now),
        };
        let id = match inserted {
            Ok(id) => id,
            Err(e) => {
                if flags != 0 {
                    self.nat64_unreserve(new.origin, &new.outbound);
                }
                return Err(match e {
                    InsertError::Full => DropReason::TableFull,
                    InsertError::Exists => DropReason::SessionClash,
                });
            }
        };
        self.conns.opened(backend.id, state);
        self.live.opened(new.origin);
        Ok(Opened {
            id,
            origin: new.origin,
            backend: backend.id,
        })
    }

    /// The backend service `s` gives a new IPv6 flow: its persistence
    /// template (in the IPv6 table) first, else its scheduler.
    pub(super) fn schedule6(
        &mut self,
        t: &LbTables,
        s: u32,
        tuple: &FiveTuple6,
        now: u64,
    ) -> Result<Backend, DropReason> {
        let svc = t.services.get(s as usize).ok_or(DropReason::NoService)?;
        let sched = self
            .schedulers
            .get_mut(s as usize)
            .ok_or(DropReason::NoService)?;
        sched.refresh_overload(&self.conns);
        let backend = match &svc.spec.persistence {
            Some(p) => {
                let IpAddr::V6(vip) = svc.spec.vip else {
                    return Err(DropReason::NoService);
                };
                let service = PersistentService {
                    id: s,
                    vip,
                    port: svc.spec.port,
                };
                let picked =
                    p.pick_counted(&mut self.sessions6, sched, &self.conns, tuple, service, now);
                if let Some(origin) = picked.forgot {
                    self.live.template_gone(origin);
                }
                if picked.remembered {
                    self.live.template_made(s);
                }
                picked.backend
            }
            None => sched.pick(tuple, &self.conns),
        };
        backend.ok_or(DropReason::NoBackend)
    }

    /// A packet of IPv6 session `id` travelling `dir` (a DR or TUN session
    /// sees only the client's; a NAT one its backend's replies too), with
    /// its TCP flags if it is TCP: moves the session's state (and its
    /// backend's counts) as IPv4's `on_packet` does, and re-arms its
    /// timer. Returns the session.
    #[inline(always)]
    pub fn on_packet6(
        &mut self,
        id: SessionId,
        dir: Direction,
        tcp_flags: Option<u8>,
        now: u64,
    ) -> &Session<FiveTuple6> {
        match tcp_flags {
            Some(flags) => {
                let tcp_dir = match (dir, self.sessions6.get(id).forwarding()) {
                    (Direction::Inbound, Forwarding::Dr | Forwarding::Tun) => TcpDir::InputOnly,
                    (Direction::Inbound, _) => TcpDir::Input,
                    (Direction::Outbound, _) => TcpDir::Output,
                };
                let tr = self.sessions6.on_tcp(id, tcp_dir, flags, now);
                if tr.from != tr.to {
                    let backend = self.sessions6.get(id).backend;
                    self.conns.changed(backend, tr);
                }
            }
            None => self.sessions6.refresh(id, now),
        }
        self.sessions6.get(id)
    }

    /// Whether a client's SYN on IPv6 session `id` opens a new connection
    /// on a reused port: the old one is closing (TIME_WAIT, CLOSE, or
    /// FIN_WAIT, as DR and TUN never see the server's half), as IPv4's
    /// `port_reused` decides.
    pub fn reused6(&self, id: SessionId, tcp_flags: Option<u8>) -> bool {
        let opening = tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST | tcp_flags::FIN;
        if tcp_flags.map(|f| f & opening) != Some(tcp_flags::SYN) {
            return false;
        }
        matches!(
            self.sessions6.get(id).state,
            ProtoState::Tcp(TcpState::TimeWait | TcpState::Close | TcpState::FinWait)
        )
    }

    /// Ends IPv6 session `id` now, giving back what it held. Returns
    /// whether there was one.
    pub fn end6(&mut self, id: SessionId, now_ms: u64) -> bool {
        let lifetime = self.sessions6.lifetime_ms(id, now_ms);
        let Some(old) = self.sessions6.remove(id) else {
            return false;
        };
        self.table6_and_held().1.release6(&old, lifetime);
        true
    }

    /// Remembers the neighbour-table slot where IPv6 session `id`'s
    /// packets travelling `dir` found their next hop (`egress6_for`).
    #[inline]
    pub fn set_hop_hint6(&mut self, id: SessionId, dir: Direction, hint: HopHint) {
        self.sessions6.set_hop_hint(id, dir, hint);
    }

    /// Marks IPv6 session `id` as opened by the SYN proxy
    /// (`session_flags::SYN_PROXY`, `pipeline/synproxy6.rs`).
    pub fn mark_syn_proxied6(&mut self, id: SessionId) {
        self.sessions6.mark_syn_proxied(id);
    }

    /// Marks IPv6 session `id` as carrying a PROXY protocol header
    /// (`session_flags::PROXY_HEADER`, `pipeline/client_addr6.rs`).
    pub fn mark_proxy_header6(&mut self, id: SessionId) {
        self.sessions6.mark_proxy_header(id);
    }

    /// Re-arms IPv6 session `id`'s timer to `timeout_ms` from `now`.
    #[inline]
    pub fn refresh6_with_timeout(&mut self, id: SessionId, timeout_ms: u32, now: u64) {
        self.sessions6.refresh_with_timeout(id, timeout_ms, now);
    }

    /// Ends the IPv6 sessions whose timers ran out at `now`, at most
    /// `budget`; returns how many ended.
    pub(super) fn expire6(&mut self, now: u64, budget: usize) -> u64 {
        let (sessions, mut held) = self.table6_and_held();
        let mut expired = 0u64;
        sessions.expire(now, budget, |s, lifetime| {
            expired += 1;
            held.release6(s, lifetime);
        });
        expired
    }
}

/// The tuple a NAT backend's replies to the client of `tuple` carry: from
/// the backend's address and port (port 0: the one the client asked for,
/// a multi-port service's backend) to the client. The session's second
/// key, as IPv4 NAT's (`session_for`).
pub fn nat6_reply(tuple: &FiveTuple6, backend: std::net::Ipv6Addr, port: u16) -> FiveTuple6 {
    FiveTuple6 {
        src: backend,
        dst: tuple.src,
        src_port: match port {
            0 => tuple.dst_port,
            p => p,
        },
        dst_port: tuple.src_port,
        proto: tuple.proto,
    }
}
