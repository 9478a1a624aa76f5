//! The SYN proxy's answer to an ACK with a bad cookie (docs/syn-proxy.md,
//! "Bad cookies"). With no session, such an ACK is a forgery, a stale
//! handshake, or a real client's segment that outlived its session. By
//! default it is dropped (`synproxy_bad_cookie`), as DPVS does; with
//! `[synproxy] reset_bad_cookie` it is also answered with a RST, as Linux
//! answers an ACK to a listening socket, so a real client stops
//! retransmitting at once. The RST carries the ACK's acknowledgment number
//! as its sequence number (RFC 9293 3.10.7.1), no ACK flag, and goes back
//! out of the port the ACK came in by. A spoofed ACK flood would have us
//! send one RST per ACK to whoever it names: each worker sends at most
//! [`RESET_RATE_PER_S`] a second (bursts of [`RESET_BURST`]), the rest are
//! counted as `synproxy_resets_limited`.

use super::{Cx, Datapath, Ingress};
use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::io::PacketIo;
use crate::net::icmp::TokenBucket;
use crate::packet::Ipv4Meta;
use crate::synproxy::frame::{rewrite_segment, Segment, Way};
use crate::tables::LbTables;
use crate::wire::tcp::TcpFlags;

/// RSTs a worker sends a second, at most.
pub const RESET_RATE_PER_S: u64 = 1000;
/// RSTs a worker may send at once after a quiet spell.
pub const RESET_BURST: u32 = 100;

/// A worker's full budget at `now_ms`.
pub(super) fn budget(now_ms: u64) -> TokenBucket {
    TokenBucket::new(RESET_BURST, 1000 / RESET_RATE_PER_S, now_ms)
}

impl<P: PacketBuf> Datapath<P> {
    /// A bad cookie's ACK dropped by name (either family); whether it is
    /// answered with a RST: the config asks and the worker's budget allows
    /// (else `synproxy_resets_limited`).
    pub(super) fn bad_cookie_answered(&mut self, t: &LbTables, now: u64) -> bool {
        self.drop(DropReason::SynProxyBadCookie);
        if !t.synproxy.reset_bad_cookie {
            return false;
        }
        if !self.synproxy.resets.allow(now) {
            self.counters.events.synproxy_resets_limited += 1;
            return false;
        }
        true
    }

    /// An ACK whose cookie did not check out: dropped by name, and answered
    /// with a RST when the config asks and the budget allows.
    pub(super) fn bad_cookie<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        mut pkt: P,
        meta: &Ipv4Meta,
        ack: u32,
    ) {
        if !self.bad_cookie_answered(cx.t, cx.now) {
            return;
        }
        let rst = Segment::new(ack, 0, TcpFlags::RST, 0);
        if rewrite_segment(&mut pkt, meta, &rst, Way::Back).is_ok() {
            self.counters.events.synproxy_resets_sent += 1;
            self.send(cx, at.port, pkt);
        }
    }
}
