use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{DpdkError, Eal, Mempool};

/// How to set up a port.
#[derive(Clone, Debug)]
pub struct PortConfig {
    /// RX and TX queues: one of each per worker.
    pub queues: u16,
    /// Descriptors per RX queue (adjusted to what the device accepts).
    pub rx_desc: u16,
    /// Descriptors per TX queue (adjusted to what the device accepts).
    pub tx_desc: u16,
    /// Accept frames for any destination MAC.
    pub promiscuous: bool,
    /// The largest IP packet the port sends and receives, set on the device
    /// (`rte_eth_dev_set_mtu`; see [`MtuRange`] and [`MtuSetting`]), or
    /// `None` to leave the device's own (a kernel interface's).
    pub mtu: Option<u16>,
    /// Accept frames for every multicast MAC: IPv6 Neighbour Discovery
    /// comes to solicited-node groups (33:33:ff:xx:xx:xx), which a device
    /// filtering by MAC drops otherwise. Implied by `promiscuous`.
    pub all_multicast: bool,
}

/// The MTUs a device takes, as `rte_eth_dev_info` reports them and ethdev
/// checks them: `min_mtu..=max_mtu`, and the frame (MTU plus the device's
/// L2 overhead) no longer than `max_rx_pktlen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MtuRange {
    pub min: u16,
    pub max: u16,
}

impl MtuRange {
    /// ethdev's rule (`eth_dev_validate_mtu` in DPDK 22.11): the overhead is
    /// `max_rx_pktlen - max_mtu` where the device reports a `max_mtu`, else
    /// Ethernet header and CRC (18 bytes).
    pub fn from_info(min_mtu: u16, max_mtu: u16, max_rx_pktlen: u32) -> MtuRange {
        const ETHER_OVERHEAD: u32 = 18;
        let overhead = if max_mtu != u16::MAX && max_rx_pktlen > u32::from(max_mtu) {
            max_rx_pktlen - u32::from(max_mtu)
        } else {
            ETHER_OVERHEAD
        };
        let by_frame = max_rx_pktlen.saturating_sub(overhead);
        let max = u32::from(max_mtu).min(by_frame);
        MtuRange {
            min: min_mtu,
            max: u16::try_from(max).unwrap_or(u16::MAX),
        }
    }

    pub fn contains(&self, mtu: u16) -> bool {
        (self.min..=self.max).contains(&mtu)
    }
}

/// How a port's MTU reached the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MtuSetting {
    /// `rte_eth_dev_set_mtu` took it (for `net_af_packet`, `net_af_xdp`
    /// and `net_tap` that is the Linux interface's MTU, set by ioctl).
    Set,
    /// The driver has no MTU to set (`net_pcap`, `net_ring`: ENOTSUP) and
    /// takes frames of any length within [`MtuRange`]; the MTU is ours only.
    NotSettable,
    /// Not asked: the device keeps its own.
    Device,
}

/// Counters the device keeps (`rte_eth_stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Dropped by the device because RX queues were full.
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    /// RX failed to get an mbuf from the pool.
    pub rx_no_mbuf: u64,
}

/// Link state (`rte_eth_link`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkStatus {
    pub up: bool,
    pub speed_mbps: u32,
}

/// A started ethdev port. Dropping it stops and closes the device (which is
/// also what flushes a `net_pcap` TX file).
#[derive(Debug)]
pub struct Port<'pool> {
    id: u16,
    name: String,
    queues: u16,
    queues_taken: AtomicBool,
    /// Whether the NIC checks received IPv4 header checksums for us.
    rx_ipv4_checksum: bool,
    mtu: u16,
    mtu_setting: MtuSetting,
    _pool: std::marker::PhantomData<&'pool Mempool>,
}

/// `RTE_ETH_RX_OFFLOAD_IPV4_CKSUM`: `RTE_BIT64(1)` in rte_ethdev.h, a macro
/// bindgen does not turn into a constant.
const RX_OFFLOAD_IPV4_CKSUM: u64 = 1 << 1;

