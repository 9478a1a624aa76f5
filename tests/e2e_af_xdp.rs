//! ferrolb on `net_af_xdp` ports (issue 24, docs/end-to-end.md): the same
//! namespaces as `e2e_netns.rs`, the ports AF_XDP sockets on the veths
//! instead of packet sockets, real Linux TCP and UDP through FULLNAT. The
//! way to run ferrolb without taking a NIC away from the kernel.
//! Needs root; fails, never skips, without it.

mod common;

use std::collections::BTreeMap;

use common::netns::{serial, server_ip, ClientRun, Topology, ECHO, HTTP, SERVERS, VIP};

fn service(proto: &str, port: u16, mode: &str, scheduler: &str, weights: [u32; 3]) -> String {
    let mut s = format!(
        "\n[[service]]\nvip = \"{VIP}\"\nprotocol = \"{proto}\"\nport = {port}\nmode = \"{mode}\"\n\
         scheduler = \"{scheduler}\"\n"
    );
    if mode == "fullnat" {
        s.push_str("local_addresses = [\"10.0.1.100\", \"10.0.1.101\"]\n");
    }
    for ((server, _), w) in SERVERS.iter().zip(weights) {
        s.push_str(&format!(
            "\n[[service.backend]]\naddress = \"{}\"\nweight = {w}\n",
            server_ip(server)
        ));
    }
    s
}

/// Every request answered, spread as `want`, and counted by the appliance
/// per backend as the client saw it.
fn check(t: &Topology, run: &ClientRun, n: usize, key: &str, want: [(&str, u64); 3]) {
    run.assert_all_ok(n);
    let want: BTreeMap<String, u64> = want.iter().map(|(s, c)| (s.to_string(), *c)).collect();
    assert_eq!(run.by_server(), want, "{}", run.what);
    let counted = t.backends(key);
    for (server, ip) in SERVERS {
        assert_eq!(
            counted.get(ip).map_or(0, |b| b.1),
            want[server],
            "{key}: connections the appliance counted to {server}"
        );
    }
}

#[test]
fn fullnat_over_af_xdp_ports() {
    let _serial = serial();
    let mut t = Topology::up("fullnat");
    t.port_driver = "af_xdp";
    t.start_servers();
    let body = format!(
        "{}{}",
        service("tcp", HTTP, "fullnat", "wrr", [1, 2, 3]),
        service("udp", ECHO, "fullnat", "rr", [1, 1, 1])
    );
    t.start_lb(&body);
    let log = t.log();
    assert!(
        log.contains("--vdev=net_af_xdp0,iface=ext --vdev=net_af_xdp1,iface=lan"),
        "the ports are AF_XDP sockets:\n{log}"
    );
    let http = t.client(
        "client",
        &[
            "http",
            "--target",
            &format!("{VIP}:{HTTP}"),
            "--count",
            "600",
        ],
    );
    check(
        &t,
        &http,
        600,
        &format!("tcp/{VIP}:{HTTP}"),
        [("s1", 100), ("s2", 200), ("s3", 300)],
    );
    let udp = t.client(
        "client",
        &[
            "udp",
            "--target",
            &format!("{VIP}:{ECHO}"),
            "--count",
            "300",
        ],
    );
    check(
        &t,
        &udp,
        300,
        &format!("udp/{VIP}:{ECHO}"),
        [("s1", 100), ("s2", 100), ("s3", 100)],
    );
    let peers = http.by_peer_ip();
    assert_eq!(
        peers,
        [
            ("10.0.1.100".to_owned(), 300),
            ("10.0.1.101".to_owned(), 300)
        ]
        .into(),
        "servers see only the local addresses"
    );
    eprintln!(
        "E2E FULLNAT over af_xdp: 600 HTTP (wrr 1:2:3) and 300 UDP (rr) requests, all answered: {:?} / {:?}",
        http.by_server(),
        udp.by_server()
    );
}
