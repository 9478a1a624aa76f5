//! The client's address for FULLNAT backends (`client_addr`), where the
//! pipeline meets it: TOA on a TCP service's handshake, the PROXY header
//! on a UDP session's first datagram. Both run only when some service
//! asks for them (`LbTables::client_addr`), and return the packet's new
//! metadata when it grew.

use std::net::Ipv4Addr;

use super::Datapath;
use crate::buf::PacketBuf;
use crate::client_addr::proxy_header::{Endpoints, ProxyVersion};
use crate::client_addr::{toa, udp, Skip};
use crate::flow::table::Forwarding;
use crate::flow::{Origin, ProtoState, SessionId, TcpState};
use crate::packet::Ipv4Meta;
use crate::rewrite::clamp_mss;
use crate::tables::LbTables;
use crate::wire::tcp::TcpFlags;

/// Whether the service of `origin` sends TOA.
pub(super) fn sends_toa(t: &LbTables, origin: Origin) -> bool {
    let Origin::Service(s) = origin else {
        return false;
    };
    t.services.get(s as usize).is_some_and(|s| s.spec.toa)
}

impl<P: PacketBuf> Datapath<P> {
    /// A client's TCP packet of a FULLNAT session (`before`: the session's
    /// state before it) through a service with `toa`: a SYN's MSS lowered
    /// by the option's length, and the option added to the ACK that ends
    /// the handshake (the session leaves SYN_RECV). Some(meta) when the
    /// packet grew.
    #[cold]
    pub(super) fn add_toa(
        &mut self,
        t: &LbTables,
        origin: Origin,
        pkt: &mut P,
        meta: &Ipv4Meta,
        flags: u8,
        before: ProtoState,
    ) -> Option<Ipv4Meta> {
        if !sends_toa(t, origin) {
            return None;
        }
        if flags & (TcpFlags::SYN | TcpFlags::ACK) == TcpFlags::SYN {
            let lowered = pkt
                .data()
                .get(meta.l4_offset..)
                .and_then(toa::lowered_mss)?;
            if clamp_mss(pkt.data_mut(), meta, lowered) {
                self.counters.events.toa_mss_lowered += 1;
            }
            return None;
        }
        let handshake_ack = flags & (TcpFlags::SYN | TcpFlags::RST | TcpFlags::ACK)
            == TcpFlags::ACK
            && before == ProtoState::Tcp(TcpState::SynRecv);
        if !handshake_ack {
            return None;
        }
        self.insert_toa(t, pkt, meta, (meta.tuple.src, meta.tuple.src_port))
    }

    /// The TOA option for `client` added to the TCP segment of `pkt`,
    /// counted. Some(meta) when the packet grew.
    pub(super) fn insert_toa(
        &mut self,
        t: &LbTables,
        pkt: &mut P,
        meta: &Ipv4Meta,
        client: (Ipv4Addr, u16),
    ) -> Option<Ipv4Meta> {
        let e = &mut self.counters.events;
        match toa::insert(pkt, meta.l3_offset, client, t.min_mtu) {
            Ok(()) => {
                e.toa_added += 1;
                Some(Ipv4Meta {
                    total_len: meta.total_len + toa::LEN as u16,
                    ..*meta
                })
            }
            Err(Skip::OptionsFull) => {
                e.toa_options_full += 1;
                None
            }
            Err(_) => {
                e.toa_no_room += 1;
                None
            }
        }
    }

    /// The first datagram of session `id` (just made): with a FULLNAT
    /// service that sends the PROXY protocol, the version 2 header before
    /// its payload, naming the client and the VIP it sent to. Some(meta)
    /// when the packet grew.
    #[cold]
    pub(super) fn add_proxy_header(
        &mut self,
        t: &LbTables,
        id: SessionId,
        pkt: &mut P,
        meta: &Ipv4Meta,
    ) -> Option<Ipv4Meta> {
        let session = self.flow.sessions().get(id);
        let (Origin::Service(s), Forwarding::FullNat) = (session.origin(), session.forwarding())
        else {
            return None;
        };
        let spec = &t.services.get(s as usize)?.spec;
        if spec.proxy_protocol != Some(ProxyVersion::V2) {
            return None;
        }
        if meta.fragment.is_some() {
            // The header would have to go into the first fragment and every
            // later one move by its 28 bytes, which fragment offsets (8-byte
            // units) cannot say. Such a service's fragments are reassembled
            // first (`reasm.rs`), so this is a guard: the datagram goes on
            // whole, without the header.
            self.counters.events.proxy_v2_fragmented += 1;
            return None;
        }
        let ends = Endpoints {
            src: (meta.tuple.src, meta.tuple.src_port),
            dst: (meta.tuple.dst, meta.tuple.dst_port),
        };
        // Without DF the datagram may pass the MTU: egress fragments it.
        let limit = match meta.dont_fragment {
            true => t.min_mtu,
            false => u16::MAX,
        };
        match udp::prepend_v2(pkt, meta.l3_offset, ends, limit) {
            Ok(()) => {
                self.counters.events.proxy_v2_added += 1;
                Some(Ipv4Meta {
                    total_len: meta.total_len
                        + crate::client_addr::proxy_header::V2_IPV4_LEN as u16,
                    ..*meta
                })
            }
            Err(_) => {
                self.counters.events.proxy_v2_no_room += 1;
                None
            }
        }
    }
}
