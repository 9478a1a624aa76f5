//! The daemon's log: one line per event, stamped with the UTC time in
//! RFC 3339 (`2026-11-22T05:04:51.123Z`). Lines go to stderr; tests give
//! their own sink to read them.

use std::fmt;
use std::io::Write;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where log lines go.
#[derive(Clone)]
pub struct Logger(Arc<dyn Fn(&str) + Send + Sync>);

impl Logger {
    /// Lines on stderr; a failed write is dropped (there is nowhere else
    /// to report it).
    pub fn stderr() -> Logger {
        Logger(Arc::new(|line| {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }))
    }

    /// Lines (with their newline) handed to `sink`.
    #[cfg(test)]
    pub fn to(sink: impl Fn(&str) + Send + Sync + 'static) -> Logger {
        Logger(Arc::new(sink))
    }

    pub fn log(&self, message: impl fmt::Display) {
        (self.0)(&format!("{} {message}\n", rfc3339(SystemTime::now())));
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

    #[test]
    fn a_line_is_the_timestamp_and_the_message() {
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let log = Logger::to(move |l| sink.lock().unwrap().push(l.to_owned()));
        log.log("health: x down");
        let lines = lines.lock().unwrap();
        let (stamp, rest) = lines[0].split_once(' ').unwrap();
        assert_eq!(rest, "health: x down\n");
        assert_eq!(stamp.len(), "2026-11-22T05:04:51.123Z".len());
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "{stamp}"
        );
    }
}
