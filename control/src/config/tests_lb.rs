//! The load-balancing keys: the documented example, the string-written
//! types, and one test per validation rule, each checking the key and line.

use std::net::Ipv4Addr;
use std::path::Path;

use super::*;

const DOC: &str = include_str!("../../../docs/load-balancing.md");
const README: &str = include_str!("../../../README.md");

/// The first ```toml block after `heading` in `doc`, so docs cannot rot.
fn toml_block<'a>(doc: &'a str, heading: &str) -> &'a str {
    let after = doc.find(heading).expect("the heading");
    let open = "```toml\n";
    let start = after + doc[after..].find(open).expect("a toml block") + open.len();
    let len = doc[start..].find("```").expect("the block's end");
    &doc[start..start + len]
}

/// The example in docs/load-balancing.md.
pub(super) fn doc_example() -> &'static str {
    toml_block(DOC, "## Configuration")
}

pub(super) fn parse(text: &str) -> Result<LoadedConfig, ConfigErrors> {
    Config::parse(Path::new("lb.toml"), text.to_owned())
}

pub(super) fn errors(text: &str) -> Vec<ConfigError> {
    parse(text).expect_err("config should be refused").0
}

/// The one error of `text`, checked to be at `key` on `line`.
pub(super) fn refused(text: &str, key: &str, line: usize) -> ConfigError {
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "expected one error, got {errs:#?}");
    let e = errs.into_iter().next().expect("one error");
    assert_eq!((e.key.as_deref(), e.line), (Some(key), Some(line)), "{e}");
    e
}

/// A small valid pipeline config; tests append tables or replace lines.
/// Lines: 1 [[port]], 5 [[interface]], 7 addresses, 9 [[route]], 13
/// [[neighbour]], 17 [[service]], 18 vip, 20 port, 21 mode, 23 [[service.backend]],
/// 24 address.
pub(super) const BASE: &str = r#"[[port]]
name = "lan"
device = "net_null0"

[[interface]]
port = "lan"
addresses = ["10.0.0.1/24"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.0.254"

[[neighbour]]
address = "10.0.0.254"
mac = "02:00:00:00:00:fe"

[[service]]
vip = "192.0.2.10"
protocol = "tcp"
port = 80
mode = "nat"

[[service.backend]]
address = "10.0.0.11"
"#;

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in the text"))
        + 1
}

#[test]
fn the_documented_example_parses_and_validates() {
    let cfg = parse(doc_example())
        .unwrap_or_else(|e| panic!("docs/load-balancing.md's example: {e}"))
        .config;
    assert!(cfg.runs_pipeline());
    assert_eq!(cfg.ports[0].mac, Some(MacAddr([2, 0, 0, 0, 0, 1])));
    assert_eq!(cfg.ports[0].mtu, 1500);
    assert_eq!(cfg.interfaces[0].vlan, None);
    assert_eq!(
        cfg.interfaces[0].addresses,
        vec![
            IpPrefix::V4(Ipv4Prefix {
                addr: Ipv4Addr::new(10, 0, 0, 1),
                len: 24
            }),
            IpPrefix::V4(Ipv4Prefix {
                addr: Ipv4Addr::new(10, 0, 1, 1),
                len: 24
            }),
            IpPrefix::V6(Ipv6Prefix {
                addr: "2001:db8::1".parse().unwrap(),
                len: 64
            }),
        ]
    );
    assert_eq!(cfg.routes[0].via, Ipv4Addr::new(10, 0, 0, 254));
    assert_eq!(cfg.sessions.capacity, 1_048_576);
    assert_eq!(cfg.timeouts.tcp_syn_recv, Some(30));
    let s = &cfg.services[0];
    assert_eq!(s.name.as_deref(), Some("web"));
    assert_eq!(s.key_text(), "tcp/192.0.2.10:80");
    assert_eq!(s.mode, LbMode::Fullnat);
    assert_eq!(s.scheduler, SchedulerName::Wlc);
    assert_eq!(
        s.local_ports,
        PortRange {
            min: 1024,
            max: 65535
        }
    );
    assert_eq!(s.timeouts.as_ref().and_then(|t| t.udp), Some(30));
    assert_eq!(s.backends[0].port_or(s.port), 8080);
    assert_eq!(cfg.snat[0].port, "lan");
    assert_eq!(cfg.snat[0].addresses, vec![Ipv4Addr::new(203, 0, 113, 1)]);
}

#[test]
fn the_readme_example_parses_and_validates() {
    let text = toml_block(README, "## Configuration");
    let cfg = parse(text)
        .unwrap_or_else(|e| panic!("README.md's example: {e}"))
        .config;
    assert!(!cfg.runs_pipeline());
    assert_eq!(cfg.ports[0].mtu, 1500);
}

