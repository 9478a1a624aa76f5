//! SNAT over IPv6 (issue 20): an internal host's first packet to the
//! outside (TCP, UDP, an ICMPv6 echo request) through an IPv6 SNAT rule
//! takes a SNAT address and port (an echo: identifier) from the rule's
//! IPv6 pool (`flow/pools.rs`), owned by this worker through the port's low
//! bits as IPv4's, and is keyed by the host's tuple and by the remote's
//! reply to that SNAT endpoint. The port goes back to the pool when the
//! session ends (`Held::release6`) or when it could not be inserted.

use super::{FlowState, Opened, PORT_CLASH_RETRIES};
use crate::drop::DropReason;
use crate::flow::table::{session_flags, Forwarding};
use crate::flow::{InsertError, NewSession, Origin, ProtoState, SessionId, TcpState};
use crate::rewrite6::ICMPV6;
use crate::tuple::{FiveTuple6, IpProto};

impl FlowState {
    /// Opens the session of `tuple`, an internal host's first packet out
    /// through IPv6 SNAT rule `rule` (`hash`: the IPv6 table's hash of
    /// `tuple`). A TCP segment that is not a SYN opens nothing
    /// (`no_session`), as IPv4's; no free port is `ports_exhausted`.
    pub fn open_snat6(
        &mut self,
        rule: u32,
        (tuple, tcp_flags): (&FiveTuple6, Option<u8>),
        hash: u64,
        now: u64,
    ) -> Result<Opened, DropReason> {
        use crate::flow::proto::tcp_flags as f;
        let state = match tuple.proto {
            IpProto::TCP => ProtoState::Tcp(TcpState::None),
            IpProto::UDP => ProtoState::Udp,
            _ => ProtoState::IcmpEcho,
        };
        if tcp_flags.is_some_and(|fl| fl & (f::SYN | f::ACK | f::RST) != f::SYN) {
            return Err(DropReason::NoSession);
        }
        let origin = Origin::Snat(rule);
        let mut new = NewSession {
            origin,
            forwarding: Forwarding::Snat,
            flags: session_flags::LOCAL_PORT,
            ..NewSession::new(*tuple, *tuple, u32::MAX, state)
        };
        let id = self.insert_snat6(&mut new, hash, now)?;
        self.live.opened(origin);
        Ok(Opened {
            id,
            origin,
            backend: u32::MAX,
        })
    }

    /// Inserts `new` with a reply tuple to a SNAT endpoint of its rule's
    /// pool; a reply tuple another session has is retried with other
    /// ports, as FULLNAT's (`fullnat6.rs`).
    fn insert_snat6(
        &mut self,
        new: &mut NewSession<FiveTuple6>,
        hash: u64,
        now: u64,
    ) -> Result<SessionId, DropReason> {
        let Origin::Snat(rule) = new.origin else {
            return Err(DropReason::NoService);
        };
        let tuple = new.inbound;
        let echo = tuple.proto == ICMPV6;
        // An echo has no remote port: the identifier is ours to choose.
        let remote_port = if echo { 0 } else { tuple.dst_port };
        for _ in 0..=PORT_CLASH_RETRIES {
            let (sip, sport) = self
                .pools
                .allocate_snat6(rule, tuple.dst, remote_port)
                .ok_or(DropReason::PortsExhausted)?;
            new.outbound = FiveTuple6 {
                src: tuple.dst,
                dst: sip,
                src_port: if echo { sport } else { tuple.dst_port },
                dst_port: sport,
                proto: tuple.proto,
            };
            match self.sessions6.insert_hashed(new, hash, now) {
                Ok(id) => return Ok(id),
                Err(e) => {
                    self.pools.release6(new.origin, true, &new.outbound);
                    if e == InsertError::Full || self.sessions6.lookup(&new.inbound).is_some() {
                        return Err(match e {
                            InsertError::Full => DropReason::TableFull,
                            InsertError::Exists => DropReason::SessionClash,
                        });
                    }
                }
            }
        }
        Err(DropReason::SessionClash)
    }
}
