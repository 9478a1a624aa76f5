//! Local-address port pools for FULLNAT and SNAT.
//!
//! Replies come back to (local address, local port), and the port alone must
//! say which worker owns the flow: worker `i` of `n` hands out only ports whose
//! low bits equal `i`, with mask `next_power_of_two(n) - 1` (DPVS's scheme),
//! so `port & mask` names the owner and NIC flow rules can steer on it.
//!
//! A (local address, port) only has to be unique per backend, because the
//! backend's address and port complete the reply tuple. Backends are spread
//! over a fixed number of buckets by a stable hash and each (address, bucket)
//! has its own free ports: capacity grows with the number of backends up to
//! the bucket count, and memory stays bounded.
//!
//! Free ports sit in a FIFO ring: a released port goes to the back, so it is
//! reused as late as possible (the backend may still hold it in TIME_WAIT).
//! The initial order is shuffled from a seed so ports are not predictable.
//!
//! The pools are generic over the address family ([`PoolAddr`]): IPv4 local
//! addresses (the default) and IPv6 ones (FULLNAT over IPv6, issue 20) share
//! the rings, the ownership by low bits and the buckets; only the key a
//! backend's bucket is hashed from differs.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::sched::stable_mix;

/// An address family a pool hands out ports on: its local and backend
/// addresses are of this type.
pub trait PoolAddr: Copy + Eq + std::fmt::Debug {
    /// The 64-bit key a backend's bucket is hashed from, with its port.
    fn bucket_key(self, port: u16) -> u64;
}

impl PoolAddr for Ipv4Addr {
    /// The address above the port: the key IPv4 pools always used.
    #[inline]
    fn bucket_key(self, port: u16) -> u64 {
        (u64::from(u32::from(self)) << 16) | u64::from(port)
    }
}

impl PoolAddr for Ipv6Addr {
    /// Every bit of the address: the upper half mixed before the lower
    /// half is folded over it, then the port.
    #[inline]
    fn bucket_key(self, port: u16) -> u64 {
        let a = u128::from(self);
        stable_mix((a >> 64) as u64) ^ (a as u64) ^ (u64::from(port) << 48)
    }
}

/// Mask whose bits of a port name its owner among `worker_count` workers.
pub fn owner_mask(worker_count: usize) -> u16 {
    (worker_count.max(1).next_power_of_two() - 1) as u16
}

/// The worker that owns a local port.
pub fn port_owner(port: u16, worker_count: usize) -> usize {
    usize::from(port & owner_mask(worker_count))
}

#[derive(Clone, Debug)]
pub struct PoolConfig<A = Ipv4Addr> {
    pub worker_index: usize,
    pub worker_count: usize,
    pub addrs: Vec<A>,
    /// Inclusive port range to hand out (e.g. 1024..=65535).
    pub port_min: u16,
    pub port_max: u16,
    /// Buckets backends are spread over, each with its own ports.
    pub backend_buckets: usize,
    /// Shuffles the initial port order.
    pub seed: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PoolError {
    WorkerIndex,
    NoAddresses,
    NoPorts,
    Buckets,
}

#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct PoolStats {
    pub allocated: u64,
    pub released: u64,
    /// Flows refused because no port was free.
    pub exhausted: u64,
    /// Releases of a port that was not allocated (a bug upstream).
    pub bad_release: u64,
}

/// Free ports of one (local address, backend bucket).
#[derive(Clone, Debug)]
struct PortRing {
    ring: Vec<u16>,
    head: usize,
    free: usize,
    /// One bit per port number: allocated now.
    in_use: Vec<u64>,
}

impl PortRing {
    /// The next free port. An entry whose port is in use was taken out of
    /// turn ([`LocalPorts::take`]) and is skipped.
    fn pop(&mut self) -> Option<u16> {
        while self.free > 0 {
            let port = *self.ring.get(self.head)?;
            self.head = (self.head + 1) % self.ring.len();
            self.free -= 1;
            if self.is_in_use(port) {
                continue;
            }
            self.set_in_use(port, true);
            return Some(port);
        }
        None
    }

    fn push(&mut self, port: u16) -> bool {
        if !self.is_in_use(port) {
            return false;
        }
        if self.free == self.ring.len() {
            // Only entries left behind by `take` can fill the ring while a
            // port is out: drop them.
            self.compact();
        }
        if self.free == self.ring.len() {
            return false;
        }
        let tail = (self.head + self.free) % self.ring.len();
        if let Some(slot) = self.ring.get_mut(tail) {
            *slot = port;
            self.free += 1;
            self.set_in_use(port, false);
            return true;
        }
        false
    }

