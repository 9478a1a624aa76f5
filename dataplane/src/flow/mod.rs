//! Per-worker flow state: the session table, its timer wheel, the protocol
//! state machines and the backend connection counts the schedulers read.

pub mod conns;
pub mod proto;
pub mod table;

pub use conns::ConnCounts;
pub use proto::{ProtoState, TcpDir, TcpState, Timeouts};
pub use table::{
    Direction, Hit, InsertError, NewSession, Session, SessionId, SessionTable, TableConfig,
};
