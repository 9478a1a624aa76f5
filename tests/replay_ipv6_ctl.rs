//! The operator's tools on IPv6 DR flows (issue 20), against the real
//! binary on a `net_pcap` port replaying a client's SYN to an IPv6 VIP and
//! the backend's Neighbor Advertisement forever: `sessions` filtered by
//! IPv6 prefix and address-and-port, `explain` of the flow and of a new
//! one, and `trace` following the IPv6 packet step by step.

mod common;

use std::net::Ipv6Addr;

use common::appliance::Appliance;
use etherparse::{Icmpv6Type, PacketBuilder};
use serde_json::Value;

const LB: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
const ROUTER: [u8; 6] = [2, 0, 0, 0, 0, 0x01];
const RS1: [u8; 6] = [2, 0, 0, 0, 1, 0x11];
const VIP6: &str = "2001:db8:10::10";
const CLIENT6: &str = "2001:db8:2::7";

fn a6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().expect("address").octets()
}

fn body() -> String {
    format!(
        r#"
[[interface]]
port = "lan"
addresses = ["10.0.0.1/24", "2001:db8:1::1/64"]

[[service]]
vip = "{VIP6}"
protocol = "tcp"
port = 80
mode = "dr"

[[service.backend]]
address = "2001:db8:1::11"

[[service.backend]]
address = "2001:db8:1::12"
"#
    )
}

/// The client's SYN, and 2001:db8:1::11's answer to our solicitation.
fn traffic() -> Vec<Vec<u8>> {
    let mut syn = Vec::new();
    PacketBuilder::ethernet2(ROUTER, LB)
        .ipv6(a6(CLIENT6), a6(VIP6), 59)
        .tcp(40000, 80, 7, 64240)
        .syn()
        .write(&mut syn, b"")
        .expect("writes");
    let mut na = Vec::new();
    let mut nd = a6("2001:db8:1::11").to_vec();
    nd.extend_from_slice(&[2, 1]);
    nd.extend_from_slice(&RS1);
    PacketBuilder::ethernet2(RS1, LB)
        .ipv6(a6("2001:db8:1::11"), a6("2001:db8:1::1"), 255)
        .icmpv6(Icmpv6Type::Unknown {
            type_u8: 136,
            code_u8: 0,
            bytes5to8: [0x60, 0, 0, 0],
        })
        .write(&mut na, &nd)
        .expect("writes");
    vec![syn, na]
}

fn steps(p: &Value) -> Vec<(String, String)> {
    p["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_owned(),
                s["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn clients(app: &Appliance, filter: &[&str]) -> Vec<String> {
    let mut args = vec!["sessions"];
    args.extend_from_slice(filter);
    let reply = app.ctl_json(&args);
    reply["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["client"].to_string())
        .collect()
}

#[test]
fn sessions_explain_and_trace_see_ipv6_dr_flows() {
    let app = Appliance::start(&body(), &traffic());
    app.wait_for("the IPv6 session", || {
        !clients(&app, &["--client", "2001:db8:2::/64"]).is_empty()
    });
    assert_eq!(clients(&app, &["--client", "2001:db8:2::/64"]).len(), 1);
    assert_eq!(clients(&app, &["--client", "2001:db8:3::/64"]).len(), 0);
    assert_eq!(clients(&app, &["--client", "198.51.100.0/24"]).len(), 0);
    assert_eq!(
        clients(&app, &["--backend", "[2001:db8:1::11]:80"]).len(),
        1
    );
    assert_eq!(
        clients(&app, &["--backend", "[2001:db8:1::11]:8080"]).len(),
        0
    );

    // The replayed flow has its session; a new one is scheduled.
    let explain =
        |src: &str| steps(&app.ctl_json(&["explain", "tcp", src, "[2001:db8:10::10]:80"]));
    let hit = explain("[2001:db8:2::7]:40000");
    assert!(
        hit[1].1.starts_with("existing session")
            && hit[1].1.contains("to backend [2001:db8:1::11]:80"),
        "{hit:?}"
    );
    assert_eq!(hit[3].1, "2001:db8:1::11 is 02:00:00:00:01:11 (learned)");
    let new = explain("[2001:db8:2::8]:40000");
    let names: Vec<&str> = new.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "worker",
            "session",
            "schedule",
            "rewrite",
            "route",
            "neighbour",
            "tx"
        ],
        "{new:?}"
    );
    assert!(new[2].1.contains("mode dr scheduler"), "{new:?}");
    let mixed = app.ctl(&["explain", "tcp", "198.51.100.7:1", "[2001:db8:10::10]:80"]);
    assert!(!mixed.status.success());
    assert!(
        String::from_utf8_lossy(&mixed.stderr).contains("not of one family"),
        "{mixed:?}"
    );

    // trace: the replayed SYN followed through its IPv6 steps.
    let reply = app.ctl_json(&["trace", "-n", "4", "--timeout", "5"]);
    let packets = reply["packets"].as_array().expect("packets");
    let syn = packets
        .iter()
        .map(steps)
        .find(|s| s.iter().any(|(n, _)| n == "ipv6"))
        .unwrap_or_else(|| panic!("an IPv6 flow traced: {reply}"));
    assert_eq!(
        syn[1].1, "tcp [2001:db8:2::7]:40000 -> [2001:db8:10::10]:80 hop limit 59 flags syn",
        "{syn:?}"
    );
    assert!(
        syn.iter()
            .any(|(n, d)| n == "session" && d.starts_with("hit session")),
        "{syn:?}"
    );
    assert!(syn.last().is_some_and(|(n, _)| n == "tx"), "{syn:?}");
    app.stop();
}
