//! What each checker runs, resolved from the config: the target address
//! and port, the timing, and the type's own parameters.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::api::ServiceKey;
use crate::config::{
    BackendConfig, CheckKind, CheckList, Config, HealthCheckConfig, HexPattern, HttpVersion,
    ServiceConfig, StatusSet,
};

/// A checked backend: the service and the backend's address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendId {
    pub service: ServiceKey,
    pub backend: SocketAddr,
}

impl BackendId {
    pub fn of(service: &ServiceConfig, backend: &BackendConfig) -> BackendId {
        BackendId {
            service: service.key(),
            backend: SocketAddr::new(backend.address, backend.port_or(service.port)),
        }
    }
}

impl fmt::Display for BackendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.service, self.backend)
    }
}

/// One check of one backend: the backend and the check's position in its
/// list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckId {
    pub backend: BackendId,
    pub index: usize,
}

/// Everything one checker needs, resolved from the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSpec {
    pub kind: CheckKind,
    /// `connect_ip` or the backend's address, with `connect_port` or the
    /// backend's port.
    pub target: SocketAddr,
    pub timeout: Duration,
    pub interval: Duration,
    pub rise: u32,
    pub fall: u32,
    pub retry: u32,
    pub retry_delay: Duration,
    pub warmup: Duration,
    /// Start down.
    pub alpha: bool,
    pub params: Params,
}

/// The type's own parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Params {
    None,
    Http(HttpSpec),
    Udp(UdpSpec),
    Dns(DnsSpec),
    Smtp { helo: String },
    Script(ScriptSpec),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSpec {
    pub urls: Vec<UrlSpec>,
    pub version: HttpVersion,
    /// HTTPS only.
    pub tls: Option<TlsSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlSpec {
    pub path: String,
    pub status: StatusSet,
    /// MD5 of the body (keepalived `digest`), lowercase hex.
    pub md5: Option<String>,
    pub sha256: Option<String>,
    /// The Host header.
    pub host: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSpec {
    pub verify: bool,
    /// The SNI name; None sends none (the target's address is verified).
    pub sni: Option<String>,
    pub ca_file: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpSpec {
    pub payload: Vec<u8>,
    pub require_reply: bool,
    pub expect: Option<HexPattern>,
    pub min_len: usize,
    pub max_len: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsSpec {
    pub name: String,
    pub record_type: String,
    pub require_answer: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptSpec {
    pub command: Vec<String>,
    pub dynamic: bool,
    /// Set in the script's environment, so one script can serve many
    /// backends.
    pub env: Vec<(String, String)>,
}

/// What a UDP check sends when no payload is given.
const DEFAULT_UDP_PAYLOAD: &[u8] = b"ferrolb health check";

impl CheckSpec {
    /// The check `check` of `backend` in `service`. Zero durations and
    /// thresholds (refused by validation) are raised to the smallest usable
    /// value.
    pub fn new(
        service: &ServiceConfig,
        backend: &BackendConfig,
        check: &HealthCheckConfig,
    ) -> CheckSpec {
        let address = check.connect_ip.map_or(backend.address, IpAddr::V4);
        // Validation makes multi-port services name `connect_port`.
        let port = check.connect_port.unwrap_or(service.backend_port(backend));
        let target = SocketAddr::new(address, port);
        let ms = |v: u32| Duration::from_millis(u64::from(v.max(1)));
        CheckSpec {
            kind: check.kind,
            target,
            timeout: ms(check.timeout_ms),
            interval: ms(check.interval_ms),
            rise: check.rise.max(1),
            fall: check.fall.max(1),
            retry: check.retry,
            retry_delay: ms(check.retry_delay_ms),
            warmup: Duration::from_millis(u64::from(check.warmup_ms)),
            alpha: check.alpha,
            params: params(service, backend, check, target),
        }
    }
}

fn params(
    service: &ServiceConfig,
    backend: &BackendConfig,
    check: &HealthCheckConfig,
    target: SocketAddr,
) -> Params {
    match check.kind {
        CheckKind::Tcp | CheckKind::Icmp => Params::None,
        CheckKind::Http | CheckKind::Https => {
            let default_host = check.host.clone().unwrap_or_else(|| host_of(target));
            let urls = check
                .urls()
                .into_iter()
                .map(|u| UrlSpec {
                    path: u.path,
                    status: u.status,
                    md5: u.digest.map(|d| d.to_ascii_lowercase()),
                    sha256: u.sha256.map(|d| d.to_ascii_lowercase()),
                    host: u.host.unwrap_or_else(|| default_host.clone()),
                })
                .collect();
            let tls = (check.kind == CheckKind::Https).then(|| TlsSpec {
                verify: check.tls_verify,
                sni: check.sni.clone(),
                ca_file: check.ca_file.clone(),
            });
            Params::Http(HttpSpec {
                urls,
                version: check.http_version,
                tls,
            })
        }
        CheckKind::Udp => Params::Udp(UdpSpec {
            payload: check
                .payload
                .as_ref()
                .map_or_else(|| DEFAULT_UDP_PAYLOAD.to_vec(), |p| p.bytes.clone()),
            require_reply: check.require_reply || check.expect.is_some(),
            expect: check.expect.clone(),
            min_len: check.min_reply_len as usize,
            max_len: check.max_reply_len as usize,
        }),
        CheckKind::Dns => Params::Dns(DnsSpec {
            name: check.query_name.clone(),
            record_type: check.query_type.clone(),
            require_answer: check.require_answer,
        }),
        CheckKind::Smtp => Params::Smtp {
            helo: check.helo_name.clone().unwrap_or_else(|| "ferrolb".into()),
        },
        CheckKind::Script => Params::Script(ScriptSpec {
            command: check.command.clone(),
            dynamic: check.dynamic,
            env: vec![
                ("FERROLB_SERVICE".into(), service.key().to_string()),
                ("FERROLB_BACKEND".into(), backend.address.to_string()),
                (
                    "FERROLB_BACKEND_PORT".into(),
                    service.backend_port(backend).to_string(),
                ),
                ("FERROLB_BACKEND_WEIGHT".into(), backend.weight.to_string()),
                ("FERROLB_TARGET".into(), target.to_string()),
            ],
        }),
    }
}

/// `10.0.0.1:8080`, or `10.0.0.1` on port 80 as browsers write it.
fn host_of(target: SocketAddr) -> String {
    target.to_string()
}

/// The checks that apply to `backend`: its own, else its service's.
pub fn checks_of<'a>(service: &'a ServiceConfig, backend: &'a BackendConfig) -> &'a CheckList {
    if backend.check.is_empty() {
        &service.check
    } else {
        &backend.check
    }
}

/// Every check of every backend that has checks.
pub fn checked_backends(config: &Config) -> BTreeMap<CheckId, CheckSpec> {
    let mut out = BTreeMap::new();
    for service in &config.services {
        for backend in &service.backends {
            let id = BackendId::of(service, backend);
            for (index, check) in checks_of(service, backend).checks.iter().enumerate() {
                out.insert(
                    CheckId { backend: id, index },
                    CheckSpec::new(service, backend, check),
                );
            }
        }
    }
    out
}
