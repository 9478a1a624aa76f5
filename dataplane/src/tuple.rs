//! The 5-tuple: how a packet names its flow.
//!
//! Shared by the packet core (which extracts it from headers) and the flow
//! state (which keys sessions by it). For ICMP echo the identifier stands in
//! for both ports, as in IPVS and conntrack.

use std::net::Ipv4Addr;

/// An IP protocol number (shared with the control plane, which names
/// services by it).
pub use ferrolb_types::IpProto;

/// Addresses, ports (host byte order) and protocol of a packet, as it appears
/// on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FiveTuple {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: IpProto,
}

impl FiveTuple {
    /// The service key the packet's destination names.
    #[inline]
    pub fn service_key(&self) -> ferrolb_types::ServiceKey {
        ferrolb_types::ServiceKey {
            proto: self.proto,
            vip: std::net::IpAddr::V4(self.dst),
            port: self.dst_port,
        }
    }

    /// The tuple of a packet going the other way in the same flow.
    pub fn reversed(&self) -> FiveTuple {
        FiveTuple {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            proto: self.proto,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversed_swaps_ends_and_twice_is_identity() {
        let t = FiveTuple {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            src_port: 1234,
            dst_port: 80,
            proto: IpProto::TCP,
        };
        let r = t.reversed();
        assert_eq!(
            (r.src, r.dst, r.src_port, r.dst_port),
            (t.dst, t.src, 80, 1234)
        );
        assert_eq!(r.reversed(), t);
    }
}
