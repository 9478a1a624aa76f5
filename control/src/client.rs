//! The control socket's client: one request line out, one reply line in,
//! on a connection kept open for further requests. `ferrolbctl` and the
//! daemon use it; the protocol is in [`crate::api`].
//!
//! The server closes connections that stay idle (`[control]
//! idle_timeout`, or to make room for a newcomer), and answers a refused
//! connection before reading from it. So: a reply is read even when the
//! request could not be written (the refusal says why), and a request on
//! a connection used before that finds it closed without a byte of reply
//! is sent again once on a new connection. The server closes only between
//! requests (a request it has read is always answered), so the request was
//! not carried out and sending it again is safe. A `busy` reply is retried
//! for up to two seconds: the server is then out of slots for a moment.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::{
    ApiError, ChangeReply, ConfigReply, ErrorCode, HelloReply, ListReply, NeighboursReply, Op,
    Request, Response, RoutesReply, SessionFilter, SessionsReply, StatsReply, PROTOCOL_VERSION,
};

/// How long `busy` replies are retried before one is returned.
pub const BUSY_RETRY: Duration = Duration::from_secs(2);

/// Default limit on one reply line: a `sessions` listing at its largest
/// (a million sessions) is about 300 MB.
pub const DEFAULT_MAX_REPLY: usize = 512 << 20;

