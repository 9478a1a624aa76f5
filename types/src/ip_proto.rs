//! IP protocol numbers.

use std::fmt;

/// An IP protocol number (the IPv4 header's protocol field).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct IpProto(pub u8);

impl IpProto {
    pub const ICMP: IpProto = IpProto(1);
    pub const IPIP: IpProto = IpProto(4);
    pub const TCP: IpProto = IpProto(6);
    pub const UDP: IpProto = IpProto(17);

    /// The lower-case name of the protocols ferrolb handles (`tcp`, `udp`,
    /// `icmp`, `ipip`), or `None`.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::TCP => Some("tcp"),
            Self::UDP => Some("udp"),
            Self::ICMP => Some("icmp"),
            Self::IPIP => Some("ipip"),
            _ => None,
        }
    }
}

/// The name where there is one, else the number.
impl fmt::Display for IpProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_protocols_print_their_name_others_their_number() {
        let shown: Vec<String> = [6, 17, 1, 4, 47].map(|n| IpProto(n).to_string()).to_vec();
        assert_eq!(shown, ["tcp", "udp", "icmp", "ipip", "47"]);
        assert!(IpProto::TCP < IpProto::UDP, "ordered by number");
    }
}
