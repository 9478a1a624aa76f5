//! A real client for the end-to-end tests and the demo (docs/end-to-end.md):
//! sends requests to a service of `e2e-server`s one after the other and
//! prints one line per request, naming the server that answered.
//!
//! ```text
//! ok i=17 t_ms=40 server=s2 peer=10.0.0.2:40122
//! fail i=18 t_ms=41 error=connect:Connection_refused
//! done sent=1200 ok=1200 failed=0 elapsed_ms=2650 servers=s1:200,s2:400,s3:600
//! ```
//!
//! A first line `start` marks the start of the clock; `t_ms` is when the
//! request started, from there; `peer` is
//! the source address the server saw. Modes:
//!
//! - `http`: a new TCP connection per request, `GET /`, status 200 expected;
//!   with `--size N`, `GET /big?bytes=N`, and the N bytes after the name
//!   line must be `ferrolb_perf::big_body_byte`'s, every one.
//! - `tcp`: a new TCP connection per request to a TCP echo; the greeting
//!   names the server, then a line sent must come back.
//! - `udp`: a new UDP socket (so a new source port) per request; `--size`
//!   pads the request (a datagram over the MTU goes in fragments);
//!   `--source-port P` sends every request from port P instead (one flow,
//!   as a resolver's: what one-packet scheduling spreads).
//! - `hold`: ONE TCP connection to a TCP echo, a line exchanged per
//!   "request" (every `--interval-ms`); the first failure ends it.
//! - `long`: `--connections` TCP connections to a TCP echo, held at once
//!   (a thread each), each exchanging a line every `--interval-ms` until
//!   `--duration-ms`; a connection whose exchange fails is lost (never
//!   reopened). Lines: `connected n=N t_ms=T` once all are open, `lost c=I
//!   t_ms=T error=E` as they go, `conn c=I server=S peer=P exchanges=X
//!   lost=yes|no` for each at the end, and
//!   `done connections=N alive=A lost=L elapsed_ms=T servers=...` last.
//! - `ping`: an ICMP echo request per request over a raw socket; the
//!   reply's source must be the target's address. Needs root.
//! - `flood`: `--count` UDP datagrams to the target as fast as they go,
//!   waiting for nothing (a load, not requests); only the `done` line.
//! - `malformed`: `--count` malformed IPv4 packets through raw sockets,
//!   as fast as they go (TCP header cut short, UDP length past the end,
//!   ICMP echo with a wrong checksum, in turn), in bursts of 32 with
//!   `--interval-ms` between them. Needs root.
//!
//! Stops after `--count` requests (0: no limit) or `--duration-ms`,
//! whichever comes first. Exits 0 even when requests failed: the lines say.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Http,
    Tcp,
    Udp,
    Hold,
    Long,
    Ping,
    Flood,
    Malformed,
}

