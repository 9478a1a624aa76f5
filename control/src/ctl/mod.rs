//! `ferrolbctl`, the command-line client of the control socket: the
//! command line (`cli`), what each verb does (`run`), how replies are shown
//! (`render`), and the entry of `ferrolbctl daemon` (`daemon_cmd`).

pub mod cli;
pub mod daemon_cmd;
pub mod migrate;
pub mod render;
pub mod run;
pub mod top;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use cli::Cli;
use run::{run, run_daemon, CtlError, SOCKET_ENV};

/// The `ferrolbctl` binary: usage errors exit 2 (clap's), failures print
/// one `ferrolbctl: ...` line and exit 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let env_socket = std::env::var_os(SOCKET_ENV);
    // The daemon runs long, with threads of its own: not under a stdout lock.
    if let Some(code) = run_daemon(&cli, env_socket.clone()) {
        return code;
    }
    let mut out = io::stdout().lock();
    match run(&cli, env_socket, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped reading (`| head`) is not a failure.
        Err(CtlError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            // What was printed before the failure goes out before its
            // message; the run already failed, so a failed flush adds
            // nothing.
            let _ = out.flush();
            // The message may quote the appliance: its lines stay lines,
            // nothing in them reaches the terminal raw.
            eprintln!("ferrolbctl: {}", crate::text::escape_lines(&e.to_string()));
            ExitCode::from(1)
        }
    }
}
