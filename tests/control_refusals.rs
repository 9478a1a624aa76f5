//! Names and addresses that cannot work, sent to a running appliance the
//! way a careless controller would: each op, and `apply`, is refused with
//! `invalid_config` naming the key, and nothing changes (the generation
//! stays, `list` shows what it showed). `control/src/config/tests_addr.rs`
//! checks every rule on config text; this checks that the socket refuses
//! them too.

mod common;

use common::appliance::{base_config, dns_traffic, Appliance, RawClient};
use serde_json::{json, Value};

/// The error of a refused request, checked to be `invalid_config` naming
/// `key`.
fn refused(client: &mut RawClient, request: &Value, key: &str) -> String {
    let reply = client.call(&request.to_string());
    assert_eq!(reply["ok"], false, "{request} was accepted: {reply}");
    let error = &reply["error"];
    assert_eq!(error["code"], "invalid_config", "{request}: {reply}");
    let message = error["message"].as_str().expect("a message").to_owned();
    assert!(
        message.contains(key),
        "{request}: {key} not named: {message}"
    );
    message
}

fn service_add(name: Option<&str>, vip: &str) -> Value {
    let mut service = json!({"vip": vip, "protocol": "tcp", "port": 81, "mode": "nat"});
    if let Some(name) = name {
        service["name"] = name.into();
    }
    json!({"v": 1, "op": "service_add", "service": service})
}

#[test]
fn bad_names_and_addresses_are_refused_by_every_op_and_apply() {
    let app = Appliance::start(&base_config(), &dns_traffic());
    let generation = app.ctl_json(&["hello"])["generation"].clone();
    let config_before = app.ctl_ok(&["config"]);
    let mut c = RawClient::connect(&app.socket).expect("connect");

    // Names that would forge a line of `list`, or clear the screen.
    for name in ["evil\nTCP  6.6.6.6:80 rr", "x\u{1b}[2J", "a b", ""] {
        refused(
            &mut c,
            &service_add(Some(name), "192.0.2.40"),
            "service[2].name",
        );
    }
    let edit = json!({"v": 1, "op": "service_edit", "service": "tcp/192.0.2.10:80",
                      "set": {"name": "web\n  -> 6.6.6.6:80"}});
    refused(&mut c, &edit, "service[1].name");

    // VIPs that can never be reached: unspecified, broadcast, multicast,
    // loopback, our interface address, the gateway.
    for vip in [
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "127.0.0.1",
        "10.0.0.1",
        "10.0.0.254",
    ] {
        refused(&mut c, &service_add(None, vip), "service[2].vip");
    }
    // Backends that are this service's VIP, another VIP, a local address
    // or an interface address: loops.
    for address in ["192.0.2.10", "192.0.2.20", "10.0.1.100", "10.0.1.1"] {
        let add = json!({"v": 1, "op": "backend_add", "service": "tcp/192.0.2.10:80",
                         "backend": {"address": address}});
        refused(&mut c, &add, "service[1].backend[1].address");
    }
    for mac in ["ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01"] {
        let add = json!({"v": 1, "op": "neigh_add",
                         "neighbour": {"address": "10.0.0.9", "mac": mac}});
        refused(&mut c, &add, "neighbour[4].mac");
    }
    let route = json!({"v": 1, "op": "route_add",
                       "route": {"prefix": "172.16.0.0/12", "via": "10.0.0.1"}});
    refused(&mut c, &route, "route[1].via");
    let laddr = json!({"v": 1, "op": "laddr_add", "service": "udp/192.0.2.20:53",
                       "address": "10.0.1.255"});
    refused(&mut c, &laddr, "service[0].local_addresses[1]");
    let snat = json!({"v": 1, "op": "snat_add", "rule": {"source": "10.0.1.0/24",
                      "port": "lan", "addresses": ["224.0.0.9"]}});
    refused(&mut c, &snat, "snat[0].addresses[0]");

    // `apply` of a whole file: the same rule, at the file's line.
    let config = std::fs::read_to_string(&app.config).expect("the config");
    let bad = config.replacen("vip = \"192.0.2.20\"", "vip = \"255.255.255.255\"", 1);
    assert_ne!(bad, config);
    let apply = json!({"v": 1, "op": "apply", "config": bad, "source": "bad.toml"});
    let message = refused(&mut c, &apply, "service[0].vip");
    assert!(message.contains("bad.toml:"), "{message}");

    // ferrolbctl: one line on stderr, the name escaped.
    let out = app.ctl(&[
        "service",
        "add",
        "192.0.2.41:80",
        "--proto",
        "tcp",
        "--mode",
        "nat",
        "--name",
        "evil\nTCP  6.6.6.6:80 rr",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 2, "{err}");
    assert!(err.contains("service[2].name"), "{err}");
    assert!(err.contains("evil\\nTCP"), "{err}");

    // Nothing changed.
    assert_eq!(app.ctl_json(&["hello"])["generation"], generation);
    assert_eq!(app.ctl_ok(&["config"]), config_before);
    let listing = app.ctl_ok(&["list"]);
    assert!(!listing.contains("6.6.6.6"), "{listing}");
    app.stop();
}
