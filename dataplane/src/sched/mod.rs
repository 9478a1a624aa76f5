//! Schedulers: which backend a new flow goes to.
//!
//! A [`Scheduler`] is built off the packet path from a service's backend list
//! (it sorts the backends by address and port, so the result does not depend
//! on the order they were given in) and then kept per worker: rr and wrr keep
//! a cursor, lc and wlc read the worker's own [`ConnCounts`]. Picking never
//! allocates. Backends with weight 0 get no new flows (drain), nor do
//! backends over their connection threshold ([`overload`]).

pub mod ipvs;
pub mod keys;
pub mod locality;
pub mod maglev;
pub mod overload;
pub mod persist;

use std::net::IpAddr;
use std::sync::Arc;

use crate::flow::ConnCounts;
#[cfg(test)]
use crate::flow::SessionTable;
use crate::tuple::FiveTuple;
use locality::LocalityTable;
use maglev::{MaglevError, MaglevTable};
use overload::Overload;
pub use overload::Thresholds;

pub use keys::SchedFlow;
pub use persist::{Persistence, PersistentService};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Backend {
    /// Stable id, as sessions and connection counts know the backend.
    pub id: u32,
    pub addr: IpAddr,
    pub port: u16,
    pub weight: u32,
}

impl Backend {
    /// What makes a backend the same backend: address and port (the
    /// order backends are taken in: IPv4 ones by address as numbers).
    pub fn identity(&self) -> (IpAddr, u16) {
        (self.addr, self.port)
    }

