//! New-connection rate limits per service: one token bucket for the whole
//! service (`new_conn_rate`) and one per client prefix (`client_rate`).
//!
//! Every worker has its own buckets (no shared writes): a service's rate
//! and burst are split evenly among the workers. The split is exact, with
//! no rounding: a worker's bucket counts in units where one connection
//! costs `workers * 1000` and a millisecond earns `rate`, so W workers
//! together admit `rate` connections per second. Each worker may always
//! hold at least one connection's worth (a burst smaller than the number of
//! workers is raised to it). RSS spreads clients over workers, so the split
//! matches the traffic; a single client prefix lands on one worker (its
//! flows hash there), which is why its bucket gets the same share.
//!
//! The clock is the worker's millisecond clock, passed in: no syscall.
//!
//! Client buckets live in a fixed table per service and worker
//! ([`CLIENT_SLOTS`] slots, [`WAYS`]-way set associative, keyed by the
//! client address masked to `client_prefix_len`: of 32 bits for an IPv4
//! client, of 128 for an IPv6 one (a service's clients are of its VIP's
//! family, NAT64's IPv6), the set chosen by a hash
//! seeded per worker so that sets cannot be targeted from outside). A
//! prefix not in the table takes a free way of its set, or evicts the way
//! seen longest ago: the evicted prefix's debt is forgotten and it starts
//! again with a full bucket. So with more than `CLIENT_SLOTS` prefixes
//! active on one worker (or more than `WAYS` in one set) the limit
//! becomes approximate for the least recent ones; a prefix that keeps
//! sending stays in its set.

use crate::drop::DropReason;
use crate::sched::stable_mix;
use std::net::IpAddr;

/// Client buckets per service and worker.
pub const CLIENT_SLOTS: usize = 8192;
/// Ways of a set in the client table.
pub const WAYS: usize = 4;

/// A rate: `rate` new connections per second, up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub rate: u32,
    pub burst: u32,
}

/// A rate per client prefix of `prefix_len` bits (of an IPv4 address,
/// 0..=32, or an IPv6 one, 0..=128: the clients' family).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientLimit {
    pub rate: RateLimit,
    pub prefix_len: u8,
}

/// A bucket's parameters for one worker's share (see the module comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Share {
    /// Units one connection costs.
    cost: u64,
    /// Units earned per millisecond.
    per_ms: u64,
    /// Units the bucket holds at most.
    cap: u64,
}

impl Share {
    fn new(limit: RateLimit, workers: usize) -> Self {
        let w = workers.max(1) as u64;
        Share {
            cost: w * 1000,
            per_ms: u64::from(limit.rate),
            cap: u64::from(limit.burst).max(w) * 1000,
        }
    }
}

/// A bucket's state: units held, and when it last earned.
#[derive(Clone, Copy, Debug, Default)]
struct Fill {
    units: u64,
    last_ms: u64,
}

impl Fill {
    fn full(share: Share, now_ms: u64) -> Self {
        Fill {
            units: share.cap,
            last_ms: now_ms,
        }
    }

    /// Full from the start of the clock (earning stops at the cap).
    fn fresh(share: Share) -> Self {
        Fill::full(share, 0)
    }

    /// Earns what the time since last gives; whether a connection fits.
    /// A clock that steps back earns nothing.
    fn ready(&mut self, share: Share, now_ms: u64) -> bool {
        let earned = now_ms
            .saturating_sub(self.last_ms)
            .saturating_mul(share.per_ms);
        self.units = self.units.saturating_add(earned).min(share.cap);
        self.last_ms = self.last_ms.max(now_ms);
        self.units >= share.cost
    }

    fn take(&mut self, share: Share) {
        self.units = self.units.saturating_sub(share.cost);
    }
}

/// One worker's client buckets of one service.
#[derive(Clone, Debug)]
struct ClientTable {
    share: Share,
    prefix_len: u8,
    seed: u64,
    /// Key (the masked address) per slot; `used` says which hold one.
    keys: Vec<u128>,
    used: Vec<bool>,
    fills: Vec<Fill>,
}

