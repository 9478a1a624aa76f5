use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<LoadedConfig, ConfigErrors> {
    Config::parse(Path::new("test.toml"), text.to_owned())
}

fn only_error(text: &str) -> ConfigError {
    let errs = parse(text).expect_err("config should be refused").0;
    assert_eq!(errs.len(), 1, "expected one error, got {errs:?}");
    errs.into_iter().next().expect("one error")
}

const TWO_PORTS: &str = r#"
[eal]
args = ["--no-huge", "--no-pci"]

[[port]]
name = "a"
device = "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap"

[[port]]
name = "b"
device = "net_null0"
rx_desc = 512
"#;

#[test]
fn a_minimal_config_gets_the_documented_defaults() {
    let cfg = parse(TWO_PORTS).expect("valid").config;
    assert_eq!(cfg.ports.len(), 2);
    assert_eq!(cfg.ports[0].rx_desc, 1024);
    assert_eq!(cfg.ports[1].rx_desc, 512);
    assert!(cfg.ports[0].promiscuous);
    assert_eq!(cfg.workers.cores, vec![1]);
    assert_eq!(cfg.forward.mode, ForwardMode::Io);
    assert_eq!(cfg.forward.topology, Topology::Paired);
    assert_eq!(cfg.eal.main_lcore, 0);
    assert!(cfg.mbufs_needed() >= 2 * (1024 + 1024 + 512 + 1024));
    assert_eq!(cfg.largest_frame(), 1526, "1500 + 14 + 2 VLAN tags + CRC");
}

#[test]
fn the_largest_frame_follows_the_largest_port_mtu() {
    let text = TWO_PORTS.replacen("rx_desc = 512", "rx_desc = 512\nmtu = 9000", 1);
    let cfg = parse(&text).expect("valid").config;
    assert_eq!((cfg.ports[0].mtu, cfg.ports[1].mtu), (1500, 9000));
    assert_eq!(cfg.largest_frame(), 9026);
}

#[test]
fn devices_are_told_apart_and_named_as_dpdk_names_them() {
    let port = |device: &str| PortConfig {
        name: "p".into(),
        device: device.into(),
        rx_desc: 1,
        tx_desc: 1,
        promiscuous: true,
        mac: None,
        mtu: 1500,
        kernel: None,
        bond: None,
    };
    assert_eq!(
        port("0000:3B:00.1").device_kind(),
        Device::Pci {
            address: "0000:3b:00.1".into()
        }
    );
    assert_eq!(
        port("3b:00.0,rxq_cqe_comp_en=0").device_kind(),
        Device::Pci {
            address: "0000:3b:00.0".into()
        }
    );
    assert_eq!(
        port("net_pcap3,rx_pcap=a.pcap").device_kind(),
        Device::Vdev {
            name: "net_pcap3".into()
        }
    );
    assert_eq!(
        port("3b:00.9").device_kind(),
        Device::Vdev {
            name: "3b:00.9".into()
        }
    );
}

#[test]
fn bad_toml_names_the_line() {
    let e = only_error("[[port]]\nname = \"a\"\ndevice = \n");
    assert_eq!(e.file, Path::new("test.toml"));
    assert_eq!(e.line, Some(3));
    assert!(e.to_string().starts_with("test.toml:3: "), "{e}");
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let text = TWO_PORTS.replace("rx_desc = 512", "rx_descs = 512");
    let e = only_error(&text);
    assert_eq!(e.line, Some(12));
    assert_eq!(e.key.as_deref(), Some("port[1].rx_descs"));
    assert!(e.message.contains("unknown field `rx_descs`"), "{e}");
}

#[test]
fn a_wrong_type_is_named_with_its_key() {
    let e = only_error("[workers]\ncores = \"1\"\n");
    assert_eq!(e.line, Some(2));
    assert_eq!(e.key.as_deref(), Some("workers.cores"));
}

