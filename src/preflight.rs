//! Start-up checks that save hours: things DPDK accepts without a word
//! that make the load balancer fail silently later.
//!
//! - A `net_af_packet` or `net_af_xdp` port over a Linux interface that
//!   still has TX checksum offload, TSO, GSO or GRO on: the kernel hands
//!   such a socket frames with unfinished checksums or larger than the MTU,
//!   and every NAT/FULLNAT connection through it fails (tried: the
//!   handshake completes, data never arrives). A warning with the
//!   `ethtool -K` line that fixes it.
//! - A `mac` the device does not take while `promiscuous = false`: the NIC
//!   filters out every frame to our MAC. Refused, naming the key.

use std::process::Command;

use control::config::{Config, ConfigError, LoadedConfig};

/// The offloads that break a packet socket's view of the traffic, as
/// `ethtool -k` names them, and the `ethtool -K` word that turns each off.
const OFFLOADS: [(&str, &str); 4] = [
    ("tx-checksumming", "tx"),
    ("tcp-segmentation-offload", "tso"),
    ("generic-segmentation-offload", "gso"),
    ("generic-receive-offload", "gro"),
];

/// The offloads (of [`OFFLOADS`]) that `ethtool -k` output shows on.
pub fn offloads_on(ethtool_k: &str) -> Vec<&'static str> {
    OFFLOADS
        .iter()
        .filter(|(feature, _)| {
            ethtool_k.lines().any(|l| {
                l.strip_prefix(feature)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .is_some_and(|v| v.trim_start().starts_with("on"))
            })
        })
        .map(|(feature, _)| *feature)
        .collect()
}

/// The `ethtool -K` line that turns `on` off for `iface`.
fn fix(iface: &str, on: &[&str]) -> String {
    let words: Vec<String> = OFFLOADS
        .iter()
        .filter(|(f, _)| on.contains(f))
        .map(|(_, w)| format!("{w} off"))
        .collect();
    format!("ethtool -K {iface} {}", words.join(" "))
}

/// One warning per packet-socket port whose interface has offloads on
/// (and a note when `ethtool` is not there to ask).
pub fn offload_warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    // A bond's members are checked one by one.
    let devices = config
        .ports
        .iter()
        .flat_map(|p| p.devices().map(move |d| (p, d)));
    for (port, device) in devices {
        let Some(iface) = iface_of(device) else {
            continue;
        };
        let shown = Command::new("ethtool").args(["-k", &iface]).output();
        match shown {
            Ok(o) if o.status.success() => {
                let on = offloads_on(&String::from_utf8_lossy(&o.stdout));
                if !on.is_empty() {
                    out.push(format!(
                        "warning: port {}: interface {iface} has {} on; a packet socket then \
                         sees frames with unfinished checksums or larger than the MTU, and \
                         NAT/FULLNAT connections through it fail. Turn them off here and on the \
                         peer's end (a veth's other side): {}",
                        port.name,
                        on.join(", "),
                        fix(&iface, &on)
                    ));
                }
            }
            _ => out.push(format!(
                "note: port {}: could not run `ethtool -k {iface}` to check its offloads \
                 (TX checksum, TSO, GSO and GRO must be off for a packet socket)",
                port.name
            )),
        }
    }
    out
}

/// `iface=` of a port's devargs, for packet-socket vdevs.
fn iface_of(device: &str) -> Option<String> {
    let (driver, args) = device.split_once(',')?;
    if !(driver.starts_with("net_af_packet") || driver.starts_with("net_af_xdp")) {
        return None;
    }
    args.split(',')
        .find_map(|kv| kv.strip_prefix("iface="))
        .map(str::to_owned)
}

/// The error for port `i` whose configured MAC the device refused (`why`)
/// while it filters by MAC (`promiscuous = false`).
pub fn mac_refused(loaded: &LoadedConfig, i: usize, why: &str) -> ConfigError {
    let port = &loaded.config.ports[i];
    loaded.error_at(
        &format!("port[{i}].mac"),
        format!(
            "the device does not take MAC {} ({why}) and promiscuous = false, so no frame to it \
             would arrive: use the device's MAC, or set promiscuous = true",
            port.mac.map(|m| m.to_string()).unwrap_or_default()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETHTOOL_K: &str = "Features for veth0:\nrx-checksumming: on\ntx-checksumming: on\n\
        \ttx-checksum-ip-generic: on\nscatter-gather: on\ntcp-segmentation-offload: off\n\
        \ttx-tcp-segmentation: off\ngeneric-segmentation-offload: on\n\
        generic-receive-offload: off\nlarge-receive-offload: off [fixed]\n";

    #[test]
    fn the_offloads_that_are_on_are_named_and_the_fix_turns_them_off() {
        let on = offloads_on(ETHTOOL_K);
        assert_eq!(on, ["tx-checksumming", "generic-segmentation-offload"]);
        assert_eq!(fix("veth0", &on), "ethtool -K veth0 tx off gso off");
        assert!(offloads_on("tx-checksumming: off [fixed]\n").is_empty());
    }

    #[test]
    fn only_packet_socket_vdevs_have_an_interface_to_check() {
        assert_eq!(
            iface_of("net_af_packet0,iface=ext,framecnt=4096").as_deref(),
            Some("ext")
        );
        assert_eq!(
            iface_of("net_af_xdp1,start_queue=0,iface=eth1").as_deref(),
            Some("eth1")
        );
        assert_eq!(iface_of("net_pcap0,iface=eth0"), None);
        assert_eq!(iface_of("net_af_packet0"), None);
        assert_eq!(iface_of("0000:3b:00.0"), None);
    }
}
