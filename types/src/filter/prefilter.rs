//! A filter's cheap necessary condition on an IPv4 packet's 5-tuple (IPv6
//! packets are tested by the program alone, a traced IPv6 packet's cost).
//!
//! An armed trace tests every packet a worker receives, and almost none
//! match (`host 198.51.100.7` while forwarding a million flows). Running the
//! program on each costs a packet more than the 3 % the trace may add, so
//! the program is preceded by this test: the tuple packed into two words,
//! compared under a mask with at most two alternatives. It may pass a
//! packet the program then refuses; it never refuses one the program would
//! take (property-tested in `control/src/filter/tests.rs`).

use super::{prefix_mask, Filter, Side};

/// One alternative: the packed tuple under `mask` equals `value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Masked {
    mask: [u64; 2],
    value: [u64; 2],
}

impl Masked {
    /// Passes every packet.
    const ANY: Masked = Masked {
        mask: [0; 2],
        value: [0; 2],
    };

    fn field(word: usize, shift: u32, mask: u64, value: u64) -> Masked {
        let mut m = Masked::ANY;
        m.mask[word] = mask << shift;
        m.value[word] = (value & mask) << shift;
        m
    }

    /// Both conditions at once, or `None` when they contradict.
    fn and(&self, other: &Masked) -> Option<Masked> {
        let mut out = Masked::ANY;
        for w in 0..2 {
            let common = self.mask[w] & other.mask[w];
            if (self.value[w] ^ other.value[w]) & common != 0 {
                return None;
            }
            out.mask[w] = self.mask[w] | other.mask[w];
            out.value[w] = self.value[w] | other.value[w];
        }
        Some(out)
    }
}

/// Where each field sits in the packed tuple: word 0 holds the source
/// address (high half) and the destination; word 1 the ports and protocol.
mod at {
    pub const SRC: (usize, u32) = (0, 32);
    pub const DST: (usize, u32) = (0, 0);
    pub const SRC_PORT: (usize, u32) = (1, 32);
    pub const DST_PORT: (usize, u32) = (1, 16);
    pub const PROTO: (usize, u32) = (1, 0);
}

/// One word of the packed tuple under `mask` equals `value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Word {
    mask: u64,
    value: u64,
}

/// At most two masked comparisons of one word of the packed tuple (the
/// addresses, or the ports and protocol: whichever the filter constrains
/// in every alternative); a packet passes when either holds. One word,
/// so a packet costs two loads, a shift, an or, two masked compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefilter {
    /// Which word of [`pack`] is compared.
    word: u8,
    alternatives: [Word; 2],
}

/// The most alternatives kept; a filter needing more is approximated by
/// fewer (still necessary, less selective) or by passing everything.
const MOST: usize = 2;

impl Prefilter {
    /// Passes every packet (no filter, a capture, or a filter with no
    /// cheap necessary condition such as `not host X`).
    pub const ANY: Prefilter = Prefilter {
        word: 0,
        alternatives: [Word { mask: 0, value: 0 }; 2],
    };

    /// Whether a packet with these fields may match.
    #[inline(always)]
    pub fn passes(&self, src: u32, dst: u32, src_port: u16, dst_port: u16, proto: u8) -> bool {
        let key = match self.word {
            0 => (u64::from(src) << 32) | u64::from(dst),
            _ => (u64::from(src_port) << 32) | (u64::from(dst_port) << 16) | u64::from(proto),
        };
        let [a, b] = self.alternatives;
        (key & a.mask == a.value) | (key & b.mask == b.value)
    }

    /// Whether it passes every packet.
    pub fn passes_all(&self) -> bool {
        self.alternatives
            .iter()
            .any(|w| w.mask == 0 && w.value == 0)
    }

    /// The prefilter of `f`: its alternatives seen through one word (a
    /// part of a necessary condition is still necessary), the addresses
    /// unless some alternative leaves them free and the ports do not.
    pub fn of(f: &Filter) -> Prefilter {
        let alts = alternatives(f);
        let on = |word: usize| -> Vec<Word> {
            alts.iter()
                .map(|m| Word {
                    mask: m.mask[word],
                    value: m.value[word],
                })
                .collect()
        };
        let free = |words: &[Word]| words.iter().any(|w| w.mask == 0 && w.value == 0);
        let word = if free(&on(0)) && !free(&on(1)) { 1 } else { 0 };
        let words = on(word);
        // No alternative: no packet can match (a value bit outside the mask).
        let never = Word { mask: 0, value: 1 };
        let alternatives = match words.as_slice() {
            [] => [never; 2],
            [one] => [*one; 2],
            [a, b] => [*a, *b],
            _ => return Prefilter::ANY,
        };
        Prefilter {
            word: word as u8,
            alternatives,
        }
    }
}

