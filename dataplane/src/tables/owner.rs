//! Which worker owns a flow: a pure function of the packet, so no session
//! table is shared between workers (docs/load-balancing.md, "Many workers").
//!
//! Replies to a local port (FULLNAT, SNAT) belong to the worker named by the
//! port's low bits, because that worker allocated it (`laddr`). Flows whose
//! reply keeps no port of ours (NAT) are placed by a hash of the client's
//! endpoint, which both directions carry. Persistent services hash the
//! client's network only, so its affinity template lives on one worker. DR
//! and TUN have no reply path through us and stay where RSS put them.

use std::net::{Ipv4Addr, Ipv6Addr};

use hashbrown::HashMap;

use super::listen::ListenIndex;
use super::model::{BackendInfo, Mode, Service, SnatRule};
use crate::laddr::owner_mask;
use crate::net::addrs::{Addr6Set, AddrSet};
use crate::net::route::mask;
use crate::tuple::{FiveTuple, FiveTuple6, IpProto};

/// How the owner of a flow to (or from) an endpoint is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnedBy {
    /// The worker whose queue received the packet.
    Receiver,
    /// `flow_hash(client address, client port)`.
    ClientFlow,
    /// `flow_hash(client address masked to this prefix length, 0)`.
    ClientNetwork(u8),
}

/// The spread function: multiplicative (Fibonacci) hashing of the address
/// and port, upper half. Documented so tests and operators can compute it.
#[inline]
pub fn flow_hash(addr: Ipv4Addr, port: u16) -> u32 {
    let key = (u64::from(u32::from(addr)) << 16) | u64::from(port);
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
}