/// Why a request got no result.
#[derive(Debug)]
pub enum ClientError {
    /// The socket could not be connected to.
    Connect { socket: PathBuf, error: io::Error },
    /// The connection failed or closed while talking.
    Io(io::Error),
    /// The reply is not what the protocol says a reply is.
    BadReply(String),
    /// ferrolb refused the request; nothing changed.
    Api(ApiError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect { socket, error } => {
                let path = socket.display();
                match error.kind() {
                    io::ErrorKind::NotFound => write!(
                        f,
                        "cannot connect to {path}: no such socket (is ferrolb running, and is \
                         this the socket in its [control] table?)"
                    ),
                    io::ErrorKind::ConnectionRefused => write!(
                        f,
                        "cannot connect to {path}: connection refused (is ferrolb running? the \
                         socket may be left from an earlier run)"
                    ),
                    io::ErrorKind::PermissionDenied => write!(
                        f,
                        "cannot connect to {path}: permission denied (run as root or as a \
                         member of the group in ferrolb's [control] table)"
                    ),
                    _ => write!(f, "cannot connect to {path}: {error}"),
                }
            }
            ClientError::Io(e) => match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                    write!(f, "ferrolb did not reply in time")
                }
                io::ErrorKind::UnexpectedEof => {
                    write!(f, "ferrolb closed the connection before replying")
                }
                _ => write!(f, "talking to ferrolb: {e}"),
            },
            ClientError::BadReply(why) => write!(f, "bad reply from ferrolb: {why}"),
            ClientError::Api(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// A connection to the appliance's control socket.
pub struct Client {
    socket: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    max_reply: usize,
    timeout: Option<Duration>,
    /// Whether a request has been answered on this connection: only then
    /// may a closed connection be the server's idle close.
    used: bool,
}

/// How a request on one connection ended.
enum Attempt {
    Reply(Vec<u8>),
    /// Closed (or reset) before a single byte of reply.
    ClosedUnanswered(ClientError),
    Failed(ClientError),
}

impl Client {
    pub fn connect(socket: &Path) -> Result<Client, ClientError> {
        let (reader, writer) = open(socket)?;
        Ok(Client {
            socket: socket.to_owned(),
            reader,
            writer,
            max_reply: DEFAULT_MAX_REPLY,
            timeout: None,
            used: false,
        })
    }

    /// How long to wait for a reply (and for a request to be taken);
    /// `None` waits as long as it takes.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        self.writer.set_read_timeout(timeout)?;
        self.writer.set_write_timeout(timeout)?;
        self.timeout = timeout;
        Ok(())
    }

    /// The longest reply line accepted, in bytes.
    pub fn set_max_reply(&mut self, bytes: usize) {
        self.max_reply = bytes;
    }

    /// Sends `op` and returns the reply's `result` (JSON `null` if it has
    /// none), or the error ferrolb replied with.
    pub fn call(&mut self, op: &Op) -> Result<Value, ClientError> {
        let response = self.request(op)?;
        result_of(response)
    }

    /// Sends a streaming `op` (a `capture` with `stream`) and hands each
    /// line that comes ahead of the reply to `on_line`, as it comes; then
    /// returns the reply's result as [`Client::call`] does. An error from
    /// `on_line` ends the call (drop the client to close the connection,
    /// which ends the stream at the server). Empty lines (the server's
    /// keep-alive) are skipped. The timeout applies to each line; a `busy`
    /// refusal is retried as [`Client::request`] retries it.
    pub fn call_streaming(
        &mut self,
        op: &Op,
        mut on_line: impl FnMut(&[u8]) -> Result<(), ClientError>,
    ) -> Result<Value, ClientError> {
        let mut line = serde_json::to_vec(&Request::new(op.clone()))
            .map_err(|e| ClientError::Io(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        line.push(b'\n');
        let start = Instant::now();
        let mut wait = Duration::from_millis(50);
        loop {
            let response = self.stream_once(&line, &mut on_line)?;
            let busy = response
                .error
                .as_ref()
                .is_some_and(|e| e.code == ErrorCode::Busy);
            if !busy || start.elapsed() + wait > BUSY_RETRY {
                return result_of(response);
            }
            std::thread::sleep(wait);
            wait *= 2;
            self.reconnect()?;
        }
    }

    /// One streaming request: its lines to `on_line`, then its reply.
    fn stream_once(
        &mut self,
        line: &[u8],
        on_line: &mut impl FnMut(&[u8]) -> Result<(), ClientError>,
    ) -> Result<Response, ClientError> {
        self.writer.write_all(line)?;
        self.writer.flush()?;
        loop {
            let reply = read_reply(&mut self.reader, self.max_reply).map_err(|(e, _)| e)?;
            // The server's keep-alive while nothing streams.
            if reply.is_empty() {
                continue;
            }
            let value: Value = serde_json::from_slice(&reply)
                .map_err(|e| ClientError::BadReply(format!("not a reply object: {e}")))?;
            // Streamed lines carry no `ok`; the reply always does.
            if value.get("ok").is_none() {
                on_line(&reply)?;
                continue;
            }
            self.used = true;
            return serde_json::from_value(value)
                .map_err(|e| ClientError::BadReply(format!("not a reply object: {e}")));
        }
    }

    /// Sends `op` and returns the reply as it came, error replies included.
    /// A `busy` reply (every slot of the socket taken by an active client)
    /// is retried on a new connection, waiting 50 ms, then 100, 200, ...,
    /// for up to [`BUSY_RETRY`] in all.
    pub fn request(&mut self, op: &Op) -> Result<Response, ClientError> {
        let mut line = serde_json::to_vec(&Request::new(op.clone()))
            .map_err(|e| ClientError::Io(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        line.push(b'\n');
        let start = Instant::now();
        let mut wait = Duration::from_millis(50);
        loop {
            let response = self.request_once(&line)?;
            let busy = response
                .error
                .as_ref()
                .is_some_and(|e| e.code == ErrorCode::Busy);
            if !busy || start.elapsed() + wait > BUSY_RETRY {
                return Ok(response);
            }
            std::thread::sleep(wait);
            wait *= 2;
            self.reconnect()?;
        }
    }

    /// One request line out, one reply in (again on a new connection if a
    /// used one was closed unanswered).
    fn request_once(&mut self, line: &[u8]) -> Result<Response, ClientError> {
        let reply = match self.attempt(line) {
            Attempt::Reply(reply) => reply,
            Attempt::ClosedUnanswered(_) if self.used => {
                self.reconnect()?;
                match self.attempt(line) {
                    Attempt::Reply(reply) => reply,
                    Attempt::ClosedUnanswered(e) | Attempt::Failed(e) => return Err(e),
                }
            }
            Attempt::ClosedUnanswered(e) | Attempt::Failed(e) => return Err(e),
        };
        self.used = true;
        serde_json::from_slice(&reply)
            .map_err(|e| ClientError::BadReply(format!("not a reply object: {e}")))
    }

    /// Writes `line` and reads one reply line. A write that finds the
    /// connection closed still reads: a refusal is written before the
    /// server closes.
    fn attempt(&mut self, line: &[u8]) -> Attempt {
        let written = self
            .writer
            .write_all(line)
            .and_then(|()| self.writer.flush());
        match (written, read_reply(&mut self.reader, self.max_reply)) {
            (_, Ok(reply)) => Attempt::Reply(reply),
            (Err(e), Err((_, false))) if is_closed(&e) => {
                Attempt::ClosedUnanswered(ClientError::Io(e))
            }
            (Err(e), Err(_)) => Attempt::Failed(ClientError::Io(e)),
            (Ok(()), Err((ClientError::Io(e), false))) if is_closed(&e) => {
                Attempt::ClosedUnanswered(ClientError::Io(e))
            }
            (Ok(()), Err((e, _))) => Attempt::Failed(e),
        }
    }

    /// A new connection to the same socket, with the same timeout.
    fn reconnect(&mut self) -> Result<(), ClientError> {
        let (reader, writer) = open(&self.socket)?;
        self.reader = reader;
        self.writer = writer;
        self.used = false;
        self.set_timeout(self.timeout)
    }

    /// Sends `op` and decodes its result as `T`.
    pub fn call_typed<T: DeserializeOwned>(&mut self, op: &Op) -> Result<T, ClientError> {
        let value = self.call(op)?;
        serde_json::from_value(value)
            .map_err(|e| ClientError::BadReply(format!("unexpected result: {e}")))
    }

    pub fn hello(&mut self) -> Result<HelloReply, ClientError> {
        self.call_typed(&Op::Hello)
    }

    /// Replaces the whole config with `config` (TOML text); `source` names
    /// it in errors.
    pub fn apply(
        &mut self,
        config: String,
        dry_run: bool,
        source: Option<String>,
    ) -> Result<ChangeReply, ClientError> {
        self.call_typed(&Op::Apply {
            config,
            dry_run,
            source,
        })
    }

    /// Any op that changes the config (`Op::is_change`).
    pub fn change(&mut self, op: &Op) -> Result<ChangeReply, ClientError> {
        self.call_typed(op)
    }

    pub fn get_config(&mut self) -> Result<ConfigReply, ClientError> {
        self.call_typed(&Op::GetConfig)
    }

    pub fn list(&mut self, stats: bool, rate: bool) -> Result<ListReply, ClientError> {
        self.call_typed(&Op::List { stats, rate })
    }

    pub fn sessions(
        &mut self,
        filter: SessionFilter,
        limit: Option<u32>,
    ) -> Result<SessionsReply, ClientError> {
        self.call_typed(&Op::Sessions { filter, limit })
    }

    pub fn stats(&mut self) -> Result<StatsReply, ClientError> {
        self.call_typed(&Op::Stats)
    }

    pub fn routes(&mut self) -> Result<RoutesReply, ClientError> {
        self.call_typed(&Op::Routes)
    }

    pub fn neighbours(&mut self) -> Result<NeighboursReply, ClientError> {
        self.call_typed(&Op::Neighbours)
    }
}

fn open(socket: &Path) -> Result<(BufReader<UnixStream>, UnixStream), ClientError> {
    let stream = UnixStream::connect(socket).map_err(|error| ClientError::Connect {
        socket: socket.to_owned(),
        error,
    })?;
    let writer = stream.try_clone()?;
    Ok((BufReader::new(stream), writer))
}

/// A reply's `result` (JSON `null` if it has none), or the error it
/// carries.
fn result_of(response: Response) -> Result<Value, ClientError> {
    match (response.ok, response.error, response.result) {
        // An error is worth showing whatever its version: it may be the
        // server explaining that it speaks another one.
        (false, Some(error), _) => Err(ClientError::Api(error)),
        _ if response.v != PROTOCOL_VERSION => Err(ClientError::BadReply(format!(
            "ferrolb speaks protocol version {}, this client version {PROTOCOL_VERSION}",
            response.v
        ))),
        (false, None, _) => Err(ClientError::BadReply(
            "a failure without an error".to_owned(),
        )),
        (true, _, result) => Ok(result.unwrap_or(Value::Null)),
    }
}

/// Whether an I/O error means the other side closed the connection.
fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    )
}

/// One line without its newline, at most `max` bytes long; an error tells
/// whether any byte of it came.
fn read_reply(reader: &mut impl BufRead, max: usize) -> Result<Vec<u8>, (ClientError, bool)> {
    let mut line = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    if let Err(e) = reader.take(limit).read_until(b'\n', &mut line) {
        let any = !line.is_empty();
        return Err((ClientError::Io(e), any));
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        return Ok(line);
    }
    if line.len() > max {
        return Err((
            ClientError::BadReply(format!("longer than the limit of {max} bytes")),
            true,
        ));
    }
    let any = !line.is_empty();
    Err((ClientError::Io(io::ErrorKind::UnexpectedEof.into()), any))
}

#[cfg(test)]
mod tests;
