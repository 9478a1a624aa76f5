//! `ferrolbctl`: the command-line client of a running ferrolb.

use std::process::ExitCode;

fn main() -> ExitCode {
    control::ctl::main()
}
