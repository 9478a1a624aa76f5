//! Per-protocol session state: the IPVS-style TCP state machine and the
//! per-state timeouts for TCP, UDP and ICMP echo.
//!
//! The LB never sees a whole TCP conversation the way an endpoint does, so
//! like IPVS it tracks a coarse state from the flags it observes, only to pick
//! a timeout and to tell active from inactive connections for lc/wlc.

/// TCP state as tracked by the LB (IPVS's names).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[repr(u8)]
pub enum TcpState {
    /// Created, no packet classified yet.
    None = 0,
    Established = 1,
    /// A SYN seen from the server side first (outbound-initiated flows).
    SynSent = 2,
    SynRecv = 3,
    FinWait = 4,
    TimeWait = 5,
    Close = 6,
    CloseWait = 7,
    LastAck = 8,
}

impl TcpState {
    pub const ALL: [TcpState; 9] = [
        TcpState::None,
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
    ];

    /// IPVS counts a connection as active only while established.
    pub fn is_active(self) -> bool {
        self == TcpState::Established
    }
}

/// Which way a TCP packet travels relative to the session, and therefore which
/// transition table applies.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TcpDir {
    /// Client to server, in a mode where the replies also cross the LB.
    Input,
    /// Server to client (reply) in NAT, FULLNAT and SNAT.
    Output,
    /// Client to server in DR and TUN, where replies bypass the LB: a FIN from
    /// the client is the only sign of closing, so it moves to FIN_WAIT.
    InputOnly,
}

/// The flag class of a segment, in IPVS's precedence: RST, then SYN, then FIN,
/// then ACK. A segment with none of them does not change the state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TcpEvent {
    Syn,
    Fin,
    Ack,
    Rst,
}

/// TCP header flag bits (as in the 13th byte of the header).
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;
}

impl TcpEvent {
    pub fn from_flags(flags: u8) -> Option<TcpEvent> {
        if flags & tcp_flags::RST != 0 {
            Some(TcpEvent::Rst)
        } else if flags & tcp_flags::SYN != 0 {
            Some(TcpEvent::Syn)
        } else if flags & tcp_flags::FIN != 0 {
            Some(TcpEvent::Fin)
        } else if flags & tcp_flags::ACK != 0 {
            Some(TcpEvent::Ack)
        } else {
            None
        }
    }
}

use TcpState::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, SynRecv as SR,
    SynSent as SS, TimeWait as TW,
};

/// `NEXT[dir][event][state]`: the transition tables of Linux IPVS
/// (ip_vs_proto_tcp.c), minus the LISTEN and SYNACK states that only its
/// SYN-proxy reaches. Columns follow `TcpState` order:
/// NO, ES, SS, SR, FW, TW, CL, CW, LA.
const NEXT: [[[TcpState; 9]; 4]; 3] = [
    // Input
    [
        /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR],
        /* fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA],
        /* ack */ [CL, ES, SS, ES, FW, TW, CL, CW, CL],
        /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA],
    ],
    // Output
    [
        /* syn */ [SS, ES, SS, SR, SS, SS, SS, SS, SS],
        /* fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA],
        /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA],
        /* rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL],
    ],
    // InputOnly
    [
        /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR],
        /* fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA],
        /* ack */ [CL, ES, SS, ES, FW, TW, CL, CW, CL],
        /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA],
    ],
];

/// The state after a segment with `flags` travelling `dir`.
pub fn tcp_next(state: TcpState, dir: TcpDir, flags: u8) -> TcpState {
    let Some(event) = TcpEvent::from_flags(flags) else {
        return state;
    };
    NEXT[dir as usize][event as usize][state as usize]
}

/// What a session tracks, by protocol.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum ProtoState {
    Tcp(TcpState),
    Udp,
    /// ICMP echo request/reply, keyed by the echo identifier.
    IcmpEcho,
    /// A persistence template (client affinity), not a connection.
    Template,
}

impl ProtoState {
    /// Whether lc/wlc count this session as active (IPVS: TCP established).
    pub fn is_active(self) -> bool {
        matches!(self, ProtoState::Tcp(s) if s.is_active())
    }

