//! `[bgp]`: route health injection through BIRD. `ferrolbctl daemon`
//! writes the VIPs that may be announced into a file BIRD includes (one
//! static protocol of /32 routes) and runs `birdc configure`; BIRD speaks
//! BGP (and BFD) to the routers. The appliance ignores the section; without
//! it nothing is announced (a single node needs no routing daemon).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Command, Config, ConfigError, ConfigSource, KeyPath, LbMode};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgpConfig {
    /// The file the daemon writes and BIRD's config `include`s.
    pub routes_file: PathBuf,
    /// The name of the static protocol in that file, for BIRD's filters
    /// (`export where proto = "ferrolb_vips";`).
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// The command that makes BIRD re-read its config; `configure` is
    /// appended (e.g. `["birdc", "-s", "/run/bird/bird.ctl"]`).
    #[serde(default = "default_birdc")]
    pub birdc: Command,
    /// Milliseconds the daemon waits on a graceful stop between withdrawing
    /// the routes and exiting, so routers move the traffic first.
    #[serde(default = "default_drain_ms")]
    pub drain_ms: u32,
}

fn default_protocol() -> String {
    "ferrolb_vips".into()
}

fn default_birdc() -> Command {
    vec!["birdc".into()]
}

fn default_drain_ms() -> u32 {
    1000
}

/// The longest drain on stop: a minute.
pub const MAX_DRAIN_MS: u32 = 60_000;

pub(super) fn validate(config: &Config, source: &ConfigSource, errors: &mut Vec<ConfigError>) {
    let Some(bgp) = &config.bgp else {
        return;
    };
    let mut err = |path: KeyPath, msg: String| errors.push(source.error_at(&path, msg));
    let at = KeyPath::root().key("bgp");
    if !bgp.routes_file.is_absolute() {
        err(
            at.key("routes_file"),
            format!(
                "{}: must be an absolute path, like \"/run/ferrolb/bird-vips.conf\"",
                bgp.routes_file.display()
            ),
        );
    }
    let ident = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && s.len() <= 64
    };
    if !ident(&bgp.protocol) {
        err(
            at.key("protocol"),
            format!(
                "{:?}: a BIRD protocol name is a letter or _ then letters, digits or _ \
                 (at most 64)",
                bgp.protocol
            ),
        );
    }
    if !bgp.birdc.first().is_some_and(|c| !c.is_empty()) {
        err(
            at.key("birdc"),
            "the command is empty; name birdc, like [\"birdc\", \"-s\", \"/run/bird/bird.ctl\"]"
                .into(),
        );
    }
    if bgp.drain_ms > MAX_DRAIN_MS {
        err(
            at.key("drain_ms"),
            format!("{} ms: must be at most {MAX_DRAIN_MS}", bgp.drain_ms),
        );
    }
    // NAT replies come back through the node that is the backend's
    // gateway, not the one ECMP gave the request to, and NAT sessions are
    // not synced between nodes.
    for (i, s) in config.services.iter().enumerate() {
        if s.mode == LbMode::Nat {
            err(
                KeyPath::root().key("service").index(i).key("mode"),
                format!(
                    "service {}: a nat service cannot be announced over BGP: behind ECMP its \
                     replies return through another node, which has no session for them. \
                     Use fullnat (each node its own local addresses), dr or tun, or run \
                     nat on a node without [bgp]",
                    s.key()
                ),
            );
        }
    }
}
