//! Packet trace and capture, armed at runtime (`ferrolbctl trace`,
//! `ferrolbctl capture`).
//!
//! A worker keeps a [`Watch`]: a flag, and behind it what is armed. With
//! nothing armed a packet costs the test of that flag where it comes in
//! (`Watch::armed`) and, at the steps that record, the test of whether
//! the packet in hand is traced (`Watch::tracing`), which stays false.
//!
//! When a trace is armed, each packet received is checked against its
//! compiled filter; the first ones that match (a budget shared by every
//! worker) get a [`TraceRecord`], which follows the packet through the
//! pipeline step by step. A record is filled in place (fixed size, no
//! allocation) and leaves the worker through a bounded channel when the
//! packet leaves, is dropped, or waits; a full channel loses the record
//! and counts it. A packet handed to another worker carries its trace id
//! in the handoff, and the other worker continues the trace with a record
//! of the same id.
//!
//! A capture copies matching frames as received and as sent into fixed
//! slots ([`CaptureCopy`]) sent on a bounded channel; a full channel
//! loses the copy, counted, and never holds the packet back.

mod capture;
mod record;

use std::panic::Location;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::Sender;
/// The bounded queue records and copies leave the workers by.
pub use crossbeam_channel::{bounded as queue, Receiver};
pub use ferrolb_types::filter::FilterProgram;
use ferrolb_types::filter::{FilterInput, FilterInput6, Prefilter};

use crate::buf::{HwChecksum, PacketBuf};
use crate::drop::DropReason;
use crate::packet::{classify_received, Classified};
use crate::wire::{ethernet, get_u8, tcp};

pub use capture::{CaptureCopy, Direction, SNAP_LEN};
pub use record::{PlanView, StepReport, TraceRecord, TraceStep, MAX_STEPS};

/// A trace as armed on every worker.
#[derive(Debug)]
pub struct TraceSpec {
    pub filter: FilterProgram,
    /// Only packets received on this port (`None`: any).
    pub port: Option<u16>,
    /// Packets still to trace, shared by the workers.
    pub budget: AtomicU32,
    pub out: Sender<TraceRecord>,
    /// Records the channel had no room for.
    pub lost: AtomicU64,
}

/// A capture as armed on every worker.
#[derive(Debug)]
pub struct CaptureSpec {
    pub filter: FilterProgram,
    pub port: Option<u16>,
    /// Copies still to make (received and sent count alike).
    pub budget: AtomicU32,
    pub out: Sender<CaptureCopy>,
    pub lost: AtomicU64,
}

/// What to arm on a worker (`worker::Query::Watch`); `None` disarms.
#[derive(Clone, Debug, Default)]
pub struct WatchSpec {
    pub trace: Option<Arc<TraceSpec>>,
    pub capture: Option<Arc<CaptureSpec>>,
}

/// Records one worker holds at once: a burst's traced packets between
/// coming in and being handled, and those that wait for the burst's new
/// flows (`pipeline/burst.rs`). A packet that finds no room is not traced
/// (and not counted against the budget).
const PARKED: usize = crate::io::BURST_SIZE;

/// One worker's trace and capture state.
pub struct Watch {
    armed: bool,
    /// The armed trace's filter and port, copied out of its spec so the
    /// test every received packet takes follows no pointer.
    trace_test: Option<(FilterProgram, Option<u16>)>,
    /// The armed trace's cheap necessary condition on the tuple (passes
    /// everything while a capture is armed): see [`Watch::may_want`].
    quick: Prefilter,
    /// Whether a capture is armed.
    capturing: bool,
    worker: u16,
    spec: WatchSpec,
    /// The record of the packet being handled, if it is traced.
    current: Option<TraceRecord>,
    /// Records of traced packets waiting in the burst, by buffer address.
    parked: [Option<(usize, TraceRecord)>; PARKED],
    /// How many of `parked` are taken.
    parked_len: u8,
    seq: u32,
}

/// Where and when a frame came in, and from which worker with which trace
/// id if another worker handed it over.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    pub port: u16,
    pub now_ms: u64,
    pub from: Option<(u16, u32)>,
}

impl Watch {
    pub fn new(worker: usize) -> Watch {
        Watch {
            armed: false,
            trace_test: None,
            quick: Prefilter::ANY,
            capturing: false,
            worker: worker as u16,
            spec: WatchSpec::default(),
            current: None,
            parked: [None; PARKED],
            parked_len: 0,
            seq: 0,
        }
    }