#[test]
fn optional_keys_get_their_documented_defaults() {
    let cfg = parse(BASE).expect("valid").config;
    assert_eq!(cfg.ports[0].mac, None);
    assert_eq!(cfg.ports[0].mtu, 1500);
    assert_eq!(
        cfg.sessions,
        SessionsConfig {
            capacity: 1 << 20,
            capacity6: 1 << 16
        }
    );
    assert_eq!(cfg.timeouts, TimeoutsConfig::default());
    let s = &cfg.services[0];
    assert_eq!(s.name, None);
    assert_eq!(s.scheduler, SchedulerName::Wlc);
    assert!(s.mh_ports);
    assert_eq!(s.persistence, 0);
    assert_eq!(s.persistence_prefix, 32);
    assert!(s.local_addresses.is_empty());
    assert_eq!(s.local_ports, PortRange::default());
    assert_eq!(s.timeouts, None);
    assert_eq!(s.backends[0].port, None);
    assert_eq!(s.backends[0].port_or(80), 80);
    assert_eq!(s.backends[0].weight, 1);
    assert!(!parse(TWO_PORT_L2).expect("valid").config.runs_pipeline());
}

const TWO_PORT_L2: &str =
    "[[port]]\nname = \"a\"\ndevice = \"net_null0\"\n[[port]]\nname = \"b\"\ndevice = \"net_null1\"\n";

#[test]
fn the_string_types_parse_print_and_explain() {
    let mac: MacAddr = "02:0A:00:00:00:ff".parse().expect("mac");
    assert_eq!(mac, MacAddr([2, 10, 0, 0, 0, 255]));
    assert_eq!(mac.to_string(), "02:0a:00:00:00:ff");
    for bad in [
        "02:00:00:00:00",
        "02:00:00:00:00:01:02",
        "2:00:00:00:00:01",
        "zz:00:00:00:00:01",
        "",
    ] {
        let e = bad.parse::<MacAddr>().expect_err(bad);
        assert!(e.contains("expected a MAC address"), "{e}");
    }

    let p: Ipv4Prefix = "10.0.0.1/24".parse().expect("prefix");
    assert_eq!(p.to_string(), "10.0.0.1/24");
    assert_eq!(p.network(), Ipv4Addr::new(10, 0, 0, 0));
    assert!(p.host_bits_set());
    assert!(p.contains(Ipv4Addr::new(10, 0, 0, 200)));
    assert!(!p.contains(Ipv4Addr::new(10, 0, 1, 1)));
    let bare: Ipv4Prefix = "10.0.0.1".parse().expect("bare address");
    assert_eq!(bare.len, 32);
    assert_eq!(bare.to_string(), "10.0.0.1/32");
    assert!(!bare.host_bits_set());
    let all: Ipv4Prefix = "0.0.0.0/0".parse().expect("default route");
    assert!(all.contains(Ipv4Addr::new(255, 255, 255, 255)));
    assert!(!all.host_bits_set());
    assert_eq!(
        "10.0.0.1/33".parse::<Ipv4Prefix>(),
        Err("\"10.0.0.1/33\": prefix length must be 0..=32".into())
    );
    for bad in ["10.0.0/24", "10.0.0.1/", "10.0.0.1/x", "/24"] {
        assert!(bad.parse::<Ipv4Prefix>().is_err(), "{bad}");
    }

    assert_eq!("1024-65535".parse(), Ok(PortRange::default()));
    assert_eq!(
        "40000".parse(),
        Ok(PortRange {
            min: 40000,
            max: 40000
        })
    );
    assert_eq!(PortRange { min: 5, max: 9 }.to_string(), "5-9");
    for bad in ["", "1024-", "-5", "a-b", "1-2-3", "1024-70000"] {
        assert!(bad.parse::<PortRange>().is_err(), "{bad}");
    }
}

#[test]
fn a_malformed_value_is_refused_at_its_key_with_what_was_expected() {
    let text = BASE.replace("10.0.0.1/24", "10.0.0.1/33");
    let e = refused(&text, "interface[0].addresses[0]", 7);
    assert!(e.message.contains("prefix length must be 0..=32"), "{e}");
    let text = BASE.replace("02:00:00:00:00:fe", "02:00:00:00:fe");
    let e = refused(&text, "neighbour[0].mac", 15);
    assert!(e.message.contains("expected a MAC address"), "{e}");
    let text = format!("{BASE}\n[[snat]]\nsource = \"10.0.0.0/24\"\nport = \"lan\"\naddresses = [\"203.0.113.1\"]\nports = \"1024..2048\"\n");
    let e = refused(&text, "snat[0].ports", line_of(&text, "1024..2048"));
    assert!(e.message.contains("expected a port range"), "{e}");
    let text = BASE.replace("mode = \"nat\"", "mode = \"masq\"");
    refused(&text, "service[0].mode", 21);
    let text = BASE.replace("port = 80", "port = 80\nweight = 3");
    let e = refused(&text, "service[0].weight", 21);
    assert!(e.message.contains("unknown field `weight`"), "{e}");
}

