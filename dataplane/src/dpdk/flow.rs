//! rte_flow rules that steer replies to FULLNAT/SNAT local ports to the
//! queue of the worker that owns the port.
//!
//! Worker *w* hands out only local ports with `port & mask == w`, so one
//! rule per (address, VLAN, protocol, worker) matching the destination port
//! under that mask sends every reply to its owner's RX queue. How ports are
//! split is load-balancing policy, decided elsewhere: the caller passes it
//! in as a [`PortSplit`]. Where a device has no rte_flow (or refuses the
//! rule), nothing is installed and the redirect rings carry the replies
//! instead.

use std::ffi::CStr;
use std::fmt;
use std::net::Ipv4Addr;
use std::ptr::NonNull;

use dpdk_sys::{
    rte_flow, rte_flow_action, rte_flow_action_queue, rte_flow_attr, rte_flow_error, rte_flow_item,
    rte_flow_item_ipv4, rte_flow_item_tcp, rte_flow_item_udp, rte_flow_item_vlan, rte_vlan_hdr,
};

use super::{DpdkError, Port};
use crate::wire::ethernet::VLAN_VID_MASK;

/// `EINVAL`, for arguments refused before DPDK sees them.
const EINVAL: i32 = 22;

/// An address replies come back to, on one VLAN (or untagged).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SteerTarget {
    pub addr: Ipv4Addr,
    pub vlan: Option<u16>,
}

/// The transport protocol a rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SteerProto {
    Tcp,
    Udp,
}

/// How local ports are split between workers: worker *w* (of `workers`)
/// owns the ports with `port & mask == w`, and its RX queue is queue *w*.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSplit {
    pub workers: u16,
    pub mask: u16,
}

impl PortSplit {
    /// Whether the mask tells every worker's ports apart: each worker
    /// index must survive the mask unchanged.
    pub fn is_valid(&self) -> bool {
        self.workers > 0 && (self.workers - 1) & !self.mask == 0
    }
}

/// One rule, as data: `ETH [/ VLAN vid] / IPV4 dst=addr / TCP|UDP
/// dst_port & port_mask == port_spec -> QUEUE queue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SteerRule {
    pub target: SteerTarget,
    pub proto: SteerProto,
    pub port_spec: u16,
    pub port_mask: u16,
    pub queue: u16,
}

impl fmt::Display for SteerRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "eth / ")?;
        if let Some(vid) = self.target.vlan {
            write!(f, "vlan vid {vid} / ")?;
        }
        let proto = match self.proto {
            SteerProto::Tcp => "tcp",
            SteerProto::Udp => "udp",
        };
        write!(
            f,
            "ipv4 dst {} / {proto} dst spec {} mask {:#x} -> queue {}",
            self.target.addr, self.port_spec, self.port_mask, self.queue
        )
    }
}

/// Every rule for `targets` under `split`: per target, TCP then UDP, one
/// rule per worker. With one worker there is nothing to steer.
pub fn steer_rules(targets: &[SteerTarget], split: PortSplit) -> Vec<SteerRule> {
    let PortSplit { workers, mask } = split;
    if workers < 2 {
        return Vec::new();
    }
    let mut rules = Vec::with_capacity(targets.len() * 2 * usize::from(workers));
    for &target in targets {
        for proto in [SteerProto::Tcp, SteerProto::Udp] {
            for w in 0..workers {
                rules.push(SteerRule {
                    target,
                    proto,
                    port_spec: w,
                    port_mask: mask,
                    queue: w,
                });
            }
        }
    }
    rules
}

/// A created rule. DPDK owns the memory; we own the right to destroy it.
struct FlowHandle(NonNull<rte_flow>);

/// The steering rules of one port; dropping it destroys them. It borrows
/// the port, so the rules are gone before the port is closed.
pub struct LocalPortSteering<'p> {
    port_id: u16,
    flows: Vec<FlowHandle>,
    _port: std::marker::PhantomData<&'p ()>,
}

// SAFETY: the handles are opaque tokens for rte_flow_destroy, which ethdev
// serialises per port (its flow_ops_mutex, unless the driver declares its
// flow ops thread-safe); nothing else touches them, so the owner may move
// between threads (the control thread re-installs on config changes).
unsafe impl Send for LocalPortSteering<'_> {}

