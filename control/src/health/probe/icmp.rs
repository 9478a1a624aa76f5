//! ICMP echo (keepalived's PING_CHECK) over one raw socket shared by every
//! ICMP check: a reader task hands each echo reply to the check waiting for
//! its (source address, sequence number), so thousands of pinged backends
//! cost one socket and one wake-up per reply. A raw socket needs root (or
//! CAP_NET_RAW); without it every ICMP check fails saying so.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::time::timeout_at;

use super::{Deadline, Passed};

const ECHO_REPLY: u8 = 0;
const ECHO_REQUEST: u8 = 8;
const PAYLOAD: &[u8] = b"ferrolb health check";

type Waiting = Mutex<HashMap<(Ipv4Addr, u16), oneshot::Sender<()>>>;

pub struct Pinger {
    /// The raw socket, driven through tokio's datagram socket type: its
    /// `send_to`/`recv` are the same system calls a raw socket takes, and
    /// it needs no unsafe registration.
    socket: UdpSocket,
    waiting: Waiting,
    ident: u16,
    seq: AtomicU16,
}

impl Pinger {
    /// Opens the raw socket and starts its reader on the current runtime.
    pub fn open() -> Result<Arc<Pinger>, String> {
        let fail = |e: std::io::Error| format!("cannot open a raw ICMP socket (needs root): {e}");
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).map_err(fail)?;
        socket.set_nonblocking(true).map_err(fail)?;
        let socket = UdpSocket::from_std(std::net::UdpSocket::from(socket)).map_err(fail)?;
        let pinger = Arc::new(Pinger {
            socket,
            waiting: Mutex::default(),
            ident: std::process::id() as u16,
            seq: AtomicU16::new(0),
        });
        tokio::spawn(read_replies(Arc::clone(&pinger)));
        Ok(pinger)
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<(Ipv4Addr, u16), oneshot::Sender<()>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One echo request to `addr`; success is its reply before the deadline.
    pub async fn ping(&self, addr: Ipv4Addr, deadline: Deadline) -> Result<Passed, String> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting().insert((addr, seq), tx);
        let _forget = Forget(self, (addr, seq));
        let packet = echo_request(self.ident, seq);
        let to: SocketAddr = SocketAddrV4::new(addr, 0).into();
        let send = self.socket.send_to(&packet, to);
        deadline.run("sending the echo request", send).await?;
        match timeout_at(deadline.at, rx).await {
            Ok(Ok(())) => Ok(None),
            _ => Err(format!("no echo reply: {}", deadline.timed_out())),
        }
    }
}

/// Removes a waiting entry however the ping ends.
struct Forget<'a>(&'a Pinger, (Ipv4Addr, u16));

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.waiting().remove(&self.1);
    }
}

async fn read_replies(pinger: Arc<Pinger>) {
    let mut buf = [0u8; 2048];
    loop {
        let Ok(n) = pinger.socket.recv(&mut buf).await else {
            continue;
        };
        if let Some((from, ident, seq)) = echo_reply(&buf[..n]) {
            if ident == pinger.ident {
                if let Some(tx) = pinger.waiting().remove(&(from, seq)) {
                    let _ = tx.send(());
                }
            }
        }
    }
}

fn echo_request(ident: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![ECHO_REQUEST, 0, 0, 0];
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PAYLOAD);
    let sum = checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// (source, identifier, sequence) of an echo reply in an IPv4 packet as a
/// raw socket delivers it (IP header first).
fn echo_reply(packet: &[u8]) -> Option<(Ipv4Addr, u16, u16)> {
    let ihl = usize::from(packet.first()? & 0x0f) * 4;
    let src: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
    let icmp = packet.get(ihl..)?;
    if icmp.len() < 8 || icmp[0] != ECHO_REPLY || icmp[1] != 0 || checksum(icmp) != 0 {
        return None;
    }
    let ident = u16::from_be_bytes([icmp[4], icmp[5]]);
    let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
    Some((Ipv4Addr::from(src), ident, seq))
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
        let mut reply = echo_request(0x1234, 7);
        reply[0] = ECHO_REPLY;
        reply[2..4].copy_from_slice(&[0, 0]);
        let sum = checksum(&reply);
        reply[2..4].copy_from_slice(&sum.to_be_bytes());
        let mut packet = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 9, 10, 0, 0, 1,
        ];
        packet.extend_from_slice(&reply);
        assert_eq!(
            echo_reply(&packet),
            Some((Ipv4Addr::new(10, 0, 0, 9), 0x1234, 7))
        );
        let mut corrupt = packet.clone();
        corrupt[30] ^= 1;
        assert_eq!(echo_reply(&corrupt), None);
        // Our own request (type 8) is not a reply.
        let mut request = packet[..20].to_vec();
        request.extend_from_slice(&echo_request(0x1234, 7));
        assert_eq!(echo_reply(&request), None);
        assert_eq!(echo_reply(&packet[..10]), None);
    }
}
