//! A stand-in for the appliance's socket server in tests: it answers each
//! request line with whatever the test's closure returns and records the
//! requests it saw.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;

use serde::Serialize;

use crate::api::{Request, Response};

pub(crate) struct TestServer {
    pub path: PathBuf,
    requests: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Serves every connection, one reply line per request line; a reply
    /// of `None` closes the connection instead.
    pub fn start(reply: impl Fn(&str) -> Option<String> + Send + 'static) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferrolb.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let Ok(read) = stream.try_clone() else { return };
                for line in BufReader::new(read).lines() {
                    let Ok(line) = line else { break };
                    seen.lock().unwrap().push(line.clone());
                    let Some(mut answer) = reply(&line) else {
                        break;
                    };
                    answer.push('\n');
                    if stream.write_all(answer.as_bytes()).is_err() {
                        break;
                    }
                }
            }
        });
        TestServer {
            path,
            requests,
            _dir: dir,
        }
    }

    /// Answers every request with `result` as an ok reply.
    pub fn replying<T: Serialize>(result: &T) -> TestServer {
        let line = serde_json::to_string(&Response::ok(result)).unwrap();
        TestServer::start(move |_| Some(line.clone()))
    }

    /// The requests seen so far, decoded.
    pub fn requests(&self) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}