    /// Keeps, in order, the free entries whose port is free and not seen
    /// before (a port taken out of turn, released and queued again, can
    /// have a stale entry too). Marks each kept port in use while it
    /// walks, to see repeats without allocating, and clears them after.
    fn compact(&mut self) {
        let len = self.ring.len();
        let mut kept = 0;
        for i in 0..self.free {
            let port = self.ring[(self.head + i) % len];
            if !self.is_in_use(port) {
                self.set_in_use(port, true);
                self.ring[(self.head + kept) % len] = port;
                kept += 1;
            }
        }
        for i in 0..kept {
            let port = self.ring[(self.head + i) % len];
            self.set_in_use(port, false);
        }
        self.free = kept;
    }

    fn is_in_use(&self, port: u16) -> bool {
        self.in_use[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }

    fn set_in_use(&mut self, port: u16, used: bool) {
        let w = &mut self.in_use[usize::from(port >> 6)];
        if used {
            *w |= 1 << (port & 63);
        } else {
            *w &= !(1 << (port & 63));
        }
    }
}

/// One worker's ports on all its local addresses.
#[derive(Clone, Debug)]
pub struct LocalPorts<A = Ipv4Addr> {
    addrs: Vec<A>,
    buckets: usize,
    /// `pools[addr * buckets + bucket]`.
    pools: Vec<PortRing>,
    mask: u16,
    worker: u16,
    port_min: u16,
    port_max: u16,
    /// Address to try first, rotated so flows spread over addresses.
    next_addr: usize,
    stats: PoolStats,
}

impl<A: PoolAddr> LocalPorts<A> {
    pub fn new(cfg: &PoolConfig<A>) -> Result<LocalPorts<A>, PoolError> {
        if cfg.worker_count == 0
            || cfg.worker_index >= cfg.worker_count
            || cfg.worker_count > 1 << 15
        {
            return Err(PoolError::WorkerIndex);
        }
        if cfg.addrs.is_empty() {
            return Err(PoolError::NoAddresses);
        }
        if cfg.backend_buckets == 0 || cfg.backend_buckets > 1 << 16 {
            return Err(PoolError::Buckets);
        }
        let mask = owner_mask(cfg.worker_count);
        let worker = cfg.worker_index as u16;
        let owned: Vec<u16> = (cfg.port_min..=cfg.port_max)
            .filter(|p| p & mask == worker)
            .collect();
        if owned.is_empty() {
            return Err(PoolError::NoPorts);
        }
        let mut rng = cfg.seed | 1;
        let pools = (0..cfg.addrs.len() * cfg.backend_buckets)
            .map(|_| {
                let mut ring = owned.clone();
                for i in (1..ring.len()).rev() {
                    rng = stable_mix(rng.wrapping_add(0x9e37_79b9_7f4a_7c15));
                    ring.swap(i, (rng % (i as u64 + 1)) as usize);
                }
                PortRing {
                    free: ring.len(),
                    ring,
                    head: 0,
                    in_use: vec![0; 1024],
                }
            })
            .collect();
        Ok(LocalPorts {
            addrs: cfg.addrs.clone(),
            buckets: cfg.backend_buckets,
            pools,
            mask,
            worker,
            port_min: cfg.port_min,
            port_max: cfg.port_max,
            next_addr: 0,
            stats: PoolStats::default(),
        })
    }

