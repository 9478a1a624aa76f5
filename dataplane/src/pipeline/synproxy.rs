//! The SYN proxy on the packet path (docs/syn-proxy.md): the three
//! handshake steps and the splice, on top of the sans-IO pieces in
//! `crate::synproxy`.
//!
//! 1. A client's SYN to a proxied service (no session): answered here with
//!    a cookie SYN-ACK out of the port it came in by (`answer_syn`).
//!    Nothing is kept.
//! 2. The client's ACK (no session): its cookie checked, the flow
//!    scheduled and its session made as for a SYN, marked
//!    `session_flags::SYN_PROXY`, its [`Splice`] kept by session slot, and
//!    the ACK rewritten into our SYN to the backend (`cookie_ack`,
//!    `synproxy_open.rs`).
//! 3. The backend's SYN-ACK: the sequence (and timestamp) offsets fixed,
//!    the SYN-ACK turned into our ACK back to the backend (`splice`,
//!    `synproxy_open.rs`).
//!
//! From then on every segment of the session is translated by its
//! [`SeqAdjust`] before the NAT/FULLNAT rewrite (`Splice` here, its
//! usual case in `synproxy_spliced.rs`). A client's first data
//! segment before the backend answered is held and sent after the splice
//! (`synproxy_early.rs`); other client segments of that time (more data,
//! a retransmitted ACK) are turned into the backend SYN again, their data
//! discarded and counted; the client retransmits it.

use super::burst::tcp_flags_of;
use super::proxy_tcp::header_version;
use super::{Cx, Datapath, Ingress};
use crate::buf::PacketBuf;
use crate::client_addr::proxy_header::ProxyVersion;
use crate::client_addr::tcp::Header;
use crate::drop::DropReason;
use crate::flow::table::session_flags;
use crate::flow::{Direction, Hit, SessionId};
use crate::io::PacketIo;
use crate::net::icmp::TokenBucket;
use crate::packet::Ipv4Meta;
use crate::rewrite::shift_quoted_seq;
use crate::synproxy::cookie::{self, CookieKeys, CookieSecrets, EchoedOptions};
use crate::synproxy::early::{EarlyHold, EarlyRef};
use crate::synproxy::frame::{rewrite_segment, Segment, Way};
use crate::synproxy::options::{self, SynOptions, TcpOptions};
use crate::synproxy::seq::{word, write_fixed_checksum, Fixed, SeqAdjust};
use crate::synproxy::window::{self, Edges, Seen};
use crate::synproxy::wscale::WScale;
use crate::tables::{LbTables, Mode};
use crate::tuple::FiveTuple;
use crate::wire::ipv4::IPV4_MIN_HEADER_LEN;
use crate::wire::tcp::{self, TcpFlags};
use crate::wire::{get_be16, get_be32, put_be16};
use ferrolb_types::ServiceKey;

/// The window shift our SYN-ACK announces to a client that sent one.
/// After the splice the backend's window fields reach the client
/// rescaled from the backend's shift to this one.
pub(super) const OUR_WSCALE: u8 = 7;

/// The window of our SYN-ACK (never scaled) and the MSS we assume for a
/// client that announced none (RFC 9293).
const SYN_ACK_WINDOW: u16 = 65535;
const DEFAULT_MSS: u16 = 536;

/// ECN setup flags of a SYN (RFC 3168).
const ECE: u8 = 0x40;
const CWR: u8 = 0x80;

/// One proxied connection: its handshake state, its translation and its
/// window. One cache line (aligned): a spliced segment reads one line
/// here as it does in the session table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(align(64))]
pub(super) struct Splice {
    pub adjust: SeqAdjust,
    /// Our ISN towards the client (the cookie) and the client's ISN.
    pub cookie_isn: u32,
    pub client_isn: u32,
    /// What the backend SYN announces: the client's options as the
    /// cookie carried them.
    pub mss: u16,
    pub client_wscale: WScale,
    pub sack: bool,
    /// Timestamps in use: our SYN-ACK's TSval as the client echoed it, the
    /// client's TSval of its ACK.
    pub timestamps: bool,
    pub our_tsval: u32,
    pub client_tsval: u32,
    pub client_window: u16,
    /// The backend's window shift, when it and the client both scale.
    pub backend_wscale: WScale,
    /// The backend's SYN-ACK arrived and was acknowledged (always, for a
    /// session with a PROXY header and no SYN proxy).
    pub established: bool,
    /// The PROXY header the client direction carries (`proxy_tcp.rs`),
    /// and whether a segment carried it already.
    pub header: Option<ProxyVersion>,
    pub header_sent: bool,
    /// The client's data segment held until the backend answers.
    pub early: EarlyRef,
    /// The window check's edges (`synproxy::window`): the client's, in
    /// its sequence space, and the backend's, in its own.
    pub edges: [Edges; 2],
    /// Which of them are known, whether the check is on, and whether the
    /// splice is the SYN proxy's alone (`track`).
    pub track: u8,
}

