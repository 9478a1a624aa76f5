//! Gratuitous ARP again for one port (`Pipeline::announce_port`): what a
//! bonded port sends when its active member changes (docs/bonding.md).

use std::net::Ipv4Addr;

use super::tests::*;

const NONE: [Vec<Ipv4Addr>; 2] = [Vec::new(), Vec::new()];
use crate::buf::TestBuf;
use crate::io::MemoryIo;
use crate::tables::{self, Interface, LbConfig, Mode, PortSetup};
use crate::wire::ethernet::MacAddr;
use crate::wire::ArpPacket;

/// Two ports: port 0 with 10.0.0.1 and 10.0.1.1 (and the VIP, inside
/// neither prefix, so announced on every interface), port 1 with 10.0.9.1.
fn two_ports(count: u32) -> LbConfig {
    let mut cfg = config(vec![service(Mode::Nat, IpProto::TCP)]);
    cfg.ports.push(PortSetup {
        mac: MacAddr([0x02, 0, 0, 0, 0, 0xbb]),
        mtu: 1500,
    });
    cfg.interfaces.push(Interface {
        port: 1,
        vlan: None,
        addrs: vec![(Ipv4Addr::new(10, 0, 9, 1), 24)],
        addrs6: Vec::new(),
    });
    cfg.garp = tables::Garp {
        count,
        interval_ms: 1000,
    };
    cfg
}

/// Polls once at `now`; the gratuitous ARPs sent on each port.
fn garps(p: &mut super::Pipeline<TestBuf>, now: u64) -> [Vec<Ipv4Addr>; 2] {
    let mut io = MemoryIo::new(vec![Vec::new(), Vec::new()]);
    p.poll(&mut io, now);
    [0, 1].map(|port| {
        io.sent_frames(port)
            .iter()
            .filter_map(|f| ArpPacket::new(f.get(14..)?).ok())
            .filter(|a| a.sender_ip() == a.target_ip())
            .map(|a| a.sender_ip())
            .collect()
    })
}

#[test]
fn a_port_announces_its_addresses_again_when_asked() {
    let mut p = pipeline(&two_ports(1));
    let vip = ip(VIP);
    let [zero, one] = garps(&mut p, 1);
    assert!(zero.contains(&Ipv4Addr::new(10, 0, 0, 1)) && one.contains(&vip));
    // Start-up's single round is done: nothing more.
    assert_eq!(garps(&mut p, 5000), NONE);

    // Port 0's active member changed: its addresses, and the VIP that
    // every interface announces, go out on port 0 only.
    assert_eq!(p.announce_port(0, 6000), 3);
    let [zero, one] = garps(&mut p, 6000);
    let mut zero_sorted = zero.clone();
    zero_sorted.sort();
    assert_eq!(
        zero_sorted,
        [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 1, 1), vip]
    );
    assert!(one.is_empty(), "port 1 did not change: {one:?}");
    assert_eq!(garps(&mut p, 8000), NONE, "count = 1: once");
}

#[test]
fn no_announcement_when_gratuitous_arp_is_off_or_on_other_workers() {
    let mut off = pipeline(&two_ports(0));
    assert_eq!(off.announce_port(0, 10), 0);
    assert_eq!(garps(&mut off, 10), NONE);
    // Worker 1 of 2 never sends gratuitous ARP (worker 0 does).
    let tables = std::sync::Arc::new(tables::LbTables::build(&two_ports(1)).expect("tables"));
    let mut w1 = super::Pipeline::<TestBuf>::new(tables, 1, 2, 0).expect("pipeline");
    assert_eq!(w1.announce_port(0, 10), 0);
}
