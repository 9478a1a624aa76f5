//! From the config file's services, interfaces and rules to the dataplane's
//! tables: the one place that knows both models.

use std::net::{IpAddr, Ipv4Addr};

use control::config::{
    Config, IpPrefix, LbMode, ProxyProtocol, SchedulerName, ServiceConfig, TimeoutsConfig,
};
use dataplane::client_addr::proxy_header::ProxyVersion;
use dataplane::flow::limits::{ClientLimit, RateLimit};
use dataplane::flow::{TableConfig, TcpState, Timeouts};
use dataplane::sched::{maglev, Persistence, SchedulerKind};
use dataplane::tables::{
    acl::AclSpec, BackendSpec, Garp, Interface, KernelPath, LbConfig, Mode, PortSetup, ServiceSpec,
    SnatSpec, StaticRoute, StaticRoute6, SynProxySettings,
};
use dataplane::wire::ethernet::MacAddr;

/// Builds the pipeline's description; `device_macs[i]` is port *i*'s MAC as
/// the device reports it, used unless the config sets `mac`; `standby`
/// lists the `[vrrp]` addresses the peer node holds now.
pub fn lb_config(cfg: &Config, device_macs: &[[u8; 6]], standby: &[Ipv4Addr]) -> LbConfig {
    let port_index = |name: &str| {
        cfg.ports
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_default() as u16
    };
    let ports = cfg
        .ports
        .iter()
        .zip(device_macs)
        .map(|(p, dev)| PortSetup {
            mac: p.mac.unwrap_or(MacAddr(*dev)),
            mtu: p.mtu,
        })
        .collect();
    let interfaces = cfg
        .interfaces
        .iter()
        .map(|i| Interface {
            port: port_index(&i.port),
            vlan: i.vlan,
            addrs: i
                .addresses
                .iter()
                .filter_map(|a| a.v4().map(|a| (a.addr, a.len)))
                .collect(),
            addrs6: i
                .addresses
                .iter()
                .filter_map(|a| a.v6().map(|a| (a.addr, a.len)))
                .collect(),
        })
        .collect();
    // Validation keeps each route's prefix and gateway of one family.
    let routes = cfg
        .routes
        .iter()
        .filter_map(|r| match (r.prefix, r.via) {
            (IpPrefix::V4(p), IpAddr::V4(via)) => Some(StaticRoute {
                prefix: p.network(),
                len: p.len,
                via,
            }),
            _ => None,
        })
        .collect();
    let routes6 = cfg
        .routes
        .iter()
        .filter_map(|r| match (r.prefix, r.via) {
            (IpPrefix::V6(p), IpAddr::V6(via)) => Some(StaticRoute6 {
                prefix: p.network(),
                len: p.len,
                via,
            }),
            _ => None,
        })
        .collect();
    let neighbours = cfg
        .neighbours
        .iter()
        .filter_map(|n| match n.address {
            IpAddr::V4(a) => Some((a, n.mac)),
            IpAddr::V6(_) => None,
        })
        .collect();
    let neighbours6 = cfg
        .neighbours
        .iter()
        .filter_map(|n| match n.address {
            IpAddr::V6(a) => Some((a, n.mac)),
            IpAddr::V4(_) => None,
        })
        .collect();
    let base = timeouts(Timeouts::default(), &cfg.timeouts);
    let services = cfg.services.iter().map(|s| service(s, &base)).collect();
    let snat = cfg
        .snat
        .iter()
        .map(|r| SnatSpec {
            source: (r.source.network(), r.source.prefix_len()),
            port: port_index(&r.port),
            // A rule is of its source's family (the config refuses a mix).
            addrs: r
                .addresses
                .iter()
                .filter_map(|a| match a {
                    IpAddr::V4(a) => Some(*a),
                    IpAddr::V6(_) => None,
                })
                .collect(),
            addrs6: r
                .addresses
                .iter()
                .filter_map(|a| match a {
                    IpAddr::V6(a) => Some(*a),
                    IpAddr::V4(_) => None,
                })
                .collect(),
            ports: (r.ports.min, r.ports.max),
        })
        .collect();
    LbConfig {
        kernel: kernel_paths(cfg),
        standby: standby.to_vec(),
        synproxy: SynProxySettings {
            auto_threshold: cfg.synproxy.auto_threshold,
            reset_bad_cookie: cfg.synproxy.reset_bad_cookie,
        },
        garp: Garp {
            count: cfg.garp.count,
            interval_ms: u64::from(cfg.garp.interval_ms),
        },
        ports,
        interfaces,
        routes,
        neighbours,
        routes6,
        neighbours6,
        services,
        snat,
        sessions: TableConfig {
            capacity: cfg.sessions.capacity as usize,
            capacity6: cfg.sessions.capacity6 as usize,
            timeouts: base,
            ..TableConfig::default()
        },
    }
}

/// The ports' kernel interfaces; the *k*-th one's queues are packet-I/O
/// port `ports + k` of worker 0 (see `crate::kernel`).
pub fn kernel_paths(cfg: &Config) -> Vec<KernelPath> {
    cfg.ports
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.kernel.as_ref().map(|k| (i, k)))
        .enumerate()
        .map(|(ordinal, (port, k))| KernelPath {
            port: port as u16,
            io_port: (cfg.ports.len() + ordinal) as u16,
            addrs: k.addresses.iter().map(|a| a.addr).collect(),
            unmatched: k.unmatched,
            budget: k.budget,
        })
        .collect()
}