impl<'pool> Port<'pool> {
    /// The port id of the device DPDK named `device_name` (a vdev's name is
    /// its devargs up to the first comma, e.g. `net_pcap0`; a PCI device's
    /// is its full address, e.g. `0000:3b:00.0`).
    pub fn find(_eal: &Eal, device_name: &str) -> Option<u16> {
        let cname = CString::new(device_name).ok()?;
        let mut id = 0u16;
        // SAFETY: EAL is initialised; cname is a valid C string; id is a
        // valid out-pointer.
        let ret = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
        (ret == 0).then_some(id)
    }

    /// Sets device `id`'s link up or down (`rte_eth_dev_set_link_up` /
    /// `_down`, testpmd's `set link-up`): a bond member taken down by
    /// hand, as the bond tests do.
    pub fn set_device_link(_eal: &Eal, id: u16, up: bool) -> Result<(), DpdkError> {
        // SAFETY: EAL initialised; id names a probed port; an id that is
        // not is refused with a negative errno.
        let ret = unsafe {
            match up {
                true => dpdk_sys::rte_eth_dev_set_link_up(id),
                false => dpdk_sys::rte_eth_dev_set_link_down(id),
            }
        };
        match ret {
            0 => Ok(()),
            e => Err(DpdkError::new(
                format!(
                    "rte_eth_dev_set_link_{}({id})",
                    if up { "up" } else { "down" }
                ),
                -e,
            )),
        }
    }

    /// Port `id`'s MAC address as the device reports it, before it is
    /// started (zero if it cannot say).
    pub fn device_mac(_eal: &Eal, id: u16) -> [u8; 6] {
        let mut addr = dpdk_sys::rte_ether_addr::default();
        // SAFETY: EAL initialised, id names a probed port (from `find`),
        // addr is a valid out-pointer; on failure it stays zero.
        unsafe { dpdk_sys::rte_eth_macaddr_get(id, &mut addr) };
        addr.addr_bytes
    }

    /// Sets port `id`'s MAC address before it is started (a kernel
    /// interface takes its port's MAC this way).
    pub fn set_mac(_eal: &Eal, id: u16, name: &str, mac: [u8; 6]) -> Result<(), DpdkError> {
        let mut addr = dpdk_sys::rte_ether_addr { addr_bytes: mac };
        // SAFETY: EAL initialised; addr is a valid, initialised struct that
        // DPDK only reads for the duration of the call.
        let ret = unsafe { dpdk_sys::rte_eth_dev_default_mac_addr_set(id, &mut addr) };
        if ret != 0 {
            return Err(DpdkError::new(
                format!("port {name}: rte_eth_dev_default_mac_addr_set"),
                ret,
            ));
        }
        Ok(())
    }

    /// The MTUs port `id` takes, from `rte_eth_dev_info`.
    pub fn mtu_range(_eal: &Eal, id: u16) -> Result<MtuRange, DpdkError> {
        let info = dev_info(id, "")?;
        Ok(MtuRange::from_info(
            info.min_mtu,
            info.max_mtu,
            info.max_rx_pktlen,
        ))
    }

    /// Configures port `id` with `config.queues` RX and TX queues (RSS over
    /// them when there are several and the device supports it), RX buffers
    /// from `pool`, and starts it.
    pub fn start(
        _eal: &Eal,
        id: u16,
        name: &str,
        config: &PortConfig,
        pool: &'pool Mempool,
    ) -> Result<Port<'pool>, DpdkError> {
        let err = |what: &str, ret: i32| DpdkError::new(format!("port {name}: {what}"), ret);

        let info = dev_info(id, name)?;
        if config.queues > info.max_rx_queues || config.queues > info.max_tx_queues {
            return Err(DpdkError::new(
                format!(
                    "port {name}: {} queues requested (one per worker) but the device supports \
                     {} RX and {} TX queues",
                    config.queues, info.max_rx_queues, info.max_tx_queues
                ),
                22,
            ));
        }

