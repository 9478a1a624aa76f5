//! What a trace records of one packet: a fixed-size list of steps, filled
//! in place by the worker (no allocation), and turned into readable text
//! by the control thread ([`TraceRecord::report`]).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::panic::Location;

use crate::drop::DropReason;
use crate::tables::{LbTables, Mode};
use crate::tuple::{FiveTuple, FiveTuple6};

/// Steps one record holds; later steps are counted in `lost_steps`.
pub const MAX_STEPS: usize = 16;

/// What a new flow's scheduling decided (`FlowState::plan`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanView {
    /// The service id, or the SNAT rule id.
    pub service: Option<u32>,
    pub snat_rule: Option<u32>,
    /// The backend id (services only).
    pub backend: Option<u32>,
    pub mode: Option<Mode>,
    /// The reply as it will reach us: for FULLNAT and SNAT its destination
    /// is the local address and port taken.
    pub outbound: FiveTuple,
    pub picked_up: bool,
    pub one_packet: bool,
    /// Persistence: `Some(true)` when a template chose the backend.
    pub persisted: Option<bool>,
}

/// One step of a packet through the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceStep {
    /// Received on `port`; `from_worker` when another worker received it
    /// and handed it here.
    Rx {
        port: u16,
        len: u16,
        from_worker: Option<u16>,
    },
    Ipv4 {
        tuple: FiveTuple,
        tcp_flags: u8,
        vlan: Option<u16>,
        ttl: u8,
    },
    /// A TCP or UDP packet over IPv6 (through its extension headers).
    Ipv6 {
        tuple: FiveTuple6,
        tcp_flags: u8,
        vlan: Option<u16>,
        hop_limit: u8,
        extensions: u8,
    },
    /// A frame other than IPv4 (`arp`, `ipv6`).
    NotIpv4(&'static str),
    /// The L3 interface its port and VLAN make it.
    Interface(u16),
    SessionHit {
        session: u32,
        inbound: bool,
    },
    SessionMiss,
    /// A SYN on a closing session: the old one ends, a new flow opens.
    PortReused {
        session: u32,
    },
    Scheduled(PlanView),
    /// An IPv6 flow's scheduling (DR: no reply tuple, no local port):
    /// the service, the backend, whether picked up mid-stream.
    Scheduled6 {
        service: u32,
        backend: u32,
        picked_up: bool,
        /// A one-packet service's datagram: no session (`ops6.rs`).
        one_packet: bool,
    },
    SessionMade(u32),
    /// Handed to the worker that owns its flow.
    Redirected {
        to_worker: u16,
    },
    ToKernel {
        port: u16,
    },
    AnswerEcho,
    IcmpErrorTranslated,
    /// Waits for ARP to resolve `next_hop` (it leaves when the answer
    /// comes; the trace ends here).
    WaitArp {
        next_hop: Ipv4Addr,
    },
    /// Waits for Neighbour Discovery to resolve the IPv6 `next_hop` (the
    /// same: the trace ends here).
    WaitNd {
        next_hop: Ipv6Addr,
    },
    /// Put in `port`'s TX buffer, as it leaves: its tuple (`None` when not
    /// IPv4), VLAN and MACs.
    Tx {
        port: u16,
        tuple: Option<FiveTuple>,
        vlan: Option<u16>,
        src_mac: [u8; 6],
        dst_mac: [u8; 6],
    },
    /// Dropped: the drop counter's reason, and the source line that
    /// dropped it.
    Drop {
        reason: DropReason,
        at: &'static Location<'static>,
    },
}

/// One traced packet. `id` is the same on both workers when a packet is
/// handed from one to the other; `part` counts the records of one id.
#[derive(Clone, Copy, Debug)]
pub struct TraceRecord {
    pub id: u32,
    pub worker: u16,
    pub part: u8,
    /// The worker's clock (milliseconds) when the packet came in.
    pub at_ms: u64,
    len: u8,
    pub lost_steps: u8,
    steps: [Option<TraceStep>; MAX_STEPS],
}

impl TraceRecord {
    pub fn new(id: u32, worker: u16, part: u8, at_ms: u64) -> TraceRecord {
        TraceRecord {
            id,
            worker,
            part,
            at_ms,
            len: 0,
            lost_steps: 0,
            steps: [None; MAX_STEPS],
        }
    }

    #[inline]
    pub fn push(&mut self, step: TraceStep) {
        match self.steps.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = Some(step);
                self.len += 1;
            }
            None => self.lost_steps = self.lost_steps.saturating_add(1),
        }
    }

    pub fn steps(&self) -> impl Iterator<Item = &TraceStep> {
        self.steps.iter().flatten()
    }

    /// The drop reason this packet ended with, if it was dropped.
    pub fn drop_reason(&self) -> Option<DropReason> {
        self.steps().find_map(|s| match s {
            TraceStep::Drop { reason, .. } => Some(*reason),
            _ => None,
        })
    }

    /// The record in words, one line per step, names taken from `t` (the
    /// tables running when it is reported).
    pub fn report(&self, t: &LbTables) -> Vec<StepReport> {
        let mut out: Vec<StepReport> = self.steps().map(|s| describe(s, t)).collect();
        if self.lost_steps > 0 {
            out.push(StepReport::new(
                "truncated",
                format!("{} more steps not recorded", self.lost_steps),
            ));
        }
        out
    }
}

