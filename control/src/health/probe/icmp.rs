//! ICMP echo (keepalived's PING_CHECK) over one raw socket per address
//! family, shared by every ICMP check of that family: a reader task hands
//! each echo reply to the check waiting for its (source address, sequence
//! number), so thousands of pinged backends cost one socket and one wake-up
//! per reply. A raw socket needs root (or CAP_NET_RAW); without it every
//! ICMP check fails saying so.
//!
//! The families differ in three ways: the message types (8/0 against
//! ICMPv6's 128/129), who sums the checksum (we do for ICMP; the kernel
//! computes and verifies it on every ICMPv6 raw socket, RFC 3542 3.1, as it
//! needs the pseudo-header), and what a read returns (an IPv4 raw socket
//! hands over the IP header too, an IPv6 one only the ICMPv6 message).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::time::timeout_at;

use super::{Deadline, Passed};

const PAYLOAD: &[u8] = b"ferrolb health check";

/// Which ICMP a pinger speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// (echo request, echo reply) message types.
    fn types(self) -> (u8, u8) {
        match self {
            Family::V4 => (8, 0),
            Family::V6 => (128, 129),
        }
    }

    fn socket(self) -> std::io::Result<Socket> {
        match self {
            Family::V4 => Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)),
            Family::V6 => Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)),
        }
    }
}

type Waiting = Mutex<HashMap<(IpAddr, u16), oneshot::Sender<()>>>;

pub struct Pinger {
    family: Family,
    /// The raw socket, driven through tokio's datagram socket type: its
    /// `send_to`/`recv_from` are the same system calls a raw socket takes,
    /// and it needs no unsafe registration.
    socket: UdpSocket,
    waiting: Waiting,
    ident: u16,
    seq: AtomicU16,
}

impl Pinger {
    /// Opens the raw socket and starts its reader on the current runtime.
    pub fn open(family: Family) -> Result<Arc<Pinger>, String> {
        let fail = |e: std::io::Error| {
            let name = if family == Family::V4 {
                "ICMP"
            } else {
                "ICMPv6"
            };
            format!("cannot open a raw {name} socket (needs root): {e}")
        };
        let socket = family.socket().map_err(fail)?;
        socket.set_nonblocking(true).map_err(fail)?;
        let socket = UdpSocket::from_std(std::net::UdpSocket::from(socket)).map_err(fail)?;
        let pinger = Arc::new(Pinger {
            family,
            socket,
            waiting: Mutex::default(),
            ident: std::process::id() as u16,
            seq: AtomicU16::new(0),
        });
        tokio::spawn(read_replies(Arc::clone(&pinger)));
        Ok(pinger)
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<(IpAddr, u16), oneshot::Sender<()>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One echo request to `addr` (of this pinger's family); success is its
    /// reply before the deadline.
    pub async fn ping(&self, addr: IpAddr, deadline: Deadline) -> Result<Passed, String> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting().insert((addr, seq), tx);
        let _forget = Forget(self, (addr, seq));
        let packet = echo_request(self.family, self.ident, seq);
        let send = self.socket.send_to(&packet, SocketAddr::new(addr, 0));
        deadline.run("sending the echo request", send).await?;
        match timeout_at(deadline.at, rx).await {
            Ok(Ok(())) => Ok(None),
            _ => Err(format!("no echo reply: {}", deadline.timed_out())),
        }
    }
}

/// Removes a waiting entry however the ping ends.
struct Forget<'a>(&'a Pinger, (IpAddr, u16));

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.waiting().remove(&self.1);
    }
}

async fn read_replies(pinger: Arc<Pinger>) {
    let mut buf = [0u8; 2048];
    loop {
        let Ok((n, from)) = pinger.socket.recv_from(&mut buf).await else {
            continue;
        };
        let reply = match pinger.family {
            Family::V4 => echo_reply(&buf[..n]),
            Family::V6 => echo_reply6(&buf[..n]).map(|(ident, seq)| (from.ip(), ident, seq)),
        };
        if let Some((from, ident, seq)) = reply {
            if ident == pinger.ident {
                if let Some(tx) = pinger.waiting().remove(&(from, seq)) {
                    let _ = tx.send(());
                }
            }
        }
    }
}

/// The echo request; its checksum is left 0 for ICMPv6, which the kernel
/// fills in.
fn echo_request(family: Family, ident: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![family.types().0, 0, 0, 0];
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PAYLOAD);
    if family == Family::V4 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// (source, identifier, sequence) of an echo reply in an IPv4 packet as a
/// raw socket delivers it (IP header first).
fn echo_reply(packet: &[u8]) -> Option<(IpAddr, u16, u16)> {
    let ihl = usize::from(packet.first()? & 0x0f) * 4;
    let src: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
    let icmp = packet.get(ihl..)?;
    if icmp.len() < 8 || icmp[0] != Family::V4.types().1 || icmp[1] != 0 || checksum(icmp) != 0 {
        return None;
    }
    let ident = u16::from_be_bytes([icmp[4], icmp[5]]);
    let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
    Some((IpAddr::from(src), ident, seq))
}

/// (identifier, sequence) of an ICMPv6 echo reply as an IPv6 raw socket
/// delivers it: the message alone, its checksum already verified by the
/// kernel (the source comes from `recv_from`).
fn echo_reply6(icmp: &[u8]) -> Option<(u16, u16)> {
    if icmp.len() < 8 || icmp[0] != Family::V6.types().1 || icmp[1] != 0 {
        return None;
    }
    Some((
        u16::from_be_bytes([icmp[4], icmp[5]]),
        u16::from_be_bytes([icmp[6], icmp[7]]),
    ))
}
/// The Internet checksum (RFC 1071); 0 over a packet whose checksum is
/// right.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_reply_is_recognised_by_its_fields_and_checksum() {
        let mut reply = echo_request(Family::V4, 0x1234, 7);
        reply[0] = 0;
        reply[2..4].copy_from_slice(&[0, 0]);
        let sum = checksum(&reply);
        reply[2..4].copy_from_slice(&sum.to_be_bytes());
        let mut packet = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 9, 10, 0, 0, 1,
        ];
        packet.extend_from_slice(&reply);
        assert_eq!(
            echo_reply(&packet),
            Some((IpAddr::from([10, 0, 0, 9]), 0x1234, 7))
        );
        let mut corrupt = packet.clone();
        corrupt[30] ^= 1;
        assert_eq!(echo_reply(&corrupt), None);
        // Our own request (type 8) is not a reply.
        let mut request = packet[..20].to_vec();
        request.extend_from_slice(&echo_request(Family::V4, 0x1234, 7));
        assert_eq!(echo_reply(&request), None);
        assert_eq!(echo_reply(&packet[..10]), None);
    }

    #[test]
    fn an_icmpv6_echo_reply_is_recognised_by_its_type_and_code() {
        let request = echo_request(Family::V6, 0x1234, 7);
        assert_eq!(&request[..4], &[128, 0, 0, 0], "the kernel sums ICMPv6");
        assert_eq!(echo_reply6(&request), None, "our own request is no reply");
        let mut reply = request.clone();
        reply[0] = 129;
        assert_eq!(echo_reply6(&reply), Some((0x1234, 7)));
        reply[1] = 1;
        assert_eq!(echo_reply6(&reply), None);
        // An IPv4 echo reply's type means nothing in ICMPv6.
        let mut v4_type = request.clone();
        v4_type[0] = 0;
        assert_eq!(echo_reply6(&v4_type), None);
        assert_eq!(echo_reply6(&reply[..7]), None);
    }
}
