//! The control socket server: `ferrolbctl` talks to the running appliance
//! through it. It runs on the main thread's core, never on a worker's.
//!
//! `protocol` parses a request line, `socket` serves clients, and
//! `handler` answers each op from the appliance's state; `metrics` serves
//! the same state to Prometheus when `[control] metrics` is set.

pub mod handler;
pub mod metrics;
pub mod protocol;
mod slots;
pub mod socket;
pub mod views;
pub mod vrrp;
