//! The kernel path (docs/kernel-path.md): frames the load balancer does not
//! consume go up to the port's kernel interface, and what the kernel sends
//! on it leaves by the port.
//!
//! Worker 0 moves the frames: the kernel interface has one queue pair, and
//! only worker 0's packet I/O holds it (at `KernelPath::io_port`). Another
//! worker hands a frame for the kernel to worker 0 on the redirect ring.
//! Each worker spends at most its share of the port's per-second budget
//! (`budget / workers`) before the frame goes anywhere, so a flood at a host
//! address costs the load-balancing path a classification and a counter
//! increment per frame beyond the budget, and nothing more.
//!
//! Syscalls: a `net_tap` TX burst writes each frame to the tap, and an RX
//! burst reads from it even when it is empty. Frames for the kernel are
//! only those the budget let through, and the tap is read once per
//! millisecond tick (up to [`RX_BURSTS_PER_TICK`] bursts), never per LB
//! packet.

use std::net::Ipv4Addr;

use super::decide::for_our_mac;
use super::redirect::Handoff;
use super::{Cx, Datapath};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::io::{Burst, PacketIo};
use crate::tables::LbTables;
use crate::wire::ethernet::{self, EtherType};
use crate::wire::ipv4;

/// The worker that owns the kernel interfaces' queues.
pub(super) const KERNEL_WORKER: usize = 0;
/// Bursts read from each kernel interface per millisecond tick: up to 128
/// frames a millisecond from the kernel.
const RX_BURSTS_PER_TICK: usize = 4;

/// The destination of an IPv4 frame, untagged or with one VLAN tag.
fn ipv4_destination(frame: &[u8]) -> Option<Ipv4Addr> {
    let ethertype =
        |at: std::ops::Range<usize>| frame.get(at).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let l3 = match ethertype(ethernet::field::ETHERTYPE)? {
        EtherType::IPV4 => ethernet::field::ETHERTYPE.end,
        EtherType::VLAN if ethertype(ethernet::field::VLAN_ETHERTYPE)? == EtherType::IPV4 => {
            ethernet::field::VLAN_ETHERTYPE.end
        }
        _ => return None,
    };
    let dst = frame.get(l3 + ipv4::field::DST_ADDR.start..l3 + ipv4::field::DST_ADDR.end)?;
    Some(Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3]))
}

/// One worker's side of every port's kernel path.
pub(super) struct KernelState<P> {
    /// By port index: frames waiting for the kernel interface's TX queue
    /// (worker 0 only), and this worker's budget window.
    ports: Vec<KernelQueue<P>>,
    index: usize,
    workers: usize,
    last_rx_ms: u64,
}

struct KernelQueue<P> {
    out: Burst<P>,
    /// Start of the current one-second budget window, and frames let
    /// through in it.
    window_ms: u64,
    used: u32,
}

impl<P> KernelQueue<P> {
    fn new() -> Self {
        KernelQueue {
            out: Burst::new(),
            window_ms: 0,
            used: 0,
        }
    }
}

impl<P: PacketBuf> KernelState<P> {
    pub(super) fn new(tables: &LbTables, index: usize, workers: usize) -> Self {
        KernelState {
            ports: (0..tables.ports.len())
                .map(|_| KernelQueue::new())
                .collect(),
            index,
            workers: workers.max(1),
            last_rx_ms: 0,
        }
    }

    /// Follows new tables: there may be more ports.
    pub(super) fn adopt(&mut self, tables: &LbTables) {
        if self.ports.len() < tables.ports.len() {
            self.ports.resize_with(tables.ports.len(), KernelQueue::new);
        }
    }

    /// Whether this worker's share of `budget` frames per second has room
    /// for one more at `now`; takes it if so.
    fn take_budget(&mut self, port: u16, budget: u32, now: u64) -> bool {
        let share = budget.div_ceil(self.workers as u32);
        let Some(q) = self.ports.get_mut(usize::from(port)) else {
            return false;
        };
        if now.saturating_sub(q.window_ms) >= 1000 {
            q.window_ms = now;
            q.used = 0;
        }
        if q.used < share {
            q.used += 1;
            true
        } else {
            false
        }
    }
}

impl<P: PacketBuf> Datapath<P> {
    /// Whether `port` has a kernel interface that takes what the load
    /// balancer would drop for not being its own.
    #[inline]
    pub(super) fn kernel_takes_unmatched(t: &LbTables, port: u16) -> bool {
        t.kernel(port).is_some_and(|k| k.unmatched)
    }

