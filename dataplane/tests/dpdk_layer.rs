//! The DPDK wrapper against real DPDK: mbufs behave exactly like the test
//! buffer the packet logic is tested with, bursts transfer ownership
//! correctly, the EAL refuses a second initialisation, and a port's MTU
//! and the pool's buffer size follow the config (jumbo frames in one mbuf),
//! and the af_xdp pool lies wholly in the UMEM DPDK 22.11 registers for it.
//!
//! One test function: the EAL lives once per process and is not `Send`.

use dataplane::buf::{PacketBuf, TestBuf, DEFAULT_HEADROOM};
use dataplane::dpdk::{DpdkIo, Eal, EalArgs, Mempool, MtuSetting, Port, PortConfig};
use dataplane::io::{Burst, PacketIo};

/// xorshift32, so a failure names a seed that reproduces it.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
}

#[test]
fn dpdk_layer_on_real_dpdk() {
    let prefix = format!("ferrolb-dpdk-layer-{}", std::process::id());
    let args = EalArgs::new()
        .args([
            "--no-huge",
            "-m",
            "128",
            "--no-pci",
            "--no-shconf",
            "--no-telemetry",
        ])
        .args([
            "--file-prefix",
            prefix.as_str(),
            "-l",
            "0",
            "--log-level",
            "*:warning",
        ])
        .vdev("net_ring0")
        .vdev("net_ring1")
        .vdev("net_ring2")
        .vdev("net_null0");
    let eal = Eal::init(&args).expect("EAL init");
    assert!(Eal::version().starts_with("DPDK 2"), "{}", Eal::version());

    let again = Eal::init(&args).expect_err("second init must fail");
    assert_eq!(again.errno, 114, "EALREADY: {again}");

    let pool = Mempool::new_pktmbuf(&eal, "test_pool", 4095, 0, 1526).expect("mempool");
    mbuf_matches_test_buffer(&pool);
    ring_port_transfers_ownership(&eal, &pool);
    chained_packets_gather_into_one_run(&eal, &pool);
    assert_eq!(pool.available(), pool.size(), "every mbuf back in the pool");
    assert_eq!(pool.data_room(), 2048 + 128, "DPDK's default for 1500");

    af_xdp_pool_lies_in_its_umem(&eal, &pool);

    let jumbo = Mempool::new_pktmbuf(&eal, "jumbo_pool", 1023, 0, 9026).expect("mempool");
    assert_eq!(jumbo.data_room(), 9026 + 128);
    jumbo_frames_fit_one_mbuf(&eal, &jumbo);
    assert_eq!(
        jumbo.available(),
        jumbo.size(),
        "every mbuf back in the pool"
    );
}

/// One queue of 256 descriptors each way, promiscuous, at `mtu`.
fn one_queue(mtu: Option<u16>) -> PortConfig {
    PortConfig {
        queues: 1,
        rx_desc: 256,
        tx_desc: 256,
        promiscuous: true,
        mtu,
        all_multicast: false,
    }
}

/// A frame in two chained mbufs goes through net_ring as it is (a device
/// that chains), and `gather_into` copies its segments in order into one
/// run of bytes: what the pipeline does before it reads such a packet.
fn chained_packets_gather_into_one_run(eal: &Eal, pool: &Mempool) {
    let config = one_queue(None);
    let id = Port::find(eal, "net_ring2").expect("net_ring2 probed");
    let port = Port::start(eal, id, "ring", &config, pool).expect("start port");
    let mut io = DpdkIo::new(port.take_queues().expect("queues"), pool);
    let frame: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    let mut head = pool.alloc().expect("mbuf");
    head.append(30).expect("room").copy_from_slice(&frame[..30]);
    let mut tail = pool.alloc().expect("mbuf");
    tail.append(970)
        .expect("room")
        .copy_from_slice(&frame[30..]);
    let chained = head.chain(tail).map_err(|_| "chain").expect("chained");
    let mut burst: Burst<_> = Burst::new();
    burst.push(chained);
    assert_eq!(io.tx_burst(0, &mut burst).sent, 1);
    let mut received: Burst<_> = Burst::new();
    io.rx_burst(0, &mut received);
    let m = received.iter().next().expect("one frame");
    assert!(!m.is_contiguous());
    assert_eq!((m.data().len(), m.packet_len()), (30, 1000));
    let mut out = vec![0u8; 1000];
    assert!(m.gather_into(&mut out));
    assert_eq!(out, frame);
    assert!(!m.gather_into(&mut [0u8; 999]), "a shorter run is refused");
    drop(received);
    drop(io);
    drop(port);
}

