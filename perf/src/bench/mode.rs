//! The benchmark's rows: which kinds there are, their names on the
//! command line, and what each one's traffic and checks need; flow counts
//! as `--flows` writes them.

/// A benchmark row's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// ferrolb without interfaces: io forwarding, like `testpmd io`.
    L2fwd,
    Dr,
    /// DR to an IPv6 VIP and IPv6 backends (`super::traffic6`).
    Dr6,
    Tun,
    /// Established flows, requests and replies.
    Nat,
    /// NAT to an IPv6 VIP and IPv6 backends, requests and replies
    /// (`super::traffic6`); compared with `Nat`.
    Nat6,
    Fullnat,
    /// FULLNAT over IPv6: an IPv6 VIP, IPv6 backends and IPv6 local
    /// addresses, requests and replies (`super::traffic6`); compared with
    /// `Fullnat`.
    Fullnat6,
    /// NAT64 in FULLNAT: an IPv6 VIP, IPv4 backends and IPv4 local
    /// addresses; the clients' frames IPv6, the backends' replies IPv4
    /// (`super::traffic6`); compared with `Fullnat`.
    Nat64,
    /// Established outbound SNAT flows and their replies.
    Snat,
    /// Established UDP flows through NAT whose datagrams (both ways)
    /// arrive in fragments (`bench::fragments`, issue 24).
    NatFrag,
    /// The same through FULLNAT.
    FullnatFrag,
    /// New flows: SYNs, each one a new NAT session.
    SynNat,
    /// New flows: SYNs, each a new FULLNAT session with a local port.
    SynFullnat,
    /// `SynNat` with session sync on (`[sync]` to a UDP sink): every new
    /// session also queues a sync record.
    SynNatSync,
    /// `SynFullnat` with session sync on.
    SynFullnatSync,
    /// SYNs to a NAT service with `syn_proxy = true`: each answered with
    /// a cookie SYN-ACK, no session made (issue 21's SYN-proxy row).
    SynProxy,
}

