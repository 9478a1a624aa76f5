//! `[sync]`: session sync with a peer node (docs/session-sync.md). The
//! appliance binds `listen` (UDP) and streams its session events to
//! `peers`; what it receives from them is installed in its own tables.
//! Without the section nothing is synced and nothing changes.

use std::net::SocketAddrV4;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Config, ConfigError, ConfigSource, KeyPath};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// The UDP address the appliance binds, on the host's stack (a port's
    /// kernel interface or a management NIC), e.g. "10.0.0.2:8848".
    pub listen: SocketAddrV4,
    /// Where this node's session events go, and the only sources it
    /// accepts events from.
    pub peers: Vec<SocketAddrV4>,
    /// A file holding a shared key (at least 16 bytes; one trailing
    /// newline is not part of it): every datagram is signed with
    /// HMAC-SHA256 and unsigned or wrongly signed ones are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
}

/// Peers at most: every event goes to each of them.
pub const MAX_SYNC_PEERS: usize = 8;

pub(super) fn validate(config: &Config, source: &ConfigSource, errors: &mut Vec<ConfigError>) {
    let Some(sync) = &config.sync else {
        return;
    };
    let mut err = |path: KeyPath, msg: String| errors.push(source.error_at(&path, msg));
    let at = KeyPath::root().key("sync");
    if !config.runs_pipeline() {
        err(
            at.clone(),
            "session sync needs the load-balancing pipeline: add an [[interface]]".into(),
        );
    }
    if sync.listen.port() == 0 {
        err(at.key("listen"), format!("{}: needs a port", sync.listen));
    }
    if sync.peers.is_empty() || sync.peers.len() > MAX_SYNC_PEERS {
        err(
            at.key("peers"),
            format!(
                "{} peers: list 1 to {MAX_SYNC_PEERS} addresses, like [\"10.0.0.3:8848\"]",
                sync.peers.len()
            ),
        );
    }
    for (i, p) in sync.peers.iter().enumerate() {
        if *p == sync.listen {
            err(
                at.key("peers").index(i),
                format!("{p}: is this node's own listen address"),
            );
        } else if p.port() == 0 || p.ip().is_unspecified() {
            err(
                at.key("peers").index(i),
                format!("{p}: needs an address and a port"),
            );
        } else if sync.peers[..i].contains(p) {
            err(at.key("peers").index(i), format!("{p}: listed twice"));
        }
    }
    if let Some(k) = &sync.key_file {
        if !k.is_absolute() {
            err(
                at.key("key_file"),
                format!(
                    "{}: must be an absolute path, like \"/etc/ferrolb/sync.key\"",
                    k.display()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    fn load(sync: &str) -> Result<Config, String> {
        let text = format!(
            "[[port]]\nname = \"lan\"\ndevice = \"net_null0\"\n\n\
             [[interface]]\nport = \"lan\"\naddresses = [\"10.0.0.1/24\"]\n\n[sync]\n{sync}\n"
        );
        Config::parse(std::path::Path::new("t.toml"), text)
            .map(|l| l.config)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_sync_section_loads_and_its_mistakes_are_named() {
        let c =
            load("listen = \"10.0.0.2:8848\"\npeers = [\"10.0.0.3:8848\"]\nkey_file = \"/etc/k\"")
                .expect("loads");
        let s = c.sync.expect("sync");
        assert_eq!(s.peers.len(), 1);
        assert_eq!(s.listen.port(), 8848);
        let e = load("listen = \"10.0.0.2:8848\"\npeers = []").expect_err("no peers");
        assert!(e.contains("sync.peers") && e.contains("0 peers"), "{e}");
        let e = load("listen = \"10.0.0.2:8848\"\npeers = [\"10.0.0.2:8848\"]").expect_err("self");
        assert!(e.contains("own listen address"), "{e}");
        let e = load("listen = \"10.0.0.2:8848\"\npeers = [\"10.0.0.3:1\", \"10.0.0.3:1\"]")
            .expect_err("twice");
        assert!(e.contains("listed twice"), "{e}");
        let e = load("listen = \"10.0.0.2:8848\"\npeers = [\"10.0.0.3:1\"]\nkey_file = \"k\"")
            .expect_err("relative");
        assert!(e.contains("absolute path"), "{e}");
        let e = load("listen = \"nowhere\"\npeers = [\"10.0.0.3:1\"]").expect_err("bad address");
        assert!(e.contains("sync.listen") || e.contains("listen"), "{e}");
        let e = load("listen = \"10.0.0.2:8848\"\npeers = [\"10.0.0.3:1\"]\nport = 3")
            .expect_err("unknown key");
        assert!(e.contains("port"), "{e}");
        let l2 =
            "[[port]]\nname = \"lan\"\ndevice = \"net_null0\"\n[forward]\ntopology = \"loop\"\n\
                  [sync]\nlisten = \"10.0.0.2:8848\"\npeers = [\"10.0.0.3:1\"]\n";
        let e = Config::parse(std::path::Path::new("t.toml"), l2.into())
            .map(|_| ())
            .expect_err("L2 forwarding");
        assert!(
            e.to_string().contains("needs the load-balancing pipeline"),
            "{e}"
        );
    }
}
