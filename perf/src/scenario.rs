//! The one-armed scenario the control-plane tests and `ctlbench` share: a
//! FULLNAT UDP service that replayed client traffic keeps busy while the
//! config changes.

use crate::frames;

/// One port (`lan`, our MAC `frames::LB_MAC`): clients behind the router
/// 10.0.0.254, servers 10.0.1.11-13 with static neighbours, and the DNS
/// service udp/192.0.2.20:53 (FULLNAT from 10.0.1.100, rr over .11 and
/// .12). Everything but `[eal]`, `[control]`, `[[port]]` and `[workers]`.
pub const ONE_ARMED_DNS: &str = r#"
[sessions]
capacity = 65536

[[interface]]
port = "lan"
addresses = ["10.0.0.1/24", "10.0.1.1/24"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.0.254"

[[neighbour]]
address = "10.0.0.254"
mac = "02:00:00:00:00:01"

[[neighbour]]
address = "10.0.1.11"
mac = "02:00:00:00:01:0b"

[[neighbour]]
address = "10.0.1.12"
mac = "02:00:00:00:01:0c"

[[neighbour]]
address = "10.0.1.13"
mac = "02:00:00:00:01:0d"

[[service]]
name = "dns"
vip = "192.0.2.20"
protocol = "udp"
port = 53
mode = "fullnat"
scheduler = "rr"
local_addresses = ["10.0.1.100"]

[[service.backend]]
address = "10.0.1.11"

[[service.backend]]
address = "10.0.1.12"
"#;

/// `flows` UDP flows to the DNS service, one datagram each, from clients
/// 198.51.100.1.. with ports 10000..
pub fn dns_flows(flows: u8) -> Vec<Vec<u8>> {
    (0..flows)
        .map(|i| {
            frames::udp(
                (frames::CLIENT_MAC, frames::LB_MAC),
                ([198, 51, 100, 1 + i], 10_000 + u16::from(i)),
                ([192, 0, 2, 20], 53),
                b"query",
            )
        })
        .collect()
}
