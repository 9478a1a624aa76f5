//! Build information for `ferrolb --version`. DPDK's link settings come from
//! `dpdk-sys` (its `rustc-link-lib` lines reach every binary that depends on
//! it); this script only records which DPDK and which commit we built with.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=.git/HEAD");
    let dpdk = std::env::var("DEP_RTE_EAL_VERSION").unwrap_or_else(|_| "unknown".into());
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=FERROLB_BUILD_INFO=commit {commit}, built against DPDK {dpdk}");
}
