//! `ipvsadm-save -n` output ↔ ferrolb services.
//!
//! Import reads `-A` (service) and `-a` (real server) lines: protocol,
//! address and port, scheduler (`-s`), persistence (`-p`, `-M`),
//! scheduler flags (`-b mh-port`), forwarding method (`-g` DR, `-i` TUN,
//! `-m` NAT; DR when none, as ipvsadm), weight (`-w`) and connection
//! thresholds (`-x`, `-y`). A ferrolb
//! service has one forwarding method: its first real server's. Export
//! writes the same lines from ferrolb services; FULLNAT has no ipvsadm
//! form and is listed instead.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::Imported;
use crate::config::{BackendConfig, LbMode, Protocol, SchedulerName, ServiceConfig};

/// Reads `ipvsadm-save -n` text.
pub fn import(text: &str) -> Imported {
    let mut out = Imported::default();
    // Which service a real server's mode was taken from yet.
    let mut mode_set: Vec<bool> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let words: Vec<&str> = raw.split_whitespace().collect();
        match words.first() {
            None => {}
            Some(w) if w.starts_with('#') => {}
            Some(&("-A" | "--add-service")) => {
                if let Some(s) = service(&words[1..], line, &mut out) {
                    out.services.push(s);
                    mode_set.push(false);
                }
            }
            Some(&("-a" | "--add-server")) => {
                real_server(&words[1..], line, &mut out, &mut mode_set)
            }
            Some(_) => out.unmapped(line, raw.trim(), "not an -A or -a line"),
        }
    }
    out
}

/// `-t|-u ADDR:PORT`: the service's protocol, address and port.
fn service_address(
    words: &[&str],
    i: &mut usize,
    line: usize,
    out: &mut Imported,
) -> Option<(Protocol, SocketAddrV4)> {
    let protocol = match words[*i] {
        "-t" | "--tcp-service" => Protocol::Tcp,
        "-u" | "--udp-service" => Protocol::Udp,
        other => {
            out.unmapped(
                line,
                other,
                "only TCP and UDP services with an address and port (no fwmark, SCTP or IPv6); skipped",
            );
            return None;
        }
    };
    *i += 1;
    let addr = words.get(*i).and_then(|a| a.parse::<SocketAddrV4>().ok());
    *i += 1;
    match addr {
        Some(a) => Some((protocol, a)),
        _ => {
            out.unmapped(
                line,
                words.get(*i - 1).copied().unwrap_or(""),
                "not an IPv4 ADDRESS:PORT (IPv6 is not supported); skipped",
            );
            None
        }
    }
}

fn service(words: &[&str], line: usize, out: &mut Imported) -> Option<ServiceConfig> {
    let mut i = 0;
    let (protocol, addr) = service_address(words, &mut i, line, out)?;
    let mut s = ServiceConfig::new(*addr.ip(), protocol, addr.port(), LbMode::Dr);
    s.mh_ports = false;
    while let Some(&opt) = words.get(i) {
        i += 1;
        let value = words.get(i).copied();
        match opt {
            "-s" | "--scheduler" => {
                i += 1;
                match value.and_then(SchedulerName::from_name) {
                    Some(sched) => s.scheduler = sched,
                    None => out.unmapped(
                        line,
                        &format!("-s {}", value.unwrap_or("")),
                        "scheduler not available; wlc is used",
                    ),
                }
            }
            "-p" | "--persistent" => match value.and_then(|v| v.parse::<u32>().ok()) {
                Some(t) => {
                    s.persistence = t;
                    i += 1;
                }
                None => s.persistence = 300,
            },
            "-M" | "--netmask" => {
                i += 1;
                match value.and_then(|m| m.parse().ok()).and_then(super::mask_len) {
                    Some(len) => s.persistence_prefix = len,
                    None => out.unmapped(line, "-M", "not an IPv4 netmask"),
                }
            }
            "-b" | "--sched-flags" => {
                i += 1;
                for flag in value.unwrap_or("").split(',') {
                    match flag {
                        "mh-port" => s.mh_ports = true,
                        other => out.unmapped(
                            line,
                            &format!("-b {other}"),
                            "scheduler flag not supported",
                        ),
                    }
                }
            }
            "-o" | "--ops" if protocol == Protocol::Udp => s.ops = true,
            "-o" | "--ops" => out.unmapped(line, opt, "one-packet scheduling is for UDP"),
            "--pe" => {
                i += 1;
                out.unmapped(line, "--pe", "no persistence engines (SIP)");
            }
            other => out.unmapped(line, other, "option not mapped"),
        }
    }
    Some(s)
}

