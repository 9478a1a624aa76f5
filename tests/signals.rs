//! SIGINT and SIGTERM stop a running appliance cleanly: exit 0, counters
//! printed, output files flushed.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ferrolb_bin, test_eal_args, write_config};

fn stops_cleanly_on(signal: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let rx = dir.path().join("in.pcap");
    common::pcap::write(&rx, &common::frames::mixed_traffic(64, 2));
    // The input replays forever, so only the signal can end the run.
    let config = write_config(
        dir.path(),
        "ferrolb.toml",
        &format!(
            "[eal]\n{}\n\n[[port]]\nname = \"in\"\ndevice = \"net_pcap0,rx_pcap={},infinite_rx=1\"\n\n\
             [[port]]\nname = \"sink\"\ndevice = \"net_null0\"\n",
            test_eal_args("signal"),
            rx.display()
        ),
    );
    let mut child = Command::new(ferrolb_bin())
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ferrolb");
    // Let it come up and forward for a while.
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "ferrolb did not stop on SIG{signal}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ferrolb: stopped after"), "{stdout}");
    let total = stdout
        .lines()
        .find(|l| l.starts_with("total"))
        .expect("worker totals");
    let numbers: Vec<f64> = total
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect();
    let (rx, tx, dropped, rate) = (numbers[0], numbers[1], numbers[2], numbers[4]);
    assert!(rx > 1000.0, "forwarded traffic before the signal: {total}");
    assert_eq!(
        rx,
        tx + dropped,
        "every received packet sent or counted: {total}"
    );
    assert!(rate > 0.0, "a signal-ended run reports its rate: {total}");
}

#[test]
fn sigterm_stops_cleanly_with_counters() {
    stops_cleanly_on("TERM");
}

#[test]
fn sigint_stops_cleanly_with_counters() {
    stops_cleanly_on("INT");
}
