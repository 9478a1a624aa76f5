//! The Debian package (`scripts/package.sh`, docs/packaging.md): what it
//! holds, its dependencies, units that `systemd-analyze verify` accepts,
//! and the units' commands run as systemd would run them (their
//! capability bounding set, no new privileges, the runtime directory),
//! from the files the package installs, on its example config: the
//! appliance starts, `ferrolbctl` from the package talks to it, `reload`
//! applies, the daemon applies and stops, and both stop cleanly. There is
//! no systemd as PID 1 here, so `systemctl start` itself is not run.
//! Needs root (setpriv); fails, never skips, without it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::ferrolb_bin;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the package from the binaries this test run uses.
fn build_package(out: &Path) -> PathBuf {
    let bins = Path::new(ferrolb_bin()).parent().expect("bin dir");
    let printed = run(Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/package.sh"))
        .arg("--bin-dir")
        .arg(bins)
        .arg("--out")
        .arg(out)
        .args(["--compress", "none"]));
    PathBuf::from(printed.lines().last().expect("the .deb's path").trim())
}

/// `Key=` values of a unit file (the last one wins, as in systemd).
fn unit_value(unit: &str, key: &str) -> String {
    unit.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in\n{unit}"))
        .to_owned()
}

/// A unit command line, with the installed programs and config taken from
/// the unpacked package (`root`) and this run's config (`config`), under
/// the unit's capability bounding set.
fn as_unit(line: &str, root: &Path, caps: &str, config: &Path) -> Command {
    let bounding: Vec<String> = caps
        .split_whitespace()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--bounding-set=-all,{}", bounding.join(",")))
        .arg("--no-new-privs");
    for word in line.split_whitespace() {
        if word == "/etc/ferrolb/ferrolb.toml" {
            cmd.arg(config);
        } else if word.starts_with("/usr/") {
            cmd.arg(root.join(word.trim_start_matches('/')));
        } else {
            cmd.arg(word);
        }
    }
    cmd
}

fn spawn(mut cmd: Command, log: &Path) -> Child {
    let f = std::fs::File::create(log).expect("log");
    cmd.stdout(f.try_clone().expect("log"))
        .stderr(f)
        .spawn()
        .expect("spawn")
}

