//! Start-up failures: each must end with one clear message naming the
//! problem (file, line and key where there is one), a non-zero exit, and no
//! workers started.

mod common;

use common::{run_ferrolb, test_eal_args, write_config};

struct Failure {
    code: i32,
    stdout: String,
    stderr: String,
}

fn fails(config_text: &str) -> Failure {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(dir.path(), "ferrolb.toml", config_text);
    let out = run_ferrolb(&path, &["--exit-when-idle", "100"]);
    let f = Failure {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_ne!(
        f.code, 0,
        "ferrolb should have failed:\n{}\n{}",
        f.stdout, f.stderr
    );
    assert!(
        !f.stdout.contains("rx-packets"),
        "no worker may have run:\n{}",
        f.stdout
    );
    f
}

fn pcap_port(dir: &std::path::Path) -> String {
    let rx = dir.join("in.pcap");
    common::pcap::write(&rx, &common::frames::mixed_traffic(5, 1));
    format!(
        "[[port]]\nname = \"p0\"\ndevice = \"net_pcap0,rx_pcap={},tx_pcap={}\"\n",
        rx.display(),
        dir.join("out.pcap").display()
    )
}

#[test]
fn bad_toml_is_refused_with_file_and_line() {
    // A bare word where a value belongs, on line 5.
    let f = fails("[eal]\nargs = [\"--no-huge\"]\n\n[[port]]\nname = p0\n");
    assert_eq!(f.code, 2);
    assert!(f.stderr.contains("ferrolb.toml:5: "), "{}", f.stderr);
    assert!(f.stderr.contains("invalid config"), "{}", f.stderr);
}

#[test]
fn an_unknown_key_is_named() {
    let f = fails("[[port]]\nname = \"p0\"\ndevice = \"net_null0\"\nspeed = 100\n");
    assert_eq!(f.code, 2);
    assert!(
        f.stderr
            .contains("ferrolb.toml:4: port[0].speed: unknown field `speed`"),
        "{}",
        f.stderr
    );
}

#[test]
fn a_config_without_ports_is_refused() {
    let f = fails(&format!(
        "[eal]\n{}\n[workers]\ncores = [1]\n",
        test_eal_args("noports")
    ));
    assert_eq!(f.code, 2);
    assert!(f.stderr.contains("port: no ports"), "{}", f.stderr);
}

#[test]
fn a_missing_config_file_is_named() {
    let out = run_ferrolb(std::path::Path::new("/nonexistent/ferrolb.toml"), &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/ferrolb.toml: cannot read the config file"),
        "{stderr}"
    );
}

#[test]
fn a_vdev_that_fails_to_probe_names_the_port_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = format!(
        "[eal]\n{}\n\n[[port]]\nname = \"ghost\"\ndevice = \"net_pcap0,rx_pcap={}/missing.pcap,tx_pcap={}/o.pcap\"\n\n[forward]\ntopology = \"loop\"\n",
        test_eal_args("probe"),
        dir.path().display(),
        dir.path().display()
    );
    let f = fails(&text);
    assert_eq!(f.code, 1);
    let line = line_of(&text, "device = ");
    assert!(
        f.stderr.contains(&format!(
            "ferrolb.toml:{line}: port[0].device: device net_pcap0 did not probe"
        )),
        "{}",
        f.stderr
    );
    assert!(f.stderr.contains("\"ghost\""), "{}", f.stderr);
}

#[test]
fn eal_init_failure_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = format!(
        "[eal]\nargs = [\"--no-huge\", \"--no-pci\", \"--no-shconf\", \"--definitely-not-an-eal-flag\"]\n\n{}\n[forward]\ntopology = \"loop\"\n",
        pcap_port(dir.path())
    );
    let f = fails(&text);
    assert_eq!(f.code, 1);
    assert!(
        f.stderr
            .contains("ferrolb: EAL initialisation failed: rte_eal_init: Invalid argument"),
        "{}",
        f.stderr
    );
}