    /// The identity as one number for Maglev's permutations: for IPv4 the
    /// address and port side by side, as before IPv6 (so every node of a
    /// mixed-version cluster builds the same table); for IPv6 the whole
    /// address folded in with the port.
    pub fn hash_key(&self) -> u64 {
        match self.addr {
            IpAddr::V4(a) => (u64::from(u32::from(a)) << 16) | u64::from(self.port),
            IpAddr::V6(a) => {
                let v = u128::from(a);
                let folded = stable_mix(v as u64) ^ ((v >> 64) as u64);
                // The top bit keeps them apart from IPv4 keys (< 2^48).
                stable_mix(folded ^ (u64::from(self.port) << 48)) | (1 << 63)
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SchedulerKind {
    RoundRobin,
    /// Smooth weighted round robin (nginx): interleaves instead of bursting.
    WeightedRoundRobin,
    LeastConnection,
    WeightedLeastConnection,
    /// Source-IP hash, weighted.
    SourceHash,
    /// Maglev over the 5-tuple (or the source address alone).
    Maglev {
        table_size: usize,
        hash_ports: bool,
    },
    /// Destination-address hash, unweighted, no fallback (IPVS dh).
    DestinationHash,
    /// Shortest expected delay: least (active + 1) / weight (IPVS sed).
    ShortestExpectedDelay,
    /// An idle backend if any, else as sed (IPVS nq).
    NeverQueue,
    /// Locality-based least connection (IPVS lblc).
    LocalityLeastConnection,
    /// The same with a set of backends per destination (IPVS lblcr).
    LocalityLeastConnectionReplicated,
    /// Highest weight wins (IPVS fo).
    WeightedFailover,
    /// Highest weight with active connections within it (IPVS ovf).
    Overflow,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SchedError {
    DuplicateBackend(IpAddr, u16),
    Maglev(MaglevError),
}

/// Slots in the source-hash table: enough that rounding keeps each backend's
/// share within 1/4096 of its weight's.
pub const SOURCE_HASH_SLOTS: usize = 4096;

#[derive(Clone, Debug)]
enum Algo {
    RoundRobin {
        next: usize,
    },
    WeightedRoundRobin {
        current: Vec<i64>,
    },
    LeastConnection,
    WeightedLeastConnection,
    SourceHash {
        slots: Vec<u32>,
    },
    Maglev {
        table: Arc<MaglevTable>,
        hash_ports: bool,
    },
    DestinationHash {
        buckets: Vec<u32>,
    },
    ShortestExpectedDelay,
    NeverQueue,
    Locality(Box<LocalityTable>),
    WeightedFailover,
    Overflow,
}

#[derive(Clone, Debug)]
pub struct Scheduler {
    /// Weights here are the effective ones: 0 while overloaded.
    backends: Vec<Backend>,
    algo: Algo,
    /// None when no backend has a connection threshold.
    overload: Option<Box<Overload>>,
}

impl Scheduler {
    pub fn new(kind: SchedulerKind, mut backends: Vec<Backend>) -> Result<Scheduler, SchedError> {
        backends.sort_by_key(Backend::identity);
        if let Some(w) = backends
            .windows(2)
            .find(|w| w[0].identity() == w[1].identity())
        {
            return Err(SchedError::DuplicateBackend(w[0].addr, w[0].port));
        }
        let algo = match kind {
            SchedulerKind::RoundRobin => Algo::RoundRobin { next: 0 },
            SchedulerKind::WeightedRoundRobin => Algo::WeightedRoundRobin {
                current: vec![0; backends.len()],
            },
            SchedulerKind::LeastConnection => Algo::LeastConnection,
            SchedulerKind::WeightedLeastConnection => Algo::WeightedLeastConnection,
            SchedulerKind::SourceHash => Algo::SourceHash {
                slots: weighted_slots(&backends, SOURCE_HASH_SLOTS),
            },
            SchedulerKind::Maglev {
                table_size,
                hash_ports,
            } => Algo::Maglev {
                table: Arc::new(
                    MaglevTable::build(&backends, table_size).map_err(SchedError::Maglev)?,
                ),
                hash_ports,
            },
            SchedulerKind::DestinationHash => Algo::DestinationHash {
                buckets: ipvs::dh_table(&backends),
            },
            SchedulerKind::ShortestExpectedDelay => Algo::ShortestExpectedDelay,
            SchedulerKind::NeverQueue => Algo::NeverQueue,
            SchedulerKind::LocalityLeastConnection => {
                Algo::Locality(Box::new(LocalityTable::new(false, backends.len())))
            }
            SchedulerKind::LocalityLeastConnectionReplicated => {
                Algo::Locality(Box::new(LocalityTable::new(true, backends.len())))
            }
            SchedulerKind::WeightedFailover => Algo::WeightedFailover,
            SchedulerKind::Overflow => Algo::Overflow,
        };
        Ok(Scheduler {
            backends,
            algo,
            overload: None,
        })
    }

    /// Gives the backends connection thresholds (`of(id)`), the
    /// appliance's whole; see [`overload`].
    pub fn with_thresholds(mut self, of: impl Fn(u32) -> Thresholds) -> Self {
        let limits = self.backends.iter().map(|b| of(b.id)).collect();
        self.overload = Overload::new(&self.backends, limits).map(Box::new);
        self
    }

    /// This worker's copy: thresholds split among `workers` ([`overload`]).
    pub fn for_worker(&self, workers: usize) -> Self {
        let mut s = self.clone();
        if let Some(o) = &mut s.overload {
            o.split_among(workers);
        }
        s
    }

    /// This worker's connection thresholds by backend id (none: no limit).
    pub fn thresholds_of(&self, id: u32) -> Thresholds {
        let o = self.overload.as_deref();
        self.backends
            .iter()
            .position(|b| b.id == id)
            .and_then(|i| o.and_then(|o| o.shares().get(i).copied()))
            .unwrap_or_default()
    }

    /// Marks the backends at their upper threshold overloaded and those
    /// back below their lower one not, from this worker's counts.
    pub fn refresh_overload(&mut self, conns: &ConnCounts) {
        if let Some(o) = &mut self.overload {
            o.refresh(&mut self.backends, conns);
        }
    }

    /// Whether some backend is overloaded now (as of the last refresh).
    pub fn overloaded(&self) -> bool {
        self.overload.as_deref().is_some_and(Overload::any)
    }

    /// Backends in address order.
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// The Maglev table, to share between workers instead of rebuilding.
    pub fn maglev_table(&self) -> Option<&Arc<MaglevTable>> {
        match &self.algo {
            Algo::Maglev { table, .. } => Some(table),
            _ => None,
        }
    }

    /// Configured weight of backend `id` (overloaded or not); 0 if it is
    /// not (or no longer) here.
    pub fn weight_of(&self, id: u32) -> u32 {
        let Some(i) = self.backends.iter().position(|b| b.id == id) else {
            return 0;
        };
        match &self.overload {
            Some(o) => o.weight(i).unwrap_or(0),
            None => self.backends[i].weight,
        }
    }

    /// The backend for a new flow, or None when every weight is 0 or every
    /// backend with weight is overloaded (or, for the hash schedulers, when
    /// the flow's slot holds a backend at weight 0 or overloaded).
    pub fn pick<F: SchedFlow>(&mut self, flow: &F, conns: &ConnCounts) -> Option<Backend> {
        // Only lblc/lblcr age their entries: the clock is read for them alone.
        let now = match self.algo {
            Algo::Locality(_) => locality::monotonic_ms(),
            _ => 0,
        };
        self.pick_at(flow, conns, now)
    }

    /// `pick` at a given time (milliseconds on a monotonic clock), which
    /// only lblc and lblcr use.
    pub fn pick_at<F: SchedFlow>(
        &mut self,
        flow: &F,
        conns: &ConnCounts,
        now_ms: u64,
    ) -> Option<Backend> {
        self.refresh_overload(conns);
        let n = self.backends.len();
        let i = match &mut self.algo {
            Algo::RoundRobin { next } => {
                let start = *next;
                let found = (0..n)
                    .map(|k| (start + k) % n)
                    .find(|&i| self.backends[i].weight > 0)?;
                *next = (found + 1) % n;
                found
            }
            Algo::WeightedRoundRobin { current } => {
                // The total of the backends taking flows now (an overloaded
                // one sits out), so the cursors stay balanced.
                let mut total = 0;
                let mut best: Option<usize> = None;
                for (i, b) in self.backends.iter().enumerate() {
                    if b.weight == 0 {
                        continue;
                    }
                    total += i64::from(b.weight);
                    current[i] += i64::from(b.weight);
                    if best.map_or(true, |j| current[i] > current[j]) {
                        best = Some(i);
                    }
                }
                let best = best?;
                current[best] -= total;
                best
            }
            Algo::LeastConnection => self
                .backends
                .iter()
                .enumerate()
                .filter(|(_, b)| b.weight > 0)
                .min_by_key(|(_, b)| conns.get(b.id).overhead())
                .map(|(i, _)| i)?,
            Algo::WeightedLeastConnection => {
                // Least overhead per unit of weight, compared by cross
                // multiplication to stay in integers.
                let mut best: Option<(usize, u128, u128)> = None;
                for (i, b) in self.backends.iter().enumerate() {
                    if b.weight == 0 {
                        continue;
                    }
                    let (o, w) = (u128::from(conns.get(b.id).overhead()), u128::from(b.weight));
                    if best.map_or(true, |(_, bo, bw)| o * bw < bo * w) {
                        best = Some((i, o, w));
                    }
                }
                best?.0
            }
            Algo::SourceHash { slots } => {
                if slots.is_empty() {
                    return None;
                }
                let h = stable_mix(flow.source_key());
                let i = ((h >> 32) * slots.len() as u64) >> 32;
                slots.get(i as usize).copied()? as usize
            }
            Algo::Maglev { table, hash_ports } => {
                table.lookup(flow.maglev_hash(*hash_ports))? as usize
            }
            Algo::DestinationHash { buckets } => {
                ipvs::dh_pick(&self.backends, buckets, flow.destination())?
            }
            Algo::ShortestExpectedDelay => ipvs::sed_pick(&self.backends, conns)?,
            Algo::NeverQueue => ipvs::nq_pick(&self.backends, conns)?,
            Algo::Locality(table) => {
                table.pick(&self.backends, conns, flow.destination(), now_ms)?
            }
            Algo::WeightedFailover => ipvs::fo_pick(&self.backends)?,
            Algo::Overflow => ipvs::ovf_pick(&self.backends, conns)?,
        };
        // A prebuilt hash table may name a backend overloaded since.
        self.backends.get(i).copied().filter(|b| b.weight > 0)
    }
}

/// `n` slots shared among the backends in proportion to their weights, each
/// within one slot of its exact share, interleaved (a smooth-wrr sequence) so
/// that neighbouring hash values spread over backends.
fn weighted_slots(backends: &[Backend], n: usize) -> Vec<u32> {
    let total: i64 = backends.iter().map(|b| i64::from(b.weight)).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut current = vec![0i64; backends.len()];
    (0..n)
        .map(|_| {
            let mut best = 0;
            for (i, b) in backends.iter().enumerate() {
                current[i] += i64::from(b.weight);
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            best as u32
        })
        .collect()
}

/// A fixed, unkeyed 64-bit mixer (murmur3's finalizer). Scheduling hashes must
/// agree across workers, restarts and appliances, so they cannot use the
/// session table's random key, and must not change with the Rust release
/// (std's `DefaultHasher` may).
#[inline]
pub fn stable_mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// Stable hash of a flow for Maglev: the 5-tuple, or the client address alone
/// (client affinity across connections, like IPVS's mh without mh-port).
/// (`SchedFlow::maglev_hash` of an IPv4 flow.)
#[inline]
pub fn flow_hash(flow: &FiveTuple, ports: bool) -> u64 {
    flow.maglev_hash(ports)
}

#[cfg(test)]
mod ipv6_tests;
#[cfg(test)]
mod ipvs_tests;
#[cfg(test)]
mod overload_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::table::Transition;
    use crate::flow::{ProtoState, TableConfig, TcpState};
    use crate::tuple::IpProto;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn backend(i: u32, weight: u32) -> Backend {
        Backend {
            id: i,
            addr: (Ipv4Addr::new(10, 0, 0, 10 + i as u8)).into(),
            port: 80,
            weight,
        }
    }

    fn flow(client: u32, port: u16) -> FiveTuple {
        FiveTuple {
            src: Ipv4Addr::from(client),
            dst: Ipv4Addr::new(192, 0, 2, 1),
            src_port: port,
            dst_port: 443,
            proto: IpProto::TCP,
        }
    }

    /// Deterministic pseudo-random clients (xorshift), so failures replay.
    fn clients(n: usize) -> impl Iterator<Item = FiveTuple> {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        (0..n).map(move |_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            flow(s as u32, (s >> 32) as u16)
        })
    }

    fn tally(
        sched: &mut Scheduler,
        flows: impl Iterator<Item = FiveTuple>,
        ids: usize,
    ) -> Vec<usize> {
        // Each pick becomes a connection, so lc and wlc see their choices.
        let mut conns = ConnCounts::new(ids);
        let mut c = vec![0; ids];
        for f in flows {
            let b = sched.pick(&f, &conns).unwrap();
            conns.opened(b.id, ProtoState::Udp);
            c[b.id as usize] += 1;
        }
        c
    }

    const ALL_KINDS: [SchedulerKind; 6] = [
        SchedulerKind::RoundRobin,
        SchedulerKind::WeightedRoundRobin,
        SchedulerKind::LeastConnection,
        SchedulerKind::WeightedLeastConnection,
        SchedulerKind::SourceHash,
        SchedulerKind::Maglev {
            table_size: 251,
            hash_ports: true,
        },
    ];

    #[test]
    fn weight_zero_gets_no_new_flows_in_any_scheduler() {
        for kind in ALL_KINDS {
            let mut s =
                Scheduler::new(kind, vec![backend(0, 1), backend(1, 0), backend(2, 3)]).unwrap();
            let c = tally(&mut s, clients(2000), 3);
            assert_eq!(c[1], 0, "{kind:?}");
            assert!(c[0] > 0 && c[2] > 0, "{kind:?}: {c:?}");
            let mut none = Scheduler::new(kind, vec![backend(0, 0), backend(1, 0)]).unwrap();
            assert_eq!(
                none.pick(&flow(1, 1), &ConnCounts::new(2)),
                None,
                "{kind:?}"
            );
            let mut empty = Scheduler::new(kind, vec![]).unwrap();
            assert_eq!(
                empty.pick(&flow(1, 1), &ConnCounts::new(0)),
                None,
                "{kind:?}"
            );
        }
    }

    #[test]
    fn duplicate_backends_are_rejected() {
        let dup = Backend {
            id: 9,
            ..backend(1, 1)
        };
        assert_eq!(
            Scheduler::new(
                SchedulerKind::RoundRobin,
                vec![backend(1, 1), backend(2, 1), dup]
            )
            .err(),
            Some(SchedError::DuplicateBackend(backend(1, 1).addr, 80))
        );
    }

    #[test]
    fn round_robin_takes_turns() {
        let mut s = Scheduler::new(
            SchedulerKind::RoundRobin,
            vec![backend(2, 5), backend(0, 1), backend(1, 0)],
        )
        .unwrap();
        let conns = ConnCounts::new(3);
        let seq: Vec<u32> = (0..6)
            .map(|_| s.pick(&flow(1, 1), &conns).unwrap().id)
            .collect();
        assert_eq!(seq, vec![0, 2, 0, 2, 0, 2]);
    }

    #[test]
    fn smooth_wrr_is_exact_per_cycle_and_interleaved() {
        let weights = [5u32, 1, 1, 3];
        let b: Vec<Backend> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| backend(i as u32, *w))
            .collect();
        let mut s = Scheduler::new(SchedulerKind::WeightedRoundRobin, b).unwrap();
        let conns = ConnCounts::new(4);
        let total: u32 = weights.iter().sum();
        for _cycle in 0..5 {
            let seq: Vec<u32> = (0..total)
                .map(|_| s.pick(&flow(1, 1), &conns).unwrap().id)
                .collect();
            for (i, w) in weights.iter().enumerate() {
                assert_eq!(seq.iter().filter(|x| **x == i as u32).count(), *w as usize);
            }
            // Smooth: the heaviest never runs more than twice in a row here.
            let longest = seq.chunk_by(|a, b| a == b).map(|r| r.len()).max().unwrap();
            assert!(longest <= 2, "{seq:?}");
        }
    }

    #[test]
    fn least_connection_counts_active_as_256_inactive() {
        let mut conns = ConnCounts::new(3);
        let est = ProtoState::Tcp(TcpState::Established);
        let syn = ProtoState::Tcp(TcpState::SynRecv);
        conns.opened(0, est);
        for _ in 0..255 {
            conns.opened(1, syn);
        }
        conns.opened(2, est);
        conns.opened(2, syn);
        let mut lc = Scheduler::new(
            SchedulerKind::LeastConnection,
            vec![backend(0, 1), backend(1, 1), backend(2, 1)],
        )
        .unwrap();
        assert_eq!(lc.pick(&flow(1, 1), &conns).unwrap().id, 1); // 255 < 256 < 257
        conns.opened(1, syn);
        assert_eq!(lc.pick(&flow(1, 1), &conns).unwrap().id, 0); // first of the ties at 256
                                                                 // Closing moves counts back; a transition to established moves one.
        conns.changed(1, Transition { from: syn, to: est });
        assert_eq!(
            conns.get(1),
            crate::flow::conns::Conns {
                active: 1,
                inactive: 255
            }
        );
        conns.closed(0, est);
        assert_eq!(lc.pick(&flow(1, 1), &conns).unwrap().id, 0);
    }

    #[test]
    fn weighted_least_connection_divides_by_weight() {
        let mut conns = ConnCounts::new(2);
        let est = ProtoState::Tcp(TcpState::Established);
        let mut wlc = Scheduler::new(
            SchedulerKind::WeightedLeastConnection,
            vec![backend(0, 1), backend(1, 3)],
        )
        .unwrap();
        // Feed each pick back as an active connection: shares follow 1:3.
        let mut c = [0; 2];
        for f in clients(400) {
            let b = wlc.pick(&f, &conns).unwrap();
            conns.opened(b.id, est);
            c[b.id as usize] += 1;
        }
        assert!((99..=101).contains(&c[0]), "{c:?}");
    }

    #[test]
    fn source_hash_is_sticky_and_proportional_to_weight() {
        let weights = [1u32, 2, 3, 4];
        let b: Vec<Backend> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| backend(i as u32, *w))
            .collect();
        let mut s = Scheduler::new(SchedulerKind::SourceHash, b).unwrap();
        let n = 200_000;
        let c = tally(&mut s, clients(n), 4);
        for (i, w) in weights.iter().enumerate() {
            let share = c[i] as f64 / n as f64;
            assert!(
                (share - f64::from(*w) / 10.0).abs() < 0.01,
                "backend {i}: {share}"
            );
        }
        let conns = ConnCounts::new(4);
        for f in clients(100) {
            let other_port = FiveTuple {
                src_port: f.src_port ^ 1,
                ..f
            };
            assert_eq!(s.pick(&f, &conns), s.pick(&other_port, &conns));
        }
    }

    #[test]
    fn maglev_flows_spread_by_weight() {
        let weights = [1u32, 1, 2, 4];
        let b: Vec<Backend> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| backend(i as u32, *w))
            .collect();
        let kind = SchedulerKind::Maglev {
            table_size: maglev::DEFAULT_SIZE,
            hash_ports: true,
        };
        let mut s = Scheduler::new(kind, b).unwrap();
        let n = 200_000;
        let c = tally(&mut s, clients(n), 4);
        for (i, w) in weights.iter().enumerate() {
            let share = c[i] as f64 / n as f64;
            assert!(
                (share - f64::from(*w) / 8.0).abs() < 0.01,
                "backend {i}: {share}"
            );
        }
    }

    #[test]
    fn persistence_keeps_a_client_on_its_backend_until_timeout_or_drain() {
        let mut table = SessionTable::new(
            TableConfig {
                capacity: 64,
                ..TableConfig::default()
            },
            0,
        )
        .unwrap();
        let b: Vec<Backend> = (0..4).map(|i| backend(i, 1)).collect();
        let mut sched = Scheduler::new(SchedulerKind::RoundRobin, b.clone()).unwrap();
        let conns = ConnCounts::new(4);
        const SVC: PersistentService = PersistentService {
            id: 0,
            vip: Ipv4Addr::new(192, 0, 2, 1),
            port: 80,
        };
        let p = Persistence {
            timeout_ms: 60_000,
            prefix_len: 24,
        };
        let first = p
            .pick(&mut table, &mut sched, &conns, &flow(0x0a000001, 1), SVC, 0)
            .unwrap();
        // Other connections and a neighbour in the /24 stick; another /24 moves on.
        for (client, port, t) in [(0x0a000001, 2, 30_000), (0x0a0000fe, 3, 80_000)] {
            assert_eq!(
                p.pick(&mut table, &mut sched, &conns, &flow(client, port), SVC, t),
                Some(first)
            );
        }
        assert_ne!(
            p.pick(
                &mut table,
                &mut sched,
                &conns,
                &flow(0x0b000001, 1),
                SVC,
                80_000
            ),
            Some(first)
        );
        // Past the timeout the template is gone; round robin has moved on.
        table.expire(140_000, 100, |_, _| {});
        assert_ne!(
            p.pick(
                &mut table,
                &mut sched,
                &conns,
                &flow(0x0a000001, 9),
                SVC,
                140_000
            ),
            Some(first)
        );
        // Draining the remembered backend sends the client elsewhere.
        let now_on = p
            .pick(
                &mut table,
                &mut sched,
                &conns,
                &flow(0x0a000001, 10),
                SVC,
                140_001,
            )
            .unwrap();
        let drained: Vec<Backend> = b
            .iter()
            .map(|x| Backend {
                weight: u32::from(x.id != now_on.id),
                ..*x
            })
            .collect();
        let mut sched = Scheduler::new(SchedulerKind::RoundRobin, drained).unwrap();
        let moved = p
            .pick(
                &mut table,
                &mut sched,
                &conns,
                &flow(0x0a000001, 11),
                SVC,
                140_002,
            )
            .unwrap();
        assert_ne!(moved.id, now_on.id);
        assert_eq!(
            p.pick(
                &mut table,
                &mut sched,
                &conns,
                &flow(0x0a000001, 12),
                SVC,
                140_003
            ),
            Some(moved)
        );
    }

    proptest! {
        /// Maglev and source hash depend on the backend set, not on the
        /// order the backends were configured in.
        #[test]
        fn hashing_schedulers_ignore_insertion_order(
            weights in proptest::collection::vec(0u32..5, 1..30),
            seed in any::<u64>(),
        ) {
            let b: Vec<Backend> = weights.iter().enumerate().map(|(i, w)| backend(i as u32, *w)).collect();
            let mut shuffled = b.clone();
            let mut s = seed | 1;
            for i in (1..shuffled.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                shuffled.swap(i, (s % (i as u64 + 1)) as usize);
            }
            for kind in [SchedulerKind::SourceHash, SchedulerKind::Maglev { table_size: 1009, hash_ports: true }] {
                let mut x = Scheduler::new(kind, b.clone()).unwrap();
                let mut y = Scheduler::new(kind, shuffled.clone()).unwrap();
                if let (Some(tx), Some(ty)) = (x.maglev_table(), y.maglev_table()) {
                    let ids = |s: &Scheduler, t: &MaglevTable| t.slots().iter().map(|i| s.backends()[*i as usize].id).collect::<Vec<_>>();
                    prop_assert_eq!(ids(&x, tx), ids(&y, ty));
                }
                let conns = ConnCounts::new(30);
                for f in clients(200) {
                    prop_assert_eq!(x.pick(&f, &conns), y.pick(&f, &conns));
                }
            }
        }
    }
}
