//! Answering and sending ARP (RFC 826), and learning from it.
//!
//! We learn a sender's MAC only when it asks for or answers about one of our
//! addresses, or when we already track it (an entry we created while
//! resolving, or refreshed by its gratuitous ARP): the rest of the segment's
//! chatter is not allowed to fill the table.

use std::net::Ipv4Addr;

use crate::drop::DropReason;
use crate::net::addrs::AddrSet;
use crate::net::neighbour::NeighbourTable;
use crate::wire::arp::{write_arp, ArpOp, ARP_LEN};
use crate::wire::ethernet::{self, field};
use crate::wire::ethernet::{EtherType, MacAddr, ETHERNET_HEADER_LEN, VLAN_TAG_LEN};
use crate::wire::{put_bytes, ArpPacket};

/// Length of the frames we send: the Ethernet minimum without FCS (the ARP
/// packet is zero-padded up to it).
pub const ARP_FRAME_LEN: usize = 60;

/// What became of an ARP packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ArpOutcome {
    /// The frame now holds our reply: send it back out the port it came in.
    Reply,
    /// Learned from (or nothing to do); the frame can be freed.
    Consumed,
}

/// Who answers ARP: our MAC on the port, and the addresses we own.
#[derive(Clone, Copy, Debug)]
pub struct ArpHost<'a> {
    pub mac: MacAddr,
    pub owned: &'a AddrSet,
}

/// Handles a received ARP packet at `l3_offset` of `frame`: learns the
/// sender (see the module doc), and turns a request for an address in
/// `host.owned` into our reply in place. Packets waiting for the sender are handed
/// to `release` with its MAC. `Err(NotForUs)` for ARP about other hosts that
/// taught us nothing; `Err(MalformedArp)` for anything but Ethernet/IPv4.
pub fn handle_arp<P, const Q: usize>(
    frame: &mut [u8],
    l3_offset: usize,
    host: ArpHost<'_>,
    neighbours: &mut NeighbourTable<P, Q>,
    now: u64,
    release: impl FnMut(P, MacAddr),
) -> Result<ArpOutcome, DropReason> {
    let ArpHost {
        mac: our_mac,
        owned,
    } = host;
    let arp = ArpPacket::new(frame.get(l3_offset..).unwrap_or(&[]))?;
    let (op, sender_mac, sender_ip, target_ip) = (
        arp.operation(),
        arp.sender_mac(),
        arp.sender_ip(),
        arp.target_ip(),
    );
    let for_us = owned.contains(target_ip);
    // Probes (sender 0.0.0.0) and group MACs teach nothing usable.
    let learned = !sender_ip.is_unspecified()
        && !sender_mac.is_multicast()
        && !owned.contains(sender_ip)
        && neighbours.learn(sender_ip, sender_mac, now, for_us, release);
    if op == ArpOp::REQUEST && for_us {
        let Ok(mut reply) = ArpPacket::new(frame.get_mut(l3_offset..).unwrap_or(&mut [])) else {
            return Err(DropReason::MalformedArp);
        };
        reply.set_operation(ArpOp::REPLY);
        reply.set_target(sender_mac, sender_ip);
        reply.set_sender(our_mac, target_ip);
        put_bytes(frame, field::DESTINATION.start, &sender_mac.0);
        put_bytes(frame, field::SOURCE.start, &our_mac.0);
        return Ok(ArpOutcome::Reply);
    }
    if learned || (op == ArpOp::REPLY && for_us) {
        Ok(ArpOutcome::Consumed)
    } else {
        Err(DropReason::NotForUs)
    }
}

/// Writes a broadcast ARP frame (optionally 802.1Q-tagged) into `out`;
/// returns its length, or `None` if `out` is too short.
fn write_arp_frame(
    out: &mut [u8],
    vlan: Option<u16>,
    op: u16,
    sender: (MacAddr, Ipv4Addr),
    target: (MacAddr, Ipv4Addr),
) -> Option<usize> {
    let l3 = ETHERNET_HEADER_LEN + if vlan.is_some() { VLAN_TAG_LEN } else { 0 };
    let len = ARP_FRAME_LEN + l3 - ETHERNET_HEADER_LEN;
    let frame = out.get_mut(..len)?;
    frame.fill(0);
    let macs = (MacAddr::BROADCAST, sender.0);
    if !ethernet::write_header(frame, macs, vlan, EtherType::ARP) {
        return None;
    }
    write_arp(frame.get_mut(l3..l3 + ARP_LEN)?, op, sender, target)?;
    Some(len)
}

/// Writes an ARP request for `target` from `our_mac`/`our_ip` into `out`.
pub fn write_arp_request(
    out: &mut [u8],
    vlan: Option<u16>,
    our_mac: MacAddr,
    our_ip: Ipv4Addr,
    target: Ipv4Addr,
) -> Option<usize> {
    write_arp_frame(
        out,
        vlan,
        ArpOp::REQUEST,
        (our_mac, our_ip),
        (MacAddr::ZERO, target),
    )
}