impl fmt::Debug for LocalPortSteering<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalPortSteering")
            .field("port_id", &self.port_id)
            .field("rules", &self.flows.len())
            .finish()
    }
}

impl<'p> LocalPortSteering<'p> {
    /// Installs [`steer_rules`] for `targets` under `split` on `port`.
    /// Every rule is validated first and nothing is created if one fails;
    /// if a create fails, the rules already made are destroyed. The error
    /// carries DPDK's message and errno. A split whose mask cannot tell
    /// its workers apart, or with more workers than the port has queues,
    /// is refused before DPDK sees it.
    pub fn install(
        port: &'p Port<'_>,
        targets: &[SteerTarget],
        split: PortSplit,
    ) -> Result<Self, DpdkError> {
        let name = port.name();
        let workers = split.workers;
        if !split.is_valid() {
            return Err(DpdkError::new(
                format!(
                    "port {name}: port mask {:#x} cannot tell {workers} workers apart",
                    split.mask
                ),
                EINVAL,
            ));
        }
        if workers > port.queues() {
            return Err(DpdkError::new(
                format!(
                    "port {name}: steering to {workers} workers, but the port has {} RX queues",
                    port.queues()
                ),
                EINVAL,
            ));
        }
        let rules = steer_rules(targets, split);
        for rule in &rules {
            with_flow_args(rule, |attr, pattern, actions| {
                let mut error = rte_flow_error::default();
                // SAFETY: the port exists (borrowed); attr, pattern and
                // actions are valid, END-terminated and live for the call
                // (with_flow_args keeps their specs on its stack); error is
                // a valid out-pointer.
                let ret = unsafe {
                    dpdk_sys::rte_flow_validate(port.id(), attr, pattern, actions, &mut error)
                };
                if ret == 0 {
                    Ok(())
                } else {
                    Err(flow_error(name, "rte_flow_validate", rule, -ret, &error))
                }
            })?;
        }
        let mut steering = LocalPortSteering {
            port_id: port.id(),
            flows: Vec::with_capacity(rules.len()),
            _port: std::marker::PhantomData,
        };
        for rule in &rules {
            let flow = with_flow_args(rule, |attr, pattern, actions| {
                let mut error = rte_flow_error::default();
                // SAFETY: as for rte_flow_validate above.
                let flow = unsafe {
                    dpdk_sys::rte_flow_create(port.id(), attr, pattern, actions, &mut error)
                };
                // SAFETY: reads this thread's rte_errno right after the call.
                let errno = unsafe { dpdk_sys::rte_errno() };
                NonNull::new(flow)
                    .ok_or_else(|| flow_error(name, "rte_flow_create", rule, errno, &error))
            })?;
            // On an early return `steering` drops and destroys these.
            steering.flows.push(FlowHandle(flow));
        }
        Ok(steering)
    }

    /// How many rules are installed.
    pub fn rules(&self) -> usize {
        self.flows.len()
    }
}

impl Drop for LocalPortSteering<'_> {
    fn drop(&mut self) {
        for flow in self.flows.drain(..).rev() {
            let mut error = rte_flow_error::default();
            // SAFETY: the flow was created on this port, which is still open
            // (borrowed for 'p), and is destroyed once (drained). A failure
            // leaves a rule that closing the port removes.
            unsafe { dpdk_sys::rte_flow_destroy(self.port_id, flow.0.as_ptr(), &mut error) };
        }
    }
}