#[test]
fn the_config_survives_a_serialize_parse_round_trip() {
    // Every optional key set to something other than its default.
    let rich =
        BASE.replace(
            "net_null0\"",
            "net_null0\"\nmac = \"02:00:00:00:00:01\"\nmtu = 9000",
        )
        .replace("port = \"lan\"", "port = \"lan\"\nvlan = 42")
        .replace(
            "mode = \"nat\"",
            "mode = \"fullnat\"\nname = \"web\"\nscheduler = \"mh\"\nmh_ports = false\n\
             persistence = 300\npersistence_prefix = 24\nlocal_addresses = [\"10.0.0.100\"]\n\
             local_ports = \"40000-40000\"\ntimeouts = { tcp_established = 60 }",
        )
        .replace(
            "address = \"10.0.0.11\"",
            "address = \"10.0.0.11\"\nport = 8080\nweight = 0",
        ) + SNAT
            + "ports = \"2000-2999\"\n\n[sessions]\ncapacity = 4096\n\n[timeouts]\nudp = 5\n";
    let cfg = parse(&rich).expect("valid").config;
    assert_eq!(cfg.interfaces[0].vlan, Some(42));
    assert_eq!(
        cfg.services[0].local_ports,
        PortRange {
            min: 40000,
            max: 40000
        }
    );
    assert_eq!(
        cfg.snat[0].ports,
        PortRange {
            min: 2000,
            max: 2999
        }
    );
    for text in [doc_example(), BASE, &rich] {
        let cfg = parse(text).expect("valid").config;
        let written = toml::to_string(&cfg).expect("serializes");
        let again = parse(&written)
            .unwrap_or_else(|e| panic!("{e}\n--- written:\n{written}"))
            .config;
        assert_eq!(again, cfg, "--- written:\n{written}");
    }
}

// --- ports ---

#[test]
fn a_port_mac_must_be_unicast_and_not_zero() {
    let text = BASE.replace("net_null0\"", "net_null0\"\nmac = \"01:00:5e:00:00:01\"");
    let e = refused(&text, "port[0].mac", 4);
    assert!(e.message.contains("multicast"), "{e}");
    let text = BASE.replace("net_null0\"", "net_null0\"\nmac = \"00:00:00:00:00:00\"");
    refused(&text, "port[0].mac", 4);
}

#[test]
fn a_port_mtu_must_be_68_to_9216() {
    for mtu in [67, 9217] {
        let text = BASE.replace("net_null0\"", &format!("net_null0\"\nmtu = {mtu}"));
        let e = refused(&text, "port[0].mtu", 4);
        assert!(e.message.contains("68..=9216"), "{e}");
    }
    let text = BASE.replace("net_null0\"", "net_null0\"\nmtu = 9000");
    assert_eq!(parse(&text).expect("valid").config.ports[0].mtu, 9000);
}

#[test]
fn with_an_af_xdp_port_every_mtu_fits_a_4k_umem_frame() {
    let xdp = BASE.replace("net_null0\"", "net_af_xdp0,iface=v0\"");
    let at = |mtu: u16| {
        xdp.replace(
            "af_xdp0,iface=v0\"",
            &format!("af_xdp0,iface=v0\"\nmtu = {mtu}"),
        )
    };
    let cfg = parse(&at(AF_XDP_MAX_MTU)).expect("valid").config;
    // 64 + 128 + 128 (mempool header, rte_mbuf, headroom) + the room:
    // exactly the 4 KB page an af_xdp pool's object is (umem_pool.rs).
    assert_eq!(64 + 128 + 128 + cfg.mbuf_frame_room(), 4096);
    let e = refused(&at(AF_XDP_MAX_MTU + 1), "port[0].mtu", 4);
    assert!(e.message.contains("at most 3494"), "{e}");
    // The pool serves every port: another port's 9000 is refused too.
    let text = format!(
        "{}\n[[port]]\nname = \"big\"\ndevice = \"net_null1\"\nmtu = 9000\n",
        xdp
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].key.as_deref(), Some("port[1].mtu"), "{}", errs[0]);
    // Without af_xdp no XDP headroom is kept.
    let plain = parse(&BASE.replace("net_null0\"", "net_null0\"\nmtu = 9000"))
        .expect("valid")
        .config;
    assert_eq!(plain.mbuf_frame_room(), plain.largest_frame());
}

