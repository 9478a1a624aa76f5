//! Which sessions a listing shows.

use crate::{AddrMatch, IpProto, ServiceKey};

/// Which sessions `ferrolbctl sessions` (the control socket's `sessions`
/// request, a worker's session listing) shows: every field given must match;
/// an empty filter shows all.
///
/// With the `serde` feature it reads and writes the socket's JSON object
/// (`service`, `backend`, `client`, `protocol`; absent fields are `None`,
/// unknown ones refused).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct SessionFilter {
    /// The service; SNAT sessions never match one.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub service: Option<ServiceKey>,
    /// The real server's address, prefix, or address and port (for SNAT:
    /// the remote host's), IPv4 or IPv6.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub backend: Option<AddrMatch>,
    /// The client's address, prefix, or address and port, IPv4 or IPv6.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub client: Option<AddrMatch>,
    /// The IP protocol; written `"tcp"` or `"udp"` on the socket.
    #[cfg_attr(
        feature = "serde",
        serde(
            default,
            rename = "protocol",
            skip_serializing_if = "Option::is_none",
            with = "service_proto"
        )
    )]
    pub proto: Option<IpProto>,
}

/// A filter's protocol in its socket form: `"tcp"` or `"udp"`, the
/// protocols a service can have.
#[cfg(feature = "serde")]
mod service_proto {
    use serde::de::{self, Deserialize, Deserializer};
    use serde::ser::{self, Serializer};

    use crate::IpProto;

    pub fn serialize<S: Serializer>(p: &Option<IpProto>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            None => s.serialize_none(),
            Some(IpProto::TCP) => s.serialize_some("tcp"),
            Some(IpProto::UDP) => s.serialize_some("udp"),
            Some(other) => Err(ser::Error::custom(format!(
                "protocol {other}: a session filter takes tcp or udp"
            ))),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpProto>, D::Error> {
        match Option::<String>::deserialize(d)?.as_deref() {
            None => Ok(None),
            Some("tcp") => Ok(Some(IpProto::TCP)),
            Some("udp") => Ok(Some(IpProto::UDP)),
            Some(other) => Err(de::Error::unknown_variant(other, &["tcp", "udp"])),
        }
    }
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn socket_json_reads_and_writes_every_field() {
        let f = SessionFilter {
            service: Some("tcp/192.0.2.10:80".parse().expect("key")),
            backend: Some(Ipv4Addr::new(10, 0, 2, 11).into()),
            client: Some(Ipv4Addr::new(198, 51, 100, 7).into()),
            proto: Some(IpProto::UDP),
        };
        let json = serde_json::to_string(&f).expect("serializes");
        assert_eq!(
            json,
            r#"{"service":"tcp/192.0.2.10:80","backend":"10.0.2.11","client":"198.51.100.7","protocol":"udp"}"#
        );
        assert_eq!(
            serde_json::from_str::<SessionFilter>(&json).expect("parses"),
            f
        );
        assert_eq!(
            serde_json::to_string(&SessionFilter::default()).expect("empty"),
            "{}"
        );
        assert_eq!(
            serde_json::from_str::<SessionFilter>("{}").expect("empty"),
            SessionFilter::default()
        );
    }

    #[test]
    fn ipv6_prefixes_and_ports_cross_the_socket() {
        let json = r#"{"backend":"[2001:db8:1::11]:8080","client":"2001:db8:2::/64"}"#;
        let f: SessionFilter = serde_json::from_str(json).expect("parses");
        assert_eq!(f.backend, Some("[2001:db8:1::11]:8080".parse().expect("b")));
        assert_eq!(f.client.map(|c| c.len), Some(64));
        assert_eq!(serde_json::to_string(&f).expect("writes"), json);
        let e = serde_json::from_str::<SessionFilter>(r#"{"client":"2001:db8::/130"}"#)
            .expect_err("length");
        assert!(e.to_string().contains("0..=128"), "{e}");
    }

    #[test]
    fn other_protocols_and_unknown_fields_are_refused() {
        let e = serde_json::from_str::<SessionFilter>(r#"{"protocol":"icmp"}"#).expect_err("icmp");
        assert!(
            e.to_string()
                .contains("unknown variant `icmp`, expected `tcp` or `udp`"),
            "{e}"
        );
        let e = serde_json::from_str::<SessionFilter>(r#"{"proto":"tcp"}"#).expect_err("field");
        assert!(e.to_string().contains("unknown field `proto`"), "{e}");
        let icmp = SessionFilter {
            proto: Some(IpProto::ICMP),
            ..SessionFilter::default()
        };
        let e = serde_json::to_string(&icmp).expect_err("not a service protocol");
        assert!(e.to_string().contains("takes tcp or udp"), "{e}");
    }
}
