use super::*;
use crate::config::{BackendConfig, LbMode, Protocol, ServiceConfig};

fn service(vip: [u8; 4], port: u16, weights: &[u32]) -> ServiceConfig {
    let mut s = ServiceConfig::new(Ipv4Addr::from(vip), Protocol::Tcp, port, LbMode::Dr);
    for (i, &w) in weights.iter().enumerate() {
        let last = u8::try_from(i + 10).expect("small");
        s.backends
            .push(BackendConfig::new(Ipv4Addr::new(10, 0, 1, last), None, w));
    }
    s
}

#[test]
fn a_vip_is_live_while_one_of_its_services_has_a_backend_above_weight_0() {
    let config = Config {
        services: vec![
            // 192.0.2.10: port 80 dead, port 443 alive: announced.
            service([192, 0, 2, 10], 80, &[0, 0]),
            service([192, 0, 2, 10], 443, &[0, 1]),
            // 192.0.2.11: every backend at 0, or none: withdrawn.
            service([192, 0, 2, 11], 80, &[0]),
            service([192, 0, 2, 11], 443, &[]),
            service([192, 0, 2, 12], 80, &[5]),
        ],
        ..Config::default()
    };
    let live: Vec<_> = live_vips(&config).into_iter().collect();
    assert_eq!(
        live,
        vec![Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(192, 0, 2, 12)]
    );
}

#[test]
fn the_bird_file_is_one_static_protocol_of_32s() {
    let vips: BTreeSet<_> = [Ipv4Addr::new(192, 0, 2, 12), Ipv4Addr::new(192, 0, 2, 10)]
        .into_iter()
        .collect();
    let text = bird_static("ferrolb_vips", &vips);
    let body: Vec<_> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        body,
        [
            "protocol static ferrolb_vips {",
            "  ipv4;",
            "  route 192.0.2.10/32 blackhole;",
            "  route 192.0.2.12/32 blackhole;",
            "}",
        ]
    );
    let empty = bird_static("p", &BTreeSet::new());
    assert!(
        empty.contains("protocol static p {\n  ipv4;\n}\n"),
        "{empty}"
    );
}

#[test]
fn the_log_line_says_what_was_announced_and_withdrawn() {
    let a = |v: &[u8]| -> BTreeSet<Ipv4Addr> {
        v.iter().map(|&l| Ipv4Addr::new(192, 0, 2, l)).collect()
    };
    assert_eq!(
        change_line(Some(&a(&[1, 2])), &a(&[2, 3]), "p"),
        "bgp: p announces 2 VIPs; announced 192.0.2.3/32; withdrew 192.0.2.1/32"
    );
    assert_eq!(change_line(None, &a(&[]), "p"), "bgp: p announces 0 VIPs");
}
