//! End to end with real Linux stacks in network namespaces
//! (docs/end-to-end.md), for issue 21's PROXY protocol on TCP: a real
//! nginx (Debian's nginx-light, `listen 80 proxy_protocol;`) behind FULLNAT
//! services with `proxy_protocol = "v2"` and `"v1"`, real curl clients, and
//! every request answered with the client address and port nginx read
//! from the header (and logged as `$proxy_protocol_addr`). A third service
//! without the key reaches a plain `listen 81;` on the same nginx, which
//! would answer 400 to a header: it gets none. Needs root.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::{serial, server_ip, wait, Topology, CLIENT_IP, VIP};

/// The nginx in `s1`, killed before the namespaces go.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nginx_conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "worker_processes 1;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/nginx.err;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
           client_body_temp_path {d}/body;\n\
           log_format pp '$server_port $proxy_protocol_addr:$proxy_protocol_port $remote_addr';\n\
           server {{\n\
             listen 80 proxy_protocol;\n\
             access_log {d}/pp.log pp;\n\
             return 200 '$proxy_protocol_addr:$proxy_protocol_port';\n\
           }}\n\
           server {{\n\
             listen 81;\n\
             access_log {d}/plain.log pp;\n\
             return 200 'plain $remote_addr';\n\
           }}\n\
         }}\n"
    )
}

fn start_nginx(t: &Topology) -> Nginx {
    let conf = t.dir.path().join("nginx.conf");
    std::fs::write(&conf, nginx_conf(t.dir.path())).expect("write nginx.conf");
    let err = t.dir.path().join("nginx.stderr");
    let child = Command::new("ip")
        .args(["netns", "exec", &t.ns("s1"), "nginx", "-e"])
        .arg(t.dir.path().join("nginx.err"))
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).expect("log"))
        .spawn()
        .expect("start nginx (scripts/setup.sh installs nginx-light)");
    let n = Nginx(child);
    wait(
        "nginx to listen on 80 and 81",
        Duration::from_secs(10),
        || {
            let out = t.run_in("s1", &["ss", "-ltn"]);
            let s = String::from_utf8_lossy(&out.stdout);
            s.contains(":80 ") && s.contains(":81 ")
        },
    );
    n
}

/// A FULLNAT service to `s1`, from its own local addresses `lips`: two
/// services to the same backend port from the same local addresses can
/// pick the same local port for it (`drop:session_clash`).
fn service(port: u16, backend_port: u16, lips: &str, extra: &str) -> String {
    format!(
        "\n[[service]]\nvip = \"{VIP}\"\nprotocol = \"tcp\"\nport = {port}\nmode = \"fullnat\"\n\
         scheduler = \"rr\"\nlocal_addresses = [{lips}]\n{extra}\n\
         [[service.backend]]\naddress = \"{}\"\nport = {backend_port}\n",
        server_ip("s1")
    )
}

