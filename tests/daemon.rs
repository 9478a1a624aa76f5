//! `ferrolbctl daemon` against a running appliance: real TCP and HTTP
//! listeners on loopback are stopped and started, and the backends' weights
//! in the appliance follow; the config file is edited and reloaded; metrics
//! are scraped; and killing the daemon leaves forwarding alone
//! (docs/health-and-metrics.md).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::appliance::{base_config, dns_traffic, ferrolbctl_bin, Appliance};
use serde_json::Value;

/// A backend on loopback that can be stopped and started on the same
/// address, answering HTTP with a status that can be changed.
struct Backend {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    running: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

impl Backend {
    fn start(ip: &str) -> Backend {
        let listener = TcpListener::bind(format!("{ip}:0")).expect("bind a loopback backend");
        let addr = listener.local_addr().expect("address");
        let mut b = Backend {
            addr,
            status: Arc::new(AtomicU16::new(200)),
            running: None,
        };
        b.serve(listener);
        b
    }

    fn serve(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).expect("non-blocking");
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, status) = (Arc::clone(&stop), Arc::clone(&self.status));
        let handle = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                        let mut buf = [0u8; 1024];
                        let _ = s.read(&mut buf);
                        let code = status.load(Ordering::Relaxed);
                        let _ = write!(
                            s,
                            "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        );
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        self.running = Some((stop, handle));
    }

    fn stop(&mut self) {
        if let Some((stop, handle)) = self.running.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
    }

    fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).expect("bind the same address again");
        self.serve(listener);
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The weight of backend `addr` of service `key`, as the appliance runs it.
fn weight(app: &Appliance, key: &str, addr: SocketAddr) -> Option<u64> {
    let list = app.ctl_json(&["list"]);
    list["services"]
        .as_array()?
        .iter()
        .find(|s| s["key"] == key)?["backends"]
        .as_array()?
        .iter()
        .find(|b| b["address"] == addr.ip().to_string() && b["port"] == addr.port())?["weight"]
        .as_u64()
}

