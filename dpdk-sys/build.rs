//! Finds DPDK with pkg-config, generates bindings with bindgen (including C
//! wrappers for DPDK's `static inline` fast-path functions) and compiles those
//! wrappers plus a small shim with `cc`.
//!
//! Linking: we link DPDK's shared libraries as pkg-config lists them, plus
//! `librte_net_bond` for its bonding API. Other poll-mode
//! drivers (net_pcap, net_null, net_af_packet, ...) are not linked at all: the
//! shared `librte_eal.so` loads every PMD from DPDK's driver directory
//! (`pkg-config --variable=pmdsdir libdpdk`, on Debian 12
//! `/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0`) at `rte_eal_init`. Another
//! directory can be given at run time with the EAL option `-d DIR`.

use std::env;
use std::path::PathBuf;

const MIN_DPDK: &str = "22.11";

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let dpdk = match pkg_config::Config::new()
        .atleast_version(MIN_DPDK)
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(err) => {
            eprintln!(
                "\nerror: DPDK >= {MIN_DPDK} was not found by pkg-config ({err}).\n\
                 On Debian 12 install it with:\n\
                 \n    apt-get install -y libdpdk-dev dpdk dpdk-dev libclang-dev clang pkg-config libpcap-dev\n\
                 \n(or run scripts/setup.sh, which does this). For a DPDK built from source, point\n\
                 PKG_CONFIG_PATH at the directory that holds its libdpdk.pc.\n"
            );
            std::process::exit(1);
        }
    };

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let wrappers_c = out.join("static_fns.c");

    // DPDK's cflags carry -march=corei7 and friends; bindgen only needs the
    // include paths and defines, and the wrappers must run on any x86-64 CPU.
    let clang_args: Vec<String> = dpdk
        .include_paths
        .iter()
        .map(|p| format!("-I{}", p.display()))
        .chain(dpdk.defines.iter().map(|(k, v)| match v {
            Some(v) => format!("-D{k}={v}"),
            None => format!("-D{k}"),
        }))
        .collect();

    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&clang_args)
        .clang_arg("-include")
        .clang_arg("rte_config.h")
        .allowlist_function("rte_.*")
        .allowlist_function("ferrolb_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*")
        .allowlist_var("E[A-Z]+")
        // Packed structs that contain aligned ones: Rust rejects them (E0588).
        .opaque_type("rte_arp_hdr")
        .opaque_type("rte_arp_ipv4")
        .opaque_type("rte_l2tpv2_.*")
        .opaque_type("rte_ecpri_.*")
        .opaque_type("rte_gtp_psc_.*")
        // The same in the bonding PMD's 802.3ad header; we read only the
        // state bytes of rte_eth_bond_8023ad_slave_info around it.
        .opaque_type("port_params")
        // bindgen emits Rust wrappers that call these C wrappers; we compile
        // the C side below.
        .wrap_static_fns(true)
        .wrap_static_fns_path(out.join("static_fns"))
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .unwrap_or_else(|e| panic!("bindgen failed on DPDK headers: {e}"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs");

    let mut build = cc::Build::new();
    build
        .file(&wrappers_c)
        .file("shim.c")
        .include(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .flag("-include")
        .flag("rte_config.h")
        .flag("-include")
        .flag("wrapper.h")
        .opt_level(3)
        .warnings(false);
    for p in &dpdk.include_paths {
        build.include(p);
    }
    for (k, v) in &dpdk.defines {
        build.define(k, v.as_deref());
    }
    // DPDK's headers use the SIMD level DPDK itself was built for (Debian:
    // -march=corei7). Take it from pkg-config, never -march=native, so the
    // binary runs on any CPU the DPDK libraries run on.
    for flag in isa_flags() {
        build.flag(&flag);
    }
    build.compile("ferrolb_dpdk_shim");

    // The bonding PMD's API (rte_eth_bond_*): a PMD library that
    // pkg-config's libdpdk does not list. Referenced, so --as-needed keeps
    // it; the same file the EAL loads from the PMD directory.
    println!("cargo:rustc-link-lib=rte_net_bond");

    // Let dependents' build scripts (the root package) read the version.
    println!("cargo:version={}", dpdk.version);
}

/// The `-march=`/`-m...` flags from `pkg-config --cflags libdpdk`, minus any
/// `-march=native`.
fn isa_flags() -> Vec<String> {
    let out = std::process::Command::new(env::var("PKG_CONFIG").unwrap_or("pkg-config".into()))
        .args(["--cflags", "libdpdk"])
        .output()
        .expect("pkg-config ran a moment ago");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|f| f.starts_with("-march=") || f.starts_with("-mcpu=") || f.starts_with("-msse"))
        .filter(|f| !f.ends_with("=native"))
        .map(str::to_owned)
        .collect()
}
