//! IPv6 frames the replay cases of the IPv6 modes share (`replay_nat6`,
//! `replay_fullnat6`, `replay_nat64`): TCP segments and the Neighbour
//! Discovery exchange by which ferrolb resolves a neighbour on its one
//! arm, each built by etherparse (its checksums).

use std::net::Ipv6Addr;

use etherparse::{Icmpv6Type, PacketBuilder};

use super::lb::{Mac, LAN_MAC};

/// ferrolb's IPv6 address on its one arm (`lan`).
pub const OUR6: &str = "2001:db8::1";

pub fn a6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().expect("address").octets()
}

/// `one_arm_config()` with `extra` IPv6 addresses ("2001:db8::1/64" and
/// the like) on its one interface, after its two IPv4 ones.
pub fn one_arm_config6(extra: &[&str]) -> String {
    let base = super::lb::one_arm_config();
    let from = r#"addresses = ["10.0.0.1/24", "10.0.1.1/24"]"#;
    assert!(
        base.contains(from),
        "the one-arm config's interface line moved"
    );
    let more: String = extra.iter().map(|a| format!(", \"{a}\"")).collect();
    base.replace(
        from,
        &format!(r#"addresses = ["10.0.0.1/24", "10.0.1.1/24"{more}]"#),
    )
}

/// A TCP segment over IPv6 with no data, SYN and/or ACK as `syn_ack` says.
pub fn seg(
    macs: (Mac, Mac),
    src: (&str, u16),
    dst: (&str, u16),
    hop: u8,
    syn_ack: (bool, bool),
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(a6(src.0), a6(dst.0), hop)
        .tcp(src.1, dst.1, 7, 64240);
    if syn_ack.0 {
        b = b.syn();
    }
    if syn_ack.1 {
        b = b.ack(1000);
    }
    let mut v = Vec::new();
    b.write(&mut v, b"").expect("writes");
    v
}

pub fn icmp6(
    macs: (Mac, Mac),
    src: &str,
    dst: &str,
    hop: u8,
    t: Icmpv6Type,
    body: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(a6(src), a6(dst), hop)
        .icmpv6(t)
        .write(&mut v, body)
        .expect("writes");
    v
}

/// ND's target and one link-layer option.
fn nd_body(target: &str, option: (u8, Mac)) -> Vec<u8> {
    let mut v = a6(target).to_vec();
    v.extend_from_slice(&[option.0, 1]);
    v.extend_from_slice(&option.1);
    v
}

fn nd(macs: (Mac, Mac), src: &str, dst: &str, kind: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let t = Icmpv6Type::Unknown {
        type_u8: kind,
        code_u8: 0,
        bytes5to8: rest,
    };
    icmp6(macs, src, dst, 255, t, body)
}

/// Our solicitation for `addr`, from our address on its prefix.
pub fn our_solicitation(addr: &str) -> Vec<u8> {
    let o = a6(addr);
    let group = Ipv6Addr::from([
        0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ]);
    let gm = group.octets();
    let mac = [0x33, 0x33, gm[12], gm[13], gm[14], gm[15]];
    let body = nd_body(addr, (1, LAN_MAC));
    nd((LAN_MAC, mac), OUR6, &group.to_string(), 135, [0; 4], &body)
}

/// `addr`'s solicited answer to our solicitation, from `mac`.
pub fn answer(addr: &str, mac: Mac) -> Vec<u8> {
    let body = nd_body(addr, (2, mac));
    nd((mac, LAN_MAC), addr, OUR6, 136, [0x60, 0, 0, 0], &body)
}

/// A UDP datagram over IPv6 with `payload`, built (and summed) by
/// etherparse.
pub fn udp6(
    macs: (Mac, Mac),
    src: (&str, u16),
    dst: (&str, u16),
    hop: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(a6(src.0), a6(dst.0), hop)
        .udp(src.1, dst.1)
        .write(&mut v, payload)
        .expect("writes");
    v
}

/// One IPv6 fragment of `data` at byte `offset` of its datagram: `eth`,
/// the fixed header `ip` (its next header and length rewritten), a
/// fragment header (RFC 8200 4.5, written by hand: etherparse 0.16's
/// `Ipv6FragmentHeader` puts the M flag and the offset's low bits where
/// the RFC does not) whose next header is `next`.
pub fn fragment6_piece(
    eth: &[u8],
    ip: &[u8],
    next: u8,
    (offset, more, ident): (usize, bool, u32),
    data: &[u8],
) -> Vec<u8> {
    assert_eq!(offset % 8, 0, "fragment offsets are in 8-byte units");
    let word = offset as u16 | u16::from(more);
    let mut v = eth.to_vec();
    v.extend_from_slice(ip);
    v[14 + 6] = 44;
    v[14 + 4..14 + 6].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    v.extend_from_slice(&[next, 0]);
    v.extend_from_slice(&word.to_be_bytes());
    v.extend_from_slice(&ident.to_be_bytes());
    v.extend_from_slice(data);
    v
}

/// The IPv6 packet of `frame` (Ethernet, no extension headers) split into
/// fragments of `chunk` bytes of its payload (a multiple of 8) with
/// identification `ident`, as its sender would.
pub fn fragment6(frame: &[u8], chunk: usize, ident: u32) -> Vec<Vec<u8>> {
    let (eth, ip, payload) = (&frame[..14], &frame[14..54], &frame[54..]);
    payload
        .chunks(chunk)
        .enumerate()
        .map(|(i, data)| {
            let more = (i + 1) * chunk < payload.len();
            fragment6_piece(eth, ip, ip[6], (i * chunk, more, ident), data)
        })
        .collect()
}
