//! `ferrolbctl trace` and `ferrolbctl capture`: the requests, the trace
//! report (like VPP's `show trace`) and the pcapng file a capture writes.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use super::run::CtlError;
use crate::api::{unhex, CaptureEvent, CaptureReply, CapturedFrame, ExplainReply, Op, TraceReply};
use crate::client::{Client, ClientError};

/// The request `ferrolbctl trace` sends; the filter is checked here first
/// so a mistake is reported before the socket is asked.
pub fn trace_op(
    filter: Option<&str>,
    count: u32,
    port: Option<&str>,
    timeout: Duration,
) -> Result<Op, String> {
    crate::filter::compile(filter)?;
    Ok(Op::Trace {
        filter: filter.map(str::to_owned),
        count: Some(count),
        port: port.map(str::to_owned),
        timeout_ms: Some(timeout.as_millis() as u64),
    })
}

pub fn capture_op(
    port: &str,
    filter: Option<&str>,
    count: u32,
    timeout: Duration,
) -> Result<Op, String> {
    crate::filter::compile(filter)?;
    Ok(Op::Capture {
        port: port.to_owned(),
        filter: filter.map(str::to_owned),
        count: Some(count),
        timeout_ms: Some(timeout.as_millis() as u64),
        stream: true,
    })
}

/// A trace for people: one block per packet, one line per step.
pub fn render_trace(r: &TraceReply) -> String {
    let mut s = String::new();
    let filter = if r.filter.is_empty() {
        "(all)"
    } else {
        &r.filter
    };
    let _ = writeln!(s, "Trace: {} packets, filter {filter}", r.packets.len());
    for p in &r.packets {
        let handed = if p.part > 0 { " (continued)" } else { "" };
        let _ = writeln!(
            s,
            "\nPacket {:#010x} worker {}{handed} at {} ms",
            p.id, p.worker, p.at_ms
        );
        for step in &p.steps {
            let _ = writeln!(s, "  {:<10} {}", step.step, step.detail);
        }
    }
    if r.lost > 0 {
        let _ = writeln!(s, "\n{} records lost (queue full)", r.lost);
    }
    if r.timed_out {
        let _ = writeln!(s, "\ntimed out before enough packets matched");
    }
    s
}

/// An explain reply for people: a line per step.
pub fn render_explain(r: &ExplainReply) -> String {
    let mut s = String::new();
    for step in &r.steps {
        let _ = writeln!(s, "  {:<10} {}", step.step, step.detail);
    }
    s
}

/// pcapng link type of Ethernet, and how much of a frame we keep.
const LINKTYPE_ETHERNET: u16 = 1;
const SNAP_LEN: u32 = 65535;

fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let len = (12 + body.len().div_ceil(4) * 4) as u32;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    out.resize(out.len() + (4 - body.len() % 4) % 4, 0);
    out.extend_from_slice(&len.to_le_bytes());
}

fn option(body: &mut Vec<u8>, code: u16, value: &[u8]) {
    body.extend_from_slice(&code.to_le_bytes());
    body.extend_from_slice(&(value.len() as u16).to_le_bytes());
    body.extend_from_slice(value);
    body.resize(body.len() + (4 - value.len() % 4) % 4, 0);
}

/// A capture as a pcapng stream: the section header first, an interface
/// block the first time a port is seen (named after it), then each frame
/// as an enhanced packet block with its direction in `epb_flags` and
/// `dir=rx|tx port=NAME worker=N` in its comment. Timestamps are the
/// appliance's clock (milliseconds since it started). Each frame is
/// flushed as it is written, so a reader (`wireshark -k -i -`) sees it
/// at once.
pub struct PcapngWriter<W: Write> {
    out: W,
    ports: Vec<String>,
    /// Frames written, and of them received (`rx`).
    pub frames: u64,
    pub received: u64,
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the section header.
    pub fn new(mut out: W) -> Result<Self, String> {
        let mut shb = Vec::new();
        shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&u64::MAX.to_le_bytes());
        option(&mut shb, 4, b"ferrolb");
        option(&mut shb, 0, b"");
        let mut bytes = Vec::new();
        block(&mut bytes, 0x0A0D_0D0A, &shb);
        write_out(&mut out, &bytes)?;
        Ok(PcapngWriter {
            out,
            ports: Vec::new(),
            frames: 0,
            received: 0,
        })
    }

    /// Writes one frame (and its port's interface block, the first time).
    pub fn frame(&mut self, f: &CapturedFrame) -> Result<(), String> {
        let mut bytes = Vec::new();
        let iface = match self.ports.iter().position(|p| *p == f.port) {
            Some(i) => i,
            None => {
                let mut idb = Vec::new();
                idb.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
                idb.extend_from_slice(&0u16.to_le_bytes());
                idb.extend_from_slice(&SNAP_LEN.to_le_bytes());
                option(&mut idb, 2, f.port.as_bytes());
                option(&mut idb, 0, b"");
                block(&mut bytes, 1, &idb);
                self.ports.push(f.port.clone());
                self.ports.len() - 1
            }
        };
        block(&mut bytes, 6, &packet_block(f, iface as u32)?);
        write_out(&mut self.out, &bytes)?;
        self.frames += 1;
        self.received += u64::from(f.direction == "rx");
        Ok(())
    }

    /// One line for stderr after a capture.
    pub fn summary(&self, r: &CaptureReply) -> String {
        format!(
            "{} frames captured ({} received, {} sent), {} lost{}",
            self.frames,
            self.received,
            self.frames - self.received,
            r.lost,
            if r.timed_out { ", timed out" } else { "" }
        )
    }
}

