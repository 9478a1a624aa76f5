//! The config the daemon applies: the file's, with the health checks'
//! verdicts laid over it.
//!
//! - A backend that is down becomes weight 0 (`on_failure = "inhibit"`:
//!   no new flows, its sessions go on) or leaves the service
//!   (`"remove"`: the appliance drains it).
//! - A live backend whose dynamic script set a weight gets that weight.
//! - A service without quorum that has a sorry server uses only the sorry
//!   server: its live backends are inhibited or removed the same way
//!   (keepalived). With quorum, the sorry server is absent, or at weight 0
//!   with `inhibit`.

use std::collections::HashMap;

use crate::config::{BackendConfig, Config, OnFailure, ServiceConfig};
use crate::health::{BackendId, BackendState};

use super::quorum::QuorumTracker;

pub fn effective(
    config: &Config,
    health: &HashMap<BackendId, BackendState>,
    quorum: &QuorumTracker,
) -> Config {
    let mut out = config.clone();
    for service in &mut out.services {
        let sorry_in_use = service.sorry_server.is_some() && !quorum.has_quorum(&service.key());
        overlay_service(service, health, sorry_in_use);
    }
    out
}

fn overlay_service(
    service: &mut ServiceConfig,
    health: &HashMap<BackendId, BackendState>,
    sorry_in_use: bool,
) {
    let key = service.key();
    let port = service.port;
    let mode = service.on_failure;
    service.backends.retain_mut(|backend| {
        let id = BackendId {
            service: key,
            backend: std::net::SocketAddr::new(backend.address, backend.port_or(port)),
        };
        let state = health.get(&id);
        let up = state.map_or(true, |s| s.up);
        if up && !sorry_in_use {
            if let Some(w) = state.and_then(|s| s.weight) {
                backend.weight = w;
            }
            return true;
        }
        match backend.on_failure.unwrap_or(mode) {
            OnFailure::Inhibit => {
                backend.weight = 0;
                true
            }
            OnFailure::Remove => false,
        }
    });
    // The sorry server is materialised as a backend (or not), so the key
    // itself does not go to the appliance, which would see it twice.
    if let Some(sorry) = service.sorry_server.take() {
        if sorry_in_use || sorry.inhibit {
            let weight = if sorry_in_use { sorry.weight } else { 0 };
            service
                .backends
                .push(BackendConfig::new(sorry.address, sorry.port, weight));
        }
    }
}

/// The TOML text of `config`, as `apply` takes it.
pub fn to_toml(config: &Config) -> Result<String, String> {
    toml::to_string(config).map_err(|e| format!("cannot write the config as TOML: {e}"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;

    use super::*;
    use crate::test_support::{config_text, loopback};

    fn parse(text: &str) -> Config {
        Config::parse(Path::new("t.toml"), text.to_owned())
            .unwrap_or_else(|e| panic!("{e}\n--- text:\n{text}"))
            .config
    }

    fn down(config: &Config, which: &[usize]) -> HashMap<BackendId, BackendState> {
        let s = &config.services[0];
        s.backends
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let up = !which.contains(&i);
                (BackendId::of(s, b), BackendState { up, weight: None })
            })
            .collect()
    }

    fn weights(c: &Config) -> Vec<(u16, u32)> {
        c.services[0]
            .backends
            .iter()
            .map(|b| (b.port.unwrap_or(0), b.weight))
            .collect()
    }

    #[test]
    fn down_backends_get_weight_0_and_the_rest_stays() {
        let (a, b) = (loopback(8081), loopback(8082));
        let config = parse(&config_text(&[a, b], r#"{ type = "tcp" }"#, ""));
        let q = QuorumTracker::default();
        let out = effective(&config, &down(&config, &[1]), &q);
        assert_eq!(weights(&out), [(8081, 5), (8082, 0)]);
        let mut back = out.clone();
        back.services[0].backends[1].weight = 5;
        assert_eq!(back, config, "only the weight changes");
        assert_eq!(effective(&config, &HashMap::new(), &q), config);
    }

    #[test]
    fn remove_takes_a_down_backend_out_and_dynamic_weights_apply() {
        let (a, b) = (loopback(8081), loopback(8082));
        let text = config_text(&[a, b], r#"{ type = "tcp" }"#, "")
            .replace("mode = \"nat\"", "mode = \"nat\"\non_failure = \"remove\"");
        let config = parse(&text);
        let q = QuorumTracker::default();
        let mut health = down(&config, &[1]);
        let out = effective(&config, &health, &q);
        assert_eq!(weights(&out), [(8081, 5)]);
        // A backend's own setting wins over its service's.
        let mut inhibit = config.clone();
        inhibit.services[0].backends[1].on_failure = Some(OnFailure::Inhibit);
        assert_eq!(
            weights(&effective(&inhibit, &health, &q)),
            [(8081, 5), (8082, 0)]
        );
        for s in health.values_mut() {
            s.weight = Some(9);
        }
        assert_eq!(weights(&effective(&config, &health, &q)), [(8081, 9)]);
    }

    #[test]
    fn without_quorum_only_the_sorry_server_takes_flows() {
        let (a, b) = (loopback(8081), loopback(8082));
        let text = config_text(&[a, b], r#"{ type = "tcp" }"#, "").replace(
            "mode = \"nat\"",
            "mode = \"nat\"\nquorum = 6\nsorry_server = { address = \"127.0.0.1\", port = 8099, weight = 3 }",
        );
        let config = parse(&text);
        let mut q = QuorumTracker::default();
        // Both up: 10 >= 6, quorum; the sorry server is absent.
        let all_up = down(&config, &[]);
        q.update(&config, &all_up);
        assert_eq!(
            weights(&effective(&config, &all_up, &q)),
            [(8081, 5), (8082, 5)]
        );
        // One down: 5 < 6, no quorum: the live one is inhibited too and the
        // sorry server takes the flows.
        let one_down = down(&config, &[0]);
        q.update(&config, &one_down);
        assert_eq!(
            weights(&effective(&config, &one_down, &q)),
            [(8081, 0), (8082, 0), (8099, 3)]
        );
        // With inhibit, the sorry server stays at weight 0 while unused.
        let mut inhibit = config.clone();
        inhibit.services[0].sorry_server.as_mut().unwrap().inhibit = true;
        let mut q2 = QuorumTracker::default();
        q2.update(&inhibit, &all_up);
        assert_eq!(
            weights(&effective(&inhibit, &all_up, &q2)),
            [(8081, 5), (8082, 5), (8099, 0)]
        );
        let ids: HashSet<_> = effective(&config, &one_down, &q).services[0]
            .backends
            .iter()
            .map(|b| b.port)
            .collect();
        assert_eq!(ids.len(), 3);
    }

    #[test]
    fn the_effective_config_survives_toml_round_trip_with_every_daemon_key() {
        let extra = "\n[control]\nsocket = \"/tmp/x.sock\"\ngroup = \"lb\"\n\n\
                     [daemon]\nmetrics = \"127.0.0.1:9469\"\n";
        let check = r#"{ type = "http", interval_ms = 500, timeout_ms = 200, rise = 1, fall = 4, port = 9000, path = "/healthz", expect_status = 204 }"#;
        let config = parse(&config_text(
            &[loopback(8081), loopback(8082)],
            check,
            extra,
        ));
        let out = effective(&config, &down(&config, &[0]), &QuorumTracker::default());
        let text = to_toml(&out).unwrap();
        assert_eq!(parse(&text), out, "--- written:\n{text}");
        assert!(parse(&text).daemon.metrics.is_some());
        assert_eq!(parse(&text).services[0].check, config.services[0].check);
    }
}
