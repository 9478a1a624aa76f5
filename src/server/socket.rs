//! The control socket: a Unix stream listener, one thread per client, one
//! JSON request per line. At most `max_clients` are served at once, and a
//! client that sends no complete request for `idle_timeout` is closed
//! (`slots` says how idle clients make room).
//!
//! Who may connect is checked twice: by the file (mode 0660, owned by root
//! and the configured group) and by the peer's credentials (root, our own
//! user, or a member of the group), so a socket whose mode was loosened by
//! hand still refuses strangers. A line over the size limit is answered
//! `too_large` and the connection closed: the rest of that line cannot be
//! told apart from the next request.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::Scope;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use control::api::{ErrorCode, Request, Response};
use control::config::ControlConfig;
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::unistd::{Gid, Group, Uid};

use super::protocol::parse_request;
use super::slots::{SlotId, Slots, EVICT_AFTER};

/// How often a client thread wakes from a read to look at `stop` and its
/// idle deadline.
const READ_POLL: Duration = Duration::from_millis(200);

/// Answers one parsed request; shared by every client thread.
pub trait Handler: Sync {
    /// The reply to `request`. A request that streams (a `capture` with
    /// `stream`) first sends its lines through `emit`, which returns false
    /// once the client is gone (then the request ends early).
    fn handle(&self, request: Request, peer: &Peer, emit: Emit<'_>) -> Response;
}

/// Sends one JSON line to the client ahead of the reply; false when the
/// write failed (the client closed, or did not read for the idle timeout).
pub type Emit<'a> = &'a mut dyn FnMut(&[u8]) -> bool;

/// Who sent a request, from the socket's peer credentials (for the audit
/// log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub pid: i32,
}

/// Who may talk to the socket besides root and our own user.
#[derive(Clone, Copy, Debug)]
struct Access {
    own_uid: Uid,
    group: Option<Gid>,
}

/// A bound control socket; the file is removed when this is dropped.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
    access: Access,
    max_message: usize,
    idle_timeout: Duration,
    slots: Slots,
}

