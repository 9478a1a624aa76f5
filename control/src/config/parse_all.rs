//! Every deserialization error of a config, not only the first.
//!
//! serde stops at the first bad key or value. To report the others in the
//! same run (as validation does), a file that fails is deserialized again
//! one part at a time: each top-level table, and each element of an array
//! of tables, alone. Within a part, a bad key is taken out and the part
//! tried again, so one part can give several errors; a `missing field`
//! that only the taking-out caused is not reported. Errors point at the
//! original file's lines through their key paths.

use std::collections::HashSet;

use toml_edit::{ArrayOfTables, DocumentMut, Item};

use super::{Config, ConfigError, ConfigErrors, ConfigSource, KeyPath, KeySeg};

/// How many errors one part may give before we stop looking.
const MAX_PER_PART: usize = 20;

/// Every error of `source`, whose whole deserialization failed with `first`.
pub(super) fn all_errors(source: &ConfigSource, first: &toml::de::Error) -> ConfigErrors {
    let Ok(doc) = source.text.parse::<DocumentMut>() else {
        // Not even TOML: the parser's one error is all there is.
        return source.error_from_toml(first).into();
    };
    let mut errors = Vec::new();
    for (key, item) in doc.iter() {
        match item {
            Item::ArrayOfTables(tables) => {
                for (i, table) in tables.iter().enumerate() {
                    let mut one = ArrayOfTables::new();
                    one.push(table.clone());
                    let mut part = DocumentMut::new();
                    part.insert(key, Item::ArrayOfTables(one));
                    part_errors(source, part, i, &mut errors);
                }
            }
            other => {
                let mut part = DocumentMut::new();
                part.insert(key, other.clone());
                part_errors(source, part, 0, &mut errors);
            }
        }
    }
    if errors.is_empty() {
        errors.push(source.error_from_toml(first));
    }
    let mut seen = HashSet::new();
    errors.retain(|e| seen.insert((e.line, e.key.clone(), e.message.clone())));
    errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    ConfigErrors(errors)
}

/// The errors of one part, a document of one top-level key; `index` is
/// the element's place in its array of tables (0 for a plain table).
fn part_errors(
    source: &ConfigSource,
    mut part: DocumentMut,
    index: usize,
    out: &mut Vec<ConfigError>,
) {
    let mut taken_out = false;
    for _ in 0..MAX_PER_PART {
        let text = part.to_string();
        let Err(e) = toml::from_str::<Config>(&text) else {
            return;
        };
        let message = e.message().trim().to_owned();
        if taken_out && message.starts_with("missing field") {
            return;
        }
        let alone = ConfigSource::new(&source.file, text);
        let path = e.span().and_then(|s| alone.path_at(s.start));
        let Some(path) = path.filter(|p| !p.0.is_empty()) else {
            out.push(ConfigError {
                file: source.file.clone(),
                line: None,
                key: None,
                message,
            });
            return;
        };
        out.push(source.error_at(&in_file(&path, index), message));
        if !take_out(&mut part, &path) {
            return;
        }
        taken_out = true;
    }
}

/// `path` in the part (`service[0].vip`) as it is in the file
/// (`service[3].vip`).
fn in_file(path: &KeyPath, index: usize) -> KeyPath {
    let mut segs = path.0.clone();
    if let Some(KeySeg::Index(i)) = segs.get_mut(1) {
        *i = index;
    }
    KeyPath(segs)
}

/// Removes the item at `path` from `doc`; false if there is none.
fn take_out(doc: &mut DocumentMut, path: &KeyPath) -> bool {
    let Some((last, parents)) = path.0.split_last() else {
        return false;
    };
    let mut item = doc.as_item_mut();
    for seg in parents {
        let next = match seg {
            KeySeg::Key(k) => item.get_mut(k.as_str()),
            KeySeg::Index(i) => item.get_mut(*i),
        };
        match next {
            Some(n) => item = n,
            None => return false,
        }
    }
    match last {
        KeySeg::Key(k) => item
            .as_table_like_mut()
            .is_some_and(|t| t.remove(k).is_some()),
        KeySeg::Index(i) => {
            if let Some(a) = item.as_array_mut().filter(|a| *i < a.len()) {
                a.remove(*i);
                true
            } else if let Some(a) = item.as_array_of_tables_mut().filter(|a| *i < a.len()) {
                a.remove(*i);
                true
            } else {
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;

    fn errors(text: &str) -> Vec<String> {
        match Config::parse(Path::new("lb.toml"), text.to_owned()) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn every_bad_key_and_value_is_reported_in_one_go() {
        let text = r#"[[port]]
name = "lan"
device = "net_null0"
bogus = 1
worse = 2

[[interface]]
port = "lan"
addresses = ["10.0.0.1/24"]

[[service]]
vip = "192.0.2.1x"
protocol = "tcp"
port = 80
mode = "nat"

[[service]]
vip = "192.0.2.2"
protocol = "tcp"
port = 80
mode = "natt"
scheduler = "fastest"

[sessions]
capacity = "many"
"#;
        let got = errors(text);
        let lines: Vec<&str> = got
            .iter()
            .map(|e| e.split(": ").next().unwrap_or_default())
            .collect();
        assert_eq!(
            lines,
            [
                "lb.toml:4",
                "lb.toml:5",
                "lb.toml:12",
                "lb.toml:21",
                "lb.toml:22",
                "lb.toml:25"
            ],
            "{got:#?}"
        );
        assert!(
            got[0].contains("port[0].bogus: unknown field `bogus`"),
            "{got:#?}"
        );
        assert!(got[2].contains("service[0].vip:"), "{got:#?}");
        assert!(got[3].contains("service[1].mode:"), "{got:#?}");
        assert!(got[4].contains("service[1].scheduler:"), "{got:#?}");
        assert!(got.iter().all(|e| !e.contains("missing field")), "{got:#?}");
    }

    #[test]
    fn a_missing_field_is_reported_with_the_others() {
        let got = errors("[[port]]\ndevice = \"net_null0\"\n\n[workers]\ncores = \"one\"\n");
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(got[0].contains("missing field `name`"), "{got:#?}");
        assert!(got[1].starts_with("lb.toml:5: workers.cores:"), "{got:#?}");
    }

    #[test]
    fn text_that_is_not_toml_gives_the_parsers_one_error() {
        let got = errors("[[port]\nname = 1\n");
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(got[0].starts_with("lb.toml:1"), "{got:#?}");
    }
}
