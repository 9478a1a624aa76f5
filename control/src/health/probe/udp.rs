//! UDP (keepalived's UDP_CHECK) on a connected socket, so that an ICMP
//! error from the target (port or host unreachable) comes back as an error
//! of the socket. With `require_reply`, success is a reply of the right
//! length that matches `expect` (up to the shorter of the two, `x` nibbles
//! free); without it, success is the absence of an ICMP error until the
//! deadline, as keepalived.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::UdpSocket;
use tokio::time::timeout_at;

use super::{Deadline, Passed};
use crate::health::spec::UdpSpec;

pub async fn probe(
    target: SocketAddr,
    spec: &UdpSpec,
    deadline: Deadline,
) -> Result<Passed, String> {
    let socket = open(target, deadline).await?;
    deadline.run("sending", socket.send(&spec.payload)).await?;
    // One byte more than the largest acceptable reply shows a longer one.
    let mut buf = vec![0u8; spec.max_len + 1];
    match timeout_at(deadline.at, socket.recv(&mut buf)).await {
        Err(_) if spec.require_reply => Err(format!("no reply: {}", deadline.timed_out())),
        Err(_) => Ok(None),
        Ok(Err(e)) => Err(unreachable(&e)),
        Ok(Ok(_)) if !spec.require_reply => Ok(None),
        Ok(Ok(n)) => judge(spec, &buf[..n]),
    }
}

/// A socket connected to `target`, so its ICMP errors reach us.
pub async fn open(target: SocketAddr, deadline: Deadline) -> Result<UdpSocket, String> {
    let socket = deadline
        .run(
            "",
            UdpSocket::bind(SocketAddr::new(
                match target {
                    SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                },
                0,
            )),
        )
        .await?;
    deadline.run("", socket.connect(target)).await?;
    Ok(socket)
}

/// An error of a connected UDP socket: an ICMP error, in words.
pub fn unreachable(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "port unreachable".into(),
        _ => match e.raw_os_error() {
            Some(libc::EHOSTUNREACH) => "host unreachable".into(),
            Some(libc::ENETUNREACH) => "network unreachable".into(),
            _ => e.to_string(),
        },
    }
}

fn judge(spec: &UdpSpec, reply: &[u8]) -> Result<Passed, String> {
    if reply.len() < spec.min_len || reply.len() > spec.max_len {
        return Err(format!(
            "reply of {}{} bytes, expected {}..={}",
            if reply.len() > spec.max_len {
                "more than "
            } else {
                ""
            },
            reply.len().min(spec.max_len),
            spec.min_len,
            spec.max_len
        ));
    }
    match &spec.expect {
        Some(expect) if !expect.matches(reply) => Err(format!(
            "reply {} does not match {expect}",
            super::http::hex(&reply[..reply.len().min(32)])
        )),
        _ => Ok(None),
    }
}
