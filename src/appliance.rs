//! Bringing the appliance up, running it, and taking it down.
//!
//! Order matters and is encoded in ownership: the EAL outlives the mbuf
//! pool, which outlives the ports, which outlive the worker threads (scoped
//! threads borrowing the ports' queues). Any error on the way up returns and
//! drops what was built, in reverse: nothing is left half-started.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use control::config::{self, Device, LoadedConfig};
use dataplane::dpdk::{
    DpdkError, DpdkIo, Eal, EalArgs, Mbuf, Mempool, Port, PortConfig, ThreadRegistration, TscClock,
};
use dataplane::frag::reasm::REASM_CONTEXTS;
use dataplane::l2fwd::{ForwardMode, ForwardPlan, Topology};
use dataplane::live::LiveTables;
use dataplane::pipeline::redirect::{self, WorkerLinks};
use dataplane::pipeline::Pipeline;
use dataplane::tables::LbTables;
use dataplane::worker::{run_forwarding, run_pipeline, WorkerShared};

use crate::report::{self, LbReport, StopReason};
use crate::server::handler::{lock, ApplianceHandler, Balancer};
use crate::server::metrics;
use crate::server::socket::ControlSocket;
use crate::server::views::RateSampler;
use crate::server::vrrp;
use crate::steering::Steering;
use crate::sync::{SyncCounters, SyncSocket};

/// What the workers run: the load-balancing pipeline (the config has
/// interfaces) or testpmd-style L2 forwarding.
enum Job {
    Balance(LiveTables),
    Forward(ForwardPlan),
}

/// How this run ends, besides a signal.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// Stop once every worker has been idle this long.
    pub exit_when_idle: Option<Duration>,
}

