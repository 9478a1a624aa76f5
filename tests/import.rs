//! Migration against the real binaries: keepalived samples (LVS-NAT,
//! LVS-DR, LVS-TUN) and `ipvsadm-save` output imported by `ferrolbctl
//! import`, checked by `ferrolb --check`, run by the appliance, whose
//! `ferrolbctl list` shows the services and weights the source declares;
//! `ferrolbctl export ipvsadm` gives the rules back; `ferrolbctl zero`
//! resets the counters (docs/migration.md).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::appliance::{dns_traffic, ferrolbctl_bin, Appliance, DNS};
use ferrolb_perf::scenario;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("control/src/import/fixtures")
        .join(name)
}

fn ferrolbctl(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(ferrolbctl_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ferrolbctl");
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("ferrolbctl output")
}

/// (service, [(backend, weight)]) as `ferrolbctl list` shows them.
fn listed(app: &Appliance) -> BTreeMap<String, Vec<(String, u64)>> {
    let list: Value = app.ctl_json(&["list"]);
    list["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| {
            let key = s["key"].as_str().expect("key").to_string();
            let backends = s["backends"]
                .as_array()
                .expect("backends")
                .iter()
                .map(|b| {
                    (
                        format!("{}:{}", b["address"].as_str().expect("address"), b["port"]),
                        b["weight"].as_u64().expect("weight"),
                    )
                })
                .collect();
            (key, backends)
        })
        .collect()
}

fn pairs(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(b, w)| (b.to_string(), *w)).collect()
}

/// Imports with `args`, checks the unmapped lines on stderr, runs the
/// result in an appliance (with the one-armed DNS scenario around it) and
/// returns what it lists.
fn import_and_run(
    args: &[&str],
    stdin: Option<&str>,
    unmapped: usize,
) -> (Appliance, BTreeMap<String, Vec<(String, u64)>>) {
    let out = ferrolbctl(args, stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stderr.lines().count(),
        unmapped,
        "unmapped options:\n{stderr}"
    );
    let toml = String::from_utf8(out.stdout).expect("utf-8");
    let app = Appliance::start(
        &format!("{}\n{toml}", scenario::ONE_ARMED_DNS),
        &dns_traffic(),
    );
    // The file the appliance runs passes --check too.
    let check = Command::new(common::ferrolb_bin())
        .args(["--check", "-c"])
        .arg(&app.config)
        .output()
        .expect("ferrolb --check");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut services = listed(&app);
    services.remove(DNS);
    (app, services)
}

