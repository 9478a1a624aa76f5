//! The session table's tests: index, timers, slab, prefetch, memory.

use super::*;
use crate::flow::proto::{tcp_flags::*, TcpState};
use crate::tuple::IpProto;
use proptest::prelude::*;
use std::collections::HashMap;
use std::hash::Hasher;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::tuple::FiveTuple6;
use foldhash::fast::RandomState;

/// A hasher that sends keys to only `buckets` distinct hashes, to force
/// long probe runs and identical tags.
#[derive(Clone)]
struct Colliding {
    buckets: u64,
    offset: u64,
}
struct CollidingHasher(u64, u64, u64);
impl Hasher for CollidingHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.wrapping_mul(31).wrapping_add(u64::from(*b));
        }
    }
    fn finish(&self) -> u64 {
        (self.0 % self.1)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(self.2)
    }
}
impl BuildHasher for Colliding {
    type Hasher = CollidingHasher;
    fn build_hasher(&self) -> CollidingHasher {
        CollidingHasher(0, self.buckets, self.offset)
    }
}

fn tuple(client: u32, port: u16) -> FiveTuple {
    FiveTuple {
        src: Ipv4Addr::from(0x0a00_0000 | client),
        dst: Ipv4Addr::new(192, 0, 2, 1),
        src_port: port,
        dst_port: 80,
        proto: IpProto::TCP,
    }
}
/// FULLNAT-style reply tuple: backend to a local address and port.
fn reply(client: u32, port: u16) -> FiveTuple {
    FiveTuple {
        src: Ipv4Addr::new(10, 1, 0, 7),
        dst: Ipv4Addr::from(0xac10_0000 | client),
        src_port: 8080,
        dst_port: port,
        proto: IpProto::TCP,
    }
}

fn config(capacity: usize) -> TableConfig {
    TableConfig {
        capacity,
        ..TableConfig::default()
    }
}

fn syn(t: &mut SessionTable, client: u32, now: u64) -> Result<SessionId, InsertError> {
    let st = ProtoState::Tcp(TcpState::SynRecv);
    t.insert(
        &NewSession::new(tuple(client, 1000), reply(client, 2000), 7, st),
        now,
    )
}

#[test]
fn session_is_found_by_both_tuples() {
    let mut t = SessionTable::new(config(16), 0).unwrap();
    let id = syn(&mut t, 1, 0).unwrap();
    assert_eq!(
        t.lookup(&tuple(1, 1000)),
        Some(Hit {
            id,
            dir: Direction::Inbound
        })
    );
    assert_eq!(
        t.lookup(&reply(1, 2000)),
        Some(Hit {
            id,
            dir: Direction::Outbound
        })
    );
    assert_eq!(t.lookup(&tuple(1, 1001)), None);
    assert_eq!(t.lookup(&tuple(1, 1000).reversed()), None);
    let h = t.prefetch(&reply(1, 2000));
    assert_eq!(t.lookup_hashed(&reply(1, 2000), h).map(|h| h.id), Some(id));
    assert_eq!(t.get(id).backend, 7);
    assert_eq!(t.len(), 1);
}

#[test]
fn duplicate_tuples_are_refused() {
    let mut t = SessionTable::new(config(16), 0).unwrap();
    syn(&mut t, 1, 0).unwrap();
    // Same inbound, different reply; then different inbound, same reply.
    let st = ProtoState::Udp;
    assert_eq!(
        t.insert(&NewSession::new(tuple(1, 1000), reply(9, 9), 0, st), 0),
        Err(InsertError::Exists)
    );
    assert_eq!(
        t.insert(&NewSession::new(tuple(9, 9), reply(1, 2000), 0, st), 0),
        Err(InsertError::Exists)
    );
    assert_eq!(t.stats().refused_exists, 2);
    assert_eq!(t.len(), 1);
}

