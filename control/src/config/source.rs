//! Where a config came from, so every error can name the file, the line and
//! the key.
//!
//! Both directions go through `toml_edit`'s spans: a serde error gives a byte
//! offset, from which we find the key path; a validation error gives a key
//! path, from which we find the line.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml_edit::{ImDocument, Item, Table, TableLike};

/// One step of a key path: a table key or an index into an array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySeg {
    Key(String),
    Index(usize),
}

/// A key path like `port[1].device`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<KeySeg>);

impl KeyPath {
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// This path with a table key appended.
    pub fn key(&self, k: &str) -> Self {
        let mut p = self.clone();
        p.0.push(KeySeg::Key(k.to_owned()));
        p
    }

    /// This path with an array index appended.
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(KeySeg::Index(i));
        p
    }

    /// Parses `a.b[2].c` (keys without dots or brackets, as ours are).
    pub fn parse(s: &str) -> Self {
        let mut p = KeyPath::root();
        for part in s.split('.').filter(|x| !x.is_empty()) {
            let mut rest = part;
            if let Some(open) = rest.find('[') {
                p = p.key(&rest[..open]);
                rest = &rest[open..];
                while let Some(close) = rest.find(']') {
                    if let Ok(i) = rest[1..close].parse() {
                        p = p.index(i);
                    }
                    rest = &rest[close + 1..];
                }
            } else {
                p = p.key(rest);
            }
        }
        p
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, seg) in self.0.iter().enumerate() {
            match seg {
                KeySeg::Key(k) if n == 0 => write!(f, "{k}")?,
                KeySeg::Key(k) => write!(f, ".{k}")?,
                KeySeg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// A problem with a config file, located as precisely as we can.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when the problem is on a line that exists.
    pub line: Option<usize>,
    /// The key the problem is about, when there is one.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one config, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, e) in self.0.iter().enumerate() {
            if n > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

/// The text of a config file and what we need to point into it.
#[derive(Clone, Debug)]
pub struct ConfigSource {
    pub file: PathBuf,
    pub text: String,
    doc: Option<ImDocument<String>>,
}

impl ConfigSource {
    pub fn new(file: &Path, text: String) -> Self {
        let doc = ImDocument::parse(text.clone()).ok();
        ConfigSource {
            file: file.to_owned(),
            text,
            doc,
        }
    }

    /// An error about `path`, on the line where that key is written (or the
    /// nearest enclosing key that is written, for a missing key).
    pub fn error_at(&self, path: &KeyPath, message: impl Into<String>) -> ConfigError {
        let line = self.span_of(path).map(|s| self.line_of(s.start));
        ConfigError {
            file: self.file.clone(),
            line,
            key: (!path.0.is_empty()).then(|| path.to_string()),
            message: message.into(),
        }
    }

    /// An error from the TOML parser or deserializer, which know a byte span.
    pub fn error_from_toml(&self, err: &toml::de::Error) -> ConfigError {
        let span = err.span();
        let key = span
            .as_ref()
            .and_then(|s| self.path_at(s.start))
            .filter(|p| !p.0.is_empty())
            .map(|p| p.to_string());
        ConfigError {
            file: self.file.clone(),
            line: span.map(|s| self.line_of(s.start)),
            key,
            message: err.message().trim().to_owned(),
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// Whether `path` is written in the file (e.g. an explicit `[forward]`
    /// table, as opposed to its default).
    pub fn has_key(&self, path: &KeyPath) -> bool {
        self.walk(path).1
    }

    /// The byte span where `path` (or its longest written prefix) is.
    fn span_of(&self, path: &KeyPath) -> Option<Range<usize>> {
        self.walk(path).0
    }

    /// Follows `path` into the document: the span of the deepest written
    /// step, and whether every step was written.
    fn walk(&self, path: &KeyPath) -> (Option<Range<usize>>, bool) {
        let Some(doc) = self.doc.as_ref() else {
            return (None, false);
        };
        let mut node = Node::Table(doc.as_table());
        let mut best = None;
        for (n, seg) in path.0.iter().enumerate() {
            match seg {
                KeySeg::Key(k) => {
                    let Some((key, next)) = node.table_like().and_then(|t| t.get_key_value(k))
                    else {
                        return (best, false);
                    };
                    best = key.span().or_else(|| next.span()).or(best);
                    node = Node::Item(next);
                }
                KeySeg::Index(i) => {
                    let Node::Item(item) = node else {
                        return (best, false);
                    };
                    if let Some(t) = item.as_array_of_tables().and_then(|a| a.get(*i)) {
                        best = t.span().or(best);
                        node = Node::Table(t);
                    } else {
                        let value = item.as_array().and_then(|a| a.get(*i));
                        best = value.and_then(|v| v.span()).or(best);
                        return (best, value.is_some() && n + 1 == path.0.len());
                    }
                }
            }
        }
        (best, true)
    }

    /// The key path of the innermost key whose key or value contains `offset`.
    pub(super) fn path_at(&self, offset: usize) -> Option<KeyPath> {
        let doc = self.doc.as_ref()?;
        Some(path_in_table(doc.as_table(), offset, KeyPath::root()))
    }
}

/// Where a key path walk stands: the document (or an array-of-tables
/// element) or an item.
#[derive(Clone, Copy)]
enum Node<'a> {
    Table(&'a Table),
    Item(&'a Item),
}

impl<'a> Node<'a> {
    fn table_like(self) -> Option<&'a dyn TableLike> {
        match self {
            Node::Table(t) => Some(t),
            Node::Item(i) => i.as_table_like(),
        }
    }
}

fn contains(span: Option<Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.start <= offset && offset < s.end.max(s.start + 1))
}

fn path_in_table(table: &Table, offset: usize, here: KeyPath) -> KeyPath {
    for (k, item) in table.iter() {
        let Some((key, _)) = table.get_key_value(k) else {
            continue;
        };
        let path = here.key(k);
        if contains(key.span(), offset) {
            return path;
        }
        if let Some(aot) = item.as_array_of_tables() {
            for (i, t) in aot.iter().enumerate() {
                let p = path_in_table(t, offset, path.index(i));
                if p.0.len() > path.0.len() + 1 || contains(t.span(), offset) {
                    return p;
                }
            }
        } else if let Some(t) = item.as_table() {
            let p = path_in_table(t, offset, path.clone());
            if p.0.len() > path.0.len() || contains(t.span(), offset) {
                return p;
            }
        } else if contains(item.span(), offset) {
            let element = item
                .as_array()
                .and_then(|a| a.iter().position(|v| contains(v.span(), offset)));
            return match element {
                Some(i) => path.index(i),
                None => path,
            };
        }
    }
    here
}
