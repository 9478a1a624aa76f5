//! IPv6 in the config (issue 20): `[[interface]] addresses` take IPv6
//! prefixes as well as IPv4 ones ([`IpPrefix`]), and a service's VIP and
//! backends either family (DR and TUN only for IPv6: `validate_family.rs`),
//! its access lists the VIP's family, routes and static neighbours either
//! family (one per route: its prefix and gateway), FULLNAT local addresses
//! either family, SNAT rules either family (one per rule:
//! `validate_snat6.rs`), `also_listen` the VIP's family
//! (`validate_family.rs`); what else names an address (the kernel
//! interface's addresses) is IPv4 yet,
//! and an IPv6 address there is refused by the parser with
//! [`IPV6_NOT_YET`], naming the key. Later stages lift the refusal key by
//! key.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::lb::{serde_via_str, Ipv4Prefix};

/// Why an IPv6 address is refused where only IPv4 is taken.
pub const IPV6_NOT_YET: &str = "IPv6 is not taken here yet (issue 20): a kernel interface's \
     addresses are IPv4 for now; service VIPs, also_listen, backends and local addresses (DR, \
     TUN, NAT and FULLNAT over IPv6), SNAT rules, access lists, routes, static neighbours and \
     [[interface]] addresses take IPv6";

/// An IPv6 address with a prefix length, written `"2001:db8::1/64"`; a
/// bare address means `/128`. Like [`Ipv4Prefix`], the address keeps its
/// host bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Ipv6Prefix {
    pub addr: Ipv6Addr,
    pub len: u8,
}

impl Ipv6Prefix {
    fn mask(&self) -> u128 {
        match self.len {
            0 => 0,
            n => u128::MAX << (128 - u32::from(n.min(128))),
        }
    }

    /// The address with the host bits cleared (`2001:db8::1/64` →
    /// `2001:db8::`).
    pub fn network(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) & self.mask())
    }

    /// Whether `a` lies in this prefix.
    pub fn contains(&self, a: Ipv6Addr) -> bool {
        u128::from(a) & self.mask() == u128::from(self.network())
    }

    /// Whether the address has bits set beyond the prefix length.
    pub fn host_bits_set(&self) -> bool {
        self.addr != self.network()
    }
}

impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Ipv6Prefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = match s.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (s, None),
        };
        let addr: Ipv6Addr = addr.parse().map_err(|_| {
            format!("{s:?}: expected an IPv6 address like \"2001:db8::1\" or a prefix like \"2001:db8::1/64\"")
        })?;
        let len = match len {
            None => 128,
            Some(len) => match len.parse::<u8>() {
                Ok(n) if n <= 128 && !len.starts_with('+') => n,
                _ => return Err(format!("{s:?}: prefix length must be 0..=128")),
            },
        };
        Ok(Ipv6Prefix { addr, len })
    }
}

/// An interface address of either family: `"10.0.0.1/24"` or
/// `"2001:db8::1/64"`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum IpPrefix {
    V4(Ipv4Prefix),
    V6(Ipv6Prefix),
}

impl IpPrefix {
    pub fn v4(&self) -> Option<&Ipv4Prefix> {
        match self {
            IpPrefix::V4(p) => Some(p),
            IpPrefix::V6(_) => None,
        }
    }

    pub fn v6(&self) -> Option<&Ipv6Prefix> {
        match self {
            IpPrefix::V4(_) => None,
            IpPrefix::V6(p) => Some(p),
        }
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        match self {
            IpPrefix::V4(p) => p.len,
            IpPrefix::V6(p) => p.len,
        }
    }

    /// The address as written (host bits kept).
    pub fn addr(&self) -> IpAddr {
        match self {
            IpPrefix::V4(p) => p.addr.into(),
            IpPrefix::V6(p) => p.addr.into(),
        }
    }

    /// The network address, host bits cleared.
    pub fn network(&self) -> IpAddr {
        match self {
            IpPrefix::V4(p) => p.network().into(),
            IpPrefix::V6(p) => p.network().into(),
        }
    }

    pub fn is_ipv6(&self) -> bool {
        matches!(self, IpPrefix::V6(_))
    }

    /// Whether the address has bits set beyond the prefix length.
    pub fn host_bits_set(&self) -> bool {
        *self != self.connected()
    }

    /// Whether `a` lies in this prefix (never, for the other family).
    pub fn contains(&self, a: IpAddr) -> bool {
        match (self, a) {
            (IpPrefix::V4(p), IpAddr::V4(a)) => p.contains(a),
            (IpPrefix::V6(p), IpAddr::V6(a)) => p.contains(a),
            _ => false,
        }
    }

    /// The connected prefix: the network, host bits cleared.
    pub fn connected(&self) -> IpPrefix {
        match self {
            IpPrefix::V4(p) => IpPrefix::V4(Ipv4Prefix {
                addr: p.network(),
                len: p.len,
            }),
            IpPrefix::V6(p) => IpPrefix::V6(Ipv6Prefix {
                addr: p.network(),
                len: p.len,
            }),
        }
    }
}

impl From<Ipv4Prefix> for IpPrefix {
    fn from(p: Ipv4Prefix) -> Self {
        IpPrefix::V4(p)
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpPrefix::V4(p) => p.fmt(f),
            IpPrefix::V6(p) => p.fmt(f),
        }
    }
}

impl FromStr for IpPrefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.contains(':') {
            true => s.parse().map(IpPrefix::V6),
            false => s.parse().map(IpPrefix::V4),
        }
    }
}

serde_via_str!(
    Ipv6Prefix,
    "an IPv6 prefix string like \"2001:db8::1/64\" or an address like \"2001:db8::1\""
);
serde_via_str!(
    IpPrefix,
    "a prefix string like \"10.0.0.1/24\" or \"2001:db8::1/64\""
);

/// Whether `s` reads as IPv6 (an address, a prefix, or `[addr]:port`).
pub(super) fn looks_ipv6(s: &str) -> bool {
    let addr = s.split('/').next().unwrap_or(s);
    let addr = addr
        .strip_prefix('[')
        .and_then(|a| a.split(']').next())
        .unwrap_or(addr);
    addr.parse::<Ipv6Addr>().is_ok()
}