    /// Whether the session holds a backend connection slot at all.
    pub fn counts_as_connection(self) -> bool {
        !matches!(self, ProtoState::Template)
    }
}

/// Per-state timeouts in milliseconds. Defaults are IPVS's, except SYN_RECV
/// which uses the 30 s that DPVS and our design use (IPVS: 60 s) to shed SYN
/// floods sooner.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Timeouts {
    /// Indexed by `TcpState as usize`.
    pub tcp: [u32; 9],
    pub udp: u32,
    pub icmp: u32,
}

const SEC: u32 = 1000;

impl Default for Timeouts {
    fn default() -> Self {
        let mut tcp = [0; 9];
        tcp[TcpState::None as usize] = 2 * SEC;
        tcp[TcpState::Established as usize] = 900 * SEC;
        tcp[TcpState::SynSent as usize] = 120 * SEC;
        tcp[TcpState::SynRecv as usize] = 30 * SEC;
        tcp[TcpState::FinWait as usize] = 120 * SEC;
        tcp[TcpState::TimeWait as usize] = 120 * SEC;
        tcp[TcpState::Close as usize] = 10 * SEC;
        tcp[TcpState::CloseWait as usize] = 60 * SEC;
        tcp[TcpState::LastAck as usize] = 30 * SEC;
        Timeouts {
            tcp,
            udp: 300 * SEC,
            // IPVS's ICMP entry in its old state table: one minute.
            icmp: 60 * SEC,
        }
    }
}

impl Timeouts {
    /// Timeout of a session in `state`; templates carry their own (the
    /// service's persistence timeout) so they get none here.
    pub fn for_state(&self, state: ProtoState) -> Option<u32> {
        match state {
            ProtoState::Tcp(s) => Some(self.tcp[s as usize]),
            ProtoState::Udp => Some(self.udp),
            ProtoState::IcmpEcho => Some(self.icmp),
            ProtoState::Template => None,
        }
    }

    pub fn set_tcp(&mut self, state: TcpState, ms: u32) {
        self.tcp[state as usize] = ms;
    }
}

#[cfg(test)]
mod tests {
    use super::tcp_flags::*;
    use super::*;

    fn run(dir_flags: &[(TcpDir, u8)]) -> Vec<TcpState> {
        let mut s = TcpState::None;
        dir_flags
            .iter()
            .map(|&(d, f)| {
                s = tcp_next(s, d, f);
                s
            })
            .collect()
    }

    #[test]
    fn full_nat_handshake_and_client_close() {
        use TcpDir::*;
        let states = run(&[
            (Input, SYN),
            (Output, SYN | ACK),
            (Input, ACK),
            (Input, FIN | ACK),
            (Output, ACK),
            (Output, FIN | ACK),
            (Input, ACK),
        ]);
        assert_eq!(
            states,
            vec![
                TcpState::SynRecv,
                TcpState::SynRecv, // SYN wins over ACK in the flag precedence
                TcpState::Established,
                TcpState::CloseWait,
                TcpState::CloseWait,
                TcpState::TimeWait,
                TcpState::TimeWait,
            ]
        );
    }

    #[test]
    fn server_closes_first() {
        use TcpDir::*;
        let states = run(&[
            (Input, SYN),
            (Input, ACK),
            (Output, FIN | ACK),
            (Input, ACK),
            (Input, FIN | ACK),
        ]);
        assert_eq!(
            states[2..],
            [TcpState::FinWait, TcpState::FinWait, TcpState::TimeWait]
        );
    }

    #[test]
    fn input_only_close_goes_through_fin_wait() {
        use TcpDir::*;
        let states = run(&[
            (InputOnly, SYN),
            (InputOnly, ACK),
            (InputOnly, FIN | ACK),
            (InputOnly, ACK),
            (InputOnly, RST),
        ]);
        assert_eq!(
            states,
            vec![
                TcpState::SynRecv,
                TcpState::Established,
                TcpState::FinWait,
                TcpState::FinWait,
                TcpState::Close,
            ]
        );
    }

