//! Start-up checks that need a real Linux interface: a `net_af_packet`
//! port over a veth with offloads on gets a warning naming the offloads
//! and the `ethtool -K` line that fixes them; with them off, none. A port
//! `mtu` is set on the Linux interface under `net_af_packet` and
//! `net_af_xdp`, and one the device cannot take stops the start naming the
//! key and the device's range. Needs root (a network namespace); fails,
//! never skips, without it.

mod common;

use std::process::{Command, Output};

use common::{ferrolb_bin, test_eal_args, write_config};

struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn ok(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_in(ns: &str, config: &std::path::Path) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns, "timeout", "--signal=KILL", "60"])
        .arg(ferrolb_bin())
        .arg("-c")
        .arg(config)
        .args(["--exit-when-idle", "100"])
        .output()
        .expect("run ferrolb")
}

/// A namespace `flbTAG<pid>` with a veth pair v0-v1, both up.
fn veth_namespace(tag: &str) -> Namespace {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "e2e_preflight needs root: it builds a network namespace (run scripts/test.sh as root)"
    );
    let ns = Namespace(format!("flb{tag}{}", std::process::id()));
    let _ = Command::new("ip").args(["netns", "del", &ns.0]).output();
    ok(&["ip", "netns", "add", &ns.0]);
    ok(&[
        "ip", "-n", &ns.0, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
    ]);
    for dev in ["v0", "v1"] {
        ok(&["ip", "-n", &ns.0, "link", "set", dev, "up"]);
    }
    ns
}

#[test]
fn a_packet_socket_port_with_offloads_on_is_warned_about() {
    let ns = veth_namespace("pf");
    ok(&[
        "ip", "netns", "exec", &ns.0, "ethtool", "-K", "v0", "tx", "on", "gso", "on",
    ]);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(
        dir.path(),
        "ferrolb.toml",
        &format!(
            "[eal]\n{}\n\n[[port]]\nname = \"p0\"\ndevice = \"net_af_packet0,iface=v0\"\n\n\
             [forward]\ntopology = \"loop\"\n",
            test_eal_args("preflight")
        ),
    );
    let out = run_in(&ns.0, &config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let warning = stdout
        .lines()
        .find(|l| l.starts_with("warning: port p0: interface v0 has "))
        .unwrap_or_else(|| panic!("no offload warning:\n{stdout}"));
    assert!(
        warning.contains("tx-checksumming") && warning.contains("generic-segmentation-offload"),
        "{warning}"
    );
    assert!(warning.contains("ethtool -K v0 tx off"), "{warning}");

    ok(&[
        "ip", "netns", "exec", &ns.0, "ethtool", "-K", "v0", "tx", "off", "tso", "off", "gso",
        "off", "gro", "off",
    ]);
    let out = run_in(&ns.0, &config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        !stdout.contains("warning: port p0"),
        "offloads off: no warning\n{stdout}"
    );
}

/// An L2-forwarding config with one port on `device` and `mtu`.
fn mtu_config(dir: &std::path::Path, tag: &str, device: &str, mtu: u16) -> std::path::PathBuf {
    write_config(
        dir,
        "ferrolb.toml",
        &format!(
            "[eal]\n{}\n\n[[port]]\nname = \"p0\"\ndevice = \"{device}\"\nmtu = {mtu}\n\n\
             [forward]\ntopology = \"loop\"\n",
            test_eal_args(tag)
        ),
    )
}

/// v0's MTU as Linux reports it.
fn linux_mtu(ns: &str) -> u16 {
    let out = Command::new("ip")
        .args(["-n", ns, "-o", "link", "show", "v0"])
        .output()
        .expect("ip link");
    let text = String::from_utf8_lossy(&out.stdout);
    let mtu = text
        .split_whitespace()
        .skip_while(|w| *w != "mtu")
        .nth(1)
        .unwrap_or_else(|| panic!("no mtu in {text}"));
    mtu.parse().expect("a number")
}

#[test]
fn the_port_mtu_is_set_on_the_linux_interface_or_refused_with_the_devices_range() {
    let ns = veth_namespace("mtu");
    let dir = tempfile::tempdir().expect("temp dir");
    // (device, the largest MTU it takes, the refusal of one more): DPDK
    // 22.11's net_af_packet reports frames of 1518 bytes at most and
    // ethdev's smallest MTU (a 64-byte frame less header and CRC);
    // net_af_xdp reports 68..=3542 (a 4 KB umem frame), and with the
    // mbufs as its umem frames the config allows 3494 at most
    // (`AF_XDP_MAX_MTU`).
    for (device, fits, refusal) in [
        (
            "net_af_packet0,iface=v0",
            1500,
            "port p0: the device (net_af_packet0,iface=v0) takes MTUs 46..=1500, not 1501",
        ),
        (
            "net_af_xdp0,iface=v0",
            3494,
            "MTU 3495: with a net_af_xdp port (\"p0\") every port's MTU must be at most 3494",
        ),
    ] {
        let over = fits + 1;
        // Another MTU first, so the one under test is seen to be set.
        ok(&["ip", "-n", &ns.0, "link", "set", "v0", "mtu", "1400"]);
        let config = mtu_config(dir.path(), "mtu", device, fits);
        let out = run_in(&ns.0, &config);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{device}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("mtu {fits} (set on the device)")),
            "{device}: {stdout}"
        );
        assert_eq!(
            linux_mtu(&ns.0),
            fits,
            "{device}: v0's MTU follows the port"
        );

        let config = mtu_config(dir.path(), "mtu", device, over);
        let text = std::fs::read_to_string(&config).expect("config");
        let line = 1 + text
            .lines()
            .position(|l| l.starts_with("mtu = "))
            .expect("mtu line");
        let out = run_in(&ns.0, &config);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{device}: mtu {over} must be refused"
        );
        assert!(
            stderr.contains(&format!("ferrolb.toml:{line}: port[0].mtu: {refusal}")),
            "{device}: {stderr}"
        );
        assert_eq!(
            linux_mtu(&ns.0),
            fits,
            "{device}: refused before any change"
        );
    }
}
