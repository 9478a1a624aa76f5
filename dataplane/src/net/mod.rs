//! What the appliance answers itself: ARP for its addresses (and
//! Neighbour Discovery for its IPv6 ones, `nd`), neighbour
//! resolution with a bounded wait queue, ICMP echo and ICMP errors, and the
//! route table.

pub mod addrs;
pub mod arp;
pub mod hop_cache;
pub mod icmp;
pub mod icmp6;
pub mod mld;
pub mod nd;
pub mod neighbour;
pub mod route;