impl ControlSocket {
    /// Binds `cfg.socket`: creates its directory, replaces a stale socket
    /// file (nobody answers on it), refuses one another process serves, and
    /// sets mode 0660 and the group.
    pub fn bind(cfg: &ControlConfig) -> Result<ControlSocket> {
        let path = cfg.socket.clone();
        let group = match &cfg.group {
            None => None,
            Some(name) => Some(
                Group::from_name(name)
                    .with_context(|| format!("[control] group {name:?}: looking it up"))?
                    .ok_or_else(|| anyhow!("[control] group {name:?} does not exist"))?
                    .gid,
            ),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("control socket: creating the directory {}", dir.display())
            })?;
        }
        if path.exists() {
            if UnixStream::connect(&path).is_ok() {
                bail!(
                    "control socket {} is served by another process (is ferrolb already running? \
                     set [control] socket to another path)",
                    path.display()
                );
            }
            std::fs::remove_file(&path).with_context(|| {
                format!("control socket: removing the stale {}", path.display())
            })?;
        }
        let listener = UnixListener::bind(&path)
            .with_context(|| format!("control socket: binding {}", path.display()))?;
        let socket = ControlSocket {
            listener,
            path,
            access: Access {
                own_uid: Uid::effective(),
                group,
            },
            max_message: cfg.max_message,
            idle_timeout: Duration::from_secs(u64::from(cfg.idle_timeout)),
            slots: Slots::new(cfg.max_clients),
        };
        std::fs::set_permissions(&socket.path, std::fs::Permissions::from_mode(0o660))
            .with_context(|| format!("control socket: chmod 0660 {}", socket.path.display()))?;
        if let Some(gid) = group {
            chown(&socket.path, None, Some(gid.as_raw())).with_context(|| {
                format!("control socket: chgrp {} {}", gid, socket.path.display())
            })?;
        }
        Ok(socket)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts clients until `stop` is set and [`wake`](Self::wake) is
    /// called, serving each on its own thread in `scope`.
    ///
    /// Credentials are checked here, before a slot is taken, and refusals
    /// are answered here without waiting for the client: a peer that may
    /// not talk, or finds every slot taken, holds nothing.
    pub fn serve<'scope, H: Handler>(
        &'scope self,
        scope: &'scope Scope<'scope, '_>,
        handler: &'scope H,
        stop: &'scope AtomicBool,
    ) {
        loop {
            let accepted = self.listener.accept();
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    crate::log().warn(format_args!("control: accept: {e}"));
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            let peer = match self.access.check(&stream) {
                Ok(peer) => peer,
                Err(why) => {
                    refuse(stream, Response::error(ErrorCode::PermissionDenied, why));
                    continue;
                }
            };
            let Ok(slot) = self.slots.admit(&stream) else {
                let why = format!(
                    "too many clients (at most {}, none idle for {} s); try again",
                    self.slots.max(),
                    EVICT_AFTER.as_secs()
                );
                refuse(stream, Response::error(ErrorCode::Busy, why));
                continue;
            };
            let spawned = std::thread::Builder::new()
                .name("ferrolb-ctl".into())
                .spawn_scoped(scope, move || {
                    self.serve_client(stream, &slot, peer, handler, stop);
                });
            if spawned.is_err() {
                crate::log().warn("control: cannot start a client thread");
            }
        }
    }

    /// Wakes [`serve`](Self::serve) from its blocking accept, so it sees
    /// `stop`.
    pub fn wake(&self) {
        let _ = UnixStream::connect(&self.path);
    }

    fn serve_client<H: Handler>(
        &self,
        stream: UnixStream,
        slot: &SlotId<'_>,
        peer: Peer,
        handler: &H,
        stop: &AtomicBool,
    ) {
        // Reads wake up to notice `stop` and the idle deadline; a client
        // that does not read its reply for the idle timeout is dropped.
        if stream.set_read_timeout(Some(READ_POLL)).is_err()
            || stream.set_write_timeout(Some(self.idle_timeout)).is_err()
        {
            return;
        }
        let Ok(mut writer) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        let mut idle_until = Instant::now() + self.idle_timeout;
        loop {
            let limits = LineLimits {
                max: self.max_message,
                idle_until,
                stop,
            };
            let last = match read_line(&mut reader, &mut line, &limits) {
                LineRead::Line => false,
                LineRead::Last => true,
                LineRead::TooLong => {
                    let reply = Response::error(
                        ErrorCode::TooLarge,
                        format!(
                            "request longer than {} bytes ([control] max_message); closing",
                            self.max_message
                        ),
                    );
                    let _ = write_reply(&mut writer, &reply);
                    return;
                }
                LineRead::Closed | LineRead::Idle => return,
            };
            let trimmed = line.trim_ascii();
            // Blank lines are no request: they do not keep a client alive.
            if !trimmed.is_empty() {
                slot.busy();
                let mut emit = |line: &[u8]| {
                    writer
                        .write_all(line)
                        .and_then(|()| writer.write_all(b"\n"))
                        .is_ok()
                };
                let reply = match parse_request(trimmed) {
                    Ok(request) => handler.handle(request, &peer, &mut emit),
                    Err(reply) => reply,
                };
                if write_reply(&mut writer, &reply).is_err() {
                    return;
                }
                slot.idle();
                idle_until = Instant::now() + self.idle_timeout;
            }
            if last {
                return;
            }
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Access {
    /// Root, our own user, or a member of the configured group.
    fn check(&self, stream: &UnixStream) -> Result<Peer, String> {
        let cred = getsockopt(stream, PeerCredentials)
            .map_err(|e| format!("cannot read the peer's credentials: {e}"))?;
        let peer = Peer {
            uid: cred.uid(),
            pid: cred.pid(),
        };
        let uid = Uid::from_raw(cred.uid());
        if uid.is_root() || uid == self.own_uid {
            return Ok(peer);
        }
        if let Some(group) = self.group {
            if cred.gid() == group.as_raw() || in_supplementary_groups(cred.pid(), group) {
                return Ok(peer);
            }
        }
        Err(format!(
            "uid {} may not use this socket: root{} only",
            cred.uid(),
            match self.group {
                Some(g) => format!(", uid {} and group {}", self.own_uid, g),
                None => format!(" and uid {}", self.own_uid),
            }
        ))
    }
}

/// Whether process `pid` has `group` among its supplementary groups
/// (SO_PEERCRED carries only the primary one).
fn in_supplementary_groups(pid: i32, group: Gid) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .is_some_and(|groups| {
            groups
                .split_whitespace()
                .any(|g| g.parse::<u32>() == Ok(group.as_raw()))
        })
}

enum LineRead {
    /// A line ended by a newline.
    Line,
    /// The client closed its side after a last line without a newline.
    Last,
    TooLong,
    Closed,
    /// No complete request within the idle timeout.
    Idle,
}

/// What bounds one line.
struct LineLimits<'a> {
    /// Longest line, in bytes, without its newline.
    max: usize,
    /// When the client counts as idle if no complete line has come.
    idle_until: Instant,
    stop: &'a AtomicBool,
}

/// Reads one line (without its newline) of at most `limits.max` bytes.
/// Only a complete line is activity: a line trickled in byte by byte still
/// ends at `limits.idle_until`.
fn read_line(
    reader: &mut BufReader<UnixStream>,
    line: &mut Vec<u8>,
    limits: &LineLimits<'_>,
) -> LineRead {
    line.clear();
    loop {
        if limits.stop.load(Ordering::Relaxed) {
            return LineRead::Closed;
        }
        // What is already buffered is served even past the deadline.
        if reader.buffer().is_empty() && Instant::now() >= limits.idle_until {
            return LineRead::Idle;
        }
        let chunk = match reader.fill_buf() {
            Ok([]) if line.trim_ascii().is_empty() => return LineRead::Closed,
            Ok([]) => return LineRead::Last,
            Ok(chunk) => chunk,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return LineRead::Closed,
        };
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        line.extend_from_slice(&chunk[..take]);
        reader.consume(take);
        if line.len() > limits.max + 1 || (!done && line.len() > limits.max) {
            return LineRead::TooLong;
        }
        if done {
            line.pop();
            return LineRead::Line;
        }
    }
}

fn write_reply(writer: &mut UnixStream, reply: &Response) -> std::io::Result<()> {
    let mut text = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
    text.push(b'\n');
    writer.write_all(&text)
}

/// Answers a refused client at once, without reading its request, and
/// closes: the reply goes into the empty socket buffer without blocking,
/// and the client reads it after its own write (`control::client` reads
/// the reply even when its write finds the connection closed).
fn refuse(stream: UnixStream, reply: Response) {
    let mut stream = stream;
    if stream.set_nonblocking(true).is_ok() {
        let _ = write_reply(&mut stream, &reply);
    }
}
