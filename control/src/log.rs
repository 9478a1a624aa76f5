//! Log lines of the appliance and the daemon: one line per event,
//! `key=value` pairs a log shipper can split (`level=`, `comp=`, `msg=`,
//! then the event's own fields), rate-limited per component.
//!
//! On a terminal or a file each line starts with the UTC time in RFC 3339
//! (`2026-11-22T05:04:51.123Z level=info comp=health msg="..."`). Under
//! systemd, whose journal sets `JOURNAL_STREAM` for a service's output, a
//! line starts instead with the syslog priority in angle brackets
//! (`<4>level=warning ...`), which the journal reads as the entry's
//! priority (`journalctl -p warning`), and the journal stamps the time.
//!
//! A component that logs more than [`LIMIT_LINES`] lines in a
//! [`LIMIT_WINDOW`] (a reload loop, a flapping link) has the rest of that
//! window's lines dropped; its next line after the window is preceded by
//! one saying how many were. The audit of applied changes (`comp=audit`)
//! is never cut.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Lines one component may log in a window before the rest are dropped.
pub const LIMIT_LINES: u32 = 100;
pub const LIMIT_WINDOW: Duration = Duration::from_secs(10);
/// The component the limit spares: the appliance's audit of changes.
pub const UNLIMITED: &str = "audit";

/// How much a line matters: its syslog priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Notice,
    Info,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
            Level::Info => "info",
        }
    }

    fn syslog_priority(self) -> u8 {
        match self {
            Level::Error => 3,
            Level::Warning => 4,
            Level::Notice => 5,
            Level::Info => 6,
        }
    }
}

/// How a line starts: the time, or the priority for the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Timestamped,
    Journal,
}

/// Where log lines go, and the rate limit they share.
#[derive(Clone)]
pub struct Logger {
    sink: Arc<dyn Fn(&str) + Send + Sync>,
    style: Style,
    limiter: Arc<Mutex<Limiter>>,
}

impl Logger {
    /// Lines on stderr; a failed write is dropped (there is nowhere else
    /// to report it).
    pub fn stderr() -> Logger {
        Logger::new(
            Arc::new(|line| {
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }),
            style_from_env(),
        )
    }

    /// Lines on stdout (the appliance's, where its start-up report goes).
    pub fn stdout() -> Logger {
        Logger::new(
            Arc::new(|line| {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
            }),
            style_from_env(),
        )
    }

    /// Lines (with their newline, timestamped) handed to `sink`.
    pub fn to(sink: impl Fn(&str) + Send + Sync + 'static) -> Logger {
        Logger::new(Arc::new(sink), Style::Timestamped)
    }

    fn new(sink: Arc<dyn Fn(&str) + Send + Sync>, style: Style) -> Logger {
        Logger {
            sink,
            style,
            limiter: Arc::new(Mutex::new(Limiter::default())),
        }
    }

    /// An `info` line. A message that starts with `component: ` (as
    /// `health: x down` does) is logged under that component.
    pub fn log(&self, message: impl fmt::Display) {
        self.event(Level::Info, message, &[]);
    }

    /// A `warning` line: something failed and is being retried or skipped.
    pub fn warn(&self, message: impl fmt::Display) {
        self.event(Level::Warning, message, &[]);
    }

    /// A line at `level` with the event's own `key=value` fields after
    /// the message.
    pub fn event(
        &self,
        level: Level,
        message: impl fmt::Display,
        fields: &[(&str, &dyn fmt::Display)],
    ) {
        let message = message.to_string();
        let comp = component(&message);
        let admitted = {
            let mut limiter = self.limiter.lock().unwrap_or_else(|p| p.into_inner());
            limiter.admit(comp, Instant::now())
        };
        let Admit::Yes { dropped_before } = admitted else {
            return;
        };
        if dropped_before > 0 {
            let note = format!(
                "log: {dropped_before} lines of {comp} dropped (more than {LIMIT_LINES} in {} s)",
                LIMIT_WINDOW.as_secs()
            );
            (self.sink)(&self.line(Level::Warning, "log", &note, &[]));
        }
        (self.sink)(&self.line(level, comp, &message, fields));
    }