/// With buffers for 9026-byte frames a 9014-byte frame is one mbuf through
/// TX and RX; net_ring has no MTU to set (ENOTSUP) and keeps ours,
/// net_null takes it.
fn jumbo_frames_fit_one_mbuf(eal: &Eal, pool: &Mempool) {
    let config = one_queue(Some(9000));
    let null = Port::find(eal, "net_null0").expect("net_null0 probed");
    assert!(Port::mtu_range(eal, null).expect("info").contains(9000));
    let port = Port::start(eal, null, "null", &config, pool).expect("start port");
    assert_eq!(port.mtu(), (9000, MtuSetting::Set));
    drop(port);

    let id = Port::find(eal, "net_ring1").expect("net_ring1 probed");
    let port = Port::start(eal, id, "ring", &config, pool).expect("start port");
    assert_eq!(port.mtu(), (9000, MtuSetting::NotSettable));
    let mut io = DpdkIo::new(port.take_queues().expect("queues"), pool);
    let mut m = pool.alloc().expect("mbuf");
    assert_eq!(m.tailroom(), 9026);
    m.append(9014).expect("room").fill(0x5a);
    let mut burst: Burst<_> = Burst::new();
    burst.push(m);
    assert_eq!(io.tx_burst(0, &mut burst).sent, 1);
    let mut received: Burst<_> = Burst::new();
    io.rx_burst(0, &mut received);
    assert_eq!(received.len(), 1);
    let m = received.iter().next().expect("one frame");
    assert!(m.is_contiguous());
    assert_eq!(m.data(), &[0x5a; 9014][..]);
    drop(received);
    drop(io);
    drop(port);
}

/// Random prepend/adj/append/trim sequences give the same bytes and the
/// same refusals on an mbuf as on a TestBuf with the same room.
fn mbuf_matches_test_buffer(pool: &Mempool) {
    for seed in 1..=300u32 {
        let mut rng = Rng(seed.wrapping_mul(2_654_435_761) | 1);
        let mut mbuf = pool.alloc().expect("mbuf");
        assert_eq!(mbuf.headroom(), DEFAULT_HEADROOM, "RTE_PKTMBUF_HEADROOM");
        let mut reference = TestBuf::with_room(&[], mbuf.headroom(), mbuf.tailroom());
        for step in 0..40 {
            let len = (rng.next() % 200) as usize;
            let fill = rng.next() as u8;
            let what = rng.next() % 4;
            let (a, b) = match what {
                0 => (
                    mbuf.prepend(len).map(|s| s.fill(fill)).is_some(),
                    reference.prepend(len).map(|s| s.fill(fill)).is_some(),
                ),
                1 => (mbuf.adj(len), reference.adj(len)),
                2 => (
                    mbuf.append(len).map(|s| s.fill(fill)).is_some(),
                    reference.append(len).map(|s| s.fill(fill)).is_some(),
                ),
                _ => (mbuf.trim(len), reference.trim(len)),
            };
            let ctx = format!("seed {seed} step {step} op {what} len {len}");
            assert_eq!(a, b, "accepted? {ctx}");
            assert_eq!(mbuf.data(), reference.data(), "bytes: {ctx}");
            assert_eq!(mbuf.headroom(), reference.headroom(), "headroom: {ctx}");
            assert_eq!(mbuf.tailroom(), reference.tailroom(), "tailroom: {ctx}");
            if let Some(first) = mbuf.data_mut().first_mut() {
                *first ^= 0xff;
                reference.data_mut()[0] ^= 0xff;
            }
        }
        assert!(mbuf.is_contiguous());
    }
}

