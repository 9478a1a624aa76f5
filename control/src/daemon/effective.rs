//! The config the daemon applies: the file's, with every backend the health
//! checks hold as down set to weight 0 (the appliance then sends it no new
//! flows and lets its sessions finish).

use std::collections::HashSet;
use std::net::SocketAddrV4;

use crate::config::Config;
use crate::health::BackendId;

pub fn effective(config: &Config, down: &HashSet<BackendId>) -> Config {
    let mut out = config.clone();
    for service in &mut out.services {
        let key = service.key();
        let port = service.port;
        for backend in &mut service.backends {
            let id = BackendId {
                service: key,
                backend: SocketAddrV4::new(backend.address, backend.port_or(port)),
            };
            if down.contains(&id) {
                backend.weight = 0;
            }
        }
    }
    out
}

/// The TOML text of `config`, as `apply` takes it.
pub fn to_toml(config: &Config) -> Result<String, String> {
    toml::to_string(config).map_err(|e| format!("cannot write the config as TOML: {e}"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::test_support::{config_text, loopback};

    fn parse(text: &str) -> Config {
        Config::parse(Path::new("t.toml"), text.to_owned())
            .unwrap_or_else(|e| panic!("{e}\n--- text:\n{text}"))
            .config
    }

    #[test]
    fn down_backends_get_weight_0_and_the_rest_stays() {
        let (a, b) = (loopback(8081), loopback(8082));
        let config = parse(&config_text(&[a, b], r#"{ type = "tcp" }"#, ""));
        let service = &config.services[0];
        let down: HashSet<_> = [BackendId::of(service, &service.backends[1])].into();
        let out = effective(&config, &down);
        let weights: Vec<_> = out.services[0].backends.iter().map(|b| b.weight).collect();
        assert_eq!(weights, [5, 0]);
        let mut back = out.clone();
        back.services[0].backends[1].weight = 5;
        assert_eq!(back, config, "only the weight changes");
        assert_eq!(effective(&config, &HashSet::new()), config);
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
        let service = &config.services[0];
        let down: HashSet<_> = [BackendId::of(service, &service.backends[0])].into();
        let out = effective(&config, &down);
        let text = to_toml(&out).unwrap();
        assert_eq!(parse(&text), out, "--- written:\n{text}");
        assert!(parse(&text).daemon.metrics.is_some());
        assert_eq!(parse(&text).services[0].check, service.check);
    }
}