#[test]
fn a_worker_core_this_machine_lacks_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = format!(
        "[eal]\n{}\n\n{}\n[workers]\ncores = [4095]\n\n[forward]\ntopology = \"loop\"\n",
        test_eal_args("core"),
        pcap_port(dir.path())
    );
    let f = fails(&text);
    let line = line_of(&text, "cores = [4095]");
    assert!(
        f.stderr.contains(&format!(
            "ferrolb.toml:{line}: workers.cores[0]: core 4095 is not available"
        )),
        "{}",
        f.stderr
    );
    assert!(
        !f.stdout.contains("EAL arguments"),
        "checked before DPDK starts"
    );
}

#[test]
fn check_validates_without_starting_dpdk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(
        dir.path(),
        "ok.toml",
        "[[port]]\nname = \"a\"\ndevice = \"net_null0\"\n[[port]]\nname = \"b\"\ndevice = \"net_null1\"\n",
    );
    let out = run_ferrolb(&path, &["--check"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ok.toml is valid"), "{stdout}");
    assert!(!stdout.contains("EAL"), "{stdout}");
}

/// The 1-based line of `text` that starts with `start`.
fn line_of(text: &str, start: &str) -> usize {
    1 + text
        .lines()
        .position(|l| l.starts_with(start))
        .expect("the line is in the config")
}

#[test]
fn a_virtio_user_kernel_interface_without_vhost_net_names_the_key() {
    if std::path::Path::new("/dev/vhost-net").exists() {
        // This host has vhost-net: the check has nothing to refuse here.
        eprintln!("/dev/vhost-net exists: the refusal cannot be shown on this host");
        return;
    }
    let text = format!(
        "[eal]\n{}\n\n[[port]]\nname = \"p0\"\ndevice = \"net_null0\"\n\
         kernel = {{ name = \"flb0\", driver = \"virtio_user\" }}\n\n\
         [[interface]]\nport = \"p0\"\naddresses = [\"10.0.0.1/24\"]\n",
        test_eal_args("vhost"),
    );
    let f = fails(&text);
    assert_eq!(f.code, 1);
    let line = line_of(&text, "kernel = ");
    assert!(
        f.stderr.contains(&format!(
            "ferrolb.toml:{line}: port[0].kernel.driver: kernel interface \"flb0\" needs \
             /dev/vhost-net, which does not exist"
        )),
        "{}",
        f.stderr
    );
    assert!(
        !f.stdout.contains("EAL arguments"),
        "refused before DPDK starts"
    );
}

/// A one-port L2 forwarding config on `device` with `port_keys`.
fn one_port(tag: &str, device: &str, port_keys: &str) -> String {
    format!(
        "[eal]\n{}\n\n[[port]]\nname = \"p0\"\ndevice = \"{device}\"\n{port_keys}\n\n\
         [forward]\ntopology = \"loop\"\n",
        test_eal_args(tag),
    )
}

#[test]
fn a_mac_the_device_refuses_is_refused_when_the_port_filters_by_mac() {
    // net_ring cannot change its MAC.
    let text = one_port(
        "macf",
        "net_ring0",
        "promiscuous = false\nmac = \"02:00:00:00:77:01\"",
    );
    let f = fails(&text);
    assert_eq!(f.code, 1);
    let line = line_of(&text, "mac = ");
    assert!(
        f.stderr.contains(&format!(
            "ferrolb.toml:{line}: port[0].mac: the device does not take MAC 02:00:00:00:77:01"
        )) && f.stderr.contains("set promiscuous = true"),
        "{}",
        f.stderr
    );
}

#[test]
fn a_promiscuous_port_keeps_the_devices_mac_and_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = one_port("macp", "net_ring0", "mac = \"02:00:00:00:77:01\"");
    let path = write_config(dir.path(), "ferrolb.toml", &text);
    let out = run_ferrolb(&path, &["--exit-when-idle", "100"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("note: port p0: MAC 02:00:00:00:77:01 is not the device's")
            && stdout.contains("the port is promiscuous"),
        "{stdout}"
    );
}
