//! The control-plane keys: `[control]`, `[daemon]` and per-service `check`,
//! their defaults, and one test per validation rule, each checking the key
//! and line.

use std::path::{Path, PathBuf};

use super::*;

fn parse(text: &str) -> Result<LoadedConfig, ConfigErrors> {
    Config::parse(Path::new("ctl.toml"), text.to_owned())
}

/// The one error of `text`, checked to be at `key` on `line`.
fn refused(text: &str, key: &str, line: usize) -> ConfigError {
    let errs = parse(text).expect_err("config should be refused").0;
    assert_eq!(errs.len(), 1, "expected one error, got {errs:#?}");
    let e = errs.into_iter().next().expect("one error");
    assert_eq!((e.key.as_deref(), e.line), (Some(key), Some(line)), "{e}");
    e
}

/// A valid pipeline config with one service. Lines: 9 [[service]],
/// 15 [[service.backend]].
const BASE: &str = r#"[[port]]
name = "lan"
device = "net_null0"

[[interface]]
port = "lan"
addresses = ["10.0.0.1/24"]

[[service]]
vip = "192.0.2.10"
protocol = "tcp"
port = 80
mode = "nat"

[[service.backend]]
address = "10.0.0.11"
"#;

/// BASE with a `[service.check]` table; its keys start on line 20.
fn with_check(keys: &str) -> String {
    format!("{BASE}\n[service.check]\ntype = \"http\"\n{keys}\n")
}

/// BASE with a `[control]` table; its keys start on line 19.
fn with_control(keys: &str) -> String {
    format!("{BASE}\n[control]\n{keys}\n")
}

#[test]
fn control_and_check_keys_get_their_documented_defaults() {
    let cfg = parse(&with_check("")).expect("valid").config;
    assert_eq!(
        cfg.control.socket,
        PathBuf::from("/run/ferrolb/ferrolb.sock")
    );
    assert_eq!(cfg.control.group, None);
    assert_eq!(cfg.control.max_message, 16 << 20);
    assert_eq!(cfg.control.max_clients, 64);
    assert_eq!(cfg.daemon.metrics, None);
    let check = cfg.services[0].check.first().expect("a check");
    assert_eq!(check.kind, CheckKind::Http);
    assert_eq!(
        (check.interval_ms, check.timeout_ms, check.rise, check.fall),
        (2000, 1000, 2, 3)
    );
    assert_eq!(check.connect_port, None);
    assert_eq!(check.path, "/");
    assert_eq!(check.expect_status, 200);
}

#[test]
fn every_control_key_is_accepted_when_in_range() {
    let text = format!(
        "{}\n[daemon]\nmetrics = \"127.0.0.1:9100\"\n",
        with_control(
            "socket = \"/tmp/lb.sock\"\ngroup = \"ferrolb\"\nmax_message = 4096\nmax_clients = 1"
        )
    );
    let cfg = parse(&text).expect("valid").config;
    assert_eq!(cfg.control.socket, PathBuf::from("/tmp/lb.sock"));
    assert_eq!(cfg.control.group.as_deref(), Some("ferrolb"));
    assert_eq!(
        (cfg.control.max_message, cfg.control.max_clients),
        (4096, 1)
    );
    assert_eq!(
        cfg.daemon.metrics,
        Some("127.0.0.1:9100".parse().expect("addr"))
    );
}

#[test]
fn the_socket_path_is_absolute() {
    let e = refused(
        &with_control("socket = \"run/ferrolb.sock\""),
        "control.socket",
        19,
    );
    assert!(e.message.contains("must be absolute"), "{e}");
}

#[test]
fn the_group_is_not_empty() {
    refused(&with_control("group = \"\""), "control.group", 19);
}

#[test]
fn max_message_is_at_least_4096() {
    let e = refused(
        &with_control("max_message = 4095"),
        "control.max_message",
        19,
    );
    assert!(e.message.contains("at least 4096"), "{e}");
}

#[test]
fn the_appliance_metrics_address_is_read_and_not_the_daemons() {
    let text = format!(
        "{}\n[daemon]\nmetrics = \"127.0.0.1:9100\"\n",
        with_control("metrics = \"127.0.0.1:9101\"")
    );
    let cfg = Config::parse(std::path::Path::new("m.toml"), text)
        .expect("valid")
        .config;
    assert_eq!(cfg.control.metrics, Some("127.0.0.1:9101".parse().unwrap()));
    let clash = format!(
        "{}\n[daemon]\nmetrics = \"127.0.0.1:9100\"\n",
        with_control("metrics = \"127.0.0.1:9100\"")
    );
    let e = refused(&clash, "control.metrics", 19);
    assert!(e.message.contains("also [daemon] metrics"), "{e}");
}