pub fn run(loaded: &LoadedConfig, options: &RunOptions) -> Result<()> {
    let cfg = &loaded.config;
    check_worker_cores(loaded)?;
    crate::kernel::check_devices(loaded)?;
    let plan = if cfg.runs_pipeline() {
        None
    } else {
        Some(forward_plan(&cfg.forward, cfg.ports.len())?)
    };
    let args = eal_args(cfg);
    for warning in crate::preflight::offload_warnings(cfg) {
        println!("{warning}");
    }

    println!("ferrolb {}", crate::long_version());
    println!("EAL arguments: {}", args.as_slice().join(" "));
    let eal = Eal::init(&args)
        .map_err(|e| anyhow!("EAL initialisation failed: {e}; see the EAL messages above"))?;

    let mut port_ids = Vec::with_capacity(cfg.ports.len());
    for (i, p) in cfg.ports.iter().enumerate() {
        let dpdk_name = match p.device_kind() {
            Device::Pci { address } => address,
            Device::Vdev { name } => name,
        };
        let id = Port::find(&eal, &dpdk_name).ok_or_else(|| {
            loaded.error_at(
                &format!("port[{i}].device"),
                format!(
                    "device {dpdk_name} did not probe, so port {:?} does not exist; \
                     see the EAL messages above (for net_pcap: does the rx_pcap file exist?)",
                    p.name
                ),
            )
        })?;
        crate::bond::check_members(&eal, loaded, i)?;
        crate::bond::set_link_poll(&eal, loaded, i, id)?;
        take_mac(&eal, loaded, i, id)?;
        port_ids.push(id);
    }
    let probed = eal.port_count() as usize;
    if probed != cfg.ports.len() {
        println!(
            "note: DPDK probed {probed} ports, the config uses {}; the others stay unused",
            cfg.ports.len()
        );
    }

    let workers = cfg.workers.cores.len();
    let mbufs = cfg.mempool.mbufs.unwrap_or_else(|| cfg.mbufs_needed());
    let pool = mbuf_pool(&eal, cfg, mbufs)?;
    // Reassembled datagrams (docs/fragments-and-mtu.md, "Reassembly"):
    // buffers as large as an mbuf gets, two per context of each worker (one
    // being filled, one on its way out).
    let reasm_buffers = (workers * REASM_CONTEXTS * 2) as u32;
    let reasm_pool = Mempool::new_pktmbuf(
        &eal,
        "ferrolb_reasm",
        reasm_buffers,
        0,
        Mempool::MAX_FRAME_ROOM,
    )
    .context("creating the reassembly pool")?;

    let mut ports = Vec::with_capacity(cfg.ports.len());
    for (i, (p, &id)) in cfg.ports.iter().zip(&port_ids).enumerate() {
        check_mtu(&eal, loaded, i, id)?;
        let port_config = PortConfig {
            queues: workers as u16,
            rx_desc: p.rx_desc,
            tx_desc: p.tx_desc,
            promiscuous: p.promiscuous,
            mtu: Some(p.mtu),
            // IPv6 interface addresses are solicited on multicast groups.
            all_multicast: cfg
                .interfaces
                .iter()
                .any(|i| i.port == p.name && i.addresses.iter().any(|a| a.v6().is_some())),
        };
        ports.push(
            Port::start(&eal, id, &p.name, &port_config, &pool)
                .map_err(|e| mtu_refused(loaded, i, e))?,
        );
    }
    report::print_ports(&ports);
    let macs: Vec<[u8; 6]> = cfg
        .ports
        .iter()
        .zip(&ports)
        .map(|(c, p)| c.mac.map_or(p.mac(), |m| m.0))
        .collect();
    // The kernel interfaces' queues follow the ports' in worker 0's I/O.
    let kernel_ports = crate::kernel::start(&eal, loaded, &macs, &pool)?;
    // What keepalived holds already (nothing on a fresh kernel interface,
    // until it takes the addresses again).
    let kernel_names = kernel_names(cfg);
    let held: BTreeSet<Ipv4Addr> = match cfg.vrrp {
        Some(_) => vrrp::kernel_addresses(&kernel_names).map_err(|e| anyhow!("[vrrp]: {e}"))?,
        None => BTreeSet::new(),
    };
    let job = match plan {
        Some(plan) => Job::Forward(plan),
        None => {
            let macs: Vec<[u8; 6]> = ports.iter().map(|p| p.mac()).collect();
            let standby: Vec<_> = vrrp_addresses(cfg).filter(|a| !held.contains(a)).collect();
            let tables = LbTables::build(&crate::lb::lb_config(cfg, &macs, &standby))
                .and_then(|t| t.check_workers(workers).map(|()| t))
                .map_err(|e| anyhow!("load-balancing config: {e}"))?;
            report::print_services(&tables);
            Job::Balance(LiveTables::new(Arc::new(tables)))
        }
    };
    // Rules go in after the ports start and before any worker polls; they
    // borrow the ports, so they are destroyed before the ports close.
    let steering = match &job {
        Job::Balance(live) => Steering::start(cfg, &ports, &live.current()),
        Job::Forward(_) => None,
    };

    // Queue pair w of every port goes to worker w.
    let mut per_worker: Vec<Vec<_>> = (0..workers).map(|_| Vec::new()).collect();
    for port in &ports {
        let queues = port
            .take_queues()
            .ok_or_else(|| anyhow!("port {}: queues already taken", port.name()))?;
        for (w, pair) in queues.into_iter().enumerate() {
            per_worker[w].push(pair);
        }
    }

    for port in &kernel_ports {
        let queues = port
            .take_queues()
            .ok_or_else(|| anyhow!("port {}: queues already taken", port.name()))?;
        per_worker[0].extend(queues);
    }

    // Rings between the pipeline workers, for packets that reach a worker
    // other than their flow's owner (see pipeline::owner).
    let mut links: Vec<Option<WorkerLinks<Mbuf>>> = match (&job, workers > 1) {
        (Job::Balance(_), true) => redirect::mesh(workers, redirect::RING_CAPACITY)
            .into_iter()
            .map(Some)
            .collect(),
        _ => (0..workers).map(|_| None).collect(),
    };

    let terminate = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while we are stopping exits at once.
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&terminate))
            .context("installing the signal handler")?;
        signal_hook::flag::register(signal, Arc::clone(&terminate))
            .context("installing the signal handler")?;
    }

    // Session sync: the socket is bound (and the key read) before any
    // worker starts; each pipeline worker gets its end of the queues.
    let sync_socket = match (&job, &cfg.sync) {
        (Job::Balance(_), Some(sync)) => Some(SyncSocket::bind(sync)?),
        _ => None,
    };
    if let (Some(s), Some(sync)) = (&sync_socket, &cfg.sync) {
        println!(
            "session sync on {} to {} peer(s){}, boot id {:016x}",
            s.local_addr()
                .map_or_else(|| sync.listen.to_string(), |a| a.to_string()),
            sync.peers.len(),
            if sync.key_file.is_some() {
                ", signed"
            } else {
                ""
            },
            s.boot_id()
        );
    }
    let (sync_ports, sync_links) = match &sync_socket {
        Some(_) => {
            let (ports, links) = dataplane::sync::links(
                workers,
                dataplane::sync::link::OUT_CAPACITY,
                dataplane::sync::link::IN_CAPACITY,
            );
            (Some(ports), links.into_iter().map(Some).collect())
        }
        None => (None, (0..workers).map(|_| None).collect::<Vec<_>>()),
    };
    let mut sync_links = sync_links;
    let sync_counters = SyncCounters::default();
    let stop_sync = AtomicBool::new(false);

    let shared: Vec<WorkerShared> = (0..workers).map(|_| WorkerShared::default()).collect();
    // The socket is bound before any worker starts, so a taken path is a
    // start-up error like any other.
    let socket = ControlSocket::bind(&cfg.control)?;
    println!("control socket {}", socket.path().display());
    // Bound here too, for the same reason; the server lives until we return.
    let metrics = cfg.control.metrics.map(metrics::bind).transpose()?;
    let (_metrics_server, scrapes) = match metrics {
        Some((server, scrapes)) => {
            println!("metrics on http://{}/metrics", server.local_addr());
            (Some(server), Some(scrapes))
        }
        None => (None, None),
    };
    let started = Instant::now();
    let handler = ApplianceHandler {
        started,
        version: crate::long_version(),
        cores: cfg.workers.cores.clone(),
        workers: &shared,
        ports: &ports,
        config: cfg.clone(),
        balancer: match &job {
            Job::Balance(live) => Some(Balancer::new(
                cfg.clone(),
                live.current(),
                live,
                ports.iter().map(|p| p.mac()).collect(),
                steering,
                held,
            )),
            _ => None,
        },
        rates: Mutex::new(RateSampler::default()),
        sync: sync_socket.as_ref().map(|_| &sync_counters),
    };
    let stop_control = AtomicBool::new(false);
    // Pipeline workers that have built their state (see the worker).
    let ready = AtomicUsize::new(0);
    let token = eal.token();
    let outcome = thread::scope(|scope| -> Result<(StopReason, Vec<LbReport>)> {
        let (socket, handler, stop_control) = (&socket, &handler, &stop_control);
        let control = thread::Builder::new()
            .name("ferrolb-ctl".into())
            .spawn_scoped(scope, move || socket.serve(scope, handler, stop_control))
            .context("starting the control socket thread")?;
        let sampler = thread::Builder::new()
            .name("ferrolb-rates".into())
            .spawn_scoped(scope, move || sample_rates(handler, stop_control))
            .context("starting the rate sampler")?;
        let vrrp = match handler.balancer.is_some() && cfg.vrrp.is_some() {
            true => Some(
                thread::Builder::new()
                    .name("ferrolb-vrrp".into())
                    .spawn_scoped(scope, move || {
                        vrrp::follow(handler, &kernel_names, stop_control)
                    })
                    .context("starting the VRRP follower")?,
            ),
            false => None,
        };
        let bonds = match cfg.ports.iter().any(|p| p.bond.is_some()) {
            true => Some(
                thread::Builder::new()
                    .name("ferrolb-bond".into())
                    .spawn_scoped(scope, move || {
                        crate::bond::watch(handler.ports, handler.workers, stop_control)
                    })
                    .context("starting the bond watch")?,
            ),
            false => None,
        };
        let scraper = match scrapes {
            Some(scrapes) => Some(
                thread::Builder::new()
                    .name("ferrolb-metrics".into())
                    .spawn_scoped(scope, move || scrapes.answer(handler, stop_control))
                    .context("starting the metrics thread")?,
            ),
            None => None,
        };
        let syncer = match (&sync_socket, sync_ports, &job) {
            (Some(sock), Some(ports), Job::Balance(live)) => {
                let (counters, stop) = (&sync_counters, &stop_sync);
                Some(
                    thread::Builder::new()
                        .name("ferrolb-sync".into())
                        .spawn_scoped(scope, move || {
                            crate::sync::run(sock, ports, live, counters, stop)
                        })
                        .context("starting the session sync thread")?,
                )
            }
            _ => None,
        };
        let mut handles = Vec::with_capacity(workers);
        for (w, queues) in per_worker.into_iter().enumerate() {
            let core = cfg.workers.cores[w];
            let (shared, job, pool, ready) = (&shared[w], &job, &pool, &ready);
            let reasm_pool = &reasm_pool;
            let idle = options.exit_when_idle;
            let links = links[w].take();
            let sync_link = sync_links[w].take();
            let handle = thread::Builder::new()
                .name(format!("ferrolb-w{w}"))
                .spawn_scoped(scope, move || -> Result<Option<LbReport>> {
                    if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                        bail!("worker {w}: cannot pin to core {core}");
                    }
                    let _registered = ThreadRegistration::register(token)
                        .with_context(|| format!("worker {w} on core {core}"))?;
                    let mut io = DpdkIo::new(queues, pool).with_reasm_pool(reasm_pool);
                    match job {
                        Job::Forward(plan) => {
                            run_forwarding(&mut io, plan, shared, idle);
                            Ok(None)
                        }
                        Job::Balance(live) => {
                            // Built on the worker's own core, so its session
                            // table is first touched (and placed) there.
                            let mut clock = TscClock::new(token);
                            let built =
                                Pipeline::new(live.current(), w, workers, 0).and_then(|mut p| {
                                    if let Some(link) = sync_link {
                                        p.attach_sync(link);
                                    }
                                    match links {
                                        Some(links) => p.connect(links).map(|()| p),
                                        None => Ok(p),
                                    }
                                });
                            // Nobody polls before everyone can: a worker
                            // still building its table would leave its
                            // rings to fill. A failed worker counts as
                            // ready, so the others do not wait for it.
                            ready.fetch_add(1, Ordering::AcqRel);
                            let mut pipeline = built.map_err(|e| anyhow!("worker {w}: {e}"))?;
                            while ready.load(Ordering::Acquire) < workers
                                && !shared.stop.load(Ordering::Relaxed)
                            {
                                thread::sleep(Duration::from_micros(100));
                            }
                            run_pipeline(&mut io, &mut pipeline, shared, live, &mut clock, idle);
                            Ok(Some(LbReport {
                                counters: pipeline.counters(),
                                sessions: pipeline.session_counts(),
                            }))
                        }
                    }
                })
                .with_context(|| format!("starting worker {w}"))?;
            handles.push(handle);
        }
        let reason = supervise(&shared, &handles, &terminate, options.exit_when_idle);
        // The control side stops first, so no change lands on a stopping
        // worker; the workers then finish their last poll.
        stop_control.store(true, Ordering::Relaxed);
        socket.wake();
        let _ = control.join();
        let _ = sampler.join();
        if let Some(v) = vrrp {
            let _ = v.join();
        }
        if let Some(s) = scraper {
            let _ = s.join();
        }
        if let Some(b) = bonds {
            let _ = b.join();
        }
        for s in &shared {
            s.stop.store(true, Ordering::Relaxed);
        }
        let mut failures = Vec::new();
        let mut reports = Vec::new();
        for h in handles {
            match h.join() {
                Ok(Ok(report)) => reports.extend(report),
                Ok(Err(e)) => failures.push(format!("{e:#}")),
                Err(_) => failures.push("a worker panicked".into()),
            }
        }
        // The sync thread goes last, sending what the workers queued in
        // their last polls.
        stop_sync.store(true, Ordering::Relaxed);
        if let Some(s) = syncer {
            let _ = s.join();
        }
        if !failures.is_empty() {
            bail!("{}", failures.join("; "));
        }
        Ok((reason, reports))
    });
    let elapsed = started.elapsed();
    let (reason, reports) = outcome?;
    report::print_summary(reason, elapsed, &ports, &cfg.workers.cores, &shared);
    if let Job::Balance(live) = &job {
        report::print_lb(&live.current(), &reports);
    }
    // Kernel interfaces and ports drop here (stop + close flushes pcap
    // output and removes the taps), then the pool, then the EAL.
    drop(kernel_ports);
    Ok(())
}