/// Alternatives whose union is a necessary condition of `f`: at most
/// [`MOST`], or `[ANY]`; empty when no packet can match.
fn alternatives(f: &Filter) -> Vec<Masked> {
    let sided = |side: Side, src: (usize, u32), dst: (usize, u32), mask: u64, value: u64| {
        let one = |(w, s): (usize, u32)| Masked::field(w, s, mask, value);
        match side {
            Side::Either => vec![one(src), one(dst)],
            Side::Src => vec![one(src)],
            Side::Dst => vec![one(dst)],
        }
    };
    const ADDR: u64 = 0xffff_ffff;
    match f {
        Filter::Host(side, a) => sided(*side, at::SRC, at::DST, ADDR, u64::from(u32::from(*a))),
        Filter::Net(side, a, len) => {
            let mask = u64::from(prefix_mask(*len));
            sided(*side, at::SRC, at::DST, mask, u64::from(u32::from(*a)))
        }
        // Ports only count for TCP and UDP; the port itself is necessary.
        Filter::Port(side, p) => sided(*side, at::SRC_PORT, at::DST_PORT, 0xffff, u64::from(*p)),
        Filter::Proto(p) => vec![Masked::field(at::PROTO.0, at::PROTO.1, 0xff, u64::from(*p))],
        Filter::TcpFlag(_) => vec![Masked::field(at::PROTO.0, at::PROTO.1, 0xff, 6)],
        // The prefilter sees IPv4 packets only: an IPv6 address or `ip6`
        // matches none of them, `ip` all.
        Filter::Host6(..) | Filter::Net6(..) | Filter::Family6(true) => Vec::new(),
        Filter::Family6(false) => vec![Masked::ANY],
        Filter::Not(_) => vec![Masked::ANY],
        Filter::And(a, b) => {
            let (a, b) = (alternatives(a), alternatives(b));
            let both: Vec<Masked> = a
                .iter()
                .flat_map(|x| b.iter().filter_map(move |y| x.and(y)))
                .collect();
            if both.len() <= MOST {
                both
            } else if a.len() <= b.len() {
                // Either side alone is still necessary.
                a
            } else {
                b
            }
        }
        Filter::Or(a, b) => {
            let mut either = alternatives(a);
            either.extend(alternatives(b));
            either.dedup();
            if either.len() <= MOST {
                either
            } else {
                vec![Masked::ANY]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn passes(p: &Prefilter, src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, proto: u8) -> bool {
        p.passes(
            u32::from(Ipv4Addr::from(src)),
            u32::from(Ipv4Addr::from(dst)),
            sp,
            dp,
            proto,
        )
    }

    #[test]
    fn a_host_filter_refuses_flows_of_other_hosts() {
        let p = Prefilter::of(&Filter::Host(Side::Either, Ipv4Addr::new(198, 51, 100, 7)));
        assert!(!p.passes_all());
        assert!(!passes(&p, [10, 0, 0, 1], [192, 0, 2, 10], 4000, 80, 6));
        assert!(passes(&p, [198, 51, 100, 7], [192, 0, 2, 10], 4000, 80, 6));
        assert!(passes(&p, [10, 0, 0, 1], [198, 51, 100, 7], 4000, 80, 6));
    }

    #[test]
    fn and_narrows_and_contradiction_passes_nothing() {
        let host = Filter::Host(Side::Src, Ipv4Addr::new(10, 0, 0, 1));
        let net = Filter::Net(Side::Dst, Ipv4Addr::new(1, 1, 1, 0), 24);
        let p = Prefilter::of(&Filter::And(Box::new(host.clone()), Box::new(net)));
        assert!(passes(&p, [10, 0, 0, 1], [1, 1, 1, 9], 9, 80, 6));
        assert!(!passes(&p, [10, 0, 0, 1], [1, 1, 2, 9], 9, 80, 6));
        let other = Filter::Host(Side::Src, Ipv4Addr::new(10, 0, 0, 2));
        let never = Prefilter::of(&Filter::And(Box::new(host), Box::new(other)));
        assert!(!passes(&never, [10, 0, 0, 1], [1, 1, 1, 1], 9, 80, 6));
        assert!(!passes(&never, [10, 0, 0, 2], [1, 1, 1, 1], 9, 80, 6));
    }

    #[test]
    fn a_port_filter_compares_the_ports_and_an_address_filter_the_addresses() {
        let port = Prefilter::of(&Filter::Port(Side::Dst, 80));
        assert!(passes(&port, [10, 0, 0, 1], [1, 1, 1, 1], 9, 80, 6));
        assert!(!passes(&port, [10, 0, 0, 1], [1, 1, 1, 1], 9, 81, 6));
        // Both constrained: the addresses are compared (the port is left
        // to the program).
        let host = Filter::Host(Side::Src, Ipv4Addr::new(10, 0, 0, 1));
        let both = Filter::And(Box::new(host), Box::new(Filter::Port(Side::Dst, 80)));
        let p = Prefilter::of(&both);
        assert!(!passes(&p, [10, 0, 0, 2], [1, 1, 1, 1], 9, 80, 6));
        assert!(passes(&p, [10, 0, 0, 1], [1, 1, 1, 1], 9, 81, 6));
    }

    #[test]
    fn not_and_wide_or_pass_everything() {
        let h = |d| Filter::Host(Side::Either, Ipv4Addr::new(10, 0, 0, d));
        assert!(Prefilter::of(&Filter::Not(Box::new(h(1)))).passes_all());
        assert!(Prefilter::of(&Filter::Or(Box::new(h(1)), Box::new(h(2)))).passes_all());
    }
}