fn real_server(words: &[&str], line: usize, out: &mut Imported, mode_set: &mut [bool]) {
    let mut i = 0;
    let Some((protocol, addr)) = service_address(words, &mut i, line, out) else {
        return;
    };
    let key = (protocol, addr);
    let Some(index) = out
        .services
        .iter()
        .position(|s| (s.protocol, s.vip, s.port) == (key.0, (*key.1.ip()).into(), key.1.port()))
    else {
        out.unmapped(line, "-a", "no -A line for this service before it; skipped");
        return;
    };
    let mut server: Option<SocketAddrV4> = None;
    let mut mode = LbMode::Dr;
    let mut weight = 1;
    let (mut u_threshold, mut l_threshold) = (0, 0);
    while let Some(&opt) = words.get(i) {
        i += 1;
        let value = words.get(i).copied();
        match opt {
            "-r" | "--real-server" => {
                i += 1;
                server = value.and_then(|v| {
                    v.parse::<SocketAddrV4>().ok().or_else(|| {
                        v.parse::<Ipv4Addr>()
                            .ok()
                            .map(|a| SocketAddrV4::new(a, addr.port()))
                    })
                });
            }
            "-g" | "--gatewaying" => mode = LbMode::Dr,
            "-i" | "--ipip" => mode = LbMode::Tun,
            "-m" | "--masquerading" => mode = LbMode::Nat,
            "-w" | "--weight" => {
                i += 1;
                match value.and_then(|w| w.parse().ok()) {
                    Some(w) => weight = w,
                    None => out.unmapped(line, "-w", "not a weight"),
                }
            }
            "-x" | "--u-threshold" | "-y" | "--l-threshold" => {
                i += 1;
                match value.and_then(|v| v.parse().ok()) {
                    Some(n) if opt.starts_with("-x") || opt == "--u-threshold" => u_threshold = n,
                    Some(n) => l_threshold = n,
                    None => out.unmapped(line, opt, "not a number of connections"),
                }
            }
            "--tun-type" | "--tun-port" | "--tun-nocsum" | "--tun-csum" | "--tun-remcsum" => {
                if !opt.ends_with("csum") {
                    i += 1;
                }
                if !(opt == "--tun-type" && value == Some("ipip")) {
                    out.unmapped(line, opt, "only IP-in-IP tunnels");
                }
            }
            other => out.unmapped(line, other, "option not mapped"),
        }
    }
    let Some(server) = server else {
        out.unmapped(line, "-a", "no -r ADDRESS[:PORT]; skipped");
        return;
    };
    let service = &mut out.services[index];
    if !mode_set[index] {
        service.mode = mode;
        mode_set[index] = true;
    } else if service.mode != mode {
        let at = format!("-a -r {server}");
        let why = format!(
            "a service has one forwarding method; this server uses the service's ({})",
            service.mode
        );
        out.unmapped(line, &at, why);
    }
    let service = &mut out.services[index];
    if service.ops && !matches!(service.mode, LbMode::Dr | LbMode::Tun) {
        service.ops = false;
        out.unmapped(
            line,
            "-o",
            "one-packet scheduling is for DR or TUN (NAT replies need a session); dropped",
        );
    }
    let service = &mut out.services[index];
    let port =
        (server.port() != service.port && service.mode == LbMode::Nat).then_some(server.port());
    if server.port() != service.port && service.mode != LbMode::Nat {
        let at = format!("-r {server}");
        out.unmapped(line, &at, "DR and TUN keep the service port");
    }
    let service = &mut out.services[index];
    let mut backend = BackendConfig::new(*server.ip(), port, weight);
    backend.u_threshold = u_threshold;
    backend.l_threshold = l_threshold;
    service.backends.push(backend);
}

/// The services as `ipvsadm-restore` input; FULLNAT services, which
/// ipvsadm cannot express, come back in the second list.
pub fn export(services: &[ServiceConfig]) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut skipped = Vec::new();
    for s in services {
        let flag = match s.mode {
            LbMode::Dr => "-g",
            LbMode::Tun => "-i",
            LbMode::Nat => "-m",
            LbMode::Fullnat => {
                skipped.push(format!(
                    "{}: FULLNAT has no ipvsadm equivalent; not exported",
                    s.key()
                ));
                continue;
            }
        };
        if s.port != 0 && s.multi_port() {
            skipped.push(format!(
                "{}: a port range has no ipvsadm form (IPVS would need a firewall mark); \
                 not exported",
                s.key()
            ));
            continue;
        }
        let proto = match s.protocol {
            Protocol::Tcp => "-t",
            Protocol::Udp => "-u",
        };
        let vs = format!("{proto} {}", std::net::SocketAddr::new(s.vip, s.port));
        text += &format!("-A {vs} -s {}", s.scheduler);
        if s.persistence > 0 {
            text += &format!(" -p {}", s.persistence);
            if s.persistence_prefix != 32 {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(s.persistence_prefix))
                    .unwrap_or(0);
                text += &format!(" -M {}", Ipv4Addr::from(mask));
            }
        }
        if s.scheduler == SchedulerName::Mh && s.mh_ports {
            text += " -b mh-port";
        }
        if s.ops {
            text += " -o";
        }
        text += "\n";
        for b in &s.backends {
            text += &format!(
                "-a {vs} -r {} {flag} -w {}",
                std::net::SocketAddr::new(b.address, b.port_or(s.port)),
                b.weight
            );
            if b.u_threshold != 0 {
                text += &format!(" -x {} -y {}", b.u_threshold, b.l_threshold);
            }
            text += "\n";
        }
    }
    (text, skipped)
}
