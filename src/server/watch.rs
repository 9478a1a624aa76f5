//! `trace` and `capture`: arm every worker, gather what they send back
//! until enough packets came or the wait ends, disarm, reply.
//!
//! One watch runs at a time (a second is refused as busy): arming
//! replaces what a worker watches.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::net::{IpAddr, SocketAddr};

use control::api::{
    hex, CaptureEvent, CaptureReply, CapturedFrame, ErrorCode, ExplainReply, Response, TraceReply,
    TracedPacket, TracedStep, DEFAULT_WATCH_COUNT, DEFAULT_WATCH_TIMEOUT_MS, MAX_CAPTURE_COUNT,
    MAX_TRACE_COUNT, MAX_WATCH_TIMEOUT_MS,
};
use control::config::Protocol;
use control::filter;
use dataplane::tables::LbTables;
use dataplane::tuple::{FiveTuple, FiveTuple6, IpProto};
use dataplane::watch::{
    CaptureCopy, CaptureSpec, Direction, TraceRecord, TraceSpec, TraceStep, WatchSpec,
};
use dataplane::worker::{Answer, Query, WorkerShared};

/// Records or copies the queue from the workers holds.
const TRACE_QUEUE: usize = 1024;
const CAPTURE_QUEUE: usize = 4096;
const ARM_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest a streamed capture stays silent (see [`capture`]).
const HEARTBEAT: Duration = Duration::from_secs(1);

static BUSY: AtomicBool = AtomicBool::new(false);

/// What a trace or capture request asks, checked.
pub struct WatchRequest<'a> {
    pub filter: Option<&'a str>,
    pub count: Option<u32>,
    pub port: Option<&'a str>,
    pub timeout_ms: Option<u64>,
}

/// Where a watch runs: the workers, the port names, the running tables.
pub struct WatchCx<'a> {
    pub workers: &'a [WorkerShared],
    pub port_names: Vec<String>,
    pub tables: Arc<LbTables>,
}

struct Checked {
    filter: dataplane::watch::FilterProgram,
    count: u32,
    port: Option<u16>,
    deadline: Instant,
}

fn check(cx: &WatchCx<'_>, r: &WatchRequest<'_>, max: u32) -> Result<Checked, Response> {
    let invalid = |m: String| Response::error(ErrorCode::InvalidRequest, m);
    let filter = filter::compile(r.filter).map_err(|e| invalid(format!("filter: {e}")))?;
    let count = r.count.unwrap_or(DEFAULT_WATCH_COUNT);
    if count == 0 || count > max {
        return Err(invalid(format!("count must be 1-{max}")));
    }
    let port = match r.port {
        None => None,
        Some(name) => match cx.port_names.iter().position(|p| p == name) {
            Some(i) => Some(i as u16),
            None => return Err(invalid(format!("no port named `{name}`"))),
        },
    };
    let timeout = r.timeout_ms.unwrap_or(DEFAULT_WATCH_TIMEOUT_MS);
    if timeout == 0 || timeout > MAX_WATCH_TIMEOUT_MS {
        return Err(invalid(format!(
            "timeout_ms must be 1-{MAX_WATCH_TIMEOUT_MS}"
        )));
    }
    Ok(Checked {
        filter,
        count,
        port,
        deadline: Instant::now() + Duration::from_millis(timeout),
    })
}

/// Arms `spec` on every worker; false if one did not answer.
fn arm(workers: &[WorkerShared], spec: &WatchSpec) -> bool {
    workers
        .iter()
        .map(|w| w.ask(Query::Watch(spec.clone()), ARM_TIMEOUT))
        .all(|a| matches!(a, Some(Answer::Armed)))
}

/// Holds the one-watch-at-a-time flag; disarms the workers when dropped.
struct Armed<'a> {
    workers: &'a [WorkerShared],
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        arm(self.workers, &WatchSpec::default());
        BUSY.store(false, Ordering::Release);
    }
}

fn take_turn<'a>(workers: &'a [WorkerShared], spec: &WatchSpec) -> Result<Armed<'a>, Response> {
    if BUSY.swap(true, Ordering::AcqRel) {
        return Err(Response::error(
            ErrorCode::Busy,
            "another trace or capture is running",
        ));
    }
    let armed = Armed { workers };
    if !arm(workers, spec) {
        return Err(Response::error(
            ErrorCode::Busy,
            "a worker did not answer in time to arm the watch",
        ));
    }
    Ok(armed)
}

pub fn trace(cx: &WatchCx<'_>, r: &WatchRequest<'_>) -> Response {
    let c = match check(cx, r, MAX_TRACE_COUNT) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let (out, records) = dataplane::watch::queue::<TraceRecord>(TRACE_QUEUE);
    // Armed with no budget first, so every worker takes the records of
    // packets handed to it before any worker starts tracing.
    let spec = Arc::new(TraceSpec {
        filter: c.filter.clone(),
        port: c.port,
        budget: AtomicU32::new(0),
        out,
        lost: Default::default(),
    });
    let watch = WatchSpec {
        trace: Some(Arc::clone(&spec)),
        capture: None,
    };
    let armed = match take_turn(cx.workers, &watch) {
        Ok(a) => a,
        Err(e) => return e,
    };
    spec.budget.store(c.count, Ordering::Relaxed);
    // Until `count` packets came in and every one handed to another
    // worker has that worker's record too (or the wait ends).
    let mut got: Vec<TraceRecord> = Vec::new();
    let mut started = 0;
    let mut handed: Vec<u32> = Vec::new();
    while started < c.count || !handed.is_empty() {
        let Ok(r) = records.recv_deadline(c.deadline) else {
            break;
        };
        started += u32::from(r.part == 0);
        if r.part > 0 {
            handed.retain(|&id| id != r.id);
        } else if r.steps().any(|s| matches!(s, TraceStep::Redirected { .. })) {
            handed.push(r.id);
        }
        got.push(r);
    }
    drop(armed);
    got.extend(records.try_iter());
    let packets = got
        .iter()
        .map(|r| TracedPacket {
            id: r.id,
            worker: r.worker,
            part: r.part,
            at_ms: r.at_ms,
            steps: r.report(&cx.tables).into_iter().map(step_reply).collect(),
        })
        .collect();
    Response::ok(&TraceReply {
        filter: c.filter.text().to_string(),
        packets,
        lost: spec.lost.load(Ordering::Relaxed),
        timed_out: started < c.count,
    })
}