/// The Linux names of the ports' kernel interfaces.
fn kernel_names(cfg: &config::Config) -> Vec<String> {
    cfg.ports
        .iter()
        .filter_map(|p| p.kernel.as_ref().map(|k| k.name.clone()))
        .collect()
}

/// The `[vrrp]` addresses, if any.
fn vrrp_addresses(cfg: &config::Config) -> impl Iterator<Item = Ipv4Addr> + '_ {
    cfg.vrrp.iter().flat_map(|v| v.addresses.iter().copied())
}

/// A port's configured `mac`, where it differs from the device's: with
/// `promiscuous = false` the device must filter for it, so it is set on the
/// device (refused, naming the key, if the device will not take it); a
/// promiscuous port receives it anyway and the device is left as it is
/// (a packet socket's Linux interface keeps its MAC).
fn take_mac(eal: &Eal, loaded: &LoadedConfig, i: usize, id: u16) -> Result<()> {
    let port = &loaded.config.ports[i];
    let Some(mac) = port.mac else {
        return Ok(());
    };
    let device = Port::device_mac(eal, id);
    if device == mac.0 {
        return Ok(());
    }
    // A bond has no MAC before it starts (it takes its primary member's).
    if port.promiscuous && port.bond.is_some() {
        return Ok(());
    }
    if port.promiscuous {
        println!(
            "note: port {}: MAC {mac} is not the device's ({}); the port is promiscuous, so \
             frames to {mac} arrive and the device keeps its own",
            port.name,
            config::MacAddr(device)
        );
        return Ok(());
    }
    Port::set_mac(eal, id, &port.name, mac.0)
        .map_err(|e| crate::preflight::mac_refused(loaded, i, &e.to_string()).into())
}

