//! End to end with real Linux stacks in network namespaces
//! (docs/end-to-end.md), for the PROXY protocol over IPv6 (issues 20 and
//! 21; docs/ipv6.md, "The client's address over IPv6"): a real nginx
//! (Debian's nginx-light, `listen [::]:80 proxy_protocol;`) on `s1`'s IPv6
//! address behind FULLNAT-over-IPv6 services with `proxy_protocol = "v2"`
//! and `"v1"`, real curl from the router (2001:db8:2::fe, IPv6), every
//! request answered with the client address and port nginx read from the
//! header while its connection came from ferrolb's IPv6 local address.
//! Needs root (`scripts/netns.sh up NAME fullnat` then `ipv6fullnat`).

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::{serial, wait, Topology};
use common::netns6::{with_ipv6_addresses, SERVERS6, VIP6};

const CLIENT6: &str = "2001:db8:2::fe";

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
           log_format pp '$proxy_protocol_addr $proxy_protocol_port $remote_addr';\n\
           server {{\n\
             listen [::]:80 ipv6only=on proxy_protocol;\n\
             access_log {d}/pp.log pp;\n\
             return 200 '$proxy_protocol_addr $proxy_protocol_port';\n\
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
        "nginx to listen on [::]:80",
        Duration::from_secs(10),
        || {
            let out = t.run_in("s1", &["ss", "-ltn"]);
            String::from_utf8_lossy(&out.stdout).contains("[::]:80 ")
        },
    );
    n
}

/// A FULLNAT service of the IPv6 VIP's `port` to `s1` port 80 from the
/// IPv6 local address `laddr`, with `proxy_protocol = version`.
fn service(port: u16, laddr: &str, version: &str) -> String {
    format!(
        "\n[[service]]\nvip = \"{VIP6}\"\nprotocol = \"tcp\"\nport = {port}\nmode = \"fullnat\"\n\
         local_addresses = [\"{laddr}\"]\nproxy_protocol = \"{version}\"\n\
         \n[[service.backend]]\naddress = \"{}\"\nport = 80\n",
        SERVERS6[0].1
    )
}

/// curl from the router to `[VIP6]:port`, with a body from `upload`: the
/// answer and curl's local port (None when it failed).
fn curl(t: &Topology, port: u16, upload: Option<&Path>) -> Option<(String, u16)> {
    let url = format!("http://[{VIP6}]:{port}/");
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
    let out = t.run_in("router", &args);
    if !out.status.success() {
        eprintln!("curl {url}: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, lport) = text.rsplit_once('|')?;
    Some((body.to_owned(), lport.parse().ok()?))
}

#[test]
fn nginx_behind_fullnat6_reads_the_ipv6_client_from_proxy_v2_and_v1() {
    let _serial = serial();
    let mut t = Topology::up("fullnat");
    t.netns_script("ipv6fullnat");
    let _nginx = start_nginx(&t);
    let body = service(80, "2001:db8:1::100", "v2") + &service(8080, "2001:db8:1::101", "v1");
    t.start_lb_text(&with_ipv6_addresses(&t.config_text(&body), true));
    let upload = t.dir.path().join("upload.bin");
    std::fs::write(
        &upload,
        (0..300_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    )
    .expect("upload file");

    const EACH: usize = 20;
    let start = Instant::now();
    let mut want_log = Vec::new();
    for (port, laddr, what) in [
        (80, "2001:db8:1::100", "v2"),
        (8080, "2001:db8:1::101", "v1"),
    ] {
        for i in 0..EACH + 2 {
            // Two of each carry a 300 kB body: hundreds of shifted segments.
            let body = (i >= EACH).then_some(upload.as_path());
            let Some((answer, lport)) = curl(&t, port, body) else {
                panic!("{what} request {i} failed\n{}", t.log());
            };
            assert_eq!(
                answer,
                format!("{CLIENT6} {lport}"),
                "{what} request {i}: nginx read the IPv6 client and its port from the header"
            );
            want_log.push(format!("{CLIENT6} {lport} {laddr}"));
        }
    }
    let ms = start.elapsed().as_millis();
    // nginx's log: the client from the header, the connection from the
    // service's IPv6 local address.
    // (nginx logs a request after its answer: the last may trail curl.)
    let log = t.dir.path().join("pp.log");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    wait("nginx to log every request", Duration::from_secs(5), || {
        read().lines().count() >= want_log.len()
    });
    let logged = read();
    let logged: Vec<&str> = logged.lines().collect();
    assert_eq!(logged, want_log);
    let err = std::fs::read_to_string(t.dir.path().join("nginx.err")).unwrap_or_default();
    assert!(
        !err.contains("broken header"),
        "nginx refused a header: {err}"
    );

    let events = t.ctl_json(&["stats"])["events"].clone();
    eprintln!(
        "E2E PROXY over IPv6: {} v2 + {} v1 requests (2 uploads each), {ms} ms; added {} \
         resent {} mss_lowered {}",
        EACH + 2,
        EACH + 2,
        events["proxy_tcp_added"],
        events["proxy_tcp_resent"],
        events["proxy_tcp_mss_lowered"]
    );
    let total = 2 * (EACH as u64 + 2);
    assert_eq!(events["proxy_tcp_added"], total);
    // Each backend's SYN-ACK (a retransmitted one lowered again).
    assert!(events["proxy_tcp_mss_lowered"].as_u64() >= Some(total));
    for reason in [
        "proxy_header_no_room",
        "proxy_bad_options",
        "proxy_syn_data",
        "no_session",
    ] {
        assert_eq!(t.drop_count(reason), 0, "{reason}");
    }
}