/// A net_ring port loops TX back to RX: what a TX burst accepts comes back
/// intact, the burst is left empty, and nothing leaks.
fn ring_port_transfers_ownership(eal: &Eal, pool: &Mempool) {
    let id = Port::find(eal, "net_ring0").expect("net_ring0 probed");
    assert!(Port::find(eal, "net_ring7").is_none());
    let config = one_queue(None);
    let port = Port::start(eal, id, "ring", &config, pool).expect("start port");
    let queues = port.take_queues().expect("queues");
    assert!(port.take_queues().is_none(), "queues are handed out once");
    let mut io = DpdkIo::new(queues, pool);

    let mut burst: Burst<_> = Burst::new();
    for i in 0..32u8 {
        let mut m = pool.alloc().expect("mbuf");
        m.append(60).expect("room").fill(i);
        burst.push(m);
    }
    let out = io.tx_burst(0, &mut burst);
    assert_eq!((out.sent, out.dropped), (32, 0));
    assert!(burst.is_empty(), "tx_burst leaves the burst empty");

    let mut received: Burst<_> = Burst::new();
    io.rx_burst(0, &mut received);
    assert_eq!(received.len(), 32);
    for (i, m) in received.iter().enumerate() {
        assert_eq!(
            m.data(),
            &[i as u8; 60][..],
            "frame {i} intact and in order"
        );
    }
    drop(received);

    let stats = port.stats();
    assert_eq!((stats.tx_packets, stats.rx_packets), (32, 32));
    drop(io);
    drop(port);
}

/// The pool for af_xdp ports: every mbuf inside the UMEM DPDK 22.11's
/// af_xdp derives from the pool (first chunk's page, populated_size x
/// object size), one page each, all usable. `plain` (rte_pktmbuf_pool_create
/// under --no-huge) is the pool that stopped af_xdp transmit (issue 24):
/// one 2368-byte object per 4 KB page, so its tail lies past that UMEM;
/// the check must see it.
fn af_xdp_pool_lies_in_its_umem(eal: &Eal, plain: &Mempool) {
    let n = plain.size();
    let misses = plain.umem_misses();
    assert!(
        misses > n / 3,
        "{misses} of {n} plain mbufs outside the umem: the --no-huge layout changed?"
    );

    let pool = Mempool::new_umem_pktmbuf(eal, "umem_pool", n, 0).expect("af_xdp pool");
    assert_eq!(pool.umem_misses(), 0, "every mbuf inside the umem");
    // A 4 KB page less the object header (64) and the rte_mbuf (128).
    assert_eq!(pool.data_room(), 4096 - 64 - 128);
    assert_eq!(pool.frame_room(), 4096 - 64 - 128 - 128);
    mbuf_matches_test_buffer(&pool);
    // Every mbuf at once, each filled to its last byte of room.
    let all: Vec<_> = (0..n)
        .map(|i| {
            let mut m = pool.alloc().unwrap_or_else(|| panic!("mbuf {i} of {n}"));
            m.append(usize::from(pool.frame_room()))
                .expect("the whole frame room")
                .fill(i as u8);
            m
        })
        .collect();
    assert!(pool.alloc().is_none(), "exactly {n} mbufs");
    for (i, m) in all.iter().enumerate() {
        assert!(
            m.data().iter().all(|&b| b == i as u8),
            "mbuf {i} kept its bytes"
        );
    }
    drop(all);
    assert_eq!(pool.available(), n, "every mbuf back in the pool");
}