/// The mbuf pool every port receives into. One mbuf per frame: buffers
/// as long as the largest port's frames, and no scattered RX
/// (docs/fragments-and-mtu.md, jumbo frames). With a `net_af_xdp` port,
/// one page per mbuf in one page-aligned block, because DPDK 22.11's
/// af_xdp registers the pool as if its mbufs lay end to end, and the
/// kernel refuses (and, in copy mode, stops transmitting at) a buffer past
/// that range (docs/fragments-and-mtu.md, "AF_XDP and the mbuf pool").
fn mbuf_pool(eal: &Eal, cfg: &config::Config, mbufs: u32) -> Result<Mempool> {
    const NAME: &str = "ferrolb_mbufs";
    let Some(xdp) = cfg.ports.iter().position(config::PortConfig::is_af_xdp) else {
        let room = cfg.mbuf_frame_room();
        return Mempool::new_pktmbuf(eal, NAME, mbufs, cfg.mempool.cache, room)
            .context("creating the mbuf pool");
    };
    let pool = Mempool::new_umem_pktmbuf(eal, NAME, mbufs, cfg.mempool.cache)
        .context("creating the mbuf pool for af_xdp (one page per mbuf)")?;
    // The config limits af_xdp MTUs so a frame fits such an mbuf.
    let room = pool.frame_room();
    if room < cfg.mbuf_frame_room() {
        bail!(
            "port[{xdp}] ({}): af_xdp mbufs hold {room} bytes after the headroom, \
             frames need {}",
            cfg.ports[xdp].name,
            cfg.mbuf_frame_room()
        );
    }
    let misses = pool.umem_misses();
    if misses > 0 {
        bail!(
            "port[{xdp}] ({}): {misses} of {mbufs} mbufs lie outside the UMEM net_af_xdp \
             would register for the pool; the kernel would refuse them",
            cfg.ports[xdp].name
        );
    }
    Ok(pool)
}

