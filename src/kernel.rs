//! The ports' kernel interfaces (docs/kernel-path.md), set up at start:
//! DPDK makes each one as a vdev during EAL init (`net_tap`, or
//! `virtio_user` on vhost-net); once its port is probed it takes the port's
//! MAC, starts with one queue pair (worker 0's), and gets its host
//! addresses with `ip`. The pipeline moves the frames
//! (`dataplane::pipeline`, `kernel.rs`).

use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, bail, Result};
use control::config::{Config, KernelDriver, LoadedConfig, KERNEL_DESC, VHOST_NET};
use dataplane::dpdk::Eal;
use dataplane::dpdk::{EalArgs, Mempool, Port, PortConfig};
use dataplane::wire::ethernet::MacAddr;

/// The TUN/TAP device `net_tap` opens.
const TUN: &str = "/dev/net/tun";

/// Each kernel interface's port index and config key, in config order.
fn kernels(cfg: &Config) -> impl Iterator<Item = (usize, &control::config::KernelConfig)> {
    cfg.ports
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.kernel.as_ref().map(|k| (i, k)))
}

/// Before DPDK starts: the device each driver needs must exist, or the
/// error names the config key and what to do.
pub fn check_devices(loaded: &LoadedConfig) -> Result<()> {
    for (i, k) in kernels(&loaded.config) {
        let (device, hint) = match k.driver {
            KernelDriver::Tap => (TUN, "load the tun module (modprobe tun)"),
            KernelDriver::VirtioUser => (
                VHOST_NET,
                "load vhost_net (modprobe vhost_net) or use driver = \"tap\"",
            ),
        };
        if !Path::new(device).exists() {
            return Err(loaded
                .error_at(
                    &format!("port[{i}].kernel.driver"),
                    format!(
                        "kernel interface {:?} needs {device}, which does not exist: {hint}",
                        k.name
                    ),
                )
                .into());
        }
    }
    Ok(())
}

/// The EAL arguments with one `--vdev` per kernel interface.
pub fn eal_args(cfg: &Config, mut args: EalArgs) -> EalArgs {
    for (i, k) in kernels(cfg) {
        args = args.vdev(&k.devargs(i));
    }
    args
}

/// After the ports started: each kernel interface found, given its port's
/// MAC (`macs`, by port index), started and addressed. In config order,
/// the order of `KernelPath::io_port`.
pub fn start<'pool>(
    eal: &Eal,
    loaded: &LoadedConfig,
    macs: &[[u8; 6]],
    pool: &'pool Mempool,
) -> Result<Vec<Port<'pool>>> {
    let mut started = Vec::new();
    for (i, k) in kernels(&loaded.config) {
        let dpdk_name = k.dpdk_name(i);
        let id = Port::find(eal, &dpdk_name).ok_or_else(|| {
            loaded.error_at(
                &format!("port[{i}].kernel"),
                format!(
                    "kernel interface {:?} ({dpdk_name}) did not probe; see the EAL messages \
                     above (is an interface of that name in use already?)",
                    k.name
                ),
            )
        })?;
        let mac = macs
            .get(i)
            .copied()
            .ok_or_else(|| anyhow!("port {i}: no MAC"))?;
        Port::set_mac(eal, id, &k.name, mac)?;
        let config = PortConfig {
            queues: 1,
            rx_desc: KERNEL_DESC,
            tx_desc: KERNEL_DESC,
            promiscuous: false,
            // Linux's default (1500): the kernel's own traffic, whatever
            // the port's MTU.
            mtu: None,
            all_multicast: false,
        };
        let port = Port::start(eal, id, &k.name, &config, pool)?;
        for a in &k.addresses {
            ip(&["addr", "replace", &a.to_string(), "dev", &k.name])?;
        }
        ip(&["link", "set", &k.name, "up"])?;
        println!(
            "port {} kernel interface {} ({}) mac {} addresses [{}] budget {}/s{}",
            loaded.config.ports[i].name,
            k.name,
            match k.driver {
                KernelDriver::Tap => "net_tap",
                KernelDriver::VirtioUser => "virtio_user",
            },
            MacAddr(mac),
            k.addresses
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            k.budget,
            if k.unmatched {
                ", unmatched traffic too"
            } else {
                ""
            },
        );
        started.push(port);
    }
    Ok(started)
}

/// Runs `ip ARGS` (iproute2) at start; fails with its message.
fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        anyhow!(
            "running `ip {}`: {e} (is iproute2 installed?)",
            args.join(" ")
        )
    })?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
