//! The ferrolb config of a row: the run's ports and process settings,
//! the interfaces, routes and neighbours, and the services whose sessions
//! the row's frames hit.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::mode::Mode;
use super::plan::*;
use super::traffic::INSIDE_MAC;
use super::traffic6::{
    backends6, laddr6, text, CLIENT_IF6, LINK_PREFIX, ROUTER6, SERVERS_IF6, VIP6,
};
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
    let mut s = process(run);
    let mode = match plan.mode.lb_mode() {
        Some(mode) => mode,
        None if plan.mode == Mode::Snat => "snat",
        None => {
            s.push_str("[forward]\nmode = \"io\"\ntopology = \"paired\"\n");
            return s;
        }
    };
    tables(&mut s, plan, run);
    links(&mut s, plan, run);
    if mode == "snat" {
        snat(&mut s, plan);
    } else {
        services(&mut s, plan, mode);
    }
    s
}

/// `[eal]`, `[control]`, `[workers]`, `[mempool]` and the ports.
fn process(run: &RunSetup) -> String {
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
    s
}

/// The session tables, timeouts and session sync the row asks for.
fn tables(s: &mut String, plan: &Plan, run: &RunSetup) {
    if plan.capacity.is_some() || plan.capacity6.is_some() {
        s.push_str("[sessions]\n");
        if let Some(c) = plan.capacity {
            let _ = writeln!(s, "capacity = {c}");
        }
        if let Some(c) = plan.capacity6 {
            let _ = writeln!(s, "capacity6 = {c}");
        }
        s.push('\n');
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
}

/// Interfaces, routes and static neighbours: clients behind the router
/// 10.0.0.254 on `client`, backends on `servers`; IPv6 rows add the IPv6
/// links (`traffic6`; their neighbours come by Neighbour Discovery), the
/// servers' one only where the backends are IPv6 (not `nat64`'s).
fn links(s: &mut String, plan: &Plan, run: &RunSetup) {
    let link6 = |on: bool, a: [u8; 16]| match on {
        true => format!(", \"{}/{LINK_PREFIX}\"", text(a)),
        false => String::new(),
    };
    let client6 = link6(plan.mode.ipv6(), CLIENT_IF6);
    let servers6 = link6(plan.mode.ipv6_backends(), SERVERS_IF6);
    if run.ports.iter().any(|p| p.0 == "prime") {
        s.push_str("[[interface]]\nport = \"prime\"\naddresses = [\"10.255.0.1/24\"]\n\n");
    }
    let _ = writeln!(
        s,
        "[[interface]]\nport = \"client\"\naddresses = [\"10.0.0.1/24\"{client6}]\n"
    );
    // FULLNAT local addresses are in the servers port's 10.0.16.0/20.
    let _ = writeln!(
        s,
        "[[interface]]\nport = \"servers\"\naddresses = [\"10.0.1.1/24\", \"10.0.16.1/20\"{servers6}]\n"
    );
    s.push_str("[[route]]\nprefix = \"0.0.0.0/0\"\nvia = \"10.0.0.254\"\n\n");
    if plan.mode.ipv6() && plan.mode.has_replies() {
        // Replies to IPv6 clients leave through their router.
        let _ = writeln!(
            s,
            "[[route]]\nprefix = \"::/0\"\nvia = \"{}\"\n",
            text(ROUTER6)
        );
    }
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
}

/// The SNAT rule of the `snat` row, behind the router 10.0.1.254.
fn snat(s: &mut String, plan: &Plan) {
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
}

/// The row's services on the VIP (IPv4's or IPv6's), port 80, `rr` over
/// the plan's backends (IPv6 ones for the IPv6 rows but `nat64`); FULLNAT's
/// local addresses of the backends' family.
fn services(s: &mut String, plan: &Plan, mode: &str) {
    let protos: &[(&str, &Vec<[u8; 4]>)] = match plan.mode.base() {
        Mode::SynNat | Mode::SynFullnat | Mode::SynProxy => &[("tcp", &plan.laddrs_tcp)],
        Mode::NatFrag | Mode::FullnatFrag => &[("udp", &plan.laddrs_udp)],
        _ => &[("tcp", &plan.laddrs_tcp), ("udp", &plan.laddrs_udp)],
    };
    let vip = match plan.mode.ipv6() {
        true => text(VIP6),
        false => ip(VIP),
    };
    let v6 = plan.mode.ipv6_backends();
    let backends: Vec<String> = match v6 {
        true => backends6(plan).into_iter().map(text).collect(),
        false => plan.backends.iter().map(|&b| ip(b)).collect(),
    };
    let bport = if matches!(mode, "dr" | "tun") {
        VPORT
    } else {
        RPORT
    };
    for (proto, laddrs) in protos {
        let _ = writeln!(
            s,
            "[[service]]\nname = \"bench-{proto}\"\nvip = \"{vip}\"\nprotocol = \"{proto}\"\nport = {VPORT}\nmode = \"{mode}\"\nscheduler = \"rr\""
        );
        if plan.mode == Mode::SynProxy {
            s.push_str("syn_proxy = true\n");
        }
        if mode == "fullnat" {
            let list: Vec<String> = laddrs
                .iter()
                .map(|&a| match v6 {
                    true => format!("\"{}\"", text(laddr6(a))),
                    false => format!("\"{}\"", ip(a)),
                })
                .collect();
            let _ = writeln!(
                s,
                "local_addresses = [{}]\nlocal_ports = \"{}-{}\"",
                list.join(", "),
                plan.ports.0,
                plan.ports.1
            );
        }
        s.push('\n');
        for b in &backends {
            let _ = writeln!(
                s,
                "[[service.backend]]\naddress = \"{b}\"\nport = {bport}\n"
            );
        }
    }
}