#[derive(Parser)]
#[command(about = "Sends requests to e2e-servers and says who answered each")]
struct Args {
    #[arg(value_enum)]
    mode: Mode,
    /// The service, e.g. 192.0.2.10:80 or [2001:db8::10]:80 (IPv6: the
    /// TCP modes http, tcp, hold and long)
    #[arg(long)]
    target: SocketAddr,
    /// Requests to send (0: until --duration-ms)
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Stop after this long
    #[arg(long)]
    duration_ms: Option<u64>,
    /// Pause between requests
    #[arg(long, default_value_t = 0)]
    interval_ms: u64,
    /// Limit on each request (connect, send, answer)
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Only the closing `done` line
    #[arg(long)]
    quiet: bool,
    /// Connections held at once (`long`)
    #[arg(long, default_value_t = 100)]
    connections: u32,
    /// `udp`: pad each request to this many bytes (a datagram larger than
    /// the path MTU travels in fragments); the echo must come back whole.
    /// `http`: ask for a body this much larger, checked byte by byte
    #[arg(long, default_value_t = 0)]
    size: usize,
    /// `udp`: every request from this source port (one flow); 0: a port
    /// of its own for each
    #[arg(long, default_value_t = 0)]
    source_port: u16,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.mode == Mode::Malformed {
        return malformed(&args);
    }
    if args.mode == Mode::Flood {
        return flood(&args);
    }
    if args.mode == Mode::Long {
        return long(&args);
    }
    let start = Instant::now();
    // The clock's origin, for whoever reads the lines as they come.
    println!("start");
    let _ = std::io::stdout().flush();
    let timeout = Duration::from_millis(args.timeout_ms);
    let end = args.duration_ms.map(|d| start + Duration::from_millis(d));
    let mut held: Option<Held> = None;
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut servers: BTreeMap<String, u64> = BTreeMap::new();
    let mut i = 0u64;
    let stdout = std::io::stdout();
    while (args.count == 0 || i < args.count) && end.map_or(true, |e| Instant::now() < e) {
        let t = start.elapsed().as_millis();
        let result = match args.mode {
            Mode::Http => http(args.target, timeout, args.size),
            Mode::Tcp => tcp(args.target, timeout, i),
            Mode::Udp => udp(args.target, timeout, i, (args.size, args.source_port)),
            Mode::Hold => hold(&mut held, args.target, timeout, i),
            Mode::Ping => ping(args.target, timeout, i),
            Mode::Malformed | Mode::Flood | Mode::Long => unreachable!("handled above"),
        };
        let mut out = stdout.lock();
        match result {
            Ok((server, peer)) => {
                ok += 1;
                if !args.quiet {
                    let _ = writeln!(out, "ok i={i} t_ms={t} server={server} peer={peer}");
                }
                *servers.entry(server).or_default() += 1;
            }
            Err(e) => {
                failed += 1;
                let e = format!("{e:#}").replace(char::is_whitespace, "_");
                let _ = writeln!(out, "fail i={i} t_ms={t} error={e}");
            }
        }
        let _ = out.flush();
        drop(out);
        i += 1;
        if args.mode == Mode::Hold && failed > 0 {
            break;
        }
        if args.interval_ms > 0 {
            std::thread::sleep(Duration::from_millis(args.interval_ms));
        }
    }
    let dist: Vec<String> = servers.iter().map(|(s, n)| format!("{s}:{n}")).collect();
    println!(
        "done sent={i} ok={ok} failed={failed} elapsed_ms={} servers={}",
        start.elapsed().as_millis(),
        dist.join(",")
    );
    Ok(())
}

/// The target of a mode that speaks IPv4 only.
fn v4(target: SocketAddr) -> Result<SocketAddrV4> {
    match target {
        SocketAddr::V4(t) => Ok(t),
        SocketAddr::V6(_) => anyhow::bail!("{target}: this mode is IPv4 only"),
    }
}

fn connect(target: SocketAddr, timeout: Duration) -> Result<TcpStream> {
    let s = TcpStream::connect_timeout(&target, timeout).context("connect")?;
    s.set_read_timeout(Some(timeout)).context("timeout")?;
    s.set_write_timeout(Some(timeout)).context("timeout")?;
    Ok(s)
}

/// "NAME PEER" from an answer.
fn name_peer(line: &str) -> Result<(String, String)> {
    let mut w = line.split_whitespace();
    match (w.next(), w.next()) {
        (Some(n), Some(p)) => Ok((n.to_owned(), p.to_owned())),
        _ => anyhow::bail!("answer without a server name: {line:?}"),
    }
}