#[test]
fn full_table_refuses_new_sessions_and_keeps_old_ones() {
    let mut t = SessionTable::new(config(4), 0).unwrap();
    let ids: Vec<_> = (0..4).map(|c| syn(&mut t, c, 0).unwrap()).collect();
    assert_eq!(syn(&mut t, 4, 0), Err(InsertError::Full));
    assert_eq!(syn(&mut t, 5, 0), Err(InsertError::Full));
    assert_eq!(t.stats().refused_full, 2);
    for (c, id) in ids.iter().enumerate() {
        assert_eq!(t.lookup(&tuple(c as u32, 1000)).map(|h| h.id), Some(*id));
        let tr = t.on_tcp(*id, TcpDir::Input, ACK, 1);
        assert_eq!(tr.to, ProtoState::Tcp(TcpState::Established));
    }
    // Freeing one slot admits exactly one more.
    assert!(t.remove(ids[2]).is_some());
    assert!(t.remove(ids[2]).is_none(), "second remove of a stale id");
    assert!(syn(&mut t, 4, 0).is_ok());
    assert_eq!(syn(&mut t, 5, 0), Err(InsertError::Full));
    assert_eq!(t.lookup(&tuple(2, 1000)), None);
}

fn expiry_time_of(state: ProtoState, timeout_ms: u32) -> (u64, u64) {
    // Start at an arbitrary clock value to catch origin assumptions.
    let start = 123_456_700;
    let mut t = SessionTable::new(config(8), start).unwrap();
    t.insert(&NewSession::new(tuple(1, 1), reply(1, 1), 0, state), start)
        .unwrap();
    let mut last_alive = start;
    let mut expired_at = None;
    // Step through time in 100 ms ticks, as a worker would per burst.
    let mut now = start;
    while now <= start + u64::from(timeout_ms) + 1000 {
        let n = t.expire(now, usize::MAX, |s, _| assert_eq!(s.state, state));
        if n == 1 {
            expired_at = Some(now);
            break;
        }
        last_alive = now;
        now += 100;
    }
    (
        last_alive - start,
        expired_at.expect("session never expired") - start,
    )
}

#[test]
fn each_state_expires_at_its_timeout() {
    let timeouts = Timeouts::default();
    let mut states: Vec<ProtoState> = TcpState::ALL.iter().map(|s| ProtoState::Tcp(*s)).collect();
    states.extend([ProtoState::Udp, ProtoState::IcmpEcho]);
    for state in states {
        let timeout = timeouts.for_state(state).unwrap();
        let (alive, gone) = expiry_time_of(state, timeout);
        assert_eq!(gone, u64::from(timeout), "{state:?}");
        assert_eq!(alive, u64::from(timeout) - 100, "{state:?}");
    }
}

#[test]
fn configured_timeouts_are_used() {
    let mut tm = Timeouts::default();
    tm.set_tcp(TcpState::Established, 5_000);
    tm.udp = 1_500;
    let mut t = SessionTable::new(
        TableConfig {
            timeouts: tm,
            tick_ms: 10,
            ..config(8)
        },
        0,
    )
    .unwrap();
    let st = ProtoState::Tcp(TcpState::Established);
    t.insert(&NewSession::new(tuple(1, 1), reply(1, 1), 0, st), 0)
        .unwrap();
    t.insert(
        &NewSession::new(tuple(2, 1), reply(2, 1), 0, ProtoState::Udp),
        0,
    )
    .unwrap();
    assert_eq!(t.expire(1_490, 10, |_, _| {}), 0);
    assert_eq!(
        t.expire(1_500, 10, |s, _| assert_eq!(s.state, ProtoState::Udp)),
        1
    );
    assert_eq!(t.expire(4_990, 10, |_, _| {}), 0);
    assert_eq!(t.expire(5_000, 10, |s, _| assert_eq!(s.state, st)), 1);
}

#[test]
fn traffic_pushes_expiry_out_and_rst_pulls_it_in() {
    let mut t = SessionTable::new(config(8), 0).unwrap();
    let id = syn(&mut t, 1, 0).unwrap();
    t.on_tcp(id, TcpDir::Input, ACK, 1_000); // established until 901 s
    t.on_tcp(id, TcpDir::Input, ACK, 500_000); // now until 1400 s
    assert_eq!(t.expire(1_300_000, 10, |_, _| {}), 0);
    let tr = t.on_tcp(id, TcpDir::Output, RST, 1_350_000); // close: 1360 s
    assert_eq!(tr.to, ProtoState::Tcp(TcpState::Close));
    assert_eq!(t.expire(1_359_900, 10, |_, _| {}), 0);
    let mut seen = None;
    assert_eq!(t.expire(1_360_000, 10, |s, _| seen = Some(s.state)), 1);
    assert_eq!(seen, Some(ProtoState::Tcp(TcpState::Close)));
    assert_eq!(t.lookup(&tuple(1, 1000)), None);
    assert_eq!(t.lookup(&reply(1, 2000)), None);
    assert!(t.is_empty());
}