    fn line(
        &self,
        level: Level,
        comp: &str,
        message: &str,
        fields: &[(&str, &dyn fmt::Display)],
    ) -> String {
        let mut line = match self.style {
            Style::Timestamped => format!("{} ", rfc3339(SystemTime::now())),
            Style::Journal => format!("<{}>", level.syslog_priority()),
        };
        let _ = write!(line, "level={} comp={comp} msg=", level.name());
        push_value(&mut line, message);
        for (key, value) in fields {
            let _ = write!(line, " {key}=");
            push_value(&mut line, &value.to_string());
        }
        line.push('\n');
        line
    }
}

/// Journal style when the journal holds our output (systemd sets
/// `JOURNAL_STREAM` for a service whose stdout or stderr it connected).
fn style_from_env() -> Style {
    match std::env::var_os("JOURNAL_STREAM") {
        Some(_) => Style::Journal,
        None => Style::Timestamped,
    }
}

/// The component a message names in its `component: ` prefix (a word of
/// lower-case letters, digits, `-` or `_`), else `main`.
fn component(message: &str) -> &str {
    match message.split_once(": ") {
        Some((word, _))
            if !word.is_empty()
                && word.len() <= 16
                && word.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                }) =>
        {
            word
        }
        _ => "main",
    }
}

/// A value as it goes after `key=`: bare when it is one plain word, else
/// in double quotes with `"`, `\` and line breaks escaped.
fn push_value(line: &mut String, value: &str) {
    let bare = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'=' && b != b'\\');
    if bare {
        line.push_str(value);
        return;
    }
    line.push('"');
    for c in value.chars() {
        match c {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            c => line.push(c),
        }
    }
    line.push('"');
}

/// Whether a line may go out.
#[derive(Debug, PartialEq, Eq)]
enum Admit {
    /// Yes, after `dropped_before` lines of the component were dropped.
    Yes {
        dropped_before: u64,
    },
    No,
}

/// Per component: the current window's start, lines in it, and lines
/// dropped not yet reported.
#[derive(Default)]
struct Limiter {
    components: BTreeMap<String, Window>,
}

struct Window {
    start: Instant,
    lines: u32,
    dropped: u64,
}

impl Limiter {
    fn admit(&mut self, comp: &str, now: Instant) -> Admit {
        // The audit trail is never cut (one line per applied change).
        if comp == UNLIMITED {
            return Admit::Yes { dropped_before: 0 };
        }
        let w = match self.components.get_mut(comp) {
            Some(w) => w,
            None => self.components.entry(comp.to_owned()).or_insert(Window {
                start: now,
                lines: 0,
                dropped: 0,
            }),
        };
        if now.duration_since(w.start) >= LIMIT_WINDOW {
            w.start = now;
            w.lines = 0;
        }
        if w.lines >= LIMIT_LINES {
            w.dropped += 1;
            return Admit::No;
        }
        w.lines += 1;
        let dropped_before = std::mem::take(&mut w.dropped);
        Admit::Yes { dropped_before }
    }
}

/// `t` in UTC as `YYYY-MM-DDTHH:MM:SS.mmmZ`; times before 1970 print as
/// the epoch.
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_date(secs / 86_400);
    let of_day = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since.subsec_millis()
    )
}

