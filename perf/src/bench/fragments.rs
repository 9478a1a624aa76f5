//! The fragmented-UDP rows (`nat-frag`, `fullnat-frag`, issue 24): UDP
//! flows whose looped datagrams arrive in fragments, through a NAT or a
//! FULLNAT UDP service, both directions.
//!
//! Each flow opens with one small datagram on the `prime` port (as in the
//! other established rows); then every client datagram and every reply is
//! a [`DATAGRAM_BYTES`]-byte UDP payload cut into [`FRAGMENTS`] fragments
//! of at most [`FRAGMENT_MTU`] bytes of IP (two of 1514-byte frames and one
//! of 82), the fragments of a datagram in order and next to each other in
//! the pcap. ferrolb never reassembles: the first fragment carries the UDP
//! header and hits the session, the two later ones take its decision from
//! the fragment table (docs/fragments-and-mtu.md).

use control::api::StatsReply;
use etherparse::{IpFragOffset, Ipv4Header, PacketBuilder};

use super::traffic::{
    self, backend_mac, Flow, Plan, Traffic, CLIENT_PORT_MAC, PRIME_MAC, ROUTER_MAC, RPORT,
    SERVERS_PORT_MAC, VIP, VPORT,
};
use crate::frames::Mac;

/// UDP payload of every looped datagram.
pub const DATAGRAM_BYTES: usize = 3000;
/// Largest fragment, IP header included (the ports' MTU).
pub const FRAGMENT_MTU: usize = 1500;
/// Fragments per datagram: 3008 bytes of UDP in 1480 + 1480 + 48.
pub const FRAGMENTS: usize = 3;

/// The UDP datagram `src` -> `dst` with `payload`, its IPv4 payload cut
/// into fragments of at most `mtu` bytes of IP (offsets in 8-byte units),
/// each a whole Ethernet frame with its own IPv4 header checksum; `ident`
/// is the datagram's IP identification. The UDP checksum covers the whole
/// datagram, as a sender that fragments computes it.
pub fn fragmented_udp(
    macs: (Mac, Mac),
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    ident: u16,
    payload: &[u8],
    mtu: usize,
) -> Vec<Vec<u8>> {
    let whole = {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(macs.0, macs.1)
            .ipv4(src.0, dst.0, 64)
            .udp(src.1, dst.1)
            .write(&mut v, payload)
            .expect("build datagram");
        v
    };
    let l4 = &whole[14 + 20..];
    let chunk = (mtu - 20) / 8 * 8;
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < l4.len() {
        let end = (offset + chunk).min(l4.len());
        let mut h = Ipv4Header::new(
            (end - offset) as u16,
            64,
            etherparse::IpNumber::UDP,
            src.0,
            dst.0,
        )
        .expect("fragment header");
        h.identification = ident;
        h.more_fragments = end < l4.len();
        h.fragment_offset = IpFragOffset::try_new((offset / 8) as u16).expect("offset fits");
        h.header_checksum = h.calc_header_checksum();
        let mut f = whole[..14].to_vec();
        h.write(&mut f).expect("write header");
        f.extend_from_slice(&l4[offset..end]);
        out.push(f);
        offset = end;
    }
    out
}

/// Payload of flow `i`'s datagrams: a pattern that differs per flow.
fn payload(i: usize) -> Vec<u8> {
    (0..DATAGRAM_BYTES).map(|j| (i + j) as u8).collect()
}

/// The frames of a fragmented row: `prime` opens each flow with one small
/// datagram, `client` loops each flow's fragmented datagram to the VIP,
/// `servers` loops the replies fragmented (NAT: from the rr backend to the
/// client; FULLNAT: to every (backend, local address, local port)).
pub fn traffic(plan: &Plan, flows: &[Flow], seed: u64) -> Traffic {
    let mut t = Traffic::default();
    for (i, f) in flows.iter().enumerate() {
        t.prime.push(traffic::frame(
            false,
            (ROUTER_MAC, PRIME_MAC),
            (f.cip, f.cport),
            (VIP, VPORT),
            i as u32,
            false,
        ));
        t.client.extend(fragmented_udp(
            (ROUTER_MAC, CLIENT_PORT_MAC),
            (f.cip, f.cport),
            (VIP, VPORT),
            i as u16,
            &payload(i),
            FRAGMENT_MTU,
        ));
    }
    if plan.mode.base() == traffic::Mode::FullnatFrag {
        for (i, (_, rip, lip, lport)) in traffic::fullnat_reply_tuples(plan, seed)
            .into_iter()
            .enumerate()
        {
            t.servers.extend(fragmented_udp(
                (backend_mac(rip), SERVERS_PORT_MAC),
                (rip, RPORT),
                (lip, lport),
                i as u16,
                &payload(i),
                FRAGMENT_MTU,
            ));
        }
    } else {
        // rr: the k-th flow to the k-th backend in turn (all UDP).
        for (k, f) in flows.iter().enumerate() {
            let rip = plan.backends[k % plan.backends.len()];
            t.servers.extend(fragmented_udp(
                (backend_mac(rip), SERVERS_PORT_MAC),
                (rip, RPORT),
                (f.cip, f.cport),
                k as u16,
                &payload(k),
                FRAGMENT_MTU,
            ));
        }
    }
    t
}

/// perfrun's check of a fragmented row's window (notes for the reader;
/// none when clean): every datagram is a first fragment and two later
/// ones, and the later ones must have taken their first's decision
/// (`frag_forwarded`), not been held or refused. The two stats replies
/// can fall between a datagram's fragments, hence the slack; and the
/// worker's packet counters and its event counters are published
/// separately (seen 1% apart on a loaded machine), hence 2% against TX.
pub fn window_notes(s0: &StatsReply, s1: &StatsReply) -> Vec<String> {
    let ev = |name: &str| {
        let of = |s: &StatsReply| s.events.get(name).copied().unwrap_or(0);
        of(s1).saturating_sub(of(s0))
    };
    let tx = {
        let of = |s: &StatsReply| s.workers.first().map_or(0, |w| w.tx_packets);
        of(s1).saturating_sub(of(s0))
    };
    let (first, later) = (ev("frag_first"), ev("frag_forwarded"));
    let per = FRAGMENTS as u64;
    let mut notes = Vec::new();
    if first == 0 || later.abs_diff(first * (per - 1)) > 64 + later / 1000 {
        notes.push(format!(
            "fragments in window: {first} first, {later} later forwarded (want {} later per first)",
            per - 1
        ));
    }
    if (first + later).abs_diff(tx) > 64 + tx / 50 {
        notes.push(format!(
            "{tx} packets sent but {} fragments forwarded",
            first + later
        ));
    }
    if ev("frag_held") > 0 {
        notes.push(format!("{} later fragments held", ev("frag_held")));
    }
    notes
}
