//! The kernel path end to end (docs/kernel-path.md): ferrolb's ports get
//! kernel interfaces (`net_tap`) in the lb namespace, flb-ext 10.0.2.2/24
//! and flb-lan 10.0.1.2/24, and the lb namespace's own stack is reached
//! through them only (`scripts/netns.sh kernel`). Needs root; fails, never
//! skips, without it.

mod common;

use std::time::{Duration, Instant};

use common::netns::{serial, server_ip, wait, Topology, CLIENT_IP, ECHO, HTTP, SERVERS, VIP};

const EXT_HOST: &str = "10.0.2.2";
const EXT_MAC: &str = "02:00:00:00:02:01";
/// The kernel interfaces, on the `ext` and `lan` ports.
const KERNEL_EXT: &str =
    r#"kernel = { name = "flb-ext", addresses = ["10.0.2.2/24"], budget = BUDGET }"#;
const KERNEL_LAN: &str = r#"kernel = { name = "flb-lan", addresses = ["10.0.1.2/24"] }"#;

/// A DR service on the VIP's HTTP port over the three servers; `check`
/// is a `check = {...}` line or empty.
fn dr_service(check: &str) -> String {
    let mut s = format!(
        "\n[[service]]\nvip = \"{VIP}\"\nprotocol = \"tcp\"\nport = {HTTP}\nmode = \"dr\"\n\
         scheduler = \"rr\"\n{check}\n"
    );
    for (server, _) in SERVERS {
        s.push_str(&format!(
            "\n[[service.backend]]\naddress = \"{}\"\n",
            server_ip(server)
        ));
    }
    s
}

/// A topology in DR mode whose ferrolb has kernel interfaces (the ext
/// one with `budget` frames per second), its servers running.
fn kernel_topology(budget: u32) -> Topology {
    let mut t = Topology::up("dr");
    t.start_servers();
    t.port_extra = [
        KERNEL_EXT.replace("BUDGET", &budget.to_string()),
        KERNEL_LAN.to_owned(),
    ];
    t.netns_script("kernel");
    t
}

