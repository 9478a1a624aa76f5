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
fn doc_example() -> &'static str {
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
    assert_eq!(cfg.sessions, SessionsConfig { capacity: 1 << 20 });
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
    // 63 cache lines (an odd number, as the mempool wants).
    assert_eq!(64 + 128 + 128 + cfg.mbuf_frame_room(), 4032);
    let e = refused(&at(AF_XDP_MAX_MTU + 1), "port[0].mtu", 4);
    assert!(e.message.contains("at most 3430"), "{e}");
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

// --- services ---

#[test]
fn port_zero_is_every_port_and_its_backends_keep_the_clients_port() {
    let text = BASE.replace("port = 80", "port = 0");
    let cfg = parse(&text)
        .expect("port 0 is a service on every port")
        .config;
    let s = &cfg.services[0];
    assert_eq!((s.ports(), s.multi_port()), ((0, 65535), true));
    assert_eq!(s.backend_port(&s.backends[0]), 0);
    let with_last = text.replace("port = 0\n", "port = 0\nport_last = 90\n");
    refused(&with_last, "service[0].port_last", 21);
}

/// `BASE` with a second service on `port`/`port_last` (its line 27 is
/// `port = ...`).
fn second_service(port: u16, last: Option<u16>, extra: &str) -> String {
    let last = last.map_or(String::new(), |l| format!("port_last = {l}\n"));
    format!(
        "{BASE}\n[[service]]\nvip = \"192.0.2.10\"\nprotocol = \"tcp\"\nport = {port}\n{last}mode = \"nat\"\n{extra}"
    )
}

#[test]
fn ranges_may_not_share_ports_except_with_port_zero() {
    let text = second_service(8000, Some(8099), "");
    let cfg = parse(&text).expect("a range").config;
    let r = &cfg.services[1];
    assert_eq!(r.ports(), (8000, 8099));
    assert_eq!(
        r.backend_port(&BackendConfig {
            port: None,
            ..cfg.services[0].backends[0].clone()
        }),
        0
    );
    let e = refused(&second_service(70, Some(90), ""), "service[1]", 26);
    assert!(e.message.contains("shares ports with service[0]"), "{e}");
    let backwards = second_service(8000, Some(7000), "");
    refused(&backwards, "service[1].port_last", 30);
    assert!(
        parse(&second_service(0, None, "")).is_ok(),
        "port 0 takes the rest"
    );
}

#[test]
fn a_group_listens_on_more_addresses_and_may_not_take_a_port_twice() {
    let text = BASE.replace(
        "port = 80\n",
        "port = 80\nalso_listen = [\"192.0.2.11:80\", \"192.0.2.11:8443\"]\n",
    );
    let cfg = parse(&text).expect("a group").config;
    let s = &cfg.services[0];
    assert_eq!(s.listens().len(), 3);
    assert!(
        s.multi_port(),
        "8443 is another port: backends keep the client's"
    );
    let clash = format!(
        "{text}\n[[service]]\nvip = \"192.0.2.11\"\nprotocol = \"tcp\"\nport = 8443\nmode = \"nat\"\n"
    );
    let e = refused(&clash, "service[1]", 27);
    assert!(
        e.message
            .contains("tcp/192.0.2.11:8443 shares ports with service[0]"),
        "{e}"
    );
    let twice = BASE.replace(
        "port = 80\n",
        "port = 80\nalso_listen = [\"192.0.2.10:80\"]\n",
    );
    let e = refused(&twice, "service[0].also_listen[0]", 21);
    assert!(
        e.message
            .contains("shares ports with this service's tcp/192.0.2.10:80"),
        "{e}"
    );
    let onto_backend = BASE.replace(
        "port = 80\n",
        "port = 80\nalso_listen = [\"10.0.0.11:80\"]\n",
    );
    assert!(
        errors(&onto_backend)
            .iter()
            .any(|e| e.key.as_deref() == Some("service[0].backend[0].address")),
        "a backend on one of the group's VIPs is a loop"
    );
}

