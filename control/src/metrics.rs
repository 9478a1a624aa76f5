//! Prometheus metrics of `ferrolbctl daemon`: [`render`] turns the
//! appliance's `list` and `stats` replies and the daemon's own state into
//! the text exposition format 0.0.4; [`MetricsServer`] (`server.rs`) serves
//! that on `GET /metrics` to many clients at once.
//! `docs/health-and-metrics.md` lists every metric.

mod server;

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::net::SocketAddr;

pub use server::{Limits, MetricsServer, MAX_HEAD};

use crate::api::{
    BackendStatus, BondMemberStatus, FlowStats, ListReply, PortStatus, ServiceKey, ServiceStatus,
    StatsReply, WorkerStatus,
};
use crate::health::BackendHealth;
use ferrolb_types::histogram::{
    self, Buckets, Histogram, NEW_CONNECTIONS_PER_SECOND, SESSION_LIFETIME_MS,
};

/// The `Content-Type` of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The daemon's own counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DaemonCounters {
    /// Applies the appliance took.
    pub applies_ok: u64,
    /// Applies the appliance refused with an error reply.
    pub applies_refused: u64,
    /// Applies that did not get an answer (socket unreachable, timeout,
    /// busy); they are retried.
    pub applies_failed: u64,
    /// File changes that loaded and validated.
    pub reloads_ok: u64,
    /// File changes that did not (the previous config stays).
    pub reloads_invalid: u64,
    /// The effective config has not been taken by the appliance yet.
    pub apply_pending: bool,
}

/// The metrics text. `appliance` is `None` when the appliance did not
/// answer: then only the daemon's own metrics and `ferrolb_up 0`.
pub fn render(
    appliance: Option<(&ListReply, &StatsReply)>,
    health: &[BackendHealth],
    daemon: &DaemonCounters,
) -> String {
    let mut out = Exposition::default();
    out.family(
        "ferrolb_up",
        Kind::Gauge,
        "Whether the appliance answered this scrape.",
    );
    out.sample("ferrolb_up", &[], u8::from(appliance.is_some()));
    if let Some((list, stats)) = appliance {
        appliance_metrics(&mut out, list, stats);
    }
    daemon_metrics(&mut out, health, daemon);
    out.0
}

/// The metrics text the appliance serves itself (`[control] metrics`):
/// `ferrolb_up 1` and the appliance's families, named as the daemon names
/// them, without the daemon's health and apply metrics.
pub fn render_appliance(list: &ListReply, stats: &StatsReply) -> String {
    let mut out = Exposition::default();
    out.family(
        "ferrolb_up",
        Kind::Gauge,
        "Whether the appliance answered this scrape.",
    );
    out.sample("ferrolb_up", &[], 1u8);
    appliance_metrics(&mut out, list, stats);
    out.0
}

/// What the appliance's own endpoint answers while it cannot gather
/// (starting or stopping): `ferrolb_up 0` alone.
pub fn render_appliance_down() -> String {
    let mut out = Exposition::default();
    out.family(
        "ferrolb_up",
        Kind::Gauge,
        "Whether the appliance answered this scrape.",
    );
    out.sample("ferrolb_up", &[], 0u8);
    out.0
}

fn appliance_metrics(out: &mut Exposition, list: &ListReply, stats: &StatsReply) {
    let name = "ferrolb_config_generation";
    out.family(
        name,
        Kind::Gauge,
        "The config generation the appliance runs.",
    );
    out.sample(name, &[], stats.generation);
    let name = "ferrolb_uptime_seconds";
    out.family(name, Kind::Gauge, "Seconds since the appliance started.");
    out.sample(name, &[], Seconds(stats.uptime_ms));
    let name = "ferrolb_sessions";
    out.family(name, Kind::Gauge, "Live sessions over all workers.");
    out.sample(name, &[], stats.sessions);

    let services = merge_services(&list.services);
    service_metrics(out, &services);
    backend_metrics(out, &services);
    snat_metrics(out, list);
    worker_metrics(out, &stats.workers);
    port_metrics(out, &stats.ports);
    member_metrics(out, &stats.ports);

    let name = "ferrolb_drops_total";
    out.family(
        name,
        Kind::Counter,
        "Packets dropped, by reason, over all workers.",
    );
    for (reason, n) in &stats.drops {
        out.sample(name, &[("reason", reason)], n);
    }
    let name = "ferrolb_events_total";
    out.family(
        name,
        Kind::Counter,
        "Events (ARP and ICMP answered, sessions created and expired, ...) over all workers.",
    );
    for (event, n) in &stats.events {
        out.sample(name, &[("event", event)], n);
    }
    if let Some(v) = &stats.vrrp {
        vrrp_metrics(out, v);
    }
}