/// Writes a gratuitous ARP announcing `ip` at `our_mac` (a request with
/// sender and target address both `ip`, as Linux sends when an address is
/// added), so neighbours update their caches.
pub fn write_gratuitous_arp(
    out: &mut [u8],
    vlan: Option<u16>,
    our_mac: MacAddr,
    ip: Ipv4Addr,
) -> Option<usize> {
    write_arp_frame(
        out,
        vlan,
        ArpOp::REQUEST,
        (our_mac, ip),
        (MacAddr::ZERO, ip),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::neighbour::{NeighbourTimers, Resolution};
    use crate::packet::{classify, Classified};

    const OUR: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xaa]);
    const PEER: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x01]);
    const TIMERS: NeighbourTimers = NeighbourTimers {
        reachable: 1000,
        retry: 10,
        resolve_timeout: 100,
    };

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("address")
    }

    fn request(from: Ipv4Addr, to: Ipv4Addr, vlan: Option<u16>) -> Vec<u8> {
        let mut f = vec![0u8; 64];
        let n = write_arp_request(&mut f, vlan, PEER, from, to).expect("fits");
        f.truncate(n);
        f
    }

    #[test]
    fn request_for_an_owned_address_becomes_a_reply_and_teaches_the_sender() {
        let owned = AddrSet::new([ip("10.0.0.100")]);
        let mut n: NeighbourTable<u8, 4> = NeighbourTable::new(16, TIMERS);
        for vlan in [None, Some(7)] {
            let mut f = request(ip("10.0.0.1"), ip("10.0.0.100"), vlan);
            let Ok(Classified::Arp { l3_offset, vlan: v }) = classify(&f) else {
                panic!("arp")
            };
            assert_eq!(v, vlan);
            assert_eq!(
                handle_arp(
                    &mut f,
                    l3_offset,
                    ArpHost {
                        mac: OUR,
                        owned: &owned
                    },
                    &mut n,
                    0,
                    |_, _| {}
                ),
                Ok(ArpOutcome::Reply)
            );
            let a = ArpPacket::new(&f[l3_offset..]).expect("still arp");
            assert_eq!(a.operation(), ArpOp::REPLY);
            assert_eq!((a.sender_mac(), a.sender_ip()), (OUR, ip("10.0.0.100")));
            assert_eq!((a.target_mac(), a.target_ip()), (PEER, ip("10.0.0.1")));
            assert_eq!((&f[0..6], &f[6..12]), (&PEER.0[..], &OUR.0[..]));
        }
        assert_eq!(n.lookup(ip("10.0.0.1")), Some(PEER));
    }

    #[test]
    fn reply_releases_waiting_packets_and_strangers_are_not_learned() {
        let owned = AddrSet::new([ip("10.0.0.100")]);
        let mut n: NeighbourTable<u8, 4> = NeighbourTable::new(16, TIMERS);
        let mut f = request(ip("10.0.0.5"), ip("10.0.0.6"), None);
        assert_eq!(
            handle_arp(
                &mut f,
                14,
                ArpHost {
                    mac: OUR,
                    owned: &owned
                },
                &mut n,
                0,
                |_, _| {}
            ),
            Err(DropReason::NotForUs)
        );
        assert!(!n.contains(ip("10.0.0.5")));

        assert!(matches!(
            n.resolve(ip("10.0.0.2"), 42, 0),
            Resolution::Queued { send_request: true }
        ));
        let mut reply = request(ip("10.0.0.2"), ip("10.0.0.100"), None);
        reply[21] = 2; // op = reply
        let mut sent = Vec::new();
        assert_eq!(
            handle_arp(
                &mut reply,
                14,
                ArpHost {
                    mac: OUR,
                    owned: &owned
                },
                &mut n,
                1,
                |p, m| sent.push((p, m))
            ),
            Ok(ArpOutcome::Consumed)
        );
        assert_eq!(sent, vec![(42, PEER)]);
    }

    #[test]
    fn built_frames_are_60_bytes_and_gratuitous_names_itself() {
        let mut out = [0u8; 64];
        assert_eq!(
            write_gratuitous_arp(&mut out, None, OUR, ip("10.0.0.9")),
            Some(60)
        );
        let a = ArpPacket::new(&out[14..]).expect("arp");
        assert_eq!(
            (a.sender_ip(), a.target_ip(), a.sender_mac()),
            (ip("10.0.0.9"), ip("10.0.0.9"), OUR)
        );
        assert_eq!(&out[0..6], &[0xff; 6]);
        assert_eq!(
            write_arp_request(&mut out, Some(3), OUR, ip("10.0.0.1"), ip("10.0.0.2")),
            Some(64)
        );
        assert_eq!(
            write_arp_request(&mut [0u8; 59], None, OUR, ip("10.0.0.1"), ip("10.0.0.2")),
            None
        );
        assert!(handle_arp(
            &mut [0u8; 30],
            14,
            ArpHost {
                mac: OUR,
                owned: &AddrSet::default()
            },
            &mut NeighbourTable::<u8, 1>::new(8, TIMERS),
            0,
            |_, _| {}
        )
        .is_err());
    }
}
