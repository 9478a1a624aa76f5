//! rte_flow steering of replies to local ports (FULLNAT, SNAT) to the worker
//! that owns the port, per port, kept in step with the config.
//!
//! Worker *w* allocates only local ports with `port & owner_mask == w`
//! (`laddr::owner_mask`, load-balancing policy, decided here and handed to
//! the DPDK layer as a `PortSplit`), so rules on (local address, VLAN,
//! destination port under that mask) send every reply to its owner's queue. Where the device refuses the rules,
//! the receiving worker hands replies over the redirect rings instead: the
//! rules only save that hop, so a refusal is reported, never fatal.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use control::config::{Config, Steering as SteeringMode};
use dataplane::dpdk::{DpdkError, LocalPortSteering, Port, PortSplit, SteerTarget};
use dataplane::laddr::owner_mask;
use dataplane::tables::{LbTables, Mode};

/// Every (local address, VLAN) replies to local ports can arrive with on
/// port `port`: the local addresses of FULLNAT services (retired ones too,
/// as their sessions drain; not flushed ones) and the SNAT rules'
/// addresses, on every VLAN (or untagged) of the port's interfaces.
pub fn targets(tables: &LbTables, port: u16) -> Vec<SteerTarget> {
    let vlans: BTreeSet<Option<u16>> = tables
        .interfaces
        .iter()
        .filter(|i| i.port == port)
        .map(|i| i.vlan)
        .collect();
    let fullnat = tables
        .services
        .iter()
        .filter(|s| s.spec.mode == Mode::FullNat && s.state.keeps_sessions())
        .flat_map(|s| s.spec.local_addrs.iter());
    let snat = tables
        .snat
        .iter()
        .filter(|r| r.state.keeps_sessions())
        .flat_map(|r| r.spec.addrs.iter());
    let addrs: BTreeSet<Ipv4Addr> = fullnat.chain(snat).copied().collect();
    addrs
        .iter()
        .flat_map(|&addr| vlans.iter().map(move |&vlan| SteerTarget { addr, vlan }))
        .collect()
}

/// What one port does about steering.
enum State<'p> {
    /// No local address reaches this port: nothing to steer.
    Nothing,
    Installed(LocalPortSteering<'p>),
    /// The device refused; replies take the rings.
    Refused(DpdkError),
}

struct PortSteering<'p> {
    port: &'p Port<'p>,
    targets: Vec<SteerTarget>,
    state: State<'p>,
}

impl<'p> PortSteering<'p> {
    fn install(port: &'p Port<'p>, targets: Vec<SteerTarget>, workers: u16) -> Self {
        let split = PortSplit {
            workers,
            mask: owner_mask(usize::from(workers)),
        };
        let state = if targets.is_empty() {
            State::Nothing
        } else {
            match LocalPortSteering::install(port, &targets, split) {
                Ok(s) => State::Installed(s),
                Err(e) => State::Refused(e),
            }
        };
        PortSteering {
            port,
            targets,
            state,
        }
    }

    /// The start-up line for this port.
    fn line(&self, workers: u16) -> Option<String> {
        let name = self.port.name();
        match &self.state {
            State::Nothing => None,
            State::Installed(s) => Some(format!(
                "port {name}: rte_flow steers local ports to {workers} workers ({} rules)",
                s.rules()
            )),
            State::Refused(e) => Some(format!(
                "port {name}: no rte_flow steering ({e}); replies to local ports reach their \
                 worker through the redirect rings"
            )),
        }
    }

    /// Short text for `ferrolbctl stats`.
    fn status(&self) -> String {
        match &self.state {
            State::Nothing => "none (no local addresses)".into(),
            State::Installed(s) => format!("rte_flow ({} rules)", s.rules()),
            State::Refused(e) => format!("rings (rte_flow: {})", e.reason()),
        }
    }
}

/// The steering of every port. Absent (`None` from [`Steering::start`])
/// with one worker or `[workers] steering = "off"`.
pub struct Steering<'p> {
    workers: u16,
    ports: Vec<PortSteering<'p>>,
}

impl<'p> Steering<'p> {
    /// Installs the rules for `tables` on every port (started, before the
    /// workers run) and prints one line per port that has local addresses.
    pub fn start(cfg: &Config, ports: &'p [Port<'p>], tables: &LbTables) -> Option<Steering<'p>> {
        let workers = u16::try_from(cfg.workers.cores.len()).ok()?;
        if workers < 2 {
            return None;
        }
        if cfg.workers.steering == SteeringMode::Off {
            println!("rte_flow steering off: replies to local ports take the redirect rings");
            return None;
        }
        let ports: Vec<PortSteering<'p>> = ports
            .iter()
            .enumerate()
            .map(|(i, port)| PortSteering::install(port, targets(tables, i as u16), workers))
            .collect();
        for p in &ports {
            if let Some(line) = p.line(workers) {
                println!("{line}");
            }
        }
        Some(Steering { workers, ports })
    }

    /// Follows a config change: on every port whose targets changed, the
    /// old rules go first, then the new ones are installed (in between,
    /// replies take the rings). Prints a port's line when its state text
    /// changed.
    pub fn update(&mut self, tables: &LbTables) {
        for (i, p) in self.ports.iter_mut().enumerate() {
            let targets = targets(tables, i as u16);
            if targets == p.targets {
                continue;
            }
            let before = p.status();
            let port = p.port;
            // Drop the old rules before installing: the new set may overlap.
            p.state = State::Nothing;
            *p = PortSteering::install(port, targets, self.workers);
            if p.status() != before {
                if let Some(line) = p.line(self.workers) {
                    println!("{line}");
                }
            }
        }
    }

    /// Port `i`'s steering for `ferrolbctl stats`.
    pub fn status(&self, i: usize) -> Option<String> {
        self.ports.get(i).map(PortSteering::status)
    }
}