fn wait_weight(app: &Appliance, key: &str, addr: SocketAddr, want: u64, log: &std::path::Path) {
    let start = Instant::now();
    while weight(app, key, addr) != Some(want) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{key} -> {addr} never reached weight {want} (now {:?}); daemon log:\n{}",
            weight(app, key, addr),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "{key} -> {addr}: weight {want} after {} ms",
        start.elapsed().as_millis()
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
fn health_checks_reload_and_metrics_against_a_running_appliance() {
    let mut tcp = Backend::start("127.0.0.11");
    let http = Backend::start("127.0.0.12");
    let services = format!(
        r#"
[[service]]
vip = "192.0.2.40"
protocol = "tcp"
port = 80
mode = "nat"
check = {{ type = "tcp", interval_ms = 100, timeout_ms = 100, rise = 2, fall = 2 }}

[[service.backend]]
address = "127.0.0.11"
port = {}

[[service]]
vip = "192.0.2.41"
protocol = "tcp"
port = 80
mode = "nat"
check = {{ type = "http", path = "/healthz", interval_ms = 100, timeout_ms = 200, rise = 2, fall = 2 }}

[[service.backend]]
address = "127.0.0.12"
port = {}
weight = 3
"#,
        tcp.addr.port(),
        http.addr.port()
    );
    let app = Appliance::start(&format!("{}{services}", base_config()), &dns_traffic());
    let (tcp_svc, http_svc) = ("tcp/192.0.2.40:80", "tcp/192.0.2.41:80");

    // The daemon reads the appliance's own file, plus where to serve metrics.
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let original = std::fs::read_to_string(&app.config).expect("config");
    let file = app.dir.path().join("daemon.toml");
    std::fs::write(
        &file,
        format!("{original}\n[daemon]\nmetrics = \"{metrics}\"\n"),
    )
    .expect("write");
    let log = app.dir.path().join("daemon.log");
    let daemon = Daemon(
        Command::new(ferrolbctl_bin())
            .arg("daemon")
            .arg("-c")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start the daemon"),
    );
    wait_weight(&app, tcp_svc, tcp.addr, 1, &log);
    wait_weight(&app, http_svc, http.addr, 3, &log);

    // TCP: the listener stops, the backend goes to weight 0; it comes back.
    tcp.stop();
    wait_weight(&app, tcp_svc, tcp.addr, 0, &log);
    tcp.restart();
    wait_weight(&app, tcp_svc, tcp.addr, 1, &log);

    // HTTP: a wrong status takes it out, the right one brings back weight 3.
    http.status.store(503, Ordering::Relaxed);
    wait_weight(&app, http_svc, http.addr, 0, &log);
    http.status.store(200, Ordering::Relaxed);
    wait_weight(&app, http_svc, http.addr, 3, &log);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("down"), "transitions are logged:\n{text}");
    assert!(text.contains("127.0.0.11"), "{text}");

    // Reload: the file changes, the appliance follows; a broken file is
    // ignored.
    let edited = std::fs::read_to_string(&file)
        .expect("read")
        .replace("weight = 3", "weight = 5");
    std::fs::write(&file, &edited).expect("write");
    wait_weight(&app, http_svc, http.addr, 5, &log);
    let generation = app.ctl_json(&["hello"])["generation"].clone();
    std::fs::write(&file, edited.replace("weight = 5", "weight = \"heavy\"")).expect("write");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("daemon.toml:")
    {
        assert!(Instant::now() < deadline, "the broken file is reported");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(app.ctl_json(&["hello"])["generation"], generation);
    assert_eq!(weight(&app, http_svc, http.addr), Some(5));

    // Metrics, with 40 idle connections held open (more than the 32 the
    // endpoint serves at once): the scrape is answered within 2 s.
    let idle: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(metrics).expect("metrics endpoint"))
        .collect();
    let scrape_start = Instant::now();
    let mut s = TcpStream::connect(metrics).expect("metrics endpoint");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut body = String::new();
    s.read_to_string(&mut body).expect("read");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("ferrolb_up 1"), "{body}");
    assert!(
        body.lines().any(|l| l.starts_with("ferrolb_backend_up{")
            && l.contains("127.0.0.11")
            && l.ends_with(" 1")),
        "{body}"
    );
    assert!(body.contains("ferrolb_drops_total{"), "{body}");
    let took = scrape_start.elapsed();
    assert!(took < Duration::from_secs(2), "scrape took {took:?}");
    drop(idle);

    // Killing the daemon leaves forwarding and the last weights alone.
    drop(daemon);
    let rx = app.rx_packets();
    app.wait_for("traffic to go on without the daemon", || {
        app.rx_packets() > rx
    });
    assert_eq!(weight(&app, http_svc, http.addr), Some(5));
    let list: Value = app.ctl_json(&["list"]);
    assert_eq!(list["services"].as_array().map(Vec::len), Some(4));
    app.stop();
}

