//! The rings between workers: a worker hands a packet it does not own to
//! the owner, and tells the others the neighbours it learned.
//!
//! One bounded single-producer single-consumer ring per ordered pair of
//! workers ([`rtrb`]: wait-free, one release store per push), so no two
//! threads ever write the same index. A full ring refuses the handoff, and
//! the caller counts the drop.

use std::net::{Ipv4Addr, Ipv6Addr};

use rtrb::{Consumer, Producer, RingBuffer};

use crate::frag::{FragDecision, FragKey, Piece};
use crate::wire::ethernet::MacAddr;

/// Handoffs each ring holds: 32 bursts.
pub const RING_CAPACITY: usize = 1024;

/// What travels between workers.
#[derive(Debug)]
pub enum Handoff<P> {
    /// A packet for its owner, with the port it was received on and its
    /// trace id (0: not traced; see `crate::watch`).
    Packet { pkt: P, port: u16, trace: u32 },
    /// A frame for `port`'s kernel interface, to the worker that has its
    /// queues (already within the budget).
    Kernel { pkt: P, port: u16 },
    /// A neighbour learned from ARP on another worker's queue.
    Neighbour { addr: Ipv4Addr, mac: MacAddr },
    /// A neighbour learned from Neighbour Discovery on another worker's
    /// queue. A variant of its own, so the IPv4 one stays as it was; 22
    /// bytes, less than the fragment decision's, so no handoff grows.
    Neighbour6 { addr: Ipv6Addr, mac: MacAddr },
    /// A datagram's first fragment was forwarded here: the decision for
    /// its later fragments, to the worker that owns them, with the first
    /// one's place (`pipeline/fragment.rs`).
    FragDecision {
        key: FragKey,
        decision: FragDecision,
        first: Piece,
    },
    /// An IPv6 datagram's first fragment was forwarded here: its decision
    /// for the worker that owns its fragments, written in a buffer of the
    /// pool (`frag::decision6`), so the ring's element does not grow.
    FragDecision6 { msg: P },
    /// A NAT64 reply's IPv4 datagram's first fragment was translated here:
    /// its decision and IPv6 addresses, in a buffer of the pool
    /// (`frag::decision64`).
    FragDecision64 { msg: P },
}

/// One worker's ends of the rings: a producer to every other worker and a
/// consumer from every other worker.
pub struct WorkerLinks<P> {
    index: usize,
    /// Indexed by destination worker; `None` at our own index.
    to: Vec<Option<Producer<Handoff<P>>>>,
    /// From each other worker, in worker order.
    from: Vec<Consumer<Handoff<P>>>,
}

impl<P> std::fmt::Debug for WorkerLinks<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerLinks")
            .field("index", &self.index)
            .field("workers", &self.to.len())
            .finish()
    }
}

/// The rings for `workers` workers, each ring holding `capacity`
/// handoffs: element *i* goes to worker *i*.
pub fn mesh<P>(workers: usize, capacity: usize) -> Vec<WorkerLinks<P>> {
    let mut links: Vec<WorkerLinks<P>> = (0..workers)
        .map(|index| WorkerLinks {
            index,
            to: (0..workers).map(|_| None).collect(),
            from: Vec::with_capacity(workers.saturating_sub(1)),
        })
        .collect();
    for dst in 0..workers {
        for src in 0..workers {
            if src == dst {
                continue;
            }
            let (producer, consumer) = RingBuffer::new(capacity);
            links[src].to[dst] = Some(producer);
            links[dst].from.push(consumer);
        }
    }
    links
}

impl<P> WorkerLinks<P> {
    pub fn index(&self) -> usize {
        self.index
    }

    pub fn workers(&self) -> usize {
        self.to.len()
    }

    /// Hands `item` to worker `dst`; gives it back when that ring is full
    /// (or `dst` is us or out of range).
    #[inline]
    pub fn send(&mut self, dst: usize, item: Handoff<P>) -> Result<(), Handoff<P>> {
        match self.to.get_mut(dst).and_then(Option::as_mut) {
            Some(ring) => ring.push(item).map_err(|rtrb::PushError::Full(item)| item),
            None => Err(item),
        }
    }

    /// Rings from other workers, to take from.
    pub fn sources(&self) -> usize {
        self.from.len()
    }

    /// The worker that source `i` is (sources are the other workers in
    /// order, this one left out).
    pub fn source_worker(&self, i: usize) -> usize {
        if i < self.index {
            i
        } else {
            i + 1
        }
    }

    /// The next handoff from source `i` (see [`WorkerLinks::sources`]).
    #[inline]
    pub fn receive(&mut self, i: usize) -> Option<Handoff<P>> {
        self.from.get_mut(i).and_then(|c| c.pop().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The handoff as it was before IPv6 neighbours were shared.
    #[allow(dead_code)]
    enum Ipv4Only<P> {
        Packet {
            pkt: P,
            port: u16,
            trace: u32,
        },
        Kernel {
            pkt: P,
            port: u16,
        },
        Neighbour {
            addr: Ipv4Addr,
            mac: MacAddr,
        },
        FragDecision {
            key: FragKey,
            decision: FragDecision,
            first: Piece,
        },
    }

    #[test]
    fn sharing_ipv6_neighbours_does_not_grow_the_handoff() {
        use std::mem::size_of;
        assert_eq!(
            size_of::<Handoff<std::ptr::NonNull<u8>>>(),
            size_of::<Ipv4Only<std::ptr::NonNull<u8>>>()
        );
        assert_eq!(size_of::<Handoff<usize>>(), size_of::<Ipv4Only<usize>>());
    }

    #[test]
    fn every_pair_has_its_own_fifo_ring() {
        let mut links = mesh::<u32>(3, 4);
        assert_eq!(
            links.iter().map(|l| l.sources()).collect::<Vec<_>>(),
            vec![2; 3]
        );
        let mut w1 = links.remove(1);
        let mut w0 = links.remove(0);
        for n in 0..4 {
            assert!(w0
                .send(
                    1,
                    Handoff::Packet {
                        pkt: n,
                        port: 0,
                        trace: 0
                    }
                )
                .is_ok());
        }
        let full = w0.send(
            1,
            Handoff::Packet {
                pkt: 9,
                port: 0,
                trace: 0,
            },
        );
        assert!(matches!(full, Err(Handoff::Packet { pkt: 9, .. })));
        assert!(
            w0.send(
                0,
                Handoff::Packet {
                    pkt: 1,
                    port: 0,
                    trace: 0
                }
            )
            .is_err(),
            "not to itself"
        );
        assert!(w0
            .send(
                7,
                Handoff::Packet {
                    pkt: 1,
                    port: 0,
                    trace: 0
                }
            )
            .is_err());
        // Worker 1's first source is worker 0, in order.
        let got: Vec<u32> = std::iter::from_fn(|| match w1.receive(0) {
            Some(Handoff::Packet { pkt, .. }) => Some(pkt),
            _ => None,
        })
        .collect();
        assert_eq!(got, vec![0, 1, 2, 3]);
        assert!(w1.receive(1).is_none(), "worker 2 sent nothing");
    }
}
