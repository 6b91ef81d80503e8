//! Label matchers with Prometheus' semantics.

use std::fmt;

use regex::Regex;

use crate::labels::{go_quote, is_valid_legacy_label_name};
use crate::{Labels, ModelError};

/// How a [`Matcher`] compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

impl MatchOp {
    /// The operator as written in PromQL.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// A label matcher such as `job=~"api|web"`.
///
/// A missing label matches as the empty string, as in Prometheus. Regexes
/// are anchored at both ends and `.` matches newlines (`^(?s:...)$`); the
/// Perl classes `\d \w \s \b` are ASCII-only as in Go's RE2.
#[derive(Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    re: Option<FastRegex>,
}

/// A compiled regex with Prometheus' shortcuts for common shapes.
#[derive(Clone)]
enum FastRegex {
    /// `.*`: everything.
    Any,
    /// `.+`: every non-empty string.
    NonEmpty,
    /// `a|b|c` of literals (also one literal).
    Set(Vec<String>),
    /// `prefix.*`.
    Prefix(String),
    /// Anything else.
    General(Regex),
}

impl Matcher {
    /// Builds a matcher; fails when a regex does not compile.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, ModelError> {
        let value = value.into();
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(FastRegex::compile(&value)?),
            _ => None,
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            re,
        })
    }

    /// An equality matcher, which cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            re: None,
        }
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The value or regex source as written.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether `value` (the empty string for a missing label) matches.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            (_, None) => false,
        }
    }

    /// Whether the matcher accepts the series with these labels.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }

    /// Whether the empty string (a missing label) matches.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// For a regex of literal alternatives (`a|b`), the literals; the
    /// index turns these into a union of postings.
    pub fn set_matches(&self) -> Option<&[String]> {
        match &self.re {
            Some(FastRegex::Set(v)) => Some(v),
            _ => None,
        }
    }

    /// For a regex of the form `prefix.*`, the prefix; the index scans the
    /// values in that range.
    pub fn prefix(&self) -> Option<&str> {
        match &self.re {
            Some(FastRegex::Prefix(p)) => Some(p),
            _ => None,
        }
    }

    /// Whether the regex is `.*` (matches every value, set or not).
    pub fn is_match_all(&self) -> bool {
        matches!(self.re, Some(FastRegex::Any)) && self.op == MatchOp::Regex
    }

    /// Whether the regex is `.+` (matches exactly the series that have the label).
    pub fn is_match_non_empty(&self) -> bool {
        matches!(self.re, Some(FastRegex::NonEmpty)) && self.op == MatchOp::Regex
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_valid_legacy_label_name(&self.name) {
            f.write_str(&self.name)?;
        } else {
            f.write_str(&go_quote(&self.name))?;
        }
        f.write_str(self.op.as_str())?;
        f.write_str(&go_quote(&self.value))
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl std::hash::Hash for Matcher {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.op.hash(state);
        self.value.hash(state);
    }
}

/// Whether every matcher accepts `labels`.
pub fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches_labels(labels))
}

impl FastRegex {
    fn compile(src: &str) -> Result<FastRegex, ModelError> {
        let translated = translate_go_regex(src);
        let anchored = format!("^(?s:{translated})$");
        let re = regex::RegexBuilder::new(&anchored)
            .size_limit(64 << 20)
            .build()
            .map_err(|e| ModelError::InvalidRegex {
                pattern: src.to_string(),
                message: e.to_string(),
            })?;
        if src == ".*" {
            return Ok(FastRegex::Any);
        }
        if src == ".+" {
            return Ok(FastRegex::NonEmpty);
        }
        if let Some(set) = literal_alternation(src) {
            return Ok(FastRegex::Set(set));
        }
        if let Some(p) = src.strip_suffix(".*") {
            if let Some(lit) = literal(p) {
                return Ok(FastRegex::Prefix(lit));
            }
        }
        Ok(FastRegex::General(re))
    }

    fn is_match(&self, v: &str) -> bool {
        match self {
            FastRegex::Any => true,
            FastRegex::NonEmpty => !v.is_empty(),
            FastRegex::Set(s) => s.iter().any(|x| x == v),
            FastRegex::Prefix(p) => v.starts_with(p.as_str()),
            FastRegex::General(re) => re.is_match(v),
        }
    }
}

/// The literal a regex source stands for, if it has no metacharacters
/// other than escaped ones.
fn literal(src: &str) -> Option<String> {
    let mut out = String::with_capacity(src.len());
    let mut chars = src.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let n = chars.next()?;
                if n.is_ascii_alphanumeric() {
                    return None;
                }
                out.push(n);
            }
            '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$' => {
                return None
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// `a|b|c` where each branch is a literal; also a plain literal.
fn literal_alternation(src: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = src.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let n = chars.next()?;
                if n.is_ascii_alphanumeric() {
                    return None;
                }
                cur.push('\\');
                cur.push(n);
            }
            '|' => out.push(literal(&std::mem::take(&mut cur))?),
            _ => cur.push(c),
        }
    }
    out.push(literal(&cur)?);
    out.sort();
    out.dedup();
    Some(out)
}