#[test]
fn expiry_respects_the_budget_and_resumes() {
    let mut t = SessionTable::new(config(64), 0).unwrap();
    for c in 0..10 {
        t.insert(
            &NewSession::new(tuple(c, 1), reply(c, 1), 0, ProtoState::Udp),
            0,
        )
        .unwrap();
    }
    let now = 300_000;
    assert_eq!(t.expire(now, 3, |_, _| {}), 3);
    // Removing a session that sits in the half-drained batch is safe.
    let victim = t.lookup(&tuple(9, 1)).or(t.lookup(&tuple(0, 1))).unwrap();
    t.remove(victim.id).unwrap();
    assert_eq!(t.expire(now, 3, |_, _| {}), 3);
    assert_eq!(t.expire(now, 3, |_, _| {}), 3);
    assert_eq!(t.expire(now, 3, |_, _| {}), 0);
    assert!(t.is_empty());
    assert_eq!(t.stats().expired, 9);
    assert_eq!(t.stats().removed, 1);
}

#[test]
fn remembered_deadlines_equal_computed_ones() {
    let mut t: SessionTable = SessionTable::new(config(8), 0).unwrap();
    let exact = |now: u64, timeout: u32| (now + u64::from(timeout)).div_ceil(100) as u32;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..10_000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // A few clocks and timeouts, so remembered ones come round.
        let now = 1_000 + rng % 4;
        let timeout = [10_000, 300_000, 900_000][(rng >> 8) as usize % 3];
        assert_eq!(
            t.deadline(now, timeout),
            exact(now, timeout),
            "{now} {timeout}"
        );
    }
    assert_eq!(
        t.deadline(u64::MAX, u32::MAX),
        u64::MAX.div_ceil(100) as u32
    );
}

#[test]
fn deadlines_beyond_the_wheel_span_and_long_pauses() {
    // 64 slots x 100 ms: the wheel spans 6.4 s.
    let cfg = TableConfig {
        wheel_slots: 64,
        ..config(64)
    };
    let mut t = SessionTable::new(cfg, 0).unwrap();
    let st = ProtoState::Template;
    t.insert(
        &NewSession {
            timeout_ms: Some(60_000),
            ..NewSession::new(tuple(1, 0), tuple(1, 0), 3, st)
        },
        0,
    )
    .unwrap();
    t.insert(
        &NewSession::new(tuple(2, 1), reply(2, 1), 0, ProtoState::Udp),
        0,
    )
    .unwrap();
    let mut now = 0;
    while now < 59_900 {
        now += 100;
        assert_eq!(t.expire(now, 10, |_, _| {}), 0, "at {now}");
    }
    assert_eq!(t.expire(60_000, 10, |s, _| assert_eq!(s.backend, 3)), 1);
    // The UDP session is then reached after a pause of many wheel turns.
    assert_eq!(t.expire(299_900, 10, |_, _| {}), 0);
    assert_eq!(t.expire(10_000_000, 10, |_, _| {}), 1);
    assert!(t.is_empty());
}

#[test]
fn single_entry_sessions_index_once() {
    let mut t = SessionTable::new(config(2), 0).unwrap();
    let k = tuple(1, 0);
    let id = t
        .insert(&NewSession::new(k, k, 0, ProtoState::Template), 0)
        .unwrap();
    assert_eq!(
        t.lookup(&k),
        Some(Hit {
            id,
            dir: Direction::Inbound
        })
    );
    assert!(t.remove(id).is_some());
    assert_eq!(t.lookup(&k), None);
    assert!(t.index.iter().all(|e| *e == 0));
}

#[test]
fn bytes_per_session_meets_the_goal() {
    assert_eq!(std::mem::size_of::<Session>(), 64);
    for cap in [1_000, 1 << 20, 10_000_000] {
        let per = (cap * 64 + index_len_for(cap) * 8) as f64 / cap as f64;
        assert!(per <= 128.0, "{cap}: {per} B");
    }
}