/// One step in words: a short name (`rx`, `session`, `schedule`, `tx`,
/// `drop`, ...), a readable line, and its fields for tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepReport {
    pub step: &'static str,
    pub detail: String,
    pub fields: Vec<(&'static str, String)>,
}

impl StepReport {
    fn new(step: &'static str, detail: String) -> StepReport {
        StepReport {
            step,
            detail,
            fields: Vec::new(),
        }
    }

    fn with(mut self, key: &'static str, value: impl ToString) -> StepReport {
        self.fields.push((key, value.to_string()));
        self
    }
}

fn tuple6_text(t: &FiveTuple6) -> String {
    let (src, dst) = (
        std::net::SocketAddr::from((t.src, t.src_port)),
        std::net::SocketAddr::from((t.dst, t.dst_port)),
    );
    format!("{} {src} -> {dst}", t.proto)
}

fn tuple_text(t: &FiveTuple) -> String {
    format!(
        "{} {}:{} -> {}:{}",
        t.proto, t.src, t.src_port, t.dst, t.dst_port
    )
}

fn mac_text(m: &[u8; 6]) -> String {
    crate::wire::ethernet::MacAddr(*m).to_string()
}

fn service_text(t: &LbTables, id: u32) -> String {
    t.services.get(id as usize).map_or_else(
        || format!("service #{id}"),
        |s| match &s.spec.name {
            Some(n) => format!("{} ({n})", s.spec.key()),
            None => s.spec.key().to_string(),
        },
    )
}

fn describe_plan(p: &PlanView, t: &LbTables) -> StepReport {
    let mut r = match (p.service, p.snat_rule) {
        (Some(s), _) => service_pick(t, s, p.backend, p.mode.map_or("?", |m| m.name())),
        (None, Some(rule)) => {
            StepReport::new("schedule", format!("SNAT rule #{rule}")).with("snat_rule", rule)
        }
        _ => StepReport::new("schedule", "no service".into()),
    };
    if let Some(m) = p.mode {
        r = r.with("mode", m.name());
        if matches!(m, Mode::FullNat) {
            r.detail += &format!("; local {}:{}", p.outbound.dst, p.outbound.dst_port);
            r = r.with(
                "local",
                format!("{}:{}", p.outbound.dst, p.outbound.dst_port),
            );
        }
    }
    if p.snat_rule.is_some() {
        r.detail += &format!("; local {}:{}", p.outbound.dst, p.outbound.dst_port);
        r = r.with(
            "local",
            format!("{}:{}", p.outbound.dst, p.outbound.dst_port),
        );
    }
    if let Some(hit) = p.persisted {
        r.detail += if hit {
            "; persistence template hit"
        } else {
            "; persistence: new template"
        };
        r = r.with("persistence", if hit { "hit" } else { "new" });
    }
    if p.picked_up {
        r.detail += "; picked up mid-stream";
    }
    if p.one_packet {
        r.detail += "; one-packet (no session)";
    }
    r.with("reply", tuple_text(&p.outbound))
}

/// The `schedule` step of a service's new flow: the service, scheduler,
/// backend chosen and the candidate set.
fn service_pick(t: &LbTables, s: u32, backend: Option<u32>, mode: &str) -> StepReport {
    let svc = t.services.get(s as usize);
    let backend = backend.and_then(|b| t.backends.get(b as usize));
    let chosen = backend.map_or("none".into(), |b| {
        std::net::SocketAddr::new(b.addr, b.port).to_string()
    });
    let sched = svc.map_or("?".into(), |s| format!("{:?}", s.spec.scheduler));
    let candidates = svc.map_or(0, |s| s.backend_ids.len());
    let mut r = StepReport::new(
        "schedule",
        format!(
            "service {} mode {mode} scheduler {sched}: backend {chosen} of {candidates} candidates",
            service_text(t, s)
        ),
    )
    .with("service", service_text(t, s))
    .with("scheduler", &sched)
    .with("backend", &chosen)
    .with("candidates", candidates);
    if let Some(s) = svc {
        let all: Vec<String> = s
            .backend_ids
            .iter()
            .filter_map(|&b| t.backends.get(b as usize))
            .map(|b| std::net::SocketAddr::new(b.addr, b.port).to_string())
            .collect();
        r = r.with("candidate_set", all.join(","));
    }
    r
}

