//! Active and inactive connection counts per backend, per worker (IPVS's
//! activeconns/inactconns), read by lc and wlc.
//!
//! Each worker counts only its own sessions: no shared writes. The pipeline
//! calls `opened` on insert, `changed` with each [`Transition`] and `closed`
//! when a session expires or is removed.

use super::proto::{ProtoState, TcpState};
use super::table::Transition;

#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Conns {
    pub active: u32,
    pub inactive: u32,
}

impl Conns {
    /// IPVS's weighting: an active connection costs 256 inactive ones.
    pub fn overhead(self) -> u64 {
        (u64::from(self.active) << 8) + u64::from(self.inactive)
    }
}

/// Counts indexed by backend id; sized off the packet path.
#[derive(Clone, Debug, Default)]
pub struct ConnCounts {
    by_backend: Vec<Conns>,
    /// Sessions in SYN_RECV, every backend together: the embryonic
    /// connections the SYN proxy's automatic mode watches.
    syn_recv: u64,
}

fn is_syn_recv(state: ProtoState) -> bool {
    state == ProtoState::Tcp(TcpState::SynRecv)
}

impl ConnCounts {
    pub fn new(backend_ids: usize) -> Self {
        ConnCounts {
            by_backend: vec![Conns::default(); backend_ids],
            syn_recv: 0,
        }
    }

    /// Sizes the counts to `backend_ids` and zeroes those of `reborn` ids
    /// (given to a new backend; config time only).
    pub fn fit(&mut self, backend_ids: usize, reborn: &[u32]) {
        self.by_backend.resize(backend_ids, Conns::default());
        for &id in reborn {
            if let Some(c) = self.by_backend.get_mut(id as usize) {
                *c = Conns::default();
            }
        }
    }

    /// Counts by backend id.
    pub fn as_slice(&self) -> &[Conns] {
        &self.by_backend
    }

    /// Unknown ids read as idle rather than panicking.
    pub fn get(&self, backend: u32) -> Conns {
        self.by_backend
            .get(backend as usize)
            .copied()
            .unwrap_or_default()
    }

    /// Sessions in SYN_RECV now.
    pub fn syn_recv(&self) -> u64 {
        self.syn_recv
    }

    pub fn opened(&mut self, backend: u32, state: ProtoState) {
        if is_syn_recv(state) {
            self.syn_recv += 1;
        }
        if !state.counts_as_connection() {
            return;
        }
        if let Some(c) = self.by_backend.get_mut(backend as usize) {
            bump(c, state.is_active(), true);
        }
    }

    pub fn changed(&mut self, backend: u32, t: Transition) {
        match (is_syn_recv(t.from), is_syn_recv(t.to)) {
            (true, false) => self.syn_recv = self.syn_recv.saturating_sub(1),
            (false, true) => self.syn_recv += 1,
            _ => {}
        }
        if t.from.is_active() == t.to.is_active() {
            return;
        }
        if let Some(c) = self.by_backend.get_mut(backend as usize) {
            bump(c, t.from.is_active(), false);
            bump(c, t.to.is_active(), true);
        }
    }

    pub fn closed(&mut self, backend: u32, state: ProtoState) {
        if is_syn_recv(state) {
            self.syn_recv = self.syn_recv.saturating_sub(1);
        }
        if !state.counts_as_connection() {
            return;
        }
        if let Some(c) = self.by_backend.get_mut(backend as usize) {
            bump(c, state.is_active(), false);
        }
    }
}

fn bump(c: &mut Conns, active: bool, up: bool) {
    let n = if active {
        &mut c.active
    } else {
        &mut c.inactive
    };
    *n = if up {
        n.saturating_add(1)
    } else {
        n.saturating_sub(1)
    };
}