    /// Arms (or disarms) what `spec` holds.
    pub fn arm(&mut self, spec: WatchSpec) {
        self.armed = spec.trace.is_some() || spec.capture.is_some();
        self.trace_test = spec.trace.as_ref().map(|t| (t.filter.clone(), t.port));
        self.capturing = spec.capture.is_some();
        self.quick = match (&spec.trace, self.capturing) {
            (Some(t), false) => t.filter.prefilter(),
            _ => Prefilter::ANY,
        };
        self.spec = spec;
        self.current = None;
        self.parked = [None; PARKED];
        self.parked_len = 0;
    }

    /// Whether a trace or capture is armed: the per-packet test.
    #[inline(always)]
    pub fn armed(&self) -> bool {
        self.armed
    }

    /// Whether anything may happen past a packet's arrival: a traced
    /// packet in hand or parked, or a capture armed (it copies the frames
    /// sent). False for a trace whose filter has matched nothing yet.
    pub fn busy(&self) -> bool {
        self.current.is_some() || self.parked_len > 0 || self.spec.capture.is_some()
    }

    /// Whether the packet in hand is traced.
    #[inline(always)]
    pub fn tracing(&self) -> bool {
        self.current.is_some()
    }

    /// The trace id of the packet in hand (0: not traced).
    pub fn current_id(&self) -> u32 {
        self.current.as_ref().map_or(0, |r| r.id)
    }

    /// Records a step of the packet in hand, if it is traced.
    #[inline(always)]
    pub fn step(&mut self, step: TraceStep) {
        if let Some(r) = self.current.as_mut() {
            r.push(step);
        }
    }

    /// Records a drop of the packet in hand, with where it happened.
    #[inline]
    pub fn dropped(&mut self, reason: DropReason, at: &'static Location<'static>) {
        self.step(TraceStep::Drop { reason, at });
    }

    /// A frame as received on `port`, classified as `class` (or handed in
    /// by worker `from` with trace id `trace`, 0 for none): copied if it
    /// matches the capture, and a trace started if it matches the trace
    /// (a handed-in packet continues its trace). The record is parked
    /// under the buffer's address until [`Watch::resume`]. Returns whether
    /// the watch is now [`Watch::busy`] because of this packet.
    ///
    /// Runs for every packet while something is armed. A packet received
    /// on a port while only a trace is armed, the case that must stay
    /// cheap, costs the trace's filter on its parsed fields and nothing else.
    #[inline(always)]
    pub fn ingress<P: PacketBuf>(
        &mut self,
        pkt: &P,
        class: &Result<Classified, DropReason>,
        at: Arrival,
    ) -> bool {
        if self.capturing || at.from.is_some() {
            return self.ingress_watched(pkt.data(), class, at);
        }
        let traced = match &self.trace_test {
            Some((filter, only)) => wanted(filter, *only, at.port, || pkt.data(), class),
            None => false,
        };
        if traced {
            self.start(pkt.data(), class, at);
        }
        traced
    }

    /// Whether a packet received on a port may be wanted: the trace
    /// filter's prefilter on its tuple, a few instructions, so the usual
    /// armed trace that matches nothing costs a packet no more than this
    /// (frames that are not IPv4 go on to [`Watch::ingress`]).
    #[inline(always)]
    pub fn may_want(&self, class: &Result<Classified, DropReason>) -> bool {
        match class {
            Ok(Classified::Ipv4(m)) => {
                let t = &m.tuple;
                let (src, dst) = (u32::from(t.src), u32::from(t.dst));
                self.quick
                    .passes(src, dst, t.src_port, t.dst_port, t.proto.0)
            }
            _ => true,
        }
    }

    /// [`Watch::ingress`] with a capture armed or for a handed-in packet.
    #[cold]
    fn ingress_watched(
        &mut self,
        frame: &[u8],
        class: &Result<Classified, DropReason>,
        at: Arrival,
    ) -> bool {
        if let Some(c) = &self.spec.capture {
            // A handed-in packet was captured where it came in.
            if at.from.is_none() && wanted(&c.filter, c.port, at.port, || frame, class) {
                self.capture(frame, at, Direction::Rx);
            }
        }
        let traced = match (at.from, &self.trace_test) {
            (_, None) => false,
            (Some((_, id)), Some(_)) => id != 0,
            (None, Some((filter, only))) => wanted(filter, *only, at.port, || frame, class),
        };
        if traced {
            self.start(frame, class, at);
        }
        traced
    }

