//! The appliance's own Prometheus endpoint (`[control] metrics`), so
//! metrics exist without `ferrolbctl daemon`. The HTTP side is the
//! daemon's (`control::metrics::MetricsServer`: bounded clients, timeouts);
//! each scrape asks the control side's `metrics` thread, which owns the
//! handler, for the text: the same `list --stats` and `stats` the socket
//! answers, rendered with the daemon's names. Workers are asked for their
//! counters as for any `stats`; nothing here touches the packet path.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use anyhow::{Context, Result};
use control::metrics::{render_appliance, render_appliance_down, MetricsServer};

use super::handler::ApplianceHandler;

/// How long a scrape waits for the control side to take it and answer.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the answering thread looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);

/// One scrape's question: where to send the text.
type Scrape = SyncSender<String>;

/// The scrapes the endpoint passes on, for the thread that answers them.
pub struct Scrapes(Receiver<Scrape>);

/// Listens on `addr` (at start, so a taken address is a start-up error);
/// the server stops when dropped.
pub fn bind(addr: SocketAddr) -> Result<(MetricsServer, Scrapes)> {
    let (ask, scrapes) = sync_channel::<Scrape>(4);
    let gather = move || {
        let (reply, text) = sync_channel(1);
        if ask.try_send(reply).is_err() {
            return render_appliance_down();
        }
        text.recv_timeout(SCRAPE_TIMEOUT)
            .unwrap_or_else(|_| render_appliance_down())
    };
    let server = MetricsServer::start(addr, gather)
        .with_context(|| format!("[control] metrics: cannot listen on {addr}"))?;
    Ok((server, Scrapes(scrapes)))
}

impl Scrapes {
    /// Answers scrapes from `handler` until `stop` is set (a scoped thread
    /// of the appliance's control side).
    pub fn answer(self, handler: &ApplianceHandler<'_, '_>, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            match self.0.recv_timeout(STOP_POLL) {
                Ok(reply) => {
                    let text = render_appliance(&handler.list(true, false), &handler.stats());
                    // The scraper may have given up; nothing to do then.
                    let _ = reply.try_send(text);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}
