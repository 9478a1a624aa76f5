//! ferrolb control plane: the config model shared by the appliance and
//! `ferrolbctl`, with validation that names file, line and key.

pub mod api;
pub mod client;
pub mod config;
pub mod ctl;
pub mod ops;

#[cfg(test)]
mod test_server;
