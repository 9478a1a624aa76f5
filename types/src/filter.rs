//! Packet filters for trace and capture: the expression a user writes
//! (parsed by the control crate, `control::filter`), and the small program
//! it compiles to once, which the dataplane runs on a packet's fields.
//!
//! The program is postfix: each test pushes one bit onto a 64-bit stack,
//! `and`/`or` combine the top two bits, `not` flips the top one. Running
//! it is a loop over a few bytes of ops with no allocation and no branch
//! on data beyond each op's own test.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

mod prefilter;
pub use prefilter::Prefilter;

/// Which address or port of a packet a test looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Source or destination.
    Either,
    Src,
    Dst,
}

/// TCP flag bits as in the TCP header's flags byte.
pub mod tcp_flag {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    /// The keywords a filter names them by.
    pub const NAMES: [(&str, u8); 6] = [
        ("fin", FIN),
        ("syn", SYN),
        ("rst", RST),
        ("psh", PSH),
        ("ack", ACK),
        ("urg", URG),
    ];
}

/// A filter expression (the tcpdump-style subset `docs/trace-and-capture.md`
/// describes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Filter {
    /// `[src|dst] host ADDR`
    Host(Side, Ipv4Addr),
    /// `[src|dst] net ADDR/LEN` (the address is kept as given; the test
    /// compares the first LEN bits).
    Net(Side, Ipv4Addr, u8),
    /// `[src|dst] host ADDR` for an IPv6 address.
    Host6(Side, Ipv6Addr),
    /// `[src|dst] net ADDR/LEN` for an IPv6 prefix.
    Net6(Side, Ipv6Addr, u8),
    /// `ip6` (true) and `ip` (false): the packet's family.
    Family6(bool),
    /// `[src|dst] port N`: TCP and UDP ports only.
    Port(Side, u16),
    /// `tcp`, `udp`, `icmp`, `proto N`.
    Proto(u8),
    /// `syn`, `ack`, `fin`, `rst`, `psh`, `urg`: a TCP packet with that
    /// flag set.
    TcpFlag(u8),
    Not(Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

/// The fields of an IPv4 packet a filter looks at. Ports are not looked
/// at for packets other than TCP and UDP (an ICMP echo's tuple carries its
/// identifier there), nor flags for packets other than TCP; a caller may
/// leave flags 0 when the program does not read them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterInput {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp_flags: u8,
}

/// The fields of an IPv6 packet a filter looks at, as [`FilterInput`]'s
/// (ports of TCP and UDP only; `proto` the upper layer after the
/// extension headers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterInput6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub proto: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp_flags: u8,
}

/// One op of a compiled filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// Address under mask (host: all ones).
    Addr {
        side: Side,
        addr: u32,
        mask: u32,
    },
    Addr6 {
        side: Side,
        addr: u128,
        mask: u128,
    },
    Family6(bool),
    Port {
        side: Side,
        port: u16,
    },
    Proto(u8),
    TcpFlag(u8),
    Not,
    And,
    Or,
}

/// Deepest operand stack a program may need (bits of the stack word).
pub const MAX_DEPTH: usize = 64;
/// Most ops a program may have.
pub const MAX_OPS: usize = 256;

/// A filter compiled for the dataplane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterProgram {
    ops: Vec<Op>,
    /// Whether any op tests TCP flags (the only field read from the
    /// frame rather than the parsed tuple).
    reads_tcp_flags: bool,
    /// The program's one op when it has only one (the usual `host X` or
    /// `port N`), held inline so the test follows no pointer.
    leaf: Option<Op>,
    /// A cheap necessary condition on the tuple, run before the program.
    prefilter: Prefilter,
    /// Whether an IPv6 packet may match: false for a filter that needs
    /// an IPv4 address or `ip` (then IPv6 frames are not parsed for it).
    may_match6: bool,
    /// The filter it was compiled from, in its text form.
    text: String,
}

/// A filter too large to compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooComplex;

impl fmt::Display for TooComplex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "filter too complex (at most {MAX_OPS} terms and {MAX_DEPTH} levels of nesting)"
        )
    }
}

