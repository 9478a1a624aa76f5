//! What each `ferrolbctl` verb does: the op it sends and how its reply is
//! printed. Output goes to a writer so tests can read it.

use std::ffi::OsString;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::CommandFactory;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::cli::{
    BackendCmd, Cli, Command, LaddrCmd, NeighCmd, RouteCmd, ServiceAdd, ServiceCmd,
    ServiceEditArgs, SessionsArgs, SnatCmd, TimeoutArg,
};
use super::daemon_cmd::daemon_main;
use super::render::{self, ListColumns};
use super::watch;
use crate::api::{
    ConfigReply, ListReply, Op, ServiceEdit, ServiceKey, SessionFilter, StatsReply, ZeroReply,
    DEFAULT_SOCKET,
};
use crate::client::{Client, ClientError};
use crate::config::{
    BackendConfig, Config, NeighbourConfig, Protocol, RouteConfig, ServiceConfig, SnatConfig,
    TimeoutsConfig,
};

/// The environment variable naming the socket when `-s` does not.
pub const SOCKET_ENV: &str = "FERROLB_SOCKET";

/// How long ferrolb may stay silent before a reply is given up on.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a verb failed; printed as one `ferrolbctl: ...` line.
#[derive(Debug)]
pub enum CtlError {
    Client(ClientError),
    Read { path: PathBuf, error: io::Error },
    Output(io::Error),
    Message(String),
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CtlError::Client(e) => write!(f, "{e}"),
            CtlError::Read { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            CtlError::Output(e) => write!(f, "writing the output: {e}"),
            CtlError::Message(m) => f.write_str(m),
        }
    }
}

impl From<ClientError> for CtlError {
    fn from(e: ClientError) -> Self {
        CtlError::Client(e)
    }
}

