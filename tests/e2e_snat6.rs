//! End to end SNAT over IPv6 with real Linux stacks in network namespaces
//! (issue 20; docs/ipv6.md): `scripts/netns.sh up NAME snat` then
//! `ipv6nat` (the servers get 2001:db8:1::1X/64 and an IPv6 default route
//! via ferrolb's lan address; the router 2001:db8:2::fe on ferrolb's ext
//! link). The servers are the internal hosts of an IPv6 `[[snat]]` rule
//! for 2001:db8:1::/64 with the SNAT address 2001:db8:2::99; the router
//! is the outside server. Real Linux TCP over IPv6 (HTTP) from s1 and s2
//! to the router: every connection answered, the router saw
//! only the SNAT address, ferrolb counted the rule's connections and
//! listed its sessions with the SNAT endpoint. Needs root.

mod common;

use std::collections::BTreeMap;

use common::netns::{serial, Topology};
use common::netns6::with_ipv6_addresses;

const OUTSIDE6: &str = "2001:db8:2::fe";
const SNAT6: &str = "2001:db8:2::99";

#[test]
fn real_linux_tcp_over_ipv6_goes_out_through_snat_from_the_snat_address() {
    let _serial = serial();
    let mut t = Topology::up("snat");
    t.netns_script("ipv6nat");
    t.start_server_with("router", &["--http6-addr", OUTSIDE6]);
    let body = format!(
        "\n[[snat]]\nsource = \"2001:db8:1::/64\"\nport = \"ext\"\naddresses = [\"{SNAT6}\"]\n\
         ports = \"1024-65535\"\n"
    );
    t.start_lb_text(&with_ipv6_addresses(&t.config_text(&body), true));

    // (e2e-server's echo listeners are IPv4 only: HTTP from both hosts.)
    let target = format!("[{OUTSIDE6}]:80");
    let mut total = 0u64;
    for (host, n) in [("s1", 300usize), ("s2", 200)] {
        let mode = "http";
        let started = std::time::Instant::now();
        let count = n.to_string();
        let run = t.client(
            host,
            &[
                mode,
                "--target",
                &target,
                "--count",
                &count,
                "--timeout-ms",
                "5000",
            ],
        );
        eprintln!(
            "E2E SNAT6 {host} {mode}: {} requests, {} failed, servers {:?}, peers {:?}, {} ms",
            run.requests.len(),
            run.failures().len(),
            run.by_server(),
            run.by_peer_ip(),
            started.elapsed().as_millis()
        );
        run.assert_all_ok(n);
        assert_eq!(
            run.by_server(),
            BTreeMap::from([("router".to_owned(), n as u64)])
        );
        // The outside saw the SNAT address only, never the host.
        assert_eq!(
            run.by_peer_ip(),
            BTreeMap::from([(format!("[{SNAT6}]"), n as u64)])
        );
        total += n as u64;
    }
    let list = t.ctl_json(&["list", "--stats"]);
    let rule = &list["snat"][0];
    eprintln!("    snat rule: {rule}");
    assert_eq!(rule["source"], "2001:db8:1::/64", "{list}");
    assert_eq!(rule["addresses"][0], SNAT6, "{list}");
    assert_eq!(rule["stats"]["conns"], total, "{rule}");
    assert!(
        rule["stats"]["packets_in"].as_u64() >= Some(3 * total),
        "{rule}"
    );
    assert!(
        rule["stats"]["packets_out"].as_u64() >= Some(3 * total),
        "{rule}"
    );
    // The sessions list the host, the SNAT endpoint and the outside.
    let sessions = t.ctl_json(&["sessions", "--limit", "100000"]);
    let list = sessions["sessions"].as_array().expect("sessions");
    assert!(!list.is_empty(), "{sessions}");
    for s in list {
        let client = s["client"].as_str().expect("client");
        assert!(client.starts_with("[2001:db8:1::1"), "{s}");
        let local = s["local"].as_str().unwrap_or_default();
        assert!(local.starts_with(&format!("[{SNAT6}]:")), "{s}");
        let remote = s["backend"].as_str().expect("backend");
        assert!(remote.starts_with(&format!("[{OUTSIDE6}]:")), "{s}");
    }
}
