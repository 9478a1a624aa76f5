//! How the daemon talks to the appliance: one request over a fresh
//! connection of the shared [`Client`]. Behind [`Appliance`] so
//! that the daemon does not care how the request travels.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::api::{ApiError, ErrorCode, Op, Response, PROTOCOL_VERSION};
use crate::client::Client;

/// The longest reply line we read (a `list` of thousands of backends with
/// stats is a few MB).
const MAX_REPLY: usize = 64 << 20;

/// Something that answers protocol requests.
pub trait Appliance: Send + Sync {
    /// Sends `op` and returns the reply, or why there is none. `timeout`
    /// bounds each wait for the socket.
    fn request(&self, op: &Op, timeout: Duration) -> Result<Response, String>;

    /// Where it is, for log lines.
    fn describe(&self) -> String;
}

/// The appliance at a Unix socket path.
pub struct UnixSocket {
    path: PathBuf,
}

impl UnixSocket {
    pub fn new(path: &Path) -> UnixSocket {
        UnixSocket {
            path: path.to_owned(),
        }
    }
}

impl Appliance for UnixSocket {
    fn request(&self, op: &Op, timeout: Duration) -> Result<Response, String> {
        let mut client = Client::connect(&self.path).map_err(|e| e.to_string())?;
        // A zero timeout means none to the socket; we want the smallest.
        client
            .set_timeout(Some(timeout.max(Duration::from_millis(1))))
            .map_err(|e| e.to_string())?;
        client.set_max_reply(MAX_REPLY);
        client.request(op).map_err(|e| e.to_string())
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// Why a call did not give its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// No reply: the socket is unreachable, timed out, or the reply was
    /// unreadable. Worth retrying.
    NoAnswer(String),
    /// The appliance answered with an error.
    Refused(ApiError),
}

impl CallError {
    /// Whether trying the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            CallError::NoAnswer(_) => true,
            CallError::Refused(e) => e.code == ErrorCode::Busy,
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::NoAnswer(why) => write!(f, "no answer: {why}"),
            CallError::Refused(e) => {
                let code = serde_json::to_value(e.code)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                write!(f, "refused ({code}): {}", e.message)
            }
        }
    }
}

/// Sends `op` and decodes the result as `T`.
pub fn call<T: DeserializeOwned>(
    appliance: &dyn Appliance,
    op: &Op,
    timeout: Duration,
) -> Result<T, CallError> {
    let reply = appliance
        .request(op, timeout)
        .map_err(CallError::NoAnswer)?;
    if reply.v != PROTOCOL_VERSION {
        return Err(CallError::NoAnswer(format!(
            "the appliance speaks protocol {}, we speak {PROTOCOL_VERSION}",
            reply.v
        )));
    }
    if !reply.ok {
        return Err(CallError::Refused(reply.error.unwrap_or(ApiError {
            code: ErrorCode::Internal,
            message: "an error reply without an error".into(),
        })));
    }
    let result = reply.result.unwrap_or(serde_json::Value::Null);
    serde_json::from_value(result)
        .map_err(|e| CallError::NoAnswer(format!("unexpected result: {e}")))
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;
    use std::thread;

    use super::*;
    use crate::api::HelloReply;
    use crate::test_support::TestDir;

    /// A socket that answers one connection with `reply` (raw bytes).
    fn one_reply(dir: &TestDir, reply: &'static [u8]) -> UnixSocket {
        let path = dir.join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            assert!(line.starts_with(r#"{"v":1,"op":"hello"}"#), "{line}");
            (&stream).write_all(reply).unwrap();
        });
        UnixSocket::new(&path)
    }

    fn hello(s: &UnixSocket) -> Result<HelloReply, CallError> {
        call(s, &Op::Hello, Duration::from_secs(5))
    }

    #[test]
    fn a_result_is_decoded() {
        let dir = TestDir::new("transport");
        let s = one_reply(
            &dir,
            b"{\"v\":1,\"ok\":true,\"result\":{\"version\":\"x\",\"protocol\":1,\"workers\":2,\"generation\":3,\"uptime_ms\":4}}\n",
        );
        assert_eq!(hello(&s).unwrap().generation, 3);
    }

    #[test]
    fn an_error_reply_is_refused_and_busy_is_transient() {
        let dir = TestDir::new("transport");
        let s = one_reply(
            &dir,
            b"{\"v\":1,\"ok\":false,\"error\":{\"code\":\"invalid_config\",\"message\":\"x.toml:3: bad\"}}\n",
        );
        let e = hello(&s).unwrap_err();
        assert_eq!(e.to_string(), "refused (invalid_config): x.toml:3: bad");
        assert!(!e.is_transient());
        let busy = CallError::Refused(ApiError {
            code: ErrorCode::Busy,
            message: String::new(),
        });
        assert!(busy.is_transient());
    }

    #[test]
    fn garbage_or_silence_is_no_answer() {
        let dir = TestDir::new("transport");
        let s = one_reply(&dir, b"HTTP/1.1 200 OK\n");
        assert!(matches!(hello(&s), Err(CallError::NoAnswer(_))));
        let dir = TestDir::new("transport");
        let s = one_reply(&dir, b"{\"v\":1,\"ok\":true}");
        let e = hello(&s).unwrap_err();
        assert_eq!(
            e,
            CallError::NoAnswer("ferrolb closed the connection before replying".into())
        );
        let missing = UnixSocket::new(&dir.join("none.sock"));
        assert!(hello(&missing).unwrap_err().is_transient());
    }
}
