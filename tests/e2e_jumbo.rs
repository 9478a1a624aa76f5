//! End to end: a jumbo backend LAN behind a 1500-byte hop, with real
//! kernels on both sides (docs/fragments-and-mtu.md, "Jumbo frames"). The
//! client and the servers have 3494-byte interfaces, so the client's SYN
//! offers an MSS of 3454 and the servers answer with 3494-byte segments,
//! DF set; one hop on the way back is 1500. Every large HTTP response
//! (`e2e-client http --size`, checked byte by byte) must arrive whole,
//! which takes path MTU discovery through ferrolb:
//!
//! - the narrow hop is ferrolb's own `ext` port (`mtu = 1500`): ferrolb
//!   sends the server fragmentation-needed (1500) quoting its segment as
//!   the server sent it;
//! - the narrow hop is the router beyond ferrolb: the router's
//!   fragmentation-needed goes to the VIP, and ferrolb translates it with
//!   the flow to the server (FULLNAT: to the local address and port the
//!   server knows).
//!
//! Either way the server's kernel lowers its path MTU (`ip route get`
//! shows the cached 1500) and sends segments that fit.
//!
//! Why 3494 and not 9000: no virtual device on this machine takes 9000
//! in DPDK 22.11 (`net_af_packet` and `net_tap` report 1500 at most,
//! `net_af_xdp` 3542, and 3494 with ferrolb's mbufs as its 4 KB umem
//! frames, `AF_XDP_MAX_MTU`); the ports are `net_af_xdp`, at the largest
//! MTU ferrolb allows them.
//! The 9000-byte path is covered by tests/replay_jumbo.rs on `net_pcap`.
//!
//! Needs root, like `e2e_netns`; one case at a time.

mod common;

use std::time::Instant;

use common::netns::{serial, server_ip, Topology, VIP};

/// The LAN's (and the client's) MTU.
const JUMBO: &str = "3494";
/// Bytes after the name line of each response.
const BODY: usize = 1 << 20;

/// Where the 1500-byte hop is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Narrow {
    /// ferrolb's `ext` port.
    Ferrolb,
    /// The router's link to the client.
    Router,
}

fn http_service(mode: &str) -> String {
    let mut s = format!(
        "\n[[service]]\nvip = \"{VIP}\"\nprotocol = \"tcp\"\nport = 80\nmode = \"{mode}\"\n"
    );
    if mode == "fullnat" {
        s.push_str("local_addresses = [\"10.0.1.100\", \"10.0.1.101\"]\n");
    }
    for server in ["s1", "s2", "s3"] {
        s.push_str(&format!(
            "\n[[service.backend]]\naddress = \"{}\"\n",
            server_ip(server)
        ));
    }
    s
}

fn event(t: &Topology, name: &str) -> u64 {
    t.ctl_json(&["stats"])["events"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no event {name}"))
}

/// The path MTU server `role`'s kernel keeps towards `dst`, if it has
/// learned one (`ip route get` shows `mtu N` for a cached exception).
fn learned_pmtu(t: &Topology, role: &str, dst: &str) -> Option<u32> {
    let out = t.run_in(role, &["ip", "-o", "route", "get", dst]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    words.find(|w| *w == "mtu")?;
    words.next()?.parse().ok()
}

fn large_responses_arrive_whole(mode: &str, narrow: Narrow) {
    let _serial = serial();
    let mut t = Topology::up(mode);
    t.port_driver = "af_xdp";
    let router = if narrow == Narrow::Router {
        vec![JUMBO, "router"]
    } else {
        vec![JUMBO]
    };
    t.netns_script_with("mtu", &router);
    let ext_mtu = if narrow == Narrow::Ferrolb {
        "1500"
    } else {
        JUMBO
    };
    t.port_extra = [format!("mtu = {ext_mtu}\n"), format!("mtu = {JUMBO}\n")];
    t.start_servers();
    t.start_lb(&http_service(mode));
    let n: usize = std::env::var("JUMBO_E2E_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let start = Instant::now();
    let run = t.client(
        "client",
        &[
            "http",
            "--target",
            &format!("{VIP}:80"),
            "--count",
            &n.to_string(),
            "--size",
            &BODY.to_string(),
            "--timeout-ms",
            "10000",
        ],
    );
    let too_big = t.drop_count("fragmentation_needed");
    let translated = event(&t, "icmp_errors_translated");
    eprintln!(
        "E2E jumbo {mode}, narrow hop {narrow:?}: {} responses of {BODY} bytes, {} failed, \
         servers {:?}, {} ms; fragmentation_needed {too_big}, icmp_errors_translated \
         {translated}",
        run.requests.len(),
        run.failures().len(),
        run.by_server(),
        start.elapsed().as_millis(),
    );
    run.assert_all_ok(n);
    match narrow {
        // ferrolb saw segments over its ext port's MTU and said so.
        Narrow::Ferrolb => assert!(too_big >= 1, "{mode}: no fragmentation-needed sent"),
        // The router said so, and ferrolb passed it on translated.
        Narrow::Router => {
            assert_eq!(too_big, 0, "{mode}: ext is {JUMBO}, nothing too big here");
            assert!(translated >= 1, "{mode}: no ICMP error translated");
        }
    }
    // Each server that answered learned the 1500-byte path to the address
    // it sends to: the client (NAT) or a local address (FULLNAT).
    for (server, _) in run.by_server() {
        let dsts: &[&str] = match mode {
            "nat" => &["10.0.0.2"],
            _ => &["10.0.1.100", "10.0.1.101"],
        };
        let learned: Vec<_> = dsts
            .iter()
            .filter_map(|d| learned_pmtu(&t, &server, d))
            .collect();
        assert!(
            learned.contains(&1500),
            "{mode}: {server} learned {learned:?} towards {dsts:?}"
        );
    }
}

#[test]
fn nat_pmtu_discovery_through_ferrolbs_narrow_port() {
    large_responses_arrive_whole("nat", Narrow::Ferrolb);
}

#[test]
fn fullnat_pmtu_discovery_through_ferrolbs_narrow_port() {
    large_responses_arrive_whole("fullnat", Narrow::Ferrolb);
}

#[test]
fn nat_pmtu_discovery_with_the_routers_error_translated() {
    large_responses_arrive_whole("nat", Narrow::Router);
}

#[test]
fn fullnat_pmtu_discovery_with_the_routers_error_translated() {
    large_responses_arrive_whole("fullnat", Narrow::Router);
}