// --- interfaces ---

#[test]
fn an_interface_must_name_a_port() {
    let text = BASE.replace("port = \"lan\"", "port = \"wan\"");
    let e = refused(&text, "interface[0].port", 6);
    assert!(e.message.contains("no [[port]] is named \"wan\""), "{e}");
}

#[test]
fn a_vlan_must_be_1_to_4094() {
    for vlan in [0, 4095] {
        let text = BASE.replace("port = \"lan\"", &format!("port = \"lan\"\nvlan = {vlan}"));
        refused(&text, "interface[0].vlan", 7);
    }
}

#[test]
fn a_port_and_vlan_belong_to_one_interface() {
    let text = format!("{BASE}\n[[interface]]\nport = \"lan\"\naddresses = [\"10.1.0.1/24\"]\n");
    let e = refused(&text, "interface[1].port", 27);
    assert!(e.message.contains("interface[0]"), "{e}");
    let tagged =
        format!("{BASE}\n[[interface]]\nport = \"lan\"\nvlan = 7\naddresses = [\"10.1.0.1/24\"]\n");
    assert!(parse(&tagged).is_ok(), "another VLAN is another interface");
    let twice = format!(
        "{tagged}\n[[interface]]\nport = \"lan\"\nvlan = 7\naddresses = [\"10.2.0.1/24\"]\n"
    );
    refused(&twice, "interface[2].vlan", 33);
}

#[test]
fn an_interface_needs_addresses() {
    let text = BASE.replace("[\"10.0.0.1/24\"]", "[]");
    // The route and neighbour are then outside every connected prefix too.
    let errs = errors(&text);
    assert_eq!(
        (errs[0].key.as_deref(), errs[0].line),
        (Some("interface[0].addresses"), Some(7))
    );
    assert!(errs[0].message.contains("at least one"), "{}", errs[0]);
}

#[test]
fn an_address_is_owned_once() {
    let text = format!("{BASE}\n[[interface]]\nport = \"lan\"\nvlan = 5\naddresses = [\"10.9.0.1/24\", \"10.0.0.1/16\"]\n");
    let e = refused(&text, "interface[1].addresses[1]", 29);
    assert!(
        e.message
            .contains("already owned by interface[0].addresses[0]"),
        "{e}"
    );
}

#[test]
fn an_interface_address_needs_a_prefix_length() {
    let text = BASE.replace("[\"10.0.0.1/24\"]", "[\"10.0.0.1/24\", \"10.5.0.1/0\"]");
    let e = refused(&text, "interface[0].addresses[1]", 7);
    assert!(e.message.contains("1..=32"), "{e}");
}

// --- routes and neighbours ---

#[test]
fn a_route_prefix_has_no_host_bits() {
    let text = BASE.replace("0.0.0.0/0", "172.16.0.1/12");
    let e = refused(&text, "route[0].prefix", 10);
    assert!(e.message.contains("172.16.0.0/12"), "{e}");
}

#[test]
fn a_route_via_must_be_in_a_connected_prefix() {
    let text = BASE.replace("via = \"10.0.0.254\"", "via = \"10.7.0.1\"");
    let e = refused(&text, "route[0].via", 11);
    assert!(e.message.contains("10.0.0.0/24"), "{e}");
}

#[test]
fn a_route_prefix_is_routed_once() {
    let text = format!("{BASE}\n[[route]]\nprefix = \"0.0.0.0/0\"\nvia = \"10.0.0.253\"\n");
    let e = refused(&text, "route[1].prefix", 27);
    assert!(e.message.contains("route[0]"), "{e}");
}

#[test]
fn a_neighbour_must_be_in_a_connected_prefix() {
    let text = BASE.replace("address = \"10.0.0.254\"", "address = \"10.7.0.254\"");
    refused(&text, "neighbour[0].address", 14);
}

#[test]
fn a_neighbour_is_listed_once() {
    let text =
        format!("{BASE}\n[[neighbour]]\naddress = \"10.0.0.254\"\nmac = \"02:00:00:00:00:fd\"\n");
    let e = refused(&text, "neighbour[1].address", 27);
    assert!(e.message.contains("neighbour[0]"), "{e}");
}

/// A SNAT rule for the one port of [`BASE`].
pub(super) const SNAT: &str =
    "\n[[snat]]\nsource = \"10.0.0.0/24\"\nport = \"lan\"\naddresses = [\"203.0.113.1\"]\n";