fn http(target: SocketAddr, timeout: Duration, size: usize) -> Result<(String, String)> {
    let mut s = connect(target, timeout)?;
    let path = match size {
        0 => "/".to_owned(),
        n => format!("/big?bytes={n}"),
    };
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: e2e-client\r\nConnection: close\r\n\r\n"
    )
    .context("send")?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).context("read")?;
    anyhow::ensure!(
        reply.starts_with(b"HTTP/1.1 200 "),
        "status: {:?}",
        String::from_utf8_lossy(&reply[..reply.len().min(40)])
    );
    let start = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no body")?;
    let body = &reply[start + 4..];
    let line_end = body
        .iter()
        .position(|&b| b == b'\n')
        .context("no name line")?;
    let (line, big) = (&body[..line_end], &body[line_end + 1..]);
    anyhow::ensure!(
        big.len() == size,
        "body of {} bytes after the name line, asked for {size}",
        big.len()
    );
    if let Some(at) = (0..size).find(|&i| big[i] != ferrolb_perf::big_body_byte(i)) {
        anyhow::bail!("body differs at byte {at} of {size}");
    }
    name_peer(&String::from_utf8_lossy(line))
}

fn tcp(target: SocketAddr, timeout: Duration, i: u64) -> Result<(String, String)> {
    let s = connect(target, timeout)?;
    let mut r = BufReader::new(s.try_clone().context("clone")?);
    let mut greeting = String::new();
    r.read_line(&mut greeting).context("greeting")?;
    let answer = name_peer(&greeting)?;
    exchange(&s, &mut r, i)?;
    Ok(answer)
}

/// Sends one line and reads it back.
fn exchange(mut s: &TcpStream, r: &mut BufReader<TcpStream>, i: u64) -> Result<()> {
    let line = format!("request {i} {}\n", "x".repeat(64));
    s.write_all(line.as_bytes()).context("send")?;
    let mut back = String::new();
    r.read_line(&mut back).context("read")?;
    anyhow::ensure!(back == line, "echo {back:?}, sent {line:?}");
    Ok(())
}

/// Each request from a source port of its own (10000 + i, cycling through
/// 20000 ports), so that each is a new flow for the balancer (a port the
/// kernel picks may repeat, and UDP flows live for minutes); the kernel's
/// choice if that port is taken. With a `fixed` port, every request from
/// it (one flow); its bind must succeed.
fn udp(
    target: SocketAddr,
    timeout: Duration,
    i: u64,
    (size, fixed): (usize, u16),
) -> Result<(String, String)> {
    let port = match fixed {
        0 => 10000 + u16::try_from(i % 20000).unwrap_or(0),
        p => p,
    };
    // An IPv6 target from an IPv6 socket (`[::]`), an IPv4 one from `0.0.0.0`.
    let any = match target {
        SocketAddr::V4(_) => "0.0.0.0",
        SocketAddr::V6(_) => "::",
    };
    let s = match fixed {
        0 => UdpSocket::bind((any, port)).or_else(|_| UdpSocket::bind((any, 0))),
        _ => UdpSocket::bind((any, port)),
    }
    .context("bind")?;
    s.set_read_timeout(Some(timeout)).context("timeout")?;
    let tail = format!("request {i}");
    // Padding before the request text, a pattern each byte of which is
    // checked in the echo.
    let pad: String = (0..size.saturating_sub(tail.len()))
        .map(|k| char::from(b'a' + (k % 26) as u8))
        .collect();
    let req = format!("{pad}{tail}");
    s.send_to(req.as_bytes(), target).context("send")?;
    let mut buf = vec![0u8; 65536];
    let (n, from) = s.recv_from(&mut buf).context("receive")?;
    anyhow::ensure!(from == target, "answer from {from}, not {target}");
    let text = String::from_utf8_lossy(&buf[..n]);
    anyhow::ensure!(text.ends_with(&req), "answer {text:?} to {req:?}");
    name_peer(&text)
}

struct Held {
    s: TcpStream,
    r: BufReader<TcpStream>,
    answer: (String, String),
}

fn hold(
    held: &mut Option<Held>,
    target: SocketAddr,
    timeout: Duration,
    i: u64,
) -> Result<(String, String)> {
    if held.is_none() {
        let s = connect(target, timeout)?;
        let mut r = BufReader::new(s.try_clone().context("clone")?);
        let mut greeting = String::new();
        r.read_line(&mut greeting).context("greeting")?;
        let answer = name_peer(&greeting)?;
        *held = Some(Held { s, r, answer });
    }
    let h = held.as_mut().context("no connection")?;
    exchange(&h.s, &mut h.r, i)?;
    Ok(h.answer.clone())
}

