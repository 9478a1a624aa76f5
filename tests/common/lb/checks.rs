//! Checks on what came out of a replay: every frame's checksums,
//! computed from scratch (IPv4 header, TCP, UDP, ICMP and ICMPv6; IPIP
//! outer and inner; an ICMP error's quoted header).

use etherparse::{
    EtherType, Ethernet2Header, Icmpv4Header, Icmpv4Type, IpNumber, Ipv4Header, TcpHeader,
    UdpHeader,
};

/// Panics unless every IPv4 frame in `frames` has a valid IPv4 header
/// checksum and a valid TCP, UDP or ICMP checksum; IPIP is checked outer
/// and inner, and an ICMP error's quoted IPv4 header is checked too. ARP
/// frames have no checksum; any other EtherType fails.
pub fn assert_checksums_valid(port: &str, frames: &[Vec<u8>]) {
    for (i, f) in frames.iter().enumerate() {
        if let Err(why) = check_frame(f) {
            panic!(
                "port {port}: frame {i}: {why}\n{}",
                super::super::decode(f)
                    .iter()
                    .map(|(k, v)| format!("  {k:<18} {v}\n"))
                    .collect::<String>()
            );
        }
    }
}

fn check_frame(f: &[u8]) -> Result<(), String> {
    let (eth, mut rest) = Ethernet2Header::from_slice(f).map_err(|e| e.to_string())?;
    let mut ether_type = eth.ether_type;
    if ether_type == EtherType::VLAN_TAGGED_FRAME {
        if rest.len() < 4 {
            return Err("truncated VLAN tag".into());
        }
        ether_type = EtherType(u16::from_be_bytes([rest[2], rest[3]]));
        rest = &rest[4..];
    }
    match ether_type {
        EtherType::ARP => {
            if rest.len() < 28 {
                Err(format!("ARP of {} bytes", rest.len()))
            } else {
                Ok(())
            }
        }
        EtherType::IPV4 => check_ipv4(rest, "ip"),
        EtherType::IPV6 => check_icmpv6(rest),
        other => Err(format!("unexpected EtherType {other:?}")),
    }
}

/// What the appliance sends on IPv6 (issue 20): ICMPv6 right after the
/// fixed header (or, for MLD, after a Hop-by-Hop header), its checksum
/// valid; or TCP and UDP that DR forwarded, their checksums valid; or an
/// IPv6 packet inside IPv6 (TUN), checked the same way.
fn check_icmpv6(p: &[u8]) -> Result<(), String> {
    let (h, rest) = etherparse::Ipv6Header::from_slice(p).map_err(|e| format!("ipv6: {e}"))?;
    let payload = rest
        .get(..usize::from(h.payload_length))
        .ok_or("ipv6: payload length past the frame")?;
    let (next, msg) = match h.next_header {
        IpNumber::IPV6_HEADER_HOP_BY_HOP => {
            let (x, msg) = etherparse::Ipv6RawExtHeader::from_slice(payload)
                .map_err(|e| format!("ipv6 hop-by-hop: {e}"))?;
            (x.next_header, msg)
        }
        n => (n, payload),
    };
    // An IPv6 fragment: its L4 checksum covers the whole datagram, so
    // there is nothing of its own to check (the fragment cases compare
    // fragments frame by frame, and put them back together).
    if next == IpNumber::IPV6_FRAGMENTATION_HEADER {
        return Ok(());
    }
    // TUN over IPv6: the inner packet is checked as one of its own.
    if next == IpNumber::IPV6 {
        return check_icmpv6(msg).map_err(|e| format!("inner {e}"));
    }
    // DR over IPv6 (stage 2b) forwards TCP and UDP as received.
    if next == IpNumber::TCP {
        let (t, data) = TcpHeader::from_slice(msg).map_err(|e| format!("tcp: {e}"))?;
        let want = t
            .calc_checksum_ipv6(&h, data)
            .map_err(|e| format!("tcp: {e}"))?;
        return match want == t.checksum {
            true => Ok(()),
            false => Err(format!(
                "tcp over ipv6: checksum {:#x}, want {want:#x}",
                t.checksum
            )),
        };
    }
    if next == IpNumber::UDP {
        let (u, data) = UdpHeader::from_slice(msg).map_err(|e| format!("udp: {e}"))?;
        let want = u
            .calc_checksum_ipv6(&h, data)
            .map_err(|e| format!("udp: {e}"))?;
        return match want == u.checksum {
            true => Ok(()),
            false => Err(format!(
                "udp over ipv6: checksum {:#x}, want {want:#x}",
                u.checksum
            )),
        };
    }
    if next != IpNumber::IPV6_ICMP {
        return Err(format!(
            "ipv6: next header {next:?}, not ICMPv6, TCP or UDP"
        ));
    }
    let m = etherparse::Icmpv6Slice::from_slice(msg).map_err(|e| format!("icmpv6: {e}"))?;
    match m.is_checksum_valid(h.source, h.destination) {
        true => Ok(()),
        false => Err("icmpv6: bad checksum".into()),
    }
}