    /// A pool as [`LocalPorts::new`] builds it, except that the ports in
    /// `held` are already taken: live sessions that got them from an earlier
    /// pool (before a port range change) keep them, and nothing hands them
    /// out twice. Each entry is (local address, port, backend, backend
    /// port), as for [`release`](Self::release); those this pool would not
    /// own (another address, outside the range, another worker's) are
    /// skipped, and their later release is refused harmlessly. Returns the
    /// pool and how many ports it reserved; reserved ports count as
    /// allocated in [`PoolStats`].
    pub fn with_held(
        cfg: &PoolConfig<A>,
        held: impl IntoIterator<Item = (A, u16, A, u16)>,
    ) -> Result<(LocalPorts<A>, usize), PoolError> {
        let mut pool = LocalPorts::new(cfg)?;
        let mut reserved = 0;
        for (addr, port, backend, backend_port) in held {
            let bucket = pool.bucket_of(backend, backend_port);
            if !pool.owns(port) {
                continue;
            }
            let Some(a) = pool.addrs.iter().position(|x| *x == addr) else {
                continue;
            };
            if let Some(ring) = pool.pools.get_mut(a * pool.buckets + bucket) {
                if !ring.is_in_use(port) {
                    ring.set_in_use(port, true);
                    reserved += 1;
                }
            }
        }
        // Take the reserved ports out of the free rings, keeping each ring's
        // length (its capacity for released ports).
        for ring in &mut pool.pools {
            let len = ring.ring.len();
            let in_use = &ring.in_use;
            ring.ring
                .retain(|&p| in_use[usize::from(p >> 6)] & (1 << (p & 63)) == 0);
            ring.free = ring.ring.len();
            ring.head = 0;
            ring.ring.resize(len, 0);
        }
        pool.stats.allocated = reserved as u64;
        Ok((pool, reserved))
    }

    pub fn stats(&self) -> PoolStats {
        self.stats
    }

    pub fn addrs(&self) -> &[A] {
        &self.addrs
    }

    /// The inclusive port range the pool was built for.
    pub fn port_range(&self) -> (u16, u16) {
        (self.port_min, self.port_max)
    }

    /// Backend buckets, fixed when the pool is built.
    pub fn buckets(&self) -> usize {
        self.buckets
    }

    /// Whether `port` is one this worker hands out from this pool's range.
    fn owns(&self, port: u16) -> bool {
        port & self.mask == self.worker && (self.port_min..=self.port_max).contains(&port)
    }

    /// Ports this worker can hand out per (address, bucket).
    pub fn ports_per_pool(&self) -> usize {
        self.pools.first().map_or(0, |p| p.ring.len())
    }

    /// Which bucket a backend's ports come from.
    pub fn bucket_of(&self, backend: A, backend_port: u16) -> usize {
        let key = backend.bucket_key(backend_port);
        (((stable_mix(key) >> 32) * self.buckets as u64) >> 32) as usize
    }

    /// A local (address, port) for a new flow to this backend, or None (and
    /// a count) when every address is out of ports for it.
    pub fn allocate(&mut self, backend: A, backend_port: u16) -> Option<(A, u16)> {
        let bucket = self.bucket_of(backend, backend_port);
        let n = self.addrs.len();
        for k in 0..n {
            let a = (self.next_addr + k) % n;
            if let Some(port) = self
                .pools
                .get_mut(a * self.buckets + bucket)
                .and_then(PortRing::pop)
            {
                self.next_addr = (a + 1) % n;
                self.stats.allocated += 1;
                return Some((self.addrs[a], port));
            }
        }
        self.stats.exhausted += 1;
        None
    }

    /// Takes a given port out of turn, for a session a peer made (session
    /// sync): false if this pool does not hand it out (another worker's
    /// bits, another address, outside the range) or it is in use. Its
    /// entry in the free ring stays and is skipped when reached.
    pub fn take(&mut self, addr: A, port: u16, backend: A, backend_port: u16) -> bool {
        let bucket = self.bucket_of(backend, backend_port);
        if !self.owns(port) {
            return false;
        }
        let Some(ring) = self
            .addrs
            .iter()
            .position(|a| *a == addr)
            .and_then(|a| self.pools.get_mut(a * self.buckets + bucket))
        else {
            return false;
        };
        if ring.is_in_use(port) {
            return false;
        }
        ring.set_in_use(port, true);
        self.stats.allocated += 1;
        true
    }

    /// Gives a port back. False (and a count) if it was not allocated here.
    pub fn release(&mut self, addr: A, port: u16, backend: A, backend_port: u16) -> bool {
        let bucket = self.bucket_of(backend, backend_port);
        let ok = self.owns(port)
            && self
                .addrs
                .iter()
                .position(|a| *a == addr)
                .and_then(|a| self.pools.get_mut(a * self.buckets + bucket))
                .is_some_and(|p| p.push(port));
        if ok {
            self.stats.released += 1;
        } else {
            self.stats.bad_release += 1;
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    const LIP1: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
    const LIP2: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);

    fn cfg(worker_index: usize, worker_count: usize, port_min: u16, port_max: u16) -> PoolConfig {
        PoolConfig {
            worker_index,
            worker_count,
            addrs: vec![LIP1, LIP2],
            port_min,
            port_max,
            backend_buckets: 16,
            seed: 42,
        }
    }

    fn rs(i: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 1, 0, i)
    }