fn service(s: &ServiceConfig, base: &Timeouts) -> ServiceSpec {
    ServiceSpec {
        name: s.name.clone(),
        vip: s.vip,
        proto: s.protocol.ip_proto(),
        port: s.port,
        extra_ports: s.ports().1 - s.ports().0,
        also_listen: s.also_listen.iter().map(|a| (a.ip(), a.port())).collect(),
        one_packet: s.ops,
        mode: match s.mode {
            LbMode::Dr => Mode::Dr,
            LbMode::Tun => Mode::Tun,
            LbMode::Nat => Mode::Nat,
            LbMode::Fullnat => Mode::FullNat,
        },
        scheduler: match s.scheduler {
            SchedulerName::Rr => SchedulerKind::RoundRobin,
            SchedulerName::Wrr => SchedulerKind::WeightedRoundRobin,
            SchedulerName::Lc => SchedulerKind::LeastConnection,
            SchedulerName::Wlc => SchedulerKind::WeightedLeastConnection,
            SchedulerName::Sh => SchedulerKind::SourceHash,
            SchedulerName::Mh => SchedulerKind::Maglev {
                table_size: maglev::DEFAULT_SIZE,
                hash_ports: s.mh_ports,
            },
            SchedulerName::Dh => SchedulerKind::DestinationHash,
            SchedulerName::Sed => SchedulerKind::ShortestExpectedDelay,
            SchedulerName::Nq => SchedulerKind::NeverQueue,
            SchedulerName::Lblc => SchedulerKind::LocalityLeastConnection,
            SchedulerName::Lblcr => SchedulerKind::LocalityLeastConnectionReplicated,
            SchedulerName::Fo => SchedulerKind::WeightedFailover,
            SchedulerName::Ovf => SchedulerKind::Overflow,
        },
        pickup: s.picks_up(),
        persistence: (s.persistence > 0).then(|| Persistence {
            timeout_ms: s.persistence.saturating_mul(1000),
            // In the VIP's family: an IPv6 VIP's clients by an IPv6 prefix.
            prefix_len: match s.vip {
                std::net::IpAddr::V4(_) => s.persistence_prefix,
                std::net::IpAddr::V6(_) => s.persistence_prefix6,
            },
        }),
        local_addrs: s
            .local_addresses
            .iter()
            .filter_map(|a| match a {
                std::net::IpAddr::V4(a) => Some(*a),
                std::net::IpAddr::V6(_) => None,
            })
            .collect(),
        local_addrs6: s
            .local_addresses
            .iter()
            .filter_map(|a| match a {
                std::net::IpAddr::V6(a) => Some(*a),
                std::net::IpAddr::V4(_) => None,
            })
            .collect(),
        local_ports: (s.local_ports.min, s.local_ports.max),
        timeouts: s.timeouts.as_ref().map(|t| timeouts(*base, t)),
        acl: AclSpec {
            allow: s
                .allow
                .iter()
                .filter_map(|p| p.v4())
                .map(|p| (p.addr, p.len))
                .collect(),
            deny: s
                .deny
                .iter()
                .filter_map(|p| p.v4())
                .map(|p| (p.addr, p.len))
                .collect(),
            allow6: s
                .allow
                .iter()
                .filter_map(|p| p.v6())
                .map(|p| (p.addr, p.len))
                .collect(),
            deny6: s
                .deny
                .iter()
                .filter_map(|p| p.v6())
                .map(|p| (p.addr, p.len))
                .collect(),
        },
        mss_clamp: s.mss_clamp,
        new_conn_rate: s.new_conn_rate.map(|rate| RateLimit {
            rate,
            burst: s.new_conn_burst.unwrap_or(rate),
        }),
        client_rate: s.client_rate.map(|rate| ClientLimit {
            rate: RateLimit {
                rate,
                burst: s.client_burst.unwrap_or(rate),
            },
            // One IPv4 address; an IPv6 client's /64, the least a host
            // or a home network is given (RFC 6177).
            prefix_len: s
                .client_prefix_len
                .unwrap_or(if s.vip.is_ipv6() { 64 } else { 32 }),
        }),
        toa: s.toa,
        proxy_protocol: s.proxy_protocol.map(|v| match v {
            ProxyProtocol::V1 => ProxyVersion::V1,
            ProxyProtocol::V2 => ProxyVersion::V2,
        }),
        syn_proxy: s.syn_proxy,
        backends: s
            .backends
            .iter()
            .map(|b| BackendSpec {
                addr: b.address,
                port: s.backend_port(b),
                weight: b.weight,
                u_threshold: b.u_threshold,
                l_threshold: b.l_threshold,
            })
            .collect(),
    }
}

/// `base` with the configured values (seconds) put in.
fn timeouts(mut base: Timeouts, t: &TimeoutsConfig) -> Timeouts {
    let ms = |s: u32| s.saturating_mul(1000);
    for (state, value) in [
        (TcpState::Established, t.tcp_established),
        (TcpState::SynRecv, t.tcp_syn_recv),
        (TcpState::FinWait, t.tcp_fin_wait),
        (TcpState::TimeWait, t.tcp_time_wait),
        (TcpState::Close, t.tcp_close),
        (TcpState::CloseWait, t.tcp_close_wait),
        (TcpState::LastAck, t.tcp_last_ack),
        (TcpState::SynSent, t.tcp_syn_sent),
    ] {
        if let Some(v) = value {
            base.set_tcp(state, ms(v));
        }
    }
    if let Some(v) = t.udp {
        base.udp = ms(v);
    }
    if let Some(v) = t.icmp {
        base.icmp = ms(v);
    }
    base
}
