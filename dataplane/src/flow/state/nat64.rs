//! NAT64 sessions (issue 20): a FULLNAT service with an IPv6 VIP and IPv4
//! backends. The session lives in the IPv6 table with two keys, as an
//! IPv6 NAT session does: the client's tuple (client6 -> VIP6), and the
//! IPv4 reply tuple (backend4:port -> local4:lport) written with
//! IPv4-mapped addresses (`::ffff:a.b.c.d`, RFC 4291 2.5.5.2), so the
//! backend's IPv4 replies find it by one lookup of the IPv6 table
//! (`pipeline/nat64.rs`). The local port comes from the service's IPv4
//! pool (`flow/pools.rs`), this worker's ports only, as IPv4 FULLNAT's,
//! so the replies' owner is the worker the port's low bits name; it goes
//! back to the pool when the session ends (`Held::release6`).
//!
//! Its forwarding is `FullNat`; its reply key's mapped addresses are what
//! tells it from an IPv6 FULLNAT session (whose local addresses are IPv6:
//! the config refuses IPv4-mapped addresses everywhere).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::FlowState;
use crate::drop::DropReason;
use crate::flow::pools::HeldPort;
use crate::flow::{Origin, Session};
use crate::sched::Backend;
use crate::tuple::{FiveTuple, FiveTuple6};

/// `t` with its addresses IPv4-mapped: the IPv6 table's key of an IPv4
/// tuple.
pub fn mapped(t: &FiveTuple) -> FiveTuple6 {
    FiveTuple6 {
        src: t.src.to_ipv6_mapped(),
        dst: t.dst.to_ipv6_mapped(),
        src_port: t.src_port,
        dst_port: t.dst_port,
        proto: t.proto,
    }
}

/// The IPv4 tuple a mapped key stands for; None unless both addresses
/// are IPv4-mapped (not a NAT64 reply key).
#[inline]
pub fn unmapped(t: &FiveTuple6) -> Option<FiveTuple> {
    Some(FiveTuple {
        src: v4(t.src)?,
        dst: v4(t.dst)?,
        src_port: t.src_port,
        dst_port: t.dst_port,
        proto: t.proto,
    })
}

/// The IPv4 address `a` maps, if it is IPv4-mapped (`::ffff:0:0/96`; not
/// the deprecated IPv4-compatible `::a.b.c.d`). `Ipv6Addr::to_ipv4_mapped`
/// as one 96-bit compare (it took 49 instructions a NAT64 packet for the
/// two addresses).
#[inline]
fn v4(a: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(a);
    (bits >> 32 == 0xffff).then_some(Ipv4Addr::from(bits as u32))
}

/// The port a NAT64 session holds, as the pools take it back: its reply
/// key unmapped. None for any other IPv6 session.
pub(crate) fn held_port64(s: &Session<FiveTuple6>) -> Option<(Origin, HeldPort)> {
    if !s.holds_local_port() {
        return None;
    }
    let ob = unmapped(s.outbound())?;
    crate::flow::pools::held_port(s.origin(), true, &ob)
}

impl FlowState {
    /// The reply key of a new NAT64 session of the client tuple `tuple`,
    /// scheduled to the IPv4 `backend` of service `s`: a local address and
    /// port from the service's pool, unique towards the backend's
    /// endpoint (port 0: the client's destination port).
    pub(super) fn nat64_reply(
        &mut self,
        s: u32,
        tuple: &FiveTuple6,
        backend: &Backend,
    ) -> Result<FiveTuple6, DropReason> {
        let IpAddr::V4(baddr) = backend.addr else {
            return Err(DropReason::NoBackend);
        };
        let bport = match backend.port {
            0 => tuple.dst_port,
            p => p,
        };
        let (lip, lport) = self
            .pools
            .allocate(Origin::Service(s), baddr, bport)
            .ok_or(DropReason::PortsExhausted)?;
        Ok(mapped(&FiveTuple {
            src: baddr,
            dst: lip,
            src_port: bport,
            dst_port: lport,
            proto: tuple.proto,
        }))
    }

    /// Gives back the port of a NAT64 session that could not be inserted.
    pub(super) fn nat64_unreserve(&mut self, origin: Origin, outbound: &FiveTuple6) {
        if let Some(ob) = unmapped(outbound) {
            self.pools.release(origin, true, &ob);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuple::IpProto;

    #[test]
    fn a_mapped_key_unmaps_to_its_tuple_and_nothing_else_does() {
        let t = FiveTuple {
            src: Ipv4Addr::new(10, 0, 1, 11),
            dst: Ipv4Addr::new(10, 0, 1, 100),
            src_port: 8080,
            dst_port: 40961,
            proto: IpProto::TCP,
        };
        let m = mapped(&t);
        assert_eq!(m.src, "::ffff:10.0.1.11".parse::<Ipv6Addr>().unwrap());
        assert_eq!(m.dst, "::ffff:10.0.1.100".parse::<Ipv6Addr>().unwrap());
        assert_eq!(unmapped(&m), Some(t));
        // An IPv6 tuple (or one end of it IPv6) is not a NAT64 reply key.
        let mut v6 = m;
        v6.dst = "2001:db8::100".parse().unwrap();
        assert_eq!(unmapped(&v6), None);
        v6.src = "::10.0.1.11".parse().unwrap(); // IPv4-compatible: not mapped
        v6.dst = m.dst;
        assert_eq!(unmapped(&v6), None);
    }
}