#[test]
fn ops_is_for_udp_with_dr_or_tun() {
    let e = refused(
        &second_service(53, None, "ops = true\n"),
        "service[1].ops",
        31,
    );
    assert!(
        e.message.contains("udp services with mode dr or tun"),
        "{e}"
    );
    let udp_dr = second_service(53, None, "ops = true\n").replace(
        "protocol = \"tcp\"\nport = 53\nmode = \"nat\"",
        "protocol = \"udp\"\nport = 53\nmode = \"dr\"",
    );
    let cfg = parse(&udp_dr).expect("udp dr ops").config;
    assert!(cfg.services[1].ops);
}

#[test]
fn a_check_of_a_backend_on_every_port_names_its_port() {
    let text = BASE.replace("port = 80", "port = 0") + "[service.check]\ntype = \"tcp\"\n";
    let e = errors(&text);
    assert!(
        e.iter()
            .any(|e| e.message.contains("its check needs connect_port")),
        "{e:#?}"
    );
    let named = text + "connect_port = 22\n";
    assert!(parse(&named).is_ok());
}

#[test]
fn a_service_is_defined_once() {
    let text = format!(
        "{BASE}\n[[service]]\nvip = \"192.0.2.10\"\nprotocol = \"tcp\"\nport = 80\nmode = \"nat\"\n"
    );
    let e = refused(&text, "service[1]", 26);
    assert!(
        e.message
            .contains("tcp/192.0.2.10:80 is already service[0]"),
        "{e}"
    );
    let other_port = format!(
        "{BASE}\n[[service]]\nvip = \"192.0.2.10\"\nprotocol = \"tcp\"\nport = 81\nmode = \"nat\"\n"
    );
    assert!(parse(&other_port).is_ok());
}

#[test]
fn fullnat_needs_local_addresses() {
    let text = BASE.replace("mode = \"nat\"", "mode = \"fullnat\"");
    let e = refused(&text, "service[0].mode", 21);
    assert!(e.message.contains("local_addresses"), "{e}");
    let text = BASE.replace("mode = \"nat\"", "mode = \"fullnat\"\nlocal_addresses = []");
    refused(&text, "service[0].local_addresses", 22);
}

#[test]
fn local_addresses_are_only_for_fullnat() {
    let text = BASE.replace(
        "mode = \"nat\"",
        "mode = \"nat\"\nlocal_addresses = [\"10.0.0.100\"]",
    );
    let e = refused(&text, "service[0].local_addresses", 22);
    assert!(e.message.contains("only for fullnat"), "{e}");
    let text = BASE.replace(
        "mode = \"nat\"",
        "mode = \"nat\"\nlocal_ports = \"2000-3000\"",
    );
    refused(&text, "service[0].local_ports", 22);
}

#[test]
fn a_local_address_is_not_a_vip() {
    let text = BASE.replace(
        "mode = \"nat\"",
        "mode = \"fullnat\"\nlocal_addresses = [\"10.0.0.100\", \"192.0.2.10\"]",
    );
    let e = refused(&text, "service[0].local_addresses[1]", 22);
    assert!(e.message.contains("VIP of service[0]"), "{e}");
}

#[test]
fn local_ports_must_be_a_usable_range() {
    for range in ["0-100", "3000-2000"] {
        let text = BASE.replace(
            "mode = \"nat\"",
            &format!(
                "mode = \"fullnat\"\nlocal_addresses = [\"10.0.0.100\"]\nlocal_ports = \"{range}\""
            ),
        );
        refused(&text, "service[0].local_ports", 23);
    }
}

#[test]
fn a_backend_is_listed_once_per_service() {
    let text = format!("{BASE}port = 80\n\n[[service.backend]]\naddress = \"10.0.0.11\"\n");
    let e = refused(&text, "service[0].backend[1].address", 28);
    assert!(
        e.message.contains("10.0.0.11:80 is already backend[0]"),
        "{e}"
    );
    assert!(parse(&text.replace("port = 80\n\n", "port = 81\n\n")).is_ok());
}

#[test]
fn a_backend_port_is_not_zero() {
    let text = format!("{BASE}port = 0\n");
    refused(&text, "service[0].backend[0].port", 25);
}