        let mut conf = dpdk_sys::rte_eth_conf::default();
        // NIC drivers size their receive path from this at start; ethdev
        // refuses one outside the device's range here.
        conf.rxmode.mtu = config.mtu.map_or(0, u32::from);
        // Where the device checks IPv4 header checksums on receive, the
        // packet path trusts its verdict instead of summing the header
        // (about 4 ns a packet); see `Mbuf::rx_ipv4_checksum`.
        let rx_ipv4_checksum = info.rx_offload_capa & RX_OFFLOAD_IPV4_CKSUM != 0;
        if rx_ipv4_checksum {
            conf.rxmode.offloads |= RX_OFFLOAD_IPV4_CKSUM;
        }
        if config.queues > 1 && info.flow_type_rss_offloads != 0 {
            conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads;
        }
        // SAFETY: EAL initialised; conf is a valid, fully initialised struct
        // that DPDK copies.
        let ret =
            unsafe { dpdk_sys::rte_eth_dev_configure(id, config.queues, config.queues, &conf) };
        if ret != 0 {
            return Err(err("rte_eth_dev_configure", ret));
        }
        // Before the queues: af_xdp attaches its XDP program at queue set-up,
        // and a veth with XDP refuses a larger MTU.
        let mtu_setting = match config.mtu {
            Some(mtu) => set_mtu(id, name, mtu, &info)?,
            None => MtuSetting::Device,
        };
        let mut mtu = 0u16;
        // SAFETY: configured port, valid out-pointer.
        let ret = unsafe { dpdk_sys::rte_eth_dev_get_mtu(id, &mut mtu) };
        if ret != 0 {
            return Err(err("rte_eth_dev_get_mtu", ret));
        }
        let (mut rx_desc, mut tx_desc) = (config.rx_desc, config.tx_desc);
        // SAFETY: configured port; valid out-pointers.
        let ret =
            unsafe { dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx_desc, &mut tx_desc) };
        if ret != 0 {
            return Err(err("rte_eth_dev_adjust_nb_rx_tx_desc", ret));
        }
        // SAFETY: plain query of a valid port.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) };
        let socket = if socket < 0 { 0 } else { socket as u32 };
        for q in 0..config.queues {
            // SAFETY: configured port, q < configured queue count, NULL conf
            // means the driver defaults, pool outlives the port ('pool).
            let ret = unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(
                    id,
                    q,
                    rx_desc,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            };
            if ret != 0 {
                return Err(err(&format!("rte_eth_rx_queue_setup (queue {q})"), ret));
            }
            // SAFETY: as above for the TX queue.
            let ret = unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(id, q, tx_desc, socket, std::ptr::null())
            };
            if ret != 0 {
                return Err(err(&format!("rte_eth_tx_queue_setup (queue {q})"), ret));
            }
        }
        // SAFETY: configured port with all queues set up.
        let ret = unsafe { dpdk_sys::rte_eth_dev_start(id) };
        if ret != 0 {
            return Err(err("rte_eth_dev_start", ret));
        }
        let port = Port {
            id,
            name: name.to_owned(),
            queues: config.queues,
            queues_taken: AtomicBool::new(false),
            rx_ipv4_checksum,
            mtu,
            mtu_setting,
            _pool: std::marker::PhantomData,
        };
        if config.promiscuous {
            // SAFETY: started port. Virtual devices may not support it
            // (-ENOTSUP), which is harmless: they see every frame anyway.
            let ret = unsafe { dpdk_sys::rte_eth_promiscuous_enable(id) };
            if ret != 0 && ret != -95 {
                return Err(err("rte_eth_promiscuous_enable", ret));
            }
        } else if config.all_multicast {
            // SAFETY: started port. -ENOTSUP is harmless the same way.
            let ret = unsafe { dpdk_sys::rte_eth_allmulticast_enable(id) };
            if ret != 0 && ret != -95 {
                return Err(err("rte_eth_allmulticast_enable", ret));
            }
        }
        Ok(port)
    }

    pub fn id(&self) -> u16 {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the device checks received IPv4 header checksums (RX
    /// offload on), so the packet path takes its verdict.
    pub fn checks_rx_ipv4_checksums(&self) -> bool {
        self.rx_ipv4_checksum
    }

    /// The port's MTU and how it reached the device.
    pub fn mtu(&self) -> (u16, MtuSetting) {
        (self.mtu, self.mtu_setting)
    }

    /// RX (and TX) queues: one pair per worker.
    pub fn queues(&self) -> u16 {
        self.queues
    }

    /// The port's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        let mut addr = dpdk_sys::rte_ether_addr::default();
        // SAFETY: valid port, valid out-pointer. On failure addr stays zero.
        unsafe { dpdk_sys::rte_eth_macaddr_get(self.id, &mut addr) };
        addr.addr_bytes
    }

    /// Link state, without waiting for autonegotiation.
    pub fn link(&self) -> LinkStatus {
        let mut link = dpdk_sys::rte_eth_link::default();
        // SAFETY: valid port, valid out-pointer.
        unsafe { dpdk_sys::rte_eth_link_get_nowait(self.id, &mut link) };
        LinkStatus {
            up: link.link_status() != 0,
            speed_mbps: link.link_speed,
        }
    }

    /// The device's counters.
    pub fn stats(&self) -> PortStats {
        device_stats(self.id)
    }

    /// Hands out the queue pairs, one per worker, exactly once: queue pair
    /// *i* goes to worker *i*, which alone may use it.
    pub fn take_queues(&self) -> Option<Vec<(RxQueue<'_>, TxQueue<'_>)>> {
        if self.queues_taken.swap(true, Ordering::SeqCst) {
            return None;
        }
        let lacp = Port::is_lacp_bond(self.id);
        let bond = super::bond::is_bond(self.id);
        Some(
            (0..self.queues)
                .map(|q| {
                    (
                        RxQueue {
                            port: self.id,
                            queue: q,
                            _port: std::marker::PhantomData,
                        },
                        TxQueue {
                            port: self.id,
                            queue: q,
                            lacp_flush: lacp && q == 0,
                            bond,
                            _port: std::marker::PhantomData,
                        },
                    )
                })
                .collect(),
        )
    }
}

