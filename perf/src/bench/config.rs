//! The ferrolb config of a row: the run's ports and process settings,
//! the interfaces, routes and neighbours, and the services whose sessions
//! the row's frames hit.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::mode::Mode;
use super::plan::*;
use super::traffic::INSIDE_MAC;
use crate::frames::Mac;

fn ip(a: [u8; 4]) -> String {
    Ipv4Addr::from(a).to_string()
}

fn mac(m: Mac) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The ports and process settings of one run; devices are DPDK devargs.
#[derive(Clone, Debug)]
pub struct RunSetup {
    pub eal_args: Vec<String>,
    pub socket: String,
    pub core: usize,
    pub mbufs: u32,
    /// (name, devargs, our MAC) in port order.
    pub ports: Vec<(String, String, Mac)>,
    /// For the `+sync` rows: the UDP port ferrolb's `[sync]` listens on and
    /// the port of the sink its records go to (on 127.0.0.1).
    pub sync: Option<(u16, u16)>,
}

/// The ferrolb config for a row.
pub fn config(plan: &Plan, run: &RunSetup) -> String {
    let mut s = String::new();
    let args: Vec<String> = run.eal_args.iter().map(|a| format!("{a:?}")).collect();
    let _ = writeln!(s, "[eal]\nargs = [{}]\n", args.join(", "));
    let _ = writeln!(s, "[control]\nsocket = {:?}\n", run.socket);
    let _ = writeln!(s, "[workers]\ncores = [{}]\n", run.core);
    let _ = writeln!(s, "[mempool]\nmbufs = {}\n", run.mbufs);
    for (name, dev, m) in &run.ports {
        let _ = writeln!(
            s,
            "[[port]]\nname = {name:?}\ndevice = {dev:?}\nmac = \"{}\"\n",
            mac(*m)
        );
    }
    let mode = match plan.mode.lb_mode() {
        Some(mode) => mode,
        None if plan.mode == Mode::Snat => "snat",
        None => {
            s.push_str("[forward]\nmode = \"io\"\ntopology = \"paired\"\n");
            return s;
        }
    };
    if let Some(c) = plan.capacity {
        let _ = writeln!(s, "[sessions]\ncapacity = {c}\n");
    }
    if plan.mode.new_flows() {
        let _ = writeln!(s, "[timeouts]\ntcp_syn_recv = {SYN_TIMEOUT_S}\n");
    }
    if let (true, Some((listen, peer))) = (plan.mode.syncs(), run.sync) {
        let _ = writeln!(
            s,
            "[sync]\nlisten = \"127.0.0.1:{listen}\"\npeers = [\"127.0.0.1:{peer}\"]\n"
        );
    }
    let has_prime = run.ports.iter().any(|p| p.0 == "prime");
    if has_prime {
        s.push_str("[[interface]]\nport = \"prime\"\naddresses = [\"10.255.0.1/24\"]\n\n");
    }
    s.push_str("[[interface]]\nport = \"client\"\naddresses = [\"10.0.0.1/24\"]\n\n");
    // FULLNAT local addresses are in the servers port's 10.0.16.0/20.
    s.push_str(
        "[[interface]]\nport = \"servers\"\naddresses = [\"10.0.1.1/24\", \"10.0.16.1/20\"]\n\n",
    );
    s.push_str("[[route]]\nprefix = \"0.0.0.0/0\"\nvia = \"10.0.0.254\"\n\n");
    let _ = writeln!(
        s,
        "[[neighbour]]\naddress = \"10.0.0.254\"\nmac = \"{}\"\n",
        mac(ROUTER_MAC)
    );
    for &b in &plan.backends {
        let _ = writeln!(
            s,
            "[[neighbour]]\naddress = \"{}\"\nmac = \"{}\"\n",
            ip(b),
            mac(backend_mac(b))
        );
    }
    if mode == "snat" {
        let list: Vec<String> = plan
            .laddrs_tcp
            .iter()
            .map(|a| format!("\"{}\"", ip(*a)))
            .collect();
        let _ = writeln!(
            s,
            "[[neighbour]]\naddress = \"10.0.1.254\"\nmac = \"{}\"\n\n\
             [[route]]\nprefix = \"10.1.0.0/16\"\nvia = \"10.0.1.254\"\n\n\
             [[snat]]\nsource = \"10.1.0.0/16\"\nport = \"client\"\naddresses = [{}]\nports = \"{}-{}\"",
            mac(INSIDE_MAC),
            list.join(", "),
            plan.ports.0,
            plan.ports.1
        );
        return s;
    }
    let protos: &[(&str, &Vec<[u8; 4]>)] = match plan.mode.base() {
        Mode::SynNat | Mode::SynFullnat | Mode::SynProxy => &[("tcp", &plan.laddrs_tcp)],
        Mode::NatFrag | Mode::FullnatFrag => &[("udp", &plan.laddrs_udp)],
        _ => &[("tcp", &plan.laddrs_tcp), ("udp", &plan.laddrs_udp)],
    };
    for (proto, laddrs) in protos {
        let _ = writeln!(
            s,
            "[[service]]\nname = \"bench-{proto}\"\nvip = \"{}\"\nprotocol = \"{proto}\"\nport = {VPORT}\nmode = \"{mode}\"\nscheduler = \"rr\"",
            ip(VIP)
        );
        if plan.mode == Mode::SynProxy {
            s.push_str("syn_proxy = true\n");
        }
        if mode == "fullnat" {
            let list: Vec<String> = laddrs.iter().map(|a| format!("\"{}\"", ip(*a))).collect();
            let _ = writeln!(
                s,
                "local_addresses = [{}]\nlocal_ports = \"{}-{}\"",
                list.join(", "),
                plan.ports.0,
                plan.ports.1
            );
        }
        s.push('\n');
        let bport = if matches!(mode, "dr" | "tun") {
            VPORT
        } else {
            RPORT
        };
        for &b in &plan.backends {
            let _ = writeln!(
                s,
                "[[service.backend]]\naddress = \"{}\"\nport = {bport}\n",
                ip(b)
            );
        }
    }
    s
}