#[test]
fn dr_and_tun_backends_keep_the_service_port() {
    for mode in ["dr", "tun"] {
        let text = format!("{BASE}port = 8080\n").replace("\"nat\"", &format!("\"{mode}\""));
        let e = refused(&text, "service[0].backend[0].port", 25);
        assert!(e.message.contains("set it to 80"), "{e}");
        assert!(
            parse(&format!("{BASE}port = 80\n").replace("\"nat\"", &format!("\"{mode}\""))).is_ok()
        );
    }
}

#[test]
fn a_dr_backend_is_on_a_connected_segment() {
    let text = format!("{BASE}\n[[service.backend]]\naddress = \"10.9.9.9\"\n")
        .replace("\"nat\"", "\"dr\"");
    let e = refused(&text, "service[0].backend[1].address", 27);
    assert!(e.message.contains("not in a connected prefix"), "{e}");
    assert!(
        parse(&text.replace("\"dr\"", "\"tun\"")).is_ok(),
        "routed is enough for tun"
    );
}

#[test]
fn a_backend_outside_every_route_is_refused() {
    // Without the default route, 10.9.9.9 is unreachable.
    let text = format!("{BASE}\n[[service.backend]]\naddress = \"10.9.9.9\"\n")
        .replace("0.0.0.0/0", "172.16.0.0/12");
    let e = refused(&text, "service[0].backend[1].address", 27);
    assert!(
        e.message
            .contains("backend 10.9.9.9 is outside every route"),
        "{e}"
    );
}

#[test]
fn a_backend_weight_is_at_most_65535() {
    let text = format!("{BASE}weight = 65536\n");
    refused(&text, "service[0].backend[0].weight", 25);
    assert!(parse(&format!("{BASE}weight = 0\n")).is_ok(), "0 drains");
}

#[test]
fn a_persistence_prefix_is_at_most_32() {
    let text = BASE.replace("mode = \"nat\"", "mode = \"nat\"\npersistence_prefix = 33");
    refused(&text, "service[0].persistence_prefix", 22);
}

#[test]
fn timeouts_are_one_second_to_a_week() {
    let text = format!("{BASE}\n[timeouts]\ntcp_established = 0\nudp = 604801\n");
    let errs = errors(&text);
    let found: Vec<_> = errs.iter().map(|e| (e.key.as_deref(), e.line)).collect();
    assert_eq!(
        found,
        vec![
            (Some("timeouts.tcp_established"), Some(27)),
            (Some("timeouts.udp"), Some(28))
        ]
    );
    let text = BASE.replace("mode = \"nat\"", "mode = \"nat\"\ntimeouts = { udp = 0 }");
    refused(&text, "service[0].timeouts.udp", 22);
}

// --- SNAT ---

const SNAT: &str =
    "\n[[snat]]\nsource = \"10.0.0.0/24\"\nport = \"lan\"\naddresses = [\"203.0.113.1\"]\n";

#[test]
fn a_snat_rule_is_accepted() {
    let cfg = parse(&format!("{BASE}{SNAT}")).expect("valid").config;
    assert_eq!(cfg.snat[0].ports, PortRange::default());
}

#[test]
fn a_snat_rule_must_name_a_port() {
    let text = format!("{BASE}{}", SNAT.replace("\"lan\"", "\"wan\""));
    refused(&text, "snat[0].port", 28);
}

#[test]
fn a_snat_rule_needs_addresses() {
    let text = format!("{BASE}{SNAT}").replace("[\"203.0.113.1\"]", "[]");
    refused(&text, "snat[0].addresses", 29);
}

#[test]
fn a_snat_source_has_no_host_bits() {
    let text = format!("{BASE}{SNAT}").replace("10.0.0.0/24", "10.0.0.5/24");
    refused(&text, "snat[0].source", 27);
}

#[test]
fn snat_addresses_are_unique_and_not_vips() {
    let other_source = SNAT.replace("10.0.0.0/24", "10.0.0.0/25");
    let text = format!("{BASE}{SNAT}{other_source}");
    let e = refused(&text, "snat[1].addresses[0]", 34);
    assert!(
        e.message.contains("already used by snat[0].addresses[0]"),
        "{e}"
    );
    let text = format!("{BASE}{SNAT}").replace("203.0.113.1", "192.0.2.10");
    let e = refused(&text, "snat[0].addresses[0]", 29);
    assert!(e.message.contains("VIP of service[0]"), "{e}");
}

