//! Ethernet MAC addresses.

use std::fmt;
use std::str::FromStr;

/// A 48-bit Ethernet MAC address, written `02:00:00:00:00:01`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The group bit: set for multicast and broadcast addresses.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }
}

/// Lower-case hex bytes joined by colons.
impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// Six colon-separated pairs of hex digits, either case.
impl FromStr for MacAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("{s:?}: expected a MAC address of six hex bytes like \"02:00:00:00:00:01\"");
        let mut mac = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut mac {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(mac))
    }
}

#[cfg(feature = "serde")]
crate::serde_via_str::impl_serde!(MacAddr, "a MAC address string like \"02:00:00:00:00:01\"");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_bad_text_names_the_form() {
        let mac: MacAddr = "02:0A:00:00:00:ff".parse().expect("mac");
        assert_eq!(mac, MacAddr([2, 10, 0, 0, 0, 255]));
        assert_eq!(mac.to_string(), "02:0a:00:00:00:ff");
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:00:00",
            "2:00:00:00:00:00",
            "0g:00:00:00:00:00",
        ] {
            let e = bad.parse::<MacAddr>().expect_err(bad);
            assert!(e.contains("six hex bytes"), "{e}");
        }
    }

    #[test]
    fn group_and_zero_addresses() {
        assert!(MacAddr::BROADCAST.is_multicast());
        assert!(MacAddr([0x01, 0, 0x5e, 0, 0, 1]).is_multicast());
        assert!(!MacAddr([0x02, 0, 0, 0, 0, 1]).is_multicast());
        assert!(MacAddr::ZERO.is_zero() && MacAddr::default().is_zero());
        assert!(!MacAddr::BROADCAST.is_zero());
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_uses_the_text_form() {
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let json = serde_json::to_string(&mac).expect("serializes");
        assert_eq!(json, "\"02:00:00:00:00:01\"");
        assert_eq!(serde_json::from_str::<MacAddr>(&json).expect("parses"), mac);
        let e = serde_json::from_str::<MacAddr>("\"02:00\"").expect_err("short");
        assert!(e.to_string().contains("six hex bytes"), "{e}");
        let e = serde_json::from_str::<MacAddr>("7").expect_err("not a string");
        assert!(e.to_string().contains("a MAC address string"), "{e}");
    }
}
