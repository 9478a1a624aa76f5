//! `[port.bond]`: parsing, the devargs the bond is created with, and every
//! refusal naming its key.

use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<LoadedConfig, ConfigErrors> {
    Config::parse(Path::new("test.toml"), text.to_owned())
}

/// The errors of a refused config, as `(key, message)`.
fn errors(text: &str) -> Vec<(String, String)> {
    parse(text)
        .expect_err("config should be refused")
        .0
        .into_iter()
        .map(|e| (e.key.unwrap_or_default(), e.message))
        .collect()
}

/// A bond port `ext` with `BOND` as its table body, and a plain port.
fn config(bond: &str) -> String {
    format!(
        r#"
[eal]
args = ["--no-huge", "--no-pci"]

[[port]]
name = "ext"
bond = {{ {bond} }}

[[port]]
name = "lan"
device = "net_af_packet0,iface=lan"
"#
    )
}

const AB: &str = r#"mode = "active-backup", members = ["net_tap0,iface=m0", "net_tap1,iface=m1"]"#;

#[test]
fn an_active_backup_bond_parses_with_linux_defaults_and_becomes_one_vdev() {
    let cfg = parse(&config(AB)).expect("valid").config;
    let port = &cfg.ports[0];
    let bond = port.bond.as_ref().expect("a bond");
    assert_eq!(bond.mode, BondMode::ActiveBackup);
    assert_eq!(bond.miimon, 10);
    assert_eq!(bond.primary, None);
    assert_eq!(
        port.device_kind(),
        Device::Vdev {
            name: "net_bonding_ext".into()
        }
    );
    assert_eq!(
        bond.devargs("ext"),
        "net_bonding_ext,mode=1,slave=net_tap0,slave=net_tap1"
    );
    assert_eq!(
        port.devices().collect::<Vec<_>>(),
        ["net_tap0,iface=m0", "net_tap1,iface=m1"]
    );
}

