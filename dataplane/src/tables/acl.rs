//! A service's access list: client prefixes allowed and denied. The most
//! specific prefix that holds the client decides; a client no prefix holds
//! is allowed when the list allows nothing explicitly, denied otherwise
//! (an allow list is a whitelist). Looked up in a binary trie, one step
//! per address bit: at most 32 steps for an IPv4 client and 128 for an
//! IPv6 one whatever the number of entries, and only for the first packet
//! of a flow (established packets never look). A service is of one family
//! (the config refuses prefixes of the other), so each family's clients
//! walk a trie of their own.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The prefixes as configured: (network, length), by family.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclSpec {
    pub allow: Vec<(Ipv4Addr, u8)>,
    pub deny: Vec<(Ipv4Addr, u8)>,
    pub allow6: Vec<(Ipv6Addr, u8)>,
    pub deny6: Vec<(Ipv6Addr, u8)>,
}

impl AclSpec {
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty()
            && self.deny.is_empty()
            && self.allow6.is_empty()
            && self.deny6.is_empty()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    None,
    Allow,
    Deny,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Node {
    /// Children for bit 0 and bit 1; 0 is "none" (the root is never a child).
    child: [u32; 2],
    verdict: Verdict,
}

const EMPTY: Node = Node {
    child: [0, 0],
    verdict: Verdict::None,
};

/// A binary trie of one family's prefixes. Keys are addresses aligned to
/// the top of a `u128` (an IPv4 address in its upper 32 bits), so both
/// families share the walk.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Trie {
    nodes: Vec<Node>,
    /// The family's address width in bits (32 or 128).
    width: u32,
}

impl Trie {
    fn new(width: u32) -> Trie {
        Trie {
            nodes: vec![EMPTY],
            width,
        }
    }

    /// Bit `depth` (0 the most significant) of `key`.
    fn bit(key: u128, depth: u32) -> usize {
        ((key >> (127 - depth)) & 1) as usize
    }

    /// Adds a prefix; a deny already there stays (deny wins a tie).
    fn insert(&mut self, key: u128, len: u8, verdict: Verdict) {
        let mut at = 0usize;
        for depth in 0..u32::from(len).min(self.width) {
            let bit = Self::bit(key, depth);
            let next = self.nodes[at].child[bit];
            at = if next == 0 {
                self.nodes.push(EMPTY);
                let id = self.nodes.len() - 1;
                self.nodes[at].child[bit] = id as u32;
                id
            } else {
                next as usize
            };
        }
        if self.nodes[at].verdict != Verdict::Deny {
            self.nodes[at].verdict = verdict;
        }
    }

    /// The verdict of the most specific prefix that holds `key`.
    #[inline]
    fn lookup(&self, key: u128) -> Verdict {
        let mut verdict = Verdict::None;
        let mut at = 0usize;
        for depth in 0..=self.width {
            let Some(node) = self.nodes.get(at) else {
                break;
            };
            if node.verdict != Verdict::None {
                verdict = node.verdict;
            }
            if depth == self.width {
                break;
            }
            let next = node.child[Self::bit(key, depth)];
            if next == 0 {
                break;
            }
            at = next as usize;
        }
        verdict
    }
}

fn key4(a: Ipv4Addr) -> u128 {
    u128::from(u32::from(a)) << 96
}

fn key6(a: Ipv6Addr) -> u128 {
    u128::from(a)
}

/// The compiled list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    v4: Trie,
    v6: Trie,
    /// What a client no prefix holds gets: allowed unless there is an
    /// allow list.
    default_allow: bool,
}

impl Acl {
    /// Compiles `spec`; a prefix in both lists is denied (config
    /// validation refuses that anyway). Host bits past the length are
    /// ignored.
    pub fn build(spec: &AclSpec) -> Acl {
        let mut acl = Acl {
            v4: Trie::new(32),
            v6: Trie::new(128),
            default_allow: spec.allow.is_empty() && spec.allow6.is_empty(),
        };
        for &(net, len) in &spec.allow {
            acl.v4.insert(key4(net), len, Verdict::Allow);
        }
        for &(net, len) in &spec.deny {
            acl.v4.insert(key4(net), len, Verdict::Deny);
        }
        for &(net, len) in &spec.allow6 {
            acl.v6.insert(key6(net), len, Verdict::Allow);
        }
        for &(net, len) in &spec.deny6 {
            acl.v6.insert(key6(net), len, Verdict::Deny);
        }
        acl
    }

