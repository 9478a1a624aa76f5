//! BIRD in network namespaces, for the many-nodes tests (`e2e_bgp`,
//! `e2e_scaleout`): the configs docs/many-nodes.md documents, the router's
//! view of a VIP's next hops, and the small process helpers both use.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Fails the test, saying why, unless we are root and BIRD 2 is installed.
pub fn require_root_and_bird(test: &str) {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "{test} needs root: it builds network namespaces and runs BIRD \
         (run scripts/test.sh as root; CI does)"
    );
    assert!(
        Command::new("bird").arg("--version").output().is_ok(),
        "BIRD 2 is not installed: run scripts/setup.sh (Debian package bird2)"
    );
}

/// The `n`-th ```bird block of docs/many-nodes.md's "BIRD on each node"
/// (0: a node, 1: the router), so the documented configs are the tested
/// ones.
pub fn doc_block(n: usize) -> String {
    let doc = include_str!("../../docs/many-nodes.md");
    let from = doc.find("## BIRD on each node").expect("the section");
    let open = "```bird\n";
    let mut rest = &doc[from..];
    for _ in 0..n {
        rest = &rest[rest.find(open).expect("a bird block") + open.len()..];
    }
    let start = rest.find(open).expect("a bird block") + open.len();
    let len = rest[start..].find("```").expect("the block's end");
    rest[start..start + len].to_string()
}

/// Runs `ip` (or anything) and fails the test with its stderr if it fails.
pub fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ARGS` (a program and its arguments, possibly none yet) in `ns`.
pub fn in_ns(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).args(args);
    c
}

/// Starts `bird -f` in `ns` on config text `conf`, written to `dir/NAME.bird.conf`,
/// its control socket `dir/NAME.bird.ctl`, its log `dir/NAME.bird.log`.
pub fn start(dir: &Path, name: &str, ns: &str, conf: &str) -> Child {
    let file = dir.join(format!("{name}.bird.conf"));
    std::fs::write(&file, conf).expect("write bird.conf");
    let log = std::fs::File::create(dir.join(format!("{name}.bird.log"))).expect("log");
    in_ns(ns, &["bird", "-f", "-c"])
        .arg(&file)
        .arg("-s")
        .arg(socket(dir, name))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start bird")
}

/// The control socket of BIRD `name` started by [`start`].
pub fn socket(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join(format!("{name}.bird.ctl"))
}

/// The next hops (sorted) the kernel of namespace `router` has for `vip`/32.
pub fn next_hops(router: &str, vip: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-n", router, "route", "show", &format!("{vip}/32")])
        .output()
        .expect("ip route");
    let text = String::from_utf8_lossy(&out.stdout);
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut hops: Vec<String> = words
        .windows(2)
        .filter(|w| w[0] == "via")
        .map(|w| w[1].to_string())
        .collect();
    hops.sort();
    hops
}

/// Polls `router`'s table every 10 ms until `vip` has exactly `want` as
/// next hops; returns how long that took. Fails after `limit` with `logs()`.
pub fn wait_hops(
    router: &str,
    vip: &str,
    want: &[&str],
    limit: Duration,
    what: &str,
    logs: impl Fn() -> String,
) -> Duration {
    let start = Instant::now();
    loop {
        if next_hops(router, vip) == want {
            return start.elapsed();
        }
        if start.elapsed() > limit {
            panic!(
                "{what}: {vip} never had next hops {want:?} within {limit:?} (now {:?})\n{}",
                next_hops(router, vip),
                logs()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The last `n` lines of each of `files` in `dir`, headed by their names.
pub fn tails(dir: &Path, files: &[&str], n: usize) -> String {
    let mut out = String::new();
    for f in files {
        let text = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(n).collect();
        out.push_str(&format!("--- {f} (last lines)\n"));
        for l in tail.iter().rev() {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}
