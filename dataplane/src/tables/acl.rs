//! A service's access list: client prefixes allowed and denied. The most
//! specific prefix that holds the client decides; a client no prefix holds
//! is allowed when the list allows nothing explicitly, denied otherwise
//! (an allow list is a whitelist). Looked up in a binary trie, one step
//! per address bit: at most 32 steps whatever the number of entries, and
//! only for the first packet of a flow (established packets never look).

use std::net::Ipv4Addr;

/// The prefixes as configured: (network, length).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclSpec {
    pub allow: Vec<(Ipv4Addr, u8)>,
    pub deny: Vec<(Ipv4Addr, u8)>,
}

impl AclSpec {
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
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

/// The compiled list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    nodes: Vec<Node>,
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
            nodes: vec![EMPTY],
            default_allow: spec.allow.is_empty(),
        };
        for &(net, len) in &spec.allow {
            acl.insert(net, len, Verdict::Allow);
        }
        for &(net, len) in &spec.deny {
            acl.insert(net, len, Verdict::Deny);
        }
        acl
    }

    fn insert(&mut self, net: Ipv4Addr, len: u8, verdict: Verdict) {
        let bits = u32::from(net);
        let mut at = 0usize;
        for depth in 0..len.min(32) {
            let bit = ((bits >> (31 - depth)) & 1) as usize;
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

    /// Whether `client` may open a connection.
    #[inline]
    pub fn allows(&self, client: Ipv4Addr) -> bool {
        let bits = u32::from(client);
        let mut verdict = Verdict::None;
        let mut at = 0usize;
        for depth in 0..=32u32 {
            let Some(node) = self.nodes.get(at) else {
                break;
            };
            if node.verdict != Verdict::None {
                verdict = node.verdict;
            }
            if depth == 32 {
                break;
            }
            let next = node.child[((bits >> (31 - depth)) & 1) as usize];
            if next == 0 {
                break;
            }
            at = next as usize;
        }
        match verdict {
            Verdict::None => self.default_allow,
            Verdict::Allow => true,
            Verdict::Deny => false,
        }
    }

    /// Trie nodes (for the docs' memory figure).
    pub fn nodes(&self) -> usize {
        self.nodes.len()
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
            deny: vec![],
        });
        assert!(white.allows("198.51.100.7".parse().unwrap()));
        assert!(!white.allows("203.0.113.7".parse().unwrap()));
        let black = Acl::build(&AclSpec {
            allow: vec![],
            deny: vec![p("203.0.113.0/24")],
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
            let spec = AclSpec { allow, deny };
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
}