/// `explain`: asks the worker that owns the flow, IPv4 or IPv6.
pub fn explain(
    workers: &[WorkerShared],
    tables: &LbTables,
    proto: Protocol,
    src: SocketAddr,
    dst: SocketAddr,
) -> Response {
    let proto = match proto {
        Protocol::Tcp => IpProto::TCP,
        Protocol::Udp => IpProto::UDP,
    };
    let (src_port, dst_port) = (src.port(), dst.port());
    let (worker, query) = match (src.ip(), dst.ip()) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let tuple = FiveTuple {
                src,
                dst,
                src_port,
                dst_port,
                proto,
            };
            let worker = tables.owners.owner(&tuple, 0, workers.len());
            (worker, Query::Explain(tuple))
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let tuple = FiveTuple6 {
                src,
                dst,
                src_port,
                dst_port,
                proto,
            };
            let worker = tables.owners.owner6(&tuple, 0, workers.len());
            (worker, Query::Explain6(tuple))
        }
        _ => {
            return Response::error(
                ErrorCode::InvalidRequest,
                format!("explain: {src} and {dst} are not of one family (both IPv4 or both IPv6)"),
            )
        }
    };
    let answer = workers.get(worker).and_then(|w| w.ask(query, ARM_TIMEOUT));
    match answer {
        Some(Answer::Explained(steps)) => Response::ok(&ExplainReply {
            worker,
            steps: steps.into_iter().map(step_reply).collect(),
        }),
        _ => Response::error(ErrorCode::Busy, format!("worker {worker} did not answer")),
    }
}

fn step_reply(s: dataplane::watch::StepReport) -> TracedStep {
    TracedStep {
        step: s.step.to_string(),
        detail: s.detail,
        fields: s
            .fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

/// Arms a capture and gathers its copies: into the reply, or with
/// `emit`, one [`CaptureEvent`] line per copy as it comes (a streamed
/// capture ends early when the client is gone).
pub fn capture(
    cx: &WatchCx<'_>,
    r: &WatchRequest<'_>,
    mut emit: Option<super::socket::Emit<'_>>,
) -> Response {
    let c = match check(cx, r, MAX_CAPTURE_COUNT) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let (out, copies) = dataplane::watch::queue(CAPTURE_QUEUE);
    let spec = Arc::new(CaptureSpec {
        filter: c.filter.clone(),
        port: c.port,
        budget: AtomicU32::new(c.count),
        out,
        lost: Default::default(),
    });
    let watch = WatchSpec {
        trace: None,
        capture: Some(Arc::clone(&spec)),
    };
    let armed = match take_turn(cx.workers, &watch) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let mut frames = Vec::new();
    let mut streamed = 0u64;
    let mut taken = 0u32;
    while taken < c.count {
        // A streamed capture wakes each second without a copy to send an
        // empty line, so a client that went away ends it then, not at the
        // deadline.
        let wake = match emit {
            Some(_) => c.deadline.min(Instant::now() + HEARTBEAT),
            None => c.deadline,
        };
        let copy = match copies.recv_deadline(wake) {
            Ok(copy) => copy,
            Err(_) if Instant::now() >= c.deadline => break,
            Err(_) => match emit.as_mut().map(|emit| emit(b"")) {
                Some(true) => continue,
                _ => break,
            },
        };
        taken += 1;
        let frame = captured_frame(cx, &copy);
        match emit.as_mut() {
            None => frames.push(frame),
            Some(emit) => {
                let Ok(line) = serde_json::to_vec(&CaptureEvent { frame }) else {
                    continue;
                };
                if !emit(&line) {
                    break;
                }
                streamed += 1;
            }
        }
    }
    drop(armed);
    Response::ok(&CaptureReply {
        filter: c.filter.text().to_string(),
        frames,
        streamed,
        lost: spec.lost.load(Ordering::Relaxed),
        timed_out: taken < c.count,
    })
}

/// A worker's copy as the API names it: the port by name, the bytes in hex.
fn captured_frame(cx: &WatchCx<'_>, copy: &CaptureCopy) -> CapturedFrame {
    CapturedFrame {
        port: cx
            .port_names
            .get(usize::from(copy.port))
            .cloned()
            .unwrap_or_else(|| copy.port.to_string()),
        worker: copy.worker,
        direction: match copy.direction {
            Direction::Rx => "rx",
            Direction::Tx => "tx",
        }
        .into(),
        at_ms: copy.at_ms,
        orig_len: copy.orig_len,
        data: hex(copy.data()),
    }
}