/// `Splice::track` bits: the check is on (a SYN-proxied session, from
/// its splice or a peer's record), which side's edges are known, and
/// whether the splice is the SYN proxy's alone.
pub(crate) mod track {
    pub const ON: u8 = 1;
    pub const CLIENT: u8 = 2;
    pub const BACKEND: u8 = 4;
    /// On, both sides' edges known: the usual case.
    pub const ALL: u8 = ON | CLIENT | BACKEND;
    /// Set with `ON` on an established splice of the SYN proxy alone (no
    /// PROXY header, so no shift of the client's numbers), and never
    /// changed after: what [`Splice::translate_spliced`] needs besides
    /// the edges, read with them in one byte.
    pub const ALONE: u8 = 8;
    /// The straight path's case: all of the above.
    pub const STRAIGHT: u8 = ALL | ALONE;

    /// `ON`, with `ALONE` for a splice whose client numbers keep their
    /// space (`header` none, `client_seq` 0).
    pub fn on(alone: bool) -> u8 {
        if alone {
            ON | ALONE
        } else {
            ON
        }
    }
}

const CLIENT: usize = 0;
const BACKEND: usize = 1;

impl Splice {
    /// A segment of the established splice, `h` its TCP header and
    /// payload: checked against the window, then translated (and the
    /// backend's window rescaled) in place. The usual case (the SYN proxy
    /// alone, both edges known, a fixed layout: `synproxy_spliced.rs`) is
    /// inlined into the caller; anything else is a call.
    /// (The packet path calls [`Splice::translate_as`], having read the
    /// slot's bits before it reached the packet's bytes.)
    #[cfg(test)]
    pub(super) fn translate(&mut self, dir: Direction, h: &mut [u8]) -> Result<(), DropReason> {
        self.translate_as(self.plain_splice(), dir, h)
    }

    /// [`Splice::translate`], `straight` what [`Splice::plain_splice`]
    /// says (read by the caller before it reached the packet's bytes).
    #[inline(always)]
    fn translate_as(
        &mut self,
        straight: bool,
        dir: Direction,
        h: &mut [u8],
    ) -> Result<(), DropReason> {
        use Direction::{Inbound as In, Outbound as Out};
        if straight {
            let len = h.len();
            match (Fixed::of(h), dir) {
                (Some(Fixed::Plain(f)), In) => return self.translate_spliced(In, f, len),
                (Some(Fixed::Plain(f)), Out) => return self.translate_spliced(Out, f, len),
                (Some(Fixed::Timestamp(f)), In) => return self.translate_spliced(In, f, len),
                (Some(Fixed::Timestamp(f)), Out) => return self.translate_spliced(Out, f, len),
                (None, _) => {}
            }
        }
        self.translate_other(dir, h)
    }

    /// [`Splice::translate`] of a segment off the usual path.
    #[inline(never)]
    fn translate_other(&mut self, dir: Direction, h: &mut [u8]) -> Result<(), DropReason> {
        // The fixed path checks with both sides' edges known (the usual
        // case), or not at all; a synced session still learning its edges
        // takes the general one.
        if self.track & track::ALL == track::ALL || self.track & track::ON == 0 {
            // One copy per layout and direction, each with its offsets,
            // edges and shifts known at compile time.
            use Direction::{Inbound as In, Outbound as Out};
            let len = h.len();
            match (Fixed::of(h), dir) {
                (Some(Fixed::Plain(f)), In) => return self.translate_fixed(In, f, len),
                (Some(Fixed::Plain(f)), Out) => return self.translate_fixed(Out, f, len),
                (Some(Fixed::Timestamp(f)), In) => return self.translate_fixed(In, f, len),
                (Some(Fixed::Timestamp(f)), Out) => return self.translate_fixed(Out, f, len),
                (None, _) => {}
            }
        }
        self.translate_general(dir, h)
    }

