//! Start-up checks that need a real Linux interface: a `net_af_packet`
//! port over a veth with offloads on gets a warning naming the offloads
//! and the `ethtool -K` line that fixes them; with them off, none. Needs
//! root (a network namespace); fails, never skips, without it.

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

#[test]
fn a_packet_socket_port_with_offloads_on_is_warned_about() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "e2e_preflight needs root: it builds a network namespace (run scripts/test.sh as root)"
    );
    let ns = Namespace(format!("flbpf{}", std::process::id()));
    let _ = Command::new("ip").args(["netns", "del", &ns.0]).output();
    ok(&["ip", "netns", "add", &ns.0]);
    ok(&[
        "ip", "-n", &ns.0, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
    ]);
    for dev in ["v0", "v1"] {
        ok(&["ip", "-n", &ns.0, "link", "set", dev, "up"]);
    }
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
