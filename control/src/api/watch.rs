//! The replies of `trace` and `capture` (`docs/trace-and-capture.md`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Default packets a trace or capture waits for, and the most it takes.
pub const DEFAULT_WATCH_COUNT: u32 = 10;
pub const MAX_TRACE_COUNT: u32 = 10_000;
pub const MAX_CAPTURE_COUNT: u32 = 1_000_000;
/// Default and longest wait, in milliseconds.
pub const DEFAULT_WATCH_TIMEOUT_MS: u64 = 10_000;
pub const MAX_WATCH_TIMEOUT_MS: u64 = 3_600_000;

/// The reply to `trace`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceReply {
    /// The filter as compiled ("" for every packet).
    pub filter: String,
    /// Traced packets in the order their records arrived; a packet handed
    /// from one worker to another has a record from each (same `id`).
    pub packets: Vec<TracedPacket>,
    /// Records lost because the queue from the workers was full.
    pub lost: u64,
    /// Whether the wait ended before `count` packets matched.
    pub timed_out: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracedPacket {
    pub id: u32,
    pub worker: u16,
    /// 0 where the packet came in, 1 on the worker it was handed to.
    pub part: u8,
    /// The worker's clock, milliseconds since the appliance started.
    pub at_ms: u64,
    pub steps: Vec<TracedStep>,
}

/// One step: `rx`, `ipv4`, `interface`, `session`, `schedule`,
/// `redirect`, `neighbour`, `tx`, `drop`, ...
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracedStep {
    pub step: String,
    pub detail: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

/// The reply to `explain`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExplainReply {
    /// The worker asked: the one that owns the flow.
    pub worker: usize,
    pub steps: Vec<TracedStep>,
}

/// The reply to `capture`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureReply {
    pub filter: String,
    /// The frames, unless the capture was streamed.
    pub frames: Vec<CapturedFrame>,
    /// Frames sent as [`CaptureEvent`] lines before this reply (a
    /// streamed capture; 0 otherwise).
    #[serde(default)]
    pub streamed: u64,
    /// Copies lost because the queue from the workers was full.
    pub lost: u64,
    pub timed_out: bool,
}

/// A line a streamed capture sends for each frame as it is copied,
/// before the closing [`CaptureReply`]: `{"frame": {...}}` (no `ok`, so
/// it is never mistaken for the reply).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureEvent {
    pub frame: CapturedFrame,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedFrame {
    pub port: String,
    pub worker: u16,
    /// `rx` (as received) or `tx` (as sent).
    pub direction: String,
    pub at_ms: u64,
    /// Length on the wire; `data` may be cut to the snap length.
    pub orig_len: u32,
    /// The bytes, in lower-case hex.
    pub data: String,
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of a hex string; None if it is not hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