    /// [`Splice::translate`] of any segment, its checksum written.
    fn translate_general(&mut self, dir: Direction, h: &mut [u8]) -> Result<(), DropReason> {
        if !self.in_window(dir, h) {
            return Err(DropReason::SynProxyOutOfWindow);
        }
        match dir {
            Direction::Inbound => self.adjust.to_backend(h),
            Direction::Outbound => self.adjust.to_client(h).map(|()| {
                rescale_window(h, self.backend_wscale);
            }),
        }
        .map_err(|_| DropReason::SynProxyBadOptions)
    }

    /// [`Splice::translate`] of a header of a fixed layout (`len`: the
    /// segment's length, header included), `track` all or nothing: the
    /// same verdict, edges and bytes as the general path (a proptest in
    /// `synproxy_fixed_tests.rs` compares them), the fields read once and
    /// the shift and the window rescale in one checksum update.
    #[inline(always)]
    fn translate_fixed<const N: usize>(
        &mut self,
        dir: Direction,
        h: &mut [u8; N],
        len: usize,
    ) -> Result<(), DropReason> {
        if self.track != 0 {
            let flags = h[tcp::field::FLAGS];
            let ends =
                u32::from(flags & TcpFlags::SYN != 0) + u32::from(flags & TcpFlags::FIN != 0);
            let w = tcp::field::WINDOW.start;
            let seen = Seen {
                seq: word(h, tcp::field::SEQ_NUM.start),
                // `Fixed` took the header from a segment at least `N` long.
                len: (len as u32).wrapping_sub(N as u32).wrapping_add(ends),
                ack: (flags & TcpFlags::ACK != 0).then(|| word(h, tcp::field::ACK_NUM.start)),
                window: u16::from_be_bytes([h[w], h[w + 1]]),
            };
            if !self.accept(dir, seen, (true, true)) {
                return Err(DropReason::SynProxyOutOfWindow);
            }
        }
        let d = match dir {
            Direction::Inbound => self.adjust.to_backend_fixed(h),
            Direction::Outbound => {
                let mut d = self.adjust.to_client_fixed(h);
                let w = tcp::field::WINDOW.start;
                let old = u16::from_be_bytes([h[w], h[w + 1]]);
                let new = rescaled(old, self.backend_wscale);
                if new != old {
                    h[w..w + 2].copy_from_slice(&new.to_be_bytes());
                    d.word(old, new);
                }
                d
            }
        };
        write_fixed_checksum(h, d);
        Ok(())
    }

    /// The window check of a segment going `dir`, before its translation
    /// (true when the check is off); an accepted segment moves the edges.
    #[inline(always)]
    pub(super) fn in_window(&mut self, dir: Direction, h: &[u8]) -> bool {
        if self.track & track::ON == 0 {
            return true;
        }
        let Some(seen) = seen(h) else {
            return false;
        };
        let known = match dir {
            Direction::Inbound => (track::CLIENT, track::BACKEND),
            Direction::Outbound => (track::BACKEND, track::CLIENT),
        };
        self.accept(
            dir,
            seen,
            (self.track & known.0 != 0, self.track & known.1 != 0),
        )
    }

    /// The window check of what `seen` read of a segment going `dir`,
    /// with whether its sender's and its receiver's edges are known.
    #[inline(always)]
    fn accept(&mut self, dir: Direction, seen: Seen, (s_known, r_known): (bool, bool)) -> bool {
        let (from, bit, s_wscale, r_wscale) = match dir {
            Direction::Inbound => (
                CLIENT,
                track::CLIENT,
                self.client_wscale.get(),
                self.backend_wscale.get(),
            ),
            Direction::Outbound => (
                BACKEND,
                track::BACKEND,
                self.backend_wscale.get(),
                self.client_wscale.get(),
            ),
        };
        // The acknowledgment in the receiver's own space.
        let seen = Seen {
            ack: seen.ack.map(|a| match dir {
                Direction::Inbound => self.adjust.backend_seq_of(a),
                Direction::Outbound => self.adjust.client_seq_of(a),
            }),
            ..seen
        };
        let [c, b] = &mut self.edges;
        let (s, r) = if from == CLIENT { (c, b) } else { (b, c) };
        let ok = window::Direction {
            s,
            r,
            s_known,
            r_known,
            s_wscale,
            r_wscale,
        }
        .accept(&seen);
        if ok {
            self.track |= bit;
        }
        ok
    }

