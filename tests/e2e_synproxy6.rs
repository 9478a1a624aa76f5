//! End to end: the SYN proxy on an IPv6 FULLNAT service with real Linux
//! TCP stacks in network namespaces (issues 20 and 21; docs/syn-proxy.md,
//! "Over IPv6"): `scripts/netns.sh up NAME fullnat` then `ipv6fullnat`,
//! as `e2e_fullnat6.rs`, with `syn_proxy = true`. The router is the
//! client: every HTTP connection to the IPv6 VIP gets ferrolb's cookie
//! SYN-ACK, its ACK opens the backend connection from a local address,
//! and the request and answer cross the splice (Linux's own timestamps,
//! SACK and window scaling, translated both ways). Every request must be
//! answered, each handshake counted once in each step, nothing dropped
//! by the proxy. Needs root.

mod common;

use common::netns::{serial, Topology};
use common::netns6::{http_to_vip6, with_ipv6_addresses, SERVERS6, VIP6};

const LADDRS6: [&str; 2] = ["2001:db8:1::100", "2001:db8:1::101"];

#[test]
fn real_linux_tcp_over_ipv6_goes_through_a_syn_proxied_fullnat_service() {
    let _serial = serial();
    let mut t = Topology::up("fullnat");
    t.netns_script("ipv6fullnat");
    for (s, ip) in SERVERS6 {
        t.start_server_with(s, &["--http6-addr", ip]);
    }
    let mut body = format!(
        "\n[[service]]\nvip = \"{VIP6}\"\nprotocol = \"tcp\"\nport = 80\nmode = \"fullnat\"\n\
         scheduler = \"rr\"\nsyn_proxy = true\nlocal_addresses = [\"{}\", \"{}\"]\n",
        LADDRS6[0], LADDRS6[1]
    );
    for (_, ip) in SERVERS6 {
        body.push_str(&format!("\n[[service.backend]]\naddress = \"{ip}\"\n"));
    }
    t.start_lb_text(&with_ipv6_addresses(&t.config_text(&body), true));

    let n = 100;
    // Every request answered (`http_to_vip6` asserts it).
    let run = http_to_vip6(&t, "router", n, "IPv6 FULLNAT with the SYN proxy");
    let peers = run.by_peer_ip();
    let laddrs: Vec<String> = LADDRS6.iter().map(|a| format!("[{a}]")).collect();
    assert_eq!(
        peers.keys().cloned().collect::<Vec<_>>(),
        laddrs,
        "the servers saw the local addresses: {peers:?}"
    );
    let e = t.ctl_json(&["stats"])["events"].clone();
    eprintln!("E2E IPv6 SYN proxy events: {e}");
    let n = n as u64;
    let count = |k: &str| e[k].as_u64().unwrap_or(0);
    // A SYN retransmitted by the client is answered again: at least one
    // cookie per connection.
    assert!(count("synproxy_syn_answered") >= n, "{e}");
    assert_eq!(count("synproxy_cookie_accepted"), n, "{e}");
    assert_eq!(count("synproxy_spliced"), n, "{e}");
    for reason in [
        "synproxy_bad_cookie",
        "synproxy_no_session",
        "synproxy_bad_options",
        "synproxy_unexpected",
        "synproxy_out_of_window",
        "no_session",
        "ports_exhausted",
    ] {
        assert_eq!(t.drop_count(reason), 0, "drop:{reason}");
    }
}
