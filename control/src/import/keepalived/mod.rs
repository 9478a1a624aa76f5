//! keepalived.conf: [`parse`] reads the block structure, [`map`] turns
//! `virtual_server`, `virtual_server_group` and `real_server` blocks with
//! their checkers into ferrolb services.

mod map;
pub mod parse;

pub use map::import;