    /// Starts the window check at the splice: the client's next byte is
    /// its ISN + 1 and it may fill our SYN-ACK's window; the backend's
    /// next byte is its ISN + 1 and it may fill the window the client's
    /// ACK announced.
    fn start_window(&mut self, backend_isn: u32) {
        let client_next = self.client_isn.wrapping_add(1);
        let backend_next = backend_isn.wrapping_add(1);
        let client_window = u32::from(self.client_window) << self.client_wscale.shift();
        self.edges = [
            Edges {
                end: client_next,
                maxend: client_next.wrapping_add(u32::from(SYN_ACK_WINDOW)),
            },
            Edges {
                end: backend_next,
                maxend: backend_next.wrapping_add(client_window),
            },
        ];
        let alone = self.header.is_none() && self.adjust.client_seq == 0;
        self.track = track::on(alone) | track::CLIENT | track::BACKEND;
    }

    /// The splice a valid cookie ACK starts: its sequence and
    /// acknowledgment numbers and window, its options, the MSS of its
    /// cookie.
    fn of_cookie_ack((seq, ack, window): (u32, u32, u16), o: &TcpOptions, mss: u16) -> Splice {
        let echoed = o.timestamp.map_or(EchoedOptions::default(), |(_, ecr)| {
            cookie::decode_timestamp_cookie(ecr)
        });
        let (client_tsval, our_tsval) = o.timestamp.unwrap_or((0, 0));
        Splice {
            cookie_isn: ack.wrapping_sub(1),
            client_isn: seq.wrapping_sub(1),
            mss,
            client_wscale: WScale::new(echoed.wscale),
            sack: echoed.sack,
            timestamps: o.timestamp.is_some(),
            our_tsval,
            client_tsval,
            client_window: window,
            ..Splice::default()
        }
    }

    /// The backend's SYN-ACK for our SYN (its sequence number and
    /// options) fixes the translation and starts the window check; returns
    /// our ACK to it (the client's window, and timestamp).
    fn spliced_by(&mut self, seq: u32, o: &TcpOptions) -> Segment {
        self.adjust.backend_seq = self.cookie_isn.wrapping_sub(seq);
        let backend_ts = o.timestamp.filter(|_| self.timestamps);
        if let Some((val, _)) = backend_ts {
            self.adjust.backend_ts = self.our_tsval.wrapping_sub(val);
        }
        self.backend_wscale = match self.client_wscale.get() {
            Some(_) => WScale::new(Some(o.wscale.unwrap_or(0))),
            None => WScale::NONE,
        };
        self.established = true;
        self.start_window(seq);
        let reply = Segment::new(
            self.client_isn.wrapping_add(1),
            seq.wrapping_add(1),
            TcpFlags::ACK,
            self.client_window,
        );
        match backend_ts {
            Some((val, _)) => reply.with_timestamp(self.client_tsval, val),
            None => reply,
        }
    }

    /// Our SYN to the backend: the client's ISN and options.
    fn backend_syn(&self) -> Segment {
        let o = SynOptions {
            mss: self.mss,
            wscale: self.client_wscale.get(),
            sack_permitted: self.sack,
            timestamp: self.timestamps.then_some((self.client_tsval, 0)),
        };
        Segment::new(self.client_isn, 0, TcpFlags::SYN, self.client_window).with_syn_options(&o)
    }
}

/// A worker's SYN-proxy state: the cookie secrets, the splices of its
/// proxied sessions by session slot (allocated once a service is proxied),
/// and the early segments held.
pub(super) struct SynProxyState<P> {
    secrets: CookieSecrets,
    pub(super) splices: Vec<Splice>,
    /// The splices of the IPv6 sessions, by their table's slot
    /// (`synproxy6.rs`).
    pub(super) splices6: Vec<Splice>,
    pub(super) early: EarlyHold<P, SessionId>,
    /// Automatic mode has turned the proxy on for every TCP NAT and
    /// FULLNAT service on this worker.
    pub(super) auto_on: bool,
    /// The budget of RSTs for bad cookies (`synproxy_reset.rs`).
    pub(super) resets: TokenBucket,
}