    #[test]
    fn rst_flags_win_and_flagless_segments_keep_state() {
        assert_eq!(
            tcp_next(TcpState::Established, TcpDir::Input, RST | SYN | FIN | ACK),
            TcpState::Close
        );
        for s in TcpState::ALL {
            for d in [TcpDir::Input, TcpDir::Output, TcpDir::InputOnly] {
                assert_eq!(tcp_next(s, d, 0), s);
                assert_eq!(tcp_next(s, d, 0x08 /* PSH only */), s);
            }
        }
    }

    /// Every cell of the three tables, written out as (dir, state, event) ->
    /// next from the IPVS tables, row by row, so a typo in `NEXT` shows up.
    #[test]
    fn every_transition() {
        use TcpDir::*;
        use TcpState::*;
        let ev = [SYN, FIN, ACK, RST];
        let expect: [(TcpDir, [[TcpState; 9]; 4]); 3] = [
            (
                Input,
                [
                    [
                        SynRecv,
                        Established,
                        Established,
                        SynRecv,
                        SynRecv,
                        SynRecv,
                        SynRecv,
                        SynRecv,
                        SynRecv,
                    ],
                    [
                        Close, CloseWait, SynSent, TimeWait, TimeWait, TimeWait, Close, CloseWait,
                        LastAck,
                    ],
                    [
                        Close,
                        Established,
                        SynSent,
                        Established,
                        FinWait,
                        TimeWait,
                        Close,
                        CloseWait,
                        Close,
                    ],
                    [
                        Close, Close, Close, SynRecv, Close, Close, Close, Close, LastAck,
                    ],
                ],
            ),
            (
                Output,
                [
                    [
                        SynSent,
                        Established,
                        SynSent,
                        SynRecv,
                        SynSent,
                        SynSent,
                        SynSent,
                        SynSent,
                        SynSent,
                    ],
                    [
                        TimeWait, FinWait, SynSent, TimeWait, FinWait, TimeWait, Close, TimeWait,
                        LastAck,
                    ],
                    [
                        Established,
                        Established,
                        SynSent,
                        Established,
                        FinWait,
                        TimeWait,
                        Close,
                        CloseWait,
                        LastAck,
                    ],
                    [
                        Close, Close, SynSent, Close, Close, TimeWait, Close, Close, Close,
                    ],
                ],
            ),
            (
                InputOnly,
                [
                    [
                        SynRecv,
                        Established,
                        Established,
                        SynRecv,
                        SynRecv,
                        SynRecv,
                        SynRecv,
                        SynRecv,
                        SynRecv,
                    ],
                    [
                        Close, FinWait, SynSent, TimeWait, FinWait, TimeWait, Close, CloseWait,
                        LastAck,
                    ],
                    [
                        Close,
                        Established,
                        SynSent,
                        Established,
                        FinWait,
                        TimeWait,
                        Close,
                        CloseWait,
                        Close,
                    ],
                    [
                        Close, Close, Close, SynRecv, Close, Close, Close, Close, LastAck,
                    ],
                ],
            ),
        ];
        let mut checked = 0;
        for (dir, rows) in expect {
            for (row, flags) in rows.iter().zip(ev) {
                for (from, want) in TcpState::ALL.iter().zip(row) {
                    assert_eq!(
                        tcp_next(*from, dir, flags),
                        *want,
                        "{dir:?} {from:?} flags {flags:#x}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 3 * 4 * 9);
    }

    #[test]
    fn default_timeouts_are_ipvs_like() {
        let t = Timeouts::default();
        let tcp = |s| t.for_state(ProtoState::Tcp(s));
        assert_eq!(tcp(TcpState::Established), Some(900_000));
        assert_eq!(tcp(TcpState::SynRecv), Some(30_000));
        assert_eq!(tcp(TcpState::FinWait), Some(120_000));
        assert_eq!(tcp(TcpState::TimeWait), Some(120_000));
        assert_eq!(tcp(TcpState::Close), Some(10_000));
        assert_eq!(tcp(TcpState::CloseWait), Some(60_000));
        assert_eq!(tcp(TcpState::LastAck), Some(30_000));
        assert_eq!(t.for_state(ProtoState::Udp), Some(300_000));
        assert_eq!(t.for_state(ProtoState::IcmpEcho), Some(60_000));
        assert_eq!(t.for_state(ProtoState::Template), None);
    }
}