    /// A copy of `frame` for the capture, within its budget.
    #[cold]
    fn capture(&self, frame: &[u8], at: Arrival, direction: Direction) {
        let Some(c) = &self.spec.capture else {
            return;
        };
        if take(&c.budget) {
            let copy = CaptureCopy::new(frame, at.port, self.worker, direction, at.now_ms);
            if c.out.try_send(copy).is_err() {
                c.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A trace record for a packet that matched (or was handed in traced),
    /// within the budget and the room for parked records.
    #[cold]
    fn start(&mut self, frame: &[u8], class: &Result<Classified, DropReason>, at: Arrival) {
        let Some(t) = &self.spec.trace else {
            return;
        };
        if usize::from(self.parked_len) == PARKED {
            return;
        }
        let (id, part) = match at.from {
            Some((_, id)) => (id, 1),
            None if take(&t.budget) => {
                // Never 0, which means "not traced" in a handoff.
                self.seq = self.seq % 0xff_ffff + 1;
                ((u32::from(self.worker) << 24) | self.seq, 0)
            }
            None => return,
        };
        let mut r = TraceRecord::new(id, self.worker, part, at.now_ms);
        r.push(TraceStep::Rx {
            port: at.port,
            len: frame.len().min(usize::from(u16::MAX)) as u16,
            from_worker: at.from.map(|(w, _)| w),
        });
        match class {
            Ok(Classified::Ipv4(m)) => r.push(TraceStep::Ipv4 {
                tuple: m.tuple,
                tcp_flags: tcp_flags(frame, m),
                vlan: m.vlan,
                ttl: m.ttl,
            }),
            Ok(Classified::Arp { .. }) => r.push(TraceStep::NotIpv4("arp")),
            Ok(Classified::Ipv6 {
                l3_offset, vlan, ..
            }) => r.push(ipv6_step(frame, *l3_offset, *vlan)),
            Err(_) => {}
        }
        self.park(frame.as_ptr() as usize, r);
    }

    fn park(&mut self, key: usize, r: TraceRecord) {
        match self.parked.iter_mut().find(|p| p.is_none()) {
            Some(slot) => {
                *slot = Some((key, r));
                self.parked_len += 1;
            }
            None => self.lose(),
        }
    }

    fn lose(&self) {
        if let Some(t) = &self.spec.trace {
            t.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Makes the record parked for the buffer at `key` the packet in
    /// hand's (none: the packet is not traced). With nothing parked (a
    /// filter that matches nothing), one test.
    #[inline]
    pub fn resume(&mut self, key: usize) {
        self.finish();
        if self.parked_len > 0 {
            self.resume_parked(key);
        }
    }

    #[cold]
    fn resume_parked(&mut self, key: usize) {
        let found = self
            .parked
            .iter_mut()
            .find(|p| p.is_some_and(|(k, _)| k == key));
        if let Some(slot) = found {
            self.current = slot.take().map(|(_, r)| r);
            self.parked_len -= 1;
        }
    }

    /// Parks the packet in hand's record again (it waits in the burst).
    #[inline]
    pub fn suspend(&mut self, key: usize) {
        if self.current.is_some() {
            self.suspend_current(key);
        }
    }

    #[cold]
    fn suspend_current(&mut self, key: usize) {
        if let Some(r) = self.current.take() {
            self.park(key, r);
        }
    }

    /// The packet in hand is done with (sent, dropped, waiting for ARP,
    /// handed over): its record leaves. Returns its id (0: not traced).
    /// One test when the packet is not traced.
    #[inline]
    pub fn finish(&mut self) -> u32 {
        match self.current.is_some() {
            true => self.send_current(),
            false => 0,
        }
    }

    #[cold]
    fn send_current(&mut self) -> u32 {
        let Some(r) = self.current.take() else {
            return 0;
        };
        if let Some(t) = &self.spec.trace {
            if t.out.try_send(r).is_err() {
                t.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
        r.id
    }

    /// A frame put in `port`'s TX buffer: its trace step (if it is the
    /// traced packet) and its capture copy.
    #[inline]
    pub fn egress(&mut self, frame: &[u8], port: u16, now_ms: u64) {
        if self.current.is_some() || self.spec.capture.is_some() {
            self.egress_watched(frame, port, now_ms);
        }
    }

    #[cold]
    fn egress_watched(&mut self, frame: &[u8], port: u16, now_ms: u64) {
        let class = classify_received(frame, HwChecksum::Good);
        if self.current.is_some() {
            let mac = |at: std::ops::Range<usize>| {
                frame
                    .get(at)
                    .and_then(|m| <[u8; 6]>::try_from(m).ok())
                    .unwrap_or_default()
            };
            let (tuple, vlan) = match &class {
                Ok(Classified::Ipv4(m)) => (Some(m.tuple), m.vlan),
                _ => raw_ipv4(frame),
            };
            self.step(TraceStep::Tx {
                port,
                tuple,
                vlan,
                src_mac: mac(ethernet::field::SOURCE),
                dst_mac: mac(ethernet::field::DESTINATION),
            });
        }
        if let Some(c) = &self.spec.capture {
            if wanted(&c.filter, c.port, port, || frame, &class) {
                let at = Arrival {
                    port,
                    now_ms,
                    from: None,
                };
                self.capture(frame, at, Direction::Tx);
            }
        }
    }
}

/// Addresses and protocol of an IPv4 frame that does not classify as one
/// we forward (IP-in-IP as TUN sends it), ports 0; and its VLAN.
fn raw_ipv4(frame: &[u8]) -> (Option<crate::tuple::FiveTuple>, Option<u16>) {
    let be16 = |at: usize| {
        frame
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let (l3, vlan) = match be16(12) {
        Some(0x8100) => (18, be16(14).map(|t| t & 0x0fff)),
        _ => (14, None),
    };
    let ethertype = be16(l3 - 2);
    let addr = |at: usize| {
        frame
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(std::net::Ipv4Addr::from)
    };
    let tuple = match (ethertype, frame.get(l3 + 9), addr(l3 + 12), addr(l3 + 16)) {
        (Some(0x0800), Some(&proto), Some(src), Some(dst)) => Some(crate::tuple::FiveTuple {
            src,
            dst,
            src_port: 0,
            dst_port: 0,
            proto: crate::tuple::IpProto(proto),
        }),
        _ => None,
    };
    (tuple, vlan)
}

/// Takes one from a shared budget; false when it is spent.
fn take(budget: &AtomicU32) -> bool {
    budget
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok()
}

/// Whether a frame received or sent on `port` is one `f` wants; the
/// frame (for its TCP flags) is read only when `f` tests them.
#[inline(always)]
fn wanted<'a>(
    f: &FilterProgram,
    only: Option<u16>,
    port: u16,
    frame: impl FnOnce() -> &'a [u8],
    class: &Result<Classified, DropReason>,
) -> bool {
    if only.is_some_and(|p| p != port) {
        return false;
    }
    let m = match class {
        Ok(Classified::Ipv4(m)) => m,
        Ok(Classified::Ipv6 { l3_offset, .. }) if !f.matches_all() && f.may_match6() => {
            return wanted6(f, frame(), *l3_offset);
        }
        _ => return f.matches_all(),
    };
    let t = &m.tuple;
    f.matches(&FilterInput {
        src: t.src,
        dst: t.dst,
        proto: t.proto.0,
        src_port: t.src_port,
        dst_port: t.dst_port,
        tcp_flags: match f.reads_tcp_flags() {
            true => tcp_flags(frame(), m),
            false => 0,
        },
    })
}

/// Whether the IPv6 frame with its header at `l3` is one `f` wants: its
/// flow's tuple and flags when it is TCP or UDP, else its addresses and
/// upper layer (ICMPv6, a fragment's protocol). A traced or captured IPv6
/// packet's cost, for filters that may match IPv6 at all.
#[cold]
fn wanted6(f: &FilterProgram, frame: &[u8], l3: usize) -> bool {
    use crate::packet6::{classify_ipv6, Ipv6Flow};
    let Some(ip) = frame
        .get(l3..)
        .and_then(|b| crate::wire::Ipv6Packet::new(b).ok())
    else {
        return false;
    };
    let mut input = FilterInput6 {
        src: ip.src(),
        dst: ip.dst(),
        proto: ip.next_header(),
        src_port: 0,
        dst_port: 0,
        tcp_flags: 0,
    };
    // The upper layer past the extension headers (a fragment's too).
    if let Ok(chain) = ip.walk() {
        input.proto = chain.proto;
    }
    if let Ok(Ipv6Flow::Flow(m)) = classify_ipv6(frame, l3) {
        input.src_port = m.tuple.src_port;
        input.dst_port = m.tuple.dst_port;
        input.tcp_flags = m.tcp_flags.unwrap_or(0);
    }
    f.matches6(&input)
}

/// The TCP flags of an IPv4 frame (0 for other protocols).
fn tcp_flags(frame: &[u8], m: &crate::packet::Ipv4Meta) -> u8 {
    match m.tuple.proto.0 {
        6 => get_u8(frame, m.l4_offset + tcp::field::FLAGS),
        _ => 0,
    }
}

/// The step of an IPv6 frame: its flow when it is TCP or UDP (what
/// `forward6.rs` reads), else the frame's kind. A traced packet's cost,
/// not every packet's.
#[cold]
fn ipv6_step(frame: &[u8], l3_offset: usize, vlan: Option<u16>) -> TraceStep {
    match crate::packet6::classify_ipv6(frame, l3_offset) {
        Ok(crate::packet6::Ipv6Flow::Flow(m)) => TraceStep::Ipv6 {
            tuple: m.tuple,
            tcp_flags: m.tcp_flags.unwrap_or(0),
            vlan,
            hop_limit: m.hop_limit,
            extensions: m.extensions,
        },
        _ => TraceStep::NotIpv4("ipv6"),
    }
}
