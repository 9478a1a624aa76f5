//! `ferrolbctl daemon`: watches the config file, runs health checks and
//! serves metrics (`control::daemon`) until SIGINT or SIGTERM.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Runs the daemon for the config file `config`, talking to ferrolb on
/// `socket` (`None`: the socket in the config's `[control]` table).
pub fn daemon_main(config: &Path, socket: Option<&Path>) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("ferrolbctl daemon: installing the signal handler: {e}");
            return ExitCode::FAILURE;
        }
    }
    match crate::daemon::run(config, socket, stop) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrolbctl daemon: {e}");
            ExitCode::FAILURE
        }
    }
}