/// Rewrites Go RE2 syntax into Rust regex syntax where they differ: the
/// Perl classes are ASCII-only in Go and Unicode-aware in Rust.
fn translate_go_regex(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 8);
    let mut chars = src.chars().peekable();
    let mut class_depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let inside = class_depth > 0;
                let rep = match (n, inside) {
                    ('d', false) => "[0-9]",
                    ('D', false) => "[^0-9]",
                    ('w', false) => "[0-9A-Za-z_]",
                    ('W', false) => "[^0-9A-Za-z_]",
                    ('s', false) => "[\\t\\n\\f\\r ]",
                    ('S', false) => "[^\\t\\n\\f\\r ]",
                    ('b', false) => "(?-u:\\b)",
                    ('B', false) => "(?-u:\\B)",
                    ('d', true) => "0-9",
                    ('D', true) => "[^0-9]",
                    ('w', true) => "0-9A-Za-z_",
                    ('W', true) => "[^0-9A-Za-z_]",
                    ('s', true) => "\\t\\n\\f\\r ",
                    ('S', true) => "[^\\t\\n\\f\\r ]",
                    _ => {
                        out.push('\\');
                        out.push(n);
                        continue;
                    }
                };
                out.push_str(rep);
            }
            '[' => {
                out.push('[');
                if class_depth == 0 {
                    // A ']' right after '[' or '[^' is a literal in both dialects.
                    if chars.peek() == Some(&'^') {
                        out.push('^');
                        chars.next();
                    }
                    if chars.peek() == Some(&']') {
                        out.push_str("\\]");
                        chars.next();
                    }
                    class_depth = 1;
                } else if chars.peek() == Some(&':') {
                    // POSIX class like [:alpha:] inside a bracket expression.
                    for c2 in chars.by_ref() {
                        out.push(c2);
                        if c2 == ']' {
                            break;
                        }
                    }
                } else {
                    // Go has no nested classes: a '[' inside a class is literal.
                    out.pop();
                    out.push_str("\\[");
                }
            }
            ']' if class_depth > 0 => {
                class_depth = 0;
                out.push(']');
            }
            // Rust treats these as set operators inside classes; Go does not.
            '&' | '~' | '-' if class_depth > 0 && chars.peek() == Some(&c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(op: MatchOp, v: &str) -> Matcher {
        Matcher::new(op, "a", v).unwrap()
    }

    #[test]
    fn anchored_and_dotall() {
        let r = m(MatchOp::Regex, "fo+");
        assert!(r.matches("foo"));
        assert!(!r.matches("xfoo"));
        assert!(!r.matches("foox"));
        assert!(m(MatchOp::Regex, "a.b").matches("a\nb"));
        assert!(m(MatchOp::Regex, "a|b").matches("b"));
        assert!(!m(MatchOp::Regex, "a|b").matches("ab"));
        assert!(m(MatchOp::NotRegex, "a|b").matches(""));
    }

    #[test]
    fn ascii_perl_classes() {
        assert!(!m(MatchOp::Regex, "\\d").matches("٣"));
        assert!(m(MatchOp::Regex, "\\d+").matches("123"));
        assert!(!m(MatchOp::Regex, "\\w").matches("é"));
        assert!(m(MatchOp::Regex, "[\\w.]+").matches("a.b_c"));
        assert!(m(MatchOp::Regex, "\\W").matches("é"));
        assert!(m(MatchOp::Regex, "[^\\d]").matches("x"));
        assert!(m(MatchOp::Regex, "[]a]+").matches("]a"));
        assert!(m(MatchOp::Regex, "[a[]+").matches("[a"));
    }

    #[test]
    fn fast_paths() {
        let s = m(MatchOp::Regex, "b|a|a");
        assert_eq!(s.set_matches().unwrap(), ["a", "b"]);
        assert!(s.matches("a") && !s.matches("c"));
        let p = m(MatchOp::Regex, "api\\.v1.*");
        assert_eq!(p.prefix(), Some("api.v1"));
        assert!(p.matches("api.v1x") && !p.matches("apixv1"));
        assert!(m(MatchOp::Regex, ".*").is_match_all());
        assert!(m(MatchOp::Regex, ".*").matches(""));
        assert!(!m(MatchOp::Regex, ".+").matches(""));
        assert!(Matcher::new(MatchOp::Regex, "a", "(").is_err());
    }

    #[test]
    fn missing_label_is_empty() {
        let l = crate::labels!("b" => "1");
        assert!(Matcher::equal("a", "").matches_labels(&l));
        assert!(!Matcher::equal("b", "").matches_labels(&l));
        assert_eq!(m(MatchOp::NotRegex, "x\"").to_string(), "a!~\"x\\\"\"");
    }
}