/// `curl` from the client namespace: the body and the client's local port
/// (`None` when curl failed, HTTP errors included).
fn curl(t: &Topology, port: u16, upload: Option<&Path>) -> Option<(String, u16)> {
    let url = format!("http://{VIP}:{port}/");
    let mut args = vec![
        "curl",
        "-sS",
        "-f",
        "--max-time",
        "10",
        "-w",
        "|%{local_port}",
    ];
    let data;
    if let Some(file) = upload {
        data = format!("@{}", file.display());
        args.extend(["--data-binary", &data]);
    }
    args.push(&url);
    let out = t.run_in("client", &args);
    if !out.status.success() {
        eprintln!("curl {url}: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, lport) = text.rsplit_once('|')?;
    Some((body.to_owned(), lport.parse().ok()?))
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn nginx_behind_fullnat_reads_the_real_client_from_proxy_v1_and_v2() {
    let _serial = serial();
    let mut t = Topology::up("fullnat");
    let _nginx = start_nginx(&t);
    let services = service(80, 80, r#""10.0.1.100""#, r#"proxy_protocol = "v2""#)
        + &service(8080, 80, r#""10.0.1.101""#, r#"proxy_protocol = "v1""#)
        + &service(81, 81, r#""10.0.1.100", "10.0.1.101""#, "")
        + &service(
            8443,
            80,
            r#""10.0.1.102""#,
            "proxy_protocol = \"v2\"\nsyn_proxy = true",
        );
    t.start_lb(&services);
    let upload = t.dir.path().join("upload.bin");
    std::fs::write(
        &upload,
        (0..300_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    )
    .expect("upload file");

    const EACH: usize = 30;
    const SYN_PROXIED: usize = 10;
    let total = 2 * (EACH + 2) + SYN_PROXIED;
    let start = Instant::now();
    let mut seen_by_nginx = Vec::new();
    for (port, what, n) in [
        (80, "v2", EACH + 2),
        (8080, "v1", EACH + 2),
        (8443, "v2 + syn_proxy", SYN_PROXIED),
    ] {
        for i in 0..n {
            // Two of each carry a 300 kB body: hundreds of shifted segments.
            let body = (i >= EACH).then_some(upload.as_path());
            let got = curl(&t, port, body);
            let Some((answer, lport)) = got else {
                panic!("{what} request {i} failed\n{}", t.log());
            };
            assert_eq!(
                answer,
                format!("{CLIENT_IP}:{lport}"),
                "{what} request {i}: nginx read the client and its port from the header"
            );
            seen_by_nginx.push(format!("80 {CLIENT_IP}:{lport}"));
        }
    }
    let mut plain = 0;
    for i in 0..10 {
        let Some((answer, _)) = curl(&t, 81, None) else {
            panic!(
                "plain request {i} failed (a header would get a 400)\n{}",
                t.log()
            );
        };
        assert!(
            answer == "plain 10.0.1.100" || answer == "plain 10.0.1.101",
            "the plain server sees a local address and no header: {answer}"
        );
        plain += 1;
    }
    let ms = start.elapsed().as_millis();

    // nginx's own log: every PROXY request with the client's address, the
    // connection itself from a local address.
    let logged = lines(&t.dir.path().join("pp.log"));
    assert_eq!(logged.len(), total, "{logged:?}");
    for (i, (line, want)) in logged.iter().zip(&seen_by_nginx).enumerate() {
        assert!(line.starts_with(want), "{line} (want {want})");
        let lip = match i / (EACH + 2) {
            0 => " 10.0.1.100",
            1 => " 10.0.1.101",
            _ => " 10.0.1.102",
        };
        assert!(
            line.ends_with(lip),
            "{line}: from the service's local address"
        );
    }
    assert_eq!(lines(&t.dir.path().join("plain.log")).len(), plain);
    let err = std::fs::read_to_string(t.dir.path().join("nginx.err")).unwrap_or_default();
    assert!(
        !err.contains("broken header"),
        "nginx refused a header: {err}"
    );

    let stats = t.ctl_json(&["stats"]);
    let events = &stats["events"];
    eprintln!(
        "E2E PROXY tcp: {} v2 + {} v1 requests (2 uploads each), {SYN_PROXIED} v2 with \
         syn_proxy, {plain} plain, {ms} ms; added {} resent {} mss_lowered {}",
        EACH + 2,
        EACH + 2,
        events["proxy_tcp_added"],
        events["proxy_tcp_resent"],
        events["proxy_tcp_mss_lowered"]
    );
    assert_eq!(events["proxy_tcp_added"], total as u64);
    // The backends' SYN-ACKs, and every cookie SYN-ACK of the proxied service.
    let answered = events["synproxy_syn_answered"].as_u64().unwrap_or(0);
    eprintln!(
        "syn_proxy: {answered} cookie SYN-ACKs, {} spliced",
        events["synproxy_spliced"]
    );
    assert!(answered >= SYN_PROXIED as u64, "{answered}");
    assert_eq!(
        events["proxy_tcp_mss_lowered"],
        2 * (EACH as u64 + 2) + answered
    );
    assert_eq!(events["synproxy_spliced"], SYN_PROXIED as u64);
    for reason in [
        "proxy_header_no_room",
        "proxy_bad_options",
        "proxy_syn_data",
    ] {
        assert_eq!(t.drop_count(reason), 0, "{reason}");
    }
}