/// The counters of probed port `id` (a port's, or a bond member's).
pub(super) fn device_stats(id: u16) -> PortStats {
    let mut s = dpdk_sys::rte_eth_stats::default();
    // SAFETY: valid port, valid out-pointer; DPDK allows reading stats
    // while workers run.
    unsafe { dpdk_sys::rte_eth_stats_get(id, &mut s) };
    PortStats {
        rx_packets: s.ipackets,
        tx_packets: s.opackets,
        rx_bytes: s.ibytes,
        tx_bytes: s.obytes,
        rx_missed: s.imissed,
        rx_errors: s.ierrors,
        tx_errors: s.oerrors,
        rx_no_mbuf: s.rx_nombuf,
    }
}

/// `rte_eth_dev_info` of port `id` (`name` for the error).
pub(super) fn dev_info(id: u16, name: &str) -> Result<dpdk_sys::rte_eth_dev_info, DpdkError> {
    let mut info = dpdk_sys::rte_eth_dev_info::default();
    // SAFETY: EAL initialised (every caller holds `&Eal`), info is a valid
    // out-pointer.
    let ret = unsafe { dpdk_sys::rte_eth_dev_info_get(id, &mut info) };
    if ret != 0 {
        return Err(DpdkError::new(
            format!("port {name}: rte_eth_dev_info_get"),
            ret,
        ));
    }
    Ok(info)
}

/// How an MTU refusal's context starts, after the port's name.
const MTU_REFUSED: &str = "the device refused MTU";

