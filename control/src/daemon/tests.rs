//! The daemon against a fake appliance: a Unix socket in a temp dir that
//! records every request and answers as the test tells it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::thread::JoinHandle;

use super::*;
use crate::api::{ErrorCode, Request, Response};
use crate::test_support::{config_text, wait_for, Backend, Behaviour, TestDir, DEADLINE};

/// How the fake appliance answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Answer,
    /// Applies get this error; other requests are answered.
    Refuse(ErrorCode),
    /// Closes every connection without a reply.
    Mute,
    /// Reads the request and never answers.
    Hang,
}

struct FakeState {
    mode: Mode,
    started: Instant,
    generation: u64,
}

struct Fake {
    requests: Arc<Mutex<Vec<Request>>>,
    state: Arc<Mutex<FakeState>>,
}

impl Fake {
    fn start(path: &Path) -> Fake {
        let listener = UnixListener::bind(path).unwrap();
        let fake = Fake {
            requests: Arc::default(),
            state: Arc::new(Mutex::new(FakeState {
                mode: Mode::Answer,
                // Up for a minute already.
                started: Instant::now().checked_sub(Duration::from_secs(60)).unwrap(),
                generation: 1,
            })),
        };
        let requests = Arc::clone(&fake.requests);
        let state = Arc::clone(&fake.state);
        thread::spawn(move || {
            let mut hung = Vec::new();
            for stream in listener.incoming() {
                let stream = stream.unwrap();
                if let Some(s) = serve(stream, &requests, &state) {
                    hung.push(s);
                }
            }
        });
        fake
    }

    fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// Makes the next `hello` report a fresh start.
    fn restart(&self) {
        self.state.lock().unwrap().started = Instant::now();
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// The configs of every apply so far, in order.
    fn applies(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter_map(|r| match r.op {
                Op::Apply { config, .. } => Some(config),
                _ => None,
            })
            .collect()
    }

    fn hellos(&self) -> usize {
        self.requests().iter().filter(|r| r.op == Op::Hello).count()
    }

    /// Waits for `n` more hellos: the daemon's loop has gone round.
    fn wait_hellos(&self, n: usize) {
        let target = self.hellos() + n;
        assert!(wait_for(|| self.hellos() >= target), "no hellos");
    }
}

/// Answers one connection; returns it if it is to hang.
fn serve(
    stream: UnixStream,
    requests: &Mutex<Vec<Request>>,
    state: &Mutex<FakeState>,
) -> Option<UnixStream> {
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    let request: Request = serde_json::from_str(&line).unwrap();
    requests.lock().unwrap().push(request.clone());
    let mut state = state.lock().unwrap();
    let reply = match (state.mode, request.op) {
        (Mode::Mute, _) => return None,
        (Mode::Hang, _) => return Some(stream),
        (Mode::Refuse(code), Op::Apply { .. }) => {
            Response::error(code, "lb.toml:3: service[0]: refused by the test")
        }
        (_, Op::Apply { .. }) => {
            state.generation += 1;
            Response::ok(&ChangeReply {
                generation: state.generation,
                applied: true,
                changes: vec!["~ backend x weight 5 -> 0".into()],
                adopted_us: Some(3),
            })
        }
        (_, Op::Hello) => Response::ok(&HelloReply {
            version: "test".into(),
            protocol: 1,
            workers: 1,
            generation: state.generation,
            uptime_ms: state.started.elapsed().as_millis() as u64,
        }),
        (_, Op::List { .. }) => Response::ok(&ListReply {
            generation: state.generation,
            services: Vec::new(),
            snat: Vec::new(),
        }),
        (_, Op::Stats) => Response::ok(&StatsReply {
            generation: state.generation,
            uptime_ms: 1,
            workers: Vec::new(),
            ports: Vec::new(),
            drops: BTreeMap::from([("no_service".to_owned(), 4)]),
            events: BTreeMap::new(),
            sessions: 0,
            vrrp: None,
        }),
        (_, _) => Response::error(ErrorCode::UnknownOp, "not in the fake"),
    };
    let mut out = serde_json::to_string(&reply).unwrap();
    out.push('\n');
    let _ = (&stream).write_all(out.as_bytes());
    None
}

/// A daemon running on its own thread, with its log captured.
struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), DaemonError>>>,
    lines: Arc<Mutex<Vec<String>>>,
}

