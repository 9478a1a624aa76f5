//! Health checks `ferrolbctl daemon` runs against the backends of every
//! service (or backend) with a `check`.
//!
//! Layers: [`spec`] resolves each check from the config; [`probe`] runs
//! one check (TCP, HTTP, HTTPS, UDP, DNS, ICMP, SMTP, script);
//! [`HealthState`] is the pure rise/fall state machine; [`HealthMonitor`]
//! runs every check as a task on one async runtime, feeds the state
//! machine and reports what happens. A backend with several checks is up
//! while all of them are.
//!
//! A backend the monitor has not seen before starts *up* (healthy until
//! proven down, as keepalived without `alpha`), or down with `alpha`.
//! Backends that stay in the config across a reload keep their state and
//! counters.

mod monitor;
pub mod probe;
pub mod spec;

use std::fmt;

pub use monitor::{BackendHealth, BackendState, HealthMonitor, HealthView};
pub use spec::{checked_backends, checks_of, BackendId, CheckId, CheckSpec};

use crate::config::CheckKind;

/// What one check result did to a check's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Down after this many consecutive failures.
    Down { failures: u32 },
    /// Up after this many consecutive successes.
    Up { successes: u32 },
    /// An up check failed, `failures` of the `fall` that take it down.
    Failing { failures: u32, fall: u32 },
    /// A down check passed, `successes` of the `rise` that bring it up.
    Recovering { successes: u32, rise: u32 },
    /// A dynamic script set the backend's weight (None: the file's).
    Weight { weight: Option<u32> },
}

impl Change {
    /// Up or down, as opposed to a step towards one or a weight.
    pub fn is_transition(&self) -> bool {
        matches!(self, Change::Down { .. } | Change::Up { .. })
    }
}

/// The rise/fall state machine of one check: `fall` consecutive failures
/// take an up check down, `rise` consecutive successes bring a down one
/// up; any other result only moves the count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthState {
    up: bool,
    /// Consecutive results that disagree with `up`.
    streak: u32,
}

impl HealthState {
    pub fn new(up: bool) -> HealthState {
        HealthState { up, streak: 0 }
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Counts one check result; returns what it changed: a transition, or
    /// a step towards one. A result that agrees with the state changes
    /// nothing (and resets the count).
    pub fn record(&mut self, ok: bool, rise: u32, fall: u32) -> Option<Change> {
        if ok == self.up {
            self.streak = 0;
            return None;
        }
        self.streak = self.streak.saturating_add(1);
        let threshold = if self.up { fall } else { rise }.max(1);
        let n = self.streak;
        if n < threshold {
            return Some(if ok {
                Change::Recovering {
                    successes: n,
                    rise: threshold,
                }
            } else {
                Change::Failing {
                    failures: n,
                    fall: threshold,
                }
            });
        }
        self.up = ok;
        self.streak = 0;
        Some(if ok {
            Change::Up { successes: n }
        } else {
            Change::Down { failures: n }
        })
    }

    /// Forgets a partial streak (the check changed, so it counts anew).
    fn restart_streak(&mut self) {
        self.streak = 0;
    }
}

/// What the monitor reports: a check's change, and whether the backend as
/// a whole went up or down with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthEvent {
    pub id: BackendId,
    /// The check's type and position among the backend's checks.
    pub kind: CheckKind,
    pub check: usize,
    pub change: Change,
    /// The failure, for a failed check.
    pub reason: Option<String>,
    /// Some(up) when the backend's own state changed with this event.
    pub backend: Option<bool>,
}

impl HealthEvent {
    pub fn is_up(&self) -> bool {
        matches!(self.change, Change::Up { .. })
    }
}

fn plural(n: u32, word: &str, words: &str) -> String {
    format!("{n} {}", if n == 1 { word } else { words })
}

impl fmt::Display for HealthEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.id)?;
        match self.change {
            Change::Down { failures } => write!(
                f,
                "down after {} of its {} check",
                plural(failures, "failure", "failures"),
                self.kind
            )?,
            Change::Up { successes } => write!(
                f,
                "up after {} of its {} check",
                plural(successes, "success", "successes"),
                self.kind
            )?,
            Change::Failing { failures, fall } => write!(
                f,
                "{} check failed ({failures} of {fall} before down)",
                self.kind
            )?,
            Change::Recovering { successes, rise } => write!(
                f,
                "{} check passed ({successes} of {rise} before up)",
                self.kind
            )?,
            Change::Weight { weight: Some(w) } => {
                write!(f, "weight {w} set by its {} check", self.kind)?
            }
            Change::Weight { weight: None } => write!(
                f,
                "weight back to the configured one by its {} check",
                self.kind
            )?,
        }
        if let Some(reason) = &self.reason {
            write!(f, " ({reason})")?;
        }
        match (self.backend, self.change.is_transition()) {
            (Some(false), true) => Ok(()),
            (Some(true), true) => Ok(()),
            (Some(up), false) => write!(f, "; backend {}", if up { "up" } else { "down" }),
            (None, true) => f.write_str("; backend stays down (another check fails)"),
            (None, false) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