/// The node's VRRP role (`[vrrp]` only): 1 while it holds every address.
fn vrrp_metrics(out: &mut Exposition, v: &crate::api::VrrpStatus) {
    let name = "ferrolb_vrrp_master";
    out.family(
        name,
        Kind::Gauge,
        "1 while this node holds every [vrrp] address (keepalived's master), else 0.",
    );
    out.sample(name, &[], u8::from(v.role == "master"));
    let name = "ferrolb_vrrp_standby_addresses";
    out.family(
        name,
        Kind::Gauge,
        "[vrrp] addresses the peer holds now: this node answers nothing for them.",
    );
    out.sample(name, &[], v.standby.len() as u64);
    let name = "ferrolb_vrrp_transitions_total";
    out.family(
        name,
        Kind::Counter,
        "Times this node became VRRP master or backup since it started.",
    );
    out.sample(name, &[("to", "master")], v.to_master);
    out.sample(name, &[("to", "backup")], v.to_backup);
}

/// A service as exported: entries with the same key merged, so that no
/// series appears twice.
struct Service<'a> {
    label: String,
    first: &'a ServiceStatus,
    sessions: u64,
    stats: Option<FlowStats>,
    lifetimes: Option<Histogram>,
    new_connections: Option<Histogram>,
    backends: BTreeMap<SocketAddr, Backend>,
}

/// A backend as exported: a draining entry and a live one with the same
/// address are summed, and the live one's weight wins.
#[derive(Default)]
struct Backend {
    weight: u32,
    draining: bool,
    active: u64,
    inactive: u64,
    stats: Option<FlowStats>,
}

fn add_stats(total: &mut Option<FlowStats>, more: Option<FlowStats>) {
    if let Some(m) = more {
        let t = total.get_or_insert_with(FlowStats::default);
        t.conns += m.conns;
        t.packets_in += m.packets_in;
        t.packets_out += m.packets_out;
        t.bytes_in += m.bytes_in;
        t.bytes_out += m.bytes_out;
        t.denied += m.denied;
        t.rate_limited += m.rate_limited;
        t.client_rate_limited += m.client_rate_limited;
    }
}

fn merge_services(list: &[ServiceStatus]) -> Vec<Service<'_>> {
    let mut by_key: BTreeMap<ServiceKey, Service<'_>> = BTreeMap::new();
    for s in list {
        let service = by_key.entry(s.key).or_insert_with(|| Service {
            label: s.key.to_string(),
            first: s,
            sessions: 0,
            stats: None,
            lifetimes: None,
            new_connections: None,
            backends: BTreeMap::new(),
        });
        service.sessions += s.sessions;
        add_stats(&mut service.stats, s.stats);
        for (total, h) in [
            (&mut service.lifetimes, &s.session_lifetimes),
            (&mut service.new_connections, &s.new_connection_rates),
        ] {
            if let Some(h) = h {
                total.get_or_insert_with(Histogram::default).add(h);
            }
        }
        for b in &s.backends {
            merge_backend(&mut service.backends, b);
        }
    }
    by_key.into_values().collect()
}

fn merge_backend(backends: &mut BTreeMap<SocketAddr, Backend>, b: &BackendStatus) {
    let addr = SocketAddr::new(b.address, b.port);
    let seen = backends.contains_key(&addr);
    let e = backends.entry(addr).or_default();
    if !b.draining || !seen {
        e.weight = b.weight;
    }
    e.draining = if seen {
        e.draining && b.draining
    } else {
        b.draining
    };
    e.active += b.active;
    e.inactive += b.inactive;
    add_stats(&mut e.stats, b.stats);
}

