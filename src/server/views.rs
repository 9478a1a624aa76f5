//! From the dataplane's numbers (counters by id, session views) to the
//! protocol's replies (services by key, backends by address).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use control::api::{
    BackendStatus, BondMemberStatus, FlowRates, FlowStats, ListReply, PortStatus, ServiceStatus,
    SessionInfo, SnatStatus,
};
use control::config::Config;
use dataplane::dpdk::{MemberStatus, Port};
use dataplane::flow::state::SessionCounts;
use dataplane::pipeline::counters::{FlowCounters, LbCounters};
use dataplane::tables::LbTables;
use dataplane::tuple::IpProto;
use dataplane::worker::{SessionView, WorkerLbStats};
use ferrolb_types::histogram::{Histogram, NEW_CONNECTIONS_PER_SECOND, SESSION_LIFETIME_MS};

/// Every worker's answer to a stats query (`None` for one that did not
/// answer), and their sum.
pub struct Totals {
    parts: Vec<Option<WorkerLbStats>>,
    counters: LbCounters,
    sessions: SessionCounts,
    /// By service id: session lifetimes over every worker.
    lifetimes: Vec<Histogram>,
}

impl Totals {
    pub fn new(parts: Vec<Option<WorkerLbStats>>) -> Totals {
        let mut counters = LbCounters::default();
        let mut sessions = SessionCounts::default();
        let mut lifetimes: Vec<Histogram> = Vec::new();
        for p in parts.iter().flatten() {
            counters.add(&p.counters);
            sessions.add(&p.sessions);
            if lifetimes.len() < p.lifetimes.len() {
                lifetimes.resize(p.lifetimes.len(), Histogram::default());
            }
            for (total, h) in lifetimes.iter_mut().zip(&p.lifetimes) {
                total.add(h);
            }
        }
        Totals {
            parts,
            counters,
            sessions,
            lifetimes,
        }
    }

    pub fn worker(&self, i: usize) -> Option<&WorkerLbStats> {
        self.parts.get(i).and_then(Option::as_ref)
    }

    pub fn counters(&self) -> &LbCounters {
        &self.counters
    }

    pub fn drops(&self) -> BTreeMap<String, u64> {
        self.counters
            .drops
            .iter()
            .map(|(r, n)| (r.name().to_string(), n))
            .collect()
    }

    pub fn events(&self) -> BTreeMap<String, u64> {
        self.counters
            .events
            .iter()
            .map(|(name, n)| (name.to_string(), n))
            .collect()
    }

    /// Live sessions over all workers.
    pub fn sessions(&self) -> u64 {
        self.parts.iter().flatten().map(live_sessions).sum()
    }
}

/// A worker's live sessions: those of services and of SNAT rules.
pub fn live_sessions(s: &WorkerLbStats) -> u64 {
    s.sessions.services.iter().sum::<u64>() + s.sessions.snat.iter().sum::<u64>()
}

/// Counters sampled about once a second, for rates, and each service's
/// new connections per second counted in a histogram at every sample.
#[derive(Default)]
pub struct RateSampler {
    previous: Option<(Instant, LbCounters)>,
    latest: Option<(Instant, LbCounters)>,
    /// By service id, with the stamp of the service it was counted for
    /// (`IdStamp::born`): an id given to another service starts afresh.
    new_connections: Vec<(u64, Histogram)>,
}

/// Per-second rates by service, backend and SNAT id.
#[derive(Default)]
pub struct Rates {
    pub services: Vec<FlowRates>,
    pub backends: Vec<FlowRates>,
    pub snat: Vec<FlowRates>,
}

impl RateSampler {
    /// Takes a sample of `counters` at `at`, and counts each service's
    /// connections per second since the previous one (`born`: the services'
    /// id stamps in the tables the counters are of).
    pub fn sample(&mut self, at: Instant, counters: LbCounters, born: &[u64]) {
        self.previous = self.latest.take();
        self.latest = Some((at, counters));
        if self.previous.is_none() {
            return;
        }
        let rates = self.rates();
        self.new_connections.truncate(born.len());
        for &stamp in &born[self.new_connections.len()..] {
            let fresh = Histogram::new(&NEW_CONNECTIONS_PER_SECOND);
            self.new_connections.push((stamp, fresh));
        }
        for (id, (stamp, h)) in self.new_connections.iter_mut().enumerate() {
            let Some(&now_born) = born.get(id) else {
                continue;
            };
            if *stamp != now_born {
                *stamp = now_born;
                h.clear();
                // The first interval may straddle the id's reuse.
                continue;
            }
            let cps: f64 = rates.services.get(id).map_or(0.0, |r| r.cps);
            h.observe(&NEW_CONNECTIONS_PER_SECOND, cps.round() as u64);
        }
    }

    /// Service `id`'s connections-per-second histogram.
    pub fn new_connections(&self, id: usize) -> Option<&Histogram> {
        self.new_connections.get(id).map(|(_, h)| h)
    }