/// An IPv6 client of 2001:db8:2::/48 (`client` fills the other 80 bits)
/// to 2001:db8::10 port 80.
fn tuple6(client: u128, port: u16) -> FiveTuple6 {
    FiveTuple6 {
        src: Ipv6Addr::from((0x2001_0db8_0002_u128 << 80) | client),
        dst: "2001:db8::10".parse().unwrap(),
        src_port: port,
        dst_port: 80,
        proto: IpProto::TCP,
    }
}

#[test]
fn ipv6_sessions_are_found_by_both_tuples_time_out_and_leave() {
    let mut t: SessionTable<RandomState, FiveTuple6> = SessionTable::new(config(16), 0).unwrap();
    let st = ProtoState::Tcp(TcpState::SynRecv);
    // Two clients that differ only in the upper half of the address.
    let (a, b) = (tuple6(1, 1000), tuple6((1 << 70) | 1, 1000));
    let back = |t: FiveTuple6| FiveTuple6 {
        src: "2001:db8:1::11".parse().unwrap(),
        ..t.reversed()
    };
    let ia = t.insert(&NewSession::new(a, back(a), 3, st), 0).unwrap();
    let ib = t.insert(&NewSession::new(b, b, 4, st), 0).unwrap();
    assert_eq!(
        t.lookup(&a).map(|h| (h.id, h.dir)),
        Some((ia, Direction::Inbound))
    );
    assert_eq!(
        t.lookup(&back(a)).map(|h| (h.id, h.dir)),
        Some((ia, Direction::Outbound))
    );
    assert_eq!(t.lookup(&b).map(|h| h.id), Some(ib));
    assert_eq!(t.lookup(&back(b)), None, "indexed once");
    assert_eq!(t.lookup(&tuple6(1, 1001)), None);
    assert_eq!((t.get(ia).backend, t.get(ib).backend), (3, 4));
    assert_eq!(t.get(ia).inbound(), &a);
    assert_eq!(
        t.insert(&NewSession::new(a, a, 5, st), 0),
        Err(InsertError::Exists)
    );
    // SYN_RECV's 30 s, as for IPv4.
    assert_eq!(t.expire(29_000, 10, |_, _| {}), 0);
    let mut gone = Vec::new();
    t.expire(31_000, 10, |s, _| gone.push(*s.inbound()));
    gone.sort_by_key(|k| u128::from(k.src));
    assert_eq!(gone, vec![a, b]);
    assert!(t.is_empty() && t.lookup(&a).is_none() && t.index.iter().all(|e| *e == 0));
}

#[test]
fn an_ipv6_session_is_two_cache_lines_and_an_ipv4_one_stays_one() {
    assert_eq!(std::mem::size_of::<Session<FiveTuple>>(), 64);
    assert_eq!(std::mem::size_of::<Session<FiveTuple6>>(), 128);
    // Bytes per session at 1 Mi: the slot, the index (two entries per
    // session at 0.6 load) and the birth time; the wheel and the table
    // itself are fixed.
    let cap = 1 << 20;
    let per = |slot: usize| (cap * (slot + 4) + index_len_for(cap) * 8) as f64 / cap as f64;
    assert!((per(64) - 94.7).abs() < 0.05, "IPv4 {}", per(64));
    assert!((per(128) - 158.7).abs() < 0.05, "IPv6 {}", per(128));
    // memory_bytes counts the same arrays.
    let t: SessionTable<RandomState, FiveTuple6> = SessionTable::new(config(1000), 0).unwrap();
    let fixed = TableConfig::default().wheel_slots * 4 + std::mem::size_of_val(&t);
    assert_eq!(
        t.memory_bytes(),
        1000 * (128 + 4) + index_len_for(1000) * 8 + fixed
    );
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u8),
    Remove(u8),
    Expire(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u8>().prop_map(Op::Insert),
        2 => any::<u8>().prop_map(Op::Remove),
        1 => any::<u16>().prop_map(Op::Expire),
    ]
}

