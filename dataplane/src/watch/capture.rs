//! A captured frame: a fixed slot, copied in by the worker and written to
//! pcapng by `ferrolbctl capture`.

/// Bytes of a frame a capture keeps (the rest is cut, its length kept).
pub const SNAP_LEN: usize = 2048;

/// Which way a captured frame went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// As received (before any rewrite).
    Rx,
    /// As sent (put in the TX buffer).
    Tx,
}

/// One captured frame.
#[derive(Clone, Copy)]
pub struct CaptureCopy {
    pub port: u16,
    pub worker: u16,
    pub direction: Direction,
    /// The worker's clock, milliseconds.
    pub at_ms: u64,
    /// The frame's length on the wire.
    pub orig_len: u32,
    len: u16,
    data: [u8; SNAP_LEN],
}

impl std::fmt::Debug for CaptureCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureCopy")
            .field("port", &self.port)
            .field("worker", &self.worker)
            .field("direction", &self.direction)
            .field("orig_len", &self.orig_len)
            .finish()
    }
}

impl CaptureCopy {
    pub fn new(frame: &[u8], port: u16, worker: u16, direction: Direction, at_ms: u64) -> Self {
        let len = frame.len().min(SNAP_LEN);
        let mut data = [0; SNAP_LEN];
        data[..len].copy_from_slice(&frame[..len]);
        CaptureCopy {
            port,
            worker,
            direction,
            at_ms,
            orig_len: frame.len() as u32,
            len: len as u16,
            data,
        }
    }

    /// The bytes kept.
    pub fn data(&self) -> &[u8] {
        &self.data[..usize::from(self.len)]
    }
}