fn stat(t: &Topology, group: &str, name: &str) -> u64 {
    t.ctl_json(&["stats"])[group][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {group} counter {name}"))
}

/// The MAC the router has for `ip` on its link to ferrolb, if any.
fn router_neighbour(t: &Topology, ip: &str) -> Option<String> {
    let out = t.run_in("router", &["ip", "neigh", "show", ip, "dev", "lb"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut words = text.split_whitespace();
    words.find(|w| *w == "lladdr")?;
    words.next().map(str::to_owned)
}

fn weight_of(t: &Topology, ip: &str) -> Option<u64> {
    t.backends(&format!("tcp/{VIP}:{HTTP}"))
        .get(ip)
        .map(|b| b.0)
}

#[test]
fn the_host_is_reached_through_its_kernel_interfaces_and_vips_stay_balanced() {
    let _serial = serial();
    let t0 = Instant::now();
    let mut t = kernel_topology(20_000);
    // Stale entries with another MAC: only ferrolb's gratuitous ARP
    // corrects them (nothing else is sent to these addresses yet).
    for ip in ["10.0.2.1", EXT_HOST] {
        let out = t.run_in(
            "router",
            &[
                "ip",
                "neigh",
                "replace",
                ip,
                "lladdr",
                "02:00:00:00:99:99",
                "dev",
                "lb",
                "nud",
                "stale",
            ],
        );
        assert!(out.status.success(), "{out:?}");
    }
    let check =
        "check = { type = \"tcp\", interval_ms = 300, timeout_ms = 200, rise = 2, fall = 2 }";
    let body = format!(
        "\n[garp]\ncount = 3\ninterval_ms = 200\n{}",
        dr_service(check)
    );
    t.start_lb(&body);
    let started = Instant::now();

    // Gratuitous ARP: the router's cache now has the port's MAC for the
    // dataplane's address and the host's.
    wait(
        "the router to learn 10.0.2.1 and 10.0.2.2 from GARP",
        Duration::from_secs(5),
        || {
            router_neighbour(&t, "10.0.2.1").as_deref() == Some(EXT_MAC)
                && router_neighbour(&t, EXT_HOST).as_deref() == Some(EXT_MAC)
        },
    );
    let garp_ms = started.elapsed().as_millis();
    assert!(stat(&t, "events", "garp_sent") >= 2);
    t.netns_script("kernel-route");

    // ARP resolution of the host address, answered by the kernel: the
    // router forgets it and asks.
    let out = t.run_in("router", &["ip", "neigh", "flush", "dev", "lb"]);
    assert!(out.status.success(), "{out:?}");
    let to_kernel_before = stat(&t, "events", "to_kernel");
    let ping = t.client(
        "router",
        &["ping", "--target", &format!("{EXT_HOST}:0"), "--count", "3"],
    );
    ping.assert_all_ok(3);
    assert_eq!(router_neighbour(&t, EXT_HOST).as_deref(), Some(EXT_MAC));
    assert!(
        stat(&t, "events", "to_kernel") >= to_kernel_before + 4,
        "ARP request and 3 echoes"
    );

    // From the client, through the router: ping, and TCP to a listener in
    // the lb namespace (its only addresses are on the kernel interfaces).
    let ping = t.client(
        "client",
        &["ping", "--target", &format!("{EXT_HOST}:0"), "--count", "5"],
    );
    ping.assert_all_ok(5);
    t.start_server("lb");
    let tcp = t.client(
        "client",
        &[
            "tcp",
            "--target",
            &format!("{EXT_HOST}:{ECHO}"),
            "--count",
            "20",
        ],
    );
    tcp.assert_all_ok(20);
    assert_eq!(tcp.by_server().get("lb"), Some(&20));
    assert_eq!(
        tcp.by_peer_ip().get(CLIENT_IP),
        Some(&20),
        "the host saw the client"
    );

    // VIP traffic is still the dataplane's, balanced over the servers.
    let http = t.client(
        "client",
        &[
            "http",
            "--target",
            &format!("{VIP}:{HTTP}"),
            "--count",
            "30",
        ],
    );
    http.assert_all_ok(30);
    let spread = http.by_server();
    assert_eq!(
        spread.values().copied().collect::<Vec<_>>(),
        vec![10, 10, 10],
        "round robin over s1-s3: {spread:?}"
    );

    // `ferrolbctl daemon` in the lb namespace checks the servers through
    // flb-lan (the namespace has no other way to the LAN).
    let config = t.config.clone();
    t.start_daemon_in("lb", &config);
    let s2 = server_ip("s2");
    t.stop_server("s2");
    wait("s2 at weight 0", Duration::from_secs(20), || {
        weight_of(&t, s2) == Some(0)
    });
    t.start_server("s2");
    wait("s2 back at weight 1", Duration::from_secs(20), || {
        weight_of(&t, s2) == Some(1)
    });

    let (to_kernel, from_kernel) = (
        stat(&t, "events", "to_kernel"),
        stat(&t, "events", "from_kernel"),
    );
    assert!(from_kernel > 0 && to_kernel > 0);
    assert_eq!(stat(&t, "drops", "kernel_full"), 0);
    assert_eq!(stat(&t, "drops", "kernel_budget"), 0);
    eprintln!(
        "E2E kernel path: GARP corrected the router's cache {garp_ms} ms after start; ping, \
         ARP and 20 TCP connections to the host through flb-ext; 30 VIP requests {spread:?}; \
         health checks through flb-lan took s2 out and back; to_kernel {to_kernel}, \
         from_kernel {from_kernel}; {} ms",
        t0.elapsed().as_millis()
    );
}

#[test]
fn a_flood_at_the_host_is_capped_by_the_budget_while_vip_traffic_flows() {
    let _serial = serial();
    let t0 = Instant::now();
    const BUDGET: u64 = 200;
    let mut t = kernel_topology(BUDGET as u32);
    t.start_lb(&dr_service(""));
    t.netns_script("kernel-route");
    // The host answers before the flood...
    let ping = t.client(
        "client",
        &["ping", "--target", &format!("{EXT_HOST}:0"), "--count", "2"],
    );
    ping.assert_all_ok(2);

    let to_kernel_before = stat(&t, "events", "to_kernel");
    let flood_started = Instant::now();
    let flood = t.spawn_client(
        "client",
        &[
            "flood",
            "--target",
            &format!("{EXT_HOST}:9"),
            "--count",
            "0",
            "--duration-ms",
            "4000",
        ],
    );
    let http = t.client(
        "client",
        &[
            "http",
            "--target",
            &format!("{VIP}:{HTTP}"),
            "--count",
            "200",
            "--interval-ms",
            "10",
        ],
    );
    let flood = flood.wait(Duration::from_secs(30));
    let flood_secs = flood_started.elapsed().as_secs_f64();
    http.assert_all_ok(200);

    let to_kernel = stat(&t, "events", "to_kernel") - to_kernel_before;
    let over_budget = stat(&t, "drops", "kernel_budget");
    let sent: u64 = flood
        .done
        .as_deref()
        .and_then(|d| d.split_whitespace().find_map(|w| w.strip_prefix("sent=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // One budget window per started second of the flood, and one more for
    // a window already open when it began.
    let cap = BUDGET * (flood_secs.ceil() as u64 + 1);
    assert!(
        over_budget > 0,
        "a flood of {sent} frames never exceeded the budget"
    );
    assert!(
        to_kernel <= cap,
        "{to_kernel} frames reached the kernel in {flood_secs:.1} s, budget {BUDGET}/s (cap {cap})"
    );
    // ...and after it.
    std::thread::sleep(Duration::from_millis(1100));
    let ping = t.client(
        "client",
        &["ping", "--target", &format!("{EXT_HOST}:0"), "--count", "2"],
    );
    ping.assert_all_ok(2);
    eprintln!(
        "E2E kernel budget: flood of {sent} datagrams in {flood_secs:.1} s at the host; {to_kernel} \
         reached the kernel (budget {BUDGET}/s), kernel_budget drops {over_budget}; 200 VIP \
         requests at 10 ms all answered; {} ms",
        t0.elapsed().as_millis()
    );
}
