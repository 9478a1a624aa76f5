//! VRRP by following keepalived (docs/high-availability.md): keepalived
//! runs on the host side of the ports' kernel interfaces and, as master,
//! puts its `virtual_ipaddress` entries on them; as backup (or stopped, or
//! in fault) it takes them off. ferrolb reads the kernel interfaces'
//! addresses every [`POLL`] and holds exactly the `[vrrp]` addresses found
//! there: the others are compiled into the tables as standby (no ARP
//! answer, no new flow, dropped as `vrrp_backup`). Taking an address is a
//! new tables generation, whose adoption sends the gratuitous ARPs.
//!
//! Reading the state, rather than being told of transitions by notify
//! scripts, means a ferrolb that (re)starts under a running keepalived
//! finds what keepalived holds, and a missed or failed script cannot leave
//! the two disagreeing.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use control::api::VrrpStatus;
use control::config::Config;
use control::ops::Flush;

use super::handler::{lock, ApplianceHandler};

/// How often the kernel interfaces' addresses are read (one netlink dump
/// through getifaddrs(3), on the control side, never on a worker).
pub const POLL: Duration = Duration::from_millis(20);

/// What the node holds and how often its role changed.
#[derive(Debug)]
pub struct RoleState {
    held: BTreeSet<Ipv4Addr>,
    to_master: u64,
    to_backup: u64,
    since: Instant,
}

/// `master` (every address held), `backup` (none) or `mixed`.
fn role_of(config: &Config, held: &BTreeSet<Ipv4Addr>) -> &'static str {
    let Some(v) = &config.vrrp else {
        return "master";
    };
    let n = v.addresses.iter().filter(|a| held.contains(a)).count();
    match n {
        0 => "backup",
        n if n == v.addresses.len() => "master",
        _ => "mixed",
    }
}

impl RoleState {
    /// `present`: the kernel interfaces' addresses at start.
    pub fn new(config: &Config, present: BTreeSet<Ipv4Addr>) -> RoleState {
        let held: BTreeSet<Ipv4Addr> = config
            .vrrp
            .iter()
            .flat_map(|v| v.addresses.iter().copied())
            .filter(|a| present.contains(a))
            .collect();
        let (to_master, to_backup) = match role_of(config, &held) {
            "master" => (1, 0),
            "backup" => (0, 1),
            _ => (0, 0),
        };
        RoleState {
            held,
            to_master,
            to_backup,
            since: Instant::now(),
        }
    }

    /// The `[vrrp]` addresses of `config` this node does not hold.
    pub fn standby(&self, config: &Config) -> Vec<Ipv4Addr> {
        config
            .vrrp
            .iter()
            .flat_map(|v| v.addresses.iter().copied())
            .filter(|a| !self.held.contains(a))
            .collect()
    }

    pub fn status(&self) -> VrrpStatus {
        VrrpStatus {
            role: String::new(),
            held: self.held.iter().copied().collect(),
            standby: Vec::new(),
            to_master: self.to_master,
            to_backup: self.to_backup,
            since_ms: self.since.elapsed().as_millis() as u64,
        }
    }
}

/// The IPv4 addresses on the interfaces named `names`, or why not.
pub fn kernel_addresses(names: &[String]) -> Result<BTreeSet<Ipv4Addr>, String> {
    let all = nix::ifaddrs::getifaddrs().map_err(|e| format!("getifaddrs: {e}"))?;
    Ok(all
        .filter(|i| names.contains(&i.interface_name))
        .filter_map(|i| i.address?.as_sockaddr_in().map(|s| s.ip()))
        .collect())
}

impl ApplianceHandler<'_, '_> {
    /// The node's VRRP status as `stats` reports it.
    pub fn vrrp_status(&self) -> Option<VrrpStatus> {
        let b = self.balancer.as_ref()?;
        let r = lock(&b.running);
        let v = r.config.vrrp.as_ref()?;
        let mut status = r.vrrp.status();
        status.role = role_of(&r.config, &r.vrrp.held).to_owned();
        status.held.retain(|a| v.addresses.contains(a));
        status.standby = r.vrrp.standby(&r.config);
        Some(status)
    }