#[test]
fn a_missing_required_key_names_its_table() {
    // `device` may be left out only for a bond.
    let e = only_error("[[port]]\nname = \"a\"\n[forward]\ntopology = \"loop\"\n");
    assert_eq!(e.line, Some(1));
    assert_eq!(e.key.as_deref(), Some("port[0].device"));
    assert!(
        e.message.contains("device is empty") && e.message.contains("bond"),
        "{e}"
    );
    let e = only_error("[[port]]\ndevice = \"net_null0\"\n[forward]\ntopology = \"loop\"\n");
    assert_eq!(e.line, Some(1));
    assert!(e.message.contains("missing field `name`"), "{e}");
}

#[test]
fn no_ports_is_refused() {
    let e = only_error("[workers]\ncores = [1]\n");
    assert_eq!(e.key.as_deref(), Some("port"));
    assert!(e.message.contains("at least one [[port]]"), "{e}");
}

#[test]
fn every_validation_problem_is_reported_with_its_line() {
    let text = r#"
[eal]
args = ["--no-pci"]

[[port]]
name = "a"
device = "0000:3b:00.0"

[[port]]
name = "a"
device = "net_null0"
tx_desc = 0

[workers]
cores = [1, 2, 1]

[forward]
topology = "paired"

[mempool]
mbufs = 10
"#;
    let errs = parse(text).expect_err("invalid").0;
    let found: Vec<(Option<usize>, Option<&str>)> =
        errs.iter().map(|e| (e.line, e.key.as_deref())).collect();
    assert_eq!(
        found,
        vec![
            (Some(7), Some("port[0].device")),
            (Some(10), Some("port[1].name")),
            (Some(12), Some("port[1].tx_desc")),
            (Some(15), Some("workers.cores[2]")),
            (Some(21), Some("mempool.mbufs")),
        ],
        "{errs:?}"
    );
}

#[test]
fn paired_topology_needs_an_even_port_count() {
    let text =
        "[[port]]\nname = \"a\"\ndevice = \"net_null0\"\n\n[forward]\ntopology = \"paired\"\n";
    let e = only_error(text);
    assert_eq!(e.line, Some(6));
    assert_eq!(e.key.as_deref(), Some("forward.topology"));
    assert!(parse(&text.replace("paired", "chained")).is_ok());
}

#[test]
fn appliance_checks_can_point_into_the_file() {
    let loaded = parse(TWO_PORTS).expect("valid");
    let e = loaded.error_at("port[1].device", "did not probe");
    assert_eq!(e.line, Some(11));
    assert_eq!(e.to_string(), "test.toml:11: port[1].device: did not probe");
    let e = loaded.error_at("workers.cores[0]", "no such core");
    assert_eq!(e.line, None, "workers is not written in the file");
    assert_eq!(e.to_string(), "test.toml: workers.cores[0]: no such core");
}

#[test]
fn key_paths_round_trip_through_text() {
    for s in ["port", "port[3].device", "workers.cores[10]", "a.b.c"] {
        assert_eq!(KeyPath::parse(s).to_string(), s);
    }
}

#[test]
fn a_shared_core_needs_shared_cores_and_steering_defaults_to_auto() {
    let base = "[[port]]\nname = \"a\"\ndevice = \"net_null0\"\n\n[forward]\ntopology = \"loop\"\n\n[workers]\ncores = [1, 1]\n";
    let e = only_error(base);
    assert_eq!(e.key.as_deref(), Some("workers.cores[1]"));
    assert!(e.message.contains("shared_cores = true"), "{e}");
    let cfg = parse(&format!("{base}shared_cores = true\n")).expect("shared cores allowed");
    assert_eq!(cfg.config.workers.cores, vec![1, 1]);
    assert_eq!(cfg.config.workers.steering, super::Steering::Auto);
    let off = parse(&format!("{base}shared_cores = true\nsteering = \"off\"\n")).expect("valid");
    assert_eq!(off.config.workers.steering, super::Steering::Off);
    let e = only_error(&format!(
        "{base}shared_cores = true\nsteering = \"rings\"\n"
    ));
    assert_eq!(e.key.as_deref(), Some("workers.steering"));
}
