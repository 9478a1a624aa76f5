//! Quorum per service, as keepalived keeps it: the sum of the weights of
//! the live backends against `quorum`, with `hysteresis` as a flap
//! dampener. A service gains quorum when the sum reaches
//! `quorum + hysteresis` and loses it when the sum falls below
//! `quorum - hysteresis` (or to 0). A service seen for the first time has
//! quorum if its sum is at least `quorum + hysteresis`.

use std::collections::HashMap;
use std::fmt;

use crate::api::ServiceKey;
use crate::config::{Config, ServiceConfig};
use crate::health::{BackendId, BackendState};

/// A service's quorum changed (or, for a new service, starts down).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumChange {
    pub service: ServiceKey,
    pub up: bool,
    /// The sum of the weights of live backends.
    pub live: u64,
    /// The threshold it was compared with.
    pub threshold: i64,
    /// The service was not tracked before.
    pub initial: bool,
}

impl fmt::Display for QuorumChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match (self.up, self.initial) {
            (true, _) => "gained quorum",
            (false, true) => "starts without quorum",
            (false, false) => "lost quorum",
        };
        let cmp = if self.up { ">=" } else { "<" };
        write!(
            f,
            "{} {what}: live weight {} {cmp} {}",
            self.service, self.live, self.threshold
        )
    }
}

/// The weight a backend counts with: 0 when down, else the weight a
/// dynamic script set or the file's. Backends without checks are live.
pub fn live_weight(service: &ServiceConfig, health: &HashMap<BackendId, BackendState>) -> u64 {
    service
        .backends
        .iter()
        .map(|b| match health.get(&BackendId::of(service, b)) {
            Some(s) if !s.up => 0,
            Some(s) => u64::from(s.weight.unwrap_or(b.weight)),
            None => u64::from(b.weight),
        })
        .sum()
}

#[derive(Default)]
pub struct QuorumTracker {
    up: HashMap<ServiceKey, bool>,
}

impl QuorumTracker {
    /// Whether `service` has quorum (true for one not tracked).
    pub fn has_quorum(&self, service: &ServiceKey) -> bool {
        self.up.get(service).copied().unwrap_or(true)
    }

    /// Brings every service's state up to date; returns the changes.
    pub fn update(
        &mut self,
        config: &Config,
        health: &HashMap<BackendId, BackendState>,
    ) -> Vec<QuorumChange> {
        let mut seen = HashMap::new();
        let mut changes = Vec::new();
        for service in &config.services {
            let key = service.key();
            let live = live_weight(service, health);
            let (q, h) = (i64::from(service.quorum), i64::from(service.hysteresis));
            let live_i = i64::try_from(live).unwrap_or(i64::MAX);
            let change = match self.up.get(&key) {
                None => {
                    let up = live_i >= q + h && live > 0;
                    seen.insert(key, up);
                    (!up).then_some((false, q + h, true))
                }
                Some(true) => {
                    let lost = live == 0 || live_i < q - h;
                    seen.insert(key, !lost);
                    lost.then_some((false, q - h, false))
                }
                Some(false) => {
                    let gained = live_i >= q + h && live > 0;
                    seen.insert(key, gained);
                    gained.then_some((true, q + h, false))
                }
            };
            if let Some((up, threshold, initial)) = change {
                changes.push(QuorumChange {
                    service: key,
                    up,
                    live,
                    threshold,
                    initial,
                });
            }
        }
        self.up = seen;
        changes
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(quorum: u32, hysteresis: u32) -> Config {
        let text = format!(
            "[[port]]\nname = \"lan\"\ndevice = \"net_null0\"\n\n[[interface]]\nport = \"lan\"\n\
             addresses = [\"10.0.0.1/24\"]\n\n[[service]]\nvip = \"192.0.2.10\"\nprotocol = \"tcp\"\n\
             port = 80\nmode = \"dr\"\nquorum = {quorum}\nhysteresis = {hysteresis}\n\
             check = {{ type = \"tcp\" }}\n\
             [[service.backend]]\naddress = \"10.0.0.11\"\nweight = 2\n\
             [[service.backend]]\naddress = \"10.0.0.12\"\nweight = 2\n\
             [[service.backend]]\naddress = \"10.0.0.13\"\nweight = 2\n"
        );
        Config::parse(Path::new("q.toml"), text).unwrap().config
    }

    /// Health with the first `up` backends up.
    fn health(config: &Config, up: usize) -> HashMap<BackendId, BackendState> {
        let s = &config.services[0];
        s.backends
            .iter()
            .enumerate()
            .map(|(i, b)| {
                (
                    BackendId::of(s, b),
                    BackendState {
                        up: i < up,
                        weight: None,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn hysteresis_gains_above_and_loses_below_the_band() {
        // quorum 4, hysteresis 2: gained at >= 6, lost below 2.
        let c = config(4, 2);
        let mut q = QuorumTracker::default();
        let key = c.services[0].key();
        // Starts with 3 up (6): quorum.
        assert!(q.update(&c, &health(&c, 3)).is_empty());
        assert!(q.has_quorum(&key));
        // 4 and 2 are inside the band: no change.
        assert!(q.update(&c, &health(&c, 2)).is_empty());
        assert!(q.update(&c, &health(&c, 1)).is_empty());
        assert!(q.has_quorum(&key));
        // 0 is below 2: lost.
        let lost = q.update(&c, &health(&c, 0));
        assert_eq!(lost.len(), 1);
        assert!(!lost[0].up && lost[0].threshold == 2 && lost[0].live == 0);
        // 2 and 4 do not regain it; 6 does.
        assert!(q.update(&c, &health(&c, 1)).is_empty());
        assert!(q.update(&c, &health(&c, 2)).is_empty());
        assert!(!q.has_quorum(&key));
        let gained = q.update(&c, &health(&c, 3));
        assert!(gained[0].up && gained[0].threshold == 6);
        assert_eq!(
            gained[0].to_string(),
            "tcp/192.0.2.10:80 gained quorum: live weight 6 >= 6"
        );
    }

    #[test]
    fn a_new_service_without_quorum_says_so_and_dynamic_weights_count() {
        let c = config(5, 0);
        let mut q = QuorumTracker::default();
        let start = q.update(&c, &health(&c, 2));
        assert_eq!(
            start[0].to_string(),
            "tcp/192.0.2.10:80 starts without quorum: live weight 4 < 5"
        );
        let mut h = health(&c, 1);
        h.values_mut().for_each(|s| s.weight = Some(9));
        assert_eq!(live_weight(&c.services[0], &h), 9);
        assert!(q.update(&c, &h)[0].up);
    }
}
