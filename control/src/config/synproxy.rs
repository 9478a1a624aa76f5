//! `[synproxy]`: the SYN proxy's global settings. Which services are
//! proxied is each service's `syn_proxy`; this section holds the automatic
//! mode and the answer to a bad cookie (docs/syn-proxy.md).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynProxyConfig {
    /// Automatic mode: a worker whose half-open (SYN_RECV) sessions reach
    /// this many answers the SYNs of every TCP nat and fullnat service with
    /// cookies until they fall below half of it. 0: off.
    #[serde(default)]
    pub auto_threshold: u32,
    /// Answer an ACK with no session and a bad cookie with a RST (Linux's
    /// answer for a listening socket), at most 1000 a second per worker;
    /// false (the default, DPVS's way): drop it only.
    #[serde(default)]
    pub reset_bad_cookie: bool,
}

impl SynProxyConfig {
    pub fn is_default(&self) -> bool {
        *self == SynProxyConfig::default()
    }
}