/// `-s PATH`, else `$FERROLB_SOCKET` (when not empty), else the default.
pub fn socket_path(flag: Option<&Path>, env: Option<OsString>) -> PathBuf {
    given_socket(flag, env).unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// Runs one command line other than `daemon` (see [`run_daemon`]);
/// `env_socket` is `$FERROLB_SOCKET`.
pub fn run(cli: &Cli, env_socket: Option<OsString>, out: &mut dyn Write) -> Result<(), CtlError> {
    let socket = socket_path(cli.socket.as_deref(), env_socket);
    let connect = || -> Result<Client, CtlError> {
        let mut client = Client::connect(&socket)?;
        client.set_timeout(Some(REPLY_TIMEOUT))?;
        Ok(client)
    };
    match &cli.command {
        Command::Apply { file, dry_run } => {
            let text = std::fs::read_to_string(file).map_err(|error| CtlError::Read {
                path: file.clone(),
                error,
            })?;
            let source = Some(file.display().to_string());
            let reply = connect()?.apply(text, *dry_run, source)?;
            write(out, &render::change(&reply, *dry_run))?;
        }
        Command::Service(cmd) => {
            let mut client = connect()?;
            let op = service_op(cmd, &mut client)?;
            change(&mut client, &op, out)?;
        }
        Command::Backend(cmd) => change(&mut connect()?, &backend_op(cmd), out)?,
        Command::Laddr(LaddrCmd::Add { service, address }) => {
            let op = Op::LaddrAdd {
                service: *service,
                address: *address,
            };
            change(&mut connect()?, &op, out)?;
        }
        Command::Laddr(LaddrCmd::Delete { service, address }) => {
            let op = Op::LaddrDelete {
                service: *service,
                address: *address,
            };
            change(&mut connect()?, &op, out)?;
        }
        Command::Route(RouteCmd::Add { prefix, via, .. }) => {
            let op = Op::RouteAdd {
                route: RouteConfig {
                    prefix: *prefix,
                    via: *via,
                },
            };
            change(&mut connect()?, &op, out)?;
        }
        Command::Route(RouteCmd::Delete { prefix }) => {
            change(&mut connect()?, &Op::RouteDelete { prefix: *prefix }, out)?;
        }
        Command::Route(RouteCmd::List { json }) => {
            read(&mut connect()?, &Op::Routes, json.json, out, render::routes)?;
        }
        Command::Neigh(NeighCmd::Add { address, mac }) => {
            let op = Op::NeighAdd {
                neighbour: NeighbourConfig {
                    address: *address,
                    mac: *mac,
                },
            };
            change(&mut connect()?, &op, out)?;
        }
        Command::Neigh(NeighCmd::Delete { address }) => {
            change(&mut connect()?, &Op::NeighDelete { address: *address }, out)?;
        }
        Command::Neigh(NeighCmd::List { json }) => {
            read(
                &mut connect()?,
                &Op::Neighbours,
                json.json,
                out,
                render::neighbours,
            )?;
        }
        Command::Snat(cmd) => {
            let op = match cmd {
                SnatCmd::Add {
                    source,
                    port,
                    addresses,
                    ports,
                } => Op::SnatAdd {
                    rule: SnatConfig {
                        source: *source,
                        port: port.clone(),
                        addresses: addresses.clone(),
                        ports: ports.unwrap_or_default(),
                    },
                },
                SnatCmd::Delete { source } => Op::SnatDelete { source: *source },
            };
            change(&mut connect()?, &op, out)?;
        }
        Command::List(args) => {
            let op = Op::List {
                stats: args.stats,
                rate: args.rate,
            };
            let columns = if args.stats {
                ListColumns::Stats
            } else if args.rate {
                ListColumns::Rate
            } else {
                ListColumns::Plain
            };
            let mut reply: ListReply = typed(connect()?.call(&op)?)?;
            // One service asked for: only it, without the SNAT rules.
            if let Some(key) = args.service {
                reply.services.retain(|s| s.key == key);
                reply.snat.clear();
                if reply.services.is_empty() {
                    return Err(CtlError::Message(format!("no service {key}")));
                }
            }
            if args.json.json {
                write_json(out, &reply)?;
            } else {
                write(out, &render::list(&reply, columns))?;
            }
        }
        Command::Trace(a) => {
            let timeout = Duration::from_secs(a.timeout);
            let op = watch::trace_op(a.filter.as_deref(), a.count, a.port.as_deref(), timeout)
                .map_err(CtlError::Message)?;
            let mut client = connect()?;
            client.set_timeout(Some(timeout + REPLY_TIMEOUT))?;
            read(&mut client, &op, a.json.json, out, watch::render_trace)?;
        }
        Command::Capture(a) => {
            let timeout = Duration::from_secs(a.timeout);
            let op = watch::capture_op(&a.port, a.filter.as_deref(), a.count, timeout)
                .map_err(CtlError::Message)?;
            let mut client = connect()?;
            client.set_timeout(Some(timeout + REPLY_TIMEOUT))?;
            let summary = watch::stream_capture(&mut client, &op, &a.file, out)?;
            eprintln!("ferrolbctl: {summary}");
        }
        Command::Explain {
            proto,
            src,
            dst,
            json,
        } => {
            let op = Op::Explain {
                proto: (*proto).into(),
                src: *src,
                dst: *dst,
            };
            read(&mut connect()?, &op, json.json, out, watch::render_explain)?;
        }
        Command::Sessions(args) => {
            let op = sessions_op(args);
            read(&mut connect()?, &op, args.json.json, out, render::sessions)?;
        }
        Command::Stats { all, json } => {
            read(
                &mut connect()?,
                &Op::Stats,
                json.json,
                out,
                |r: &StatsReply| render::stats(r, *all),
            )?;
        }
        Command::Role { json } => {
            let reply: StatsReply = typed(connect()?.call(&Op::Stats)?)?;
            let Some(vrrp) = reply.vrrp else {
                return Err(CtlError::Message(
                    "this node has no [vrrp] section: every address is always its own".into(),
                ));
            };
            if json.json {
                write_json(out, &vrrp)?;
            } else {
                write(out, &render::role(&vrrp))?;
            }
        }
        Command::Config { json } => {
            read(
                &mut connect()?,
                &Op::GetConfig,
                json.json,
                out,
                |r: &ConfigReply| {
                    let mut text = r.config.clone();
                    if !text.ends_with('\n') {
                        text.push('\n');
                    }
                    text
                },
            )?;
        }
        Command::Version { json } => {
            if !json.json {
                // Ours first: it is worth seeing even when ferrolb is down.
                write(out, &render::ctl_version(env!("CARGO_PKG_VERSION")))?;
            }
            read(&mut connect()?, &Op::Hello, json.json, out, render::hello)?;
        }
        Command::Completions { shell } => {
            // Generated in memory: clap_complete panics on a failed write.
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "ferrolbctl", &mut script);
            out.write_all(&script).map_err(CtlError::Output)?;
        }
        Command::Man { dir } => match dir {
            Some(dir) => {
                let files = crate::manpages::write_all(Cli::command(), "1", dir).map_err(|e| {
                    CtlError::Message(format!("writing man pages in {}: {e}", dir.display()))
                })?;
                write(
                    out,
                    &format!("{} pages in {}\n", files.len(), dir.display()),
                )?;
            }
            None => {
                let page = crate::manpages::page(Cli::command(), "1").map_err(CtlError::Output)?;
                out.write_all(&page).map_err(CtlError::Output)?;
            }
        },
        Command::Import(cmd) => super::migrate::import(cmd, out)?,
        Command::Export(cmd) => {
            let running = || -> Result<String, CtlError> {
                let reply: ConfigReply = typed(connect()?.call(&Op::GetConfig)?)?;
                Ok(reply.config)
            };
            super::migrate::export(cmd, running, out)?;
        }
        Command::Zero { service } => {
            let reply: ZeroReply = typed(connect()?.call(&Op::Zero { service: *service })?)?;
            let what = match service {
                Some(s) => format!("the counters of {s} and its backends"),
                None => "every service, backend and SNAT counter".to_string(),
            };
            if reply.missed > 0 {
                return Err(CtlError::Message(format!(
                    "zeroed {what} on {} workers; {} did not answer in time",
                    reply.workers, reply.missed
                )));
            }
            write(out, &format!("zeroed {what} ({} workers)\n", reply.workers))?;
        }
        Command::Top { interval_ms, count } => {
            let interval = Duration::from_millis(*interval_ms);
            top(&mut connect()?, interval, *count, out)?;
        }
        Command::Daemon { .. } => {
            return Err(CtlError::Message(
                "the daemon is started by run_daemon, not run".into(),
            ))
        }
    }
    out.flush().map_err(CtlError::Output)
}