impl<P> SynProxyState<P> {
    pub(super) fn new(
        t: &LbTables,
        (capacity, capacity6): (usize, usize),
        now_ms: u64,
    ) -> Result<Self, String> {
        let keys = CookieKeys::random().map_err(|e| format!("SYN cookie secrets: {e}"))?;
        let mut s = SynProxyState {
            secrets: CookieSecrets::new(keys, now_ms),
            splices: Vec::new(),
            splices6: Vec::new(),
            early: EarlyHold::new(),
            auto_on: false,
            resets: super::synproxy_reset::budget(now_ms),
        };
        s.fit(t, (capacity, capacity6));
        Ok(s)
    }

    /// Makes room for a splice per session (IPv4's table, and IPv6's once
    /// the SYN proxy may run: the PROXY header has its own slots there)
    /// once a service is proxied (between polls: allocates once).
    pub(super) fn fit(&mut self, t: &LbTables, (capacity, capacity6): (usize, usize)) {
        let may_syn_proxy = t.syn_proxying || t.synproxy.auto_threshold > 0;
        if (may_syn_proxy || t.proxy_tcp) && self.splices.len() < capacity {
            self.splices.resize(capacity, Splice::default());
        }
        if may_syn_proxy && self.splices6.len() < capacity6 {
            self.splices6.resize(capacity6, Splice::default());
        }
    }

    /// New secrets once the current ones served their time (off the packet
    /// path: one `getrandom` per rotation). On failure the current ones
    /// stay and the next tick tries again.
    pub(super) fn rotate_if_due(&mut self, now_ms: u64) {
        if self.secrets.rotation_due(now_ms) {
            if let Ok(keys) = CookieKeys::random() {
                self.secrets.rotate(keys, now_ms);
            }
        }
    }
}

/// Whether new flows of `tuple` go through the SYN proxy: its service has
/// `syn_proxy`, or automatic mode is on (`auto`) and it is TCP NAT or
/// FULLNAT.
#[inline]
pub(super) fn syn_proxied(t: &LbTables, tuple: &FiveTuple, auto: bool) -> bool {
    proxied_service(t, &tuple.service_key(), auto)
}

/// Whether new flows to the service of `key` go through the SYN proxy (a
/// NAT64 service never: the proxy is not built for it).
#[inline]
pub(super) fn proxied_service(t: &LbTables, key: &ServiceKey, auto: bool) -> bool {
    t.service_index
        .lookup(key)
        .and_then(|s| t.services.get(s as usize))
        .is_some_and(|s| {
            s.spec.syn_proxy
                || (auto && matches!(s.spec.mode, Mode::Nat | Mode::FullNat) && !s.spec.is_nat64())
        })
}

/// What the window check reads of a TCP segment (`h`: its header and
/// payload); None when its data offset runs past it.
#[inline(always)]
fn seen(h: &[u8]) -> Option<Seen> {
    let fixed = h.first_chunk::<{ tcp::TCP_MIN_HEADER_LEN }>()?;
    let be32 =
        |at: usize| u32::from_be_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]]);
    let flags = fixed[tcp::field::FLAGS];
    let header = usize::from(fixed[tcp::field::DATA_OFFSET] >> 4) * 4;
    let payload = h.len().checked_sub(header.max(tcp::TCP_MIN_HEADER_LEN))?;
    let ends = u32::from(flags & TcpFlags::SYN != 0) + u32::from(flags & TcpFlags::FIN != 0);
    let w = tcp::field::WINDOW.start;
    Some(Seen {
        seq: be32(tcp::field::SEQ_NUM.start),
        len: payload as u32 + ends,
        ack: (flags & TcpFlags::ACK != 0).then(|| be32(tcp::field::ACK_NUM.start)),
        window: u16::from_be_bytes([fixed[w], fixed[w + 1]]),
    })
}

/// The TCP header of a classified TCP packet, as long as the IP packet.
pub(super) fn tcp_segment<'a>(frame: &'a [u8], meta: &Ipv4Meta) -> &'a [u8] {
    frame.get(meta.l4_offset..meta.ip_end()).unwrap_or(&[])
}

pub(super) fn tcp_segment_mut<'a>(frame: &'a mut [u8], meta: &Ipv4Meta) -> &'a mut [u8] {
    frame
        .get_mut(meta.l4_offset..meta.ip_end())
        .unwrap_or(&mut [])
}