    /// A frame the pipeline does not handle: IPv6 or another EtherType
    /// (the host's if the port has a kernel interface and the frame is for
    /// our MAC), or IPv4 it does not forward (VRRP, OSPF and other
    /// protocols, fragments: the host's if the kernel interface wants the
    /// destination). Anything else, and malformed IPv4, is dropped as
    /// `reason`.
    pub(super) fn host_frame<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        pkt: P,
        reason: DropReason,
    ) {
        let t = cx.t;
        let frame = pkt.data();
        let host = match (t.kernel(port), reason) {
            (None, _) => false,
            (Some(_), DropReason::Ipv6NotForwarded | DropReason::UnsupportedEtherType) => {
                for_our_mac(t, port, frame)
            }
            (Some(k), DropReason::UnsupportedProtocol | DropReason::Fragment) => {
                for_our_mac(t, port, frame)
                    && ipv4_destination(frame).is_some_and(|dst| {
                        !t.standby.contains(dst)
                            && (k.wants(dst, frame) || (k.unmatched && !t.owned.contains(dst)))
                    })
            }
            _ => false,
        };
        match host {
            true => self.up_to_kernel(cx, port, pkt, reason),
            false => self.drop(reason),
        }
    }

    /// A first packet that no service or SNAT rule takes: the kernel's if
    /// the port's kernel interface takes unmatched traffic, else dropped
    /// as `reason`.
    pub(super) fn drop_or_kernel<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        pkt: P,
        reason: DropReason,
    ) {
        match reason == DropReason::NoService && Self::kernel_takes_unmatched(cx.t, port) {
            true => self.up_to_kernel(cx, port, pkt, reason),
            false => self.drop(reason),
        }
    }

    /// Hands a frame received on `port` to its kernel interface, within
    /// the budget; without a kernel interface it is dropped as `reason`.
    pub(super) fn up_to_kernel<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        pkt: P,
        reason: DropReason,
    ) {
        let Some(k) = cx.t.kernel(port) else {
            return self.drop(reason);
        };
        if !self.kernel.take_budget(port, k.budget, cx.now) {
            return self.drop(DropReason::KernelBudget);
        }
        if self.kernel.index == KERNEL_WORKER {
            return self.kernel_enqueue(cx, port, pkt);
        }
        let sent = self
            .links
            .as_mut()
            .map(|l| l.send(KERNEL_WORKER, Handoff::Kernel { pkt, port }).is_ok());
        if sent != Some(true) {
            // A refused handoff was dropped with the error, freeing it.
            self.drop(DropReason::KernelFull);
        }
    }

    /// Puts a frame (already within the budget) in the kernel interface's
    /// TX buffer on worker 0.
    pub(super) fn kernel_enqueue<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        port: u16,
        pkt: P,
    ) {
        let p = usize::from(port);
        if self.kernel.ports.get(p).is_some_and(|q| q.out.is_full()) {
            self.kernel_flush_port(cx, port);
        }
        match self.kernel.ports.get_mut(p) {
            Some(q) if cx.t.kernel(port).is_some() => q.out.push(pkt),
            _ => self.drop(DropReason::KernelFull),
        }
    }

    /// Sends what waits for every kernel interface.
    pub(super) fn kernel_flush<I: PacketIo<Packet = P>>(&mut self, cx: &mut Cx<'_, I>) {
        for port in 0..self.kernel.ports.len() {
            if !self.kernel.ports[port].out.is_empty() {
                self.kernel_flush_port(cx, port as u16);
            }
        }
    }

    fn kernel_flush_port<I: PacketIo<Packet = P>>(&mut self, cx: &mut Cx<'_, I>, port: u16) {
        let io_port = cx.t.kernel(port).map(|k| usize::from(k.io_port));
        let Some(q) = self.kernel.ports.get_mut(usize::from(port)) else {
            return;
        };
        let n = q.out.len() as u64;
        match io_port.filter(|&i| i < cx.io.port_count()) {
            Some(i) => {
                let o = cx.io.tx_burst(i, &mut q.out);
                self.counters.events.to_kernel += o.sent as u64;
                self.counters
                    .drops
                    .count_n(DropReason::KernelFull, o.dropped as u64);
            }
            None => {
                q.out.clear();
                self.counters.drops.count_n(DropReason::KernelFull, n);
            }
        }
    }

    /// Once per millisecond on worker 0: what the kernel sent on each
    /// kernel interface leaves by its port, as the kernel wrote it.
    pub(super) fn kernel_receive<I: PacketIo<Packet = P>>(&mut self, cx: &mut Cx<'_, I>) {
        if self.kernel.index != KERNEL_WORKER || cx.now == self.kernel.last_rx_ms {
            return;
        }
        self.kernel.last_rx_ms = cx.now;
        let t = cx.t;
        for k in t.kernel.iter().flatten() {
            let io_port = usize::from(k.io_port);
            if io_port >= cx.io.port_count() {
                continue;
            }
            for _ in 0..RX_BURSTS_PER_TICK {
                let mut burst: Burst<P> = Burst::new();
                cx.io.rx_burst(io_port, &mut burst);
                let got = burst.len();
                self.counters.events.from_kernel += got as u64;
                for pkt in burst.drain(..) {
                    self.send(cx, k.port, pkt);
                }
                if got < crate::io::BURST_SIZE {
                    break;
                }
            }
        }
    }
}
