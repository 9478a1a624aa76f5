//! `ferrolbctl daemon`: watches the config file, runs health checks and
//! serves metrics. Not built yet; this is where it starts.

use std::path::Path;
use std::process::ExitCode;

/// Runs the daemon for the config file `config`, talking to ferrolb on
/// `socket` (`None`: the socket in the config's `[control]` table).
pub fn daemon_main(config: &Path, socket: Option<&Path>) -> ExitCode {
    let _ = (config, socket);
    eprintln!("ferrolbctl daemon: not built yet");
    ExitCode::from(1)
}
