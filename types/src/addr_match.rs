//! An address test of a session filter: one address, a prefix, and
//! optionally a port, of either family.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// Which addresses (and port) a session filter's `client` or `backend`
/// takes, written as an address (`10.0.2.11`, `2001:db8:1::11`), a prefix
/// (`198.51.100.0/24`, `2001:db8:2::/64`) or an address and port
/// (`10.0.2.11:8080`, `[2001:db8:1::11]:8080`). An IPv4 test never
/// matches an IPv6 address and the other way round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddrMatch {
    /// The address as written (host bits kept, as the config's prefixes).
    pub addr: IpAddr,
    /// Leading bits that must match: 32 or 128 for one address.
    pub len: u8,
    /// The port too, when one was given (never with a shorter prefix).
    pub port: Option<u16>,
}

impl AddrMatch {
    /// Exactly `addr`, any port.
    pub fn host(addr: impl Into<IpAddr>) -> AddrMatch {
        let addr = addr.into();
        AddrMatch {
            addr,
            len: full_len(addr),
            port: None,
        }
    }

    /// Whether `a` lies under the prefix (and is of its family).
    #[inline]
    pub fn contains(&self, a: IpAddr) -> bool {
        match (self.addr, a) {
            (IpAddr::V4(p), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(p) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(p), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(p) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }

    /// Whether `(a, port)` matches: the address under the prefix, and the
    /// port the one given, if any.
    #[inline]
    pub fn matches(&self, a: IpAddr, port: u16) -> bool {
        self.contains(a) && self.port.map_or(true, |p| p == port)
    }

    /// Whether it tests IPv6 addresses (an IPv4 test never matches them).
    pub fn is_v6(&self) -> bool {
        self.addr.is_ipv6()
    }
}

fn full_len(a: IpAddr) -> u8 {
    match a {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

impl From<IpAddr> for AddrMatch {
    fn from(a: IpAddr) -> AddrMatch {
        AddrMatch::host(a)
    }
}

impl From<std::net::Ipv4Addr> for AddrMatch {
    fn from(a: std::net::Ipv4Addr) -> AddrMatch {
        AddrMatch::host(a)
    }
}

impl From<Ipv6Addr> for AddrMatch {
    fn from(a: Ipv6Addr) -> AddrMatch {
        AddrMatch::host(a)
    }
}

impl fmt::Display for AddrMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}", SocketAddr::new(self.addr, p)),
            None if self.len == full_len(self.addr) => write!(f, "{}", self.addr),
            None => write!(f, "{}/{}", self.addr, self.len),
        }
    }
}

impl FromStr for AddrMatch {
    type Err = String;

    fn from_str(s: &str) -> Result<AddrMatch, String> {
        let refused = || {
            format!(
                "`{s}`: expected an address (10.0.2.11, 2001:db8::11), a prefix \
                 (10.0.2.0/24, 2001:db8::/64) or an address and port \
                 (10.0.2.11:8080, [2001:db8::11]:8080)"
            )
        };
        if let Ok(a) = s.parse::<IpAddr>() {
            return Ok(AddrMatch::host(a));
        }
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(AddrMatch {
                port: Some(sa.port()),
                ..AddrMatch::host(sa.ip())
            });
        }
        if let Some(a) = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|a| a.parse::<Ipv6Addr>().ok())
        {
            return Ok(AddrMatch::host(a));
        }
        let (addr, len) = s.split_once('/').ok_or_else(refused)?;
        let addr: IpAddr = addr.parse().map_err(|_| refused())?;
        let max = full_len(addr);
        let len = match len.parse::<u8>() {
            Ok(n) if n <= max && !len.starts_with('+') => n,
            _ => return Err(format!("`{s}`: the prefix length must be 0..={max}")),
        };
        Ok(AddrMatch {
            addr,
            len,
            port: None,
        })
    }
}

#[cfg(feature = "serde")]
crate::serde_via_str::impl_serde!(AddrMatch, "an address, a prefix, or an address and port");

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn m(s: &str) -> AddrMatch {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn every_form_parses_and_prints_back() {
        for s in [
            "10.0.2.11",
            "198.51.100.0/24",
            "0.0.0.0/0",
            "10.0.2.11:8080",
            "2001:db8:1::11",
            "2001:db8:2::/64",
            "::/0",
            "[2001:db8:1::11]:8080",
        ] {
            assert_eq!(m(s).to_string(), s);
        }
        assert_eq!(m("[2001:db8:1::11]"), m("2001:db8:1::11"));
        assert_eq!(m("10.0.2.11/32"), m("10.0.2.11"));
        assert_eq!(m("2001:db8::1/128"), m("2001:db8::1"));
        assert_eq!(m("2001:db8:2::/64").len, 64);
        assert_eq!(m("[2001:db8:1::11]:8080").port, Some(8080));
    }

    #[test]
    fn bad_forms_are_refused_by_name() {
        for (s, says) in [
            ("10.0.2.256", "expected an address"),
            ("10.0.2.0/33", "0..=32"),
            ("2001:db8::/129", "0..=128"),
            ("2001:db8::/+64", "0..=128"),
            ("[2001:db8::11]:99999", "expected an address"),
            ("10.0.2.0/24:80", "0..=32"),
            ("[10.0.2.11]", "expected an address"),
            ("", "expected an address"),
        ] {
            let e = s.parse::<AddrMatch>().expect_err(s);
            assert!(e.contains(says), "{s}: {e}");
        }
    }

    #[test]
    fn prefixes_contain_their_family_only() {
        let v6 = m("2001:db8:2::/64");
        assert!(v6.contains("2001:db8:2::7".parse().expect("a")));
        assert!(v6.contains("2001:db8:2:0:ffff::1".parse().expect("a")));
        assert!(!v6.contains("2001:db8:3::7".parse().expect("a")));
        assert!(!v6.contains(Ipv4Addr::new(32, 1, 13, 184).into()));
        let v4 = m("198.51.100.0/24");
        assert!(v4.contains(Ipv4Addr::new(198, 51, 100, 9).into()));
        assert!(!v4.contains(Ipv4Addr::new(198, 51, 101, 9).into()));
        assert!(!v4.contains("::ffff:198.51.100.9".parse().expect("a")));
        assert!(m("::/0").contains("2001:db8::1".parse().expect("a")));
        assert!(!m("::/0").contains(Ipv4Addr::LOCALHOST.into()));
        assert!(m("0.0.0.0/0").contains(Ipv4Addr::LOCALHOST.into()));
        let one = m("[2001:db8:1::11]:8080");
        assert!(one.matches("2001:db8:1::11".parse().expect("a"), 8080));
        assert!(!one.matches("2001:db8:1::11".parse().expect("a"), 80));
        assert!(!one.matches("2001:db8:1::12".parse().expect("a"), 8080));
    }
}