impl ClientTable {
    fn new(limit: ClientLimit, workers: usize, seed: u64) -> Self {
        ClientTable {
            share: Share::new(limit.rate, workers),
            prefix_len: limit.prefix_len,
            seed,
            keys: vec![0; CLIENT_SLOTS],
            used: vec![false; CLIENT_SLOTS],
            fills: vec![Fill::default(); CLIENT_SLOTS],
        }
    }

    /// The slot of `client`'s prefix: found, else a free or the least
    /// recently seen way of its set (reset to a full bucket).
    fn slot(&mut self, client: IpAddr, now_ms: u64) -> usize {
        let key = prefix_key(client, self.prefix_len);
        let sets = (CLIENT_SLOTS / WAYS) as u64;
        let folded = (key >> 64) as u64 ^ key as u64;
        let set = (stable_mix(folded ^ self.seed) % sets) as usize * WAYS;
        let ways = set..set + WAYS;
        let found = ways
            .clone()
            .find(|&i| self.used.get(i) == Some(&true) && self.keys.get(i) == Some(&key));
        if let Some(i) = found {
            return i;
        }
        let victim = ways
            .clone()
            .find(|&i| self.used.get(i) == Some(&false))
            .or_else(|| ways.min_by_key(|&i| self.fills.get(i).map_or(0, |f| f.last_ms)))
            .unwrap_or(set);
        if let (Some(k), Some(u), Some(f)) = (
            self.keys.get_mut(victim),
            self.used.get_mut(victim),
            self.fills.get_mut(victim),
        ) {
            *k = key;
            *u = true;
            *f = Fill::full(self.share, now_ms);
        }
        victim
    }
}

/// `client` masked to its first `len` bits (at most its family's), as a
/// table key.
fn prefix_key(client: IpAddr, len: u8) -> u128 {
    let (bits, width) = match client {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    };
    let keep = u32::from(len).min(width);
    match keep {
        0 => 0,
        n => bits >> (width - n) << (width - n),
    }
}

/// One worker's limits of one service.
#[derive(Clone, Debug)]
struct ServiceLimits {
    conn: Option<(RateLimit, Share, Fill)>,
    clients: Option<(ClientLimit, Box<ClientTable>)>,
}

/// One worker's rate limits, by service id.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    services: Vec<Option<ServiceLimits>>,
    workers: usize,
    seed: u64,
}

impl Limits {
    pub fn new(workers: usize, seed: u64) -> Self {
        Limits {
            services: Vec::new(),
            workers,
            seed,
        }
    }

    /// Follows new tables: service `s` has limits `of(s)`. Buckets whose
    /// limit did not change keep their state, unless their id was given to
    /// another service (`reborn`); others start full. Off the packet path
    /// (allocates a client table).
    pub fn fit(
        &mut self,
        of: impl Fn(usize) -> (Option<RateLimit>, Option<ClientLimit>),
        services: usize,
        reborn: &[u32],
    ) {
        self.services.resize(services, None);
        for (s, slot) in self.services.iter_mut().enumerate() {
            let (conn, client) = of(s);
            let fresh = reborn.contains(&(s as u32));
            let old = if fresh { None } else { slot.take() };
            let (old_conn, old_clients) = old.map_or((None, None), |o| (o.conn, o.clients));
            let conn = conn.map(|l| match old_conn {
                Some(o) if o.0 == l => o,
                _ => {
                    let share = Share::new(l, self.workers);
                    (l, share, Fill::fresh(share))
                }
            });
            let clients = client.map(|l| match old_clients {
                Some(o) if o.0 == l => o,
                _ => {
                    let seed = self.seed ^ stable_mix(s as u64);
                    (l, Box::new(ClientTable::new(l, self.workers, seed)))
                }
            });
            *slot =
                (conn.is_some() || clients.is_some()).then_some(ServiceLimits { conn, clients });
        }
    }

