//! End-to-end drill of keepalived's MISC_CHECK and SSL_GET as `ferrolbctl
//! daemon` runs them (docs/health-and-metrics.md), in the network
//! namespaces of `tests/e2e_netns.rs`: an HTTP service checked by a script
//! (a real HTTP request over bash's /dev/tcp, and a dynamic weight), and an
//! HTTPS service checked with TLS against `openssl s_server` on each
//! server. Servers are stopped and started; the weights in the appliance
//! follow; client traffic never goes to a server once it is out. Needs root.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::{serial, server_ip, wait, Topology, HTTP, VIP};

const HTTPS: u16 = 443;
const TLS_PORT: u16 = 8443;
const CLOCK_SLACK: Duration = Duration::from_millis(20);

/// `openssl s_server -www` (answers GET with a 200 status page) in each
/// server namespace; killed on drop.
struct TlsServers {
    children: Vec<(String, Child)>,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

impl TlsServers {
    fn new(dir: &Path) -> TlsServers {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let out = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args([
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=backend.test",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl (scripts/setup.sh installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        TlsServers {
            children: Vec::new(),
            cert,
            key,
        }
    }

    fn start(&mut self, t: &Topology, role: &str) {
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &t.ns(role),
                "openssl",
                "s_server",
                "-quiet",
                "-www",
            ])
            .args(["-accept", &TLS_PORT.to_string(), "-cert"])
            .arg(&self.cert)
            .arg("-key")
            .arg(&self.key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openssl s_server");
        self.children.push((role.to_owned(), child));
    }

    fn stop(&mut self, role: &str) {
        self.children.retain_mut(|(r, c)| {
            if r == role {
                let _ = c.kill();
                let _ = c.wait();
                false
            } else {
                true
            }
        });
    }
}

impl Drop for TlsServers {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The MISC_CHECK: a real HTTP request to the backend, then the weight
/// from `weight-ADDRESS` if there is one (misc_dynamic: exit weight + 2).
fn check_script(dir: &Path) -> String {
    format!(
        r#"#!/bin/bash
exec 3<>/dev/tcp/$FERROLB_BACKEND/$FERROLB_BACKEND_PORT || exit 1
printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3
read -r -t 1 status <&3 || exit 1
case "$status" in *" 200 "*) ;; *) exit 1 ;; esac
if w=$(cat {dir}/weight-$FERROLB_BACKEND 2>/dev/null); then exit $((w + 2)); fi
exit 0
"#,
        dir = dir.display()
    )
}

fn services(script: &Path) -> String {
    let mut s = String::new();
    for (port, check, backend_port) in [
        (
            HTTP,
            format!(
                "check = {{ type = \"script\", command = [\"/bin/bash\", \"{}\"], dynamic = true, \
                 interval_ms = 300, timeout_ms = 1000, rise = 2, fall = 2 }}",
                script.display()
            ),
            HTTP,
        ),
        (
            HTTPS,
            "check = { type = \"https\", url = [{ path = \"/\", status = \"200\" }], \
             sni = \"backend.test\", interval_ms = 300, timeout_ms = 1000, rise = 2, fall = 2 }"
                .to_string(),
            TLS_PORT,
        ),
    ] {
        s += &format!(
            "\n[[service]]\nvip = \"{VIP}\"\nprotocol = \"tcp\"\nport = {port}\nmode = \"fullnat\"\n\
             scheduler = \"rr\"\nlocal_addresses = [\"10.0.1.100\", \"10.0.1.101\"]\n{check}\n"
        );
        for server in ["s1", "s2", "s3"] {
            s += &format!(
                "\n[[service.backend]]\naddress = \"{}\"\nport = {backend_port}\n",
                server_ip(server)
            );
        }
    }
    s
}

fn weight(t: &Topology, port: u16, server: &str) -> Option<u64> {
    t.backends(&format!("tcp/{VIP}:{port}"))
        .get(server_ip(server))
        .map(|b| b.0)
}

fn wait_weight(t: &Topology, port: u16, server: &str, want: u64) -> Instant {
    wait(
        &format!("{server} at weight {want} in tcp/{VIP}:{port}"),
        Duration::from_secs(20),
        || weight(t, port, server) == Some(want),
    );
    Instant::now()
}