/// Raw IPv4 packets that are malformed above the IP header, so the router
/// forwards them and ferrolb must judge them.
fn malformed(args: &Args) -> Result<()> {
    use nix::sys::socket::{
        sendto, socket, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn,
    };
    use std::os::fd::AsRawFd;
    let open = |p| {
        socket(AddressFamily::Inet, SockType::Raw, SockFlag::empty(), p)
            .context("raw socket (needs root)")
    };
    let (tcp, udp, icmp) = (
        open(SockProtocol::Tcp)?,
        open(SockProtocol::Udp)?,
        open(SockProtocol::Icmp)?,
    );
    let to = SockaddrIn::from(SocketAddrV4::new(*v4(args.target)?.ip(), 0));
    let port = args.target.port().to_be_bytes();
    // TCP: 8 bytes where a 20-byte header should be.
    let short_tcp = [0x9c, 0x40, port[0], port[1], 0, 0, 0, 1];
    // UDP: the length field says 200 bytes, 12 follow.
    let long_udp = [0x9c, 0x40, port[0], port[1], 0, 200, 0, 0, 1, 2, 3, 4];
    // ICMP echo request whose checksum is wrong.
    let bad_icmp = [8, 0, 0x12, 0x34, 0, 1, 0, 1, 0xde, 0xad, 0xbe, 0xef];
    let start = Instant::now();
    let mut sent = 0u64;
    for i in 0..args.count {
        let (fd, bytes): (_, &[u8]) = match i % 3 {
            0 => (tcp.as_raw_fd(), &short_tcp),
            1 => (udp.as_raw_fd(), &long_udp),
            _ => (icmp.as_raw_fd(), &bad_icmp),
        };
        sendto(fd, bytes, &to, MsgFlags::empty()).context("sendto")?;
        sent += 1;
        if sent % 32 == 0 && args.interval_ms > 0 {
            std::thread::sleep(Duration::from_millis(args.interval_ms));
        }
    }
    println!(
        "done sent={sent} ok={sent} failed=0 elapsed_ms={} servers=",
        start.elapsed().as_millis()
    );
    Ok(())
}

/// One ICMP echo request to the target's address; the answer must be the
/// echo reply with our identifier and sequence number, from that address.
fn ping(target: SocketAddr, timeout: Duration, i: u64) -> Result<(String, String)> {
    let target = v4(target)?;
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
        .context("raw socket (needs root)")?;
    s.set_read_timeout(Some(timeout)).context("timeout")?;
    let id = (std::process::id() as u16).to_be_bytes();
    let seq = (i as u16).to_be_bytes();
    let mut req = [
        8, 0, 0, 0, id[0], id[1], seq[0], seq[1], b'f', b'l', b'b', b'!',
    ];
    let sum = internet_checksum(&req).to_be_bytes();
    req[2..4].copy_from_slice(&sum);
    let to = SocketAddr::V4(SocketAddrV4::new(*target.ip(), 0));
    s.send_to(&req, &to.into()).context("send")?;
    let deadline = Instant::now() + timeout;
    loop {
        anyhow::ensure!(Instant::now() < deadline, "no echo reply");
        // A raw socket reads whole datagrams, IP header included.
        let mut buf = [0u8; 1500];
        let n = (&s).read(&mut buf).context("receive")?;
        let bytes = &buf[..n];
        let ihl = usize::from(bytes.first().copied().unwrap_or(0) & 0x0f) * 4;
        let from = bytes
            .get(12..16)
            .map(|a| std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]));
        let icmp = bytes.get(ihl..).unwrap_or(&[]);
        if icmp.len() >= 8 && icmp[0] == 0 && icmp[4..6] == id && icmp[6..8] == seq {
            anyhow::ensure!(from == Some(*target.ip()), "echo reply from {from:?}");
            return Ok(("ping".into(), target.ip().to_string()));
        }
    }
}

