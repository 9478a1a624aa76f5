//! Multicast Listener Discovery, the listener's part: MLDv2 (RFC 3810)
//! reports we write, and the queries (MLDv1, RFC 2710, and MLDv2) we read.
//! Both are ICMPv6 messages ([`super::icmpv6`] reads their type, code and
//! checksum); this names the fields past those.

use std::net::Ipv6Addr;

use super::ipv6::NextHeader;
use super::{put_be16, put_bytes, put_u8};

/// Where the fields lie, from the start of the ICMPv6 message.
pub mod field {
    use crate::wire::Field;

    /// A query's Maximum Response Delay (ms in MLDv1, coded in MLDv2).
    pub const MAX_RESPONSE: Field = 4..6;
    /// A query's multicast address: unspecified in a general query.
    pub const QUERY_GROUP: Field = 8..24;
    /// An MLDv2 report's reserved bytes.
    pub const REPORT_RESERVED: Field = 4..6;
    /// An MLDv2 report's number of multicast address records.
    pub const REPORT_RECORDS: Field = 6..8;
    /// Where an MLDv2 report's records start.
    pub const RECORDS: usize = 8;

    /// A multicast address record, from its own start.
    pub mod record {
        use super::Field;
        pub const TYPE: usize = 0;
        pub const AUX_DATA_LEN: usize = 1;
        pub const SOURCES: Field = 2..4;
        pub const GROUP: Field = 4..20;
    }
}

/// ICMPv6 types of MLD.
pub struct MldType;

impl MldType {
    pub const QUERY: u8 = 130;
    pub const V1_REPORT: u8 = 131;
    pub const V1_DONE: u8 = 132;
    pub const V2_REPORT: u8 = 143;
}

/// MLDv2 record types (RFC 3810 5.2.12) a listener with no source filter
/// sends: EXCLUDE of no sources means "every source".
pub struct RecordType;

impl RecordType {
    /// The current state, answering a query.
    pub const MODE_IS_EXCLUDE: u8 = 2;
    /// A change of state: joining the group.
    pub const CHANGE_TO_EXCLUDE: u8 = 4;
}

/// An MLDv1 query's length; an MLDv2 one is at least 28 bytes.
pub const QUERY_LEN: usize = 24;
/// An MLDv2 report's header, before its records.
pub const REPORT_HEADER_LEN: usize = 8;
/// One multicast address record with no sources and no auxiliary data.
pub const RECORD_LEN: usize = 20;
/// The Hop-by-Hop Options header every MLD message carries (RFC 3810 5):
/// next header ICMPv6, length 0 (8 bytes), a Router Alert option with
/// value 0 (MLD, RFC 2711), then PadN of no data to fill the 8 bytes.
pub const ROUTER_ALERT_HOP_BY_HOP: [u8; 8] = [NextHeader::ICMPV6, 0, 5, 2, 0, 0, 1, 0];

/// The length of an MLDv2 report of `groups` records.
pub const fn report_len(groups: usize) -> usize {
    REPORT_HEADER_LEN + RECORD_LEN * groups
}

/// A query's multicast address, `None` for a general query. `msg` is the
/// whole ICMPv6 message, at least [`QUERY_LEN`] long (checked by the
/// caller, which returns the drop otherwise).
pub fn query_group(msg: &[u8]) -> Option<Ipv6Addr> {
    let bytes: [u8; 16] = msg.get(field::QUERY_GROUP)?.try_into().ok()?;
    let group = Ipv6Addr::from(bytes);
    (!group.is_unspecified()).then_some(group)
}

/// Writes an MLDv2 report's body after the ICMPv6 type, code and checksum
/// (which the caller writes): one record of `record_type` per group, no
/// sources. `false` if `msg` is not [`report_len`] long.
pub fn write_report_body(msg: &mut [u8], record_type: u8, groups: &[Ipv6Addr]) -> bool {
    let Ok(count) = u16::try_from(groups.len()) else {
        return false;
    };
    if msg.len() != report_len(groups.len()) {
        return false;
    }
    put_bytes(msg, field::REPORT_RESERVED.start, &[0, 0]);
    put_be16(msg, field::REPORT_RECORDS.start, count);
    for (i, group) in groups.iter().enumerate() {
        let at = field::RECORDS + i * RECORD_LEN;
        let Some(record) = msg.get_mut(at..at + RECORD_LEN) else {
            return false;
        };
        put_u8(record, field::record::TYPE, record_type);
        put_u8(record, field::record::AUX_DATA_LEN, 0);
        put_be16(record, field::record::SOURCES.start, 0);
        put_bytes(record, field::record::GROUP.start, &group.octets());
    }
    true
}
