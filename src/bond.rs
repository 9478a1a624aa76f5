//! Bonded ports (docs/bonding.md): the EAL arguments that probe a bond's
//! members and create the bond over them, the check that every member
//! probed, and the watch that logs member changes (active member,
//! aggregator, link) while the appliance runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::Result;
use control::config::{member_kind, member_name, BondConfig, Device, LoadedConfig};
use control::log::Level;
use dataplane::dpdk::{
    BondStatus, Eal, EalArgs, Port, MODE_8023AD, MODE_ACTIVE_BACKUP, MODE_BALANCE_XOR,
};
use dataplane::worker::{Answer, Query, WorkerShared};

/// How often the watch looks at the members.
const WATCH_EVERY: Duration = Duration::from_millis(50);
/// How long the watch waits for worker 0 to queue announcements.
const ANNOUNCE_PATIENCE: Duration = Duration::from_millis(500);

/// The config's name for DPDK's mode number.
pub fn mode_name(mode: u8) -> &'static str {
    match mode {
        MODE_ACTIVE_BACKUP => "active-backup",
        MODE_BALANCE_XOR => "balance-xor",
        MODE_8023AD => "802.3ad",
        _ => "other",
    }
}

/// `args` with a bond's members (each `-a` or `--vdev` as a port's
/// device would be) and then the bond itself.
pub fn eal_args(port: &str, bond: &BondConfig, mut args: EalArgs) -> EalArgs {
    for m in &bond.members {
        args = match member_kind(m) {
            Device::Pci { .. } => args.allow_pci(m),
            Device::Vdev { .. } => args.vdev(m),
        };
    }
    args.vdev(&bond.devargs(port))
}

/// Every member of port `i`'s bond probed: DPDK does not fail its init
/// for a vdev that did not, and the bond would then start without it.
pub fn check_members(eal: &Eal, loaded: &LoadedConfig, i: usize) -> Result<()> {
    let port = &loaded.config.ports[i];
    let Some(bond) = &port.bond else {
        return Ok(());
    };
    for (j, m) in bond.members.iter().enumerate() {
        let name = member_name(m);
        if Port::find(eal, &name).is_none() {
            return Err(loaded
                .error_at(
                    &format!("port[{i}].bond.members[{j}]"),
                    format!(
                        "member {name} of bond port {:?} did not probe; see the EAL messages \
                         above",
                        port.name
                    ),
                )
                .into());
        }
    }
    Ok(())
}

/// Has bond `id` of port `i` poll its members' links every `miimon` ms
/// (before the port starts; see [`Port::poll_member_link`]).
pub fn set_link_poll(eal: &Eal, loaded: &LoadedConfig, i: usize, id: u16) -> Result<()> {
    let port = &loaded.config.ports[i];
    let Some(bond) = &port.bond else {
        return Ok(());
    };
    for m in &bond.members {
        if let Some(member) = Port::find(eal, &member_name(m)) {
            Port::poll_member_link(eal, member)?;
        }
    }
    Port::set_bond_link_poll(eal, id, &port.name, bond.miimon).map_err(|e| {
        loaded
            .error_at(&format!("port[{i}].bond.miimon"), e.to_string())
            .into()
    })
}

/// What changed from `old` to `new` in bond port `port`, one log line
/// each: a member's link, the active member (active-backup), a member
/// joining or leaving the aggregator (802.3ad).
pub fn changes(port: &str, old: &BondStatus, new: &BondStatus) -> Vec<String> {
    let mut out = Vec::new();
    for m in &new.members {
        let Some(was) = old.members.iter().find(|o| o.name == m.name) else {
            continue;
        };
        if was.link_up != m.link_up {
            let state = if m.link_up { "up" } else { "down" };
            out.push(format!("bond: port {port}: member {} link {state}", m.name));
        }
        if new.mode == MODE_8023AD && was.active != m.active {
            let verb = if m.active { "joined" } else { "left" };
            out.push(format!(
                "bond: port {port}: member {} {verb} the aggregator ({} of {} in it)",
                m.name,
                new.members.iter().filter(|m| m.active).count(),
                new.members.len()
            ));
        }
    }
    if new.mode == MODE_ACTIVE_BACKUP && old.active_member() != new.active_member() {
        out.push(format!(
            "bond: port {port}: active member {} -> {}",
            old.active_member().unwrap_or("none"),
            new.active_member().unwrap_or("none (no member has link)")
        ));
    }
    out
}

