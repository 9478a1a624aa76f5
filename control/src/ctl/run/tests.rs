//! Each verb against a stand-in server: the op it sends and what it prints.

use std::ffi::OsString;
use std::net::Ipv4Addr;

use clap::error::ErrorKind;
use clap::Parser;

use super::*;
use crate::api::{ChangeReply, Request, Response, SessionsReply};
use crate::config::{LbMode, PortRange, SchedulerName};
use crate::test_server::TestServer;
use ferrolb_types::IpProto;

fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("ferrolbctl").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn usage_error(args: &[&str]) -> ErrorKind {
    match Cli::try_parse_from(std::iter::once("ferrolbctl").chain(args.iter().copied())) {
        Ok(c) => panic!("{args:?} parsed: {c:?}"),
        Err(e) => e.kind(),
    }
}

/// Runs `args` against `server`; returns what was printed, or the error.
fn run_on(server: &TestServer, args: &[&str]) -> Result<String, CtlError> {
    let socket = server.path.to_str().unwrap();
    let mut all = vec!["-s", socket];
    all.extend_from_slice(args);
    let mut out = Vec::new();
    run(&cli(&all), None, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

fn applied(changes: &[&str]) -> ChangeReply {
    ChangeReply {
        generation: 8,
        applied: true,
        changes: changes.iter().map(|c| c.to_string()).collect(),
        adopted_us: Some(41),
    }
}

/// The op each request carried.
fn ops(server: &TestServer) -> Vec<Op> {
    server
        .requests()
        .into_iter()
        .map(|r: Request| r.op)
        .collect()
}

#[test]
fn the_command_line_is_well_formed() {
    Cli::command().debug_assert();
}

#[test]
fn the_socket_comes_from_the_flag_then_the_environment() {
    let flag = Path::new("/tmp/a.sock");
    let env = Some(OsString::from("/tmp/b.sock"));
    assert_eq!(socket_path(Some(flag), env.clone()), flag);
    assert_eq!(socket_path(None, env), Path::new("/tmp/b.sock"));
    assert_eq!(
        socket_path(None, Some(OsString::new())),
        Path::new(DEFAULT_SOCKET)
    );
    assert_eq!(socket_path(None, None), Path::new(DEFAULT_SOCKET));
    // -s is accepted after the verb too.
    let c = cli(&["list", "-s", "/tmp/c.sock"]);
    assert_eq!(c.socket.as_deref(), Some(Path::new("/tmp/c.sock")));
}

#[test]
fn apply_sends_the_file_and_prints_the_diff() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lb.toml");
    std::fs::write(&file, "[[port]]\n").unwrap();
    let server = TestServer::replying(&ChangeReply {
        generation: 7,
        applied: false,
        changes: vec!["+ route 10.0.0.0/8 via 10.0.0.254".into()],
        adopted_us: None,
    });
    let path = file.to_str().unwrap();
    let text = run_on(&server, &["apply", "-f", path, "--dry-run"]).unwrap();
    assert_eq!(
        text,
        "+ route 10.0.0.0/8 via 10.0.0.254\ndry run: nothing changed\n"
    );
    assert_eq!(
        ops(&server),
        vec![Op::Apply {
            config: "[[port]]\n".into(),
            dry_run: true,
            source: Some(path.into()),
        }]
    );
}

#[test]
fn apply_of_a_missing_file_names_it() {
    let server = TestServer::replying(&applied(&[]));
    let e = run_on(&server, &["apply", "-f", "/nonexistent/lb.toml"]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot read /nonexistent/lb.toml: "),
        "{e}"
    );
    assert!(server.requests().is_empty());
}

#[test]
fn service_add_sends_the_whole_service() {
    let server = TestServer::replying(&applied(&["+ service tcp/192.0.2.10:80 (fullnat, wrr)"]));
    let text = run_on(
        &server,
        &[
            "service",
            "add",
            "192.0.2.10:80",
            "--proto",
            "tcp",
            "--mode",
            "fullnat",
            "--scheduler",
            "wrr",
            "--persistence",
            "60",
            "--laddr",
            "10.0.1.100",
            "10.0.1.101",
            "--local-ports",
            "2000-3000",
            "--name",
            "web",
        ],
    )
    .unwrap();
    assert_eq!(
        text,
        "+ service tcp/192.0.2.10:80 (fullnat, wrr)\napplied generation 8 (all workers in 41 µs)\n"
    );
    let [Op::ServiceAdd { service }] = &ops(&server)[..] else {
        panic!("{:?}", ops(&server))
    };
    assert_eq!(service.key_text(), "tcp/192.0.2.10:80");
    assert_eq!(service.mode, LbMode::Fullnat);
    assert_eq!(service.scheduler, SchedulerName::Wrr);
    assert_eq!(service.persistence, 60);
    assert_eq!(service.persistence_prefix, 32);
    assert!(service.mh_ports);
    assert_eq!(
        service.local_addresses,
        vec![Ipv4Addr::new(10, 0, 1, 100), Ipv4Addr::new(10, 0, 1, 101)]
    );
    assert_eq!(
        service.local_ports,
        PortRange {
            min: 2000,
            max: 3000
        }
    );
    assert_eq!(service.name.as_deref(), Some("web"));
    assert!(service.backends.is_empty());
}

#[test]
fn service_add_needs_a_protocol_and_a_mode() {
    assert_eq!(
        usage_error(&["service", "add", "192.0.2.10:80", "--mode", "nat"]),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        usage_error(&[
            "service",
            "add",
            "192.0.2.10:80",
            "--proto",
            "sctp",
            "--mode",
            "nat"
        ]),
        ErrorKind::InvalidValue
    );
    assert_eq!(
        usage_error(&[
            "service",
            "add",
            "192.0.2.10",
            "--proto",
            "tcp",
            "--mode",
            "nat"
        ]),
        ErrorKind::ValueValidation
    );
}

#[test]
fn service_edit_sends_only_what_is_given() {
    let server = TestServer::replying(&applied(&[]));
    run_on(
        &server,
        &[
            "service",
            "edit",
            "tcp/192.0.2.10:80",
            "--scheduler",
            "mh",
            "--mode",
            "dr",
        ],
    )
    .unwrap();
    assert_eq!(
        ops(&server),
        vec![Op::ServiceEdit {
            service: "tcp/192.0.2.10:80".parse().unwrap(),
            set: ServiceEdit {
                scheduler: Some(SchedulerName::Mh),
                mode: Some(LbMode::Dr),
                ..ServiceEdit::default()
            },
        }]
    );
    assert_eq!(
        usage_error(&["service", "edit", "tcp/192.0.2.10:80"]),
        ErrorKind::MissingRequiredArgument,
        "an edit that changes nothing"
    );
}

#[test]
fn a_service_timeout_edit_keeps_the_other_timeouts() {
    let running = "[[service]]\nvip = \"192.0.2.10\"\nprotocol = \"tcp\"\nport = 80\n\
                   mode = \"nat\"\ntimeouts = { tcp_established = 60, udp = 5 }\n";
    let config = serde_json::to_string(&Response::ok(&ConfigReply {
        generation: 3,
        config: running.into(),
    }))
    .unwrap();
    let change = serde_json::to_string(&Response::ok(&applied(&[]))).unwrap();
    let server = TestServer::start(move |line| {
        Some(if line.contains("get_config") {
            config.clone()
        } else {
            change.clone()
        })
    });
    run_on(
        &server,
        &[
            "service",
            "edit",
            "tcp/192.0.2.10:80",
            "--timeout",
            "udp=30",
            "--timeout",
            "tcp_established=default",
        ],
    )
    .unwrap();
    let sent = ops(&server);
    assert_eq!(sent[0], Op::GetConfig);
    let Op::ServiceEdit { set, .. } = &sent[1] else {
        panic!("{sent:?}")
    };
    assert_eq!(
        set.timeouts,
        Some(TimeoutsConfig {
            udp: Some(30),
            ..TimeoutsConfig::default()
        })
    );
}

#[test]
fn a_timeout_name_must_be_one_of_the_timeouts() {
    assert_eq!(
        usage_error(&["service", "edit", "tcp/192.0.2.10:80", "--timeout", "tcp=5"]),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        usage_error(&["service", "edit", "tcp/192.0.2.10:80", "--timeout", "udp"]),
        ErrorKind::ValueValidation
    );
}

#[test]
fn backend_verbs_send_their_ops() {
    let server = TestServer::replying(&applied(&[]));
    let svc = "tcp/192.0.2.10:80";
    run_on(
        &server,
        &["backend", "add", svc, "10.0.0.11:8080", "--weight", "3"],
    )
    .unwrap();
    run_on(
        &server,
        &["backend", "edit", svc, "10.0.0.11", "--weight", "0"],
    )
    .unwrap();
    run_on(
        &server,
        &["backend", "delete", svc, "10.0.0.11:8080", "--flush"],
    )
    .unwrap();
    let service = svc.parse().unwrap();
    assert_eq!(
        ops(&server),
        vec![
            Op::BackendAdd {
                service,
                backend: BackendConfig::new(Ipv4Addr::new(10, 0, 0, 11), Some(8080), 3),
            },
            Op::BackendEdit {
                service,
                backend: "10.0.0.11".parse().unwrap(),
                weight: 0
            },
            Op::BackendDelete {
                service,
                backend: "10.0.0.11:8080".parse().unwrap(),
                flush: true
            },
        ]
    );
    assert_eq!(
        usage_error(&["backend", "edit", svc, "10.0.0.11"]),
        ErrorKind::MissingRequiredArgument,
        "edit needs --weight"
    );
}

#[test]
fn route_neigh_snat_and_laddr_verbs_send_their_ops() {
    let server = TestServer::replying(&applied(&[]));
    for args in [
        &["route", "add", "10.1.0.0/16", "via", "10.0.0.254"][..],
        &["route", "delete", "10.1.0.0/16"],
        &["neigh", "add", "10.0.0.9", "02:00:00:00:00:09"],
        &["neigh", "delete", "10.0.0.9"],
        &[
            "snat",
            "add",
            "10.0.1.0/24",
            "--port",
            "lan",
            "--addr",
            "203.0.113.1",
            "--ports",
            "2000-2999",
        ],
        &["snat", "delete", "10.0.1.0/24"],
        &["laddr", "add", "udp/192.0.2.20:53", "10.0.1.102"],
        &["laddr", "delete", "udp/192.0.2.20:53", "10.0.1.102"],
    ] {
        run_on(&server, args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    }
    let names: Vec<String> = server
        .requests()
        .iter()
        .map(|r| {
            serde_json::to_value(r).unwrap()["op"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "route_add",
            "route_delete",
            "neigh_add",
            "neigh_delete",
            "snat_add",
            "snat_delete",
            "laddr_add",
            "laddr_delete"
        ]
    );
    let sent = ops(&server);
    assert_eq!(
        sent[0],
        Op::RouteAdd {
            route: RouteConfig {
                prefix: "10.1.0.0/16".parse().unwrap(),
                via: Ipv4Addr::new(10, 0, 0, 254).into()
            }
        }
    );
    assert_eq!(
        sent[4],
        Op::SnatAdd {
            rule: SnatConfig {
                source: "10.0.1.0/24".parse().unwrap(),
                port: "lan".into(),
                addresses: vec![Ipv4Addr::new(203, 0, 113, 1).into()],
                ports: PortRange {
                    min: 2000,
                    max: 2999
                },
            }
        }
    );
    assert_eq!(
        usage_error(&["route", "add", "10.1.0.0/16", "gw", "10.0.0.254"]),
        ErrorKind::InvalidValue
    );
    assert_eq!(
        usage_error(&["snat", "add", "10.0.1.0/24", "--port", "lan"]),
        ErrorKind::MissingRequiredArgument
    );
}

#[test]
fn a_refused_change_is_an_error_with_the_servers_message() {
    let server = TestServer::start(|_| {
        Some(
            serde_json::to_string(&Response::error(
                crate::api::ErrorCode::NotFound,
                "no service tcp/192.0.2.10:81",
            ))
            .unwrap(),
        )
    });
    let e = run_on(&server, &["service", "delete", "tcp/192.0.2.10:81"]).unwrap_err();
    assert_eq!(e.to_string(), "no service tcp/192.0.2.10:81");
}

fn list_reply() -> ListReply {
    serde_json::from_value(serde_json::json!({
        "generation": 2,
        "services": [
            {"key": "tcp/192.0.2.10:80", "name": null, "mode": "dr", "scheduler": "rr",
             "persistence": 0, "local_addresses": [], "sessions": 0,
             "backends": [{"address": "10.0.0.11", "port": 80, "weight": 1,
                           "active": 0, "inactive": 0}]},
            {"key": "udp/192.0.2.10:53", "name": null, "mode": "nat", "scheduler": "rr",
             "persistence": 0, "local_addresses": [], "sessions": 0, "backends": []}
        ],
        "snat": [{"source": "10.0.1.0/24", "addresses": ["203.0.113.1"], "sessions": 0}]
    }))
    .unwrap()
}

#[test]
fn list_shows_one_service_when_asked() {
    let server = TestServer::replying(&list_reply());
    let text = run_on(&server, &["list", "--stats", "udp/192.0.2.10:53"]).unwrap();
    assert!(text.contains("\nUDP  192.0.2.10:53 "), "{text}");
    assert!(!text.contains("TCP"), "{text}");
    assert!(!text.contains("SNAT"), "{text}");
    assert_eq!(
        ops(&server),
        vec![Op::List {
            stats: true,
            rate: false
        }]
    );
    let e = run_on(&server, &["list", "tcp/192.0.2.99:80"]).unwrap_err();
    assert_eq!(e.to_string(), "no service tcp/192.0.2.99:80");
    assert_eq!(
        usage_error(&["list", "--stats", "--rate"]),
        ErrorKind::ArgumentConflict
    );
}

#[test]
fn json_prints_the_result_as_sent() {
    let server = TestServer::replying(&list_reply());
    let text = run_on(&server, &["list", "--json"]).unwrap();
    let printed: ListReply = serde_json::from_str(&text).unwrap();
    assert_eq!(printed, list_reply());
    assert!(text.contains("\n  \"generation\": 2"), "pretty: {text}");
}

#[test]
fn sessions_sends_the_filter_and_limit() {
    let server = TestServer::replying(&SessionsReply {
        sessions: vec![],
        truncated: false,
    });
    let text = run_on(
        &server,
        &[
            "sessions",
            "--service",
            "tcp/192.0.2.10:80",
            "--backend",
            "10.0.0.11",
            "--client",
            "198.51.100.7",
            "--proto",
            "tcp",
            "--limit",
            "5",
        ],
    )
    .unwrap();
    assert_eq!(text, "(no sessions)\n");
    assert_eq!(
        ops(&server),
        vec![Op::Sessions {
            filter: SessionFilter {
                service: Some("tcp/192.0.2.10:80".parse().unwrap()),
                backend: Some(Ipv4Addr::new(10, 0, 0, 11).into()),
                client: Some(Ipv4Addr::new(198, 51, 100, 7).into()),
                proto: Some(IpProto::TCP),
            },
            limit: Some(5),
        }]
    );
    assert_eq!(
        usage_error(&["sessions", "--limit", "0"]),
        ErrorKind::ValueValidation
    );
}

#[test]
fn sessions_takes_ipv6_prefixes_and_address_port_forms() {
    let server = TestServer::replying(&SessionsReply {
        sessions: vec![],
        truncated: false,
    });
    let args = [
        "sessions",
        "--backend",
        "[2001:db8:1::11]:8080",
        "--client",
        "2001:db8:2::/64",
    ];
    run_on(&server, &args).unwrap();
    run_on(&server, &["sessions", "--client", "198.51.100.0/24"]).unwrap();
    let m = |s: &str| Some(s.parse::<crate::api::AddrMatch>().unwrap());
    assert_eq!(
        ops(&server),
        vec![
            Op::Sessions {
                filter: SessionFilter {
                    backend: m("[2001:db8:1::11]:8080"),
                    client: m("2001:db8:2::/64"),
                    ..SessionFilter::default()
                },
                limit: None,
            },
            Op::Sessions {
                filter: SessionFilter {
                    client: m("198.51.100.0/24"),
                    ..SessionFilter::default()
                },
                limit: None,
            }
        ]
    );
    for bad in ["2001:db8:2::/129", "10.0.0.0/33", "example.com"] {
        assert_eq!(
            usage_error(&["sessions", "--client", bad]),
            ErrorKind::ValueValidation,
            "{bad}"
        );
    }
}

#[test]
fn config_prints_the_toml_as_is() {
    let server = TestServer::replying(&ConfigReply {
        generation: 4,
        config: "[[port]]\nname = \"lan\"".into(),
    });
    assert_eq!(
        run_on(&server, &["config"]).unwrap(),
        "[[port]]\nname = \"lan\"\n"
    );
}

#[test]
fn version_prints_ours_even_without_ferrolb() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("none.sock");
    let mut out = Vec::new();
    let e = run(
        &cli(&["-s", socket.to_str().unwrap(), "version"]),
        None,
        &mut out,
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("cannot connect to "), "{e}");
    let printed = String::from_utf8(out).unwrap();
    assert!(printed.starts_with("ferrolbctl "), "{printed}");
}

#[test]
fn the_daemon_is_started_apart_from_the_other_verbs() {
    assert!(run_daemon(&cli(&["list"]), None).is_none());
    let mut out = Vec::new();
    assert!(run(&cli(&["daemon", "-c", "lb.toml"]), None, &mut out).is_err());
    // Without -s or the variable, the daemon reads [control] socket itself.
    assert_eq!(given_socket(None, None), None);
    assert_eq!(given_socket(None, Some(OsString::new())), None);
    assert_eq!(
        given_socket(None, Some(OsString::from("/tmp/b.sock"))),
        Some(PathBuf::from("/tmp/b.sock"))
    );
    let c = cli(&["daemon", "-c", "lb.toml", "--socket", "/tmp/d.sock"]);
    assert_eq!(
        given_socket(c.socket.as_deref(), Some(OsString::from("/tmp/b.sock"))),
        Some(PathBuf::from("/tmp/d.sock"))
    );
}

#[test]
fn completions_name_the_verbs() {
    let mut out = Vec::new();
    run(&cli(&["completions", "bash"]), None, &mut out).unwrap();
    let script = String::from_utf8(out).unwrap();
    assert!(script.contains("ferrolbctl"), "{script}");
    assert!(script.contains("sessions"), "{script}");
}

#[test]
fn explain_sends_an_ipv6_flow_as_given() {
    let server = TestServer::replying(&crate::api::ExplainReply {
        worker: 1,
        steps: vec![],
    });
    let args = [
        "explain",
        "tcp",
        "[2001:db8:2::7]:40000",
        "[2001:db8:10::10]:80",
    ];
    run_on(&server, &args).unwrap();
    assert_eq!(
        ops(&server),
        vec![Op::Explain {
            proto: crate::config::Protocol::Tcp,
            src: "[2001:db8:2::7]:40000".parse().unwrap(),
            dst: "[2001:db8:10::10]:80".parse().unwrap(),
        }]
    );
    assert_eq!(
        usage_error(&["explain", "tcp", "2001:db8:2::7", "[2001:db8:10::10]:80"]),
        ErrorKind::ValueValidation
    );
}