/// Calls `f` with the attribute, pattern and actions of `rule`; the item
/// specs and masks live on this stack frame for the duration of the call.
fn with_flow_args<R>(
    rule: &SteerRule,
    f: impl FnOnce(&rte_flow_attr, *const rte_flow_item, *const rte_flow_action) -> R,
) -> R {
    let mut attr = rte_flow_attr::default();
    attr.set_ingress(1);

    // rte_flow header fields are big-endian.
    let mut vlan_spec = rte_flow_item_vlan::default();
    let mut vlan_mask = rte_flow_item_vlan::default();
    if let Some(vid) = rule.target.vlan {
        vlan_spec.__bindgen_anon_1.hdr = rte_vlan_hdr {
            vlan_tci: (vid & VLAN_VID_MASK).to_be(),
            eth_proto: 0,
        };
        vlan_mask.__bindgen_anon_1.hdr = rte_vlan_hdr {
            vlan_tci: VLAN_VID_MASK.to_be(),
            eth_proto: 0,
        };
    }
    let mut ipv4_spec = rte_flow_item_ipv4::default();
    let mut ipv4_mask = rte_flow_item_ipv4::default();
    ipv4_spec.hdr.dst_addr = u32::from(rule.target.addr).to_be();
    ipv4_mask.hdr.dst_addr = u32::MAX.to_be();
    let mut udp_spec = rte_flow_item_udp::default();
    let mut udp_mask = rte_flow_item_udp::default();
    udp_spec.hdr.dst_port = rule.port_spec.to_be();
    udp_mask.hdr.dst_port = rule.port_mask.to_be();
    let mut tcp_spec = rte_flow_item_tcp::default();
    let mut tcp_mask = rte_flow_item_tcp::default();
    tcp_spec.hdr.dst_port = rule.port_spec.to_be();
    tcp_mask.hdr.dst_port = rule.port_mask.to_be();

    let item =
        |type_, spec: *const std::ffi::c_void, mask: *const std::ffi::c_void| rte_flow_item {
            type_,
            spec,
            last: std::ptr::null(),
            mask,
        };
    let null = std::ptr::null();
    let mut pattern = Vec::with_capacity(5);
    // ETH with no spec: any Ethernet frame.
    pattern.push(item(dpdk_sys::RTE_FLOW_ITEM_TYPE_ETH, null, null));
    if rule.target.vlan.is_some() {
        pattern.push(item(
            dpdk_sys::RTE_FLOW_ITEM_TYPE_VLAN,
            (&vlan_spec as *const rte_flow_item_vlan).cast(),
            (&vlan_mask as *const rte_flow_item_vlan).cast(),
        ));
    }
    pattern.push(item(
        dpdk_sys::RTE_FLOW_ITEM_TYPE_IPV4,
        (&ipv4_spec as *const rte_flow_item_ipv4).cast(),
        (&ipv4_mask as *const rte_flow_item_ipv4).cast(),
    ));
    pattern.push(match rule.proto {
        SteerProto::Udp => item(
            dpdk_sys::RTE_FLOW_ITEM_TYPE_UDP,
            (&udp_spec as *const rte_flow_item_udp).cast(),
            (&udp_mask as *const rte_flow_item_udp).cast(),
        ),
        SteerProto::Tcp => item(
            dpdk_sys::RTE_FLOW_ITEM_TYPE_TCP,
            (&tcp_spec as *const rte_flow_item_tcp).cast(),
            (&tcp_mask as *const rte_flow_item_tcp).cast(),
        ),
    });
    pattern.push(item(dpdk_sys::RTE_FLOW_ITEM_TYPE_END, null, null));

    let queue = rte_flow_action_queue { index: rule.queue };
    let actions = [
        rte_flow_action {
            type_: dpdk_sys::RTE_FLOW_ACTION_TYPE_QUEUE,
            conf: (&queue as *const rte_flow_action_queue).cast(),
        },
        rte_flow_action {
            type_: dpdk_sys::RTE_FLOW_ACTION_TYPE_END,
            conf: null,
        },
    ];
    f(&attr, pattern.as_ptr(), actions.as_ptr())
}