impl DpdkError {
    /// Whether this is [`Port::start`] failing because the device refused
    /// the port's MTU (so the caller can point at the `mtu` key).
    pub fn is_mtu_refusal(&self) -> bool {
        self.context.contains(MTU_REFUSED)
    }
}

/// `ENOTSUP` as DPDK returns it (negated).
const ENOTSUP: i32 = 95;

/// Sets `mtu` on configured port `id`. A driver without an MTU to set
/// (ENOTSUP) is accepted: it takes frames of any length the range allows,
/// which the caller checked, and ethdev recorded the MTU at configure.
fn set_mtu(
    id: u16,
    name: &str,
    mtu: u16,
    info: &dpdk_sys::rte_eth_dev_info,
) -> Result<MtuSetting, DpdkError> {
    // SAFETY: configured port (ethdev refuses an unconfigured one).
    let ret = unsafe { dpdk_sys::rte_eth_dev_set_mtu(id, mtu) };
    match ret {
        0 => Ok(MtuSetting::Set),
        r if r == -ENOTSUP => Ok(MtuSetting::NotSettable),
        r => {
            let range = MtuRange::from_info(info.min_mtu, info.max_mtu, info.max_rx_pktlen);
            Err(DpdkError::new(
                format!(
                    "port {name}: {MTU_REFUSED} {mtu} (rte_eth_dev_set_mtu; it reports MTUs \
                     {}..={})",
                    range.min, range.max
                ),
                r,
            ))
        }
    }
}

impl Drop for Port<'_> {
    fn drop(&mut self) {
        // SAFETY: every queue handle borrows the port, so no worker is using
        // it; stop then close releases the queues' mbufs back to the pool,
        // which outlives the port ('pool).
        unsafe {
            dpdk_sys::rte_eth_dev_stop(self.id);
            dpdk_sys::rte_eth_dev_close(self.id);
        }
    }
}

/// Exclusive use of one RX queue of a started port.
#[derive(Debug)]
pub struct RxQueue<'port> {
    pub(crate) port: u16,
    pub(crate) queue: u16,
    _port: std::marker::PhantomData<&'port ()>,
}

/// Exclusive use of one TX queue of a started port.
#[derive(Debug)]
pub struct TxQueue<'port> {
    pub(crate) port: u16,
    pub(crate) queue: u16,
    /// Queue 0 of an 802.3ad bond: the bond sends its LACPDUs from its TX
    /// burst only, so this queue gets an empty burst at every RX poll and
    /// LACP keeps running while no traffic leaves (DPDK asks for a TX
    /// burst at least every 100 ms).
    pub(crate) lacp_flush: bool,
    /// The port is a bond (its refusals are told apart, `bond::can_send`).
    pub(crate) bond: bool,
    _port: std::marker::PhantomData<&'port ()>,
}

#[cfg(test)]
mod tests {
    use super::MtuRange;

    #[test]
    fn the_mtu_range_follows_ethdevs_rule_for_the_drivers_here() {
        // What DPDK 22.11.11 reports on this machine (dpdk-testpmd `show
        // port info`): net_af_packet max_rx_pktlen 1518, no max_mtu.
        assert_eq!(
            MtuRange::from_info(68, u16::MAX, 1518),
            MtuRange { min: 68, max: 1500 }
        );
        // net_tap: 1522, no max_mtu (a VLAN tag counted in the frame).
        assert_eq!(MtuRange::from_info(68, u16::MAX, 1522).max, 1504);
        // net_af_xdp: max_mtu 3542 and a frame 18 bytes longer.
        assert_eq!(MtuRange::from_info(68, 3542, 3560).max, 3542);
        // net_pcap, net_null, net_ring: frames of any length.
        let any = MtuRange::from_info(68, u16::MAX, u32::MAX);
        assert!(any.contains(9000) && any.contains(u16::MAX) && !any.contains(67));
        // A NIC with a larger overhead (two VLAN tags): 9728 - 9702.
        assert_eq!(MtuRange::from_info(68, 9702, 9728).max, 9702);
    }
}
