//! End to end with real Linux UDP over IPv6 in network namespaces (issue
//! 20; docs/ipv6.md, "ops and also_listen over IPv6"): a UDP DR service
//! on the IPv6 VIP with one-packet scheduling (`ops`, rr) and a second
//! address in its group (`also_listen`). One client flow (one source
//! port) of datagrams to the VIP is answered by the three servers in
//! turn (without `ops` the flow would keep one server, its session's:
//! `pipeline/ops6_tests.rs` shows both), then one to
//! the group's address, which the router resolves by Neighbour Discovery
//! and the servers answer from. No session is made. Needs root.

mod common;

use common::netns::{serial, Topology};
use common::netns6::{with_ipv6_addresses, SERVERS6, VIP6};

/// The group's other address: on the servers' `lo` and routed by the
/// router to ferrolb's ext link, as the VIP is (`netns.sh ipv6dr`).
const VIP6B: &str = "2001:db8:10::11";

fn run_ok(t: &Topology, role: &str, args: &[&str]) {
    let out = t.run_in(role, args);
    assert!(
        out.status.success(),
        "{role}: {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `n` datagrams from the client's port `port` to `[vip]:7007`, every one
/// answered from `vip` (the client checks it); the answers by server.
fn one_flow(t: &Topology, vip: &str, port: u16, n: usize) -> common::netns::ClientRun {
    let target = format!("[{vip}]:7007");
    let (count, port) = (n.to_string(), port.to_string());
    let args = [
        "udp",
        "--target",
        &target,
        "--count",
        &count,
        "--source-port",
        &port,
        "--timeout-ms",
        "3000",
    ];
    let run = t.client("client", &args);
    eprintln!(
        "E2E IPv6 ops to {target} from port {port}: {:?}",
        run.by_server()
    );
    run.assert_all_ok(n);
    run
}

#[test]
fn real_linux_udp_over_ipv6_is_scheduled_per_datagram_on_both_group_addresses() {
    let _serial = serial();
    let mut t = Topology::up("dr");
    t.netns_script("ipv6dr");
    run_ok(
        &t,
        "router",
        &[
            "ip",
            "-6",
            "route",
            "add",
            &format!("{VIP6B}/128"),
            "dev",
            "lb",
        ],
    );
    for (s, _) in SERVERS6 {
        run_ok(
            &t,
            s,
            &[
                "ip",
                "addr",
                "add",
                &format!("{VIP6B}/128"),
                "dev",
                "lo",
                "nodad",
            ],
        );
        t.start_server_with(s, &["--udp6-addr", VIP6, "--udp6-addr", VIP6B]);
    }
    let mut body = format!(
        "\n[[service]]\nvip = \"{VIP6}\"\nprotocol = \"udp\"\nport = 7007\nmode = \"dr\"\n\
         scheduler = \"rr\"\nops = true\nalso_listen = [\"[{VIP6B}]:7007\"]\n"
    );
    for (_, ip) in SERVERS6 {
        body.push_str(&format!("\n[[service.backend]]\naddress = \"{ip}\"\n"));
    }
    t.start_lb_text(&with_ipv6_addresses(&t.config_text(&body), true));

    // One flow to the VIP: every server answers a third of it.
    let n = 30;
    let run = one_flow(&t, VIP6, 5353, n);
    let third = (n / 3) as u64;
    let want: std::collections::BTreeMap<String, u64> = SERVERS6
        .iter()
        .map(|(s, _)| (s.to_string(), third))
        .collect();
    assert_eq!(run.by_server(), want, "one flow spread per datagram");
    // One flow to the group's address: the same.
    let run = one_flow(&t, VIP6B, 5354, n);
    assert_eq!(run.by_server(), want, "the group's address, as the VIP");

    let stats = t.ctl_json(&["stats"]);
    let e = &stats["events"];
    eprintln!("E2E IPv6 ops events: {e}");
    assert_eq!(
        e["one_packet_scheduled"].as_u64(),
        Some(2 * n as u64),
        "{e}"
    );
    assert_eq!(e["sessions_created"].as_u64().unwrap_or(0), 0, "{e}");
    let key = format!("udp/[{VIP6}]:7007");
    let svc = t.service(&key);
    assert_eq!(svc["stats"]["conns"], 0, "{svc}");
    assert_eq!(svc["stats"]["packets_in"], 2 * n as u64, "{svc}");
    // `ferrolbctl list` shows the group's IPv6 address.
    assert_eq!(
        svc["also_listen"],
        serde_json::json!([format!("[{VIP6B}]:7007")])
    );
    for reason in ["no_service", "neighbour_unresolved", "ipv6_fragment"] {
        assert_eq!(t.drop_count(reason), 0, "drop:{reason}");
    }
}
