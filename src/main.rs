//! `ferrolb`: the load-balancer appliance.
//!
//! Reads the config, brings up DPDK (EAL, mbuf pool, ports), runs one poll
//! loop per worker core until SIGINT/SIGTERM (or, with `--exit-when-idle`,
//! until every input is drained), then prints per-port and per-worker
//! counters. Start-up is all-or-nothing: any failure unwinds what was set up
//! and exits non-zero with a message naming the problem.

mod appliance;
mod bond;
mod kernel;
mod lb;
mod preflight;
mod report;
mod server;
mod steering;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// The appliance's log at run time (control socket, VRRP, audit of
/// changes): `key=value` lines on stdout, rate-limited, with syslog
/// priorities under the journal (`control::log`).
pub fn log() -> &'static control::log::Logger {
    static LOG: std::sync::OnceLock<control::log::Logger> = std::sync::OnceLock::new();
    LOG.get_or_init(control::log::Logger::stdout)
}

#[derive(Parser, Debug)]
#[command(name = "ferrolb", version, long_version = long_version(), about)]
struct Cli {
    /// The config file (TOML).
    #[arg(
        short = 'c',
        long = "config",
        value_name = "FILE",
        required_unless_present_any = ["man", "completions"]
    )]
    config: Option<PathBuf>,

    /// Exit once every worker has received nothing for MS milliseconds
    /// (for replaying pcap files; the default waits for SIGINT/SIGTERM).
    #[arg(long, value_name = "MS", num_args = 0..=1, default_missing_value = "250")]
    exit_when_idle: Option<u64>,

    /// Check the config file and exit without starting DPDK.
    #[arg(long)]
    check: bool,

    /// Print this program's man page (roff, section 8) and exit.
    #[arg(long, conflicts_with_all = ["config", "completions"])]
    man: bool,

    /// Print a completion script for SHELL and exit.
    #[arg(long, value_name = "SHELL", conflicts_with = "config")]
    completions: Option<clap_complete::Shell>,
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
    if let Some(code) = print_generated(&cli) {
        return code;
    }
    let Some(config) = &cli.config else {
        eprintln!("ferrolb: no config file (-c FILE)");
        return ExitCode::from(2);
    };
    let loaded = match control::config::Config::load(config) {
        Ok(loaded) => loaded,
        Err(errors) => {
            eprintln!("ferrolb: invalid config:\n{errors}");
            return ExitCode::from(2);
        }
    };
    if cli.check {
        println!("ferrolb: {} is valid", config.display());
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

/// `--man` and `--completions SHELL`: generated from the command line
/// definition, printed, and the run ends; `None` for a normal run.
fn print_generated(cli: &Cli) -> Option<ExitCode> {
    use clap::CommandFactory;
    use std::io::Write;
    let text = if cli.man {
        match control::manpages::page(Cli::command(), "8") {
            Ok(page) => page,
            Err(e) => {
                eprintln!("ferrolb: writing the man page: {e}");
                return Some(ExitCode::FAILURE);
            }
        }
    } else if let Some(shell) = cli.completions {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "ferrolb", &mut script);
        script
    } else {
        return None;
    };
    match std::io::stdout().write_all(&text) {
        Ok(()) => Some(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("ferrolb: {e}");
            Some(ExitCode::FAILURE)
        }
    }
}
