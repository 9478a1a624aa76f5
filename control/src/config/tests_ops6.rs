//! `ops` and `also_listen` on an IPv6 service (issue 20): one-packet
//! scheduling taken where IPv4 takes it (UDP, DR or TUN) and refused
//! where IPv4 refuses it (NAT, FULLNAT, NAT64, TCP) at `ops`; an IPv6
//! group's addresses taken, of the VIP's family, and checked as an IPv6
//! VIP is, each refusal at `also_listen[i]` (or at the key of what they
//! clash with, as IPv4's).

use std::net::SocketAddr;

use super::tests_ipv6::{dr6, fullnat6, nat64, refused_at};
use super::tests_lb::parse;
use super::*;

fn line(t: &str, n: &str) -> usize {
    t.lines()
        .position(|l| l.contains(n))
        .unwrap_or_else(|| panic!("{n:?} not in the text"))
        + 1
}

/// `text`'s service made UDP with `set` after its port.
fn udp_with(text: &str, set: &str) -> String {
    text.replacen("protocol = \"tcp\"", "protocol = \"udp\"", 1)
        .replacen("port = 80\n", &format!("port = 80\n{set}\n"), 1)
}

#[test]
fn ops_is_taken_on_ipv6_udp_dr_and_tun() {
    for mode in ["dr", "tun"] {
        let t = udp_with(
            &dr6().replacen("mode = \"dr\"", &format!("mode = \"{mode}\""), 1),
            "ops = true",
        );
        let cfg = parse(&t).unwrap_or_else(|e| panic!("{mode}: {e}")).config;
        assert!(cfg.services[0].ops, "{mode}");
        assert!(cfg.services[0].vip.is_ipv6());
    }
}

#[test]
fn ops_is_refused_at_its_key_where_ipv4_refuses_it() {
    // TCP, and the modes whose replies need a session.
    let tcp = dr6().replacen("port = 80\n", "port = 80\nops = true\n", 1);
    let m = refused_at(&tcp, "service[0].ops", line(&tcp, "ops = true"));
    assert!(m.contains("for udp services with mode dr or tun"), "{m}");
    let nat = udp_with(
        &dr6().replacen("mode = \"dr\"", "mode = \"nat\"", 1),
        "ops = true",
    );
    let m = refused_at(&nat, "service[0].ops", line(&nat, "ops = true"));
    assert!(m.contains("a udp nat service needs a session"), "{m}");
    let fullnat = udp_with(&fullnat6("\"2001:db8::100\""), "ops = true");
    let m = refused_at(&fullnat, "service[0].ops", line(&fullnat, "ops = true"));
    assert!(m.contains("a udp fullnat service needs a session"), "{m}");
    // NAT64 is FULLNAT: its IPv4 replies are translated by the session.
    let t = udp_with(&nat64(), "ops = true");
    let m = refused_at(&t, "service[0].ops", line(&t, "ops = true"));
    assert!(
        m.contains("a udp fullnat (NAT64) service needs a session to translate the replies"),
        "{m}"
    );
}

#[test]
fn an_ipv6_group_listens_on_its_ipv6_addresses() {
    let t = dr6().replacen(
        "port = 80\n",
        "port = 80\nalso_listen = [\"[2001:db8:10::11]:80\", \"[2001:db8:10::11]:0\"]\n",
        1,
    );
    // Port 0 beside port 80 of one address: 0 takes what 80 leaves.
    let cfg = parse(&t).unwrap_or_else(|e| panic!("{e}")).config;
    let s = &cfg.services[0];
    let vip2: std::net::IpAddr = "2001:db8:10::11".parse().unwrap();
    assert_eq!(
        s.listens(),
        [(s.vip, 80, 80), (vip2, 80, 80), (vip2, 0, u16::MAX),]
    );
    assert!(s.multi_port(), "port 0 is every port");
    // Back from JSON (the control socket) and TOML as written.
    let json = serde_json::to_string(s).unwrap();
    assert!(json.contains("\"[2001:db8:10::11]:80\""), "{json}");
    let back: ServiceConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back.also_listen, s.also_listen);
    let toml = toml::to_string(&cfg).unwrap();
    assert!(toml.contains("[2001:db8:10::11]:80"), "{toml}");
}

#[test]
fn a_group_address_of_the_other_family_is_refused_at_its_index() {
    let t = dr6().replacen(
        "port = 80\n",
        "port = 80\nalso_listen = [\"[2001:db8:10::11]:80\", \"192.0.2.11:80\"]\n",
        1,
    );
    let m = refused_at(&t, "service[0].also_listen[1]", line(&t, "also_listen"));
    assert!(
        m.contains(
            "192.0.2.11:80 is IPv4 and the VIP 2001:db8:10::10 is IPv6: a service's also_listen \
             addresses are of its VIP's family"
        ),
        "{m}"
    );
    // And the other way round: an IPv4 VIP's group.
    let t = super::tests_lb::BASE.replacen(
        "port = 80\n",
        "port = 80\nalso_listen = [\"[2001:db8:10::11]:80\"]\n",
        1,
    );
    let m = refused_at(&t, "service[0].also_listen[0]", line(&t, "also_listen"));
    assert!(m.contains("is IPv6 and the VIP 192.0.2.10 is IPv4"), "{m}");
}