#[test]
fn max_clients_is_at_least_1() {
    refused(&with_control("max_clients = 0"), "control.max_clients", 19);
}

#[test]
fn an_unknown_control_key_is_refused_at_its_line() {
    let e = refused(&with_control("sockets = \"/x\""), "control.sockets", 19);
    assert!(e.message.contains("unknown field"), "{e}");
}

#[test]
fn sorry_server_and_quorum_are_checked() {
    let service = |extra: &str| {
        format!(
            "[[port]]\nname = \"lan\"\ndevice = \"net_null0\"\n\n[[interface]]\nport = \"lan\"\n\
             addresses = [\"10.0.0.1/24\"]\n\n[[service]]\nvip = \"192.0.2.10\"\nprotocol = \"tcp\"\n\
             port = 80\nmode = \"dr\"\n{extra}\n[[service.backend]]\naddress = \"10.0.0.11\"\n"
        )
    };
    let load = |text: String| Config::parse(std::path::Path::new("q.toml"), text);
    let good = load(service(
        "quorum = 3\nhysteresis = 1\nquorum_up = [\"/bin/up\", \"x\"]\nquorum_down = [\"/bin/down\"]\n\
         sorry_server = { address = \"10.0.0.99\", inhibit = true }\n",
    ))
    .unwrap()
    .config;
    let s = &good.services[0];
    assert_eq!((s.quorum, s.hysteresis), (3, 1));
    assert_eq!(s.sorry_server.as_ref().unwrap().weight, 1);
    for (extra, key) in [
        ("hysteresis = 2\n", "service[0].hysteresis"),
        ("quorum_up = []\n", "service[0].quorum_up"),
        (
            "sorry_server = { address = \"10.0.0.11\" }\n",
            "service[0].sorry_server",
        ),
        (
            "sorry_server = { address = \"10.0.0.99\", port = 8080 }\n",
            "service[0].sorry_server.port",
        ),
    ] {
        let e = load(service(extra)).unwrap_err().0;
        assert_eq!(e[0].key.as_deref(), Some(key), "{extra}: {e:?}");
    }
}

/// BASE as a DR service with a `[bgp]` table; its keys start on line 19.
fn with_bgp(keys: &str) -> String {
    let base = BASE.replace("mode = \"nat\"", "mode = \"dr\"");
    format!("{base}\n[bgp]\n{keys}\n")
}

#[test]
fn bgp_keys_get_their_defaults_and_are_checked() {
    assert_eq!(parse(BASE).expect("valid").config.bgp, None);
    let cfg = parse(&with_bgp("routes_file = \"/run/ferrolb/vips.conf\""))
        .expect("valid")
        .config;
    let bgp = cfg.bgp.expect("[bgp]");
    assert_eq!(
        (bgp.protocol.as_str(), bgp.birdc, bgp.drain_ms),
        ("ferrolb_vips", vec!["birdc".to_string()], 1000)
    );
    refused(
        &with_bgp("routes_file = \"vips.conf\""),
        "bgp.routes_file",
        19,
    );
    let keys = "routes_file = \"/v\"\nprotocol = \"no-dash\"";
    refused(&with_bgp(keys), "bgp.protocol", 20);
    let keys = "routes_file = \"/v\"\nbirdc = []";
    refused(&with_bgp(keys), "bgp.birdc", 20);
    let keys = "routes_file = \"/v\"\ndrain_ms = 60001";
    refused(&with_bgp(keys), "bgp.drain_ms", 20);
}

#[test]
fn a_nat_service_is_refused_when_vips_are_announced_over_bgp() {
    let text = format!("{BASE}\n[bgp]\nroutes_file = \"/v\"\n");
    let e = refused(&text, "service[0].mode", 13);
    assert!(e.message.contains("nat service cannot be announced"), "{e}");
    let text = text.replace(
        "mode = \"nat\"",
        "mode = \"fullnat\"\nlocal_addresses = [\"10.0.0.100\"]",
    );
    assert!(parse(&text).is_ok(), "fullnat is fine behind ECMP");
}

#[test]
fn the_documented_bgp_section_parses() {
    let doc = include_str!("../../../docs/many-nodes.md");
    let from = doc.find("## `[bgp]`").expect("the section");
    let open = "```toml\n";
    let start = from + doc[from..].find(open).expect("a toml block") + open.len();
    let len = doc[start..].find("```").expect("the block's end");
    let base = BASE.replace("mode = \"nat\"", "mode = \"dr\"");
    let text = format!("{base}\n{}", &doc[start..start + len]);
    let bgp = parse(&text).expect("valid").config.bgp.expect("[bgp]");
    assert_eq!(bgp.birdc, ["birdc", "-s", "/run/bird/bird.ctl"]);
}