fn is_leap(year: u64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// The Gregorian (year, month, day) of the day `days` after 1970-01-01:
/// whole years off first, then whole months.
fn civil_date(mut days: u64) -> (u64, u64, u64) {
    let mut year = 1970;
    loop {
        let len = if is_leap(year) { 366 } else { 365 };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let february = if is_leap(year) { 29 } else { 28 };
    let months = [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 1;
    for len in months {
        if days < len {
            break;
        }
        days -= len;
        month += 1;
    }
    (year, month, days + 1)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64, millis: u64) -> String {
        rfc3339(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
    }

    #[test]
    fn times_print_as_rfc3339_utc() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(86_399, 999), "1970-01-01T23:59:59.999Z");
        // Leap days: 2000 is a leap year, 2100 is not.
        assert_eq!(at(951_782_400, 0), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(951_868_800, 0), "2000-03-01T00:00:00.000Z");
        assert_eq!(at(1_709_251_199, 5), "2024-02-29T23:59:59.005Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000Z");
        assert_eq!(at(1_798_761_599, 0), "2026-12-31T23:59:59.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00.000Z"
        );
    }

    fn collect() -> (Logger, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let log = Logger::to(move |l| sink.lock().unwrap().push(l.to_owned()));
        (log, lines)
    }

    #[test]
    fn a_line_is_the_timestamp_then_key_value_pairs() {
        let (log, lines) = collect();
        log.log("health: x down");
        log.warn("apply: no answer: \"x\" \\ \n");
        log.event(
            Level::Notice,
            "vrrp: master",
            &[("vip", &"192.0.2.1"), ("why", &"it said so")],
        );
        log.log("no component here");
        let lines = lines.lock().unwrap();
        let (stamp, rest) = lines[0].split_once(' ').unwrap();
        assert_eq!(rest, "level=info comp=health msg=\"health: x down\"\n");
        assert_eq!(
            lines[1].split_once(' ').unwrap().1,
            "level=warning comp=apply msg=\"apply: no answer: \\\"x\\\" \\\\ \\n\"\n"
        );
        assert_eq!(
            lines[2].split_once(' ').unwrap().1,
            "level=notice comp=vrrp msg=\"vrrp: master\" vip=192.0.2.1 why=\"it said so\"\n"
        );
        assert!(
            lines[3].contains(" comp=main msg=\"no component here\""),
            "{}",
            lines[3]
        );
        assert_eq!(stamp.len(), "2026-11-22T05:04:51.123Z".len());
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "{stamp}"
        );
    }

    #[test]
    fn under_the_journal_a_line_starts_with_its_priority() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let log = Logger::new(
            Arc::new(move |l: &str| sink.lock().unwrap().push(l.to_owned())),
            Style::Journal,
        );
        log.warn("bgp: BIRD is gone");
        log.log("daemon: started");
        let lines = lines.lock().unwrap();
        assert_eq!(
            lines[0],
            "<4>level=warning comp=bgp msg=\"bgp: BIRD is gone\"\n"
        );
        assert_eq!(
            lines[1],
            "<6>level=info comp=daemon msg=\"daemon: started\"\n"
        );
    }

    #[test]
    fn a_noisy_component_is_cut_to_the_limit_and_says_how_many_went() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        for i in 0..LIMIT_LINES {
            assert_eq!(
                l.admit("reload", t0),
                Admit::Yes { dropped_before: 0 },
                "line {i}"
            );
        }
        for _ in 0..7 {
            assert_eq!(l.admit("reload", t0 + Duration::from_secs(1)), Admit::No);
        }
        // Another component is not held back.
        assert_eq!(
            l.admit("health", t0 + Duration::from_secs(1)),
            Admit::Yes { dropped_before: 0 }
        );
        // A new window: the next line goes, and reports the seven.
        let later = t0 + LIMIT_WINDOW;
        assert_eq!(l.admit("reload", later), Admit::Yes { dropped_before: 7 });
        assert_eq!(l.admit("reload", later), Admit::Yes { dropped_before: 0 });
    }

    #[test]
    fn a_flood_of_lines_stops_at_the_limit() {
        let (log, lines) = collect();
        for _ in 0..LIMIT_LINES + 3 {
            log.log("reload: again");
        }
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), LIMIT_LINES as usize);
    }
}