/// `flow_hash` for an IPv6 endpoint: every bit of the address counts (the
/// upper half multiplied in before the lower one is folded over it), then
/// the port, then the same multiplicative spread.
#[inline]
pub fn flow_hash6(addr: Ipv6Addr, port: u16) -> u32 {
    let a = u128::from(addr);
    let folded = ((a >> 64) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (a as u64);
    let key = folded ^ u64::from(port);
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
}

/// `addr` masked to its first `len` bits.
pub(super) fn network6(addr: Ipv6Addr, len: u8) -> Ipv6Addr {
    let mask = match len {
        0 => 0,
        l if l >= 128 => u128::MAX,
        l => u128::MAX << (128 - u32::from(l)),
    };
    Ipv6Addr::from(u128::from(addr) & mask)
}

/// IPv6 endpoints (address, protocol, port) with how their flows are
/// placed: open addressing in a power-of-two array at most a quarter
/// full, by a multiplicative hash of the address's two halves folded with
/// the protocol and port (a `HashMap` of the 19-byte key cost a NAT reply
/// 78 instructions, and so did a binary search of a sorted array of
/// eight).
#[derive(Clone, Debug, Default)]
struct Endpoint6Map {
    /// The address as its bytes in memory order, the protocol and port
    /// ([`Endpoint6Map::port_key`]), the placement; `None`: free.
    slots: Vec<Option<(u128, u32, OwnedBy)>>,
    /// `slots.len() - 1`.
    mask: usize,
}

impl Endpoint6Map {
    fn new(entries: HashMap<(Ipv6Addr, IpProto, u16), OwnedBy>) -> Self {
        if entries.is_empty() {
            return Endpoint6Map::default();
        }
        let size = (entries.len() * 4).next_power_of_two();
        let mut map = Endpoint6Map {
            slots: vec![None; size],
            mask: size - 1,
        };
        for ((a, proto, port), by) in entries {
            let (a, p) = (u128::from_ne_bytes(a.octets()), Self::port_key(proto, port));
            let mut i = Self::slot(a, p) & map.mask;
            while map.slots[i].is_some() {
                i = (i + 1) & map.mask;
            }
            map.slots[i] = Some((a, p, by));
        }
        map
    }

    #[inline(always)]
    fn port_key(proto: IpProto, port: u16) -> u32 {
        u32::from(proto.0) << 16 | u32::from(port)
    }

    /// Where the search for a key starts (before the mask).
    #[inline(always)]
    fn slot(a: u128, p: u32) -> usize {
        let folded = (a >> 64) as u64 ^ a as u64 ^ u64::from(p);
        (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize
    }

    /// The placement of `addr`, `proto`, `port`.
    #[inline]
    fn get(&self, addr: Ipv6Addr, proto: IpProto, port: u16) -> Option<OwnedBy> {
        let (a, p) = (
            u128::from_ne_bytes(addr.octets()),
            Self::port_key(proto, port),
        );
        let mut i = Self::slot(a, p) & self.mask;
        // A quarter full at most: a free slot ends every probe.
        loop {
            match *self.slots.get(i)? {
                Some((ka, kp, by)) if ka == a && kp == p => return Some(by),
                Some(_) => i = (i + 1) & self.mask,
                None => return None,
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// What the ownership function needs from the tables, indexed for one
/// lookup per rule. Draining (retired) entries are included, flushed ones
/// are not: a draining session must still reach the worker that holds it.
#[derive(Clone, Debug, Default)]
pub struct FlowOwners {
    /// Service keys (VIP, protocol, ports).
    services: ListenIndex<OwnedBy>,
    /// FULLNAT local addresses and SNAT addresses.
    local: AddrSet,
    /// IPv6 FULLNAT local addresses and IPv6 SNAT addresses: replies to
    /// them belong to the worker their port's low bits name, as IPv4's.
    local6: Addr6Set,
    /// IPv6 SNAT addresses alone (also in `local6`): an ICMPv6 echo reply
    /// to one is a SNAT session's (`pipeline/snat6.rs`).
    snat6: Addr6Set,
    /// NAT backends (address, protocol, port): their packets are replies.
    /// Port 0: a backend of a multi-port service that keeps the client's
    /// destination port, so its replies come from any port.
    nat_backends: HashMap<(Ipv4Addr, IpProto, u16), OwnedBy>,
    /// Whether `nat_backends` has a port-0 entry (one more probe).
    nat_any_port: bool,
    /// IPv6 NAT backends, as `nat_backends` (a map of its own, so IPv4's
    /// key stays 7 bytes): a sorted array, searched once per reply.
    nat_backends6: Endpoint6Map,
    /// Whether `nat_backends6` has a port-0 entry.
    nat_any_port6: bool,
    /// The local addresses of NAT64 services (FULLNAT, IPv6 VIP, IPv4
    /// backends): a reply to one that misses the IPv4 table is looked
    /// for in the IPv6 one (`pipeline/nat64.rs`). Also in `local`.
    nat64_local: AddrSet,
    /// SNAT source prefixes.
    snat_sources: Vec<(Ipv4Addr, u8)>,
    /// IPv6 SNAT source prefixes (network, length).
    snat_sources6: Vec<(Ipv6Addr, u8)>,
    /// A NAT backend shared by services that place clients differently:
    /// with several workers its replies could not find their owner.
    conflict: Option<String>,
}

impl FlowOwners {
    pub fn build(services: &[Service], backends: &[BackendInfo], snat: &[SnatRule]) -> Self {
        let mut owners = FlowOwners::default();
        let mut local = Vec::new();
        let mut nat64_local = Vec::new();
        let mut local6 = Vec::new();
        let mut nat_backends6 = HashMap::new();
        let placed_by = |svc: &Service| match (&svc.spec.persistence, svc.spec.mode) {
            (Some(p), _) => OwnedBy::ClientNetwork(p.prefix_len),
            (None, Mode::Nat | Mode::FullNat) => OwnedBy::ClientFlow,
            (None, Mode::Dr | Mode::Tun) => OwnedBy::Receiver,
        };
        // Draining entries first, so an active service with the same key
        // (re-added with another mode) decides.
        for active in [false, true] {
            for svc in services.iter().filter(|s| s.state.keeps_sessions()) {
                if svc.state.is_retired() == active {
                    continue;
                }
                for (key, last) in svc.spec.listens() {
                    owners.services.insert(key, last, placed_by(svc));
                }
                if svc.spec.mode == Mode::FullNat {
                    local.extend(svc.spec.local_addrs.iter().copied());
                    local6.extend(svc.spec.local_addrs6.iter().copied());
                }
                if svc.spec.is_nat64() {
                    nat64_local.extend(svc.spec.local_addrs.iter().copied());
                }
            }
        }
        for b in backends.iter().filter(|b| b.state.keeps_sessions()) {
            let Some(svc) = services.get(b.service as usize) else {
                continue;
            };
            if svc.spec.mode != Mode::Nat || !svc.state.keeps_sessions() {
                continue;
            }
            let by = placed_by(svc);
            let (proto, port) = (svc.spec.proto, b.port);
            let before = match b.addr {
                std::net::IpAddr::V4(a) => {
                    owners.nat_any_port |= port == 0;
                    *owners.nat_backends.entry((a, proto, port)).or_insert(by)
                }
                std::net::IpAddr::V6(a) => {
                    owners.nat_any_port6 |= port == 0;
                    *nat_backends6.entry((a, proto, port)).or_insert(by)
                }
            };
            if before != by && owners.conflict.is_none() {
                owners.conflict = Some(format!(
                    "NAT backend {} serves services that place clients differently \
                     (persistent and not, or other persistence prefixes): with several \
                     workers its replies cannot find their worker",
                    std::net::SocketAddr::new(b.addr, b.port)
                ));
            }
        }
        let mut snat6 = Vec::new();
        for rule in snat.iter().filter(|r| r.state.keeps_sessions()) {
            match rule.spec.source {
                (std::net::IpAddr::V4(net), len) => {
                    local.extend(rule.spec.addrs.iter().copied());
                    owners.snat_sources.push((net, len));
                }
                (std::net::IpAddr::V6(net), len) => {
                    snat6.extend(rule.spec.addrs6.iter().copied());
                    owners.snat_sources6.push((network6(net, len), len));
                }
            }
        }
        local6.extend(snat6.iter().copied());
        owners.snat6 = Addr6Set::new(snat6);
        owners.local = AddrSet::new(local);
        owners.nat64_local = AddrSet::new(nat64_local);
        owners.local6 = Addr6Set::new(local6);
        owners.nat_backends6 = Endpoint6Map::new(nat_backends6);
        owners
    }

    /// Why these tables cannot run on several workers, if they cannot.
    pub fn conflict(&self) -> Option<&str> {
        self.conflict.as_deref()
    }

    /// The worker of `workers` that owns the flow of `tuple` (a packet's
    /// lookup tuple), received by worker `receiver`. The rules and their
    /// order are those of docs/load-balancing.md.
    #[inline]
    pub fn owner(&self, tuple: &FiveTuple, receiver: usize, workers: usize) -> usize {
        if workers <= 1 {
            return receiver;
        }
        let by_hash = |by: OwnedBy, addr: Ipv4Addr, port: u16| match by {
            OwnedBy::Receiver => receiver,
            OwnedBy::ClientFlow => flow_hash(addr, port) as usize % workers,
            OwnedBy::ClientNetwork(len) => {
                let net = Ipv4Addr::from(u32::from(addr) & mask(len));
                flow_hash(net, 0) as usize % workers
            }
        };
        let proto = tuple.proto;
        let service = tuple.service_key();
        if let Some(by) = self.services.lookup(&service) {
            return by_hash(by, tuple.src, tuple.src_port);
        }
        if self.local.contains(tuple.dst) {
            let w = usize::from(tuple.dst_port & owner_mask(workers));
            return if w < workers { w } else { receiver };
        }
        if let Some(&by) = self.nat_backends.get(&(tuple.src, proto, tuple.src_port)) {
            return by_hash(by, tuple.dst, tuple.dst_port);
        }
        if self.nat_any_port {
            if let Some(&by) = self.nat_backends.get(&(tuple.src, proto, 0)) {
                return by_hash(by, tuple.dst, tuple.dst_port);
            }
        }
        if self
            .snat_sources
            .iter()
            .any(|&(net, len)| u32::from(net) & mask(len) == u32::from(tuple.src) & mask(len))
        {
            return by_hash(OwnedBy::ClientFlow, tuple.src, tuple.src_port);
        }
        receiver
    }
}

impl FlowOwners {
    /// The worker that owns the IPv6 flow of `tuple`, by the same rules as
    /// [`owner`](Self::owner) keyed by the client's endpoint: a service's
    /// flows by its placement (`ClientNetwork` is then an IPv6 prefix
    /// length: a service's persistence prefix is in its VIP's family); a
    /// NAT backend's replies by the same placement of the client they go
    /// to (IPv4's `nat_backends` rule), so both directions of a NAT flow
    /// meet on one worker; anything else where it was received. DR has
    /// no reply path through us.
    #[inline]
    pub fn owner6(&self, tuple: &FiveTuple6, receiver: usize, workers: usize) -> usize {
        if workers <= 1 {
            return receiver;
        }
        let by_hash = |by: OwnedBy, addr: Ipv6Addr, port: u16| match by {
            OwnedBy::Receiver => receiver,
            OwnedBy::ClientFlow => flow_hash6(addr, port) as usize % workers,
            OwnedBy::ClientNetwork(len) => flow_hash6(network6(addr, len), 0) as usize % workers,
        };
        if let Some(by) = self.services.lookup(&tuple.service_key()) {
            return by_hash(by, tuple.src, tuple.src_port);
        }
        if self.local6.contains(tuple.dst) {
            let w = usize::from(tuple.dst_port & owner_mask(workers));
            return if w < workers { w } else { receiver };
        }
        match self.nat_reply6(tuple) {
            Some(by) => by_hash(by, tuple.dst, tuple.dst_port),
            // An internal host's flow out through an IPv6 SNAT rule: by its
            // endpoint, as IPv4's.
            None if self.snat_source6(tuple.src) => {
                by_hash(OwnedBy::ClientFlow, tuple.src, tuple.src_port)
            }
            None => receiver,
        }
    }

    /// Whether some IPv6 SNAT rule (one being drained included) exists.
    #[inline]
    pub fn has_snat6(&self) -> bool {
        !self.snat_sources6.is_empty()
    }

    /// Whether `src` is in an IPv6 SNAT rule's source prefix.
    #[inline]
    pub fn snat_source6(&self, src: Ipv6Addr) -> bool {
        self.snat_sources6
            .iter()
            .any(|&(net, len)| network6(src, len) == net)
    }

    /// Whether `addr` is an IPv6 SNAT address.
    #[inline]
    pub fn snat_addr6(&self, addr: Ipv6Addr) -> bool {
        !self.snat6.is_empty() && self.snat6.contains(addr)
    }

    /// Whether some NAT64 service (one being drained included) exists.
    #[inline]
    pub fn has_nat64(&self) -> bool {
        !self.nat64_local.is_empty()
    }

    /// The local addresses of NAT64 services (draining ones included).
    pub fn nat64_locals(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.nat64_local.iter()
    }

    /// Whether `addr` is a local address of a NAT64 service (one being
    /// drained included): its replies' sessions are in the IPv6 table.
    #[inline]
    pub fn nat64_local(&self, addr: Ipv4Addr) -> bool {
        self.nat64_local.contains(addr)
    }

    /// Whether some IPv6 NAT backend's or FULLNAT local address's replies
    /// are to be looked for.
    #[inline]
    pub fn has_nat6(&self) -> bool {
        !self.nat_backends6.is_empty() || !self.local6.is_empty()
    }

    /// The IPv6 FULLNAT local addresses (of active and draining services).
    pub fn local6(&self) -> &Addr6Set {
        &self.local6
    }

    /// Whether the IPv6 `tuple` is to one of the IPv6 FULLNAT local
    /// addresses: a backend's reply, owned by its port's low bits.
    #[inline]
    pub fn local_reply6(&self, tuple: &FiveTuple6) -> bool {
        !self.local6.is_empty() && self.local6.contains(tuple.dst)
    }

    /// How the client of an IPv6 NAT backend's reply `tuple` (from the
    /// backend's address and port) is placed, if `tuple` is from one.
    #[inline]
    pub fn nat_reply6(&self, tuple: &FiveTuple6) -> Option<OwnedBy> {
        if self.nat_backends6.is_empty() {
            return None;
        }
        let found = self
            .nat_backends6
            .get(tuple.src, tuple.proto, tuple.src_port);
        match found {
            Some(by) => Some(by),
            None if self.nat_any_port6 => self.nat_backends6.get(tuple.src, tuple.proto, 0),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::tests::*;
    use crate::sched::Persistence;
    use crate::tables::{LbTables, SnatSpec};
    use crate::tuple::IpProto;

    fn t(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), proto: IpProto) -> FiveTuple {
        FiveTuple {
            src: src.0,
            dst: dst.0,
            src_port: src.1,
            dst_port: dst.1,
            proto,
        }
    }

    #[test]
    fn the_hash_is_the_documented_formula() {
        // 10.0.0.1:80 -> key 0x0A000001_0050.
        let key: u64 = 0x0A00_0001_0050;
        let expect = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32;
        assert_eq!(flow_hash(Ipv4Addr::new(10, 0, 0, 1), 80), expect);
        // It spreads: 4096 client ports over 4 workers, none far from 1024.
        let mut per = [0usize; 4];
        for p in 0..4096u16 {
            per[flow_hash(Ipv4Addr::new(198, 51, 100, 7), 40000 + p) as usize % 4] += 1;
        }
        assert!(per.iter().all(|&n| (900..1150).contains(&n)), "{per:?}");
    }

    /// A DR service with an IPv6 VIP and backends, on `port`.
    fn dr6(port: u16, persistence: Option<Persistence>) -> crate::tables::ServiceSpec {
        let mut s = service(Mode::Dr, IpProto::TCP);
        s.vip = "2001:db8::10".parse().expect("address");
        s.port = port;
        s.persistence = persistence;
        for (i, b) in s.backends.iter_mut().enumerate() {
            b.addr = format!("2001:db8:1::{}", 11 + i).parse().expect("address");
            b.port = port;
        }
        s
    }

    fn t6(src: (&str, u16), dst: (&str, u16)) -> FiveTuple6 {
        FiveTuple6 {
            src: src.0.parse().expect("address"),
            dst: dst.0.parse().expect("address"),
            src_port: src.1,
            dst_port: dst.1,
            proto: IpProto::TCP,
        }
    }

    #[test]
    fn the_ipv6_endpoint_map_finds_exactly_its_entries() {
        let a: Ipv6Addr = "2001:db8:1::11".parse().expect("address");
        let b: Ipv6Addr = "2001:db8:1::12".parse().expect("address");
        let mut m = HashMap::new();
        m.insert((b, IpProto::TCP, 8080), OwnedBy::ClientFlow);
        m.insert((a, IpProto::UDP, 53), OwnedBy::ClientNetwork(64));
        m.insert((a, IpProto::TCP, 8080), OwnedBy::Receiver);
        m.insert((a, IpProto::TCP, 0), OwnedBy::ClientNetwork(48));
        let map = Endpoint6Map::new(m.clone());
        for (&(addr, proto, port), &by) in &m {
            assert_eq!(
                map.get(addr, proto, port),
                Some(by),
                "{addr} {proto:?} {port}"
            );
        }
        // Any part of the key different: not found.
        assert_eq!(map.get(b, IpProto::UDP, 8080), None);
        assert_eq!(map.get(b, IpProto::TCP, 8081), None);
        assert_eq!(map.get(a, IpProto::UDP, 8080), None);
        assert_eq!(
            map.get("2001:db8:1::13".parse().expect("a"), IpProto::TCP, 8080),
            None
        );
        assert!(Endpoint6Map::default().get(a, IpProto::TCP, 8080).is_none());
        // Every size up to 40 entries: each found, and the keys between
        // and around them not.
        let mut m = HashMap::new();
        for n in 0..40u16 {
            let addr = Ipv6Addr::from(u128::from(a) + u128::from(n / 4) * 2);
            m.insert(
                (addr, IpProto::TCP, 100 + 2 * (n % 4)),
                OwnedBy::ClientNetwork(n as u8),
            );
            let map = Endpoint6Map::new(m.clone());
            for (&(addr, proto, port), &by) in &m {
                assert_eq!(map.get(addr, proto, port), Some(by));
                assert_eq!(map.get(addr, proto, port + 1), None);
                assert_eq!(map.get(addr, proto, port - 1), None);
                let next = Ipv6Addr::from(u128::from(addr) + 1);
                assert_eq!(map.get(next, proto, port), None);
            }
        }
    }

    #[test]
    fn the_ipv6_hash_takes_every_bit_of_the_address() {
        let a: Ipv6Addr = "2001:db8:2::7".parse().expect("address");
        // Any one bit flipped, upper half or lower, moves the hash.
        for bit in 0..128 {
            let b = Ipv6Addr::from(u128::from(a) ^ (1u128 << bit));
            assert_ne!(flow_hash6(a, 80), flow_hash6(b, 80), "bit {bit}");
        }
        // And it spreads: 4096 client ports of one address over 4 workers.
        let mut per = [0usize; 4];
        for p in 0..4096u16 {
            per[flow_hash6(a, 40000 + p) as usize % 4] += 1;
        }
        assert!(per.iter().all(|&n| (900..1150).contains(&n)), "{per:?}");
        // Clients differing only in the upper 64 bits spread too.
        let mut per = [0usize; 4];
        for n in 0..4096u128 {
            let c = Ipv6Addr::from(u128::from(a) + (n << 80));
            per[flow_hash6(c, 40000) as usize % 4] += 1;
        }
        assert!(per.iter().all(|&n| (900..1150).contains(&n)), "{per:?}");
    }

    #[test]
    fn ipv6_flows_are_placed_by_their_service_like_ipv4_ones() {
        let sticky = Persistence {
            timeout_ms: 1000,
            prefix_len: 64,
        };
        let cfg = config(vec![dr6(80, None), dr6(443, Some(sticky))]);
        let tables = LbTables::build(&cfg).expect("builds");
        let o = &tables.owners;
        let vip = "2001:db8::10";
        for workers in [2, 3, 4] {
            let mut seen = vec![0usize; workers];
            for n in 0..64u16 {
                let client = format!("2001:db8:2:{n:x}::7");
                // DR: no reply through us; the receiver keeps the flow.
                let dr = t6((&client, 40000 + n), (vip, 80));
                assert_eq!(o.owner6(&dr, 1, workers), 1);
                // Persistent: the client's /64 (port and host bits
                // ignored), so its template lives on one worker.
                let want = o.owner6(&t6((&client, 40000), (vip, 443)), 0, workers);
                let host = format!("2001:db8:2:{n:x}:ffff::9");
                for (c, p) in [(client.as_str(), 1), (host.as_str(), 65535)] {
                    assert_eq!(o.owner6(&t6((c, p), (vip, 443)), 1, workers), want);
                }
                let net: Ipv6Addr = format!("2001:db8:2:{n:x}::").parse().expect("address");
                assert_eq!(want, flow_hash6(net, 0) as usize % workers);
                seen[want] += 1;
            }
            assert!(seen.iter().all(|&n| n > 0), "/64s spread: {seen:?}");
            // No service: where it came in; one worker: always there.
            let other = t6(("2001:db8:2::7", 1), ("2001:db8::99", 80));
            assert_eq!(o.owner6(&other, workers - 1, workers), workers - 1);
        }
        assert_eq!(o.owner6(&t6(("2001:db8:2::7", 1), (vip, 443)), 0, 1), 0);
    }

    #[test]
    fn each_rule_places_both_directions_of_a_flow_on_one_worker() {
        let mut nat = service(Mode::Nat, IpProto::TCP);
        nat.port = 80;
        let mut sticky = service(Mode::Nat, IpProto::UDP);
        sticky.port = 53;
        sticky.backends.iter_mut().for_each(|b| b.port = 5353);
        sticky.persistence = Some(Persistence {
            timeout_ms: 1000,
            prefix_len: 24,
        });
        let mut full = service(Mode::FullNat, IpProto::TCP);
        full.port = 443;
        full.local_addrs = vec![Ipv4Addr::new(10, 0, 1, 100)];
        let mut dr = service(Mode::Dr, IpProto::TCP);
        dr.port = 22;
        let mut cfg = config(vec![nat, sticky, full, dr]);
        cfg.snat.push(SnatSpec {
            source: (Ipv4Addr::new(10, 0, 1, 0).into(), 24),
            port: 0,
            addrs: vec![Ipv4Addr::new(203, 0, 113, 1)],
            addrs6: vec![],
            ports: (50000, 50063),
        });
        let tables = LbTables::build(&cfg).expect("builds");
        let o = &tables.owners;
        let (vip, cip, rip1) = (ip(VIP), ip(CIP), ip(RIP1));
        for workers in [2, 3, 4] {
            for cport in 40000..40064 {
                let want = flow_hash(cip, cport) as usize % workers;
                // NAT: request by the client's endpoint, reply by the same.
                let req = t((cip, cport), (vip, 80), IpProto::TCP);
                let rep = t((rip1, 8080), (cip, cport), IpProto::TCP);
                assert_eq!(o.owner(&req, 0, workers), want);
                assert_eq!(o.owner(&rep, 1, workers), want);
                // Persistent: the client's /24, port ignored, both ways.
                let net = flow_hash(Ipv4Addr::new(198, 51, 100, 0), 0) as usize % workers;
                let req = t((cip, cport), (vip, 53), IpProto::UDP);
                let rep = t((rip1, 5353), (cip, cport), IpProto::UDP);
                assert_eq!(o.owner(&req, 0, workers), net);
                assert_eq!(o.owner(&rep, 1, workers), net);
                // FULLNAT request by hash, reply by the local port's bits.
                let req = t((cip, cport), (vip, 443), IpProto::TCP);
                assert_eq!(o.owner(&req, 0, workers), want);
                let lport = cport - 30000;
                let rep = t(
                    (rip1, 8080),
                    (Ipv4Addr::new(10, 0, 1, 100), lport),
                    IpProto::TCP,
                );
                let bits = usize::from(lport & owner_mask(workers));
                let expect = if bits < workers { bits } else { 2 };
                assert_eq!(o.owner(&rep, 2, workers), expect);
                // DR: wherever it arrived.
                let req = t((cip, cport), (vip, 22), IpProto::TCP);
                assert_eq!(o.owner(&req, 1, workers), 1);
                // SNAT: out by the internal endpoint, back by the port bits.
                let inside = Ipv4Addr::new(10, 0, 1, 50);
                let out = t(
                    (inside, cport),
                    (Ipv4Addr::new(8, 8, 8, 8), 53),
                    IpProto::UDP,
                );
                assert_eq!(
                    o.owner(&out, 0, workers),
                    flow_hash(inside, cport) as usize % workers
                );
                let back = t(
                    (Ipv4Addr::new(8, 8, 8, 8), 53),
                    (Ipv4Addr::new(203, 0, 113, 1), 50001),
                    IpProto::UDP,
                );
                assert_eq!(o.owner(&back, 0, workers), 1);
                // Anything else stays.
                let other = t(
                    (cip, cport),
                    (Ipv4Addr::new(192, 0, 2, 99), 80),
                    IpProto::TCP,
                );
                assert_eq!(o.owner(&other, 1, workers), 1);
            }
        }
        // One worker owns everything.
        let req = t((cip, 1), (vip, 80), IpProto::TCP);
        assert_eq!(o.owner(&req, 0, 1), 0);
        assert!(o.conflict().is_none());
    }

    #[test]
    fn draining_entries_still_place_their_flows_and_flushed_ones_do_not() {
        let cfg = config(vec![service(Mode::Nat, IpProto::TCP)]);
        let first = LbTables::build(&cfg).expect("builds");
        let key = first.services[0].key();
        let empty = config(vec![]);
        let draining = LbTables::build_next(&empty, &first, &Default::default()).expect("builds");
        let flushed = LbTables::build_next(
            &empty,
            &first,
            &crate::tables::FlushRequest {
                services: vec![key],
                ..Default::default()
            },
        )
        .expect("builds");
        let cport = (0..100)
            .find(|&p| flow_hash(ip(CIP), p) % 2 == 1)
            .expect("some port hashes to 1");
        let req = t((ip(CIP), cport), (ip(VIP), key.port), IpProto::TCP);
        assert_eq!(draining.owners.owner(&req, 0, 2), 1);
        assert_eq!(flushed.owners.owner(&req, 0, 2), 0, "receiver");
    }

    #[test]
    fn a_nat_backend_placed_two_ways_is_a_conflict() {
        let plain = service(Mode::Nat, IpProto::TCP);
        let mut sticky = service(Mode::Nat, IpProto::TCP);
        sticky.port = 81;
        sticky.persistence = Some(Persistence {
            timeout_ms: 1000,
            prefix_len: 32,
        });
        let tables = LbTables::build(&config(vec![plain, sticky])).expect("builds");
        let e = tables.owners.conflict().expect("conflict");
        assert!(e.contains("NAT backend 10.0.1.11:8080"), "{e}");
        // Only several workers make it a problem.
        assert!(tables.check_workers(1).is_ok());
        assert_eq!(tables.check_workers(2).expect_err("refused"), e);
    }
}
