//! ICMPv6 (RFC 4443) and the Neighbor Discovery messages a host handles
//! (RFC 4861): echo, the errors (which quote the packet they are about),
//! Neighbor Solicitation and Advertisement with their link-layer address
//! options. The checksum covers the IPv6 pseudo-header
//! ([`checksum::ipv6_pseudo_header_sum`]).

use std::net::Ipv6Addr;

use super::{get_be16, get_be32, get_u8, put_be16, put_bytes, put_u8, MacAddr};
use crate::checksum;
use crate::drop::DropReason;

/// Length of the ICMPv6 header (type, code, checksum, 4 type-specific bytes).
pub const ICMPV6_HEADER_LEN: usize = 8;
/// Length of a Neighbor Solicitation or Advertisement before its options.
pub const ND_LEN: usize = 24;
/// Length of a link-layer address option for Ethernet.
pub const LINK_LAYER_OPTION_LEN: usize = 8;

/// Where the fields of an ICMPv6 message lie, from its start.
pub mod field {
    use crate::wire::Field;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// Echo: identifier and sequence number.
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQ: Field = 6..8;
    /// Packet Too Big: the MTU of the next hop.
    pub const MTU: Field = 4..8;
    /// Parameter Problem: where in the quoted packet.
    pub const POINTER: Field = 4..8;
    /// Neighbor Advertisement: the R, S and O flags (high bits).
    pub const NA_FLAGS: usize = 4;
    /// Neighbor Solicitation and Advertisement: the address asked about.
    pub const ND_TARGET: Field = 8..24;
    /// Where an error's quoted packet, or ND's options, start.
    pub const BODY: usize = 8;
    pub const ND_OPTIONS: usize = 24;
}

/// ICMPv6 message types we handle.
pub struct Icmpv6Type;

impl Icmpv6Type {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAMETER_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const ROUTER_SOLICITATION: u8 = 133;
    pub const ROUTER_ADVERTISEMENT: u8 = 134;
    pub const NEIGHBOR_SOLICITATION: u8 = 135;
    pub const NEIGHBOR_ADVERTISEMENT: u8 = 136;
    pub const REDIRECT: u8 = 137;

    /// Whether `t` is an error message (types below 128, RFC 4443 2.1), to
    /// which no error may be sent back.
    pub fn is_error(t: u8) -> bool {
        t < 128
    }
}

/// Neighbor Advertisement flags (RFC 4861 4.4).
pub struct NaFlags;

impl NaFlags {
    pub const ROUTER: u8 = 0x80;
    pub const SOLICITED: u8 = 0x40;
    pub const OVERRIDE: u8 = 0x20;
}

/// Neighbor Discovery option types for link-layer addresses.
pub struct NdOption;

impl NdOption {
    pub const SOURCE_LINK_LAYER: u8 = 1;
    pub const TARGET_LINK_LAYER: u8 = 2;
}