proptest! {
    /// Against a HashMap model, with a hasher that collides heavily and
    /// homes keys anywhere (including the last slot, to wrap the probe).
    #[test]
    fn behaves_like_a_map_under_collisions(
        ops in proptest::collection::vec(op(), 1..300),
        buckets in 1u64..8,
        offset in any::<u64>(),
        capacity in 1usize..40,
    ) {
        let mut t = SessionTable::with_hasher(config(capacity), 0, Colliding { buckets, offset }).unwrap();
        // key -> (id, expires_ms)
        let mut model: HashMap<u8, (SessionId, u64)> = HashMap::new();
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Insert(k) => {
                    let new = NewSession { timeout_ms: Some(1_000), ..NewSession::new(tuple(k.into(), 1), reply(k.into(), 2), k.into(), ProtoState::Udp) };
                    let r = t.insert(&new, now);
                    if model.contains_key(&k) {
                        prop_assert_eq!(r, Err(InsertError::Exists));
                    } else if model.len() == capacity {
                        prop_assert_eq!(r, Err(InsertError::Full));
                    } else {
                        // Deadlines round up to the 100 ms tick.
                        model.insert(k, (r.unwrap(), (now + 1_000).div_ceil(100) * 100));
                    }
                }
                Op::Remove(k) => {
                    let hit = t.lookup(&tuple(k.into(), 1));
                    prop_assert_eq!(hit.map(|h| h.id), model.get(&k).map(|e| e.0));
                    if let Some(h) = hit {
                        prop_assert_eq!(t.remove(h.id).map(|s| s.backend), Some(u32::from(k)));
                        model.remove(&k);
                    }
                }
                Op::Expire(dt) => {
                    now += u64::from(dt % 2_000);
                    let mut gone = Vec::new();
                    t.expire(now, usize::MAX, |s, _| gone.push(s.backend as u8));
                    let mut want: Vec<u8> = model.iter().filter(|(_, e)| e.1 <= now).map(|(k, _)| *k).collect();
                    gone.sort();
                    want.sort();
                    prop_assert_eq!(&gone, &want);
                    for k in want { model.remove(&k); }
                }
            }
            prop_assert_eq!(t.len(), model.len());
            for k in 0..=255u8 {
                let want = model.get(&k).map(|e| e.0);
                // The burst hints must terminate on any probe run.
                let h = t.prefetch(&tuple(k.into(), 1));
                t.prefetch_candidate(h);
                prop_assert_eq!(t.lookup(&tuple(k.into(), 1)).map(|h| h.id), want);
                prop_assert_eq!(t.lookup(&reply(k.into(), 2)).map(|h| h.id), want);
            }
        }
    }
}

#[test]
fn sessions_end_with_their_lifetime_whether_expired_flushed_or_removed() {
    let mut t = SessionTable::new(
        TableConfig {
            timeouts: Timeouts {
                udp: 1_000,
                ..Timeouts::default()
            },
            ..config(8)
        },
        0,
    )
    .unwrap();
    let udp = |i| NewSession::new(tuple(i, 1), reply(i, 1), i, ProtoState::Udp);
    // Made at 10 s, refreshed at 25 s, expired a second later: lived 16 s.
    let a = t.insert(&udp(1), 10_000).unwrap();
    t.refresh(a, 25_000);
    let mut lived = Vec::new();
    t.expire(26_100, 10, |s, ms| lived.push((s.backend, ms)));
    assert_eq!(lived.len(), 1);
    assert!(lived[0].1.abs_diff(16_100) <= BIRTH_UNIT_MS, "{lived:?}");
    // Removed: the lifetime is read before removal, from the same birth.
    let b = t.insert(&udp(2), 30_000).unwrap();
    assert!(t.lifetime_ms(b, 30_500).abs_diff(500) <= BIRTH_UNIT_MS);
    assert!(t.remove(b).is_some());
    // Flushed at 40 s after birth at 31 s.
    t.insert(&udp(3), 31_000).unwrap();
    let mut flushed = Vec::new();
    t.flush(40_000, |_| true, |s, ms| flushed.push((s.backend, ms)));
    assert_eq!(flushed.len(), 1);
    assert!(flushed[0].1.abs_diff(9_000) <= BIRTH_UNIT_MS, "{flushed:?}");
    // A clock that went back gives no time, not four billion units.
    let c = t.insert(&udp(4), 50_000).unwrap();
    assert_eq!(t.lifetime_ms(c, 49_000), 0);
}
