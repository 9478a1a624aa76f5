//! `ferrolb`: the load-balancer appliance.
//!
//! Reads the config, brings up DPDK (EAL, mbuf pool, ports), runs one poll
//! loop per worker core until SIGINT/SIGTERM (or, with `--exit-when-idle`,
//! until every input is drained), then prints per-port and per-worker
//! counters. Start-up is all-or-nothing: any failure unwinds what was set up
//! and exits non-zero with a message naming the problem.

mod appliance;
mod kernel;
mod lb;
mod report;
mod server;
mod steering;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "ferrolb", version, long_version = long_version(), about)]
struct Cli {
    /// The config file (TOML).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: PathBuf,

    /// Exit once every worker has received nothing for MS milliseconds
    /// (for replaying pcap files; the default waits for SIGINT/SIGTERM).
    #[arg(long, value_name = "MS", num_args = 0..=1, default_missing_value = "250")]
    exit_when_idle: Option<u64>,

    /// Check the config file and exit without starting DPDK.
    #[arg(long)]
    check: bool,
}

fn long_version() -> &'static str {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (",
        env!("FERROLB_BUILD_INFO"),
        ")"
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let loaded = match control::config::Config::load(&cli.config) {
        Ok(loaded) => loaded,
        Err(errors) => {
            eprintln!("ferrolb: invalid config:\n{errors}");
            return ExitCode::from(2);
        }
    };
    if cli.check {
        println!("ferrolb: {} is valid", cli.config.display());
        return ExitCode::SUCCESS;
    }
    let options = appliance::RunOptions {
        exit_when_idle: cli.exit_when_idle.map(Duration::from_millis),
    };
    match appliance::run(&loaded, &options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrolb: {e:#}");
            ExitCode::FAILURE
        }
    }
}