/// RFC 1071 checksum.
fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// `--count` UDP datagrams to the target as fast as they go (a load for
/// the budget drills); nothing is awaited.
fn flood(args: &Args) -> Result<()> {
    let s = UdpSocket::bind("0.0.0.0:0").context("bind")?;
    let start = Instant::now();
    let end = args.duration_ms.map(|d| start + Duration::from_millis(d));
    let mut sent = 0u64;
    while (args.count == 0 || sent < args.count) && end.map_or(true, |e| Instant::now() < e) {
        // A full socket buffer is not a failure of the flood.
        if s.send_to(b"flood", args.target).is_ok() {
            sent += 1;
        }
    }
    println!(
        "done sent={sent} ok={sent} failed=0 elapsed_ms={} servers=",
        start.elapsed().as_millis()
    );
    Ok(())
}

/// What became of one of `long`'s connections.
struct LongOutcome {
    answer: (String, String),
    exchanges: u64,
    lost: bool,
}

/// `--connections` held TCP connections, opened one after the other (so a
/// refused one fails the run before anything is measured), then each
/// exchanging a line every `--interval-ms` in its own thread until
/// `--duration-ms` (default 10 s) has passed since the start.
fn long(args: &Args) -> Result<()> {
    let start = Instant::now();
    println!("start");
    let timeout = Duration::from_millis(args.timeout_ms);
    let end = start + Duration::from_millis(args.duration_ms.unwrap_or(10_000));
    let interval = Duration::from_millis(args.interval_ms.max(1));
    let mut held = Vec::new();
    for c in 0..args.connections {
        let s = connect(args.target, timeout).with_context(|| format!("connection {c}"))?;
        let mut r = BufReader::new(s.try_clone().context("clone")?);
        let mut greeting = String::new();
        r.read_line(&mut greeting).context("greeting")?;
        held.push(Held {
            s,
            r,
            answer: name_peer(&greeting)?,
        });
    }
    println!(
        "connected n={} t_ms={}",
        held.len(),
        start.elapsed().as_millis()
    );
    let _ = std::io::stdout().flush();
    let threads: Vec<_> = held
        .into_iter()
        .enumerate()
        .map(|(c, mut h)| {
            std::thread::spawn(move || {
                let mut exchanges = 0u64;
                while Instant::now() < end {
                    if let Err(e) = exchange(&h.s, &mut h.r, exchanges) {
                        let e = format!("{e:#}").replace(char::is_whitespace, "_");
                        println!("lost c={c} t_ms={} error={e}", start.elapsed().as_millis());
                        return LongOutcome {
                            answer: h.answer,
                            exchanges,
                            lost: true,
                        };
                    }
                    exchanges += 1;
                    std::thread::sleep(interval);
                }
                LongOutcome {
                    answer: h.answer,
                    exchanges,
                    lost: false,
                }
            })
        })
        .collect();
    let (mut alive, mut lost) = (0u64, 0u64);
    let mut servers: BTreeMap<String, u64> = BTreeMap::new();
    for (c, t) in threads.into_iter().enumerate() {
        let o = t
            .join()
            .map_err(|_| anyhow::anyhow!("connection thread {c} panicked"))?;
        let (server, peer) = &o.answer;
        println!(
            "conn c={c} server={server} peer={peer} exchanges={} lost={}",
            o.exchanges,
            if o.lost { "yes" } else { "no" }
        );
        if o.lost {
            lost += 1;
        } else {
            alive += 1;
        }
        *servers.entry(server.clone()).or_default() += 1;
    }
    let dist: Vec<String> = servers.iter().map(|(s, n)| format!("{s}:{n}")).collect();
    println!(
        "done connections={} alive={alive} lost={lost} elapsed_ms={} servers={}",
        args.connections,
        start.elapsed().as_millis(),
        dist.join(",")
    );
    Ok(())
}
