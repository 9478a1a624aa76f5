//! Migration from LVS and keepalived: `ferrolbctl import keepalived FILE`
//! and `ferrolbctl import ipvsadm` turn their configurations into ferrolb
//! `[[service]]` tables; `ferrolbctl export ipvsadm` writes ferrolb's
//! services as `ipvsadm-restore` input. `docs/migration.md` lists what maps
//! to what.
//!
//! Nothing is dropped silently: every option that has no ferrolb
//! equivalent comes back as an [`Unmapped`] with its line, printed to
//! stderr and as comments at the head of the TOML.

pub mod ipvsadm;
pub mod keepalived;

use std::fmt;

use serde::Serialize;

use crate::config::ServiceConfig;

/// An option of the source that ferrolb does not take over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmapped {
    pub line: usize,
    /// The option as written (its keyword, or the whole line).
    pub option: String,
    pub why: String,
}

impl fmt::Display for Unmapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.line, self.option, self.why)
    }
}

/// What an import produced.
#[derive(Clone, Debug, Default)]
pub struct Imported {
    pub services: Vec<ServiceConfig>,
    pub unmapped: Vec<Unmapped>,
}

impl Imported {
    pub(crate) fn unmapped(&mut self, line: usize, option: &str, why: impl Into<String>) {
        self.unmapped.push(Unmapped {
            line,
            option: option.to_owned(),
            why: why.into(),
        });
    }

    /// The services as TOML `[[service]]` tables, after a comment block
    /// naming the source and listing every unmapped option.
    pub fn to_toml(&self, source: &str) -> Result<String, String> {
        #[derive(Serialize)]
        struct Services<'a> {
            service: &'a [ServiceConfig],
        }
        let mut out = format!("# Imported from {source} by ferrolbctl.\n");
        if self.unmapped.is_empty() {
            out += "# Every option was mapped.\n";
        } else {
            out += &format!(
                "# {} option(s) not mapped (see docs/migration.md):\n",
                self.unmapped.len()
            );
            for u in &self.unmapped {
                out += &format!("#   {source}:{u}\n");
            }
        }
        out += "\n";
        if !self.services.is_empty() {
            out += &toml::to_string(&Services {
                service: &self.services,
            })
            .map_err(|e| format!("cannot write the services as TOML: {e}"))?;
        }
        Ok(out)
    }
}

/// A netmask (`255.255.255.0`) as a prefix length, if it is one.
pub fn mask_len(mask: std::net::Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let len = m.leading_ones();
    (m.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

#[cfg(test)]
mod tests;
