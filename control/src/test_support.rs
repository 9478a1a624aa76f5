//! Helpers shared by the health, metrics and daemon tests: temporary
//! directories, loopback backends that can be stopped and restarted, config
//! text, and waiting for a condition with a generous deadline.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long tests wait for something that should happen in well under a
/// second.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `cond` every 10 ms until it holds; false if `DEADLINE` passes.
pub fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + DEADLINE;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// A directory under the system temp dir, removed on drop.
pub struct TestDir(PathBuf);

impl TestDir {
    pub fn new(tag: &str) -> TestDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ferrolb-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TestDir(dir)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a loopback backend does with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Accepts and closes (enough for a TCP check).
    Close,
    /// Reads the request head and answers with this status.
    Http(u16),
    /// Accepts and never answers.
    Silent,
}

/// A TCP server on 127.0.0.1 that can be stopped (the port then refuses
/// connections) and restarted on the same port.
pub struct Backend {
    pub addr: SocketAddrV4,
    behaviour: Arc<Mutex<Behaviour>>,
    /// The last request head an HTTP backend read.
    pub last_request: Arc<Mutex<Option<String>>>,
    running: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Backend {
    pub fn start(behaviour: Behaviour) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = match listener.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("not v4: {other}"),
        };
        let mut b = Backend {
            addr,
            behaviour: Arc::new(Mutex::new(behaviour)),
            last_request: Arc::default(),
            running: None,
        };
        b.serve(listener);
        b
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    /// Closes the listener and every connection it holds.
    pub fn stop(&mut self) {
        if let Some((stop, thread)) = self.running.take() {
            stop.store(true, Ordering::SeqCst);
            thread.join().unwrap();
        }
    }

    /// Listens again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let end = Instant::now() + DEADLINE;
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(e) if Instant::now() < end => {
                    let _ = e;
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("rebinding {}: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let behaviour = Arc::clone(&self.behaviour);
        let last_request = Arc::clone(&self.last_request);
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::SeqCst) {
                let Ok((stream, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let now = *behaviour.lock().unwrap();
                match now {
                    Behaviour::Close => drop(stream),
                    Behaviour::Silent => held.push(stream),
                    Behaviour::Http(status) => {
                        let last = Arc::clone(&last_request);
                        thread::spawn(move || answer(stream, status, &last));
                    }
                }
            }
        });
        self.running = Some((stop, thread));
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some((stop, _)) = &self.running {
            stop.store(true, Ordering::SeqCst);
        }
    }
}

fn answer(mut stream: TcpStream, status: u16, last: &Mutex<Option<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    *last.lock().unwrap() = Some(String::from_utf8_lossy(&head).into_owned());
    let _ = write!(
        stream,
        "HTTP/1.1 {status} Test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

/// A port on 127.0.0.1 with nothing listening (bound, then closed).
pub fn closed_port() -> SocketAddrV4 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    match l.local_addr().unwrap() {
        std::net::SocketAddr::V4(a) => a,
        other => panic!("not v4: {other}"),
    }
}

/// A valid pipeline config with one NAT service `tcp/192.0.2.10:80` whose
/// backends are `backends` (127.0.0.1 ports, weight 5) and whose check is
/// the inline table `check` (e.g. `{ type = "tcp", interval_ms = 50 }`),
/// plus `extra` appended (e.g. `[control]` or `[daemon]` tables).
pub fn config_text(backends: &[SocketAddrV4], check: &str, extra: &str) -> String {
    let mut text = String::from(
        r#"[[port]]
name = "lan"
device = "net_null0"

[[interface]]
port = "lan"
addresses = ["10.0.0.1/24"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.0.254"

[[service]]
name = "web"
vip = "192.0.2.10"
protocol = "tcp"
port = 80
mode = "nat"
"#,
    );
    if !check.is_empty() {
        text += &format!("check = {check}\n");
    }
    for b in backends {
        text += &format!(
            "\n[[service.backend]]\naddress = \"{}\"\nport = {}\nweight = 5\n",
            b.ip(),
            b.port()
        );
    }
    text += extra;
    text
}

pub fn loopback(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
}