/// The backends of service `key` as the appliance runs them: (address:port,
/// weight), sorted.
fn backends(app: &Appliance, key: &str) -> Vec<(String, u64)> {
    let list = app.ctl_json(&["list"]);
    let mut out: Vec<(String, u64)> = list["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["key"] == key))
        .and_then(|s| s["backends"].as_array())
        .map(|b| {
            b.iter()
                .filter(|b| b["draining"] != true)
                .map(|b| {
                    (
                        format!("{}:{}", b["address"].as_str().unwrap_or(""), b["port"]),
                        b["weight"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn wait_backends(app: &Appliance, key: &str, want: &[(String, u64)], log: &std::path::Path) {
    let start = Instant::now();
    while backends(app, key) != want {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{key} never ran {want:?} (now {:?}); daemon log:\n{}",
            backends(app, key),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sorry_server_quorum_and_notify_commands_against_a_running_appliance() {
    let mut a = Backend::start("127.0.0.21");
    let mut b = Backend::start("127.0.0.22");
    let app_dir = tempfile::tempdir().expect("temp dir");
    let events = app_dir.path().join("events");
    let note = |what: &str| {
        format!(
            "[\"/bin/sh\", \"-c\", \"echo {what} $FERROLB_SERVICE $FERROLB_BACKEND >> {}\"]",
            events.display()
        )
    };
    // Weights 2 + 2, quorum 3 with hysteresis 1: lost below 2 (both down),
    // regained at 4 (both up). Backend a is removed on failure, b inhibited.
    let services = format!(
        r#"
[[service]]
vip = "192.0.2.50"
protocol = "tcp"
port = 80
mode = "nat"
quorum = 3
hysteresis = 1
quorum_up = {up}
quorum_down = {down}
sorry_server = {{ address = "127.0.0.29", port = 8099 }}
check = {{ type = "tcp", interval_ms = 100, timeout_ms = 100, rise = 1, fall = 1 }}

[[service.backend]]
address = "127.0.0.21"
port = {pa}
weight = 2
on_failure = "remove"
notify_down = {bdown}

[[service.backend]]
address = "127.0.0.22"
port = {pb}
weight = 2
"#,
        up = note("quorum_up"),
        down = note("quorum_down"),
        bdown = note("down"),
        pa = a.addr.port(),
        pb = b.addr.port(),
    );
    let app = Appliance::start(&format!("{}{services}", base_config()), &dns_traffic());
    let svc = "tcp/192.0.2.50:80";
    let log = app.dir.path().join("daemon.log");
    let _daemon = Daemon(
        Command::new(ferrolbctl_bin())
            .arg("daemon")
            .arg("-c")
            .arg(&app.config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start the daemon"),
    );
    let (ka, kb) = (a.addr.to_string(), b.addr.to_string());
    let sorry = "127.0.0.29:8099".to_string();
    // The daemon is running when the health overlay is applied; at start
    // nothing differs from the file.
    std::thread::sleep(Duration::from_millis(300));
    wait_backends(&app, svc, &[(ka.clone(), 2), (kb.clone(), 2)], &log);

    // a fails: removed (on_failure = "remove"); 2 is within the band.
    a.stop();
    wait_backends(&app, svc, &[(kb.clone(), 2)], &log);
    // b fails too: 0 < 2, quorum lost, the sorry server takes the flows.
    b.stop();
    wait_backends(&app, svc, &[(kb.clone(), 0), (sorry.clone(), 1)], &log);
    // b back: 2 < 4, still without quorum (hysteresis).
    b.restart();
    let start = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains(&format!("-> {kb} up after"))
    {
        assert!(start.elapsed() < Duration::from_secs(20), "b never came up");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(backends(&app, svc), [(kb.clone(), 0), (sorry.clone(), 1)]);
    // a back: 4, quorum regained, the sorry server leaves.
    a.restart();
    wait_backends(&app, svc, &[(ka.clone(), 2), (kb.clone(), 2)], &log);

    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains(&format!(
            "quorum: {svc} lost quorum: live weight 0 < 2; sorry server {sorry} in use"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "quorum: {svc} gained quorum: live weight 4 >= 4; sorry server {sorry} out of use"
        )),
        "{text}"
    );
    let start = Instant::now();
    let read = || std::fs::read_to_string(&events).unwrap_or_default();
    while !read().contains("quorum_up") {
        assert!(start.elapsed() < Duration::from_secs(10), "{}", read());
        std::thread::sleep(Duration::from_millis(20));
    }
    let events = read();
    let lines: Vec<&str> = events.lines().map(str::trim_end).collect();
    assert_eq!(
        lines,
        [
            format!("down {svc} 127.0.0.21"),
            format!("quorum_down {svc}"),
            format!("quorum_up {svc}"),
        ],
        "{text}"
    );
    app.stop();
}