    #[test]
    fn owner_is_in_the_low_bits() {
        assert_eq!(owner_mask(1), 0);
        assert_eq!(owner_mask(3), 3);
        assert_eq!(owner_mask(4), 3);
        assert_eq!(owner_mask(5), 7);
        assert_eq!(port_owner(0x1236, 3), 2);
        assert_eq!(port_owner(0x1236, 8), 6);
    }

    #[test]
    fn each_worker_hands_out_only_its_own_ports_until_exhausted() {
        let (lo, hi) = (1024, 1024 + 400 - 1);
        for (count, index) in [(1, 0), (3, 0), (3, 2), (4, 1), (6, 5)] {
            let mut pool = LocalPorts::new(&cfg(index, count, lo, hi)).unwrap();
            let expect: usize = (lo..=hi)
                .filter(|p| usize::from(*p) & usize::from(owner_mask(count)) == index)
                .count();
            assert_eq!(pool.ports_per_pool(), expect);
            let mut seen = HashSet::new();
            while let Some((addr, port)) = pool.allocate(rs(1), 80) {
                assert_eq!(port_owner(port, count), index);
                assert!((lo..=hi).contains(&port));
                assert!(seen.insert((addr, port)), "{addr}:{port} twice");
            }
            // Both addresses are used before the flow is refused.
            assert_eq!(seen.len(), 2 * expect, "workers {count}, index {index}");
            assert_eq!(pool.stats().exhausted, 1);
            assert_eq!(pool.allocate(rs(1), 80), None);
            assert_eq!(pool.stats().exhausted, 2);
        }
    }

    #[test]
    fn released_port_is_reused_only_after_the_others() {
        let mut pool = LocalPorts::new(&cfg(0, 2, 2000, 2019)).unwrap();
        let all: Vec<_> = std::iter::from_fn(|| pool.allocate(rs(1), 80)).collect();
        assert_eq!(all.len(), 20); // 10 even ports on each of two addresses
        let (a, p) = all[3];
        assert!(pool.release(a, p, rs(1), 80));
        assert!(!pool.release(a, p, rs(1), 80), "double release");
        assert!(!pool.release(a, p + 1, rs(1), 80), "another worker's port");
        assert!(!pool.release(Ipv4Addr::new(1, 2, 3, 4), p, rs(1), 80));
        assert_eq!(pool.stats().bad_release, 3);
        assert_eq!(pool.allocate(rs(1), 80), Some((a, p)));
        assert_eq!(pool.allocate(rs(1), 80), None);
    }

    #[test]
    fn free_ports_are_reused_first_in_first_out() {
        let mut c = cfg(0, 2, 2000, 2019);
        c.addrs = vec![LIP1];
        let mut pool = LocalPorts::new(&c).unwrap();
        let all: Vec<_> = std::iter::from_fn(|| pool.allocate(rs(1), 80)).collect();
        for i in [7, 2, 9] {
            assert!(pool.release(LIP1, all[i].1, rs(1), 80));
        }
        let again: Vec<_> = std::iter::from_fn(|| pool.allocate(rs(1), 80)).collect();
        assert_eq!(again, vec![all[7], all[2], all[9]]);
    }

    #[test]
    fn capacity_grows_with_backends_in_other_buckets() {
        let mut pool = LocalPorts::new(&cfg(0, 1, 3000, 3009)).unwrap();
        let first = rs(1);
        let other = (2..=255)
            .map(rs)
            .find(|b| pool.bucket_of(*b, 80) != pool.bucket_of(first, 80))
            .unwrap();
        let a: Vec<_> = std::iter::from_fn(|| pool.allocate(first, 80)).collect();
        assert_eq!(a.len(), 20);
        // The same (address, port) pairs again, now towards another backend.
        let b: HashSet<_> = std::iter::from_fn(|| pool.allocate(other, 80)).collect();
        assert_eq!(b, a.iter().copied().collect::<HashSet<_>>());
        assert!(
            !pool.release(a[0].0, a[0].1, other, 81)
                || pool.bucket_of(other, 81) == pool.bucket_of(other, 80)
        );
    }

