//! Addresses that cannot work in their role, and service names that could
//! forge output: each refused at its key (`validate_addr.rs`, the name
//! rule in `lb.rs`), and the setups that do work left alone.

use std::path::Path;

use super::*;

/// A valid config with one of everything. Lines: 4 mac, 8 addresses,
/// 12 via, 15 neighbour address, 16 mac, 19 name, 20 vip, 24 local
/// addresses, 27 backend address, 32 snat addresses.
const BASE: &str = r#"[[port]]
name = "lan"
device = "net_null0"
mac = "02:00:00:00:00:fe"

[[interface]]
port = "lan"
addresses = ["10.0.0.1/24", "10.0.1.1/24"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.0.254"

[[neighbour]]
address = "10.0.0.254"
mac = "02:00:00:00:00:01"

[[service]]
name = "web"
vip = "192.0.2.10"
protocol = "tcp"
port = 80
mode = "fullnat"
local_addresses = ["10.0.1.100"]

[[service.backend]]
address = "10.0.1.11"

[[snat]]
source = "10.0.1.0/24"
port = "lan"
addresses = ["203.0.113.1"]
"#;

fn parse(text: &str) -> Result<LoadedConfig, ConfigErrors> {
    Config::parse(Path::new("a.toml"), text.to_owned())
}

/// `BASE` with the first `from` replaced by `to` (which must be there).
fn with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from:?} is not in BASE");
    BASE.replacen(from, to, 1)
}

/// The errors at `key` in `text` (others may come with the one a test is
/// after, such as "not in a connected prefix"), checked to be on `line`,
/// one message a line.
fn refused_at(text: &str, key: &str, line: usize) -> String {
    let errs = parse(text).expect_err("the config should be refused").0;
    let at: Vec<&ConfigError> = errs
        .iter()
        .filter(|e| e.key.as_deref() == Some(key))
        .collect();
    assert!(!at.is_empty(), "no error at {key}: {errs:#?}");
    for e in &at {
        assert_eq!(e.line, Some(line), "{e}");
    }
    let messages: Vec<&str> = at.iter().map(|e| e.message.as_str()).collect();
    messages.join("\n")
}

