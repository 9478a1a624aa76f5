//! The control plane against a running appliance: every `ferrolbctl` verb,
//! atomic apply, bad requests, peers that may not talk, and many clients
//! changing things while traffic flows (docs/control-plane.md).
//!
//! Each test starts the real `ferrolb` with UDP client traffic replayed
//! forever on a `net_pcap` port (64 flows to a FULLNAT service), so every
//! change is made under load and its effect is read back from the running
//! dataplane: sessions per backend, counters, rates.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::appliance::{base_config, dns_traffic, Appliance, RawClient, DNS, FLOWS};
use serde_json::Value;

/// The service `key` in a `list --json` reply.
fn service<'a>(list: &'a Value, key: &str) -> &'a Value {
    list["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no service {key} in {list}"))
}

/// Live sessions per backend address of service `key`, draining ones
/// included (marked with a `*`).
fn sessions_by_backend(app: &Appliance, key: &str) -> BTreeMap<String, u64> {
    let list = app.ctl_json(&["list"]);
    service(&list, key)["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .map(|b| {
            let name = format!(
                "{}{}",
                b["address"].as_str().expect("address"),
                if b["draining"] == true { "*" } else { "" }
            );
            let n =
                b["active"].as_u64().expect("active") + b["inactive"].as_u64().expect("inactive");
            (name, n)
        })
        .collect()
}

fn weights(app: &Appliance, key: &str) -> BTreeMap<String, u64> {
    let list = app.ctl_json(&["list"]);
    service(&list, key)["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .filter(|b| b["draining"] != true)
        .map(|b| {
            (
                format!("{}:{}", b["address"].as_str().expect("address"), b["port"]),
                b["weight"].as_u64().expect("weight"),
            )
        })
        .collect()
}

fn map(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

/// Every drop counter that is not zero.
fn drops(app: &Appliance) -> BTreeMap<String, u64> {
    let stats = app.ctl_json(&["stats"]);
    stats["drops"]
        .as_object()
        .expect("drops")
        .iter()
        .filter(|(_, n)| n.as_u64() != Some(0))
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(u64::MAX)))
        .collect()
}

fn generation(app: &Appliance) -> u64 {
    app.ctl_json(&["hello"])["generation"]
        .as_u64()
        .expect("generation")
}