    fn decide(&self, verdict: Verdict) -> bool {
        match verdict {
            Verdict::None => self.default_allow,
            Verdict::Allow => true,
            Verdict::Deny => false,
        }
    }

    /// Whether the IPv4 `client` may open a connection.
    #[inline]
    pub fn allows(&self, client: Ipv4Addr) -> bool {
        self.decide(self.v4.lookup(key4(client)))
    }

    /// Whether the IPv6 `client` may open a connection.
    #[inline]
    pub fn allows6(&self, client: Ipv6Addr) -> bool {
        self.decide(self.v6.lookup(key6(client)))
    }

    /// Trie nodes (for the docs' memory figure).
    pub fn nodes(&self) -> usize {
        self.v4.nodes.len() + self.v6.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn p(s: &str) -> (Ipv4Addr, u8) {
        let (a, l) = s.split_once('/').unwrap();
        (a.parse().unwrap(), l.parse().unwrap())
    }

    #[test]
    fn the_most_specific_prefix_decides() {
        let acl = Acl::build(&AclSpec {
            allow: vec![p("10.1.2.0/24"), p("0.0.0.0/0")],
            deny: vec![p("10.0.0.0/8"), p("10.1.2.99/32")],
            ..AclSpec::default()
        });
        assert!(acl.allows("192.0.2.1".parse().unwrap()), "the /0 allow");
        assert!(!acl.allows("10.9.9.9".parse().unwrap()), "the /8 deny");
        assert!(
            acl.allows("10.1.2.3".parse().unwrap()),
            "the /24 allow inside the /8"
        );
        assert!(
            !acl.allows("10.1.2.99".parse().unwrap()),
            "the /32 deny inside the /24"
        );
    }

    #[test]
    fn an_allow_list_is_a_whitelist_and_a_deny_list_alone_a_blacklist() {
        let white = Acl::build(&AclSpec {
            allow: vec![p("198.51.100.0/24")],
            ..AclSpec::default()
        });
        assert!(white.allows("198.51.100.7".parse().unwrap()));
        assert!(!white.allows("203.0.113.7".parse().unwrap()));
        let black = Acl::build(&AclSpec {
            deny: vec![p("203.0.113.0/24")],
            ..AclSpec::default()
        });
        assert!(black.allows("198.51.100.7".parse().unwrap()));
        assert!(!black.allows("203.0.113.7".parse().unwrap()));
        assert!(Acl::build(&AclSpec::default()).allows(Ipv4Addr::BROADCAST));
    }

    /// The answer by brute force: the longest matching entry, deny winning
    /// a tie, else the default.
    fn reference(spec: &AclSpec, client: Ipv4Addr) -> bool {
        let holds = |(net, len): &(Ipv4Addr, u8)| {
            let mask = if *len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(*len))
            };
            u32::from(client) & mask == u32::from(*net) & mask
        };
        let best = |list: &[(Ipv4Addr, u8)]| list.iter().filter(|e| holds(e)).map(|e| e.1).max();
        match (best(&spec.allow), best(&spec.deny)) {
            (None, None) => spec.allow.is_empty(),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(d)) => a > d,
        }
    }

    fn prefix() -> impl Strategy<Value = (Ipv4Addr, u8)> {
        // Few distinct high bits, so prefixes nest and overlap often.
        (0u32..16, any::<u32>(), 0u8..=32)
            .prop_map(|(hi, lo, len)| (Ipv4Addr::from((hi << 28) | (lo >> 4)), len))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        #[test]
        fn the_trie_answers_as_brute_force_does(
            allow in prop::collection::vec(prefix(), 0..40),
            deny in prop::collection::vec(prefix(), 0..40),
            clients in prop::collection::vec(any::<u32>(), 1..40),
            near in prop::collection::vec(0usize..80, 1..40),
        ) {
            let spec = AclSpec { allow, deny, ..AclSpec::default() };
            let acl = Acl::build(&spec);
            // Random clients, and clients inside the configured prefixes.
            let all: Vec<&(Ipv4Addr, u8)> = spec.allow.iter().chain(&spec.deny).collect();
            let mut probes: Vec<Ipv4Addr> = clients.into_iter().map(Ipv4Addr::from).collect();
            for (i, n) in near.iter().enumerate() {
                if let Some(e) = all.get(*n % all.len().max(1)) {
                    probes.push(Ipv4Addr::from(u32::from(e.0) ^ (i as u32 & 0xff)));
                }
            }
            for c in probes {
                prop_assert_eq!(acl.allows(c), reference(&spec, c), "client {}", c);
            }
        }
    }

    fn p6(s: &str) -> (Ipv6Addr, u8) {
        let (a, l) = s.split_once('/').unwrap();
        (a.parse().unwrap(), l.parse().unwrap())
    }

    #[test]
    fn ipv6_clients_are_judged_by_the_ipv6_prefixes() {
        let acl = Acl::build(&AclSpec {
            allow6: vec![p6("2001:db8::/32"), p6("2001:db8:1:2::/64")],
            deny6: vec![p6("2001:db8:1::/48"), p6("2001:db8:1:2::99/128")],
            ..AclSpec::default()
        });
        let a = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert!(acl.allows6(a("2001:db8:9::1")), "the /32 allow");
        assert!(!acl.allows6(a("2001:db8:1:7::1")), "the /48 deny");
        assert!(
            acl.allows6(a("2001:db8:1:2::1")),
            "the /64 allow in the /48"
        );
        assert!(
            !acl.allows6(a("2001:db8:1:2::99")),
            "the /128 deny in the /64"
        );
        assert!(
            !acl.allows6(a("2001:db9::1")),
            "an allow list is a whitelist"
        );
        // A deny list alone lets everyone else in; an empty list everyone.
        let black = Acl::build(&AclSpec {
            deny6: vec![p6("2001:db8:bad::/48")],
            ..AclSpec::default()
        });
        assert!(black.allows6(a("2001:db8:900d::1")));
        assert!(!black.allows6(a("2001:db8:bad::1")));
        assert!(Acl::build(&AclSpec::default()).allows6(a("::1")));
    }

    fn reference6(spec: &AclSpec, client: Ipv6Addr) -> bool {
        let holds = |(net, len): &(Ipv6Addr, u8)| {
            let mask = u128::MAX.checked_shl(128 - u32::from(*len)).unwrap_or(0);
            u128::from(client) & mask == u128::from(*net) & mask
        };
        let best = |list: &[(Ipv6Addr, u8)]| list.iter().filter(|e| holds(e)).map(|e| e.1).max();
        match (best(&spec.allow6), best(&spec.deny6)) {
            (None, None) => spec.allow6.is_empty(),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(d)) => a > d,
        }
    }

    fn prefix6() -> impl Strategy<Value = (Ipv6Addr, u8)> {
        // Few distinct high bits, so prefixes nest and overlap often.
        (0u128..16, any::<u128>(), 0u8..=128)
            .prop_map(|(hi, lo, len)| (Ipv6Addr::from((hi << 124) | (lo >> 4)), len))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        #[test]
        fn the_ipv6_trie_answers_as_brute_force_does(
            allow6 in prop::collection::vec(prefix6(), 0..30),
            deny6 in prop::collection::vec(prefix6(), 0..30),
            clients in prop::collection::vec(any::<u128>(), 1..30),
            near in prop::collection::vec((0usize..60, 0u32..128), 1..30),
        ) {
            let spec = AclSpec { allow6, deny6, ..AclSpec::default() };
            let acl = Acl::build(&spec);
            let all: Vec<&(Ipv6Addr, u8)> = spec.allow6.iter().chain(&spec.deny6).collect();
            let mut probes: Vec<Ipv6Addr> = clients.into_iter().map(Ipv6Addr::from).collect();
            // Clients inside the configured prefixes, one bit flipped
            // anywhere: on either side of each prefix's edge.
            for (n, bit) in near {
                if let Some(e) = all.get(n % all.len().max(1)) {
                    probes.push(Ipv6Addr::from(u128::from(e.0) ^ (1u128 << bit)));
                }
            }
            for c in probes {
                prop_assert_eq!(acl.allows6(c), reference6(&spec, c), "client {}", c);
            }
            // IPv4 clients meet no IPv6 prefix.
            prop_assert_eq!(acl.allows(Ipv4Addr::LOCALHOST), spec.allow6.is_empty());
        }
    }
}
