//! Early segments: the data a client sends right behind its cookie ACK,
//! which reaches us before the backend's SYN-ACK. One per half-open
//! connection is held (the packet buffer itself, never a copy) and sent on
//! once the splice is made, as DPVS's synproxy keeps the ACK's data; the
//! rest are discarded and the client retransmits them.
//!
//! A held buffer is one out of the port's pool, so a worker holds at most
//! [`EARLY_HOLD_PER_WORKER`]: slots allocated once, found by an
//! [`EarlyRef`] kept in the connection's splice, their free ones on a
//! stack. Nothing here allocates after [`EarlyHold::new`].

use crate::tuple::FiveTuple;

/// Early segments one worker may hold at once. A connection holds one for
/// about a round trip to its backend, so this covers a few hundred
/// connections opening in the same millisecond, and stays a small part of
/// the smallest pool (8191 buffers, `control::config::mbufs_needed`).
pub const EARLY_HOLD_PER_WORKER: usize = 256;

/// A held segment: the buffer, the port it came in by, and whose it is
/// (`S`: the session's handle).
#[derive(Debug)]
pub struct Early<P, S> {
    pub pkt: P,
    pub port: u16,
    pub session: S,
    /// The client's tuple, so a session slot reused by another connection
    /// is not mistaken for the one that held it.
    pub client: FiveTuple,
}

/// Where a connection's held segment is: 0 for none, else its slot + 1
/// (two bytes in the splice).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EarlyRef(u16);

impl EarlyRef {
    pub const NONE: EarlyRef = EarlyRef(0);

    pub fn is_some(self) -> bool {
        self.0 != 0
    }

    fn slot(self) -> Option<usize> {
        usize::from(self.0).checked_sub(1)
    }
}

/// One worker's held early segments.
#[derive(Debug)]
pub struct EarlyHold<P, S> {
    slots: Vec<Option<Early<P, S>>>,
    /// Free slots, to pop from (its capacity never grows).
    free: Vec<u16>,
}

impl<P, S> Default for EarlyHold<P, S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P, S> EarlyHold<P, S> {
    /// Room for [`EARLY_HOLD_PER_WORKER`] segments, allocated now.
    pub fn new() -> Self {
        EarlyHold {
            slots: (0..EARLY_HOLD_PER_WORKER).map(|_| None).collect(),
            free: (0..EARLY_HOLD_PER_WORKER as u16).rev().collect(),
        }
    }

    /// Segments held now.
    pub fn held(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Whether another segment can be held.
    pub fn has_room(&self) -> bool {
        !self.free.is_empty()
    }

    /// Holds `e`, or gives it back when every slot is taken.
    pub fn hold(&mut self, e: Early<P, S>) -> Result<EarlyRef, Early<P, S>> {
        let Some(i) = self.free.pop() else {
            return Err(e);
        };
        match self.slots.get_mut(usize::from(i)) {
            Some(slot) => {
                *slot = Some(e);
                Ok(EarlyRef(i + 1))
            }
            None => {
                self.free.push(i);
                Err(e)
            }
        }
    }

    /// Takes the segment `r` names out of the hold.
    pub fn take(&mut self, r: EarlyRef) -> Option<Early<P, S>> {
        let i = r.slot()?;
        let e = self.slots.get_mut(i)?.take()?;
        self.free.push(i as u16);
        Some(e)
    }

    /// Frees every held segment `keep` refuses (its connection ended, or
    /// it no longer waits for it); returns how many were freed.
    pub fn sweep(&mut self, mut keep: impl FnMut(EarlyRef, &Early<P, S>) -> bool) -> u64 {
        let mut freed = 0;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let r = EarlyRef(i as u16 + 1);
            if slot.as_ref().is_some_and(|e| !keep(r, e)) {
                *slot = None;
                self.free.push(i as u16);
                freed += 1;
            }
        }
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuple::IpProto;
    use std::net::Ipv4Addr;

    fn early(n: u32) -> Early<u32, u32> {
        Early {
            pkt: n,
            port: 0,
            session: n,
            client: FiveTuple {
                src: Ipv4Addr::new(198, 51, 100, 7),
                dst: Ipv4Addr::new(192, 0, 2, 10),
                src_port: 40000,
                dst_port: 80,
                proto: IpProto::TCP,
            },
        }
    }

    #[test]
    fn holds_up_to_the_cap_and_gives_back_what_is_taken() {
        let mut h: EarlyHold<u32, u32> = EarlyHold::new();
        let refs: Vec<_> = (0..EARLY_HOLD_PER_WORKER as u32)
            .map(|n| h.hold(early(n)).expect("room"))
            .collect();
        assert!(refs.iter().all(|r| r.is_some()));
        assert_eq!(h.held(), EARLY_HOLD_PER_WORKER);
        assert!(!h.has_room());
        let refused = h.hold(early(9999)).expect_err("full");
        assert_eq!(refused.pkt, 9999, "the refused segment comes back");
        let e = h.take(refs[7]).expect("held");
        assert_eq!(e.pkt, 7);
        assert!(h.take(refs[7]).is_none(), "taken once");
        assert!(h.take(EarlyRef::NONE).is_none());
        assert_eq!(h.held(), EARLY_HOLD_PER_WORKER - 1);
        let r = h.hold(early(10_000)).expect("room again");
        assert_eq!(h.take(r).map(|e| e.pkt), Some(10_000));
    }

    #[test]
    fn sweep_frees_what_keep_refuses() {
        let mut h: EarlyHold<u32, u32> = EarlyHold::new();
        for n in 0..10 {
            h.hold(early(n)).expect("room");
        }
        assert_eq!(h.sweep(|_, e| e.pkt % 2 == 0), 5);
        assert_eq!(h.held(), 5);
        assert_eq!(h.sweep(|_, _| true), 0);
        assert_eq!(h.sweep(|_, _| false), 5);
        assert_eq!(h.held(), 0);
    }
}
