//! A pre-scan of the query with the token rules of Prometheus' lexer.
//!
//! It runs before pest, in one pass without recursion, and does three jobs:
//! it bounds the nesting depth so the recursive descent that follows cannot
//! exhaust the stack; it finds lexical errors (bad numbers, unterminated
//! strings, stray characters) and words them as Prometheus does; and it
//! records the tokens, so a pest failure position can be described as
//! Prometheus describes the unexpected token (`unexpected identifier "x"`,
//! `unexpected <op:*>`, `unexpected end of input`).

use ember_model::go_quote;

use super::lit::{is_alnum, scan_escape, scan_numeric, NumKind};

/// The kind of a token, with the categories Prometheus' error messages use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokKind {
    /// An identifier without colons.
    Ident,
    /// An identifier with a colon (`job:rate5m`).
    MetricIdent,
    /// `by`, `offset`, `bool`, ...
    Keyword,
    /// `+`, `and`, `@`, `=~`, ...
    Operator,
    /// `sum`, `topk`, ...
    Aggregator,
    /// `start`, `end`, `step`, `range`, `min_of`, `max_of`.
    Preprocessor,
    /// A number, including `Inf` and `NaN`.
    Number,
    /// `5m`, `1h30m`.
    Duration,
    /// A quoted string.
    Str,
    /// `( ) { } [ ] , = :`.
    Punct,
}

/// One token of the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: TokKind,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// A lexical error: Prometheus reports it from `start` to the end of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError {
    pub(crate) start: usize,
    /// Where the offending token begins; Prometheus' lexer reports a few
    /// errors (`)` without `(`) just after the token.
    pub(crate) at: usize,
    pub(crate) message: String,
}

/// The result of [`scan`].
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// The tokens up to the first error, comments and spaces left out.
    pub(crate) tokens: Vec<Token>,
    /// The first lexical error.
    pub(crate) error: Option<LexError>,
    /// Where the nesting of brackets first went past the limit.
    pub(crate) too_deep_at: Option<usize>,
}

impl Scan {
    /// The first token that ends after `pos`, if any.
    pub(crate) fn token_at(&self, pos: usize) -> Option<Token> {
        let i = self.tokens.partition_point(|t| t.end <= pos);
        self.tokens.get(i).copied()
    }
}

