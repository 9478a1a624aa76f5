//! `[port.kernel]` and `[garp]`: parsing, defaults, and one test per
//! validation rule, each checking the key.

use std::path::Path;

use super::*;

/// A pipeline config with a VIP, a local address and a SNAT address;
/// `kernel` is the port's `kernel = {...}` line.
fn config(kernel: &str) -> String {
    format!(
        r#"[[port]]
name = "lan"
device = "net_null0"
{kernel}

[[interface]]
port = "lan"
addresses = ["10.0.0.1/24"]

[[service]]
vip = "192.0.2.10"
protocol = "tcp"
port = 80
mode = "fullnat"
local_addresses = ["10.0.0.100"]
also_listen = ["192.0.2.11:80"]

[[service.backend]]
address = "10.0.0.11"

[[snat]]
source = "10.0.1.0/24"
port = "lan"
addresses = ["203.0.113.1"]
"#
    )
}

fn parse(text: &str) -> Result<LoadedConfig, ConfigErrors> {
    Config::parse(Path::new("k.toml"), text.to_owned())
}

/// The keys of the errors of `text`.
fn refused_keys(text: &str) -> Vec<String> {
    parse(text)
        .expect_err("config should be refused")
        .0
        .into_iter()
        .map(|e| e.key.unwrap_or_default())
        .collect()
}

#[test]
fn a_kernel_interface_parses_with_its_defaults() {
    let loaded = parse(&config(
        r#"kernel = { name = "flb0", addresses = ["10.0.0.2/24"] }"#,
    ))
    .expect("valid");
    let k = loaded.config.ports[0].kernel.clone().expect("kernel");
    assert_eq!(k.name, "flb0");
    assert_eq!(k.driver, KernelDriver::Tap);
    assert_eq!(k.addresses[0].to_string(), "10.0.0.2/24");
    assert!(!k.unmatched);
    assert_eq!(k.budget, 20_000);
    assert_eq!(k.devargs(0), "net_tap_flb0,iface=flb0");
    assert_eq!(k.dpdk_name(3), "net_tap_flb3");
    assert_eq!(loaded.config.garp, GarpConfig::default());
    assert_eq!(loaded.config.garp.count, 3);

    let loaded = parse(&config(
        r#"kernel = { name = "flb0", driver = "virtio_user", unmatched = true, budget = 5 }"#,
    ))
    .expect("valid");
    let k = loaded.config.ports[0].kernel.clone().expect("kernel");
    assert_eq!(k.driver, KernelDriver::VirtioUser);
    assert!(k
        .devargs(1)
        .starts_with("virtio_user_flb1,path=/dev/vhost-net,iface=flb0"));
}

#[test]
fn kernel_addresses_must_be_the_hosts_own() {
    for (taken, what) in [
        ("10.0.0.1/24", "interface[0].addresses"),
        ("192.0.2.10/32", "service[0].vip"),
        ("192.0.2.11/32", "service[0].also_listen"),
        ("10.0.0.100/24", "service[0].local_addresses"),
        ("203.0.113.1/24", "snat[0].addresses"),
    ] {
        let text = config(&format!(
            r#"kernel = {{ name = "flb0", addresses = ["{taken}"] }}"#
        ));
        let errs = parse(&text).expect_err("refused").0;
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!(errs[0].key.as_deref(), Some("port[0].kernel.addresses[0]"));
        assert!(errs[0].message.contains(what), "{}", errs[0]);
    }
    assert_eq!(
        refused_keys(&config(
            r#"kernel = { name = "flb0", addresses = ["224.0.0.18/24"] }"#
        )),
        vec!["port[0].kernel.addresses[0]"]
    );
}

#[test]
fn kernel_names_budgets_and_garp_intervals_are_checked() {
    assert_eq!(
        refused_keys(&config(r#"kernel = { name = "a-name-longer-than-15" }"#)),
        vec!["port[0].kernel.name"]
    );
    assert_eq!(
        refused_keys(&config(r#"kernel = { name = "bad/name" }"#)),
        vec!["port[0].kernel.name"]
    );
    assert_eq!(
        refused_keys(&config(r#"kernel = { name = "flb0", budget = 0 }"#)),
        vec!["port[0].kernel.budget"]
    );
    assert_eq!(
        refused_keys(&format!(
            "{}\n[garp]\ncount = 2\ninterval_ms = 0\n",
            config("")
        )),
        vec!["garp.interval_ms"]
    );
    assert!(parse(&format!(
        "{}\n[garp]\ncount = 0\ninterval_ms = 0\n",
        config("")
    ))
    .is_ok());
    let unknown = parse(&config(r#"kernel = { name = "flb0", mtu = 9000 }"#));
    assert!(unknown.is_err(), "unknown keys are refused");
}

#[test]
fn two_ports_cannot_share_a_kernel_interface_name() {
    let text = format!(
        "{}\n[[port]]\nname = \"wan\"\ndevice = \"net_null1\"\nkernel = {{ name = \"flb0\" }}\n",
        config(r#"kernel = { name = "flb0" }"#)
    );
    assert_eq!(refused_keys(&text), vec!["port[1].kernel.name"]);
}

#[test]
fn l2_forwarding_configs_cannot_have_kernel_interfaces() {
    let text = "[[port]]\nname = \"a\"\ndevice = \"net_null0\"\nkernel = { name = \"flb0\" }\n\n[forward]\ntopology = \"loop\"\n";
    assert_eq!(refused_keys(text), vec!["port[0].kernel"]);
}