#[test]
fn unusable_ipv6_group_addresses_are_refused_as_a_vip_is() {
    for (a, why) in [
        ("::", "the unspecified address"),
        ("::1", "the loopback address"),
        ("ff02::10", "a multicast address"),
        ("::ffff:192.0.2.11", "an IPv4-mapped address"),
        ("2001:db8::1", "an interface address of this appliance"),
    ] {
        let t = dr6().replacen(
            "port = 80\n",
            &format!("port = 80\nalso_listen = [\"[{a}]:80\"]\n"),
            1,
        );
        let m = refused_at(&t, "service[0].also_listen[0]", line(&t, "also_listen"));
        assert!(
            m.contains(why) && m.contains("not usable as a VIP"),
            "{a}: {m}"
        );
    }
}

#[test]
fn an_ipv6_group_address_may_not_take_a_port_already_taken() {
    // Its own VIP's port again.
    let t = dr6().replacen(
        "port = 80\n",
        "port = 80\nalso_listen = [\"[2001:db8:10::10]:80\"]\n",
        1,
    );
    let m = refused_at(&t, "service[0].also_listen[0]", line(&t, "also_listen"));
    assert!(
        m.contains(
            "tcp/[2001:db8:10::10]:80 shares ports with this service's tcp/[2001:db8:10::10]:80"
        ),
        "{m}"
    );
    // Another service's VIP and port.
    let t = format!(
        "{}\n[[service]]\nvip = \"2001:db8:10::20\"\nprotocol = \"tcp\"\nport = 80\nmode = \"dr\"\n\
         also_listen = [\"[2001:db8:10::10]:80\"]\n\n[[service.backend]]\naddress = \"2001:db8::12\"\n",
        dr6()
    );
    let m = refused_at(&t, "service[1].also_listen[0]", line(&t, "also_listen"));
    assert!(
        m.contains("tcp/[2001:db8:10::10]:80 shares ports with service[0]"),
        "{m}"
    );
}

#[test]
fn an_ipv6_group_address_is_no_local_snat_gateway_or_neighbour_address() {
    let group = "port = 80\nalso_listen = [\"[2001:db8:10::11]:80\"]\n";
    // A FULLNAT local address.
    let t = fullnat6("\"2001:db8:10::11\"").replacen("port = 80\n", group, 1);
    let m = refused_at(
        &t,
        "service[0].local_addresses[0]",
        line(&t, "local_addresses"),
    );
    assert!(
        m.contains("2001:db8:10::11 is the VIP of service[0]"),
        "{m}"
    );
    // A SNAT address.
    let t = format!(
        "{}\n[[snat]]\nsource = \"2001:db8:5::/64\"\nport = \"lan\"\naddresses = [\"2001:db8:10::11\"]\n",
        dr6().replacen("port = 80\n", group, 1)
    );
    let m = refused_at(
        &t,
        "snat[0].addresses[0]",
        line(&t, "addresses = [\"2001:db8:10::11\"]"),
    );
    assert!(m.contains("is the VIP of service[0]"), "{m}");
    // An IPv6 gateway and a static neighbour.
    let t = format!(
        "{}\n[[route]]\nprefix = \"2001:db8:99::/48\"\nvia = \"2001:db8:10::11\"\n\n\
         [[neighbour]]\naddress = \"2001:db8:10::11\"\nmac = \"02:00:00:00:00:aa\"\n",
        dr6().replacen("port = 80\n", group, 1)
    );
    let m = refused_at(&t, "route[1].via", line(&t, "via = \"2001:db8:10::11\""));
    assert!(
        m.contains("service[0].also_listen[0], an address of this appliance"),
        "{m}"
    );
    let m = refused_at(
        &t,
        "neighbour[1].address",
        line(&t, "address = \"2001:db8:10::11\""),
    );
    assert!(m.contains("service[0].also_listen[0]"), "{m}");
}

#[test]
fn the_parsed_group_keeps_its_socket_addresses() {
    let a: SocketAddr = "[2001:db8:10::11]:53".parse().unwrap();
    let t = udp_with(
        &dr6(),
        "ops = true\nalso_listen = [\"[2001:db8:10::11]:53\"]",
    );
    let cfg = parse(&t).unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(cfg.services[0].also_listen, [a]);
    assert!(cfg.services[0].ops);
}