fn check_ipv4(p: &[u8], what: &str) -> Result<(), String> {
    let (h, _) = Ipv4Header::from_slice(p).map_err(|e| format!("{what}: {e}"))?;
    let want = h.calc_header_checksum();
    if h.header_checksum != want {
        return Err(format!(
            "{what}: IPv4 header checksum {:#06x}, should be {want:#06x}",
            h.header_checksum
        ));
    }
    let total = usize::from(h.total_len);
    if total > p.len() {
        return Err(format!(
            "{what}: total length {total} past the {} bytes there",
            p.len()
        ));
    }
    let payload = &p[h.header_len()..total];
    // A fragment's L4 checksum covers the whole datagram: the header's is
    // all there is to check here (cases compare fragments frame by frame).
    if h.more_fragments || h.fragment_offset.value() != 0 {
        return Ok(());
    }
    match h.protocol {
        IpNumber::TCP => {
            let (t, data) = TcpHeader::from_slice(payload).map_err(|e| format!("{what}: {e}"))?;
            let want = t
                .calc_checksum_ipv4(&h, data)
                .map_err(|e| format!("{what}: {e}"))?;
            if t.checksum != want {
                return Err(format!(
                    "{what}: TCP checksum {:#06x}, should be {want:#06x}",
                    t.checksum
                ));
            }
        }
        IpNumber::UDP => {
            let (u, data) = UdpHeader::from_slice(payload).map_err(|e| format!("{what}: {e}"))?;
            if u.checksum != 0 {
                let want = u
                    .calc_checksum_ipv4(&h, data)
                    .map_err(|e| format!("{what}: {e}"))?;
                if u.checksum != want {
                    return Err(format!(
                        "{what}: UDP checksum {:#06x}, should be {want:#06x}",
                        u.checksum
                    ));
                }
            }
        }
        IpNumber::ICMP => {
            let (i, data) =
                Icmpv4Header::from_slice(payload).map_err(|e| format!("{what}: {e}"))?;
            let want = Icmpv4Header::with_checksum(i.icmp_type.clone(), data).checksum;
            if i.checksum != want {
                return Err(format!(
                    "{what}: ICMP checksum {:#06x}, should be {want:#06x}",
                    i.checksum
                ));
            }
            if matches!(
                i.icmp_type,
                Icmpv4Type::DestinationUnreachable(_)
                    | Icmpv4Type::TimeExceeded(_)
                    | Icmpv4Type::ParameterProblem(_)
            ) {
                let (q, _) =
                    Ipv4Header::from_slice(data).map_err(|e| format!("{what} quote: {e}"))?;
                let want = q.calc_header_checksum();
                if q.header_checksum != want {
                    return Err(format!(
                        "{what}: quoted IPv4 header checksum {:#06x}, should be {want:#06x}",
                        q.header_checksum
                    ));
                }
            }
        }
        IpNumber::IPV4 => check_ipv4(payload, "inner ip")?,
        other => return Err(format!("{what}: unexpected protocol {other:?}")),
    }
    Ok(())
}
