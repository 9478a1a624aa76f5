//! What an IPv4 packet is to this worker, decided without acting on it:
//! a plain [`Step`], so the batch walk can decide a packet now and act on
//! it later in its burst (see `burst.rs`).

use super::burst::tcp_flags_of;
use super::{Datapath, Ingress};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::flow::proto::tcp_flags;
use crate::flow::{Direction, Hit, Origin, ProtoState, TcpState};
use crate::packet::{quoted_flow, Ipv4Meta, L4Kind};
use crate::tables::{LbTables, Mode};
use crate::tuple::IpProto;
use crate::wire::ethernet;

/// What to do with an IPv4 packet.
#[derive(Clone, Copy, Debug)]
pub(super) enum Step {
    Drop(DropReason),
    /// An ICMP error about the flow of this session.
    TranslateError(Hit),
    /// An ICMP error to a NAT64 local address that the IPv4 table does not
    /// know: maybe about a NAT64 flow (`nat64.rs`).
    Nat64Error,
    /// A packet to a NAT64 local address that the IPv4 table does not
    /// know and no service or SNAT rule would take: maybe a NAT64
    /// backend's reply (`nat64.rs`), looked for in the IPv6 table.
    Nat64Reply {
        at: Ingress,
    },
    /// A packet of a live session.
    Forward {
        at: Ingress,
        hit: Hit,
    },
    /// A SYN on a closing connection: end it, then open a new one.
    ReuseThenOpen {
        at: Ingress,
        old: Hit,
    },
    /// An echo request to one of our addresses, received on `port`.
    AnswerEcho {
        port: u16,
    },
    /// The first packet of a flow: schedule it and make its session.
    Open {
        at: Ingress,
    },
    /// The host's: up to the port's kernel interface.
    ToKernel {
        port: u16,
    },
    /// A fragment past the first: forwarded as its datagram's first one
    /// was (`fragment.rs`).
    Fragment {
        at: Ingress,
    },
    /// A TCP packet with no session to a service with the SYN proxy
    /// (`synproxy.rs`): a SYN answered, an ACK's cookie checked.
    SynProxy {
        at: Ingress,
    },
}

/// For a packet the pipeline would drop as `reason`: the kernel's if
/// `port`'s kernel interface wants it (a host address, multicast,
/// broadcast) or takes everything unmatched.
#[inline]
fn kernel_or(t: &LbTables, port: u16, frame: &[u8], meta: &Ipv4Meta, reason: DropReason) -> Step {
    if t.standby.contains(meta.tuple.dst) {
        return Step::Drop(DropReason::VrrpBackup);
    }
    match t.kernel(port) {
        Some(k)
            if k.wants(meta.tuple.dst, frame)
                || (k.unmatched && !t.owned.contains(meta.tuple.dst)) =>
        {
            Step::ToKernel { port }
        }
        _ => Step::Drop(reason),
    }
}

/// Whether the frame is for us at L2: our MAC, or broadcast/multicast
/// (a promiscuous port also sees other hosts' frames).
#[inline]
pub(super) fn for_our_mac(t: &LbTables, port: u16, frame: &[u8]) -> bool {
    let Some(dst) = frame.get(ethernet::field::DESTINATION) else {
        return false;
    };
    dst[0] & 1 == 1 || t.port_mac(port).is_some_and(|m| m.0 == dst)
}

/// Whether a packet that missed the IPv4 table is to a NAT64 local
/// address and would be refused by the planner as `no_service`: no
/// service listens where it goes, and no SNAT rule could take it (its
/// destination is ours, or it is neither TCP, UDP nor an echo request;
/// `FlowState::plan`'s order). Such a packet is looked for as a NAT64
/// backend's reply without being planned (the planner costs a NAT64
/// reply 162 instructions).
#[inline(never)]
fn nat64_reply(t: &LbTables, meta: &Ipv4Meta) -> bool {
    if !t.owners.nat64_local(meta.tuple.dst) {
        return false;
    }
    let l4_flow = matches!(meta.kind, L4Kind::Tcp | L4Kind::Udp);
    // No service on a local address (the usual case): no lookup (86
    // instructions a NAT64 reply).
    if l4_flow
        && t.nat64_local_listened
        && t.service_index.lookup(&meta.tuple.service_key()).is_some()
    {
        return false;
    }
    let echo_request = meta.kind == (L4Kind::IcmpEcho { request: true });
    !(l4_flow || echo_request) || t.owned.contains(meta.tuple.dst)
}