impl Filter {
    /// Compiles the filter to the program the dataplane runs.
    pub fn compile(&self) -> Result<FilterProgram, TooComplex> {
        let mut ops = Vec::new();
        let depth = self.emit(&mut ops);
        if ops.len() > MAX_OPS || depth > MAX_DEPTH {
            return Err(TooComplex);
        }
        Ok(FilterProgram {
            reads_tcp_flags: ops.iter().any(|op| matches!(op, Op::TcpFlag(_))),
            leaf: match ops.as_slice() {
                [leaf] => Some(*leaf),
                _ => None,
            },
            ops,
            prefilter: Prefilter::of(self),
            may_match6: self.may_match6(),
            text: self.to_string(),
        })
    }

    /// Whether some IPv6 packet may match (conservative: `not` may).
    fn may_match6(&self) -> bool {
        match self {
            Filter::Host(..) | Filter::Net(..) | Filter::Family6(false) => false,
            Filter::And(a, b) => a.may_match6() && b.may_match6(),
            Filter::Or(a, b) => a.may_match6() || b.may_match6(),
            _ => true,
        }
    }

    /// Appends the postfix ops; returns the stack depth they need.
    fn emit(&self, ops: &mut Vec<Op>) -> usize {
        let op = match *self {
            Filter::Host(side, a) => Op::Addr {
                side,
                addr: u32::from(a),
                mask: u32::MAX,
            },
            Filter::Net(side, a, len) => {
                let mask = prefix_mask(len);
                Op::Addr {
                    side,
                    addr: u32::from(a) & mask,
                    mask,
                }
            }
            Filter::Host6(side, a) => Op::Addr6 {
                side,
                addr: u128::from(a),
                mask: u128::MAX,
            },
            Filter::Net6(side, a, len) => {
                let mask = prefix_mask6(len);
                Op::Addr6 {
                    side,
                    addr: u128::from(a) & mask,
                    mask,
                }
            }
            Filter::Family6(v6) => Op::Family6(v6),
            Filter::Port(side, port) => Op::Port { side, port },
            Filter::Proto(p) => Op::Proto(p),
            Filter::TcpFlag(f) => Op::TcpFlag(f),
            Filter::Not(ref a) => {
                let d = a.emit(ops);
                ops.push(Op::Not);
                return d;
            }
            Filter::And(ref a, ref b) | Filter::Or(ref a, ref b) => {
                let da = a.emit(ops);
                let db = b.emit(ops);
                ops.push(match self {
                    Filter::And(..) => Op::And,
                    _ => Op::Or,
                });
                return da.max(db + 1);
            }
        };
        ops.push(op);
        1
    }

    /// The reference meaning of the filter, evaluated on the tree (the
    /// compiled program must agree: property-tested).
    pub fn eval(&self, p: &FilterInput) -> bool {
        match self {
            Filter::Not(a) => !a.eval(p),
            Filter::And(a, b) => a.eval(p) && b.eval(p),
            Filter::Or(a, b) => a.eval(p) || b.eval(p),
            leaf => {
                let mut ops = Vec::new();
                leaf.emit(&mut ops);
                ops.first().is_some_and(|op| test(op, p))
            }
        }
    }

    /// [`Filter::eval`] for an IPv6 packet.
    pub fn eval6(&self, p: &FilterInput6) -> bool {
        match self {
            Filter::Not(a) => !a.eval6(p),
            Filter::And(a, b) => a.eval6(p) && b.eval6(p),
            Filter::Or(a, b) => a.eval6(p) || b.eval6(p),
            leaf => {
                let mut ops = Vec::new();
                leaf.emit(&mut ops);
                ops.first().is_some_and(|op| test6(op, p))
            }
        }
    }
}

