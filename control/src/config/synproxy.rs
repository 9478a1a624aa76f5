//! `[synproxy]`: the SYN proxy's global settings. Which services are
//! proxied is each service's `syn_proxy`; this section holds the automatic
//! mode (docs/syn-proxy.md).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynProxyConfig {
    /// Automatic mode: a worker whose half-open (SYN_RECV) sessions reach
    /// this many answers the SYNs of every TCP nat and fullnat service with
    /// cookies until they fall below half of it. 0: off.
    #[serde(default)]
    pub auto_threshold: u32,
}

impl SynProxyConfig {
    pub fn is_default(&self) -> bool {
        *self == SynProxyConfig::default()
    }
}