impl<P: PacketBuf> Datapath<P> {
    /// Decides what to do with an IPv4 packet received on `port`, without
    /// acting on it: the same answer whether the packet is handled now or
    /// later in its burst, as long as the session table did not change.
    #[inline(always)]
    pub(super) fn decide(
        &self,
        t: &LbTables,
        port: u16,
        frame: &[u8],
        meta: &Ipv4Meta,
        hash: u64,
    ) -> Step {
        if !for_our_mac(t, port, frame) {
            return Step::Drop(DropReason::OtherHost);
        }
        let Some(iface) = t.ingress_interface(port, meta.vlan) else {
            return match Self::kernel_takes_unmatched(t, port) {
                true => Step::ToKernel { port },
                false => Step::Drop(DropReason::NoInterface),
            };
        };
        let at = Ingress { port, iface };
        let sessions = self.flow.sessions();
        match meta.kind {
            L4Kind::IcmpOther => {
                return kernel_or(t, port, frame, meta, DropReason::UnsupportedIcmp)
            }
            // No ports to look a session up by: the kernel's if it wants
            // the destination (as the first fragment would be on a session
            // miss), else the fragment table's.
            L4Kind::Fragment { .. } => {
                if t.kernel(port)
                    .is_some_and(|k| k.wants(meta.tuple.dst, frame))
                {
                    return Step::ToKernel { port };
                }
                return Step::Fragment { at };
            }
            L4Kind::IcmpError { .. } => {
                let flow = quoted_flow(frame, meta).map(|q| q.reversed());
                return match flow.and_then(|f| sessions.lookup_hashed(&f, hash)) {
                    Some(hit) => Step::TranslateError(hit),
                    None if t.owners.nat64_local(meta.tuple.dst) => Step::Nat64Error,
                    None => kernel_or(t, port, frame, meta, DropReason::NoSession),
                };
            }
            _ => {}
        }
        if let Some(hit) = sessions.lookup_hashed(&meta.tuple, hash) {
            return if self.port_reused(t, frame, meta, hit) {
                Step::ReuseThenOpen { at, old: hit }
            } else {
                Step::Forward { at, hit }
            };
        }
        // The peer node holds this VRRP address now: nothing here answers
        // for it (checked on a session miss only, like the kernel below).
        if t.standby.contains(meta.tuple.dst) {
            return Step::Drop(DropReason::VrrpBackup);
        }
        // Checked on a session miss only, so an established flow's packet
        // never looks at the kernel interface.
        if t.kernel(port)
            .is_some_and(|k| k.wants(meta.tuple.dst, frame))
        {
            return Step::ToKernel { port };
        }
        if meta.kind == (L4Kind::IcmpEcho { request: true }) && t.owned.contains(meta.tuple.dst) {
            return Step::AnswerEcho { port };
        }
        if meta.tuple.proto == IpProto::TCP && self.proxies(t, &meta.tuple) {
            return Step::SynProxy { at };
        }
        if t.owners.has_nat64() && nat64_reply(t, meta) {
            return Step::Nat64Reply { at };
        }
        Step::Open { at }
    }

    /// Whether a client's SYN hit a connection that is closing (TIME_WAIT
    /// or CLOSE; FIN_WAIT too for DR and TUN, which never see the server's
    /// half): a new connection on a reused port. The old session ends
    /// (`sessions_expired`) and the SYN is scheduled afresh, as IPVS does
    /// (`conn_reuse_mode`). Without this a reused client port would stay on
    /// the old backend, even one taken out since.
    fn port_reused(&self, t: &LbTables, frame: &[u8], meta: &Ipv4Meta, hit: Hit) -> bool {
        if meta.tuple.proto != IpProto::TCP || hit.dir != Direction::Inbound {
            return false;
        }
        let opening = tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST | tcp_flags::FIN;
        if tcp_flags_of(frame, meta) & opening != tcp_flags::SYN {
            return false;
        }
        let s = self.flow.sessions().get(hit.id);
        let input_only = match s.origin() {
            Origin::Service(id) => matches!(
                t.services.get(id as usize).map(|x| x.spec.mode),
                Some(Mode::Dr | Mode::Tun)
            ),
            Origin::Snat(_) => false,
        };
        match s.state {
            ProtoState::Tcp(TcpState::TimeWait | TcpState::Close) => true,
            ProtoState::Tcp(TcpState::FinWait) => input_only,
            _ => false,
        }
    }
}
