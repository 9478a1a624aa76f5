//! docs/control-plane.md's examples hold: every request line is a request,
//! every reply line a reply, and the config snippets load.

use std::path::Path;

use control::api::{Request, Response};
use control::config::Config;

const DOC: &str = include_str!("../../docs/control-plane.md");

/// Lines of the ```text blocks that start with `marker`, marker removed.
fn protocol_lines(marker: &str) -> Vec<&'static str> {
    DOC.lines().filter_map(|l| l.strip_prefix(marker)).collect()
}

/// The first ```toml block after `heading`.
fn toml_block(heading: &str) -> &'static str {
    let after = DOC.find(heading).expect("the heading");
    let open = "```toml\n";
    let start = after + DOC[after..].find(open).expect("a toml block") + open.len();
    let len = DOC[start..].find("```").expect("the block's end");
    &DOC[start..start + len]
}

const BASE: &str =
    "[[port]]\nname = \"lan\"\ndevice = \"net_null0\"\n\n[[interface]]\nport = \"lan\"\n\
                    addresses = [\"10.0.0.1/24\"]\n\n[[service]]\nvip = \"192.0.2.10\"\n\
                    protocol = \"tcp\"\nport = 80\nmode = \"nat\"\n";

#[test]
fn every_documented_request_is_a_request() {
    let requests = protocol_lines("> ");
    assert!(requests.len() >= 22, "one example per op");
    let mut ops = std::collections::BTreeSet::new();
    for line in requests {
        let r: Request = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(r.v, 1, "{line}");
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        ops.insert(v["op"].as_str().unwrap().to_owned());
    }
    let all: std::collections::BTreeSet<String> = control::api::Op::NAMES
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(ops, all, "every op has an example");
}

#[test]
fn every_documented_reply_is_a_reply() {
    let replies = protocol_lines("< ");
    assert!(!replies.is_empty());
    for line in replies {
        let r: Response = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(r.ok, r.error.is_none(), "{line}");
    }
}

#[test]
fn the_documented_config_snippets_load() {
    let control = toml_block("### The `[control]` table");
    let text = format!("{BASE}\n{control}");
    let cfg = Config::parse(Path::new("doc"), text)
        .unwrap_or_else(|e| panic!("{e}"))
        .config;
    assert_eq!(cfg.control.group.as_deref(), Some("ferrolb"));
}
