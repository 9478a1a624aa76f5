//! Health checks (`check` in a `[[service]]` or a `[[service.backend]]`)
//! and what the daemon does with their results (`on_failure`, sorry server,
//! quorum, notify commands). `docs/health-and-metrics.md` describes every
//! key; the checks that serde cannot express are in `validate_check.rs`.
//!
//! The appliance parses these keys with the rest of the file and ignores
//! them: only `ferrolbctl daemon` acts on them.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// A TCP connect that completes within the timeout (keepalived TCP_CHECK).
    Tcp,
    /// HTTP GET of one or more URLs (HTTP_GET).
    Http,
    /// The same over TLS (SSL_GET).
    Https,
    /// A UDP datagram, optionally answered (UDP_CHECK).
    Udp,
    /// A DNS query answered without error (DNS_CHECK).
    Dns,
    /// ICMP echo (PING_CHECK); needs root for the raw socket.
    Icmp,
    /// SMTP banner and HELO (SMTP_CHECK).
    Smtp,
    /// A command whose exit status decides (MISC_CHECK).
    Script,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Tcp => "tcp",
            CheckKind::Http => "http",
            CheckKind::Https => "https",
            CheckKind::Udp => "udp",
            CheckKind::Dns => "dns",
            CheckKind::Icmp => "icmp",
            CheckKind::Smtp => "smtp",
            CheckKind::Script => "script",
        }
    }

    /// Whether the check connects to a port (so `connect_port` means
    /// something): all but ICMP and scripts.
    pub fn uses_port(self) -> bool {
        !matches!(self, CheckKind::Icmp | CheckKind::Script)
    }
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The HTTP version of the request line. 1.0 is what keepalived sends by
/// default, so digests computed with `genhash` match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HttpVersion {
    #[serde(rename = "1.0")]
    Http10,
    #[default]
    #[serde(rename = "1.1")]
    Http11,
}

impl HttpVersion {
    fn is_default(&self) -> bool {
        *self == HttpVersion::default()
    }
}

/// One health check: `check = { type = "http", path = "/healthz" }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    #[serde(rename = "type")]
    pub kind: CheckKind,
    #[serde(default = "default_interval")]
    pub interval_ms: u32,
    /// Limit on one check, every phase included (connect, handshake,
    /// request, reply; a script's whole run).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u32,
    /// Consecutive successes that bring a failed backend back.
    #[serde(default = "default_rise")]
    pub rise: u32,
    /// Consecutive failed checks that take a backend out.
    #[serde(default = "default_fall")]
    pub fall: u32,
    /// Address to check instead of the backend's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ip: Option<Ipv4Addr>,
    /// Port to check; default: the backend's. `port` is the older name.
    #[serde(default, alias = "port", skip_serializing_if = "Option::is_none")]
    pub connect_port: Option<u16>,
    /// Attempts after a failed one, `retry_delay_ms` apart, before the
    /// check counts as failed (only while the backend is up, as keepalived).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retry: u32,
    #[serde(
        default = "default_retry_delay",
        skip_serializing_if = "is_default_retry_delay"
    )]
    pub retry_delay_ms: u32,
    /// The first check waits a random delay up to this long, so that many
    /// checks started together spread out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup_ms: u32,
    /// Start down: a new backend gets flows only after `rise` successes.
    #[serde(default, skip_serializing_if = "is_false")]
    pub alpha: bool,

    // --- http, https ---
    /// One URL: its path and the status that counts as healthy. Left out
    /// when written back if it is the default.
    #[serde(default = "default_path", skip_serializing_if = "is_default_path")]
    pub path: String,
    #[serde(default = "default_status", skip_serializing_if = "is_default_status")]
    pub expect_status: u16,
    /// Several URLs, all of which must pass (instead of `path`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub url: Vec<UrlCheck>,
    /// The Host header (keepalived's `virtualhost`); default: the target's
    /// address and port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "HttpVersion::is_default")]
    pub http_version: HttpVersion,

    // --- https ---
    /// Verify the server's certificate (against `ca_file`, else the
    /// system's bundle) and name. Off by default, as keepalived.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// The name sent as SNI (and verified, with `tls_verify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,

    // --- udp ---
    /// The datagram to send, in hex (keepalived's free form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<HexBytes>,
    /// Success needs a reply; without it, success is the absence of an
    /// ICMP error within the timeout.
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_reply: bool,
    /// The reply must start with this (hex; `x` matches any nibble).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<HexPattern>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_reply_len: u32,
    #[serde(
        default = "default_max_reply",
        skip_serializing_if = "is_default_max_reply"
    )]
    pub max_reply_len: u32,

    // --- dns ---
    #[serde(
        default = "default_query_name",
        skip_serializing_if = "is_default_query_name"
    )]
    pub query_name: String,
    #[serde(
        default = "default_query_type",
        skip_serializing_if = "is_default_query_type"
    )]
    pub query_type: String,
    /// Success needs at least one answer record, not only NOERROR.
    #[serde(default = "super::default_true", skip_serializing_if = "is_true")]
    pub require_answer: bool,

    // --- smtp ---
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helo_name: Option<String>,

    // --- script ---
    /// The program and its arguments (no shell).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// keepalived's `misc_dynamic`: exit status 2..=255 is success with
    /// weight status - 2.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dynamic: bool,
}