/// The lexer's keyword table (looked up in lower case).
fn keyword_kind(lower: &str) -> Option<TokKind> {
    Some(match lower {
        "and" | "or" | "unless" | "atan2" => TokKind::Operator,
        "sum" | "avg" | "count" | "min" | "max" | "group" | "stddev" | "stdvar" | "topk"
        | "bottomk" | "count_values" | "quantile" | "limitk" | "limit_ratio" => TokKind::Aggregator,
        "offset" | "smoothed" | "anchored" | "by" | "without" | "on" | "ignoring"
        | "group_left" | "group_right" | "fill" | "fill_left" | "fill_right" | "bool" => {
            TokKind::Keyword
        }
        "start" | "end" | "step" | "range" | "max_of" | "min_of" => TokKind::Preprocessor,
        "inf" | "nan" => TokKind::Number,
        _ => return None,
    })
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_alpha(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

/// Go's `%q` for a single character.
fn quote_char(c: Option<char>) -> String {
    match c {
        Some('\'') => r"'\''".to_string(),
        Some(c) => {
            let q = go_quote(&c.to_string());
            format!("'{}'", &q[1..q.len() - 1].replace("\\\"", "\""))
        }
        None => "EOF".to_string(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Outside braces; inside brackets after the first number.
    Statements,
    /// Inside `{...}`.
    Braces,
    /// Right after `[` until the first number.
    DurationExpr,
}

struct Scanner<'a> {
    input: &'a str,
    pos: usize,
    mode: Mode,
    paren_depth: usize,
    bracket_open: bool,
    got_colon: bool,
    got_duration: bool,
    max_nesting: usize,
    out: Scan,
}

/// Scans `input`; nesting of `(`, `[` and `{` beyond `max_nesting` is
/// reported in [`Scan::too_deep_at`].
pub(crate) fn scan(input: &str, max_nesting: usize) -> Scan {
    let mut s = Scanner {
        input,
        pos: 0,
        mode: Mode::Statements,
        paren_depth: 0,
        bracket_open: false,
        got_colon: false,
        got_duration: false,
        max_nesting,
        out: Scan::default(),
    };
    if let Err(Some(e)) = s.step() {
        s.out.error = Some(e);
    }
    s.out
}

/// `Err(None)` ends the scan normally, `Err(Some(_))` with an error.
type Step = Result<(), Option<LexError>>;

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.input[self.pos..].chars().nth(1)
    }

    fn err(&self, start: usize, message: String) -> Step {
        Err(Some(LexError {
            start,
            at: start,
            message,
        }))
    }

    /// An error reported just after the token that starts at `at`.
    fn err_after(&self, at: usize, message: &str) -> Step {
        Err(Some(LexError {
            start: self.pos,
            at,
            message: message.to_string(),
        }))
    }

    fn emit(&mut self, kind: TokKind, start: usize, end: usize) {
        self.pos = end;
        self.out.tokens.push(Token { kind, start, end });
    }

    fn nesting(&self) -> usize {
        self.paren_depth + usize::from(self.bracket_open) + usize::from(self.mode == Mode::Braces)
    }

    fn check_depth(&mut self, at: usize) {
        if self.nesting() > self.max_nesting && self.out.too_deep_at.is_none() {
            self.out.too_deep_at = Some(at);
        }
    }

    /// Scans one token (or space or comment).
    fn step(&mut self) -> Step {
        loop {
            match self.mode {
                Mode::Statements => self.statements()?,
                Mode::Braces => self.braces()?,
                Mode::DurationExpr => self.duration_expr()?,
            }
        }
    }

    fn skip_comment(&mut self) {
        let rest = &self.input[self.pos..];
        let len = rest.find(['\n', '\r']).unwrap_or(rest.len());
        self.pos += len;
    }

    fn number(&mut self) -> Step {
        let start = self.pos;
        match scan_numeric(self.input, start) {
            Ok((kind, end)) => {
                let kind = match kind {
                    NumKind::Number => TokKind::Number,
                    NumKind::Duration => TokKind::Duration,
                };
                self.emit(kind, start, end);
                Ok(())
            }
            Err((msg, _)) => self.err(start, msg),
        }
    }

    fn string(&mut self, quote: char) -> Step {
        let start = self.pos;
        let mut i = start + 1;
        loop {
            let Some(c) = self.input[i..].chars().next() else {
                let msg = if quote == '`' {
                    "unterminated raw string"
                } else {
                    "unterminated quoted string"
                };
                return self.err(start, msg.to_string());
            };
            i += c.len_utf8();
            if c == quote {
                break;
            }
            if quote == '`' {
                continue;
            }
            match c {
                '\\' => match scan_escape(self.input, i, quote) {
                    Ok(end) => i = end,
                    Err(msg) => return self.err(start, msg),
                },
                '\n' => return self.err(start, "unterminated quoted string".to_string()),
                _ => {}
            }
        }
        self.emit(TokKind::Str, start, i);
        Ok(())
    }

    fn word_end(&self, from: usize, colon: bool) -> usize {
        let rest = &self.input[from..];
        from + rest
            .find(|c: char| !(is_alnum(c) || (colon && c == ':')))
            .unwrap_or(rest.len())
    }

    fn followed_by_paren(&self, from: usize) -> bool {
        self.input[from..]
            .trim_start_matches(is_space)
            .starts_with('(')
    }

    fn statements(&mut self) -> Step {
        let start = self.pos;
        if self.input[start..].starts_with('#') {
            self.skip_comment();
            return Ok(());
        }
        let Some(c) = self.peek() else {
            if self.paren_depth != 0 {
                return self.err(start, "unclosed left parenthesis".into());
            }
            if self.bracket_open {
                return self.err(start, "unclosed left bracket".into());
            }
            return Err(None);
        };
        let next = self.peek2();
        let one = start + c.len_utf8();
        match c {
            ',' => self.emit(TokKind::Punct, start, one),
            c if is_space(c) => self.pos = one,
            '*' | '/' | '%' | '+' | '-' | '^' | '@' => self.emit(TokKind::Operator, start, one),
            '=' => match next {
                Some('=') => self.emit(TokKind::Operator, start, one + 1),
                Some('~') => return self.err(start, "unexpected character after '=': '~'".into()),
                _ => self.emit(TokKind::Punct, start, one),
            },
            '!' => match next {
                Some('=') => self.emit(TokKind::Operator, start, one + 1),
                other => {
                    return self.err(
                        start,
                        format!("unexpected character after '!': {}", quote_char(other)),
                    )
                }
            },
            '<' | '>' => match next {
                Some('=' | '/') => self.emit(TokKind::Operator, start, one + 1),
                _ => self.emit(TokKind::Operator, start, one),
            },
            '0'..='9' => self.number()?,
            '.' if next.is_some_and(|n| n.is_ascii_digit()) => self.number()?,
            '"' | '\'' | '`' => self.string(c)?,
            c if (is_alpha(c) || c == ':') && !self.bracket_open => {
                let end = self.word_end(start, true);
                let word = &self.input[start..end];
                let lower = word.to_ascii_lowercase();
                let kind = match keyword_kind(&lower) {
                    Some(TokKind::Keyword)
                        if lower.starts_with("fill") && !self.followed_by_paren(end) =>
                    {
                        TokKind::Ident
                    }
                    Some(kind) => kind,
                    None if word.contains(':') => TokKind::MetricIdent,
                    None => TokKind::Ident,
                };
                self.emit(kind, start, end);
            }
            ':' => {
                if self.got_colon {
                    return self.err(start, "unexpected colon ':'".into());
                }
                self.got_colon = true;
                self.emit(TokKind::Punct, start, one);
            }
            c if is_alpha(c) => {
                // Inside brackets only the duration keywords are words.
                if !self.duration_keyword()? {
                    return self.err(
                        start,
                        format!(
                            "unexpected character: {}, expected ':'",
                            quote_char(Some(c))
                        ),
                    );
                }
            }
            '(' => {
                self.emit(TokKind::Punct, start, one);
                self.paren_depth += 1;
                self.check_depth(start);
            }
            ')' => {
                self.emit(TokKind::Punct, start, one);
                if self.paren_depth == 0 {
                    return self.err_after(start, "unexpected right parenthesis ')'");
                }
                self.paren_depth -= 1;
            }
            '{' => {
                self.emit(TokKind::Punct, start, one);
                self.mode = Mode::Braces;
                self.check_depth(start);
            }
            '[' => {
                if self.bracket_open {
                    return self.err(start, "unexpected left bracket '['".into());
                }
                self.got_colon = false;
                self.emit(TokKind::Punct, start, one);
                self.bracket_open = true;
                self.mode = Mode::DurationExpr;
                self.check_depth(start);
            }
            ']' => {
                if !self.bracket_open {
                    return self.err(start, "unexpected right bracket ']'".into());
                }
                self.emit(TokKind::Punct, start, one);
                self.bracket_open = false;
            }
            other => {
                return self.err(
                    start,
                    format!("unexpected character: {}", quote_char(Some(other))),
                )
            }
        }
        Ok(())
    }

    /// Scans `step`, `range`, `min_of` or `max_of` (any case) in a duration
    /// expression; false if the word is something else.
    fn duration_keyword(&mut self) -> Result<bool, Option<LexError>> {
        let start = self.pos;
        let rest = &self.input[start..];
        let end = start + rest.find(|c: char| !is_alpha(c)).unwrap_or(rest.len());
        let lower = self.input[start..end].to_ascii_lowercase();
        if matches!(lower.as_str(), "step" | "range" | "min_of" | "max_of") {
            self.emit(TokKind::Preprocessor, start, end);
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn braces(&mut self) -> Step {
        let start = self.pos;
        if self.input[start..].starts_with('#') {
            self.skip_comment();
            return Ok(());
        }
        let Some(c) = self.peek() else {
            return self.err(start, "unexpected end of input inside braces".into());
        };
        let next = self.peek2();
        let one = start + c.len_utf8();
        match c {
            c if is_space(c) => self.pos = one,
            c if is_alpha(c) => {
                let end = self.word_end(start, false);
                self.emit(TokKind::Ident, start, end);
            }
            ',' => self.emit(TokKind::Punct, start, one),
            '"' | '\'' | '`' => self.string(c)?,
            '=' => match next {
                Some('~') => self.emit(TokKind::Operator, start, one + 1),
                _ => self.emit(TokKind::Punct, start, one),
            },
            '!' => match next {
                Some('~' | '=') => self.emit(TokKind::Operator, start, one + 1),
                other => {
                    return self.err(
                        start,
                        format!(
                            "unexpected character after '!' inside braces: {}",
                            quote_char(other)
                        ),
                    )
                }
            },
            '{' => return self.err(start, "unexpected left brace '{'".into()),
            '}' => {
                self.emit(TokKind::Punct, start, one);
                self.mode = Mode::Statements;
            }
            other => {
                return self.err(
                    start,
                    format!(
                        "unexpected character inside braces: {}",
                        quote_char(Some(other))
                    ),
                )
            }
        }
        Ok(())
    }

    fn duration_expr(&mut self) -> Step {
        let start = self.pos;
        let Some(c) = self.peek() else {
            return self.err(
                start,
                "unexpected end of input in duration expression".into(),
            );
        };
        let next = self.peek2();
        let one = start + c.len_utf8();
        match c {
            ']' => {
                self.emit(TokKind::Punct, start, one);
                self.bracket_open = false;
                self.got_colon = false;
                self.mode = Mode::Statements;
            }
            ':' => {
                self.emit(TokKind::Punct, start, one);
                if !self.got_duration {
                    return self.err_after(
                        start,
                        "unexpected colon before duration in duration expression",
                    );
                }
                if self.got_colon {
                    return self
                        .err_after(start, "unexpected repeated colon in duration expression");
                }
                self.got_colon = true;
            }
            '(' => {
                self.emit(TokKind::Punct, start, one);
                self.paren_depth += 1;
                self.check_depth(start);
            }
            ')' => {
                self.emit(TokKind::Punct, start, one);
                if self.paren_depth == 0 {
                    return self.err_after(start, "unexpected right parenthesis ')'");
                }
                self.paren_depth -= 1;
            }
            c if is_space(c) => self.pos = one,
            '+' | '-' | '*' | '/' | '%' | '^' => self.emit(TokKind::Operator, start, one),
            ',' => self.emit(TokKind::Punct, start, one),
            's' | 'S' | 'r' | 'R' | 'm' | 'M' => {
                if !self.duration_keyword()? {
                    return self.err(
                        start,
                        format!(
                            "unexpected character in duration expression: {}",
                            quote_char(Some(c))
                        ),
                    );
                }
            }
            '0'..='9' => {
                self.got_duration = true;
                self.number()?;
                self.mode = Mode::Statements;
            }
            '.' if next.is_some_and(|n| n.is_ascii_digit()) => {
                self.got_duration = true;
                self.number()?;
                self.mode = Mode::Statements;
            }
            other => {
                return self.err(
                    start,
                    format!(
                        "unexpected character in duration expression: {}",
                        quote_char(Some(other))
                    ),
                )
            }
        }
        Ok(())
    }
}

/// Describes a token as Prometheus' error messages do.
pub(crate) fn describe(input: &str, tok: Option<Token>) -> String {
    let Some(tok) = tok else {
        return "end of input".to_string();
    };
    let text = &input[tok.start..tok.end];
    let quoted = || {
        if text.len() > 10 {
            let head: String = text.chars().take(10).collect();
            format!("{}...", go_quote(&head))
        } else {
            go_quote(text)
        }
    };
    match tok.kind {
        TokKind::Ident => format!("identifier {}", go_quote(text)),
        TokKind::MetricIdent => format!("metric identifier {}", go_quote(text)),
        TokKind::Keyword => format!("<{text}>"),
        TokKind::Operator => format!("<op:{text}>"),
        TokKind::Aggregator => format!("<aggr:{text}>"),
        TokKind::Preprocessor | TokKind::Punct => quoted(),
        TokKind::Number => format!("number {}", quoted()),
        TokKind::Duration => format!("duration {}", quoted()),
        TokKind::Str => format!("string {}", quoted()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(q: &str) -> (usize, String) {
        let e = scan(q, 100).error.unwrap();
        (e.start, e.message)
    }

    fn kinds(q: &str) -> Vec<TokKind> {
        let s = scan(q, 100);
        assert_eq!(s.error, None, "{q}");
        s.tokens.iter().map(|t| t.kind).collect()
    }

    #[test]
    fn tokens() {
        use TokKind::*;
        assert_eq!(
            kinds("sum by (a) (rate(x:y{a=~\"b\"}[5m:1m])) # c"),
            [
                Aggregator,
                Keyword,
                Punct,
                Ident,
                Punct,
                Punct,
                Ident,
                Punct,
                MetricIdent,
                Punct,
                Ident,
                Operator,
                Str,
                Punct,
                Punct,
                Duration,
                Punct,
                Duration,
                Punct,
                Punct,
                Punct
            ]
        );
        assert_eq!(
            kinds("a + fill(1) fill"),
            [Ident, Operator, Keyword, Punct, Number, Punct, Ident]
        );
        assert_eq!(
            kinds("x[step()+1:]"),
            [
                Ident,
                Punct,
                Preprocessor,
                Punct,
                Punct,
                Operator,
                Number,
                Punct,
                Punct
            ]
        );
        assert_eq!(kinds("Inf nan"), [Number, Number]);
    }

    #[test]
    fn errors() {
        assert_eq!(err("(1))"), (4, "unexpected right parenthesis ')'".into()));
        assert_eq!(err("((1)"), (4, "unclosed left parenthesis".into()));
        assert_eq!(
            err("1 !~ 1"),
            (2, "unexpected character after '!': '~'".into())
        );
        assert_eq!(
            err("1 =~ 1"),
            (2, "unexpected character after '=': '~'".into())
        );
        assert_eq!(err("."), (0, "unexpected character: '.'".into()));
        assert_eq!(
            err("{"),
            (1, "unexpected end of input inside braces".into())
        );
        assert_eq!(err("some}"), (4, "unexpected character: '}'".into()));
        assert_eq!(
            err("foo{a:b=\"b\"}"),
            (5, "unexpected character inside braces: ':'".into())
        );
        assert_eq!(
            err("foo{1}"),
            (4, "unexpected character inside braces: '1'".into())
        );
        assert_eq!(
            err("foo[\"5m\"]"),
            (
                4,
                "unexpected character in duration expression: '\"'".into()
            )
        );
        assert_eq!(
            err("foo[5s x 5s]"),
            (7, "unexpected character: 'x', expected ':'".into())
        );
        assert_eq!(
            err("foo{bar=\"baz\"}["),
            (15, "unexpected end of input in duration expression".into())
        );
        assert_eq!(
            err("sum by (\"foo)(x)"),
            (8, "unterminated quoted string".into())
        );
        assert_eq!(err("`\\``"), (3, "unterminated raw string".into()));
        assert_eq!(err("\"\\"), (0, "escape sequence not terminated".into()));
    }

    #[test]
    fn depth() {
        assert_eq!(scan("((((1))))", 4).too_deep_at, None);
        assert_eq!(scan("(((((1)))))", 4).too_deep_at, Some(4));
        assert_eq!(scan("x[(((1)))]", 3).too_deep_at, Some(4));
    }

    #[test]
    fn descriptions() {
        let q = "foo sum by <= \"a long string\" 5m 1 : start";
        let s = scan(q, 10);
        let d: Vec<String> = s.tokens.iter().map(|t| describe(q, Some(*t))).collect();
        assert_eq!(
            d,
            [
                "identifier \"foo\"",
                "<aggr:sum>",
                "<by>",
                "<op:<=>",
                "string \"\\\"a long st\"...",
                "duration \"5m\"",
                "number \"1\"",
                "metric identifier \":\"",
                "\"start\""
            ]
        );
        assert_eq!(describe(q, None), "end of input");
    }
}