fn describe(s: &TraceStep, t: &LbTables) -> StepReport {
    match s {
        TraceStep::Rx {
            port,
            len,
            from_worker,
        } => {
            let from =
                from_worker.map_or(String::new(), |w| format!(", handed over by worker {w}"));
            StepReport::new("rx", format!("port {port}, {len} bytes{from}"))
                .with("port", port)
                .with("len", len)
        }
        TraceStep::Ipv4 {
            tuple,
            tcp_flags,
            vlan,
            ttl,
        } => {
            let vlan = vlan.map_or(String::new(), |v| format!(" vlan {v}"));
            StepReport::new(
                "ipv4",
                format!(
                    "{}{vlan} ttl {ttl} flags {}",
                    tuple_text(tuple),
                    flags_text(*tcp_flags)
                ),
            )
            .with("tuple", tuple_text(tuple))
            .with("tcp_flags", flags_text(*tcp_flags))
        }
        TraceStep::Ipv6 {
            tuple,
            tcp_flags,
            vlan,
            hop_limit,
            extensions,
        } => {
            let vlan = vlan.map_or(String::new(), |v| format!(" vlan {v}"));
            let ext = match extensions {
                0 => String::new(),
                n => format!(" extension headers {n}"),
            };
            StepReport::new(
                "ipv6",
                format!(
                    "{}{vlan} hop limit {hop_limit}{ext} flags {}",
                    tuple6_text(tuple),
                    flags_text(*tcp_flags)
                ),
            )
            .with("tuple", tuple6_text(tuple))
            .with("tcp_flags", flags_text(*tcp_flags))
        }
        TraceStep::NotIpv4(what) => StepReport::new("frame", (*what).to_string()),
        TraceStep::Interface(i) => {
            StepReport::new("interface", format!("L3 interface {i}")).with("interface", i)
        }
        TraceStep::SessionHit { session, inbound } => {
            let dir = if *inbound { "inbound" } else { "reply" };
            StepReport::new("session", format!("hit session {session} ({dir})"))
                .with("session", session)
                .with("direction", dir)
        }
        TraceStep::SessionMiss => StepReport::new("session", "miss: a new flow".into()),
        TraceStep::PortReused { session } => StepReport::new(
            "session",
            format!("SYN on closing session {session}: ended, opening anew"),
        ),
        TraceStep::Scheduled(p) => describe_plan(p, t),
        TraceStep::Scheduled6 {
            service,
            backend,
            picked_up,
            one_packet,
        } => {
            let mut r = service_pick(t, *service, Some(*backend), Mode::Dr.name())
                .with("mode", Mode::Dr.name());
            if *picked_up {
                r.detail += "; picked up mid-stream";
            }
            if *one_packet {
                r.detail += "; one-packet (no session)";
            }
            r
        }
        TraceStep::SessionMade(id) => {
            StepReport::new("session", format!("made session {id}")).with("session", id)
        }
        TraceStep::Redirected { to_worker } => StepReport::new(
            "redirect",
            format!("handed to worker {to_worker}, its owner"),
        )
        .with("to_worker", to_worker),
        TraceStep::ToKernel { port } => {
            StepReport::new("kernel", format!("up to port {port}'s kernel interface"))
        }
        TraceStep::AnswerEcho => StepReport::new("local", "echo request to us: answered".into()),
        TraceStep::IcmpErrorTranslated => {
            StepReport::new("icmp", "ICMP error about a session: translated".into())
        }
        TraceStep::WaitArp { next_hop } => StepReport::new(
            "neighbour",
            format!("next hop {next_hop} unresolved: waits for ARP"),
        )
        .with("next_hop", next_hop),
        TraceStep::WaitNd { next_hop } => StepReport::new(
            "neighbour",
            format!("next hop {next_hop} unresolved: waits for Neighbour Discovery"),
        )
        .with("next_hop", next_hop),
        TraceStep::Tx {
            port,
            tuple,
            vlan,
            src_mac,
            dst_mac,
        } => {
            let what = tuple.map_or("non-IPv4 frame".into(), |t| tuple_text(&t));
            let vlan = vlan.map_or(String::new(), |v| format!(" vlan {v}"));
            StepReport::new(
                "tx",
                format!(
                    "port {port}: {what}{vlan}, {} -> {}",
                    mac_text(src_mac),
                    mac_text(dst_mac)
                ),
            )
            .with("port", port)
            .with("tuple", what)
            .with("dst_mac", mac_text(dst_mac))
        }
        TraceStep::Drop { reason, at } => StepReport::new(
            "drop",
            format!("{} (at {}:{})", reason.name(), at.file(), at.line()),
        )
        .with("reason", reason.name())
        .with("at", format!("{}:{}", at.file(), at.line())),
    }
}

fn flags_text(f: u8) -> String {
    let names: Vec<&str> = ferrolb_types::filter::tcp_flag::NAMES
        .iter()
        .filter(|(_, b)| f & b != 0)
        .map(|(n, _)| *n)
        .collect();
    if names.is_empty() {
        "-".into()
    } else {
        names.join(",")
    }
}
