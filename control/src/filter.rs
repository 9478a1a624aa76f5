//! The filter language of `ferrolbctl trace` and `capture`: a tcpdump-style
//! subset, parsed here (sans-IO) into a [`Filter`] that the dataplane runs
//! compiled ([`Filter::compile`]).
//!
//! ```text
//! expr   := term ( ("or" | "||") term )*
//! term   := factor ( ("and" | "&&") factor )*
//! factor := ("not" | "!") factor | "(" expr ")" | proto? prim | proto
//! prim   := [src|dst] host ADDR | [src|dst] net ADDR/LEN | [src|dst] port N
//!         | proto (tcp|udp|icmp|icmp6|N) | syn | ack | fin | rst | psh | urg
//!         | ip | ip6
//! proto  := tcp | udp | icmp | icmp6
//! ```
//!
//! `tcp port 80` is `tcp and port 80`, as in tcpdump; `syn` is a TCP
//! packet with SYN set (tcpdump: `tcp[tcpflags] & tcp-syn != 0`). ADDR is
//! an IPv4 or an IPv6 address (`host 2001:db8::7`, `net 2001:db8::/32`);
//! a test of an address of one family never matches a packet of the
//! other, while `port`, `tcp`, `syn` and the like match both, as in
//! tcpdump.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use ferrolb_types::filter::{tcp_flag, Filter, FilterInput, FilterInput6, FilterProgram, Side};

/// Parses a filter expression; the error names the word it stopped at.
pub fn parse(text: &str) -> Result<Filter, String> {
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err("empty filter".into());
    }
    let mut p = Parser { tokens, at: 0 };
    let f = p.expr(0)?;
    match p.peek() {
        None => Ok(f),
        Some(t) => Err(format!("unexpected `{t}` in filter")),
    }
}

/// Parses and compiles: what the control socket does with a request's
/// filter (`None` or blank: every packet).
pub fn compile(text: Option<&str>) -> Result<FilterProgram, String> {
    match text.map(str::trim) {
        None | Some("") => Ok(FilterProgram::all()),
        Some(t) => parse(t)?.compile().map_err(|e| e.to_string()),
    }
}

/// Parentheses nest at most this deep (the parser recurses).
const MAX_NESTING: usize = 64;

fn tokenize(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if !word.is_empty() {
            out.push(std::mem::take(word));
        }
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' | ')' | '!' => {
                flush(&mut word, &mut out);
                out.push(c.to_string());
            }
            '&' | '|' => {
                flush(&mut word, &mut out);
                if chars.next() != Some(c) {
                    return Err(format!("`{c}` alone in filter (write `{c}{c}`)"));
                }
                out.push(if c == '&' { "and" } else { "or" }.into());
            }
            c if c.is_whitespace() => flush(&mut word, &mut out),
            c => word.push(c.to_ascii_lowercase()),
        }
    }
    flush(&mut word, &mut out);
    Ok(out)
}

struct Parser {
    tokens: Vec<String>,
    at: usize,
}