    #[test]
    fn a_pool_built_with_held_ports_never_hands_them_out() {
        let mut old = LocalPorts::new(&cfg(0, 1, 3000, 3019)).unwrap();
        let held: Vec<_> = (0..25)
            .map(|_| {
                let (a, p) = old.allocate(rs(1), 80).unwrap();
                (a, p, rs(1), 80)
            })
            .collect();
        // The range moves: ports 3010..=3019 stay, 3020..=3029 are new.
        let (mut new, reserved) =
            LocalPorts::with_held(&cfg(0, 1, 3010, 3029), held.iter().copied()).unwrap();
        let in_range: HashSet<_> = held
            .iter()
            .filter(|h| h.1 >= 3010)
            .map(|h| (h.0, h.1))
            .collect();
        assert_eq!(reserved, in_range.len());
        let fresh: Vec<_> = std::iter::from_fn(|| new.allocate(rs(1), 80)).collect();
        assert_eq!(fresh.len(), 2 * 20 - reserved);
        for f in &fresh {
            assert!(!in_range.contains(f), "{f:?} is held by a live session");
            assert!((3010..=3029).contains(&f.1));
        }
        // Held ports come back when their sessions end; those outside the
        // new range are refused without harm.
        for &(a, p, b, bp) in &held {
            assert_eq!(new.release(a, p, b, bp), p >= 3010, "{a}:{p}");
        }
        assert_eq!(
            new.allocate(rs(1), 80)
                .map(|(a, p)| in_range.contains(&(a, p))),
            Some(true)
        );
    }

    #[test]
    fn bad_configs_are_refused() {
        assert_eq!(
            LocalPorts::new(&cfg(2, 2, 1, 100)).err(),
            Some(PoolError::WorkerIndex)
        );
        assert_eq!(
            LocalPorts::new(&cfg(0, 0, 1, 100)).err(),
            Some(PoolError::WorkerIndex)
        );
        assert_eq!(
            LocalPorts::new(&cfg(3, 4, 1000, 1002)).err(),
            Some(PoolError::NoPorts)
        );
        let mut c = cfg(0, 1, 1, 100);
        c.addrs.clear();
        assert_eq!(LocalPorts::new(&c).err(), Some(PoolError::NoAddresses));
    }

    proptest! {
        /// Never two flows on one (address, port, bucket); releases always
        /// make room again.
        #[test]
        fn allocations_stay_unique(ops in proptest::collection::vec((any::<bool>(), 0u8..4, any::<u16>()), 1..400)) {
            let mut pool = LocalPorts::new(&cfg(1, 2, 5000, 5063)).unwrap();
            let mut held: Vec<(Ipv4Addr, u16, u8)> = Vec::new();
            let mut live: HashSet<(Ipv4Addr, u16, usize)> = HashSet::new();
            for (alloc, backend, pick) in ops {
                if alloc || held.is_empty() {
                    let bucket = pool.bucket_of(rs(backend), 80);
                    let in_bucket = live.iter().filter(|k| k.2 == bucket).count();
                    match pool.allocate(rs(backend), 80) {
                        Some((a, p)) => {
                            prop_assert!(live.insert((a, p, bucket)));
                            prop_assert_eq!(p & 1, 1);
                            held.push((a, p, backend));
                        }
                        None => prop_assert_eq!(in_bucket, 2 * 32),
                    }
                } else {
                    let (a, p, backend) = held.swap_remove(usize::from(pick) % held.len());
                    prop_assert!(pool.release(a, p, rs(backend), 80));
                    live.remove(&(a, p, pool.bucket_of(rs(backend), 80)));
                }
            }
        }
    }

    #[test]
    fn a_port_taken_out_of_turn_is_never_handed_out() {
        // One address, one bucket, ports 1000..=1015, worker 1 of 2: 8 ports.
        let mut c = cfg(1, 2, 1000, 1015);
        c.addrs = vec![LIP1];
        c.backend_buckets = 1;
        let mut p = LocalPorts::new(&c).expect("pool");
        assert!(p.take(LIP1, 1001, rs(1), 80));
        assert!(!p.take(LIP1, 1001, rs(1), 80), "in use already");
        assert!(!p.take(LIP1, 1002, rs(1), 80), "worker 0's port");
        assert!(!p.take(LIP2, 1003, rs(1), 80), "not our address");
        assert!(!p.take(LIP1, 1017, rs(1), 80), "outside the range");
        let got: HashSet<u16> = std::iter::from_fn(|| p.allocate(rs(1), 80).map(|x| x.1)).collect();
        assert_eq!(got.len(), 7);
        assert!(!got.contains(&1001));
        // Released, the taken port comes back once.
        assert!(p.release(LIP1, 1001, rs(1), 80));
        assert_eq!(p.allocate(rs(1), 80), Some((LIP1, 1001)));
        assert_eq!(p.allocate(rs(1), 80), None);
    }