#[test]
fn backend_verbs_take_effect_on_live_sessions() {
    let app = Appliance::start(&base_config(), &dns_traffic());
    let half = FLOWS as u64 / 2;
    app.wait_for("every flow to have a session", || {
        sessions_by_backend(&app, DNS) == map(&[("10.0.1.11", half), ("10.0.1.12", half)])
    });

    // ipvsadm's shape.
    let list = app.ctl_ok(&["list"]);
    assert!(
        list.contains("Prot LocalAddress:Port Scheduler Flags"),
        "{list}"
    );
    assert!(list.contains("RemoteAddress:Port"), "{list}");
    assert!(list.contains("192.0.2.20:53"), "{list}");
    assert!(list.contains("10.0.1.11:53"), "{list}");

    // A new backend gets no existing flow: sessions keep their backend.
    let out = app.ctl_ok(&["backend", "add", DNS, "10.0.1.13", "--weight", "2"]);
    assert!(out.contains("10.0.1.13"), "{out}");
    assert_eq!(
        weights(&app, DNS),
        map(&[
            ("10.0.1.11:53", 1),
            ("10.0.1.12:53", 1),
            ("10.0.1.13:53", 2)
        ])
    );
    assert_eq!(
        sessions_by_backend(&app, DNS),
        map(&[("10.0.1.11", half), ("10.0.1.12", half), ("10.0.1.13", 0)])
    );
    app.ctl_ok(&["backend", "edit", DNS, "10.0.1.13", "--weight", "0"]);
    assert_eq!(weights(&app, DNS)["10.0.1.13:53"], 0);

    // Flush: .12's sessions end now, and its flows, still arriving, are
    // scheduled again: to .11, since .13 has weight 0.
    app.ctl_ok(&["backend", "delete", DNS, "10.0.1.12", "--flush"]);
    app.wait_for("the flushed flows to move to .11", || {
        sessions_by_backend(&app, DNS) == map(&[("10.0.1.11", FLOWS as u64), ("10.0.1.13", 0)])
    });

    // Drain: deleting .11 without flush keeps its sessions (the traffic
    // keeps them alive), shown as draining; the backend takes no new flow.
    app.ctl_ok(&["backend", "add", DNS, "10.0.1.12:53"]);
    app.ctl_ok(&["backend", "delete", DNS, "10.0.1.11"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        sessions_by_backend(&app, DNS),
        map(&[
            ("10.0.1.11*", FLOWS as u64),
            ("10.0.1.12", 0),
            ("10.0.1.13", 0)
        ])
    );
    let table = app.ctl_ok(&["list"]);
    assert!(
        table.contains("10.0.1.11:53"),
        "a draining backend is listed:\n{table}"
    );

    // Sessions: filters and the limit.
    let all = app.ctl_json(&["sessions", "--backend", "10.0.1.11", "--limit", "1000"]);
    let sessions = all["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), FLOWS, "{all}");
    assert_eq!(all["truncated"], false);
    for s in sessions {
        assert_eq!(s["backend"], "10.0.1.11:53", "{s}");
        assert_eq!(s["destination"], "192.0.2.20:53", "{s}");
        assert_eq!(s["protocol"], "udp", "{s}");
        assert!(
            s["local"]
                .as_str()
                .is_some_and(|l| l.starts_with("10.0.1.100:")),
            "FULLNAT sessions show their local address: {s}"
        );
    }
    let one = app.ctl_json(&["sessions", "--client", "198.51.100.7"]);
    assert_eq!(one["sessions"].as_array().map(Vec::len), Some(1), "{one}");
    assert_eq!(one["sessions"][0]["client"], "198.51.100.7:10006");
    let few = app.ctl_json(&["sessions", "--limit", "5"]);
    assert_eq!(few["sessions"].as_array().map(Vec::len), Some(5));
    assert_eq!(few["truncated"], true);
    let text = app.ctl_ok(&["sessions", "--limit", "5"]);
    assert!(text.contains("more sessions match"), "{text}");
    let none = app.ctl_json(&["sessions", "--service", "tcp/192.0.2.10:80"]);
    assert_eq!(none["sessions"].as_array().map(Vec::len), Some(0));

    // An unknown backend is one clear line and a non-zero exit.
    let out = app.ctl(&["backend", "delete", DNS, "10.0.1.99"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("ferrolbctl: ") && err.trim().lines().count() == 1,
        "{err}"
    );
    assert!(err.contains("10.0.1.99"), "{err}");

    assert_eq!(drops(&app), BTreeMap::new(), "no packet was dropped");
    let report = app.stop();
    assert!(report.contains("event:sessions_flushed"), "{report}");
}

#[test]
fn service_route_neighbour_laddr_and_snat_verbs() {
    let app = Appliance::start(&base_config(), &dns_traffic());
    let g0 = generation(&app);
    app.wait_for("every flow to have a session", || {
        app.ctl_json(&["stats"])["sessions"] == FLOWS as u64
    });

    // Reads: stats, counters and rates (before `laddr` below starts the
    // DNS service afresh).
    let stats = app.ctl_json(&["stats"]);
    assert!(
        stats["workers"][0]["rx_packets"].as_u64() > Some(0),
        "{stats}"
    );
    assert_eq!(stats["workers"][0]["generation"], g0);
    assert_eq!(stats["ports"][0]["name"], "lan");
    assert_eq!(stats["sessions"], FLOWS as u64);
    assert!(app.ctl_ok(&["stats"]).contains("lan"));
    let list = app.ctl_json(&["list", "--stats"]);
    let dns = service(&list, DNS);
    assert!(dns["stats"]["packets_in"].as_u64() > Some(0), "{dns}");
    assert_eq!(dns["stats"]["conns"], FLOWS as u64, "{dns}");
    app.wait_for("rates over a full sample", || {
        let list = app.ctl_json(&["list", "--rate"]);
        service(&list, DNS)["rate"]["pps_in"].as_f64() > Some(0.0)
    });
    let text = app.ctl_ok(&["list", "--rate"]);
    assert!(text.contains("InPPS"), "{text}");
    let text = app.ctl_ok(&["list", "--stats"]);
    assert!(text.contains("InPkts"), "{text}");

    app.ctl_ok(&[
        "service",
        "add",
        "192.0.2.30:8080",
        "--proto",
        "tcp",
        "--mode",
        "nat",
        "--scheduler",
        "rr",
    ]);
    app.ctl_ok(&["backend", "add", "tcp/192.0.2.30:8080", "10.0.1.13:80"]);
    app.ctl_ok(&[
        "service",
        "edit",
        "tcp/192.0.2.30:8080",
        "--scheduler",
        "wrr",
    ]);
    let list = app.ctl_json(&["list"]);
    let svc = service(&list, "tcp/192.0.2.30:8080");
    assert_eq!(svc["scheduler"], "wrr");
    assert_eq!(svc["mode"], "nat");
    assert_eq!(svc["backends"][0]["port"], 80);
    let out = app.ctl(&[
        "service",
        "add",
        "192.0.2.30:8080",
        "--proto",
        "tcp",
        "--mode",
        "nat",
    ]);
    assert_eq!(out.status.code(), Some(1), "adding it twice is refused");
    app.ctl_ok(&["service", "delete", "tcp/192.0.2.30:8080"]);
    let list = app.ctl_json(&["list"]);
    assert!(
        !list["services"]
            .as_array()
            .expect("services")
            .iter()
            .any(|s| s["key"] == "tcp/192.0.2.30:8080"),
        "{list}"
    );

    app.ctl_ok(&["laddr", "add", DNS, "10.0.1.101"]);
    let list = app.ctl_json(&["list"]);
    assert_eq!(
        service(&list, DNS)["local_addresses"],
        serde_json::json!(["10.0.1.100", "10.0.1.101"])
    );
    app.ctl_ok(&["laddr", "delete", DNS, "10.0.1.101"]);
    let list = app.ctl_json(&["list"]);
    assert_eq!(
        service(&list, DNS)["local_addresses"],
        serde_json::json!(["10.0.1.100"])
    );

    app.ctl_ok(&["route", "add", "172.16.0.0/12", "via", "10.0.0.254"]);
    let routes = app.ctl_json(&["route", "list"]);
    let has_route = |routes: &Value| {
        routes["routes"]
            .as_array()
            .expect("routes")
            .iter()
            .any(|r| r["prefix"] == "172.16.0.0/12" && r["via"] == "10.0.0.254")
    };
    assert!(has_route(&routes), "{routes}");
    assert!(app.ctl_ok(&["route", "list"]).contains("172.16.0.0/12"));
    app.ctl_ok(&["route", "delete", "172.16.0.0/12"]);
    assert!(!has_route(&app.ctl_json(&["route", "list"])));

    app.ctl_ok(&["neigh", "add", "10.0.1.14", "02:00:00:00:01:0e"]);
    let neigh = app.ctl_json(&["neigh", "list"]);
    let has_neigh = |n: &Value| {
        n["neighbours"]
            .as_array()
            .expect("neighbours")
            .iter()
            .any(|x| x["address"] == "10.0.1.14" && x["state"] == "static")
    };
    assert!(has_neigh(&neigh), "{neigh}");
    app.ctl_ok(&["neigh", "delete", "10.0.1.14"]);
    assert!(!has_neigh(&app.ctl_json(&["neigh", "list"])));

    app.ctl_ok(&[
        "snat",
        "add",
        "10.0.1.0/24",
        "--port",
        "lan",
        "--addr",
        "10.0.0.50",
    ]);
    let list = app.ctl_json(&["list"]);
    assert_eq!(list["snat"][0]["source"], "10.0.1.0/24", "{list}");
    app.ctl_ok(&["snat", "delete", "10.0.1.0/24"]);
    assert_eq!(app.ctl_json(&["list"])["snat"], serde_json::json!([]));

    // Each of the 12 changes above was one generation, and the running
    // config says what is left: the base config again.
    assert_eq!(generation(&app), g0 + 12);
    let config = app.ctl_ok(&["config"]);
    let parsed: toml::Table = toml::from_str(&config).expect("config is TOML");
    assert_eq!(parsed["service"].as_array().map(Vec::len), Some(2));

    let completions = app.ctl_ok(&["completions", "bash"]);
    assert!(completions.contains("ferrolbctl"), "{completions}");

    assert_eq!(drops(&app), BTreeMap::new(), "no packet was dropped");
    app.stop();
}

#[test]
fn apply_is_atomic_and_a_dry_run_changes_nothing() {
    let app = Appliance::start(&base_config(), &dns_traffic());
    let original = std::fs::read_to_string(&app.config).expect("config");
    let g0 = generation(&app);
    let running = app.ctl_ok(&["config"]);

    // .12 to weight 3, and a new backend .13.
    let changed = original.replace(
        "[[service.backend]]\naddress = \"10.0.1.12\"\n",
        "[[service.backend]]\naddress = \"10.0.1.12\"\nweight = 3\n\n\
         [[service.backend]]\naddress = \"10.0.1.13\"\n",
    );
    assert_ne!(changed, original);
    let new_file = app.dir.path().join("new.toml");
    std::fs::write(&new_file, &changed).expect("write");
    let new = new_file.to_str().expect("utf-8 path");

    let dry = app.ctl_ok(&["apply", "-f", new, "--dry-run"]);
    assert!(dry.contains("10.0.1.13"), "{dry}");
    assert!(dry.contains("1 -> 3"), "{dry}");
    assert_eq!(generation(&app), g0, "a dry run applies nothing");
    assert_eq!(app.ctl_ok(&["config"]), running);

    let out = app.ctl_ok(&["apply", "-f", new]);
    assert!(out.contains("10.0.1.13"), "{out}");
    assert_eq!(generation(&app), g0 + 1);
    assert_eq!(
        weights(&app, DNS),
        map(&[
            ("10.0.1.11:53", 1),
            ("10.0.1.12:53", 3),
            ("10.0.1.13:53", 1)
        ])
    );
    let again = app.ctl_ok(&["apply", "-f", new]);
    assert!(again.contains("no changes"), "{again}");
    assert_eq!(generation(&app), g0 + 1);

    // A config that does not validate: the error names the file and line,
    // and the running config (and traffic) carry on untouched.
    let bad = changed.replace(
        "address = \"10.0.1.13\"\n",
        "address = \"10.0.1.13\"\nweight = 4000000000\n",
    );
    let line = 1 + bad
        .lines()
        .position(|l| l == "weight = 4000000000")
        .expect("the bad line");
    let bad_file = app.dir.path().join("bad.toml");
    std::fs::write(&bad_file, bad).expect("write");
    let out = app.ctl(&["apply", "-f", bad_file.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("bad.toml:{line}")), "{err}");
    assert!(err.contains("weight"), "{err}");
    assert_eq!(generation(&app), g0 + 1);
    let rx = app.rx_packets();
    app.wait_for("traffic to go on", || app.rx_packets() > rx);
    assert_eq!(drops(&app), BTreeMap::new());

    // Ports need a restart.
    let moved = changed.replace("tx_pcap=/dev/null", "tx_pcap=/dev/null,infinite_rx=0");
    let moved_file = app.dir.path().join("ports.toml");
    std::fs::write(&moved_file, moved).expect("write");
    let out = app.ctl(&["apply", "-f", moved_file.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("restart"), "{err}");
    assert_eq!(generation(&app), g0 + 1);
    app.stop();
}

#[test]
fn bad_requests_get_named_errors_and_the_connection_lives_on() {
    let app = Appliance::start_with(&base_config(), &dns_traffic(), "max_message = 4096");
    let g0 = generation(&app);
    let mut c = RawClient::connect(&app.socket).expect("connect");
    let code = |reply: &Value| reply["error"]["code"].as_str().unwrap_or("").to_string();
    for (line, expected) in [
        ("{\"v\":1,", "malformed"),
        ("[1,2,3]", "malformed"),
        (r#"{"v":9,"op":"hello"}"#, "unsupported_version"),
        (r#"{"v":1,"op":"reboot"}"#, "unknown_op"),
        (
            r#"{"v":1,"op":"backend_edit","service":"tcp/192.0.2.10:80"}"#,
            "invalid_request",
        ),
        (
            r#"{"v":1,"op":"apply","config":"","dryrun":true}"#,
            "invalid_request",
        ),
        // The same key twice: refused, not "the last one wins".
        (
            r#"{"v":1,"op":"backend_edit","service":"udp/192.0.2.20:53","backend":"10.0.1.11","weight":0,"weight":1}"#,
            "invalid_request",
        ),
        (
            r#"{"v":1,"op":"backend_add","service":"udp/192.0.2.20:53","backend":{"address":"10.0.1.14","weight":4000000000}}"#,
            "invalid_config",
        ),
        (
            r#"{"v":1,"op":"backend_delete","service":"udp/192.0.2.99:53","backend":"10.0.1.11"}"#,
            "not_found",
        ),
        (
            r#"{"v":1,"op":"apply","config":"[[port]]\nname = \"x\"\ndevice = \"net_null0\"\n[[port]]\nname = \"y\"\ndevice = \"net_null1\"\n"}"#,
            "needs_restart",
        ),
    ] {
        let reply = c.call(line);
        assert_eq!(reply["ok"], false, "{line}: {reply}");
        assert_eq!(code(&reply), expected, "{line}: {reply}");
        assert!(
            reply["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{reply}"
        );
        // The same connection carries on.
        assert_eq!(c.call(r#"{"v":1,"op":"hello"}"#)["ok"], true);
    }
    // Too large: answered, then closed (the rest of the line cannot be told
    // from a new request); a new connection works.
    let big = format!(r#"{{"v":1,"op":"hello","x":"{}"}}"#, "a".repeat(5000));
    let reply = c.call(&big);
    assert_eq!(code(&reply), "too_large", "{reply}");
    assert_eq!(c.reply(), Value::Null, "closed after too_large");
    let mut c = RawClient::connect(&app.socket).expect("reconnect");
    assert_eq!(c.call(r#"{"v":1,"op":"hello"}"#)["ok"], true);

    assert_eq!(generation(&app), g0, "no failed request changed anything");
    assert_eq!(drops(&app), BTreeMap::new());
    app.stop();
}

/// The socket is 0660 root:root, so another user cannot even connect; and
/// if its mode is loosened by hand, the peer check still refuses them.
#[test]
fn a_peer_that_is_not_allowed_is_refused() {
    if !nix_is_root() {
        eprintln!("skipped: needs root to run a client as another user");
        return;
    }
    let app = Appliance::start(&base_config(), &dns_traffic());
    let mode = std::fs::metadata(&app.socket)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660, "socket mode");
    let as_nobody = || {
        use std::os::unix::process::CommandExt;
        Command::new(common::appliance::ferrolbctl_bin())
            .arg("-s")
            .arg(&app.socket)
            .arg("list")
            .uid(65534)
            .gid(65534)
            .output()
            .expect("run ferrolbctl as nobody")
    };
    let out = as_nobody();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("permission"), "{err}");

    std::fs::set_permissions(&app.socket, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let out = as_nobody();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("uid 65534"), "the server's own refusal: {err}");
    app.stop();
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// 10 clients, 1000 changes each, while traffic replays: every change is
/// answered, the worker keeps receiving throughout, and not one packet is
/// dropped.
#[test]
fn ten_clients_make_a_thousand_changes_each_under_traffic() {
    const CLIENTS: usize = 10;
    const CHANGES: usize = 1000;
    let app = Appliance::start(&base_config(), &dns_traffic());
    app.wait_for("traffic", || app.rx_packets() > 0);
    let g0 = generation(&app);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (answered, samples) = std::thread::scope(|s| {
        let monitor = s.spawn(|| {
            // Worker liveness: received packets grow between samples.
            let mut c = RawClient::connect(&app.socket).expect("connect");
            let mut last = None;
            let mut samples = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let stats = c.call(r#"{"v":1,"op":"stats"}"#);
                let rx = stats["result"]["workers"][0]["rx_packets"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{stats}"));
                if let Some(last) = last {
                    assert!(rx > last, "the worker stalled: rx {rx} after {last}");
                }
                last = Some(rx);
                samples += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            samples
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let socket = app.socket.clone();
                s.spawn(move || {
                    let mut c = RawClient::connect(&socket).expect("connect");
                    let own = format!("tcp/192.0.2.{}:80", 100 + i);
                    let mut ok = 0;
                    for n in 0..CHANGES {
                        let line = match n % 4 {
                            // Its own service, with a backend, then gone.
                            0 => format!(
                                r#"{{"v":1,"op":"service_add","service":{{"vip":"192.0.2.{}","protocol":"tcp","port":80,"mode":"nat","backend":[{{"address":"10.0.1.13"}}]}}}}"#,
                                100 + i
                            ),
                            1 => format!(
                                r#"{{"v":1,"op":"backend_edit","service":"{own}","backend":"10.0.1.13","weight":{}}}"#,
                                n % 7
                            ),
                            2 => format!(
                                r#"{{"v":1,"op":"backend_edit","service":"{DNS}","backend":"10.0.1.1{}","weight":{}}}"#,
                                1 + i % 2,
                                1 + n % 5
                            ),
                            _ => format!(r#"{{"v":1,"op":"service_delete","service":"{own}"}}"#),
                        };
                        let reply = c.call(&line);
                        assert_eq!(reply["ok"], true, "client {i} change {n}: {line}: {reply}");
                        ok += 1;
                    }
                    ok
                })
            })
            .collect();
        let answered: usize = clients
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .sum();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (answered, monitor.join().expect("monitor thread"))
    });
    assert_eq!(answered, CLIENTS * CHANGES);
    assert!(samples > 0);
    let g = generation(&app);
    // Weight edits that set the weight it already has change nothing.
    assert!(g > g0 + (CLIENTS * CHANGES / 2) as u64, "generation {g}");
    let stats = app.ctl_json(&["stats"]);
    assert_eq!(
        stats["workers"][0]["generation"], g,
        "the worker runs the last change"
    );
    assert_eq!(stats["workers"][0]["tx_dropped"], 0);
    assert_eq!(drops(&app), BTreeMap::new(), "no packet was dropped");
    let list = app.ctl_json(&["list"]);
    assert_eq!(list["services"].as_array().map(Vec::len), Some(2), "{list}");
    app.stop();
}

/// Without interfaces the appliance forwards L2: the socket still reports
/// (at once: there is no pipeline to ask) and refuses load-balancing changes.
#[test]
fn an_l2_forwarding_appliance_reports_and_refuses_changes() {
    let app = Appliance::start("\n[forward]\ntopology = \"loop\"\n", &dns_traffic());
    app.wait_for("forwarded traffic", || app.rx_packets() > 0);
    let stats = app.ctl_json(&["stats"]);
    assert_eq!(stats["workers"][0]["generation"], 0, "{stats}");
    assert_eq!(app.ctl_json(&["list"])["services"], serde_json::json!([]));
    let out = app.ctl(&["backend", "add", DNS, "10.0.1.13"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("L2 forwarding"), "{err}");
    app.stop();
}

/// The worker that owns a NAT or FULLNAT flow from `client`, as
/// docs/load-balancing.md ("Many workers") defines it.
fn owner(client: std::net::SocketAddrV4, workers: u64) -> u64 {
    let key = (u64::from(u32::from(*client.ip())) << 16) | u64::from(client.port());
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % workers
}

#[test]
fn two_workers_split_the_flows_and_the_control_plane_sees_both() {
    // 128 flows, half replayed on each worker's queue: whichever queue a
    // flow arrives on, its session lives on its owner.
    let flows = ferrolb_perf::scenario::dns_flows(2 * FLOWS as u8);
    let (q0, q1) = flows.split_at(FLOWS);
    let app = Appliance::start_queues(&base_config(), &[q0.to_vec(), q1.to_vec()], "", "");
    let all = 2 * FLOWS as u64;
    app.wait_for("every flow to have a session", || {
        sessions_by_backend(&app, DNS).values().sum::<u64>() == all
    });

    // The listing gathers both workers, each flow once, on its owner.
    let listed = app.ctl_json(&["sessions", "--limit", "1000"]);
    let sessions = listed["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len() as u64, all, "{listed}");
    let mut per_worker = [0u64; 2];
    let mut clients = std::collections::BTreeSet::new();
    for s in sessions {
        let client: std::net::SocketAddrV4 =
            s["client"].as_str().expect("client").parse().expect("addr");
        let worker = s["worker"].as_u64().expect("worker");
        assert_eq!(worker, owner(client, 2), "{s}");
        per_worker[worker as usize] += 1;
        clients.insert(client);
    }
    assert_eq!(clients.len() as u64, all);
    assert!(per_worker.iter().all(|&n| n > 0), "{per_worker:?}");

    // Both workers receive, and hand over what they do not own.
    let stats = app.ctl_json(&["stats"]);
    let workers = stats["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 2);
    assert!(workers.iter().all(|w| w["rx_packets"].as_u64() > Some(0)));
    assert!(
        stats["events"]["redirects_sent"].as_u64() > Some(0),
        "{stats}"
    );
    assert_eq!(
        workers
            .iter()
            .map(|w| w["sessions"].as_u64().expect("n"))
            .collect::<Vec<_>>(),
        per_worker.to_vec()
    );

    // A change reaches both workers before the reply.
    let before = generation(&app);
    app.ctl_ok(&["backend", "add", DNS, "10.0.1.13"]);
    let stats = app.ctl_json(&["stats"]);
    for w in stats["workers"].as_array().expect("workers") {
        assert_eq!(w["generation"].as_u64(), Some(before + 1), "{w}");
    }
    // Flushing a backend ends its sessions on both workers; the flows come
    // back on the other two backends.
    app.ctl_ok(&["backend", "delete", DNS, "10.0.1.11", "--flush"]);
    app.wait_for("the flushed flows to move", || {
        let by = sessions_by_backend(&app, DNS);
        !by.contains_key("10.0.1.11") && by.values().sum::<u64>() == all
    });
    // The replay offers more than two workers sharing this machine can
    // take: when a worker's thread is descheduled, its peer fills their
    // ring in microseconds and sheds the excess as redirect_full (where a
    // NIC would count rx_missed). Nothing else may be dropped.
    let mut dropped = drops(&app);
    dropped.remove("redirect_full");
    assert_eq!(dropped, BTreeMap::new());
    let report = app.stop();
    let sent = report
        .lines()
        .find_map(|l| l.strip_prefix("event:redirects_sent"))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .expect("redirects_sent in the report");
    assert!(sent > 0, "{report}");
}

/// Two workers on a device without rte_flow (net_pcap): the appliance says
/// at start that replies to local ports take the redirect rings, `stats`
/// shows it per port, and a change of the local addresses recomputes it.
#[test]
fn two_workers_on_net_pcap_report_rings_instead_of_rte_flow() {
    let app = Appliance::start_workers(&base_config(), &dns_traffic(), "", 2, "");
    app.wait_for("traffic on both workers", || {
        let stats = app.ctl_json(&["stats"]);
        (0..2).all(|w| stats["workers"][w]["rx_packets"].as_u64() > Some(0))
    });
    let log = app.log();
    assert!(
        log.contains(
            "port lan: no rte_flow steering (port lan: rte_flow_validate (eth / ipv4 dst \
             10.0.1.100 / tcp dst spec 0 mask 0x1 -> queue 0): Function not implemented \
             (errno 38)); replies to local ports reach their worker through the redirect rings"
        ),
        "{log}"
    );
    let rings = "rings (rte_flow: Function not implemented)";
    assert_eq!(app.ctl_json(&["stats"])["ports"][0]["steering"], rings);
    let text = app.ctl_ok(&["stats"]);
    assert!(text.contains("Steering") && text.contains(rings), "{text}");

    // The only FULLNAT service goes, its sessions with it: nothing to steer.
    app.ctl_ok(&["service", "delete", DNS, "--flush"]);
    assert_eq!(
        app.ctl_json(&["stats"])["ports"][0]["steering"],
        "none (no local addresses)"
    );
    app.ctl_ok(&[
        "service",
        "add",
        "192.0.2.20:53",
        "--proto",
        "udp",
        "--mode",
        "fullnat",
        "--laddr",
        "10.0.1.100",
    ]);
    assert_eq!(app.ctl_json(&["stats"])["ports"][0]["steering"], rings);
    app.stop();
}

/// `[workers] steering = "off"`: no rules are tried, and `stats` says so.
#[test]
fn steering_off_installs_nothing() {
    let off = "steering = \"off\"\n";
    let app = Appliance::start_workers(&base_config(), &dns_traffic(), "", 2, off);
    let log = app.log();
    assert!(
        log.contains("rte_flow steering off: replies to local ports take the redirect rings"),
        "{log}"
    );
    assert!(!log.contains("rte_flow_validate"), "{log}");
    assert_eq!(
        app.ctl_json(&["stats"])["ports"][0]["steering"],
        "off (rings)"
    );
    app.stop();
}
