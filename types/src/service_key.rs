//! How a virtual service is named: protocol, VIP and port.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use crate::IpProto;

/// A service by protocol, VIP and port, written `tcp/192.0.2.10:80`: the
/// key of the dataplane's service index and of every control-socket request
/// about a service. The fields are in that order, so keys sort by protocol
/// first, as listings show them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    /// `IpProto::TCP` or `IpProto::UDP` for every configured service.
    pub proto: IpProto,
    /// Either family: IPv4 and IPv6 services share the index and the
    /// control socket's names.
    pub vip: IpAddr,
    pub port: u16,
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addr = SocketAddr::new(self.vip, self.port);
        write!(f, "{}/{addr}", self.proto)
    }
}

/// `PROTO/VIP:PORT` with PROTO `tcp` or `udp` in either case.
impl FromStr for ServiceKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("{s:?} is not a service: expected PROTO/VIP:PORT, e.g. tcp/192.0.2.10:80");
        let (proto, addr) = s.split_once('/').ok_or_else(bad)?;
        let proto = match proto.to_ascii_lowercase().as_str() {
            "tcp" => IpProto::TCP,
            "udp" => IpProto::UDP,
            _ => return Err(bad()),
        };
        let addr: SocketAddr = addr.parse().map_err(|_| bad())?;
        Ok(ServiceKey {
            proto,
            vip: addr.ip(),
            port: addr.port(),
        })
    }
}

#[cfg(feature = "serde")]
crate::serde_via_str::impl_serde!(ServiceKey, "a service string like \"tcp/192.0.2.10:80\"");

#[cfg(test)]
mod tests {
    use super::*;

    fn key(proto: IpProto, vip: [u8; 4], port: u16) -> ServiceKey {
        ServiceKey {
            proto,
            vip: std::net::Ipv4Addr::from(vip).into(),
            port,
        }
    }

    #[test]
    fn text_round_trips_and_bad_text_names_the_form() {
        let k: ServiceKey = "UDP/192.0.2.10:53".parse().expect("valid");
        assert_eq!(k, key(IpProto::UDP, [192, 0, 2, 10], 53));
        assert_eq!(k.to_string(), "udp/192.0.2.10:53");
        for bad in [
            "tcp/192.0.2.10",
            "icmp/192.0.2.10:80",
            "192.0.2.10:80",
            "tcp/x:80",
            "tcp/2001:db8::10:80",
        ] {
            let e = bad.parse::<ServiceKey>().expect_err(bad);
            assert!(e.contains("expected PROTO/VIP:PORT"), "{e}");
        }
    }

    #[test]
    fn ipv6_keys_print_the_vip_in_brackets_and_parse_back() {
        let k: ServiceKey = "tcp/[2001:db8::10]:80".parse().expect("valid");
        assert_eq!(k.vip, "2001:db8::10".parse::<IpAddr>().expect("address"));
        assert_eq!(k.port, 80);
        assert_eq!(k.to_string(), "tcp/[2001:db8::10]:80");
        let mut keys = [k, key(IpProto::TCP, [10, 0, 0, 1], 80)];
        keys.sort();
        assert_eq!(keys[1], k, "IPv4 VIPs sort before IPv6 ones");
    }

    #[test]
    fn keys_sort_by_protocol_then_vip_then_port() {
        let mut keys = [
            key(IpProto::UDP, [10, 0, 0, 1], 53),
            key(IpProto::TCP, [10, 0, 0, 2], 80),
            key(IpProto::TCP, [10, 0, 0, 1], 443),
            key(IpProto::TCP, [10, 0, 0, 1], 80),
        ];
        keys.sort();
        let text: Vec<String> = keys.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "tcp/10.0.0.1:80",
                "tcp/10.0.0.1:443",
                "tcp/10.0.0.2:80",
                "udp/10.0.0.1:53"
            ]
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_uses_the_text_form() {
        let k = key(IpProto::TCP, [192, 0, 2, 10], 80);
        let json = serde_json::to_string(&k).expect("serializes");
        assert_eq!(json, "\"tcp/192.0.2.10:80\"");
        assert_eq!(
            serde_json::from_str::<ServiceKey>(&json).expect("parses"),
            k
        );
        let e = serde_json::from_str::<ServiceKey>("\"tcp/192.0.2.10\"").expect_err("no port");
        assert!(e.to_string().contains("expected PROTO/VIP:PORT"), "{e}");
    }
}