/// Labels of one sample, as (name, value).
type Labels<'a> = Vec<(&'a str, &'a str)>;
/// A labelled item with traffic counters.
type FlowItem<'a> = (Labels<'a>, Option<FlowStats>);

/// One gauge or counter taken from each item of type `T`.
struct Field<T> {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    value: fn(&T) -> u64,
}

const fn field<T>(
    name: &'static str,
    kind: Kind,
    help: &'static str,
    value: fn(&T) -> u64,
) -> Field<T> {
    Field {
        name,
        kind,
        help,
        value,
    }
}

/// Writes the connection, packet and byte counters of `stats` for each
/// labelled item, as three families named `{prefix}_connections_total` ...;
/// `directions` says what `in` and `out` are.
fn flow_families<'a>(
    out: &mut Exposition,
    prefix: &str,
    what: &str,
    directions: &str,
    items: &[FlowItem<'a>],
) {
    let conns = format!("{prefix}_connections_total");
    out.family(&conns, Kind::Counter, &format!("New connections {what}."));
    for (labels, stats) in items {
        if let Some(s) = stats {
            out.sample(&conns, labels, s.conns);
        }
    }
    let with_direction = |labels: &[(&'a str, &'a str)], dir: &'a str| {
        let mut l = labels.to_vec();
        l.push(("direction", dir));
        l
    };
    let packets = format!("{prefix}_packets_total");
    out.family(
        &packets,
        Kind::Counter,
        &format!("Packets {what}; {directions}."),
    );
    for (labels, stats) in items {
        if let Some(s) = stats {
            out.sample(&packets, &with_direction(labels, "in"), s.packets_in);
            out.sample(&packets, &with_direction(labels, "out"), s.packets_out);
        }
    }
    let bytes = format!("{prefix}_bytes_total");
    out.family(
        &bytes,
        Kind::Counter,
        &format!("IP bytes {what}; {directions}."),
    );
    for (labels, stats) in items {
        if let Some(s) = stats {
            out.sample(&bytes, &with_direction(labels, "in"), s.bytes_in);
            out.sample(&bytes, &with_direction(labels, "out"), s.bytes_out);
        }
    }
}

const CLIENT_BACKEND: &str = "in: client to backend, out: replies";