/// Logs every change of the bonded ports until `stop` is set (a scoped
/// thread of the control side; nothing here touches the packet path).
/// When an active-backup bond's active member changes, worker 0 announces
/// the port's addresses (gratuitous ARP), so the switches learn which
/// link our MAC is behind now.
pub fn watch(ports: &[Port<'_>], workers: &[WorkerShared], stop: &AtomicBool) {
    let mut last: Vec<Option<BondStatus>> = ports.iter().map(Port::bond_status).collect();
    for (p, s) in ports.iter().zip(&last) {
        if let Some(s) = s {
            let members: Vec<String> = s
                .members
                .iter()
                .map(|m| {
                    let link = if m.link_up { "up" } else { "down" };
                    let role = if m.active { ", active" } else { "" };
                    format!("{} ({link}{role})", m.name)
                })
                .collect();
            println!(
                "bond: port {}: {} over {}",
                p.name(),
                mode_name(s.mode),
                members.join(", ")
            );
        }
    }
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(WATCH_EVERY);
        for (i, (p, last)) in ports.iter().zip(last.iter_mut()).enumerate() {
            let Some(old) = last.as_ref() else { continue };
            let Some(new) = p.bond_status() else { continue };
            for line in changes(p.name(), old, &new) {
                crate::log().event(Level::Notice, line, &[]);
            }
            if new.mode == MODE_ACTIVE_BACKUP && new.active_member() != old.active_member() {
                announce(workers, i, p.name());
            }
            *last = Some(new);
        }
    }
}

/// Asks worker 0 to announce port `port`'s addresses again.
fn announce(workers: &[WorkerShared], port: usize, name: &str) {
    let (Some(w0), Ok(port)) = (workers.first(), u16::try_from(port)) else {
        return;
    };
    match w0.ask(Query::Announce { port }, ANNOUNCE_PATIENCE) {
        Some(Answer::Announced(n)) => crate::log().log(format_args!(
            "bond: port {name}: {n} gratuitous ARP announcements queued"
        )),
        // L2 forwarding has no addresses to announce; a busy worker is
        // logged, the next change asks again.
        _ => crate::log().warn(format_args!(
            "bond: port {name}: worker 0 did not queue gratuitous ARP"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::dpdk::{LacpStatus, MemberStatus, PortStats};

    fn member(name: &str, link_up: bool, active: bool) -> MemberStatus {
        MemberStatus {
            name: name.into(),
            link_up,
            active,
            lacp: None::<LacpStatus>,
            stats: PortStats::default(),
        }
    }

    fn bond(mode: u8, members: Vec<MemberStatus>) -> BondStatus {
        BondStatus { mode, members }
    }

    #[test]
    fn a_failover_is_logged_with_the_link_that_caused_it() {
        let before = bond(
            MODE_ACTIVE_BACKUP,
            vec![
                member("net_tap0", true, true),
                member("net_tap1", true, false),
            ],
        );
        let after = bond(
            MODE_ACTIVE_BACKUP,
            vec![
                member("net_tap0", false, false),
                member("net_tap1", true, true),
            ],
        );
        assert_eq!(
            changes("ext", &before, &after),
            [
                "bond: port ext: member net_tap0 link down",
                "bond: port ext: active member net_tap0 -> net_tap1",
            ]
        );
        assert!(changes("ext", &after, &after).is_empty());
        let none = bond(
            MODE_ACTIVE_BACKUP,
            vec![
                member("net_tap0", false, false),
                member("net_tap1", false, false),
            ],
        );
        assert_eq!(
            changes("ext", &after, &none),
            [
                "bond: port ext: member net_tap1 link down",
                "bond: port ext: active member net_tap1 -> none (no member has link)",
            ]
        );
    }

    #[test]
    fn members_joining_and_leaving_the_aggregator_are_logged() {
        let one = bond(
            MODE_8023AD,
            vec![member("a", true, true), member("b", true, false)],
        );
        let two = bond(
            MODE_8023AD,
            vec![member("a", true, true), member("b", true, true)],
        );
        assert_eq!(
            changes("up", &one, &two),
            ["bond: port up: member b joined the aggregator (2 of 2 in it)"]
        );
        assert_eq!(
            changes("up", &two, &one),
            ["bond: port up: member b left the aggregator (1 of 2 in it)"]
        );
    }

    #[test]
    fn a_bond_probes_its_members_then_itself() {
        let bond: BondConfig = toml::from_str(
            r#"mode = "active-backup"
               members = ["net_tap0,iface=m0", "0000:3b:00.0"]"#,
        )
        .expect("a bond table");
        let args = eal_args("ext", &bond, EalArgs::new());
        assert_eq!(
            args.as_slice(),
            [
                "--vdev=net_tap0,iface=m0",
                "-a",
                "0000:3b:00.0",
                "--vdev=net_bonding_ext,mode=1,slave=net_tap0,slave=0000:3b:00.0"
            ]
        );
    }
}