    proptest! {
        /// Allocations, takes and releases in any order: a port is never
        /// out twice, a release of a port that is out always works, and
        /// once all are back every port can be handed out again.
        #[test]
        fn takes_and_releases_keep_the_pool_whole(ops in proptest::collection::vec((0u8..3, 0u16..16), 0..200)) {
            let mut c = cfg(0, 1, 2000, 2015);
            c.addrs = vec![LIP1];
            c.backend_buckets = 1;
            let mut p = LocalPorts::new(&c).expect("pool");
            let mut out: Vec<u16> = Vec::new();
            for (op, n) in ops {
                match op {
                    0 => {
                        if let Some((_, port)) = p.allocate(rs(1), 80) {
                            prop_assert!(!out.contains(&port), "{port} out twice");
                            out.push(port);
                        } else {
                            prop_assert_eq!(out.len(), 16);
                        }
                    }
                    1 => {
                        let port = 2000 + n;
                        let was_out = out.contains(&port);
                        prop_assert_eq!(p.take(LIP1, port, rs(1), 80), !was_out);
                        if !was_out {
                            out.push(port);
                        }
                    }
                    _ => {
                        if !out.is_empty() {
                            let port = out.swap_remove(usize::from(n) % out.len());
                            prop_assert!(p.release(LIP1, port, rs(1), 80));
                        }
                    }
                }
            }
            for port in out.drain(..) {
                prop_assert!(p.release(LIP1, port, rs(1), 80));
            }
            let all: HashSet<u16> = std::iter::from_fn(|| p.allocate(rs(1), 80).map(|x| x.1)).collect();
            prop_assert_eq!(all.len(), 16);
        }
    }

    /// IPv6 pools (FULLNAT over IPv6): the same ownership by low bits,
    /// uniqueness per backend, release and reuse as IPv4's; a backend's
    /// bucket depends on every part of its address.
    #[test]
    fn ipv6_pools_hand_out_owned_unique_ports_and_take_them_back() {
        let l6: Ipv6Addr = "2001:db8:1::100".parse().unwrap();
        let rs6 = |i: u16| Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, i);
        let mut pool = LocalPorts::new(&PoolConfig {
            worker_index: 1,
            worker_count: 2,
            addrs: vec![l6],
            port_min: 5000,
            port_max: 5009,
            backend_buckets: 1,
            seed: 7,
        })
        .unwrap();
        let mut got = HashSet::new();
        while let Some((a, p)) = pool.allocate(rs6(0x11), 80) {
            assert_eq!(a, l6);
            assert_eq!(port_owner(p, 2), 1);
            assert!(got.insert(p), "port {p} handed out twice");
        }
        assert_eq!(got.len(), 5);
        assert_eq!(pool.stats().exhausted, 1);
        let p = *got.iter().next().unwrap();
        assert!(pool.release(l6, p, rs6(0x11), 80));
        assert!(!pool.release(l6, p, rs6(0x11), 80), "released twice");
        assert_eq!(pool.allocate(rs6(0x11), 80), Some((l6, p)));
        // Buckets: backends differing in one 16-bit group anywhere, upper
        // half or lower, land in many of 64 buckets.
        let wide = LocalPorts::new(&PoolConfig {
            backend_buckets: 64,
            ..PoolConfig {
                worker_index: 0,
                worker_count: 1,
                addrs: vec![l6],
                port_min: 5000,
                port_max: 5009,
                backend_buckets: 1,
                seed: 7,
            }
        })
        .unwrap();
        for group in 0..8 {
            let buckets: HashSet<usize> = (0..256u128)
                .map(|n| {
                    let a = u128::from(rs6(0x11)) ^ (n << (16 * group));
                    wide.bucket_of(Ipv6Addr::from(a), 80)
                })
                .collect();
            assert!(
                buckets.len() > 40,
                "group {group}: {} buckets",
                buckets.len()
            );
        }
    }
}
