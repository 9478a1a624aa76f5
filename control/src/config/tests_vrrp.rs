//! `[vrrp]`: parsing and one test per validation rule, each checking the key.

use std::path::Path;

use super::*;

/// A FULLNAT service with a kernel interface (`kernel`: the port's
/// `kernel = {...}` line, or nothing) and `vrrp` after it.
fn config(kernel: &str, vrrp: &str) -> String {
    format!(
        r#"[[port]]
name = "lan"
device = "net_null0"
{kernel}

[[interface]]
port = "lan"
addresses = ["10.0.0.21/24", "10.0.0.1/24"]

[[service]]
vip = "192.0.2.10"
protocol = "tcp"
port = 80
mode = "fullnat"
local_addresses = ["10.0.0.100"]

[[service.backend]]
address = "10.0.0.11"

{vrrp}
"#
    )
}

const KERNEL: &str = r#"kernel = { name = "flb0", addresses = ["10.0.0.2/24"] }"#;

fn parse(text: &str) -> Result<LoadedConfig, ConfigErrors> {
    Config::parse(Path::new("v.toml"), text.to_owned())
}

/// (key, message) of each error of `text`.
fn refused(text: &str) -> Vec<(String, String)> {
    parse(text)
        .expect_err("config should be refused")
        .0
        .into_iter()
        .map(|e| (e.key.unwrap_or_default(), e.message))
        .collect()
}

#[test]
fn vrrp_addresses_parse_and_are_optional() {
    let loaded = parse(&config(
        KERNEL,
        "[vrrp]\naddresses = [\"192.0.2.10\", \"10.0.0.1\", \"10.0.0.100\"]",
    ))
    .expect("valid");
    let v = loaded.config.vrrp.expect("vrrp");
    assert_eq!(
        v.addresses,
        ["192.0.2.10", "10.0.0.1", "10.0.0.100"].map(|a| a.parse::<std::net::Ipv4Addr>().unwrap())
    );
    assert!(parse(&config(KERNEL, ""))
        .expect("valid")
        .config
        .vrrp
        .is_none());
}

#[test]
fn an_address_that_is_not_the_load_balancers_is_refused() {
    let errors = refused(&config(KERNEL, "[vrrp]\naddresses = [\"10.0.9.9\"]"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "vrrp.addresses[0]");
    assert!(
        errors[0].1.contains("not one of the load balancer's"),
        "{errors:?}"
    );
    // The kernel's own address is not the dataplane's either.
    let errors = refused(&config(KERNEL, "[vrrp]\naddresses = [\"10.0.0.2\"]"));
    assert_eq!(errors[0].0, "vrrp.addresses[0]");
}

#[test]
fn an_address_listed_twice_is_refused() {
    let errors = refused(&config(
        KERNEL,
        "[vrrp]\naddresses = [\"192.0.2.10\", \"192.0.2.10\"]",
    ));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "vrrp.addresses[1]");
}

#[test]
fn vrrp_without_a_kernel_interface_or_addresses_is_refused() {
    let errors = refused(&config("", "[vrrp]\naddresses = [\"192.0.2.10\"]"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "vrrp");
    assert!(errors[0].1.contains("kernel interface"), "{errors:?}");
    let errors = refused(&config(KERNEL, "[vrrp]\naddresses = []"));
    assert_eq!(errors[0].0, "vrrp.addresses");
}
