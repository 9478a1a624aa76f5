//! The SYN proxy (docs/syn-proxy.md): ferrolb answers a client's SYN itself
//! with a SYN cookie, creates a session only when the client's ACK returns a
//! valid cookie, and then splices the client and backend connections by
//! translating sequence numbers.
//!
//! Sans-IO like the rest of the packet core: `cookie` (the cookie codec and
//! its rotated secrets), `siphash` (its keyed hash), `early` (the data
//! segments held while a backend has not answered), `seq` (the translation),
//! `window` (the window check of spliced segments), `wscale` (a side's
//! window shift as a splice keeps it).

pub mod cookie;
pub mod early;
pub mod frame;
pub mod options;
pub mod seq;
pub mod siphash;
pub mod window;
pub mod wscale;