/// Port `i`'s `mtu` must be one its device takes (`rte_eth_dev_info`),
/// checked before the port is configured so the error names the key and
/// the device's range.
fn check_mtu(eal: &Eal, loaded: &LoadedConfig, i: usize, id: u16) -> Result<()> {
    let port = &loaded.config.ports[i];
    let range = Port::mtu_range(eal, id)?;
    if range.contains(port.mtu) {
        return Ok(());
    }
    Err(loaded
        .error_at(
            &format!("port[{i}].mtu"),
            format!(
                "port {}: the device ({}) takes MTUs {}..={}, not {}",
                port.name, port.device, range.min, range.max, port.mtu
            ),
        )
        .into())
}

/// A port that would not start, located at its `mtu` key when it was the
/// MTU the device refused (in range, yet refused: an ioctl that failed).
fn mtu_refused(loaded: &LoadedConfig, i: usize, e: DpdkError) -> anyhow::Error {
    if e.is_mtu_refusal() {
        loaded
            .error_at(&format!("port[{i}].mtu"), e.to_string())
            .into()
    } else {
        e.into()
    }
}

/// Samples the pipeline's counters once a second for `list --rate`.
fn sample_rates(handler: &ApplianceHandler<'_, '_>, stop: &AtomicBool) {
    if handler.balancer.is_none() {
        return;
    }
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next {
            let totals = handler.totals();
            let born = handler.service_stamps();
            let at = Instant::now();
            lock(&handler.rates).sample(at, totals.counters().clone(), &born);
            next = at + Duration::from_secs(1);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until a signal arrives, every worker is idle (with
/// `exit_when_idle`), or a worker ends on its own (an error).
fn supervise<T>(
    shared: &[WorkerShared],
    handles: &[thread::ScopedJoinHandle<'_, T>],
    terminate: &AtomicBool,
    exit_when_idle: Option<Duration>,
) -> StopReason {
    loop {
        thread::sleep(Duration::from_millis(10));
        if terminate.load(Ordering::Relaxed) {
            return StopReason::Signal;
        }
        if handles.iter().any(|h| h.is_finished()) {
            return StopReason::WorkerEnded;
        }
        if exit_when_idle.is_some()
            && shared
                .iter()
                .all(|s| s.counters.idle.load(Ordering::Relaxed))
        {
            return StopReason::Drained;
        }
    }
}

/// Every worker core must exist and be allowed to this process; checked
/// before DPDK starts so the error can point at the config line.
fn check_worker_cores(loaded: &LoadedConfig) -> Result<()> {
    let available: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    for (i, core) in loaded.config.workers.cores.iter().enumerate() {
        if !available.contains(core) {
            return Err(loaded
                .error_at(
                    &format!("workers.cores[{i}]"),
                    format!(
                        "core {core} is not available to this process (available: {available:?})"
                    ),
                )
                .into());
        }
    }
    Ok(())
}

fn forward_plan(cfg: &config::ForwardConfig, ports: usize) -> Result<ForwardPlan> {
    let mode = match cfg.mode {
        config::ForwardMode::Io => ForwardMode::Io,
        config::ForwardMode::Macswap => ForwardMode::MacSwap,
    };
    let topology = match cfg.topology {
        config::Topology::Paired => Topology::Paired,
        config::Topology::Chained => Topology::Chained,
        config::Topology::Loop => Topology::Loop,
    };
    ForwardPlan::new(mode, topology, ports).map_err(|e| anyhow!("forward: {}", e.0))
}

/// The EAL command line: the configured arguments, the main lcore unless
/// the arguments choose cores, and one probe argument per port.
fn eal_args(cfg: &config::Config) -> EalArgs {
    let mut args = EalArgs::new().args(cfg.eal.args.iter().cloned());
    if !["-l", "-c", "--lcores"].iter().any(|f| args.has(f)) {
        args = args.arg("-l").arg(cfg.eal.main_lcore.to_string());
    }
    for p in &cfg.ports {
        args = match (&p.bond, p.device_kind()) {
            (Some(bond), _) => crate::bond::eal_args(&p.name, bond, args),
            (None, Device::Pci { .. }) => args.allow_pci(&p.device),
            (None, Device::Vdev { .. }) => args.vdev(&p.device),
        };
    }
    crate::kernel::eal_args(cfg, args)
}
