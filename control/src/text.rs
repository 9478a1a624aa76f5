//! Text that came from a config or the network, printed for people and
//! scripts: listings, diffs, error lines, log lines.
//!
//! Service names are validated (1 to 64 of `A-Z a-z 0-9 . _ -`), but a
//! listing shows more than names (a port's steering state quotes DPDK, a
//! reply may come from another build), so every printer escapes anyway:
//! no value can start a line of its own, rewrite the terminal or reorder
//! what is shown. [`escape`] is the one place that decides how.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters that change how the text around them is displayed without
/// being control characters: zero-width ones, bidirectional overrides and
/// isolates, the byte order mark.
fn invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// `s` with every control or invisible character written as an escape
/// (`\n`, `\t`, `\r`, `\x1b`, `\u{202e}`): what is printed is one line, and
/// reads as the bytes that were sent. Text without such characters is
/// returned as it is.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() || invisible(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || invisible(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`escape`] for text meant to span lines (an error listing every
/// problem of a config): each line is escaped, the line breaks are kept.
pub fn escape_lines(s: &str) -> String {
    s.split('\n')
        .map(|l| escape(l).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// At most `max` characters of `s`, with `...` in place of the rest.
pub fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((end, _)) => Cow::Owned(format!("{}...", &s[..end])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_invisible_characters_are_escaped() {
        assert_eq!(escape("web-1.a_b"), "web-1.a_b");
        assert!(matches!(escape("plain text"), Cow::Borrowed(_)));
        assert_eq!(
            escape("web\nTCP  6.6.6.6:80 rr"),
            "web\\nTCP  6.6.6.6:80 rr"
        );
        assert_eq!(escape("\x1b[2J\r\t\x7f\0"), "\\x1b[2J\\r\\t\\x7f\\x00");
        assert_eq!(escape("a\u{202e}b\u{85}"), "a\\u{202e}b\\u{85}");
        assert_eq!(escape("ünïcode ok"), "ünïcode ok");
    }

    #[test]
    fn lines_stay_lines_but_each_is_escaped() {
        assert_eq!(escape_lines("a\x1bb\nc\rd"), "a\\x1bb\nc\\rd");
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("abcdef", 3), "abc...");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("äöüß", 2), "äö...");
    }
}