/// SIGTERM, then the exit status within `limit`.
fn stop(mut child: Child, limit: Duration, what: &str) -> bool {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for(what: &str, limit: Duration, f: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_package_installs_what_it_says_and_its_units_run() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "tests/package.rs needs root: it runs the units' commands under setpriv with their \
         capability bounding sets (run scripts/test.sh as root; CI does)"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let deb = build_package(&dir.path().join("out"));
    let field = |f: &str| run(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(f));
    assert_eq!(field("Package").trim(), "ferrolb");
    let depends = field("Depends");
    for dep in [
        "librte-eal23",
        "librte-ethdev23",
        "librte-net-ring23",
        "librte-net-af-packet23",
    ] {
        assert!(depends.contains(dep), "{dep} in {depends}");
    }

    let root = dir.path().join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let control = dir.path().join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));
    assert_eq!(
        std::fs::read_to_string(control.join("conffiles")).expect("conffiles"),
        "/etc/ferrolb/ferrolb.toml\n"
    );
    for file in [
        "usr/sbin/ferrolb",
        "usr/bin/ferrolbctl",
        "lib/systemd/system/ferrolb.service",
        "lib/systemd/system/ferrolb-daemon.service",
        "etc/ferrolb/ferrolb.toml",
        "usr/share/man/man8/ferrolb.8.gz",
        "usr/share/man/man1/ferrolbctl.1.gz",
        "usr/share/man/man1/ferrolbctl-top.1.gz",
        "usr/share/bash-completion/completions/ferrolbctl",
        "usr/share/zsh/vendor-completions/_ferrolb",
        "usr/share/doc/ferrolb/packaging.md",
        "usr/share/doc/ferrolb/copyright",
    ] {
        assert!(root.join(file).exists(), "the package has no {file}");
    }
    let man = run(Command::new("zcat").arg(root.join("usr/share/man/man8/ferrolb.8.gz")));
    assert!(man.contains(".TH ferrolb 8"), "{man}");
    let completion =
        std::fs::read_to_string(root.join("usr/share/bash-completion/completions/ferrolbctl"))
            .expect("completion");
    assert!(
        completion.contains("top") && completion.contains("_ferrolbctl"),
        "{completion}"
    );

    // The units as installed, their programs pointed at the unpacked
    // ones: systemd-analyze verify says nothing.
    let units = dir.path().join("units");
    std::fs::create_dir(&units).expect("dir");
    let mut verify = Command::new("systemd-analyze");
    verify.args(["verify", "--man=no"]);
    for unit in ["ferrolb", "ferrolb-daemon"] {
        let text = std::fs::read_to_string(root.join(format!("lib/systemd/system/{unit}.service")))
            .expect("unit");
        let path = units.join(format!("{unit}.service"));
        let usr = root.join("usr").display().to_string();
        std::fs::write(&path, text.replace("/usr/", &format!("{usr}/"))).expect("write");
        verify.arg(&path);
    }
    let out = verify.output().expect("systemd-analyze");
    assert!(
        out.status.success() && out.stderr.is_empty() && out.stdout.is_empty(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Run as the units would: the runtime directory systemd would make,
    // the shipped example config with its socket there and a DPDK prefix
    // of its own.
    let appliance =
        std::fs::read_to_string(root.join("lib/systemd/system/ferrolb.service")).expect("unit");
    let daemon_unit =
        std::fs::read_to_string(root.join("lib/systemd/system/ferrolb-daemon.service"))
            .expect("unit");
    assert_eq!(unit_value(&appliance, "RuntimeDirectory"), "ferrolb");
    let runtime = dir.path().join("run-ferrolb");
    std::fs::create_dir(&runtime).expect("runtime dir");
    let socket = runtime.join("ferrolb.sock");
    let example = std::fs::read_to_string(root.join("etc/ferrolb/ferrolb.toml")).expect("config");
    assert!(
        example.contains("socket = \"/run/ferrolb/ferrolb.sock\""),
        "{example}"
    );
    let config = dir.path().join("ferrolb.toml");
    std::fs::write(
        &config,
        example
            .replace("/run/ferrolb/ferrolb.sock", &socket.display().to_string())
            .replace(
                "\"--file-prefix\", \"ferrolb\"",
                &format!("\"--file-prefix\", \"pkg{}\"", std::process::id()),
            ),
    )
    .expect("config");
    let caps = unit_value(&appliance, "CapabilityBoundingSet");
    run(&mut as_unit(
        &unit_value(&appliance, "ExecStartPre"),
        &root,
        &caps,
        &config,
    ));
    let lb = spawn(
        as_unit(&unit_value(&appliance, "ExecStart"), &root, &caps, &config),
        &dir.path().join("ferrolb.log"),
    );
    let ctl = root.join("usr/bin/ferrolbctl");
    let listed = || {
        Command::new(&ctl)
            .arg("-s")
            .arg(&socket)
            .arg("list")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("192.0.2.10:80"))
    };
    wait_for(
        "the packaged appliance to answer",
        Duration::from_secs(30),
        listed,
    );
    // `systemctl reload ferrolb`: the unit's ExecReload, on our socket.
    let reload = unit_value(&appliance, "ExecReload")
        .replace("/run/ferrolb/ferrolb.sock", &socket.display().to_string());
    run(&mut as_unit(&reload, &root, &caps, &config));

    let daemon_log = dir.path().join("daemon.log");
    let daemon = spawn(
        as_unit(
            &unit_value(&daemon_unit, "ExecStart"),
            &root,
            &unit_value(&daemon_unit, "CapabilityBoundingSet"),
            &config,
        ),
        &daemon_log,
    );
    wait_for(
        "the packaged daemon to apply",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(&daemon_log)
                .is_ok_and(|l| l.contains("apply: no change") || l.contains("apply: generation"))
        },
    );
    assert!(
        stop(daemon, Duration::from_secs(15), "the daemon"),
        "the daemon exits cleanly"
    );
    assert!(
        stop(lb, Duration::from_secs(15), "the appliance"),
        "the appliance exits cleanly"
    );
}