fn service_metrics(out: &mut Exposition, services: &[Service<'_>]) {
    let name = "ferrolb_service_info";
    out.family(
        name,
        Kind::Gauge,
        "A virtual service, with its name, mode and scheduler; always 1.",
    );
    for s in services {
        // The variant names lowercased are the config's names (`wlc`).
        let scheduler = format!("{:?}", s.first.scheduler).to_ascii_lowercase();
        let labels = [
            ("service", s.label.as_str()),
            ("name", s.first.name.as_deref().unwrap_or("")),
            ("mode", s.first.mode.as_str()),
            ("scheduler", scheduler.as_str()),
        ];
        out.sample(name, &labels, 1);
    }
    let name = "ferrolb_service_sessions";
    out.family(name, Kind::Gauge, "Live sessions of the service.");
    for s in services {
        out.sample(name, &[("service", &s.label)], s.sessions);
    }
    let items: Vec<_> = services
        .iter()
        .map(|s| (vec![("service", s.label.as_str())], s.stats))
        .collect();
    flow_families(
        out,
        "ferrolb_service",
        "to the service",
        CLIENT_BACKEND,
        &items,
    );
    let name = "ferrolb_service_denied_total";
    out.family(
        name,
        Kind::Counter,
        "First packets the service's access list (allow, deny) refused.",
    );
    for s in services {
        let denied = s.stats.map_or(0, |f| f.denied);
        out.sample(name, &[("service", &s.label)], denied);
    }
    let name = "ferrolb_service_rate_limited_total";
    out.family(
        name,
        Kind::Counter,
        "First packets refused by a new-connection rate limit (limit: service = new_conn_rate, client = client_rate).",
    );
    for s in services {
        let (all, client) = s
            .stats
            .map_or((0, 0), |f| (f.rate_limited, f.client_rate_limited));
        out.sample(name, &[("service", &s.label), ("limit", "service")], all);
        out.sample(name, &[("service", &s.label), ("limit", "client")], client);
    }
    service_histograms(out, services);
}

/// The services' histograms: session lifetimes and new connections per
/// second (one series per bucket and service: bounded by the config).
fn service_histograms(out: &mut Exposition, services: &[Service<'_>]) {
    let name = "ferrolb_service_session_lifetime_seconds";
    out.family(
        name,
        Kind::Histogram,
        "How long the service's sessions lived, from creation to removal (a session removed by its timer lived its idle timeout too); observed as each ends.",
    );
    for s in services {
        if let Some(h) = &s.lifetimes {
            out.histogram(name, &[("service", &s.label)], h, &SESSION_LIFETIME_MS);
        }
    }
    let name = "ferrolb_service_new_connections_per_second";
    out.family(
        name,
        Kind::Histogram,
        "The service's new connections in each second, sampled once a second since the appliance started.",
    );
    for s in services {
        if let Some(h) = &s.new_connections {
            let b = &NEW_CONNECTIONS_PER_SECOND;
            out.histogram(name, &[("service", &s.label)], h, b);
        }
    }
}

fn backend_metrics(out: &mut Exposition, services: &[Service<'_>]) {
    let labels: Vec<(String, &Service<'_>, &Backend)> = services
        .iter()
        .flat_map(|s| s.backends.iter().map(move |(a, b)| (a.to_string(), s, b)))
        .collect();
    let gauges: [Field<Backend>; 4] = [
        field(
            "ferrolb_backend_weight",
            Kind::Gauge,
            "The backend's weight in the appliance (0: no new flows).",
            |b| u64::from(b.weight),
        ),
        field(
            "ferrolb_backend_draining",
            Kind::Gauge,
            "1 for a deleted backend whose sessions are still draining.",
            |b| u64::from(b.draining),
        ),
        field(
            "ferrolb_backend_active_sessions",
            Kind::Gauge,
            "Live TCP sessions in ESTABLISHED (ipvsadm's ActiveConn).",
            |b| b.active,
        ),
        field(
            "ferrolb_backend_inactive_sessions",
            Kind::Gauge,
            "Every other live session (ipvsadm's InActConn).",
            |b| b.inactive,
        ),
    ];
    for f in gauges {
        out.family(f.name, f.kind, f.help);
        for (backend, s, b) in &labels {
            out.sample(
                f.name,
                &[("service", &s.label), ("backend", backend)],
                (f.value)(b),
            );
        }
    }
    let items: Vec<_> = labels
        .iter()
        .map(|(backend, s, b)| {
            (
                vec![("service", s.label.as_str()), ("backend", backend.as_str())],
                b.stats,
            )
        })
        .collect();
    flow_families(
        out,
        "ferrolb_backend",
        "to the backend",
        CLIENT_BACKEND,
        &items,
    );
}

fn snat_metrics(out: &mut Exposition, list: &ListReply) {
    let sources: Vec<String> = list.snat.iter().map(|r| r.source.to_string()).collect();
    let name = "ferrolb_snat_sessions";
    out.family(name, Kind::Gauge, "Live sessions of the SNAT rule.");
    for (source, r) in sources.iter().zip(&list.snat) {
        out.sample(name, &[("source", source)], r.sessions);
    }
    let items: Vec<_> = sources
        .iter()
        .zip(&list.snat)
        .map(|(source, r)| (vec![("source", source.as_str())], r.stats))
        .collect();
    flow_families(
        out,
        "ferrolb_snat",
        "through the SNAT rule",
        "in: internal host to remote, out: replies",
        &items,
    );
}

fn worker_metrics(out: &mut Exposition, workers: &[WorkerStatus]) {
    let families: [Field<WorkerStatus>; 10] = [
        field(
            "ferrolb_worker_rx_packets_total",
            Kind::Counter,
            "Packets the worker received.",
            |w| w.rx_packets,
        ),
        field(
            "ferrolb_worker_tx_packets_total",
            Kind::Counter,
            "Packets the worker sent.",
            |w| w.tx_packets,
        ),
        field(
            "ferrolb_worker_tx_dropped_total",
            Kind::Counter,
            "Packets the NIC did not take on transmit (TX ring full).",
            |w| w.tx_dropped,
        ),
        field(
            "ferrolb_worker_dropped_total",
            Kind::Counter,
            "Packets the worker dropped, all reasons.",
            |w| w.dropped,
        ),
        field(
            "ferrolb_worker_rx_bursts_total",
            Kind::Counter,
            "Non-empty RX bursts.",
            |w| w.rx_bursts,
        ),
        field(
            "ferrolb_worker_busy_cycles_total",
            Kind::Counter,
            "TSC cycles the worker spent in polls that had packets (its driver's receive and transmit included).",
            |w| w.busy_cycles,
        ),
        field(
            "ferrolb_worker_cycles_total",
            Kind::Counter,
            "TSC cycles since the worker's loop started.",
            |w| w.cycles,
        ),
        field(
            "ferrolb_worker_cycles_per_second",
            Kind::Gauge,
            "The TSC's frequency.",
            |w| w.cycles_per_second,
        ),
        field(
            "ferrolb_worker_sessions",
            Kind::Gauge,
            "Live sessions of the worker.",
            |w| w.sessions,
        ),
        field(
            "ferrolb_worker_config_generation",
            Kind::Gauge,
            "The config generation the worker runs.",
            |w| w.generation,
        ),
    ];
    let labels: Vec<String> = workers.iter().map(|w| w.index.to_string()).collect();
    for f in families {
        out.family(f.name, f.kind, f.help);
        for (label, w) in labels.iter().zip(workers) {
            out.sample(f.name, &[("worker", label)], (f.value)(w));
        }
    }
}

fn port_metrics(out: &mut Exposition, ports: &[PortStatus]) {
    let families: [Field<PortStatus>; 8] = [
        field(
            "ferrolb_port_rx_packets_total",
            Kind::Counter,
            "Packets received by the NIC port.",
            |p| p.rx_packets,
        ),
        field(
            "ferrolb_port_tx_packets_total",
            Kind::Counter,
            "Packets sent by the NIC port.",
            |p| p.tx_packets,
        ),
        field(
            "ferrolb_port_rx_bytes_total",
            Kind::Counter,
            "Bytes received by the NIC port.",
            |p| p.rx_bytes,
        ),
        field(
            "ferrolb_port_tx_bytes_total",
            Kind::Counter,
            "Bytes sent by the NIC port.",
            |p| p.tx_bytes,
        ),
        field(
            "ferrolb_port_rx_missed_total",
            Kind::Counter,
            "Packets the NIC dropped because the RX queues were full.",
            |p| p.rx_missed,
        ),
        field(
            "ferrolb_port_rx_nombuf_total",
            Kind::Counter,
            "Packets lost for lack of mbufs.",
            |p| p.rx_nombuf,
        ),
        field(
            "ferrolb_port_rx_errors_total",
            Kind::Counter,
            "Erroneous received packets.",
            |p| p.rx_errors,
        ),
        field(
            "ferrolb_port_tx_errors_total",
            Kind::Counter,
            "Failed transmissions.",
            |p| p.tx_errors,
        ),
    ];
    for f in families {
        out.family(f.name, f.kind, f.help);
        for p in ports {
            out.sample(f.name, &[("port", &p.name)], (f.value)(p));
        }
    }
}

/// A bonded port's members (docs/bonding.md), labelled with the port and
/// the member's DPDK device name.
fn member_metrics(out: &mut Exposition, ports: &[PortStatus]) {
    let families: [Field<BondMemberStatus>; 5] = [
        field(
            "ferrolb_port_member_up",
            Kind::Gauge,
            "Link state of a bond member: 1 up, 0 down.",
            |m| u64::from(m.link_up),
        ),
        field(
            "ferrolb_port_member_active",
            Kind::Gauge,
            "1 when the bond member carries traffic: the active member (active-backup), \
             in the LACP aggregator (802.3ad), or link up (balance-xor).",
            |m| u64::from(m.active),
        ),
        field(
            "ferrolb_port_member_rx_packets_total",
            Kind::Counter,
            "Packets received by the bond member device.",
            |m| m.rx_packets,
        ),
        field(
            "ferrolb_port_member_tx_packets_total",
            Kind::Counter,
            "Packets sent by the bond member device.",
            |m| m.tx_packets,
        ),
        field(
            "ferrolb_port_member_rx_missed_total",
            Kind::Counter,
            "Packets the bond member device dropped because its RX queues were full \
             (a backup member's, which the bond does not poll, included).",
            |m| m.rx_missed,
        ),
    ];
    for f in families {
        out.family(f.name, f.kind, f.help);
        for p in ports {
            for m in &p.members {
                out.sample(
                    f.name,
                    &[("port", &p.name), ("member", &m.name)],
                    (f.value)(m),
                );
            }
        }
    }
}

fn daemon_metrics(out: &mut Exposition, health: &[BackendHealth], daemon: &DaemonCounters) {
    let labels: Vec<(String, String)> = health
        .iter()
        .map(|h| (h.id.service.to_string(), h.id.backend.to_string()))
        .collect();
    let name = "ferrolb_backend_up";
    out.family(
        name,
        Kind::Gauge,
        "Health check state of the backend: 1 up, 0 down (applied as weight 0).",
    );
    for ((service, backend), h) in labels.iter().zip(health) {
        out.sample(
            name,
            &[("service", service), ("backend", backend)],
            u8::from(h.up),
        );
    }
    let name = "ferrolb_health_checks_total";
    out.family(name, Kind::Counter, "Health checks run, by result.");
    for ((service, backend), h) in labels.iter().zip(health) {
        for (result, n) in [("ok", h.checks_ok), ("fail", h.checks_failed)] {
            out.sample(
                name,
                &[
                    ("service", service),
                    ("backend", backend),
                    ("result", result),
                ],
                n,
            );
        }
    }
    let name = "ferrolb_daemon_applies_total";
    out.family(
        name,
        Kind::Counter,
        "Configs sent to the appliance: ok, refused (error reply), failed (no answer).",
    );
    for (result, n) in [
        ("ok", daemon.applies_ok),
        ("refused", daemon.applies_refused),
        ("failed", daemon.applies_failed),
    ] {
        out.sample(name, &[("result", result)], n);
    }
    let name = "ferrolb_daemon_reloads_total";
    out.family(
        name,
        Kind::Counter,
        "Changes of the config file: ok, or invalid (ignored).",
    );
    for (result, n) in [
        ("ok", daemon.reloads_ok),
        ("invalid", daemon.reloads_invalid),
    ] {
        out.sample(name, &[("result", result)], n);
    }
    let name = "ferrolb_daemon_apply_pending";
    out.family(
        name,
        Kind::Gauge,
        "1 while the appliance has not taken the daemon's current config.",
    );
    out.sample(name, &[], u8::from(daemon.apply_pending));
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Milliseconds written as seconds with three decimals.
struct Seconds(u64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// The text being written; each family's HELP and TYPE come once, before
/// its samples.
#[derive(Default)]
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        // Writing to a String cannot fail.
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                self.0.push_str(key);
                self.0.push_str("=\"");
                escape_label(&mut self.0, value);
                self.0.push('"');
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// A histogram's `_bucket` series (cumulative, `le` in the exposed
    /// unit, ending with `+Inf`), `_sum` (in the exposed unit) and `_count`.
    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram, b: &Buckets) {
        let bucket = format!("{name}_bucket");
        for (le, n) in h.cumulative(b) {
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, n);
        }
        let sum = histogram::exposed(h.sum, b.per_exposed_unit);
        self.sample(&format!("{name}_sum"), labels, sum);
        self.sample(&format!("{name}_count"), labels, h.count());
    }
}

/// A label value as the exposition format wants it: backslash, double
/// quote and line feed escaped.
fn escape_label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests;
