//! The keys of issue 21's limits and client address: backend thresholds,
//! rate limits, `toa` and `proxy_protocol`, each refusal at its key.

use super::tests_lb::{errors, parse, refused, BASE};
use super::*;

#[test]
fn backend_thresholds_are_read_and_a_lower_above_upper_is_refused() {
    let with = |keys: &str| {
        BASE.replace(
            "address = \"10.0.0.11\"",
            &format!("address = \"10.0.0.11\"\n{keys}"),
        )
    };
    let ok = parse(&with("u_threshold = 100\nl_threshold = 60"))
        .expect("valid")
        .config;
    let b = &ok.services[0].backends[0];
    assert_eq!((b.u_threshold, b.l_threshold), (100, 60));
    assert!(parse(&with("u_threshold = 100")).is_ok(), "lower defaults");
    let e = refused(
        &with("u_threshold = 10\nl_threshold = 11"),
        "service[0].backend[0].l_threshold",
        26,
    );
    assert!(e.message.contains("above u_threshold 10"), "{e}");
    let e = refused(
        &with("l_threshold = 5"),
        "service[0].backend[0].l_threshold",
        25,
    );
    assert!(e.message.contains("without u_threshold"), "{e}");
}

#[test]
fn rate_limits_are_read_and_zero_or_orphan_keys_are_refused() {
    let with = |keys: &str| BASE.replace("mode = \"nat\"", &format!("mode = \"nat\"\n{keys}"));
    let ok = parse(&with(
        "new_conn_rate = 1000\nnew_conn_burst = 50\nclient_rate = 10\nclient_prefix_len = 24",
    ))
    .expect("valid")
    .config;
    let s = &ok.services[0];
    assert_eq!(
        (
            s.new_conn_rate,
            s.new_conn_burst,
            s.client_rate,
            s.client_burst,
            s.client_prefix_len
        ),
        (Some(1000), Some(50), Some(10), None, Some(24))
    );
    for (keys, key, says) in [
        ("new_conn_rate = 0", "new_conn_rate", "at least 1"),
        (
            "new_conn_burst = 5",
            "new_conn_burst",
            "without new_conn_rate",
        ),
        (
            "new_conn_rate = 5\nnew_conn_burst = 0",
            "new_conn_burst",
            "at least 1",
        ),
        ("client_rate = 0", "client_rate", "at least 1"),
        ("client_burst = 3", "client_burst", "without client_rate"),
        (
            "client_prefix_len = 24",
            "client_prefix_len",
            "without client_rate",
        ),
        (
            "client_rate = 5\nclient_prefix_len = 33",
            "client_prefix_len",
            "0..=32",
        ),
    ] {
        let errs = errors(&with(keys));
        assert_eq!(errs.len(), 1, "{keys}: {errs:#?}");
        let e = &errs[0];
        assert_eq!(
            e.key.as_deref(),
            Some(&*format!("service[0].{key}")),
            "{keys}"
        );
        assert!(e.message.contains(says), "{keys}: {e}");
    }
}

#[test]
fn toa_and_proxy_protocol_refusals_name_their_key() {
    let fullnat = BASE.replace(
        "mode = \"nat\"",
        "mode = \"fullnat\"\nlocal_addresses = [\"10.0.0.100\"]",
    );
    let with =
        |text: &str, keys: &str| text.replace("port = 80\n", &format!("port = 80\n{keys}\n"));
    let udp = |text: String| text.replace("protocol = \"tcp\"", "protocol = \"udp\"");
    let ok = parse(&with(&fullnat, "toa = true")).expect("valid").config;
    assert!(ok.services[0].toa);
    let ok = parse(&udp(with(&fullnat, "proxy_protocol = \"v2\"")))
        .expect("valid")
        .config;
    assert_eq!(ok.services[0].proxy_protocol, Some(ProxyProtocol::V2));
    for (text, key, says) in [
        (with(BASE, "toa = true"), "toa", "toa is for fullnat"),
        (
            udp(with(&fullnat, "toa = true")),
            "toa",
            "tcp services only",
        ),
        (
            with(
                &BASE.replace("mode = \"nat\"", "mode = \"dr\""),
                "proxy_protocol = \"v2\"",
            ),
            "proxy_protocol",
            "is for nat and fullnat: a dr backend answers the client directly",
        ),
        (
            with(
                &BASE.replace("mode = \"nat\"", "mode = \"tun\""),
                "proxy_protocol = \"v1\"",
            ),
            "proxy_protocol",
            "is for nat and fullnat: a tun backend",
        ),
        (
            with(&fullnat, "proxy_protocol = \"v2\"\ntoa = true"),
            "proxy_protocol",
            "proxy_protocol and toa together",
        ),
        (
            udp(with(&fullnat, "proxy_protocol = \"v1\"")),
            "proxy_protocol",
            "udp services take \"v2\"",
        ),
        (
            udp(with(BASE, "proxy_protocol = \"v2\"")),
            "proxy_protocol",
            "is for fullnat",
        ),
    ] {
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{text}: {errs:#?}");
        assert_eq!(errs[0].key.as_deref(), Some(&*format!("service[0].{key}")));
        assert!(errs[0].message.contains(says), "{}", errs[0]);
    }
    assert!(parse(&with(&fullnat, "proxy_protocol = \"v3\"")).is_err());
}

#[test]
fn tcp_services_in_nat_and_fullnat_take_proxy_protocol_v1_and_v2_with_syn_proxy_too() {
    let fullnat = BASE.replace(
        "mode = \"nat\"",
        "mode = \"fullnat\"\nlocal_addresses = [\"10.0.0.100\"]",
    );
    let with =
        |text: &str, keys: &str| text.replace("port = 80\n", &format!("port = 80\n{keys}\n"));
    for base in [BASE, &fullnat] {
        for (v, want) in [("v1", ProxyProtocol::V1), ("v2", ProxyProtocol::V2)] {
            for extra in ["", "syn_proxy = true"] {
                let text = with(base, &format!("proxy_protocol = \"{v}\"\n{extra}"));
                let ok = parse(&text).expect("valid").config;
                assert_eq!(ok.services[0].proxy_protocol, Some(want), "{text}");
            }
        }
    }
}
