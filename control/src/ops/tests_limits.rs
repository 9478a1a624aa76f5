//! Diff lines for issue 21's keys: rate limits and backend thresholds.

use super::tests::running;
use super::*;

#[test]
fn rate_limits_and_backend_thresholds_are_changes() {
    let old = running();
    let mut new = old.clone();
    new.services[0].new_conn_rate = Some(500);
    new.services[0].client_rate = Some(5);
    new.services[0].client_prefix_len = Some(24);
    new.services[0].backends[0].u_threshold = 100;
    new.services[0].backends[0].l_threshold = 50;
    let d = diff(&old, &new);
    let web = "tcp/192.0.2.10:80";
    for line in [
        format!("~ service {web} new_conn_rate none -> 500"),
        format!("~ service {web} client_rate none -> 5"),
        format!("~ service {web} client_prefix_len none -> 24"),
    ] {
        assert!(d.contains(&line), "{line} not in {d:#?}");
    }
    assert_eq!(
        d.iter().filter(|l| l.contains("_threshold 0 -> ")).count(),
        2,
        "{d:#?}"
    );
}