fn prefix_mask6(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

fn prefix_mask(len: u8) -> u32 {
    match len {
        0 => 0,
        l if l >= 32 => u32::MAX,
        l => u32::MAX << (32 - u32::from(l)),
    }
}

#[inline]
fn side_matches<T>(side: Side, src: T, dst: T, want: impl Fn(&T) -> bool) -> bool {
    match side {
        Side::Either => want(&src) || want(&dst),
        Side::Src => want(&src),
        Side::Dst => want(&dst),
    }
}

#[inline(always)]
fn test(op: &Op, p: &FilterInput) -> bool {
    let l4_ports = p.proto == 6 || p.proto == 17;
    match *op {
        Op::Addr { side, addr, mask } => {
            side_matches(side, u32::from(p.src), u32::from(p.dst), |a| {
                a & mask == addr
            })
        }
        Op::Port { side, port } => {
            l4_ports && side_matches(side, p.src_port, p.dst_port, |x| *x == port)
        }
        Op::Proto(proto) => p.proto == proto,
        Op::TcpFlag(f) => p.proto == 6 && p.tcp_flags & f != 0,
        Op::Addr6 { .. } => false,
        Op::Family6(v6) => !v6,
        Op::Not | Op::And | Op::Or => false,
    }
}

/// [`test`] for an IPv6 packet: IPv4 addresses never match.
fn test6(op: &Op, p: &FilterInput6) -> bool {
    let l4_ports = p.proto == 6 || p.proto == 17;
    match *op {
        Op::Addr6 { side, addr, mask } => {
            side_matches(side, u128::from(p.src), u128::from(p.dst), |a| {
                a & mask == addr
            })
        }
        Op::Addr { .. } => false,
        Op::Family6(v6) => v6,
        Op::Port { side, port } => {
            l4_ports && side_matches(side, p.src_port, p.dst_port, |x| *x == port)
        }
        Op::Proto(proto) => p.proto == proto,
        Op::TcpFlag(f) => p.proto == 6 && p.tcp_flags & f != 0,
        Op::Not | Op::And | Op::Or => false,
    }
}

impl FilterProgram {
    /// The program that matches every packet (no filter given).
    pub fn all() -> FilterProgram {
        FilterProgram {
            ops: Vec::new(),
            reads_tcp_flags: false,
            leaf: None,
            prefilter: Prefilter::ANY,
            may_match6: true,
            text: String::new(),
        }
    }

    /// Whether this is [`FilterProgram::all`]: then frames that are not
    /// IPv4 (ARP, IPv6) match too.
    pub fn matches_all(&self) -> bool {
        self.ops.is_empty()
    }

    /// Whether the program tests TCP flags: a caller may leave
    /// `FilterInput::tcp_flags` 0 when it does not.
    #[inline]
    pub fn reads_tcp_flags(&self) -> bool {
        self.reads_tcp_flags
    }

    /// The program's cheap necessary condition on the tuple: a packet it
    /// refuses, the program refuses too.
    #[inline]
    pub fn prefilter(&self) -> Prefilter {
        self.prefilter
    }

    /// The filter's text form ("" for all).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Runs the program on one packet's fields.
    #[inline]
    pub fn matches(&self, p: &FilterInput) -> bool {
        if let Some(leaf) = &self.leaf {
            return test(leaf, p);
        }
        match self.ops.as_slice() {
            [] => true,
            ops => run(ops, |leaf| test(leaf, p)),
        }
    }

    /// Whether an IPv6 packet may match at all (see [`Filter`]'s words:
    /// an IPv4 address or `ip` needs IPv4).
    #[inline]
    pub fn may_match6(&self) -> bool {
        self.may_match6
    }

    /// Runs the program on an IPv6 packet's fields (a traced or captured
    /// IPv6 packet's cost: not inlined into the IPv4 path).
    pub fn matches6(&self, p: &FilterInput6) -> bool {
        match self.ops.as_slice() {
            [] => true,
            ops => run(ops, |leaf| test6(leaf, p)),
        }
    }
}

/// The stack machine, for programs of more than one op; `test` runs a
/// leaf on the packet.
#[inline(always)]
fn run(ops: &[Op], test: impl Fn(&Op) -> bool) -> bool {
    let mut stack: u64 = 0;
    for op in ops {
        stack = match op {
            Op::Not => stack ^ 1,
            Op::And => ((stack >> 2) << 1) | (stack & (stack >> 1) & 1),
            Op::Or => ((stack >> 2) << 1) | ((stack | (stack >> 1)) & 1),
            leaf => (stack << 1) | u64::from(test(leaf)),
        };
    }
    stack & 1 == 1
}

fn fmt_side(side: Side) -> &'static str {
    match side {
        Side::Either => "",
        Side::Src => "src ",
        Side::Dst => "dst ",
    }
}