    /// Makes the node hold the `[vrrp]` addresses among `present` (the
    /// kernel interfaces' addresses) and only those: new tables when that
    /// changes what it holds. Returns the new generation, if any.
    pub fn follow_vrrp(&self, present: &BTreeSet<Ipv4Addr>) -> Option<u64> {
        let b = self.balancer.as_ref()?;
        let mut running = lock(&b.running);
        let v = running.config.vrrp.as_ref()?;
        let held: BTreeSet<Ipv4Addr> = v
            .addresses
            .iter()
            .copied()
            .filter(|a| present.contains(a))
            .collect();
        if held == running.vrrp.held {
            return None;
        }
        let before = role_of(&running.config, &running.vrrp.held);
        let previous = std::mem::replace(&mut running.vrrp.held, held);
        let config = running.config.clone();
        let generation = match self.publish(b, &mut running, config, &Flush::default()) {
            Ok(g) => g,
            Err(e) => {
                // Cannot happen with a config that compiled before; keep
                // the old state and say so, the next poll tries again.
                running.vrrp.held = previous;
                crate::log().warn(format_args!("vrrp: cannot build the tables: {e}"));
                return None;
            }
        };
        let after = role_of(&running.config, &running.vrrp.held);
        if after != before {
            match after {
                "master" => running.vrrp.to_master += 1,
                "backup" => running.vrrp.to_backup += 1,
                _ => {}
            }
            running.vrrp.since = Instant::now();
        }
        let list = |s: Vec<Ipv4Addr>| {
            s.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        crate::log().event(
            control::log::Level::Notice,
            format_args!(
                "vrrp: generation {generation}: {after} (was {before}); holds [{}], standby [{}]",
                list(running.vrrp.held.iter().copied().collect()),
                list(running.vrrp.standby(&running.config))
            ),
            &[("role", &after), ("was", &before)],
        );
        drop(running);
        self.wait_for_workers(generation);
        Some(generation)
    }
}

/// Follows the kernel interfaces `names` until `stop`: every [`POLL`], the
/// addresses keepalived holds become the node's.
pub fn follow(handler: &ApplianceHandler<'_, '_>, names: &[String], stop: &AtomicBool) {
    let mut failing = false;
    while !stop.load(Ordering::Relaxed) {
        match kernel_addresses(names) {
            Ok(present) => {
                failing = false;
                handler.follow_vrrp(&present);
            }
            // Once per run of failures: the last known state stays.
            Err(e) if !failing => {
                failing = true;
                crate::log().warn(format_args!(
                    "vrrp: cannot read the kernel interfaces' addresses: {e}"
                ));
            }
            Err(_) => {}
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vrrp: &[&str]) -> Config {
        Config {
            vrrp: Some(control::config::VrrpConfig {
                addresses: vrrp.iter().map(|a| a.parse().expect("address")).collect(),
            }),
            ..Config::default()
        }
    }

    fn set(a: &[&str]) -> BTreeSet<Ipv4Addr> {
        a.iter().map(|a| a.parse().expect("address")).collect()
    }

    #[test]
    fn the_role_is_what_the_kernel_interfaces_hold_of_the_vrrp_addresses() {
        let c = config(&["192.0.2.10", "10.0.1.1"]);
        assert_eq!(role_of(&c, &set(&[])), "backup");
        assert_eq!(role_of(&c, &set(&["10.0.1.1"])), "mixed");
        assert_eq!(role_of(&c, &set(&["192.0.2.10", "10.0.1.1"])), "master");
        assert_eq!(role_of(&Config::default(), &set(&[])), "master");
    }

    #[test]
    fn at_start_only_vrrp_addresses_count_and_the_rest_is_standby() {
        let c = config(&["192.0.2.10", "10.0.1.1"]);
        // The kernel interfaces' own host addresses are there too.
        let s = RoleState::new(&c, set(&["10.0.2.3", "10.0.1.3", "10.0.1.1"]));
        assert_eq!(s.held, set(&["10.0.1.1"]));
        assert_eq!(
            s.standby(&c),
            vec!["192.0.2.10".parse::<Ipv4Addr>().unwrap()]
        );
        let s = RoleState::new(&c, set(&["10.0.2.3"]));
        assert_eq!(
            (s.to_master, s.to_backup),
            (0, 1),
            "starting as backup counts once"
        );
    }
}
