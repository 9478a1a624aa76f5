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
