use etherparse::{PacketBuilder, PacketHeaders, TcpOptionElement as Opt, TransportHeader};

use super::*;
use crate::buf::TestBuf;
use crate::packet::{classify, Classified};
use crate::testutil::{assert_checksums_verify, CLIENT_MAC, OUR_MAC};

/// A client's SYN (MSS, SACK permitted, timestamp, window scale), with
/// `payload`, optionally VLAN-tagged.
fn syn(payload: &[u8], vlan: Option<u16>) -> Vec<u8> {
    let mut v = Vec::new();
    let tcp = PacketBuilder::ethernet2(CLIENT_MAC, OUR_MAC)
        .ipv4([10, 0, 0, 1], [192, 0, 2, 10], 61)
        .tcp(40000, 80, 0x1234_5678, 64240)
        .syn()
        .options(&[
            Opt::MaximumSegmentSize(1460),
            Opt::SelectiveAcknowledgementPermitted,
            Opt::Timestamp(111, 0),
            Opt::Noop,
            Opt::WindowScale(7),
        ])
        .expect("options fit");
    tcp.write(&mut v, payload).expect("writes");
    match vlan {
        Some(vid) => crate::testutil::vlan_tag(&v, vid),
        None => v,
    }
}

fn meta_of(frame: &[u8]) -> Ipv4Meta {
    match classify(frame) {
        Ok(Classified::Ipv4(m)) => m,
        other => panic!("not IPv4: {other:?}"),
    }
}

#[test]
fn a_syn_becomes_a_syn_ack_back_to_its_sender() {
    for (payload, vlan) in [
        (&b""[..], None),
        (&b"early data"[..], None),
        (&b""[..], Some(7)),
    ] {
        let frame = syn(payload, vlan);
        let meta = meta_of(&frame);
        let mut pkt = TestBuf::new(&frame);
        let opts = SynOptions {
            mss: 1460,
            wscale: Some(7),
            sack_permitted: true,
            timestamp: Some((0xabcd, 111)),
        };
        let seg = Segment::new(
            99,
            0x1234_5679,
            tcp::TcpFlags::SYN | tcp::TcpFlags::ACK,
            65535,
        )
        .with_syn_options(&opts);
        rewrite_segment(&mut pkt, &meta, &seg, Way::Back).expect("fits");
        let out = pkt.data();
        assert_checksums_verify(out);
        let p = PacketHeaders::from_ethernet_slice(out).expect("parses");
        let eth = p.link.expect("ethernet").ethernet2().expect("ethernet II");
        assert_eq!((eth.source, eth.destination), (OUR_MAC, CLIENT_MAC));
        assert_eq!(p.vlan.is_some(), vlan.is_some());
        let Some(etherparse::NetHeaders::Ipv4(ip, _)) = &p.net else {
            panic!("ipv4")
        };
        assert_eq!(
            (ip.source, ip.destination, ip.time_to_live),
            ([192, 0, 2, 10], [10, 0, 0, 1], TTL)
        );
        let Some(TransportHeader::Tcp(t)) = &p.transport else {
            panic!("tcp")
        };
        assert_eq!((t.source_port, t.destination_port), (80, 40000));
        assert_eq!(
            (t.sequence_number, t.acknowledgment_number),
            (99, 0x1234_5679)
        );
        assert!(t.syn && t.ack && !t.fin && !t.rst && !t.psh);
        assert_eq!(t.window_size, 65535);
        assert!(p.payload.slice().is_empty(), "the payload is dropped");
        let read: Vec<_> = t.options_iterator().map(|o| o.expect("option")).collect();
        assert!(read.contains(&Opt::MaximumSegmentSize(1460)));
        assert!(read.contains(&Opt::Timestamp(0xabcd, 111)));
        assert!(read.contains(&Opt::WindowScale(7)));
        assert!(read.contains(&Opt::SelectiveAcknowledgementPermitted));
        // Our own classifier reads what rewritten_meta says.
        assert_eq!(meta_of(out), rewritten_meta(&meta, &seg, Way::Back));
    }
}

#[test]
fn on_keeps_the_direction_and_a_full_buffer_is_refused_untouched() {
    let frame = syn(b"", None);
    let meta = meta_of(&frame);
    let seg = Segment::new(5, 6, tcp::TcpFlags::ACK, 100).with_timestamp(1, 2);
    let mut pkt = TestBuf::new(&frame);
    rewrite_segment(&mut pkt, &meta, &seg, Way::On).expect("fits");
    assert_checksums_verify(pkt.data());
    assert_eq!(meta_of(pkt.data()), rewritten_meta(&meta, &seg, Way::On));
    // Growing needs tailroom: a buffer with none refuses, unchanged.
    let small = Segment::new(5, 6, tcp::TcpFlags::ACK, 100);
    let mut bare = frame.clone();
    bare.truncate(meta.l4_offset + 20); // a SYN with no options
    let bare_meta = {
        let mut f = bare.clone();
        f[meta.l3_offset + 2..meta.l3_offset + 4].copy_from_slice(&40u16.to_be_bytes());
        f[meta.l4_offset + 12] = 0x50;
        crate::testutil::fix_ipv4_checksum(&mut f, meta.l3_offset);
        bare = f;
        meta_of(&bare)
    };
    let mut tight = TestBuf::with_room(&bare, 0, 0);
    let big = small.clone().with_syn_options(&SynOptions {
        mss: 1460,
        wscale: Some(7),
        sack_permitted: true,
        timestamp: Some((1, 2)),
    });
    assert_eq!(
        rewrite_segment(&mut tight, &bare_meta, &big, Way::Back),
        Err(DropReason::NoBufferRoom)
    );
    assert_eq!(tight.data(), &bare[..]);
}
