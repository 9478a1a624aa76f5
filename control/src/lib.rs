//! ferrolb control plane: the config model shared by the appliance and
//! `ferrolbctl`, with validation that names file, line and key; the control
//! socket protocol; and `ferrolbctl daemon` (config reload, health checks,
//! metrics).

pub mod api;
pub mod client;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod filter;
pub mod health;
pub mod import;
pub mod log;
pub mod manpages;
pub mod metrics;
pub mod ops;
pub mod text;

#[cfg(test)]
mod test_server;
#[cfg(test)]
mod test_support;