#[test]
fn a_snat_source_has_one_rule() {
    let second = SNAT.replace("203.0.113.1", "203.0.113.2");
    let text = format!("{BASE}{SNAT}{second}");
    let e = refused(&text, "snat[1].source", 32);
    assert!(e.message.contains("10.0.0.0/24 is already snat[0]"), "{e}");
    let narrower = second.replace("10.0.0.0/24", "10.0.0.0/25");
    assert!(parse(&format!("{BASE}{SNAT}{narrower}")).is_ok());
}

#[test]
fn snat_ports_must_be_a_usable_range() {
    let text = format!("{BASE}{SNAT}ports = \"0-0\"\n");
    refused(&text, "snat[0].ports", 30);
}

// --- sessions, modes ---

#[test]
fn session_capacity_is_in_range() {
    for n in [0u64, 1 << 31] {
        let text = format!("{BASE}\n[sessions]\ncapacity = {n}\n");
        refused(&text, "sessions.capacity", 27);
    }
    let text = format!("{BASE}\n[sessions]\ncapacity = {MAX_SESSIONS}\n");
    assert!(parse(&text).is_ok());
}

#[test]
fn forward_is_refused_with_interfaces() {
    let text = format!("{BASE}\n[forward]\nmode = \"macswap\"\n");
    let e = refused(&text, "forward", 26);
    assert!(e.message.contains("only for L2 forwarding"), "{e}");
}

#[test]
fn paired_topology_is_not_checked_with_interfaces() {
    // One port, default topology "paired": fine for the pipeline.
    assert_eq!(parse(BASE).expect("valid").config.ports.len(), 1);
}

#[test]
fn lb_sections_need_an_interface() {
    let l2 = "[[port]]\nname = \"lan\"\ndevice = \"net_null0\"\n[forward]\ntopology = \"loop\"\n";
    let text = format!(
        "{l2}\n[[service]]\nvip = \"192.0.2.10\"\nprotocol = \"tcp\"\nport = 80\nmode = \"nat\"\n\n[[route]]\nprefix = \"0.0.0.0/0\"\nvia = \"10.0.0.254\"\n"
    );
    let e = refused(&text, "service[0]", 7);
    assert!(
        e.message
            .starts_with("services need at least one [[interface]]"),
        "{e}"
    );
    let text =
        format!("{l2}\n[[neighbour]]\naddress = \"10.0.0.254\"\nmac = \"02:00:00:00:00:fe\"\n");
    let e = refused(&text, "neighbour[0]", 7);
    assert!(
        e.message
            .starts_with("neighbours need at least one [[interface]]"),
        "{e}"
    );
}

#[test]
fn every_lb_problem_is_reported_at_once() {
    let text = BASE
        .replace("0.0.0.0/0", "0.0.0.1/0")
        .replace("port = 80", "port = 80\nport_last = 79")
        .replace(
            "address = \"10.0.0.11\"",
            "address = \"10.0.0.11\"\nweight = 70000",
        );
    let found: Vec<_> = errors(&text)
        .iter()
        .map(|e| (e.key.clone().unwrap_or_default(), e.line))
        .collect();
    assert_eq!(
        found,
        vec![
            ("route[0].prefix".to_string(), Some(10)),
            ("service[0].port_last".to_string(), Some(21)),
            ("service[0].backend[0].weight".to_string(), Some(26)),
        ]
    );
}

#[test]
fn every_ipvs_scheduler_name_is_read_and_written_back() {
    for name in SchedulerName::ALL {
        let text: String =
            toml::to_string(&std::collections::BTreeMap::from([("s", name)])).unwrap();
        assert_eq!(text.trim(), format!("s = \"{}\"", name.as_str()));
        assert_eq!(SchedulerName::from_name(name.as_str()), Some(name));
    }
    assert_eq!(SchedulerName::from_name("twos"), None);
    assert_eq!(SchedulerName::ALL.len(), 13);
}