/// Port `i`'s steering text for `ferrolbctl stats` when there is no
/// [`Steering`]: why not.
pub fn inactive_status(cfg: &Config) -> String {
    if cfg.workers.cores.len() < 2 {
        "off (one worker)".into()
    } else if cfg.workers.steering == SteeringMode::Off {
        "off (rings)".into()
    } else {
        "off (L2 forwarding)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::tables::{FlushRequest, ServiceKey};
    use dataplane::tuple::IpProto;

    const BASE: &str = r#"
[[port]]
name = "lan"
device = "net_null0"

[[port]]
name = "wan"
device = "net_null1"

[[port]]
name = "spare"
device = "net_null2"

[[interface]]
port = "lan"
addresses = ["10.0.0.1/24"]

[[interface]]
port = "lan"
vlan = 20
addresses = ["10.0.20.1/24"]

[[interface]]
port = "wan"
vlan = 30
addresses = ["203.0.113.1/24"]

[[snat]]
source = "10.0.0.0/24"
port = "wan"
addresses = ["203.0.113.5", "203.0.113.6"]
"#;

    fn service(port: u16, mode: &str, local: &str) -> String {
        format!(
            "\n[[service]]\nvip = \"10.0.0.100\"\nprotocol = \"tcp\"\nport = {port}\n\
             mode = \"{mode}\"\n{local}\n[[service.backend]]\naddress = \"10.0.0.11\"\n"
        )
    }

    fn tables(text: &str, prev: Option<(&LbTables, FlushRequest)>) -> LbTables {
        let loaded = Config::parse(std::path::Path::new("test.toml"), text.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        let lb = crate::lb::lb_config(&loaded.config, &[[2, 0, 0, 0, 0, 1]; 3], &[]);
        match prev {
            None => LbTables::build(&lb),
            Some((prev, flush)) => LbTables::build_next(&lb, prev, &flush),
        }
        .expect("tables")
    }

    fn t(addr: [u8; 4], vlan: Option<u16>) -> SteerTarget {
        SteerTarget {
            addr: addr.into(),
            vlan,
        }
    }

    #[test]
    fn fullnat_and_snat_addresses_on_every_vlan_of_the_port() {
        let text = format!(
            "{BASE}{}{}",
            service(
                80,
                "fullnat",
                "local_addresses = [\"10.0.0.50\", \"10.0.0.51\"]"
            ),
            service(443, "nat", "")
        );
        let tables = tables(&text, None);
        let lan = targets(&tables, 0);
        let expect_lan: Vec<_> = [
            [10, 0, 0, 50],
            [10, 0, 0, 51],
            [203, 0, 113, 5],
            [203, 0, 113, 6],
        ]
        .into_iter()
        .flat_map(|a| [t(a, None), t(a, Some(20))])
        .collect();
        assert_eq!(lan, expect_lan);
        let wan = targets(&tables, 1);
        assert_eq!(wan.len(), 4);
        assert!(wan.iter().all(|t| t.vlan == Some(30)), "{wan:?}");
        assert!(targets(&tables, 2).is_empty(), "no interface, no targets");
    }

    #[test]
    fn retired_fullnat_services_stay_until_flushed() {
        let fullnat = service(80, "fullnat", "local_addresses = [\"10.0.0.50\"]");
        let first = tables(&format!("{BASE}{fullnat}"), None);
        assert!(targets(&first, 1).contains(&t([10, 0, 0, 50], Some(30))));
        // Deleted: retired, its sessions drain through the same addresses.
        let retired = tables(BASE, Some((&first, FlushRequest::default())));
        assert!(targets(&retired, 1).contains(&t([10, 0, 0, 50], Some(30))));
        let flush = FlushRequest {
            services: vec![ServiceKey {
                proto: IpProto::TCP,
                vip: [10, 0, 0, 100].into(),
                port: 80,
            }],
            backends: Vec::new(),
        };
        let flushed = tables(BASE, Some((&retired, flush)));
        assert_eq!(
            targets(&flushed, 1),
            [t([203, 0, 113, 5], Some(30)), t([203, 0, 113, 6], Some(30))]
        );
    }
}
