//! HTTP GET (and, through `tls.rs`, HTTPS): each URL on its own
//! connection, as keepalived does; all must pass. A URL passes when its
//! status is in its set and, if it has digests, when the MD5 (keepalived's
//! `digest`, as `genhash` computes it) and SHA-256 of the body match. The
//! body is what follows the header: `Content-Length` bytes if the header
//! gives it, else everything until the server closes, taken as sent
//! (chunk framing included, as keepalived does).

use std::net::SocketAddr;

use md5::{Digest, Md5};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{connect, read_until, Deadline, Passed, Probers};
use crate::config::HttpVersion;
use crate::health::spec::{HttpSpec, UrlSpec};

/// The largest response head read.
const MAX_HEAD: usize = 8 * 1024;
/// The most body bytes digested: a server that sends more fails.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// A connection, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

pub async fn probe(
    target: SocketAddr,
    spec: &HttpSpec,
    probers: &Probers,
    deadline: Deadline,
) -> Result<Passed, String> {
    let several = spec.urls.len() > 1;
    for url in &spec.urls {
        let result = async {
            let tcp = connect(target, deadline).await?;
            let mut stream: Box<dyn Stream> = match &spec.tls {
                Some(tls) => Box::new(probers.tls.connect(tcp, target, tls, deadline).await?),
                None => Box::new(tcp),
            };
            get(&mut stream, url, spec.version, deadline).await
        }
        .await;
        match result {
            Err(e) if several => return Err(format!("GET {}: {e}", url.path)),
            Err(e) => return Err(e),
            Ok(()) => {}
        }
    }
    Ok(None)
}

/// One GET on an open connection.
async fn get(
    stream: &mut Box<dyn Stream>,
    url: &UrlSpec,
    version: HttpVersion,
    deadline: Deadline,
) -> Result<(), String> {
    let version = match version {
        HttpVersion::Http10 => "1.0",
        HttpVersion::Http11 => "1.1",
    };
    let request = format!(
        "GET {} HTTP/{version}\r\nHost: {}\r\nUser-Agent: ferrolb-health\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n",
        url.path, url.host
    );
    deadline
        .run("sending the request", stream.write_all(request.as_bytes()))
        .await?;
    let mut buf = Vec::with_capacity(1024);
    let head_end = read_until(
        stream,
        &mut buf,
        MAX_HEAD,
        "reading the reply",
        deadline,
        |b| {
            head_end(b).or_else(|| {
                // Enough to judge the status line before the head is complete.
                (url.md5.is_none() && url.sha256.is_none())
                    .then(|| super::line_end(b))
                    .flatten()
            })
        },
    )
    .await
    .map_err(|e| {
        e.replace(
            "reading the reply: connection closed",
            "connection closed before the status line",
        )
    })?;
    let status_line_end = super::line_end(&buf).unwrap_or(head_end);
    let line = String::from_utf8_lossy(&buf[..status_line_end]);
    let status = status_of(line.trim_end()).ok_or_else(|| {
        format!(
            "not an HTTP status line: {}",
            super::quote(line.as_bytes(), 80)
        )
    })?;
    if !url.status.contains(status) {
        return Err(format!("status {status}, expected {}", url.status));
    }
    if url.md5.is_none() && url.sha256.is_none() {
        return Ok(());
    }
    let length = content_length(&buf[..head_end]);
    let body = read_body(stream, buf[head_end..].to_vec(), length, deadline).await?;
    if let Some(want) = &url.md5 {
        let got = hex(&Md5::digest(&body));
        if &got != want {
            return Err(format!("MD5 digest {got}, expected {want}"));
        }
    }
    if let Some(want) = &url.sha256 {
        let got = hex(&Sha256::digest(&body));
        if &got != want {
            return Err(format!("SHA-256 digest {got}, expected {want}"));
        }
    }
    Ok(())
}

/// The body: `length` bytes if known, else until the peer closes; at most
/// [`MAX_BODY`].
async fn read_body(
    stream: &mut Box<dyn Stream>,
    mut body: Vec<u8>,
    length: Option<usize>,
    deadline: Deadline,
) -> Result<Vec<u8>, String> {
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        if let Some(n) = length {
            if body.len() >= n {
                body.truncate(n);
                return Ok(body);
            }
        }
        if body.len() > MAX_BODY {
            return Err(format!("reading the body: more than {MAX_BODY} bytes"));
        }
        let read = tokio::time::timeout_at(deadline.at, stream.read(&mut chunk)).await;
        match read {
            Err(_) => return Err(format!("reading the body: {}", deadline.timed_out())),
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => body.extend_from_slice(&chunk[..n]),
            // A TLS peer that closes without close_notify: the body ends.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Ok(Err(e)) => return Err(format!("reading the body: {e}")),
        }
    }
    match length {
        Some(n) if body.len() < n => Err(format!(
            "reading the body: connection closed after {} of {n} bytes",
            body.len()
        )),
        _ => Ok(body),
    }
}

/// Where the head ends (after the blank line), if it has.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The `Content-Length` of a head, if it has a valid one.
fn content_length(head: &[u8]) -> Option<usize> {
    let head = String::from_utf8_lossy(head);
    head.lines().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

/// The status code of `HTTP/1.x NNN reason`.
pub fn status_of(line: &str) -> Option<u16> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    let code = parts.next()?;
    let digits = code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit());
    (version.starts_with("HTTP/") && digits)
        .then(|| code.parse().ok())
        .flatten()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse_strictly() {
        assert_eq!(status_of("HTTP/1.0 404 Not Found"), Some(404));
        assert_eq!(status_of("HTTP/1.1 200"), Some(200));
        assert_eq!(status_of("SSH-2.0-OpenSSH_9.6"), None);
        assert_eq!(status_of("HTTP/1.1 20x OK"), None);
        assert_eq!(status_of("HTTP/1.1 2000 OK"), None);
    }

    #[test]
    fn the_head_ends_at_the_blank_line_and_gives_the_length() {
        let reply = b"HTTP/1.0 200 OK\r\nContent-length: 5\r\n\r\nhello";
        let end = head_end(reply).unwrap();
        assert_eq!(&reply[end..], b"hello");
        assert_eq!(content_length(&reply[..end]), Some(5));
        assert_eq!(content_length(b"HTTP/1.0 200 OK\r\n\r\n"), None);
        assert_eq!(head_end(b"HTTP/1.0 200 OK\r\nX: y\r\n"), None);
    }
}