#[test]
fn pickup_is_for_dr_and_tun_and_on_by_default_for_mh() {
    let text = BASE.replace("mode = \"nat\"", "mode = \"nat\"\npickup = true");
    let e = refused(&text, "service[0].pickup", 22);
    assert!(e.message.contains("dr and tun"), "{e}");
    let service = |mode: &str| {
        let text = BASE.replace("mode = \"nat\"", mode);
        parse(&text).expect("valid").config.services[0].picks_up()
    };
    assert!(service("mode = \"dr\"\nscheduler = \"mh\""));
    assert!(!service(
        "mode = \"dr\"\nscheduler = \"mh\"\npickup = false"
    ));
    assert!(!service("mode = \"tun\"\nscheduler = \"sh\""));
    assert!(service("mode = \"tun\"\nscheduler = \"sh\"\npickup = true"));
    assert!(!service("mode = \"nat\"\nscheduler = \"mh\""));
}

#[test]
fn access_lists_are_networks_and_a_prefix_is_allowed_or_denied() {
    let with = |keys: &str| BASE.replace("mode = \"nat\"", &format!("mode = \"nat\"\n{keys}"));
    let ok = parse(&with(
        "allow = [\"10.0.0.0/8\", \"0.0.0.0/0\"]\ndeny = [\"10.66.0.0/16\", \"10.1.2.3/32\"]",
    ))
    .expect("valid")
    .config;
    assert_eq!(ok.services[0].allow.len(), 2);
    assert_eq!(ok.services[0].deny[1].to_string(), "10.1.2.3/32");

    let e = refused(
        &with("allow = [\"10.1.2.3/24\"]"),
        "service[0].allow[0]",
        22,
    );
    assert!(e.message.contains("write the network, 10.1.2.0/24"), "{e}");
    let e = refused(
        &with("allow = [\"10.0.0.0/8\"]\ndeny = [\"192.0.2.0/24\", \"10.0.0.0/8\"]"),
        "service[0].deny[1]",
        23,
    );
    assert!(e.message.contains("also in allow"), "{e}");
}

#[test]
fn mss_clamp_is_for_tcp_and_a_real_mss() {
    let with = |keys: &str| BASE.replace("mode = \"nat\"", &format!("mode = \"nat\"\n{keys}"));
    let ok = parse(&with("mss_clamp = 1360")).expect("valid").config;
    assert_eq!(ok.services[0].mss_clamp, Some(1360));
    let e = refused(&with("mss_clamp = 100"), "service[0].mss_clamp", 22);
    assert!(e.message.contains("536..=9176"), "{e}");
    let udp = with("mss_clamp = 1360").replace("protocol = \"tcp\"", "protocol = \"udp\"");
    let e = refused(&udp, "service[0].mss_clamp", 22);
    assert!(e.message.contains("tcp services"), "{e}");
}

#[test]
fn syn_proxy_is_for_tcp_with_nat_or_fullnat() {
    let with = |keys: &str| BASE.replace("mode = \"nat\"", &format!("mode = \"nat\"\n{keys}"));
    let ok = parse(&with("syn_proxy = true")).expect("valid").config;
    assert!(ok.services[0].syn_proxy);
    assert!(!parse(BASE).expect("valid").config.services[0].syn_proxy);
    for mode in ["dr", "tun"] {
        let text =
            with("syn_proxy = true").replace("mode = \"nat\"", &format!("mode = \"{mode}\""));
        let e = refused(&text, "service[0].syn_proxy", 22);
        assert!(e.message.contains("nat and fullnat"), "{mode}: {e}");
    }
    let udp = with("syn_proxy = true").replace("protocol = \"tcp\"", "protocol = \"udp\"");
    let e = refused(&udp, "service[0].syn_proxy", 22);
    assert!(e.message.contains("tcp services"), "{e}");
}

#[test]
fn synproxy_auto_threshold_reads_and_defaults_to_off() {
    assert_eq!(
        parse(BASE).expect("valid").config.synproxy.auto_threshold,
        0
    );
    let with = format!("[synproxy]\nauto_threshold = 5000\n{BASE}");
    assert_eq!(
        parse(&with).expect("valid").config.synproxy.auto_threshold,
        5000
    );
    let unknown = format!("[synproxy]\nthreshold = 5\n{BASE}");
    assert!(parse(&unknown).is_err(), "unknown keys are refused");
}
