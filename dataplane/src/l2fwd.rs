//! Plain L2 forwarding, the way `dpdk-testpmd` does it.
//!
//! This is the appliance's benchmark mode (a config without interfaces):
//! every frame received on a port goes out of its peer port, untouched (`io`)
//! or with source and destination MAC swapped (`macswap`). Comparing it with
//! testpmd on the same ports shows what the Rust bindings and the worker loop
//! cost. It is not the load-balancing pipeline's forward step.

use crate::buf::PacketBuf;
use crate::wire::ethernet::field;

/// What happens to each frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardMode {
    /// Frames pass untouched (testpmd `--forward-mode=io`).
    Io,
    /// Source and destination MAC are swapped (testpmd `--forward-mode=macswap`).
    MacSwap,
}

/// Which port each port's frames leave by (testpmd `--port-topology`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// 0↔1, 2↔3, ...: needs an even number of ports.
    Paired,
    /// 0→1→2→...→0; a single port sends back out of itself.
    Chained,
    /// Every port sends back out of itself.
    Loop,
}

/// Why a topology does not fit the ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopologyError(pub String);

/// The forwarding decision for every RX port, computed once at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardPlan {
    pub mode: ForwardMode,
    /// `peer[i]` is the TX port for frames received on port `i`.
    pub peer: Vec<usize>,
}

impl ForwardPlan {
    pub fn new(mode: ForwardMode, topology: Topology, ports: usize) -> Result<Self, TopologyError> {
        if ports == 0 {
            return Err(TopologyError("forwarding needs at least one port".into()));
        }
        let peer = match topology {
            Topology::Paired if ports % 2 != 0 => {
                return Err(TopologyError(format!(
                    "topology \"paired\" needs an even number of ports, the config has {ports}; \
                     use \"chained\" or \"loop\""
                )))
            }
            Topology::Paired => (0..ports).map(|i| i ^ 1).collect(),
            Topology::Chained => (0..ports).map(|i| (i + 1) % ports).collect(),
            Topology::Loop => (0..ports).collect(),
        };
        Ok(ForwardPlan { mode, peer })
    }

    /// Applies the mode to one frame.
    #[inline]
    pub fn rewrite<P: PacketBuf>(&self, pkt: &mut P) {
        if self.mode == ForwardMode::MacSwap {
            swap_macs(pkt.data_mut());
        }
    }
}

/// Swaps destination and source MAC in place; frames too short to hold both
/// are left as they are (this mode forwards everything, like testpmd).
#[inline]
pub fn swap_macs(frame: &mut [u8]) {
    if let Some(macs) = frame.get_mut(field::ADDRESSES) {
        let (dst, src) = macs.split_at_mut(field::SOURCE.start);
        dst.swap_with_slice(src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::TestBuf;

    #[test]
    fn topologies_match_testpmd() {
        let peers = |t, n| ForwardPlan::new(ForwardMode::Io, t, n).map(|p| p.peer);
        assert_eq!(peers(Topology::Paired, 4), Ok(vec![1, 0, 3, 2]));
        assert_eq!(peers(Topology::Chained, 3), Ok(vec![1, 2, 0]));
        assert_eq!(peers(Topology::Chained, 1), Ok(vec![0]));
        assert_eq!(peers(Topology::Loop, 2), Ok(vec![0, 1]));
        assert!(peers(Topology::Paired, 3).is_err());
        assert!(peers(Topology::Loop, 0).is_err());
    }

    #[test]
    fn macswap_swaps_only_the_two_addresses() {
        let frame: Vec<u8> = (0..20).collect();
        let mut buf = TestBuf::new(&frame);
        let plan = ForwardPlan::new(ForwardMode::MacSwap, Topology::Loop, 1).expect("plan");
        plan.rewrite(&mut buf);
        let mut expected = frame.clone();
        // Raw offsets: the test checks the layout, not the constants.
        expected[..6].copy_from_slice(&frame[6..12]);
        expected[6..12].copy_from_slice(&frame[..6]);
        assert_eq!(buf.data(), &expected[..]);
    }

    #[test]
    fn macswap_leaves_runts_alone_and_io_touches_nothing() {
        let mut runt = TestBuf::new(&[1, 2, 3]);
        swap_macs(runt.data_mut());
        assert_eq!(runt.data(), &[1, 2, 3]);
        let frame: Vec<u8> = (0..64).collect();
        let mut buf = TestBuf::new(&frame);
        ForwardPlan::new(ForwardMode::Io, Topology::Loop, 1)
            .expect("plan")
            .rewrite(&mut buf);
        assert_eq!(buf.data(), &frame[..]);
    }
}
