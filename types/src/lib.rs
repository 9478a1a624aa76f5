//! Plain value types that both sides of ferrolb name: the control plane
//! (config, socket protocol, `ferrolbctl`) and the dataplane (tables,
//! pipeline, worker queries). Defining them here, once, keeps the layering:
//! the control crate knows nothing of the dataplane and the dataplane
//! nothing of the control crate, yet a service key or a MAC address means
//! the same thing on both sides and crosses between them without a
//! conversion.
//!
//! Only values live here: no behaviour of either side, no dependencies
//! beyond `std` (and serde with the `serde` feature, for the text forms the
//! config file and the control socket use).

mod addr_match;
pub mod filter;
pub mod histogram;
mod ip_proto;
mod mac;
#[cfg(feature = "serde")]
mod serde_via_str;
mod service_key;
mod session_filter;

pub use addr_match::AddrMatch;
pub use histogram::Histogram;
pub use ip_proto::IpProto;
pub use mac::MacAddr;
pub use service_key::ServiceKey;
pub use session_filter::SessionFilter;
