//! Noticing that the config file changed: its content is read and compared
//! with the last content seen, about once a second. Comparing content (not
//! mtime) ignores a `touch` and catches a change within the same second.

use std::io;
use std::path::{Path, PathBuf};

/// What a look at the file found.
#[derive(Debug)]
pub enum Poll {
    Unchanged,
    /// New content, to load.
    Changed(String),
    /// The file cannot be read; reported once until it can again.
    Unreadable(io::Error),
}

pub struct FileWatch {
    path: PathBuf,
    last: String,
    unreadable: bool,
}

impl FileWatch {
    /// Watches `path`, whose content is now `text`.
    pub fn new(path: &Path, text: &str) -> FileWatch {
        FileWatch {
            path: path.to_owned(),
            last: text.to_owned(),
            unreadable: false,
        }
    }

    pub fn poll(&mut self) -> Poll {
        match std::fs::read_to_string(&self.path) {
            Err(e) if self.unreadable => {
                let _ = e;
                Poll::Unchanged
            }
            Err(e) => {
                self.unreadable = true;
                Poll::Unreadable(e)
            }
            Ok(text) => {
                self.unreadable = false;
                if text == self.last {
                    Poll::Unchanged
                } else {
                    self.last.clone_from(&text);
                    Poll::Changed(text)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TestDir;

    #[test]
    fn a_change_of_content_is_seen_once() {
        let dir = TestDir::new("watch");
        let path = dir.join("lb.toml");
        std::fs::write(&path, "a").unwrap();
        let mut w = FileWatch::new(&path, "a");
        assert!(matches!(w.poll(), Poll::Unchanged));
        std::fs::write(&path, "a").unwrap();
        assert!(matches!(w.poll(), Poll::Unchanged));
        std::fs::write(&path, "b").unwrap();
        assert!(matches!(w.poll(), Poll::Changed(t) if t == "b"));
        assert!(matches!(w.poll(), Poll::Unchanged));
    }

    #[test]
    fn a_missing_file_is_reported_once_and_its_return_is_a_change() {
        let dir = TestDir::new("watch");
        let path = dir.join("lb.toml");
        std::fs::write(&path, "a").unwrap();
        let mut w = FileWatch::new(&path, "a");
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(w.poll(), Poll::Unreadable(_)));
        assert!(matches!(w.poll(), Poll::Unchanged));
        std::fs::write(&path, "c").unwrap();
        assert!(matches!(w.poll(), Poll::Changed(t) if t == "c"));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(w.poll(), Poll::Unreadable(_)));
    }
}
