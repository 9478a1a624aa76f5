//! Checks on a parsed config that serde cannot express. Each problem names
//! the key it is about; all problems are reported at once.

use std::collections::HashMap;

use super::{
    validate_addr, validate_check, validate_control, validate_lb, Config, ConfigError,
    ConfigErrors, ConfigSource, Device, KeyPath, Topology, AF_XDP_MAX_MTU,
};

/// Most RX/TX descriptors a queue may ask for (DPDK's drivers top out at
/// 4096-32768; the device's own limit is applied at start).
const MAX_DESC: u16 = 32768;

/// The IP MTU range a port may have: IPv4's minimum to a common jumbo frame.
const MTU_RANGE: std::ops::RangeInclusive<u16> = 68..=9216;

pub(super) fn validate(config: &Config, source: &ConfigSource) -> Result<(), ConfigErrors> {
    let mut errors = Vec::new();
    let mut err = |path: KeyPath, msg: String| errors.push(source.error_at(&path, msg));
    let root = KeyPath::root();

    if config.ports.is_empty() {
        err(
            root.key("port"),
            "no ports: add at least one [[port]] table with a name and a device".into(),
        );
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut devices: HashMap<String, usize> = HashMap::new();
    let no_pci = config.eal.args.iter().any(|a| a == "--no-pci");
    let af_xdp = config.ports.iter().find(|p| p.is_af_xdp());
    for (i, port) in config.ports.iter().enumerate() {
        let at = root.key("port").index(i);
        let name = port.name.as_str();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            err(
                at.key("name"),
                format!("port name {name:?} must be non-empty letters, digits, '-' or '_'"),
            );
        } else if let Some(first) = names.insert(name, i) {
            err(
                at.key("name"),
                format!("port name {name:?} is already used by port[{first}]"),
            );
        }
        let kind = port.device_kind();
        let dpdk_name = match &kind {
            Device::Pci { address } => address.clone(),
            Device::Vdev { name } => name.clone(),
        };
        if port.bond.is_some() && !port.device.is_empty() {
            err(
                at.key("device"),
                "a bond port has no device of its own: its devices are bond.members; \
                 remove device"
                    .into(),
            );
        } else if dpdk_name.is_empty() {
            err(
                at.key("device"),
                "device is empty: give a PCI address or vdev devargs, or a bond".into(),
            );
        } else if let Some(first) = devices.insert(dpdk_name.clone(), i) {
            err(
                at.key("device"),
                format!("device {dpdk_name:?} is already used by port[{first}]"),
            );
        }
        if matches!(kind, Device::Pci { .. }) && no_pci {
            err(
                at.key("device"),
                format!(
                    "{dpdk_name} is a PCI device but eal.args contain --no-pci; remove one of them"
                ),
            );
        }
        for (key, n) in [("rx_desc", port.rx_desc), ("tx_desc", port.tx_desc)] {
            if n == 0 || n > MAX_DESC {
                err(
                    at.key(key),
                    format!("{n} descriptors: must be 1..={MAX_DESC}"),
                );
            }
        }
        if let Some(mac) = port.mac {
            if mac.is_zero() {
                err(
                    at.key("mac"),
                    format!("{mac} is not a usable MAC; leave mac out to use the device's"),
                );
            } else if mac.is_multicast() {
                err(
                    at.key("mac"),
                    format!(
                        "{mac} is a multicast address (lowest bit of the first byte set); \
                         a port's MAC must be unicast, like 02:00:00:00:00:01"
                    ),
                );
            }
        }
        if !MTU_RANGE.contains(&port.mtu) {
            err(
                at.key("mtu"),
                format!(
                    "MTU {}: must be {}..={}",
                    port.mtu,
                    MTU_RANGE.start(),
                    MTU_RANGE.end()
                ),
            );
        } else if let Some(xdp) = af_xdp.filter(|_| port.mtu > AF_XDP_MAX_MTU) {
            err(
                at.key("mtu"),
                format!(
                    "MTU {}: with a net_af_xdp port ({:?}) every port's MTU must be at most \
                     {AF_XDP_MAX_MTU}: af_xdp receives into the mbufs, one 4 KB umem frame each, \
                     and the mbufs are sized for the largest MTU",
                    port.mtu, xdp.name
                ),
            );
        }
    }

    super::bond::validate(config, source, &devices, &mut errors);
    let mut err = |path: KeyPath, msg: String| errors.push(source.error_at(&path, msg));

    let cores = &config.workers.cores;
    if cores.is_empty() {
        err(
            root.key("workers").key("cores"),
            "no worker cores: list at least one core".into(),
        );
    }
    let mut seen: HashMap<usize, usize> = HashMap::new();
    for (i, &core) in cores.iter().enumerate() {
        if let Some(first) = seen.insert(core, i) {
            if config.workers.shared_cores {
                continue;
            }
            err(
                root.key("workers").key("cores").index(i),
                format!(
                    "core {core} is listed twice (also workers.cores[{first}]); \
                     set shared_cores = true to let workers take turns on a core"
                ),
            );
        }
    }
    if cores.len() > usize::from(u16::MAX) {
        err(root.key("workers").key("cores"), "too many workers".into());
    }

    if let Some(mbufs) = config.mempool.mbufs {
        let workers = cores.len().max(1) as u64;
        let minimum: u64 = config
            .ports
            .iter()
            .map(|p| (u64::from(p.rx_desc) * u64::from(p.device_count()) + 32) * workers)
            .sum();
        if u64::from(mbufs) < minimum {
            err(
                root.key("mempool").key("mbufs"),
                format!(
                    "{mbufs} mbufs cannot fill the RX rings ({minimum} needed); \
                     raise it or leave it out to size the pool automatically"
                ),
            );
        }
    }

    if config.runs_pipeline() {
        if source.has_key(&root.key("forward")) {
            err(
                root.key("forward"),
                "[forward] is only for L2 forwarding without interfaces; this config has \
                 [[interface]] tables and runs the load-balancing pipeline, so remove [forward]"
                    .into(),
            );
        }
    } else if config.forward.topology == Topology::Paired && config.ports.len() % 2 == 1 {
        err(
            root.key("forward").key("topology"),
            format!(
                "\"paired\" needs an even number of ports, there are {}; use \"chained\" or \"loop\"",
                config.ports.len()
            ),
        );
    }

    validate_lb::validate(config, source, &mut errors);
    validate_addr::validate(config, source, &mut errors);
    validate_check::validate(config, source, &mut errors);
    validate_control::validate(config, source, &mut errors);
    super::bgp::validate(config, source, &mut errors);
    super::kernel::validate(config, source, &mut errors);
    super::sync::validate(config, source, &mut errors);
    super::vrrp::validate(config, source, &mut errors);

    errors.sort_by_key(|e: &ConfigError| e.line.unwrap_or(usize::MAX));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}
