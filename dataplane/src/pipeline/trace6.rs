//! The trace steps of an IPv6 flow (`forward6.rs`): a traced packet's
//! session hit, miss or reuse, and its new flow's pick, recorded as
//! IPv4's are (`burst.rs`, `act.rs`). Only traced packets come here.

use super::Datapath;
use crate::buf::PacketBuf;
use crate::flow::{Origin, SessionId};
use crate::packet6::Ipv6Meta;
use crate::watch::TraceStep;

impl<P: PacketBuf> Datapath<P> {
    /// No live session for the traced packet: a miss, or a closing one
    /// its SYN ends.
    #[cold]
    pub(super) fn trace_miss6(&mut self, closing: Option<SessionId>) {
        self.watch.step(match closing {
            Some(id) => TraceStep::PortReused {
                session: id.index() as u32,
            },
            None => TraceStep::SessionMiss,
        });
    }

    /// The traced packet's session: the one it hit, or the one `opened`
    /// for it, with the backend its service picked.
    #[cold]
    pub(super) fn trace_session6(
        &mut self,
        id: SessionId,
        opened: bool,
        origin: Origin,
        backend: u32,
        meta: &Ipv6Meta,
    ) {
        let session = id.index() as u32;
        if !opened {
            self.watch.step(TraceStep::SessionHit {
                session,
                inbound: true,
            });
            return;
        }
        if let Origin::Service(service) = origin {
            let syn = crate::flow::proto::tcp_flags::SYN;
            self.watch.step(TraceStep::Scheduled6 {
                service,
                backend,
                picked_up: meta.tcp_flags.is_some_and(|f| f & syn == 0),
                one_packet: false,
            });
        }
        self.watch.step(TraceStep::SessionMade(session));
    }
}