/// Our SYN-ACK, of the cookie's ISN `isn` and options `opts`, to a
/// client's SYN of sequence `seq` (either family).
fn cookie_syn_ack(isn: u32, seq: u32, opts: &SynOptions) -> Segment {
    Segment::new(
        isn,
        seq.wrapping_add(1),
        TcpFlags::SYN | TcpFlags::ACK,
        SYN_ACK_WINDOW,
    )
    .with_syn_options(opts)
}

/// The options of our SYN-ACK to a SYN with options `o` and `flags`, its
/// cookie carrying `mss`. Without timestamps the cookie cannot carry
/// window scale or SACK, so neither is offered (as Linux does).
fn syn_ack_options(o: &TcpOptions, flags: u8, mss: u16, now: u64) -> SynOptions {
    match o.timestamp {
        Some((tsval, _)) => {
            let echoed = EchoedOptions {
                wscale: o.wscale,
                sack: o.sack_permitted,
                ecn: flags & (ECE | CWR) == ECE | CWR,
            };
            SynOptions {
                mss,
                wscale: o.wscale.map(|_| OUR_WSCALE),
                sack_permitted: o.sack_permitted,
                timestamp: Some((cookie::timestamp_cookie(echoed, now as u32), tsval)),
            }
        }
        None => SynOptions {
            mss,
            wscale: None,
            sack_permitted: false,
            timestamp: None,
        },
    }
}

/// The handshake fields of a segment, options read strictly; `None` for
/// IPv4 options (a handshake segment is rebuilt without them) or options
/// that cannot be read.
fn handshake_fields(frame: &[u8], meta: &Ipv4Meta) -> Option<(u32, u32, u16, TcpOptions)> {
    if meta.l4_offset - meta.l3_offset != IPV4_MIN_HEADER_LEN {
        return None;
    }
    segment_fields(tcp_segment(frame, meta))
}

/// The handshake fields of TCP segment `h` (sequence and acknowledgment
/// numbers, window, options read strictly): IPv4's and IPv6's.
fn segment_fields(h: &[u8]) -> Option<(u32, u32, u16, TcpOptions)> {
    let o = options::parse(h).ok()?;
    let seq = get_be32(h, tcp::field::SEQ_NUM.start);
    let ack = get_be32(h, tcp::field::ACK_NUM.start);
    Some((seq, ack, get_be16(h, tcp::field::WINDOW.start), o))
}

impl<P: PacketBuf> Datapath<P> {
    /// Whether a new TCP flow of `tuple` goes through the SYN proxy.
    #[inline]
    pub(super) fn proxies(&self, t: &LbTables, tuple: &FiveTuple) -> bool {
        (t.syn_proxying || self.synproxy.auto_on) && syn_proxied(t, tuple, self.synproxy.auto_on)
    }

    /// Automatic mode, once per millisecond: on when this worker's
    /// SYN_RECV sessions reach the threshold, off below half of it.
    pub(super) fn synproxy_auto(&mut self, t: &LbTables) {
        let threshold = u64::from(t.synproxy.auto_threshold);
        let embryonic = self.flow.embryonic();
        let s = &mut self.synproxy;
        if threshold == 0 {
            if s.auto_on {
                s.auto_on = false;
                self.counters.events.synproxy_off += 1;
            }
        } else if !s.auto_on && embryonic >= threshold {
            s.auto_on = true;
            self.counters.events.synproxy_on += 1;
        } else if s.auto_on && embryonic < threshold.div_ceil(2) {
            s.auto_on = false;
            self.counters.events.synproxy_off += 1;
        }
    }