/// The text form, which `control::filter::parse` reads back to an equal
/// filter: every `and`/`or`/`not` operand that is itself compound is in
/// parentheses.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let operand = |f: &mut fmt::Formatter<'_>, x: &Filter| match x {
            Filter::And(..) | Filter::Or(..) | Filter::Not(..) => write!(f, "({x})"),
            _ => write!(f, "{x}"),
        };
        match self {
            Filter::Host(s, a) => write!(f, "{}host {a}", fmt_side(*s)),
            Filter::Net(s, a, l) => write!(f, "{}net {a}/{l}", fmt_side(*s)),
            Filter::Host6(s, a) => write!(f, "{}host {a}", fmt_side(*s)),
            Filter::Net6(s, a, l) => write!(f, "{}net {a}/{l}", fmt_side(*s)),
            Filter::Family6(true) => f.write_str("ip6"),
            Filter::Family6(false) => f.write_str("ip"),
            Filter::Port(s, p) => write!(f, "{}port {p}", fmt_side(*s)),
            Filter::Proto(6) => f.write_str("tcp"),
            Filter::Proto(17) => f.write_str("udp"),
            Filter::Proto(1) => f.write_str("icmp"),
            Filter::Proto(58) => f.write_str("icmp6"),
            Filter::Proto(n) => write!(f, "proto {n}"),
            Filter::TcpFlag(bit) => {
                let name = tcp_flag::NAMES.iter().find(|(_, b)| b == bit);
                match name {
                    Some((n, _)) => f.write_str(n),
                    None => write!(f, "tcpflags {bit:#04x}"),
                }
            }
            Filter::Not(a) => {
                f.write_str("not ")?;
                operand(f, a)
            }
            Filter::And(a, b) | Filter::Or(a, b) => {
                operand(f, a)?;
                f.write_str(match self {
                    Filter::And(..) => " and ",
                    _ => " or ",
                })?;
                operand(f, b)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(src: [u8; 4], dst: [u8; 4], proto: u8, sp: u16, dp: u16, flags: u8) -> FilterInput {
        FilterInput {
            src: src.into(),
            dst: dst.into(),
            proto,
            src_port: sp,
            dst_port: dp,
            tcp_flags: flags,
        }
    }

    #[test]
    fn program_agrees_with_the_tree_on_each_kind_of_test() {
        let syn = input([10, 0, 0, 1], [192, 0, 2, 10], 6, 40000, 80, tcp_flag::SYN);
        let udp = input([10, 0, 0, 1], [192, 0, 2, 10], 17, 5353, 53, 0);
        let cases = [
            (Filter::Host(Side::Dst, [192, 0, 2, 10].into()), true, true),
            (
                Filter::Host(Side::Src, [192, 0, 2, 10].into()),
                false,
                false,
            ),
            (
                Filter::Net(Side::Either, [10, 9, 9, 9].into(), 8),
                true,
                true,
            ),
            (Filter::Port(Side::Dst, 80), true, false),
            (Filter::Port(Side::Either, 5353), false, true),
            (Filter::Proto(17), false, true),
            (Filter::TcpFlag(tcp_flag::SYN), true, false),
            (Filter::TcpFlag(tcp_flag::ACK), false, false),
            (
                Filter::Not(Box::new(Filter::Or(
                    Box::new(Filter::Proto(6)),
                    Box::new(Filter::Port(Side::Src, 1)),
                ))),
                false,
                true,
            ),
        ];
        for (f, on_syn, on_udp) in cases {
            let p = f.compile().unwrap();
            assert_eq!((p.matches(&syn), p.matches(&udp)), (on_syn, on_udp), "{f}");
            assert_eq!((f.eval(&syn), f.eval(&udp)), (on_syn, on_udp), "{f}");
        }
        assert!(FilterProgram::all().matches(&syn));
    }

    #[test]
    fn too_deep_a_filter_is_refused() {
        let mut f = Filter::Proto(6);
        for _ in 0..70 {
            f = Filter::And(Box::new(Filter::Proto(17)), Box::new(f));
        }
        assert_eq!(f.compile(), Err(TooComplex));
    }
}