/// `top`: a frame every `interval`, `count` of them (or until killed).
/// On a terminal each frame replaces the last (cursor home, clear);
/// elsewhere frames follow each other, a blank line between.
fn top(
    client: &mut Client,
    interval: Duration,
    count: Option<u64>,
    out: &mut dyn Write,
) -> Result<(), CtlError> {
    use std::io::IsTerminal;
    let clear = std::io::stdout().is_terminal();
    let mut last: Option<(super::top::Frame, std::time::Instant)> = None;
    let mut shown = 0u64;
    while count.map_or(true, |c| shown < c) {
        let list = typed(client.call(&Op::List {
            stats: true,
            rate: true,
        })?)?;
        let stats = typed(client.call(&Op::Stats)?)?;
        let now = std::time::Instant::now();
        let frame = super::top::Frame { list, stats };
        let since = last.as_ref().map(|(f, at)| (f, now - *at));
        let text = super::top::render(&frame, since);
        if clear {
            write(out, "\x1b[H\x1b[2J")?;
        } else if shown > 0 {
            write(out, "\n")?;
        }
        write(out, &text)?;
        out.flush().map_err(CtlError::Output)?;
        last = Some((frame, now));
        shown += 1;
        if count.map_or(true, |c| shown < c) {
            std::thread::sleep(interval);
        }
    }
    Ok(())
}

/// `ferrolbctl daemon -c FILE`, or `None` for every other verb.
pub fn run_daemon(cli: &Cli, env_socket: Option<OsString>) -> Option<ExitCode> {
    let Command::Daemon { config } = &cli.command else {
        return None;
    };
    let socket = given_socket(cli.socket.as_deref(), env_socket);
    Some(daemon_main(config, socket.as_deref()))
}

/// The socket the user named: `-s`, else `$FERROLB_SOCKET` (when not
/// empty). The daemon falls back to the config's `[control] socket`, the
/// other verbs to the default.
pub fn given_socket(flag: Option<&Path>, env: Option<OsString>) -> Option<PathBuf> {
    flag.map(Path::to_owned)
        .or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
}

fn write(out: &mut dyn Write, text: &str) -> Result<(), CtlError> {
    out.write_all(text.as_bytes()).map_err(CtlError::Output)
}

fn write_json<T: serde::Serialize>(out: &mut dyn Write, value: &T) -> Result<(), CtlError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CtlError::Message(format!("cannot print the reply as JSON: {e}")))?;
    write(out, &text)?;
    write(out, "\n")
}

fn typed<T: DeserializeOwned>(value: Value) -> Result<T, CtlError> {
    serde_json::from_value(value)
        .map_err(|e| ClientError::BadReply(format!("unexpected result: {e}")).into())
}