fn write_out(out: &mut impl Write, bytes: &[u8]) -> Result<(), String> {
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| format!("writing the capture: {e}"))
}

fn packet_block(f: &CapturedFrame, iface: u32) -> Result<Vec<u8>, String> {
    let data = unhex(&f.data).ok_or("the reply's frame data is not hex")?;
    let ts = f.at_ms.saturating_mul(1000);
    let mut b = Vec::new();
    b.extend_from_slice(&iface.to_le_bytes());
    b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
    b.extend_from_slice(&(ts as u32).to_le_bytes());
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&f.orig_len.to_le_bytes());
    b.extend_from_slice(&data);
    b.resize(b.len() + (4 - data.len() % 4) % 4, 0);
    let inbound = f.direction == "rx";
    let flags: u32 = if inbound { 1 } else { 2 };
    option(&mut b, 2, &flags.to_le_bytes());
    let comment = format!("dir={} port={} worker={}", f.direction, f.port, f.worker);
    option(&mut b, 1, comment.as_bytes());
    option(&mut b, 0, b"");
    Ok(b)
}

/// Runs a streamed capture: each frame is written to `path` (or to
/// `out` for `-`) as it comes. Returns the closing reply and the writer's
/// summary line.
pub fn stream_capture(
    client: &mut Client,
    op: &Op,
    path: &Path,
    out: &mut dyn Write,
) -> Result<String, CtlError> {
    let mut file;
    let sink: &mut dyn Write = if path == Path::new("-") {
        out
    } else {
        file = std::fs::File::create(path)
            .map_err(|e| CtlError::Message(format!("creating {}: {e}", path.display())))?;
        &mut file
    };
    let captured = capture_into(client, op, sink);
    if captured.is_err() && path != Path::new("-") {
        // No file rather than a header alone, as before the request ran.
        let _ = std::fs::remove_file(path);
    }
    captured
}

fn capture_into(client: &mut Client, op: &Op, sink: &mut dyn Write) -> Result<String, CtlError> {
    let mut writer = PcapngWriter::new(sink).map_err(CtlError::Message)?;
    let result = client.call_streaming(op, |line| {
        let event: CaptureEvent = serde_json::from_slice(line)
            .map_err(|e| ClientError::BadReply(format!("not a captured frame: {e}")))?;
        writer.frame(&event.frame).map_err(ClientError::BadReply)
    })?;
    let reply: CaptureReply = serde_json::from_value(result)
        .map_err(|e| CtlError::Message(format!("unexpected result: {e}")))?;
    Ok(writer.summary(&reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcapng_blocks_are_aligned_and_frame_the_bytes() {
        let frame = CapturedFrame {
            port: "lan".into(),
            worker: 1,
            direction: "tx".into(),
            at_ms: 1500,
            orig_len: 5,
            data: "0102030405".into(),
        };
        let mut bytes = Vec::new();
        let mut writer = PcapngWriter::new(&mut bytes).unwrap();
        writer.frame(&frame).unwrap();
        let second_port = CapturedFrame {
            port: "wan".into(),
            ..frame.clone()
        };
        writer.frame(&frame).unwrap();
        writer.frame(&second_port).unwrap();
        assert_eq!((writer.frames, writer.received), (3, 0));
        drop(writer);
        assert_eq!(bytes.len() % 4, 0);
        // SHB, IDB, EPB: each block's length at its start and its end.
        let mut at = 0;
        let mut kinds = Vec::new();
        while at < bytes.len() {
            let kind = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
            let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
            let tail = u32::from_le_bytes(bytes[at + len - 4..at + len].try_into().unwrap());
            assert_eq!(tail as usize, len);
            kinds.push(kind);
            at += len;
        }
        // An interface block the first time each port is seen.
        assert_eq!(kinds, [0x0A0D_0D0A, 1, 6, 6, 1, 6]);
        assert!(bytes.windows(5).any(|w| w == [1, 2, 3, 4, 5]));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("dir=tx port=lan worker=1"), "{text}");
        assert!(unhex("0g").is_none());
    }
}
