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
//! 802.3ad: ext is a bond over two `net_af_packet` members on veths whose
//! other ends (`scripts/netns.sh lacp`, a namespace of their own with the
//! veth to the router) belong to the LACP partner, and
//! that partner is `dpdk-testpmd` with its own `net_bonding` in mode 4
//! (nothing else speaks LACP without the kernel module), forwarding
//! between its bond and the veth to the router. Both sides must agree
//! (both members in the aggregator, in sync, collecting and
//! distributing) and NAT traffic must pass, spread over both members.
//! testpmd's io engine transmits only what it forwards, and a bond sends
//! its LACPDUs from its TX bursts, so a ping every 50 ms from the router
//! keeps testpmd's side of LACP talking (ferrolb sends an empty TX burst
//! on an 802.3ad port at every poll for its own).
//!
//! Needs root, like `e2e_netns`; one case at a time.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::{serial, server_ip, wait, Topology, ECHO, HTTP, VIP};
use common::unique_prefix;
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

/// The active-backup lab: NAT services, `ext` the bond over bm0 and bm1,
/// bm0 active.
fn active_backup_lab() -> Topology {
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
    t
}

#[test]
fn an_active_backup_bond_fails_over_and_back_under_a_request_loop() {
    let _serial = serial();
    let t = active_backup_lab();

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

#[test]
fn a_bond_with_no_member_up_counts_what_it_refuses_as_bond_no_member() {
    let _serial = serial();
    let t = active_backup_lab();
    let udp_args = [
        "udp",
        "--target",
        &format!("{VIP}:{ECHO}"),
        "--count",
        "0",
        "--duration-ms",
        "4000",
        "--interval-ms",
        "10",
        "--timeout-ms",
        "200",
    ];
    let udp = t.spawn_client("client", &udp_args);
    std::thread::sleep(Duration::from_millis(1000));
    // Both members down: what ferrolb sends by ext (replies in flight,
    // the gratuitous ARP of the member change) has no member to go on.
    set_link(&t, "bm0", "down");
    set_link(&t, "bm1", "down");
    wait(
        "the bond to have no active member",
        Duration::from_secs(5),
        || active(&t).is_none(),
    );
    std::thread::sleep(Duration::from_millis(1000));
    let refused = t.drop_count("bond_no_member");
    set_link(&t, "bm0", "up");
    set_link(&t, "bm1", "up");
    wait_active(&t, "net_tap0");
    let udp = udp.wait(Duration::from_secs(30));
    let tx_full = t.drop_count("tx_full");
    eprintln!(
        "E2E bond without a member: UDP {} requests, {} lost; bond_no_member {refused}, \
         tx_full {tx_full}",
        udp.requests.len(),
        udp.failures().len(),
    );
    assert!(refused > 0, "the bond refused what was sent while down");
    // `tx_full` may count a few: a burst the bond gave to a member whose
    // tap had just gone down, before its 10 ms link poll saw it (the bond
    // had a member; the member refused): 0 in five runs of six, 6 in one.
    // The loop came back once a member did.
    let last = udp.requests.last().expect("requests");
    assert!(last.ok, "the last request: {}", last.error);
}

/// ferrolb's ext as an 802.3ad bond over l0 and l1.
const LACP_BOND: &str = r#"bond = { mode = "802.3ad", members = ["net_af_packet0,iface=l0", "net_af_packet2,iface=l1"], xmit_hash_policy = "layer3+4" }"#;

/// Processes killed (and reaped) when dropped, on panic too.
struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The LACP partner: testpmd in the sw namespace, a mode-4 bond over p0
/// and p1 forwarded to and from the veth `ext` (the router's link).
fn testpmd_partner(t: &Topology) -> Child {
    let log = std::fs::File::create(t.dir.path().join("testpmd.log")).expect("log");
    Command::new("ip")
        .args(["netns", "exec", &t.ns("sw"), "dpdk-testpmd"])
        .args([
            "--no-huge",
            "-m",
            "512",
            "--no-pci",
            "--no-shconf",
            "--no-telemetry",
        ])
        .args(["--file-prefix", &unique_prefix("lacp")])
        // Forwarding on core 0, not on ferrolb's worker core (1).
        .args(["-l", "0,1", "--main-lcore", "1", "--log-level", "*:notice"])
        .args([
            "--vdev=net_af_packet10,iface=p0",
            "--vdev=net_af_packet11,iface=p1",
            "--vdev=net_bonding_partner,mode=4,slave=net_af_packet10,slave=net_af_packet11,\
             xmit_policy=l34",
            "--vdev=net_af_packet12,iface=ext",
        ])
        .args([
            "--",
            "--portlist=2,3",
            "--forward-mode=io",
            "--total-num-mbufs=8192",
            "-a",
        ])
        // testpmd without -i waits for a line on stdin to stop: a pipe
        // that stays open as long as the Child holds it.
        .stdin(Stdio::piped())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start dpdk-testpmd (the dpdk package; scripts/setup.sh installs it)")
}

/// Both members in the aggregator, on both sides: in sync, collecting
/// and distributing.
fn aggregated(t: &Topology) -> bool {
    const IN_SYNC: u64 = 0x08 | 0x10 | 0x20;
    ext(t)["members"].as_array().is_some_and(|m| {
        m.len() == 2
            && m.iter().all(|m| {
                m["active"] == true
                    && m["lacp_actor_state"]
                        .as_u64()
                        .is_some_and(|s| s & IN_SYNC == IN_SYNC)
                    && m["lacp_partner_state"]
                        .as_u64()
                        .is_some_and(|s| s & IN_SYNC == IN_SYNC)
            })
    })
}

#[test]
fn an_802_3ad_bond_aggregates_with_a_dpdk_lacp_partner_and_carries_nat() {
    let _serial = serial();
    let mut t = Topology::up("nat");
    t.start_servers();
    t.netns_script("lacp");
    let mut children = Killed(vec![testpmd_partner(&t)]);
    let text = t.config_text(&services());
    let ext_device = text
        .lines()
        .find(|l| l.starts_with("device = \"net_af_packet0"))
        .expect("the ext port's device line")
        .to_owned();
    t.start_lb_text(&text.replacen(&ext_device, LACP_BOND, 1));
    assert_eq!(ext(&t)["bond_mode"], "802.3ad");
    children.0.push(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &t.ns("router"),
                "ping",
                "-q",
                "-i",
                "0.05",
                "10.0.2.1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ping"),
    );
    let start = Instant::now();
    while !aggregated(&t) {
        if start.elapsed() > Duration::from_secs(20) {
            let partner = std::fs::read_to_string(t.dir.path().join("testpmd.log"));
            panic!(
                "the members did not join the aggregator in 20 s: {}\ntestpmd:\n{}",
                ext(&t)["members"],
                partner.unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let converged = start.elapsed();
    // Measured: a request sent the moment both sides report the members
    // in the aggregator was lost in 3 runs of 3 (the first one; the bonds
    // are still switching to distributing), none a second later.
    std::thread::sleep(Duration::from_millis(1000));

    let udp = t.client(
        "client",
        &[
            "udp",
            "--target",
            &format!("{VIP}:{ECHO}"),
            "--count",
            "300",
            "--interval-ms",
            "5",
        ],
    );
    let http = t.client(
        "client",
        &[
            "http",
            "--target",
            &format!("{VIP}:{HTTP}"),
            "--count",
            "100",
        ],
    );
    let shown = t.ctl_ok(&["stats"]);
    let members = ext(&t)["members"].clone();
    eprintln!(
        "E2E 802.3ad: aggregated after {} ms; UDP {} ok of {}, HTTP {} ok of {}; \
         members {members}",
        converged.as_millis(),
        udp.requests.len() - udp.failures().len(),
        udp.requests.len(),
        http.requests.len() - http.failures().len(),
        http.requests.len(),
    );
    let first = udp.requests.first().map(|r| r.started);
    let lost: Vec<(usize, u128)> = udp
        .requests
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.ok)
        .map(|(i, r)| {
            (
                i,
                first.map_or(0, |f| r.started.duration_since(f).as_millis()),
            )
        })
        .collect();
    eprintln!("E2E 802.3ad: UDP requests lost (index, ms from the first): {lost:?}");
    // What was sent before LACP agreed (gratuitous ARP) had no member
    // distributing: counted as such, not as a full queue.
    let (no_member, tx_full) = (t.drop_count("bond_no_member"), t.drop_count("tx_full"));
    eprintln!("E2E 802.3ad: bond_no_member {no_member}, tx_full {tx_full}");
    assert_eq!(tx_full, 0);
    udp.assert_all_ok(300);
    http.assert_all_ok(100);
    for name in ["net_af_packet0", "net_af_packet2"] {
        let row = shown
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no row for {name} in\n{shown}"));
        assert!(
            row.contains("802.3ad") && row.contains(" up ") && row.contains("aggregated"),
            "{row}"
        );
        assert!(!row.contains("not aggregated"), "{row}");
    }
    // layer3+4 spreads the 400 flows' replies over both members.
    for m in members.as_array().expect("members") {
        assert!(m["tx_packets"].as_u64() >= Some(50), "{m}");
    }
    drop(children);
}