impl HealthCheckConfig {
    /// A check of `kind` with every default.
    pub fn new(kind: CheckKind) -> HealthCheckConfig {
        HealthCheckConfig {
            kind,
            interval_ms: default_interval(),
            timeout_ms: default_timeout(),
            rise: default_rise(),
            fall: default_fall(),
            connect_ip: None,
            connect_port: None,
            retry: 0,
            retry_delay_ms: default_retry_delay(),
            warmup_ms: 0,
            alpha: false,
            path: default_path(),
            expect_status: default_status(),
            url: Vec::new(),
            host: None,
            http_version: HttpVersion::default(),
            tls_verify: false,
            sni: None,
            ca_file: None,
            payload: None,
            require_reply: false,
            expect: None,
            min_reply_len: 0,
            max_reply_len: default_max_reply(),
            query_name: default_query_name(),
            query_type: default_query_type(),
            require_answer: true,
            helo_name: None,
            command: Vec::new(),
            dynamic: false,
        }
    }

    /// The URLs an HTTP(S) check fetches: `url`, or else `path` with
    /// `expect_status`.
    pub fn urls(&self) -> Vec<UrlCheck> {
        if !self.url.is_empty() {
            return self.url.clone();
        }
        vec![UrlCheck {
            path: self.path.clone(),
            status: StatusSet(vec![(self.expect_status, self.expect_status)]),
            digest: None,
            sha256: None,
            host: None,
        }]
    }
}

/// One URL of an HTTP(S) check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlCheck {
    pub path: String,
    /// Statuses that count as healthy, e.g. `"200-299 304"`; default
    /// 200-299 (keepalived's).
    #[serde(
        default = "default_status_set",
        skip_serializing_if = "is_default_status_set"
    )]
    pub status: StatusSet,
    /// MD5 of the body in hex, as keepalived's `genhash` prints it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// SHA-256 of the body in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The Host header for this URL; default: the check's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// A set of HTTP statuses as inclusive ranges, written `"200-299 304"` (or
/// with commas), or as one number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusSet(pub Vec<(u16, u16)>);

impl StatusSet {
    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&status))
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (lo, hi)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for StatusSet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |part: &str| {
            format!(
                "{part:?} in {s:?}: expected HTTP statuses 100..=599 or ranges like \"200-299\", \
                 separated by spaces or commas"
            )
        };
        let status = |p: &str| -> Result<u16, String> {
            p.parse::<u16>()
                .ok()
                .filter(|n| (100..=599).contains(n))
                .ok_or_else(|| bad(p))
        };
        let mut out = Vec::new();
        for part in s.split([' ', ',']).filter(|p| !p.is_empty()) {
            let (lo, hi) = match part.split_once('-') {
                Some((lo, hi)) => (status(lo)?, status(hi)?),
                None => (status(part)?, status(part)?),
            };
            if lo > hi {
                return Err(bad(part));
            }
            out.push((lo, hi));
        }
        if out.is_empty() {
            return Err(format!("{s:?}: no status given"));
        }
        Ok(StatusSet(out))
    }
}

impl Serialize for StatusSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StatusSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StatusSet;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an HTTP status or a string like \"200-299 304\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusSet, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusSet, E> {
                v.to_string().parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Bytes written in hex the way keepalived's UDP_CHECK reads them: groups
/// separated by spaces, each read two digits at a time, a last odd digit
/// standing for one byte (`"Ab12f 3"` is AB 12 0F 03).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HexBytes {
    pub bytes: Vec<u8>,
    text: String,
}

/// Like [`HexBytes`], where `x` or `X` matches any nibble.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HexPattern {
    pub bytes: Vec<u8>,
    /// Bits that must match.
    pub mask: Vec<u8>,
    text: String,
}

impl HexPattern {
    /// Whether `reply` matches up to the shorter of the two (keepalived).
    pub fn matches(&self, reply: &[u8]) -> bool {
        reply
            .iter()
            .zip(self.bytes.iter().zip(&self.mask))
            .all(|(r, (b, m))| r & m == b & m)
    }
}