fn proto_word(w: &str) -> Option<u8> {
    match w {
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(1),
        "icmp6" => Some(58),
        _ => None,
    }
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self, what: &str) -> Result<String, String> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t.ok_or_else(|| format!("filter ends where {what} was expected"))
    }

    fn eat(&mut self, word: &str) -> bool {
        let hit = self.peek() == Some(word);
        self.at += usize::from(hit);
        hit
    }

    fn expr(&mut self, depth: usize) -> Result<Filter, String> {
        let mut f = self.term(depth)?;
        while self.eat("or") {
            f = Filter::Or(Box::new(f), Box::new(self.term(depth)?));
        }
        Ok(f)
    }

    fn term(&mut self, depth: usize) -> Result<Filter, String> {
        let mut f = self.factor(depth)?;
        while self.eat("and") {
            f = Filter::And(Box::new(f), Box::new(self.factor(depth)?));
        }
        Ok(f)
    }

    fn factor(&mut self, depth: usize) -> Result<Filter, String> {
        if depth > MAX_NESTING {
            return Err(format!("filter nests deeper than {MAX_NESTING}"));
        }
        if self.eat("not") || self.eat("!") {
            return Ok(Filter::Not(Box::new(self.factor(depth + 1)?)));
        }
        if self.eat("(") {
            let f = self.expr(depth + 1)?;
            return match self.next("`)`")?.as_str() {
                ")" => Ok(f),
                t => Err(format!("expected `)` in filter, found `{t}`")),
            };
        }
        let word = self.next("a test")?;
        if let Some(p) = proto_word(&word) {
            // `tcp port 80`: a protocol qualifying the test after it.
            return match self.peek() {
                Some("src" | "dst" | "host" | "net" | "port") => Ok(Filter::And(
                    Box::new(Filter::Proto(p)),
                    Box::new(self.primitive(None)?),
                )),
                _ => Ok(Filter::Proto(p)),
            };
        }
        self.at -= 1;
        self.primitive(None)
    }

    fn primitive(&mut self, side: Option<Side>) -> Result<Filter, String> {
        let word = self.next("a test")?;
        let side_given = side.is_some();
        let s = side.unwrap_or(Side::Either);
        match word.as_str() {
            "src" | "dst" if !side_given => self.primitive(Some(match word.as_str() {
                "src" => Side::Src,
                _ => Side::Dst,
            })),
            "host" => Ok(match self.addr()? {
                IpAddr::V4(a) => Filter::Host(s, a),
                IpAddr::V6(a) => Filter::Host6(s, a),
            }),
            "net" => self.net(s),
            "port" => {
                let t = self.next("a port")?;
                let port = t
                    .parse::<u16>()
                    .map_err(|_| format!("`{t}` is not a port (0-65535)"))?;
                Ok(Filter::Port(s, port))
            }
            _ if side_given => Err(format!(
                "expected host, net or port after src/dst, found `{word}`"
            )),
            "ip" => Ok(Filter::Family6(false)),
            "ip6" => Ok(Filter::Family6(true)),
            "proto" => {
                let t = self.next("a protocol")?;
                match proto_word(&t).or_else(|| t.parse::<u8>().ok()) {
                    Some(p) => Ok(Filter::Proto(p)),
                    None => Err(format!("`{t}` is not a protocol (tcp, udp, icmp, 0-255)")),
                }
            }
            w => match tcp_flag::NAMES.iter().find(|(n, _)| *n == w) {
                Some((_, bit)) => Ok(Filter::TcpFlag(*bit)),
                None => Err(format!("unknown filter word `{w}`")),
            },
        }
    }

    fn addr(&mut self) -> Result<IpAddr, String> {
        let t = self.next("an IP address")?;
        t.parse()
            .map_err(|_| format!("`{t}` is not an IPv4 or IPv6 address"))
    }

    fn net(&mut self, side: Side) -> Result<Filter, String> {
        let t = self.next("a network")?;
        let not_a_net = || format!("`{t}` is not a network (ADDR/LEN)");
        match t.split_once('/') {
            Some((a, len)) if a.contains(':') => {
                let addr: Ipv6Addr = a.parse().map_err(|_| not_a_net())?;
                match len.parse::<u8>() {
                    Ok(len) if len <= 128 => Ok(Filter::Net6(side, addr, len)),
                    _ => Err(format!("`{t}`: prefix length must be 0-128")),
                }
            }
            None if t.contains(':') => {
                let addr: Ipv6Addr = t.parse().map_err(|_| not_a_net())?;
                Ok(Filter::Net6(side, addr, 128))
            }
            split => {
                let (a, len) = split.unwrap_or((&t, "32"));
                let addr: Ipv4Addr = a.parse().map_err(|_| not_a_net())?;
                match len.parse::<u8>() {
                    Ok(len) if len <= 32 => Ok(Filter::Net(side, addr, len)),
                    _ => Err(format!("`{t}`: prefix length must be 0-32")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
