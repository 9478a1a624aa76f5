//! Config of the control plane: the socket (`[control]`), the daemon
//! (`[daemon]`). Health checks are in `check.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::api::{DEFAULT_MAX_MESSAGE, DEFAULT_SOCKET};

/// `[control]`: where the appliance listens and who may talk to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// The Unix socket; its directory is created if missing.
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
    /// A group whose members may use the socket besides root (the socket
    /// is mode 0660, owned by this group). Default: root only.
    #[serde(default)]
    pub group: Option<String>,
    /// Largest request line in bytes.
    #[serde(default = "default_max_message")]
    pub max_message: usize,
    /// Clients served at once; more are refused with `busy` (after the
    /// client idle longest, if any for a second, is closed to make room).
    #[serde(default = "default_max_clients")]
    pub max_clients: usize,
    /// Seconds a client may go without sending a complete request before
    /// it is closed (a request still arriving counts as idle).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: u32,
    /// Where the appliance itself serves Prometheus metrics (`/metrics`),
    /// so they exist without `ferrolbctl daemon`; none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<SocketAddr>,
}

fn default_socket() -> PathBuf {
    PathBuf::from(DEFAULT_SOCKET)
}

fn default_max_message() -> usize {
    DEFAULT_MAX_MESSAGE
}

fn default_max_clients() -> usize {
    64
}

fn default_idle_timeout() -> u32 {
    10
}

/// The longest `[control] idle_timeout`, in seconds (an hour).
pub const MAX_IDLE_TIMEOUT: u32 = 3600;

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: default_socket(),
            group: None,
            max_message: default_max_message(),
            max_clients: default_max_clients(),
            idle_timeout: default_idle_timeout(),
            metrics: None,
        }
    }
}

impl ControlConfig {
    pub fn is_default(&self) -> bool {
        *self == ControlConfig::default()
    }
}

/// `[daemon]`: `ferrolbctl daemon`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Where to serve Prometheus metrics (`/metrics`); none by default.
    #[serde(default)]
    pub metrics: Option<SocketAddr>,
}

impl DaemonConfig {
    pub fn is_default(&self) -> bool {
        *self == DaemonConfig::default()
    }
}