#[test]
fn the_base_config_is_valid() {
    parse(BASE).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn special_use_addresses_are_named() {
    for (a, why) in [
        ("0.0.0.0", "unspecified"),
        ("255.255.255.255", "limited broadcast"),
        ("0.1.2.3", "0.0.0.0/8"),
        ("127.0.0.1", "loopback"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
    ] {
        let got = special_use(a.parse().unwrap());
        assert!(got.is_some_and(|m| m.contains(why)), "{a}: {got:?}");
    }
    for a in ["10.0.0.1", "192.0.2.10", "169.254.1.1", "223.255.255.254"] {
        assert_eq!(special_use(a.parse().unwrap()), None, "{a}");
    }
}

#[test]
fn a_vip_that_can_never_be_reached_is_refused() {
    for (vip, why) in [
        ("0.0.0.0", "unspecified"),
        ("255.255.255.255", "limited broadcast"),
        ("224.0.0.5", "multicast"),
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "interface[0].addresses[0]"),
        ("10.0.1.1", "interface[0].addresses[1]"),
        ("10.0.0.254", "the gateway of route[0]"),
        (
            "10.0.0.255",
            "broadcast address of the connected prefix 10.0.0.0/24",
        ),
        (
            "10.0.1.0",
            "network address of the connected prefix 10.0.1.0/24",
        ),
    ] {
        let text = with("vip = \"192.0.2.10\"", &format!("vip = \"{vip}\""));
        let m = refused_at(&text, "service[0].vip", 20);
        assert!(m.contains(why) && m.contains("a VIP"), "{vip}: {m}");
    }
}

#[test]
fn a_backend_that_loops_or_is_no_host_is_refused() {
    for (backend, why) in [
        ("192.0.2.10", "this service's own VIP"),
        (
            "10.0.1.1",
            "interface[0].addresses[1], an address of this appliance",
        ),
        ("10.0.1.100", "service[0].local_addresses[0]"),
        ("203.0.113.1", "snat[0].addresses[0]"),
        ("10.0.1.255", "broadcast address"),
        ("224.1.1.1", "multicast"),
        ("0.0.0.0", "unspecified"),
    ] {
        let text = with(
            "address = \"10.0.1.11\"",
            &format!("address = \"{backend}\""),
        );
        let m = refused_at(&text, "service[0].backend[0].address", 27);
        assert!(m.contains(why), "{backend}: {m}");
    }
    // Another service's VIP is ours too.
    let text = format!(
        "{BASE}\n[[service]]\nvip = \"192.0.2.11\"\nprotocol = \"udp\"\nport = 53\nmode = \"nat\"\n\n\
         [[service.backend]]\naddress = \"192.0.2.10\"\n"
    );
    let m = refused_at(&text, "service[1].backend[0].address", 41);
    assert!(m.contains("the VIP of service[0]"), "{m}");
}

#[test]
fn a_gateway_or_neighbour_that_is_us_or_no_host_is_refused() {
    for (via, why) in [
        ("10.0.0.1", "interface[0].addresses[0]"),
        ("10.0.0.255", "broadcast address"),
        ("10.0.0.0", "network address"),
    ] {
        let text = with("via = \"10.0.0.254\"", &format!("via = \"{via}\""));
        let m = refused_at(&text, "route[0].via", 12);
        assert!(m.contains(why) && m.contains("a gateway"), "{via}: {m}");
    }
    for (address, why) in [
        ("10.0.1.1", "an address of this appliance"),
        ("10.0.1.255", "broadcast address"),
        ("255.255.255.255", "limited broadcast"),
    ] {
        let text = with(
            "address = \"10.0.0.254\"",
            &format!("address = \"{address}\""),
        );
        let m = refused_at(&text, "neighbour[0].address", 15);
        assert!(m.contains(why), "{address}: {m}");
    }
}

#[test]
fn a_neighbour_mac_must_be_one_other_host() {
    for (mac, why) in [
        ("ff:ff:ff:ff:ff:ff", "broadcast MAC"),
        ("01:00:5e:00:00:01", "multicast MAC"),
        ("33:33:00:00:00:01", "multicast MAC"),
        ("02:00:00:00:00:fe", "port[0]'s own MAC"),
    ] {
        let text = with("mac = \"02:00:00:00:00:01\"", &format!("mac = \"{mac}\""));
        let m = refused_at(&text, "neighbour[0].mac", 16);
        assert!(m.contains(why), "{mac}: {m}");
    }
}

#[test]
fn local_and_snat_addresses_must_be_hosts_of_ours() {
    for (a, why) in [
        ("10.0.1.255", "broadcast address"),
        ("10.0.0.254", "the gateway of route[0]"),
        ("224.0.0.9", "multicast"),
    ] {
        let text = with("[\"10.0.1.100\"]", &format!("[\"{a}\"]"));
        let m = refused_at(&text, "service[0].local_addresses[0]", 24);
        assert!(m.contains(why), "{a}: {m}");
        let text = with("[\"203.0.113.1\"]", &format!("[\"{a}\"]"));
        let m = refused_at(&text, "snat[0].addresses[0]", 32);
        assert!(m.contains(why), "{a}: {m}");
    }
}

#[test]
fn an_interface_address_must_be_a_host_address() {
    for (p, why) in [
        ("10.0.0.0/24", "network address"),
        ("10.0.0.255/24", "broadcast address"),
        ("127.0.0.1/8", "loopback"),
        ("224.0.0.1/24", "multicast"),
    ] {
        let text = with("\"10.0.0.1/24\"", &format!("\"{p}\""));
        let m = refused_at(&text, "interface[0].addresses[0]", 8);
        assert!(m.contains(why), "{p}: {m}");
    }
}

#[test]
fn loopback_and_multicast_prefixes_are_not_routed() {
    for p in ["127.0.0.0/8", "224.0.0.0/4", "239.1.0.0/16"] {
        let text = with("prefix = \"0.0.0.0/0\"", &format!("prefix = \"{p}\""));
        refused_at(&text, "route[0].prefix", 11);
    }
}

#[test]
fn setups_that_work_are_kept() {
    // Masquerade from the interface's own address; FULLNAT from it too.
    parse(&with("[\"203.0.113.1\"]", "[\"10.0.0.1\"]")).unwrap_or_else(|e| panic!("{e}"));
    parse(&with("[\"10.0.1.100\"]", "[\"10.0.1.1\"]")).unwrap_or_else(|e| panic!("{e}"));
    // A point-to-point /31 has no network or broadcast address.
    let p2p = with("\"10.0.0.1/24\"", "\"10.0.0.1/24\", \"10.9.0.0/31\"");
    parse(&p2p).unwrap_or_else(|e| panic!("{e}"));
    // A loopback backend: the daemon's health checks against local
    // listeners in labs and tests (validate_addr.rs says why).
    parse(&with("address = \"10.0.1.11\"", "address = \"127.0.0.11\""))
        .unwrap_or_else(|e| panic!("{e}"));
    // A router may run a service too.
    parse(&with("address = \"10.0.1.11\"", "address = \"10.0.0.254\""))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_service_name_is_printable_and_short() {
    for name in [
        "web\\nTCP  6.6.6.6:80 rr",
        "evil\\u001b[2J",
        "with space",
        "",
        "tab\\there",
        "ünïcode",
    ] {
        let text = with("name = \"web\"", &format!("name = \"{name}\""));
        let m = refused_at(&text, "service[0].name", 19);
        assert!(m.contains("A-Z a-z 0-9 . _ -"), "{name}: {m}");
    }
    let long = "a".repeat(MAX_SERVICE_NAME + 1);
    refused_at(
        &with("\"web\"", &format!("\"{long}\"")),
        "service[0].name",
        19,
    );
    for name in ["web", "api.v2_blue-1", &"a".repeat(MAX_SERVICE_NAME)] {
        parse(&with("\"web\"", &format!("\"{name}\""))).unwrap_or_else(|e| panic!("{e}"));
    }
}