impl Mode {
    pub const ALL: [Mode; 17] = [
        Mode::L2fwd,
        Mode::Dr,
        Mode::Dr6,
        Mode::Tun,
        Mode::Nat,
        Mode::Nat6,
        Mode::Fullnat,
        Mode::Fullnat6,
        Mode::Nat64,
        Mode::Snat,
        Mode::NatFrag,
        Mode::FullnatFrag,
        Mode::SynNat,
        Mode::SynFullnat,
        Mode::SynNatSync,
        Mode::SynFullnatSync,
        Mode::SynProxy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mode::L2fwd => "l2fwd",
            Mode::Dr => "dr",
            Mode::Dr6 => "dr6",
            Mode::Tun => "tun",
            Mode::Nat => "nat",
            Mode::Nat6 => "nat6",
            Mode::Fullnat => "fullnat",
            Mode::Fullnat6 => "fullnat6",
            Mode::Nat64 => "nat64",
            Mode::Snat => "snat",
            Mode::NatFrag => "nat-frag",
            Mode::FullnatFrag => "fullnat-frag",
            Mode::SynNat => "syn-nat",
            Mode::SynFullnat => "syn-fullnat",
            Mode::SynNatSync => "syn-nat+sync",
            Mode::SynFullnatSync => "syn-fullnat+sync",
            Mode::SynProxy => "syn-proxy",
        }
    }

    /// A mode by name; `syn` means both SYN rows.
    pub fn parse_list(text: &str) -> Result<Vec<Mode>, String> {
        let mut out = Vec::new();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            if word == "all" {
                out.extend(Mode::ALL);
            } else if word == "syn" {
                out.extend([Mode::SynNat, Mode::SynFullnat]);
            } else if word == "frag" {
                out.extend([Mode::NatFrag, Mode::FullnatFrag]);
            } else if word == "syn-sync" {
                out.extend([
                    Mode::SynNat,
                    Mode::SynFullnat,
                    Mode::SynNatSync,
                    Mode::SynFullnatSync,
                ]);
            } else {
                match Mode::ALL.iter().find(|m| m.name() == word) {
                    Some(&m) => out.push(m),
                    None => {
                        return Err(format!(
                            "unknown mode {word:?}: one of all, syn, syn-sync, frag, {}",
                            Mode::ALL.map(Mode::name).join(", ")
                        ))
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        if out.is_empty() {
            return Err("no mode given".into());
        }
        Ok(out)
    }

    /// Whether the servers send replies through the balancer.
    pub fn has_replies(self) -> bool {
        matches!(
            self,
            Mode::Nat
                | Mode::Nat6
                | Mode::Fullnat
                | Mode::Fullnat6
                | Mode::Nat64
                | Mode::Snat
                | Mode::NatFrag
                | Mode::FullnatFrag
        )
    }

    /// Whether the row's flows are IPv6 (`super::traffic6`): the clients'
    /// frames and the VIP.
    pub fn ipv6(self) -> bool {
        matches!(self, Mode::Dr6 | Mode::Nat6 | Mode::Fullnat6 | Mode::Nat64)
    }

    /// Whether the row's backends are IPv6 too (not NAT64's, IPv4).
    pub fn ipv6_backends(self) -> bool {
        self.ipv6() && self != Mode::Nat64
    }

    /// The IPv4 row of the same forwarding mode, which issue 20 asks an
    /// IPv6 row to come within 15% of.
    pub fn ipv4_twin(self) -> Option<Mode> {
        match self {
            Mode::Dr6 => Some(Mode::Dr),
            Mode::Nat6 => Some(Mode::Nat),
            Mode::Fullnat6 | Mode::Nat64 => Some(Mode::Fullnat),
            _ => None,
        }
    }

    /// Whether the looped datagrams arrive in fragments (UDP only).
    pub fn fragmented(self) -> bool {
        matches!(self, Mode::NatFrag | Mode::FullnatFrag)
    }

    /// Whether ferrolb's run has a `prime` port, read once: the opening
    /// packet of every flow, or (SYN rows) all the SYNs. The SYN-proxy row
    /// makes no session, so its SYNs are looped like established traffic.
    pub fn primed(self) -> bool {
        !matches!(self, Mode::L2fwd | Mode::SynProxy)
    }

    /// Whether every client frame is a SYN (the SYN rows and the SYN proxy).
    pub fn sends_syns(self) -> bool {
        self.new_flows() || self == Mode::SynProxy
    }

    /// Whether every packet should create a session (the SYN rows).
    pub fn new_flows(self) -> bool {
        self.without_sync()
            .is_some_and(|m| matches!(m, Mode::SynNat | Mode::SynFullnat))
    }

    /// Whether the row runs with session sync on.
    pub fn syncs(self) -> bool {
        matches!(self, Mode::SynNatSync | Mode::SynFullnatSync)
    }

    /// The same row without sync: its traffic, config and checks.
    pub fn without_sync(self) -> Option<Mode> {
        Some(match self {
            Mode::SynNatSync => Mode::SynNat,
            Mode::SynFullnatSync => Mode::SynFullnat,
            m => m,
        })
    }

    /// The mode whose traffic and checks this row uses.
    pub fn base(self) -> Mode {
        self.without_sync().unwrap_or(self)
    }

    pub(super) fn lb_mode(self) -> Option<&'static str> {
        match self.base() {
            Mode::L2fwd | Mode::Snat => None,
            Mode::Dr | Mode::Dr6 => Some("dr"),
            Mode::Tun => Some("tun"),
            Mode::Nat | Mode::Nat6 | Mode::NatFrag | Mode::SynNat | Mode::SynProxy => Some("nat"),
            Mode::Fullnat | Mode::Fullnat6 | Mode::Nat64 | Mode::FullnatFrag | Mode::SynFullnat => {
                Some("fullnat")
            }
            Mode::SynNatSync | Mode::SynFullnatSync => None,
        }
    }
}

/// Parses `1k,100k,1M` (k = 1000, M = 1000000).
pub fn parse_counts(text: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let (digits, scale) = match word.as_bytes().last() {
            Some(b'k' | b'K') => (&word[..word.len() - 1], 1_000),
            Some(b'm' | b'M') => (&word[..word.len() - 1], 1_000_000),
            _ => (word, 1),
        };
        let n: usize = digits
            .parse()
            .map_err(|_| format!("bad flow count {word:?} (e.g. 1k, 100k, 1M)"))?;
        if n == 0 {
            return Err(format!("flow count {word:?} must be at least 1"));
        }
        out.push(n * scale);
    }
    if out.is_empty() {
        return Err("no flow count given".into());
    }
    Ok(out)
}

/// Text for a flow count: 1000 -> "1k", 1000000 -> "1M".
pub fn count_text(n: usize) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}
