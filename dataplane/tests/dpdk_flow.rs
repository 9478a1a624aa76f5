//! rte_flow steering of local-port replies against real DPDK virtual
//! devices: what each one answers to our rules, that a refusal is a clean
//! error naming DPDK's reason, and that a refused install leaves the port
//! working (nothing half-installed).
//!
//! Needs root (net_tap creates a kernel interface, net_af_packet needs a
//! veth pair). One test function: the EAL lives once per process.

use std::net::{Ipv4Addr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use dataplane::buf::{HwChecksum, PacketBuf};
use dataplane::dpdk::{
    DpdkError, DpdkIo, Eal, EalArgs, LocalPortSteering, Mempool, Port, PortConfig, PortSplit,
    SteerTarget,
};
use dataplane::io::{Burst, PacketIo};
use dataplane::laddr::owner_mask;

const ENOSYS: i32 = 38;
const EINVAL: i32 = 22;
const ENOTSUP: i32 = 95;

/// The kernel side of the tap port and the local address behind it.
const KERNEL_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const LOCAL_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes the veth pair at the end, however the test ends.
struct Veth(String);

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

fn effective_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .expect("Uid line")
}

#[test]
fn rte_flow_steering_on_virtual_devices() {
    assert_eq!(
        effective_uid(),
        0,
        "dpdk_flow needs root: net_tap creates a kernel interface and net_af_packet a veth \
         pair; run it as root (CI does)"
    );
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("ferrolb-dpdk-flow-{pid}"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // An empty pcap file (global header only) for net_pcap's RX queues.
    let empty = dir.join("empty.pcap");
    let mut header = Vec::new();
    for (v, n) in [
        (0xa1b2_c3d4u32, 4),
        (2, 2),
        (4, 2),
        (0, 4),
        (0, 4),
        (65535, 4),
        (1, 4),
    ] {
        header.extend_from_slice(&v.to_le_bytes()[..n]);
    }
    std::fs::write(&empty, header).expect("write pcap");
    let (e, o) = (empty.display(), dir.display());

    let veth = Veth(format!("flw{pid}a"));
    let peer = format!("flw{pid}b");
    ip(&[
        "link", "add", &veth.0, "type", "veth", "peer", "name", &peer,
    ]);
    ip(&["link", "set", &veth.0, "up"]);
    ip(&["link", "set", &peer, "up"]);
    let tap = format!("ftap{pid}");

    let prefix = format!("ferrolb-dpdk-flow-{pid}");
    let args = EalArgs::new()
        .args(["--no-huge", "-m", "256", "--no-pci", "--no-shconf"])
        .args(["--no-telemetry", "--file-prefix", prefix.as_str()])
        .args(["-l", "0", "--log-level", "*:warning"])
        .vdev(&format!(
            "net_pcap0,rx_pcap={e},rx_pcap={e},tx_pcap={o}/o0.pcap,tx_pcap={o}/o1.pcap"
        ))
        .vdev("net_null0")
        .vdev("net_ring0")
        .vdev(&format!("net_af_packet0,iface={},qpairs=2", veth.0))
        .vdev(&format!("net_tap0,iface={tap}"));
    let eal = Eal::init(&args).expect("EAL init");
    let pool = Mempool::new_pktmbuf(&eal, "flow_pool", 4095, 0, 1526).expect("mempool");
    let config = PortConfig {
        queues: 2,
        rx_desc: 256,
        tx_desc: 256,
        promiscuous: true,
        mtu: None,
        all_multicast: false,
    };
    let targets = [
        SteerTarget {
            addr: LOCAL_ADDR,
            vlan: None,
        },
        SteerTarget {
            addr: LOCAL_ADDR,
            vlan: Some(7),
        },
    ];

    for device in ["net_pcap0", "net_null0", "net_ring0", "net_af_packet0"] {
        let id = Port::find(&eal, device).unwrap_or_else(|| panic!("{device} probed"));
        let port = Port::start(&eal, id, device, &config, &pool).expect("start port");
        let err = refused(&port, &targets);
        // No flow ops at all: the first validation fails and nothing is made.
        assert_eq!(err.errno, ENOSYS, "{device}: {err}");
        assert!(
            err.context.starts_with(&format!(
                "port {device}: rte_flow_validate (eth / ipv4 dst {LOCAL_ADDR} / tcp dst spec 0 \
                 mask 0x1 -> queue 0)"
            )),
            "{device}: {err}"
        );
        println!("{device}: {err}");
        nothing_to_do_is_not_an_error(&port, &targets);
    }

    // net_tap validates our rule (its validation ignores masks), then
    // refuses to create it: TC flower as the driver uses it matches exact
    // ports only. This holds whatever the kernel supports, as the driver
    // refuses before it talks to the kernel.
    let id = Port::find(&eal, "net_tap0").expect("net_tap0 probed");
    let port = Port::start(&eal, id, "tap", &config, &pool).expect("start tap port");
    let err = refused(&port, &targets);
    assert_eq!(err.errno, ENOTSUP, "{err}");
    assert_eq!(
        err.context,
        format!(
            "port tap: rte_flow_create (eth / ipv4 dst {LOCAL_ADDR} / tcp dst spec 0 mask 0x1 \
             -> queue 0): item not supported"
        ),
        "{err}"
    );
    println!("net_tap: {err}");
    nothing_to_do_is_not_an_error(&port, &targets);
    tap_still_receives(&port, &pool, &tap);
    drop(port);

    assert_eq!(pool.available(), pool.size(), "every mbuf back in the pool");
    let _ = std::fs::remove_dir_all(&dir);
}

/// How the appliance splits local ports between `workers` workers.
fn split(workers: u16) -> PortSplit {
    PortSplit {
        workers,
        mask: owner_mask(usize::from(workers)),
    }
}

/// Installing on `port` fails; more workers than queues, or a mask that
/// cannot tell the workers apart, is refused before DPDK is asked.
fn refused(port: &Port<'_>, targets: &[SteerTarget]) -> DpdkError {
    let too_many =
        LocalPortSteering::install(port, targets, split(3)).expect_err("3 workers, 2 queues");
    assert_eq!(too_many.errno, EINVAL, "{too_many}");
    let blind = PortSplit {
        workers: 2,
        mask: 0,
    };
    let blind = LocalPortSteering::install(port, targets, blind).expect_err("mask 0, 2 workers");
    assert_eq!(blind.errno, EINVAL, "{blind}");
    LocalPortSteering::install(port, targets, split(2)).expect_err("no device here takes the rules")
}

/// One worker or no addresses: nothing to steer, so no rules and no error
/// even where the device has no rte_flow.
fn nothing_to_do_is_not_an_error(port: &Port<'_>, targets: &[SteerTarget]) {
    let one = LocalPortSteering::install(port, targets, split(1)).expect("one worker");
    assert_eq!(one.rules(), 0);
    let none = LocalPortSteering::install(port, &[], split(2)).expect("no targets");
    assert_eq!(none.rules(), 0);
}

/// UDP from a kernel socket to the local address arrives on the tap port's
/// queues after the refused install: the port works, nothing was left
/// half-installed; and the NIC's IPv4 checksum verdict comes with it. Prints which queue each reply landed on (without rules,
/// the kernel chooses).
fn tap_still_receives(port: &Port<'_>, pool: &Mempool, tap: &str) {
    assert!(
        port.checks_rx_ipv4_checksums(),
        "net_tap offers RX IPv4 checksums"
    );
    let mac = port.mac();
    let mac = mac.map(|b| format!("{b:02x}")).join(":");
    ip(&["addr", "add", &format!("{KERNEL_ADDR}/24"), "dev", tap]);
    ip(&["link", "set", tap, "up"]);
    ip(&[
        "neigh",
        "replace",
        &LOCAL_ADDR.to_string(),
        "lladdr",
        &mac,
        "dev",
        tap,
        "nud",
        "permanent",
    ]);
    let mut queues: Vec<DpdkIo<'_>> = port
        .take_queues()
        .expect("queues")
        .into_iter()
        .map(|q| DpdkIo::new(vec![q], pool))
        .collect();
    let socket = UdpSocket::bind((KERNEL_ADDR, 0)).expect("bind on the tap address");
    let ports: Vec<u16> = (40000..40008).collect();
    for &p in &ports {
        socket.send_to(b"reply", (LOCAL_ADDR, p)).expect("send");
    }
    let mut landed: Vec<(u16, usize)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while landed.len() < ports.len() && Instant::now() < deadline {
        for (q, io) in queues.iter_mut().enumerate() {
            let mut burst: Burst<_> = Burst::new();
            io.rx_burst(0, &mut burst);
            for m in burst.iter() {
                if let Some(p) = udp_to_local(m.data()) {
                    // net_tap checks IPv4 header checksums on receive, and
                    // Port::start turned that on: the kernel's datagrams
                    // arrive vouched for.
                    assert_eq!(m.rx_ipv4_checksum(), HwChecksum::Good, "port {p}");
                    landed.push((p, q));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    landed.sort_unstable();
    let got: Vec<u16> = landed.iter().map(|&(p, _)| p).collect();
    assert_eq!(got, ports, "every datagram reaches the DPDK port once");
    println!("net_tap without rules, (dst port, queue): {landed:?}");
}

/// The UDP destination port of an untagged IPv4/UDP frame to LOCAL_ADDR.
fn udp_to_local(frame: &[u8]) -> Option<u16> {
    if frame.get(12..14)? != [0x08, 0x00] || *frame.get(23)? != 17 {
        return None;
    }
    if frame.get(30..34)? != LOCAL_ADDR.octets() {
        return None;
    }
    let l4 = 14 + usize::from(frame.get(14)? & 0x0f) * 4;
    Some(u16::from_be_bytes([
        *frame.get(l4 + 2)?,
        *frame.get(l4 + 3)?,
    ]))
}