/// An ICMPv6 message.
#[derive(Debug)]
pub struct Icmpv6Packet<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// A view over a message at least as long as the ICMPv6 header (and,
    /// for a Neighbor Solicitation or Advertisement, as its fixed part).
    pub fn new(buf: T) -> Result<Self, DropReason> {
        let b = buf.as_ref();
        let nd = matches!(
            get_u8(b, field::TYPE),
            Icmpv6Type::NEIGHBOR_SOLICITATION | Icmpv6Type::NEIGHBOR_ADVERTISEMENT
        );
        if b.len() < ICMPV6_HEADER_LEN || (nd && b.len() < ND_LEN) {
            return Err(DropReason::TruncatedL4);
        }
        Ok(Icmpv6Packet { buf })
    }

    pub fn msg_type(&self) -> u8 {
        get_u8(self.buf.as_ref(), field::TYPE)
    }
    pub fn code(&self) -> u8 {
        get_u8(self.buf.as_ref(), field::CODE)
    }
    pub fn checksum(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::CHECKSUM.start)
    }
    pub fn echo_ident(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::ECHO_IDENT.start)
    }
    pub fn echo_seq(&self) -> u16 {
        get_be16(self.buf.as_ref(), field::ECHO_SEQ.start)
    }
    /// Packet Too Big: the next hop's MTU.
    pub fn mtu(&self) -> u32 {
        get_be32(self.buf.as_ref(), field::MTU.start)
    }
    /// An error's quoted packet (as much of it as fits), or an echo's data.
    pub fn body(&self) -> &[u8] {
        self.buf.as_ref().get(field::BODY..).unwrap_or(&[])
    }
    /// Neighbor Solicitation or Advertisement: the target address.
    pub fn nd_target(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        if let Some(t) = self.buf.as_ref().get(field::ND_TARGET) {
            a.copy_from_slice(t);
        }
        Ipv6Addr::from(a)
    }
    /// Neighbor Advertisement: its flags byte ([`NaFlags`]).
    pub fn na_flags(&self) -> u8 {
        get_u8(self.buf.as_ref(), field::NA_FLAGS)
    }

    /// Neighbor Solicitation or Advertisement: the Ethernet address in the
    /// first option of type `kind` ([`NdOption`]). `Err` when the options
    /// are malformed (a zero length, or one running past the message),
    /// which RFC 4861 7.1.1 says to discard the message for.
    pub fn nd_link_layer(&self, kind: u8) -> Result<Option<MacAddr>, DropReason> {
        let b = self.buf.as_ref();
        let mut at = field::ND_OPTIONS;
        while at < b.len() {
            let len = 8 * usize::from(get_u8(b, at + 1));
            if len == 0 || at + len > b.len() {
                return Err(DropReason::TruncatedL4);
            }
            if get_u8(b, at) == kind && len == LINK_LAYER_OPTION_LEN {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(&b[at + 2..at + 8]);
                return Ok(Some(MacAddr(mac)));
            }
            at += len;
        }
        Ok(None)
    }

    /// Neighbor Solicitation or Advertisement: whether every option has a
    /// non-zero length and ends within the message (RFC 4861 7.1.1).
    pub fn nd_options_valid(&self) -> bool {
        let b = self.buf.as_ref();
        let mut at = field::ND_OPTIONS;
        while at < b.len() {
            let len = 8 * usize::from(get_u8(b, at + 1));
            if len == 0 || at + len > b.len() {
                return false;
            }
            at += len;
        }
        true
    }

    /// Whether the checksum verifies for a message from `src` to `dst`.
    pub fn checksum_ok(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum::ipv6_l4_verifies(src, dst, super::ipv6::NextHeader::ICMPV6, self.buf.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    pub fn set_msg_type(&mut self, t: u8) {
        put_u8(self.buf.as_mut(), field::TYPE, t);
    }
    pub fn set_code(&mut self, c: u8) {
        put_u8(self.buf.as_mut(), field::CODE, c);
    }
    pub fn set_na_flags(&mut self, flags: u8) {
        put_u8(self.buf.as_mut(), field::NA_FLAGS, flags);
    }
    pub fn set_nd_target(&mut self, target: Ipv6Addr) {
        put_bytes(self.buf.as_mut(), field::ND_TARGET.start, &target.octets());
    }
    /// Neighbor Solicitation or Advertisement: zeroes the reserved bytes
    /// (and an advertisement's flags) before the target.
    pub fn clear_nd_reserved(&mut self) {
        put_bytes(self.buf.as_mut(), field::NA_FLAGS, &[0; 4]);
    }
    /// Writes a link-layer address option of type `kind` ([`NdOption`])
    /// for `mac` as the first option; `false` if it does not fit.
    pub fn set_nd_link_layer(&mut self, kind: u8, mac: MacAddr) -> bool {
        let b = self.buf.as_mut();
        let Some(opt) = b.get_mut(field::ND_OPTIONS..field::ND_OPTIONS + LINK_LAYER_OPTION_LEN)
        else {
            return false;
        };
        opt[0] = kind;
        opt[1] = (LINK_LAYER_OPTION_LEN / 8) as u8;
        opt[2..].copy_from_slice(&mac.0);
        true
    }

    /// Computes and stores the checksum for a message from `src` to `dst`.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        put_be16(self.buf.as_mut(), field::CHECKSUM.start, 0);
        let b = self.buf.as_ref();
        let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
        let sum = checksum::ipv6_pseudo_header_sum(src, dst, super::ipv6::NextHeader::ICMPV6, len);
        let c = !checksum::fold(checksum::add_bytes(sum, b));
        put_be16(self.buf.as_mut(), field::CHECKSUM.start, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{IcmpEchoHeader, Icmpv6Header, Icmpv6Type as Theirs};
    use proptest::prelude::*;

    const SRC: [u8; 16] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const DST: [u8; 16] = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2];

    /// A message as etherparse writes it (checksum included).
    fn theirs(t: Theirs, payload: &[u8]) -> Vec<u8> {
        let h = Icmpv6Header::with_checksum(t, SRC, DST, payload).expect("fits");
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    /// A Neighbor Solicitation for `target` with options `opts`.
    fn solicitation(target: Ipv6Addr, opts: &[u8]) -> Vec<u8> {
        let mut payload = target.octets().to_vec();
        payload.extend_from_slice(opts);
        let t = Theirs::Unknown {
            type_u8: Icmpv6Type::NEIGHBOR_SOLICITATION,
            code_u8: 0,
            bytes5to8: [0; 4],
        };
        theirs(t, &payload)
    }

    #[test]
    fn echo_fields_and_checksum_read_as_etherparse_wrote_them() {
        let echo = IcmpEchoHeader { id: 0x1234, seq: 7 };
        let mut v = theirs(Theirs::EchoRequest(echo), b"ping");
        let p = Icmpv6Packet::new(&v[..]).unwrap();
        assert_eq!(p.msg_type(), Icmpv6Type::ECHO_REQUEST);
        assert_eq!(
            (p.echo_ident(), p.echo_seq(), p.body()),
            (0x1234, 7, &b"ping"[..])
        );
        assert!(p.checksum_ok(SRC.into(), DST.into()));
        // The pseudo-header counts: another destination does not verify.
        assert!(!p.checksum_ok(SRC.into(), SRC.into()));
        v[9] ^= 1;
        assert!(!Icmpv6Packet::new(&v[..])
            .unwrap()
            .checksum_ok(SRC.into(), DST.into()));
    }

    #[test]
    fn packet_too_big_carries_the_mtu_and_is_an_error() {
        let v = theirs(Theirs::PacketTooBig { mtu: 1280 }, &[0x60; 48]);
        let p = Icmpv6Packet::new(&v[..]).unwrap();
        assert_eq!((p.msg_type(), p.mtu(), p.body().len()), (2, 1280, 48));
        assert!(Icmpv6Type::is_error(p.msg_type()));
        assert!(!Icmpv6Type::is_error(Icmpv6Type::NEIGHBOR_SOLICITATION));
    }

    #[test]
    fn a_solicitation_names_its_target_and_the_sender_s_address() {
        let target: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let opt = [NdOption::SOURCE_LINK_LAYER, 1, 2, 0, 0, 0, 0, 9];
        let v = solicitation(target, &opt);
        let p = Icmpv6Packet::new(&v[..]).unwrap();
        assert_eq!(p.nd_target(), target);
        assert!(p.checksum_ok(SRC.into(), DST.into()));
        let mac = MacAddr([2, 0, 0, 0, 0, 9]);
        assert_eq!(p.nd_link_layer(NdOption::SOURCE_LINK_LAYER), Ok(Some(mac)));
        assert_eq!(p.nd_link_layer(NdOption::TARGET_LINK_LAYER), Ok(None));
        // Options of length 0 or past the end make the message invalid.
        let zero = solicitation(target, &[NdOption::SOURCE_LINK_LAYER, 0, 0, 0, 0, 0, 0, 0]);
        let p = Icmpv6Packet::new(&zero[..]).unwrap();
        assert_eq!(p.nd_link_layer(1), Err(DropReason::TruncatedL4));
        let long = solicitation(target, &[NdOption::SOURCE_LINK_LAYER, 2, 0, 0, 0, 0, 0, 0]);
        let p = Icmpv6Packet::new(&long[..]).unwrap();
        assert_eq!(p.nd_link_layer(1), Err(DropReason::TruncatedL4));
        // A solicitation too short for its target is refused.
        assert!(Icmpv6Packet::new(&v[..20]).is_err());
        assert!(Icmpv6Packet::new(&v[..7]).is_err());
    }

    #[test]
    fn an_advertisement_we_write_verifies_and_reads_back() {
        let target: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let mut v = vec![0u8; ND_LEN + LINK_LAYER_OPTION_LEN];
        let mut p = Icmpv6Packet::new(&mut v[..]).unwrap();
        p.set_msg_type(Icmpv6Type::NEIGHBOR_ADVERTISEMENT);
        p.set_na_flags(NaFlags::SOLICITED | NaFlags::OVERRIDE);
        p.set_nd_target(target);
        p.fill_checksum(SRC.into(), DST.into());
        let p = Icmpv6Packet::new(&v[..]).unwrap();
        assert!(p.checksum_ok(SRC.into(), DST.into()));
        assert_eq!((p.na_flags(), p.nd_target()), (0x60, target));
        let parsed = etherparse::Icmpv6Slice::from_slice(&v).expect("etherparse reads it");
        assert!(parsed.is_checksum_valid(SRC, DST));
    }

    proptest! {
        /// Our checksum of any message equals etherparse's.
        #[test]
        fn our_checksum_is_etherparse_s(
            t in any::<u8>(),
            code in any::<u8>(),
            rest in any::<[u8; 4]>(),
            payload in proptest::collection::vec(any::<u8>(), 16..200),
        ) {
            let them = Theirs::Unknown { type_u8: t, code_u8: code, bytes5to8: rest };
            let want = theirs(them, &payload);
            let mut ours = want.clone();
            ours[2..4].copy_from_slice(&[0xab, 0xcd]);
            Icmpv6Packet::new(&mut ours[..]).unwrap().fill_checksum(SRC.into(), DST.into());
            prop_assert_eq!(ours, want);
        }
    }
}
