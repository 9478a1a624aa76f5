//! Config of the control plane: the socket (`[control]`), the daemon
//! (`[daemon]`) and per-service health checks (`[service.check]`).

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// A TCP connect that completes within the timeout.
    Tcp,
    /// An HTTP/1.1 GET of `path` answered with `expect_status`.
    Http,
}

/// `check = { type = "http", path = "/healthz" }` in a `[[service]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    #[serde(rename = "type")]
    pub kind: CheckKind,
    #[serde(default = "default_interval")]
    pub interval_ms: u32,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u32,
    /// Consecutive successes that bring a failed backend back.
    #[serde(default = "default_rise")]
    pub rise: u32,
    /// Consecutive failures that take a backend out (weight 0).
    #[serde(default = "default_fall")]
    pub fall: u32,
    /// Port to check; default: the backend's.
    #[serde(default)]
    pub port: Option<u16>,
    /// HTTP only. Left out when written back if it is the default, so a
    /// TCP check written back still loads (they are refused on TCP checks).
    #[serde(default = "default_path", skip_serializing_if = "is_default_path")]
    pub path: String,
    /// HTTP only: the status that counts as healthy.
    #[serde(default = "default_status", skip_serializing_if = "is_default_status")]
    pub expect_status: u16,
}

fn default_interval() -> u32 {
    2000
}
fn default_timeout() -> u32 {
    1000
}
fn default_rise() -> u32 {
    2
}
fn default_fall() -> u32 {
    3
}
fn default_path() -> String {
    "/".into()
}
fn default_status() -> u16 {
    200
}
fn is_default_path(p: &str) -> bool {
    p == "/"
}
fn is_default_status(s: &u16) -> bool {
    *s == 200
}