    /// Whether service `s` may open a new connection from `client` now;
    /// takes its tokens if so. The client's bucket is checked first, and
    /// neither is charged unless both have room, so a client over its
    /// limit does not use up the service's rate.
    pub fn admit(&mut self, s: u32, client: IpAddr, now_ms: u64) -> Result<(), DropReason> {
        let Some(Some(l)) = self.services.get_mut(s as usize) else {
            return Ok(());
        };
        let mut client_fill = None;
        if let Some((_, table)) = &mut l.clients {
            let i = table.slot(client, now_ms);
            let share = table.share;
            if let Some(f) = table.fills.get_mut(i) {
                if !f.ready(share, now_ms) {
                    return Err(DropReason::ClientRateLimited);
                }
                client_fill = Some((i, share));
            }
        }
        if let Some((_, share, fill)) = &mut l.conn {
            if !fill.ready(*share, now_ms) {
                return Err(DropReason::RateLimited);
            }
            fill.take(*share);
        }
        if let (Some((i, share)), Some((_, table))) = (client_fill, &mut l.clients) {
            if let Some(f) = table.fills.get_mut(i) {
                f.take(share);
            }
        }
        Ok(())
    }
}

/// The rate limits of service `s` of `t` (none for a retired one).
pub fn of_service(
    t: &crate::tables::LbTables,
    s: usize,
) -> (Option<RateLimit>, Option<ClientLimit>) {
    t.services
        .get(s)
        .filter(|svc| svc.state == crate::tables::Lifecycle::Active)
        .map_or((None, None), |svc| {
            (svc.spec.new_conn_rate, svc.spec.client_rate)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn limits(workers: usize, conn: Option<RateLimit>, client: Option<ClientLimit>) -> Limits {
        let mut l = Limits::new(workers, 7);
        l.fit(|_| (conn, client), 1, &[]);
        l
    }

    fn admitted(l: &mut Limits, client: [u8; 4], now: u64, n: usize) -> usize {
        (0..n)
            .filter(|_| l.admit(0, Ipv4Addr::from(client).into(), now).is_ok())
            .count()
    }

    #[test]
    fn a_service_bucket_takes_its_burst_then_its_share_of_the_rate() {
        let rl = RateLimit {
            rate: 100,
            burst: 20,
        };
        // One worker of two: half the burst, then half the rate.
        let mut l = limits(2, Some(rl), None);
        assert_eq!(admitted(&mut l, [10, 0, 0, 1], 0, 100), 10);
        assert_eq!(
            l.admit(0, Ipv4Addr::new(10, 0, 0, 1).into(), 0),
            Err(DropReason::RateLimited)
        );
        // One second later: 50 more (capped by the burst share of 10).
        assert_eq!(admitted(&mut l, [10, 0, 0, 1], 1000, 100), 10);
        // 100 ms later: 100 * 0.1 / 2 = 5.
        assert_eq!(admitted(&mut l, [10, 0, 0, 1], 1100, 100), 5);
        // A clock that steps back earns nothing.
        assert_eq!(admitted(&mut l, [10, 0, 0, 1], 900, 100), 0);
    }

    #[test]
    fn a_burst_below_the_worker_count_still_lets_one_through() {
        let rl = RateLimit { rate: 1, burst: 1 };
        let mut l = limits(4, Some(rl), None);
        assert_eq!(admitted(&mut l, [10, 0, 0, 1], 0, 10), 1);
        // 1/s shared by 4 workers: this one earns one every 4 s.
        assert_eq!(admitted(&mut l, [10, 0, 0, 1], 3999, 10), 0);
        assert_eq!(admitted(&mut l, [10, 0, 0, 1], 4000, 10), 1);
    }

    #[test]
    fn client_prefixes_have_their_own_buckets_and_spare_the_service() {
        let client = ClientLimit {
            rate: RateLimit { rate: 10, burst: 3 },
            prefix_len: 24,
        };
        let conn = RateLimit {
            rate: 1000,
            burst: 5,
        };
        let mut l = limits(1, Some(conn), Some(client));
        // Same /24: one bucket of 3.
        assert_eq!(admitted(&mut l, [10, 0, 0, 1], 0, 2), 2);
        assert_eq!(admitted(&mut l, [10, 0, 0, 200], 0, 5), 1);
        assert_eq!(
            l.admit(0, Ipv4Addr::new(10, 0, 0, 9).into(), 0),
            Err(DropReason::ClientRateLimited)
        );
        // Refused ones did not use the service's 5: two are left.
        assert_eq!(admitted(&mut l, [10, 0, 1, 1], 0, 5), 2);
        assert_eq!(
            l.admit(0, Ipv4Addr::new(10, 0, 2, 1).into(), 0),
            Err(DropReason::RateLimited)
        );
        // 100 ms: the /24 earns one.
        assert_eq!(admitted(&mut l, [10, 0, 0, 1], 100, 5), 1);
    }

    #[test]
    fn the_client_table_stays_bounded_and_evicts_the_least_recent() {
        let client = ClientLimit {
            rate: RateLimit { rate: 1, burst: 1 },
            prefix_len: 32,
        };
        let mut l = limits(1, None, Some(client));
        assert_eq!(admitted(&mut l, [10, 0, 0, 1], 0, 3), 1);
        // Far more clients than slots: each gets its one, memory stays.
        for i in 0..(CLIENT_SLOTS as u32 * 4) {
            let a = Ipv4Addr::from(0x0b00_0000 + i).octets();
            assert_eq!(admitted(&mut l, a, 1 + u64::from(i) / 1000, 1), 1);
        }
        // 10.0.0.1 was evicted long ago: it starts again with a full bucket.
        assert_eq!(admitted(&mut l, [10, 0, 0, 1], 40, 3), 1);
    }

    #[test]
    fn refit_keeps_unchanged_buckets_and_resets_reborn_and_changed_ones() {
        let rl = RateLimit { rate: 1, burst: 2 };
        let mut l = limits(1, Some(rl), None);
        assert_eq!(admitted(&mut l, [10, 0, 0, 1], 0, 5), 2);
        l.fit(|_| (Some(rl), None), 1, &[]);
        assert_eq!(admitted(&mut l, [10, 0, 0, 1], 0, 5), 0, "kept empty");
        l.fit(|_| (Some(rl), None), 1, &[0]);
        assert_eq!(admitted(&mut l, [10, 0, 0, 1], 0, 5), 2, "reborn: full");
        let other = RateLimit { rate: 1, burst: 3 };
        l.fit(|_| (Some(other), None), 1, &[]);
        assert_eq!(admitted(&mut l, [10, 0, 0, 1], 0, 5), 3, "changed: full");
        l.fit(|_| (None, None), 1, &[]);
        assert_eq!(admitted(&mut l, [10, 0, 0, 1], 0, 5), 5, "no limit");
    }

    #[test]
    fn ipv6_clients_share_a_bucket_by_their_prefix_of_128_bits() {
        let client = ClientLimit {
            rate: RateLimit { rate: 10, burst: 2 },
            prefix_len: 64,
        };
        let mut l = limits(1, None, Some(client));
        let a = |s: &str| IpAddr::V6(s.parse::<Ipv6Addr>().expect("address"));
        let admitted6 = |l: &mut Limits, c: &str, n: usize| {
            (0..n).filter(|_| l.admit(0, a(c), 0).is_ok()).count()
        };
        // One /64, two addresses: one bucket of 2.
        assert_eq!(admitted6(&mut l, "2001:db8:1:2::1", 1), 1);
        assert_eq!(admitted6(&mut l, "2001:db8:1:2:ffff::9", 5), 1);
        assert_eq!(
            l.admit(0, a("2001:db8:1:2::3"), 0),
            Err(DropReason::ClientRateLimited)
        );
        // The next /64 (a difference in bit 64) has its own.
        assert_eq!(admitted6(&mut l, "2001:db8:1:3::1", 5), 2);
        // A length of 128 is one address; over 128 is taken as 128.
        for len in [128, 200] {
            let one = ClientLimit {
                prefix_len: len,
                ..client
            };
            let mut l = limits(1, None, Some(one));
            assert_eq!(admitted6(&mut l, "2001:db8::1", 5), 2);
            assert_eq!(admitted6(&mut l, "2001:db8::2", 5), 2);
        }
        // Keys keep the bits the length names and nothing else.
        assert_eq!(prefix_key(a("2001:db8::ffff"), 16), 0x2001u128 << 112);
        assert_eq!(prefix_key(a("2001:db8::1"), 0), 0);
        assert_eq!(
            prefix_key(Ipv4Addr::new(10, 1, 2, 3).into(), 24),
            0x0a01_0200
        );
        assert_eq!(
            prefix_key(Ipv4Addr::new(10, 1, 2, 3).into(), 40),
            0x0a01_0203
        );
    }
}
