//! Man pages from the command-line definitions (clap_mangen), so they can
//! never drift from what the binaries accept: one page for the program and
//! one per subcommand (`ferrolbctl-apply.1`, ...), as git and systemd ship
//! theirs. Used by `ferrolbctl man` and `ferrolb --man`, and by
//! `scripts/package.sh` to put them in the Debian package.

use std::io;
use std::path::{Path, PathBuf};

/// The roff page of `cmd` in `section` (clap's name for the program).
pub fn page(cmd: clap::Command, section: &str) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .section(section)
        .render(&mut out)?;
    Ok(out)
}

/// Writes `NAME.SECTION` for `cmd` and `NAME-SUB.SECTION` for each of its
/// subcommands (one level down, `help` left out) into `dir`; returns the
/// files written.
pub fn write_all(cmd: clap::Command, section: &str, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let cmd = cmd.disable_help_subcommand(true);
    let name = cmd.get_name().to_owned();
    let mut written = Vec::new();
    for sub in cmd.get_subcommands() {
        let full = format!("{name}-{}", sub.get_name());
        let invoked = format!("{name} {}", sub.get_name());
        let sub = sub.clone().display_name(full.clone()).bin_name(invoked);
        let mut text = Vec::new();
        clap_mangen::Man::new(sub)
            .title(full.clone())
            .section(section)
            .render(&mut text)?;
        let path = dir.join(format!("{full}.{section}"));
        std::fs::write(&path, text)?;
        written.push(path);
    }
    let path = dir.join(format!("{name}.{section}"));
    std::fs::write(&path, page(cmd, section)?)?;
    written.push(path);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::ctl::cli::Cli;

    #[test]
    fn every_verb_gets_a_page_naming_its_options() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_all(Cli::command(), "1", dir.path()).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for want in [
            "ferrolbctl.1",
            "ferrolbctl-apply.1",
            "ferrolbctl-top.1",
            "ferrolbctl-daemon.1",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
        assert!(!names.iter().any(|n| n == "ferrolbctl-help.1"), "{names:?}");
        let top = std::fs::read_to_string(dir.path().join("ferrolbctl-top.1")).unwrap();
        assert!(top.starts_with(".ie \\n(.g .ds Aq"), "roff: {top}");
        assert!(top.contains("ferrolbctl\\-top"), "{top}");
        assert!(top.contains("interval\\-ms"), "{top}");
        let main = std::fs::read_to_string(dir.path().join("ferrolbctl.1")).unwrap();
        assert!(main.contains(".TH ferrolbctl 1"), "{main}");
    }
}