/// A read verb: the result as JSON, or rendered for people.
fn read<T: DeserializeOwned>(
    client: &mut Client,
    op: &Op,
    json: bool,
    out: &mut dyn Write,
    render: impl FnOnce(&T) -> String,
) -> Result<(), CtlError> {
    let value = client.call(op)?;
    if json {
        write_json(out, &value)
    } else {
        write(out, &render(&typed(value)?))
    }
}

/// A change verb: its diff and the generation that runs it.
fn change(client: &mut Client, op: &Op, out: &mut dyn Write) -> Result<(), CtlError> {
    let reply = client.change(op)?;
    write(out, &render::change(&reply, false))
}

fn service_op(cmd: &ServiceCmd, client: &mut Client) -> Result<Op, CtlError> {
    Ok(match cmd {
        ServiceCmd::Add(args) => Op::ServiceAdd {
            service: Box::new(new_service(args)),
        },
        ServiceCmd::Edit(args) => Op::ServiceEdit {
            service: args.service,
            set: service_edit(args, client)?,
        },
        ServiceCmd::Delete { service, flush } => Op::ServiceDelete {
            service: *service,
            flush: *flush,
        },
    })
}

fn new_service(a: &ServiceAdd) -> ServiceConfig {
    ServiceConfig {
        name: a.name.clone(),
        vip: std::net::IpAddr::V4(*a.address.ip()),
        protocol: a.proto.into(),
        port: a.address.port(),
        mode: a.mode.into(),
        scheduler: a.scheduler.into(),
        mh_ports: a.mh_ports,
        persistence: a.persistence,
        persistence_prefix: a.persistence_prefix,
        local_addresses: a.laddrs.clone(),
        local_ports: a.local_ports.unwrap_or_default(),
        ..ServiceConfig::new(
            *a.address.ip(),
            a.proto.into(),
            a.address.port(),
            a.mode.into(),
        )
    }
}

fn service_edit(a: &ServiceEditArgs, client: &mut Client) -> Result<ServiceEdit, CtlError> {
    let timeouts = if a.timeouts.is_empty() {
        None
    } else {
        Some(merged_timeouts(client, &a.service, &a.timeouts)?)
    };
    Ok(ServiceEdit {
        name: a.name.clone(),
        mode: a.mode.map(Into::into),
        scheduler: a.scheduler.map(Into::into),
        mh_ports: a.mh_ports,
        persistence: a.persistence,
        persistence_prefix: a.persistence_prefix,
        local_ports: a.local_ports,
        timeouts,
    })
}

/// `service_edit` replaces a service's timeouts whole; `--timeout udp=30`
/// means that one only, so the others are read from the running config.
fn merged_timeouts(
    client: &mut Client,
    service: &ServiceKey,
    given: &[TimeoutArg],
) -> Result<TimeoutsConfig, CtlError> {
    let running = client.get_config()?;
    let config: Config = toml::from_str(&running.config).map_err(|e| {
        ClientError::BadReply(format!(
            "the running config does not parse: {}",
            e.message()
        ))
    })?;
    let current = config
        .services
        .iter()
        .find(|s| s.key() == *service)
        .and_then(|s| s.timeouts.clone())
        .unwrap_or_default();
    let mut fields = match serde_json::to_value(current) {
        Ok(Value::Object(fields)) => fields,
        _ => serde_json::Map::new(),
    };
    for t in given {
        fields.insert(t.name.clone(), t.seconds.into());
    }
    serde_json::from_value(Value::Object(fields))
        .map_err(|e| CtlError::Message(format!("--timeout: {e}")))
}

fn backend_op(cmd: &BackendCmd) -> Op {
    match cmd {
        BackendCmd::Add {
            service,
            backend,
            weight,
        } => Op::BackendAdd {
            service: *service,
            backend: BackendConfig::new(backend.address, backend.port, *weight),
        },
        BackendCmd::Edit {
            service,
            backend,
            weight,
        } => Op::BackendEdit {
            service: *service,
            backend: *backend,
            weight: *weight,
        },
        BackendCmd::Delete {
            service,
            backend,
            flush,
        } => Op::BackendDelete {
            service: *service,
            backend: *backend,
            flush: *flush,
        },
    }
}

fn sessions_op(a: &SessionsArgs) -> Op {
    Op::Sessions {
        filter: SessionFilter {
            service: a.service,
            backend: a.backend,
            client: a.client,
            proto: a.proto.map(|p| Protocol::from(p).ip_proto()),
        },
        limit: a.limit,
    }
}

#[cfg(test)]
mod tests;
