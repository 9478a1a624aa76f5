//! FULLNAT over IPv6 (issue 20): a new IPv6 FULLNAT session takes a local
//! address and port from its service's IPv6 pool (`flow/pools.rs`), owned
//! by this worker through the port's low bits as IPv4's, and is keyed by
//! the client's tuple and by the backend's reply to that local endpoint.
//! The port goes back to the pool when the session ends (`Held::release6`)
//! or when it could not be inserted.

use super::{FlowState, PORT_CLASH_RETRIES};
use crate::drop::DropReason;
use crate::flow::table::session_flags;
use crate::flow::{InsertError, NewSession, Origin, SessionId};
use crate::tuple::FiveTuple6;

impl FlowState {
    /// Inserts the FULLNAT session `new`, whose `outbound` names the
    /// backend's endpoint (as `nat6_reply` makes it, to the client): its
    /// reply tuple is made to a local address and port taken from the
    /// service's IPv6 pool. A reply tuple another session has (a port the
    /// backend still knows from a peer's session) is retried with other
    /// ports, as IPv4's plan does; no free port is `ports_exhausted`.
    pub(super) fn insert_fullnat6(
        &mut self,
        mut new: NewSession<FiveTuple6>,
        hash: u64,
        now: u64,
    ) -> Result<SessionId, DropReason> {
        let Origin::Service(s) = new.origin else {
            return Err(DropReason::NoService);
        };
        let (backend, backend_port) = (new.outbound.src, new.outbound.src_port);
        new.flags |= session_flags::LOCAL_PORT;
        for _ in 0..=PORT_CLASH_RETRIES {
            let (laddr, lport) = self
                .pools
                .allocate6(s, backend, backend_port)
                .ok_or(DropReason::PortsExhausted)?;
            new.outbound.dst = laddr;
            new.outbound.dst_port = lport;
            match self.sessions6.insert_hashed(&new, hash, now) {
                Ok(id) => return Ok(id),
                Err(e) => {
                    self.pools.release6(new.origin, true, &new.outbound);
                    // The client's own tuple exists, or the table is full:
                    // another port would not help.
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
