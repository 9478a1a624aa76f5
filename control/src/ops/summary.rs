//! A change's diff in one bounded line, for logs: the audit line the
//! appliance prints for every applied change and the daemon's apply line.
//! A 1000-service apply has tens of thousands of diff lines; a log line
//! carries the counts and the first few, never the whole config.

/// Diff lines shown in full before "and N more".
pub const SHOWN_LINES: usize = 5;
/// The longest diff line shown, in characters; longer ones end in `...`.
pub const MAX_LINE: usize = 200;

/// `3 changes (+2 ~1 -0): + service ...; + backend ...; ~ ...` with at most
/// [`SHOWN_LINES`] lines of at most [`MAX_LINE`] characters, control
/// characters escaped, and `; and N more` for the rest.
pub fn summary(changes: &[String]) -> String {
    let count = |sign: char| changes.iter().filter(|c| c.starts_with(sign)).count();
    let n = changes.len();
    let mut out = format!(
        "{n} {} (+{} ~{} -{})",
        if n == 1 { "change" } else { "changes" },
        count('+'),
        count('~'),
        count('-')
    );
    for (i, line) in changes.iter().take(SHOWN_LINES).enumerate() {
        out.push_str(if i == 0 { ": " } else { "; " });
        out.push_str(&shown(line));
    }
    if n > SHOWN_LINES {
        out.push_str(&format!("; and {} more", n - SHOWN_LINES));
    }
    out
}

/// One line cut to [`MAX_LINE`] characters, with control characters (a
/// newline could forge a log line) written as escapes.
fn shown(line: &str) -> String {
    let mut out = String::new();
    for (i, c) in line.chars().enumerate() {
        if i == MAX_LINE {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_diff_is_one_short_line() {
        let changes: Vec<String> = (0..20_000)
            .map(|i| {
                format!(
                    "+ backend tcp/192.0.2.10:80 -> 10.0.{}.{}:80 weight 1",
                    i / 250,
                    i % 250
                )
            })
            .chain(["- service tcp/192.0.2.9:80 (nat, rr)".to_string()])
            .collect();
        let line = summary(&changes);
        assert!(line.len() < 2000, "{} bytes", line.len());
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with("20001 changes (+20000 ~0 -1): + backend"),
            "{line}"
        );
        assert!(line.ends_with("; and 19996 more"), "{line}");
    }

    #[test]
    fn long_lines_are_cut_and_control_characters_escaped() {
        let long = format!("~ service x name {}", "a".repeat(500));
        let line = summary(&[long, "+ x\nforged\x1b[31m".into()]);
        assert!(line.contains(&format!("{}...", "a".repeat(10))), "{line}");
        assert!(line.contains("+ x\\nforged\\u{1b}[31m"), "{line}");
        assert!(line.len() < 2 * MAX_LINE + 100, "{line}");
        assert_eq!(summary(&["+ a".into()]), "1 change (+1 ~0 -0): + a");
    }
}