#[test]
fn drill_a_misc_check_and_an_ssl_get_service_follow_their_servers() {
    let _serial = serial();
    let t0 = Instant::now();
    let mut t = Topology::up("fullnat");
    t.start_servers();
    let mut tls = TlsServers::new(t.dir.path());
    for s in ["s1", "s2", "s3"] {
        tls.start(&t, s);
    }
    let script = t.dir.path().join("check.sh");
    std::fs::write(&script, check_script(t.dir.path())).expect("write the script");
    t.start_lb(&services(&script));
    let config = t.config.clone();
    t.start_daemon(&config);
    for s in ["s1", "s2", "s3"] {
        wait_weight(&t, HTTP, s, 1);
        wait_weight(&t, HTTPS, s, 1);
    }

    // HTTPS through the appliance to an s_server.
    let curl = Command::new("ip")
        .args([
            "netns",
            "exec",
            &t.ns("client"),
            "curl",
            "-sk",
            "--max-time",
            "5",
        ])
        .arg(format!("https://{VIP}/"))
        .output()
        .expect("curl (scripts/setup.sh installs it)");
    assert!(
        curl.status.success() && String::from_utf8_lossy(&curl.stdout).contains("s_server"),
        "HTTPS through the VIP: {curl:?}"
    );

    let loop_ = t.spawn_client(
        "client",
        &[
            "http",
            "--target",
            &format!("{VIP}:{HTTP}"),
            "--count",
            "0",
            "--duration-ms",
            "8000",
            "--interval-ms",
            "5",
            "--timeout-ms",
            "1000",
        ],
    );
    std::thread::sleep(Duration::from_millis(800));

    // The web server of s2 stops: the script check takes it out of the
    // HTTP service; its TLS server is fine, so the HTTPS service keeps it.
    let killed = Instant::now();
    t.stop_server("s2");
    let down = wait_weight(&t, HTTP, "s2", 0);
    assert_eq!(weight(&t, HTTPS, "s2"), Some(1));
    // The TLS server of s3 stops: the reverse.
    tls.stop("s3");
    wait_weight(&t, HTTPS, "s3", 0);
    assert_eq!(weight(&t, HTTP, "s3"), Some(1));
    // The script sets s1's weight (misc_dynamic).
    std::fs::write(
        t.dir.path().join(format!("weight-{}", server_ip("s1"))),
        "5",
    )
    .expect("write");
    wait_weight(&t, HTTP, "s1", 5);
    std::fs::remove_file(t.dir.path().join(format!("weight-{}", server_ip("s1")))).expect("rm");
    wait_weight(&t, HTTP, "s1", 1);
    // Both come back.
    t.start_server("s2");
    let up = wait_weight(&t, HTTP, "s2", 1);
    tls.start(&t, "s3");
    wait_weight(&t, HTTPS, "s3", 1);

    let run = loop_.wait(Duration::from_secs(60));
    let failed = run.failures();
    let late: Vec<_> = failed
        .iter()
        .filter(|r| r.started > down + CLOCK_SLACK)
        .map(|r| r.error.clone())
        .collect();
    let s2_after = run
        .requests
        .iter()
        .filter(|r| r.ok && r.server == "s2" && r.started > up)
        .count();
    let log = std::fs::read_to_string(t.dir.path().join("daemon.log")).unwrap_or_default();
    eprintln!(
        "E2E drill checkers: {} requests, {} failed (s2's web server stopped, before weight 0 \
         {} ms later), {s2_after} answered by s2 after it came back; {} ms",
        run.requests.len(),
        failed.len(),
        (down - killed).as_millis(),
        t0.elapsed().as_millis()
    );
    assert!(
        late.is_empty(),
        "requests failed after s2 was out: {late:?}"
    );
    assert!(
        failed.iter().all(|r| r.started + CLOCK_SLACK >= killed),
        "{failed:?}"
    );
    assert!(s2_after > 0, "s2 answers again");
    for needle in [
        "script check failed",
        "down after 2 failures of its script check",
        "down after 2 failures of its https check",
        "weight 5 set by its script check",
    ] {
        assert!(
            log.contains(needle),
            "{needle:?} not in the daemon log:\n{log}"
        );
    }
}