    /// Empties service `id`'s histogram, or every one (`zero`).
    pub fn zero(&mut self, id: Option<usize>) {
        for (i, (_, h)) in self.new_connections.iter_mut().enumerate() {
            if id.map_or(true, |id| id == i) {
                h.clear();
            }
        }
    }

    /// Rates between the last two samples; zeros until there are two.
    pub fn rates(&self) -> Rates {
        let (Some((t0, c0)), Some((t1, c1))) = (&self.previous, &self.latest) else {
            return Rates::default();
        };
        let secs = t1.duration_since(*t0).as_secs_f64();
        if secs <= 0.0 {
            return Rates::default();
        }
        let per = |new: &[FlowCounters], old: &[FlowCounters]| -> Vec<FlowRates> {
            new.iter()
                .enumerate()
                .map(|(i, n)| {
                    let o = old.get(i).copied().unwrap_or_default();
                    let d = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
                    FlowRates {
                        cps: d(n.conns, o.conns),
                        pps_in: d(n.packets_in, o.packets_in),
                        pps_out: d(n.packets_out, o.packets_out),
                        bps_in: d(n.bytes_in, o.bytes_in) * 8.0,
                        bps_out: d(n.bytes_out, o.bytes_out) * 8.0,
                    }
                })
                .collect()
        };
        Rates {
            services: per(&c1.services, &c0.services),
            backends: per(&c1.backends, &c0.backends),
            snat: per(&c1.snat, &c0.snat),
        }
    }
}

fn flow_stats(c: Option<&FlowCounters>) -> FlowStats {
    let c = c.copied().unwrap_or_default();
    FlowStats {
        conns: c.conns,
        packets_in: c.packets_in,
        packets_out: c.packets_out,
        bytes_in: c.bytes_in,
        bytes_out: c.bytes_out,
        denied: c.denied,
        rate_limited: c.rate_limited,
        client_rate_limited: c.client_rate_limited,
    }
}

pub fn empty_list(generation: u64) -> ListReply {
    ListReply {
        generation,
        services: Vec::new(),
        snat: Vec::new(),
    }
}

/// Services in config order, each with its backends (and the deleted ones
/// still draining), counters and rates as asked: `stats` is the sampler
/// when counters and histograms are asked for (it holds the services'
/// connections-per-second histograms), `rates` the rates when they are.
pub fn list(
    config: &Config,
    tables: &LbTables,
    generation: u64,
    totals: &Totals,
    stats: Option<&RateSampler>,
    rates: Option<&Rates>,
) -> ListReply {
    let sampler = stats;
    let stats = sampler.is_some();
    let counters = totals.counters();
    let live = &totals.sessions;
    let rate = |list: Option<&Vec<FlowRates>>, id: usize| {
        list.map(|l| l.get(id).copied().unwrap_or_default())
    };
    let mut services = Vec::with_capacity(config.services.len());
    for s in &config.services {
        let key = s.key();
        let Some(id) = tables.service_index.by_key(&key) else {
            continue;
        };
        let Some(svc) = tables.services.get(id as usize) else {
            continue;
        };
        let id = id as usize;
        let backend_status = |b: u32, weight: u32, draining: bool| {
            let b = b as usize;
            let info = tables.backends.get(b);
            let counts = live.backends.get(b).copied().unwrap_or_default();
            BackendStatus {
                address: info.map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |i| i.addr),
                port: info.map_or(0, |i| i.port),
                weight,
                active: counts.active,
                inactive: counts.inactive,
                draining,
                stats: stats.then(|| flow_stats(counters.backends.get(b))),
                rate: rate(rates.map(|r| &r.backends), b),
            }
        };
        let mut backends: Vec<BackendStatus> = svc
            .backend_ids
            .iter()
            .zip(&svc.spec.backends)
            .map(|(&b, spec)| backend_status(b, spec.weight, false))
            .collect();
        for (b, info) in tables.backends.iter().enumerate() {
            let draining = info.service as usize == id
                && info.state.is_retired()
                && !info.state.is_free()
                && live.backends.get(b).is_some_and(|c| c.total() > 0);
            if draining {
                backends.push(backend_status(b as u32, 0, true));
            }
        }
        services.push(ServiceStatus {
            key,
            name: s.name.clone(),
            mode: s.mode,
            scheduler: s.scheduler,
            persistence: s.persistence,
            port_last: (s.port != 0 && s.multi_port()).then(|| s.ports().1),
            ops: s.ops,
            also_listen: s.also_listen.clone(),
            local_addresses: s.local_addresses.clone(),
            sessions: live.services.get(id).copied().unwrap_or(0),
            stats: stats.then(|| flow_stats(counters.services.get(id))),
            session_lifetimes: stats.then(|| {
                let h = totals.lifetimes.get(id).cloned();
                h.unwrap_or_else(|| Histogram::new(&SESSION_LIFETIME_MS))
            }),
            new_connection_rates: sampler.map(|r| {
                let h = r.new_connections(id).cloned();
                h.unwrap_or_else(|| Histogram::new(&NEW_CONNECTIONS_PER_SECOND))
            }),
            rate: rate(rates.map(|r| &r.services), id),
            backends,
        });
    }
    let snat = config
        .snat
        .iter()
        .filter_map(|rule| {
            let id = tables.snat.iter().position(|r| {
                !r.state.is_retired()
                    && r.spec.source == (rule.source.network(), rule.source.prefix_len())
            })?;
            Some(SnatStatus {
                source: rule.source,
                addresses: rule.addresses.clone(),
                sessions: live.snat.get(id).copied().unwrap_or(0),
                stats: stats.then(|| flow_stats(counters.snat.get(id))),
                rate: rate(rates.map(|r| &r.snat), id),
            })
        })
        .collect();
    ListReply {
        generation,
        services,
        snat,
    }
}

