//! The Mpps harness's pure parts (the `perfrun` binary runs the processes):
//! traffic and configs per mode and flow count, and the results' table,
//! JSON and chart. See README.md, "Performance".

pub mod config;
pub mod fragments;
pub mod mode;
pub mod plan;
pub mod report;
pub mod traffic;
pub mod traffic6;
pub mod veth;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests6;
