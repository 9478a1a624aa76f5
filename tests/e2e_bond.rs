//! End to end: ferrolb's client-side port is a bond (docs/bonding.md) and
//! loses its active member under a request loop.
//!
//! `ext` is an active-backup bond of two `net_tap` members, bm0 (primary)
//! and bm1, in the lb namespace. This kernel has no bonding module, so the
//! far side of the two links is a Linux bridge joining both taps and the
//! veth to the router (`scripts/netns.sh bond`), standing in for the
//! switch or Linux bond a real deployment has there: whichever member the
//! bond uses reaches the router.
//!
//! While a UDP echo loop and an HTTP loop run through a NAT service, bm0's
//! tap goes down (`ip link set bm0 down`, the link the bond polls): the bond
//! moves to bm1, ferrolb logs it and announces its addresses (gratuitous
//! ARP) so the bridge learns the new way to its MAC, and `ferrolbctl stats`
//! shows bm1 active. Then bm0 comes back and the bond returns to its
//! primary. The loops may lose only what was in flight at each change
//! (one request at a time each: at most one per change), counted and
//! reported.
//!
//! Needs root, like `e2e_netns`; one case at a time.

mod common;

use std::time::{Duration, Instant};

use common::netns::{serial, server_ip, wait, Topology, ECHO, HTTP, VIP};
use serde_json::Value;

/// The bonded `ext` port's table, in place of its `device`.
const BOND: &str = r#"bond = { mode = "active-backup", members = ["net_tap0,iface=bm0", "net_tap1,iface=bm1"], primary = "net_tap0", miimon = 10 }"#;

fn services() -> String {
    let mut s = String::new();
    for (proto, port) in [("udp", ECHO), ("tcp", HTTP)] {
        s.push_str(&format!(
            "\n[[service]]\nvip = \"{VIP}\"\nprotocol = \"{proto}\"\nport = {port}\nmode = \"nat\"\n"
        ));
        for server in ["s1", "s2"] {
            s.push_str(&format!(
                "\n[[service.backend]]\naddress = \"{}\"\n",
                server_ip(server)
            ));
        }
    }
    s
}

/// `ferrolbctl stats --json`'s bonded port.
fn ext(t: &Topology) -> Value {
    let stats = t.ctl_json(&["stats"]);
    stats["ports"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "ext"))
        .cloned()
        .unwrap_or_else(|| panic!("no port ext in {stats}"))
}

/// The member the bond says is active, if any.
fn active(t: &Topology) -> Option<String> {
    let port = ext(t);
    port["members"]
        .as_array()?
        .iter()
        .find(|m| m["active"] == true)
        .and_then(|m| m["name"].as_str())
        .map(str::to_owned)
}

fn member_link(t: &Topology, name: &str) -> bool {
    ext(t)["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == name))
        .and_then(|m| m["link_up"].as_bool())
        .unwrap_or_else(|| panic!("no member {name}"))
}

/// Waits for `member` to be active; how long it took.
fn wait_active(t: &Topology, member: &str) -> Duration {
    let start = Instant::now();
    wait(
        &format!("{member} to be the bond's active member"),
        Duration::from_secs(5),
        || active(t).as_deref() == Some(member),
    );
    start.elapsed()
}

fn set_link(t: &Topology, iface: &str, state: &str) {
    let out = t.run_in("lb", &["ip", "link", "set", iface, state]);
    assert!(
        out.status.success(),
        "ip link set {iface} {state}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_active_backup_bond_fails_over_and_back_under_a_request_loop() {
    let _serial = serial();
    let mut t = Topology::up("nat");
    t.start_servers();
    let text = t.config_text(&services());
    let ext_device = text
        .lines()
        .find(|l| l.starts_with("device = \"net_af_packet0"))
        .expect("the ext port's device line")
        .to_owned();
    t.start_lb_text(&text.replacen(&ext_device, BOND, 1));
    t.netns_script("bond");
    assert_eq!(wait_active(&t, "net_tap0").as_secs(), 0, "the primary");
    assert_eq!(ext(&t)["bond_mode"], "active-backup");

    let loop_args = |mode: &str, port: u16| -> Vec<String> {
        [
            mode,
            "--target",
            &format!("{VIP}:{port}"),
            "--count",
            "0",
            "--duration-ms",
            "6000",
            "--interval-ms",
            "10",
            "--timeout-ms",
            "1500",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let udp_args = loop_args("udp", ECHO);
    let http_args = loop_args("http", HTTP);
    let udp = t.spawn_client("client", &as_strs(&udp_args));
    let http = t.spawn_client("client", &as_strs(&http_args));
    fn as_strs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    std::thread::sleep(Duration::from_millis(1500));

    set_link(&t, "bm0", "down");
    let failover = wait_active(&t, "net_tap1");
    assert!(!member_link(&t, "net_tap0"), "bm0 is down");
    let shown = t.ctl_ok(&["stats"]);
    std::thread::sleep(Duration::from_millis(1500));
    set_link(&t, "bm0", "up");
    let failback = wait_active(&t, "net_tap0");

    let udp = udp.wait(Duration::from_secs(30));
    let http = http.wait(Duration::from_secs(30));
    let log = std::fs::read_to_string(t.dir.path().join("ferrolb.out")).unwrap_or_default();
    let members = ext(&t)["members"].clone();
    eprintln!(
        "E2E bond: failover seen after {} ms, failback after {} ms; UDP {} requests, {} lost \
         ({:?}); HTTP {} requests, {} failed; members {members}",
        failover.as_millis(),
        failback.as_millis(),
        udp.requests.len(),
        udp.failures().len(),
        udp.by_server(),
        http.requests.len(),
        http.failures().len(),
    );
    // ferrolbctl shows the failover as an operator reads it.
    let row = |member: &str| {
        shown
            .lines()
            .find(|l| l.contains(member))
            .map(|l| l.split_whitespace().collect::<Vec<_>>()[..5].join(" "))
            .unwrap_or_else(|| panic!("no row for {member} in\n{shown}"))
    };
    assert_eq!(row("net_tap0"), "ext active-backup net_tap0 down backup");
    assert_eq!(row("net_tap1"), "ext active-backup net_tap1 up active");
    // Both changes logged, each followed by gratuitous ARP.
    for line in [
        "bond: port ext: member net_tap0 link down",
        "bond: port ext: active member net_tap0 -> net_tap1",
        "bond: port ext: member net_tap0 link up",
        "bond: port ext: active member net_tap1 -> net_tap0",
    ] {
        assert!(log.contains(line), "no {line:?} in\n{log}");
    }
    assert!(
        log.matches("gratuitous ARP announcements queued").count() >= 2,
        "{log}"
    );
    // The loops kept going through both changes: at most the request in
    // flight at each change lost, by each loop.
    for run in [&udp, &http] {
        assert!(run.requests.len() > 100, "{}: {:?}", run.what, run.done);
        assert!(
            run.failures().len() <= 2,
            "{}: {} failed: {:?}",
            run.what,
            run.failures().len(),
            run.failures()
        );
    }
    // Both members carried traffic: bm1 while bm0 was down.
    for m in members.as_array().expect("members") {
        assert!(m["tx_packets"].as_u64() > Some(0), "{m}");
        assert!(m["rx_packets"].as_u64() > Some(0), "{m}");
    }
}