#[test]
fn keepalived_lvs_nat_dr_and_tun_samples_run_with_their_services_and_weights() {
    let nat = fixture("lvs-nat.conf");
    let (app, services) = import_and_run(&["import", "keepalived", nat.to_str().unwrap()], None, 4);
    assert_eq!(
        services,
        BTreeMap::from([
            (
                "tcp/192.0.2.10:80".into(),
                pairs(&[("10.0.1.11:8080", 3), ("10.0.1.12:8080", 1)])
            ),
            (
                "tcp/192.0.2.10:443".into(),
                pairs(&[("10.0.1.11:8443", 2), ("10.0.1.12:8443", 2)])
            ),
            (
                "udp/192.0.2.10:53".into(),
                pairs(&[("10.0.1.21:53", 1), ("10.0.1.22:53", 1)])
            ),
        ])
    );
    app.stop();

    let dr = fixture("lvs-dr.conf");
    let (app, services) = import_and_run(&["import", "keepalived", dr.to_str().unwrap()], None, 3);
    assert_eq!(
        services,
        BTreeMap::from([(
            "tcp/192.0.2.20:80".into(),
            pairs(&[
                ("10.0.0.31:80", 2),
                ("10.0.0.32:80", 2),
                ("10.0.0.33:80", 1)
            ])
        )])
    );
    app.stop();

    let tun = fixture("lvs-tun.conf");
    let (app, services) = import_and_run(&["import", "keepalived", tun.to_str().unwrap()], None, 1);
    let backends = pairs(&[("198.51.100.41:80", 1), ("198.51.100.42:80", 4)]);
    // The group is one service on all three addresses.
    assert_eq!(
        services,
        BTreeMap::from([("tcp/192.0.2.30:80".into(), backends)])
    );
    let list: Value = app.ctl_json(&["list"]);
    let group = list["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["key"] == "tcp/192.0.2.30:80")
        .expect("the group's service");
    assert_eq!(
        group["also_listen"],
        serde_json::json!(["192.0.2.31:80", "192.0.2.32:80"])
    );
    app.stop();
}

#[test]
fn import_into_a_base_config_checks_the_result() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = dir.path().join("base.toml");
    std::fs::write(
        &base,
        format!(
            "[[port]]\nname = \"lan\"\ndevice = \"net_null0\"\n{}",
            scenario::ONE_ARMED_DNS
        ),
    )
    .expect("write");
    let nat = fixture("lvs-nat.conf");
    let out = ferrolbctl(
        &[
            "import",
            "keepalived",
            nat.to_str().unwrap(),
            "--into",
            base.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = dir.path().join("merged.toml");
    std::fs::write(&merged, &out.stdout).expect("write");
    let check = Command::new(common::ferrolb_bin())
        .args(["--check", "-c"])
        .arg(&merged)
        .output()
        .expect("ferrolb --check");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // A base whose services clash is refused, naming the problem.
    let clash = ferrolbctl(
        &[
            "import",
            "keepalived",
            nat.to_str().unwrap(),
            "--into",
            merged.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(clash.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&clash.stderr);
    assert!(
        stderr.contains("do not fit") && stderr.contains("tcp/192.0.2.10:80"),
        "{stderr}"
    );
}

#[test]
fn ipvsadm_save_imports_runs_and_exports_back_and_zero_resets_counters() {
    let save = std::fs::read_to_string(fixture("ipvsadm.save")).expect("fixture");
    let (app, services) = import_and_run(&["import", "ipvsadm"], Some(&save), 3);
    assert_eq!(
        services,
        BTreeMap::from([
            (
                "tcp/192.0.2.10:80".into(),
                pairs(&[("10.0.1.11:8080", 3), ("10.0.1.12:8080", 1)])
            ),
            (
                "udp/192.0.2.10:53".into(),
                pairs(&[("10.0.1.21:53", 1), ("10.0.1.22:53", 0)])
            ),
            (
                "tcp/192.0.2.30:443".into(),
                pairs(&[("198.51.100.41:443", 2)])
            ),
            ("tcp/192.0.2.40:80".into(), pairs(&[("10.0.1.31:80", 1)])),
            ("udp/192.0.2.50:53".into(), pairs(&[("10.0.1.41:53", 1)])),
            ("tcp/192.0.2.60:0".into(), pairs(&[("10.0.1.51:0", 1)])),
        ])
    );
    // Export from the running appliance: the mapped rules, and the DNS
    // scenario's FULLNAT service listed as not exportable.
    let out = app.ctl(&["export", "ipvsadm"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let expected: Vec<&str> = save
        .lines()
        .filter(|l| !l.contains(" -f "))
        .map(|l| match l.starts_with("-A -t 192.0.2.40:80") {
            true => l.trim_end_matches(" -o"),
            false => l,
        })
        .collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("udp/192.0.2.20:53: FULLNAT has no ipvsadm equivalent"));

    // Zero: the replayed DNS flows made connections; after `zero` the
    // service counts none (its flows have sessions already).
    let conns = |app: &Appliance| -> (u64, u64) {
        let list = app.ctl_json(&["list", "--stats"]);
        let s = list["services"]
            .as_array()
            .expect("services")
            .iter()
            .find(|s| s["key"] == DNS)
            .expect("dns service")
            .clone();
        (
            s["stats"]["conns"].as_u64().expect("conns"),
            s["stats"]["packets_in"].as_u64().expect("packets"),
        )
    };
    app.wait_for("every DNS flow to make a session", || conns(&app).0 >= 64);
    let out = app.ctl_ok(&["zero", DNS]);
    assert_eq!(
        out.trim(),
        format!("zeroed the counters of {DNS} and its backends (1 workers)")
    );
    assert_eq!(conns(&app).0, 0, "no new sessions since the zero");
    app.ctl_ok(&["zero"]);
    app.stop();
}