    /// A packet with no session to a proxied service: a SYN is answered,
    /// an ACK checked, anything else dropped.
    pub(super) fn syn_proxy<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        pkt: P,
        meta: &Ipv4Meta,
        hash: u64,
    ) {
        let handshake = TcpFlags::SYN | TcpFlags::ACK | TcpFlags::RST | TcpFlags::FIN;
        match tcp_flags_of(pkt.data(), meta) & handshake {
            TcpFlags::SYN => self.answer_syn(cx, at, pkt, meta),
            TcpFlags::ACK => self.cookie_ack(cx, at, pkt, meta, hash),
            _ => self.drop(DropReason::SynProxyNoSession),
        }
    }

    /// Step 1: the client's SYN becomes our cookie SYN-ACK.
    fn answer_syn<I: PacketIo<Packet = P>>(
        &mut self,
        cx: &mut Cx<'_, I>,
        at: Ingress,
        mut pkt: P,
        meta: &Ipv4Meta,
    ) {
        let Some((seq, _, _, o)) = handshake_fields(pkt.data(), meta) else {
            return self.drop(DropReason::SynProxyBadOptions);
        };
        let flags = tcp_flags_of(pkt.data(), meta);
        let cookie =
            self.synproxy
                .secrets
                .encode(&meta.tuple, seq, o.mss.unwrap_or(DEFAULT_MSS), cx.now);
        let mut opts = syn_ack_options(&o, flags, cookie.mss, cx.now);
        // With a PROXY header the client's segments must leave it room.
        if let Some(v) = header_version(cx.t, &meta.tuple) {
            let len = Header::new(v, super::proxy_tcp::endpoints(&meta.tuple)).len();
            opts.mss = opts.mss.saturating_sub(len as u16);
            self.counters.events.proxy_tcp_mss_lowered += 1;
        }
        let seg = cookie_syn_ack(cookie.isn, seq, &opts);
        match rewrite_segment(&mut pkt, meta, &seg, Way::Back) {
            Ok(()) => {
                self.counters.events.synproxy_syn_answered += 1;
                self.send(cx, at.port, pkt)
            }
            Err(reason) => self.drop(reason),
        }
    }
}

impl<P: PacketBuf> Datapath<P> {
    /// An ICMP error quoting a segment of spliced session `hit`, before it
    /// is translated: the quoted sequence number taken back into the space
    /// of the side the error goes to, so that side recognises its segment
    /// (a client-side error quotes our segment to the client, in the
    /// cookie's space; a backend-side one our segment to the backend,
    /// after a PROXY header's shift). Identity before the splice is made.
    pub(super) fn unsplice_quote(&self, frame: &mut [u8], meta: &Ipv4Meta, hit: Hit) {
        let Some(adjust) = self
            .synproxy
            .splices
            .get(hit.id.index())
            .map(|sp| sp.adjust)
        else {
            return;
        };
        if adjust.is_identity() {
            return;
        }
        match hit.dir {
            Direction::Inbound => shift_quoted_seq(frame, meta, |seq| adjust.backend_seq_of(seq)),
            Direction::Outbound => shift_quoted_seq(frame, meta, |seq| adjust.client_seq_of(seq)),
        };
    }
}

/// The backend's window field rescaled from its shift to the one our
/// SYN-ACK announced, checksum updated (nothing to do when they agree or
/// nobody scales).
fn rescale_window(h: &mut [u8], backend_wscale: WScale) {
    if h.len() < tcp::TCP_MIN_HEADER_LEN {
        return;
    }
    let old = get_be16(h, tcp::field::WINDOW.start);
    let new = rescaled(old, backend_wscale);
    if new == old {
        return;
    }
    put_be16(h, tcp::field::WINDOW.start, new);
    let check = get_be16(h, tcp::field::CHECKSUM.start);
    put_be16(
        h,
        tcp::field::CHECKSUM.start,
        crate::checksum::update16(check, old, new),
    );
}

/// A backend's window field `old` under our window shift: unchanged
/// without a backend shift or with ours.
#[inline(always)]
fn rescaled(old: u16, backend_wscale: WScale) -> u16 {
    match backend_wscale.get() {
        Some(theirs) if theirs != OUR_WSCALE => {
            let bytes = u64::from(old) << theirs;
            (bytes >> OUR_WSCALE).min(u64::from(u16::MAX)) as u16
        }
        _ => old,
    }
}

/// Whether session flags mark a session with a splice: the SYN proxy's,
/// or a PROXY header's shift.
#[inline(always)]
pub(super) fn is_spliced(flags: u8) -> bool {
    flags & (session_flags::SYN_PROXY | session_flags::PROXY_HEADER) != 0
}

#[path = "synproxy_open.rs"]
mod open;

#[path = "synproxy6.rs"]
mod v6;
pub(super) use v6::Spliced6;

#[path = "synproxy_spliced.rs"]
mod spliced;

#[cfg(test)]
#[path = "synproxy_fixed_tests.rs"]
mod fixed_tests;