#[test]
fn primary_and_the_hash_policy_reach_the_devargs() {
    let text = config(&format!(r#"{AB}, primary = "net_tap1", miimon = 100"#));
    let cfg = parse(&text).expect("valid").config;
    assert_eq!(
        cfg.ports[0].bond.as_ref().expect("bond").devargs("ext"),
        "net_bonding_ext,mode=1,slave=net_tap0,slave=net_tap1,primary=net_tap1"
    );
    assert_eq!(cfg.ports[0].bond.as_ref().expect("bond").miimon, 100);
    let lacp = config(
        r#"mode = "802.3ad", members = ["0000:3b:00.0", "3b:00.1,rxq_cqe_comp_en=0"], xmit_hash_policy = "layer2+3""#,
    )
    .replace(r#"args = ["--no-huge", "--no-pci"]"#, r#"args = ["--no-huge"]"#);
    let cfg = parse(&lacp).expect("valid").config;
    assert_eq!(
        cfg.ports[0].bond.as_ref().expect("bond").devargs("ext"),
        "net_bonding_ext,mode=4,slave=0000:3b:00.0,slave=0000:3b:00.1,xmit_policy=l23"
    );
    // balance-xor and 802.3ad hash on addresses and ports by default.
    let xor = config(r#"mode = "balance-xor", members = ["net_tap0", "net_tap1"]"#);
    let cfg = parse(&xor).expect("valid").config;
    assert!(cfg.ports[0]
        .bond
        .as_ref()
        .expect("bond")
        .devargs("ext")
        .ends_with(",mode=2,slave=net_tap0,slave=net_tap1,xmit_policy=l34"));
}

#[test]
fn every_member_has_descriptors_and_mbufs_for_them() {
    let plain = parse(&config(AB).replace(
        "bond = { mode = \"active-backup\", members = [\"net_tap0,iface=m0\", \"net_tap1,iface=m1\"] }",
        "device = \"net_tap0,iface=m0\"",
    ))
    .expect("valid")
    .config;
    let bonded = parse(&config(AB)).expect("valid").config;
    assert_eq!(plain.ports[0].device_count(), 1);
    assert_eq!(bonded.ports[0].device_count(), 2);
    // One more member: its RX and TX descriptors (1024 each), doubled.
    assert_eq!(
        bonded.mbufs_needed() - plain.mbufs_needed(),
        2 * (1024 + 1024)
    );
}

#[test]
fn a_bond_without_members_or_with_a_device_too_is_refused() {
    assert_eq!(
        errors(&config(r#"mode = "active-backup", members = []"#)),
        [(
            "port[0].bond.members".to_string(),
            "no members: list the devices the bond is made of (two or more for redundancy)"
                .to_string()
        )]
    );
    let both = config(AB).replace("name = \"ext\"", "name = \"ext\"\ndevice = \"net_tap9\"");
    let errs = errors(&both);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "port[0].device");
    assert!(errs[0].1.contains("bond.members"), "{errs:?}");
}

#[test]
fn a_member_used_twice_or_also_as_a_port_is_refused_at_its_index() {
    let twice =
        config(r#"mode = "active-backup", members = ["net_tap0,iface=a", "net_tap0,iface=b"]"#);
    assert_eq!(
        errors(&twice),
        [(
            "port[0].bond.members[1]".to_string(),
            "net_tap0 is already a member (port[0].bond.members[0])".to_string()
        )]
    );
    let port_too =
        config(r#"mode = "active-backup", members = ["net_tap0", "net_af_packet0,iface=x"]"#);
    let errs = errors(&port_too);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "port[0].bond.members[1]");
    assert!(errs[0].1.contains("also port[1].device"), "{errs:?}");
    // A member of two bonds.
    let two_bonds = format!(
        "{}\n[[port]]\nname = \"b2\"\nbond = {{ mode = \"active-backup\", members = [\"net_tap1\"] }}\n\
         [forward]\ntopology = \"loop\"\n",
        config(AB)
    );
    let errs = errors(&two_bonds);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "port[2].bond.members[0]");
    assert!(errs[0].1.contains("port[0].bond.members[1]"), "{errs:?}");
}

#[test]
fn members_that_cannot_be_are_refused() {
    let errs = errors(&config(
        r#"mode = "active-backup", members = ["net_bonding0,mode=1", "", "0000:3b:00.0"]"#,
    ));
    let keys: Vec<&str> = errs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "port[0].bond.members[0]",
            "port[0].bond.members[1]",
            "port[0].bond.members[2]"
        ],
        "{errs:?}"
    );
    assert!(errs[0].1.contains("bonds of bonds"));
    assert!(errs[1].1.contains("member is empty"));
    assert!(errs[2].1.contains("--no-pci"));
    let many: Vec<String> = (0..=MAX_BOND_MEMBERS)
        .map(|i| format!("\"net_tap{i}\""))
        .collect();
    let errs = errors(&config(&format!(
        r#"mode = "802.3ad", members = [{}]"#,
        many.join(", ")
    )));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "port[0].bond.members");
}

#[test]
fn options_that_do_not_fit_the_mode_or_members_are_refused() {
    let bad_primary = config(&format!(r#"{AB}, primary = "net_tap7""#));
    let errs = errors(&bad_primary);
    assert_eq!(errs[0].0, "port[0].bond.primary");
    assert!(errs[0].1.contains("net_tap0, net_tap1"), "{errs:?}");
    let lacp_primary = config(r#"mode = "802.3ad", members = ["net_tap0"], primary = "net_tap0""#);
    assert_eq!(errors(&lacp_primary)[0].0, "port[0].bond.primary");
    let ab_policy = config(&format!(r#"{AB}, xmit_hash_policy = "layer3+4""#));
    assert_eq!(errors(&ab_policy)[0].0, "port[0].bond.xmit_hash_policy");
    let miimon = config(&format!(r#"{AB}, miimon = 0"#));
    assert_eq!(
        errors(&miimon),
        [(
            "port[0].bond.miimon".to_string(),
            "0 ms: must be 1..=10000".to_string()
        )]
    );
    // Unknown modes and keys are refused by the parser, naming the key.
    let err = parse(&config(r#"mode = "balance-rr", members = ["net_tap0"]"#))
        .expect_err("unknown mode")
        .to_string();
    assert!(
        err.contains("port[0].bond") && err.contains("balance-rr") && err.contains("802.3ad"),
        "{err}"
    );
    let err = parse(&config(&format!(r#"{AB}, updelay = 5"#)))
        .expect_err("unknown key")
        .to_string();
    assert!(err.contains("updelay"), "{err}");
}

#[test]
fn an_af_xdp_member_brings_the_af_xdp_mtu_limit() {
    let text = config(r#"mode = "active-backup", members = ["net_af_xdp0,iface=m0"]"#).replace(
        "device = \"net_af_packet0,iface=lan\"",
        "device = \"net_af_packet0,iface=lan\"\nmtu = 9000",
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "port[1].mtu");
    assert!(errs[0].1.contains("net_af_xdp"), "{errs:?}");
}