pub fn session_info(worker: usize, s: &SessionView) -> SessionInfo {
    let addr = |(a, p): (std::net::IpAddr, u16)| SocketAddr::new(a, p);
    SessionInfo {
        worker,
        protocol: IpProto(s.proto).to_string(),
        service: s.service,
        client: addr(s.client),
        destination: addr(s.destination),
        local: s.local.map(addr),
        backend: addr(s.backend),
        state: s.state.to_string(),
        expires_in_ms: s.expires_in_ms,
    }
}

pub fn port_status(p: &Port<'_>, steering: String) -> PortStatus {
    let s = p.stats();
    let bond = p.bond_status();
    PortStatus {
        name: p.name().to_string(),
        rx_packets: s.rx_packets,
        tx_packets: s.tx_packets,
        rx_bytes: s.rx_bytes,
        tx_bytes: s.tx_bytes,
        rx_missed: s.rx_missed,
        rx_nombuf: s.rx_no_mbuf,
        rx_errors: s.rx_errors,
        tx_errors: s.tx_errors,
        steering,
        bond_mode: bond
            .as_ref()
            .map(|b| crate::bond::mode_name(b.mode).to_owned()),
        members: bond.map_or_else(Vec::new, |b| b.members.iter().map(member_status).collect()),
    }
}

fn member_status(m: &MemberStatus) -> BondMemberStatus {
    BondMemberStatus {
        name: m.name.clone(),
        link_up: m.link_up,
        active: m.active,
        lacp_actor_state: m.lacp.map(|l| l.actor_state),
        lacp_partner_state: m.lacp.map(|l| l.partner_state),
        rx_packets: m.stats.rx_packets,
        tx_packets: m.stats.tx_packets,
        rx_missed: m.stats.rx_missed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn with_conns(conns: &[u64]) -> LbCounters {
        let mut c = LbCounters::new(conns.len(), 0, 0);
        for (s, &n) in c.services.iter_mut().zip(conns) {
            s.conns = n;
        }
        c
    }

    #[test]
    fn each_sample_counts_each_services_connections_per_second() {
        let b = &NEW_CONNECTIONS_PER_SECOND;
        let bucket = |n| b.bounds.partition_point(|&bound| bound < n);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut r = RateSampler::default();
        // The first sample has nothing to compare with.
        r.sample(at(0), with_conns(&[0, 0]), &[1, 1]);
        assert_eq!(r.new_connections(0).map(Histogram::count), None);
        r.sample(at(1), with_conns(&[5, 0]), &[1, 1]);
        r.sample(at(2), with_conns(&[55, 0]), &[1, 1]);
        // Two seconds in one interval: 20 a second.
        r.sample(at(4), with_conns(&[95, 0]), &[1, 1]);
        let h = r.new_connections(0).expect("service 0");
        let mut want = vec![0; b.bounds.len() + 1];
        for n in [5, 50, 20] {
            want[bucket(n)] += 1;
        }
        assert_eq!(h.counts, want);
        assert_eq!(h.sum, 75);
        let idle = r.new_connections(1).expect("service 1");
        assert_eq!(
            (idle.counts[0], idle.count()),
            (3, 3),
            "0 a second, three times"
        );

        // Id 0 given to another service: its histogram starts again, and
        // the interval that straddles the reuse is not counted.
        r.sample(at(5), with_conns(&[0, 0]), &[9, 1]);
        assert_eq!(r.new_connections(0).map(Histogram::count), Some(0));
        r.sample(at(6), with_conns(&[3, 0]), &[9, 1]);
        assert_eq!(r.new_connections(0).map(|h| h.sum), Some(3));

        r.zero(Some(1));
        assert_eq!(r.new_connections(1).map(Histogram::count), Some(0));
        assert_eq!(r.new_connections(0).map(Histogram::count), Some(1));
        r.zero(None);
        assert_eq!(r.new_connections(0).map(Histogram::count), Some(0));
    }
}
