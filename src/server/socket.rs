//! The control socket: a Unix stream listener, one thread per client, one
//! JSON request per line.
//!
//! Who may connect is checked twice: by the file (mode 0660, owned by root
//! and the configured group) and by the peer's credentials (root, our own
//! user, or a member of the group), so a socket whose mode was loosened by
//! hand still refuses strangers. A line over the size limit is answered
//! `too_large` and the connection closed: the rest of that line cannot be
//! told apart from the next request.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::Scope;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use control::api::{ErrorCode, Request, Response};
use control::config::ControlConfig;
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::unistd::{Gid, Group, Uid};

use super::protocol::parse_request;

/// Answers one parsed request; shared by every client thread.
pub trait Handler: Sync {
    fn handle(&self, request: Request) -> Response;
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
    max_clients: usize,
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
            max_clients: cfg.max_clients,
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
    pub fn serve<'scope, H: Handler>(
        &'scope self,
        scope: &'scope Scope<'scope, '_>,
        handler: &'scope H,
        stop: &'scope AtomicBool,
        clients: &'scope AtomicUsize,
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
                    eprintln!("ferrolb: control socket: accept: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            let admitted = clients.fetch_add(1, Ordering::AcqRel) < self.max_clients;
            let spawned = std::thread::Builder::new()
                .name("ferrolb-ctl".into())
                .spawn_scoped(scope, move || {
                    if admitted {
                        self.serve_client(stream, handler, stop);
                    } else {
                        refuse(
                            stream,
                            Response::error(
                                ErrorCode::Busy,
                                format!(
                                    "too many clients (at most {}); try again",
                                    self.max_clients
                                ),
                            ),
                        );
                    }
                    clients.fetch_sub(1, Ordering::AcqRel);
                });
            if spawned.is_err() {
                clients.fetch_sub(1, Ordering::AcqRel);
                eprintln!("ferrolb: control socket: cannot start a client thread");
            }
        }
    }

    /// Wakes [`serve`](Self::serve) from its blocking accept, so it sees
    /// `stop`.
    pub fn wake(&self) {
        let _ = UnixStream::connect(&self.path);
    }

    fn serve_client<H: Handler>(&self, stream: UnixStream, handler: &H, stop: &AtomicBool) {
        if let Err(why) = self.access.check(&stream) {
            refuse(stream, Response::error(ErrorCode::PermissionDenied, why));
            return;
        }
        // Reads that wake up to notice `stop`.
        if stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .is_err()
        {
            return;
        }
        let Ok(mut writer) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            match read_line(&mut reader, &mut line, self.max_message, stop) {
                LineRead::Line => {}
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
                LineRead::Closed => return,
            }
            let trimmed = line.trim_ascii();
            if trimmed.is_empty() {
                continue;
            }
            let reply = match parse_request(trimmed) {
                Ok(request) => handler.handle(request),
                Err(reply) => reply,
            };
            if write_reply(&mut writer, &reply).is_err() {
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
    fn check(&self, stream: &UnixStream) -> Result<(), String> {
        let cred = getsockopt(stream, PeerCredentials)
            .map_err(|e| format!("cannot read the peer's credentials: {e}"))?;
        let uid = Uid::from_raw(cred.uid());
        if uid.is_root() || uid == self.own_uid {
            return Ok(());
        }
        if let Some(group) = self.group {
            if cred.gid() == group.as_raw() || in_supplementary_groups(cred.pid(), group) {
                return Ok(());
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
    Line,
    TooLong,
    Closed,
}

/// Reads one line (without its newline) of at most `limit` bytes.
fn read_line(
    reader: &mut BufReader<UnixStream>,
    line: &mut Vec<u8>,
    limit: usize,
    stop: &AtomicBool,
) -> LineRead {
    line.clear();
    loop {
        if stop.load(Ordering::Relaxed) {
            return LineRead::Closed;
        }
        let chunk = match reader.fill_buf() {
            Ok([]) => return LineRead::Closed,
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
        if line.len() > limit + 1 || (!done && line.len() > limit) {
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

/// Answers the client's first request with `reply`, then closes. The
/// request is read first (up to a line or 64 KiB, for at most a second), so
/// the client is not cut off mid-write before it can read why.
fn refuse(mut stream: UnixStream, reply: Response) {
    if stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .is_ok()
    {
        if let Ok(reader) = stream.try_clone() {
            let mut line = Vec::new();
            let _ = BufReader::new(reader)
                .take(64 << 10)
                .read_until(b'\n', &mut line);
        }
    }
    let _ = write_reply(&mut stream, &reply);
}
