//! `ferrolbctl import keepalived|ipvsadm` and `ferrolbctl export ipvsadm`
//! (`crate::import` does the mapping; this prints it). Options that could
//! not be mapped go to stderr, one `FILE:LINE: option: why` each, and as
//! comments into the TOML.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::cli::{ExportCmd, ImportCmd};
use super::run::CtlError;
use crate::config::{Config, ServiceConfig};
use crate::import::{ipvsadm, keepalived};

fn read_file(path: &Path) -> Result<String, CtlError> {
    std::fs::read_to_string(path).map_err(|error| CtlError::Read {
        path: path.to_owned(),
        error,
    })
}

/// `import ...`: the TOML on `out`, what was not mapped on stderr.
pub fn import(cmd: &ImportCmd, out: &mut dyn Write) -> Result<(), CtlError> {
    let (imported, source, into) = match cmd {
        ImportCmd::Keepalived { file, into } => {
            let text = read_file(file)?;
            let imported = keepalived::import(&text)
                .map_err(|e| CtlError::Message(format!("{}: {e}", file.display())))?;
            (imported, file.display().to_string(), into)
        }
        ImportCmd::Ipvsadm { file, into } => {
            let (text, source) = match file.as_deref() {
                Some(p) if p != Path::new("-") => (read_file(p)?, p.display().to_string()),
                _ => {
                    let mut text = String::new();
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .map_err(|error| CtlError::Read {
                            path: PathBuf::from("-"),
                            error,
                        })?;
                    (text, "stdin".to_string())
                }
            };
            (ipvsadm::import(&text), source, into)
        }
    };
    for u in &imported.unmapped {
        eprintln!("{source}:{u}");
    }
    let toml = imported.to_toml(&source).map_err(CtlError::Message)?;
    let text = match into {
        None => toml,
        Some(base) => merged(base, &toml)?,
    };
    out.write_all(text.as_bytes()).map_err(CtlError::Output)
}

/// `base`'s text with the imported services after it, refused with every
/// problem if it does not load.
fn merged(base: &Path, toml: &str) -> Result<String, CtlError> {
    let mut text = read_file(base)?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text += "\n";
    text += toml;
    Config::parse(Path::new("imported config"), text.clone()).map_err(|e| {
        CtlError::Message(format!(
            "the imported services do not fit {}:\n{e}",
            base.display()
        ))
    })?;
    Ok(text)
}

/// `export ipvsadm`: the services of `file`, or of the running config
/// (`running` fetches it).
pub fn export(
    cmd: &ExportCmd,
    running: impl FnOnce() -> Result<String, CtlError>,
    out: &mut dyn Write,
) -> Result<(), CtlError> {
    let ExportCmd::Ipvsadm { file } = cmd;
    let services: Vec<ServiceConfig> = match file {
        Some(path) => {
            Config::load(path)
                .map_err(|e| CtlError::Message(e.to_string()))?
                .config
                .services
        }
        None => {
            let text = running()?;
            Config::parse(Path::new("running config"), text)
                .map_err(|e| CtlError::Message(e.to_string()))?
                .config
                .services
        }
    };
    let (text, skipped) = ipvsadm::export(&services);
    for s in skipped {
        eprintln!("ferrolbctl: {s}");
    }
    out.write_all(text.as_bytes()).map_err(CtlError::Output)
}
