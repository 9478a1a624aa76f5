//! Per-worker flow state: the session table, its timer wheel, the protocol
//! state machines, the backend connection counts the schedulers read, the
//! FULLNAT/SNAT port pools, and [`FlowState`], which keeps all of them
//! consistent through a session's life.

pub mod conns;
pub mod limits;
mod pools;
pub mod proto;
mod session;
pub mod state;
pub mod table;

pub use conns::ConnCounts;
pub use proto::{ProtoState, TcpDir, TcpState, Timeouts};
pub use state::FlowState;
pub use table::{
    Direction, Hit, InsertError, NewSession, Origin, Session, SessionId, SessionTable, TableConfig,
};
