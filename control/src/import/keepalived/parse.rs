//! keepalived.conf's syntax: statements of whitespace-separated words, one
//! per line, a statement followed by `{ ... }` has children; `#` and `!`
//! start comments; `"..."` quotes a word with spaces. Every statement keeps
//! its line, for the list of what was not mapped.

/// One statement: its keyword, its arguments, its line and its block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub key: String,
    pub args: Vec<Word>,
    pub line: usize,
    pub children: Vec<Node>,
    /// Whether a `{ ... }` block followed.
    pub block: bool,
}

/// A word, and whether it was quoted (keepalived treats a quoted command
/// as program plus arguments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub quoted: bool,
}

impl Node {
    /// The arguments as plain strings.
    pub fn words(&self) -> Vec<&str> {
        self.args.iter().map(|w| w.text.as_str()).collect()
    }

    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(|w| w.text.as_str())
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(Word),
    Open,
    Close,
    Newline,
}

fn tokens(text: &str) -> Result<Vec<(Token, usize)>, String> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let mut chars = raw.chars().peekable();
        while let Some(&c) = chars.peek() {
            match c {
                '#' | '!' => break,
                c if c.is_whitespace() => {
                    chars.next();
                }
                '{' => {
                    chars.next();
                    out.push((Token::Open, line));
                }
                '}' => {
                    chars.next();
                    out.push((Token::Close, line));
                }
                '"' => {
                    chars.next();
                    let mut text = String::new();
                    loop {
                        match chars.next() {
                            None => return Err(format!("line {line}: unterminated quote")),
                            Some('"') => break,
                            Some('\\') => {
                                if let Some(e) = chars.next() {
                                    text.push(e);
                                }
                            }
                            Some(c) => text.push(c),
                        }
                    }
                    out.push((Token::Word(Word { text, quoted: true }), line));
                }
                _ => {
                    let mut text = String::new();
                    while let Some(&c) = chars.peek() {
                        if c.is_whitespace() || matches!(c, '{' | '}' | '"') {
                            break;
                        }
                        text.push(c);
                        chars.next();
                    }
                    out.push((
                        Token::Word(Word {
                            text,
                            quoted: false,
                        }),
                        line,
                    ));
                }
            }
        }
        out.push((Token::Newline, line));
    }
    Ok(out)
}

/// Parses a whole file into its top-level statements.
pub fn parse(text: &str) -> Result<Vec<Node>, String> {
    let toks = tokens(text)?;
    let mut pos = 0;
    let nodes = block(&toks, &mut pos, 0)?;
    Ok(nodes)
}

fn block(toks: &[(Token, usize)], pos: &mut usize, depth: usize) -> Result<Vec<Node>, String> {
    if depth > 32 {
        return Err("blocks nested more than 32 deep".into());
    }
    let mut nodes: Vec<Node> = Vec::new();
    // The statement being read on the current line.
    let mut current: Option<Node> = None;
    while let Some((tok, line)) = toks.get(*pos) {
        *pos += 1;
        match tok {
            Token::Word(w) => match &mut current {
                Some(node) => node.args.push(w.clone()),
                None => {
                    current = Some(Node {
                        key: w.text.clone(),
                        args: Vec::new(),
                        line: *line,
                        children: Vec::new(),
                        block: false,
                    })
                }
            },
            Token::Newline => {
                if let Some(node) = current.take() {
                    nodes.push(node);
                }
            }
            Token::Open => {
                let children = block(toks, pos, depth + 1)?;
                // `{` on its own line belongs to the statement before it.
                let owner = match current.take() {
                    Some(node) => {
                        nodes.push(node);
                        nodes.last_mut()
                    }
                    None => nodes.last_mut(),
                };
                match owner {
                    Some(node) if !node.block => {
                        node.children = children;
                        node.block = true;
                    }
                    _ => return Err(format!("line {line}: a block with no statement before it")),
                }
            }
            Token::Close => {
                if depth == 0 {
                    return Err(format!("line {line}: '}}' without a block to close"));
                }
                if let Some(node) = current.take() {
                    nodes.push(node);
                }
                return Ok(nodes);
            }
        }
    }
    if depth > 0 {
        return Err("the file ends inside a block: a '}' is missing".into());
    }
    if let Some(node) = current.take() {
        nodes.push(node);
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_comments_quotes_and_lines() {
        let text = "! comment\nvirtual_server 10.0.0.1 80 {\n  delay_loop 6 # six\n  \
                    real_server 10.0.1.1 80\n  {\n    weight 2\n    MISC_CHECK { misc_path \"/bin/check -x\" }\n  }\n}\n";
        let nodes = parse(text).unwrap();
        assert_eq!(nodes.len(), 1);
        let vs = &nodes[0];
        assert_eq!(
            (vs.key.as_str(), vs.words(), vs.line),
            ("virtual_server", vec!["10.0.0.1", "80"], 2)
        );
        assert_eq!(vs.children[0].words(), ["6"]);
        let rs = &vs.children[1];
        assert_eq!(
            (rs.key.as_str(), rs.line, rs.block),
            ("real_server", 4, true)
        );
        let misc = &rs.children[1];
        assert_eq!(
            misc.children[0].args[0],
            Word {
                text: "/bin/check -x".into(),
                quoted: true
            }
        );
        assert_eq!(misc.children[0].line, 7);
    }

    #[test]
    fn unbalanced_braces_are_errors() {
        assert!(parse("a {\n b\n").unwrap_err().contains("missing"));
        assert!(parse("}\n").unwrap_err().contains("without a block"));
        assert!(parse("a \"b\n").unwrap_err().contains("unterminated"));
    }
}
