//! A real server for the end-to-end tests and the demo (docs/end-to-end.md):
//! HTTP, TCP echo and UDP echo on all addresses, each answer naming this
//! server and the peer address it saw (so a test learns which backend
//! answered and what source address ferrolb gave the connection).
//!
//! - HTTP (`--http PORT`): any request gets `200 OK` with the body
//!   `NAME PEER_IP:PEER_PORT\n`; the connection is then closed. For
//!   `GET /big?bytes=N` (N up to 64 MiB) the body goes on with N bytes of
//!   `ferrolb_perf::big_body_byte` (a large response, for PMTU tests).
//! - TCP echo (`--tcp-echo PORT`): first sends the line `NAME PEER\n`, then
//!   echoes every byte until the client closes.
//! - UDP echo (`--udp-echo PORT`): answers each datagram with
//!   `NAME PEER ` followed by the datagram. With `--udp-proxy-v2`, a
//!   datagram that starts with a PROXY protocol v2 header (UDP over IPv4,
//!   as ferrolb's `proxy_protocol = "v2"` sends on a session's first
//!   datagram) has it removed, and PEER is the client address it names,
//!   for that datagram and the later ones from the same source.
//!
//! Runs until killed.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

#[derive(Parser)]
#[command(about = "HTTP, TCP echo and UDP echo server naming itself in every answer")]
struct Args {
    /// The name put in every answer
    #[arg(long)]
    name: String,
    /// HTTP port
    #[arg(long)]
    http: Option<u16>,
    /// TCP echo port
    #[arg(long)]
    tcp_echo: Option<u16>,
    /// UDP echo port
    #[arg(long)]
    udp_echo: Option<u16>,
    /// Addresses the UDP echo binds, one socket each [default: 0.0.0.0].
    /// A DR server lists the VIP and its own address, so that its answers
    /// leave from the address the request went to.
    #[arg(long = "udp-addr")]
    udp_addrs: Vec<std::net::Ipv4Addr>,
    /// IPv6 addresses the HTTP port is served on too, one socket each (a
    /// DR server lists the IPv6 VIP it holds on `lo`); the IPv4 listener
    /// stays on 0.0.0.0, so IPv4 peers keep their plain addresses.
    #[arg(long = "http6-addr")]
    http6_addrs: Vec<std::net::Ipv6Addr>,
    /// IPv6 addresses the UDP echo binds too, one socket each (the IPv4
    /// sockets stay as `--udp-addr` says).
    #[arg(long = "udp6-addr")]
    udp6_addrs: Vec<std::net::Ipv6Addr>,
    /// Read PROXY protocol v2 headers on UDP (see above)
    #[arg(long)]
    udp_proxy_v2: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut threads = Vec::new();
    if let Some(port) = args.http {
        let l = TcpListener::bind(("0.0.0.0", port)).with_context(|| format!("bind tcp {port}"))?;
        let name = args.name.clone();
        threads.push(thread::spawn(move || accept(l, name, http)));
        for a in &args.http6_addrs {
            let l =
                TcpListener::bind((*a, port)).with_context(|| format!("bind tcp [{a}]:{port}"))?;
            let name = args.name.clone();
            threads.push(thread::spawn(move || accept(l, name, http)));
        }
    }
    if let Some(port) = args.tcp_echo {
        let l = TcpListener::bind(("0.0.0.0", port)).with_context(|| format!("bind tcp {port}"))?;
        let name = args.name.clone();
        threads.push(thread::spawn(move || accept(l, name, echo)));
    }
    if let Some(port) = args.udp_echo {
        let mut addrs = args.udp_addrs.clone();
        if addrs.is_empty() {
            addrs.push(std::net::Ipv4Addr::UNSPECIFIED);
        }
        for a in addrs {
            let s = UdpSocket::bind((a, port)).with_context(|| format!("bind udp {a}:{port}"))?;
            let name = args.name.clone();
            let proxy = args.udp_proxy_v2;
            threads.push(thread::spawn(move || udp(s, &name, proxy)));
        }
        for a in &args.udp6_addrs {
            let s =
                UdpSocket::bind((*a, port)).with_context(|| format!("bind udp [{a}]:{port}"))?;
            let name = args.name.clone();
            threads.push(thread::spawn(move || udp(s, &name, false)));
        }
    }
    anyhow::ensure!(
        !threads.is_empty(),
        "nothing to serve: give --http, --tcp-echo or --udp-echo"
    );
    eprintln!("e2e-server {}: serving", args.name);
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

fn accept(l: TcpListener, name: String, serve: fn(TcpStream, &str, SocketAddr)) {
    loop {
        match l.accept() {
            Ok((s, peer)) => {
                let name = name.clone();
                thread::spawn(move || serve(s, &name, peer));
            }
            Err(e) => {
                eprintln!("accept: {e}");
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Reads the request head (up to the blank line) and answers it.
fn http(mut s: TcpStream, name: &str, peer: SocketAddr) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let mut body = format!("{name} {peer}\n").into_bytes();
    body.extend((0..big_bytes(&head)).map(ferrolb_perf::big_body_byte));
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(&body);
}

/// N of a request for `/big?bytes=N`, else 0.
fn big_bytes(head: &[u8]) -> usize {
    const LIMIT: usize = 64 << 20;
    let head = String::from_utf8_lossy(head);
    head.strip_prefix("GET /big?bytes=")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .map_or(0, |n| n.min(LIMIT))
}

fn echo(mut s: TcpStream, name: &str, peer: SocketAddr) {
    if writeln!(s, "{name} {peer}").is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

fn udp(s: UdpSocket, name: &str, proxy_v2: bool) {
    // Room for the largest datagram (clients test fragments with big ones).
    let mut buf = vec![0u8; 65536];
    // The client each source named in its PROXY header.
    let mut clients: HashMap<SocketAddr, SocketAddr> = HashMap::new();
    loop {
        match s.recv_from(&mut buf) {
            Ok((n, peer)) => {
                let mut data = &buf[..n];
                if proxy_v2 {
                    if let Some((client, rest)) = proxy_v2_udp4(data) {
                        clients.insert(peer, client);
                        data = rest;
                    }
                }
                let seen = clients.get(&peer).copied().unwrap_or(peer);
                let mut reply = format!("{name} {seen} ").into_bytes();
                reply.extend_from_slice(data);
                let _ = s.send_to(&reply, peer);
            }
            Err(e) => {
                eprintln!("udp: {e}");
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A PROXY protocol v2 header for UDP over IPv4 at the start of `data`
/// (HAProxy's doc/proxy-protocol.txt 2.2): the source it names, and the
/// data after it. Read here on its own, not with ferrolb's encoder, so the
/// end-to-end test checks one against the other.
fn proxy_v2_udp4(data: &[u8]) -> Option<(SocketAddr, &[u8])> {
    const SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
    if data.len() < 16 || &data[..12] != SIG || data[12] != 0x21 || data[13] != 0x12 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([data[14], data[15]]));
    let addrs = data.get(16..16 + len).filter(|a| a.len() >= 12)?;
    let ip = std::net::Ipv4Addr::new(addrs[0], addrs[1], addrs[2], addrs[3]);
    let port = u16::from_be_bytes([addrs[8], addrs[9]]);
    Some((SocketAddr::from((ip, port)), &data[16 + len..]))
}
