//! One-packet scheduling over IPv6 (IPVS `ops`, issue 20): a datagram of
//! a one-packet IPv6 service (UDP, DR or TUN) is scheduled as `open6`
//! schedules a new flow (access list, rate limits, persistence, the
//! scheduler), and nothing is kept: no session, no connection counted,
//! as IPv4's `plan` does for its one-packet datagrams.

use super::FlowState;
use crate::drop::DropReason;
use crate::tables::LbTables;
use crate::tuple::FiveTuple6;

impl FlowState {
    /// The backend id a datagram `tuple` of the one-packet IPv6 service
    /// `s` goes to now; no session is made for it
    /// (`pipeline/ops6.rs`).
    pub fn one_packet6(
        &mut self,
        t: &LbTables,
        s: u32,
        tuple: &FiveTuple6,
        now: u64,
    ) -> Result<u32, DropReason> {
        let svc = t.services.get(s as usize).ok_or(DropReason::NoService)?;
        if svc.denies6(tuple.src) {
            return Err(DropReason::AclDenied);
        }
        self.limits.admit(s, tuple.src.into(), now)?;
        Ok(self.schedule6(t, s, tuple, now)?.id)
    }
}