/// Parses keepalived's hex: (value, mask) per byte.
fn parse_hex(s: &str, wildcards: bool) -> Result<Vec<(u8, u8)>, String> {
    let nibble = |c: char| -> Result<(u8, u8), String> {
        match c {
            'x' | 'X' if wildcards => Ok((0, 0)),
            _ => c
                .to_digit(16)
                .map(|d| (d as u8, 0xf))
                .ok_or_else(|| format!("{s:?}: {c:?} is not a hex digit")),
        }
    };
    let mut out = Vec::new();
    for group in s.split_whitespace() {
        let digits: Vec<char> = group.chars().collect();
        for pair in digits.chunks(2) {
            let byte = match pair {
                [hi, lo] => {
                    let ((hv, hm), (lv, lm)) = (nibble(*hi)?, nibble(*lo)?);
                    (hv << 4 | lv, hm << 4 | lm)
                }
                [lo] => nibble(*lo)?,
                _ => unreachable!("chunks(2) yields one or two"),
            };
            out.push(byte);
        }
    }
    if out.is_empty() {
        return Err(format!("{s:?}: no hex digits"));
    }
    Ok(out)
}

impl FromStr for HexBytes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bytes = parse_hex(s, false)?.into_iter().map(|(b, _)| b).collect();
        Ok(HexBytes {
            bytes,
            text: s.to_owned(),
        })
    }
}

impl FromStr for HexPattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (bytes, mask) = parse_hex(s, true)?.into_iter().unzip();
        Ok(HexPattern {
            bytes,
            mask,
            text: s.to_owned(),
        })
    }
}

impl fmt::Display for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for HexPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

macro_rules! serde_hex {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(de::Error::custom)
            }
        }
    };
}
serde_hex!(HexBytes);
serde_hex!(HexPattern);

/// The checks of a service or backend: `check = { ... }` for one, or
/// `[[service.check]]` tables (an array) for several, all of which must
/// hold for the backend to be up.
#[derive(Clone, Debug, Default, Eq)]
pub struct CheckList {
    pub checks: Vec<HealthCheckConfig>,
    /// Written as one table (not an array): error paths and writing back
    /// follow the form it was given in.
    pub single: bool,
}

impl PartialEq for CheckList {
    fn eq(&self, other: &Self) -> bool {
        self.checks == other.checks
    }
}

impl CheckList {
    pub fn one(check: HealthCheckConfig) -> CheckList {
        CheckList {
            checks: vec![check],
            single: true,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// The first check, if any.
    pub fn first(&self) -> Option<&HealthCheckConfig> {
        self.checks.first()
    }
}

impl Serialize for CheckList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.checks.as_slice() {
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for CheckList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CheckList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a check table or an array of check tables")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CheckList, A::Error> {
                let one =
                    HealthCheckConfig::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(CheckList::one(one))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<CheckList, A::Error> {
                let checks = Vec::<HealthCheckConfig>::deserialize(
                    de::value::SeqAccessDeserializer::new(seq),
                )?;
                Ok(CheckList {
                    checks,
                    single: false,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// What a failed backend becomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Weight 0: no new flows, its sessions go on (keepalived's
    /// `inhibit_on_failure`).
    #[default]
    Inhibit,
    /// Taken out of the service; its sessions drain (keepalived's default).
    Remove,
}

impl OnFailure {
    pub fn is_default(&self) -> bool {
        *self == OnFailure::default()
    }
}

/// The backend a service uses while it has no quorum (keepalived's
/// `sorry_server`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SorryServerConfig {
    pub address: Ipv4Addr,
    /// Default: the service port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default = "default_sorry_weight")]
    pub weight: u32,
    /// Kept in the service at weight 0 while not in use, instead of being
    /// absent (`sorry_server_inhibit`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub inhibit: bool,
}

fn default_sorry_weight() -> u32 {
    1
}

/// A command to run, as its program and arguments; no shell.
pub type Command = Vec<String>;

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
fn default_retry_delay() -> u32 {
    1000
}
fn is_default_retry_delay(v: &u32) -> bool {
    *v == default_retry_delay()
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
fn default_status_set() -> StatusSet {
    StatusSet(vec![(200, 299)])
}
fn is_default_status_set(s: &StatusSet) -> bool {
    *s == default_status_set()
}
/// keepalived's default largest reply.
fn default_max_reply() -> u32 {
    255
}
fn is_default_max_reply(v: &u32) -> bool {
    *v == default_max_reply()
}
/// keepalived's DNS_CHECK defaults: the root zone's SOA.
fn default_query_name() -> String {
    ".".into()
}
fn is_default_query_name(v: &str) -> bool {
    v == "."
}
fn default_query_type() -> String {
    "SOA".into()
}
fn is_default_query_type(v: &str) -> bool {
    v == "SOA"
}
fn is_zero(v: &u32) -> bool {
    *v == 0
}
fn is_false(v: &bool) -> bool {
    !*v
}
fn is_true(v: &bool) -> bool {
    *v
}
pub(super) fn is_default_quorum(v: &u32) -> bool {
    *v == 1
}
pub(super) fn default_quorum() -> u32 {
    1
}
