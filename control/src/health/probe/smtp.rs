//! SMTP (keepalived's SMTP_CHECK): the server's 220 greeting, then
//! `HELO name` answered with 250; then QUIT. Multi-line replies
//! (`220-...`) are read to their last line; each reply is capped.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{connect, quote, read_until, Deadline, Passed};

/// The longest reply read.
const MAX_REPLY: usize = 4096;

pub async fn probe(target: SocketAddr, helo: &str, deadline: Deadline) -> Result<Passed, String> {
    let mut stream = connect(target, deadline).await?;
    expect(&mut stream, 220, "greeting", deadline).await?;
    let command = format!("HELO {helo}\r\n");
    deadline
        .run("sending HELO", stream.write_all(command.as_bytes()))
        .await?;
    expect(&mut stream, 250, "HELO", deadline).await?;
    // Polite, not waited for.
    let _ = tokio::time::timeout_at(deadline.at, stream.write_all(b"QUIT\r\n")).await;
    Ok(None)
}

/// Reads one (possibly multi-line) reply and wants `code`.
async fn expect(
    stream: &mut TcpStream,
    code: u16,
    what: &str,
    deadline: Deadline,
) -> Result<(), String> {
    let mut buf = Vec::new();
    let phase = format!("reading the {what} reply");
    let end = read_until(stream, &mut buf, MAX_REPLY, &phase, deadline, last_line_end).await?;
    let reply = &buf[..end];
    let last = reply
        .split(|&b| b == b'\n')
        .rfind(|l| !l.is_empty())
        .unwrap_or_default();
    let got = std::str::from_utf8(last.get(..3).unwrap_or_default())
        .ok()
        .and_then(|c| c.parse::<u16>().ok());
    match got {
        Some(c) if c == code => Ok(()),
        Some(c) => Err(format!(
            "{what}: reply {c}, expected {code}: {}",
            quote(last, 80)
        )),
        None => Err(format!("{what}: not an SMTP reply: {}", quote(last, 80))),
    }
}

/// The end of the last line of a reply: the first complete line whose
/// fourth byte is not `-`.
fn last_line_end(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(len) = super::line_end(&buf[start..]) {
        let line = &buf[start..start + len];
        if line.get(3) != Some(&b'-') {
            return Some(start + len);
        }
        start += len;
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_multi_line_reply_ends_at_its_last_line() {
        let reply = b"220-first\r\n220-second\r\n220 last\r\n250 next";
        assert_eq!(super::last_line_end(reply), Some(33));
        assert_eq!(super::last_line_end(b"220-first\r\n220 la"), None);
    }
}