fn fast_timing() -> Timing {
    Timing {
        tick: Duration::from_millis(10),
        file_poll: Duration::from_millis(50),
        hello_every: Duration::from_millis(100),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        // Long: stopping must not wait for a hung request.
        apply_timeout: Duration::from_secs(60),
        scrape_timeout: Duration::from_secs(2),
    }
}

impl Running {
    fn start(config: &Path, socket: Option<&Path>) -> Running {
        let stop = Arc::new(AtomicBool::new(false));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let opts = Options {
            timing: fast_timing(),
            connect: |path| Arc::new(UnixSocket::new(path)),
            log: Logger::to(move |l| sink.lock().unwrap().push(l.to_owned())),
        };
        let (config, socket) = (config.to_owned(), socket.map(Path::to_owned));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || run_with(&config, socket.as_deref(), &flag, opts));
        Running {
            stop,
            thread: Some(thread),
            lines,
        }
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().concat()
    }

    fn wait_log(&self, needle: &str) {
        assert!(
            wait_for(|| self.log().contains(needle)),
            "{needle:?} not logged; log:\n{}",
            self.log()
        );
    }

    fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the daemon and returns what `run` returned.
    fn stop(mut self) -> Result<(), DaemonError> {
        self.stop.store(true, Ordering::SeqCst);
        let thread = self.thread.take().unwrap();
        assert!(wait_for(|| thread.is_finished()), "the daemon did not stop");
        thread.join().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Replaces `path` in one step, as careful editors do, so the daemon never
/// reads half a file.
fn write_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

const FAST_CHECK: &str =
    r#"{ type = "tcp", interval_ms = 50, timeout_ms = 300, rise = 2, fall = 2 }"#;

/// A config file in `dir` whose socket is `dir/ferrolb.sock`.
fn write_config(dir: &TestDir, backends: &[SocketAddrV4], extra: &str) -> PathBuf {
    let path = dir.join("lb.toml");
    let socket = format!(
        "\n[control]\nsocket = \"{}\"\n{extra}",
        dir.join("ferrolb.sock").display()
    );
    write_file(&path, &config_text(backends, FAST_CHECK, &socket));
    path
}

/// The weight of the backend at `addr` in an applied config.
fn weight(applied: &str, addr: SocketAddrV4) -> u32 {
    let config: Config = toml::from_str(applied).unwrap();
    config.services[0]
        .backends
        .iter()
        .find(|b| b.address == *addr.ip() && b.port == Some(addr.port()))
        .map(|b| b.weight)
        .unwrap_or_else(|| panic!("{addr} not in\n{applied}"))
}

/// The weight of `addr` in the last apply, if there was one.
fn last_weight(fake: &Fake, addr: SocketAddrV4) -> Option<u32> {
    fake.applies().last().map(|c| weight(c, addr))
}

#[test]
fn the_file_is_applied_at_start_with_its_name_to_the_chosen_socket() {
    let dir = TestDir::new("daemon");
    let a = Backend::start(Behaviour::Close);
    let path = write_config(&dir, &[a.addr], "");
    let fake = Fake::start(&dir.join("override.sock"));
    let daemon = Running::start(&path, Some(&dir.join("override.sock")));
    assert!(wait_for(|| !fake.applies().is_empty()));
    let Op::Apply {
        config,
        dry_run,
        source,
    } = fake.requests()[0].op.clone()
    else {
        panic!("not an apply first: {:?}", fake.requests());
    };
    assert!(!dry_run);
    assert_eq!(source, Some(path.display().to_string()));
    let applied: Config = toml::from_str(&config).unwrap();
    assert_eq!(applied, Config::load(&path).unwrap().config);
    daemon.wait_log("apply: generation 2, 1 change (+0 ~1 -0): ~ backend x weight 5 -> 0");
    assert!(
        daemon.log().contains(&format!(
            "daemon: started: config {}, appliance {}, checking 1 backend",
            path.display(),
            dir.join("override.sock").display()
        )),
        "{}",
        daemon.log()
    );
    assert!(daemon.stop().is_ok());
}

#[test]
fn a_backend_that_goes_down_is_applied_at_weight_0_and_restored_when_back() {
    let dir = TestDir::new("daemon");
    let mut a = Backend::start(Behaviour::Close);
    let b = Backend::start(Behaviour::Close);
    let path = write_config(&dir, &[a.addr, b.addr], "");
    let fake = Fake::start(&dir.join("ferrolb.sock"));
    let daemon = Running::start(&path, None);
    assert!(wait_for(|| !fake.applies().is_empty()));
    assert_eq!(weight(&fake.applies()[0], a.addr), 5);

    a.stop();
    assert!(wait_for(|| last_weight(&fake, a.addr) == Some(0)));
    assert_eq!(last_weight(&fake, b.addr), Some(5));
    daemon.wait_log(&format!(
        "health: tcp/192.0.2.10:80 -> {} down after 2 failures of its tcp check (connection refused)",
        a.addr
    ));

    a.restart();
    assert!(wait_for(|| last_weight(&fake, a.addr) == Some(5)));
    daemon.wait_log(&format!(
        "health: tcp/192.0.2.10:80 -> {} up after 2 successes",
        a.addr
    ));
    assert!(daemon.stop().is_ok());
}

#[test]
fn a_changed_file_is_applied_and_health_state_carries_over() {
    let dir = TestDir::new("daemon");
    let mut a = Backend::start(Behaviour::Close);
    let b = Backend::start(Behaviour::Close);
    let path = write_config(&dir, &[a.addr, b.addr], "");
    let fake = Fake::start(&dir.join("ferrolb.sock"));
    let daemon = Running::start(&path, None);
    a.stop();
    assert!(wait_for(|| last_weight(&fake, a.addr) == Some(0)));

    let text = std::fs::read_to_string(&path).unwrap().replace(
        &format!("port = {}\nweight = 5", b.addr.port()),
        &format!("port = {}\nweight = 7", b.addr.port()),
    );
    write_file(&path, &text);
    assert!(wait_for(|| last_weight(&fake, b.addr) == Some(7)));
    // a is still down: the reload did not reset it.
    assert_eq!(last_weight(&fake, a.addr), Some(0));
    daemon.wait_log(&format!("reload: {} changed; applying it", path.display()));
    assert!(daemon.stop().is_ok());
}

#[test]
fn a_broken_file_is_logged_and_ignored() {
    let dir = TestDir::new("daemon");
    let a = Backend::start(Behaviour::Close);
    let path = write_config(&dir, &[a.addr], "");
    let fake = Fake::start(&dir.join("ferrolb.sock"));
    let daemon = Running::start(&path, None);
    assert!(wait_for(|| fake.applies().len() == 1));
    let good = std::fs::read_to_string(&path).unwrap();

    let broken = good.replace("mode = \"nat\"", "mode = \"nat\"\nbogus = 1");
    let line = broken.lines().position(|l| l == "bogus = 1").unwrap() + 1;
    write_file(&path, &broken);
    daemon.wait_log(&format!(
        "reload: {} changed but does not load (1 problem); keeping the previous config",
        path.display()
    ));
    daemon.wait_log(&format!(
        "reload: {}:{line}: service[0].bogus: unknown field `bogus`",
        path.display()
    ));
    fake.wait_hellos(3);
    assert_eq!(fake.applies().len(), 1, "a broken file must not be applied");

    // The next good version is applied, and it is the only other apply.
    write_file(&path, &good.replace("weight = 5", "weight = 9"));
    assert!(wait_for(|| fake.applies().len() == 2));
    assert_eq!(last_weight(&fake, a.addr), Some(9));
    assert!(daemon.stop().is_ok());
}

#[test]
fn a_refused_apply_is_logged_and_the_daemon_carries_on() {
    let dir = TestDir::new("daemon");
    let a = Backend::start(Behaviour::Close);
    let path = write_config(&dir, &[a.addr], "");
    let fake = Fake::start(&dir.join("ferrolb.sock"));
    fake.set_mode(Mode::Refuse(ErrorCode::NeedsRestart));
    let daemon = Running::start(&path, None);
    daemon.wait_log("refused (needs_restart): lb.toml:3: service[0]: refused by the test");
    // Not retried: the same config would be refused again.
    fake.wait_hellos(3);
    assert_eq!(fake.applies().len(), 1);
    assert!(daemon.is_running());

    fake.set_mode(Mode::Answer);
    let text = std::fs::read_to_string(&path).unwrap();
    write_file(&path, &text.replace("weight = 5", "weight = 6"));
    assert!(wait_for(|| fake.applies().len() == 2));
    assert_eq!(last_weight(&fake, a.addr), Some(6));
    assert!(daemon.stop().is_ok());
}

#[test]
fn a_busy_appliance_is_retried() {
    let dir = TestDir::new("daemon");
    let a = Backend::start(Behaviour::Close);
    let path = write_config(&dir, &[a.addr], "");
    let fake = Fake::start(&dir.join("ferrolb.sock"));
    fake.set_mode(Mode::Refuse(ErrorCode::Busy));
    let daemon = Running::start(&path, None);
    assert!(wait_for(|| fake.applies().len() >= 2));
    fake.set_mode(Mode::Answer);
    daemon.wait_log("apply: generation 2");
    assert!(daemon.stop().is_ok());
}

#[test]
fn an_unreachable_appliance_is_retried_while_checks_go_on() {
    let dir = TestDir::new("daemon");
    let mut a = Backend::start(Behaviour::Close);
    let path = write_config(&dir, &[a.addr], "");
    let socket = dir.join("ferrolb.sock");
    let daemon = Running::start(&path, None);
    daemon.wait_log(&format!("apply: {} no answer: ", socket.display()));
    daemon.wait_log("retrying in 100 ms");

    a.stop();
    daemon.wait_log(&format!("-> {} down after 2 failures", a.addr));
    let fake = Fake::start(&socket);
    assert!(wait_for(|| !fake.applies().is_empty()));
    assert_eq!(weight(&fake.applies()[0], a.addr), 0);
    daemon.wait_log(&format!(
        "daemon: the appliance at {} answers again",
        socket.display()
    ));
    assert!(daemon.stop().is_ok());
}

#[test]
fn a_restarted_appliance_gets_the_config_again() {
    let dir = TestDir::new("daemon");
    let a = Backend::start(Behaviour::Close);
    let path = write_config(&dir, &[a.addr], "");
    let fake = Fake::start(&dir.join("ferrolb.sock"));
    let daemon = Running::start(&path, None);
    assert!(wait_for(|| fake.applies().len() == 1));
    fake.wait_hellos(2);
    assert_eq!(fake.applies().len(), 1, "no re-apply without a restart");

    fake.restart();
    assert!(wait_for(|| fake.applies().len() == 2));
    daemon.wait_log("daemon: the appliance restarted");
    assert!(daemon.stop().is_ok());
}

#[test]
fn stopping_does_not_wait_for_a_hung_appliance() {
    let dir = TestDir::new("daemon");
    let a = Backend::start(Behaviour::Close);
    let path = write_config(&dir, &[a.addr], "");
    let fake = Fake::start(&dir.join("ferrolb.sock"));
    fake.set_mode(Mode::Hang);
    let daemon = Running::start(&path, None);
    assert!(wait_for(|| !fake.applies().is_empty()));
    // The apply waits up to a minute for its reply; stop must not.
    assert!(daemon.stop().is_ok());
}

#[test]
fn a_file_that_does_not_load_at_start_is_an_error() {
    let dir = TestDir::new("daemon");
    let path = dir.join("lb.toml");
    write_file(&path, "[[port]]\nname = \"lan\"\n");
    let e = Running::start(&path, None).stop().unwrap_err();
    assert!(matches!(e, DaemonError::Config(_)), "{e:?}");
    assert!(
        e.to_string()
            .starts_with(&format!("{}:1: ", path.display())),
        "{e}"
    );
}

#[test]
fn a_metrics_address_in_use_at_start_is_an_error() {
    let dir = TestDir::new("daemon");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let extra = format!(
        "\n[daemon]\nmetrics = \"{}\"\n",
        taken.local_addr().unwrap()
    );
    let path = write_config(&dir, &[], &extra);
    let e = Running::start(&path, None).stop().unwrap_err();
    assert!(matches!(e, DaemonError::Metrics { .. }), "{e:?}");
}

/// GETs `/metrics` from `addr` and returns the body.
fn scrape(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    reply.split_once("\r\n\r\n").unwrap().1.to_owned()
}

#[test]
fn metrics_show_the_appliance_and_the_daemons_health() {
    let dir = TestDir::new("daemon");
    let mut a = Backend::start(Behaviour::Close);
    let path = write_config(&dir, &[a.addr], "\n[daemon]\nmetrics = \"127.0.0.1:0\"\n");
    let fake = Fake::start(&dir.join("ferrolb.sock"));
    let daemon = Running::start(&path, None);
    daemon.wait_log("metrics on http://");
    let log = daemon.log();
    let addr = log
        .split("metrics on http://")
        .nth(1)
        .and_then(|rest| rest.split("/metrics").next())
        .unwrap()
        .to_owned();
    assert!(wait_for(|| !fake.applies().is_empty()));
    let body = scrape(&addr);
    let backend = format!(r#"service="tcp/192.0.2.10:80",backend="{}""#, a.addr);
    for line in [
        "ferrolb_up 1".to_owned(),
        r#"ferrolb_drops_total{reason="no_service"} 4"#.into(),
        format!("ferrolb_backend_up{{{backend}}} 1"),
    ] {
        assert!(body.lines().any(|l| l == line), "{line:?} not in\n{body}");
    }

    a.stop();
    assert!(wait_for(|| scrape(&addr)
        .lines()
        .any(|l| l == format!("ferrolb_backend_up{{{backend}}} 0"))));

    fake.set_mode(Mode::Mute);
    let body = scrape(&addr);
    assert!(body.lines().any(|l| l == "ferrolb_up 0"), "{body}");
    assert!(!body.contains("ferrolb_drops_total{"), "{body}");
    assert!(body.contains("ferrolb_health_checks_total{"), "{body}");
    assert!(daemon.stop().is_ok());
}

/// The (port, weight) of every backend in an applied config.
fn backends_of(applied: &str) -> Vec<(u16, u32)> {
    let config: Config = toml::from_str(applied).unwrap();
    config.services[0]
        .backends
        .iter()
        .map(|b| (b.port.unwrap_or(0), b.weight))
        .collect()
}

#[test]
fn quorum_with_hysteresis_swaps_in_the_sorry_server_and_runs_the_notify_commands() {
    let dir = TestDir::new("daemon");
    let mut a = Backend::start(Behaviour::Close);
    let mut b = Backend::start(Behaviour::Close);
    let events = dir.join("events");
    let note = |what: &str| {
        format!(
            "[\"/bin/sh\", \"-c\", \"echo {what} $FERROLB_SERVICE $FERROLB_BACKEND_PORT >> {}\"]",
            events.display()
        )
    };
    // Weights 5 + 5; quorum 8 with hysteresis 2: lost below 6 (one
    // backend down), regained at 10 (both up).
    let path = write_config(&dir, &[a.addr, b.addr], "");
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "mode = \"nat\"\n",
        &format!(
            "mode = \"nat\"\nquorum = 8\nhysteresis = 2\nquorum_up = {}\nquorum_down = {}\n\
             sorry_server = {{ address = \"127.0.0.1\", port = 9, weight = 2 }}\n",
            note("quorum_up"),
            note("quorum_down")
        ),
        1,
    );
    let text = text.replacen(
        "weight = 5\n",
        &format!(
            "weight = 5\nnotify_down = {}\nnotify_up = {}\n",
            note("down"),
            note("up")
        ),
        1,
    );
    write_file(&path, &text);
    let fake = Fake::start(&dir.join("ferrolb.sock"));
    let daemon = Running::start(&path, None);
    let (pa, pb) = (a.addr.port(), b.addr.port());
    assert!(wait_for(|| !fake.applies().is_empty()));
    assert_eq!(backends_of(&fake.applies()[0]), [(pa, 5), (pb, 5)]);

    // a down: 5 < 6, quorum lost: everything at 0, the sorry server in.
    a.stop();
    assert!(wait_for(|| fake
        .applies()
        .last()
        .is_some_and(|c| backends_of(c) == [(pa, 0), (pb, 0), (9, 2)])));
    daemon.wait_log(
        "quorum: tcp/192.0.2.10:80 lost quorum: live weight 5 < 6; sorry server 127.0.0.1:9 in use",
    );
    let read = || std::fs::read_to_string(&events).unwrap_or_default();
    assert!(
        wait_for(|| read().contains("quorum_down tcp/192.0.2.10:80")),
        "{}",
        read()
    );
    assert!(
        read().contains(&format!("down tcp/192.0.2.10:80 {pa}")),
        "{}",
        read()
    );

    // b down too, a back: 5 is inside the band (6..10): still no quorum.
    b.stop();
    daemon.wait_log(&format!("-> {} down after 2 failures", b.addr));
    a.restart();
    daemon.wait_log(&format!("-> {} up after 2 successes", a.addr));
    assert_eq!(
        backends_of(fake.applies().last().unwrap()),
        [(pa, 0), (pb, 0), (9, 2)]
    );
    assert!(!daemon.log().contains("gained quorum"));

    // Both up: 10 >= 10, quorum regained, the sorry server leaves.
    b.restart();
    assert!(wait_for(|| fake
        .applies()
        .last()
        .is_some_and(|c| backends_of(c) == [(pa, 5), (pb, 5)])));
    daemon.wait_log("quorum: tcp/192.0.2.10:80 gained quorum: live weight 10 >= 10; sorry server 127.0.0.1:9 out of use");
    assert!(
        wait_for(|| read().contains("quorum_up tcp/192.0.2.10:80")),
        "{}",
        read()
    );
    assert!(
        read().contains(&format!("up tcp/192.0.2.10:80 {pa}")),
        "{}",
        read()
    );
    // Only a's commands were configured: b's transitions ran nothing.
    assert!(!read().contains(&format!(" {pb}\n")), "{}", read());
    assert!(daemon.stop().is_ok());
}

#[test]
fn single_failures_below_fall_are_logged_with_their_reason() {
    let dir = TestDir::new("daemon");
    let mut a = Backend::start(Behaviour::Close);
    let path = write_config(&dir, &[a.addr], "");
    let fake = Fake::start(&dir.join("ferrolb.sock"));
    let daemon = Running::start(&path, None);
    assert!(wait_for(|| !fake.applies().is_empty()));
    a.stop();
    daemon.wait_log(&format!(
        "health: tcp/192.0.2.10:80 -> {} tcp check failed (1 of 2 before down) (connection refused)",
        a.addr
    ));
    daemon.wait_log(&format!("-> {} down after 2 failures", a.addr));
    a.restart();
    daemon.wait_log("tcp check passed (1 of 2 before up)");
    assert!(daemon.stop().is_ok());
}

/// A stand-in for `birdc`: records each call and says what BIRD says.
fn fake_birdc(dir: &TestDir) -> PathBuf {
    let script = dir.join("birdc.sh");
    let calls = dir.join("birdc.calls");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\necho 'BIRD 2.0.12 ready.'\necho Reconfigured\n",
            calls.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn announced(routes: &Path) -> bool {
    std::fs::read_to_string(routes)
        .unwrap_or_default()
        .contains("route 192.0.2.10/32 blackhole;")
}

#[test]
fn the_vip_is_announced_while_the_appliance_answers_and_a_backend_lives() {
    let dir = TestDir::new("daemon");
    let mut a = Backend::start(Behaviour::Close);
    let routes = dir.join("vips.conf");
    let bgp = format!(
        "\n[bgp]\nroutes_file = \"{}\"\nbirdc = [\"{}\"]\ndrain_ms = 0\n",
        routes.display(),
        fake_birdc(&dir).display()
    );
    let path = dir.join("lb.toml");
    let text = config_text(
        &[a.addr],
        FAST_CHECK,
        &format!(
            "\n[control]\nsocket = \"{}\"\n{bgp}",
            dir.join("ferrolb.sock").display()
        ),
    )
    .replace(
        "mode = \"nat\"",
        "mode = \"fullnat\"\nlocal_addresses = [\"10.0.0.100\"]",
    );
    write_file(&path, &text);
    // The appliance does not answer yet: nothing is announced.
    let fake = Fake::start(&dir.join("ferrolb.sock"));
    fake.set_mode(Mode::Mute);
    let daemon = Running::start(&path, None);
    daemon.wait_log("bgp: ferrolb_vips announces 0 VIPs");
    assert!(!announced(&routes));
    fake.set_mode(Mode::Answer);
    assert!(wait_for(|| announced(&routes)), "{}", daemon.log());
    // Its only backend fails: withdrawn; back: announced.
    a.stop();
    assert!(wait_for(|| !announced(&routes)), "{}", daemon.log());
    a.restart();
    assert!(wait_for(|| announced(&routes)), "{}", daemon.log());
    // The appliance stops answering: withdrawn until it takes our config.
    fake.set_mode(Mode::Mute);
    daemon.wait_log("bgp: the appliance does not answer; withdrawing its VIPs");
    assert!(wait_for(|| !announced(&routes)), "{}", daemon.log());
    fake.set_mode(Mode::Answer);
    assert!(wait_for(|| announced(&routes)), "{}", daemon.log());
    // A graceful stop withdraws before `run` returns.
    assert!(daemon_stop_withdraws(daemon, &routes));
    let calls = std::fs::read_to_string(dir.join("birdc.calls")).unwrap();
    assert!(calls.lines().all(|l| l == "configure"), "{calls}");
}

fn daemon_stop_withdraws(daemon: Running, routes: &Path) -> bool {
    let lines = Arc::clone(&daemon.lines);
    assert!(daemon.stop().is_ok());
    let log = lines.lock().unwrap().concat();
    assert!(
        log.contains("bgp: withdrew every VIP (192.0.2.10/32)"),
        "{log}"
    );
    !announced(routes)
}
