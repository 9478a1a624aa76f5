//! Session sync (docs/session-sync.md): what a worker tells its peers
//! about its sessions, and how a peer's sessions are installed here.
//!
//! - [`record`]: a session event as plain values (tuples, backend address,
//!   TCP state, remaining timeout) that mean the same on any node with the
//!   same config, never a local id;
//! - [`wire`]: the versioned datagram format, with an optional HMAC;
//! - [`link`]: the bounded single-producer single-consumer queues between
//!   each worker and the appliance's sync thread, and the full-dump
//!   requests.
//!
//! Workers only push and pop queues (no syscall); the sync thread owns the
//! socket. Installing a record is `FlowState::install`.

pub mod hmac;
pub mod link;
pub mod record;
pub mod wire;

pub use link::{links, SyncLink, SyncPort};
pub use record::{
    RecordKind, SessionRecord, SessionRecord6, ShiftRecord6, SpliceRecord, SyncRecord,
};