/// A DpdkError from a failed rte_flow call: the call, the rule and DPDK's
/// message (when it says more than the errno's text).
fn flow_error(
    port: &str,
    call: &str,
    rule: &SteerRule,
    errno: i32,
    error: &rte_flow_error,
) -> DpdkError {
    let mut e = DpdkError::new(format!("port {port}: {call} ({rule})"), errno);
    if !error.message.is_null() {
        // SAFETY: DPDK sets message to a NUL-terminated string (static or
        // owned by the driver) that stays valid at least until the next
        // rte_flow call on this port; we copy it at once.
        let message = unsafe { CStr::from_ptr(error.message) }.to_string_lossy();
        if message != e.reason() {
            e.context = format!("{}: {message}", e.context);
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_per_target_protocol_and_worker() {
        let t = |a: [u8; 4], vlan| SteerTarget {
            addr: Ipv4Addr::from(a),
            vlan,
        };
        let one = PortSplit {
            workers: 1,
            mask: 0,
        };
        assert!(steer_rules(&[t([10, 0, 0, 1], None)], one).is_empty());
        let three = PortSplit {
            workers: 3,
            mask: 3,
        };
        let rules = steer_rules(&[t([10, 0, 0, 1], None), t([10, 0, 0, 2], Some(7))], three);
        assert_eq!(rules.len(), 2 * 2 * 3);
        assert!(rules.iter().all(|r| r.port_mask == 3));
        assert_eq!(
            rules[5],
            SteerRule {
                target: t([10, 0, 0, 1], None),
                proto: SteerProto::Udp,
                port_spec: 2,
                port_mask: 3,
                queue: 2,
            }
        );
        assert_eq!(
            rules[7].to_string(),
            "eth / vlan vid 7 / ipv4 dst 10.0.0.2 / tcp dst spec 1 mask 0x3 -> queue 1"
        );
    }

    #[test]
    fn a_split_is_valid_only_if_its_mask_keeps_every_worker_apart() {
        let split = |workers, mask| PortSplit { workers, mask };
        assert!(split(1, 0).is_valid());
        assert!(split(2, 1).is_valid() && split(3, 3).is_valid() && split(4, 3).is_valid());
        assert!(
            split(3, 7).is_valid(),
            "a wider mask leaves some values unused"
        );
        assert!(!split(0, 0).is_valid(), "no workers");
        assert!(
            !split(2, 0).is_valid(),
            "both workers would match port & 0 == 0"
        );
        assert!(!split(3, 1).is_valid(), "worker 2 is never port & 1");
        assert!(!split(5, 3).is_valid());
    }

    /// The C structs DPDK reads carry network byte order (no device
    /// accepts the rule here, so this is the check of the encoding).
    #[test]
    fn rule_structs_are_big_endian_and_end_terminated() {
        let rule = SteerRule {
            target: SteerTarget {
                addr: Ipv4Addr::new(198, 51, 100, 10),
                vlan: Some(0x123),
            },
            proto: SteerProto::Udp,
            port_spec: 1,
            port_mask: 3,
            queue: 1,
        };
        with_flow_args(&rule, |attr, pattern, actions| {
            assert_eq!((attr.ingress(), attr.egress(), attr.group), (1, 0, 0));
            // SAFETY (test): with_flow_args passes END-terminated arrays of
            // 5 items and 2 actions whose specs live for this closure.
            let (items, acts) = unsafe {
                (
                    std::slice::from_raw_parts(pattern, 5),
                    std::slice::from_raw_parts(actions, 2),
                )
            };
            let types: Vec<_> = items.iter().map(|i| i.type_).collect();
            assert_eq!(
                types,
                [
                    dpdk_sys::RTE_FLOW_ITEM_TYPE_ETH,
                    dpdk_sys::RTE_FLOW_ITEM_TYPE_VLAN,
                    dpdk_sys::RTE_FLOW_ITEM_TYPE_IPV4,
                    dpdk_sys::RTE_FLOW_ITEM_TYPE_UDP,
                    dpdk_sys::RTE_FLOW_ITEM_TYPE_END,
                ]
            );
            // SAFETY (test): spec/mask point at the item structs of the
            // matching type, alive for this closure; read as raw bytes.
            let bytes = |p: *const std::ffi::c_void, n: usize| unsafe {
                std::slice::from_raw_parts(p.cast::<u8>(), n).to_vec()
            };
            assert_eq!(bytes(items[1].spec, 2), [0x01, 0x23], "vlan tci");
            assert_eq!(bytes(items[1].mask, 2), [0x0f, 0xff]);
            // rte_ipv4_hdr: dst_addr at offset 16.
            assert_eq!(bytes(items[2].spec, 20)[16..], [198, 51, 100, 10]);
            assert_eq!(
                bytes(items[2].mask, 20)[12..],
                [0, 0, 0, 0, 255, 255, 255, 255]
            );
            // rte_udp_hdr: dst_port at offset 2.
            assert_eq!(bytes(items[3].spec, 8), [0, 0, 0, 1, 0, 0, 0, 0]);
            assert_eq!(bytes(items[3].mask, 8), [0, 0, 0, 3, 0, 0, 0, 0]);
            assert_eq!(acts[0].type_, dpdk_sys::RTE_FLOW_ACTION_TYPE_QUEUE);
            assert_eq!(
                bytes(acts[0].conf, 2),
                1u16.to_ne_bytes(),
                "queue index is host order"
            );
            assert_eq!(acts[1].type_, dpdk_sys::RTE_FLOW_ACTION_TYPE_END);
        });
    }
}
